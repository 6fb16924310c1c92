//! Governance rules through the admin API: the rules in force (`/policies`, `/roles`,
//! `/rate-limits`, `/budgets`, `/guardrails`). Usage and the what-if checks are in `checks.rs`.
//!
//! Rules in force come from three places: the starter policy (policies only, unless
//! `authorization.starter_policy: false`), the configuration file, and this API. Every listing
//! shows them all with their `source`; only rules stored through the API can be changed here,
//! the others answer 409.
//!
//! Rule bodies are the configuration file's rule types (unknown fields rejected). A rule is
//! checked alone first, so that its problems name the body's own fields (`param: "unit"`);
//! then with every rule in force, where a conflict (a role cycle, say) is reported at its place
//! in the merged rule set (`param: "roles[4].role"`).

use std::collections::BTreeMap;

use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::{
    AdminArea, Authorizer, PolicyRule, PolicySet, RoleRule, starter_policy,
};
use agenthub_policy::guardrails::{RuleConfig as GuardrailRule, validate_rules};
use agenthub_policy::limits::{BudgetRule, LimitsConfig, RateLimitRule};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, ListQuery, PageOf, from_json, require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::directory::Page;
use crate::error::{Error, Result};
use crate::governance::{RuleKind, RuleWrite};
use crate::model::new_id;
use crate::store::StoredRule;
use agenthub_a2a_bus::config::AgentConfig;
use agenthub_llm_router::config::{
    ModelConfig, ProviderConfig, VirtualModelConfig, check_name, check_provider,
};
use agenthub_mcp_registry::config::McpServerConfig;
use agenthub_mcp_registry::virtual_servers::{McpVirtualServerConfig, check_virtual_server};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, replace_policy, delete_policy))
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, replace_role, delete_role))
        .routes(routes!(list_rate_limits, create_rate_limit))
        .routes(routes!(
            get_rate_limit,
            replace_rate_limit,
            delete_rate_limit
        ))
        .routes(routes!(list_budgets, create_budget))
        .routes(routes!(get_budget, replace_budget, delete_budget))
        .routes(routes!(list_guardrails, create_guardrail))
        .routes(routes!(get_guardrail, replace_guardrail, delete_guardrail))
}

// ---------------------------------------------------------------------------------------------
// Wire types

/// Where a rule in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// The documented starter policy (`authorization.starter_policy`).
    Starter,
    /// The configuration file.
    Config,
    /// Stored through this API.
    Api,
}

impl RuleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starter => "starter",
            Self::Config => "config",
            Self::Api => "api",
        }
    }
}

/// A rule in force: its own fields (as in the configuration file and the request bodies), plus
/// where it comes from.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    /// The rule's id. Rate limits, budgets and guardrails name themselves (`id` in the body).
    /// Policy lines and role assignments stored through the API get a generated id; those of
    /// the starter policy and the configuration file are numbered by their position,
    /// `starter-<n>` and `config-<n>`.
    pub id: String,
    /// `starter`, `config` or `api`. Only `api` rules can be changed through the API.
    pub source: RuleSource,
    /// Who stored the rule (`api` rules), e.g. `user:admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The rule's own fields: see the request body of the collection.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub rule: Map<String, Value>,
}

/// A policy line: `subject` may (or, with `effect: deny`, may not) do `action` on the
/// resources `resource` matches.
#[derive(ToSchema)]
#[schema(as = PolicyRule)]
#[allow(dead_code)]
struct PolicyRuleSchema {
    /// `user:<name>`, `service:<name>`, `agent:<name>`, `team:<name>`, `key:<id>` or
    /// `role:<name>`.
    subject: String,
    /// `model:<name>`, `mcp:<server>/<tool>`, `agent:<name>`, `admin:<area>` or `*`; a trailing
    /// `*` matches any rest.
    resource: String,
    /// `invoke`, `list`, `call`, `send`, `read`, `manage` or `*`.
    action: String,
    /// `allow` (default) or `deny`; a matching deny line overrides every allow.
    effect: Option<String>,
    /// Only within this team.
    team: Option<String>,
}

/// A role assignment: `member` acts as `role`.
#[derive(ToSchema)]
#[schema(as = RoleRule)]
#[allow(dead_code)]
struct RoleRuleSchema {
    /// Any subject, e.g. `user:alice`, `team:ml`, or `role:<name>` for role inheritance.
    member: String,
    /// `role:<name>`.
    role: String,
    /// Only within this team.
    team: Option<String>,
}

/// Which requests a rule applies to; every field given must match.
#[derive(ToSchema)]
#[schema(as = When)]
#[allow(dead_code)]
struct WhenSchema {
    /// Callers: `user:alice`, `service:billing-*`, `team:ml`, `key:<id>`, `role:admin`.
    subjects: Option<Vec<String>>,
    /// Model name patterns, e.g. `gpt-4o*`.
    models: Option<Vec<String>>,
    /// Tools as `server/tool` patterns, e.g. `jira/*`.
    tools: Option<Vec<String>>,
    /// Agent name patterns.
    agents: Option<Vec<String>>,
    /// Client metadata keys and the value patterns they must have.
    metadata: Option<BTreeMap<String, String>>,
}

