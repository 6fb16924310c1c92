//! Users (`/users`), service accounts (`/service-accounts`) and the caller (`/me`).

use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::AdminArea;
use agenthub_policy::{GlobalRole, Scope, TeamRole};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiJson, ApiQuery, ListQuery, PageOf, nullable, optional_text, require, timestamp,
    validate_name,
};
use crate::app::AppState;
use crate::auth::Caller;
use crate::directory::NewPrincipal;
use crate::error::{Error, Result};
use crate::model::{Principal, PrincipalKind};
use crate::store::PrincipalPatch;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(list_service_accounts, create_service_account))
        .routes(routes!(
            get_service_account,
            update_service_account,
            delete_service_account
        ))
        .routes(routes!(me))
}

/// A user or service account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PrincipalView {
    pub id: String,
    /// `user` or `service`.
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Hub-wide role: `admin` or `member`.
    pub role: String,
    pub disabled: bool,
    pub teams: Vec<TeamRoleView>,
    pub created_at: String,
    pub updated_at: String,
}

/// A team a principal belongs to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TeamRoleView {
    pub team_id: String,
    pub team: String,
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: String,
}

fn view(state: &AppState, p: Principal) -> PrincipalView {
    let teams = state
        .accounts
        .snapshot()
        .teams_of(&p.id)
        .into_iter()
        .map(|(m, t)| TeamRoleView {
            team_id: t.id,
            team: t.name,
            role: m.role.as_str().to_owned(),
        })
        .collect();
    PrincipalView {
        id: p.id,
        kind: p.kind.as_str().to_owned(),
        name: p.name,
        email: p.email,
        display_name: p.display_name,
        description: p.description,
        role: p.role.as_str().to_owned(),
        disabled: p.disabled_at.is_some(),
        teams,
        created_at: timestamp(p.created_at),
        updated_at: timestamp(p.updated_at),
    }
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Unique login name.
    pub name: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `admin` or `member` (default).
    #[schema(value_type = Option<String>)]
    pub role: Option<GlobalRole>,
}

/// A new service account, for an agent or workload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    pub name: String,
    pub description: Option<String>,
    /// A team (id or name) to add the account to as a `member`.
    pub team: Option<String>,
}

/// Changes to a user or service account; absent fields stay as they are, `null` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePrincipal {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[schema(value_type = Option<String>)]
    pub role: Option<GlobalRole>,
    /// A disabled principal's keys stop working until it is enabled again.
    pub disabled: Option<bool>,
}

fn check_email(email: Option<String>) -> Result<Option<String>> {
    let email = optional_text("email", email, 254)?;
    match &email {
        Some(e) if !e.contains('@') || e.contains(char::is_whitespace) => Err(
            Error::invalid_field("email", format!("\"{e}\" is not an email address")),
        ),
        _ => Ok(email),
    }
}

fn find(state: &AppState, kind: PrincipalKind, id: &str) -> Result<Principal> {
    let what = match kind {
        PrincipalKind::User => "user",
        PrincipalKind::Service => "service account",
    };
    state
        .accounts
        .snapshot()
        .principal(id)
        .filter(|p| p.kind == kind)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("{what} \"{id}\"")))
}

/// The admin area a kind of principal belongs to.
fn area(kind: PrincipalKind) -> AdminArea {
    match kind {
        PrincipalKind::User => AdminArea::Users,
        PrincipalKind::Service => AdminArea::ServiceAccounts,
    }
}

fn list(
    state: &AppState,
    caller: &Caller,
    kind: PrincipalKind,
    query: &ListQuery,
) -> Result<Json<PageOf<PrincipalView>>> {
    require(
        caller,
        Access::Read,
        Target::Principals { area: area(kind) },
    )?;
    let page =
        state
            .accounts
            .snapshot()
            .principals(kind, query.after()?.as_deref(), query.limit()?);
    Ok(Json(PageOf::new(page, |p| view(state, p))))
}

