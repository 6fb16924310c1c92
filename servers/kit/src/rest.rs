//! Calls to a service's REST API: its credentials on every request (a refused OAuth token
//! renewed and the request sent again, once), a 429 waited out as the service says
//! (`Retry-After`, or a service's own reset header) at most [`Retries::attempts`] times and
//! never longer than [`Retries::max_wait`], and each failure classified once into a
//! [`Failure`] whose message names the service and what to do.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::Value;

use crate::credentials::Credentials;

/// How 429s are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Attempts after the first.
    pub attempts: u32,
    /// The longest single wait; a service asking for more is answered with a failure.
    pub max_wait: Duration,
    /// The wait when the service gives none.
    pub default_wait: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            attempts: 3,
            max_wait: Duration::from_secs(30),
            default_wait: Duration::from_secs(1),
        }
    }
}

/// A service's answer that was not a success, or no answer at all.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The service did not answer, timed out, or failed (5xx).
    Unavailable {
        service: &'static str,
        detail: String,
    },
    /// Still rate-limited after the retries allowed, or asked to wait too long.
    RateLimited {
        service: &'static str,
        wait: Option<Duration>,
    },
    /// Any other 4xx: `message` is the service's own, for the model to act on.
    Refused {
        service: &'static str,
        status: StatusCode,
        message: String,
    },
    /// A success whose body was not the documented shape.
    Unexpected {
        service: &'static str,
        detail: String,
    },
    /// There was no credential to send (the user has not granted access, or their grant was
    /// revoked); nothing was sent.
    NoCredentials {
        service: &'static str,
        detail: String,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable { service, detail } => {
                write!(f, "{service} is unavailable ({detail}); try again later")
            }
            Self::RateLimited {
                service,
                wait: Some(wait),
            } => write!(
                f,
                "{service} is rate-limiting these calls; try again in {} s",
                wait.as_secs().max(1)
            ),
            Self::RateLimited {
                service,
                wait: None,
            } => {
                write!(f, "{service} is rate-limiting these calls; try again later")
            }
            Self::Refused {
                service,
                status,
                message,
            } => write!(f, "{service} refused the call ({status}): {message}"),
            Self::Unexpected { service, detail } => {
                write!(f, "{service} answered in an unexpected shape: {detail}")
            }
            Self::NoCredentials { service, detail } => {
                write!(
                    f,
                    "{service} cannot be called without credentials: {detail}"
                )
            }
        }
    }
}

impl std::error::Error for Failure {}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The JSON body; `Null` when there is none (204).
    pub body: Value,
}

/// The service's wait hint on a 429, when it is not `Retry-After`.
pub type WaitHint = fn(&HeaderMap) -> Option<Duration>;

/// Whether a successful answer says the token was refused (Slack answers 200 with
/// `ok: false`), for services that do not answer 401.
pub type RefusedToken = fn(&Value) -> bool;

/// One service's API.
#[derive(Clone)]
pub struct Rest {
    service: &'static str,
    base: String,
    client: reqwest::Client,
    credentials: Credentials,
    retries: Retries,
    wait_hint: Option<WaitHint>,
    refused_token: Option<RefusedToken>,
    max_body: usize,
}

/// The largest answer read from a service; the servers run inside the hub, whose memory a
/// runaway answer would take.
pub const MAX_BODY: usize = 16 << 20;

