//! The authentication front door: turns a request's credentials into an [`Identity`].

use std::sync::Arc;

use agenthub_policy::Identity;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::app::AppState;
use crate::error::Error;
use crate::model::now_millis;

/// The authenticated caller of a request. Extracting it rejects the request with 401 when the
/// credentials are missing or do not authenticate.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Identity>);

impl std::ops::Deref for Caller {
    type Target = Identity;
    fn deref(&self) -> &Identity {
        &self.0
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

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let key = presented_key(&parts.headers).ok_or_else(Error::unauthenticated)?;
        let identity = state
            .accounts
            .snapshot()
            .authenticate(key, now_millis())
            .ok_or_else(Error::unauthenticated)?;
        Ok(Caller(identity))
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
}
