//! The `agents` section of the configuration: each agent by its base URL (the hub reads its
//! card from there) or by a card given to the hub (a file, or written inline), with the
//! credentials the hub sends it. Every problem is reported with its path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::card::{AgentCard, Problem};
use crate::fetch;

/// Settings of the A2A plane (the `a2a` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct A2aSettings {
    /// Let agents registered through the admin API, and push-notification URLs, point at
    /// loopback, private and link-local addresses (the configuration file always may).
    pub allow_private_networks: bool,
    /// Connecting to an agent.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// An agent's whole answer, or a stream's first event.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The longest a stream from an agent may stay silent.
    #[serde(with = "humantime_serde")]
    pub stream_idle_timeout: Duration,
    /// The largest request from a client, and the largest answer (or stream event) from an
    /// agent, in bytes.
    pub max_message_bytes: usize,
    /// The longest delegation chain (the principal and every agent after it) a message may
    /// arrive with.
    pub max_delegation_depth: usize,
    /// How far a signature's time may be from the hub's clock; nonces are remembered this long.
    #[serde(with = "humantime_serde")]
    pub signature_max_skew: Duration,
    /// How long the hub's signature on a message an agent received stays good for extending
    /// its delegation chain (an agent delegates while it works on a task).
    #[serde(with = "humantime_serde")]
    pub delegation_max_age: Duration,
    /// Which agent answers `skill:<id>` when several offer the skill.
    pub skill_routing: SkillRouting,
    /// The algorithm of the hub's signing keys: `EdDSA` (Ed25519) or `ES256` (P-256). A change
    /// applies to the next key (`agenthub a2a rotate-key`).
    pub signing_algorithm: String,
    /// How long a rotated-out signing key stays published in the JWKS.
    #[serde(with = "humantime_serde")]
    pub retired_key_retention: Duration,
    /// Push notifications relayed to clients' webhooks.
    pub push: PushSettings,
    /// How the agents appear as tools on the hub's MCP face (`/mcp`): one tool per agent
    /// (`a2a<separator><agent>`), one per skill (`a2a<separator><agent><separator><skill>`), or
    /// none.
    pub agents_as_tools: AgentsAsTools,
}

impl Default for A2aSettings {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            stream_idle_timeout: Duration::from_secs(300),
            max_message_bytes: 16 * 1024 * 1024,
            max_delegation_depth: 8,
            signature_max_skew: Duration::from_secs(300),
            delegation_max_age: Duration::from_secs(3600),
            skill_routing: SkillRouting::RoundRobin,
            signing_algorithm: "EdDSA".to_owned(),
            retired_key_retention: Duration::from_secs(7 * 24 * 3600),
            push: PushSettings::default(),
            agents_as_tools: AgentsAsTools::default(),
        }
    }
}

/// Which tools the agents are published as on the MCP face (`a2a.agents_as_tools`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentsAsTools {
    /// None: MCP clients do not see the agents.
    Off,
    /// One tool per agent, described by its card.
    #[default]
    Agent,
    /// One tool per skill of each agent, described by the skill.
    Skill,
}

// --- Push notifications (a2a.push) ---

/// How the hub delivers the push notifications agents send it to the clients' webhooks
/// (`a2a.push`): each notification retried with exponential backoff until the webhook answers
/// 2xx, refuses it for good (4xx other than 408 and 429), or the attempts or time run out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushSettings {
    /// One delivery attempt, connection included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The delay before the first retry; each next one doubles it, up to `retry_max`.
    #[serde(with = "humantime_serde")]
    pub retry_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Attempts per notification, the first included.
    pub max_attempts: u32,
    /// How long after it arrived a notification is still tried.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Deliveries in flight at once, per replica.
    pub max_in_flight: usize,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_attempts: 300,
            max_age: Duration::from_secs(24 * 3600),
            max_in_flight: 64,
        }
    }
}

/// Checks `a2a.push`.
fn check_push_settings(push: &PushSettings, err: &mut dyn FnMut(&str, &str)) {
    for (field, value) in [
        ("push.timeout", push.timeout),
        ("push.retry_initial", push.retry_initial),
        ("push.retry_max", push.retry_max),
        ("push.max_age", push.max_age),
    ] {
        if value.is_zero() {
            err(field, "must be longer than 0s");
        }
    }
    if push.retry_max < push.retry_initial {
        err("push.retry_max", "must be at least retry_initial");
    }
    if !(1..=10_000).contains(&push.max_attempts) {
        err("push.max_attempts", "must be between 1 and 10000");
    }
    if !(1..=10_000).contains(&push.max_in_flight) {
        err("push.max_in_flight", "must be between 1 and 10000");
    }
}

