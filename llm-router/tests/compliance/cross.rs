//! Across formats: an OpenAI-SDK client reaching an Anthropic model and an Anthropic-SDK client
//! reaching an OpenAI model, requests, answers, streams and errors.

use agenthub_llm_router::adapters::{AnthropicAdapter, OpenAiAdapter, ProviderAdapter};
use agenthub_llm_router::ingress::{AnthropicIngress, Ingress, OpenAiIngress};
use agenthub_llm_router::model::*;
use agenthub_llm_router::wire::sse::{SseEvent, encode_all, parse_all};
use agenthub_policy::ErrorKind;
use serde_json::{Value, json};

use crate::cases::*;
use crate::support::*;

fn warning_params(warnings: &[agenthub_llm_router::params::Warning]) -> Vec<String> {
    warnings.iter().map(|w| w.param.clone()).collect()
}

#[test]
fn openai_client_to_anthropic_model() {
    let request = OpenAiIngress::new()
        .decode_request(&read("openai/client_request.json"))
        .unwrap()
        .value;
    let encoded = AnthropicAdapter::new()
        .encode_request(&request, &anthropic_profile())
        .unwrap();
    check_json("cross/openai_client_to_anthropic.json", &encoded.value);
    assert_eq!(
        warning_params(&encoded.warnings),
        [
            "messages[].name",
            "temperature",
            "frequency_penalty",
            "seed",
            "logprobs",
            "response_format"
        ]
    );
    let body = &encoded.value;
    // The system and developer messages become the top-level system prompt.
    assert_eq!(
        body["system"],
        json!([
            {"type": "text", "text": "You are a helpful assistant."},
            {"type": "text", "text": "Keep answers short."}
        ])
    );
    assert_eq!(body["temperature"], json!(1.0));
    assert_eq!(body["max_tokens"], json!(300));
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "lookup"})
    );
    assert_eq!(
        body["messages"][1]["content"][0]["input"],
        json!({"q": "boardwalk"})
    );
}

#[test]
fn anthropic_client_to_openai_model() {
    let request = AnthropicIngress::new()
        .decode_request(&read("anthropic/client_request.json"))
        .unwrap()
        .value;
    let encoded = OpenAiAdapter::new()
        .encode_request(&request, &openai_profile())
        .unwrap();
    check_json("cross/anthropic_client_to_openai.json", &encoded.value);
    assert_eq!(
        warning_params(&encoded.warnings),
        ["tool_result.is_error", "top_k"]
    );
    let body = &encoded.value;
    assert_eq!(body["tool_choice"], json!("required"));
    assert_eq!(body["parallel_tool_calls"], json!(false));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        body["response_format"]["json_schema"]["name"],
        json!("response")
    );
    // Tool results become tool messages right after the assistant's calls, then the text.
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "user"]
    );
}

#[test]
fn anthropic_answer_to_openai_client() {
    let response = AnthropicAdapter::new()
        .decode_response(&read("anthropic/response_tool_calls.json"))
        .unwrap();
    let body = OpenAiIngress::new().encode_response(&response);
    check_json("cross/anthropic_answer_to_openai_client.json", &body);
    assert_eq!(body["choices"][0]["finish_reason"], json!("tool_calls"));
    assert_eq!(body["usage"]["prompt_tokens"], json!(1500));
    assert_eq!(
        body["usage"]["prompt_tokens_details"]["cached_tokens"],
        json!(1024)
    );
}

#[test]
fn openai_answer_to_anthropic_client() {
    let response = OpenAiAdapter::new()
        .decode_response(&read("openai/response_tool_calls.json"))
        .unwrap();
    let body = AnthropicIngress::new().encode_response(&response);
    check_json("cross/openai_answer_to_anthropic_client.json", &body);
    assert_eq!(body["stop_reason"], json!("tool_use"));
    assert_eq!(body["usage"]["input_tokens"], json!(476));
    assert_eq!(body["usage"]["cache_read_input_tokens"], json!(1024));
    assert_eq!(
        body["content"][1]["input"],
        json!({"location": "San Francisco, CA", "unit": "celsius"})
    );
}

fn translate_stream(
    adapter: &dyn ProviderAdapter,
    fixture: &str,
    ingress: &dyn Ingress,
    include_usage: bool,
) -> Vec<SseEvent> {
    let events = decode_stream(adapter, &read(fixture), 11).unwrap();
    let request = ChatRequest {
        stream: Some(StreamOptions { include_usage }),
        ..ChatRequest::default()
    };
    let mut encoder = ingress.stream_encoder(&request);
    events.iter().flat_map(|e| encoder.encode(e)).collect()
}

#[test]
fn anthropic_stream_to_openai_client() {
    let sse = translate_stream(
        &AnthropicAdapter::new(),
        "anthropic/stream_tool_calls.sse",
        &OpenAiIngress::new(),
        true,
    );
    check_text(
        "cross/anthropic_stream_to_openai_client.sse",
        &encode_all(&sse),
    );
    assert_eq!(sse.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = sse[..sse.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    // The role comes in the first chunk.
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], json!("assistant"));
    // Anthropic's content blocks 1 and 2 are OpenAI's tool calls 0 and 1; each starts with its
    // id, type and name.
    let starts: Vec<(u64, &str)> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0].as_object())
        .filter(|t| t.contains_key("id"))
        .map(|t| (t["index"].as_u64().unwrap(), t["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        starts,
        [(0, ANTHROPIC.tool_ids[0]), (1, ANTHROPIC.tool_ids[1])]
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], json!("tool_calls"));
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 1500, "completion_tokens": 120, "total_tokens": 1620, "prompt_tokens_details": {"cached_tokens": 1024}})
    );
    // An OpenAI client adds the pieces back up to the answer.
    let read_back = decode_stream(&OpenAiAdapter::new(), encode_all(&sse).as_bytes(), 0).unwrap();
    let mut expected = expected_tool_calls(ANTHROPIC);
    expected.created = None;
    assert_eq!(canon(accumulate(&read_back)), canon(expected));
}

