//! The suite every ingress passes: the client's request → normalized (with what it cannot
//! carry reported), the normalized answer, stream and errors → the client's format, and the
//! client's own SDK-side reading of that output (our adapter for the same format) getting back
//! what was sent.

use agenthub_llm_router::Error;
use agenthub_llm_router::ingress::{AnthropicIngress, Ingress, OpenAiIngress};
use agenthub_llm_router::model::*;
use agenthub_llm_router::params::Provider;
use agenthub_llm_router::wire::sse::encode_all;
use agenthub_policy::ErrorKind;
use serde_json::{Value, json};

use crate::cases::*;
use crate::support::*;

fn warning_params(warnings: &[agenthub_llm_router::params::Warning]) -> Vec<String> {
    warnings.iter().map(|w| w.param.clone()).collect()
}

#[test]
fn openai_client_request() {
    let decoded = OpenAiIngress::new()
        .decode_request(&read("openai/client_request.json"))
        .unwrap();
    let expected = ChatRequest {
        model: "smart".into(),
        messages: vec![
            Message::system("You are a helpful assistant."),
            Message::system("Keep answers short."),
            Message::User {
                content: vec![
                    ContentPart::text("What is in this image?"),
                    ContentPart::Image(Image {
                        source: ImageSource::Base64 {
                            media_type: "image/jpeg".into(),
                            data: "/9j/4AAQSkZJRgABAQ".into(),
                        },
                        detail: Some(ImageDetail::Low),
                    }),
                ],
                name: Some("alice".into()),
            },
            Message::Assistant {
                content: Vec::new(),
                tool_calls: vec![ToolCall {
                    id: "call_abc123".into(),
                    name: "lookup".into(),
                    arguments: r#"{"q":"boardwalk"}"#.into(),
                }],
                name: None,
            },
            Message::Tool {
                tool_call_id: "call_abc123".into(),
                content: vec![ContentPart::text("A wooden boardwalk in Madison.")],
                is_error: false,
            },
            Message::user("Thanks."),
        ],
        tools: vec![Tool {
            name: "lookup".into(),
            description: Some("Search the web".into()),
            parameters: Some(json!({
                "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]
            })),
            strict: Some(true),
        }],
        tool_choice: Some(ToolChoice::Tool("lookup".into())),
        parallel_tool_calls: None,
        response_format: Some(ResponseFormat::JsonObject),
        sampling: Sampling {
            temperature: Some(1.2),
            frequency_penalty: Some(0.5),
            ..Sampling::default()
        },
        max_output_tokens: Some(300),
        stop: vec!["END".into()],
        n: Some(1),
        seed: Some(7),
        user: Some("user-42".into()),
        logprobs: Some(LogprobsRequest {
            top_logprobs: Some(2),
        }),
        stream: Some(StreamOptions {
            include_usage: true,
        }),
    };
    assert_eq!(decoded.value, expected);
    assert_eq!(warning_params(&decoded.warnings), ["metadata", "store"]);
}

#[test]
fn anthropic_client_request() {
    let decoded = AnthropicIngress::new()
        .decode_request(&read("anthropic/client_request.json"))
        .unwrap();
    let expected = ChatRequest {
        model: "smart".into(),
        messages: vec![
            Message::system("You are a meticulous analyst."),
            Message::User {
                content: vec![
                    ContentPart::Image(Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "iVBORw0KGgo=".into(),
                        },
                        detail: None,
                    }),
                    ContentPart::Image(Image {
                        source: ImageSource::Url("https://example.com/chart.png".into()),
                        detail: None,
                    }),
                    ContentPart::text("Compare these charts."),
                ],
                name: None,
            },
            Message::Assistant {
                content: vec![ContentPart::text("Fetching the data.")],
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
                name: None,
            },
            Message::Tool {
                tool_call_id: "toolu_01A".into(),
                content: vec![ContentPart::text("[1, 2, 3]")],
                is_error: false,
            },
            Message::Tool {
                tool_call_id: "toolu_01B".into(),
                content: vec![ContentPart::text("series not found")],
                is_error: true,
            },
            Message::user("Go on."),
        ],
        tools: vec![Tool {
            name: "fetch_data".into(),
            description: Some("Fetch a data series".into()),
            parameters: Some(json!({
                "type": "object", "properties": {"series": {"type": "string"}}, "required": ["series"]
            })),
            strict: None,
        }],
        tool_choice: Some(ToolChoice::Required),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "response".into(),
            description: None,
            schema: Some(json!({
                "type": "object", "properties": {"verdict": {"type": "string"}},
                "required": ["verdict"], "additionalProperties": false
            })),
            strict: None,
        })),
        sampling: Sampling {
            temperature: Some(0.3),
            top_k: Some(40),
            ..Sampling::default()
        },
        max_output_tokens: Some(1024),
        stop: vec!["###".into()],
        n: None,
        seed: None,
        user: Some("5e1c1c8f".into()),
        logprobs: None,
        stream: Some(StreamOptions {
            include_usage: true,
        }),
    };
    assert_eq!(decoded.value, expected);
    assert_eq!(
        warning_params(&decoded.warnings),
        ["service_tier", "cache_control", "thinking"]
    );
}

