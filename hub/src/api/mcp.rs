//! The MCP servers through the admin API: `/mcp/servers` registers, replaces and removes
//! servers (stored like the other rules: `governance.rs` keeps them, the MCP plane follows)
//! and shows each one's registration, source and connection state; `/mcp/servers/import`
//! registers an entry of the official MCP registry (`server.json`); `…/{name}/refresh`
//! re-reads a catalog and `…/{name}/tools` lists what a server publishes;
//! `/mcp/virtual-servers` defines the virtual servers (stored the same way) and shows how much
//! of the federation each selects. The `tools` admin area: read to look, write to change.
//!
//! A registration is checked before it is stored: its fields, its URL's destination (no
//! private networks unless `mcp.allow_private_networks`), and then the server itself — the
//! hub connects, reads the catalog and refuses names that would collide with another
//! server's. `?check=false` skips connecting, for a server that is not up yet.

use std::collections::BTreeMap;

use agenthub_mcp_registry::config::McpServerConfig;
use agenthub_mcp_registry::registry::Status;
use agenthub_mcp_registry::server_json::{self, Choice, ServerJson};
use agenthub_mcp_registry::virtual_servers::{McpVirtualServerConfig, check_virtual_server};
use agenthub_policy::ErrorKind;
use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::AdminArea;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::governance::{
    MCP_SERVERS, MCP_VIRTUAL_SERVERS, RuleSource, RuleView, changeable, checked_body, create,
    delete, get, problems_in_body, replace, rule_views,
};
use super::{ApiJson, ApiQuery, from_json, require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::governance::RuleKind;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_servers, register_server))
        .routes(routes!(get_server, replace_server, unregister_server))
        .routes(routes!(import_server))
        .routes(routes!(refresh_server))
        .routes(routes!(server_tools))
        .routes(routes!(list_virtual_servers, create_virtual_server))
        .routes(routes!(
            get_virtual_server,
            replace_virtual_server,
            delete_virtual_server
        ))
}

/// One registered MCP server and how its connection stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct McpServerView {
    pub name: String,
    /// `config` (the configuration file) or `api` (registered through this API; only these
    /// can be changed here).
    pub source: RuleSource,
    /// `streamable_http`, `sse` or `stdio`.
    pub transport: String,
    /// The endpoint (HTTP transports) or the program (stdio); never credentials.
    pub target: String,
    /// The prefix of its published names.
    pub prefix: String,
    /// `connecting`, `ready`, `failed`, or `needs_consent` (a server that acts for each user,
    /// which no user's grant can read now).
    pub state: String,
    /// Since when it has been in this state.
    pub since: String,
    /// Why the last attempt failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How often the connection was re-established after being up.
    pub reconnects: u32,
    pub tools: usize,
    pub resources: usize,
    pub prompts: usize,
    /// The registration as stored (credentials only as `secret:NAME` references).
    #[schema(value_type = Object)]
    pub registration: Map<String, Value>,
}

/// A tool as clients of `/mcp` see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct McpToolView {
    /// The name clients call.
    pub name: String,
    /// The name the server uses.
    pub upstream_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// Set when the server is not connected: the tool is from its catalog as read at this
    /// time, and cannot be called now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_since: Option<String>,
}

fn view(state: &AppState, config: &McpServerConfig, status: &Status) -> McpServerView {
    let target = config
        .url
        .as_ref()
        .or(config.command.as_ref())
        .or(config.openapi.as_ref())
        .cloned()
        .unwrap_or_default();
    let since = status
        .since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let source = if state
        .governance
        .stored_rules()
        .iter()
        .any(|r| r.kind == RuleKind::McpServer.as_str() && r.id == config.name)
    {
        RuleSource::Api
    } else {
        RuleSource::Config
    };
    let mut registration = match serde_json::to_value(config) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    super::governance::mask_credentials(&mut registration);
    McpServerView {
        name: config.name.clone(),
        source,
        transport: config.transport().as_str().to_owned(),
        target,
        prefix: config.prefix().to_owned(),
        state: status.state.as_str().to_owned(),
        since: timestamp(since),
        error: status.error.clone(),
        reconnects: status.reconnects,
        tools: status.tools,
        resources: status.resources,
        prompts: status.prompts,
        registration,
    }
}