// --- end of push notifications ---

/// How `skill:<id>` picks among the reachable agents offering the skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillRouting {
    /// The first by name.
    First,
    /// Each in turn.
    #[default]
    RoundRobin,
    /// One at random.
    Random,
}

/// Checks the `a2a` settings.
pub fn check_settings(settings: &A2aSettings) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut err =
        |field: &str, message: &str| problems.push((format!("a2a.{field}"), message.to_owned()));
    for (field, value) in [
        ("connect_timeout", settings.connect_timeout),
        ("timeout", settings.timeout),
        ("stream_idle_timeout", settings.stream_idle_timeout),
        ("signature_max_skew", settings.signature_max_skew),
        ("delegation_max_age", settings.delegation_max_age),
    ] {
        if value.is_zero() {
            err(field, "must be longer than 0s");
        }
    }
    if settings.max_message_bytes < 1024 {
        err("max_message_bytes", "must be at least 1024");
    }
    if crate::signing::SigningAlgorithm::from_jws_name(&settings.signing_algorithm).is_none() {
        err("signing_algorithm", "must be EdDSA or ES256");
    }
    if settings.retired_key_retention < settings.signature_max_skew {
        err(
            "retired_key_retention",
            "must be at least signature_max_skew, or fresh signatures stop verifying",
        );
    }
    if !(2..=64).contains(&settings.max_delegation_depth) {
        err("max_delegation_depth", "must be between 2 and 64");
    }
    check_push_settings(&settings.push, &mut err);
    // `agents_as_tools` needs no check of its own beyond its three values (serde refuses any
    // other): tool names are made to fit MCP's alphabet and length when they are published.
    problems
}

/// One agent the hub relays to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Appears in `/a2a/<name>` and in permissions (`agent:<name>`).
    pub name: String,
    /// The agent's base URL: its card is read from `<url>/.well-known/agent-card.json`, or
    /// v0.3's `<url>/.well-known/agent.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A JSON card file, for an agent that publishes none (relative to the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_file: Option<PathBuf>,
    /// The card itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Value>,
    /// Sent with every request to the agent, the card's included; values may be `secret:NAME`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Sent as `Authorization: Bearer …`; `secret:NAME` or the token itself (`${ENV_VAR}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// How often the card is read again (`url` only).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_interval: Option<Duration>,
    /// The hub user or service account this agent calls the hub as. Its calls then extend a
    /// delegation chain as `agent:<name>` instead of starting one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The agent's public keys (JWKs). An agent that has any must sign every message it
    /// sends through the hub, and its card's signatures are checked with them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_keys: Vec<Value>,
    /// Registered through the admin API (set by the hub, never read or written): such a
    /// registration's card URL and endpoint are held to `a2a.allow_private_networks` at every
    /// read; the configuration file's are trusted as written.
    #[serde(skip)]
    pub from_api: bool,
}

