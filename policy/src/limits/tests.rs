//! Tests of the whole engine: rules as configured, requests as the hub describes them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::identity::{GlobalRole, Scopes, SubjectKind, TeamMembership, TeamRole};

// ---------------------------------------------------------------------------------------------
// Helpers

fn person(name: &str, key: &str, teams: &[&str]) -> Identity {
    Identity {
        principal_id: Some(format!("p-{name}")),
        name: name.into(),
        kind: SubjectKind::User,
        key_id: Some(key.into()),
        key_team: None,
        teams: teams
            .iter()
            .map(|t| TeamMembership {
                team_id: format!("t-{t}"),
                team: (*t).into(),
                role: TeamRole::Member,
            })
            .collect(),
        role: GlobalRole::Member,
        scopes: Scopes::default_for_new_key(),
        claims: Default::default(),
    }
}

static NO_METADATA: BTreeMap<String, String> = BTreeMap::new();

fn llm<'a>(identity: &'a Identity, model: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        identity,
        plane: Plane::Llm,
        model: Some(model),
        tool: None,
        agent: None,
        metadata: &NO_METADATA,
    }
}

fn with<'a>(facts: RequestFacts<'a>, metadata: &'a BTreeMap<String, String>) -> RequestFacts<'a> {
    RequestFacts { metadata, ..facts }
}

fn mcp<'a>(identity: &'a Identity, tool: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        identity,
        plane: Plane::Mcp,
        model: None,
        tool: Some(tool),
        agent: None,
        metadata: &NO_METADATA,
    }
}

fn limits(yaml: &str) -> Limits {
    let config: LimitsConfig = serde_yaml_ng::from_str(yaml).unwrap();
    Limits::new(&config, "replica-a").unwrap()
}

/// 2026-11-26 (a Thursday) at `hh:mm:ss`, UTC.
fn at(time: &str) -> Timestamp {
    on("2026-11-26", time)
}

fn on(date: &str, time: &str) -> Timestamp {
    let day: PeriodKey = date.parse().unwrap();
    let parts: Vec<i64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    let secs = parts[0] * 3600 + parts[1] * 60 + parts.get(2).copied().unwrap_or(0);
    Timestamp::from_unix_millis(day.start().unix_millis() + secs * 1000)
}

fn plus(t: Timestamp, ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(t.unix_millis() + ms)
}

const REQUEST: Usage = Usage {
    tokens: 0,
    cost: Usd::ZERO,
};

fn tokens(n: u64) -> Usage {
    Usage {
        tokens: n,
        cost: Usd::ZERO,
    }
}

fn dollars(cents: u64) -> Usage {
    Usage {
        tokens: 0,
        cost: Usd::from_cents(cents),
    }
}

/// Checks and charges the same usage; `Err` if refused.
fn call(
    limits: &Limits,
    facts: &RequestFacts<'_>,
    usage: Usage,
    now: Timestamp,
) -> Result<Charge, Rejection> {
    Ok(limits.check(facts, usage, now)?.charge(usage, now))
}

fn used(limits: &Limits, facts: &RequestFacts<'_>, rule: &str, now: Timestamp) -> u64 {
    limits
        .status(facts.identity, Some(facts), now)
        .into_iter()
        .find(|s| s.rule_id == rule)
        .map(|s| s.used)
        .unwrap_or_else(|| panic!("{rule} does not apply"))
}

// ---------------------------------------------------------------------------------------------
// The configuration examples in the documentation

#[test]
fn documented_examples_parse_and_validate() {
    let docs = include_str!("mod.rs");
    let mut blocks = 0;
    let mut rest = docs;
    while let Some(start) = rest.find("//! ```yaml\n") {
        let block = &rest[start + "//! ```yaml\n".len()..];
        let end = block.find("//! ```\n").unwrap();
        let yaml: String = block[..end]
            .lines()
            .map(|l| l.trim_start_matches("//!").strip_prefix(' ').unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let config: LimitsConfig = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(config.validate(), Ok(()), "{yaml}");
        assert!(!config.rate_limits.is_empty() || !config.budgets.is_empty());
        Limits::new(&config, "r").unwrap();
        blocks += 1;
        rest = &block[end..];
    }
    assert_eq!(blocks, 2);
}

#[test]
fn invalid_configuration_does_not_build() {
    let config: LimitsConfig = serde_yaml_ng::from_str(
        "rate_limits: [{id: a, limit_to: 0, unit: requests_per_fortnight}]",
    )
    .unwrap();
    let problems = Limits::new(&config, "r").unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["rate_limits[0].limit_to", "rate_limits[0].unit"]);
}

// ---------------------------------------------------------------------------------------------
// Rate limits

#[test]
fn each_unit_limits_its_sliding_window() {
    let alice = person("alice", "k1", &["ml"]);
    let cases = [
        ("requests_per_minute", 60_000, Interval::Minute),
        ("requests_per_hour", 3_600_000, Interval::Hour),
        ("requests_per_day", 86_400_000, Interval::Day),
        ("tokens_per_minute", 60_000, Interval::Minute),
        ("tokens_per_hour", 3_600_000, Interval::Hour),
        ("tokens_per_day", 86_400_000, Interval::Day),
    ];
    for (unit, window, interval) in cases {
        let limits = limits(&format!(
            "rate_limits: [{{id: r, limit_to: 5, unit: {unit}}}]"
        ));
        let facts = llm(&alice, "gpt-4o");
        let usage = if unit.starts_with("tokens") {
            tokens(1)
        } else {
            REQUEST
        };
        let t0 = at("10:00");
        for _ in 0..5 {
            call(&limits, &facts, usage, t0).unwrap();
        }
        let refused = limits.check(&facts, usage, t0).unwrap_err();
        assert_eq!(refused.kind, LimitKind::RateLimit, "{unit}");
        assert_eq!(refused.quota.interval, interval, "{unit}");
        assert_eq!(
            (refused.quota.limit, refused.quota.remaining),
            (5, 0),
            "{unit}"
        );
        // Released one window and one slot (1/60 of the window) after it was used.
        let released = plus(t0, window + window / 60);
        assert_eq!(refused.retry_after, released.since(t0), "{unit}");
        assert_eq!(refused.quota.reset_at, released, "{unit}");
        assert!(
            limits.check(&facts, usage, plus(released, -1)).is_err(),
            "{unit}"
        );
        call(&limits, &facts, usage, released).unwrap();
    }
}

