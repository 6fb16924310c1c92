//! OAuth authorization code with PKCE per user, to an upstream MCP server, end to end on
//! loopback ports. A fake authorization server — `/authorize` sends the browser straight back
//! with a code for the user its `x-idp-user` header names; `/token` checks the PKCE verifier
//! against the S256 challenge, issues short-lived access tokens and refresh tokens that work
//! once (rotation) — stands in front of an MCP server whose `whoami` tool answers with the
//! user of the token it was called with, so the test sees as whom each call was made.
//!
//! Until someone consents, the server needs consent and publishes nothing; a user without a
//! grant gets MCP's URL elicitation error (-32042) with a link; following it grants access for
//! that user only; tokens are refreshed (and rotated) as they expire; links and states work
//! once; a revoked grant asks for consent again; tokens are never stored in plaintext.
//!
//! The same authorization server also stands in front of the Sentry fake for a bundled server
//! (`builtin: sentry`) acting for each user: each user's own token reaches Sentry, a refused
//! one is refreshed and the call made again, a grant refused at its refresh asks for consent.
//!
//! The Slack fake's own OAuth v2 (`dialect: slack`) stands in front of `builtin: slack`: user
//! scopes asked for as Slack expects, each user's user token taken from `authed_user` and
//! carried by their calls, rotated tokens refreshed, and Slack's `ok: false` refusals named.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agenthub::app;
use agenthub_mcp_registry::registry::State as ServerState;
use agenthub_test_support::fake_sentry::FakeSentry;
use agenthub_test_support::fake_slack::{FakeSlack, SlackApp};
use agenthub_test_support::mcp::{call, connect, eras, text_of, tool_names};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{ClientLifecycleMode, RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceError};
use serde_json::{Value, json};
use support::lab::InProcessHub;

/// What the fake authorization server knows and saw.
#[derive(Default)]
struct Idp {
    /// code → (user, challenge, redirect_uri)
    codes: HashMap<String, (String, String, String)>,
    /// access token → (user, expiry)
    access: HashMap<String, (String, Instant)>,
    /// refresh token → user; each works once.
    refresh: HashMap<String, String>,
    /// Every token issued, to look for in the hub's database.
    issued: Vec<String>,
    /// Refreshes per user.
    refreshes: HashMap<String, u32>,
    /// The query of each authorization request, and the form of each token request.
    authorizations: Vec<HashMap<String, String>>,
    token_requests: Vec<HashMap<String, String>>,
    /// The lifetime of access tokens (`expires_in`).
    lifetime: u64,
    serial: u32,
}

type Shared = Arc<Mutex<Idp>>;

impl Idp {
    fn mint(&mut self, prefix: &str, user: &str) -> String {
        self.serial += 1;
        let token = format!("{prefix}-{user}-{}", self.serial);
        self.issued.push(token.clone());
        token
    }

    fn tokens_for(&mut self, user: &str) -> Value {
        let access = self.mint("at", user);
        let refresh = self.mint("rt", user);
        let expires = Instant::now() + Duration::from_secs(self.lifetime);
        self.access
            .insert(access.clone(), (user.to_owned(), expires));
        self.refresh.insert(refresh.clone(), user.to_owned());
        json!({"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime,
               "refresh_token": refresh, "scope": "crm.read"})
    }

    /// The user whose live access token `authorization` carries.
    fn user_of(&self, authorization: Option<&str>) -> Option<String> {
        let token = authorization?.strip_prefix("Bearer ")?;
        let (user, expires) = self.access.get(token)?;
        (Instant::now() < *expires).then(|| user.clone())
    }
}

fn invalid_grant() -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_grant"})),
    )
        .into_response()
}

async fn authorize(
    State(idp): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut idp = idp.lock().unwrap();
    idp.authorizations.push(query.clone());
    let user = headers
        .get("x-idp-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("nobody")
        .to_owned();
    if query.get("response_type").map(String::as_str) != Some("code")
        || query.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "S256 PKCE required").into_response();
    }
    let redirect_uri = query["redirect_uri"].clone();
    let state = query["state"].clone();
    if user == "refuser" {
        return Redirect::to(&format!("{redirect_uri}?error=access_denied&state={state}"))
            .into_response();
    }
    let code = idp.mint("code", &user);
    idp.codes.insert(
        code.clone(),
        (user, query["code_challenge"].clone(), redirect_uri.clone()),
    );
    Redirect::to(&format!("{redirect_uri}?code={code}&state={state}")).into_response()
}

