//! Virtual servers: named selections of the federation's tools, prompts and resources, each
//! served by the face as an MCP server of its own (the hub mounts it at `/mcp/<name>`).
//!
//! A selection is a list of patterns over `<server>/<name>` — the registered server's name and
//! the upstream's own name of the tool or prompt, or of the resource or resource template —
//! each exact or ending in `*` (a prefix), or `*` alone for everything. A tool may be published
//! under a name of its own (`rename`); every other item keeps its federated name. A virtual
//! server grants nothing: callers still see and use only what their own grants allow.
//!
//! The definitions in force are a snapshot ([`VirtualServers`]) replaced whole when they
//! change; each virtual server also counts the changes of its own lists, so that its clients
//! are told when its definition, not only the federation, changed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::{Problem, check_name};
use crate::extra::{ExtraTool, ExtraTools};
use crate::names::{self, MAX_NAME, Namespace};
use crate::registry::{Federation, ListChanges};

/// One virtual server, as the configuration's `mcp_virtual_servers` and the admin API write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpVirtualServerConfig {
    /// Served at `/mcp/<name>`; the alphabet of server names.
    pub name: String,
    /// Shown to clients as the server's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Given to clients at initialization, instead of the hub's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Patterns over `<server>/<tool>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Patterns over `<server>/<prompt>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
    /// Patterns over `<server>/<resource or resource template name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// `<server>/<tool>` → the name the tool is published under here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
}

/// Checks every virtual server and that no two share a name. `separator` is the federation's:
/// new names must not contain it, so that they never meet a federated name.
pub fn check(separator: &str, servers: &[McpVirtualServerConfig]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, server) in servers.iter().enumerate() {
        let at = |field: &str| format!("mcp_virtual_servers[{i}].{field}");
        check_virtual_server(server, Some(separator), &mut |field, message| {
            problems.push((at(field), message));
        });
        if let Some(first) = seen.insert(&server.name, i) {
            problems.push((
                at("name"),
                format!(
                    "\"{}\" is also the name of mcp_virtual_servers[{first}]",
                    server.name
                ),
            ));
        }
    }
    problems
}

/// Checks one virtual server on its own (the admin API checks a body before storing it).
/// Without `separator`, new names are not checked against it.
pub fn check_virtual_server(
    server: &McpVirtualServerConfig,
    separator: Option<&str>,
    err: &mut dyn FnMut(&str, String),
) {
    if check_name(&server.name).is_err() {
        err(
            "name",
            format!(
                "\"{}\" is not a valid virtual server name (1–64 letters, digits, '-', '_' and \
                 '.', starting with a letter or digit)",
                server.name
            ),
        );
    }
    for (field, patterns) in [
        ("tools", &server.tools),
        ("prompts", &server.prompts),
        ("resources", &server.resources),
    ] {
        for (i, pattern) in patterns.iter().enumerate() {
            if let Err(message) = check_pattern(pattern) {
                err(&format!("{field}[{i}]"), message);
            }
        }
    }
    let mut new_names: BTreeMap<&str, &str> = BTreeMap::new();
    for (from, to) in &server.rename {
        let field = format!("rename.{from}");
        match split_item(from) {
            Some((_, tool)) if check_pattern(from).is_ok() && !tool.contains('*') => {
                if !server.tools.iter().any(|p| selects(p, from)) {
                    err(
                        &field,
                        format!(
                            "\"{from}\" is not selected by `tools`; add it (or a pattern that \
                             covers it) there"
                        ),
                    );
                }
            }
            _ => err(
                &field,
                format!("\"{from}\" is not server/tool (one tool, no wildcard)"),
            ),
        }
        if to.is_empty() || to.len() > MAX_NAME {
            err(
                &field,
                format!("the new name must be 1–{MAX_NAME} characters"),
            );
        } else if let Some(bad) = to.chars().find(|c| !names::allowed(*c)) {
            err(
                &field,
                format!(
                    "the new name \"{to}\" may use only letters, digits, '_', '-' and '.' \
                     (found {bad:?})"
                ),
            );
        } else if let Some(separator) = separator.filter(|s| to.contains(s)) {
            err(
                &field,
                format!(
                    "the new name \"{to}\" must not contain the separator \"{separator}\": such \
                     names are the federation's"
                ),
            );
        }
        if let Some(first) = new_names.insert(to, from) {
            err(
                &field,
                format!("\"{to}\" is also the new name of \"{first}\""),
            );
        }
    }
}

