//! API keys (`/keys`): created for oneself or (by hub admins) for anyone, shown once.

use agenthub_policy::admin::{Access, Target};
use agenthub_policy::{Scope, Scopes};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, ListQuery, PageOf, nullable, parse_timestamp, require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::directory::{KeyPatch, NewKey};
use crate::error::{Error, Result};
use crate::model::{ApiKey, Millis, now_millis};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, update_key, delete_key))
        .routes(routes!(revoke_key))
}

/// An API key's metadata. The key itself is only ever returned by `POST /keys`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub owner_id: String,
    pub owner: String,
    /// The team the key's usage is charged to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub scopes: Vec<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// A newly created key, with its secret. Store it now: it is not shown again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedKey {
    /// The API key, `ahk_…`. Send it as `Authorization: Bearer …` or `x-api-key`.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A label for people, e.g. `laptop` or `ci`.
    pub name: String,
    /// Owner (user or service account id or name). Default: the caller.
    pub owner: Option<String>,
    /// Team (id or name) to charge the key's usage to; the owner must be a member.
    pub team: Option<String>,
    /// Scopes: `*`, `admin`, `admin:read`, `keys`, `llm`, `mcp`, `a2a`. Default:
    /// `llm`, `mcp`, `a2a`, `keys`. A key cannot be given scopes its creator lacks.
    pub scopes: Option<Vec<String>>,
    /// Expiry as an RFC 3339 time.
    pub expires_at: Option<String>,
    /// Expiry as a duration from now, e.g. `30d` or `12h`.
    pub expires_in: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// New expiry (RFC 3339); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Only keys of this owner (id or name). Hub admins see every key by default, others only
    /// their own.
    pub owner: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

pub fn view(state: &AppState, key: &ApiKey) -> KeyView {
    let snapshot = state.accounts.snapshot();
    let now = now_millis();
    let status = match (key.revoked_at, key.expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(t)) if t <= now => "expired",
        _ => "active",
    };
    KeyView {
        id: key.id.clone(),
        name: key.name.clone(),
        prefix: key.prefix.clone(),
        owner_id: key.principal_id.clone(),
        owner: snapshot
            .principal(&key.principal_id)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        team: key
            .team_id
            .as_ref()
            .and_then(|t| snapshot.team(t))
            .map(|t| t.name.clone()),
        scopes: key.scopes.names(),
        status: status.to_owned(),
        expires_at: key.expires_at.map(timestamp),
        created_at: timestamp(key.created_at),
        last_used_at: key.last_used().map(timestamp),
        revoked_at: key.revoked_at.map(timestamp),
    }
}

fn parse_scopes(caller: &Caller, names: Option<Vec<String>>) -> Result<Option<Scopes>> {
    let Some(names) = names else { return Ok(None) };
    let mut scopes = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        scopes.push(
            name.parse::<Scope>()
                .map_err(|e| Error::invalid_field(format!("scopes[{i}]"), e))?,
        );
    }
    if scopes.is_empty() {
        return Err(Error::invalid_field(
            "scopes",
            "a key needs at least one scope",
        ));
    }
    let scopes: Scopes = scopes.into_iter().collect();
    if !caller.scopes.covers(&scopes) {
        return Err(Error::new(
            agenthub_policy::ErrorKind::Forbidden,
            "a key cannot be given scopes that the credentials creating it do not have",
        ));
    }
    Ok(Some(scopes))
}

fn parse_expiry(at: Option<String>, within: Option<String>) -> Result<Option<Millis>> {
    let now = now_millis();
    let expires = match (at, within) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid("give expires_at or expires_in, not both"));
        }
        (Some(at), None) => Some(parse_timestamp("expires_at", &at)?),
        (None, Some(within)) => {
            let d = humantime::parse_duration(&within).map_err(|e| {
                Error::invalid_field(
                    "expires_in",
                    format!("expected a duration such as 30d or 12h: {e}"),
                )
            })?;
            Some(now.saturating_add(d.as_millis().min(i64::MAX as u128) as i64))
        }
        (None, None) => None,
    };
    match expires {
        Some(t) if t <= now => Err(Error::invalid_field("expires_at", "must be in the future")),
        other => Ok(other),
    }
}

