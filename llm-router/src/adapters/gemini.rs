//! The Google Gemini adapter, for both ways of reaching Gemini models: the Gemini API of Google
//! AI Studio (an API key) and Vertex AI (a Google Cloud project, location and OAuth access
//! token). Both speak the same `generateContent` protocol; they differ in URL and credentials,
//! and in their embeddings endpoints.
//!
//! Gemini has no tool-call ids. The adapter makes them up when decoding
//! (`call_{responseId}_{candidate}_{n}`, the same for a streamed and a complete answer) and, when
//! encoding, finds a tool result's function name through the id of the earlier assistant tool
//! call. A call's `thoughtSignature` (which Gemini 3 requires back with the call) travels inside
//! the id, after `__ts_`, in URL-safe base64 so that every client format can carry it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value, json};

use super::anthropic::{arguments_to_input, input_to_arguments};
use super::{
    Call, Operation, ProviderAdapter, StreamDecoder, UpstreamRequest, loose_error_message,
};
use crate::error::{Error, ProviderError, Result, classify};
use crate::model::{
    AssistantMessage, ChatRequest, ChatResponse, Choice, ContentPart, Embedding, EmbeddingInput,
    EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage, FinishReason, ImageSource, Message,
    ResponseFormat, StreamError, StreamEvent, TokenLogprob, ToolCall, ToolChoice, TopLogprob,
    Usage,
};
use crate::params::{ModelProfile, Negotiation, Param, Provider, Translated, finish_reason_from};
use crate::wire::gemini as wire;
use crate::wire::sse::SseEvent;
use crate::wire::{from_provider, to_value};

/// The Gemini API's base URL (Google AI Studio).
pub const AI_STUDIO_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// Marks the start of a thought signature inside a tool-call id.
const SIGNATURE_MARK: &str = "__ts_";

/// Google's documented stand-in for a function call that carries no thought signature (one
/// made by another model, or by the client): Gemini 3 rejects such calls without it.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Which service the Gemini models are reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The Gemini API (Google AI Studio): `x-goog-api-key`.
    AiStudio,
    /// Vertex AI: a project and location in the URL, an OAuth access token as bearer.
    Vertex,
}

/// Gemini models through AI Studio ([`GeminiAdapter::new`]) or Vertex AI
/// ([`GeminiAdapter::vertex`]).
#[derive(Debug, Clone, Copy)]
pub struct GeminiAdapter {
    flavor: Flavor,
}

impl GeminiAdapter {
    /// The Gemini API (Google AI Studio).
    pub fn new() -> Self {
        Self {
            flavor: Flavor::AiStudio,
        }
    }

    /// Vertex AI. The call's options must name the project and the location (`region`).
    pub fn vertex() -> Self {
        Self {
            flavor: Flavor::Vertex,
        }
    }

    /// Which service this adapter calls.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }
}

impl Default for GeminiAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl ProviderAdapter for GeminiAdapter {
    fn provider(&self) -> Provider {
        Provider::Gemini
    }

    /// AI Studio: `{base}/v1beta/models/{model}:generateContent` (`:streamGenerateContent?alt=sse`,
    /// `:batchEmbedContents`), the key in `x-goog-api-key`, base [`AI_STUDIO_BASE_URL`] when
    /// none is configured. Vertex AI: `{base}/v1/projects/{project}/locations/{location}/
    /// publishers/google/models/{model}:generateContent` (`:predict` for embeddings), the
    /// access token as a bearer token, base `https://{location}-aiplatform.googleapis.com`
    /// when none is configured.
    fn prepare(&self, call: &Call<'_>, body: Vec<u8>) -> Result<UpstreamRequest> {
        let method = match (call.operation, self.flavor) {
            (Operation::Chat { stream: false }, _) => "generateContent",
            (Operation::Chat { stream: true }, _) => "streamGenerateContent?alt=sse",
            (Operation::Embeddings, Flavor::AiStudio) => "batchEmbedContents",
            (Operation::Embeddings, Flavor::Vertex) => "predict",
        };
        let key = call.credential.api_key(Provider::Gemini)?;
        let configured = call.base_url.trim_end_matches('/');
        Ok(match self.flavor {
            Flavor::AiStudio => {
                let base = if configured.is_empty() {
                    AI_STUDIO_BASE_URL
                } else {
                    configured
                };
                let model = call.model.strip_prefix("models/").unwrap_or(call.model);
                let url = format!("{base}/v1beta/models/{model}:{method}");
                let request = UpstreamRequest::json(call, url, body);
                match key {
                    Some(key) => request.header("x-goog-api-key", key),
                    None => request,
                }
            }
            Flavor::Vertex => {
                let project = vertex_option(call.options.project.as_deref(), "project")?;
                let location = vertex_option(call.options.region.as_deref(), "region")?;
                let base = if configured.is_empty() {
                    vertex_base_url(location)
                } else {
                    configured.to_owned()
                };
                let url = format!(
                    "{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{}:{method}",
                    call.model
                );
                let request = UpstreamRequest::json(call, url, body);
                match key {
                    Some(token) => request.header("authorization", format!("Bearer {token}")),
                    None => request,
                }
            }
        })
    }

    fn encode_request(
        &self,
        request: &ChatRequest,
        profile: &ModelProfile,
    ) -> Result<Translated<Value>> {
        let mut cx = Negotiation::new(Provider::Gemini, profile);
        let wire = encode_request(request, &mut cx)?;
        Ok(Translated {
            value: to_value(&wire),
            warnings: cx.into_warnings(),
        })
    }

    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse> {
        let response: wire::GenerateContentResponse = from_provider(body, "response")?;
        response_from_wire(response)
    }

    fn stream_decoder(&self) -> Box<dyn StreamDecoder> {
        Box::new(GeminiStreamDecoder::default())
    }

