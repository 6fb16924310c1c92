//! The suite every provider adapter passes: request translation, response translation,
//! streaming translation (text, tool calls split at awkward places, usage), error mapping, and
//! the unsupported-parameter policy.

use agenthub_llm_router::Error;
use agenthub_llm_router::adapters::{Call, Credential, Operation, ProviderOptions};
use agenthub_llm_router::model::*;
use agenthub_llm_router::params::{ModelProfile, Param, UnsupportedPolicy};
use agenthub_policy::ErrorKind;
use serde_json::{Value, json};

use crate::cases::*;
use crate::support::*;

fn warning_params(warnings: &[agenthub_llm_router::params::Warning]) -> Vec<String> {
    warnings.iter().map(|w| w.param.clone()).collect()
}

#[test]
fn request_translation() {
    for subject in subjects() {
        let encoded = subject
            .adapter
            .encode_request(&rich_request(), &subject.profile)
            .unwrap_or_else(|e| panic!("{}: {e}", subject.name));
        check_json(subject.request_fixture, &encoded.value);
        assert_eq!(
            warning_params(&encoded.warnings),
            subject.rich_warnings,
            "{}",
            subject.name
        );
    }
}

#[test]
fn response_translation() {
    for subject in subjects() {
        for (case, expected) in response_cases() {
            let fixture = format!("{}/response_{case}.json", subject.dir);
            let decoded = subject
                .adapter
                .decode_response(&read(&fixture))
                .unwrap_or_else(|e| panic!("{fixture}: {e}"));
            assert_eq!(
                canon(decoded),
                canon(expected(subject.meta)),
                "{} {fixture}",
                subject.name
            );
        }
    }
}

#[test]
fn streaming_translation() {
    for subject in subjects() {
        for (case, expected) in stream_cases() {
            let fixture = format!("{}/stream_{case}.sse", subject.dir);
            let bytes = read(&fixture);
            let whole = decode_stream(subject.adapter.as_ref(), &bytes, 0)
                .unwrap_or_else(|e| panic!("{fixture}: {e}"));
            check_stream(&whole).unwrap_or_else(|e| panic!("{fixture}: {e}"));
            // Any chunking of the bytes (inside lines, JSON strings and UTF-8 characters) gives
            // the same events.
            for size in [1, 2, 3, 7, 64, 1000] {
                let chunked = decode_stream(subject.adapter.as_ref(), &bytes, size).unwrap();
                assert_eq!(chunked, whole, "{fixture} in chunks of {size}");
            }
            assert_eq!(
                canon(accumulate(&whole)),
                canon(expected(subject.meta)),
                "{} {fixture}",
                subject.name
            );
            // The usage comes once, last before Done.
            let n = whole.len();
            assert!(matches!(whole[n - 2], StreamEvent::Usage(_)), "{fixture}");
            assert_eq!(whole[n - 1], StreamEvent::Done);
            if case == "tool_calls" {
                let starts: Vec<(u32, String)> = whole
                    .iter()
                    .filter_map(|e| match e {
                        StreamEvent::ToolCallStart { index, id, .. } => Some((*index, id.clone())),
                        _ => None,
                    })
                    .collect();
                assert_eq!(
                    starts,
                    [
                        (0, subject.meta.tool_ids[0].to_owned()),
                        (1, subject.meta.tool_ids[1].to_owned())
                    ]
                );
                let pieces = whole
                    .iter()
                    .filter(|e| matches!(e, StreamEvent::ToolCallDelta { .. }))
                    .count();
                assert_eq!(
                    pieces, 7,
                    "{fixture}: argument pieces pass through as they come"
                );
            }
        }
    }
}

#[test]
fn errors_inside_a_stream_end_it() {
    for subject in subjects() {
        let fixture = format!("{}/stream_error.sse", subject.dir);
        let events = decode_stream(subject.adapter.as_ref(), &read(&fixture), 5)
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        check_stream(&events).unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let Some(StreamEvent::Error(error)) = events.last() else {
            panic!("{fixture}: {events:?}");
        };
        assert_eq!(error.kind, ErrorKind::UpstreamFailed, "{fixture}");
        assert!(
            events.contains(&StreamEvent::TextDelta {
                choice: 0,
                text: "Hello".into()
            }),
            "{fixture}: what came before the error is kept"
        );
    }
}

