//! The hub as a client of a real MCP server: the reference `server-everything` (npm,
//! installed in `tests/mcp` by `tests/run`), over stdio and over streamable HTTP.
//!
//! Without `tests/mcp/node_modules` the tests print a notice and pass, except under CI (`CI` or
//! `AGENTHUB_REQUIRE_SDK` set, as `.ci/run` does), where the peer's absence is a failure.

use std::collections::BTreeMap;
use std::time::Duration;

use agenthub_mcp_registry::config::{McpServerConfig, McpTimeouts};
use agenthub_mcp_registry::upstream::{Connection, Secrets, UpstreamError};
use agenthub_test_support::mcp::{EverythingOverHttp, server_everything};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

struct Store(BTreeMap<&'static str, &'static str>);

impl Secrets for Store {
    fn reveal(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| (*v).to_owned())
    }
}

fn no_secrets() -> Store {
    Store(BTreeMap::new())
}

fn server(value: serde_json::Value) -> McpServerConfig {
    serde_json::from_value(value).unwrap()
}

fn timeouts() -> McpTimeouts {
    McpTimeouts {
        connect: Duration::from_secs(30),
        request: Duration::from_secs(30),
    }
}

async fn check_catalog_and_call(connection: &Connection) {
    let catalog = connection.catalog().await.unwrap();
    let names: Vec<&str> = catalog.tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"echo"), "{names:?}");
    assert!(names.contains(&"get-sum"), "{names:?}");
    assert!(!catalog.resources.is_empty());
    assert!(!catalog.resource_templates.is_empty());
    assert!(!catalog.prompts.is_empty());
    assert!(catalog.server.is_some());

    let result = connection
        .peer()
        .call_tool(
            CallToolRequestParams::new("get-sum")
                .with_arguments(json!({"a": 2, "b": 3}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(text.contains('5'), "{text}");
}

#[tokio::test]
async fn stdio_servers_are_started_listed_and_called() {
    let Some(bin) = server_everything() else {
        return;
    };
    let config = server(json!({
        "name": "everything",
        "command": "node",
        "args": [bin, "stdio"],
        "env": {"EVERYTHING_TOKEN": "secret:token"},
    }));
    let secrets = Store(BTreeMap::from([("token", "t0ken")]));
    let connection = Connection::open(&config, timeouts(), &secrets)
        .await
        .unwrap();
    check_catalog_and_call(&connection).await;

    // The process sees its own environment (secrets resolved), not the hub's.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let result = connection
        .peer()
        .call_tool(CallToolRequestParams::new("get-env"))
        .await
        .unwrap();
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(
        text.contains("EVERYTHING_TOKEN") && text.contains("t0ken"),
        "{text}"
    );
    assert!(text.contains("PATH"), "{text}");
    assert!(!text.contains("CARGO_MANIFEST_DIR"), "{text}");
    connection.close().await;
}

#[tokio::test]
async fn streamable_http_servers_are_listed_and_called() {
    let Some(bin) = server_everything() else {
        return;
    };
    let upstream = EverythingOverHttp::start(&bin);
    let config = server(json!({
        "name": "everything",
        "url": upstream.url,
        "headers": {"x-upstream-key": "secret:key"},
    }));
    let secrets = Store(BTreeMap::from([("key", "k")]));
    let connection = Connection::open(&config, timeouts(), &secrets)
        .await
        .unwrap();
    check_catalog_and_call(&connection).await;
    connection.close().await;
}

#[tokio::test]
async fn failures_are_classified() {
    // A secret that is not in the store.
    let config = server(json!({
        "name": "a", "url": "http://127.0.0.1:9/mcp", "bearer_token": "secret:missing",
    }));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, UpstreamError::Setup(m) if m.contains("missing")),
        "{error:?}"
    );

    // Nothing listening.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = server(json!({"name": "a", "url": format!("http://127.0.0.1:{port}/mcp")}));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, UpstreamError::Connect(_)), "{error:?}");

    // A program that does not exist.
    let config = server(json!({"name": "a", "command": "/nonexistent/mcp-server"}));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, UpstreamError::Connect(m) if m.contains("cannot start")),
        "{error:?}"
    );

    // A process that never answers the handshake.
    let config = server(json!({
        "name": "a", "command": "sleep", "args": ["30"],
        "timeouts": {"connect": "500ms"},
    }));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, UpstreamError::Timeout(_)), "{error:?}");
}
