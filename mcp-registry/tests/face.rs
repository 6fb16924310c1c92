//! The hub's MCP face over streamable HTTP, in both protocol eras, with the reference
//! `server-everything` as its upstream: each caller sees and calls only the tools, prompts and
//! resources its gate allows, arguments are checked against the tool's schema before they go
//! upstream, resources are read under the hub's URIs, and the gate's hooks around a call
//! (refusals, rewritten arguments, blocked results, records) shape what the caller gets.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub_mcp_registry::calls::{CallReport, Outcome, Refusal, ToolCall};
use agenthub_mcp_registry::config::{McpSettings, McpTimeouts};
use agenthub_mcp_registry::face::{BLOCKED, Face, Gate, LIMITED};
use agenthub_mcp_registry::registry::{Registry, State};
use agenthub_mcp_registry::upstream::Secrets;
use agenthub_test_support::mcp::{call, connect, eras, server_everything, text_of};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, ErrorCode, GetPromptRequestParams,
    JsonObject, ProtocolVersion, ReadResourceRequestParams, ReadResourceResult, ResourceContents,
    ResultType,
};
use rmcp::service::{ClientLifecycleMode, RoleClient, RunningService};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
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
    let settings = McpSettings {
        timeouts: McpTimeouts {
            connect: Duration::from_secs(30),
            request: Duration::from_secs(30),
        },
        ..McpSettings::default()
    };
    let registry = Registry::new(settings, Arc::new(NoSecrets));
    registry.add(
        serde_json::from_value(json!({"name": "ev", "command": "node", "args": [bin, "stdio"]}))
            .unwrap(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while registry.status()[0].state != State::Ready {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            registry.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gate = Arc::new(TestGate::default());
    let face = Face::new(registry.clone(), gate.clone());
    let service = StreamableHttpService::new(
        move || Ok(face.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/mcp"), registry, gate)
}

async fn client(
    url: &str,
    user: Option<&str>,
    lifecycle: ClientLifecycleMode,
) -> RunningService<RoleClient, ()> {
    let mut headers = HashMap::new();
    if let Some(user) = user {
        headers.insert(
            http::HeaderName::from_static("x-test-user"),
            http::HeaderValue::from_str(user).unwrap(),
        );
    }
    connect(url, headers, lifecycle).await
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
