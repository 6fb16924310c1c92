//! From verified claims to hub identities: the claim rules that grant teams and the admin role,
//! the identity of a JWT caller, and the user name of a person logging in. Pure functions.

use std::collections::BTreeMap;

use agenthub_policy::{GlobalRole, Identity, SubjectKind, TeamMembership, TeamRole};
use serde_json::{Map, Value};

use crate::config::{ClaimRule, JwtIssuerConfig, TokenKind};
use crate::directory::Directory;

pub type Claims = Map<String, Value>;

/// What the rules grant for one set of claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Team name → the highest role any matching rule grants in it.
    pub teams: BTreeMap<String, TeamRole>,
    pub admin: bool,
}

/// A claim by its exact name (names may contain dots, e.g. `https://example.com/groups`), or
/// else by a dotted path into nested objects (`realm_access.roles`).
pub fn claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn scalar_is(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(s) => s == wanted,
        Value::Bool(b) => b.to_string() == wanted,
        Value::Number(n) => n.to_string() == wanted,
        _ => false,
    }
}

/// Whether a claim value is `wanted`, or a list containing it.
pub fn value_matches(value: &Value, wanted: &str) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| scalar_is(item, wanted)),
        other => scalar_is(other, wanted),
    }
}

/// Applies every rule to the claims.
pub fn evaluate(rules: &[ClaimRule], claims: &Claims) -> Grants {
    let mut grants = Grants::default();
    for rule in rules {
        let Some(value) = claim(claims, &rule.claim) else {
            continue;
        };
        if !value_matches(value, &rule.value) {
            continue;
        }
        if let Some(team) = &rule.team {
            let role = rule.role.unwrap_or(TeamRole::Member);
            let entry = grants.teams.entry(team.clone()).or_insert(role);
            *entry = (*entry).max(role);
        }
        if rule.hub_role == Some(GlobalRole::Admin) {
            grants.admin = true;
        }
    }
    grants
}

/// Why a verified token still does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmappable(pub String);

/// The identity a verified JWT stands for. Teams the rules name but the hub does not have are
/// skipped (and logged at debug level).
pub fn token_identity(
    issuer: &JwtIssuerConfig,
    claims: Claims,
    directory: &Directory,
) -> Result<Identity, Unmappable> {
    let name = match claim(&claims, &issuer.subject_claim) {
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= 256 && !s.contains(char::is_control) =>
        {
            format!("{}{s}", issuer.name_prefix)
        }
        _ => {
            return Err(Unmappable(format!(
                "the token has no usable \"{}\" claim",
                issuer.subject_claim
            )));
        }
    };
    let grants = evaluate(&issuer.rules, &claims);
    let teams = grants
        .teams
        .iter()
        .filter_map(|(team, role)| match directory.team(team) {
            Some(t) => Some(TeamMembership {
                team_id: t.id.clone(),
                team: t.name.clone(),
                role: *role,
            }),
            None => {
                tracing::debug!(issuer = %issuer.name, team, "a claim rule names a team the hub does not have");
                None
            }
        })
        .collect();
    Ok(Identity {
        principal_id: None,
        name,
        kind: match issuer.kind {
            TokenKind::Service => SubjectKind::Service,
            TokenKind::User => SubjectKind::User,
            TokenKind::Agent => SubjectKind::Agent,
        },
        key_id: None,
        key_team: None,
        teams,
        role: if grants.admin {
            GlobalRole::Admin
        } else {
            GlobalRole::Member
        },
        scopes: issuer.scopes(),
        claims,
    })
}

/// A claim value made into a valid hub principal name, if anything usable is left.
fn as_name(value: &str) -> Option<String> {
    let kept: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        .collect();
    let trimmed = kept.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let name: String = trimmed.chars().take(64).collect();
    crate::api::validate_name("name", &name).ok().map(|()| name)
}

