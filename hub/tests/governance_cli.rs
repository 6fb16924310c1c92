//! End-to-end tests of the governance commands of the `agenthub` command line against a real
//! hub: policies, budgets from files, usage, guardrail tests and authorization checks.

mod support;

use serde_json::Value;
use std::time::Duration;

use support::{Http, Hub, HubBuilder, poll};

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

/// The line of a table that contains `needle`.
#[track_caller]
fn line<'a>(table: &'a str, needle: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle} in:\n{table}"))
}

const CONFIG: &str = r#"
guardrails:
  - id: pii
    type: pii
    action: redact
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

#[test]
fn policies_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, admin) = start(dir.path());
    hub.cli(&admin, &["teams", "create", "ml"]).ok();
    hub.cli(&admin, &["users", "create", "alice"]).ok();
    hub.cli(&admin, &["teams", "add-member", "ml", "alice"])
        .ok();

    let added = hub.cli(
        &admin,
        &[
            "policies",
            "add",
            "--subject",
            "team:ml",
            "--resource",
            "admin:budgets",
            "--action",
            "manage",
        ],
    );
    let text = added.ok();
    let id = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("stored policy "))
        .unwrap_or_else(|| panic!("no id in:\n{text}"))
        .to_owned();
    assert!(text.contains("subject:  team:ml"), "{text}");
    assert!(text.contains("source:   api (user:admin)"), "{text}");

    let deny = hub
        .cli(
            &admin,
            &[
                "policies",
                "add",
                "--subject",
                "user:alice",
                "--resource",
                "model:gpt-4*",
                "--action",
                "invoke",
                "--effect",
                "deny",
                "--team",
                "ml",
                "--json",
            ],
        )
        .json();
    assert_eq!(deny["effect"], "deny");
    assert_eq!(deny["team"], "ml");
    let deny_id = deny["id"].as_str().unwrap().to_owned();

    // The table shows the starter policy first, then the stored lines.
    let table = hub.cli(&admin, &["policies", "list"]);
    let table = table.ok();
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("SOURCE") && header.contains("RESOURCE"),
        "{table}"
    );
    let starter = line(table, "starter-0");
    assert!(
        starter.contains("starter") && starter.contains("role:admin"),
        "{starter}"
    );
    let row = line(table, &id);
    assert!(
        row.contains("team:ml") && row.contains("admin:budgets") && row.contains("allow"),
        "{row}"
    );
    assert!(line(table, &deny_id).contains("deny"));
    let listed = hub.cli(&admin, &["policies", "list", "--json"]).json();
    assert_eq!(find(&listed, "id", &id)["source"], "api");

    // Checks name the deciding line.
    let check = hub.cli(
        &admin,
        &[
            "authz",
            "check",
            "--subject",
            "user:alice",
            "--resource",
            "model:gpt-4o",
            "--action",
            "invoke",
            "--team",
            "ml",
        ],
    );
    let check = check.ok();
    assert!(
        check.starts_with(&format!("denied: denied by api policy {deny_id}")),
        "{check}"
    );
    let allowed = hub
        .cli(
            &admin,
            &[
                "authz",
                "check",
                "--subject",
                "user:alice",
                "--resource",
                "admin:budgets",
                "--action",
                "manage",
                "--json",
            ],
        )
        .json();
    assert_eq!(allowed["allowed"], true);
    assert_eq!(allowed["policy"]["id"], id.as_str());

    let removed = hub.cli(&admin, &["policies", "remove", &id]);
    assert_eq!(removed.ok().trim(), format!("removed policy {id}"));
    let listed = hub.cli(&admin, &["policies", "list", "--json"]).json();
    assert!(
        !listed.to_string().contains(&id),
        "the removed line is gone"
    );
    let again = hub.cli(&admin, &["policies", "remove", &id]);
    assert!(again.fails_with(1).contains("HTTP 404"), "{}", again.stderr);
    let starter = hub.cli(&admin, &["policies", "remove", "starter-0"]);
    let stderr = starter.fails_with(1);
    assert!(
        stderr.contains("starter policy") && stderr.contains("HTTP 409"),
        "{stderr}"
    );
    let usage = hub.cli(
        &admin,
        &[
            "policies",
            "add",
            "--subject",
            "team:ml",
            "--resource",
            "admin:budgets",
            "--action",
            "manage",
            "--effect",
            "maybe",
        ],
    );
    usage.fails_with(2);
    let invalid = hub.cli(
        &admin,
        &[
            "policies",
            "add",
            "--subject",
            "team:ml",
            "--resource",
            "modle:x",
            "--action",
            "invoke",
        ],
    );
    assert!(
        invalid
            .fails_with(1)
            .contains("resource: unknown resource kind"),
        "{}",
        invalid.stderr
    );
    hub.stop_cleanly();
}

