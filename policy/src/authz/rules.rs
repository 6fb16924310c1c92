//! The rule set as it is written (YAML, admin API rows) and the requests it decides.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::identity::Scope;

/// Everything the authorizer knows: grants, denials and role assignments.
///
/// This is the typed form of the `authz` YAML section and of the rows the admin API stores. It is
/// only a description; [`PolicySet::validate`] checks it and
/// [`Authorizer::new`](super::Authorizer::new) compiles it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySet {
    /// Policy lines: a subject may (or, with `effect: deny`, may not) do an action on the
    /// resources a pattern matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyRule>,
    /// Role assignments: a member (any subject, including another role) acts as a role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleRule>,
}

impl PolicySet {
    /// Parses a YAML document with `policies:` and `roles:`. A syntax or type error is reported
    /// with its path (e.g. `policies[2].effect`); the set is not [validated](Self::validate).
    pub fn from_yaml(text: &str) -> Result<Self, super::InvalidPolicy> {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let path = err.path().to_string();
            let message = err.into_inner().to_string();
            super::InvalidPolicy {
                problems: vec![super::Problem { path, message }],
            }
        })
    }

    /// Appends another set's policies and roles (e.g. the starter policy, then the
    /// configuration file's, then the admin API's rows). Policy indices in a
    /// [`Decision`](super::Decision) refer to the combined list.
    pub fn extend(&mut self, other: PolicySet) {
        self.policies.extend(other.policies);
        self.roles.extend(other.roles);
    }
}

/// One policy line: `subject` may (`effect: allow`) or may not (`effect: deny`) do `action` on
/// the resources `resource` matches, optionally only within one team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// Who: `user:<name>`, `service:<name>`, `agent:<name>`, `team:<name>`, `key:<id>` or
    /// `role:<name>`. No wildcards: group subjects with roles instead.
    pub subject: String,
    /// What: `model:<name>`, `mcp:<server>/<tool>`, `agent:<name>`, `admin:<area>` or `*` (every
    /// resource). A trailing `*` matches any rest: `model:gpt-4*`, `mcp:jira/*`, `model:*`.
    pub resource: String,
    /// Which action: `invoke` or `list` (models), `call` or `list` (tools), `send` or `list`
    /// (agents), `read` or `manage` (admin areas), or `*` (every action).
    pub action: String,
    /// `allow` (the default) or `deny`. A matching deny line overrides every allow.
    #[serde(default)]
    pub effect: Effect,
    /// Limits the line to requests made within this team (e.g. managing that team, or a call
    /// charged to it). Absent: the line applies within every team and outside any team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

impl PolicyRule {
    /// An allow line that applies everywhere.
    pub fn allow(
        subject: impl Into<String>,
        resource: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            subject: subject.into(),
            resource: resource.into(),
            action: action.into(),
            effect: Effect::Allow,
            team: None,
        }
    }

    /// A deny line that applies everywhere.
    pub fn deny(
        subject: impl Into<String>,
        resource: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            effect: Effect::Deny,
            ..Self::allow(subject, resource, action)
        }
    }

    /// The same line, limited to requests made within `team`.
    pub fn in_team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }
}

/// One role assignment: `member` acts as `role` (everywhere, or only within `team`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// The subject that gets the role: `user:alice`, `team:ml`, `key:<id>`, or `role:<name>` for
    /// role inheritance (`role:lead` → `role:engineer`: leads can do what engineers can).
    pub member: String,
    /// The role it acts as: `role:<name>`.
    pub role: String,
    /// Limits the assignment to requests made within this team. Absent: everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

impl RoleRule {
    /// `member` acts as `role` everywhere.
    pub fn new(member: impl Into<String>, role: impl Into<String>) -> Self {
        Self {
            member: member.into(),
            role: role.into(),
            team: None,
        }
    }

    /// The same assignment, limited to requests made within `team`.
    pub fn in_team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }
}

/// Whether a policy line grants or forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Grants the action, unless a deny line also matches.
    #[default]
    Allow,
    /// Forbids the action, whatever allows it.
    Deny,
}

impl Effect {
    /// `allow` or `deny`, as in YAML and in the casbin policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// What a request does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Call a model (chat, completion, embedding).
    Invoke,
    /// See that a model, tool or agent exists (listings, discovery).
    List,
    /// Call an MCP tool.
    Call,
    /// Send an A2A message to an agent.
    Send,
    /// Read an admin area, or the tasks of an agent (one's own).
    Read,
    /// Change an admin area.
    Manage,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 6] = [
        Action::Invoke,
        Action::List,
        Action::Call,
        Action::Send,
        Action::Read,
        Action::Manage,
    ];

    /// The name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoke => "invoke",
            Self::List => "list",
            Self::Call => "call",
            Self::Send => "send",
            Self::Read => "read",
            Self::Manage => "manage",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown action \"{s}\" (expected invoke, list, call, send, read, manage or *)"
                )
            })
    }
}

/// The kinds of resources, each written `<kind>:<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// `model:<name>`: a model behind the LLM router.
    Model,
    /// `mcp:<server>/<tool>`: a tool of an MCP server.
    Mcp,
    /// `agent:<name>`: an A2A agent.
    Agent,
    /// `admin:<area>`: an area of the admin API.
    Admin,
}

