//! JWT bearer tokens from configured issuers: signature checks against each issuer's JWKS,
//! cached in memory, and the standard claims (`iss`, `aud`, `exp`, `nbf`).
//!
//! The JWKS is fetched at start (a failure is logged, not fatal), every
//! `jwks_refresh_interval`, and again when a token names a key the cache does not have — at
//! most once per `jwks_min_refresh_interval`, so that tokens with made-up `kid`s cannot make the
//! hub hammer the provider. One fetch runs at a time, in a task of its own; whoever needs it
//! while it runs waits for that one. A request waits at most [`REQUEST_REFRESH_WAIT`] (the
//! fetch carries on without it), so a slow or hanging provider cannot hold requests up: a token
//! whose key has not arrived by then is refused. When the JWKS endpoint is down the cached keys
//! keep working; the failure is logged and counted (`agenthub_auth_jwks_fetch_failures_total`).
//!
//! Algorithm confusion is ruled out by construction: a token's `alg` must be on the issuer's
//! allow-list; asymmetric algorithms are verified only with JWKS keys of the same family (and
//! the same `alg` when the key names one); symmetric keys in a JWKS are ignored; and HS*
//! tokens are verified only with the shared secret configured for the issuer, never with a
//! public key. `none` is not an algorithm the decoder knows.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, decode};
use jsonwebtoken::{AlgorithmFamily, errors::ErrorKind};
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

use super::claims::Claims;
use super::http::{self, HttpError};
use crate::config::JwtIssuerConfig;

/// One verification key from a JWKS.
struct VerifyKey {
    kid: Option<String>,
    alg: Option<Algorithm>,
    family: AlgorithmFamily,
    key: DecodingKey,
}

impl VerifyKey {
    fn accepts(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        self.family == alg.family()
            && self.alg.is_none_or(|a| a == alg)
            && kid.is_none_or(|kid| self.kid.as_deref() == Some(kid))
    }
}

#[derive(Default)]
struct KeySet {
    keys: Vec<VerifyKey>,
    fetched_at: Option<Instant>,
}

/// The longest a request waits for a JWKS fetch (its own, or one already under way) when its
/// token names a key the cache does not have.
pub const REQUEST_REFRESH_WAIT: Duration = Duration::from_secs(2);

/// A JWKS fetch under way; every clone completes when it is done.
type Refreshing = Shared<BoxFuture<'static, ()>>;

#[derive(Default)]
struct RefreshState {
    last_attempt: Option<Instant>,
    /// The JWKS URL found by discovery, when not configured.
    discovered: Option<String>,
    /// The fetch under way, if one is.
    running: Option<Refreshing>,
}

/// The counters of one issuer.
#[derive(Clone, Default)]
pub struct IssuerCounters {
    pub fetches: Counter,
    pub failures: Counter,
}

/// A trusted issuer and its cached keys.
pub struct JwtIssuer {
    pub config: JwtIssuerConfig,
    http: reqwest::Client,
    keys: ArcSwap<KeySet>,
    refresh: Mutex<RefreshState>,
    counters: IssuerCounters,
}

/// Keys usable for verifying signatures, from a JWKS document. Unusable entries (encryption
/// keys, symmetric keys, unknown types or curves) are skipped.
fn parse_jwks(doc: &Value) -> Vec<VerifyKey> {
    let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                return None;
            }
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
                AlgorithmParameters::EllipticCurve(p)
                    if matches!(p.curve, EllipticCurve::P256 | EllipticCurve::P384) =>
                {
                    AlgorithmFamily::Ec
                }
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                    AlgorithmFamily::Ed
                }
                // Symmetric keys never come from a JWKS; other types are not supported.
                _ => return None,
            };
            let alg = match jwk.common.key_algorithm {
                None => None,
                Some(a) => Some(signature_algorithm(a)?),
            };
            if alg.is_some_and(|a| a.family() != family) {
                return None;
            }
            Some(VerifyKey {
                kid: jwk.common.key_id.clone(),
                alg,
                family,
                key: DecodingKey::from_jwk(&jwk).ok()?,
            })
        })
        .collect()
}

/// The signature algorithm a JWK names; `None` for encryption and unknown algorithms.
fn signature_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The `jwks_uri` of an issuer's discovery document, after checking the document is the
/// issuer's own.
pub async fn discover_jwks_uri(client: &reqwest::Client, issuer: &str) -> Result<String, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = http::get_json(client, &url)
        .await
        .map_err(|e| format!("discovery at {url} failed: {e}"))?;
    let found = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if found.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(format!(
            "the discovery document at {url} is for issuer \"{found}\", not \"{issuer}\""
        ));
    }
    match doc.get("jwks_uri").and_then(Value::as_str) {
        Some(uri) if crate::config::http_url(uri).is_some() => Ok(uri.to_owned()),
        _ => Err(format!("the discovery document at {url} has no jwks_uri")),
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "the token is for another audience".into(),
        ErrorKind::InvalidIssuer => "the token is from another issuer".into(),
        ErrorKind::InvalidSignature => "the signature does not verify".into(),
        ErrorKind::InvalidAlgorithm => "the algorithm does not fit the key".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        other => format!("invalid token: {other:?}"),
    }
}

