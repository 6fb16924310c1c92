//! The Amazon Bedrock Converse adapter: `POST {base}/model/{modelId}/converse` and
//! `/converse-stream`, signed with AWS SigV4 (or a Bedrock API key as a bearer token), answers
//! streamed in the AWS event stream framing.
//!
//! Converse is one API over many model families; what a family accepts beyond the common
//! `inferenceConfig` goes in `additionalModelRequestFields`, spelled as the family's own API
//! spells it. The vendor is read from the model id (`anthropic.claude-…`,
//! `us.anthropic.claude-…`, or the id at the end of an ARN).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::anthropic::{arguments_to_input, empty_schema, input_to_arguments};
use super::{
    Call, Credential, Framing, Operation, ProviderAdapter, StreamDecoder, UpstreamRequest,
    loose_error_message,
};
use crate::error::{Error, Result};
use crate::model::{
    AssistantMessage, ChatRequest, ChatResponse, Choice, ContentPart, FinishReason, Image,
    ImageSource, Message, ResponseFormat, StreamEvent, ToolCall, ToolChoice, Usage,
};
use crate::params::{
    ModelProfile, Negotiation, Param, Provider, Translated, UnsupportedPolicy, finish_reason_from,
    usage_from_anthropic,
};
use crate::sigv4;
use crate::wire::bedrock as wire;
use crate::wire::sse::SseEvent;
use crate::wire::{from_provider, to_value};

/// The SigV4 signing name of Bedrock Runtime.
pub const SIGNING_NAME: &str = "bedrock";

/// The media type of a streamed answer.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// The response header naming the error type of an error answer.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

#[derive(Debug, Clone, Copy, Default)]
pub struct BedrockAdapter;

impl BedrockAdapter {
    pub fn new() -> Self {
        Self
    }

    /// [`ProviderAdapter::decode_error`] with the error type of the `x-amzn-ErrorType` header,
    /// which names the error when the body does not.
    pub fn decode_error_with_type(
        &self,
        status: u16,
        error_type: Option<&str>,
        body: &[u8],
    ) -> Error {
        let parsed = serde_json::from_slice::<wire::ErrorBody>(body).ok();
        let code = error_type
            .or_else(|| parsed.as_ref().and_then(|b| b.kind.as_deref()))
            .map(wire::error_type_name)
            .filter(|name| !name.is_empty())
            .map(str::to_owned);
        let message = parsed
            .and_then(|b| b.message)
            .unwrap_or_else(|| loose_error_message(body));
        Error::provider(Provider::Bedrock, status, code, message, None)
    }
}

impl ProviderAdapter for BedrockAdapter {
    fn provider(&self) -> Provider {
        Provider::Bedrock
    }

