//! Round trips through each format, on generated values: what one side of a format writes, the
//! other side of the same format reads back unchanged. Each generator produces what the format
//! can express (e.g. no `top_k` for OpenAI, no participant names for Anthropic).

use agenthub_llm_router::adapters::{AnthropicAdapter, OpenAiAdapter, ProviderAdapter};
use agenthub_llm_router::ingress::{AnthropicIngress, Ingress, OpenAiIngress};
use agenthub_llm_router::model::*;
use agenthub_llm_router::params::ModelProfile;
use agenthub_llm_router::wire::sse::encode_all;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;

use crate::support::{accumulate, decode_stream};

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.!?\"\\\\\n\u{e9}\u{2600}\u{1f600}]{1,16}"
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_]{1,10}"
}

/// A JSON object, as the text `serde_json` writes for it (keys sorted, no spaces).
fn object_text() -> impl Strategy<Value = String> {
    object().prop_map(|o| o.to_string())
}

fn object() -> impl Strategy<Value = Value> {
    btree_map(
        name(),
        prop_oneof![
            any::<i32>().prop_map(Value::from),
            text().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ],
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn schema() -> impl Strategy<Value = Value> {
    vec(name(), 0..3).prop_map(|props| {
        let properties: serde_json::Map<String, Value> = props
            .into_iter()
            .map(|p| (p, serde_json::json!({"type": "string"})))
            .collect();
        serde_json::json!({"type": "object", "properties": properties})
    })
}

fn image(detail: bool) -> impl Strategy<Value = ContentPart> {
    let source = prop_oneof![
        "https://example\\.com/[a-z]{1,8}\\.png".prop_map(ImageSource::Url),
        (
            prop_oneof![Just("image/png"), Just("image/jpeg")],
            "[A-Za-z0-9+/]{4,16}"
        )
            .prop_map(|(media_type, data)| ImageSource::Base64 {
                media_type: media_type.into(),
                data
            }),
    ];
    let detail = if detail {
        option::of(prop_oneof![
            Just(ImageDetail::Auto),
            Just(ImageDetail::Low),
            Just(ImageDetail::High)
        ])
        .boxed()
    } else {
        Just(None).boxed()
    };
    (source, detail).prop_map(|(source, detail)| ContentPart::Image(Image { source, detail }))
}

fn text_part() -> impl Strategy<Value = ContentPart> {
    text().prop_map(ContentPart::Text)
}

fn part(detail: bool) -> impl Strategy<Value = ContentPart> {
    prop_oneof![3 => text_part(), 1 => image(detail)]
}

fn tool_call() -> impl Strategy<Value = ToolCall> {
    ("call_[a-zA-Z0-9]{4,8}", name(), object_text()).prop_map(|(id, name, arguments)| ToolCall {
        id,
        name,
        arguments,
    })
}

fn tools_and_choice(
    strict: bool,
) -> impl Strategy<Value = (Vec<Tool>, Option<ToolChoice>, Option<bool>)> {
    let tool = (
        name(),
        option::of(text()),
        schema(),
        if strict {
            option::of(any::<bool>()).boxed()
        } else {
            Just(None).boxed()
        },
    )
        .prop_map(|(name, description, schema, strict)| Tool {
            name,
            description,
            parameters: Some(schema),
            strict,
        });
    let choice = option::of(prop_oneof![
        Just(ToolChoice::Auto),
        Just(ToolChoice::None),
        Just(ToolChoice::Required),
        name().prop_map(ToolChoice::Tool),
    ]);
    (vec(tool, 0..3), choice, option::of(any::<bool>())).prop_map(|(tools, choice, parallel)| {
        if tools.is_empty() {
            return (tools, None, None);
        }
        // Anthropic carries the parallel flag inside a tool choice other than `none`.
        let parallel = match choice {
            None | Some(ToolChoice::None) => None,
            _ => parallel,
        };
        (tools, choice, parallel)
    })
}

fn openai_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (vec(text_part(), 1..3), option::of(name()))
            .prop_map(|(content, name)| Message::System { content, name }),
        (vec(part(true), 1..4), option::of(name()))
            .prop_map(|(content, name)| Message::User { content, name }),
        (
            vec(text_part(), 0..2),
            vec(tool_call(), 0..3),
            option::of(name())
        )
            .prop_map(|(content, tool_calls, name)| Message::Assistant {
                content,
                tool_calls,
                name
            }),
        ("call_[a-z0-9]{4}", vec(text_part(), 1..3)).prop_map(|(tool_call_id, content)| {
            Message::Tool {
                tool_call_id,
                content,
                is_error: false,
            }
        }),
    ]
}

