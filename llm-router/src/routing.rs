//! Which target a request tries first, and which next: the strategies, sticky sessions, and
//! each target's health (latency averages and circuit breaker). Health is kept by target name
//! and outlives catalog swaps, like rate-limit counters outlive rule changes.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::catalog::{Route, Target};
use crate::config::{BreakerConfig, Strategy};

/// Weight of the newest sample in the latency averages.
const EWMA_ALPHA: f64 = 0.3;
/// Output tokens assumed when comparing latencies of requests with no output limit.
const EXPECTED_OUTPUT_TOKENS: f64 = 256.0;

/// One target's record.
#[derive(Debug, Default)]
struct HealthState {
    /// Milliseconds to the first token (to the whole answer when not streamed).
    ttft_ms: Option<f64>,
    /// Milliseconds per output token after the first.
    tpot_ms: Option<f64>,
    consecutive_failures: u32,
    /// While set and in the future, the breaker is open.
    open_until: Option<Instant>,
    /// After the cooldown one trial call is let through; others wait for its outcome. A trial
    /// that reports nothing within a cooldown (its caller went away) is given up, so that the
    /// breaker cannot stay open for good.
    trial_since: Option<Instant>,
    cooldown: Duration,
}

impl HealthState {
    fn trial_running(&self, now: Instant) -> bool {
        self.trial_since
            .is_some_and(|since| now.saturating_duration_since(since) < self.cooldown)
    }
}

/// Whether a target may be called now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// The breaker is half-open and this call is its trial.
    Trial,
    /// The breaker is open.
    No,
}

/// The health of every target, by name.
#[derive(Debug, Default)]
pub struct HealthBook {
    targets: RwLock<HashMap<String, Arc<Mutex<HealthState>>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HealthBook {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self, name: &str) -> Arc<Mutex<HealthState>> {
        if let Some(state) = self
            .targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return state.clone();
        }
        self.targets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Whether `target` may be called at `now`; a half-open breaker admits one trial.
    pub fn admit(&self, target: &str, now: Instant) -> Admit {
        let state = self.state(target);
        let mut state = lock(&state);
        match state.open_until {
            None => Admit::Yes,
            Some(until) if now < until => Admit::No,
            Some(_) if state.trial_running(now) => Admit::No,
            Some(_) => {
                state.trial_since = Some(now);
                Admit::Trial
            }
        }
    }

    /// Whether the breaker of `target` is open at `now` (without claiming a trial).
    pub fn is_open(&self, target: &str, now: Instant) -> bool {
        let state = self.state(target);
        let state = lock(&state);
        match state.open_until {
            None => false,
            Some(until) => now < until || state.trial_running(now),
        }
    }

    /// A call succeeded: the breaker closes.
    pub fn success(&self, target: &str) {
        let state = self.state(target);
        let mut state = lock(&state);
        state.consecutive_failures = 0;
        state.open_until = None;
        state.trial_since = None;
    }

    /// A call failed on the target's side: after `breaker.failures` in a row (or a failed
    /// trial) the breaker opens for the cooldown. Returns whether it is now open.
    pub fn failure(&self, target: &str, breaker: &BreakerConfig, now: Instant) -> bool {
        let state = self.state(target);
        let mut state = lock(&state);
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let trial_failed = state.trial_since.take().is_some();
        if trial_failed || state.consecutive_failures >= breaker.failures {
            state.open_until = Some(now + breaker.cooldown);
            state.cooldown = breaker.cooldown;
            true
        } else {
            false
        }
    }

    /// A call ended without telling anything about the target (the client went away during
    /// a trial): let the next call be the trial.
    pub fn release(&self, target: &str) {
        let state = self.state(target);
        lock(&state).trial_since = None;
    }

    /// Records a latency sample: time to first token, and the time per output token after it
    /// when known.
    pub fn observe(&self, target: &str, ttft: Duration, tpot: Option<Duration>) {
        let state = self.state(target);
        let mut state = lock(&state);
        let ewma = |old: Option<f64>, sample: f64| {
            Some(old.map_or(sample, |old| old + EWMA_ALPHA * (sample - old)))
        };
        state.ttft_ms = ewma(state.ttft_ms, ttft.as_secs_f64() * 1000.0);
        if let Some(tpot) = tpot {
            state.tpot_ms = ewma(state.tpot_ms, tpot.as_secs_f64() * 1000.0);
        }
    }

