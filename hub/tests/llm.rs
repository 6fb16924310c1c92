//! The LLM plane end to end: the hub's router driven in-process with
//! `tower::ServiceExt::oneshot`, its engine making real HTTP calls to fake OpenAI and Anthropic
//! APIs on loopback (`agenthub_test_support::fake_llm`). The fakes answer from the request and
//! fail on cue, so each test can see what reached the provider, and how often.

mod support;

use std::time::{Duration, Instant};

use agenthub::app;
use agenthub::store::Store;
use agenthub_test_support::fake_llm::{
    FakeAnthropic, FakeOpenAi, Reply, embedding_of, example_of, tokens,
};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::db::TestDb;
use support::lab::InProcessHub;
use tower::ServiceExt;

/// The most any test here may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Plane settings for most tests: no retries, a breaker that does not open, short timeouts.
const LLM: &str = "
llm:
  timeouts: {connect: 2s, first_token: 5s, total: 10s}
  retry: {attempts: 0, initial_backoff: 10ms, max_backoff: 40ms}
  circuit_breaker: {failures: 50, cooldown: 300ms}
";

const WEATHER_TOOL_SCHEMA: &str = r#"{
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"}
    },
    "required": ["city"]
}"#;

fn weather_schema() -> Value {
    serde_json::from_str(WEATHER_TOOL_SCHEMA).unwrap()
}

/// Runs `test` within [`TEST_TIMEOUT`].
async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test did not finish in time");
}

// ---------------------------------------------------------------------------------------------
// The hub, the fakes and the answers

struct Lab {
    router: Router,
    admin: String,
    openai: FakeOpenAi,
    anthropic: FakeAnthropic,
    store: Store,
    _db: TestDb,
}

impl Lab {
    /// Fakes and a hub whose catalog points at them: `gpt-4o-mini` (OpenAI), `claude`
    /// (Anthropic), `embed`, `priced` and `metered` (OpenAI, priced in the configuration at
    /// $2.5/$10 and $1000/$1000 per million tokens), and the virtual
    /// models `smart` (gpt-4o-mini, then claude) and `smart-claude` (claude, then gpt-4o-mini).
    /// `llm` replaces the plane settings; `extra` adds sections.
    async fn start(llm: &str, extra: &str) -> Self {
        let openai = FakeOpenAi::start();
        let anthropic = FakeAnthropic::start();
        let yaml = format!(
            r#"{llm}
providers:
  - {{name: fake-openai, kind: openai, base_url: "{openai_url}", api_key: "{openai_key}"}}
  - {{name: fake-anthropic, kind: anthropic, base_url: "{anthropic_url}", api_key: "{anthropic_key}"}}
models:
  - {{name: gpt-4o-mini, provider: fake-openai}}
  - {{name: claude, provider: fake-anthropic, model: claude-sonnet-4-5-20250929, max_output_tokens: 1024}}
  - {{name: embed, provider: fake-openai, model: text-embedding-3-small, kind: embeddings}}
  - {{name: priced, provider: fake-openai, model: gpt-4o-mini, price: {{input: 2.5, output: 10}}}}
  - {{name: metered, provider: fake-openai, model: gpt-4o-mini, price: {{input: 1000, output: 1000}}}}
virtual_models:
  - {{name: smart, strategy: priority, targets: [{{model: gpt-4o-mini}}, {{model: claude}}]}}
  - {{name: smart-claude, strategy: priority, targets: [{{model: claude}}, {{model: gpt-4o-mini}}]}}
{extra}
"#,
            openai_url = openai.base_url(),
            openai_key = FakeOpenAi::API_KEY,
            anthropic_url = anthropic.base_url(),
            anthropic_key = FakeAnthropic::API_KEY,
        );
        let hub = InProcessHub::start(&yaml).await;
        Self {
            router: app::router(hub.state),
            admin: hub.admin,
            openai,
            anthropic,
            store: hub.store,
            _db: hub.db,
        }
    }

