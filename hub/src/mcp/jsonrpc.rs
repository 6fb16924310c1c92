//! JSON-RPC's own answers to bodies the MCP service cannot read. rmcp refuses a body that is
//! not a JSON-RPC message with a bare 415; clients expect `-32700` (not JSON) or `-32600` (JSON,
//! but not a request), so the body is kept (cheaply: `Bytes` are shared) and, on that refusal
//! only, classified. Bodies over `mcp.limits.max_request_bytes` are refused before that.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Runs `request` through the MCP service; a JSON body it could not read gets a JSON-RPC error.
pub async fn answer_unreadable(request: Request, next: Next, max_bytes: usize) -> Response {
    let is_json_post = request.method() == axum::http::Method::POST
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !is_json_post {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, max_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::Null,
                -32600,
                format!(
                    "the request is larger than mcp.limits.max_request_bytes ({max_bytes} bytes)"
                ),
            );
        }
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    if response.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return response;
    }
    classify(&bytes)
}

/// The JSON-RPC error for a body the service refused.
fn classify(bytes: &Bytes) -> Response {
    match serde_json::from_slice::<Value>(bytes) {
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32700,
            format!("parse error: the body is not JSON: {e}"),
        ),
        Ok(value) => {
            let id = match value.get("id") {
                Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
                _ => Value::Null,
            };
            error(
                StatusCode::BAD_REQUEST,
                id,
                -32600,
                "invalid request: not a JSON-RPC 2.0 request, notification or response \
                 (jsonrpc \"2.0\", and a method or a result or error)"
                    .to_owned(),
            )
        }
    }
}

fn error(status: StatusCode, id: Value, code: i64, message: String) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn unreadable_bodies_are_classified() {
        // (body, HTTP status, JSON-RPC code, id)
        let cases = [
            (
                "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ",
                400,
                -32700,
                Value::Null,
            ),
            ("[1, 2", 400, -32700, Value::Null),
            ("{\"jsonrpc\": \"2.0\", \"id\": 7}", 400, -32600, json!(7)),
            ("{\"id\": \"a\", \"method\": 3}", 400, -32600, json!("a")),
            ("{\"id\": {\"x\": 1}}", 400, -32600, Value::Null),
        ];
        for (body, status, code, id) in cases {
            let response = classify(&Bytes::from_static(body.as_bytes()));
            assert_eq!(response.status().as_u16(), status, "{body}");
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let message: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(message["error"]["code"], code, "{body}");
            assert_eq!(message["id"], id, "{body}");
        }
    }
}
