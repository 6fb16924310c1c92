//! Ingress: what a client sends in its own format → the normalized request, and the normalized
//! answer, stream and errors → the client's format. Every ingress implements [`Ingress`] and
//! passes the same compliance suite (`tests/compliance.rs`).

pub mod anthropic;
pub mod openai;
pub mod responses;

use agenthub_policy::ErrorKind;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{ChatRequest, ChatResponse, StreamEvent};
use crate::params::Translated;
use crate::wire::sse::SseEvent;

pub use anthropic::AnthropicIngress;
pub use openai::OpenAiIngress;
pub use responses::ResponsesIngress;

/// One client-facing API format.
pub trait Ingress: Send + Sync {
    /// The client's request body → the normalized request, with warnings about what was ignored.
    fn decode_request(&self, body: &[u8]) -> Result<Translated<ChatRequest>>;

    /// A complete answer in the client's format.
    fn encode_response(&self, response: &ChatResponse) -> Value;

    /// [`Self::encode_response`] as the bytes to send. Ingresses whose wire types serialize
    /// directly override it to skip building a JSON tree on every call.
    fn encode_response_body(&self, response: &ChatResponse) -> Vec<u8> {
        response_bytes(&self.encode_response(response))
    }

    /// A fresh encoder for the streamed answer to `request`.
    fn stream_encoder(&self, request: &ChatRequest) -> Box<dyn StreamEncoder>;

    /// An error body in the client's format. The HTTP status comes from the hub's one
    /// kind → status table.
    fn error_body(&self, kind: ErrorKind, message: &str, param: Option<&str>) -> Value;

    /// This crate's error in the client's format, with only what the caller may see.
    fn encode_error(&self, error: &Error) -> Value {
        self.error_body(error.kind(), &error.public_message(), error.param())
    }
}

/// A response body serialized for sending. The wire types hold only string-keyed maps, so
/// serializing them cannot fail.
pub(crate) fn response_bytes(body: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// Turns normalized stream events into the client's server-sent events. Fed a well-formed
/// stream (see [`StreamEvent`]), it writes a well-formed stream of the client's format.
pub trait StreamEncoder: Send {
    fn encode(&mut self, event: &StreamEvent) -> Vec<SseEvent>;
}

/// A number outside the range the client's format documents is refused, as the provider would.
pub(crate) fn check_range(param: &str, value: Option<f64>, min: f64, max: f64) -> Result<()> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(Error::invalid(
            param,
            format!("{v} is not between {min} and {max}"),
        )),
        _ => Ok(()),
    }
}