    async fn stop(self) {
        self.store.close().await;
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read the response body")
            .to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("a UTF-8 body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    /// `POST path` as the OpenAI SDK sends it: the key as a bearer token.
    async fn openai(&self, path: &str, key: &str, body: &Value) -> Answer {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    /// `POST /v1/chat/completions` with the admin key.
    async fn chat(&self, body: &Value) -> Answer {
        self.openai("/v1/chat/completions", &self.admin, body).await
    }

    /// `POST /v1/messages` as the Anthropic SDK sends it: `x-api-key` and
    /// `anthropic-version`.
    async fn messages_as(&self, key: &str, body: &Value) -> Answer {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v1/messages")
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    async fn messages(&self, body: &Value) -> Answer {
        self.messages_as(&self.admin, body).await
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let answer = self.openai(path, &self.admin, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{path}: {}",
            answer.text
        );
        answer.json
    }

    /// A user with a key scoped `llm`; its secret.
    async fn user_key(&self, name: &str) -> String {
        self.admin_post("/api/v1/users", json!({"name": name}))
            .await;
        let key = self
            .admin_post(
                "/api/v1/keys",
                json!({"name": "llm", "owner": name, "scopes": ["llm"]}),
            )
            .await;
        key["key"].as_str().expect("the key's secret").to_owned()
    }
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    json: Value,
}

/// One server-sent event: its `event:` name, if any, and its data.
#[derive(Debug)]
struct Event {
    name: Option<String>,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

impl Answer {
    #[track_caller]
    fn ok(&self) -> &Value {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "unexpected answer: {}",
            self.text
        );
        &self.json
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error of an OpenAI-format error answer, after checking the status and the shape.
    #[track_caller]
    fn openai_error(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        let error = &self.json["error"];
        assert!(error["message"].is_string(), "{}", self.text);
        assert!(error["type"].is_string(), "{}", self.text);
        assert!(error.get("param").is_some(), "{}", self.text);
        assert!(error.get("code").is_some(), "{}", self.text);
        error
    }

    /// The error of an Anthropic-format error answer, after checking the status and shape.
    #[track_caller]
    fn anthropic_error(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        assert_eq!(self.json["type"], "error", "{}", self.text);
        let error = &self.json["error"];
        assert!(error["message"].is_string(), "{}", self.text);
        error
    }

    /// The body as server-sent events.
    #[track_caller]
    fn events(&self) -> Vec<Event> {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "unexpected answer: {}",
            self.text
        );
        assert_eq!(self.header("content-type"), Some("text/event-stream"));
        self.text
            .split("\n\n")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut event = Event {
                    name: None,
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event.name = Some(name.trim().to_owned());
                    } else if let Some(data) = line.strip_prefix("data:") {
                        event.data.push_str(data.trim_start());
                    }
                }
                event
            })
            .collect()
    }
}

/// The text of an OpenAI stream's content deltas.
fn openai_stream_text(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// The text of an Anthropic stream's text deltas.
fn anthropic_stream_text(events: &[Event]) -> String {
    events
        .iter()
        .map(Event::json)
        .filter(|e| e["type"] == "content_block_delta" && e["delta"]["type"] == "text_delta")
        .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
        .collect()
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

/// The `x-agenthub-*` headers of a served answer.
#[track_caller]
fn assert_served(answer: &Answer, provider: &str, model: &str, path: &str) {
    assert_eq!(
        answer.header("x-agenthub-provider"),
        Some(provider),
        "{:?}",
        answer.headers
    );
    assert_eq!(
        answer.header("x-agenthub-model"),
        Some(model),
        "{:?}",
        answer.headers
    );
    assert_eq!(
        answer.header("x-agenthub-fallback-path"),
        Some(path),
        "{:?}",
        answer.headers
    );
}

// ---------------------------------------------------------------------------------------------
// Both formats, both providers

#[tokio::test]
async fn openai_clients_reach_both_providers() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        let answer = lab
            .chat(&json!({"model": "gpt-4o-mini", "messages": user("hello there from openai")}))
            .await;
        let body = answer.ok();
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "hello there from openai"
        );
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(body["usage"]["prompt_tokens"], 4);
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "gpt-4o-mini");
        assert_eq!(
            answer.header("x-agenthub-upstream-model"),
            Some("gpt-4o-mini")
        );
        assert_eq!(answer.header("x-agenthub-attempts"), Some("1"));
        assert_eq!(answer.header("x-agenthub-tokens-input"), Some("4"));
        assert_eq!(answer.header("x-agenthub-tokens-output"), Some("4"));
        assert!(answer.header("x-request-id").is_some());
        // The provider got the hub's credential, not the caller's.
        let seen = lab.openai.last();
        assert_eq!(seen.path, "/v1/chat/completions");
        assert_eq!(
            seen.header("authorization"),
            Some(format!("Bearer {}", FakeOpenAi::API_KEY).as_str())
        );
        assert!(!seen.headers.values().any(|v| v.contains(&lab.admin)));

        // OpenAI format in, Anthropic out: the system message becomes `system`, and the
        // model's output limit is sent since Anthropic requires one.
        let answer = lab
            .chat(&json!({
                "model": "claude",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hello claude"}
                ]
            }))
            .await;
        let body = answer.ok();
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["choices"][0]["message"]["content"], "hello claude");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(body["usage"]["prompt_tokens"], 4);
        assert_eq!(body["usage"]["completion_tokens"], 2);
        assert_served(&answer, "fake-anthropic", "claude", "claude");
        assert_eq!(
            answer.header("x-agenthub-upstream-model"),
            Some("claude-sonnet-4-5-20250929")
        );
        let seen = lab.anthropic.last();
        assert_eq!(seen.path, "/v1/messages");
        assert_eq!(seen.header("x-api-key"), Some(FakeAnthropic::API_KEY));
        assert!(seen.header("anthropic-version").is_some());
        assert_eq!(seen.body["model"], "claude-sonnet-4-5-20250929");
        assert_eq!(seen.body["max_tokens"], 1024);
        assert_eq!(json!(text_of(&seen.body["system"])), json!("be brief"));
        assert_eq!(seen.body["messages"][0]["role"], "user");
        assert_eq!(lab.openai.count(), 1);
        lab.stop().await;
    })
    .await;
}

