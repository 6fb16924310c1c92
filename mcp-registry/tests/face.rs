//! The hub's MCP face over streamable HTTP, in both protocol eras, with the reference
//! `server-everything` as its upstream: each caller sees and calls only the tools, prompts and
//! resources its gate allows, arguments are checked against the tool's schema before they go
//! upstream, resources are read under the hub's URIs, and the gate's hooks around a call
//! (refusals, rewritten arguments, blocked results, records) shape what the caller gets.
//! Notifications: progress relayed under each caller's own token, cancellation passed
//! upstream (seen by an upstream of the tests' own), and list changes told to sessions and
//! subscriptions.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agenthub_mcp_registry::calls::{CallReport, Outcome, Refusal, ToolCall};
use agenthub_mcp_registry::config::{McpSettings, McpTimeouts};
use agenthub_mcp_registry::face::{BLOCKED, Face, Gate, LIMITED};
use agenthub_mcp_registry::registry::{Registry, State};
use agenthub_mcp_registry::upstream::Secrets;
use agenthub_test_support::mcp::{call, connect, connect_with, eras, server_everything, text_of};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest,
    ContentBlock, ErrorCode, GetPromptRequestParams, JsonObject, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResult, ResourceContents, ResultType,
    ServerCapabilities, ServerConfig, ServerNotification, ServerResult, SubscriptionFilter, Tool,
};
use rmcp::service::{
    ClientLifecycleMode, NotificationContext, PeerRequestOptions, RequestContext, RoleClient,
    RoleServer, RunningService,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ClientHandler, ErrorData, ServerHandler};
use serde_json::json;

struct NoSecrets;

impl Secrets for NoSecrets {
    fn reveal(&self, _: &str) -> Option<String> {
        None
    }
}

/// Callers name themselves in `x-test-user`; alice may use everything, bob only the tool
/// `get-sum`, carol only the resource `architecture.md` and the template `Dynamic Text
/// Resource`, dave everything but is always rate limited. Around calls: an echo of "refuse"
/// is blocked on the way in, "rewrite" is forwarded as "rewritten", and a result that says
/// "classified" is blocked on the way out. Every call is recorded.
#[derive(Default)]
struct TestGate {
    records: Mutex<Vec<Recorded>>,
}

/// One call as the gate recorded it.
#[derive(Debug, Clone)]
struct Recorded {
    caller: String,
    server: String,
    tool: String,
    outcome: Outcome,
    request_bytes: u64,
    response_bytes: u64,
}

impl TestGate {
    fn outcomes(&self, caller: &str) -> Vec<(String, Outcome)> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.caller == caller)
            .map(|r| (r.tool.clone(), r.outcome))
            .collect()
    }
}

impl Gate for TestGate {
    type Caller = String;
    type Ticket = ();