/// What a format cannot carry: Anthropic has no creation time, OpenAI no cache-write count.
fn through(subject: &IngressSubject, mut answer: ChatResponse) -> ChatResponse {
    match subject.reader.provider() {
        Provider::Anthropic => answer.created = None,
        Provider::OpenAi => {
            if let Some(usage) = &mut answer.usage {
                usage.cache_write_input_tokens = None;
            }
        }
        other => panic!("no {other} ingress"),
    }
    answer
}

#[test]
fn response_encoding() {
    for subject in ingress_subjects() {
        let answer = answer_to_encode();
        let body = subject.ingress.encode_response(&answer);
        check_json(&format!("{}/client_response.json", subject.dir), &body);
        // What the client's SDK reads back is what was sent.
        let read_back = subject
            .reader
            .decode_response(body.to_string().as_bytes())
            .unwrap();
        let expected = through(&subject, answer.clone());
        assert_eq!(canon(read_back), canon(expected), "{}", subject.name);
    }
}

#[test]
fn stream_encoding() {
    for subject in ingress_subjects() {
        let request = ChatRequest {
            stream: Some(StreamOptions {
                include_usage: true,
            }),
            ..ChatRequest::default()
        };
        let mut encoder = subject.ingress.stream_encoder(&request);
        let events = events_to_encode();
        let sse: Vec<_> = events.iter().flat_map(|e| encoder.encode(e)).collect();
        let text = encode_all(&sse);
        check_text(&format!("{}/client_stream.sse", subject.dir), &text);
        // Read back with the decoder of the same format, in awkward chunks.
        for size in [0, 1, 9] {
            let read_back = decode_stream(subject.reader.as_ref(), text.as_bytes(), size)
                .unwrap_or_else(|e| panic!("{}: {e}", subject.name));
            check_stream(&read_back).unwrap_or_else(|e| panic!("{}: {e}", subject.name));
            let expected = through(&subject, accumulate(&events));
            assert_eq!(
                canon(accumulate(&read_back)),
                canon(expected),
                "{}",
                subject.name
            );
        }
    }
}

#[test]
fn openai_usage_chunk_only_when_asked() {
    let ingress = OpenAiIngress::new();
    for include_usage in [false, true] {
        let request = ChatRequest {
            stream: Some(StreamOptions { include_usage }),
            ..ChatRequest::default()
        };
        let mut encoder = ingress.stream_encoder(&request);
        let sse: Vec<_> = events_to_encode()
            .iter()
            .flat_map(|e| encoder.encode(e))
            .collect();
        let chunks: Vec<Value> = sse
            .iter()
            .filter(|e| e.data != "[DONE]")
            .map(|e| serde_json::from_str(&e.data).unwrap())
            .collect();
        let with_usage_key = chunks.iter().filter(|c| c.get("usage").is_some()).count();
        let usage_chunks: Vec<&Value> = chunks
            .iter()
            .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
            .collect();
        if include_usage {
            // `"usage": null` on every chunk, the totals on the last one, which has no choices.
            assert_eq!(with_usage_key, chunks.len());
            assert_eq!(usage_chunks.len(), 1);
            assert_eq!(usage_chunks[0]["choices"], json!([]));
            assert_eq!(usage_chunks[0]["usage"]["prompt_tokens"], json!(1500));
            assert_eq!(chunks.last(), Some(usage_chunks[0]));
        } else {
            assert_eq!(with_usage_key, 0);
        }
        assert_eq!(sse.last().unwrap().data, "[DONE]");
    }
}