/// Text of an Anthropic `system` or `content` value: a string or text blocks.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[tokio::test]
async fn anthropic_clients_reach_both_providers() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        let answer = lab
            .messages(&json!({
                "model": "claude", "max_tokens": 100,
                "messages": user("hello from the anthropic side")
            }))
            .await;
        let body = answer.ok();
        assert_eq!(body["type"], "message");
        assert_eq!(body["role"], "assistant");
        assert_eq!(body["content"][0]["type"], "text");
        assert_eq!(body["content"][0]["text"], "hello from the anthropic side");
        assert_eq!(body["stop_reason"], "end_turn");
        assert_eq!(body["usage"]["input_tokens"], 5);
        assert_eq!(body["usage"]["output_tokens"], 5);
        assert_served(&answer, "fake-anthropic", "claude", "claude");
        assert_eq!(lab.anthropic.last().body["max_tokens"], 100);

        // Anthropic format in, OpenAI out.
        let answer = lab
            .messages(&json!({
                "model": "gpt-4o-mini", "max_tokens": 3, "system": "be brief",
                "messages": user("one two three four five")
            }))
            .await;
        let body = answer.ok();
        assert_eq!(body["type"], "message");
        assert_eq!(body["content"][0]["text"], "one two three");
        assert_eq!(body["stop_reason"], "max_tokens");
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "gpt-4o-mini");
        let seen = lab.openai.last();
        let messages = seen.body["messages"].as_array().unwrap();
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(messages.last().unwrap()["role"], "user");
        let limit = seen.body["max_completion_tokens"]
            .as_u64()
            .or(seen.body["max_tokens"].as_u64());
        assert_eq!(limit, Some(3), "{}", seen.body);
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn streams_in_both_formats_from_both_providers() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        // OpenAI client, Anthropic provider.
        let answer = lab
            .chat(&json!({
                "model": "claude", "stream": true, "stream_options": {"include_usage": true},
                "messages": user("stream me some words please")
            }))
            .await;
        let events = answer.events();
        assert_eq!(openai_stream_text(&events), "stream me some words please");
        assert_eq!(events.last().unwrap().data, "[DONE]");
        let finish: Vec<Value> = events
            .iter()
            .map(|e| e.json()["choices"][0]["finish_reason"].clone())
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finish, [json!("stop")]);
        let usage = events
            .iter()
            .map(Event::json)
            .find(|e| e["usage"].is_object())
            .expect("a usage chunk");
        assert_eq!(usage["usage"]["prompt_tokens"], 5);
        assert_eq!(usage["usage"]["completion_tokens"], 5);
        assert_served(&answer, "fake-anthropic", "claude", "claude");
        assert_eq!(lab.anthropic.last().body["stream"], true);

        // Without stream_options.include_usage, no usage chunk: OpenAI clients that read
        // choices[0] of every chunk would fail on one.
        for model in ["claude", "gpt-4o-mini"] {
            let answer = lab
                .chat(&json!({"model": model, "stream": true, "messages": user("no usage please")}))
                .await;
            let events = answer.events();
            assert_eq!(openai_stream_text(&events), "no usage please");
            for event in events.iter().filter(|e| e.data != "[DONE]") {
                let chunk = event.json();
                assert!(
                    chunk.get("usage").is_none_or(Value::is_null),
                    "{model}: {}",
                    event.data
                );
                assert_eq!(
                    chunk["choices"].as_array().map(Vec::len),
                    Some(1),
                    "{model}: {}",
                    event.data
                );
            }
        }

        // Anthropic client, OpenAI provider.
        let answer = lab
            .messages(&json!({
                "model": "gpt-4o-mini", "max_tokens": 50, "stream": true,
                "messages": user("the other way round")
            }))
            .await;
        let events = answer.events();
        let names: Vec<&str> = events.iter().filter_map(|e| e.name.as_deref()).collect();
        assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
        assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
        for name in [
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
        ] {
            assert!(names.contains(&name), "{name} missing: {names:?}");
        }
        for event in &events {
            assert_eq!(
                event.json()["type"].as_str(),
                event.name.as_deref(),
                "{}",
                event.data
            );
        }
        assert_eq!(anthropic_stream_text(&events), "the other way round");
        let delta = events
            .iter()
            .map(Event::json)
            .find(|e| e["type"] == "message_delta")
            .unwrap();
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["output_tokens"], 4);
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "gpt-4o-mini");
        // The hub asks OpenAI for the usage chunk.
        let seen = lab.openai.last();
        assert_eq!(seen.body["stream"], true);
        assert_eq!(seen.body["stream_options"]["include_usage"], true);
        lab.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Tools and embeddings

