//! Observability end to end, on the real binary: traffic through all three planes (a fake
//! OpenAI API, a fake A2A agent, the agent as an MCP tool) is recorded per request; `agenthub
//! usage --by team` and `/api/v1/analytics` count it, with the tokens and costs the fake
//! provider reported; one trace joins a chat completion, a tool call and an A2A hop; the audit
//! trail records admin changes, logins and denials, verifies, and names the entry an edit of
//! the database broke.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

use agenthub_test_support::fake_llm::FakeOpenAi;
use agenthub_test_support::mcp::{call, connect, eras};
use serde_json::{Value, json};
use support::fake_agent::FakeAgent;
use support::{Finished, Hub, HubBuilder};

const ADMIN_KEY: &str = "ahk_telemetryadmin0000000000000000000000000";
const PLANES: [&str; 3] = ["llm", "mcp", "a2a"];
const TRACE_ID: &str = "5bf92f3577b34da6a3ce929d0e0e4736";
/// How long records may take to reach the store.
const WITHIN: Duration = Duration::from_secs(20);

fn config(openai: &FakeOpenAi, agent: &FakeAgent, collector: &Collector) -> String {
    format!(
        r#"
a2a:
  allow_private_networks: true
telemetry:
  bodies: redacted
  otlp:
    endpoint: "{collector}/v1/traces"
    headers: {{x-collector-key: "k3y"}}
    service_name: hub-under-test
providers:
  - {{name: fake-openai, kind: openai, base_url: "{url}", api_key: "{key}"}}
models:
  - {{name: gpt, provider: fake-openai, model: gpt-4o-mini, price: {{input: 2.5, output: 10}}}}
agents:
  - {{name: echo, url: "{agent}"}}
guardrails:
  - {{id: pii, type: pii, action: redact, stage: input}}
budgets:
  - {{id: team-spend, applies_per: team, cost_per_day: 100}}
policies:
  - {{subject: "team:ml", resource: "*", action: "*"}}
  - {{subject: "team:web", resource: "*", action: "*"}}
"#,
        url = openai.base_url(),
        key = FakeOpenAi::API_KEY,
        agent = agent.base,
        collector = collector.base,
    )
}

/// An OTLP/HTTP collector on loopback: decodes each export as the protobuf
/// `ExportTraceServiceRequest` and keeps its spans; answers 503 to the first export, so the
/// hub's retry is exercised.
#[derive(Clone)]
struct Collector {
    base: String,
    exports: Arc<AtomicUsize>,
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

impl Collector {
    async fn start() -> Self {
        async fn traces(
            State(collector): State<Collector>,
            headers: axum::http::HeaderMap,
            body: axum::body::Bytes,
        ) -> axum::http::StatusCode {
            assert_eq!(headers["content-type"], "application/x-protobuf");
            assert_eq!(headers["x-collector-key"], "k3y");
            if collector.exports.fetch_add(1, Ordering::SeqCst) == 0 {
                return axum::http::StatusCode::SERVICE_UNAVAILABLE;
            }
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
            let mut spans = collector.spans.lock().unwrap();
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .iter()
                    .flat_map(|r| r.attributes.iter())
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| kv.value.clone()?.value)
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default();
                for scope in resource.scope_spans {
                    spans.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
                }
            }
            axum::http::StatusCode::OK
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let collector = Self {
            base: format!("http://{}", listener.local_addr().unwrap()),
            exports: Arc::default(),
            spans: Arc::default(),
        };
        let router = axum::Router::new()
            .route("/v1/traces", axum::routing::post(traces))
            .with_state(collector.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        collector
    }

    /// The spans of trace `id`, once there are `n`.
    async fn trace(&self, id: &[u8], n: usize) -> Vec<(String, Span)> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let spans: Vec<(String, Span)> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, span)| span.trace_id == id)
                .cloned()
                .collect();
            if spans.len() >= n || tokio::time::Instant::now() > deadline {
                assert_eq!(spans.len(), n, "{spans:#?}");
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn attribute(span: &Span, key: &str) -> Option<any_value::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone()?.value)
}

/// Micro-dollars of an `x-agenthub-cost` header (`0.000025`).
fn micros(cost: &str) -> u64 {
    let (whole, fraction) = cost.split_once('.').unwrap_or((cost, ""));
    let fraction = format!("{fraction:0<6}");
    whole.parse::<u64>().unwrap() * 1_000_000 + fraction[..6].parse::<u64>().unwrap()
}