/// A rate limit: at most `limit_to` requests or tokens in any sliding window of one `unit`.
#[derive(ToSchema)]
#[schema(as = RateLimitRule)]
#[allow(dead_code)]
struct RateLimitRuleSchema {
    /// Unique among rate limits and budgets: letters, digits, `-`, `_` and `.`.
    id: String,
    when: Option<WhenSchema>,
    /// At least 1.
    limit_to: u64,
    /// `requests_per_minute`, `requests_per_hour`, `requests_per_day`, `tokens_per_minute`,
    /// `tokens_per_hour` or `tokens_per_day`.
    unit: String,
    /// A counter per `user`, `team`, `key`, `model` or `metadata.<key>`; absent: one shared.
    applies_per: Option<String>,
}

/// A budget: how much may be spent per calendar period (UTC). Exactly one amount is given.
#[derive(ToSchema)]
#[schema(as = BudgetRule)]
#[allow(dead_code)]
struct BudgetRuleSchema {
    /// Unique among rate limits and budgets: letters, digits, `-`, `_` and `.`.
    id: String,
    when: Option<WhenSchema>,
    /// A budget per `user`, `team`, `key`, `model` or `metadata.<key>`; absent: one shared.
    applies_per: Option<String>,
    /// US dollars (a number, or a decimal string such as `"12.50"`).
    #[schema(value_type = Option<f64>)]
    cost_per_day: Option<String>,
    #[schema(value_type = Option<f64>)]
    cost_per_week: Option<String>,
    #[schema(value_type = Option<f64>)]
    cost_per_month: Option<String>,
    tokens_per_day: Option<u64>,
    tokens_per_month: Option<u64>,
    /// Count and alert, never block.
    audit_mode: Option<bool>,
    /// Percentages (1–100) at which to alert.
    alert_thresholds: Option<Vec<u32>>,
}

/// A guardrail rule.
#[derive(ToSchema)]
#[schema(as = GuardrailRule)]
#[allow(dead_code)]
struct GuardrailRuleSchema {
    /// Unique among guardrails: letters, digits, `-`, `_` and `.`.
    id: String,
    /// `pii`, `secrets`, `prompt_injection`, `banned_terms` or `regex`.
    #[serde(rename = "type")]
    detector: String,
    /// `block`, `redact` or `flag`.
    action: String,
    /// `input`, `output` or `both` (default).
    stage: Option<String>,
    when: Option<WhenSchema>,
    /// `pii`, `secrets`, `prompt_injection`: the kinds to detect (default: all).
    kinds: Option<Vec<String>>,
    /// `banned_terms`: whole words, case-insensitive.
    terms: Option<Vec<String>>,
    /// `regex`: the pattern.
    pattern: Option<String>,
    /// `banned_terms`, `regex`: the placeholder label.
    label: Option<String>,
    /// `prompt_injection`: decode encoded text and scan it again (default true).
    decode: Option<bool>,
    /// Values never reported.
    allow: Option<Vec<String>>,
    /// What a blocked caller is told.
    message: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The rules in force

/// One kind of rule as the API serves it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Collection {
    kind: RuleKind,
    area: AdminArea,
    /// For messages.
    noun: &'static str,
}

const POLICIES: Collection = Collection {
    kind: RuleKind::Policy,
    area: AdminArea::Policies,
    noun: "policy",
};
const ROLES: Collection = Collection {
    kind: RuleKind::Role,
    area: AdminArea::Policies,
    noun: "role assignment",
};
const RATE_LIMITS: Collection = Collection {
    kind: RuleKind::RateLimit,
    area: AdminArea::Limits,
    noun: "rate limit",
};
const BUDGETS: Collection = Collection {
    kind: RuleKind::Budget,
    area: AdminArea::Budgets,
    noun: "budget",
};
const GUARDRAILS: Collection = Collection {
    kind: RuleKind::Guardrail,
    area: AdminArea::Guardrails,
    noun: "guardrail",
};
pub(super) const PROVIDERS: Collection = Collection {
    kind: RuleKind::Provider,
    area: AdminArea::Models,
    noun: "provider",
};
pub(super) const MODELS: Collection = Collection {
    kind: RuleKind::Model,
    area: AdminArea::Models,
    noun: "model",
};
pub(super) const VIRTUAL_MODELS: Collection = Collection {
    kind: RuleKind::VirtualModel,
    area: AdminArea::Models,
    noun: "virtual model",
};
pub(super) const MCP_SERVERS: Collection = Collection {
    kind: RuleKind::McpServer,
    area: AdminArea::Tools,
    noun: "MCP server",
};
pub(super) const MCP_VIRTUAL_SERVERS: Collection = Collection {
    kind: RuleKind::McpVirtualServer,
    area: AdminArea::Tools,
    noun: "virtual MCP server",
};
pub(super) const AGENTS: Collection = Collection {
    kind: RuleKind::Agent,
    area: AdminArea::Agents,
    noun: "agent",
};

/// The body field holding a rule's own id, for kinds that name themselves.
fn id_field(kind: RuleKind) -> Option<&'static str> {
    match kind {
        RuleKind::RateLimit | RuleKind::Budget | RuleKind::Guardrail => Some("id"),
        RuleKind::Provider
        | RuleKind::Model
        | RuleKind::VirtualModel
        | RuleKind::McpServer
        | RuleKind::McpVirtualServer
        | RuleKind::Agent => Some("name"),
        RuleKind::Policy | RuleKind::Role => None,
    }
}

