//! The router's own types. Ingress turns a client's request into these, the core decides on
//! them, and a provider adapter turns them into the provider's request; responses and stream
//! events travel back the same way. No wire format leaks in here: field names follow the
//! concept, not any one provider.
//!
//! Conventions that every translation keeps:
//! - Tool-call arguments are the raw JSON text the model produced ([`ToolCall::arguments`]),
//!   because OpenAI returns them as a string that may not even parse; adapters that need an
//!   object (Anthropic) parse it when encoding.
//! - Token counts follow the *inclusive* convention: [`Usage::input_tokens`] counts every prompt
//!   token, cached or not, and [`Usage::cached_input_tokens`] is a part of it (see the usage table
//!   in [`crate::params`]).
//! - Stream events carry the choice they belong to and, for tool calls, the tool call's position
//!   among that choice's tool calls (not a provider's content-block index).

/// A chat request, as the core sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model the client asked for (an alias the router resolves; adapters send the model
    /// profile's upstream name instead).
    pub model: String,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` asks for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub sampling: Sampling,
    /// The most tokens to generate.
    pub max_output_tokens: Option<u32>,
    pub stop: Vec<String>,
    /// How many choices to generate.
    pub n: Option<u32>,
    pub seed: Option<i64>,
    /// An end-user identifier for the provider's abuse monitoring.
    pub user: Option<String>,
    pub logprobs: Option<LogprobsRequest>,
    /// `Some` for a streamed answer.
    pub stream: Option<StreamOptions>,
}

impl ChatRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.is_some()
    }
}

/// Sampling parameters. Temperatures are on the OpenAI scale (0–2); adapters map them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    /// Token id (as a string, as OpenAI has it) → bias in −100…100.
    pub logit_bias: Option<Vec<(String, f64)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogprobsRequest {
    /// How many most likely alternatives to return per token (0–20).
    pub top_logprobs: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamOptions {
    /// Whether the *client* asked for a final usage event. Adapters always ask the provider for
    /// usage (the hub needs it for budgets); ingress decides whether the client sees it.
    pub include_usage: bool,
}

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Instructions. OpenAI's `developer` role is a system message too.
    System {
        content: Vec<ContentPart>,
        name: Option<String>,
    },
    User {
        content: Vec<ContentPart>,
        name: Option<String>,
    },
    Assistant {
        content: Vec<ContentPart>,
        tool_calls: Vec<ToolCall>,
        name: Option<String>,
    },
    /// The result of a tool call, answering [`ToolCall::id`].
    Tool {
        tool_call_id: String,
        content: Vec<ContentPart>,
        is_error: bool,
    },
}

impl Message {
    pub fn role(&self) -> Role {
        match self {
            Self::System { .. } => Role::System,
            Self::User { .. } => Role::User,
            Self::Assistant { .. } => Role::Assistant,
            Self::Tool { .. } => Role::Tool,
        }
    }

    pub fn content(&self) -> &[ContentPart] {
        match self {
            Self::System { content, .. }
            | Self::User { content, .. }
            | Self::Assistant { content, .. }
            | Self::Tool { content, .. } => content,
        }
    }

    /// A system message of one text part.
    pub fn system(text: impl Into<String>) -> Self {
        Self::System {
            content: vec![ContentPart::text(text)],
            name: None,
        }
    }

    /// A user message of one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Self::User {
            content: vec![ContentPart::text(text)],
            name: None,
        }
    }

    /// An assistant message of one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::Assistant {
            content: vec![ContentPart::text(text)],
            tool_calls: Vec::new(),
            name: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    Text(String),
    Image(Image),
}

impl ContentPart {
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Image(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub source: ImageSource,
    /// OpenAI's fidelity hint. Other providers have no such knob; it is dropped for them.
    pub detail: Option<ImageDetail>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// An `http(s)` URL the provider fetches.
    Url(String),
    /// Inline bytes, base64-encoded (a `data:` URI on OpenAI's wire).
    Base64 { media_type: String, data: String },
}

impl ImageSource {
    /// Reads an OpenAI `image_url.url`: a `data:<media type>;base64,<data>` URI becomes inline
    /// bytes, anything else stays a URL.
    pub fn from_url(url: &str) -> Self {
        if let Some(rest) = url.strip_prefix("data:")
            && let Some((meta, data)) = rest.split_once(',')
            && let Some(media_type) = meta.strip_suffix(";base64")
        {
            return Self::Base64 {
                media_type: media_type.to_owned(),
                data: data.to_owned(),
            };
        }
        Self::Url(url.to_owned())
    }

    /// The OpenAI `image_url.url` of this source.
    pub fn to_url(&self) -> String {
        match self {
            Self::Url(url) => url.clone(),
            Self::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageDetail {
    Auto,
    Low,
    High,
}

impl ImageDetail {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Low => "low",
            Self::High => "high",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "auto" => Some(Self::Auto),
            "low" => Some(Self::Low),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

/// A call of a function tool by the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text (usually an object).
    pub arguments: String,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema for the arguments. `None` means no parameters.
    pub parameters: Option<serde_json::Value>,
    /// Ask for schema-exact arguments (OpenAI `strict`, Anthropic strict tool use).
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call.
    Required,
    /// This tool must be called.
    Tool(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    /// Any valid JSON object.
    JsonObject,
    /// JSON valid against a schema.
    JsonSchema(JsonSchemaFormat),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchemaFormat {
    /// OpenAI requires a name; formats without one use [`JsonSchemaFormat::DEFAULT_NAME`].
    pub name: String,
    pub description: Option<String>,
    pub schema: Option<serde_json::Value>,
    pub strict: Option<bool>,
}

impl JsonSchemaFormat {
    pub const DEFAULT_NAME: &'static str = "response";
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    pub id: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Unix seconds. Providers that do not say leave it `None`; the hub stamps it.
    pub created: Option<u64>,
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: FinishReason,
    /// The stop sequence that ended generation, when the provider says which.
    pub stop_sequence: Option<String>,
    pub logprobs: Option<Vec<TokenLogprob>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssistantMessage {
    /// The text of the answer; `None` when the model only called tools.
    pub text: Option<String>,
    /// A refusal the provider reports apart from the text (OpenAI `refusal`).
    pub refusal: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f64,
    pub bytes: Option<Vec<u8>>,
    pub top_logprobs: Vec<TopLogprob>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f64,
    pub bytes: Option<Vec<u8>>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// The output token limit (or the context window) was reached.
    Length,
    /// The model called tools and waits for their results.
    ToolCalls,
    /// The provider withheld or stopped the content (filter, refusal).
    ContentFilter,
    /// The provider failed while generating.
    Error,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Error => "error",
        }
    }
}

/// Token counts, inclusive: cached and cache-write tokens are parts of `input_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Every prompt token, cached or not.
    pub input_tokens: u32,
    /// Every generated token, reasoning included.
    pub output_tokens: u32,
    /// Prompt tokens read from the provider's cache (part of `input_tokens`).
    pub cached_input_tokens: Option<u32>,
    /// Prompt tokens written to the provider's cache (part of `input_tokens`).
    pub cache_write_input_tokens: Option<u32>,
    /// Hidden reasoning tokens (part of `output_tokens`).
    pub reasoning_tokens: Option<u32>,
}

