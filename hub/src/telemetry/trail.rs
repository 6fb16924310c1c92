//! What the HTTP surface adds to the audit trail: every change through the admin API (who,
//! what, the id of what it made, how it ended), every failed login, and every request refused
//! with 401 or 403 — whatever the route. Successful logins are recorded where they are made
//! (`auth::routes`). Bodies are never recorded: they may carry secret values.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use super::Telemetry;
use super::audit::AuditEntry;

/// Who a request turned out to be, filled in by authentication (`auth::Caller`), read by the
/// trail after the answer.
#[derive(Clone, Default)]
pub struct Actor(Arc<OnceLock<String>>);

impl Actor {
    pub fn set(&self, subject: String) {
        let _ = self.0.set(subject);
    }

    fn name(&self) -> String {
        self.0
            .get()
            .cloned()
            .unwrap_or_else(|| "anonymous".to_owned())
    }
}

/// The largest admin answer read for the id of what it made.
const MAX_ANSWER_READ: usize = 256 * 1024;

fn is_admin_change(method: &Method, path: &str) -> bool {
    path.starts_with(crate::api::PREFIX)
        && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_login(path: &str) -> bool {
    path == "/auth/cli/token" || (path.starts_with("/auth/oidc/") && path.ends_with("/callback"))
}

/// The middleware.
pub async fn record(
    State(telemetry): State<Arc<Telemetry>>,
    mut request: Request,
    next: Next,
) -> Response {
    let actor = Actor::default();
    request.extensions_mut().insert(actor.clone());
    // Cheap handles only (reference counts, a copy): most requests are not audited.
    let method = request.method().clone();
    let uri = request.uri().clone();
    let request_id = request.headers().get(crate::app::REQUEST_ID).cloned();
    let remote = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let response = next.run(request).await;
    let status = response.status();
    let path = uri.path();
    let denied = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
    let admin_change = is_admin_change(&method, path);
    let failed_login = is_login(path) && (status.is_client_error() || status.is_server_error());
    if !(denied || admin_change || failed_login) {
        return response;
    }
    let (response, made) = if admin_change && status.is_success() {
        made_by(response).await
    } else {
        (response, None)
    };
    let outcome = if status.is_success() {
        "ok".to_owned()
    } else {
        format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned()
    };
    let request_id = request_id
        .as_ref()
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if denied {
        telemetry.denied(Denial {
            actor: actor.name(),
            remote,
            route: format!("{method} {}", route_of(path)),
            target: format!("{method} {path}"),
            outcome,
            request_id,
        });
        return response;
    }
    let action = if failed_login {
        "login".to_owned()
    } else {
        format!("{method} {}", route_of(path))
    };
    let mut entry = AuditEntry::new(actor.name(), action, format!("{method} {path}"), outcome);
    if let Some(id) = request_id {
        entry = entry.with_detail("request_id", id);
    }
    if let Some(remote) = remote {
        entry = entry.with_detail("remote", remote.to_string());
    }
    if let Some(made) = made {
        entry = entry.with_detail("made", made);
    }
    telemetry.audit(entry);
    response
}

/// A refused request, as the trail sees it.
pub struct Denial {
    pub actor: String,
    pub remote: Option<IpAddr>,
    /// `GET /api/v1/keys/{id}`: what repeats are counted under.
    pub route: String,
    /// The exact method and path.
    pub target: String,
    pub outcome: String,
    pub request_id: Option<String>,
}

impl Denial {
    fn entry(self) -> AuditEntry {
        let mut entry = AuditEntry::new(self.actor, "denied", self.target, self.outcome);
        if let Some(id) = self.request_id {
            entry = entry.with_detail("request_id", id);
        }
        if let Some(remote) = self.remote {
            entry = entry.with_detail("remote", remote.to_string());
        }
        entry
    }
}

/// Who, from where, on which route, how refused: what repeated denials are counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DenialKey {
    actor: String,
    remote: Option<IpAddr>,
    route: String,
    outcome: String,
}

/// Denials seen in this window and how many more times each repeated.
const MAX_KEYS: usize = 10_000;

/// Every denial is in the trail, but a flood of them (credential stuffing, a broken client)
/// cannot flood it: the first of each (actor, remote address, route, outcome) in a window is
/// an entry of its own at once; its repeats are one entry with their count when the window
/// closes.
#[derive(Default)]
pub struct Denials {
    window: Mutex<HashMap<DenialKey, u64>>,
}

