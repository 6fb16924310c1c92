//! The OpenAI Responses ingress (`POST /v1/responses`): the client's request → normalized (with
//! what it cannot carry reported, and what needs storage refused), the normalized answer and
//! stream → a Response object and its events, read back the way openai-python's stream
//! accumulator reads them, errors, and answers and streams from other providers.
//!
//! There is no Responses adapter to read the output back with, so `read_stream` does what the
//! SDK's `ResponseStreamState` does, with its checks and stricter ones (sequence numbers,
//! event names, items written one after the other), and `answer_of` reads a Response object
//! back into the normalized answer.

use agenthub_llm_router::Error;
use agenthub_llm_router::adapters::{AnthropicAdapter, OpenAiAdapter, ProviderAdapter};
use agenthub_llm_router::ingress::responses::{ResponseEcho, ResponsesRequest};
use agenthub_llm_router::ingress::{Ingress, OpenAiIngress, ResponsesIngress};
use agenthub_llm_router::model::*;
use agenthub_llm_router::params::{Provider, Warning};
use agenthub_llm_router::wire::sse::{SseParser, encode_all, parse_all};
use agenthub_policy::ErrorKind;
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::cases::*;
use crate::support::*;

fn warning_params(warnings: &[Warning]) -> Vec<String> {
    warnings.iter().map(|w| w.param.clone()).collect()
}

fn decode_fixture() -> (ResponsesRequest, Vec<Warning>) {
    let decoded = ResponsesIngress::new()
        .decode(&read("responses/client_request.json"))
        .unwrap();
    (decoded.value, decoded.warnings)
}

fn echo_of_fixture() -> ResponseEcho {
    decode_fixture().0.echo
}

// ---------------------------------------------------------------------------------------------
// Reading the output back, as a client does

/// A Response object → the normalized answer it says (the id is OpenAI-shaped: compare
/// without it).
fn answer_of(response: &Value) -> ChatResponse {
    let mut text: Option<String> = None;
    let mut refusal: Option<String> = None;
    let mut tool_calls = Vec::new();
    for item in response["output"].as_array().unwrap() {
        match item["type"].as_str().unwrap() {
            "message" => {
                assert_eq!(item["role"], "assistant");
                for part in item["content"].as_array().unwrap() {
                    match part["type"].as_str().unwrap() {
                        "output_text" => {
                            assert_eq!(part["annotations"], json!([]));
                            text.get_or_insert_with(String::new)
                                .push_str(part["text"].as_str().unwrap());
                        }
                        "refusal" => refusal
                            .get_or_insert_with(String::new)
                            .push_str(part["refusal"].as_str().unwrap()),
                        other => panic!("part type {other}"),
                    }
                }
            }
            "function_call" => tool_calls.push(ToolCall {
                id: item["call_id"].as_str().unwrap().into(),
                name: item["name"].as_str().unwrap().into(),
                arguments: item["arguments"].as_str().unwrap().into(),
            }),
            other => panic!("item type {other}"),
        }
    }
    let finish_reason = match (
        response["status"].as_str().unwrap(),
        response["incomplete_details"]["reason"].as_str(),
    ) {
        ("completed", _) if !tool_calls.is_empty() => FinishReason::ToolCalls,
        ("completed", _) => FinishReason::Stop,
        ("incomplete", Some("max_output_tokens")) => FinishReason::Length,
        ("incomplete", Some("content_filter")) => FinishReason::ContentFilter,
        ("failed", _) => FinishReason::Error,
        other => panic!("status {other:?}"),
    };
    let usage = &response["usage"];
    let count = |v: &Value| v.as_u64().map(|n| n as u32);
    let nonzero = |v: &Value| count(v).filter(|n| *n > 0);
    ChatResponse {
        id: String::new(),
        model: response["model"].as_str().unwrap().into(),
        created: response["created_at"].as_u64().filter(|c| *c > 0),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                text,
                refusal,
                tool_calls,
            },
            finish_reason,
            stop_sequence: None,
            logprobs: None,
        }],
        usage: (!usage.is_null()).then(|| {
            assert_eq!(
                count(&usage["total_tokens"]),
                Some(
                    count(&usage["input_tokens"]).unwrap()
                        + count(&usage["output_tokens"]).unwrap()
                )
            );
            Usage {
                input_tokens: count(&usage["input_tokens"]).unwrap(),
                output_tokens: count(&usage["output_tokens"]).unwrap(),
                cached_input_tokens: nonzero(&usage["input_tokens_details"]["cached_tokens"]),
                cache_write_input_tokens: nonzero(
                    &usage["input_tokens_details"]["cache_write_tokens"],
                ),
                reasoning_tokens: nonzero(&usage["output_tokens_details"]["reasoning_tokens"]),
            }
        }),
    }
}

/// What a Response can say of an answer: one choice, no stop sequence nor logprobs, a refusal
/// without the text it came with only if non-empty, and no id of the provider's.
fn comparable(mut answer: ChatResponse) -> ChatResponse {
    answer.id = String::new();
    answer.created = answer.created.filter(|c| *c > 0);
    answer.choices.truncate(1);
    for choice in &mut answer.choices {
        choice.stop_sequence = None;
        choice.logprobs = None;
        let message = &mut choice.message;
        message.text = message.text.take().filter(|t| !t.is_empty());
        message.refusal = message.refusal.take().filter(|t| !t.is_empty());
        // A completed Response says "tool calls" by having them.
        if matches!(
            choice.finish_reason,
            FinishReason::Stop | FinishReason::ToolCalls
        ) {
            choice.finish_reason = if message.tool_calls.is_empty() {
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            };
        }
        for call in &mut message.tool_calls {
            if call.arguments.is_empty() {
                call.arguments = "{}".into();
            }
        }
    }
    canon(answer)
}