impl Usage {
    pub fn total_tokens(&self) -> u32 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// One event of a normalized answer stream.
///
/// A well-formed stream is: `Start`, then per choice `RoleStart` before that choice's content,
/// text and refusal deltas, tool calls as `ToolCallStart` → `ToolCallDelta`* → `ToolCallEnd`
/// (each index started once), one `Finish` per choice, at most one `Usage`, and `Done` last —
/// or an `Error`, after which nothing follows. [`check_stream`] checks exactly this.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The answer's id and the model answering. `created` as in [`ChatResponse::created`].
    Start {
        id: String,
        model: String,
        created: Option<u64>,
    },
    /// The assistant starts speaking in this choice.
    RoleStart {
        choice: u32,
    },
    TextDelta {
        choice: u32,
        text: String,
    },
    RefusalDelta {
        choice: u32,
        text: String,
    },
    /// Tool call `index` (0-based among this choice's tool calls) begins.
    ToolCallStart {
        choice: u32,
        index: u32,
        id: String,
        name: String,
    },
    /// More of tool call `index`'s argument JSON text.
    ToolCallDelta {
        choice: u32,
        index: u32,
        arguments: String,
    },
    ToolCallEnd {
        choice: u32,
        index: u32,
    },
    Finish {
        choice: u32,
        reason: FinishReason,
        stop_sequence: Option<String>,
    },
    /// The final token counts of the whole answer.
    Usage(Usage),
    /// The provider failed mid-stream; the stream ends here.
    Error(StreamError),
    /// The stream ended normally.
    Done,
}

