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
    if let Some(url) = &config.budget_alerts.webhook
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        errors.push(ConfigError::new(
            "budget_alerts.webhook",
            format!("\"{url}\" is not an http(s) URL"),
        ));
    }
}
