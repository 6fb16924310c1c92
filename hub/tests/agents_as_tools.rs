//! Agents as MCP tools: the agents registered with an in-process hub (fake A2A v1.0 agents on
//! loopback) are tools of its `/mcp`, for the callers that may send to them and use the
//! face's `mcp:a2a/<name>`; a call is an A2A exchange made as the MCP caller (signed by the
//! hub, under the request's trace, recorded as the caller's), its answer a tool result
//! (text, structured content, `isError` for a failed task); per skill by setting, or not at
//! all; selected and renamed by virtual servers; and clients are told when an agent comes.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agenthub::app::{self, AppState};
use agenthub_test_support::mcp::{call, connect, connect_with, eras, text_of, tool_names};
use http::HeaderValue;
use http::header::AUTHORIZATION;
use rmcp::ClientHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ErrorCode, ServerNotification, SubscriptionFilter,
};
use rmcp::service::{ClientLifecycleMode, NotificationContext, RoleClient, RunningService};
use serde_json::{Value, json};
use support::db::TestDb;
use support::fake_agent::FakeAgent;
use support::lab::InProcessHub;

/// How long a card, a trace or a notice may take to show.
const WITHIN: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The hub

struct Hub {
    base: String,
    admin: String,
    http: reqwest::Client,
    state: AppState,
    _db: TestDb,
}

