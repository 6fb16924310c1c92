//! Parameter normalization: the one table of how each concept is spelled by each provider, what
//! rule translates it, and which provider cannot honour it — as data that the adapters consult
//! and that [`markdown`] renders into the documentation (a test keeps the README in step).
//!
//! A parameter a target cannot honour goes through [`Negotiation::allow`]: under the model's
//! [`UnsupportedPolicy::Drop`] it is left out and a [`Warning`] is recorded (for the
//! `x-agenthub-warnings` header); under [`UnsupportedPolicy::Reject`] the request fails with a
//! 400 naming the parameter.
//!
//! Temperature: the value is passed unchanged and clamped to the target's maximum. Rescaling
//! (OpenAI 0–2 → Anthropic 0–1 by halving) was rejected: temperature is the same physical knob
//! (the softmax temperature) on every provider, not a percentage of a range; both scales put
//! the default at 1.0, so halving would silently turn every client's default into 0.5 and make
//! 0.7 — the most common setting — mean something else per provider. Only values above the
//! target's maximum cannot be honoured, and they are clamped with a warning (drop) or rejected.

use std::fmt;

use crate::error::{Error, Result};
use crate::model::{FinishReason, Usage};

/// A provider wire protocol. A column of the tables below is one protocol, not one vendor:
/// OpenAI-compatible servers and Azure OpenAI speak [`Provider::OpenAi`], Vertex AI speaks
/// [`Provider::Gemini`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent` (AI Studio and Vertex AI).
    Gemini,
    /// Amazon Bedrock Converse.
    Bedrock,
    /// Cohere Chat v2.
    Cohere,
    /// Mistral chat completions.
    Mistral,
}

impl Provider {
    /// Every protocol, in the order of the table's columns.
    pub const ALL: [Provider; 6] = [
        Self::OpenAi,
        Self::Anthropic,
        Self::Gemini,
        Self::Bedrock,
        Self::Cohere,
        Self::Mistral,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Bedrock => "bedrock",
            Self::Cohere => "cohere",
            Self::Mistral => "mistral",
        }
    }

    /// The protocol's name as the documentation shows it.
    pub fn title(self) -> &'static str {
        match self {
            Self::OpenAi => "OpenAI",
            Self::Anthropic => "Anthropic",
            Self::Gemini => "Gemini",
            Self::Bedrock => "Bedrock",
            Self::Cohere => "Cohere",
            Self::Mistral => "Mistral",
        }
    }

    /// The highest temperature the provider accepts (the lowest is 0 everywhere). Bedrock's
    /// Converse API documents 0–1 for `inferenceConfig.temperature`; Cohere documents only a
    /// non-negative value, and 0–1 is the range its models are tuned and documented for.
    pub fn max_temperature(self) -> f64 {
        match self {
            Self::OpenAi | Self::Gemini => 2.0,
            Self::Anthropic | Self::Bedrock | Self::Cohere => 1.0,
            Self::Mistral => 1.5,
        }
    }

    /// The most stop sequences the provider accepts, when it documents a limit.
    pub fn max_stop_sequences(self) -> Option<usize> {
        match self {
            Self::OpenAi => Some(4),
            Self::Gemini | Self::Cohere => Some(5),
            // The Converse API's own limit; a model may take fewer.
            Self::Bedrock => Some(2500),
            Self::Anthropic | Self::Mistral => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request parameter that some target may not honour. The serde names are the ones a model's
/// configuration uses to list parameters it rejects (`unsupported: [temperature, stop]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    MaxOutputTokens,
    Temperature,
    TopP,
    TopK,
    Stop,
    N,
    Seed,
    User,
    Logprobs,
    FrequencyPenalty,
    PresencePenalty,
    LogitBias,
    JsonObject,
    JsonSchema,
    StrictTools,
    ParallelToolCalls,
    MessageName,
    ToolResultError,
    ToolResultImages,
}

impl Param {
    /// The request field, as errors and warnings name it.
    pub fn field(self) -> &'static str {
        match self {
            Self::MaxOutputTokens => "max_tokens",
            Self::Temperature => "temperature",
            Self::TopP => "top_p",
            Self::TopK => "top_k",
            Self::Stop => "stop",
            Self::N => "n",
            Self::Seed => "seed",
            Self::User => "user",
            Self::Logprobs => "logprobs",
            Self::FrequencyPenalty => "frequency_penalty",
            Self::PresencePenalty => "presence_penalty",
            Self::LogitBias => "logit_bias",
            Self::JsonObject | Self::JsonSchema => "response_format",
            Self::StrictTools => "tools[].strict",
            Self::ParallelToolCalls => "parallel_tool_calls",
            Self::MessageName => "messages[].name",
            Self::ToolResultError => "tool_result.is_error",
            Self::ToolResultImages => "tool_result.content",
        }
    }

    /// This parameter's row of [`PARAMS`].
    pub fn row(self) -> &'static ParamRow {
        PARAMS
            .iter()
            .find(|row| row.param == Some(self))
            .unwrap_or(&UNKNOWN_ROW)
    }

    /// How `provider` spells this parameter, if it has it.
    pub fn field_of(self, provider: Provider) -> Field {
        self.row().field(provider)
    }
}

static UNKNOWN_ROW: ParamRow = ParamRow {
    concept: "",
    param: None,
    normalized: "",
    openai: Field::Unsupported,
    anthropic: Field::Unsupported,
    gemini: Field::Unsupported,
    bedrock: Field::Unsupported,
    cohere: Field::Unsupported,
    mistral: Field::Unsupported,
    rule: "",
};

/// How one provider spells a concept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Native(&'static str),
    /// Honoured only by models whose profile has this capability.
    If(Capability, &'static str),
    Unsupported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Schema-constrained output and strict tools ([`ModelProfile::structured_outputs`]).
    StructuredOutputs,
}

