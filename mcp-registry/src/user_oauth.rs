//! The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636) for servers that act for
//! each user: the authorization request a user is sent to, the code exchanged for their tokens,
//! and each user's [`UserTokens`] — their access token, renewed with their refresh token (a
//! rotated refresh token is stored at once), and their grant forgotten when the authorization
//! server refuses it, so that they are asked to consent again. Where grants are kept is the
//! hub's business ([`Grants`]); tokens are never logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use base64::Engine as _;
use futures::future::BoxFuture;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::Mutex;

use crate::config::OAuthDialect;
use crate::oauth::{AccessTokens, MAX_LIFETIME, OAuthClient, TokenAnswer, TokenError, usable_for};
use crate::slack_oauth;
use crate::upstream::UpstreamError;

/// What a user granted: their tokens for one server.
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    pub access_token: String,
    /// Absent when the authorization server issued none: the user consents again once the
    /// access token expires.
    pub refresh_token: Option<String>,
    /// Until when the access token is used (shortly before it expires).
    pub usable_until: SystemTime,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// The server registration the tokens were issued for
    /// ([`crate::config::McpServerConfig::grant_audience`]); empty for a grant stored before
    /// grants were bound, taken as it is.
    pub audience: String,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "…"))
            .field("usable_until", &self.usable_until)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// The grant a token response makes, issued at `issued`. A response without a refresh
    /// token keeps `previous` (RFC 6749 §6: the server may leave it unchanged); without a
    /// `scope`, the scopes are those `requested` (§5.1). A token without an expiry and nothing
    /// to renew it with (Slack's without token rotation) is used until the service refuses
    /// it, rather than asking the user to consent again every few minutes.
    pub fn from_answer(
        answer: TokenAnswer,
        issued: SystemTime,
        previous: Option<String>,
        requested: &str,
        audience: &str,
    ) -> Self {
        let refresh_token = answer.refresh_token.or(previous);
        let lifetime = match (answer.expires_in, &refresh_token) {
            (None, None) => MAX_LIFETIME,
            (expires_in, _) => usable_for(expires_in),
        };
        Self {
            usable_until: issued + lifetime,
            refresh_token,
            scope: answer.scope.unwrap_or_else(|| requested.to_owned()),
            access_token: answer.access_token,
            audience: audience.to_owned(),
        }
    }

    fn usable(&self) -> bool {
        SystemTime::now() < self.usable_until
    }
}

/// A grant as stored, with the version of its record: each write makes a new one, so that a
/// write or a deletion based on an old read changes nothing.
#[derive(Debug, Clone)]
pub struct StoredGrant {
    pub grant: Grant,
    pub version: i64,
}

/// Where users' grants are kept (the hub's store, sealed). Errors are messages to show.
pub trait Grants: Send + Sync {
    /// `principal`'s grant for `server`, if they have one.
    fn load<'a>(
        &'a self,
        server: &'a str,
        principal: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredGrant>, String>>;

    /// Replaces the tokens of the grant at `version` (after a refresh); its new version, or
    /// `None` when the grant changed or went away meanwhile.
    fn update<'a>(
        &'a self,
        server: &'a str,
        principal: &'a str,
        version: i64,
        grant: &'a Grant,
    ) -> BoxFuture<'a, Result<Option<i64>, String>>;

    /// Deletes the grant at `version` (the authorization server refused it); a newer one stays.
    fn forget<'a>(
        &'a self,
        server: &'a str,
        principal: &'a str,
        version: i64,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// The principals holding a grant for `server`, oldest grant first.
    fn holders<'a>(&'a self, server: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>>;
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1–4.2).
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// A new verifier of 32 random octets (43 characters), as RFC 7636 §4.1 recommends.
    pub fn new() -> Self {
        let mut octets = [0u8; 32];
        SystemRandom::new()
            .fill(&mut octets)
            .expect("system random source");
        Self::from_octets(&octets)
    }

    /// The verifier that encodes `octets` (base64url, no padding).
    pub fn from_octets(octets: &[u8]) -> Self {
        let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(octets);
        Self {
            challenge: Self::challenge_of(&verifier),
            verifier,
        }
    }

    /// `BASE64URL(SHA256(ASCII(verifier)))`.
    pub fn challenge_of(verifier: &str) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

