//! A2A push notifications through the real `agenthub` binary, with agents built on the
//! official Python a2a-sdk (`tests/a2a/agent.py`, which sends notifications through a2a-sdk's
//! own sender): the agents are given the hub's webhook, and the hub delivers to the client's.
//! The a2a-sdk client (`tests/a2a/client.py push`) receives them through the hub from a v1.0
//! agent and a v0.3 agent, in its own version and with its own token; a webhook of the test's
//! own that fails once gets the same delivery again, once; push configs read back are the
//! client's own.
//!
//! Skipped with a notice without the SDK venv, unless CI requires it.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use support::a2a::{PyAgent, client};
use support::sdk::python;
use support::{Http, Hub, HubBuilder, poll};

/// An operator-chosen admin key (`ahk_` and 40 base62 characters).
const ADMIN_KEY: &str = "ahk_A2aPushTestAdminKey0123456789abcdefghij";

/// The clients' webhooks are on loopback, so private destinations are allowed; retries come
/// quickly.
const CONFIG: &str = r#"
a2a:
  allow_private_networks: true
  push:
    retry_initial: 200ms
    retry_max: 1s
"#;

fn start_hub(dir: &std::path::Path) -> Hub {
    let config = dir.join("agenthub.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    HubBuilder::new(dir.join("data"))
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("AGENTHUB_ADMIN_KEY", ADMIN_KEY)
        .start()
}

fn register(http: &Http, hub: &Hub, name: &str, agent: &PyAgent) {
    let registered = http.post(
        &format!("{}/api/v1/agents", hub.url),
        Some(ADMIN_KEY),
        &json!({"name": name, "url": agent.url()}),
    );
    assert_eq!(registered.status, 201, "{}", registered.body);
}

/// The kind of a notification body in either version, and the version it is in.
fn kind_of(body: &Value) -> (&'static str, &'static str) {
    match body.get("kind").and_then(Value::as_str) {
        Some("task") => ("task", "0.3"),
        Some("status-update") => ("status", "0.3"),
        Some("artifact-update") => ("artifact", "0.3"),
        Some(_) => ("other", "0.3"),
        None if body.get("task").is_some() => ("task", "1.0"),
        None if body.get("statusUpdate").is_some() => ("status", "1.0"),
        None if body.get("artifactUpdate").is_some() => ("artifact", "1.0"),
        None => ("other", "1.0"),
    }
}

#[test]
fn sdk_clients_receive_notifications_from_v1_and_v0_3_agents_through_the_hub() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path());
    let http = Http::new();
    let current = PyAgent::start(&python, "current", &[]);
    let old = PyAgent::start(&python, "old", &["--v03"]);
    register(&http, &hub, "current", &current);
    register(&http, &hub, "old", &old);

    // The cards say what the agents do: the hub relays their push notifications.
    for path in [
        "/.well-known/agent-card.json",
        "/a2a/current/.well-known/agent-card.json",
        "/a2a/old/.well-known/agent-card.json",
    ] {
        let card = http.get(&format!("{}{path}", hub.url), Some(ADMIN_KEY));
        assert_eq!(card.status, 200, "{path}: {}", card.body);
        assert_eq!(
            card.json()["capabilities"]["pushNotifications"],
            true,
            "{path}: {}",
            card.body
        );
    }

    // (agent, client arguments, the version the client speaks)
    let cases: [(&str, &[&str], &str); 3] = [
        ("current", &[], "1.0"),
        ("old", &["--v03"], "0.3"),
        // A v1.0 client of a v0.3 agent: the agent's notifications converted.
        ("old", &[], "1.0"),
    ];
    for (agent, args, version) in cases {
        let url = format!("{}/a2a/{agent}", hub.url);
        let mut command: Vec<&str> = args.to_vec();
        command.extend(["push", "stream 2", "--webhook-port", "0", "--wait", "30"]);
        let run = client(&python, &url, ADMIN_KEY, &command);
        let label = format!("{agent} as {version}");
        assert!(run.ok, "{label}: {run:?}\nhub:\n{}", hub.stderr());
        let done = &run.last()["pushDone"];
        assert_eq!(done["final"], "TASK_STATE_COMPLETED", "{label}: {run:?}");
        assert_eq!(done["timedOut"], false);
        let pushes: Vec<&Value> = run.lines.iter().filter_map(|l| l.get("push")).collect();
        assert_eq!(pushes.len() as u64, done["count"].as_u64().unwrap());
        let mut ids = std::collections::BTreeSet::new();
        let mut kinds = Vec::new();
        for push in &pushes {
            assert_eq!(push["method"], "POST");
            assert_eq!(push["path"], "/webhook", "{push}");
            let headers = &push["headers"];
            // The client's own token and credentials, never the hub's.
            assert_eq!(headers["x-a2a-notification-token"], "push-token", "{push}");
            assert_eq!(headers["authorization"], "Bearer webhook-secret", "{push}");
            assert_eq!(headers["content-type"], "application/json");
            let id = headers["x-a2a-delivery-id"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{push}");
            assert!(ids.insert(id.to_owned()), "delivered twice: {push}");
            let (kind, in_version) = kind_of(&push["body"]);
            assert_eq!(
                in_version, version,
                "{label}: not in the client's version: {push}"
            );
            kinds.push(kind);
        }
        // In order: the task first, both chunks, the final status last.
        assert_eq!(kinds.first(), Some(&"task"), "{label}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&"status"), "{label}: {kinds:?}");
        assert_eq!(
            kinds.iter().filter(|k| **k == "artifact").count(),
            2,
            "{label}: {kinds:?}"
        );
    }
    drop((current, old));
}

/// What the test's webhook saw: each request's delivery id, body, token and Authorization.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<BTreeMap<&'static str, String>>>>);

impl Seen {
    fn all(&self) -> Vec<BTreeMap<&'static str, String>> {
        self.0.lock().unwrap().clone()
    }
}

