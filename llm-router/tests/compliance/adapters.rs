//! The suite every provider adapter passes: request translation, response translation,
//! streaming translation (text, tool calls split at awkward places, usage), error mapping, and
//! the unsupported-parameter policy.

use agenthub_llm_router::Error;
use agenthub_llm_router::adapters::{Call, Credential, Operation, ProviderOptions};
use agenthub_llm_router::model::*;
use agenthub_llm_router::params::{ModelProfile, Param, Provider, UnsupportedPolicy};
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
fn the_bytes_sent_are_the_request_encoded() {
    for subject in subjects() {
        let value = subject
            .adapter
            .encode_request(&rich_request(), &subject.profile)
            .unwrap_or_else(|e| panic!("{}: {e}", subject.name));
        let bytes = subject
            .adapter
            .encode_request_body(&rich_request(), &subject.profile)
            .unwrap_or_else(|e| panic!("{}: {e}", subject.name));
        let sent: serde_json::Value = serde_json::from_slice(&bytes.value).unwrap();
        assert_eq!(sent, value.value, "{}", subject.name);
        assert_eq!(bytes.warnings, value.warnings, "{}", subject.name);
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
            let fixture = format!("{}/stream_{case}", subject.dir);
            let bytes = stream_fixture(subject.dir, case);
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
                // Gemini and Mistral send each call whole: one piece per call.
                let expected = match subject.adapter.provider() {
                    Provider::Gemini | Provider::Mistral => 2,
                    _ => 7,
                };
                assert_eq!(
                    pieces, expected,
                    "{fixture}: argument pieces pass through as they come"
                );
            }
        }
    }
}