/// An error inside a stream, already classified and safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    pub kind: agenthub_policy::ErrorKind,
    pub message: String,
}

/// Builds the complete answer from a stream's events: what the hub logs, inspects and caches
/// after a streamed call, and what the compliance suite compares with a non-streamed answer.
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    response: ChatResponse,
    error: Option<StreamError>,
    done: bool,
}

impl StreamAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    fn choice(&mut self, index: u32) -> &mut Choice {
        let position = match self.response.choices.iter().position(|c| c.index == index) {
            Some(position) => position,
            None => {
                self.response.choices.push(Choice {
                    index,
                    message: AssistantMessage::default(),
                    finish_reason: FinishReason::Stop,
                    stop_sequence: None,
                    logprobs: None,
                });
                self.response.choices.len() - 1
            }
        };
        &mut self.response.choices[position]
    }

    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Start { id, model, created } => {
                self.response.id.clone_from(id);
                self.response.model.clone_from(model);
                self.response.created = *created;
            }
            StreamEvent::RoleStart { choice } => {
                self.choice(*choice);
            }
            StreamEvent::TextDelta { choice, text } => {
                self.choice(*choice)
                    .message
                    .text
                    .get_or_insert_with(String::new)
                    .push_str(text);
            }
            StreamEvent::RefusalDelta { choice, text } => {
                self.choice(*choice)
                    .message
                    .refusal
                    .get_or_insert_with(String::new)
                    .push_str(text);
            }
            StreamEvent::ToolCallStart {
                choice,
                index,
                id,
                name,
            } => {
                let calls = &mut self.choice(*choice).message.tool_calls;
                let at = *index as usize;
                if calls.len() <= at {
                    calls.resize_with(at + 1, || ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                calls[at].id.clone_from(id);
                calls[at].name.clone_from(name);
            }
            StreamEvent::ToolCallDelta {
                choice,
                index,
                arguments,
            } => {
                if let Some(call) = self
                    .choice(*choice)
                    .message
                    .tool_calls
                    .get_mut(*index as usize)
                {
                    call.arguments.push_str(arguments);
                }
            }
            StreamEvent::ToolCallEnd { .. } => {}
            StreamEvent::Finish {
                choice,
                reason,
                stop_sequence,
            } => {
                let choice = self.choice(*choice);
                choice.finish_reason = *reason;
                choice.stop_sequence.clone_from(stop_sequence);
            }
            StreamEvent::Usage(usage) => self.response.usage = Some(*usage),
            StreamEvent::Error(error) => self.error = Some(error.clone()),
            StreamEvent::Done => self.done = true,
        }
    }

    /// The error that ended the stream, if one did.
    pub fn error(&self) -> Option<&StreamError> {
        self.error.as_ref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The answer so far, choices in index order.
    pub fn finish(mut self) -> ChatResponse {
        self.response.choices.sort_by_key(|c| c.index);
        self.response
    }
}

