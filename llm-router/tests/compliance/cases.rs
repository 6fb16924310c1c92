//! The data every adapter and ingress is held to: one normalized expectation per case, whatever
//! the provider.

use agenthub_llm_router::adapters::{
    AnthropicAdapter, AzureOpenAiAdapter, BedrockAdapter, CohereAdapter, GeminiAdapter,
    MistralAdapter, OpenAiAdapter, ProviderAdapter,
};
use agenthub_llm_router::ingress::{AnthropicIngress, Ingress, OpenAiIngress};
use agenthub_llm_router::model::*;
use agenthub_llm_router::params::ModelProfile;
use serde_json::json;

/// What differs between providers' fixtures of the same case.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub id: &'static str,
    pub model: &'static str,
    pub created: Option<u64>,
    pub tool_ids: [&'static str; 2],
}

pub const OPENAI: Meta = Meta {
    id: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    model: "gpt-4.1-2025-04-14",
    created: Some(1741569952),
    tool_ids: ["call_abc123", "call_def456"],
};

pub const ANTHROPIC: Meta = Meta {
    id: "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    model: "claude-sonnet-4-5-20250929",
    created: None,
    tool_ids: [
        "toolu_01A09q90qw90lq917835lq9",
        "toolu_01B3kd9s8f7g6h5j4k3l2m1n",
    ],
};

/// Azure OpenAI: OpenAI's answers with Azure's content-filter annotations.
pub const AZURE: Meta = Meta {
    id: "chatcmpl-BBQLsQ3XKY0ZUmXwpDsAlsJr5hEuL",
    model: "gpt-4o-2024-11-20",
    created: Some(1741569952),
    tool_ids: [
        "call_EWxH0mrXwqU8TrK0rWCQWxYp",
        "call_6ciSi1aXcV1ZMsH1wgNi7RuU",
    ],
};

/// Gemini answers give no time; tool-call ids are made up from the response id (the first
/// carries the call's thought signature).
pub const GEMINI: Meta = Meta {
    id: "mDvXZ9jPH9mnz7IPqdHt6Qc",
    model: "gemini-2.5-flash",
    created: None,
    tool_ids: [
        "call_mDvXZ9jPH9mnz7IPqdHt6Qc_0_0__ts_Cs4BAdHtim9vfn7Qz-GkK3mB1xXo_4lYp0v2tR8",
        "call_mDvXZ9jPH9mnz7IPqdHt6Qc_0_1",
    ],
};

/// Converse answers have no id and do not name the model: the hub fills both in.
pub const BEDROCK: Meta = Meta {
    id: "",
    model: "",
    created: None,
    tool_ids: [
        "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
        "tooluse_Xr2MMa9bQmSd0V3k6dq1Fw",
    ],
};

pub const MISTRAL: Meta = Meta {
    id: "cmpl-e5cc70bb28c444948073e77776eb30ef",
    model: "mistral-large-latest",
    created: Some(1741569952),
    tool_ids: ["D681PevKs", "Gk3yw5QeR"],
};

/// Cohere answers do not name the model nor say when: the hub fills both in.
pub const COHERE: Meta = Meta {
    id: "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    model: "",
    created: None,
    tool_ids: ["get_weather_nsz5zm3w56q3", "get_weather_rpg0z5h8yyz2"],
};

fn answer(
    meta: Meta,
    message: AssistantMessage,
    reason: FinishReason,
    usage: Usage,
) -> ChatResponse {
    ChatResponse {
        id: meta.id.into(),
        model: meta.model.into(),
        created: meta.created,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: reason,
            stop_sequence: None,
            logprobs: None,
        }],
        usage: Some(usage),
    }
}

fn usage(input: u32, output: u32, cached: Option<u32>) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        ..Usage::default()
    }
}

pub fn expected_text(meta: Meta) -> ChatResponse {
    answer(
        meta,
        AssistantMessage {
            text: Some("Hello! How can I help you today?".into()),
            ..Default::default()
        },
        FinishReason::Stop,
        usage(19, 10, None),
    )
}

