//! Slack's OAuth v2 dialect (`dialect: slack`): what departs from RFC 6749 in
//! `https://slack.com/oauth/v2/authorize` and `https://slack.com/api/oauth.v2.access`.
//!
//! - User scopes go in `user_scope`, comma-separated (`scope` is for the app's bot).
//! - The token endpoint answers HTTP 200 whether it issued tokens or not: `ok: false` with an
//!   error code (`invalid_code`, `invalid_refresh_token`, `bad_client_secret`, …) is a refusal.
//! - A code exchange puts the bot token at the top level and the user's own token under
//!   `authed_user` (with its `scope`, and with token rotation its `refresh_token` and
//!   `expires_in`); a refresh of a user token answers with it at the top level, `token_type:
//!   "user"`. A user's grant is always that user token: the bot token is the workspace's, the
//!   same for everyone, and never taken for a user.

use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::oauth::{Refusal, TokenAnswer, Unanswered};

/// Slack's error codes that say the code or refresh token itself is no good (used, expired,
/// revoked): the user must consent again.
const GRANT_REFUSED: &[&str] = &[
    "invalid_code",
    "invalid_grant",
    "invalid_refresh_token",
    "token_revoked",
    "token_expired",
];

/// The user scopes of an authorization request, as Slack takes them.
pub(crate) fn user_scope(scopes: &[String]) -> String {
    scopes.join(",")
}

/// One token in Slack's answer: the top level or `authed_user`.
#[derive(Deserialize)]
struct SlackToken {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

/// Reads an answer of `oauth.v2.access`: the user token, or why there is none.
pub(crate) fn read(status: StatusCode, bytes: &[u8]) -> Result<TokenAnswer, Unanswered> {
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    let error = body
        .as_ref()
        .and_then(|b| b["error"].as_str())
        .map(str::to_owned);
    if !status.is_success() {
        return Err(refused(error, &format!("Slack answered {status}")));
    }
    let Some(body) = body.filter(|b| b["ok"].is_boolean()) else {
        return Err(Unanswered::Malformed(
            "its answer is not Slack's (no `ok`): is dialect slack right for this token_url?"
                .to_owned(),
        ));
    };
    if body["ok"] == false {
        return Err(refused(error, "Slack refused it"));
    }
    // serde's message could quote a value of the answer: a token, perhaps.
    let token_at = |value: &Value| {
        SlackToken::deserialize(value).map_err(|_| {
            Unanswered::Malformed("Slack's answer has a token of an unexpected shape".to_owned())
        })
    };
    let nested = match &body["authed_user"] {
        Value::Null => None,
        value => Some(token_at(value)?),
    };
    let top = token_at(&body)?;
    let user = match nested {
        Some(nested) if nested.access_token.is_some() => nested,
        _ if top.token_type.as_deref() == Some("user") => top,
        _ => {
            return Err(Unanswered::Malformed(
                "Slack issued no user token (a bot token is the workspace's, not the user's): \
                 list user scopes in oauth.scopes, and let the Slack app ask for them"
                    .to_owned(),
            ));
        }
    };
    Ok(TokenAnswer {
        access_token: user.access_token.unwrap_or_default(),
        token_type: None,
        expires_in: user.expires_in,
        refresh_token: user.refresh_token,
        // Slack lists scopes with commas; grants keep them space-separated (RFC 6749 §3.3).
        scope: user.scope.map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        }),
    })
}