#[test]
fn streams_cut_short_are_errors() {
    for subject in subjects() {
        let bytes = read(&format!("{}/stream_text.sse", subject.dir));
        let cut = &bytes[..bytes.len() / 2];
        let error = decode_stream(subject.adapter.as_ref(), cut, 0).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UpstreamFailed, "{}", subject.name);
        assert!(error.is_retryable());
        assert!(matches!(error, Error::Protocol { .. }), "{}", subject.name);
    }
}

#[test]
fn malformed_answers_are_upstream_failures() {
    for subject in subjects() {
        for body in [&b"<html>oops</html>"[..], b"{\"id\": 3}", b""] {
            let error = subject.adapter.decode_response(body).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::UpstreamFailed, "{}", subject.name);
            assert!(!error.public_message().contains("oops"));
        }
    }
}

/// One error case: the status, each provider's body, and the classification every adapter
/// must reach.
struct ErrorCase {
    name: &'static str,
    openai: (u16, &'static str),
    anthropic: (u16, &'static str),
    kind: ErrorKind,
    retryable: bool,
    /// Text the caller's message must contain; `None`: the provider's words must not appear.
    shows: Option<&'static str>,
    /// The parameter the provider names, passed on (OpenAI, Anthropic).
    param: (Option<&'static str>, Option<&'static str>),
}

fn error_cases() -> Vec<ErrorCase> {
    vec![
        ErrorCase {
            name: "invalid request",
            openai: (
                400,
                r#"{"error": {"message": "Invalid 'messages[1].content': string too long.", "type": "invalid_request_error", "param": "messages[1].content", "code": "string_above_max_length"}}"#,
            ),
            anthropic: (
                400,
                r#"{"type": "error", "error": {"type": "invalid_request_error", "message": "messages.1.content: string too long."}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}"#,
            ),
            kind: ErrorKind::InvalidRequest,
            retryable: false,
            shows: Some("string too long"),
            param: (Some("messages[1].content"), None),
        },
        ErrorCase {
            name: "rejected credentials",
            openai: (
                401,
                r#"{"error": {"message": "Incorrect API key provided: sk-proj-****abcd.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}"#,
            ),
            anthropic: (
                401,
                r#"{"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key sk-ant-****abcd"}}"#,
            ),
            kind: ErrorKind::UpstreamFailed,
            retryable: false,
            shows: None,
            param: (None, None),
        },
        ErrorCase {
            name: "forbidden",
            openai: (
                403,
                r#"{"error": {"message": "Project proj_abc does not have access to model gpt-4.1", "type": "invalid_request_error", "param": null, "code": "model_not_found"}}"#,
            ),
            anthropic: (
                403,
                r#"{"type": "error", "error": {"type": "permission_error", "message": "Your API key does not have permission to use the specified resource."}}"#,
            ),
            kind: ErrorKind::UpstreamFailed,
            retryable: false,
            shows: None,
            param: (None, None),
        },
        ErrorCase {
            name: "rate limited",
            openai: (
                429,
                r#"{"error": {"message": "Rate limit reached for gpt-4.1 in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 1500.", "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}"#,
            ),
            anthropic: (
                429,
                r#"{"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}}"#,
            ),
            kind: ErrorKind::RateLimited,
            retryable: true,
            shows: Some("rate limiting"),
            param: (None, None),
        },
        ErrorCase {
            name: "server error",
            openai: (
                500,
                r#"{"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": null, "code": null}}"#,
            ),
            anthropic: (
                500,
                r#"{"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}"#,
            ),
            kind: ErrorKind::UpstreamFailed,
            retryable: true,
            shows: None,
            param: (None, None),
        },
        ErrorCase {
            name: "overloaded",
            openai: (
                503,
                r#"{"error": {"message": "The engine is currently overloaded, please try again later.", "type": "server_error", "param": null, "code": null}}"#,
            ),
            anthropic: (
                529,
                r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
            ),
            kind: ErrorKind::UpstreamFailed,
            retryable: true,
            shows: None,
            param: (None, None),
        },
        ErrorCase {
            name: "timeout",
            openai: (
                504,
                "<html><body><h1>504 Gateway Time-out</h1></body></html>",
            ),
            anthropic: (
                504,
                r#"{"type": "error", "error": {"type": "timeout_error", "message": "Request timed out"}}"#,
            ),
            kind: ErrorKind::UpstreamTimeout,
            retryable: true,
            shows: None,
            param: (None, None),
        },
        ErrorCase {
            name: "a proxy's page",
            openai: (502, "<html><body>502 Bad Gateway</body></html>"),
            anthropic: (502, "<html><body>502 Bad Gateway</body></html>"),
            kind: ErrorKind::UpstreamFailed,
            retryable: true,
            shows: None,
            param: (None, None),
        },
        ErrorCase {
            name: "prompt too large",
            openai: (
                413,
                r#"{"error": {"message": "Request too large", "type": "invalid_request_error", "param": null, "code": null}}"#,
            ),
            anthropic: (
                413,
                r#"{"type": "error", "error": {"type": "request_too_large", "message": "Request exceeds the maximum allowed number of bytes."}}"#,
            ),
            kind: ErrorKind::PayloadTooLarge,
            retryable: false,
            shows: Some("rejected the request"),
            param: (None, None),
        },
    ]
}

#[test]
fn error_mapping() {
    for subject in subjects() {
        for case in error_cases() {
            let ((status, body), param) = match subject.meta.model {
                m if m == OPENAI.model => (case.openai, case.param.0),
                _ => (case.anthropic, case.param.1),
            };
            let error = subject.adapter.decode_error(status, body.as_bytes());
            let at = format!("{} {}", subject.name, case.name);
            assert_eq!(error.kind(), case.kind, "{at}");
            assert_eq!(error.is_retryable(), case.retryable, "{at}");
            assert_eq!(error.param(), param, "{at}");
            assert_eq!(
                error.provider_error().map(|e| e.status),
                Some(status),
                "{at}"
            );
            let public = error.public_message();
            match case.shows {
                Some(text) => assert!(public.contains(text), "{at}: {public}"),
                None => {
                    for secret in ["sk-", "proj_", "Internal server error", "Overloaded"] {
                        assert!(!public.contains(secret), "{at}: {public}");
                    }
                }
            }
        }
    }
}

#[test]
fn openai_quota_exhaustion_is_not_retryable() {
    let adapter = agenthub_llm_router::adapters::OpenAiAdapter::new();
    use agenthub_llm_router::adapters::ProviderAdapter;
    let error = adapter.decode_error(
        429,
        br#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#,
    );
    assert_eq!(error.kind(), ErrorKind::UpstreamFailed);
    assert!(!error.is_retryable());
    // A parameter the provider names is passed on for the caller's own mistakes.
    let error = adapter.decode_error(
        400,
        br#"{"error": {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error", "param": "temperature", "code": "invalid_value"}}"#,
    );
    assert_eq!(error.param(), Some("temperature"));
}

/// How one adapter must treat a request change: the parameters it drops (warnings) under the
/// drop policy. Under the reject policy the same request must fail naming the first of them.
struct PolicyCase {
    name: &'static str,
    edit: fn(&mut ChatRequest),
    profile: fn(&mut ModelProfile),
    openai: &'static [&'static str],
    anthropic: &'static [&'static str],
}

