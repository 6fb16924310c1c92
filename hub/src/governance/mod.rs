//! Governance in force: the authorizer and the limits, compiled from the configuration file and
//! the rules stored through the admin API, and the background work that keeps budgets durable.
//!
//! Deciding is in memory: the authorizer and the limits are snapshots swapped atomically when
//! rules change. A change — of a stored rule, or of the configuration file — is compiled with
//! everything else in force before it is accepted, under one lock, so that what is stored or
//! served always compiles.
//!
//! Budget usage leaves the hot path through a bounded queue; the writer stores it
//! version-guarded, so a retried or replayed write changes nothing, and every tick it also
//! stores whatever changed since its last write (repairing batches dropped from a full queue).
//! On start the usage of the current periods is restored, so a restart neither resets nor
//! double-counts a budget. Alerts go through their own queue and task: recorded once in the
//! store, then delivered by whichever replica claims each attempt there.

mod alerts;
mod external;
mod metadata;

pub use alerts::AlertWebhook;
pub use external::{ExternalGuardrail, ExternalVerdict, FailureLabels};
pub use metadata::{lenient as lenient_metadata, request_metadata};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agenthub_policy::authz::{Authorizer, PolicyRule, PolicySet, RoleRule, starter_policy};
use agenthub_policy::guardrails::{
    Finding, Guardrails, JsonFinding, RuleConfig as GuardrailRule, Stage,
};
use agenthub_policy::limits::{
    Admission, BudgetAlert, BudgetRule, BudgetUsage, Limits, LimitsConfig, RateLimitRule,
    Rejection, Timestamp, Usage,
};
use agenthub_policy::when::RequestFacts;
use arc_swap::ArcSwap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use agenthub_a2a_bus::config::AgentConfig;
use agenthub_llm_router::catalog::Catalog;
use agenthub_llm_router::config::{ModelConfig, ProviderConfig, Sections, VirtualModelConfig};
use agenthub_mcp_registry::config::McpServerConfig;
use agenthub_mcp_registry::virtual_servers::McpVirtualServerConfig;

use crate::config::{
    ConfigError, ConfigErrors, ConfigHandle, HubConfig, limits_config, policy_set,
};
use crate::error::{Error, Result};
use crate::model::{Millis, now_millis};
use crate::store::{Store, StoredRule};

/// The kinds of rule the admin API stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    Policy,
    Role,
    RateLimit,
    Budget,
    Guardrail,
    Provider,
    Model,
    VirtualModel,
    McpServer,
    McpVirtualServer,
    Agent,
}

impl RuleKind {
    pub const ALL: [RuleKind; 11] = [
        Self::Policy,
        Self::Role,
        Self::RateLimit,
        Self::Budget,
        Self::Guardrail,
        Self::Provider,
        Self::Model,
        Self::VirtualModel,
        Self::McpServer,
        Self::McpVirtualServer,
        Self::Agent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Policy => "policy",
            Self::Role => "role",
            Self::RateLimit => "rate_limit",
            Self::Budget => "budget",
            Self::Guardrail => "guardrail",
            Self::Provider => "provider",
            Self::Model => "model",
            Self::VirtualModel => "virtual_model",
            Self::McpServer => "mcp_server",
            Self::McpVirtualServer => "mcp_virtual_server",
            Self::Agent => "agent",
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
            Self::Provider => "providers",
            Self::Model => "models",
            Self::VirtualModel => "virtual_models",
            Self::McpServer => "mcp_servers",
            Self::McpVirtualServer => "mcp_virtual_servers",
            Self::Agent => "agents",
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
    catalog: Catalog,
    mcp_servers: Vec<McpServerConfig>,
    mcp_virtual_servers: Vec<McpVirtualServerConfig>,
    agents: Vec<AgentConfig>,
}

fn parse_stored<T: DeserializeOwned>(rule: &StoredRule) -> std::result::Result<T, Problem> {
    serde_json::from_value(rule.body.clone()).map_err(|e| {
        (
            format!("{}[id={}]", rule.kind, rule.id),
            format!("stored rule cannot be read: {e}"),
        )
    })
}

fn base_policy(config: &HubConfig) -> PolicySet {
    if config.authorization.starter_policy {
        starter_policy()
    } else {
        PolicySet::default()
    }
}

/// Merges the configuration's rules with the stored ones and compiles them. Problems of
/// stored rules are reported under `<section>[<index in the merged list>]`.
fn compile(
    config: &HubConfig,
    stored: &[StoredRule],
) -> std::result::Result<Compiled, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut set = base_policy(config);
    set.extend(policy_set(config));
    let mut limits = limits_config(config);
    let mut guardrails = config.guardrails.clone();
    let mut providers = config.providers.clone();
    let mut models = config.models.clone();
    let mut virtual_models = config.virtual_models.clone();
    let mut mcp_servers = config.mcp_servers.clone();
    let mut mcp_virtual_servers = config.mcp_virtual_servers.clone();
    let mut agents = config.agents.clone();
    for rule in stored {
        let parsed = match rule.kind.as_str() {
            "policy" => parse_stored::<PolicyRule>(rule).map(|r| set.policies.push(r)),
            "role" => parse_stored::<RoleRule>(rule).map(|r| set.roles.push(r)),
            "rate_limit" => parse_stored::<RateLimitRule>(rule).map(|r| limits.rate_limits.push(r)),
            "budget" => parse_stored::<BudgetRule>(rule).map(|r| limits.budgets.push(r)),
            "guardrail" => parse_stored::<GuardrailRule>(rule).map(|r| guardrails.push(r)),
            "provider" => parse_stored::<ProviderConfig>(rule).map(|r| providers.push(r)),
            "model" => parse_stored::<ModelConfig>(rule).map(|r| models.push(r)),
            "virtual_model" => {
                parse_stored::<VirtualModelConfig>(rule).map(|r| virtual_models.push(r))
            }
            "mcp_server" => parse_stored::<McpServerConfig>(rule).map(|r| mcp_servers.push(r)),
            "mcp_virtual_server" => {
                parse_stored::<McpVirtualServerConfig>(rule).map(|r| mcp_virtual_servers.push(r))
            }
            "agent" => parse_stored::<AgentConfig>(rule).map(|mut r| {
                r.from_api = true;
                agents.push(r)
            }),
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
    problems.extend(agenthub_mcp_registry::config::check(
        &config.mcp,
        &mcp_servers,
    ));
    problems.extend(agenthub_mcp_registry::virtual_servers::check(
        &config.mcp.separator,
        &mcp_virtual_servers,
    ));
    problems.extend(agenthub_a2a_bus::config::check(&agents));
    let guardrails = match Guardrails::from_rules(guardrails) {
        Ok(guardrails) => Some(guardrails),
        Err(found) => {
            problems.extend(found);
            None
        }
    };
    let catalog = match Catalog::build(Sections {
        settings: &config.llm,
        providers: &providers,
        models: &models,
        virtual_models: &virtual_models,
    }) {
        Ok(catalog) => Some(catalog),
        Err(found) => {
            problems.extend(found);
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let guardrails = guardrails.unwrap_or_default();
    let catalog = catalog.unwrap_or_default();
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
        catalog,
        mcp_servers,
        mcp_virtual_servers,
        agents,
    })
}

/// A problem's path as a configuration file's author reads it: `<section>[<i>]` of the merged
/// list becomes the file's own index, `<section>[stored:<id>]` for a rule stored through the
/// admin API, or `authorization.starter_policy` for the starter policy's lines.
fn locate(path: &str, config: &HubConfig, stored: &[StoredRule]) -> String {
    let parsed = path.split_once('[').and_then(|(section, rest)| {
        let (index, rest) = rest.split_once(']')?;
        let kind = RuleKind::ALL.into_iter().find(|k| k.section() == section)?;
        Some((section, kind, index.parse::<usize>().ok()?, rest))
    });
    let Some((section, kind, index, rest)) = parsed else {
        return path.to_owned();
    };
    let base = base_policy(config);
    let (base, own) = match kind {
        RuleKind::Policy => (base.policies.len(), config.policies.len()),
        RuleKind::Role => (base.roles.len(), config.roles.len()),
        RuleKind::RateLimit => (0, config.rate_limits.len()),
        RuleKind::Budget => (0, config.budgets.len()),
        RuleKind::Guardrail => (0, config.guardrails.len()),
        RuleKind::Provider => (0, config.providers.len()),
        RuleKind::Model => (0, config.models.len()),
        RuleKind::VirtualModel => (0, config.virtual_models.len()),
        RuleKind::McpServer => (0, config.mcp_servers.len()),
        RuleKind::McpVirtualServer => (0, config.mcp_virtual_servers.len()),
        RuleKind::Agent => (0, config.agents.len()),
    };
    if index < base {
        return "authorization.starter_policy".to_owned();
    }
    if index < base + own {
        return format!("{section}[{}]{rest}", index - base);
    }
    match stored
        .iter()
        .filter(|r| r.kind == kind.as_str())
        .nth(index - base - own)
    {
        Some(rule) => format!("{section}[stored:{}]{rest}", rule.id),
        None => path.to_owned(),
    }
}

/// Problems with their paths as a file's author or an API caller reads them (see [`locate`]).
fn located(problems: Vec<Problem>, config: &HubConfig, stored: &[StoredRule]) -> Vec<Problem> {
    problems
        .into_iter()
        .map(|(path, message)| (locate(&path, config, stored), message))
        .collect()
}

/// How undelivered budget alerts are retried: the first retry after `first`, each next one
/// after twice the previous delay, at most `max`.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    const DEFAULT: Self = Self {
        first: Duration::from_secs(5),
        max: Duration::from_secs(3600),
    };