/// Reads a Responses stream as openai-python's accumulator does, failing where it would and
/// where a stricter client would; returns the events and the final response.
fn read_stream(text: &str) -> Result<(Vec<Value>, Value), String> {
    let events = parse_all(text.as_bytes());
    let mut datas = Vec::new();
    let mut output: Vec<Value> = Vec::new();
    let mut done: Vec<bool> = Vec::new();
    let mut id: Option<String> = None;
    let mut terminal: Option<Value> = None;
    let mut error_seen = false;
    for (n, event) in events.iter().enumerate() {
        let fail = |what: &str| Err(format!("event {n} ({}): {what}", event.data));
        let data: Value =
            serde_json::from_str(&event.data).map_err(|e| format!("event {n}: {e}"))?;
        let kind = data["type"].as_str().unwrap_or_default();
        if event.event.as_deref() != Some(kind) {
            return fail("the SSE event name is not the type");
        }
        if data["sequence_number"] != json!(n) {
            return fail("sequence numbers must count the events from 0");
        }
        if terminal.is_some() {
            return fail("after the end of the stream");
        }
        if n == 0 && kind != "response.created" {
            return fail("the stream must begin with response.created");
        }
        let item_of = |data: &Value| -> Result<usize, String> {
            let index = data["output_index"].as_u64().ok_or("no output_index")? as usize;
            if index >= output.len() {
                return Err(format!("output_index {index} before its item was added"));
            }
            if done[index] {
                return Err(format!("output_index {index} after its item was done"));
            }
            if data.get("item_id").is_some() && data["item_id"] != output[index]["id"] {
                return Err("item_id is not the item's id".into());
            }
            // Items are written one after the other, as OpenAI does.
            if done[..index].iter().any(|d| !d) {
                return Err(format!("item {index} written while an earlier one is open"));
            }
            Ok(index)
        };
        match kind {
            "response.created" | "response.in_progress" => {
                let response = &data["response"];
                if response["status"] != "in_progress" || response["output"] != json!([]) {
                    return fail("a new response is in progress and empty");
                }
                let this = response["id"].as_str().unwrap_or_default().to_owned();
                if !this.starts_with("resp_") || id.get_or_insert(this.clone()) != &this {
                    return fail("the response id is resp_… and does not change");
                }
            }
            "response.output_item.added" => {
                if data["output_index"] != json!(output.len()) {
                    return fail("items are added in order");
                }
                if done.iter().any(|d| !d) {
                    return fail("an item added while another is open");
                }
                let item = data["item"].clone();
                if item["status"] != "in_progress" {
                    return fail("an added item is in progress");
                }
                output.push(item);
                done.push(false);
            }
            "response.content_part.added" => {
                let index = item_of(&data)?;
                let content = output[index]["content"]
                    .as_array_mut()
                    .ok_or("a part of an item that is not a message")?;
                if data["content_index"] != json!(content.len()) {
                    return fail("parts are added in order");
                }
                content.push(data["part"].clone());
            }
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.output_text.done"
            | "response.refusal.done"
            | "response.content_part.done" => {
                let index = item_of(&data)?;
                let at = data["content_index"].as_u64().ok_or("no content_index")? as usize;
                let part = output[index]["content"]
                    .get_mut(at)
                    .ok_or("a part that was not added")?;
                let field = if part["type"] == "refusal" {
                    "refusal"
                } else {
                    "text"
                };
                let expected_field = match kind {
                    "response.output_text.delta" | "response.output_text.done" => "text",
                    "response.refusal.delta" | "response.refusal.done" => "refusal",
                    _ => field,
                };
                if field != expected_field {
                    return fail("the event does not match the part's type");
                }
                match kind {
                    "response.output_text.delta" | "response.refusal.delta" => {
                        let delta = data["delta"].as_str().ok_or("no delta")?;
                        let so_far = part[field].as_str().unwrap_or_default().to_owned();
                        part[field] = json!(so_far + delta);
                    }
                    "response.output_text.done" | "response.refusal.done" => {
                        if data[field] != part[field] {
                            return fail("the done text is not the deltas added up");
                        }
                    }
                    _ => {
                        if data["part"] != *part {
                            return fail("the done part is not the part built");
                        }
                    }
                }
                if kind.starts_with("response.output_text") && data["logprobs"] != json!([]) {
                    return fail("text events carry logprobs (required by the SDKs)");
                }
            }
            "response.function_call_arguments.delta" | "response.function_call_arguments.done" => {
                let index = item_of(&data)?;
                let item = &mut output[index];
                if item["type"] != "function_call" {
                    return fail("arguments of an item that is not a function call");
                }
                if kind.ends_with("delta") {
                    let so_far = item["arguments"].as_str().unwrap_or_default().to_owned();
                    item["arguments"] = json!(so_far + data["delta"].as_str().unwrap());
                } else if data["arguments"] != item["arguments"] {
                    return fail("the done arguments are not the deltas added up");
                }
            }
            "response.output_item.done" => {
                let index = item_of(&data)?;
                let mut item = data["item"].clone();
                if !matches!(item["status"].as_str(), Some("completed" | "incomplete")) {
                    return fail("a done item is completed or incomplete");
                }
                item["status"] = output[index]["status"].clone();
                if item != output[index] {
                    return fail("the done item is not the item built");
                }
                output[index] = data["item"].clone();
                done[index] = true;
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let response = data["response"].clone();
                if response["id"].as_str() != id.as_deref() {
                    return fail("the response id changed");
                }
                let status = kind.trim_start_matches("response.");
                if response["status"] != status {
                    return fail("the status is the event's");
                }
                if status == "failed" {
                    if response["error"].is_null() {
                        return fail("a failed response says why");
                    }
                    let ids = |items: &Value| -> Vec<Value> {
                        items
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|i| i["id"].clone())
                            .collect()
                    };
                    if ids(&response["output"]) != ids(&json!(output)) {
                        return fail("a failed response holds the items written");
                    }
                } else {
                    if done.iter().any(|d| !d) {
                        return fail("the response ended with an item open");
                    }
                    if response["output"] != json!(output) {
                        return fail("the final output is not the items built");
                    }
                }
                terminal = Some(response);
            }
            "error" => {
                if data["message"].as_str().is_none() {
                    return fail("an error has a message");
                }
                error_seen = true;
            }
            other => return fail(&format!("unexpected event type {other}")),
        }
        datas.push(data);
    }
    let response = terminal.ok_or("the stream has no terminal event")?;
    if error_seen && response["status"] != "failed" {
        return Err("an error event is followed by response.failed".into());
    }
    Ok((datas, response))
}

fn encode_events(encoder_echo: ResponseEcho, events: &[StreamEvent]) -> String {
    let mut encoder = ResponsesIngress::new().stream_encoder_with(encoder_echo);
    let sse: Vec<_> = events.iter().flat_map(|e| encoder.encode(e)).collect();
    // Nothing is written after the end.
    assert!(encoder.encode(&StreamEvent::Done).is_empty());
    encode_all(&sse)
}

// ---------------------------------------------------------------------------------------------
// Requests