#[test]
fn each_applies_per_keeps_its_own_counters() {
    let alice = person("alice", "k1", &["ml"]);
    let alice2 = person("alice", "k2", &["ml"]);
    let bob = person("bob", "k3", &["ml"]);
    let dave = person("dave", "k4", &["ops"]);
    let mut ops_key = person("alice", "k5", &["ml", "ops"]);
    ops_key.key_team = Some("ops".into());
    let apollo = BTreeMap::from([("project".to_owned(), "apollo".to_owned())]);
    let gemini = BTreeMap::from([("project".to_owned(), "gemini".to_owned())]);
    let (alice, alice2, bob, dave, ops_key, apollo, gemini) =
        (&alice, &alice2, &bob, &dave, &ops_key, &apollo, &gemini);
    // (applies_per, first request, second request, whether they share a counter)
    let cases = [
        ("", llm(alice, "gpt-4o"), llm(dave, "claude"), true),
        ("user", llm(alice, "gpt-4o"), llm(bob, "gpt-4o"), false),
        ("user", llm(alice, "gpt-4o"), llm(alice2, "claude"), true),
        ("team", llm(alice, "gpt-4o"), llm(bob, "gpt-4o"), true),
        ("team", llm(alice, "gpt-4o"), llm(dave, "gpt-4o"), false),
        // A key issued for a team is charged to that team.
        ("team", llm(ops_key, "gpt-4o"), llm(dave, "gpt-4o"), true),
        ("key", llm(alice, "gpt-4o"), llm(alice2, "gpt-4o"), false),
        ("key", llm(alice, "gpt-4o"), llm(alice, "claude"), true),
        ("model", llm(alice, "gpt-4o"), llm(bob, "gpt-4o"), true),
        ("model", llm(alice, "gpt-4o"), llm(alice, "claude"), false),
        ("model", mcp(alice, "jira/x"), mcp(bob, "slack/y"), true),
        (
            "metadata.project",
            with(llm(alice, "gpt-4o"), apollo),
            with(llm(bob, "claude"), apollo),
            true,
        ),
        (
            "metadata.project",
            with(llm(alice, "gpt-4o"), apollo),
            with(llm(alice, "gpt-4o"), gemini),
            false,
        ),
        // Leaving the key out does not escape the limit: all such requests share a counter.
        (
            "metadata.project",
            llm(alice, "gpt-4o"),
            llm(bob, "claude"),
            true,
        ),
        (
            "metadata.project",
            llm(alice, "gpt-4o"),
            with(llm(alice, "gpt-4o"), apollo),
            false,
        ),
    ];
    for (i, (per, first, second, shared)) in cases.iter().enumerate() {
        let per = if per.is_empty() {
            String::new()
        } else {
            format!(", applies_per: {per}")
        };
        let limits = limits(&format!(
            "rate_limits: [{{id: r, limit_to: 1, unit: requests_per_minute{per}}}]"
        ));
        let now = at("10:00");
        call(&limits, first, REQUEST, now).unwrap();
        assert_eq!(
            call(&limits, second, REQUEST, now).is_err(),
            *shared,
            "case {i}{per}"
        );
    }
}

#[test]
fn when_selects_the_requests_a_rule_counts() {
    let alice = person("alice", "k1", &["ml"]);
    let bob = person("bob", "k2", &["ops"]);
    let limits = limits(
        r#"
        rate_limits:
          - {id: gpt, when: {models: ["gpt-4*"]}, limit_to: 1, unit: requests_per_minute}
          - {id: ml, when: {subjects: ["team:ml"]}, limit_to: 3, unit: requests_per_minute}
          - {id: tpm, limit_to: 10, unit: tokens_per_minute}
        "#,
    );
    let now = at("10:00");
    // (request, admitted)
    let steps = [
        (llm(&bob, "gpt-4o"), true),
        (llm(&bob, "gpt-4o-mini"), false),
        (llm(&bob, "claude"), true),
        // Tool calls are not model requests: the model rule and the token rule ignore them,
        // whatever tokens are passed.
        (mcp(&bob, "jira/create"), true),
        (mcp(&bob, "jira/create"), true),
        (mcp(&alice, "jira/create"), true),
        (mcp(&alice, "jira/create"), true),
        (mcp(&alice, "jira/create"), true),
        (mcp(&alice, "jira/create"), false),
        (mcp(&bob, "jira/create"), true),
    ];
    for (i, (facts, admitted)) in steps.iter().enumerate() {
        assert_eq!(
            call(&limits, facts, tokens(4), now).is_ok(),
            *admitted,
            "step {i}"
        );
    }
    // The token rule saw the two admitted model requests only.
    assert_eq!(used(&limits, &llm(&bob, "claude"), "tpm", now), 8);
}

