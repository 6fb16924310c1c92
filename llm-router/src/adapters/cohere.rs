//! The Cohere Chat v2 adapter (`https://api.cohere.com`: `POST /v2/chat`, `POST /v2/embed`).
//!
//! What needs more than renaming:
//! - The text an assistant says before calling tools is Cohere's `tool_plan`, both ways; its
//!   reasoning (`thinking` content) is not part of the answer.
//! - `tool_choice` is `REQUIRED` or `NONE` only: a named tool is forced by sending that tool
//!   alone with `REQUIRED`; `auto` is the default and is left out.
//! - Sampling ranges are narrower than OpenAI's: `p` 0.01–0.99, `k` up to 500, penalties 0–1,
//!   a non-negative `seed`. Values outside are clamped (or dropped) with a warning, or rejected,
//!   per the model's policy. `strict_tools` is one flag for all tools.
//! - `response_format` (JSON mode, with an optional unnamed `json_schema`) cannot be combined
//!   with tools: it is dropped with a warning (or rejected) when the request has tools.
//! - Usage: the billed counts (`usage.billed_units`), which leave out the tokens Cohere adds to
//!   the prompt itself and does not charge for; the model's own counts (`usage.tokens`) when no
//!   billed counts are given. Counts may come as floats (`18.0`).
//! - Answers name no model and no creation time: the hub fills them in.
//! - Streams are typed events (`message-start`, `content-delta`, `tool-plan-delta`,
//!   `tool-call-start`/`-delta`/`-end`, `message-end` with the finish reason and usage, or the
//!   `error` that ended generation).

use std::collections::HashMap;

use serde_json::Value;

use super::anthropic::{arguments_to_input, empty_schema};
use super::{
    Call, Operation, ProviderAdapter, StreamDecoder, UpstreamRequest, loose_error_message,
};
use crate::error::{Error, Result};
use crate::model::{
    AssistantMessage, ChatRequest, ChatResponse, Choice, ContentPart, Embedding, EmbeddingInput,
    EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage, Message, ResponseFormat, StreamError,
    StreamEvent, TokenLogprob, ToolCall, ToolChoice, Usage,
};
use crate::params::{ModelProfile, Negotiation, Param, Provider, Translated, finish_reason_from};
use crate::wire::cohere as wire;
use crate::wire::sse::SseEvent;
use crate::wire::{from_provider, to_value};

/// The `input_type` of embeddings (Cohere requires one; the router's embeddings requests do not
/// say): documents to be searched, the most common use of stored vectors.
pub const EMBED_INPUT_TYPE: &str = "search_document";

#[derive(Debug, Clone, Copy, Default)]
pub struct CohereAdapter;

impl CohereAdapter {
    pub fn new() -> Self {
        Self
    }
}

impl ProviderAdapter for CohereAdapter {
    fn provider(&self) -> Provider {
        Provider::Cohere
    }