#[tokio::test]
async fn tool_calls_cross_formats_and_results_go_back() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        let schema = weather_schema();
        let expected_arguments = example_of(&schema);
        let openai_tools = json!([{
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather by city", "parameters": schema}
        }]);
        let question = "Please use the tool for Paris";

        // OpenAI client, Anthropic provider: a tool call comes back in OpenAI's shape.
        let answer = lab
            .chat(&json!({"model": "claude", "messages": user(question), "tools": openai_tools}))
            .await;
        let body = answer.ok();
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{body}");
        let call = &body["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function");
        assert_eq!(call["function"]["name"], "get_weather");
        let arguments: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, expected_arguments);
        let call_id = call["id"].as_str().unwrap().to_owned();
        let seen = lab.anthropic.last();
        assert_eq!(seen.body["tools"][0]["name"], "get_weather");
        assert_eq!(seen.body["tools"][0]["input_schema"], schema);

        // The tool's result goes back in; Anthropic receives it as a tool_result block.
        let answer = lab
            .chat(&json!({
                "model": "claude",
                "tools": openai_tools,
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": null, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": call_id, "content": "18 degrees and sunny"}
                ]
            }))
            .await;
        let body = answer.ok();
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "The tool returned: 18 degrees and sunny"
        );
        let seen = lab.anthropic.last();
        let messages = seen.body["messages"].as_array().unwrap();
        let tool_use = messages[1]["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .expect("the assistant's tool_use block");
        assert_eq!(tool_use["id"], call_id.as_str());
        assert_eq!(tool_use["input"], expected_arguments);
        let result = &messages[2]["content"][0];
        assert_eq!(result["type"], "tool_result", "{}", seen.body);
        assert_eq!(result["tool_use_id"], call_id.as_str());

        // Anthropic client, OpenAI provider, streamed: the arguments arrive as
        // input_json_delta fragments.
        let anthropic_tools = json!([{
            "name": "get_weather", "description": "Weather by city", "input_schema": schema
        }]);
        let answer = lab
            .messages(&json!({
                "model": "gpt-4o-mini", "max_tokens": 200, "stream": true,
                "tools": anthropic_tools, "messages": user(question)
            }))
            .await;
        let events: Vec<Value> = answer.events().iter().map(Event::json).collect();
        let start = events
            .iter()
            .find(|e| e["type"] == "content_block_start" && e["content_block"]["type"] == "tool_use")
            .expect("a tool_use block");
        assert_eq!(start["content_block"]["name"], "get_weather");
        let tool_id = start["content_block"]["id"].as_str().unwrap().to_owned();
        let json_text: String = events
            .iter()
            .filter(|e| e["delta"]["type"] == "input_json_delta")
            .map(|e| e["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&json_text).unwrap(), expected_arguments);
        let stop = events.iter().find(|e| e["type"] == "message_delta").unwrap();
        assert_eq!(stop["delta"]["stop_reason"], "tool_use");
        assert_eq!(lab.openai.last().body["tools"][0]["function"]["name"], "get_weather");

        let answer = lab
            .messages(&json!({
                "model": "gpt-4o-mini", "max_tokens": 200, "tools": anthropic_tools,
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": tool_id, "name": "get_weather", "input": expected_arguments}
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": tool_id, "content": "rain"}
                    ]}
                ]
            }))
            .await;
        assert_eq!(answer.ok()["content"][0]["text"], "The tool returned: rain");
        let seen = lab.openai.last();
        let last = seen.body["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["role"], "tool", "{}", seen.body);
        assert_eq!(last["tool_call_id"], tool_id.as_str());
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn embeddings_as_floats_and_base64() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        let answer = lab
            .openai(
                "/v1/embeddings",
                &lab.admin,
                &json!({"model": "embed", "input": ["alpha", "beta gamma"]}),
            )
            .await;
        let body = answer.ok();
        assert_eq!(body["object"], "list");
        assert_eq!(body["data"][0]["object"], "embedding");
        for (i, text) in ["alpha", "beta gamma"].iter().enumerate() {
            assert_eq!(body["data"][i]["index"], i);
            assert_eq!(body["data"][i]["embedding"], json!(embedding_of(text, 8)));
        }
        assert_eq!(body["usage"]["prompt_tokens"], 3);
        assert_served(&answer, "fake-openai", "embed", "embed");
        assert_eq!(answer.header("x-agenthub-tokens-input"), Some("3"));
        let seen = lab.openai.last();
        assert_eq!(seen.path, "/v1/embeddings");
        assert_eq!(seen.body["model"], "text-embedding-3-small");

        // base64: little-endian f32s, as the OpenAI SDK asks for by default.
        let answer = lab
            .openai(
                "/v1/embeddings",
                &lab.admin,
                &json!({"model": "embed", "input": "alpha", "encoding_format": "base64", "dimensions": 4}),
            )
            .await;
        let encoded = answer.ok()["data"][0]["embedding"].as_str().expect("a base64 string");
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(floats, embedding_of("alpha", 4));
        assert_eq!(lab.openai.last().body["dimensions"], 4);

        // A model of the other kind is a bad request, and reaches no provider.
        let count = lab.openai.count();
        let answer = lab
            .openai("/v1/embeddings", &lab.admin, &json!({"model": "gpt-4o-mini", "input": "x"}))
            .await;
        assert_eq!(answer.openai_error(StatusCode::BAD_REQUEST)["param"], "model");
        let answer = lab.chat(&json!({"model": "embed", "messages": user("x")})).await;
        assert_eq!(answer.openai_error(StatusCode::BAD_REQUEST)["param"], "model");
        assert_eq!(lab.openai.count(), count);
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_priced_model_reports_its_cost() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        let prompt = "one two three four five six";
        let answer = lab
            .chat(&json!({"model": "priced", "messages": user(prompt)}))
            .await;
        answer.ok();
        assert_served(&answer, "fake-openai", "priced", "priced");
        let input: u64 = answer
            .header("x-agenthub-tokens-input")
            .unwrap()
            .parse()
            .unwrap();
        let output: u64 = answer
            .header("x-agenthub-tokens-output")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            (input, output),
            (u64::from(tokens(prompt)), u64::from(tokens(prompt)))
        );
        // USD per million tokens: 2.5 in, 10 out.
        let expected = (input as f64 * 2.5 + output as f64 * 10.0) / 1e6;
        let cost: f64 = answer.header("x-agenthub-cost").unwrap().parse().unwrap();
        assert!(
            (cost - expected).abs() < 1e-9,
            "cost {cost}, expected {expected}"
        );

        // The same facts reach the metrics.
        let metrics = lab
            .send(
                Request::builder()
                    .uri("/metrics")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let labels = r#"model="priced",provider="fake-openai""#;
        let micros = (expected * 1e6).round() as u64;
        for line in [
            format!(r#"agenthub_llm_calls_total{{{labels},outcome="served"}} 1"#),
            format!(r#"agenthub_llm_tokens_total{{{labels},direction="input"}} {input}"#),
            format!(r#"agenthub_llm_tokens_total{{{labels},direction="output"}} {output}"#),
            format!(r#"agenthub_llm_cost_microdollars_total{{{labels}}} {micros}"#),
        ] {
            assert!(
                metrics.text.contains(&line),
                "{line} not in\n{}",
                metrics.text
            );
        }
        lab.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Refusals before any provider is called

#[tokio::test]
async fn unknown_forbidden_and_invalid_requests_never_reach_a_provider() {
    bounded(async {
        let policies = r#"
policies:
  - {subject: "user:alice", resource: "model:gpt-4o-mini", action: invoke}
"#;
        let lab = Lab::start(LLM, policies).await;

        let answer = lab
            .chat(&json!({"model": "no-such-model", "messages": user("hi")}))
            .await;
        let error = answer.openai_error(StatusCode::NOT_FOUND);
        assert_eq!(error["type"], "not_found_error");
        assert_eq!(error["param"], "model");
        let answer = lab
            .messages(&json!({"model": "no-such-model", "max_tokens": 5, "messages": user("hi")}))
            .await;
        assert_eq!(
            answer.anthropic_error(StatusCode::NOT_FOUND)["type"],
            "not_found_error"
        );

        // A user granted gpt-4o-mini only.
        let alice = lab.user_key("alice").await;
        let answer = lab
            .openai(
                "/v1/chat/completions",
                &alice,
                &json!({"model": "gpt-4o-mini", "messages": user("hi")}),
            )
            .await;
        answer.ok();
        let answer = lab
            .openai(
                "/v1/chat/completions",
                &alice,
                &json!({"model": "claude", "messages": user("hi")}),
            )
            .await;
        let error = answer.openai_error(StatusCode::FORBIDDEN);
        assert_eq!(error["type"], "permission_error");
        assert_eq!(error["param"], "model");
        let answer = lab
            .messages_as(
                &alice,
                &json!({"model": "claude", "max_tokens": 5, "messages": user("hi")}),
            )
            .await;
        assert_eq!(
            answer.anthropic_error(StatusCode::FORBIDDEN)["type"],
            "permission_error"
        );
        let request = Request::builder()
            .uri("/v1/models")
            .header(header::AUTHORIZATION, format!("Bearer {alice}"))
            .body(Body::empty())
            .unwrap();
        let models = lab.send(request).await;
        let ids: Vec<&str> = models.ok()["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(ids, ["gpt-4o-mini"]);

        // Bad parameters, named.
        let answer = lab
            .chat(&json!({"model": "gpt-4o-mini", "n": 0, "messages": user("hi")}))
            .await;
        assert_eq!(answer.openai_error(StatusCode::BAD_REQUEST)["param"], "n");
        let answer = lab
            .chat(&json!({"model": "gpt-4o-mini", "temperature": 7, "messages": user("hi")}))
            .await;
        assert_eq!(
            answer.openai_error(StatusCode::BAD_REQUEST)["param"],
            "temperature"
        );
        let answer = lab
            .messages(&json!({"model": "claude", "max_tokens": 0, "messages": user("hi")}))
            .await;
        let error = answer.anthropic_error(StatusCode::BAD_REQUEST);
        assert_eq!(error["type"], "invalid_request_error");
        assert!(
            error["message"].as_str().unwrap().contains("max_tokens"),
            "{error}"
        );
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v1/chat/completions")
            .header(header::AUTHORIZATION, format!("Bearer {}", lab.admin))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"model\": "))
            .unwrap();
        lab.send(request)
            .await
            .openai_error(StatusCode::BAD_REQUEST);

        // No key at all.
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v1/messages")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"model": "claude", "max_tokens": 5, "messages": user("hi")}).to_string(),
            ))
            .unwrap();
        let answer = lab.send(request).await;
        assert_eq!(
            answer.anthropic_error(StatusCode::UNAUTHORIZED)["type"],
            "authentication_error"
        );

        // Only alice's one permitted call went out.
        assert_eq!(lab.openai.count(), 1);
        assert_eq!(lab.anthropic.count(), 0);
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_oversize_body_is_413_in_the_clients_format() {
    bounded(async {
        let llm = format!("{LLM}  max_body_bytes: 4096\n");
        let lab = Lab::start(&llm, "").await;
        let big = "word ".repeat(2000);
        let answer = lab
            .chat(&json!({"model": "gpt-4o-mini", "messages": user(&big)}))
            .await;
        let error = answer.openai_error(StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("max_body_bytes"),
            "{error}"
        );
        let answer = lab
            .messages(&json!({"model": "claude", "max_tokens": 5, "messages": user(&big)}))
            .await;
        assert_eq!(
            answer.anthropic_error(StatusCode::PAYLOAD_TOO_LARGE)["type"],
            "request_too_large"
        );
        // Just under the limit passes.
        let small = "word ".repeat(600);
        lab.chat(&json!({"model": "gpt-4o-mini", "messages": user(&small)}))
            .await
            .ok();
        assert_eq!(lab.openai.count(), 1);
        assert_eq!(lab.anthropic.count(), 0);
        lab.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Limits, budgets, guardrails

#[tokio::test]
async fn a_rate_limit_answers_429_with_retry_after() {
    bounded(async {
        let rules = r#"
rate_limits:
  - {id: two-a-minute, when: {models: ["gpt-4o-mini"]}, limit_to: 2, unit: requests_per_minute}
"#;
        let lab = Lab::start(LLM, rules).await;
        let body = json!({"model": "gpt-4o-mini", "messages": user("hi")});
        lab.chat(&body).await.ok();
        lab.chat(&body).await.ok();
        let answer = lab.chat(&body).await;
        let error = answer.openai_error(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error["type"], "rate_limit_error");
        assert!(
            error["message"].as_str().unwrap().contains("two-a-minute"),
            "{error}"
        );
        let retry_after: u64 = answer
            .header("retry-after")
            .expect("a Retry-After header")
            .parse()
            .unwrap();
        // Within the minute window (rounded up to whole seconds and slots).
        assert!((1..=61).contains(&retry_after), "{retry_after}");
        assert_eq!(answer.header("x-ratelimit-limit"), Some("2"));
        // In the Anthropic format too; other models are not limited.
        let answer = lab
            .messages(&json!({"model": "gpt-4o-mini", "max_tokens": 5, "messages": user("hi")}))
            .await;
        assert_eq!(
            answer.anthropic_error(StatusCode::TOO_MANY_REQUESTS)["type"],
            "rate_limit_error"
        );
        assert!(answer.header("retry-after").is_some());
        lab.chat(&json!({"model": "claude", "messages": user("hi")}))
            .await
            .ok();
        assert_eq!(lab.openai.count(), 2);
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_budget_blocks_once_spent() {
    bounded(async {
        // $0.001 a token, $0.05 a day: a request is admitted on its estimate (its prompt at
        // four characters a token, plus max_tokens) and charged what the provider reports.
        let rules = r#"
budgets:
  - {id: tiny, when: {models: ["metered"]}, cost_per_day: 0.05}
"#;
        let lab = Lab::start(LLM, rules).await;
        let body = json!({
            "model": "metered", "max_tokens": 20, "messages": user("a b c d e f g h i j")
        });
        // Each call costs 20 tokens (10 in, 10 out) = $0.02, estimated at $0.025.
        let answer = lab.chat(&body).await;
        answer.ok();
        let cost: f64 = answer.header("x-agenthub-cost").unwrap().parse().unwrap();
        assert!((cost - 0.02).abs() < 1e-9, "{cost}");
        lab.chat(&body).await.ok();
        // $0.04 spent: another $0.025 would pass $0.05.
        let answer = lab.chat(&body).await;
        let error = answer.openai_error(StatusCode::TOO_MANY_REQUESTS);
        assert!(
            error["message"].as_str().unwrap().contains("tiny"),
            "{error}"
        );
        assert!(answer.header("retry-after").is_some());
        assert_eq!(lab.openai.count(), 2);
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn guardrails_redact_what_goes_in_and_block_what_comes_out() {
    bounded(async {
        let rules = r#"
guardrails:
  - {id: tickets, type: regex, pattern: '\bINC-[0-9]{6}\b', label: TICKET, action: redact, stage: input}
  - {id: codes, type: regex, pattern: '\bCODE-[0-9]{4}\b', label: CODE, action: block, stage: output}
"#;
        let lab = Lab::start(LLM, rules).await;
        let answer = lab
            .chat(&json!({"model": "gpt-4o-mini", "messages": user("look at INC-123456 today")}))
            .await;
        assert_eq!(
            answer.ok()["choices"][0]["message"]["content"],
            "look at [REDACTED:TICKET] today"
        );
        let seen = lab.openai.last();
        assert_eq!(seen.body["messages"][0]["content"], "look at [REDACTED:TICKET] today");
        assert!(!seen.body.to_string().contains("INC-123456"));

        // The fake echoes the prompt, so the answer carries the code: blocked on the way out.
        let answer = lab
            .chat(&json!({"model": "gpt-4o-mini", "messages": user("the code is CODE-1234 ok")}))
            .await;
        let error = answer.openai_error(StatusCode::FORBIDDEN);
        assert!(error["message"].as_str().unwrap().contains("guardrail"), "{error}");
        assert!(!answer.text.contains("CODE-1234"));
        assert_eq!(lab.openai.count(), 2);

        // Streamed: cut with an error event, the code never sent.
        let answer = lab
            .messages(&json!({
                "model": "claude", "max_tokens": 50, "stream": true,
                "messages": user("the code is CODE-1234 ok")
            }))
            .await;
        let events = answer.events();
        assert!(!answer.text.contains("CODE-1234"), "{}", answer.text);
        let last = events.last().unwrap();
        assert_eq!(last.name.as_deref(), Some("error"), "{}", answer.text);
        assert_eq!(last.json()["error"]["type"], "permission_error");
        assert!(!events.iter().any(|e| e.name.as_deref() == Some("message_stop")));
        lab.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Failure handling: fallback, retries, timeouts, circuit breaker, streams, malformed answers

#[tokio::test]
async fn a_503_falls_back_to_the_next_target() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        lab.openai.cue([Reply::Status(503, None)]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("fall back please")}))
            .await;
        assert_eq!(
            answer.ok()["choices"][0]["message"]["content"],
            "fall back please"
        );
        assert_served(&answer, "fake-anthropic", "claude", "gpt-4o-mini,claude");
        assert_eq!(answer.header("x-agenthub-attempts"), Some("2"));
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (1, 1));

        // The same in the Anthropic format, the other way round, on a 529.
        lab.anthropic.cue([Reply::Status(529, None)]);
        let answer = lab
            .messages(
                &json!({"model": "smart-claude", "max_tokens": 20, "messages": user("again")}),
            )
            .await;
        assert_eq!(answer.ok()["content"][0]["text"], "again");
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "claude,gpt-4o-mini");
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (2, 2));

        // Rate limits, refused credentials and unknown models at the provider fail over too.
        for status in [429, 401, 403, 404] {
            lab.openai.cue([Reply::Status(status, Some(1))]);
            let answer = lab
                .chat(&json!({"model": "smart", "messages": user("next")}))
                .await;
            answer.ok();
            assert_served(&answer, "fake-anthropic", "claude", "gpt-4o-mini,claude");
        }
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (6, 6));

        // Every target failing: 502 listing the attempts, the path in the header.
        lab.openai.cue([Reply::Status(500, None)]);
        lab.anthropic.cue([Reply::Status(503, None)]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("x")}))
            .await;
        let error = answer.openai_error(StatusCode::BAD_GATEWAY);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("gpt-4o-mini") && message.contains("claude"),
            "{message}"
        );
        assert_eq!(
            answer.header("x-agenthub-fallback-path"),
            Some("gpt-4o-mini,claude")
        );

        // Every target rate limited: 429, waiting as long as the most patient provider asked.
        lab.openai.cue([Reply::Status(429, Some(3))]);
        lab.anthropic.cue([Reply::Status(429, Some(7))]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("x")}))
            .await;
        answer.openai_error(StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.header("retry-after"), Some("7"));
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_failed_attempt_is_retried_on_the_same_target() {
    bounded(async {
        let llm = LLM.replace("attempts: 0", "attempts: 1");
        let lab = Lab::start(&llm, "").await;
        lab.openai.cue([Reply::Status(503, Some(1))]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("retry me")}))
            .await;
        assert_eq!(answer.ok()["choices"][0]["message"]["content"], "retry me");
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "gpt-4o-mini");
        assert_eq!(answer.header("x-agenthub-attempts"), Some("2"));
        assert_eq!(lab.openai.count(), 2);
        assert_eq!(lab.anthropic.count(), 0);
        // The retry sent the same request.
        let requests = lab.openai.requests();
        assert_eq!(requests[0].body, requests[1].body);

        // Two failures use up the retry: the next target serves.
        lab.openai
            .cue([Reply::Status(502, None), Reply::Status(502, None)]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("again")}))
            .await;
        answer.ok();
        assert_served(&answer, "fake-anthropic", "claude", "gpt-4o-mini,claude");
        assert_eq!(answer.header("x-agenthub-attempts"), Some("3"));
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (4, 1));
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_provider_400_is_returned_without_fallback() {
    bounded(async {
        let llm = LLM.replace("attempts: 0", "attempts: 2");
        let lab = Lab::start(&llm, "").await;
        lab.openai.cue([Reply::Status(400, None)]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("bad")}))
            .await;
        let error = answer.openai_error(StatusCode::BAD_REQUEST);
        assert_eq!(error["type"], "invalid_request_error");
        assert!(
            error["message"].as_str().unwrap().contains("rejected"),
            "{error}"
        );
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (1, 0));

        lab.anthropic.cue([Reply::Status(400, None)]);
        let answer = lab
            .messages(&json!({"model": "smart-claude", "max_tokens": 5, "messages": user("bad")}))
            .await;
        assert_eq!(
            answer.anthropic_error(StatusCode::BAD_REQUEST)["type"],
            "invalid_request_error"
        );
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (1, 1));
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_provider_that_hangs_times_out_and_falls_back() {
    bounded(async {
        let llm = LLM.replace("first_token: 5s", "first_token: 300ms");
        let lab = Lab::start(&llm, "").await;
        lab.openai.cue([Reply::Hang]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("too slow")}))
            .await;
        assert_eq!(answer.ok()["choices"][0]["message"]["content"], "too slow");
        assert_served(&answer, "fake-anthropic", "claude", "gpt-4o-mini,claude");

        // With no other target: 504, in the client's format.
        lab.openai.cue([Reply::Hang]);
        let answer = lab
            .chat(&json!({"model": "gpt-4o-mini", "messages": user("x")}))
            .await;
        let error = answer.openai_error(StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(error["code"], "upstream_timeout");
        lab.anthropic.cue([Reply::Hang]);
        let answer = lab
            .messages(&json!({"model": "claude", "max_tokens": 5, "messages": user("x")}))
            .await;
        assert_eq!(
            answer.anthropic_error(StatusCode::GATEWAY_TIMEOUT)["type"],
            "timeout_error"
        );

        // A slow answer within the timeout is served.
        lab.openai.cue([Reply::Delay(Duration::from_millis(50))]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("slow but fine")}))
            .await;
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "gpt-4o-mini");
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (3, 2));
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn an_open_circuit_skips_the_target_until_the_cooldown_passes() {
    bounded(async {
        let cooldown = Duration::from_millis(500);
        let llm = LLM.replace(
            "circuit_breaker: {failures: 50, cooldown: 300ms}",
            "circuit_breaker: {failures: 2, cooldown: 500ms}",
        );
        let lab = Lab::start(&llm, "").await;
        lab.openai.otherwise(Reply::Status(503, None));
        let smart = json!({"model": "smart", "messages": user("hi")});
        let direct = json!({"model": "gpt-4o-mini", "messages": user("hi")});

        // Two failures in a row open the breaker; claude serves meanwhile.
        for _ in 0..2 {
            let answer = lab.chat(&smart).await;
            assert_served(&answer, "fake-anthropic", "claude", "gpt-4o-mini,claude");
        }
        let opened = Instant::now();
        assert_eq!(lab.openai.count(), 2);

        // Open: gpt-4o-mini is not called at all.
        let answer = lab.chat(&smart).await;
        assert_served(&answer, "fake-anthropic", "claude", "claude");
        let answer = lab.chat(&direct).await;
        let error = answer.openai_error(StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            error["message"].as_str().unwrap().contains("circuit open"),
            "{error}"
        );
        assert!(
            opened.elapsed() < cooldown,
            "the checks took longer than the cooldown; the test cannot tell anything"
        );
        assert_eq!(lab.openai.count(), 2);

        // After the cooldown one trial goes through; it fails, and the breaker opens again at
        // once.
        tokio::time::sleep(cooldown.saturating_sub(opened.elapsed()) + Duration::from_millis(50))
            .await;
        let answer = lab.chat(&direct).await;
        answer.openai_error(StatusCode::BAD_GATEWAY);
        let reopened = Instant::now();
        assert_eq!(lab.openai.count(), 3);
        lab.chat(&direct)
            .await
            .openai_error(StatusCode::SERVICE_UNAVAILABLE);
        assert!(reopened.elapsed() < cooldown);
        assert_eq!(lab.openai.count(), 3);

        // The provider recovers: the next trial succeeds and closes the breaker.
        lab.openai.otherwise(Reply::Normal);
        tokio::time::sleep(cooldown.saturating_sub(reopened.elapsed()) + Duration::from_millis(50))
            .await;
        let answer = lab.chat(&direct).await;
        answer.ok();
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "gpt-4o-mini");
        let answer = lab.chat(&smart).await;
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "gpt-4o-mini");
        assert_eq!(lab.openai.count(), 5);
        assert_eq!(lab.anthropic.count(), 3);
        lab.stop().await;
    })
    .await;
}

