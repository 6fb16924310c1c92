//! The Mistral adapter (`https://api.mistral.ai/v1`): a Chat Completions dialect, so the request
//! is built by the OpenAI adapter's encoder (negotiated against Mistral's column of the table)
//! and then put in Mistral's shape, and streams are decoded by the OpenAI decoder once each chunk
//! is in OpenAI's shape. What Mistral does differently:
//!
//! - `random_seed` for `seed`, `max_tokens`, `tool_choice: "any"` for "required"; no `user`,
//!   `logprobs`, `logit_bias` or `stream_options` (Mistral answers an unknown field with a 422, and
//!   sends the usage in its last chunk unasked); `safe_prompt` is never sent.
//! - Tool-call ids must be 9 letters or digits (Mistral validates this for its function-calling
//!   models): other ids are replaced by a stable 9-character digest, the same in the assistant's
//!   call and in the tool result, and the same in every turn of a conversation. Mistral's own ids
//!   already have that form and pass unchanged both ways.
//! - A function always has `parameters`, a JSON schema output always a `schema`.
//! - A conversation that ends with an assistant message is sent with `prefix: true` (the model
//!   continues that message, as Anthropic's prefill does); Mistral refuses it otherwise.
//! - Answers: content may be a list of chunks (reasoning models put thinking first; only text
//!   chunks are the answer), tool-call arguments may be an object, each streamed tool call comes
//!   whole in one chunk, and `model_length` and `error` are finish reasons.
//! - Errors: `{"object": "error", "message", "type", "param", "code"}` (the message may hold the
//!   validation details) and FastAPI's 422 `{"detail": [{"loc", "msg", "type"}]}`.

use std::collections::HashMap;

use serde_json::Value;

use super::anthropic::{arguments_to_input, empty_schema};
use super::openai::{self as openai_adapter, Flavor, OpenAiAdapter};
use super::{
    Call, Operation, ProviderAdapter, StreamDecoder, UpstreamRequest, loose_error_message,
};
use crate::error::{Error, Result};
use crate::model::{
    AssistantMessage, ChatRequest, ChatResponse, Choice, EmbeddingInput, EmbeddingsRequest,
    EmbeddingsResponse, Message, StreamError, StreamEvent, ToolCall,
};
use crate::params::{ModelProfile, Negotiation, Param, Provider, Translated, finish_reason_from};
use crate::wire::mistral as wire;
use crate::wire::openai;
use crate::wire::sse::SseEvent;
use crate::wire::{from_provider, to_value};

#[derive(Debug, Clone, Copy, Default)]
pub struct MistralAdapter;

impl MistralAdapter {
    pub fn new() -> Self {
        Self
    }
}

impl ProviderAdapter for MistralAdapter {
    fn provider(&self) -> Provider {
        Provider::Mistral
    }

