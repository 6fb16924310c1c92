//! The MCP plane's HTTP face: `/mcp`, one MCP server (streamable HTTP, both protocol eras)
//! over every upstream registered in `mcp_servers`, over the `agenthub-mcp-registry` crate.
//! This module does what is the hub's: the caller's identity (authenticated before the MCP
//! service sees the request), `mcp:<server>/<tool>` authorization, the secret store, and the
//! `Host` and `Origin` checks from the `mcp` settings.

use std::sync::Arc;

use agenthub_mcp_registry::config::{McpServerConfig, McpSettings};
use agenthub_mcp_registry::face::{Face, Gate};
use agenthub_mcp_registry::registry::Registry;
use agenthub_policy::authz::{Action, Request as AuthzRequest, Resource, Subjects};
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::auth::Caller;
use crate::config::HubConfig;
use crate::directory::Accounts;
use crate::governance::Governance;

/// The registered upstream servers, kept connected.
pub struct McpPlane {
    registry: Registry,
    /// Applies registration changes (configuration file or admin API) as they are installed.
    follower: JoinHandle<()>,
}

impl McpPlane {
    /// Starts supervising every registered server, and follows the registrations: servers
    /// added, changed or removed are connected, reconnected or stopped at once. Connections
    /// open in the background: the hub serves while they come up.
    pub fn new(accounts: Arc<Accounts>, config: &HubConfig, governance: &Governance) -> Self {
        let registry = Registry::new(config.mcp.clone(), Arc::new(StoreSecrets(accounts)));
        let mut registrations = governance.mcp_servers();
        reconcile(&registry, &registrations.borrow_and_update());
        let follower = tokio::spawn({
            let registry = registry.clone();
            async move {
                while registrations.changed().await.is_ok() {
                    let servers = registrations.borrow_and_update().clone();
                    reconcile(&registry, &servers);
                }
            }
        });
        Self { registry, follower }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Applies the registrations in force now, without waiting for the follower: after an
    /// admin API write, so that its answer and the next read agree.
    pub fn catch_up(&self, governance: &Governance) {
        let servers = governance.mcp_servers().borrow().clone();
        reconcile(&self.registry, &servers);
    }

    /// Stops following registrations and closes every upstream connection.
    pub fn shutdown(&self) {
        self.follower.abort();
        self.registry.shutdown();
    }
}

/// Makes the registry supervise exactly `servers`: new ones are added, changed ones replaced
/// (reconnected), the others removed; unchanged ones keep their connection.
fn reconcile(registry: &Registry, servers: &[McpServerConfig]) {
    let running = registry.servers();
    for old in &running {
        if !servers.iter().any(|s| s.name == old.name) {
            tracing::info!(server = %old.name, "MCP server unregistered");
            registry.remove(&old.name);
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

/// Upstream credentials from the directory's secret store, decrypted at connection time.
struct StoreSecrets(Arc<Accounts>);

impl agenthub_mcp_registry::upstream::Secrets for StoreSecrets {
    fn reveal(&self, name: &str) -> Option<String> {
        match self.0.reveal_secret(name) {
            Ok(value) => value,
            Err(e) => {
                tracing::error!(secret = name, error = %e, "cannot read an MCP server credential");
                None
            }
        }
    }
}

/// A caller of `/mcp`, with the subjects its grants are looked up by (computed once per
/// request, not per tool).
struct McpCaller {
    caller: Caller,
    subjects: Subjects,
}

/// Decides with the hub's authorizer: `list` to see a tool, `call` to call it, on
/// `mcp:<server>/<tool>`; prompts and resources (by their names) alike.
struct HubGate;

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

    fn caller(&self, request: &http::request::Parts) -> Option<McpCaller> {
        let caller = request.extensions.get::<Caller>()?.clone();
        let subjects = Subjects::of(&caller.identity);
        Some(McpCaller { caller, subjects })
    }

    fn may_list_tool(&self, caller: &McpCaller, server: &str, tool: &str) -> bool {
        Self::allows(caller, server, tool, Action::List)
    }

    fn may_call_tool(&self, caller: &McpCaller, server: &str, tool: &str) -> bool {
        Self::allows(caller, server, tool, Action::Call)
    }
}

/// `/mcp`, behind authentication.
pub fn router(state: &AppState, settings: &McpSettings) -> Router<AppState> {
    let face = Face::new(state.mcp.registry().clone(), Arc::new(HubGate));
    // Browsers' requests carry an Origin, which must be listed; other clients send none.
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_origins(settings.allowed_origins.clone())
        .enforce_origin_validation();
    if !settings.allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(settings.allowed_hosts.clone());
    }
    let service = StreamableHttpService::new(
        move || Ok(face.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
}

/// Authenticates the request and hands the caller to the MCP service in its extensions;
/// 401 with `WWW-Authenticate` otherwise.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(error) => error.into_response(),
    }
}
