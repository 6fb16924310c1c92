//! The authentication front door: turns a request's credentials into an [`Identity`].
//!
//! Credentials, in the order they are looked for:
//!
//! 1. `Authorization: Bearer …` or `x-api-key: …`, told apart by shape: API keys (`ahk_…`, or an
//!    operator-chosen bootstrap key), CLI session tokens (`ahs_…`), and JWTs (three
//!    dot-separated base64url parts) from the configured issuers ([`jwt`]).
//! 2. The web console's session cookie `__Host-agenthub_session`, set by the OIDC login
//!    ([`oidc`], [`routes`]). Cookie-authenticated writes must come from the hub's own origin.
//!
//! Every failure is the same 401 body, whatever the reason; the reason is logged at debug level.
//! API keys and sessions are checked against the in-memory directory snapshot; JWTs against the
//! issuers' cached keys: nothing on this path waits for the store.

pub mod claims;
pub mod http;
pub mod jwt;
pub mod oidc;
pub mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use agenthub_policy::Identity;
use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::Authorizer;
use arc_swap::ArcSwap;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use jsonwebtoken::{AlgorithmFamily, DecodingKey};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio_util::sync::CancellationToken;

use self::jwt::{IssuerCounters, JwtIssuer};
use self::oidc::OidcProvider;
use crate::app::AppState;
use crate::config::{AuthConfig, ConfigHandle};
use crate::directory::Accounts;
use crate::error::Error;
use crate::keys::{KEY_PREFIX, SESSION_PREFIX};
use crate::model::now_millis;
use crate::ops::Metrics;
use crate::secrets::SecretRef;

/// The web console's session cookie. `__Host-` makes browsers insist on `Secure`, `Path=/` and
/// no `Domain`, so no sibling domain can set or read it.
pub const SESSION_COOKIE: &str = "__Host-agenthub_session";
/// Holds a pending login's state between `/login` and `/callback`.
pub const LOGIN_COOKIE: &str = "__Host-agenthub_login";

/// The authenticated caller of a request. Extracting it rejects the request with 401 when the
/// credentials are missing or do not authenticate.
///
/// It carries the authorizer in force when the request arrived, so that every decision made
/// for one request uses the same rules.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Arc<Identity>,
    pub authorizer: Arc<Authorizer>,
}

impl Caller {
    /// Whether the caller may perform `access` on `target` in the admin API.
    pub fn may(&self, access: Access, target: Target<'_>) -> bool {
        agenthub_policy::admin::allows(&self.authorizer, &self.identity, access, target)
    }
}

impl std::ops::Deref for Caller {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.identity
    }
}

