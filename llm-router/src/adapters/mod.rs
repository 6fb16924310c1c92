//! Provider adapters: the normalized request → the provider's request, and the provider's
//! answer, stream or error → normalized. Every adapter implements [`ProviderAdapter`] and
//! passes the same compliance suite (`tests/compliance.rs`).

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod cohere;
pub mod gemini;
pub mod mistral;
pub mod openai;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, StreamEvent};
use crate::params::{ModelProfile, Provider, Translated};
use crate::wire::eventstream::{self, EventStreamParser};
use crate::wire::sse::{SseEvent, SseParser};

pub use anthropic::AnthropicAdapter;
pub use azure::AzureOpenAiAdapter;
pub use bedrock::BedrockAdapter;
pub use cohere::CohereAdapter;
pub use gemini::GeminiAdapter;
pub use mistral::MistralAdapter;
pub use openai::OpenAiAdapter;

/// One provider's protocol, as the router drives it. Pure: the hub does the HTTP.
pub trait ProviderAdapter: Send + Sync {
    fn provider(&self) -> Provider;

    /// The HTTP request for one call: URL, headers (credentials included) and body. `body` is
    /// the encoded request ([`Self::encode_request`] or [`Self::encode_embeddings`]).
    fn prepare(&self, call: &Call<'_>, body: Vec<u8>) -> Result<UpstreamRequest>;

    /// The provider's request body for `request` sent to the model `profile` describes, with the
    /// warnings about what could not be sent as asked.
    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>>;

    /// [`Self::encode_request`] as the bytes to send. Adapters whose wire types serialize
    /// directly override it to skip building a JSON tree on every call.
    fn encode_request_body(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Vec<u8>>> {
        let Translated { value, warnings } = self.encode_request(request, profile)?;
        Ok(Translated {
            value: request_bytes(&value)?,
            warnings,
        })
    }

    /// A complete (non-streamed) answer.
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse>;

    /// A fresh decoder for one streamed answer.
    fn stream_decoder(&self) -> Box<dyn StreamDecoder>;

    /// An error answer (any status outside 2xx) → the classified error.
    fn decode_error(&self, status: u16, body: &[u8]) -> Error;

    /// An error answer with its headers, for providers that say in a header what failed
    /// (Bedrock's `x-amzn-ErrorType`). By default the headers are not read.
    fn decode_error_response(&self, status: u16, headers: &http::HeaderMap, body: &[u8]) -> Error {
        let _ = headers;
        self.decode_error(status, body)
    }

    /// Whether the provider has an embeddings endpoint.
    fn has_embeddings(&self) -> bool {
        false
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

    /// How the provider frames a streamed answer.
    fn framing(&self) -> Framing {
        Framing::Sse
    }

    fn decode_embeddings(&self, _body: &[u8]) -> Result<EmbeddingsResponse> {
        Err(Error::NotSupported(format!(
            "{} models do not produce embeddings",
            self.provider()
        )))
    }
}

/// What a call asks of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat { stream: bool },
    Embeddings,
}

/// Everything but the body that decides where and how one call reaches a provider.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub operation: Operation,
    /// The provider's base URL as configured, without a trailing slash
    /// (`https://api.openai.com/v1`).
    pub base_url: &'a str,
    /// The model's name at the provider (an Azure deployment, a Bedrock model id).
    pub model: &'a str,
    pub options: &'a ProviderOptions,
    pub credential: &'a Credential,
    /// Signing time (AWS SigV4); ignored by the others.
    pub now: std::time::SystemTime,
}

/// Provider settings beyond the base URL; each provider reads the ones it documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderOptions {
    /// Azure OpenAI `api-version`; Anthropic `anthropic-version`.
    pub api_version: Option<String>,
    /// AWS region (Bedrock); Google Cloud location (Vertex AI).
    pub region: Option<String>,
    /// Google Cloud project (Vertex AI).
    pub project: Option<String>,
    /// Extra headers sent with every request (an OpenRouter `HTTP-Referer`, a proxy's key).
    pub headers: Vec<(String, String)>,
}

/// The credential a provider is called with, already decrypted. Never logged.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credential {
    /// Self-hosted servers without authentication.
    #[default]
    None,
    /// An API key or bearer token, sent the way the provider documents.
    ApiKey(String),
    /// AWS access keys for SigV4 signing.
    Aws {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "Credential::None",
            Self::ApiKey(_) => "Credential::ApiKey(..)",
            Self::Aws { .. } => "Credential::Aws(..)",
        })
    }
}

impl Credential {
    /// The API key, or an error saying the provider needs one.
    pub fn api_key(&self, provider: Provider) -> Result<Option<&str>> {
        match self {
            Self::None => Ok(None),
            Self::ApiKey(key) => Ok(Some(key)),
            Self::Aws { .. } => Err(Error::NotSupported(format!(
                "{provider} is called with an API key, not AWS credentials"
            ))),
        }
    }
}

/// A request body serialized for sending.
pub(crate) fn request_bytes(body: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| Error::Setup(format!("cannot encode the request: {e}")))
}

/// One HTTP request to a provider. Always a POST.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for UpstreamRequest {
    // Headers carry credentials: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamRequest")
            .field("url", &self.url)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl UpstreamRequest {
    /// A JSON POST to `url` with the call's extra headers, asking for an event stream when the
    /// call streams.
    pub fn json(call: &Call<'_>, url: String, body: Vec<u8>) -> Self {
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if matches!(call.operation, Operation::Chat { stream: true }) {
            headers.push(("accept".to_owned(), "text/event-stream".to_owned()));
        }
        headers.extend(call.options.headers.iter().cloned());
        Self { url, headers, body }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
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

    /// The framing of the stream this decoder reads, which [`ByteStreamDecoder::new`] parses.
    fn framing(&self) -> Framing {
        Framing::Sse
    }
}

/// How a provider frames the events of a streamed answer on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Server-sent events (`text/event-stream`).
    #[default]
    Sse,
    /// The AWS event stream (`application/vnd.amazon.eventstream`, Bedrock): binary messages,
    /// each given to the decoder as an event named by its `:event-type` (or
    /// `:exception-type`) with the payload as data.
    AwsEventStream,
}

enum FrameParser {
    Sse(SseParser),
    AwsEventStream(EventStreamParser),
}

/// A stream decoder fed with raw bytes, as they come off the connection.
pub struct ByteStreamDecoder {
    parser: FrameParser,
    decoder: Box<dyn StreamDecoder>,
}

impl ByteStreamDecoder {
    /// Parses the framing the decoder reads ([`StreamDecoder::framing`]).
    pub fn new(decoder: Box<dyn StreamDecoder>) -> Self {
        let parser = match decoder.framing() {
            Framing::Sse => FrameParser::Sse(SseParser::new()),
            Framing::AwsEventStream => FrameParser::AwsEventStream(EventStreamParser::new()),
        };
        Self { parser, decoder }
    }

    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        match &mut self.parser {
            FrameParser::Sse(parser) => {
                for event in parser.push(bytes) {
                    out.extend(self.decoder.decode(&event)?);
                }
            }
            FrameParser::AwsEventStream(parser) => {
                for message in parser.push(bytes)? {
                    out.extend(self.decoder.decode(&eventstream::to_sse_event(&message)?)?);
                }
            }
        }
        Ok(out)
    }

    pub fn finish(&mut self) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        match &mut self.parser {
            FrameParser::Sse(parser) => {
                for event in parser.finish() {
                    out.extend(self.decoder.decode(&event)?);
                }
            }
            FrameParser::AwsEventStream(parser) => parser.finish()?,
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
