//! The gate's extra tools on the face, without any upstream: listed in the face's pages per
//! caller (the group's `may_list_tool` and the gate's own say), called with their arguments
//! checked and `_meta` handed over, their outcome recorded, selected and renamed by virtual
//! servers, and their list changes told to clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub_mcp_registry::calls::{CallFailure, CallReport, Outcome, Refusal, ToolCall};
use agenthub_mcp_registry::config::McpSettings;
use agenthub_mcp_registry::extra::{ExtraTool, ExtraTools};
use agenthub_mcp_registry::face::{Face, Gate, Scope};
use agenthub_mcp_registry::registry::Registry;
use agenthub_mcp_registry::upstream::Secrets;
use agenthub_mcp_registry::virtual_servers::{McpVirtualServerConfig, VirtualServers};
use agenthub_test_support::mcp::{call, connect, eras, text_of, tool_names};
use rmcp::model::{
    CallToolResult, ContentBlock, ErrorCode, JsonObject, MetaObject, RequestMetaObject,
    ServerNotification, SubscriptionFilter, Tool,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio::sync::watch;

struct NoSecrets;

impl Secrets for NoSecrets {
    fn reveal(&self, _: &str) -> Option<String> {
        None
    }
}

/// Callers name themselves in `x-test-user`. The group `hub` holds the extra tools; alice may
/// use them all, bob every one but `secret` (which the gate's own check hides), carol none
/// (the group's permission). Each tool answers with its name, the `text` argument and the
/// `_meta.traceparent` it was given; `broken` fails.
struct ExtraGate {
    tools: Mutex<Arc<ExtraTools>>,
    changes: watch::Sender<u64>,
    records: Mutex<Vec<(String, String, Outcome)>>,
}

impl ExtraGate {
    fn new(names: &[&str]) -> Self {
        Self {
            tools: Mutex::new(Arc::new(tools(names))),
            changes: watch::Sender::new(0),
            records: Mutex::default(),
        }
    }

    fn set(&self, names: &[&str]) {
        *self.tools.lock().unwrap() = Arc::new(tools(names));
        self.changes.send_modify(|n| *n += 1);
    }
}

fn tools(names: &[&str]) -> ExtraTools {
    let Ok(serde_json::Value::Object(schema)) = serde_json::from_value(json!({
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    })) else {
        unreachable!()
    };
    let schema = Arc::new(schema);
    ExtraTools::new(names.iter().map(|name| ExtraTool {
        server: "hub".into(),
        name: (*name).into(),
        tool: Tool::new(
            format!("hub__{name}"),
            format!("The {name} tool."),
            schema.clone(),
        ),
    }))
}

impl Gate for ExtraGate {
    type Caller = String;
    type Ticket = ();

    fn caller(&self, request: &http::request::Parts) -> Option<String> {
        request
            .headers
            .get("x-test-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn may_list_tool(&self, caller: &String, server: &str, _: &str) -> bool {
        server == "hub" && caller != "carol"
    }

    fn may_call_tool(&self, caller: &String, server: &str, tool: &str) -> bool {
        self.may_list_tool(caller, server, tool)
    }

    async fn before_call(
        &self,
        _: &String,
        _: ToolCall<'_>,
        _: &mut JsonObject,
    ) -> Result<(), Refusal> {
        panic!("extra tools are governed by the gate itself")
    }

    async fn after_call(
        &self,
        _: &String,
        _: ToolCall<'_>,
        (): (),
        _: Option<&mut CallToolResult>,
    ) -> Result<(), String> {
        panic!("extra tools are governed by the gate itself")
    }

    fn record(&self, caller: &String, report: &CallReport<'_>) {
        self.records.lock().unwrap().push((
            caller.clone(),
            format!("{}/{}", report.call.server, report.call.tool),
            report.outcome,
        ));
    }

    fn extra_tools(&self) -> Arc<ExtraTools> {
        self.tools.lock().unwrap().clone()
    }

    fn extra_tool_changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.changes.subscribe())
    }

    fn may_list_extra_tool(&self, caller: &String, tool: &ExtraTool) -> bool {
        caller == "alice" || tool.name != "secret"
    }

    fn may_call_extra_tool(&self, caller: &String, tool: &ExtraTool) -> bool {
        self.may_list_extra_tool(caller, tool)
    }

    async fn call_extra_tool(
        &self,
        _: &String,
        tool: &ExtraTool,
        arguments: JsonObject,
        meta: Option<RequestMetaObject>,
    ) -> Result<(CallToolResult, Outcome), CallFailure> {
        if tool.name == "broken" {
            return Err(CallFailure {
                outcome: Outcome::UpstreamFailed,
                error: rmcp::ErrorData::internal_error("broken", None),
            });
        }
        let traceparent = meta
            .as_ref()
            .and_then(|m| m.get_traceparent())
            .unwrap_or("none");
        let text = format!("{} says {} ({traceparent})", tool.name, arguments["text"]);
        Ok((
            CallToolResult::success(vec![ContentBlock::text(text)]),
            Outcome::Ok,
        ))
    }
}

