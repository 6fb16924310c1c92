//! Hubs registered with each other, on loopback ports: hub B serves server-everything as `ev`,
//! hub A registers B as `b` through its admin API (B's key kept in A's secret store), and A's
//! clients call B's tools through both hubs in both protocol eras. Then B registers A as `a`:
//! neither publishes the other's tools back (`b__a__…`, `a__b__…`), calls still work, and a
//! request that already passed through a hub, or through too many, is refused with the loop
//! error — also by B, for a chain A carried on in the `x-agenthub-via` header.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use agenthub::app::{self, AppState};
use agenthub::store::Store;
use agenthub_mcp_registry::face::LOOP_DETECTED;
use agenthub_mcp_registry::registry::State;
use agenthub_test_support::mcp::{call, connect, eras, server_everything, text_of, tool_names};
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, ErrorCode};
use rmcp::service::ClientLifecycleMode;
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
    /// A hub serving `servers` (YAML list items), allowed to register loopback servers
    /// through its API.
    async fn start(servers: &str) -> Self {
        let yaml = format!(
            "mcp:\n  allow_private_networks: true\nmcp_servers:\n{servers}\nauthorization:\n  \
             starter_policy: false\npolicies:\n  - {{subject: \"role:admin\", resource: \"*\", \
             action: \"*\"}}\n"
        );
        let InProcessHub {
            state,
            admin,
            store,
            db,
        } = InProcessHub::start(&yaml).await;
        let router = app::router(state.clone());
        let address = agenthub_test_support::serve_on_loopback(router).await;
        Self {
            base: format!("http://{address}"),
            admin,
            http: reqwest::Client::new(),
            store,
            state,
            _db: db,
        }
    }

    fn id(&self) -> String {
        self.state.mcp.registry().hub_id().to_string()
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
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{path}: {body}");
        body
    }

    /// Registers `other` as `name`, reached with `other`'s admin key kept in this hub's secret
    /// store, and waits until it is ready.
    async fn register(&self, name: &str, other: &Hub) {
        let secret = format!("{name}-key");
        self.admin_post("/secrets", json!({"name": secret, "value": other.admin}))
            .await;
        self.admin_post(
            "/mcp/servers",
            json!({
                "name": name,
                "url": format!("{}/mcp", other.base),
                "bearer_token": format!("secret:{secret}"),
            }),
        )
        .await;
        self.wait_ready(name).await;
    }

    async fn wait_ready(&self, name: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.state.mcp.registry().status();
            if status
                .iter()
                .any(|s| s.name == name && s.state == State::Ready)
            {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{status:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The headers of a client of this hub: its admin key, and `via` as the hop header.
    fn headers(&self, via: Option<&str>) -> HashMap<HeaderName, HeaderValue> {
        let mut headers = HashMap::from([(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", self.admin)).unwrap(),
        )]);
        if let Some(via) = via {
            headers.insert(
                HeaderName::from_static("x-agenthub-via"),
                HeaderValue::from_str(via).unwrap(),
            );
        }
        headers
    }

    async fn client(
        &self,
        via: Option<&str>,
        lifecycle: ClientLifecycleMode,
    ) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        connect(&format!("{}/mcp", self.base), self.headers(via), lifecycle).await
    }

    async fn stop(self) {
        self.state.mcp.registry().shutdown();
        self.store.close().await;
    }
}

fn sum() -> CallToolRequestParams {
    call("b__ev__get-sum", json!({"a": 20, "b": 22}))
}

/// The JSON-RPC error a request answered.
fn error_of<T: std::fmt::Debug>(answer: Result<T, rmcp::ServiceError>) -> rmcp::ErrorData {
    match answer {
        Err(rmcp::ServiceError::McpError(data)) => data,
        other => panic!("expected an MCP error, got {other:?}"),
    }
}

fn modern() -> ClientLifecycleMode {
    eras()[0].1.clone()
}

/// `n` made-up hub ids, comma-separated.
fn chain(n: usize) -> String {
    (0..n)
        .map(|i| format!("elsewhere-{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn hubs_federate_without_loops() {
    let Some(bin) = server_everything() else {
        return;
    };
    let b = Hub::start(&format!(
        "  - name: ev\n    command: node\n    args: [\"{}\", \"stdio\"]",
        bin.display()
    ))
    .await;
    b.wait_ready("ev").await;
    let a = Hub::start("  []").await;
    assert_ne!(a.id(), b.id());
    a.register("b", &b).await;

    // A's clients see B's tools under both prefixes and call them through both hubs.
    for (era, lifecycle) in eras() {
        let client = a.client(None, lifecycle).await;
        let names = tool_names(&client).await;
        assert!(
            names.contains(&"b__ev__get-sum".to_owned()),
            "{era}: {names:?}"
        );
        let result = client.peer().call_tool(sum()).await.unwrap();
        assert!(text_of(&result).contains("42"), "{era}: {result:?}");
        client.cancel().await.unwrap();
    }
    let tools_of_b_at_a = a.state.mcp.registry().federation().tools().len();

    // The cycle: B registers A.
    b.register("a", &a).await;
    // B reads A's catalog as B: A leaves out what comes from B, so nothing of A's is B's own.
    let at_b = tool_names(&b.client(None, modern()).await).await;
    assert!(at_b.contains(&"ev__get-sum".to_owned()), "{at_b:?}");
    assert!(!at_b.iter().any(|n| n.starts_with("a__")), "{at_b:?}");
    // Give A a chance to hear of B's change, then check it publishes no `b__a__…`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (era, lifecycle) in eras() {
        let client = a.client(None, lifecycle).await;
        let at_a = tool_names(&client).await;
        assert!(
            !at_a.iter().any(|n| n.starts_with("b__a__")),
            "{era}: {at_a:?}"
        );
        assert!(
            at_a.contains(&"b__ev__get-sum".to_owned()),
            "{era}: {at_a:?}"
        );
        let result = client.peer().call_tool(sum()).await.unwrap();
        assert!(text_of(&result).contains("42"), "{era}: {result:?}");
        client.cancel().await.unwrap();
    }
    assert_eq!(
        a.state.mcp.registry().federation().tools().len(),
        tools_of_b_at_a
    );

    // A request that already passed through A is a loop.
    let looped = a.client(Some(&a.id()), modern()).await;
    let error = error_of(looped.peer().call_tool(sum()).await);
    assert_eq!(error.code, LOOP_DETECTED, "{error:?}");
    assert!(error.message.contains(&a.id()), "{error:?}");
    // Lists still answer: A's own id on the chain hides nothing of its upstreams.
    assert!(
        tool_names(&looped)
            .await
            .contains(&"b__ev__get-sum".to_owned())
    );
    looped.cancel().await.unwrap();

    // One that passed through B: A leaves B's tools out, and will not send it back there.
    let from_b = a.client(Some(&format!("x, {}", b.id())), modern()).await;
    let names = tool_names(&from_b).await;
    assert!(!names.iter().any(|n| n.starts_with("b__")), "{names:?}");
    let error = error_of(from_b.peer().call_tool(sum()).await);
    assert_eq!(error.code, LOOP_DETECTED, "{error:?}");
    assert!(error.message.contains(&b.id()), "{error:?}");
    from_b.cancel().await.unwrap();

    // The chain goes on in the header: 6 hubs before A is fine; 7 before A makes 8 at B,
    // which B refuses (and A passes B's error on).
    let six = a.client(Some(&chain(6)), modern()).await;
    let result = six.peer().call_tool(sum()).await.unwrap();
    assert!(text_of(&result).contains("42"), "{result:?}");
    six.cancel().await.unwrap();
    let seven = a.client(Some(&chain(7)), modern()).await;
    let error = error_of(seven.peer().call_tool(sum()).await);
    assert_eq!(error.code, LOOP_DETECTED, "{error:?}");
    assert!(error.message.contains("8 hubs"), "{error:?}");
    seven.cancel().await.unwrap();

    // A chain at the cap is refused at once, lists included; a malformed one too.
    let eight = a.client(Some(&chain(8)), modern()).await;
    let error = error_of(eight.peer().list_tools(None).await);
    assert_eq!(error.code, LOOP_DETECTED, "{error:?}");
    eight.cancel().await.unwrap();
    let bad = a.client(Some("a;b"), modern()).await;
    let error = error_of(bad.peer().call_tool(sum()).await);
    assert_eq!(error.code, ErrorCode::INVALID_REQUEST, "{error:?}");
    bad.cancel().await.unwrap();

    a.stop().await;
    b.stop().await;
}

/// The hub's id is made once and kept: a hub restarted on the same store keeps it.
#[tokio::test]
async fn the_hub_id_is_kept_in_the_store() {
    let db = TestDb::sqlite();
    let (_, first, _) = support::lab::directory(&db.url).await;
    let (_, second, _) = directory_again(&db.url).await;
    assert_eq!(first.hub_id(), second.hub_id());
    assert_eq!(first.hub_id().len(), 32);
}

async fn directory_again(
    url: &agenthub::store::DatabaseUrl,
) -> (Store, std::sync::Arc<agenthub::directory::Accounts>, ()) {
    let store = Store::open(url, &support::lab::store_options())
        .await
        .unwrap();
    let keyring = agenthub::secrets::Keyring::new(
        agenthub::secrets::MasterKey::generate(),
        None,
        agenthub::secrets::KeyOrigin::Env,
    );
    let accounts = agenthub::directory::Accounts::load(store.clone(), std::sync::Arc::new(keyring))
        .await
        .unwrap();
    (store, std::sync::Arc::new(accounts), ())
}