#[test]
fn budgets_from_files_and_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, admin) = start(dir.path());
    hub.cli(&admin, &["users", "create", "alice"]).ok();

    let file = dir.path().join("budget.yaml");
    std::fs::write(
        &file,
        "id: user-daily\napplies_per: user\ncost_per_day: 12.50\nalert_thresholds: [80, 100]\n",
    )
    .unwrap();
    let added = hub.cli(
        &admin,
        &["budgets", "add", "--file", file.to_str().unwrap()],
    );
    let text = added.ok();
    assert!(text.starts_with("stored budget user-daily\n"), "{text}");
    assert!(text.contains("cost per day:"), "{text}");

    // From standard input, as JSON.
    let rpm = r#"{"id": "user-rpm", "limit_to": 60, "unit": "requests_per_minute", "applies_per": "user"}"#;
    let added = hub.cli_with(&admin, &["limits", "add", "--file", "-"], &[], Some(rpm));
    assert!(
        added.ok().starts_with("stored rate limit user-rpm"),
        "{}",
        added.stdout
    );

    let budgets = hub.cli(&admin, &["budgets", "list"]);
    let row = line(budgets.ok(), "user-daily");
    assert!(row.contains("$12.50/day") && row.contains("user"), "{row}");
    let limits = hub.cli(&admin, &["limits", "list", "--json"]).json();
    assert_eq!(find(&limits, "id", "user-rpm")["limit_to"], 60);

    // Rule problems name the field; a taken id is a conflict.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "id: broken\ncost_per_day: 5\nalert_thresholds: [150]\n",
    )
    .unwrap();
    let refused = hub.cli(&admin, &["budgets", "add", "--file", bad.to_str().unwrap()]);
    assert!(
        refused
            .fails_with(1)
            .contains("alert_thresholds[0]: must be between 1 and 100"),
        "{}",
        refused.stderr
    );
    let taken = hub.cli(
        &admin,
        &["budgets", "add", "--file", file.to_str().unwrap()],
    );
    assert!(taken.fails_with(1).contains("HTTP 409"), "{}", taken.stderr);
    let missing = hub.cli(&admin, &["budgets", "add", "--file", "/nonexistent.yaml"]);
    assert!(
        missing.fails_with(2).contains("cannot read"),
        "{}",
        missing.stderr
    );

    // Status: every limit that applies, with amounts in dollars.
    let status = hub.cli(&admin, &["budgets", "status", "--user", "alice"]);
    let status = status.ok();
    assert!(status.starts_with("usage of user:alice\n"), "{status}");
    let daily = line(status, "user-daily");
    assert!(
        daily.contains("user:alice") && daily.contains("$0.00") && daily.contains("$12.50"),
        "{daily}"
    );
    assert!(line(status, "user-rpm").contains("60 requests"), "{status}");
    let json = hub
        .cli(&admin, &["budgets", "status", "--user", "alice", "--json"])
        .json();
    assert_eq!(json["subject"], "user:alice");
    let own = hub.cli(&admin, &["budgets", "status", "--json"]).json();
    assert_eq!(own["subject"], "user:admin");
    let nobody = hub.cli(&admin, &["budgets", "status", "--user", "nobody"]);
    assert!(
        nobody.fails_with(1).contains("HTTP 404"),
        "{}",
        nobody.stderr
    );
    let both = hub.cli(
        &admin,
        &["budgets", "status", "--user", "alice", "--team", "ml"],
    );
    both.fails_with(2);

    let removed = hub.cli(&admin, &["budgets", "remove", "user-daily"]);
    assert_eq!(removed.ok().trim(), "removed budget user-daily");
    hub.stop_cleanly();
}