/// The face (or the virtual server `talk`, selecting `hub/b*` and renaming `hub/beta`) over
/// an empty registry paging by 2, deciding with `gate`, on a loopback port; its URL.
async fn serve(gate: Arc<ExtraGate>, virtual_server: bool) -> String {
    // The clients' TLS provider (they speak plain HTTP here, but build one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let settings = McpSettings {
        page_size: 2,
        ..McpSettings::default()
    };
    let registry = Registry::new(settings, Arc::new(NoSecrets));
    let mut face = Face::new(registry, gate);
    if virtual_server {
        let servers = VirtualServers::default();
        let talk: McpVirtualServerConfig = serde_json::from_value(json!({
            "name": "talk", "tools": ["hub/b*"], "rename": {"hub/beta": "b"},
        }))
        .unwrap();
        servers.set(&[talk]);
        face = face.with_scope(Scope::Virtual {
            name: "talk".into(),
            servers,
        });
    }
    let service = StreamableHttpService::new(
        move || Ok(face.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let address = agenthub_test_support::serve_on_loopback(app).await;
    format!("http://{address}/mcp")
}

fn as_user(user: &str) -> HashMap<http::HeaderName, http::HeaderValue> {
    HashMap::from([(
        http::HeaderName::from_static("x-test-user"),
        http::HeaderValue::from_str(user).unwrap(),
    )])
}

fn error_code(result: Result<CallToolResult, rmcp::ServiceError>) -> ErrorCode {
    match result {
        Err(rmcp::ServiceError::McpError(error)) => error.code,
        other => panic!("expected an MCP error, got {other:?}"),
    }
}

#[tokio::test]
async fn extra_tools_are_listed_per_caller_called_and_recorded_in_both_eras() {
    let gate = Arc::new(ExtraGate::new(&["alpha", "beta", "broken", "secret"]));
    let url = serve(gate.clone(), false).await;
    for (era, lifecycle) in eras() {
        let alice = connect(&url, as_user("alice"), lifecycle.clone()).await;
        // Four tools over pages of two.
        let first = alice.peer().list_tools(None).await.unwrap();
        assert_eq!(first.tools.len(), 2, "{era}");
        assert!(first.next_cursor.is_some(), "{era}");
        assert_eq!(
            tool_names(&alice).await,
            ["hub__alpha", "hub__beta", "hub__broken", "hub__secret"],
            "{era}"
        );
        let bob = connect(&url, as_user("bob"), lifecycle.clone()).await;
        assert_eq!(
            tool_names(&bob).await,
            ["hub__alpha", "hub__beta", "hub__broken"],
            "{era}"
        );
        let carol = connect(&url, as_user("carol"), lifecycle.clone()).await;
        assert!(tool_names(&carol).await.is_empty(), "{era}");

        let mut request = call("hub__alpha", json!({"text": "hi"}));
        let mut meta = MetaObject::new();
        meta.set_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        request.meta = Some(meta.into());
        let result = bob.peer().call_tool(request).await.unwrap();
        assert!(
            text_of(&result).contains(
                r#"alpha says \"hi\" (00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01)"#
            ),
            "{era}: {result:?}"
        );
        for (user, request, code) in [
            // Hidden by the gate's own check: unknown.
            (
                "bob",
                call("hub__secret", json!({"text": "x"})),
                ErrorCode::INVALID_PARAMS,
            ),
            // Not the group's: unknown.
            (
                "carol",
                call("hub__alpha", json!({"text": "x"})),
                ErrorCode::INVALID_PARAMS,
            ),
            // Arguments against the schema.
            (
                "bob",
                call("hub__beta", json!({"words": "x"})),
                ErrorCode::INVALID_PARAMS,
            ),
            (
                "bob",
                call("hub__broken", json!({"text": "x"})),
                ErrorCode::INTERNAL_ERROR,
            ),
        ] {
            let client = if user == "bob" { &bob } else { &carol };
            assert_eq!(
                error_code(client.peer().call_tool(request).await),
                code,
                "{era}"
            );
        }
    }
    let records = gate.records.lock().unwrap().clone();
    let expected = [
        ("bob", "hub/alpha", Outcome::Ok),
        ("bob", "hub/secret", Outcome::RefusedByPolicy),
        ("carol", "hub/alpha", Outcome::RefusedByPolicy),
        ("bob", "hub/beta", Outcome::InvalidArguments),
        ("bob", "hub/broken", Outcome::UpstreamFailed),
    ];
    let expected: Vec<(String, String, Outcome)> = expected
        .iter()
        .chain(expected.iter())
        .map(|(u, t, o)| ((*u).to_owned(), (*t).to_owned(), *o))
        .collect();
    assert_eq!(records, expected);
}

#[tokio::test]
async fn virtual_servers_select_and_rename_extra_tools() {
    let gate = Arc::new(ExtraGate::new(&["alpha", "beta", "broken"]));
    let url = serve(gate, true).await;
    let alice = connect(&url, as_user("alice"), eras()[0].1.clone()).await;
    assert_eq!(tool_names(&alice).await, ["b", "hub__broken"]);
    let result = alice
        .peer()
        .call_tool(call("b", json!({"text": "yo"})))
        .await
        .unwrap();
    assert!(text_of(&result).contains("beta says"), "{result:?}");
    for name in ["hub__beta", "hub__alpha"] {
        assert_eq!(
            error_code(
                alice
                    .peer()
                    .call_tool(call(name, json!({"text": "x"})))
                    .await
            ),
            ErrorCode::INVALID_PARAMS,
            "{name}"
        );
    }
}

#[tokio::test]
async fn clients_are_told_when_extra_tools_change() {
    let gate = Arc::new(ExtraGate::new(&["alpha"]));
    let url = serve(gate.clone(), false).await;
    let modern = connect(&url, as_user("alice"), eras()[0].1.clone()).await;
    let tools_only = SubscriptionFilter::builder().tools_list_changed().build();
    let mut subscription = modern.peer().listen(tools_only).await.unwrap();
    gate.set(&["alpha", "gamma"]);
    let notice = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("a notice on the subscription")
        .unwrap()
        .expect("the subscription is open");
    assert!(
        matches!(notice, ServerNotification::ToolListChangedNotification(_)),
        "{notice:?}"
    );
    assert_eq!(tool_names(&modern).await, ["hub__alpha", "hub__gamma"]);
    let _ = subscription.cancel().await;
}
