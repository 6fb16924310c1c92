//! Who a caller acts as: an [`Identity`] expanded into policy subjects.

use crate::identity::{GlobalRole, Identity, Scopes, TeamRole};

/// Every authenticated caller acts as this role.
pub const AUTHENTICATED: &str = "role:authenticated";

/// Hub admins (global role `admin`) act as this role.
pub const HUB_ADMIN: &str = "role:admin";

/// The role subject a team member holds within its team: `role:team-owner`, `role:team-admin`,
/// `role:team-member` or `role:team-viewer`.
pub fn team_role_subject(role: TeamRole) -> &'static str {
    match role {
        TeamRole::Owner => "role:team-owner",
        TeamRole::Admin => "role:team-admin",
        TeamRole::Member => "role:team-member",
        TeamRole::Viewer => "role:team-viewer",
    }
}

/// The subjects a caller acts as, and the scopes its credentials carry.
///
/// Built from an [`Identity`] by [`Subjects::of`], or from plain subjects by [`Subjects::new`]
/// (tests, tools, the admin API's "what may X do" view). Cheap to build; a hub may also keep
/// one per authenticated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects {
    /// Subjects the caller acts as in every request, e.g. `user:alice`, `key:<id>`,
    /// `team:ml`, `role:admin`, `role:authenticated`.
    pub global: Vec<String>,
    /// Subjects the caller acts as only in requests made within a team, as `(team, subject)`,
    /// e.g. `("ml", "role:team-owner")`.
    pub in_team: Vec<(String, String)>,
    /// What the credentials may be used for; a request needing a scope they lack is denied
    /// whatever the policy says.
    pub scopes: Scopes,
}

impl Subjects {
    /// Expands an identity:
    ///
    /// | identity                          | subject (where)                                   |
    /// |-----------------------------------|---------------------------------------------------|
    /// | kind and name                     | `user:alice`, `service:x`, `agent:x`, `key:x`     |
    /// | the API key that authenticated    | `key:<key id>`                                    |
    /// | each team membership              | `team:<team name>`                                |
    /// | the key's team (`key_team`)       | `team:<team name>`                                |
    /// | global role admin                 | `role:admin`                                      |
    /// | always                            | `role:authenticated`                              |
    /// | team role in team T               | `role:team-<role>` and every lesser team role, only within T |
    ///
    /// Team roles are cumulative: an owner of `ml` is `role:team-owner`, `role:team-admin`,
    /// `role:team-member` and `role:team-viewer` within `ml`. The credentials' scopes are kept.
    pub fn of(identity: &Identity) -> Self {
        let mut global = vec![identity.subject()];
        if let Some(key) = &identity.key_id {
            push_unique(&mut global, format!("key:{key}"));
        }
        for membership in &identity.teams {
            push_unique(&mut global, format!("team:{}", membership.team));
        }
        if let Some(team) = &identity.key_team {
            push_unique(&mut global, format!("team:{team}"));
        }
        if identity.role == GlobalRole::Admin {
            push_unique(&mut global, HUB_ADMIN.to_owned());
        }
        push_unique(&mut global, AUTHENTICATED.to_owned());
        let mut in_team = Vec::new();
        for membership in &identity.teams {
            for role in [
                TeamRole::Owner,
                TeamRole::Admin,
                TeamRole::Member,
                TeamRole::Viewer,
            ] {
                if role <= membership.role {
                    in_team.push((membership.team.clone(), team_role_subject(role).to_owned()));
                }
            }
        }
        Self {
            global,
            in_team,
            scopes: identity.scopes.clone(),
        }
    }

    /// A caller that acts as exactly these subjects everywhere, with every scope.
    pub fn new<I, S>(subjects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            global: subjects.into_iter().map(Into::into).collect(),
            in_team: Vec::new(),
            scopes: Scopes::all(),
        }
    }

    /// Adds a subject the caller acts as only within `team`.
    pub fn with_team_subject(
        mut self,
        team: impl Into<String>,
        subject: impl Into<String>,
    ) -> Self {
        self.in_team.push((team.into(), subject.into()));
        self
    }

    /// Replaces the scopes.
    pub fn with_scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// The subjects in force for a request made within `team` (or outside any team).
    pub fn active<'s>(&'s self, team: Option<&'s str>) -> impl Iterator<Item = &'s str> + 's {
        self.global.iter().map(String::as_str).chain(
            self.in_team
                .iter()
                .filter(move |(t, _)| Some(t.as_str()) == team)
                .map(|(_, s)| s.as_str()),
        )
    }
}

fn push_unique(list: &mut Vec<String>, subject: String) {
    if !list.contains(&subject) {
        list.push(subject);
    }
}