fn openai_request() -> impl Strategy<Value = ChatRequest> {
    let response_format = option::of(prop_oneof![
        Just(ResponseFormat::Text),
        Just(ResponseFormat::JsonObject),
        (
            name(),
            option::of(text()),
            option::of(schema()),
            option::of(any::<bool>())
        )
            .prop_map(|(name, description, schema, strict)| {
                ResponseFormat::JsonSchema(JsonSchemaFormat {
                    name,
                    description,
                    schema,
                    strict,
                })
            }),
    ]);
    let sampling = (
        option::of(0.0..=2.0f64),
        option::of(0.0..=1.0f64),
        option::of(-2.0..=2.0f64),
        option::of(-2.0..=2.0f64),
        option::of(btree_map("[0-9]{1,5}", -100.0..=100.0f64, 0..3)),
    )
        .prop_map(
            |(temperature, top_p, frequency_penalty, presence_penalty, bias)| Sampling {
                temperature,
                top_p,
                top_k: None,
                frequency_penalty,
                presence_penalty,
                logit_bias: bias.map(|b| b.into_iter().collect()),
            },
        );
    (
        (
            name(),
            vec(openai_message(), 1..7),
            tools_and_choice(true),
            response_format,
            sampling,
        ),
        (
            option::of(1..100_000u32),
            vec(text(), 0..=4),
            option::of(1..5u32),
            option::of(any::<i64>()),
            option::of(name()),
            option::of(option::of(0..=20u8)),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (
                    model,
                    messages,
                    (tools, tool_choice, parallel_tool_calls),
                    response_format,
                    sampling,
                ),
                (max_output_tokens, stop, n, seed, user, logprobs, stream),
            )| ChatRequest {
                model,
                messages,
                tools,
                tool_choice,
                parallel_tool_calls,
                response_format,
                sampling,
                max_output_tokens,
                stop,
                n,
                seed,
                user,
                logprobs: logprobs.map(|top_logprobs| LogprobsRequest { top_logprobs }),
                // The adapter always asks for the usage; so does the decoded request.
                stream: stream.then_some(StreamOptions {
                    include_usage: true,
                }),
            },
        )
}

fn anthropic_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        vec(part(false), 1..4).prop_map(|content| Message::User {
            content,
            name: None
        }),
        (vec(text_part(), 0..2), vec(tool_call(), 0..3)).prop_map(|(content, tool_calls)| {
            Message::Assistant {
                content,
                tool_calls,
                name: None,
            }
        }),
        ("toolu_[a-z0-9]{4}", vec(part(false), 0..3), any::<bool>()).prop_map(
            |(tool_call_id, content, is_error)| Message::Tool {
                tool_call_id,
                content,
                is_error
            }
        ),
    ]
}

fn anthropic_request() -> impl Strategy<Value = ChatRequest> {
    let response_format = option::of(schema().prop_map(|schema| {
        ResponseFormat::JsonSchema(JsonSchemaFormat {
            name: JsonSchemaFormat::DEFAULT_NAME.into(),
            description: None,
            schema: Some(schema),
            strict: None,
        })
    }));
    let sampling = (
        option::of(0.0..=1.0f64),
        option::of(0.0..=1.0f64),
        option::of(1..500u32),
    )
        .prop_map(|(temperature, top_p, top_k)| Sampling {
            temperature,
            top_p,
            top_k,
            ..Sampling::default()
        });
    (
        (
            name(),
            option::of(vec(text_part(), 1..3)),
            vec(anthropic_message(), 1..7),
            tools_and_choice(true),
            response_format,
        ),
        (
            sampling,
            1..100_000u32,
            vec(text(), 0..6),
            option::of(name()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (model, system, body, (tools, tool_choice, parallel_tool_calls), response_format),
                (sampling, max_tokens, stop, user, stream),
            )| {
                let mut messages = Vec::new();
                if let Some(content) = system {
                    messages.push(Message::System {
                        content,
                        name: None,
                    });
                }
                messages.extend(body);
                ChatRequest {
                    model,
                    messages,
                    tools,
                    tool_choice,
                    parallel_tool_calls,
                    response_format,
                    sampling,
                    max_output_tokens: Some(max_tokens),
                    stop,
                    n: None,
                    seed: None,
                    user,
                    logprobs: None,
                    stream: stream.then_some(StreamOptions {
                        include_usage: true,
                    }),
                }
            },
        )
}

fn finish_reason() -> impl Strategy<Value = FinishReason> {
    // `Error` has no spelling of its own in either format.
    prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::Length),
        Just(FinishReason::ToolCalls),
        Just(FinishReason::ContentFilter),
    ]
}

