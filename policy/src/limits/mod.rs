//! Rate limits and budgets: how much each caller may use, checked on every request of every
//! plane.
//!
//! Pure logic: no I/O, no clock (every call takes `now`), no async. The hub builds one
//! [`Limits`] from the configuration, keeps it in its configuration snapshot, and on each
//! request calls [`Limits::check`] before the upstream call and [`Admission::charge`] after it.
//!
//! ```text
//! let admission = limits.check(&facts, Usage { tokens: estimate, cost: estimated_cost }, now)?;
//!     // Err(Rejection) → 429 with Retry-After and x-ratelimit-* (or a JSON-RPC / A2A error)
//!     // Ok: admission.quota() → x-ratelimit-* headers of the most restrictive rate limit
//! let response = upstream.call().await;
//! let charge = admission.charge(Usage { tokens: actual, cost: actual_cost }, now);
//!     // charge.usage → the store (asynchronously); charge.alerts → the alert webhook
//! ```
//!
//! # Rate limits
//!
//! At most `limit_to` requests or tokens in any sliding window of one minute, hour or day — not
//! per clock minute: there is no window boundary to burst across. A token limit is checked
//! against the estimate before the call (which is reserved) and corrected with the actual
//! count after it; an underestimate may take the counter over the limit, which then blocks
//! until enough usage has aged out. See `window.rs` for the algorithm and why it was chosen.
//!
//! ```yaml
//! rate_limits:
//!   # 600 requests a minute per team, on every plane.
//!   - id: team-rpm
//!     limit_to: 600
//!     unit: requests_per_minute
//!     applies_per: team
//!   # 200k tokens an hour per user, for the GPT-4o family only.
//!   - id: gpt4o-tokens
//!     when:
//!       models: ["gpt-4o*"]
//!     limit_to: 200000
//!     unit: tokens_per_hour
//!     applies_per: user
//!   # 1000 Jira tool calls a day per project (client metadata `project`).
//!   - id: jira-per-project
//!     when:
//!       tools: ["jira/*"]
//!     limit_to: 1000
//!     unit: requests_per_day
//!     applies_per: metadata.project
//! ```
//!
//! # Budgets
//!
//! How much may be spent per calendar day, ISO week or month in UTC, in US dollars (counted in
//! micro-dollars, so sums never drift) or in tokens. A request is blocked if its estimate would
//! take the budget over its limit (unless `audit_mode`); the actual usage is charged after the
//! call. Each alert threshold fires once per period and subject. Usage survives restarts
//! through [`BudgetUsage`] rows; see `budget.rs` for why writing them is idempotent.
//!
//! ```yaml
//! budgets:
//!   # $500 a month per team; alert at 75%, 90% and 100%.
//!   - id: team-monthly
//!     applies_per: team
//!     cost_per_month: 500
//!     alert_thresholds: [75, 90, 100]
//!   # $20 a day per user on the LLM plane; count and alert only.
//!   - id: user-daily-showback
//!     when:
//!       models: ["*"]
//!     applies_per: user
//!     cost_per_day: 20.00
//!     audit_mode: true
//!     alert_thresholds: [100]
//!   # 5M tokens a month for the ml team, shared.
//!   - id: ml-tokens
//!     when:
//!       subjects: ["team:ml"]
//!     tokens_per_month: 5000000
//! ```
//!
//! # Concurrency and cost
//!
//! [`Limits`] is `Send + Sync` and shared by all request tasks. Counters live in sharded maps
//! (a read lock per lookup) with a mutex per counter. A check locks the counters of every
//! matching rate limit together (in address order, so two checks never deadlock), checks them
//! all, and commits only if all allow: a rejected request consumes nothing. The common path
//! allocates nothing: counters are found by borrowed keys, and an [`Admission`] keeps its
//! handful of holds inline. A new subject's first request allocates its counter.

mod budget;
mod config;
mod counters;
mod time;
mod window;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use smallvec::SmallVec;

pub use budget::{BudgetAlert, BudgetUsage};
pub use config::{
    AppliesPer, BudgetRule, ConfigProblem, Interval, LimitsConfig, Measure, RateLimitRule,
    RateUnit, Usd,
};
pub use time::{BadPeriod, CivilDate, Period, PeriodKey, Timestamp};