/// The URL a user is sent to for consent (RFC 6749 §4.1.1 with PKCE and RFC 8707's
/// `resource`); parameters already in `authorization_url` are kept.
pub fn authorization_request(
    authorization_url: &str,
    client: &OAuthClient,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
) -> Result<String, String> {
    let mut url = reqwest::Url::parse(authorization_url)
        .map_err(|e| format!("\"{authorization_url}\" is not a valid URL: {e}"))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client.client_id())
            .append_pair("redirect_uri", redirect_uri);
        match client.dialect() {
            OAuthDialect::Standard => {
                let scope = client.scope();
                if !scope.is_empty() {
                    query.append_pair("scope", &scope);
                }
            }
            // The user's own token: the app's bot scopes (`scope`) are none of the hub's business.
            OAuthDialect::Slack => {
                query.append_pair("user_scope", &slack_oauth::user_scope(client.scopes()));
            }
        }
        query
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(resource) = client.resource() {
            query.append_pair("resource", resource);
        }
    }
    Ok(url.into())
}

/// Exchanges an authorization code, with the PKCE verifier it was requested with, for the
/// user's tokens.
pub async fn exchange_code(
    client: &OAuthClient,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<Grant, TokenError> {
    let issued = SystemTime::now();
    let answer = client
        .request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .await?;
    Ok(Grant::from_answer(
        answer,
        issued,
        None,
        &client.scope(),
        client.audience(),
    ))
}

/// How many times a refresh is tried with a refresh token another replica rotated meanwhile.
const REFRESH_ATTEMPTS: usize = 2;

/// One user's tokens for one server: loaded from their grant when first needed, the access
/// token renewed with the refresh token when it is about to expire (one refresh at a time),
/// rotated refresh tokens stored at once.
pub struct UserTokens {
    server: String,
    principal: String,
    client: OAuthClient,
    grants: Arc<dyn Grants>,
    held: Mutex<Option<Held>>,
    /// The grant is known to be gone: the user must consent again.
    lost: AtomicBool,
}

struct Held {
    stored: StoredGrant,
    access: Arc<str>,
}

impl Held {
    fn new(stored: StoredGrant) -> Self {
        Self {
            access: Arc::from(stored.grant.access_token.as_str()),
            stored,
        }
    }
}

impl UserTokens {
    pub fn new(
        server: &str,
        principal: &str,
        client: OAuthClient,
        grants: Arc<dyn Grants>,
    ) -> Self {
        Self {
            server: server.to_owned(),
            principal: principal.to_owned(),
            client,
            grants,
            held: Mutex::new(None),
            lost: AtomicBool::new(false),
        }
    }

    /// Whether the user's grant is known to be gone (never granted, revoked, refused).
    pub fn lacks_grant(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    async fn current(&self) -> Result<Arc<str>, UpstreamError> {
        let mut held = self.held.lock().await;
        let mut current = match held.take() {
            Some(current) => current,
            None => {
                let stored = self.load().await?.ok_or_else(|| self.gone())?;
                if !self.bound_here(&stored.grant) {
                    tracing::info!(server = %self.server, principal = %self.principal, "a user's OAuth grant was made for another destination or authorization server of this server; they must consent again");
                    return Err(self.forget(stored.version).await);
                }
                // Granted again meanwhile (through another replica): no longer lost, or every
                // tool error of theirs would ask them for consent.
                self.lost.store(false, Ordering::Relaxed);
                Held::new(stored)
            }
        };
        if current.stored.grant.usable() {
            let access = current.access.clone();
            *held = Some(current);
            return Ok(access);
        }
        for _ in 0..REFRESH_ATTEMPTS {
            let Some(refresh_token) = current.stored.grant.refresh_token.clone() else {
                tracing::info!(server = %self.server, principal = %self.principal, "a user's OAuth access token expired and there is no refresh token; they must consent again");
                return Err(self.forget(current.stored.version).await);
            };
            let issued = SystemTime::now();
            let refreshed = self
                .client
                .request(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &refresh_token),
                ])
                .await;
            match refreshed {
                Ok(answer) => {
                    let grant = Grant::from_answer(
                        answer,
                        issued,
                        Some(refresh_token),
                        &current.stored.grant.scope,
                        self.client.audience(),
                    );
                    let access: Arc<str> = Arc::from(grant.access_token.as_str());
                    match self.save(current.stored.version, &grant).await? {
                        Some(version) => {
                            tracing::debug!(server = %self.server, principal = %self.principal, "refreshed a user's OAuth token");
                            *held = Some(Held {
                                stored: StoredGrant { grant, version },
                                access: access.clone(),
                            });
                            return Ok(access);
                        }
                        // Revoked, or granted anew, meanwhile: the stored grant decides.
                        None => match self.load().await? {
                            Some(stored) if self.bound_here(&stored.grant) => {
                                current = Held::new(stored);
                            }
                            Some(stored) => return Err(self.forget(stored.version).await),
                            None => return Err(self.gone()),
                        },
                    }
                }
                Err(error) if error.is_invalid_grant() => {
                    // Another replica may have used and rotated the refresh token first.
                    match self.load().await? {
                        Some(stored)
                            if stored.version != current.stored.version
                                && self.bound_here(&stored.grant) =>
                        {
                            current = Held::new(stored);
                        }
                        _ => {
                            tracing::info!(server = %self.server, principal = %self.principal, "the authorization server refused a user's refresh token (invalid_grant); they must consent again");
                            return Err(self.forget(current.stored.version).await);
                        }
                    }
                }
                Err(error) => {
                    *held = Some(current);
                    return Err(error.into());
                }
            }
            if current.stored.grant.usable() {
                let access = current.access.clone();
                *held = Some(current);
                return Ok(access);
            }
        }
        Err(self.forget(current.stored.version).await)
    }

    /// Whether `grant` was made for this server as it is configured now (one stored before
    /// grants were bound is taken as it is).
    fn bound_here(&self, grant: &Grant) -> bool {
        grant.audience.is_empty() || grant.audience == self.client.audience()
    }

    async fn load(&self) -> Result<Option<StoredGrant>, UpstreamError> {
        self.grants
            .load(&self.server, &self.principal)
            .await
            .map_err(|e| UpstreamError::Setup(format!("cannot read the user's OAuth grant: {e}")))
    }

    async fn save(&self, version: i64, grant: &Grant) -> Result<Option<i64>, UpstreamError> {
        self.grants
            .update(&self.server, &self.principal, version, grant)
            .await
            .map_err(|e| {
                UpstreamError::Setup(format!(
                    "cannot store the user's refreshed OAuth grant: {e}"
                ))
            })
    }

    /// Deletes the grant at `version`; the error that says the user must consent again.
    async fn forget(&self, version: i64) -> UpstreamError {
        if let Err(e) = self
            .grants
            .forget(&self.server, &self.principal, version)
            .await
        {
            tracing::warn!(server = %self.server, principal = %self.principal, error = %e, "cannot delete a refused OAuth grant");
        }
        self.gone()
    }

    fn gone(&self) -> UpstreamError {
        self.lost.store(true, Ordering::Relaxed);
        UpstreamError::NeedsConsent
    }
}