fn logprob() -> impl Strategy<Value = TokenLogprob> {
    let top = (text(), -20.0..=0.0f64, option::of(vec(any::<u8>(), 0..4))).prop_map(
        |(token, logprob, bytes)| TopLogprob {
            token,
            logprob,
            bytes,
        },
    );
    (
        text(),
        -20.0..=0.0f64,
        option::of(vec(any::<u8>(), 0..4)),
        vec(top, 0..3),
    )
        .prop_map(|(token, logprob, bytes, top_logprobs)| TokenLogprob {
            token,
            logprob,
            bytes,
            top_logprobs,
        })
}

fn openai_response() -> impl Strategy<Value = ChatResponse> {
    let choice = (
        option::of(text()),
        option::of(text()),
        vec(tool_call(), 0..3),
        finish_reason(),
        option::of(vec(logprob(), 0..3)),
    );
    let usage = (
        0..100_000u32,
        0..100_000u32,
        option::of(0..1000u32),
        option::of(0..1000u32),
    )
        .prop_map(|(input, output, cached, reasoning)| Usage {
            input_tokens: input,
            output_tokens: output,
            cached_input_tokens: cached,
            cache_write_input_tokens: None,
            reasoning_tokens: reasoning,
        });
    (
        "chatcmpl-[a-zA-Z0-9]{8}",
        name(),
        1..2_000_000_000u64,
        vec(choice, 1..3),
        option::of(usage),
    )
        .prop_map(|(id, model, created, choices, usage)| ChatResponse {
            id,
            model,
            created: Some(created),
            choices: choices
                .into_iter()
                .enumerate()
                .map(
                    |(index, (text, refusal, tool_calls, finish_reason, logprobs))| Choice {
                        index: index as u32,
                        message: AssistantMessage {
                            text,
                            refusal,
                            tool_calls,
                        },
                        finish_reason,
                        stop_sequence: None,
                        logprobs,
                    },
                )
                .collect(),
            usage,
        })
}

fn anthropic_usage() -> impl Strategy<Value = Usage> {
    (
        0..100_000u32,
        0..100_000u32,
        option::of(0..1000u32),
        option::of(0..1000u32),
    )
        .prop_map(|(uncached, output, cached, write)| Usage {
            input_tokens: uncached + cached.unwrap_or(0) + write.unwrap_or(0),
            output_tokens: output,
            cached_input_tokens: cached,
            cache_write_input_tokens: write,
            reasoning_tokens: None,
        })
}

fn anthropic_response() -> impl Strategy<Value = ChatResponse> {
    (
        "msg_[a-zA-Z0-9]{8}",
        name(),
        option::of(text()),
        vec(tool_call(), 0..3),
        finish_reason(),
        option::of(text()),
        anthropic_usage(),
    )
        .prop_map(
            |(id, model, text, tool_calls, finish_reason, stop_sequence, usage)| ChatResponse {
                id,
                model,
                created: None,
                choices: vec![Choice {
                    index: 0,
                    message: AssistantMessage {
                        text,
                        refusal: None,
                        tool_calls,
                    },
                    finish_reason,
                    stop_sequence: stop_sequence.filter(|_| finish_reason == FinishReason::Stop),
                    logprobs: None,
                }],
                usage: Some(usage),
            },
        )
}

/// A well-formed stream for each generated plan: per choice, text pieces, then tool calls one
/// after the other with their argument pieces, then the finish.
type ChoicePlan = (
    Vec<String>,
    Vec<(ToolCall, Vec<String>)>,
    FinishReason,
    Option<String>,
);

fn choice_plan(stop_sequences: bool) -> impl Strategy<Value = ChoicePlan> {
    let call = (tool_call(), 1..4usize).prop_map(|(call, pieces)| {
        // Split the arguments at arbitrary character boundaries.
        let chars: Vec<char> = call.arguments.chars().collect();
        let size = chars.len().div_ceil(pieces).max(1);
        let parts = chars.chunks(size).map(|c| c.iter().collect()).collect();
        (call, parts)
    });
    (
        vec(text(), 0..4),
        vec(call, 0..3),
        finish_reason(),
        if stop_sequences {
            option::of(text()).boxed()
        } else {
            Just(None).boxed()
        },
    )
        .prop_map(|(text, calls, reason, stop)| {
            let stop = stop.filter(|_| reason == FinishReason::Stop);
            (text, calls, reason, stop)
        })
}

fn stream_events(
    id: String,
    model: String,
    created: Option<u64>,
    choices: &[ChoicePlan],
    usage: Option<Usage>,
) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::Start { id, model, created }];
    for (choice, (texts, calls, reason, stop)) in choices.iter().enumerate() {
        let choice = choice as u32;
        events.push(StreamEvent::RoleStart { choice });
        for text in texts {
            events.push(StreamEvent::TextDelta {
                choice,
                text: text.clone(),
            });
        }
        for (index, (call, pieces)) in calls.iter().enumerate() {
            let index = index as u32;
            events.push(StreamEvent::ToolCallStart {
                choice,
                index,
                id: call.id.clone(),
                name: call.name.clone(),
            });
            for piece in pieces {
                events.push(StreamEvent::ToolCallDelta {
                    choice,
                    index,
                    arguments: piece.clone(),
                });
            }
            events.push(StreamEvent::ToolCallEnd { choice, index });
        }
        events.push(StreamEvent::Finish {
            choice,
            reason: *reason,
            stop_sequence: stop.clone(),
        });
    }
    if let Some(usage) = usage {
        events.push(StreamEvent::Usage(usage));
    }
    events.push(StreamEvent::Done);
    events
}