fn s256(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

async fn token(
    State(idp): State<Shared>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let mut idp = idp.lock().unwrap();
    idp.token_requests.push(form.clone());
    if form.get("client_id").map(String::as_str) != Some("agenthub") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let user = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((user, challenge, redirect_uri)) =
                form.get("code").and_then(|code| idp.codes.remove(code))
            else {
                return invalid_grant();
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            if s256(&verifier) != challenge || form.get("redirect_uri") != Some(&redirect_uri) {
                return invalid_grant();
            }
            user
        }
        Some("refresh_token") => {
            let Some(user) = form
                .get("refresh_token")
                .and_then(|token| idp.refresh.remove(token))
            else {
                return invalid_grant();
            };
            *idp.refreshes.entry(user.clone()).or_default() += 1;
            user
        }
        _ => return invalid_grant(),
    };
    axum::Json(idp.tokens_for(&user)).into_response()
}

async fn require_token(State(idp): State<Shared>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if idp.lock().unwrap().user_of(authorization).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    next.run(request).await
}

/// An MCP server that tells each caller who it thinks they are.
#[derive(Clone)]
struct WhoAmI(Shared);

impl ServerHandler for WhoAmI {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let Value::Object(schema) = json!({"type": "object"}) else {
            unreachable!()
        };
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "whoami",
            "Names the user the call was made for",
            Arc::new(schema),
        )]))
    }

    async fn call_tool(
        &self,
        _: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let authorization = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get("authorization"))
            .and_then(|v| v.to_str().ok());
        let user = self.0.lock().unwrap().user_of(authorization);
        Ok(CallToolResponse::Complete(CallToolResult::success(vec![
            ContentBlock::text(format!("you are {}", user.unwrap_or_default())),
        ])))
    }
}

/// The authorization server's routes: `/authorize` and `/token`.
fn authorization_routes(idp: Shared) -> axum::Router {
    axum::Router::new()
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .with_state(idp)
}

/// The authorization server and the MCP server on one loopback port; their base URL.
async fn start_upstream(idp: Shared) -> String {
    let mcp = StreamableHttpService::new(
        {
            let idp = idp.clone();
            move || Ok(WhoAmI(idp.clone()))
        },
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            idp.clone(),
            require_token,
        ))
        .merge(authorization_routes(idp));
    let address = agenthub_test_support::serve_on_loopback(app).await;
    format!("http://{address}")
}

struct Hub {
    base: String,
    admin: String,
    http: reqwest::Client,
    lab: InProcessHub,
}