#[test]
fn client_request() {
    let (decoded, warnings) = decode_fixture();
    let expected = ChatRequest {
        model: "smart".into(),
        messages: vec![
            Message::system("You are a helpful travel assistant."),
            Message::User {
                content: vec![
                    ContentPart::text("What is in this image, and what is the weather there?"),
                    ContentPart::Image(Image {
                        source: ImageSource::Url("https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg".into()),
                        detail: Some(ImageDetail::High),
                    }),
                    ContentPart::Image(Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "iVBORw0KGgo=".into(),
                        },
                        detail: Some(ImageDetail::Auto),
                    }),
                ],
                name: None,
            },
            // The text and the calls of one turn: one assistant message.
            Message::Assistant {
                content: vec![ContentPart::text(
                    "A boardwalk in Madison. Let me check the weather.",
                )],
                tool_calls: vec![
                    ToolCall {
                        id: "call_12345xyz".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"location":"Madison, WI"}"#.into(),
                    },
                    ToolCall {
                        id: "call_67890abc".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"location":"Paris, France"}"#.into(),
                    },
                ],
                name: None,
            },
            Message::Tool {
                tool_call_id: "call_12345xyz".into(),
                content: vec![ContentPart::text(r#"{"temperature":21,"conditions":"sunny"}"#)],
                is_error: false,
            },
            Message::Tool {
                tool_call_id: "call_67890abc".into(),
                content: vec![ContentPart::text("18°C, light rain")],
                is_error: false,
            },
            Message::system("Answer in JSON."),
            Message::user("Compare the two."),
        ],
        tools: vec![Tool {
            name: "get_weather".into(),
            description: Some("Get current temperature for a given location.".into()),
            parameters: Some(json!({
                "type": "object",
                "properties": {"location": {"type": "string", "description": "City and country e.g. Bogotá, Colombia"}},
                "required": ["location"],
                "additionalProperties": false
            })),
            strict: Some(true),
        }],
        tool_choice: Some(ToolChoice::Tool("get_weather".into())),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: "comparison".into(),
            description: None,
            schema: Some(json!({
                "type": "object",
                "properties": {"warmer": {"type": "string"}, "summary": {"type": "string"}},
                "required": ["warmer", "summary"],
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
        stop: Vec::new(),
        n: None,
        seed: None,
        user: Some("user-1234".into()),
        logprobs: Some(LogprobsRequest {
            top_logprobs: Some(2),
        }),
        stream: Some(StreamOptions {
            include_usage: true,
        }),
    };
    assert_eq!(decoded.request, expected);
    assert_eq!(
        warning_params(&warnings),
        [
            "prompt_cache_key",
            "service_tier",
            "store",
            "input",
            "include",
            "reasoning"
        ]
    );
    let store = warnings.iter().find(|w| w.param == "store").unwrap();
    assert!(store.message.contains("nothing was stored"), "{store}");
    assert!(
        warnings
            .iter()
            .any(|w| w.message.contains("reasoning.encrypted_content"))
    );

    let echo = decoded.echo;
    assert_eq!(
        echo.instructions.as_deref(),
        Some("You are a helpful travel assistant.")
    );
    assert_eq!(
        Value::Object(echo.metadata.clone()),
        json!({"team": "travel", "run": "42"})
    );
    assert_eq!(
        echo.tool_choice,
        json!({"type": "function", "name": "get_weather"})
    );
    assert_eq!(echo.top_logprobs, 2);
    assert_eq!(echo.safety_identifier.as_deref(), Some("user-1234"));
    assert_eq!(echo.user, None);
    assert!(!echo.parallel_tool_calls);
}

#[test]
fn the_ingress_trait_gives_the_same_request() {
    let body = read("responses/client_request.json");
    let ingress = ResponsesIngress::new();
    let through_trait = ingress.decode_request(&body).unwrap();
    let decoded = ingress.decode(&body).unwrap();
    assert_eq!(through_trait.value, decoded.value.request);
    assert_eq!(through_trait.warnings, decoded.warnings);
    // What the normalized request holds is echoed without the rest.
    let echo = ResponseEcho::from_request(&decoded.value.request);
    assert_eq!(echo.tools, decoded.value.echo.tools);
    assert_eq!(echo.text_format, decoded.value.echo.text_format);
    assert_eq!(echo.tool_choice, decoded.value.echo.tool_choice);
    assert_eq!(echo.instructions, None);
}

#[test]
fn simple_requests() {
    let ingress = ResponsesIngress::new();
    // The documented first example: a string is one user message.
    let decoded = ingress
        .decode(br#"{"model": "gpt-4.1", "input": "Tell me a three sentence bedtime story about a unicorn."}"#)
        .unwrap();
    assert_eq!(
        decoded.value.request,
        ChatRequest {
            model: "gpt-4.1".into(),
            messages: vec![Message::user(
                "Tell me a three sentence bedtime story about a unicorn."
            )],
            ..ChatRequest::default()
        }
    );
    assert!(decoded.warnings.is_empty());
    assert_eq!(decoded.value.echo, ResponseEcho::default());

    // As the Agents SDK sends a turn: messages without `type`, empty `include`, `store: false`.
    let decoded = ingress
        .decode(
            br#"{"model": "m", "instructions": "Be brief.", "input": [{"role": "user", "content": "hi"}], "include": [], "store": false, "tools": [], "text": {"format": {"type": "text"}}, "truncation": "auto", "tool_choice": "required", "stream": false}"#,
        )
        .unwrap();
    let request = &decoded.value.request;
    assert_eq!(
        request.messages,
        [Message::system("Be brief."), Message::user("hi")]
    );
    assert_eq!(request.response_format, Some(ResponseFormat::Text));
    assert_eq!(request.tool_choice, Some(ToolChoice::Required));
    assert_eq!(request.stream, None);
    assert_eq!(warning_params(&decoded.warnings), ["truncation"]);
    assert_eq!(decoded.value.echo.truncation, "auto");

    // Sequential calls without text are assistant turns of their own; an image result stays.
    let decoded = ingress
        .decode(
            br#"{"model": "m", "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "draw"}]},
                {"type": "function_call", "call_id": "c1", "name": "render", "arguments": ""},
                {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_image", "image_url": "https://example.com/a.png", "detail": "original"}]},
                {"type": "function_call", "call_id": "c2", "name": "render", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c2", "output": "done"}
            ], "user": "u-1", "text": {"verbosity": "low"}, "reasoning": {"effort": null, "summary": null}}"#,
        )
        .unwrap();
    let roles: Vec<Role> = decoded
        .value
        .request
        .messages
        .iter()
        .map(Message::role)
        .collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Assistant,
            Role::Tool
        ]
    );
    assert_eq!(
        decoded.value.request.messages[2].content(),
        [ContentPart::Image(Image {
            source: ImageSource::Url("https://example.com/a.png".into()),
            detail: None,
        })]
    );
    assert_eq!(decoded.value.request.user.as_deref(), Some("u-1"));
    assert_eq!(warning_params(&decoded.warnings), ["text.verbosity"]);

    // `user` and `safety_identifier`: the newer one wins.
    let decoded = ingress
        .decode(br#"{"model": "m", "input": "x", "user": "a", "safety_identifier": "b", "top_logprobs": 3, "stream_options": {"include_obfuscation": false}}"#)
        .unwrap();
    assert_eq!(decoded.value.request.user.as_deref(), Some("b"));
    assert_eq!(decoded.value.request.logprobs, None);
    assert_eq!(
        warning_params(&decoded.warnings),
        ["top_logprobs", "user", "stream_options"]
    );
}

#[test]
fn invalid_requests() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (r#"{"input": "hi"}"#, Some("model"), "missing field `model`"),
        (r#"{"model": "m"}"#, Some("input"), "missing field `input`"),
        (
            r#"{"model": "m", "input": []}"#,
            Some("input"),
            "at least one",
        ),
        (
            r#"{"model": "m", "input": 5}"#,
            Some("input"),
            "did not match",
        ),
        (
            r#"{"model": "m", "input": [{"type": "reasoning", "summary": []}]}"#,
            Some("input"),
            "no item",
        ),
        (
            r#"{"model": "m", "input": ["hi"]}"#,
            Some("input[0]"),
            "expected an input item",
        ),
        (
            r#"{"model": "m", "input": [{"role": "tool", "content": "x"}]}"#,
            Some("input[0].role"),
            "`tool` is not one of",
        ),
        (
            r#"{"model": "m", "input": [{"type": "message", "content": "x"}]}"#,
            Some("input[0].role"),
            "missing field `role`",
        ),
        (
            r#"{"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}"#,
            Some("input[0].call_id"),
            "missing field `call_id`",
        ),
        (
            r#"{"model": "m", "input": [{"role": "user", "content": "x"}, {"type": "function_call_output", "call_id": "c"}]}"#,
            Some("input[1].output"),
            "missing field `output`",
        ),
        (
            r#"{"model": "m", "input": [{"type": "item_reference", "id": "msg_123"}]}"#,
            Some("input[0].type"),
            "stores none",
        ),
        (
            r#"{"model": "m", "input": [{"type": "computer_call_output", "call_id": "c", "output": {}}]}"#,
            Some("input[0].type"),
            "only `message`, `function_call` and `function_call_output`",
        ),
        (
            r#"{"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-abc", "detail": "auto"}]}]}"#,
            Some("input[0].content[0].file_id"),
            "cannot be read by the router",
        ),
        (
            r#"{"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png", "detail": "ultra"}]}]}"#,
            Some("input[0].content[0].detail"),
            "not one of",
        ),
        (
            r#"{"model": "m", "input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}"#,
            Some("input[0].content[0]"),
            "text only",
        ),
        (
            r#"{"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-abc"}]}]}"#,
            Some("input[0].content[0]"),
            "file input",
        ),
        (
            r#"{"model": "m", "input": [{"role": "user", "content": [{"type": "input_video", "url": "x"}]}]}"#,
            Some("input[0].content[0].type"),
            "`input_video` parts are not supported",
        ),
        (
            r#"{"model": "m", "input": "x", "tools": [{"type": "web_search"}]}"#,
            Some("tools[0].type"),
            "`web_search` tools are not supported",
        ),
        (
            r#"{"model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": {}}, {"type": "file_search", "vector_store_ids": ["vs_1"]}]}"#,
            Some("tools[1].type"),
            "only `function` tools",
        ),
        (
            r#"{"model": "m", "input": "x", "tools": [{"type": "computer_use_preview", "display_width": 1024, "display_height": 768, "environment": "browser"}]}"#,
            Some("tools[0].type"),
            "built-in tools run at OpenAI",
        ),
        (
            r#"{"model": "m", "input": "x", "tools": [{"type": "function", "parameters": {}}]}"#,
            Some("tools[0].name"),
            "missing field `name`",
        ),
        (
            r#"{"model": "m", "input": "x", "tool_choice": "sometimes"}"#,
            Some("tool_choice"),
            "not one of",
        ),
        (
            r#"{"model": "m", "input": "x", "tool_choice": {"type": "file_search"}}"#,
            Some("tool_choice.type"),
            "not supported",
        ),
        (
            r#"{"model": "m", "input": "x", "tool_choice": {"type": "function"}}"#,
            Some("tool_choice.name"),
            "missing field `name`",
        ),
        (
            r#"{"model": "m", "input": "x", "previous_response_id": "resp_123"}"#,
            Some("previous_response_id"),
            "stores no responses",
        ),
        (
            r#"{"model": "m", "input": "x", "conversation": "conv_123"}"#,
            Some("conversation"),
            "stores no responses or conversations",
        ),
        (
            r#"{"model": "m", "input": "x", "prompt": {"id": "pmpt_123"}}"#,
            Some("prompt"),
            "stored prompt templates",
        ),
        (
            r#"{"model": "m", "input": "x", "background": true}"#,
            Some("background"),
            "must be stored",
        ),
        (
            r#"{"model": "m", "input": "x", "temperature": 2.5}"#,
            Some("temperature"),
            "not between 0 and 2",
        ),
        (
            r#"{"model": "m", "input": "x", "top_p": 1.5}"#,
            Some("top_p"),
            "not between 0 and 1",
        ),
        (
            r#"{"model": "m", "input": "x", "max_output_tokens": 0}"#,
            Some("max_output_tokens"),
            "at least 1",
        ),
        (
            r#"{"model": "m", "input": "x", "max_output_tokens": "many"}"#,
            Some("max_output_tokens"),
            "invalid type",
        ),
        (
            r#"{"model": "m", "input": "x", "top_logprobs": 21}"#,
            Some("top_logprobs"),
            "between 0 and 20",
        ),
        (
            r#"{"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}"#,
            Some("text.format.name"),
            "missing field `name`",
        ),
        (
            r#"{"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}"#,
            Some("text.format.type"),
            "unknown variant `yaml`",
        ),
        (
            r#"{"model": "m", "input": "x", "truncation": "middle"}"#,
            Some("truncation"),
            "not one of",
        ),
        (
            r#"{"model": "m", "input": "x", "metadata": {"n": 5}}"#,
            Some("metadata.n"),
            "strings",
        ),
        (
            r#"{"model": "m", "input": "x", "include": [""]}"#,
            Some("include[0]"),
            "must not be empty",
        ),
        ("not json", None, "invalid JSON"),
    ];
    let ingress = ResponsesIngress::new();
    for (body, param, message) in cases {
        let error = ingress.decode_request(body.as_bytes()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{body}");
        assert_eq!(error.param(), *param, "{body}: {error}");
        assert!(error.to_string().contains(message), "{body}: {error}");
        assert!(matches!(error, Error::InvalidRequest { .. }));
    }
    // Sixteen metadata pairs at most, keys of 64 characters, values of 512.
    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let long_value = json!({"k": "v".repeat(513)});
    for (metadata, param) in [
        (Value::Object(many), "metadata"),
        (json!({"k".repeat(65): "v"}), "metadata"),
        (long_value, "metadata.k"),
    ] {
        let body = json!({"model": "m", "input": "x", "metadata": metadata}).to_string();
        let error = ingress.decode_request(body.as_bytes()).unwrap_err();
        assert_eq!(error.param(), Some(param), "{error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

#[test]
fn response_encoding() {
    let answer = answer_to_encode();
    let body = ResponsesIngress::new().encode_response_with(&echo_of_fixture(), &answer);
    check_json("responses/client_response.json", &body);
    assert_eq!(body["id"], "resp_01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["error"], Value::Null);
    assert_eq!(body["incomplete_details"], Value::Null);
    assert_eq!(body["store"], json!(false));
    // `output_text` is an SDK-side convenience, not part of the object.
    assert!(body.get("output_text").is_none());
    let items: Vec<(&str, &str)> = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["type"].as_str().unwrap(), i["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        items,
        [
            ("message", "msg_01XFDUDYJgAACzvnptvVoYEL"),
            ("function_call", "fc_01A"),
            ("function_call", "fc_01B")
        ]
    );
    assert_eq!(
        body["usage"],
        json!({
            "input_tokens": 1500,
            "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 100},
            "output_tokens": 120,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 1620
        })
    );
    // A client reads back what was answered.
    assert_eq!(comparable(answer_of(&body)), comparable(answer));

    // The ingress answering the request writes the same through the trait.
    assert_eq!(
        ResponsesIngress::answering(echo_of_fixture()).encode_response(&answer_to_encode()),
        body
    );
    let mut encoder =
        ResponsesIngress::answering(echo_of_fixture()).stream_encoder(&ChatRequest::default());
    let created: Value =
        serde_json::from_str(&encoder.encode(&events_to_encode()[0])[0].data).unwrap();
    assert_eq!(created["response"]["instructions"], body["instructions"]);

    // Without the request, the echo is OpenAI's defaults.
    let plain = ResponsesIngress::new().encode_response(&answer_to_encode());
    assert_eq!(plain["tools"], json!([]));
    assert_eq!(plain["tool_choice"], "auto");
    assert_eq!(plain["parallel_tool_calls"], json!(true));
    assert_eq!(plain["text"], json!({"format": {"type": "text"}}));
    assert_eq!(plain["metadata"], json!({}));
    assert_eq!(plain["truncation"], "disabled");
    assert_eq!(plain["output"], body["output"]);
}

fn single(message: AssistantMessage, reason: FinishReason) -> ChatResponse {
    ChatResponse {
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: reason,
            stop_sequence: None,
            logprobs: None,
        }],
        ..expected_text(OPENAI)
    }
}

#[test]
fn how_answers_end() {
    let ingress = ResponsesIngress::new();
    let echo = ResponseEcho::default();
    // Cut by the token limit: incomplete, the message too.
    let body = ingress.encode_response_with(&echo, &expected_length(OPENAI));
    assert_eq!(body["status"], "incomplete");
    assert_eq!(
        body["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(body["output"][0]["status"], "incomplete");
    assert_eq!(body["id"], "resp_B9MBs8CjcvOU2jLn4n570S5qMJKcT");
    assert_eq!(body["created_at"], json!(1741569952));
    // Withheld by a filter.
    let refused = single(
        AssistantMessage {
            text: None,
            refusal: Some("I can't help with that.".into()),
            tool_calls: Vec::new(),
        },
        FinishReason::ContentFilter,
    );
    let body = ingress.encode_response_with(&echo, &refused);
    assert_eq!(body["status"], "incomplete");
    assert_eq!(
        body["incomplete_details"],
        json!({"reason": "content_filter"})
    );
    assert_eq!(
        body["output"][0]["content"],
        json!([{"type": "refusal", "refusal": "I can't help with that."}])
    );
    assert_eq!(comparable(answer_of(&body)), comparable(refused));
    // The provider failed while generating.
    let failed = single(
        AssistantMessage {
            text: Some("Partial".into()),
            ..Default::default()
        },
        FinishReason::Error,
    );
    let body = ingress.encode_response_with(&echo, &failed);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["code"], "server_error");
    // A tool call that got no arguments gets an empty object, which clients can parse.
    let call = single(
        AssistantMessage {
            tool_calls: vec![ToolCall {
                id: "call_now".into(),
                name: "now".into(),
                arguments: String::new(),
            }],
            ..Default::default()
        },
        FinishReason::ToolCalls,
    );
    let body = ingress.encode_response_with(&echo, &call);
    assert_eq!(
        body["output"],
        json!([{"type": "function_call", "id": "fc_now", "call_id": "call_now", "name": "now", "arguments": "{}", "status": "completed"}])
    );
    // Logprobs, asked with `include`, come with the text; the bytes are the token's.
    let mut with_logprobs = expected_text(OPENAI);
    with_logprobs.choices[0].logprobs = Some(vec![TokenLogprob {
        token: "Hello".into(),
        logprob: -0.25,
        bytes: None,
        top_logprobs: vec![TopLogprob {
            token: "Hi".into(),
            logprob: -1.5,
            bytes: Some(vec![72, 105]),
        }],
    }]);
    let body = ingress.encode_response_with(&echo, &with_logprobs);
    assert_eq!(
        body["output"][0]["content"][0]["logprobs"],
        json!([{"token": "Hello", "logprob": -0.25, "bytes": [72, 101, 108, 108, 111], "top_logprobs": [{"token": "Hi", "logprob": -1.5, "bytes": [72, 105]}]}])
    );
}

#[test]
fn tool_calls_round_trip_through_the_next_request() {
    let ingress = ResponsesIngress::new();
    let body = ingress.encode_response_with(&ResponseEcho::default(), &answer_to_encode());
    // The client sends the output back as input, with the results of the calls.
    let mut input = vec![json!({"role": "user", "content": "Compare revenue and costs."})];
    input.extend(body["output"].as_array().unwrap().iter().cloned());
    input.push(
        json!({"type": "function_call_output", "call_id": "toolu_01A", "output": "[1, 2, 3]"}),
    );
    input.push(json!({"type": "function_call_output", "call_id": "toolu_01B", "output": "[4, 5]"}));
    let next = json!({"model": "smart", "input": input}).to_string();
    let decoded = ingress.decode(next.as_bytes()).unwrap();
    assert!(decoded.warnings.is_empty(), "{:?}", decoded.warnings);
    let answer = answer_to_encode();
    let message = &answer.choices[0].message;
    assert_eq!(
        decoded.value.request.messages,
        [
            Message::user("Compare revenue and costs."),
            Message::Assistant {
                content: vec![ContentPart::text(message.text.clone().unwrap())],
                tool_calls: message.tool_calls.clone(),
                name: None,
            },
            Message::Tool {
                tool_call_id: "toolu_01A".into(),
                content: vec![ContentPart::text("[1, 2, 3]")],
                is_error: false,
            },
            Message::Tool {
                tool_call_id: "toolu_01B".into(),
                content: vec![ContentPart::text("[4, 5]")],
                is_error: false,
            },
        ]
    );
    // And it reaches Anthropic as tool_use blocks answered by tool_result blocks.
    let encoded = AnthropicAdapter::new()
        .encode_request(&decoded.value.request, &anthropic_profile())
        .unwrap();
    let messages = &encoded.value["messages"];
    assert_eq!(messages[1]["content"][1]["type"], "tool_use");
    assert_eq!(messages[1]["content"][2]["id"], "toolu_01B");
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][1]["tool_use_id"], "toolu_01B");
}

/// The second turn of an OpenAI Agents SDK run (openai-agents 0.x over `AsyncOpenAI`, recorded
/// against this ingress's own output): the answer's items sent back, with the tool results.
#[test]
fn agents_sdk_turn() {
    let decoded = ResponsesIngress::new()
        .decode(&read("responses/agents_sdk_request.json"))
        .unwrap();
    assert!(decoded.warnings.is_empty(), "{:?}", decoded.warnings);
    let request = decoded.value.request;
    let roles: Vec<Role> = request.messages.iter().map(Message::role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::Tool,
            Role::Tool
        ]
    );
    let Message::Assistant { tool_calls, .. } = &request.messages[2] else {
        panic!("{:?}", request.messages[2]);
    };
    let ids: Vec<&str> = tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["call_abc123", "call_def456"]);
    assert_eq!(request.tools[0].strict, Some(true));
    assert!(request.is_stream());
    // It reaches both providers.
    for subject in subjects() {
        subject
            .adapter
            .encode_request(&request, &subject.profile)
            .unwrap_or_else(|e| panic!("{}: {e}", subject.name));
    }
}

// ---------------------------------------------------------------------------------------------
// Streams

#[test]
fn stream_encoding() {
    let events = events_to_encode();
    let echo = echo_of_fixture();
    let text = encode_events(echo.clone(), &events);
    check_text("responses/client_stream.sse", &text);
    assert!(!text.contains("[DONE]"));
    let (datas, response) = read_stream(&text).unwrap();
    let kinds: Vec<&str> = datas.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    // The lifecycle events echo the request too.
    assert_eq!(
        datas[0]["response"]["metadata"],
        json!({"team": "travel", "run": "42"})
    );
    assert_eq!(datas[0]["response"]["usage"], Value::Null);
    // The stream adds up to the answer, and to the very object a non-streamed call returns.
    let answer = accumulate(&events);
    assert_eq!(
        response,
        ResponsesIngress::new().encode_response_with(&echo, &answer)
    );
    assert_eq!(comparable(answer_of(&response)), comparable(answer));
    // Any chunking of the bytes gives the client the same events.
    let whole = parse_all(text.as_bytes());
    for size in 1..64 {
        let mut parser = SseParser::new();
        let mut parsed = Vec::new();
        for chunk in text.as_bytes().chunks(size) {
            parsed.extend(parser.push(chunk));
        }
        parsed.extend(parser.finish());
        assert_eq!(parsed, whole, "chunks of {size}");
    }
}

#[test]
fn the_trait_encoder_echoes_the_normalized_request() {
    let (decoded, _) = decode_fixture();
    let mut encoder = ResponsesIngress::new().stream_encoder(&decoded.request);
    let sse = encoder.encode(&events_to_encode()[0]);
    let created: Value = serde_json::from_str(&sse[0].data).unwrap();
    assert_eq!(created["response"]["tools"][0]["name"], "get_weather");
    assert_eq!(created["response"]["temperature"], json!(0.7));
    assert_eq!(created["response"]["text"]["format"]["name"], "comparison");
}

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: "chatcmpl-x1".into(),
        model: "m".into(),
        created: Some(1741569952),
    }
}

