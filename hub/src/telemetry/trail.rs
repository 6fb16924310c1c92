//! What the HTTP surface adds to the audit trail: every change through the admin API (who,
//! what, the id of what it made, how it ended), every failed login, and every request refused
//! with 401 or 403 — whatever the route. Successful logins are recorded where they are made
//! (`auth::routes`). Bodies are never recorded: they may carry secret values.

use std::sync::{Arc, OnceLock};

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
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .headers()
        .get(crate::app::REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let remote = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string());
    let response = next.run(request).await;
    let status = response.status();
    let denied = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
    let admin_change = is_admin_change(&method, &path);
    let failed_login = is_login(&path) && (status.is_client_error() || status.is_server_error());
    if !(denied || admin_change || failed_login) {
        return response;
    }
    let (response, made) = if admin_change && status.is_success() {
        made_by(response).await
    } else {
        (response, None)
    };
    let action = if denied {
        "denied".to_owned()
    } else if failed_login {
        "login".to_owned()
    } else {
        format!("{method} {}", route_of(&path))
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
    let mut entry = AuditEntry::new(actor.name(), action, format!("{method} {path}"), outcome);
    if let Some(id) = request_id {
        entry = entry.with_detail("request_id", id);
    }
    if let Some(remote) = remote {
        entry = entry.with_detail("remote", remote);
    }
    if let Some(made) = made {
        entry = entry.with_detail("made", made);
    }
    telemetry.audit(entry);
    response
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
    if !is_json {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_ANSWER_READ).await else {
        // Larger than any admin answer: it was not made whole; say so rather than guess.
        return (
            Response::from_parts(parts, Body::from("answer too large")),
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
}
