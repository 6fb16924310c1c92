//! The hub's `/mcp` end to end, on a loopback port: the reference `server-everything`
//! registered in `mcp_servers`, reached by an MCP client (rmcp) in both protocol eras with
//! the hub's API keys, each caller seeing and calling only what its `mcp:<server>/<tool>`
//! grants allow (tools, and resources by their names), each tool call under the rate limits and
//! guardrails that match it, and counted in `/metrics`; virtual servers at `/mcp/<name>` serving
//! their selection only, still per caller, defined in the file or through the admin API.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use agenthub::app::{self, AppState};
use agenthub::store::Store;
use agenthub_mcp_registry::registry::State;
use agenthub_test_support::mcp::{call, connect, eras, server_everything, text_of, tool_names};
use http::HeaderValue;
use http::header::AUTHORIZATION;
use rmcp::model::{
    CallToolRequestParams, ErrorCode, GetPromptRequestParams, ReadResourceRequestParams,
    ResourceContents, ServerNotification, SubscriptionFilter,
};
use rmcp::service::{ClientLifecycleMode, RoleClient, RunningService};
use serde_json::{Value, json};
use support::db::TestDb;
use support::lab::InProcessHub;

struct Hub {
    base: String,
    admin: String,
    http: reqwest::Client,
    store: Store,
    state: AppState,
    _db: TestDb,
}

impl Hub {
    async fn start(bin: &Path) -> Self {
        Self::start_with(bin, "").await
    }

    /// A hub whose configuration ends with `rules` (sections other than `mcp_servers`,
    /// `authorization` and `policies`).
    async fn start_with(bin: &Path, rules: &str) -> Self {
        let yaml = format!(
            r#"
mcp_servers:
  - name: ev
    command: node
    args: ["{bin}", "stdio"]
authorization:
  starter_policy: false
policies:
  - {{subject: "role:admin", resource: "*", action: "*"}}
  - {{subject: "user:bob", resource: "mcp:ev/get-sum", action: list}}
  - {{subject: "user:bob", resource: "mcp:ev/get-sum", action: call}}
  - {{subject: "user:carol", resource: "mcp:ev/echo", action: call}}
  - {{subject: "user:bob", resource: "mcp:ev/architecture.md", action: list}}
  - {{subject: "user:bob", resource: "mcp:ev/architecture.md", action: call}}
  - {{subject: "user:carol", resource: "mcp:ev/Dynamic*", action: list}}
  - {{subject: "user:carol", resource: "mcp:ev/Dynamic*", action: call}}
  - {{subject: "user:dora", resource: "mcp:ev/*", action: call}}
{rules}"#,
            bin = bin.display()
        );
        let InProcessHub {
            state,
            admin,
            store,
            db,
        } = InProcessHub::start(&yaml).await;
        let router = app::router(state.clone());
        let address = agenthub_test_support::serve_on_loopback(router).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while state.mcp.registry().status()[0].state != State::Ready {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                state.mcp.registry().status()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            base: format!("http://{address}"),
            admin,
            http: reqwest::Client::new(),
            store,
            state,
            _db: db,
        }
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{path}");
        response.json().await.unwrap()
    }

    /// A user with an `mcp`-scoped key; its secret.
    async fn user_key(&self, name: &str) -> String {
        self.admin_post("/api/v1/users", json!({"name": name}))
            .await;
        self.another_key(name).await
    }

    /// Another `mcp`-scoped key of an existing user; its secret.
    async fn another_key(&self, owner: &str) -> String {
        let key = self
            .admin_post(
                "/api/v1/keys",
                json!({"name": "mcp", "owner": owner, "scopes": ["mcp"]}),
            )
            .await;
        key["key"].as_str().unwrap().to_owned()
    }

    /// The value of the sample `line` (labels included) in `/metrics`, 0 if absent.
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

    async fn client(
        &self,
        key: &str,
        lifecycle: ClientLifecycleMode,
    ) -> RunningService<RoleClient, ()> {
        self.client_at("/mcp", key, lifecycle).await
    }

    /// A client of the MCP endpoint at `path` (`/mcp`, or a virtual server's).
    async fn client_at(
        &self,
        path: &str,
        key: &str,
        lifecycle: ClientLifecycleMode,
    ) -> RunningService<RoleClient, ()> {
        let bearer = HeaderValue::from_str(&format!("Bearer {key}")).unwrap();
        let headers = HashMap::from([(AUTHORIZATION, bearer)]);
        connect(&format!("{}{path}", self.base), headers, lifecycle).await
    }