#[test]
fn a_rejected_request_consumes_nothing() {
    let alice = person("alice", "k1", &["ml"]);
    let bob = person("bob", "k2", &["ml"]);
    let carol = person("carol", "k3", &["ml"]);
    let limits = limits(
        r#"
        rate_limits:
          - {id: per-user, limit_to: 2, unit: requests_per_minute, applies_per: user}
          - {id: shared, limit_to: 3, unit: requests_per_minute}
        "#,
    );
    let now = at("10:00");
    let (a, b, c) = (llm(&alice, "m"), llm(&bob, "m"), llm(&carol, "m"));
    call(&limits, &a, REQUEST, now).unwrap();
    call(&limits, &a, REQUEST, now).unwrap();
    // Refused by per-user: the shared counter must not count it.
    let refused = call(&limits, &a, REQUEST, now).unwrap_err();
    assert_eq!(&*refused.quota.rule_id, "per-user");
    assert_eq!(used(&limits, &a, "shared", now), 2);
    call(&limits, &b, REQUEST, now).unwrap();
    // Refused by shared: carol's own counter must not count it.
    let refused = call(&limits, &c, REQUEST, now).unwrap_err();
    assert_eq!(&*refused.quota.rule_id, "shared");
    assert_eq!(refused.subject, "*");
    assert_eq!(used(&limits, &c, "per-user", now), 0);
    assert_eq!(used(&limits, &c, "shared", now), 3);
}

#[test]
fn a_budget_refusal_consumes_no_rate_limit() {
    let alice = person("alice", "k1", &["ml"]);
    let limits = limits(
        r#"
        rate_limits: [{id: rpm, limit_to: 100, unit: requests_per_minute}]
        budgets: [{id: daily, cost_per_day: 1}]
        "#,
    );
    let now = at("10:00");
    let facts = llm(&alice, "m");
    call(&limits, &facts, dollars(100), now).unwrap();
    let refused = call(&limits, &facts, dollars(1), now).unwrap_err();
    assert_eq!(refused.kind, LimitKind::Budget);
    assert_eq!(used(&limits, &facts, "rpm", now), 1);
}

#[test]
fn the_most_restrictive_limit_is_reported() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let limits = limits(
        r#"
        rate_limits:
          - {id: minute, limit_to: 10, unit: requests_per_minute}
          - {id: hour, limit_to: 100, unit: requests_per_hour}
          - {id: day, limit_to: 1000, unit: requests_per_day}
        "#,
    );
    let t0 = at("10:00");
    // After 8 requests: minute has 20% left, hour 92%, day 99.2%.
    for _ in 0..7 {
        call(&limits, &facts, REQUEST, t0).unwrap();
    }
    let admission = limits.check(&facts, REQUEST, t0).unwrap();
    let quota = admission.quota().unwrap().clone();
    let _ = admission.charge(REQUEST, t0);
    assert_eq!(
        (&*quota.rule_id, quota.limit, quota.remaining),
        ("minute", 10, 2)
    );
    assert_eq!(quota.reset_at, plus(t0, 61_000));
    assert_eq!(quota.reset_after_secs(t0), 61);
    // Fill the minute, then nine more minutes' worth: the hour is full (100) exactly when the
    // minute is (10).
    for _ in 0..2 {
        call(&limits, &facts, REQUEST, t0).unwrap();
    }
    let mut now = t0;
    for _ in 0..9 {
        now = plus(now, 61_000);
        for _ in 0..10 {
            call(&limits, &facts, REQUEST, now).unwrap();
        }
    }
    // Both minute (freed in 61 s) and hour (freed when 10:00's slot leaves, at 11:01) refuse:
    // the answer is the longer wait.
    let refused = limits.check(&facts, REQUEST, now).unwrap_err();
    assert_eq!(&*refused.quota.rule_id, "hour");
    assert_eq!(refused.retry_after, plus(t0, 3_660_000).since(now));
}

#[test]
fn retry_after_is_exact() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let limits = limits("rate_limits: [{id: r, limit_to: 3, unit: requests_per_minute}]");
    // Requests at irregular times; after each refusal, the promised moment admits and one
    // millisecond earlier does not.
    let mut now = at("10:00:00");
    let mut refusals = 0;
    for step in 0..200 {
        now = plus(now, [137, 5_003, 20_011, 1][step % 4]);
        match limits.check(&facts, REQUEST, now) {
            Ok(admission) => {
                let _ = admission.charge(REQUEST, now);
            }
            Err(refused) => {
                refusals += 1;
                assert!(refused.retry_after > Duration::ZERO);
                let wait = refused.retry_after.as_millis() as i64;
                assert_eq!(
                    refused.retry_after_secs(),
                    (wait as u64).div_ceil(1000).max(1)
                );
                // The client waits exactly as told.
                assert!(limits.check(&facts, REQUEST, plus(now, wait - 1)).is_err());
                now = plus(now, wait);
                let _ = limits
                    .check(&facts, REQUEST, now)
                    .unwrap()
                    .charge(REQUEST, now);
            }
        }
    }
    assert!(refusals > 10, "{refusals}");
}

#[test]
fn tokens_are_reserved_then_settled() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let limits = limits("rate_limits: [{id: tpm, limit_to: 1000, unit: tokens_per_minute}]");
    let t0 = at("10:00:00");
    // An overestimate is refunded.
    let admission = limits.check(&facts, tokens(600), t0).unwrap();
    assert_eq!(admission.quota().unwrap().remaining, 400);
    let _ = admission.charge(tokens(200), t0);
    assert_eq!(used(&limits, &facts, "tpm", t0), 200);
    // An estimate that does not fit is refused.
    let refused = limits.check(&facts, tokens(801), t0).unwrap_err();
    assert_eq!(refused.quota.remaining, 800);
    // An underestimate takes the counter over the limit...
    let t1 = at("10:00:30");
    let admission = limits.check(&facts, tokens(800), t1).unwrap();
    let _ = admission.charge(tokens(1500), t1);
    assert_eq!(used(&limits, &facts, "tpm", t1), 1700);
    // ... which then blocks everything, even a tiny request, until it has aged out: the 200 at
    // 10:00:00 leave at 10:01:01, but 1500 is still over; the 1500 leave at 10:01:31.
    let t2 = at("10:00:45");
    let refused = limits.check(&facts, tokens(1), t2).unwrap_err();
    assert_eq!(refused.quota.remaining, 0);
    assert_eq!(refused.retry_after, at("10:01:31").since(t2));
    assert!(limits.check(&facts, tokens(1), at("10:01:01")).is_err());
    call(&limits, &facts, tokens(1000), at("10:01:31")).unwrap();
    // Settled in a later slot, a refund comes out of the slot the estimate went to.
    let t3 = at("10:05:00");
    let admission = limits.check(&facts, tokens(500), t3).unwrap();
    let _ = admission.charge(tokens(100), plus(t3, 20_000));
    assert_eq!(used(&limits, &facts, "tpm", plus(t3, 20_000)), 100);
    // Refused because the request alone is over the limit: retrying cannot help.
    let refused = limits.check(&facts, tokens(1001), t3).unwrap_err();
    assert!(refused.exceeds_limit);
    assert_eq!(refused.error_kind(), ErrorKind::InvalidRequest);
}