    fn decode_error(&self, status: u16, body: &[u8]) -> Error {
        match error_body(body) {
            Some(error) => error_from_wire(status, error),
            None => Error::provider(
                Provider::Gemini,
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
        let EmbeddingInput::Text(texts) = &request.input else {
            return Err(Error::invalid(
                "input",
                "Gemini embeds text, not token arrays",
            ));
        };
        Ok(match self.flavor {
            Flavor::AiStudio => {
                let model = profile.upstream_model.trim_start_matches("models/");
                to_value(&wire::BatchEmbedContentsRequest {
                    requests: texts
                        .iter()
                        .map(|text| wire::EmbedContentRequest {
                            model: format!("models/{model}"),
                            content: wire::Content {
                                role: None,
                                parts: vec![wire::Part::text(text.clone())],
                            },
                            output_dimensionality: request.dimensions,
                        })
                        .collect(),
                })
            }
            Flavor::Vertex => to_value(&wire::PredictRequest {
                instances: texts
                    .iter()
                    .map(|text| wire::EmbeddingInstance {
                        content: text.clone(),
                    })
                    .collect(),
                parameters: request
                    .dimensions
                    .map(|dimensions| wire::EmbeddingParameters {
                        output_dimensionality: Some(dimensions),
                    }),
            }),
        })
    }

    fn decode_embeddings(&self, body: &[u8]) -> Result<EmbeddingsResponse> {
        match self.flavor {
            Flavor::AiStudio => {
                let response: wire::BatchEmbedContentsResponse = from_provider(body, "embeddings")?;
                Ok(EmbeddingsResponse {
                    model: String::new(),
                    data: response
                        .embeddings
                        .into_iter()
                        .zip(0..)
                        .map(|(embedding, index)| Embedding {
                            index,
                            vector: embedding.values,
                        })
                        .collect(),
                    // The Gemini API does not count embedding tokens.
                    usage: EmbeddingsUsage::default(),
                })
            }
            Flavor::Vertex => {
                let response: wire::PredictResponse = from_provider(body, "embeddings")?;
                let tokens: f64 = response
                    .predictions
                    .iter()
                    .filter_map(|p| p.embeddings.statistics.map(|s| s.token_count))
                    .sum();
                Ok(EmbeddingsResponse {
                    model: String::new(),
                    data: response
                        .predictions
                        .into_iter()
                        .zip(0..)
                        .map(|(prediction, index)| Embedding {
                            index,
                            vector: prediction.embeddings.values,
                        })
                        .collect(),
                    usage: EmbeddingsUsage {
                        input_tokens: tokens as u32,
                    },
                })
            }
        }
    }
}

fn vertex_option<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str> {
    match value.map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(Error::Setup(format!(
            "Vertex AI needs the provider option `{name}` (the Google Cloud {})",
            if name == "project" {
                "project"
            } else {
                "location, such as us-central1 or global"
            }
        ))),
    }
}

/// Vertex AI's regional endpoint; the `global` location has none of its own.
fn vertex_base_url(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

// ---------------------------------------------------------------------------------------------
// Request

/// The keywords of Gemini's `Schema` (an OpenAPI 3.0 subset); every other one is removed.
const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// JSON Schema → Gemini's `Schema`, collecting what had to go. Local `$ref`s are inlined
/// (`#/$defs/…`, `#/definitions/…`), `oneOf` is read as `anyOf`, `const` as a one-value
/// `enum`, a type list with `null` as `nullable`.
struct SchemaFilter<'a> {
    root: &'a Value,
    removed: BTreeSet<String>,
    /// `$ref`s being inlined, against recursion.
    open: Vec<String>,
}

impl<'a> SchemaFilter<'a> {
    fn new(root: &'a Value) -> Self {
        Self {
            root,
            removed: BTreeSet::new(),
            open: Vec::new(),
        }
    }

    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        if !(pointer.starts_with("/$defs/") || pointer.starts_with("/definitions/")) {
            return None;
        }
        self.root.pointer(pointer)
    }

    fn schema(&mut self, schema: &Value) -> Value {
        let Value::Object(object) = schema else {
            // `true`/`false` schemas have no equivalent: accept anything.
            return json!({});
        };
        if let Some(Value::String(reference)) = object.get("$ref") {
            if self.open.contains(reference) {
                self.removed.insert("$ref (recursive)".to_owned());
                return json!({});
            }
            let Some(target) = self.resolve(reference) else {
                self.removed.insert("$ref".to_owned());
                return json!({});
            };
            self.open.push(reference.clone());
            let mut inlined = self.schema(target);
            self.open.pop();
            // Siblings of `$ref` (a description) refine the target.
            if let (Value::Object(inlined), Value::Object(rest)) = (
                &mut inlined,
                self.schema(&Value::Object(
                    object
                        .iter()
                        .filter(|(k, _)| *k != "$ref")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )),
            ) {
                inlined.extend(rest);
            }
            return inlined;
        }
        let mut out = Map::new();
        for (key, value) in object {
            match key.as_str() {
                "properties" => {
                    let Value::Object(properties) = value else {
                        self.removed.insert(key.clone());
                        continue;
                    };
                    let filtered: Map<String, Value> = properties
                        .iter()
                        .map(|(name, schema)| (name.clone(), self.schema(schema)))
                        .collect();
                    out.insert(key.clone(), Value::Object(filtered));
                }
                "items" => {
                    out.insert(key.clone(), self.schema(value));
                }
                "anyOf" | "oneOf" => {
                    if key == "oneOf" {
                        self.removed.insert("oneOf (read as anyOf)".to_owned());
                    }
                    let Value::Array(options) = value else {
                        continue;
                    };
                    let options = options.iter().map(|o| self.schema(o)).collect();
                    out.insert("anyOf".to_owned(), Value::Array(options));
                }
                "type" => match value {
                    Value::String(_) => {
                        out.insert(key.clone(), value.clone());
                    }
                    Value::Array(types) => {
                        let named: Vec<&Value> = types
                            .iter()
                            .filter(|t| t.as_str() != Some("null"))
                            .collect();
                        if named.len() < types.len() {
                            out.insert("nullable".to_owned(), Value::Bool(true));
                        }
                        match named.as_slice() {
                            [one] => {
                                out.insert(key.clone(), (*one).clone());
                            }
                            _ => {
                                self.removed.insert("type (a list)".to_owned());
                            }
                        }
                    }
                    _ => {
                        self.removed.insert(key.clone());
                    }
                },
                "const" => match value {
                    Value::String(_) => {
                        out.insert("enum".to_owned(), json!([value]));
                    }
                    _ => {
                        self.removed.insert(key.clone());
                    }
                },
                "enum" => {
                    if value
                        .as_array()
                        .is_some_and(|v| v.iter().all(Value::is_string))
                    {
                        out.insert(key.clone(), value.clone());
                    } else {
                        self.removed.insert("enum (not strings)".to_owned());
                    }
                }
                "format" => {
                    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
                    let allowed = match kind.to_ascii_lowercase().as_str() {
                        "string" => ["enum", "date-time"].as_slice(),
                        "number" => &["float", "double"],
                        "integer" => &["int32", "int64"],
                        _ => &[],
                    };
                    if value.as_str().is_some_and(|f| allowed.contains(&f)) {
                        out.insert(key.clone(), value.clone());
                    } else {
                        self.removed.insert(format!("format {value}"));
                    }
                }
                key if SCHEMA_KEYWORDS.contains(&key) => {
                    out.insert(key.to_owned(), value.clone());
                }
                // Definitions are inlined where referenced.
                "$defs" | "definitions" => {}
                _ => {
                    self.removed.insert(key.clone());
                }
            }
        }
        Value::Object(out)
    }
}

