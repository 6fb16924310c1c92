//! Clients of the OpenAI Responses API: `POST /v1/responses`, the default of the OpenAI Agents
//! SDK, translated to and from the normalized chat types so that it reaches every provider.
//!
//! The router is stateless here: `previous_response_id`, `conversation`, stored `prompt`s,
//! `item_reference` items and `background` need responses kept between requests, and are
//! refused with a 400 naming the parameter; `store: true` is accepted with a warning that
//! nothing was stored. Built-in tools (`web_search`, `file_search`, `computer_use_preview`, …)
//! run at OpenAI and are refused; `function` tools reach every provider.
//!
//! A Response echoes the request's settings (`instructions`, `tools`, `metadata`, …), which the
//! normalized request does not all keep. [`ResponsesIngress::decode`] returns them as a
//! [`ResponseEcho`] beside the request; the answer is then written by
//! [`ResponsesIngress::answering`]`(echo)` through the [`Ingress`] methods (or by the `_with`
//! methods). An ingress without an echo writes what the normalized request holds, and OpenAI's
//! defaults for the rest. `store` is always echoed `false`: nothing was kept.

use agenthub_policy::ErrorKind;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Ingress, OpenAiIngress, StreamEncoder, check_range};
use crate::error::{Error, Result};
use crate::model::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, Image, ImageDetail, ImageSource,
    JsonSchemaFormat, LogprobsRequest, Message, ResponseFormat, Sampling, StreamEvent,
    StreamOptions, TokenLogprob, Tool, ToolCall, ToolChoice, Usage,
};
use crate::params::{Translated, Warning};
use crate::wire::responses as wire;
use crate::wire::sse::SseEvent;
use crate::wire::{from_client, to_value};

/// The `include` value that asks for the log probabilities of output text.
pub const INCLUDE_LOGPROBS: &str = "message.output_text.logprobs";

const METADATA_MAX_PAIRS: usize = 16;
const METADATA_MAX_KEY: usize = 64;
const METADATA_MAX_VALUE: usize = 512;

/// The Responses format. Stateless between requests; [`ResponsesIngress::answering`] binds the
/// echo of the one request it answers.
#[derive(Debug, Clone, Default)]
pub struct ResponsesIngress {
    echo: Option<ResponseEcho>,
}

/// A decoded `POST /v1/responses`: the normalized request, and what the answer echoes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesRequest {
    pub request: ChatRequest,
    pub echo: ResponseEcho,
}

/// The request's settings as a Response object repeats them. Built by
/// [`ResponsesIngress::decode`]; [`ResponseEcho::from_request`] recovers what the normalized
/// request holds (not `instructions`, `metadata`, `truncation`, `max_tool_calls`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseEcho {
    pub instructions: Option<String>,
    pub metadata: Map<String, Value>,
    pub tools: Vec<wire::FunctionTool>,
    /// `"auto"`, `"none"`, `"required"` or `{"type": "function", "name": …}`.
    pub tool_choice: Value,
    pub parallel_tool_calls: bool,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_output_tokens: Option<u32>,
    pub max_tool_calls: Option<u32>,
    pub text_format: wire::TextFormat,
    pub top_logprobs: u8,
    pub truncation: String,
    pub user: Option<String>,
    pub safety_identifier: Option<String>,
}

impl Default for ResponseEcho {
    fn default() -> Self {
        Self::from_request(&ChatRequest::default())
    }
}

impl ResponseEcho {
    /// The echo of what a normalized request holds; OpenAI's defaults for the rest.
    pub fn from_request(request: &ChatRequest) -> Self {
        Self {
            instructions: None,
            metadata: Map::new(),
            tools: request
                .tools
                .iter()
                .map(|tool| wire::FunctionTool {
                    kind: "function".to_owned(),
                    name: tool.name.clone(),
                    description: tool.description.clone(),
                    parameters: tool.parameters.clone(),
                    strict: tool.strict,
                })
                .collect(),
            tool_choice: match &request.tool_choice {
                None | Some(ToolChoice::Auto) => Value::from("auto"),
                Some(ToolChoice::None) => Value::from("none"),
                Some(ToolChoice::Required) => Value::from("required"),
                Some(ToolChoice::Tool(name)) => {
                    serde_json::json!({"type": "function", "name": name})
                }
            },
            parallel_tool_calls: request.parallel_tool_calls.unwrap_or(true),
            temperature: request.sampling.temperature,
            top_p: request.sampling.top_p,
            max_output_tokens: request.max_output_tokens,
            max_tool_calls: None,
            text_format: match &request.response_format {
                None | Some(ResponseFormat::Text) => wire::TextFormat::Text,
                Some(ResponseFormat::JsonObject) => wire::TextFormat::JsonObject,
                Some(ResponseFormat::JsonSchema(format)) => wire::TextFormat::JsonSchema {
                    name: format.name.clone(),
                    schema: format.schema.clone().unwrap_or(Value::Null),
                    description: format.description.clone(),
                    strict: format.strict,
                },
            },
            top_logprobs: request.logprobs.and_then(|l| l.top_logprobs).unwrap_or(0),
            truncation: "disabled".to_owned(),
            user: request.user.clone(),
            safety_identifier: None,
        }
    }
}

impl ResponsesIngress {
    pub const fn new() -> Self {
        Self { echo: None }
    }

    /// The ingress that writes the answer to the request `echo` came from: its
    /// [`Ingress::encode_response`] and [`Ingress::stream_encoder`] echo that request.
    pub fn answering(echo: ResponseEcho) -> Self {
        Self { echo: Some(echo) }
    }

    /// The client's body → the normalized request and the echo its answer carries, with
    /// warnings about what was ignored.
    pub fn decode(&self, body: &[u8]) -> Result<Translated<ResponsesRequest>> {
        let wire: wire::CreateResponseRequest = from_client(body)?;
        request_from_wire(wire)
    }

