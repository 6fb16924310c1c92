//! The `auth:` section: which identity providers the hub trusts, for machines (JWT bearer
//! tokens) and for people (OIDC login), how their claims map to hub teams and roles, and how
//! long login sessions last.

use std::collections::HashSet;
use std::time::Duration;

use agenthub_policy::{GlobalRole, Scopes, TeamRole};
use serde::Deserialize;

use super::ConfigError;
use crate::secrets::SecretRef;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The hub's external base URL (`https://hub.example.com`): OIDC redirect URIs are built on
    /// it, and cookie-authenticated writes must come from its origin. Required with
    /// `oidc_providers`.
    pub public_url: Option<String>,
    /// Issuers whose JWT access tokens are accepted as bearer credentials.
    pub jwt_issuers: Vec<JwtIssuerConfig>,
    /// OpenID providers people log in with (web console and `agenthub login`).
    pub oidc_providers: Vec<OidcProviderConfig>,
    pub sessions: SessionConfig,
}

/// A signature algorithm a token may be signed with. `none` is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum JwsAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    /// HMAC algorithms: only with a shared secret from the secret store, never a public key.
    HS256,
    HS384,
    HS512,
}

impl JwsAlgorithm {
    /// The default allow-list: every asymmetric algorithm.
    pub const ASYMMETRIC: [JwsAlgorithm; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    pub fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
            Self::HS256 => A::HS256,
            Self::HS384 => A::HS384,
            Self::HS512 => A::HS512,
        }
    }
}

fn default_algorithms() -> Vec<JwsAlgorithm> {
    JwsAlgorithm::ASYMMETRIC.to_vec()
}

/// What kind of caller an issuer's tokens stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    #[default]
    Service,
    User,
    Agent,
}

/// One issuer of JWT bearer tokens (OAuth client credentials for agents and services, or
/// access tokens of people).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtIssuerConfig {
    /// A short name for logs and metrics.
    pub name: String,
    /// The exact `iss` value of its tokens.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one. Required.
    pub audiences: Vec<String>,
    /// The JWKS URL. Absent: discovered from `<issuer>/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// Accepted signature algorithms (default: every asymmetric one).
    pub algorithms: Vec<JwsAlgorithm>,
    /// `secret:NAME`: the shared secret for HS256/384/512 tokens. Required with HS* algorithms.
    pub hmac_secret: Option<String>,
    /// Clock skew allowed on `exp` and `nbf` (at most 5m).
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// How often the JWKS is fetched again.
    #[serde(with = "humantime_serde")]
    pub jwks_refresh_interval: Duration,
    /// The least time between two fetches, including those triggered by an unknown `kid`.
    #[serde(with = "humantime_serde")]
    pub jwks_min_refresh_interval: Duration,
    /// The claim that names the caller: `sub` (default), `azp`, `client_id`, `email`, …
    pub subject_claim: String,
    /// What the caller is: `service` (default), `user` or `agent`.
    pub kind: TokenKind,
    /// Prepended to the name, to keep these callers apart from the hub's own principals.
    pub name_prefix: String,
    /// The scopes these callers get (default `*`: whatever their mapped roles allow).
    pub scopes: Vec<String>,
    /// Claim values that grant teams and roles.
    pub rules: Vec<ClaimRule>,
}

impl Default for JwtIssuerConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            issuer: String::new(),
            audiences: Vec::new(),
            jwks_url: None,
            algorithms: default_algorithms(),
            hmac_secret: None,
            leeway: Duration::from_secs(60),
            jwks_refresh_interval: Duration::from_secs(600),
            jwks_min_refresh_interval: Duration::from_secs(30),
            subject_claim: "sub".to_owned(),
            kind: TokenKind::Service,
            name_prefix: String::new(),
            scopes: vec!["*".to_owned()],
            rules: Vec::new(),
        }
    }
}

impl JwtIssuerConfig {
    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scopes).unwrap_or_default()
    }
}

