//! The admin REST API under `/api/v1`, and its OpenAPI document generated from the handlers.
//!
//! Handlers are thin: they check the caller's access with `policy::admin`, call the directory,
//! and map core records to the wire types defined beside them. Reads are served from the
//! in-memory snapshot; writes go through the store and answer 503 while it is unreachable.

mod agents;
mod audit;
mod catalog;
mod checks;
mod governance;
mod keys;
mod mcp;
mod mcp_grants;
mod principals;
mod requests;
mod secrets;
mod teams;
mod traces;

pub use checks::{AuthzCheckView, FindingView, InspectionView, LimitUsageView, UsageView};
pub use governance::{RuleSource, RuleView};
pub use keys::{CreatedKey, KeyView};
pub use principals::{MeView, PrincipalView};
pub use secrets::SecretView;
pub use teams::{MemberView, TeamView};

use agenthub_policy::admin::{Access, Target};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::Millis;

#[derive(OpenApi)]
#[openapi(
    info(title = "agenthub admin API", description = "Users, teams, service accounts, API keys, secrets, and governance: policies, roles, rate limits, budgets and guardrails."),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("api_key" = [])),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
    }
}

/// Where the admin API is served.
pub const PREFIX: &str = "/api/v1";

/// The admin API routes (under [`PREFIX`]) and their OpenAPI document, whose paths are the
/// full paths clients call.
pub fn router() -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .merge(principals::router())
        .merge(teams::router())
        .merge(keys::router())
        .merge(secrets::router())
        .merge(governance::router())
        .merge(catalog::router())
        .merge(mcp::router())
        .merge(agents::router())
        .merge(traces::router())
        .merge(requests::router())
        .merge(audit::router())
        .merge(mcp_grants::router())
        .merge(checks::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(PREFIX, routes)
}

/// A JSON request body. Unlike axum's `Json`, its rejections use the hub's error shape and name
/// the offending field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(Error::invalid(
                "expected a JSON body with content-type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| {
                let kind = if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    agenthub_policy::ErrorKind::PayloadTooLarge
                } else {
                    agenthub_policy::ErrorKind::InvalidRequest
                };
                Error::new(
                    kind,
                    format!("cannot read the request body: {}", e.body_text()),
                )
            })?;
        // serde would also accept an array for a struct; the API only speaks objects.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(Error::invalid("the request body must be a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| body_error(&e))?;
        de.end()
            .map_err(|e| Error::invalid(format!("invalid JSON: {e}")))?;
        Ok(Self(value))
    }
}

fn body_error(e: &serde_path_to_error::Error<serde_json::Error>) -> Error {
    let inner = e.inner();
    if inner.is_syntax() || inner.is_eof() {
        return Error::invalid(format!("invalid JSON: {inner}"));
    }
    field_error("request body", e.path(), inner.to_string())
}

/// A query string. Unlike axum's `Query`, its rejections use the hub's error shape and name
/// the offending parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self> {
        let rejection = match axum::extract::Query::try_from_uri(&parts.uri) {
            Ok(axum::extract::Query(value)) => return Ok(Self(value)),
            Err(rejection) => rejection,
        };
        // axum's rejection wraps serde_path_to_error's error, which knows the parameter.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
        while let Some(e) = source {
            if let Some(e) = e.downcast_ref::<serde_path_to_error::Error<serde::de::value::Error>>()
            {
                return Err(field_error("query string", e.path(), e.inner().to_string()));
            }
            source = e.source();
        }
        Err(Error::invalid(rejection.body_text()))
    }
}

/// Reads a JSON value (e.g. a body already parsed as an object) as `T`, with the same errors as
/// [`ApiJson`]: the offending field in `param`.
pub fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| field_error("request body", e.path(), e.inner().to_string()))
}

/// A request that parsed but does not fit the expected shape: names the field in `param`.
fn field_error(whole: &str, path: &serde_path_to_error::Path, message: String) -> Error {
    // serde's message ends with " at line L column C", which means nothing to API callers.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    // The path ends with the offending key, unknown keys included.
    let path = path.to_string();
    if path == "." {
        Error::invalid(format!("invalid {whole}: {message}"))
    } else {
        Error::invalid_field(path, message)
    }
}

/// Pagination of list endpoints: at most `limit` items after the opaque `cursor`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1–500 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    pub fn limit(&self) -> Result<usize> {
        match self.limit {
            None => Ok(50),
            Some(n @ 1..=500) => Ok(n),
            Some(_) => Err(Error::invalid_field("limit", "must be between 1 and 500")),
        }
    }

    pub fn after(&self) -> Result<Option<String>> {
        self.cursor
            .as_deref()
            .map(|c| {
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        Error::invalid_field("cursor", "not a cursor returned by this API")
                    })
            })
            .transpose()
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> PageOf<T> {
    pub fn new<U>(page: crate::directory::Page<U>, map: impl Fn(U) -> T) -> Self {
        Self {
            data: page.items.into_iter().map(map).collect(),
            next_cursor: page.next.map(|n| URL_SAFE_NO_PAD.encode(n)),
        }
    }
}

/// Fails with 403 unless the caller may perform `access` on `target`.
pub fn require(caller: &Caller, access: Access, target: Target<'_>) -> Result<()> {
    if caller.may(access, target) {
        Ok(())
    } else {
        Err(Error::forbidden())
    }
}

/// Timestamps on the wire: RFC 3339 in UTC with milliseconds.
pub fn timestamp(millis: Millis) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

pub fn parse_timestamp(field: &str, text: &str) -> Result<Millis> {
    let time = humantime::parse_rfc3339_weak(text).map_err(|e| {
        Error::invalid_field(
            field,
            format!("expected an RFC 3339 time such as 2027-01-31T00:00:00Z: {e}"),
        )
    })?;
    let millis = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::invalid_field(field, "before 1970"))?;
    Ok(millis.as_millis() as Millis)
}

/// Names of users, service accounts and teams: 1–64 characters of letters, digits, `.`, `_`,
/// `-` and `@`, starting with a letter or digit, and not shaped like an id.
pub fn validate_name(field: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        && uuid::Uuid::parse_str(name).is_err();
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_field(
            field,
            format!(
                "invalid name \"{name}\": use 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
            ),
        ))
    }
}

/// Optional text fields: trimmed, empty means absent, length bounded.
pub fn optional_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max => Err(Error::invalid_field(
            field,
            format!("longer than {max} characters"),
        )),
        other => Ok(other),
    }
}

/// Deserializes a field that may be absent (leave unchanged), `null` (clear) or a value.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "alice",
            "a",
            "billing-agent",
            "alice@example.com",
            "team.ml_2",
        ] {
            validate_name("name", ok).unwrap();
        }
        for bad in [
            "",
            "-x",
            "has space",
            "ünïcode",
            &"x".repeat(65),
            "0190a0e4-7b1c-7cc3-98e0-6d0d4c1f4a3b",
        ] {
            assert!(validate_name("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse_timestamp("t", "2027-01-31T12:00:00Z").unwrap();
        assert_eq!(timestamp(t), "2027-01-31T12:00:00.000Z");
        assert!(
            parse_timestamp("expires_at", "tomorrow")
                .unwrap_err()
                .message()
                .starts_with("expires_at: ")
        );
    }
}