use crate::error::ErrorKind;
use crate::identity::Identity;
use crate::when::{Plane, RequestFacts, When};
use budget::{BudgetCounter, to_percents};
use config::BudgetLimit;
use counters::{CounterMap, KeyRef, Per, identity_only, lock};
use window::{SLOTS, SlidingWindow};

/// What a request uses: estimated before the call, actual after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Model tokens, prompt plus completion. Zero on the MCP and A2A planes.
    pub tokens: u64,
    /// What the call costs.
    pub cost: Usd,
}

/// Whether a limit is a rate limit or a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    RateLimit,
    Budget,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimit => "rate_limit",
            Self::Budget => "budget",
        }
    }
}

/// A limit's standing for one subject: what `x-ratelimit-limit`, `x-ratelimit-remaining` and
/// `x-ratelimit-reset` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub rule_id: Arc<str>,
    pub measure: Measure,
    pub interval: Interval,
    /// Requests, tokens or micro-dollars per interval.
    pub limit: u64,
    /// What is left now (0 when over the limit).
    pub remaining: u64,
    /// When the limit is fully available again: for a rate limit, when everything counted now
    /// has aged out of the window; for a budget, the start of the next period.
    pub reset_at: Timestamp,
}

impl Quota {
    /// Seconds from `now` until [`reset_at`](Self::reset_at), rounded up: the value of a
    /// relative `x-ratelimit-reset` header.
    pub fn reset_after_secs(&self, now: Timestamp) -> u64 {
        ceil_secs(self.reset_at.since(now))
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration
        .as_millis()
        .div_ceil(1000)
        .try_into()
        .unwrap_or(u64::MAX)
}

/// A request refused by a rate limit or a budget, with everything the hub needs to answer it:
/// HTTP 429 with `Retry-After` and `x-ratelimit-*` headers, or the same facts in a JSON-RPC or
/// A2A error. When several limits refuse, this is the most restrictive one (the longest wait).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Rejection {
    pub kind: LimitKind,
    /// The refusing limit, for the `x-ratelimit-*` headers.
    pub quota: Quota,
    /// The counter that is full, e.g. `team:ml` (see [`AppliesPer`]).
    pub subject: String,
    /// How long until this request would be admitted, if nothing else uses the limit meanwhile.
    pub retry_after: Duration,
    /// The request alone is larger than the limit (its token or cost estimate exceeds it):
    /// retrying cannot help. The hub should answer as an invalid request, not 429.
    pub exceeds_limit: bool,
}

impl Rejection {
    /// `Retry-After` in whole seconds, rounded up and at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after).max(1)
    }

    /// How the hub classifies it: `RateLimited`, or `InvalidRequest` when retrying cannot help.
    pub fn error_kind(&self) -> ErrorKind {
        if self.exceeds_limit {
            ErrorKind::InvalidRequest
        } else {
            ErrorKind::RateLimited
        }
    }

    /// One line for the caller, e.g. `rate limit "team-rpm" reached for team:ml (600 requests
    /// per minute); retry in 12 s`.
    pub fn message(&self) -> String {
        let q = &self.quota;
        let amount = match q.measure {
            Measure::Cost => format!("${} per {}", Usd::from_micros(q.limit), q.interval.as_str()),
            measure => format!(
                "{} {} per {}",
                q.limit,
                measure.as_str(),
                q.interval.as_str()
            ),
        };
        let what = match self.kind {
            LimitKind::RateLimit => "rate limit",
            LimitKind::Budget => "budget",
        };
        if self.exceeds_limit {
            format!(
                "request is larger than {what} \"{}\" allows for {} ({amount})",
                q.rule_id, self.subject
            )
        } else {
            format!(
                "{what} \"{}\" reached for {} ({amount}); retry in {} s",
                q.rule_id,
                self.subject,
                self.retry_after_secs()
            )
        }
    }

    /// Orders rejections by how restrictive they are: one that can never pass, then the
    /// longest wait, then the least remaining.
    fn restrictiveness(&self) -> (bool, Duration, std::cmp::Reverse<u64>) {
        (
            self.exceeds_limit,
            self.retry_after,
            std::cmp::Reverse(self.quota.remaining),
        )
    }
}