#[test]
fn openai_stream_to_anthropic_client() {
    let sse = translate_stream(
        &OpenAiAdapter::new(),
        "openai/stream_tool_calls.sse",
        &AnthropicIngress::new(),
        false,
    );
    let text = encode_all(&sse);
    check_text("cross/openai_stream_to_anthropic_client.sse", &text);
    let names: Vec<&str> = sse.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
    let data: Vec<Value> = sse
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    // Blocks are numbered in order: the text, then one per tool call; each opens once and closes
    // once, the next opening only after the previous closed.
    let blocks: Vec<(u64, &str)> = data
        .iter()
        .filter(|d| d["type"] == "content_block_start")
        .map(|d| {
            (
                d["index"].as_u64().unwrap(),
                d["content_block"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(blocks, [(0, "text"), (1, "tool_use"), (2, "tool_use")]);
    let mut open = None;
    for d in &data {
        match d["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None);
                open = d["index"].as_u64();
            }
            "content_block_delta" => assert_eq!(open, d["index"].as_u64()),
            "content_block_stop" => {
                assert_eq!(open, d["index"].as_u64());
                open = None;
            }
            _ => {}
        }
    }
    let delta = &data[data.len() - 2];
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "tool_use", "stop_sequence": null})
    );
    assert_eq!(
        delta["usage"],
        json!({"output_tokens": 120, "input_tokens": 476, "cache_read_input_tokens": 1024})
    );
    // An Anthropic client adds the pieces back up to the answer.
    let read_back = decode_stream(&AnthropicAdapter::new(), text.as_bytes(), 0).unwrap();
    let mut expected = expected_tool_calls(OPENAI);
    expected.created = None;
    assert_eq!(canon(accumulate(&read_back)), canon(expected));
}

#[test]
fn provider_errors_in_the_other_format() {
    // Anthropic overloaded (529) before the stream began → an OpenAI client's error body.
    let error = AnthropicAdapter::new().decode_error(
        529,
        br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
    );
    assert!(error.is_retryable());
    let body = OpenAiIngress::new().encode_error(&error);
    assert_eq!(body["error"]["type"], json!("server_error"));
    assert_eq!(body["error"]["code"], json!("upstream_error"));

    // Anthropic overloaded mid-stream → an OpenAI client's in-stream error.
    let sse = translate_stream(
        &AnthropicAdapter::new(),
        "anthropic/stream_error.sse",
        &OpenAiIngress::new(),
        true,
    );
    let last: Value = serde_json::from_str(&sse.last().unwrap().data).unwrap();
    assert_eq!(last["error"]["code"], json!("upstream_error"));

    // OpenAI rate limit → an Anthropic client's error body.
    let error = OpenAiAdapter::new().decode_error(
        429,
        br#"{"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}"#,
    );
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    let body = AnthropicIngress::new().encode_error(&error);
    assert_eq!(body["error"]["type"], json!("rate_limit_error"));

    // OpenAI server error mid-stream → an Anthropic client's error event.
    let sse = translate_stream(
        &OpenAiAdapter::new(),
        "openai/stream_error.sse",
        &AnthropicIngress::new(),
        false,
    );
    let last = sse.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    let data: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(data["error"]["type"], json!("api_error"));
}

#[test]
fn interleaved_tool_arguments_cannot_reach_anthropic_clients_silently() {
    let mut encoder = AnthropicIngress::new().stream_encoder(&ChatRequest::default());
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
            id: "a".into(),
            name: "f".into(),
        },
        StreamEvent::ToolCallStart {
            choice: 0,
            index: 1,
            id: "b".into(),
            name: "g".into(),
        },
        StreamEvent::ToolCallDelta {
            choice: 0,
            index: 0,
            arguments: "{}".into(),
        },
    ];
    let sse: Vec<_> = events.iter().flat_map(|e| encoder.encode(e)).collect();
    assert_eq!(sse.last().unwrap().event.as_deref(), Some("error"));
    // The stream is over: nothing more is written.
    assert!(encoder.encode(&StreamEvent::Done).is_empty());
    let _ = parse_all(encode_all(&sse).as_bytes());
}

#[test]
fn the_bytes_answered_are_the_response_encoded() {
    let ingresses: [(&str, Box<dyn Ingress>); 2] = [
        ("openai", Box::new(OpenAiIngress::new())),
        ("anthropic", Box::new(AnthropicIngress::new())),
    ];
    for fixture in [
        "openai/response_tool_calls.json",
        "openai/response_text.json",
    ] {
        let response = OpenAiAdapter::new()
            .decode_response(&read(fixture))
            .unwrap();
        for (name, ingress) in &ingresses {
            let sent: Value =
                serde_json::from_slice(&ingress.encode_response_body(&response)).unwrap();
            assert_eq!(sent, ingress.encode_response(&response), "{name} {fixture}");
        }
    }
}
