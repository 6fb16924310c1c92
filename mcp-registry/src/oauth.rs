//! OAuth access tokens for upstream servers, and the streamable HTTP client that sends them.
//! [`OAuthClient`] is the hub as a client of one authorization server (its token endpoint, the
//! client's credentials, the resource indicator); [`TokenSource`] keeps the hub's own token of
//! the client credentials grant (each user's, of the authorization code grant, is
//! [`crate::user_oauth::UserTokens`]). Either is an [`AccessTokens`]: a token is fetched when
//! first needed, kept until shortly before it expires, fetched again once (never by two
//! requests at a time), and dropped when the server answers 401 so that the request is retried
//! once with a new one. The caller's credentials never reach an upstream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{ClientAuthMethod, OAuthClientConfig, OAuthDialect};
use crate::upstream::UpstreamError;

/// A token this close to its expiry is not used any more.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// How long a token without `expires_in` is kept (until a 401 says otherwise).
const UNDATED_LIFETIME: Duration = Duration::from_secs(300);
/// The most of a token endpoint's error answer quoted back.
const ERROR_EXCERPT: usize = 300;

/// The longest a token is taken to live, whatever `expires_in` says: more would overflow the
/// clocks' arithmetic (a panic), and is no lifetime anyone means.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// How long a token issued for `expires_in` seconds is used: until shortly before it expires
/// (at most half its life early).
pub(crate) fn usable_for(expires_in: Option<u64>) -> Duration {
    expires_in
        .map_or(UNDATED_LIFETIME, Duration::from_secs)
        .min(MAX_LIFETIME)
        .saturating_sub(EXPIRY_MARGIN.min(Duration::from_secs(expires_in.unwrap_or(0) / 2)))
}

/// Where access tokens come from, for [`OAuthHttpClient`].
pub trait AccessTokens: Send + Sync {
    /// A token that is good for a while yet, fetched if need be.
    fn token(&self) -> BoxFuture<'_, Result<Arc<str>, UpstreamError>>;

    /// Forgets `rejected` (the server answered 401 to it), unless a newer one replaced it.
    fn reject<'a>(&'a self, rejected: &'a str) -> BoxFuture<'a, ()>;
}

/// The hub as a client of one authorization server, its secret resolved.
pub struct OAuthClient {
    token_url: String,
    client_id: String,
    client_secret: Option<String>,
    auth_method: ClientAuthMethod,
    scopes: Vec<String>,
    /// The resource indicator (RFC 8707); none for a server without a URL of its own (a
    /// built-in one) unless configured.
    resource: Option<String>,
    dialect: OAuthDialect,
    /// What users' grants made through this client are bound to (see
    /// [`crate::config::McpServerConfig::grant_audience`]); empty unless set.
    audience: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A successful token response, as read by the client's dialect.
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub(crate) token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The scopes granted, when they differ from those requested (RFC 6749 §5.1).
    #[serde(default)]
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why a token endpoint's answer gave no token, as its dialect reads it.
#[derive(Debug)]
pub(crate) enum Unanswered {
    /// The authorization server refused the request.
    Refused(Refusal),
    /// It answered something that is not a token: what is wrong, never quoting a token.
    Malformed(String),
}

/// A refusal, classified once by the dialect that read it.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The server's own error code (`invalid_grant`, Slack's `invalid_refresh_token`, …).
    pub error: Option<String>,
    /// Whether the code or refresh token itself was refused: the user must consent again.
    pub grant_refused: bool,
    /// What the server said, for the message.
    pub detail: String,
}

/// Why a token request failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The authorization server refused the request; `error` is its error code (`invalid_grant`,
    /// `invalid_client`, Slack's `invalid_code`, …) when it gave one.
    #[error("cannot get an OAuth token from {token_url}: {detail}")]
    Refused {
        token_url: String,
        error: Option<String>,
        grant_refused: bool,
        detail: String,
    },
    /// It could not be reached, or answered something that is not a bearer token.
    #[error("cannot get an OAuth token from {token_url}: {why}")]
    Failed { token_url: String, why: String },
}

impl TokenError {
    /// Whether the grant itself was refused: an expired, revoked or already used code or
    /// refresh token (RFC 6749 §5.2's `invalid_grant`, or its dialect's equivalent).
    pub fn is_invalid_grant(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                grant_refused: true,
                ..
            }
        )
    }
}

impl From<TokenError> for UpstreamError {
    fn from(error: TokenError) -> Self {
        Self::Setup(error.to_string())
    }
}

