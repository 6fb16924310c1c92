//! The Slack MCP server against the Slack fake, over streamable HTTP (in process) and over
//! stdio (the binary).

use std::collections::HashMap;

use agenthub_mcp_slack::Settings;
use agenthub_server_kit::serve::{ServeArgs, router};
use agenthub_test_support::fake_slack::{BOT, FakeSlack, NARROW, USER};
use agenthub_test_support::mcp::{
    call, call_tool, connect, eras, structured, tool_error, tool_names,
};
use agenthub_test_support::serve_on_loopback;
use agenthub_test_support::tokens::Rotating;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

fn settings(base: &str, bot: Option<&str>, user: Option<&str>) -> Settings {
    Settings {
        bot_token: bot.map(str::to_owned),
        user_token: user.map(str::to_owned),
        base_url: format!("{base}/api"),
        timeout_secs: 5,
    }
}

async fn over_http(
    fake: &FakeSlack,
    bot: Option<&str>,
    user: Option<&str>,
) -> RunningService<RoleClient, ()> {
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let slack = agenthub_mcp_slack::server(&settings(&base, bot, user)).unwrap();
    let args = ServeArgs::http("127.0.0.1:0".parse().unwrap());
    let address = serve_on_loopback(router(&args, move || slack.clone())).await;
    connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[1].1.clone(),
    )
    .await
}