fn through_format(
    events: &[StreamEvent],
    ingress: &dyn Ingress,
    reader: &dyn ProviderAdapter,
    chunk: usize,
) -> Vec<StreamEvent> {
    let request = ChatRequest {
        stream: Some(StreamOptions {
            include_usage: true,
        }),
        ..ChatRequest::default()
    };
    let mut encoder = ingress.stream_encoder(&request);
    let sse: Vec<_> = events.iter().flat_map(|e| encoder.encode(e)).collect();
    decode_stream(reader, encode_all(&sse).as_bytes(), chunk).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// An OpenAI request the adapter writes, OpenAI ingress reads back unchanged.
    #[test]
    fn openai_requests_round_trip(request in openai_request()) {
        let encoded = OpenAiAdapter::new()
            .encode_request(&request, &ModelProfile::new(request.model.clone()))
            .unwrap();
        prop_assert!(encoded.warnings.is_empty(), "{:?}", encoded.warnings);
        let decoded = OpenAiIngress::new()
            .decode_request(encoded.value.to_string().as_bytes())
            .unwrap();
        prop_assert!(decoded.warnings.is_empty(), "{:?}", decoded.warnings);
        prop_assert_eq!(decoded.value, request);
    }

    /// An Anthropic request the adapter writes, Anthropic ingress reads back unchanged.
    #[test]
    fn anthropic_requests_round_trip(request in anthropic_request()) {
        let profile = ModelProfile {
            structured_outputs: true,
            ..ModelProfile::new(request.model.clone())
        };
        let encoded = AnthropicAdapter::new().encode_request(&request, &profile).unwrap();
        prop_assert!(encoded.warnings.is_empty(), "{:?}", encoded.warnings);
        let decoded = AnthropicIngress::new()
            .decode_request(encoded.value.to_string().as_bytes())
            .unwrap();
        prop_assert!(decoded.warnings.is_empty(), "{:?}", decoded.warnings);
        prop_assert_eq!(decoded.value, request);
    }

    /// An OpenAI answer ingress writes, the OpenAI adapter reads back unchanged.
    #[test]
    fn openai_responses_round_trip(response in openai_response()) {
        let body = OpenAiIngress::new().encode_response(&response);
        let decoded = OpenAiAdapter::new().decode_response(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(decoded, response);
    }

    /// An Anthropic answer ingress writes, the Anthropic adapter reads back unchanged.
    #[test]
    fn anthropic_responses_round_trip(response in anthropic_response()) {
        let body = AnthropicIngress::new().encode_response(&response);
        let decoded = AnthropicAdapter::new()
            .decode_response(body.to_string().as_bytes())
            .unwrap();
        prop_assert_eq!(decoded, response);
    }

    /// An OpenAI stream ingress writes, read back in chunks of any size, adds up to the same
    /// answer and is well formed.
    #[test]
    fn openai_streams_round_trip(
        choices in vec(choice_plan(false), 1..3),
        usage in option::of(anthropic_usage().prop_map(|u| Usage { cache_write_input_tokens: None, ..u })),
        created in 1..2_000_000_000u64,
        chunk in 1..64usize,
    ) {
        let events = stream_events("chatcmpl-x".into(), "gpt".into(), Some(created), &choices, usage);
        check_stream(&events).unwrap();
        let read_back = through_format(&events, &OpenAiIngress::new(), &OpenAiAdapter::new(), chunk);
        prop_assert!(check_stream(&read_back).is_ok(), "{:?}", check_stream(&read_back));
        prop_assert_eq!(accumulate(&read_back), accumulate(&events));
    }

    /// Likewise for an Anthropic stream (one choice; the usage always comes).
    #[test]
    fn anthropic_streams_round_trip(
        choice in choice_plan(true),
        usage in anthropic_usage(),
        chunk in 1..64usize,
    ) {
        let events = stream_events("msg_x".into(), "claude".into(), None, &[choice], Some(usage));
        let read_back = through_format(&events, &AnthropicIngress::new(), &AnthropicAdapter::new(), chunk);
        prop_assert!(check_stream(&read_back).is_ok(), "{:?}", check_stream(&read_back));
        prop_assert_eq!(accumulate(&read_back), accumulate(&events));
    }
}