/// A pattern over `<server>/<name>`: `*`, or a server's name, `/`, and a name that may end
/// with `*`.
fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    let Some((server, name)) = split_item(pattern) else {
        return Err(format!(
            "\"{pattern}\" is not server/name (server/* selects everything of a server, * \
             everything)"
        ));
    };
    if check_name(server).is_err() {
        return Err(format!(
            "\"{pattern}\": \"{server}\" is not a server name (no wildcards before the '/')"
        ));
    }
    if name.is_empty() {
        return Err(format!(
            "\"{pattern}\" names nothing after the '/' (use {server}/* for everything of \
             {server})"
        ));
    }
    if name.find('*').is_some_and(|at| at + 1 != name.len()) {
        return Err(format!("\"{pattern}\": '*' may only end a pattern"));
    }
    Ok(())
}

/// `<server>/<name>` split at its first `/` (server names have none; upstream names may).
fn split_item(item: &str) -> Option<(&str, &str)> {
    item.split_once('/')
}

/// Whether `pattern` selects the item `<server>/<name>` written as `item`.
fn selects(pattern: &str, item: &str) -> bool {
    let (server, name) = split_item(item).unwrap_or((item, ""));
    matches(pattern, server, name)
}

/// Whether `pattern` selects `name` of `server`, without building `<server>/<name>`.
fn matches(pattern: &str, server: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some((p_server, p_name)) = split_item(pattern) else {
        return false;
    };
    p_server == server
        && match p_name.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => p_name == name,
        }
}

fn any_matches(patterns: &[String], server: &str, name: &str) -> bool {
    patterns.iter().any(|p| matches(p, server, name))
}

/// A virtual server in force: its definition and its renames, indexed both ways.
#[derive(Debug)]
pub struct VirtualServer {
    config: McpVirtualServerConfig,
    /// Server → upstream tool → the name published here.
    renamed: BTreeMap<String, BTreeMap<String, String>>,
    /// Name published here → server and upstream tool.
    renamed_from: BTreeMap<String, (String, String)>,
}

/// How many of the federation's items a virtual server selects now, whoever asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selected {
    pub tools: usize,
    pub prompts: usize,
    pub resources: usize,
    pub resource_templates: usize,
}

impl VirtualServer {
    /// Indexes a definition (checked beforehand: renames that are not `server/tool` are
    /// ignored).
    pub fn new(config: McpVirtualServerConfig) -> Self {
        let mut renamed: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut renamed_from = BTreeMap::new();
        for (from, to) in &config.rename {
            if let Some((server, tool)) = split_item(from) {
                renamed
                    .entry(server.to_owned())
                    .or_default()
                    .insert(tool.to_owned(), to.clone());
                renamed_from.insert(to.clone(), (server.to_owned(), tool.to_owned()));
            }
        }
        Self {
            config,
            renamed,
            renamed_from,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &McpVirtualServerConfig {
        &self.config
    }

    fn new_name(&self, server: &str, tool: &str) -> Option<&str> {
        self.renamed.get(server)?.get(tool).map(String::as_str)
    }

    /// The name `tool` of `server` (federated as `published`) has here, if it is selected.
    pub fn tool_name<'a>(
        &'a self,
        server: &str,
        tool: &str,
        published: &'a str,
    ) -> Option<&'a str> {
        if !any_matches(&self.config.tools, server, tool) {
            return None;
        }
        Some(self.new_name(server, tool).unwrap_or(published))
    }