    /// The Response object for `response`, echoing the request's settings.
    pub fn encode_response_with(&self, echo: &ResponseEcho, response: &ChatResponse) -> Value {
        to_value(&response_to_wire(echo, response))
    }

    /// A stream encoder whose lifecycle events echo the request's settings.
    pub fn stream_encoder_with(&self, echo: ResponseEcho) -> Box<dyn StreamEncoder> {
        Box::new(ResponsesStreamEncoder::new(echo))
    }
}

impl Ingress for ResponsesIngress {
    fn decode_request(&self, body: &[u8]) -> Result<Translated<ChatRequest>> {
        let decoded = self.decode(body)?;
        Ok(Translated {
            value: decoded.value.request,
            warnings: decoded.warnings,
        })
    }

    /// Echoes the request this ingress is [answering](ResponsesIngress::answering); without
    /// one, OpenAI's defaults.
    fn encode_response(&self, response: &ChatResponse) -> Value {
        match &self.echo {
            Some(echo) => self.encode_response_with(echo, response),
            None => self.encode_response_with(&ResponseEcho::default(), response),
        }
    }

    /// Echoes the request this ingress is answering; without one, what `request` holds.
    fn stream_encoder(&self, request: &ChatRequest) -> Box<dyn StreamEncoder> {
        let echo = self
            .echo
            .clone()
            .unwrap_or_else(|| ResponseEcho::from_request(request));
        self.stream_encoder_with(echo)
    }

    /// The same body as Chat Completions: `{"error": {"message", "type", "param", "code"}}`.
    fn error_body(&self, kind: ErrorKind, message: &str, param: Option<&str>) -> Value {
        OpenAiIngress::new().error_body(kind, message, param)
    }
}

// ---------------------------------------------------------------------------------------------
// Request

/// Reads one input item, errors named from `at` (`input[2]`).
fn item_from<T: DeserializeOwned>(at: &str, value: Value) -> Result<T> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_owned());
        let param = match (missing, path.as_str()) {
            (Some(field), ".") => format!("{at}.{field}"),
            (Some(field), path) => format!("{at}.{path}.{field}"),
            (None, ".") => at.to_owned(),
            (None, path) => format!("{at}.{path}"),
        };
        Error::invalid(param, message)
    })
}

/// What the input asked that the router drops, reported once per kind.
#[derive(Default)]
struct Notes {
    reasoning_items: bool,
}

fn parts_from_wire(
    at: &str,
    content: wire::MessageContent,
    images: bool,
) -> Result<Vec<ContentPart>> {
    match content {
        wire::MessageContent::Text(text) => Ok(vec![ContentPart::Text(text)]),
        wire::MessageContent::Parts(parts) => parts_of(at, parts, images),
    }
}

/// Content parts, each read on its own so that an error names it (`input[0].content[2]`).
fn parts_of(at: &str, parts: Vec<Value>, images: bool) -> Result<Vec<ContentPart>> {
    parts
        .into_iter()
        .enumerate()
        .map(|(j, part)| {
            let at = format!("{at}[{j}]");
            match part.get("type").and_then(Value::as_str) {
                Some(kind) if !wire::CONTENT_PART_TYPES.contains(&kind) => Err(Error::invalid(
                    format!("{at}.type"),
                    format!(
                        "`{kind}` parts are not supported; only `input_text`, `input_image`, \
                         `output_text` and `refusal`"
                    ),
                )),
                _ => part_from_wire(&at, item_from(&at, part)?, images),
            }
        })
        .collect()
}

fn part_from_wire(at: &str, part: wire::ContentPart, images: bool) -> Result<ContentPart> {
    Ok(match part {
        wire::ContentPart::InputText { text } | wire::ContentPart::OutputText { text } => {
            ContentPart::Text(text)
        }
        wire::ContentPart::Refusal { refusal } => ContentPart::Text(refusal),
        wire::ContentPart::InputImage { .. } if !images => {
            return Err(Error::invalid(at, "this message takes text only"));
        }
        wire::ContentPart::InputImage {
            image_url,
            file_id,
            detail,
        } => {
            let Some(url) = image_url else {
                return Err(match file_id {
                    Some(_) => Error::invalid(
                        format!("{at}.file_id"),
                        "files uploaded to OpenAI cannot be read by the router; send the \
                         image as `image_url` (a URL or a data: URI)",
                    ),
                    None => Error::invalid(
                        format!("{at}.image_url"),
                        "missing: an image needs `image_url`",
                    ),
                });
            };
            let detail = match detail.as_deref() {
                None => None,
                // OpenAI's full-resolution hint has no equivalent elsewhere: dropped, as hints are.
                Some("original") => None,
                Some(detail) => Some(ImageDetail::parse(detail).ok_or_else(|| {
                    Error::invalid(
                        format!("{at}.detail"),
                        format!("`{detail}` is not one of `auto`, `low`, `high`, `original`"),
                    )
                })?),
            };
            ContentPart::Image(Image {
                source: ImageSource::from_url(&url),
                detail,
            })
        }
        wire::ContentPart::InputFile { .. } => {
            return Err(Error::invalid(
                at,
                "file input is not supported by the router",
            ));
        }
        wire::ContentPart::InputAudio { .. } => {
            return Err(Error::invalid(
                at,
                "audio input is not supported by the router",
            ));
        }
    })
}

/// The item's `type`; a message may leave it out.
fn item_kind(value: &Value) -> Option<&str> {
    let object = value.as_object()?;
    match object.get("type") {
        Some(Value::String(kind)) => Some(kind),
        None if object.contains_key("role") => Some("message"),
        _ => None,
    }
}