/// A tool's parameters as Gemini takes them; `None` for a function without parameters.
fn tool_parameters(
    index: usize,
    parameters: Option<&Value>,
    cx: &mut Negotiation<'_>,
) -> Option<Value> {
    let parameters = parameters?;
    let mut filter = SchemaFilter::new(parameters);
    let schema = filter.schema(parameters);
    if !filter.removed.is_empty() {
        let removed: Vec<String> = filter.removed.into_iter().collect();
        cx.warn(
            format!("tools[{index}].function.parameters"),
            format!(
                "removed JSON Schema keywords Gemini does not take: {}",
                removed.join(", ")
            ),
        );
    }
    // An object without properties is a function without parameters; Gemini refuses an
    // OBJECT schema with empty properties.
    let empty = schema
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    let object = schema
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("object"));
    (!(object && empty)).then_some(schema)
}

/// The MIME type Gemini needs beside a URL, from the URL's extension.
fn image_type_of_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

fn part_to_wire(part: &ContentPart, at: impl Fn() -> String) -> Result<Option<wire::Part>> {
    Ok(match part {
        // Gemini refuses empty text parts.
        ContentPart::Text(text) if text.is_empty() => None,
        ContentPart::Text(text) => Some(wire::Part::text(text.clone())),
        ContentPart::Image(image) => Some(match &image.source {
            ImageSource::Base64 { media_type, data } => wire::Part {
                inline_data: Some(wire::Blob {
                    mime_type: media_type.clone(),
                    data: data.clone(),
                }),
                ..wire::Part::default()
            },
            ImageSource::Url(url) => {
                let Some(mime_type) = image_type_of_url(url) else {
                    return Err(Error::invalid(
                        at(),
                        "Gemini needs an image URL's type, told by its extension (.png, .jpg, \
                         .jpeg, .webp, .heic, .heif); send other images inline as a data: URI",
                    ));
                };
                wire::Part {
                    file_data: Some(wire::FileData {
                        mime_type: Some(mime_type.to_owned()),
                        file_uri: url.clone(),
                    }),
                    ..wire::Part::default()
                }
            }
        }),
    })
}

/// A tool-call id → (the id proper, the thought signature it carries).
fn split_id(id: &str) -> (&str, Option<&str>) {
    match id.split_once(SIGNATURE_MARK) {
        Some((id, signature)) if !signature.is_empty() => (id, Some(signature)),
        _ => (id, None),
    }
}

/// A tool result's text → Gemini's `response` object: `{"output": …}`, or `{"error": …}` for a
/// failed call, the value parsed when it is JSON.
fn function_response(content: &[ContentPart], is_error: bool) -> Value {
    let text: Vec<&str> = content.iter().filter_map(ContentPart::as_text).collect();
    let text = text.join("\n");
    let value = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    let key = if is_error { "error" } else { "output" };
    json!({ key: value })
}