pub fn expected_tool_calls(meta: Meta) -> ChatResponse {
    answer(
        meta,
        AssistantMessage {
            text: Some("I'll check the weather in both cities ☀️.".into()),
            refusal: None,
            tool_calls: vec![
                ToolCall {
                    id: meta.tool_ids[0].into(),
                    name: "get_weather".into(),
                    arguments: r#"{"location":"San Francisco, CA","unit":"celsius"}"#.into(),
                },
                ToolCall {
                    id: meta.tool_ids[1].into(),
                    name: "get_weather".into(),
                    arguments: r#"{"location":"Tokyo, Japan","unit":"celsius"}"#.into(),
                },
            ],
        },
        FinishReason::ToolCalls,
        usage(1500, 120, Some(1024)),
    )
}

pub fn expected_length(meta: Meta) -> ChatResponse {
    answer(
        meta,
        AssistantMessage {
            text: Some("The history of Rome begins with".into()),
            ..Default::default()
        },
        FinishReason::Length,
        usage(12, 5, None),
    )
}

/// The normalized answer a case expects, given the provider's fixture metadata.
pub type Expectation = fn(Meta) -> ChatResponse;

/// Response cases: (fixture name, expectation).
pub fn response_cases() -> Vec<(&'static str, Expectation)> {
    vec![
        ("text", expected_text as Expectation),
        ("tool_calls", expected_tool_calls),
        ("length", expected_length),
    ]
}

/// Stream cases: (fixture name, the answer the stream adds up to).
pub fn stream_cases() -> Vec<(&'static str, Expectation)> {
    vec![
        ("text", expected_text as Expectation),
        ("tool_calls", expected_tool_calls),
    ]
}

pub const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// A request using everything: system prompt, images by URL and inline, a tool call and its
/// result, tools, tool choice, JSON schema output, stop sequences, sampling, streaming.
pub fn rich_request() -> ChatRequest {
    ChatRequest {
        model: "smart".into(),
        messages: vec![
            Message::system("You are a helpful travel assistant. Answer in JSON."),
            Message::User {
                content: vec![
                    ContentPart::text("What is in this image, and what is the weather there?"),
                    ContentPart::Image(Image {
                        source: ImageSource::Url(
                            "https://upload.wikimedia.org/wikipedia/commons/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg".into(),
                        ),
                        detail: Some(ImageDetail::High),
                    }),
                    ContentPart::Image(Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: PNG_1X1.into(),
                        },
                        detail: None,
                    }),
                ],
                name: None,
            },
            Message::Assistant {
                content: vec![ContentPart::text("Let me check the weather in Madison.")],
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"location":"Madison, WI","unit":"celsius"}"#.into(),
                }],
                name: None,
            },
            Message::Tool {
                tool_call_id: "call_1".into(),
                content: vec![ContentPart::text(r#"{"temperature":21,"conditions":"sunny"}"#)],
                is_error: false,
            },
            Message::user("Thanks! Summarize it."),
        ],
        tools: vec![Tool {
            name: "get_weather".into(),
            description: Some("Get the current weather in a given location".into()),
            parameters: Some(json!({
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
                },
                "required": ["location"]
            })),
            strict: None,
        }],
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "place_summary".into(),
            description: None,
            schema: Some(json!({
                "type": "object",
                "properties": {"place": {"type": "string"}, "summary": {"type": "string"}},
                "required": ["place", "summary"],
                "additionalProperties": false
            })),
            strict: Some(true),
        })),
        sampling: Sampling {
            temperature: Some(0.7),
            top_p: Some(0.9),
            ..Sampling::default()
        },
        max_output_tokens: Some(1024),
        stop: vec!["\n\nHuman:".into(), "END".into()],
        n: None,
        seed: Some(42),
        user: Some("user-1234".into()),
        logprobs: None,
        stream: Some(StreamOptions {
            include_usage: true,
        }),
    }
}

