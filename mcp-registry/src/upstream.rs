//! The hub as an MCP client of one upstream server: connecting over streamable HTTP (the
//! protocol era detected per server: 2026-07-28 stateless first, then 2025-11-25 sessions),
//! over the legacy HTTP+SSE transport (`sse_client`, an `initialize` session), by starting a
//! local process (stdio), or to the hub's own server of an OpenAPI document (`openapi`, over
//! an in-memory pipe), reading its catalog (tools, resources, resource templates, prompts,
//! every page), hearing its `list_changed` notifications, and routing the progress of the
//! requests that follow it (`progress`).
//!
//! Credentials are the server's, from the configuration or the hub's secret store, or — for a
//! server that acts for each user — the user's own OAuth tokens; never the caller's hub
//! credentials.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProgressToken, Prompt, ProtocolVersion,
    Resource, ResourceTemplate, ServerNotification, SubscriptionFilter, Tool,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, NotificationContext, Peer, RoleClient, RunningService,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{IntoTransport, StreamableHttpClientTransport, TokioChildProcess, Transport};
use rmcp::{ClientHandler, ServiceError};
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;

use crate::config::{
    McpLimits, McpServerConfig, McpTimeouts, OAuthClientConfig, OAuthGrant, TransportKind,
};
use crate::hops::ViaHttpClient;
use crate::oauth::{AccessTokens, OAuthClient, OAuthHttpClient, TokenSource};
use crate::progress::{Feed, Routed, Routes};
use crate::sse_client::SseTransport;

/// Reads the hub's secret store at connection time.
pub trait Secrets: Send + Sync {
    /// The value of the secret `name`, or `None` if there is no such secret.
    fn reveal(&self, name: &str) -> Option<String>;
}

/// Why an upstream server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The server's settings cannot be applied (a missing secret, a bad header value).
    #[error("{0}")]
    Setup(String),
    /// The server could not be reached, started, or did not complete the handshake.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server did not answer in time.
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The server answered a request with an error, or broke the protocol.
    #[error("{0}")]
    Protocol(String),
    /// The server acts for each user, and this one has no usable grant: they must consent
    /// (again).
    #[error("no OAuth grant of this user: they must grant the hub access first")]
    NeedsConsent,
}

impl From<ServiceError> for UpstreamError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Timeout { timeout } => Self::Timeout(timeout),
            ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
                Self::Connect(error.to_string())
            }
            other => Self::Protocol(other.to_string()),
        }
    }
}

/// Everything a server offers, as it listed it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    pub server: Option<Implementation>,
    /// The server is an agenthub, of this id (see [`crate::hops`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_id: Option<String>,
    pub instructions: Option<String>,
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub resource_templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
}

/// Which of a server's lists changed since they were last read; set by its notifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changed {
    pub tools: bool,
    pub resources: bool,
    pub prompts: bool,
}

/// Hears the server's notifications.
struct Listener {
    changed: Arc<watch::Sender<Changed>>,
}

impl ClientHandler for Listener {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        // The version an `initialize` handshake offers; the server answers with its own.
        info.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
        info.capabilities = ClientCapabilities::default();
        info.client_info = Implementation::new("agenthub", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.changed.send_modify(|c| c.tools = true);
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.changed.send_modify(|c| c.resources = true);
    }

    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.changed.send_modify(|c| c.prompts = true);
    }
}

/// A 2026-07-28 server tells of list changes only on a `subscriptions/listen` stream the client
/// opens (a 2025-11-25 one sends them unasked, to the `Listener`): open one for the lists the
/// server says change, for as long as the connection lasts.
fn listen_for_changes(server: &str, peer: &Peer<RoleClient>, changed: Arc<watch::Sender<Changed>>) {
    let Some(info) = peer.peer_info() else {
        return;
    };
    if info.protocol_version.to_string().as_str() < "2026-07-28" {
        return;
    }
    let capabilities = &info.capabilities;
    let announces = |list: Option<bool>| list == Some(true);
    let tools = announces(capabilities.tools.as_ref().and_then(|c| c.list_changed));
    let prompts = announces(capabilities.prompts.as_ref().and_then(|c| c.list_changed));
    let resources = announces(capabilities.resources.as_ref().and_then(|c| c.list_changed));
    if !(tools || prompts || resources) {
        return;
    }
    let mut filter = SubscriptionFilter::builder();
    if tools {
        filter = filter.tools_list_changed();
    }
    if prompts {
        filter = filter.prompts_list_changed();
    }
    if resources {
        filter = filter.resources_list_changed();
    }
    let filter = filter.build();
    let peer = peer.clone();
    let server = server.to_owned();
    tokio::spawn(async move {
        let mut subscription = match peer.listen(filter).await {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::warn!(server = %server, error = %error, "MCP server refused subscriptions/listen; its list changes are seen on refresh");
                return;
            }
        };
        // Ends with the connection: the stream closes with its transport.
        while let Ok(Some(notification)) = subscription.next().await {
            match notification {
                ServerNotification::ToolListChangedNotification(_) => {
                    changed.send_modify(|c| c.tools = true);
                }
                ServerNotification::PromptListChangedNotification(_) => {
                    changed.send_modify(|c| c.prompts = true);
                }
                ServerNotification::ResourceListChangedNotification(_) => {
                    changed.send_modify(|c| c.resources = true);
                }
                _ => {}
            }
        }
    });
}