    /// `{base}/v2/chat` and `{base}/v2/embed` (the base URL has no version:
    /// `https://api.cohere.com`), the key as a bearer token.
    fn prepare(&self, call: &Call<'_>, body: Vec<u8>) -> Result<UpstreamRequest> {
        let path = match call.operation {
            Operation::Chat { .. } => "/v2/chat",
            Operation::Embeddings => "/v2/embed",
        };
        let request = UpstreamRequest::json(call, format!("{}{path}", call.base_url), body);
        Ok(match call.credential.api_key(Provider::Cohere)? {
            Some(key) => request.header("authorization", format!("Bearer {key}")),
            None => request,
        })
    }

    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>> {
        let mut cx = Negotiation::new(Provider::Cohere, profile);
        let wire = encode_request(request, &mut cx)?;
        Ok(Translated {
            value: to_value(&wire),
            warnings: cx.into_warnings(),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse> {
        let wire: wire::ChatResponse = from_provider(body, "chat response")?;
        Ok(response_from_wire(wire))
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(CohereStreamDecoder::default())
    }

    fn decode_error(&self, status: u16, body: &[u8]) -> Error {
        let message = match serde_json::from_slice::<wire::ErrorBody>(body) {
            Ok(body) => body.message,
            Err(_) => loose_error_message(body),
        };
        Error::provider(Provider::Cohere, status, None, message, None)
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
                    "cohere embeds text only: token arrays are not supported",
                ));
            }
        };
        if texts.is_empty() {
            return Err(Error::invalid("input", "at least one text is needed"));
        }
        if texts.len() > wire::MAX_EMBED_TEXTS {
            return Err(Error::invalid(
                "input",
                format!(
                    "cohere embeds at most {} texts per call, not {}",
                    wire::MAX_EMBED_TEXTS,
                    texts.len()
                ),
            ));
        }
        // Embeddings have no warnings channel: a dropped `user` goes unreported, a rejected one
        // fails as for chat.
        if request.user.is_some() {
            Negotiation::new(Provider::Cohere, profile).allow(Param::User)?;
        }
        Ok(to_value(&wire::EmbedRequest {
            model: profile.upstream_model.clone(),
            texts,
            input_type: EMBED_INPUT_TYPE.to_owned(),
            embedding_types: vec!["float".to_owned()],
            output_dimension: request.dimensions,
        }))
    }

    /// The answer names no model: the hub fills it in.
    fn decode_embeddings(&self, body: &[u8]) -> Result<EmbeddingsResponse> {
        let wire: wire::EmbedResponse = from_provider(body, "embeddings")?;
        let vectors = wire
            .embeddings
            .float
            .ok_or_else(|| Error::protocol("embeddings: no float vectors"))?;
        Ok(EmbeddingsResponse {
            model: String::new(),
            data: vectors
                .into_iter()
                .enumerate()
                .map(|(index, vector)| Embedding {
                    index: index as u32,
                    vector,
                })
                .collect(),
            usage: EmbeddingsUsage {
                input_tokens: wire
                    .meta
                    .and_then(|meta| meta.billed_units)
                    .and_then(|units| units.input_tokens)
                    .map_or(0, count),
            },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Request

/// Text parts only: the roles other than the user's take no images.
fn texts_of(content: &[ContentPart], i: usize, role: &str) -> Result<Vec<String>> {
    content
        .iter()
        .enumerate()
        .map(|(j, part)| match part {
            ContentPart::Text(text) => Ok(text.clone()),
            ContentPart::Image(_) => Err(Error::invalid(
                format!("messages[{i}].content[{j}]"),
                format!("a {role} message takes text only"),
            )),
        })
        .collect()
}

/// Texts → content: one text as a plain string, several as text blocks.
fn text_content(mut texts: Vec<String>) -> wire::Content {
    if texts.len() == 1 {
        return wire::Content::Text(texts.remove(0));
    }
    wire::Content::Blocks(
        texts
            .into_iter()
            .map(|text| wire::ContentBlock::Text { text })
            .collect(),
    )
}

fn user_content(content: &[ContentPart]) -> wire::Content {
    if let [ContentPart::Text(text)] = content {
        return wire::Content::Text(text.clone());
    }
    wire::Content::Blocks(
        content
            .iter()
            .map(|part| match part {
                ContentPart::Text(text) => wire::ContentBlock::Text { text: text.clone() },
                ContentPart::Image(image) => wire::ContentBlock::ImageUrl {
                    image_url: wire::ImageUrl {
                        url: image.source.to_url(),
                        detail: image.detail.map(|d| d.as_str().to_owned()),
                    },
                },
            })
            .collect(),
    )
}

fn message_to_wire(
    i: usize,
    message: &Message,
    cx: &mut Negotiation<'_>,
) -> Result<wire::ChatMessage> {
    Ok(match message {
        Message::System { content, name } => {
            if name.is_some() {
                cx.allow(Param::MessageName)?;
            }
            wire::ChatMessage::System {
                content: text_content(texts_of(content, i, "system")?),
            }
        }
        Message::User { content, name } => {
            if name.is_some() {
                cx.allow(Param::MessageName)?;
            }
            wire::ChatMessage::User {
                content: user_content(content),
            }
        }
        Message::Assistant {
            content,
            tool_calls,
            name,
        } => {
            if name.is_some() {
                cx.allow(Param::MessageName)?;
            }
            let texts = texts_of(content, i, "assistant")?;
            if tool_calls.is_empty() {
                wire::ChatMessage::Assistant {
                    content: Some(text_content(texts)),
                    tool_plan: None,
                    tool_calls: None,
                }
            } else {
                let mut calls = Vec::with_capacity(tool_calls.len());
                for (j, call) in tool_calls.iter().enumerate() {
                    arguments_to_input(&call.arguments).map_err(|message| {
                        Error::invalid(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            message,
                        )
                    })?;
                    calls.push(wire::ToolCall {
                        id: call.id.clone(),
                        kind: "function".to_owned(),
                        function: wire::FunctionCall {
                            name: call.name.clone(),
                            arguments: if call.arguments.trim().is_empty() {
                                "{}".to_owned()
                            } else {
                                call.arguments.clone()
                            },
                        },
                    });
                }
                let plan = texts.concat();
                wire::ChatMessage::Assistant {
                    content: None,
                    tool_plan: (!plan.is_empty()).then_some(plan),
                    tool_calls: Some(calls),
                }
            }
        }
        Message::Tool {
            tool_call_id,
            content,
            is_error,
        } => {
            if *is_error {
                cx.allow(Param::ToolResultError)?;
            }
            let texts: Vec<String> = content
                .iter()
                .filter_map(|part| part.as_text().map(str::to_owned))
                .collect();
            if texts.len() != content.len() {
                cx.allow(Param::ToolResultImages)?;
            }
            wire::ChatMessage::Tool {
                tool_call_id: tool_call_id.clone(),
                content: if texts.is_empty() {
                    wire::Content::Text(String::new())
                } else {
                    text_content(texts)
                },
            }
        }
    })
}

/// `value` within `min..=max`, or clamped with a warning (or rejected) under `param`.
fn within(
    cx: &mut Negotiation<'_>,
    param: Param,
    name: &str,
    value: f64,
    (min, max): (f64, f64),
) -> Result<f64> {
    let clamped = value.clamp(min, max);
    if clamped != value {
        cx.adjust(param, format!("{name} {value} clamped to {clamped}"))?;
    }
    Ok(clamped)
}

fn encode_request(request: &ChatRequest, cx: &mut Negotiation<'_>) -> Result<wire::ChatRequest> {
    // Cohere wants the system turns first: later ones are moved up, in order.
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for (i, message) in request.messages.iter().enumerate() {
        let encoded = message_to_wire(i, message, cx)?;
        if matches!(message, Message::System { .. }) {
            if !turns.is_empty() {
                cx.warn(
                    format!("messages[{i}]"),
                    "system message moved to the start of the conversation",
                );
            }
            system.push(encoded);
        } else {
            turns.push(encoded);
        }
    }
    system.extend(turns);
    let mut out = wire::ChatRequest {
        model: cx.profile().upstream_model.clone(),
        messages: system,
        tools: None,
        strict_tools: None,
        tool_choice: None,
        response_format: None,
        max_tokens: None,
        stop_sequences: None,
        temperature: None,
        seed: None,
        frequency_penalty: None,
        presence_penalty: None,
        k: None,
        p: None,
        logprobs: None,
        stream: None,
    };
    if let Some(max) = request.max_output_tokens
        && cx.allow(Param::MaxOutputTokens)?
    {
        out.max_tokens = Some(max);
    }
    let sampling = &request.sampling;
    if let Some(t) = sampling.temperature
        && cx.allow(Param::Temperature)?
    {
        out.temperature = Some(cx.temperature(t)?);
    }
    if let Some(p) = sampling.top_p
        && cx.allow(Param::TopP)?
    {
        out.p = Some(within(cx, Param::TopP, "top_p", p, (0.01, 0.99))?);
    }
    if let Some(k) = sampling.top_k
        && cx.allow(Param::TopK)?
    {
        if k > 500 {
            cx.adjust(Param::TopK, format!("top_k {k} clamped to 500"))?;
        }
        out.k = Some(k.min(500));
    }
    if let Some(penalty) = sampling.frequency_penalty
        && cx.allow(Param::FrequencyPenalty)?
    {
        out.frequency_penalty = Some(within(
            cx,
            Param::FrequencyPenalty,
            "frequency_penalty",
            penalty,
            (0.0, 1.0),
        )?);
    }
    if let Some(penalty) = sampling.presence_penalty
        && cx.allow(Param::PresencePenalty)?
    {
        out.presence_penalty = Some(within(
            cx,
            Param::PresencePenalty,
            "presence_penalty",
            penalty,
            (0.0, 1.0),
        )?);
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
    if let Some(seed) = request.seed
        && cx.allow(Param::Seed)?
    {
        match u64::try_from(seed) {
            Ok(seed) => out.seed = Some(seed),
            Err(_) => cx.adjust(
                Param::Seed,
                format!("seed {seed} dropped (Cohere takes a non-negative seed)"),
            )?,
        }
    }
    if request.user.is_some() {
        cx.allow(Param::User)?;
    }
    if let Some(logprobs) = request.logprobs
        && cx.allow(Param::Logprobs)?
    {
        out.logprobs = Some(true);
        if logprobs.top_logprobs.is_some_and(|n| n > 0) {
            cx.adjust(
                Param::Logprobs,
                "top_logprobs dropped (Cohere returns no alternatives)",
            )?;
        }
    }
    let format = match &request.response_format {
        None | Some(ResponseFormat::Text) => None,
        Some(ResponseFormat::JsonObject) => cx
            .allow(Param::JsonObject)?
            .then_some((Param::JsonObject, None)),
        Some(ResponseFormat::JsonSchema(format)) => cx
            .allow(Param::JsonSchema)?
            .then(|| (Param::JsonSchema, format.schema.clone())),
    };
    if let Some((param, schema)) = format {
        if request.tools.is_empty() {
            out.response_format = Some(wire::ResponseFormat::JsonObject {
                json_schema: schema,
            });
        } else {
            cx.adjust(
                param,
                "dropped (Cohere takes no response_format together with tools)",
            )?;
        }
    }
    if !request.tools.is_empty() {
        encode_tools(request, cx, &mut out)?;
    }
    if request.is_stream() {
        out.stream = Some(true);
    }
    Ok(out)
}

fn encode_tools(
    request: &ChatRequest,
    cx: &mut Negotiation<'_>,
    out: &mut wire::ChatRequest,
) -> Result<()> {
    let mut tools: Vec<&crate::model::Tool> = request.tools.iter().collect();
    out.tool_choice = match &request.tool_choice {
        None | Some(ToolChoice::Auto) => None,
        Some(ToolChoice::None) => Some(wire::ToolChoice::None),
        Some(ToolChoice::Required) => Some(wire::ToolChoice::Required),
        Some(ToolChoice::Tool(name)) => {
            tools.retain(|tool| &tool.name == name);
            if tools.is_empty() {
                return Err(Error::invalid(
                    "tool_choice",
                    format!("names the tool {name}, which is not among the tools"),
                ));
            }
            cx.warn(
                "tool_choice",
                "only the named tool is sent, with tool_choice REQUIRED (Cohere cannot name a tool)",
            );
            Some(wire::ToolChoice::Required)
        }
    };
    let strict: Vec<bool> = tools.iter().filter_map(|tool| tool.strict).collect();
    if let Some(&first) = strict.first()
        && cx.allow(Param::StrictTools)?
    {
        if strict.iter().any(|&s| s != first) {
            cx.adjust(
                Param::StrictTools,
                "strict_tools: true for every tool (Cohere has one flag for all)",
            )?;
            out.strict_tools = Some(true);
        } else {
            out.strict_tools = Some(first);
        }
    }
    if request.parallel_tool_calls.is_some() {
        cx.allow(Param::ParallelToolCalls)?;
    }
    out.tools = Some(
        tools
            .into_iter()
            .map(|tool| wire::Tool {
                kind: "function".to_owned(),
                function: wire::FunctionDefinition {
                    name: tool.name.clone(),
                    description: tool.description.clone(),
                    parameters: tool.parameters.clone().unwrap_or_else(empty_schema),
                },
            })
            .collect(),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Response

/// A count Cohere sent as a JSON number (possibly `18.0`).
fn count(value: f64) -> u32 {
    // `as` saturates: negative and NaN → 0.
    value.round() as u32
}

/// Cohere's usage → normalized usage: the billed counts, else the model's own (see the module
/// docs). Cached tokens are a part of the input, so never more than it.
pub(crate) fn usage_from_wire(usage: &wire::Usage) -> Usage {
    let billed = usage.billed_units.unwrap_or_default();
    let tokens = usage.tokens.unwrap_or_default();
    let input = billed.input_tokens.or(tokens.input_tokens).map_or(0, count);
    let output = billed
        .output_tokens
        .or(tokens.output_tokens)
        .map_or(0, count);
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: usage.cached_tokens.map(|cached| count(cached).min(input)),
        cache_write_input_tokens: None,
        reasoning_tokens: None,
    }
}

fn response_from_wire(wire: wire::ChatResponse) -> ChatResponse {
    let message = wire.message;
    let mut text = message.tool_plan.unwrap_or_default();
    for block in message.content.unwrap_or_default() {
        if let wire::ResponseBlock::Text { text: piece } = block {
            text.push_str(&piece);
        }
    }
    ChatResponse {
        id: wire.id,
        model: String::new(),
        created: None,
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                text: (!text.is_empty()).then_some(text),
                refusal: None,
                tool_calls: message
                    .tool_calls
                    .unwrap_or_default()
                    .into_iter()
                    .map(|call| ToolCall {
                        id: call.id,
                        name: call.function.name,
                        arguments: call.function.arguments,
                    })
                    .collect(),
            },
            finish_reason: finish_reason_from(Provider::Cohere, &wire.finish_reason),
            stop_sequence: None,
            // One entry per piece of text Cohere scores: its tokens' log probabilities summed.
            logprobs: wire.logprobs.map(|items| {
                items
                    .into_iter()
                    .map(|item| TokenLogprob {
                        token: item.text.unwrap_or_default(),
                        logprob: item.logprobs.iter().sum(),
                        bytes: None,
                        top_logprobs: Vec::new(),
                    })
                    .collect()
            }),
        }],
        usage: wire.usage.as_ref().map(usage_from_wire),
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

/// Cohere events → normalized events. Tool calls are numbered in the order they start (by the
/// event's `index`); the tool plan and the answer's text are text deltas; thinking, citations
/// and debug events are skipped. `message-end` ends the stream: the finish reason and usage, or
/// the generation error it reports.
#[derive(Debug, Default)]
struct CohereStreamDecoder {
    started: bool,
    /// Event index → tool-call index.
    tools: HashMap<u32, u32>,
    open: Vec<u32>,
    ended: bool,
}

impl CohereStreamDecoder {
    fn start(&mut self, id: Option<String>, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: id.unwrap_or_default(),
                model: String::new(),
                created: None,
            });
            out.push(StreamEvent::RoleStart { choice: 0 });
        }
    }

    fn text(text: Option<String>, out: &mut Vec<StreamEvent>) {
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            out.push(StreamEvent::TextDelta { choice: 0, text });
        }
    }

    fn close_tools(&mut self, out: &mut Vec<StreamEvent>) {
        for index in self.open.drain(..) {
            out.push(StreamEvent::ToolCallEnd { choice: 0, index });
        }
    }

    fn fail(&mut self, status: u16, message: String, out: &mut Vec<StreamEvent>) {
        let error = Error::provider(Provider::Cohere, status, None, message, None);
        out.push(StreamEvent::Error(StreamError {
            kind: error.kind(),
            message: error.public_message(),
        }));
        self.ended = true;
    }

    fn event(&mut self, event: wire::StreamEvent, out: &mut Vec<StreamEvent>) {
        match event {
            wire::StreamEvent::MessageStart { id } => self.start(id, out),
            wire::StreamEvent::ContentStart { delta }
            | wire::StreamEvent::ContentDelta { delta } => {
                self.start(None, out);
                Self::text(delta.message.content.and_then(|c| c.text), out);
            }
            wire::StreamEvent::ToolPlanDelta { delta } => {
                self.start(None, out);
                Self::text(delta.message.tool_plan, out);
            }
            wire::StreamEvent::ToolCallStart { index, delta } => {
                self.start(None, out);
                if self.tools.contains_key(&index) {
                    return;
                }
                let tool = self.tools.len() as u32;
                self.tools.insert(index, tool);
                self.open.push(tool);
                let call = delta.message.tool_calls.unwrap_or_default();
                let function = call.function.unwrap_or_default();
                out.push(StreamEvent::ToolCallStart {
                    choice: 0,
                    index: tool,
                    id: call
                        .id
                        .filter(|id| !id.is_empty())
                        .unwrap_or_else(|| format!("call_0_{tool}")),
                    name: function.name.unwrap_or_default(),
                });
                if let Some(arguments) = function.arguments.filter(|a| !a.is_empty()) {
                    out.push(StreamEvent::ToolCallDelta {
                        choice: 0,
                        index: tool,
                        arguments,
                    });
                }
            }
            wire::StreamEvent::ToolCallDelta { index, delta } => {
                let arguments = delta
                    .message
                    .tool_calls
                    .and_then(|call| call.function)
                    .and_then(|function| function.arguments)
                    .filter(|a| !a.is_empty());
                if let (Some(&tool), Some(arguments)) = (self.tools.get(&index), arguments)
                    && self.open.contains(&tool)
                {
                    out.push(StreamEvent::ToolCallDelta {
                        choice: 0,
                        index: tool,
                        arguments,
                    });
                }
            }
            wire::StreamEvent::ToolCallEnd { index } => {
                if let Some(&tool) = self.tools.get(&index)
                    && let Some(at) = self.open.iter().position(|&t| t == tool)
                {
                    self.open.remove(at);
                    out.push(StreamEvent::ToolCallEnd {
                        choice: 0,
                        index: tool,
                    });
                }
            }
            wire::StreamEvent::MessageEnd { delta } => {
                self.start(None, out);
                if let Some(error) = delta.error.filter(|e| !e.is_empty()) {
                    // Generation failed: the stream ends with that error, not a finish.
                    self.fail(500, error, out);
                    return;
                }
                self.close_tools(out);
                out.push(StreamEvent::Finish {
                    choice: 0,
                    reason: finish_reason_from(
                        Provider::Cohere,
                        delta.finish_reason.as_deref().unwrap_or("COMPLETE"),
                    ),
                    stop_sequence: None,
                });
                if let Some(usage) = &delta.usage {
                    out.push(StreamEvent::Usage(usage_from_wire(usage)));
                }
                out.push(StreamEvent::Done);
                self.ended = true;
            }
            wire::StreamEvent::Other => {}
        }
    }
}