fn push_item(i: usize, item: Value, messages: &mut Vec<Message>, notes: &mut Notes) -> Result<()> {
    let at = format!("input[{i}]");
    let Some(kind) = item_kind(&item) else {
        return Err(Error::invalid(
            at,
            "expected an input item: an object with a `type` (or a message with a `role`)",
        ));
    };
    match kind {
        "message" => {
            let message: wire::MessageItem = item_from(&at, item)?;
            let content_at = format!("{at}.content");
            messages.push(match message.role.as_str() {
                "user" => Message::User {
                    content: parts_from_wire(&content_at, message.content, true)?,
                    name: None,
                },
                "system" | "developer" => Message::System {
                    content: parts_from_wire(&content_at, message.content, false)?,
                    name: None,
                },
                "assistant" => Message::Assistant {
                    content: parts_from_wire(&content_at, message.content, false)?,
                    tool_calls: Vec::new(),
                    name: None,
                },
                other => {
                    return Err(Error::invalid(
                        format!("{at}.role"),
                        format!(
                            "`{other}` is not one of `user`, `assistant`, `system`, `developer`"
                        ),
                    ));
                }
            });
        }
        "function_call" => {
            let call: wire::FunctionCallItem = item_from(&at, item)?;
            let call = ToolCall {
                id: call.call_id,
                name: call.name,
                arguments: call.arguments,
            };
            // The calls of one turn follow its text as separate items: one assistant message.
            match messages.last_mut() {
                Some(Message::Assistant { tool_calls, .. }) => tool_calls.push(call),
                _ => messages.push(Message::Assistant {
                    content: Vec::new(),
                    tool_calls: vec![call],
                    name: None,
                }),
            }
        }
        "function_call_output" => {
            let output: wire::FunctionCallOutputItem = item_from(&at, item)?;
            let content = match output.output {
                wire::FunctionOutput::Text(text) => vec![ContentPart::Text(text)],
                wire::FunctionOutput::Parts(parts) => {
                    parts_of(&format!("{at}.output"), parts, true)?
                }
            };
            messages.push(Message::Tool {
                tool_call_id: output.call_id,
                content,
                is_error: false,
            });
        }
        // Reasoning from an earlier OpenAI response: opaque to other providers, and the router
        // returns none itself.
        "reasoning" => notes.reasoning_items = true,
        "item_reference" => {
            return Err(Error::invalid(
                format!("{at}.type"),
                "item references need stored items, and the router stores none; send the item \
                 itself",
            ));
        }
        other => {
            return Err(Error::invalid(
                format!("{at}.type"),
                format!(
                    "`{other}` items are not supported; only `message`, `function_call` and \
                     `function_call_output`"
                ),
            ));
        }
    }
    Ok(())
}

fn check_metadata(metadata: &Map<String, Value>) -> Result<()> {
    if metadata.len() > METADATA_MAX_PAIRS {
        return Err(Error::invalid(
            "metadata",
            format!("at most {METADATA_MAX_PAIRS} pairs"),
        ));
    }
    for (key, value) in metadata {
        if key.chars().count() > METADATA_MAX_KEY {
            return Err(Error::invalid(
                "metadata",
                format!("key `{key}` is longer than {METADATA_MAX_KEY} characters"),
            ));
        }
        match value {
            Value::String(text) if text.chars().count() <= METADATA_MAX_VALUE => {}
            Value::String(_) => {
                return Err(Error::invalid(
                    format!("metadata.{key}"),
                    format!("longer than {METADATA_MAX_VALUE} characters"),
                ));
            }
            _ => {
                return Err(Error::invalid(
                    format!("metadata.{key}"),
                    "values must be strings",
                ));
            }
        }
    }
    Ok(())
}

fn stateful_refusals(wire: &wire::CreateResponseRequest) -> Result<()> {
    const STATELESS: &str = "the router stores no responses or conversations";
    if wire.previous_response_id.is_some() {
        return Err(Error::invalid(
            "previous_response_id",
            format!("not supported: {STATELESS}; send the earlier turns in `input` instead"),
        ));
    }
    if wire.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(Error::invalid(
            "conversation",
            format!("not supported: {STATELESS}; send the earlier turns in `input` instead"),
        ));
    }
    if wire.prompt.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(Error::invalid(
            "prompt",
            "stored prompt templates live at OpenAI and cannot be read by the router; send \
             `instructions` and `input` instead",
        ));
    }
    if wire.background == Some(true) {
        return Err(Error::invalid(
            "background",
            format!("not supported: a background response must be stored, and {STATELESS}"),
        ));
    }
    Ok(())
}