fn encode_request(
    request: &ChatRequest,
    cx: &mut Negotiation<'_>,
) -> Result<wire::GenerateContentRequest> {
    let mut system = Vec::new();
    let mut contents: Vec<wire::Content> = Vec::new();
    // Tool-call id → function name, the latest call with the id winning.
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut started = false;
    for (i, message) in request.messages.iter().enumerate() {
        let (role, parts) = match message {
            Message::System { content, name } => {
                if started {
                    cx.warn(
                        format!("messages[{i}]"),
                        "system message moved into the system instruction",
                    );
                }
                if name.is_some() {
                    cx.allow(Param::MessageName)?;
                }
                for (j, part) in content.iter().enumerate() {
                    match part {
                        ContentPart::Text(text) if text.is_empty() => {}
                        ContentPart::Text(text) => system.push(wire::Part::text(text.clone())),
                        ContentPart::Image(_) => {
                            return Err(Error::invalid(
                                format!("messages[{i}].content[{j}]"),
                                "a system prompt takes text only",
                            ));
                        }
                    }
                }
                continue;
            }
            Message::User { content, name } => {
                if name.is_some() {
                    cx.allow(Param::MessageName)?;
                }
                let mut parts = Vec::with_capacity(content.len());
                for (j, part) in content.iter().enumerate() {
                    parts.extend(part_to_wire(part, || {
                        format!("messages[{i}].content[{j}]")
                    })?);
                }
                (wire::ROLE_USER, parts)
            }
            Message::Assistant {
                content,
                tool_calls,
                name,
            } => {
                if name.is_some() {
                    cx.allow(Param::MessageName)?;
                }
                let mut parts = Vec::new();
                for (j, part) in content.iter().enumerate() {
                    parts.extend(part_to_wire(part, || {
                        format!("messages[{i}].content[{j}]")
                    })?);
                }
                let signed = tool_calls.iter().any(|c| split_id(&c.id).1.is_some());
                for (j, call) in tool_calls.iter().enumerate() {
                    let args = arguments_to_input(&call.arguments).map_err(|message| {
                        Error::invalid(
                            format!("messages[{i}].tool_calls[{j}].function.arguments"),
                            message,
                        )
                    })?;
                    names.insert(&call.id, &call.name);
                    let signature = match split_id(&call.id).1 {
                        Some(signature) => Some(signature.to_owned()),
                        // Gemini signs the first call of a turn only (parallel calls).
                        None if j == 0 && !signed => Some(SKIP_SIGNATURE.to_owned()),
                        None => None,
                    };
                    parts.push(wire::Part {
                        function_call: Some(wire::FunctionCall {
                            id: None,
                            name: call.name.clone(),
                            args: Some(args),
                        }),
                        thought_signature: signature,
                        ..wire::Part::default()
                    });
                }
                (wire::ROLE_MODEL, parts)
            }
            Message::Tool {
                tool_call_id,
                content,
                is_error,
            } => {
                let Some(name) = names.get(tool_call_id.as_str()) else {
                    return Err(Error::invalid(
                        format!("messages[{i}].tool_call_id"),
                        "matches no tool call of an earlier assistant message (Gemini needs the \
                         called function's name)",
                    ));
                };
                // Without support, a failed call's result is sent as a plain one.
                let error = *is_error && cx.allow(Param::ToolResultError)?;
                if content.iter().any(|p| p.as_text().is_none()) {
                    cx.allow(Param::ToolResultImages)?;
                }
                let part = wire::Part {
                    function_response: Some(wire::FunctionResponse {
                        id: None,
                        name: (*name).to_owned(),
                        response: function_response(content, error),
                    }),
                    ..wire::Part::default()
                };
                (wire::ROLE_USER, vec![part])
            }
        };
        started = true;
        if parts.is_empty() {
            continue;
        }
        // Consecutive turns of one role become one content: parallel function responses
        // belong together, and Gemini wants the roles to alternate.
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(wire::Content {
                role: Some(role.to_owned()),
                parts,
            }),
        }
    }

    let mut config = wire::GenerationConfig::default();
    if let Some(max) = request.max_output_tokens
        && cx.allow(Param::MaxOutputTokens)?
    {
        config.max_output_tokens = Some(max);
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
        config.top_k = Some(k);
    }
    if let Some(p) = sampling.frequency_penalty
        && cx.allow(Param::FrequencyPenalty)?
    {
        config.frequency_penalty = Some(p);
    }
    if let Some(p) = sampling.presence_penalty
        && cx.allow(Param::PresencePenalty)?
    {
        config.presence_penalty = Some(p);
    }
    if sampling.logit_bias.is_some() {
        cx.allow(Param::LogitBias)?;
    }
    let stop = cx.stop(&request.stop)?;
    if !stop.is_empty() {
        config.stop_sequences = Some(stop);
    }
    if let Some(n) = request.n
        && n > 1
        && cx.allow(Param::N)?
    {
        config.candidate_count = Some(n);
    }
    if let Some(seed) = request.seed
        && cx.allow(Param::Seed)?
    {
        config.seed = Some(match i32::try_from(seed) {
            Ok(seed) => seed,
            Err(_) => {
                // The low 32 bits: the same seed still gives the same sampling.
                cx.adjust(Param::Seed, format!("{seed} cut to 32 bits"))?;
                seed as i32
            }
        });
    }
    if request.user.is_some() {
        cx.allow(Param::User)?;
    }
    if let Some(logprobs) = request.logprobs
        && cx.allow(Param::Logprobs)?
    {
        config.response_logprobs = Some(true);
        config.logprobs = logprobs.top_logprobs;
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            if cx.allow(Param::JsonObject)? {
                config.response_mime_type = Some("application/json".to_owned());
            }
        }
        Some(ResponseFormat::JsonSchema(format)) => {
            if cx.allow(Param::JsonSchema)? {
                config.response_mime_type = Some("application/json".to_owned());
                config.response_json_schema = format.schema.clone();
            }
        }
    }

    let mut out = wire::GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(wire::Content {
            role: None,
            parts: system,
        }),
        tools: None,
        tool_config: None,
        generation_config: (config != wire::GenerationConfig::default()).then_some(config),
    };
    if !request.tools.is_empty() {
        let mut declarations = Vec::with_capacity(request.tools.len());
        for (i, tool) in request.tools.iter().enumerate() {
            if tool.strict.is_some() {
                cx.allow(Param::StrictTools)?;
            }
            declarations.push(wire::FunctionDeclaration {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool_parameters(i, tool.parameters.as_ref(), cx),
            });
        }
        out.tools = Some(vec![wire::Tool {
            function_declarations: Some(declarations),
        }]);
        if request.parallel_tool_calls.is_some() {
            cx.allow(Param::ParallelToolCalls)?;
        }
        out.tool_config = request.tool_choice.as_ref().map(|choice| {
            let (mode, names) = match choice {
                ToolChoice::Auto => ("AUTO", None),
                ToolChoice::None => ("NONE", None),
                ToolChoice::Required => ("ANY", None),
                ToolChoice::Tool(name) => ("ANY", Some(vec![name.clone()])),
            };
            wire::ToolConfig {
                function_calling_config: Some(wire::FunctionCallingConfig {
                    mode: Some(mode.to_owned()),
                    allowed_function_names: names,
                }),
            }
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Response

pub(crate) fn usage_from_wire(usage: &wire::UsageMetadata) -> Usage {
    let thoughts = usage.thoughts_token_count.unwrap_or(0);
    Usage {
        input_tokens: usage
            .prompt_token_count
            .saturating_add(usage.tool_use_prompt_token_count.unwrap_or(0)),
        output_tokens: usage.candidates_token_count.saturating_add(thoughts),
        cached_input_tokens: usage.cached_content_token_count,
        cache_write_input_tokens: None,
        reasoning_tokens: usage.thoughts_token_count,
    }
}

/// The id of the `n`th function call of a candidate (see the module docs).
fn call_id(
    response_id: Option<&str>,
    candidate: u32,
    n: u32,
    call: &wire::FunctionCall,
    signature: Option<&str>,
) -> String {
    let mut id = match (&call.id, response_id) {
        (Some(id), _) if !id.is_empty() => id.clone(),
        (_, Some(response)) => {
            let response: String = response
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            format!("call_{response}_{candidate}_{n}")
        }
        (_, None) => format!("call_{candidate}_{n}"),
    };
    if let Some(signature) = signature.filter(|s| !s.is_empty()) {
        id.push_str(SIGNATURE_MARK);
        // URL-safe base64 without padding, which Google's JSON parsers read as well.
        id.extend(signature.chars().filter_map(|c| match c {
            '+' => Some('-'),
            '/' => Some('_'),
            '=' => None,
            c => Some(c),
        }));
    }
    id
}

fn finish_reason(reason: Option<&str>, called: bool) -> FinishReason {
    match finish_reason_from(Provider::Gemini, reason.unwrap_or("STOP")) {
        FinishReason::Stop if called => FinishReason::ToolCalls,
        reason => reason,
    }
}

/// A prompt Gemini refused to answer: a content-filter rejection of the request.
fn blocked(feedback: &wire::PromptFeedback) -> Option<Error> {
    let reason = feedback.block_reason.as_deref()?;
    let mut message = format!("the prompt was blocked by Gemini's content filters ({reason})");
    if let Some(detail) = &feedback.block_reason_message {
        message.push_str(": ");
        message.push_str(detail);
    }
    Some(Error::provider(
        Provider::Gemini,
        400,
        Some("content_filter".to_owned()),
        message,
        None,
    ))
}

fn logprobs_from_wire(result: wire::LogprobsResult) -> Vec<TokenLogprob> {
    let mut tops = result.top_candidates.into_iter();
    result
        .chosen_candidates
        .into_iter()
        .map(|chosen| TokenLogprob {
            token: chosen.token,
            logprob: chosen.log_probability,
            bytes: None,
            top_logprobs: tops
                .next()
                .map(|top| {
                    top.candidates
                        .into_iter()
                        .map(|c| TopLogprob {
                            token: c.token,
                            logprob: c.log_probability,
                            bytes: None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn response_from_wire(response: wire::GenerateContentResponse) -> Result<ChatResponse> {
    let candidates = match response.candidates {
        Some(candidates) if !candidates.is_empty() => candidates,
        _ => {
            return Err(response
                .prompt_feedback
                .as_ref()
                .and_then(blocked)
                .unwrap_or_else(|| Error::protocol("response: no candidates")));
        }
    };
    let response_id = response.response_id.as_deref();
    let mut choices = Vec::with_capacity(candidates.len());
    for (position, candidate) in candidates.into_iter().enumerate() {
        let index = candidate.index.unwrap_or(position as u32);
        let mut text: Option<String> = None;
        let mut tool_calls = Vec::new();
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = &part.function_call {
                tool_calls.push(ToolCall {
                    id: call_id(
                        response_id,
                        index,
                        tool_calls.len() as u32,
                        call,
                        part.thought_signature.as_deref(),
                    ),
                    name: call.name.clone(),
                    arguments: call
                        .args
                        .as_ref()
                        .map_or_else(|| "{}".to_owned(), input_to_arguments),
                });
            } else if let Some(piece) = part.text
                && part.thought != Some(true)
            {
                text.get_or_insert_with(String::new).push_str(&piece);
            }
        }
        choices.push(Choice {
            index,
            finish_reason: finish_reason(
                candidate.finish_reason.as_deref(),
                !tool_calls.is_empty(),
            ),
            message: AssistantMessage {
                text,
                refusal: None,
                tool_calls,
            },
            stop_sequence: None,
            logprobs: candidate.logprobs_result.map(logprobs_from_wire),
        });
    }
    Ok(ChatResponse {
        id: response.response_id.clone().unwrap_or_default(),
        model: response.model_version.unwrap_or_default(),
        created: response.create_time.as_deref().and_then(unix_seconds),
        choices,
        usage: response.usage_metadata.as_ref().map(usage_from_wire),
    })
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2025-05-01T10:20:30.123456Z`).
fn unix_seconds(time: &str) -> Option<u64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = time.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let bytes = time.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if bytes.len() < 20
        || separators.iter().any(|(at, c)| bytes[*at] != *c)
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &time[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        rest = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second - offset).ok()
}

fn error_body(body: &[u8]) -> Option<wire::ErrorObject> {
    let value: Value = serde_json::from_slice(body).ok()?;
    // Vertex AI sometimes answers with the error in a one-element array.
    let value = match value {
        Value::Array(mut list) if !list.is_empty() => list.swap_remove(0),
        value => value,
    };
    let error = value.get("error").filter(|e| e.is_object())?;
    serde_json::from_value(error.clone()).ok()
}

fn error_from_wire(status: u16, error: wire::ErrorObject) -> Error {
    // An API key Google rejects comes as a 400 INVALID_ARGUMENT: it is the hub's credential
    // that is at fault, not the caller's request.
    if let Some(reason) = error.reason()
        && reason.starts_with("API_KEY_")
    {
        let (_, retryable) = classify(401, None);
        return Error::Provider(Box::new(ProviderError {
            provider: Provider::Gemini,
            status,
            kind: crate::ErrorKind::UpstreamFailed,
            retryable,
            code: Some(reason.to_owned()),
            message: error.message,
            param: None,
        }));
    }
    Error::provider(Provider::Gemini, status, error.status, error.message, None)
}

// ---------------------------------------------------------------------------------------------
// Stream

#[derive(Debug, Default)]
struct CandidateState {
    calls: u32,
    finished: bool,
}

/// Gemini chunks → normalized events.
///
/// Each SSE `data:` is a whole `GenerateContentResponse` holding the next piece of each
/// candidate: text parts are deltas, a `functionCall` part is a whole call (start, arguments
/// and end at once). The chunk with a candidate's `finishReason` finishes it; the usage of the
/// last chunk that has one counts. Gemini's stream has no end marker: it is complete when it
/// ends after every candidate finished.
#[derive(Debug, Default)]
struct GeminiStreamDecoder {
    started: bool,
    response_id: Option<String>,
    candidates: BTreeMap<u32, CandidateState>,
    usage: Option<Usage>,
    ended: bool,
}

impl GeminiStreamDecoder {
    fn fail(&mut self, error: Error, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Error(StreamError {
            kind: error.kind(),
            message: error.public_message(),
        }));
        self.ended = true;
    }

    fn chunk(&mut self, chunk: wire::GenerateContentResponse, out: &mut Vec<StreamEvent>) {
        let candidates = chunk.candidates.unwrap_or_default();
        if candidates.is_empty()
            && let Some(error) = chunk.prompt_feedback.as_ref().and_then(blocked)
        {
            self.fail(error, out);
            return;
        }
        if !self.started && !candidates.is_empty() {
            self.started = true;
            self.response_id.clone_from(&chunk.response_id);
            out.push(StreamEvent::Start {
                id: chunk.response_id.clone().unwrap_or_default(),
                model: chunk.model_version.clone().unwrap_or_default(),
                created: chunk.create_time.as_deref().and_then(unix_seconds),
            });
        }
        for (position, candidate) in candidates.into_iter().enumerate() {
            let index = candidate.index.unwrap_or(position as u32);
            let state = self.candidates.entry(index).or_insert_with(|| {
                out.push(StreamEvent::RoleStart { choice: index });
                CandidateState::default()
            });
            if state.finished {
                continue;
            }
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(call) = &part.function_call {
                    let n = state.calls;
                    state.calls += 1;
                    out.push(StreamEvent::ToolCallStart {
                        choice: index,
                        index: n,
                        id: call_id(
                            self.response_id.as_deref(),
                            index,
                            n,
                            call,
                            part.thought_signature.as_deref(),
                        ),
                        name: call.name.clone(),
                    });
                    if let Some(args) = &call.args
                        && args.as_object().is_none_or(|o| !o.is_empty())
                    {
                        out.push(StreamEvent::ToolCallDelta {
                            choice: index,
                            index: n,
                            arguments: input_to_arguments(args),
                        });
                    }
                    out.push(StreamEvent::ToolCallEnd {
                        choice: index,
                        index: n,
                    });
                } else if let Some(text) = part.text
                    && !text.is_empty()
                    && part.thought != Some(true)
                {
                    out.push(StreamEvent::TextDelta {
                        choice: index,
                        text,
                    });
                }
            }
            if let Some(reason) = candidate.finish_reason.as_deref() {
                out.push(StreamEvent::Finish {
                    choice: index,
                    reason: finish_reason(Some(reason), state.calls > 0),
                    stop_sequence: None,
                });
                state.finished = true;
            }
        }
        if let Some(usage) = &chunk.usage_metadata {
            self.usage = Some(usage_from_wire(usage));
        }
    }
}

impl StreamDecoder for GeminiStreamDecoder {
    fn decode(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>> {
        let mut out = Vec::new();
        let data = event.data.trim();
        if self.ended || data.is_empty() {
            return Ok(out);
        }
        let value: Value = from_provider(data.as_bytes(), "stream chunk")?;
        if value.get("error").is_some_and(Value::is_object) {
            let body: wire::ErrorBody =
                serde_json::from_value(value).map_err(|source| Error::Protocol {
                    message: format!("stream error: {source}"),
                    source: Some(source),
                })?;
            let status = body
                .error
                .status
                .as_deref()
                .map(wire::status_of)
                .or(body.error.code)
                .unwrap_or(500);
            self.fail(error_from_wire(status, body.error), &mut out);
            return Ok(out);
        }
        let chunk: wire::GenerateContentResponse =
            serde_json::from_value(value).map_err(|source| Error::Protocol {
                message: format!("stream chunk: {source}"),
                source: Some(source),
            })?;
        self.chunk(chunk, &mut out);
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>> {
        if self.ended {
            return Ok(Vec::new());
        }
        if !self.started
            || self.candidates.is_empty()
            || !self.candidates.values().all(|c| c.finished)
        {
            return Err(Error::protocol(
                "the stream ended before every candidate finished",
            ));
        }
        self.ended = true;
        let mut out: Vec<StreamEvent> = self
            .usage
            .take()
            .map(StreamEvent::Usage)
            .into_iter()
            .collect();
        out.push(StreamEvent::Done);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::adapters::{Credential, ProviderOptions};
    use crate::model::{LogprobsRequest, Tool};
    use crate::params::UnsupportedPolicy;

    fn call<'a>(
        operation: Operation,
        base_url: &'a str,
        options: &'a ProviderOptions,
        credential: &'a Credential,
    ) -> Call<'a> {
        Call {
            operation,
            base_url,
            model: "gemini-2.5-flash",
            options,
            credential,
            now: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn urls_default_to_the_public_endpoints() {
        let key = Credential::ApiKey("token".into());
        let none = ProviderOptions::default();
        let chat = Operation::Chat { stream: false };
        let request = GeminiAdapter::new()
            .prepare(&call(chat, "", &none, &key), Vec::new())
            .unwrap();
        assert_eq!(
            request.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
        );
        let models = Call {
            model: "models/gemini-2.5-pro",
            ..call(chat, "https://proxy.test/", &none, &key)
        };
        let request = GeminiAdapter::new().prepare(&models, Vec::new()).unwrap();
        assert_eq!(
            request.url,
            "https://proxy.test/v1beta/models/gemini-2.5-pro:generateContent"
        );

        let vertex = GeminiAdapter::vertex();
        let error = vertex
            .prepare(&call(chat, "", &none, &key), Vec::new())
            .unwrap_err();
        assert!(error.to_string().contains("`project`"), "{error}");
        // The hub's configuration is at fault, not the caller.
        assert_eq!(error.kind(), crate::ErrorKind::UpstreamFailed);
        let only_project = ProviderOptions {
            project: Some("p".into()),
            ..ProviderOptions::default()
        };
        let error = vertex
            .prepare(&call(chat, "", &only_project, &key), Vec::new())
            .unwrap_err();
        assert!(error.to_string().contains("`region`"), "{error}");
        for (location, host) in [
            (
                "europe-west4",
                "https://europe-west4-aiplatform.googleapis.com",
            ),
            ("global", "https://aiplatform.googleapis.com"),
        ] {
            let options = ProviderOptions {
                project: Some("p".into()),
                region: Some(location.into()),
                ..ProviderOptions::default()
            };
            let request = vertex
                .prepare(
                    &call(Operation::Chat { stream: true }, "", &options, &key),
                    Vec::new(),
                )
                .unwrap();
            assert_eq!(
                request.url,
                format!(
                    "{host}/v1/projects/p/locations/{location}/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
                )
            );
            assert!(
                request
                    .headers
                    .contains(&("authorization".into(), "Bearer token".into()))
            );
        }
        let aws = Credential::Aws {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
            session_token: None,
        };
        assert!(
            GeminiAdapter::new()
                .prepare(&call(chat, "", &none, &aws), Vec::new())
                .is_err()
        );
    }

    fn assistant_calls(ids: &[&str]) -> Message {
        Message::Assistant {
            content: Vec::new(),
            tool_calls: ids
                .iter()
                .enumerate()
                .map(|(i, id)| ToolCall {
                    id: (*id).into(),
                    name: format!("f{i}"),
                    arguments: "{\"x\":1}".into(),
                })
                .collect(),
            name: None,
        }
    }

    fn tool(id: &str, text: &str, is_error: bool) -> Message {
        Message::Tool {
            tool_call_id: id.into(),
            content: vec![ContentPart::text(text)],
            is_error,
        }
    }

    fn encode(request: &ChatRequest) -> Result<Translated<Value>> {
        GeminiAdapter::new().encode_request(request, &ModelProfile::new("gemini-2.5-flash"))
    }

    #[test]
    fn tool_results_find_their_function_and_signatures_go_back() {
        let request = ChatRequest {
            messages: vec![
                Message::user("go"),
                assistant_calls(&["call_r_0_0__ts_c2ln", "call_r_0_1"]),
                tool("call_r_0_1", "done", false),
                tool("call_r_0_0__ts_c2ln", "no such city", true),
                Message::user("and then?"),
                assistant_calls(&["toolu_01"]),
                tool("toolu_01", "[1,2]", false),
            ],
            ..ChatRequest::default()
        };
        let body = encode(&request).unwrap().value;
        assert_eq!(
            body["contents"],
            json!([
                {"role": "user", "parts": [{"text": "go"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "f0", "args": {"x": 1}}, "thoughtSignature": "c2ln"},
                    {"functionCall": {"name": "f1", "args": {"x": 1}}}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "f1", "response": {"output": "done"}}},
                    {"functionResponse": {"name": "f0", "response": {"error": "no such city"}}},
                    {"text": "and then?"}
                ]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "f0", "args": {"x": 1}}, "thoughtSignature": SKIP_SIGNATURE}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "f0", "response": {"output": [1, 2]}}}
                ]}
            ])
        );
        // A result for a call that was never made cannot be named.
        let orphan = ChatRequest {
            messages: vec![Message::user("go"), tool("call_9", "x", false)],
            ..ChatRequest::default()
        };
        let error = encode(&orphan).unwrap_err();
        assert_eq!(error.param(), Some("messages[1].tool_call_id"));
    }

    #[test]
    fn request_details() {
        let mut request = ChatRequest {
            messages: vec![Message::user("hi")],
            tools: vec![Tool {
                name: "lookup".into(),
                description: None,
                parameters: Some(json!({
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "additionalProperties": false
                })),
                strict: None,
            }],
            tool_choice: Some(ToolChoice::Tool("lookup".into())),
            seed: Some(1 << 40),
            n: Some(2),
            logprobs: Some(LogprobsRequest {
                top_logprobs: Some(3),
            }),
            ..ChatRequest::default()
        };
        let encoded = encode(&request).unwrap();
        assert_eq!(
            encoded.value["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}})
        );
        assert_eq!(
            encoded.value["tools"][0]["functionDeclarations"][0]["parameters"],
            json!({"type": "object", "properties": {"q": {"type": "string"}}})
        );
        let config = &encoded.value["generationConfig"];
        assert_eq!(config["candidateCount"], json!(2));
        assert_eq!(config["seed"], json!(0));
        assert_eq!(config["responseLogprobs"], json!(true));
        assert_eq!(config["logprobs"], json!(3));
        let params: Vec<&str> = encoded.warnings.iter().map(|w| w.param.as_str()).collect();
        assert_eq!(params, ["seed", "tools[0].function.parameters"]);
        // A tool without properties is declared without parameters.
        request.tools[0].parameters = Some(json!({"type": "object", "properties": {}}));
        let encoded = encode(&request).unwrap();
        assert_eq!(
            encoded.value["tools"][0]["functionDeclarations"][0],
            json!({"name": "lookup"})
        );
        // An image URL whose type cannot be told is refused, naming it.
        request.messages = vec![Message::User {
            content: vec![ContentPart::Image(crate::model::Image {
                source: ImageSource::Url("https://example.com/photo?id=3".into()),
                detail: None,
            })],
            name: None,
        }];
        let error = encode(&request).unwrap_err();
        assert_eq!(error.param(), Some("messages[0].content[0]"));
        // Under the reject policy, what Gemini lacks is refused.
        let strict = ModelProfile {
            on_unsupported: UnsupportedPolicy::Reject,
            ..ModelProfile::new("gemini-2.5-flash")
        };
        let user = ChatRequest {
            messages: vec![Message::user("hi")],
            user: Some("u".into()),
            ..ChatRequest::default()
        };
        let error = GeminiAdapter::new()
            .encode_request(&user, &strict)
            .unwrap_err();
        assert_eq!(error.param(), Some("user"));
    }

    #[test]
    fn answers_skip_thoughts_and_count_them() {
        let body = json!({
            "candidates": [
                {"content": {"role": "model", "parts": [
                    {"text": "Let me think", "thought": true},
                    {"text": "42"}
                ]}, "finishReason": "STOP", "index": 0,
                 "logprobsResult": {
                    "topCandidates": [{"candidates": [
                        {"token": "42", "tokenId": 3, "logProbability": -0.1},
                        {"token": "41", "tokenId": 4, "logProbability": -2.5}
                    ]}],
                    "chosenCandidates": [{"token": "42", "tokenId": 3, "logProbability": -0.1}]
                 }},
                {"content": {"role": "model", "parts": [{"text": "forty"}]},
                 "finishReason": "SAFETY", "index": 1}
            ],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4,
                              "thoughtsTokenCount": 30, "totalTokenCount": 44},
            "modelVersion": "gemini-2.5-pro",
            "createTime": "2025-03-10T01:25:52.000001Z",
            "responseId": "abc"
        });
        let response = GeminiAdapter::vertex()
            .decode_response(body.to_string().as_bytes())
            .unwrap();
        assert_eq!(response.created, Some(1741569952));
        assert_eq!(response.choices[0].message.text.as_deref(), Some("42"));
        let logprobs = response.choices[0].logprobs.as_ref().unwrap();
        assert_eq!(logprobs[0].token, "42");
        assert_eq!(logprobs[0].top_logprobs[1].token, "41");
        assert_eq!(
            response.choices[1].finish_reason,
            FinishReason::ContentFilter
        );
        let usage = response.usage.unwrap();
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.reasoning_tokens
            ),
            (10, 34, Some(30))
        );
        // Neither candidates nor a block: not an answer.
        assert!(
            GeminiAdapter::new()
                .decode_response(b"{\"responseId\": \"x\"}")
                .is_err()
        );
    }

    #[test]
    fn streams_finish_each_candidate_and_end_when_the_connection_does() {
        let chunks = [
            r#"{"candidates": [{"content": {"role": "model", "parts": [{"text": "hmm", "thought": true}]}}], "responseId": "r", "modelVersion": "m"}"#,
            r#"{"candidates": [{"content": {"role": "model", "parts": [{"text": "Once"}]}}], "responseId": "r", "modelVersion": "m"}"#,
            r#"{"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "f"}}]}, "finishReason": "SAFETY"}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}, "responseId": "r", "modelVersion": "m"}"#,
        ];
        let mut decoder = GeminiStreamDecoder::default();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(decoder.decode(&SseEvent::data(chunk)).unwrap());
        }
        events.extend(decoder.finish().unwrap());
        crate::model::check_stream(&events).unwrap();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, StreamEvent::TextDelta { text, .. } if text == "hmm"))
        );
        assert!(events.contains(&StreamEvent::ToolCallStart {
            choice: 0,
            index: 0,
            id: "call_r_0_0".into(),
            name: "f".into()
        }));
        assert!(events.contains(&StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ContentFilter,
            stop_sequence: None
        }));
        // Cut before the finish reason: an error.
        let mut decoder = GeminiStreamDecoder::default();
        decoder.decode(&SseEvent::data(chunks[1])).unwrap();
        assert!(matches!(decoder.finish(), Err(Error::Protocol { .. })));
    }

    #[test]
    fn rfc3339_times_are_read() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_seconds("2025-03-10T01:25:52.123456Z"),
            Some(1741569952)
        );
        assert_eq!(unix_seconds("2025-03-10T03:25:52+02:00"), Some(1741569952));
        assert_eq!(unix_seconds("2000-02-29T12:00:00Z"), Some(951825600));
        assert_eq!(unix_seconds("yesterday"), None);
        assert_eq!(unix_seconds("2025-13-10T01:25:52Z"), None);
    }

    #[test]
    fn schemas_lose_what_gemini_does_not_take() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "mail": {"type": "string", "format": "email"},
                "kind": {"const": "a"},
                "size": {"type": ["integer", "null"], "enum": [1, 2]},
                "where": {"$ref": "#/$defs/place", "description": "the place"},
                "either": {"oneOf": [{"type": "string"}, {"type": "number"}]}
            },
            "required": ["when"],
            "additionalProperties": false,
            "$defs": {"place": {"type": "object", "properties": {"city": {"type": "string"}}}}
        });
        let mut filter = SchemaFilter::new(&schema);
        let out = filter.schema(&schema);
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "when": {"type": "string", "format": "date-time"},
                    "mail": {"type": "string"},
                    "kind": {"enum": ["a"]},
                    "size": {"type": "integer", "nullable": true},
                    "where": {"type": "object", "properties": {"city": {"type": "string"}}, "description": "the place"},
                    "either": {"anyOf": [{"type": "string"}, {"type": "number"}]}
                },
                "required": ["when"]
            })
        );
        assert_eq!(
            filter.removed.into_iter().collect::<Vec<_>>(),
            [
                "$schema",
                "additionalProperties",
                "enum (not strings)",
                "format \"email\"",
                "oneOf (read as anyOf)"
            ]
        );
        // A recursive reference is cut, not followed forever.
        let tree = json!({"type": "object", "properties": {"child": {"$ref": "#"}}});
        let mut filter = SchemaFilter::new(&tree);
        filter.schema(&tree);
        assert!(filter.removed.contains("$ref"));
    }

    #[test]
    fn signatures_travel_in_the_id_and_back() {
        let call = wire::FunctionCall {
            id: None,
            name: "f".into(),
            args: None,
        };
        let id = call_id(Some("r-1"), 0, 2, &call, Some("ab+/cd=="));
        assert_eq!(id, "call_r1_0_2__ts_ab-_cd");
        assert_eq!(split_id(&id), ("call_r1_0_2", Some("ab-_cd")));
        assert_eq!(split_id("call_1"), ("call_1", None));
    }

    #[test]
    fn a_blocked_prompt_is_a_content_filter_rejection() {
        let body = br#"{"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]}, "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}, "modelVersion": "gemini-2.5-flash"}"#;
        let error = GeminiAdapter::new().decode_response(body).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::InvalidRequest);
        assert!(!error.is_retryable());
        assert!(error.public_message().contains("blocked"), "{error}");
        assert_eq!(
            error.provider_error().and_then(|e| e.code.as_deref()),
            Some("content_filter")
        );
        // The same inside a stream.
        let mut decoder = GeminiStreamDecoder::default();
        let events = decoder
            .decode(&SseEvent::data(std::str::from_utf8(body).unwrap()))
            .unwrap();
        assert!(
            matches!(&events[..], [StreamEvent::Error(e)] if e.kind == crate::ErrorKind::InvalidRequest)
        );
        assert!(decoder.finish().unwrap().is_empty());
    }

    #[test]
    fn a_rejected_api_key_is_the_hubs_fault() {
        let body = br#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]}}"#;
        let error = GeminiAdapter::new().decode_error(400, body);
        assert_eq!(error.kind(), crate::ErrorKind::UpstreamFailed);
        assert!(!error.is_retryable());
        assert!(!error.public_message().contains("API key not valid"));
        // Vertex AI's array-wrapped error.
        let body = br#"[{"error": {"code": 429, "message": "Resource exhausted. Please try again later.", "status": "RESOURCE_EXHAUSTED"}}]"#;
        let error = GeminiAdapter::vertex().decode_error(429, body);
        assert_eq!(error.kind(), crate::ErrorKind::RateLimited);
        assert_eq!(
            error.provider_error().and_then(|e| e.code.as_deref()),
            Some("RESOURCE_EXHAUSTED")
        );
    }
}