/// Names for a new user, best first: the configured claim, then `email`, then a name derived
/// from the stable (issuer, subject) pair. Never used to find an existing user: people are
/// linked by (issuer, subject) only, so a changed or reused email cannot take over an account.
pub fn user_names(
    claims: &Claims,
    username_claim: &str,
    issuer: &str,
    subject: &str,
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in [username_claim, "email"] {
        if let Some(Value::String(value)) = claim(claims, name)
            && let Some(name) = as_name(value)
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    let digest = crate::keys::hash(&format!("{issuer}\n{subject}"));
    names.push(format!("user-{}", &digest[..12]));
    names
}

/// A string claim, trimmed and bounded; `None` when absent or empty.
pub fn text_claim(claims: &Claims, name: &str, max: usize) -> Option<String> {
    match claim(claims, name) {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            Some(s.trim().chars().take(max).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Claims {
        value.as_object().unwrap().clone()
    }

    fn rule(claim: &str, value: &str, team: Option<(&str, TeamRole)>, admin: bool) -> ClaimRule {
        ClaimRule {
            claim: claim.into(),
            value: value.into(),
            team: team.map(|(t, _)| t.into()),
            role: team.map(|(_, r)| r),
            hub_role: admin.then_some(GlobalRole::Admin),
        }
    }

    #[test]
    fn claims_by_name_and_by_path() {
        let c = claims(json!({
            "groups": ["a", "b"],
            "https://example.com/roles": ["x"],
            "realm_access": {"roles": ["kc-admin"]},
            "a.b": "literal wins",
            "a": {"b": "nested"},
        }));
        assert_eq!(claim(&c, "groups"), Some(&json!(["a", "b"])));
        assert_eq!(claim(&c, "https://example.com/roles"), Some(&json!(["x"])));
        assert_eq!(claim(&c, "realm_access.roles"), Some(&json!(["kc-admin"])));
        assert_eq!(claim(&c, "a.b"), Some(&json!("literal wins")));
        assert_eq!(claim(&c, "realm_access.missing"), None);
        assert_eq!(claim(&c, "nope"), None);
    }

    #[test]
    fn values_match_scalars_and_lists() {
        assert!(value_matches(&json!("ml"), "ml"));
        assert!(value_matches(&json!(["x", "ml"]), "ml"));
        assert!(value_matches(&json!(true), "true"));
        assert!(value_matches(&json!([42]), "42"));
        assert!(!value_matches(&json!("mlx"), "ml"));
        assert!(!value_matches(&json!({"ml": true}), "ml"));
        assert!(!value_matches(&json!([["ml"]]), "ml"));
    }

    #[test]
    fn rules_grant_teams_with_the_highest_role_and_admin() {
        let rules = vec![
            rule(
                "groups",
                "ml-engineers",
                Some(("ml", TeamRole::Member)),
                false,
            ),
            rule("groups", "ml-leads", Some(("ml", TeamRole::Owner)), false),
            rule(
                "groups",
                "support",
                Some(("support", TeamRole::Viewer)),
                false,
            ),
            rule("realm_access.roles", "hub-admin", None, true),
            rule(
                "hd",
                "example.com",
                Some(("everyone", TeamRole::Member)),
                false,
            ),
        ];
        let grants = evaluate(
            &rules,
            &claims(json!({
                "groups": ["ml-leads", "ml-engineers"],
                "realm_access": {"roles": ["hub-admin"]},
                "hd": "example.com",
            })),
        );
        assert_eq!(
            grants.teams.into_iter().collect::<Vec<_>>(),
            [
                ("everyone".to_owned(), TeamRole::Member),
                ("ml".to_owned(), TeamRole::Owner)
            ]
        );
        assert!(grants.admin);

        let none = evaluate(
            &rules,
            &claims(json!({"groups": "ml-engineersx", "hd": "evil.com"})),
        );
        assert_eq!(none, Grants::default());
    }

    #[test]
    fn token_identities_take_the_configured_claims() {
        let directory = Directory::default();
        let issuer = JwtIssuerConfig {
            name: "okta".into(),
            subject_claim: "azp".into(),
            kind: TokenKind::Agent,
            name_prefix: "okta:".into(),
            rules: vec![rule("groups", "admins", None, true)],
            ..Default::default()
        };
        let identity = token_identity(
            &issuer,
            claims(json!({"sub": "x", "azp": "billing", "groups": ["admins"]})),
            &directory,
        )
        .unwrap();
        assert_eq!(identity.subject(), "agent:okta:billing");
        assert_eq!(identity.role, GlobalRole::Admin);
        assert!(identity.principal_id.is_none() && identity.key_id.is_none());
        assert!(identity.is_admin_with(agenthub_policy::Scope::Admin));
        assert_eq!(identity.claims["azp"], "billing");

        for bad in [json!({"sub": "x"}), json!({"azp": 7}), json!({"azp": ""})] {
            assert!(token_identity(&issuer, claims(bad), &directory).is_err());
        }
    }

    #[test]
    fn user_names_are_valid_and_never_empty() {
        let c = claims(json!({
            "preferred_username": "Alice Smith (Ops)",
            "email": "alice@example.com",
        }));
        assert_eq!(
            user_names(&c, "preferred_username", "https://idp", "123")[..2],
            ["AliceSmithOps", "alice@example.com"]
        );
        let names = user_names(
            &claims(json!({"preferred_username": "---"})),
            "preferred_username",
            "i",
            "s",
        );
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with("user-") && names[0].len() == 17);
    }
}
