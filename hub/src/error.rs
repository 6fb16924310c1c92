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
    /// The limit that refused the request, for `Retry-After` and `x-ratelimit-*`.
    limit: Option<Box<LimitFacts>>,
    limit_kind: Option<agenthub_policy::limits::LimitKind>,
    cause: Option<BoxError>,
}

/// What a rate limit or budget refusal tells the caller, on every plane: HTTP headers here,
/// the same facts in JSON-RPC and A2A error data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LimitFacts {
    /// The refusing rule.
    pub rule: String,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the limit is fully available again.
    pub reset_seconds: u64,
    /// Seconds until this request could be admitted.
    pub retry_after_seconds: u64,
}

impl LimitFacts {
    /// The standing of a limit that admitted a request, for the `x-ratelimit-*` headers of a
    /// successful response.
    pub fn of_quota(
        quota: &agenthub_policy::limits::Quota,
        now: agenthub_policy::limits::Timestamp,
    ) -> Self {
        Self {
            rule: quota.rule_id.to_string(),
            limit: quota.limit,
            remaining: quota.remaining,
            reset_seconds: quota.reset_after_secs(now),
            retry_after_seconds: 0,
        }
    }

    /// `x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset` (and `retry-after`
    /// when the request was refused).
    pub fn headers(&self) -> axum::http::HeaderMap {
        let mut headers = axum::http::HeaderMap::new();
        let mut put = |name: &'static str, value: u64| {
            headers.insert(
                axum::http::HeaderName::from_static(name),
                axum::http::HeaderValue::from(value),
            );
        };
        put("x-ratelimit-limit", self.limit);
        put("x-ratelimit-remaining", self.remaining);
        put("x-ratelimit-reset", self.reset_seconds);
        if self.retry_after_seconds > 0 {
            put("retry-after", self.retry_after_seconds);
        }
        headers
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            param: None,
            limit: None,
            limit_kind: None,
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

    /// A request refused by a rate limit or budget: 429 with `Retry-After` and `x-ratelimit-*`,
    /// or 400 when the request alone exceeds the limit (retrying cannot help).
    pub fn limited(
        rejection: &agenthub_policy::limits::Rejection,
        now: agenthub_policy::limits::Timestamp,
    ) -> Self {
        let mut facts = LimitFacts::of_quota(&rejection.quota, now);
        if !rejection.exceeds_limit {
            facts.retry_after_seconds = rejection.retry_after_secs();
        }
        let mut error = Self::new(rejection.error_kind(), rejection.message());
        error.limit = Some(Box::new(facts));
        error.limit_kind = Some(rejection.kind);
        error
    }

    /// Whether a rate limit or a budget refused the request (for records and metrics).
    pub fn limit_kind(&self) -> Option<agenthub_policy::limits::LimitKind> {
        self.limit_kind
    }

    /// The limit facts of a refusal, for planes that answer in JSON-RPC or A2A.
    pub fn limit_facts(&self) -> Option<&LimitFacts> {
        self.limit.as_deref()
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

    /// The request field at fault.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
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
    /// The limit that refused the request (rate limits and budgets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitFacts>,
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
                limit: self.limit.as_deref().cloned(),
            },
        };
        let mut response = (status_of(self.kind), Json(body)).into_response();
        if let Some(limit) = &self.limit {
            response.headers_mut().extend(limit.headers());
        }
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
    async fn limit_refusals_carry_retry_after_and_ratelimit_headers() {
        use agenthub_policy::limits::{Limits, LimitsConfig, Timestamp, Usage};
        use agenthub_policy::when::{Plane, RequestFacts};
        let config: LimitsConfig = serde_json::from_value(serde_json::json!({
            "rate_limits": [{"id": "per-user", "limit_to": 2, "unit": "requests_per_minute", "applies_per": "user"}],
            "budgets": [{"id": "tiny", "cost_per_day": 0.01}]
        }))
        .unwrap();
        let limits = Limits::new(&config, "test").unwrap();
        let identity =
            agenthub_policy::Identity::named(agenthub_policy::SubjectKind::User, "alice");
        let metadata = Default::default();
        let facts = RequestFacts {
            identity: &identity,
            plane: Plane::Llm,
            model: Some("m"),
            tool: None,
            agent: None,
            metadata: &metadata,
        };
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        let small = Usage {
            tokens: 1,
            cost: Default::default(),
        };
        for _ in 0..2 {
            limits.check(&facts, small, now).unwrap().charge(small, now);
        }
        let refused = limits.check(&facts, small, now).unwrap_err();
        let response = Error::limited(&refused, now).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(header("x-ratelimit-limit").as_deref(), Some("2"));
        assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
        let retry: u64 = header("retry-after").unwrap().parse().unwrap();
        // A minute's window, released slot by slot (a sixtieth of it) late at most.
        assert!((1..=61).contains(&retry), "retry-after {retry}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["type"], "rate_limited");
        assert_eq!(body["error"]["retryable"], true);
        assert_eq!(body["error"]["limit"]["rule"], "per-user");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("\"per-user\"")
        );

        // A request bigger than the whole budget can never pass: 400, no Retry-After.
        let huge = Usage {
            tokens: 1,
            cost: agenthub_policy::limits::Usd::from_cents(100),
        };
        let other = agenthub_policy::Identity {
            name: "bob".into(),
            ..identity.clone()
        };
        let facts = RequestFacts {
            identity: &other,
            ..facts
        };
        let refused = limits.check(&facts, huge, now).unwrap_err();
        let response = Error::limited(&refused, now).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get("retry-after").is_none());
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
