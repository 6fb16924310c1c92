//! The MCP servers through the admin API, read-only for now: `/mcp/servers` (each registered
//! server's connection state and catalog size) and `/mcp/servers/{name}/tools` (the tools it
//! publishes). Readable by those who may read the `tools` admin area.

use agenthub_mcp_registry::config::McpServerConfig;
use agenthub_mcp_registry::registry::Status;
use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::AdminArea;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_servers))
        .routes(routes!(server_tools))
}

/// One registered MCP server and how its connection stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct McpServerView {
    pub name: String,
    /// `streamable_http`, `sse` or `stdio`.
    pub transport: String,
    /// The endpoint (HTTP transports) or the program (stdio); never credentials.
    pub target: String,
    /// The prefix of its published names.
    pub prefix: String,
    /// `connecting`, `ready` or `failed`.
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
}

fn view(config: &McpServerConfig, status: &Status) -> McpServerView {
    let target = match (&config.url, &config.command) {
        (Some(url), _) => url.clone(),
        (None, Some(command)) => command.clone(),
        (None, None) => String::new(),
    };
    let since = status
        .since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    McpServerView {
        name: config.name.clone(),
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
    }
}

/// List the registered MCP servers with their connection state.
#[utoipa::path(get, path = "/mcp/servers", tag = "mcp",
    responses((status = 200, body = Vec<McpServerView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_servers(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<McpServerView>>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Tools))?;
    let registry = state.mcp.registry();
    let statuses = registry.status();
    let servers = registry
        .servers()
        .iter()
        .filter_map(|config| {
            let status = statuses.iter().find(|s| s.name == config.name)?;
            Some(view(config, status))
        })
        .collect();
    Ok(Json(servers))
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
    if !registry.servers().iter().any(|s| s.name == name) {
        return Err(Error::not_found("MCP server"));
    }
    let federation = registry.federation();
    let tools = federation
        .tools()
        .iter()
        .filter(|t| t.server == name)
        .map(|t| McpToolView {
            name: t.name.clone(),
            upstream_name: t.tool.name.to_string(),
            description: t.tool.description.as_deref().map(str::to_owned),
            input_schema: Value::Object(t.tool.input_schema.as_ref().clone()),
        })
        .collect();
    Ok(Json(tools))
}