#[test]
fn an_admission_dropped_uncharged_keeps_its_estimate() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let limits = limits(
        r#"
        rate_limits: [{id: tpm, limit_to: 1000, unit: tokens_per_minute}]
        budgets: [{id: b, tokens_per_day: 10000}]
        "#,
    );
    let now = at("10:00");
    drop(limits.check(&facts, tokens(300), now).unwrap());
    assert_eq!(used(&limits, &facts, "tpm", now), 300);
    assert_eq!(used(&limits, &facts, "b", now), 0);
}

#[test]
fn rejections_explain_themselves() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let limits = limits(
        r#"
        rate_limits: [{id: team-rpm, limit_to: 1, unit: requests_per_minute, applies_per: team}]
        budgets: [{id: monthly, cost_per_month: 12.5, applies_per: user}]
        "#,
    );
    let now = at("10:00:00");
    call(&limits, &facts, dollars(1250), now).unwrap();
    let refused = limits.check(&facts, REQUEST, now).unwrap_err();
    // The budget waits until December; the rate limit a minute: the budget is reported.
    assert_eq!(
        refused.to_string(),
        "budget \"monthly\" reached for user:alice ($12.50 per month); retry in 396000 s"
    );
    assert_eq!(refused.error_kind(), ErrorKind::RateLimited);
    assert_eq!(refused.quota.reset_at, on("2026-12-01", "00:00"));
    let limits = self::limits(
        "rate_limits: [{id: team-rpm, limit_to: 1, unit: requests_per_minute, applies_per: team}]",
    );
    call(&limits, &facts, REQUEST, now).unwrap();
    let refused = limits.check(&facts, REQUEST, plus(now, 500)).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "rate limit \"team-rpm\" reached for team:ml (1 requests per minute); retry in 61 s"
    );
    assert_eq!(refused.retry_after, Duration::from_millis(60_500));
}

#[test]
fn concurrent_checks_never_admit_more_than_the_limit() {
    let limits = limits(
        r#"
        rate_limits:
          - {id: shared, limit_to: 1000, unit: requests_per_minute}
          - {id: per-user, limit_to: 150, unit: requests_per_minute, applies_per: user}
          - {id: tokens, limit_to: 50000, unit: tokens_per_minute}
        "#,
    );
    let users: Vec<Identity> = (0..8)
        .map(|i| person(&format!("u{i}"), &format!("k{i}"), &["ml"]))
        .collect();
    let admitted = AtomicU64::new(0);
    let tokens_admitted = AtomicU64::new(0);
    let now = at("10:00");
    std::thread::scope(|scope| {
        for thread in 0..16 {
            let (limits, users, admitted, tokens_admitted) =
                (&limits, &users, &admitted, &tokens_admitted);
            scope.spawn(move || {
                for i in 0..2_000u64 {
                    let user = &users[(thread + i as usize) % users.len()];
                    let facts = llm(user, "m");
                    let estimate = 10 + (i % 50);
                    if let Ok(admission) = limits.check(&facts, tokens(estimate), now) {
                        admitted.fetch_add(1, Ordering::Relaxed);
                        // Settle half of them high and half low.
                        let actual = if i % 2 == 0 { estimate / 2 } else { estimate };
                        tokens_admitted.fetch_add(actual, Ordering::Relaxed);
                        let _ = admission.charge(tokens(actual), now);
                    }
                }
            });
        }
    });
    let admitted = admitted.into_inner();
    // 8 users × 150 = 1200 > 1000: the shared limit binds, exactly.
    assert_eq!(admitted, 1000);
    let status = limits.status_all(now);
    let used_of = |rule: &str| -> u64 {
        status
            .iter()
            .filter(|s| s.rule_id == rule)
            .map(|s| s.used)
            .sum()
    };
    assert_eq!(used_of("shared"), 1000);
    assert_eq!(used_of("per-user"), 1000);
    assert!(
        status
            .iter()
            .filter(|s| s.rule_id == "per-user")
            .all(|s| s.used <= 150)
    );
    assert_eq!(used_of("tokens"), tokens_admitted.into_inner());
}