    /// The expected latency of `output_tokens` from `target`, in milliseconds; `None` before
    /// the first sample.
    pub fn expected_ms(&self, target: &str, output_tokens: f64) -> Option<f64> {
        let state = self.state(target);
        let state = lock(&state);
        let ttft = state.ttft_ms?;
        Some(ttft + state.tpot_ms.unwrap_or(0.0) * output_tokens)
    }
}

/// A source of randomness for weighted choices; seeded per request.
pub trait Dice {
    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64;
}

/// A small fast generator (xorshift64*), seeded from the process's random hasher state.
#[derive(Debug)]
pub struct FastDice(u64);

impl FastDice {
    pub fn new() -> Self {
        Self(std::collections::hash_map::RandomState::new().hash_one(Instant::now()) | 1)
    }
}

impl Default for FastDice {
    fn default() -> Self {
        Self::new()
    }
}

impl Dice for FastDice {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound.max(1)
    }
}

/// What the plan needs to know about one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestHints<'a> {
    /// The session key, for sticky routing.
    pub session: Option<&'a str>,
    /// The output limit asked for, for latency estimates.
    pub max_output_tokens: Option<u32>,
}

/// The order in which to try a route's targets. Targets whose breaker is open go last: they
/// are tried (and skipped quickly) only when everything before them failed.
pub fn plan(
    route: &Route,
    health: &HealthBook,
    hints: RequestHints<'_>,
    latency_tolerance: f64,
    dice: &mut dyn Dice,
    now: Instant,
) -> Vec<Arc<Target>> {
    let mut order: Vec<(Arc<Target>, u32)> = route.targets.clone();
    match route.strategy {
        Strategy::Priority => {}
        Strategy::Weight => weighted_shuffle(&mut order, dice),
        Strategy::Cost => {
            // Unknown prices last; stable, so ties keep the configured order.
            order.sort_by(|(a, _), (b, _)| {
                let price = |t: &Target| t.price.map(|p| p.input + p.output);
                match (price(a), price(b)) {
                    (Some(a), Some(b)) => a.total_cmp(&b),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            });
        }
        Strategy::Latency => {
            let tokens = hints.max_output_tokens.map_or(EXPECTED_OUTPUT_TOKENS, |t| {
                f64::from(t).min(EXPECTED_OUTPUT_TOKENS)
            });
            // Unmeasured targets are tried first, so that every target gets measured.
            let score = |t: &Target| health.expected_ms(&t.name, tokens).unwrap_or(0.0);
            order.sort_by(|(a, _), (b, _)| score(a).total_cmp(&score(b)));
            let fastest = order.first().map_or(0.0, |(t, _)| score(t));
            let limit = fastest * (1.0 + latency_tolerance);
            let equal = order.iter().take_while(|(t, _)| score(t) <= limit).count();
            weighted_shuffle(&mut order[..equal], dice);
        }
    }
    if let Some(session) = hints.session
        && route.sticky_header.is_some()
    {
        // Rendezvous hashing: the session's target is the same on every replica and moves
        // only when that target is unavailable.
        let healthy = |t: &Target| !health.is_open(&t.name, now);
        if let Some(best) = order
            .iter()
            .enumerate()
            .filter(|(_, (t, _))| healthy(t))
            .max_by_key(|(_, (t, _))| rendezvous(session, &t.name))
            .map(|(i, _)| i)
        {
            let chosen = order.remove(best);
            order.insert(0, chosen);
        }
    }
    let (mut ready, open): (Vec<_>, Vec<_>) = order
        .into_iter()
        .map(|(t, _)| t)
        .partition(|t| !health.is_open(&t.name, now));
    ready.extend(open);
    ready
}

fn weighted_shuffle(targets: &mut [(Arc<Target>, u32)], dice: &mut dyn Dice) {
    for start in 0..targets.len() {
        let total: u64 = targets[start..].iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return;
        }
        let mut pick = dice.below(total);
        let mut chosen = start;
        for (i, (_, weight)) in targets.iter().enumerate().skip(start) {
            if pick < u64::from(*weight) {
                chosen = i;
                break;
            }
            pick -= u64::from(*weight);
        }
        targets.swap(start, chosen);
    }
}

