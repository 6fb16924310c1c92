//! The telemetry pipeline when the store goes away: Postgres is reached through a TCP relay on
//! loopback that the test cuts and restores; SQLite's records file is held by another writer. While it is cut, requests are answered as usual
//! and their records wait in the spill directory; once it is back they are stored, each
//! exactly once. Records spilled when a hub stops are stored by the next start.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub::app::{self, AppState};
use agenthub::config::{ConfigHandle, HubConfig};
use agenthub::governance::Governance;
use agenthub::ops::Metrics;
use agenthub::store::DatabaseUrl;
use agenthub::telemetry::Telemetry;
use agenthub_test_support::fake_llm::FakeOpenAi;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};
use sqlx::Row;
use support::db::TestDb;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// How long records may take to be stored once the store is back.
const WITHIN: Duration = Duration::from_secs(60);

/// A TCP relay to `target` that can be cut (every connection dropped, new ones closed at once)
/// and restored.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (up, connections) = (up.clone(), connections.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue;
                    }
                    let target = target.clone();
                    let relay = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(relay);
                }
            }
        });
        Self {
            port,
            up,
            connections,
            accept,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// `url` (a Postgres URL) through the relay at `port`.
fn through(url: &DatabaseUrl, port: u16) -> (DatabaseUrl, String) {
    let rest = url.url.split_once('@').unwrap().1;
    let (host_port, database) = rest.split_once('/').unwrap();
    let relayed = url.url.replace(host_port, &format!("127.0.0.1:{port}"));
    let _ = database;
    (DatabaseUrl::parse(&relayed).unwrap(), host_port.to_owned())
}

/// A hub's router on `url`, its records spilled to `spill`, and its admin's key.
struct Hub {
    config: HubConfig,
    store: agenthub::store::Store,
    state: AppState,
    router: Router,
    admin: String,
}

impl Hub {
    async fn start(url: &DatabaseUrl, openai: &FakeOpenAi, spill: &std::path::Path) -> Self {
        let config = HubConfig::parse(&yaml(openai, spill), "test.yaml", &|_| None).unwrap();
        let (store, accounts, admin) = support::lab::directory(url).await;
        let handle = ConfigHandle::new(config.clone());
        let governance = Arc::new(
            Governance::load(store.clone(), handle.clone(), "test")
                .await
                .unwrap(),
        );
        let state = AppState::new(accounts, governance, handle);
        let router = app::router(state.clone());
        Self {
            config,
            store,
            state,
            router,
            admin,
        }
    }
}

fn yaml(openai: &FakeOpenAi, spill: &std::path::Path) -> String {
    format!(
        r#"
providers:
  - {{name: fake-openai, kind: openai, base_url: "{url}", api_key: "{key}"}}
models:
  - {{name: gpt, provider: fake-openai}}
telemetry:
  spill_dir: "{spill}"
store:
  connect_timeout: 1s
"#,
        url = openai.base_url(),
        key = FakeOpenAi::API_KEY,
        spill = spill.display(),
    )
}

async fn chat(router: &Router, key: &str, n: usize) -> String {
    let request = Request::post("/v1/chat/completions")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"model": "gpt", "messages": [{"role": "user", "content": format!("message {n}")}]})
                .to_string(),
        ))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200, "request {n}");
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// How many times each request id is stored, read straight from the database.
async fn stored(direct: &sqlx::AnyPool) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in sqlx::query("SELECT extra FROM requests")
        .fetch_all(direct)
        .await
        .unwrap()
    {
        let extra: String = row.get("extra");
        let record: Value = serde_json::from_str(&extra).unwrap();
        *counts
            .entry(record["request_id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    counts
}

async fn wait_stored(direct: &sqlx::AnyPool, n: usize) -> BTreeMap<String, usize> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let counts = stored(direct).await;
        let total: usize = counts.values().sum();
        if total >= n || tokio::time::Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spilled_lines(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum()
}

async fn wait_spill_emptied(dir: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while spilled_lines(dir) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the spill was not emptied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_spilled(dir: &std::path::Path, n: usize) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while spilled_lines(dir) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} records spilled",
            spilled_lines(dir)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_request_is_lost_while_the_store_is_away() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let openai = FakeOpenAi::start();
    let spill = tempfile::tempdir().unwrap();
    let direct_url = db.url.clone();
    let (_, server) = through(&direct_url, 0);
    let relay = Relay::start(server).await;
    let (relayed, _) = through(&direct_url, relay.port);

    let Hub {
        config,
        store,
        state,
        router,
        admin,
    } = Hub::start(&relayed, &openai, spill.path()).await;
    sqlx::any::install_default_drivers();
    let direct = sqlx::AnyPool::connect(&direct_url.url).await.unwrap();

    // The store answers: records are stored.
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(chat(&router, &admin, n).await);
    }
    assert_eq!(wait_stored(&direct, 10).await.len(), 10);

    // The store goes away: requests are still answered, their records spilled.
    relay.cut();
    for n in 10..40 {
        ids.push(chat(&router, &admin, n).await);
    }
    // A denial's audit entry waits with them.
    let refused = router
        .clone()
        .oneshot(
            Request::get("/api/v1/users")
                .header(header::AUTHORIZATION, "Bearer ahk_unknown")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    wait_spilled(spill.path(), 31).await;

    // It comes back: everything is stored, once.
    relay.restore();
    let counts = wait_stored(&direct, 40).await;
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "request {id}: {counts:?}");
    }
    assert_eq!(counts.len(), 40);
    wait_spill_emptied(spill.path()).await;

    // The store goes away again and the hub stops: what it held is spilled, and the next
    // start stores it.
    relay.cut();
    for n in 40..45 {
        ids.push(chat(&router, &admin, n).await);
    }
    state.telemetry.shutdown(Duration::from_secs(30)).await;
    assert!(spilled_lines(spill.path()) >= 5);
    relay.restore();
    let restarted = Telemetry::start(store.clone(), &config.telemetry, &mut Metrics::new());
    let counts = wait_stored(&direct, 45).await;
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "request {id}: {counts:?}");
    }
    // The audit trail went the same way, unbroken: the admin's key was made through it.
    restarted.shutdown(Duration::from_secs(30)).await;
    let entries = store.audit_entries(0, i64::MAX, 10_000).await.unwrap();
    let denials = entries
        .iter()
        .filter(|e| e.entry.action == "denied")
        .count();
    assert_eq!(denials, 1, "{entries:#?}");
    let mut verifier = agenthub::telemetry::audit::Verifier::new();
    for entry in &entries {
        verifier.check(entry).unwrap();
    }

    direct.close().await;
    store.close().await;
    db.drop_database().await;
}

