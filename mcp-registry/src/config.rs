//! The `mcp` section and the `mcp_servers` list of the configuration (also the admin API's
//! registration bodies), and their checks. Every problem is reported with its path.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::names::{self, DEFAULT_SEPARATOR};

/// The MCP plane's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpSettings {
    /// Between a server's prefix and an upstream tool's name: `github__create_issue`.
    pub separator: String,
    /// `Host` values the hub's `/mcp` endpoint answers (DNS rebinding protection). Empty: any
    /// loopback host only. List every name clients reach the hub by, e.g. `hub.example.com`.
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted from browsers; a request with any other `Origin` gets 403.
    /// Requests without `Origin` (non-browser clients) are not affected.
    pub allowed_origins: Vec<String>,
    /// Defaults for every upstream server.
    pub timeouts: McpTimeouts,
    /// Whether servers registered through the admin API may be reached at loopback,
    /// private, link-local or other non-public addresses. Off by default, so that the API
    /// cannot be used to reach the hub's own network; servers in the configuration file are
    /// trusted as written.
    pub allow_private_networks: bool,
    /// How much one connection to an upstream server carries.
    pub limits: McpLimits,
    /// How many items one page of `tools/list`, `prompts/list`, `resources/list` and
    /// `resources/templates/list` holds (1–1000).
    pub page_size: usize,
    /// How often a connected server is asked for its first tools page, to notice one that
    /// went away without closing the connection; a failed check reconnects it.
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Duration,
    /// This hub's id in hop headers between hubs (see [`crate::hops`]). Unset: a random id
    /// made once and kept in the store.
    pub hub_id: Option<String>,
}

/// Size and concurrency bounds of the MCP plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpLimits {
    /// The largest request body `/mcp` accepts (larger ones get 413).
    pub max_request_bytes: usize,
    /// The largest answer taken from an upstream (HTTP transports); a larger one fails the
    /// call with an error naming the server.
    pub max_result_bytes: usize,
    /// Requests one upstream HTTP connection carries at once; more wait their turn.
    pub max_concurrent_requests: usize,
}

impl Default for McpLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 * 1024 * 1024,
            max_result_bytes: 16 * 1024 * 1024,
            max_concurrent_requests: 256,
        }
    }
}

impl Default for McpSettings {
    fn default() -> Self {
        Self {
            separator: DEFAULT_SEPARATOR.to_owned(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            timeouts: McpTimeouts::default(),
            allow_private_networks: false,
            limits: McpLimits::default(),
            health_check_interval: Duration::from_secs(30),
            page_size: 200,
            hub_id: None,
        }
    }
}

/// How long the hub waits on an upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpTimeouts {
    /// To connect (HTTP) or to start and complete the handshake (stdio).
    #[serde(with = "humantime_serde")]
    pub connect: Duration,
    /// For one request's answer (a tool call, a list page).
    #[serde(with = "humantime_serde")]
    pub request: Duration,
}

impl Default for McpTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

/// How the hub reaches an upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// Streamable HTTP; the protocol era (2026-07-28 stateless or 2025-11-25 sessions) is
    /// detected per server.
    StreamableHttp,
    /// The legacy HTTP+SSE transport (2024-11-05): a GET stream and an `endpoint` to POST to.
    Sse,
    /// A local process speaking MCP on its standard input and output, shared by all callers.
    Stdio,
    /// An OpenAPI 3 document whose operations become tools, each a call of the REST API; served
    /// by the hub itself (`crate::openapi`).
    Openapi,
    /// One of the MCP servers bundled with the hub (`builtin: sentry`), run inside it; `env`
    /// holds its settings, as the standalone binary reads them from its environment.
    Builtin,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamableHttp => "streamable_http",
            Self::Sse => "sse",
            Self::Stdio => "stdio",
            Self::Openapi => "openapi",
            Self::Builtin => "builtin",
        }
    }
}

/// One upstream MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Appears in tool names and in permissions (`mcp:<name>/<tool>`).
    pub name: String,
    /// Default: `builtin` when `builtin` is set, `stdio` when `command` is, `openapi` when
    /// `openapi` is, else `streamable_http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportKind>,
    /// A server bundled with the hub and run inside it: one of [`BUILTINS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// The server's endpoint (`https://…/mcp`, or the SSE stream's URL for `sse`); for
    /// `openapi`, the API's base URL (default: the document's first server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The OpenAPI 3 document (`openapi`): an http(s) URL or a file path, JSON or YAML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<String>,
    /// The program to run (`stdio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// The process's environment (`stdio`), on top of a minimal one (`PATH`, `HOME`, `LANG`),
    /// or a built-in server's settings (`builtin`); values may be `secret:NAME`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The process's working directory (`stdio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Headers sent with every request (HTTP transports and `openapi`); values may be
    /// `secret:NAME`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Sent as `Authorization: Bearer …` (HTTP transports); `secret:NAME` or the token itself,
    /// usually `${ENV_VAR}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// OAuth 2.1 to the server (streamable HTTP) or to a built-in server's service (in place
    /// of its credential settings): the hub's own access token (client credentials), or each
    /// user's, after their consent (authorization code with PKCE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthClientConfig>,
    /// Published names start with this instead of `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Overrides the plane's timeouts for this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<McpTimeoutOverrides>,
}

