//! Clients of the Anthropic API: `POST /v1/messages`.

use agenthub_policy::ErrorKind;
use serde_json::Value;

use super::{Ingress, StreamEncoder, check_range};
use crate::adapters::anthropic::{arguments_to_input, input_to_arguments, part_to_block};
use crate::error::{Error, Result};
use crate::model::{
    ChatRequest, ChatResponse, ContentPart, Image, ImageSource, JsonSchemaFormat, Message,
    ResponseFormat, Sampling, StreamEvent, StreamOptions, Tool, ToolCall, ToolChoice, Usage,
};
use crate::params::{Provider, Translated, Warning, anthropic_input_tokens, finish_reason_to};
use crate::wire::anthropic as wire;
use crate::wire::sse::SseEvent;
use crate::wire::{from_client, to_value};

#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicIngress;

impl AnthropicIngress {
    pub fn new() -> Self {
        Self
    }
}

impl Ingress for AnthropicIngress {
    fn decode_request(&self, body: &[u8]) -> Result<Translated<ChatRequest>> {
        let wire: wire::MessagesRequest = from_client(body)?;
        request_from_wire(wire)
    }

    fn encode_response(&self, response: &ChatResponse) -> Value {
        to_value(&response_to_wire(response))
    }

    fn stream_encoder(&self, _request: &ChatRequest) -> Box<dyn StreamEncoder> {
        Box::new(AnthropicStreamEncoder::default())
    }

    fn error_body(&self, kind: ErrorKind, message: &str, _param: Option<&str>) -> Value {
        to_value(&wire::ErrorBody {
            kind: "error".to_owned(),
            error: error_object(kind, message),
            request_id: None,
        })
    }
}

