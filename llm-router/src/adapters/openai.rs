//! The OpenAI Chat Completions adapter, and its OpenAI-compatible flavour (vLLM, Ollama,
//! LM Studio, Together, Groq, …), which differs only in sending `max_tokens` instead of
//! `max_completion_tokens`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use super::{
    Call, Operation, ProviderAdapter, StreamDecoder, UpstreamRequest, loose_error_message,
    request_bytes,
};
use crate::error::{Error, Result};
use crate::model::{
    AssistantMessage, ChatRequest, ChatResponse, Choice, ContentPart, Embedding, EmbeddingInput,
    EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage, FinishReason, Image, Message,
    ResponseFormat, StreamError, StreamEvent, TokenLogprob, ToolCall, ToolChoice, TopLogprob,
    Usage,
};
use crate::params::{ModelProfile, Negotiation, Param, Provider, Translated, finish_reason_from};
use crate::wire::openai as wire;
use crate::wire::sse::SseEvent;
use crate::wire::{from_provider, to_value};

/// Which dialect of the Chat Completions API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenAI itself.
    OpenAi,
    /// A server that follows OpenAI's API but reads the older `max_tokens`.
    Compatible,
}

#[derive(Debug, Clone, Copy)]
pub struct OpenAiAdapter {
    flavor: Flavor,
}

impl OpenAiAdapter {
    pub fn new() -> Self {
        Self {
            flavor: Flavor::OpenAi,
        }
    }

    /// The adapter for OpenAI-compatible servers.
    pub fn compatible() -> Self {
        Self {
            flavor: Flavor::Compatible,
        }
    }
}

impl Default for OpenAiAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl ProviderAdapter for OpenAiAdapter {
    fn provider(&self) -> Provider {
        Provider::OpenAi
    }

    /// `{base}/chat/completions` and `{base}/embeddings`, the key as a bearer token. The base
    /// URL includes the version (`https://api.openai.com/v1`, `http://localhost:11434/v1`).
    fn prepare(&self, call: &Call<'_>, body: Vec<u8>) -> Result<UpstreamRequest> {
        let path = match call.operation {
            Operation::Chat { .. } => "/chat/completions",
            Operation::Embeddings => "/embeddings",
        };
        let request = UpstreamRequest::json(call, format!("{}{path}", call.base_url), body);
        Ok(match call.credential.api_key(Provider::OpenAi)? {
            Some(key) => request.header("authorization", format!("Bearer {key}")),
            None => request,
        })
    }

    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>> {
        let mut cx = Negotiation::new(Provider::OpenAi, profile);
        let wire = encode_request(request, &mut cx, self.flavor)?;
        Ok(Translated {
            value: to_value(&wire),
            warnings: cx.into_warnings(),
        })
    }

