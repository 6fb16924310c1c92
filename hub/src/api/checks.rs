//! Usage against rate limits and budgets (`/usage`), and what-if checks: may this subject do
//! this (`/authz/check`), what would the guardrails do with this text (`/guardrails/check`).

use std::collections::BTreeMap;

use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::{
    Action, AdminArea, Decision, DenyReason, Request, Resource, Subjects,
};
use agenthub_policy::guardrails::Stage;
use agenthub_policy::limits::{LimitStatus, Measure, Timestamp, Usd};
use agenthub_policy::when::{Plane, RequestFacts};
use agenthub_policy::{Identity, Scope, SubjectKind};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::governance::{Entry, RuleView, policy_entries};
use super::{ApiJson, ApiQuery, require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::directory::Directory;
use crate::error::{Error, Result};
use crate::model::{PrincipalKind, now_millis};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(usage))
        .routes(routes!(check_authz))
        .routes(routes!(check_guardrails))
}

// ---------------------------------------------------------------------------------------------
// Wire types

/// Whose usage to show: at most one of `user`, `service` and `team`; none for the caller's own.
/// Another's usage needs `read` on `admin:budgets`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// A user's name.
    pub user: Option<String>,
    /// A service account's name.
    pub service: Option<String>,
    /// A team's name: the counters kept for the team (`applies_per: team`).
    pub team: Option<String>,
}

/// Usage against every rate limit and budget that applies to a subject.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageView {
    /// Whose usage: `user:alice`, `service:x` or `team:ml`.
    pub subject: String,
    pub limits: Vec<LimitUsageView>,
}

/// One limit as it stands for one counter.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LimitUsageView {
    /// The rule's id.
    pub rule: String,
    /// `rate_limit` or `budget`.
    pub kind: String,
    /// `requests`, `tokens` or `cost` (amounts in micro-dollars; see the `*_usd` fields).
    pub measure: String,
    /// `minute`, `hour` or `day` (sliding windows); `day`, `week` or `month` (budgets).
    pub interval: String,
    /// The counter: `user:alice`, `team:ml`, `*` (shared by everyone the rule counts), …
    pub subject: String,
    pub limit: u64,
    pub used: u64,
    pub remaining: u64,
    /// Cost budgets: the amounts in US dollars, e.g. `12.50`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_usd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_usd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_usd: Option<String>,
    /// When the limit is fully available again.
    pub reset_at: String,
    /// Budgets: the period counted, e.g. `2026-11`, `2026-W48`, `2026-11-26`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    pub audit_mode: bool,
    /// Budgets: the alert thresholds (percent) fired in the period.
    #[serde(default)]
    pub alerts_fired: Vec<u8>,
    /// The limit counts only some of the subject's requests (it names models, tools, agents or
    /// metadata, or counts tokens).
    #[serde(default)]
    pub conditional: bool,
}

/// May this subject do this action on this resource?
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthzCheck {
    /// `user:<name>`, `service:<name>`, `key:<id>` (a stored principal or key, with its teams
    /// and roles), or `team:`, `role:`, `agent:` (that subject alone). Absent: the caller, with
    /// the scopes of the credentials used.
    pub subject: Option<String>,
    /// A concrete resource: `model:gpt-4o`, `mcp:jira/create_issue`, `agent:x`, `admin:budgets`.
    pub resource: String,
    /// `invoke`, `list`, `call`, `send`, `read` or `manage`.
    pub action: String,
    /// The team the request is made within. Default: the key's team, when the subject is a key
    /// (or the caller authenticated with a key issued for a team).
    pub team: Option<String>,
}

/// The authorizer's answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthzCheckView {
    pub allowed: bool,
    /// `granted`, `denied` (a deny line matches), `no_grant` (deny by default) or
    /// `missing_scope` (the credentials lack the scope the request needs).
    pub decision: String,
    /// The answer in words.
    pub reason: String,
    /// The policy line that decided: a matching allow line, or the deny line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<RuleView>,
    /// The subject checked.
    pub subject: String,
    /// The team the request was checked within, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Every subject it acts as in this request, roles included.
    pub acting_as: Vec<String>,
}