/// Checks that events form a well-formed stream (see [`StreamEvent`]); the first violation is
/// returned. Every stream decoder's output must pass this.
pub fn check_stream(events: &[StreamEvent]) -> Result<(), String> {
    use std::collections::{HashMap, HashSet};
    let mut started = false;
    let mut ended = false;
    let mut roles = HashSet::new();
    let mut finished = HashSet::new();
    // (choice, index) → open?
    let mut calls: HashMap<(u32, u32), bool> = HashMap::new();
    let mut usage_seen = false;
    for (at, event) in events.iter().enumerate() {
        let fail = |what: &str| Err(format!("event {at} ({event:?}): {what}"));
        if ended {
            return fail("after the end of the stream");
        }
        if !started && !matches!(event, StreamEvent::Start { .. } | StreamEvent::Error(_)) {
            return fail("before Start");
        }
        let content_choice = match event {
            StreamEvent::TextDelta { choice, .. }
            | StreamEvent::RefusalDelta { choice, .. }
            | StreamEvent::ToolCallStart { choice, .. }
            | StreamEvent::ToolCallDelta { choice, .. }
            | StreamEvent::ToolCallEnd { choice, .. }
            | StreamEvent::Finish { choice, .. } => Some(*choice),
            _ => None,
        };
        if let Some(choice) = content_choice {
            if !roles.contains(&choice) {
                return fail("content before RoleStart");
            }
            if finished.contains(&choice) {
                return fail("content after Finish");
            }
        }
        match event {
            StreamEvent::Start { .. } => {
                if started {
                    return fail("second Start");
                }
                started = true;
            }
            StreamEvent::RoleStart { choice } => {
                if !roles.insert(*choice) {
                    return fail("second RoleStart");
                }
            }
            StreamEvent::ToolCallStart { choice, index, .. } => {
                if calls.insert((*choice, *index), true).is_some() {
                    return fail("tool call started twice");
                }
                let earlier = (0..*index).all(|i| calls.contains_key(&(*choice, i)));
                if !earlier {
                    return fail("tool call indexes must start at 0 and be consecutive");
                }
            }
            StreamEvent::ToolCallDelta { choice, index, .. } => {
                if calls.get(&(*choice, *index)) != Some(&true) {
                    return fail("delta of a tool call that is not open");
                }
            }
            StreamEvent::ToolCallEnd { choice, index } => {
                if calls.insert((*choice, *index), false) != Some(true) {
                    return fail("end of a tool call that is not open");
                }
            }
            StreamEvent::Finish { choice, .. } => {
                if calls.iter().any(|((c, _), open)| c == choice && *open) {
                    return fail("Finish with a tool call still open");
                }
                finished.insert(*choice);
            }
            StreamEvent::Usage(_) => {
                if usage_seen {
                    return fail("second Usage");
                }
                usage_seen = true;
            }
            StreamEvent::Error(_) => ended = true,
            StreamEvent::Done => {
                if roles.iter().any(|c| !finished.contains(c)) {
                    return fail("Done before every choice finished");
                }
                ended = true;
            }
            StreamEvent::TextDelta { .. } | StreamEvent::RefusalDelta { .. } => {}
        }
    }
    if !ended {
        return Err("the stream has no Done or Error".to_owned());
    }
    Ok(())
}

/// A request for embeddings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    /// Truncate vectors to this many dimensions (models that support it).
    pub dimensions: Option<u32>,
    /// How the *client* wants vectors encoded; adapters always ask providers for floats.
    pub encoding: EmbeddingEncoding,
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingInput {
    Text(Vec<String>),
    /// Pre-tokenized input: one token array per input.
    Tokens(Vec<Vec<u32>>),
}