/// A live connection to one server.
pub struct Connection {
    name: String,
    service: RunningService<RoleClient, Listener>,
    changed: watch::Receiver<Changed>,
    timeouts: McpTimeouts,
    progress: Arc<Routes>,
    /// Streamable HTTP: a forwarded request's hop chain goes with it (see [`crate::hops`]).
    carries_hops: bool,
}

/// The servers bundled with the hub, which it runs inside itself (`builtin:`): given a
/// server's name, its settings (its `env`, secrets resolved) and — for a server with `oauth` —
/// where its calls' bearer tokens come from (one user's, for a server that acts for each
/// user, in place of the credential settings), one end of a pipe to a new session of it, or
/// why it cannot start.
pub trait Builtins: Send + Sync {
    fn start(
        &self,
        name: &str,
        settings: BTreeMap<String, String>,
        tokens: Option<Arc<dyn AccessTokens>>,
    ) -> Result<tokio::io::DuplexStream, String>;
}

impl std::fmt::Debug for dyn Builtins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Builtins")
    }
}

/// How the hub connects to every upstream, from the `mcp` settings.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Defaults a registration's own `timeouts` override.
    pub timeouts: McpTimeouts,
    pub limits: McpLimits,
    /// This hub's id, sent in the hop header over HTTP (see [`crate::hops`]); none: no header.
    pub hub_id: Option<Arc<str>>,
    /// The bundled servers (`builtin:`); none: a builtin server cannot start.
    pub builtins: Option<Arc<dyn Builtins>>,
}

impl Connection {
    /// Connects to `server` (starting its process, for stdio) within the connect timeout,
    /// with the default limits.
    pub async fn open(
        server: &McpServerConfig,
        defaults: McpTimeouts,
        secrets: &dyn Secrets,
    ) -> Result<Self, UpstreamError> {
        let options = ConnectOptions {
            timeouts: defaults,
            ..ConnectOptions::default()
        };
        Self::open_with(server, &options, secrets).await
    }

    /// Connects to `server` within the connect timeout, bounded by `options`.
    pub async fn open_with(
        server: &McpServerConfig,
        options: &ConnectOptions,
        secrets: &dyn Secrets,
    ) -> Result<Self, UpstreamError> {
        Self::open_as(server, options, secrets, None).await
    }

    /// Connects to a server that acts for each user, with one user's tokens.
    pub async fn open_for_user(
        server: &McpServerConfig,
        options: &ConnectOptions,
        secrets: &dyn Secrets,
        tokens: Arc<dyn AccessTokens>,
    ) -> Result<Self, UpstreamError> {
        Self::open_as(server, options, secrets, Some(tokens)).await
    }