/// One row of the normalization table: a concept and its spelling in each wire protocol.
#[derive(Debug)]
pub struct ParamRow {
    pub concept: &'static str,
    /// The parameter, when a target may not honour it.
    pub param: Option<Param>,
    /// Where the concept lives in [`crate::model::ChatRequest`].
    pub normalized: &'static str,
    pub openai: Field,
    pub anthropic: Field,
    /// Gemini `generateContent` (AI Studio and Vertex AI).
    pub gemini: Field,
    /// Bedrock Converse.
    pub bedrock: Field,
    /// Cohere Chat v2.
    pub cohere: Field,
    pub mistral: Field,
    pub rule: &'static str,
}

impl ParamRow {
    /// The column of `provider`.
    pub fn field(&self, provider: Provider) -> Field {
        match provider {
            Provider::OpenAi => self.openai,
            Provider::Anthropic => self.anthropic,
            Provider::Gemini => self.gemini,
            Provider::Bedrock => self.bedrock,
            Provider::Cohere => self.cohere,
            Provider::Mistral => self.mistral,
        }
    }
}

/// The request normalization table.
pub static PARAMS: &[ParamRow] = &[
    ParamRow {
        concept: "max output tokens",
        param: Some(Param::MaxOutputTokens),
        normalized: "max_output_tokens",
        openai: Field::Native("max_completion_tokens (max_tokens)"),
        anthropic: Field::Native("max_tokens (required)"),
        gemini: Field::Native("generationConfig.maxOutputTokens"),
        bedrock: Field::Native("inferenceConfig.maxTokens"),
        cohere: Field::Native("max_tokens"),
        mistral: Field::Native("max_tokens"),
        rule: "Ingress reads `max_completion_tokens`, else the deprecated `max_tokens`. The OpenAI \
               adapter sends `max_completion_tokens`, the OpenAI-compatible one `max_tokens`. \
               Anthropic requires a value: without one the model profile's \
               `default_max_tokens` is sent.",
    },
    ParamRow {
        concept: "temperature",
        param: Some(Param::Temperature),
        normalized: "sampling.temperature",
        openai: Field::Native("temperature (0–2)"),
        anthropic: Field::Native("temperature (0–1)"),
        gemini: Field::Native("generationConfig.temperature (0–2)"),
        bedrock: Field::Native("inferenceConfig.temperature (0–1)"),
        cohere: Field::Native("temperature (0–1)"),
        mistral: Field::Native("temperature (0–1.5)"),
        rule: "Passed unchanged, never rescaled (the same softmax temperature; 1.0 is the default \
               on every scale). Above the target's maximum: clamped to it with a warning (drop) \
               or rejected (reject).",
    },
    ParamRow {
        concept: "nucleus sampling",
        param: Some(Param::TopP),
        normalized: "sampling.top_p",
        openai: Field::Native("top_p"),
        anthropic: Field::Native("top_p"),
        gemini: Field::Native("generationConfig.topP"),
        bedrock: Field::Native("inferenceConfig.topP"),
        cohere: Field::Native("p (0.01–0.99)"),
        mistral: Field::Native("top_p"),
        rule: "Same value (0–1). Cohere takes 0.01–0.99: a value outside it is clamped with a \
               warning (drop) or rejected (reject).",
    },
    ParamRow {
        concept: "top-k sampling",
        param: Some(Param::TopK),
        normalized: "sampling.top_k",
        openai: Field::Unsupported,
        anthropic: Field::Native("top_k"),
        gemini: Field::Native("generationConfig.topK"),
        bedrock: Field::Native("additionalModelRequestFields.top_k"),
        cohere: Field::Native("k (up to 500)"),
        mistral: Field::Unsupported,
        rule: "Same value. Cohere takes at most 500: a larger value is clamped with a warning \
               (drop) or rejected (reject). Bedrock's Converse API has no top-k: it goes in the \
               model's own fields, spelled as Anthropic's models take it, for Anthropic models and \
               for model ids that do not name their vendor (such a model without `top_k` lists it \
               as unsupported in its profile); for a model of another known vendor it is \
               unsupported (dropped with a warning, or rejected).",
    },
    ParamRow {
        concept: "stop sequences",
        param: Some(Param::Stop),
        normalized: "stop",
        openai: Field::Native("stop (string or up to 4 strings)"),
        anthropic: Field::Native("stop_sequences"),
        gemini: Field::Native("generationConfig.stopSequences (up to 5)"),
        bedrock: Field::Native("inferenceConfig.stopSequences (up to 2500)"),
        cohere: Field::Native("stop_sequences (up to 5)"),
        mistral: Field::Native("stop"),
        rule: "A single string becomes a list of one. Beyond the target's limit the extra \
               sequences are dropped with a warning (drop) or the request rejected (reject). A \
               matched Anthropic sequence is reported as `stop_sequence`.",
    },
    ParamRow {
        concept: "number of choices",
        param: Some(Param::N),
        normalized: "n",
        openai: Field::Native("n"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.candidateCount"),
        bedrock: Field::Unsupported,
        cohere: Field::Unsupported,
        mistral: Field::Native("n"),
        rule: "`n` = 1 (or absent) needs no support; `n` > 1 is unsupported where marked.",
    },
    ParamRow {
        concept: "seed",
        param: Some(Param::Seed),
        normalized: "seed",
        openai: Field::Native("seed"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.seed"),
        bedrock: Field::Unsupported,
        cohere: Field::Native("seed"),
        mistral: Field::Native("random_seed"),
        rule: "Same value.",
    },
    ParamRow {
        concept: "end-user id",
        param: Some(Param::User),
        normalized: "user",
        openai: Field::Native("user"),
        anthropic: Field::Native("metadata.user_id"),
        gemini: Field::Unsupported,
        bedrock: Field::Unsupported,
        cohere: Field::Unsupported,
        mistral: Field::Unsupported,
        rule: "Same string.",
    },
    ParamRow {
        concept: "log probabilities",
        param: Some(Param::Logprobs),
        normalized: "logprobs",
        openai: Field::Native("logprobs, top_logprobs"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.responseLogprobs, logprobs"),
        bedrock: Field::Unsupported,
        cohere: Field::Native("logprobs (no alternatives)"),
        mistral: Field::Unsupported,
        rule: "Returned per choice in `choices[].logprobs.content` (non-streamed answers). Cohere \
               returns the chosen tokens' log probabilities only, without `top_logprobs` \
               alternatives.",
    },
    ParamRow {
        concept: "frequency penalty",
        param: Some(Param::FrequencyPenalty),
        normalized: "sampling.frequency_penalty",
        openai: Field::Native("frequency_penalty"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.frequencyPenalty"),
        bedrock: Field::Unsupported,
        cohere: Field::Native("frequency_penalty (0–1)"),
        mistral: Field::Native("frequency_penalty"),
        rule: "Same value (−2…2). Cohere takes 0–1: a value outside it is clamped with a warning \
               (drop) or rejected (reject).",
    },
    ParamRow {
        concept: "presence penalty",
        param: Some(Param::PresencePenalty),
        normalized: "sampling.presence_penalty",
        openai: Field::Native("presence_penalty"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.presencePenalty"),
        bedrock: Field::Unsupported,
        cohere: Field::Native("presence_penalty (0–1)"),
        mistral: Field::Native("presence_penalty"),
        rule: "Same value (−2…2). Cohere takes 0–1: a value outside it is clamped with a warning \
               (drop) or rejected (reject).",
    },
    ParamRow {
        concept: "logit bias",
        param: Some(Param::LogitBias),
        normalized: "sampling.logit_bias",
        openai: Field::Native("logit_bias"),
        anthropic: Field::Unsupported,
        gemini: Field::Unsupported,
        bedrock: Field::Unsupported,
        cohere: Field::Unsupported,
        mistral: Field::Unsupported,
        rule: "Token ids are the provider's own; passed only to OpenAI.",
    },
    ParamRow {
        concept: "JSON mode",
        param: Some(Param::JsonObject),
        normalized: "response_format: JsonObject",
        openai: Field::Native("response_format {type: json_object}"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.responseMimeType = application/json"),
        bedrock: Field::Unsupported,
        cohere: Field::Native("response_format {type: json_object}"),
        mistral: Field::Native("response_format {type: json_object}"),
        rule: "Anthropic and Bedrock's Converse API have no schema-less JSON mode. Cohere takes \
               no `response_format` together with tools: with tools it is dropped with a warning \
               (drop) or rejected (reject).",
    },
    ParamRow {
        concept: "JSON schema output",
        param: Some(Param::JsonSchema),
        normalized: "response_format: JsonSchema",
        openai: Field::Native("response_format {type: json_schema, json_schema}"),
        anthropic: Field::If(
            Capability::StructuredOutputs,
            "output_config.format {type: json_schema, schema}",
        ),
        gemini: Field::Native("generationConfig.responseMimeType + responseJsonSchema"),
        bedrock: Field::If(
            Capability::StructuredOutputs,
            "outputConfig.textFormat {type: json_schema, structure.jsonSchema}",
        ),
        cohere: Field::Native("response_format {type: json_object, json_schema}"),
        mistral: Field::Native("response_format {type: json_schema, json_schema}"),
        rule: "The schema is passed unchanged. Anthropic has no schema name: ingress names it \
               `response`. Anthropic and Bedrock honour it only on models whose profile sets \
               `structured_outputs`; Bedrock takes the schema as JSON text, with its name and \
               description. Cohere has no schema name either, and takes no `response_format` \
               together with tools (see JSON mode).",
    },
    ParamRow {
        concept: "tools",
        param: None,
        normalized: "tools",
        openai: Field::Native("tools[] {type: function, function {name, description, parameters}}"),
        anthropic: Field::Native("tools[] {name, description, input_schema}"),
        gemini: Field::Native("tools[].functionDeclarations[] {name, description, parameters}"),
        bedrock: Field::Native("toolConfig.tools[].toolSpec {name, description, inputSchema.json}"),
        cohere: Field::Native("tools[] {type: function, function {name, description, parameters}}"),
        mistral: Field::Native(
            "tools[] {type: function, function {name, description, parameters}}",
        ),
        rule: "`parameters` ↔ `input_schema`. A tool without parameters gets \
               `{\"type\":\"object\",\"properties\":{}}` where a schema is required. Tool-call \
               arguments: OpenAI's JSON text ↔ Anthropic's `input` object (parsed when encoding; \
               text that is not JSON is rejected). Gemini takes an OpenAPI subset of JSON \
               Schema: keywords it lacks are removed with a warning.",
    },
    ParamRow {
        concept: "strict tools",
        param: Some(Param::StrictTools),
        normalized: "tools[].strict",
        openai: Field::Native("tools[].function.strict"),
        anthropic: Field::If(Capability::StructuredOutputs, "tools[].strict"),
        gemini: Field::Unsupported,
        bedrock: Field::If(Capability::StructuredOutputs, "toolSpec.strict"),
        cohere: Field::Native("strict_tools (all tools)"),
        mistral: Field::Native("tools[].function.strict"),
        rule: "Same flag. Anthropic and Bedrock honour it only on models whose profile sets \
               `structured_outputs`. Cohere's is one flag for all tools: set when any tool is \
               strict.",
    },
    ParamRow {
        concept: "tool choice",
        param: None,
        normalized: "tool_choice",
        openai: Field::Native("tool_choice"),
        anthropic: Field::Native("tool_choice"),
        gemini: Field::Native("toolConfig.functionCallingConfig"),
        bedrock: Field::Native("toolConfig.toolChoice"),
        cohere: Field::Native("tool_choice"),
        mistral: Field::Native("tool_choice"),
        rule: "See the tool choice table. Without tools, a tool choice is not sent.",
    },
    ParamRow {
        concept: "parallel tool calls",
        param: Some(Param::ParallelToolCalls),
        normalized: "parallel_tool_calls",
        openai: Field::Native("parallel_tool_calls"),
        anthropic: Field::Native("tool_choice.disable_parallel_tool_use (inverted)"),
        gemini: Field::Unsupported,
        bedrock: Field::Unsupported,
        cohere: Field::Unsupported,
        mistral: Field::Native("parallel_tool_calls"),
        rule: "`parallel_tool_calls: false` ↔ `disable_parallel_tool_use: true` (on an `auto` \
               choice when none is given).",
    },
    ParamRow {
        concept: "system prompt",
        param: None,
        normalized: "messages[]: Message::System",
        openai: Field::Native("messages[] with role system or developer"),
        anthropic: Field::Native("system (string or text blocks)"),
        gemini: Field::Native("systemInstruction {parts}"),
        bedrock: Field::Native("system[] {text}"),
        cohere: Field::Native("messages[] with role system"),
        mistral: Field::Native("messages[] with role system"),
        rule: "Every system message is hoisted, in order, into Anthropic's top-level `system` \
               (one text block per part), and likewise into Gemini's `systemInstruction` and \
               Bedrock's `system`; one that came after the conversation started is hoisted with \
               a warning. Anthropic's `system` becomes leading system messages.",
    },
    ParamRow {
        concept: "images",
        param: None,
        normalized: "ContentPart::Image",
        openai: Field::Native("image_url part {url, detail}"),
        anthropic: Field::Native("image block {source: {type: url or base64}}"),
        gemini: Field::Native("inlineData {mimeType, data} / fileData {mimeType, fileUri} parts"),
        bedrock: Field::Native("image block {format, source.bytes} (no URLs)"),
        cohere: Field::Native("image_url part {url, detail}"),
        mistral: Field::Native("image_url part {url, detail}"),
        rule: "A `data:<type>;base64,` URI ↔ a base64 source; other URLs ↔ a url source. \
               `detail` is a hint OpenAI, Cohere and Mistral take: dropped elsewhere without a \
               warning. Bedrock takes inline bytes only: an image URL is dropped with a warning \
               (drop) or rejected (reject).",
    },
    ParamRow {
        concept: "tool results",
        param: None,
        normalized: "Message::Tool",
        openai: Field::Native("messages[] with role tool"),
        anthropic: Field::Native("tool_result blocks in a user message"),
        gemini: Field::Native("functionResponse parts {name, response}"),
        bedrock: Field::Native("toolResult blocks {toolUseId, content} in a user message"),
        cohere: Field::Native("messages[] with role tool"),
        mistral: Field::Native("messages[] with role tool"),
        rule: "Consecutive tool results (and a user message right after them) merge into one \
               Anthropic user message, tool results first; an Anthropic user message splits into \
               tool messages, then the rest. Gemini has no tool-call ids: a result is matched to \
               the function name of the earlier call with its id.",
    },
    ParamRow {
        concept: "tool result error flag",
        param: Some(Param::ToolResultError),
        normalized: "Message::Tool.is_error",
        openai: Field::Unsupported,
        anthropic: Field::Native("tool_result.is_error"),
        gemini: Field::Native("functionResponse.response {error} (else {output})"),
        bedrock: Field::Native("toolResult.status = error"),
        cohere: Field::Unsupported,
        mistral: Field::Unsupported,
        rule: "OpenAI gets the result text alone.",
    },
    ParamRow {
        concept: "images in tool results",
        param: Some(Param::ToolResultImages),
        normalized: "Message::Tool.content",
        openai: Field::Unsupported,
        anthropic: Field::Native("tool_result.content image blocks"),
        gemini: Field::Unsupported,
        bedrock: Field::Native("toolResult.content image blocks"),
        cohere: Field::Unsupported,
        mistral: Field::Unsupported,
        rule: "OpenAI tool messages carry text only.",
    },
    ParamRow {
        concept: "participant name",
        param: Some(Param::MessageName),
        normalized: "Message::*.name",
        openai: Field::Native("messages[].name"),
        anthropic: Field::Unsupported,
        gemini: Field::Unsupported,
        bedrock: Field::Unsupported,
        cohere: Field::Unsupported,
        mistral: Field::Unsupported,
        rule: "Same string.",
    },
];

/// How one protocol spells a finish reason: `sent` is written (by an ingress of that format),
/// every spelling in `read` is read as the row's reason.
#[derive(Debug, Clone, Copy)]
pub struct Spelling {
    pub sent: &'static str,
    pub read: &'static [&'static str],
}

const fn spelled(sent: &'static str, read: &'static [&'static str]) -> Spelling {
    Spelling { sent, read }
}

/// One row of the finish reason table. An unknown spelling is read as `stop`.
#[derive(Debug)]
pub struct FinishRow {
    pub reason: FinishReason,
    pub openai: Spelling,
    pub anthropic: Spelling,
    pub gemini: Spelling,
    pub bedrock: Spelling,
    pub cohere: Spelling,
    pub mistral: Spelling,
    pub note: &'static str,
}

impl FinishRow {
    /// The column of `provider`.
    pub fn spelling(&self, provider: Provider) -> Spelling {
        match provider {
            Provider::OpenAi => self.openai,
            Provider::Anthropic => self.anthropic,
            Provider::Gemini => self.gemini,
            Provider::Bedrock => self.bedrock,
            Provider::Cohere => self.cohere,
            Provider::Mistral => self.mistral,
        }
    }
}

pub static FINISH_REASONS: &[FinishRow] = &[
    FinishRow {
        reason: FinishReason::Stop,
        openai: spelled("stop", &["stop"]),
        anthropic: spelled("end_turn", &["end_turn", "stop_sequence", "pause_turn"]),
        gemini: spelled("STOP", &["STOP"]),
        bedrock: spelled("end_turn", &["end_turn", "stop_sequence"]),
        cohere: spelled("COMPLETE", &["COMPLETE", "STOP_SEQUENCE"]),
        mistral: spelled("stop", &["stop"]),
        note: "Anthropic gets `stop_sequence` (and the sequence) when one matched.",
    },
    FinishRow {
        reason: FinishReason::Length,
        openai: spelled("length", &["length"]),
        anthropic: spelled(
            "max_tokens",
            &["max_tokens", "model_context_window_exceeded"],
        ),
        gemini: spelled("MAX_TOKENS", &["MAX_TOKENS"]),
        bedrock: spelled(
            "max_tokens",
            &["max_tokens", "model_context_window_exceeded"],
        ),
        cohere: spelled("MAX_TOKENS", &["MAX_TOKENS"]),
        mistral: spelled("length", &["length", "model_length"]),
        note: "Mistral's `model_length` is the context window filling up.",
    },
    FinishRow {
        reason: FinishReason::ToolCalls,
        openai: spelled("tool_calls", &["tool_calls", "function_call"]),
        anthropic: spelled("tool_use", &["tool_use"]),
        gemini: spelled("STOP", &[]),
        bedrock: spelled("tool_use", &["tool_use"]),
        cohere: spelled("TOOL_CALL", &["TOOL_CALL"]),
        mistral: spelled("tool_calls", &["tool_calls"]),
        note: "Gemini has no tool-call reason: `STOP` with `functionCall` parts reads as \
               `tool_calls`.",
    },
    FinishRow {
        reason: FinishReason::ContentFilter,
        openai: spelled("content_filter", &["content_filter"]),
        anthropic: spelled("refusal", &["refusal"]),
        gemini: spelled(
            "SAFETY",
            &[
                "SAFETY",
                "RECITATION",
                "BLOCKLIST",
                "PROHIBITED_CONTENT",
                "SPII",
                "IMAGE_SAFETY",
                "IMAGE_PROHIBITED_CONTENT",
                "IMAGE_RECITATION",
            ],
        ),
        bedrock: spelled(
            "content_filtered",
            &["content_filtered", "guardrail_intervened"],
        ),
        cohere: spelled("ERROR", &[]),
        mistral: spelled("stop", &[]),
        note: "Cohere and Mistral have no filter reason. A Gemini prompt blocked by \
               `promptFeedback.blockReason` is a content-filter error.",
    },
    FinishRow {
        reason: FinishReason::Error,
        openai: spelled("stop", &["error"]),
        anthropic: spelled("end_turn", &[]),
        gemini: spelled(
            "OTHER",
            &[
                "OTHER",
                "MALFORMED_FUNCTION_CALL",
                "UNEXPECTED_TOOL_CALL",
                "TOO_MANY_TOOL_CALLS",
                "LANGUAGE",
                "IMAGE_OTHER",
                "NO_IMAGE",
            ],
        ),
        bedrock: spelled(
            "malformed_model_output",
            &["malformed_model_output", "malformed_tool_use"],
        ),
        cohere: spelled("ERROR", &["ERROR", "TIMEOUT"]),
        mistral: spelled("error", &["error"]),
        note: "Neither client format has an error reason (strict SDKs reject unknown values).",
    },
];

/// The normalized finish reason of a provider's spelling.
pub fn finish_reason_from(provider: Provider, value: &str) -> FinishReason {
    FINISH_REASONS
        .iter()
        .find(|row| row.spelling(provider).read.contains(&value))
        .map_or(FinishReason::Stop, |row| row.reason)
}

/// A provider's spelling of a finish reason. `matched_stop_sequence` tells Anthropic's
/// `stop_sequence` from `end_turn` (and Bedrock's, Cohere's `STOP_SEQUENCE`).
pub fn finish_reason_to(
    provider: Provider,
    reason: FinishReason,
    matched_stop_sequence: bool,
) -> &'static str {
    if reason == FinishReason::Stop && matched_stop_sequence {
        match provider {
            Provider::Anthropic | Provider::Bedrock => return "stop_sequence",
            Provider::Cohere => return "STOP_SEQUENCE",
            _ => {}
        }
    }
    FINISH_REASONS
        .iter()
        .find(|row| row.reason == reason)
        .map_or("stop", |row| row.spelling(provider).sent)
}

/// The tool choice table, documentation rows: normalized, then one column per protocol in the
/// order of [`Provider::ALL`].
pub static TOOL_CHOICES: &[[&str; 7]] = &[
    [
        "Auto",
        "\"auto\"",
        "{type: auto}",
        "mode AUTO",
        "{auto: {}}",
        "— (left out: the default)",
        "\"auto\"",
    ],
    [
        "None",
        "\"none\"",
        "{type: none}",
        "mode NONE",
        "— (no toolChoice; tools still listed when the conversation has tool blocks)",
        "\"NONE\"",
        "\"none\"",
    ],
    [
        "Required",
        "\"required\"",
        "{type: any}",
        "mode ANY",
        "{any: {}}",
        "\"REQUIRED\"",
        "\"any\" (also read: \"required\")",
    ],
    [
        "Tool(name)",
        "{type: function, function: {name}}",
        "{type: tool, name}",
        "mode ANY, allowedFunctionNames [name]",
        "{tool: {name}}",
        "\"REQUIRED\" (only that tool sent)",
        "{type: function, function: {name}}",
    ],
];

/// The usage table, documentation rows: normalized, then one column per protocol in the order
/// of [`Provider::ALL`].
pub static USAGE_FIELDS: &[[&str; 7]] = &[
    [
        "input_tokens (all prompt tokens)",
        "prompt_tokens",
        "input_tokens + cache_read_input_tokens + cache_creation_input_tokens",
        "promptTokenCount + toolUsePromptTokenCount",
        "inputTokens + cacheReadInputTokens + cacheWriteInputTokens",
        "usage.billed_units.input_tokens (else usage.tokens.input_tokens)",
        "prompt_tokens",
    ],
    [
        "output_tokens",
        "completion_tokens",
        "output_tokens",
        "candidatesTokenCount + thoughtsTokenCount",
        "outputTokens",
        "usage.billed_units.output_tokens (else usage.tokens.output_tokens)",
        "completion_tokens",
    ],
    [
        "cached_input_tokens (part of input_tokens)",
        "prompt_tokens_details.cached_tokens",
        "cache_read_input_tokens",
        "cachedContentTokenCount",
        "cacheReadInputTokens",
        "usage.cached_tokens",
        "—",
    ],
    [
        "cache_write_input_tokens (part of input_tokens)",
        "—",
        "cache_creation_input_tokens",
        "—",
        "cacheWriteInputTokens",
        "—",
        "—",
    ],
    [
        "reasoning_tokens (part of output_tokens)",
        "completion_tokens_details.reasoning_tokens",
        "— (counted in output_tokens)",
        "thoughtsTokenCount",
        "— (counted in outputTokens)",
        "—",
        "—",
    ],
    [
        "total (computed)",
        "total_tokens",
        "— (computed)",
        "totalTokenCount",
        "totalTokens",
        "— (computed)",
        "total_tokens",
    ],
];

/// Anthropic's usage counts → normalized (inclusive) usage. Anthropic's `input_tokens` leaves
/// out the tokens read from and written to the cache; ours counts them.
pub fn usage_from_anthropic(
    input_tokens: u32,
    output_tokens: u32,
    cache_read: Option<u32>,
    cache_write: Option<u32>,
) -> Usage {
    Usage {
        input_tokens: input_tokens
            .saturating_add(cache_read.unwrap_or(0))
            .saturating_add(cache_write.unwrap_or(0)),
        output_tokens,
        cached_input_tokens: cache_read,
        cache_write_input_tokens: cache_write,
        reasoning_tokens: None,
    }
}

/// Normalized usage → Anthropic's `input_tokens` (uncached part only).
pub fn anthropic_input_tokens(usage: &Usage) -> u32 {
    usage
        .input_tokens
        .saturating_sub(usage.cached_input_tokens.unwrap_or(0))
        .saturating_sub(usage.cache_write_input_tokens.unwrap_or(0))
}

/// What a model does with a parameter it cannot honour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsupportedPolicy {
    /// Leave it out (or clamp it) and say so in a warning.
    #[default]
    Drop,
    /// Fail the request with a 400 naming the parameter.
    Reject,
}

/// What the router knows about a target model: its catalog entry, as far as translation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelProfile {
    /// The model's name at the provider.
    pub upstream_model: String,
    /// Sent as Anthropic's required `max_tokens` when the request has none.
    pub default_max_tokens: u32,
    pub on_unsupported: UnsupportedPolicy,
    /// The model supports schema-constrained output and strict tools (Anthropic
    /// `output_config.format`).
    pub structured_outputs: bool,
    /// Parameters this model does not honour although its provider has them (e.g. `stop` and
    /// `temperature` on OpenAI's reasoning models).
    pub unsupported: Vec<Param>,
}

impl ModelProfile {
    /// A profile with the defaults: 4096 output tokens, drop with a warning, no structured
    /// outputs, nothing else unsupported.
    pub fn new(upstream_model: impl Into<String>) -> Self {
        Self {
            upstream_model: upstream_model.into(),
            default_max_tokens: 4096,
            on_unsupported: UnsupportedPolicy::Drop,
            structured_outputs: false,
            unsupported: Vec::new(),
        }
    }

    fn has(&self, capability: Capability) -> bool {
        match capability {
            Capability::StructuredOutputs => self.structured_outputs,
        }
    }
}

/// A parameter left out or changed on the way to the provider, or ignored on the way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub param: String,
    pub message: String,
}

impl Warning {
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.param, self.message)
    }
}

