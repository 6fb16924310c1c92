//! Clients of the OpenAI API: `POST /v1/chat/completions`, `POST /v1/embeddings` and
//! `GET /v1/models`.

use std::collections::HashSet;

use agenthub_policy::ErrorKind;
use serde_json::Value;

use super::{Ingress, StreamEncoder, check_range, response_bytes};
use crate::adapters::openai::{encode_f32s, logprob_to_wire, tool_call_to_wire, usage_to_wire};
use crate::error::{Error, Result};
use crate::model::{
    ChatRequest, ChatResponse, ContentPart, EmbeddingEncoding, EmbeddingInput, EmbeddingsRequest,
    EmbeddingsResponse, Image, ImageDetail, ImageSource, JsonSchemaFormat, LogprobsRequest,
    Message, ModelInfo, ResponseFormat, Sampling, StreamEvent, StreamOptions, Tool, ToolCall,
    ToolChoice, Usage,
};
use crate::params::{Provider, Translated, Warning, finish_reason_to};
use crate::wire::openai as wire;
use crate::wire::sse::SseEvent;
use crate::wire::{from_client, to_value};

#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAiIngress;

impl OpenAiIngress {
    pub fn new() -> Self {
        Self
    }

    /// `POST /v1/embeddings` body → the normalized request.
    pub fn decode_embeddings_request(&self, body: &[u8]) -> Result<Translated<EmbeddingsRequest>> {
        let wire: wire::EmbeddingsRequest = from_client(body)?;
        let warnings = ignored(&wire.extra);
        let input = match wire.input {
            wire::EmbeddingInput::Text(text) => EmbeddingInput::Text(vec![text]),
            wire::EmbeddingInput::Texts(texts) => EmbeddingInput::Text(texts),
            wire::EmbeddingInput::Tokens(tokens) => EmbeddingInput::Tokens(vec![tokens]),
            wire::EmbeddingInput::TokenLists(lists) => EmbeddingInput::Tokens(lists),
        };
        let empty = match &input {
            EmbeddingInput::Text(texts) => texts.is_empty(),
            EmbeddingInput::Tokens(lists) => lists.is_empty(),
        };
        if empty {
            return Err(Error::invalid("input", "must not be empty"));
        }
        let encoding = match wire.encoding_format.as_deref() {
            None | Some("float") => EmbeddingEncoding::Float,
            Some("base64") => EmbeddingEncoding::Base64,
            Some(other) => {
                return Err(Error::invalid(
                    "encoding_format",
                    format!("`{other}` is not one of `float`, `base64`"),
                ));
            }
        };
        Ok(Translated {
            value: EmbeddingsRequest {
                model: wire.model,
                input,
                dimensions: wire.dimensions,
                encoding,
                user: wire.user,
            },
            warnings,
        })
    }

    /// The embeddings answer, vectors encoded as the client asked.
    pub fn encode_embeddings_response(
        &self,
        response: &EmbeddingsResponse,
        encoding: EmbeddingEncoding,
    ) -> Value {
        to_value(&wire::EmbeddingsResponse {
            object: "list".to_owned(),
            data: response
                .data
                .iter()
                .map(|item| wire::EmbeddingData {
                    object: "embedding".to_owned(),
                    embedding: match encoding {
                        EmbeddingEncoding::Float => {
                            wire::EmbeddingVector::Float(item.vector.clone())
                        }
                        EmbeddingEncoding::Base64 => {
                            wire::EmbeddingVector::Base64(encode_f32s(&item.vector))
                        }
                    },
                    index: item.index,
                })
                .collect(),
            model: response.model.clone(),
            usage: wire::EmbeddingsUsage {
                prompt_tokens: response.usage.input_tokens,
                total_tokens: response.usage.input_tokens,
            },
        })
    }

    /// `GET /v1/models`.
    pub fn encode_models(&self, models: &[ModelInfo]) -> Value {
        to_value(&wire::ModelList {
            object: "list".to_owned(),
            data: models
                .iter()
                .map(|m| wire::Model {
                    id: m.id.clone(),
                    object: "model".to_owned(),
                    created: m.created,
                    owned_by: m.owned_by.clone(),
                })
                .collect(),
        })
    }
}

