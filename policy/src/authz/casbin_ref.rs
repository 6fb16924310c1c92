//! The casbin model this module implements, and a reference enforcer built with casbin itself.
//!
//! [`Authorizer`](super::Authorizer) is a compiled form of this model; [`CasbinReference`] runs
//! the very same rules through casbin's generic `enforce` (its matcher evaluated by rhai
//! against every policy line, its default role manager for the role graph). The differential
//! tests hold the two to the same answers; the benchmark measures both.
//!
//! Encoding:
//! - `p, <subject>, <team or *>, <resource pattern>, <action or *>, <allow|deny>`;
//! - `g, <member>, <role>, <team>` for a role assignment within a team. An assignment without
//!   a team holds in every team, so it is added once per team domain in use (casbin's own
//!   domain-pattern support copies links between domain graphs the same way);
//! - a request outside any team uses the domain [`NO_TEAM`];
//! - a caller's [`Subjects`] become a synthetic requester `@req:<n>` linked to each of its
//!   subjects (its team subjects only in their team's domain), and the request is
//!   `(@req:<n>, team, resource, action)`.

use std::collections::{HashMap, HashSet};

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};

use super::rules::{PolicySet, Request};
use super::subjects::Subjects;
use super::validate::InvalidPolicy;

/// The casbin model: RBAC with domains (a domain is a team), deny-override effect, `keyMatch`
/// for trailing-`*` resource patterns, `*` for every team and every action.
pub const CASBIN_MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || p.dom == r.dom) && keyMatch(r.obj, p.obj) && (p.act == "*" || p.act == r.act)
"#;

/// The casbin domain of a request made outside any team (not a valid team name).
pub const NO_TEAM: &str = "-";

/// A failure of the reference enforcer.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// The rule set does not validate.
    #[error(transparent)]
    Invalid(#[from] InvalidPolicy),
    /// casbin refused the model, a rule or a request.
    #[error("casbin: {0}")]
    Casbin(#[from] casbin::Error),
}

/// A caller's subjects: everywhere, and within a team.
type RequesterKey = (Vec<String>, Vec<(String, String)>);

/// casbin itself, loaded with a [`PolicySet`]: the reference semantics, slow (every decision
/// evaluates the matcher against every policy line). For tests, benchmarks and explanations;
/// never on a request path.
pub struct CasbinReference {
    enforcer: Enforcer,
    /// Links that hold in every domain: role assignments without a team, and requesters'
    /// subjects.
    global_links: Vec<[String; 2]>,
    /// Domains into which `global_links` have been copied.
    domains: HashSet<String>,
    /// Every `g` line added so far.
    links: HashSet<Vec<String>>,
    /// Requesters created so far, by their subjects.
    requesters: HashMap<RequesterKey, String>,
}

impl CasbinReference {
    /// Validates `set` and loads it into a casbin enforcer (in memory, auto-save off).
    pub fn new(set: &PolicySet) -> Result<Self, ReferenceError> {
        let problems = set.validate();
        if !problems.is_empty() {
            return Err(InvalidPolicy { problems }.into());
        }
        futures::executor::block_on(async {
            let model = DefaultModel::from_str(CASBIN_MODEL).await?;
            let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await?;
            enforcer.enable_auto_save(false);
            let mut seen = HashSet::new();
            let policies: Vec<Vec<String>> = set
                .policies
                .iter()
                .map(|rule| {
                    vec![
                        rule.subject.clone(),
                        rule.team.clone().unwrap_or_else(|| "*".into()),
                        rule.resource.clone(),
                        rule.action.clone(),
                        rule.effect.as_str().to_owned(),
                    ]
                })
                .filter(|line| seen.insert(line.clone()))
                .collect();
            if !policies.is_empty() {
                enforcer.add_policies(policies).await?;
            }
            let mut reference = Self {
                enforcer,
                global_links: Vec::new(),
                domains: HashSet::new(),
                links: HashSet::new(),
                requesters: HashMap::new(),
            };
            let mut scoped = Vec::new();
            for rule in &set.roles {
                match &rule.team {
                    None => reference
                        .global_links
                        .push([rule.member.clone(), rule.role.clone()]),
                    Some(team) => {
                        scoped.push(vec![rule.member.clone(), rule.role.clone(), team.clone()])
                    }
                }
            }
            reference.add_links(scoped).await?;
            reference.ensure_domain(NO_TEAM).await?;
            let teams: Vec<String> = set
                .policies
                .iter()
                .filter_map(|p| p.team.clone())
                .chain(set.roles.iter().filter_map(|r| r.team.clone()))
                .collect();
            for team in teams {
                reference.ensure_domain(&team).await?;
            }
            Ok(reference)
        })
    }

    /// casbin's answer for a caller's subjects (scopes are not casbin's business: this is
    /// [`Authorizer::decide_by_policy`](super::Authorizer::decide_by_policy)'s reference).
    pub fn enforce(
        &mut self,
        subjects: &Subjects,
        request: &Request<'_>,
    ) -> Result<bool, ReferenceError> {
        let domain = request.team.unwrap_or(NO_TEAM).to_owned();
        futures::executor::block_on(async {
            self.ensure_domain(&domain).await?;
            let requester = self.requester(subjects).await?;
            Ok(self.enforcer.enforce((
                requester,
                domain,
                request.resource.to_string(),
                request.action.as_str(),
            ))?)
        })
    }

    /// casbin's answer for one raw request tuple `(subject, domain, resource, action)`, with no
    /// set-up: what casbin's `enforce` costs per decision. `domain` must be [`NO_TEAM`] or a
    /// team named in the rule set.
    pub fn enforce_raw(
        &self,
        subject: &str,
        domain: &str,
        resource: &str,
        action: &str,
    ) -> Result<bool, ReferenceError> {
        Ok(self.enforcer.enforce((subject, domain, resource, action))?)
    }

    /// The synthetic subject standing for `subjects`, linked to each of them.
    async fn requester(&mut self, subjects: &Subjects) -> Result<String, ReferenceError> {
        let key = (subjects.global.clone(), subjects.in_team.clone());
        if let Some(name) = self.requesters.get(&key) {
            return Ok(name.clone());
        }
        let name = format!("@req:{}", self.requesters.len());
        let mut links = Vec::new();
        for subject in &subjects.global {
            self.global_links.push([name.clone(), subject.clone()]);
            for domain in &self.domains {
                links.push(vec![name.clone(), subject.clone(), domain.clone()]);
            }
        }
        for (team, subject) in &subjects.in_team {
            links.push(vec![name.clone(), subject.clone(), team.clone()]);
        }
        self.add_links(links).await?;
        self.requesters.insert(key, name.clone());
        Ok(name)
    }

    /// Copies every link that holds everywhere into `domain`, once.
    async fn ensure_domain(&mut self, domain: &str) -> Result<(), ReferenceError> {
        if self.domains.contains(domain) {
            return Ok(());
        }
        self.domains.insert(domain.to_owned());
        let links = self
            .global_links
            .iter()
            .map(|[m, r]| vec![m.clone(), r.clone(), domain.to_owned()])
            .collect();
        self.add_links(links).await
    }

    async fn add_links(&mut self, links: Vec<Vec<String>>) -> Result<(), ReferenceError> {
        let new: Vec<Vec<String>> = links
            .into_iter()
            .filter(|l| self.links.insert(l.clone()))
            .collect();
        if !new.is_empty() {
            self.enforcer.add_grouping_policies(new).await?;
        }
        Ok(())
    }
}
