//! Agents built with the official Python `a2a-sdk` (`tests/a2a/agent.py`) behind the real
//! `agenthub` binary, driven by the a2a-sdk client (`tests/a2a/client.py`): a v1.0 agent and a
//! v0.3 one talk through the hub, every message they receive signed by the hub and verified by
//! them against its JWKS; a three-agent delegation chain, and the loop the hub stops; and the
//! same agents reached as MCP tools by the official Python `mcp` SDK.
//!
//! Skipped with a notice without the SDK venv, unless CI requires it.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::a2a::{PyAgent, client};
use support::sdk::{python, run_script};
use support::{Http, Hub, HubBuilder, poll};

/// An operator-chosen admin key (`ahk_` and 40 base62 characters).
const ADMIN_KEY: &str = "ahk_A2aSdkTestAdminKey0123456789abcdefghijk";

const CONFIG: &str = r#"
a2a:
  allow_private_networks: true
policies:
  - {subject: "service:svc-planner", resource: "agent:*", action: send}
  - {subject: "service:svc-booker", resource: "agent:*", action: send}
  - {subject: "service:svc-checker", resource: "agent:*", action: send}
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

/// A service account `svc-<agent>` and its key, for an agent calling the hub.
fn service_key(http: &Http, hub: &Hub, agent: &str) -> String {
    let name = format!("svc-{agent}");
    let created = http.post(
        &format!("{}/api/v1/service-accounts", hub.url),
        Some(ADMIN_KEY),
        &json!({"name": name}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let key = http.post(
        &format!("{}/api/v1/keys", hub.url),
        Some(ADMIN_KEY),
        &json!({"name": agent, "owner": name, "scopes": ["a2a"]}),
    );
    assert_eq!(key.status, 201, "{}", key.body);
    key.json()["key"].as_str().unwrap().to_owned()
}

fn register(http: &Http, hub: &Hub, name: &str, agent: &PyAgent) {
    let registered = http.post(
        &format!("{}/api/v1/agents", hub.url),
        Some(ADMIN_KEY),
        &json!({"name": name, "url": agent.url(), "principal": format!("svc-{name}")}),
    );
    assert_eq!(registered.status, 201, "{}", registered.body);
}

/// The `seen` record of the echo artifact: what the agent saw of the message.
fn seen(result: &Value) -> &Value {
    &result["task"]["artifacts"][0]["metadata"]["seen"]
}

/// A running hub with three agents registered: planner (v1.0), booker (v0.3), checker
/// (v1.0), each verifying the hub's signatures and able to delegate through the hub.
struct Lab {
    hub: Hub,
    _agents: Vec<PyAgent>,
    _dir: tempfile::TempDir,
}

fn lab(python: &std::path::Path) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path());
    let http = Http::new();
    let jwks = format!("{}/.well-known/jwks.json", hub.url);
    let mut agents = Vec::new();
    for (name, v03) in [("planner", false), ("booker", true), ("checker", false)] {
        let key = service_key(&http, &hub, name);
        let audience = format!("agent:{name}");
        let mut args = vec![
            "--jwks",
            &jwks,
            "--audience",
            &audience,
            "--hub",
            &hub.url,
            "--hub-token",
            &key,
        ];
        if v03 {
            args.push("--v03");
        }
        let agent = PyAgent::start(python, name, &args);
        register(&http, &hub, name, &agent);
        agents.push(agent);
    }
    Lab {
        hub,
        _agents: agents,
        _dir: dir,
    }
}

