//! The hub as a client of the legacy HTTP+SSE transport (MCP 2024-11-05), which rmcp has no
//! client for: a `GET` opens an event stream whose first `endpoint` event names where to `POST`
//! messages; every message from the server arrives as a `message` event on the stream.
//!
//! [`SseTransport`] is an rmcp [`Transport`]: the session on top of it is the usual one. It
//! ends (and the registry's supervisor notices) when the stream ends or fails.

use std::collections::VecDeque;
use std::time::Duration;

use http::{HeaderMap, StatusCode, header};
use reqwest::Url;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::RoleClient;
use rmcp::transport::Transport;

use crate::sse::{self, Parser};
use crate::upstream::UpstreamError;

/// How much of a refusing answer's body is kept in the error.
const MAX_ERROR_BODY: usize = 200;

/// Why a message could not be delivered to the server.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error("cannot encode the message: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("cannot post to {endpoint}: {cause}")]
    Post { endpoint: String, cause: String },
    #[error("{endpoint} refused a message: {status}{body}")]
    Refused {
        endpoint: String,
        status: StatusCode,
        body: String,
    },
}

/// An open event stream and the endpoint it named.
pub struct SseTransport {
    client: reqwest::Client,
    headers: HeaderMap,
    /// The SSE stream's URL, for logs.
    source: Url,
    endpoint: Url,
    post_timeout: Duration,
    /// `None` once the stream has ended: the transport is closed.
    stream: Option<reqwest::Response>,
    parser: Parser,
    received: VecDeque<ServerJsonRpcMessage>,
}

