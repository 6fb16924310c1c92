//! The MCP plane's HTTP face: `/mcp`, one MCP server (streamable HTTP, both protocol eras)
//! over every upstream registered in `mcp_servers`, over the `agenthub-mcp-registry` crate, and
//! `/mcp/<name>`, each virtual server of `mcp_virtual_servers` (`virtual_servers`).
//! This module does what is the hub's: the caller's identity (authenticated before the MCP
//! service sees the request, with its `x-agenthub-metadata`), `mcp:<server>/<tool>`
//! authorization, the governance of each tool call (`calls`: rate limits, budgets,
//! guardrails) and its usage record (`usage`), the secret store, users' grants to servers
//! that act for each user and their consent (`grants`, `consent`), and the `Host` and
//! `Origin` checks from the `mcp` settings. The A2A agents are tools of the face too: extra
//! tools of the gate, answered by `crate::a2a::tools`.

mod builtins;
mod calls;
mod catalogs;
mod consent;
pub(crate) mod grants;
mod jsonrpc;
mod protected;
mod usage;
mod virtual_servers;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::telemetry::audit::AuditEntry;
use crate::telemetry::bodies::RawBodies;
use crate::telemetry::event::GuardrailVerdict;
use crate::telemetry::trace::TraceContext;
use agenthub_mcp_registry::calls::{CallFailure, CallReport, Outcome, Refusal, ToolCall};
use agenthub_mcp_registry::config::{McpServerConfig, McpSettings};
use agenthub_mcp_registry::extra::{ExtraTool, ExtraTools};
use agenthub_mcp_registry::face::{Face, Gate};
use agenthub_mcp_registry::registry::Registry;
use agenthub_mcp_registry::virtual_servers::VirtualServers;
use agenthub_policy::authz::{Action, Request as AuthzRequest, Resource, Subjects};
use axum::Router;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use rmcp::model::{CallToolResult, JsonObject, RequestMetaObject};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::a2a::tools::{self as agent_tools, AgentTools, ToolCaller};
use crate::app::AppState;
use crate::auth::Caller;
use crate::config::HubConfig;
use crate::directory::Accounts;
use crate::governance::{Governance, request_metadata};
use crate::ops::Metrics;
pub use catalogs::KeptCatalog;
use catalogs::KeptCatalogs;
pub use consent::link as consent_link;
use usage::McpMetrics;

/// The registered upstream servers, kept connected, and the virtual servers over them.
pub struct McpPlane {
    registry: Registry,
    /// The last catalog of each server, also while it is down.
    catalogs: Arc<KeptCatalogs>,
    virtual_servers: VirtualServers,
    metrics: Arc<McpMetrics>,
    /// Applies registration and definition changes (configuration file or admin API) as they
    /// are installed.
    follower: JoinHandle<()>,
}