/// An edit of the configuration file that conflicts with a rule stored through the API (a rate
/// limit with the same id) is rejected whole and reported by `/readyz`; the stored rule stays
/// in force, and an edit without the conflict is accepted.
#[test]
fn a_configuration_edit_conflicting_with_a_stored_rule_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, admin) = start(dir.path());
    let rpm = r#"{"id": "user-rpm", "limit_to": 60, "unit": "requests_per_minute", "applies_per": "user"}"#;
    hub.cli_with(&admin, &["limits", "add", "--file", "-"], &[], Some(rpm))
        .ok();

    let config = dir.path().join("agenthub.yaml");
    let replace = |text: &str| {
        let tmp = config.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &config).unwrap();
    };
    replace(&format!(
        "{CONFIG}rate_limits:\n  - {{id: user-rpm, limit_to: 5, unit: requests_per_minute}}\n"
    ));
    let http = Http::new();
    let config_check =
        || http.get(&format!("{}/readyz", hub.url), None).json()["checks"]["config"].clone();
    // The hub polls the file every 2 s.
    let rejected = poll(Duration::from_secs(30), || {
        let check = config_check();
        (check["ok"] == false).then_some(check)
    })
    .expect("the conflicting edit was not rejected");
    let paths: Vec<&str> = rejected["rejected_change"]
        .as_array()
        .unwrap_or_else(|| panic!("{rejected}"))
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(
        paths.contains(&"rate_limits[stored:user-rpm].id"),
        "{paths:?}"
    );
    assert!(hub.wait_stderr("configuration change rejected", Duration::from_secs(10)));
    let limits = hub.cli(&admin, &["limits", "list", "--json"]).json();
    assert_eq!(find(&limits, "id", "user-rpm")["limit_to"], 60);

    replace(&format!(
        "{CONFIG}rate_limits:\n  - {{id: file-rpm, limit_to: 5, unit: requests_per_minute}}\n"
    ));
    poll(Duration::from_secs(30), || {
        (config_check()["ok"] == true).then_some(())
    })
    .expect("the good edit did not clear the rejection");
    let limits = hub.cli(&admin, &["limits", "list", "--json"]).json();
    assert_eq!(find(&limits, "id", "file-rpm")["limit_to"], 5);
    assert_eq!(find(&limits, "id", "user-rpm")["limit_to"], 60);
    hub.stop_cleanly();
}

#[test]
fn guardrails_are_tested_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, admin) = start(dir.path());
    let rule = dir.path().join("codenames.yaml");
    std::fs::write(
        &rule,
        "id: codenames\ntype: banned_terms\nterms: [project falcon]\naction: block\nstage: input\nmessage: Codenames stay inside.\n",
    )
    .unwrap();
    hub.cli(
        &admin,
        &["guardrails", "add", "--file", rule.to_str().unwrap()],
    )
    .ok();
    let table = hub.cli(&admin, &["guardrails", "list"]);
    let table = table.ok();
    assert!(line(table, "pii").contains("config"), "{table}");
    assert!(line(table, "codenames").contains("api"), "{table}");

    let redacted = hub.cli(
        &admin,
        &["guardrails", "test", "mail bob@example.org today"],
    );
    let text = redacted.ok();
    assert!(text.starts_with("allowed\n"), "{text}");
    assert!(text.contains("text: mail [REDACTED:EMAIL] today"), "{text}");
    let finding = line(text, "email");
    assert!(
        finding.contains("pii") && finding.contains("5..20"),
        "{finding}"
    );

    let blocked = hub.cli(
        &admin,
        &["guardrails", "test", "tell them about Project Falcon"],
    );
    let text = blocked.ok();
    assert!(
        text.starts_with("blocked: Codenames stay inside.\n"),
        "{text}"
    );
    assert!(line(text, "codenames").contains("block"), "{text}");
    let output = hub
        .cli(
            &admin,
            &[
                "guardrails",
                "test",
                "--stage",
                "output",
                "about Project Falcon",
                "--json",
            ],
        )
        .json();
    assert_eq!(output["blocked"], false);
    assert_eq!(output["findings"], serde_json::json!([]));

    let config_rule = hub.cli(&admin, &["guardrails", "remove", "pii"]);
    assert!(
        config_rule
            .fails_with(1)
            .contains("edit the configuration file"),
        "{}",
        config_rule.stderr
    );
    hub.cli(&admin, &["guardrails", "remove", "codenames"]).ok();
    hub.stop_cleanly();
}
