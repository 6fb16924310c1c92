//! OIDC login for people: authorization code with PKCE (`openidconnect`), for the web console
//! and for `agenthub login`.
//!
//! `GET /auth/oidc/{provider}/login` stores the pending login (state hash, nonce, PKCE verifier)
//! in the store — so that any replica can finish it and a state works once — sets a short-lived
//! cookie holding the state, and redirects to the provider. The callback requires the state to
//! match that cookie (so nobody can make a browser finish someone else's login), takes the
//! pending login (once), exchanges the code, verifies the ID token (signature, issuer,
//! audience, expiry, nonce, algorithm allow-list), links the person to a hub user by (issuer,
//! sub), applies the claim rules to their provider-managed memberships, and creates the session
//! — or, for the CLI, a one-time code handed to its loopback listener.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use tokio::sync::Mutex;

use super::claims::{self, Claims};
use super::http;
use crate::config::{JwsAlgorithm, OidcProviderConfig};

pub type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The least time between two discoveries of the same provider.
const REDISCOVER_AFTER: Duration = Duration::from_secs(30);

/// A configured provider and its discovery document, fetched when first needed and again when
/// an ID token names a key it does not list (key rotation).
pub struct OidcProvider {
    pub config: OidcProviderConfig,
    http: reqwest::Client,
    metadata: ArcSwapOption<CoreProviderMetadata>,
    last_discovery: Mutex<Option<Instant>>,
}

/// Why a login failed, sorted by whom to blame.
#[derive(Debug)]
pub enum LoginFailure {
    /// The provider cannot be reached or answered nonsense: 502.
    Upstream(String),
    /// The provider or its tokens refused the login: 401.
    Refused(String),
}

fn signing_alg(alg: JwsAlgorithm) -> Option<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as C;
    Some(match alg {
        JwsAlgorithm::RS256 => C::RsaSsaPkcs1V15Sha256,
        JwsAlgorithm::RS384 => C::RsaSsaPkcs1V15Sha384,
        JwsAlgorithm::RS512 => C::RsaSsaPkcs1V15Sha512,
        JwsAlgorithm::PS256 => C::RsaSsaPssSha256,
        JwsAlgorithm::PS384 => C::RsaSsaPssSha384,
        JwsAlgorithm::PS512 => C::RsaSsaPssSha512,
        JwsAlgorithm::ES256 => C::EcdsaP256Sha256,
        JwsAlgorithm::ES384 => C::EcdsaP384Sha384,
        JwsAlgorithm::EdDSA => C::EdDsa,
        // Refused by configuration checks: ID tokens are never verified with an HMAC.
        JwsAlgorithm::HS256 | JwsAlgorithm::HS384 | JwsAlgorithm::HS512 => return None,
    })
}

/// What a verified ID token says.
pub struct VerifiedLogin {
    pub issuer: String,
    pub subject: String,
    /// Every claim of the ID token, for the claim rules.
    pub claims: Claims,
}

