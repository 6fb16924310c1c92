//! The Jira MCP server against the Jira fake: Cloud (v3, ADF, the enhanced search) over
//! streamable HTTP, Data Center (v2) too, and the binary over stdio.

use std::collections::HashMap;

use agenthub_mcp_jira::{Deployment, Settings};
use agenthub_server_kit::serve::{ServeArgs, router};
use agenthub_test_support::fake_jira::{API_TOKEN, EMAIL, FakeJira, PAT};
use agenthub_test_support::mcp::{
    call, call_tool, connect, eras, structured, tool_error, tool_names,
};
use agenthub_test_support::serve_on_loopback;
use agenthub_test_support::tokens::Rotating;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

fn settings(base: &str, deployment: Deployment) -> Settings {
    Settings {
        base_url: base.to_owned(),
        deployment,
        email: Some(EMAIL.to_owned()),
        api_token: Some(API_TOKEN.to_owned()),
        bearer_token: None,
        timeout_secs: 5,
    }
}

async fn over_http(
    fake: &FakeJira,
    settings_of: impl FnOnce(&str) -> Settings,
) -> RunningService<RoleClient, ()> {
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let jira = agenthub_mcp_jira::server(&settings_of(&base)).unwrap();
    let args = ServeArgs::http("127.0.0.1:0".parse().unwrap());
    let address = serve_on_loopback(router(&args, move || jira.clone())).await;
    connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[0].1.clone(),
    )
    .await
}