impl JwtIssuer {
    pub fn new(config: JwtIssuerConfig, http: reqwest::Client, counters: IssuerCounters) -> Self {
        Self {
            config,
            http,
            keys: ArcSwap::from_pointee(KeySet::default()),
            refresh: Mutex::new(RefreshState::default()),
            counters,
        }
    }

    /// How many keys are cached.
    pub fn key_count(&self) -> usize {
        self.keys.load().keys.len()
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = self.config.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&self.config.audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v
    }

    /// Verifies `token` (whose header is `header`) and returns its claims, or why it is
    /// refused. `hmac` is the issuer's shared secret, for HS* tokens.
    pub async fn verify(
        self: &Arc<Self>,
        token: &str,
        header: &Header,
        hmac: Option<&DecodingKey>,
    ) -> Result<Claims, String> {
        let alg = header.alg;
        if !self.config.algorithms.iter().any(|a| a.to_jwt() == alg) {
            return Err(format!("algorithm {alg:?} is not allowed for this issuer"));
        }
        let validation = self.validation(alg);
        if alg.family() == AlgorithmFamily::Hmac {
            // Only ever the configured shared secret: never a public key from the JWKS.
            let key = hmac.ok_or("no shared secret is available for HMAC tokens")?;
            return decode::<Claims>(token, key, &validation)
                .map(|data| data.claims)
                .map_err(|e| describe(&e));
        }
        let kid = header.kid.as_deref();
        let mut refetched = false;
        loop {
            let keys = self.keys.load_full();
            let candidates: Vec<&VerifyKey> =
                keys.keys.iter().filter(|k| k.accepts(kid, alg)).collect();
            if candidates.is_empty() {
                if !refetched {
                    refetched = true;
                    if let Some(refreshing) = self.start_refresh("a token names an unknown key")
                        && tokio::time::timeout(REQUEST_REFRESH_WAIT, refreshing)
                            .await
                            .is_err()
                    {
                        tracing::debug!(
                            issuer = %self.config.name,
                            "the JWKS fetch is taking long; a token naming an unknown key is refused meanwhile"
                        );
                    }
                    if !Arc::ptr_eq(&keys, &self.keys.load_full()) {
                        continue;
                    }
                }
                return Err(format!(
                    "no {alg:?} key{} in the issuer's JWKS",
                    kid.map(|k| format!(" with kid \"{k}\""))
                        .unwrap_or_default()
                ));
            }
            let mut refused = String::from("the signature does not verify");
            for key in candidates {
                match decode::<Claims>(token, &key.key, &validation) {
                    Ok(data) => return Ok(data.claims),
                    Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                        refused = describe(&e);
                    }
                    Err(e) => return Err(describe(&e)),
                }
            }
            return Err(refused);
        }
    }

    /// Fetches the JWKS when the cached one is older than `jwks_refresh_interval`.
    pub async fn refresh_if_due(self: &Arc<Self>) {
        let due = self
            .keys
            .load()
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.config.jwks_refresh_interval);
        if due {
            self.refresh("scheduled").await;
        }
    }

    /// Fetches the JWKS unless the last attempt was less than `jwks_min_refresh_interval`
    /// ago, and waits for it (or for the fetch already under way). On failure the cached keys
    /// stay.
    pub async fn refresh(self: &Arc<Self>, why: &'static str) {
        if let Some(refreshing) = self.start_refresh(why) {
            refreshing.await;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, RefreshState> {
        // The state stays consistent whatever panicked while holding it.
        self.refresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fetch to wait for: the one under way, or a new one — unless the last attempt was
    /// less than `jwks_min_refresh_interval` ago (`None`). The fetch runs in a task of its own,
    /// so it completes (and its keys are cached) even when nobody waits for it any longer.
    fn start_refresh(self: &Arc<Self>, why: &'static str) -> Option<Refreshing> {
        let mut state = self.state();
        if let Some(running) = &state.running {
            return Some(running.clone());
        }
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.config.jwks_min_refresh_interval)
        {
            return None;
        }
        state.last_attempt = Some(Instant::now());
        let discovered = state.discovered.clone();
        let issuer = Arc::clone(self);
        // The task cannot finish before `running` is set: it ends by taking this lock.
        let task = tokio::spawn(async move { issuer.run_refresh(why, discovered).await });
        let refreshing = async move {
            // A panic in the task is the task's: waiters just see the fetch end.
            let _ = task.await;
        }
        .boxed()
        .shared();
        state.running = Some(refreshing.clone());
        Some(refreshing)
    }

    async fn run_refresh(&self, why: &'static str, discovered: Option<String>) {
        self.counters.fetches.inc();
        let (fetched, discovered) = self.fetch(discovered).await;
        match fetched {
            Ok(set) => {
                tracing::debug!(issuer = %self.config.name, keys = set.keys.len(), why, "fetched the JWKS");
                self.keys.store(Arc::new(set));
            }
            Err(e) => {
                self.counters.failures.inc();
                tracing::warn!(
                    issuer = %self.config.name,
                    cached_keys = self.key_count(),
                    why,
                    "cannot fetch the JWKS; the cached keys stay in use: {e}"
                );
            }
        }
        let mut state = self.state();
        state.discovered = discovered;
        state.running = None;
    }

    /// Fetches the JWKS from the configured URL, or the one `discovered` before (discovering
    /// it when neither is known). Returns the keys, and the discovered URL to use next time.
    async fn fetch(&self, discovered: Option<String>) -> (Result<KeySet, String>, Option<String>) {
        let url = match (&self.config.jwks_url, discovered) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url,
            (None, None) => match discover_jwks_uri(&self.http, &self.config.issuer).await {
                Ok(url) => url,
                Err(e) => return (Err(e), None),
            },
        };
        let doc = match http::get_json(&self.http, &url).await {
            Ok(doc) => doc,
            Err(e) => {
                // Discover again next time: the provider may have moved its JWKS.
                let e = match e {
                    HttpError::Status(code) => format!("{url} answered HTTP {code}"),
                    e => format!("{url}: {e}"),
                };
                return (Err(e), None);
            }
        };
        let discovered = self.config.jwks_url.is_none().then_some(url.clone());
        let keys = parse_jwks(&doc);
        if keys.is_empty() {
            return (
                Err(format!("the JWKS at {url} has no usable signing key")),
                discovered,
            );
        }
        (
            Ok(KeySet {
                keys,
                fetched_at: Some(Instant::now()),
            }),
            discovered,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    #[test]
    fn jwks_keeps_only_signature_keys() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
            {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "RSA", "kid": "mismatch", "alg": "ES256", "n": "AQAB", "e": "AQAB"},
            {"kty": "weird", "kid": "w"},
        ]});
        let keys = parse_jwks(&doc);
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref().unwrap()).collect();
        assert_eq!(kids, ["r1", "e1"]);
        let rsa = &keys[0];
        assert!(rsa.accepts(Some("r1"), Algorithm::RS256));
        assert!(rsa.accepts(None, Algorithm::RS256));
        assert!(
            !rsa.accepts(Some("r1"), Algorithm::PS256),
            "the key names RS256"
        );
        assert!(
            !rsa.accepts(Some("r1"), Algorithm::HS256),
            "never an HMAC secret"
        );
        assert!(!rsa.accepts(Some("e1"), Algorithm::RS256));
        let ec = &keys[1];
        assert!(ec.accepts(Some("e1"), Algorithm::ES256));
        assert!(!ec.accepts(Some("e1"), Algorithm::RS256));
        assert!(parse_jwks(&json!({"nokeys": []})).is_empty());
    }

    /// A JWKS endpoint whose answers (an empty key set) take `delay_ms`; counts its requests.
    async fn slow_jwks(delay_ms: Arc<AtomicU64>, hits: Arc<AtomicUsize>) -> String {
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (delay_ms, hits) = (delay_ms.clone(), hits.clone());
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let delay = Duration::from_millis(delay_ms.load(Ordering::SeqCst));
                    tokio::time::sleep(delay).await;
                    axum::Json(json!({ "keys": [] }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/jwks")
    }

    fn issuer_at(jwks_url: String) -> Arc<JwtIssuer> {
        let config = JwtIssuerConfig {
            name: "slow".into(),
            issuer: "https://idp.example".into(),
            audiences: vec!["hub".into()],
            jwks_url: Some(jwks_url),
            jwks_min_refresh_interval: Duration::from_secs(30),
            ..JwtIssuerConfig::default()
        };
        Arc::new(JwtIssuer::new(
            config,
            http::client(),
            IssuerCounters::default(),
        ))
    }

    fn unknown_kid() -> Header {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rotated".into());
        header
    }

    async fn wait_for(hits: &AtomicUsize, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while hits.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "the JWKS endpoint was never asked"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A token naming an unknown key is refused within a bound while a fetch hangs, and does
    /// not start another fetch.
    #[tokio::test]
    async fn an_unknown_kid_does_not_wait_for_a_hanging_fetch() {
        let delay = Arc::new(AtomicU64::new(60_000));
        let hits = Arc::new(AtomicUsize::new(0));
        let issuer = issuer_at(slow_jwks(delay.clone(), hits.clone()).await);

        // The scheduled fetch hangs.
        let scheduled = tokio::spawn({
            let issuer = issuer.clone();
            async move { issuer.refresh_if_due().await }
        });
        wait_for(&hits, 1).await;

        let started = Instant::now();
        let refused = issuer
            .verify("x.y.z", &unknown_kid(), None)
            .await
            .unwrap_err();
        let waited = started.elapsed();
        assert!(
            waited < REQUEST_REFRESH_WAIT + Duration::from_secs(1),
            "waited {waited:?}"
        );
        assert_eq!(
            refused,
            r#"no RS256 key with kid "rotated" in the issuer's JWKS"#
        );
        assert!(!scheduled.is_finished(), "the scheduled fetch still hangs");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "no second fetch");

        // Again while it still hangs: the same bound, still one fetch.
        let started = Instant::now();
        issuer
            .verify("x.y.z", &unknown_kid(), None)
            .await
            .unwrap_err();
        assert!(started.elapsed() < REQUEST_REFRESH_WAIT + Duration::from_secs(1));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        scheduled.abort();
    }

    /// A fetch a request starts is bounded the same way and carries on without it; the
    /// least interval between fetches still holds.
    #[tokio::test]
    async fn a_fetch_started_by_a_request_is_bounded_and_rate_limited() {
        let delay = Arc::new(AtomicU64::new(60_000));
        let hits = Arc::new(AtomicUsize::new(0));
        let issuer = issuer_at(slow_jwks(delay.clone(), hits.clone()).await);

        let started = Instant::now();
        issuer
            .verify("x.y.z", &unknown_kid(), None)
            .await
            .unwrap_err();
        assert!(started.elapsed() < REQUEST_REFRESH_WAIT + Duration::from_secs(1));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        assert!(
            issuer.state().running.is_some(),
            "the fetch goes on after the request gave up"
        );

        // A fast endpoint, but the last attempt was just now: no fetch, no wait.
        delay.store(0, Ordering::SeqCst);
        let fresh = issuer_at(slow_jwks(delay.clone(), hits.clone()).await);
        fresh.refresh("scheduled").await;
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(fresh.state().running.is_none());
        let started = Instant::now();
        fresh
            .verify("x.y.z", &unknown_kid(), None)
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(hits.load(Ordering::SeqCst), 2, "rate-limited");
    }

    /// End to end: a bearer JWT naming an unknown key gets the 401 in bounded time while the
    /// issuer's scheduled JWKS fetch hangs.
    #[tokio::test]
    async fn the_request_answers_401_while_the_jwks_fetch_hangs() {
        use crate::app::AppState;
        use crate::config::{ConfigHandle, HubConfig};
        use crate::secrets::{KeyOrigin, Keyring, MasterKey};
        use axum::body::Body;
        use base64::Engine;
        use tower::ServiceExt;

        let delay = Arc::new(AtomicU64::new(60_000));
        let hits = Arc::new(AtomicUsize::new(0));
        let mut config = HubConfig::default();
        config.auth.jwt_issuers = vec![
            issuer_at(slow_jwks(delay, hits.clone()).await)
                .config
                .clone(),
        ];
        let test = crate::store::testing::sqlite().await;
        let keyring = Keyring::new(MasterKey::generate(), None, KeyOrigin::Env);
        let accounts = Arc::new(
            crate::directory::Accounts::load(test.store.clone(), Arc::new(keyring))
                .await
                .unwrap(),
        );
        let config = ConfigHandle::new(config);
        let governance = Arc::new(
            crate::governance::Governance::load(test.store.clone(), config.clone(), "test")
                .await
                .unwrap(),
        );
        let state = AppState::new(accounts, governance, config);
        let auth = state.auth.clone();
        let scheduled = tokio::spawn(async move { auth.warm_up().await });
        wait_for(&hits, 1).await;

        let part = |value: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let token = format!(
            "{}.{}.c2ln",
            part(json!({ "alg": "RS256", "kid": "rotated", "typ": "JWT" })),
            part(
                json!({ "iss": "https://idp.example", "aud": "hub", "sub": "svc", "exp": 4_102_444_800u64 })
            ),
        );
        let started = Instant::now();
        let response = crate::app::router(state)
            .oneshot(
                axum::http::Request::get("/api/v1/me")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let waited = started.elapsed();
        assert_eq!(response.status(), axum::http::StatusCode::UNAUTHORIZED);
        assert!(
            waited < REQUEST_REFRESH_WAIT + Duration::from_secs(1),
            "waited {waited:?}"
        );
        assert!(!scheduled.is_finished());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        scheduled.abort();
        test.cleanup().await;
    }
}
