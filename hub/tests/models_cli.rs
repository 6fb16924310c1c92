//! End-to-end tests of `agenthub providers|models|virtual-models` against a real hub: entries
//! added from flags and files, listed, shown, replaced and removed; the errors the admin API
//! answers with; and `/v1/models` serving what was added.

mod support;

use serde_json::{Value, json};

use support::{Finished, Http, Hub, HubBuilder};

/// A configuration-defined provider with a literal key, and a model on it.
const CONFIG: &str = r#"
providers:
  - name: cfg-openai
    kind: openai
    base_url: http://127.0.0.1:9/v1
    api_key: sk-config-literal-key
models:
  - {name: cfg-model, provider: cfg-openai, model: gpt-4o-mini}
"#;

fn start(dir: &std::path::Path) -> (Hub, String) {
    let config = dir.join("agenthub.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let hub = HubBuilder::new(dir.join("data"))
        .args(["--config", config.to_str().unwrap()])
        .start();
    let admin = hub.printed_admin_key();
    (hub, admin)
}

/// The item of a JSON array whose `field` equals `value`.
#[track_caller]
fn find<'a>(items: &'a Value, field: &str, value: &str) -> &'a Value {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .find(|item| item[field] == value)
        .unwrap_or_else(|| panic!("no item with {field} = {value} in {items:#}"))
}

/// The line of a table that starts with `name` followed by spaces.
#[track_caller]
fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{table}"))
}

/// Checks that a command failed with `code` and said so holding every `needle`, on one line
/// unless clap reported bad usage (which adds a hint line).
#[track_caller]
fn refused(finished: &Finished, code: i32, needles: &[&str]) {
    let stderr = finished.fails_with(code);
    if !stderr.contains("--help") {
        assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    }
    for needle in needles {
        assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    }
}

