//! The hub's MCP face over streamable HTTP, in both protocol eras, with the reference
//! `server-everything` as its upstream: each caller sees and calls only the tools its gate
//! allows, and arguments are checked against the tool's schema before they go upstream.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agenthub_mcp_registry::config::{McpSettings, McpTimeouts};
use agenthub_mcp_registry::face::{Face, Gate};
use agenthub_mcp_registry::registry::{Registry, State};
use agenthub_mcp_registry::upstream::Secrets;
use agenthub_test_support::mcp::{call, connect, eras, server_everything, text_of};
use rmcp::model::{CallToolRequestParams, ErrorCode, GetPromptRequestParams, ProtocolVersion};
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

/// Callers name themselves in `x-test-user`; alice may use every tool, bob only `get-sum`.
struct TestGate;

impl Gate for TestGate {
    type Caller = String;

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
            "alice" => true,
            "bob" => server == "ev" && tool == "get-sum",
            _ => false,
        }
    }
}

/// The face on a loopback port, over a registry holding server-everything as `ev`.
async fn hub(bin: &Path) -> (String, Registry) {
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
    let face = Face::new(registry.clone(), Arc::new(TestGate));
    let service = StreamableHttpService::new(
        move || Ok(face.clone()),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/mcp"), registry)
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
