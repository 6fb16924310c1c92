//! Checking a [`PolicySet`]: every problem, each with its path.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::rules::{AdminArea, PolicySet, ResourceKind};

/// How many role-to-role links a chain of role assignments may have. casbin's role manager stops
/// looking after 10 levels; one level is taken by the caller's own subjects, one is spare.
pub const MAX_ROLE_DEPTH: usize = 8;

/// The subject kinds, each written `<kind>:<name>`.
pub const SUBJECT_KINDS: [&str; 6] = ["user", "service", "agent", "team", "key", "role"];

/// One problem in a policy set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, e.g. `policies[3].resource` or `roles[0].member`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A policy set that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidPolicy {
    /// Every problem, in document order (role-graph problems last).
    pub problems: Vec<Problem>,
}

impl fmt::Display for InvalidPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "invalid policy: {n} problem{}",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl PolicySet {
    /// Checks every policy line and role assignment, and the role graph (no cycles, at most
    /// [`MAX_ROLE_DEPTH`] levels). Returns every problem with its path; empty means valid.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });
        for (i, rule) in self.policies.iter().enumerate() {
            if let Err(message) = check_subject(&rule.subject) {
                problem(format!("policies[{i}].subject"), message);
            }
            let kind = match check_resource(&rule.resource) {
                Ok(kind) => kind,
                Err(message) => {
                    problem(format!("policies[{i}].resource"), message);
                    None
                }
            };
            if let Err(message) = check_action(&rule.action, kind) {
                problem(format!("policies[{i}].action"), message);
            }
            if let Some(team) = &rule.team {
                let checked = check_team(team).and_then(|()| match kind {
                    Some(ResourceKind::Admin) => check_admin_team(&rule.resource, team),
                    _ => Ok(()),
                });
                if let Err(message) = checked {
                    problem(format!("policies[{i}].team"), message);
                }
            }
        }
        for (i, rule) in self.roles.iter().enumerate() {
            if let Err(message) = check_subject(&rule.member) {
                problem(format!("roles[{i}].member"), message);
            }
            match check_subject(&rule.role) {
                Err(message) => problem(format!("roles[{i}].role"), message),
                Ok(()) if !rule.role.starts_with("role:") => problem(
                    format!("roles[{i}].role"),
                    format!(
                        "\"{}\" is not a role (roles are written role:<name>)",
                        rule.role
                    ),
                ),
                Ok(()) if rule.role == rule.member => problem(
                    format!("roles[{i}].role"),
                    "a subject cannot be assigned to itself".into(),
                ),
                Ok(()) => {}
            }
            if let Some(team) = &rule.team
                && let Err(message) = check_team(team)
            {
                problem(format!("roles[{i}].team"), message);
            }
        }
        if problems.is_empty() {
            check_role_graph(self, &mut problems);
        }
        problems
    }
}

/// Whether `name` is a valid name after a subject kind or as a team: 1–128 letters, digits, `.`,
/// `_`, `-` or `@`, starting with a letter or digit (the hub's names, and UUID key ids).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