    /// How long the attempt after `attempts` earlier ones is claimed for: the backoff delay,
    /// and at least the delivery timeout plus `first`, so that no other replica starts the
    /// next attempt while this one may still be in flight.
    fn lease(self, attempts: i64, timeout: Duration) -> Duration {
        let shift = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        let delay = self.first.saturating_mul(1 << shift).min(self.max);
        delay.max(timeout.saturating_add(self.first))
    }
}

/// How often the writer deletes usage rows of past periods and old alerts.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);
/// Alerts are kept this long after they were raised (longer than any budget period).
const ALERT_RETENTION_MS: Millis = 35 * 24 * 3_600_000;
/// How many due alerts one delivery round takes on.
const ALERTS_PER_ROUND: i64 = 100;

/// Everything a rule set change installs, built and checked before anything is stored or
/// swapped: installing it cannot fail.
struct Prepared {
    config: Arc<HubConfig>,
    stored: Vec<StoredRule>,
    authorizer: Authorizer,
    limits: Limits,
    guardrails: Guardrails,
    catalog: Catalog,
    mcp_servers: Vec<McpServerConfig>,
    mcp_virtual_servers: Vec<McpVirtualServerConfig>,
    agents: Vec<AgentConfig>,
    /// New webhook clients, when their settings changed.
    external: Option<Option<ExternalGuardrail>>,
    alert_webhook: Option<Option<AlertWebhook>>,
}

/// The hub's governance: decisions from memory, usage written behind.
pub struct Governance {
    store: Store,
    config: ConfigHandle,
    /// Names this process in the usage rows it writes.
    replica: String,
    /// The configuration the rules in force were compiled from.
    installed: ArcSwap<HubConfig>,
    authorizer: ArcSwap<Authorizer>,
    limits: ArcSwap<Limits>,
    stored: ArcSwap<Vec<StoredRule>>,
    guardrails: ArcSwap<Guardrails>,
    /// The model catalog: providers, models and virtual models.
    catalog: ArcSwap<Catalog>,
    /// The MCP servers registered in the configuration file and through the admin API; the
    /// MCP plane follows it.
    mcp_servers: watch::Sender<Arc<Vec<McpServerConfig>>>,
    /// The virtual MCP servers, from the configuration file and the admin API; the MCP plane
    /// follows it.
    mcp_virtual_servers: watch::Sender<Arc<Vec<McpVirtualServerConfig>>>,
    /// The A2A agents, from the configuration file and the admin API; the A2A plane follows
    /// it.
    agents: watch::Sender<Arc<Vec<AgentConfig>>>,
    external: ArcSwap<Option<ExternalGuardrail>>,
    external_failures: Family<FailureLabels, Counter>,
    alert_webhook: ArcSwap<Option<AlertWebhook>>,
    alert_backoff: Backoff,
    /// Serializes rule changes, configuration changes and rebuilds.
    writer: Mutex<()>,
    /// Counts rule changes made here, for announcing them to other replicas.
    revision: watch::Sender<u64>,
    /// Set when a charge changed a budget row; the writer stores what changed on its next
    /// flush. A flag, not a queue: the rows are read from the counters, so a request costs one
    /// store to memory and wakes nothing.
    usage_changed: AtomicBool,
    alerts: mpsc::Sender<BudgetAlert>,
    /// The receiving ends, taken once by the background tasks.
    queues: std::sync::Mutex<Option<Queues>>,
}

/// A usage row's identity: budget, subject, period, measure, replica.
type UsageKey = (String, String, String, String, String);

fn usage_key(row: &BudgetUsage) -> UsageKey {
    (
        row.rule_id.clone(),
        row.subject.clone(),
        row.period.to_string(),
        row.measure.as_str().to_owned(),
        row.replica.clone(),
    )
}

type Queues = mpsc::Receiver<BudgetAlert>;

/// How many budget alerts may wait for delivery before new ones are dropped.
const QUEUE_DEPTH: usize = 1024;

/// How soon budget usage reaches the store after a charge changed it.
const USAGE_FLUSH_EVERY: Duration = Duration::from_millis(500);

fn alert_webhook(config: &HubConfig) -> std::result::Result<Option<AlertWebhook>, String> {
    config
        .budget_alerts
        .webhook
        .as_deref()
        .map(|url| AlertWebhook::new(url, config.budget_alerts.timeout))
        .transpose()
        .map_err(|e| format!("cannot build the budget alert webhook client: {e}"))
}

