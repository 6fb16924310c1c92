//! The compiled, immutable authorizer: the policy set turned into indexes for the hot path.
//!
//! Layout:
//! - every subject and role named in the set gets a dense id;
//! - role links without a team are closed transitively at build time (`global_closure[id]` is
//!   every subject `id` acts as, itself included); links scoped to a team are kept as
//!   adjacency lists per `(team, subject)` and followed at decision time, only for requests
//!   made within that team;
//! - policy lines are indexed per subject, per effect, per resource kind: exact names in a hash
//!   map, trailing-`*` patterns in a hash map keyed by their prefix together with the distinct
//!   prefix lengths (so a lookup costs one probe per distinct length, not one per line), and
//!   lines on `*` (every resource) in a list.
//!
//! A decision is therefore: look up the caller's subjects (one hash probe each), union their
//! closures, and for each subject probe the deny index, then the allow index.

use std::collections::{HashMap, HashSet};

use super::rules::{Action, Effect, PolicySet, Request, ResourceKind};
use super::subjects::Subjects;
use super::validate::{InvalidPolicy, check_resource};
use crate::identity::Scope;

/// The answer to a [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Granted by the allow line at this index of [`PolicySet::policies`] (one of possibly
    /// several that match), and no deny line matches.
    Allow {
        /// Index of a matching allow line.
        policy: usize,
    },
    /// Not granted.
    Deny(DenyReason),
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// Why a request was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// No allow line matches (deny by default).
    NoGrant,
    /// The deny line at this index of [`PolicySet::policies`] matches (one of possibly several).
    Denied {
        /// Index of a matching deny line.
        policy: usize,
    },
    /// The credentials lack this scope, whatever the policy says.
    MissingScope(Scope),
}

const ANY: u32 = u32::MAX;

/// One compiled policy line, as found under its subject and resource pattern.
#[derive(Debug, Clone, Copy)]
struct Line {
    /// Team id, or `ANY`.
    team: u32,
    /// `None`: every action.
    action: Option<Action>,
    /// Index into `PolicySet::policies`.
    policy: u32,
}

#[derive(Debug, Default)]
struct KindLines {
    exact: HashMap<Box<str>, Vec<Line>>,
    /// Distinct prefix lengths in `prefixes`, ascending.
    prefix_lens: Vec<usize>,
    /// Trailing-`*` patterns by the part before the `*` (`""` for `kind:*`).
    prefixes: HashMap<Box<str>, Vec<Line>>,
}

#[derive(Debug, Default)]
struct Lines {
    /// Lines on resource `*`.
    any_resource: Vec<Line>,
    kinds: [KindLines; 4],
}

#[derive(Debug, Default)]
struct SubjectLines {
    allow: Lines,
    deny: Lines,
}

/// An immutable, compiled policy set: deny by default, deny lines override allow lines, roles
/// inherit, team-scoped lines and role assignments apply within their team.
///
/// Building ([`Authorizer::new`]) validates and indexes the whole set and may take milliseconds
/// for tens of thousands of lines; deciding ([`Authorizer::decide`]) takes a few hash probes per
/// subject and does not depend on the number of lines. The hub builds a new one when rules
/// change and swaps it in atomically (`ArcSwap<Authorizer>`); it is `Send + Sync`.
#[derive(Debug)]
pub struct Authorizer {
    set: PolicySet,
    subject_ids: HashMap<Box<str>, u32>,
    team_ids: HashMap<Box<str>, u32>,
    /// Per subject id: every subject it acts as through links without a team, itself included.
    global_closure: Vec<Box<[u32]>>,
    /// Per team id: whether any role assignment is scoped to it.
    team_has_links: Vec<bool>,
    /// `(team id, subject id)` → roles it gets within that team.
    scoped_links: HashMap<(u32, u32), Vec<u32>>,
    /// Per subject id: its policy lines.
    lines: Vec<Option<Box<SubjectLines>>>,
}

impl Default for Authorizer {
    /// An authorizer with no rules: it denies everything.
    fn default() -> Self {
        Self::new(PolicySet::default()).unwrap_or_else(|_| unreachable!("empty set is valid"))
    }
}