/// RFC 6749 §5.1–5.2: a 2xx JSON body is the token (a bearer one); any other status is a
/// refusal whose `error` is the OAuth error code.
fn read_standard(status: http::StatusCode, bytes: &[u8]) -> Result<TokenAnswer, Unanswered> {
    if !status.is_success() {
        #[derive(Deserialize)]
        struct ErrorAnswer {
            error: String,
        }
        let error = serde_json::from_slice::<ErrorAnswer>(bytes)
            .ok()
            .map(|e| e.error);
        let excerpt: String = String::from_utf8_lossy(bytes)
            .chars()
            .take(ERROR_EXCERPT)
            .collect();
        return Err(Unanswered::Refused(Refusal {
            grant_refused: error.as_deref() == Some("invalid_grant"),
            error,
            detail: format!("it answered {status}: {excerpt}"),
        }));
    }
    // serde's message could quote a value of the answer: a token, perhaps.
    let answer: TokenAnswer = serde_json::from_slice(bytes).map_err(|e| {
        Unanswered::Malformed(format!(
            "its answer is not a token response ({:?} at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if let Some(kind) = answer
        .token_type
        .as_deref()
        .filter(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(Unanswered::Malformed(format!(
            "it issued a {kind} token; only bearer tokens are supported"
        )));
    }
    Ok(answer)
}

impl OAuthClient {
    /// `server_url` is the default resource indicator.
    pub fn new(
        config: &OAuthClientConfig,
        client_secret: Option<String>,
        server_url: Option<&str>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            token_url: config.token_url.clone(),
            client_id: config.client_id.clone(),
            client_secret,
            auth_method: config.auth_method,
            scopes: config.scopes.clone(),
            resource: config
                .resource
                .clone()
                .or_else(|| server_url.map(str::to_owned)),
            dialect: config.dialect,
            audience: String::new(),
            http,
        }
    }

    /// Binds the users' grants made through this client to `audience`.
    pub fn with_audience(mut self, audience: String) -> Self {
        self.audience = audience;
        self
    }

    /// What users' grants made through this client are bound to.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The scopes to request, space-separated (RFC 6749 §3.3).
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// The scopes to request, one by one.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// How the authorization server speaks.
    pub fn dialect(&self) -> OAuthDialect {
        self.dialect
    }

    /// The resource indicator (RFC 8707), if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// POSTs a token request: `form` holds the grant's own parameters; the resource indicator
    /// (if any) and the client's authentication are added here. A public client (no secret)
    /// names itself in the form (RFC 6749 §3.2.1).
    pub async fn request(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, TokenError> {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        if let Some(resource) = &self.resource {
            form.push(("resource", resource));
        }
        let mut request = self
            .http
            .post(&self.token_url)
            .header(http::header::ACCEPT, "application/json");
        match (&self.client_secret, self.auth_method) {
            (Some(secret), ClientAuthMethod::ClientSecretBasic) => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic encoding.
                let credentials =
                    format!("{}:{}", form_encode(&self.client_id), form_encode(secret));
                let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                let mut value = HeaderValue::try_from(format!("Basic {encoded}"))
                    .map_err(|_| self.failed("the client credentials are not a valid header"))?;
                value.set_sensitive(true);
                request = request.header(http::header::AUTHORIZATION, value);
            }
            (Some(secret), ClientAuthMethod::ClientSecretPost) => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", secret));
            }
            (None, _) => form.push(("client_id", &self.client_id)),
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let response = request
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| self.failed(&e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.failed(&e.to_string()))?;
        let answer = match self.dialect {
            OAuthDialect::Standard => read_standard(status, &bytes),
            OAuthDialect::Slack => crate::slack_oauth::read(status, &bytes),
        }
        .map_err(|unanswered| match unanswered {
            Unanswered::Refused(refusal) => TokenError::Refused {
                token_url: self.token_url.clone(),
                error: refusal.error,
                grant_refused: refusal.grant_refused,
                detail: refusal.detail,
            },
            Unanswered::Malformed(why) => self.failed(&why),
        })?;
        if answer.access_token.is_empty() {
            return Err(self.failed("it issued an empty token"));
        }
        Ok(answer)
    }

    fn failed(&self, why: &str) -> TokenError {
        TokenError::Failed {
            token_url: self.token_url.clone(),
            why: why.to_owned(),
        }
    }
}

/// The hub's own token for a server (the client credentials grant).
pub struct TokenSource {
    client: OAuthClient,
    current: Mutex<Option<Token>>,
}

#[derive(Clone)]
struct Token {
    value: Arc<str>,
    good_until: Instant,
}

impl TokenSource {
    pub fn new(client: OAuthClient) -> Self {
        Self {
            client,
            current: Mutex::new(None),
        }
    }

    async fn current(&self) -> Result<Arc<str>, UpstreamError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && Instant::now() < token.good_until
        {
            return Ok(token.value.clone());
        }
        let started = Instant::now();
        let scope = self.client.scope();
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let answer = self.client.request(&form).await?;
        let token = Token {
            value: Arc::from(answer.access_token),
            good_until: started + usable_for(answer.expires_in),
        };
        let value = token.value.clone();
        *current = Some(token);
        Ok(value)
    }
}

impl AccessTokens for TokenSource {
    fn token(&self) -> BoxFuture<'_, Result<Arc<str>, UpstreamError>> {
        Box::pin(self.current())
    }

    fn reject<'a>(&'a self, rejected: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if current.as_ref().is_some_and(|t| &*t.value == rejected) {
                *current = None;
            }
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
pub(crate) fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A streamable HTTP client that authenticates every request with the current token of its
/// source, and retries once with a new token when the server answers 401.
#[derive(Clone)]
pub struct OAuthHttpClient {
    inner: reqwest::Client,
    tokens: Arc<dyn AccessTokens>,
}

impl OAuthHttpClient {
    pub fn new(inner: reqwest::Client, tokens: Arc<dyn AccessTokens>) -> Self {
        Self { inner, tokens }
    }

    async fn token(&self) -> Result<Arc<str>, StreamableHttpError<reqwest::Error>> {
        self.tokens
            .token()
            .await
            .map_err(|e| StreamableHttpError::Io(std::io::Error::other(e.to_string())))
    }
}

/// Whether the server refused the token itself.
fn unauthorized<E: std::error::Error + Send + Sync + 'static>(
    error: &StreamableHttpError<E>,
) -> bool {
    match error {
        StreamableHttpError::AuthRequired(_) => true,
        // rmcp's reqwest client reports a 401 without a challenge this way.
        StreamableHttpError::UnexpectedServerResponse(text) => text.starts_with("HTTP 401"),
        _ => false,
    }
}

impl StreamableHttpClient for OAuthHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            None,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let token = self.token().await?;
        let first = self
            .inner
            .post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                Some(token.to_string()),
                custom_headers.clone(),
                limits,
            )
            .await;
        match first {
            Err(error) if unauthorized(&error) => {
                self.tokens.reject(&token).await;
                let token = self.token().await?;
                self.inner
                    .post_message_with_response_limits(
                        uri,
                        message,
                        session_id,
                        Some(token.to_string()),
                        custom_headers,
                        limits,
                    )
                    .await
            }
            other => other,
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        let token = self.token().await?;
        self.inner
            .delete_session(uri, session_id, Some(token.to_string()), custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<
        futures::stream::BoxStream<'static, Result<sse_stream::Sse, SseError>>,
        StreamableHttpError<Self::Error>,
    > {
        let token = self.token().await?;
        self.inner
            .get_stream(
                uri,
                session_id,
                last_event_id,
                Some(token.to_string()),
                custom_headers,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An absurd `expires_in` is capped rather than overflowing `Instant` or `SystemTime`.
    #[test]
    fn lifetimes_are_bounded() {
        assert_eq!(usable_for(Some(u64::MAX)), MAX_LIFETIME - EXPIRY_MARGIN);
        let _ = Instant::now() + usable_for(Some(u64::MAX));
        let _ = std::time::SystemTime::now() + usable_for(Some(u64::MAX));
        assert_eq!(usable_for(Some(40)), Duration::from_secs(20));
        assert_eq!(usable_for(None), UNDATED_LIFETIME);
    }

    #[test]
    fn standard_answers_are_read() {
        let ok = read_standard(
            http::StatusCode::OK,
            br#"{"access_token": "at", "token_type": "Bearer", "expires_in": 60}"#,
        )
        .unwrap();
        assert_eq!((ok.access_token.as_str(), ok.expires_in), ("at", Some(60)));
        let Err(Unanswered::Refused(refusal)) = read_standard(
            http::StatusCode::BAD_REQUEST,
            br#"{"error": "invalid_grant"}"#,
        ) else {
            panic!("not a refusal")
        };
        assert!(refusal.grant_refused);
        assert_eq!(refusal.error.as_deref(), Some("invalid_grant"));
        let Err(Unanswered::Malformed(why)) = read_standard(
            http::StatusCode::OK,
            br#"{"access_token": 1, "x": "secret-at"}"#,
        ) else {
            panic!("not malformed")
        };
        assert!(!why.contains("secret"), "{why}");
        assert!(matches!(
            read_standard(http::StatusCode::OK, br#"{"access_token": "a", "token_type": "mac"}"#),
            Err(Unanswered::Malformed(why)) if why.contains("mac token")
        ));
    }

    #[test]
    fn form_values_are_encoded() {
        let cases = [
            ("abc-123_.*", "abc-123_.*"),
            ("a b", "a+b"),
            ("s3cr:t/=&", "s3cr%3At%2F%3D%26"),
            ("é", "%C3%A9"),
        ];
        for (text, encoded) in cases {
            assert_eq!(form_encode(text), encoded, "{text}");
        }
    }
}