/// One OpenID provider people log in with (authorization code + PKCE).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcProviderConfig {
    /// In URLs: `/auth/oidc/<name>/login`. Lowercase letters, digits and `-`.
    pub name: String,
    /// Shown on the login page.
    pub display_name: Option<String>,
    /// The issuer URL; its discovery document is at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// `secret:NAME` (from the secret store) or the value itself (e.g. `${OKTA_CLIENT_SECRET}`).
    /// Absent: a public client, PKCE only.
    pub client_secret: Option<String>,
    /// Requested scopes; must include `openid`.
    pub scopes: Vec<String>,
    /// Accepted ID token signature algorithms (asymmetric only).
    pub algorithms: Vec<JwsAlgorithm>,
    /// The claim the hub user name is taken from (then `email`, then `sub`).
    pub username_claim: String,
    /// Claim values that grant teams and roles, applied at every login.
    pub rules: Vec<ClaimRule>,
}

impl Default for OidcProviderConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            display_name: None,
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
            algorithms: default_algorithms(),
            username_claim: "preferred_username".to_owned(),
            rules: Vec::new(),
        }
    }
}

/// A claim value that grants a team membership and/or the hub admin role.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimRule {
    /// The claim: a top-level name (`groups`, `https://example.com/roles`), or a dotted path
    /// into nested objects (`realm_access.roles`).
    pub claim: String,
    /// Matches a claim equal to it, or a list containing it.
    pub value: String,
    /// The team granted (by name). It must exist in the hub.
    pub team: Option<String>,
    /// The role in `team` (default `member`).
    pub role: Option<TeamRole>,
    /// `admin`: makes the caller a hub administrator.
    pub hub_role: Option<GlobalRole>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// How long a web console session lasts.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How long a session created by `agenthub login` lasts.
    #[serde(with = "humantime_serde")]
    pub cli_ttl: Duration,
    /// How long a person has to complete a login at the provider.
    #[serde(with = "humantime_serde")]
    pub login_timeout: Duration,
    /// How many logins may be started and not yet finished or expired, across replicas; more
    /// are refused (503) until some finish or expire. Each started login is a row in the store.
    pub max_pending_logins: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(12 * 3600),
            cli_ttl: Duration::from_secs(7 * 24 * 3600),
            login_timeout: Duration::from_secs(600),
            max_pending_logins: 10_000,
        }
    }
}

/// `scheme://host[:port]` of an http(s) URL, without a trailing slash; `None` if `url` is not
/// one.
pub fn http_url(url: &str) -> Option<reqwest::Url> {
    let parsed = reqwest::Url::parse(url).ok()?;
    (matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some()).then_some(parsed)
}