#[test]
fn concurrent_checks_on_one_counter_across_time() {
    // Threads race on one counter while time moves; every admission is logged with the
    // instant it was made at, and no minute ever holds more than the limit.
    let limits = limits("rate_limits: [{id: r, limit_to: 50, unit: requests_per_minute}]");
    let alice = person("alice", "k1", &["ml"]);
    let t0 = at("10:00").unix_millis();
    let log = std::sync::Mutex::new(Vec::new());
    // Each step is one instant all threads use, so time is the same for every thread.
    for step in 0..400i64 {
        let now = Timestamp::from_unix_millis(t0 + step * 700);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..5 {
                        if call(&limits, &llm(&alice, "m"), REQUEST, now).is_ok() {
                            log.lock().unwrap().push(now.unix_millis());
                        }
                    }
                });
            }
        });
    }
    let log = log.into_inner().unwrap();
    let busiest = log
        .iter()
        .map(|end| {
            log.iter()
                .filter(|t| **t > end - 60_000 && *t <= end)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(busiest, 50);
    assert!(log.len() >= 4 * 50, "{}", log.len());
}

// ---------------------------------------------------------------------------------------------
// Budgets

#[test]
fn budgets_block_on_the_estimate_and_charge_the_actual() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let limits = limits("budgets: [{id: b, cost_per_day: 10, applies_per: team}]");
    let now = at("10:00");
    let admission = limits.check(&facts, dollars(600), now).unwrap();
    let charge = admission.charge(dollars(550), now);
    assert_eq!(charge.usage.len(), 1);
    assert_eq!(charge.usage[0].spent, 5_500_000);
    assert_eq!(charge.usage[0].subject, "team:ml");
    // $4.50 left: an estimate of $4.51 is refused, $4.50 is not.
    let refused = limits.check(&facts, dollars(451), now).unwrap_err();
    assert_eq!(refused.quota.remaining, 4_500_000);
    assert_eq!(refused.quota.measure, Measure::Cost);
    let _ = limits
        .check(&facts, dollars(450), now)
        .unwrap()
        .charge(dollars(500), now);
    // Over by 50 cents now: everything is refused, even a free request.
    assert_eq!(used(&limits, &facts, "b", now), 10_500_000);
    let refused = limits.check(&facts, REQUEST, now).unwrap_err();
    assert_eq!(refused.quota.remaining, 0);
    assert_eq!(refused.retry_after, on("2026-11-27", "00:00").since(now));
    // An estimate above the whole budget can never pass.
    let limits = self::limits("budgets: [{id: b, tokens_per_month: 100}]");
    assert!(
        limits
            .check(&facts, tokens(101), now)
            .unwrap_err()
            .exceeds_limit
    );
    // Token budgets do not see tool calls.
    assert!(
        limits
            .check(&mcp(&alice, "jira/x"), tokens(101), now)
            .is_ok()
    );
}

#[test]
fn budget_periods_roll_over_on_calendar_boundaries() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    // (amount field, spent at, still spent at, fresh at)
    let cases = [
        (
            "cost_per_day",
            ("2026-11-26", "00:00"),
            ("2026-11-26", "23:59:59"),
            ("2026-11-27", "00:00"),
        ),
        (
            "cost_per_day",
            ("2026-12-31", "12:00"),
            ("2026-12-31", "23:59:59"),
            ("2027-01-01", "00:00"),
        ),
        (
            "cost_per_day",
            ("2024-02-28", "12:00"),
            ("2024-02-28", "23:59:59"),
            ("2024-02-29", "00:00"),
        ),
        // 2026-11-26 is a Thursday: its ISO week runs Monday 23rd to Sunday 29th.
        (
            "cost_per_week",
            ("2026-11-23", "00:00"),
            ("2026-11-29", "23:59:59"),
            ("2026-11-30", "00:00"),
        ),
        (
            "cost_per_week",
            ("2026-12-30", "09:00"),
            ("2027-01-03", "23:59:59"),
            ("2027-01-04", "00:00"),
        ),
        (
            "cost_per_month",
            ("2026-01-31", "12:00"),
            ("2026-01-31", "23:59:59"),
            ("2026-02-01", "00:00"),
        ),
        (
            "cost_per_month",
            ("2025-02-01", "00:00"),
            ("2025-02-28", "23:59:59"),
            ("2025-03-01", "00:00"),
        ),
        (
            "cost_per_month",
            ("2024-02-01", "00:00"),
            ("2024-02-29", "23:59:59"),
            ("2024-03-01", "00:00"),
        ),
        (
            "cost_per_month",
            ("2026-04-15", "00:00"),
            ("2026-04-30", "23:59:59"),
            ("2026-05-01", "00:00"),
        ),
        (
            "cost_per_month",
            ("2026-12-01", "00:00"),
            ("2026-12-31", "23:59:59"),
            ("2027-01-01", "00:00"),
        ),
        (
            "tokens_per_day",
            ("2026-11-26", "08:00"),
            ("2026-11-26", "23:59:59"),
            ("2026-11-27", "00:00"),
        ),
        (
            "tokens_per_month",
            ("2028-02-29", "08:00"),
            ("2028-02-29", "23:59:59"),
            ("2028-03-01", "00:00"),
        ),
    ];
    for (field, spent, still, fresh) in cases {
        let limits = limits(&format!("budgets: [{{id: b, {field}: 10}}]"));
        let usage = if field.starts_with("tokens") {
            tokens(10)
        } else {
            dollars(1000)
        };
        let (spent, still, fresh) = (
            on(spent.0, spent.1),
            on(still.0, still.1),
            on(fresh.0, fresh.1),
        );
        call(&limits, &facts, usage, spent).unwrap();
        let refused = limits.check(&facts, usage, still).unwrap_err();
        assert_eq!(refused.quota.reset_at, fresh, "{field} {spent}");
        assert_eq!(refused.retry_after, fresh.since(still), "{field} {spent}");
        assert_eq!(refused.retry_after_secs(), 1, "{field} {spent}");
        let charge = call(&limits, &facts, usage, fresh).unwrap();
        assert_eq!(
            charge.usage[0].period,
            limits.budgets[0].limit.period.containing(fresh)
        );
        assert_eq!(
            charge.usage[0].version, 1,
            "{field} {spent}: a new period starts anew"
        );
    }
}

#[test]
fn audit_mode_counts_and_alerts_but_never_blocks() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let limits = limits(
        r#"
        budgets:
          - {id: showback, cost_per_day: 1, audit_mode: true, alert_thresholds: [100, 50]}
        "#,
    );
    let now = at("10:00");
    let mut fired = Vec::new();
    for _ in 0..5 {
        let admission = limits.check(&facts, dollars(60), now).unwrap();
        let overruns = admission.audit_overruns().count();
        let charge = admission.charge(dollars(60), now);
        fired.extend(
            charge
                .alerts
                .iter()
                .map(|a| (a.threshold, a.spent, overruns)),
        );
        assert!(charge.alerts.iter().all(|a| a.audit_mode));
    }
    // 50% at $0.60, 100% at $1.20; the first check that would have blocked is the second.
    assert_eq!(fired, [(50, 600_000, 0), (100, 1_200_000, 1)]);
    let status = limits.status(&alice, None, now);
    assert_eq!((status[0].used, status[0].remaining), (3_000_000, 0));
    assert!(status[0].audit_mode);
    assert_eq!(status[0].alerts_fired, [50, 100]);
}

