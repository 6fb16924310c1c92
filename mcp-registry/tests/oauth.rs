//! OAuth client credentials to an upstream server: a fake authorization server on loopback
//! issues short-lived tokens, and an MCP server (rmcp over streamable HTTP) behind a check of
//! the current token answers only with it. The hub's connection gets a token, renews it when
//! it expires, gets a new one when the server refuses it, and says why when it cannot.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub_mcp_registry::config::{McpServerConfig, McpTimeouts};
use agenthub_mcp_registry::upstream::{Connection, Secrets, UpstreamError};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler};
use serde_json::json;

struct OneSecret;

impl Secrets for OneSecret {
    fn reveal(&self, name: &str) -> Option<String> {
        (name == "client-secret").then(|| "s3cret:with/odd&chars".to_owned())
    }
}

/// What the fake authorization server saw and which token the MCP server takes.
#[derive(Default)]
struct Idp {
    /// Each token request's form and Authorization header.
    requests: Vec<(String, Option<String>)>,
    issued: u32,
    /// The token the MCP server accepts.
    valid: Option<String>,
    /// Refuse token requests (bad client credentials).
    refuse: bool,
    /// The lifetime of the tokens issued (`expires_in`).
    lifetime: u64,
    /// Requests the MCP server refused with 401.
    refused: u32,
}

type Shared = Arc<Mutex<Idp>>;

async fn token_endpoint(State(idp): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut idp = idp.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    idp.requests.push((body, auth));
    if idp.refuse {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    idp.issued += 1;
    let token = format!("tok-{}", idp.issued);
    idp.valid = Some(token.clone());
    axum::Json(json!({"access_token": token, "token_type": "Bearer", "expires_in": idp.lifetime}))
        .into_response()
}

async fn require_token(State(idp): State<Shared>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    {
        let mut idp = idp.lock().unwrap();
        if presented.is_none() || presented != idp.valid {
            idp.refused += 1;
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    next.run(request).await
}

#[derive(Clone)]
struct Echo;

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object"});
        let serde_json::Value::Object(schema) = schema else {
            unreachable!()
        };
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "ping",
            "Answers pong",
            Arc::new(schema),
        )]))
    }

    async fn call_tool(
        &self,
        _: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text("pong"),
        ])))
    }
}

/// The authorization server and the MCP server on one loopback port; their base URL.
async fn start(idp: Shared) -> String {
    let mcp = StreamableHttpService::new(
        || Ok(Echo),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            idp.clone(),
            require_token,
        ))
        .route(
            "/token",
            axum::routing::post(token_endpoint).with_state(idp.clone()),
        );
    let address = agenthub_test_support::serve_on_loopback(app).await;
    format!("http://{address}")
}

fn registration(base: &str) -> McpServerConfig {
    serde_json::from_value(json!({
        "name": "guarded",
        "url": format!("{base}/mcp"),
        "oauth": {
            "token_url": format!("{base}/token"),
            "client_id": "agenthub",
            "client_secret": "secret:client-secret",
            "scopes": ["tools:read", "tools:call"],
        },
    }))
    .unwrap()
}

fn timeouts() -> McpTimeouts {
    McpTimeouts {
        connect: Duration::from_secs(20),
        request: Duration::from_secs(20),
    }
}

async fn ping(connection: &Connection) -> String {
    let result = connection
        .peer()
        .call_tool(CallToolRequestParams::new("ping"))
        .await
        .unwrap();
    serde_json::to_string(&result.content).unwrap()
}

#[tokio::test]
async fn tokens_are_fetched_renewed_and_replaced_when_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let idp = Shared::default();
    idp.lock().unwrap().lifetime = 1;
    let base = start(idp.clone()).await;
    let connection = Connection::open(&registration(&base), timeouts(), &OneSecret)
        .await
        .unwrap();
    let catalog = connection.catalog().await.unwrap();
    assert_eq!(catalog.tools[0].name, "ping");
    {
        let idp = idp.lock().unwrap();
        let (form, auth) = &idp.requests[0];
        assert!(form.contains("grant_type=client_credentials"), "{form}");
        assert!(form.contains("scope=tools%3Aread+tools%3Acall"), "{form}");
        let resource = format!("resource={}", form_encoded(&format!("{base}/mcp")));
        assert!(form.contains(&resource), "{form}");
        // Basic of the form-encoded id and secret (RFC 6749 §2.3.1).
        let expected = base64_of("agenthub:s3cret%3Awith%2Fodd%26chars");
        assert_eq!(auth.as_deref(), Some(format!("Basic {expected}").as_str()));
        assert_eq!(idp.refused, 0, "no request went without a token");
    }

    // The token expired: the next request carries a new one, from now on long-lived.
    idp.lock().unwrap().lifetime = 3600;
    let before = idp.lock().unwrap().issued;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(ping(&connection).await.contains("pong"));
    assert_eq!(idp.lock().unwrap().issued, before + 1);
    assert!(ping(&connection).await.contains("pong"));
    assert_eq!(
        idp.lock().unwrap().issued,
        before + 1,
        "a good token is reused"
    );

    // The server stops accepting it: one 401, one new token, and the call goes through.
    idp.lock().unwrap().valid = Some("revoked-everything".to_owned());
    assert!(ping(&connection).await.contains("pong"));
    let counts = {
        let idp = idp.lock().unwrap();
        (idp.refused, idp.issued)
    };
    assert_eq!(counts, (1, before + 2));
    connection.close().await;
}

#[tokio::test]
async fn a_refused_client_is_a_clear_setup_error() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let idp = Shared::default();
    idp.lock().unwrap().refuse = true;
    let base = start(idp.clone()).await;
    let error = Connection::open(&registration(&base), timeouts(), &OneSecret)
        .await
        .err()
        .expect("no token, no connection");
    let message = error.to_string();
    assert!(
        message.contains(&format!("cannot get an OAuth token from {base}/token"))
            && message.contains("401")
            && message.contains("invalid_client"),
        "{message}"
    );
    assert!(
        matches!(error, UpstreamError::Connect(_) | UpstreamError::Setup(_)),
        "{error:?}"
    );
}

fn form_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