impl Default for EmbeddingInput {
    fn default() -> Self {
        Self::Text(Vec::new())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmbeddingEncoding {
    #[default]
    Float,
    /// Little-endian `f32`s, base64-encoded.
    Base64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddingsResponse {
    pub model: String,
    pub data: Vec<Embedding>,
    pub usage: EmbeddingsUsage,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub index: u32,
    pub vector: Vec<f32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EmbeddingsUsage {
    pub input_tokens: u32,
}

/// A model the router offers, for `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    pub owned_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_become_inline_images_and_back() {
        let source = ImageSource::from_url("data:image/png;base64,iVBORw0KGgo=");
        assert_eq!(
            source,
            ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            }
        );
        assert_eq!(source.to_url(), "data:image/png;base64,iVBORw0KGgo=");
        let url = ImageSource::from_url("https://example.com/a.png");
        assert_eq!(url, ImageSource::Url("https://example.com/a.png".into()));
        // A data URI that is not base64 stays a URL: providers decide.
        assert!(matches!(
            ImageSource::from_url("data:text/plain,hello"),
            ImageSource::Url(_)
        ));
    }

    #[test]
    fn accumulator_assembles_a_stream() {
        let events = [
            StreamEvent::Start {
                id: "x".into(),
                model: "m".into(),
                created: None,
            },
            StreamEvent::RoleStart { choice: 0 },
            StreamEvent::TextDelta {
                choice: 0,
                text: "Hel".into(),
            },
            StreamEvent::TextDelta {
                choice: 0,
                text: "lo".into(),
            },
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 0,
                id: "c1".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                choice: 0,
                index: 0,
                arguments: "{\"a\":".into(),
            },
            StreamEvent::ToolCallDelta {
                choice: 0,
                index: 0,
                arguments: "1}".into(),
            },
            StreamEvent::ToolCallEnd {
                choice: 0,
                index: 0,
            },
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::ToolCalls,
                stop_sequence: None,
            },
            StreamEvent::Usage(Usage {
                input_tokens: 3,
                output_tokens: 4,
                ..Usage::default()
            }),
            StreamEvent::Done,
        ];
        check_stream(&events).unwrap();
        let mut acc = StreamAccumulator::new();
        events.iter().for_each(|e| acc.push(e));
        assert!(acc.is_done());
        let response = acc.finish();
        assert_eq!(response.choices[0].message.text.as_deref(), Some("Hello"));
        assert_eq!(
            response.choices[0].message.tool_calls[0].arguments,
            "{\"a\":1}"
        );
        assert_eq!(response.choices[0].finish_reason, FinishReason::ToolCalls);
        assert_eq!(response.usage.unwrap().total_tokens(), 7);
    }

    #[test]
    fn check_stream_finds_violations() {
        let start = StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
            created: None,
        };
        let cases: Vec<(Vec<StreamEvent>, &str)> = vec![
            (vec![StreamEvent::Done], "before Start"),
            (
                vec![
                    start.clone(),
                    StreamEvent::TextDelta {
                        choice: 0,
                        text: "a".into(),
                    },
                ],
                "content before RoleStart",
            ),
            (
                vec![
                    start.clone(),
                    StreamEvent::RoleStart { choice: 0 },
                    StreamEvent::ToolCallDelta {
                        choice: 0,
                        index: 0,
                        arguments: "{}".into(),
                    },
                ],
                "not open",
            ),
            (
                vec![
                    start.clone(),
                    StreamEvent::RoleStart { choice: 0 },
                    StreamEvent::Done,
                ],
                "Done before every choice finished",
            ),
            (
                vec![start.clone(), StreamEvent::RoleStart { choice: 0 }],
                "no Done",
            ),
        ];
        for (events, expected) in cases {
            let error = check_stream(&events).unwrap_err();
            assert!(error.contains(expected), "{error} should say {expected}");
        }
    }
}
