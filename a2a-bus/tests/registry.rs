//! The agent registry on its own: cards given inline, cards read from fake agents on loopback
//! (in the background, again on request, kept while a read fails), registrations changed and
//! removed, and credentials revealed from the secret store into what is sent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub_a2a_bus::card::ProtocolVersion;
use agenthub_a2a_bus::config::AgentConfig;
use agenthub_a2a_bus::registry::{AgentRegistry, AgentStatus, Binding, CardState, Secrets};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// The longest a background read may take to show (they take milliseconds on loopback).
const WAIT: Duration = Duration::from_secs(20);

fn card(name: &str, endpoint: &str, skills: &[&str]) -> Value {
    json!({
        "name": name,
        "description": format!("{name}, for tests."),
        "version": "1.0.0",
        "supportedInterfaces": [{"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": skills.iter().map(|id| json!({"id": id, "name": id})).collect::<Vec<_>>(),
    })
}

fn registration(value: Value) -> AgentConfig {
    serde_json::from_value(value).unwrap()
}

/// The secret store: names → values.
struct TestSecrets(BTreeMap<&'static str, &'static str>);

impl Secrets for TestSecrets {
    fn reveal(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| (*v).to_owned())
    }
}

fn registry() -> AgentRegistry {
    registry_with(&[])
}

fn registry_with(secrets: &[(&'static str, &'static str)]) -> AgentRegistry {
    AgentRegistry::new(Arc::new(TestSecrets(secrets.iter().copied().collect()))).unwrap()
}

/// A fake agent on loopback: its card (changeable), the status it answers with, the headers
/// of every request it received, and the headers it insists on (401 otherwise).
#[derive(Clone)]
struct Fake {
    base: String,
    card: Arc<Mutex<Value>>,
    status: Arc<AtomicU16>,
    seen: Arc<Mutex<Vec<HeaderMap>>>,
    required: Arc<Vec<(&'static str, &'static str)>>,
}

impl Fake {
    async fn start(skills: &[&str]) -> Self {
        Self::requiring(skills, &[]).await
    }

    async fn requiring(skills: &[&str], required: &[(&'static str, &'static str)]) -> Self {
        async fn serve(State(fake): State<Fake>, headers: HeaderMap) -> Response {
            fake.seen.lock().unwrap().push(headers.clone());
            let authorized = fake
                .required
                .iter()
                .all(|(name, value)| headers.get(*name).is_some_and(|v| v == value));
            if !authorized {
                return (StatusCode::UNAUTHORIZED, "who are you?").into_response();
            }
            let status = StatusCode::from_u16(fake.status.load(Ordering::SeqCst)).unwrap();
            if status != StatusCode::OK {
                return (status, "not now").into_response();
            }
            axum::Json(fake.card.lock().unwrap().clone()).into_response()
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = Self {
            card: Arc::new(Mutex::new(card("Fake", &format!("{base}/a2a"), skills))),
            base,
            status: Arc::new(AtomicU16::new(200)),
            seen: Arc::new(Mutex::new(Vec::new())),
            required: Arc::new(required.to_vec()),
        };
        let router = Router::new()
            .route("/.well-known/agent-card.json", get(serve))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        fake
    }

    fn set_skills(&self, skills: &[&str]) {
        *self.card.lock().unwrap() = card("Fake", &format!("{}/a2a", self.base), skills);
    }

    fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last_headers(&self) -> HeaderMap {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }
}

/// Waits (bounded) until agent `name`'s status satisfies `done`; that status.
async fn until(
    registry: &AgentRegistry,
    name: &str,
    what: &str,
    done: impl Fn(&AgentStatus) -> bool,
) -> AgentStatus {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = registry
            .status(name)
            .unwrap_or_else(|| panic!("{name} is not registered"));
        if done(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never became {what}: {:?}",
            status.state
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn until_ready(registry: &AgentRegistry, name: &str) -> AgentStatus {
    until(registry, name, "ready", |s| s.state == CardState::Ready).await
}

async fn until_failed(registry: &AgentRegistry, name: &str) -> AgentStatus {
    until(registry, name, "failed", |s| {
        matches!(s.state, CardState::Failed { .. })
    })
    .await
}

fn skills(registry: &AgentRegistry, name: &str) -> Vec<String> {
    registry
        .directory()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not in the directory"))
        .card
        .skills
        .iter()
        .map(|s| s.id.clone())
        .collect()
}

#[tokio::test]
async fn an_inline_card_is_in_the_directory_at_once() {
    let registry = registry();
    let mut changes = registry.changes();
    let echo = card("Echo", "https://echo.example.com/a2a", &["echo", "shout"]);
    registry.set(&[registration(json!({"name": "echo", "card": echo}))]);

    // No waiting: a card given is loaded by `set`.
    let directory = registry.directory();
    let agent = directory.get("echo").expect("echo is in the directory");
    assert_eq!(agent.card.name, "Echo");
    assert_eq!(agent.raw_card, echo);
    assert_eq!(agent.endpoint.url, "https://echo.example.com/a2a");
    assert_eq!(agent.endpoint.binding, Binding::JsonRpc);
    assert_eq!(agent.endpoint.version, ProtocolVersion::V1_0);
    assert!(agent.has_skill("shout") && !agent.has_skill("whisper"));
    assert_eq!(
        directory
            .with_skill("echo")
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["echo"]
    );
    let status = registry.status("echo").unwrap();
    assert_eq!(status.state, CardState::Ready);
    assert!(status.read_at.is_some());
    assert!(changes.has_changed().unwrap(), "the directory changed");
    changes.borrow_and_update();

    // The same registrations again change nothing.
    registry.set(&[registration(json!({"name": "echo", "card": echo}))]);
    assert!(!changes.has_changed().unwrap());
    assert!(Arc::ptr_eq(&directory, &registry.directory()));

    // An unusable card is reported, and kept out of the directory.
    let mut no_interface = echo.clone();
    no_interface["supportedInterfaces"][0]["protocolBinding"] = json!("GRPC");
    registry.set(&[
        registration(json!({"name": "echo", "card": echo})),
        registration(json!({"name": "broken", "card": no_interface})),
    ]);
    let status = registry.status("broken").unwrap();
    match status.state {
        CardState::Failed { error, stale } => {
            assert!(error.contains("no interface the hub can speak"), "{error}");
            assert!(!stale);
        }
        other => panic!("{other:?}"),
    }
    assert!(registry.directory().get("broken").is_none());
    assert_eq!(
        registry
            .statuses()
            .iter()
            .map(|s| s.registration.name.as_str())
            .collect::<Vec<_>>(),
        ["broken", "echo"],
        "in name order"
    );
}

#[tokio::test]
async fn a_card_by_url_is_read_in_the_background() {
    let fake = Fake::start(&["plan", "book"]).await;
    let registry = registry();
    registry.set(&[registration(
        json!({"name": "planner", "url": fake.base, "principal": "planner-bot"}),
    )]);
    // `set` does not wait for the agent.
    let status = until_ready(&registry, "planner").await;
    let agent = status.agent.expect("the agent of a ready status");
    assert_eq!(agent.endpoint.url, format!("{}/a2a", fake.base));
    assert_eq!(skills(&registry, "planner"), ["plan", "book"]);
    assert_eq!(
        registry
            .directory()
            .acting_as("planner-bot")
            .map(|a| a.name.clone()),
        Some("planner".to_owned())
    );
    assert!(status.read_at.is_some());

    // A probe reads a registration without registering it.
    let probed = registry
        .probe(&registration(json!({"name": "other", "url": fake.base})))
        .await
        .unwrap();
    assert_eq!(probed.name, "other");
    assert!(registry.status("other").is_none());
    assert!(registry.directory().get("other").is_none());
}

#[tokio::test]
async fn a_failing_agent_is_read_again_until_it_answers() {
    let fake = Fake::start(&["plan"]).await;
    fake.set_status(503);
    let registry = registry();
    registry.set(&[registration(json!({"name": "planner", "url": fake.base}))]);
    let status = until_failed(&registry, "planner").await;
    match &status.state {
        CardState::Failed { error, stale } => {
            assert!(
                error.starts_with("cannot fetch the agent card from") && error.contains("503"),
                "{error}"
            );
            assert!(!stale, "no card was ever read");
        }
        other => panic!("{other:?}"),
    }
    assert!(status.agent.is_none() && status.read_at.is_none());
    assert!(registry.directory().get("planner").is_none());

    // The agent comes up; told to, the registry reads it now rather than at its next retry.
    fake.set_status(200);
    registry.read_soon("planner");
    until_ready(&registry, "planner").await;
    assert_eq!(skills(&registry, "planner"), ["plan"]);
}

#[tokio::test]
async fn a_card_read_once_stays_while_later_reads_fail() {
    let fake = Fake::start(&["plan"]).await;
    let registry = registry();
    let mut changes = registry.changes();
    registry.set(&[registration(json!({"name": "planner", "url": fake.base}))]);
    until_ready(&registry, "planner").await;

    // A changed card, read on request.
    fake.set_skills(&["plan", "replan"]);
    changes.borrow_and_update();
    assert_eq!(registry.refresh("planner").await, Some(Ok(())));
    assert_eq!(skills(&registry, "planner"), ["plan", "replan"]);
    assert!(changes.has_changed().unwrap(), "a new card is a change");

    // Then the agent fails: the last card stays in use, marked stale.
    fake.set_status(500);
    let outcome = registry.refresh("planner").await.unwrap();
    assert!(outcome.unwrap_err().contains("500"));
    let status = registry.status("planner").unwrap();
    match &status.state {
        CardState::Failed { stale, .. } => assert!(stale, "{:?}", status.state),
        other => panic!("{other:?}"),
    }
    assert!(status.agent.is_some() && status.read_at.is_some());
    assert_eq!(skills(&registry, "planner"), ["plan", "replan"]);

    // Back again.
    fake.set_status(200);
    assert_eq!(registry.refresh("planner").await, Some(Ok(())));
    assert_eq!(registry.status("planner").unwrap().state, CardState::Ready);
    assert_eq!(registry.refresh("nobody").await, None);
}

/// A registry whose destination check stands in for the hub's rule: anything on 10.0.0.0/8 is
/// refused.
fn registry_refusing_ten_net() -> AgentRegistry {
    let registry = registry();
    registry.check_destinations_with(Arc::new(|url: String| {
        Box::pin(async move {
            if url.starts_with("http://10.") {
                Err("10.0.0.9 is a non-public address".to_owned())
            } else {
                Ok(())
            }
        })
    }));
    registry
}

#[tokio::test]
async fn an_api_registration_whose_card_comes_to_point_at_a_refused_destination_is_withdrawn() {
    let fake = Fake::start(&["plan"]).await;
    let registry = registry_refusing_ten_net();
    let mut through_api = registration(json!({"name": "planner", "url": fake.base}));
    through_api.from_api = true;
    let from_file = registration(json!({"name": "filed", "url": fake.base}));
    registry.set(&[through_api, from_file]);
    until_ready(&registry, "planner").await;
    until_ready(&registry, "filed").await;

    // The agent's card now sends messages to a private address.
    *fake.card.lock().unwrap() = card("Fake", "http://10.0.0.9/a2a", &["plan", "steal"]);
    let error = registry.refresh("planner").await.unwrap().unwrap_err();
    assert!(
        error.contains("the card's endpoint http://10.0.0.9/a2a: 10.0.0.9 is a non-public address"),
        "{error}"
    );
    // Its last card goes too: requests must not follow the same host elsewhere.
    let status = registry.status("planner").unwrap();
    assert!(
        matches!(status.state, CardState::Failed { stale: false, .. }),
        "{:?}",
        status.state
    );
    assert!(registry.directory().get("planner").is_none());

    // The configuration file's registration is trusted as written.
    assert_eq!(registry.refresh("filed").await, Some(Ok(())));
    assert_eq!(skills(&registry, "filed"), ["plan", "steal"]);

    // A card that points back at an allowed place brings the agent back.
    fake.set_skills(&["plan"]);
    assert_eq!(registry.refresh("planner").await, Some(Ok(())));
    assert_eq!(skills(&registry, "planner"), ["plan"]);
}

#[tokio::test]
async fn an_api_registration_with_an_inline_card_is_checked_too() {
    let registry = registry_refusing_ten_net();
    let inline = |name: &str| {
        registration(json!({"name": name, "card": card("Inline", "http://10.0.0.9/a2a", &[])}))
    };
    let mut through_api = inline("inline");
    through_api.from_api = true;
    registry.set(&[through_api, inline("filed")]);
    let status = until_failed(&registry, "inline").await;
    match &status.state {
        CardState::Failed { error, stale } => {
            assert!(!stale);
            assert!(
                error.contains("the card's endpoint http://10.0.0.9/a2a"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(registry.directory().get("inline").is_none());
    assert!(registry.directory().get("filed").is_some());
}

#[tokio::test]
async fn agents_left_out_of_set_are_removed() {
    let fake = Fake::start(&["plan"]).await;
    let registry = registry();
    let echo =
        registration(json!({"name": "echo", "card": card("Echo", "https://e.example.com", &[])}));
    let planner = registration(json!({"name": "planner", "url": fake.base}));
    registry.set(&[echo.clone(), planner]);
    until_ready(&registry, "planner").await;

    registry.set(std::slice::from_ref(&echo));
    assert!(registry.status("planner").is_none());
    assert!(registry.directory().get("planner").is_none());
    assert!(registry.directory().get("echo").is_some());
    // Its reader stopped: the agent is not asked again.
    let asked = fake.requests();
    registry.read_soon("planner");
    assert_eq!(registry.refresh("planner").await, None);
    tokio::task::yield_now().await;
    assert_eq!(fake.requests(), asked);

    registry.set(&[]);
    assert!(registry.statuses().is_empty());
    assert_eq!(registry.directory().iter().count(), 0);
}

#[tokio::test]
async fn a_changed_registration_is_read_again() {
    let fake = Fake::start(&["plan"]).await;
    let registry = registry();
    registry.set(&[registration(
        json!({"name": "planner", "url": fake.base, "headers": {"X-Version": "1"}}),
    )]);
    until_ready(&registry, "planner").await;
    assert_eq!(fake.last_headers()["x-version"], "1");

    fake.set_skills(&["plan", "book"]);
    let changed =
        registration(json!({"name": "planner", "url": fake.base, "headers": {"X-Version": "2"}}));
    registry.set(std::slice::from_ref(&changed));
    // The agent is in the directory again once read with the new registration.
    let status = until(&registry, "planner", "read again", |s| {
        s.agent.as_ref().is_some_and(|a| a.registration == changed)
    })
    .await;
    assert_eq!(status.state, CardState::Ready);
    assert_eq!(status.registration, changed);
    assert_eq!(fake.last_headers()["x-version"], "2");
    assert_eq!(skills(&registry, "planner"), ["plan", "book"]);
    assert_eq!(
        registry.directory().get("planner").unwrap().headers["x-version"],
        "2"
    );
}

#[tokio::test]
async fn secrets_are_revealed_into_the_headers_sent() {
    let fake = Fake::requiring(
        &["plan"],
        &[
            ("authorization", "Bearer tok-123"),
            ("x-api-key", "key-456"),
        ],
    )
    .await;
    let registry = registry_with(&[("planner-token", "tok-123"), ("planner-key", "key-456")]);
    registry.set(&[registration(json!({
        "name": "planner",
        "url": fake.base,
        "bearer_token": "secret:planner-token",
        "headers": {"X-Api-Key": "secret:planner-key", "X-Team": "ops"},
    }))]);
    until_ready(&registry, "planner").await;
    let seen = fake.last_headers();
    assert_eq!(seen["authorization"], "Bearer tok-123");
    assert_eq!(seen["x-api-key"], "key-456");
    assert_eq!(seen["x-team"], "ops");

    // The same headers go with every request to the agent, credentials marked sensitive.
    let directory = registry.directory();
    let headers = &directory.get("planner").unwrap().headers;
    assert_eq!(headers["authorization"], "Bearer tok-123");
    assert!(headers["authorization"].is_sensitive());
    assert_eq!(headers["x-api-key"], "key-456");
    assert_eq!(headers["x-team"], "ops");

    // A secret that is not in the store: nothing is sent, and the status says why.
    let asked = fake.requests();
    registry.set(&[registration(json!({
        "name": "planner",
        "url": fake.base,
        "bearer_token": "secret:missing",
    }))]);
    let status = until_failed(&registry, "planner").await;
    match &status.state {
        CardState::Failed { error, .. } => assert_eq!(
            error, "secret \"missing\" is not in the secret store",
            "{status:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests(), asked);
    // Without the credentials, the agent refuses.
    let refused = registry
        .probe(&registration(json!({"name": "planner", "url": fake.base})))
        .await
        .unwrap_err();
    assert!(refused.contains("401"), "{refused}");
}

#[tokio::test]
async fn a_read_of_an_earlier_registration_says_nothing_about_the_new_one() {
    // An agent that answers at once, or, once held, only when released and then with a 500.
    #[derive(Clone)]
    struct Held {
        card: Value,
        held: Arc<AtomicU16>,
        requests: Arc<AtomicU16>,
        release: Arc<tokio::sync::Notify>,
    }
    async fn serve(State(agent): State<Held>) -> Response {
        agent.requests.fetch_add(1, Ordering::SeqCst);
        if agent.held.load(Ordering::SeqCst) == 0 {
            return axum::Json(agent.card.clone()).into_response();
        }
        agent.release.notified().await;
        (StatusCode::INTERNAL_SERVER_ERROR, "gone").into_response()
    }
    let agent = Held {
        card: card("Slow", "https://slow.example.com/a2a", &["wait"]),
        held: Arc::new(AtomicU16::new(0)),
        requests: Arc::new(AtomicU16::new(0)),
        release: Arc::new(tokio::sync::Notify::new()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/.well-known/agent-card.json", get(serve))
        .with_state(agent.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let registry = registry();
    registry.set(&[registration(json!({"name": "slow", "url": base}))]);
    until_ready(&registry, "slow").await;

    // A refresh is under way when the registration is replaced by one with a card.
    agent.held.store(1, Ordering::SeqCst);
    let asked = agent.requests.load(Ordering::SeqCst);
    let refresh = tokio::spawn({
        let registry = registry.clone();
        async move { registry.refresh("slow").await }
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    while agent.requests.load(Ordering::SeqCst) == asked {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refresh never asked"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let inline = registration(
        json!({"name": "slow", "card": card("Slow", "https://slow.example.com/a2a", &["wait", "go"])}),
    );
    registry.set(std::slice::from_ref(&inline));
    assert_eq!(registry.status("slow").unwrap().state, CardState::Ready);

    // The old read fails; the new registration's card is not affected.
    agent.release.notify_one();
    let outcome = tokio::time::timeout(WAIT, refresh).await.unwrap().unwrap();
    assert!(outcome.unwrap().unwrap_err().contains("500"));
    let status = registry.status("slow").unwrap();
    assert_eq!(status.registration, inline);
    assert_eq!(status.state, CardState::Ready, "{status:?}");
    assert_eq!(skills(&registry, "slow"), ["wait", "go"]);
}