    /// A JSON-RPC message POSTed as a 2025-11-25 client to `path`, in the session `session`.
    async fn post_mcp(
        &self,
        path: &str,
        key: Option<&str>,
        session: Option<&str>,
        message: Value,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("accept", "application/json, text/event-stream")
            .json(&message);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send().await.unwrap()
    }

    /// An admin API request with the admin key; the status and the JSON body (`null` if none).
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn stop(self) {
        self.state.mcp.registry().shutdown();
        self.store.close().await;
    }
}

fn sum() -> CallToolRequestParams {
    call("ev__get-sum", json!({"a": 20, "b": 22}))
}

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}},
    })
}

#[tokio::test]
async fn tools_are_federated_and_permissioned_per_caller() {
    let Some(bin) = server_everything() else {
        return;
    };
    let hub = Hub::start(&bin).await;
    let bob = hub.user_key("bob").await;
    let carol = hub.user_key("carol").await;
    // A key scoped to models only reaches no tool, whatever its owner may do.
    let bob_llm = hub
        .admin_post(
            "/api/v1/keys",
            json!({"name": "llm", "owner": "bob", "scopes": ["llm"]}),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    for (era, lifecycle) in eras() {
        // Admins may do everything.
        let admin = hub.client(&hub.admin, lifecycle.clone()).await;
        let names = tool_names(&admin).await;
        assert!(names.contains(&"ev__echo".to_owned()), "{era}: {names:?}");
        let result = admin.peer().call_tool(sum()).await.unwrap();
        assert!(text_of(&result).contains("42"), "{era}");

        // bob may list and call get-sum, nothing else.
        let client = hub.client(&bob, lifecycle.clone()).await;
        assert_eq!(tool_names(&client).await, ["ev__get-sum"], "{era}");
        let result = client.peer().call_tool(sum()).await.unwrap();
        assert!(text_of(&result).contains("42"), "{era}");
        let refused = client
            .peer()
            .call_tool(call("ev__echo", json!({"message": "hi"})))
            .await
            .unwrap_err();
        match refused {
            rmcp::ServiceError::McpError(data) => {
                assert_eq!(data.code, ErrorCode::INVALID_PARAMS, "{era}");
            }
            other => panic!("{era}: {other:?}"),
        }

        let client = hub.client(&bob_llm, lifecycle.clone()).await;
        assert!(tool_names(&client).await.is_empty(), "{era}");
        assert!(client.peer().call_tool(sum()).await.is_err(), "{era}");

        // carol may call echo but not list it: it works, unlisted.
        let client = hub.client(&carol, lifecycle.clone()).await;
        assert!(tool_names(&client).await.is_empty(), "{era}");
        let result = client
            .peer()
            .call_tool(call("ev__echo", json!({"message": "hi"})))
            .await
            .unwrap();
        assert!(text_of(&result).contains("hi"), "{era}");
    }
    hub.stop().await;
}

/// The error a refused call answers.
fn refusal(error: rmcp::ServiceError) -> rmcp::model::ErrorData {
    match error {
        rmcp::ServiceError::McpError(data) => data,
        other => panic!("{other:?}"),
    }
}

/// Tool calls are governed by the rules that match them: a rate limit on `ev/get-sum` refuses
/// the call after its second with `-32029` and when to retry, while echo still works; a block
/// guardrail on echo's input refuses the call before it goes upstream; redact guardrails on
/// echo's input and output rewrite what goes upstream and what comes back (structured content
/// too); a guardrail on another tool leaves echo alone; `/metrics` counts every call by
/// outcome.
#[tokio::test]
async fn tool_calls_are_rate_limited_guarded_and_counted() {
    let Some(bin) = server_everything() else {
        return;
    };
    let rules = r#"rate_limits:
  - {id: sum-rpm, when: {tools: ["ev/get-sum"]}, limit_to: 2, unit: requests_per_minute, applies_per: key}
guardrails:
  - {id: no-falcon, type: banned_terms, terms: [falcon], action: block, stage: input, when: {tools: ["ev/echo"]}}
  - {id: tickets, type: regex, pattern: 'INC-[0-9]+', label: TICKET, action: redact, stage: input, when: {tools: ["ev/echo"]}}
  - {id: birds, type: banned_terms, terms: [bluebird], label: BIRD, action: redact, stage: output, when: {tools: ["ev/echo"]}}
  - {id: sums-only, type: banned_terms, terms: [sparrow], action: block, when: {tools: ["ev/get-sum"]}}
  - {id: weather, type: banned_terms, terms: [cloudy], label: WEATHER, action: redact, stage: output, when: {tools: ["ev/get-structured-content"]}}
telemetry:
  bodies: full
"#;
    let hub = Hub::start_with(&bin, rules).await;
    hub.admin_post("/api/v1/users", json!({"name": "dora"}))
        .await;
    let echo = |message: &str| call("ev__echo", json!({"message": message}));
    for (era, lifecycle) in eras() {
        // A key of its own per era: the limit is counted per key.
        let key = hub.another_key("dora").await;
        let client = hub.client(&key, lifecycle.clone()).await;
        for _ in 0..2 {
            let result = client.peer().call_tool(sum()).await.unwrap();
            assert!(text_of(&result).contains("42"), "{era}");
        }
        let refused = refusal(client.peer().call_tool(sum()).await.unwrap_err());
        assert_eq!(refused.code, ErrorCode(-32029), "{era}: {refused:?}");
        assert!(
            refused.message.contains("rate limit \"sum-rpm\"")
                && refused.message.contains("retry in"),
            "{era}: {refused:?}"
        );
        let data = refused.data.unwrap_or_default();
        let retry = data["retry_after_seconds"].as_u64().unwrap_or_default();
        // A minute, give or take the window's one-second slot.
        assert!((1..=62).contains(&retry), "{era}: {data}");
        assert_eq!(data["rule"], "sum-rpm", "{era}: {data}");
        assert_eq!(data["remaining"], 0, "{era}: {data}");
        // Another tool is not limited.
        let result = client.peer().call_tool(echo("hello")).await.unwrap();
        assert!(text_of(&result).contains("hello"), "{era}");

        // Blocked on the way in.
        let refused = refusal(
            client
                .peer()
                .call_tool(echo("the falcon flies at dawn"))
                .await
                .unwrap_err(),
        );
        assert_eq!(refused.code, ErrorCode(-32030), "{era}: {refused:?}");
        assert!(
            refused
                .message
                .contains("arguments of ev__echo were blocked by a guardrail"),
            "{era}: {refused:?}"
        );
        // Redacted on the way in: the server echoes what it was sent.
        let result = client
            .peer()
            .call_tool(echo("see INC-123456"))
            .await
            .unwrap();
        let text = text_of(&result);
        assert!(
            text.contains("see [REDACTED:TICKET]") && !text.contains("INC-123456"),
            "{era}: {text}"
        );
        // Redacted on the way out.
        let result = client
            .peer()
            .call_tool(echo("a bluebird sang"))
            .await
            .unwrap();
        let text = text_of(&result);
        assert!(
            text.contains("a [REDACTED:BIRD] sang") && !text.contains("bluebird"),
            "{era}: {text}"
        );
        assert_ne!(result.is_error, Some(true), "{era}");
        // A rule for another tool does not touch echo.
        let result = client
            .peer()
            .call_tool(echo("a sparrow sang"))
            .await
            .unwrap();
        assert!(text_of(&result).contains("a sparrow sang"), "{era}");
        // Structured content is inspected too.
        let result = client
            .peer()
            .call_tool(call(
                "ev__get-structured-content",
                json!({"location": "New York"}),
            ))
            .await
            .unwrap();
        let structured = result.structured_content.clone().unwrap_or_default();
        assert_eq!(structured["conditions"], "[REDACTED:WEATHER]", "{era}");
        assert_eq!(structured["temperature"], 33, "{era}");
        assert!(!text_of(&result).contains("Cloudy"), "{era}");
        let _ = client.cancel().await;
    }

    let calls = |outcome: &str| {
        let line = format!("agenthub_mcp_tool_calls_total{{server=\"ev\",outcome=\"{outcome}\"}}");
        let hub = &hub;
        async move { hub.metric(&line).await }
    };
    // Per era: two sums, four echoes and the weather answered, one limited, one blocked.
    assert_eq!(calls("ok").await, 14.0);
    assert_eq!(calls("refused_by_limit").await, 2.0);
    assert_eq!(calls("refused_by_guardrail").await, 2.0);
    assert_eq!(calls("upstream_failed").await, 0.0);
    assert_eq!(
        hub.metric("agenthub_upstream_up{plane=\"mcp\",upstream=\"ev\"}")
            .await,
        1.0
    );
    assert_eq!(
        hub.metric("agenthub_mcp_tool_call_duration_seconds_count{server=\"ev\"}")
            .await,
        18.0
    );

    // Each echo's record: what the guardrails did, and the arguments as received and the
    // result as answered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let echoes = loop {
        let (status, page) = hub
            .admin(reqwest::Method::GET, "/requests?tool=ev/echo", None)
            .await;
        assert_eq!(status, 200, "{page}");
        let records = page["data"].as_array().cloned().unwrap_or_default();
        if records.len() == 10 {
            break records;
        }
        assert!(tokio::time::Instant::now() < deadline, "{page:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut seen = BTreeMap::new();
    for record in &echoes {
        let id = record["id"].as_str().unwrap();
        let (_, full) = hub
            .admin(reqwest::Method::GET, &format!("/requests/{id}"), None)
            .await;
        let message = full["bodies"]["request"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{full:#}"))
            .to_owned();
        seen.insert(message, full);
    }
    let verdicts = |message: &str| seen[message]["guardrails"].clone();
    assert_eq!(
        verdicts("the falcon flies at dawn"),
        json!([{"rule": "no-falcon", "stage": "input", "action": "block"}])
    );
    assert_eq!(seen["the falcon flies at dawn"]["status"], "denied");
    assert!(
        seen["the falcon flies at dawn"]["bodies"]
            .get("response")
            .is_none()
    );
    assert_eq!(
        verdicts("see INC-123456"),
        json!([{"rule": "tickets", "stage": "input", "action": "redact"}])
    );
    let bird = &seen["a bluebird sang"];
    assert_eq!(
        bird["guardrails"],
        json!([{"rule": "birds", "stage": "output", "action": "redact"}])
    );
    let answered = bird["bodies"]["response"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(answered.contains("a [REDACTED:BIRD] sang"), "{bird:#}");
    assert_eq!(
        seen["hello"]["guardrails"],
        Value::Null,
        "{:#}",
        seen["hello"]
    );
    hub.stop().await;
}

/// The URIs `client` sees in `resources/list` and `resources/templates/list`.
async fn resource_uris(client: &RunningService<RoleClient, ()>) -> (Vec<String>, Vec<String>) {
    let resources = client.peer().list_all_resources().await.unwrap();
    let templates = client.peer().list_all_resource_templates().await.unwrap();
    (
        resources.into_iter().map(|r| r.uri).collect(),
        templates.into_iter().map(|t| t.uri_template).collect(),
    )
}

/// The URI and text of the one text content reading `uri` gives, or the error's code.
async fn read(
    client: &RunningService<RoleClient, ()>,
    uri: &str,
) -> Result<(String, String), ErrorCode> {
    let result = client
        .peer()
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .map_err(|error| match error {
            rmcp::ServiceError::McpError(data) => data.code,
            other => panic!("{uri}: {other:?}"),
        })?;
    match result.contents.as_slice() {
        [ResourceContents::TextResourceContents { uri, text, .. }] => {
            Ok((uri.clone(), text.clone()))
        }
        other => panic!("{uri}: {other:?}"),
    }
}

#[tokio::test]
async fn resources_are_federated_and_permissioned_per_caller() {
    let Some(bin) = server_everything() else {
        return;
    };
    let hub = Hub::start(&bin).await;
    let bob = hub.user_key("bob").await;
    let carol = hub.user_key("carol").await;
    let architecture = "hub://ev/demo://resource/static/document/architecture.md";
    let features = "hub://ev/demo://resource/static/document/features.md";
    let text_template = "hub://ev/demo://resource/dynamic/text/{resourceId}";
    let blob_template = "hub://ev/demo://resource/dynamic/blob/{resourceId}";
    let text_4 = "hub://ev/demo://resource/dynamic/text/4";
    for (era, lifecycle) in eras() {
        // Admins see every resource and template, under the hub's URIs.
        let admin = hub.client(&hub.admin, lifecycle.clone()).await;
        let (resources, templates) = resource_uris(&admin).await;
        assert!(
            resources.contains(&architecture.to_owned())
                && resources.contains(&features.to_owned()),
            "{era}: {resources:?}"
        );
        assert_eq!(templates, [blob_template, text_template], "{era}");
        let (uri, text) = read(&admin, features).await.unwrap();
        assert_eq!(uri, features, "{era}");
        assert!(!text.is_empty(), "{era}");

        // bob is granted one document by its name.
        let client = hub.client(&bob, lifecycle.clone()).await;
        assert_eq!(
            resource_uris(&client).await,
            (vec![architecture.to_owned()], vec![]),
            "{era}"
        );
        let (uri, text) = read(&client, architecture).await.unwrap();
        assert_eq!(uri, architecture, "{era}");
        assert!(text.contains("Architecture"), "{era}: {text}");
        assert_eq!(
            read(&client, features).await,
            Err(ErrorCode::INVALID_PARAMS),
            "{era}"
        );
        assert_eq!(
            read(&client, text_4).await,
            Err(ErrorCode::INVALID_PARAMS),
            "{era}"
        );

        // carol is granted the templates by a pattern on their names, and no document.
        let client = hub.client(&carol, lifecycle.clone()).await;
        assert_eq!(
            resource_uris(&client).await,
            (
                vec![],
                vec![blob_template.to_owned(), text_template.to_owned()]
            ),
            "{era}"
        );
        let (uri, text) = read(&client, text_4).await.unwrap();
        assert_eq!(uri, text_4, "{era}");
        assert!(text.starts_with("Resource 4: "), "{era}: {text}");
        assert_eq!(
            read(&client, architecture).await,
            Err(ErrorCode::INVALID_PARAMS),
            "{era}"
        );
    }
    hub.stop().await;
}

#[tokio::test]
async fn the_admin_api_shows_each_servers_health_and_tools() {
    let Some(bin) = server_everything() else {
        return;
    };
    let hub = Hub::start(&bin).await;
    let get = |path: &str, key: &str| {
        hub.http
            .get(format!("{}/api/v1{path}", hub.base))
            .bearer_auth(key)
            .send()
    };
    let servers: Value = get("/mcp/servers", &hub.admin)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ev = &servers[0];
    assert_eq!(ev["name"], "ev", "{servers}");
    assert_eq!(ev["state"], "ready", "{servers}");
    assert_eq!(ev["transport"], "stdio", "{servers}");
    assert!(ev["tools"].as_u64().unwrap() > 0, "{servers}");
    let tools: Value = get("/mcp/servers/ev/tools", &hub.admin)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sum = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ev__get-sum")
        .unwrap_or_else(|| panic!("{tools}"));
    assert_eq!(sum["upstream_name"], "get-sum");
    assert!(sum["input_schema"]["properties"]["a"].is_object(), "{sum}");
    let missing = get("/mcp/servers/nope/tools", &hub.admin).await.unwrap();
    assert_eq!(missing.status(), 404);
    let bob = hub.user_key("bob").await;
    let refused = get("/mcp/servers", &bob).await.unwrap();
    assert_eq!(refused.status(), 403);
    hub.stop().await;
}

#[tokio::test]
async fn requests_without_credentials_or_from_foreign_origins_are_refused() {
    let Some(bin) = server_everything() else {
        return;
    };
    let hub = Hub::start(&bin).await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}},
    });
    let post = |key: Option<&str>, origin: Option<&str>| {
        let mut request = hub
            .http
            .post(format!("{}/mcp", hub.base))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let response = post(None, None).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let response = post(Some("ahk_not_a_key"), None).await.unwrap();
    assert_eq!(response.status(), 401);
    let response = post(Some(&hub.admin), Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = post(Some(&hub.admin), None).await.unwrap();
    assert_eq!(response.status(), 200);
    // Metadata for rules must be a JSON object of scalars, as on the model routes.
    let response = hub
        .http
        .post(format!("{}/mcp", hub.base))
        .header("accept", "application/json, text/event-stream")
        .header("x-agenthub-metadata", "not json")
        .bearer_auth(&hub.admin)
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "x-agenthub-metadata", "{body}");
    hub.stop().await;
}

#[tokio::test]
async fn configured_servers_are_shown_but_not_changed_through_the_api() {
    let Some(bin) = server_everything() else {
        return;
    };
    let hub = Hub::start(&bin).await;
    let url = format!("{}/api/v1/mcp/servers/ev", hub.base);
    let shown: Value = hub
        .http
        .get(&url)
        .bearer_auth(&hub.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["source"], "config", "{shown}");
    assert_eq!(shown["state"], "ready", "{shown}");
    assert_eq!(shown["registration"]["command"], "node", "{shown}");
    for response in [
        hub.http
            .delete(&url)
            .bearer_auth(&hub.admin)
            .send()
            .await
            .unwrap(),
        hub.http
            .put(&url)
            .bearer_auth(&hub.admin)
            .json(&json!({"command": "node", "args": ["x"]}))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 409);
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("mcp_servers[0]"), "{message}");
    }
    hub.stop().await;
}

