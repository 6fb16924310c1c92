//! Secrets (`/secrets`): write-only values, sealed at rest; only metadata is ever returned.

use agenthub_policy::admin::{Access, Target};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, ListQuery, PageOf, optional_text, require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::SecretMeta;

const MAX_VALUE_BYTES: usize = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_secrets, create_secret))
        .routes(routes!(get_secret, put_secret, delete_secret))
}

/// A secret's metadata. Reference it from configuration as `secret:<name>`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fingerprint of the master key the value is sealed under.
    pub key_id: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSecret {
    pub name: String,
    /// The secret value. Never returned by the API.
    pub value: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// The new value. Never returned by the API.
    pub value: String,
    pub description: Option<String>,
}

fn view(meta: SecretMeta) -> SecretView {
    SecretView {
        name: meta.name,
        description: meta.description,
        key_id: meta.key_id,
        created_at: timestamp(meta.created_at),
        updated_at: timestamp(meta.updated_at),
    }
}

fn check_value(value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid_field("value", "must not be empty"));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid_field(
            "value",
            format!("larger than {MAX_VALUE_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    crate::secrets::validate_name(name).map_err(|e| Error::invalid_field("name", e))
}

/// List secrets (metadata only).
#[utoipa::path(get, path = "/secrets", tag = "secrets", params(ListQuery), responses((status = 200, body = PageOf<SecretView>)))]
async fn list_secrets(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<SecretView>>> {
    require(&caller, Access::Read, Target::Secrets)?;
    let page = state
        .accounts
        .snapshot()
        .secrets(query.after()?.as_deref(), query.limit()?);
    Ok(Json(PageOf::new(page, view)))
}

/// Create a secret. Fails with 409 if the name is taken (use PUT to replace a value).
#[utoipa::path(post, path = "/secrets", tag = "secrets", request_body = CreateSecret,
    responses((status = 201, body = SecretView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_secret(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateSecret>,
) -> Result<(StatusCode, Json<SecretView>)> {
    require(&caller, Access::Write, Target::Secrets)?;
    check_name(&body.name)?;
    check_value(&body.value)?;
    if state.accounts.snapshot().secret(&body.name).is_some() {
        return Err(Error::conflict(format!(
            "a secret named \"{}\" already exists",
            body.name
        )));
    }
    let description = optional_text("description", body.description, 1000)?;
    let meta = state
        .accounts
        .put_secret(&body.name, description, &body.value, true)
        .await?;
    tracing::info!(secret = %meta.name, by = %caller.subject(), "secret created");
    Ok((StatusCode::CREATED, Json(view(meta))))
}

/// Get a secret's metadata (never its value).
#[utoipa::path(get, path = "/secrets/{name}", tag = "secrets", params(("name" = String, Path)),
    responses((status = 200, body = SecretView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<SecretView>> {
    require(&caller, Access::Read, Target::Secrets)?;
    let sealed = state
        .accounts
        .snapshot()
        .secret(&name)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("secret \"{name}\"")))?;
    Ok(Json(view(sealed.meta)))
}

/// Create or replace a secret's value.
#[utoipa::path(put, path = "/secrets/{name}", tag = "secrets", request_body = PutSecret, params(("name" = String, Path)),
    responses((status = 200, body = SecretView), (status = 400, body = crate::error::ErrorBody)))]
async fn put_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PutSecret>,
) -> Result<Json<SecretView>> {
    require(&caller, Access::Write, Target::Secrets)?;
    check_name(&name)?;
    check_value(&body.value)?;
    let description = match body.description {
        Some(d) => optional_text("description", Some(d), 1000)?,
        None => state
            .accounts
            .snapshot()
            .secret(&name)
            .and_then(|s| s.meta.description.clone()),
    };
    let meta = state
        .accounts
        .put_secret(&name, description, &body.value, false)
        .await?;
    tracing::info!(secret = %meta.name, by = %caller.subject(), "secret value set");
    Ok(Json(view(meta)))
}

/// Delete a secret.
#[utoipa::path(delete, path = "/secrets/{name}", tag = "secrets", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    require(&caller, Access::Write, Target::Secrets)?;
    state.accounts.delete_secret(&name).await?;
    tracing::info!(secret = %name, by = %caller.subject(), "secret deleted");
    Ok(StatusCode::NO_CONTENT)
}