#[test]
fn a_tool_call_without_arguments_gets_an_empty_object() {
    let mut encoder = OpenAiIngress::new().stream_encoder(&ChatRequest::default());
    let events = [
        StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
            created: None,
        },
        StreamEvent::RoleStart { choice: 0 },
        StreamEvent::ToolCallStart {
            choice: 0,
            index: 0,
            id: "toolu_1".into(),
            name: "now".into(),
        },
        StreamEvent::ToolCallEnd {
            choice: 0,
            index: 0,
        },
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        StreamEvent::Done,
    ];
    let sse: Vec<_> = events.iter().flat_map(|e| encoder.encode(e)).collect();
    let events = decode_stream(
        &agenthub_llm_router::adapters::OpenAiAdapter::new(),
        encode_all(&sse).as_bytes(),
        0,
    )
    .unwrap();
    assert_eq!(
        accumulate(&events).choices[0].message.tool_calls[0].arguments,
        "{}"
    );
}

#[test]
fn openai_invalid_requests() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
            Some("model"),
            "missing field `model`",
        ),
        (
            r#"{"model": "m", "messages": []}"#,
            Some("messages"),
            "at least one",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "tool", "content": "x"}]}"#,
            Some("messages[0].tool_call_id"),
            "missing field `tool_call_id`",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "robot", "content": "x"}]}"#,
            Some("messages[0].role"),
            "unknown variant `robot`",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]}"#,
            Some("messages[0].role"),
            "deprecated",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 2.5}"#,
            Some("temperature"),
            "not between 0 and 2",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}"#,
            Some("max_tokens"),
            "invalid type",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "custom", "custom": {"name": "x"}}]}"#,
            Some("tools[0].type"),
            "only `function`",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}"#,
            Some("tool_choice"),
            "not one of",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}]}"#,
            Some("messages[0].content[0]"),
            "audio",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "ultra"}}]}]}"#,
            Some("messages[0].content[0].image_url.detail"),
            "not one of",
        ),
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}"#,
            Some("top_logprobs"),
            "requires `logprobs: true`",
        ),
        ("not json", None, "invalid JSON"),
    ];
    check_invalid(&OpenAiIngress::new(), cases);
}

#[test]
fn anthropic_invalid_requests() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]}"#,
            Some("max_tokens"),
            "missing field `max_tokens`",
        ),
        (
            r#"{"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}"#,
            Some("max_tokens"),
            "at least 1",
        ),
        (
            r#"{"model": "m", "max_tokens": 5, "messages": []}"#,
            Some("messages"),
            "at least one",
        ),
        (
            r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "temperature": 1.5}"#,
            Some("temperature"),
            "not between 0 and 1",
        ),
        (
            r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "hi"}]}"#,
            Some("messages[0].role"),
            "unknown variant `system`",
        ),
        (
            r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]}"#,
            Some("tools[0].type"),
            "server tool",
        ),
        (
            r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "f"}]}"#,
            Some("tools[0].input_schema"),
            "missing field `input_schema`",
        ),
        (
            r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]}]}"#,
            Some("messages[0].content[0].type"),
            "not supported",
        ),
        (
            r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]}"#,
            Some("messages[0].content[1].type"),
            "not supported",
        ),
        (
            r#"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}]}"#,
            Some("messages[0].content[0].source.type"),
            "base64",
        ),
    ];
    check_invalid(&AnthropicIngress::new(), cases);
}