impl OidcProvider {
    pub fn new(config: OidcProviderConfig, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            metadata: ArcSwapOption::empty(),
            last_discovery: Mutex::new(None),
        }
    }

    /// The discovery document: the cached one, or fetched now. With `again`, fetched anew
    /// (unless that was done less than 30 s ago).
    pub async fn metadata(&self, again: bool) -> Result<Arc<CoreProviderMetadata>, LoginFailure> {
        if !again && let Some(metadata) = self.metadata.load_full() {
            return Ok(metadata);
        }
        let mut last = self.last_discovery.lock().await;
        if let Some(metadata) = self.metadata.load_full()
            && (!again || last.is_some_and(|at| at.elapsed() < REDISCOVER_AFTER))
        {
            return Ok(metadata);
        }
        *last = Some(Instant::now());
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| LoginFailure::Upstream(format!("invalid issuer URL: {e}")))?;
        let client = http::oidc_client(&self.http);
        let metadata = CoreProviderMetadata::discover_async(issuer, &client)
            .await
            .map_err(|e| {
                LoginFailure::Upstream(format!(
                    "discovery of {} failed: {}",
                    self.config.issuer,
                    error_chain(&e)
                ))
            })?;
        let metadata = Arc::new(metadata);
        self.metadata.store(Some(metadata.clone()));
        tracing::debug!(provider = %self.config.name, "discovered the OpenID provider");
        Ok(metadata)
    }

    pub fn client(
        &self,
        metadata: &CoreProviderMetadata,
        secret: Option<String>,
        redirect_uri: String,
    ) -> Result<Client, LoginFailure> {
        let redirect = RedirectUrl::new(redirect_uri)
            .map_err(|e| LoginFailure::Upstream(format!("invalid redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            secret.map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL for a new login, with its state, nonce and PKCE
    /// verifier.
    pub fn authorize(&self, client: &Client) -> (String, CsrfToken, Nonce, PkceCodeVerifier) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        (url.to_string(), state, nonce, verifier)
    }

    /// Exchanges the code and verifies the ID token.
    pub async fn finish(
        &self,
        client: &Client,
        code: String,
        verifier: String,
        nonce: String,
    ) -> Result<VerifiedLogin, LoginFailure> {
        let http_client = http::oidc_client(&self.http);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| {
                LoginFailure::Upstream(format!("the provider has no token endpoint: {e}"))
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&http_client)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => LoginFailure::Refused(format!(
                    "the token endpoint refused the code: {}",
                    r.error()
                )),
                RequestTokenError::Request(e) => {
                    LoginFailure::Upstream(format!("the token endpoint is unreachable: {e}"))
                }
                other => LoginFailure::Upstream(format!(
                    "unexpected answer from the token endpoint: {}",
                    error_chain(&other)
                )),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginFailure::Refused("the provider returned no ID token".into()))?;
        let algorithms: Vec<_> = self
            .config
            .algorithms
            .iter()
            .filter_map(|a| signing_alg(*a))
            .collect();
        let nonce = Nonce::new(nonce);
        let mut client = client.clone();
        let mut rediscovered = false;
        let verified = loop {
            let outcome = {
                let verifier = client
                    .id_token_verifier()
                    .set_allowed_algs(algorithms.clone());
                id_token.claims(&verifier, &nonce).cloned()
            };
            match outcome {
                Ok(claims) => break claims,
                Err(ClaimsVerificationError::SignatureVerification(e)) if !rediscovered => {
                    // The provider may have rotated its keys since discovery: look again, once.
                    tracing::debug!(provider = %self.config.name, "ID token signature check failed ({e}); discovering the provider again");
                    rediscovered = true;
                    let metadata = self.metadata(true).await?;
                    client = CoreClient::from_provider_metadata(
                        (*metadata).clone(),
                        client.client_id().clone(),
                        None,
                    )
                    .set_redirect_uri(
                        client
                            .redirect_uri()
                            .cloned()
                            .ok_or_else(|| LoginFailure::Upstream("no redirect URI".into()))?,
                    );
                }
                Err(e) => {
                    return Err(LoginFailure::Refused(format!(
                        "the ID token does not verify: {}",
                        error_chain(&e)
                    )));
                }
            }
        };
        // The signature is verified: the payload's full claims can be read for the rules.
        let raw = id_token.to_string();
        let claims = raw
            .split('.')
            .nth(1)
            .and_then(|payload| {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice::<Claims>(&bytes).ok())
            .ok_or_else(|| LoginFailure::Refused("unreadable ID token payload".into()))?;
        Ok(VerifiedLogin {
            issuer: verified.issuer().to_string(),
            subject: verified.subject().to_string(),
            claims,
        })
    }

    /// The user name candidates, email and display name of a verified login.
    pub fn profile(&self, login: &VerifiedLogin) -> (Vec<String>, Option<String>, Option<String>) {
        let names = claims::user_names(
            &login.claims,
            &self.config.username_claim,
            &login.issuer,
            &login.subject,
        );
        let verified = login
            .claims
            .get("email_verified")
            .and_then(serde_json::Value::as_bool)
            != Some(false);
        let email = claims::text_claim(&login.claims, "email", 254)
            .filter(|e| verified && e.contains('@') && !e.contains(char::is_whitespace));
        let display_name = claims::text_claim(&login.claims, "name", 200);
        (names, email, display_name)
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(next) = source {
        text.push_str(": ");
        text.push_str(&next.to_string());
        source = next.source();
    }
    text
}