fn nothing(_: &mut ModelProfile) {}

fn policy_cases() -> Vec<PolicyCase> {
    vec![
        PolicyCase {
            name: "plain",
            edit: |_| {},
            profile: nothing,
            openai: &[],
            anthropic: &[],
        },
        PolicyCase {
            name: "several choices",
            edit: |r| r.n = Some(2),
            profile: nothing,
            openai: &[],
            anthropic: &["n"],
        },
        PolicyCase {
            name: "one choice needs no support",
            edit: |r| r.n = Some(1),
            profile: nothing,
            openai: &[],
            anthropic: &[],
        },
        PolicyCase {
            name: "logprobs, seed, penalties, logit bias",
            edit: |r| {
                r.logprobs = Some(LogprobsRequest {
                    top_logprobs: Some(3),
                });
                r.seed = Some(1);
                r.sampling.frequency_penalty = Some(0.1);
                r.sampling.presence_penalty = Some(0.2);
                r.sampling.logit_bias = Some(vec![("50256".into(), -100.0)]);
            },
            profile: nothing,
            openai: &[],
            anthropic: &[
                "frequency_penalty",
                "presence_penalty",
                "logit_bias",
                "seed",
                "logprobs",
            ],
        },
        PolicyCase {
            name: "top_k",
            edit: |r| r.sampling.top_k = Some(40),
            profile: nothing,
            openai: &["top_k"],
            anthropic: &[],
        },
        PolicyCase {
            name: "temperature above Anthropic's range",
            edit: |r| r.sampling.temperature = Some(1.5),
            profile: nothing,
            openai: &[],
            anthropic: &["temperature"],
        },
        PolicyCase {
            name: "JSON mode",
            edit: |r| r.response_format = Some(ResponseFormat::JsonObject),
            profile: nothing,
            openai: &[],
            anthropic: &["response_format"],
        },
        PolicyCase {
            name: "JSON schema on a model without structured outputs",
            edit: |r| r.response_format = rich_request().response_format,
            profile: |p| p.structured_outputs = false,
            openai: &[],
            anthropic: &["response_format"],
        },
        PolicyCase {
            name: "six stop sequences",
            edit: |r| r.stop = (0..6).map(|i| format!("STOP{i}")).collect(),
            profile: nothing,
            openai: &["stop"],
            anthropic: &[],
        },
        PolicyCase {
            name: "a failed tool result with an image",
            edit: |r| {
                r.messages.push(Message::Tool {
                    tool_call_id: "call_1".into(),
                    content: vec![
                        ContentPart::text("rendered"),
                        ContentPart::Image(Image {
                            source: ImageSource::Url("https://example.com/x.png".into()),
                            detail: None,
                        }),
                    ],
                    is_error: true,
                })
            },
            profile: nothing,
            openai: &["tool_result.is_error", "tool_result.content"],
            anthropic: &[],
        },
        PolicyCase {
            name: "a named participant",
            edit: |r| {
                r.messages.push(Message::User {
                    content: vec![ContentPart::text("hi")],
                    name: Some("bob".into()),
                })
            },
            profile: nothing,
            openai: &[],
            anthropic: &["messages[].name"],
        },
        PolicyCase {
            name: "a model that takes no temperature",
            edit: |r| r.sampling.temperature = Some(0.2),
            profile: |p| p.unsupported = vec![Param::Temperature],
            openai: &["temperature"],
            anthropic: &["temperature"],
        },
    ]
}

