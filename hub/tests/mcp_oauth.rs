//! `/mcp` as an OAuth protected resource, on a loopback port: the RFC 9728 metadata, the
//! `resource_metadata` challenge on 401, tokens bound to the hub's `/mcp` by audience
//! (RFC 8707), and API keys still accepted; a virtual server as a protected resource of its
//! own.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use agenthub::app;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::lab::InProcessHub;

const HMAC: &str = "a-shared-secret-of-the-test-idp-0123456789";

struct Hub {
    base: String,
    admin: String,
    http: reqwest::Client,
    _lab: InProcessHub,
}

async fn start(public_url: Option<&str>) -> Hub {
    let public = public_url
        .map(|u| format!("  public_url: {u}\n"))
        .unwrap_or_default();
    let yaml = format!(
        r#"
auth:
{public}  jwt_issuers:
    - name: idp
      issuer: https://idp.example
      audiences: ["https://hub.example.com/mcp", "https://hub.example.com/mcp/support", "urn:other-service"]
      algorithms: [HS256]
      hmac_secret: secret:idp-key
mcp_virtual_servers:
  - {{name: support, tools: ["*"]}}
"#
    );
    let lab = InProcessHub::start(&yaml).await;
    let router = app::router(lab.state.clone());
    let address = agenthub_test_support::serve_on_loopback(router).await;
    let hub = Hub {
        base: format!("http://{address}"),
        admin: lab.admin.clone(),
        http: reqwest::Client::new(),
        _lab: lab,
    };
    let stored = hub
        .http
        .post(format!("{}/api/v1/secrets", hub.base))
        .bearer_auth(&hub.admin)
        .json(&json!({"name": "idp-key", "value": HMAC}))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    hub
}

fn token(audience: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": "https://idp.example", "aud": audience, "sub": "agent-7", "exp": now + 600}),
        &EncodingKey::from_secret(HMAC.as_bytes()),
    )
    .unwrap()
}

impl Hub {
    /// A stateless `tools/list` to `/mcp` with `bearer`, if any.
    async fn list_tools(&self, bearer: Option<&str>) -> reqwest::Response {
        self.list_tools_at("/mcp", bearer).await
    }

    /// The same, to the MCP endpoint at `path`.
    async fn list_tools_at(&self, path: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/list")
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {}
                }}}),
            );
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        request.send().await.unwrap()
    }
}

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn mcp_is_a_protected_resource_bound_by_audience() {
    let hub = start(Some("https://hub.example.com/")).await;

    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let metadata: Value = hub
            .http
            .get(format!("{}{path}", hub.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["resource"], "https://hub.example.com/mcp",
            "{path}"
        );
        assert_eq!(
            metadata["authorization_servers"],
            json!(["https://idp.example"])
        );
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    }

    // No credentials: 401 pointing at the metadata.
    let anonymous = hub.list_tools(None).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        challenge(&anonymous),
        "Bearer realm=\"agenthub\", resource_metadata=\"https://hub.example.com/.well-known/oauth-protected-resource/mcp\""
    );

    // A token issued for /mcp is accepted.
    let ours = hub
        .list_tools(Some(&token("https://hub.example.com/mcp")))
        .await;
    assert_eq!(ours.status(), 200, "{}", ours.text().await.unwrap());

    // A token the issuer made for another service is valid, but not here.
    let theirs = hub.list_tools(Some(&token("urn:other-service"))).await;
    assert_eq!(theirs.status(), 401);
    assert!(
        challenge(&theirs).ends_with("error=\"invalid_token\""),
        "{}",
        challenge(&theirs)
    );
    let body: Value = theirs.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("audience does not include https://hub.example.com/mcp"),
        "{message}"
    );

    // API keys keep working.
    let keyed = hub.list_tools(Some(&hub.admin)).await;
    assert_eq!(keyed.status(), 200);
}

#[tokio::test]
async fn without_a_public_url_there_is_no_metadata_nor_binding() {
    let hub = start(None).await;
    let metadata = hub
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            hub.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 404);
    let body: Value = metadata.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("auth.public_url"),
        "{body}"
    );
    let anonymous = hub.list_tools(None).await;
    assert_eq!(challenge(&anonymous), "Bearer realm=\"agenthub\"");
    // Any audience the issuer accepts will do.
    let other = hub.list_tools(Some(&token("urn:other-service"))).await;
    assert_eq!(other.status(), 200);
}

/// `/mcp/support` is a resource of its own: its metadata, its challenge, tokens issued for it
/// (not usable on `/mcp`) or for `/mcp` (a virtual server grants no more than `/mcp`).
#[tokio::test]
async fn a_virtual_server_is_a_protected_resource_of_its_own() {
    let hub = start(Some("https://hub.example.com")).await;
    let metadata: Value = hub
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp/support",
            hub.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], "https://hub.example.com/mcp/support");

    let anonymous = hub.list_tools_at("/mcp/support", None).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        challenge(&anonymous),
        "Bearer realm=\"agenthub\", resource_metadata=\"https://hub.example.com/.well-known/oauth-protected-resource/mcp/support\""
    );
    let for_support = token("https://hub.example.com/mcp/support");
    let ours = hub.list_tools_at("/mcp/support", Some(&for_support)).await;
    assert_eq!(ours.status(), 200, "{}", ours.text().await.unwrap());
    let whole = hub.list_tools(Some(&for_support)).await;
    assert_eq!(whole.status(), 401);
    let for_mcp = token("https://hub.example.com/mcp");
    let parent = hub.list_tools_at("/mcp/support", Some(&for_mcp)).await;
    assert_eq!(parent.status(), 200);
    let theirs = hub
        .list_tools_at("/mcp/support", Some(&token("urn:other-service")))
        .await;
    assert_eq!(theirs.status(), 401);
    assert!(challenge(&theirs).ends_with("error=\"invalid_token\""));
}