/// Which stage a text is inspected at.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageParam {
    /// What callers send (prompts, tool arguments, messages to agents).
    #[default]
    Input,
    /// What comes back (completions, tool results, agents' replies).
    Output,
}

/// A text to run through the guardrails in force, as if it were part of a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardrailCheck {
    pub text: String,
    /// `input` (default) or `output`.
    #[serde(default)]
    pub stage: StageParam,
    /// A model request for this model (rules' `when.models`). At most one of `model`, `tool`
    /// and `agent`; none: a model request.
    pub model: Option<String>,
    /// A tool call, `server/tool`.
    pub tool: Option<String>,
    /// A message to this agent.
    pub agent: Option<String>,
    /// Client metadata, for rules' `when.metadata`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// What the guardrails do with the text.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InspectionView {
    pub blocked: bool,
    /// Why, when blocked: safe to show the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The text that would be forwarded: redacted or replaced.
    pub text: String,
    pub findings: Vec<FindingView>,
}

/// One match of one rule.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    pub rule_id: String,
    /// `pii`, `secrets`, `prompt_injection`, `banned_terms` or `regex`.
    pub detector: String,
    /// What was found, e.g. `email`, `aws_access_key`, `instruction_override`.
    pub kind: String,
    /// `block`, `redact` or `flag`.
    pub action: String,
    /// Byte offsets into the inspected text.
    pub span: SpanView,
    /// Prompt injection: how it was hidden, e.g. `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SpanView {
    pub start: usize,
    pub end: usize,
}

// ---------------------------------------------------------------------------------------------
// Usage

/// The identity a stored principal acts as (outside any key): its teams and hub role, every
/// scope.
fn stored_principal(
    directory: &Directory,
    field: &str,
    kind: PrincipalKind,
    name: &str,
) -> Result<Identity> {
    let what = match kind {
        PrincipalKind::User => "user",
        PrincipalKind::Service => "service account",
    };
    let principal = directory
        .principal(name)
        .filter(|p| p.kind == kind)
        .ok_or_else(|| Error::not_found(format!("{what} \"{name}\"")).with_param(field))?;
    Ok(directory.identity_of(principal, None))
}

fn usage_view(status: LimitStatus) -> LimitUsageView {
    let usd = |amount: u64| {
        (status.measure == Measure::Cost).then(|| Usd::from_micros(amount).to_string())
    };
    LimitUsageView {
        limit_usd: usd(status.limit),
        used_usd: usd(status.used),
        remaining_usd: usd(status.remaining),
        rule: status.rule_id,
        kind: status.kind.as_str().to_owned(),
        measure: status.measure.as_str().to_owned(),
        interval: status.interval.as_str().to_owned(),
        subject: status.subject,
        limit: status.limit,
        used: status.used,
        remaining: status.remaining,
        reset_at: timestamp(status.reset_at.unix_millis()),
        period: status.period.map(|p| p.to_string()),
        audit_mode: status.audit_mode,
        alerts_fired: status.alerts_fired,
        conditional: status.conditional,
    }
}