impl Authorizer {
    /// Validates and compiles a complete rule set. Every problem is reported, with its path.
    pub fn new(set: PolicySet) -> Result<Self, InvalidPolicy> {
        let problems = set.validate();
        if !problems.is_empty() {
            return Err(InvalidPolicy { problems });
        }
        let mut subject_ids: HashMap<Box<str>, u32> = HashMap::new();
        let mut team_ids: HashMap<Box<str>, u32> = HashMap::new();
        fn intern(map: &mut HashMap<Box<str>, u32>, name: &str) -> u32 {
            if let Some(&id) = map.get(name) {
                return id;
            }
            // Ids are dense; a set with 2^32 names would not fit in memory anyway.
            let id = map.len() as u32;
            map.insert(name.into(), id);
            id
        }

        // Role links.
        let mut global_links: Vec<Vec<u32>> = Vec::new();
        let mut scoped_links: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        for rule in &set.roles {
            let member = intern(&mut subject_ids, &rule.member);
            let role = intern(&mut subject_ids, &rule.role);
            match &rule.team {
                None => {
                    let need = (member.max(role) + 1) as usize;
                    if global_links.len() < need {
                        global_links.resize_with(need, Vec::new);
                    }
                    if !global_links[member as usize].contains(&role) {
                        global_links[member as usize].push(role);
                    }
                }
                Some(team) => {
                    let team = intern(&mut team_ids, team);
                    let roles = scoped_links.entry((team, member)).or_default();
                    if !roles.contains(&role) {
                        roles.push(role);
                    }
                }
            }
        }

        // Policy lines.
        let mut lines: Vec<Option<Box<SubjectLines>>> = Vec::new();
        for (index, rule) in set.policies.iter().enumerate() {
            let subject = intern(&mut subject_ids, &rule.subject) as usize;
            let team = match &rule.team {
                Some(team) => intern(&mut team_ids, team),
                None => ANY,
            };
            let action = if rule.action == "*" {
                None
            } else {
                rule.action.parse::<Action>().ok()
            };
            let line = Line {
                team,
                action,
                policy: u32::try_from(index).unwrap_or(u32::MAX),
            };
            if lines.len() <= subject {
                lines.resize_with(subject + 1, || None);
            }
            let entry = lines[subject].get_or_insert_with(Default::default);
            let by_effect = match rule.effect {
                Effect::Allow => &mut entry.allow,
                Effect::Deny => &mut entry.deny,
            };
            match check_resource(&rule.resource) {
                Ok(None) => by_effect.any_resource.push(line),
                Ok(Some(kind)) => {
                    let pattern = &rule.resource[kind.as_str().len() + 1..];
                    let kind_lines = &mut by_effect.kinds[kind.index()];
                    match pattern.strip_suffix('*') {
                        Some(prefix) => {
                            if !kind_lines.prefix_lens.contains(&prefix.len()) {
                                kind_lines.prefix_lens.push(prefix.len());
                                kind_lines.prefix_lens.sort_unstable();
                            }
                            kind_lines
                                .prefixes
                                .entry(prefix.into())
                                .or_default()
                                .push(line);
                        }
                        None => kind_lines
                            .exact
                            .entry(pattern.into())
                            .or_default()
                            .push(line),
                    }
                }
                Err(_) => unreachable!("validated above"),
            }
        }

        // Close the links without a team (the graph is acyclic: validated).
        let n = subject_ids.len();
        global_links.resize_with(n, Vec::new);
        lines.resize_with(n, || None);
        let mut global_closure: Vec<Box<[u32]>> = Vec::with_capacity(n);
        let mut seen: HashSet<u32> = HashSet::new();
        for start in 0..n as u32 {
            seen.clear();
            let mut closure = vec![start];
            seen.insert(start);
            let mut i = 0;
            while i < closure.len() {
                for &role in &global_links[closure[i] as usize] {
                    if seen.insert(role) {
                        closure.push(role);
                    }
                }
                i += 1;
            }
            global_closure.push(closure.into_boxed_slice());
        }
        let mut team_has_links = vec![false; team_ids.len()];
        for &(team, _) in scoped_links.keys() {
            team_has_links[team as usize] = true;
        }

        Ok(Self {
            set,
            subject_ids,
            team_ids,
            global_closure,
            team_has_links,
            scoped_links,
            lines,
        })
    }

    /// The rule set this authorizer was built from; [`Decision`] indices point into it.
    pub fn policy_set(&self) -> &PolicySet {
        &self.set
    }

    /// Decides a request: first the credentials' scope, then the policy (a matching deny line
    /// wins, else a matching allow line grants, else deny).
    pub fn decide(&self, subjects: &Subjects, request: &Request<'_>) -> Decision {
        let scope = request.required_scope();
        if !subjects.scopes.allows(scope) {
            return Decision::Deny(DenyReason::MissingScope(scope));
        }
        self.decide_by_policy(subjects, request)
    }

    /// Whether the request is allowed: [`decide`](Self::decide)`.is_allowed()`.
    pub fn allows(&self, subjects: &Subjects, request: &Request<'_>) -> bool {
        self.decide(subjects, request).is_allowed()
    }