/// How the hub gets access tokens for an upstream server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientConfig {
    /// `client_credentials` (the default): one token of the hub's own, shared by every
    /// caller. `authorization_code`: each user grants the hub access for themselves (with
    /// PKCE), and their calls carry their own token.
    #[serde(default, skip_serializing_if = "OAuthGrant::is_client_credentials")]
    pub grant: OAuthGrant,
    /// The authorization server's token endpoint.
    pub token_url: String,
    /// Where users are sent to grant access (`authorization_code` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    pub client_id: String,
    /// `secret:NAME` (or the secret itself, usually `${ENV_VAR}`, in the configuration file).
    /// Required for `client_credentials`; a public client of `authorization_code` has none
    /// and relies on PKCE alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes to request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The RFC 8707 resource indicator sent with the request; default: the server's `url`
    /// (none for a built-in server, which has no URL: then no `resource` is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// How the client authenticates to the token endpoint: `client_secret_basic` (default,
    /// HTTP Basic) or `client_secret_post` (in the form).
    #[serde(default)]
    pub auth_method: ClientAuthMethod,
    /// How the authorization server speaks: `standard` (default, RFC 6749) or `slack`.
    #[serde(default, skip_serializing_if = "OAuthDialect::is_standard")]
    pub dialect: OAuthDialect,
}

/// How an authorization server departs from RFC 6749. Said explicitly rather than guessed
/// from the token URL's host: a proxy, a test's fake or Slack GovSlack have other hosts, and
/// the setting is then visible where the server is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthDialect {
    #[default]
    Standard,
    /// Slack's OAuth v2 (`/oauth/v2/authorize`, `oauth.v2.access`): `scopes` are asked for as
    /// user scopes (`user_scope`, comma-separated), and the user's grant is the user token of
    /// `authed_user` — never the workspace's bot token — read from Slack's `ok` answers
    /// (HTTP 200 with `ok: false` and an error code when refused).
    Slack,
}

impl OAuthDialect {
    fn is_standard(&self) -> bool {
        *self == Self::Standard
    }
}

/// The OAuth grant the hub uses for a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrant {
    /// RFC 6749 §4.4: the hub's own token.
    #[default]
    ClientCredentials,
    /// RFC 6749 §4.1 with PKCE (RFC 7636): each user's token, after their consent.
    AuthorizationCode,
}

impl OAuthGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
        }
    }

    fn is_client_credentials(&self) -> bool {
        *self == Self::ClientCredentials
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpTimeoutOverrides {
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub request: Option<Duration>,
}

impl McpServerConfig {
    pub fn transport(&self) -> TransportKind {
        self.transport.unwrap_or(if self.builtin.is_some() {
            TransportKind::Builtin
        } else if self.command.is_some() {
            TransportKind::Stdio
        } else if self.openapi.is_some() {
            TransportKind::Openapi
        } else {
            TransportKind::StreamableHttp
        })
    }

    /// The prefix of this server's published names.
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(&self.name)
    }

    /// Whether calls to this server carry each user's own OAuth token (the authorization code
    /// grant): it is reached over one connection per user, never a shared one.
    pub fn acts_per_user(&self) -> bool {
        self.oauth
            .as_ref()
            .is_some_and(|o| o.grant == OAuthGrant::AuthorizationCode)
    }

    /// What users' OAuth grants for this server are bound to: where its calls go (`url`, the
    /// built-in server and its `*_URL` settings) and who issues its tokens (the token
    /// endpoint, client, resource and dialect). A grant made for other values is not used — a
    /// server re-pointed elsewhere never receives tokens meant for the old destination — and
    /// its user is asked to consent again. Scopes, names and timeouts are not part of it.
    pub fn grant_audience(&self) -> String {
        let oauth = self.oauth.as_ref();
        let addresses: Vec<(&String, &String)> = self
            .env
            .iter()
            .filter(|(name, _)| name.ends_with("_URL"))
            .collect();
        let parts = serde_json::json!([
            self.url,
            self.builtin,
            addresses,
            oauth.map(|o| &o.token_url),
            oauth.map(|o| &o.client_id),
            oauth.and_then(|o| o.resource.as_ref()),
            oauth.map(|o| o.dialect),
        ]);
        let digest = ring::digest::digest(&ring::digest::SHA256, parts.to_string().as_bytes());
        digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn timeouts(&self, defaults: McpTimeouts) -> McpTimeouts {
        let overrides = self.timeouts.unwrap_or_default();
        McpTimeouts {
            connect: overrides.connect.unwrap_or(defaults.connect),
            request: overrides.request.unwrap_or(defaults.request),
        }
    }
}

/// The servers bundled with the hub (`builtin:`); the hub supplies each
/// ([`crate::upstream::Builtins`]).
pub const BUILTINS: &[&str] = &["jira", "sentry", "slack"];

/// Each built-in server's credential settings: with `oauth`, each call carries an OAuth token
/// instead, and they are refused.
const BUILTIN_CREDENTIALS: [(&str, &[&str]); 3] = [
    (
        "jira",
        &["JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_BEARER_TOKEN"],
    ),
    ("sentry", &["SENTRY_AUTH_TOKEN"]),
    ("slack", &["SLACK_BOT_TOKEN", "SLACK_USER_TOKEN"]),
];

/// The settings of the built-in server `name` that `oauth` replaces.
pub fn builtin_credentials(name: &str) -> &'static [&'static str] {
    BUILTIN_CREDENTIALS
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map_or(&[], |(_, settings)| settings)
}

/// A problem: the path of the offending field and what is wrong.
pub type Problem = (String, String);