fn check_invalid(ingress: &dyn Ingress, cases: &[(&str, Option<&str>, &str)]) {
    for (body, param, message) in cases {
        let error = ingress.decode_request(body.as_bytes()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{body}");
        assert_eq!(error.param(), *param, "{body}: {error}");
        assert!(error.to_string().contains(message), "{body}: {error}");
        assert!(matches!(error, Error::InvalidRequest { .. }));
    }
}

#[test]
fn error_bodies() {
    let openai = OpenAiIngress::new();
    let cases = [
        (
            ErrorKind::InvalidRequest,
            "temperature: 3 is not between 0 and 2",
            Some("temperature"),
            json!({"error": {"message": "temperature: 3 is not between 0 and 2", "type": "invalid_request_error", "param": "temperature", "code": "invalid_request"}}),
        ),
        (
            ErrorKind::RateLimited,
            "slow down",
            None,
            json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": "rate_limited"}}),
        ),
        (
            ErrorKind::UpstreamFailed,
            "the model provider failed (500)",
            None,
            json!({"error": {"message": "the model provider failed (500)", "type": "server_error", "param": null, "code": "upstream_error"}}),
        ),
        (
            ErrorKind::Unauthenticated,
            "missing or invalid credentials",
            None,
            json!({"error": {"message": "missing or invalid credentials", "type": "authentication_error", "param": null, "code": "unauthenticated"}}),
        ),
    ];
    for (kind, message, param, expected) in cases {
        assert_eq!(openai.error_body(kind, message, param), expected, "{kind}");
    }
    let anthropic = AnthropicIngress::new();
    let cases = [
        (ErrorKind::InvalidRequest, "invalid_request_error"),
        (ErrorKind::Unauthenticated, "authentication_error"),
        (ErrorKind::Forbidden, "permission_error"),
        (ErrorKind::NotFound, "not_found_error"),
        (ErrorKind::PayloadTooLarge, "request_too_large"),
        (ErrorKind::RateLimited, "rate_limit_error"),
        (ErrorKind::UpstreamTimeout, "timeout_error"),
        (ErrorKind::Unavailable, "overloaded_error"),
        (ErrorKind::UpstreamFailed, "api_error"),
        (ErrorKind::Internal, "api_error"),
    ];
    for (kind, name) in cases {
        assert_eq!(
            anthropic.error_body(kind, "m", None),
            json!({"type": "error", "error": {"type": name, "message": "m"}}),
            "{kind}"
        );
    }
}

#[test]
fn errors_reach_clients_without_provider_secrets() {
    let error = Error::provider(
        Provider::OpenAi,
        401,
        Some("invalid_api_key".into()),
        "Incorrect API key provided: sk-proj-****abcd.",
        None,
    );
    for subject in ingress_subjects() {
        let body = subject.ingress.encode_error(&error).to_string();
        assert!(!body.contains("sk-proj"), "{}: {body}", subject.name);
        assert!(body.contains("credentials"), "{}: {body}", subject.name);
    }
    // In a stream too.
    for subject in ingress_subjects() {
        let mut encoder = subject.ingress.stream_encoder(&ChatRequest::default());
        let start = StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
            created: None,
        };
        let mut sse = encoder.encode(&start);
        sse.extend(encoder.encode(&StreamEvent::Error(error.to_stream_error())));
        sse.extend(encoder.encode(&StreamEvent::Done));
        let text = encode_all(&sse);
        assert!(!text.contains("sk-proj"), "{}", subject.name);
        let events = decode_stream(subject.reader.as_ref(), text.as_bytes(), 0).unwrap();
        assert!(
            matches!(events.last(), Some(StreamEvent::Error(e)) if e.kind == ErrorKind::UpstreamFailed),
            "{}: {events:?}",
            subject.name
        );
    }
}

#[test]
fn embeddings_and_models() {
    let ingress = OpenAiIngress::new();
    let decoded = ingress
        .decode_embeddings_request(
            br#"{"input": "The food was delicious", "model": "text-embedding-3-small", "encoding_format": "base64", "dimensions": 2, "user": "u"}"#,
        )
        .unwrap();
    assert_eq!(
        decoded.value,
        EmbeddingsRequest {
            model: "text-embedding-3-small".into(),
            input: EmbeddingInput::Text(vec!["The food was delicious".into()]),
            dimensions: Some(2),
            encoding: EmbeddingEncoding::Base64,
            user: Some("u".into()),
        }
    );
    let tokens = ingress
        .decode_embeddings_request(br#"{"input": [[1, 2], [3]], "model": "e"}"#)
        .unwrap();
    assert_eq!(
        tokens.value.input,
        EmbeddingInput::Tokens(vec![vec![1, 2], vec![3]])
    );
    let error = ingress
        .decode_embeddings_request(br#"{"input": [], "model": "e"}"#)
        .unwrap_err();
    assert_eq!(error.param(), Some("input"));
    let error = ingress
        .decode_embeddings_request(br#"{"input": "x", "model": "e", "encoding_format": "int8"}"#)
        .unwrap_err();
    assert_eq!(error.param(), Some("encoding_format"));

    let response = EmbeddingsResponse {
        model: "text-embedding-3-small".into(),
        data: vec![Embedding {
            index: 0,
            vector: vec![0.5, -1.0],
        }],
        usage: EmbeddingsUsage { input_tokens: 5 },
    };
    assert_eq!(
        ingress.encode_embeddings_response(&response, EmbeddingEncoding::Base64),
        json!({"object": "list", "data": [{"object": "embedding", "embedding": "AAAAPwAAgL8=", "index": 0}], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 5, "total_tokens": 5}})
    );
    assert_eq!(
        ingress.encode_embeddings_response(&response, EmbeddingEncoding::Float)["data"][0]["embedding"],
        json!([0.5, -1.0])
    );
    assert_eq!(
        ingress.encode_models(&[ModelInfo {
            id: "smart".into(),
            created: 1686935002,
            owned_by: "agenthub".into()
        }]),
        json!({"object": "list", "data": [{"id": "smart", "object": "model", "created": 1686935002, "owned_by": "agenthub"}]})
    );
}
