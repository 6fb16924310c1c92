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

/// A provider wire protocol. OpenAI-compatible servers speak [`Provider::OpenAi`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    OpenAi,
    Anthropic,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }

    /// The highest temperature the provider accepts (the lowest is 0 everywhere).
    pub fn max_temperature(self) -> f64 {
        match self {
            Self::OpenAi => 2.0,
            Self::Anthropic => 1.0,
        }
    }

    /// The most stop sequences the provider accepts, when it documents a limit.
    pub fn max_stop_sequences(self) -> Option<usize> {
        match self {
            Self::OpenAi => Some(4),
            Self::Anthropic => None,
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
        let row = self.row();
        match provider {
            Provider::OpenAi => row.openai,
            Provider::Anthropic => row.anthropic,
        }
    }
}

static UNKNOWN_ROW: ParamRow = ParamRow {
    concept: "",
    param: None,
    normalized: "",
    openai: Field::Unsupported,
    anthropic: Field::Unsupported,
    gemini: Field::Unsupported,
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

/// One row of the normalization table.
#[derive(Debug)]
pub struct ParamRow {
    pub concept: &'static str,
    /// The parameter, when a target may not honour it.
    pub param: Option<Param>,
    /// Where the concept lives in [`crate::model::ChatRequest`].
    pub normalized: &'static str,
    pub openai: Field,
    pub anthropic: Field,
    /// Documentation only, for the Gemini adapter to come.
    pub gemini: Field,
    pub rule: &'static str,
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
        rule: "Same value (0–1).",
    },
    ParamRow {
        concept: "top-k sampling",
        param: Some(Param::TopK),
        normalized: "sampling.top_k",
        openai: Field::Unsupported,
        anthropic: Field::Native("top_k"),
        gemini: Field::Native("generationConfig.topK"),
        rule: "Same value.",
    },
    ParamRow {
        concept: "stop sequences",
        param: Some(Param::Stop),
        normalized: "stop",
        openai: Field::Native("stop (string or up to 4 strings)"),
        anthropic: Field::Native("stop_sequences"),
        gemini: Field::Native("generationConfig.stopSequences (up to 5)"),
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
        rule: "`n` = 1 (or absent) needs no support; `n` > 1 is unsupported where marked.",
    },
    ParamRow {
        concept: "seed",
        param: Some(Param::Seed),
        normalized: "seed",
        openai: Field::Native("seed"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.seed"),
        rule: "Same value.",
    },
    ParamRow {
        concept: "end-user id",
        param: Some(Param::User),
        normalized: "user",
        openai: Field::Native("user"),
        anthropic: Field::Native("metadata.user_id"),
        gemini: Field::Unsupported,
        rule: "Same string.",
    },
    ParamRow {
        concept: "log probabilities",
        param: Some(Param::Logprobs),
        normalized: "logprobs",
        openai: Field::Native("logprobs, top_logprobs"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.responseLogprobs, logprobs"),
        rule: "Returned per choice in `choices[].logprobs.content` (non-streamed answers).",
    },
    ParamRow {
        concept: "frequency penalty",
        param: Some(Param::FrequencyPenalty),
        normalized: "sampling.frequency_penalty",
        openai: Field::Native("frequency_penalty"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.frequencyPenalty"),
        rule: "Same value (−2…2).",
    },
    ParamRow {
        concept: "presence penalty",
        param: Some(Param::PresencePenalty),
        normalized: "sampling.presence_penalty",
        openai: Field::Native("presence_penalty"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.presencePenalty"),
        rule: "Same value (−2…2).",
    },
    ParamRow {
        concept: "logit bias",
        param: Some(Param::LogitBias),
        normalized: "sampling.logit_bias",
        openai: Field::Native("logit_bias"),
        anthropic: Field::Unsupported,
        gemini: Field::Unsupported,
        rule: "Token ids are the provider's own; passed only to OpenAI.",
    },
    ParamRow {
        concept: "JSON mode",
        param: Some(Param::JsonObject),
        normalized: "response_format: JsonObject",
        openai: Field::Native("response_format {type: json_object}"),
        anthropic: Field::Unsupported,
        gemini: Field::Native("generationConfig.responseMimeType = application/json"),
        rule: "Anthropic has no schema-less JSON mode.",
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
        gemini: Field::Native("generationConfig.responseJsonSchema"),
        rule: "The schema is passed unchanged. Anthropic has no schema name: ingress names it \
               `response`. Anthropic honours it only on models whose profile sets \
               `structured_outputs`.",
    },
    ParamRow {
        concept: "tools",
        param: None,
        normalized: "tools",
        openai: Field::Native("tools[] {type: function, function {name, description, parameters}}"),
        anthropic: Field::Native("tools[] {name, description, input_schema}"),
        gemini: Field::Native("tools[].functionDeclarations"),
        rule: "`parameters` ↔ `input_schema`. A tool without parameters gets \
               `{\"type\":\"object\",\"properties\":{}}` where a schema is required. Tool-call \
               arguments: OpenAI's JSON text ↔ Anthropic's `input` object (parsed when encoding; \
               text that is not JSON is rejected).",
    },
    ParamRow {
        concept: "strict tools",
        param: Some(Param::StrictTools),
        normalized: "tools[].strict",
        openai: Field::Native("tools[].function.strict"),
        anthropic: Field::If(Capability::StructuredOutputs, "tools[].strict"),
        gemini: Field::Unsupported,
        rule: "Same flag.",
    },
    ParamRow {
        concept: "tool choice",
        param: None,
        normalized: "tool_choice",
        openai: Field::Native("tool_choice"),
        anthropic: Field::Native("tool_choice"),
        gemini: Field::Native("toolConfig.functionCallingConfig"),
        rule: "See the tool choice table. Without tools, a tool choice is not sent.",
    },
    ParamRow {
        concept: "parallel tool calls",
        param: Some(Param::ParallelToolCalls),
        normalized: "parallel_tool_calls",
        openai: Field::Native("parallel_tool_calls"),
        anthropic: Field::Native("tool_choice.disable_parallel_tool_use (inverted)"),
        gemini: Field::Unsupported,
        rule: "`parallel_tool_calls: false` ↔ `disable_parallel_tool_use: true` (on an `auto` \
               choice when none is given).",
    },
    ParamRow {
        concept: "system prompt",
        param: None,
        normalized: "messages[]: Message::System",
        openai: Field::Native("messages[] with role system or developer"),
        anthropic: Field::Native("system (string or text blocks)"),
        gemini: Field::Native("systemInstruction"),
        rule: "Every system message is hoisted, in order, into Anthropic's top-level `system` \
               (one text block per part); one that came after the conversation started is \
               hoisted with a warning. Anthropic's `system` becomes leading system messages.",
    },
    ParamRow {
        concept: "images",
        param: None,
        normalized: "ContentPart::Image",
        openai: Field::Native("image_url part {url, detail}"),
        anthropic: Field::Native("image block {source: {type: url or base64}}"),
        gemini: Field::Native("inlineData / fileData parts"),
        rule: "A `data:<type>;base64,` URI ↔ a base64 source; other URLs ↔ a url source. \
               `detail` is a hint only OpenAI has: dropped elsewhere without a warning.",
    },
    ParamRow {
        concept: "tool results",
        param: None,
        normalized: "Message::Tool",
        openai: Field::Native("messages[] with role tool"),
        anthropic: Field::Native("tool_result blocks in a user message"),
        gemini: Field::Native("functionResponse parts"),
        rule: "Consecutive tool results (and a user message right after them) merge into one \
               Anthropic user message, tool results first; an Anthropic user message splits into \
               tool messages, then the rest.",
    },
    ParamRow {
        concept: "tool result error flag",
        param: Some(Param::ToolResultError),
        normalized: "Message::Tool.is_error",
        openai: Field::Unsupported,
        anthropic: Field::Native("tool_result.is_error"),
        gemini: Field::Unsupported,
        rule: "OpenAI gets the result text alone.",
    },
    ParamRow {
        concept: "images in tool results",
        param: Some(Param::ToolResultImages),
        normalized: "Message::Tool.content",
        openai: Field::Unsupported,
        anthropic: Field::Native("tool_result.content image blocks"),
        gemini: Field::Unsupported,
        rule: "OpenAI tool messages carry text only.",
    },
    ParamRow {
        concept: "participant name",
        param: Some(Param::MessageName),
        normalized: "Message::*.name",
        openai: Field::Native("messages[].name"),
        anthropic: Field::Unsupported,
        gemini: Field::Unsupported,
        rule: "Same string.",
    },
];

/// One row of the finish reason table: the first spelling of each list is the one sent, all
/// are read. An unknown spelling is read as `stop`.
#[derive(Debug)]
pub struct FinishRow {
    pub reason: FinishReason,
    pub openai_out: &'static str,
    pub openai_in: &'static [&'static str],
    pub anthropic_out: &'static str,
    pub anthropic_in: &'static [&'static str],
    pub gemini: &'static str,
    pub note: &'static str,
}

pub static FINISH_REASONS: &[FinishRow] = &[
    FinishRow {
        reason: FinishReason::Stop,
        openai_out: "stop",
        openai_in: &["stop"],
        anthropic_out: "end_turn",
        anthropic_in: &["end_turn", "stop_sequence", "pause_turn"],
        gemini: "STOP",
        note: "Anthropic gets `stop_sequence` (and the sequence) when one matched.",
    },
    FinishRow {
        reason: FinishReason::Length,
        openai_out: "length",
        openai_in: &["length"],
        anthropic_out: "max_tokens",
        anthropic_in: &["max_tokens", "model_context_window_exceeded"],
        gemini: "MAX_TOKENS",
        note: "",
    },
    FinishRow {
        reason: FinishReason::ToolCalls,
        openai_out: "tool_calls",
        openai_in: &["tool_calls", "function_call"],
        anthropic_out: "tool_use",
        anthropic_in: &["tool_use"],
        gemini: "STOP with functionCall parts",
        note: "",
    },
    FinishRow {
        reason: FinishReason::ContentFilter,
        openai_out: "content_filter",
        openai_in: &["content_filter"],
        anthropic_out: "refusal",
        anthropic_in: &["refusal"],
        gemini: "SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII",
        note: "",
    },
    FinishRow {
        reason: FinishReason::Error,
        openai_out: "stop",
        openai_in: &["error"],
        anthropic_out: "end_turn",
        anthropic_in: &[],
        gemini: "MALFORMED_FUNCTION_CALL, OTHER",
        note: "Neither client format has an error reason (strict SDKs reject unknown values).",
    },
];

/// The normalized finish reason of a provider's spelling.
pub fn finish_reason_from(provider: Provider, value: &str) -> FinishReason {
    FINISH_REASONS
        .iter()
        .find(|row| match provider {
            Provider::OpenAi => row.openai_in.contains(&value),
            Provider::Anthropic => row.anthropic_in.contains(&value),
        })
        .map_or(FinishReason::Stop, |row| row.reason)
}

/// A provider's spelling of a finish reason. `matched_stop_sequence` tells Anthropic's
/// `stop_sequence` from `end_turn`.
pub fn finish_reason_to(
    provider: Provider,
    reason: FinishReason,
    matched_stop_sequence: bool,
) -> &'static str {
    match (provider, reason) {
        (Provider::OpenAi, FinishReason::Error) => "stop",
        (Provider::OpenAi, reason) => reason.as_str(),
        (Provider::Anthropic, FinishReason::Stop) if matched_stop_sequence => "stop_sequence",
        (Provider::Anthropic, FinishReason::Stop | FinishReason::Error) => "end_turn",
        (Provider::Anthropic, FinishReason::Length) => "max_tokens",
        (Provider::Anthropic, FinishReason::ToolCalls) => "tool_use",
        (Provider::Anthropic, FinishReason::ContentFilter) => "refusal",
    }
}

/// The tool choice table, documentation rows: (normalized, OpenAI, Anthropic, Gemini).
pub static TOOL_CHOICES: &[[&str; 4]] = &[
    ["Auto", "\"auto\"", "{type: auto}", "mode AUTO"],
    ["None", "\"none\"", "{type: none}", "mode NONE"],
    ["Required", "\"required\"", "{type: any}", "mode ANY"],
    [
        "Tool(name)",
        "{type: function, function: {name}}",
        "{type: tool, name}",
        "mode ANY, allowedFunctionNames [name]",
    ],
];

/// The usage table, documentation rows: (normalized, OpenAI, Anthropic, Gemini).
pub static USAGE_FIELDS: &[[&str; 4]] = &[
    [
        "input_tokens (all prompt tokens)",
        "prompt_tokens",
        "input_tokens + cache_read_input_tokens + cache_creation_input_tokens",
        "promptTokenCount",
    ],
    [
        "output_tokens",
        "completion_tokens",
        "output_tokens",
        "candidatesTokenCount + thoughtsTokenCount",
    ],
    [
        "cached_input_tokens (part of input_tokens)",
        "prompt_tokens_details.cached_tokens",
        "cache_read_input_tokens",
        "cachedContentTokenCount",
    ],
    [
        "cache_write_input_tokens (part of input_tokens)",
        "—",
        "cache_creation_input_tokens",
        "—",
    ],
    [
        "reasoning_tokens (part of output_tokens)",
        "completion_tokens_details.reasoning_tokens",
        "— (counted in output_tokens)",
        "thoughtsTokenCount",
    ],
    [
        "total (computed)",
        "total_tokens",
        "— (computed)",
        "totalTokenCount",
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

fn spell(out: &str, read: &[&str]) -> String {
    let extra: Vec<String> = read
        .iter()
        .filter(|s| **s != out)
        .map(|s| format!("`{s}`"))
        .collect();
    if extra.is_empty() {
        format!("`{out}`")
    } else {
        format!("`{out}` (also read: {})", extra.join(", "))
    }
}

/// The normalization tables in Markdown, as the documentation shows them.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("| concept | normalized | OpenAI | Anthropic | Gemini (planned) | rule |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for row in PARAMS {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} |\n",
            row.concept,
            row.normalized,
            render(row.openai),
            render(row.anthropic),
            render(row.gemini),
            row.rule.split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    out.push_str(
        "\nFinish reasons (the spelling shown is sent; those in parentheses are also read; \
         unknown ones read as `stop`):\n\n",
    );
    out.push_str(
        "| normalized | OpenAI | Anthropic | Gemini (planned) | note |\n|---|---|---|---|---|\n",
    );
    for row in FINISH_REASONS {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            row.reason.as_str(),
            spell(row.openai_out, row.openai_in),
            spell(row.anthropic_out, row.anthropic_in),
            row.gemini,
            row.note,
        ));
    }
    out.push_str("\nTool choice:\n\n| normalized | OpenAI | Anthropic | Gemini (planned) |\n|---|---|---|---|\n");
    for row in TOOL_CHOICES {
        out.push_str(&format!(
            "| `{}` | `{}` | `{}` | `{}` |\n",
            row[0], row[1], row[2], row[3]
        ));
    }
    out.push_str(
        "\nUsage (normalized counts are inclusive: cached and cache-write tokens are part of the \
         input tokens):\n\n| normalized | OpenAI | Anthropic | Gemini (planned) |\n|---|---|---|---|\n",
    );
    for row in USAGE_FIELDS {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            code(row[0]),
            code(row[1]),
            code(row[2]),
            code(row[3])
        ));
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
            for provider in [Provider::OpenAi, Provider::Anthropic] {
                let spelled = finish_reason_to(provider, row.reason, false);
                let back = finish_reason_from(provider, spelled);
                if row.reason == FinishReason::Error {
                    // Neither provider can say "error" to its clients.
                    assert_eq!(back, FinishReason::Stop);
                } else {
                    assert_eq!(back, row.reason, "{provider} {spelled}");
                }
            }
        }
        assert_eq!(
            finish_reason_to(Provider::Anthropic, FinishReason::Stop, true),
            "stop_sequence"
        );
        assert_eq!(
            finish_reason_from(Provider::OpenAi, "something_new"),
            FinishReason::Stop
        );
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
