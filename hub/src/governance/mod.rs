//! Governance in force: the authorizer and the limits, compiled from the configuration file and
//! the rules stored through the admin API, and the background work that keeps budgets durable.
//!
//! Deciding is in memory: the authorizer and the limits are snapshots swapped atomically when
//! rules change. Budget usage leaves the hot path through a bounded queue; the writer stores it
//! version-guarded, so a retried or replayed write changes nothing, and on start the usage of
//! the current periods is restored, so a restart neither resets nor double-counts a budget.

mod alerts;
mod external;

pub use alerts::AlertWebhook;
pub use external::{ExternalGuardrail, ExternalVerdict, FailureLabels};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agenthub_policy::authz::{Authorizer, PolicyRule, PolicySet, RoleRule, starter_policy};
use agenthub_policy::guardrails::{Finding, Guardrails, RuleConfig as GuardrailRule, Stage};
use agenthub_policy::limits::{
    Admission, BudgetAlert, BudgetRule, BudgetUsage, Limits, LimitsConfig, RateLimitRule,
    Rejection, Timestamp, Usage,
};
use agenthub_policy::when::RequestFacts;
use arc_swap::ArcSwap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigHandle, HubConfig, limits_config, policy_set};
use crate::error::{Error, Result};
use crate::model::now_millis;
use crate::store::{Store, StoredRule};

/// The kinds of rule the admin API stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Policy,
    Role,
    RateLimit,
    Budget,
    Guardrail,
}

impl RuleKind {
    pub const ALL: [RuleKind; 5] = [
        Self::Policy,
        Self::Role,
        Self::RateLimit,
        Self::Budget,
        Self::Guardrail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Role => "role",
            Self::RateLimit => "rate_limit",
            Self::Budget => "budget",
            Self::Guardrail => "guardrail",
        }
    }

    /// The configuration section (and API collection) holding this kind.
    pub fn section(self) -> &'static str {
        match self {
            Self::Policy => "policies",
            Self::Role => "roles",
            Self::RateLimit => "rate_limits",
            Self::Budget => "budgets",
            Self::Guardrail => "guardrails",
        }
    }
}

/// Whether a rule write creates a rule or replaces one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleWrite {
    /// The id must be free.
    Create,
    /// The rule must exist.
    Replace,
}

/// A problem with a rule set: the path of the offending field and what is wrong.
pub type Problem = (String, String);

/// The compiled rules of one configuration plus the stored rules.
struct Compiled {
    authorizer: Authorizer,
    limits: LimitsConfig,
    guardrails: Guardrails,
}

fn parse_stored<T: DeserializeOwned>(rule: &StoredRule) -> std::result::Result<T, Problem> {
    serde_json::from_value(rule.body.clone()).map_err(|e| {
        (
            format!("{}[id={}]", rule.kind, rule.id),
            format!("stored rule cannot be read: {e}"),
        )
    })
}