/// Anthropic's error type for each kind (its documented set).
fn error_object(kind: ErrorKind, message: &str) -> wire::ErrorObject {
    let name = match kind {
        ErrorKind::InvalidRequest | ErrorKind::MethodNotAllowed | ErrorKind::Conflict => {
            "invalid_request_error"
        }
        ErrorKind::Unauthenticated => "authentication_error",
        ErrorKind::Forbidden => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::PayloadTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::UpstreamTimeout => "timeout_error",
        ErrorKind::Unavailable => "overloaded_error",
        ErrorKind::UpstreamFailed | ErrorKind::Internal => "api_error",
    };
    wire::ErrorObject {
        kind: name.to_owned(),
        message: message.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Request

/// Collects what the request asks that the router cannot carry.
#[derive(Default)]
struct Notes {
    warnings: Vec<Warning>,
    cache_control: bool,
    thinking: bool,
}

impl Notes {
    fn cache(&mut self, cache_control: &Option<Value>) {
        self.cache_control |= cache_control.is_some();
    }
}

fn image_of(at: &str, source: wire::ImageSource) -> Result<ContentPart> {
    let source = match source {
        wire::ImageSource::Base64 { media_type, data } => ImageSource::Base64 { media_type, data },
        wire::ImageSource::Url { url } => ImageSource::Url(url),
        wire::ImageSource::Unknown => {
            return Err(Error::invalid(
                format!("{at}.source.type"),
                "only `base64` and `url` image sources are supported by the router",
            ));
        }
    };
    Ok(ContentPart::Image(Image {
        source,
        detail: None,
    }))
}

fn unsupported_block(at: String) -> Error {
    Error::invalid(
        format!("{at}.type"),
        "this content block type is not supported by the router",
    )
}

/// A text or image block (of a user turn, a tool result) → a part.
fn part_of(at: String, block: wire::ContentBlock, notes: &mut Notes) -> Result<ContentPart> {
    match block {
        wire::ContentBlock::Text {
            text,
            cache_control,
            ..
        } => {
            notes.cache(&cache_control);
            Ok(ContentPart::Text(text))
        }
        wire::ContentBlock::Image {
            source,
            cache_control,
        } => {
            notes.cache(&cache_control);
            image_of(&at, source)
        }
        _ => Err(unsupported_block(at)),
    }
}

fn parts_of(
    at: &str,
    blocks: Vec<wire::ContentBlock>,
    notes: &mut Notes,
) -> Result<Vec<ContentPart>> {
    blocks
        .into_iter()
        .enumerate()
        .map(|(j, block)| part_of(format!("{at}[{j}]"), block, notes))
        .collect()
}

fn request_from_wire(wire: wire::MessagesRequest) -> Result<Translated<ChatRequest>> {
    let mut notes = Notes::default();
    for key in wire.extra.keys() {
        notes.warnings.push(Warning::new(
            key.clone(),
            "ignored (not supported by the router)",
        ));
    }
    if wire.messages.is_empty() {
        return Err(Error::invalid(
            "messages",
            "must contain at least one message",
        ));
    }
    if wire.max_tokens == 0 {
        return Err(Error::invalid("max_tokens", "must be at least 1"));
    }
    check_range("temperature", wire.temperature, 0.0, 1.0)?;
    check_range("top_p", wire.top_p, 0.0, 1.0)?;

    let mut messages = Vec::with_capacity(wire.messages.len() + 1);
    match wire.system {
        None => {}
        Some(wire::System::Text(text)) => messages.push(Message::system(text)),
        Some(wire::System::Blocks(blocks)) => {
            let mut content = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.into_iter().enumerate() {
                match block {
                    wire::ContentBlock::Text {
                        text,
                        cache_control,
                        ..
                    } => {
                        notes.cache(&cache_control);
                        content.push(ContentPart::Text(text));
                    }
                    _ => {
                        return Err(Error::invalid(
                            format!("system[{j}].type"),
                            "system blocks must be text",
                        ));
                    }
                }
            }
            messages.push(Message::System {
                content,
                name: None,
            });
        }
    }
    for (i, message) in wire.messages.into_iter().enumerate() {
        let at = format!("messages[{i}].content");
        match (message.role, message.content) {
            (wire::Role::User, wire::MessageContent::Text(text)) => {
                messages.push(Message::user(text))
            }
            (wire::Role::Assistant, wire::MessageContent::Text(text)) => {
                messages.push(Message::assistant(text));
            }
            (wire::Role::User, wire::MessageContent::Blocks(blocks)) => {
                // Tool results become tool messages, ahead of the rest of the turn.
                let mut rest = Vec::new();
                for (j, block) in blocks.into_iter().enumerate() {
                    match block {
                        wire::ContentBlock::ToolResult {
                            tool_use_id,
                            content,
                            is_error,
                            cache_control,
                        } => {
                            notes.cache(&cache_control);
                            let content = match content {
                                None => Vec::new(),
                                Some(wire::ToolResultContent::Text(text)) => {
                                    vec![ContentPart::Text(text)]
                                }
                                Some(wire::ToolResultContent::Blocks(blocks)) => {
                                    parts_of(&format!("{at}[{j}].content"), blocks, &mut notes)?
                                }
                            };
                            messages.push(Message::Tool {
                                tool_call_id: tool_use_id,
                                content,
                                is_error: is_error.unwrap_or(false),
                            });
                        }
                        other => rest.push((j, other)),
                    }
                }
                if !rest.is_empty() {
                    let mut content = Vec::with_capacity(rest.len());
                    for (j, block) in rest {
                        content.push(part_of(format!("{at}[{j}]"), block, &mut notes)?);
                    }
                    messages.push(Message::User {
                        content,
                        name: None,
                    });
                }
            }
            (wire::Role::Assistant, wire::MessageContent::Blocks(blocks)) => {
                let mut content = Vec::new();
                let mut tool_calls = Vec::new();
                for (j, block) in blocks.into_iter().enumerate() {
                    match block {
                        wire::ContentBlock::Text {
                            text,
                            cache_control,
                            ..
                        } => {
                            notes.cache(&cache_control);
                            content.push(ContentPart::Text(text));
                        }
                        wire::ContentBlock::ToolUse {
                            id,
                            name,
                            input,
                            cache_control,
                        } => {
                            notes.cache(&cache_control);
                            tool_calls.push(ToolCall {
                                id,
                                name,
                                arguments: input_to_arguments(&input),
                            });
                        }
                        wire::ContentBlock::Thinking { .. }
                        | wire::ContentBlock::RedactedThinking { .. } => notes.thinking = true,
                        _ => return Err(unsupported_block(format!("{at}[{j}]"))),
                    }
                }
                messages.push(Message::Assistant {
                    content,
                    tool_calls,
                    name: None,
                });
            }
        }
    }

    let mut tools = Vec::new();
    for (i, tool) in wire.tools.unwrap_or_default().into_iter().enumerate() {
        if let Some(kind) = tool.kind.as_deref()
            && kind != "custom"
        {
            return Err(Error::invalid(
                format!("tools[{i}].type"),
                format!("server tool `{kind}` is not supported by the router"),
            ));
        }
        notes.cache(&tool.cache_control);
        let Some(schema) = tool.input_schema else {
            return Err(Error::invalid(
                format!("tools[{i}].input_schema"),
                "missing field `input_schema`",
            ));
        };
        tools.push(Tool {
            name: tool.name,
            description: tool.description,
            parameters: Some(schema),
            strict: tool.strict,
        });
    }
    let (tool_choice, disable_parallel) = match wire.tool_choice {
        None => (None, None),
        Some(wire::ToolChoice::Auto {
            disable_parallel_tool_use,
        }) => (Some(ToolChoice::Auto), disable_parallel_tool_use),
        Some(wire::ToolChoice::Any {
            disable_parallel_tool_use,
        }) => (Some(ToolChoice::Required), disable_parallel_tool_use),
        Some(wire::ToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        }) => (Some(ToolChoice::Tool(name)), disable_parallel_tool_use),
        Some(wire::ToolChoice::None) => (Some(ToolChoice::None), None),
    };
    let format = wire
        .output_config
        .as_ref()
        .and_then(|c| c.format.clone())
        .or(wire.output_format);
    if let Some(config) = &wire.output_config {
        for key in config.extra.keys() {
            notes.warnings.push(Warning::new(
                format!("output_config.{key}"),
                "ignored (not supported by the router)",
            ));
        }
    }
    let response_format = format.map(|wire::OutputFormat::JsonSchema { schema }| {
        ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: JsonSchemaFormat::DEFAULT_NAME.to_owned(),
            description: None,
            schema: Some(schema),
            strict: None,
        })
    });
    if notes.cache_control {
        notes.warnings.push(Warning::new(
            "cache_control",
            "ignored (prompt caching breakpoints are not carried by the router yet)",
        ));
    }
    if notes.thinking {
        notes.warnings.push(Warning::new(
            "thinking",
            "thinking blocks in the conversation were left out",
        ));
    }
    let request = ChatRequest {
        model: wire.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: disable_parallel.map(|disable| !disable),
        response_format,
        sampling: Sampling {
            temperature: wire.temperature,
            top_p: wire.top_p,
            top_k: wire.top_k,
            ..Sampling::default()
        },
        max_output_tokens: Some(wire.max_tokens),
        stop: wire.stop_sequences.unwrap_or_default(),
        n: None,
        seed: None,
        user: wire.metadata.and_then(|m| m.user_id),
        logprobs: None,
        // Anthropic streams always end with the usage.
        stream: (wire.stream == Some(true)).then_some(StreamOptions {
            include_usage: true,
        }),
    };
    Ok(Translated {
        value: request,
        warnings: notes.warnings,
    })
}