impl SseTransport {
    /// Opens the stream at `url` and waits for its `endpoint` event. `headers` go with the
    /// `GET` and with every `POST`, each of which is bounded by `post_timeout`. The caller
    /// bounds the whole by the connect timeout.
    pub async fn connect(
        client: reqwest::Client,
        url: &str,
        headers: HeaderMap,
        post_timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let source = Url::parse(url)
            .map_err(|e| UpstreamError::Setup(format!("\"{url}\" is not a valid URL: {e}")))?;
        let mut response = client
            .get(source.clone())
            .headers(headers.clone())
            .header(header::ACCEPT, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .send()
            .await
            .map_err(|e| UpstreamError::Connect(format!("cannot reach {url}: {}", cause(&e))))?;
        let status = response.status();
        if !status.is_success() {
            let body = excerpt(response.text().await.unwrap_or_default());
            return Err(UpstreamError::Connect(format!(
                "{url} answered {status}{body}"
            )));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !content_type
            .to_ascii_lowercase()
            .starts_with("text/event-stream")
        {
            return Err(UpstreamError::Protocol(format!(
                "{url} is not an SSE stream (Content-Type: \"{content_type}\"); \
                 for a streamable HTTP server, leave transport unset"
            )));
        }

        let mut parser = Parser::new();
        let mut early = Vec::new();
        let endpoint = 'endpoint: loop {
            let chunk = response.chunk().await.map_err(|e| {
                UpstreamError::Connect(format!(
                    "the stream at {url} failed before naming its endpoint: {}",
                    cause(&e)
                ))
            })?;
            let Some(chunk) = chunk else {
                return Err(UpstreamError::Connect(format!(
                    "the stream at {url} ended before naming its endpoint"
                )));
            };
            let events = parser
                .push(&chunk)
                .map_err(|e| UpstreamError::Protocol(format!("{url}: {e}")))?;
            let mut events = events.into_iter();
            while let Some(event) = events.next() {
                if event.event == "endpoint" {
                    let endpoint = resolve_endpoint(&source, &event.data)?;
                    // What followed in the same chunk is already the session's.
                    early.extend(events);
                    break 'endpoint endpoint;
                }
                early.push(event);
            }
        };
        tracing::debug!(stream = %source, endpoint = endpoint.path(), "SSE endpoint received");
        let mut transport = Self {
            client,
            headers,
            source,
            endpoint,
            post_timeout,
            stream: Some(response),
            parser,
            received: VecDeque::new(),
        };
        for event in early {
            transport.accept(event);
        }
        Ok(transport)
    }

    /// Takes in one event of the stream: messages are decoded, other events ignored.
    fn accept(&mut self, event: sse::Event) {
        if event.event != "message" {
            tracing::debug!(stream = %self.source, event = %event.event, "SSE event ignored");
            return;
        }
        // 2024-11-05 allows JSON-RPC batches: their messages are taken one by one.
        let decoded = if event.data.trim_start().starts_with('[') {
            serde_json::from_str::<Vec<ServerJsonRpcMessage>>(&event.data)
        } else {
            serde_json::from_str::<ServerJsonRpcMessage>(&event.data).map(|m| vec![m])
        };
        match decoded {
            Ok(messages) => self.received.extend(messages),
            // One bad message does not end the session; a request it answered times out.
            Err(error) => {
                tracing::warn!(stream = %self.source, %error, "ignoring an SSE message that is not JSON-RPC");
            }
        }
    }

    fn end(&mut self, reason: &str) {
        if self.stream.take().is_some() {
            tracing::info!(stream = %self.source, reason, "SSE stream ended");
        }
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        // The session id is in the endpoint's query: errors name its path only.
        let endpoint = self.endpoint.path().to_owned();
        let request = serde_json::to_vec(&item).map(|body| {
            self.client
                .post(self.endpoint.clone())
                .headers(self.headers.clone())
                .header(header::CONTENT_TYPE, "application/json")
                .timeout(self.post_timeout)
                .body(body)
        });
        async move {
            let response = request?.send().await.map_err(|e| SseError::Post {
                endpoint: endpoint.clone(),
                cause: cause(&e),
            })?;
            let status = response.status();
            if !status.is_success() {
                let body = excerpt(response.text().await.unwrap_or_default());
                return Err(SseError::Refused {
                    endpoint,
                    status,
                    body,
                });
            }
            Ok(())
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        // Cancel-safe: the only await is reading a chunk, and what was read is kept in `self`.
        loop {
            if let Some(message) = self.received.pop_front() {
                return Some(message);
            }
            let stream = self.stream.as_mut()?;
            match stream.chunk().await {
                Ok(Some(chunk)) => match self.parser.push(&chunk) {
                    Ok(events) => {
                        for event in events {
                            self.accept(event);
                        }
                    }
                    Err(error) => self.end(&error.to_string()),
                },
                Ok(None) => self.end("the server closed it"),
                Err(error) => self.end(&cause(&error)),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Dropping the response closes the connection: the server ends the session.
        self.stream = None;
        Ok(())
    }
}

/// The endpoint an `endpoint` event names, resolved against the stream's URL. It must be on
/// the stream's origin: the registration's credentials go with every message.
fn resolve_endpoint(source: &Url, data: &str) -> Result<Url, UpstreamError> {
    let endpoint = source.join(data.trim()).map_err(|e| {
        UpstreamError::Protocol(format!(
            "the stream at {source} named an endpoint that is not a URL (\"{data}\"): {e}"
        ))
    })?;
    if endpoint.origin() != source.origin() {
        return Err(UpstreamError::Protocol(format!(
            "the stream at {source} named an endpoint on another origin ({}); refused",
            endpoint.origin().ascii_serialization()
        )));
    }
    Ok(endpoint)
}

/// What went wrong, which reqwest's own message ("error sending request for url …") leaves
/// to its innermost cause ("Connection refused", "invalid peer certificate" …).
pub(crate) fn cause(error: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    innermost.to_string()
}

/// The start of a body, on one line, after a colon, for an error message; empty if it is.
fn excerpt(body: String) -> String {
    let body = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match body.char_indices().nth(MAX_ERROR_BODY) {
        _ if body.is_empty() => body,
        Some((at, _)) => format!(": {}…", &body[..at]),
        None => format!(": {body}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_against_the_stream_on_its_origin_only() {
        let source = Url::parse("http://127.0.0.1:3001/mcp/sse?x=1").unwrap();
        let cases = [
            (
                "/message?sessionId=a",
                "http://127.0.0.1:3001/message?sessionId=a",
            ),
            ("messages?s=1", "http://127.0.0.1:3001/mcp/messages?s=1"),
            (" http://127.0.0.1:3001/m ", "http://127.0.0.1:3001/m"),
        ];
        for (data, expected) in cases {
            assert_eq!(
                resolve_endpoint(&source, data).unwrap().as_str(),
                expected,
                "{data}"
            );
        }
        let https = Url::parse("https://mcp.example.com/sse").unwrap();
        assert_eq!(
            resolve_endpoint(&https, "https://mcp.example.com:443/m")
                .unwrap()
                .as_str(),
            "https://mcp.example.com/m"
        );
        for (source, data) in [
            (&source, "http://evil.example/message"),
            (&source, "//evil.example/message"),
            (&source, "http://127.0.0.1:3002/message"),
            (&source, "https://127.0.0.1:3001/message"),
            (&https, "http://mcp.example.com/m"),
        ] {
            let error = resolve_endpoint(source, data).unwrap_err();
            assert!(
                matches!(&error, UpstreamError::Protocol(m) if m.contains("another origin")),
                "{data}: {error:?}"
            );
        }
    }

    #[test]
    fn error_bodies_are_cut_to_one_short_line() {
        assert_eq!(excerpt("no\n session ".to_owned()), ": no session");
        assert_eq!(excerpt(" \n".to_owned()), "");
        let long = "é".repeat(MAX_ERROR_BODY + 5);
        assert_eq!(excerpt(long).chars().count(), MAX_ERROR_BODY + 3);
    }
}