impl StreamDecoder for CohereStreamDecoder {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        let data = event.data.trim();
        if self.ended || data.is_empty() || data == "[DONE]" {
            return Ok(out);
        }
        let value: Value = from_provider(data.as_bytes(), "stream event")?;
        // An error body in place of an event.
        if value.get("type").is_none()
            && let Some(message) = value.get("message").and_then(Value::as_str)
        {
            self.fail(500, message.to_owned(), &mut out);
            return Ok(out);
        }
        let event: wire::StreamEvent =
            serde_json::from_value(value).map_err(|source| Error::Protocol {
                message: format!("stream event: {source}"),
                source: Some(source),
            })?;
        self.event(event, &mut out);
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>> {
        if self.ended {
            return Ok(Vec::new());
        }
        Err(Error::protocol("the stream ended before message-end"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FinishReason, Tool, check_stream};
    use serde_json::json;

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            description: None,
            parameters: None,
            strict: None,
        }
    }

    #[test]
    fn a_named_tool_is_forced_by_sending_it_alone() {
        let request = ChatRequest {
            messages: vec![Message::user("weather?")],
            tools: vec![tool("get_time"), tool("get_weather")],
            tool_choice: Some(ToolChoice::Tool("get_weather".into())),
            ..ChatRequest::default()
        };
        let encoded = CohereAdapter
            .encode_request(&request, &ModelProfile::new("command-a-03-2025"))
            .unwrap();
        assert_eq!(encoded.value["tool_choice"], json!("REQUIRED"));
        assert_eq!(
            encoded.value["tools"],
            json!([{"type": "function", "function": {"name": "get_weather",
                     "parameters": {"type": "object", "properties": {}}}}])
        );
        assert_eq!(encoded.warnings[0].param, "tool_choice");
        let mut unknown = request.clone();
        unknown.tool_choice = Some(ToolChoice::Tool("nope".into()));
        let error = CohereAdapter
            .encode_request(&unknown, &ModelProfile::new("command-a-03-2025"))
            .unwrap_err();
        assert_eq!(error.param(), Some("tool_choice"));
    }