/// Merges the configuration's rules with the stored ones and compiles them. Problems of
/// stored rules are reported under `<section>[<index in the merged list>]`.
fn compile(
    config: &HubConfig,
    stored: &[StoredRule],
) -> std::result::Result<Compiled, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut set = if config.authorization.starter_policy {
        starter_policy()
    } else {
        PolicySet::default()
    };
    set.extend(policy_set(config));
    let mut limits = limits_config(config);
    let mut guardrails = config.guardrails.clone();
    for rule in stored {
        let parsed = match rule.kind.as_str() {
            "policy" => parse_stored::<PolicyRule>(rule).map(|r| set.policies.push(r)),
            "role" => parse_stored::<RoleRule>(rule).map(|r| set.roles.push(r)),
            "rate_limit" => parse_stored::<RateLimitRule>(rule).map(|r| limits.rate_limits.push(r)),
            "budget" => parse_stored::<BudgetRule>(rule).map(|r| limits.budgets.push(r)),
            "guardrail" => parse_stored::<GuardrailRule>(rule).map(|r| guardrails.push(r)),
            other => Err((
                format!("{other}[id={}]", rule.id),
                "unknown kind of stored rule".into(),
            )),
        };
        if let Err(problem) = parsed {
            problems.push(problem);
        }
    }
    problems.extend(set.validate().into_iter().map(|p| (p.path, p.message)));
    if let Err(found) = limits.validate() {
        problems.extend(found.into_iter().map(|p| (p.path, p.message)));
    }
    let guardrails = match Guardrails::from_rules(guardrails) {
        Ok(guardrails) => Some(guardrails),
        Err(found) => {
            problems.extend(found);
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let guardrails = guardrails.unwrap_or_default();
    let authorizer = Authorizer::new(set).map_err(|e| {
        e.problems
            .into_iter()
            .map(|p| (p.path, p.message))
            .collect::<Vec<_>>()
    })?;
    Ok(Compiled {
        authorizer,
        limits,
        guardrails,
    })
}

/// The hub's governance: decisions from memory, usage written behind.
pub struct Governance {
    store: Store,
    config: ConfigHandle,
    authorizer: ArcSwap<Authorizer>,
    limits: ArcSwap<Limits>,
    stored: ArcSwap<Vec<StoredRule>>,
    guardrails: ArcSwap<Guardrails>,
    external: ArcSwap<Option<ExternalGuardrail>>,
    external_failures: Family<FailureLabels, Counter>,
    /// Serializes rule changes and rebuilds.
    writer: Mutex<()>,
    /// Counts rule changes made here, for announcing them to other replicas.
    revision: watch::Sender<u64>,
    usage: mpsc::Sender<Vec<BudgetUsage>>,
    alerts: mpsc::Sender<BudgetAlert>,
    /// The receiving ends, taken once by the background task.
    queues: std::sync::Mutex<Option<Queues>>,
}

/// A usage row's identity: budget, subject, period, measure, replica.
type UsageKey = (String, String, String, String, String);

type Queues = (
    mpsc::Receiver<Vec<BudgetUsage>>,
    mpsc::Receiver<BudgetAlert>,
);

/// How many usage batches and alerts may wait for the store before new ones are dropped (and
/// counted). Budget totals are absolute, so a dropped batch is repaired by the next one and by
/// the periodic full snapshot.
const QUEUE_DEPTH: usize = 1024;

impl Governance {
    /// Compiles the rules in force and restores the budget usage of the current periods.
    /// `replica` names this process in the usage rows it writes.
    pub async fn load(
        store: Store,
        config: ConfigHandle,
        replica: &str,
    ) -> std::result::Result<Self, String> {
        let stored = store
            .load_rules()
            .await
            .map_err(|e| format!("cannot load the stored rules: {e}"))?;
        let compiled =
            compile(&config.snapshot(), &stored).map_err(|problems| render(&problems))?;
        let limits = Limits::new(&compiled.limits, replica).map_err(|p| {
            render(
                &p.into_iter()
                    .map(|p| (p.path, p.message))
                    .collect::<Vec<_>>(),
            )
        })?;
        let rows = store
            .load_budget_usage()
            .await
            .map_err(|e| format!("cannot load budget usage: {e}"))?;
        let report = limits.restore(&rows, now());
        tracing::info!(
            applied = report.applied,
            ignored = report.ignored,
            "budget usage restored"
        );
        let (usage, usage_rx) = mpsc::channel(QUEUE_DEPTH);
        let (alerts, alerts_rx) = mpsc::channel(QUEUE_DEPTH);
        let external_failures = Family::default();
        let external = external_guardrail(&config.snapshot(), &external_failures)?;
        Ok(Self {
            store,
            config,
            authorizer: ArcSwap::from_pointee(compiled.authorizer),
            limits: ArcSwap::from_pointee(limits),
            stored: ArcSwap::from_pointee(stored),
            guardrails: ArcSwap::from_pointee(compiled.guardrails),
            external: ArcSwap::from_pointee(external),
            external_failures,
            writer: Mutex::new(()),
            revision: watch::Sender::new(0),
            usage,
            alerts,
            queues: std::sync::Mutex::new(Some((usage_rx, alerts_rx))),
        })
    }

    pub fn authorizer(&self) -> Arc<Authorizer> {
        self.authorizer.load_full()
    }

    pub fn guardrails(&self) -> Arc<Guardrails> {
        self.guardrails.load_full()
    }

    /// Registers the governance metrics.
    pub fn register_metrics(&self, metrics: &mut crate::ops::Metrics) {
        metrics.register(
            "guardrail_webhook_failures",
            "External guardrail calls that failed, by reason; each followed guardrail_webhook.on_failure",
            self.external_failures.clone(),
        );
    }

    /// Inspects one text with the built-in guardrails, then the external one: blocked, or the
    /// text to forward (redacted or replaced) with what was found.
    pub async fn inspect(&self, text: &str, stage: Stage, facts: &RequestFacts<'_>) -> Inspection {
        let guardrails = self.guardrails.load();
        let verdict = guardrails.inspect(text, stage, facts);
        let mut inspection = Inspection {
            blocked: verdict.blocked.as_ref().map(|b| b.reason.clone()),
            text: verdict.text.into_owned(),
            findings: verdict.findings,
        };
        if inspection.blocked.is_some() {
            return inspection;
        }
        let external = self.external.load();
        if let Some(external) = external
            .as_ref()
            .as_ref()
            .filter(|e| e.applies(stage, facts))
        {
            match external.inspect(&inspection.text, stage, facts).await {
                ExternalVerdict::Allow => {}
                ExternalVerdict::Deny { reason } => inspection.blocked = Some(reason),
                ExternalVerdict::Replace { text } => inspection.text = text,
            }
        }
        inspection
    }

    pub fn limits(&self) -> Arc<Limits> {
        self.limits.load_full()
    }

    /// The rules stored through the admin API.
    pub fn stored_rules(&self) -> Arc<Vec<StoredRule>> {
        self.stored.load_full()
    }

    /// Notifies on every rule change made through this instance.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Admits a request against every rate limit and budget that applies.
    pub fn admit(
        &self,
        facts: &RequestFacts<'_>,
        estimate: Usage,
    ) -> std::result::Result<Admission, Rejection> {
        self.limits.load().check(facts, estimate, now())
    }

    /// Settles an admitted request with its actual usage; budget changes are queued for the
    /// store and crossed thresholds for delivery. Never blocks.
    pub fn settle(&self, admission: Admission, actual: Usage) {
        let charge = admission.charge(actual, now());
        if !charge.usage.is_empty() && self.usage.try_send(charge.usage).is_err() {
            tracing::warn!("budget usage queue full; the periodic snapshot will store it");
        }
        for alert in charge.alerts {
            if self.alerts.try_send(alert).is_err() {
                tracing::warn!("budget alert queue full; alert dropped");
            }
        }
    }

    /// Recompiles from the current configuration and stored rules; on failure the rules in
    /// force stay as they are.
    pub async fn rebuild(&self) -> std::result::Result<(), Vec<Problem>> {
        let _writer = self.writer.lock().await;
        self.install(self.stored.load_full().as_ref().clone())
    }

    /// Reloads the stored rules (another replica changed them) and recompiles.
    pub async fn refresh(&self) -> Result<()> {
        let _writer = self.writer.lock().await;
        let stored = self.store.load_rules().await?;
        if stored == *self.stored.load_full() {
            return Ok(());
        }
        if let Err(problems) = self.install(stored) {
            tracing::error!(problems = %render(&problems), "rules changed elsewhere do not compile; keeping the rules in force");
        }
        Ok(())
    }

    fn install(&self, stored: Vec<StoredRule>) -> std::result::Result<(), Vec<Problem>> {
        let compiled = compile(&self.config.snapshot(), &stored)?;
        let limits = self
            .limits
            .load()
            .reconfigure(&compiled.limits)
            .map_err(|p| {
                p.into_iter()
                    .map(|p| (p.path, p.message))
                    .collect::<Vec<_>>()
            })?;
        let external = external_guardrail(&self.config.snapshot(), &self.external_failures)
            .map_err(|e| vec![("guardrail_webhook".to_owned(), e)])?;
        self.authorizer.store(Arc::new(compiled.authorizer));
        self.limits.store(Arc::new(limits));
        self.guardrails.store(Arc::new(compiled.guardrails));
        self.external.store(Arc::new(external));
        self.stored.store(Arc::new(stored));
        Ok(())
    }

    /// Stores a rule after checking that the whole rule set still compiles with it. `write`
    /// says whether the rule must be new or must exist, checked under the writer lock so that
    /// two concurrent creations of one id cannot both succeed.
    pub async fn put_rule(
        &self,
        kind: RuleKind,
        id: &str,
        body: serde_json::Value,
        by: &str,
        write: RuleWrite,
    ) -> Result<StoredRule> {
        let _writer = self.writer.lock().await;
        let now = now_millis();
        let mut stored = self.stored.load_full().as_ref().clone();
        let existing = stored
            .iter()
            .position(|r| r.kind == kind.as_str() && r.id == id);
        match (write, existing) {
            (RuleWrite::Create, Some(_)) => {
                return Err(Error::conflict(format!(
                    "a {} with id \"{id}\" already exists; use PUT to replace it",
                    kind.as_str()
                )));
            }
            (RuleWrite::Replace, None) => {
                return Err(Error::not_found(format!("{} \"{id}\"", kind.as_str())));
            }
            _ => {}
        }
        let rule = StoredRule {
            kind: kind.as_str().to_owned(),
            id: id.to_owned(),
            body,
            created_by: existing
                .map_or_else(|| Some(by.to_owned()), |i| stored[i].created_by.clone()),
            created_at: existing.map_or(now, |i| stored[i].created_at),
            updated_at: now,
        };
        match existing {
            Some(i) => stored[i] = rule.clone(),
            None => stored.push(rule.clone()),
        }
        compile(&self.config.snapshot(), &stored).map_err(|problems| rejected(&problems))?;
        self.store.upsert_rule(&rule).await?;
        self.install(stored)
            .map_err(|problems| rejected(&problems))?;
        self.revision.send_modify(|r| *r += 1);
        Ok(rule)
    }

    pub async fn delete_rule(&self, kind: RuleKind, id: &str) -> Result<()> {
        let _writer = self.writer.lock().await;
        let mut stored = self.stored.load_full().as_ref().clone();
        stored.retain(|r| !(r.kind == kind.as_str() && r.id == id));
        self.store.delete_rule(kind.as_str(), id).await?;
        if let Err(problems) = self.install(stored) {
            tracing::error!(problems = %render(&problems), "rules do not compile after a deletion; keeping the rules in force");
        }
        self.revision.send_modify(|r| *r += 1);
        Ok(())
    }

    /// Writes queued budget usage, delivers alerts, merges other replicas' usage and prunes
    /// idle counters until `shutdown`; then stores a final snapshot.
    pub async fn run_background(
        self: Arc<Self>,
        webhook: Option<AlertWebhook>,
        merge_every: Duration,
        shutdown: CancellationToken,
    ) {
        let Some((mut usage_rx, mut alerts_rx)) =
            self.queues.lock().ok().and_then(|mut q| q.take())
        else {
            return;
        };
        let mut pending: HashMap<UsageKey, BudgetUsage> = HashMap::new();
        let mut tick = tokio::time::interval(merge_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(Duration::from_millis(500));
        let mut next_try = HashMap::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(rows) = usage_rx.recv() => keep_newest(&mut pending, rows),
                Some(alert) = alerts_rx.recv() => self.deliver(alert, webhook.as_ref()).await,
                _ = flush.tick() => self.write_pending(&mut pending).await,
                _ = tick.tick() => {
                    if let Err(e) = self.refresh().await {
                        tracing::debug!(error = %e, "could not reload the stored rules");
                    }
                    self.write_pending(&mut pending).await;
                    self.merge_and_prune().await;
                    self.retry_alerts(webhook.as_ref(), &mut next_try).await;
                }
            }
        }
        while let Ok(rows) = usage_rx.try_recv() {
            keep_newest(&mut pending, rows);
        }
        self.write_pending(&mut pending).await;
        if let Err(e) = self
            .store
            .save_budget_usage(&self.limits.load().snapshot())
            .await
        {
            tracing::warn!(error = %e, "could not store budget usage at shutdown");
        }
    }

    async fn write_pending(&self, pending: &mut HashMap<UsageKey, BudgetUsage>) {
        if pending.is_empty() {
            return;
        }
        let rows: Vec<BudgetUsage> = pending.values().cloned().collect();
        match self.store.save_budget_usage(&rows).await {
            Ok(()) => pending.clear(),
            // Kept for the next attempt; bounded by the number of counters.
            Err(e) => {
                tracing::warn!(error = %e, rows = rows.len(), "could not store budget usage; will retry")
            }
        }
    }

    async fn merge_and_prune(&self) {
        let limits = self.limits.load();
        match self.store.load_budget_usage().await {
            Ok(rows) => {
                limits.restore(&rows, now());
            }
            Err(e) => tracing::debug!(error = %e, "could not read other replicas' budget usage"),
        }
        limits.prune(now());
    }

    async fn deliver(&self, alert: BudgetAlert, webhook: Option<&AlertWebhook>) {
        tracing::warn!(budget = %alert.rule_id, subject = %alert.subject, period = %alert.period, threshold = alert.threshold, "budget alert");
        match self.store.record_budget_alert(&alert).await {
            Ok(true) => {}
            Ok(false) => return, // another replica records and delivers it
            Err(e) => {
                tracing::warn!(error = %e, "could not record a budget alert; delivering it anyway");
            }
        }
        if let Some(webhook) = webhook {
            let delivered = webhook.send(&alert).await;
            if let Err(e) = self
                .store
                .finish_budget_alert(&alert.dedupe_key(), delivered)
                .await
            {
                tracing::warn!(error = %e, "could not record a budget alert delivery");
            }
        }
    }

    /// Retries undelivered alerts, each after a delay that doubles with every failed attempt
    /// (capped at an hour).
    async fn retry_alerts(
        &self,
        webhook: Option<&AlertWebhook>,
        next_try: &mut HashMap<String, tokio::time::Instant>,
    ) {
        let Some(webhook) = webhook else { return };
        let Ok(pending) = self.store.undelivered_budget_alerts().await else {
            return;
        };
        let now = tokio::time::Instant::now();
        for (alert, attempts) in pending {
            let key = alert.dedupe_key();
            if next_try.get(&key).is_some_and(|at| *at > now) {
                continue;
            }
            let delivered = webhook.send(&alert).await;
            let _ = self.store.finish_budget_alert(&key, delivered).await;
            if delivered {
                next_try.remove(&key);
            } else {
                let delay = Duration::from_secs(5 << attempts.clamp(0, 10) as u32)
                    .min(Duration::from_secs(3600));
                next_try.insert(key, now + delay);
            }
        }
    }
}