/// The longest server name or prefix.
const MAX_PREFIX: usize = 64;
/// The longest separator.
const MAX_SEPARATOR: usize = 8;

/// Checks the settings and every server, and that no two servers share a name or a prefix.
pub fn check(settings: &McpSettings, servers: &[McpServerConfig]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(message) = names::check_part("separator", &settings.separator, MAX_SEPARATOR) {
        problems.push(("mcp.separator".to_owned(), message));
    }
    for (i, host) in settings.allowed_hosts.iter().enumerate() {
        if host.is_empty() || host.contains(['/', ' ']) {
            problems.push((
                format!("mcp.allowed_hosts[{i}]"),
                format!("\"{host}\" is not a host name (with an optional :port)"),
            ));
        }
    }
    for (i, origin) in settings.allowed_origins.iter().enumerate() {
        if !(origin.starts_with("https://") || origin.starts_with("http://"))
            || origin.trim_end_matches('/').matches('/').count() != 2
        {
            problems.push((
                format!("mcp.allowed_origins[{i}]"),
                format!("\"{origin}\" is not an origin (scheme://host[:port])"),
            ));
        }
    }
    if let Some(id) = &settings.hub_id
        && let Err(e) = crate::hops::check_id(id)
    {
        problems.push(("mcp.hub_id".to_owned(), e.to_string()));
    }
    if !(1..=1000).contains(&settings.page_size) {
        problems.push((
            "mcp.page_size".to_owned(),
            format!("{} is not between 1 and 1000", settings.page_size),
        ));
    }
    if settings.health_check_interval < Duration::from_secs(1) {
        problems.push((
            "mcp.health_check_interval".to_owned(),
            "must be at least 1s".to_owned(),
        ));
    }
    for (field, value) in [
        ("max_request_bytes", settings.limits.max_request_bytes),
        ("max_result_bytes", settings.limits.max_result_bytes),
        (
            "max_concurrent_requests",
            settings.limits.max_concurrent_requests,
        ),
    ] {
        if value == 0 {
            problems.push((
                format!("mcp.limits.{field}"),
                "must be more than zero".to_owned(),
            ));
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut prefixes: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, server) in servers.iter().enumerate() {
        let at = |field: &str| format!("mcp_servers[{i}].{field}");
        check_server(server, &mut |field, message| {
            problems.push((at(field), message))
        });
        if let Some(first) = seen.insert(&server.name, i) {
            problems.push((
                at("name"),
                format!(
                    "\"{}\" is also the name of mcp_servers[{first}]",
                    server.name
                ),
            ));
        } else if let Some(first) = prefixes.insert(server.prefix(), i) {
            problems.push((
                at("prefix"),
                format!(
                    "\"{}\" is also the prefix of mcp_servers[{first}]; tool names would collide",
                    server.prefix()
                ),
            ));
        }
    }
    problems
}

/// Checks one server on its own (the admin API checks a registration before storing it).
pub fn check_server(server: &McpServerConfig, err: &mut dyn FnMut(&str, String)) {
    if let Err(message) = check_name(&server.name) {
        err("name", message);
    }
    if let Some(prefix) = &server.prefix
        && let Err(message) = names::check_part("prefix", prefix, MAX_PREFIX)
    {
        err("prefix", message);
    }
    let transport = server.transport();
    match transport {
        TransportKind::StreamableHttp | TransportKind::Sse => {
            match &server.url {
                Some(url) => {
                    if let Err(message) = check_url(url) {
                        err("url", message);
                    }
                }
                None => err(
                    "url",
                    format!("is required for the {} transport", transport.as_str()),
                ),
            }
            refuse_stdio_fields(server, err);
        }
        TransportKind::Openapi => {
            match &server.openapi {
                Some(document) => {
                    if let Err(message) = check_document(document) {
                        err("openapi", message);
                    }
                }
                None => err(
                    "openapi",
                    "is required for the openapi transport".to_owned(),
                ),
            }
            if let Some(url) = &server.url
                && let Err(message) = check_url(url)
            {
                err("url", message);
            }
            refuse_stdio_fields(server, err);
        }
        TransportKind::Builtin => {
            match server.builtin.as_deref() {
                Some(name) if BUILTINS.contains(&name) => {}
                Some(name) => err(
                    "builtin",
                    format!(
                        "\"{name}\" is not a built-in server; built in: {}",
                        BUILTINS.join(", ")
                    ),
                ),
                None => err(
                    "builtin",
                    "is required for the builtin transport".to_owned(),
                ),
            }
            for (field, set) in [
                ("url", server.url.is_some()),
                ("headers", !server.headers.is_empty()),
                ("bearer_token", server.bearer_token.is_some()),
                ("command", server.command.is_some()),
                ("args", !server.args.is_empty()),
                ("cwd", server.cwd.is_some()),
            ] {
                if set {
                    err(
                        field,
                        "is not for a built-in server (its settings go in env)".to_owned(),
                    );
                }
            }
            check_env_names(server, err);
        }
        TransportKind::Stdio => {
            match server.command.as_deref() {
                Some("") => err("command", "must not be empty".to_owned()),
                Some(_) => {}
                None => err("command", "is required for the stdio transport".to_owned()),
            }
            for (field, set) in [
                ("url", server.url.is_some()),
                ("headers", !server.headers.is_empty()),
                ("bearer_token", server.bearer_token.is_some()),
            ] {
                if set {
                    err(field, "is only for the HTTP transports".to_owned());
                }
            }
            check_env_names(server, err);
        }
    }
    if transport != TransportKind::Builtin && server.builtin.is_some() {
        err("builtin", "is only for the builtin transport".to_owned());
    }
    if transport != TransportKind::Openapi && server.openapi.is_some() {
        err("openapi", "is only for the openapi transport".to_owned());
    }
    for name in server.headers.keys() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            err("headers", format!("\"{name}\" is not a header name"));
        } else if name.eq_ignore_ascii_case("authorization") && server.bearer_token.is_some() {
            err(
                "headers",
                "set either an Authorization header or bearer_token, not both".to_owned(),
            );
        }
    }
    if let Some(oauth) = &server.oauth {
        if !matches!(
            transport,
            TransportKind::StreamableHttp | TransportKind::Builtin
        ) {
            err(
                "oauth",
                "is only for the streamable_http and builtin transports".to_owned(),
            );
        }
        if transport == TransportKind::Builtin
            && let Some(name) = server.builtin.as_deref()
        {
            for setting in builtin_credentials(name) {
                if server.env.contains_key(*setting) {
                    err(
                        &format!("env.{setting}"),
                        format!(
                            "is not used with oauth: each call to {name} carries an OAuth token ({}) instead",
                            match oauth.grant {
                                OAuthGrant::AuthorizationCode => "the calling user's own",
                                OAuthGrant::ClientCredentials => "the hub's own",
                            }
                        ),
                    );
                }
            }
        }
        if server.bearer_token.is_some()
            || server
                .headers
                .keys()
                .any(|h| h.eq_ignore_ascii_case("authorization"))
        {
            err(
                "oauth",
                "set either oauth or a bearer token / Authorization header, not both".to_owned(),
            );
        }
        if let Err(message) = check_url(&oauth.token_url) {
            err("oauth.token_url", message);
        }
        if oauth.client_id.is_empty() {
            err("oauth.client_id", "must not be empty".to_owned());
        }
        match oauth.client_secret.as_deref() {
            Some("") => err("oauth.client_secret", "must not be empty".to_owned()),
            Some(_) => {}
            None if oauth.grant == OAuthGrant::ClientCredentials => err(
                "oauth.client_secret",
                "is required for the client_credentials grant".to_owned(),
            ),
            None => {}
        }
        match (&oauth.authorization_url, oauth.grant) {
            (Some(url), OAuthGrant::AuthorizationCode) => {
                if let Err(message) = check_url(url) {
                    err("oauth.authorization_url", message);
                }
            }
            (None, OAuthGrant::AuthorizationCode) => err(
                "oauth.authorization_url",
                "is required for the authorization_code grant: users are sent there to grant access"
                    .to_owned(),
            ),
            (Some(_), OAuthGrant::ClientCredentials) => err(
                "oauth.authorization_url",
                "is only for the authorization_code grant".to_owned(),
            ),
            (None, OAuthGrant::ClientCredentials) => {}
        }
        if let Some(resource) = &oauth.resource
            && let Err(message) = check_url(resource)
        {
            err("oauth.resource", message);
        }
        check_dialect(server, oauth, err);
    }
    if let Some(timeouts) = server.timeouts {
        for (field, value) in [
            ("timeouts.connect", timeouts.connect),
            ("timeouts.request", timeouts.request),
        ] {
            if value.is_some_and(|v| v.is_zero()) {
                err(field, "must be more than zero".to_owned());
            }
        }
    }
}