impl Rest {
    /// `base` is the API's root (no trailing slash needed); `credentials` go with every
    /// request.
    pub fn new(
        service: &'static str,
        base: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        // reqwest is built without a TLS provider of its own (one, ring, for the workspace).
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Redirects are not followed: an address that was vetted could send the call anywhere.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("agenthub-mcp/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            service,
            base: base.trim_end_matches('/').to_owned(),
            client,
            credentials,
            retries: Retries::default(),
            wait_hint: None,
            refused_token: None,
            max_body: MAX_BODY,
        })
    }

    pub fn with_retries(mut self, retries: Retries) -> Self {
        self.retries = retries;
        self
    }

    /// Answers longer than `bytes` are refused.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The service says how long to wait on a 429 with a header of its own.
    pub fn with_wait_hint(mut self, hint: WaitHint) -> Self {
        self.wait_hint = Some(hint);
        self
    }

    /// The service says in successful answers of its own shape that it refused the token.
    pub fn with_refused_token(mut self, refused: RefusedToken) -> Self {
        self.refused_token = Some(refused);
        self
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET base + path` with `query`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Reply, Failure> {
        self.send(Method::GET, path, query, None).await
    }

    /// Sends one request, waiting out 429s as allowed. `describe` is not needed here: a 4xx
    /// body's message is taken from the usual fields (`detail`, `error`, `errorMessages`,
    /// `errors`, `message`).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, Failure> {
        let mut url = reqwest::Url::parse(&format!("{}{}", self.base, path)).map_err(|e| {
            Failure::Unexpected {
                service: self.service,
                detail: format!("cannot make a URL of {path:?}: {e}"),
            }
        })?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut attempt = 0;
        // A refused token is renewed once per call: a second refusal is the service's word.
        let mut renewed = false;
        loop {
            let (authorization, sent) =
                self.credentials.authorization().await.map_err(|detail| {
                    Failure::NoCredentials {
                        service: self.service,
                        detail,
                    }
                })?;
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .header(header::ACCEPT, HeaderValue::from_static("application/json"))
                .header(header::AUTHORIZATION, authorization);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| self.unreachable(&e))?;
            let status = response.status();
            let headers = response.headers().clone();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(&headers)
                    .or_else(|| self.wait_hint.and_then(|hint| hint(&headers)));
                // Never an immediate retry: "0" or a reset already past still waits a little.
                let wait_now = wait
                    .unwrap_or(self.retries.default_wait)
                    .max(Duration::from_millis(100));
                if attempt >= self.retries.attempts || wait_now > self.retries.max_wait {
                    return Err(Failure::RateLimited {
                        service: self.service,
                        wait,
                    });
                }
                attempt += 1;
                tracing::info!(
                    service = self.service,
                    wait_ms = wait_now.as_millis() as u64,
                    attempt,
                    "rate-limited; waiting as asked"
                );
                tokio::time::sleep(wait_now).await;
                continue;
            }
            let bytes = self.body(response).await?;
            if status == StatusCode::UNAUTHORIZED
                && !renewed
                && self.credentials.refused(&sent).await
            {
                renewed = true;
                continue;
            }
            if status.is_server_error() {
                return Err(Failure::Unavailable {
                    service: self.service,
                    detail: format!("it answered {status}"),
                });
            }
            if status.is_redirection() {
                let location = headers
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("?");
                return Err(Failure::Unexpected {
                    service: self.service,
                    detail: format!(
                        "a redirect ({status}) to {location}, which is not followed; check the service's base URL"
                    ),
                });
            }
            let parsed = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&bytes).chars().take(500).collect())
                })
            };
            if status.is_success()
                && !renewed
                && self.refused_token.is_some_and(|refused| refused(&parsed))
                && self.credentials.refused(&sent).await
            {
                renewed = true;
                continue;
            }
            if status.is_client_error() {
                return Err(Failure::Refused {
                    service: self.service,
                    status,
                    message: message_of(&parsed).unwrap_or_else(|| {
                        status.canonical_reason().unwrap_or("refused").to_owned()
                    }),
                });
            }
            return Ok(Reply {
                status,
                headers,
                body: parsed,
            });
        }
    }

    /// The answer's body, read up to the limit.
    async fn body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(&e))? {
            if body.len() + chunk.len() > self.max_body {
                return Err(self.unexpected(format!(
                    "an answer longer than {} bytes, which is not read",
                    self.max_body
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn unreachable(&self, e: &reqwest::Error) -> Failure {
        let detail = if e.is_timeout() {
            "it did not answer in time".to_owned()
        } else if e.is_connect() {
            "it cannot be reached".to_owned()
        } else {
            "the connection failed".to_owned()
        };
        Failure::Unavailable {
            service: self.service,
            detail,
        }
    }

    /// A failure for a success whose body lacked what the documentation promises.
    pub fn unexpected(&self, detail: impl Into<String>) -> Failure {
        Failure::Unexpected {
            service: self.service,
            detail: detail.into(),
        }
    }
}

/// `Retry-After` in seconds (what Slack and Jira send); an HTTP date is not honoured.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds = value.parse::<f64>().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// The message of a 4xx body, in the fields Slack, Jira and Sentry use.
pub fn message_of(body: &Value) -> Option<String> {
    if let Some(text) = body.as_str() {
        return Some(text.to_owned());
    }
    let mut parts = Vec::new();
    for field in ["detail", "error", "message"] {
        if let Some(text) = body.get(field).and_then(Value::as_str) {
            parts.push(text.to_owned());
        }
    }
    if let Some(messages) = body.get("errorMessages").and_then(Value::as_array) {
        parts.extend(messages.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if let Some(errors) = body.get("errors").and_then(Value::as_object) {
        parts.extend(errors.iter().map(|(field, why)| match why.as_str() {
            Some(why) => format!("{field}: {why}"),
            None => format!("{field}: {why}"),
        }));
    }
    if parts.is_empty()
        && let Some(fields) = body.as_object()
    {
        // Field-keyed validation errors: {"status": ["\"x\" is not a valid choice."]}.
        parts.extend(fields.iter().filter_map(|(field, why)| {
            let first = why.as_array()?.first()?.as_str()?;
            Some(format!("{field}: {first}"))
        }));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_are_found_where_each_service_puts_them() {
        for (body, message) in [
            (
                json!({"detail": "The requested resource does not exist"}),
                Some("The requested resource does not exist"),
            ),
            (
                json!({"ok": false, "error": "channel_not_found"}),
                Some("channel_not_found"),
            ),
            (
                json!({"errorMessages": ["Issue does not exist"], "errors": {}}),
                Some("Issue does not exist"),
            ),
            (
                json!({"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}),
                Some("summary: You must specify a summary of the issue."),
            ),
            (
                json!({"status": ["\"x\" is not a valid choice."]}),
                Some("status: \"x\" is not a valid choice."),
            ),
            (json!("Unauthorized"), Some("Unauthorized")),
            (json!({}), None),
        ] {
            assert_eq!(message_of(&body).as_deref(), message, "{body}");
        }
    }

    #[tokio::test]
    async fn answers_past_the_limit_are_refused() {
        let app = axum::Router::new().route(
            "/big",
            axum::routing::get(|| async { axum::Json(json!({"data": "x".repeat(4096)})) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let rest = Rest::new(
            "Fake",
            &format!("http://{address}"),
            Credentials::bearer("t").unwrap(),
            Duration::from_secs(5),
        )
        .unwrap();
        let whole = rest.get("/big", &[]).await.unwrap();
        assert_eq!(
            whole.body["data"].as_str().map(str::len),
            Some(4096),
            "{}",
            whole.body.to_string().chars().take(200).collect::<String>()
        );
        let refused = rest.with_max_body(1024).get("/big", &[]).await.unwrap_err();
        assert!(
            refused.to_string().contains("longer than 1024 bytes"),
            "{refused}"
        );
    }

    /// Tokens handed out in order: each refusal moves to the next; past the last, none.
    struct Queue {
        tokens: std::sync::Mutex<Vec<&'static str>>,
        rejected: std::sync::Mutex<Vec<String>>,
    }

    impl Queue {
        fn new(tokens: &[&'static str]) -> std::sync::Arc<Self> {
            std::sync::Arc::new(Self {
                tokens: std::sync::Mutex::new(tokens.iter().rev().copied().collect()),
                rejected: std::sync::Mutex::new(Vec::new()),
            })
        }
    }

    impl crate::credentials::BearerTokens for Queue {
        fn token(&self) -> crate::credentials::Pending<'_, Result<std::sync::Arc<str>, String>> {
            let next = self.tokens.lock().unwrap().last().copied();
            Box::pin(async move {
                next.map(std::sync::Arc::from)
                    .ok_or_else(|| "not granted".to_owned())
            })
        }

        fn reject<'a>(&'a self, token: &'a str) -> crate::credentials::Pending<'a, ()> {
            self.rejected.lock().unwrap().push(token.to_owned());
            let mut tokens = self.tokens.lock().unwrap();
            if tokens.last() == Some(&token) {
                tokens.pop();
            }
            Box::pin(async {})
        }
    }

    /// A service that takes only the bearer token `good` (401 for any other), or — on
    /// `/slacky` — answers 200 `ok: false` for it; and what each request carried.
    async fn picky_service() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let check = move |headers: HeaderMap| {
            let token = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            record.lock().unwrap().push(token.clone());
            token == "Bearer good"
        };
        let strict = check.clone();
        let app = axum::Router::new()
            .route(
                "/strict",
                axum::routing::get(move |headers: HeaderMap| async move {
                    if strict(headers) {
                        (StatusCode::OK, axum::Json(json!({"ok": true})))
                    } else {
                        (
                            StatusCode::UNAUTHORIZED,
                            axum::Json(json!({"detail": "Invalid token"})),
                        )
                    }
                }),
            )
            .route(
                "/slacky",
                axum::routing::get(move |headers: HeaderMap| async move {
                    axum::Json(if check(headers) {
                        json!({"ok": true})
                    } else {
                        json!({"ok": false, "error": "token_expired"})
                    })
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{address}"), seen)
    }

    fn rest_with(base: &str, credentials: Credentials) -> Rest {
        Rest::new("Fake", base, credentials, Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn a_refused_token_is_renewed_and_the_call_sent_again_once() {
        let (base, seen) = picky_service().await;
        let queue = Queue::new(&["stale", "good"]);
        let rest = rest_with(&base, Credentials::Bearer(queue.clone()));
        let reply = rest.get("/strict", &[]).await.unwrap();
        assert_eq!(reply.body["ok"], true);
        assert_eq!(*seen.lock().unwrap(), ["Bearer stale", "Bearer good"]);
        assert_eq!(*queue.rejected.lock().unwrap(), ["stale"]);

        // Refused twice: the second refusal stands (no loop of renewals).
        seen.lock().unwrap().clear();
        let queue = Queue::new(&["stale", "also-stale", "good"]);
        let rest = rest_with(&base, Credentials::Bearer(queue.clone()));
        let refused = rest.get("/strict", &[]).await.unwrap_err();
        assert!(
            matches!(&refused, Failure::Refused { status, message, .. }
                if *status == StatusCode::UNAUTHORIZED && message == "Invalid token"),
            "{refused:?}"
        );
        assert_eq!(*seen.lock().unwrap(), ["Bearer stale", "Bearer also-stale"]);
        assert_eq!(*queue.rejected.lock().unwrap(), ["stale"]);

        // A fixed credential is not sent again: it would be refused again.
        seen.lock().unwrap().clear();
        let rest = rest_with(&base, Credentials::bearer("wrong").unwrap());
        assert!(rest.get("/strict", &[]).await.is_err());
        assert_eq!(*seen.lock().unwrap(), ["Bearer wrong"]);
    }

    #[tokio::test]
    async fn no_token_means_no_request() {
        let (base, seen) = picky_service().await;
        // The last token is refused and no other comes: the user must grant access again.
        let rest = rest_with(&base, Credentials::Bearer(Queue::new(&["stale"])));
        let failure = rest.get("/strict", &[]).await.unwrap_err();
        assert_eq!(
            failure,
            Failure::NoCredentials {
                service: "Fake",
                detail: "not granted".to_owned()
            }
        );
        assert_eq!(
            failure.to_string(),
            "Fake cannot be called without credentials: not granted"
        );
        assert_eq!(*seen.lock().unwrap(), ["Bearer stale"]);
        let failure = rest_with(&base, Credentials::Bearer(Queue::new(&[])))
            .get("/strict", &[])
            .await
            .unwrap_err();
        assert!(
            matches!(failure, Failure::NoCredentials { .. }),
            "{failure}"
        );
        assert_eq!(
            seen.lock().unwrap().len(),
            1,
            "nothing sent without a token"
        );
    }

    #[tokio::test]
    async fn a_refusal_in_a_successful_answer_renews_the_token_where_the_service_says_so() {
        let (base, seen) = picky_service().await;
        let expired = |body: &Value| body["error"] == "token_expired";
        let queue = Queue::new(&["stale", "good"]);
        let rest = rest_with(&base, Credentials::Bearer(queue.clone())).with_refused_token(expired);
        assert_eq!(rest.get("/slacky", &[]).await.unwrap().body["ok"], true);
        assert_eq!(*seen.lock().unwrap(), ["Bearer stale", "Bearer good"]);

        // Without the hint, the answer is the service's: a success to read.
        seen.lock().unwrap().clear();
        let rest = rest_with(&base, Credentials::Bearer(Queue::new(&["stale", "good"])));
        assert_eq!(
            rest.get("/slacky", &[]).await.unwrap().body["error"],
            "token_expired"
        );
        assert_eq!(*seen.lock().unwrap(), ["Bearer stale"]);
    }

    #[test]
    fn retry_after_is_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
        // Absurd values are no wait at all, not a panic.
        for absurd in ["1e300", "-1", "NaN", "inf"] {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(absurd));
            assert_eq!(retry_after(&headers), None, "{absurd}");
        }
    }
}
