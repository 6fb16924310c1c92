//! The Sentry MCP server against the Sentry fake, over streamable HTTP (in process) and over
//! stdio (the binary).

use std::collections::HashMap;

use agenthub_mcp_sentry::Settings;
use agenthub_server_kit::serve::{ServeArgs, router};
use agenthub_test_support::fake_sentry::{FakeSentry, Fault, ORG};
use agenthub_test_support::mcp::{
    call, call_tool, connect, eras, structured, text_of, tool_error, tool_names,
};
use agenthub_test_support::serve_on_loopback;
use agenthub_test_support::tokens::Rotating;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

fn settings(base: &str, token: &str) -> Settings {
    Settings {
        base_url: base.to_owned(),
        org: ORG.to_owned(),
        auth_token: Some(token.to_owned()),
        timeout_secs: 5,
    }
}

/// The server over HTTP in this process, reaching `fake` with `token`; an MCP client of it.
async fn over_http(fake: &FakeSentry, token: &str) -> RunningService<RoleClient, ()> {
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let sentry = agenthub_mcp_sentry::server(&settings(&base, token)).unwrap();
    let args = ServeArgs::http("127.0.0.1:0".parse().unwrap());
    let address = serve_on_loopback(router(&args, move || sentry.clone())).await;
    connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[0].1.clone(),
    )
    .await
}