/// A trial call whose caller goes away (the request future is dropped mid-call) must not leave
/// the breaker waiting for that trial forever.
#[tokio::test]
async fn an_abandoned_trial_does_not_wedge_the_breaker() {
    bounded(async {
        let cooldown = Duration::from_millis(300);
        let llm = LLM.replace(
            "circuit_breaker: {failures: 50, cooldown: 300ms}",
            "circuit_breaker: {failures: 1, cooldown: 300ms}",
        );
        let lab = Lab::start(&llm, "").await;
        let direct = json!({"model": "gpt-4o-mini", "messages": user("hi")});
        lab.openai.cue([Reply::Status(503, None)]);
        lab.chat(&direct)
            .await
            .openai_error(StatusCode::BAD_GATEWAY);
        lab.chat(&direct)
            .await
            .openai_error(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(lab.openai.count(), 1);

        // After the cooldown the trial call is slow, and its caller gives up on it.
        tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
        lab.openai.cue([Reply::Delay(Duration::from_secs(2))]);
        let gave_up = tokio::time::timeout(Duration::from_millis(200), lab.chat(&direct)).await;
        assert!(gave_up.is_err(), "the slow trial answered: {gave_up:?}");
        assert_eq!(lab.openai.count(), 2);

        // The provider is healthy; within another cooldown a call must reach it again.
        tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
        let answer = lab.chat(&direct).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "the breaker still waits for the abandoned trial: {}",
            answer.text
        );
        assert_eq!(lab.openai.count(), 3);
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn streams_fail_over_only_before_their_first_byte() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        let stream = |model: &str| {
            json!({
                "model": model, "stream": true, "stream_options": {"include_usage": true},
                "messages": user("one two three four five six")
            })
        };

        // A 503 before anything was sent: the next target streams the answer.
        lab.openai.cue([Reply::Status(503, None)]);
        let answer = lab.chat(&stream("smart")).await;
        let events = answer.events();
        assert_eq!(openai_stream_text(&events), "one two three four five six");
        assert_eq!(events.last().unwrap().data, "[DONE]");
        assert_served(&answer, "fake-anthropic", "claude", "gpt-4o-mini,claude");
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (1, 1));

        // Cut after its first events: the client gets what was sent, then an error event; no
        // other target is tried.
        lab.openai.cue([Reply::Truncate]);
        let answer = lab.chat(&stream("smart")).await;
        let events = answer.events();
        assert_served(&answer, "fake-openai", "gpt-4o-mini", "gpt-4o-mini");
        let text = openai_stream_text(&events);
        assert!(
            !text.is_empty() && "one two three four five six".starts_with(&text) && text.len() < 27,
            "{text:?}"
        );
        let last = events.last().unwrap().json();
        assert!(last["error"]["message"].is_string(), "{}", answer.text);
        assert!(!events.iter().any(|e| e.data == "[DONE]"));
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (2, 1));

        // An error event from the provider mid-stream, in the Anthropic format.
        lab.anthropic.cue([Reply::StreamError]);
        let answer = lab
            .messages(&json!({
                "model": "smart-claude", "max_tokens": 50, "stream": true,
                "messages": user("one two three four five six")
            }))
            .await;
        let events = answer.events();
        assert_served(&answer, "fake-anthropic", "claude", "claude");
        assert!(!anthropic_stream_text(&events).is_empty());
        let last = events.last().unwrap();
        assert_eq!(last.name.as_deref(), Some("error"), "{}", answer.text);
        assert_eq!(last.json()["type"], "error");
        assert!(
            !events
                .iter()
                .any(|e| e.name.as_deref() == Some("message_stop"))
        );
        assert_eq!((lab.openai.count(), lab.anthropic.count()), (2, 2));

        // A stream that is garbage from its first event fails over like a refusal.
        lab.openai.cue([Reply::Malformed]);
        let answer = lab.chat(&stream("smart")).await;
        assert_eq!(
            openai_stream_text(&answer.events()),
            "one two three four five six"
        );
        assert_served(&answer, "fake-anthropic", "claude", "gpt-4o-mini,claude");
        lab.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_malformed_answer_is_502_in_the_clients_format() {
    bounded(async {
        let lab = Lab::start(LLM, "").await;
        lab.openai.cue([Reply::Malformed]);
        let answer = lab
            .chat(&json!({"model": "gpt-4o-mini", "messages": user("x")}))
            .await;
        let error = answer.openai_error(StatusCode::BAD_GATEWAY);
        assert_eq!(error["type"], "server_error");
        assert_eq!(error["code"], "upstream_error");

        lab.anthropic.cue([Reply::Malformed]);
        let answer = lab
            .messages(&json!({"model": "claude", "max_tokens": 5, "messages": user("x")}))
            .await;
        assert_eq!(
            answer.anthropic_error(StatusCode::BAD_GATEWAY)["type"],
            "api_error"
        );

        // A body cut halfway is a failed attempt too.
        lab.openai.cue([Reply::Truncate]);
        let answer = lab
            .chat(&json!({"model": "smart", "messages": user("cut")}))
            .await;
        assert_served(&answer, "fake-anthropic", "claude", "gpt-4o-mini,claude");
        lab.stop().await;
    })
    .await;
}
