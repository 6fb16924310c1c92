//! The official Python MCP SDK (`mcp`, `tests/sdk/mcp_sdk.py`) against the real `agenthub`
//! binary, which federates the reference `server-everything` (a stdio process) at `/mcp` (tools,
//! prompts, resources and progress): in the SDK's `auto`, `legacy` (2025-11-25) and
//! `2026-07-28` modes.
//!
//! Skipped with a notice without the SDK venv or server-everything, unless CI requires them.

mod support;

use std::time::Duration;

use agenthub_test_support::mcp::server_everything;
use support::sdk::{hub_with_user, python, run_script};

/// An operator-chosen admin key (`ahk_` and 40 base62 characters).
const ADMIN_KEY: &str = "ahk_McpSdkTestAdminKey0123456789abcdefghijk";

#[test]
fn the_python_mcp_sdk_uses_the_hubs_tools() {
    let Some(python) = python() else { return };
    let Some(everything) = server_everything() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
mcp:
  page_size: 5
authorization:
  starter_policy: false
policies:
  - {{subject: "role:admin", resource: "*", action: "*"}}
  - {{subject: "user:sdk-user", resource: "mcp:ev/get-sum", action: list}}
  - {{subject: "user:sdk-user", resource: "mcp:ev/get-sum", action: call}}
mcp_servers:
  - name: ev
    command: node
    args: ["{}", "stdio"]
"#,
        everything.display()
    );
    let (hub, user_key) = hub_with_user(dir.path(), &yaml, ADMIN_KEY, "mcp");

    // The upstream process starts in the background; wait (bounded) until its tools show.
    assert!(
        hub.wait_stderr("MCP server ready", Duration::from_secs(60)),
        "ev never became ready:
{}",
        hub.stderr()
    );
    let env = [
        ("AGENTHUB_URL", hub.url.clone()),
        ("AGENTHUB_KEY", ADMIN_KEY.to_owned()),
        ("AGENTHUB_USER_KEY", user_key),
    ];
    run_script(&python, "mcp_sdk.py", &env, &hub.stderr());
}
