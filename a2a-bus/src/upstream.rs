//! The hub as a client of agents: one HTTP request to an agent, answered by a JSON body or an
//! event stream. What the request says is the caller's business (`protocol` builds it); this
//! module sends it with the agent's credentials, within the timeouts, and reads a bounded
//! answer.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use serde_json::Value;

use crate::registry::Agent;

/// Bounds on talking to agents.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamLimits {
    pub connect_timeout: Duration,
    /// For a whole answer, or for a stream's first byte.
    pub timeout: Duration,
    /// The longest a stream may stay silent.
    pub stream_idle_timeout: Duration,
    /// The largest answer, or the largest event of a stream.
    pub max_bytes: usize,
}

impl Default for UpstreamLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            stream_idle_timeout: Duration::from_secs(300),
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why an agent gave no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    #[error("the agent could not be reached: {0}")]
    Unreachable(String),
    #[error("the agent did not answer within {0:?}")]
    Timeout(Duration),
    /// An HTTP error status, with what the body said (bounded), when it was JSON.
    #[error("the agent answered {status}")]
    Status { status: u16, body: Option<Value> },
    #[error("the agent's answer is not valid: {0}")]
    Malformed(String),
    #[error("the agent's answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// One request to an agent.
#[derive(Debug)]
pub struct UpstreamRequest {
    pub method: Method,
    /// The full URL.
    pub url: String,
    /// Extra headers (A2A-Version, traceparent, …); the agent's own credentials are added.
    pub headers: HeaderMap,
    pub body: Option<Value>,
    /// Whether the answer is an event stream.
    pub streaming: bool,
}

/// An agent's events, each a JSON value (the `data` of one SSE event).
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Value, UpstreamError>> + Send>>;

/// What an agent answered: a JSON body, or a stream of events.
pub enum Answer {
    Json(Value),
    Events(EventStream),
}

/// The HTTP client to agents; cheap to clone.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    /// For agents registered through the admin API when private networks are not allowed:
    /// connects to public addresses only (`destinations`).
    public_client: Option<reqwest::Client>,
    limits: UpstreamLimits,
}

const A2A_VERSION: HeaderName = HeaderName::from_static("a2a-version");