impl AccessTokens for UserTokens {
    fn token(&self) -> BoxFuture<'_, Result<Arc<str>, UpstreamError>> {
        Box::pin(self.current())
    }

    fn reject<'a>(&'a self, rejected: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut held = self.held.lock().await;
            // Renewed at the next request, with the refresh token.
            if let Some(current) = held.as_mut()
                && &*current.access == rejected
            {
                current.stored.grant.usable_until = SystemTime::UNIX_EPOCH;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex as StdMutex;

    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use serde_json::json;

    use super::*;
    use crate::config::OAuthClientConfig;

    /// RFC 7636 appendix B: the octets, the verifier they encode, and its S256 challenge.
    #[test]
    fn pkce_matches_the_rfc_7636_example() {
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let pkce = Pkce::from_octets(&octets);
        assert_eq!(pkce.verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let fresh = Pkce::new();
        assert_eq!(fresh.verifier.len(), 43);
        assert_ne!(fresh.verifier, Pkce::new().verifier);
        assert_eq!(fresh.challenge, Pkce::challenge_of(&fresh.verifier));
    }

    fn client(token_url: &str, secret: Option<&str>) -> OAuthClient {
        client_of(token_url, secret, Some("https://notes.example/mcp"))
    }

    /// The client of a server at `server_url` (none: a built-in server).
    fn client_of(token_url: &str, secret: Option<&str>, server_url: Option<&str>) -> OAuthClient {
        let config: OAuthClientConfig = serde_json::from_value(json!({
            "grant": "authorization_code",
            "authorization_url": "https://idp.example/authorize",
            "token_url": token_url,
            "client_id": "agent hub",
            "scopes": ["notes.read", "notes.write"],
        }))
        .unwrap();
        OAuthClient::new(
            &config,
            secret.map(str::to_owned),
            server_url,
            crate::upstream::http_client(crate::config::McpTimeouts::default()).unwrap(),
        )
    }

    #[test]
    fn the_authorization_request_carries_every_parameter() {
        let client = client("https://idp.example/token", None);
        let url = authorization_request(
            "https://idp.example/authorize?tenant=acme",
            &client,
            "https://hub.example.com/mcp/oauth/callback",
            "st&te",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .unwrap();
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert_eq!(parsed.path(), "/authorize");
        let query: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let expected = [
            ("tenant", "acme"),
            ("response_type", "code"),
            ("client_id", "agent hub"),
            ("redirect_uri", "https://hub.example.com/mcp/oauth/callback"),
            ("scope", "notes.read notes.write"),
            ("state", "st&te"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
            ("resource", "https://notes.example/mcp"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(query, expected);
        assert!(authorization_request("not a url", &client, "x", "s", "c").is_err());

        // A server without a URL (a built-in one) has no resource to indicate.
        let builtin = client_of("https://idp.example/token", None, None);
        let url = authorization_request("https://idp.example/authorize", &builtin, "x", "s", "c")
            .unwrap();
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert!(parsed.query_pairs().all(|(k, _)| k != "resource"), "{url}");
    }

    /// Slack's dialect asks for the scopes as user scopes, comma-separated, and no resource.
    #[test]
    fn a_slack_authorization_request_asks_for_user_scopes() {
        let config: OAuthClientConfig = serde_json::from_value(json!({
            "grant": "authorization_code", "dialect": "slack",
            "authorization_url": "https://slack.com/oauth/v2/authorize",
            "token_url": "https://slack.com/api/oauth.v2.access",
            "client_id": "1.2", "scopes": ["search:read", "channels:history"],
        }))
        .unwrap();
        let client = OAuthClient::new(
            &config,
            Some("s".to_owned()),
            None,
            crate::upstream::http_client(crate::config::McpTimeouts::default()).unwrap(),
        );
        let url = authorization_request(
            "https://slack.com/oauth/v2/authorize",
            &client,
            "https://hub/cb",
            "st",
            "ch",
        )
        .unwrap();
        let query: HashMap<String, String> = reqwest::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        assert_eq!(query["user_scope"], "search:read,channels:history");
        assert!(!query.contains_key("scope"), "{url}");
        assert!(!query.contains_key("resource"), "{url}");
        assert_eq!(query["code_challenge_method"], "S256");
    }

    /// A token that does not expire and cannot be renewed (Slack's without rotation) is kept
    /// until refused; one with a refresh token is renewed as before.
    #[test]
    fn an_undated_token_without_a_refresh_token_is_kept() {
        let answer = |refresh: Option<&str>| TokenAnswer {
            access_token: "at".to_owned(),
            token_type: None,
            expires_in: None,
            refresh_token: refresh.map(str::to_owned),
            scope: None,
        };
        let now = SystemTime::now();
        let kept = Grant::from_answer(answer(None), now, None, "a", "");
        assert_eq!(kept.usable_until, now + MAX_LIFETIME);
        let renewed = Grant::from_answer(answer(Some("rt")), now, None, "a", "");
        assert_eq!(renewed.usable_until, now + usable_for(None));
        let dated = Grant::from_answer(
            TokenAnswer {
                expires_in: Some(u64::MAX),
                ..answer(None)
            },
            now,
            None,
            "a",
            "",
        );
        assert!(dated.usable_until <= now + MAX_LIFETIME);
    }

    /// Grants in memory, as the hub's store keeps them.
    #[derive(Default)]
    struct Memory {
        grants: StdMutex<HashMap<(String, String), StoredGrant>>,
    }

    impl Memory {
        fn put(&self, grant: Grant, version: i64) {
            self.grants.lock().unwrap().insert(
                ("notes".to_owned(), "u1".to_owned()),
                StoredGrant { grant, version },
            );
        }

        fn get(&self) -> Option<StoredGrant> {
            self.grants
                .lock()
                .unwrap()
                .get(&("notes".to_owned(), "u1".to_owned()))
                .cloned()
        }
    }

    impl Grants for Memory {
        fn load<'a>(
            &'a self,
            server: &'a str,
            principal: &'a str,
        ) -> BoxFuture<'a, Result<Option<StoredGrant>, String>> {
            let found = self
                .grants
                .lock()
                .unwrap()
                .get(&(server.to_owned(), principal.to_owned()))
                .cloned();
            Box::pin(async move { Ok(found) })
        }

        fn update<'a>(
            &'a self,
            server: &'a str,
            principal: &'a str,
            version: i64,
            grant: &'a Grant,
        ) -> BoxFuture<'a, Result<Option<i64>, String>> {
            let mut grants = self.grants.lock().unwrap();
            let key = (server.to_owned(), principal.to_owned());
            let updated = match grants.get_mut(&key) {
                Some(stored) if stored.version == version => {
                    stored.grant = grant.clone();
                    stored.version += 1;
                    Some(stored.version)
                }
                _ => None,
            };
            Box::pin(async move { Ok(updated) })
        }

        fn forget<'a>(
            &'a self,
            server: &'a str,
            principal: &'a str,
            version: i64,
        ) -> BoxFuture<'a, Result<(), String>> {
            let mut grants = self.grants.lock().unwrap();
            let key = (server.to_owned(), principal.to_owned());
            if grants.get(&key).is_some_and(|g| g.version == version) {
                grants.remove(&key);
            }
            Box::pin(async { Ok(()) })
        }

        fn holders<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>> {
            Box::pin(async { Ok(vec!["u1".to_owned()]) })
        }
    }

    /// A token endpoint that rotates refresh tokens: each one works once.
    #[derive(Default)]
    struct Idp {
        valid_refresh: Option<String>,
        issued: u32,
        forms: Vec<String>,
    }

    async fn token_endpoint(State(idp): State<Arc<StdMutex<Idp>>>, body: String) -> Response {
        let mut idp = idp.lock().unwrap();
        idp.forms.push(body.clone());
        let presented = body
            .split('&')
            .find_map(|p| p.strip_prefix("refresh_token="))
            .map(str::to_owned);
        if presented.is_none() || presented != idp.valid_refresh {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        idp.issued += 1;
        let refresh = format!("rt-{}", idp.issued);
        idp.valid_refresh = Some(refresh.clone());
        axum::Json(
            json!({"access_token": format!("at-{}", idp.issued), "token_type": "bearer",
                          "expires_in": 3600, "refresh_token": refresh}),
        )
        .into_response()
    }

    async fn start_idp(idp: Arc<StdMutex<Idp>>) -> String {
        let app = axum::Router::new()
            .route("/token", axum::routing::post(token_endpoint))
            .with_state(idp);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}/token")
    }

    fn expired(access: &str, refresh: Option<&str>) -> Grant {
        Grant {
            access_token: access.to_owned(),
            refresh_token: refresh.map(str::to_owned),
            usable_until: SystemTime::UNIX_EPOCH,
            scope: "notes.read".to_owned(),
            audience: String::new(),
        }
    }

    fn tokens(token_url: &str, grants: Arc<Memory>) -> UserTokens {
        UserTokens::new("notes", "u1", client(token_url, Some("s3cret")), grants)
    }

    #[tokio::test]
    async fn expired_tokens_are_refreshed_and_rotated_refresh_tokens_stored() {
        let idp = Arc::new(StdMutex::new(Idp {
            valid_refresh: Some("rt-0".to_owned()),
            ..Idp::default()
        }));
        let token_url = start_idp(idp.clone()).await;
        let grants = Arc::new(Memory::default());
        grants.put(expired("at-0", Some("rt-0")), 1);
        let tokens = tokens(&token_url, grants.clone());
        assert_eq!(&*tokens.current().await.unwrap(), "at-1");
        let stored = grants.get().unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(stored.grant.refresh_token.as_deref(), Some("rt-1"));
        assert_eq!(stored.grant.scope, "notes.read");
        // Good for an hour: no second request.
        assert_eq!(&*tokens.current().await.unwrap(), "at-1");
        assert_eq!(idp.lock().unwrap().forms.len(), 1);
        let form = idp.lock().unwrap().forms[0].clone();
        assert!(form.contains("grant_type=refresh_token"), "{form}");
        assert!(
            form.contains("resource=https%3A%2F%2Fnotes.example%2Fmcp"),
            "{form}"
        );

        // The server refuses the token: renewed with the rotated refresh token.
        tokens.reject("at-1").await;
        assert_eq!(&*tokens.current().await.unwrap(), "at-2");
        assert_eq!(
            grants.get().unwrap().grant.refresh_token.as_deref(),
            Some("rt-2")
        );
        assert!(!tokens.lacks_grant());
    }

    /// A built-in server has no URL: its refreshes name no resource.
    #[tokio::test]
    async fn a_server_without_a_url_asks_for_no_resource() {
        let idp = Arc::new(StdMutex::new(Idp {
            valid_refresh: Some("rt-0".to_owned()),
            ..Idp::default()
        }));
        let token_url = start_idp(idp.clone()).await;
        let grants = Arc::new(Memory::default());
        grants.put(expired("at-0", Some("rt-0")), 1);
        let client = client_of(&token_url, Some("s3cret"), None);
        let tokens = UserTokens::new("notes", "u1", client, grants);
        assert_eq!(&*tokens.current().await.unwrap(), "at-1");
        let form = idp.lock().unwrap().forms[0].clone();
        assert!(form.contains("grant_type=refresh_token"), "{form}");
        assert!(!form.contains("resource="), "{form}");
    }

    #[tokio::test]
    async fn a_refused_refresh_token_forgets_the_grant() {
        let idp = Arc::new(StdMutex::new(Idp::default()));
        let token_url = start_idp(idp.clone()).await;
        let grants = Arc::new(Memory::default());
        grants.put(expired("at-0", Some("revoked")), 1);
        let tokens = tokens(&token_url, grants.clone());
        assert!(matches!(
            tokens.current().await,
            Err(UpstreamError::NeedsConsent)
        ));
        assert!(tokens.lacks_grant());
        assert!(grants.get().is_none(), "the refused grant is deleted");

        // No refresh token at all: the same, without asking the authorization server.
        let grants = Arc::new(Memory::default());
        grants.put(expired("at-0", None), 1);
        let tokens = self::tokens(&token_url, grants.clone());
        assert!(matches!(
            tokens.current().await,
            Err(UpstreamError::NeedsConsent)
        ));
        assert!(grants.get().is_none());
        assert_eq!(idp.lock().unwrap().forms.len(), 1);

        // Never granted.
        let tokens = self::tokens(&token_url, Arc::new(Memory::default()));
        assert!(matches!(
            tokens.current().await,
            Err(UpstreamError::NeedsConsent)
        ));
    }

    /// A grant made for another destination or authorization server (the server was
    /// re-pointed since) is never sent: it is forgotten and the user asked to consent again.
    /// One stored before grants were bound is used, and bound at its refresh.
    #[tokio::test]
    async fn a_grant_made_for_another_registration_is_not_used() {
        let idp = Arc::new(StdMutex::new(Idp {
            valid_refresh: Some("rt-0".to_owned()),
            ..Idp::default()
        }));
        let token_url = start_idp(idp.clone()).await;
        let bound = |audience: &str| {
            let grants = Arc::new(Memory::default());
            grants.put(
                Grant {
                    audience: audience.to_owned(),
                    ..expired("at-0", Some("rt-0"))
                },
                1,
            );
            let client = client(&token_url, Some("s3cret")).with_audience("here".to_owned());
            (
                UserTokens::new("notes", "u1", client, grants.clone()),
                grants,
            )
        };
        let (tokens, grants) = bound("elsewhere");
        assert!(matches!(
            tokens.current().await,
            Err(UpstreamError::NeedsConsent)
        ));
        assert!(tokens.lacks_grant());
        assert!(grants.get().is_none(), "the grant is deleted");
        assert!(idp.lock().unwrap().forms.is_empty(), "nothing was sent");

        let (tokens, grants) = bound("");
        assert_eq!(&*tokens.current().await.unwrap(), "at-1");
        assert_eq!(grants.get().unwrap().grant.audience, "here");
        let (tokens, _) = bound("here");
        idp.lock().unwrap().valid_refresh = Some("rt-0".to_owned());
        assert!(tokens.current().await.is_ok());
    }

    /// A grant made anew where these tokens do not hear of it (another replica's consent) is
    /// found at the next call, and the grant is no longer taken to be lost.
    #[tokio::test]
    async fn a_grant_made_elsewhere_is_found_and_no_longer_lost() {
        let grants = Arc::new(Memory::default());
        let tokens = tokens("http://127.0.0.1:9/token", grants.clone());
        assert!(matches!(
            tokens.current().await,
            Err(UpstreamError::NeedsConsent)
        ));
        assert!(tokens.lacks_grant());
        grants.put(
            Grant {
                usable_until: SystemTime::now() + std::time::Duration::from_secs(600),
                ..expired("at-new", Some("rt"))
            },
            1,
        );
        assert_eq!(&*tokens.current().await.unwrap(), "at-new");
        assert!(!tokens.lacks_grant());
    }

    /// Another replica rotated the refresh token first: the stored one is taken up, not
    /// forgotten.
    #[tokio::test]
    async fn a_refresh_token_rotated_elsewhere_is_taken_from_the_store() {
        let idp = Arc::new(StdMutex::new(Idp {
            valid_refresh: Some("rt-new".to_owned()),
            ..Idp::default()
        }));
        let token_url = start_idp(idp.clone()).await;
        let grants = Arc::new(Memory::default());
        grants.put(expired("at-0", Some("rt-old")), 1);
        let tokens = tokens(&token_url, grants.clone());
        // Loaded at version 1 …
        tokens.reject("x").await;
        {
            let mut held = tokens.held.lock().await;
            *held = Some(Held::new(grants.get().unwrap()));
        }
        // … then rotated by someone else.
        grants.put(expired("at-0b", Some("rt-new")), 2);
        assert_eq!(&*tokens.current().await.unwrap(), "at-1");
        let stored = grants.get().unwrap();
        assert_eq!(stored.grant.refresh_token.as_deref(), Some("rt-1"));
        assert_eq!(stored.version, 3);
    }
}
