//! Who may read and change what through the admin API.
//!
//! Two kinds of rule decide. Ownership, which is not a role: everyone may read their own
//! profile and teams, and manage their own keys (with a key scoped `keys` or `admin`). Everything
//! else is a grant of the [`Authorizer`](crate::authz::Authorizer) on an `admin:<area>` resource:
//! `read` for reads (which needs the `admin:read` scope) and `manage` for changes (`admin`).
//! The starter policy grants hub admins everything and team owners and admins the management
//! of their own team; operators grant more areas to more roles with policies.

use crate::authz::{Action, AdminArea, Authorizer, Request, Resource, Subjects};
use crate::identity::{Identity, Scope};

/// What an admin request touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The users (`area: Users`) or service accounts (`area: ServiceAccounts`) as a whole.
    Principals { area: AdminArea },
    /// One user's or service account's profile.
    Principal { id: &'a str, area: AdminArea },
    /// The set of teams (creating one, listing all).
    Teams,
    /// One team, its settings and membership.
    Team { id: &'a str, name: &'a str },
    /// The keys of one principal.
    KeysOf { principal_id: &'a str },
    /// Every key in the hub.
    AllKeys,
    /// The encrypted secret store.
    Secrets,
    /// Another admin area as a whole (policies, limits, budgets, guardrails, …).
    Area(AdminArea),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Whether `identity` may perform `access` on `target` under `authorizer`.
pub fn allows(
    authorizer: &Authorizer,
    identity: &Identity,
    access: Access,
    target: Target<'_>,
) -> bool {
    let is_self = |id: &str| identity.principal_id.as_deref() == Some(id);
    let admin_scope = match access {
        Access::Read => Scope::AdminRead,
        Access::Write => Scope::Admin,
    };
    let (area, team) = match target {
        Target::Principal { id, .. } if access == Access::Read && is_self(id) => return true,
        Target::Team { id, .. } if access == Access::Read && identity.team_role(id).is_some() => {
            return true;
        }
        Target::KeysOf { principal_id }
            if is_self(principal_id)
                && (identity.scopes.allows(Scope::Keys) || identity.scopes.allows(admin_scope)) =>
        {
            return true;
        }
        Target::Principals { area } | Target::Principal { area, .. } => (area, None),
        Target::Teams => (AdminArea::Teams, None),
        Target::Team { name, .. } => (AdminArea::Teams, Some(name)),
        Target::KeysOf { .. } | Target::AllKeys => (AdminArea::Keys, None),
        Target::Secrets => (AdminArea::Secrets, None),
        Target::Area(area) => (area, None),
    };
    let action = match access {
        Access::Read => Action::Read,
        Access::Write => Action::Manage,
    };
    let mut request = Request::new(Resource::admin(area), action);
    if let Some(team) = team {
        request = request.in_team(team);
    }
    authorizer.allows(&Subjects::of(identity), &request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{PolicyRule, PolicySet, starter_policy};
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
                    team: format!("team-{id}"),
                    role: *role,
                })
                .collect(),
            role,
            scopes: Scopes::parse(scopes.iter().copied()).unwrap(),
            claims: Default::default(),
        }
    }

    #[test]
    fn starter_policy_decisions() {
        use Access::*;
        use GlobalRole::{Admin as HubAdmin, Member as HubMember};
        let authorizer = Authorizer::new(starter_policy()).unwrap();
        let owner = [("t1", TeamRole::Owner)];
        let viewer = [("t1", TeamRole::Viewer)];
        let t1 = Target::Team {
            id: "t1",
            name: "team-t1",
        };
        let t2 = Target::Team {
            id: "t2",
            name: "team-t2",
        };
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
                Target::Principals {
                    area: AdminArea::Users,
                },
                false,
            ),
            (
                who(HubAdmin, &["admin"], &[]),
                Write,
                Target::Area(AdminArea::Budgets),
                true,
            ),
            (
                who(HubMember, &["*"], &[]),
                Write,
                Target::Principals {
                    area: AdminArea::Users,
                },
                false,
            ),
            (
                who(HubMember, &["*"], &[]),
                Read,
                Target::Principal {
                    id: "p1",
                    area: AdminArea::Users,
                },
                true,
            ),
            (
                who(HubMember, &["*"], &[]),
                Read,
                Target::Principal {
                    id: "p2",
                    area: AdminArea::Users,
                },
                false,
            ),
            (who(HubMember, &["admin"], &owner), Write, t1, true),
            (who(HubMember, &["llm"], &owner), Write, t1, false),
            (who(HubMember, &["admin"], &viewer), Write, t1, false),
            (who(HubMember, &["llm"], &viewer), Read, t1, true),
            (who(HubMember, &["admin"], &owner), Read, t2, false),
            (who(HubMember, &["admin"], &owner), Write, t2, false),
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
            (
                who(HubMember, &["*"], &owner),
                Write,
                Target::Area(AdminArea::Budgets),
                false,
            ),
        ];
        for (i, (identity, access, target, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                allows(&authorizer, &identity, access, target),
                expected,
                "case {i}: {access:?} {target:?}"
            );
        }
    }

    #[test]
    fn policies_open_admin_areas_to_roles() {
        let mut set = starter_policy();
        set.extend(PolicySet {
            policies: vec![PolicyRule::allow("team:team-t1", "admin:budgets", "manage")],
            roles: Vec::new(),
        });
        let authorizer = Authorizer::new(set).unwrap();
        let member = who(GlobalRole::Member, &["admin"], &[("t1", TeamRole::Member)]);
        assert!(!allows(
            &authorizer,
            &member,
            Access::Write,
            Target::Principals {
                area: AdminArea::ServiceAccounts
            }
        ));
        assert!(allows(
            &authorizer,
            &member,
            Access::Write,
            Target::Area(AdminArea::Budgets)
        ));
        assert!(!allows(
            &authorizer,
            &member,
            Access::Write,
            Target::Area(AdminArea::Guardrails)
        ));
        let narrow = who(GlobalRole::Member, &["llm"], &[("t1", TeamRole::Member)]);
        assert!(
            !allows(
                &authorizer,
                &narrow,
                Access::Write,
                Target::Area(AdminArea::Budgets)
            ),
            "scopes still narrow"
        );
    }
}