/// The code of the error a request answered.
fn code_of<T: std::fmt::Debug>(answer: Result<T, rmcp::ServiceError>) -> ErrorCode {
    match answer {
        Err(rmcp::ServiceError::McpError(data)) => data.code,
        other => panic!("expected an MCP error, got {other:?}"),
    }
}

async fn prompt_names(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    let prompts = client.peer().list_all_prompts().await.unwrap();
    prompts.into_iter().map(|p| p.name).collect()
}

/// A virtual server from the configuration file serves its selection and nothing else, in both
/// eras: exactly the two tools, the prompt and the resource it names; anything else answers
/// like an unknown item (`-32602`) while `/mcp` still serves it. It grants nothing: bob, who
/// may not use echo, does not see it there either, and carol, who may call echo without
/// listing it, calls it there as on `/mcp`.
#[tokio::test]
async fn a_virtual_server_serves_its_selection_to_each_caller() {
    let Some(bin) = server_everything() else {
        return;
    };
    let rules = r#"mcp_virtual_servers:
  - name: support
    description: The support desk's tools
    instructions: Sum and echo for the support desk.
    tools: [ev/get-sum, ev/echo]
    prompts: [ev/simple-prompt]
    resources: [ev/architecture.md]
"#;
    let hub = Hub::start_with(&bin, rules).await;
    let bob = hub.user_key("bob").await;
    let carol = hub.user_key("carol").await;
    let architecture = "hub://ev/demo://resource/static/document/architecture.md";
    let features = "hub://ev/demo://resource/static/document/features.md";
    let image = || call("ev__get-tiny-image", json!({}));
    for (era, lifecycle) in eras() {
        let admin = hub
            .client_at("/mcp/support", &hub.admin, lifecycle.clone())
            .await;
        let info = admin.peer_info().expect("the server's info");
        assert_eq!(
            info.instructions.as_deref(),
            Some("Sum and echo for the support desk."),
            "{era}"
        );
        assert_eq!(
            tool_names(&admin).await,
            ["ev__echo", "ev__get-sum"],
            "{era}"
        );
        assert_eq!(prompt_names(&admin).await, ["ev__simple-prompt"], "{era}");
        assert_eq!(
            resource_uris(&admin).await,
            (vec![architecture.to_owned()], vec![]),
            "{era}"
        );
        let result = admin.peer().call_tool(sum()).await.unwrap();
        assert!(text_of(&result).contains("42"), "{era}");
        assert!(read(&admin, architecture).await.is_ok(), "{era}");
        admin
            .peer()
            .get_prompt(GetPromptRequestParams::new("ev__simple-prompt"))
            .await
            .unwrap();
        // Outside the selection: unknown, while /mcp serves it.
        assert_eq!(
            code_of(admin.peer().call_tool(image()).await),
            ErrorCode::INVALID_PARAMS,
            "{era}"
        );
        assert_eq!(
            read(&admin, features).await,
            Err(ErrorCode::INVALID_PARAMS),
            "{era}"
        );
        assert_eq!(
            code_of(
                admin
                    .peer()
                    .get_prompt(GetPromptRequestParams::new("ev__args-prompt"))
                    .await
            ),
            ErrorCode::INVALID_PARAMS,
            "{era}"
        );
        let everything = hub.client(&hub.admin, lifecycle.clone()).await;
        assert!(everything.peer().call_tool(image()).await.is_ok(), "{era}");
        assert!(read(&everything, features).await.is_ok(), "{era}");

        // bob may use get-sum and the architecture document, not echo.
        let client = hub.client_at("/mcp/support", &bob, lifecycle.clone()).await;
        assert_eq!(tool_names(&client).await, ["ev__get-sum"], "{era}");
        assert!(prompt_names(&client).await.is_empty(), "{era}");
        let result = client.peer().call_tool(sum()).await.unwrap();
        assert!(text_of(&result).contains("42"), "{era}");
        assert_eq!(
            code_of(
                client
                    .peer()
                    .call_tool(call("ev__echo", json!({"message": "hi"})))
                    .await
            ),
            ErrorCode::INVALID_PARAMS,
            "{era}"
        );
        assert!(read(&client, architecture).await.is_ok(), "{era}");

        // carol may call echo (unlisted) and read the dynamic resources, which are not
        // selected here.
        let client = hub
            .client_at("/mcp/support", &carol, lifecycle.clone())
            .await;
        assert!(tool_names(&client).await.is_empty(), "{era}");
        let result = client
            .peer()
            .call_tool(call("ev__echo", json!({"message": "hi"})))
            .await
            .unwrap();
        assert!(text_of(&result).contains("hi"), "{era}");
        assert_eq!(resource_uris(&client).await, (vec![], vec![]), "{era}");
        assert_eq!(
            read(&client, "hub://ev/demo://resource/dynamic/text/4").await,
            Err(ErrorCode::INVALID_PARAMS),
            "{era}"
        );
    }

    // An unknown virtual server is not found; without credentials, nothing is said of it.
    let response = hub
        .post_mcp("/mcp/nope", Some(&hub.admin), None, initialize())
        .await;
    assert_eq!(response.status(), 404);
    let response = hub.post_mcp("/mcp/support", None, None, initialize()).await;
    assert_eq!(response.status(), 401);
    let response = hub.post_mcp("/mcp/nope", None, None, initialize()).await;
    assert_eq!(response.status(), 401);
    let response = hub
        .post_mcp("/mcp/support", Some(&hub.admin), None, initialize())
        .await;
    assert_eq!(response.status(), 200);
    let response = hub
        .http
        .post(format!("{}/mcp/support", hub.base))
        .header("accept", "application/json, text/event-stream")
        .header("origin", "https://evil.example")
        .bearer_auth(&hub.admin)
        .json(&initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Defined in the file: shown, not changed through the API.
    let (status, shown) = hub
        .admin(reqwest::Method::GET, "/mcp/virtual-servers/support", None)
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["source"], "config", "{shown}");
    assert_eq!(shown["path"], "/mcp/support", "{shown}");
    assert_eq!(
        shown["selected"],
        json!({"tools": 2, "prompts": 1, "resources": 1, "resource_templates": 0}),
        "{shown}"
    );
    let (status, _) = hub
        .admin(
            reqwest::Method::DELETE,
            "/mcp/virtual-servers/support",
            None,
        )
        .await;
    assert_eq!(status, 409);
    hub.stop().await;
}