    /// `{base}/model/{modelId}/converse` (or `/converse-stream`), the model id percent-encoded
    /// as one path segment (inference profile ARNs hold `:` and `/`). The base defaults to
    /// `https://bedrock-runtime.{region}.amazonaws.com`; the region (`options.region`) is
    /// required, to sign. AWS credentials sign the request (SigV4, service `bedrock`), an API
    /// key goes as a bearer token (Bedrock API keys), no credential sends it unsigned (a
    /// signing proxy).
    fn prepare(&self, call: &Call<'_>, body: Vec<u8>) -> Result<UpstreamRequest> {
        let stream = match call.operation {
            Operation::Chat { stream } => stream,
            Operation::Embeddings => {
                return Err(Error::NotSupported(
                    "bedrock models do not produce embeddings through the Converse API".into(),
                ));
            }
        };
        let region = call
            .options
            .region
            .as_deref()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                Error::NotSupported(
                    "bedrock needs the provider's region option (the AWS region to call and \
                     sign for)"
                        .into(),
                )
            })?;
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::NotSupported(format!(
                "bedrock region {region:?} is not an AWS region name"
            )));
        }
        if call.model.is_empty() || call.model == "." || call.model == ".." {
            return Err(Error::NotSupported(format!(
                "bedrock model id {:?} is not a model id",
                call.model
            )));
        }
        let default_base;
        let base = if call.base_url.is_empty() {
            default_base = format!("https://bedrock-runtime.{region}.amazonaws.com");
            &default_base
        } else {
            call.base_url
        };
        let endpoint = Endpoint::parse(base)?;
        let path = format!(
            "{}/model/{}/{}",
            endpoint.path,
            sigv4::uri_encode(call.model),
            if stream {
                "converse-stream"
            } else {
                "converse"
            }
        );
        let url = format!("{}://{}{path}", endpoint.scheme, endpoint.host);
        let accept = if stream {
            EVENT_STREAM_CONTENT_TYPE
        } else {
            "application/json"
        };
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), accept.to_owned()),
        ];
        match call.credential {
            Credential::Aws {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let signed = sigv4::sign(
                    &sigv4::Request {
                        method: "POST",
                        host: &endpoint.host,
                        path: &path,
                        query: &[],
                        headers: &[("content-type", "application/json")],
                        payload: &body,
                    },
                    &sigv4::Credentials {
                        access_key_id,
                        secret_access_key,
                        session_token: session_token.as_deref(),
                    },
                    &sigv4::Scope {
                        region,
                        service: SIGNING_NAME,
                    },
                    call.now,
                    false,
                );
                headers.extend(signed.headers);
            }
            Credential::ApiKey(key) => {
                headers.push(("authorization".into(), format!("Bearer {key}")))
            }
            Credential::None => {}
        }
        headers.extend(call.options.headers.iter().cloned());
        Ok(UpstreamRequest { url, headers, body })
    }

    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>> {
        let mut cx = Negotiation::new(Provider::Bedrock, profile);
        let wire = encode_request(request, &mut cx)?;
        Ok(Translated {
            value: to_value(&wire),
            warnings: cx.into_warnings(),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse> {
        let response: wire::ConverseResponse = from_provider(body, "converse response")?;
        Ok(response_from_wire(response))
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(BedrockStreamDecoder::default())
    }

    fn framing(&self) -> Framing {
        Framing::AwsEventStream
    }

    /// The body is `{"message": …}`, with the error type in `__type` for some answers; the
    /// status (and type) classify it ([`crate::classify`]: a model failure's 424 is retryable,
    /// an exceeded service quota's 400 is the hub's account's limit, not the caller's mistake).
    fn decode_error(&self, status: u16, body: &[u8]) -> Error {
        self.decode_error_with_type(status, None, body)
    }

    /// With the error type of the `x-amzn-ErrorType` header, which names the error when the
    /// body does not.
    fn decode_error_response(&self, status: u16, headers: &http::HeaderMap, body: &[u8]) -> Error {
        let error_type = headers
            .get(ERROR_TYPE_HEADER)
            .and_then(|value| value.to_str().ok());
        self.decode_error_with_type(status, error_type, body)
    }
}

/// A base URL split for signing: the host as the HTTP client sends it (a default port left
/// out, so that the signed `host` and the sent one agree), and the path before `/model/…`.
struct Endpoint {
    scheme: &'static str,
    host: String,
    path: String,
}

impl Endpoint {
    fn parse(base: &str) -> Result<Self> {
        let invalid =
            || Error::NotSupported(format!("bedrock base URL {base:?} is not an http(s) URL"));
        let (scheme, rest) = if let Some(rest) = base.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = base.strip_prefix("http://") {
            ("http", rest)
        } else {
            return Err(invalid());
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains(['@', '?', '#']) || path.contains(['?', '#'])
        {
            return Err(invalid());
        }
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        Ok(Self {
            scheme,
            host: authority
                .strip_suffix(default_port)
                .unwrap_or(authority)
                .to_owned(),
            path: path.trim_end_matches('/').to_owned(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Request

/// The vendor of a model id: `anthropic` for `anthropic.claude-…`, `us.anthropic.claude-…` and
/// `arn:aws:bedrock:…:foundation-model/anthropic.claude-…`. `None` when the id does not say
/// (provisioned throughput, application inference profiles).
fn model_vendor(model: &str) -> Option<&str> {
    let id = model.rsplit('/').next().unwrap_or(model);
    if id.starts_with("arn:") {
        return None;
    }
    let parts: Vec<&str> = id.split('.').collect();
    // Cross-region inference profiles prefix a geography.
    const GEOGRAPHIES: [&str; 9] = [
        "us", "eu", "apac", "ap", "global", "us-gov", "jp", "au", "ca",
    ];
    match parts.as_slice() {
        [geo, vendor, _, ..] if GEOGRAPHIES.contains(geo) => Some(vendor),
        [vendor, _, ..] => Some(vendor),
        _ => None,
    }
}

/// Something Bedrock cannot take that no parameter of the table covers: dropped with a
/// warning, or rejected, per the model's policy.
fn refuse(cx: &mut Negotiation<'_>, param: String, change: &str, why: String) -> Result<()> {
    match cx.profile().on_unsupported {
        UnsupportedPolicy::Drop => {
            cx.warn(param, format!("{change} ({why})"));
            Ok(())
        }
        UnsupportedPolicy::Reject => Err(Error::Unsupported {
            param,
            message: why,
        }),
    }
}

/// An inline image; an image by URL cannot be sent (Converse takes bytes, or S3 objects of the
/// account, not web URLs): `None` after the policy dropped it.
fn image_block(
    image: &Image,
    at: String,
    cx: &mut Negotiation<'_>,
) -> Result<Option<wire::ImageBlock>> {
    match &image.source {
        ImageSource::Base64 { media_type, data } => {
            let format = match media_type.to_ascii_lowercase().as_str() {
                "image/png" => "png",
                "image/jpeg" | "image/jpg" => "jpeg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(Error::invalid(
                        at,
                        format!(
                            "image type {other} is not one Bedrock takes (png, jpeg, gif, webp)"
                        ),
                    ));
                }
            };
            Ok(Some(wire::ImageBlock {
                format: format.to_owned(),
                source: wire::ImageSource {
                    bytes: Some(data.clone()),
                    s3_location: None,
                },
            }))
        }
        ImageSource::Url(_) => {
            refuse(
                cx,
                at,
                "image dropped",
                format!(
                    "bedrock model {} takes inline images only, not URLs",
                    cx.profile().upstream_model
                ),
            )?;
            Ok(None)
        }
    }
}

fn content_blocks(
    content: &[ContentPart],
    i: usize,
    cx: &mut Negotiation<'_>,
) -> Result<Vec<wire::ContentBlock>> {
    let mut blocks = Vec::with_capacity(content.len());
    for (j, part) in content.iter().enumerate() {
        match part {
            // Converse refuses blank text blocks; an empty part says nothing.
            ContentPart::Text(text) if text.is_empty() && content.len() > 1 => {}
            ContentPart::Text(text) => blocks.push(wire::ContentBlock::text(text.clone())),
            ContentPart::Image(image) => {
                if let Some(image) = image_block(image, format!("messages[{i}].content[{j}]"), cx)?
                {
                    blocks.push(wire::ContentBlock::image(image));
                }
            }
        }
    }
    Ok(blocks)
}

/// Appends blocks as a turn of `role`, joining the previous turn if it has the same role:
/// Converse wants turns to alternate, and tool results are a user turn.
fn push_turn(turns: &mut Vec<wire::Message>, role: wire::Role, blocks: Vec<wire::ContentBlock>) {
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(wire::Message {
            role,
            content: blocks,
        }),
    }
}

fn encode_request(
    request: &ChatRequest,
    cx: &mut Negotiation<'_>,
) -> Result<wire::ConverseRequest> {
    let vendor = model_vendor(&cx.profile().upstream_model).map(str::to_owned);
    let mut system = Vec::new();
    let mut turns: Vec<wire::Message> = Vec::new();
    let mut started = false;
    let mut tool_blocks = false;
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
                        ContentPart::Text(text) => system.push(wire::SystemContentBlock {
                            text: Some(text.clone()),
                        }),
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
                let blocks = content_blocks(content, i, cx)?;
                push_turn(&mut turns, wire::Role::User, blocks);
            }
            Message::Assistant {
                content,
                tool_calls,
                name,
            } => {
                started = true;
                if name.is_some() {
                    cx.allow(Param::MessageName)?;
                }
                let mut blocks = content_blocks(content, i, cx)?;
                if !tool_calls.is_empty() {
                    blocks.retain(|b| b.text.as_deref() != Some(""));
                    tool_blocks = true;
                }
                for (j, call) in tool_calls.iter().enumerate() {
                    let input = arguments_to_input(&call.arguments).map_err(|message| {
                        Error::invalid(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            message,
                        )
                    })?;
                    blocks.push(wire::ContentBlock {
                        tool_use: Some(wire::ToolUseBlock {
                            tool_use_id: call.id.clone(),
                            name: call.name.clone(),
                            input,
                        }),
                        ..Default::default()
                    });
                }
                push_turn(&mut turns, wire::Role::Assistant, blocks);
            }
            Message::Tool {
                tool_call_id,
                content,
                is_error,
            } => {
                started = true;
                tool_blocks = true;
                let mut result = Vec::with_capacity(content.len());
                for (j, part) in content.iter().enumerate() {
                    match part {
                        ContentPart::Text(text) => result.push(wire::ToolResultContentBlock {
                            text: Some(text.clone()),
                            ..Default::default()
                        }),
                        ContentPart::Image(image) => {
                            if !cx.allow(Param::ToolResultImages)? {
                                continue;
                            }
                            let at = format!("messages[{i}].content[{j}]");
                            if let Some(image) = image_block(image, at, cx)? {
                                result.push(wire::ToolResultContentBlock {
                                    image: Some(image),
                                    ..Default::default()
                                });
                            }
                        }
                    }
                }
                let status = match is_error {
                    true if cx.allow(Param::ToolResultError)? => Some("error".to_owned()),
                    _ => None,
                };
                let block = wire::ContentBlock {
                    tool_result: Some(wire::ToolResultBlock {
                        tool_use_id: tool_call_id.clone(),
                        content: result,
                        status,
                    }),
                    ..Default::default()
                };
                push_turn(&mut turns, wire::Role::User, vec![block]);
            }
        }
    }

    let mut out = wire::ConverseRequest {
        messages: turns,
        system,
        ..Default::default()
    };
    let mut config = wire::InferenceConfig::default();
    let mut fields = Map::new();
    // Converse needs no maximum: without one the model's own default applies.
    if let Some(max) = request.max_output_tokens
        && cx.allow(Param::MaxOutputTokens)?
    {
        config.max_tokens = Some(max);
    }
    let sampling = &request.sampling;
    if let Some(t) = sampling.temperature
        && cx.allow(Param::Temperature)?
    {
        config.temperature = Some(cx.temperature(t)?);
    }
    if let Some(p) = sampling.top_p
        && cx.allow(Param::TopP)?
    {
        config.top_p = Some(p);
    }
    if let Some(k) = sampling.top_k
        && cx.allow(Param::TopK)?
    {
        // Converse has no top-k; Anthropic's models take theirs as `top_k`. A model of another
        // vendor would reject the field. An id that does not name its vendor gets it as
        // the table says (its profile can list top_k as unsupported).
        match vendor.as_deref() {
            Some("anthropic") | None => {
                fields.insert("top_k".into(), json!(k));
            }
            Some(_) => cx.adjust(Param::TopK, "dropped")?,
        }
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
        config.stop_sequences = Some(stop);
        // Converse does not say which sequence matched; Anthropic's models do, in their own
        // answer, which Converse returns when asked by path.
        if vendor.as_deref() == Some("anthropic") {
            out.additional_model_response_field_paths = Some(vec!["/stop_sequence".into()]);
        }
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
    if request.user.is_some() {
        cx.allow(Param::User)?;
    }
    // JSON schema output: Converse's structured outputs (`outputConfig.textFormat`, the schema
    // as JSON text), for models that have them. JSON mode has no Converse equivalent: the text
    // format takes a schema, and none stands for "any JSON object" on every model.
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            cx.allow(Param::JsonObject)?;
        }
        Some(ResponseFormat::JsonSchema(format)) => {
            if cx.allow(Param::JsonSchema)? {
                let schema = format.schema.clone().unwrap_or_else(empty_schema);
                out.output_config = Some(wire::OutputConfig {
                    text_format: wire::OutputFormat {
                        kind: "json_schema".into(),
                        structure: wire::OutputFormatStructure {
                            json_schema: wire::JsonSchemaDefinition {
                                schema: schema.to_string(),
                                name: Some(format.name.clone()),
                                description: format.description.clone(),
                            },
                        },
                    },
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
                tool_spec: wire::ToolSpec {
                    name: tool.name.clone(),
                    description: tool.description.clone(),
                    input_schema: wire::ToolInputSchema {
                        json: tool.parameters.clone().unwrap_or_else(empty_schema),
                    },
                    strict,
                },
            });
        }
        if request.parallel_tool_calls.is_some() {
            cx.allow(Param::ParallelToolCalls)?;
        }
        let choice = match &request.tool_choice {
            None => Some(None),
            Some(ToolChoice::Auto) => Some(Some(wire::ToolChoice::Auto {})),
            Some(ToolChoice::Required) => Some(Some(wire::ToolChoice::Any {})),
            Some(ToolChoice::Tool(name)) => {
                Some(Some(wire::ToolChoice::Tool { name: name.clone() }))
            }
            // Converse has no "none": without tools the model cannot call one. But Bedrock
            // wants the tools listed when the conversation holds tool blocks.
            Some(ToolChoice::None) if !tool_blocks => None,
            Some(ToolChoice::None) => {
                refuse(
                    cx,
                    "tool_choice".into(),
                    "none not sent, the tools stay callable",
                    "Bedrock has no tool choice none, and needs the tools listed for the \
                     conversation's tool calls"
                        .into(),
                )?;
                Some(None)
            }
        };
        if let Some(tool_choice) = choice {
            out.tool_config = Some(wire::ToolConfig { tools, tool_choice });
        }
    }
    if !config.is_empty() {
        out.inference_config = Some(config);
    }
    if !fields.is_empty() {
        out.additional_model_request_fields = Some(fields);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Response

fn usage_from_wire(usage: &wire::TokenUsage) -> Usage {
    usage_from_anthropic(
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_input_tokens,
        usage.cache_write_input_tokens,
    )
}

/// The matched stop sequence, from the model's own answer (asked for Anthropic's models).
fn stop_sequence(reason: FinishReason, fields: Option<&Value>) -> Option<String> {
    if reason != FinishReason::Stop {
        return None;
    }
    fields?.get("stop_sequence")?.as_str().map(str::to_owned)
}

/// Converse answers carry no id and do not name the model: both are left empty for the hub,
/// which knows the model it called.
fn response_from_wire(response: wire::ConverseResponse) -> ChatResponse {
    let mut text: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in response.output.message.iter().flat_map(|m| &m.content) {
        if let Some(piece) = &block.text {
            text.get_or_insert_with(String::new).push_str(piece);
        }
        if let Some(tool) = &block.tool_use {
            tool_calls.push(ToolCall {
                id: tool.tool_use_id.clone(),
                name: tool.name.clone(),
                arguments: input_to_arguments(&tool.input),
            });
        }
    }
    let reason = finish_reason_from(Provider::Bedrock, &response.stop_reason);
    ChatResponse {
        id: String::new(),
        model: String::new(),
        created: None,
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                text,
                refusal: None,
                tool_calls,
            },
            finish_reason: reason,
            stop_sequence: stop_sequence(
                reason,
                response.additional_model_response_fields.as_ref(),
            ),
            logprobs: None,
        }],
        usage: Some(usage_from_wire(&response.usage)),
    }
}