impl ResourceKind {
    /// Every kind.
    pub const ALL: [ResourceKind; 4] = [
        ResourceKind::Model,
        ResourceKind::Mcp,
        ResourceKind::Agent,
        ResourceKind::Admin,
    ];

    /// The prefix before the `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Mcp => "mcp",
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }

    /// The actions that apply to this kind; a policy line naming another is rejected.
    pub fn actions(self) -> &'static [Action] {
        match self {
            Self::Model => &[Action::Invoke, Action::List],
            Self::Mcp => &[Action::Call, Action::List],
            Self::Agent => &[Action::Send, Action::Read, Action::List],
            Self::Admin => &[Action::Read, Action::Manage],
        }
    }

    /// The kind with this prefix.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == prefix)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The areas of the admin API, each a resource `admin:<area>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdminArea {
    /// Users (people).
    Users,
    /// Service accounts.
    ServiceAccounts,
    /// Teams, their settings and membership.
    Teams,
    /// API keys.
    Keys,
    /// The encrypted secret store.
    Secrets,
    /// These authorization policies and role assignments.
    Policies,
    /// Rate limits.
    Limits,
    /// Spending budgets.
    Budgets,
    /// Guardrails.
    Guardrails,
    /// Model routes and providers.
    Models,
    /// Registered MCP servers.
    Tools,
    /// Registered A2A agents.
    Agents,
    /// The audit log.
    Audit,
}

impl AdminArea {
    /// Every area.
    pub const ALL: [AdminArea; 13] = [
        AdminArea::Users,
        AdminArea::ServiceAccounts,
        AdminArea::Teams,
        AdminArea::Keys,
        AdminArea::Secrets,
        AdminArea::Policies,
        AdminArea::Limits,
        AdminArea::Budgets,
        AdminArea::Guardrails,
        AdminArea::Models,
        AdminArea::Tools,
        AdminArea::Agents,
        AdminArea::Audit,
    ];

    /// The name after `admin:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::ServiceAccounts => "service-accounts",
            Self::Teams => "teams",
            Self::Keys => "keys",
            Self::Secrets => "secrets",
            Self::Policies => "policies",
            Self::Limits => "limits",
            Self::Budgets => "budgets",
            Self::Guardrails => "guardrails",
            Self::Models => "models",
            Self::Tools => "tools",
            Self::Agents => "agents",
            Self::Audit => "audit",
        }
    }
}

impl FromStr for AdminArea {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AdminArea::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = AdminArea::ALL.iter().map(|a| a.as_str()).collect();
                format!(
                    "unknown admin area \"{s}\" (expected one of {} or *)",
                    names.join(", ")
                )
            })
    }
}

/// One concrete resource a request touches, e.g. `model:gpt-4o` or `mcp:jira/create_issue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource<'a> {
    /// The kind (the part before `:`).
    pub kind: ResourceKind,
    /// The name (the part after `:`): a model name, `server/tool`, an agent name, an area.
    pub name: &'a str,
}

impl<'a> Resource<'a> {
    /// `model:<name>`.
    pub fn model(name: &'a str) -> Self {
        Self {
            kind: ResourceKind::Model,
            name,
        }
    }

    /// `mcp:<server>/<tool>`, from `server/tool`.
    pub fn tool(server_and_tool: &'a str) -> Self {
        Self {
            kind: ResourceKind::Mcp,
            name: server_and_tool,
        }
    }

    /// `agent:<name>`.
    pub fn agent(name: &'a str) -> Self {
        Self {
            kind: ResourceKind::Agent,
            name,
        }
    }

    /// `admin:<area>`.
    pub fn admin(area: AdminArea) -> Resource<'static> {
        Resource {
            kind: ResourceKind::Admin,
            name: area.as_str(),
        }
    }

    /// Parses `<kind>:<name>` (a concrete resource, not a pattern).
    pub fn parse(text: &'a str) -> Option<Self> {
        let (kind, name) = text.split_once(':')?;
        Some(Self {
            kind: ResourceKind::from_prefix(kind)?,
            name,
        })
    }
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

/// One authorization question: may the caller do `action` on `resource` (within `team`)?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// What is touched.
    pub resource: Resource<'a>,
    /// What is done to it.
    pub action: Action,
    /// The team the request is made within, by name: the team whose settings, members or
    /// budgets an admin request changes, or the team a plane call is charged to (the key's
    /// team). `None` outside any team (hub-wide admin areas, calls charged to no team).
    /// Team-scoped policy lines and role assignments, and the caller's team roles, apply only
    /// within their team.
    pub team: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request made outside any team.
    pub fn new(resource: Resource<'a>, action: Action) -> Self {
        Self {
            resource,
            action,
            team: None,
        }
    }

    /// The same request, made within `team`.
    pub fn in_team(mut self, team: &'a str) -> Self {
        self.team = Some(team);
        self
    }

    /// The credential scope this request needs besides a policy grant: `llm`, `mcp` or `a2a`
    /// for the planes, `admin:read` to read and `admin` to manage an admin area.
    pub fn required_scope(&self) -> Scope {
        match (self.resource.kind, self.action) {
            (ResourceKind::Model, _) => Scope::Llm,
            (ResourceKind::Mcp, _) => Scope::Mcp,
            (ResourceKind::Agent, _) => Scope::A2a,
            (ResourceKind::Admin, Action::Read | Action::List) => Scope::AdminRead,
            (ResourceKind::Admin, _) => Scope::Admin,
        }
    }
}
