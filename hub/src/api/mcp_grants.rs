//! Users' OAuth grants to the MCP servers that act for each user: `/me/mcp-grants` lists the
//! caller's, gives them a link to grant one (before any call asks) and revokes one;
//! `/users/{id}/mcp-grants` lets those who manage a user see and revoke theirs. Tokens are
//! never shown; a revoked grant is forgotten by the hub (the authorization server is not told).

use agenthub_policy::Scope;
use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::AdminArea;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::PrincipalKind;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_grants))
        .routes(routes!(grant_mine, revoke_mine))
        .routes(routes!(grants_of_user))
        .routes(routes!(revoke_of_user))
}

/// A user's grant to an MCP server.
#[derive(Debug, Serialize, ToSchema)]
pub struct McpGrantView {
    pub server: String,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// When the user granted access.
    pub granted_at: String,
    /// When the tokens were last renewed.
    pub renewed_at: String,
}

/// A link to grant the hub access to a server.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentLinkView {
    pub server: String,
    /// Open it in a browser: it leads to the server's authorization page. It works once, for
    /// the user it was made for.
    pub authorization_url: String,
    pub expires_at: String,
}

/// The caller's own principal id; their credentials must allow using tools.
fn own_id(caller: &Caller) -> Result<&str> {
    if !caller.scopes.allows(Scope::Mcp) {
        return Err(Error::forbidden());
    }
    caller.principal_id.as_deref().ok_or_else(|| {
        Error::invalid(
            "only hub users and service accounts hold MCP grants; these credentials are a token's",
        )
    })
}

async fn grants_of(state: &AppState, principal_id: &str) -> Result<Json<Vec<McpGrantView>>> {
    let rows = state.accounts.store().mcp_grants_of(principal_id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|row| McpGrantView {
                server: row.server,
                scopes: row.scope.split_whitespace().map(str::to_owned).collect(),
                granted_at: timestamp(row.created_at),
                renewed_at: timestamp(row.updated_at),
            })
            .collect(),
    ))
}

async fn revoke(state: &AppState, principal_id: &str, server: &str) -> Result<StatusCode> {
    let deleted = state
        .accounts
        .store()
        .delete_mcp_grant(server, principal_id, None)
        .await?;
    // Closed here at once; other replicas stop using it when its access token expires.
    state.mcp.registry().revoked(server, principal_id);
    if deleted {
        tracing::info!(server, principal = principal_id, "an MCP grant was revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!(
            "grant for MCP server \"{server}\""
        )))
    }
}

/// The caller's grants to MCP servers that act for each user.
#[utoipa::path(get, path = "/me/mcp-grants", tag = "mcp",
    responses((status = 200, body = Vec<McpGrantView>), (status = 400, body = crate::error::ErrorBody)))]
async fn my_grants(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<McpGrantView>>> {
    grants_of(&state, own_id(&caller)?).await
}

/// A link for the caller to grant the hub access to `server`, a server that acts for each
/// user (its tools are published once someone has).
#[utoipa::path(post, path = "/me/mcp-grants/{server}", tag = "mcp", params(("server" = String, Path)),
    responses((status = 201, body = ConsentLinkView), (status = 404, body = crate::error::ErrorBody)))]
async fn grant_mine(
    State(state): State<AppState>,
    caller: Caller,
    Path(server): Path<String>,
) -> Result<(StatusCode, Json<ConsentLinkView>)> {
    let principal_id = own_id(&caller)?;
    if !state.mcp.registry().acts_per_user(&server) {
        return Err(Error::not_found(format!(
            "MCP server \"{server}\" acting for each user"
        )));
    }
    let (authorization_url, expires_at) = crate::mcp::consent_link(
        &state.accounts,
        &state.config.snapshot(),
        &server,
        principal_id,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentLinkView {
            server,
            authorization_url,
            expires_at: timestamp(expires_at),
        }),
    ))
}

/// Revoke the caller's grant to `server`: the hub forgets their tokens, and their next call
/// asks for consent again.
#[utoipa::path(delete, path = "/me/mcp-grants/{server}", tag = "mcp", params(("server" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_mine(
    State(state): State<AppState>,
    caller: Caller,
    Path(server): Path<String>,
) -> Result<StatusCode> {
    revoke(&state, own_id(&caller)?, &server).await
}

/// The user (id or name) whose grants are managed, if the caller may.
fn managed_user(state: &AppState, caller: &Caller, id: &str, access: Access) -> Result<String> {
    let user = state
        .accounts
        .snapshot()
        .principal(id)
        .filter(|p| p.kind == PrincipalKind::User)
        .map(|p| p.id.clone());
    // Do not reveal whether an id exists to callers who could not see it anyway.
    let target = user.as_deref().unwrap_or(id);
    require(
        caller,
        access,
        Target::Principal {
            id: target,
            area: AdminArea::Users,
        },
    )?;
    user.ok_or_else(|| Error::not_found(format!("user \"{id}\"")))
}

/// A user's grants to MCP servers that act for each user.
#[utoipa::path(get, path = "/users/{id}/mcp-grants", tag = "mcp", params(("id" = String, Path, description = "User id or name")),
    responses((status = 200, body = Vec<McpGrantView>), (status = 404, body = crate::error::ErrorBody)))]
async fn grants_of_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<McpGrantView>>> {
    let user = managed_user(&state, &caller, &id, Access::Read)?;
    grants_of(&state, &user).await
}

/// Revoke a user's grant to `server`.
#[utoipa::path(delete, path = "/users/{id}/mcp-grants/{server}", tag = "mcp",
    params(("id" = String, Path, description = "User id or name"), ("server" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_of_user(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, server)): Path<(String, String)>,
) -> Result<StatusCode> {
    let user = managed_user(&state, &caller, &id, Access::Write)?;
    revoke(&state, &user, &server).await
}