// ---------------------------------------------------------------------------------------------
// Stream

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// The tool call's position among the answer's tool calls.
    Tool(u32),
}

/// ConverseStream events → normalized events.
///
/// `messageStart` gives `Start` and `RoleStart`; text blocks begin with their first delta,
/// tool use blocks with `contentBlockStart`; content block indices count every block,
/// normalized tool-call indices count tool calls only; `contentBlockStop` of a tool block ends
/// the call; `messageStop` gives `Finish` and `metadata` (which comes after it) the usage and
/// `Done`. An exception message ends the stream with an `Error`. Reasoning and citation
/// deltas, and event types this decoder does not know, are skipped.
#[derive(Debug, Default)]
struct BedrockStreamDecoder {
    started: bool,
    blocks: HashMap<u32, Block>,
    open_tools: Vec<u32>,
    next_tool: u32,
    /// `messageStop` was seen and `Finish` sent.
    finished: bool,
    usage: Option<Usage>,
    ended: bool,
}

impl BedrockStreamDecoder {
    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
                created: None,
            });
            out.push(StreamEvent::RoleStart { choice: 0 });
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(usage) = self.usage.take() {
            out.push(StreamEvent::Usage(usage));
        }
        out.push(StreamEvent::Done);
        self.ended = true;
    }

    fn event(&mut self, name: &str, data: &[u8], out: &mut Vec<StreamEvent>) -> Result<()> {
        let what = format!("bedrock {name} event");
        match name {
            "messageStart" => {
                let _: wire::MessageStartEvent = from_provider(data, &what)?;
                self.start(out);
            }
            "contentBlockStart" => {
                let event: wire::ContentBlockStartEvent = from_provider(data, &what)?;
                self.start(out);
                if let Some(tool) = event.start.tool_use {
                    let index = self.next_tool;
                    self.next_tool += 1;
                    self.open_tools.push(index);
                    self.blocks
                        .insert(event.content_block_index, Block::Tool(index));
                    out.push(StreamEvent::ToolCallStart {
                        choice: 0,
                        index,
                        id: tool.tool_use_id,
                        name: tool.name,
                    });
                }
            }
            "contentBlockDelta" => {
                let event: wire::ContentBlockDeltaEvent = from_provider(data, &what)?;
                self.start(out);
                let block = self.blocks.get(&event.content_block_index).copied();
                if let Some(text) = event.delta.text
                    && !text.is_empty()
                {
                    if let Some(Block::Tool(_)) = block {
                        return Err(Error::protocol(format!(
                            "text for content block {}, a tool use",
                            event.content_block_index
                        )));
                    }
                    self.blocks.insert(event.content_block_index, Block::Text);
                    out.push(StreamEvent::TextDelta { choice: 0, text });
                }
                if let Some(tool) = event.delta.tool_use
                    && !tool.input.is_empty()
                {
                    match block {
                        Some(Block::Tool(index)) if self.open_tools.contains(&index) => {
                            out.push(StreamEvent::ToolCallDelta {
                                choice: 0,
                                index,
                                arguments: tool.input,
                            });
                        }
                        _ => {
                            return Err(Error::protocol(format!(
                                "tool input for content block {}, which is not an open tool use",
                                event.content_block_index
                            )));
                        }
                    }
                }
            }
            "contentBlockStop" => {
                let event: wire::ContentBlockStopEvent = from_provider(data, &what)?;
                if let Some(Block::Tool(index)) = self.blocks.get(&event.content_block_index)
                    && let Some(at) = self.open_tools.iter().position(|t| t == index)
                {
                    self.open_tools.remove(at);
                    out.push(StreamEvent::ToolCallEnd {
                        choice: 0,
                        index: *index,
                    });
                }
            }
            "messageStop" => {
                let event: wire::MessageStopEvent = from_provider(data, &what)?;
                self.start(out);
                for index in self.open_tools.drain(..) {
                    out.push(StreamEvent::ToolCallEnd { choice: 0, index });
                }
                let reason = finish_reason_from(Provider::Bedrock, &event.stop_reason);
                out.push(StreamEvent::Finish {
                    choice: 0,
                    reason,
                    stop_sequence: stop_sequence(
                        reason,
                        event.additional_model_response_fields.as_ref(),
                    ),
                });
                self.finished = true;
                if self.usage.is_some() {
                    self.end(out);
                }
            }
            "metadata" => {
                let event: wire::MetadataEvent = from_provider(data, &what)?;
                self.usage = Some(usage_from_wire(&event.usage));
                if self.finished {
                    self.end(out);
                }
            }
            exception if exception.ends_with("Exception") => {
                let body: wire::ErrorBody = serde_json::from_slice(data).unwrap_or_default();
                let error = Error::provider(
                    Provider::Bedrock,
                    wire::status_of_error_type(exception),
                    Some(exception.to_owned()),
                    body.message.unwrap_or_else(|| loose_error_message(data)),
                    None,
                );
                out.push(StreamEvent::Error(error.to_stream_error()));
                self.ended = true;
            }
            _ => {}
        }
        Ok(())
    }
}