fn most_restrictive(current: Option<Rejection>, candidate: Rejection) -> Rejection {
    match current {
        Some(current) if current.restrictiveness() >= candidate.restrictiveness() => current,
        _ => candidate,
    }
}

/// A request admitted by [`Limits::check`]. Charge it with the actual usage when the call is
/// done — also when the call failed (with what it used, possibly nothing), so that token
/// reservations are corrected. Dropped uncharged, the estimated tokens stay counted and no
/// budget is charged.
#[derive(Debug)]
#[must_use = "charge the admission with the actual usage once the call is done"]
pub struct Admission {
    tokens: SmallVec<[TokenHold; 2]>,
    budgets: SmallVec<[BudgetHold; 2]>,
    quota: Option<Quota>,
}

#[derive(Debug)]
struct TokenHold {
    counter: Arc<Mutex<SlidingWindow>>,
    slot_ms: i64,
    /// The slot the estimate was counted in.
    slot: i64,
    reserved: u64,
}

#[derive(Debug)]
struct BudgetHold {
    rule: Arc<BudgetState>,
    counter: Arc<Mutex<BudgetCounter>>,
    /// An audit-mode budget that would have refused the request.
    overrun: bool,
}

/// What [`Admission::charge`] produced: usage rows to persist and alerts to deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Charge {
    /// The budget rows this charge changed, with absolute totals: write them with "only if the
    /// version is higher" (see [`BudgetUsage`]). Empty when no budget applied.
    pub usage: Vec<BudgetUsage>,
    /// Thresholds this charge crossed.
    pub alerts: Vec<BudgetAlert>,
}

impl Admission {
    /// The most restrictive rate limit that counted the request (the lowest share remaining),
    /// for the `x-ratelimit-*` headers; `None` if no rate limit applied.
    pub fn quota(&self) -> Option<&Quota> {
        self.quota.as_ref()
    }

    /// Ids of the audit-mode budgets that would have refused this request, for logging.
    pub fn audit_overruns(&self) -> impl Iterator<Item = &str> {
        self.budgets
            .iter()
            .filter(|hold| hold.overrun)
            .map(|hold| &*hold.rule.id)
    }

    /// Settles token rate limits with the actual tokens (refunding an overestimate, adding an
    /// underestimate, which may go over the limit) and charges the budgets.
    pub fn charge(self, actual: Usage, now: Timestamp) -> Charge {
        let now_ms = now.unix_millis();
        for hold in &self.tokens {
            let mut window = lock(&hold.counter);
            window.advance(now_ms, hold.slot_ms);
            if actual.tokens < hold.reserved {
                window.refund(hold.slot, hold.reserved - actual.tokens);
            } else {
                window.add(actual.tokens - hold.reserved);
            }
        }
        let mut charge = Charge::default();
        for hold in &self.budgets {
            let rule = &hold.rule;
            let amount = match rule.limit.measure {
                Measure::Cost => actual.cost.micros(),
                Measure::Tokens => actual.tokens,
                Measure::Requests => 1,
            };
            let mut counter = lock(&hold.counter);
            let period = counter.roll_to(now, rule.limit.period);
            let (changed, fired) = counter.charge(amount, rule.limit.amount, &rule.thresholds);
            if changed {
                charge
                    .usage
                    .extend(counter.own_row(&rule.id, rule.limit.measure, &rule.replica));
            }
            for threshold in fired {
                charge.alerts.push(BudgetAlert {
                    rule_id: rule.id.to_string(),
                    subject: counter.subject().to_owned(),
                    period,
                    measure: rule.limit.measure,
                    threshold,
                    spent: counter.spent(),
                    limit: rule.limit.amount,
                    audit_mode: rule.audit_mode,
                    at: now,
                });
            }
        }
        charge
    }
}