fn not_empty(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::invalid_field(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Current usage against every rate limit and budget that applies to a user, a service
/// account or a team (`Read` on budgets), or to the caller (anyone; also as `user=<self>`).
#[utoipa::path(get, path = "/usage", tag = "budgets", params(UsageQuery),
    responses((status = 200, body = UsageView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<UsageView>> {
    let given = [&query.user, &query.service, &query.team]
        .iter()
        .filter(|q| q.is_some())
        .count();
    if given > 1 {
        return Err(Error::invalid("give at most one of user, service and team"));
    }
    let limits = state.governance.limits();
    let now = Timestamp::from_unix_millis(now_millis());
    let is_self = match (&query.user, &query.service) {
        (Some(name), _) => caller.kind == SubjectKind::User && caller.name == *name,
        (_, Some(name)) => caller.kind == SubjectKind::Service && caller.name == *name,
        _ => false,
    };
    if given == 1 && !is_self {
        require(&caller, Access::Read, Target::Area(AdminArea::Budgets))?;
    }
    let directory = state.accounts.snapshot();
    let (subject, rows) = match (&query.user, &query.service, &query.team) {
        (Some(user), _, _) => {
            let identity = stored_principal(&directory, "user", PrincipalKind::User, user)?;
            (identity.subject(), limits.status(&identity, None, now))
        }
        (_, Some(service), _) => {
            let identity =
                stored_principal(&directory, "service", PrincipalKind::Service, service)?;
            (identity.subject(), limits.status(&identity, None, now))
        }
        (_, _, Some(team)) => {
            not_empty("team", team)?;
            let subject = format!("team:{team}");
            let rows = limits
                .status_all(now)
                .into_iter()
                .filter(|s| s.subject == subject)
                .collect();
            (subject, rows)
        }
        (None, None, None) => (caller.subject(), limits.status(&caller.identity, None, now)),
    };
    Ok(Json(UsageView {
        subject,
        limits: rows.into_iter().map(usage_view).collect(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Checks

/// The subjects `subject` acts as: a stored user, service account or key with everything it
/// brings (teams, roles, a key's team and scopes), or a bare team, role or agent. With the
/// team its requests are made within by default: a key's team.
fn subjects_of(state: &AppState, subject: &str) -> Result<(Subjects, Option<String>)> {
    let directory = state.accounts.snapshot();
    let invalid = |message: String| Error::invalid_field("subject", message);
    let Some((kind, name)) = subject.split_once(':').filter(|(_, n)| !n.is_empty()) else {
        return Err(invalid(format!(
            "\"{subject}\" is not a subject (expected user:, service:, key:, team:, role: or agent: followed by a name)"
        )));
    };
    match kind {
        "user" | "service" => {
            let kind = if kind == "user" {
                PrincipalKind::User
            } else {
                PrincipalKind::Service
            };
            let identity = stored_principal(&directory, "subject", kind, name)?;
            Ok((Subjects::of(&identity), None))
        }
        "key" => {
            let key = directory
                .key(name)
                .ok_or_else(|| Error::not_found(format!("key \"{name}\"")).with_param("subject"))?;
            let principal = directory.principal(&key.principal_id).ok_or_else(|| {
                Error::not_found(format!("the owner of key \"{name}\"")).with_param("subject")
            })?;
            let identity = directory.identity_of(principal, Some(key));
            Ok((Subjects::of(&identity), identity.key_team))
        }
        "team" | "role" | "agent" => Ok((Subjects::new([subject]), None)),
        other => Err(invalid(format!(
            "unknown subject kind \"{other}:\" (expected user:, service:, key:, team:, role: or agent:)"
        ))),
    }
}

/// Whether a subject may do an action on a resource under the rules in force, and which policy
/// line decides (hub admins, or `Read` on policies).
#[utoipa::path(post, path = "/authz/check", tag = "policies", request_body = AuthzCheck,
    responses((status = 200, body = AuthzCheckView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn check_authz(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AuthzCheck>,
) -> Result<Json<AuthzCheckView>> {
    if !caller.is_admin_with(Scope::AdminRead) {
        require(&caller, Access::Read, Target::Area(AdminArea::Policies))?;
    }
    let resource = Resource::parse(&body.resource)
        .filter(|r| !r.name.is_empty())
        .ok_or_else(|| {
            Error::invalid_field(
                "resource",
                format!(
                    "\"{}\" is not a resource (expected model:, mcp:, agent: or admin: followed by a name)",
                    body.resource
                ),
            )
        })?;
    let action: Action = body
        .action
        .parse()
        .map_err(|e: String| Error::invalid_field("action", e))?;
    if !resource.kind.actions().contains(&action) {
        let allowed: Vec<&str> = resource.kind.actions().iter().map(|a| a.as_str()).collect();
        return Err(Error::invalid_field(
            "action",
            format!(
                "{action} does not apply to {}: resources (expected {})",
                resource.kind.as_str(),
                allowed.join(" or ")
            ),
        ));
    }
    let (subject, subjects, key_team) = match &body.subject {
        Some(subject) => {
            let (subjects, key_team) = subjects_of(&state, subject)?;
            (subject.clone(), subjects, key_team)
        }
        None => (
            caller.subject(),
            Subjects::of(&caller.identity),
            caller.key_team.clone(),
        ),
    };
    if let Some(team) = &body.team {
        not_empty("team", team)?;
    }
    let team = body.team.as_deref().or(key_team.as_deref());
    let mut request = Request::new(resource, action);
    if let Some(team) = team {
        request = request.in_team(team);
    }
    let authorizer = state.governance.authorizer();
    let decision = authorizer.decide(&subjects, &request);
    let line = |index: usize| policy_entries(&state, &authorizer).into_iter().nth(index);
    let describe = |entry: &Option<Entry>| match entry {
        Some(e) => format!("{} policy {}", e.source.as_str(), e.id),
        None => "a policy".to_owned(),
    };
    let (decision_name, reason, policy) = match decision {
        Decision::Allow { policy } => {
            let entry = line(policy);
            let reason = format!("granted by {}", describe(&entry));
            ("granted", reason, entry)
        }
        Decision::Deny(DenyReason::Denied { policy }) => {
            let entry = line(policy);
            let reason = format!("denied by {}", describe(&entry));
            ("denied", reason, entry)
        }
        Decision::Deny(DenyReason::NoGrant) => (
            "no_grant",
            format!(
                "no policy grants {action} on {} to any of the subjects it acts as (deny by default)",
                body.resource
            ),
            None,
        ),
        Decision::Deny(DenyReason::MissingScope(scope)) => (
            "missing_scope",
            format!("the credentials lack the {scope} scope this request needs"),
            None,
        ),
    };
    Ok(Json(AuthzCheckView {
        allowed: decision.is_allowed(),
        decision: decision_name.to_owned(),
        reason,
        policy: policy.map(Entry::view),
        subject,
        team: request.team.map(str::to_owned),
        acting_as: authorizer.acting_subjects(&subjects, request.team),
    }))
}

fn name_of(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Run a text through the guardrails in force (and the external guardrail, if configured), as
/// the caller's request would be: what is blocked, redacted or flagged (`Read` on guardrails).
#[utoipa::path(post, path = "/guardrails/check", tag = "guardrails", request_body = GuardrailCheck,
    responses((status = 200, body = InspectionView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn check_guardrails(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<GuardrailCheck>,
) -> Result<Json<InspectionView>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Guardrails))?;
    let plane = match (&body.model, &body.tool, &body.agent) {
        (_, None, None) => Plane::Llm,
        (None, Some(_), None) => Plane::Mcp,
        (None, None, Some(_)) => Plane::A2a,
        _ => {
            return Err(Error::invalid("give at most one of model, tool and agent"));
        }
    };
    let facts = RequestFacts {
        identity: &caller.identity,
        plane,
        model: body.model.as_deref(),
        tool: body.tool.as_deref(),
        agent: body.agent.as_deref(),
        metadata: &body.metadata,
    };
    let stage = match body.stage {
        StageParam::Input => Stage::Input,
        StageParam::Output => Stage::Output,
    };
    let inspection = state.governance.inspect(&body.text, stage, &facts).await;
    Ok(Json(InspectionView {
        blocked: inspection.blocked.is_some(),
        reason: inspection.blocked,
        text: inspection.text,
        findings: inspection
            .findings
            .into_iter()
            .map(|f| FindingView {
                rule_id: f.rule_id,
                detector: f.detector.as_str().to_owned(),
                kind: f.kind.as_str().to_owned(),
                action: name_of(&f.action),
                span: SpanView {
                    start: f.span.start,
                    end: f.span.end,
                },
                encoding: f.encoding.as_ref().map(name_of),
            })
            .collect(),
    }))
}