impl StreamDecoder for BedrockStreamDecoder {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        if self.ended {
            return Ok(out);
        }
        if let Some(name) = event.event.as_deref() {
            self.event(name, event.data.as_bytes(), &mut out)?;
        }
        Ok(out)
    }

    /// A stream that stopped (`messageStop`) but lost its `metadata` is complete, without
    /// usage; one that ended before is cut short.
    fn finish(&mut self) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        if self.ended {
            return Ok(out);
        }
        if self.finished {
            self.end(&mut out);
            return Ok(out);
        }
        Err(Error::protocol("the stream ended before messageStop"))
    }

    fn framing(&self) -> Framing {
        Framing::AwsEventStream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::ProviderOptions;
    use crate::model::check_stream;
    use std::time::{Duration, SystemTime};

    #[test]
    fn vendors_are_read_from_ids_and_arns() {
        let cases = [
            ("anthropic.claude-3-haiku-20240307-v1:0", Some("anthropic")),
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                Some("anthropic"),
            ),
            ("apac.amazon.nova-pro-v1:0", Some("amazon")),
            ("meta.llama3-70b-instruct-v1:0", Some("meta")),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2",
                Some("anthropic"),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
                Some("anthropic"),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
                None,
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123",
                None,
            ),
        ];
        for (id, vendor) in cases {
            assert_eq!(model_vendor(id), vendor, "{id}");
        }
    }

    fn call<'a>(
        operation: Operation,
        model: &'a str,
        options: &'a ProviderOptions,
        credential: &'a Credential,
    ) -> Call<'a> {
        Call {
            operation,
            base_url: "https://bedrock-runtime.us-east-1.amazonaws.com",
            model,
            options,
            credential,
            // 2015-08-30T12:36:00Z.
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160),
        }
    }

    fn header<'a>(request: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A Bedrock-shaped request, signed; the expected signature was computed independently
    /// from the canonical request below (SigV4 steps as in AWS's documentation, with
    /// `openssl dgst -sha256 -hmac`).
    #[test]
    fn requests_are_signed_for_bedrock() {
        let options = ProviderOptions {
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        let credential = Credential::Aws {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let body = br#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}"#.to_vec();
        let request = BedrockAdapter
            .prepare(
                &call(
                    Operation::Chat { stream: true },
                    "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
                    &options,
                    &credential,
                ),
                body.clone(),
            )
            .unwrap();
        assert_eq!(
            request.url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
        );
        assert_eq!(request.body, body);
        assert_eq!(header(&request, "accept"), Some(EVENT_STREAM_CONTENT_TYPE));
        assert_eq!(header(&request, "x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            header(&request, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=79df2ad0e787bf57ab43a916de10c3d4292e91887e972dab59390adbabdf293d"
            )
        );
    }

    #[test]
    fn model_ids_are_one_path_segment() {
        let options = ProviderOptions {
            region: Some("eu-west-1".into()),
            headers: vec![("x-proxy".into(), "1".into())],
            ..Default::default()
        };
        let arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-7-sonnet-20250219-v1:0";
        let mut c = call(
            Operation::Chat { stream: false },
            arn,
            &options,
            &Credential::None,
        );
        c.base_url = "";
        let request = BedrockAdapter.prepare(&c, Vec::new()).unwrap();
        assert_eq!(
            request.url,
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
        );
        assert_eq!(header(&request, "authorization"), None);
        assert_eq!(header(&request, "x-proxy"), Some("1"));
        // A proxy's base path is kept, a default port left out.
        c.base_url = "https://gateway.example.com:443/bedrock";
        let request = BedrockAdapter.prepare(&c, Vec::new()).unwrap();
        assert!(
            request
                .url
                .starts_with("https://gateway.example.com/bedrock/model/arn%3A")
        );
        // An API key is a bearer token.
        let key = Credential::ApiKey("bedrock-api-key-abc".into());
        c.credential = &key;
        let request = BedrockAdapter.prepare(&c, Vec::new()).unwrap();
        assert_eq!(
            header(&request, "authorization"),
            Some("Bearer bedrock-api-key-abc")
        );
    }

    #[test]
    fn a_region_is_required() {
        let none = ProviderOptions::default();
        let c = call(
            Operation::Chat { stream: false },
            "m.x",
            &none,
            &Credential::None,
        );
        let error = BedrockAdapter.prepare(&c, Vec::new()).unwrap_err();
        assert!(error.to_string().contains("region"), "{error}");
        let bad = ProviderOptions {
            region: Some("us-east-1.evil.com/".into()),
            ..Default::default()
        };
        let c = call(
            Operation::Chat { stream: false },
            "m.x",
            &bad,
            &Credential::None,
        );
        assert!(BedrockAdapter.prepare(&c, Vec::new()).is_err());
        let good = ProviderOptions {
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        let c = call(Operation::Embeddings, "m.x", &good, &Credential::None);
        assert!(BedrockAdapter.prepare(&c, Vec::new()).is_err());
    }

    fn decode(events: &[(&str, &str)]) -> Result<Vec<StreamEvent>> {
        let mut decoder = BedrockStreamDecoder::default();
        let mut out = Vec::new();
        for (name, data) in events {
            out.extend(decoder.decode(&SseEvent::named(*name, *data))?);
        }
        out.extend(decoder.finish()?);
        Ok(out)
    }

    #[test]
    fn reasoning_is_skipped_and_tool_indices_count_tool_calls_only() {
        let events = decode(&[
            ("messageStart", r#"{"p":"abcd","role":"assistant"}"#),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"hmm"}},"p":"ab"}"#,
            ),
            ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            (
                "contentBlockStart",
                r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"tooluse_1","name":"f"}}}"#,
            ),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{}"}}}"#,
            ),
            ("contentBlockStop", r#"{"contentBlockIndex":1}"#),
            ("someFutureEvent", r#"{}"#),
            (
                "messageStop",
                r#"{"stopReason":"tool_use","p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"}"#,
            ),
            (
                "metadata",
                r#"{"usage":{"inputTokens":5,"outputTokens":6,"totalTokens":11},"metrics":{"latencyMs":300}}"#,
            ),
        ])
        .unwrap();
        check_stream(&events).unwrap();
        assert!(events.contains(&StreamEvent::ToolCallStart {
            choice: 0,
            index: 0,
            id: "tooluse_1".into(),
            name: "f".into()
        }));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, StreamEvent::TextDelta { .. }))
                .count(),
            0
        );
    }

    #[test]
    fn stream_exceptions_are_classified() {
        for (name, kind) in [
            (
                "throttlingException",
                agenthub_policy::ErrorKind::RateLimited,
            ),
            (
                "validationException",
                agenthub_policy::ErrorKind::InvalidRequest,
            ),
            (
                "modelStreamErrorException",
                agenthub_policy::ErrorKind::UpstreamFailed,
            ),
            (
                "serviceUnavailableException",
                agenthub_policy::ErrorKind::UpstreamFailed,
            ),
        ] {
            let events = decode(&[
                ("messageStart", r#"{"role":"assistant"}"#),
                (name, r#"{"message":"it failed"}"#),
                (
                    "contentBlockDelta",
                    r#"{"contentBlockIndex":0,"delta":{"text":"late"}}"#,
                ),
            ])
            .unwrap();
            check_stream(&events).unwrap();
            match events.last() {
                Some(StreamEvent::Error(error)) => assert_eq!(error.kind, kind, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn tool_input_without_a_tool_block_is_an_error() {
        let error = decode(&[
            ("messageStart", r#"{"role":"assistant"}"#),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{\"a\""}}}"#,
            ),
        ])
        .unwrap_err();
        assert!(matches!(error, Error::Protocol { .. }));
    }

    #[test]
    fn errors_are_classified_by_type_and_status() {
        use agenthub_policy::ErrorKind;
        let adapter = BedrockAdapter;
        let cases: [(u16, Option<&str>, &str, ErrorKind, bool); 6] = [
            (
                424,
                None,
                r#"{"__type": "ModelErrorException", "message": "The model failed", "originalStatusCode": 500}"#,
                ErrorKind::UpstreamFailed,
                true,
            ),
            (
                400,
                Some(
                    "ServiceQuotaExceededException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                ),
                r#"{"message": "Your request exceeds the service quota for your account."}"#,
                ErrorKind::UpstreamFailed,
                false,
            ),
            (
                429,
                Some("ModelNotReadyException"),
                r#"{"message": "The model is not ready to serve inference requests."}"#,
                ErrorKind::RateLimited,
                true,
            ),
            (
                400,
                Some("ValidationException"),
                r#"{"message": "Malformed input request: #: extraneous key [top_k] is not permitted, please reformat your input and try again."}"#,
                ErrorKind::InvalidRequest,
                false,
            ),
            (
                403,
                None,
                r#"{"__type": "com.amazon.coral.service#ExpiredTokenException", "Message": "The security token included in the request is expired"}"#,
                ErrorKind::UpstreamFailed,
                false,
            ),
            (
                404,
                Some("ResourceNotFoundException"),
                r#"{"message": "Model not found."}"#,
                ErrorKind::UpstreamFailed,
                false,
            ),
        ];
        for (status, header, body, kind, retryable) in cases {
            // The type as the engine hands it over: in the response's headers.
            let mut headers = http::HeaderMap::new();
            if let Some(header) = header {
                headers.insert("x-amzn-ErrorType", header.parse().unwrap());
            }
            let error = adapter.decode_error_response(status, &headers, body.as_bytes());
            assert_eq!(error.kind(), kind, "{body}");
            assert_eq!(error.is_retryable(), retryable, "{body}");
            let provider = error.provider_error().unwrap();
            assert_eq!(provider.status, status);
            assert!(
                provider
                    .code
                    .as_deref()
                    .is_some_and(|c| c.ends_with("Exception"))
            );
            assert!(!provider.code.as_deref().unwrap().contains(['#', ':']));
        }
        // The message is the provider's, the type read from the body.
        let error = adapter.decode_error(
            400,
            br#"{"__type": "ValidationException", "message": "messages.0.content is blank"}"#,
        );
        assert_eq!(
            error.provider_error().unwrap().code.as_deref(),
            Some("ValidationException")
        );
        assert!(
            error
                .public_message()
                .contains("messages.0.content is blank")
        );
    }

    fn basic(messages: Vec<Message>) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages,
            ..ChatRequest::default()
        }
    }

    fn encode(request: &ChatRequest, model: &str) -> Translated<Value> {
        BedrockAdapter
            .encode_request(request, &ModelProfile::new(model))
            .unwrap()
    }

    #[test]
    fn top_k_goes_only_to_models_that_take_it() {
        let mut request = basic(vec![Message::user("Hi")]);
        request.sampling.top_k = Some(40);
        let claude = encode(&request, "anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(
            claude.value["additionalModelRequestFields"],
            json!({"top_k": 40})
        );
        assert!(claude.warnings.is_empty());
        let llama = encode(&request, "meta.llama3-70b-instruct-v1:0");
        assert_eq!(llama.value.get("additionalModelRequestFields"), None);
        assert_eq!(llama.warnings[0].param, "top_k");
        let strict = ModelProfile {
            on_unsupported: UnsupportedPolicy::Reject,
            ..ModelProfile::new("meta.llama3-70b-instruct-v1:0")
        };
        let error = BedrockAdapter
            .encode_request(&request, &strict)
            .unwrap_err();
        assert_eq!(error.param(), Some("top_k"));
    }

    #[test]
    fn structured_outputs_go_only_to_models_that_have_them() {
        let mut request = basic(vec![Message::user("hi")]);
        request.tools = vec![crate::model::Tool {
            name: "f".into(),
            description: None,
            parameters: None,
            strict: Some(true),
        }];
        request.response_format =
            Some(ResponseFormat::JsonSchema(crate::model::JsonSchemaFormat {
                name: "answer".into(),
                description: None,
                schema: Some(json!({"type": "object"})),
                strict: Some(true),
            }));
        let model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let capable = ModelProfile {
            structured_outputs: true,
            ..ModelProfile::new(model)
        };
        let encoded = BedrockAdapter.encode_request(&request, &capable).unwrap();
        assert!(encoded.warnings.is_empty(), "{:?}", encoded.warnings);
        assert_eq!(
            encoded.value["outputConfig"],
            json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
                "schema": "{\"type\":\"object\"}", "name": "answer"}}}})
        );
        assert_eq!(
            encoded.value["toolConfig"]["tools"][0]["toolSpec"]["strict"],
            json!(true)
        );

        let plain = encode(&request, model);
        assert_eq!(plain.value.get("outputConfig"), None);
        assert_eq!(
            plain.value["toolConfig"]["tools"][0]["toolSpec"].get("strict"),
            None
        );
        let params: Vec<&str> = plain.warnings.iter().map(|w| w.param.as_str()).collect();
        assert_eq!(params, ["response_format", "tools[].strict"]);
        let strict = ModelProfile {
            on_unsupported: UnsupportedPolicy::Reject,
            ..ModelProfile::new(model)
        };
        let error = BedrockAdapter
            .encode_request(&request, &strict)
            .unwrap_err();
        assert_eq!(error.param(), Some("response_format"));
    }

    #[test]
    fn turns_alternate_and_tool_choice_none_leaves_the_tools_out() {
        let call = ToolCall {
            id: "tooluse_1".into(),
            name: "f".into(),
            arguments: "{\"a\":1}".into(),
        };
        let tool = crate::model::Tool {
            name: "f".into(),
            description: None,
            parameters: None,
            strict: None,
        };
        let mut request = basic(vec![Message::user("one"), Message::user("two")]);
        request.tools = vec![tool];
        request.tool_choice = Some(ToolChoice::None);
        let body = encode(&request, "anthropic.claude-v2").value;
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": [{"text": "one"}, {"text": "two"}]}])
        );
        // Without tool blocks in the conversation, "none" is the tools left out.
        assert_eq!(body.get("toolConfig"), None);

        request.messages.push(Message::Assistant {
            content: vec![ContentPart::text("")],
            tool_calls: vec![call],
            name: None,
        });
        request.messages.push(Message::Tool {
            tool_call_id: "tooluse_1".into(),
            content: vec![ContentPart::text("ok")],
            is_error: true,
        });
        request.messages.push(Message::user("and?"));
        let encoded = encode(&request, "anthropic.claude-v2");
        assert_eq!(
            encoded.value["messages"][1],
            json!({"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"a": 1}}}]})
        );
        assert_eq!(
            encoded.value["messages"][2],
            json!({"role": "user", "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "ok"}], "status": "error"}},
                {"text": "and?"}
            ]})
        );
        // With them, Bedrock needs the tools: they are listed, without a choice, and the
        // change is reported.
        assert_eq!(
            encoded.value["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
        );
        assert_eq!(encoded.warnings[0].param, "tool_choice");
    }

    #[test]
    fn the_matched_stop_sequence_is_read_from_the_models_fields() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [{"text": "1, 2, 3"}]}},
            "stopReason": "stop_sequence",
            "usage": {"inputTokens": 5, "outputTokens": 6, "totalTokens": 11},
            "additionalModelResponseFields": {"stop_sequence": "4"}
        });
        let response = BedrockAdapter
            .decode_response(body.to_string().as_bytes())
            .unwrap();
        assert_eq!(response.choices[0].finish_reason, FinishReason::Stop);
        assert_eq!(response.choices[0].stop_sequence.as_deref(), Some("4"));
        // Reasoning blocks are skipped; the usage is made inclusive.
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "s"}}},
                {"text": "Done."}
            ]}},
            "stopReason": "guardrail_intervened",
            "usage": {"inputTokens": 5, "outputTokens": 6, "totalTokens": 111, "cacheReadInputTokens": 100}
        });
        let response = BedrockAdapter
            .decode_response(body.to_string().as_bytes())
            .unwrap();
        assert_eq!(response.choices[0].message.text.as_deref(), Some("Done."));
        assert_eq!(
            response.choices[0].finish_reason,
            FinishReason::ContentFilter
        );
        assert_eq!(response.usage.unwrap().input_tokens, 105);
        assert_eq!(response.usage.unwrap().cached_input_tokens, Some(100));
    }

    #[test]
    fn images_need_a_format_bedrock_takes() {
        let request = basic(vec![Message::User {
            content: vec![ContentPart::Image(Image {
                source: ImageSource::Base64 {
                    media_type: "image/tiff".into(),
                    data: "AAAA".into(),
                },
                detail: None,
            })],
            name: None,
        }]);
        let error = BedrockAdapter
            .encode_request(&request, &ModelProfile::new("anthropic.claude-v2"))
            .unwrap_err();
        assert_eq!(error.param(), Some("messages[0].content[0]"));
    }

    #[test]
    fn a_stop_without_metadata_completes_without_usage() {
        let events = decode(&[
            ("messageStart", r#"{"role":"assistant"}"#),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
            ),
            ("messageStop", r#"{"stopReason":"end_turn"}"#),
        ])
        .unwrap();
        check_stream(&events).unwrap();
        assert_eq!(events.last(), Some(&StreamEvent::Done));
        assert!(!events.iter().any(|e| matches!(e, StreamEvent::Usage(_))));
    }
}