    fn encode_request_body(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Vec<u8>>> {
        let mut cx = Negotiation::new(Provider::OpenAi, profile);
        let wire = encode_request(request, &mut cx, self.flavor)?;
        Ok(Translated {
            value: request_bytes(&wire)?,
            warnings: cx.into_warnings(),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse> {
        let wire: wire::ChatCompletion = from_provider(body, "chat completion")?;
        Ok(response_from_wire(wire))
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(OpenAiStreamDecoder::default())
    }

    fn decode_error(&self, status: u16, body: &[u8]) -> Error {
        match serde_json::from_slice::<wire::ErrorBody>(body) {
            Ok(body) => error_from_wire(status, body.error),
            Err(_) => Error::provider(
                Provider::OpenAi,
                status,
                None,
                loose_error_message(body),
                None,
            ),
        }
    }

    fn has_embeddings(&self) -> bool {
        true
    }

    fn encode_embeddings(
        &self,
        request: &EmbeddingsRequest,
        profile: &ModelProfile,
    ) -> Result<Value> {
        let input = match &request.input {
            EmbeddingInput::Text(texts) => wire::EmbeddingInput::Texts(texts.clone()),
            EmbeddingInput::Tokens(tokens) => wire::EmbeddingInput::TokenLists(tokens.clone()),
        };
        Ok(to_value(&wire::EmbeddingsRequest {
            input,
            model: profile.upstream_model.clone(),
            encoding_format: Some("float".to_owned()),
            dimensions: request.dimensions,
            user: request.user.clone(),
            extra: Default::default(),
        }))
    }

    fn decode_embeddings(&self, body: &[u8]) -> Result<EmbeddingsResponse> {
        let wire: wire::EmbeddingsResponse = from_provider(body, "embeddings")?;
        let mut data = Vec::with_capacity(wire.data.len());
        for item in wire.data {
            let vector = match item.embedding {
                wire::EmbeddingVector::Float(vector) => vector,
                wire::EmbeddingVector::Base64(text) => decode_f32s(&text)
                    .ok_or_else(|| Error::protocol("embedding: invalid base64 vector"))?,
            };
            data.push(Embedding {
                index: item.index,
                vector,
            });
        }
        Ok(EmbeddingsResponse {
            model: wire.model,
            data,
            usage: EmbeddingsUsage {
                input_tokens: wire.usage.prompt_tokens,
            },
        })
    }
}

/// Little-endian `f32`s as base64, OpenAI's `encoding_format: base64`.
pub(crate) fn encode_f32s(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn decode_f32s(text: &str) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Request

/// The Chat Completions request for `request`, negotiated through `cx` (whose provider may be
/// another Chat Completions dialect: Mistral builds on it).
pub(crate) fn encode_request(
    request: &ChatRequest,
    cx: &mut Negotiation<'_>,
    flavor: Flavor,
) -> Result<wire::ChatCompletionRequest> {
    let mut messages = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        messages.push(message_to_wire(message, cx)?);
    }
    let mut out = wire::ChatCompletionRequest {
        model: cx.profile().upstream_model.clone(),
        messages,
        frequency_penalty: None,
        logit_bias: None,
        logprobs: None,
        top_logprobs: None,
        max_tokens: None,
        max_completion_tokens: None,
        n: None,
        parallel_tool_calls: None,
        presence_penalty: None,
        response_format: None,
        seed: None,
        stop: None,
        stream: None,
        stream_options: None,
        temperature: None,
        top_p: None,
        tools: None,
        tool_choice: None,
        user: None,
        extra: Default::default(),
    };
    if let Some(max) = request.max_output_tokens
        && cx.allow(Param::MaxOutputTokens)?
    {
        match flavor {
            Flavor::OpenAi => out.max_completion_tokens = Some(max),
            Flavor::Compatible => out.max_tokens = Some(max),
        }
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
        out.top_p = Some(p);
    }
    if sampling.top_k.is_some() {
        cx.allow(Param::TopK)?;
    }
    if let Some(p) = sampling.frequency_penalty
        && cx.allow(Param::FrequencyPenalty)?
    {
        out.frequency_penalty = Some(p);
    }
    if let Some(p) = sampling.presence_penalty
        && cx.allow(Param::PresencePenalty)?
    {
        out.presence_penalty = Some(p);
    }
    if let Some(bias) = &sampling.logit_bias
        && cx.allow(Param::LogitBias)?
    {
        out.logit_bias = Some(bias.iter().cloned().collect::<BTreeMap<_, _>>());
    }
    let stop = cx.stop(&request.stop)?;
    if !stop.is_empty() {
        out.stop = Some(wire::Stop::Many(stop));
    }
    if let Some(n) = request.n
        && (n == 1 || cx.allow(Param::N)?)
    {
        out.n = Some(n);
    }
    if let Some(seed) = request.seed
        && cx.allow(Param::Seed)?
    {
        out.seed = Some(seed);
    }
    if let Some(user) = &request.user
        && cx.allow(Param::User)?
    {
        out.user = Some(user.clone());
    }
    if let Some(logprobs) = request.logprobs
        && cx.allow(Param::Logprobs)?
    {
        out.logprobs = Some(true);
        out.top_logprobs = logprobs.top_logprobs;
    }
    out.response_format = match &request.response_format {
        None => None,
        Some(ResponseFormat::Text) => Some(wire::ResponseFormat::Text),
        Some(ResponseFormat::JsonObject) => cx
            .allow(Param::JsonObject)?
            .then_some(wire::ResponseFormat::JsonObject),
        Some(ResponseFormat::JsonSchema(format)) => {
            cx.allow(Param::JsonSchema)?
                .then(|| wire::ResponseFormat::JsonSchema {
                    json_schema: wire::JsonSchema {
                        name: format.name.clone(),
                        description: format.description.clone(),
                        schema: format.schema.clone(),
                        strict: format.strict,
                    },
                })
        }
    };
    if !request.tools.is_empty() {
        let mut tools = Vec::with_capacity(request.tools.len());
        for tool in &request.tools {
            let strict = match tool.strict {
                Some(strict) if cx.allow(Param::StrictTools)? => Some(strict),
                _ => None,
            };
            tools.push(wire::Tool {
                kind: "function".to_owned(),
                function: Some(wire::FunctionDefinition {
                    name: tool.name.clone(),
                    description: tool.description.clone(),
                    parameters: tool.parameters.clone(),
                    strict,
                }),
            });
        }
        out.tools = Some(tools);
        out.tool_choice = request.tool_choice.as_ref().map(tool_choice_to_wire);
        if let Some(parallel) = request.parallel_tool_calls
            && cx.allow(Param::ParallelToolCalls)?
        {
            out.parallel_tool_calls = Some(parallel);
        }
    }
    if request.is_stream() {
        out.stream = Some(true);
        // Always: the hub needs the usage for budgets, whatever the client asked.
        out.stream_options = Some(wire::StreamOptions {
            include_usage: Some(true),
        });
    }
    Ok(out)
}

pub(crate) fn tool_choice_to_wire(choice: &ToolChoice) -> wire::ToolChoice {
    match choice {
        ToolChoice::Auto => wire::ToolChoice::Mode("auto".to_owned()),
        ToolChoice::None => wire::ToolChoice::Mode("none".to_owned()),
        ToolChoice::Required => wire::ToolChoice::Mode("required".to_owned()),
        ToolChoice::Tool(name) => wire::ToolChoice::Named(wire::NamedToolChoice {
            kind: "function".to_owned(),
            function: Some(wire::FunctionName { name: name.clone() }),
        }),
    }
}

/// Parts → OpenAI content: one text part is sent as a plain string.
pub(crate) fn content_to_wire(parts: &[ContentPart]) -> wire::Content {
    if let [ContentPart::Text(text)] = parts {
        return wire::Content::Text(text.clone());
    }
    wire::Content::Parts(
        parts
            .iter()
            .map(|part| match part {
                ContentPart::Text(text) => wire::ContentPart::Text { text: text.clone() },
                ContentPart::Image(image) => image_to_wire(image),
            })
            .collect(),
    )
}

fn image_to_wire(image: &Image) -> wire::ContentPart {
    wire::ContentPart::ImageUrl {
        image_url: wire::ImageUrl {
            url: image.source.to_url(),
            detail: image.detail.map(|d| d.as_str().to_owned()),
        },
    }
}

fn text_only(parts: &[ContentPart]) -> Vec<ContentPart> {
    parts
        .iter()
        .filter(|p| matches!(p, ContentPart::Text(_)))
        .cloned()
        .collect()
}

fn message_to_wire(message: &Message, cx: &mut Negotiation<'_>) -> Result<wire::ChatMessage> {
    let mut name_of = |name: &Option<String>| -> Result<Option<String>> {
        Ok(match name {
            Some(name) if cx.allow(Param::MessageName)? => Some(name.clone()),
            _ => None,
        })
    };
    Ok(match message {
        Message::System { content, name } => wire::ChatMessage::System {
            content: content_to_wire(&text_only(content)),
            name: name_of(name)?,
        },
        Message::User { content, name } => wire::ChatMessage::User {
            content: content_to_wire(content),
            name: name_of(name)?,
        },
        Message::Assistant {
            content,
            tool_calls,
            name,
        } => wire::ChatMessage::Assistant {
            content: (!content.is_empty()).then(|| content_to_wire(&text_only(content))),
            refusal: None,
            tool_calls: (!tool_calls.is_empty())
                .then(|| tool_calls.iter().map(tool_call_to_wire).collect()),
            name: name_of(name)?,
        },
        Message::Tool {
            tool_call_id,
            content,
            is_error,
        } => {
            if *is_error {
                cx.allow(Param::ToolResultError)?;
            }
            let text = text_only(content);
            if text.len() != content.len() {
                cx.allow(Param::ToolResultImages)?;
            }
            wire::ChatMessage::Tool {
                content: content_to_wire(&text),
                tool_call_id: tool_call_id.clone(),
            }
        }
    })
}

pub(crate) fn tool_call_to_wire(call: &ToolCall) -> wire::ToolCall {
    wire::ToolCall {
        id: call.id.clone(),
        kind: "function".to_owned(),
        function: wire::FunctionCall {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Response

fn response_from_wire(wire: wire::ChatCompletion) -> ChatResponse {
    ChatResponse {
        id: wire.id,
        model: wire.model,
        created: (wire.created != 0).then_some(wire.created),
        choices: wire
            .choices
            .into_iter()
            .map(|choice| Choice {
                index: choice.index,
                message: AssistantMessage {
                    text: choice.message.content,
                    refusal: choice.message.refusal,
                    tool_calls: choice
                        .message
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
                finish_reason: finish_reason_from(
                    Provider::OpenAi,
                    choice.finish_reason.as_deref().unwrap_or("stop"),
                ),
                stop_sequence: None,
                logprobs: choice
                    .logprobs
                    .and_then(|l| l.content)
                    .map(|tokens| tokens.into_iter().map(logprob_from_wire).collect()),
            })
            .collect(),
        usage: wire.usage.map(|u| usage_from_wire(&u)),
    }
}

fn logprob_from_wire(token: wire::TokenLogprob) -> TokenLogprob {
    TokenLogprob {
        token: token.token,
        logprob: token.logprob,
        bytes: token.bytes,
        top_logprobs: token
            .top_logprobs
            .into_iter()
            .map(|top| TopLogprob {
                token: top.token,
                logprob: top.logprob,
                bytes: top.bytes,
            })
            .collect(),
    }
}

pub(crate) fn logprob_to_wire(token: &TokenLogprob) -> wire::TokenLogprob {
    wire::TokenLogprob {
        token: token.token.clone(),
        logprob: token.logprob,
        bytes: token.bytes.clone(),
        top_logprobs: token
            .top_logprobs
            .iter()
            .map(|top| wire::TopLogprob {
                token: top.token.clone(),
                logprob: top.logprob,
                bytes: top.bytes.clone(),
            })
            .collect(),
    }
}

pub(crate) fn usage_from_wire(usage: &wire::Usage) -> Usage {
    Usage {
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
        cached_input_tokens: usage
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens),
        cache_write_input_tokens: None,
        reasoning_tokens: usage
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens),
    }
}

pub(crate) fn usage_to_wire(usage: &Usage) -> wire::Usage {
    wire::Usage {
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        total_tokens: usage.total_tokens(),
        prompt_tokens_details: usage
            .cached_input_tokens
            .map(|cached| wire::PromptTokensDetails {
                cached_tokens: Some(cached),
                audio_tokens: None,
            }),
        completion_tokens_details: usage.reasoning_tokens.map(|reasoning| {
            wire::CompletionTokensDetails {
                reasoning_tokens: Some(reasoning),
                ..Default::default()
            }
        }),
    }
}

fn error_from_wire(status: u16, error: wire::ErrorObject) -> Error {
    let code = match error.code {
        Some(Value::String(code)) => Some(code),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => error.kind,
    };
    Error::provider(Provider::OpenAi, status, code, error.message, error.param)
}

/// The status an error inside a stream stands for (it comes without one).
fn status_of_stream_error(error: &wire::ErrorObject) -> u16 {
    let code = match &error.code {
        Some(Value::String(code)) => code.as_str(),
        _ => error.kind.as_deref().unwrap_or(""),
    };
    match code {
        "rate_limit_exceeded" | "rate_limit_error" => 429,
        "insufficient_quota" => 429,
        "invalid_request_error" | "context_length_exceeded" => 400,
        _ => 500,
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

#[derive(Debug, Default)]
struct ChoiceState {
    /// Tool calls in order of appearance: (the wire `index`, if any; the call id).
    tools: Vec<(Option<u32>, String)>,
    /// Tool calls (by position) not yet ended.
    open: Vec<u32>,
    finished: bool,
}

/// OpenAI chunks → normalized events.
///
/// Tool calls are ended when their choice finishes (OpenAI may interleave the argument pieces
/// of parallel calls). Leniency for compatible servers: a missing `role` still starts the
/// choice; a tool call without `index` is told apart by its `id`; usage reported on several
/// chunks counts once (the last); a stream that ends without a finish reason or `[DONE]` after
/// every choice has content is completed.
#[derive(Debug, Default)]
struct OpenAiStreamDecoder {
    started: bool,
    choices: BTreeMap<u32, ChoiceState>,
    usage: Option<Usage>,
    ended: bool,
}

impl OpenAiStreamDecoder {
    fn complete(&mut self, out: &mut Vec<StreamEvent>) {
        for (&index, state) in &mut self.choices {
            if !state.finished {
                for tool in state.open.drain(..) {
                    out.push(StreamEvent::ToolCallEnd {
                        choice: index,
                        index: tool,
                    });
                }
                let reason = if state.tools.is_empty() {
                    FinishReason::Stop
                } else {
                    FinishReason::ToolCalls
                };
                out.push(StreamEvent::Finish {
                    choice: index,
                    reason,
                    stop_sequence: None,
                });
                state.finished = true;
            }
        }
        if let Some(usage) = self.usage.take() {
            out.push(StreamEvent::Usage(usage));
        }
        out.push(StreamEvent::Done);
        self.ended = true;
    }

    fn chunk(&mut self, chunk: wire::ChatCompletionChunk, out: &mut Vec<StreamEvent>) {
        if !self.started && (!chunk.id.is_empty() || !chunk.choices.is_empty()) {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.id,
                model: chunk.model,
                created: (chunk.created != 0).then_some(chunk.created),
            });
        }
        for choice in chunk.choices {
            let index = choice.index;
            let state = self.choices.entry(index).or_insert_with(|| {
                out.push(StreamEvent::RoleStart { choice: index });
                ChoiceState::default()
            });
            if state.finished {
                continue;
            }
            let delta = choice.delta;
            if let Some(text) = delta.content
                && !text.is_empty()
            {
                out.push(StreamEvent::TextDelta {
                    choice: index,
                    text,
                });
            }
            if let Some(text) = delta.refusal
                && !text.is_empty()
            {
                out.push(StreamEvent::RefusalDelta {
                    choice: index,
                    text,
                });
            }
            for call in delta.tool_calls.unwrap_or_default() {
                let function = call.function.unwrap_or_default();
                let known = match (call.index, &call.id) {
                    (Some(wire_index), _) => {
                        state.tools.iter().position(|(i, _)| *i == Some(wire_index))
                    }
                    (None, Some(id)) => state.tools.iter().position(|(_, known)| known == id),
                    (None, None) => state.tools.len().checked_sub(1),
                };
                let tool = match known {
                    Some(tool) => tool as u32,
                    None => {
                        let tool = state.tools.len() as u32;
                        let id = call
                            .id
                            .clone()
                            .unwrap_or_else(|| format!("call_{index}_{tool}"));
                        state.tools.push((call.index, id.clone()));
                        state.open.push(tool);
                        out.push(StreamEvent::ToolCallStart {
                            choice: index,
                            index: tool,
                            id,
                            name: function.name.clone().unwrap_or_default(),
                        });
                        tool
                    }
                };
                if let Some(arguments) = function.arguments
                    && !arguments.is_empty()
                    && state.open.contains(&tool)
                {
                    out.push(StreamEvent::ToolCallDelta {
                        choice: index,
                        index: tool,
                        arguments,
                    });
                }
            }
            if let Some(reason) = choice.finish_reason {
                for tool in state.open.drain(..) {
                    out.push(StreamEvent::ToolCallEnd {
                        choice: index,
                        index: tool,
                    });
                }
                out.push(StreamEvent::Finish {
                    choice: index,
                    reason: finish_reason_from(Provider::OpenAi, &reason),
                    stop_sequence: None,
                });
                state.finished = true;
            }
        }
        if let Some(Some(usage)) = chunk.usage {
            self.usage = Some(usage_from_wire(&usage));
        }
    }
}

impl StreamDecoder for OpenAiStreamDecoder {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        if self.ended {
            return Ok(out);
        }
        let data = event.data.trim();
        if data == wire::DONE {
            self.complete(&mut out);
            return Ok(out);
        }
        if data.is_empty() {
            return Ok(out);
        }
        let value: Value = from_provider(data.as_bytes(), "stream chunk")?;
        if value.get("error").is_some_and(Value::is_object) {
            let body: wire::ErrorBody =
                serde_json::from_value(value).map_err(|source| Error::Protocol {
                    message: format!("stream error: {source}"),
                    source: Some(source),
                })?;
            let status = status_of_stream_error(&body.error);
            let error = error_from_wire(status, body.error);
            out.push(StreamEvent::Error(StreamError {
                kind: error.kind(),
                message: error.public_message(),
            }));
            self.ended = true;
            return Ok(out);
        }
        let chunk: wire::ChatCompletionChunk =
            serde_json::from_value(value).map_err(|source| Error::Protocol {
                message: format!("stream chunk: {source}"),
                source: Some(source),
            })?;
        self.chunk(chunk, &mut out);
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        if self.ended {
            return Ok(out);
        }
        if self.started && !self.choices.is_empty() && self.choices.values().all(|c| c.finished) {
            self.complete(&mut out);
            return Ok(out);
        }
        Err(Error::protocol("the stream ended before it was complete"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors_round_trip() {
        let vector = [0.5_f32, -1.25, 3.0e-7];
        assert_eq!(decode_f32s(&encode_f32s(&vector)).unwrap(), vector);
        assert_eq!(decode_f32s("AAA="), None);
    }

    #[test]
    fn interleaved_parallel_tool_calls_stay_apart() {
        let mut decoder = OpenAiStreamDecoder::default();
        let chunks = [
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":""}},{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":""}}]}}]}"#,
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"y\":"}},{"index":0,"function":{"arguments":"{\"x\":"}}]}}]}"#,
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}},{"index":1,"function":{"arguments":"2}"}}]},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ];
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(decoder.decode(&SseEvent::data(chunk)).unwrap());
        }
        crate::model::check_stream(&events).unwrap();
        let mut acc = crate::model::StreamAccumulator::new();
        events.iter().for_each(|e| acc.push(e));
        let calls = &acc.finish().choices[0].message.tool_calls;
        assert_eq!(calls[0].arguments, r#"{"x":1}"#);
        assert_eq!(calls[1].arguments, r#"{"y":2}"#);
    }

    #[test]
    fn compatible_servers_without_index_or_done_are_understood() {
        let mut decoder = OpenAiStreamDecoder::default();
        let chunks = [
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}"#,
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}"#,
            r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        ];
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(decoder.decode(&SseEvent::data(chunk)).unwrap());
        }
        events.extend(decoder.finish().unwrap());
        crate::model::check_stream(&events).unwrap();
        let mut acc = crate::model::StreamAccumulator::new();
        events.iter().for_each(|e| acc.push(e));
        let response = acc.finish();
        assert_eq!(response.choices[0].message.tool_calls.len(), 2);
        assert_eq!(response.usage.unwrap().output_tokens, 2);
    }

    #[test]
    fn a_stream_cut_short_is_an_error() {
        let mut decoder = OpenAiStreamDecoder::default();
        decoder
            .decode(&SseEvent::data(
                r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}"#,
            ))
            .unwrap();
        let error = decoder.finish().unwrap_err();
        assert_eq!(error.kind(), agenthub_policy::ErrorKind::UpstreamFailed);
    }
}
