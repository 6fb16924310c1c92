//! The hub's `/mcp` end to end, on a loopback port: the reference `server-everything`
//! registered in `mcp_servers`, reached by an MCP client (rmcp) in both protocol eras with
//! the hub's API keys, each caller seeing and calling only what its `mcp:<server>/<tool>`
//! grants allow (tools, and resources by their names).

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use agenthub::app::{self, AppState};
use agenthub::store::Store;
use agenthub_mcp_registry::registry::State;
use agenthub_test_support::mcp::{call, connect, eras, server_everything, text_of, tool_names};
use http::HeaderValue;
use http::header::AUTHORIZATION;
use rmcp::model::{CallToolRequestParams, ErrorCode, ReadResourceRequestParams, ResourceContents};
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
"#,
            bin = bin.display()
        );
        let InProcessHub {
            state,
            admin,
            store,
            db,
        } = InProcessHub::start(&yaml).await;
        let router = app::router(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
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
        let key = self
            .admin_post(
                "/api/v1/keys",
                json!({"name": "mcp", "owner": name, "scopes": ["mcp"]}),
            )
            .await;
        key["key"].as_str().unwrap().to_owned()
    }

    async fn client(
        &self,
        key: &str,
        lifecycle: ClientLifecycleMode,
    ) -> RunningService<RoleClient, ()> {
        let bearer = HeaderValue::from_str(&format!("Bearer {key}")).unwrap();
        let headers = HashMap::from([(AUTHORIZATION, bearer)]);
        connect(&format!("{}/mcp", self.base), headers, lifecycle).await
    }

    async fn stop(self) {
        self.state.mcp.registry().shutdown();
        self.store.close().await;
    }
}

fn sum() -> CallToolRequestParams {
    call("ev__get-sum", json!({"a": 20, "b": 22}))
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