/// Credentials are shown only as `secret:NAME` references; literal values (from the
/// configuration's environment variables) are masked: a provider's keys, an MCP server's
/// bearer token and the headers and environment variables whose names say they hold one.
pub(super) fn mask_credentials(rule: &mut Map<String, Value>) {
    let mask = |value: &mut Value| {
        if let Value::String(text) = value
            && !text.starts_with("secret:")
        {
            *value = Value::String("<redacted>".into());
        }
    };
    for field in ["api_key", "bearer_token"] {
        if let Some(key) = rule.get_mut(field) {
            mask(key);
        }
    }
    if let Some(Value::Object(aws)) = rule.get_mut("aws") {
        aws.values_mut().for_each(mask);
    }
    if let Some(secret) = rule
        .get_mut("oauth")
        .and_then(Value::as_object_mut)
        .and_then(|oauth| oauth.get_mut("client_secret"))
    {
        mask(secret);
    }
    for field in ["headers", "env"] {
        if let Some(Value::Object(values)) = rule.get_mut(field) {
            values
                .iter_mut()
                .filter(|(name, _)| agenthub_mcp_registry::config::names_a_credential(name))
                .for_each(|(_, value)| mask(value));
        }
    }
}

/// A rule in force and where it comes from.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) source: RuleSource,
    /// Its place in the configuration file, e.g. `policies[3]` (configuration rules).
    config_path: Option<String>,
    /// The stored row (API rules).
    stored: Option<StoredRule>,
    rule: Value,
}

impl Entry {
    pub(super) fn view(self) -> RuleView {
        let mut rule = match self.rule {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        // The rule's own id is the view's id.
        rule.remove("id");
        mask_credentials(&mut rule);
        let stored = self.stored;
        RuleView {
            id: self.id,
            source: self.source,
            created_by: stored.as_ref().and_then(|s| s.created_by.clone()),
            created_at: stored.as_ref().map(|s| timestamp(s.created_at)),
            updated_at: stored.as_ref().map(|s| timestamp(s.updated_at)),
            rule,
        }
    }
}

fn to_json(rule: &impl Serialize) -> Value {
    serde_json::to_value(rule).unwrap_or(Value::Null)
}

/// The stored rules of `kind`, each parsed, in the order they were compiled.
fn stored_of<T: DeserializeOwned>(state: &AppState, kind: RuleKind) -> Vec<(T, StoredRule)> {
    state
        .governance
        .stored_rules()
        .iter()
        .filter(|r| r.kind == kind.as_str())
        .filter_map(|r| {
            serde_json::from_value(r.body.clone())
                .ok()
                .map(|rule| (rule, r.clone()))
        })
        .collect()
}

fn api_entry(rule: Value, stored: StoredRule) -> Entry {
    Entry {
        id: stored.id.clone(),
        source: RuleSource::Api,
        config_path: None,
        stored: Some(stored),
        rule,
    }
}

/// Where each line of a compiled list comes from: the starter lines first (when they lead the
/// list), the stored ones last, the configuration's in between. The compiled list and the
/// stored rules are swapped separately; should they disagree for a moment, stored lines are
/// matched by content.
fn attribute<T: PartialEq + Serialize>(
    section: &str,
    in_force: &[T],
    starter: &[T],
    stored: Vec<(T, StoredRule)>,
) -> Vec<Entry> {
    let mut out = Vec::with_capacity(in_force.len());
    let n_starter = if in_force.starts_with(starter) {
        starter.len()
    } else {
        0
    };
    for (i, rule) in in_force[..n_starter].iter().enumerate() {
        out.push(Entry {
            id: format!("starter-{i}"),
            source: RuleSource::Starter,
            config_path: None,
            stored: None,
            rule: to_json(rule),
        });
    }
    let rest = &in_force[n_starter..];
    let is_suffix = rest.len() >= stored.len()
        && rest[rest.len() - stored.len()..]
            .iter()
            .zip(&stored)
            .all(|(a, (b, _))| a == b);
    let n_config = rest.len() - stored.len().min(rest.len());
    let mut stored = stored.into_iter().peekable();
    let mut config = 0;
    for (i, rule) in rest.iter().enumerate() {
        let from_store = if is_suffix {
            i >= n_config
        } else {
            stored.peek().is_some_and(|(s, _)| s == rule)
        };
        match stored.next_if(|_| from_store) {
            Some((_, row)) => out.push(api_entry(to_json(rule), row)),
            None => {
                out.push(Entry {
                    id: format!("config-{config}"),
                    source: RuleSource::Config,
                    config_path: Some(format!("{section}[{config}]")),
                    stored: None,
                    rule: to_json(rule),
                });
                config += 1;
            }
        }
    }
    out
}

/// Rules that name themselves: the configuration's, then the stored ones.
fn named<T: Serialize>(
    section: &str,
    config: &[T],
    id: impl Fn(&T) -> &str,
    stored: Vec<(T, StoredRule)>,
) -> Vec<Entry> {
    let mut out: Vec<Entry> = config
        .iter()
        .enumerate()
        .map(|(i, rule)| Entry {
            id: id(rule).to_owned(),
            source: RuleSource::Config,
            config_path: Some(format!("{section}[{i}]")),
            stored: None,
            rule: to_json(rule),
        })
        .collect();
    out.extend(
        stored
            .into_iter()
            .map(|(rule, row)| api_entry(to_json(&rule), row)),
    );
    out
}

/// The policy lines of `authorizer`, in its order (the indices of its decisions).
pub(super) fn policy_entries(state: &AppState, authorizer: &Authorizer) -> Vec<Entry> {
    let config = state.config.snapshot();
    let starter = if config.authorization.starter_policy {
        starter_policy().policies
    } else {
        Vec::new()
    };
    attribute(
        "policies",
        &authorizer.policy_set().policies,
        &starter,
        stored_of::<PolicyRule>(state, RuleKind::Policy),
    )
}

/// Every rule of a collection in force, in the order they apply.
fn entries(state: &AppState, c: Collection) -> Vec<Entry> {
    let config = state.config.snapshot();
    match c.kind {
        RuleKind::Policy => policy_entries(state, &state.governance.authorizer()),
        RuleKind::Role => {
            let starter = if config.authorization.starter_policy {
                starter_policy().roles
            } else {
                Vec::new()
            };
            attribute(
                "roles",
                &state.governance.authorizer().policy_set().roles,
                &starter,
                stored_of::<RoleRule>(state, RuleKind::Role),
            )
        }
        RuleKind::RateLimit => named(
            "rate_limits",
            &config.rate_limits,
            |r| &r.id,
            stored_of(state, RuleKind::RateLimit),
        ),
        RuleKind::Budget => named(
            "budgets",
            &config.budgets,
            |r| &r.id,
            stored_of(state, RuleKind::Budget),
        ),
        RuleKind::Guardrail => named(
            "guardrails",
            &config.guardrails,
            |r| &r.id,
            stored_of(state, RuleKind::Guardrail),
        ),
        RuleKind::Provider => named(
            "providers",
            &config.providers,
            |r| &r.name,
            stored_of(state, RuleKind::Provider),
        ),
        RuleKind::Model => named(
            "models",
            &config.models,
            |r| &r.name,
            stored_of(state, RuleKind::Model),
        ),
        RuleKind::VirtualModel => named(
            "virtual_models",
            &config.virtual_models,
            |r| &r.name,
            stored_of(state, RuleKind::VirtualModel),
        ),
        RuleKind::McpServer => named(
            "mcp_servers",
            &config.mcp_servers,
            |r| &r.name,
            stored_of(state, RuleKind::McpServer),
        ),
        RuleKind::McpVirtualServer => named(
            "mcp_virtual_servers",
            &config.mcp_virtual_servers,
            |r| &r.name,
            stored_of(state, RuleKind::McpVirtualServer),
        ),
        RuleKind::Agent => named(
            "agents",
            &config.agents,
            |r| &r.name,
            stored_of(state, RuleKind::Agent),
        ),
    }
}

fn find(state: &AppState, c: Collection, id: &str) -> Result<Entry> {
    entries(state, c)
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| Error::not_found(format!("{} \"{id}\"", c.noun)))
}