/// One limit as it stands for one subject: a row of `agenthub budgets status` and of the admin
/// API's limits listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitStatus {
    pub rule_id: String,
    pub kind: LimitKind,
    pub measure: Measure,
    pub interval: Interval,
    /// The counter: `user:alice`, `team:ml`, `*` (shared), or `model:*` for "one per model"
    /// when listed without a request.
    pub subject: String,
    /// Requests, tokens or micro-dollars per interval.
    pub limit: u64,
    pub used: u64,
    pub remaining: u64,
    /// When the limit is fully available again (see [`Quota::reset_at`]).
    pub reset_at: Timestamp,
    /// The budget period counted, e.g. `2026-11`; `None` for rate limits.
    pub period: Option<PeriodKey>,
    pub audit_mode: bool,
    /// Alert thresholds fired in the period (budgets).
    pub alerts_fired: Vec<u8>,
    /// Listed without a request: the limit applies to some of the caller's requests only
    /// (it names models, tools, agents or metadata, or counts tokens).
    pub conditional: bool,
}

/// What [`Limits::restore`] did with the rows it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Rows that changed a counter.
    pub applied: usize,
    /// Rows already known (same or older version): replays.
    pub unchanged: usize,
    /// Rows of a past period, an unknown budget, a changed measure or period, or a subject the
    /// budget does not count by: nothing to restore.
    pub ignored: usize,
}

/// The rate limits and budgets in force, with their counters. Built from a validated
/// configuration; shared by every request.
#[derive(Debug)]
pub struct Limits {
    replica: Arc<str>,
    rate: Vec<RateState>,
    budgets: Vec<Arc<BudgetState>>,
}

struct RateState {
    id: Arc<str>,
    when: When,
    /// `when` without the conditions that need a request: for listings by identity.
    subjects_only: When,
    conditional: bool,
    limit: u64,
    measure: Measure,
    interval: Interval,
    slot_ms: i64,
    per: Per,
    counters: Arc<CounterMap<SlidingWindow>>,
}

struct BudgetState {
    id: Arc<str>,
    when: When,
    subjects_only: When,
    conditional: bool,
    limit: BudgetLimit,
    audit_mode: bool,
    /// Ascending percentages.
    thresholds: Vec<u8>,
    per: Per,
    replica: Arc<str>,
    counters: Arc<CounterMap<BudgetCounter>>,
}

impl std::fmt::Debug for RateState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for BudgetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn window_ms(interval: Interval) -> i64 {
    match interval {
        Interval::Minute => 60_000,
        Interval::Hour => 3_600_000,
        _ => 86_400_000,
    }
}

fn conditions_beyond_subjects(when: &When) -> bool {
    !(when.models.is_empty()
        && when.tools.is_empty()
        && when.agents.is_empty()
        && when.metadata.is_empty())
}

fn subjects_only(when: &When) -> When {
    When {
        subjects: when.subjects.clone(),
        ..When::default()
    }
}

/// A counter chosen for a request, before locking.
struct Picked<'a> {
    position: usize,
    rule: &'a RateState,
    key: KeyRef<'a>,
    counter: Arc<Mutex<SlidingWindow>>,
    cost: u64,
}

impl Limits {
    /// Builds the limits of `config`, after validating it. `replica` names this process in the
    /// usage rows it writes (see [`BudgetUsage`]); it must differ between replicas running at
    /// the same time, and may be the same across restarts of one replica.
    pub fn new(config: &LimitsConfig, replica: &str) -> Result<Self, Vec<ConfigProblem>> {
        Self::build(config, replica.into(), None)
    }

    /// The limits of a new configuration, keeping the counters of every rule whose id, unit (or
    /// budget amount kind and period) and `applies_per` are unchanged: a configuration reload
    /// does not reset anyone's usage, while a changed `limit_to` applies at once. Requests still
    /// holding an admission from `self` settle into the same counters.
    pub fn reconfigure(&self, config: &LimitsConfig) -> Result<Self, Vec<ConfigProblem>> {
        Self::build(config, self.replica.clone(), Some(self))
    }