#[tokio::test]
async fn tools_are_listed_with_schemas_and_annotations() {
    let fake = FakeSlack::new();
    let client = over_http(&fake, Some(BOT), None).await;
    let mut names = tool_names(&client).await;
    names.sort();
    assert_eq!(
        names,
        [
            "add_reaction",
            "get_user",
            "list_channels",
            "list_users",
            "post_message",
            "read_channel",
            "read_thread",
            "search_messages"
        ]
    );
    for tool in client.peer().list_all_tools().await.unwrap() {
        let annotations = tool.annotations.clone().unwrap();
        let writes = matches!(tool.name.as_ref(), "post_message" | "add_reaction");
        assert_eq!(annotations.read_only_hint, Some(!writes), "{}", tool.name);
        if writes {
            assert_eq!(annotations.destructive_hint, Some(false), "{}", tool.name);
        }
        assert!(tool.output_schema.is_some(), "{}", tool.name);
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_channel_is_read_in_a_time_range_its_threads_answered_and_reacted_to() {
    let fake = FakeSlack::new();
    let client = over_http(&fake, Some(BOT), None).await;
    let channels = call_tool(&client, "list_channels", json!({"limit": 2})).await;
    let channels = structured(&channels).clone();
    assert_eq!(channels["channels"].as_array().unwrap().len(), 2);
    let rest = call_tool(
        &client,
        "list_channels",
        json!({"cursor": channels["next_cursor"]}),
    )
    .await;
    assert_eq!(structured(&rest)["channels"][0]["name"], "random");
    assert_eq!(structured(&rest)["next_cursor"], Value::Null);

    // By name, after a time: newest first, thread replies left in their thread.
    let read = call_tool(
        &client,
        "read_channel",
        json!({"channel": "#support", "oldest": "2025-11-27T07:20:00Z"}),
    )
    .await;
    let read = structured(&read);
    assert_eq!(read["channel"], "C0000SUPPORT");
    let texts: Vec<&str> = read["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(
        texts[0].starts_with("Thanks all") && texts[2].starts_with("URGENT"),
        "{texts:?}"
    );
    assert_eq!(read["messages"][2]["replies"], 2);
    // The bound is exclusive, as Slack's: nothing at or before the oldest message's ts.
    let none = call_tool(
        &client,
        "read_channel",
        json!({"channel": "C0000SUPPORT", "oldest": "1764237600.000100"}),
    )
    .await;
    assert_eq!(structured(&none)["messages"], json!([]));

    let thread = call_tool(
        &client,
        "read_thread",
        json!({"channel": "support", "thread_ts": "1764230400.000100"}),
    )
    .await;
    let thread = structured(&thread);
    assert_eq!(thread["messages"].as_array().unwrap().len(), 3);
    assert!(
        thread["messages"][2]["text"]
            .as_str()
            .unwrap()
            .contains("2.4.1")
    );

    let posted = call_tool(
        &client,
        "post_message",
        json!({"channel": "#support", "text": "Filed as CHK-7", "thread_ts": "1764230400.000100"}),
    )
    .await;
    let posted = structured(&posted);
    assert_eq!(posted["thread_ts"], "1764230400.000100");
    let stored = fake.messages("C0000SUPPORT");
    assert!(
        stored
            .iter()
            .any(|m| m["text"] == "Filed as CHK-7" && m["thread_ts"] == "1764230400.000100")
    );

    let reacted = call_tool(
        &client,
        "add_reaction",
        json!({"channel": "C0000SUPPORT", "ts": "1764230400.000100", "emoji": ":eyes:"}),
    )
    .await;
    assert_eq!(structured(&reacted)["added"], true);
    let again = call_tool(
        &client,
        "add_reaction",
        json!({"channel": "C0000SUPPORT", "ts": "1764230400.000100", "emoji": "eyes"}),
    )
    .await;
    assert_eq!(structured(&again)["added"], false);

    let user = call_tool(&client, "get_user", json!({"user": "U0000000ANA"})).await;
    assert_eq!(structured(&user)["user"]["real_name"], "Ana Lima");
    // The bot token lacks users:read.email: no address, no error.
    assert_eq!(structured(&user)["user"]["email"], Value::Null);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_takes_the_user_token_and_says_so_without_one() {
    let fake = FakeSlack::new();
    let bot_only = over_http(&fake, Some(BOT), None).await;
    let e = tool_error(&call_tool(&bot_only, "search_messages", json!({"query": "urgent"})).await);
    assert!(e.contains("SLACK_USER_TOKEN"), "{e}");
    bot_only.cancel().await.unwrap();

    let both = over_http(&fake, Some(BOT), Some(USER)).await;
    let found = call_tool(&both, "search_messages", json!({"query": "urgent"})).await;
    let found = structured(&found);
    assert_eq!(found["total"], 2);
    assert_eq!(found["matches"][0]["channel"]["name"], "support");
    assert!(
        found["matches"][0]["permalink"]
            .as_str()
            .unwrap()
            .starts_with("https://acme.slack.com/archives/C0000SUPPORT/p")
    );
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.starts_with("search.messages"))
    );
    both.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_input_and_refusals_are_tool_errors_a_model_can_act_on() {
    let fake = FakeSlack::new();
    let client = over_http(&fake, Some(BOT), None).await;
    let e = tool_error(&call_tool(&client, "read_channel", json!({"channel": "#nope"})).await);
    assert!(
        e.contains("unknown channel #nope") && e.contains("list_channels"),
        "{e}"
    );
    let e = tool_error(&call_tool(&client, "read_channel", json!({"channel": "#random"})).await);
    assert!(e.contains("not a member") && e.contains("/invite"), "{e}");
    let e = tool_error(
        &call_tool(
            &client,
            "read_channel",
            json!({"channel": "#support", "oldest": "last tuesday"}),
        )
        .await,
    );
    assert!(e.contains("`oldest` must be"), "{e}");
    let e = tool_error(
        &call_tool(
            &client,
            "read_thread",
            json!({"channel": "#support", "thread_ts": "1764226800.000999"}),
        )
        .await,
    );
    assert!(e.contains("thread_not_found"), "{e}");
    let e = tool_error(
        &call_tool(
            &client,
            "post_message",
            json!({"channel": "#support", "text": " "}),
        )
        .await,
    );
    assert!(e.contains("`text` is empty"), "{e}");
    let e = tool_error(&call_tool(&client, "get_user", json!({"user": "U404"})).await);
    assert!(e.contains("unknown user"), "{e}");
    let e = tool_error(&call_tool(&client, "list_channels", json!({"cursor": "garbage"})).await);
    assert!(e.contains("invalid_cursor"), "{e}");
    client.cancel().await.unwrap();

    let narrow = over_http(&fake, Some(NARROW), None).await;
    let e =
        tool_error(&call_tool(&narrow, "read_channel", json!({"channel": "C0000SUPPORT"})).await);
    assert!(
        e.contains("lacks the `channels:history` scope") && e.contains("it has: channels:read"),
        "{e}"
    );
    narrow.cancel().await.unwrap();

    let revoked = over_http(&fake, Some("xoxb-revoked"), None).await;
    let e = tool_error(&call_tool(&revoked, "list_channels", json!({})).await);
    assert!(
        e.contains("invalid_auth") && e.contains("SLACK_BOT_TOKEN"),
        "{e}"
    );
    revoked.cancel().await.unwrap();
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_slack_says() {
    let fake = FakeSlack::new();
    let client = over_http(&fake, Some(BOT), None).await;
    fake.rate_limit_next(&[1]);
    let listed = call_tool(&client, "list_channels", json!({})).await;
    assert_eq!(structured(&listed)["channels"][0]["name"], "general");
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("conversations.list"))
            .count(),
        2
    );
    fake.rate_limit_next(&[600]);
    let e = tool_error(&call_tool(&client, "list_channels", json!({})).await);
    assert!(
        e.contains("Slack is rate-limiting") && e.contains("600 s"),
        "{e}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_binary_serves_over_stdio() {
    let fake = FakeSlack::new();
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_agenthub-mcp-slack"));
    command
        .env("SLACK_BASE_URL", format!("{base}/api"))
        .env("SLACK_BOT_TOKEN", BOT)
        .env("RUST_LOG", "warn");
    let transport = rmcp::transport::TokioChildProcess::new(command).expect("start the server");
    let client = ().serve(transport).await.expect("initialize over stdio");
    let read = client
        .peer()
        .call_tool(call("read_channel", json!({"channel": "#general"})))
        .await
        .unwrap();
    assert_eq!(structured(&read)["messages"][0]["text"], "Welcome!");
    client.cancel().await.unwrap();
}

/// Each call carries the OAuth token of its user, as a user token: search works with it; a
/// token Slack answers `invalid_auth` to is renewed and the call made again.
#[tokio::test]
async fn with_oauth_tokens_each_call_carries_the_current_one_as_a_user_token() {
    let fake = FakeSlack::new();
    let base = format!("http://{}", serve_on_loopback(fake.router()).await);
    let tokens = Rotating::new(&["xoxe.xoxp-expired", USER]);
    let slack =
        agenthub_mcp_slack::server_with_tokens(&settings(&base, None, None), tokens.clone())
            .unwrap();
    let args = ServeArgs::http("127.0.0.1:0".parse().unwrap());
    let address = serve_on_loopback(router(&args, move || slack.clone())).await;
    let client = connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[0].1.clone(),
    )
    .await;
    let found = call_tool(&client, "search_messages", json!({"query": "urgent"})).await;
    assert_eq!(structured(&found)["total"], 2);
    assert_eq!(tokens.rejected(), ["xoxe.xoxp-expired"]);
    // A scope the grant lacks: the remedy is a new consent with it, not a reinstall.
    let slack = agenthub_mcp_slack::server_with_tokens(
        &settings(&base, None, None),
        Rotating::new(&[NARROW]),
    )
    .unwrap();
    let address = serve_on_loopback(router(&args, move || slack.clone())).await;
    let narrow = connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[0].1.clone(),
    )
    .await;
    let error = tool_error(&call_tool(&narrow, "list_users", json!({})).await);
    assert!(
        error.contains("lacks the `users:read` scope")
            && error.contains("oauth.scopes")
            && error.contains("grant access again"),
        "{error}"
    );
    narrow.cancel().await.unwrap();
    // Refused with no token after it: a tool error that says so, naming no setting.
    let slack = agenthub_mcp_slack::server_with_tokens(
        &settings(&base, None, None),
        Rotating::new(&["xoxp-revoked"]),
    )
    .unwrap();
    let address = serve_on_loopback(router(&args, move || slack.clone())).await;
    let client = connect(
        &format!("http://{address}/mcp"),
        HashMap::new(),
        eras()[1].1.clone(),
    )
    .await;
    let error = tool_error(&call_tool(&client, "list_channels", json!({})).await);
    assert!(
        error.contains("Slack cannot be called without credentials: no grant"),
        "{error}"
    );
    client.cancel().await.unwrap();
}

#[test]
fn settings_are_checked_before_serving() {
    let with_tokens = |settings: &Settings| {
        agenthub_mcp_slack::server_with_tokens(settings, Rotating::new(&[])).err()
    };
    assert!(with_tokens(&settings("http://x", None, None)).is_none());
    for (bot, user) in [(Some(BOT), None), (None, Some(USER))] {
        let refused = with_tokens(&settings("http://x", bot, user)).unwrap();
        assert!(
            refused.to_string().contains("not used with OAuth"),
            "{refused}"
        );
    }
    assert!(agenthub_mcp_slack::server(&settings("http://x", None, None)).is_err());
    assert!(
        agenthub_mcp_slack::server(&settings("http://x", Some("xoxp-wrong-kind"), None)).is_err()
    );
    assert!(agenthub_mcp_slack::server(&settings("ftp://x", Some(BOT), None)).is_err());
}