impl Denials {
    /// The entry to record now, if this denial is the first of its kind in the window.
    pub fn admit(&self, denial: Denial) -> Option<AuditEntry> {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key = DenialKey {
            actor: denial.actor.clone(),
            remote: denial.remote,
            route: denial.route.clone(),
            outcome: denial.outcome.clone(),
        };
        if !window.contains_key(&key) && window.len() >= MAX_KEYS {
            // Too many kinds at once: count the rest together.
            key = DenialKey {
                actor: "*".to_owned(),
                remote: None,
                route: "*".to_owned(),
                outcome: "*".to_owned(),
            };
        }
        match window.get_mut(&key) {
            Some(repeats) => {
                *repeats += 1;
                None
            }
            None => {
                let first = key.actor != "*";
                window.insert(key, u64::from(!first));
                first.then(|| denial.entry())
            }
        }
    }

    /// Closes the window: one entry per kind of denial that repeated, with its count.
    pub fn close_window(&self, window_secs: u64) -> Vec<AuditEntry> {
        let closed =
            std::mem::take(&mut *self.window.lock().unwrap_or_else(PoisonError::into_inner));
        closed
            .into_iter()
            .filter(|(_, repeats)| *repeats > 0)
            .map(|(key, repeats)| {
                let mut entry = AuditEntry::new(key.actor, "denied", key.route, key.outcome)
                    .with_detail("repeated", repeats)
                    .with_detail("window_seconds", window_secs);
                if let Some(remote) = key.remote {
                    entry = entry.with_detail("remote", remote.to_string());
                }
                entry
            })
            .collect()
    }
}

/// `path` with its ids replaced by `{id}`, so that actions group: `/api/v1/keys/{id}`.
fn route_of(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if uuid::Uuid::parse_str(segment).is_ok() {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The id and name of what an admin answer describes, read from its JSON; the answer is
/// rebuilt unchanged.
async fn made_by(response: Response) -> (Response, Option<Value>) {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    // Only an answer whose whole length is known and small is read: it cannot fail halfway.
    let small = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .is_some_and(|length| length <= MAX_ANSWER_READ as u64);
    if !(is_json && small) {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ANSWER_READ).await else {
        // The body failed while it was read: the client gets the same failure.
        return (
            Response::from_parts(parts, Body::new(http_body_util::Empty::new())),
            None,
        );
    };
    let made = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|value| {
            let mut picked = serde_json::Map::new();
            for key in ["id", "name", "kind"] {
                if let Some(found) = value.get(key).filter(|v| v.is_string()) {
                    picked.insert(key.to_owned(), found.clone());
                }
            }
            (!picked.is_empty()).then_some(Value::Object(picked))
        });
    (Response::from_parts(parts, Body::from(bytes)), made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_group_by_id() {
        assert_eq!(
            route_of("/api/v1/keys/0190a3c2-6b7e-7c1e-9f3a-1b2c3d4e5f60"),
            "/api/v1/keys/{id}"
        );
        assert_eq!(
            route_of("/api/v1/teams/ml/members"),
            "/api/v1/teams/ml/members"
        );
        assert!(is_admin_change(&Method::POST, "/api/v1/keys"));
        assert!(!is_admin_change(&Method::GET, "/api/v1/keys"));
        assert!(!is_admin_change(&Method::POST, "/v1/chat/completions"));
        assert!(is_login("/auth/oidc/okta/callback"));
        assert!(is_login("/auth/cli/token"));
    }

    #[test]
    fn repeated_denials_are_counted_not_repeated() {
        let denials = Denials::default();
        let denial = |actor: &str, path: &str| Denial {
            actor: actor.to_owned(),
            remote: Some(IpAddr::from([10, 0, 0, 1])),
            route: format!("GET {}", route_of(path)),
            target: format!("GET {path}"),
            outcome: "401 Unauthorized".to_owned(),
            request_id: None,
        };
        let first = denials.admit(denial("anonymous", "/api/v1/users")).unwrap();
        assert_eq!(
            (first.actor.as_str(), first.action.as_str()),
            ("anonymous", "denied")
        );
        for _ in 0..99 {
            assert!(
                denials
                    .admit(denial("anonymous", "/api/v1/users"))
                    .is_none()
            );
        }
        assert!(denials.admit(denial("user:bob", "/api/v1/users")).is_some());
        let closed = denials.close_window(60);
        assert_eq!(closed.len(), 1, "{closed:?}");
        assert_eq!(closed[0].details["repeated"], 99);
        assert_eq!(closed[0].target, "GET /api/v1/users");
        assert!(denials.close_window(60).is_empty());
        // A new window records the first again.
        assert!(
            denials
                .admit(denial("anonymous", "/api/v1/users"))
                .is_some()
        );
    }
}