/// Every registered server's view, by name.
fn views(state: &AppState) -> Vec<McpServerView> {
    let registry = state.mcp.registry();
    let statuses = registry.status();
    registry
        .servers()
        .iter()
        .filter_map(|config| {
            let status = statuses.iter().find(|s| s.name == config.name)?;
            Some(view(state, config, status))
        })
        .collect()
}

/// List the registered MCP servers with their connection state.
#[utoipa::path(get, path = "/mcp/servers", tag = "mcp",
    responses((status = 200, body = Vec<McpServerView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_servers(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<McpServerView>>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Tools))?;
    Ok(Json(views(&state)))
}

/// Get one registered MCP server with its connection state.
#[utoipa::path(get, path = "/mcp/servers/{name}", tag = "mcp", params(("name" = String, Path)),
    responses((status = 200, body = McpServerView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<McpServerView>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Tools))?;
    views(&state)
        .into_iter()
        .find(|v| v.name == name)
        .map(Json)
        .ok_or_else(|| Error::not_found(format!("MCP server \"{name}\"")))
}

/// Whether to connect to a server before registering it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RegisterQuery {
    /// Connect, read the catalog and check its names before storing (default `true`).
    /// `false` registers a server that is not reachable yet; it is retried in the background.
    pub check: Option<bool>,
}

/// A registration stored, with what the server published when it was checked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    #[serde(flatten)]
    pub registration: RuleView,
    /// The catalog read when checking (absent with `?check=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogCounts>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogCounts {
    pub tools: usize,
    pub resources: usize,
    pub resource_templates: usize,
    pub prompts: usize,
}

/// Checks a registration body before it is stored: fields, destination, and (when `check`)
/// the server itself and its names.
async fn vet(
    state: &AppState,
    body: &Map<String, Value>,
    check: bool,
) -> Result<Option<CatalogCounts>> {
    checked_body(RuleKind::McpServer, body.clone())?;
    let server: McpServerConfig = from_json(Value::Object(body.clone()))?;
    if let Some(document) = &server.openapi {
        // Through the API the hub fetches what it is told to, never reads its own files, and
        // calls only an API whose address was checked here.
        if !document.starts_with("https://") && !document.starts_with("http://") {
            return Err(Error::invalid_field(
                "openapi",
                "must be an http(s) URL when registered through the API (file paths only in the configuration file)",
            ));
        }
        if server.url.is_none() {
            return Err(Error::invalid_field(
                "url",
                "is required for an OpenAPI registration through the API: the API's base URL",
            ));
        }
    }
    let settings = state.config.snapshot().mcp.clone();
    if !settings.allow_private_networks {
        let token_url = server.oauth.as_ref().map(|o| o.token_url.clone());
        for (field, url) in [
            ("url", &server.url),
            ("openapi", &server.openapi),
            ("oauth.token_url", &token_url),
        ] {
            if let Some(url) = url {
                agenthub_mcp_registry::config::check_destination(url)
                    .await
                    .map_err(|e| Error::invalid_field(field, e))?;
            }
        }
        // A built-in server's address settings (SENTRY_BASE_URL, …) are destinations too,
        // given as themselves so that they can be checked here.
        if server.builtin.is_some() {
            for (name, value) in &server.env {
                let value = value.trim();
                let address = name.ends_with("_URL");
                if address && value.starts_with("secret:") {
                    return Err(Error::invalid_field(
                        format!("env.{name}"),
                        "an address is given as itself, not as a secret",
                    ));
                }
                if address || value.starts_with("http://") || value.starts_with("https://") {
                    agenthub_mcp_registry::config::check_destination(value)
                        .await
                        .map_err(|e| Error::invalid_field(format!("env.{name}"), e))?;
                }
            }
        }
    }
    if server.acts_per_user() && state.config.snapshot().auth.public_url.is_none() {
        return Err(Error::invalid_field(
            "oauth.grant",
            "authorization_code needs auth.public_url in the hub's configuration: users are sent back to <auth.public_url>/mcp/oauth/callback",
        ));
    }
    // A server that acts for each user can only be read with a user's grant: it is, once
    // someone grants access.
    if !check || server.acts_per_user() {
        return Ok(None);
    }
    let registry = state.mcp.registry();
    let catalog = registry.probe(&server).await.map_err(|e| {
        Error::new(
            ErrorKind::UpstreamFailed,
            format!(
                "cannot use MCP server \"{}\": {e}. Fix the registration, or register it \
                 anyway with ?check=false (it is then retried in the background)",
                server.name
            ),
        )
    })?;
    registry.fits(&server, &catalog).map_err(|collisions| {
        Error::conflict(format!(
            "the names of \"{}\" would collide: {collisions}. Give it another prefix",
            server.name
        ))
    })?;
    Ok(Some(CatalogCounts {
        tools: catalog.tools.len(),
        resources: catalog.resources.len(),
        resource_templates: catalog.resource_templates.len(),
        prompts: catalog.prompts.len(),
    }))
}