#[tokio::test]
async fn tools_are_listed_with_schemas_and_annotations() {
    let fake = FakeSentry::new();
    let client = over_http(&fake, "sntryu_read").await;
    let mut names = tool_names(&client).await;
    names.sort();
    assert_eq!(
        names,
        [
            "assign_issue",
            "get_issue",
            "list_issue_events",
            "list_projects",
            "search_issues",
            "update_issue_status"
        ]
    );
    for tool in client.peer().list_all_tools().await.unwrap() {
        let annotations = tool.annotations.clone().expect("annotations");
        let reads = !matches!(tool.name.as_ref(), "assign_issue" | "update_issue_status");
        assert_eq!(annotations.read_only_hint, Some(reads), "{}", tool.name);
        assert_eq!(
            annotations.destructive_hint.unwrap_or(false),
            !reads,
            "{}",
            tool.name
        );
        assert!(tool.output_schema.is_some(), "{}", tool.name);
        assert!(
            tool.description.as_deref().is_some_and(|d| d.len() > 40),
            "{}",
            tool.name
        );
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn issues_are_found_read_with_their_stack_and_owners_and_paged() {
    let fake = FakeSentry::new();
    let client = over_http(&fake, "sntryu_read").await;

    let found = call_tool(
        &client,
        "search_issues",
        json!({"project": "checkout", "query": "division"}),
    )
    .await;
    let found = structured(&found);
    assert_eq!(found["issues"].as_array().unwrap().len(), 1, "{found}");
    let issue = &found["issues"][0];
    assert_eq!(
        (
            issue["short_id"].as_str(),
            issue["events"].as_u64(),
            issue["status"].as_str()
        ),
        (Some("CHECKOUT-1"), Some(42), Some("unresolved"))
    );
    // The project's slug became its id; the status became Sentry's search syntax.
    let searched = fake
        .requests()
        .into_iter()
        .find(|r| r.starts_with("GET /api/0/organizations/acme/issues/?"))
        .unwrap();
    assert!(
        searched.contains("project=101") && searched.contains("query=is%3Aunresolved+division"),
        "{searched}"
    );

    // Paging: one unresolved issue per page, then no cursor.
    let first = call_tool(&client, "search_issues", json!({"limit": 1})).await;
    let first = structured(&first).clone();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = call_tool(
        &client,
        "search_issues",
        json!({"limit": 1, "cursor": cursor}),
    )
    .await;
    let second = structured(&second);
    assert_ne!(first["issues"][0]["id"], second["issues"][0]["id"]);
    assert_eq!(second["next_cursor"], Value::Null);

    let resolved = call_tool(&client, "search_issues", json!({"status": "resolved"})).await;
    assert_eq!(structured(&resolved)["issues"][0]["short_id"], "WEB-1");

    let read = call_tool(
        &client,
        "get_issue",
        json!({"issue": "checkout-1", "frames": 2}),
    )
    .await;
    let read = structured(&read);
    assert_eq!(read["issue"]["id"], "9001");
    assert_eq!(
        read["owners"],
        json!([{"owner": "team:7", "why": "ownershipRule"}, {"owner": "user:12", "why": "suspectCommit"}])
    );
    let event = &read["latest_event"];
    assert_eq!(
        event["exception"],
        json!({"type": "ZeroDivisionError", "value": "division by zero"})
    );
    assert_eq!(
        (event["environment"].as_str(), event["release"].as_str()),
        (Some("production"), Some("checkout@2.4.1"))
    );
    // In-app frames only, the crash first, with its source line.
    assert_eq!(event["stack"].as_array().unwrap().len(), 2);
    assert_eq!(event["stack"][0]["function"], "pay");
    assert_eq!(event["stack"][0]["source"], "return amount / count");
    assert_eq!(event["stack"][1]["file"], "app/views.py");

    let events = call_tool(
        &client,
        "list_issue_events",
        json!({"issue": "9001", "environment": "staging"}),
    )
    .await;
    let events = structured(&events);
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(events["events"][0]["release"], "checkout@2.4.0");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn issues_are_resolved_ignored_and_assigned() {
    let fake = FakeSentry::new();
    let client = over_http(&fake, "sntryu_write").await;
    let resolved = call_tool(
        &client,
        "update_issue_status",
        json!({"issue": "9002", "status": "resolved"}),
    )
    .await;
    assert_eq!(structured(&resolved)["issue"]["status"], "resolved");
    assert_eq!(fake.issue("9002").unwrap()["status"], "resolved");

    let ignored = call_tool(
        &client,
        "update_issue_status",
        json!({"issue": "CHECKOUT-1", "status": "ignored", "ignore_minutes": 60}),
    )
    .await;
    assert_eq!(structured(&ignored)["issue"]["status"], "ignored");
    assert_eq!(
        fake.issue("9001").unwrap()["statusDetails"],
        json!({"ignoreDuration": 60})
    );

    let assigned = call_tool(
        &client,
        "assign_issue",
        json!({"issue": "9001", "assignee": "jane@acme.test"}),
    )
    .await;
    assert_eq!(
        structured(&assigned)["issue"]["assigned_to"]["name"],
        "Jane Developer"
    );
    let unassigned = call_tool(
        &client,
        "assign_issue",
        json!({"issue": "9001", "assignee": ""}),
    )
    .await;
    assert_eq!(structured(&unassigned)["issue"]["assigned_to"], Value::Null);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_input_and_refusals_are_tool_errors_a_model_can_act_on() {
    let fake = FakeSentry::new();
    let reader = over_http(&fake, "sntryu_read").await;
    // Arguments are checked before Sentry is asked.
    let e = tool_error(&call_tool(&reader, "search_issues", json!({"status": "open"})).await);
    assert!(
        e.contains("`status` must be unresolved, resolved, ignored or any"),
        "{e}"
    );
    let e = tool_error(&call_tool(&reader, "search_issues", json!({"limit": "ten"})).await);
    assert!(e.contains("invalid argument `limit`"), "{e}");
    let e = tool_error(&call_tool(&reader, "get_issue", json!({"issue": "../../admin"})).await);
    assert!(e.contains("numeric id or a short id"), "{e}");
    let e = tool_error(&call_tool(&reader, "search_issues", json!({"project": "nope"})).await);
    assert!(
        e.contains("no project \\\"nope\\\"") && e.contains("list_projects"),
        "{e}"
    );
    // Sentry's own refusals, with what to do.
    let e = tool_error(&call_tool(&reader, "search_issues", json!({"query": "is:flying"})).await);
    assert!(e.contains("Invalid value for \\\"is\\\" search"), "{e}");
    let e = tool_error(&call_tool(&reader, "get_issue", json!({"issue": "404"})).await);
    assert!(e.contains("404") && e.contains("does not exist"), "{e}");
    let e = tool_error(
        &call_tool(
            &reader,
            "update_issue_status",
            json!({"issue": "9001", "status": "resolved"}),
        )
        .await,
    );
    assert!(e.contains("`event:write` scope"), "{e}");
    assert_eq!(fake.issue("9001").unwrap()["status"], "unresolved");
    reader.cancel().await.unwrap();

    let stranger = over_http(&fake, "sntryu_revoked").await;
    let e = tool_error(&call_tool(&stranger, "list_projects", json!({})).await);
    assert!(
        e.contains("Invalid token") && e.contains("SENTRY_AUTH_TOKEN"),
        "{e}"
    );
    stranger.cancel().await.unwrap();
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_outages_named() {
    let fake = FakeSentry::new();
    let client = over_http(&fake, "sntryu_read").await;
    fake.fail_next(&[Fault::RateLimited(1)]);
    let listed = call_tool(&client, "list_projects", json!({})).await;
    assert_eq!(structured(&listed)["projects"][0]["slug"], "checkout");
    let tries = fake
        .requests()
        .iter()
        .filter(|r| r.contains("/projects/"))
        .count();
    assert_eq!(tries, 2, "one 429, then the retry");

    // Asked to wait longer than the bound: a tool error, not a hang.
    fake.fail_next(&[Fault::RateLimited(3600)]);
    let limited = call_tool(&client, "list_projects", json!({})).await;
    assert_eq!(limited.is_error, Some(true));
    assert!(
        text_of(&limited).contains("Sentry is rate-limiting"),
        "{}",
        text_of(&limited)
    );

    fake.fail_next(&[Fault::ServerError]);
    let down = call_tool(&client, "search_issues", json!({})).await;
    assert_eq!(down.is_error, Some(true));
    assert!(
        text_of(&down).contains("Sentry is unavailable"),
        "{}",
        text_of(&down)
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_binary_serves_over_stdio() {
    let fake = FakeSentry::new();
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_agenthub-mcp-sentry"));
    command
        .env("SENTRY_BASE_URL", &base)
        .env("SENTRY_ORG", ORG)
        .env("SENTRY_AUTH_TOKEN", "sntryu_read")
        .env("RUST_LOG", "warn");
    let transport = rmcp::transport::TokioChildProcess::new(command).expect("start the server");
    let client = ().serve(transport).await.expect("initialize over stdio");
    let read = client
        .peer()
        .call_tool(call("get_issue", json!({"issue": "9001"})))
        .await
        .unwrap();
    assert_eq!(
        structured(&read)["latest_event"]["exception"]["type"],
        "ZeroDivisionError"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn with_oauth_tokens_each_call_carries_the_current_one() {
    let fake = FakeSentry::new();
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let tokens = Rotating::new(&["expired", "sntryu_read"]);
    let oauth = Settings {
        auth_token: None,
        ..settings(&base, "")
    };
    let sentry = agenthub_mcp_sentry::server_with_tokens(&oauth, tokens.clone()).unwrap();
    let args = ServeArgs::http("127.0.0.1:0".parse().unwrap());
    let address = serve_on_loopback(router(&args, move || sentry.clone())).await;
    let client = connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[0].1.clone(),
    )
    .await;
    // Refused (401), renewed, sent again.
    let projects = call_tool(&client, "list_projects", json!({})).await;
    assert_eq!(structured(&projects)["projects"][0]["slug"], "checkout");
    assert_eq!(fake.tokens_seen(), ["expired", "sntryu_read"]);
    assert_eq!(tokens.rejected(), ["expired"]);
    client.cancel().await.unwrap();

    // Refused, and no token after it (the grant is gone): a tool error that says so.
    let sentry =
        agenthub_mcp_sentry::server_with_tokens(&oauth, Rotating::new(&["revoked"])).unwrap();
    let address = serve_on_loopback(router(&args, move || sentry.clone())).await;
    let client = connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[1].1.clone(),
    )
    .await;
    let error = tool_error(&call_tool(&client, "list_projects", json!({})).await);
    assert!(
        error.contains("Sentry cannot be called without credentials: no grant"),
        "{error}"
    );
    assert_eq!(fake.tokens_seen()[2..], ["revoked"]);
    client.cancel().await.unwrap();
}

#[test]
fn settings_are_checked_before_serving() {
    assert!(agenthub_mcp_sentry::server(&settings("ftp://sentry", "t")).is_err());
    assert!(agenthub_mcp_sentry::server(&settings("https://sentry.io", " ")).is_err());
    let no_token = Settings {
        auth_token: None,
        ..settings("https://sentry.io", "")
    };
    let missing = agenthub_mcp_sentry::server(&no_token).err().unwrap();
    assert!(
        missing
            .to_string()
            .contains("SENTRY_AUTH_TOKEN (--auth-token) is required")
    );
    let tokens = || Rotating::new(&[]);
    assert!(agenthub_mcp_sentry::server_with_tokens(&no_token, tokens()).is_ok());
    let both =
        agenthub_mcp_sentry::server_with_tokens(&settings("https://sentry.io", "t"), tokens())
            .err()
            .unwrap();
    assert!(both.to_string().contains("not used with OAuth"), "{both}");
    assert!(
        agenthub_mcp_sentry::server(&Settings {
            org: String::new(),
            ..settings("https://sentry.io", "t")
        })
        .is_err()
    );
}
