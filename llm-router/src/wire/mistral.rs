//! Mistral chat completions and embeddings (`api.mistral.ai/v1`), as in Mistral's API reference,
//! where they differ from OpenAI's: the request (`random_seed`, `tool_choice: "any"`, an
//! assistant `prefix`, no `user`, `logprobs`, `logit_bias` or `stream_options` — Mistral rejects
//! unknown fields with a 422), answers whose content may be a list of chunks (text, thinking,
//! references) and whose tool-call arguments may be an object, and the error bodies. Message
//! contents, tool definitions, tool choices, response formats, stop sequences and usage are
//! OpenAI's shapes and reuse [`super::openai`]'s types.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::openai::{Content, ResponseFormat, Stop, Tool, ToolCall, ToolChoice, Usage};

// ---------------------------------------------------------------------------------------------
// Request

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// OpenAI's `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `"auto"`, `"none"`, `"any"`, `"required"` or a named function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
}

/// A message of the conversation. Unlike OpenAI's, a system or user message has no `name`, and
/// a last assistant message is a prefix to continue only when it says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum ChatMessage {
    System {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<ToolCall>>,
        /// The message is the beginning of the answer, which the model continues. Mistral refuses
        /// a conversation that ends with an assistant message without it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        prefix: bool,
    },
    Tool {
        content: Content,
        tool_call_id: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Response

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionResponse {
    pub id: String,
    #[serde(default)]
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    #[serde(default)]
    pub message: Option<ResponseMessage>,
    /// `stop`, `length`, `model_length`, `error` or `tool_calls`.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResponseMessage {
    #[serde(default)]
    pub content: Option<ResponseContent>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ResponseToolCall>>,
}

/// An answer's content: a string, or chunks (reasoning models send thinking chunks first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponseContent {
    Text(String),
    Chunks(Vec<ResponseChunk>),
}

impl ResponseContent {
    /// The text of the answer: the string, or the text chunks joined (thinking, references and
    /// other chunks are not part of it).
    pub fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Chunks(chunks) => chunks
                .iter()
                .filter_map(|chunk| match chunk {
                    ResponseChunk::Text { text } => Some(text.as_str()),
                    ResponseChunk::Other => None,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseChunk {
    Text {
        text: String,
    },
    #[serde(other)]
    Other,
}

/// A tool call in an answer or a stream chunk. Mistral sends each call whole, arguments included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseToolCall {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
    pub function: ResponseFunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFunctionCall {
    #[serde(default)]
    pub name: Option<String>,
    /// JSON text, or (the API allows it) the object itself.
    #[serde(default)]
    pub arguments: Option<Value>,
}

impl ResponseFunctionCall {
    /// The arguments as JSON text.
    pub fn arguments_text(&self) -> Option<String> {
        match &self.arguments {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        }
    }
}

/// One `data:` payload of a streamed answer; the stream ends with `data: [DONE]`, and the chunk
/// with the finish reason carries the usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub content: Option<ResponseContent>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ResponseToolCall>>,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// `{"object": "error", "message", "type", "param", "code"}`. The message is usually a string;
/// for a request that fails validation it may be an object holding the validation `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub object: String,
    pub message: Value,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    /// A string (`"1910"`), a number or null.
    #[serde(default)]
    pub code: Option<Value>,
    /// The status the error stands for, sent by some errors (and the only status an error inside
    /// a stream has).
    #[serde(default)]
    pub raw_status_code: Option<u16>,
}

/// A request that failed validation (422): `{"detail": [{"type", "loc", "msg", "input"}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationErrorBody {
    pub detail: Vec<ValidationError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationError {
    /// Where in the request: `["body", "messages", 0, "content"]`.
    #[serde(default)]
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Embeddings

/// `POST /v1/embeddings`. The answer is OpenAI's shape ([`super::openai::EmbeddingsResponse`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    /// A string or a list of strings; token arrays are not taken.
    pub input: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dimension: Option<u32>,
    /// `float` or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
}
