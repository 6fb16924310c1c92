//! The hub's own records: principals, teams, memberships, API keys and secret metadata.
//! These are the core types; the admin API's wire types are in `api`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use agenthub_policy::{GlobalRole, Scopes, TeamRole};

/// Milliseconds since the Unix epoch: the one time representation in the store.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new time-ordered id, so that id order is creation order (used by pagination).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A UUIDv7 for something that happened at `at`, its random part from a per-thread generator
/// (no system call): for the many records the hub makes per second.
pub fn time_ordered_id(at: Millis) -> String {
    let random: [u8; 10] = fastrand::u128(..).to_le_bytes()[..10]
        .try_into()
        .unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(at).unwrap_or(0), &random)
        .into_uuid()
        .to_string()
}

/// The smallest UUIDv7 of time `at`: ids of records made at or after `at` sort at or after it.
pub fn first_id_at(at: Millis) -> String {
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(at).unwrap_or(0), &[0; 10])
        .into_uuid()
        .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person.
    User,
    /// A service account, for an agent or workload.
    Service,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "service" => Some(Self::Service),
            _ => None,
        }
    }

    pub fn subject_kind(self) -> agenthub_policy::SubjectKind {
        match self {
            Self::User => agenthub_policy::SubjectKind::User,
            Self::Service => agenthub_policy::SubjectKind::Service,
        }
    }
}

/// A user or a service account.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    pub name: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub role: GlobalRole,
    pub disabled_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub team_id: String,
    pub principal_id: String,
    pub role: TeamRole,
    pub created_at: Millis,
}

/// An API key's record. The key itself is never stored, only its SHA-256 `hash`.
#[derive(Debug)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The first characters of the key, for people to recognise it (`ahk_3kT9xQ…`).
    pub prefix: String,
    pub hash: String,
    pub principal_id: String,
    pub team_id: Option<String>,
    pub scopes: Scopes,
    pub expires_at: Option<Millis>,
    pub created_at: Millis,
    /// Updated in memory on every use and flushed to the store in batches.
    pub last_used_at: AtomicI64,
    pub revoked_at: Option<Millis>,
}

impl ApiKey {
    pub fn last_used(&self) -> Option<Millis> {
        Some(self.last_used_at.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }

    pub fn is_usable_at(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }
}

impl Clone for ApiKey {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            hash: self.hash.clone(),
            principal_id: self.principal_id.clone(),
            team_id: self.team_id.clone(),
            scopes: self.scopes.clone(),
            expires_at: self.expires_at,
            created_at: self.created_at,
            last_used_at: AtomicI64::new(self.last_used_at.load(Ordering::Relaxed)),
            revoked_at: self.revoked_at,
        }
    }
}

/// What the hub shows of a secret: never its value.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretMeta {
    pub name: String,
    pub description: Option<String>,
    pub key_id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A secret as stored: sealed under the master key.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedSecret {
    pub meta: SecretMeta,
    pub nonce: String,
    pub ciphertext: String,
}

/// Where a login session is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionClient {
    /// The web console, with the session cookie.
    Browser,
    /// `agenthub login`, with the token as a bearer credential.
    Cli,
}

impl SessionClient {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Cli => "cli",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "browser" => Some(Self::Browser),
            "cli" => Some(Self::Cli),
            _ => None,
        }
    }
}

/// A login session. The token itself is never stored, only its SHA-256 `hash`.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub hash: String,
    pub principal_id: String,
    /// The OIDC provider the person logged in with.
    pub provider: String,
    pub client: SessionClient,
    pub created_at: Millis,
    pub expires_at: Millis,
}
