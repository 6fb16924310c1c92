//! The hub's configuration: one YAML file, typed, validated completely before anything starts.
//!
//! Loading is a pipeline: YAML → `${VAR}` interpolation → typed deserialization (unknown keys
//! rejected) → semantic checks. Every stage reports all the errors it finds, each with the path
//! of the offending key, so that an operator fixes a file in one pass.

mod auth;
mod governance;
mod interpolate;
mod reload;
mod telemetry;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;

pub use auth::{
    AuthConfig, ClaimRule, JwsAlgorithm, JwtIssuerConfig, OidcProviderConfig, SessionConfig,
    TokenKind, http_url,
};
pub use governance::{
    AuthorizationConfig, BudgetAlertsConfig, FailMode, GuardrailWebhookConfig, limits_config,
    policy_set,
};
pub use reload::{ConfigHandle, watch_file};
pub use telemetry::{BodyLogging, MetadataErrors, Retention, TelemetryConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub bus: BusConfig,
    pub logging: LoggingConfig,
    /// Identity providers: JWT issuers, OIDC login, sessions.
    pub auth: AuthConfig,
    /// Authorization settings (the starter policy).
    pub authorization: AuthorizationConfig,
    /// Grants: who may do what on which model, tool, agent or admin area.
    pub policies: Vec<agenthub_policy::authz::PolicyRule>,
    /// Role assignments: subjects that hold a role, globally or within a team.
    pub roles: Vec<agenthub_policy::authz::RoleRule>,
    /// Request and token rate limits.
    pub rate_limits: Vec<agenthub_policy::limits::RateLimitRule>,
    /// Spending and token budgets per day, week or month.
    pub budgets: Vec<agenthub_policy::limits::BudgetRule>,
    /// Where budget threshold alerts are delivered.
    pub budget_alerts: BudgetAlertsConfig,
    /// Content rules for prompts, completions, tool arguments and results, and agent messages.
    pub guardrails: Vec<agenthub_policy::guardrails::RuleConfig>,
    /// An external guardrail service, consulted after the built-in rules.
    pub guardrail_webhook: Option<GuardrailWebhookConfig>,
    /// Settings of the LLM router: body size, timeouts, retries, circuit breaker.
    pub llm: agenthub_llm_router::config::LlmSettings,
    /// Model provider accounts.
    pub providers: Vec<agenthub_llm_router::config::ProviderConfig>,
    /// Models clients may ask for, each at one provider.
    pub models: Vec<agenthub_llm_router::config::ModelConfig>,
    /// Names that route over several models.
    pub virtual_models: Vec<agenthub_llm_router::config::VirtualModelConfig>,
    /// Settings of the MCP plane: the tool-name separator, allowed hosts and origins,
    /// timeouts.
    pub mcp: agenthub_mcp_registry::config::McpSettings,
    /// Upstream MCP servers whose tools, resources and prompts the hub's `/mcp` federates.
    pub mcp_servers: Vec<agenthub_mcp_registry::config::McpServerConfig>,
    /// Named selections of those servers' tools, prompts and resources, each served at
    /// `/mcp/<name>`.
    pub mcp_virtual_servers: Vec<agenthub_mcp_registry::virtual_servers::McpVirtualServerConfig>,
    /// Settings of the A2A plane: timeouts, sizes, delegation depth, signatures, skill routing.
    pub a2a: agenthub_a2a_bus::config::A2aSettings,
    /// A2A agents, by base URL or by card, each relayed to at `/a2a/<name>`.
    pub agents: Vec<agenthub_a2a_bus::config::AgentConfig>,
    /// Request records, logged bodies, the spill directory and retention.
    pub telemetry: TelemetryConfig,
}

impl HubConfig {
    /// The LLM plane's sections.
    pub fn llm_sections(&self) -> agenthub_llm_router::config::Sections<'_> {
        agenthub_llm_router::config::Sections {
            settings: &self.llm,
            providers: &self.providers,
            models: &self.models,
            virtual_models: &self.virtual_models,
        }
    }
}