/// Finds a key the caller may `access`. Callers who may not read it get 404.
fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
    access: Access,
) -> Result<std::sync::Arc<ApiKey>> {
    let not_found = || Error::not_found(format!("key \"{id}\""));
    let key = state
        .accounts
        .snapshot()
        .key(id)
        .cloned()
        .ok_or_else(not_found)?;
    let target = Target::KeysOf {
        principal_id: &key.principal_id,
    };
    if !caller.may(Access::Read, target) {
        return Err(not_found());
    }
    require(caller, access, target)?;
    if access == Access::Write {
        require_admin_for_admins(state, caller, &key.principal_id)?;
    }
    Ok(key)
}

/// The keys of a hub admin act as a hub admin: only hub admins (or that admin) may mint or
/// change them, whatever else a role may manage in `admin:keys`.
fn require_admin_for_admins(state: &AppState, caller: &Caller, owner_id: &str) -> Result<()> {
    let owner_is_admin = state
        .accounts
        .snapshot()
        .principal(owner_id)
        .is_some_and(|p| p.role == agenthub_policy::GlobalRole::Admin);
    let is_self = caller.principal_id.as_deref() == Some(owner_id);
    if owner_is_admin && !is_self && !caller.is_admin_with(Scope::Admin) {
        return Err(Error::forbidden());
    }
    Ok(())
}

/// A key may not give its own principal a key that outlives it, so that an expiring key that
/// leaks cannot make itself permanent: the expiry of a self-owned key is bounded by the
/// caller's, and inherits it when none is asked for. Sessions and keys without an expiry have
/// no bound.
fn bound_by_caller(
    state: &AppState,
    caller: &Caller,
    owner_id: &str,
    requested: Option<Millis>,
) -> Result<Option<Millis>> {
    if caller.principal_id.as_deref() != Some(owner_id) {
        return Ok(requested);
    }
    let limit = caller
        .key_id
        .as_deref()
        .and_then(|id| state.accounts.snapshot().key(id).and_then(|k| k.expires_at));
    match (requested, limit) {
        (None, limit) => Ok(limit),
        (Some(at), Some(limit)) if at > limit => Err(Error::invalid_field(
            "expires_at",
            format!(
                "must not be later than the expiry of the key making this request ({})",
                timestamp(limit)
            ),
        )),
        (requested, _) => Ok(requested),
    }
}

/// List keys.
#[utoipa::path(get, path = "/keys", tag = "keys", params(KeyListQuery), responses((status = 200, body = PageOf<KeyView>)))]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<KeyListQuery>,
) -> Result<Json<PageOf<KeyView>>> {
    let snapshot = state.accounts.snapshot();
    let all_keys = caller.may(Access::Read, Target::AllKeys);
    let owner = match &query.owner {
        Some(owner) => Some(match snapshot.principal(owner) {
            Some(p) => p.id.clone(),
            // Do not reveal whether a principal exists to callers who could not list its keys.
            None if !all_keys => return Err(Error::forbidden()),
            None => return Err(Error::not_found(format!("owner \"{owner}\""))),
        }),
        None if all_keys => None,
        None => Some(caller.principal_id.clone().ok_or_else(Error::forbidden)?),
    };
    if let Some(owner) = &owner {
        require(
            &caller,
            Access::Read,
            Target::KeysOf {
                principal_id: owner,
            },
        )?;
    }
    let paging = ListQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = snapshot.keys(
        owner.as_deref(),
        paging.after()?.as_deref(),
        paging.limit()?,
    );
    Ok(Json(PageOf::new(page, |k| view(&state, &k))))
}