fn basic_request() -> ChatRequest {
    ChatRequest {
        model: "smart".into(),
        messages: vec![Message::user("Hello")],
        max_output_tokens: Some(100),
        ..ChatRequest::default()
    }
}

#[test]
fn unsupported_parameter_policy() {
    for subject in subjects() {
        for case in policy_cases() {
            let mut request = basic_request();
            (case.edit)(&mut request);
            let mut profile = subject.profile.clone();
            (case.profile)(&mut profile);
            let expected = if subject.meta.model == OPENAI.model {
                case.openai
            } else {
                case.anthropic
            };
            let at = format!("{} {}", subject.name, case.name);

            let dropped = subject
                .adapter
                .encode_request(&request, &profile)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(warning_params(&dropped.warnings), expected, "{at}");
            // Dropped parameters are not sent.
            let body = dropped.value.as_object().unwrap();
            for param in expected {
                let changed_not_dropped = ["stop", "temperature"].contains(param)
                    && !profile.unsupported.contains(&Param::Temperature);
                if !param.contains('.') && !param.contains('[') && !changed_not_dropped {
                    assert!(!body.contains_key(*param), "{at}: {param} was sent");
                }
            }

            profile.on_unsupported = UnsupportedPolicy::Reject;
            let rejected = subject.adapter.encode_request(&request, &profile);
            match expected.first() {
                None => {
                    rejected.unwrap_or_else(|e| panic!("{at}: {e}"));
                }
                Some(param) => {
                    let error = rejected.unwrap_err();
                    assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{at}");
                    assert_eq!(error.param(), Some(*param), "{at}");
                }
            }
        }
    }
}

#[test]
fn clamped_and_cut_values() {
    let subjects = subjects();
    let anthropic = subjects.iter().find(|s| s.name == "anthropic").unwrap();
    let mut request = basic_request();
    request.sampling.temperature = Some(1.5);
    let body = anthropic
        .adapter
        .encode_request(&request, &anthropic.profile)
        .unwrap()
        .value;
    assert_eq!(body["temperature"], json!(1.0));

    let openai = subjects.iter().find(|s| s.name == "openai").unwrap();
    request.stop = (0..6).map(|i| format!("S{i}")).collect();
    let body = openai
        .adapter
        .encode_request(&request, &openai.profile)
        .unwrap()
        .value;
    assert_eq!(body["stop"], json!(["S0", "S1", "S2", "S3"]));
    assert_eq!(body["temperature"], json!(1.5));
}

#[test]
fn max_tokens_default_from_the_catalog() {
    for subject in subjects() {
        let mut request = basic_request();
        request.max_output_tokens = None;
        let body = subject
            .adapter
            .encode_request(&request, &subject.profile)
            .unwrap()
            .value;
        match subject.name {
            "anthropic" => assert_eq!(body["max_tokens"], json!(8192)),
            _ => {
                assert_eq!(body.get("max_tokens"), None);
                assert_eq!(body.get("max_completion_tokens"), None);
            }
        }
    }
}