/// How replicas sharing one store tell each other about changes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `nats://host:4222`: announce changes to other replicas over NATS so they apply them at
    /// once. Absent: a single replica (others still catch up every `store.refresh_interval`).
    /// `--nats-url` overrides it.
    pub nats_url: Option<String>,
    /// Prefix of the NATS subjects, so that several hubs can share one NATS server.
    pub subject_prefix: String,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            nats_url: None,
            subject_prefix: "agenthub".to_owned(),
        }
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. `--listen` overrides it. Changing it needs a restart.
    pub listen: SocketAddr,
    /// How long shutdown waits for in-flight requests before closing them.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Serve HTTPS instead of HTTP. `--tls-cert`/`--tls-key` override it.
    pub tls: Option<TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_timeout: Duration::from_secs(30),
            max_body_bytes: 16 * 1024 * 1024,
            tls: None,
        }
    }
}

/// HTTPS with rustls, TLS 1.2 and 1.3 only.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM file of CA certificates that client certificates must chain to. Enables mTLS.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: whether a client certificate is `required` (default) or `optional`.
    #[serde(default)]
    pub client_auth: ClientAuth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    #[default]
    Required,
    Optional,
}

/// Where the hub keeps its state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`. Default: SQLite in the data directory.
    /// `--database-url` overrides it.
    pub url: Option<String>,
    /// Connection pool size.
    pub max_connections: u32,
    /// How long to wait for a connection before declaring the store unavailable.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How often the in-memory directory is reloaded from the store, so that changes made by
    /// other replicas sharing the database take effect here.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// The embedded SQLite store: `full` (default), every commit on disk before it is
    /// acknowledged; or `normal`, on disk soon after — a crash of the hub loses nothing, a
    /// power loss may lose the last commits — for less work per write (request records).
    pub sqlite_synchronous: SqliteSync,
}

