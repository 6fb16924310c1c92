//! Users' consent to the MCP servers that act for each user (OAuth authorization code with
//! PKCE, the hub as the client):
//!
//! - a user who needs to consent is given a link, `/mcp/oauth/<server>/connect?ticket=…`: the
//!   ticket is random, bound to the user and the server, good for 10 minutes and once, and
//!   stored as its hash. It is the link's only credential;
//! - opening the link shows which hub user and server the grant is for and asks to continue
//!   (a POST): so that a link sent by someone else is not followed blindly (the grant would be
//!   stored for the link's user), and so that link previews do not use the ticket up;
//! - continuing takes the ticket, stores a consent under way (its state hashed, its PKCE
//!   verifier sealed) and redirects to the server's authorization endpoint with the S256
//!   challenge;
//! - `/mcp/oauth/callback` takes the state once, exchanges the code with the verifier, stores
//!   the user's tokens sealed (`grants.rs`) and says how it went on a small page.

use std::time::Duration;

use agenthub_mcp_registry::config::McpServerConfig;
use agenthub_mcp_registry::oauth::OAuthClient;
use agenthub_mcp_registry::upstream::oauth_client;
use agenthub_mcp_registry::user_oauth::{self, Pkce};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::grants::StoreGrants;
use crate::app::AppState;
use crate::config::HubConfig;
use crate::directory::Accounts;
use crate::directory::StoreSecrets;
use crate::error::{Error, Result};
use crate::keys;
use crate::model::{Millis, now_millis};
use crate::store::{ConsentTicket, PendingConsent};

/// Where the authorization server sends users back; register `<auth.public_url>` followed by
/// this as the client's redirect URI.
pub const CALLBACK_PATH: &str = "/mcp/oauth/callback";
const CONNECT_PATH: &str = "/mcp/oauth/{server}/connect";
/// How long a consent link works, and how long a consent may take at the authorization server.
const TICKET_TTL: Duration = Duration::from_secs(600);
const CONSENT_TTL: Duration = Duration::from_secs(600);
/// The most consent links one user has open at once (each call without a grant makes one).
const MAX_TICKETS: u64 = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(CONNECT_PATH, get(confirm).post(connect))
        .route(CALLBACK_PATH, get(callback))
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

fn sealing_name(state_hash: &str) -> String {
    format!("mcp-consent:{state_hash}")
}

/// A consent link for `principal_id` to grant the hub access to `server`, and when it
/// expires.
pub async fn link(
    accounts: &Accounts,
    config: &HubConfig,
    server: &str,
    principal_id: &str,
) -> Result<(String, Millis)> {
    let base = config.auth.public_base().ok_or_else(|| {
        Error::new(
            agenthub_policy::ErrorKind::Unavailable,
            "auth.public_url is not set, so the hub cannot send users to grant access",
        )
    })?;
    let ticket = keys::random_token(32);
    let now = now_millis();
    let expires_at = now + millis(TICKET_TTL);
    let stored = accounts
        .store()
        .insert_consent_ticket(
            &keys::hash(&ticket),
            &ConsentTicket {
                server: server.to_owned(),
                principal_id: principal_id.to_owned(),
                expires_at,
            },
            now,
            MAX_TICKETS,
        )
        .await?;
    if !stored {
        return Err(Error::new(
            agenthub_policy::ErrorKind::RateLimited,
            format!(
                "you have {MAX_TICKETS} unused consent links already; use one of them or try again in a few minutes"
            ),
        ));
    }
    Ok((
        format!("{base}/mcp/oauth/{server}/connect?ticket={ticket}"),
        expires_at,
    ))
}

/// The registered server `name`, if it acts for each user.
fn per_user_server(state: &AppState, name: &str) -> Option<McpServerConfig> {
    state
        .mcp
        .registry()
        .servers()
        .into_iter()
        .find(|s| s.name == name && s.acts_per_user())
}

/// A small page for the person at the browser.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>agenthub: {}</title>\
         <h1>{}</h1><p>{}</p>\n",
        escape(title),
        escape(title),
        escape(text)
    );
    let mut response = (status, Html(body)).into_response();
    private(&mut response);
    response
}