    /// Where a call of `name` goes here: the server and the upstream tool. A renamed tool
    /// answers only to its new name.
    pub fn resolve_tool<'a>(
        &'a self,
        names: &'a Namespace,
        name: &str,
    ) -> Option<(&'a str, &'a str)> {
        if let Some((server, tool)) = self.renamed_from.get(name) {
            return Some((server, tool));
        }
        let origin = names.resolve(name)?;
        (any_matches(&self.config.tools, &origin.server, &origin.upstream)
            && self.new_name(&origin.server, &origin.upstream).is_none())
        .then_some((origin.server.as_str(), origin.upstream.as_str()))
    }

    /// The extra tool a call of `name` goes to here (see [`crate::extra`]): selected like a
    /// federated tool by its group and name; a renamed one answers only to its new name.
    pub fn resolve_extra_tool<'e>(
        &self,
        extras: &'e ExtraTools,
        name: &str,
    ) -> Option<&'e ExtraTool> {
        if let Some((server, tool)) = self.renamed_from.get(name) {
            return extras.find(server, tool);
        }
        let tool = extras.get(name)?;
        (any_matches(&self.config.tools, &tool.server, &tool.name)
            && self.new_name(&tool.server, &tool.name).is_none())
        .then_some(tool)
    }

    pub fn selects_prompt(&self, server: &str, prompt: &str) -> bool {
        any_matches(&self.config.prompts, server, prompt)
    }

    /// Whether the resource or resource template `name` of `server` is selected.
    pub fn selects_resource(&self, server: &str, name: &str) -> bool {
        any_matches(&self.config.resources, server, name)
    }

    /// What it selects of `federation` now (renamed tools that are not there do not count).
    pub fn selected(&self, federation: &Federation) -> Selected {
        Selected {
            tools: federation
                .tools()
                .iter()
                .filter(|t| any_matches(&self.config.tools, &t.server, &t.tool.name))
                .count(),
            prompts: federation
                .prompts()
                .iter()
                .filter(|p| self.selects_prompt(&p.server, &p.prompt.name))
                .count(),
            resources: federation
                .resources()
                .iter()
                .filter(|r| self.selects_resource(&r.server, &r.resource.name))
                .count(),
            resource_templates: federation
                .resource_templates()
                .iter()
                .filter(|t| self.selects_resource(&t.server, &t.template.name))
                .count(),
        }
    }

    /// Which lists a change of definition from `self` to `after` alters.
    fn changed_lists(&self, after: &McpVirtualServerConfig) -> ListChanges {
        let before = &self.config;
        ListChanges {
            tools: u64::from(before.tools != after.tools || before.rename != after.rename),
            prompts: u64::from(before.prompts != after.prompts),
            resources: u64::from(before.resources != after.resources),
        }
    }
}

struct Inner {
    defined: ArcSwap<BTreeMap<String, Arc<VirtualServer>>>,
    /// Per virtual server, from its creation to its removal: the changes of its lists due to
    /// its definition. Dropped with it, which ends what follows it.
    changes: Mutex<BTreeMap<String, watch::Sender<ListChanges>>>,
}

/// The virtual servers in force. Cheap to clone: clones share them.
#[derive(Clone)]
pub struct VirtualServers {
    inner: Arc<Inner>,
}

impl Default for VirtualServers {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                defined: ArcSwap::from_pointee(BTreeMap::new()),
                changes: Mutex::new(BTreeMap::new()),
            }),
        }
    }
}

impl VirtualServers {
    /// Serves exactly `configs` (checked beforehand) from now on: unchanged definitions stay
    /// as they are, changed ones count the lists they alter, removed ones end their followers.
    pub fn set(&self, configs: &[McpVirtualServerConfig]) {
        let mut changes = self
            .inner
            .changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let before = self.inner.defined.load_full();
        let mut after = BTreeMap::new();
        let mut altered = Vec::new();
        for config in configs {
            let server = match before.get(&config.name) {
                Some(old) if old.config == *config => old.clone(),
                Some(old) => {
                    altered.push((config.name.clone(), old.changed_lists(config)));
                    Arc::new(VirtualServer::new(config.clone()))
                }
                None => Arc::new(VirtualServer::new(config.clone())),
            };
            after.insert(config.name.clone(), server);
        }
        // Installed before anyone is told, so that whoever re-lists sees the new definition.
        self.inner.defined.store(Arc::new(after));
        let defined = self.inner.defined.load();
        changes.retain(|name, _| defined.contains_key(name));
        for name in defined.keys() {
            changes
                .entry(name.clone())
                .or_insert_with(|| watch::Sender::new(ListChanges::default()));
        }
        for (name, lists) in altered {
            if let Some(sender) = changes.get(&name) {
                sender.send_modify(|counts| {
                    counts.tools += lists.tools;
                    counts.prompts += lists.prompts;
                    counts.resources += lists.resources;
                });
            }
        }
    }