    #[test]
    fn sampling_is_fitted_to_cohere_ranges() {
        let request = ChatRequest {
            messages: vec![Message::user("hi")],
            sampling: crate::model::Sampling {
                top_p: Some(1.0),
                top_k: Some(1000),
                frequency_penalty: Some(-0.5),
                presence_penalty: Some(0.5),
                ..Default::default()
            },
            seed: Some(-1),
            ..ChatRequest::default()
        };
        let encoded = CohereAdapter
            .encode_request(&request, &ModelProfile::new("command-a-03-2025"))
            .unwrap();
        assert_eq!(encoded.value["p"], json!(0.99));
        assert_eq!(encoded.value["k"], json!(500));
        assert_eq!(encoded.value["frequency_penalty"], json!(0.0));
        assert_eq!(encoded.value["presence_penalty"], json!(0.5));
        assert_eq!(encoded.value.get("seed"), None);
        let params: Vec<&str> = encoded.warnings.iter().map(|w| w.param.as_str()).collect();
        assert_eq!(params, ["top_p", "top_k", "frequency_penalty", "seed"]);
    }

    #[test]
    fn billed_counts_are_the_usage() {
        let usage: wire::Usage = serde_json::from_value(json!({
            "billed_units": {"input_tokens": 18.0, "output_tokens": 6.0},
            "tokens": {"input_tokens": 1661.0, "output_tokens": 19.0},
            "cached_tokens": 1024
        }))
        .unwrap();
        let usage = usage_from_wire(&usage);
        assert_eq!((usage.input_tokens, usage.output_tokens), (18, 6));
        assert_eq!(usage.cached_input_tokens, Some(18));
        let tokens_only: wire::Usage =
            serde_json::from_value(json!({"tokens": {"input_tokens": 71, "output_tokens": 5}}))
                .unwrap();
        assert_eq!(usage_from_wire(&tokens_only).input_tokens, 71);
    }

