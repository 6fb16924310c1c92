//! The hub's own OAuth access tokens for upstream servers (the client credentials grant),
//! and the streamable HTTP client that sends them: a token is fetched when first needed,
//! kept until shortly before it expires, fetched again once (never by two requests at a
//! time), and dropped when the server answers 401 so that the request is retried once with a
//! new one. The caller's credentials never reach an upstream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{ClientAuthMethod, OAuthClientConfig};
use crate::upstream::UpstreamError;

/// A token this close to its expiry is not used any more.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// How long a token without `expires_in` is kept (until a 401 says otherwise).
const UNDATED_LIFETIME: Duration = Duration::from_secs(300);
/// The most of a token endpoint's error answer quoted back.
const ERROR_EXCERPT: usize = 300;

/// Where a server's tokens come from, with its secret resolved.
pub struct TokenSource {
    config: OAuthClientConfig,
    client_secret: String,
    /// The resource indicator (RFC 8707).
    resource: String,
    http: reqwest::Client,
    current: Mutex<Option<Token>>,
}

#[derive(Clone)]
struct Token {
    value: Arc<str>,
    good_until: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenSource {
    pub fn new(
        config: OAuthClientConfig,
        client_secret: String,
        server_url: &str,
        http: reqwest::Client,
    ) -> Self {
        let resource = config
            .resource
            .clone()
            .unwrap_or_else(|| server_url.to_owned());
        Self {
            config,
            client_secret,
            resource,
            http,
            current: Mutex::new(None),
        }
    }

    /// A token that is good for a while yet, fetched if need be.
    pub async fn token(&self) -> Result<Arc<str>, UpstreamError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && Instant::now() < token.good_until
        {
            return Ok(token.value.clone());
        }
        let token = self.fetch().await?;
        let value = token.value.clone();
        *current = Some(token);
        Ok(value)
    }

    /// Forgets `rejected` (the server answered 401 to it), unless a newer one replaced it.
    pub async fn reject(&self, rejected: &str) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| &*t.value == rejected) {
            *current = None;
        }
    }

    async fn fetch(&self) -> Result<Token, UpstreamError> {
        let mut form = vec![("grant_type", "client_credentials")];
        let scope = self.config.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        form.push(("resource", &self.resource));
        let mut request = self
            .http
            .post(&self.config.token_url)
            .header(http::header::ACCEPT, "application/json");
        match self.config.auth_method {
            ClientAuthMethod::ClientSecretBasic => {
                // RFC 6749 §2.3.1: both parts form-encoded before Basic encoding.
                let credentials = format!(
                    "{}:{}",
                    form_encode(&self.config.client_id),
                    form_encode(&self.client_secret)
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                request = request.header(http::header::AUTHORIZATION, format!("Basic {encoded}"));
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id", &self.config.client_id));
                form.push(("client_secret", &self.client_secret));
            }
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let failed = |why: String| {
            UpstreamError::Setup(format!(
                "cannot get an OAuth token from {}: {why}",
                self.config.token_url
            ))
        };
        let started = Instant::now();
        let response = request
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let excerpt: String = text.chars().take(ERROR_EXCERPT).collect();
            return Err(failed(format!("it answered {status}: {excerpt}")));
        }
        let answer: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| failed(format!("its answer is not a token response: {e}")))?;
        if answer
            .token_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
        {
            return Err(failed(format!(
                "it issued a {} token; only bearer tokens are supported",
                answer.token_type.unwrap_or_default()
            )));
        }
        if answer.access_token.is_empty() {
            return Err(failed("it issued an empty token".to_owned()));
        }
        let lifetime = answer
            .expires_in
            .map_or(UNDATED_LIFETIME, Duration::from_secs)
            .saturating_sub(
                EXPIRY_MARGIN.min(Duration::from_secs(answer.expires_in.unwrap_or(0) / 2)),
            );
        Ok(Token {
            value: Arc::from(answer.access_token),
            good_until: started + lifetime,
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(text: &str) -> String {
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

/// A streamable HTTP client that authenticates every request with the server's current
/// token, and retries once with a new token when the server answers 401.
#[derive(Clone)]
pub struct OAuthHttpClient {
    inner: reqwest::Client,
    tokens: Arc<TokenSource>,
}

impl OAuthHttpClient {
    pub fn new(inner: reqwest::Client, tokens: Arc<TokenSource>) -> Self {
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
