//! Authorization for the whole hub: may this caller do this action on this resource?
//!
//! The semantics are casbin's RBAC with domains ([`CASBIN_MODEL`]): a domain is a team, deny
//! lines override allow lines, and anything not granted is denied. The hub's hot path uses
//! [`Authorizer`], a compiled index of the same rules whose answers are tested against casbin's
//! own `enforce` ([`CasbinReference`]) on thousands of generated requests. casbin's generic
//! enforce evaluates its matcher (rhai) against every policy line: about 20 ms a decision at
//! 10,000 lines on a 2-core machine, where the index takes under a microsecond
//! (`cargo bench -p agenthub-policy --bench authz`).
//!
//! # Rules
//!
//! ```yaml
//! policies:
//!   # subject may do action on every resource the pattern matches
//!   - { subject: "team:ml", resource: "model:gpt-4*", action: invoke }
//!   - { subject: "role:ml-engineer", resource: "mcp:jira/*", action: call }
//!   - { subject: "service:triage-agent", resource: "agent:support-*", action: send }
//!   # a deny line overrides every allow line
//!   - { subject: "team:ml", resource: "model:gpt-4-32k", action: invoke, effect: deny }
//!   # only within team ml: its leads manage the team (its settings and members)
//!   - { subject: "role:lead", resource: "admin:teams", action: manage, team: ml }
//!   # a key may be granted something on its own
//!   - { subject: "key:0190c2a4-7a1b-7c3d-9e8f-0123456789ab", resource: "model:gpt-4o", action: invoke }
//! roles:
//!   - { member: "user:alice", role: "role:ml-engineer" }
//!   - { member: "role:ml-engineer", role: "role:engineer" }   # roles inherit
//!   - { member: "team:ml", role: "role:engineer" }            # so do teams
//!   - { member: "user:bob", role: "role:lead", team: ml }     # bob is a lead within ml only
//! ```
//!
//! - **Subjects**: `user:<name>`, `service:<name>`, `agent:<name>`, `team:<name>`, `key:<id>`,
//!   `role:<name>`. No wildcards; group subjects with roles.
//! - **Resources**: `model:<name>`, `mcp:<server>/<tool>`, `agent:<name>`, `admin:<area>`
//!   ([`AdminArea`]), or `*` for everything. A trailing `*` matches any rest (`model:gpt-4*`,
//!   `mcp:jira/*`, `model:*`, `admin:*`); `*` anywhere else is rejected.
//! - **Actions**: models `invoke`, `list`; tools `call`, `list`; agents `send`, `list`; admin
//!   areas `read`, `manage`; `*` for all. An action that does not apply to the resource kind is
//!   rejected (`call` on `model:`). `manage` does not imply `read`: grant both.
//! - **Effect**: `allow` (default) or `deny`.
//! - **Team** (optional, on policies and role assignments): the rule holds only for requests
//!   made within that team ([`Request::team`]); without it, everywhere. Of the admin areas only
//!   `admin:teams` is decided within a team (the team concerned), so `team` on any other
//!   `admin:` line is rejected: it could never match.
//!
//! [`PolicySet::validate`] reports every problem with its path, e.g.
//! `policies[3].resource: unknown resource kind "modle:" (expected model:, mcp:, agent: or
//! admin:)`; it also rejects cycles among role assignments and chains deeper than
//! [`MAX_ROLE_DEPTH`].
//!
//! # Who a caller acts as
//!
//! [`Subjects::of`] expands an [`Identity`](crate::Identity):
//!
//! | identity                        | acts as                                              |
//! |---------------------------------|------------------------------------------------------|
//! | kind and name                   | `user:alice` / `service:x` / `agent:x` / `key:x`     |
//! | the key that authenticated      | `key:<key id>`                                       |
//! | each team it belongs to         | `team:<team>`                                        |
//! | the key's team                  | `team:<team>`                                        |
//! | global role `admin`             | `role:admin` ([`HUB_ADMIN`])                         |
//! | always                          | `role:authenticated` ([`AUTHENTICATED`])             |
//! | team role R in team T           | `role:team-R` and each lesser team role, **within T only** |
//!
//! (team roles, most to least: owner, admin, member, viewer; see [`team_role_subject`]). Then
//! the role assignments apply transitively: those without a team always, those with a team
//! only within it. The credentials' scopes narrow everything: a request needing a scope the key
//! lacks ([`Request::required_scope`]) is denied whatever the policy says.
//!
//! A grant on a team-role subject is a template for every team: `role:team-admin` may manage
//! `admin:teams` means the owners and admins of a team manage *that* team, because they hold
//! the role only in requests made within it.
//!
//! # Decision
//!
//! Over every subject the caller acts as, and every policy line whose subject is one of them,
//! whose team is absent or the request's team, whose resource pattern matches and whose action
//! is the request's or `*`: a deny line → [`DenyReason::Denied`]; else an allow line →
//! [`Decision::Allow`]; else [`DenyReason::NoGrant`].
//!
//! # Starter policy and the admin API
//!
//! [`STARTER_POLICY_YAML`] / [`starter_policy`]. It maps the rules of [`crate::admin`] as:
//!
//! | `admin::Target` (access)      | request                                              | granted by              |
//! |-------------------------------|------------------------------------------------------|-------------------------|
//! | anything, hub admin           | any                                                  | `role:admin * *`        |
//! | `Principals` (read/write)     | `admin:users` or `admin:service-accounts`, no team   | hub admins only         |
//! | `Teams` (list all, create)    | `admin:teams`, no team                               | hub admins only         |
//! | `Team { id }` read            | `admin:teams` read, within the team                  | `role:team-viewer`      |
//! | `Team { id }` write           | `admin:teams` manage, within the team                | `role:team-admin`       |
//! | `AllKeys`                     | `admin:keys`, no team                                | hub admins only         |
//! | `Secrets`                     | `admin:secrets`, no team                             | hub admins only         |
//! | `Principal { self }` read, `KeysOf { self }` | ownership, not a role: the hub decides these before asking the authorizer | — |
//!
//! Read requests need the `admin:read` scope, manage requests `admin`, as in `admin::allows`.

mod casbin_ref;
mod compiled;
mod rules;
mod starter;
mod subjects;
mod validate;

#[cfg(test)]
mod tests;

pub use casbin_ref::{CASBIN_MODEL, CasbinReference, NO_TEAM, ReferenceError};
pub use compiled::{Authorizer, Decision, DenyReason};
pub use rules::{
    Action, AdminArea, Effect, PolicyRule, PolicySet, Request, Resource, ResourceKind, RoleRule,
};
pub use starter::{STARTER_POLICY_YAML, starter_policy};
pub use subjects::{AUTHENTICATED, HUB_ADMIN, Subjects, team_role_subject};
pub use validate::{InvalidPolicy, MAX_ROLE_DEPTH, Problem, SUBJECT_KINDS};