    /// `{base}/chat/completions` and `{base}/embeddings` (the base URL includes the version:
    /// `https://api.mistral.ai/v1`), the key as a bearer token.
    fn prepare(&self, call: &Call<'_>, body: Vec<u8>) -> Result<UpstreamRequest> {
        let path = match call.operation {
            Operation::Chat { .. } => "/chat/completions",
            Operation::Embeddings => "/embeddings",
        };
        let request = UpstreamRequest::json(call, format!("{}{path}", call.base_url), body);
        Ok(match call.credential.api_key(Provider::Mistral)? {
            Some(key) => request.header("authorization", format!("Bearer {key}")),
            None => request,
        })
    }

    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>> {
        check_tool_arguments(request)?;
        let mut cx = Negotiation::new(Provider::Mistral, profile);
        let openai = openai_adapter::encode_request(request, &mut cx, Flavor::Compatible)?;
        let wire = from_openai(openai)?;
        Ok(Translated {
            value: to_value(&wire),
            warnings: cx.into_warnings(),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse> {
        let wire: wire::ChatCompletionResponse = from_provider(body, "chat completion")?;
        Ok(response_from_wire(wire))
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(MistralStreamDecoder {
            inner: OpenAiAdapter::compatible().stream_decoder(),
            ended: false,
        })
    }

    fn decode_error(&self, status: u16, body: &[u8]) -> Error {
        if let Ok(error) = serde_json::from_slice::<wire::ErrorBody>(body)
            && error.object == "error"
        {
            return error_from_wire(status, error);
        }
        if let Ok(error) = serde_json::from_slice::<wire::ValidationErrorBody>(body) {
            let (message, param) = validation_message(&error.detail);
            return Error::provider(Provider::Mistral, status, None, message, param);
        }
        Error::provider(
            Provider::Mistral,
            status,
            None,
            loose_error_message(body),
            None,
        )
    }

    fn has_embeddings(&self) -> bool {
        true
    }

    fn encode_embeddings(
        &self,
        request: &EmbeddingsRequest,
        profile: &ModelProfile,
    ) -> Result<Value> {
        let texts = match &request.input {
            EmbeddingInput::Text(texts) => texts.clone(),
            EmbeddingInput::Tokens(_) => {
                return Err(Error::invalid(
                    "input",
                    "mistral embeds text only: token arrays are not supported",
                ));
            }
        };
        // Embeddings have no warnings channel: a dropped `user` goes unreported, a rejected one
        // fails as for chat.
        if request.user.is_some() {
            Negotiation::new(Provider::Mistral, profile).allow(Param::User)?;
        }
        Ok(to_value(&wire::EmbeddingsRequest {
            model: profile.upstream_model.clone(),
            input: texts,
            output_dimension: request.dimensions,
            encoding_format: Some("float".to_owned()),
        }))
    }

    /// Mistral answers in OpenAI's shape.
    fn decode_embeddings(&self, body: &[u8]) -> Result<EmbeddingsResponse> {
        OpenAiAdapter::new().decode_embeddings(body)
    }
}

// ---------------------------------------------------------------------------------------------
// Request

/// Mistral reads tool-call arguments as JSON (it renders them into the model's prompt): text that
/// is not a JSON object is refused here, naming the field, rather than by Mistral.
fn check_tool_arguments(request: &ChatRequest) -> Result<()> {
    for (i, message) in request.messages.iter().enumerate() {
        if let Message::Assistant { tool_calls, .. } = message {
            for (j, call) in tool_calls.iter().enumerate() {
                arguments_to_input(&call.arguments).map_err(|message| {
                    Error::invalid(
                        format!("messages[{i}].tool_calls[{j}].function.arguments"),
                        message,
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// The OpenAI request, negotiated for Mistral, in Mistral's shape.
fn from_openai(request: openai::ChatCompletionRequest) -> Result<wire::ChatCompletionRequest> {
    let openai::ChatCompletionRequest {
        model,
        messages,
        frequency_penalty,
        max_tokens,
        n,
        parallel_tool_calls,
        presence_penalty,
        response_format,
        seed,
        stop,
        stream,
        temperature,
        top_p,
        tools,
        tool_choice,
        // Never set here: Mistral's column marks these unsupported, so negotiation left them out.
        logit_bias: _,
        logprobs: _,
        top_logprobs: _,
        user: _,
        // The compatible flavour sends `max_tokens`.
        max_completion_tokens: _,
        // Mistral sends the usage in its last chunk unasked, and refuses the field.
        stream_options: _,
        extra: _,
    } = request;
    let mut ids = ToolCallIds::default();
    let last = messages.len().checked_sub(1);
    let mut out = Vec::with_capacity(messages.len());
    for (i, message) in messages.into_iter().enumerate() {
        out.push(match message {
            openai::ChatMessage::System { content, .. }
            | openai::ChatMessage::Developer { content, .. } => {
                wire::ChatMessage::System { content }
            }
            openai::ChatMessage::User { content, .. } => wire::ChatMessage::User { content },
            openai::ChatMessage::Assistant {
                content,
                tool_calls,
                ..
            } => wire::ChatMessage::Assistant {
                prefix: Some(i) == last && tool_calls.is_none(),
                content,
                tool_calls: tool_calls.map(|calls| {
                    calls
                        .into_iter()
                        .map(|mut call| {
                            call.id = ids.map(&call.id);
                            if call.function.arguments.trim().is_empty() {
                                call.function.arguments = "{}".to_owned();
                            }
                            call
                        })
                        .collect()
                }),
            },
            openai::ChatMessage::Tool {
                content,
                tool_call_id,
            } => wire::ChatMessage::Tool {
                content,
                tool_call_id: ids.map(&tool_call_id),
            },
            openai::ChatMessage::Function { .. } => {
                return Err(Error::invalid(
                    format!("messages[{i}]"),
                    "function messages are not supported",
                ));
            }
        });
    }
    let tools = tools.map(|tools| {
        tools
            .into_iter()
            .map(|mut tool| {
                if let Some(function) = &mut tool.function
                    && function.parameters.is_none()
                {
                    function.parameters = Some(empty_schema());
                }
                tool
            })
            .collect()
    });
    let tool_choice = tool_choice.map(|choice| match choice {
        openai::ToolChoice::Mode(mode) if mode == "required" => {
            openai::ToolChoice::Mode("any".to_owned())
        }
        other => other,
    });
    let response_format = response_format.map(|format| match format {
        openai::ResponseFormat::JsonSchema { mut json_schema } => {
            json_schema.schema.get_or_insert_with(empty_schema);
            openai::ResponseFormat::JsonSchema { json_schema }
        }
        other => other,
    });
    Ok(wire::ChatCompletionRequest {
        model,
        messages: out,
        temperature,
        top_p,
        max_tokens,
        stream,
        stop,
        random_seed: seed,
        response_format,
        tools,
        tool_choice,
        presence_penalty,
        frequency_penalty,
        n,
        parallel_tool_calls,
    })
}

/// The length of Mistral's tool-call ids.
const ID_LEN: usize = 9;

/// Whether Mistral takes `id` as a tool-call id: 9 ASCII letters or digits.
fn is_mistral_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A 9-character base-62 digest of `id` (FNV-1a, 64 bits, then `salt` if not 0): stable across
/// processes and releases, so a conversation's ids map the same way in every turn.
fn digest_id(id: &str, salt: u32) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash
    }
    let mut hash = fnv1a(0xcbf2_9ce4_8422_2325, id.as_bytes());
    if salt != 0 {
        hash = fnv1a(hash, &salt.to_le_bytes());
    }
    let mut out = [b'0'; ID_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(hash % 62) as usize];
        hash /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// The ids of one request, mapped to ids Mistral takes.
#[derive(Debug, Default)]
struct ToolCallIds {
    /// Client id → Mistral id.
    mapped: HashMap<String, String>,
    /// Mistral id → client id.
    taken: HashMap<String, String>,
}

impl ToolCallIds {
    fn map(&mut self, id: &str) -> String {
        if let Some(known) = self.mapped.get(id) {
            return known.clone();
        }
        let mut candidate = if is_mistral_id(id) {
            id.to_owned()
        } else {
            digest_id(id, 0)
        };
        // Two ids of one request never share a Mistral id (a digest collision is astronomically
        // unlikely, but two calls must stay apart if it happens).
        let mut salt = 1;
        while self.taken.get(&candidate).is_some_and(|owner| owner != id) {
            candidate = digest_id(id, salt);
            salt += 1;
        }
        self.taken.insert(candidate.clone(), id.to_owned());
        self.mapped.insert(id.to_owned(), candidate.clone());
        candidate
    }
}

// ---------------------------------------------------------------------------------------------
// Response

fn tool_call_from_wire(call: wire::ResponseToolCall, choice: u32, at: usize) -> ToolCall {
    ToolCall {
        id: call
            .id
            .filter(|id| !id.is_empty() && id != "null")
            .unwrap_or_else(|| format!("call_{choice}_{at}")),
        arguments: call.function.arguments_text().unwrap_or_default(),
        name: call.function.name.unwrap_or_default(),
    }
}

fn response_from_wire(wire: wire::ChatCompletionResponse) -> ChatResponse {
    ChatResponse {
        id: wire.id,
        model: wire.model,
        created: (wire.created != 0).then_some(wire.created),
        choices: wire
            .choices
            .into_iter()
            .map(|choice| {
                let message = choice.message.unwrap_or_default();
                let text = message
                    .content
                    .map(|content| content.text())
                    .filter(|text| !text.is_empty());
                let tool_calls = message
                    .tool_calls
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .map(|(at, call)| tool_call_from_wire(call, choice.index, at))
                    .collect();
                Choice {
                    index: choice.index,
                    message: AssistantMessage {
                        text,
                        refusal: None,
                        tool_calls,
                    },
                    finish_reason: finish_reason_from(
                        Provider::Mistral,
                        choice.finish_reason.as_deref().unwrap_or("stop"),
                    ),
                    stop_sequence: None,
                    logprobs: None,
                }
            })
            .collect(),
        usage: wire.usage.as_ref().map(openai_adapter::usage_from_wire),
    }
}

fn error_from_wire(status: u16, error: wire::ErrorBody) -> Error {
    let (message, param) = match error.message {
        Value::String(text) => (text, None),
        Value::Object(object) => {
            match object
                .get("detail")
                .cloned()
                .map(serde_json::from_value::<Vec<wire::ValidationError>>)
            {
                Some(Ok(detail)) => validation_message(&detail),
                _ => (Value::Object(object).to_string(), None),
            }
        }
        other => (other.to_string(), None),
    };
    // The type names the failure; the numeric code does not.
    let code = error.kind.or(match error.code {
        Some(Value::String(code)) => Some(code),
        Some(Value::Number(code)) => Some(code.to_string()),
        _ => None,
    });
    let status = error.raw_status_code.unwrap_or(status);
    Error::provider(
        Provider::Mistral,
        status,
        code,
        message,
        error.param.or(param),
    )
}

/// Validation details → one message (`messages[0].content: Input should be a valid string`) and
/// the field of the first.
fn validation_message(detail: &[wire::ValidationError]) -> (String, Option<String>) {
    let message = detail
        .iter()
        .map(|error| match field_of(&error.loc) {
            Some(field) => format!("{field}: {}", error.msg),
            None => error.msg.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let param = detail.first().and_then(|error| field_of(&error.loc));
    (message, param)
}

/// A pydantic location (`["body", "messages", 0, "user", "content", "str"]`) as the request
/// field it points at (`messages[0].content`): the `body` root, the role tag after a message's
/// index and the type tags of union members are not fields.
fn field_of(loc: &[Value]) -> Option<String> {
    let mut out = String::new();
    let mut after_index = false;
    for (k, part) in loc.iter().enumerate() {
        match part {
            Value::Number(n) => {
                out.push_str(&format!("[{n}]"));
                after_index = true;
                continue;
            }
            Value::String(name) => {
                let role = ["system", "user", "assistant", "tool"].contains(&name.as_str());
                let type_tag = name.contains(['[', '(', '-'])
                    || ["str", "int", "float", "bool", "dict", "list", "none"]
                        .contains(&name.as_str());
                if (k == 0 && name == "body") || (after_index && role) {
                    // Not a field: skip it.
                } else if type_tag {
                    break;
                } else {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    // The client sent `seed`.
                    out.push_str(if name == "random_seed" { "seed" } else { name });
                }
            }
            _ => {}
        }
        after_index = false;
    }
    (!out.is_empty()).then_some(out)
}

/// The status an error inside a stream stands for, when it does not say.
fn status_of_stream_error(error: &wire::ErrorBody) -> u16 {
    match error.kind.as_deref().unwrap_or("") {
        kind if kind.contains("rate_limit") => 429,
        kind if kind.contains("invalid_request") => 400,
        _ => 500,
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

/// Mistral chunks → OpenAI chunks → the OpenAI decoder. Error bodies inside the stream end it.
struct MistralStreamDecoder {
    inner: Box<dyn StreamDecoder>,
    ended: bool,
}

/// A Mistral chunk in OpenAI's shape: content chunks joined into text, arguments as text, and
/// the finish reason spelled as the normalized reason, which the OpenAI decoder reads back as the
/// same reason (`model_length` → `length`, `error` → `error`).
fn chunk_to_openai(chunk: wire::ChatCompletionChunk) -> openai::ChatCompletionChunk {
    openai::ChatCompletionChunk {
        id: chunk.id,
        object: "chat.completion.chunk".to_owned(),
        created: chunk.created,
        model: chunk.model,
        system_fingerprint: None,
        choices: chunk
            .choices
            .into_iter()
            .map(|choice| openai::ChunkChoice {
                index: choice.index,
                delta: openai::Delta {
                    role: choice.delta.role,
                    content: choice.delta.content.map(|content| content.text()),
                    refusal: None,
                    tool_calls: choice.delta.tool_calls.map(|calls| {
                        calls
                            .into_iter()
                            .map(|call| openai::ToolCallChunk {
                                index: call.index,
                                id: call.id.filter(|id| !id.is_empty() && id != "null"),
                                kind: Some("function".to_owned()),
                                function: Some(openai::FunctionCallChunk {
                                    arguments: call.function.arguments_text(),
                                    name: call.function.name,
                                }),
                            })
                            .collect()
                    }),
                },
                logprobs: None,
                finish_reason: choice.finish_reason.map(|reason| {
                    finish_reason_from(Provider::Mistral, &reason)
                        .as_str()
                        .to_owned()
                }),
            })
            .collect(),
        usage: chunk.usage.map(Some),
    }
}

impl StreamDecoder for MistralStreamDecoder {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>> {
        if self.ended {
            return Ok(Vec::new());
        }
        let data = event.data.trim();
        if data.is_empty() || data == openai::DONE {
            return self.inner.decode(event);
        }
        let value: Value = from_provider(data.as_bytes(), "stream chunk")?;
        if value.get("object").and_then(Value::as_str) == Some("error") {
            let body: wire::ErrorBody =
                serde_json::from_value(value).map_err(|source| Error::Protocol {
                    message: format!("stream error: {source}"),
                    source: Some(source),
                })?;
            let status = body
                .raw_status_code
                .unwrap_or_else(|| status_of_stream_error(&body));
            let error = error_from_wire(status, body);
            self.ended = true;
            return Ok(vec![StreamEvent::Error(StreamError {
                kind: error.kind(),
                message: error.public_message(),
            })]);
        }
        if value.get("error").is_some_and(Value::is_object) {
            // An OpenAI-style error body: the OpenAI decoder reads it and ends the stream.
            self.ended = true;
            return self.inner.decode(event);
        }
        let chunk: wire::ChatCompletionChunk =
            serde_json::from_value(value).map_err(|source| Error::Protocol {
                message: format!("stream chunk: {source}"),
                source: Some(source),
            })?;
        let chunk =
            serde_json::to_string(&chunk_to_openai(chunk)).map_err(|source| Error::Protocol {
                message: format!("stream chunk: {source}"),
                source: Some(source),
            })?;
        self.inner.decode(&SseEvent::data(chunk))
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>> {
        if self.ended {
            return Ok(Vec::new());
        }
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FinishReason, check_stream};
    use serde_json::json;

    #[test]
    fn foreign_tool_call_ids_map_to_stable_mistral_ids() {
        let mut ids = ToolCallIds::default();
        let mapped = ids.map("call_abc123");
        assert!(is_mistral_id(&mapped), "{mapped}");
        assert_eq!(ids.map("call_abc123"), mapped);
        // The same in a fresh request (the next turn) and in another process: a fixed digest.
        assert_eq!(ToolCallIds::default().map("call_abc123"), mapped);
        assert_eq!(digest_id("call_abc123", 0), mapped);
        // Mistral's own ids pass unchanged.
        assert_eq!(ids.map("D681PevKs"), "D681PevKs");
        assert_ne!(ids.map("toolu_01A09q90qw90lq917835lq9"), mapped);
        // A collision is resolved within the request.
        let mut ids = ToolCallIds::default();
        let taken = digest_id("a", 0);
        ids.taken.insert(taken.clone(), "someone else".into());
        let second = ids.map("a");
        assert_ne!(second, taken);
        assert!(is_mistral_id(&second));
    }

    #[test]
    fn the_table_keeps_what_mistral_lacks_out_of_the_request() {
        // `from_openai` drops these fields: the table must never let them through.
        let profile = ModelProfile::new("mistral-large-latest");
        let cx = Negotiation::new(Provider::Mistral, &profile);
        for param in [Param::User, Param::Logprobs, Param::LogitBias, Param::TopK] {
            assert!(!cx.supports(param), "{param:?}");
        }
        assert!(cx.supports(Param::Seed));
    }

    #[test]
    fn every_finish_reason_survives_the_openai_decoder() {
        for reason in [
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ToolCalls,
            FinishReason::ContentFilter,
            FinishReason::Error,
        ] {
            assert_eq!(
                finish_reason_from(Provider::OpenAi, reason.as_str()),
                reason
            );
        }
        assert_eq!(
            finish_reason_from(Provider::Mistral, "model_length"),
            FinishReason::Length
        );
    }

    #[test]
    fn a_trailing_assistant_message_is_a_prefix() {
        let request = ChatRequest {
            messages: vec![
                Message::user("Write a haiku."),
                Message::assistant("Autumn moonlight -"),
            ],
            ..ChatRequest::default()
        };
        let body = MistralAdapter
            .encode_request(&request, &ModelProfile::new("mistral-small-latest"))
            .unwrap()
            .value;
        assert_eq!(
            body["messages"][1],
            json!({"role": "assistant", "content": "Autumn moonlight -", "prefix": true})
        );
        assert_eq!(body["messages"][0].get("prefix"), None);
    }

    #[test]
    fn required_tool_choice_is_any_and_functions_have_parameters() {
        let request = ChatRequest {
            messages: vec![Message::user("weather?")],
            tools: vec![crate::model::Tool {
                name: "get_weather".into(),
                description: None,
                parameters: None,
                strict: None,
            }],
            tool_choice: Some(crate::model::ToolChoice::Required),
            ..ChatRequest::default()
        };
        let body = MistralAdapter
            .encode_request(&request, &ModelProfile::new("mistral-small-latest"))
            .unwrap()
            .value;
        assert_eq!(body["tool_choice"], json!("any"));
        assert_eq!(
            body["tools"][0]["function"]["parameters"],
            json!({"type": "object", "properties": {}})
        );
    }

    #[test]
    fn reasoning_chunks_and_object_arguments_are_read() {
        let body = json!({
            "id": "a1b2", "object": "chat.completion", "created": 1750000000,
            "model": "magistral-medium-2507",
            "choices": [{"index": 0, "finish_reason": "model_length", "message": {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": [{"type": "text", "text": "Let me think."}]},
                    {"type": "text", "text": "Paris"}
                ],
                "tool_calls": [{"id": "D681PevKs", "function": {"name": "f", "arguments": {"a": 1}}}]
            }}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        });
        let response = MistralAdapter
            .decode_response(body.to_string().as_bytes())
            .unwrap();
        let choice = &response.choices[0];
        assert_eq!(choice.message.text.as_deref(), Some("Paris"));
        assert_eq!(choice.message.tool_calls[0].arguments, r#"{"a":1}"#);
        assert_eq!(choice.finish_reason, FinishReason::Length);
        assert_eq!(response.usage.unwrap().output_tokens, 4);
    }

    #[test]
    fn streamed_tool_calls_split_like_openai_are_understood() {
        let mut decoder = MistralAdapter.stream_decoder();
        let chunks = [
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"D681PevKs","index":0,"function":{"name":"f","arguments":"{\"a\":"}}]}}]}"#,
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
            "[DONE]",
        ];
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(decoder.decode(&SseEvent::data(chunk)).unwrap());
        }
        check_stream(&events).unwrap();
        let mut acc = crate::model::StreamAccumulator::new();
        events.iter().for_each(|e| acc.push(e));
        let answer = acc.finish();
        assert_eq!(
            answer.choices[0].message.tool_calls[0].arguments,
            r#"{"a":1}"#
        );
        assert_eq!(answer.usage.unwrap().input_tokens, 1);
    }

    #[test]
    fn validation_errors_name_the_field() {
        let body = json!({"detail": [{
            "type": "string_type", "loc": ["body", "messages", 0, "system", "content", "str"],
            "msg": "Input should be a valid string", "input": []
        }]});
        let error = MistralAdapter.decode_error(422, body.to_string().as_bytes());
        assert_eq!(error.param(), Some("messages[0].content"));
        assert!(
            error
                .public_message()
                .contains("messages[0].content: Input should be a valid string")
        );
        let wrapped = json!({
            "object": "error", "type": "invalid_request_error", "param": null, "code": null,
            "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "random_seed"],
                                     "msg": "Extra inputs are not permitted", "input": 1}]}
        });
        let error = MistralAdapter.decode_error(422, wrapped.to_string().as_bytes());
        assert_eq!(error.param(), Some("seed"));
        assert!(
            error
                .public_message()
                .contains("Extra inputs are not permitted")
        );
    }
}