    /// The virtual server `name`, if it is defined now.
    pub fn get(&self, name: &str) -> Option<Arc<VirtualServer>> {
        self.inner.defined.load().get(name).cloned()
    }

    /// Every virtual server in force, by name.
    pub fn all(&self) -> Arc<BTreeMap<String, Arc<VirtualServer>>> {
        self.inner.defined.load_full()
    }

    /// Follows the changes `name`'s definition makes to its lists, until it is removed (the
    /// receiver then sees its sender closed); `None` if it is not defined.
    pub fn changes(&self, name: &str) -> Option<watch::Receiver<ListChanges>> {
        self.inner
            .changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .map(watch::Sender::subscribe)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> McpVirtualServerConfig {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn patterns_select_exactly_or_by_prefix() {
        // (pattern, server, name, selected)
        let cases = [
            ("ev/echo", "ev", "echo", true),
            ("ev/echo", "ev", "echo2", false),
            ("ev/echo", "eva", "echo", false),
            ("ev/get-*", "ev", "get-sum", true),
            ("ev/get-*", "ev", "get-", true),
            ("ev/get-*", "ev", "echo", false),
            ("ev/*", "ev", "Dynamic Text Resource", true),
            ("ev/*", "evil", "x", false),
            ("*", "any", "thing", true),
            ("ev/a/b", "ev", "a/b", true),
        ];
        for (pattern, server, name, selected) in cases {
            assert_eq!(
                matches(pattern, server, name),
                selected,
                "{pattern} {server}/{name}"
            );
            assert_eq!(selects(pattern, &format!("{server}/{name}")), selected);
        }
    }

    /// Every problem of a definition, with its path.
    #[test]
    fn every_problem_is_reported_with_its_path() {
        // (definition, path, words in the message)
        let cases = [
            (
                json!({"name": "bad name"}),
                "mcp_virtual_servers[0].name",
                "not a valid virtual server name",
            ),
            (
                json!({"name": "-x"}),
                "mcp_virtual_servers[0].name",
                "starting with a letter or digit",
            ),
            (
                json!({"name": "a", "tools": ["echo"]}),
                "mcp_virtual_servers[0].tools[0]",
                "not server/name",
            ),
            (
                json!({"name": "a", "tools": ["ev/ok", "e*/x"]}),
                "mcp_virtual_servers[0].tools[1]",
                "no wildcards before the '/'",
            ),
            (
                json!({"name": "a", "prompts": ["ev/"]}),
                "mcp_virtual_servers[0].prompts[0]",
                "names nothing after",
            ),
            (
                json!({"name": "a", "resources": ["ev/*.md"]}),
                "mcp_virtual_servers[0].resources[0]",
                "may only end a pattern",
            ),
            (
                json!({"name": "a", "resources": ["*/x"]}),
                "mcp_virtual_servers[0].resources[0]",
                "not a server name",
            ),
            (
                json!({"name": "a", "tools": ["ev/*"], "rename": {"ev/*": "x"}}),
                "mcp_virtual_servers[0].rename.ev/*",
                "one tool, no wildcard",
            ),
            (
                json!({"name": "a", "tools": ["ev/*"], "rename": {"echo": "x"}}),
                "mcp_virtual_servers[0].rename.echo",
                "not server/tool",
            ),
            (
                json!({"name": "a", "tools": ["ev/echo"], "rename": {"jira/create": "x"}}),
                "mcp_virtual_servers[0].rename.jira/create",
                "not selected by `tools`",
            ),
            (
                json!({"name": "a", "tools": ["ev/*"], "rename": {"ev/echo": "say it"}}),
                "mcp_virtual_servers[0].rename.ev/echo",
                "may use only letters",
            ),
            (
                json!({"name": "a", "tools": ["ev/*"], "rename": {"ev/echo": ""}}),
                "mcp_virtual_servers[0].rename.ev/echo",
                "1–128 characters",
            ),
            (
                json!({"name": "a", "tools": ["ev/*"], "rename": {"ev/echo": "x__echo"}}),
                "mcp_virtual_servers[0].rename.ev/echo",
                "must not contain the separator \"__\"",
            ),
            (
                json!({"name": "a", "tools": ["ev/*"], "rename": {"ev/a": "same", "ev/b": "same"}}),
                "mcp_virtual_servers[0].rename.ev/b",
                "also the new name of \"ev/a\"",
            ),
        ];
        for (definition, path, words) in cases {
            let problems = check("__", &[parse(definition.clone())]);
            assert!(
                problems.iter().any(|(p, m)| p == path && m.contains(words)),
                "{definition}: expected {path} ({words}), got {problems:?}"
            );
        }
    }

    #[test]
    fn good_definitions_pass_and_names_are_unique() {
        let good = parse(json!({
            "name": "support", "description": "Support desk", "instructions": "Be kind.",
            "tools": ["jira/create_issue", "ev/get-*", "*"], "prompts": ["ev/simple-prompt"],
            "resources": ["ev/Dynamic*", "docs/Read me"],
            "rename": {"jira/create_issue": "create_ticket", "ev/get-sum": "sum.v2"},
        }));
        assert_eq!(
            check("__", std::slice::from_ref(&good)),
            Vec::<Problem>::new()
        );
        let problems = check("__", &[good.clone(), good]);
        assert_eq!(
            problems,
            [(
                "mcp_virtual_servers[1].name".to_owned(),
                "\"support\" is also the name of mcp_virtual_servers[0]".to_owned()
            )]
        );
        // Unknown keys are refused.
        assert!(
            serde_json::from_value::<McpVirtualServerConfig>(json!({"name": "a", "tool": []}))
                .is_err()
        );
    }

    #[test]
    fn renamed_tools_answer_only_to_their_new_names() {
        let names = Namespace::build(
            "__",
            [
                ("ev", "ev", vec!["echo", "get-sum", "add"]),
                ("fs", "fs", vec!["read"]),
            ],
        )
        .unwrap();
        let server = VirtualServer::new(parse(json!({
            "name": "v", "tools": ["ev/*"], "rename": {"ev/get-sum": "sum"},
        })));
        assert_eq!(
            server.resolve_tool(&names, "ev__echo"),
            Some(("ev", "echo"))
        );
        assert_eq!(server.resolve_tool(&names, "sum"), Some(("ev", "get-sum")));
        assert_eq!(server.resolve_tool(&names, "ev__get-sum"), None);
        assert_eq!(server.resolve_tool(&names, "fs__read"), None);
        assert_eq!(server.resolve_tool(&names, "nope"), None);
        assert_eq!(
            server.tool_name("ev", "get-sum", "ev__get-sum"),
            Some("sum")
        );
        assert_eq!(server.tool_name("ev", "echo", "ev__echo"), Some("ev__echo"));
        assert_eq!(server.tool_name("fs", "read", "fs__read"), None);
    }

    #[test]
    fn definitions_are_replaced_whole_and_their_changes_counted() {
        let servers = VirtualServers::default();
        let a = parse(json!({"name": "a", "tools": ["ev/*"]}));
        let b = parse(json!({"name": "b", "prompts": ["ev/*"]}));
        servers.set(&[a.clone(), b.clone()]);
        let mut a_changes = servers.changes("a").unwrap();
        let kept = servers.get("a").unwrap();
        assert!(servers.changes("c").is_none());

        // Unchanged: the same definition, nothing told.
        servers.set(&[a.clone(), b.clone()]);
        assert!(Arc::ptr_eq(&kept, &servers.get("a").unwrap()));
        assert!(!a_changes.has_changed().unwrap());

        // Its resources changed: only that list is counted.
        let a2 = McpVirtualServerConfig {
            resources: vec!["ev/*".into()],
            ..a.clone()
        };
        servers.set(&[a2.clone(), b]);
        assert!(a_changes.has_changed().unwrap());
        assert_eq!(
            *a_changes.borrow_and_update(),
            ListChanges {
                tools: 0,
                prompts: 0,
                resources: 1
            }
        );
        assert_eq!(servers.get("a").unwrap().config(), &a2);

        // Removed: gone, and its followers see the end.
        servers.set(&[a2]);
        assert!(servers.get("b").is_none());
        servers.set(&[]);
        assert!(servers.get("a").is_none());
        assert!(a_changes.has_changed().is_err());
        assert_eq!(servers.all().len(), 0);
    }
}
