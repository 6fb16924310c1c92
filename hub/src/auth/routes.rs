//! The login endpoints under `/auth`:
//!
//! - `GET  /auth/providers`                    the configured OIDC providers (no credentials)
//! - `GET  /auth/oidc/{provider}/login`        start a login: redirect to the provider
//! - `GET  /auth/oidc/{provider}/callback`     finish it: session cookie, or a code for the CLI
//! - `POST /auth/cli/token`                    the CLI exchanges its one-time code for a session
//! - `POST /auth/logout`, `GET /auth/logout`   end the session, clear the cookie

use std::collections::BTreeMap;
use std::time::Duration;

use agenthub_policy::ErrorKind;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::oidc::LoginFailure;
use super::{LOGIN_COOKIE, SESSION_COOKIE, clear_cookie, cookie, set_cookie};
use crate::api::{ApiJson, timestamp};
use crate::app::AppState;
use crate::error::{Error, Result};
use crate::keys::{self, SESSION_PREFIX};
use crate::model::{Millis, Session, SessionClient, new_id, now_millis};
use crate::store::{LoginCode, LoginWrite, PendingLogin};
use crate::telemetry::audit::AuditEntry;

/// How long the CLI has to exchange its one-time code.
const CODE_TTL: Duration = Duration::from_secs(120);

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/auth/providers", get(providers))
        .route("/auth/oidc/{provider}/login", get(login))
        .route("/auth/oidc/{provider}/callback", get(callback))
        .route("/auth/cli/token", post(cli_token))
        .route("/auth/logout", post(logout).get(logout_page))
}

fn upstream(provider: &str, failure: LoginFailure) -> Error {
    match failure {
        LoginFailure::Upstream(reason) => {
            tracing::warn!(provider, "login failed at the identity provider: {reason}");
            Error::new(
                ErrorKind::UpstreamFailed,
                "the identity provider cannot be reached; try again later",
            )
        }
        LoginFailure::Refused(reason) => {
            tracing::debug!(provider, reason, "login refused");
            Error::new(ErrorKind::Unauthenticated, "the login did not succeed")
        }
    }
}

/// Logs that logins are being refused for want of room, at most once a minute (every refused
/// request would flood the log).
fn warn_pending_logins_full(max: u64) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
        *last = Some(std::time::Instant::now());
        tracing::warn!(
            max,
            "refusing logins: auth.sessions.max_pending_logins logins are in progress (started, not finished, not expired)"
        );
    }
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

#[derive(Debug, Serialize)]
struct ProviderView {
    name: String,
    display_name: String,
    login_url: String,
}

#[derive(Debug, Serialize)]
struct ProvidersView {
    providers: Vec<ProviderView>,
}