/// How SQLite commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            refresh_interval: Duration::from_secs(10),
            sqlite_synchronous: SqliteSync::Full,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// A `tracing` filter: `info`, `agenthub=debug,tower_http=info`, …  `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`. `--log-format` overrides it.
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where, e.g. `server.tls.cert` or `models[2].provider`.
    pub path: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub source_name: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{}: {n} error{}",
            self.source_name,
            if n == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl HubConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            source_name: path.display().to_string(),
            errors: vec![ConfigError::new(".", format!("cannot read file: {e}"))],
        })?;
        Self::parse(&text, &path.display().to_string(), &|name| {
            std::env::var(name).ok()
        })
    }

    /// Parses and validates configuration text, with `env` resolving `${VAR}`.
    pub fn parse(
        text: &str,
        source_name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let fail = |errors| ConfigErrors {
            source_name: source_name.to_owned(),
            errors,
        };
        let mut value: Value = match serde_yaml_ng::from_str(text) {
            Ok(Value::Null) => Value::Mapping(Default::default()),
            Ok(value) => value,
            Err(e) => {
                let at = e
                    .location()
                    .map(|l| format!("line {} column {}", l.line(), l.column()));
                return Err(fail(vec![ConfigError::new(
                    at.unwrap_or_else(|| ".".into()),
                    format!("invalid YAML: {e}"),
                )]));
            }
        };
        let mut errors = Vec::new();
        interpolate::interpolate(&mut value, &mut String::new(), env, &mut errors);
        let config: Option<HubConfig> = deserialize_collecting(value, &mut errors);
        if let Some(config) = &config {
            // Checked even after type errors (their keys fall back to defaults), so that one
            // pass reports everything; a key already reported is not reported twice.
            let mut semantic = Vec::new();
            config.check(&mut semantic);
            semantic.retain(|s| !errors.iter().any(|e| e.path == s.path));
            errors.extend(semantic);
        }
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(fail(errors)),
        }
    }

    /// Checks a configuration assembled in code (defaults plus command-line overrides).
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        self.check(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Semantic checks that types alone cannot express.
    fn check(&self, errors: &mut Vec<ConfigError>) {
        let mut err = |path: &str, message: String| errors.push(ConfigError::new(path, message));
        if self.server.max_body_bytes < 1024 {
            err("server.max_body_bytes", "must be at least 1024".into());
        }
        if let Some(tls) = &self.server.tls {
            for (path, file) in [
                ("server.tls.cert", Some(&tls.cert)),
                ("server.tls.key", Some(&tls.key)),
                ("server.tls.client_ca", tls.client_ca.as_ref()),
            ] {
                if let Some(file) = file
                    && !file.is_file()
                {
                    err(path, format!("file {} does not exist", file.display()));
                }
            }
        }
        if let Some(url) = &self.store.url
            && let Err(message) = crate::store::DatabaseUrl::parse(url)
        {
            err("store.url", message);
        }
        if let Some(url) = &self.bus.nats_url
            && !(url.starts_with("nats://") || url.starts_with("tls://"))
        {
            err(
                "bus.nats_url",
                format!("\"{url}\" is not a NATS URL (expected nats://host:port)"),
            );
        }
        let prefix = &self.bus.subject_prefix;
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || prefix.starts_with('.')
            || prefix.ends_with('.')
        {
            err(
                "bus.subject_prefix",
                format!("invalid NATS subject prefix \"{prefix}\""),
            );
        }
        if self.store.max_connections == 0 {
            err("store.max_connections", "must be at least 1".into());
        }
        if self.store.refresh_interval < Duration::from_secs(1) {
            err("store.refresh_interval", "must be at least 1s".into());
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.logging.level) {
            err(
                "logging.level",
                format!("invalid filter \"{}\": {e}", self.logging.level),
            );
        }
        self.auth.check(errors);
        governance::check(self, errors);
        self.telemetry.check(errors);
        // The file is checked on its own: its models may refer only to its own providers.
        errors.extend(
            agenthub_llm_router::config::check(self.llm_sections())
                .into_iter()
                .map(|(path, message)| ConfigError::new(path, message)),
        );
        errors.extend(
            agenthub_mcp_registry::config::check(&self.mcp, &self.mcp_servers)
                .into_iter()
                .chain(agenthub_mcp_registry::virtual_servers::check(
                    &self.mcp.separator,
                    &self.mcp_virtual_servers,
                ))
                .map(|(path, message)| ConfigError::new(path, message)),
        );
        errors.extend(
            agenthub_a2a_bus::config::check(&self.agents)
                .into_iter()
                .chain(agenthub_a2a_bus::config::check_settings(&self.a2a))
                .map(|(path, message)| ConfigError::new(path, message)),
        );
        if self.auth.public_url.is_none() {
            for (i, server) in self.mcp_servers.iter().enumerate() {
                if server.acts_per_user() {
                    errors.push(ConfigError::new(
                        format!("mcp_servers[{i}].oauth.grant"),
                        "authorization_code needs auth.public_url: users are sent back to <auth.public_url>/mcp/oauth/callback"
                            .to_owned(),
                    ));
                }
            }
        }
    }
}

/// Deserializes `value`, collecting as many errors as it can: after each error the offending
/// node is removed and deserialization is tried again, so one bad key does not hide the next.
/// Returns the value deserialized without the removed nodes, if any could be.
fn deserialize_collecting<T: serde::de::DeserializeOwned>(
    mut value: Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let mut removed: Vec<Vec<String>> = Vec::new();
    // Bounded: each round removes one node, and a file has few.
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(config) => return Some(config),
            Err(e) => {
                let mut segments: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
                let message = e.inner().to_string();
                if let Some(field) = unknown_field(&message) {
                    if segments.last() != Some(&field) {
                        segments.push(field);
                    }
                } else if let Some(field) = missing_field(&message) {
                    let mut missing = segments.clone();
                    missing.push(field);
                    if removed.contains(&missing) {
                        // We removed it ourselves after reporting it; nothing more to learn.
                        return None;
                    }
                }
                let path = join_path(&segments);
                // A value already reported (an unset `${VAR}`) is not reported twice.
                if !errors.iter().any(|e| e.path == path) {
                    errors.push(ConfigError::new(path, tidy_message(&message)));
                }
                if segments.is_empty() || !remove_node(&mut value, &segments) {
                    return None;
                }
                removed.push(segments);
            }
        }
    }
    None
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_owned())
}

