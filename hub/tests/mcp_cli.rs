//! `agenthub mcp` against the real binary: servers from the configuration file and servers
//! registered with the CLI (the reference `server-everything` over streamable HTTP and as a
//! stdio process, and as an official registry entry), listed, refreshed, removed, and kept
//! across a restart; virtual servers defined, shown and removed.

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

    // Virtual servers, from flags and from a file.
    let added = hub.cli(
        ADMIN_KEY,
        &[
            "mcp",
            "virtual",
            "add",
            "support",
            "--tools",
            "ev/get-sum",
            "ev/echo",
            "--prompts",
            "ev/simple-prompt",
            "--rename",
            "ev/echo=say",
            "--description",
            "Support desk",
        ],
    );
    let said = added.ok();
    assert!(
        said.starts_with(
            "defined virtual MCP server support at /mcp/support: it selects 2 tools, 1 prompts, 0 resources"
        ),
        "{said}"
    );
    let file = dir.path().join("docs.yaml");
    std::fs::write(&file, "name: docs\nresources: [ev/architecture.md]\n").unwrap();
    let added = hub.cli(
        ADMIN_KEY,
        &["mcp", "virtual", "add", "--file", file.to_str().unwrap()],
    );
    assert!(added.ok().contains("1 resources"), "{}", added.stdout);
    let bad = hub.cli(
        ADMIN_KEY,
        &["mcp", "virtual", "add", "bad", "--tools", "get-sum"],
    );
    assert!(bad.fails_with(1).contains("tools[0]"));

    let table = hub
        .cli(ADMIN_KEY, &["mcp", "virtual", "list"])
        .ok()
        .to_owned();
    let row = table
        .lines()
        .find(|line| line.starts_with("support "))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in ["api", "/mcp/support", "Support desk"] {
        assert!(row.contains(cell), "{cell} missing: {row}");
    }
    let shown = hub
        .cli(ADMIN_KEY, &["mcp", "virtual", "show", "support"])
        .ok()
        .to_owned();
    assert!(shown.contains("ev/echo → say"), "{shown}");
    assert!(shown.contains("ev/get-sum ev/echo"), "{shown}");
    let replaced = hub.cli(
        ADMIN_KEY,
        &[
            "mcp",
            "virtual",
            "add",
            "support",
            "--replace",
            "--tools",
            "ev/*",
        ],
    );
    assert!(
        replaced
            .ok()
            .starts_with("replaced virtual MCP server support")
    );
    let removed = hub.cli(ADMIN_KEY, &["mcp", "virtual", "remove", "support"]);
    assert!(removed.ok().contains("removed virtual MCP server support"));
    let gone = hub.cli(ADMIN_KEY, &["mcp", "virtual", "show", "support"]);
    assert!(gone.fails_with(1).contains("not found"));
    let listed = hub
        .cli(ADMIN_KEY, &["mcp", "virtual", "list", "--json"])
        .json();
    assert_eq!(listed[0]["name"], "docs", "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
}

