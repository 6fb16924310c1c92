//! Outbound HTTP to identity providers: one reqwest client that never follows redirects
//! (following them would let a provider's answer point the hub anywhere), with bounded bodies
//! and timeouts, and its adapter to `openidconnect`'s client interface.

use std::time::Duration;

/// The largest discovery document, JWKS or token response accepted.
const MAX_BODY: usize = 1024 * 1024;

/// Why a request to a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Request(String),
    #[error("the response is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("HTTP {0}")]
    Status(u16),
}

pub fn client() -> reqwest::Client {
    crate::outbound::client_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Reads a response body, refusing more than [`MAX_BODY`] bytes.
async fn bounded_body(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(HttpError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpError::Request(root_cause(&e)))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// GETs a JSON document; anything but 200 is an error.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Result<serde_json::Value, HttpError> {
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| HttpError::Request(root_cause(&e)))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(HttpError::Status(status.as_u16()));
    }
    let body = bounded_body(response).await?;
    serde_json::from_slice(&body).map_err(|e| HttpError::Request(format!("invalid JSON: {e}")))
}

/// `openidconnect`'s HTTP client: a closure over reqwest 0.13 whose futures own their client
/// (a clone is a reference count), so they are `Send` for any lifetime.
pub fn oidc_client(
    client: &reqwest::Client,
) -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send>,
> + Send
+ Sync
+ use<> {
    let client = client.clone();
    move |request| {
        let client = client.clone();
        Box::pin(async move { send(&client, request).await })
    }
}

/// Sends one `openidconnect` request through `client`.
pub async fn send(
    client: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let request =
        reqwest::Request::try_from(request).map_err(|e| HttpError::Request(e.to_string()))?;
    let response = client
        .execute(request)
        .await
        .map_err(|e| HttpError::Request(root_cause(&e)))?;
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = bounded_body(response).await?;
    builder
        .body(body)
        .map_err(|e| HttpError::Request(e.to_string()))
}
