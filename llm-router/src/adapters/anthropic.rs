//! The Anthropic Messages adapter.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{
    Call, Operation, ProviderAdapter, StreamDecoder, UpstreamRequest, loose_error_message,
};
use crate::error::{Error, Result};
use crate::model::{
    AssistantMessage, ChatRequest, ChatResponse, Choice, ContentPart, ImageSource, Message,
    ResponseFormat, StreamError, StreamEvent, ToolCall, ToolChoice, Usage,
};
use crate::params::{
    ModelProfile, Negotiation, Param, Provider, Translated, finish_reason_from,
    usage_from_anthropic,
};
use crate::wire::anthropic as wire;
use crate::wire::sse::SseEvent;
use crate::wire::{from_provider, to_value};

/// The `anthropic-version` sent unless the provider's options name another.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone, Copy, Default)]
pub struct AnthropicAdapter;

impl AnthropicAdapter {
    pub fn new() -> Self {
        Self
    }
}

impl ProviderAdapter for AnthropicAdapter {
    fn provider(&self) -> Provider {
        Provider::Anthropic
    }

    /// `{base}/v1/messages` (the base URL has no version: `https://api.anthropic.com`), the key
    /// in `x-api-key`, and `anthropic-version` (default [`ANTHROPIC_VERSION`]).
    fn prepare(&self, call: &Call<'_>, body: Vec<u8>) -> Result<UpstreamRequest> {
        if call.operation == Operation::Embeddings {
            return Err(Error::NotSupported(
                "anthropic models do not produce embeddings".into(),
            ));
        }
        let version = call
            .options
            .api_version
            .as_deref()
            .unwrap_or(ANTHROPIC_VERSION);
        let request = UpstreamRequest::json(call, format!("{}/v1/messages", call.base_url), body)
            .header("anthropic-version", version);
        Ok(match call.credential.api_key(Provider::Anthropic)? {
            Some(key) => request.header("x-api-key", key),
            None => request,
        })
    }

    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>> {
        let mut cx = Negotiation::new(Provider::Anthropic, profile);
        let wire = encode_request(request, &mut cx)?;
        Ok(Translated {
            value: to_value(&wire),
            warnings: cx.into_warnings(),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse> {
        let message: wire::Message = from_provider(body, "message")?;
        Ok(response_from_wire(message))
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(AnthropicStreamDecoder::default())
    }

    fn decode_error(&self, status: u16, body: &[u8]) -> Error {
        match serde_json::from_slice::<wire::ErrorBody>(body) {
            Ok(body) => Error::provider(
                Provider::Anthropic,
                status,
                Some(body.error.kind),
                body.error.message,
                None,
            ),
            Err(_) => Error::provider(
                Provider::Anthropic,
                status,
                None,
                loose_error_message(body),
                None,
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request

/// A tool's input schema where none was given: an object without properties.
pub(crate) fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn text_block(text: &str) -> wire::ContentBlock {
    wire::ContentBlock::Text {
        text: text.to_owned(),
        citations: None,
        cache_control: None,
    }
}

pub(crate) fn part_to_block(part: &ContentPart) -> wire::ContentBlock {
    match part {
        ContentPart::Text(text) => text_block(text),
        ContentPart::Image(image) => wire::ContentBlock::Image {
            source: match &image.source {
                ImageSource::Url(url) => wire::ImageSource::Url { url: url.clone() },
                ImageSource::Base64 { media_type, data } => wire::ImageSource::Base64 {
                    media_type: media_type.clone(),
                    data: data.clone(),
                },
            },
            cache_control: None,
        },
    }
}

/// Blocks → message content: a lone text block is sent as a plain string.
fn content_of(blocks: Vec<wire::ContentBlock>) -> wire::MessageContent {
    match blocks.as_slice() {
        [
            wire::ContentBlock::Text {
                text,
                citations: None,
                cache_control: None,
            },
        ] => wire::MessageContent::Text(text.clone()),
        _ => wire::MessageContent::Blocks(blocks),
    }
}

/// Tool-call arguments (JSON text) → Anthropic's `input` object.
pub(crate) fn arguments_to_input(arguments: &str) -> std::result::Result<Value, String> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("must be a JSON object".to_owned()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

fn encode_request(
    request: &ChatRequest,
    cx: &mut Negotiation<'_>,
) -> Result<wire::MessagesRequest> {
    let mut system = Vec::new();
    let mut turns: Vec<(wire::Role, Vec<wire::ContentBlock>)> = Vec::new();
    let mut started = false;
    // The last turn is a user turn opened by tool results, which the next tool results and user
    // message join.
    let mut results_open = false;
    for (i, message) in request.messages.iter().enumerate() {
        match message {
            Message::System { content, name } => {
                if started {
                    cx.warn(
                        format!("messages[{i}]"),
                        "system message moved into the top-level system prompt",
                    );
                }
                if name.is_some() {
                    cx.allow(Param::MessageName)?;
                }
                for (j, part) in content.iter().enumerate() {
                    match part {
                        ContentPart::Text(text) => system.push(text_block(text)),
                        ContentPart::Image(_) => {
                            return Err(Error::invalid(
                                format!("messages[{i}].content[{j}]"),
                                "a system prompt takes text only",
                            ));
                        }
                    }
                }
            }
            Message::User { content, name } => {
                started = true;
                if name.is_some() {
                    cx.allow(Param::MessageName)?;
                }
                let blocks = content.iter().map(part_to_block);
                match turns.last_mut() {
                    Some((_, last)) if results_open => last.extend(blocks),
                    _ => turns.push((wire::Role::User, blocks.collect())),
                }
                results_open = false;
            }
            Message::Assistant {
                content,
                tool_calls,
                name,
            } => {
                started = true;
                results_open = false;
                if name.is_some() {
                    cx.allow(Param::MessageName)?;
                }
                let mut blocks: Vec<wire::ContentBlock> = if tool_calls.is_empty() {
                    content.iter().map(part_to_block).collect()
                } else {
                    // Anthropic refuses empty text blocks next to tool calls.
                    content
                        .iter()
                        .filter(|p| p.as_text() != Some(""))
                        .map(part_to_block)
                        .collect()
                };
                for (j, call) in tool_calls.iter().enumerate() {
                    let input = arguments_to_input(&call.arguments).map_err(|message| {
                        Error::invalid(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            message,
                        )
                    })?;
                    blocks.push(wire::ContentBlock::ToolUse {
                        id: call.id.clone(),
                        name: call.name.clone(),
                        input,
                        cache_control: None,
                    });
                }
                turns.push((wire::Role::Assistant, blocks));
            }
            Message::Tool {
                tool_call_id,
                content,
                is_error,
            } => {
                started = true;
                let result_content = match content.as_slice() {
                    [] => None,
                    [ContentPart::Text(text)] => Some(wire::ToolResultContent::Text(text.clone())),
                    parts => Some(wire::ToolResultContent::Blocks(
                        parts.iter().map(part_to_block).collect(),
                    )),
                };
                let block = wire::ContentBlock::ToolResult {
                    tool_use_id: tool_call_id.clone(),
                    content: result_content,
                    is_error: is_error.then_some(true),
                    cache_control: None,
                };
                match turns.last_mut() {
                    Some((_, last)) if results_open => last.push(block),
                    _ => turns.push((wire::Role::User, vec![block])),
                }
                results_open = true;
            }
        }
    }
    let profile = cx.profile().clone();
    let max_tokens = match request.max_output_tokens {
        Some(max) if cx.allow(Param::MaxOutputTokens)? => max,
        _ => profile.default_max_tokens,
    };
    let mut out = wire::MessagesRequest {
        model: profile.upstream_model.clone(),
        messages: turns
            .into_iter()
            .map(|(role, blocks)| wire::InputMessage {
                role,
                content: content_of(blocks),
            })
            .collect(),
        max_tokens,
        system: (!system.is_empty()).then(|| match content_of(system) {
            wire::MessageContent::Text(text) => wire::System::Text(text),
            wire::MessageContent::Blocks(blocks) => wire::System::Blocks(blocks),
        }),
        metadata: None,
        stop_sequences: None,
        stream: None,
        temperature: None,
        top_p: None,
        top_k: None,
        tools: None,
        tool_choice: None,
        output_config: None,
        output_format: None,
        extra: Default::default(),
    };
    let sampling = &request.sampling;
    if let Some(t) = sampling.temperature
        && cx.allow(Param::Temperature)?
    {
        out.temperature = Some(cx.temperature(t)?);
    }
    if let Some(p) = sampling.top_p
        && cx.allow(Param::TopP)?
    {
        out.top_p = Some(p);
    }
    if let Some(k) = sampling.top_k
        && cx.allow(Param::TopK)?
    {
        out.top_k = Some(k);
    }
    if sampling.frequency_penalty.is_some() {
        cx.allow(Param::FrequencyPenalty)?;
    }
    if sampling.presence_penalty.is_some() {
        cx.allow(Param::PresencePenalty)?;
    }
    if sampling.logit_bias.is_some() {
        cx.allow(Param::LogitBias)?;
    }
    let stop = cx.stop(&request.stop)?;
    if !stop.is_empty() {
        out.stop_sequences = Some(stop);
    }
    if request.n.is_some_and(|n| n > 1) {
        cx.allow(Param::N)?;
    }
    if request.seed.is_some() {
        cx.allow(Param::Seed)?;
    }
    if request.logprobs.is_some() {
        cx.allow(Param::Logprobs)?;
    }
    if let Some(user) = &request.user
        && cx.allow(Param::User)?
    {
        out.metadata = Some(wire::Metadata {
            user_id: Some(user.clone()),
        });
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            cx.allow(Param::JsonObject)?;
        }
        Some(ResponseFormat::JsonSchema(format)) => {
            if cx.allow(Param::JsonSchema)? {
                out.output_config = Some(wire::OutputConfig {
                    format: Some(wire::OutputFormat::JsonSchema {
                        schema: format.schema.clone().unwrap_or_else(empty_schema),
                    }),
                    extra: Default::default(),
                });
            }
        }
    }
    if !request.tools.is_empty() {
        let mut tools = Vec::with_capacity(request.tools.len());
        for tool in &request.tools {
            let strict = match tool.strict {
                Some(strict) if cx.allow(Param::StrictTools)? => Some(strict),
                _ => None,
            };
            tools.push(wire::Tool {
                kind: None,
                name: tool.name.clone(),
                description: tool.description.clone(),
                input_schema: Some(tool.parameters.clone().unwrap_or_else(empty_schema)),
                strict,
                cache_control: None,
            });
        }
        out.tools = Some(tools);
        let disable = match request.parallel_tool_calls {
            Some(parallel) if cx.allow(Param::ParallelToolCalls)? => Some(!parallel),
            _ => None,
        };
        out.tool_choice = match (&request.tool_choice, disable) {
            (None, None) => None,
            (None | Some(ToolChoice::Auto), disable) => Some(wire::ToolChoice::Auto {
                disable_parallel_tool_use: disable,
            }),
            (Some(ToolChoice::Required), disable) => Some(wire::ToolChoice::Any {
                disable_parallel_tool_use: disable,
            }),
            (Some(ToolChoice::Tool(name)), disable) => Some(wire::ToolChoice::Tool {
                name: name.clone(),
                disable_parallel_tool_use: disable,
            }),
            (Some(ToolChoice::None), _) => Some(wire::ToolChoice::None),
        };
    }
    if request.is_stream() {
        out.stream = Some(true);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Response

pub(crate) fn usage_from_wire(usage: &wire::Usage) -> Usage {
    usage_from_anthropic(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    )
}

/// Anthropic's `input` object → tool-call arguments (JSON text).
pub(crate) fn input_to_arguments(input: &Value) -> String {
    serde_json::to_string(input).unwrap_or_else(|_| "{}".to_owned())
}

fn response_from_wire(message: wire::Message) -> ChatResponse {
    let mut text: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in &message.content {
        match block {
            wire::ContentBlock::Text { text: piece, .. } => {
                text.get_or_insert_with(String::new).push_str(piece);
            }
            wire::ContentBlock::ToolUse {
                id, name, input, ..
            } => tool_calls.push(ToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: input_to_arguments(input),
            }),
            _ => {}
        }
    }
    ChatResponse {
        id: message.id,
        model: message.model,
        created: None,
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                text,
                refusal: None,
                tool_calls,
            },
            finish_reason: finish_reason_from(
                Provider::Anthropic,
                message.stop_reason.as_deref().unwrap_or("end_turn"),
            ),
            stop_sequence: message.stop_sequence,
            logprobs: None,
        }],
        usage: Some(usage_from_wire(&message.usage)),
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// The tool call's position among the answer's tool calls.
    Tool(u32),
    /// Thinking, server tools and other blocks the normalized stream does not carry.
    Other,
}

/// Anthropic events → normalized events.
///
/// Content block indices count every block (text, thinking, tool use); normalized tool-call
/// indices count tool calls only, so block `n` of type `tool_use` becomes tool call `k`. Usage:
/// `message_start` gives the input counts and `message_delta` the cumulative output count (and,
/// in newer versions, final input counts, which win); one `Usage` event is sent at the end,
/// where `message_stop` also sends `Finish` (several `message_delta`s may come with server
/// tools; the last one counts).
#[derive(Debug, Default)]
struct AnthropicStreamDecoder {
    started: bool,
    blocks: HashMap<u32, Block>,
    open_tools: Vec<u32>,
    next_tool: u32,
    usage: wire::Usage,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    ended: bool,
}

impl AnthropicStreamDecoder {
    fn start(&mut self, id: String, model: String, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id,
                model,
                created: None,
            });
            out.push(StreamEvent::RoleStart { choice: 0 });
        }
    }

    fn event(&mut self, event: wire::StreamEvent, out: &mut Vec<StreamEvent>) {
        match event {
            wire::StreamEvent::MessageStart { message } => {
                self.usage = message.usage;
                self.start(message.id, message.model, out);
            }
            wire::StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => {
                self.start(String::new(), String::new(), out);
                let block = match content_block {
                    wire::ContentBlock::Text { text, .. } => {
                        if !text.is_empty() {
                            out.push(StreamEvent::TextDelta { choice: 0, text });
                        }
                        Block::Text
                    }
                    wire::ContentBlock::ToolUse {
                        id, name, input, ..
                    } => {
                        let tool = self.next_tool;
                        self.next_tool += 1;
                        self.open_tools.push(tool);
                        out.push(StreamEvent::ToolCallStart {
                            choice: 0,
                            index: tool,
                            id,
                            name,
                        });
                        // The input is streamed as JSON deltas; an input given whole comes here.
                        if input.as_object().is_some_and(|o| !o.is_empty()) {
                            out.push(StreamEvent::ToolCallDelta {
                                choice: 0,
                                index: tool,
                                arguments: input_to_arguments(&input),
                            });
                        }
                        Block::Tool(tool)
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            wire::StreamEvent::ContentBlockDelta { index, delta } => {
                match (self.blocks.get(&index), delta) {
                    (Some(Block::Text), wire::BlockDelta::TextDelta { text })
                        if !text.is_empty() =>
                    {
                        out.push(StreamEvent::TextDelta { choice: 0, text });
                    }
                    (
                        Some(Block::Tool(tool)),
                        wire::BlockDelta::InputJsonDelta { partial_json },
                    ) if !partial_json.is_empty() && self.open_tools.contains(tool) => {
                        out.push(StreamEvent::ToolCallDelta {
                            choice: 0,
                            index: *tool,
                            arguments: partial_json,
                        });
                    }
                    _ => {}
                }
            }
            wire::StreamEvent::ContentBlockStop { index } => {
                if let Some(Block::Tool(tool)) = self.blocks.get(&index)
                    && let Some(at) = self.open_tools.iter().position(|t| t == tool)
                {
                    self.open_tools.remove(at);
                    out.push(StreamEvent::ToolCallEnd {
                        choice: 0,
                        index: *tool,
                    });
                }
            }
            wire::StreamEvent::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                    self.stop_sequence = delta.stop_sequence;
                }
                self.usage.output_tokens = usage.output_tokens;
                if let Some(input) = usage.input_tokens {
                    self.usage.input_tokens = input;
                }
                if usage.cache_read_input_tokens.is_some() {
                    self.usage.cache_read_input_tokens = usage.cache_read_input_tokens;
                }
                if usage.cache_creation_input_tokens.is_some() {
                    self.usage.cache_creation_input_tokens = usage.cache_creation_input_tokens;
                }
            }
            wire::StreamEvent::MessageStop => {
                self.start(String::new(), String::new(), out);
                for tool in self.open_tools.drain(..) {
                    out.push(StreamEvent::ToolCallEnd {
                        choice: 0,
                        index: tool,
                    });
                }
                out.push(StreamEvent::Finish {
                    choice: 0,
                    reason: finish_reason_from(
                        Provider::Anthropic,
                        self.stop_reason.as_deref().unwrap_or("end_turn"),
                    ),
                    stop_sequence: self.stop_sequence.take(),
                });
                out.push(StreamEvent::Usage(usage_from_wire(&self.usage)));
                out.push(StreamEvent::Done);
                self.ended = true;
            }
            wire::StreamEvent::Error { error } => {
                let status = wire::status_of_error_type(&error.kind);
                let error = Error::provider(
                    Provider::Anthropic,
                    status,
                    Some(error.kind),
                    error.message,
                    None,
                );
                out.push(StreamEvent::Error(StreamError {
                    kind: error.kind(),
                    message: error.public_message(),
                }));
                self.ended = true;
            }
            wire::StreamEvent::Ping | wire::StreamEvent::Unknown => {}
        }
    }
}

impl StreamDecoder for AnthropicStreamDecoder {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        if self.ended || event.data.trim().is_empty() {
            return Ok(out);
        }
        let parsed: wire::StreamEvent = from_provider(event.data.as_bytes(), "stream event")?;
        self.event(parsed, &mut out);
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>> {
        if self.ended {
            return Ok(Vec::new());
        }
        Err(Error::protocol("the stream ended before message_stop"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FinishReason;

    #[test]
    fn tool_arguments_must_be_an_object() {
        assert_eq!(arguments_to_input("").unwrap(), json!({}));
        assert_eq!(arguments_to_input("{\"a\":1}").unwrap(), json!({"a": 1}));
        assert!(arguments_to_input("[1]").is_err());
        assert!(
            arguments_to_input("{\"a\":")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn thinking_blocks_are_skipped_and_tool_indices_count_tool_calls_only() {
        let events = [
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"some_future_event"}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":5}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let mut decoder = AnthropicStreamDecoder::default();
        let mut out = Vec::new();
        for data in events {
            out.extend(decoder.decode(&SseEvent::data(data)).unwrap());
        }
        crate::model::check_stream(&out).unwrap();
        assert!(out.contains(&StreamEvent::ToolCallStart {
            choice: 0,
            index: 0,
            id: "toolu_1".into(),
            name: "f".into()
        }));
        assert!(out.contains(&StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ToolCalls,
            stop_sequence: None
        }));
    }
}