pub(crate) fn check_subject(subject: &str) -> Result<(), String> {
    let Some((kind, name)) = subject.split_once(':') else {
        return Err(format!(
            "\"{subject}\" is not a subject (expected user:, service:, agent:, team:, key: or role: followed by a name)"
        ));
    };
    if !SUBJECT_KINDS.contains(&kind) {
        return Err(format!(
            "unknown subject kind \"{kind}:\" (expected user:, service:, agent:, team:, key: or role:)"
        ));
    }
    if name.contains('*') {
        return Err(format!(
            "\"{subject}\": subjects take no wildcards (group subjects with a role instead)"
        ));
    }
    if !valid_name(name) {
        return Err(format!(
            "invalid name \"{name}\" in \"{subject}\": use 1-128 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a resource pattern; returns its kind (`None` for `*`).
pub(crate) fn check_resource(resource: &str) -> Result<Option<ResourceKind>, String> {
    if resource == "*" {
        return Ok(None);
    }
    let Some((prefix, pattern)) = resource.split_once(':') else {
        return Err(format!(
            "\"{resource}\" is not a resource (expected model:, mcp:, agent: or admin: followed by a name or pattern, or *)"
        ));
    };
    let Some(kind) = ResourceKind::from_prefix(prefix) else {
        return Err(format!(
            "unknown resource kind \"{prefix}:\" (expected model:, mcp:, agent: or admin:)"
        ));
    };
    if pattern.is_empty() {
        return Err(format!(
            "\"{resource}\" has no name (use {prefix}:* for every one)"
        ));
    }
    if pattern.len() > 256 {
        return Err("longer than 256 characters".into());
    }
    if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "\"{resource}\" contains whitespace or control characters"
        ));
    }
    if let Some(star) = pattern.find('*')
        && star != pattern.len() - 1
    {
        return Err(format!(
            "\"{resource}\": `*` is only allowed at the end of a pattern"
        ));
    }
    match kind {
        ResourceKind::Mcp if pattern != "*" => match pattern.split_once('/') {
            Some((server, _)) if !server.is_empty() && !server.contains('*') => {}
            _ => {
                return Err(format!(
                    "\"{resource}\" is not mcp:<server>/<tool> (use mcp:{}/* for every tool of a server, mcp:* for every tool)",
                    pattern.trim_end_matches('*')
                ));
            }
        },
        ResourceKind::Admin if pattern != "*" => {
            pattern.parse::<AdminArea>()?;
        }
        _ => {}
    }
    Ok(Some(kind))
}

/// Checks an action name against the resource kind it is used with (`None`: any kind).
pub(crate) fn check_action(action: &str, kind: Option<ResourceKind>) -> Result<(), String> {
    if action == "*" {
        return Ok(());
    }
    let action = action.parse::<super::Action>()?;
    match kind {
        Some(kind) if !kind.actions().contains(&action) => {
            let expected: Vec<&str> = kind.actions().iter().map(|a| a.as_str()).collect();
            Err(format!(
                "action \"{action}\" does not apply to {}: resources (expected {} or *)",
                kind.as_str(),
                expected.join(", ")
            ))
        }
        _ => Ok(()),
    }
}

pub(crate) fn check_team(team: &str) -> Result<(), String> {
    if valid_name(team) {
        Ok(())
    } else {
        Err(format!(
            "invalid team name \"{team}\" (leave `team` out for a rule that applies in every team)"
        ))
    }
}

/// `team` on an `admin:` policy line. Of the admin API's requests only those about one team
/// (`admin:teams`) are made within a team; every other admin area is decided without one, so a
/// team-scoped line on it could never match.
fn check_admin_team(resource: &str, team: &str) -> Result<(), String> {
    let area = resource.strip_prefix("admin:").unwrap_or(resource);
    if area == AdminArea::Teams.as_str() {
        return Ok(());
    }
    let hint = if area == "*" {
        "use resource admin:teams to scope team management to a team, or drop `team`"
    } else {
        "that area is hub-wide: drop `team`"
    };
    Err(format!(
        "team \"{team}\" cannot scope {resource}: only admin:teams requests are made within a \
         team, so this line would never match ({hint})"
    ))
}

/// The role graph must be acyclic and at most [`MAX_ROLE_DEPTH`] links deep, in every team's
/// view of it (the links without a team plus that team's own).
fn check_role_graph(set: &PolicySet, problems: &mut Vec<Problem>) {
    let mut global: Vec<usize> = Vec::new();
    let mut scoped: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, rule) in set.roles.iter().enumerate() {
        match &rule.team {
            None => global.push(i),
            Some(team) => scoped.entry(team).or_default().push(i),
        }
    }
    // A problem among the links without a team shows in every team's view: report it once.
    if let Some((at, message)) = graph_problem(set, &global) {
        problems.push(Problem {
            path: format!("roles[{at}]"),
            message,
        });
        return;
    }
    for (team, links) in scoped {
        let mut view = global.clone();
        view.extend(links);
        if let Some((at, message)) = graph_problem(set, &view) {
            problems.push(Problem {
                path: format!("roles[{at}]"),
                message: format!("{message} (within team {team})"),
            });
        }
    }
}

/// The first cycle or over-long chain among `links` (indices into `set.roles`), as the index of
/// a link on it and a message.
fn graph_problem(set: &PolicySet, links: &[usize]) -> Option<(usize, String)> {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    let mut out: Vec<Vec<(usize, usize)>> = Vec::new(); // node -> (target, link index)
    for &i in links {
        let rule = &set.roles[i];
        let mut ends = [0usize; 2];
        for (end, name) in ends
            .iter_mut()
            .zip([rule.member.as_str(), rule.role.as_str()])
        {
            *end = *ids.entry(name).or_insert_with(|| {
                names.push(name);
                out.push(Vec::new());
                names.len() - 1
            });
        }
        out[ends[0]].push((ends[1], i));
    }
    // Depth-first search with colours finds a cycle; the longest chain from each node is
    // computed on the way back (the graph is acyclic wherever it gets that far).
    let n = names.len();
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut longest = vec![0usize; n];
    let mut next: Vec<Option<(usize, usize)>> = vec![None; n];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        // Iterative DFS: (node, next edge position).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (node, ref mut pos)) = stack.last_mut() {
            if let Some(&(to, link)) = out[node].get(*pos) {
                *pos += 1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let from_at = stack.iter().position(|(x, _)| *x == to).unwrap_or(0);
                        let mut cycle: Vec<&str> =
                            stack[from_at..].iter().map(|(x, _)| names[*x]).collect();
                        cycle.push(names[to]);
                        return Some((
                            link,
                            format!("role assignments form a cycle: {}", cycle.join(" → ")),
                        ));
                    }
                    _ => {}
                }
                if state[to] == 2 && longest[to] + 1 > longest[node] {
                    longest[node] = longest[to] + 1;
                    next[node] = Some((to, link));
                }
            } else {
                state[node] = 2;
                stack.pop();
                if let Some(&(parent, _)) = stack.last()
                    && longest[node] + 1 > longest[parent]
                {
                    longest[parent] = longest[node] + 1;
                    next[parent] = out[parent].iter().find(|(t, _)| *t == node).copied();
                }
            }
        }
    }
    let deepest = (0..n).max_by_key(|&x| longest[x])?;
    if longest[deepest] <= MAX_ROLE_DEPTH {
        return None;
    }
    let mut chain = vec![names[deepest]];
    let mut at = deepest;
    let first_link = next[deepest].map(|(_, l)| l).unwrap_or(0);
    while let Some((to, _)) = next[at] {
        chain.push(names[to]);
        at = to;
    }
    Some((
        first_link,
        format!(
            "role inheritance is {} levels deep, more than {MAX_ROLE_DEPTH}: {}",
            longest[deepest],
            chain.join(" → ")
        ),
    ))
}