/// Neither cached, nor framed, nor told where it came from (the URL holds a ticket or a code).
fn private(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the hub's own failure says to the person at the browser (the cause is logged).
fn failed(error: &Error) -> Response {
    if error.kind() == agenthub_policy::ErrorKind::Internal {
        tracing::error!(error = %error, "a consent to an MCP server failed");
    }
    page(
        error.status(),
        "Access not granted",
        &format!("agenthub could not complete this: {}", error.message()),
    )
}

#[derive(Deserialize)]
struct ConnectQuery {
    ticket: Option<String>,
}

fn link_used() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Link expired",
        "This link is unknown, expired or already used. Call the tool again for a new one.",
    )
}

/// Opens a consent link: says for whom and for what access would be granted, and asks to
/// continue. The ticket stays unused.
async fn confirm(
    State(state): State<AppState>,
    Path(server): Path<String>,
    query: std::result::Result<Query<ConnectQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(ticket) = query.ok().and_then(|Query(q)| q.ticket) else {
        return link_used();
    };
    let peeked = state
        .accounts
        .store()
        .peek_consent_ticket(&keys::hash(&ticket), now_millis())
        .await;
    let ticket_for = match peeked {
        Ok(Some(t)) if t.server == server => t,
        Ok(_) => return link_used(),
        Err(error) => return failed(&error),
    };
    let user = state
        .accounts
        .snapshot()
        .principal(&ticket_for.principal_id)
        .map_or_else(|| ticket_for.principal_id.clone(), |p| p.name.clone());
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>agenthub: grant access</title>\
         <h1>Grant access to {server}</h1>\
         <p>agenthub will call the MCP server <b>{server}</b> for the hub user <b>{user}</b>, \
         with the access you grant at the server's sign-in page. Continue only if you are \
         {user} and you opened this link yourself.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\
         <button type=\"submit\">Continue to {server}</button></form>\n",
        server = escape(&server),
        user = escape(&user),
        ticket = escape(&ticket),
    );
    let mut response = (StatusCode::OK, Html(body)).into_response();
    private(&mut response);
    // The form posts back here; no other origin may frame or submit it meaningfully.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

/// Continues a consent: takes the ticket, starts the consent and sends the browser to the
/// authorization server.
async fn connect(
    State(state): State<AppState>,
    Path(server): Path<String>,
    form: std::result::Result<
        axum::extract::Form<ConnectQuery>,
        axum::extract::rejection::FormRejection,
    >,
) -> Response {
    let used = link_used;
    let Some(ticket) = form.ok().and_then(|axum::extract::Form(q)| q.ticket) else {
        return used();
    };
    let now = now_millis();
    let taken = match state
        .accounts
        .store()
        .take_consent_ticket(&keys::hash(&ticket), now)
        .await
    {
        Ok(taken) => taken,
        Err(error) => return failed(&error),
    };
    // Another server's ticket is as good as none here.
    let Some(ticket) = taken.filter(|t| t.server == server) else {
        return used();
    };
    match start(&state, &server, &ticket.principal_id, now).await {
        Ok(url) => match HeaderValue::try_from(url) {
            Ok(location) => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                response.headers_mut().insert(header::LOCATION, location);
                private(&mut response);
                response
            }
            Err(e) => failed(&Error::internal(e)),
        },
        Err(error) => failed(&error),
    }
}

/// What both ends of a consent with a server need: its registration, the hub's OAuth client
/// for it and the redirect URI.
struct ConsentClient {
    registration: McpServerConfig,
    client: OAuthClient,
    redirect_uri: String,
}

impl ConsentClient {
    fn of(state: &AppState, server: &str) -> Result<Self> {
        let config = state.config.snapshot();
        let registration = per_user_server(state, server).ok_or_else(|| {
            Error::not_found(format!("MCP server \"{server}\" acting for each user"))
        })?;
        let oauth = registration
            .oauth
            .as_ref()
            .ok_or_else(|| Error::internal("a per-user server without oauth"))?;
        let base = config
            .auth
            .public_base()
            .ok_or_else(|| Error::internal("auth.public_url is not set"))?;
        let client = oauth_client(
            &registration,
            oauth,
            &StoreSecrets(state.accounts.clone()),
            registration.timeouts(config.mcp.timeouts),
        )
        .map_err(|e| Error::new(agenthub_policy::ErrorKind::UpstreamFailed, e.to_string()))?;
        Ok(Self {
            redirect_uri: format!("{base}{CALLBACK_PATH}"),
            registration,
            client,
        })
    }
}