/// A hub with the one MCP server `server` (a YAML list item), which alice and bob may use.
async fn start_hub(server: &str) -> Hub {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let yaml = format!(
        r#"
auth:
  public_url: {base}
mcp:
  allow_private_networks: true
mcp_servers:
{server}
authorization:
  starter_policy: false
policies:
  - {{subject: "role:admin", resource: "*", action: "*"}}
  - {{subject: "user:alice", resource: "mcp:*", action: "*"}}
  - {{subject: "user:bob", resource: "mcp:*", action: "*"}}
"#
    );
    let lab = InProcessHub::start(&yaml).await;
    let router = app::router(lab.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Hub {
        base,
        admin: lab.admin.clone(),
        http: reqwest::Client::new(),
        lab,
    }
}

impl Hub {
    /// A user with an `mcp`-scoped key; its secret.
    async fn user_key(&self, name: &str) -> String {
        let created = self
            .http
            .post(format!("{}/api/v1/users", self.base))
            .bearer_auth(&self.admin)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let key: Value = self
            .http
            .post(format!("{}/api/v1/keys", self.base))
            .bearer_auth(&self.admin)
            .json(&json!({"name": "mcp", "owner": name, "scopes": ["mcp"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        key["key"].as_str().unwrap().to_owned()
    }

    async fn client(
        &self,
        key: &str,
        lifecycle: ClientLifecycleMode,
    ) -> RunningService<RoleClient, ()> {
        let bearer = HeaderValue::from_str(&format!("Bearer {key}")).unwrap();
        connect(
            &format!("{}/mcp", self.base),
            HashMap::from([(AUTHORIZATION, bearer)]),
            lifecycle,
        )
        .await
    }

    /// The state of the hub's one server.
    fn server_state(&self) -> ServerState {
        self.lab.state.mcp.registry().status()[0].state
    }

    async fn wait_for(&self, state: ServerState) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.server_state() != state {
            assert!(
                Instant::now() < deadline,
                "{:?}",
                self.lab.state.mcp.registry().status()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn api(&self, method: reqwest::Method, path: &str, key: &str) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// A browser whose session at the authorization server is `user`'s; it follows redirects.
fn browser(user: &str) -> reqwest::Client {
    // The user's session at the authorization server, or at the Slack fake.
    let headers =
        reqwest::header::HeaderMap::from_iter(["x-idp-user", "x-slack-user"].map(|name| {
            (
                reqwest::header::HeaderName::from_static(name),
                HeaderValue::from_str(user).unwrap(),
            )
        }));
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// Follows a consent link to the end — its confirmation page, then continuing — : the final
/// URL (the hub's callback) and the page.
async fn consent(user: &str, link: &str) -> (reqwest::StatusCode, String, String) {
    consent_to("crm", user, link).await
}

/// [`consent`] to `server`.
/// `user` (whose key is `key`) asks the API for a link to grant access to `server` and
/// consents through it: the status and page the consent ends on.
async fn grant_through_the_api(
    hub: &Hub,
    server: &str,
    user: &str,
    key: &str,
) -> (reqwest::StatusCode, String) {
    let (status, link) = hub
        .api(
            reqwest::Method::POST,
            &format!("/me/mcp-grants/{server}"),
            key,
        )
        .await;
    assert_eq!(status, 201, "{link}");
    let (status, _, page) =
        consent_to(server, user, link["authorization_url"].as_str().unwrap()).await;
    (status, page)
}

async fn consent_to(server: &str, user: &str, link: &str) -> (reqwest::StatusCode, String, String) {
    let browser = browser(user);
    let shown = browser.get(link).send().await.unwrap();
    let status = shown.status();
    let url = shown.url().to_string();
    let page = shown.text().await.unwrap();
    if status != reqwest::StatusCode::OK {
        return (status, url, page);
    }
    // Opening the link uses nothing up: it asks first, naming the server and the hub user.
    assert!(
        page.contains(&format!("Grant access to {server}")) && page.contains("method=\"post\""),
        "{page}"
    );
    let again = browser.get(link).send().await.unwrap();
    assert_eq!(
        again.status(),
        reqwest::StatusCode::OK,
        "a preview used the link up"
    );
    let (action, ticket) = link.split_once("?ticket=").expect("a ticket in the link");
    let response = browser
        .post(action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("ticket={ticket}"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let url = response.url().to_string();
    (status, url, response.text().await.unwrap())
}

/// `whoami` as `client`: the user the upstream saw, or the error.
async fn whoami(client: &RunningService<RoleClient, ()>) -> Result<String, ErrorData> {
    match client
        .peer()
        .call_tool(call("crm__whoami", json!({})))
        .await
    {
        Ok(result) => Ok(text_of(&result)),
        Err(ServiceError::McpError(error)) => Err(error),
        Err(other) => panic!("the call failed: {other}"),
    }
}

/// The link of a consent error, after checking its shape.
fn consent_link(error: &ErrorData, hub: &Hub) -> String {
    consent_link_to("crm", error, hub)
}

/// [`consent_link`] to `server`.
fn consent_link_to(server: &str, error: &ErrorData, hub: &Hub) -> String {
    assert_eq!(error.code, ErrorCode(-32042), "{error:?}");
    assert!(error.message.contains(server), "{}", error.message);
    let data = error.data.as_ref().expect("the error carries the link");
    let link = data["authorization_url"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{}/mcp/oauth/{server}/connect?ticket=", hub.base)),
        "{link}"
    );
    assert!(error.message.contains(&link), "{}", error.message);
    assert_eq!(data["elicitations"][0]["mode"], "url");
    assert_eq!(data["elicitations"][0]["url"], link.as_str());
    link
}

#[tokio::test]
async fn each_user_grants_access_for_themselves() {
    support::init_crypto();
    let idp = Shared::default();
    idp.lock().unwrap().lifetime = 2;
    let upstream = start_upstream(idp.clone()).await;
    let hub = start_hub(&format!(
        r#"
  - name: crm
    url: {upstream}/mcp
    oauth:
      grant: authorization_code
      authorization_url: {upstream}/authorize
      token_url: {upstream}/token
      client_id: agenthub
      scopes: [crm.read]
    timeouts: {{connect: 10s, request: 10s}}
"#
    ))
    .await;
    let alice = hub.user_key("alice").await;
    let bob = hub.user_key("bob").await;

    // Nobody has consented: the server needs it and publishes nothing.
    hub.wait_for(ServerState::NeedsConsent).await;
    let (status, servers) = hub
        .api(reqwest::Method::GET, "/mcp/servers", &hub.admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(servers[0]["state"], "needs_consent", "{servers}");
    let alice_client = hub.client(&alice, eras()[0].1.clone()).await;
    assert!(tool_names(&alice_client).await.is_empty());

    // The admin grants access first, through the API's link: the catalog is read through
    // their connection.
    let (status, link) = hub
        .api(reqwest::Method::POST, "/me/mcp-grants/crm", &hub.admin)
        .await;
    assert_eq!(status, 201, "{link}");
    let (status, _, page) = consent("admin", link["authorization_url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Access granted") && page.contains("admin"),
        "{page}"
    );
    hub.wait_for(ServerState::Ready).await;
    assert_eq!(tool_names(&alice_client).await, ["crm__whoami"]);
    {
        let idp = idp.lock().unwrap();
        let asked = &idp.authorizations[0];
        assert_eq!(asked["client_id"], "agenthub");
        assert_eq!(
            asked["redirect_uri"],
            format!("{}/mcp/oauth/callback", hub.base)
        );
        assert_eq!(asked["scope"], "crm.read");
        assert_eq!(asked["resource"], format!("{upstream}/mcp"));
        assert_eq!(asked["code_challenge"].len(), 43);
        let exchanged = &idp.token_requests[0];
        assert_eq!(exchanged["grant_type"], "authorization_code");
        assert_eq!(exchanged["code_verifier"].len(), 43);
        assert_eq!(exchanged["resource"], format!("{upstream}/mcp"));
    }

    // Alice has not consented: her call answers with a link for her.
    let error = whoami(&alice_client).await.unwrap_err();
    let link = consent_link(&error, &hub);
    let (status, callback, page) = consent("alice", &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("alice"), "{page}");
    assert!(callback.starts_with(&format!("{}/mcp/oauth/callback?code=", hub.base)));
    assert!(
        whoami(&alice_client)
            .await
            .unwrap()
            .contains("you are alice")
    );

    // The link and the state work once.
    let (status, _, page) = consent("alice", &link).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("already used"), "{page}");
    let replay = browser("alice").get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);

    // Declining at the authorization server grants nothing, and the state is spent.
    let bob_client = hub.client(&bob, eras()[1].1.clone()).await;
    let link = consent_link(&whoami(&bob_client).await.unwrap_err(), &hub);
    let (status, callback, page) = consent("refuser", &link).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("access_denied"), "{page}");
    assert_eq!(
        browser("bob").get(&callback).send().await.unwrap().status(),
        400
    );
    bob_client.cancel().await.unwrap();

    // Bob shares nothing of Alice's, in either era.
    for (era, lifecycle) in eras() {
        let bob_client = hub.client(&bob, lifecycle).await;
        let error = whoami(&bob_client).await.unwrap_err();
        consent_link(&error, &hub);
        assert!(!error.message.contains("alice"), "{era}: {}", error.message);
        bob_client.cancel().await.unwrap();
    }

    // Access tokens live 2 s: each expiry is met with a refresh, whose refresh token works
    // once — so the second refresh proves the rotated one was kept.
    for round in 1..=2 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(
            whoami(&alice_client)
                .await
                .unwrap()
                .contains("you are alice"),
            "round {round}"
        );
        assert!(
            idp.lock()
                .unwrap()
                .refreshes
                .get("alice")
                .copied()
                .unwrap_or(0)
                >= round,
            "round {round}"
        );
    }

    // Her grant, as the API shows it; no token in it.
    let (status, grants) = hub
        .api(reqwest::Method::GET, "/me/mcp-grants", &alice)
        .await;
    assert_eq!(status, 200);
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
    assert_eq!(grants[0]["server"], "crm");
    assert_eq!(grants[0]["scopes"], json!(["crm.read"]));
    let (status, by_admin) = hub
        .api(reqwest::Method::GET, "/users/alice/mcp-grants", &hub.admin)
        .await;
    assert_eq!((status, by_admin[0]["server"].clone()), (200, json!("crm")));
    let (status, _) = hub
        .api(reqwest::Method::GET, "/users/alice/mcp-grants", &bob)
        .await;
    assert_eq!(status, 403, "bob may not see alice's grants");

    // No token the authorization server issued is in the database as it was issued.
    let pool = sqlx::AnyPool::connect(&hub.lab.db.url.url).await.unwrap();
    let rows = sqlx::query("SELECT * FROM mcp_grants")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "admin's and alice's");
    let issued = idp.lock().unwrap().issued.clone();
    for row in &rows {
        use sqlx::Row;
        for column in [
            "scope",
            "key_id",
            "nonce",
            "ciphertext",
            "server",
            "principal_id",
        ] {
            let text: String = row.try_get(column).unwrap();
            for token in &issued {
                assert!(!text.contains(token.as_str()), "{column} holds {token}");
            }
        }
    }
    pool.close().await;

    // Registered through the admin API: no catalog read (no one has granted access yet).
    let registered = hub
        .http
        .post(format!("{}/api/v1/mcp/servers", hub.base))
        .bearer_auth(&hub.admin)
        .json(&json!({"name": "notes", "url": format!("{upstream}/mcp"), "prefix": "notes",
            "oauth": {"grant": "authorization_code", "authorization_url": format!("{upstream}/authorize"),
                      "token_url": format!("{upstream}/token"), "client_id": "agenthub"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let registered: Value = registered.json().await.unwrap();
    assert_eq!(registered.get("catalog"), None, "{registered}");

    // Revoked: her next call asks for consent again.
    let (status, _) = hub
        .api(reqwest::Method::DELETE, "/me/mcp-grants/crm", &alice)
        .await;
    assert_eq!(status, 204);
    let error = whoami(&alice_client).await.unwrap_err();
    consent_link(&error, &hub);
    let (status, _) = hub
        .api(reqwest::Method::DELETE, "/me/mcp-grants/crm", &alice)
        .await;
    assert_eq!(status, 404);
    // The admin's grant still reads the catalog.
    assert_eq!(hub.server_state(), ServerState::Ready);
    alice_client.cancel().await.unwrap();
}

/// `search_issues` as `client`: the short id of the first issue found, or the error.
async fn search(client: &RunningService<RoleClient, ()>) -> Result<String, ErrorData> {
    match client
        .peer()
        .call_tool(call("sentry__search_issues", json!({"query": "division"})))
        .await
    {
        Ok(result) => {
            let found = result
                .structured_content
                .as_ref()
                .unwrap_or_else(|| panic!("{}", text_of(&result)));
            Ok(found["issues"][0]["short_id"].as_str().unwrap().to_owned())
        }
        Err(ServiceError::McpError(error)) => Err(error),
        Err(other) => panic!("the call failed: {other}"),
    }
}

#[tokio::test]
async fn a_builtin_server_calls_its_service_with_each_users_own_token() {
    support::init_crypto();
    let idp = Shared::default();
    idp.lock().unwrap().lifetime = 3600;
    let authorization = format!(
        "http://{}",
        agenthub_test_support::serve_on_loopback(authorization_routes(idp.clone())).await
    );
    // Sentry takes the live access tokens the authorization server issued.
    let fake = FakeSentry::new();
    {
        let idp = idp.clone();
        fake.verify_tokens_with(move |token| {
            let bearer = format!("Bearer {token}");
            idp.lock().unwrap().user_of(Some(&bearer)).map(|_| {
                ["org:read", "project:read", "event:read"]
                    .map(str::to_owned)
                    .to_vec()
            })
        });
    }
    let sentry = agenthub_test_support::serve_on_loopback(fake.router()).await;
    // No SENTRY_AUTH_TOKEN: each call carries its user's token.
    let hub = start_hub(&format!(
        r#"
  - name: sentry
    builtin: sentry
    env:
      SENTRY_BASE_URL: http://{sentry}
      SENTRY_ORG: acme
    oauth:
      grant: authorization_code
      authorization_url: {authorization}/authorize
      token_url: {authorization}/token
      client_id: agenthub
      scopes: ["org:read", "project:read", "event:read"]
"#
    ))
    .await;
    let alice = hub.user_key("alice").await;
    let bob = hub.user_key("bob").await;
    hub.wait_for(ServerState::NeedsConsent).await;

    // Alice grants access through the API's link; the catalog is read through her session.
    let (status, page) = grant_through_the_api(&hub, "sentry", "alice", &alice).await;
    assert_eq!(status, 200, "{page}");
    hub.wait_for(ServerState::Ready).await;
    {
        // A built-in server has no URL: no resource indicator, none configured.
        let idp = idp.lock().unwrap();
        assert_eq!(
            idp.authorizations[0]["scope"],
            "org:read project:read event:read"
        );
        assert!(!idp.authorizations[0].contains_key("resource"));
        assert_eq!(idp.token_requests[0]["grant_type"], "authorization_code");
        assert!(!idp.token_requests[0].contains_key("resource"));
    }
    let alice_client = hub.client(&alice, eras()[0].1.clone()).await;
    assert!(
        tool_names(&alice_client)
            .await
            .contains(&"sentry__search_issues".to_owned())
    );
    assert_eq!(search(&alice_client).await.unwrap(), "CHECKOUT-1");
    let seen = fake.tokens_seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|t| t.starts_with("at-alice-")),
        "{seen:?}"
    );

    // Bob has not granted access: asked for consent, and nothing reaches Sentry.
    let bob_client = hub.client(&bob, eras()[1].1.clone()).await;
    let before = fake.tokens_seen().len();
    let error = search(&bob_client).await.unwrap_err();
    let link = consent_link_to("sentry", &error, &hub);
    assert!(!error.message.contains("alice"), "{}", error.message);
    assert_eq!(fake.tokens_seen().len(), before);
    let (status, _, page) = consent_to("sentry", "bob", &link).await;
    assert_eq!(status, 200, "{page}");

    // Each session carries its own user's token, never the other's.
    assert_eq!(search(&bob_client).await.unwrap(), "CHECKOUT-1");
    assert_eq!(search(&alice_client).await.unwrap(), "CHECKOUT-1");
    let seen = fake.tokens_seen()[before..].to_vec();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("at-bob-"), "{seen:?}");
    assert!(seen[1].starts_with("at-alice-"), "{seen:?}");

    // Sentry refuses Alice's token before it expires (revoked at the authorization server):
    // it is refreshed and the call made again, once.
    let refused = seen[1].clone();
    idp.lock().unwrap().access.remove(&refused);
    let before = fake.tokens_seen().len();
    assert_eq!(search(&alice_client).await.unwrap(), "CHECKOUT-1");
    let seen = fake.tokens_seen()[before..].to_vec();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], refused);
    assert!(
        seen[1].starts_with("at-alice-") && seen[1] != refused,
        "{seen:?}"
    );
    {
        let idp = idp.lock().unwrap();
        assert_eq!(idp.refreshes.get("alice"), Some(&1));
        assert_eq!(idp.refreshes.get("bob"), None);
        let refresh = idp.token_requests.last().unwrap();
        assert_eq!(refresh["grant_type"], "refresh_token");
        assert!(!refresh.contains_key("resource"));
    }

    // Bob's grant is revoked whole (access and refresh tokens): the refresh is refused, and
    // his call asks for his consent again rather than failing as a tool.
    {
        let mut idp = idp.lock().unwrap();
        idp.access.retain(|_, (user, _)| user != "bob");
        idp.refresh.retain(|_, user| user != "bob");
    }
    let error = search(&bob_client).await.unwrap_err();
    consent_link_to("sentry", &error, &hub);
    let error = search(&bob_client).await.unwrap_err();
    consent_link_to("sentry", &error, &hub);
    // Alice is not affected.
    assert_eq!(search(&alice_client).await.unwrap(), "CHECKOUT-1");
    assert!(
        fake.tokens_seen()
            .last()
            .is_some_and(|t| t.starts_with("at-alice-"))
    );
    alice_client.cancel().await.unwrap();
    bob_client.cancel().await.unwrap();
}

/// `search_messages` for "urgent" as `client`: how many messages Slack found, or the error.
async fn slack_search(client: &RunningService<RoleClient, ()>) -> Result<u64, ErrorData> {
    match client
        .peer()
        .call_tool(call("slack__search_messages", json!({"query": "urgent"})))
        .await
    {
        Ok(result) => {
            let found = result
                .structured_content
                .as_ref()
                .unwrap_or_else(|| panic!("{}", text_of(&result)));
            Ok(found["total"].as_u64().unwrap())
        }
        Err(ServiceError::McpError(error)) => Err(error),
        Err(other) => panic!("the call failed: {other}"),
    }
}

/// The Slack fake with its OAuth v2 on for the app `1234.5678` with `secret`, served on
/// loopback; and its base URL.
async fn slack_app(secret: &str, rotation: Option<Duration>) -> (FakeSlack, String) {
    let slack = FakeSlack::new();
    slack.enable_oauth(SlackApp {
        client_id: "1234.5678".to_owned(),
        client_secret: secret.to_owned(),
        rotation,
    });
    let base = format!(
        "http://{}",
        agenthub_test_support::serve_on_loopback(slack.router()).await
    );
    (slack, base)
}

#[tokio::test]
async fn a_builtin_slack_takes_each_users_token_through_slacks_own_oauth() {
    support::init_crypto();
    let (slack, base) = slack_app("app-secret", Some(Duration::from_secs(43200))).await;
    // No SLACK_*_TOKEN: each call carries its user's own user token.
    let hub = start_hub(&format!(
        r#"
  - name: slack
    builtin: slack
    env:
      SLACK_BASE_URL: {base}/api
    oauth:
      grant: authorization_code
      dialect: slack
      authorization_url: {base}/oauth/v2/authorize
      token_url: {base}/api/oauth.v2.access
      client_id: "1234.5678"
      client_secret: app-secret
      scopes: ["search:read", "channels:read", "channels:history"]
"#
    ))
    .await;
    let alice = hub.user_key("alice").await;
    let bob = hub.user_key("bob").await;
    hub.wait_for(ServerState::NeedsConsent).await;

    // Alice grants access: Slack is asked for user scopes, comma-separated, and nothing else.
    let (status, page) = grant_through_the_api(&hub, "slack", "alice", &alice).await;
    assert_eq!(status, 200, "{page}");
    hub.wait_for(ServerState::Ready).await;
    {
        let requests = slack.oauth_requests();
        let authorize = &requests[0];
        assert_eq!(
            authorize["user_scope"],
            "search:read,channels:read,channels:history"
        );
        assert!(!authorize.contains_key("scope"), "{authorize:?}");
        assert!(!authorize.contains_key("resource"), "{authorize:?}");
        let exchange = &requests[1];
        assert_eq!(exchange["grant_type"], "authorization_code");
        assert_eq!(
            exchange["basic"], "true",
            "the client authenticates with Basic"
        );
        assert!(!exchange.contains_key("client_secret"), "{exchange:?}");
    }

    // Search needs a user token: Alice's own, from authed_user, reaches Slack.
    let alice_client = hub.client(&alice, eras()[0].1.clone()).await;
    assert_eq!(slack_search(&alice_client).await.unwrap(), 2);
    let seen = slack.tokens_seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|t| t.starts_with("xoxe.xoxp-alice-")),
        "{seen:?}"
    );

    // Bob has not granted access: asked for consent, and nothing reaches Slack.
    let bob_client = hub.client(&bob, eras()[1].1.clone()).await;
    let before = slack.tokens_seen().len();
    let error = slack_search(&bob_client).await.unwrap_err();
    let link = consent_link_to("slack", &error, &hub);
    assert_eq!(slack.tokens_seen().len(), before);

    // Slack refuses the code exchange (ok: false): the page names Slack's error, and no
    // grant is stored.
    slack.refuse_token_requests(&["invalid_code"]);
    let (status, _, page) = consent_to("slack", "bob", &link).await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("invalid_code"), "{page}");
    let error = slack_search(&bob_client).await.unwrap_err();
    let link = consent_link_to("slack", &error, &hub);
    let (status, _, page) = consent_to("slack", "bob", &link).await;
    assert_eq!(status, 200, "{page}");

    // Each session carries its own user's token, never the other's.
    let before = slack.tokens_seen().len();
    assert_eq!(slack_search(&bob_client).await.unwrap(), 2);
    assert_eq!(slack_search(&alice_client).await.unwrap(), 2);
    let seen = slack.tokens_seen()[before..].to_vec();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("xoxe.xoxp-bob-"), "{seen:?}");
    assert!(seen[1].starts_with("xoxe.xoxp-alice-"), "{seen:?}");

    // Alice's token expires at Slack (token_expired): it is refreshed with her rotating
    // refresh token and the call made again; twice, so the rotated one was kept.
    for round in 0..2 {
        let expired = slack.tokens_seen().last().unwrap().clone();
        slack.expire_token(&expired);
        let before = slack.tokens_seen().len();
        assert_eq!(
            slack_search(&alice_client).await.unwrap(),
            2,
            "round {round}"
        );
        let seen = slack.tokens_seen()[before..].to_vec();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], expired);
        assert!(
            seen[1].starts_with("xoxe.xoxp-alice-") && seen[1] != expired,
            "{seen:?}"
        );
        let requests = slack.oauth_requests();
        let refresh = requests.last().unwrap();
        assert_eq!(refresh["grant_type"], "refresh_token");
        assert!(
            refresh["refresh_token"].starts_with("xoxe-1-alice-"),
            "{refresh:?}"
        );
    }

    // Bob's refresh token is revoked and his token expires: Slack answers ok: false
    // invalid_refresh_token, and his call asks for his consent again.
    slack.revoke_refresh_tokens_of("bob");
    let bobs = slack
        .tokens_seen()
        .into_iter()
        .rfind(|t| t.starts_with("xoxe.xoxp-bob-"))
        .unwrap();
    slack.expire_token(&bobs);
    let error = slack_search(&bob_client).await.unwrap_err();
    consent_link_to("slack", &error, &hub);
    // Alice is not affected.
    assert_eq!(slack_search(&alice_client).await.unwrap(), 2);
    let (_, grants) = hub
        .api(reqwest::Method::GET, "/me/mcp-grants", &alice)
        .await;
    assert_eq!(
        grants[0]["scopes"],
        json!(["search:read", "channels:read", "channels:history"])
    );

    // The server is re-pointed (another Slack app): Alice's grant, made for the first, is
    // never sent; it is forgotten, and the server needs consent again.
    let registry = hub.lab.state.mcp.registry();
    let mut moved = registry
        .servers()
        .into_iter()
        .find(|s| s.name == "slack")
        .unwrap();
    moved.oauth.as_mut().unwrap().client_id = "9999.0000".to_owned();
    let before = slack.tokens_seen().len();
    registry.add(moved);
    hub.wait_for(ServerState::NeedsConsent).await;
    assert_eq!(slack.tokens_seen().len(), before);
    let (_, grants) = hub
        .api(reqwest::Method::GET, "/me/mcp-grants", &alice)
        .await;
    assert_eq!(grants, json!([]));
    alice_client.cancel().await.unwrap();
    bob_client.cancel().await.unwrap();
}

