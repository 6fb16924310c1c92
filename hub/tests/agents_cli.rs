//! `agenthub agents` against the real binary: an agent registered by URL (a fake agent served
//! on loopback; the hub's configuration allows private networks) and one by card, listed,
//! shown, found by skill, refreshed after its card changed, and removed; usage errors.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use support::{Hub, HubBuilder};

const ADMIN_KEY: &str = "ahk_AgentsCliTestAdminKey0123456789abcdefgh";

fn card(name: &str, endpoint: &str, skills: &[&str]) -> Value {
    json!({
        "name": name,
        "description": format!("{name} plans and books trips."),
        "version": "1.2.0",
        "supportedInterfaces": [{"url": endpoint, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
        "capabilities": {},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": skills.iter().map(|id| json!({
            "id": id, "name": format!("Skill {id}"), "description": format!("Does {id}."), "tags": ["travel"]
        })).collect::<Vec<_>>(),
    })
}

/// A fake agent on loopback, served by a runtime of its own (the test itself is blocking),
/// whose card the test changes.
struct FakeAgent {
    base: String,
    card: Arc<Mutex<Value>>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeAgent {
    fn start(name: &str, skills: &[&str]) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Mutex::new(Value::Null));
        let router = Router::new()
            .route(
                "/.well-known/agent-card.json",
                get(|State(card): State<Arc<Mutex<Value>>>| async move {
                    axum::Json(card.lock().unwrap().clone())
                }),
            )
            .with_state(shared.clone());
        let address = runtime.block_on(agenthub_test_support::serve_on_loopback(router));
        let fake = Self {
            base: format!("http://{address}"),
            card: shared,
            _runtime: runtime,
        };
        fake.set_skills(name, skills);
        fake
    }

    fn set_skills(&self, name: &str, skills: &[&str]) {
        *self.card.lock().unwrap() = card(name, &format!("{}/a2a", self.base), skills);
    }
}