/// The stored rule `id`, or why it cannot be changed through the API.
pub(super) fn changeable(state: &AppState, c: Collection, id: &str) -> Result<()> {
    let stored = state
        .governance
        .stored_rules()
        .iter()
        .any(|r| r.kind == c.kind.as_str() && r.id == id);
    if stored {
        return Ok(());
    }
    let entry = find(state, c, id)?;
    Err(read_only(c, &entry))
}

fn read_only(c: Collection, entry: &Entry) -> Error {
    match entry.source {
        RuleSource::Starter => Error::conflict(format!(
            "{} \"{}\" is part of the starter policy and cannot be changed through the API; \
             set authorization.starter_policy: false in the configuration file and write your own",
            c.noun, entry.id
        )),
        _ => Error::conflict(format!(
            "{} \"{}\" is defined in the configuration file ({}) and cannot be changed through \
             the API; edit the configuration file instead",
            c.noun,
            entry.id,
            entry.config_path.as_deref().unwrap_or(c.kind.section())
        )),
    }
}

/// Reports a rule's own problems with paths relative to the body: `unit`, not
/// `rate_limits[0].unit`. The first problem's path is the error's `param`.
pub(super) fn problems_in_body(problems: Vec<(String, String)>, prefix: &str) -> Result<()> {
    let relative: Vec<(String, String)> = problems
        .into_iter()
        .map(|(path, message)| {
            let path = match path.strip_prefix(prefix) {
                Some(rest) => rest.trim_start_matches('.').to_owned(),
                None => path,
            };
            (path, message)
        })
        .collect();
    let Some((first, _)) = relative.first() else {
        return Ok(());
    };
    let message = relative
        .iter()
        .map(|(path, message)| {
            if path.is_empty() {
                message.clone()
            } else {
                format!("{path}: {message}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let error = Error::invalid(message);
    Err(if first.is_empty() {
        error
    } else {
        error.with_param(first.clone())
    })
}

/// Checks a rule body on its own, as a create would (the answer's `param` names the field).
pub(super) fn checked_body(kind: RuleKind, body: Map<String, Value>) -> Result<()> {
    checked(kind, body).map(drop)
}

/// A rule body checked on its own: its id (for kinds that name themselves) and its normal form.
fn checked(kind: RuleKind, body: Map<String, Value>) -> Result<(Option<String>, Value)> {
    let body = Value::Object(body);
    let single = |problems: Vec<agenthub_policy::authz::Problem>, prefix| {
        problems_in_body(
            problems.into_iter().map(|p| (p.path, p.message)).collect(),
            prefix,
        )
    };
    let limits = |config: LimitsConfig, prefix| {
        problems_in_body(
            config
                .validate()
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.path, p.message))
                .collect(),
            prefix,
        )
    };
    match kind {
        RuleKind::Policy => {
            let rule: PolicyRule = from_json(body)?;
            let set = PolicySet {
                policies: vec![rule.clone()],
                roles: Vec::new(),
            };
            single(set.validate(), "policies[0]")?;
            Ok((None, to_json(&rule)))
        }
        RuleKind::Role => {
            let rule: RoleRule = from_json(body)?;
            let set = PolicySet {
                policies: Vec::new(),
                roles: vec![rule.clone()],
            };
            single(set.validate(), "roles[0]")?;
            Ok((None, to_json(&rule)))
        }
        RuleKind::RateLimit => {
            let rule: RateLimitRule = from_json(body)?;
            limits(
                LimitsConfig {
                    rate_limits: vec![rule.clone()],
                    budgets: Vec::new(),
                },
                "rate_limits[0]",
            )?;
            Ok((Some(rule.id.clone()), to_json(&rule)))
        }
        RuleKind::Budget => {
            let rule: BudgetRule = from_json(body)?;
            limits(
                LimitsConfig {
                    rate_limits: Vec::new(),
                    budgets: vec![rule.clone()],
                },
                "budgets[0]",
            )?;
            Ok((Some(rule.id.clone()), to_json(&rule)))
        }
        RuleKind::Guardrail => {
            let rule: GuardrailRule = from_json(body)?;
            problems_in_body(
                validate_rules(std::slice::from_ref(&rule), "guardrails"),
                "guardrails[0]",
            )?;
            Ok((Some(rule.id.clone()), to_json(&rule)))
        }
        RuleKind::Provider => {
            let rule: ProviderConfig = from_json(body)?;
            let mut problems = Vec::new();
            if let Err(message) = check_name(&rule.name) {
                problems.push(("name".to_owned(), message));
            }
            check_provider(&rule, &mut |field, message| {
                problems.push((field.to_owned(), message));
            });
            // The rules table is not encrypted: credentials live in the secret store.
            let literal = |value: &str| !value.starts_with("secret:");
            if rule.api_key.as_deref().is_some_and(literal) {
                problems.push((
                    "api_key".to_owned(),
                    "must name a stored secret (secret:NAME); create it with POST /secrets".into(),
                ));
            }
            if let Some(aws) = &rule.aws {
                let values = [
                    Some(&aws.access_key_id),
                    Some(&aws.secret_access_key),
                    aws.session_token.as_ref(),
                ];
                if values.into_iter().flatten().any(|v| literal(v)) {
                    problems.push((
                        "aws".to_owned(),
                        "every value must name a stored secret (secret:NAME)".into(),
                    ));
                }
            }
            problems_in_body(problems, "")?;
            Ok((Some(rule.name.clone()), to_json(&rule)))
        }
        RuleKind::Model => {
            let rule: ModelConfig = from_json(body)?;
            if let Err(message) = check_name(&rule.name) {
                problems_in_body(vec![("name".to_owned(), message)], "")?;
            }
            Ok((Some(rule.name.clone()), to_json(&rule)))
        }
        RuleKind::VirtualModel => {
            let rule: VirtualModelConfig = from_json(body)?;
            if let Err(message) = check_name(&rule.name) {
                problems_in_body(vec![("name".to_owned(), message)], "")?;
            }
            Ok((Some(rule.name.clone()), to_json(&rule)))
        }
        RuleKind::McpServer => {
            let rule: McpServerConfig = from_json(body)?;
            let mut problems = Vec::new();
            agenthub_mcp_registry::config::check_server(&rule, &mut |field, message| {
                problems.push((field.to_owned(), message));
            });
            // The rules table is not encrypted: credentials live in the secret store.
            let needs_secret = "holds a credential: it must name a stored secret (secret:NAME); create it with POST /secrets";
            let literal = |value: &str| !value.starts_with("secret:");
            if rule.bearer_token.as_deref().is_some_and(literal) {
                problems.push(("bearer_token".to_owned(), needs_secret.to_owned()));
            }
            if rule
                .oauth
                .as_ref()
                .is_some_and(|o| o.client_secret.as_deref().is_some_and(literal))
            {
                problems.push(("oauth.client_secret".to_owned(), needs_secret.to_owned()));
            }
            for (field, values) in [("headers", &rule.headers), ("env", &rule.env)] {
                for (name, value) in values {
                    if agenthub_mcp_registry::config::names_a_credential(name) && literal(value) {
                        problems.push((format!("{field}.{name}"), needs_secret.to_owned()));
                    }
                }
            }
            problems_in_body(problems, "")?;
            Ok((Some(rule.name.clone()), to_json(&rule)))
        }
        RuleKind::McpVirtualServer => {
            let rule: McpVirtualServerConfig = from_json(body)?;
            let mut problems = Vec::new();
            // The separator is the configuration's: checked with the whole rule set.
            check_virtual_server(&rule, None, &mut |field, message| {
                problems.push((field.to_owned(), message));
            });
            problems_in_body(problems, "")?;
            Ok((Some(rule.name.clone()), to_json(&rule)))
        }
        RuleKind::Agent => {
            let rule: AgentConfig = from_json(body)?;
            let mut problems = agenthub_a2a_bus::config::check(std::slice::from_ref(&rule))
                .into_iter()
                .map(|(path, message)| {
                    let field = path.strip_prefix("agents[0]").unwrap_or(&path);
                    (field.trim_start_matches('.').to_owned(), message)
                })
                .collect::<Vec<_>>();
            // The rules table is not encrypted, and files are the server's, not the caller's.
            let needs_secret = "holds a credential: it must name a stored secret (secret:NAME); create it with POST /secrets";
            let literal = |value: &str| !value.starts_with("secret:");
            if rule.bearer_token.as_deref().is_some_and(literal) {
                problems.push(("bearer_token".to_owned(), needs_secret.to_owned()));
            }
            for (name, value) in &rule.headers {
                if agenthub_mcp_registry::config::names_a_credential(name) && literal(value) {
                    problems.push((format!("headers.{name}"), needs_secret.to_owned()));
                }
            }
            if rule.card_file.is_some() {
                problems.push((
                    "card_file".to_owned(),
                    "is for the configuration file; post the card itself (card) or its agent's url"
                        .into(),
                ));
            }
            problems_in_body(problems, "")?;
            Ok((Some(rule.name.clone()), to_json(&rule)))
        }
    }
}

/// The collections whose ids must not collide with `c`'s: rate limits and budgets share one
/// namespace.
fn same_namespace(c: Collection) -> &'static [Collection] {
    match c.kind {
        RuleKind::RateLimit | RuleKind::Budget => &[RATE_LIMITS, BUDGETS],
        RuleKind::Guardrail => &[GUARDRAILS],
        RuleKind::Policy => &[POLICIES],
        RuleKind::Role => &[ROLES],
        RuleKind::Provider => &[PROVIDERS],
        RuleKind::Model | RuleKind::VirtualModel => &[MODELS, VIRTUAL_MODELS],
        RuleKind::McpServer => &[MCP_SERVERS],
        RuleKind::McpVirtualServer => &[MCP_VIRTUAL_SERVERS],
        RuleKind::Agent => &[AGENTS],
    }
}

pub(super) fn list(
    state: &AppState,
    caller: &Caller,
    c: Collection,
    query: &ListQuery,
) -> Result<Json<PageOf<RuleView>>> {
    require(caller, Access::Read, Target::Area(c.area))?;
    let items: Vec<RuleView> = entries(state, c).into_iter().map(Entry::view).collect();
    paginate(items, query).map(Json)
}

/// Every rule of a collection in force, unpaginated (for collections that stay small).
pub(super) fn rule_views(state: &AppState, c: Collection) -> Vec<RuleView> {
    entries(state, c).into_iter().map(Entry::view).collect()
}

/// One page of an in-memory list; the cursor is the position to continue from.
fn paginate<T>(items: Vec<T>, query: &ListQuery) -> Result<PageOf<T>> {
    let limit = query.limit()?;
    let start = match query.after()? {
        None => 0,
        Some(after) => after
            .parse::<usize>()
            .map_err(|_| Error::invalid_field("cursor", "not a cursor returned by this API"))?,
    };
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let end = start + items.len();
    let next = (end < total).then(|| end.to_string());
    Ok(PageOf::new(Page { items, next }, |item| item))
}

pub(super) fn get(
    state: &AppState,
    caller: &Caller,
    c: Collection,
    id: &str,
) -> Result<Json<RuleView>> {
    require(caller, Access::Read, Target::Area(c.area))?;
    Ok(Json(find(state, c, id)?.view()))
}

/// Stores a new rule. Policies and role assignments get a generated id; the other kinds are
/// stored under their own, which must not be in use.
pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    c: Collection,
    body: Map<String, Value>,
) -> Result<(StatusCode, Json<RuleView>)> {
    require(caller, Access::Write, Target::Area(c.area))?;
    let (own_id, rule) = checked(c.kind, body)?;
    let id = match own_id {
        Some(id) if c.kind == RuleKind::Guardrail && id == "check" => {
            return Err(Error::invalid_field(
                "id",
                "\"check\" is reserved for POST /guardrails/check; choose another id",
            ));
        }
        Some(id) => {
            for other in same_namespace(c) {
                if let Some(entry) = entries(state, *other).into_iter().find(|e| e.id == id) {
                    let place = match entry.source {
                        RuleSource::Api => {
                            "stored through the API; use PUT to replace it".to_owned()
                        }
                        _ => format!(
                            "in the configuration file at {}",
                            entry.config_path.as_deref().unwrap_or("?")
                        ),
                    };
                    return Err(Error::conflict(format!(
                        "a {} with id \"{id}\" already exists ({place})",
                        other.noun
                    )));
                }
            }
            id
        }
        None => new_id(),
    };
    let stored = state
        .governance
        .put_rule(
            c.kind,
            &id,
            rule.clone(),
            &caller.subject(),
            RuleWrite::Create,
        )
        .await?;
    tracing::info!(kind = c.kind.as_str(), id = %id, by = %caller.subject(), "governance rule created");
    Ok((StatusCode::CREATED, Json(api_entry(rule, stored).view())))
}