/// Slack's app settings are wrong (ok: false bad_client_secret at the code exchange): the page
/// says so and names the setting to check.
#[tokio::test]
async fn slacks_refusal_of_the_hubs_client_is_named() {
    support::init_crypto();
    let (slack, base) = slack_app("the-real-secret", None).await;
    let hub = start_hub(&format!(
        r#"
  - name: slack
    builtin: slack
    env:
      SLACK_BASE_URL: {base}/api
    oauth:
      grant: authorization_code
      dialect: slack
      authorization_url: {base}/oauth/v2/authorize
      token_url: {base}/api/oauth.v2.access
      client_id: "1234.5678"
      client_secret: a-stale-secret
      auth_method: client_secret_post
      scopes: ["search:read"]
"#
    ))
    .await;
    let alice = hub.user_key("alice").await;
    let (status, page) = grant_through_the_api(&hub, "slack", "alice", &alice).await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("bad_client_secret"), "{page}");
    assert!(page.contains("oauth.client_secret"), "{page}");
    assert!(!page.contains("a-stale-secret"), "{page}");
    let exchange = slack.oauth_requests().last().unwrap().clone();
    assert_eq!(exchange["client_id"], "1234.5678");
    assert!(!exchange.contains_key("basic"), "{exchange:?}");
}
