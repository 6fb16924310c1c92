use super::*;
use crate::identity::{GlobalRole, Identity, Scope, Scopes, SubjectKind, TeamMembership, TeamRole};

fn identity(
    kind: SubjectKind,
    name: &str,
    key: Option<&str>,
    teams: &[(&str, TeamRole)],
    role: GlobalRole,
) -> Identity {
    Identity {
        principal_id: Some(format!("id-{name}")),
        name: name.into(),
        kind,
        key_id: key.map(Into::into),
        key_team: None,
        teams: teams
            .iter()
            .map(|(team, role)| TeamMembership {
                team_id: format!("tid-{team}"),
                team: (*team).into(),
                role: *role,
            })
            .collect(),
        role,
        scopes: Scopes::all(),
        claims: Default::default(),
    }
}

fn user(name: &str, teams: &[(&str, TeamRole)]) -> Identity {
    identity(
        SubjectKind::User,
        name,
        Some(&format!("k-{name}")),
        teams,
        GlobalRole::Member,
    )
}

const TABLE_POLICY: &str = r#"
policies:
  - { subject: "role:admin", resource: "*", action: "*" }                                     # 0
  - { subject: "team:ml", resource: "model:gpt-4*", action: invoke }                          # 1
  - { subject: "team:ml", resource: "model:gpt-4-32k", action: invoke, effect: deny }         # 2
  - { subject: "role:engineer", resource: "mcp:jira/*", action: call }                        # 3
  - { subject: "role:engineer", resource: "mcp:jira/delete_issue", action: call, effect: deny } # 4
  - { subject: "role:lead", resource: "mcp:billing/*", action: call, team: ml }               # 5
  - { subject: "role:team-admin", resource: "admin:teams", action: manage }                   # 6
  - { subject: "key:k-ci", resource: "model:llama-3", action: invoke }                        # 7
  - { subject: "service:triage", resource: "agent:support-*", action: send }                  # 8
  - { subject: "role:authenticated", resource: "model:*", action: list }                      # 9
  - { subject: "user:carol", resource: "*", action: "*", effect: deny }                       # 10
  - { subject: "role:contractor", resource: "model:*", action: invoke, team: ops }            # 11
  - { subject: "role:team-viewer", resource: "admin:teams", action: read }                    # 12
  - { subject: "role:admin", resource: "admin:teams", action: manage, effect: deny, team: ops }  # 13
  - { subject: "role:planner", resource: "admin:budgets", action: read }                      # 14
roles:
  - { member: "user:alice", role: "role:ml-engineer" }
  - { member: "role:ml-engineer", role: "role:engineer" }
  - { member: "user:bob", role: "role:lead", team: ml }
  - { member: "user:dave", role: "role:contractor", team: ops }
  - { member: "role:lead", role: "role:budget-keeper", team: ml }
  - { member: "role:lead", role: "role:planner" }
"#;

