//! The A2A agents through the admin API: registrations by card and by URL (fake agents served
//! on loopback), the vetting of every registration (fields, credentials, private networks, the
//! card itself), replacing and removing them, re-reading cards, and discovery filtered by what
//! each caller may list. The hub's router is driven in-process with `tower::ServiceExt::oneshot`
//! over a real store.

mod support;

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub::app;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::lab::InProcessHub;
use tower::ServiceExt;

/// How long a card read in the background may take to show.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The configuration of a hub that lets the API register agents on loopback.
const PRIVATE_OK: &str = "a2a:\n  allow_private_networks: true\n";

// ---------------------------------------------------------------------------------------------
// Cards and fake agents

/// A v1.0 card whose interface is `endpoint`, with skills `(id, tags)`.
fn card(name: &str, endpoint: &str, skills: &[(&str, &[&str])]) -> Value {
    json!({
        "name": name,
        "description": format!("{name} does things."),
        "version": "1.2.0",
        "supportedInterfaces": [{"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {"streaming": true},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": skills.iter().map(|(id, tags)| json!({
            "id": id,
            "name": format!("Skill {id}"),
            "description": format!("Does {id}."),
            "tags": tags,
        })).collect::<Vec<_>>(),
    })
}

/// The same card in v0.3's layout.
fn v0_3_card(name: &str, endpoint: &str) -> Value {
    json!({
        "protocolVersion": "0.3.0",
        "name": name,
        "description": "An agent of the v0.3 era.",
        "url": endpoint,
        "preferredTransport": "JSONRPC",
        "version": "0.1.0",
        "capabilities": {},
        "defaultInputModes": ["text"],
        "defaultOutputModes": ["text"],
        "skills": [{"id": "echo", "name": "Echo", "description": "Echoes.", "tags": []}]
    })
}

/// A fake agent on loopback: it serves its card (which the test may change) at the v1.0
/// path, or only at v0.3's, and answers `status` instead while that is not 200.
#[derive(Clone)]
struct Fake {
    base: String,
    card: Arc<Mutex<Value>>,
    status: Arc<AtomicU16>,
    reads: Arc<AtomicUsize>,
}

#[derive(Clone, Copy, PartialEq)]
enum CardPath {
    V1,
    Legacy,
}

impl Fake {
    /// Serves a card made by `make` from the fake's own base URL.
    async fn start(path: CardPath, make: impl FnOnce(&str) -> Value) -> Self {
        async fn serve(State(fake): State<Fake>) -> Response {
            fake.reads.fetch_add(1, Ordering::SeqCst);
            let status = StatusCode::from_u16(fake.status.load(Ordering::SeqCst)).unwrap();
            if status != StatusCode::OK {
                return (status, "not now").into_response();
            }
            axum::Json(fake.card.lock().unwrap().clone()).into_response()
        }
        let route = match path {
            CardPath::V1 => "/.well-known/agent-card.json",
            CardPath::Legacy => "/.well-known/agent.json",
        };
        let mut fake = Self {
            base: String::new(),
            card: Arc::new(Mutex::new(Value::Null)),
            status: Arc::new(AtomicU16::new(200)),
            reads: Arc::new(AtomicUsize::new(0)),
        };
        let router = Router::new()
            .route(route, get(serve))
            .with_state(fake.clone());
        let address = agenthub_test_support::serve_on_loopback(router).await;
        fake.base = format!("http://{address}");
        // The card names the fake's own address, known once it listens.
        fake.set_card(make(&format!("{}/a2a", fake.base)));
        fake
    }

    fn set_card(&self, card: Value) {
        *self.card.lock().unwrap() = card;
    }

    fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

/// A loopback base URL nothing listens on.
async fn unreachable() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

// ---------------------------------------------------------------------------------------------
// The hub and its answers

struct Hub {
    router: Router,
    lab: InProcessHub,
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    text: String,
    json: Value,
}

impl Reply {
    #[track_caller]
    fn expect(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        &self.json
    }

    /// The error message, after checking the status and `param`.
    #[track_caller]
    fn expect_error(&self, status: StatusCode, param: Option<&str>) -> &str {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        assert_eq!(self.json["error"]["param"].as_str(), param, "{}", self.text);
        self.json["error"]["message"]
            .as_str()
            .expect("an error message")
    }
}

impl Hub {
    async fn start(yaml: &str) -> Self {
        let lab = InProcessHub::start(yaml).await;
        Self {
            router: app::router(lab.state.clone()),
            lab,
        }
    }

    fn admin(&self) -> &str {
        &self.lab.admin
    }

    async fn restart(self, yaml: &str) -> Self {
        let lab = self.lab.restart(yaml).await;
        Self {
            router: app::router(lab.state.clone()),
            lab,
        }
    }

    async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .expect("the router is infallible");
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("a UTF-8 body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, text, json }
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, self.admin(), None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, self.admin(), Some(body))
            .await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, self.admin(), Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, self.admin(), None).await
    }

    /// Waits (bounded) until agent `name` is in `state`; its view.
    async fn until_state(&self, name: &str, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
        loop {
            let reply = self.get(&format!("/api/v1/agents/{name}")).await;
            let view = reply.expect(StatusCode::OK).clone();
            if view["state"] == state {
                return view;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} is not {state} after {READ_TIMEOUT:?}: {view:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// User `name` and a key of theirs for the A2A plane; the key.
    async fn user_key(&self, name: &str) -> String {
        self.post("/api/v1/users", json!({"name": name}))
            .await
            .expect(StatusCode::CREATED);
        let reply = self
            .post(
                "/api/v1/keys",
                json!({"name": "agents", "owner": name, "scopes": ["a2a"]}),
            )
            .await;
        reply.expect(StatusCode::CREATED)["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The names `/agents/find?{query}` answers `key` with.
    async fn find(&self, key: &str, query: &str) -> Vec<String> {
        let reply = self
            .call(
                Method::GET,
                &format!("/api/v1/agents/find?{query}"),
                key,
                None,
            )
            .await;
        names(reply.expect(StatusCode::OK))
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

fn skill_ids(view: &Value) -> Vec<&str> {
    view["skills"]
        .as_array()
        .unwrap_or_else(|| panic!("no skills: {view}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Registering

#[tokio::test]
async fn an_agent_registered_by_card_is_listed_ready_with_its_skills() {
    let hub = Hub::start("").await;
    // The interface is a public address (never contacted: nothing is relayed here).
    let planner = card(
        "Planner",
        "https://1.1.1.1/a2a",
        &[("plan", &["travel"]), ("book", &[]), ("cancel", &[])],
    );
    let reply = hub
        .post(
            "/api/v1/agents",
            json!({"name": "planner", "card": planner.clone()}),
        )
        .await;
    let created = reply.expect(StatusCode::CREATED);
    assert_eq!(created["id"], "planner");
    assert_eq!(created["source"], "api");
    assert_eq!(created["created_by"], "user:admin");
    assert_eq!(created["card"], planner, "the registration as stored");
    let checked = &created["checked_card"];
    assert_eq!(checked["name"], "Planner");
    assert_eq!(checked["version"], "1.2.0");
    assert_eq!(checked["protocol_version"], "1.0");
    assert_eq!(checked["endpoint"], "https://1.1.1.1/a2a");
    assert_eq!(skill_ids(checked), ["plan", "book", "cancel"]);
    assert_eq!(
        reply.text.matches("\"card\":").count(),
        1,
        "one `card` key: {}",
        reply.text
    );

    // A card is loaded at once: ready with the registration's answer.
    let listed = hub.get("/api/v1/agents").await;
    let list = listed.expect(StatusCode::OK).as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:#?}");
    let view = &list[0];
    assert_eq!(view["name"], "planner");
    assert_eq!(view["source"], "api");
    assert_eq!(view["state"], "ready");
    assert_eq!(view["hub_path"], "/a2a/planner");
    assert_eq!(view["endpoint"], "https://1.1.1.1/a2a");
    assert_eq!(view["binding"], "JSONRPC");
    assert_eq!(view["protocol_version"], "1.0");
    assert_eq!(view["description"], "Planner does things.");
    assert_eq!(skill_ids(view), ["plan", "book", "cancel"]);
    assert_eq!(view["skills"][0]["tags"], json!(["travel"]));
    assert!(view["read_at"].as_str().unwrap().ends_with('Z'), "{view}");
    assert!(view.get("card").is_none(), "cards only on request: {view}");
    let with_cards = hub.get("/api/v1/agents?card=true").await;
    assert_eq!(with_cards.expect(StatusCode::OK)[0]["card"], planner);

    // One agent's page carries its card as published.
    let one = hub.get("/api/v1/agents/planner").await;
    let one = one.expect(StatusCode::OK);
    assert_eq!(one["card"], planner);
    assert_eq!(one["registration"]["card"], planner);
    hub.get("/api/v1/agents/nobody")
        .await
        .expect_error(StatusCode::NOT_FOUND, None);

    // Without private networks, the card's interface must be public too.
    let local = card("Local", "http://127.0.0.1:9/a2a", &[("x", &[])]);
    let refused = hub
        .post("/api/v1/agents", json!({"name": "local", "card": local}))
        .await;
    let message = refused.expect_error(StatusCode::BAD_REQUEST, Some("card"));
    assert!(
        message.contains("http://127.0.0.1:9/a2a")
            && message.contains("a2a.allow_private_networks"),
        "{message}"
    );
}

#[tokio::test]
async fn agents_on_private_networks_need_the_setting() {
    let fake = Fake::start(CardPath::V1, |endpoint| {
        card("Loopy", endpoint, &[("loop", &["test"])])
    })
    .await;
    let body = json!({"name": "loopy", "url": fake.base});

    let strict = Hub::start("").await;
    let refused = strict.post("/api/v1/agents", body.clone()).await;
    let message = refused.expect_error(StatusCode::BAD_REQUEST, Some("url"));
    assert!(
        message.contains("127.0.0.1") && message.contains("a2a.allow_private_networks: true"),
        "{message}"
    );
    assert!(!message.contains("mcp."), "{message}");
    assert_eq!(
        fake.reads.load(Ordering::SeqCst),
        0,
        "refused before reading"
    );
    // Nor with ?check=false.
    strict
        .post("/api/v1/agents?check=false", body.clone())
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("url"));
    let none = strict.get("/api/v1/agents").await;
    assert_eq!(none.expect(StatusCode::OK), &json!([]));

    let open = Hub::start(PRIVATE_OK).await;
    let reply = open.post("/api/v1/agents", body).await;
    let created = reply.expect(StatusCode::CREATED);
    assert_eq!(created["url"], fake.base.as_str());
    assert_eq!(created["checked_card"]["name"], "Loopy");
    assert_eq!(
        created["checked_card"]["endpoint"],
        format!("{}/a2a", fake.base)
    );
    // The registry reads the card again in the background.
    let view = open.until_state("loopy", "ready").await;
    assert_eq!(view["source"], "api");
    assert_eq!(view["endpoint"], format!("{}/a2a", fake.base));
    assert_eq!(view["protocol_version"], "1.0");
    assert_eq!(skill_ids(&view), ["loop"]);
    assert_eq!(view["registration"]["url"], fake.base.as_str());
}

/// The rule holds for registrations already stored: one made while private networks were
/// allowed is withdrawn after a restart without the setting (read again, its destination
/// refused), so nothing reaches it; the configuration file's agents are trusted as written.
#[tokio::test]
async fn a_stored_private_agent_is_withdrawn_once_the_setting_is_off() {
    let fake = Fake::start(CardPath::V1, |endpoint| {
        card("Loopy", endpoint, &[("loop", &["test"])])
    })
    .await;
    let open = Hub::start(PRIVATE_OK).await;
    open.post("/api/v1/agents", json!({"name": "loopy", "url": fake.base}))
        .await
        .expect(StatusCode::CREATED);
    open.until_state("loopy", "ready").await;

    let filed = format!("agents:\n  - name: filed\n    url: {}\n", fake.base);
    let strict = open.restart(&filed).await;
    let view = strict.until_state("loopy", "failed").await;
    let error = view["error"].as_str().unwrap();
    assert!(
        error.starts_with("the card's URL:") && error.contains("a2a.allow_private_networks: true"),
        "{view}"
    );
    assert!(view.get("stale").is_none(), "no card in use: {view}");
    strict
        .get("/a2a/loopy/.well-known/agent-card.json")
        .await
        .expect_error(StatusCode::NOT_FOUND, None);
    strict.until_state("filed", "ready").await;
    strict.lab.state.a2a.shutdown();
}

#[tokio::test]
async fn a_v0_3_agent_is_read_from_agent_json() {
    let fake = Fake::start(CardPath::Legacy, |endpoint| v0_3_card("Old", endpoint)).await;
    let hub = Hub::start(PRIVATE_OK).await;
    let reply = hub
        .post("/api/v1/agents", json!({"name": "old", "url": fake.base}))
        .await;
    let created = reply.expect(StatusCode::CREATED);
    assert_eq!(created["checked_card"]["protocol_version"], "0.3");
    assert_eq!(created["checked_card"]["version"], "0.1.0");
    let view = hub.until_state("old", "ready").await;
    assert_eq!(view["protocol_version"], "0.3");
    assert_eq!(view["binding"], "JSONRPC");
    assert_eq!(view["endpoint"], format!("{}/a2a", fake.base));
    assert_eq!(skill_ids(&view), ["echo"]);
    // The card as the agent published it, in v0.3's layout.
    assert_eq!(view["card"]["protocolVersion"], "0.3.0");
    assert_eq!(view["card"]["url"], format!("{}/a2a", fake.base));
}

#[tokio::test]
async fn an_unreachable_agent_is_refused_unless_unchecked() {
    let hub = Hub::start(PRIVATE_OK).await;
    let base = unreachable().await;
    let body = json!({"name": "later", "url": base});

    let refused = hub.post("/api/v1/agents", body.clone()).await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.text);
    let message = refused.json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot use agent \"later\": cannot fetch the agent card from")
            && message.contains("?check=false"),
        "{message}"
    );
    assert_eq!(hub.get("/api/v1/agents").await.json, json!([]));

    let reply = hub.post("/api/v1/agents?check=false", body).await;
    let created = reply.expect(StatusCode::CREATED);
    assert_eq!(created["id"], "later");
    assert!(created.get("checked_card").is_none(), "{created}");
    let view = hub.get("/api/v1/agents/later").await;
    let state = view.expect(StatusCode::OK)["state"].as_str().unwrap();
    assert!(matches!(state, "pending" | "failed"), "{}", view.text);
    let failed = hub.until_state("later", "failed").await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("cannot fetch the agent card"),
        "{failed}"
    );
    assert!(failed.get("stale").is_none(), "never read: {failed}");
    assert_eq!(failed["skills"], json!([]));
    // Not in discovery while its card is unknown.
    assert!(hub.find(hub.admin(), "").await.is_empty());
}

#[tokio::test]
async fn bad_registrations_are_refused_with_the_field() {
    let hub = Hub::start(PRIVATE_OK).await;
    let good = card("Good", "http://127.0.0.1:9/a2a", &[("plan", &[])]);
    let mut duplicate_skills = good.clone();
    duplicate_skills["skills"] = json!([
        {"id": "plan", "name": "Plan"},
        {"id": "plan", "name": "Again"}
    ]);
    let cases: Vec<(Value, Option<&str>, &str)> = vec![
        (
            json!({"name": "a", "url": "https://a.example.com", "bearer": "secret:t"}),
            Some("bearer"),
            "unknown field `bearer`",
        ),
        (
            json!({"name": "a", "url": "https://a.example.com", "card": good}),
            None,
            "set only one of url, card_file and card",
        ),
        (
            json!({"name": "a"}),
            None,
            "needs one of url, card_file or card",
        ),
        (
            json!({"name": "a", "url": "https://a.example.com", "bearer_token": "s3cret"}),
            Some("bearer_token"),
            "must name a stored secret (secret:NAME)",
        ),
        (
            json!({"name": "a", "url": "https://a.example.com", "headers": {"X-Api-Key": "s3cret"}}),
            Some("headers.X-Api-Key"),
            "must name a stored secret (secret:NAME)",
        ),
        (
            json!({"name": "a", "card_file": "/etc/agenthub/card.json"}),
            Some("card_file"),
            "is for the configuration file",
        ),
        (
            json!({"name": "a", "card": duplicate_skills}),
            Some("card.skills[1].id"),
            "\"plan\" is also the id of skills[0]",
        ),
        (
            json!({"name": "a", "card": {"name": "No interfaces"}}),
            Some("card.supportedInterfaces"),
            "",
        ),
        (
            json!({"name": "a/b", "url": "https://a.example.com"}),
            Some("name"),
            "is not a valid agent name",
        ),
        (
            json!({"name": "a", "url": "https://a.example.com/.well-known/agent-card.json"}),
            Some("url"),
            "give the agent's base URL",
        ),
        (
            json!({"name": "a", "url": "https://a.example.com", "refresh_interval": "1s"}),
            Some("refresh_interval"),
            "must be at least 10s",
        ),
        (
            json!({"name": "a", "url": "https://a.example.com", "public_keys": [{"kty": "RSA"}]}),
            Some("public_keys[0]"),
            "Ed25519",
        ),
    ];
    for (body, param, needle) in cases {
        let reply = hub.post("/api/v1/agents", body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        let error = &reply.json["error"];
        assert_eq!(error["type"], "invalid_request", "{body}: {}", reply.text);
        match param {
            // A card's problems are at their path within the card.
            Some(param) if param.starts_with("card.") && needle.is_empty() => assert!(
                error["param"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("card")),
                "{body}: {}",
                reply.text
            ),
            param => assert_eq!(error["param"].as_str(), param, "{body}: {}", reply.text),
        }
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");
    }
    assert_eq!(hub.get("/api/v1/agents").await.json, json!([]));
}

const CONFIG_AGENT: &str = r#"a2a:
  allow_private_networks: true
agents:
  - name: cfg
    card:
      name: Configured
      version: "1.0.0"
      supportedInterfaces:
        - {url: "http://127.0.0.1:9/a2a", protocolBinding: JSONRPC, protocolVersion: "1.0"}
      capabilities: {}
      defaultInputModes: [text/plain]
      defaultOutputModes: [text/plain]
      skills:
        - {id: configure, name: Configure}
"#;

#[tokio::test]
async fn api_agents_are_replaced_and_removed_and_file_agents_are_not() {
    let hub = Hub::start(CONFIG_AGENT).await;
    let endpoint = "http://127.0.0.1:9/a2a";
    hub.post(
        "/api/v1/agents",
        json!({"name": "planner", "card": card("Planner", endpoint, &[("plan", &[])])}),
    )
    .await
    .expect(StatusCode::CREATED);

    let listed = hub.get("/api/v1/agents").await;
    let list = listed.expect(StatusCode::OK);
    assert_eq!(names(list), ["cfg", "planner"]);
    assert_eq!(list[0]["source"], "config");
    assert_eq!(list[0]["state"], "ready");
    assert_eq!(list[1]["source"], "api");

    // Names are unique, the configuration file's included.
    let again = hub
        .post(
            "/api/v1/agents",
            json!({"name": "planner", "card": card("Other", endpoint, &[])}),
        )
        .await;
    let message = again.expect_error(StatusCode::CONFLICT, None);
    assert!(message.contains("already exists"), "{message}");
    let taken = hub
        .post(
            "/api/v1/agents",
            json!({"name": "cfg", "card": card("Other", endpoint, &[])}),
        )
        .await;
    let message = taken.expect_error(StatusCode::CONFLICT, None);
    assert!(message.contains("configuration file"), "{message}");

    // Replace: the new card is in force at once.
    let replaced = hub
        .put(
            "/api/v1/agents/planner",
            json!({"card": card("Planner", endpoint, &[("plan", &[]), ("replan", &[])])}),
        )
        .await;
    let replaced = replaced.expect(StatusCode::OK);
    assert_eq!(replaced["id"], "planner");
    assert_eq!(skill_ids(&replaced["checked_card"]), ["plan", "replan"]);
    let view = hub.get("/api/v1/agents/planner").await;
    assert_eq!(skill_ids(view.expect(StatusCode::OK)), ["plan", "replan"]);
    let renamed = hub
        .put(
            "/api/v1/agents/planner",
            json!({"name": "other", "card": card("Planner", endpoint, &[])}),
        )
        .await;
    renamed.expect_error(StatusCode::BAD_REQUEST, Some("name"));
    hub.put(
        "/api/v1/agents/nobody",
        json!({"card": card("Nobody", endpoint, &[])}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, None);

    // The configuration file's agents change only in the file.
    let message = hub
        .put(
            "/api/v1/agents/cfg",
            json!({"card": card("Changed", endpoint, &[])}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, None)
        .to_owned();
    assert!(
        message.contains("configuration file (agents[0])"),
        "{message}"
    );
    let message = hub
        .delete("/api/v1/agents/cfg")
        .await
        .expect_error(StatusCode::CONFLICT, None)
        .to_owned();
    assert_eq!(
        message,
        "agent \"cfg\" is defined in the configuration file (agents[0]) and cannot be changed \
         through the API; edit the configuration file instead"
    );

    // Remove.
    hub.delete("/api/v1/agents/planner")
        .await
        .expect(StatusCode::NO_CONTENT);
    hub.get("/api/v1/agents/planner")
        .await
        .expect_error(StatusCode::NOT_FOUND, None);
    assert_eq!(names(&hub.get("/api/v1/agents").await.json), ["cfg"]);
    assert_eq!(hub.find(hub.admin(), "").await, ["cfg"]);
    hub.delete("/api/v1/agents/planner")
        .await
        .expect_error(StatusCode::NOT_FOUND, None);

    // The registration is stored: a hub started again on the same store has it.
    hub.post(
        "/api/v1/agents",
        json!({"name": "kept", "card": card("Kept", endpoint, &[("keep", &[])])}),
    )
    .await
    .expect(StatusCode::CREATED);
    let stored = hub.lab.store.load_rules().await.unwrap();
    assert!(
        stored.iter().any(|r| r.kind == "agent" && r.id == "kept"),
        "{stored:?}"
    );
}

#[tokio::test]
async fn refresh_reads_a_changed_card_and_keeps_the_last_one_when_it_fails() {
    let fake = Fake::start(CardPath::V1, |endpoint| {
        card("Changing", endpoint, &[("one", &[])])
    })
    .await;
    let hub = Hub::start(PRIVATE_OK).await;
    hub.post(
        "/api/v1/agents",
        json!({"name": "changing", "url": fake.base}),
    )
    .await
    .expect(StatusCode::CREATED);
    let view = hub.until_state("changing", "ready").await;
    assert_eq!(skill_ids(&view), ["one"]);

    fake.set_card(card(
        "Changing",
        &format!("{}/a2a", fake.base),
        &[("one", &[]), ("two", &["new"])],
    ));
    let refreshed = hub.post("/api/v1/agents/changing/refresh", json!({})).await;
    let refreshed = refreshed.expect(StatusCode::OK);
    assert_eq!(refreshed["state"], "ready");
    assert_eq!(skill_ids(refreshed), ["one", "two"]);
    assert_eq!(hub.find(hub.admin(), "skill=two").await, ["changing"]);

    // The agent fails: the refresh says so, and the last card stays in use.
    fake.set_status(503);
    let failed = hub.post("/api/v1/agents/changing/refresh", json!({})).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.text);
    let message = failed.json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot read the card of \"changing\"") && message.contains("503"),
        "{message}"
    );
    let view = hub.get("/api/v1/agents/changing").await;
    let view = view.expect(StatusCode::OK);
    assert_eq!(view["state"], "failed");
    assert_eq!(view["stale"], true);
    assert!(view["error"].as_str().unwrap().contains("503"), "{view}");
    assert_eq!(skill_ids(view), ["one", "two"]);
    assert_eq!(hub.find(hub.admin(), "skill=two").await, ["changing"]);

    hub.post("/api/v1/agents/nobody/refresh", json!({}))
        .await
        .expect_error(StatusCode::NOT_FOUND, None);
}

// ---------------------------------------------------------------------------------------------
// Discovery and authorization

/// Registers agents by card (interfaces on loopback: the hub allows private networks).
async fn register_three(hub: &Hub) {
    let endpoint = "http://127.0.0.1:9/a2a";
    for (name, skills) in [
        (
            "planner",
            &[("plan", &["travel", "Booking"][..]), ("route", &[])][..],
        ),
        ("weather", &[("forecast", &["travel"][..])][..]),
        ("clerk", &[("file", &["office"][..])][..]),
    ] {
        let mut card = card(&format!("{name} agent"), endpoint, skills);
        if name == "weather" {
            card["description"] = json!("Tells the weather anywhere.");
        }
        hub.post("/api/v1/agents", json!({"name": name, "card": card}))
            .await
            .expect(StatusCode::CREATED);
    }
}

#[tokio::test]
async fn find_matches_skills_tags_and_text() {
    let hub = Hub::start(PRIVATE_OK).await;
    register_three(&hub).await;
    let admin = hub.admin().to_owned();
    assert_eq!(hub.find(&admin, "").await, ["clerk", "planner", "weather"]);
    assert_eq!(hub.find(&admin, "skill=plan").await, ["planner"]);
    assert!(
        hub.find(&admin, "skill=PLAN").await.is_empty(),
        "ids are exact"
    );
    assert_eq!(hub.find(&admin, "tag=travel").await, ["planner", "weather"]);
    assert_eq!(hub.find(&admin, "tag=BOOKING").await, ["planner"]);
    assert_eq!(hub.find(&admin, "q=WEATHER%20anywhere").await, ["weather"]);
    // Text in a skill's name, description or tags, or the agent's name.
    assert_eq!(hub.find(&admin, "q=does%20file").await, ["clerk"]);
    assert_eq!(hub.find(&admin, "q=office").await, ["clerk"]);
    assert_eq!(hub.find(&admin, "q=planner").await, ["planner"]);
    // Every criterion must match.
    assert_eq!(hub.find(&admin, "tag=travel&q=forecast").await, ["weather"]);
    assert!(hub.find(&admin, "skill=plan&tag=office").await.is_empty());

    let reply = hub.get("/api/v1/agents/find?skill=forecast").await;
    let found = reply.expect(StatusCode::OK);
    assert_eq!(
        found,
        &json!([{
            "name": "weather",
            "hub_path": "/a2a/weather",
            "card_path": "/a2a/weather/.well-known/agent-card.json",
            "description": "Tells the weather anywhere.",
            "skills": [{"id": "forecast", "name": "Skill forecast", "description": "Does forecast.", "tags": ["travel"]}]
        }])
    );
    hub.get("/api/v1/agents/find?skills=plan")
        .await
        .expect_error(StatusCode::BAD_REQUEST, Some("skills"));
}

const ADMINS_ONLY: &str = r#"a2a:
  allow_private_networks: true
authorization:
  starter_policy: false
policies:
  - {subject: "role:admin", resource: "*", action: "*"}
"#;

#[tokio::test]
async fn callers_find_only_the_agents_they_may_list_and_cannot_register() {
    let hub = Hub::start(ADMINS_ONLY).await;
    register_three(&hub).await;
    let bob = hub.user_key("bob").await;

    assert!(hub.find(&bob, "").await.is_empty(), "nothing granted yet");
    hub.post(
        "/api/v1/policies",
        json!({"subject": "user:bob", "resource": "planner", "action": "list"}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    hub.post(
        "/api/v1/policies",
        json!({"subject": "user:bob", "resource": "agent:planner", "action": "list"}),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(hub.find(&bob, "").await, ["planner"]);
    assert_eq!(hub.find(&bob, "tag=travel").await, ["planner"]);
    assert!(hub.find(&bob, "skill=forecast").await.is_empty());
    // Sending is not listing.
    hub.post(
        "/api/v1/policies",
        json!({"subject": "user:bob", "resource": "agent:weather", "action": "send"}),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(hub.find(&bob, "").await, ["planner"]);

    // The admin area is not bob's: no listing, registering, refreshing or removing.
    let endpoint = "http://127.0.0.1:9/a2a";
    let as_bob = |method: Method, path: &'static str, body: Option<Value>| {
        let hub = &hub;
        let bob = bob.clone();
        async move { hub.call(method, path, &bob, body).await }
    };
    for (method, path, body) in [
        (Method::GET, "/api/v1/agents", None),
        (Method::GET, "/api/v1/agents/planner", None),
        (
            Method::POST,
            "/api/v1/agents",
            Some(json!({"name": "mine", "card": card("Mine", endpoint, &[])})),
        ),
        (
            Method::PUT,
            "/api/v1/agents/planner",
            Some(json!({"card": card("Mine", endpoint, &[])})),
        ),
        (
            Method::POST,
            "/api/v1/agents/planner/refresh",
            Some(json!({})),
        ),
        (Method::DELETE, "/api/v1/agents/planner", None),
    ] {
        let reply = as_bob(method.clone(), path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            reply.text
        );
    }
    assert_eq!(
        names(&hub.get("/api/v1/agents").await.json),
        ["clerk", "planner", "weather"]
    );

    // Without credentials, nothing.
    let anonymous = hub
        .router
        .clone()
        .oneshot(
            Request::get("/api/v1/agents/find")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