/// The combinations a dialect allows: Slack's issues user tokens to users who consent (no
/// client credentials grant, no resource indicator), which only the built-in Slack server
/// takes; and Slack's own token endpoint is not read as a standard one.
fn check_dialect(
    server: &McpServerConfig,
    oauth: &OAuthClientConfig,
    err: &mut dyn FnMut(&str, String),
) {
    match oauth.dialect {
        OAuthDialect::Standard => {
            let slack_endpoint = reqwest::Url::parse(&oauth.token_url)
                .ok()
                .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
                .is_some_and(|host| host == "slack.com" || host.ends_with(".slack.com"));
            if slack_endpoint {
                err(
                    "oauth.dialect",
                    "must be slack for Slack's token endpoint, which answers in a shape of its own"
                        .to_owned(),
                );
            }
        }
        OAuthDialect::Slack => {
            if server.builtin.as_deref() != Some("slack") {
                err(
                    "oauth.dialect",
                    "slack is only for `builtin: slack`: Slack's tokens call Slack's Web API"
                        .to_owned(),
                );
            }
            if oauth.grant != OAuthGrant::AuthorizationCode {
                err(
                    "oauth.grant",
                    "must be authorization_code with dialect slack: Slack issues tokens only to \
                     users who consent"
                        .to_owned(),
                );
            }
            if oauth.scopes.is_empty() {
                err(
                    "oauth.scopes",
                    "must name Slack user scopes (e.g. search:read, channels:history) with \
                     dialect slack: without them Slack issues no user token"
                        .to_owned(),
                );
            }
            if oauth.resource.is_some() {
                err(
                    "oauth.resource",
                    "is not taken by Slack (dialect slack)".to_owned(),
                );
            }
        }
    }
}

fn check_env_names(server: &McpServerConfig, err: &mut dyn FnMut(&str, String)) {
    for name in server.env.keys() {
        if name.is_empty() || name.contains(['=', '\0']) {
            err(
                "env",
                format!("\"{name}\" is not an environment variable name"),
            );
        }
    }
}