    async fn before_call(
        &self,
        caller: &String,
        _: ToolCall<'_>,
        arguments: &mut JsonObject,
    ) -> Result<(), Refusal> {
        if caller == "dave" {
            return Err(Refusal::Limited {
                message: "rate limit \"t\" reached; retry in 7 s".into(),
                data: json!({"retry_after_seconds": 7}),
            });
        }
        match arguments.get("message").and_then(|m| m.as_str()) {
            Some("refuse") => Err(Refusal::Blocked {
                reason: "no refusing".into(),
            }),
            Some("rewrite") => {
                arguments.insert("message".into(), json!("rewritten"));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn after_call(
        &self,
        _: &String,
        _: ToolCall<'_>,
        (): (),
        result: Option<&mut CallToolResult>,
    ) -> Result<(), String> {
        match result {
            Some(result) if text_of(result).contains("classified") => Err("no secrets".into()),
            _ => Ok(()),
        }
    }

    fn record(&self, caller: &String, report: &CallReport<'_>) {
        self.records.lock().unwrap().push(Recorded {
            caller: caller.clone(),
            server: report.call.server.to_owned(),
            tool: report.call.tool.to_owned(),
            outcome: report.outcome,
            request_bytes: report.request_bytes,
            response_bytes: report.response_bytes,
        });
    }

    fn caller(&self, request: &http::request::Parts) -> Option<String> {
        request
            .headers
            .get("x-test-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn may_list_tool(&self, caller: &String, server: &str, tool: &str) -> bool {
        self.may_call_tool(caller, server, tool)
    }

    fn may_call_tool(&self, caller: &String, server: &str, tool: &str) -> bool {
        match caller.as_str() {
            "alice" | "dave" => true,
            "bob" => server == "ev" && tool == "get-sum",
            "carol" => {
                server == "ev" && matches!(tool, "architecture.md" | "Dynamic Text Resource")
            }
            _ => false,
        }
    }
}

/// The face on a loopback port, over a registry holding server-everything as `ev`.
async fn hub(bin: &Path) -> (String, Registry) {
    let (url, registry, _) = hub_with_gate(bin).await;
    (url, registry)
}

/// [`hub`], and its gate.
async fn hub_with_gate(bin: &Path) -> (String, Registry, Arc<TestGate>) {
    let registry =
        registry_of(&[json!({"name": "ev", "command": "node", "args": [bin, "stdio"]})]).await;
    let gate = Arc::new(TestGate::default());
    let url = serve_face(&registry, gate.clone()).await;
    (url, registry, gate)
}

/// A registry of `servers` (`mcp_servers` entries), once every one of them is ready.
async fn registry_of(servers: &[serde_json::Value]) -> Registry {
    let settings = McpSettings {
        timeouts: McpTimeouts {
            connect: Duration::from_secs(30),
            request: Duration::from_secs(30),
        },
        ..McpSettings::default()
    };
    let registry = Registry::new(settings, Arc::new(NoSecrets));
    for server in servers {
        registry.add(serde_json::from_value(server.clone()).unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while registry.status().iter().any(|s| s.state != State::Ready) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            registry.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    registry
}

/// The face over `registry`, deciding with `gate`, on a loopback port; its URL.
async fn serve_face(registry: &Registry, gate: Arc<TestGate>) -> String {
    let face = Face::new(registry.clone(), gate);
    let service = StreamableHttpService::new(
        move || Ok(face.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let address = agenthub_test_support::serve_on_loopback(app).await;
    format!("http://{address}/mcp")
}

async fn client(
    url: &str,
    user: Option<&str>,
    lifecycle: ClientLifecycleMode,
) -> RunningService<RoleClient, ()> {
    connect(url, as_user(user), lifecycle).await
}

/// A client of `user` that records the notifications it hears.
async fn listener(
    url: &str,
    user: &str,
    lifecycle: ClientLifecycleMode,
) -> RunningService<RoleClient, Heard> {
    connect_with(url, as_user(Some(user)), lifecycle, Heard::default()).await
}

fn as_user(user: Option<&str>) -> HashMap<http::HeaderName, http::HeaderValue> {
    let mut headers = HashMap::new();
    if let Some(user) = user {
        headers.insert(
            http::HeaderName::from_static("x-test-user"),
            http::HeaderValue::from_str(user).unwrap(),
        );
    }
    headers
}

fn sum(a: serde_json::Value, b: serde_json::Value) -> CallToolRequestParams {
    call("ev__get-sum", json!({"a": a, "b": b}))
}

#[tokio::test]
async fn callers_see_and_call_only_their_tools_in_both_eras() {
    let Some(bin) = server_everything() else {
        return;
    };
    let (url, registry) = hub(&bin).await;
    for (era, lifecycle) in eras() {
        let alice = client(&url, Some("alice"), lifecycle.clone()).await;
        let tools = alice.peer().list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert!(
            names.contains(&"ev__echo") && names.contains(&"ev__get-sum"),
            "{era}: {names:?}"
        );
        assert!(
            names.iter().all(|n| n.starts_with("ev__")),
            "{era}: {names:?}"
        );

        let result = alice
            .peer()
            .call_tool(sum(json!(40), json!(2)))
            .await
            .unwrap();
        let text = text_of(&result);
        assert!(text.contains("42"), "{era}: {text}");

        // Arguments that break the tool's schema never reach the upstream.
        let error = alice
            .peer()
            .call_tool(sum(json!("forty"), json!(2)))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("invalid arguments for ev__get-sum") && message.contains("/a"),
            "{era}: {message}"
        );

        let bob = client(&url, Some("bob"), lifecycle.clone()).await;
        let tools = bob.peer().list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["ev__get-sum"], "{era}");
        let error = bob
            .peer()
            .call_tool(call("ev__echo", json!({"message": "hi"})))
            .await
            .unwrap_err();
        match error {
            rmcp::ServiceError::McpError(data) => {
                assert_eq!(data.code, ErrorCode::INVALID_PARAMS, "{era}");
                assert!(
                    data.message.contains("unknown tool: ev__echo"),
                    "{era}: {data:?}"
                );
            }
            other => panic!("{era}: {other:?}"),
        }
        // Prompts share the tools' permissions: alice sees and gets them, bob sees none.
        let prompts = alice.peer().list_all_prompts().await.unwrap();
        let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"ev__args-prompt"), "{era}: {names:?}");
        let prompt = alice
            .peer()
            .get_prompt(
                GetPromptRequestParams::new("ev__args-prompt")
                    .with_arguments(json!({"city": "Lisbon"}).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        let text = serde_json::to_string(&prompt.messages).unwrap();
        assert!(text.contains("Lisbon"), "{era}: {text}");
        assert!(
            bob.peer().list_all_prompts().await.unwrap().is_empty(),
            "{era}"
        );
        assert!(
            bob.peer()
                .get_prompt(GetPromptRequestParams::new("ev__simple-prompt"))
                .await
                .is_err(),
            "{era}"
        );
        let _ = alice.cancel().await;
        let _ = bob.cancel().await;
    }
    registry.shutdown();
}

/// The error a refused call answers.
fn refusal(error: rmcp::ServiceError) -> rmcp::model::ErrorData {
    match error {
        rmcp::ServiceError::McpError(data) => data,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_gate_refuses_rewrites_blocks_and_records_calls_in_both_eras() {
    let Some(bin) = server_everything() else {
        return;
    };
    let (url, registry, gate) = hub_with_gate(&bin).await;
    let echo = |message: &str| call("ev__echo", json!({"message": message}));
    for (era, lifecycle) in eras() {
        gate.records.lock().unwrap().clear();
        let alice = client(&url, Some("alice"), lifecycle.clone()).await;
        let result = alice.peer().call_tool(echo("hi")).await.unwrap();
        assert!(text_of(&result).contains("hi"), "{era}");

        // Refused on the way in, with the code and data of its kind.
        let error = refusal(alice.peer().call_tool(echo("refuse")).await.unwrap_err());
        assert_eq!(error.code, BLOCKED, "{era}");
        assert!(
            error
                .message
                .contains("arguments of ev__echo were blocked by a guardrail: no refusing"),
            "{era}: {error:?}"
        );
        let dave = client(&url, Some("dave"), lifecycle.clone()).await;
        let error = refusal(dave.peer().call_tool(echo("hi")).await.unwrap_err());
        assert_eq!(error.code, LIMITED, "{era}");
        assert_eq!(error.data, Some(json!({"retry_after_seconds": 7})), "{era}");

        // The arguments go upstream as the gate left them.
        let result = alice.peer().call_tool(echo("rewrite")).await.unwrap();
        assert!(text_of(&result).contains("rewritten"), "{era}");

        // A blocked result is replaced whole by an error result.
        let result = alice.peer().call_tool(echo("classified")).await.unwrap();
        assert_eq!(result.is_error, Some(true), "{era}");
        let text = text_of(&result);
        assert!(
            text.contains("result of ev__echo was blocked by a guardrail: no secrets")
                && !text.contains("classified"),
            "{era}: {text}"
        );

        // Invalid arguments and forbidden tools are recorded too (as what they are).
        let _ = alice.peer().call_tool(sum(json!("x"), json!(1))).await;
        let bob = client(&url, Some("bob"), lifecycle.clone()).await;
        let _ = bob.peer().call_tool(echo("hi")).await;

        let echo = |outcome| ("echo".to_owned(), outcome);
        assert_eq!(
            gate.outcomes("alice"),
            [
                echo(Outcome::Ok),
                echo(Outcome::RefusedByGuardrail),
                echo(Outcome::Ok),
                echo(Outcome::RefusedByGuardrail),
                ("get-sum".to_owned(), Outcome::InvalidArguments),
            ],
            "{era}"
        );
        assert_eq!(
            gate.outcomes("dave"),
            [echo(Outcome::RefusedByLimit)],
            "{era}"
        );
        assert_eq!(
            gate.outcomes("bob"),
            [echo(Outcome::RefusedByPolicy)],
            "{era}"
        );
        let records = gate.records.lock().unwrap().clone();
        let (request, response) = (records[0].request_bytes, records[0].response_bytes);
        assert_eq!(request, r#"{"message":"hi"}"#.len() as u64, "{era}");
        assert!(response > request, "{era}: {records:?}");
        assert!(
            records.iter().all(|r| r.server == "ev"),
            "{era}: {records:?}"
        );
        for client in [alice, bob, dave] {
            let _ = client.cancel().await;
        }
    }
    registry.shutdown();
}

#[tokio::test]
async fn unauthenticated_requests_are_refused() {
    let Some(bin) = server_everything() else {
        return;
    };
    let (url, registry) = hub(&bin).await;
    let anonymous = client(
        &url,
        None,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::LATEST],
        },
    )
    .await;
    let error = anonymous.peer().list_all_tools().await.unwrap_err();
    assert!(error.to_string().contains("not authenticated"), "{error}");
    let _ = anonymous.cancel().await;
    registry.shutdown();
}

/// server-everything's static document `architecture.md`, under the hub's URI.
const ARCHITECTURE: &str = "hub://ev/demo://resource/static/document/architecture.md";
const TEXT_TEMPLATE: &str = "hub://ev/demo://resource/dynamic/text/{resourceId}";
const BLOB_TEMPLATE: &str = "hub://ev/demo://resource/dynamic/blob/{resourceId}";

async fn read(
    client: &RunningService<RoleClient, ()>,
    uri: &str,
) -> Result<ReadResourceResult, rmcp::ServiceError> {
    client
        .peer()
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
}

/// The URI and text (a blob decoded) of each of a read's contents.
fn contents_of(result: &ReadResourceResult) -> Vec<(String, String)> {
    use base64::Engine as _;
    result
        .contents
        .iter()
        .map(|contents| match contents {
            ResourceContents::TextResourceContents { uri, text, .. } => (uri.clone(), text.clone()),
            ResourceContents::BlobResourceContents { uri, blob, .. } => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(blob)
                    .expect("a blob is base64");
                (
                    uri.clone(),
                    String::from_utf8(bytes).expect("this blob is text"),
                )
            }
            other => panic!("unexpected contents: {other:?}"),
        })
        .collect()
}

/// Asserts that reading `uri` is refused like an unknown resource.
async fn assert_unknown(client: &RunningService<RoleClient, ()>, uri: &str, era: &str) {
    match read(client, uri).await {
        Err(rmcp::ServiceError::McpError(data)) => {
            assert_eq!(data.code, ErrorCode::INVALID_PARAMS, "{era}: {uri}");
            assert_eq!(data.message, format!("unknown resource: {uri}"), "{era}");
        }
        other => panic!("{era}: {uri}: {other:?}"),
    }
}

async fn resource_uris(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    let resources = client.peer().list_all_resources().await.unwrap();
    resources.into_iter().map(|r| r.uri).collect()
}

async fn template_uris(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    let templates = client.peer().list_all_resource_templates().await.unwrap();
    templates.into_iter().map(|t| t.uri_template).collect()
}

#[tokio::test]
async fn resources_are_read_through_the_hubs_uris_in_both_eras() {
    let Some(bin) = server_everything() else {
        return;
    };
    let document = std::fs::read_to_string(bin.parent().unwrap().join("docs/architecture.md"))
        .expect("server-everything serves its docs/ as static resources");
    let (url, registry) = hub(&bin).await;
    for (era, lifecycle) in eras() {
        let alice = client(&url, Some("alice"), lifecycle.clone()).await;
        let uris = resource_uris(&alice).await;
        assert!(uris.contains(&ARCHITECTURE.to_owned()), "{era}: {uris:?}");
        assert!(
            uris.iter()
                .all(|u| u.starts_with("hub://ev/demo://resource/")),
            "{era}: {uris:?}"
        );
        let mut sorted = uris.clone();
        sorted.sort();
        assert_eq!(uris, sorted, "{era}: listed in order");
        assert_eq!(
            template_uris(&alice).await,
            [BLOB_TEMPLATE, TEXT_TEMPLATE],
            "{era}"
        );

        // A static resource: the upstream's document, under the hub's URI.
        let result = read(&alice, ARCHITECTURE).await.unwrap();
        assert_eq!(
            contents_of(&result),
            [(ARCHITECTURE.to_owned(), document.clone())],
            "{era}"
        );
        if era == "2026-07-28" {
            assert_eq!(result.result_type, Some(ResultType::COMPLETE), "{era}");
        }
        // Resources from templates, text and blob.
        let uri = "hub://ev/demo://resource/dynamic/text/7";
        let contents = contents_of(&read(&alice, uri).await.unwrap());
        assert_eq!(contents.len(), 1, "{era}: {contents:?}");
        assert_eq!(contents[0].0, uri, "{era}");
        assert!(
            contents[0].1.starts_with("Resource 7: "),
            "{era}: {contents:?}"
        );
        let uri = "hub://ev/demo://resource/dynamic/blob/3";
        let contents = contents_of(&read(&alice, uri).await.unwrap());
        assert_eq!(contents[0].0, uri, "{era}");
        assert!(
            contents[0].1.starts_with("Resource 3: "),
            "{era}: {contents:?}"
        );

        // What no ready server announced is unknown, whatever its form.
        for uri in [
            "demo://resource/static/document/architecture.md",
            "hub://ev/demo://resource/static/document/nope.md",
            "hub://ev/demo://resource/dynamic/text/",
            "hub://nope/demo://resource/static/document/architecture.md",
            "hub://ev/",
        ] {
            assert_unknown(&alice, uri, era).await;
        }

        // A tool's resource links point into the hub, and read through it.
        let result = alice
            .peer()
            .call_tool(call("ev__get-resource-links", json!({"count": 3})))
            .await
            .unwrap();
        let links: Vec<&str> = result
            .content
            .iter()
            .filter_map(ContentBlock::as_resource_link)
            .map(|link| link.uri.as_str())
            .collect();
        assert_eq!(
            links,
            [
                "hub://ev/demo://resource/dynamic/blob/1",
                "hub://ev/demo://resource/dynamic/text/2",
                "hub://ev/demo://resource/dynamic/blob/3",
            ],
            "{era}"
        );
        for link in links {
            let contents = contents_of(&read(&alice, link).await.unwrap());
            assert_eq!(contents[0].0, link, "{era}");
        }
        // So do a prompt's embedded resources.
        let prompt = alice
            .peer()
            .get_prompt(
                GetPromptRequestParams::new("ev__resource-prompt").with_arguments(
                    json!({"resourceType": "Text", "resourceId": "2"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        let embedded: Vec<&ResourceContents> = prompt
            .messages
            .iter()
            .filter_map(|m| m.content.as_resource())
            .map(|e| &e.resource)
            .collect();
        assert!(
            matches!(
                embedded.as_slice(),
                [ResourceContents::TextResourceContents { uri, .. }]
                    if uri == "hub://ev/demo://resource/dynamic/text/2"
            ),
            "{era}: {embedded:?}"
        );

        // bob may use no resource: he sees none, and reads are refused like unknown ones.
        let bob = client(&url, Some("bob"), lifecycle.clone()).await;
        assert!(resource_uris(&bob).await.is_empty(), "{era}");
        assert!(template_uris(&bob).await.is_empty(), "{era}");
        assert_unknown(&bob, ARCHITECTURE, era).await;
        assert_unknown(&bob, "hub://ev/demo://resource/dynamic/text/7", era).await;

        // carol sees and reads one document and one template, by their names.
        let carol = client(&url, Some("carol"), lifecycle.clone()).await;
        assert_eq!(resource_uris(&carol).await, [ARCHITECTURE], "{era}");
        assert_eq!(template_uris(&carol).await, [TEXT_TEMPLATE], "{era}");
        assert_eq!(
            contents_of(&read(&carol, ARCHITECTURE).await.unwrap())[0].1,
            document,
            "{era}"
        );
        let uri = "hub://ev/demo://resource/dynamic/text/5";
        assert_eq!(
            contents_of(&read(&carol, uri).await.unwrap())[0].0,
            uri,
            "{era}"
        );
        assert_unknown(&carol, "hub://ev/demo://resource/dynamic/blob/5", era).await;
        assert_unknown(
            &carol,
            "hub://ev/demo://resource/static/document/features.md",
            era,
        )
        .await;

        for client in [alice, bob, carol] {
            let _ = client.cancel().await;
        }
    }
    registry.shutdown();
}

/// What a client heard from the face.
#[derive(Debug, Clone, PartialEq)]
enum Notice {
    Progress {
        token: ProgressToken,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    },
    Tools,
    Prompts,
    Resources,
}

/// A client's handler that records what it hears.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<Notice>>>);

impl Heard {
    fn notices(&self) -> Vec<Notice> {
        self.0.lock().unwrap().clone()
    }

    /// What was heard once `done` holds for it (failing after 30 s).
    async fn until(&self, done: impl Fn(&[Notice]) -> bool) -> Vec<Notice> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let notices = self.notices();
            if done(&notices) {
                return notices;
            }
            assert!(Instant::now() < deadline, "heard only {notices:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn record(&self, notice: Notice) {
        self.0.lock().unwrap().push(notice);
    }
}

impl ClientHandler for Heard {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.record(Notice::Progress {
            token: params.progress_token,
            progress: params.progress,
            total: params.total,
            message: params.message,
        });
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.record(Notice::Tools);
    }

    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.record(Notice::Prompts);
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.record(Notice::Resources);
    }
}

fn progress(token: &ProgressToken, progress: f64, message: Option<&str>) -> Notice {
    Notice::Progress {
        token: token.clone(),
        progress,
        total: Some(4.0),
        message: message.map(str::to_owned),
    }
}

/// Sends `params` as a `tools/call` and waits for its result; the progress token the client
/// gave it.
async fn call_with_token<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    params: CallToolRequestParams,
) -> (ProgressToken, Result<CallToolResult, rmcp::ServiceError>) {
    let handle = client
        .peer()
        .send_request_with_option(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let token = handle.progress_token.clone();
    let result = handle.await_response().await.map(|result| match result {
        ServerResult::CallToolResult(result) => result,
        other => panic!("not a tool result: {other:?}"),
    });
    (token, result)
}

/// Waits until `done` holds (failing after `within`).
async fn eventually(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn progress_reaches_each_caller_under_its_own_token_in_both_eras() {
    let Some(bin) = server_everything() else {
        return;
    };
    let (url, registry) = hub(&bin).await;
    let long = || {
        call(
            "ev__trigger-long-running-operation",
            json!({"duration": 1, "steps": 4}),
        )
    };
    for (era, lifecycle) in eras() {
        let first = listener(&url, "alice", lifecycle.clone()).await;
        let second = listener(&url, "alice", lifecycle.clone()).await;
        let ((first_token, first_result), (second_token, second_result)) = tokio::join!(
            call_with_token(&first, long()),
            call_with_token(&second, long())
        );
        // Both clients number their requests alike: the same token, which must not meet
        // itself on the hub's one connection to the server.
        assert_eq!(first_token, second_token, "{era}");
        for (client, token, result) in [
            (&first, first_token, first_result),
            (&second, second_token, second_result),
        ] {
            let text = text_of(&result.unwrap());
            assert!(
                text.contains("Long running operation completed"),
                "{era}: {text}"
            );
            let heard = client.service().until(|n| n.len() >= 4).await;
            let expected: Vec<Notice> = (1..=4)
                .map(|step| progress(&token, f64::from(step), None))
                .collect();
            assert_eq!(heard, expected, "{era}");
        }
        let _ = first.cancel().await;
        let _ = second.cancel().await;
    }
    registry.shutdown();
}

/// An upstream of the tests' own (rmcp, streamable HTTP on loopback), to see what reaches a
/// server: `wait` ends only when cancelled (and counts it), `count` reports the progress 1, 3,
/// 2, 4 of 4 (one step back), naming each step.
#[derive(Clone, Default)]
struct Upstream {
    started: Arc<tokio::sync::Notify>,
    cancelled: Arc<AtomicUsize>,
}

impl Upstream {
    /// Serves it on a loopback port; its URL.
    async fn serve(&self) -> String {
        let upstream = self.clone();
        let service = StreamableHttpService::new(
            move || Ok(upstream.clone()),
            LocalSessionManager::default().into(),
            StreamableHttpServerConfig::default(),
        );
        let app = axum::Router::new().nest_service("/mcp", service);
        let address = agenthub_test_support::serve_on_loopback(app).await;
        format!("http://{address}/mcp")
    }

    fn cancellations(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }
}

impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = Arc::new(json!({"type": "object"}).as_object().unwrap().clone());
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("wait", "Ends when cancelled.", schema.clone()),
            Tool::new("count", "Counts to 4, with progress.", schema),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match request.name.as_ref() {
            "wait" => {
                self.started.notify_one();
                context.ct.cancelled().await;
                self.cancelled.fetch_add(1, Ordering::SeqCst);
                Err(ErrorData::internal_error("cancelled", None))
            }
            "count" => {
                if let Some(token) = context.meta.get_progress_token() {
                    for (step, value) in [1.0, 3.0, 2.0, 4.0].into_iter().enumerate() {
                        let update = ProgressNotificationParam::new(token.clone(), value)
                            .with_total(4.0)
                            .with_message(format!("step {}", step + 1));
                        context.peer.notify_progress(update).await.unwrap();
                        // Apart, so that the client's handler (a task per notification)
                        // records them in order.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Ok(CallToolResponse::Complete(CallToolResult::success(vec![
                    ContentBlock::text("counted"),
                ])))
            }
            other => Err(ErrorData::invalid_params(
                format!("unknown tool: {other}"),
                None,
            )),
        }
    }
}

/// The face over a registry holding only [`Upstream`] as `up`.
async fn hub_over_upstream() -> (String, Registry, Arc<TestGate>, Upstream) {
    let upstream = Upstream::default();
    let registry = registry_of(&[json!({"name": "up", "url": upstream.serve().await})]).await;
    let gate = Arc::new(TestGate::default());
    let url = serve_face(&registry, gate.clone()).await;
    (url, registry, gate, upstream)
}

#[tokio::test]
async fn relayed_progress_keeps_its_message_and_never_goes_back_in_both_eras() {
    let (url, registry, _, _) = hub_over_upstream().await;
    for (era, lifecycle) in eras() {
        let alice = listener(&url, "alice", lifecycle.clone()).await;
        let (token, result) = call_with_token(&alice, call("up__count", json!({}))).await;
        assert!(text_of(&result.unwrap()).contains("counted"), "{era}");
        let heard = alice.service().until(|n| n.len() >= 3).await;
        assert_eq!(
            heard,
            [
                progress(&token, 1.0, Some("step 1")),
                progress(&token, 3.0, Some("step 2")),
                progress(&token, 4.0, Some("step 4")),
            ],
            "{era}"
        );
        let _ = alice.cancel().await;
    }
    registry.shutdown();
}

#[tokio::test]
async fn a_cancelled_call_is_given_up_at_once_and_stopped_upstream_in_both_eras() {
    let (url, registry, gate, upstream) = hub_over_upstream().await;
    let wait = || call("up__wait", json!({}));
    for (era, lifecycle) in eras() {
        let alice = client(&url, Some("alice"), lifecycle.clone()).await;
        let before = upstream.cancellations();
        // With a progress token (rmcp's client sends one with every request).
        let handle = alice
            .peer()
            .send_request_with_option(
                ClientRequest::CallToolRequest(CallToolRequest::new(wait())),
                PeerRequestOptions::no_options(),
            )
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), upstream.started.notified())
            .await
            .unwrap_or_else(|_| panic!("{era}: the call did not reach the server"));
        handle
            .cancel(Some("no longer needed".into()))
            .await
            .unwrap();
        let cancelled = || {
            gate.outcomes("alice")
                .contains(&("wait".to_owned(), Outcome::Cancelled))
        };
        eventually(
            "the hub gives the call up",
            Duration::from_secs(3),
            cancelled,
        )
        .await;
        eventually("the server is told to stop", Duration::from_secs(3), || {
            upstream.cancellations() == before + 1
        })
        .await;
        // The hub is not held up: the next call goes through.
        let result = alice
            .peer()
            .call_tool(call("up__count", json!({})))
            .await
            .unwrap();
        assert!(text_of(&result).contains("counted"), "{era}");
        gate.records.lock().unwrap().clear();
        let _ = alice.cancel().await;
    }

    // Without a progress token (a client of another SDK), in 2026-07-28: the HTTP request
    // going away cancels the call.
    let before = upstream.cancellations();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "up__wait", "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"}
        }
    }});
    let request = reqwest::Client::new()
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "up__wait")
        .header("x-test-user", "alice")
        .body(body.to_string())
        .send();
    tokio::select! {
        response = request => panic!("the call was answered: {response:?}"),
        () = upstream.started.notified() => {}
    }
    eventually(
        "a call whose request went away is stopped upstream",
        Duration::from_secs(3),
        || upstream.cancellations() == before + 1,
    )
    .await;
    eventually(
        "a call whose request went away is recorded as cancelled",
        Duration::from_secs(3),
        || {
            gate.outcomes("alice")
                .contains(&("wait".to_owned(), Outcome::Cancelled))
        },
    )
    .await;
    registry.shutdown();
}

