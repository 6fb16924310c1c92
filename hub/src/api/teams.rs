//! Teams (`/teams`) and their membership (`/teams/{id}/members`).

use agenthub_policy::TeamRole;
use agenthub_policy::admin::{Access, Target};
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
use crate::error::{Error, Result};
use crate::model::{Membership, Principal, Team};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(list_members))
        .routes(routes!(set_member, remove_member))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TeamView {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub member_count: usize,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub principal_id: String,
    pub name: String,
    /// `user` or `service`.
    pub kind: String,
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: String,
    pub since: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeam {
    /// New description; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    /// `owner`, `admin`, `member` or `viewer`.
    #[schema(value_type = String)]
    pub role: TeamRole,
}

fn member_view(m: Membership, p: Principal) -> MemberView {
    MemberView {
        principal_id: p.id,
        name: p.name,
        kind: p.kind.as_str().to_owned(),
        role: m.role.as_str().to_owned(),
        since: timestamp(m.created_at),
    }
}

fn view(state: &AppState, team: Team) -> TeamView {
    let member_count = state.accounts.snapshot().members(&team.id).len();
    TeamView {
        id: team.id,
        name: team.name,
        description: team.description,
        member_count,
        created_at: timestamp(team.created_at),
        updated_at: timestamp(team.updated_at),
    }
}

/// Finds a team the caller may `access`; callers who may not even read it get 404, so that
/// team names do not leak.
fn find(state: &AppState, caller: &Caller, id: &str, access: Access) -> Result<Team> {
    let not_found = || Error::not_found(format!("team \"{id}\""));
    let team = state
        .accounts
        .snapshot()
        .team(id)
        .cloned()
        .ok_or_else(not_found)?;
    if !caller.may(
        Access::Read,
        Target::Team {
            id: &team.id,
            name: &team.name,
        },
    ) {
        return Err(not_found());
    }
    require(
        caller,
        access,
        Target::Team {
            id: &team.id,
            name: &team.name,
        },
    )?;
    Ok(team)
}

/// Finds the user or service account `id_or_name`, with its current role in `team` if it is a
/// member.
fn find_member(
    state: &AppState,
    team: &Team,
    id_or_name: &str,
) -> Result<(Principal, Option<TeamRole>)> {
    let directory = state.accounts.snapshot();
    let principal = directory
        .principal(id_or_name)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("user or service account \"{id_or_name}\"")))?;
    let current = directory
        .members(&team.id)
        .into_iter()
        .find(|(_, p)| p.id == principal.id)
        .map(|(m, _)| m.role);
    Ok((principal, current))
}

/// Only owners (and hub admins) may make, unmake or remove owners.
fn require_owner(caller: &Caller, team: &Team) -> Result<()> {
    if caller.team_role(&team.id) == Some(TeamRole::Owner)
        || caller.may(Access::Write, Target::Teams)
    {
        Ok(())
    } else {
        Err(Error::forbidden())
    }
}

/// List the teams the caller can see (all of them, for hub admins).
#[utoipa::path(get, path = "/teams", tag = "teams", params(ListQuery), responses((status = 200, body = PageOf<TeamView>)))]
async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<TeamView>>> {
    let all = caller.may(Access::Read, Target::Teams);
    let page = state
        .accounts
        .snapshot()
        .teams(query.after()?.as_deref(), query.limit()?, |t| {
            all || caller.team_role(&t.id).is_some()
        });
    Ok(Json(PageOf::new(page, |t| view(&state, t))))
}

/// Create a team.
#[utoipa::path(post, path = "/teams", tag = "teams", request_body = CreateTeam,
    responses((status = 201, body = TeamView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTeam>,
) -> Result<(StatusCode, Json<TeamView>)> {
    require(&caller, Access::Write, Target::Teams)?;
    validate_name("name", &body.name)?;
    let team = state
        .accounts
        .create_team(
            body.name,
            optional_text("description", body.description, 1000)?,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, team))))
}

/// Get a team by id or name.
#[utoipa::path(get, path = "/teams/{id}", tag = "teams", params(("id" = String, Path, description = "Team id or name")),
    responses((status = 200, body = TeamView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_team(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TeamView>> {
    let team = find(&state, &caller, &id, Access::Read)?;
    Ok(Json(view(&state, team)))
}

/// Update a team.
#[utoipa::path(patch, path = "/teams/{id}", tag = "teams", request_body = UpdateTeam, params(("id" = String, Path, description = "Team id or name")),
    responses((status = 200, body = TeamView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn update_team(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateTeam>,
) -> Result<Json<TeamView>> {
    let team = find(&state, &caller, &id, Access::Write)?;
    let description = body
        .description
        .map(|d| optional_text("description", d, 1000))
        .transpose()?;
    let team = state.accounts.update_team(&team.id, description).await?;
    Ok(Json(view(&state, team)))
}

/// Delete a team. Its keys stay valid but are no longer charged to it.
#[utoipa::path(delete, path = "/teams/{id}", tag = "teams", params(("id" = String, Path, description = "Team id or name")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_team(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let team = find(&state, &caller, &id, Access::Read)?;
    require(&caller, Access::Write, Target::Teams)?;
    state.accounts.delete_team(&team.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a team's members.
#[utoipa::path(get, path = "/teams/{id}/members", tag = "teams", params(("id" = String, Path, description = "Team id or name")),
    responses((status = 200, body = Vec<MemberView>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<MemberView>>> {
    let team = find(&state, &caller, &id, Access::Read)?;
    let members = state
        .accounts
        .snapshot()
        .members(&team.id)
        .into_iter()
        .map(|(m, p)| member_view(m, p))
        .collect();
    Ok(Json(members))
}

/// Add a user or service account to a team, or change their role.
#[utoipa::path(put, path = "/teams/{id}/members/{principal}", tag = "teams", request_body = SetMember,
    params(("id" = String, Path, description = "Team id or name"), ("principal" = String, Path, description = "User or service account id or name")),
    responses((status = 200, body = MemberView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, principal)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetMember>,
) -> Result<Json<MemberView>> {
    let team = find(&state, &caller, &id, Access::Write)?;
    let (principal, current) = find_member(&state, &team, &principal)?;
    if body.role == TeamRole::Owner || current == Some(TeamRole::Owner) {
        require_owner(&caller, &team)?;
    }
    let m = state
        .accounts
        .set_membership(&team.id, &principal.id, body.role)
        .await?;
    Ok(Json(member_view(m, principal)))
}

/// Remove a member from a team.
#[utoipa::path(delete, path = "/teams/{id}/members/{principal}", tag = "teams",
    params(("id" = String, Path, description = "Team id or name"), ("principal" = String, Path, description = "User or service account id or name")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, principal)): Path<(String, String)>,
) -> Result<StatusCode> {
    let team = find(&state, &caller, &id, Access::Write)?;
    let (principal, current) = find_member(&state, &team, &principal)?;
    if current == Some(TeamRole::Owner) {
        require_owner(&caller, &team)?;
    }
    state
        .accounts
        .remove_membership(&team.id, &principal.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
