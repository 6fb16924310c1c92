//! Authentication against a real OpenID provider: panva's `oidc-provider` (a certified
//! implementation), run by `tests/oidc/provider.mjs` on 127.0.0.1.
//!
//! - JWT bearer tokens from the provider's client-credentials grant: accepted and mapped; every
//!   forged, tampered, misdirected or expired variant refused with the one 401 body; cached keys
//!   outliving the provider; key rotation picked up through an unknown `kid`.
//! - OIDC login (authorization code + PKCE) driven over HTTP like a browser: session cookie,
//!   claim-mapped teams re-applied at every login (hand-made memberships untouched), logout,
//!   forged and replayed states, sessions surviving a restart — on SQLite and Postgres.
//! - `agenthub login`/`logout` with the loopback redirect, through the real binary.
//!
//! Needs Node and `npm ci` in `tests/oidc` (CI does it). Without `node_modules` the tests print
//! a notice and pass, except under CI (`CI` set), where they fail.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agenthub::app::{self, AppState};
use agenthub::config::{
    AuthConfig, ClaimRule, ConfigHandle, HubConfig, JwtIssuerConfig, OidcProviderConfig,
};
use agenthub::directory::Accounts;
use agenthub::governance::Governance;
use agenthub::secrets::{KeyOrigin, Keyring, MasterKey};
use agenthub::store::{DatabaseUrl, Store, StoreOptions};
use agenthub_policy::{GlobalRole, TeamRole};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use support::db::TestDb;
use tokio_util::sync::CancellationToken;

const UNAUTHENTICATED: &str = r#"{"error":{"message":"missing or invalid credentials","type":"unauthenticated","retryable":false}}"#;

// ---------------------------------------------------------------------------------------------
// The provider

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/oidc")
}

/// Whether the Node harness is installed; under CI its absence is a failure.
fn harness_available() -> bool {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if harness_dir().join("node_modules/oidc-provider").is_dir() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tests/oidc/node_modules is missing: CI must run `npm ci` in tests/oidc"
    );
    eprintln!(
        "notice: tests/oidc/node_modules is missing; skipping the OpenID provider tests (run `npm ci` in tests/oidc)"
    );
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The provider process (and its unrelated twin on `other_port`). Killed when dropped.
struct Provider {
    child: Option<Child>,
    port: u16,
    other_port: u16,
    redirect_uris: Vec<String>,
}