async fn register(
    state: &AppState,
    caller: &Caller,
    body: Map<String, Value>,
    check: bool,
) -> Result<(StatusCode, Json<Registered>)> {
    require(caller, Access::Write, Target::Area(AdminArea::Tools))?;
    let catalog = vet(state, &body, check).await?;
    let (status, Json(registration)) = create(state, caller, MCP_SERVERS, body).await?;
    state.mcp.catch_up(&state.governance);
    Ok((
        status,
        Json(Registered {
            registration,
            catalog,
        }),
    ))
}

/// Register an MCP server: `name`, and either `url` (streamable HTTP, or `transport: sse`)
/// with `headers` and `bearer_token`, or `command` with `args`, `env` and `cwd` (stdio);
/// optionally `prefix` and `timeouts`. Credentials must be `secret:NAME` references. The hub
/// connects and reads the catalog first (see `check`).
#[utoipa::path(post, path = "/mcp/servers", tag = "mcp", request_body = Object, params(RegisterQuery),
    responses((status = 201, body = Registered), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
async fn register_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RegisterQuery>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<Registered>)> {
    register(&state, &caller, body, query.check.unwrap_or(true)).await
}

/// Replace a registration made through the API (the body's `name` may be left out). The
/// server is reconnected with the new settings.
#[utoipa::path(put, path = "/mcp/servers/{name}", tag = "mcp", request_body = Object, params(("name" = String, Path), RegisterQuery),
    responses((status = 200, body = Registered), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<RegisterQuery>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Json<Registered>> {
    require(&caller, Access::Write, Target::Area(AdminArea::Tools))?;
    body.entry("name")
        .or_insert_with(|| Value::String(name.clone()));
    // Before connecting anywhere: only registrations made through the API can change.
    changeable(&state, MCP_SERVERS, &name)?;
    let catalog = vet(&state, &body, query.check.unwrap_or(true)).await?;
    let Json(registration) = replace(&state, &caller, MCP_SERVERS, &name, body).await?;
    state.mcp.catch_up(&state.governance);
    Ok(Json(Registered {
        registration,
        catalog,
    }))
}

/// Unregister a server registered through the API; its connection closes (a stdio server's
/// process stops) once the calls in flight end.
#[utoipa::path(delete, path = "/mcp/servers/{name}", tag = "mcp", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn unregister_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    let done = delete(&state, &caller, MCP_SERVERS, &name).await?;
    state.mcp.catch_up(&state.governance);
    Ok(done)
}

/// An entry of the official MCP registry to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The entry's `server.json` document.
    #[schema(value_type = Object)]
    pub server: Value,
    /// The name to register it under; default: the last segment of the entry's name.
    pub name: Option<String>,
    /// Which way to reach it: `{"kind": "remote"|"package", "index": n}`; default: the first
    /// remote, else the first package that runs over stdio.
    #[schema(value_type = Option<Object>)]
    #[serde(rename = "use")]
    pub choice: Option<Choice>,
    /// Values of the headers, environment variables, URL variables and arguments the entry
    /// asks for, by name; secrets as `secret:NAME`.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    pub prefix: Option<String>,
}