/// A webhook on loopback that answers 500 to its first request and 200 to the others.
struct Webhook {
    url: String,
    seen: Seen,
    _runtime: tokio::runtime::Runtime,
}

fn webhook() -> Webhook {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen = Seen::default();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let seen = seen.clone();
            move |headers: HeaderMap, body: String| async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let mut seen = seen.0.lock().unwrap();
                seen.push(BTreeMap::from([
                    ("id", header("x-a2a-delivery-id")),
                    ("body", body),
                    ("token", header("x-a2a-notification-token")),
                    ("authorization", header("authorization")),
                ]));
                if seen.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let address = runtime.block_on(agenthub_test_support::serve_on_loopback(app));
    Webhook {
        url: format!("http://{address}/hook"),
        seen,
        _runtime: runtime,
    }
}

fn rpc(http: &Http, hub: &Hub, agent: &str, method: &str, params: Value) -> Value {
    let reply = http.post(
        &format!("{}/a2a/{agent}", hub.url),
        Some(ADMIN_KEY),
        &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
    );
    assert_eq!(reply.status, 200, "{method}: {}", reply.body);
    let body = reply.json();
    assert!(body.get("error").is_none(), "{method}: {body}");
    body["result"].clone()
}

#[test]
fn a_failed_delivery_is_retried_once_and_push_configs_read_back_as_the_clients() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path());
    let http = Http::new();
    let agent = PyAgent::start(&python, "current", &[]);
    register(&http, &hub, "current", &agent);
    let hook = webhook();

    // A config given with the message; the webhook fails the first notification.
    let message = |text: &str| json!({"messageId": format!("m-{}", text.len()), "role": "ROLE_USER", "parts": [{"text": text}]});
    let sent = rpc(
        &http,
        &hub,
        "current",
        "SendMessage",
        json!({"message": message("echo retried"), "configuration": {
            "returnImmediately": true,
            "taskPushNotificationConfig": {"url": hook.url, "token": "tok",
                "authentication": {"scheme": "Bearer", "credentials": "cred"}}}}),
    );
    let task = sent["task"]["id"].as_str().unwrap().to_owned();
    let completed = poll(Duration::from_secs(30), || {
        let seen = hook.seen.all();
        seen.iter()
            .any(|s| s["body"].contains("TASK_STATE_COMPLETED"))
            .then_some(())
    });
    assert!(
        completed.is_some(),
        "no final notification: {:?}\nhub:\n{}\nagent:\n{}",
        hook.seen.all(),
        hub.stderr(),
        agent.log()
    );
    // Room for a duplicate to show, if there were one.
    std::thread::sleep(Duration::from_millis(1500));
    let seen = hook.seen.all();
    let first = &seen[0];
    let again: Vec<_> = seen.iter().filter(|s| s["id"] == first["id"]).collect();
    assert_eq!(again.len(), 2, "retried once, then delivered: {seen:?}");
    assert_eq!(again[1]["body"], first["body"], "the same body on retries");
    let mut ids: Vec<&String> = seen.iter().map(|s| &s["id"]).collect();
    ids.dedup();
    assert_eq!(ids.len(), seen.len() - 1, "every other one once: {seen:?}");
    for s in &seen {
        assert_eq!(s["token"], "tok");
        assert_eq!(s["authorization"], "Bearer cred");
        let body: Value = serde_json::from_str(&s["body"]).unwrap();
        let about = body
            .get("task")
            .map(|t| &t["id"])
            .or(body.get("statusUpdate").map(|u| &u["taskId"]))
            .or(body.get("artifactUpdate").map(|u| &u["taskId"]));
        assert_eq!(about, Some(&json!(task)), "{body}");
    }

    // Read back, the config is the client's: its URL and token, not the hub's.
    let listed = rpc(
        &http,
        &hub,
        "current",
        "ListTaskPushNotificationConfigs",
        json!({"taskId": task}),
    );
    let configs = listed["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 1, "{listed}");
    assert_eq!(configs[0]["url"], hook.url.as_str(), "{listed}");
    assert_eq!(configs[0]["token"], "tok");
    assert_eq!(configs[0]["authentication"]["credentials"], "cred");
    assert!(!listed.to_string().contains("/a2a/_push/"), "{listed}");

    // A config created for a running task: notified when it is canceled.
    let slow = rpc(
        &http,
        &hub,
        "current",
        "SendMessage",
        json!({"message": message("slow"), "configuration": {"returnImmediately": true}}),
    );
    let slow_task = slow["task"]["id"].as_str().unwrap().to_owned();
    let created = rpc(
        &http,
        &hub,
        "current",
        "CreateTaskPushNotificationConfig",
        json!({"taskId": slow_task, "id": "cfg-1", "url": hook.url, "token": "tok2"}),
    );
    assert_eq!(created["url"], hook.url.as_str(), "{created}");
    assert_eq!(created["token"], "tok2", "{created}");
    assert!(created.get("authentication").is_none(), "{created}");
    let got = rpc(
        &http,
        &hub,
        "current",
        "GetTaskPushNotificationConfig",
        json!({"taskId": slow_task, "id": "cfg-1"}),
    );
    assert_eq!(got["url"], hook.url.as_str(), "{got}");
    assert_eq!(got["token"], "tok2");
    let before = hook.seen.all().len();
    rpc(
        &http,
        &hub,
        "current",
        "CancelTask",
        json!({"id": slow_task}),
    );
    let canceled = poll(Duration::from_secs(20), || {
        hook.seen.all()[before..]
            .iter()
            .find(|s| s["body"].contains("TASK_STATE_CANCELED"))
            .cloned()
    })
    .unwrap_or_else(|| panic!("no cancel notification: {:?}", hook.seen.all()));
    assert_eq!(canceled["token"], "tok2");
    assert_eq!(canceled["authorization"], "");

    // Deleted: gone at the agent and at the hub.
    rpc(
        &http,
        &hub,
        "current",
        "DeleteTaskPushNotificationConfig",
        json!({"taskId": slow_task, "id": "cfg-1"}),
    );
    let listed = rpc(
        &http,
        &hub,
        "current",
        "ListTaskPushNotificationConfigs",
        json!({"taskId": slow_task}),
    );
    assert_eq!(
        listed["configs"].as_array().map_or(0, Vec::len),
        0,
        "{listed}"
    );
    drop(agent);
}

#[test]
fn a_webhook_on_a_private_network_is_refused_by_default() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agenthub.yaml");
    // Agents registered in the file may be on loopback; webhooks may not.
    let agent = PyAgent::start(&python, "current", &[]);
    std::fs::write(
        &config,
        format!("agents:\n  - {{name: current, url: \"{}\"}}\n", agent.url()),
    )
    .unwrap();
    let hub = HubBuilder::new(dir.path().join("data"))
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("AGENTHUB_ADMIN_KEY", ADMIN_KEY)
        .start();
    let http = Http::new();
    let reply = http.post(
        &format!("{}/a2a/current", hub.url),
        Some(ADMIN_KEY),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {
            "message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "echo hi"}]},
            "configuration": {"taskPushNotificationConfig": {"url": "http://127.0.0.1:9/hook"}}}}),
    );
    let body = reply.json();
    assert_eq!(body["error"]["code"], -32602, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("params.configuration.taskPushNotificationConfig.url:")
            && message.contains("a2a.allow_private_networks"),
        "{message}"
    );
    drop(agent);
}