/// The value of an `x-agenthub-warnings` header: the warnings joined by `; `, every character
/// that a header value cannot carry replaced by `?`. `None` when there is nothing to say.
pub fn warnings_header(warnings: &[Warning]) -> Option<String> {
    if warnings.is_empty() {
        return None;
    }
    let joined = warnings
        .iter()
        .map(Warning::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    Some(
        joined
            .chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '?'
                }
            })
            .collect(),
    )
}

/// A value with the warnings its translation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated<T> {
    pub value: T,
    pub warnings: Vec<Warning>,
}

/// Decides, parameter by parameter, what reaches one target, and collects the warnings.
#[derive(Debug)]
pub struct Negotiation<'a> {
    provider: Provider,
    profile: &'a ModelProfile,
    warnings: Vec<Warning>,
}

impl<'a> Negotiation<'a> {
    pub fn new(provider: Provider, profile: &'a ModelProfile) -> Self {
        Self {
            provider,
            profile,
            warnings: Vec::new(),
        }
    }

    pub fn profile(&self) -> &ModelProfile {
        self.profile
    }

    /// Whether the target honours `param`.
    pub fn supports(&self, param: Param) -> bool {
        if self.profile.unsupported.contains(&param) {
            return false;
        }
        match param.field_of(self.provider) {
            Field::Native(_) => true,
            Field::If(capability, _) => self.profile.has(capability),
            Field::Unsupported => false,
        }
    }