/// The outcome of inspecting one text.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Why the text must not be forwarded, when it must not.
    pub blocked: Option<String>,
    /// The text to forward: redacted by the built-in rules or replaced by the external one.
    pub text: String,
    pub findings: Vec<Finding>,
}

fn external_guardrail(
    config: &HubConfig,
    failures: &Family<FailureLabels, Counter>,
) -> std::result::Result<Option<ExternalGuardrail>, String> {
    config
        .guardrail_webhook
        .clone()
        .map(|webhook| ExternalGuardrail::new(webhook, failures.clone()))
        .transpose()
        .map_err(|e| format!("cannot build the guardrail webhook client: {e}"))
}

/// Totals are absolute: only the newest row per key needs writing.
fn keep_newest(pending: &mut HashMap<UsageKey, BudgetUsage>, rows: Vec<BudgetUsage>) {
    for row in rows {
        let key = (
            row.rule_id.clone(),
            row.subject.clone(),
            row.period.to_string(),
            row.measure.as_str().to_owned(),
            row.replica.clone(),
        );
        if pending.get(&key).is_none_or(|p| p.version < row.version) {
            pending.insert(key, row);
        }
    }
}

fn now() -> Timestamp {
    Timestamp::from_unix_millis(now_millis())
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|(path, message)| format!("{path}: {message}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A rule the API cannot accept: the first problem's path becomes the error's `param`.
fn rejected(problems: &[Problem]) -> Error {
    let message = render(problems);
    match problems.first() {
        Some((path, _)) => Error::invalid(message).with_param(path.clone()),
        None => Error::invalid(message),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use agenthub_policy::limits::Usd;
    use agenthub_policy::when::Plane;
    use agenthub_policy::{Identity, SubjectKind};

    use super::*;
    use crate::store::testing;

    /// A webhook receiver on loopback counting what it gets.
    async fn receiver() -> (
        String,
        Arc<AtomicUsize>,
        Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    ) {
        let count = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, b) = (count.clone(), bodies.clone());
        let app = axum::Router::new().route(
            "/alerts",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let (c, b) = (c.clone(), b.clone());
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    b.lock().unwrap().push(body);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/alerts", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, count, bodies)
    }

    fn alice() -> Identity {
        Identity {
            principal_id: Some("p1".into()),
            key_id: Some("k1".into()),
            ..Identity::named(SubjectKind::User, "alice")
        }
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        for _ in 0..200 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// Budgets survive a restart without resetting or double-counting, and an alert is
    /// delivered once per threshold, whichever replica process starts later.
    #[tokio::test]
    async fn budgets_persist_and_alert_once() {
        for t in testing::all().await {
            let (url, delivered, bodies) = receiver().await;
            let yaml = format!(
                "budgets:\n  - {{id: daily, applies_per: user, cost_per_day: 1.00, alert_thresholds: [50, 100]}}\nbudget_alerts:\n  webhook: {url}\n"
            );
            let config = ConfigHandle::new(HubConfig::parse(&yaml, "test", &|_| None).unwrap());
            let identity = alice();
            let metadata = BTreeMap::new();
            let facts = RequestFacts {
                identity: &identity,
                plane: Plane::Llm,
                model: Some("m"),
                tool: None,
                agent: None,
                metadata: &metadata,
            };
            let cost = |cents| Usage {
                tokens: 10,
                cost: Usd::from_cents(cents),
            };
            let webhook = || Some(AlertWebhook::new(&url, Duration::from_secs(5)).unwrap());

            let first = Arc::new(
                Governance::load(t.store.clone(), config.clone(), "replica-1")
                    .await
                    .unwrap(),
            );
            let stop = CancellationToken::new();
            let worker = tokio::spawn(first.clone().run_background(
                webhook(),
                Duration::from_millis(100),
                stop.clone(),
            ));
            let admission = first.admit(&facts, cost(60)).unwrap();
            first.settle(admission, cost(60));
            eventually("the 50% alert", || delivered.load(Ordering::SeqCst) == 1).await;
            let admission = first.admit(&facts, cost(10)).unwrap();
            first.settle(admission, cost(10));
            stop.cancel();
            worker.await.unwrap();
            assert_eq!(
                delivered.load(Ordering::SeqCst),
                1,
                "{}: one threshold, one alert",
                t.name
            );
            assert_eq!(bodies.lock().unwrap()[0]["budget"], "daily");
            assert_eq!(bodies.lock().unwrap()[0]["threshold_percent"], 50);

            // A new process: $0.70 is already spent today, so $0.40 more is refused.
            let second = Arc::new(
                Governance::load(t.store.clone(), config.clone(), "replica-2")
                    .await
                    .unwrap(),
            );
            let refused = second.admit(&facts, cost(40)).unwrap_err();
            assert_eq!(
                refused.quota.remaining, 300_000,
                "{}: restored, not reset or doubled",
                t.name
            );
            let stop = CancellationToken::new();
            let worker = tokio::spawn(second.clone().run_background(
                webhook(),
                Duration::from_millis(100),
                stop.clone(),
            ));
            let admission = second.admit(&facts, cost(10)).unwrap();
            second.settle(admission, cost(10));
            tokio::time::sleep(Duration::from_millis(400)).await;
            stop.cancel();
            worker.await.unwrap();
            assert_eq!(
                delivered.load(Ordering::SeqCst),
                1,
                "{}: the 50% alert is not sent again",
                t.name
            );
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn stored_rules_are_validated_and_survive_reload() {
        let t = testing::sqlite().await;
        let config = ConfigHandle::new(HubConfig::default());
        let governance = Governance::load(t.store.clone(), config.clone(), "r")
            .await
            .unwrap();
        let bad = serde_json::json!({"id": "x", "limit_to": 5, "unit": "requests_per_fortnight"});
        let err = governance
            .put_rule(
                RuleKind::RateLimit,
                "x",
                bad,
                "user:admin",
                RuleWrite::Create,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), agenthub_policy::ErrorKind::InvalidRequest);
        assert!(err.message().contains("requests_per_fortnight"), "{err}");
        let good = serde_json::json!({"id": "rpm", "limit_to": 1, "unit": "requests_per_minute", "applies_per": "user"});
        governance
            .put_rule(
                RuleKind::RateLimit,
                "rpm",
                good,
                "user:admin",
                RuleWrite::Create,
            )
            .await
            .unwrap();

        let reloaded = Governance::load(t.store.clone(), config, "r")
            .await
            .unwrap();
        let identity = alice();
        let metadata = BTreeMap::new();
        let facts = RequestFacts {
            identity: &identity,
            plane: Plane::Mcp,
            model: None,
            tool: Some("jira/x"),
            agent: None,
            metadata: &metadata,
        };
        let free = Usage {
            tokens: 0,
            cost: Usd::from_cents(0),
        };
        reloaded.settle(reloaded.admit(&facts, free).unwrap(), free);
        assert!(
            reloaded.admit(&facts, free).is_err(),
            "the stored rate limit applies after a reload"
        );
        reloaded
            .delete_rule(RuleKind::RateLimit, "rpm")
            .await
            .unwrap();
        assert!(reloaded.admit(&facts, free).is_ok());
    }
}
