//! Test support shared by agenthub's test suites.
//!
//! [`fake_llm`]: OpenAI and Anthropic API servers on loopback that answer from the request,
//! fail on cue, and record what reached them.
//! [`fake_jira`]: Jira's REST API (Cloud v3, Data Center v2), for the Jira MCP server.
//! [`fake_sentry`]: Sentry's web API, for the Sentry MCP server.
//! [`fake_slack`]: Slack's Web API, for the Slack MCP server, and Slack's OAuth v2.
//! [`mcp`]: where the real MCP peers the tests run against are installed.
//! [`tokens`]: OAuth tokens for a bundled server, renewed as the hub renews them.
//! [`serve_on_loopback`]: a router served on a free loopback port for the rest of the test.

pub mod fake_jira;
pub mod fake_llm;
pub mod fake_sentry;
pub mod fake_slack;
mod form;
pub mod mcp;
pub mod tokens;

/// Serves `app` on a free loopback port until the test's runtime ends; its address.
pub async fn serve_on_loopback(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let address = listener.local_addr().expect("a bound listener's address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    address
}