fn get(
    state: &AppState,
    caller: &Caller,
    kind: PrincipalKind,
    id: &str,
) -> Result<Json<PrincipalView>> {
    let principal = find(state, kind, id);
    // Do not reveal whether an id exists to callers who could not read it anyway.
    let target_id = principal.as_ref().map_or(id, |p| p.id.as_str());
    require(
        caller,
        Access::Read,
        Target::Principal {
            id: target_id,
            area: area(kind),
        },
    )?;
    Ok(Json(view(state, principal?)))
}

async fn update(
    state: &AppState,
    caller: &Caller,
    kind: PrincipalKind,
    id: &str,
    body: UpdatePrincipal,
) -> Result<Json<PrincipalView>> {
    require(
        caller,
        Access::Write,
        Target::Principals { area: area(kind) },
    )?;
    let principal = find(state, kind, id)?;
    // Hub admins, and granting or withdrawing hub admin, are for hub admins alone, whatever
    // else a role may manage.
    if (principal.role == GlobalRole::Admin || body.role.is_some_and(|role| role != principal.role))
        && !caller.is_admin_with(Scope::Admin)
    {
        return Err(Error::forbidden());
    }
    if principal.id == caller.principal_id.clone().unwrap_or_default()
        && (body.disabled == Some(true) || body.role == Some(GlobalRole::Member))
    {
        return Err(Error::conflict(
            "you cannot disable or demote the principal you are authenticated as",
        ));
    }
    let patch = PrincipalPatch {
        email: body.email.map(check_email).transpose()?,
        display_name: body
            .display_name
            .map(|v| optional_text("display_name", v, 200))
            .transpose()?,
        description: body
            .description
            .map(|v| optional_text("description", v, 1000))
            .transpose()?,
        role: body.role,
        disabled: body.disabled,
    };
    let updated = state
        .accounts
        .update_principal(&principal.id, patch)
        .await?;
    Ok(Json(view(state, updated)))
}