impl McpPlane {
    /// Starts supervising every registered server, and follows the registrations: servers
    /// added, changed or removed are connected, reconnected or stopped at once. Connections
    /// open in the background: the hub serves while they come up. Virtual servers are
    /// followed the same way.
    pub fn new(
        accounts: Arc<Accounts>,
        config: &HubConfig,
        governance: &Governance,
        metrics: &mut Metrics,
    ) -> Self {
        let catalogs = Arc::new(KeptCatalogs::new(accounts.store().clone()));
        let grants = Arc::new(grants::StoreGrants::new(accounts.clone()));
        let mut settings = config.mcp.clone();
        settings
            .hub_id
            .get_or_insert_with(|| accounts.hub_id().to_owned());
        let registry = Registry::new(settings, Arc::new(crate::directory::StoreSecrets(accounts)));
        tracing::info!(hub_id = %registry.hub_id(), "MCP hub id (x-agenthub-via)");
        registry.set_grants(grants);
        registry.set_builtins(Arc::new(builtins::Bundled));
        registry.set_sink(catalogs.clone());
        let virtual_servers = VirtualServers::default();
        let mut registrations = governance.mcp_servers();
        let mut definitions = governance.mcp_virtual_servers();
        reconcile(&registry, &catalogs, &registrations.borrow_and_update());
        tokio::spawn({
            let catalogs = catalogs.clone();
            let registered: Vec<String> = registry.servers().into_iter().map(|s| s.name).collect();
            async move { catalogs.load(&registered).await }
        });
        virtual_servers.set(&definitions.borrow_and_update());
        let follower = tokio::spawn({
            let registry = registry.clone();
            let catalogs = catalogs.clone();
            let virtual_servers = virtual_servers.clone();
            async move {
                loop {
                    tokio::select! {
                        changed = registrations.changed() => {
                            if changed.is_err() {
                                break;
                            }
                            let servers = registrations.borrow_and_update().clone();
                            reconcile(&registry, &catalogs, &servers);
                        }
                        changed = definitions.changed() => {
                            if changed.is_err() {
                                break;
                            }
                            let defined = definitions.borrow_and_update().clone();
                            virtual_servers.set(&defined);
                        }
                    }
                }
            }
        });
        Self {
            registry,
            catalogs,
            virtual_servers,
            metrics: Arc::new(McpMetrics::new(metrics)),
            follower,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The last catalog read from `server`, also while it is not connected.
    pub fn last_catalog(&self, server: &str) -> Option<KeptCatalog> {
        self.catalogs.last(server)
    }

    /// The virtual servers in force.
    pub fn virtual_servers(&self) -> &VirtualServers {
        &self.virtual_servers
    }

    /// Applies the registrations and virtual servers in force now, without waiting for the
    /// follower: after an admin API write, so that its answer and the next read agree.
    pub fn catch_up(&self, governance: &Governance) {
        let servers = governance.mcp_servers().borrow().clone();
        reconcile(&self.registry, &self.catalogs, &servers);
        let defined = governance.mcp_virtual_servers().borrow().clone();
        self.virtual_servers.set(&defined);
    }

    /// Stops following registrations and closes every upstream connection.
    pub fn shutdown(&self) {
        self.follower.abort();
        self.registry.shutdown();
    }
}

/// Makes the registry supervise exactly `servers`: new ones are added, changed ones replaced
/// (reconnected), the others removed; unchanged ones keep their connection.
fn reconcile(registry: &Registry, catalogs: &KeptCatalogs, servers: &[McpServerConfig]) {
    let running = registry.servers();
    for old in &running {
        if !servers.iter().any(|s| s.name == old.name) {
            tracing::info!(server = %old.name, "MCP server unregistered");
            registry.remove(&old.name);
            catalogs.forget(&old.name);
        }
    }
    for server in servers {
        if running.iter().any(|old| old == server) {
            continue;
        }
        tracing::info!(server = %server.name, "MCP server registered");
        registry.add(server.clone());
    }
}

/// A caller of `/mcp`, with the subjects its grants are looked up by (computed once per
/// request, not per tool) and its `x-agenthub-metadata`.
struct McpCaller {
    caller: Caller,
    subjects: Subjects,
    metadata: Option<Arc<BTreeMap<String, String>>>,
    /// The request's `Host`, where an agent's tool call says the hub is reached (push
    /// notifications) when `auth.public_url` does not.
    host: Option<http::HeaderValue>,
    /// The HTTP request's `x-request-id` and `traceparent`, for the calls' records.
    request_id: Option<http::HeaderValue>,
    traceparent: Option<http::HeaderValue>,
    /// What the guardrails did to this call, for its record (a caller is made per call).
    verdicts: std::sync::Mutex<Vec<GuardrailVerdict>>,
    /// The call's span (see [`McpCaller::span`]): made once, so that an agent tool's hop is
    /// its child.
    span: std::sync::OnceLock<TraceContext>,
}

static NO_METADATA: BTreeMap<String, String> = BTreeMap::new();

impl McpCaller {
    fn metadata(&self) -> &BTreeMap<String, String> {
        self.metadata.as_deref().unwrap_or(&NO_METADATA)
    }

    /// The call's span, made at first use: in the trace of the call's `_meta.traceparent`,
    /// else of its HTTP request's, else a new one.
    fn span(&self, call_traceparent: Option<&str>) -> &TraceContext {
        self.span.get_or_init(|| {
            let http = self.traceparent.as_ref().and_then(|v| v.to_str().ok());
            TraceContext::continue_from(call_traceparent.or(http))
        })
    }

    fn verdicts(&self) -> std::sync::MutexGuard<'_, Vec<GuardrailVerdict>> {
        self.verdicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The metadata of a request to `/mcp`, parsed (and checked) when it was authenticated.
#[derive(Clone)]
struct RequestMetadata(Arc<BTreeMap<String, String>>);

/// Decides with the hub's authorizer — `list` to see a tool, `call` to call it, on
/// `mcp:<server>/<tool>`; prompts and resources (by their names) alike — and governs and
/// records each call. The agents' tools are its extra tools: also `send` on `agent:<name>`,
/// answered by an A2A exchange.
struct HubGate {
    governance: Arc<Governance>,
    metrics: Arc<McpMetrics>,
    /// Where consent links are kept, and the public URL they are made on.
    accounts: Arc<Accounts>,
    config: crate::config::ConfigHandle,
    /// What agents' tool calls are exchanged with.
    state: AppState,
    agents: AgentTools,
}

impl HubGate {
    fn allows(caller: &McpCaller, server: &str, tool: &str, action: Action) -> bool {
        let name = format!("{server}/{tool}");
        caller.caller.authorizer.allows(
            &caller.subjects,
            &AuthzRequest {
                resource: Resource::tool(&name),
                action,
                team: caller.caller.identity.key_team.as_deref(),
            },
        )
    }
}

impl Gate for HubGate {
    type Caller = McpCaller;
    type Ticket = calls::Ticket;

    fn caller(&self, request: &http::request::Parts) -> Option<McpCaller> {
        let caller = request.extensions.get::<Caller>()?.clone();
        let subjects = Subjects::of(&caller.identity);
        let metadata = request
            .extensions
            .get::<RequestMetadata>()
            .map(|m| m.0.clone());
        Some(McpCaller {
            caller,
            subjects,
            metadata,
            host: request.headers.get(http::header::HOST).cloned(),
            request_id: request.headers.get(crate::app::REQUEST_ID).cloned(),
            traceparent: request.headers.get("traceparent").cloned(),
            verdicts: std::sync::Mutex::default(),
            span: std::sync::OnceLock::new(),
        })
    }

    fn may_list_tool(&self, caller: &McpCaller, server: &str, tool: &str) -> bool {
        Self::allows(caller, server, tool, Action::List)
    }

    fn may_call_tool(&self, caller: &McpCaller, server: &str, tool: &str) -> bool {
        Self::allows(caller, server, tool, Action::Call)
    }

    fn principal<'a>(&self, caller: &'a McpCaller) -> Option<&'a str> {
        caller.caller.identity.principal_id.as_deref()
    }

    async fn consent_link(&self, caller: &McpCaller, server: &str) -> Result<String, String> {
        let principal = self
            .principal(caller)
            .ok_or_else(|| "these credentials are not a hub user's".to_owned())?;
        consent::link(&self.accounts, &self.config.snapshot(), server, principal)
            .await
            .map(|(url, _)| url)
            .map_err(|e| e.message().to_owned())
    }

    async fn before_call(
        &self,
        caller: &McpCaller,
        call: ToolCall<'_>,
        arguments: &mut JsonObject,
    ) -> Result<calls::Ticket, Refusal> {
        let mut verdicts = Vec::new();
        let admitted = calls::admit(
            &self.governance,
            &caller.caller,
            caller.metadata(),
            call,
            arguments,
            &mut verdicts,
        )
        .await;
        caller.verdicts().append(&mut verdicts);
        admitted
    }

    async fn after_call(
        &self,
        caller: &McpCaller,
        _: ToolCall<'_>,
        ticket: calls::Ticket,
        result: Option<&mut CallToolResult>,
    ) -> Result<(), String> {
        let mut verdicts = Vec::new();
        let settled = calls::settle(
            &self.governance,
            &caller.caller,
            caller.metadata(),
            ticket,
            result,
            &mut verdicts,
        )
        .await;
        caller.verdicts().append(&mut verdicts);
        settled
    }

    fn keeps_bodies(&self) -> bool {
        self.state.telemetry.logs_bodies()
    }

    fn record(&self, caller: &McpCaller, report: &CallReport<'_>) {
        self.metrics.record(&caller.caller, report);
        let mut event = usage::call_event(
            &caller.caller.identity,
            report,
            caller.span(report.traceparent),
        );
        event.request_id = caller
            .request_id
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        event.metadata.clone_from(caller.metadata());
        event.guardrails = std::mem::take(&mut *caller.verdicts());
        if report.arguments.is_some() || report.result.is_some() {
            let keep = |body: &Option<bytes::Bytes>| {
                body.as_ref()
                    .map(|body| self.state.telemetry.keep_json_body(body))
            };
            event.raw_bodies = Some(RawBodies {
                request: keep(&report.arguments),
                response: keep(&report.result),
            });
        }
        if report.outcome == Outcome::RefusedByPolicy {
            let mut denial = AuditEntry::new(
                caller.caller.identity.subject(),
                "denied",
                format!("mcp tools/call {}/{}", report.call.server, report.call.tool),
                "forbidden",
            );
            if let Some(id) = &event.request_id {
                denial = denial.with_detail("request_id", id.clone());
            }
            self.state.telemetry.audit(denial);
        }
        self.state.telemetry.request(event);
    }

    fn extra_tools(&self) -> Arc<ExtraTools> {
        self.agents.tools()
    }

    fn extra_tool_changes(&self) -> Option<watch::Receiver<u64>> {
        self.agents.changes()
    }

    fn may_list_extra_tool(&self, caller: &McpCaller, tool: &ExtraTool) -> bool {
        agent_tools::may_send(&caller.caller, &caller.subjects, tool)
    }

    fn may_call_extra_tool(&self, caller: &McpCaller, tool: &ExtraTool) -> bool {
        agent_tools::may_send(&caller.caller, &caller.subjects, tool)
    }

    async fn call_extra_tool(
        &self,
        caller: &McpCaller,
        tool: &ExtraTool,
        arguments: JsonObject,
        meta: Option<RequestMetaObject>,
    ) -> Result<(CallToolResult, Outcome), CallFailure> {
        let host = caller.host.as_ref().and_then(|h| h.to_str().ok());
        let from = ToolCaller {
            caller: &caller.caller,
            metadata: caller.metadata.clone().unwrap_or_default(),
            base_url: agent_tools::base_url(&self.state, host),
        };
        // The call is a span of its own; the hop it makes, its child.
        let span = caller.span(meta.as_ref().and_then(|meta| meta.get_traceparent()));
        let mut meta = meta.unwrap_or_else(|| rmcp::model::MetaObject::new().into());
        meta.set_traceparent(span.traceparent());
        agent_tools::call(&self.state, from, tool, arguments, Some(meta)).await
    }
}

/// `/mcp` and the virtual servers at `/mcp/<name>`, behind authentication.
pub fn router(state: &AppState, settings: &McpSettings) -> Router<AppState> {
    let gate = HubGate {
        governance: state.governance.clone(),
        metrics: state.mcp.metrics.clone(),
        accounts: state.accounts.clone(),
        config: state.config.clone(),
        state: state.clone(),
        agents: AgentTools::start(
            state.a2a.registry(),
            state.a2a.settings().agents_as_tools,
            &settings.separator,
        ),
    };
    let face = Face::new(state.mcp.registry().clone(), Arc::new(gate));
    // Browsers' requests carry an Origin, which must be listed; other clients send none.
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_origins(settings.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(settings.limits.max_request_bytes);
    if !settings.allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(settings.allowed_hosts.clone());
    }
    let virtual_faces = Arc::new(virtual_servers::VirtualFaces::new(
        face.clone(),
        config.clone(),
        state.mcp.virtual_servers().clone(),
    ));
    let service = StreamableHttpService::new(
        move || Ok(face.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    // `/mcp/` stays `/mcp`, as it was when `/mcp` was nested; one more segment names a
    // virtual server, and deeper paths are not found.
    Router::new()
        .route_service(protected::MCP_PATH, service.clone())
        .route_service("/mcp/", service)
        .route(
            "/mcp/{name}",
            any(move |Path(name): Path<String>, request: Request| {
                let virtual_faces = virtual_faces.clone();
                async move { virtual_faces.serve(&name, request).await }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .merge(protected::router())
        .merge(consent::router())
}

/// Authenticates the request and hands the caller to the MCP service in its extensions,
/// with its `x-agenthub-metadata` when it has one; 401 with `WWW-Authenticate` (pointing at
/// the protected resource metadata of `/mcp`, or of the virtual server) otherwise, and for a
/// token not issued for it; 400 for metadata that is not a small JSON object of scalars.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let config = state.config.snapshot();
    // Only a virtual server's path is copied: `/mcp` costs nothing more.
    let virtual_path = protected::virtual_path(parts.uri.path()).map(str::to_owned);
    let path = virtual_path.as_deref().unwrap_or(protected::MCP_PATH);
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(error) => return protected::unauthorized(&config, path, error, false),
    };
    if let Err(error) = protected::check_audience(&config, path, &caller) {
        return protected::unauthorized(&config, path, error, true);
    }
    match request_metadata(&parts.headers) {
        Ok(metadata) if metadata.is_empty() => {}
        Ok(metadata) => {
            parts.extensions.insert(RequestMetadata(Arc::new(metadata)));
        }
        Err(error) => return error.into_response(),
    }
    parts.extensions.insert(caller);
    let limit = config.mcp.limits.max_request_bytes;
    jsonrpc::answer_unreadable(Request::from_parts(parts, body), next, limit).await
}