/// A secret, an OpenAI and an Anthropic provider on it, three models and a virtual model.
fn add_catalog(hub: &Hub, admin: &str) {
    hub.cli(
        admin,
        &["secrets", "set", "openai-key", "--value", "sk-test-key"],
    )
    .ok();
    hub.cli(
        admin,
        &[
            "providers",
            "add",
            "openai",
            "--kind",
            "openai",
            "--api-key-secret",
            "openai-key",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ],
    )
    .ok();
    hub.cli(
        admin,
        &[
            "providers",
            "add",
            "anth",
            "--kind",
            "anthropic",
            "--api-key-secret",
            "secret:openai-key",
        ],
    )
    .ok();
    hub.cli(
        admin,
        &[
            "models",
            "add",
            "gpt-4o",
            "--provider",
            "openai",
            "--model",
            "gpt-4o-2024-08-06",
            "--price-input",
            "2.5",
            "--price-output",
            "10",
        ],
    )
    .ok();
    hub.cli_with(
        admin,
        &["models", "add", "mini", "--file", "-"],
        &[],
        Some(r#"{"provider": "openai", "model": "gpt-4o-mini"}"#),
    )
    .ok();
    hub.cli_with(
        admin,
        &["models", "add", "--file", "-"],
        &[],
        Some("name: claude\nprovider: anth\nmodel: claude-sonnet-4-5-20250929\nmax_output_tokens: 1024\n"),
    )
    .ok();
    hub.cli(
        admin,
        &[
            "virtual-models",
            "add",
            "smart",
            "--strategy",
            "weight",
            "--target",
            "gpt-4o",
            "--target",
            "claude:2",
            "--sticky-header",
            "x-session-id",
        ],
    )
    .ok();
}

#[test]
fn providers_models_and_virtual_models_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, admin) = start(dir.path());
    add_catalog(&hub, &admin);

    // Providers: the file's and the stored ones; literal credentials never shown.
    let shown = hub.cli(&admin, &["providers", "show", "anth"]);
    let text = shown.ok();
    assert!(text.starts_with("name:     anth\n"), "{text}");
    assert!(text.contains("source:   api (user:admin)\n"), "{text}");
    assert!(
        text.contains("base url: https://api.anthropic.com (the default)\n"),
        "{text}"
    );
    assert!(text.contains("api key:  secret:openai-key\n"), "{text}");
    let table = hub.cli(&admin, &["providers", "list"]);
    let table = table.ok();
    assert!(
        table.starts_with("NAME") && table.lines().next().unwrap().contains("CREDENTIAL"),
        "{table}"
    );
    let config_row = row(table, "cfg-openai");
    assert!(
        config_row.contains("config") && config_row.contains("<redacted>"),
        "{config_row}"
    );
    assert!(row(table, "anth").contains("(default)"), "{table}");
    let openai = row(table, "openai");
    assert!(
        openai.contains("api (user:admin)")
            && openai.contains("openai")
            && openai.contains("http://127.0.0.1:9/v1")
            && openai.contains("secret:openai-key"),
        "{openai}"
    );
    let listed = hub.cli(&admin, &["providers", "list", "--json"]);
    assert!(!listed.stdout.contains("sk-config-literal-key"));
    let listed = listed.json();
    assert_eq!(find(&listed, "id", "anth")["kind"], "anthropic");
    assert_eq!(find(&listed, "id", "cfg-openai")["source"], "config");

    // Models, with the price each is charged at: its own, else the shipped table's.
    let table = hub.cli(&admin, &["models", "list"]);
    let table = table.ok();
    let own = row(table, "gpt-4o");
    assert!(
        own.contains("openai") && own.contains("gpt-4o-2024-08-06") && own.contains("2.50/10.00"),
        "{own}"
    );
    assert!(!own.contains("(table)"), "{own}");
    assert!(row(table, "mini").contains("(table)"), "{table}");
    assert!(row(table, "cfg-model").contains("config"), "{table}");
    let models = hub.cli(&admin, &["models", "list", "--json"]).json();
    let gpt = find(&models, "id", "gpt-4o");
    assert_eq!(gpt["source"], "api");
    assert_eq!(gpt["price"], json!({"input": 2.5, "output": 10.0}));
    assert_eq!(find(&models, "id", "claude")["max_output_tokens"], 1024);
    let shown = hub.cli(&admin, &["models", "show", "claude"]);
    let text = shown.ok();
    assert!(text.contains("provider:          anth\n"), "{text}");
    assert!(
        text.contains("model:             claude-sonnet-4-5-20250929\n"),
        "{text}"
    );
    assert!(text.contains("(shipped table of "), "{text}");

    // Virtual models.
    let table = hub.cli(&admin, &["virtual-models", "list"]);
    let smart = row(table.ok(), "smart");
    assert!(
        smart.contains("weight")
            && smart.contains("gpt-4o (weight 1), claude (weight 2)")
            && smart.contains("x-session-id"),
        "{smart}"
    );
    let smart = hub
        .cli(&admin, &["virtual-models", "show", "smart", "--json"])
        .json();
    assert_eq!(
        smart["targets"],
        json!([{"model": "gpt-4o", "weight": 1}, {"model": "claude", "weight": 2}])
    );
    assert_eq!(smart["sticky"]["header"], "x-session-id");

    // Replacing: a whole new definition; what is not given is gone.
    let replaced = hub.cli(
        &admin,
        &[
            "models",
            "replace",
            "gpt-4o",
            "--provider",
            "openai",
            "--model",
            "gpt-4o-2024-11-20",
        ],
    );
    assert!(
        replaced.ok().starts_with("replaced model gpt-4o\n"),
        "{}",
        replaced.stdout
    );
    let gpt = hub
        .cli(&admin, &["models", "show", "gpt-4o", "--json"])
        .json();
    assert_eq!(gpt["model"], "gpt-4o-2024-11-20");
    assert!(gpt.get("price").is_none(), "{gpt}");
    assert_eq!(gpt["created_by"], "user:admin");
    let smart = hub
        .cli(
            &admin,
            &[
                "virtual-models",
                "replace",
                "smart",
                "--target",
                "mini",
                "--json",
            ],
        )
        .json();
    assert_eq!(smart["strategy"], "priority");
    assert_eq!(smart["targets"], json!([{"model": "mini", "weight": 1}]));
    hub.cli(
        &admin,
        &[
            "providers",
            "replace",
            "openai",
            "--kind",
            "openai",
            "--api-key-secret",
            "openai-key",
            "--base-url",
            "http://127.0.0.1:10/v1",
        ],
    )
    .ok();
    let openai = hub
        .cli(&admin, &["providers", "show", "openai", "--json"])
        .json();
    assert_eq!(openai["base_url"], "http://127.0.0.1:10/v1");

    // What the API refuses, each as one line with its status.
    let unknown = hub.cli(&admin, &["models", "add", "bad", "--provider", "nope"]);
    refused(
        &unknown,
        1,
        &["provider: no provider is named \"nope\"", "HTTP 400"],
    );
    let literal = hub.cli_with(
        &admin,
        &["providers", "add", "leaky", "--file", "-"],
        &[],
        Some(r#"{"kind": "openai", "api_key": "sk-literal"}"#),
    );
    refused(
        &literal,
        1,
        &[
            "api_key: must name a stored secret (secret:NAME)",
            "HTTP 400",
        ],
    );
    let in_use = hub.cli(&admin, &["providers", "remove", "openai"]);
    refused(
        &in_use,
        1,
        &[
            "the provider \"openai\" was not deleted",
            "no provider is named \"openai\"",
            "HTTP 409",
        ],
    );
    let routed = hub.cli(&admin, &["models", "remove", "mini"]);
    refused(&routed, 1, &["no model is named \"mini\"", "HTTP 409"]);
    for args in [
        &["models", "remove", "cfg-model"][..],
        &["models", "replace", "cfg-model", "--provider", "openai"],
        &["providers", "remove", "cfg-openai"],
    ] {
        refused(
            &hub.cli(&admin, args),
            1,
            &["defined in the configuration file", "HTTP 409"],
        );
    }
    let taken = hub.cli(&admin, &["models", "add", "smart", "--provider", "openai"]);
    refused(&taken, 1, &["already exists", "HTTP 409"]);
    let missing = hub.cli(&admin, &["models", "show", "nope"]);
    refused(&missing, 1, &["HTTP 404"]);
    // Bad usage is caught before any call.
    refused(
        &hub.cli(&admin, &["providers", "add", "p", "--kind", "opnai"]),
        2,
        &["unknown variant `opnai`"],
    );
    hub.cli(
        &admin,
        &[
            "models",
            "add",
            "m",
            "--file",
            "m.yaml",
            "--provider",
            "openai",
        ],
    )
    .fails_with(2);
    refused(
        &hub.cli(
            &admin,
            &["models", "add", "m", "--file", "/nonexistent.yaml"],
        ),
        2,
        &["cannot read"],
    );

    // Removing, dependents first.
    let removed = hub.cli(&admin, &["virtual-models", "remove", "smart"]);
    assert_eq!(removed.ok().trim(), "removed virtual model smart");
    for model in ["mini", "gpt-4o", "claude"] {
        let removed = hub.cli(&admin, &["models", "remove", model]);
        assert_eq!(removed.ok().trim(), format!("removed model {model}"));
    }
    hub.cli(&admin, &["providers", "remove", "openai"]).ok();
    let models = hub.cli(&admin, &["models", "list", "--json"]).json();
    let names: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(names, ["cfg-model"]);
    let again = hub.cli(&admin, &["providers", "remove", "openai"]);
    refused(&again, 1, &["HTTP 404"]);
    hub.stop_cleanly();
}

#[test]
fn v1_models_lists_what_was_added() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, admin) = start(dir.path());
    add_catalog(&hub, &admin);
    let http = Http::new();
    let url = format!("{}/v1/models", hub.url);
    let listed = http.get(&url, Some(&admin));
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = listed.json();
    assert_eq!(listed["object"], "list");
    let data = &listed["data"];
    let ids: Vec<&str> = data
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["cfg-model", "claude", "gpt-4o", "mini", "smart"]);
    assert_eq!(find(data, "id", "gpt-4o")["owned_by"], "openai");
    assert_eq!(find(data, "id", "claude")["owned_by"], "anth");
    assert_eq!(find(data, "id", "smart")["owned_by"], "agenthub");

    // A removal applies from the next request on.
    hub.cli(&admin, &["virtual-models", "remove", "smart"]).ok();
    let after = http.get(&url, Some(&admin)).json();
    assert!(!after["data"].to_string().contains("\"smart\""), "{after}");
    assert_eq!(http.get(&url, None).status, 401);
    hub.stop_cleanly();
}