/// The credential a request presents: `Authorization: Bearer …` (OpenAI SDKs and most
/// clients) or `x-api-key: …` (Anthropic SDKs).
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get("x-api-key")?
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for one of the hub's cookies.
pub fn set_cookie(name: &str, value: &str, max_age: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        max_age.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that deletes one of the hub's cookies.
pub fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether a bearer token has the shape of a JWS: three dot-separated base64url parts (the
/// signature may be empty, as in `alg: none` tokens, which are then refused by the verifier).
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabels {
    issuer: String,
}

/// The configured issuers and providers, rebuilt when the configuration changes.
pub struct AuthState {
    pub config: AuthConfig,
    /// By exact `iss`.
    issuers: HashMap<String, Arc<JwtIssuer>>,
    /// By name.
    providers: BTreeMap<String, Arc<OidcProvider>>,
}

impl AuthState {
    pub fn provider(&self, name: &str) -> Option<&Arc<OidcProvider>> {
        self.providers.get(name)
    }

    pub fn providers(&self) -> impl Iterator<Item = &Arc<OidcProvider>> {
        self.providers.values()
    }

    pub fn issuers(&self) -> impl Iterator<Item = &Arc<JwtIssuer>> {
        self.issuers.values()
    }
}

/// Authentication beyond API keys: JWT issuers, OIDC providers and sessions.
pub struct AuthService {
    accounts: Arc<Accounts>,
    http: reqwest::Client,
    current: ArcSwap<AuthState>,
    fetches: Family<IssuerLabels, Counter>,
    failures: Family<IssuerLabels, Counter>,
}

impl AuthService {
    /// Builds the service for `config` and registers its metrics. Nothing is fetched yet: see
    /// [`AuthService::run_background`].
    pub fn new(accounts: Arc<Accounts>, config: &AuthConfig, metrics: &mut Metrics) -> Arc<Self> {
        let fetches = Family::<IssuerLabels, Counter>::default();
        let failures = Family::<IssuerLabels, Counter>::default();
        metrics.register(
            "auth_jwks_fetches",
            "JWKS fetch attempts, by JWT issuer",
            fetches.clone(),
        );
        metrics.register(
            "auth_jwks_fetch_failures",
            "JWKS fetches that failed (the cached keys stayed in use), by JWT issuer",
            failures.clone(),
        );
        let service = Arc::new(Self {
            accounts,
            http: http::client(),
            current: ArcSwap::from_pointee(AuthState {
                config: AuthConfig::default(),
                issuers: HashMap::new(),
                providers: BTreeMap::new(),
            }),
            fetches,
            failures,
        });
        service.apply(config);
        service
    }

    pub fn accounts(&self) -> &Arc<Accounts> {
        &self.accounts
    }

    pub fn state(&self) -> Arc<AuthState> {
        self.current.load_full()
    }

    /// Installs a new configuration, keeping the caches of issuers and providers whose
    /// configuration did not change.
    pub fn apply(&self, config: &AuthConfig) {
        let old = self.current.load();
        let issuers = config
            .jwt_issuers
            .iter()
            .map(|c| {
                let kept = old
                    .issuers
                    .get(&c.issuer)
                    .filter(|i| i.config == *c)
                    .cloned();
                let issuer = kept.unwrap_or_else(|| {
                    let labels = IssuerLabels {
                        issuer: c.name.clone(),
                    };
                    let counters = IssuerCounters {
                        fetches: self.fetches.get_or_create(&labels).clone(),
                        failures: self.failures.get_or_create(&labels).clone(),
                    };
                    Arc::new(JwtIssuer::new(c.clone(), self.http.clone(), counters))
                });
                (c.issuer.clone(), issuer)
            })
            .collect();
        let providers = config
            .oidc_providers
            .iter()
            .map(|c| {
                let kept = old
                    .providers
                    .get(&c.name)
                    .filter(|p| p.config == *c)
                    .cloned();
                let provider = kept
                    .unwrap_or_else(|| Arc::new(OidcProvider::new(c.clone(), self.http.clone())));
                (c.name.clone(), provider)
            })
            .collect();
        self.current.store(Arc::new(AuthState {
            config: config.clone(),
            issuers,
            providers,
        }));
    }

    /// Fetches every issuer's JWKS and discovers every provider, concurrently; failures are
    /// logged and retried later.
    pub async fn warm_up(&self) {
        let state = self.state();
        let issuers = state.issuers().map(|i| i.refresh_if_due());
        let providers = state.providers().map(|p| async move {
            if let Err(e) = p.metadata(false).await {
                tracing::warn!(provider = %p.config.name, "cannot discover the OpenID provider yet; logins will retry: {e:?}");
            }
        });
        futures::future::join(
            futures::future::join_all(issuers),
            futures::future::join_all(providers),
        )
        .await;
    }

    /// Keeps the JWKS caches fresh, follows configuration changes and purges expired
    /// sessions and logins, until `shutdown`.
    pub async fn run_background(
        self: Arc<Self>,
        config: ConfigHandle,
        shutdown: CancellationToken,
    ) {
        let mut changes = config.subscribe();
        self.warm_up().await;
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_purge = std::time::Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let auth = changes.borrow_and_update().auth.clone();
                    self.apply(&auth);
                    self.warm_up().await;
                }
                _ = tick.tick() => {
                    let state = self.state();
                    futures::future::join_all(state.issuers().map(|i| i.refresh_if_due())).await;
                    if last_purge.elapsed() >= Duration::from_secs(60) {
                        last_purge = std::time::Instant::now();
                        match self.accounts.purge_expired().await {
                            Ok(0) => {}
                            Ok(n) => tracing::debug!(rows = n, "purged expired sessions and logins"),
                            Err(e) => tracing::warn!(error = %e, "cannot purge expired sessions; will retry"),
                        }
                    }
                }
            }
        }
    }

    /// The identity of a request's credentials.
    pub async fn authenticate(&self, parts: &Parts) -> Result<Arc<Identity>, Error> {
        let refused = |method: &str, reason: &str| {
            tracing::debug!(method, reason, "authentication refused");
            Error::unauthenticated()
        };
        let headers = &parts.headers;
        if let Some(token) = presented_key(headers) {
            return self
                .authenticate_token(token)
                .await
                .map_err(|(method, reason)| refused(method, &reason));
        }
        if headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-api-key") {
            return Err(refused("header", "unsupported Authorization scheme"));
        }
        if let Some(token) = cookie(headers, SESSION_COOKIE) {
            if let Some(reason) = self.cross_site(parts) {
                tracing::debug!(
                    reason,
                    "a cookie-authenticated write from another site was refused"
                );
                return Err(Error::forbidden());
            }
            return self
                .accounts
                .snapshot()
                .authenticate_session(token, now_millis())
                .ok_or_else(|| refused("session", "unknown, expired or ended session"));
        }
        Err(refused("none", "no credentials"))
    }

    async fn authenticate_token(
        &self,
        token: &str,
    ) -> Result<Arc<Identity>, (&'static str, String)> {
        let now = now_millis();
        let directory = self.accounts.snapshot();
        if token.starts_with(KEY_PREFIX) {
            return directory.authenticate(token, now).ok_or((
                "api_key",
                "unknown, expired or revoked key, or disabled owner".into(),
            ));
        }
        if token.starts_with(SESSION_PREFIX) {
            return directory
                .authenticate_session(token, now)
                .ok_or(("session", "unknown, expired or ended session".into()));
        }
        if looks_like_jwt(token) {
            return self
                .verify_jwt(token)
                .await
                .map_err(|reason| ("jwt", reason));
        }
        // Operator-chosen bootstrap keys need not start with ahk_.
        directory
            .authenticate(token, now)
            .ok_or(("api_key", "unknown key".into()))
    }

    /// Verifies a JWT from one of the configured issuers and maps its claims.
    pub async fn verify_jwt(&self, token: &str) -> Result<Arc<Identity>, String> {
        #[derive(serde::Deserialize)]
        struct Issuer {
            iss: String,
        }
        // Parsing the header refuses `alg: none` and unknown algorithms.
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("unusable JWT header: {e}"))?;
        // Unverified, only to choose the issuer whose keys and rules apply; the signature and
        // every claim are checked below.
        let Issuer { iss } = token
            .split('.')
            .nth(1)
            .and_then(|payload| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or("the JWT payload has no iss claim")?;
        let state = self.state();
        let issuer = state.issuers.get(&iss).ok_or_else(|| {
            format!(
                "unknown issuer \"{}\"",
                iss.chars().take(200).collect::<String>()
            )
        })?;
        let hmac = if header.alg.family() == AlgorithmFamily::Hmac {
            self.hmac_key(&issuer.config.hmac_secret)
        } else {
            None
        };
        let claims = issuer.verify(token, &header, hmac.as_ref()).await?;
        let identity = claims::token_identity(&issuer.config, claims, &self.accounts.snapshot())
            .map_err(|e| e.0)?;
        Ok(Arc::new(identity))
    }

    fn hmac_key(&self, secret: &Option<String>) -> Option<DecodingKey> {
        let reference = SecretRef::parse(secret.as_deref()?)?.ok()?;
        match self.accounts.reveal_secret(reference.name()) {
            Ok(Some(value)) if !value.is_empty() => {
                Some(DecodingKey::from_secret(value.as_bytes()))
            }
            Ok(_) => {
                tracing::warn!(
                    secret = reference.name(),
                    "the HMAC secret of a JWT issuer is not in the secret store"
                );
                None
            }
            Err(e) => {
                tracing::warn!(secret = reference.name(), error = %e, "cannot read the HMAC secret of a JWT issuer");
                None
            }
        }
    }

    /// A provider's client secret, from the secret store or the configuration.
    pub fn client_secret(&self, value: Option<&str>) -> Result<Option<String>, Error> {
        let Some(value) = value else { return Ok(None) };
        match SecretRef::parse(value) {
            None => Ok(Some(value.to_owned())),
            Some(Ok(reference)) => self
                .accounts
                .reveal_secret(reference.name())?
                .map(Some)
                .ok_or_else(|| {
                    tracing::error!(
                        secret = reference.name(),
                        "an OIDC client secret is missing from the secret store"
                    );
                    Error::new(
                        agenthub_policy::ErrorKind::Unavailable,
                        "login is not available: the provider's client secret is missing",
                    )
                }),
            Some(Err(message)) => Err(Error::internal(message)),
        }
    }

    /// Why a cookie-authenticated request must be refused as cross-site, if it must: writes
    /// (anything but GET, HEAD, OPTIONS) must come from the hub's own origin.
    fn cross_site(&self, parts: &Parts) -> Option<&'static str> {
        if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return None;
        }
        let headers = &parts.headers;
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(site) = get("sec-fetch-site")
            && site != "same-origin"
            && site != "none"
        {
            return Some("Sec-Fetch-Site is not same-origin");
        }
        if let Some(origin) = get("origin") {
            let state = self.state();
            let same = match state.config.public_base() {
                Some(base) => origin.eq_ignore_ascii_case(base),
                None => get("host").is_some_and(|host| {
                    origin
                        .split_once("://")
                        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
                }),
            };
            if !same {
                return Some("Origin is not the hub's");
            }
        }
        None
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let identity = state.auth.authenticate(parts).await?;
        if let Some(actor) = parts.extensions.get::<crate::telemetry::trail::Actor>() {
            actor.set(identity.subject());
        }
        Ok(Caller {
            identity,
            authorizer: state.governance.authorizer(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Headers = &'static [(&'static str, &'static str)];

    #[test]
    fn credential_forms() {
        let cases: &[(Headers, Option<&str>)] = &[
            (&[("authorization", "Bearer ahk_x")], Some("ahk_x")),
            (&[("authorization", "bearer  ahk_x ")], Some("ahk_x")),
            (&[("x-api-key", "ahk_y")], Some("ahk_y")),
            (&[("authorization", "Basic abc")], None),
            (&[("authorization", "Bearer ")], None),
            (&[], None),
        ];
        for (headers, expected) in cases {
            let mut map = HeaderMap::new();
            for (name, value) in *headers {
                map.insert(*name, value.parse().unwrap());
            }
            assert_eq!(presented_key(&map), *expected, "{headers:?}");
        }
    }

    #[test]
    fn tokens_are_told_apart() {
        assert!(looks_like_jwt("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(
            looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
            "alg none: refused later"
        );
        for not in [
            "ahk_abc",
            "a.b",
            "a.b.c.d",
            ".b.c",
            "a..c",
            "a.b+.c",
            "ahk_chosen.by.operator!",
        ] {
            assert!(!looks_like_jwt(not), "{not}");
        }
    }

    #[test]
    fn cookies_are_found_in_any_header() {
        let mut map = HeaderMap::new();
        map.append(
            header::COOKIE,
            "a=1; __Host-agenthub_session=tok".parse().unwrap(),
        );
        map.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&map, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&map, "b"), Some("2"));
        assert_eq!(cookie(&map, "c"), None);
        let set = set_cookie(SESSION_COOKIE, "tok", Duration::from_secs(60));
        assert_eq!(
            set.to_str().unwrap(),
            "__Host-agenthub_session=tok; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60"
        );
    }
}
