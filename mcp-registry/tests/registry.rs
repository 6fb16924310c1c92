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