/// Polls `agenthub mcp list --json` until every server named is ready.
fn wait_ready(hub: &support::Hub, key: &str, names: &[&str]) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let servers = hub.cli(key, &["mcp", "list", "--json"]).json();
        let ready = names.iter().all(|name| {
            servers
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["name"] == *name && s["state"] == "ready")
        });
        if ready {
            return servers;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready: {servers}\n{}",
            hub.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn servers_registered_with_the_cli_are_checked_stored_and_survive_a_restart() {
    let Some(everything) = server_everything() else {
        return;
    };
    let upstream = agenthub_test_support::mcp::EverythingOverHttp::start(&everything);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let private = dir.path().join("private.yaml");
    std::fs::write(&private, "mcp:\n  allow_private_networks: true\n").unwrap();
    let start = |config: Option<&std::path::Path>| {
        let mut builder = HubBuilder::new(&data).env("AGENTHUB_ADMIN_KEY", ADMIN_KEY);
        if let Some(config) = config {
            builder = builder.arg("--config").arg(config.to_str().unwrap());
        }
        builder.start()
    };

    // By default the API refuses servers on private networks such as loopback.
    let hub = start(None);
    let refused = hub.cli(ADMIN_KEY, &["mcp", "add", "ev", &upstream.url]);
    let message = refused.fails_with(1);
    assert!(message.contains("allow_private_networks"), "{message}");
    hub.stop();

    let hub = start(Some(&private));
    let added = hub.cli(ADMIN_KEY, &["mcp", "add", "ev", &upstream.url]);
    let said = added.ok();
    assert!(
        said.starts_with("registered MCP server ev: ") && said.contains(" tools"),
        "{said}"
    );
    let script = everything.to_str().unwrap();
    let added = hub.cli(
        ADMIN_KEY,
        &[
            "mcp",
            "add",
            "local",
            "--prefix",
            "loc",
            "--command",
            "node",
            "--",
            script,
            "stdio",
        ],
    );
    assert!(
        added.ok().contains("registered MCP server local"),
        "{}",
        added.stdout
    );

    // Checked before storing: a name in use, a literal credential, a server that is down.
    let taken = hub.cli(ADMIN_KEY, &["mcp", "add", "ev", &upstream.url]);
    assert!(taken.fails_with(1).contains("already exists"));
    let literal = hub.cli(
        ADMIN_KEY,
        &[
            "mcp",
            "add",
            "x",
            &upstream.url,
            "--header",
            "X-Api-Key=abc",
        ],
    );
    assert!(literal.fails_with(1).contains("secret:NAME"));
    let down = hub.cli(ADMIN_KEY, &["mcp", "add", "down", "http://127.0.0.1:9/mcp"]);
    assert!(down.fails_with(1).contains("check=false"));
    // OAuth client credentials through the API: the client secret from the secret store.
    let oauth = dir.path().join("oauth.yaml");
    std::fs::write(
        &oauth,
        format!(
            "name: guarded\nurl: {}\noauth:\n  token_url: http://127.0.0.1:9/token\n  client_id: hub\n  client_secret: plain-text\n",
            upstream.url
        ),
    )
    .unwrap();
    let literal = hub.cli(
        ADMIN_KEY,
        &["mcp", "add", "--file", oauth.to_str().unwrap()],
    );
    assert!(literal.fails_with(1).contains("oauth.client_secret"));
    // An OpenAPI document through the API: a URL on a checked host, never a file.
    let file = hub.cli(
        ADMIN_KEY,
        &[
            "mcp",
            "add",
            "api",
            "http://127.0.0.1:9",
            "--openapi",
            "/etc/passwd",
        ],
    );
    assert!(file.fails_with(1).contains("must be an http(s) URL"));
    let unchecked = hub.cli(
        ADMIN_KEY,
        &["mcp", "add", "down", "http://127.0.0.1:9/mcp", "--no-check"],
    );
    assert!(unchecked.ok().contains("not checked"));
    assert!(
        hub.cli(ADMIN_KEY, &["mcp", "remove", "down"])
            .ok()
            .contains("removed")
    );

    let servers = wait_ready(&hub, ADMIN_KEY, &["ev", "local"]);
    for server in servers.as_array().unwrap() {
        assert_eq!(server["source"], "api", "{server}");
    }
    let tools = hub.cli(ADMIN_KEY, &["mcp", "tools", "local"]);
    assert!(
        tools.ok().lines().any(|l| l.starts_with("loc__get-sum ")),
        "{}",
        tools.stdout
    );
    let refreshed = hub.cli(ADMIN_KEY, &["mcp", "refresh", "ev"]);
    assert!(refreshed.ok().contains("ready"), "{}", refreshed.stdout);
    hub.stop();

    // Registrations are stored: a restart connects them again.
    let hub = start(Some(&private));
    wait_ready(&hub, ADMIN_KEY, &["ev", "local"]);
    let shown = hub.cli(ADMIN_KEY, &["mcp", "show", "local"]);
    assert!(shown.ok().contains("prefix:"), "{}", shown.stdout);
    assert!(
        hub.cli(ADMIN_KEY, &["mcp", "remove", "ev"])
            .ok()
            .contains("removed MCP server ev")
    );
    let listed = hub.cli(ADMIN_KEY, &["mcp", "list", "--json"]).json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local"]);
    hub.stop();
}

#[test]
fn an_official_registry_entry_is_imported() {
    let Some(everything) = server_everything() else {
        return;
    };
    let upstream = agenthub_test_support::mcp::EverythingOverHttp::start(&everything);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agenthub.yaml");
    std::fs::write(&config, "mcp:\n  allow_private_networks: true\n").unwrap();
    let entry = dir.path().join("server.json");
    // The URL's port is a variable the entry asks for.
    let port = upstream
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    std::fs::write(
        &entry,
        serde_json::json!({
            "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
            "name": "io.github.modelcontextprotocol/everything",
            "description": "Exercises all the features of MCP",
            "version": "2026.8.31",
            "remotes": [{
                "type": "streamable-http",
                "url": "http://127.0.0.1:{port}/mcp",
                "variables": {"port": {"isRequired": true}},
                "headers": [{"name": "X-Client", "value": "agenthub"}]
            }]
        })
        .to_string(),
    )
    .unwrap();
    let hub = HubBuilder::new(dir.path().join("data"))
        .arg("--config")
        .arg(config.to_str().unwrap())
        .env("AGENTHUB_ADMIN_KEY", ADMIN_KEY)
        .start();
    let entry = entry.to_str().unwrap();
    let missing = hub.cli(ADMIN_KEY, &["mcp", "add", "--server-json", entry]);
    assert!(missing.fails_with(1).contains("\"port\" is required"));
    let added = hub.cli(
        ADMIN_KEY,
        &[
            "mcp",
            "add",
            "--server-json",
            entry,
            "--value",
            &format!("port={port}"),
        ],
    );
    assert!(
        added.ok().starts_with("registered MCP server everything: "),
        "{}",
        added.stdout
    );
    let shown = hub
        .cli(ADMIN_KEY, &["mcp", "show", "everything", "--json"])
        .json();
    assert_eq!(shown["registration"]["url"], upstream.url);
    assert_eq!(shown["registration"]["headers"]["X-Client"], "agenthub");
    hub.stop();
}

/// Polls `agenthub mcp tools NAME --json` until `check` accepts it.
fn wait_tools(
    hub: &support::Hub,
    name: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let tools = hub.cli(ADMIN_KEY, &["mcp", "tools", name, "--json"]).json();
        if check(&tools) {
            return tools;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{tools}\n{}",
            hub.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_server_that_is_down_shows_its_last_catalog_also_after_a_restart() {
    let Some(everything) = server_everything() else {
        return;
    };
    let upstream = agenthub_test_support::mcp::EverythingOverHttp::start(&everything);
    let url = upstream.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("agenthub.yaml");
    std::fs::write(
        &config,
        "mcp:\n  allow_private_networks: true\n  health_check_interval: 1s\n",
    )
    .unwrap();
    let start = || {
        HubBuilder::new(&data)
            .arg("--config")
            .arg(config.to_str().unwrap())
            .env("AGENTHUB_ADMIN_KEY", ADMIN_KEY)
            .start()
    };
    let is_stale = |tools: &serde_json::Value| {
        tools
            .as_array()
            .is_some_and(|t| !t.is_empty() && t.iter().all(|tool| tool["stale_since"].is_string()))
    };

    let hub = start();
    hub.cli(ADMIN_KEY, &["mcp", "add", "ev", &url]).ok();
    let live = wait_tools(&hub, "ev", |t| t.as_array().is_some_and(|t| !t.is_empty()));
    assert!(live[0].get("stale_since").is_none(), "{live}");
    drop(upstream);
    let stale = wait_tools(&hub, "ev", is_stale);
    assert_eq!(
        stale.as_array().unwrap().len(),
        live.as_array().unwrap().len()
    );
    hub.stop();

    // The upstream is still down: the stored catalog is shown.
    let hub = start();
    let kept = wait_tools(&hub, "ev", is_stale);
    assert!(
        kept.as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "ev__get-sum"),
        "{kept}"
    );
    // Unregistered, its catalog goes too.
    hub.cli(ADMIN_KEY, &["mcp", "remove", "ev"]).ok();
    hub.stop();
    let hub = start();
    let gone = hub.cli(ADMIN_KEY, &["mcp", "tools", "ev"]);
    assert!(gone.fails_with(1).contains("not found"));
    hub.stop();
}