    async fn open_as(
        server: &McpServerConfig,
        options: &ConnectOptions,
        secrets: &dyn Secrets,
        user: Option<Arc<dyn AccessTokens>>,
    ) -> Result<Self, UpstreamError> {
        let timeouts = server.timeouts(options.timeouts);
        let (changed_tx, changed) = watch::channel(Changed::default());
        let changed_tx = Arc::new(changed_tx);
        let listener = Listener {
            changed: changed_tx.clone(),
        };
        let lifecycle = ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::LATEST],
            legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
        };
        let progress = Arc::new(Routes::default());
        let connecting = async {
            match server.transport() {
                TransportKind::StreamableHttp => {
                    match http_transport(server, timeouts, options, secrets, user)? {
                        HttpTransport::Plain(transport) => listener
                            .serve_with_lifecycle(routed(transport, progress.clone()), lifecycle)
                            .await
                            .map_err(|e| UpstreamError::Connect(e.to_string())),
                        HttpTransport::OAuth(transport) => listener
                            .serve_with_lifecycle(routed(transport, progress.clone()), lifecycle)
                            .await
                            .map_err(|e| UpstreamError::Connect(e.to_string())),
                    }
                }
                TransportKind::Stdio => {
                    let transport = routed(spawn(server, secrets)?, progress.clone());
                    listener
                        .serve_with_lifecycle(transport, lifecycle)
                        .await
                        .map_err(|e| UpstreamError::Connect(e.to_string()))
                }
                TransportKind::Sse => {
                    let transport = routed(
                        sse_transport(server, timeouts, secrets).await?,
                        progress.clone(),
                    );
                    // Servers of this transport predate `server/discover`.
                    listener
                        .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
                        .await
                        .map_err(|e| UpstreamError::Connect(e.to_string()))
                }
                TransportKind::Builtin => {
                    let name = server.builtin.as_deref().unwrap_or_default();
                    let builtins = options.builtins.as_ref().ok_or_else(|| {
                        UpstreamError::Setup("this hub has no built-in servers".to_owned())
                    })?;
                    let mut settings = BTreeMap::new();
                    for (key, value) in &server.env {
                        settings.insert(key.clone(), resolve(value, secrets)?);
                    }
                    let tokens = server
                        .oauth
                        .as_ref()
                        .map(|oauth| access_tokens(server, oauth, secrets, timeouts, user))
                        .transpose()?;
                    let transport = builtins
                        .start(name, settings, tokens)
                        .map_err(|e| UpstreamError::Setup(format!("built-in {name}: {e}")))?;
                    // In process, like openapi: `initialize` will do.
                    listener
                        .serve_with_lifecycle(
                            routed(transport, progress.clone()),
                            ClientLifecycleMode::Initialize,
                        )
                        .await
                        .map_err(|e| UpstreamError::Connect(e.to_string()))
                }
                TransportKind::Openapi => {
                    let transport = crate::openapi::connect(
                        server,
                        timeouts,
                        http_client(timeouts)?,
                        credentials(server, secrets)?,
                    )
                    .await?;
                    let transport = routed(transport, progress.clone());
                    // Our own server, in process: no era to detect, `initialize` will do.
                    listener
                        .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
                        .await
                        .map_err(|e| UpstreamError::Connect(e.to_string()))
                }
            }
        };
        let service = tokio::time::timeout(timeouts.connect, connecting)
            .await
            .map_err(|_| UpstreamError::Timeout(timeouts.connect))??;
        listen_for_changes(&server.name, service.peer(), changed_tx);
        Ok(Self {
            name: server.name.clone(),
            service,
            changed,
            timeouts,
            progress,
            carries_hops: server.transport() == TransportKind::StreamableHttp,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a forwarded request's hop chain reaches this server (streamable HTTP only).
    pub fn carries_hops(&self) -> bool {
        self.carries_hops
    }

    /// The id of the agenthub this server is, if it is one: what its initialize or discover
    /// result's `_meta` said (see [`crate::hops`]).
    pub fn hub_id(&self) -> Option<String> {
        let info = self.service.peer_info()?;
        let id = info
            .meta
            .as_ref()?
            .0
            .get(crate::hops::HUB_ID_META)?
            .as_str()?;
        crate::hops::check_id(id).ok()?;
        Some(id.to_owned())
    }

    /// Reads every list the server has, following pagination.
    pub async fn catalog(&self) -> Result<Catalog, UpstreamError> {
        let peer = self.service.peer();
        let info = self.service.peer_info();
        let capabilities = info.as_ref().map(|i| i.capabilities.clone());
        let has = |pick: fn(&rmcp::model::ServerCapabilities) -> bool| {
            capabilities.as_ref().is_none_or(pick)
        };
        let mut catalog = Catalog {
            server: info.as_ref().and_then(|i| i.server_info.clone()),
            instructions: info.as_ref().and_then(|i| i.instructions.clone()),
            hub_id: self.hub_id(),
            ..Catalog::default()
        };
        if has(|c| c.tools.is_some()) {
            catalog.tools = self.bounded(peer.list_all_tools()).await?;
        }
        if has(|c| c.resources.is_some()) {
            catalog.resources = self.bounded(peer.list_all_resources()).await?;
            catalog.resource_templates = self.bounded(peer.list_all_resource_templates()).await?;
        }
        if has(|c| c.prompts.is_some()) {
            catalog.prompts = self.bounded(peer.list_all_prompts()).await?;
        }
        Ok(catalog)
    }

    /// A receiver of the server's change notices, for waiting on them alongside other things.
    pub fn subscribe(&self) -> watch::Receiver<Changed> {
        self.changed.clone()
    }

    /// Whether the connection has ended (the process exited, the server went away).
    pub fn is_closed(&self) -> bool {
        // The service loop ends when its transport closes, and drops the peer's channel.
        self.service.is_closed() || self.service.peer().is_transport_closed()
    }

    /// Asks the server for its first tools page within the request timeout: a request every
    /// server answers in both eras (2026-07-28 has no `ping`).
    pub async fn check(&self) -> Result<(), UpstreamError> {
        let listing = self
            .service
            .peer()
            .list_tools(Some(rmcp::model::PaginatedRequestParams::default()));
        match tokio::time::timeout(self.timeouts.request, listing).await {
            Err(_) => Err(UpstreamError::Timeout(self.timeouts.request)),
            Ok(Err(e)) => Err(UpstreamError::from(e)),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// The underlying client, for calls.
    pub fn peer(&self) -> &rmcp::service::Peer<RoleClient> {
        self.service.peer()
    }

    /// Routes the server's progress notifications for `token` (a request's, as rmcp gave it)
    /// to the returned feed until it is dropped.
    pub fn follow_progress(&self, token: ProgressToken) -> Feed {
        self.progress.follow(token)
    }

    pub fn request_timeout(&self) -> Duration {
        self.timeouts.request
    }

    /// Ends the session (and stops the process, for stdio).
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }

    async fn bounded<T>(
        &self,
        request: impl Future<Output = Result<T, ServiceError>>,
    ) -> Result<T, UpstreamError> {
        let limit = self.timeouts.request;
        tokio::time::timeout(limit, request)
            .await
            .map_err(|_| UpstreamError::Timeout(limit))?
            .map_err(UpstreamError::from)
    }
}

/// `transport` with the progress notifications of followed requests taken off it.
fn routed<E, A>(
    transport: impl IntoTransport<RoleClient, E, A>,
    routes: Arc<Routes>,
) -> Routed<impl Transport<RoleClient, Error = E>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    Routed::new(transport.into_transport(), routes)
}

/// A configured value: `secret:NAME` is read from the secret store, anything else is literal.
fn resolve(value: &str, secrets: &dyn Secrets) -> Result<String, UpstreamError> {
    match value.strip_prefix("secret:") {
        Some(name) => secrets
            .reveal(name)
            .ok_or_else(|| UpstreamError::Setup(format!("the secret {name} does not exist"))),
        None => Ok(value.to_owned()),
    }
}

fn http_transport(
    server: &McpServerConfig,
    timeouts: McpTimeouts,
    options: &ConnectOptions,
    secrets: &dyn Secrets,
    user: Option<Arc<dyn AccessTokens>>,
) -> Result<HttpTransport, UpstreamError> {
    let url = server
        .url
        .as_deref()
        .ok_or_else(|| UpstreamError::Setup("no url".to_owned()))?;
    let limits = options.limits;
    let mut headers = custom_headers(server, secrets)?;
    // What the hub asks itself goes with its own id; a forwarded request's chain replaces it.
    if let Some(id) = &options.hub_id {
        let value = http::HeaderValue::try_from(id.as_ref())
            .map_err(|_| UpstreamError::Setup(format!("the hub id {id:?} is not valid")))?;
        headers.insert(crate::hops::HEADER, value);
    }
    // rmcp's default (16 at once) would queue a busy server's calls behind each other.
    let mut config = StreamableHttpClientTransportConfig::with_uri(url)
        .custom_headers(headers)
        .max_concurrent_requests(limits.max_concurrent_requests)
        .max_json_response_size(limits.max_result_bytes)
        .max_sse_event_size(limits.max_result_bytes);
    if let Some(oauth) = &server.oauth {
        let tokens = access_tokens(server, oauth, secrets, timeouts, user)?;
        let client = ViaHttpClient::new(OAuthHttpClient::new(http_client(timeouts)?, tokens));
        return Ok(HttpTransport::OAuth(
            StreamableHttpClientTransport::with_client(client, config),
        ));
    }
    if let Some(token) = &server.bearer_token {
        config = config.auth_header(resolve(token, secrets)?);
    }
    Ok(HttpTransport::Plain(
        StreamableHttpClientTransport::with_client(
            ViaHttpClient::new(http_client(timeouts)?),
            config,
        ),
    ))
}

/// Where a connection's OAuth tokens come from: the user's it is opened for (the
/// authorization code grant), or the hub's own (client credentials).
fn access_tokens(
    server: &McpServerConfig,
    oauth: &OAuthClientConfig,
    secrets: &dyn Secrets,
    timeouts: McpTimeouts,
    user: Option<Arc<dyn AccessTokens>>,
) -> Result<Arc<dyn AccessTokens>, UpstreamError> {
    match (oauth.grant, user) {
        (OAuthGrant::AuthorizationCode, Some(user)) => Ok(user),
        (OAuthGrant::AuthorizationCode, None) => Err(UpstreamError::Setup(
            "it acts for each user with their own OAuth grant: it is connected per user".to_owned(),
        )),
        (OAuthGrant::ClientCredentials, _) => Ok(Arc::new(TokenSource::new(oauth_client(
            server, oauth, secrets, timeouts,
        )?))),
    }
}

/// The OAuth client of `server`'s registration, its secret resolved; its URL (if it has one)
/// is the default resource indicator, and users' grants are bound to its audience.
pub fn oauth_client(
    server: &McpServerConfig,
    oauth: &OAuthClientConfig,
    secrets: &dyn Secrets,
    timeouts: McpTimeouts,
) -> Result<OAuthClient, UpstreamError> {
    let secret = oauth
        .client_secret
        .as_deref()
        .map(|s| resolve(s, secrets))
        .transpose()?;
    Ok(
        OAuthClient::new(oauth, secret, server.url.as_deref(), http_client(timeouts)?)
            .with_audience(server.grant_audience()),
    )
}

/// A streamable HTTP transport with static credentials, or with OAuth tokens.
enum HttpTransport {
    Plain(StreamableHttpClientTransport<ViaHttpClient<reqwest::Client>>),
    OAuth(StreamableHttpClientTransport<ViaHttpClient<OAuthHttpClient>>),
}

async fn sse_transport(
    server: &McpServerConfig,
    timeouts: McpTimeouts,
    secrets: &dyn Secrets,
) -> Result<SseTransport, UpstreamError> {
    let url = server
        .url
        .as_deref()
        .ok_or_else(|| UpstreamError::Setup("no url".to_owned()))?;
    let headers = credentials(server, secrets)?;
    SseTransport::connect(http_client(timeouts)?, url, headers, timeouts.request).await
}

/// The registration's `headers` and `bearer_token`, secrets resolved, kept out of logs.
fn credentials(
    server: &McpServerConfig,
    secrets: &dyn Secrets,
) -> Result<http::HeaderMap, UpstreamError> {
    let mut headers: http::HeaderMap = custom_headers(server, secrets)?.into_iter().collect();
    if let Some(token) = &server.bearer_token {
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", resolve(token, secrets)?))
            .map_err(|_| {
                UpstreamError::Setup("the bearer token is not a valid header value".to_owned())
            })?;
        value.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// The registration's `headers`, secrets resolved, kept out of logs.
fn custom_headers(
    server: &McpServerConfig,
    secrets: &dyn Secrets,
) -> Result<HashMap<http::HeaderName, http::HeaderValue>, UpstreamError> {
    let mut headers = HashMap::new();
    for (name, value) in &server.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| UpstreamError::Setup(format!("\"{name}\" is not a header name")))?;
        let mut value = http::HeaderValue::try_from(resolve(value, secrets)?).map_err(|_| {
            UpstreamError::Setup(format!("the value of header {name} is not valid"))
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The client of the HTTP transports, of OpenAPI documents' APIs and of token endpoints.
pub fn http_client(timeouts: McpTimeouts) -> Result<reqwest::Client, UpstreamError> {
    // The binary installs ring first thing; a hub embedded as a library may not have.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        // An answer must not send the hub's credentials somewhere else.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeouts.connect)
        .user_agent(concat!("agenthub/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| UpstreamError::Setup(format!("cannot build the HTTP client: {e}")))
}

/// The environment a server process starts with, besides its own `env`: enough to find
/// programs and run them, nothing of the hub's secrets.
const INHERITED_ENV: [&str; 6] = ["PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT", "USER"];

fn spawn(
    server: &McpServerConfig,
    secrets: &dyn Secrets,
) -> Result<TokioChildProcess, UpstreamError> {
    let program = server
        .command
        .as_deref()
        .ok_or_else(|| UpstreamError::Setup("no command".to_owned()))?;
    let mut command = tokio::process::Command::new(program);
    command.args(&server.args).env_clear().kill_on_drop(true);
    for name in INHERITED_ENV {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    for (name, value) in &server.env {
        command.env(name, resolve(value, secrets)?);
    }
    if let Some(cwd) = &server.cwd {
        command.current_dir(cwd);
    }
    let (transport, stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| UpstreamError::Connect(format!("cannot start {program}: {e}")))?;
    if let Some(stderr) = stderr {
        let name: Arc<str> = server.name.as_str().into();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(server = %name, "{line}");
            }
        });
    }
    Ok(transport)
}