impl AuthConfig {
    /// The public URL without a trailing slash.
    pub fn public_base(&self) -> Option<&str> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/'))
    }

    pub(super) fn check(&self, errors: &mut Vec<ConfigError>) {
        let mut err = |path: String, message: String| errors.push(ConfigError::new(path, message));
        if let Some(url) = &self.public_url {
            match http_url(url) {
                Some(parsed) if parsed.path().trim_end_matches('/').is_empty() => {}
                Some(_) => err(
                    "auth.public_url".into(),
                    format!(
                        "\"{url}\" must be a bare origin such as https://hub.example.com (no path)"
                    ),
                ),
                None => err(
                    "auth.public_url".into(),
                    format!("\"{url}\" is not an http(s) URL"),
                ),
            }
        } else if !self.oidc_providers.is_empty() {
            err(
                "auth.public_url".into(),
                "required with oidc_providers: the redirect URIs are built on it".into(),
            );
        }

        let mut names = HashSet::new();
        let mut issuers = HashSet::new();
        for (i, issuer) in self.jwt_issuers.iter().enumerate() {
            let at = |field: &str| format!("auth.jwt_issuers[{i}].{field}");
            if issuer.name.trim().is_empty() {
                err(at("name"), "required".into());
            } else if !names.insert(issuer.name.as_str()) {
                err(
                    at("name"),
                    format!("duplicate issuer name \"{}\"", issuer.name),
                );
            }
            if issuer.issuer.is_empty() {
                err(at("issuer"), "required".into());
            } else if http_url(&issuer.issuer).is_none() {
                err(
                    at("issuer"),
                    format!("\"{}\" is not an http(s) URL", issuer.issuer),
                );
            } else if !issuers.insert(issuer.issuer.as_str()) {
                err(
                    at("issuer"),
                    format!("issuer \"{}\" is configured twice", issuer.issuer),
                );
            }
            if issuer.audiences.is_empty() || issuer.audiences.iter().any(|a| a.is_empty()) {
                err(
                    at("audiences"),
                    "at least one non-empty audience is required (tokens for other applications must not be accepted)".into(),
                );
            }
            if let Some(url) = &issuer.jwks_url
                && http_url(url).is_none()
            {
                err(at("jwks_url"), format!("\"{url}\" is not an http(s) URL"));
            }
            if issuer.algorithms.is_empty() {
                err(
                    at("algorithms"),
                    "at least one algorithm is required".into(),
                );
            }
            let hmac = issuer.algorithms.iter().any(|a| a.is_hmac());
            match (&issuer.hmac_secret, hmac) {
                (None, true) => err(
                    at("algorithms"),
                    "HS256/HS384/HS512 need hmac_secret (secret:NAME); a public key is never used as an HMAC secret".into(),
                ),
                (Some(_), false) => err(
                    at("hmac_secret"),
                    "only used with an HS256/HS384/HS512 algorithm".into(),
                ),
                (Some(secret), true) => match SecretRef::parse(secret) {
                    Some(Ok(_)) => {}
                    Some(Err(message)) => err(at("hmac_secret"), message),
                    None => err(
                        at("hmac_secret"),
                        "must reference the secret store as secret:NAME".into(),
                    ),
                },
                (None, false) => {}
            }
            if issuer.leeway > Duration::from_secs(300) {
                err(at("leeway"), "must be at most 5m".into());
            }
            if issuer.jwks_min_refresh_interval < Duration::from_secs(1) {
                err(
                    at("jwks_min_refresh_interval"),
                    "must be at least 1s".into(),
                );
            }
            if issuer.jwks_refresh_interval < issuer.jwks_min_refresh_interval {
                err(
                    at("jwks_refresh_interval"),
                    "must be at least jwks_min_refresh_interval".into(),
                );
            }
            if issuer.subject_claim.is_empty() {
                err(at("subject_claim"), "required".into());
            }
            if let Err(e) = Scopes::parse(&issuer.scopes) {
                err(at("scopes"), e.to_string());
            }
            check_rules(&issuer.rules, &at("rules"), &mut err);
        }

        let mut names = HashSet::new();
        for (i, provider) in self.oidc_providers.iter().enumerate() {
            let at = |field: &str| format!("auth.oidc_providers[{i}].{field}");
            let valid_name = !provider.name.is_empty()
                && provider.name.len() <= 32
                && provider
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid_name {
                err(
                    at("name"),
                    format!(
                        "invalid provider name \"{}\": use 1-32 lowercase letters, digits or '-'",
                        provider.name
                    ),
                );
            } else if !names.insert(provider.name.as_str()) {
                err(
                    at("name"),
                    format!("duplicate provider name \"{}\"", provider.name),
                );
            }
            if provider.issuer.is_empty() {
                err(at("issuer"), "required".into());
            } else if http_url(&provider.issuer).is_none() {
                err(
                    at("issuer"),
                    format!("\"{}\" is not an http(s) URL", provider.issuer),
                );
            }
            if provider.client_id.is_empty() {
                err(at("client_id"), "required".into());
            }
            if let Some(secret) = &provider.client_secret {
                match SecretRef::parse(secret) {
                    Some(Err(message)) => err(at("client_secret"), message),
                    _ if secret.is_empty() => err(at("client_secret"), "empty".into()),
                    _ => {}
                }
            }
            if !provider.scopes.iter().any(|s| s == "openid") {
                err(at("scopes"), "must include openid".into());
            }
            if provider.algorithms.is_empty() {
                err(
                    at("algorithms"),
                    "at least one algorithm is required".into(),
                );
            }
            if provider.algorithms.iter().any(|a| a.is_hmac()) {
                err(
                    at("algorithms"),
                    "HMAC-signed ID tokens are not accepted; use an asymmetric algorithm".into(),
                );
            }
            if provider.username_claim.is_empty() {
                err(at("username_claim"), "required".into());
            }
            check_rules(&provider.rules, &at("rules"), &mut err);
        }

        let s = &self.sessions;
        for (field, value) in [("ttl", s.ttl), ("cli_ttl", s.cli_ttl)] {
            if value < Duration::from_secs(60) {
                err(
                    format!("auth.sessions.{field}"),
                    "must be at least 1m".into(),
                );
            }
        }
        if s.login_timeout < Duration::from_secs(30) || s.login_timeout > Duration::from_secs(3600)
        {
            err(
                "auth.sessions.login_timeout".into(),
                "must be between 30s and 1h".into(),
            );
        }
        if s.max_pending_logins == 0 {
            err(
                "auth.sessions.max_pending_logins".into(),
                "must be at least 1".into(),
            );
        }
    }
}

