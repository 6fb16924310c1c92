//! `agenthub mcp list|tools` against the real binary, which runs the reference
//! `server-everything` as a stdio upstream.

mod support;

use std::time::Duration;

use agenthub_test_support::mcp::server_everything;
use support::HubBuilder;

const ADMIN_KEY: &str = "ahk_McpCliTestAdminKey0123456789abcdefghijk";

#[test]
fn the_cli_shows_servers_and_their_tools() {
    let Some(everything) = server_everything() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agenthub.yaml");
    let yaml = format!(
        "mcp_servers:\n  - name: ev\n    command: node\n    args: [\"{}\", \"stdio\"]\n    prefix: everything\n",
        everything.display()
    );
    std::fs::write(&config, yaml).unwrap();
    let hub = HubBuilder::new(dir.path().join("data"))
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("AGENTHUB_ADMIN_KEY", ADMIN_KEY)
        .start();
    assert!(
        hub.wait_stderr("MCP server ready", Duration::from_secs(60)),
        "ev never became ready:
{}",
        hub.stderr()
    );

    let listed = hub.cli(ADMIN_KEY, &["mcp", "list"]);
    let table = listed.ok();
    let row = table
        .lines()
        .find(|line| line.starts_with("ev "))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in ["stdio", "node", "ready"] {
        assert!(row.contains(cell), "{cell} missing: {row}");
    }

    let json = hub.cli(ADMIN_KEY, &["mcp", "list", "--json"]).json();
    assert_eq!(json[0]["name"], "ev");
    assert!(json[0]["tools"].as_u64().unwrap() > 0, "{json}");

    let tools = hub.cli(ADMIN_KEY, &["mcp", "tools", "ev"]);
    let table = tools.ok();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("everything__get-sum") && l.contains(" get-sum ")),
        "{table}"
    );

    let missing = hub.cli(ADMIN_KEY, &["mcp", "tools", "nope"]);
    assert_eq!(missing.code(), Some(1), "{}", missing.stdout);
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
}