async fn providers(State(state): State<AppState>) -> Json<ProvidersView> {
    let auth = state.auth.state();
    Json(ProvidersView {
        providers: auth
            .providers()
            .map(|p| ProviderView {
                name: p.config.name.clone(),
                display_name: p
                    .config
                    .display_name
                    .clone()
                    .unwrap_or_else(|| p.config.name.clone()),
                login_url: format!("/auth/oidc/{}/login", p.config.name),
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginQuery {
    /// A path on the hub to return to after the login.
    redirect_to: Option<String>,
    /// For `agenthub login`: its loopback port and PKCE challenge.
    cli_port: Option<u16>,
    cli_challenge: Option<String>,
}

/// Only local paths: never another site (open redirects).
fn local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
        && path.len() <= 1024
}

async fn login(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let Query(query) = query.map_err(|e| Error::invalid(e.body_text()))?;
    let auth = state.auth.state();
    let provider = auth
        .provider(&name)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("login provider \"{name}\"")))?;
    let base = auth
        .config
        .public_base()
        .ok_or_else(|| Error::internal("auth.public_url is not set"))?;
    let redirect_to = query.redirect_to.unwrap_or_else(|| "/".into());
    if !local_path(&redirect_to) {
        return Err(Error::invalid_field(
            "redirect_to",
            "must be a path on this hub, such as /console",
        ));
    }
    let cli = match (query.cli_port, query.cli_challenge) {
        (None, None) => None,
        (Some(port), Some(challenge))
            if port > 0
                && challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some((port, challenge))
        }
        _ => {
            return Err(Error::invalid(
                "cli_port and cli_challenge (base64url SHA-256) go together",
            ));
        }
    };
    let metadata = provider
        .metadata(false)
        .await
        .map_err(|f| upstream(&name, f))?;
    let client = provider
        .client(&metadata, None, format!("{base}/auth/oidc/{name}/callback"))
        .map_err(|f| upstream(&name, f))?;
    let (url, csrf, nonce, verifier) = provider.authorize(&client);
    let timeout = auth.config.sessions.login_timeout;
    let (cli_port, cli_challenge) = cli.map_or((None, None), |(p, c)| (Some(p), Some(c)));
    let now = now_millis();
    let max = auth.config.sessions.max_pending_logins;
    let stored = state
        .accounts
        .store()
        .insert_pending_login(
            &PendingLogin {
                state_hash: keys::hash(csrf.secret()),
                provider: name,
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                redirect_to,
                cli_port,
                cli_challenge,
                expires_at: now + millis(timeout),
            },
            now,
            max,
        )
        .await?;
    if !stored {
        warn_pending_logins_full(max);
        return Err(Error::new(
            ErrorKind::Unavailable,
            "too many logins are in progress; try again in a few minutes",
        ));
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, url.parse().map_err(Error::internal)?),
            (
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, csrf.secret(), timeout),
            ),
            (
                header::CACHE_CONTROL,
                "no-store".parse().map_err(Error::internal)?,
            ),
        ],
    )
        .into_response())
}