fn request_from_wire(wire: wire::CreateResponseRequest) -> Result<Translated<ResponsesRequest>> {
    stateful_refusals(&wire)?;
    let mut warnings: Vec<Warning> = wire
        .extra
        .keys()
        .map(|key| Warning::new(key.clone(), "ignored (not supported by the router)"))
        .collect();
    if wire.store == Some(true) {
        warnings.push(Warning::new(
            "store",
            "nothing was stored: the router is stateless, so this response cannot be retrieved \
             or continued with previous_response_id",
        ));
    }

    let mut messages = Vec::new();
    if let Some(instructions) = wire.instructions.as_ref().filter(|i| !i.is_empty()) {
        messages.push(Message::system(instructions.clone()));
    }
    let instructed = messages.len();
    let mut notes = Notes::default();
    match wire.input {
        wire::Input::Text(text) => messages.push(Message::user(text)),
        wire::Input::Items(items) => {
            if items.is_empty() {
                return Err(Error::invalid("input", "must contain at least one item"));
            }
            for (i, item) in items.into_iter().enumerate() {
                push_item(i, item, &mut messages, &mut notes)?;
            }
        }
    }
    if notes.reasoning_items {
        warnings.push(Warning::new(
            "input",
            "reasoning items are not carried to the model (dropped)",
        ));
    }
    if messages.len() == instructed {
        return Err(Error::invalid(
            "input",
            "has no item the router can send (reasoning items are dropped)",
        ));
    }

    check_range("temperature", wire.temperature, 0.0, 2.0)?;
    check_range("top_p", wire.top_p, 0.0, 1.0)?;
    if wire.max_output_tokens == Some(0) {
        return Err(Error::invalid("max_output_tokens", "must be at least 1"));
    }
    if wire.top_logprobs.is_some_and(|n| n > 20) {
        return Err(Error::invalid("top_logprobs", "must be between 0 and 20"));
    }
    let metadata = wire.metadata.unwrap_or_default();
    check_metadata(&metadata)?;

    let mut logprobs = false;
    for (i, value) in wire.include.unwrap_or_default().into_iter().enumerate() {
        if value == INCLUDE_LOGPROBS {
            logprobs = true;
        } else if value.is_empty() {
            return Err(Error::invalid(format!("include[{i}]"), "must not be empty"));
        } else {
            warnings.push(Warning::new(
                "include",
                format!("`{value}` ignored (the router returns nothing of the kind)"),
            ));
        }
    }
    if !logprobs && wire.top_logprobs.is_some_and(|n| n > 0) {
        warnings.push(Warning::new(
            "top_logprobs",
            format!("ignored without `include: [\"{INCLUDE_LOGPROBS}\"]`"),
        ));
    }
    if let Some(reasoning) = &wire.reasoning
        && (reasoning.effort.is_some()
            || reasoning.summary.is_some()
            || reasoning.generate_summary.is_some())
    {
        warnings.push(Warning::new(
            "reasoning",
            "ignored (the router does not carry reasoning settings)",
        ));
    }
    let truncation = match wire.truncation.as_deref() {
        None | Some("disabled") => "disabled",
        Some("auto") => {
            warnings.push(Warning::new(
                "truncation",
                "`auto` ignored: the router does not truncate, so an input over the context \
                 window fails",
            ));
            "auto"
        }
        Some(other) => {
            return Err(Error::invalid(
                "truncation",
                format!("`{other}` is not one of `auto`, `disabled`"),
            ));
        }
    };
    let user = match (wire.safety_identifier.clone(), wire.user.clone()) {
        (Some(id), Some(user)) => {
            if id != user {
                warnings.push(Warning::new(
                    "user",
                    "ignored in favour of safety_identifier",
                ));
            }
            Some(id)
        }
        (id, user) => id.or(user),
    };
    let stream = match (wire.stream, &wire.stream_options) {
        // A Response always carries its usage: the client sees it in `response.completed`.
        (Some(true), _) => Some(StreamOptions {
            include_usage: true,
        }),
        (_, Some(options)) if !options.is_null() => {
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
        if tool.kind != "function" {
            return Err(Error::invalid(
                format!("tools[{i}].type"),
                format!(
                    "`{}` tools are not supported (built-in tools run at OpenAI); only \
                     `function` tools",
                    tool.kind
                ),
            ));
        }
        let Some(name) = tool.name else {
            return Err(Error::invalid(
                format!("tools[{i}].name"),
                "missing field `name`",
            ));
        };
        tools.push(Tool {
            name,
            description: tool.description,
            parameters: tool.parameters.filter(|p| !p.is_null()),
            strict: tool.strict,
        });
    }
    let tool_choice = match wire.tool_choice {
        None => None,
        Some(wire::ToolChoiceParam::Mode(mode)) => Some(match mode.as_str() {
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
        Some(wire::ToolChoiceParam::Object { kind, name }) => match (kind.as_str(), name) {
            ("function", Some(name)) => Some(ToolChoice::Tool(name)),
            ("function", None) => {
                return Err(Error::invalid("tool_choice.name", "missing field `name`"));
            }
            (other, _) => {
                return Err(Error::invalid(
                    "tool_choice.type",
                    format!(
                        "`{other}` tool choices are not supported; use `auto`, `none`, \
                         `required` or {{\"type\": \"function\", \"name\": …}}"
                    ),
                ));
            }
        },
    };
    let text = wire.text.unwrap_or_default();
    if text.verbosity.is_some() {
        warnings.push(Warning::new(
            "text.verbosity",
            "ignored (not supported by the router)",
        ));
    }
    let response_format = text.format.map(|format| match format {
        wire::TextFormat::Text => ResponseFormat::Text,
        wire::TextFormat::JsonObject => ResponseFormat::JsonObject,
        wire::TextFormat::JsonSchema {
            name,
            schema,
            description,
            strict,
        } => ResponseFormat::JsonSchema(JsonSchemaFormat {
            name,
            description,
            schema: Some(schema),
            strict,
        }),
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
            ..Sampling::default()
        },
        max_output_tokens: wire.max_output_tokens,
        stop: Vec::new(),
        // A Response has one output.
        n: None,
        seed: None,
        user,
        logprobs: logprobs.then_some(LogprobsRequest {
            top_logprobs: wire.top_logprobs,
        }),
        stream,
    };
    let echo = ResponseEcho {
        instructions: wire.instructions,
        metadata,
        max_tool_calls: wire.max_tool_calls,
        truncation: truncation.to_owned(),
        top_logprobs: wire.top_logprobs.unwrap_or(0),
        user: wire.user,
        safety_identifier: wire.safety_identifier,
        ..ResponseEcho::from_request(&request)
    };
    Ok(Translated {
        value: ResponsesRequest { request, echo },
        warnings,
    })
}

// ---------------------------------------------------------------------------------------------
// Response

/// How a response ended, from its finish reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    /// `incomplete_details.reason`.
    Incomplete(&'static str),
    Failed,
}

impl Outcome {
    fn of(reason: FinishReason) -> Self {
        match reason {
            FinishReason::Stop | FinishReason::ToolCalls => Self::Completed,
            FinishReason::Length => Self::Incomplete("max_output_tokens"),
            FinishReason::ContentFilter => Self::Incomplete("content_filter"),
            FinishReason::Error => Self::Failed,
        }
    }

    fn status(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Incomplete(_) => "incomplete",
            Self::Failed => "failed",
        }
    }

    /// The status of an output item that was still being written when the response ended.
    fn open_item_status(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Incomplete(_) | Self::Failed => "incomplete",
        }
    }
}

/// Output ids derived from the provider's: the same answer always gets the same ids, and an
/// id reads as OpenAI's do (`resp_…`, `msg_…`, `fc_…`).
fn id_suffix(id: &str) -> String {
    let rest = ["resp_", "chatcmpl-", "msg_", "call_", "toolu_", "fc_"]
        .iter()
        .find_map(|prefix| id.strip_prefix(prefix))
        .unwrap_or(id);
    let suffix: String = rest.chars().filter(char::is_ascii_alphanumeric).collect();
    if suffix.is_empty() {
        "0".to_owned()
    } else {
        suffix
    }
}

/// The id of the `n`-th message item (from 0) of the response whose id suffix is `suffix`.
fn message_id(suffix: &str, n: u32) -> String {
    if n == 0 {
        format!("msg_{suffix}")
    } else {
        format!("msg_{suffix}_{n}")
    }
}

fn call_item_id(call_id: &str) -> String {
    format!("fc_{}", id_suffix(call_id))
}

/// Arguments a client can parse: a call that got no argument text gets `{}`.
fn arguments_or_empty_object(arguments: &str) -> String {
    if arguments.is_empty() {
        "{}".to_owned()
    } else {
        arguments.to_owned()
    }
}

fn usage_to_wire(usage: &Usage) -> wire::Usage {
    wire::Usage {
        input_tokens: usage.input_tokens,
        input_tokens_details: wire::InputTokensDetails {
            cached_tokens: usage.cached_input_tokens.unwrap_or(0),
            cache_write_tokens: usage.cache_write_input_tokens.unwrap_or(0),
        },
        output_tokens: usage.output_tokens,
        output_tokens_details: wire::OutputTokensDetails {
            reasoning_tokens: usage.reasoning_tokens.unwrap_or(0),
        },
        total_tokens: usage.total_tokens(),
    }
}

fn logprob_to_wire(token: &TokenLogprob) -> wire::Logprob {
    // The SDKs require the bytes; a token's bytes are its UTF-8 encoding.
    wire::Logprob {
        token: token.token.clone(),
        logprob: token.logprob,
        bytes: token
            .bytes
            .clone()
            .unwrap_or_else(|| token.token.as_bytes().to_vec()),
        top_logprobs: token
            .top_logprobs
            .iter()
            .map(|top| wire::TopLogprob {
                token: top.token.clone(),
                logprob: top.logprob,
                bytes: top
                    .bytes
                    .clone()
                    .unwrap_or_else(|| top.token.as_bytes().to_vec()),
            })
            .collect(),
    }
}

/// The `error` of a failed response: one of the codes OpenAI documents for it.
fn response_error(kind: ErrorKind, message: &str) -> wire::ResponseError {
    let code = match kind {
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => "invalid_prompt",
        _ => "server_error",
    };
    wire::ResponseError {
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// Everything a Response object holds besides its id, status, output and usage.
struct Frame<'a> {
    echo: &'a ResponseEcho,
    id: &'a str,
    model: &'a str,
    created: u64,
}

impl Frame<'_> {
    fn response(
        &self,
        status: &str,
        output: Vec<wire::OutputItem>,
        usage: Option<&Usage>,
        outcome: Option<Outcome>,
        error: Option<wire::ResponseError>,
    ) -> wire::Response {
        let echo = self.echo;
        wire::Response {
            id: self.id.to_owned(),
            object: "response".to_owned(),
            created_at: self.created,
            status: status.to_owned(),
            background: false,
            error,
            incomplete_details: match outcome {
                Some(Outcome::Incomplete(reason)) => Some(wire::IncompleteDetails {
                    reason: reason.to_owned(),
                }),
                _ => None,
            },
            instructions: echo.instructions.clone(),
            max_output_tokens: echo.max_output_tokens,
            max_tool_calls: echo.max_tool_calls,
            model: self.model.to_owned(),
            output,
            parallel_tool_calls: echo.parallel_tool_calls,
            previous_response_id: None,
            reasoning: wire::Reasoning::default(),
            safety_identifier: echo.safety_identifier.clone(),
            // Nothing is kept, whatever the request said (it was told in a warning).
            store: false,
            temperature: echo.temperature,
            text: wire::TextConfig {
                format: echo.text_format.clone(),
            },
            tool_choice: echo.tool_choice.clone(),
            tools: echo.tools.clone(),
            top_logprobs: echo.top_logprobs,
            top_p: echo.top_p,
            truncation: echo.truncation.clone(),
            usage: usage.map(usage_to_wire),
            user: echo.user.clone(),
            metadata: echo.metadata.clone(),
        }
    }
}

/// The error of a response that failed because generation ended with an error.
fn generation_error() -> wire::ResponseError {
    response_error(
        ErrorKind::UpstreamFailed,
        "the model provider stopped generating with an error",
    )
}

fn response_to_wire(echo: &ResponseEcho, response: &ChatResponse) -> wire::Response {
    let suffix = id_suffix(&response.id);
    let id = format!("resp_{suffix}");
    // A Response has one output: the first choice.
    let choice = response.choices.iter().min_by_key(|c| c.index);
    let outcome = choice.map_or(Outcome::Completed, |c| Outcome::of(c.finish_reason));
    let mut output = Vec::new();
    if let Some(choice) = choice {
        let message = &choice.message;
        let mut content = Vec::new();
        if let Some(text) = message.text.as_ref().filter(|t| !t.is_empty()) {
            content.push(wire::OutputContent::OutputText {
                text: text.clone(),
                annotations: Vec::new(),
                logprobs: choice
                    .logprobs
                    .as_ref()
                    .map(|tokens| tokens.iter().map(logprob_to_wire).collect()),
            });
        }
        if let Some(refusal) = message.refusal.as_ref().filter(|r| !r.is_empty()) {
            content.push(wire::OutputContent::Refusal {
                refusal: refusal.clone(),
            });
        }
        if !content.is_empty() {
            // The message was being written when generation stopped only if nothing followed.
            let status = if message.tool_calls.is_empty() {
                outcome.open_item_status()
            } else {
                "completed"
            };
            output.push(wire::OutputItem::Message {
                id: message_id(&suffix, 0),
                status: status.to_owned(),
                role: "assistant".to_owned(),
                content,
            });
        }
        for call in &message.tool_calls {
            output.push(wire::OutputItem::FunctionCall {
                id: call_item_id(&call.id),
                call_id: call.id.clone(),
                name: call.name.clone(),
                arguments: arguments_or_empty_object(&call.arguments),
                status: "completed".to_owned(),
            });
        }
    }
    let frame = Frame {
        echo,
        id: &id,
        model: &response.model,
        created: response.created.unwrap_or(0),
    };
    frame.response(
        outcome.status(),
        output,
        response.usage.as_ref(),
        Some(outcome),
        (outcome == Outcome::Failed).then(generation_error),
    )
}

// ---------------------------------------------------------------------------------------------
// Stream

/// The kind of the content part open in a message item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Text,
    Refusal,
}

