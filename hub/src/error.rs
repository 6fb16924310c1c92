//! The hub's one error type and the one place it becomes an HTTP response.

use std::borrow::Cow;
use std::fmt;

use agenthub_policy::ErrorKind;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error with its classification, a message safe to show the caller, and its cause.
///
/// Internal causes are logged, never sent: for [`ErrorKind::Internal`] the caller sees a generic
/// message whatever `message` says.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    /// The request field the error is about (`param` in the body).
    param: Option<String>,
    cause: Option<BoxError>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            param: None,
            cause: None,
        }
    }

    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// An invalid field: the message names it and `param` carries it.
    pub fn invalid_field(param: impl Into<String>, message: impl fmt::Display) -> Self {
        let param = param.into();
        Self::new(ErrorKind::InvalidRequest, format!("{param}: {message}")).with_param(param)
    }

    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn forbidden() -> Self {
        Self::new(
            ErrorKind::Forbidden,
            "the credentials used do not allow this operation",
        )
    }

    /// The same answer whether the key is missing, unknown, expired or revoked, so that a
    /// caller cannot probe which keys exist.
    pub fn unauthenticated() -> Self {
        Self::new(ErrorKind::Unauthenticated, "missing or invalid credentials")
    }

    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Internal, "internal error").with_cause(cause)
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_cause(mut self, cause: impl Into<BoxError>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The HTTP status of each error class. The only such table in the hub.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::UpstreamFailed => StatusCode::BAD_GATEWAY,
        ErrorKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON body of every error the hub answers: `{"error": {...}}`, shaped like OpenAI's so
/// that SDKs surface the message.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Human-readable description of what went wrong.
    pub message: String,
    /// Stable error class, e.g. `invalid_request`, `not_found`, `unavailable`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field the error is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Whether sending the same request again may succeed.
    pub retryable: bool,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let message = match self.kind {
            ErrorKind::Internal => {
                tracing::error!(error = %self, "internal error");
                "internal error".to_owned()
            }
            ErrorKind::Unavailable => {
                tracing::warn!(error = %self, "dependency unavailable");
                self.message.into_owned()
            }
            _ => self.message.into_owned(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                message,
                kind: self.kind.as_str().to_owned(),
                param: self.param,
                retryable: self.kind.is_retryable(),
            },
        };
        let mut response = (status_of(self.kind), Json(body)).into_response();
        if self.kind == ErrorKind::Unauthenticated {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"agenthub\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(err: Error) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn internal_details_never_reach_the_body() {
        let err = Error::internal(std::io::Error::other("disk /secret/path exploded"));
        let (status, body) = body_of(err).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "internal error");
        assert!(!body.to_string().contains("/secret/path"));
    }

    #[tokio::test]
    async fn field_errors_carry_the_param() {
        let (status, body) =
            body_of(Error::invalid_field("scopes[1]", "unknown scope \"x\"")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["param"], "scopes[1]");
        assert_eq!(body["error"]["type"], "invalid_request");
        assert_eq!(body["error"]["message"], "scopes[1]: unknown scope \"x\"");
        assert_eq!(body["error"]["retryable"], false);
    }
}