impl Upstream {
    /// The client; with `restrict_api_agents`, agents registered through the admin API are
    /// reached on public addresses only, checked at every connection.
    pub fn new(limits: UpstreamLimits, restrict_api_agents: bool) -> Result<Self, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(limits.connect_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(256)
                .user_agent(concat!("agenthub/", env!("CARGO_PKG_VERSION")))
        };
        let public_client = if restrict_api_agents {
            Some(
                builder()
                    .dns_resolver(crate::destinations::PublicOnly)
                    .build()?,
            )
        } else {
            None
        };
        Ok(Self {
            client: builder().build()?,
            public_client,
            limits,
        })
    }

    pub fn limits(&self) -> UpstreamLimits {
        self.limits
    }

    /// Sends `request` to `agent` and reads the answer: the whole JSON body within the
    /// timeout, or — for a streaming request answered with an event stream — the events as
    /// they come.
    pub async fn send(
        &self,
        agent: &Agent,
        request: UpstreamRequest,
    ) -> Result<Answer, UpstreamError> {
        let mut headers = request.headers;
        for (name, value) in &agent.headers {
            headers.insert(name.clone(), value.clone());
        }
        if !headers.contains_key(&A2A_VERSION) {
            headers.insert(
                A2A_VERSION,
                HeaderValue::from_static(agent.endpoint.version.as_str()),
            );
        }
        let accept = if request.streaming {
            "text/event-stream"
        } else {
            "application/json"
        };
        headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
        let client = match &self.public_client {
            Some(public) if agent.registration.from_api => {
                let url = reqwest::Url::parse(&request.url)
                    .map_err(|e| UpstreamError::Unreachable(format!("the agent's URL: {e}")))?;
                crate::destinations::check_literal(&url).map_err(UpstreamError::Unreachable)?;
                public
            }
            _ => &self.client,
        };
        let mut builder = client
            .request(request.method, &request.url)
            .headers(headers);
        if let Some(body) = &request.body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| UpstreamError::Malformed(format!("cannot encode: {e}")))?;
            builder = builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let timeout = self.limits.timeout;
        let response = tokio::time::timeout(timeout, builder.send())
            .await
            .map_err(|_| UpstreamError::Timeout(timeout))?
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        let status = response.status();
        let is_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if status.is_success() && is_stream && request.streaming {
            return Ok(Answer::Events(self.events(response)));
        }
        let body = tokio::time::timeout(timeout, read_bounded(response, self.limits.max_bytes))
            .await
            .map_err(|_| UpstreamError::Timeout(timeout))??;
        if !status.is_success() {
            return Err(UpstreamError::Status {
                status: status.as_u16(),
                body: serde_json::from_slice(&body).ok(),
            });
        }
        if body.is_empty() {
            return Ok(Answer::Json(Value::Null));
        }
        serde_json::from_slice(&body)
            .map(Answer::Json)
            .map_err(|e| UpstreamError::Malformed(format!("not JSON: {e}")))
    }

    fn events(&self, response: reqwest::Response) -> EventStream {
        let max = self.limits.max_bytes;
        let idle = self.limits.stream_idle_timeout;
        let bytes = BoundedEvents::new(response.bytes_stream(), max);
        let events = sse_stream::SseStream::from_bytes_stream(bytes);
        let stream = futures::stream::unfold(
            (Box::pin(events), false),
            move |(mut events, done)| async move {
                if done {
                    return None;
                }
                loop {
                    let next = match tokio::time::timeout(idle, events.next()).await {
                        Err(_) => return Some((Err(UpstreamError::Timeout(idle)), (events, true))),
                        Ok(None) => return None,
                        Ok(Some(next)) => next,
                    };
                    let event = match next {
                        Ok(event) => event,
                        Err(e) => {
                            let error = UpstreamError::Malformed(format!("event stream: {e}"));
                            return Some((Err(error), (events, true)));
                        }
                    };
                    let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                        continue; // comments, keep-alives, retry hints
                    };
                    return Some(match serde_json::from_str(&data) {
                        Ok(value) => (Ok(value), (events, false)),
                        Err(e) => (
                            Err(UpstreamError::Malformed(format!(
                                "an event is not JSON: {e}"
                            ))),
                            (events, true),
                        ),
                    });
                }
            },
        );
        Box::pin(stream)
    }
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn read_bounded(response: reqwest::Response, max: usize) -> Result<Vec<u8>, UpstreamError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(UpstreamError::TooLarge(max));
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        if body.len() + chunk.len() > max {
            return Err(UpstreamError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A byte stream that fails when more than `max` bytes pass without an event boundary (a
/// blank line), so one endless event cannot fill the memory.
struct BoundedEvents<S> {
    inner: S,
    max: usize,
    /// Bytes since the last blank line.
    pending: usize,
    /// The last bytes seen, to find a boundary split across chunks.
    tail: [u8; 3],
}

impl<S> BoundedEvents<S> {
    fn new(inner: S, max: usize) -> Self {
        Self {
            inner,
            max,
            pending: 0,
            tail: [0; 3],
        }
    }

    fn boundaries_ok(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            self.pending += 1;
            let boundary = byte == b'\n' && (self.tail[2] == b'\n' || self.tail[1..] == *b"\n\r")
                || byte == b'\r' && self.tail[2] == b'\r';
            self.tail = [self.tail[1], self.tail[2], byte];
            if boundary {
                self.pending = 0;
            } else if self.pending > self.max {
                return false;
            }
        }
        true
    }
}

impl<S> Stream for BoundedEvents<S>
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Unpin,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if self.boundaries_ok(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    let max = self.max;
                    Poll::Ready(Some(Err(std::io::Error::other(format!(
                        "an event is larger than {max} bytes"
                    )))))
                }
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(std::io::Error::other(describe(&e)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_boundaries_are_found_across_chunks_and_line_endings() {
        let mut bounded = BoundedEvents::new(
            futures::stream::empty::<Result<Bytes, reqwest::Error>>(),
            12,
        );
        assert!(bounded.boundaries_ok(b"data: 1\n"));
        assert!(
            bounded.boundaries_ok(b"\n"),
            "a blank line split from its event"
        );
        assert!(bounded.boundaries_ok(b"data: 2\r\n\r\n"));
        assert!(bounded.boundaries_ok(b"data: 3\r\r"));
        assert!(
            !bounded.boundaries_ok(b"data: 12345678"),
            "thirteen bytes without a boundary"
        );
    }
}