/// One output item as the stream builds it.
#[derive(Debug)]
struct ItemState {
    item: wire::OutputItem,
    open: bool,
    /// The content part being written (message items).
    part: Option<Part>,
    /// Events held back while an earlier item is still open.
    pending: Vec<wire::StreamEvent>,
}

/// Normalized events → Responses events: `response.created` and `response.in_progress`, then
/// output items in order — a `message` item (content parts `output_text` and `refusal`) for
/// text, a `function_call` item per tool call, a new message for text after a tool call — each
/// added, filled and done, then `response.completed` (or `response.incomplete` with the reason,
/// or `response.failed`) carrying the whole response and its usage. A provider error becomes an
/// `error` event followed by `response.failed`.
///
/// Items are written one after the other, as OpenAI does: an item that starts while an earlier
/// one is still open (the OpenAI adapter closes tool calls only at the finish) is held back and
/// written when the earlier one is done, so even interleaved argument pieces of parallel calls
/// come out whole and in order. Only choice 0 is written: a Response has one output.
struct ResponsesStreamEncoder {
    echo: ResponseEcho,
    id: String,
    suffix: String,
    model: String,
    created: u64,
    started: bool,
    next_sequence: u64,
    items: Vec<ItemState>,
    /// The first item not yet done: its events are written at once, later items' wait.
    head: usize,
    /// The message item receiving text.
    open_message: Option<usize>,
    messages: u32,
    /// Tool-call index → item index.
    calls: Vec<Option<usize>>,
    outcome: Option<Outcome>,
    usage: Option<Usage>,
    ended: bool,
}