#[test]
fn decision_table() {
    let authorizer = Authorizer::new(PolicySet::from_yaml(TABLE_POLICY).unwrap()).unwrap();
    let mut reference = CasbinReference::new(authorizer.policy_set()).unwrap();
    let alice = Subjects::of(&user("alice", &[("ml", TeamRole::Member)]));
    let bob = Subjects::of(&user("bob", &[("ml", TeamRole::Viewer)]));
    let carol = Subjects::of(&identity(
        SubjectKind::User,
        "carol",
        None,
        &[],
        GlobalRole::Admin,
    ));
    let root = Subjects::of(&identity(
        SubjectKind::Key,
        "bootstrap",
        Some("k-root"),
        &[],
        GlobalRole::Admin,
    ));
    let ci = Subjects::of(&identity(
        SubjectKind::Service,
        "ci",
        Some("k-ci"),
        &[],
        GlobalRole::Member,
    ));
    let ci_other_key = Subjects::of(&identity(
        SubjectKind::Service,
        "ci",
        Some("k-ci-2"),
        &[],
        GlobalRole::Member,
    ));
    let triage = Subjects::of(&identity(
        SubjectKind::Service,
        "triage",
        None,
        &[],
        GlobalRole::Member,
    ));
    let owner = Subjects::of(&user(
        "olga",
        &[("ml", TeamRole::Owner), ("ops", TeamRole::Viewer)],
    ));
    let dave = Subjects::of(&user("dave", &[]));

    use Action::*;
    use Decision::{Allow, Deny};
    use DenyReason::{Denied, NoGrant};
    let model = Resource::model;
    let tool = Resource::tool;
    let admin = Resource::admin;
    let allow = |policy| Allow { policy };
    let denied = |policy| Deny(Denied { policy });
    #[rustfmt::skip]
    let cases: Vec<(&str, &Subjects, Request<'_>, Decision)> = vec![
        // wildcards and deny overrides on a team grant
        ("team grant, prefix", &alice, Request::new(model("gpt-4o"), Invoke), allow(1)),
        ("prefix matches empty rest", &alice, Request::new(model("gpt-4"), Invoke), allow(1)),
        ("deny overrides allow", &alice, Request::new(model("gpt-4-32k"), Invoke), denied(2)),
        ("default deny", &alice, Request::new(model("claude-3"), Invoke), Deny(NoGrant)),
        ("other action", &alice, Request::new(model("gpt-4o"), Manage), Deny(NoGrant)),
        ("list for everyone", &alice, Request::new(model("claude-3"), List), allow(9)),
        ("list is per kind", &alice, Request::new(tool("jira/x"), List), Deny(NoGrant)),
        // inheritance: alice -> ml-engineer -> engineer
        ("inherited", &alice, Request::new(tool("jira/create_issue"), Call), allow(3)),
        ("inherited deny", &alice, Request::new(tool("jira/delete_issue"), Call), denied(4)),
        ("server wildcard only", &alice, Request::new(tool("slack/post"), Call), Deny(NoGrant)),
        ("not across servers", &alice, Request::new(tool("jira2/create"), Call), Deny(NoGrant)),
        // team scoping
        ("scoped role in its team", &bob, Request::new(tool("billing/refund"), Call).in_team("ml"), allow(5)),
        ("scoped role elsewhere", &bob, Request::new(tool("billing/refund"), Call).in_team("ops"), Deny(NoGrant)),
        ("scoped role, then global link", &bob, Request::new(admin(AdminArea::Budgets), Read).in_team("ml"), allow(14)),
        ("not outside its team", &bob, Request::new(admin(AdminArea::Budgets), Read), Deny(NoGrant)),
        ("scoped role outside teams", &bob, Request::new(tool("billing/refund"), Call), Deny(NoGrant)),
        ("scoped line other team", &dave, Request::new(model("gpt-4o"), Invoke), Deny(NoGrant)),
        ("scoped line and link", &dave, Request::new(model("gpt-4o"), Invoke).in_team("ops"), allow(11)),
        ("team owner manages own team", &owner, Request::new(admin(AdminArea::Teams), Manage).in_team("ml"), allow(6)),
        ("viewer cannot manage", &owner, Request::new(admin(AdminArea::Teams), Manage).in_team("ops"), Deny(NoGrant)),
        ("viewer reads", &owner, Request::new(admin(AdminArea::Teams), Read).in_team("ops"), allow(12)),
        ("not another team", &owner, Request::new(admin(AdminArea::Teams), Manage).in_team("sales"), Deny(NoGrant)),
        ("team role needs a team", &owner, Request::new(admin(AdminArea::Teams), Manage), Deny(NoGrant)),
        ("member is not admin", &alice, Request::new(admin(AdminArea::Teams), Manage).in_team("ml"), Deny(NoGrant)),
        ("member reads own team", &alice, Request::new(admin(AdminArea::Teams), Read).in_team("ml"), allow(12)),
        // key-scoped grants
        ("key grant", &ci, Request::new(model("llama-3"), Invoke), allow(7)),
        ("same principal, other key", &ci_other_key, Request::new(model("llama-3"), Invoke), Deny(NoGrant)),
        ("agents", &triage, Request::new(Resource::agent("support-1"), Send), allow(8)),
        ("agents prefix", &triage, Request::new(Resource::agent("sales-1"), Send), Deny(NoGrant)),
        // hub admins, and denials that bind them too
        ("admin everything", &root, Request::new(admin(AdminArea::Secrets), Manage), allow(0)),
        ("admin in a team", &root, Request::new(tool("any/thing"), Call).in_team("ml"), allow(0)),
        ("scoped deny binds admin", &root, Request::new(admin(AdminArea::Teams), Manage).in_team("ops"), denied(13)),
        ("scoped deny, other team", &root, Request::new(admin(AdminArea::Teams), Manage).in_team("ml"), allow(0)),
        ("user deny beats admin", &carol, Request::new(model("gpt-4o"), List), denied(10)),
    ];
    for (what, subjects, request, expected) in cases {
        let decision = authorizer.decide(subjects, &request);
        assert_eq!(decision, expected, "{what}: {request:?}");
        assert_eq!(
            reference.enforce(subjects, &request).unwrap(),
            expected.is_allowed(),
            "casbin disagrees on {what}"
        );
    }
}

