//! Slack's OAuth v2 on the fake workspace, following Slack's documented shapes:
//! `GET /oauth/v2/authorize` sends the browser straight back with a code for the Slack user its
//! `x-slack-user` header names (bot scopes in `scope`, user scopes in `user_scope`);
//! `oauth.v2.access` answers HTTP 200 whether or not it issues tokens — `ok: false` with
//! Slack's codes (`invalid_client_id`, `bad_client_secret`, `invalid_code`, `bad_redirect_uri`,
//! `invalid_refresh_token`) — with the bot token at the top level and the user's token under
//! `authed_user`. With token rotation, tokens are `xoxe.`-prefixed and expire, refresh tokens
//! (`xoxe-1-`) work once, and a refreshed user token comes back at the top level with
//! `token_type: "user"`. The client authenticates with HTTP Basic or in the form. PKCE
//! parameters are taken and not checked (the generic flow's fake checks them).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Data, FakeSlack, fail};

/// The Slack app the hub is a client as.
#[derive(Clone)]
pub struct SlackApp {
    pub client_id: String,
    pub client_secret: String,
    /// Token rotation: how long access tokens live (`expires_in`); `None` without rotation.
    pub rotation: Option<Duration>,
}

/// What a code was issued for.
struct Code {
    user: String,
    user_scopes: Vec<String>,
    bot_scopes: Vec<String>,
    redirect_uri: String,
}

/// What the OAuth side knows and saw.
#[derive(Default)]
pub(super) struct OAuth {
    app: Option<SlackApp>,
    codes: HashMap<String, Code>,
    /// refresh token → (owner, scopes, whether a user's); each works once.
    refresh: HashMap<String, (String, Vec<String>, bool)>,
    /// When each rotating access token expires.
    expires: HashMap<String, Instant>,
    /// Answered `ok: false` with these codes next, in order.
    refusals: Vec<String>,
    /// The query of each authorization request, and the form of each token request (with
    /// `basic` set when the client authenticated with HTTP Basic).
    pub(super) requests: Vec<BTreeMap<String, String>>,
    serial: u32,
}

impl OAuth {
    fn mint(&mut self, kind: &str, user: &str) -> String {
        self.serial += 1;
        let rotating = if self.app.as_ref().is_some_and(|a| a.rotation.is_some()) {
            "xoxe."
        } else {
            ""
        };
        match kind {
            "refresh" => format!("xoxe-1-{user}-{}", self.serial),
            _ => format!("{rotating}{kind}-{user}-{}", self.serial),
        }
    }

    /// Whether `token` is a rotating token past its expiry.
    pub(super) fn expired(&self, token: &str) -> bool {
        self.expires
            .get(token)
            .is_some_and(|at| Instant::now() >= *at)
    }
}

impl FakeSlack {
    /// Turns on Slack's OAuth v2 for `app`.
    pub fn enable_oauth(&self, app: SlackApp) {
        self.data.lock().unwrap().oauth.app = Some(app);
    }

    /// The next token requests are answered `ok: false` with these error codes, in order.
    pub fn refuse_token_requests(&self, errors: &[&str]) {
        let mut d = self.data.lock().unwrap();
        d.oauth
            .refusals
            .extend(errors.iter().map(|e| (*e).to_owned()));
    }

    /// `token` expires now (Slack then answers `token_expired`).
    pub fn expire_token(&self, token: &str) {
        let mut d = self.data.lock().unwrap();
        d.oauth.expires.insert(token.to_owned(), Instant::now());
    }

    /// Revokes every refresh token of `user` (Slack then answers `invalid_refresh_token`).
    pub fn revoke_refresh_tokens_of(&self, user: &str) {
        let mut d = self.data.lock().unwrap();
        d.oauth.refresh.retain(|_, (owner, ..)| owner != user);
    }

    /// Every authorization request's query and token request's form, in order.
    pub fn oauth_requests(&self) -> Vec<BTreeMap<String, String>> {
        self.data.lock().unwrap().oauth.requests.clone()
    }
}