/// A refusal with Slack's error code, and what to do about the common ones.
fn refused(error: Option<String>, what: &str) -> Unanswered {
    let code = error.as_deref().unwrap_or("no error code");
    let hint = match code {
        "invalid_code" => ": the code expired or was used already; grant access again",
        "invalid_refresh_token" | "invalid_grant" | "token_revoked" | "token_expired" => {
            ": the user's grant is no longer valid; they must grant access again"
        }
        "bad_client_secret" | "invalid_client_id" => {
            ": check oauth.client_id and oauth.client_secret against the Slack app's credentials"
        }
        "bad_redirect_uri" => {
            ": add the hub's <public_url>/mcp/oauth/callback to the Slack app's redirect URLs"
        }
        "invalid_grant_type" => ": is token rotation enabled in the Slack app?",
        _ => "",
    };
    Unanswered::Refused(Refusal {
        grant_refused: GRANT_REFUSED.contains(&code),
        detail: format!("{what} with \"{code}\"{hint}"),
        error,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_json(value: Value) -> Result<TokenAnswer, Unanswered> {
        read(StatusCode::OK, &serde_json::to_vec(&value).unwrap())
    }

    fn refusal(result: Result<TokenAnswer, Unanswered>) -> Refusal {
        match result {
            Err(Unanswered::Refused(refusal)) => refusal,
            other => panic!("not a refusal: {other:?}"),
        }
    }

    /// Slack's documented answer to a code exchange for bot and user scopes, with rotation.
    #[test]
    fn the_user_token_is_taken_from_authed_user_never_the_bot_token() {
        let answer = read_json(json!({
            "ok": true, "access_token": "xoxe.xoxb-bot", "token_type": "bot",
            "scope": "commands,incoming-webhook", "bot_user_id": "U0KRQLJ9H", "app_id": "A0KRD7HC3",
            "refresh_token": "xoxe-1-bot", "expires_in": 43200,
            "team": {"name": "Slack Softball Team", "id": "T9TK3CUKW"}, "enterprise": null,
            "authed_user": {"id": "U1234", "scope": "search:read,channels:history",
                            "access_token": "xoxe.xoxp-user", "token_type": "user",
                            "refresh_token": "xoxe-1-user", "expires_in": 43200}
        }))
        .unwrap();
        assert_eq!(answer.access_token, "xoxe.xoxp-user");
        assert_eq!(answer.refresh_token.as_deref(), Some("xoxe-1-user"));
        assert_eq!(answer.expires_in, Some(43200));
        assert_eq!(
            answer.scope.as_deref(),
            Some("search:read channels:history")
        );
        assert_eq!(answer.token_type, None);
    }

    /// Only user scopes, no rotation: no top-level token, and one that never expires.
    #[test]
    fn a_user_token_alone_without_rotation_has_no_refresh_token() {
        let answer = read_json(json!({
            "ok": true, "app_id": "A0KRD7HC3", "team": {"id": "T9TK3CUKW"},
            "authed_user": {"id": "U1234", "scope": "search:read",
                            "access_token": "xoxp-user", "token_type": "user"}
        }))
        .unwrap();
        assert_eq!(answer.access_token, "xoxp-user");
        assert_eq!((answer.refresh_token, answer.expires_in), (None, None));
    }

    /// A refresh of a user token answers with it at the top level.
    #[test]
    fn a_refreshed_user_token_is_at_the_top_level() {
        let answer = read_json(json!({
            "ok": true, "app_id": "A0KRD7HC3", "token_type": "user", "scope": "search:read",
            "access_token": "xoxe.xoxp-2", "refresh_token": "xoxe-1-2", "expires_in": 43200,
            "team": {"id": "T9TK3CUKW"}, "authed_user": {"id": "U1234"}
        }))
        .unwrap();
        assert_eq!(answer.access_token, "xoxe.xoxp-2");
        assert_eq!(answer.refresh_token.as_deref(), Some("xoxe-1-2"));
    }

    #[test]
    fn a_bot_token_alone_is_no_users_grant() {
        let Err(Unanswered::Malformed(why)) = read_json(json!({
            "ok": true, "access_token": "xoxb-bot", "token_type": "bot",
            "authed_user": {"id": "U1234"}
        })) else {
            panic!("a bot token was taken")
        };
        assert!(why.contains("no user token"), "{why}");
        assert!(!why.contains("xoxb"), "{why}");
    }

    #[test]
    fn ok_false_is_a_refusal_naming_slacks_error() {
        let code = refusal(read_json(json!({"ok": false, "error": "invalid_code"})));
        assert_eq!(code.error.as_deref(), Some("invalid_code"));
        assert!(code.grant_refused);
        assert!(
            code.detail
                .starts_with("Slack refused it with \"invalid_code\": the code expired"),
            "{}",
            code.detail
        );
        let rotated = refusal(read_json(
            json!({"ok": false, "error": "invalid_refresh_token"}),
        ));
        assert!(rotated.grant_refused);
        // The app's own settings are wrong: no user's grant is at fault.
        let secret = refusal(read_json(
            json!({"ok": false, "error": "bad_client_secret"}),
        ));
        assert!(!secret.grant_refused);
        assert!(
            secret.detail.contains("oauth.client_secret"),
            "{}",
            secret.detail
        );
        let unknown = refusal(read_json(json!({"ok": false})));
        assert_eq!(unknown.error, None);
        assert!(
            unknown.detail.contains("no error code"),
            "{}",
            unknown.detail
        );
        // Slack can also answer an OAuth error with a 4xx.
        let standard = refusal(read(
            StatusCode::BAD_REQUEST,
            br#"{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}"#,
        ));
        assert!(standard.grant_refused);
        assert!(standard.detail.contains("400"), "{}", standard.detail);
    }

    #[test]
    fn odd_answers_are_errors_not_panics() {
        for body in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"ok": "yes"}"#,
            br#"{"ok": true}"#,
            br#"{"ok": true, "authed_user": "xoxp-1"}"#,
            br#"{"ok": true, "authed_user": {"access_token": 1}}"#,
            br#"{"ok": true, "authed_user": {"access_token": "xoxp-1", "expires_in": -1}}"#,
        ] {
            assert!(
                matches!(read(StatusCode::OK, body), Err(Unanswered::Malformed(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn user_scopes_are_comma_separated() {
        let scopes = ["search:read".to_owned(), "channels:history".to_owned()];
        assert_eq!(user_scope(&scopes), "search:read,channels:history");
    }
}