#[test]
fn scopes_narrow_every_decision() {
    let authorizer = Authorizer::new(starter_policy()).unwrap();
    let mut admin = identity(
        SubjectKind::User,
        "root",
        Some("k1"),
        &[],
        GlobalRole::Admin,
    );
    admin.scopes = Scopes::parse(["admin:read", "mcp"]).unwrap();
    let subjects = Subjects::of(&admin);
    let cases = [
        (
            Request::new(Resource::model("gpt-4o"), Action::Invoke),
            Some(Scope::Llm),
        ),
        (Request::new(Resource::tool("jira/x"), Action::Call), None),
        (
            Request::new(Resource::agent("a"), Action::Send),
            Some(Scope::A2a),
        ),
        (
            Request::new(Resource::admin(AdminArea::Keys), Action::Read),
            None,
        ),
        (
            Request::new(Resource::admin(AdminArea::Keys), Action::Manage),
            Some(Scope::Admin),
        ),
    ];
    for (request, missing) in cases {
        let expected = match missing {
            Some(scope) => Decision::Deny(DenyReason::MissingScope(scope)),
            None => Decision::Allow { policy: 0 },
        };
        assert_eq!(
            authorizer.decide(&subjects, &request),
            expected,
            "{request:?}"
        );
        assert!(
            authorizer
                .decide_by_policy(&subjects, &request)
                .is_allowed()
        );
    }
}