fn check_rules(rules: &[ClaimRule], at: &str, err: &mut impl FnMut(String, String)) {
    for (i, rule) in rules.iter().enumerate() {
        let field = |name: &str| format!("{at}[{i}].{name}");
        if rule.claim.is_empty() {
            err(field("claim"), "required".into());
        }
        if rule.value.is_empty() {
            err(field("value"), "required".into());
        }
        if rule.team.is_none() && rule.hub_role.is_none() {
            err(
                format!("{at}[{i}]"),
                "a rule grants a team, a hub_role, or both".into(),
            );
        }
        if rule.role.is_some() && rule.team.is_none() {
            err(field("role"), "needs a team".into());
        }
        if rule.hub_role == Some(GlobalRole::Member) {
            err(
                field("hub_role"),
                "only admin can be granted (member is everyone's role)".into(),
            );
        }
        if let Some(team) = &rule.team
            && let Err(e) = crate::api::validate_name("team", team)
        {
            err(
                field("team"),
                e.message().trim_start_matches("team: ").to_owned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::HubConfig;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_full_auth_section_parses() {
        let yaml = r#"
auth:
  public_url: https://hub.example.com
  jwt_issuers:
    - name: okta
      issuer: https://example.okta.com/oauth2/default
      audiences: [api://agenthub]
      subject_claim: cid
      kind: agent
      leeway: 30s
      rules:
        - {claim: groups, value: ml-engineers, team: ml, role: member}
        - {claim: groups, value: hub-admins, hub_role: admin}
    - name: legacy
      issuer: https://legacy.example.com
      audiences: [agenthub]
      algorithms: [HS256]
      hmac_secret: secret:legacy-jwt
  oidc_providers:
    - name: entra
      issuer: https://login.microsoftonline.com/TENANT/v2.0
      client_id: 00000000-0000-0000-0000-000000000000
      client_secret: secret:entra-client
      scopes: [openid, email, profile]
      rules:
        - {claim: roles, value: Hub.Admin, hub_role: admin}
  sessions:
    ttl: 8h
"#;
        let config = HubConfig::parse(yaml, "t", &no_env).unwrap();
        let auth = &config.auth;
        assert_eq!(auth.jwt_issuers.len(), 2);
        assert_eq!(auth.jwt_issuers[0].leeway.as_secs(), 30);
        assert_eq!(auth.jwt_issuers[1].algorithms, [super::JwsAlgorithm::HS256]);
        assert_eq!(
            auth.jwt_issuers[0].algorithms,
            super::JwsAlgorithm::ASYMMETRIC
        );
        assert_eq!(auth.oidc_providers[0].username_claim, "preferred_username");
        assert_eq!(auth.sessions.ttl.as_secs(), 8 * 3600);
        assert_eq!(auth.public_base(), Some("https://hub.example.com"));
    }

    /// Data-driven: each file and every error it must produce, in order.
    #[test]
    fn every_auth_error_is_reported_with_its_path() {
        let cases: &[(&str, &[&str])] = &[
            (
                "auth:\n  jwt_issuers:\n    - name: a\n      issuer: https://a\n      algorithms: [none]\n",
                &["auth.jwt_issuers[0].algorithms[0]: unknown variant `none`"],
            ),
            (
                "auth:\n  jwt_issuers:\n    - issuer: not-a-url\n      audiences: []\n      algorithms: [RS256, HS256]\n      leeway: 10m\n      scopes: [admn]\n",
                &[
                    "auth.jwt_issuers[0].name: required",
                    "auth.jwt_issuers[0].issuer: \"not-a-url\" is not an http(s) URL",
                    "auth.jwt_issuers[0].audiences: at least one non-empty audience is required",
                    "auth.jwt_issuers[0].algorithms: HS256/HS384/HS512 need hmac_secret",
                    "auth.jwt_issuers[0].leeway: must be at most 5m",
                    "auth.jwt_issuers[0].scopes: unknown scope \"admn\"",
                ],
            ),
            (
                "auth:\n  jwt_issuers:\n    - {name: a, issuer: 'https://a', audiences: [x], algorithms: [HS256], hmac_secret: plaintext}\n    - {name: a, issuer: 'https://a', audiences: [x], hmac_secret: 'secret:x'}\n",
                &[
                    "auth.jwt_issuers[0].hmac_secret: must reference the secret store as secret:NAME",
                    "auth.jwt_issuers[1].name: duplicate issuer name \"a\"",
                    "auth.jwt_issuers[1].issuer: issuer \"https://a\" is configured twice",
                    "auth.jwt_issuers[1].hmac_secret: only used with an HS256/HS384/HS512 algorithm",
                ],
            ),
            (
                "auth:\n  jwt_issuers:\n    - name: a\n      issuer: https://a\n      audiences: [x]\n      rules:\n        - {claim: groups, value: x}\n        - {claim: '', value: '', role: owner}\n        - {claim: g, value: v, hub_role: member, team: 'bad team'}\n",
                &[
                    "auth.jwt_issuers[0].rules[0]: a rule grants a team, a hub_role, or both",
                    "auth.jwt_issuers[0].rules[1].claim: required",
                    "auth.jwt_issuers[0].rules[1].value: required",
                    "auth.jwt_issuers[0].rules[1]: a rule grants a team, a hub_role, or both",
                    "auth.jwt_issuers[0].rules[1].role: needs a team",
                    "auth.jwt_issuers[0].rules[2].hub_role: only admin can be granted",
                    "auth.jwt_issuers[0].rules[2].team: invalid name \"bad team\"",
                ],
            ),
            (
                "auth:\n  oidc_providers:\n    - name: Okta!\n      issuer: https://okta\n      scopes: [email]\n      algorithms: [HS256]\n      rules: [{claim: groups, value: x, team: ml, role: boss}]\n",
                &[
                    "auth.oidc_providers[0].rules[0].role: unknown variant `boss`",
                    "auth.public_url: required with oidc_providers",
                    "auth.oidc_providers[0].name: invalid provider name \"Okta!\"",
                    "auth.oidc_providers[0].client_id: required",
                    "auth.oidc_providers[0].scopes: must include openid",
                    "auth.oidc_providers[0].algorithms: HMAC-signed ID tokens are not accepted",
                ],
            ),
            (
                "auth:\n  public_url: https://hub.example.com/console\n  sessions: {ttl: 10s, login_timeout: 2h, max_pending_logins: 0}\n  oidc_providers:\n    - {name: okta, issuer: 'https://okta', client_id: x, client_secret: 'secret:bad name'}\n    - {name: okta, issuer: 'https://okta', client_id: y}\n",
                &[
                    "auth.public_url: \"https://hub.example.com/console\" must be a bare origin",
                    "auth.oidc_providers[0].client_secret: invalid secret name \"bad name\"",
                    "auth.oidc_providers[1].name: duplicate provider name \"okta\"",
                    "auth.sessions.ttl: must be at least 1m",
                    "auth.sessions.login_timeout: must be between 30s and 1h",
                    "auth.sessions.max_pending_logins: must be at least 1",
                ],
            ),
            (
                "auth:\n  jwt_isuers: []\n",
                &[
                    "auth.jwt_isuers: unknown key (expected one of `public_url`, `jwt_issuers`, `oidc_providers`, `sessions`)",
                ],
            ),
        ];
        for (yaml, expected) in cases {
            let got: Vec<String> = match HubConfig::parse(yaml, "t", &no_env) {
                Ok(config) => panic!("expected errors, got {config:?}"),
                Err(e) => e.errors.iter().map(ToString::to_string).collect(),
            };
            assert_eq!(got.len(), expected.len(), "{yaml}\n got: {got:#?}");
            for (got, want) in got.iter().zip(expected.iter()) {
                assert!(got.starts_with(want), "{yaml}\n got:  {got}\n want: {want}");
            }
        }
    }
}
