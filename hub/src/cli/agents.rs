//! `agenthub agents`: the A2A agents through the admin API (`/agents`): register (by base URL,
//! by card, or from a file holding an `agents` entry), remove, re-read a card, the state of
//! each card, and discovery by skill, tag or text (`/agents/find`, open to every caller).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::admin::{ClientArgs, Outcome, call_and_show, delete, get_and_show, item, path_segment};
use super::catalog::header as key_value;
use super::client::ClientError;
use super::governance::{FileArg, read_document};
use super::output::{Table, fields, or_dash};

const COLLECTION: &str = "/agents";

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// List the registered agents with the state of their cards.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one agent: its card's state, endpoint, skills and registration.
    Show {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Register an agent: `NAME URL` (its base URL: the hub reads its card from
    /// URL/.well-known/agent-card.json), `NAME --card FILE` (for an agent that publishes no
    /// card), or a file holding an entry of the configuration file's `agents`. The hub reads
    /// and validates the card before storing the registration, unless --no-check.
    Add {
        /// Appears in /a2a/NAME and in permissions (`agent:NAME`); optional with --file when
        /// the file names it.
        name: Option<String>,
        #[command(flatten)]
        fields: Box<AgentFields>,
        /// Register without reading the card first (it is read in the background).
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Unregister an agent registered through the API or the CLI.
    Remove {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Read an agent's card again now.
    Refresh {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Find the agents you may reach by skill, tag or text (every criterion given must match).
    Find {
        /// A skill id the agent offers.
        #[arg(long)]
        skill: Option<String>,
        /// A tag of one of its skills (case-insensitive).
        #[arg(long)]
        tag: Option<String>,
        /// Text in its name, description, or a skill's name, description or tags
        /// (case-insensitive).
        text: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
pub struct AgentFields {
    /// The agent's base URL.
    #[arg(value_name = "URL", conflicts_with_all = ["card", "file"])]
    agent_url: Option<String>,
    /// A JSON file holding the agent's card, registered as it is (for an agent that publishes
    /// none).
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    card: Option<PathBuf>,
    /// YAML or JSON file holding one `agents` entry; `-` reads standard input. A `card_file`
    /// in it is read here and sent as the card.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// A header sent with every request to the agent (repeatable); credentials as
    /// secret:NAME.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = key_value, conflicts_with = "file")]
    headers: Vec<(String, String)>,
    /// The stored secret sent as `Authorization: Bearer …`.
    #[arg(long, value_name = "SECRET", conflicts_with = "file")]
    bearer_token_secret: Option<String>,
    /// How often the card is read again, e.g. 5m (at least 10s; agents registered by URL).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["card", "file"])]
    refresh_interval: Option<String>,
    /// The hub user or service account the agent calls the hub as.
    #[arg(long, value_name = "NAME", conflicts_with = "file")]
    principal: Option<String>,
    /// A JSON file holding a public key (JWK) the agent signs its messages with, or a JWK set
    /// (`{"keys": […]}`); repeatable.
    #[arg(long = "public-key", value_name = "FILE", conflicts_with = "file")]
    public_keys: Vec<PathBuf>,
}

/// A JSON file the CLI sends as part of a registration.
fn read_json(flag: &str, path: &Path) -> Result<Value, ClientError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Usage(format!("{flag}: cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("{flag}: {} is not JSON: {e}", path.display())))
}

/// The keys of a `--public-key` file: one JWK, or every key of a JWK set.
fn public_keys(path: &Path) -> Result<Vec<Value>, ClientError> {
    match read_json("--public-key", path)? {
        Value::Object(mut set) if set.get("keys").is_some_and(Value::is_array) => {
            Ok(match set.remove("keys") {
                Some(Value::Array(keys)) => keys,
                _ => Vec::new(),
            })
        }
        key @ Value::Object(_) => Ok(vec![key]),
        _ => Err(ClientError::Usage(format!(
            "--public-key: {} must hold a JWK (a JSON object) or a JWK set",
            path.display()
        ))),
    }
}

/// The body `add` posts, from its flags.
fn registration(name: Option<String>, f: AgentFields) -> Result<Value, ClientError> {
    if let Some(path) = f.file {
        let file = FileArg { file: path };
        let mut body = read_document(&file, "agent", "name: …, url: …")?;
        match (name, body.get("name")) {
            (Some(name), None) => body["name"] = Value::String(name),
            (Some(name), Some(named)) if named.as_str() != Some(name.as_str()) => {
                return Err(ClientError::Usage(format!(
                    "NAME \"{name}\" differs from the name in {} ({named})",
                    file.file.display()
                )));
            }
            (None, None) => {
                return Err(ClientError::Usage(format!(
                    "--file: {} has no name; give it as NAME or in the file",
                    file.file.display()
                )));
            }
            _ => {}
        }
        // The API takes cards, not the hub's files: the card file is read here.
        if let Value::Object(entry) = &mut body
            && let Some(card_file) = entry.remove("card_file")
        {
            let Some(card_file) = card_file.as_str() else {
                return Err(ClientError::Usage(format!(
                    "--file: card_file in {} must be a path",
                    file.file.display()
                )));
            };
            entry.insert("card".into(), read_json("card_file", Path::new(card_file))?);
        }
        return Ok(body);
    }
    let name = name.ok_or_else(|| ClientError::Usage("give the agent's NAME".into()))?;
    let mut body = Map::new();
    body.insert("name".into(), Value::String(name));
    match (f.agent_url, f.card) {
        (Some(url), None) => {
            body.insert("url".into(), Value::String(url));
        }
        (None, Some(card)) => {
            body.insert("card".into(), read_json("--card", &card)?);
        }
        _ => {
            return Err(ClientError::Usage(
                "give the agent's URL, --card or --file".into(),
            ));
        }
    }
    if !f.headers.is_empty() {
        let headers = f
            .headers
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        body.insert("headers".into(), Value::Object(headers));
    }
    if let Some(secret) = f.bearer_token_secret {
        let reference = if secret.starts_with("secret:") {
            secret
        } else {
            format!("secret:{secret}")
        };
        body.insert("bearer_token".into(), Value::String(reference));
    }
    if let Some(interval) = f.refresh_interval {
        body.insert("refresh_interval".into(), Value::String(interval));
    }
    if let Some(principal) = f.principal {
        body.insert("principal".into(), Value::String(principal));
    }
    let mut keys = Vec::new();
    for path in &f.public_keys {
        keys.extend(public_keys(path)?);
    }
    if !keys.is_empty() {
        body.insert("public_keys".into(), Value::Array(keys));
    }
    Ok(Value::Object(body))
}

#[derive(Deserialize)]
struct Skill {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct CheckedCard {
    name: String,
    version: String,
    protocol_version: String,
    skills: Vec<Skill>,
}

#[derive(Deserialize)]
struct Registered {
    id: String,
    checked_card: Option<CheckedCard>,
}

#[derive(Deserialize)]
struct AgentView {
    name: String,
    source: String,
    state: String,
    error: Option<String>,
    #[serde(default)]
    stale: bool,
    read_at: Option<String>,
    hub_path: String,
    endpoint: Option<String>,
    binding: Option<String>,
    protocol_version: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    skills: Vec<Skill>,
    #[serde(default)]
    registration: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct Found {
    name: String,
    hub_path: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    skills: Vec<Skill>,
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

fn registered(r: Registered) -> String {
    match r.checked_card {
        Some(card) => format!(
            "registered agent {}: {} {} (A2A {}), {}\n",
            r.id,
            card.name,
            card.version,
            card.protocol_version,
            plural(card.skills.len(), "skill")
        ),
        None => format!(
            "registered agent {} (not checked: its card is read in the background; see \
             `agenthub agents list`)\n",
            r.id
        ),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn state_text(a: &AgentView) -> String {
    if a.stale {
        format!("{} (stale card in use)", a.state)
    } else {
        a.state.clone()
    }
}

fn protocol(a: &AgentView) -> Option<String> {
    match (&a.protocol_version, &a.binding) {
        (Some(version), Some(binding)) => Some(format!("{version} {binding}")),
        (Some(version), None) => Some(version.clone()),
        _ => None,
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn agent_fields(a: AgentView) -> String {
    let mut rows = vec![
        ("name", a.name.clone()),
        ("source", a.source.clone()),
        ("state", state_text(&a)),
        ("error", a.error.clone().unwrap_or_default()),
        ("read at", a.read_at.clone().unwrap_or_default()),
        ("hub path", a.hub_path.clone()),
        ("endpoint", a.endpoint.clone().unwrap_or_default()),
        ("protocol", protocol(&a).unwrap_or_default()),
        ("description", first_line(&a.description).to_owned()),
    ];
    let r = &a.registration;
    if let Some(url) = r.get("url") {
        rows.push(("url", value_text(url)));
    }
    if r.contains_key("card") {
        rows.push(("card", "given inline".into()));
    }
    if let Some(file) = r.get("card_file") {
        rows.push(("card file", value_text(file)));
    }
    for key in ["headers", "bearer_token", "refresh_interval", "principal"] {
        if let Some(value) = r.get(key) {
            rows.push((key, value_text(value)));
        }
    }
    if let Some(Value::Array(keys)) = r.get("public_keys") {
        rows.push(("public keys", keys.len().to_string()));
    }
    rows.push(("skills", a.skills.len().to_string()));
    let mut out = fields(&rows);
    for s in &a.skills {
        let mut line = format!("  {}", s.id);
        if !s.name.is_empty() && s.name != s.id {
            line.push_str(&format!(" ({})", s.name));
        }
        let description = first_line(&s.description);
        if !description.is_empty() {
            line.push_str(&format!(": {description}"));
        }
        if !s.tags.is_empty() {
            line.push_str(&format!(" [{}]", s.tags.join(", ")));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn agent_table(agents: Vec<AgentView>) -> String {
    let mut table = Table::new(&[
        "NAME", "SOURCE", "STATE", "PROTOCOL", "ENDPOINT", "SKILLS", "ERROR",
    ]);
    for a in agents {
        table.row(vec![
            a.name.clone(),
            a.source.clone(),
            state_text(&a),
            or_dash(protocol(&a).as_deref()),
            or_dash(a.endpoint.as_deref()),
            a.skills.len().to_string(),
            or_dash(a.error.as_deref()),
        ]);
    }
    table.render()
}

fn found_table(found: Vec<Found>) -> String {
    let mut table = Table::new(&["NAME", "PATH", "SKILLS", "DESCRIPTION"]);
    for f in found {
        let skills = f
            .skills
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(",");
        table.row(vec![
            f.name,
            f.hub_path,
            or_dash(Some(&skills)),
            or_dash(Some(first_line(&f.description))),
        ]);
    }
    table.render()
}

/// `/agents/find?…` with the criteria given, escaped.
fn find_path(skill: Option<&str>, tag: Option<&str>, text: Option<&str>) -> String {
    let query: Vec<String> = [("skill", skill), ("tag", tag), ("q", text)]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| format!("{key}={}", path_segment(v))))
        .collect();
    if query.is_empty() {
        format!("{COLLECTION}/find")
    } else {
        format!("{COLLECTION}/find?{}", query.join("&"))
    }
}

pub async fn agents(cmd: AgentsCommand) -> Outcome {
    match cmd {
        AgentsCommand::List { client } => get_and_show(&client, COLLECTION, agent_table).await,
        AgentsCommand::Show { name, client } => {
            get_and_show(&client, &item(COLLECTION, &name), agent_fields).await
        }
        AgentsCommand::Add {
            name,
            fields,
            no_check,
            client,
        } => {
            let body = registration(name, *fields)?;
            let path = if no_check {
                format!("{COLLECTION}?check=false")
            } else {
                COLLECTION.to_owned()
            };
            call_and_show(&client, Method::POST, &path, Some(&body), registered).await
        }
        AgentsCommand::Remove { name, client } => {
            delete(
                &client,
                &item(COLLECTION, &name),
                format!("removed agent {name}"),
            )
            .await
        }
        AgentsCommand::Refresh { name, client } => {
            let path = format!("{}/refresh", item(COLLECTION, &name));
            call_and_show(&client, Method::POST, &path, Some(&json!({})), agent_fields).await
        }
        AgentsCommand::Find {
            skill,
            tag,
            text,
            client,
        } => {
            let path = find_path(skill.as_deref(), tag.as_deref(), text.as_deref());
            get_and_show(&client, &path, found_table).await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let mut all = vec!["agenthub", "agents"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|cli| cli.command)
    }

    fn add_body(args: &[&str]) -> Result<Value, ClientError> {
        let mut all = vec!["add"];
        all.extend_from_slice(args);
        match parse(&all).unwrap_or_else(|e| panic!("{args:?}: {e}")) {
            Command::Agents(AgentsCommand::Add { name, fields, .. }) => registration(name, *fields),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_make_the_registration() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        std::fs::write(
            &key,
            r#"{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        )
        .unwrap();
        let set = dir.path().join("set.json");
        std::fs::write(&set, r#"{"keys": [{"kty": "EC"}, {"kty": "OKP"}]}"#).unwrap();
        let body = add_body(&[
            "planner",
            "https://planner.example.com",
            "--header",
            "X-Team=ops",
            "--bearer-token-secret",
            "planner-token",
            "--refresh-interval",
            "5m",
            "--principal",
            "planner-bot",
            "--public-key",
            key.to_str().unwrap(),
            "--public-key",
            set.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(body["name"], "planner");
        assert_eq!(body["url"], "https://planner.example.com");
        assert_eq!(body["headers"], json!({"X-Team": "ops"}));
        assert_eq!(body["bearer_token"], "secret:planner-token");
        assert_eq!(body["refresh_interval"], "5m");
        assert_eq!(body["principal"], "planner-bot");
        assert_eq!(body["public_keys"].as_array().unwrap().len(), 3);
        assert_eq!(body["public_keys"][0]["crv"], "Ed25519");

        let card = dir.path().join("card.json");
        std::fs::write(&card, r#"{"name": "Echo"}"#).unwrap();
        let body = add_body(&["echo", "--card", card.to_str().unwrap()]).unwrap();
        assert_eq!(body, json!({"name": "echo", "card": {"name": "Echo"}}));

        // A file's card_file is read and sent as the card; the name may come from the file.
        let entry = dir.path().join("agent.yaml");
        std::fs::write(
            &entry,
            format!("name: echo\ncard_file: {}\n", card.display()),
        )
        .unwrap();
        let body = add_body(&["--file", entry.to_str().unwrap()]).unwrap();
        assert_eq!(body, json!({"name": "echo", "card": {"name": "Echo"}}));
        let differs = add_body(&["other", "--file", entry.to_str().unwrap()]).unwrap_err();
        assert!(differs.to_string().contains("differs"), "{differs}");
    }

    #[test]
    fn bad_usage_is_caught_before_any_call() {
        for args in [
            &["add", "a", "https://a.example.com", "--card", "c.json"][..],
            &["add", "a", "--file", "a.yaml", "--header", "X=1"],
            &["add", "a", "--card", "c.json", "--refresh-interval", "5m"],
            &["add", "a", "--header", "novalue"],
        ] {
            assert!(parse(args).is_err(), "{args:?} parsed");
        }
        for args in [&["a"][..], &[]] {
            let error = add_body(args).unwrap_err();
            assert!(matches!(error, ClientError::Usage(_)), "{error}");
        }
        let missing = add_body(&["a", "--card", "/nonexistent/card.json"]).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("--card: cannot read /nonexistent/card.json"),
            "{missing}"
        );
    }

    #[test]
    fn find_escapes_its_criteria() {
        assert_eq!(find_path(None, None, None), "/agents/find");
        assert_eq!(
            find_path(Some("plan"), Some("travel"), Some("a trip&more")),
            "/agents/find?skill=plan&tag=travel&q=a%20trip%26more"
        );
    }
}