impl ResponsesStreamEncoder {
    fn new(echo: ResponseEcho) -> Self {
        Self {
            echo,
            id: String::new(),
            suffix: String::new(),
            model: String::new(),
            created: 0,
            started: false,
            next_sequence: 0,
            items: Vec::new(),
            head: 0,
            open_message: None,
            messages: 0,
            calls: Vec::new(),
            outcome: None,
            usage: None,
            ended: false,
        }
    }

    fn write(&mut self, mut event: wire::StreamEvent, out: &mut Vec<SseEvent>) {
        event.set_sequence_number(self.next_sequence);
        self.next_sequence += 1;
        out.push(SseEvent::named(
            event.name(),
            serde_json::to_string(&event).unwrap_or_default(),
        ));
    }

    /// An event of item `index`: written now if no earlier item is open, else held back.
    fn emit(&mut self, index: usize, event: wire::StreamEvent, out: &mut Vec<SseEvent>) {
        if index == self.head {
            self.write(event, out);
        } else {
            self.items[index].pending.push(event);
        }
    }

    /// Moves past the items that are done, writing what the next ones held back.
    fn advance(&mut self, out: &mut Vec<SseEvent>) {
        while self.head < self.items.len() && !self.items[self.head].open {
            self.head += 1;
            if let Some(item) = self.items.get_mut(self.head) {
                for event in std::mem::take(&mut item.pending) {
                    self.write(event, out);
                }
            }
        }
    }