async fn delete(
    state: &AppState,
    caller: &Caller,
    kind: PrincipalKind,
    id: &str,
) -> Result<StatusCode> {
    require(
        caller,
        Access::Write,
        Target::Principals { area: area(kind) },
    )?;
    let principal = find(state, kind, id)?;
    if principal.role == GlobalRole::Admin && !caller.is_admin_with(Scope::Admin) {
        return Err(Error::forbidden());
    }
    if Some(&principal.id) == caller.principal_id.as_ref() {
        return Err(Error::conflict(
            "you cannot delete the principal you are authenticated as",
        ));
    }
    state.accounts.delete_principal(&principal.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List users.
#[utoipa::path(get, path = "/users", tag = "users", params(ListQuery),
    responses((status = 200, body = PageOf<PrincipalView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<PrincipalView>>> {
    list(&state, &caller, PrincipalKind::User, &query)
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = PrincipalView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<PrincipalView>)> {
    require(
        &caller,
        Access::Write,
        Target::Principals {
            area: AdminArea::Users,
        },
    )?;
    if body.role == Some(GlobalRole::Admin) && !caller.is_admin_with(Scope::Admin) {
        return Err(Error::forbidden());
    }
    validate_name("name", &body.name)?;
    let principal = state
        .accounts
        .create_principal(NewPrincipal {
            kind: PrincipalKind::User,
            name: body.name,
            email: check_email(body.email)?,
            display_name: optional_text("display_name", body.display_name, 200)?,
            description: None,
            role: body.role.unwrap_or_default(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, principal))))
}

/// Get a user by id or name.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = String, Path, description = "User id or name")),
    responses((status = 200, body = PrincipalView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PrincipalView>> {
    get(&state, &caller, PrincipalKind::User, &id)
}

/// Update a user.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", request_body = UpdatePrincipal, params(("id" = String, Path, description = "User id or name")),
    responses((status = 200, body = PrincipalView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdatePrincipal>,
) -> Result<Json<PrincipalView>> {
    update(&state, &caller, PrincipalKind::User, &id, body).await
}

/// Delete a user, their memberships and keys.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = String, Path, description = "User id or name")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, PrincipalKind::User, &id).await
}

/// List service accounts.
#[utoipa::path(get, path = "/service-accounts", tag = "service-accounts", params(ListQuery),
    responses((status = 200, body = PageOf<PrincipalView>)))]
async fn list_service_accounts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<PrincipalView>>> {
    list(&state, &caller, PrincipalKind::Service, &query)
}

/// Create a service account, optionally in a team.
#[utoipa::path(post, path = "/service-accounts", tag = "service-accounts", request_body = CreateServiceAccount,
    responses((status = 201, body = PrincipalView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_service_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateServiceAccount>,
) -> Result<(StatusCode, Json<PrincipalView>)> {
    validate_name("name", &body.name)?;
    let team = match &body.team {
        Some(team) => Some(
            state
                .accounts
                .snapshot()
                .team(team)
                .cloned()
                .ok_or_else(|| Error::invalid_field("team", format!("no team \"{team}\"")))?,
        ),
        None => None,
    };
    // Team owners and admins may create service accounts in their team; otherwise hub admins only.
    match &team {
        Some(team) => require(
            &caller,
            Access::Write,
            Target::Team {
                id: &team.id,
                name: &team.name,
            },
        )?,
        None => require(
            &caller,
            Access::Write,
            Target::Principals {
                area: AdminArea::ServiceAccounts,
            },
        )?,
    }
    let principal = state
        .accounts
        .create_principal(NewPrincipal {
            kind: PrincipalKind::Service,
            name: body.name,
            email: None,
            display_name: None,
            description: optional_text("description", body.description, 1000)?,
            role: GlobalRole::Member,
        })
        .await?;
    if let Some(team) = team {
        state
            .accounts
            .set_membership(&team.id, &principal.id, TeamRole::Member)
            .await?;
    }
    Ok((StatusCode::CREATED, Json(view(&state, principal))))
}

/// Get a service account by id or name.
#[utoipa::path(get, path = "/service-accounts/{id}", tag = "service-accounts", params(("id" = String, Path, description = "Service account id or name")),
    responses((status = 200, body = PrincipalView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_service_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PrincipalView>> {
    get(&state, &caller, PrincipalKind::Service, &id)
}

/// Update a service account.
#[utoipa::path(patch, path = "/service-accounts/{id}", tag = "service-accounts", request_body = UpdatePrincipal, params(("id" = String, Path, description = "Service account id or name")),
    responses((status = 200, body = PrincipalView), (status = 404, body = crate::error::ErrorBody)))]
async fn update_service_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdatePrincipal>,
) -> Result<Json<PrincipalView>> {
    update(&state, &caller, PrincipalKind::Service, &id, body).await
}

/// Delete a service account and its keys.
#[utoipa::path(delete, path = "/service-accounts/{id}", tag = "service-accounts", params(("id" = String, Path, description = "Service account id or name")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_service_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, PrincipalKind::Service, &id).await
}

/// Who the presented credentials authenticate as.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    /// Policy subject, e.g. `user:alice`.
    pub subject: String,
    pub principal: Option<PrincipalView>,
    pub key_id: Option<String>,
    /// The scopes of the key used.
    pub scopes: Vec<String>,
    /// `user`, `service`, `agent` or `key`.
    #[serde(default)]
    pub kind: String,
    /// Hub-wide role of the credentials: `admin` or `member`.
    #[serde(default)]
    pub role: String,
    /// The teams the credentials act in: the principal's, or those a token's claims map to.
    #[serde(default)]
    pub teams: Vec<TeamRoleView>,
}

/// Describe the caller.
#[utoipa::path(get, path = "/me", tag = "users", responses((status = 200, body = MeView), (status = 401, body = crate::error::ErrorBody)))]
async fn me(State(state): State<AppState>, caller: Caller) -> Json<MeView> {
    let principal = caller
        .principal_id
        .as_deref()
        .and_then(|id| state.accounts.snapshot().principal(id).cloned());
    Json(MeView {
        subject: caller.subject(),
        principal: principal.map(|p| view(&state, p)),
        key_id: caller.key_id.clone(),
        scopes: caller.scopes.names(),
        kind: caller.kind.as_str().to_owned(),
        role: caller.role.as_str().to_owned(),
        teams: caller
            .teams
            .iter()
            .map(|t| TeamRoleView {
                team_id: t.team_id.clone(),
                team: t.team.clone(),
                role: t.role.as_str().to_owned(),
            })
            .collect(),
    })
}