/// What the provider sends back. Unknown parameters (`session_state`, …) are ignored.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let bad_state = || {
        Error::invalid("the login state is missing, expired or already used; start the login again")
    };
    let Query(query) = query.map_err(|_| bad_state())?;
    let auth = state.auth.state();
    let provider = auth
        .provider(&name)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("login provider \"{name}\"")))?;
    // The state must be the one this browser was given: nobody can make a browser finish a
    // login someone else started.
    let returned = query.state.as_deref().ok_or_else(bad_state)?;
    let expected = cookie(&headers, LOGIN_COOKIE).ok_or_else(bad_state)?;
    if keys::hash(returned) != keys::hash(expected) {
        tracing::debug!(provider = %name, "login callback state does not match the browser's login cookie");
        return Err(bad_state());
    }
    let accounts = state.accounts.clone();
    let now = now_millis();
    let pending = accounts
        .store()
        .take_pending_login(&keys::hash(returned), now)
        .await?
        .filter(|p| p.provider == name)
        .ok_or_else(bad_state)?;
    if let Some(error) = &query.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(Error::new(
            ErrorKind::Unauthenticated,
            format!("the identity provider did not log you in ({error})"),
        ));
    }
    let code = query
        .code
        .ok_or_else(|| Error::invalid("the callback carries no code"))?;
    let metadata = provider
        .metadata(false)
        .await
        .map_err(|f| upstream(&name, f))?;
    // RFC 9207: an authorization response names its issuer; refuse a mix-up.
    if let Some(iss) = &query.iss
        && iss.trim_end_matches('/') != metadata.issuer().as_str().trim_end_matches('/')
    {
        tracing::debug!(provider = %name, "the callback's iss is another issuer's");
        return Err(Error::new(
            ErrorKind::Unauthenticated,
            "the login did not succeed",
        ));
    }
    let base = auth
        .config
        .public_base()
        .ok_or_else(|| Error::internal("auth.public_url is not set"))?;
    let secret = state
        .auth
        .client_secret(provider.config.client_secret.as_deref())?;
    let client = provider
        .client(
            &metadata,
            secret,
            format!("{base}/auth/oidc/{name}/callback"),
        )
        .map_err(|f| upstream(&name, f))?;
    let verified = provider
        .finish(
            &client,
            code,
            pending.pkce_verifier.clone(),
            pending.nonce.clone(),
        )
        .await
        .map_err(|f| upstream(&name, f))?;

    // Claim rules → teams (by id) and the admin role. Teams the hub lacks are skipped.
    let grants = super::claims::evaluate(&provider.config.rules, &verified.claims);
    let directory = accounts.snapshot();
    let mut teams = BTreeMap::new();
    for (team, role) in &grants.teams {
        match directory.team(team) {
            Some(t) => {
                teams.insert(t.id.clone(), *role);
            }
            None => {
                tracing::warn!(provider = %name, team, "a claim rule grants a team the hub does not have; create it")
            }
        }
    }
    let (names, email, display_name) = provider.profile(&verified);
    let sessions = &auth.config.sessions;
    let (session, session_token, login_code, code_secret) = match pending.cli_port {
        None => {
            let token = keys::mint_session_token();
            let session = Session {
                id: new_id(),
                hash: keys::hash(&token),
                principal_id: String::new(),
                provider: name.clone(),
                client: SessionClient::Browser,
                created_at: now,
                expires_at: now + millis(sessions.ttl),
            };
            (Some(session), Some(token), None, None)
        }
        Some(_) => {
            let secret = keys::random_token(32);
            let code = LoginCode {
                code_hash: keys::hash(&secret),
                principal_id: String::new(),
                provider: name.clone(),
                challenge: pending.cli_challenge.clone().unwrap_or_default(),
                expires_at: now + millis(CODE_TTL),
            };
            (None, None, Some(code), Some(secret))
        }
    };
    let applied = accounts
        .record_login(LoginWrite {
            issuer: verified.issuer.clone(),
            subject: verified.subject.clone(),
            names,
            email,
            display_name,
            admin: grants.admin,
            teams,
            session,
            code: login_code,
            now,
        })
        .await?;
    tracing::info!(
        provider = %name,
        principal = %applied.principal_id,
        created = applied.created,
        teams_added = applied.added.len(),
        teams_changed = applied.changed.len(),
        teams_removed = applied.removed.len(),
        cli = pending.cli_port.is_some(),
        "login"
    );
    let who = state
        .accounts
        .snapshot()
        .principal(&applied.principal_id)
        .map_or_else(
            || applied.principal_id.clone(),
            |p| format!("user:{}", p.name),
        );
    state.telemetry.audit(
        AuditEntry::new(who, "login", format!("oidc {name}"), "ok")
            .with_detail("issuer", verified.issuer.clone())
            .with_detail("created", applied.created),
    );

    let mut response = match (pending.cli_port, session_token, code_secret) {
        (None, Some(token), _) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::LOCATION,
                pending.redirect_to.parse().map_err(Error::internal)?,
            );
            headers.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &token, sessions.ttl),
            );
            response
        }
        (Some(port), _, Some(code)) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(
                header::LOCATION,
                format!("http://127.0.0.1:{port}/callback?code={code}")
                    .parse()
                    .map_err(Error::internal)?,
            );
            response
        }
        _ => return Err(Error::internal("inconsistent login outcome")),
    };
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, clear_cookie(LOGIN_COOKIE));
    headers.insert(
        header::CACHE_CONTROL,
        "no-store".parse().map_err(Error::internal)?,
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CliTokenRequest {
    code: String,
    code_verifier: String,
}

/// A session for the CLI.
#[derive(Debug, Serialize, Deserialize)]
pub struct CliToken {
    /// Use as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: String,
    pub subject: String,
}

async fn cli_token(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CliTokenRequest>,
) -> Result<Json<CliToken>> {
    let invalid = || {
        Error::invalid(
            "the login code is invalid, expired or already used; run agenthub login again",
        )
    };
    let code = state
        .accounts
        .take_login_code(&body.code)
        .await?
        .ok_or_else(invalid)?;
    if keys::hash(&keys::pkce_challenge(&body.code_verifier)) != keys::hash(&code.challenge) {
        tracing::debug!("a CLI login code was presented with the wrong verifier");
        return Err(invalid());
    }
    let ttl = state.auth.state().config.sessions.cli_ttl;
    let (session, token) = state
        .accounts
        .create_session(&code.principal_id, &code.provider, SessionClient::Cli, ttl)
        .await?;
    let subject = state
        .accounts
        .snapshot()
        .principal(&session.principal_id)
        .map(|p| format!("user:{}", p.name))
        .unwrap_or_default();
    state.telemetry.audit(
        AuditEntry::new(
            subject.clone(),
            "login",
            format!("cli via {}", code.provider),
            "ok",
        )
        .with_detail("session", session.id.clone()),
    );
    Ok(Json(CliToken {
        token,
        expires_at: timestamp(session.expires_at),
        subject,
    }))
}

/// The session token of a request: the cookie, or a CLI session as bearer token.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    super::presented_key(headers)
        .filter(|t| t.starts_with(SESSION_PREFIX))
        .or_else(|| cookie(headers, SESSION_COOKIE))
}

