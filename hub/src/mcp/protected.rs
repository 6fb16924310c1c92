//! `/mcp` as an OAuth 2.1 protected resource (RFC 9728, as MCP's authorization spec asks):
//! its metadata at `/.well-known/oauth-protected-resource[/mcp]` naming the authorization
//! servers whose tokens the hub accepts (the `auth.jwt_issuers`), the `resource_metadata`
//! pointer in every 401 from `/mcp`, and the audience binding of RFC 8707: a token presented
//! to `/mcp` must have been issued for it (`aud` names `<auth.public_url>/mcp`), so a token
//! meant for another service cannot be replayed here. API keys are not tokens and keep working.
//!
//! A virtual server, `/mcp/<name>`, is a protected resource of its own, with its metadata at
//! `…/oauth-protected-resource/mcp/<name>` (served for any name, so that it tells no one which
//! exist). It accepts tokens issued for itself or for `/mcp`: a virtual server grants nothing
//! that `/mcp` does not.
//!
//! All of it needs `auth.public_url`, the hub's canonical URL; without it there is no
//! metadata and no audience binding.

use agenthub_policy::ErrorKind;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::Value;

use crate::app::AppState;
use crate::auth::Caller;
use crate::config::HubConfig;
use crate::error::Error;

/// The path of the hub's MCP endpoint.
pub const MCP_PATH: &str = "/mcp";
/// Where the metadata of `/mcp` is served (RFC 9728 §3.1: the well-known prefix, then the
/// resource's path).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
/// Where a virtual server's is.
const VIRTUAL_METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp/{name}";
/// The same document at the root, for clients that look there first.
const ROOT_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The canonical URL of the MCP endpoint at `path` (`/mcp`, `/mcp/<name>`), when the hub knows
/// its own.
pub fn resource(config: &HubConfig, path: &str) -> Option<String> {
    let base = config.auth.public_url.as_deref()?.trim_end_matches('/');
    Some(format!("{base}{path}"))
}

/// `path` when it is a virtual server's endpoint (`/mcp/<name>`); `None` for `/mcp` itself.
pub fn virtual_path(path: &str) -> Option<&str> {
    let name = path.strip_prefix("/mcp/")?;
    (!name.is_empty() && !name.contains('/')).then_some(path)
}

/// RFC 9728 protected resource metadata.
#[derive(Debug, Serialize)]
struct Metadata {
    resource: String,
    authorization_servers: Vec<String>,
    bearer_methods_supported: [&'static str; 1],
    resource_name: &'static str,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(METADATA_PATH, get(metadata))
        .route(ROOT_METADATA_PATH, get(metadata))
        .route(VIRTUAL_METADATA_PATH, get(virtual_metadata))
}

async fn metadata(State(state): State<AppState>) -> Result<Json<Metadata>, Error> {
    metadata_of(&state, MCP_PATH)
}

async fn virtual_metadata(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Metadata>, Error> {
    metadata_of(&state, &format!("{MCP_PATH}/{name}"))
}

fn metadata_of(state: &AppState, path: &str) -> Result<Json<Metadata>, Error> {
    let config = state.config.snapshot();
    let resource = resource(&config, path).ok_or_else(|| {
        Error::not_found("protected resource metadata (set auth.public_url to publish it)")
    })?;
    Ok(Json(Metadata {
        resource,
        authorization_servers: config
            .auth
            .jwt_issuers
            .iter()
            .map(|i| i.issuer.clone())
            .collect(),
        bearer_methods_supported: ["header"],
        resource_name: "agenthub",
    }))
}

/// A 401 from the MCP endpoint at `path`: the hub's error body, with a challenge that points
/// at its metadata; `invalid_token` when a token was presented but cannot be used here (RFC
/// 6750 §3.1).
pub fn unauthorized(config: &HubConfig, path: &str, error: Error, invalid_token: bool) -> Response {
    let code = if invalid_token {
        ", error=\"invalid_token\""
    } else {
        ""
    };
    let challenge = match config.auth.public_url.as_deref() {
        Some(base) => format!(
            "Bearer realm=\"agenthub\", resource_metadata=\"{}{ROOT_METADATA_PATH}{path}\"{code}",
            base.trim_end_matches('/')
        ),
        None => format!("Bearer realm=\"agenthub\"{code}"),
    };
    let mut response = error.into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Refuses a token that was not issued for the MCP endpoint at `path` (RFC 8707), or, for a
/// virtual server, for `/mcp`. Callers authenticated by an API key or a session carry no `iss`
/// claim and are not affected.
pub fn check_audience(config: &HubConfig, path: &str, caller: &Caller) -> Result<(), Error> {
    let Some(resource) = resource(config, path) else {
        return Ok(());
    };
    let claims = &caller.identity.claims;
    if !claims.contains_key("iss") {
        return Ok(());
    }
    let whole = (path != MCP_PATH)
        .then(|| self::resource(config, MCP_PATH))
        .flatten();
    let ours = |aud: &str| {
        same_resource(aud, &resource) || whole.as_deref().is_some_and(|w| same_resource(aud, w))
    };
    let issued_for_us = match claims.get("aud") {
        Some(Value::String(aud)) => ours(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(ours),
        _ => false,
    };
    if issued_for_us {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Unauthenticated,
            format!(
                "the token's audience does not include {resource}; request a token for this resource (RFC 8707 resource indicator)"
            ),
        ))
    }
}

/// Resource URLs compare without a trailing slash.
fn same_resource(aud: &str, resource: &str) -> bool {
    aud.trim_end_matches('/') == resource
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_segment_under_mcp_is_a_virtual_server() {
        for (path, expected) in [
            ("/mcp", None),
            ("/mcp/", None),
            ("/mcp/support", Some("/mcp/support")),
            ("/mcp/support/x", None),
            ("/mcpx", None),
        ] {
            assert_eq!(virtual_path(path), expected, "{path}");
        }
    }

    #[test]
    fn audiences_compare_without_a_trailing_slash() {
        let cases = [
            ("https://hub.example.com/mcp", true),
            ("https://hub.example.com/mcp/", true),
            ("https://hub.example.com", false),
            ("https://hub.example.com/mcp/x", false),
            ("urn:agenthub", false),
        ];
        for (aud, same) in cases {
            assert_eq!(
                same_resource(aud, "https://hub.example.com/mcp"),
                same,
                "{aud}"
            );
        }
    }
}