    fn frame(&self) -> Frame<'_> {
        Frame {
            echo: &self.echo,
            id: &self.id,
            model: &self.model,
            created: self.created,
        }
    }

    fn start(&mut self, id: &str, model: &str, created: Option<u64>, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        self.suffix = id_suffix(id);
        self.id = format!("resp_{}", self.suffix);
        self.model = model.to_owned();
        self.created = created.unwrap_or(0);
        let response = Box::new(
            self.frame()
                .response("in_progress", Vec::new(), None, None, None),
        );
        self.write(
            wire::StreamEvent::Created {
                sequence_number: 0,
                response: response.clone(),
            },
            out,
        );
        self.write(
            wire::StreamEvent::InProgress {
                sequence_number: 0,
                response,
            },
            out,
        );
    }

    fn add_item(&mut self, item: wire::OutputItem, out: &mut Vec<SseEvent>) -> usize {
        let index = self.items.len();
        self.items.push(ItemState {
            item: item.clone(),
            open: true,
            part: None,
            pending: Vec::new(),
        });
        self.emit(
            index,
            wire::StreamEvent::OutputItemAdded {
                sequence_number: 0,
                output_index: index as u32,
                item,
            },
            out,
        );
        index
    }

    fn item_id(&self, index: usize) -> String {
        match &self.items[index].item {
            wire::OutputItem::Message { id, .. } | wire::OutputItem::FunctionCall { id, .. } => {
                id.clone()
            }
        }
    }

    fn content_mut(&mut self, index: usize) -> Option<&mut Vec<wire::OutputContent>> {
        match &mut self.items[index].item {
            wire::OutputItem::Message { content, .. } => Some(content),
            wire::OutputItem::FunctionCall { .. } => None,
        }
    }

    /// Closes the open content part of message item `index`.
    fn close_part(&mut self, index: usize, out: &mut Vec<SseEvent>) {
        if self.items[index].part.take().is_none() {
            return;
        }
        let item_id = self.item_id(index);
        let Some((content_index, part)) = self
            .content_mut(index)
            .and_then(|content| Some((content.len() - 1, content.last()?.clone())))
        else {
            return;
        };
        let (output_index, content_index) = (index as u32, content_index as u32);
        let done = match &part {
            wire::OutputContent::OutputText { text, .. } => wire::StreamEvent::OutputTextDone {
                sequence_number: 0,
                item_id: item_id.clone(),
                output_index,
                content_index,
                text: text.clone(),
                logprobs: Vec::new(),
            },
            wire::OutputContent::Refusal { refusal } => wire::StreamEvent::RefusalDone {
                sequence_number: 0,
                item_id: item_id.clone(),
                output_index,
                content_index,
                refusal: refusal.clone(),
            },
        };
        self.emit(index, done, out);
        self.emit(
            index,
            wire::StreamEvent::ContentPartDone {
                sequence_number: 0,
                item_id,
                output_index,
                content_index,
                part,
            },
            out,
        );
    }

    /// The message item receiving `kind` content, opened (with its part) if need be; returns
    /// the item's and the part's indexes.
    fn message_part(&mut self, kind: Part, out: &mut Vec<SseEvent>) -> (usize, u32) {
        let index = match self.open_message {
            Some(index) => index,
            None => {
                let id = message_id(&self.suffix, self.messages);
                self.messages += 1;
                let index = self.add_item(
                    wire::OutputItem::Message {
                        id,
                        status: "in_progress".to_owned(),
                        role: "assistant".to_owned(),
                        content: Vec::new(),
                    },
                    out,
                );
                self.open_message = Some(index);
                index
            }
        };
        if self.items[index].part != Some(kind) {
            self.close_part(index, out);
            let part = match kind {
                Part::Text => wire::OutputContent::OutputText {
                    text: String::new(),
                    annotations: Vec::new(),
                    logprobs: None,
                },
                Part::Refusal => wire::OutputContent::Refusal {
                    refusal: String::new(),
                },
            };
            let content_index = match self.content_mut(index) {
                Some(content) => {
                    content.push(part.clone());
                    content.len() as u32 - 1
                }
                None => 0,
            };
            self.items[index].part = Some(kind);
            let item_id = self.item_id(index);
            self.emit(
                index,
                wire::StreamEvent::ContentPartAdded {
                    sequence_number: 0,
                    item_id,
                    output_index: index as u32,
                    content_index,
                    part,
                },
                out,
            );
        }
        let content_index = self.content_mut(index).map_or(0, |c| c.len() - 1) as u32;
        (index, content_index)
    }

    fn set_status(&mut self, index: usize, value: &str) {
        match &mut self.items[index].item {
            wire::OutputItem::Message { status, .. }
            | wire::OutputItem::FunctionCall { status, .. } => value.clone_into(status),
        }
    }

    /// Finishes item `index` with `status`: its open part, its `done` events.
    fn close_item(&mut self, index: usize, status: &str, out: &mut Vec<SseEvent>) {
        if !self.items[index].open {
            return;
        }
        let item_id = self.item_id(index);
        let mut arguments_filled = None;
        if let wire::OutputItem::FunctionCall { arguments, .. } = &mut self.items[index].item {
            let filled = arguments.is_empty();
            if filled {
                "{}".clone_into(arguments);
            }
            arguments_filled = Some((arguments.clone(), filled));
        }
        match arguments_filled {
            None => {
                self.close_part(index, out);
                if self.open_message == Some(index) {
                    self.open_message = None;
                }
            }
            Some((arguments, filled)) => {
                if filled {
                    self.emit(
                        index,
                        wire::StreamEvent::FunctionCallArgumentsDelta {
                            sequence_number: 0,
                            item_id: item_id.clone(),
                            output_index: index as u32,
                            delta: arguments.clone(),
                        },
                        out,
                    );
                }
                self.emit(
                    index,
                    wire::StreamEvent::FunctionCallArgumentsDone {
                        sequence_number: 0,
                        item_id,
                        output_index: index as u32,
                        arguments,
                    },
                    out,
                );
            }
        }
        self.set_status(index, status);
        self.items[index].open = false;
        let item = self.items[index].item.clone();
        self.emit(
            index,
            wire::StreamEvent::OutputItemDone {
                sequence_number: 0,
                output_index: index as u32,
                item,
            },
            out,
        );
        self.advance(out);
    }

    fn finish(&mut self, outcome: Outcome, out: &mut Vec<SseEvent>) {
        if self.outcome.is_some() {
            return;
        }
        self.outcome = Some(outcome);
        // Tool calls are closed before the finish in a well-formed stream; text may still be
        // open, and is cut short if the response is.
        for index in 0..self.items.len() {
            self.close_item(index, outcome.open_item_status(), out);
        }
    }

    fn fail(&mut self, kind: ErrorKind, message: &str, out: &mut Vec<SseEvent>) {
        self.start("", "", None, out);
        self.ended = true;
        self.write(
            wire::StreamEvent::Error {
                sequence_number: 0,
                code: Some(kind.as_str().to_owned()),
                message: message.to_owned(),
                param: None,
            },
            out,
        );
        // The items the client has seen, as far as they got.
        let seen = (self.head + 1).min(self.items.len());
        let output = self.items[..seen]
            .iter()
            .map(|state| {
                let mut item = state.item.clone();
                if state.open {
                    match &mut item {
                        wire::OutputItem::Message { status, .. }
                        | wire::OutputItem::FunctionCall { status, .. } => {
                            "incomplete".clone_into(status);
                        }
                    }
                }
                item
            })
            .collect();
        let response = self.frame().response(
            "failed",
            output,
            self.usage.as_ref(),
            None,
            Some(response_error(kind, message)),
        );
        self.write(
            wire::StreamEvent::Failed {
                sequence_number: 0,
                response: Box::new(response),
            },
            out,
        );
    }

    fn done(&mut self, out: &mut Vec<SseEvent>) {
        self.start("", "", None, out);
        self.finish(Outcome::Completed, out);
        self.ended = true;
        let outcome = self.outcome.unwrap_or(Outcome::Completed);
        let output = self.items.iter().map(|state| state.item.clone()).collect();
        let response = Box::new(self.frame().response(
            outcome.status(),
            output,
            self.usage.as_ref(),
            Some(outcome),
            (outcome == Outcome::Failed).then(generation_error),
        ));
        let event = match outcome {
            Outcome::Completed => wire::StreamEvent::Completed {
                sequence_number: 0,
                response,
            },
            Outcome::Incomplete(_) => wire::StreamEvent::Incomplete {
                sequence_number: 0,
                response,
            },
            Outcome::Failed => wire::StreamEvent::Failed {
                sequence_number: 0,
                response,
            },
        };
        self.write(event, out);
    }
}

