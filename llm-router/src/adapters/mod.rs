//! Provider adapters: the normalized request → the provider's request, and the provider's
//! answer, stream or error → normalized. Every adapter implements [`ProviderAdapter`] and
//! passes the same compliance suite (`tests/compliance.rs`).

pub mod anthropic;
pub mod openai;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, StreamEvent};
use crate::params::{ModelProfile, Provider, Translated};
use crate::wire::sse::{SseEvent, SseParser};

pub use anthropic::AnthropicAdapter;
pub use openai::OpenAiAdapter;

/// One provider's protocol, as the router drives it. Pure: the hub does the HTTP.
pub trait ProviderAdapter: Send + Sync {
    fn provider(&self) -> Provider;

    /// The chat endpoint's path below the provider's base URL.
    fn chat_path(&self) -> &'static str;

    /// The provider's request body for `request` sent to the model `profile` describes, with the
    /// warnings about what could not be sent as asked.
    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>>;

    /// A complete (non-streamed) answer.
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse>;

    /// A fresh decoder for one streamed answer.
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;

    /// An error answer (any status outside 2xx) → the classified error.
    fn decode_error(&self, status: u16, body: &[u8]) -> Error;

    /// The embeddings endpoint's path, for providers that have one.
    fn embeddings_path(&self) -> Option<&'static str> {
        None
    }

    fn encode_embeddings(
        &self,
        _request: &EmbeddingsRequest,
        _profile: &ModelProfile,
    ) -> Result<Value> {
        Err(Error::NotSupported(format!(
            "{} models do not produce embeddings",
            self.provider()
        )))
    }

    fn decode_embeddings(&self, _body: &[u8]) -> Result<EmbeddingsResponse> {
        Err(Error::NotSupported(format!(
            "{} models do not produce embeddings",
            self.provider()
        )))
    }
}

/// Turns one provider's stream, event by event, into normalized events.
///
/// A provider's error event becomes [`StreamEvent::Error`]; an `Err` means the stream itself is
/// broken (unreadable data, cut short), and the caller ends the stream with that error.
pub trait StreamDecoder: Send {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>>;

    /// The provider's stream ended: the events that complete it, or an error if it was cut
    /// short.
    fn finish(&mut self) -> Result<Vec<StreamEvent>>;
}

/// A stream decoder fed with raw bytes, as they come off the connection.
pub struct ByteStreamDecoder {
    parser: SseParser,
    decoder: Box<dyn StreamDecoder>,
}

impl ByteStreamDecoder {
    pub fn new(decoder: Box<dyn StreamDecoder>) -> Self {
        Self {
            parser: SseParser::new(),
            decoder,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        for event in self.parser.push(bytes) {
            out.extend(self.decoder.decode(&event)?);
        }
        Ok(out)
    }

    pub fn finish(&mut self) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        for event in self.parser.finish() {
            out.extend(self.decoder.decode(&event)?);
        }
        out.extend(self.decoder.finish()?);
        Ok(out)
    }
}

/// A provider's error message from a body that does not follow its documented error shape
/// (proxies, load balancers, compatible servers): a `message`, `detail` or `error` string, or
/// the start of the body.
pub(crate) fn loose_error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        for pointer in ["/error/message", "/message", "/detail", "/error"] {
            if let Some(Value::String(text)) = value.pointer(pointer) {
                return text.clone();
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no error message".to_owned();
    }
    text.chars().take(200).collect()
}