// ---------------------------------------------------------------------------------------------
// Response

fn usage_to_wire(usage: &Usage) -> wire::Usage {
    wire::Usage {
        input_tokens: anthropic_input_tokens(usage),
        output_tokens: usage.output_tokens,
        cache_creation_input_tokens: usage.cache_write_input_tokens,
        cache_read_input_tokens: usage.cached_input_tokens,
    }
}

/// Tool-call arguments → `input`; text that is not a JSON object is passed as a string rather
/// than lost.
fn input_of(arguments: &str) -> Value {
    arguments_to_input(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

fn response_to_wire(response: &ChatResponse) -> wire::Message {
    // An Anthropic client cannot ask for several choices: the first is the answer.
    let choice = response.choices.iter().min_by_key(|c| c.index);
    let mut content = Vec::new();
    let mut stop_reason = "end_turn";
    let mut stop_sequence = None;
    if let Some(choice) = choice {
        let message = &choice.message;
        if let Some(text) = message.text.as_ref().filter(|t| !t.is_empty()) {
            content.push(part_to_block(&ContentPart::Text(text.clone())));
        } else if let Some(refusal) = &message.refusal {
            content.push(part_to_block(&ContentPart::Text(refusal.clone())));
        }
        for call in &message.tool_calls {
            content.push(wire::ContentBlock::ToolUse {
                id: call.id.clone(),
                name: call.name.clone(),
                input: input_of(&call.arguments),
                cache_control: None,
            });
        }
        stop_reason = finish_reason_to(
            Provider::Anthropic,
            choice.finish_reason,
            choice.stop_sequence.is_some(),
        );
        stop_sequence.clone_from(&choice.stop_sequence);
    }
    wire::Message {
        id: response.id.clone(),
        kind: "message".to_owned(),
        role: "assistant".to_owned(),
        content,
        model: response.model.clone(),
        stop_reason: Some(stop_reason.to_owned()),
        stop_sequence,
        usage: response
            .usage
            .as_ref()
            .map(usage_to_wire)
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Tool(u32),
}

/// Normalized events → Anthropic events: `message_start`, then content blocks numbered in the
/// order they open (a text block, then one block per tool call; text after a tool call opens a
/// new block), `message_delta` with the stop reason and the usage, `message_stop`.
///
/// The stop reason and usage wait for the end of the stream: a normalized stream may give the
/// usage after the finish (OpenAI does). Anthropic blocks are sequential, so a tool call's
/// arguments that arrive after another block opened cannot be written; that ends the stream
/// with an error (OpenAI does not interleave; a parallel-call stream that did would hit it).
/// Only choice 0 is written: Anthropic clients cannot ask for more. The `message_start` usage
/// is zero — the counts are known only at the end, and `message_delta` carries them all.
#[derive(Debug, Default)]
struct AnthropicStreamEncoder {
    started: bool,
    next_block: u32,
    open: Option<(u32, Open)>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<String>,
    usage: Option<Usage>,
    ended: bool,
}

fn sse(event: &wire::StreamEvent) -> SseEvent {
    SseEvent::named(
        event.name(),
        serde_json::to_string(event).unwrap_or_default(),
    )
}

impl AnthropicStreamEncoder {
    fn start(&mut self, id: &str, model: &str, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(sse(&wire::StreamEvent::MessageStart {
            message: wire::Message {
                id: id.to_owned(),
                kind: "message".to_owned(),
                role: "assistant".to_owned(),
                content: Vec::new(),
                model: model.to_owned(),
                stop_reason: None,
                stop_sequence: None,
                usage: wire::Usage::default(),
            },
        }));
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(sse(&wire::StreamEvent::ContentBlockStop { index }));
        }
    }

    fn open(&mut self, kind: Open, block: wire::ContentBlock, out: &mut Vec<SseEvent>) -> u32 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, kind));
        out.push(sse(&wire::StreamEvent::ContentBlockStart {
            index,
            content_block: block,
        }));
        index
    }

    fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<SseEvent>) {
        out.push(sse(&wire::StreamEvent::Error {
            error: error_object(kind, message),
        }));
        self.ended = true;
    }
}