impl Hub {
    /// A hub with `agents` (name, base URL) registered in its file and `extra` configuration
    /// after them; once every agent's card is read.
    async fn start(agents: &[(&str, &str)], extra: &str) -> Self {
        let mut yaml = String::from("a2a:\n  allow_private_networks: true\n");
        yaml.push_str(extra);
        yaml.push_str("\nagents:\n");
        for (name, url) in agents {
            yaml.push_str(&format!("  - {{name: {name}, url: \"{url}\"}}\n"));
        }
        yaml.push_str(
            r#"authorization:
  starter_policy: false
policies:
  - {subject: "role:admin", resource: "*", action: "*"}
  - {subject: "user:bob", resource: "mcp:a2a/*", action: list}
  - {subject: "user:bob", resource: "mcp:a2a/*", action: call}
  - {subject: "user:bob", resource: "agent:echo", action: send}
  - {subject: "user:carol", resource: "mcp:*", action: "*"}
  - {subject: "user:carol", resource: "agent:other", action: send}
  - {subject: "user:dora", resource: "agent:*", action: send}
"#,
        );
        let InProcessHub {
            state, admin, db, ..
        } = InProcessHub::start(&yaml).await;
        let deadline = tokio::time::Instant::now() + WITHIN;
        while state.a2a.registry().directory().iter().count() < agents.len() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                state.a2a.registry().statuses()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let address = agenthub_test_support::serve_on_loopback(app::router(state.clone())).await;
        Self {
            base: format!("http://{address}"),
            admin,
            http: reqwest::Client::new(),
            state,
            _db: db,
        }
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 201, "{path}: {body}");
        body
    }

    /// User `name` (made on first use) and a new key of theirs with `scopes`; the key.
    async fn key(&self, name: &str, scopes: &[&str]) -> String {
        let _ = self
            .http
            .post(format!("{}/api/v1/users", self.base))
            .bearer_auth(&self.admin)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        let key = self
            .admin_post(
                "/keys",
                json!({"name": "tools", "owner": name, "scopes": scopes}),
            )
            .await;
        key["key"].as_str().unwrap().to_owned()
    }

    fn headers(key: &str) -> HashMap<http::HeaderName, HeaderValue> {
        let bearer = HeaderValue::from_str(&format!("Bearer {key}")).unwrap();
        HashMap::from([(AUTHORIZATION, bearer)])
    }

    async fn client(
        &self,
        key: &str,
        lifecycle: ClientLifecycleMode,
    ) -> RunningService<RoleClient, ()> {
        self.client_at("/mcp", key, lifecycle).await
    }

    async fn client_at(
        &self,
        path: &str,
        key: &str,
        lifecycle: ClientLifecycleMode,
    ) -> RunningService<RoleClient, ()> {
        connect(
            &format!("{}{path}", self.base),
            Self::headers(key),
            lifecycle,
        )
        .await
    }

    /// The trace `id` as the admin API shows it, once its span has ended.
    async fn trace(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let response = self
                .http
                .get(format!("{}/api/v1/traces/{id}", self.base))
                .bearer_auth(&self.admin)
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                let trace: Value = response.json().await.unwrap();
                if trace["spans"][0]["outcome"].is_string() {
                    return trace;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no trace {id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn metric(&self, line: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }
}

fn ask(tool: &str, message: &str) -> CallToolRequestParams {
    call(tool, json!({"message": message}))
}

fn code_of(result: Result<CallToolResult, rmcp::ServiceError>) -> ErrorCode {
    match result {
        Err(rmcp::ServiceError::McpError(error)) => error.code,
        other => panic!("expected an MCP error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn agents_are_tools_of_those_who_may_send_to_them_in_both_eras() {
    let echo = FakeAgent::start("echo", &["say"]).await;
    let other = FakeAgent::start("other", &[]).await;
    let hub = Hub::start(&[("echo", &echo.base), ("other", &other.base)], "").await;
    let bob = hub.key("bob", &["mcp", "a2a"]).await;
    let carol = hub.key("carol", &["mcp", "a2a"]).await;
    // dora may send to every agent, but may use no MCP tool.
    let dora = hub.key("dora", &["mcp", "a2a"]).await;
    // A key for MCP only reaches no agent, whatever its owner may do.
    let bob_mcp = hub.key("bob", &["mcp"]).await;
    for (era, lifecycle) in eras() {
        let admin = hub.client(&hub.admin, lifecycle.clone()).await;
        let tools = admin.peer().list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["a2a__echo", "a2a__other"], "{era}");
        let tool = &tools[0];
        assert_eq!(tool.title.as_deref(), Some("The echo agent"), "{era}");
        let description = tool.description.as_deref().unwrap();
        assert!(
            description.starts_with("echo says back what it is told.")
                && description.contains("Skill say (say): Does say."),
            "{era}: {description}"
        );
        assert_eq!(tool.input_schema["required"], json!(["message"]), "{era}");

        for (key, seen) in [
            (&bob, vec!["a2a__echo"]),
            (&carol, vec!["a2a__other"]),
            (&dora, vec![]),
            (&bob_mcp, vec![]),
        ] {
            let client = hub.client(key, lifecycle.clone()).await;
            assert_eq!(tool_names(&client).await, seen, "{era}");
        }

        let client = hub.client(&bob, lifecycle.clone()).await;
        let result = client
            .peer()
            .call_tool(ask("a2a__echo", "hello"))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(false), "{era}: {result:?}");
        assert!(
            text_of(&result).contains("echo: hello"),
            "{era}: {result:?}"
        );
        let structured = result.structured_content.clone().unwrap();
        assert_eq!(structured["agent"], "echo", "{era}");
        assert_eq!(structured["state"], "TASK_STATE_COMPLETED", "{era}");
        assert_eq!(structured["contextId"], "ctx-1", "{era}");
        assert!(
            structured["taskId"].as_str().unwrap().starts_with("task-"),
            "{era}"
        );

        // The conversation goes on in the context given.
        let result = client
            .peer()
            .call_tool(call(
                "a2a__echo",
                json!({"message": "again", "contextId": "ctx-9"}),
            ))
            .await
            .unwrap();
        assert_eq!(
            result.structured_content.unwrap()["contextId"],
            "ctx-9",
            "{era}"
        );

        // A failed task is an error result, with the agent's reason.
        let result = client
            .peer()
            .call_tool(ask("a2a__echo", "fail: no"))
            .await
            .unwrap();
        assert_eq!(result.is_error, Some(true), "{era}: {result:?}");
        assert!(text_of(&result).contains("cannot: no"), "{era}: {result:?}");
        assert_eq!(
            result.structured_content.unwrap()["state"],
            "TASK_STATE_FAILED",
            "{era}"
        );

        // Unknown and forbidden look alike; arguments are checked against the schema.
        for name in ["a2a__other", "a2a__nobody"] {
            assert_eq!(
                code_of(client.peer().call_tool(ask(name, "hi")).await),
                ErrorCode::INVALID_PARAMS,
                "{era}: {name}"
            );
        }
        let wrong = call("a2a__echo", json!({"text": "hi"}));
        assert_eq!(
            code_of(client.peer().call_tool(wrong).await),
            ErrorCode::INVALID_PARAMS,
            "{era}"
        );
        // Without the agent's permission the tool cannot be called, even by name.
        let client = hub.client(&dora, lifecycle.clone()).await;
        assert_eq!(
            code_of(client.peer().call_tool(ask("a2a__echo", "hi")).await),
            ErrorCode::INVALID_PARAMS,
            "{era}"
        );
    }

    // The agent got what an A2A client's message would have: signed by the hub, for bob, with
    // the text as one part; it never got the refused calls.
    let received = echo.received();
    assert_eq!(received.len(), 6, "two eras, three calls each");
    let (headers, body) = &received[0];
    assert_eq!(body["method"], "SendMessage");
    let message = &body["params"]["message"];
    assert_eq!(message["role"], "ROLE_USER");
    assert_eq!(message["parts"], json!([{"text": "hello"}]));
    assert!(
        message["metadata"]["agenthub/signature"].is_string()
            || message["metadata"]["agenthub/signature"].is_object(),
        "{message}"
    );
    assert!(headers.contains_key("traceparent"));
    assert_eq!(received[1].1["params"]["message"]["contextId"], "ctx-9");
    assert!(other.received().is_empty());

    // Each call counted by the MCP plane, under the group `a2a`.
    assert_eq!(
        hub.metric(r#"agenthub_mcp_tool_calls_total{server="a2a",outcome="ok"}"#)
            .await,
        4.0
    );
    assert_eq!(
        hub.metric(r#"agenthub_mcp_tool_calls_total{server="a2a",outcome="tool_error"}"#)
            .await,
        2.0
    );
}

#[tokio::test]
async fn a_tool_call_is_traced_as_the_callers_a2a_exchange() {
    let echo = FakeAgent::start("echo", &[]).await;
    let hub = Hub::start(&[("echo", &echo.base)], "").await;
    let bob = hub.key("bob", &["mcp", "a2a"]).await;
    let client = hub.client(&bob, eras()[0].1.clone()).await;

    // The trace of the request's `_meta.traceparent` is continued.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = ask("a2a__echo", "traced");
    let mut meta = rmcp::model::MetaObject::new();
    meta.set_traceparent(format!("00-{trace_id}-00f067aa0ba902b7-01"));
    request.meta = Some(meta.into());
    let result = client.peer().call_tool(request).await.unwrap();
    assert_eq!(result.structured_content.unwrap()["traceId"], trace_id);
    let (headers, _) = echo.received().pop().unwrap();
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    let trace = hub.trace(trace_id).await;
    let span = &trace["spans"][0];
    assert_eq!(span["principal"], "user:bob", "{trace:#}");
    assert_eq!(span["chain"], json!(["user:bob"]), "{trace:#}");
    assert_eq!(span["agent"], "echo");
    assert_eq!(span["method"], "SendMessage");
    assert_eq!(span["outcome"], "ok");
    // Its parent is the tool call's own span, the caller's child (tests/telemetry.rs follows
    // the three through the request records and OTLP).
    let parent = span["parent_span_id"].as_str().unwrap_or_default();
    assert!(
        parent.len() == 16 && parent != "00f067aa0ba902b7",
        "{trace:#}"
    );

    // Without one, a new trace, named in the result.
    let result = client
        .peer()
        .call_tool(ask("a2a__echo", "fresh"))
        .await
        .unwrap();
    let fresh = result.structured_content.unwrap()["traceId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fresh.len(), 32);
    assert_ne!(fresh, trace_id);
    let trace = hub.trace(&fresh).await;
    assert_eq!(trace["spans"][0]["principal"], "user:bob");
    // bob may read his own trace.
    let response = hub
        .http
        .get(format!("{}/api/v1/traces/{fresh}", hub.base))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    hub.state.a2a.shutdown();
}

#[tokio::test]
async fn skills_are_tools_by_setting_or_nothing_is() {
    let echo = FakeAgent::start("echo", &["say", "shout loud"]).await;
    let hub = Hub::start(
        &[("echo", &echo.base)],
        "  agents_as_tools: skill\nmcp_virtual_servers:\n  - {name: talk, tools: [\"a2a/echo/say\"], rename: {\"a2a/echo/say\": \"say\"}}\n",
    )
    .await;
    let admin = hub.client(&hub.admin, eras()[1].1.clone()).await;
    let tools = admin.peer().list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["a2a__echo__say", "a2a__echo__shout_loud"]);
    assert_eq!(tools[0].title.as_deref(), Some("Skill say"));
    let description = tools[0].description.as_deref().unwrap();
    assert!(
        description.starts_with("Does say.") && description.contains("- say this"),
        "{description}"
    );
    let result = admin
        .peer()
        .call_tool(ask("a2a__echo__shout_loud", "hey"))
        .await
        .unwrap();
    assert!(text_of(&result).contains("echo: hey"), "{result:?}");

    // bob's grants name the tools by agent and skill (`mcp:a2a/<agent>/<skill>`).
    let bob = hub.key("bob", &["mcp", "a2a"]).await;
    let client = hub.client(&bob, eras()[0].1.clone()).await;
    assert_eq!(
        tool_names(&client).await,
        ["a2a__echo__say", "a2a__echo__shout_loud"]
    );

    // A virtual server selects and renames them like any tool.
    let talk = hub
        .client_at("/mcp/talk", &hub.admin, eras()[0].1.clone())
        .await;
    assert_eq!(tool_names(&talk).await, ["say"]);
    let result = talk.peer().call_tool(ask("say", "hi")).await.unwrap();
    assert!(text_of(&result).contains("echo: hi"), "{result:?}");
    assert_eq!(
        code_of(talk.peer().call_tool(ask("a2a__echo__say", "hi")).await),
        ErrorCode::INVALID_PARAMS
    );

    let off = Hub::start(&[("echo", &echo.base)], "  agents_as_tools: off\n").await;
    let admin = off.client(&off.admin, eras()[0].1.clone()).await;
    assert!(tool_names(&admin).await.is_empty());
    assert_eq!(
        code_of(admin.peer().call_tool(ask("a2a__echo", "hi")).await),
        ErrorCode::INVALID_PARAMS
    );
}

/// Counts the tool list changes a 2025-11-25 session hears.
#[derive(Clone, Default)]
struct ToolChanges(Arc<AtomicUsize>);

impl ClientHandler for ToolChanges {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn clients_are_told_when_an_agent_comes() {
    let echo = FakeAgent::start("echo", &[]).await;
    let late = FakeAgent::start("late", &[]).await;
    let hub = Hub::start(&[("echo", &echo.base)], "").await;

    let heard = ToolChanges::default();
    let session = connect_with(
        &format!("{}/mcp", hub.base),
        Hub::headers(&hub.admin),
        ClientLifecycleMode::Initialize,
        heard.clone(),
    )
    .await;
    let modern = hub.client(&hub.admin, eras()[0].1.clone()).await;
    let tools_only = SubscriptionFilter::builder().tools_list_changed().build();
    let mut subscription = modern.peer().listen(tools_only).await.unwrap();
    assert_eq!(tool_names(&modern).await, ["a2a__echo"]);

    hub.admin_post("/agents", json!({"name": "late", "url": late.base}))
        .await;
    let notice = tokio::time::timeout(WITHIN, subscription.next())
        .await
        .expect("a notice on the subscription")
        .unwrap()
        .expect("the subscription is open");
    assert!(
        matches!(notice, ServerNotification::ToolListChangedNotification(_)),
        "{notice:?}"
    );
    assert_eq!(tool_names(&modern).await, ["a2a__echo", "a2a__late"]);
    let deadline = tokio::time::Instant::now() + WITHIN;
    while heard.0.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session heard nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = subscription.cancel().await;
    let _ = session.cancel().await;
}

#[tokio::test]
async fn the_a2a_planes_limits_and_guardrails_govern_a_tool_call() {
    let echo = FakeAgent::start("echo", &[]).await;
    let rules = r#"rate_limits:
  - {id: echo-rpm, when: {agents: ["echo"]}, limit_to: 1, unit: requests_per_minute, applies_per: key}
guardrails:
  - {id: no-falcon, type: banned_terms, terms: [falcon], action: block, stage: input, when: {agents: ["echo"]}}
"#;
    let hub = Hub::start(&[("echo", &echo.base)], rules).await;
    let bob = hub.key("bob", &["mcp", "a2a"]).await;
    let client = hub.client(&bob, eras()[0].1.clone()).await;

    // Blocked on the way in: an error result, nothing sent, no quota used.
    let result = client
        .peer()
        .call_tool(ask("a2a__echo", "the falcon flies"))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true), "{result:?}");
    assert!(text_of(&result).contains("guardrail"), "{result:?}");
    assert_eq!(result.structured_content.unwrap()["error"]["code"], -32030);
    assert!(echo.received().is_empty());

    let result = client
        .peer()
        .call_tool(ask("a2a__echo", "one"))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(false), "{result:?}");
    // The second in the minute: refused the MCP way, with the limit's facts.
    match client.peer().call_tool(ask("a2a__echo", "two")).await {
        Err(rmcp::ServiceError::McpError(error)) => {
            assert_eq!(error.code, ErrorCode(-32029), "{error:?}");
            assert!(
                error.data.as_ref().unwrap()["retry_after_seconds"].is_number(),
                "{error:?}"
            );
        }
        other => panic!("expected the rate limit, got {other:?}"),
    }
    assert_eq!(echo.received().len(), 1);
    for (outcome, count) in [
        ("refused_by_guardrail", 1.0),
        ("ok", 1.0),
        ("refused_by_limit", 1.0),
    ] {
        assert_eq!(
            hub.metric(&format!(
                r#"agenthub_mcp_tool_calls_total{{server="a2a",outcome="{outcome}"}}"#
            ))
            .await,
            count,
            "{outcome}"
        );
    }
}