/// Replaces a stored rule. For kinds that name themselves, the body's `id` may be left out and
/// must otherwise be the path's.
pub(super) async fn replace(
    state: &AppState,
    caller: &Caller,
    c: Collection,
    id: &str,
    mut body: Map<String, Value>,
) -> Result<Json<RuleView>> {
    require(caller, Access::Write, Target::Area(c.area))?;
    if let Some(field) = id_field(c.kind) {
        match body.get(field) {
            None => {
                body.insert(field.into(), Value::String(id.to_owned()));
            }
            Some(Value::String(given)) if given == id => {}
            Some(given) => {
                return Err(Error::invalid_field(
                    field,
                    format!(
                        "{given} differs from the id in the path (\"{id}\"); to rename a rule, create the new one and delete the old"
                    ),
                ));
            }
        }
    }
    changeable(state, c, id)?;
    let (_, rule) = checked(c.kind, body)?;
    let stored = state
        .governance
        .put_rule(
            c.kind,
            id,
            rule.clone(),
            &caller.subject(),
            RuleWrite::Replace,
        )
        .await?;
    tracing::info!(kind = c.kind.as_str(), id = %id, by = %caller.subject(), "governance rule replaced");
    Ok(Json(api_entry(rule, stored).view()))
}

pub(super) async fn delete(
    state: &AppState,
    caller: &Caller,
    c: Collection,
    id: &str,
) -> Result<StatusCode> {
    require(caller, Access::Write, Target::Area(c.area))?;
    changeable(state, c, id)?;
    state.governance.delete_rule(c.kind, id).await?;
    tracing::info!(kind = c.kind.as_str(), id = %id, by = %caller.subject(), "governance rule deleted");
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Handlers: policies and roles

/// List the policy lines in force: the starter policy's, the configuration file's, then those
/// stored through the API, in the order the authorizer numbers them.
#[utoipa::path(get, path = "/policies", tag = "policies", params(ListQuery),
    responses((status = 200, body = PageOf<RuleView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<RuleView>>> {
    list(&state, &caller, POLICIES, &query)
}

/// Store a policy line; it gets a generated id.
#[utoipa::path(post, path = "/policies", tag = "policies", request_body = PolicyRuleSchema,
    responses((status = 201, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn create_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>)> {
    create(&state, &caller, POLICIES, body).await
}

/// Get a policy line by id.
#[utoipa::path(get, path = "/policies/{id}", tag = "policies", params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RuleView>> {
    get(&state, &caller, POLICIES, &id)
}

/// Replace a stored policy line. Lines of the starter policy and the configuration file answer
/// 409.
#[utoipa::path(put, path = "/policies/{id}", tag = "policies", request_body = PolicyRuleSchema, params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>> {
    replace(&state, &caller, POLICIES, &id, body).await
}

/// Delete a stored policy line.
#[utoipa::path(delete, path = "/policies/{id}", tag = "policies", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, POLICIES, &id).await
}

/// List the role assignments in force: the configuration file's, then the stored ones.
#[utoipa::path(get, path = "/roles", tag = "policies", params(ListQuery),
    responses((status = 200, body = PageOf<RuleView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_roles(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<RuleView>>> {
    list(&state, &caller, ROLES, &query)
}

/// Store a role assignment; it gets a generated id.
#[utoipa::path(post, path = "/roles", tag = "policies", request_body = RoleRuleSchema,
    responses((status = 201, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>)> {
    create(&state, &caller, ROLES, body).await
}

/// Get a role assignment by id.
#[utoipa::path(get, path = "/roles/{id}", tag = "policies", params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RuleView>> {
    get(&state, &caller, ROLES, &id)
}

/// Replace a stored role assignment.
#[utoipa::path(put, path = "/roles/{id}", tag = "policies", request_body = RoleRuleSchema, params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>> {
    replace(&state, &caller, ROLES, &id, body).await
}

/// Delete a stored role assignment.
#[utoipa::path(delete, path = "/roles/{id}", tag = "policies", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, ROLES, &id).await
}

// ---------------------------------------------------------------------------------------------
// Handlers: rate limits, budgets, guardrails

/// List the rate limits in force: the configuration file's, then the stored ones.
#[utoipa::path(get, path = "/rate-limits", tag = "limits", params(ListQuery),
    responses((status = 200, body = PageOf<RuleView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_rate_limits(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<RuleView>>> {
    list(&state, &caller, RATE_LIMITS, &query)
}

/// Store a rate limit under its `id` (409 if a rate limit or budget has it already).
#[utoipa::path(post, path = "/rate-limits", tag = "limits", request_body = RateLimitRuleSchema,
    responses((status = 201, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_rate_limit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>)> {
    create(&state, &caller, RATE_LIMITS, body).await
}

/// Get a rate limit by id.
#[utoipa::path(get, path = "/rate-limits/{id}", tag = "limits", params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_rate_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RuleView>> {
    get(&state, &caller, RATE_LIMITS, &id)
}

/// Replace a stored rate limit (the body's `id` may be left out).
#[utoipa::path(put, path = "/rate-limits/{id}", tag = "limits", request_body = RateLimitRuleSchema, params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_rate_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>> {
    replace(&state, &caller, RATE_LIMITS, &id, body).await
}

/// Delete a stored rate limit.
#[utoipa::path(delete, path = "/rate-limits/{id}", tag = "limits", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_rate_limit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, RATE_LIMITS, &id).await
}

/// List the budgets in force: the configuration file's, then the stored ones.
#[utoipa::path(get, path = "/budgets", tag = "budgets", params(ListQuery),
    responses((status = 200, body = PageOf<RuleView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_budgets(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<RuleView>>> {
    list(&state, &caller, BUDGETS, &query)
}

/// Store a budget under its `id` (409 if a rate limit or budget has it already).
#[utoipa::path(post, path = "/budgets", tag = "budgets", request_body = BudgetRuleSchema,
    responses((status = 201, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_budget(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>)> {
    create(&state, &caller, BUDGETS, body).await
}

/// Get a budget by id.
#[utoipa::path(get, path = "/budgets/{id}", tag = "budgets", params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RuleView>> {
    get(&state, &caller, BUDGETS, &id)
}

/// Replace a stored budget (the body's `id` may be left out). Its usage so far is kept while
/// the id stays the same.
#[utoipa::path(put, path = "/budgets/{id}", tag = "budgets", request_body = BudgetRuleSchema, params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>> {
    replace(&state, &caller, BUDGETS, &id, body).await
}

/// Delete a stored budget.
#[utoipa::path(delete, path = "/budgets/{id}", tag = "budgets", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, BUDGETS, &id).await
}

/// List the guardrails in force: the configuration file's, then the stored ones.
#[utoipa::path(get, path = "/guardrails", tag = "guardrails", params(ListQuery),
    responses((status = 200, body = PageOf<RuleView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_guardrails(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PageOf<RuleView>>> {
    list(&state, &caller, GUARDRAILS, &query)
}

/// Store a guardrail under its `id` (409 if a guardrail has it already).
#[utoipa::path(post, path = "/guardrails", tag = "guardrails", request_body = GuardrailRuleSchema,
    responses((status = 201, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn create_guardrail(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<RuleView>)> {
    create(&state, &caller, GUARDRAILS, body).await
}

/// Get a guardrail by id.
#[utoipa::path(get, path = "/guardrails/{id}", tag = "guardrails", params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_guardrail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RuleView>> {
    get(&state, &caller, GUARDRAILS, &id)
}

/// Replace a stored guardrail (the body's `id` may be left out).
#[utoipa::path(put, path = "/guardrails/{id}", tag = "guardrails", request_body = GuardrailRuleSchema, params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn replace_guardrail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<RuleView>> {
    replace(&state, &caller, GUARDRAILS, &id, body).await
}

/// Delete a stored guardrail.
#[utoipa::path(delete, path = "/guardrails/{id}", tag = "guardrails", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn delete_guardrail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    delete(&state, &caller, GUARDRAILS, &id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn stored(id: &str, rule: &PolicyRule) -> StoredRule {
        StoredRule {
            kind: "policy".into(),
            id: id.into(),
            body: to_json(rule),
            created_by: Some("user:admin".into()),
            created_at: 1,
            updated_at: 2,
        }
    }

    #[test]
    fn sources_are_attributed_by_position_then_content() {
        let starter = vec![PolicyRule::allow("role:admin", "*", "*")];
        let config = PolicyRule::allow("team:ml", "model:*", "invoke");
        let api = PolicyRule::deny("user:bob", "model:*", "invoke");
        let in_force = vec![starter[0].clone(), config.clone(), api.clone()];
        let ids = |entries: Vec<Entry>| -> Vec<(String, RuleSource)> {
            entries.into_iter().map(|e| (e.id, e.source)).collect()
        };
        let found = ids(attribute(
            "policies",
            &in_force,
            &starter,
            vec![(api.clone(), stored("s1", &api))],
        ));
        assert_eq!(
            found,
            [
                ("starter-0".to_owned(), RuleSource::Starter),
                ("config-0".to_owned(), RuleSource::Config),
                ("s1".to_owned(), RuleSource::Api),
            ]
        );
        // A stored rule not (yet) compiled in is not listed; those that are keep their ids.
        let other = PolicyRule::allow("user:carol", "model:x", "invoke");
        let found = ids(attribute(
            "policies",
            &in_force,
            &[],
            vec![
                (api.clone(), stored("s1", &api)),
                (other.clone(), stored("s2", &other)),
            ],
        ));
        assert_eq!(
            found,
            [
                ("config-0".to_owned(), RuleSource::Config),
                ("config-1".to_owned(), RuleSource::Config),
                ("s1".to_owned(), RuleSource::Api),
            ]
        );
    }

    #[test]
    fn body_problems_are_relative_to_the_body() {
        let error = problems_in_body(
            vec![
                (
                    "rate_limits[0].limit_to".into(),
                    "must be at least 1".into(),
                ),
                ("rate_limits[0].unit".into(), "unknown unit".into()),
            ],
            "rate_limits[0]",
        )
        .unwrap_err();
        assert_eq!(
            error.message(),
            "limit_to: must be at least 1; unit: unknown unit"
        );
        let whole = problems_in_body(
            vec![("budgets[0]".into(), "needs one of …".into())],
            "budgets[0]",
        )
        .unwrap_err();
        assert_eq!(whole.message(), "needs one of …");
        problems_in_body(Vec::new(), "x").unwrap();
    }

    #[test]
    fn pages_continue_where_they_stopped() {
        let query = |limit, cursor: Option<&str>| ListQuery {
            limit: Some(limit),
            cursor: cursor.map(|c| URL_SAFE_NO_PAD.encode(c)),
        };
        let page = paginate((0..5).collect(), &query(2, None)).unwrap();
        assert_eq!(page.data, [0, 1]);
        let next = page.next_cursor.unwrap();
        let cursor = String::from_utf8(URL_SAFE_NO_PAD.decode(next).unwrap()).unwrap();
        let page = paginate((0..5).collect(), &query(3, Some(&cursor))).unwrap();
        assert_eq!(page.data, [2, 3, 4]);
        assert!(page.next_cursor.is_none());
        assert!(paginate((0..5).collect::<Vec<_>>(), &query(2, Some("x"))).is_err());
    }
}
