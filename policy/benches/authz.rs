//! Authorization decisions at 10,000 policy lines: casbin's own `enforce` against the compiled
//! [`Authorizer`].
//!
//! Run with `cargo bench -p agenthub-policy --bench authz` (about a minute). The policy set is
//! generated deterministically: 10,000 policy lines (teams granted model prefixes, roles
//! granted tool servers, users and keys granted single models and agents, 5% deny lines, 10%
//! scoped to a team) over 2,000 users in 100 teams with 200 roles, plus 2,300 role
//! assignments.
//!
//! - `hit`: a user whose team grants the model (two subjects away through a role).
//! - `miss`: a model nobody grants the caller: every line is looked at and none matches.
//! - `deny`: an allow overridden by a deny line.
//! - `team`: a grant that only holds within the caller's team.

use std::hint::black_box;
use std::time::Duration;

use agenthub_policy::authz::{
    Action, Authorizer, CasbinReference, PolicyRule, PolicySet, Request, Resource, RoleRule,
    Subjects,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const LINES: usize = 10_000;
const USERS: usize = 2_000;
const TEAMS: usize = 100;
const ROLES: usize = 200;
const SCOPED_TEAMS: usize = 5;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

fn policy_set() -> PolicySet {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut set = PolicySet::default();
    // The lines the benchmark's questions are about.
    set.policies.extend([
        PolicyRule::allow("role:r1", "model:gpt-4*", "invoke"),
        PolicyRule::deny("team:t1", "model:gpt-4-32k", "invoke"),
        PolicyRule::allow("role:r2", "mcp:jira/*", "call").in_team("t1"),
    ]);
    while set.policies.len() < LINES {
        let rule = match rng.below(4) {
            0 => PolicyRule::allow(
                format!("team:t{}", rng.below(TEAMS)),
                format!("model:m{}-*", rng.below(300)),
                "invoke",
            ),
            1 => PolicyRule::allow(
                format!("role:r{}", rng.below(ROLES)),
                format!("mcp:s{}/*", rng.below(300)),
                "call",
            ),
            2 => PolicyRule::allow(
                format!("user:u{}", rng.below(USERS)),
                format!("model:m{}-{}", rng.below(300), rng.below(10)),
                "invoke",
            ),
            _ => PolicyRule::allow(
                format!("key:k{}", rng.below(USERS)),
                format!("agent:a{}", rng.below(500)),
                "send",
            ),
        };
        let rule = match rng.below(20) {
            0 => PolicyRule {
                effect: agenthub_policy::authz::Effect::Deny,
                ..rule
            },
            1 | 2 => rule.in_team(format!("t{}", rng.below(SCOPED_TEAMS))),
            _ => rule,
        };
        set.policies.push(rule);
    }
    // Every user is in a role; teams and roles inherit in layers (acyclic).
    for u in 0..USERS {
        set.roles.push(RoleRule::new(
            format!("user:u{u}"),
            format!("role:r{}", rng.below(ROLES / 2) + ROLES / 2),
        ));
    }
    for t in 0..TEAMS {
        set.roles.push(RoleRule::new(
            format!("team:t{t}"),
            format!("role:r{}", ROLES / 2 + t),
        ));
    }
    for r in ROLES / 2..ROLES {
        set.roles.push(RoleRule::new(
            format!("role:r{r}"),
            format!("role:r{}", rng.below(ROLES / 2)),
        ));
    }
    for r in 0..100 {
        set.roles.push(
            RoleRule::new(format!("role:r{}", ROLES / 2 + r), "role:r2")
                .in_team(format!("t{}", r % SCOPED_TEAMS)),
        );
    }
    set.roles.push(RoleRule::new("team:t1", "role:r1"));
    set
}

/// A user of team t1, authenticated with a key.
fn caller() -> Subjects {
    Subjects::new(["user:u7", "key:k7", "team:t1", "role:authenticated"])
        .with_team_subject("t1", "role:team-member")
}

fn questions() -> [(&'static str, Request<'static>, bool); 4] {
    [
        (
            "hit",
            Request::new(Resource::model("gpt-4o"), Action::Invoke),
            true,
        ),
        (
            "miss",
            Request::new(Resource::model("claude-3"), Action::Invoke),
            false,
        ),
        (
            "deny",
            Request::new(Resource::model("gpt-4-32k"), Action::Invoke),
            false,
        ),
        (
            "team",
            Request::new(Resource::tool("jira/create"), Action::Call).in_team("t1"),
            true,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let set = policy_set();
    assert_eq!(set.policies.len(), LINES);
    let authorizer = Authorizer::new(set.clone()).expect("valid policy");
    let mut reference = CasbinReference::new(&set).expect("casbin loads the policy");
    let subjects = caller();
    for (name, request, expected) in questions() {
        assert_eq!(authorizer.allows(&subjects, &request), expected, "{name}");
        assert_eq!(
            reference.enforce(&subjects, &request).unwrap(),
            expected,
            "casbin {name}"
        );
    }

    // The two agree at this scale too: half the requests are aimed at a random policy line
    // (its subject asks for a resource its pattern matches), half are random users' requests.
    let mut rng = Rng(42);
    let mut asks: Vec<(Subjects, String, Action, Option<String>)> = Vec::new();
    for i in 0..160 {
        let u = rng.below(USERS);
        let team = format!("t{}", u % TEAMS);
        let user = Subjects::new([
            format!("user:u{u}"),
            format!("key:k{u}"),
            format!("team:{team}"),
            "role:authenticated".to_owned(),
        ])
        .with_team_subject(team.clone(), "role:team-member");
        let ask = if i % 2 == 0 {
            let line = &set.policies[rng.below(LINES)];
            let mut caller = user;
            caller.global.push(line.subject.clone());
            let resource = line.resource.replace('*', "x");
            let team = line
                .team
                .clone()
                .or_else(|| (rng.below(2) == 0).then_some(team));
            (caller, resource, line.action.parse().unwrap(), team)
        } else {
            let (resource, action) = match rng.below(3) {
                0 => (
                    format!("model:m{}-{}", rng.below(300), rng.below(10)),
                    Action::Invoke,
                ),
                1 => (format!("mcp:s{}/x", rng.below(300)), Action::Call),
                _ => (format!("agent:a{}", rng.below(500)), Action::Send),
            };
            (user, resource, action, (rng.below(2) == 0).then_some(team))
        };
        asks.push(ask);
    }
    let (mut allowed, mut denied) = (0, 0);
    for (caller, resource, action, team) in &asks {
        let request = Request {
            resource: Resource::parse(resource).unwrap(),
            action: *action,
            team: team.as_deref(),
        };
        let fast = authorizer.allows(caller, &request);
        assert_eq!(
            fast,
            reference.enforce(caller, &request).unwrap(),
            "{request:?}"
        );
        if fast {
            allowed += 1;
        } else {
            denied += 1;
        }
    }
    println!(
        "casbin and the authorizer agree on {} requests ({allowed} allowed, {denied} denied)",
        asks.len()
    );

    let mut group = c.benchmark_group("casbin_enforce_10k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    for (name, request, _) in questions() {
        group.bench_function(name, |b| {
            b.iter(|| {
                reference
                    .enforce(black_box(&subjects), black_box(&request))
                    .unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("authorizer_10k");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, request, _) in questions() {
        group.bench_function(name, |b| {
            b.iter(|| authorizer.decide(black_box(&subjects), black_box(&request)))
        });
    }
    group.bench_function("hit_from_identity", |b| {
        let identity = agenthub_policy::Identity {
            principal_id: Some("p7".into()),
            name: "u7".into(),
            kind: agenthub_policy::SubjectKind::User,
            key_id: Some("k7".into()),
            key_team: Some("t1".into()),
            teams: vec![agenthub_policy::TeamMembership {
                team_id: "id-t1".into(),
                team: "t1".into(),
                role: agenthub_policy::TeamRole::Member,
            }],
            role: agenthub_policy::GlobalRole::Member,
            scopes: agenthub_policy::Scopes::default_for_new_key(),
            claims: Default::default(),
        };
        let request = questions()[0].1;
        b.iter(|| {
            let subjects = Subjects::of(black_box(&identity));
            authorizer.decide(&subjects, black_box(&request))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("build_10k");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("authorizer", |b| {
        b.iter_batched(
            || set.clone(),
            |set| Authorizer::new(set).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