    fn build(
        config: &LimitsConfig,
        replica: Arc<str>,
        previous: Option<&Limits>,
    ) -> Result<Self, Vec<ConfigProblem>> {
        config.validate()?;
        let invalid = |what: &str| {
            vec![ConfigProblem {
                path: ".".into(),
                message: format!("internal: {what} passed validation"),
            }]
        };
        let mut rate = Vec::with_capacity(config.rate_limits.len());
        for rule in &config.rate_limits {
            let (Some((measure, interval)), Some(per)) =
                (rule.unit.parts(), Per::new(rule.applies_per.as_ref()))
            else {
                return Err(invalid("rate limit"));
            };
            let counters = previous
                .and_then(|p| p.rate.iter().find(|old| *old.id == *rule.id))
                .filter(|old| old.measure == measure && old.interval == interval && old.per == per)
                .map(|old| old.counters.clone())
                .unwrap_or_else(|| Arc::new(CounterMap::new()));
            rate.push(RateState {
                id: rule.id.as_str().into(),
                subjects_only: subjects_only(&rule.when),
                conditional: conditions_beyond_subjects(&rule.when) || measure == Measure::Tokens,
                when: rule.when.clone(),
                limit: rule.limit_to,
                measure,
                interval,
                slot_ms: window_ms(interval) / SLOTS as i64,
                per,
                counters,
            });
        }
        let mut budgets = Vec::with_capacity(config.budgets.len());
        for rule in &config.budgets {
            let (Some(limit), Some(per)) = (rule.limit(), Per::new(rule.applies_per.as_ref()))
            else {
                return Err(invalid("budget"));
            };
            let counters = previous
                .and_then(|p| p.budgets.iter().find(|old| *old.id == *rule.id))
                .filter(|old| {
                    old.limit.measure == limit.measure
                        && old.limit.period == limit.period
                        && old.per == per
                })
                .map(|old| old.counters.clone())
                .unwrap_or_else(|| Arc::new(CounterMap::new()));
            let mut thresholds: Vec<u8> = rule
                .alert_thresholds
                .iter()
                .filter_map(|t| u8::try_from(*t).ok())
                .collect();
            thresholds.sort_unstable();
            budgets.push(Arc::new(BudgetState {
                id: rule.id.as_str().into(),
                subjects_only: subjects_only(&rule.when),
                conditional: conditions_beyond_subjects(&rule.when)
                    || limit.measure == Measure::Tokens,
                when: rule.when.clone(),
                limit,
                audit_mode: rule.audit_mode,
                thresholds,
                per,
                replica: replica.clone(),
                counters,
            }));
        }
        Ok(Self {
            replica,
            rate,
            budgets,
        })
    }

    /// Checks a request against every rate limit and budget that matches it, with its
    /// estimated usage. Admitted: the request is counted by every matching rate limit (its
    /// estimated tokens reserved by token limits). Rejected: nothing is counted anywhere, and
    /// the most restrictive refusal is returned.
    ///
    /// Token limits and token budgets only see model requests (`plane: llm`).
    pub fn check(
        &self,
        facts: &RequestFacts<'_>,
        estimate: Usage,
        now: Timestamp,
    ) -> Result<Admission, Rejection> {
        // Built in place and filled as rules match: moving it around is most of the cost of a
        // check that matches little.
        let mut admission = Admission {
            tokens: SmallVec::new(),
            budgets: SmallVec::new(),
            quota: None,
        };
        let mut rejection = None;
        for rule in &self.budgets {
            if (rule.limit.measure == Measure::Tokens && facts.plane != Plane::Llm)
                || !rule.when.matches(facts)
            {
                continue;
            }
            let key = rule.per.key(facts);
            let counter = rule
                .counters
                .get_or_insert_with(key, || BudgetCounter::new(rule.per.render(key)));
            let (period, spent) = {
                let mut counter = lock(&counter);
                (counter.roll_to(now, rule.limit.period), counter.spent())
            };
            let need = match rule.limit.measure {
                Measure::Cost => estimate.cost.micros(),
                _ => estimate.tokens,
            }
            .max(1);
            let fits = spent.saturating_add(need) <= rule.limit.amount;
            if !fits && !rule.audit_mode {
                let reset_at = period.end();
                rejection = Some(most_restrictive(
                    rejection,
                    Rejection {
                        kind: LimitKind::Budget,
                        quota: Quota {
                            rule_id: rule.id.clone(),
                            measure: rule.limit.measure,
                            interval: rule.limit.period.into(),
                            limit: rule.limit.amount,
                            remaining: rule.limit.amount.saturating_sub(spent),
                            reset_at,
                        },
                        subject: rule.per.render(key),
                        retry_after: reset_at.since(now),
                        exceeds_limit: need > rule.limit.amount,
                    },
                ));
            }
            admission.budgets.push(BudgetHold {
                rule: rule.clone(),
                counter,
                overrun: !fits,
            });
        }
        let commit = rejection.is_none();
        if let Err(rate) = self.check_rates(facts, estimate, now, &mut admission, commit) {
            return Err(most_restrictive(rejection, rate));
        }
        match rejection {
            Some(rejection) => Err(rejection),
            None => Ok(admission),
        }
    }

