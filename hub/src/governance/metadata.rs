//! `x-agenthub-metadata`: what a client says about a request for rules (`when.metadata`,
//! `applies_per: metadata.<key>`) and logs, on every plane.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::{ConfigHandle, MetadataErrors};
use crate::error::Error;

const METADATA: HeaderName = HeaderName::from_static("x-agenthub-metadata");
const WARNINGS: HeaderName = HeaderName::from_static("x-agenthub-warnings");

/// With `telemetry.metadata_errors: ignore`, a malformed `x-agenthub-metadata` is taken off
/// the request before any plane reads it, and the answer says so in `x-agenthub-warnings`.
/// (With `reject`, the default, each plane answers 400 in its own format.)
pub async fn lenient(
    State(config): State<ConfigHandle>,
    mut request: Request,
    next: Next,
) -> Response {
    let ignored = match request.headers().get(&METADATA) {
        Some(_) if config.snapshot().telemetry.metadata_errors == MetadataErrors::Ignore => {
            request_metadata(request.headers()).err()
        }
        _ => None,
    };
    if ignored.is_some() {
        request.headers_mut().remove(&METADATA);
    }
    let mut response = next.run(request).await;
    if let Some(error) = ignored {
        let note = format!("x-agenthub-metadata ignored: {}", error.message());
        let value = match response
            .headers()
            .get(&WARNINGS)
            .and_then(|v| v.to_str().ok())
        {
            Some(earlier) => format!("{earlier}; {note}"),
            None => note,
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(WARNINGS, value);
        }
    }
    response
}

/// The largest `x-agenthub-metadata` header accepted.
const MAX_METADATA_BYTES: usize = 4096;

/// `x-agenthub-metadata`: a JSON object of strings (numbers and booleans are taken as text).
pub fn request_metadata(headers: &HeaderMap) -> Result<BTreeMap<String, String>, Error> {
    let Some(value) = headers.get("x-agenthub-metadata") else {
        return Ok(BTreeMap::new());
    };
    let bad = |why: &str| Error::invalid_field("x-agenthub-metadata", why);
    if value.len() > MAX_METADATA_BYTES {
        return Err(bad("is larger than 4096 bytes"));
    }
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(value.as_bytes()).map_err(|_| bad("must be a JSON object"))?;
    parsed
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => Ok((key, text)),
            serde_json::Value::Number(n) => Ok((key, n.to_string())),
            serde_json::Value::Bool(b) => Ok((key, b.to_string())),
            _ => Err(bad("values must be strings, numbers or booleans")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn metadata_is_a_small_object_of_scalars() {
        let mut headers = HeaderMap::new();
        assert!(request_metadata(&headers).unwrap().is_empty());
        headers.insert(
            "x-agenthub-metadata",
            HeaderValue::from_static(r#"{"project":"x","n":2,"b":true}"#),
        );
        let found = request_metadata(&headers).unwrap();
        assert_eq!(found["project"], "x");
        assert_eq!(found["n"], "2");
        assert_eq!(found["b"], "true");
        for bad in [r#"["x"]"#, r#"{"a":{"b":1}}"#, "not json"] {
            headers.insert("x-agenthub-metadata", HeaderValue::from_str(bad).unwrap());
            let error = request_metadata(&headers).unwrap_err();
            assert_eq!(error.param(), Some("x-agenthub-metadata"), "{bad}");
        }
    }

    /// `ignore` takes a malformed header off the request and warns; a good one passes.
    #[tokio::test]
    async fn a_malformed_header_can_be_ignored_with_a_warning() {
        use axum::Router;
        use axum::body::Body;
        use axum::routing::get;
        use tower::ServiceExt;

        let mut config = crate::config::HubConfig::default();
        config.telemetry.metadata_errors = MetadataErrors::Ignore;
        let app = Router::new()
            .route(
                "/",
                get(|headers: HeaderMap| async move {
                    request_metadata(&headers)
                        .map(|m| m.len().to_string())
                        .unwrap_or_else(|e| e.message().to_owned())
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                ConfigHandle::new(config),
                lenient,
            ));
        for (header, body, warned) in [("not json", "0", true), (r#"{"a":"b"}"#, "1", false)] {
            let request = axum::http::Request::get("/")
                .header("x-agenthub-metadata", header)
                .body(Body::empty())
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(
                response.headers().contains_key(&WARNINGS),
                warned,
                "{header}"
            );
            if warned {
                assert_eq!(
                    response.headers()[&WARNINGS],
                    "x-agenthub-metadata ignored: x-agenthub-metadata: must be a JSON object"
                );
            }
            let bytes = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(bytes, body, "{header}");
        }
    }
}