fn refuse_stdio_fields(server: &McpServerConfig, err: &mut dyn FnMut(&str, String)) {
    for (field, set) in [
        ("command", server.command.is_some()),
        ("args", !server.args.is_empty()),
        ("env", !server.env.is_empty()),
        ("cwd", server.cwd.is_some()),
    ] {
        if set {
            err(field, "is only for the stdio transport".to_owned());
        }
    }
}

/// An OpenAPI document's location: an http(s) URL, or a path on the hub's host.
fn check_document(document: &str) -> Result<(), String> {
    if document.starts_with("https://") || document.starts_with("http://") {
        check_url(document)
    } else if document.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else if document.contains("://") {
        Err(format!(
            "\"{document}\" must be an https:// or http:// URL, or a file path"
        ))
    } else {
        Ok(())
    }
}

/// Whether a header or environment variable named `name` carries a credential (its value is
/// then masked when shown, and must be a `secret:NAME` reference when stored by the API).
pub fn names_a_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization"
        || name == "cookie"
        || [
            "token",
            "key",
            "secret",
            "password",
            "passwd",
            "credential",
            "auth",
        ]
        .iter()
        .any(|word| name.contains(word))
}

/// Server names appear in tool names, URLs and permissions (`mcp:<name>/<tool>`).
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_PREFIX
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a valid server name (1–{MAX_PREFIX} letters, digits, '-', '_' \
             and '.', starting with a letter or digit)"
        ))
    }
}