    #[test]
    fn thinking_is_not_the_answer() {
        let events = [
            json!({"type": "message-start", "id": "x", "delta": {"message": {"role": "assistant"}}}),
            json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}}),
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "hmm"}}}}),
            json!({"type": "content-end", "index": 0}),
            json!({"type": "content-start", "index": 1, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
            json!({"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": "Hi"}}}}),
            json!({"type": "debug", "prompt": "..."}),
            json!({"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS"}}),
        ];
        let mut decoder = CohereStreamDecoder::default();
        let mut out = Vec::new();
        for event in events {
            out.extend(decoder.decode(&SseEvent::data(event.to_string())).unwrap());
        }
        check_stream(&out).unwrap();
        let texts: Vec<&StreamEvent> = out
            .iter()
            .filter(|e| matches!(e, StreamEvent::TextDelta { .. }))
            .collect();
        assert_eq!(
            texts,
            [&StreamEvent::TextDelta {
                choice: 0,
                text: "Hi".into()
            }]
        );
        assert!(out.contains(&StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Length,
            stop_sequence: None
        }));
    }

    #[test]
    fn billing_refusals_are_the_hubs_problem() {
        let error = CohereAdapter.decode_error(
            402,
            br#"{"id": "b7c1", "message": "Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue"}"#,
        );
        assert_eq!(error.kind(), agenthub_policy::ErrorKind::UpstreamFailed);
        assert!(!error.is_retryable());
        assert!(error.public_message().contains("billing"));
        assert!(error.to_string().contains("payment method"));
    }

    #[test]
    fn embeddings_take_text_within_the_limit() {
        let profile = ModelProfile::new("embed-v4.0");
        let mut request = EmbeddingsRequest {
            input: EmbeddingInput::Tokens(vec![vec![1, 2]]),
            ..EmbeddingsRequest::default()
        };
        let error = CohereAdapter
            .encode_embeddings(&request, &profile)
            .unwrap_err();
        assert_eq!(error.param(), Some("input"));
        request.input = EmbeddingInput::Text(vec!["x".into(); 97]);
        let error = CohereAdapter
            .encode_embeddings(&request, &profile)
            .unwrap_err();
        assert!(error.to_string().contains("at most 96"));
    }
}