#[test]
fn identity_expansion() {
    let mut alice = user(
        "alice",
        &[("ml", TeamRole::Owner), ("ops", TeamRole::Member)],
    );
    alice.key_team = Some("research".into());
    let subjects = Subjects::of(&alice);
    assert_eq!(
        subjects.global,
        [
            "user:alice",
            "key:k-alice",
            "team:ml",
            "team:ops",
            "team:research",
            "role:authenticated"
        ]
    );
    let in_team: Vec<(&str, &str)> = subjects
        .in_team
        .iter()
        .map(|(t, s)| (t.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        in_team,
        [
            ("ml", "role:team-owner"),
            ("ml", "role:team-admin"),
            ("ml", "role:team-member"),
            ("ml", "role:team-viewer"),
            ("ops", "role:team-member"),
            ("ops", "role:team-viewer"),
        ]
    );
    let in_ops: Vec<&str> = subjects.active(Some("ops")).collect();
    assert_eq!(
        in_ops[in_ops.len() - 2..],
        ["role:team-member", "role:team-viewer"]
    );
    assert_eq!(subjects.active(None).count(), 6);
    assert_eq!(subjects.scopes, Scopes::all());

    let bootstrap = identity(
        SubjectKind::Key,
        "bootstrap",
        Some("k0"),
        &[],
        GlobalRole::Admin,
    );
    assert_eq!(
        Subjects::of(&bootstrap).global,
        [
            "key:bootstrap",
            "key:k0",
            "role:admin",
            "role:authenticated"
        ]
    );
    let agent = identity(
        SubjectKind::Agent,
        "planner",
        None,
        &[("ml", TeamRole::Viewer)],
        GlobalRole::Member,
    );
    let subjects = Subjects::of(&agent);
    assert_eq!(
        subjects.global,
        ["agent:planner", "team:ml", "role:authenticated"]
    );
    assert_eq!(
        subjects.in_team,
        [("ml".to_owned(), "role:team-viewer".to_owned())]
    );

    // The authorizer follows role assignments from there.
    let set = PolicySet::from_yaml(TABLE_POLICY).unwrap();
    let authorizer = Authorizer::new(set).unwrap();
    let bob = Subjects::of(&user("bob", &[("ml", TeamRole::Viewer)]));
    let acting = authorizer.acting_subjects(&bob, Some("ml"));
    for expected in [
        "role:lead",
        "role:budget-keeper",
        "role:team-viewer",
        "team:ml",
        "user:bob",
    ] {
        assert!(
            acting.iter().any(|s| s == expected),
            "{expected} in {acting:?}"
        );
    }
    assert!(
        !authorizer
            .acting_subjects(&bob, None)
            .iter()
            .any(|s| s == "role:lead")
    );
}

#[test]
fn validation_reports_every_problem_with_its_path() {
    let set = PolicySet::from_yaml(
        r#"
policies:
  - { subject: "user:alice", resource: "modle:gpt-4", action: invoke }
  - { subject: "alice", resource: "model:gpt-4", action: invoke }
  - { subject: "user:alice", resource: "model:gpt-4", action: invok }
  - { subject: "user:alice", resource: "mcp:jira", action: call }
  - { subject: "user:alice", resource: "model:gpt*-4", action: invoke }
  - { subject: "user:alice", resource: "model:gpt-4", action: call }
  - { subject: "user:alice", resource: "model:gpt-4", action: invoke, team: "*" }
  - { subject: "user:alice", resource: "admin:budget", action: manage }
  - { subject: "team:ml*", resource: "model:", action: invoke }
  - { subject: "user:alice", resource: "*", action: "*", effect: deny }
  - { subject: "role:lead", resource: "admin:budgets", action: manage, team: ml }
  - { subject: "role:lead", resource: "admin:*", action: read, team: ml }
  - { subject: "role:lead", resource: "admin:teams", action: manage, team: ml }
  - { subject: "role:lead", resource: "admin:keys", action: manage, team: "-" }
roles:
  - { member: "user:alice", role: "user:bob" }
  - { member: "grp:x", role: "role:x", team: "-" }
  - { member: "role:x", role: "role:x" }
"#,
    )
    .unwrap();
    let problems = set.validate();
    let expected = [
        ("policies[0].resource", r#"unknown resource kind "modle:""#),
        ("policies[1].subject", r#""alice" is not a subject"#),
        ("policies[2].action", r#"unknown action "invok""#),
        (
            "policies[3].resource",
            "is not mcp:<server>/<tool> (use mcp:jira/*",
        ),
        ("policies[4].resource", "only allowed at the end"),
        (
            "policies[5].action",
            r#"action "call" does not apply to model: resources (expected invoke, list or *)"#,
        ),
        ("policies[6].team", r#"invalid team name "*""#),
        ("policies[7].resource", r#"unknown admin area "budget""#),
        ("policies[8].subject", "subjects take no wildcards"),
        ("policies[8].resource", "has no name"),
        (
            "policies[10].team",
            r#"team "ml" cannot scope admin:budgets: only admin:teams requests are made within a team, so this line would never match (that area is hub-wide: drop `team`)"#,
        ),
        (
            "policies[11].team",
            "cannot scope admin:*: only admin:teams requests are made within a team",
        ),
        ("policies[13].team", r#"invalid team name "-""#),
        ("roles[0].role", "is not a role"),
        ("roles[1].member", r#"unknown subject kind "grp:""#),
        ("roles[1].team", "invalid team name"),
        ("roles[2].role", "cannot be assigned to itself"),
    ];
    let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), expected.len(), "{got:#?}");
    for (problem, (path, message)) in problems.iter().zip(expected) {
        assert_eq!(problem.path, path, "{got:#?}");
        assert!(
            problem.message.contains(message),
            "{problem} lacks {message}"
        );
    }
    let err = Authorizer::new(set).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid policy: 17 problems\n  policies[0].resource: ")
    );
}

#[test]
fn role_graph_problems() {
    let cycle = PolicySet {
        policies: vec![],
        roles: vec![
            RoleRule::new("role:a", "role:b"),
            RoleRule::new("role:b", "role:c"),
            RoleRule::new("role:c", "role:a").in_team("ml"),
        ],
    };
    let problems = cycle.validate();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "roles[2]");
    assert!(
        problems[0].message.contains("cycle: role:"),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].message.ends_with("(within team ml)"),
        "{}",
        problems[0]
    );

    let global_cycle = PolicySet {
        policies: vec![],
        roles: vec![
            RoleRule::new("role:a", "role:b"),
            RoleRule::new("role:b", "role:a"),
            RoleRule::new("user:x", "role:a").in_team("ml"),
            RoleRule::new("user:x", "role:b").in_team("ops"),
        ],
    };
    let problems = global_cycle.validate();
    assert_eq!(
        problems.len(),
        1,
        "reported once, not per team: {problems:?}"
    );
    assert_eq!(problems[0].path, "roles[1]");
    assert_eq!(
        problems[0].message,
        "role assignments form a cycle: role:a → role:b → role:a"
    );

    let chain = |n: usize| PolicySet {
        policies: vec![PolicyRule::allow(format!("role:r{n}"), "model:m", "invoke")],
        roles: (0..n)
            .map(|i| RoleRule::new(format!("role:r{i}"), format!("role:r{}", i + 1)))
            .collect(),
    };
    assert!(chain(MAX_ROLE_DEPTH).validate().is_empty());
    let problems = chain(MAX_ROLE_DEPTH + 1).validate();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "roles[0]");
    assert!(
        problems[0]
            .message
            .contains("9 levels deep, more than 8: role:r0 → role:r1")
    );

    // The deepest allowed chain still reaches the grant, in casbin too.
    let set = chain(MAX_ROLE_DEPTH);
    let authorizer = Authorizer::new(set.clone()).unwrap();
    let mut reference = CasbinReference::new(&set).unwrap();
    let request = Request::new(Resource::model("m"), Action::Invoke);
    for subjects in [
        Subjects::new(["role:r0"]),
        Subjects::new(["user:x"]).with_team_subject("ml", "role:r0"),
    ] {
        let team_request = request.in_team("ml");
        assert!(authorizer.allows(&subjects, &team_request));
        assert!(reference.enforce(&subjects, &team_request).unwrap());
    }
}

#[test]
fn yaml_format() {
    let err = PolicySet::from_yaml(
        "policies:\n  - { subject: user:a, resource: \"*\", action: \"*\", efect: deny }\n",
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(err.problems[0].path.starts_with("policies[0]"), "{err}");
    assert!(
        err.problems[0].message.contains("unknown field `efect`"),
        "{err}"
    );
    let err = PolicySet::from_yaml("policies: []\nrole: []\n").unwrap_err();
    assert!(
        err.problems[0].message.contains("unknown field `role`"),
        "{err}"
    );
    let err = PolicySet::from_yaml(
        "policies:\n  - { subject: user:a, resource: \"*\", action: \"*\", effect: maybe }\n",
    )
    .unwrap_err();
    assert_eq!(err.problems[0].path, "policies[0].effect", "{err}");

    let set = PolicySet::from_yaml(TABLE_POLICY).unwrap();
    assert_eq!(
        set.policies[2],
        PolicyRule::deny("team:ml", "model:gpt-4-32k", "invoke")
    );
    assert_eq!(
        set.policies[5],
        PolicyRule::allow("role:lead", "mcp:billing/*", "call").in_team("ml")
    );
    assert_eq!(
        set.roles[2],
        RoleRule::new("user:bob", "role:lead").in_team("ml")
    );
    // Round trip.
    let yaml = serde_yaml_ng::to_string(&set).unwrap();
    assert_eq!(PolicySet::from_yaml(&yaml).unwrap(), set);
}

#[test]
fn starter_policy_matches_its_yaml_and_works() {
    let set = PolicySet::from_yaml(STARTER_POLICY_YAML).unwrap();
    assert_eq!(set, starter_policy());
    assert!(set.validate().is_empty());
    let authorizer = Authorizer::new(set).unwrap();
    let mut reference = CasbinReference::new(authorizer.policy_set()).unwrap();

    let root = Subjects::of(&identity(
        SubjectKind::Key,
        "bootstrap",
        Some("k0"),
        &[],
        GlobalRole::Admin,
    ));
    let owner = Subjects::of(&user("alice", &[("ml", TeamRole::Owner)]));
    let mut with_team_key = user("carl", &[("ml", TeamRole::Member)]);
    with_team_key.key_team = Some("ml".into());
    let member = Subjects::of(&with_team_key);
    let viewer = Subjects::of(&user("vic", &[("ml", TeamRole::Viewer)]));
    let loner = Subjects::of(&user("lee", &[]));

    use Action::*;
    let teams = Resource::admin(AdminArea::Teams);
    #[rustfmt::skip]
    let cases: Vec<(&str, &Subjects, Request<'_>, bool)> = vec![
        ("admin manages secrets", &root, Request::new(Resource::admin(AdminArea::Secrets), Manage), true),
        ("admin creates teams", &root, Request::new(teams, Manage), true),
        ("admin invokes", &root, Request::new(Resource::model("gpt-4o"), Invoke), true),
        ("owner manages own team", &owner, Request::new(teams, Manage).in_team("ml"), true),
        ("owner reads own team", &owner, Request::new(teams, Read).in_team("ml"), true),
        ("owner not other team", &owner, Request::new(teams, Manage).in_team("ops"), false),
        ("owner cannot create teams", &owner, Request::new(teams, Manage), false),
        ("owner no secrets", &owner, Request::new(Resource::admin(AdminArea::Secrets), Read), false),
        ("member reads team", &member, Request::new(teams, Read).in_team("ml"), true),
        ("member cannot manage", &member, Request::new(teams, Manage).in_team("ml"), false),
        ("member invokes for team", &member, Request::new(Resource::model("gpt-4o"), Invoke).in_team("ml"), true),
        ("member calls tools", &member, Request::new(Resource::tool("jira/create"), Call).in_team("ml"), true),
        ("member sends", &member, Request::new(Resource::agent("triage"), Send).in_team("ml"), true),
        ("not outside the team", &member, Request::new(Resource::model("gpt-4o"), Invoke), false),
        ("viewer cannot invoke", &viewer, Request::new(Resource::model("gpt-4o"), Invoke).in_team("ml"), false),
        ("viewer lists", &viewer, Request::new(Resource::model("gpt-4o"), List), true),
        ("anyone lists tools", &loner, Request::new(Resource::tool("jira/create"), List), true),
        ("anyone lists agents", &loner, Request::new(Resource::agent("x"), List), true),
        ("nobody else invokes", &loner, Request::new(Resource::model("gpt-4o"), Invoke).in_team("ml"), false),
        ("no user directory", &loner, Request::new(Resource::admin(AdminArea::Users), Read), false),
        ("no key listing", &owner, Request::new(Resource::admin(AdminArea::Keys), Read).in_team("ml"), false),
    ];
    for (what, subjects, request, expected) in cases {
        assert_eq!(authorizer.allows(subjects, &request), expected, "{what}");
        assert_eq!(
            reference.enforce(subjects, &request).unwrap(),
            expected,
            "casbin: {what}"
        );
    }
}

#[test]
fn authorizer_is_a_shareable_snapshot() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Authorizer>();
    shareable::<Subjects>();
}

#[test]
fn empty_authorizer_denies_everything() {
    let authorizer = Authorizer::default();
    let subjects = Subjects::new(["role:admin"]);
    let request = Request::new(Resource::model("m"), Action::Invoke);
    assert_eq!(
        authorizer.decide(&subjects, &request),
        Decision::Deny(DenyReason::NoGrant)
    );
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const TEAMS: [&str; 3] = ["t0", "t1", "t2"];
const MODELS: [&str; 6] = ["gpt-4o", "gpt-4o-mini", "gpt-3.5", "claude-3", "llama", "g"];
const TOOLS: [&str; 5] = [
    "jira/create",
    "jira/delete",
    "jira2/create",
    "slack/post",
    "s/x",
];
const AGENTS: [&str; 3] = ["triage", "support-1", "support-2"];
const AREAS: [&str; 4] = ["teams", "keys", "budgets", "secrets"];

fn gen_subject(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => format!("user:u{}", rng.below(3)),
        1 => format!("team:{}", rng.pick(&TEAMS)),
        2 => format!("key:k{}", rng.below(2)),
        3 => format!("service:s{}", rng.below(2)),
        4 => format!("agent:a{}", rng.below(2)),
        _ => format!("role:r{}", rng.below(6)),
    }
}

fn gen_pattern(rng: &mut Rng) -> String {
    if rng.chance(4) {
        return "*".into();
    }
    let (kind, names): (&str, &[&str]) = match rng.below(4) {
        0 => ("model", &MODELS),
        1 => ("mcp", &TOOLS),
        2 => ("agent", &AGENTS),
        _ => ("admin", &AREAS),
    };
    let name = *rng.pick(names);
    let pattern = match (kind, rng.below(4)) {
        (_, 0) => "*".to_owned(),
        ("admin", _) => name.to_owned(),
        ("mcp", 1) => format!("{}/*", name.split_once('/').map_or(name, |(s, _)| s)),
        (_, 1) => {
            let cut = 1 + rng.below(name.len());
            format!("{}*", &name[..cut])
        }
        _ => name.to_owned(),
    };
    format!("{kind}:{pattern}")
}

fn gen_action(rng: &mut Rng, resource: &str) -> String {
    if rng.chance(10) {
        return "*".into();
    }
    let kind = resource
        .split_once(':')
        .and_then(|(k, _)| ResourceKind::from_prefix(k));
    match kind {
        Some(kind) => rng.pick(kind.actions()).as_str().to_owned(),
        None => rng.pick(&Action::ALL).as_str().to_owned(),
    }
}

fn gen_set(rng: &mut Rng, policies: usize, roles: usize) -> PolicySet {
    let mut set = PolicySet::default();
    for _ in 0..policies {
        let resource = gen_pattern(rng);
        let action = gen_action(rng, &resource);
        // Half the lines are on roles, so that role assignments matter.
        let subject = if rng.chance(50) {
            format!("role:r{}", rng.below(6))
        } else {
            gen_subject(rng)
        };
        // Of the admin areas only admin:teams is decided within a team (validation says so).
        let scopable = !resource.starts_with("admin:") || resource == "admin:teams";
        let mut rule = PolicyRule::allow(subject, resource, action);
        if rng.chance(20) {
            rule.effect = Effect::Deny;
        }
        if rng.chance(30) && scopable {
            rule.team = Some(rng.pick(&TEAMS).to_string());
        }
        set.policies.push(rule);
    }
    for _ in 0..roles {
        // Roles only inherit from higher-numbered roles: the graph stays acyclic.
        let to = 1 + rng.below(5);
        let member = if rng.chance(60) {
            format!("role:r{}", rng.below(to))
        } else {
            loop {
                let s = gen_subject(rng);
                if !s.starts_with("role:") {
                    break s;
                }
            }
        };
        let mut rule = RoleRule::new(member, format!("role:r{to}"));
        if rng.chance(40) {
            rule.team = Some(rng.pick(&TEAMS).to_string());
        }
        set.roles.push(rule);
    }
    set
}

fn gen_subjects(rng: &mut Rng) -> Subjects {
    let mut subjects = Subjects::new((0..1 + rng.below(4)).map(|_| gen_subject(rng)));
    for _ in 0..rng.below(3) {
        subjects = subjects.with_team_subject(*rng.pick(&TEAMS), gen_subject(rng));
    }
    subjects
}

/// The compiled index and casbin's own enforce agree on every generated request.
#[test]
fn differential_against_casbin() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut compared = 0;
    let mut allowed = 0;
    let mut denied_by_line = 0;
    for round in 0..100 {
        let (policies, roles) = (5 + rng.below(60), rng.below(25));
        let set = gen_set(&mut rng, policies, roles);
        let problems = set.validate();
        assert!(problems.is_empty(), "round {round}: {problems:?}");
        let authorizer = Authorizer::new(set.clone()).unwrap();
        let mut reference = CasbinReference::new(&set).unwrap();
        let identities: Vec<Subjects> = (0..8).map(|_| gen_subjects(&mut rng)).collect();
        for _ in 0..60 {
            let subjects = rng.pick(&identities);
            let kind = *rng.pick(&ResourceKind::ALL);
            let name = match kind {
                ResourceKind::Model => *rng.pick(&MODELS),
                ResourceKind::Mcp => *rng.pick(&TOOLS),
                ResourceKind::Agent => *rng.pick(&AGENTS),
                ResourceKind::Admin => *rng.pick(&AREAS),
            };
            let mut request = Request::new(Resource { kind, name }, *rng.pick(&Action::ALL));
            match rng.below(5) {
                0 | 1 => {}
                2 => request.team = Some("t9"),
                _ => request.team = Some(*rng.pick(&TEAMS)),
            }
            let fast = authorizer.decide_by_policy(subjects, &request);
            let slow = reference.enforce(subjects, &request).unwrap();
            assert_eq!(
                fast.is_allowed(),
                slow,
                "round {round}: {request:?} by {subjects:?}\n{}",
                serde_yaml_ng::to_string(&set).unwrap()
            );
            // The line a decision names really matches.
            match fast {
                Decision::Allow { policy } | Decision::Deny(DenyReason::Denied { policy }) => {
                    let line = &set.policies[policy];
                    assert!(line.team.is_none() || line.team.as_deref() == request.team);
                    assert!(line.action == "*" || line.action == request.action.as_str());
                    assert_eq!(line.effect == Effect::Allow, fast.is_allowed(), "{line:?}");
                }
                _ => {}
            }
            compared += 1;
            allowed += usize::from(slow);
            denied_by_line +=
                usize::from(matches!(fast, Decision::Deny(DenyReason::Denied { .. })));
        }
    }
    // The generator must exercise every outcome, not just default deny.
    assert_eq!(compared, 6000);
    assert!(allowed > 300, "only {allowed} allowed");
    assert!(
        denied_by_line > 100,
        "only {denied_by_line} denied by a line"
    );
}

/// The example in the module documentation parses, validates and means what it says.
#[test]
fn module_doc_example_is_valid() {
    let source = include_str!("mod.rs");
    let yaml: String = source
        .lines()
        .skip_while(|line| !line.starts_with("//! ```yaml"))
        .skip(1)
        .take_while(|line| !line.starts_with("//! ```"))
        .map(|line| {
            format!(
                "{}\n",
                line.trim_start_matches("//!").trim_start_matches(' ')
            )
        })
        .collect();
    let set = PolicySet::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!((set.policies.len(), set.roles.len()), (6, 4));
    let authorizer = Authorizer::new(set).unwrap();
    let alice = Subjects::new(["user:alice"]);
    let bob = Subjects::new(["user:bob"]);
    let ml = Subjects::new(["team:ml"]);
    let call_jira = Request::new(Resource::tool("jira/create_issue"), Action::Call);
    let manage_team = Request::new(Resource::admin(AdminArea::Teams), Action::Manage);
    assert!(authorizer.allows(&alice, &call_jira));
    assert!(authorizer.allows(
        &ml,
        &Request::new(Resource::model("gpt-4o"), Action::Invoke)
    ));
    assert!(!authorizer.allows(
        &ml,
        &Request::new(Resource::model("gpt-4-32k"), Action::Invoke)
    ));
    assert!(authorizer.allows(&bob, &manage_team.in_team("ml")));
    assert!(!authorizer.allows(&bob, &manage_team.in_team("ops")));
    assert!(!authorizer.allows(&bob, &manage_team));
}