fn tidy_message(message: &str) -> String {
    match message.strip_prefix("unknown field `") {
        Some(rest) => match rest.split_once("`, ") {
            Some((_, expected)) => format!("unknown key ({expected})"),
            None => "unknown key".to_owned(),
        },
        None => message.to_owned(),
    }
}

fn join_path(segments: &[String]) -> String {
    let mut out = String::new();
    for segment in segments {
        if segment.starts_with('[') || out.is_empty() {
            out.push_str(segment);
        } else {
            out.push('.');
            out.push_str(segment);
        }
    }
    if out.is_empty() { ".".to_owned() } else { out }
}

fn remove_node(value: &mut Value, segments: &[String]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = value;
    for segment in parents {
        node = match child(node, segment) {
            Some(next) => next,
            None => return false,
        };
    }
    match (node, index_of(last)) {
        (Value::Sequence(items), Some(i)) if i < items.len() => {
            // Replace rather than remove so later indices keep their numbers.
            items[i] = Value::Null;
            true
        }
        (Value::Mapping(map), None) => map.remove(last.as_str()).is_some(),
        (Value::Tagged(tagged), _) => remove_node(&mut tagged.value, std::slice::from_ref(last)),
        _ => false,
    }
}

fn child<'v>(value: &'v mut Value, segment: &str) -> Option<&'v mut Value> {
    match (value, index_of(segment)) {
        (Value::Sequence(items), Some(i)) => items.get_mut(i),
        (Value::Mapping(map), None) => map.get_mut(segment),
        (Value::Tagged(tagged), _) => child(&mut tagged.value, segment),
        _ => None,
    }
}