/// What the fake provider reported for a team's calls, from the hub's answer headers.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Reported {
    requests: u64,
    input: u64,
    output: u64,
    cost_micros: u64,
}

struct Lab {
    hub: Hub,
    http: reqwest::Client,
    _openai: FakeOpenAi,
    agent: FakeAgent,
    collector: Collector,
    dir: tempfile::TempDir,
}

impl Lab {
    async fn start() -> Self {
        let openai = FakeOpenAi::start();
        let agent = FakeAgent::start("echo", &[]).await;
        let collector = Collector::start().await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agenthub.yaml");
        std::fs::write(&file, config(&openai, &agent, &collector)).unwrap();
        let builder = HubBuilder::new(dir.path().join("data"))
            .arg("--config")
            .arg(file.to_str().unwrap())
            .env("AGENTHUB_ADMIN_KEY", ADMIN_KEY);
        let hub = tokio::task::spawn_blocking(move || builder.start())
            .await
            .unwrap();
        Self {
            hub,
            http: reqwest::Client::new(),
            _openai: openai,
            agent,
            collector,
            dir,
        }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/api/v1{path}", self.hub.url))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// User `name` in `team`, and a key of theirs charged to it.
    async fn member_key(&self, name: &str, team: &str) -> String {
        use reqwest::Method;
        self.admin(Method::POST, "/users", json!({"name": name}))
            .await;
        let teams = self.admin(Method::GET, "/teams", Value::Null).await;
        if !teams["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == team)
        {
            self.admin(Method::POST, "/teams", json!({"name": team}))
                .await;
        }
        self.admin(
            Method::PUT,
            &format!("/teams/{team}/members/{name}"),
            json!({"role": "member"}),
        )
        .await;
        self.key(
            json!({"name": "work", "owner": name, "team": team, "scopes": ["llm", "mcp", "a2a"]}),
        )
        .await
    }

    /// A key made as `spec` says; its secret.
    async fn key(&self, spec: Value) -> String {
        let key = self.admin(reqwest::Method::POST, "/keys", spec).await;
        key["key"].as_str().unwrap().to_owned()
    }

    /// A chat completion as `key`; what the answer's headers reported.
    async fn chat(&self, key: &str, text: &str, headers: &[(&str, &str)]) -> Reported {
        let mut request = self
            .http
            .post(format!("{}/v1/chat/completions", self.hub.url))
            .bearer_auth(key)
            .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": text}]}));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        let reported = Reported {
            requests: 1,
            input: header("x-agenthub-tokens-input").parse().unwrap(),
            output: header("x-agenthub-tokens-output").parse().unwrap(),
            cost_micros: micros(&header("x-agenthub-cost")),
        };
        assert!(reported.cost_micros > 0, "the model is priced");
        reported
    }

    fn cli(&self, key: &str, args: &[&str]) -> Finished {
        self.hub.cli(key, args)
    }

    /// Polls `agenthub logs --json` with `args` until it prints `n` records.
    async fn logs(&self, args: &[&str], n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let mut all = vec!["logs", "--json", "--limit", "1000"];
            all.extend_from_slice(args);
            let out = self.cli(ADMIN_KEY, &all);
            let records: Vec<Value> = out
                .ok()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect();
            if records.len() >= n || tokio::time::Instant::now() > deadline {
                assert_eq!(records.len(), n, "{args:?}: {records:#?}");
                return records;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The answer's body to `request`, as text.
async fn text_of(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

fn add(total: &mut Reported, call: Reported) {
    total.requests += call.requests;
    total.input += call.input;
    total.output += call.output;
    total.cost_micros += call.cost_micros;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_traces_and_the_audit_trail_across_the_three_planes() {
    let lab = Lab::start().await;
    let alice = lab.member_key("alice", "ml").await;
    let bob = lab.member_key("bob", "web").await;

    // LLM traffic: what the provider reported, per team.
    let mut reported: BTreeMap<&str, Reported> = BTreeMap::new();
    for text in [
        "hello",
        "mail me at jane.doe@example.com",
        "one two three four five",
    ] {
        let call = lab
            .chat(
                &alice,
                text,
                &[("x-agenthub-metadata", r#"{"project":"apollo"}"#)],
            )
            .await;
        add(reported.entry("ml").or_default(), call);
    }
    for text in ["hi", "what is the weather like today"] {
        let call = lab
            .chat(
                &bob,
                text,
                &[("x-agenthub-metadata", r#"{"project":"gemini"}"#)],
            )
            .await;
        add(reported.entry("web").or_default(), call);
    }

    // One agent task: its chat completion, its tool call, and through the tool an A2A hop, all
    // under the trace the caller started.
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let call_in_trace = lab
        .chat(&alice, "plan the trip", &[("traceparent", &traceparent)])
        .await;
    add(reported.entry("ml").or_default(), call_in_trace);
    let client = connect(
        &format!("{}/mcp", lab.hub.url),
        [(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {alice}")).unwrap(),
        )]
        .into(),
        eras()[0].1.clone(),
    )
    .await;
    let mut request = call(
        "a2a__echo",
        json!({"message": "book it for jane.doe@example.com"}),
    );
    let mut meta = rmcp::model::MetaObject::new();
    meta.set_traceparent(traceparent.clone());
    request.meta = Some(meta.into());
    let result = client.peer().call_tool(request).await.unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(lab.agent.received().len(), 1);

    let mut traced = lab.logs(&["--trace-id", TRACE_ID], 3).await;
    // The tool call and the hop it made may start within one millisecond: in plane order.
    traced.sort_by_key(|r| PLANES.iter().position(|p| r["plane"] == *p));
    let planes: Vec<&str> = traced
        .iter()
        .map(|r| r["plane"].as_str().unwrap())
        .collect();
    assert_eq!(planes, ["llm", "mcp", "a2a"], "{traced:#?}");
    for record in &traced {
        assert_eq!(record["trace_id"], TRACE_ID);
        assert_eq!(record["caller"]["principal"], "user:alice");
        assert_eq!(record["caller"]["team"], "ml");
        assert_eq!(record["status"], "ok");
    }
    assert_eq!(traced[1]["tool"], "a2a/echo");
    assert_eq!(traced[2]["agent"], "echo");
    assert_eq!(traced[0]["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(traced[1]["parent_span_id"], "00f067aa0ba902b7");
    // The hop is the tool call's child.
    assert_eq!(
        traced[2]["parent_span_id"], traced[1]["span_id"],
        "{traced:#?}"
    );
    // The tool call's and the hop's bodies — the arguments and the result, the message and
    // the answer — logged with the address redacted.
    for record in &traced[1..] {
        let path = format!("/requests/{}", record["id"].as_str().unwrap());
        let full = lab.admin(reqwest::Method::GET, &path, Value::Null).await;
        let (request, response) = (&full["bodies"]["request"], &full["bodies"]["response"]);
        assert!(request.to_string().contains("book it for "), "{full:#}");
        assert!(response.is_object(), "{full:#}");
        assert!(
            !full.to_string().contains("jane.doe@example.com"),
            "{full:#}"
        );
    }

    // The same trace reached the OTLP collector, as protobuf, after a refused first export:
    // a GenAI client span, an MCP tool span and the hop.
    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&TRACE_ID[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut spans = lab.collector.trace(&trace_bytes, 3).await;
    spans.sort_by_key(|(_, span)| {
        PLANES.iter().position(|p| {
            attribute(span, "agenthub.plane") == Some(any_value::Value::StringValue((*p).into()))
        })
    });
    let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["chat gpt", "tools/call a2a/echo", "SendMessage echo"],
        "{spans:#?}"
    );
    assert_eq!(spans[2].1.parent_span_id, spans[1].1.span_id, "{spans:#?}");
    let (service, chat) = &spans[0];
    assert!(service.contains("hub-under-test"), "{service}");
    assert_eq!(chat.kind, SpanKind::Client as i32);
    assert_eq!(
        chat.parent_span_id,
        [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
    );
    assert_eq!(
        attribute(chat, "gen_ai.request.model"),
        Some(any_value::Value::StringValue("gpt".into()))
    );
    assert_eq!(
        attribute(chat, "gen_ai.provider.name"),
        Some(any_value::Value::StringValue("fake-openai".into()))
    );
    assert_eq!(
        attribute(chat, "gen_ai.usage.input_tokens"),
        Some(any_value::Value::IntValue(call_in_trace.input as i64))
    );
    assert_eq!(
        attribute(&spans[1].1, "mcp.method.name"),
        Some(any_value::Value::StringValue("tools/call".into()))
    );
    assert_eq!(
        attribute(&spans[1].1, "gen_ai.tool.name"),
        Some(any_value::Value::StringValue("a2a/echo".into()))
    );
    assert!(
        lab.collector.exports.load(Ordering::SeqCst) >= 2,
        "retried after the 503"
    );

    // Every request is recorded: 6 chats, 1 tool call, 1 hop.
    lab.logs(&[], 8).await;
    let apollo = lab.logs(&["--metadata", "project=apollo"], 3).await;
    assert!(apollo.iter().all(|r| r["metadata"]["project"] == "apollo"));

    // `/metrics`: each team's spend in its budget, and every upstream usable.
    let metrics = text_of(lab.http.get(format!("{}/metrics", lab.hub.url))).await;
    for (team, spent) in &reported {
        let line = format!(
            "agenthub_budget_used{{budget=\"team-spend\",subject=\"team:{team}\",measure=\"cost\"}} {}",
            spent.cost_micros
        );
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
    assert!(metrics.contains(
        "agenthub_budget_limit{budget=\"team-spend\",subject=\"team:ml\",measure=\"cost\"} 100000000"
    ));
    for upstream in [
        r#"plane="llm",upstream="gpt""#,
        r#"plane="a2a",upstream="echo""#,
    ] {
        let line = format!("agenthub_upstream_up{{{upstream}}} 1");
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }

    // `usage --by team` counts what the provider reported.
    let usage: Value = serde_json::from_str(
        lab.cli(
            ADMIN_KEY,
            &[
                "usage", "--by", "team", "--plane", "llm", "--format", "json",
            ],
        )
        .ok(),
    )
    .unwrap();
    let totals: BTreeMap<String, Reported> = usage["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["group"].as_str().unwrap().to_owned(),
                Reported {
                    requests: row["requests"].as_u64().unwrap(),
                    input: row["input_tokens"].as_u64().unwrap(),
                    output: row["output_tokens"].as_u64().unwrap(),
                    cost_micros: (row["cost_usd"].as_f64().unwrap() * 1e6).round() as u64,
                },
            )
        })
        .collect();
    let expected: BTreeMap<String, Reported> = reported
        .iter()
        .map(|(team, r)| ((*team).to_owned(), *r))
        .collect();
    assert_eq!(totals, expected, "{usage:#}");

    // All planes, by team: ml also made the tool call and the hop.
    let all_planes: Value = serde_json::from_str(
        lab.cli(ADMIN_KEY, &["usage", "--by", "team", "--json"])
            .ok(),
    )
    .unwrap();
    let ml = all_planes["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["group"] == "ml")
        .unwrap();
    assert_eq!(ml["requests"], 6, "{all_planes:#}");

    // CSV for chargeback, and a table.
    let csv = lab.cli(ADMIN_KEY, &["usage", "--by", "team", "--format", "csv"]);
    let mut lines = csv.ok().lines();
    assert!(lines.next().unwrap().starts_with("group,requests,errors"));
    assert_eq!(lines.count(), 2);
    let table = lab.cli(ADMIN_KEY, &["usage", "--by", "model", "--plane", "llm"]);
    assert!(table.ok().contains("gpt"), "{}", table.ok());

    // Analytics by model in hourly buckets, through the API.
    let analytics: Value = lab
        .http
        .get(format!(
            "{}/api/v1/analytics?group_by=metadata.project&bucket=1h&since=1h",
            lab.hub.url
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let projects: BTreeMap<&str, u64> = analytics["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["group"].as_str().unwrap(),
                row["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(projects, BTreeMap::from([("apollo", 3), ("gemini", 2)]));

    // Bodies are logged after redaction, and shown with one request.
    let mailed = apollo
        .iter()
        .find(|r| r["request_bytes"].as_u64().unwrap() > 80)
        .unwrap();
    let one: Value = lab
        .http
        .get(format!(
            "{}/api/v1/requests/{}",
            lab.hub.url,
            mailed["id"].as_str().unwrap()
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prompt = one["bodies"]["request"]["messages"][0]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("{one:#}"));
    assert!(prompt.starts_with("mail me at "), "{prompt}");
    assert!(!prompt.contains("jane.doe@example.com"), "{prompt}");
    assert!(one["bodies"]["response"]["choices"].is_array(), "{one:#}");
    // The PII guardrail redacted the address before the provider saw it, and said so.
    assert_eq!(
        one["guardrails"],
        json!([{"rule": "pii", "stage": "input", "action": "redact"}]),
        "{one:#}"
    );
    assert!(
        apollo.iter().all(|r| r.get("bodies").is_none()),
        "not in listings"
    );

    // A user sees only their own requests.
    let own = lab.cli(&bob, &["logs", "--json"]);
    assert_eq!(own.ok().lines().count(), 2);

    // A streamed answer's record logs the text that was streamed.
    let streamed = text_of(
        lab.http
            .post(format!("{}/v1/chat/completions", lab.hub.url))
            .bearer_auth(&bob)
            .json(&json!({"model": "gpt", "stream": true,
                "messages": [{"role": "user", "content": "stream me a reply"}]})),
    )
    .await;
    let sent: String = streamed
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(!sent.is_empty(), "{streamed}");
    let records = lab.logs(&["--user", "bob", "--plane", "llm"], 3).await;
    let newest = records
        .iter()
        .max_by_key(|r| r["id"].as_str().unwrap().to_owned())
        .unwrap();
    let path = format!("/requests/{}", newest["id"].as_str().unwrap());
    let full = lab.admin(reqwest::Method::GET, &path, Value::Null).await;
    assert_eq!(full["bodies"]["response"]["stream"], true, "{full:#}");
    assert_eq!(
        full["bodies"]["response"]["content"],
        sent.as_str(),
        "{full:#}"
    );
    assert_eq!(
        full["bodies"]["request"]["messages"][0]["content"],
        "stream me a reply"
    );

    // A message to an agent the caller may not reach: answered as unknown, recorded and
    // audited as refused.
    // Eve is in no team: the starter policy lets her list agents, not send to them.
    lab.admin(reqwest::Method::POST, "/users", json!({"name": "eve"}))
        .await;
    let eve = lab
        .key(json!({"name": "work", "owner": "eve", "scopes": ["a2a"]}))
        .await;
    let refused = lab
        .http
        .post(format!("{}/a2a/echo", lab.hub.url))
        .bearer_auth(&eve)
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
            "message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}}),
        )
        .send()
        .await
        .unwrap();
    let status = refused.status();
    let body: Value = refused.json().await.unwrap_or_default();
    assert_eq!(status, 404, "{body}");
    let refusal = lab.logs(&["--user", "eve"], 1).await;
    assert_eq!(refusal[0]["plane"], "a2a", "{refusal:#?}");
    assert_eq!(refusal[0]["agent"], "echo");
    assert_eq!(refusal[0]["status"], "denied");
    assert_eq!(refusal[0]["error"]["class"], "forbidden");
    assert_eq!(
        lab.agent.received().len(),
        1,
        "nothing more reached the agent"
    );

    // A denial, and the audit trail.
    let denied = lab
        .http
        .get(format!("{}/api/v1/users", lab.hub.url))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    // Entries are written in the background: wait until the denial's is in.
    let since = tokio::time::Instant::now();
    loop {
        let trail = lab.admin(reqwest::Method::GET, "/audit", Value::Null).await;
        let entries = trail["data"].as_array().cloned().unwrap_or_default();
        let denied = entries.iter().filter(|e| e["action"] == "denied").count();
        if denied == 2 {
            break;
        }
        assert!(since.elapsed() < WITHIN, "{trail:#}\n{}", lab.hub.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let verified = lab.cli(ADMIN_KEY, &["audit", "verify"]);
    assert!(
        verified.ok().contains("audit trail intact"),
        "{}",
        verified.ok()
    );
    let export = lab.dir.path().join("audit.jsonl");
    lab.cli(
        ADMIN_KEY,
        &["audit", "export", "--output", export.to_str().unwrap()],
    )
    .ok();
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(!text.contains("ahk_"), "no key secret in the audit trail");
    let entries: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let find = |action: &str, target: &str| {
        entries
            .iter()
            .find(|e| {
                e["action"] == action && e["target"].as_str().is_some_and(|t| t.contains(target))
            })
            .unwrap_or_else(|| panic!("no {action} {target} in {entries:#?}\n{}", lab.hub.stderr()))
    };
    assert_eq!(find("start", "agenthub.yaml")["actor"], "hub");
    let key_made = find("POST /api/v1/keys", "/api/v1/keys");
    assert_eq!(key_made["outcome"], "ok");
    assert!(
        key_made["details"]["made"]["id"].is_string(),
        "{key_made:#}"
    );
    let denial = find("denied", "GET /api/v1/users");
    assert_eq!(denial["actor"], "user:bob");
    assert_eq!(denial["outcome"], "403 Forbidden");
    let denial = find("denied", "a2a SendMessage echo");
    assert_eq!(denial["actor"], "user:eve");
    assert_eq!(denial["outcome"], "forbidden");
    for pair in entries.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }

    // An edit of the stored trail is found, at the entry edited.
    let db = lab.dir.path().join("data").join("agenthub-records.db");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let broken = lab.cli(ADMIN_KEY, &["audit", "verify"]);
    let message = broken.fails_with(1);
    assert!(message.contains("broken at entry 3"), "{message}");
}
