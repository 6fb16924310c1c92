//! The registry against real servers: two copies of the reference `server-everything` under
//! different prefixes, federated; a server whose process dies is restarted; a legacy SSE server
//! that goes away is reconnected to; a server that cannot start does not hold up the others.

use std::sync::Arc;
use std::time::Duration;

use agenthub_mcp_registry::config::{McpServerConfig, McpSettings, McpTimeouts};
use agenthub_mcp_registry::registry::{Registry, State, Status};
use agenthub_mcp_registry::upstream::Secrets;
use agenthub_test_support::mcp::{EverythingOverHttp, server_everything};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

struct NoSecrets;

impl Secrets for NoSecrets {
    fn reveal(&self, _: &str) -> Option<String> {
        None
    }
}

fn registry() -> Registry {
    let settings = McpSettings {
        timeouts: McpTimeouts {
            connect: Duration::from_secs(30),
            request: Duration::from_secs(30),
        },
        ..McpSettings::default()
    };
    Registry::new(settings, Arc::new(NoSecrets))
}

fn server(value: serde_json::Value) -> McpServerConfig {
    serde_json::from_value(value).unwrap()
}

/// Waits (bounded) until `pick` holds for the status of `name`.
async fn until(registry: &Registry, name: &str, pick: impl Fn(&Status) -> bool) -> Status {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = registry
            .status()
            .into_iter()
            .find(|s| s.name == name)
            .expect("registered");
        if pick(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never got there: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn servers_are_federated_under_their_prefixes_and_routed() {
    let Some(bin) = server_everything() else {
        return;
    };
    let registry = registry();
    registry.add(server(
        json!({"name": "one", "command": "node", "args": [bin, "stdio"]}),
    ));
    registry.add(server(json!({
        "name": "two", "command": "node", "args": [bin, "stdio"], "prefix": "ev",
    })));
    registry.add(server(
        json!({"name": "broken", "command": "/nonexistent/server"}),
    ));
    for name in ["one", "two"] {
        let status = until(&registry, name, |s| s.state == State::Ready).await;
        assert!(status.tools > 0 && status.prompts > 0, "{status:?}");
    }
    let broken = until(&registry, "broken", |s| s.state == State::Failed).await;
    assert!(
        broken
            .error
            .as_deref()
            .unwrap_or("")
            .contains("cannot start"),
        "{broken:?}"
    );

    let federation = registry.federation();
    let names: Vec<&str> = federation.tools().iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"one__get-sum"), "{names:?}");
    assert!(names.contains(&"ev__get-sum"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("two__")), "{names:?}");
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    assert!(federation.prompt_names().len() >= 2);

    let origin = federation.tool_names().resolve("ev__get-sum").unwrap();
    assert_eq!(
        (origin.server.as_str(), origin.upstream.as_str()),
        ("two", "get-sum")
    );
    let connection = registry.connection(&origin.server).unwrap();
    let result = connection
        .peer()
        .call_tool(
            CallToolRequestParams::new(origin.upstream.clone())
                .with_arguments(json!({"a": 40, "b": 2}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&result.content)
            .unwrap()
            .contains("42")
    );

    // Removing a server withdraws its tools at once.
    assert!(registry.remove("two"));
    let names: Vec<String> = registry
        .federation()
        .tools()
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("ev__")), "{names:?}");
    assert!(registry.connection("two").is_none());
    registry.shutdown();
    assert!(registry.status().is_empty());
}

#[tokio::test]
async fn a_server_whose_process_dies_is_restarted() {
    let Some(bin) = server_everything() else {
        return;
    };
    let registry = registry();
    // The process exits by itself three seconds after each start.
    registry.add(server(json!({
        "name": "flaky",
        "command": "timeout",
        "args": ["3", "node", bin, "stdio"],
    })));
    until(&registry, "flaky", |s| s.state == State::Ready).await;
    let status = until(&registry, "flaky", |s| {
        s.reconnects >= 1 && s.state == State::Ready
    })
    .await;
    assert!(status.tools > 0, "{status:?}");
    assert!(
        registry
            .federation()
            .tool_names()
            .resolve("flaky__echo")
            .is_some()
    );
    registry.shutdown();
}

