//! The model catalog through the admin API: `/providers`, `/models` and `/virtual-models`.
//! They are rules like the others (`governance.rs` serves them all): listed with their source,
//! stored ones editable, checked alone and then with everything in force. Bodies are the
//! configuration file's entries; a stored provider's credentials must be `secret:NAME`
//! references, since only the secret store is encrypted.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::governance::{
    Collection, MODELS, PROVIDERS, RuleView, VIRTUAL_MODELS, create, delete, get, list, replace,
};
use super::{ApiJson, ApiQuery, ListQuery, PageOf};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::Result;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(get_provider, replace_provider, delete_provider))
        .routes(routes!(list_models, create_model))
        .routes(routes!(get_model, replace_model, delete_model))
        .routes(routes!(list_virtual_models, create_virtual_model))
        .routes(routes!(
            get_virtual_model,
            replace_virtual_model,
            delete_virtual_model
        ))
}

async fn list_of(
    state: AppState,
    caller: Caller,
    c: Collection,
    query: ListQuery,
) -> Result<Json<PageOf<RuleView>>> {
    list(&state, &caller, c, &query)
}

/// List the model providers: the configuration file's, then the stored ones. Literal
/// credentials are shown as `<redacted>`.
#[utoipa::path(get, path = "/providers", tag = "models", params(ListQuery),
    responses((status = 200, body = PageOf<RuleView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_providers(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<RuleView>>> {
    list_of(state, caller, PROVIDERS, query).await
}

/// Store a provider account under its `name`: `kind` (openai, azure, anthropic, gemini,
/// vertex, bedrock, mistral, cohere, openai_compatible, groq, together, deepinfra, fireworks,
/// openrouter, ollama, vllm, sglang, tgi), `base_url`, `api_key: secret:NAME` or
/// `aws: {access_key_id, secret_access_key}` as `secret:NAME` references, `api_version`,
/// `region`, `project`, `headers`, `timeouts`.
#[utoipa::path(post, path = "/providers", tag = "models", request_body = Object,
    responses((status = 201, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_provider(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>)> {
    create(&state, &caller, PROVIDERS, body).await
}

/// Get a provider by name.
#[utoipa::path(get, path = "/providers/{name}", tag = "models", params(("name" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<RuleView>> {
    get(&state, &caller, PROVIDERS, &name)
}

/// Replace a stored provider.
#[utoipa::path(put, path = "/providers/{name}", tag = "models", request_body = Object, params(("name" = String, Path)),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>> {
    replace(&state, &caller, PROVIDERS, &name, body).await
}

/// Delete a stored provider (refused while a model uses it).
#[utoipa::path(delete, path = "/providers/{name}", tag = "models", params(("name" = String, Path)),
    responses((status = 204), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, PROVIDERS, &name).await
}

/// List the models: the configuration file's, then the stored ones.
#[utoipa::path(get, path = "/models", tag = "models", params(ListQuery),
    responses((status = 200, body = PageOf<RuleView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_models(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<RuleView>>> {
    list_of(state, caller, MODELS, query).await
}

/// Store a model under its `name`: `provider`, `model` (the provider's name for it), `kind`
/// (chat or embeddings), `price` (dollars per million tokens: input, output, cached_input,
/// cache_write_input), `context_window`, `max_output_tokens`, `structured_outputs`,
/// `unsupported`, `on_unsupported` (drop or reject).
#[utoipa::path(post, path = "/models", tag = "models", request_body = Object,
    responses((status = 201, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_model(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>)> {
    create(&state, &caller, MODELS, body).await
}

/// Get a model by name.
#[utoipa::path(get, path = "/models/{name}", tag = "models", params(("name" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<RuleView>> {
    get(&state, &caller, MODELS, &name)
}

/// Replace a stored model.
#[utoipa::path(put, path = "/models/{name}", tag = "models", request_body = Object, params(("name" = String, Path)),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>> {
    replace(&state, &caller, MODELS, &name, body).await
}

/// Delete a stored model (refused while a virtual model routes to it).
#[utoipa::path(delete, path = "/models/{name}", tag = "models", params(("name" = String, Path)),
    responses((status = 204), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, MODELS, &name).await
}

/// List the virtual models: the configuration file's, then the stored ones.
#[utoipa::path(get, path = "/virtual-models", tag = "models", params(ListQuery),
    responses((status = 200, body = PageOf<RuleView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_virtual_models(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<RuleView>>> {
    list_of(state, caller, VIRTUAL_MODELS, query).await
}

/// Store a virtual model under its `name`: `strategy` (priority, weight, latency or cost),
/// `targets` (`[{model, weight}]`), `sticky` (`{header}`).
#[utoipa::path(post, path = "/virtual-models", tag = "models", request_body = Object,
    responses((status = 201, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_virtual_model(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>)> {
    create(&state, &caller, VIRTUAL_MODELS, body).await
}

/// Get a virtual model by name.
#[utoipa::path(get, path = "/virtual-models/{name}", tag = "models", params(("name" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_virtual_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<RuleView>> {
    get(&state, &caller, VIRTUAL_MODELS, &name)
}

/// Replace a stored virtual model.
#[utoipa::path(put, path = "/virtual-models/{name}", tag = "models", request_body = Object, params(("name" = String, Path)),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_virtual_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>> {
    replace(&state, &caller, VIRTUAL_MODELS, &name, body).await
}

/// Delete a stored virtual model.
#[utoipa::path(delete, path = "/virtual-models/{name}", tag = "models", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_virtual_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, VIRTUAL_MODELS, &name).await
}