impl Provider {
    fn start(redirect_uris: &[String]) -> Self {
        let mut provider = Self {
            child: None,
            port: free_port(),
            other_port: free_port(),
            redirect_uris: redirect_uris.to_vec(),
        };
        provider.launch();
        provider
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn other_issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.other_port)
    }

    /// Starts the process on this provider's ports; its signing keys are new each time.
    fn launch(&mut self) {
        let mut cmd = Command::new("node");
        cmd.current_dir(harness_dir())
            .arg("provider.mjs")
            .args(["--port", &self.port.to_string()])
            .args(["--other-port", &self.other_port.to_string()]);
        for uri in &self.redirect_uris {
            cmd.args(["--redirect-uri", uri]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node is installed");
        let stderr = support::Capture::spawn(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("\"ready\":true") {
                    let _ = tx.send(());
                }
            }
        });
        // Generous: on a loaded two-core machine (other tests start Node and Python processes
        // too) the provider has been seen to take more than 30 s to start.
        if let Err(e) = rx.recv_timeout(Duration::from_secs(90)) {
            // Which way it failed says where to look: an exit (its stderr says why) or a hang.
            let state = match child.try_wait() {
                Ok(Some(status)) => format!("it exited ({status})"),
                _ if e == std::sync::mpsc::RecvTimeoutError::Timeout => {
                    "still running, no ready line after 90 s".to_owned()
                }
                _ => "its standard output closed".to_owned(),
            };
            let _ = child.kill();
            panic!(
                "the OpenID provider did not start: {state}\n{}",
                stderr.text()
            );
        }
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// A cookie-keeping HTTP client that does not follow redirects

#[derive(Debug)]
struct Resp {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

#[derive(Clone)]
struct Browser {
    http: reqwest::Client,
    /// authority → cookie name → value.
    jar: Arc<Mutex<HashMap<String, BTreeMap<String, String>>>>,
}

impl Browser {
    fn new() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            jar: Default::default(),
        }
    }

    fn authority(url: &reqwest::Url) -> String {
        format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        )
    }

    fn cookie_value(&self, url: &str, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(url).unwrap();
        self.jar
            .lock()
            .unwrap()
            .get(&Self::authority(&url))
            .and_then(|c| c.get(name).cloned())
    }

    fn forget(&self, url: &str, name: &str) {
        let url = reqwest::Url::parse(url).unwrap();
        if let Some(c) = self.jar.lock().unwrap().get_mut(&Self::authority(&url)) {
            c.remove(name);
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Resp {
        let url = reqwest::Url::parse(url).unwrap();
        let authority = Self::authority(&url);
        let cookies = self
            .jar
            .lock()
            .unwrap()
            .get(&authority)
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let request = if cookies.is_empty() {
            request
        } else {
            request.header("cookie", cookies)
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| url.join(l).unwrap().to_string());
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        {
            let mut jar = self.jar.lock().unwrap();
            let entry = jar.entry(authority).or_default();
            for cookie in &set_cookies {
                let pair = cookie.split(';').next().unwrap_or("");
                if let Some((name, value)) = pair.split_once('=') {
                    let expired = cookie.to_ascii_lowercase().contains("max-age=0")
                        || cookie
                            .to_ascii_lowercase()
                            .contains("expires=thu, 01 jan 1970");
                    if expired || value.is_empty() {
                        entry.remove(name.trim());
                    } else {
                        entry.insert(name.trim().to_owned(), value.to_owned());
                    }
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        Resp {
            status,
            location,
            set_cookies,
            body,
        }
    }

    async fn get(&self, url: &str) -> Resp {
        self.send(self.http.get(url), url).await
    }

    async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Resp {
        let body = form_body(form);
        self.send(
            self.http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
            url,
        )
        .await
    }

    /// Logs in at the hub's `login_url` as `account`, following redirects through the
    /// provider's login interaction; returns the hub callback's answer.
    async fn login(&self, login_url: &str, account: &str, hub: &str) -> Resp {
        let mut response = self.get(login_url).await;
        for _ in 0..20 {
            let Some(next) = response.location.clone() else {
                return response;
            };
            if next.starts_with(&format!("{hub}/auth/oidc/")) {
                // The provider hands the browser back to the hub: the callback.
                return self.get(&next).await;
            }
            if !next.starts_with("http://127.0.0.1") {
                return response;
            }
            response = self.get(&next).await;
            if response.status == 200 && next.contains("/interaction/") {
                let details = response.json();
                assert_eq!(details["prompt"], "login", "{details}");
                response = self
                    .post_form(&format!("{next}/login"), &[("login", account)])
                    .await;
            }
        }
        panic!("the login did not come back to the hub: {response:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

fn form_body(form: &[(&str, &str)]) -> String {
    openidconnect::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

async fn client_credentials(issuer: &str, client: &str, resource: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(client, Some(format!("{client}-secret")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("grant_type", "client_credentials"),
            ("resource", resource),
            ("scope", "api"),
        ]))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "token endpoint: {status} {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn part(token: &str, i: usize) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

fn encode(value: &Value) -> String {
    B64.encode(serde_json::to_vec(value).unwrap())
}

/// An ES256 token signed with a key the provider never had.
fn foreign_es256(header: Value, claims: Value) -> String {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let input = format!("{}.{}", encode(&header), encode(&claims));
    let signature = pair.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(signature.as_ref()))
}

fn hs256(header: Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", encode(&header), encode(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", B64.encode(tag.as_ref()))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------------
// The hub, in process on a real socket

struct TestHub {
    url: String,
    accounts: Arc<Accounts>,
    admin: String,
    shutdown: CancellationToken,
}

impl TestHub {
    async fn start(db: &DatabaseUrl, listener: tokio::net::TcpListener, config: HubConfig) -> Self {
        config.validate().expect("a valid test configuration");
        let store = Store::open(db, &StoreOptions::default()).await.unwrap();
        let keyring = Keyring::new(MasterKey::generate(), None, KeyOrigin::Env);
        let accounts = Arc::new(
            Accounts::load(store.clone(), Arc::new(keyring))
                .await
                .unwrap(),
        );
        let admin = accounts.bootstrap(None).await.unwrap().unwrap_or_default();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let handle = ConfigHandle::new(config);
        let governance = Arc::new(
            Governance::load(store, handle.clone(), "test")
                .await
                .unwrap(),
        );
        let state = AppState::new(accounts.clone(), governance, handle.clone());
        tokio::spawn(state.auth.clone().run_background(handle, shutdown.clone()));
        let router = app::router(state);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .unwrap();
        });
        Self {
            url,
            accounts,
            admin,
            shutdown,
        }
    }

    async fn me(&self, browser: &Browser, bearer: Option<&str>) -> Resp {
        let url = format!("{}/api/v1/me", self.url);
        let mut request = browser.http.get(&url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        browser.send(request, &url).await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.accounts.store().close().await;
    }
}

fn rule(claim: &str, value: &str, team: Option<(&str, TeamRole)>, admin: bool) -> ClaimRule {
    ClaimRule {
        claim: claim.into(),
        value: value.into(),
        team: team.map(|(t, _)| t.into()),
        role: team.map(|(_, r)| r),
        hub_role: admin.then_some(GlobalRole::Admin),
    }
}

fn teams_of(me: &Value) -> Vec<(String, String)> {
    let mut teams: Vec<(String, String)> = me["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["team"].as_str().unwrap().to_owned(),
                t["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    teams.sort();
    teams
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// JWT bearer tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_tokens_from_a_real_provider() {
    if !harness_available() {
        return;
    }
    let mut provider = Provider::start(&[]);
    let issuer = provider.issuer();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = HubConfig {
        auth: AuthConfig {
            jwt_issuers: vec![JwtIssuerConfig {
                name: "test".into(),
                issuer: issuer.clone(),
                audiences: vec!["urn:agenthub".into()],
                leeway: Duration::ZERO,
                jwks_min_refresh_interval: Duration::from_secs(1),
                subject_claim: "client_id".into(),
                rules: vec![
                    rule(
                        "groups",
                        "ml-engineers",
                        Some(("ml", TeamRole::Member)),
                        false,
                    ),
                    rule(
                        "groups",
                        "agents",
                        Some(("agents", TeamRole::Viewer)),
                        false,
                    ),
                    rule(
                        "groups",
                        "no-such-team",
                        Some(("ghosts", TeamRole::Owner)),
                        false,
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    let db = TestDb::sqlite();
    let hub = TestHub::start(&db.url, listener, config).await;
    hub.accounts.create_team("ml".into(), None).await.unwrap();
    hub.accounts
        .create_team("agents".into(), None)
        .await
        .unwrap();
    let browser = Browser::new();

    // (a) A client-credentials token: accepted, with the mapped identity and teams.
    let token = client_credentials(&issuer, "agent-svc", "urn:agenthub").await;
    let me = hub.me(&browser, Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["subject"], "service:agent-svc");
    assert_eq!(me["kind"], "service");
    assert_eq!(me["role"], "member");
    assert!(me["principal"].is_null() && me["key_id"].is_null());
    assert_eq!(
        teams_of(&me),
        pairs(&[("agents", "viewer"), ("ml", "member")])
    );

    // API keys keep working beside tokens; no credentials is the usual 401.
    assert_eq!(hub.me(&browser, Some(&hub.admin)).await.status, 200);
    let none = hub.me(&browser, None).await;
    assert_eq!((none.status, none.body.as_str()), (401, UNAUTHENTICATED));

    // Every forged, tampered or misdirected token: the same 401 body.
    let header = part(&token, 0);
    let claims = part(&token, 1);
    let kid = header["kid"].as_str().unwrap().to_owned();
    let [h, p, s]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();
    let mut flipped = s.as_bytes().to_vec();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let mut more = claims.clone();
    more["client_id"] = json!("admin-agent");
    let jwks: Value = reqwest::get(format!("{issuer}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut forged: Vec<(&str, String)> = vec![
        (
            "tampered signature",
            format!("{h}.{p}.{}", String::from_utf8(flipped).unwrap()),
        ),
        ("tampered claims", format!("{h}.{}.{s}", encode(&more))),
        (
            "wrong audience",
            client_credentials(&issuer, "agent-svc", "urn:other").await,
        ),
        (
            "unknown issuer",
            client_credentials(&provider.other_issuer(), "agent-svc", "urn:agenthub").await,
        ),
        (
            "alg none",
            format!("{}.{p}.", encode(&json!({"alg": "none", "typ": "JWT"}))),
        ),
        (
            "alg none, signature kept",
            format!("{}.{p}.{s}", encode(&json!({"alg": "none"}))),
        ),
        (
            "unknown key",
            foreign_es256(
                json!({"alg": "ES256", "kid": "not-a-provider-key"}),
                claims.clone(),
            ),
        ),
        (
            "foreign key with the provider's kid",
            foreign_es256(json!({"alg": "ES256", "kid": kid}), claims.clone()),
        ),
        (
            "foreign key without kid",
            foreign_es256(json!({"alg": "ES256"}), claims.clone()),
        ),
    ];
    // HS256 "signed" with the provider's public keys, in the usual shapes of the attack.
    for key in jwks["keys"].as_array().unwrap() {
        let kid = key["kid"].as_str().unwrap();
        for secret in [
            key.to_string().into_bytes(),
            jwks.to_string().into_bytes(),
            B64.decode(key["n"].as_str().or(key["x"].as_str()).unwrap())
                .unwrap(),
        ] {
            forged.push((
                "HS256 with the public key",
                hs256(json!({"alg": "HS256", "kid": kid}), &claims, &secret),
            ));
        }
    }
    for (what, bad) in &forged {
        let reply = hub.me(&browser, Some(bad)).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (401, UNAUTHENTICATED),
            "{what}"
        );
    }

    // Expired: a one-second token, leeway 0.
    let short = client_credentials(&issuer, "agent-short", "urn:agenthub").await;
    let exp = part(&short, 1)["exp"].as_u64().unwrap();
    while now_secs() <= exp {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let expired = hub.me(&browser, Some(&short)).await;
    assert_eq!(
        (expired.status, expired.body.as_str()),
        (401, UNAUTHENTICATED)
    );

    // Provider down: the cached keys still verify; the failed refetch is counted.
    provider.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let unknown = foreign_es256(json!({"alg": "ES256", "kid": "rotated?"}), claims.clone());
    assert_eq!(hub.me(&browser, Some(&unknown)).await.status, 401);
    assert_eq!(
        hub.me(&browser, Some(&token)).await.status,
        200,
        "cached keys keep working"
    );
    let metrics = browser.get(&format!("{}/metrics", hub.url)).await.body;
    assert!(
        metrics.lines().any(|l| l
            .starts_with("agenthub_auth_jwks_fetch_failures_total{issuer=\"test\"}")
            && !l.ends_with(" 0")),
        "{metrics}"
    );

    // Rotation: the provider comes back with new keys; a token signed by one of them names an
    // unknown kid, which makes the hub fetch the JWKS again.
    provider.launch();
    let rotated = client_credentials(&issuer, "agent-svc", "urn:agenthub").await;
    assert_ne!(part(&rotated, 0)["kid"], json!(kid), "new keys");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let me = hub.me(&browser, Some(&rotated)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["subject"], "service:agent-svc");

    hub.stop().await;
    db.drop_database().await;
}

// ---------------------------------------------------------------------------------------------
// OIDC login

async fn oidc_scenario(db: &TestDb) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub_url = format!("http://{}", listener.local_addr().unwrap());
    let provider = Provider::start(&[format!("{hub_url}/auth/oidc/test/callback")]);
    let config = HubConfig {
        auth: AuthConfig {
            public_url: Some(hub_url.clone()),
            oidc_providers: vec![OidcProviderConfig {
                name: "test".into(),
                display_name: Some("Test IdP".into()),
                issuer: provider.issuer(),
                client_id: "hub-web".into(),
                client_secret: Some("secret:oidc-test".into()),
                scopes: ["openid", "email", "profile", "groups"]
                    .map(String::from)
                    .to_vec(),
                rules: vec![
                    rule(
                        "groups",
                        "ml-engineers",
                        Some(("ml", TeamRole::Member)),
                        false,
                    ),
                    rule("groups", "ml-leads", Some(("ml", TeamRole::Owner)), false),
                    rule("groups", "hub-admins", None, true),
                ],
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    let hub = TestHub::start(&db.url, listener, config).await;
    let accounts = hub.accounts.clone();
    accounts
        .put_secret("oidc-test", None, "hub-web-secret", false)
        .await
        .unwrap();
    let ml = accounts.create_team("ml".into(), None).await.unwrap();
    let handmade = accounts.create_team("handmade".into(), None).await.unwrap();
    let browser = Browser::new();
    let login_url = format!("{hub_url}/auth/oidc/test/login?redirect_to=/console");

    let providers = browser
        .get(&format!("{hub_url}/auth/providers"))
        .await
        .json();
    assert_eq!(providers["providers"][0]["name"], "test");

    // The login cookie that binds the state to this browser.
    let started = browser.get(&login_url).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let login_cookie = started
        .cookie("__Host-agenthub_login")
        .expect("login cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(login_cookie.contains(attribute), "{login_cookie}");
    }
    assert!(
        started
            .location
            .as_deref()
            .unwrap()
            .starts_with(&provider.issuer())
    );

    // A full login as alice (groups: ml-engineers).
    let done = browser.login(&login_url, "alice", &hub_url).await;
    assert_eq!(done.status, 303, "{done:?}");
    assert_eq!(
        done.location.as_deref(),
        Some(format!("{hub_url}/console").as_str())
    );
    let session = done
        .cookie("__Host-agenthub_session")
        .unwrap_or_else(|| panic!("no session cookie: {done:?}"))
        .to_owned();
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    let me = hub.me(&browser, None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["subject"], "user:alice");
    assert_eq!(me["principal"]["email"], "alice@example.com");
    assert_eq!(me["principal"]["display_name"], "Test user alice");
    assert_eq!(teams_of(&me), pairs(&[("ml", "member")]));
    let alice = me["principal"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        accounts.store().managed_memberships(&alice).await.unwrap(),
        [(ml.id.clone(), provider.issuer())]
    );

    // A membership made by hand, which logins must leave alone.
    accounts
        .set_membership(&handmade.id, &alice, TeamRole::Admin)
        .await
        .unwrap();

    // Cookie-authenticated writes from another site are refused.
    let cross = browser
        .send(
            browser
                .http
                .post(format!("{hub_url}/api/v1/teams"))
                .header("origin", "https://evil.example")
                .json(&json!({"name": "x"})),
            &hub_url,
        )
        .await;
    assert_eq!(cross.status, 403, "{}", cross.body);

    // Forged and replayed states: 400, never 500.
    let fresh = browser.get(&login_url).await;
    assert_eq!(fresh.status, 303);
    let forged = browser
        .get(&format!(
            "{hub_url}/auth/oidc/test/callback?code=x&state=forged"
        ))
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let state = browser
        .cookie_value(&hub_url, "__Host-agenthub_login")
        .unwrap();
    browser.forget(&hub_url, "__Host-agenthub_login");
    let cookieless = browser
        .get(&format!(
            "{hub_url}/auth/oidc/test/callback?code=x&state={state}"
        ))
        .await;
    assert_eq!(cookieless.status, 400, "{}", cookieless.body);
    let replay_target = done_callback_url(&browser, &login_url, &hub_url).await;
    let first = browser.get(&replay_target.0).await;
    assert_eq!(first.status, 303, "{first:?}");
    // The same callback again, with its login cookie restored: the state was used.
    browser
        .jar
        .lock()
        .unwrap()
        .entry(Browser::authority(&reqwest::Url::parse(&hub_url).unwrap()))
        .or_default()
        .insert("__Host-agenthub_login".into(), replay_target.1.clone());
    let replayed = browser.get(&replay_target.0).await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(replayed.json()["error"]["type"] == "invalid_request");
    let error = browser
        .get(&format!(
            "{hub_url}/auth/oidc/test/callback?error=access_denied&state=nothing"
        ))
        .await;
    assert!(matches!(error.status, 400 | 401), "{}", error.body);

    // The provider drops alice from ml-engineers and makes her a hub admin: at the next login
    // the managed membership goes, the hand-made one stays, and she is an admin.
    let set = reqwest::Client::new()
        .put(format!("{}/_harness/accounts/alice", provider.issuer()))
        .json(&json!({"groups": ["hub-admins"]}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let again = browser.login(&login_url, "alice", &hub_url).await;
    assert_eq!(again.status, 303, "{again:?}");
    let me = hub.me(&browser, None).await.json();
    assert_eq!(
        me["subject"], "user:alice",
        "the same user: linked by (issuer, sub)"
    );
    assert_eq!(me["principal"]["id"], alice.as_str());
    assert_eq!(me["role"], "admin");
    assert_eq!(teams_of(&me), pairs(&[("handmade", "admin")]));

    // Back in ml as a lead, no longer an admin.
    reqwest::Client::new()
        .put(format!("{}/_harness/accounts/alice", provider.issuer()))
        .json(&json!({"groups": ["ml-leads", "ml-engineers"]}))
        .send()
        .await
        .unwrap();
    browser.login(&login_url, "alice", &hub_url).await;
    let me = hub.me(&browser, None).await.json();
    assert_eq!(me["role"], "member");
    assert_eq!(
        teams_of(&me),
        pairs(&[("handmade", "admin"), ("ml", "owner")])
    );

    // Sessions are stored (hashed) and survive a restart of the hub.
    let token = browser
        .cookie_value(&hub_url, "__Host-agenthub_session")
        .unwrap();
    let reloaded = Accounts::load(
        accounts.store().clone(),
        Arc::new(Keyring::new(MasterKey::generate(), None, KeyOrigin::Env)),
    )
    .await
    .unwrap();
    let identity = reloaded
        .snapshot()
        .authenticate_session(&token, agenthub::model::now_millis())
        .expect("the session survives a restart");
    assert_eq!(identity.subject(), "user:alice");

    // Logout ends the session and clears the cookie; the old cookie no longer works.
    let logout = browser
        .send(
            browser.http.post(format!("{hub_url}/auth/logout")),
            &hub_url,
        )
        .await;
    assert_eq!(logout.status, 204);
    assert!(
        logout
            .cookie("__Host-agenthub_session")
            .is_some_and(|c| c.contains("Max-Age=0")),
        "{logout:?}"
    );
    let stale = browser
        .send(
            browser
                .http
                .get(format!("{hub_url}/api/v1/me"))
                .header("cookie", format!("__Host-agenthub_session={token}")),
            &hub_url,
        )
        .await;
    assert_eq!((stale.status, stale.body.as_str()), (401, UNAUTHENTICATED));
    let stored = reloaded.store().load_directory().await.unwrap().sessions;
    assert!(
        !stored.is_empty()
            && stored
                .iter()
                .all(|s| s.hash != agenthub::keys::hash(&token)),
        "logout deletes the stored session, and only that one"
    );

    drop(provider);
    hub.stop().await;
}

/// Drives a login up to the hub callback without calling it: the callback URL and the login
/// cookie it needs.
async fn done_callback_url(browser: &Browser, login_url: &str, hub: &str) -> (String, String) {
    let mut response = browser.get(login_url).await;
    let cookie = browser.cookie_value(hub, "__Host-agenthub_login").unwrap();
    for _ in 0..20 {
        let next = response.location.clone().expect("a redirect");
        if next.starts_with(&format!("{hub}/auth/oidc/")) {
            return (next, cookie);
        }
        response = browser.get(&next).await;
        if response.status == 200 && next.contains("/interaction/") {
            response = browser
                .post_form(&format!("{next}/login"), &[("login", "alice")])
                .await;
        }
    }
    panic!("no callback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_login_sessions_and_team_mapping() {
    if !harness_available() {
        return;
    }
    for postgres in [false, true] {
        let db = if postgres {
            match TestDb::postgres().await {
                Some(db) => db,
                None => return,
            }
        } else {
            TestDb::sqlite()
        };
        let name = db.name;
        let db = Arc::new(db);
        let outcome = tokio::spawn({
            let db = db.clone();
            async move { oidc_scenario(&db).await }
        })
        .await;
        if let Ok(db) = Arc::try_unwrap(db) {
            db.drop_database().await;
        }
        if let Err(failure) = outcome {
            eprintln!("the scenario failed on {name}");
            std::panic::resume_unwind(failure.into_panic());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The CLI

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_login_through_the_loopback_redirect() {
    if !harness_available() {
        return;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub_url = format!("http://{}", listener.local_addr().unwrap());
    let provider = Provider::start(&[format!("{hub_url}/auth/oidc/test/callback")]);
    let config = HubConfig {
        auth: AuthConfig {
            public_url: Some(hub_url.clone()),
            oidc_providers: vec![OidcProviderConfig {
                name: "test".into(),
                issuer: provider.issuer(),
                client_id: "hub-web".into(),
                client_secret: Some("hub-web-secret".into()),
                scopes: ["openid", "email", "profile", "groups"]
                    .map(String::from)
                    .to_vec(),
                rules: vec![rule(
                    "groups",
                    "ml-engineers",
                    Some(("ml", TeamRole::Member)),
                    false,
                )],
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    let db = TestDb::sqlite();
    let hub = TestHub::start(&db.url, listener, config).await;
    hub.accounts.create_team("ml".into(), None).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("agenthub");
    let env = [
        ("AGENTHUB_URL", hub_url.clone()),
        ("AGENTHUB_CONFIG_DIR", config_dir.display().to_string()),
    ];

    // `agenthub login` prints the URL and waits on its loopback port.
    let mut cmd = support::agenthub(["login", "--no-browser", "--timeout", "60s"]);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = support::Capture::spawn(child.stdout.take().unwrap());
    let stderr = support::Capture::spawn(child.stderr.take().unwrap());
    let url = tokio::task::spawn_blocking({
        let stderr = Arc::new(stderr);
        move || {
            let found = stderr.wait_for(Duration::from_secs(30), |text| {
                text.lines()
                    .map(str::trim)
                    .find(|l| l.starts_with("http://") && l.contains("cli_port="))
                    .map(str::to_owned)
            });
            (found, stderr.text())
        }
    })
    .await
    .unwrap();
    let url = url
        .0
        .unwrap_or_else(|| panic!("no login URL printed:\n{}", url.1));
    assert!(url.starts_with(&format!("{hub_url}/auth/oidc/test/login?")));

    // The browser part: log in; the hub sends the browser to the CLI's loopback listener.
    let browser = Browser::new();
    let back = browser.login(&url, "alice", &hub_url).await;
    assert_eq!(back.status, 303, "{back:?}");
    let loopback = back.location.clone().unwrap();
    assert!(loopback.starts_with("http://127.0.0.1:") && loopback.contains("/callback?code="));
    assert!(
        back.cookie("__Host-agenthub_session").is_none(),
        "no browser session for a CLI login"
    );
    let answered = browser.get(&loopback).await;
    assert_eq!(answered.status, 200, "{answered:?}");

    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let out = stdout.text();
    assert!(status.is_some_and(|s| s.success()), "login failed: {out}");
    assert!(
        out.contains("Logged in to") && out.contains("user:alice"),
        "{out}"
    );

    // The one-time code cannot be used twice.
    let code = loopback.split("code=").nth(1).unwrap();
    let reuse = reqwest::Client::new()
        .post(format!("{hub_url}/auth/cli/token"))
        .json(&json!({"code": code, "code_verifier": "whatever-verifier"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), 400);

    // The stored session: mode 0600, and used by the other commands.
    let file = config_dir.join("credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cli = |args: &'static [&'static str]| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            support::cli(args, &env, None)
        })
    };
    let whoami = cli(&["whoami", "--json"]).await.unwrap();
    let me: Value = whoami.json();
    assert_eq!(me["subject"], "user:alice");
    assert_eq!(teams_of(&me), pairs(&[("ml", "member")]));

    let logout = cli(&["logout"]).await.unwrap();
    assert!(logout.ok().contains("Logged out"), "{}", logout.stdout);
    let after = cli(&["whoami"]).await.unwrap();
    assert_eq!(after.code(), Some(1), "{}", after.stderr);

    drop(provider);
    hub.stop().await;
}