/// Warnings for the top-level fields the router does not know.
fn ignored(extra: &serde_json::Map<String, Value>) -> Vec<Warning> {
    extra
        .keys()
        .map(|key| Warning::new(key.clone(), "ignored (not supported by the router)"))
        .collect()
}

impl Ingress for OpenAiIngress {
    fn decode_request(&self, body: &[u8]) -> Result<Translated<ChatRequest>> {
        let wire: wire::ChatCompletionRequest = from_client(body)?;
        request_from_wire(wire)
    }

    fn encode_response(&self, response: &ChatResponse) -> Value {
        to_value(&response_to_wire(response))
    }

    fn encode_response_body(&self, response: &ChatResponse) -> Vec<u8> {
        response_bytes(&response_to_wire(response))
    }

    fn stream_encoder(&self, request: &ChatRequest) -> Box<dyn StreamEncoder> {
        Box::new(OpenAiStreamEncoder {
            include_usage: request.stream.is_some_and(|s| s.include_usage),
            id: String::new(),
            model: String::new(),
            created: 0,
            usage: None,
            arguments_seen: HashSet::new(),
            ended: false,
        })
    }

    fn error_body(&self, kind: ErrorKind, message: &str, param: Option<&str>) -> Value {
        to_value(&error_object(kind, message, param))
    }
}