#[test]
fn invalid_tool_call_arguments_are_named() {
    for subject in subjects() {
        let mut request = basic_request();
        request.messages.push(Message::Assistant {
            content: Vec::new(),
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: "{\"a\":".into(),
            }],
            name: None,
        });
        let result = subject.adapter.encode_request(&request, &subject.profile);
        match subject.name {
            // OpenAI takes arguments as text, valid or not, as it gives them.
            "openai" | "openai-compatible" => {
                result.unwrap();
            }
            _ => {
                let error = result.unwrap_err();
                assert_eq!(
                    error.param(),
                    Some("messages[1].tool_calls[0].function.arguments")
                );
            }
        }
    }
}

#[test]
fn embeddings() {
    for subject in subjects() {
        let request = EmbeddingsRequest {
            model: "embed".into(),
            input: EmbeddingInput::Text(vec!["hello".into(), "world".into()]),
            dimensions: Some(256),
            encoding: EmbeddingEncoding::Base64,
            user: None,
        };
        let profile = ModelProfile::new("text-embedding-3-small");
        match subject.adapter.has_embeddings() {
            true => {
                let body = subject
                    .adapter
                    .encode_embeddings(&request, &profile)
                    .unwrap();
                assert_eq!(
                    body,
                    json!({"input": ["hello", "world"], "model": "text-embedding-3-small", "encoding_format": "float", "dimensions": 256})
                );
                let answer = br#"{"object": "list", "data": [{"object": "embedding", "embedding": [0.0023064255, -0.009327292], "index": 0}, {"object": "embedding", "embedding": "AAAAPwAAgL8=", "index": 1}], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2}}"#;
                let decoded = subject.adapter.decode_embeddings(answer).unwrap();
                assert_eq!(decoded.data[0].vector, [0.0023064255, -0.009327292]);
                assert_eq!(decoded.data[1].vector, [0.5, -1.0]);
                assert_eq!(decoded.usage.input_tokens, 2);
            }
            false => {
                let error = subject
                    .adapter
                    .encode_embeddings(&request, &profile)
                    .unwrap_err();
                assert_eq!(error.kind(), ErrorKind::InvalidRequest);
            }
        }
    }
}

/// Where each adapter sends a call, and how it authenticates.
#[test]
fn upstream_requests() {
    let options = ProviderOptions::default();
    let key = Credential::ApiKey("sk-test".into());
    let call = |operation| Call {
        operation,
        base_url: "http://upstream.test/base",
        model: "m",
        options: &options,
        credential: &key,
        now: std::time::SystemTime::UNIX_EPOCH,
    };
    let mut seen = Vec::new();
    for subject in subjects() {
        for operation in [
            Operation::Chat { stream: false },
            Operation::Chat { stream: true },
            Operation::Embeddings,
        ] {
            match subject.adapter.prepare(&call(operation), b"{}".to_vec()) {
                Ok(request) => {
                    assert_eq!(request.body, b"{}");
                    let mut headers = request.headers.clone();
                    headers.sort();
                    seen.push(format!(
                        "{} {operation:?} {} {headers:?}",
                        subject.name, request.url
                    ));
                }
                Err(e) => seen.push(format!(
                    "{} {operation:?} error {:?}",
                    subject.name,
                    e.kind()
                )),
            }
        }
    }
    check_text("adapters/upstream_requests.txt", &(seen.join("\n") + "\n"));
    // Without a key, nothing claims to authenticate.
    let request = subjects()[0]
        .adapter
        .prepare(
            &Call {
                credential: &Credential::None,
                ..call(Operation::Chat { stream: false })
            },
            Vec::new(),
        )
        .unwrap();
    assert!(!request.headers.iter().any(|(n, _)| n == "authorization"));
    // Debug output never shows a credential.
    assert!(!format!("{key:?} {request:?}").contains("sk-test"));
}

#[test]
fn stop_sequence_is_reported() {
    let adapter = agenthub_llm_router::adapters::AnthropicAdapter::new();
    use agenthub_llm_router::adapters::ProviderAdapter;
    let body = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "text", "text": "1, 2, 3"}],
        "stop_reason": "stop_sequence", "stop_sequence": "4",
        "usage": {"input_tokens": 5, "output_tokens": 6}
    });
    let response = adapter
        .decode_response(body.to_string().as_bytes())
        .unwrap();
    assert_eq!(response.choices[0].finish_reason, FinishReason::Stop);
    assert_eq!(response.choices[0].stop_sequence.as_deref(), Some("4"));
    let _: Value = body;
}
