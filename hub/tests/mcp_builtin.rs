//! A bundled MCP server run inside the hub from YAML (`builtin: sentry`), its token taken from
//! the hub's encrypted secret store — or from the hub's own OAuth client credentials —, reached
//! through `/mcp` under the caller's grants, against the Sentry fake. (Each user's own OAuth
//! token: mcp_user_oauth.rs.)

mod support;

use std::collections::HashMap;
use std::time::Duration;

use agenthub::app;
use agenthub_mcp_registry::registry::State;
use agenthub_test_support::fake_sentry::FakeSentry;
use agenthub_test_support::mcp::{call, connect, eras, text_of, tool_names};
use http::HeaderValue;
use http::header::AUTHORIZATION;
use serde_json::{Value, json};
use support::lab::InProcessHub;

#[tokio::test]
async fn a_builtin_sentry_serves_its_tools_with_a_token_from_the_secret_store() {
    support::init_crypto();
    let fake = FakeSentry::new();
    let sentry = agenthub_test_support::serve_on_loopback(fake.router()).await;
    let yaml = format!(
        r#"
mcp_servers:
  - name: sentry
    builtin: sentry
    env:
      SENTRY_BASE_URL: http://{sentry}
      SENTRY_ORG: acme
      SENTRY_AUTH_TOKEN: secret:sentry-token
authorization:
  starter_policy: false
policies:
  - {{subject: "role:admin", resource: "*", action: "*"}}
  - {{subject: "user:dev", resource: "mcp:sentry/search_issues", action: list}}
  - {{subject: "user:dev", resource: "mcp:sentry/search_issues", action: call}}
  - {{subject: "user:dev", resource: "mcp:sentry/get_issue", action: call}}
"#
    );
    let lab = InProcessHub::start(&yaml).await;
    let address = agenthub_test_support::serve_on_loopback(app::router(lab.state.clone())).await;
    let base = format!("http://{address}");
    let http = reqwest::Client::new();
    let admin_post = |path: &str, body: Value| {
        let request = http
            .post(format!("{base}{path}"))
            .bearer_auth(&lab.admin)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
            response.json::<Value>().await.unwrap()
        }
    };
    // Until the secret exists the server cannot start; its supervisor tries again.
    admin_post(
        "/api/v1/secrets",
        json!({"name": "sentry-token", "value": "sntryu_write"}),
    )
    .await;
    let registry = lab.state.mcp.registry();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while registry.status()[0].state != State::Ready {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            registry.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    admin_post("/api/v1/users", json!({"name": "dev"})).await;
    let key = admin_post(
        "/api/v1/keys",
        json!({"name": "mcp", "owner": "dev", "scopes": ["mcp"]}),
    )
    .await;
    let key = key["key"].as_str().unwrap();
    let headers = HashMap::from([(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    )]);
    for (era, lifecycle) in eras() {
        let client = connect(&format!("{base}/mcp"), headers.clone(), lifecycle).await;
        assert_eq!(
            tool_names(&client).await,
            ["sentry__search_issues"],
            "{era}"
        );
        let found = client
            .peer()
            .call_tool(call("sentry__search_issues", json!({"query": "division"})))
            .await
            .unwrap();
        let found = found
            .structured_content
            .clone()
            .unwrap_or_else(|| panic!("{}", text_of(&found)));
        assert_eq!(found["issues"][0]["short_id"], "CHECKOUT-1", "{era}");
        // Not granted: refused by the hub, never sent to Sentry.
        let before = fake.requests().len();
        let refused = client
            .peer()
            .call_tool(call(
                "sentry__update_issue_status",
                json!({"issue": "9001", "status": "resolved"}),
            ))
            .await;
        assert!(
            refused.is_err() || refused.unwrap().is_error == Some(true),
            "{era}"
        );
        assert_eq!(fake.requests().len(), before, "{era}");
        client.cancel().await.unwrap();
    }
    // Through the API, a built-in server's address is vetted like any upstream's.
    let refused = http
        .post(format!("{base}/api/v1/mcp/servers"))
        .bearer_auth(&lab.admin)
        .json(&json!({"name": "sentry2", "builtin": "sentry", "env": {
            "SENTRY_BASE_URL": "http://127.0.0.1:9", "SENTRY_ORG": "acme",
            "SENTRY_AUTH_TOKEN": "secret:sentry-token"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let problem = refused.text().await.unwrap();
    assert!(problem.contains("env.SENTRY_BASE_URL"), "{problem}");
    // An address hidden in a secret could not be vetted.
    let refused = http
        .post(format!("{base}/api/v1/mcp/servers"))
        .bearer_auth(&lab.admin)
        .json(&json!({"name": "sentry3", "builtin": "sentry", "env": {
            "SENTRY_BASE_URL": "secret:sentry-token", "SENTRY_ORG": "acme",
            "SENTRY_AUTH_TOKEN": "secret:sentry-token"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let problem = refused.text().await.unwrap();
    assert!(problem.contains("not as a secret"), "{problem}");
    // The token came from the secret store: the fake saw it (a wrong one would be a 401).
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.starts_with("GET /api/0/organizations/acme/issues/"))
    );
    assert_eq!(fake.issue("9001").unwrap()["status"], "unresolved");
}

/// `oauth` with the client credentials grant: one token of the hub's own, from the token
/// endpoint, in place of SENTRY_AUTH_TOKEN; no resource indicator (a built-in server has no
/// URL).
#[tokio::test]
async fn a_builtin_sentry_calls_with_the_hubs_own_oauth_token() {
    support::init_crypto();
    let fake = FakeSentry::new();
    let sentry = agenthub_test_support::serve_on_loopback(fake.router()).await;
    let forms = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let token_endpoint = axum::Router::new().route(
        "/token",
        axum::routing::post({
            let forms = forms.clone();
            move |body: String| async move {
                forms.lock().unwrap().push(body);
                axum::Json(
                    json!({"access_token": "sntryu_read", "token_type": "Bearer",
                                  "expires_in": 3600}),
                )
            }
        }),
    );
    let idp = agenthub_test_support::serve_on_loopback(token_endpoint).await;
    let yaml = format!(
        r#"
mcp_servers:
  - name: sentry
    builtin: sentry
    env:
      SENTRY_BASE_URL: http://{sentry}
      SENTRY_ORG: acme
    oauth:
      token_url: http://{idp}/token
      client_id: agenthub
      client_secret: hub-secret
      scopes: ["event:read"]
authorization:
  starter_policy: false
policies:
  - {{subject: "role:admin", resource: "*", action: "*"}}
"#
    );
    let lab = InProcessHub::start(&yaml).await;
    let address = agenthub_test_support::serve_on_loopback(app::router(lab.state.clone())).await;
    let registry = lab.state.mcp.registry();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while registry.status()[0].state != State::Ready {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            registry.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let headers = HashMap::from([(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", lab.admin)).unwrap(),
    )]);
    let client = connect(
        &format!("http://{address}/mcp"),
        headers,
        eras()[0].1.clone(),
    )
    .await;
    let found = client
        .peer()
        .call_tool(call("sentry__search_issues", json!({"query": "division"})))
        .await
        .unwrap();
    let found = found
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{}", text_of(&found)));
    assert_eq!(found["issues"][0]["short_id"], "CHECKOUT-1");
    assert_eq!(fake.tokens_seen(), ["sntryu_read"]);
    let forms = forms.lock().unwrap().clone();
    assert_eq!(forms.len(), 1, "{forms:?}");
    assert!(
        forms[0].contains("grant_type=client_credentials"),
        "{forms:?}"
    );
    assert!(forms[0].contains("scope=event%3Aread"), "{forms:?}");
    assert!(!forms[0].contains("resource="), "{forms:?}");
    client.cancel().await.unwrap();
}

#[test]
fn an_unknown_builtin_is_refused_before_serving() {
    let yaml = "mcp_servers:\n  - name: pd\n    builtin: pagerduty\n";
    let problem = agenthub::config::HubConfig::parse(yaml, "test.yaml", &|_| None).unwrap_err();
    assert!(
        problem.to_string().contains("mcp_servers[0].builtin")
            && problem.to_string().contains("not a built-in server"),
        "{problem}"
    );
}
