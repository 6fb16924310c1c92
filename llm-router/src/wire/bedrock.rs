//! Amazon Bedrock Converse: request, response, stream event payloads and error body, as in the
//! Bedrock Runtime API reference (`Converse`, `ConverseStream`, API version 2023-09-30).
//!
//! Converse's unions (a content block is exactly one of `text`, `image`, `toolUse`, …) are
//! structs of optional members: the adapter sets one, and reading skips members this type does
//! not know (`reasoningContent`, `citationsContent`, `cachePoint`, …), as AWS asks clients to.
//! Stream events arrive in the AWS event stream framing ([`super::eventstream`]): the event type
//! is a header, the payload one of the `*Event` types below, with a padding member `p` that is
//! ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Request

/// The body of `POST /model/{modelId}/converse` and `/converse-stream` (the model id is in the
/// path, streaming is chosen by the path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemContentBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Parameters of the model's own API (`{"top_k": 40}` for Anthropic's models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Map<String, Value>>,
    /// JSON pointers into the model's own answer to return in
    /// `additionalModelResponseFields` (`/stop_sequence`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_field_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Vec<ContentBlock>,
}

/// A content block: one member set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<ToolResultBlock>,
}

impl ContentBlock {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    pub fn image(image: ImageBlock) -> Self {
        Self {
            image: Some(image),
            ..Self::default()
        }
    }
}

/// `format` is `png`, `jpeg`, `gif` or `webp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBlock {
    pub format: String,
    pub source: ImageSource,
}

/// One member set: inline bytes (base64 in JSON) or an S3 object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_location: Option<S3Location>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    /// `s3://bucket/key`.
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    /// A JSON object.
    #[serde(default)]
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    #[serde(default)]
    pub content: Vec<ToolResultContentBlock>,
    /// `success` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A tool result's content block: one member set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultContentBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageBlock>,
}

/// A system prompt block: one member set (`text`; `guardContent` and `cachePoint` are not
/// sent).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SystemContentBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

impl InferenceConfig {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    pub tool_spec: ToolSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: ToolInputSchema,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInputSchema {
    pub json: Value,
}

/// `{"auto": {}}`, `{"any": {}}` or `{"tool": {"name": …}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    Auto {},
    Any {},
    Tool { name: String },
}

/// Structured output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputConfig {
    pub text_format: OutputFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputFormat {
    /// `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    pub structure: OutputFormatStructure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFormatStructure {
    pub json_schema: JsonSchemaDefinition,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaDefinition {
    /// The schema as JSON text, not as an object.
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Response

/// A complete answer. It has no id and does not name the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    pub output: ConverseOutput,
    pub stop_reason: String,
    pub usage: TokenUsage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

/// A union whose only member is `message`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConverseOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

/// Token counts. `inputTokens` leaves out the tokens read from and written to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Stream: the payload of each event type

/// `messageStart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageStartEvent {
    pub role: Role,
}

/// `contentBlockStart`: only tool use blocks are announced; text blocks begin with their
/// first delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStartEvent {
    #[serde(default)]
    pub start: ContentBlockStart,
    pub content_block_index: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseBlockStart>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlockStart {
    pub tool_use_id: String,
    pub name: String,
}

/// `contentBlockDelta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDeltaEvent {
    pub delta: ContentBlockDelta,
    pub content_block_index: u32,
}

/// One member set; reasoning and citation deltas are skipped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseBlockDelta>,
}

/// A piece of the tool input's JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlockDelta {
    pub input: String,
}

/// `contentBlockStop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStopEvent {
    pub content_block_index: u32,
}

/// `messageStop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStopEvent {
    pub stop_reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

/// `metadata`: the last event, with the usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataEvent {
    pub usage: TokenUsage,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error answer or a stream exception's payload: `{"message": …}`. The error type is in the
/// `x-amzn-ErrorType` header, in the body's `__type` for some (`com.amazon.coral…#Name`,
/// `Name:http://…`), or the stream message's `:exception-type`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default, alias = "Message", skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(rename = "__type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `modelStreamErrorException`: the status the model answered Bedrock with.
    #[serde(
        rename = "originalStatusCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub original_status_code: Option<u16>,
}

/// An error type as AWS spells it in headers and bodies, without a namespace or a URL:
/// `com.amazon.coral.service#ExpiredTokenException` and
/// `ValidationException:http://internal.amazon.com/coral/…` → the bare name.
pub fn error_type_name(raw: &str) -> &str {
    let name = raw.rsplit_once('#').map_or(raw, |(_, name)| name);
    let name = name.split_once(':').map_or(name, |(name, _)| name);
    name.trim()
}

/// The HTTP status Bedrock documents for each error type (stream exceptions are the same
/// types, spelled in lower camel case). Unknown types read as 500.
pub fn status_of_error_type(name: &str) -> u16 {
    let mut chars = name.chars();
    let upper: String = match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    };
    match upper.as_str() {
        "ValidationException" => 400,
        "ServiceQuotaExceededException" => 400,
        "AccessDeniedException" | "UnrecognizedClientException" | "ExpiredTokenException" => 403,
        "ResourceNotFoundException" => 404,
        "ModelTimeoutException" => 408,
        "ConflictException" => 409,
        "ModelErrorException" | "ModelStreamErrorException" => 424,
        "ThrottlingException" | "ModelNotReadyException" => 429,
        "ServiceUnavailableException" => 503,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unions_write_one_member_and_read_unknown_ones() {
        let block = ContentBlock::text("hi");
        assert_eq!(serde_json::to_string(&block).unwrap(), r#"{"text":"hi"}"#);
        let read: ContentBlock =
            serde_json::from_str(r#"{"reasoningContent":{"reasoningText":{"text":"hm"}}}"#)
                .unwrap();
        assert_eq!(read, ContentBlock::default());
        assert_eq!(
            serde_json::to_string(&ToolChoice::Auto {}).unwrap(),
            r#"{"auto":{}}"#
        );
        assert_eq!(
            serde_json::to_string(&ToolChoice::Tool { name: "f".into() }).unwrap(),
            r#"{"tool":{"name":"f"}}"#
        );
    }

    #[test]
    fn structured_output_takes_the_schema_as_text() {
        let config = OutputConfig {
            text_format: OutputFormat {
                kind: "json_schema".into(),
                structure: OutputFormatStructure {
                    json_schema: JsonSchemaDefinition {
                        schema: r#"{"type":"object"}"#.into(),
                        name: Some("person".into()),
                        description: None,
                    },
                },
            },
        };
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            serde_json::json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "person"}}}})
        );
    }

    #[test]
    fn error_types_are_read_in_every_spelling() {
        assert_eq!(
            error_type_name(
                "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
            ),
            "ValidationException"
        );
        assert_eq!(
            error_type_name("com.amazon.coral.service#ExpiredTokenException"),
            "ExpiredTokenException"
        );
        assert_eq!(status_of_error_type("throttlingException"), 429);
        assert_eq!(status_of_error_type("ModelTimeoutException"), 408);
        assert_eq!(status_of_error_type("somethingNew"), 500);
        let body: ErrorBody = serde_json::from_str(
            r#"{"Message": "The security token included in the request is expired"}"#,
        )
        .unwrap();
        assert!(body.message.unwrap().contains("expired"));
    }
}