impl StreamEncoder for ResponsesStreamEncoder {
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
            StreamEvent::Start { id, model, created } => self.start(id, model, *created, &mut out),
            StreamEvent::RoleStart { .. } => self.start("", "", None, &mut out),
            StreamEvent::TextDelta { text, .. } | StreamEvent::RefusalDelta { text, .. } => {
                if text.is_empty() || self.outcome.is_some() {
                    return out;
                }
                self.start("", "", None, &mut out);
                let refusal = matches!(event, StreamEvent::RefusalDelta { .. });
                let kind = if refusal { Part::Refusal } else { Part::Text };
                let (index, content_index) = self.message_part(kind, &mut out);
                if let Some(part) = self
                    .content_mut(index)
                    .and_then(|content| content.last_mut())
                {
                    match part {
                        wire::OutputContent::OutputText { text: all, .. }
                        | wire::OutputContent::Refusal { refusal: all } => all.push_str(text),
                    }
                }
                let item_id = self.item_id(index);
                let output_index = index as u32;
                let delta = text.clone();
                let event = if refusal {
                    wire::StreamEvent::RefusalDelta {
                        sequence_number: 0,
                        item_id,
                        output_index,
                        content_index,
                        delta,
                    }
                } else {
                    wire::StreamEvent::OutputTextDelta {
                        sequence_number: 0,
                        item_id,
                        output_index,
                        content_index,
                        delta,
                        logprobs: Vec::new(),
                    }
                };
                self.emit(index, event, &mut out);
            }
            StreamEvent::ToolCallStart {
                index: call,
                id,
                name,
                ..
            } => {
                if self.outcome.is_some() {
                    return out;
                }
                self.start("", "", None, &mut out);
                // Text before a tool call is a message of its own, done before the call.
                if let Some(message) = self.open_message {
                    self.close_item(message, "completed", &mut out);
                }
                let index = self.add_item(
                    wire::OutputItem::FunctionCall {
                        id: call_item_id(id),
                        call_id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                        status: "in_progress".to_owned(),
                    },
                    &mut out,
                );
                let at = *call as usize;
                if self.calls.len() <= at {
                    self.calls.resize(at + 1, None);
                }
                self.calls[at] = Some(index);
            }
            StreamEvent::ToolCallDelta {
                index: call,
                arguments,
                ..
            } => {
                let Some(index) = self.calls.get(*call as usize).copied().flatten() else {
                    return out;
                };
                if arguments.is_empty() || !self.items[index].open {
                    return out;
                }
                if let wire::OutputItem::FunctionCall { arguments: all, .. } =
                    &mut self.items[index].item
                {
                    all.push_str(arguments);
                }
                let item_id = self.item_id(index);
                self.emit(
                    index,
                    wire::StreamEvent::FunctionCallArgumentsDelta {
                        sequence_number: 0,
                        item_id,
                        output_index: index as u32,
                        delta: arguments.clone(),
                    },
                    &mut out,
                );
            }
            StreamEvent::ToolCallEnd { index: call, .. } => {
                if let Some(index) = self.calls.get(*call as usize).copied().flatten() {
                    self.close_item(index, "completed", &mut out);
                }
            }
            StreamEvent::Finish { reason, .. } => {
                self.start("", "", None, &mut out);
                self.finish(Outcome::of(*reason), &mut out);
            }
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Done => self.done(&mut out),
            StreamEvent::Error(error) => self.fail(error.kind, &error.message, &mut out),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_openai_ids_and_are_stable() {
        assert_eq!(
            id_suffix("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"),
            "B9MBs8CjcvOU2jLn4n570S5qMJKcT"
        );
        assert_eq!(
            id_suffix("msg_013Zva2CMHLNnXjNJJKqJ2EF"),
            "013Zva2CMHLNnXjNJJKqJ2EF"
        );
        assert_eq!(id_suffix("resp_abc"), "abc");
        assert_eq!(id_suffix(""), "0");
        assert_eq!(id_suffix("--"), "0");
        assert_eq!(call_item_id("call_abc123"), "fc_abc123");
        assert_eq!(
            call_item_id("toolu_01A09q90qw90lq917835lq9"),
            "fc_01A09q90qw90lq917835lq9"
        );
        assert_eq!(message_id("x", 0), "msg_x");
        assert_eq!(message_id("x", 2), "msg_x_2");
    }

    #[test]
    fn item_errors_name_the_item_field() {
        let error = item_from::<wire::FunctionCallItem>(
            "input[3]",
            serde_json::json!({"type": "function_call", "name": "f", "arguments": "{}"}),
        )
        .unwrap_err();
        assert_eq!(error.param(), Some("input[3].call_id"));
        let error = item_from::<wire::FunctionCallItem>(
            "input[0]",
            serde_json::json!({"call_id": "c", "name": 5, "arguments": "{}"}),
        )
        .unwrap_err();
        assert_eq!(error.param(), Some("input[0].name"));
    }
}