/// The OpenAI error body of a classified error: OpenAI's `type` names, the router's stable kind
/// as `code`.
fn error_object(kind: ErrorKind, message: &str, param: Option<&str>) -> wire::ErrorBody {
    let kind_name = match kind {
        ErrorKind::InvalidRequest
        | ErrorKind::PayloadTooLarge
        | ErrorKind::MethodNotAllowed
        | ErrorKind::Conflict => "invalid_request_error",
        ErrorKind::Unauthenticated => "authentication_error",
        ErrorKind::Forbidden => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Unavailable
        | ErrorKind::UpstreamFailed
        | ErrorKind::UpstreamTimeout
        | ErrorKind::Internal => "server_error",
    };
    wire::ErrorBody {
        error: wire::ErrorObject {
            message: message.to_owned(),
            kind: Some(kind_name.to_owned()),
            param: param.map(str::to_owned),
            code: Some(Value::String(kind.as_str().to_owned())),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Request

fn request_from_wire(wire: wire::ChatCompletionRequest) -> Result<Translated<ChatRequest>> {
    let mut warnings = ignored(&wire.extra);
    if wire.messages.is_empty() {
        return Err(Error::invalid(
            "messages",
            "must contain at least one message",
        ));
    }
    let mut messages = Vec::with_capacity(wire.messages.len());
    for (i, message) in wire.messages.into_iter().enumerate() {
        messages.push(message_from_wire(i, message)?);
    }
    check_range("temperature", wire.temperature, 0.0, 2.0)?;
    check_range("top_p", wire.top_p, 0.0, 1.0)?;
    check_range("frequency_penalty", wire.frequency_penalty, -2.0, 2.0)?;
    check_range("presence_penalty", wire.presence_penalty, -2.0, 2.0)?;
    if wire.n == Some(0) {
        return Err(Error::invalid("n", "must be at least 1"));
    }
    if wire.top_logprobs.is_some_and(|n| n > 20) {
        return Err(Error::invalid("top_logprobs", "must be between 0 and 20"));
    }
    if wire.top_logprobs.is_some() && wire.logprobs != Some(true) {
        return Err(Error::invalid("top_logprobs", "requires `logprobs: true`"));
    }
    if let (Some(a), Some(b)) = (wire.max_completion_tokens, wire.max_tokens)
        && a != b
    {
        warnings.push(Warning::new(
            "max_tokens",
            "ignored in favour of max_completion_tokens",
        ));
    }
    let stream = match (wire.stream, &wire.stream_options) {
        (Some(true), options) => Some(StreamOptions {
            include_usage: options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        }),
        (_, Some(_)) => {
            warnings.push(Warning::new(
                "stream_options",
                "ignored without `stream: true`",
            ));
            None
        }
        _ => None,
    };
    let mut tools = Vec::new();
    for (i, tool) in wire.tools.unwrap_or_default().into_iter().enumerate() {
        match (tool.kind.as_str(), tool.function) {
            ("function", Some(function)) => tools.push(Tool {
                name: function.name,
                description: function.description,
                parameters: function.parameters,
                strict: function.strict,
            }),
            ("function", None) => {
                return Err(Error::invalid(format!("tools[{i}].function"), "missing"));
            }
            (other, _) => {
                return Err(Error::invalid(
                    format!("tools[{i}].type"),
                    format!("`{other}` tools are not supported; only `function`"),
                ));
            }
        }
    }
    let tool_choice = match wire.tool_choice {
        None => None,
        Some(wire::ToolChoice::Mode(mode)) => Some(match mode.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(Error::invalid(
                    "tool_choice",
                    format!("`{other}` is not one of `auto`, `none`, `required`"),
                ));
            }
        }),
        Some(wire::ToolChoice::Named(named)) => match (named.kind.as_str(), named.function) {
            ("function", Some(function)) => Some(ToolChoice::Tool(function.name)),
            _ => {
                return Err(Error::invalid(
                    "tool_choice",
                    "expected {\"type\": \"function\", \"function\": {\"name\": …}}",
                ));
            }
        },
    };
    let response_format = wire.response_format.map(|format| match format {
        wire::ResponseFormat::Text => ResponseFormat::Text,
        wire::ResponseFormat::JsonObject => ResponseFormat::JsonObject,
        wire::ResponseFormat::JsonSchema { json_schema } => {
            ResponseFormat::JsonSchema(JsonSchemaFormat {
                name: json_schema.name,
                description: json_schema.description,
                schema: json_schema.schema,
                strict: json_schema.strict,
            })
        }
    });
    let request = ChatRequest {
        model: wire.model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: wire.parallel_tool_calls,
        response_format,
        sampling: Sampling {
            temperature: wire.temperature,
            top_p: wire.top_p,
            top_k: None,
            frequency_penalty: wire.frequency_penalty,
            presence_penalty: wire.presence_penalty,
            logit_bias: wire.logit_bias.map(|bias| bias.into_iter().collect()),
        },
        max_output_tokens: wire.max_completion_tokens.or(wire.max_tokens),
        stop: match wire.stop {
            None => Vec::new(),
            Some(wire::Stop::One(stop)) => vec![stop],
            Some(wire::Stop::Many(stop)) => stop,
        },
        n: wire.n,
        seed: wire.seed,
        user: wire.user,
        logprobs: (wire.logprobs == Some(true)).then_some(LogprobsRequest {
            top_logprobs: wire.top_logprobs,
        }),
        stream,
    };
    Ok(Translated {
        value: request,
        warnings,
    })
}

fn parts_from_wire(i: usize, content: wire::Content, images: bool) -> Result<Vec<ContentPart>> {
    let parts = match content {
        wire::Content::Text(text) => return Ok(vec![ContentPart::Text(text)]),
        wire::Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.into_iter().enumerate() {
        let at = || format!("messages[{i}].content[{j}]");
        out.push(match part {
            wire::ContentPart::Text { text } => ContentPart::Text(text),
            wire::ContentPart::Refusal { refusal } => ContentPart::Text(refusal),
            wire::ContentPart::ImageUrl { image_url } if images => {
                let detail = match image_url.detail.as_deref() {
                    None => None,
                    Some(detail) => Some(ImageDetail::parse(detail).ok_or_else(|| {
                        Error::invalid(
                            format!("{}.image_url.detail", at()),
                            format!("`{detail}` is not one of `auto`, `low`, `high`"),
                        )
                    })?),
                };
                ContentPart::Image(Image {
                    source: ImageSource::from_url(&image_url.url),
                    detail,
                })
            }
            wire::ContentPart::ImageUrl { .. } => {
                return Err(Error::invalid(at(), "this message takes text only"));
            }
            wire::ContentPart::InputAudio { .. } => {
                return Err(Error::invalid(
                    at(),
                    "audio input is not supported by the router",
                ));
            }
            wire::ContentPart::File { .. } => {
                return Err(Error::invalid(
                    at(),
                    "file input is not supported by the router",
                ));
            }
        });
    }
    Ok(out)
}

fn message_from_wire(i: usize, message: wire::ChatMessage) -> Result<Message> {
    Ok(match message {
        wire::ChatMessage::System { content, name }
        | wire::ChatMessage::Developer { content, name } => Message::System {
            content: parts_from_wire(i, content, false)?,
            name,
        },
        wire::ChatMessage::User { content, name } => Message::User {
            content: parts_from_wire(i, content, true)?,
            name,
        },
        wire::ChatMessage::Assistant {
            content,
            refusal: _,
            tool_calls,
            name,
        } => {
            let mut calls = Vec::new();
            for (j, call) in tool_calls.unwrap_or_default().into_iter().enumerate() {
                if call.kind != "function" {
                    return Err(Error::invalid(
                        format!("messages[{i}].tool_calls[{j}].type"),
                        format!(
                            "`{}` tool calls are not supported; only `function`",
                            call.kind
                        ),
                    ));
                }
                calls.push(ToolCall {
                    id: call.id,
                    name: call.function.name,
                    arguments: call.function.arguments,
                });
            }
            Message::Assistant {
                content: match content {
                    None => Vec::new(),
                    Some(content) => parts_from_wire(i, content, false)?,
                },
                tool_calls: calls,
                name,
            }
        }
        wire::ChatMessage::Tool {
            content,
            tool_call_id,
        } => Message::Tool {
            tool_call_id,
            content: parts_from_wire(i, content, false)?,
            is_error: false,
        },
        wire::ChatMessage::Function { .. } => {
            return Err(Error::invalid(
                format!("messages[{i}].role"),
                "the deprecated `function` role is not supported; use `tool`",
            ));
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Response

fn response_to_wire(response: &ChatResponse) -> wire::ChatCompletion {
    wire::ChatCompletion {
        id: response.id.clone(),
        object: "chat.completion".to_owned(),
        created: response.created.unwrap_or(0),
        model: response.model.clone(),
        choices: response
            .choices
            .iter()
            .map(|choice| wire::Choice {
                index: choice.index,
                message: wire::ResponseMessage {
                    role: "assistant".to_owned(),
                    content: choice.message.text.clone(),
                    refusal: choice.message.refusal.clone(),
                    tool_calls: (!choice.message.tool_calls.is_empty()).then(|| {
                        choice
                            .message
                            .tool_calls
                            .iter()
                            .map(tool_call_to_wire)
                            .collect()
                    }),
                },
                logprobs: choice.logprobs.as_ref().map(|tokens| wire::Logprobs {
                    content: Some(tokens.iter().map(logprob_to_wire).collect()),
                    refusal: None,
                }),
                finish_reason: Some(
                    finish_reason_to(Provider::OpenAi, choice.finish_reason, false).to_owned(),
                ),
            })
            .collect(),
        usage: response.usage.as_ref().map(usage_to_wire),
        system_fingerprint: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

/// Normalized events → OpenAI chunks: the role in each choice's first chunk, tool calls with
/// their per-choice `index`, a chunk with the finish reason, then — when the client asked with
/// `stream_options.include_usage` — a chunk with no choices and the usage, then `[DONE]`.
struct OpenAiStreamEncoder {
    include_usage: bool,
    id: String,
    model: String,
    created: u64,
    usage: Option<Usage>,
    /// Tool calls that received argument text, so that one that got none is closed with `{}`
    /// (clients parse the arguments, and an empty string is not JSON).
    arguments_seen: HashSet<(u32, u32)>,
    ended: bool,
}

impl OpenAiStreamEncoder {
    fn chunk(&self, choices: Vec<wire::ChunkChoice>, usage: Option<wire::Usage>) -> SseEvent {
        let chunk = wire::ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            system_fingerprint: None,
            choices,
            usage: self.include_usage.then_some(usage),
        };
        SseEvent::data(serde_json::to_string(&chunk).unwrap_or_default())
    }

    fn delta(&self, choice: u32, delta: wire::Delta) -> SseEvent {
        self.chunk(
            vec![wire::ChunkChoice {
                index: choice,
                delta,
                logprobs: None,
                finish_reason: None,
            }],
            None,
        )
    }

    fn tool_delta(&self, choice: u32, call: wire::ToolCallChunk) -> SseEvent {
        self.delta(
            choice,
            wire::Delta {
                tool_calls: Some(vec![call]),
                ..Default::default()
            },
        )
    }
}

impl StreamEncoder for OpenAiStreamEncoder {
    fn encode(&mut self, event: &StreamEvent) -> Vec<SseEvent> {
        if self.ended {
            return Vec::new();
        }
        match event {
            StreamEvent::Start { id, model, created } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.created = created.unwrap_or(0);
                Vec::new()
            }
            StreamEvent::RoleStart { choice } => vec![self.delta(
                *choice,
                wire::Delta {
                    role: Some("assistant".to_owned()),
                    content: Some(String::new()),
                    ..Default::default()
                },
            )],
            StreamEvent::TextDelta { choice, text } => vec![self.delta(
                *choice,
                wire::Delta {
                    content: Some(text.clone()),
                    ..Default::default()
                },
            )],
            StreamEvent::RefusalDelta { choice, text } => vec![self.delta(
                *choice,
                wire::Delta {
                    refusal: Some(text.clone()),
                    ..Default::default()
                },
            )],
            StreamEvent::ToolCallStart {
                choice,
                index,
                id,
                name,
            } => vec![self.tool_delta(
                *choice,
                wire::ToolCallChunk {
                    index: Some(*index),
                    id: Some(id.clone()),
                    kind: Some("function".to_owned()),
                    function: Some(wire::FunctionCallChunk {
                        name: Some(name.clone()),
                        arguments: Some(String::new()),
                    }),
                },
            )],
            StreamEvent::ToolCallDelta {
                choice,
                index,
                arguments,
            } => {
                if arguments.is_empty() {
                    return Vec::new();
                }
                self.arguments_seen.insert((*choice, *index));
                vec![self.tool_delta(
                    *choice,
                    wire::ToolCallChunk {
                        index: Some(*index),
                        function: Some(wire::FunctionCallChunk {
                            name: None,
                            arguments: Some(arguments.clone()),
                        }),
                        ..Default::default()
                    },
                )]
            }
            StreamEvent::ToolCallEnd { choice, index } => {
                if self.arguments_seen.contains(&(*choice, *index)) {
                    return Vec::new();
                }
                vec![self.tool_delta(
                    *choice,
                    wire::ToolCallChunk {
                        index: Some(*index),
                        function: Some(wire::FunctionCallChunk {
                            name: None,
                            arguments: Some("{}".to_owned()),
                        }),
                        ..Default::default()
                    },
                )]
            }
            StreamEvent::Finish { choice, reason, .. } => vec![self.chunk(
                vec![wire::ChunkChoice {
                    index: *choice,
                    delta: wire::Delta::default(),
                    logprobs: None,
                    finish_reason: Some(
                        finish_reason_to(Provider::OpenAi, *reason, false).to_owned(),
                    ),
                }],
                None,
            )],
            StreamEvent::Usage(usage) => {
                self.usage = Some(*usage);
                Vec::new()
            }
            StreamEvent::Done => {
                self.ended = true;
                let mut out = Vec::new();
                if self.include_usage
                    && let Some(usage) = &self.usage
                {
                    out.push(self.chunk(Vec::new(), Some(usage_to_wire(usage))));
                }
                out.push(SseEvent::data(wire::DONE));
                out
            }
            StreamEvent::Error(error) => {
                self.ended = true;
                let body = error_object(error.kind, &error.message, None);
                vec![SseEvent::data(
                    serde_json::to_string(&body).unwrap_or_default(),
                )]
            }
        }
    }
}