    /// Decides a request by the policy alone, ignoring the credentials' scopes. This is what
    /// the casbin model ([`CASBIN_MODEL`](super::CASBIN_MODEL)) computes.
    pub fn decide_by_policy(&self, subjects: &Subjects, request: &Request<'_>) -> Decision {
        let team = request
            .team
            .and_then(|t| self.team_ids.get(t))
            .copied()
            .unwrap_or(ANY);
        let mut acting = SubjectSet::default();
        for subject in subjects.active(request.team) {
            if let Some(&id) = self.subject_ids.get(subject) {
                for &s in self.global_closure[id as usize].iter() {
                    acting.insert(s);
                }
            }
        }
        if team != ANY && self.team_has_links[team as usize] {
            let mut i = 0;
            while i < acting.len() {
                if let Some(roles) = self.scoped_links.get(&(team, acting.get(i))) {
                    for &role in roles {
                        for &s in self.global_closure[role as usize].iter() {
                            acting.insert(s);
                        }
                    }
                }
                i += 1;
            }
        }

        let kind = request.resource.kind;
        let name = request.resource.name;
        let action = request.action;
        let mut allowed = None;
        for i in 0..acting.len() {
            let Some(lines) = &self.lines[acting.get(i) as usize] else {
                continue;
            };
            if let Some(policy) = find(&lines.deny, kind, name, action, team) {
                return Decision::Deny(DenyReason::Denied {
                    policy: policy as usize,
                });
            }
            if allowed.is_none() {
                allowed = find(&lines.allow, kind, name, action, team);
            }
        }
        match allowed {
            Some(policy) => Decision::Allow {
                policy: policy as usize,
            },
            None => Decision::Deny(DenyReason::NoGrant),
        }
    }

    /// Every subject the caller acts as for a request made within `team` (its own subjects and
    /// every role they lead to), sorted: for "why"/"who am I" views and debugging.
    pub fn acting_subjects(&self, subjects: &Subjects, team: Option<&str>) -> Vec<String> {
        let names: HashMap<u32, &str> = self
            .subject_ids
            .iter()
            .map(|(name, &id)| (id, &**name))
            .collect();
        let mut out: Vec<String> = subjects.active(team).map(str::to_owned).collect();
        let team_id = team.and_then(|t| self.team_ids.get(t)).copied();
        let mut ids: Vec<u32> = subjects
            .active(team)
            .filter_map(|s| self.subject_ids.get(s).copied())
            .collect();
        let mut i = 0;
        while i < ids.len() {
            let id = ids[i];
            let mut next: Vec<u32> = self.global_closure[id as usize].to_vec();
            if let Some(t) = team_id
                && let Some(roles) = self.scoped_links.get(&(t, id))
            {
                next.extend(roles);
            }
            for s in next {
                if !ids.contains(&s) {
                    ids.push(s);
                }
            }
            i += 1;
        }
        out.extend(
            ids.iter()
                .filter_map(|id| names.get(id))
                .map(|s| (*s).to_owned()),
        );
        out.sort();
        out.dedup();
        out
    }
}

/// The first line under `lines` that matches the resource, action and team.
fn find(lines: &Lines, kind: ResourceKind, name: &str, action: Action, team: u32) -> Option<u32> {
    let matching = |candidates: &[Line]| {
        candidates
            .iter()
            .find(|l| {
                (l.team == ANY || l.team == team)
                    && (l.action.is_none() || l.action == Some(action))
            })
            .map(|l| l.policy)
    };
    if let Some(policy) = matching(&lines.any_resource) {
        return Some(policy);
    }
    let by_kind = &lines.kinds[kind.index()];
    if let Some(candidates) = by_kind.exact.get(name)
        && let Some(policy) = matching(candidates)
    {
        return Some(policy);
    }
    for &len in &by_kind.prefix_lens {
        if len > name.len() {
            break;
        }
        if let Some(prefix) = name.get(..len)
            && let Some(candidates) = by_kind.prefixes.get(prefix)
            && let Some(policy) = matching(candidates)
        {
            return Some(policy);
        }
    }
    None
}

/// A small insertion-ordered set of subject ids: a linear scan while small, a hash set beyond.
#[derive(Default)]
struct SubjectSet {
    list: Vec<u32>,
    index: Option<HashSet<u32>>,
}

impl SubjectSet {
    const LINEAR: usize = 32;

    fn insert(&mut self, id: u32) {
        let new = match &mut self.index {
            Some(index) => index.insert(id),
            None => !self.list.contains(&id),
        };
        if new {
            self.list.push(id);
            if self.index.is_none() && self.list.len() > Self::LINEAR {
                self.index = Some(self.list.iter().copied().collect());
            }
        }
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    fn get(&self, i: usize) -> u32 {
        self.list[i]
    }
}