#[test]
fn two_sdk_agents_talk_through_the_hub_with_signed_verified_messages() {
    let Some(python) = python() else { return };
    let lab = lab(&python);
    let hub = &lab.hub;

    // A v1.0 agent and a v0.3 agent, each reached through the hub by the a2a-sdk client
    // (which reads the hub's card for each); each verified the hub's signature.
    for (agent, version) in [("planner", "1.0"), ("booker", "0.3")] {
        let url = format!("{}/a2a/{agent}", hub.url);
        let sent = client(&python, &url, ADMIN_KEY, &["send", "echo hello"]);
        assert!(sent.ok, "{agent}: {sent:?}");
        let result = sent.last();
        assert_eq!(result["state"], "TASK_STATE_COMPLETED", "{agent}: {result}");
        assert_eq!(result["text"], "hello");
        let seen = seen(result);
        assert_eq!(
            seen["verified"], true,
            "{agent} did not verify the hub's signature: {seen}"
        );
        assert_eq!(seen["a2aVersion"], version, "{seen}");
        assert_eq!(seen["signature"]["aud"], format!("agent:{agent}"));
        assert_eq!(seen["signature"]["chain"], json!(["user:admin"]));
        assert!(
            seen["traceparent"]
                .as_str()
                .is_some_and(|t| t.starts_with("00-")),
            "{seen}"
        );

        // Streams are relayed event by event, in the client's version.
        let streamed = client(&python, &url, ADMIN_KEY, &["stream", "stream 3"]);
        assert!(streamed.ok, "{agent}: {streamed:?}");
        let artifacts = streamed
            .lines
            .iter()
            .filter(|l| l.get("artifactUpdate").is_some())
            .count();
        assert_eq!(artifacts, 3, "{:?}", streamed.lines);
        assert_eq!(
            streamed.last()["statusUpdate"]["status"]["state"],
            "TASK_STATE_COMPLETED",
            "{:?}",
            streamed.lines
        );
    }

    // One agent asks the other through the hub: planner (v1.0) → booker (v0.3). The booker
    // saw the chain user → planner, in a message the hub signed for it.
    let planner = format!("{}/a2a/planner", hub.url);
    let delegated = client(
        &python,
        &planner,
        ADMIN_KEY,
        &["send", "delegate booker echo from afar"],
    );
    assert!(delegated.ok, "{delegated:?}");
    let result = delegated.last();
    assert_eq!(result["state"], "TASK_STATE_COMPLETED", "{result}");
    assert_eq!(result["text"], "from afar");
    let reply_seen = &result["task"]["artifacts"][0]["metadata"]["delegate"]["replySeen"]["seen"];
    assert_eq!(reply_seen["verified"], true, "{reply_seen}");
    assert_eq!(
        reply_seen["signature"]["chain"],
        json!(["user:admin", "agent:planner"]),
        "{reply_seen}"
    );
    assert_eq!(reply_seen["signature"]["sub"], "user:admin");
    // The trace continues across the hop.
    let outer = seen(result)["traceparent"]
        .as_str()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .to_owned();
    let inner = reply_seen["traceparent"]
        .as_str()
        .unwrap()
        .split('-')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(outer, inner, "one trace across the delegation");

    // A three-agent chain that loops back is stopped by the hub: planner → booker → checker →
    // planner. The innermost delegation fails with the hub's loop error, named.
    let looped = client(
        &python,
        &planner,
        ADMIN_KEY,
        &[
            "send",
            "delegate booker delegate checker delegate planner echo round",
        ],
    );
    let text = serde_json::to_string(&looped.lines).unwrap();
    assert!(
        text.contains("delegation loop"),
        "the loop was not stopped: {text}"
    );
    assert!(
        text.contains("user:admin → agent:planner → agent:booker → agent:checker"),
        "{text}"
    );

    // The trace of the delegation is kept, and shown by the CLI as a tree: booker's span
    // inside planner's.
    let http = Http::new();
    let complete = poll(Duration::from_secs(15), || {
        let reply = http.get(
            &format!("{}/api/v1/traces/{outer}", hub.url),
            Some(ADMIN_KEY),
        );
        let trace = (reply.status == 200).then(|| reply.json())?;
        let root = &trace["spans"][0];
        let child = &root["children"][0];
        (root["agent"] == "planner" && child["agent"] == "booker" && !root["outcome"].is_null())
            .then_some(trace)
    });
    let trace = complete
        .unwrap_or_else(|| panic!("the delegation's trace was not recorded\n{}", hub.stderr()));
    assert_eq!(
        trace["spans"][0]["children"][0]["chain"],
        json!(["user:admin", "agent:planner"])
    );
    let shown = hub.cli(ADMIN_KEY, &["trace", "show", &outer]);
    let text = shown.ok();
    let planner_line = text
        .lines()
        .position(|l| l.contains("planner"))
        .unwrap_or(usize::MAX);
    let booker_line = text
        .lines()
        .position(|l| l.contains("booker"))
        .unwrap_or(usize::MAX);
    assert!(
        planner_line < booker_line && booker_line != usize::MAX,
        "{text}"
    );
    assert!(text.contains("from afar"), "{text}");

    // Replayed with the CLI: the same request sent again, the new run the same as recorded.
    let replayed = hub.cli(ADMIN_KEY, &["replay", &outer, "--wait", "20s"]);
    let text = replayed.ok();
    assert!(
        text.contains("planner") && text.contains("booker"),
        "{text}"
    );
    assert!(text.to_lowercase().contains("same"), "{text}");
    // ... or to another agent: checker in planner's place delegates to booker the same way.
    let elsewhere = hub.cli(
        ADMIN_KEY,
        &[
            "replay",
            &outer,
            "--agent",
            "planner=checker",
            "--wait",
            "20s",
        ],
    );
    let text = elsewhere.ok();
    println!("{text}");
    assert!(text.contains("checker"), "{text}");
}