impl StreamEncoder for AnthropicStreamEncoder {
    fn encode(&mut self, event: &StreamEvent) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        let choice = match event {
            StreamEvent::RoleStart { choice }
            | StreamEvent::TextDelta { choice, .. }
            | StreamEvent::RefusalDelta { choice, .. }
            | StreamEvent::ToolCallStart { choice, .. }
            | StreamEvent::ToolCallDelta { choice, .. }
            | StreamEvent::ToolCallEnd { choice, .. }
            | StreamEvent::Finish { choice, .. } => *choice,
            _ => 0,
        };
        if choice != 0 {
            return out;
        }
        match event {
            StreamEvent::Start { id, model, .. } => self.start(id, model, &mut out),
            StreamEvent::RoleStart { .. } => self.start("", "", &mut out),
            StreamEvent::TextDelta { text, .. } | StreamEvent::RefusalDelta { text, .. } => {
                if text.is_empty() {
                    return out;
                }
                self.start("", "", &mut out);
                let index = match self.open {
                    Some((index, Open::Text)) => index,
                    _ => self.open(
                        Open::Text,
                        part_to_block(&ContentPart::Text(String::new())),
                        &mut out,
                    ),
                };
                out.push(sse(&wire::StreamEvent::ContentBlockDelta {
                    index,
                    delta: wire::BlockDelta::TextDelta { text: text.clone() },
                }));
            }
            StreamEvent::ToolCallStart {
                index: tool,
                id,
                name,
                ..
            } => {
                self.start("", "", &mut out);
                self.open(
                    Open::Tool(*tool),
                    wire::ContentBlock::ToolUse {
                        id: id.clone(),
                        name: name.clone(),
                        input: Value::Object(Default::default()),
                        cache_control: None,
                    },
                    &mut out,
                );
            }
            StreamEvent::ToolCallDelta {
                index: tool,
                arguments,
                ..
            } => match self.open {
                Some((index, Open::Tool(open))) if open == *tool => {
                    if !arguments.is_empty() {
                        out.push(sse(&wire::StreamEvent::ContentBlockDelta {
                            index,
                            delta: wire::BlockDelta::InputJsonDelta {
                                partial_json: arguments.clone(),
                            },
                        }));
                    }
                }
                _ => self.fail(
                    ErrorKind::UpstreamFailed,
                    "the provider interleaved the arguments of parallel tool calls, which \
                     Anthropic's stream format cannot carry",
                    &mut out,
                ),
            },
            StreamEvent::ToolCallEnd { index: tool, .. } => {
                if matches!(self.open, Some((_, Open::Tool(open))) if open == *tool) {
                    self.close(&mut out);
                }
            }
            StreamEvent::Finish {
                reason,
                stop_sequence,
                ..
            } => {
                self.close(&mut out);
                self.stop_reason = Some(finish_reason_to(
                    Provider::Anthropic,
                    *reason,
                    stop_sequence.is_some(),
                ));
                self.stop_sequence.clone_from(stop_sequence);
            }
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Done => {
                self.start("", "", &mut out);
                self.close(&mut out);
                let usage = self.usage.unwrap_or_default();
                out.push(sse(&wire::StreamEvent::MessageDelta {
                    delta: wire::MessageDeltaBody {
                        stop_reason: Some(self.stop_reason.unwrap_or("end_turn").to_owned()),
                        stop_sequence: self.stop_sequence.take(),
                    },
                    usage: wire::DeltaUsage {
                        output_tokens: usage.output_tokens,
                        input_tokens: Some(anthropic_input_tokens(&usage)),
                        cache_creation_input_tokens: usage.cache_write_input_tokens,
                        cache_read_input_tokens: usage.cached_input_tokens,
                    },
                }));
                out.push(sse(&wire::StreamEvent::MessageStop));
                self.ended = true;
            }
            StreamEvent::Error(error) => self.fail(error.kind, &error.message, &mut out),
        }
        out
    }
}