fn index_of(segment: &str) -> Option<usize> {
    segment.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn errors_of(yaml: &str) -> Vec<String> {
        match HubConfig::parse(yaml, "test.yaml", &no_env) {
            Ok(config) => panic!("expected errors, got {config:?}"),
            Err(e) => e.errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(
            HubConfig::parse("", "t", &no_env).unwrap(),
            HubConfig::default()
        );
        assert_eq!(
            HubConfig::parse("# nothing\n", "t", &no_env).unwrap(),
            HubConfig::default()
        );
    }

    #[test]
    fn full_file_parses() {
        let yaml = "
server:
  listen: 0.0.0.0:9000
  shutdown_timeout: 5s
  max_body_bytes: 2048
store:
  url: postgres://postgres@${DB_HOST}/test
  max_connections: 3
  refresh_interval: 1m
logging:
  level: agenthub=debug,info
  format: json
agents:
  - name: planner
    url: https://planner.example.com
    bearer_token: secret:planner
    refresh_interval: 10m
";
        let env = |name: &str| (name == "DB_HOST").then(|| "127.0.0.1:5432".to_owned());
        let config = HubConfig::parse(yaml, "t", &env).unwrap();
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.server.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(
            config.store.url.as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/test")
        );
        assert_eq!(config.store.refresh_interval, Duration::from_secs(60));
        assert_eq!(config.logging.format, LogFormat::Json);
        assert_eq!(
            config.agents[0].url.as_deref(),
            Some("https://planner.example.com")
        );
    }

    /// Data-driven: each file and every error it must produce, in order.
    #[test]
    fn every_error_is_reported_with_its_path() {
        let cases: &[(&str, &[&str])] = &[
            (
                "server:\n  lisen: 1.2.3.4:5\n  shutdown_timeout: soon\nlogging:\n  format: jsn\n",
                &[
                    "server.lisen: unknown key (expected one of `listen`, `shutdown_timeout`, `max_body_bytes`, `tls`)",
                    "server.shutdown_timeout: invalid value: string \"soon\", expected a duration",
                    "logging.format: unknown variant `jsn`, expected `text` or `json`",
                ],
            ),
            (
                "store:\n  url: mysql://x\n  max_connections: 0\nlogging:\n  level: 'agenthub=loud'\n",
                &[
                    "store.url: unsupported database URL scheme \"mysql\" (expected sqlite: or postgres:)",
                    "store.max_connections: must be at least 1",
                    "logging.level: invalid filter",
                ],
            ),
            (
                "server:\n  lisen: 1.2.3.4:5\nstore:\n  max_connections: 0\nlogging:\n  format: jsn\n",
                &[
                    "server.lisen: unknown key",
                    "logging.format: unknown variant `jsn`",
                    "store.max_connections: must be at least 1",
                ],
            ),
            ("modles: []\n", &["modles: unknown key"]),
            (
                "mcp_servers:\n  - name: crm\n    url: https://crm.example.com/mcp\n    oauth: {grant: authorization_code, authorization_url: 'https://idp/authorize', token_url: 'https://idp/token', client_id: hub}\n",
                &[
                    "mcp_servers[0].oauth.grant: authorization_code needs auth.public_url: users are sent back to <auth.public_url>/mcp/oauth/callback",
                ],
            ),
            (
                "mcp:\n  separator: '::'\nmcp_servers:\n  - name: github\n    transport: stdio\n    url: https://x/mcp\n  - name: github\n    url: https://y/mcp\n    prefx: gh\n",
                &[
                    "mcp_servers[1].prefx: unknown key",
                    "mcp.separator: separator may use only letters",
                    "mcp_servers[0].command: is required for the stdio transport",
                    "mcp_servers[0].url: is only for the HTTP transports",
                    "mcp_servers[1].name: \"github\" is also the name of mcp_servers[0]",
                ],
            ),
            (
                "mcp_virtual_servers:\n  - name: support\n    tools: [jira/create_issue, echo]\n    rename: {jira/create_issue: jira__new}\n  - name: support\n    prompt: []\n",
                &[
                    "mcp_virtual_servers[1].prompt: unknown key",
                    "mcp_virtual_servers[0].tools[1]: \"echo\" is not server/name",
                    "mcp_virtual_servers[0].rename.jira/create_issue: the new name \"jira__new\" must not contain the separator",
                    "mcp_virtual_servers[1].name: \"support\" is also the name of mcp_virtual_servers[0]",
                ],
            ),
            (
                "agents:\n  - name: planner\n    url: https://planner.example.com/.well-known/agent-card.json\n  - name: planner\n    card: {name: Booker, skills: [{name: Book}]}\n    refresh_interval: 1m\n  - name: x\n    urll: https://x.example.com\n",
                &[
                    "agents[2].urll: unknown key",
                    "agents[0].url: \"https://planner.example.com/.well-known/agent-card.json\": give the agent's base URL",
                    "agents[1].name: \"planner\" is also the name of agents[0]",
                    "agents[1].card.supportedInterfaces: is required",
                    "agents[1].card.skills[0].id: is required",
                    "agents[1].refresh_interval: is only for agents registered by url",
                    "agents[2]: needs one of url, card_file or card",
                ],
            ),
            (
                "server:\n  tls:\n    cert: /nonexistent.pem\n",
                &["server.tls: missing field `key`"],
            ),
            (
                "server:\n  tls:\n    cert: /nonexistent.pem\n    key: /nonexistent.key\n",
                &[
                    "server.tls.cert: file /nonexistent.pem does not exist",
                    "server.tls.key: file /nonexistent.key does not exist",
                ],
            ),
            (
                "store:\n  url: ${DATABASE_URL}\n",
                &["store.url: environment variable DATABASE_URL is not set"],
            ),
            (
                "server:\n  listen: ${LISTEN}\n",
                &["server.listen: environment variable LISTEN is not set"],
            ),
            ("server: [1, 2\n", &["line 2 column 1: invalid YAML"]),
        ];
        for (yaml, expected) in cases {
            let got = errors_of(yaml);
            assert_eq!(got.len(), expected.len(), "{yaml}\n got: {got:#?}");
            for (got, want) in got.iter().zip(expected.iter()) {
                assert!(got.starts_with(want), "{yaml}\n got:  {got}\n want: {want}");
            }
        }
    }

    #[test]
    fn error_list_renders_every_line() {
        let errors = HubConfig::parse("a: 1\nb: 2\n", "hub.yaml", &no_env).unwrap_err();
        let text = errors.to_string();
        assert!(text.starts_with("hub.yaml: 2 errors"), "{text}");
        assert!(
            text.contains("\n  a: unknown key") && text.contains("\n  b: unknown key"),
            "{text}"
        );
    }
}