/// Create a key. The response is the only time the key is shown.
#[utoipa::path(post, path = "/keys", tag = "keys", request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>)> {
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid_field("name", "must be 1-100 characters"));
    }
    let snapshot = state.accounts.snapshot();
    let owner = match &body.owner {
        Some(owner) => snapshot.principal(owner).cloned().ok_or_else(|| {
            Error::invalid_field("owner", format!("no user or service account \"{owner}\""))
        })?,
        None => caller
            .principal_id
            .as_deref()
            .and_then(|id| snapshot.principal(id))
            .cloned()
            .ok_or_else(|| {
                Error::invalid_field("owner", "required: these credentials have no principal")
            })?,
    };
    require(
        &caller,
        Access::Write,
        Target::KeysOf {
            principal_id: &owner.id,
        },
    )?;
    require_admin_for_admins(&state, &caller, &owner.id)?;
    let team_id = match &body.team {
        Some(team) => {
            let team = snapshot
                .team(team)
                .ok_or_else(|| Error::invalid_field("team", format!("no team \"{team}\"")))?;
            if !snapshot
                .members(&team.id)
                .iter()
                .any(|(_, p)| p.id == owner.id)
            {
                return Err(Error::invalid_field(
                    "team",
                    format!("{} is not a member of team {}", owner.name, team.name),
                ));
            }
            Some(team.id.clone())
        }
        None => None,
    };
    let scopes = parse_scopes(&caller, body.scopes)?.unwrap_or_else(Scopes::default_for_new_key);
    let expires_at = bound_by_caller(
        &state,
        &caller,
        &owner.id,
        parse_expiry(body.expires_at, body.expires_in)?,
    )?;
    let (key, secret) = state
        .accounts
        .create_key(NewKey {
            name,
            principal_id: owner.id,
            team_id,
            scopes,
            expires_at,
        })
        .await?;
    tracing::info!(key_id = %key.id, owner = %key.principal_id, by = %caller.subject(), "API key created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: secret,
            info: view(&state, &key),
        }),
    ))
}

/// Get a key's metadata.
#[utoipa::path(get, path = "/keys/{id}", tag = "keys", params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>> {
    let key = find(&state, &caller, &id, Access::Read)?;
    Ok(Json(view(&state, &key)))
}

/// Rename a key, change its scopes or expiry.
#[utoipa::path(patch, path = "/keys/{id}", tag = "keys", request_body = UpdateKey, params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn update_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateKey>,
) -> Result<Json<KeyView>> {
    let key = find(&state, &caller, &id, Access::Write)?;
    let name = body.name.map(|n| n.trim().to_owned());
    if name
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > 100)
    {
        return Err(Error::invalid_field("name", "must be 1-100 characters"));
    }
    let expires_at = match body.expires_at {
        Some(at) => {
            let at = match at {
                Some(at) => parse_expiry(Some(at), None)?,
                None => None,
            };
            Some(bound_by_caller(&state, &caller, &key.principal_id, at)?)
        }
        None => None,
    };
    let patch = KeyPatch {
        name,
        scopes: parse_scopes(&caller, body.scopes)?,
        expires_at,
        revoke: false,
    };
    let key = state.accounts.update_key(&key.id, patch).await?;
    Ok(Json(view(&state, &key)))
}

/// Revoke a key: it stops working at once and stays listed.
#[utoipa::path(post, path = "/keys/{id}/revoke", tag = "keys", params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>> {
    let key = find(&state, &caller, &id, Access::Write)?;
    let key = state
        .accounts
        .update_key(
            &key.id,
            KeyPatch {
                revoke: true,
                ..Default::default()
            },
        )
        .await?;
    tracing::info!(key_id = %key.id, by = %caller.subject(), "API key revoked");
    Ok(Json(view(&state, &key)))
}

/// Delete a key and its record.
#[utoipa::path(delete, path = "/keys/{id}", tag = "keys", params(("id" = String, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let key = find(&state, &caller, &id, Access::Write)?;
    state.accounts.delete_key(&key.id).await?;
    tracing::info!(key_id = %key.id, by = %caller.subject(), "API key deleted");
    Ok(StatusCode::NO_CONTENT)
}