/// Polls `agenthub agents show NAME --json` until its state is `state`.
fn wait_state(hub: &Hub, name: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = hub
            .cli(ADMIN_KEY, &["agents", "show", name, "--json"])
            .json();
        if view["state"] == state {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is not {state}: {view}\n{}",
            hub.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn agents_are_added_listed_found_refreshed_and_removed() {
    let fake = FakeAgent::start("Planner", &["plan", "book", "cancel"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agenthub.yaml");
    std::fs::write(&config, "a2a:\n  allow_private_networks: true\n").unwrap();
    let hub = HubBuilder::new(dir.path().join("data"))
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("AGENTHUB_ADMIN_KEY", ADMIN_KEY)
        .start();

    // By URL: the hub reads the card before storing the registration.
    let added = hub.cli(
        ADMIN_KEY,
        &[
            "agents",
            "add",
            "planner",
            &fake.base,
            "--header",
            "X-Team=ops",
            "--refresh-interval",
            "5m",
        ],
    );
    assert_eq!(
        added.ok(),
        "registered agent planner: Planner 1.2.0 (A2A 1.0), 3 skills\n"
    );

    // By card: a JSON file registered as it is.
    let card_file = dir.path().join("echo.json");
    let echo = card("Echo", "http://127.0.0.1:9/a2a", &["echo"]);
    std::fs::write(&card_file, echo.to_string()).unwrap();
    let added = hub.cli(
        ADMIN_KEY,
        &[
            "agents",
            "add",
            "echo",
            "--card",
            card_file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        added.ok(),
        "registered agent echo: Echo 1.2.0 (A2A 1.0), 1 skill\n"
    );

    // A second registration under a taken name fails with the hub's reason.
    let again = hub.cli(
        ADMIN_KEY,
        &[
            "agents",
            "add",
            "echo",
            "--card",
            card_file.to_str().unwrap(),
        ],
    );
    assert!(
        again.fails_with(1).contains("already exists"),
        "{}",
        again.stderr
    );

    let view = wait_state(&hub, "planner", "ready");
    assert_eq!(view["registration"]["headers"], json!({"X-Team": "ops"}));
    let table = hub.cli(ADMIN_KEY, &["agents", "list"]).ok().to_owned();
    let mut lines = table.lines();
    let heading = lines.next().unwrap();
    for column in [
        "NAME", "SOURCE", "STATE", "PROTOCOL", "ENDPOINT", "SKILLS", "ERROR",
    ] {
        assert!(heading.contains(column), "{heading}");
    }
    let row = |name: &str| {
        table
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name}: {table}"))
            .to_owned()
    };
    let planner = row("planner");
    for cell in [
        "api",
        "ready",
        "1.0 JSONRPC",
        &format!("{}/a2a", fake.base),
        " 3 ",
    ] {
        assert!(planner.contains(cell), "{cell} missing: {planner}");
    }
    let echo_row = row("echo");
    for cell in ["api", "ready", "http://127.0.0.1:9/a2a", " 1 "] {
        assert!(echo_row.contains(cell), "{cell} missing: {echo_row}");
    }

    let shown = hub
        .cli(ADMIN_KEY, &["agents", "show", "planner"])
        .ok()
        .to_owned();
    for line in [
        "name:",
        "source:",
        "state:",
        "hub path:",
        "endpoint:",
        "protocol:",
        "description:",
        "url:",
        "headers:",
        "refresh_interval:",
        "skills:",
    ] {
        assert!(shown.contains(line), "{line} missing:\n{shown}");
    }
    assert!(shown.contains("/a2a/planner"), "{shown}");
    assert!(shown.contains(&fake.base), "{shown}");
    assert!(shown.contains("X-Team"), "{shown}");
    assert!(
        shown.contains("  plan (Skill plan): Does plan. [travel]"),
        "{shown}"
    );
    let shown = hub
        .cli(ADMIN_KEY, &["agents", "show", "echo"])
        .ok()
        .to_owned();
    assert!(shown.contains("card:"), "{shown}");
    assert!(shown.contains("given inline"), "{shown}");

    let found = hub
        .cli(ADMIN_KEY, &["agents", "find", "--skill", "book"])
        .ok()
        .to_owned();
    let mut lines = found.lines();
    let heading = lines.next().unwrap();
    for column in ["NAME", "PATH", "SKILLS", "DESCRIPTION"] {
        assert!(heading.contains(column), "{heading}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{found}");
    for cell in [
        "planner",
        "/a2a/planner",
        "plan,book,cancel",
        "Planner plans and books trips.",
    ] {
        assert!(rows[0].contains(cell), "{cell} missing: {found}");
    }
    let found = hub
        .cli(ADMIN_KEY, &["agents", "find", "--tag", "travel", "--json"])
        .json();
    assert_eq!(found.as_array().unwrap().len(), 2, "{found}");
    let found = hub
        .cli(ADMIN_KEY, &["agents", "find", "echoes"])
        .ok()
        .to_owned();
    assert_eq!(found.lines().count(), 1, "only the heading: {found}");
    let found = hub
        .cli(ADMIN_KEY, &["agents", "find", "does echo"])
        .ok()
        .to_owned();
    assert!(
        found.lines().nth(1).unwrap().starts_with("echo "),
        "{found}"
    );

    // The agent's card changes; refresh reads it now.
    fake.set_skills("Planner", &["plan", "book", "cancel", "rebook"]);
    let refreshed = hub
        .cli(ADMIN_KEY, &["agents", "refresh", "planner"])
        .ok()
        .to_owned();
    assert!(refreshed.contains("skills:"), "{refreshed}");
    assert!(refreshed.contains("  rebook (Skill rebook)"), "{refreshed}");
    let found = hub
        .cli(
            ADMIN_KEY,
            &["agents", "find", "--skill", "rebook", "--json"],
        )
        .json();
    assert_eq!(found[0]["name"], "planner", "{found}");

    // Remove.
    let removed = hub.cli(ADMIN_KEY, &["agents", "remove", "planner"]);
    assert_eq!(removed.ok(), "removed agent planner\n");
    let gone = hub.cli(ADMIN_KEY, &["agents", "show", "planner"]);
    assert!(gone.fails_with(1).contains("not found"), "{}", gone.stderr);
    let listed = hub.cli(ADMIN_KEY, &["agents", "list", "--json"]).json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["name"], "echo");
    let missing = hub.cli(ADMIN_KEY, &["agents", "refresh", "planner"]);
    assert!(missing.fails_with(1).contains("not found"));

    // Not checked: an agent that is not up yet is stored, its card read in the background.
    let port = support::hold_port();
    let down = format!("http://{}", port.local_addr().unwrap());
    drop(port);
    let refused = hub.cli(ADMIN_KEY, &["agents", "add", "later", &down]);
    assert!(
        refused.fails_with(1).contains("check=false"),
        "{}",
        refused.stderr
    );
    let added = hub.cli(ADMIN_KEY, &["agents", "add", "later", &down, "--no-check"]);
    assert!(
        added
            .ok()
            .starts_with("registered agent later (not checked"),
        "{}",
        added.stdout
    );
    let failed = wait_state(&hub, "later", "failed");
    assert!(failed["error"].as_str().is_some(), "{failed}");

    hub.stop_cleanly();
}

#[test]
fn usage_errors_exit_with_2() {
    // Nothing to register: no URL, --card or --file (caught before any call).
    let none = support::cli(
        &["agents", "add", "planner"],
        &[("AGENTHUB_URL", "http://127.0.0.1:9")],
        None,
    );
    assert!(
        none.fails_with(2)
            .contains("give the agent's URL, --card or --file"),
        "{}",
        none.stderr
    );
    let nameless = support::cli(
        &["agents", "add"],
        &[("AGENTHUB_URL", "http://127.0.0.1:9")],
        None,
    );
    assert!(
        nameless.fails_with(2).contains("NAME"),
        "{}",
        nameless.stderr
    );
    // Flags that do not go together, and a missing card file.
    let both = support::cli(
        &[
            "agents",
            "add",
            "planner",
            "https://planner.example.com",
            "--card",
            "card.json",
        ],
        &[],
        None,
    );
    both.fails_with(2);
    let missing = support::cli(
        &[
            "agents",
            "add",
            "planner",
            "--card",
            "/nonexistent/card.json",
        ],
        &[],
        None,
    );
    assert!(
        missing.fails_with(2).contains("/nonexistent/card.json"),
        "{}",
        missing.stderr
    );
}
