//! The governance sections of the configuration: authorization policies and roles, rate limits,
//! budgets and their alerts. The rule types themselves are the policy crate's; this file only
//! adds the hub's own settings and checks everything with the crate's validators.

use std::time::Duration;

use agenthub_policy::authz::PolicySet;
use agenthub_policy::limits::LimitsConfig;
use serde::Deserialize;

use super::{ConfigError, HubConfig};

/// Authorization settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// Include the documented starter policy (hub admins may do everything, team members use
    /// models, tools and agents within their team, everyone may list them) before the
    /// `policies` and `roles` of this file and of the admin API. Set to `false` to write every
    /// grant yourself.
    pub starter_policy: bool,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            starter_policy: true,
        }
    }
}

/// Where budget alerts go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetAlertsConfig {
    /// URL that receives a JSON POST for each threshold a budget crosses, once per budget,
    /// subject, period and threshold. Absent: alerts are only logged.
    pub webhook: Option<String>,
    /// How long one delivery may take; failed deliveries are retried with backoff.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for BudgetAlertsConfig {
    fn default() -> Self {
        Self {
            webhook: None,
            timeout: Duration::from_secs(5),
        }
    }
}

/// An external guardrail service consulted after the built-in guardrails.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailWebhookConfig {
    /// URL receiving a JSON POST per inspected text; it answers `{"action": "allow"}`,
    /// `{"action": "deny", "reason": …}` or `{"action": "replace", "text": …}`.
    pub url: String,
    /// How long to wait for the answer.
    #[serde(with = "humantime_serde", default = "default_guardrail_timeout")]
    pub timeout: Duration,
    /// What a timeout, an error or an unreadable answer means: `open` lets the text through,
    /// `closed` (default) refuses it. Either way the failure is counted.
    #[serde(default)]
    pub on_failure: FailMode,
    /// Which stages to send: `input`, `output` or `both` (default).
    #[serde(default)]
    pub stage: agenthub_policy::guardrails::Stages,
    /// Only texts of requests matching this condition are sent.
    #[serde(default)]
    pub when: agenthub_policy::when::When,
}

fn default_guardrail_timeout() -> Duration {
    Duration::from_secs(2)
}

/// What an unavailable external guardrail means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Let the text through.
    Open,
    /// Refuse the text.
    #[default]
    Closed,
}

/// The governance rules of one configuration.
pub fn policy_set(config: &HubConfig) -> PolicySet {
    PolicySet {
        policies: config.policies.clone(),
        roles: config.roles.clone(),
    }
}

pub fn limits_config(config: &HubConfig) -> LimitsConfig {
    LimitsConfig {
        rate_limits: config.rate_limits.clone(),
        budgets: config.budgets.clone(),
    }
}

pub(super) fn check(config: &HubConfig, errors: &mut Vec<ConfigError>) {
    for problem in policy_set(config).validate() {
        errors.push(ConfigError::new(problem.path, problem.message));
    }
    if let Err(problems) = limits_config(config).validate() {
        errors.extend(
            problems
                .into_iter()
                .map(|p| ConfigError::new(p.path, p.message)),
        );
    }
    errors.extend(
        agenthub_policy::guardrails::validate_rules(&config.guardrails, "guardrails")
            .into_iter()
            .map(|(path, message)| ConfigError::new(path, message)),
    );
    if let Some(webhook) = &config.guardrail_webhook {
        if !(webhook.url.starts_with("http://") || webhook.url.starts_with("https://")) {
            errors.push(ConfigError::new(
                "guardrail_webhook.url",
                format!("\"{}\" is not an http(s) URL", webhook.url),
            ));
        }
        if webhook.timeout.is_zero() {
            errors.push(ConfigError::new(
                "guardrail_webhook.timeout",
                "must be more than 0s",
            ));
        }
        for (path, message) in webhook.when.validate() {
            errors.push(ConfigError::new(
                format!("guardrail_webhook.when.{path}"),
                message,
            ));
        }
    }
    if let Some(url) = &config.budget_alerts.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        errors.push(ConfigError::new(
            "budget_alerts.webhook",
            format!("\"{url}\" is not an http(s) URL"),
        ));
    }
}