#[test]
fn errors_inside_a_stream_end_it() {
    for subject in subjects() {
        let fixture = format!("{}/stream_error", subject.dir);
        let bytes = stream_fixture(subject.dir, "error");
        let events = decode_stream(subject.adapter.as_ref(), &bytes, 5)
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
        let bytes = stream_fixture(subject.dir, "text");
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

/// One provider's error answer in an [`ErrorCase`].
struct Answer {
    /// The fixture directory of the protocol that answers this way ([`Subject::dir`]).
    dir: &'static str,
    status: u16,
    body: &'static str,
    /// The parameter the provider names, passed on to the caller.
    param: Option<&'static str>,
    /// The provider's own words the caller sees (for the caller's own mistakes).
    words: Option<&'static str>,
}

const fn answer(dir: &'static str, status: u16, body: &'static str) -> Answer {
    Answer {
        dir,
        status,
        body,
        param: None,
        words: None,
    }
}

/// One error case: each protocol's answer, and the classification every adapter must reach.
struct ErrorCase {
    name: &'static str,
    answers: Vec<Answer>,
    kind: ErrorKind,
    retryable: bool,
    /// Text the caller's message must contain; `None`: the provider's words must not appear.
    shows: Option<&'static str>,
}

fn error_cases() -> Vec<ErrorCase> {
    vec![
        ErrorCase {
            name: "invalid request",
            answers: vec![
                Answer {
                    param: Some("messages[1].content"),
                    words: Some("string too long"),
                    ..answer(
                        "openai",
                        400,
                        r#"{"error": {"message": "Invalid 'messages[1].content': string too long.", "type": "invalid_request_error", "param": "messages[1].content", "code": "string_above_max_length"}}"#,
                    )
                },
                Answer {
                    words: Some("string too long"),
                    ..answer(
                        "anthropic",
                        400,
                        r#"{"type": "error", "error": {"type": "invalid_request_error", "message": "messages.1.content: string too long."}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}"#,
                    )
                },
                Answer {
                    words: Some("contents.parts must not be empty"),
                    ..answer(
                        "gemini",
                        400,
                        r#"{"error": {"code": 400, "message": "* GenerateContentRequest.contents[1].parts: contents.parts must not be empty.\n", "status": "INVALID_ARGUMENT"}}"#,
                    )
                },
                Answer {
                    words: Some("must alternate between user and assistant roles"),
                    ..answer(
                        "bedrock",
                        400,
                        r#"{"message": "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."}"#,
                    )
                },
                // A validation failure (422), the details inside the message.
                Answer {
                    param: Some("messages[1].content"),
                    words: Some(
                        "messages[1].content: String should have at most 100000 characters",
                    ),
                    ..answer(
                        "mistral",
                        422,
                        r#"{"object": "error", "message": {"detail": [{"type": "string_too_long", "loc": ["body", "messages", 1, "user", "content", "str"], "msg": "String should have at most 100000 characters", "input": "...", "ctx": {"max_length": 100000}}]}, "type": "invalid_request_error", "param": null, "code": null}"#,
                    )
                },
                Answer {
                    words: Some("temperature must be between 0 and 1.0 inclusive"),
                    ..answer(
                        "cohere",
                        400,
                        r#"{"id": "2ca8b3bd-7c3c-4a4b-9f0d-9f2c1b5c7e11", "message": "invalid request: temperature must be between 0 and 1.0 inclusive."}"#,
                    )
                },
                Answer {
                    param: Some("messages[1].content"),
                    words: Some("string too long"),
                    ..answer(
                        "azure",
                        400,
                        r#"{"error": {"message": "Invalid 'messages[1].content': string too long. Expected a string with maximum length 1048576, but got a string with length 1500000 instead.", "type": "invalid_request_error", "param": "messages[1].content", "code": "string_above_max_length"}}"#,
                    )
                },
            ],
            kind: ErrorKind::InvalidRequest,
            retryable: false,
            shows: Some("rejected the request"),
        },
        ErrorCase {
            name: "rejected credentials",
            answers: vec![
                answer(
                    "openai",
                    401,
                    r#"{"error": {"message": "Incorrect API key provided: sk-proj-****abcd.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}"#,
                ),
                answer(
                    "anthropic",
                    401,
                    r#"{"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key sk-ant-****abcd"}}"#,
                ),
                answer(
                    "gemini",
                    401,
                    r#"{"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", "status": "UNAUTHENTICATED"}}"#,
                ),
                // AWS answers a credential it does not know with 403.
                answer(
                    "bedrock",
                    403,
                    r#"{"message": "The security token included in the request is invalid."}"#,
                ),
                answer(
                    "mistral",
                    401,
                    r#"{"message": "Unauthorized", "request_id": "c61f2f15feca71626a990e3740f99245"}"#,
                ),
                answer(
                    "cohere",
                    401,
                    r#"{"id": "0f3c6e4e-2b7a-4c1e-9d55-6f1b2a9c8d70", "message": "invalid api token"}"#,
                ),
                answer(
                    "azure",
                    401,
                    r#"{"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}"#,
                ),
            ],
            kind: ErrorKind::UpstreamFailed,
            retryable: false,
            shows: None,
        },
        ErrorCase {
            name: "forbidden",
            answers: vec![
                answer(
                    "openai",
                    403,
                    r#"{"error": {"message": "Project proj_abc does not have access to model gpt-4.1", "type": "invalid_request_error", "param": null, "code": "model_not_found"}}"#,
                ),
                answer(
                    "anthropic",
                    403,
                    r#"{"type": "error", "error": {"type": "permission_error", "message": "Your API key does not have permission to use the specified resource."}}"#,
                ),
                answer(
                    "gemini",
                    403,
                    r#"{"error": {"code": 403, "message": "Permission denied on resource project proj_abc (or it may not exist).", "status": "PERMISSION_DENIED"}}"#,
                ),
                answer(
                    "bedrock",
                    403,
                    r#"{"message": "You don't have access to the model with the specified model ID."}"#,
                ),
                answer(
                    "mistral",
                    403,
                    r#"{"object": "error", "message": "This model is not available in your subscription tier", "type": "tier_not_allowed", "param": null, "code": "1910", "raw_status_code": 403}"#,
                ),
                answer(
                    "cohere",
                    403,
                    r#"{"id": "5e0b7d1a-93f4-4d8e-a1c2-7b6e5f4d3c21", "message": "Permission denied: this API key cannot use the model command-a-03-2025."}"#,
                ),
                answer(
                    "azure",
                    403,
                    r#"{"error": {"code": "AuthenticationTypeDisabled", "message": "Key based authentication is disabled for this resource."}}"#,
                ),
            ],
            kind: ErrorKind::UpstreamFailed,
            retryable: false,
            shows: None,
        },
        ErrorCase {
            name: "rate limited",
            answers: vec![
                answer(
                    "openai",
                    429,
                    r#"{"error": {"message": "Rate limit reached for gpt-4.1 in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 1500.", "type": "tokens", "param": null, "code": "rate_limit_exceeded"}}"#,
                ),
                answer(
                    "anthropic",
                    429,
                    r#"{"type": "error", "error": {"type": "rate_limit_error", "message": "Number of request tokens has exceeded your per-minute rate limit"}}"#,
                ),
                answer(
                    "gemini",
                    429,
                    r#"{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}"#,
                ),
                answer(
                    "bedrock",
                    429,
                    r#"{"message": "Too many requests, please wait before trying again."}"#,
                ),
                answer(
                    "mistral",
                    429,
                    r#"{"message": "Requests rate limit exceeded", "request_id": "8d2f1c0b7a6e5d4c3b2a19f8e7d6c5b4"}"#,
                ),
                answer(
                    "cohere",
                    429,
                    r#"{"id": "9b1e4c7d-3a2f-4e6b-8c5d-1f0a9e8d7c6b", "message": "You are past the per minute request limit, please wait and try again later."}"#,
                ),
                answer(
                    "azure",
                    429,
                    r#"{"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."}}"#,
                ),
            ],
            kind: ErrorKind::RateLimited,
            retryable: true,
            shows: Some("rate limiting"),
        },
        ErrorCase {
            name: "server error",
            answers: vec![
                answer(
                    "openai",
                    500,
                    r#"{"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error", "param": null, "code": null}}"#,
                ),
                answer(
                    "anthropic",
                    500,
                    r#"{"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}"#,
                ),
                answer(
                    "gemini",
                    500,
                    r#"{"error": {"code": 500, "message": "Internal server error encountered.", "status": "INTERNAL"}}"#,
                ),
                answer(
                    "bedrock",
                    500,
                    r#"{"message": "The system encountered an unexpected error during processing. Try your request again."}"#,
                ),
                answer(
                    "mistral",
                    500,
                    r#"{"object": "error", "message": "Internal server error", "type": "internal_server_error", "param": null, "code": "3000"}"#,
                ),
                answer(
                    "cohere",
                    500,
                    r#"{"id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "message": "Internal server error, this has been reported to our developers"}"#,
                ),
                answer(
                    "azure",
                    500,
                    r#"{"error": {"code": "InternalServerError", "message": "Backend returned unexpected response. Please contact Microsoft for help."}}"#,
                ),
            ],
            kind: ErrorKind::UpstreamFailed,
            retryable: true,
            shows: None,
        },
        ErrorCase {
            name: "overloaded",
            answers: vec![
                answer(
                    "openai",
                    503,
                    r#"{"error": {"message": "The engine is currently overloaded, please try again later.", "type": "server_error", "param": null, "code": null}}"#,
                ),
                answer(
                    "anthropic",
                    529,
                    r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
                ),
                answer(
                    "gemini",
                    503,
                    r#"{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}"#,
                ),
                answer(
                    "bedrock",
                    503,
                    r#"{"message": "The service isn't currently available. Try again later."}"#,
                ),
                answer(
                    "mistral",
                    503,
                    r#"{"object": "error", "message": "Overloaded: service tier capacity exceeded for this model.", "type": "service_unavailable", "param": null, "code": "3505"}"#,
                ),
                answer(
                    "cohere",
                    503,
                    r#"{"id": "7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b", "message": "Overloaded: the service is unavailable, please try again later."}"#,
                ),
                answer(
                    "azure",
                    503,
                    r#"{"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unable to process your request. Please try again later."}}"#,
                ),
            ],
            kind: ErrorKind::UpstreamFailed,
            retryable: true,
            shows: None,
        },
        ErrorCase {
            name: "timeout",
            answers: vec![
                answer(
                    "openai",
                    504,
                    "<html><body><h1>504 Gateway Time-out</h1></body></html>",
                ),
                answer(
                    "anthropic",
                    504,
                    r#"{"type": "error", "error": {"type": "timeout_error", "message": "Request timed out"}}"#,
                ),
                answer(
                    "gemini",
                    504,
                    r#"{"error": {"code": 504, "message": "Deadline expired before operation could complete.", "status": "DEADLINE_EXCEEDED"}}"#,
                ),
                // ModelTimeoutException.
                answer(
                    "bedrock",
                    408,
                    r#"{"message": "Model has timed out in processing the request. Try your request again."}"#,
                ),
                answer(
                    "mistral",
                    504,
                    "<html><body><h1>504 Gateway Time-out</h1></body></html>",
                ),
                answer(
                    "cohere",
                    504,
                    r#"{"id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "message": "request timed out, please try again"}"#,
                ),
                answer(
                    "azure",
                    504,
                    r#"{"error": {"code": "Timeout", "message": "The operation was timeout."}}"#,
                ),
            ],
            kind: ErrorKind::UpstreamTimeout,
            retryable: true,
            shows: None,
        },
        ErrorCase {
            name: "a proxy's page",
            answers: [
                "openai",
                "anthropic",
                "gemini",
                "bedrock",
                "mistral",
                "cohere",
                "azure",
            ]
            .map(|dir| answer(dir, 502, "<html><body>502 Bad Gateway</body></html>"))
            .into(),
            kind: ErrorKind::UpstreamFailed,
            retryable: true,
            shows: None,
        },
        ErrorCase {
            name: "prompt too large",
            answers: vec![
                answer(
                    "openai",
                    413,
                    r#"{"error": {"message": "Request too large", "type": "invalid_request_error", "param": null, "code": null}}"#,
                ),
                answer(
                    "anthropic",
                    413,
                    r#"{"type": "error", "error": {"type": "request_too_large", "message": "Request exceeds the maximum allowed number of bytes."}}"#,
                ),
                // Google's front end answers a body over its limit with an HTML page.
                answer(
                    "gemini",
                    413,
                    "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 413 (Request Entity Too Large)!!1</title>\n  <p><b>413.</b> <ins>That\u{2019}s an error.</ins>\n  <p>Your client issued a request that was too large.\n  <ins>That\u{2019}s all we know.</ins>",
                ),
                // An AWS front end refuses a body over its size limit before Bedrock reads it.
                answer("bedrock", 413, r#"{"message": "Request Entity Too Large"}"#),
                answer(
                    "mistral",
                    413,
                    r#"{"object": "error", "message": "Request Entity Too Large", "type": "invalid_request_error", "param": null, "code": null}"#,
                ),
                answer(
                    "cohere",
                    413,
                    r#"{"id": "6f5e4d3c-2b1a-4098-8f7e-6d5c4b3a2918", "message": "request entity too large"}"#,
                ),
                // Azure API Management's own error shape.
                answer(
                    "azure",
                    413,
                    r#"{"statusCode": 413, "message": "Request entity too large"}"#,
                ),
            ],
            kind: ErrorKind::PayloadTooLarge,
            retryable: false,
            shows: Some("rejected the request"),
        },
    ]
}

#[test]
fn error_mapping() {
    for subject in subjects() {
        for case in error_cases() {
            let at = format!("{} {}", subject.name, case.name);
            let answer = case
                .answers
                .iter()
                .find(|a| a.dir == subject.dir)
                .unwrap_or_else(|| panic!("{at}: no answer for {}", subject.dir));
            let error = subject
                .adapter
                .decode_error(answer.status, answer.body.as_bytes());
            assert_eq!(error.kind(), case.kind, "{at}");
            assert_eq!(error.is_retryable(), case.retryable, "{at}");
            assert_eq!(error.param(), answer.param, "{at}");
            assert_eq!(
                error.provider_error().map(|e| e.status),
                Some(answer.status),
                "{at}"
            );
            let public = error.public_message();
            match case.shows {
                Some(text) => assert!(public.contains(text), "{at}: {public}"),
                None => {
                    for secret in [
                        "sk-",
                        "proj_",
                        "Internal server error",
                        "Overloaded",
                        "Permission denied",
                        "authentication credentials",
                    ] {
                        assert!(!public.contains(secret), "{at}: {public}");
                    }
                }
            }
            if let Some(words) = answer.words {
                assert!(public.contains(words), "{at}: {public}");
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
    gemini: &'static [&'static str],
    bedrock: &'static [&'static str],
    cohere: &'static [&'static str],
    mistral: &'static [&'static str],
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
            gemini: &[],
            bedrock: &[],
            cohere: &[],
            mistral: &[],
        },
        PolicyCase {
            name: "several choices",
            edit: |r| r.n = Some(2),
            profile: nothing,
            openai: &[],
            anthropic: &["n"],
            gemini: &[],
            bedrock: &["n"],
            cohere: &["n"],
            mistral: &[],
        },
        PolicyCase {
            name: "one choice needs no support",
            edit: |r| r.n = Some(1),
            profile: nothing,
            openai: &[],
            anthropic: &[],
            gemini: &[],
            bedrock: &[],
            cohere: &[],
            mistral: &[],
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
            gemini: &["logit_bias"],
            bedrock: &[
                "frequency_penalty",
                "presence_penalty",
                "logit_bias",
                "seed",
                "logprobs",
            ],
            cohere: &["logit_bias", "logprobs"],
            mistral: &["logit_bias", "logprobs"],
        },
        PolicyCase {
            name: "top_k",
            edit: |r| r.sampling.top_k = Some(40),
            profile: nothing,
            openai: &["top_k"],
            anthropic: &[],
            gemini: &[],
            bedrock: &[],
            cohere: &[],
            mistral: &["top_k"],
        },
        PolicyCase {
            name: "temperature above Anthropic's range",
            edit: |r| r.sampling.temperature = Some(1.5),
            profile: nothing,
            openai: &[],
            anthropic: &["temperature"],
            gemini: &[],
            bedrock: &["temperature"],
            cohere: &["temperature"],
            mistral: &[],
        },
        PolicyCase {
            name: "JSON mode",
            edit: |r| r.response_format = Some(ResponseFormat::JsonObject),
            profile: nothing,
            openai: &[],
            anthropic: &["response_format"],
            gemini: &[],
            bedrock: &["response_format"],
            cohere: &[],
            mistral: &[],
        },
        PolicyCase {
            name: "JSON schema on a model without structured outputs",
            edit: |r| r.response_format = rich_request().response_format,
            profile: |p| p.structured_outputs = false,
            openai: &[],
            anthropic: &["response_format"],
            gemini: &[],
            bedrock: &["response_format"],
            cohere: &[],
            mistral: &[],
        },
        PolicyCase {
            name: "six stop sequences",
            edit: |r| r.stop = (0..6).map(|i| format!("STOP{i}")).collect(),
            profile: nothing,
            openai: &["stop"],
            anthropic: &[],
            gemini: &["stop"],
            bedrock: &[],
            cohere: &["stop"],
            mistral: &[],
        },
        PolicyCase {
            name: "a failed tool result with an image",
            edit: |r| {
                r.messages.push(Message::Assistant {
                    content: Vec::new(),
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "render".into(),
                        arguments: "{}".into(),
                    }],
                    name: None,
                });
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
            gemini: &["tool_result.content"],
            bedrock: &["messages[2].content[1]"],
            cohere: &["tool_result.is_error", "tool_result.content"],
            mistral: &["tool_result.is_error", "tool_result.content"],
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
            gemini: &["messages[].name"],
            bedrock: &["messages[].name"],
            cohere: &["messages[].name"],
            mistral: &["messages[].name"],
        },
        PolicyCase {
            name: "a model that takes no temperature",
            edit: |r| r.sampling.temperature = Some(0.2),
            profile: |p| p.unsupported = vec![Param::Temperature],
            openai: &["temperature"],
            anthropic: &["temperature"],
            gemini: &["temperature"],
            bedrock: &["temperature"],
            cohere: &["temperature"],
            mistral: &["temperature"],
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
            let expected = match subject.adapter.provider() {
                Provider::OpenAi => case.openai,
                Provider::Anthropic => case.anthropic,
                Provider::Gemini => case.gemini,
                Provider::Bedrock => case.bedrock,
                Provider::Cohere => case.cohere,
                Provider::Mistral => case.mistral,
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
                let changed_not_dropped = (["stop", "temperature"].contains(param)
                    && !profile.unsupported.contains(&Param::Temperature))
                    // Cohere keeps the log probabilities, without the alternatives.
                    || (subject.adapter.provider() == Provider::Cohere && *param == "logprobs");
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
            "openai" | "openai-compatible" | "azure" => {
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
                // Each protocol's request, and an answer with the same two vectors.
                let (expected, answer): (Value, &[u8]) = match subject.adapter.provider() {
                    Provider::Mistral => (
                        json!({"input": ["hello", "world"], "model": "text-embedding-3-small", "encoding_format": "float", "output_dimension": 256}),
                        br#"{"id": "embd-aad6fc62b17349b192ef09225058bc45", "object": "list", "data": [{"object": "embedding", "embedding": [0.0023064255, -0.009327292], "index": 0}, {"object": "embedding", "embedding": [0.5, -1.0], "index": 1}], "model": "mistral-embed", "usage": {"prompt_tokens": 2, "total_tokens": 2, "completion_tokens": 0}}"#,
                    ),
                    // Vertex AI's text-embedding models answer `:predict`.
                    Provider::Gemini if subject.name == "vertex" => (
                        json!({"instances": [{"content": "hello"}, {"content": "world"}], "parameters": {"outputDimensionality": 256}}),
                        br#"{"predictions": [{"embeddings": {"statistics": {"truncated": false, "token_count": 1}, "values": [0.0023064255, -0.009327292]}}, {"embeddings": {"statistics": {"truncated": false, "token_count": 1}, "values": [0.5, -1.0]}}], "metadata": {"billableCharacterCount": 10}}"#,
                    ),
                    Provider::Gemini => (
                        json!({"requests": [
                            {"model": "models/text-embedding-3-small", "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 256},
                            {"model": "models/text-embedding-3-small", "content": {"parts": [{"text": "world"}]}, "outputDimensionality": 256}
                        ]}),
                        br#"{"embeddings": [{"values": [0.0023064255, -0.009327292]}, {"values": [0.5, -1.0]}]}"#,
                    ),
                    Provider::Cohere => (
                        json!({"texts": ["hello", "world"], "model": "text-embedding-3-small", "input_type": "search_document", "embedding_types": ["float"], "output_dimension": 256}),
                        br#"{"id": "da6e531f-54c6-4a73-bf92-f60566d8d753", "texts": ["hello", "world"], "embeddings": {"float": [[0.0023064255, -0.009327292], [0.5, -1.0]]}, "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}}, "response_type": "embeddings_by_type"}"#,
                    ),
                    _ => (
                        json!({"input": ["hello", "world"], "model": "text-embedding-3-small", "encoding_format": "float", "dimensions": 256}),
                        br#"{"object": "list", "data": [{"object": "embedding", "embedding": [0.0023064255, -0.009327292], "index": 0}, {"object": "embedding", "embedding": "AAAAPwAAgL8=", "index": 1}], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2}}"#,
                    ),
                };
                assert_eq!(body, expected, "{}", subject.name);
                let decoded = subject.adapter.decode_embeddings(answer).unwrap();
                assert_eq!(decoded.data[0].vector, [0.0023064255, -0.009327292]);
                assert_eq!(decoded.data[1].vector, [0.5, -1.0]);
                // The Gemini API does not count embedding tokens.
                let tokens = if subject.name == "gemini" { 0 } else { 2 };
                assert_eq!(decoded.usage.input_tokens, tokens, "{}", subject.name);
                // Text-only protocols refuse token arrays, naming the input.
                if matches!(
                    subject.adapter.provider(),
                    Provider::Mistral | Provider::Cohere | Provider::Gemini
                ) {
                    let tokens = EmbeddingsRequest {
                        input: EmbeddingInput::Tokens(vec![vec![15339, 1917]]),
                        ..request.clone()
                    };
                    let error = subject
                        .adapter
                        .encode_embeddings(&tokens, &profile)
                        .unwrap_err();
                    assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{}", subject.name);
                    assert_eq!(error.param(), Some("input"), "{}", subject.name);
                }
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
    // Vertex AI needs a project and a location.
    let vertex = ProviderOptions {
        project: Some("my-project".into()),
        region: Some("us-central1".into()),
        ..ProviderOptions::default()
    };
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
            let call = match subject.name {
                "vertex" => Call {
                    options: &vertex,
                    ..call(operation)
                },
                _ => call(operation),
            };
            match subject.adapter.prepare(&call, b"{}".to_vec()) {
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