pub fn openai_profile() -> ModelProfile {
    ModelProfile::new(OPENAI.model)
}

pub fn anthropic_profile() -> ModelProfile {
    ModelProfile {
        default_max_tokens: 8192,
        structured_outputs: true,
        ..ModelProfile::new(ANTHROPIC.model)
    }
}

pub fn gemini_profile() -> ModelProfile {
    ModelProfile::new(GEMINI.model)
}

/// Claude on Bedrock, through a cross-region inference profile.
pub fn bedrock_profile() -> ModelProfile {
    ModelProfile {
        default_max_tokens: 8192,
        structured_outputs: true,
        ..ModelProfile::new("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    }
}

pub fn mistral_profile() -> ModelProfile {
    ModelProfile::new(MISTRAL.model)
}

pub fn cohere_profile() -> ModelProfile {
    ModelProfile::new("command-a-03-2025")
}

/// A provider adapter under test.
pub struct Subject {
    pub name: &'static str,
    pub adapter: Box<dyn ProviderAdapter>,
    /// Where its provider-side fixtures are.
    pub dir: &'static str,
    /// The expected body for [`rich_request`].
    pub request_fixture: &'static str,
    pub profile: ModelProfile,
    pub meta: Meta,
    /// The parameters of [`rich_request`] it cannot send (warnings under the drop policy).
    pub rich_warnings: &'static [&'static str],
}

pub fn subjects() -> Vec<Subject> {
    vec![
        Subject {
            name: "openai",
            adapter: Box::new(OpenAiAdapter::new()),
            dir: "openai",
            request_fixture: "openai/request_rich.json",
            profile: openai_profile(),
            meta: OPENAI,
            rich_warnings: &[],
        },
        Subject {
            name: "openai-compatible",
            adapter: Box::new(OpenAiAdapter::compatible()),
            dir: "openai",
            request_fixture: "openai-compatible/request_rich.json",
            profile: openai_profile(),
            meta: OPENAI,
            rich_warnings: &[],
        },
        Subject {
            name: "anthropic",
            adapter: Box::new(AnthropicAdapter::new()),
            dir: "anthropic",
            request_fixture: "anthropic/request_rich.json",
            profile: anthropic_profile(),
            meta: ANTHROPIC,
            rich_warnings: &["seed"],
        },
        // OpenAI's protocol through an Azure deployment: the same request body.
        Subject {
            name: "azure",
            adapter: Box::new(AzureOpenAiAdapter::new()),
            dir: "azure",
            request_fixture: "openai/request_rich.json",
            profile: openai_profile(),
            meta: AZURE,
            rich_warnings: &[],
        },
        Subject {
            name: "gemini",
            adapter: Box::new(GeminiAdapter::new()),
            dir: "gemini",
            request_fixture: "gemini/request_rich.json",
            profile: gemini_profile(),
            meta: GEMINI,
            rich_warnings: &["user", "parallel_tool_calls"],
        },
        // The same protocol through Vertex AI: the same bodies, another URL and credential.
        Subject {
            name: "vertex",
            adapter: Box::new(GeminiAdapter::vertex()),
            dir: "gemini",
            request_fixture: "gemini/request_rich.json",
            profile: gemini_profile(),
            meta: GEMINI,
            rich_warnings: &["user", "parallel_tool_calls"],
        },
        Subject {
            name: "bedrock",
            adapter: Box::new(BedrockAdapter::new()),
            dir: "bedrock",
            request_fixture: "bedrock/request_rich.json",
            profile: bedrock_profile(),
            meta: BEDROCK,
            rich_warnings: &[
                "messages[1].content[1]",
                "seed",
                "user",
                "parallel_tool_calls",
            ],
        },
        Subject {
            name: "mistral",
            adapter: Box::new(MistralAdapter::new()),
            dir: "mistral",
            request_fixture: "mistral/request_rich.json",
            profile: mistral_profile(),
            meta: MISTRAL,
            rich_warnings: &["user"],
        },
        Subject {
            name: "cohere",
            adapter: Box::new(CohereAdapter::new()),
            dir: "cohere",
            request_fixture: "cohere/request_rich.json",
            profile: cohere_profile(),
            meta: COHERE,
            rich_warnings: &["user", "response_format", "parallel_tool_calls"],
        },
    ]
}

/// A client format under test, with the adapter of the same format to read its output back.
pub struct IngressSubject {
    pub name: &'static str,
    pub ingress: Box<dyn Ingress>,
    pub reader: Box<dyn ProviderAdapter>,
    pub dir: &'static str,
}

pub fn ingress_subjects() -> Vec<IngressSubject> {
    vec![
        IngressSubject {
            name: "openai",
            ingress: Box::new(OpenAiIngress::new()),
            reader: Box::new(OpenAiAdapter::new()),
            dir: "openai",
        },
        IngressSubject {
            name: "anthropic",
            ingress: Box::new(AnthropicIngress::new()),
            reader: Box::new(AnthropicAdapter::new()),
            dir: "anthropic",
        },
    ]
}

/// The answer the ingress cases encode: text, two tool calls, cached and cache-write tokens.
pub fn answer_to_encode() -> ChatResponse {
    ChatResponse {
        id: "msg_01XFDUDYJgAACzvnptvVoYEL".into(),
        model: ANTHROPIC.model.into(),
        created: Some(1741569952),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                text: Some("Checking both series.".into()),
                refusal: None,
                tool_calls: vec![
                    ToolCall {
                        id: "toolu_01A".into(),
                        name: "fetch_data".into(),
                        arguments: r#"{"series":"revenue"}"#.into(),
                    },
                    ToolCall {
                        id: "toolu_01B".into(),
                        name: "fetch_data".into(),
                        arguments: r#"{"series":"costs"}"#.into(),
                    },
                ],
            },
            finish_reason: FinishReason::ToolCalls,
            stop_sequence: None,
            logprobs: None,
        }],
        usage: Some(Usage {
            input_tokens: 1500,
            output_tokens: 120,
            cached_input_tokens: Some(1024),
            cache_write_input_tokens: Some(100),
            reasoning_tokens: None,
        }),
    }
}