    /// For a parameter the request uses: `Ok(true)` to send it, `Ok(false)` to leave it out
    /// (a warning is recorded), or the rejection.
    pub fn allow(&mut self, param: Param) -> Result<bool> {
        if self.supports(param) {
            return Ok(true);
        }
        let message = format!(
            "not supported by {} model {}",
            self.provider, self.profile.upstream_model
        );
        self.refuse(param, "dropped", message).map(|()| false)
    }

    /// For a value the target cannot take as is: `Ok(())` to send it changed as `change` says
    /// (a warning is recorded), or the rejection.
    pub fn adjust(&mut self, param: Param, change: impl Into<String>) -> Result<()> {
        let change = change.into();
        let message = format!(
            "not supported as given by {} model {}",
            self.provider, self.profile.upstream_model
        );
        self.refuse(param, &change, message)
    }

    fn refuse(&mut self, param: Param, change: &str, message: String) -> Result<()> {
        match self.profile.on_unsupported {
            UnsupportedPolicy::Drop => {
                self.warnings
                    .push(Warning::new(param.field(), format!("{change} ({message})")));
                Ok(())
            }
            UnsupportedPolicy::Reject => Err(Error::Unsupported {
                param: param.field().to_owned(),
                message,
            }),
        }
    }

    /// A warning about a change that needs no policy (it keeps the meaning).
    pub fn warn(&mut self, param: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning::new(param, message));
    }

    /// Maps a temperature onto the target's range (see the module docs).
    pub fn temperature(&mut self, value: f64) -> Result<f64> {
        let max = self.provider.max_temperature();
        if value > max {
            self.adjust(Param::Temperature, format!("{value} clamped to {max}"))?;
            return Ok(max);
        }
        Ok(value)
    }

    /// Fits stop sequences into the target's limit.
    pub fn stop(&mut self, stop: &[String]) -> Result<Vec<String>> {
        if stop.is_empty() || !self.allow(Param::Stop)? {
            return Ok(Vec::new());
        }
        match self.provider.max_stop_sequences() {
            Some(max) if stop.len() > max => {
                self.adjust(
                    Param::Stop,
                    format!("{} stop sequences cut to the first {max}", stop.len()),
                )?;
                Ok(stop[..max].to_vec())
            }
            _ => Ok(stop.to_vec()),
        }
    }

    pub fn into_warnings(self) -> Vec<Warning> {
        self.warnings
    }
}