/// Register an entry of the official MCP registry from its `server.json`: a remote becomes a
/// streamable HTTP (or SSE) registration, a package a stdio process run by its runtime (`npx`,
/// `uvx`, `docker`, `dnx`). Checked like any registration.
#[utoipa::path(post, path = "/mcp/servers/import", tag = "mcp", request_body = ImportRequest, params(RegisterQuery),
    responses((status = 201, body = Registered), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
async fn import_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RegisterQuery>,
    ApiJson(request): ApiJson<ImportRequest>,
) -> Result<(StatusCode, Json<Registered>)> {
    require(&caller, Access::Write, Target::Area(AdminArea::Tools))?;
    let doc: ServerJson = serde_json::from_value(request.server)
        .map_err(|e| Error::invalid_field("server", format!("not a server.json document: {e}")))?;
    let name = request
        .name
        .unwrap_or_else(|| server_json::default_name(&doc));
    let mut server = server_json::import(&doc, &name, request.choice, &request.values)
        .map_err(|e| Error::invalid_field("server", e))?;
    server.prefix = request.prefix;
    let body = match serde_json::to_value(&server) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(Error::internal(
                "a registration did not serialize to an object",
            ));
        }
    };
    register(&state, &caller, body, query.check.unwrap_or(true)).await
}

/// Re-read a server's catalog now (it is also re-read whenever the server announces a change).
#[utoipa::path(post, path = "/mcp/servers/{name}/refresh", tag = "mcp", params(("name" = String, Path)),
    responses((status = 200, body = McpServerView), (status = 404, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
async fn refresh_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<McpServerView>> {
    require(&caller, Access::Write, Target::Area(AdminArea::Tools))?;
    let registry = state.mcp.registry();
    let config = registry
        .servers()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::not_found(format!("MCP server \"{name}\"")))?;
    let status = registry
        .refresh(&name)
        .await
        .map_err(|e| Error::new(ErrorKind::UpstreamFailed, e))?;
    Ok(Json(view(&state, &config, &status)))
}

/// The tools one MCP server publishes, under the names clients call.
#[utoipa::path(get, path = "/mcp/servers/{name}/tools", tag = "mcp", params(("name" = String, Path)),
    responses((status = 200, body = Vec<McpToolView>), (status = 404, body = crate::error::ErrorBody)))]
async fn server_tools(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<McpToolView>>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Tools))?;
    let registry = state.mcp.registry();
    let Some(config) = registry.servers().into_iter().find(|s| s.name == name) else {
        return Err(Error::not_found("MCP server"));
    };
    let federation = registry.federation();
    if federation.catalog(&name).is_none()
        && let Some(kept) = state.mcp.last_catalog(&name)
    {
        // Not connected now: what it offered when last read.
        let separator = &state.config.snapshot().mcp.separator;
        let tools = kept
            .catalog
            .tools
            .iter()
            .map(|tool| McpToolView {
                name: agenthub_mcp_registry::names::publish(config.prefix(), separator, &tool.name),
                upstream_name: tool.name.to_string(),
                description: tool.description.as_deref().map(str::to_owned),
                input_schema: Value::Object(tool.input_schema.as_ref().clone()),
                stale_since: Some(timestamp(kept.fetched_at)),
            })
            .collect();
        return Ok(Json(tools));
    }
    let tools = federation
        .tools()
        .iter()
        .filter(|t| t.server == name)
        .map(|t| McpToolView {
            name: t.name.clone(),
            upstream_name: t.tool.name.to_string(),
            description: t.tool.description.as_deref().map(str::to_owned),
            input_schema: Value::Object(t.tool.input_schema.as_ref().clone()),
            stale_since: None,
        })
        .collect();
    Ok(Json(tools))
}