/// The same answer as a stream, with argument pieces split mid-token.
pub fn events_to_encode() -> Vec<StreamEvent> {
    let answer = answer_to_encode();
    let usage = answer.usage.unwrap();
    vec![
        StreamEvent::Start {
            id: answer.id.clone(),
            model: answer.model.clone(),
            created: answer.created,
        },
        StreamEvent::RoleStart { choice: 0 },
        StreamEvent::TextDelta {
            choice: 0,
            text: "Checking both".into(),
        },
        StreamEvent::TextDelta {
            choice: 0,
            text: " series.".into(),
        },
        StreamEvent::ToolCallStart {
            choice: 0,
            index: 0,
            id: "toolu_01A".into(),
            name: "fetch_data".into(),
        },
        StreamEvent::ToolCallDelta {
            choice: 0,
            index: 0,
            arguments: r#"{"ser"#.into(),
        },
        StreamEvent::ToolCallDelta {
            choice: 0,
            index: 0,
            arguments: r#"ies":"revenue"}"#.into(),
        },
        StreamEvent::ToolCallEnd {
            choice: 0,
            index: 0,
        },
        StreamEvent::ToolCallStart {
            choice: 0,
            index: 1,
            id: "toolu_01B".into(),
            name: "fetch_data".into(),
        },
        StreamEvent::ToolCallDelta {
            choice: 0,
            index: 1,
            arguments: r#"{"series":"costs"}"#.into(),
        },
        StreamEvent::ToolCallEnd {
            choice: 0,
            index: 1,
        },
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        StreamEvent::Usage(usage),
        StreamEvent::Done,
    ]
}