#[tokio::test]
async fn clients_are_told_which_lists_changed_in_both_eras() {
    let Some(bin) = server_everything() else {
        return;
    };
    let (url, registry) = hub(&bin).await;
    let upstream = Upstream::default();
    let up = json!({"name": "up", "url": upstream.serve().await});

    // 2025-11-25: on the session's own stream.
    let session = listener(&url, "alice", ClientLifecycleMode::Initialize).await;
    // 2026-07-28: on a subscription, to tool list changes only.
    let modern = client(&url, Some("alice"), eras()[0].1.clone()).await;
    let tools_only = SubscriptionFilter::builder().tools_list_changed().build();
    let mut subscription = modern.peer().listen(tools_only.clone()).await.unwrap();
    assert_eq!(subscription.acknowledged(), &tools_only);
    let next_notice = async |subscription: &mut rmcp::service::Subscription| {
        tokio::time::timeout(Duration::from_secs(30), subscription.next())
            .await
            .expect("a notice on the subscription")
            .unwrap()
            .expect("the subscription is open")
    };

    // A server of tools only is added: the tools changed, nothing else.
    registry.add(serde_json::from_value(up).unwrap());
    session.service().until(|n| !n.is_empty()).await;
    let notice = next_notice(&mut subscription).await;
    assert!(
        matches!(notice, ServerNotification::ToolListChangedNotification(_)),
        "{notice:?}"
    );
    let names: Vec<String> = modern
        .peer()
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.contains(&"up__wait".to_owned()), "{names:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(session.service().notices(), [Notice::Tools]);

    // server-everything is removed: its tools, prompts and resources are gone.
    assert!(registry.remove("ev"));
    let heard = session.service().until(|n| n.len() >= 4).await;
    // The client's handler runs each notice in a task of its own: their order is not kept.
    let count = |notice: Notice| heard.iter().filter(|n| **n == notice).count();
    assert_eq!(
        (heard.len(), count(Notice::Tools), count(Notice::Prompts)),
        (4, 2, 1),
        "{heard:?}"
    );
    assert_eq!(count(Notice::Resources), 1, "{heard:?}");
    let notice = next_notice(&mut subscription).await;
    assert!(
        matches!(notice, ServerNotification::ToolListChangedNotification(_)),
        "{notice:?}"
    );
    let names: Vec<String> = modern
        .peer()
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["up__count", "up__wait"]);

    let _ = subscription.cancel().await;
    let _ = session.cancel().await;
    let _ = modern.cancel().await;
    registry.shutdown();
}
