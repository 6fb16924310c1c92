//! Who may read and change what through the admin API.
//!
//! Hub admins (global role `admin`) administer everything; team owners and admins manage their
//! own team; every principal manages its own keys. The credentials' scopes narrow all of it:
//! writes need `admin` (or `keys` for one's own keys), reads need `admin:read`.

use crate::identity::{Identity, Scope};

/// What an admin request touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The user and service-account directory as a whole.
    Principals,
    /// One principal's own profile.
    Principal { id: &'a str },
    /// The set of teams (creating one, listing all).
    Teams,
    /// One team, its settings and membership.
    Team { id: &'a str },
    /// The keys of one principal.
    KeysOf { principal_id: &'a str },
    /// Every key in the hub.
    AllKeys,
    /// The encrypted secret store.
    Secrets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Whether `identity` may perform `access` on `target`.
pub fn allows(identity: &Identity, access: Access, target: Target<'_>) -> bool {
    let admin_scope = match access {
        Access::Read => Scope::AdminRead,
        Access::Write => Scope::Admin,
    };
    if identity.is_admin_with(admin_scope) {
        return true;
    }
    let is_self = |id: &str| identity.principal_id.as_deref() == Some(id);
    match target {
        Target::Principals | Target::Teams | Target::AllKeys | Target::Secrets => false,
        Target::Principal { id } => access == Access::Read && is_self(id),
        Target::Team { id } => match (identity.team_role(id), access) {
            (Some(_), Access::Read) => true,
            (Some(role), Access::Write) => {
                role.can_manage_team() && identity.scopes.allows(Scope::Admin)
            }
            (None, _) => false,
        },
        Target::KeysOf { principal_id } => {
            is_self(principal_id)
                && (identity.scopes.allows(Scope::Keys) || identity.scopes.allows(admin_scope))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{GlobalRole, Scopes, SubjectKind, TeamMembership, TeamRole};

    fn who(role: GlobalRole, scopes: &[&str], teams: &[(&str, TeamRole)]) -> Identity {
        Identity {
            principal_id: Some("p1".into()),
            name: "alice".into(),
            kind: SubjectKind::User,
            key_id: Some("k1".into()),
            key_team: None,
            teams: teams
                .iter()
                .map(|(id, role)| TeamMembership {
                    team_id: (*id).into(),
                    team: (*id).into(),
                    role: *role,
                })
                .collect(),
            role,
            scopes: Scopes::parse(scopes.iter().copied()).unwrap(),
            claims: Default::default(),
        }
    }

    #[test]
    fn decisions() {
        use Access::*;
        use GlobalRole::{Admin as HubAdmin, Member as HubMember};
        let owner = [("t1", TeamRole::Owner)];
        let viewer = [("t1", TeamRole::Viewer)];
        // (identity, access, target, expected)
        let cases: Vec<(Identity, Access, Target<'_>, bool)> = vec![
            (who(HubAdmin, &["*"], &[]), Write, Target::Secrets, true),
            (
                who(HubAdmin, &["admin:read"], &[]),
                Write,
                Target::Secrets,
                false,
            ),
            (
                who(HubAdmin, &["admin:read"], &[]),
                Read,
                Target::Secrets,
                true,
            ),
            (
                who(HubAdmin, &["llm"], &[]),
                Read,
                Target::Principals,
                false,
            ),
            (
                who(HubMember, &["*"], &[]),
                Write,
                Target::Principals,
                false,
            ),
            (
                who(HubMember, &["*"], &[]),
                Read,
                Target::Principal { id: "p1" },
                true,
            ),
            (
                who(HubMember, &["*"], &[]),
                Read,
                Target::Principal { id: "p2" },
                false,
            ),
            (
                who(HubMember, &["admin"], &owner),
                Write,
                Target::Team { id: "t1" },
                true,
            ),
            (
                who(HubMember, &["llm"], &owner),
                Write,
                Target::Team { id: "t1" },
                false,
            ),
            (
                who(HubMember, &["admin"], &viewer),
                Write,
                Target::Team { id: "t1" },
                false,
            ),
            (
                who(HubMember, &["llm"], &viewer),
                Read,
                Target::Team { id: "t1" },
                true,
            ),
            (
                who(HubMember, &["admin"], &owner),
                Read,
                Target::Team { id: "t2" },
                false,
            ),
            (
                who(HubMember, &["keys"], &[]),
                Write,
                Target::KeysOf { principal_id: "p1" },
                true,
            ),
            (
                who(HubMember, &["llm"], &[]),
                Write,
                Target::KeysOf { principal_id: "p1" },
                false,
            ),
            (
                who(HubMember, &["keys"], &[]),
                Write,
                Target::KeysOf { principal_id: "p2" },
                false,
            ),
            (who(HubMember, &["*"], &[]), Read, Target::AllKeys, false),
        ];
        for (i, (identity, access, target, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                allows(&identity, access, target),
                expected,
                "case {i}: {access:?} {target:?}"
            );
        }
    }
}