/// Where an agent's card comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CardSource<'a> {
    Url(&'a str),
    File(&'a Path),
    Inline(&'a Value),
}

impl AgentConfig {
    /// Every source set; `check` insists on exactly one.
    pub fn sources(&self) -> Vec<CardSource<'_>> {
        let mut sources = Vec::new();
        sources.extend(self.url.as_deref().map(CardSource::Url));
        sources.extend(self.card_file.as_deref().map(CardSource::File));
        sources.extend(self.card.as_ref().map(CardSource::Inline));
        sources
    }
}

/// The longest agent name.
const MAX_NAME: usize = 64;
/// The shortest refresh interval: cards change rarely, and agents should not be polled hard.
const MIN_REFRESH: Duration = Duration::from_secs(10);
/// The largest card file read.
const MAX_CARD_FILE: u64 = 1024 * 1024;

/// Checks every agent, and that no two share a name. A card given by file or inline is read
/// and validated here, so a bad one stops the configuration from loading.
pub fn check(agents: &[AgentConfig]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, agent) in agents.iter().enumerate() {
        let at = |field: &str| {
            if field.is_empty() {
                format!("agents[{i}]")
            } else {
                format!("agents[{i}].{field}")
            }
        };
        let mut err = |field: &str, message: String| problems.push((at(field), message));
        if let Err(message) = check_name(&agent.name) {
            err("name", message);
        } else if let Some(first) = seen.insert(&agent.name, i) {
            err(
                "name",
                format!("\"{}\" is also the name of agents[{first}]", agent.name),
            );
        }
        let sources = agent.sources();
        match sources.as_slice() {
            [] => err("", "needs one of url, card_file or card".into()),
            [source] => check_source(*source, &mut err),
            _ => err("", "set only one of url, card_file and card".into()),
        }
        if agent.refresh_interval.is_some() && agent.url.is_none() {
            err(
                "refresh_interval",
                "is only for agents registered by url".into(),
            );
        } else if agent.refresh_interval.is_some_and(|r| r < MIN_REFRESH) {
            err(
                "refresh_interval",
                format!("must be at least {}s", MIN_REFRESH.as_secs()),
            );
        }
        for (name, value) in &agent.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                err("headers", format!("\"{name}\" is not a header name"));
                continue;
            }
            if name.eq_ignore_ascii_case("authorization") && agent.bearer_token.is_some() {
                err(
                    "headers",
                    "set either an Authorization header or bearer_token, not both".into(),
                );
            }
            if let Err(message) = check_credential(value) {
                err(&format!("headers.{name}"), message);
            }
        }
        if let Some(token) = &agent.bearer_token
            && let Err(message) = check_credential(token)
        {
            err("bearer_token", message);
        }
        if agent.principal.as_deref().is_some_and(str::is_empty) {
            err("principal", "must name a user or service account".into());
        }
        for (k, key) in agent.public_keys.iter().enumerate() {
            if let Err(message) = check_public_key(key) {
                err(&format!("public_keys[{k}]"), message);
            }
        }
    }
    problems
}

fn check_source(source: CardSource<'_>, err: &mut dyn FnMut(&str, String)) {
    match source {
        CardSource::Url(url) => {
            if let Err(message) = fetch::check_base_url(url) {
                err("url", format!("\"{url}\": {message}"));
            }
        }
        CardSource::File(path) => match read_card_file(path) {
            Err(message) => err("card_file", message),
            Ok(value) => {
                for (card_path, message) in card_problems(value) {
                    let within = if card_path.is_empty() {
                        String::new()
                    } else {
                        format!(" at {card_path}")
                    };
                    err(
                        "card_file",
                        format!("{}{within}: {message}", path.display()),
                    );
                }
            }
        },
        CardSource::Inline(value) => {
            for (card_path, message) in card_problems(value.clone()) {
                let field = if card_path.is_empty() {
                    "card".to_owned()
                } else {
                    format!("card.{card_path}")
                };
                err(&field, message);
            }
        }
    }
}