/// A field name in code style, a trailing parenthesis as prose: `stop` (up to 4).
fn code(text: &str) -> String {
    if text.starts_with('—') {
        return text.to_owned();
    }
    match text.split_once(" (") {
        Some((name, note)) => format!("`{name}` ({note}"),
        None => format!("`{text}`"),
    }
}

fn render(field: Field) -> String {
    match field {
        Field::Native(name) => code(name),
        Field::If(Capability::StructuredOutputs, name) => {
            format!("{} (models with structured outputs)", code(name))
        }
        Field::Unsupported => "— unsupported".to_owned(),
    }
}

fn spell(spelling: Spelling) -> String {
    let extra: Vec<String> = spelling
        .read
        .iter()
        .filter(|s| **s != spelling.sent)
        .map(|s| format!("`{s}`"))
        .collect();
    let sent = format!("`{}`", spelling.sent);
    match (spelling.read.contains(&spelling.sent), extra.is_empty()) {
        (true, true) => sent,
        (true, false) => format!("{sent} (also read: {})", extra.join(", ")),
        (false, true) => sent,
        (false, false) => format!("{sent} (also read: {})", extra.join(", ")),
    }
}

/// A table header: the leading columns, one column per protocol, the trailing columns.
fn header(out: &mut String, lead: &[&str], trail: &[&str]) {
    let names: Vec<&str> = lead
        .iter()
        .copied()
        .chain(Provider::ALL.iter().map(|p| p.title()))
        .chain(trail.iter().copied())
        .collect();
    out.push_str(&format!("| {} |\n", names.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(names.len())));
}