/// Stores a consent under way for `principal_id`; the authorization request's URL.
async fn start(state: &AppState, server: &str, principal_id: &str, now: Millis) -> Result<String> {
    let consent = ConsentClient::of(state, server)?;
    let authorization_url = consent
        .registration
        .oauth
        .as_ref()
        .and_then(|o| o.authorization_url.as_deref())
        .ok_or_else(|| Error::internal("a per-user server without an authorization_url"))?;
    let pkce = Pkce::new();
    let csrf = keys::random_token(32);
    let state_hash = keys::hash(&csrf);
    let verifier = state
        .accounts
        .keyring()
        .seal_value(&sealing_name(&state_hash), pkce.verifier.as_bytes());
    state
        .accounts
        .store()
        .insert_pending_consent(&PendingConsent {
            state_hash,
            server: server.to_owned(),
            principal_id: principal_id.to_owned(),
            verifier,
            expires_at: now + millis(CONSENT_TTL),
        })
        .await?;
    user_oauth::authorization_request(
        authorization_url,
        &consent.client,
        &consent.redirect_uri,
        &csrf,
        &pkce.challenge,
    )
    .map_err(Error::internal)
}

/// What the authorization server sends back (other parameters are ignored).
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Finishes a consent: takes its state (once), exchanges the code and stores the user's
/// tokens.
async fn callback(
    State(state): State<AppState>,
    query: std::result::Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let unknown = || {
        page(
            StatusCode::BAD_REQUEST,
            "Access not granted",
            "This consent is unknown, expired or already finished. Call the tool again for a new link.",
        )
    };
    let Ok(Query(query)) = query else {
        return unknown();
    };
    let Some(csrf) = query.state.as_deref() else {
        return unknown();
    };
    let pending = match state
        .accounts
        .store()
        .take_pending_consent(&keys::hash(csrf), now_millis())
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => return unknown(),
        Err(error) => return failed(&error),
    };
    if let Some(error) = &query.error {
        // Only the error code, in its own alphabet: the page must not echo arbitrary text.
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        tracing::info!(server = %pending.server, principal = %pending.principal_id, error, "a user's consent to an MCP server was not given");
        return page(
            StatusCode::FORBIDDEN,
            "Access not granted",
            &format!(
                "The authorization server of {} did not grant access ({error}).",
                pending.server
            ),
        );
    }
    let Some(code) = query.code else {
        return page(
            StatusCode::BAD_REQUEST,
            "Access not granted",
            "The authorization server sent no code back.",
        );
    };
    match finish(&state, &pending, &code).await {
        Ok(name) => page(
            StatusCode::OK,
            "Access granted",
            &format!(
                "agenthub can now use {} on behalf of {name}. You can close this page and call \
                 the tool again.",
                pending.server
            ),
        ),
        Err(error) => failed(&error),
    }
}

/// Exchanges `code` for the user's tokens and stores them; the user's name.
async fn finish(state: &AppState, pending: &PendingConsent, code: &str) -> Result<String> {
    let server = &pending.server;
    let consent = ConsentClient::of(state, server)?;
    let verifier = state
        .accounts
        .keyring()
        .open_value(&sealing_name(&pending.state_hash), &pending.verifier)
        .map_err(Error::internal)?;
    let verifier = String::from_utf8(verifier).map_err(Error::internal)?;
    let grant = user_oauth::exchange_code(
        &consent.client,
        code,
        &verifier,
        &consent.redirect_uri,
    )
    .await
    .map_err(|e| {
        tracing::warn!(server = %server, error = %e, "an MCP server's authorization server refused a consent's code");
        Error::new(
            agenthub_policy::ErrorKind::UpstreamFailed,
            format!("the authorization server of {server} did not issue tokens: {e}"),
        )
    })?;
    StoreGrants::new(state.accounts.clone())
        .put(server, &pending.principal_id, &grant)
        .await?;
    state.mcp.registry().granted(server, &pending.principal_id);
    tracing::info!(server = %server, principal = %pending.principal_id, "a user granted access to an MCP server");
    Ok(state
        .accounts
        .snapshot()
        .principal(&pending.principal_id)
        .map_or_else(|| "you".to_owned(), |p| p.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