fn finish(reason: FinishReason) -> StreamEvent {
    StreamEvent::Finish {
        choice: 0,
        reason,
        stop_sequence: None,
    }
}

#[test]
fn streams_that_end_short_or_refuse() {
    // Cut by the token limit: the open message is incomplete, the stream ends with
    // response.incomplete.
    let events = [
        start(),
        StreamEvent::RoleStart { choice: 0 },
        StreamEvent::TextDelta {
            choice: 0,
            text: "The history of Rome".into(),
        },
        finish(FinishReason::Length),
        StreamEvent::Usage(Usage {
            input_tokens: 12,
            output_tokens: 5,
            ..Usage::default()
        }),
        StreamEvent::Done,
    ];
    let text = encode_events(ResponseEcho::default(), &events);
    check_text("responses/stream_incomplete.sse", &text);
    let (datas, response) = read_stream(&text).unwrap();
    assert_eq!(datas.last().unwrap()["type"], "response.incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(response["output"][0]["status"], "incomplete");
    assert_eq!(response["usage"]["total_tokens"], json!(17));
    assert_eq!(
        response,
        ResponsesIngress::new()
            .encode_response_with(&ResponseEcho::default(), &accumulate(&events))
    );

    // A refusal is a refusal part, after the text part it follows.
    let events = [
        start(),
        StreamEvent::RoleStart { choice: 0 },
        StreamEvent::TextDelta {
            choice: 0,
            text: "Well, ".into(),
        },
        StreamEvent::RefusalDelta {
            choice: 0,
            text: "I can't".into(),
        },
        StreamEvent::RefusalDelta {
            choice: 0,
            text: " help with that.".into(),
        },
        finish(FinishReason::Stop),
        StreamEvent::Done,
    ];
    let (datas, response) = read_stream(&encode_events(ResponseEcho::default(), &events)).unwrap();
    assert!(datas.iter().any(|d| d["type"] == "response.refusal.done"
        && d["refusal"] == "I can't help with that."
        && d["content_index"] == json!(1)));
    assert_eq!(
        response["output"][0]["content"],
        json!([
            {"type": "output_text", "text": "Well, ", "annotations": []},
            {"type": "refusal", "refusal": "I can't help with that."}
        ])
    );
    assert_eq!(response["usage"], Value::Null);
    assert_eq!(
        response,
        ResponsesIngress::new()
            .encode_response_with(&ResponseEcho::default(), &accumulate(&events))
    );

    // Text after a tool call is a message of its own; a call without arguments gets `{}`.
    let events = [
        start(),
        StreamEvent::RoleStart { choice: 0 },
        StreamEvent::ToolCallStart {
            choice: 0,
            index: 0,
            id: "toolu_now".into(),
            name: "now".into(),
        },
        StreamEvent::ToolCallEnd {
            choice: 0,
            index: 0,
        },
        StreamEvent::TextDelta {
            choice: 0,
            text: "Calling.".into(),
        },
        finish(FinishReason::ToolCalls),
        StreamEvent::Done,
    ];
    let (_, response) = read_stream(&encode_events(ResponseEcho::default(), &events)).unwrap();
    let output = &response["output"];
    assert_eq!(output[0]["arguments"], "{}");
    assert_eq!(output[1]["type"], "message");
    assert_eq!(output[1]["id"], "msg_x1");
}

#[test]
fn parallel_calls_whose_pieces_interleave_come_out_one_after_the_other() {
    // The OpenAI adapter closes tool calls at the finish, and a provider may interleave the
    // pieces of parallel calls: the later call waits until the earlier one is done.
    let call = |index: u32, id: &str| StreamEvent::ToolCallStart {
        choice: 0,
        index,
        id: id.into(),
        name: "get_weather".into(),
    };
    let piece = |index: u32, arguments: &str| StreamEvent::ToolCallDelta {
        choice: 0,
        index,
        arguments: arguments.into(),
    };
    let end = |index: u32| StreamEvent::ToolCallEnd { choice: 0, index };
    let events = [
        start(),
        StreamEvent::RoleStart { choice: 0 },
        StreamEvent::TextDelta {
            choice: 0,
            text: "Both.".into(),
        },
        call(0, "call_a"),
        piece(0, r#"{"location":"#),
        call(1, "call_b"),
        piece(1, r#"{"location":"Tokyo"}"#),
        piece(0, r#""Paris"}"#),
        end(0),
        end(1),
        finish(FinishReason::ToolCalls),
        StreamEvent::Done,
    ];
    check_stream(&events).unwrap();
    let text = encode_events(ResponseEcho::default(), &events);
    let (datas, response) = read_stream(&text).unwrap();
    let arguments: Vec<(u64, &str)> = datas
        .iter()
        .filter(|d| d["type"] == "response.function_call_arguments.delta")
        .map(|d| {
            (
                d["output_index"].as_u64().unwrap(),
                d["delta"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        arguments,
        [
            (1, r#"{"location":"#),
            (1, r#""Paris"}"#),
            (2, r#"{"location":"Tokyo"}"#)
        ]
    );
    assert_eq!(
        response,
        ResponsesIngress::new()
            .encode_response_with(&ResponseEcho::default(), &accumulate(&events))
    );
}

#[test]
fn errors_in_streams() {
    let error = Error::provider(
        Provider::OpenAi,
        401,
        Some("invalid_api_key".into()),
        "Incorrect API key provided: sk-proj-****abcd.",
        None,
    );
    let events = [
        start(),
        StreamEvent::RoleStart { choice: 0 },
        StreamEvent::TextDelta {
            choice: 0,
            text: "Half an ans".into(),
        },
        StreamEvent::Error(error.to_stream_error()),
    ];
    let text = encode_events(ResponseEcho::default(), &events);
    assert!(!text.contains("sk-proj"));
    let (datas, response) = read_stream(&text).unwrap();
    let n = datas.len();
    assert_eq!(datas[n - 2]["type"], "error");
    assert_eq!(datas[n - 2]["code"], "upstream_error");
    assert!(
        datas[n - 2]["message"]
            .as_str()
            .unwrap()
            .contains("credentials")
    );
    assert_eq!(response["status"], "failed");
    assert_eq!(response["error"]["code"], "server_error");
    // What the client saw, as far as it got.
    assert_eq!(response["output"][0]["status"], "incomplete");
    assert_eq!(response["output"][0]["content"][0]["text"], "Half an ans");

    // Rate limited before anything was written: the stream still begins as a response.
    let limited = StreamError {
        kind: ErrorKind::RateLimited,
        message: "the model provider is rate limiting requests; retry later".into(),
    };
    let text = encode_events(ResponseEcho::default(), &[StreamEvent::Error(limited)]);
    let (datas, response) = read_stream(&text).unwrap();
    let kinds: Vec<&str> = datas.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "error",
            "response.failed"
        ]
    );
    assert_eq!(response["error"]["code"], "rate_limit_exceeded");

    // Anthropic overloaded mid-stream.
    let events = decode_stream(
        &AnthropicAdapter::new(),
        &read("anthropic/stream_error.sse"),
        3,
    )
    .unwrap();
    let text = encode_events(ResponseEcho::default(), &events);
    check_text(
        "responses/anthropic_stream_error_to_responses_client.sse",
        &text,
    );
    let (datas, response) = read_stream(&text).unwrap();
    assert_eq!(datas[datas.len() - 2]["type"], "error");
    assert_eq!(response["status"], "failed");

    // A generation that ended with an error fails without an error event.
    let events = [
        start(),
        StreamEvent::RoleStart { choice: 0 },
        finish(FinishReason::Error),
        StreamEvent::Done,
    ];
    let (datas, response) = read_stream(&encode_events(ResponseEcho::default(), &events)).unwrap();
    assert!(datas.iter().all(|d| d["type"] != "error"));
    assert_eq!(response["status"], "failed");
}

#[test]
fn error_bodies_are_openai_error_bodies() {
    let responses = ResponsesIngress::new();
    let openai = OpenAiIngress::new();
    for kind in [
        ErrorKind::InvalidRequest,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::PayloadTooLarge,
        ErrorKind::RateLimited,
        ErrorKind::Unavailable,
        ErrorKind::UpstreamFailed,
        ErrorKind::UpstreamTimeout,
        ErrorKind::Internal,
    ] {
        assert_eq!(
            responses.error_body(kind, "m", Some("p")),
            openai.error_body(kind, "m", Some("p")),
            "{kind}"
        );
    }
    let error = responses
        .decode_request(br#"{"model": "m", "input": "x", "previous_response_id": "resp_1"}"#)
        .unwrap_err();
    let body = responses.encode_error(&error);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "previous_response_id");
    assert_eq!(body["error"]["code"], "invalid_request");
}

// ---------------------------------------------------------------------------------------------
// Other providers' answers

#[test]
fn anthropic_stream_to_responses_client() {
    let bytes = read("anthropic/stream_tool_calls.sse");
    let adapter = AnthropicAdapter::new();
    let whole = decode_stream(&adapter, &bytes, 0).unwrap();
    let text = encode_events(ResponseEcho::default(), &whole);
    check_text("responses/anthropic_stream_to_responses_client.sse", &text);
    // Whatever the chunking of Anthropic's bytes, the client gets the same stream.
    for size in 1..bytes.len() {
        let events = decode_stream(&adapter, &bytes, size).unwrap();
        assert_eq!(
            encode_events(ResponseEcho::default(), &events),
            text,
            "chunks of {size}"
        );
    }
    let (_, response) = read_stream(&text).unwrap();
    assert_eq!(response["id"], "resp_013Zva2CMHLNnXjNJJKqJ2EF");
    assert_eq!(response["output"][1]["call_id"], ANTHROPIC.tool_ids[0]);
    assert_eq!(
        response["usage"]["input_tokens_details"]["cached_tokens"],
        json!(1024)
    );
    assert_eq!(
        comparable(answer_of(&response)),
        comparable(expected_tool_calls(ANTHROPIC))
    );
}

#[test]
fn openai_stream_to_responses_client() {
    let events = decode_stream(
        &OpenAiAdapter::new(),
        &read("openai/stream_tool_calls.sse"),
        7,
    )
    .unwrap();
    let text = encode_events(ResponseEcho::default(), &events);
    check_text("responses/openai_stream_to_responses_client.sse", &text);
    let (_, response) = read_stream(&text).unwrap();
    assert_eq!(
        comparable(answer_of(&response)),
        comparable(expected_tool_calls(OPENAI))
    );
    let events = decode_stream(&OpenAiAdapter::new(), &read("openai/stream_text.sse"), 0).unwrap();
    check_text(
        "responses/openai_text_to_responses_client.sse",
        &encode_events(ResponseEcho::default(), &events),
    );
    // Streams of every case, from every provider, read back as the answer they stand for.
    for subject in subjects() {
        for (name, expected) in stream_cases() {
            let bytes = stream_fixture(subject.dir, name);
            let events = decode_stream(subject.adapter.as_ref(), &bytes, 5).unwrap();
            let (_, response) = read_stream(&encode_events(ResponseEcho::default(), &events))
                .unwrap_or_else(|e| panic!("{} {name}: {e}", subject.name));
            assert_eq!(
                comparable(answer_of(&response)),
                comparable(expected(subject.meta)),
                "{} {name}",
                subject.name
            );
        }
    }
}

#[test]
fn anthropic_answer_to_responses_client() {
    let answer = AnthropicAdapter::new()
        .decode_response(&read("anthropic/response_tool_calls.json"))
        .unwrap();
    let body = ResponsesIngress::new().encode_response(&answer);
    check_json("responses/anthropic_answer_to_responses_client.json", &body);
    assert_eq!(
        comparable(answer_of(&body)),
        comparable(expected_tool_calls(ANTHROPIC))
    );
    // Answers of every case, from every provider, read back the same.
    for subject in subjects() {
        for (name, expected) in response_cases() {
            let answer = subject
                .adapter
                .decode_response(&read(&format!("{}/response_{name}.json", subject.dir)))
                .unwrap();
            let body = ResponsesIngress::new().encode_response(&answer);
            assert_eq!(
                comparable(answer_of(&body)),
                comparable(expected(subject.meta)),
                "{} {name}",
                subject.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated streams

/// A choice's plan: text pieces, tool calls (arguments in pieces), whether the calls'
/// pieces interleave, how it ends.
type Plan = (
    Vec<String>,
    Vec<Vec<String>>,
    bool,
    FinishReason,
    Option<Usage>,
);

fn plan() -> impl Strategy<Value = Plan> {
    let piece = "[a-zA-Z0-9 {}\":,\u{e9}\u{1f600}]{1,6}";
    (
        vec(piece, 0..4),
        vec(vec(piece, 0..4), 0..4),
        any::<bool>(),
        prop_oneof![
            Just(FinishReason::Stop),
            Just(FinishReason::ToolCalls),
            Just(FinishReason::Length),
            Just(FinishReason::ContentFilter),
            Just(FinishReason::Error),
        ],
        proptest::option::of(
            (0u32..5000, 0u32..500, 0u32..100).prop_map(|(i, o, c)| Usage {
                input_tokens: i + c,
                output_tokens: o,
                cached_input_tokens: Some(c),
                ..Usage::default()
            }),
        ),
    )
}

fn planned_events((texts, calls, interleave, reason, usage): &Plan) -> Vec<StreamEvent> {
    let mut events = vec![start(), StreamEvent::RoleStart { choice: 0 }];
    for text in texts {
        events.push(StreamEvent::TextDelta {
            choice: 0,
            text: text.clone(),
        });
    }
    let starts = |index: usize| StreamEvent::ToolCallStart {
        choice: 0,
        index: index as u32,
        id: format!("call_{index}"),
        name: "f".into(),
    };
    let delta = |index: usize, piece: &String| StreamEvent::ToolCallDelta {
        choice: 0,
        index: index as u32,
        arguments: piece.clone(),
    };
    if *interleave {
        // All calls open, their pieces round-robin, all closed at the end.
        events.extend((0..calls.len()).map(starts));
        let longest = calls.iter().map(Vec::len).max().unwrap_or(0);
        for round in 0..longest {
            for (index, pieces) in calls.iter().enumerate() {
                if let Some(piece) = pieces.get(round) {
                    events.push(delta(index, piece));
                }
            }
        }
        events.extend((0..calls.len()).map(|index| StreamEvent::ToolCallEnd {
            choice: 0,
            index: index as u32,
        }));
    } else {
        for (index, pieces) in calls.iter().enumerate() {
            events.push(starts(index));
            events.extend(pieces.iter().map(|piece| delta(index, piece)));
            events.push(StreamEvent::ToolCallEnd {
                choice: 0,
                index: index as u32,
            });
        }
    }
    events.push(finish(*reason));
    if let Some(usage) = usage {
        events.push(StreamEvent::Usage(*usage));
    }
    events.push(StreamEvent::Done);
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn generated_streams_add_up_to_the_non_streamed_response(plan in plan(), size in 1usize..40) {
        let events = planned_events(&plan);
        prop_assert!(check_stream(&events).is_ok());
        let text = encode_events(ResponseEcho::default(), &events);
        // Read in chunks of `size` bytes, as a client off the network.
        let mut parser = SseParser::new();
        let mut parsed = Vec::new();
        for chunk in text.as_bytes().chunks(size) {
            parsed.extend(parser.push(chunk));
        }
        parsed.extend(parser.finish());
        prop_assert_eq!(&parsed, &parse_all(text.as_bytes()));
        let (_, response) = read_stream(&text).map_err(TestCaseError::fail)?;
        let answer = accumulate(&events);
        prop_assert_eq!(
            &response,
            &ResponsesIngress::new().encode_response_with(&ResponseEcho::default(), &answer)
        );
        prop_assert_eq!(comparable(answer_of(&response)), comparable(answer));
    }
}