    /// The rate-limit half of [`check`](Self::check): locks every matching counter, checks all,
    /// and only if all allow and `commit` is set, counts the request in each and records the
    /// token reservations and the headers' quota in `admission`.
    fn check_rates(
        &self,
        facts: &RequestFacts<'_>,
        estimate: Usage,
        now: Timestamp,
        admission: &mut Admission,
        commit: bool,
    ) -> Result<(), Rejection> {
        let mut picked: SmallVec<[Picked<'_>; 4]> = SmallVec::new();
        for (position, rule) in self.rate.iter().enumerate() {
            if (rule.measure == Measure::Tokens && facts.plane != Plane::Llm)
                || !rule.when.matches(facts)
            {
                continue;
            }
            let key = rule.per.key(facts);
            picked.push(Picked {
                position,
                rule,
                key,
                counter: rule
                    .counters
                    .get_or_insert_with(key, SlidingWindow::default),
                cost: match rule.measure {
                    Measure::Tokens => estimate.tokens,
                    _ => 1,
                },
            });
        }
        if picked.is_empty() {
            return Ok(());
        }
        // One global lock order (by address), whichever configuration a check runs under.
        picked.sort_unstable_by_key(|p| Arc::as_ptr(&p.counter).addr());
        let now_ms = now.unix_millis();
        let mut guards: SmallVec<[MutexGuard<'_, SlidingWindow>; 4]> = SmallVec::new();
        for p in &picked {
            guards.push(lock(&p.counter));
        }
        let mut rejection: Option<(usize, Rejection)> = None;
        for (p, window) in picked.iter().zip(guards.iter_mut()) {
            window.advance(now_ms, p.rule.slot_ms);
            if window.fits(p.cost, p.rule.limit) {
                continue;
            }
            let deny = window.deny(now_ms, p.rule.slot_ms, p.cost, p.rule.limit);
            let reset_at = Timestamp::from_unix_millis(window.reset_at_ms(now_ms, p.rule.slot_ms));
            let candidate = Rejection {
                kind: LimitKind::RateLimit,
                quota: p.rule.quota(window.used(), reset_at),
                subject: p.rule.per.render(p.key),
                retry_after: match deny.retry_after_ms {
                    Some(ms) => Duration::from_millis(ms),
                    None => reset_at.since(now),
                },
                exceeds_limit: deny.retry_after_ms.is_none(),
            };
            // Ties go to the rule listed first, whatever the lock order.
            let replace = match &rejection {
                None => true,
                Some((position, current)) => {
                    (candidate.restrictiveness(), std::cmp::Reverse(p.position))
                        > (current.restrictiveness(), std::cmp::Reverse(*position))
                }
            };
            if replace {
                rejection = Some((p.position, candidate));
            }
        }
        if let Some((_, rejection)) = rejection {
            return Err(rejection);
        }
        if !commit {
            return Ok(());
        }
        // Per counter, once counted: the slot the cost went to and the window's total.
        let mut counted: SmallVec<[(i64, u64); 4]> = SmallVec::new();
        for (p, window) in picked.iter().zip(guards.iter_mut()) {
            window.add(p.cost);
            counted.push((window.head(), window.used()));
        }
        // The headers report the lowest share remaining (remaining / limit, compared without
        // division); ties go to the rule listed first.
        let share = |i: usize| {
            let rule = picked[i].rule;
            (
                rule.limit.saturating_sub(counted[i].1),
                rule.limit,
                picked[i].position,
            )
        };
        let mut best = 0;
        for i in 1..picked.len() {
            let ((r1, l1, pos1), (r2, l2, pos2)) = (share(i), share(best));
            let (mine, theirs) = (
                u128::from(r1) * u128::from(l2),
                u128::from(r2) * u128::from(l1),
            );
            if mine < theirs || (mine == theirs && pos1 < pos2) {
                best = i;
            }
        }
        let reset_ms = guards[best].reset_at_ms(now_ms, picked[best].rule.slot_ms);
        drop(guards);
        admission.quota = Some(
            picked[best]
                .rule
                .quota(counted[best].1, Timestamp::from_unix_millis(reset_ms)),
        );
        while let Some(p) = picked.pop() {
            let (slot, _) = counted[picked.len()];
            if p.rule.measure == Measure::Tokens {
                admission.tokens.push(TokenHold {
                    slot_ms: p.rule.slot_ms,
                    counter: p.counter,
                    slot,
                    reserved: p.cost,
                });
            }
        }
        Ok(())
    }

    /// Every limit that applies to `identity`, with current usage. With `facts`, exactly those
    /// that would count that request, for its counters. Without, every limit whose `subjects`
    /// include the caller (`conditional` when it also names models, tools, agents or metadata);
    /// a limit kept per model or per metadata value lists each of its counters in use (or one
    /// `model:*` row at zero).
    pub fn status(
        &self,
        identity: &Identity,
        facts: Option<&RequestFacts<'_>>,
        now: Timestamp,
    ) -> Vec<LimitStatus> {
        let probe = identity_only(identity);
        let mut out = Vec::new();
        for rule in &self.rate {
            let applies = match facts {
                Some(facts) => {
                    (rule.measure != Measure::Tokens || facts.plane == Plane::Llm)
                        && rule.when.matches(facts)
                }
                None => rule.subjects_only.matches(&probe),
            };
            if !applies {
                continue;
            }
            let conditional = facts.is_none() && rule.conditional;
            match facts {
                None if rule.per.depends_on_request() => {
                    let before = out.len();
                    rule.counters.for_each(|key, window| {
                        out.push(rule.status(rule.per.render(key), window, now, conditional));
                    });
                    if out.len() == before {
                        let empty = &mut SlidingWindow::default();
                        out.push(rule.status(rule.per.render_any(), empty, now, conditional));
                    }
                }
                _ => {
                    let key = rule.per.key(facts.unwrap_or(&probe));
                    let subject = rule.per.render(key);
                    let status = match rule.counters.get(key) {
                        Some(counter) => {
                            rule.status(subject, &mut lock(&counter), now, conditional)
                        }
                        None => {
                            rule.status(subject, &mut SlidingWindow::default(), now, conditional)
                        }
                    };
                    out.push(status);
                }
            }
        }
        for rule in &self.budgets {
            let applies = match facts {
                Some(facts) => {
                    (rule.limit.measure != Measure::Tokens || facts.plane == Plane::Llm)
                        && rule.when.matches(facts)
                }
                None => rule.subjects_only.matches(&probe),
            };
            if !applies {
                continue;
            }
            let conditional = facts.is_none() && rule.conditional;
            match facts {
                None if rule.per.depends_on_request() => {
                    let before = out.len();
                    rule.counters.for_each(|_, counter| {
                        out.push(rule.status(counter, now, conditional));
                    });
                    if out.len() == before {
                        let empty = &mut BudgetCounter::new(rule.per.render_any());
                        out.push(rule.status(empty, now, conditional));
                    }
                }
                _ => {
                    let key = rule.per.key(facts.unwrap_or(&probe));
                    let status = match rule.counters.get(key) {
                        Some(counter) => rule.status(&mut lock(&counter), now, conditional),
                        None => rule.status(
                            &mut BudgetCounter::new(rule.per.render(key)),
                            now,
                            conditional,
                        ),
                    };
                    out.push(status);
                }
            }
        }
        out
    }

    /// Every counter in use, of every limit: the admin overview.
    pub fn status_all(&self, now: Timestamp) -> Vec<LimitStatus> {
        let mut out = Vec::new();
        for rule in &self.rate {
            rule.counters.for_each(|key, window| {
                out.push(rule.status(rule.per.render(key), window, now, rule.conditional));
            });
        }
        for rule in &self.budgets {
            rule.counters.for_each(|_, counter| {
                out.push(rule.status(counter, now, rule.conditional));
            });
        }
        out
    }

    /// Every budget usage row known: this replica's and those restored or merged from others.
    /// Writing them all (version-guarded) is always safe; the hub may do so periodically and at
    /// shutdown, on top of writing [`Charge::usage`].
    pub fn snapshot(&self) -> Vec<BudgetUsage> {
        let mut rows = Vec::new();
        for rule in &self.budgets {
            rule.counters.for_each(|_, counter| {
                rows.extend(counter.rows(&rule.id, rule.limit.measure, &self.replica));
            });
        }
        rows
    }

    /// Loads budget usage rows: at start-up from the store (before serving, so that later
    /// charges continue this replica's rows), and at any time rows published by other replicas.
    /// Only rows of the periods current at `now` count; a row replaces what is known of its
    /// replica only if its version is higher, so replays and reordering are harmless.
    pub fn restore<'r>(
        &self,
        rows: impl IntoIterator<Item = &'r BudgetUsage>,
        now: Timestamp,
    ) -> RestoreReport {
        let mut report = RestoreReport::default();
        for row in rows {
            let rule = self.budgets.iter().find(|rule| {
                *rule.id == *row.rule_id
                    && rule.limit.measure == row.measure
                    && rule.limit.period.containing(now) == row.period
            });
            let Some((rule, key)) = rule.and_then(|r| Some((r, r.per.parse(&row.subject)?))) else {
                report.ignored += 1;
                continue;
            };
            let counter = rule
                .counters
                .get_or_insert_with(key, || BudgetCounter::new(row.subject.clone()));
            let mut counter = lock(&counter);
            counter.roll(row.period);
            if counter.apply(row, &self.replica) {
                report.applied += 1;
            } else {
                report.unchanged += 1;
            }
        }
        report
    }

    /// Drops counters that hold nothing any more at `now` (rate windows that have emptied,
    /// budgets of past periods or never charged), unless a request in flight holds them.
    /// The hub calls it now and then (e.g. every minute); returns how many were dropped.
    pub fn prune(&self, now: Timestamp) -> usize {
        let now_ms = now.unix_millis();
        let mut dropped = 0;
        for rule in &self.rate {
            dropped += rule
                .counters
                .retain_busy(|window| window.is_idle(now_ms, rule.slot_ms));
        }
        for rule in &self.budgets {
            let current = rule.limit.period.containing(now);
            dropped += rule
                .counters
                .retain_busy(|counter| counter.is_idle(current));
        }
        dropped
    }

    /// How many counters are held, for a metric.
    pub fn counters(&self) -> usize {
        self.rate.iter().map(|r| r.counters.len()).sum::<usize>()
            + self.budgets.iter().map(|b| b.counters.len()).sum::<usize>()
    }
}

impl RateState {
    fn quota(&self, used: u64, reset_at: Timestamp) -> Quota {
        Quota {
            rule_id: self.id.clone(),
            measure: self.measure,
            interval: self.interval,
            limit: self.limit,
            remaining: self.limit.saturating_sub(used),
            reset_at,
        }
    }