/// `GET /oauth/v2/authorize`.
pub(super) async fn authorize(
    State(fake): State<FakeSlack>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let mut d = fake.data.lock().unwrap();
    d.oauth.requests.push(query.clone());
    let Some(app) = d.oauth.app.clone() else {
        return (StatusCode::NOT_FOUND, "OAuth is not enabled").into_response();
    };
    if query.get("client_id") != Some(&app.client_id) {
        return (StatusCode::BAD_REQUEST, "invalid_client_id").into_response();
    }
    let (Some(redirect_uri), Some(state)) = (query.get("redirect_uri"), query.get("state")) else {
        return (StatusCode::BAD_REQUEST, "bad_redirect_uri").into_response();
    };
    let user = headers
        .get("x-slack-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("nobody")
        .to_owned();
    let list = |name: &str| -> Vec<String> {
        query
            .get(name)
            .map(|s| {
                s.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (user_scopes, bot_scopes) = (list("user_scope"), list("scope"));
    let code = d.oauth.mint("code", &user);
    d.oauth.codes.insert(
        code.clone(),
        Code {
            user,
            user_scopes,
            bot_scopes,
            redirect_uri: redirect_uri.clone(),
        },
    );
    Redirect::to(&format!("{redirect_uri}?code={code}&state={state}")).into_response()
}

/// `oauth.v2.access`: a code exchange or (with rotation) a refresh.
pub(super) fn access(
    d: &mut Data,
    headers: &HeaderMap,
    args: &BTreeMap<String, Value>,
) -> Response {
    let mut form: BTreeMap<String, String> = args
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    if basic.is_some() {
        form.insert("basic".to_owned(), "true".to_owned());
    }
    d.oauth.requests.push(form.clone());
    let answer = (|| {
        if !d.oauth.refusals.is_empty() {
            return Err(fail(&d.oauth.refusals.remove(0)));
        }
        let app = d
            .oauth
            .app
            .clone()
            .ok_or_else(|| fail("invalid_client_id"))?;
        let (id, secret) = match &basic {
            Some(pair) => pair
                .split_once(':')
                .map(|(i, s)| (i.to_owned(), s.to_owned()))
                .ok_or_else(|| fail("invalid_client_id"))?,
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        if id != app.client_id {
            return Err(fail("invalid_client_id"));
        }
        if secret != app.client_secret {
            return Err(fail("bad_client_secret"));
        }
        match form.get("grant_type").map(String::as_str) {
            None | Some("authorization_code") => exchange(d, &app, &form),
            Some("refresh_token") if app.rotation.is_some() => refresh(d, &app, &form),
            Some(_) => Err(fail("invalid_grant_type")),
        }
    })();
    axum::Json(answer.unwrap_or_else(|refused| refused)).into_response()
}

fn exchange(d: &mut Data, app: &SlackApp, form: &BTreeMap<String, String>) -> Result<Value, Value> {
    let Code {
        user,
        user_scopes,
        bot_scopes,
        redirect_uri,
    } = form
        .get("code")
        .and_then(|code| d.oauth.codes.remove(code))
        .ok_or_else(|| fail("invalid_code"))?;
    if form.get("redirect_uri") != Some(&redirect_uri) {
        return Err(fail("bad_redirect_uri"));
    }
    let mut answer = json!({"ok": true, "app_id": "A0FAKEAPP", "team": {"id": "T0FAKE", "name": "Acme"},
                            "enterprise": null, "is_enterprise_install": false,
                            "authed_user": {"id": user}});
    if !bot_scopes.is_empty() {
        let bot = issue(d, app, "xoxb", "bot", &bot_scopes, false);
        merge(&mut answer, bot);
        answer["bot_user_id"] = json!("U0FAKEBOT");
    }
    if !user_scopes.is_empty() {
        let token = issue(d, app, "xoxp", &user, &user_scopes, true);
        merge(&mut answer["authed_user"], token);
    }
    Ok(answer)
}

fn refresh(d: &mut Data, app: &SlackApp, form: &BTreeMap<String, String>) -> Result<Value, Value> {
    let (owner, scopes, is_user) = form
        .get("refresh_token")
        .and_then(|token| d.oauth.refresh.remove(token))
        .ok_or_else(|| fail("invalid_refresh_token"))?;
    let mut answer = json!({"ok": true, "app_id": "A0FAKEAPP", "team": {"id": "T0FAKE"}});
    if is_user {
        answer["authed_user"] = json!({"id": owner});
    }
    let kind = if is_user { "xoxp" } else { "xoxb" };
    merge(&mut answer, issue(d, app, kind, &owner, &scopes, is_user));
    Ok(answer)
}

/// A new token for `owner` that the Web API takes: its fields in Slack's answer.
fn issue(
    d: &mut Data,
    app: &SlackApp,
    kind: &str,
    owner: &str,
    scopes: &[String],
    is_user: bool,
) -> Value {
    let token = d.oauth.mint(kind, owner);
    // The fake's scopes are static names: those of the reference user token that were asked for.
    let granted: Vec<&'static str> = d
        .tokens
        .get(super::USER)
        .map(|(_, known)| {
            known
                .iter()
                .copied()
                .filter(|s| scopes.iter().any(|asked| asked == s))
                .collect()
        })
        .unwrap_or_default();
    d.tokens.insert(token.clone(), (is_user, granted));
    let mut fields = json!({"access_token": token, "token_type": if is_user { "user" } else { "bot" },
                            "scope": scopes.join(",")});
    if let Some(lifetime) = app.rotation {
        let refresh = d.oauth.mint("refresh", owner);
        d.oauth.refresh.insert(
            refresh.clone(),
            (owner.to_owned(), scopes.to_vec(), is_user),
        );
        d.oauth
            .expires
            .insert(token.clone(), Instant::now() + lifetime);
        fields["refresh_token"] = json!(refresh);
        fields["expires_in"] = json!(lifetime.as_secs());
    }
    fields
}

fn merge(into: &mut Value, fields: Value) {
    if let (Value::Object(into), Value::Object(fields)) = (into, fields) {
        into.extend(fields);
    }
}