/// A virtual server defined through the admin API is served at once, renames included; its
/// clients are told when its definition changes; its sessions are its own; after DELETE it is
/// gone. Bad definitions are refused naming the field.
#[tokio::test]
async fn virtual_servers_are_managed_through_the_api_without_restart() {
    let Some(bin) = server_everything() else {
        return;
    };
    let rules = "mcp_virtual_servers:\n  - {name: support, tools: [ev/echo]}\n";
    let hub = Hub::start_with(&bin, rules).await;
    use reqwest::Method;
    let (status, created) = hub
        .admin(
            Method::POST,
            "/mcp/virtual-servers",
            Some(json!({"name": "sums", "tools": ["ev/get-*"], "rename": {"ev/get-sum": "sum"}})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["source"], "api", "{created}");
    assert_eq!(created["path"], "/mcp/sums", "{created}");
    let selected = created["selected"]["tools"].as_u64().unwrap();
    assert!(selected >= 2, "{created}");

    for (era, lifecycle) in eras() {
        let client = hub.client_at("/mcp/sums", &hub.admin, lifecycle).await;
        let names = tool_names(&client).await;
        assert_eq!(names.len() as u64, selected, "{era}: {names:?}");
        assert!(names.contains(&"sum".to_owned()), "{era}: {names:?}");
        assert!(
            names
                .iter()
                .all(|n| n == "sum" || n.starts_with("ev__get-"))
        );
        assert!(
            !names.contains(&"ev__get-sum".to_owned()),
            "{era}: {names:?}"
        );
        let result = client
            .peer()
            .call_tool(call("sum", json!({"a": 1, "b": 2})))
            .await
            .unwrap();
        assert!(text_of(&result).contains('3'), "{era}");
        // A renamed tool answers only to its new name.
        assert_eq!(
            code_of(client.peer().call_tool(sum()).await),
            ErrorCode::INVALID_PARAMS,
            "{era}"
        );
    }

    // Refused with the field named.
    for (body, param) in [
        (json!({"name": "bad", "tools": ["get-sum"]}), "tools[0]"),
        (
            json!({"name": "bad", "tools": ["ev/*"], "rename": {"ev/echo": "ev__echo2"}}),
            "rename.ev/echo",
        ),
        (json!({"name": "bad name"}), "name"),
        (json!({"name": "bad", "tool": []}), ""),
    ] {
        let (status, answer) = hub
            .admin(Method::POST, "/mcp/virtual-servers", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        if !param.is_empty() {
            assert_eq!(answer["error"]["param"], param, "{body}: {answer}");
        }
    }
    let (status, _) = hub
        .admin(
            Method::POST,
            "/mcp/virtual-servers",
            Some(json!({"name": "sums"})),
        )
        .await;
    assert_eq!(status, 409);

    // A 2026-07-28 client following tool list changes hears the definition change.
    let modern = hub
        .client_at("/mcp/sums", &hub.admin, eras()[0].1.clone())
        .await;
    let tools_only = SubscriptionFilter::builder().tools_list_changed().build();
    let mut subscription = modern.peer().listen(tools_only).await.unwrap();
    let (status, replaced) = hub
        .admin(
            Method::PUT,
            "/mcp/virtual-servers/sums",
            Some(json!({"tools": ["ev/get-sum"]})),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["selected"]["tools"], 1, "{replaced}");
    let notice = tokio::time::timeout(Duration::from_secs(30), subscription.next())
        .await
        .expect("a notice on the subscription")
        .unwrap()
        .expect("the subscription is open");
    assert!(
        matches!(notice, ServerNotification::ToolListChangedNotification(_)),
        "{notice:?}"
    );
    assert_eq!(tool_names(&modern).await, ["ev__get-sum"]);
    let _ = subscription.cancel().await;

    // A 2025-11-25 session belongs to the virtual server that opened it.
    let response = hub
        .post_mcp("/mcp/sums", Some(&hub.admin), None, initialize())
        .await;
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = hub
        .post_mcp("/mcp/sums", Some(&hub.admin), Some(&session), initialized)
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let response = hub
        .post_mcp("/mcp/sums", Some(&hub.admin), Some(&session), list.clone())
        .await;
    assert_eq!(response.status(), 200);
    for elsewhere in ["/mcp/support", "/mcp"] {
        let response = hub
            .post_mcp(elsewhere, Some(&hub.admin), Some(&session), list.clone())
            .await;
        assert_eq!(response.status(), 404, "{elsewhere}");
    }

    let (status, listed) = hub.admin(Method::GET, "/mcp/virtual-servers", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["support", "sums"], "{listed}");

    // Removed: not found, its sessions with it (their streams end).
    let mut stream = hub
        .http
        .get(format!("{}/mcp/sums", hub.base))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .bearer_auth(&hub.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (status, _) = hub
        .admin(Method::DELETE, "/mcp/virtual-servers/sums", None)
        .await;
    assert_eq!(status, 204);
    tokio::time::timeout(Duration::from_secs(10), async {
        while stream.chunk().await.is_ok_and(|chunk| chunk.is_some()) {}
    })
    .await
    .expect("the session's stream ends");
    let response = hub
        .post_mcp("/mcp/sums", Some(&hub.admin), Some(&session), list)
        .await;
    assert_eq!(response.status(), 404);
    let response = hub
        .post_mcp("/mcp/sums", Some(&hub.admin), None, initialize())
        .await;
    assert_eq!(response.status(), 404);
    let (status, _) = hub
        .admin(Method::GET, "/mcp/virtual-servers/sums", None)
        .await;
    assert_eq!(status, 404);
    hub.stop().await;
}