async fn end(state: &AppState, headers: &HeaderMap) -> Result<()> {
    if let Some(token) = session_token(headers) {
        state.accounts.end_session(token).await?;
    }
    Ok(())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    end(&state, &headers).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_cookie(SESSION_COOKIE))],
    )
        .into_response())
}

async fn logout_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    end(&state, &headers).await?;
    Ok((
        [
            (header::SET_COOKIE, clear_cookie(SESSION_COOKIE)),
            (
                header::CACHE_CONTROL,
                "no-store".parse().map_err(Error::internal)?,
            ),
        ],
        Html("<!doctype html><title>agenthub</title><p>You are signed out of agenthub.</p>\n"),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use std::sync::Arc;
    use tower::ServiceExt;

    /// An OpenID provider that can be discovered (and nothing more) at a local address.
    async fn discoverable_provider() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let doc = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let doc = doc.clone();
                    async move { Json(doc) }
                }),
            )
            .route(
                "/jwks",
                get(|| async { Json(serde_json::json!({ "keys": [] })) }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        issuer
    }

    /// Logins started and not finished are bounded: beyond `max_pending_logins`, 503.
    #[tokio::test]
    async fn pending_logins_are_capped() {
        use crate::config::{ConfigHandle, HubConfig, OidcProviderConfig};
        use crate::secrets::{KeyOrigin, Keyring, MasterKey};

        let issuer = discoverable_provider().await;
        let mut config = HubConfig::default();
        config.auth.public_url = Some("https://hub.example.com".into());
        config.auth.oidc_providers = vec![OidcProviderConfig {
            name: "test".into(),
            issuer,
            client_id: "hub".into(),
            ..OidcProviderConfig::default()
        }];
        config.auth.sessions.max_pending_logins = 2;
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
        let router = crate::app::router(AppState::new(accounts, governance, config));
        let login = || async {
            let response = router
                .clone()
                .oneshot(
                    axum::http::Request::get("/auth/oidc/test/login")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        };
        for _ in 0..2 {
            let (status, body) = login().await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        }
        let (status, body) = login().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["error"]["type"], "unavailable", "{body}");
        assert_eq!(error["error"]["retryable"], true, "{body}");
        assert_eq!(test.store.pending_logins(now_millis()).await.unwrap(), 2);

        // Once they expire (and whether or not they are purged yet), there is room again.
        let later = now_millis() + millis(Duration::from_secs(3600));
        assert_eq!(test.store.pending_logins(later).await.unwrap(), 0);
        assert_eq!(test.store.purge_expired(later).await.unwrap(), 2);
        let (status, body) = login().await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        test.cleanup().await;
    }

    #[test]
    fn only_local_redirects() {
        for ok in ["/", "/console", "/console?tab=keys"] {
            assert!(local_path(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "console",
            "/a b",
            "",
        ] {
            assert!(!local_path(bad), "{bad}");
        }
    }
}