#[tokio::test]
async fn an_sse_server_that_goes_away_is_reconnected_to() {
    let Some(bin) = server_everything() else {
        return;
    };
    let mut upstream = EverythingOverHttp::start_sse(&bin);
    let registry = registry();
    registry.add(server(
        json!({"name": "legacy", "transport": "sse", "url": upstream.url}),
    ));
    let status = until(&registry, "legacy", |s| s.state == State::Ready).await;
    assert!(status.tools > 0 && status.resources > 0, "{status:?}");
    assert!(
        registry
            .federation()
            .tool_names()
            .resolve("legacy__get-sum")
            .is_some()
    );

    // The process is killed (its stream ends) and another takes its port.
    upstream.restart();
    let status = until(&registry, "legacy", |s| {
        s.reconnects >= 1 && s.state == State::Ready
    })
    .await;
    assert!(status.tools > 0, "{status:?}");
    let connection = registry.connection("legacy").unwrap();
    let result = connection
        .peer()
        .call_tool(
            CallToolRequestParams::new("get-sum")
                .with_arguments(json!({"a": 40, "b": 2}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(
        serde_json::to_string(&result.content)
            .unwrap()
            .contains("42")
    );
    registry.shutdown();
}

/// A 2026-07-28 server (rmcp, streamable HTTP) whose tools change on cue, announced on the
/// `subscriptions/listen` streams its clients open.
#[derive(Clone)]
struct Changing {
    tools: Arc<std::sync::Mutex<Vec<rmcp::model::Tool>>>,
    changed: Arc<tokio::sync::Notify>,
}

impl Changing {
    fn tool(name: &str) -> rmcp::model::Tool {
        let serde_json::Value::Object(schema) = json!({"type": "object"}) else {
            unreachable!()
        };
        rmcp::model::Tool::new(name.to_owned(), "a tool", Arc::new(schema))
    }
}

impl rmcp::ServerHandler for Changing {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _: Option<rmcp::model::PaginatedRequestParams>,
        _: rmcp::service::RequestContext<rmcp::service::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        let tools = self.tools.lock().unwrap().clone();
        Ok(rmcp::model::ListToolsResult::with_all_items(tools))
    }

    fn accepted_subscription_filter(
        &self,
        _: &rmcp::model::SubscriptionFilter,
    ) -> Option<rmcp::model::SubscriptionFilter> {
        Some(
            rmcp::model::SubscriptionFilter::builder()
                .tools_list_changed()
                .build(),
        )
    }

    async fn listen(
        &self,
        subscription: rmcp::service::SubscriptionContext,
    ) -> Result<(), rmcp::ErrorData> {
        let sink = subscription.sink();
        loop {
            tokio::select! {
                () = subscription.cancelled() => return Ok(()),
                () = self.changed.notified() => {
                    if sink.notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn a_modern_server_s_list_changes_arrive_on_a_subscription() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let upstream = Changing {
        tools: Arc::new(std::sync::Mutex::new(vec![Changing::tool("first")])),
        changed: Arc::new(tokio::sync::Notify::new()),
    };
    let service = rmcp::transport::streamable_http_server::StreamableHttpService::new(
        {
            let upstream = upstream.clone();
            move || Ok(upstream.clone())
        },
        rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default()
            .into(),
        rmcp::transport::streamable_http_server::StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let address = agenthub_test_support::serve_on_loopback(app).await;

    let registry = registry();
    registry.add(server(
        json!({"name": "modern", "url": format!("http://{address}/mcp")}),
    ));
    until(&registry, "modern", |s| {
        s.state == State::Ready && s.tools == 1
    })
    .await;
    upstream
        .tools
        .lock()
        .unwrap()
        .push(Changing::tool("second"));
    // Told until heard: the subscription may still be opening.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        upstream.changed.notify_waiters();
        let names: Vec<String> = registry
            .federation()
            .tools()
            .iter()
            .map(|t| t.name.clone())
            .collect();
        if names == ["modern__first", "modern__second"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    registry.shutdown();
}