/// A virtual server: its definition, where clients reach it, and what it selects now.
#[derive(Debug, Serialize, ToSchema)]
pub struct McpVirtualServerView {
    /// The definition (`name`, `description`, `instructions`, `tools`, `prompts`,
    /// `resources`, `rename`), its `source`, and for `api` ones who stored it and when.
    #[serde(flatten)]
    pub definition: RuleView,
    /// Where clients connect: `/mcp/<name>`.
    pub path: String,
    /// How many of the federation's items its patterns select now, before any caller's
    /// permissions. Patterns that select nothing are allowed: servers come and go.
    pub selected: SelectedCounts,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SelectedCounts {
    pub tools: usize,
    pub prompts: usize,
    pub resources: usize,
    pub resource_templates: usize,
}

fn virtual_view(state: &AppState, definition: RuleView) -> McpVirtualServerView {
    let selected = state
        .mcp
        .virtual_servers()
        .get(&definition.id)
        .map(|server| server.selected(&state.mcp.registry().federation()))
        .unwrap_or_default();
    McpVirtualServerView {
        path: format!("/mcp/{}", definition.id),
        definition,
        selected: SelectedCounts {
            tools: selected.tools,
            prompts: selected.prompts,
            resources: selected.resources,
            resource_templates: selected.resource_templates,
        },
    }
}

/// Checks a definition as a whole, new names against the configured separator included.
fn vet_virtual_server(state: &AppState, body: &Map<String, Value>) -> Result<()> {
    let server: McpVirtualServerConfig = from_json(Value::Object(body.clone()))?;
    let separator = state.config.snapshot().mcp.separator.clone();
    let mut problems = Vec::new();
    check_virtual_server(&server, Some(&separator), &mut |field, message| {
        problems.push((field.to_owned(), message));
    });
    problems_in_body(problems, "")
}

/// List the virtual servers (configuration file and API) with what each selects now.
#[utoipa::path(get, path = "/mcp/virtual-servers", tag = "mcp",
    responses((status = 200, body = Vec<McpVirtualServerView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_virtual_servers(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<McpVirtualServerView>>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Tools))?;
    Ok(Json(
        rule_views(&state, MCP_VIRTUAL_SERVERS)
            .into_iter()
            .map(|definition| virtual_view(&state, definition))
            .collect(),
    ))
}

/// Get one virtual server with what it selects now.
#[utoipa::path(get, path = "/mcp/virtual-servers/{name}", tag = "mcp", params(("name" = String, Path)),
    responses((status = 200, body = McpVirtualServerView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_virtual_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<McpVirtualServerView>> {
    let Json(definition) = get(&state, &caller, MCP_VIRTUAL_SERVERS, &name)?;
    Ok(Json(virtual_view(&state, definition)))
}

/// Define a virtual server, served at `/mcp/<name>` at once: `name`, optional `description`
/// and `instructions`, and patterns over `<server>/<name>` (exact, or ending in `*`; `*` for
/// everything) in `tools`, `prompts` and `resources`; `rename` gives selected tools names of
/// their own (`{"jira/create_issue": "create_ticket"}`).
#[utoipa::path(post, path = "/mcp/virtual-servers", tag = "mcp", request_body = Object,
    responses((status = 201, body = McpVirtualServerView), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn create_virtual_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<McpVirtualServerView>)> {
    require(&caller, Access::Write, Target::Area(AdminArea::Tools))?;
    vet_virtual_server(&state, &body)?;
    let (status, Json(definition)) = create(&state, &caller, MCP_VIRTUAL_SERVERS, body).await?;
    state.mcp.catch_up(&state.governance);
    Ok((status, Json(virtual_view(&state, definition))))
}

/// Replace a virtual server defined through the API (the body's `name` may be left out); its
/// clients are told of the lists that changed.
#[utoipa::path(put, path = "/mcp/virtual-servers/{name}", tag = "mcp", request_body = Object, params(("name" = String, Path)),
    responses((status = 200, body = McpVirtualServerView), (status = 400, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_virtual_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(mut body): ApiJson<Map<String, Value>>,
) -> Result<Json<McpVirtualServerView>> {
    require(&caller, Access::Write, Target::Area(AdminArea::Tools))?;
    body.entry("name")
        .or_insert_with(|| Value::String(name.clone()));
    changeable(&state, MCP_VIRTUAL_SERVERS, &name)?;
    vet_virtual_server(&state, &body)?;
    let Json(definition) = replace(&state, &caller, MCP_VIRTUAL_SERVERS, &name, body).await?;
    state.mcp.catch_up(&state.governance);
    Ok(Json(virtual_view(&state, definition)))
}

/// Remove a virtual server defined through the API: `/mcp/<name>` answers 404 from now on and
/// its sessions end.
#[utoipa::path(delete, path = "/mcp/virtual-servers/{name}", tag = "mcp", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_virtual_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    let done = delete(&state, &caller, MCP_VIRTUAL_SERVERS, &name).await?;
    state.mcp.catch_up(&state.governance);
    Ok(done)
}