fn problems_of(found: Vec<agenthub_policy::limits::ConfigProblem>) -> Vec<Problem> {
    found.into_iter().map(|p| (p.path, p.message)).collect()
}

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
        let snapshot = config.snapshot();
        let compiled = compile(&snapshot, &stored).map_err(|problems| render(&problems))?;
        let limits = Limits::new(&compiled.limits, replica).map_err(|p| render(&problems_of(p)))?;
        let rows = store
            .load_budget_usage(now())
            .await
            .map_err(|e| format!("cannot load budget usage: {e}"))?;
        let report = limits.restore(&rows, now());
        tracing::info!(
            applied = report.applied,
            ignored = report.ignored,
            "budget usage restored"
        );
        let (alerts, alerts_rx) = mpsc::channel(QUEUE_DEPTH);
        let external_failures = Family::default();
        let external = external_guardrail(&snapshot, &external_failures)?;
        let webhook =
            alert_webhook(&snapshot).map_err(|e| format!("budget_alerts.webhook: {e}"))?;
        Ok(Self {
            store,
            config,
            replica: replica.to_owned(),
            installed: ArcSwap::new(snapshot),
            authorizer: ArcSwap::from_pointee(compiled.authorizer),
            limits: ArcSwap::from_pointee(limits),
            stored: ArcSwap::from_pointee(stored),
            guardrails: ArcSwap::from_pointee(compiled.guardrails),
            catalog: ArcSwap::from_pointee(compiled.catalog),
            mcp_servers: watch::Sender::new(Arc::new(compiled.mcp_servers)),
            mcp_virtual_servers: watch::Sender::new(Arc::new(compiled.mcp_virtual_servers)),
            agents: watch::Sender::new(Arc::new(compiled.agents)),
            external: ArcSwap::from_pointee(external),
            external_failures,
            alert_webhook: ArcSwap::from_pointee(webhook),
            alert_backoff: Backoff::DEFAULT,
            writer: Mutex::new(()),
            revision: watch::Sender::new(0),
            usage_changed: AtomicBool::new(false),
            alerts,
            queues: std::sync::Mutex::new(Some(alerts_rx)),
        })
    }

    /// Retries undelivered alerts after `first` (doubling), instead of 5 s: for tests.
    #[cfg(test)]
    fn with_alert_backoff(mut self, first: Duration) -> Self {
        self.alert_backoff.first = first;
        self
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

    /// Whether any guardrail, built-in or external, inspects `stage` of this request.
    pub fn inspects(&self, stage: Stage, facts: &RequestFacts<'_>) -> bool {
        self.guardrails.load().applies(stage, facts)
            || self
                .external
                .load()
                .as_ref()
                .as_ref()
                .is_some_and(|e| e.applies(stage, facts))
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

    /// Inspects every string of a JSON value in place (MCP tool arguments and results): the
    /// built-in guardrails see every string, object keys included, and redact where they
    /// stand; then the external one is asked about each string value in turn.
    pub async fn inspect_json(
        &self,
        value: &mut serde_json::Value,
        stage: Stage,
        facts: &RequestFacts<'_>,
    ) -> JsonInspection {
        let verdict = self.guardrails.load().inspect_json(value, stage, facts);
        let mut inspection = JsonInspection {
            blocked: verdict.blocked.map(|(_, blocked)| blocked.reason),
            changed: verdict.redacted,
            findings: verdict.findings,
        };
        if inspection.blocked.is_some() {
            return inspection;
        }
        let external = self.external.load_full();
        let Some(external) = external
            .as_ref()
            .as_ref()
            .filter(|e| e.applies(stage, facts))
        else {
            return inspection;
        };
        for text in strings_mut(value) {
            match external.inspect(text, stage, facts).await {
                ExternalVerdict::Allow => {}
                ExternalVerdict::Deny { reason } => {
                    inspection.blocked = Some(reason);
                    break;
                }
                ExternalVerdict::Replace { text: replaced } => {
                    *text = replaced;
                    inspection.changed = true;
                }
            }
        }
        inspection
    }

    /// The model catalog in force.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// The MCP servers registered now, by the configuration file then the admin API; the
    /// receiver sees each change.
    pub fn mcp_servers(&self) -> watch::Receiver<Arc<Vec<McpServerConfig>>> {
        self.mcp_servers.subscribe()
    }

    /// The virtual MCP servers defined now, by the configuration file then the admin API; the
    /// receiver sees each change.
    pub fn mcp_virtual_servers(&self) -> watch::Receiver<Arc<Vec<McpVirtualServerConfig>>> {
        self.mcp_virtual_servers.subscribe()
    }

    /// The A2A agents registered now, by the configuration file then the admin API; the
    /// receiver sees each change.
    pub fn agents(&self) -> watch::Receiver<Arc<Vec<AgentConfig>>> {
        self.agents.subscribe()
    }

    pub fn limits(&self) -> Arc<Limits> {
        self.limits.load_full()
    }

    /// The rules stored through the admin API, by kind then id.
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
        if !charge.usage.is_empty() {
            self.usage_changed.store(true, Ordering::Relaxed);
        }
        for alert in charge.alerts {
            if self.alerts.try_send(alert).is_err() {
                tracing::warn!("budget alert queue full; alert dropped");
            }
        }
    }

    /// Whether `config` compiles with the stored rules in force (without installing it).
    pub fn check_config(&self, config: &HubConfig) -> std::result::Result<(), Vec<Problem>> {
        let stored = self.stored.load_full();
        self.prepare(Arc::new(config.clone()), stored.as_ref().clone())
            .map(drop)
    }

    /// Accepts a configuration file's new contents, or rejects them whole: a candidate that
    /// does not compile with the stored rules is recorded as rejected (shown on `/readyz`) and
    /// the configuration in force keeps serving. Checked and installed under the writer lock,
    /// so that no rule change can slip between the check and the swap. `source_name` names
    /// the file in the rejection.
    pub async fn apply_config(
        &self,
        candidate: std::result::Result<HubConfig, ConfigErrors>,
        source_name: &str,
    ) {
        let _writer = self.writer.lock().await;
        let config = match candidate {
            Ok(config) => Arc::new(config),
            Err(errors) => return self.config.apply(Err(errors)),
        };
        let stored = self.stored.load_full();
        match self.prepare(config.clone(), stored.as_ref().clone()) {
            Ok(prepared) => {
                self.config.apply(Ok(config.as_ref().clone()));
                self.commit(prepared);
            }
            Err(problems) => self.config.apply(Err(ConfigErrors {
                source_name: format!("{source_name} with the rules stored through the admin API"),
                errors: problems
                    .into_iter()
                    .map(|(path, message)| {
                        ConfigError::new(locate(&path, &config, &stored), message)
                    })
                    .collect(),
            })),
        }
    }

    /// Recompiles from the current configuration and stored rules; on failure the rules in
    /// force stay as they are.
    pub async fn rebuild(&self) -> std::result::Result<(), Vec<Problem>> {
        let _writer = self.writer.lock().await;
        let prepared = self.prepare(
            self.config.snapshot(),
            self.stored.load_full().as_ref().clone(),
        )?;
        self.commit(prepared);
        Ok(())
    }

    /// Reloads the stored rules (another replica changed them) and recompiles.
    pub async fn refresh(&self) -> Result<()> {
        let _writer = self.writer.lock().await;
        let stored = self.store.load_rules().await?;
        if stored == *self.stored.load_full() {
            return Ok(());
        }
        match self.prepare(self.config.snapshot(), stored) {
            Ok(prepared) => self.commit(prepared),
            Err(problems) => {
                tracing::error!(problems = %render(&problems), "rules changed elsewhere do not compile; keeping the rules in force");
            }
        }
        Ok(())
    }

    /// Compiles `config` with `stored` and builds everything to install, without installing
    /// anything. Call under the writer lock.
    fn prepare(
        &self,
        config: Arc<HubConfig>,
        stored: Vec<StoredRule>,
    ) -> std::result::Result<Prepared, Vec<Problem>> {
        let compiled = compile(&config, &stored)?;
        let limits = self
            .limits
            .load()
            .reconfigure(&compiled.limits)
            .map_err(problems_of)?;
        let installed = self.installed.load();
        let external = (config.guardrail_webhook != installed.guardrail_webhook)
            .then(|| external_guardrail(&config, &self.external_failures))
            .transpose()
            .map_err(|e| vec![("guardrail_webhook".to_owned(), e)])?;
        let alert_webhook = (config.budget_alerts != installed.budget_alerts)
            .then(|| alert_webhook(&config))
            .transpose()
            .map_err(|e| vec![("budget_alerts.webhook".to_owned(), e)])?;
        Ok(Prepared {
            config,
            stored,
            authorizer: compiled.authorizer,
            limits,
            guardrails: compiled.guardrails,
            catalog: compiled.catalog,
            mcp_servers: compiled.mcp_servers,
            mcp_virtual_servers: compiled.mcp_virtual_servers,
            agents: compiled.agents,
            external,
            alert_webhook,
        })
    }

    fn commit(&self, prepared: Prepared) {
        self.authorizer.store(Arc::new(prepared.authorizer));
        self.limits.store(Arc::new(prepared.limits));
        self.guardrails.store(Arc::new(prepared.guardrails));
        self.catalog.store(Arc::new(prepared.catalog));
        self.mcp_servers.send_if_modified(|servers| {
            let changed = **servers != prepared.mcp_servers;
            if changed {
                *servers = Arc::new(prepared.mcp_servers);
            }
            changed
        });
        self.mcp_virtual_servers.send_if_modified(|servers| {
            let changed = **servers != prepared.mcp_virtual_servers;
            if changed {
                *servers = Arc::new(prepared.mcp_virtual_servers);
            }
            changed
        });
        self.agents.send_if_modified(|agents| {
            let changed = **agents != prepared.agents;
            if changed {
                *agents = Arc::new(prepared.agents);
            }
            changed
        });
        if let Some(external) = prepared.external {
            self.external.store(Arc::new(external));
        }
        if let Some(webhook) = prepared.alert_webhook {
            self.alert_webhook.store(Arc::new(webhook));
        }
        self.stored.store(Arc::new(prepared.stored));
        self.installed.store(prepared.config);
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
            None => {
                let at = stored
                    .binary_search_by(|r| StoredRule::order(r, &rule))
                    .unwrap_or_else(|at| at);
                stored.insert(at, rule.clone());
            }
        }
        let config = self.config.snapshot();
        let prepared = self
            .prepare(config.clone(), stored.clone())
            .map_err(|problems| rejected(&located(problems, &config, &stored)))?;
        self.store.upsert_rule(&rule).await?;
        self.commit(prepared);
        self.revision.send_modify(|r| *r += 1);
        Ok(rule)
    }

    /// Deletes a stored rule, unless the rules left would not compile (then nothing changes).
    pub async fn delete_rule(&self, kind: RuleKind, id: &str) -> Result<()> {
        let _writer = self.writer.lock().await;
        let mut stored = self.stored.load_full().as_ref().clone();
        stored.retain(|r| !(r.kind == kind.as_str() && r.id == id));
        let config = self.config.snapshot();
        let prepared = self
            .prepare(config.clone(), stored.clone())
            .map_err(|problems| {
                Error::conflict(format!(
                    "the {} \"{id}\" was not deleted: the rules left would not compile: {}",
                    kind.as_str(),
                    render(&located(problems, &config, &stored))
                ))
            })?;
        self.store.delete_rule(kind.as_str(), id).await?;
        self.commit(prepared);
        self.revision.send_modify(|r| *r += 1);
        Ok(())
    }

    /// Until `shutdown`: writes queued budget usage and, every `tick`, whatever else changed,
    /// merges other replicas' usage, reloads the stored rules and prunes idle counters and old
    /// rows; meanwhile, in a task of its own, records and delivers budget alerts. Then stores
    /// what is left. Cancel `shutdown` only once no request can settle any more (after the
    /// HTTP server has drained), or their usage is not stored.
    pub async fn run_background(self: Arc<Self>, tick: Duration, shutdown: CancellationToken) {
        let Some(alerts_rx) = self.queues.lock().ok().and_then(|mut q| q.take()) else {
            return;
        };
        let alerts = tokio::spawn(self.clone().run_alerts(alerts_rx, tick, shutdown.clone()));
        self.write_usage(tick, shutdown).await;
        if let Err(e) = alerts.await {
            tracing::error!(error = %e, "the budget alert task failed");
        }
    }

    async fn write_usage(&self, every: Duration, shutdown: CancellationToken) {
        // The version of each of this replica's rows last stored.
        let mut saved: HashMap<UsageKey, u64> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(USAGE_FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = flush.tick() => {
                    if self.usage_changed.swap(false, Ordering::Relaxed) {
                        self.write_changed(&mut saved).await;
                    }
                }
                _ = tick.tick() => {
                    if let Err(e) = self.refresh().await {
                        tracing::debug!(error = %e, "could not reload the stored rules");
                    }
                    self.write_changed(&mut saved).await;
                    self.merge_and_prune().await;
                    if tokio::time::Instant::now() >= housekeeping {
                        self.housekeeping().await;
                        housekeeping = tokio::time::Instant::now() + HOUSEKEEPING_EVERY;
                    }
                }
            }
        }
        self.write_changed(&mut saved).await;
    }

    /// Stores this replica's rows that changed since they were last stored. On failure the
    /// next flush tries again.
    async fn write_changed(&self, saved: &mut HashMap<UsageKey, u64>) {
        let rows: Vec<BudgetUsage> = self
            .limits
            .load()
            .snapshot()
            .into_iter()
            .filter(|row| row.replica == self.replica)
            .collect();
        let live: HashSet<UsageKey> = rows.iter().map(usage_key).collect();
        saved.retain(|key, _| live.contains(key));
        let changed: Vec<BudgetUsage> = rows
            .into_iter()
            .filter(|row| {
                saved
                    .get(&usage_key(row))
                    .is_none_or(|version| *version < row.version)
            })
            .collect();
        if changed.is_empty() {
            return;
        }
        match self.store.save_budget_usage(&changed).await {
            Ok(()) => {
                for row in &changed {
                    saved.insert(usage_key(row), row.version);
                }
            }
            Err(e) => {
                self.usage_changed.store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, rows = changed.len(), "could not store budget usage; will retry")
            }
        }
    }

    async fn merge_and_prune(&self) {
        let limits = self.limits.load();
        match self.store.load_budget_usage(now()).await {
            Ok(rows) => {
                limits.restore(&rows, now());
            }
            Err(e) => tracing::debug!(error = %e, "could not read other replicas' budget usage"),
        }
        limits.prune(now());
    }

    /// Deletes usage rows of past periods and alerts past their retention.
    async fn housekeeping(&self) {
        match self.store.prune_budget_usage(now()).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "deleted budget usage of past periods"),
            Err(e) => tracing::debug!(error = %e, "could not delete old budget usage"),
        }
        match self
            .store
            .prune_budget_alerts(now_millis() - ALERT_RETENTION_MS)
            .await
        {
            Ok(0) => {}
            Ok(undelivered) => {
                tracing::warn!(
                    undelivered,
                    "deleted budget alerts never delivered in 35 days"
                )
            }
            Err(e) => tracing::debug!(error = %e, "could not delete old budget alerts"),
        }
    }

    /// Records raised alerts in the store (so that exactly one replica's record wins) and
    /// delivers due alerts, each attempt claimed in the store first; a slow webhook delays
    /// only other alerts, never the usage writer.
    async fn run_alerts(
        self: Arc<Self>,
        mut alerts_rx: mpsc::Receiver<BudgetAlert>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let due = Arc::new(Notify::new());
        let sender = tokio::spawn(
            self.clone()
                .send_alerts(due.clone(), every, shutdown.clone()),
        );
        // Alerts the store could not take yet; retried, bounded like the queue.
        let mut unrecorded: Vec<BudgetAlert> = Vec::new();
        let mut retry = tokio::time::interval(every);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(alert) = alerts_rx.recv() => {
                    tracing::warn!(budget = %alert.rule_id, subject = %alert.subject, period = %alert.period, threshold = alert.threshold, "budget alert");
                    unrecorded.push(alert);
                    self.record_alerts(&mut unrecorded, &due).await;
                }
                _ = retry.tick() => self.record_alerts(&mut unrecorded, &due).await,
            }
        }
        while let Ok(alert) = alerts_rx.try_recv() {
            unrecorded.push(alert);
        }
        self.record_alerts(&mut unrecorded, &due).await;
        if !unrecorded.is_empty() {
            tracing::warn!(
                alerts = unrecorded.len(),
                "budget alerts lost at shutdown: the store could not record them"
            );
        }
        if let Err(e) = sender.await {
            tracing::error!(error = %e, "the budget alert sender failed");
        }
    }

    async fn record_alerts(&self, unrecorded: &mut Vec<BudgetAlert>, due: &Notify) {
        let mut left = Vec::new();
        for alert in unrecorded.drain(..) {
            match self.store.record_budget_alert(&alert, None).await {
                // Raised by another replica too: whoever claims it delivers it.
                Ok(false) => {}
                Ok(true) if self.alert_webhook.load().is_none() => {
                    // Nowhere to send it: logged above, and so delivered.
                    if let Err(e) = self.store.budget_alert_delivered(&alert.dedupe_key()).await {
                        tracing::debug!(error = %e, "could not mark a logged budget alert");
                    }
                }
                Ok(true) => due.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, "could not record a budget alert; will retry");
                    left.push(alert);
                }
            }
        }
        left.truncate(QUEUE_DEPTH);
        *unrecorded = left;
    }

    /// Delivers due alerts when told of new ones and every `every`, until `shutdown`.
    async fn send_alerts(
        self: Arc<Self>,
        due: Arc<Notify>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = due.notified() => {}
                _ = tick.tick() => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.send_due_alerts() => {}
            }
        }
    }

    /// Delivers the alerts due now, each only if this replica claims its attempt: of all the
    /// replicas, one posts an alert at a time, and a failed attempt is retried (by any of
    /// them) when its claim, which grows with every attempt, expires.
    async fn send_due_alerts(&self) {
        let webhook = self.alert_webhook.load_full();
        let Some(webhook) = webhook.as_ref() else {
            return;
        };
        let timeout = self.installed.load().budget_alerts.timeout;
        let now = now_millis();
        let due = match self.store.due_budget_alerts(now, ALERTS_PER_ROUND).await {
            Ok(due) => due,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the budget alerts to deliver");
                return;
            }
        };
        for (alert, attempts) in due {
            let key = alert.dedupe_key();
            let lease = self.alert_backoff.lease(attempts, timeout);
            let until =
                now_millis().saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
            match self
                .store
                .claim_budget_alert(&key, attempts, now, until)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue, // another replica has this attempt
                Err(e) => {
                    tracing::debug!(error = %e, "could not claim a budget alert");
                    return;
                }
            }
            if webhook.send(&alert).await
                && let Err(e) = self.store.budget_alert_delivered(&key).await
            {
                tracing::warn!(error = %e, "could not record a budget alert delivery");
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

/// The outcome of inspecting a JSON value in place.
#[derive(Debug, Clone)]
pub struct JsonInspection {
    /// Why the value must not be forwarded, when it must not.
    pub blocked: Option<String>,
    /// Whether some string was redacted or replaced.
    pub changed: bool,
    /// What the built-in rules found, each with the JSON pointer of its string.
    pub findings: Vec<JsonFinding>,
}

/// Every string value in `value`, in document order.
fn strings_mut(value: &mut serde_json::Value) -> Vec<&mut String> {
    use serde_json::Value;
    let mut found = Vec::new();
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) => found.push(text),
            Value::Array(items) => pending.extend(items.iter_mut().rev()),
            Value::Object(map) => pending.extend(map.values_mut().rev()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    found
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

    use agenthub_policy::limits::Usd;
    use agenthub_policy::when::Plane;
    use agenthub_policy::{Identity, SubjectKind};
    use tokio::time::Instant;

    use super::*;
    use crate::store::testing;

    /// A webhook receiver on loopback recording every POST as it arrives.
    #[derive(Clone)]
    struct Receiver {
        url: String,
        posts: Arc<std::sync::Mutex<Vec<(Instant, serde_json::Value)>>>,
    }

    impl Receiver {
        fn count(&self) -> usize {
            self.posts.lock().unwrap().len()
        }

        fn bodies(&self) -> Vec<serde_json::Value> {
            self.posts
                .lock()
                .unwrap()
                .iter()
                .map(|(_, b)| b.clone())
                .collect()
        }

        fn arrivals(&self) -> Vec<Instant> {
            self.posts
                .lock()
                .unwrap()
                .iter()
                .map(|(at, _)| *at)
                .collect()
        }
    }

    /// A receiver answering each POST after `delay`: 500 to the first `failures`, 200 after.
    async fn receiver_with(delay: Duration, failures: usize) -> Receiver {
        let posts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = posts.clone();
        let app = axum::Router::new().route(
            "/alerts",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let seen = seen.clone();
                async move {
                    let n = {
                        let mut posts = seen.lock().unwrap();
                        posts.push((Instant::now(), body));
                        posts.len()
                    };
                    tokio::time::sleep(delay).await;
                    if n <= failures {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/alerts", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, posts }
    }

    async fn receiver() -> Receiver {
        receiver_with(Duration::ZERO, 0).await
    }

    fn alice() -> Identity {
        Identity {
            principal_id: Some("p1".into()),
            key_id: Some("k1".into()),
            ..Identity::named(SubjectKind::User, "alice")
        }
    }

    fn cost(cents: u64) -> Usage {
        Usage {
            tokens: 10,
            cost: Usd::from_cents(cents),
        }
    }

    /// Alice spends `cents` on a model call.
    fn spend(governance: &Governance, cents: u64) {
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
        let admission = governance.admit(&facts, cost(cents)).unwrap();
        governance.settle(admission, cost(cents));
    }

    fn config(yaml: &str) -> HubConfig {
        HubConfig::parse(yaml, "hub.yaml", &|_| None).unwrap()
    }

    /// A daily budget of $1.00 per user alerting at `thresholds`, and the alert webhook.
    fn budget_config(thresholds: &str, webhook: Option<&str>, timeout: &str) -> HubConfig {
        let webhook = webhook.map_or_else(String::new, |url| format!("  webhook: {url}\n"));
        config(&format!(
            "budgets:\n  - {{id: daily, applies_per: user, cost_per_day: 1.00, alert_thresholds: [{thresholds}]}}\nbudget_alerts:\n{webhook}  timeout: {timeout}\n"
        ))
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

    /// A governance with its background tasks running every `tick`.
    struct Running {
        governance: Arc<Governance>,
        stop: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    impl Running {
        fn start(governance: Governance, tick: Duration) -> Self {
            let governance = Arc::new(governance);
            let stop = CancellationToken::new();
            let task = tokio::spawn(governance.clone().run_background(tick, stop.clone()));
            Self {
                governance,
                stop,
                task,
            }
        }

        async fn stop(self) {
            self.stop.cancel();
            tokio::time::timeout(Duration::from_secs(10), self.task)
                .await
                .expect("the background tasks stop")
                .unwrap();
        }
    }

    /// Alice's stored spend of the daily budget by `replica`, in micro-dollars.
    async fn stored_spend(store: &Store, replica: &str) -> Option<u64> {
        let rows = store.load_budget_usage(now()).await.unwrap();
        rows.iter()
            .find(|r| r.rule_id == "daily" && r.replica == replica)
            .map(|r| r.spent)
    }

    /// Budgets survive a restart without resetting or double-counting, and an alert is
    /// delivered once per threshold, whichever replica process starts later.
    #[tokio::test]
    async fn budgets_persist_and_alert_once() {
        for t in testing::all().await {
            let hook = receiver().await;
            let config = ConfigHandle::new(budget_config("50, 100", Some(&hook.url), "5s"));

            let first = Governance::load(t.store.clone(), config.clone(), "replica-1")
                .await
                .unwrap();
            let first = Running::start(first, Duration::from_millis(100));
            spend(&first.governance, 60);
            eventually("the 50% alert", || hook.count() == 1).await;
            spend(&first.governance, 10);
            first.stop().await;
            assert_eq!(hook.count(), 1, "{}: one threshold, one alert", t.name);
            assert_eq!(hook.bodies()[0]["budget"], "daily");
            assert_eq!(hook.bodies()[0]["threshold_percent"], 50);

            // A new process: $0.70 is already spent today, so $0.40 more is refused.
            let second = Governance::load(t.store.clone(), config.clone(), "replica-2")
                .await
                .unwrap();
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
            let refused = second.admit(&facts, cost(40)).unwrap_err();
            assert_eq!(
                refused.quota.remaining, 300_000,
                "{}: restored, not reset or doubled",
                t.name
            );
            let second = Running::start(second, Duration::from_millis(100));
            spend(&second.governance, 10);
            tokio::time::sleep(Duration::from_millis(400)).await;
            second.stop().await;
            assert_eq!(
                hook.count(),
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
        governance
            .put_rule(
                RuleKind::RateLimit,
                "rpm",
                rpm("rpm"),
                "user:admin",
                RuleWrite::Create,
            )
            .await
            .unwrap();

        let reloaded = Governance::load(t.store.clone(), config, "r")
            .await
            .unwrap();
        assert!(
            !admits_twice(&reloaded),
            "the stored rate limit applies after a reload"
        );
        reloaded
            .delete_rule(RuleKind::RateLimit, "rpm")
            .await
            .unwrap();
        assert!(admits_twice(&reloaded));
    }

    /// A JSON value is inspected in place: the built-in rules redact every string, keys too,
    /// or block it; then the external guardrail is asked about each string value. Rules for
    /// other tools leave it alone.
    #[tokio::test]
    async fn json_values_are_inspected_in_place_by_both_kinds_of_guardrail() {
        use serde_json::json;
        let app = axum::Router::new().route(
            "/check",
            axum::routing::post(
                |axum::Json(body): axum::Json<serde_json::Value>| async move {
                    let text = body["text"].as_str().unwrap_or_default();
                    axum::Json(if text.starts_with("replace") {
                        json!({"action": "replace", "text": "[clean]"})
                    } else if text.starts_with("deny") {
                        json!({"action": "deny", "reason": "nope"})
                    } else {
                        json!({"action": "allow"})
                    })
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/check", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let t = testing::sqlite().await;
        let yaml = format!(
            "guardrails:\n  - {{id: birds, type: banned_terms, terms: [bluebird], action: redact, when: {{tools: [\"ev/*\"]}}}}\n  - {{id: stop, type: banned_terms, terms: [falcon], action: block, stage: input, when: {{tools: [\"ev/*\"]}}}}\nguardrail_webhook:\n  url: {url}\n  timeout: 2s\n  when: {{tools: [\"ev/*\"]}}\n"
        );
        let governance = Governance::load(t.store.clone(), ConfigHandle::new(config(&yaml)), "r")
            .await
            .unwrap();
        let identity = alice();
        let metadata = BTreeMap::new();
        let facts = |tool| RequestFacts {
            identity: &identity,
            plane: Plane::Mcp,
            model: None,
            tool: Some(tool),
            agent: None,
            metadata: &metadata,
        };

        let mut value = json!({"bluebird": ["a bluebird", {"x": "replace me"}], "n": 1});
        let found = governance
            .inspect_json(&mut value, Stage::Input, &facts("ev/echo"))
            .await;
        assert!(found.blocked.is_none() && found.changed, "{found:?}");
        assert_eq!(
            value,
            json!({"[REDACTED:BANNED_TERM]": ["a [REDACTED:BANNED_TERM]", {"x": "[clean]"}], "n": 1})
        );
        assert_eq!(found.findings.len(), 2, "{found:?}");

        for (mut value, reason) in [
            (json!({"a": ["ok", "the falcon flies"]}), "banned term"),
            (json!({"a": "ok", "b": "deny this"}), "nope"),
        ] {
            let found = governance
                .inspect_json(&mut value, Stage::Input, &facts("ev/echo"))
                .await;
            let blocked = found.blocked.unwrap_or_default();
            assert!(blocked.contains(reason), "{blocked}");
        }
        // The falcon rule inspects input only; no rule applies to other servers' tools.
        let mut value = json!({"a": "the falcon flies"});
        let found = governance
            .inspect_json(&mut value, Stage::Output, &facts("ev/echo"))
            .await;
        assert!(found.blocked.is_none() && !found.changed);
        let mut value = json!({"a": "a bluebird, deny, replace"});
        let found = governance
            .inspect_json(&mut value, Stage::Input, &facts("jira/x"))
            .await;
        assert!(found.blocked.is_none() && !found.changed);
        assert!(!governance.inspects(Stage::Input, &facts("jira/x")));
    }

    /// One request a minute per user.
    fn rpm(id: &str) -> serde_json::Value {
        serde_json::json!({"id": id, "limit_to": 1, "unit": "requests_per_minute", "applies_per": "user"})
    }

    /// Whether alice may make two tool calls in a row (no one-a-minute rate limit applies).
    fn admits_twice(governance: &Governance) -> bool {
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
        let free = cost(0);
        let Ok(first) = governance.admit(&facts, free) else {
            return false;
        };
        governance.settle(first, free);
        match governance.admit(&facts, free) {
            Ok(second) => {
                governance.settle(second, free);
                true
            }
            Err(_) => false,
        }
    }

    /// A configuration edit that conflicts with a stored rule (here: a rate limit with the id
    /// of a stored one) is rejected whole, and the configuration in force keeps serving.
    #[tokio::test]
    async fn a_configuration_conflicting_with_stored_rules_is_rejected_whole() {
        let t = testing::sqlite().await;
        let handle = ConfigHandle::new(HubConfig::default());
        let governance = Governance::load(t.store.clone(), handle.clone(), "r")
            .await
            .unwrap();
        governance
            .put_rule(
                RuleKind::RateLimit,
                "rpm",
                rpm("rpm"),
                "user:admin",
                RuleWrite::Create,
            )
            .await
            .unwrap();

        let conflicting = config(
            "logging:\n  level: debug\nrate_limits:\n  - {id: rpm, limit_to: 100, unit: requests_per_minute}\n",
        );
        assert!(governance.check_config(&conflicting).is_err());
        governance.apply_config(Ok(conflicting), "hub.yaml").await;
        let status = handle.status();
        let rejected = status.rejected.as_ref().expect("the edit is rejected");
        assert!(
            rejected
                .errors
                .iter()
                .any(|e| e.path == "rate_limits[stored:rpm].id"
                    && e.message.contains("duplicate id")),
            "{rejected}"
        );
        assert!(rejected.source_name.starts_with("hub.yaml"), "{rejected}");
        let serving = handle.snapshot();
        assert_eq!(serving.logging.level, "info", "nothing of the edit applies");
        assert!(serving.rate_limits.is_empty());
        assert!(!admits_twice(&governance), "the stored rule stays in force");

        // An edit that compiles with the stored rules is accepted and clears the rejection.
        governance
            .apply_config(
                Ok(config(
                    "logging:\n  level: debug\nrate_limits:\n  - {id: other, limit_to: 100, unit: requests_per_minute}\n",
                )),
                "hub.yaml",
            )
            .await;
        assert!(handle.status().rejected.is_none());
        assert_eq!(handle.snapshot().logging.level, "debug");
        let ids: Vec<String> = governance
            .limits()
            .status(&alice(), None, now())
            .into_iter()
            .map(|s| s.rule_id)
            .collect();
        assert!(
            ids.contains(&"other".to_owned()) && ids.contains(&"rpm".to_owned()),
            "{ids:?}"
        );
    }

    /// Problems of the merged rule set are named as the file's author knows them.
    #[test]
    fn problem_paths_name_the_file_or_the_stored_rule() {
        let config = config(
            "policies:\n  - {subject: user:a, resource: \"model:*\", action: invoke}\nrate_limits:\n  - {id: x, limit_to: 1, unit: requests_per_minute}\n",
        );
        let stored = |kind: &str, id: &str| StoredRule {
            kind: kind.into(),
            id: id.into(),
            body: serde_json::json!({}),
            created_by: None,
            created_at: 0,
            updated_at: 0,
        };
        let stored = [
            stored("policy", "p1"),
            stored("rate_limit", "r1"),
            stored("rate_limit", "r2"),
        ];
        let starter = starter_policy().policies.len();
        assert_eq!(
            locate(&format!("policies[{starter}].action"), &config, &stored),
            "policies[0].action"
        );
        assert_eq!(
            locate(
                &format!("policies[{}].action", starter + 1),
                &config,
                &stored
            ),
            "policies[stored:p1].action"
        );
        assert_eq!(
            locate("policies[0].subject", &config, &stored),
            "authorization.starter_policy"
        );
        assert_eq!(
            locate("rate_limits[0].id", &config, &stored),
            "rate_limits[0].id"
        );
        assert_eq!(
            locate("rate_limits[2].id", &config, &stored),
            "rate_limits[stored:r2].id"
        );
        assert_eq!(
            locate("rate_limits[9].id", &config, &stored),
            "rate_limits[9].id"
        );
        assert_eq!(
            locate("guardrail_webhook", &config, &stored),
            "guardrail_webhook"
        );
    }

    /// A rule change is acknowledged only if the rule set it leaves is installed: when the
    /// rules in force conflict with the configuration (changed elsewhere), a deletion that
    /// does not resolve the conflict fails and leaves the store as it was.
    #[tokio::test]
    async fn rule_changes_fail_unless_the_resulting_rules_install() {
        let t = testing::sqlite().await;
        let handle = ConfigHandle::new(HubConfig::default());
        let governance = Governance::load(t.store.clone(), handle.clone(), "r")
            .await
            .unwrap();
        for id in ["a", "b"] {
            governance
                .put_rule(
                    RuleKind::RateLimit,
                    id,
                    rpm(id),
                    "user:admin",
                    RuleWrite::Create,
                )
                .await
                .unwrap();
        }
        // The configuration changed without the governance check (as a replica's may have).
        handle.apply(Ok(config(
            "rate_limits:\n  - {id: a, limit_to: 100, unit: requests_per_minute}\n",
        )));

        let err = governance
            .delete_rule(RuleKind::RateLimit, "b")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), agenthub_policy::ErrorKind::Conflict, "{err}");
        assert!(err.message().contains("duplicate id"), "{err}");
        let stored = t.store.load_rules().await.unwrap();
        assert_eq!(stored.len(), 2, "nothing was deleted");
        assert_eq!(governance.stored_rules().len(), 2);

        let err = governance
            .put_rule(
                RuleKind::RateLimit,
                "c",
                rpm("c"),
                "user:admin",
                RuleWrite::Create,
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            agenthub_policy::ErrorKind::InvalidRequest,
            "{err}"
        );
        assert_eq!(
            t.store.load_rules().await.unwrap().len(),
            2,
            "nothing was stored"
        );

        // Deleting the conflicting rule resolves it: the configuration's rule is in force.
        governance
            .delete_rule(RuleKind::RateLimit, "a")
            .await
            .unwrap();
        assert_eq!(t.store.load_rules().await.unwrap().len(), 1);
        let a = governance
            .limits()
            .status(&alice(), None, now())
            .into_iter()
            .find(|s| s.rule_id == "a")
            .expect("the configuration's rate limit a");
        assert_eq!(a.limit, 100);
    }

    /// Rules are kept in the store's order (kind, then id) whatever order they were written
    /// in, so a refresh that finds nothing changed reinstalls nothing.
    #[tokio::test]
    async fn stored_rules_keep_one_order_and_refresh_reinstalls_nothing() {
        let t = testing::sqlite().await;
        let governance = Governance::load(
            t.store.clone(),
            ConfigHandle::new(HubConfig::default()),
            "r",
        )
        .await
        .unwrap();
        for id in ["b", "a", "c"] {
            governance
                .put_rule(
                    RuleKind::RateLimit,
                    id,
                    rpm(id),
                    "user:admin",
                    RuleWrite::Create,
                )
                .await
                .unwrap();
        }
        let policy =
            serde_json::json!({"subject": "user:alice", "resource": "model:*", "action": "invoke"});
        governance
            .put_rule(
                RuleKind::Policy,
                "p",
                policy,
                "user:admin",
                RuleWrite::Create,
            )
            .await
            .unwrap();
        let order: Vec<(String, String)> = governance
            .stored_rules()
            .iter()
            .map(|r| (r.kind.clone(), r.id.clone()))
            .collect();
        let from_store: Vec<(String, String)> = t
            .store
            .load_rules()
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.kind, r.id))
            .collect();
        assert_eq!(order, from_store);
        let limits = governance.limits();
        let authorizer = governance.authorizer();
        governance.refresh().await.unwrap();
        assert!(
            Arc::ptr_eq(&limits, &governance.limits())
                && Arc::ptr_eq(&authorizer, &governance.authorizer()),
            "nothing changed: nothing reinstalled"
        );
    }

    /// Two replicas never post one alert at the same time: the replica that raised it claims
    /// the attempt, and the other's retry round finds nothing due while it is in flight.
    #[tokio::test]
    async fn one_replica_posts_an_alert_while_another_retries() {
        for t in testing::all().await {
            let hook = receiver_with(Duration::from_millis(1500), 0).await;
            let config = ConfigHandle::new(budget_config("50", Some(&hook.url), "5s"));
            let tick = Duration::from_millis(50);
            let one = Running::start(
                Governance::load(t.store.clone(), config.clone(), "r1")
                    .await
                    .unwrap(),
                tick,
            );
            let two = Running::start(
                Governance::load(t.store.clone(), config.clone(), "r2")
                    .await
                    .unwrap(),
                tick,
            );
            spend(&one.governance, 60);
            eventually("the alert", || hook.count() == 1).await;
            // The post takes 1.5 s; the other replica retries every 50 ms meanwhile.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            assert_eq!(hook.count(), 1, "{}: posted once", t.name);
            assert!(
                t.store
                    .due_budget_alerts(now_millis() + 3_600_000, 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "{}: delivered",
                t.name
            );
            one.stop().await;
            two.stop().await;
            t.cleanup().await;
        }
    }

    /// A failed delivery is retried after a backoff kept in the store: whichever replica
    /// retries, attempts are spaced by the backoff, and each is made once.
    #[tokio::test]
    async fn failed_alerts_are_retried_with_a_shared_backoff() {
        for t in testing::all().await {
            let hook = receiver_with(Duration::ZERO, 2).await;
            // Claims last at least timeout + first backoff: 600 ms here.
            let config = ConfigHandle::new(budget_config("50", Some(&hook.url), "500ms"));
            let tick = Duration::from_millis(20);
            let load = |replica: &'static str| {
                let (store, config) = (t.store.clone(), config.clone());
                async move {
                    Governance::load(store, config, replica)
                        .await
                        .unwrap()
                        .with_alert_backoff(Duration::from_millis(100))
                }
            };
            let one = Running::start(load("r1").await, tick);
            let two = Running::start(load("r2").await, tick);
            spend(&one.governance, 60);
            eventually("three attempts", || hook.count() == 3).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert_eq!(hook.count(), 3, "{}: two failures, one success", t.name);
            let at = hook.arrivals();
            for pair in at.windows(2) {
                assert!(
                    // Less some slack for when each post arrives after its claim.
                    pair[1] - pair[0] >= Duration::from_millis(400),
                    "{}: retried after {:?}, before the backoff ended",
                    t.name,
                    pair[1] - pair[0]
                );
            }
            one.stop().await;
            two.stop().await;
            t.cleanup().await;
        }
    }

    /// Usage whose batch was dropped from a full queue is stored by the writer's next tick.
    #[tokio::test]
    async fn usage_dropped_from_a_full_queue_is_stored_at_the_next_tick() {
        let t = testing::sqlite().await;
        let config = ConfigHandle::new(config(
            "budgets:\n  - {id: daily, applies_per: user, cost_per_day: 1000.00}\n",
        ));
        let governance = Governance::load(t.store.clone(), config, "r")
            .await
            .unwrap();
        // Before the writer runs: the queue takes QUEUE_DEPTH batches; the rest are dropped.
        let calls = QUEUE_DEPTH as u64 + 100;
        for _ in 0..calls {
            spend(&governance, 1);
        }
        let running = Running::start(governance, Duration::from_millis(100));
        let total = Usd::from_cents(calls).micros();
        let store = t.store.clone();
        let mut stored = None;
        for _ in 0..100 {
            stored = stored_spend(&store, "r").await;
            if stored == Some(total) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            stored,
            Some(total),
            "the whole spend is stored while running"
        );
        running.stop().await;
    }

    /// A webhook that takes long to answer delays only alerts: usage keeps being stored.
    #[tokio::test]
    async fn a_slow_alert_webhook_does_not_stall_the_usage_writer() {
        let t = testing::sqlite().await;
        let hook = receiver_with(Duration::from_secs(30), 0).await;
        let config = ConfigHandle::new(budget_config("10", Some(&hook.url), "60s"));
        let governance = Governance::load(t.store.clone(), config, "r")
            .await
            .unwrap();
        let running = Running::start(governance, Duration::from_millis(50));
        spend(&running.governance, 20);
        eventually("the alert's post", || hook.count() == 1).await;
        spend(&running.governance, 5);
        let store = t.store.clone();
        let mut stored = None;
        for _ in 0..60 {
            stored = stored_spend(&store, "r").await;
            if stored == Some(Usd::from_cents(25).micros()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            stored,
            Some(Usd::from_cents(25).micros()),
            "usage is stored while the webhook hangs"
        );
        // Stopping does not wait for the hanging post either.
        let stopping = Instant::now();
        running.stop().await;
        assert!(stopping.elapsed() < Duration::from_secs(5));
    }

    /// Usage rows of past periods are deleted by the writer, and never read.
    #[tokio::test]
    async fn usage_of_past_periods_is_deleted() {
        let t = testing::sqlite().await;
        let config = ConfigHandle::new(budget_config("50", None, "5s"));
        let old = BudgetUsage {
            rule_id: "daily".into(),
            subject: "user:alice".into(),
            period: "2020-01-01".parse().unwrap(),
            measure: agenthub_policy::limits::Measure::Cost,
            replica: "r".into(),
            spent: 1,
            alerts_fired: vec![],
            version: 1,
        };
        t.store.save_budget_usage(&[old]).await.unwrap();
        let governance = Governance::load(t.store.clone(), config, "r")
            .await
            .unwrap();
        let running = Running::start(governance, Duration::from_millis(50));
        tokio::time::sleep(Duration::from_millis(300)).await;
        running.stop().await;
        // A prune that keeps only the periods of 1970 finds nothing left to delete.
        let left = t
            .store
            .prune_budget_usage(Timestamp::from_unix_millis(0))
            .await
            .unwrap();
        assert_eq!(left, 0, "the 2020 row was deleted by the writer");
    }

    /// A new budget alert webhook in the configuration is used without a restart.
    #[tokio::test]
    async fn the_alert_webhook_follows_the_configuration() {
        let t = testing::sqlite().await;
        let hook = receiver().await;
        let handle = ConfigHandle::new(budget_config("50", None, "5s"));
        let governance = Governance::load(t.store.clone(), handle.clone(), "r")
            .await
            .unwrap();
        let running = Running::start(governance, Duration::from_millis(50));
        running
            .governance
            .apply_config(Ok(budget_config("50", Some(&hook.url), "5s")), "hub.yaml")
            .await;
        assert!(handle.status().rejected.is_none());
        spend(&running.governance, 60);
        eventually("the alert at the new webhook", || hook.count() == 1).await;
        running.stop().await;
    }
}