fn rendezvous(session: &str, target: &str) -> u64 {
    // FNV-1a: stable across processes and versions, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in session.bytes().chain([0]).chain(target.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The delay before retry number `retry` (1-based): exponential from `initial`, capped at
/// `max`, with full jitter.
pub fn backoff(retry: u32, initial: Duration, max: Duration, dice: &mut dyn Dice) -> Duration {
    let ceiling = initial
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(max);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(dice.below(millis.saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, Route};
    use crate::config::{LlmSettings, ModelConfig, ProviderConfig, Sections, VirtualModelConfig};
    use serde_json::json;

    /// Dice that replay a fixed sequence.
    struct Loaded(Vec<u64>);
    impl Dice for Loaded {
        fn below(&mut self, bound: u64) -> u64 {
            let value = if self.0.is_empty() {
                0
            } else {
                self.0.remove(0)
            };
            value % bound
        }
    }

    fn catalog(strategy: &str, sticky: bool) -> Catalog {
        let providers: Vec<ProviderConfig> =
            vec![serde_json::from_value(json!({"name": "p", "kind": "vllm"})).unwrap()];
        let models: Vec<ModelConfig> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                serde_json::from_value(json!({
                    "name": name, "provider": "p",
                    "price": {"input": 3.0 - i as f64, "output": 1.0}
                }))
                .unwrap()
            })
            .collect();
        let mut route = json!({
            "name": "v", "strategy": strategy,
            "targets": [{"model": "a", "weight": 1}, {"model": "b", "weight": 2}, {"model": "c", "weight": 1}]
        });
        if sticky {
            route["sticky"] = json!({"header": "x-session-id"});
        }
        let virtual_models: Vec<VirtualModelConfig> = vec![serde_json::from_value(route).unwrap()];
        Catalog::build(Sections {
            settings: &LlmSettings::default(),
            providers: &providers,
            models: &models,
            virtual_models: &virtual_models,
        })
        .unwrap()
    }

    fn names(targets: &[Arc<Target>]) -> Vec<&str> {
        targets.iter().map(|t| t.name.as_str()).collect()
    }

    fn route(catalog: &Catalog) -> &Route {
        catalog.route("v").unwrap()
    }

    #[test]
    fn strategies_order_targets() {
        let now = Instant::now();
        let health = HealthBook::new();
        let hints = RequestHints::default();
        let priority = catalog("priority", false);
        let order = plan(
            route(&priority),
            &health,
            hints,
            0.25,
            &mut Loaded(vec![]),
            now,
        );
        assert_eq!(names(&order), ["a", "b", "c"]);

        // Weights 1, 2, 1: a roll of 1 (of 4) lands in b's share; then 2 (of 2) … c.
        let weight = catalog("weight", false);
        let order = plan(
            route(&weight),
            &health,
            hints,
            0.25,
            &mut Loaded(vec![1, 1]),
            now,
        );
        assert_eq!(names(&order), ["b", "c", "a"]);

        let cost = catalog("cost", false);
        let order = plan(route(&cost), &health, hints, 0.25, &mut Loaded(vec![]), now);
        assert_eq!(names(&order), ["c", "b", "a"]);
    }

    #[test]
    fn weights_are_honoured_in_proportion() {
        let weight = catalog("weight", false);
        let health = HealthBook::new();
        let mut dice = FastDice::new();
        let mut firsts = HashMap::new();
        for _ in 0..4000 {
            let order = plan(
                route(&weight),
                &health,
                RequestHints::default(),
                0.25,
                &mut dice,
                Instant::now(),
            );
            *firsts.entry(order[0].name.clone()).or_insert(0) += 1;
        }
        // Expected 1000 / 2000 / 1000; the bounds are many standard deviations wide.
        assert!((800..1200).contains(&firsts["a"]), "{firsts:?}");
        assert!((1800..2200).contains(&firsts["b"]), "{firsts:?}");
        assert!((800..1200).contains(&firsts["c"]), "{firsts:?}");
    }

    #[test]
    fn latency_prefers_the_fastest_and_treats_near_ties_as_equal() {
        let latency = catalog("latency", false);
        let health = HealthBook::new();
        health.observe("a", Duration::from_millis(300), None);
        health.observe("b", Duration::from_millis(100), None);
        health.observe("c", Duration::from_millis(110), None);
        let hints = RequestHints::default();
        // b and c are within 25% of each other: the dice choose (weights 2 and 1).
        let order = plan(
            route(&latency),
            &health,
            hints,
            0.25,
            &mut Loaded(vec![2, 0]),
            Instant::now(),
        );
        assert_eq!(names(&order), ["c", "b", "a"]);
        let order = plan(
            route(&latency),
            &health,
            hints,
            0.25,
            &mut Loaded(vec![0, 0]),
            Instant::now(),
        );
        assert_eq!(names(&order), ["b", "c", "a"]);
        // With no tolerance only the fastest leads.
        let order = plan(
            route(&latency),
            &health,
            hints,
            0.0,
            &mut Loaded(vec![0]),
            Instant::now(),
        );
        assert_eq!(names(&order), ["b", "c", "a"]);
        // Time per token counts: c's tokens are much faster.
        health.observe(
            "b",
            Duration::from_millis(100),
            Some(Duration::from_millis(20)),
        );
        health.observe(
            "c",
            Duration::from_millis(110),
            Some(Duration::from_millis(2)),
        );
        let order = plan(
            route(&latency),
            &health,
            hints,
            0.0,
            &mut Loaded(vec![0]),
            Instant::now(),
        );
        assert_eq!(names(&order), ["a", "c", "b"]);
    }

    #[test]
    fn sticky_sessions_keep_their_target_until_it_fails() {
        let sticky = catalog("priority", true);
        let health = HealthBook::new();
        let now = Instant::now();
        let hints = |session| RequestHints {
            session: Some(session),
            max_output_tokens: None,
        };
        let mut seen = std::collections::HashSet::new();
        for session in ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"] {
            let first = plan(
                route(&sticky),
                &health,
                hints(session),
                0.25,
                &mut Loaded(vec![]),
                now,
            )[0]
            .name
            .clone();
            for _ in 0..3 {
                let again = plan(
                    route(&sticky),
                    &health,
                    hints(session),
                    0.25,
                    &mut Loaded(vec![]),
                    now,
                );
                assert_eq!(again[0].name, first);
            }
            seen.insert(first);
        }
        assert!(seen.len() > 1, "sessions spread over targets: {seen:?}");
        let first = plan(
            route(&sticky),
            &health,
            hints("s1"),
            0.25,
            &mut Loaded(vec![]),
            now,
        )[0]
        .name
        .clone();
        let breaker = BreakerConfig {
            failures: 1,
            cooldown: Duration::from_secs(60),
        };
        health.failure(&first, &breaker, now);
        let moved = plan(
            route(&sticky),
            &health,
            hints("s1"),
            0.25,
            &mut Loaded(vec![]),
            now,
        );
        assert_ne!(moved[0].name, first);
        assert_eq!(moved.last().unwrap().name, first, "open targets go last");
    }

    #[test]
    fn the_breaker_opens_cools_down_and_lets_one_trial_through() {
        let health = HealthBook::new();
        let breaker = BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(30),
        };
        let t0 = Instant::now();
        assert!(!health.failure("a", &breaker, t0));
        assert!(!health.failure("a", &breaker, t0));
        assert_eq!(health.admit("a", t0), Admit::Yes);
        assert!(health.failure("a", &breaker, t0));
        assert_eq!(health.admit("a", t0 + Duration::from_secs(29)), Admit::No);
        let later = t0 + Duration::from_secs(31);
        assert_eq!(health.admit("a", later), Admit::Trial);
        assert_eq!(health.admit("a", later), Admit::No, "one trial at a time");
        // A failed trial reopens at once.
        assert!(health.failure("a", &breaker, later));
        assert_eq!(health.admit("a", later + Duration::from_secs(1)), Admit::No);
        let much_later = later + Duration::from_secs(31);
        assert_eq!(health.admit("a", much_later), Admit::Trial);
        health.success("a");
        assert_eq!(health.admit("a", much_later), Admit::Yes);
        assert!(
            !health.failure("a", &breaker, much_later),
            "the count restarted"
        );
    }

    #[test]
    fn an_abandoned_trial_is_given_up_after_a_cooldown() {
        let health = HealthBook::new();
        let breaker = BreakerConfig {
            failures: 1,
            cooldown: Duration::from_secs(30),
        };
        let t0 = Instant::now();
        assert!(health.failure("a", &breaker, t0));
        let trial = t0 + Duration::from_secs(31);
        assert_eq!(health.admit("a", trial), Admit::Trial);
        // Its caller went away: nothing is reported.
        assert_eq!(
            health.admit("a", trial + Duration::from_secs(29)),
            Admit::No
        );
        assert!(health.is_open("a", trial + Duration::from_secs(29)));
        let next = trial + Duration::from_secs(31);
        assert!(!health.is_open("a", next));
        assert_eq!(health.admit("a", next), Admit::Trial);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        // The dice's largest roll gives the ceiling.
        struct Max;
        impl Dice for Max {
            fn below(&mut self, bound: u64) -> u64 {
                bound - 1
            }
        }
        let ceilings: Vec<u128> = (1..=6)
            .map(|retry| backoff(retry, initial, max, &mut Max).as_millis())
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
    }
}