#[test]
fn alerts_fire_once_per_period_and_subject() {
    let alice = person("alice", "k1", &["ml"]);
    let bob = person("bob", "k2", &["ops"]);
    let limits = limits(
        "budgets: [{id: b, tokens_per_day: 100, applies_per: team, alert_thresholds: [75, 90, 100]}]",
    );
    let mut alerts: Vec<String> = Vec::new();
    let mut record = |charge: Charge| {
        alerts.extend(charge.alerts.iter().map(BudgetAlert::dedupe_key));
    };
    let day1 = at("10:00");
    for _ in 0..4 {
        record(call(&limits, &llm(&alice, "m"), tokens(20), day1).unwrap());
    }
    record(call(&limits, &llm(&bob, "m"), tokens(95), day1).unwrap());
    record(call(&limits, &llm(&alice, "m"), tokens(20), day1).unwrap());
    assert!(call(&limits, &llm(&alice, "m"), tokens(1), day1).is_err());
    let day2 = on("2026-11-27", "10:00");
    record(call(&limits, &llm(&alice, "m"), tokens(80), day2).unwrap());
    assert_eq!(
        alerts,
        [
            "b/team:ml/2026-11-26/75",
            "b/team:ops/2026-11-26/75",
            "b/team:ops/2026-11-26/90",
            "b/team:ml/2026-11-26/90",
            "b/team:ml/2026-11-26/100",
            "b/team:ml/2026-11-27/75",
        ]
    );
}

/// A store as the hub would keep one: rows keyed by `BudgetUsage::key`, written only if newer.
#[derive(Default)]
struct Store(BTreeMap<String, BudgetUsage>);

impl Store {
    fn write(&mut self, row: &BudgetUsage) {
        let (rule, subject, period, measure, replica) = row.key();
        let key = format!("{rule}|{subject}|{period}|{}|{replica}", measure.as_str());
        match self.0.get(&key) {
            Some(stored) if stored.version >= row.version => {}
            _ => {
                self.0.insert(key, row.clone());
            }
        }
    }

    fn rows(&self) -> Vec<BudgetUsage> {
        self.0.values().cloned().collect()
    }
}

fn sorted(mut rows: Vec<BudgetUsage>) -> Vec<BudgetUsage> {
    rows.sort_by(|a, b| {
        (&a.rule_id, &a.subject, &a.replica).cmp(&(&b.rule_id, &b.subject, &b.replica))
    });
    rows
}

const BUDGETS: &str = r#"
budgets:
  - {id: team-cost, cost_per_month: 100, applies_per: team, alert_thresholds: [50, 100]}
  - {id: user-tokens, tokens_per_day: 1000000, applies_per: user}
"#;

#[test]
fn usage_survives_a_restart_without_double_counting() {
    let people = [
        person("alice", "k1", &["ml"]),
        person("bob", "k2", &["ml"]),
        person("carol", "k3", &["ops"]),
    ];
    let before = limits(BUDGETS);
    let now = at("10:00");
    let mut store = Store::default();
    let mut deliveries = Vec::new();
    for (i, who) in people.iter().cycle().take(30).enumerate() {
        let usage = Usage {
            tokens: 1000 + i as u64,
            cost: Usd::from_cents(300 + i as u64),
        };
        deliveries.push(call(&before, &llm(who, "m"), usage, now).unwrap().usage);
    }
    // The async writer delivers every row twice, the second pass in reverse order.
    for rows in deliveries.iter().chain(deliveries.iter().rev()) {
        for row in rows {
            store.write(row);
        }
    }
    assert_eq!(sorted(store.rows()), sorted(before.snapshot()));
    // The snapshot serializes (the hub may keep it as JSON).
    let json = serde_json::to_string(&before.snapshot()).unwrap();
    let rows: Vec<BudgetUsage> = serde_json::from_str(&json).unwrap();
    assert_eq!(sorted(rows), sorted(store.rows()));

    // Restart, same replica id: restore from the store, then again (a replay).
    let after = limits(BUDGETS);
    let rows = store.rows();
    let report = after.restore(&rows, now);
    assert_eq!(
        report,
        RestoreReport {
            applied: rows.len(),
            unchanged: 0,
            ignored: 0
        }
    );
    let report = after.restore(&rows, now);
    assert_eq!(
        report,
        RestoreReport {
            applied: 0,
            unchanged: rows.len(),
            ignored: 0
        }
    );
    let sort = |mut s: Vec<LimitStatus>| {
        s.sort_by(|a, b| (&a.rule_id, &a.subject).cmp(&(&b.rule_id, &b.subject)));
        s
    };
    assert_eq!(sort(after.status_all(now)), sort(before.status_all(now)));
    // Charges continue the restored rows: the next version, no alert fired twice.
    let charge = call(&after, &llm(&people[0], "m"), dollars(1), now).unwrap();
    let row = charge
        .usage
        .iter()
        .find(|r| r.rule_id == "team-cost")
        .unwrap();
    let stored = rows
        .iter()
        .find(|r| r.rule_id == "team-cost" && r.subject == "team:ml")
        .unwrap();
    assert_eq!(row.version, stored.version + 1);
    assert_eq!(row.spent, stored.spent + 10_000);
    assert!(charge.alerts.is_empty());
    assert_eq!(stored.alerts_fired, [50]);

    // Rows of a past period, unknown budgets and foreign subjects are ignored.
    let mut old = stored.clone();
    old.period = "2026-10".parse().unwrap();
    let mut unknown = stored.clone();
    unknown.rule_id = "gone".into();
    let mut foreign = stored.clone();
    foreign.subject = "user:alice".into();
    let mut retyped = stored.clone();
    retyped.measure = Measure::Tokens;
    let report = after.restore([&old, &unknown, &foreign, &retyped], now);
    assert_eq!(report.ignored, 4);
    // Restored next month, nothing is current.
    let next_month = limits(BUDGETS);
    assert_eq!(
        next_month.restore(&rows, on("2026-12-01", "00:00")).applied,
        0
    );
}

