//! The starter policy: what a fresh hub runs with until its operators write their own.

use super::rules::{PolicyRule, PolicySet};

/// The starter policy as YAML (the same rules as [`starter_policy`]). Deny by default; these
/// lines open what a fresh hub needs and mirror the admin API rules of `policy::admin`:
///
/// - hub admins (`role:admin`) may do everything;
/// - every authenticated caller may list models, tools and agents;
/// - team members use every model, tool and agent for requests made within their team (e.g.
///   with a key issued for the team); viewers only look;
/// - every member of a team may read the team; its owners and admins manage it.
///
/// Self-service (reading one's own profile, managing one's own keys) depends on who owns the
/// resource, not on a role: the hub keeps deciding it (see the module documentation).
pub const STARTER_POLICY_YAML: &str = r#"# agenthub starter policy. Deny by default: anything not granted here is refused.
policies:
  # Hub admins (global role admin) may do everything.
  - { subject: "role:admin", resource: "*", action: "*" }

  # Every authenticated caller may see which models, tools and agents exist.
  - { subject: "role:authenticated", resource: "model:*", action: list }
  - { subject: "role:authenticated", resource: "mcp:*", action: list }
  - { subject: "role:authenticated", resource: "agent:*", action: list }

  # Team members (owners, admins and members; not viewers) use every model, tool and agent
  # for requests made within their team, e.g. with a key issued for the team.
  - { subject: "role:team-member", resource: "model:*", action: invoke }
  - { subject: "role:team-member", resource: "mcp:*", action: call }
  - { subject: "role:team-member", resource: "agent:*", action: send }
  - { subject: "role:team-member", resource: "agent:*", action: read }

  # Everyone in a team may read it; its owners and admins manage it (settings, membership).
  - { subject: "role:team-viewer", resource: "admin:teams", action: read }
  - { subject: "role:team-admin", resource: "admin:teams", action: manage }
"#;

/// The starter policy (the same rules as [`STARTER_POLICY_YAML`]).
pub fn starter_policy() -> PolicySet {
    PolicySet {
        policies: vec![
            PolicyRule::allow("role:admin", "*", "*"),
            PolicyRule::allow("role:authenticated", "model:*", "list"),
            PolicyRule::allow("role:authenticated", "mcp:*", "list"),
            PolicyRule::allow("role:authenticated", "agent:*", "list"),
            PolicyRule::allow("role:team-member", "model:*", "invoke"),
            PolicyRule::allow("role:team-member", "mcp:*", "call"),
            PolicyRule::allow("role:team-member", "agent:*", "send"),
            PolicyRule::allow("role:team-member", "agent:*", "read"),
            PolicyRule::allow("role:team-viewer", "admin:teams", "read"),
            PolicyRule::allow("role:team-admin", "admin:teams", "manage"),
        ],
        roles: Vec::new(),
    }
}
