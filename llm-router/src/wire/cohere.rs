//! Cohere Chat v2 and Embed v2 (`api.cohere.com`): request, response, stream events and error
//! body, as in Cohere's API reference (`POST /v2/chat`, `POST /v2/embed`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Request

/// `POST /v2/chat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Tool calls follow the tool definitions strictly (one flag for every tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Up to 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Non-negative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Top-k, 0–500 (0 disables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u32>,
    /// Top-p, 0.01–0.99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage {
    /// Text only.
    System {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        /// Text only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        /// What the model said it would do before calling tools.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_plan: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<ToolCall>>,
    },
    Tool {
        tool_call_id: String,
        /// A string (a JSON object's text, by Cohere's advice) or text blocks.
        content: Content,
    },
}

/// A string, or content blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Blocks(Vec<ContentBlock>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    /// User messages only.
    ImageUrl {
        image_url: ImageUrl,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// An `http(s)` URL or a base64 `data:` URI.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn function_type() -> String {
    "function".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text.
    #[serde(default)]
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDefinition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema; required.
    pub parameters: Value,
}

/// Without a tool choice the model decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ToolChoice {
    /// At least one tool call.
    Required,
    /// No tool call.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    /// Any JSON object, or one valid against `json_schema` (the schema itself, unnamed).
    JsonObject {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        json_schema: Option<Value>,
    },
}

// ---------------------------------------------------------------------------------------------
// Response

/// A complete answer. It names no model and no creation time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    /// `COMPLETE`, `STOP_SEQUENCE`, `MAX_TOKENS`, `TOOL_CALL`, `ERROR` or `TIMEOUT`.
    pub finish_reason: String,
    pub message: AssistantMessage,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub logprobs: Option<Vec<LogprobItem>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AssistantMessage {
    #[serde(default)]
    pub content: Option<Vec<ResponseBlock>>,
    #[serde(default)]
    pub tool_plan: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseBlock {
    Text {
        text: String,
    },
    /// Reasoning, and any block type added later.
    #[serde(other)]
    Other,
}

/// Counts are JSON numbers that may come as floats (`18.0`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// What the account is billed for.
    #[serde(default)]
    pub billed_units: Option<Units>,
    /// What the model read and wrote, Cohere's own prompt template included.
    #[serde(default)]
    pub tokens: Option<Units>,
    /// Prompt tokens that hit Cohere's inference cache.
    #[serde(default)]
    pub cached_tokens: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Units {
    #[serde(default)]
    pub input_tokens: Option<f64>,
    #[serde(default)]
    pub output_tokens: Option<f64>,
}

/// The log probabilities of one piece of text (one or more tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogprobItem {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub token_ids: Vec<u32>,
    /// One per token of the piece.
    #[serde(default)]
    pub logprobs: Vec<f64>,
}

// ---------------------------------------------------------------------------------------------
// Stream

/// One streamed event: `event: <type>`, and the same `type` in the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StreamEvent {
    MessageStart {
        #[serde(default)]
        id: Option<String>,
    },
    /// A text or thinking block begins (it may carry its first text).
    ContentStart {
        #[serde(default)]
        delta: EventDelta,
    },
    /// More text (`delta.message.content.text`) or thinking (`….thinking`).
    ContentDelta {
        #[serde(default)]
        delta: EventDelta,
    },
    /// More of the tool plan (`delta.message.tool_plan`).
    ToolPlanDelta {
        #[serde(default)]
        delta: EventDelta,
    },
    /// A tool call begins: `delta.message.tool_calls` has its id, name and first arguments.
    ToolCallStart {
        index: u32,
        #[serde(default)]
        delta: EventDelta,
    },
    /// More arguments: `delta.message.tool_calls.function.arguments`.
    ToolCallDelta {
        index: u32,
        #[serde(default)]
        delta: EventDelta,
    },
    ToolCallEnd {
        index: u32,
    },
    /// The last event: the finish reason and usage, or the error that ended generation.
    MessageEnd {
        #[serde(default)]
        delta: MessageEndDelta,
    },
    /// `content-end`, `citation-start`, `citation-end`, `debug`, and any later addition.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventDelta {
    #[serde(default)]
    pub message: DeltaMessage,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeltaMessage {
    #[serde(default)]
    pub content: Option<DeltaContent>,
    #[serde(default)]
    pub tool_plan: Option<String>,
    /// One tool call (an object, not a list, in stream events).
    #[serde(default)]
    pub tool_calls: Option<DeltaToolCall>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeltaContent {
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeltaToolCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<DeltaFunction>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeltaFunction {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageEndDelta {
    /// Why generation failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The body of every error answer: `{"id", "message"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub id: Option<String>,
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Embeddings

/// `POST /v2/embed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedRequest {
    pub model: String,
    /// At most 96.
    pub texts: Vec<String>,
    /// `search_document`, `search_query`, `classification`, `clustering` or `image`; required
    /// by v3 and later models.
    pub input_type: String,
    pub embedding_types: Vec<String>,
    /// `embed-v4` and later: 256, 512, 1024 or 1536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dimension: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedResponse {
    pub id: String,
    /// One list per requested type, each with one vector per input.
    pub embeddings: Embeddings,
    #[serde(default)]
    pub meta: Option<EmbedMeta>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Embeddings {
    #[serde(default)]
    pub float: Option<Vec<Vec<f32>>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EmbedMeta {
    #[serde(default)]
    pub billed_units: Option<Units>,
}

/// The most texts one embed call takes.
pub const MAX_EMBED_TEXTS: usize = 96;
