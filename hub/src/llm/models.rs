//! `GET /v1/models` and `GET /v1/models/{id}`: the models the caller may use, in OpenAI's
//! format or, when the request carries `anthropic-version` (the Anthropic SDK always does),
//! in Anthropic's.

use agenthub_llm_router::catalog::{Catalog, Route};
use agenthub_llm_router::model::ModelInfo;
use agenthub_policy::ErrorKind;
use agenthub_policy::authz::Subjects;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::admission::may_invoke;
use super::routes::{Format, OPENAI};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::Error;

/// The models the caller may use (`invoke`), in configuration order: in Anthropic's format when
/// the request carries `anthropic-version` (the Anthropic SDK always does), else OpenAI's.
pub(super) async fn models(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
) -> Response {
    let format = listing_format(&headers);
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return format.error(error, HeaderMap::new()),
    };
    let catalog = state.governance.catalog();
    let subjects = Subjects::of(&caller.identity);
    let listed: Vec<ModelInfo> = catalog
        .routes()
        .filter(|route| may_invoke(&caller, &subjects, &route.name))
        .map(|route| model_info(&catalog, route))
        .collect();
    let body = match format {
        Format::OpenAi | Format::Responses => OPENAI.encode_models(&listed),
        Format::Anthropic => serde_json::json!({
            "data": listed.iter().map(anthropic_model).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": listed.first().map(|m| m.id.as_str()),
            "last_id": listed.last().map(|m| m.id.as_str()),
        }),
    };
    axum::Json(body).into_response()
}

/// One model, if the caller may use it (404 otherwise, as for a model that does not exist).
pub(super) async fn model(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let format = listing_format(&headers);
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return format.error(error, HeaderMap::new()),
    };
    let catalog = state.governance.catalog();
    let found = catalog
        .route(&name)
        .filter(|route| may_invoke(&caller, &Subjects::of(&caller.identity), &route.name));
    let Some(route) = found else {
        let error = Error::new(
            ErrorKind::NotFound,
            format!("the model \"{name}\" does not exist"),
        )
        .with_param("model");
        return format.error(error, HeaderMap::new());
    };
    let info = model_info(&catalog, route);
    let body = match format {
        Format::OpenAi | Format::Responses => serde_json::json!({
            "id": info.id, "object": "model", "created": info.created, "owned_by": info.owned_by,
        }),
        Format::Anthropic => anthropic_model(&info),
    };
    axum::Json(body).into_response()
}

fn listing_format(headers: &HeaderMap) -> Format {
    if headers.contains_key("anthropic-version") {
        Format::Anthropic
    } else {
        Format::OpenAi
    }
}

fn model_info(catalog: &Catalog, route: &Route) -> ModelInfo {
    ModelInfo {
        id: route.name.clone(),
        created: catalog.compiled_at(),
        owned_by: match route.targets.as_slice() {
            [(target, _)] if !route.is_virtual => target.provider.name.clone(),
            _ => "agenthub".to_owned(),
        },
    }
}

fn anthropic_model(info: &ModelInfo) -> serde_json::Value {
    serde_json::json!({
        "type": "model",
        "id": info.id,
        "display_name": info.id,
        "created_at": rfc3339(info.created),
    })
}

/// Unix seconds as RFC 3339 UTC (`2025-02-19T00:00:00Z`).
fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_739_923_200), "2025-02-19T00:00:00Z");
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
