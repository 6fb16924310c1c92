//! The bundled Slack, Jira and Sentry servers built into the real `agenthub` binary from YAML
//! (their tokens from the hub's secret store), driven through `/mcp` by the official Python MCP
//! SDK (`tests/sdk/workflow_sdk.py`): urgent Slack messages become Jira issues, answered in
//! their threads, and the Sentry issue behind one is linked to it — all against the fakes of
//! the three services.
//!
//! Skipped with a notice without the SDK venv, unless CI requires it.

mod support;

use std::time::Duration;

use agenthub_test_support::fake_jira::{self, FakeJira};
use agenthub_test_support::fake_sentry::FakeSentry;
use agenthub_test_support::fake_slack::{self, FakeSlack};
use agenthub_test_support::serve_on_loopback;
use serde_json::json;
use support::Http;
use support::sdk::{hub_with_user, python, run_script};

/// An operator-chosen admin key (`ahk_` and 40 base62 characters).
const ADMIN_KEY: &str = "ahk_BundledServersAdminKey0123456789abcdefg";

#[test]
fn an_agent_triages_slack_into_jira_with_sentry_through_the_hub() {
    let Some(python) = python() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (slack, jira, sentry) = (FakeSlack::new(), FakeJira::new(), FakeSentry::new());
    let (slack_at, jira_at, sentry_at) = runtime.block_on(async {
        (
            serve_on_loopback(slack.router()).await,
            serve_on_loopback(jira.router()).await,
            serve_on_loopback(sentry.router()).await,
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
authorization:
  starter_policy: false
policies:
  - {{subject: "role:admin", resource: "*", action: "*"}}
  - {{subject: "user:sdk-user", resource: "mcp:slack/*", action: "*"}}
  - {{subject: "user:sdk-user", resource: "mcp:jira/*", action: "*"}}
  - {{subject: "user:sdk-user", resource: "mcp:sentry/*", action: "*"}}
mcp_servers:
  - name: slack
    builtin: slack
    env:
      SLACK_BASE_URL: http://{slack_at}/api
      SLACK_BOT_TOKEN: secret:slack-bot
  - name: jira
    builtin: jira
    env:
      JIRA_BASE_URL: http://{jira_at}
      JIRA_EMAIL: {email}
      JIRA_API_TOKEN: secret:jira-token
  - name: sentry
    builtin: sentry
    env:
      SENTRY_BASE_URL: http://{sentry_at}
      SENTRY_ORG: acme
      SENTRY_AUTH_TOKEN: secret:sentry-token
"#,
        email = fake_jira::EMAIL,
    );
    let (hub, user_key) = hub_with_user(dir.path(), &yaml, ADMIN_KEY, "mcp");
    let http = Http::new();
    for (name, value) in [
        ("slack-bot", fake_slack::BOT),
        ("jira-token", fake_jira::API_TOKEN),
        ("sentry-token", "sntryu_write"),
    ] {
        let stored = http.post(
            &format!("{}/api/v1/secrets", hub.url),
            Some(ADMIN_KEY),
            &json!({"name": name, "value": value}),
        );
        assert_eq!(stored.status, 201, "{}", stored.body);
    }
    // Each server starts once its secret exists (its supervisor retries); wait, bounded.
    let ready = support::poll(Duration::from_secs(60), || {
        let servers = http.get(&format!("{}/api/v1/mcp/servers", hub.url), Some(ADMIN_KEY));
        let ready = servers
            .json()
            .as_array()
            .map(|s| s.iter().filter(|s| s["state"] == "ready").count())
            .unwrap_or(0);
        (ready == 3).then_some(())
    });
    assert!(
        ready.is_some(),
        "the bundled servers never became ready:\n{}",
        hub.stderr()
    );

    let env = [
        ("AGENTHUB_URL", hub.url.clone()),
        ("AGENTHUB_USER_KEY", user_key),
    ];
    run_script(&python, "workflow_sdk.py", &env, &hub.stderr());

    // What the services saw: two Jira bugs from Slack, each answered in its thread, and the
    // checkout one linked to Sentry's issue with its owners.
    let created: Vec<_> = jira
        .issues()
        .into_iter()
        .filter(|i| {
            i["fields"]["labels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l == "from-slack")
        })
        .collect();
    assert_eq!(created.len(), 2, "{created:?}");
    for issue in &created {
        let key = issue["key"].as_str().unwrap();
        assert!(
            slack.messages("C0000SUPPORT").iter().any(|m| m["text"]
                .as_str()
                .unwrap()
                .starts_with(&format!("Tracked as {key}"))
                && m.get("thread_ts").is_some()),
            "no Slack reply for {key}"
        );
    }
    let linked = created
        .iter()
        .find(|i| {
            i["fields"]["summary"]
                .as_str()
                .unwrap()
                .contains("checkout")
        })
        .unwrap();
    let comment = jira.issue(linked["key"].as_str().unwrap()).unwrap()["fields"]["comment"]["comments"][0]["body"].to_string();
    assert!(
        comment.contains("CHECKOUT-1") && comment.contains("team:7"),
        "{comment}"
    );
    drop(runtime);
}