/// An MCP-only client — the official Python `mcp` SDK — reaches the same agents as tools of the
/// hub's `/mcp`: each call a signed exchange the agent verifies, able to delegate down a chain
/// (`tests/sdk/a2a_tools.py`).
#[test]
fn the_python_mcp_sdk_delegates_to_sdk_agents_through_their_tools() {
    let Some(python) = python() else { return };
    let lab = lab(&python);
    let env = [
        ("AGENTHUB_URL", lab.hub.url.clone()),
        ("AGENTHUB_KEY", ADMIN_KEY.to_owned()),
    ];
    run_script(&python, "a2a_tools.py", &env, &lab.hub.stderr());
}

#[test]
fn unknown_and_forbidden_agents_look_alike_and_bad_requests_get_clear_errors() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path());
    let http = Http::new();
    let echo = PyAgent::start(&python, "echo", &[]);
    register(&http, &hub, "echo", &echo);
    // A user without any grant on agents (no team: the starter policy gives it nothing).
    let created = http.post(
        &format!("{}/api/v1/users", hub.url),
        Some(ADMIN_KEY),
        &json!({"name": "eve"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let key = http.post(
        &format!("{}/api/v1/keys", hub.url),
        Some(ADMIN_KEY),
        &json!({"name": "eve", "owner": "eve", "scopes": ["a2a"]}),
    );
    let eve = key.json()["key"].as_str().unwrap().to_owned();
    let send = json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage",
        "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "echo hi"}]}}});
    let forbidden = http.post(&format!("{}/a2a/echo", hub.url), Some(&eve), &send);
    let unknown = http.post(&format!("{}/a2a/nobody", hub.url), Some(&eve), &send);
    assert_eq!(forbidden.status, 404, "{}", forbidden.body);
    assert_eq!(unknown.status, 404);
    assert_eq!(
        forbidden.json()["error"]["code"],
        unknown.json()["error"]["code"],
        "{} vs {}",
        forbidden.body,
        unknown.body
    );
    // The admin reaches it; bad JSON-RPC is answered per JSON-RPC.
    let ok = http.post(&format!("{}/a2a/echo", hub.url), Some(ADMIN_KEY), &send);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.json()["result"]["task"]["status"]["state"],
        "TASK_STATE_COMPLETED",
        "{}",
        ok.body
    );
    let bad = http.post(
        &format!("{}/a2a/echo", hub.url),
        Some(ADMIN_KEY),
        &json!({"jsonrpc": "2.0", "id": 2}),
    );
    assert_eq!(bad.json()["error"]["code"], -32600, "{}", bad.body);
    let unknown_method = http.post(
        &format!("{}/a2a/echo", hub.url),
        Some(ADMIN_KEY),
        &json!({"jsonrpc": "2.0", "id": 3, "method": "Nope", "params": {}}),
    );
    assert_eq!(
        unknown_method.json()["error"]["code"],
        -32601,
        "{}",
        unknown_method.body
    );
    // Another principal's task is not found.
    let task = ok.json()["result"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = json!({"jsonrpc": "2.0", "id": 4, "method": "GetTask", "params": {"id": task}});
    let mine = http.post(&format!("{}/a2a/echo", hub.url), Some(ADMIN_KEY), &get);
    assert_eq!(mine.json()["result"]["id"], task.as_str(), "{}", mine.body);
    let policy = http.post(
        &format!("{}/api/v1/policies", hub.url),
        Some(ADMIN_KEY),
        &json!({"subject": "user:eve", "resource": "agent:echo", "action": "read"}),
    );
    assert_eq!(policy.status, 201, "{}", policy.body);
    let theirs = http.post(&format!("{}/a2a/echo", hub.url), Some(&eve), &get);
    assert_eq!(theirs.json()["error"]["code"], -32001, "{}", theirs.body);
    drop(echo);
}

/// The signature helper agents use (`sdk/python/agenthub_a2a`) passes its own tests, the
/// shared test vectors of `a2a-bus/tests/data/signature-vectors.json` included.
#[test]
fn the_python_signature_helper_passes_its_tests_and_the_shared_vectors() {
    let Some(python) = python() else { return };
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(root.join("sdk/python/tests/test_signing.py"))
        .current_dir(&root)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let finished = support::run(&mut cmd, None, Duration::from_secs(120));
    assert!(
        finished.status.success(),
        "{}\n{}",
        finished.stdout,
        finished.stderr
    );
    assert!(finished.stdout.contains(" 0 failed"), "{}", finished.stdout);
    assert!(
        finished.stdout.contains(" 0 skipped"),
        "the vectors must be checked: {}",
        finished.stdout
    );
}

/// A PKCS#8 PEM file of a new P-256 key (ring writes Ed25519 keys as PKCS#8 v2, which the
/// Python cryptography package cannot read), for an agent that signs what it sends.
fn signing_key_pem(dir: &std::path::Path) -> std::path::PathBuf {
    use base64::Engine as _;
    let key = agenthub_a2a_bus::signing::SigningKey::generate(
        agenthub_a2a_bus::signing::SigningAlgorithm::Es256,
    )
    .unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(key.to_pkcs8());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
    let path = dir.join("agent-key.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn agents_that_registered_keys_must_sign_what_they_send() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path());
    let http = Http::new();
    let jwks = format!("{}/.well-known/jwks.json", hub.url);
    let echo = PyAgent::start(
        &python,
        "echo",
        &["--jwks", &jwks, "--audience", "agent:echo"],
    );
    register(&http, &hub, "echo", &echo);

    // planner signs its delegations with its own key, registered with the hub.
    let pem = signing_key_pem(dir.path());
    let planner_key = service_key(&http, &hub, "planner");
    let planner = PyAgent::start(
        &python,
        "planner",
        &[
            "--hub",
            &hub.url,
            "--hub-token",
            &planner_key,
            "--sign-key",
            pem.to_str().unwrap(),
        ],
    );
    let keys = http
        .get(&format!("{}/.well-known/jwks.json", planner.url()), None)
        .json();
    let registered = http.post(
        &format!("{}/api/v1/agents", hub.url),
        Some(ADMIN_KEY),
        &json!({"name": "planner", "url": planner.url(), "principal": "svc-planner",
                "public_keys": keys["keys"]}),
    );
    assert_eq!(registered.status, 201, "{}", registered.body);

    // booker claims the same key but signs nothing.
    let booker_key = service_key(&http, &hub, "booker");
    let booker = PyAgent::start(
        &python,
        "booker",
        &["--hub", &hub.url, "--hub-token", &booker_key],
    );
    let registered = http.post(
        &format!("{}/api/v1/agents", hub.url),
        Some(ADMIN_KEY),
        &json!({"name": "booker", "url": booker.url(), "principal": "svc-booker",
                "public_keys": keys["keys"]}),
    );
    assert_eq!(registered.status, 201, "{}", registered.body);

    let signed = client(
        &python,
        &format!("{}/a2a/planner", hub.url),
        ADMIN_KEY,
        &["send", "delegate echo signed hello"],
    );
    assert!(signed.ok, "{signed:?}\n{}", planner.log());
    let result = signed.last();
    assert_eq!(result["state"], "TASK_STATE_COMPLETED", "{result}");
    let reply_seen = &result["task"]["artifacts"][0]["metadata"]["delegate"]["replySeen"]["seen"];
    assert_eq!(reply_seen["verified"], true, "{reply_seen}");
    assert_eq!(
        reply_seen["signature"]["chain"],
        json!(["user:admin", "agent:planner"])
    );

    let unsigned = client(
        &python,
        &format!("{}/a2a/booker", hub.url),
        ADMIN_KEY,
        &["send", "delegate echo unsigned hello"],
    );
    let text = serde_json::to_string(&unsigned.lines).unwrap();
    assert!(text.contains("TASK_STATE_FAILED"), "{text}");
    assert!(
        text.contains("signs what it sends") && text.contains("carries no signature"),
        "{text}"
    );
}

/// Runs a `client.py script` (one command per line) against `url`.
fn script(
    python: &std::path::Path,
    dir: &std::path::Path,
    url: &str,
    lines: &[&str],
    extra: &[&str],
) -> support::a2a::ClientRun {
    let path = dir.join(format!("script-{}.txt", fastrand::u32(..)));
    std::fs::write(&path, lines.join("\n")).unwrap();
    let mut args = extra.to_vec();
    args.extend(["script", path.to_str().unwrap()]);
    client(python, url, ADMIN_KEY, &args)
}

#[test]
fn task_methods_reach_the_owning_agent_in_either_version_also_through_a_skill() {
    let Some(python) = python() else { return };
    let lab = lab(&python);
    let hub = &lab.hub;
    let dir = tempfile::tempdir().unwrap();
    for agent in ["planner", "booker"] {
        let url = format!("{}/a2a/{agent}", hub.url);
        // A task that works until canceled: read, canceled, read again.
        let run = script(
            &python,
            dir.path(),
            &url,
            &[
                "send slow --no-wait",
                "sleep 0.5",
                "get $task",
                "cancel $task",
                "get $task",
            ],
            &[],
        );
        assert!(run.ok, "{agent}: {run:?}");
        let states: Vec<&str> = run
            .lines
            .iter()
            .filter_map(|l| l["state"].as_str())
            .collect();
        assert_eq!(
            states.last(),
            Some(&"TASK_STATE_CANCELED"),
            "{agent}: {states:?}"
        );
        assert!(
            states.contains(&"TASK_STATE_WORKING"),
            "{agent}: {states:?}"
        );

        // A stream followed again from elsewhere: the rest of its events, to the end.
        let run = script(
            &python,
            dir.path(),
            &url,
            &[
                "send \"stream 30\" --no-wait",
                "sleep 0.3",
                "resubscribe $task",
            ],
            &[],
        );
        assert!(run.ok, "{agent}: {run:?}");
        let last = run.last();
        assert_eq!(
            last["statusUpdate"]["status"]["state"], "TASK_STATE_COMPLETED",
            "{agent}: {:?}",
            run.lines
        );
    }

    // skill:echo reaches an agent offering it; its task is then read through the skill too.
    let url = format!("{}/a2a/skill:echo", hub.url);
    let run = script(
        &python,
        dir.path(),
        &url,
        &["send \"echo by skill\"", "get $task"],
        &[],
    );
    assert!(run.ok, "{run:?}");
    assert_eq!(
        run.last()["state"],
        "TASK_STATE_COMPLETED",
        "{:?}",
        run.lines
    );
    assert_eq!(run.last()["text"], "by skill");

    // The REST binding, to a v1.0 agent and (translated to JSON-RPC v0.3) to the v0.3 one.
    for agent in ["planner", "booker"] {
        let url = format!("{}/a2a/{agent}", hub.url);
        let run = script(
            &python,
            dir.path(),
            &url,
            &[
                "send \"echo over rest\"",
                "get $task",
                "stream \"stream 2\"",
            ],
            &["--transport", "rest"],
        );
        assert!(run.ok, "{agent}: {run:?}");
        assert_eq!(
            run.last()["statusUpdate"]["status"]["state"],
            "TASK_STATE_COMPLETED",
            "{agent}: {:?}",
            run.lines
        );
        assert!(
            run.lines.iter().any(|l| l["text"] == "over rest"),
            "{agent}: {:?}",
            run.lines
        );
    }

    // Someone else's task, or an unknown one, is not found.
    let unknown = client(
        &python,
        &format!("{}/a2a/planner", hub.url),
        ADMIN_KEY,
        &["get", "no-such-task"],
    );
    assert!(!unknown.ok);
    assert_eq!(
        unknown.last()["error"]["code"],
        -32001,
        "{:?}",
        unknown.lines
    );
}