/// Refuses a registration whose URL's host resolves to a loopback, private, link-local or
/// otherwise non-public address (every address the name resolves to is checked).
pub async fn check_destination(url: &str) -> Result<(), String> {
    let uri = http::Uri::try_from(url).map_err(|e| format!("\"{url}\" is not a valid URL: {e}"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("\"{url}\" names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    for address in addresses {
        if !is_public(address.ip()) {
            return Err(format!(
                "{host} resolves to {}, a non-public address; set mcp.allow_private_networks: true to register servers on private networks",
                address.ip()
            ));
        }
    }
    Ok(())
}

pub use agenthub_policy::net::is_public;

fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("\"{url}\" must start with https:// or http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "\"{url}\" must name a host, without credentials (use headers or bearer_token)"
        ));
    }
    http::Uri::try_from(url).map_err(|e| format!("\"{url}\" is not a valid URL: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn servers(list: serde_json::Value) -> Vec<McpServerConfig> {
        serde_json::from_value(list).unwrap()
    }

    fn problems_of(list: serde_json::Value) -> Vec<Problem> {
        check(&McpSettings::default(), &servers(list))
    }

    #[test]
    fn good_servers_pass() {
        let list = json!([
            {"name": "github", "url": "https://api.example.com/mcp", "bearer_token": "secret:gh"},
            {"name": "everything", "command": "npx", "args": ["-y", "server-everything"],
             "env": {"TOKEN": "secret:t"}, "prefix": "ev"},
            {"name": "old", "transport": "sse", "url": "http://127.0.0.1:9000/sse",
             "headers": {"x-api-key": "secret:k"}, "timeouts": {"request": "5s"}},
            {"name": "pets", "transport": "openapi",
             "openapi": "https://api.example.com/openapi.json", "bearer_token": "secret:p"},
            {"name": "billing", "openapi": "specs/billing.yaml",
             "url": "http://127.0.0.1:8000/v1", "headers": {"x-api-key": "secret:b"}},
            {"name": "crm", "url": "https://crm.example.com/mcp",
             "oauth": {"token_url": "https://idp/token", "client_id": "hub", "client_secret": "secret:c"}},
            // A public client: PKCE, no secret.
            {"name": "notes", "url": "https://notes.example.com/mcp",
             "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize",
                       "token_url": "https://idp/token", "client_id": "hub", "scopes": ["notes"]}},
            {"name": "sentry", "builtin": "sentry",
             "env": {"SENTRY_ORG": "acme", "SENTRY_AUTH_TOKEN": "secret:sentry"}},
            // Each user's own Sentry token: no credential setting, no URL (no resource).
            {"name": "my-sentry", "builtin": "sentry", "env": {"SENTRY_ORG": "acme"},
             "oauth": {"grant": "authorization_code", "authorization_url": "https://sentry.io/oauth/authorize/",
                       "token_url": "https://sentry.io/oauth/token/", "client_id": "hub",
                       "client_secret": "secret:sentry-app", "scopes": ["event:read"]}},
            // Each user's own Slack user token, through Slack's OAuth v2.
            {"name": "my-slack", "builtin": "slack",
             "oauth": {"grant": "authorization_code", "dialect": "slack",
                       "authorization_url": "https://slack.com/oauth/v2/authorize",
                       "token_url": "https://slack.com/api/oauth.v2.access", "client_id": "1.2",
                       "client_secret": "secret:slack-app", "scopes": ["search:read", "channels:history"]}},
            // The hub's own token, from a client credentials grant.
            {"name": "jira", "builtin": "jira",
             "env": {"JIRA_BASE_URL": "https://api.atlassian.com/ex/jira/1234"},
             "oauth": {"token_url": "https://idp/token", "client_id": "hub", "client_secret": "secret:j",
                       "resource": "https://api.atlassian.com"}},
        ]);
        assert_eq!(problems_of(list.clone()), Vec::<Problem>::new());
        let parsed = servers(list);
        assert_eq!(parsed[0].transport(), TransportKind::StreamableHttp);
        assert_eq!(parsed[1].transport(), TransportKind::Stdio);
        assert_eq!(parsed[1].prefix(), "ev");
        let timeouts = parsed[2].timeouts(McpTimeouts::default());
        assert_eq!(timeouts.request, Duration::from_secs(5));
        assert_eq!(timeouts.connect, Duration::from_secs(10));
        assert_eq!(parsed[3].transport(), TransportKind::Openapi);
        // Implied by `openapi`, as stdio is by `command`.
        assert_eq!(parsed[4].transport(), TransportKind::Openapi);
        assert!(!parsed[5].acts_per_user());
        assert!(parsed[6].acts_per_user());
        assert_eq!(parsed[7].transport(), TransportKind::Builtin);
        assert!(parsed[8].acts_per_user());
        assert_eq!(parsed[8].transport(), TransportKind::Builtin);
        assert!(!parsed[10].acts_per_user());
        assert_eq!(
            parsed[9].oauth.as_ref().map(|o| o.dialect),
            Some(OAuthDialect::Slack)
        );
        assert_eq!(
            parsed[8].oauth.as_ref().map(|o| o.dialect),
            Some(OAuthDialect::Standard)
        );
        // The default grant is not written out, so stored registrations stay as they were.
        let written = serde_json::to_value(&parsed[5]).unwrap();
        assert_eq!(written["oauth"].get("grant"), None, "{written}");
    }

    /// Grants follow where calls go and who issues tokens, not names, scopes or timeouts.
    #[test]
    fn the_grant_audience_changes_with_the_destination_and_the_issuer() {
        let base = json!({"name": "s", "builtin": "sentry",
            "env": {"SENTRY_ORG": "acme", "SENTRY_BASE_URL": "https://sentry.io"},
            "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize",
                      "token_url": "https://idp/token", "client_id": "hub", "scopes": ["a"]}});
        let audience = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut server = base.clone();
            change(&mut server);
            serde_json::from_value::<McpServerConfig>(server)
                .unwrap()
                .grant_audience()
        };
        let same = audience(&|_| {});
        assert_eq!(same.len(), 32);
        for unchanged in [
            &(|s: &mut serde_json::Value| s["oauth"]["scopes"] = json!(["a", "b"]))
                as &dyn Fn(&mut serde_json::Value),
            &|s| s["prefix"] = json!("p"),
            &|s| s["env"]["SENTRY_ORG"] = json!("other"),
            &|s| s["oauth"]["authorization_url"] = json!("https://idp/v2/authorize"),
        ] {
            assert_eq!(audience(unchanged), same);
        }
        for changed in [
            &(|s: &mut serde_json::Value| s["builtin"] = json!("jira"))
                as &dyn Fn(&mut serde_json::Value),
            &|s| s["env"]["SENTRY_BASE_URL"] = json!("https://elsewhere.example"),
            &|s| s["oauth"]["token_url"] = json!("https://other-idp/token"),
            &|s| s["oauth"]["client_id"] = json!("other"),
            &|s| s["oauth"]["resource"] = json!("https://sentry.io"),
        ] {
            assert_ne!(audience(changed), same);
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        // (server, path, words in the message)
        let cases = [
            (
                json!({"name": "bad name", "url": "https://x/mcp"}),
                "mcp_servers[0].name",
                "not a valid server name",
            ),
            (
                json!({"name": "s", "builtin": "pagerduty"}),
                "mcp_servers[0].builtin",
                "not a built-in server; built in: jira, sentry, slack",
            ),
            (
                json!({"name": "s", "builtin": "sentry", "url": "https://x/mcp"}),
                "mcp_servers[0].url",
                "not for a built-in server",
            ),
            (
                json!({"name": "s", "builtin": "sentry", "command": "sentry-mcp"}),
                "mcp_servers[0].command",
                "not for a built-in server",
            ),
            (
                json!({"name": "s", "transport": "builtin"}),
                "mcp_servers[0].builtin",
                "is required for the builtin transport",
            ),
            (
                json!({"name": "s", "transport": "stdio", "command": "x", "builtin": "sentry"}),
                "mcp_servers[0].builtin",
                "only for the builtin transport",
            ),
            (
                json!({"name": "a"}),
                "mcp_servers[0].url",
                "required for the streamable_http",
            ),
            (
                json!({"name": "a", "transport": "stdio"}),
                "mcp_servers[0].command",
                "required",
            ),
            (
                json!({"name": "a", "url": "ftp://x"}),
                "mcp_servers[0].url",
                "https://",
            ),
            (
                json!({"name": "a", "url": "https://u:p@x/mcp"}),
                "mcp_servers[0].url",
                "without credentials",
            ),
            (
                json!({"name": "a", "url": "https://x", "command": "c", "transport": "streamable_http"}),
                "mcp_servers[0].command",
                "only for the stdio",
            ),
            (
                json!({"name": "a", "command": "c", "headers": {"x": "y"}}),
                "mcp_servers[0].headers",
                "only for the HTTP",
            ),
            (
                json!({"name": "a", "url": "https://x", "headers": {"bad header": "y"}}),
                "mcp_servers[0].headers",
                "not a header name",
            ),
            (
                json!({"name": "a", "url": "https://x", "headers": {"Authorization": "y"}, "bearer_token": "t"}),
                "mcp_servers[0].headers",
                "not both",
            ),
            (
                json!({"name": "a", "url": "https://x", "prefix": "a/b"}),
                "mcp_servers[0].prefix",
                "only letters",
            ),
            (
                json!({"name": "a", "command": "c", "oauth": {"token_url": "https://idp/token", "client_id": "x", "client_secret": "s"}}),
                "mcp_servers[0].oauth",
                "only for the streamable_http",
            ),
            (
                json!({"name": "a", "url": "https://x", "bearer_token": "t", "oauth": {"token_url": "https://idp/token", "client_id": "x", "client_secret": "s"}}),
                "mcp_servers[0].oauth",
                "not both",
            ),
            (
                json!({"name": "a", "url": "https://x", "oauth": {"token_url": "idp/token", "client_id": "", "client_secret": "s"}}),
                "mcp_servers[0].oauth.token_url",
                "https://",
            ),
            (
                json!({"name": "a", "url": "https://x", "oauth": {"token_url": "https://idp/token", "client_id": "", "client_secret": "s"}}),
                "mcp_servers[0].oauth.client_id",
                "empty",
            ),
            (
                json!({"name": "a", "url": "https://x", "oauth": {"token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].oauth.client_secret",
                "required for the client_credentials grant",
            ),
            (
                json!({"name": "a", "url": "https://x", "oauth": {"token_url": "https://idp/token", "client_id": "x", "client_secret": ""}}),
                "mcp_servers[0].oauth.client_secret",
                "empty",
            ),
            (
                json!({"name": "a", "url": "https://x", "oauth": {"token_url": "https://idp/token", "client_id": "x", "client_secret": "s", "authorization_url": "https://idp/authorize"}}),
                "mcp_servers[0].oauth.authorization_url",
                "only for the authorization_code grant",
            ),
            (
                json!({"name": "a", "url": "https://x", "oauth": {"grant": "authorization_code", "token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].oauth.authorization_url",
                "required for the authorization_code grant",
            ),
            (
                json!({"name": "a", "url": "https://x", "oauth": {"grant": "authorization_code", "authorization_url": "idp/authorize", "token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].oauth.authorization_url",
                "https://",
            ),
            (
                json!({"name": "a", "command": "c", "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize", "token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].oauth",
                "only for the streamable_http",
            ),
            (
                json!({"name": "a", "transport": "sse", "url": "https://x", "oauth": {"token_url": "https://idp/token", "client_id": "x", "client_secret": "s"}}),
                "mcp_servers[0].oauth",
                "only for the streamable_http and builtin transports",
            ),
            (
                json!({"name": "s", "builtin": "sentry", "env": {"SENTRY_ORG": "acme", "SENTRY_AUTH_TOKEN": "secret:t"},
                       "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize", "token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].env.SENTRY_AUTH_TOKEN",
                "not used with oauth: each call to sentry carries an OAuth token (the calling user's own)",
            ),
            (
                json!({"name": "s", "builtin": "slack", "env": {"SLACK_USER_TOKEN": "secret:t"},
                       "oauth": {"token_url": "https://idp/token", "client_id": "x", "client_secret": "s"}}),
                "mcp_servers[0].env.SLACK_USER_TOKEN",
                "(the hub's own)",
            ),
            (
                json!({"name": "s", "builtin": "jira", "env": {"JIRA_BASE_URL": "https://x", "JIRA_EMAIL": "a@b"},
                       "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize", "token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].env.JIRA_EMAIL",
                "not used with oauth",
            ),
            (
                json!({"name": "s", "builtin": "sentry", "env": {"SENTRY_ORG": "acme"},
                       "oauth": {"grant": "authorization_code", "token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].oauth.authorization_url",
                "required for the authorization_code grant",
            ),
            (
                json!({"name": "s", "builtin": "sentry", "env": {"SENTRY_ORG": "acme"},
                       "oauth": {"token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].oauth.client_secret",
                "required for the client_credentials grant",
            ),
            (
                json!({"name": "s", "builtin": "sentry", "env": {"SENTRY_ORG": "acme"},
                       "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize", "token_url": "https://idp/token", "client_id": "x", "resource": "sentry"}}),
                "mcp_servers[0].oauth.resource",
                "https://",
            ),
            (
                json!({"name": "s", "builtin": "slack",
                       "oauth": {"grant": "authorization_code", "authorization_url": "https://slack.com/oauth/v2/authorize",
                                 "token_url": "https://slack.com/api/oauth.v2.access", "client_id": "x", "scopes": ["search:read"]}}),
                "mcp_servers[0].oauth.dialect",
                "must be slack for Slack's token endpoint",
            ),
            (
                json!({"name": "s", "builtin": "sentry", "env": {"SENTRY_ORG": "acme"},
                       "oauth": {"grant": "authorization_code", "dialect": "slack", "authorization_url": "https://idp/authorize",
                                 "token_url": "https://idp/token", "client_id": "x", "scopes": ["a"]}}),
                "mcp_servers[0].oauth.dialect",
                "only for `builtin: slack`",
            ),
            (
                json!({"name": "s", "url": "https://x/mcp",
                       "oauth": {"grant": "authorization_code", "dialect": "slack", "authorization_url": "https://idp/authorize",
                                 "token_url": "https://idp/token", "client_id": "x", "scopes": ["a"]}}),
                "mcp_servers[0].oauth.dialect",
                "only for `builtin: slack`",
            ),
            (
                json!({"name": "s", "builtin": "slack",
                       "oauth": {"dialect": "slack", "token_url": "https://slack.com/api/oauth.v2.access",
                                 "client_id": "x", "client_secret": "s", "scopes": ["a"]}}),
                "mcp_servers[0].oauth.grant",
                "must be authorization_code with dialect slack",
            ),
            (
                json!({"name": "s", "builtin": "slack",
                       "oauth": {"grant": "authorization_code", "dialect": "slack", "authorization_url": "https://slack.com/oauth/v2/authorize",
                                 "token_url": "https://slack.com/api/oauth.v2.access", "client_id": "x"}}),
                "mcp_servers[0].oauth.scopes",
                "must name Slack user scopes",
            ),
            (
                json!({"name": "s", "builtin": "slack",
                       "oauth": {"grant": "authorization_code", "dialect": "slack", "authorization_url": "https://slack.com/oauth/v2/authorize",
                                 "token_url": "https://slack.com/api/oauth.v2.access", "client_id": "x", "scopes": ["a"],
                                 "resource": "https://slack.com"}}),
                "mcp_servers[0].oauth.resource",
                "not taken by Slack",
            ),
            (
                json!({"name": "s", "builtin": "sentry", "bearer_token": "t",
                       "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize", "token_url": "https://idp/token", "client_id": "x"}}),
                "mcp_servers[0].bearer_token",
                "not for a built-in server",
            ),
            (
                json!({"name": "a", "url": "https://x", "timeouts": {"request": "0s"}}),
                "mcp_servers[0].timeouts.request",
                "more than zero",
            ),
            (
                json!({"name": "a", "transport": "openapi", "url": "https://x"}),
                "mcp_servers[0].openapi",
                "required for the openapi transport",
            ),
            (
                json!({"name": "a", "transport": "openapi", "openapi": " "}),
                "mcp_servers[0].openapi",
                "must not be empty",
            ),
            (
                json!({"name": "a", "transport": "openapi", "openapi": "ftp://x/api.json"}),
                "mcp_servers[0].openapi",
                "a file path",
            ),
            (
                json!({"name": "a", "transport": "openapi", "openapi": "https://u:p@x/api.json"}),
                "mcp_servers[0].openapi",
                "without credentials",
            ),
            (
                json!({"name": "a", "openapi": "api.yaml", "url": "api.example.com/v1"}),
                "mcp_servers[0].url",
                "https://",
            ),
            (
                json!({"name": "a", "openapi": "api.yaml", "command": "c", "transport": "openapi"}),
                "mcp_servers[0].command",
                "only for the stdio",
            ),
            (
                json!({"name": "a", "openapi": "api.yaml", "env": {"A": "b"}}),
                "mcp_servers[0].env",
                "only for the stdio",
            ),
            (
                json!({"name": "a", "url": "https://x/mcp", "openapi": "api.yaml", "transport": "streamable_http"}),
                "mcp_servers[0].openapi",
                "only for the openapi transport",
            ),
            (
                json!({"name": "a", "command": "c", "openapi": "api.yaml"}),
                "mcp_servers[0].openapi",
                "only for the openapi transport",
            ),
        ];
        for (server, path, words) in cases {
            let problems = problems_of(json!([server]));
            assert!(
                problems.iter().any(|(p, m)| p == path && m.contains(words)),
                "{server}: expected {path} ({words}), got {problems:?}"
            );
        }
    }

    #[test]
    fn names_and_prefixes_are_unique() {
        let problems = problems_of(json!([
            {"name": "a", "url": "https://x/mcp"},
            {"name": "a", "url": "https://y/mcp"},
            {"name": "b", "url": "https://z/mcp", "prefix": "a"},
        ]));
        assert_eq!(
            problems.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            ["mcp_servers[1].name", "mcp_servers[2].prefix"]
        );
    }

    #[tokio::test]
    async fn loopback_destinations_are_refused() {
        let error = check_destination("http://localhost:9/mcp")
            .await
            .unwrap_err();
        assert!(error.contains("allow_private_networks"), "{error}");
        let error = check_destination("http://[::1]:9/mcp").await.unwrap_err();
        assert!(error.contains("non-public"), "{error}");
    }

    #[test]
    fn settings_are_checked() {
        let settings: McpSettings = serde_json::from_value(json!({
            "separator": "::",
            "allowed_hosts": ["hub.example.com:8443", "bad/host"],
            "allowed_origins": ["https://app.example.com", "app.example.com"],
        }))
        .unwrap();
        let paths: Vec<String> = check(&settings, &[]).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "mcp.separator",
                "mcp.allowed_hosts[1]",
                "mcp.allowed_origins[1]"
            ]
        );
        assert!(serde_json::from_value::<McpSettings>(json!({"separatr": "__"})).is_err());
        assert!(
            serde_json::from_value::<McpServerConfig>(json!({"name": "a", "urll": "x"})).is_err()
        );
        let unknown_grant = json!({"name": "a", "url": "https://x",
            "oauth": {"grant": "implicit", "token_url": "https://idp/token", "client_id": "x"}});
        assert!(serde_json::from_value::<McpServerConfig>(unknown_grant).is_err());
        let unknown_oauth_key = json!({"name": "s", "builtin": "sentry",
            "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize",
                      "token_url": "https://idp/token", "client_id": "x", "audience": "api"}});
        assert!(serde_json::from_value::<McpServerConfig>(unknown_oauth_key).is_err());
        let unknown_dialect = json!({"name": "s", "builtin": "slack",
            "oauth": {"grant": "authorization_code", "authorization_url": "https://idp/authorize",
                      "token_url": "https://idp/token", "client_id": "x", "dialect": "github"}});
        assert!(serde_json::from_value::<McpServerConfig>(unknown_dialect).is_err());
    }
}