#[tokio::test]
async fn tools_are_listed_with_schemas_and_annotations() {
    let fake = FakeJira::new();
    let client = over_http(&fake, |b| settings(b, Deployment::Cloud)).await;
    let mut names = tool_names(&client).await;
    names.sort();
    assert_eq!(
        names,
        [
            "add_comment",
            "assign_issue",
            "create_issue",
            "get_issue",
            "list_fields",
            "list_issue_types",
            "list_projects",
            "list_transitions",
            "search_issues",
            "transition_issue",
            "update_issue"
        ]
    );
    for tool in client.peer().list_all_tools().await.unwrap() {
        let a = tool.annotations.clone().unwrap();
        let reads = tool.name.starts_with("list_")
            || tool.name.starts_with("get_")
            || tool.name.starts_with("search_");
        assert_eq!(a.read_only_hint, Some(reads), "{}", tool.name);
        let changes = matches!(
            tool.name.as_ref(),
            "update_issue" | "transition_issue" | "assign_issue"
        );
        assert_eq!(
            a.destructive_hint.unwrap_or(false),
            changes,
            "{}",
            tool.name
        );
        assert!(tool.output_schema.is_some(), "{}", tool.name);
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn issues_are_created_from_markdown_found_commented_moved_and_assigned_on_cloud() {
    let fake = FakeJira::new();
    let client = over_http(&fake, |b| settings(b, Deployment::Cloud)).await;
    let created = call_tool(&client, "create_issue", json!({
        "project": "chk", "summary": "Checkout fails for split payments", "issue_type": "Bug",
        "description": "Seen in **production**.\n\n- ZeroDivisionError in `pay()`\n- see [Sentry](https://acme.sentry.io/issues/9001/)",
        "labels": ["urgent", "from-slack"], "priority": "Highest"
    })).await;
    let created = structured(&created).clone();
    assert_eq!(created["key"], "CHK-2");
    assert!(created["url"].as_str().unwrap().ends_with("/browse/CHK-2"));
    // Sent as Atlassian Document Format.
    let stored = fake.issue("CHK-2").unwrap();
    let description = &stored["fields"]["description"];
    assert_eq!(description["type"], "doc");
    assert_eq!(description["content"][1]["type"], "bulletList");
    assert_eq!(
        description["content"][0]["content"][1]["marks"][0]["type"],
        "strong"
    );

    let found = call_tool(
        &client,
        "search_issues",
        json!({"jql": "project = CHK AND labels = urgent ORDER BY created DESC"}),
    )
    .await;
    let found = structured(&found);
    assert_eq!(found["issues"].as_array().unwrap().len(), 1);
    assert_eq!(found["issues"][0]["priority"], "Highest");
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.starts_with("GET /rest/api/3/search/jql?"))
    );

    // Paging with nextPageToken.
    let first = call_tool(
        &client,
        "search_issues",
        json!({"jql": "project = CHK", "limit": 1}),
    )
    .await;
    let first = structured(&first).clone();
    let second = call_tool(
        &client,
        "search_issues",
        json!({"jql": "project = CHK", "limit": 1, "cursor": first["next_cursor"]}),
    )
    .await;
    assert_eq!(structured(&second)["issues"][0]["key"], "CHK-1");
    assert_eq!(structured(&second)["next_cursor"], Value::Null);

    let commented = call_tool(
        &client,
        "add_comment",
        json!({"issue": "CHK-2", "body": "Linked *Sentry* issue CHECKOUT-1"}),
    )
    .await;
    assert_eq!(structured(&commented)["id"], "20001");
    let read = call_tool(&client, "get_issue", json!({"issue": "chk-2"})).await;
    let read = structured(&read);
    assert!(
        read["issue"]["description"]
            .as_str()
            .unwrap()
            .contains("ZeroDivisionError in pay()")
    );
    assert_eq!(
        read["issue"]["comments"][0]["body"],
        "Linked Sentry issue CHECKOUT-1"
    );

    let moved = call_tool(
        &client,
        "transition_issue",
        json!({"issue": "CHK-2", "transition": "in progress"}),
    )
    .await;
    assert_eq!(structured(&moved)["issue"]["status"], "In Progress");
    let e = tool_error(
        &call_tool(
            &client,
            "transition_issue",
            json!({"issue": "CHK-2", "transition": "Reopen"}),
        )
        .await,
    );
    assert!(
        e.contains("no transition") && e.contains("Stop Progress (31"),
        "{e}"
    );

    let assigned = call_tool(
        &client,
        "assign_issue",
        json!({"issue": "CHK-2", "assignee": "acc-bob"}),
    )
    .await;
    assert_eq!(
        structured(&assigned)["issue"]["assignee"]["name"],
        "Bob Stone"
    );
    let updated = call_tool(
        &client,
        "update_issue",
        json!({"issue": "CHK-2", "add_labels": ["triaged"], "remove_labels": ["from-slack"]}),
    )
    .await;
    assert_eq!(
        structured(&updated)["issue"]["labels"],
        json!(["urgent", "triaged"])
    );

    let types = call_tool(&client, "list_issue_types", json!({"project": "CHK"})).await;
    assert_eq!(
        structured(&types)["issue_types"].as_array().unwrap().len(),
        3
    );
    let projects = call_tool(&client, "list_projects", json!({"query": "check"})).await;
    assert_eq!(structured(&projects)["projects"][0]["key"], "CHK");
    let fields = call_tool(&client, "list_fields", json!({"query": "story"})).await;
    assert_eq!(structured(&fields)["fields"][0]["id"], "customfield_10016");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn data_center_speaks_v2_with_plain_text_and_names() {
    let fake = FakeJira::new();
    let client = over_http(&fake, |b| Settings {
        email: None,
        api_token: None,
        bearer_token: Some(PAT.to_owned()),
        ..settings(b, Deployment::Datacenter)
    })
    .await;
    let created = call_tool(&client, "create_issue", json!({"project": "OPS", "summary": "Disk full on db-2", "description": "Plain *wiki* text"})).await;
    assert_eq!(structured(&created)["key"], "OPS-1");
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.starts_with("POST /rest/api/2/issue ")
                && c.contains("\"description\":\"Plain *wiki* text\""))
    );
    let found = call_tool(
        &client,
        "search_issues",
        json!({"jql": "project = OPS", "limit": 1}),
    )
    .await;
    let found = structured(&found);
    assert_eq!(found["issues"][0]["key"], "OPS-1");
    assert_eq!(found["next_cursor"], Value::Null);
    let assigned = call_tool(
        &client,
        "assign_issue",
        json!({"issue": "OPS-1", "assignee": "ana"}),
    )
    .await;
    assert_eq!(
        structured(&assigned)["issue"]["assignee"]["account_id"],
        "acc-ana"
    );
    let projects = call_tool(&client, "list_projects", json!({})).await;
    assert_eq!(
        structured(&projects)["projects"].as_array().unwrap().len(),
        2
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_input_and_refusals_are_tool_errors_a_model_can_act_on() {
    let fake = FakeJira::new();
    let client = over_http(&fake, |b| settings(b, Deployment::Cloud)).await;
    let e = tool_error(&call_tool(&client, "search_issues", json!({"jql": "project CHK"})).await);
    assert!(
        e.contains("Error in the JQL Query: Expecting operator"),
        "{e}"
    );
    let e = tool_error(
        &call_tool(
            &client,
            "search_issues",
            json!({"jql": "ORDER BY created DESC"}),
        )
        .await,
    );
    assert!(e.contains("Unbounded JQL queries are not allowed"), "{e}");
    let e =
        tool_error(&call_tool(&client, "search_issues", json!({"jql": "project = NOPE"})).await);
    assert!(
        e.contains("The value 'NOPE' does not exist for the field 'project'"),
        "{e}"
    );
    let e = tool_error(
        &call_tool(
            &client,
            "create_issue",
            json!({"project": "NOPE", "summary": "x"}),
        )
        .await,
    );
    assert!(
        e.contains("project: Specify a valid project ID or key"),
        "{e}"
    );
    let e = tool_error(
        &call_tool(
            &client,
            "create_issue",
            json!({"project": "CHK", "summary": "x", "issue_type": "Epic"}),
        )
        .await,
    );
    assert!(e.contains("issuetype: Specify a valid issue type"), "{e}");
    let e = tool_error(&call_tool(&client, "get_issue", json!({"issue": "CHK-404"})).await);
    assert!(e.contains("Issue does not exist"), "{e}");
    let e = tool_error(&call_tool(&client, "get_issue", json!({"issue": "drop table"})).await);
    assert!(e.contains("issue key like ENG-12"), "{e}");
    let e = tool_error(&call_tool(&client, "update_issue", json!({"issue": "CHK-1"})).await);
    assert!(e.contains("nothing to change"), "{e}");
    client.cancel().await.unwrap();

    let wrong = over_http(&fake, |b| Settings {
        api_token: Some("nope".to_owned()),
        ..settings(b, Deployment::Cloud)
    })
    .await;
    let e = tool_error(&call_tool(&wrong, "search_issues", json!({"jql": "project = CHK"})).await);
    assert!(e.contains("check JIRA_EMAIL and JIRA_API_TOKEN"), "{e}");
    wrong.cancel().await.unwrap();
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_jira_says() {
    let fake = FakeJira::new();
    let client = over_http(&fake, |b| settings(b, Deployment::Cloud)).await;
    fake.rate_limit_next(&[1]);
    let read = call_tool(&client, "get_issue", json!({"issue": "CHK-1"})).await;
    assert_eq!(
        structured(&read)["issue"]["summary"],
        "Card payments time out"
    );
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("GET /rest/api/3/issue/CHK-1"))
            .count(),
        2
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_binary_serves_over_stdio() {
    let fake = FakeJira::new();
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_agenthub-mcp-jira"));
    command
        .env("JIRA_BASE_URL", &base)
        .env("JIRA_EMAIL", EMAIL)
        .env("JIRA_API_TOKEN", API_TOKEN)
        .env("RUST_LOG", "warn");
    let transport = rmcp::transport::TokioChildProcess::new(command).expect("start the server");
    let client = ().serve(transport).await.expect("initialize over stdio");
    let read = client
        .peer()
        .call_tool(call("get_issue", json!({"issue": "CHK-1"})))
        .await
        .unwrap();
    assert_eq!(structured(&read)["issue"]["status"], "To Do");
    client.cancel().await.unwrap();
}

/// Each call carries the current OAuth token (Atlassian 3LO: a bearer token); one Jira
/// answers 401 to is renewed and the call made again.
#[tokio::test]
async fn with_oauth_tokens_each_call_carries_the_current_one() {
    let fake = FakeJira::new();
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let tokens = Rotating::new(&["expired", PAT]);
    let oauth = Settings {
        email: None,
        api_token: None,
        bearer_token: None,
        ..settings(&base, Deployment::Cloud)
    };
    let jira = agenthub_mcp_jira::server_with_tokens(&oauth, tokens.clone()).unwrap();
    let args = ServeArgs::http("127.0.0.1:0".parse().unwrap());
    let address = serve_on_loopback(router(&args, move || jira.clone())).await;
    let client = connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[0].1.clone(),
    )
    .await;
    let projects = call_tool(&client, "list_projects", json!({"query": "check"})).await;
    assert_eq!(structured(&projects)["projects"][0]["key"], "CHK");
    assert_eq!(tokens.rejected(), ["expired"]);
    client.cancel().await.unwrap();
}

#[test]
fn settings_are_checked_before_serving() {
    let oauth = Settings {
        email: None,
        api_token: None,
        bearer_token: None,
        ..settings("https://api.atlassian.com/ex/jira/1234", Deployment::Cloud)
    };
    assert!(agenthub_mcp_jira::server_with_tokens(&oauth, Rotating::new(&[])).is_ok());
    for with in [
        Settings {
            email: Some(EMAIL.to_owned()),
            ..oauth.clone()
        },
        Settings {
            bearer_token: Some(PAT.to_owned()),
            ..oauth.clone()
        },
    ] {
        let refused = agenthub_mcp_jira::server_with_tokens(&with, Rotating::new(&[]))
            .err()
            .unwrap();
        assert!(
            refused.to_string().contains("not used with OAuth"),
            "{refused}"
        );
    }
    let base = settings("https://acme.atlassian.net", Deployment::Cloud);
    assert!(agenthub_mcp_jira::server(&base).is_ok());
    assert!(
        agenthub_mcp_jira::server(&Settings {
            api_token: None,
            ..base.clone()
        })
        .is_err()
    );
    assert!(
        agenthub_mcp_jira::server(&Settings {
            base_url: "acme.atlassian.net".into(),
            ..base
        })
        .is_err()
    );
}