/// How many times each request id is in the store, read through its own queries (the SQLite
/// request log has no rows to count).
async fn logged(store: &agenthub::store::Store) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for event in store
        .list_requests(&agenthub::store::RequestFilter::default(), None, 10_000)
        .await
        .unwrap()
    {
        *counts.entry(event.request_id.unwrap()).or_insert(0) += 1;
    }
    counts
}

/// The default store, SQLite, while another connection holds its records file's write lock:
/// requests are answered, their records spilled, and once the lock is gone each is stored
/// exactly once and the spill empties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_records_file_loses_no_acknowledged_request() {
    let db = TestDb::sqlite();
    let openai = FakeOpenAi::start();
    let spill = tempfile::tempdir().unwrap();
    let Hub {
        store,
        state,
        router,
        admin,
        ..
    } = Hub::start(&db.url, &openai, spill.path()).await;
    let wait_logged = |n: usize| {
        let store = store.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WITHIN;
            loop {
                let counts = logged(&store).await;
                if counts.values().sum::<usize>() >= n || tokio::time::Instant::now() > deadline {
                    return counts;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(chat(&router, &admin, n).await);
    }
    assert_eq!(wait_logged(10).await.len(), 10);

    // Another writer takes the records file and keeps it.
    sqlx::any::install_default_drivers();
    let mut holder = {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(&db.url.records_url())
            .await
            .unwrap()
    };
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    for n in 10..40 {
        ids.push(chat(&router, &admin, n).await);
    }
    wait_spilled(spill.path(), 30).await;

    // It lets go: everything is stored, once, and the spill empties.
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    drop(holder);
    let counts = wait_logged(40).await;
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "request {id}: {counts:?}");
    }
    assert_eq!(counts.len(), 40);
    wait_spill_emptied(spill.path()).await;
    state.telemetry.shutdown(Duration::from_secs(30)).await;
    assert_eq!(
        logged(&store).await,
        counts,
        "nothing stored twice at shutdown"
    );
    store.close().await;
}

/// A collector that is down: requests are answered as usual; the spans are retried with
/// backoff, then dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_never_holds_requests_up() {
    let openai = FakeOpenAi::start();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/traces", closed.local_addr().unwrap());
    drop(closed);
    let yaml = format!(
        r#"
providers:
  - {{name: fake-openai, kind: openai, base_url: "{url}", api_key: "{key}"}}
models:
  - {{name: gpt, provider: fake-openai}}
telemetry:
  otlp: {{endpoint: "{endpoint}", timeout: 1s}}
"#,
        url = openai.base_url(),
        key = FakeOpenAi::API_KEY,
    );
    let hub = support::lab::InProcessHub::start(&yaml).await;
    let router = app::router(hub.state.clone());
    for n in 0..20 {
        chat(&router, &hub.admin, n).await;
    }
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let metrics = hub.state.metrics.render();
        let failed = metrics
            .lines()
            .find_map(|l| l.strip_prefix("agenthub_otlp_spans_total{result=\"failed\"} "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if failed == 20 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hub.store.close().await;
}