#[test]
fn replicas_add_up_without_overwriting_each_other() {
    let config: LimitsConfig = serde_yaml_ng::from_str(BUDGETS).unwrap();
    let a = Limits::new(&config, "a").unwrap();
    let b = Limits::new(&config, "b").unwrap();
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let now = at("10:00");
    let mut store = Store::default();
    let mut published_by_a = Vec::new();
    for _ in 0..3 {
        let charge = call(&a, &facts, dollars(1000), now).unwrap();
        published_by_a.extend(charge.usage.clone());
        charge.usage.iter().for_each(|r| store.write(r));
    }
    let charge = call(&b, &facts, dollars(2500), now).unwrap();
    charge.usage.iter().for_each(|r| store.write(r));
    // Neither replica alone has reached 50% ($30 and $25 of $100).
    assert!(charge.alerts.is_empty());
    // b hears of a's rows (in any order, some twice): it sees the sum.
    b.restore(published_by_a.iter().rev(), now);
    b.restore(&published_by_a, now);
    assert_eq!(used(&b, &facts, "team-cost", now), 55_000_000);
    assert_eq!(used(&a, &facts, "team-cost", now), 30_000_000);
    a.restore(&charge.usage, now);
    assert_eq!(used(&a, &facts, "team-cost", now), 55_000_000);
    // The store holds one row per replica; restoring it anywhere gives the same sum.
    assert_eq!(
        store
            .rows()
            .iter()
            .filter(|r| r.rule_id == "team-cost")
            .count(),
        2
    );
    let fresh = Limits::new(&config, "c").unwrap();
    fresh.restore(&store.rows(), now);
    assert_eq!(used(&fresh, &facts, "team-cost", now), 55_000_000);
    // The sum crossed 50%: the next charge fires it, once, and a replica that hears of it does
    // not fire it again.
    let charge = call(&b, &facts, dollars(100), now).unwrap();
    let fired: Vec<u8> = charge.alerts.iter().map(|a| a.threshold).collect();
    assert_eq!(fired, [50]);
    assert_eq!(charge.alerts[0].spent, 56_000_000);
    a.restore(&charge.usage, now);
    let last = call(&a, &facts, dollars(100), now).unwrap();
    assert!(last.alerts.is_empty());
    b.restore(&last.usage, now);
    // Both replicas' spend counts when deciding: $57 spent, $43 left.
    assert!(b.check(&facts, dollars(4301), now).is_err());
    assert!(a.check(&facts, dollars(4300), now).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Status, reconfiguration, pruning

#[test]
fn status_lists_what_applies_to_a_caller() {
    let alice = person("alice", "k1", &["ml"]);
    let limits = limits(
        r#"
        rate_limits:
          - {id: user-rpm, limit_to: 60, unit: requests_per_minute, applies_per: user}
          - {id: ops-only, when: {subjects: ["team:ops"]}, limit_to: 5, unit: requests_per_minute}
          - {id: per-model, limit_to: 100, unit: tokens_per_minute, applies_per: model}
          - {id: gpt, when: {models: ["gpt-*"]}, limit_to: 10, unit: requests_per_hour}
        budgets:
          - {id: team-monthly, cost_per_month: 500, applies_per: team}
        "#,
    );
    let now = at("10:00");
    let listed = |status: Vec<LimitStatus>| -> Vec<(String, String, u64, bool)> {
        status
            .into_iter()
            .map(|s| (s.rule_id, s.subject, s.used, s.conditional))
            .collect()
    };
    let row = |rule: &str, subject: &str, used: u64, conditional: bool| {
        (rule.to_owned(), subject.to_owned(), used, conditional)
    };
    assert_eq!(
        listed(limits.status(&alice, None, now)),
        [
            row("user-rpm", "user:alice", 0, false),
            row("per-model", "model:*", 0, true),
            row("gpt", "*", 0, true),
            row("team-monthly", "team:ml", 0, false),
        ]
    );
    call(
        &limits,
        &llm(&alice, "gpt-4o"),
        Usage {
            tokens: 7,
            cost: Usd::from_cents(3),
        },
        now,
    )
    .unwrap();
    call(&limits, &llm(&alice, "claude"), tokens(2), now).unwrap();
    let mut without_request = listed(limits.status(&alice, None, now));
    without_request.sort();
    assert_eq!(
        without_request,
        [
            row("gpt", "*", 1, true),
            row("per-model", "model:claude", 2, true),
            row("per-model", "model:gpt-4o", 7, true),
            row("team-monthly", "team:ml", 30_000, false),
            row("user-rpm", "user:alice", 2, false),
        ]
    );
    // With a request: exactly the limits that would count it.
    assert_eq!(
        listed(limits.status(&alice, Some(&mcp(&alice, "jira/x")), now)),
        [
            row("user-rpm", "user:alice", 2, false),
            row("team-monthly", "team:ml", 30_000, false),
        ]
    );
    let status = limits.status(&alice, Some(&llm(&alice, "gpt-4o")), now);
    let gpt = status.iter().find(|s| s.rule_id == "gpt").unwrap();
    assert_eq!(
        (gpt.limit, gpt.remaining, gpt.interval),
        (10, 9, Interval::Hour)
    );
    let team = status.iter().find(|s| s.rule_id == "team-monthly").unwrap();
    assert_eq!(team.period.unwrap().to_string(), "2026-11");
    assert_eq!(team.reset_at, on("2026-12-01", "00:00"));
    // The status rows serialize for the admin API.
    let json = serde_json::to_value(team).unwrap();
    assert_eq!(json["period"], "2026-11");
    assert_eq!(json["kind"], "budget");
    assert_eq!(json["measure"], "cost");
}

#[test]
fn reconfiguring_keeps_the_counters_of_unchanged_rules() {
    let alice = person("alice", "k1", &["ml"]);
    let facts = llm(&alice, "m");
    let old = limits(
        r#"
        rate_limits:
          - {id: rpm, limit_to: 10, unit: requests_per_minute, applies_per: user}
          - {id: tpm, limit_to: 1000, unit: tokens_per_minute}
          - {id: changed-unit, limit_to: 10, unit: requests_per_minute}
        budgets:
          - {id: daily, cost_per_day: 10}
          - {id: changed-period, cost_per_day: 10}
        "#,
    );
    let now = at("10:00");
    for _ in 0..3 {
        call(
            &old,
            &facts,
            Usage {
                tokens: 100,
                cost: Usd::from_cents(100),
            },
            now,
        )
        .unwrap();
    }
    let in_flight = old.check(&facts, tokens(500), now).unwrap();
    let config: LimitsConfig = serde_yaml_ng::from_str(
        r#"
        rate_limits:
          - {id: rpm, limit_to: 4, unit: requests_per_minute, applies_per: user}
          - {id: tpm, limit_to: 1000, unit: tokens_per_minute}
          - {id: changed-unit, limit_to: 10, unit: requests_per_hour}
        budgets:
          - {id: daily, cost_per_day: 20, alert_thresholds: [10]}
          - {id: changed-period, cost_per_week: 10}
        "#,
    )
    .unwrap();
    let new = old.reconfigure(&config).unwrap();
    assert_eq!(used(&new, &facts, "rpm", now), 4);
    assert_eq!(used(&new, &facts, "changed-unit", now), 0);
    assert_eq!(used(&new, &facts, "daily", now), 3_000_000);
    assert_eq!(used(&new, &facts, "changed-period", now), 0);
    // The new limit applies at once: 4 of 4 used.
    assert!(new.check(&facts, REQUEST, now).is_err());
    // A request admitted under the old configuration settles into the shared counter.
    let _ = in_flight.charge(tokens(50), now);
    assert_eq!(used(&new, &facts, "tpm", now), 350);
    // An invalid configuration is refused whole.
    let mut bad = config.clone();
    bad.rate_limits[0].limit_to = 0;
    assert!(old.reconfigure(&bad).is_err());
}

#[test]
fn idle_counters_are_pruned() {
    let people: Vec<Identity> = (0..100)
        .map(|i| person(&format!("u{i}"), &format!("k{i}"), &["ml"]))
        .collect();
    let limits = limits(
        r#"
        rate_limits: [{id: rpm, limit_to: 10, unit: requests_per_minute, applies_per: user}]
        budgets: [{id: daily, cost_per_day: 10, applies_per: user}]
        "#,
    );
    let now = at("10:00");
    for who in &people {
        call(&limits, &llm(who, "m"), dollars(1), now).unwrap();
    }
    assert_eq!(limits.counters(), 200);
    assert_eq!(limits.prune(plus(now, 60_000)), 0);
    let held = limits
        .check(&llm(&people[0], "m"), REQUEST, plus(now, 61_000))
        .unwrap();
    // The windows have emptied; the budgets are current and charged, so they stay.
    assert_eq!(limits.prune(plus(now, 61_000)), 99);
    drop(held);
    // Next day the budgets are history.
    assert_eq!(limits.prune(on("2026-11-27", "00:00")), 101);
    assert_eq!(limits.counters(), 0);
}

#[test]
fn limits_are_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    fn sent<T: Send>() {}
    shared::<Limits>();
    sent::<Admission>();
    shared::<Rejection>();
}

/// Run with `cargo test --release -p agenthub-policy -- --ignored --nocapture check_cost`.
#[test]
#[ignore = "timing, not a test"]
fn check_cost() {
    let limits = limits(
        r#"
        rate_limits:
          - {id: shared, limit_to: 1000000000, unit: requests_per_minute}
          - {id: per-user, limit_to: 1000000000, unit: requests_per_minute, applies_per: user}
          - {id: tokens, when: {models: ["gpt-*"]}, limit_to: 1000000000, unit: tokens_per_minute, applies_per: team}
        budgets:
          - {id: team, cost_per_month: 1000000, applies_per: team}
        "#,
    );
    let people: Vec<Identity> = (0..1000)
        .map(|i| person(&format!("u{i}"), &format!("k{i}"), &["ml"]))
        .collect();
    let n = 1_000_000u32;
    for threads in [1, 4] {
        let start = std::time::Instant::now();
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (limits, people) = (&limits, &people);
                scope.spawn(move || {
                    for i in 0..n / threads {
                        let who = &people[(i as usize * 7 + t as usize) % people.len()];
                        let now = Timestamp::from_unix_millis(1_800_000_000_000 + i64::from(i));
                        let admission =
                            limits.check(&llm(who, "gpt-4o"), tokens(100), now).unwrap();
                        std::hint::black_box(admission.charge(
                            Usage {
                                tokens: 90,
                                cost: Usd::from_micros(5),
                            },
                            now,
                        ));
                    }
                });
            }
        });
        let per = start.elapsed() / n * threads;
        println!(
            "{threads} thread(s): {per:?} per check + charge (3 rate limits, 1 budget) per thread"
        );
    }
    let facts = llm(&people[0], "gpt-4o");
    let now = Timestamp::from_unix_millis(1_900_000_000_000);
    let start = std::time::Instant::now();
    for _ in 0..n {
        drop(std::hint::black_box(
            limits.check(&facts, tokens(100), now).unwrap(),
        ));
    }
    println!("check only, one subject: {:?}", start.elapsed() / n);
}
