use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What kind of caller an [`Identity`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A person.
    User,
    /// A service account: an agent or a workload acting on its own behalf.
    Service,
    /// An A2A agent registered with the hub.
    Agent,
    /// An API key not tied to a known principal (e.g. a bootstrap key).
    Key,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Service => "service",
            Self::Agent => "agent",
            Self::Key => "key",
        }
    }
}

/// A principal's hub-wide role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GlobalRole {
    /// May administer the whole hub.
    Admin,
    #[default]
    Member,
}

impl GlobalRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

impl FromStr for GlobalRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => Err(format!(
                "unknown role \"{other}\" (expected admin or member)"
            )),
        }
    }
}

/// A member's role within one team, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::Viewer => "viewer",
        }
    }

    /// Owners and admins manage the team's membership and settings.
    pub fn can_manage_team(self) -> bool {
        self >= Self::Admin
    }
}

impl FromStr for TeamRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            "viewer" => Ok(Self::Viewer),
            other => Err(format!(
                "unknown team role \"{other}\" (expected owner, admin, member or viewer)"
            )),
        }
    }
}

/// One capability an API key may be limited to. A key can never do more than its principal;
/// scopes only narrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Everything the principal may do.
    All,
    /// Write access to the admin API (what the principal's roles allow).
    Admin,
    /// Read access to the admin API.
    AdminRead,
    /// Manage the principal's own keys.
    Keys,
    /// Call models through the LLM router.
    Llm,
    /// Use tools through the MCP registry.
    Mcp,
    /// Talk to agents over the A2A bus.
    A2a,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::All,
        Scope::Admin,
        Scope::AdminRead,
        Scope::Keys,
        Scope::Llm,
        Scope::Mcp,
        Scope::A2a,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "*",
            Self::Admin => "admin",
            Self::AdminRead => "admin:read",
            Self::Keys => "keys",
            Self::Llm => "llm",
            Self::Mcp => "mcp",
            Self::A2a => "a2a",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that agenthub does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope \"{0}\" (expected one of *, admin, admin:read, keys, llm, mcp, a2a)")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

/// The set of scopes an API key carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// What a new key gets when its creator names no scopes: the planes and self-service.
    pub fn default_for_new_key() -> Self {
        [Scope::Llm, Scope::Mcp, Scope::A2a, Scope::Keys]
            .into_iter()
            .collect()
    }

    pub fn all() -> Self {
        [Scope::All].into_iter().collect()
    }

    pub fn parse<I, S>(names: I) -> Result<Self, UnknownScope>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names
            .into_iter()
            .map(|name| name.as_ref().parse())
            .collect()
    }

    /// Whether this set grants `scope`. `admin` implies `admin:read`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.0.contains(&Scope::All)
            || self.0.contains(&scope)
            || (scope == Scope::AdminRead && self.0.contains(&Scope::Admin))
    }

    /// Whether every scope of `other` is granted by `self`: a key may only mint keys with no
    /// more power than it has.
    pub fn covers(&self, other: &Scopes) -> bool {
        other.0.iter().all(|scope| self.allows(*scope))
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// A team the caller belongs to, with their role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMembership {
    pub team_id: String,
    pub team: String,
    pub role: TeamRole,
}

/// Who is calling: the one answer every plane gets from the hub's authentication front door.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The principal's id in the hub's store, when it has one.
    pub principal_id: Option<String>,
    /// The principal's name, stable across keys (e.g. `alice`).
    pub name: String,
    pub kind: SubjectKind,
    /// The API key that authenticated this request, if a key did.
    pub key_id: Option<String>,
    /// The team an API key was issued for, which its usage is charged to.
    pub key_team: Option<String>,
    pub teams: Vec<TeamMembership>,
    pub role: GlobalRole,
    pub scopes: Scopes,
    /// Claims from a token, for policies that match on them.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Identity {
    /// A caller known only by kind and name: no stored principal, key or team, the member
    /// role and every scope. The fields are public; set what differs.
    pub fn named(kind: SubjectKind, name: impl Into<String>) -> Self {
        Self {
            principal_id: None,
            name: name.into(),
            kind,
            key_id: None,
            key_team: None,
            teams: Vec::new(),
            role: GlobalRole::Member,
            scopes: Scopes::all(),
            claims: Default::default(),
        }
    }

    /// The policy subject, e.g. `user:alice` or `service:billing-agent`.
    pub fn subject(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.name)
    }

    pub fn team_role(&self, team_id: &str) -> Option<TeamRole> {
        self.teams
            .iter()
            .find(|m| m.team_id == team_id)
            .map(|m| m.role)
    }

    /// A hub admin acting through credentials that carry the given admin scope.
    pub fn is_admin_with(&self, scope: Scope) -> bool {
        self.role == GlobalRole::Admin && self.scopes.allows(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
        let err = "admn".parse::<Scope>().unwrap_err();
        assert!(err.to_string().contains("\"admn\""));
    }

    #[test]
    fn scope_implications() {
        let admin = Scopes::parse(["admin"]).unwrap();
        assert!(admin.allows(Scope::AdminRead));
        assert!(!admin.allows(Scope::Llm));
        assert!(Scopes::all().allows(Scope::Mcp));
        let read = Scopes::parse(["admin:read", "llm"]).unwrap();
        assert!(!read.allows(Scope::Admin));
        assert!(admin.covers(&Scopes::parse(["admin:read"]).unwrap()));
        assert!(!read.covers(&admin));
        assert!(Scopes::all().covers(&admin));
    }

    #[test]
    fn team_roles_are_ordered() {
        assert!(TeamRole::Owner.can_manage_team());
        assert!(TeamRole::Admin.can_manage_team());
        assert!(!TeamRole::Member.can_manage_team());
        assert!(!TeamRole::Viewer.can_manage_team());
        assert_eq!("viewer".parse::<TeamRole>().unwrap(), TeamRole::Viewer);
        assert!("boss".parse::<TeamRole>().is_err());
    }
}
