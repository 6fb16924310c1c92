//! The new user's path, against the real binary: register `server-everything` over streamable
//! HTTP and as a stdio process with the CLI, then connect the MCP Inspector's CLI to `/mcp`
//! with an API key — each identity sees and calls what its grants allow, and nothing else.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use agenthub_test_support::mcp::{EverythingOverHttp, inspector, server_everything};
use serde_json::Value;
use support::{Finished, HubBuilder, run};

const ADMIN_KEY: &str = "ahk_McpInspectorTestAdminKey0123456789abcde";

/// `inspector --cli <hub>/mcp ARGS` with `key` as a bearer token.
fn inspect(inspector: &Path, hub: &str, key: &str, args: &[&str]) -> Finished {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new("node");
    command
        .arg(inspector)
        .arg("--cli")
        .arg(format!("{hub}/mcp"))
        .args(["--transport", "http"])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(args)
        // Its catalog file goes to a fresh home.
        .env("HOME", home.path());
    run(&mut command, None, Duration::from_secs(60))
}

fn json_of(finished: &Finished) -> Value {
    serde_json::from_str(finished.ok()).unwrap_or_else(|e| panic!("{e}: {}", finished.stdout))
}

fn tool_names(listed: &Value) -> Vec<String> {
    let mut names: Vec<String> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn created_key(output: &str) -> String {
    let key = output.lines().next().unwrap_or_default().trim().to_owned();
    assert!(key.starts_with("ahk_"), "no key in:\n{output}");
    key
}

#[test]
fn the_inspector_sees_and_calls_what_each_identity_may() {
    let (Some(everything), Some(inspector)) = (server_everything(), inspector()) else {
        return;
    };
    let upstream = EverythingOverHttp::start(&everything);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agenthub.yaml");
    std::fs::write(
        &config,
        r#"
mcp:
  allow_private_networks: true
authorization:
  starter_policy: false
roles:
  - {member: "user:alice", role: "role:toolsmith"}
policies:
  - {subject: "role:admin", resource: "*", action: "*"}
  - {subject: "role:toolsmith", resource: "mcp:*", action: list}
  - {subject: "role:toolsmith", resource: "mcp:*", action: call}
  - {subject: "user:bob", resource: "mcp:local/get-sum", action: list}
  - {subject: "user:bob", resource: "mcp:local/get-sum", action: call}
  - {subject: "user:bob", resource: "mcp:remote/echo", action: list}
"#,
    )
    .unwrap();
    let hub = HubBuilder::new(dir.path().join("data"))
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("AGENTHUB_ADMIN_KEY", ADMIN_KEY)
        .start();

    let script = everything.to_str().unwrap();
    hub.cli(ADMIN_KEY, &["mcp", "add", "remote", &upstream.url])
        .ok();
    hub.cli(
        ADMIN_KEY,
        &[
            "mcp",
            "add",
            "local",
            "--command",
            "node",
            "--",
            script,
            "stdio",
        ],
    )
    .ok();
    let mut keys = Vec::new();
    for user in ["alice", "bob"] {
        hub.cli(ADMIN_KEY, &["users", "create", user]).ok();
        keys.push(created_key(
            hub.cli(ADMIN_KEY, &["keys", "create", "--owner", user])
                .ok(),
        ));
    }
    let (alice, bob) = (&keys[0], &keys[1]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let all = loop {
        let listed = json_of(&inspect(
            &inspector,
            &hub.url,
            alice,
            &["--method", "tools/list"],
        ));
        let names = tool_names(&listed);
        let both = ["local__get-sum", "remote__get-sum"]
            .iter()
            .all(|n| names.iter().any(|m| m == n));
        if both {
            break names;
        }
        assert!(std::time::Instant::now() < deadline, "{names:?}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(all.len() > 10, "{all:?}");

    // Alice may use every tool of both servers.
    let sum = inspect(
        &inspector,
        &hub.url,
        alice,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "remote__get-sum",
            "--tool-arg",
            "a=20",
            "b=22",
        ],
    );
    assert!(sum.ok().contains("42"), "{}", sum.stdout);

    // Bob sees two tools and may call one.
    let listed = json_of(&inspect(
        &inspector,
        &hub.url,
        bob,
        &["--method", "tools/list"],
    ));
    assert_eq!(tool_names(&listed), ["local__get-sum", "remote__echo"]);
    let sum = inspect(
        &inspector,
        &hub.url,
        bob,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "local__get-sum",
            "--tool-arg",
            "a=1",
            "b=2",
        ],
    );
    assert!(sum.ok().contains("3"), "{}", sum.stdout);
    // Listed but not callable: the hub refuses as if the tool did not exist.
    let refused = inspect(
        &inspector,
        &hub.url,
        bob,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "remote__echo",
            "--tool-arg",
            "message=hi",
        ],
    );
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains("unknown tool: remote__echo"), "{said}");
    // Not even listed: the Inspector does not find it.
    let refused = inspect(
        &inspector,
        &hub.url,
        bob,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "remote__get-sum",
            "--tool-arg",
            "a=1",
            "b=1",
        ],
    );
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(said.contains("not found"), "{said}");

    // Without a key: refused before any MCP exchange.
    let anonymous = inspect(
        &inspector,
        &hub.url,
        "ahk_not-a-key",
        &["--method", "tools/list"],
    );
    assert_ne!(anonymous.code(), Some(0));
    hub.stop();
}