    fn status(
        &self,
        subject: String,
        window: &mut SlidingWindow,
        now: Timestamp,
        conditional: bool,
    ) -> LimitStatus {
        let now_ms = now.unix_millis();
        window.advance(now_ms, self.slot_ms);
        LimitStatus {
            rule_id: self.id.to_string(),
            kind: LimitKind::RateLimit,
            measure: self.measure,
            interval: self.interval,
            subject,
            limit: self.limit,
            used: window.used(),
            remaining: self.limit.saturating_sub(window.used()),
            reset_at: Timestamp::from_unix_millis(window.reset_at_ms(now_ms, self.slot_ms)),
            period: None,
            audit_mode: false,
            alerts_fired: Vec::new(),
            conditional,
        }
    }
}

impl BudgetState {
    fn status(
        &self,
        counter: &mut BudgetCounter,
        now: Timestamp,
        conditional: bool,
    ) -> LimitStatus {
        let period = counter.roll_to(now, self.limit.period);
        LimitStatus {
            rule_id: self.id.to_string(),
            kind: LimitKind::Budget,
            measure: self.limit.measure,
            interval: self.limit.period.into(),
            subject: counter.subject().to_owned(),
            limit: self.limit.amount,
            used: counter.spent(),
            remaining: self.limit.amount.saturating_sub(counter.spent()),
            reset_at: period.end(),
            period: Some(period),
            audit_mode: self.audit_mode,
            alerts_fired: to_percents(counter.fired()),
            conditional,
        }
    }
}