/// The normalization tables in Markdown, as the documentation shows them.
pub fn markdown() -> String {
    let mut out = String::new();
    header(&mut out, &["concept", "normalized"], &["rule"]);
    for row in PARAMS {
        let columns: Vec<String> = Provider::ALL
            .iter()
            .map(|p| render(row.field(*p)))
            .collect();
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            row.concept,
            row.normalized,
            columns.join(" | "),
            row.rule.split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    out.push_str(
        "\nFinish reasons (the spelling shown is sent; those in parentheses are also read; \
         unknown ones read as `stop`):\n\n",
    );
    header(&mut out, &["normalized"], &["note"]);
    for row in FINISH_REASONS {
        let columns: Vec<String> = Provider::ALL
            .iter()
            .map(|p| spell(row.spelling(*p)))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            row.reason.as_str(),
            columns.join(" | "),
            row.note.split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    out.push_str("\nTool choice:\n\n");
    header(&mut out, &["normalized"], &[]);
    for row in TOOL_CHOICES {
        let columns: Vec<String> = row.iter().map(|c| code(c)).collect();
        out.push_str(&format!("| {} |\n", columns.join(" | ")));
    }
    out.push_str(
        "\nUsage (normalized counts are inclusive: cached and cache-write tokens are part of the \
         input tokens):\n\n",
    );
    header(&mut out, &["normalized"], &[]);
    for row in USAGE_FIELDS {
        let columns: Vec<String> = row.iter().map(|c| code(c)).collect();
        out.push_str(&format!("| {} |\n", columns.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_param_has_one_row() {
        use Param::*;
        let all = [
            MaxOutputTokens,
            Temperature,
            TopP,
            TopK,
            Stop,
            N,
            Seed,
            User,
            Logprobs,
            FrequencyPenalty,
            PresencePenalty,
            LogitBias,
            JsonObject,
            JsonSchema,
            StrictTools,
            ParallelToolCalls,
            MessageName,
            ToolResultError,
            ToolResultImages,
        ];
        for param in all {
            let rows = PARAMS.iter().filter(|r| r.param == Some(param)).count();
            assert_eq!(rows, 1, "{param:?}");
        }
    }

    #[test]
    fn finish_reasons_round_trip_through_each_provider() {
        for row in FINISH_REASONS {
            for provider in Provider::ALL {
                let spelling = row.spelling(provider);
                for read in spelling.read {
                    assert_eq!(finish_reason_from(provider, read), row.reason);
                }
                let spelled = finish_reason_to(provider, row.reason, false);
                let back = finish_reason_from(provider, spelled);
                if spelling.read.contains(&spelled) {
                    assert_eq!(back, row.reason, "{provider} {spelled}");
                } else {
                    // A reason the format cannot say is sent as the nearest it can.
                    assert_ne!(back, row.reason, "{provider} {spelled}");
                }
            }
        }
        // Only these cannot be said in their format.
        let unsayable: Vec<(Provider, FinishReason)> = FINISH_REASONS
            .iter()
            .flat_map(|row| Provider::ALL.map(|p| (p, row)))
            .filter(|(p, row)| !row.spelling(*p).read.contains(&row.spelling(*p).sent))
            .map(|(p, row)| (p, row.reason))
            .collect();
        assert_eq!(
            unsayable,
            [
                (Provider::Gemini, FinishReason::ToolCalls),
                (Provider::Cohere, FinishReason::ContentFilter),
                (Provider::Mistral, FinishReason::ContentFilter),
                (Provider::OpenAi, FinishReason::Error),
                (Provider::Anthropic, FinishReason::Error),
            ]
        );
        assert_eq!(
            finish_reason_to(Provider::Anthropic, FinishReason::Stop, true),
            "stop_sequence"
        );
        assert_eq!(
            finish_reason_to(Provider::Cohere, FinishReason::Stop, true),
            "STOP_SEQUENCE"
        );
        assert_eq!(
            finish_reason_from(Provider::Mistral, "model_length"),
            FinishReason::Length
        );
        assert_eq!(
            finish_reason_from(Provider::Bedrock, "guardrail_intervened"),
            FinishReason::ContentFilter
        );
        for provider in Provider::ALL {
            assert_eq!(
                finish_reason_from(provider, "something_new"),
                FinishReason::Stop
            );
        }
    }

    #[test]
    fn every_protocol_has_a_column_and_limits() {
        for provider in Provider::ALL {
            assert!(provider.max_temperature() >= 1.0, "{provider}");
            // Every row names the concept for each protocol or marks it unsupported; the
            // concepts without a parameter (tools, system, ...) exist everywhere.
            for row in PARAMS.iter().filter(|r| r.param.is_none()) {
                assert_ne!(
                    row.field(provider),
                    Field::Unsupported,
                    "{provider} {}",
                    row.concept
                );
            }
        }
        assert_eq!(
            Param::Seed.field_of(Provider::Mistral),
            Field::Native("random_seed")
        );
        assert_eq!(
            Param::TopP.field_of(Provider::Cohere),
            Field::Native("p (0.01–0.99)")
        );
        assert_eq!(Param::N.field_of(Provider::Bedrock), Field::Unsupported);
        // Converse's structured outputs: only for models that have them.
        for param in [Param::JsonSchema, Param::StrictTools] {
            assert!(matches!(
                param.field_of(Provider::Bedrock),
                Field::If(Capability::StructuredOutputs, _)
            ));
        }
        assert_eq!(
            Param::JsonObject.field_of(Provider::Bedrock),
            Field::Unsupported
        );
        assert_eq!(Provider::Gemini.max_stop_sequences(), Some(5));
        assert_eq!(Provider::Mistral.max_temperature(), 1.5);
    }

    #[test]
    fn anthropic_usage_is_made_inclusive_and_back() {
        let usage = usage_from_anthropic(100, 20, Some(1000), Some(50));
        assert_eq!(usage.input_tokens, 1150);
        assert_eq!(usage.cached_input_tokens, Some(1000));
        assert_eq!(anthropic_input_tokens(&usage), 100);
    }

    #[test]
    fn temperature_is_clamped_not_scaled() {
        let profile = ModelProfile::new("claude");
        let mut n = Negotiation::new(Provider::Anthropic, &profile);
        assert_eq!(n.temperature(0.7).unwrap(), 0.7);
        assert_eq!(n.temperature(1.0).unwrap(), 1.0);
        assert_eq!(n.temperature(1.6).unwrap(), 1.0);
        let warnings = n.into_warnings();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].param, "temperature");
        assert!(warnings[0].message.contains("1.6 clamped to 1"));

        let strict = ModelProfile {
            on_unsupported: UnsupportedPolicy::Reject,
            ..ModelProfile::new("claude")
        };
        let mut n = Negotiation::new(Provider::Anthropic, &strict);
        let error = n.temperature(1.6).unwrap_err();
        assert_eq!(error.param(), Some("temperature"));
        assert_eq!(error.kind(), agenthub_policy::ErrorKind::InvalidRequest);
        // OpenAI's range holds any value Anthropic accepts.
        let mut n = Negotiation::new(Provider::OpenAi, &strict);
        assert_eq!(n.temperature(1.0).unwrap(), 1.0);
    }

    #[test]
    fn unsupported_params_follow_the_policy() {
        let drop = ModelProfile::new("claude");
        let mut n = Negotiation::new(Provider::Anthropic, &drop);
        assert!(!n.allow(Param::Seed).unwrap());
        assert!(n.allow(Param::TopK).unwrap());
        assert!(!n.allow(Param::JsonSchema).unwrap());
        assert_eq!(
            n.into_warnings()
                .iter()
                .map(|w| w.param.as_str())
                .collect::<Vec<_>>(),
            ["seed", "response_format"]
        );

        let capable = ModelProfile {
            structured_outputs: true,
            on_unsupported: UnsupportedPolicy::Reject,
            unsupported: vec![Param::Temperature],
            ..ModelProfile::new("claude")
        };
        let mut n = Negotiation::new(Provider::Anthropic, &capable);
        assert!(n.allow(Param::JsonSchema).unwrap());
        let error = n.allow(Param::Temperature).unwrap_err();
        assert_eq!(error.param(), Some("temperature"));
        assert!(
            error
                .to_string()
                .contains("not supported by anthropic model claude")
        );
    }

    #[test]
    fn stop_sequences_fit_the_limit() {
        let profile = ModelProfile::new("gpt");
        let stop: Vec<String> = (0..6).map(|i| i.to_string()).collect();
        let mut n = Negotiation::new(Provider::OpenAi, &profile);
        assert_eq!(n.stop(&stop).unwrap(), ["0", "1", "2", "3"]);
        assert_eq!(n.into_warnings().len(), 1);
        let mut n = Negotiation::new(Provider::Anthropic, &profile);
        assert_eq!(n.stop(&stop).unwrap().len(), 6);
        let mut n = Negotiation::new(Provider::Gemini, &profile);
        assert_eq!(n.stop(&stop).unwrap().len(), 5);
    }

    #[test]
    fn warnings_header_is_a_valid_header_value() {
        let header = warnings_header(&[
            Warning::new("seed", "dropped (not supported)"),
            Warning::new("temperature", "1.5 clamped to 1 – é\n"),
        ])
        .unwrap();
        assert_eq!(
            header,
            "seed: dropped (not supported); temperature: 1.5 clamped to 1 ? ??"
        );
        assert_eq!(warnings_header(&[]), None);
    }
}