pub(crate) fn read_card_file(path: &Path) -> Result<Value, String> {
    let unreadable = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_CARD_FILE {
        return Err(format!(
            "{} is larger than {MAX_CARD_FILE} bytes",
            path.display()
        ));
    }
    let text = std::fs::read(path).map_err(unreadable)?;
    serde_json::from_slice(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// A card's parse error or validation problems, at paths within the card.
fn card_problems(value: Value) -> Vec<Problem> {
    match AgentCard::from_value(value) {
        Ok(card) => card.validate(),
        Err(e) => vec![(e.path, e.message)],
    }
}

/// A public key must be a JWK the hub can verify signatures with.
fn check_public_key(key: &Value) -> Result<(), String> {
    let Some(object) = key.as_object() else {
        return Err("must be a JWK (a JSON object)".into());
    };
    if object.contains_key("d") {
        return Err("is a private key; give only the public part".into());
    }
    match (
        object.get("kty").and_then(Value::as_str),
        object.get("crv").and_then(Value::as_str),
    ) {
        (Some("OKP"), Some("Ed25519")) | (Some("EC"), Some("P-256")) => Ok(()),
        _ => Err("must be an Ed25519 (kty OKP) or P-256 (kty EC) key".into()),
    }
}

/// A credential is a literal or `secret:NAME`; either must be usable as a header value.
fn check_credential(value: &str) -> Result<(), String> {
    match value.strip_prefix("secret:") {
        Some("") => Err("secret: names no secret (secret:NAME)".into()),
        Some(_) => Ok(()),
        None if value.is_empty() => Err("must not be empty".into()),
        None => http::HeaderValue::from_str(value)
            .map(drop)
            .map_err(|_| "is not a valid header value (control characters?)".into()),
    }
}

/// Agent names appear in URLs (`/a2a/<name>`) and permissions (`agent:<name>`): the alphabet
/// of MCP server names.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a valid agent name (1–{MAX_NAME} letters, digits, '-', '_' and \
             '.', starting with a letter or digit)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn agents(list: Value) -> Vec<AgentConfig> {
        serde_json::from_value(list).unwrap()
    }

    fn card() -> Value {
        json!({
            "name": "Planner",
            "description": "Plans trips.",
            "version": "1.0.0",
            "supportedInterfaces": [{"url": "https://planner.example.com/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{"id": "plan", "name": "Plan", "description": "Plans a trip.", "tags": ["travel"]}]
        })
    }

    #[test]
    fn good_agents_pass() {
        let dir = std::env::temp_dir().join(format!("a2a-bus-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("card.json");
        std::fs::write(&file, card().to_string()).unwrap();
        let list = agents(json!([
            {"name": "planner", "url": "https://planner.example.com", "bearer_token": "secret:planner", "refresh_interval": "5m"},
            {"name": "local.v2", "url": "http://127.0.0.1:9999/agents/local/", "headers": {"X-Api-Key": "secret:local-key", "X-Team": "ops"}},
            {"name": "booker", "card_file": file},
            {"name": "inline_1", "card": card()},
        ]));
        assert_eq!(check(&list), Vec::<Problem>::new());
        assert_eq!(list[0].refresh_interval, Some(Duration::from_secs(300)));
        assert_eq!(
            list[2].sources(),
            [CardSource::File(&file)],
            "the card file is the one source"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_json::from_value::<Vec<AgentConfig>>(
            json!([{"name": "a", "url": "https://a", "bearer": "t"}]),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("unknown field `bearer`"),
            "{error}"
        );
    }

    /// Data-driven: each list and every problem it must produce, in order.
    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut bad_card = card();
        bad_card["skills"] =
            json!([{"id": "plan", "name": "Plan"}, {"id": "plan", "name": "Again"}]);
        bad_card["name"] = json!("");
        let cases: Vec<(Value, &[&str])> = vec![
            (
                json!([{"name": "a"}, {"name": "b", "url": "https://b.example.com", "card": card()}]),
                &[
                    "agents[0]: needs one of url, card_file or card",
                    "agents[1]: set only one of url, card_file and card",
                ],
            ),
            (
                json!([
                    {"name": "-a", "url": "https://a.example.com"},
                    {"name": "b", "url": "https://b.example.com"},
                    {"name": "b", "url": "https://b2.example.com"},
                    {"name": "c/d", "url": "https://c.example.com"},
                ]),
                &[
                    "agents[0].name: \"-a\" is not a valid agent name (1–64 letters, digits, '-', '_' and '.', starting with a letter or digit)",
                    "agents[2].name: \"b\" is also the name of agents[1]",
                    "agents[3].name: \"c/d\" is not a valid agent name",
                ],
            ),
            (
                json!([
                    {"name": "a", "url": "ftp://a.example.com"},
                    {"name": "b", "url": "https://user:pw@b.example.com"},
                    {"name": "c", "url": "https://c.example.com/.well-known/agent-card.json"},
                    {"name": "d", "url": "https://d.example.com/?tenant=x"},
                    {"name": "e", "url": "not a url"},
                ]),
                &[
                    "agents[0].url: \"ftp://a.example.com\": it must start with https:// or http://",
                    "agents[1].url: \"https://user:pw@b.example.com\": it must not carry credentials (use headers or bearer_token)",
                    "agents[2].url: \"https://c.example.com/.well-known/agent-card.json\": give the agent's base URL, without /.well-known/agent-card.json: the card is read from there",
                    "agents[3].url: \"https://d.example.com/?tenant=x\": it must not have a query or fragment",
                    "agents[4].url: \"not a url\": relative URL without a base",
                ],
            ),
            (
                json!([
                    {"name": "a", "card": bad_card},
                    {"name": "b", "card": ["not", "a", "card"]},
                    {"name": "c", "card": {"name": "C", "skills": "many"}},
                    {"name": "d", "card_file": "/nonexistent/card.json"},
                ]),
                &[
                    "agents[0].card.name: is required",
                    "agents[0].card.skills[1].id: \"plan\" is also the id of skills[0]",
                    "agents[1].card: not a JSON object",
                    "agents[2].card.skills: invalid type: string \"many\", expected a sequence",
                    "agents[3].card_file: cannot read /nonexistent/card.json: No such file or directory",
                ],
            ),
            (
                json!([
                    {"name": "a", "card": card(), "refresh_interval": "1m"},
                    {"name": "b", "url": "https://b.example.com", "refresh_interval": "1s"},
                    {"name": "c", "url": "https://c.example.com", "bearer_token": "secret:", "headers": {"Authorization": "Basic eA==", "Bad Header": "x", "X-Key": "", "X-Line": "a\nb"}},
                ]),
                &[
                    "agents[0].refresh_interval: is only for agents registered by url",
                    "agents[1].refresh_interval: must be at least 10s",
                    "agents[2].headers: set either an Authorization header or bearer_token, not both",
                    "agents[2].headers: \"Bad Header\" is not a header name",
                    "agents[2].headers.X-Key: must not be empty",
                    "agents[2].headers.X-Line: is not a valid header value (control characters?)",
                    "agents[2].bearer_token: secret: names no secret (secret:NAME)",
                ],
            ),
        ];
        for (list, expected) in cases {
            let got: Vec<String> = check(&agents(list.clone()))
                .into_iter()
                .map(|(path, message)| format!("{path}: {message}"))
                .collect();
            assert_eq!(got.len(), expected.len(), "{list}\n got: {got:#?}");
            for (got, want) in got.iter().zip(expected.iter()) {
                assert!(got.starts_with(want), "{list}\n got:  {got}\n want: {want}");
            }
        }
    }

    #[test]
    fn a_bad_card_file_is_reported_with_the_file() {
        let dir = std::env::temp_dir().join(format!("a2a-bus-card-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let html = dir.join("card.html");
        std::fs::write(&html, "<html></html>").unwrap();
        let nameless = dir.join("nameless.json");
        let mut card = card();
        card["name"] = json!("");
        std::fs::write(&nameless, card.to_string()).unwrap();
        let got = check(&agents(json!([
            {"name": "a", "card_file": html},
            {"name": "b", "card_file": nameless},
        ])));
        assert_eq!(got.len(), 2, "{got:#?}");
        assert_eq!(got[0].0, "agents[0].card_file");
        assert!(
            got[0]
                .1
                .starts_with(&format!("{} is not JSON: expected value", html.display())),
            "{got:#?}"
        );
        assert_eq!(
            got[1],
            (
                "agents[1].card_file".to_owned(),
                format!("{} at name: is required", nameless.display())
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn push_settings_have_defaults_and_are_checked() {
        let settings: A2aSettings =
            serde_json::from_value(json!({"push": {"retry_initial": "250ms", "max_attempts": 5}}))
                .unwrap();
        assert_eq!(settings.push.retry_initial, Duration::from_millis(250));
        assert_eq!(settings.push.max_attempts, 5);
        assert_eq!(settings.push.retry_max, Duration::from_secs(300));
        assert_eq!(check_settings(&settings), Vec::<Problem>::new());
        let bad: A2aSettings = serde_json::from_value(json!({"push": {
            "timeout": "0s", "retry_initial": "10m", "retry_max": "1m",
            "max_attempts": 0, "max_in_flight": 0,
        }}))
        .unwrap();
        let paths: Vec<String> = check_settings(&bad).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "a2a.push.timeout",
                "a2a.push.retry_max",
                "a2a.push.max_attempts",
                "a2a.push.max_in_flight"
            ]
        );
        assert!(
            serde_json::from_value::<A2aSettings>(json!({"push": {"retries": 3}})).is_err(),
            "unknown push settings are refused"
        );
    }

    #[test]
    fn agents_are_tools_by_default_and_only_three_ways() {
        assert_eq!(A2aSettings::default().agents_as_tools, AgentsAsTools::Agent);
        for (text, mode) in [
            ("off", AgentsAsTools::Off),
            ("agent", AgentsAsTools::Agent),
            ("skill", AgentsAsTools::Skill),
        ] {
            let settings: A2aSettings =
                serde_json::from_value(json!({"agents_as_tools": text})).unwrap();
            assert_eq!(settings.agents_as_tools, mode);
            assert_eq!(check_settings(&settings), Vec::<Problem>::new());
        }
        assert!(
            serde_json::from_value::<A2aSettings>(json!({"agents_as_tools": "skills"})).is_err()
        );
    }
}
