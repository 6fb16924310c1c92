//! `agenthub policies|roles|limits|budgets|guardrails|authz`: the governance rules in force,
//! usage against budgets and limits, and what-if checks, through the admin API.

use std::io::Read;
use std::path::PathBuf;

use agenthub_policy::limits::Usd;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::admin::{
    ClientArgs, ListArgs, NO_BODY, Outcome, call_and_show, connect, delete, item, list_and_show,
    path_segment, show,
};
use super::client::ClientError;
use super::output::{Table, fields, or_dash};
use crate::api::{AuthzCheckView, InspectionView, LimitUsageView, RuleView, UsageView};

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// List the policy lines in force: the starter policy's, the configuration file's, then
    /// those stored through the API.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Store a policy line: SUBJECT may (or, with --effect deny, may not) do ACTION on RESOURCE.
    Add {
        /// user:<name>, service:<name>, agent:<name>, team:<name>, key:<id> or role:<name>.
        #[arg(long)]
        subject: String,
        /// model:<name>, mcp:<server>/<tool>, agent:<name>, admin:<area> or *; a trailing * matches
        /// any rest.
        #[arg(long)]
        resource: String,
        /// invoke, list, call, send, read, manage or *.
        #[arg(long)]
        action: String,
        #[arg(long, value_enum, default_value = "allow")]
        effect: Effect,
        /// Only within this team.
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a stored policy line.
    Remove {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// List the role assignments in force.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Store a role assignment: MEMBER acts as ROLE.
    Add {
        /// Any subject: user:alice, team:ml, or role:<name> for role inheritance.
        #[arg(long)]
        member: String,
        /// role:<name>.
        #[arg(long)]
        role: String,
        /// Only within this team.
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a stored role assignment.
    Remove {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `list`, `add --file` and `remove` of a kind of rule that names itself.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules in force: the configuration file's, then those stored through the API.
    List {
        #[command(flatten)]
        list: ListArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Store a rule read from a YAML or JSON file holding one rule (`-`: standard input),
    /// written as in the configuration file.
    Add {
        #[command(flatten)]
        file: FileArg,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a stored rule.
    Remove {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
pub struct FileArg {
    /// YAML or JSON file holding one rule; `-` reads standard input.
    #[arg(long, short)]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum BudgetsCommand {
    #[command(flatten)]
    Rules(RulesCommand),
    /// Show current usage against every rate limit and budget that applies to you, or to a
    /// user, service account or team.
    Status {
        #[command(flatten)]
        whose: Whose,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct Whose {
    /// A user's usage.
    #[arg(long)]
    pub user: Option<String>,
    /// A service account's usage.
    #[arg(long)]
    pub service: Option<String>,
    /// A team's usage (its per-team counters).
    #[arg(long)]
    pub team: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GuardrailsCommand {
    #[command(flatten)]
    Rules(RulesCommand),
    /// Run TEXT through the guardrails in force and show what they block, redact or flag.
    Test {
        /// The text to inspect.
        text: String,
        #[arg(long, value_enum, default_value = "input")]
        stage: StageArg,
        /// As part of a request for this model.
        #[arg(long, conflicts_with_all = ["tool", "agent"])]
        model: Option<String>,
        /// As part of a call of this tool (server/tool).
        #[arg(long, conflicts_with = "agent")]
        tool: Option<String>,
        /// As part of a message to this agent.
        #[arg(long)]
        agent: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StageArg {
    Input,
    Output,
}

#[derive(Debug, Subcommand)]
pub enum AuthzCommand {
    /// Ask whether a subject (default: you) may do ACTION on RESOURCE, and which policy decides.
    Check {
        /// A concrete resource: model:gpt-4o, mcp:jira/create_issue, agent:x, admin:budgets.
        #[arg(long)]
        resource: String,
        /// invoke, list, call, send, read or manage.
        #[arg(long)]
        action: String,
        /// user:<name>, service:<name>, key:<id>, team:<name>, role:<name> or agent:<name>.
        #[arg(long)]
        subject: Option<String>,
        /// The team the request is made within.
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

// ---------------------------------------------------------------------------------------------
// Output

/// A rule field as one cell: strings as they are, anything else as compact JSON.
pub(super) fn cell(rule: &Map<String, Value>, key: &str) -> String {
    match rule.get(key) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => or_dash(Some(s)),
        Some(other) => other.to_string(),
    }
}

pub(super) fn source(view: &RuleView) -> String {
    let source = serde_json::to_value(view.source)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match &view.created_by {
        Some(by) => format!("{source} ({by})"),
        None => source,
    }
}

fn policy_table(rules: Vec<RuleView>) -> String {
    let mut table = Table::new(&[
        "ID", "SOURCE", "SUBJECT", "ACTION", "RESOURCE", "EFFECT", "TEAM",
    ]);
    for r in rules {
        table.row(vec![
            r.id.clone(),
            source(&r),
            cell(&r.rule, "subject"),
            cell(&r.rule, "action"),
            cell(&r.rule, "resource"),
            cell(&r.rule, "effect"),
            cell(&r.rule, "team"),
        ]);
    }
    table.render()
}

fn role_table(rules: Vec<RuleView>) -> String {
    let mut table = Table::new(&["ID", "SOURCE", "MEMBER", "ROLE", "TEAM"]);
    for r in rules {
        table.row(vec![
            r.id.clone(),
            source(&r),
            cell(&r.rule, "member"),
            cell(&r.rule, "role"),
            cell(&r.rule, "team"),
        ]);
    }
    table.render()
}

fn rate_limit_table(rules: Vec<RuleView>) -> String {
    let mut table = Table::new(&["ID", "SOURCE", "LIMIT", "UNIT", "PER", "WHEN"]);
    for r in rules {
        table.row(vec![
            r.id.clone(),
            source(&r),
            cell(&r.rule, "limit_to"),
            cell(&r.rule, "unit"),
            cell(&r.rule, "applies_per"),
            cell(&r.rule, "when"),
        ]);
    }
    table.render()
}

/// A budget's amount, e.g. `$500/month` or `5000000 tokens/day`.
fn budget_amount(rule: &Map<String, Value>) -> String {
    for (key, value) in rule {
        if let Some(period) = key.strip_prefix("cost_per_") {
            let dollars = value
                .as_f64()
                .and_then(Usd::from_dollars)
                .map_or_else(|| value.to_string(), |usd| usd.to_string());
            return format!("${dollars}/{period}");
        }
        if let Some(period) = key.strip_prefix("tokens_per_") {
            return format!("{value} tokens/{period}");
        }
    }
    "-".into()
}

fn budget_table(rules: Vec<RuleView>) -> String {
    let mut table = Table::new(&["ID", "SOURCE", "AMOUNT", "PER", "AUDIT", "ALERTS", "WHEN"]);
    for r in rules {
        let audit = r.rule.get("audit_mode").and_then(Value::as_bool) == Some(true);
        table.row(vec![
            r.id.clone(),
            source(&r),
            budget_amount(&r.rule),
            cell(&r.rule, "applies_per"),
            if audit { "yes" } else { "no" }.into(),
            cell(&r.rule, "alert_thresholds"),
            cell(&r.rule, "when"),
        ]);
    }
    table.render()
}

fn guardrail_table(rules: Vec<RuleView>) -> String {
    let mut table = Table::new(&["ID", "SOURCE", "TYPE", "ACTION", "STAGE", "WHEN"]);
    for r in rules {
        table.row(vec![
            r.id.clone(),
            source(&r),
            cell(&r.rule, "type"),
            cell(&r.rule, "action"),
            r.rule
                .get("stage")
                .and_then(Value::as_str)
                .unwrap_or("both")
                .to_owned(),
            cell(&r.rule, "when"),
        ]);
    }
    table.render()
}

/// A stored rule: its id and source, then its own fields.
fn rule_fields(r: RuleView) -> String {
    let mut pairs: Vec<(&str, String)> = vec![("id", r.id.clone()), ("source", source(&r))];
    let values: Vec<(String, String)> = r
        .rule
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.replace('_', " "), text)
        })
        .collect();
    pairs.extend(values.iter().map(|(k, v)| (k.as_str(), v.clone())));
    pairs.push(("created", r.created_at.unwrap_or_default()));
    fields(&pairs)
}

/// What `add` prints: the new rule.
fn stored(noun: &str) -> impl Fn(RuleView) -> String + '_ {
    move |r| {
        let id = r.id.clone();
        format!("stored {noun} {id}\n{}", rule_fields(r))
    }
}

/// An amount of a limit's measure: `$1.25`, `1200 tokens`, `5 requests`.
fn amount(measure: &str, value: u64, usd: Option<&str>) -> String {
    match (measure, usd) {
        (_, Some(usd)) => format!("${usd}"),
        ("tokens", _) => format!("{value} tokens"),
        ("requests", _) => format!("{value} requests"),
        _ => value.to_string(),
    }
}

fn usage_table(usage: UsageView) -> String {
    if usage.limits.is_empty() {
        return format!("no rate limit or budget applies to {}\n", usage.subject);
    }
    let mut table = Table::new(&[
        "RULE",
        "KIND",
        "COUNTER",
        "USED",
        "LIMIT",
        "REMAINING",
        "PER",
        "RESETS",
        "NOTES",
    ]);
    for l in usage.limits {
        let LimitUsageView {
            rule,
            kind,
            measure,
            interval,
            subject,
            limit,
            used,
            remaining,
            limit_usd,
            used_usd,
            remaining_usd,
            reset_at,
            period,
            audit_mode,
            alerts_fired,
            conditional,
        } = l;
        let mut notes = Vec::new();
        if audit_mode {
            notes.push("audit mode".to_owned());
        }
        if !alerts_fired.is_empty() {
            let fired: Vec<String> = alerts_fired.iter().map(|p| format!("{p}%")).collect();
            notes.push(format!("alerted at {}", fired.join(", ")));
        }
        if conditional {
            notes.push("some requests only".to_owned());
        }
        table.row(vec![
            rule,
            kind.replace('_', " "),
            subject,
            amount(&measure, used, used_usd.as_deref()),
            amount(&measure, limit, limit_usd.as_deref()),
            amount(&measure, remaining, remaining_usd.as_deref()),
            period.unwrap_or(interval),
            reset_at,
            or_dash(Some(&notes.join("; "))),
        ]);
    }
    format!("usage of {}\n{}", usage.subject, table.render())
}

fn inspection_text(i: InspectionView) -> String {
    let mut out = match &i.reason {
        Some(reason) => format!("blocked: {reason}\n"),
        None => "allowed\n".to_owned(),
    };
    if !i.blocked {
        out.push_str(&format!("text: {}\n", i.text));
    }
    if i.findings.is_empty() {
        out.push_str("no findings\n");
        return out;
    }
    let mut table = Table::new(&["RULE", "DETECTOR", "KIND", "ACTION", "SPAN", "ENCODING"]);
    for f in i.findings {
        table.row(vec![
            f.rule_id,
            f.detector,
            f.kind,
            f.action,
            format!("{}..{}", f.span.start, f.span.end),
            or_dash(f.encoding.as_deref()),
        ]);
    }
    out.push_str(&table.render());
    out
}

fn authz_text(a: AuthzCheckView) -> String {
    let verdict = if a.allowed { "allowed" } else { "denied" };
    let policy = a
        .policy
        .as_ref()
        .map(|p| {
            format!(
                "{} ({}): {} {} {} {}",
                p.id,
                source(p),
                cell(&p.rule, "subject"),
                cell(&p.rule, "effect"),
                cell(&p.rule, "action"),
                cell(&p.rule, "resource"),
            )
        })
        .unwrap_or_default();
    format!(
        "{verdict}: {}\n{}",
        a.reason,
        fields(&[
            ("subject", a.subject),
            ("acting as", a.acting_as.join(" ")),
            ("policy", policy),
        ])
    )
}

// ---------------------------------------------------------------------------------------------
// Commands

/// Reads one rule from a YAML or JSON file, or standard input for `-`.
fn read_rule(file: &FileArg) -> Result<Value, ClientError> {
    read_document(file, "rule", "id: …, unit: …")
}

/// Reads one `what` (a mapping such as `example`) from a YAML or JSON file, or standard input
/// for `-`.
pub(super) fn read_document(
    file: &FileArg,
    what: &str,
    example: &str,
) -> Result<Value, ClientError> {
    let name = file.file.display().to_string();
    let text = if name == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| ClientError::Usage(format!("cannot read standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(&file.file)
            .map_err(|e| ClientError::Usage(format!("--file: cannot read {name}: {e}")))?
    };
    let value: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("--file: {name} is not YAML or JSON: {e}")))?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Array(_) => Err(ClientError::Usage(format!(
            "--file: {name} holds a list; put one {what} in the file, without the leading '-'"
        ))),
        _ => Err(ClientError::Usage(format!(
            "--file: {name} must hold one {what} (a mapping such as {example})"
        ))),
    }
}

/// `list`, `add` and `remove` on `collection` (e.g. `/budgets`).
async fn rules(
    cmd: RulesCommand,
    collection: &str,
    noun: &str,
    table: fn(Vec<RuleView>) -> String,
) -> Outcome {
    match cmd {
        RulesCommand::List { list, client } => {
            list_and_show(&client, collection, list, table).await
        }
        RulesCommand::Add { file, client } => {
            let body = read_rule(&file)?;
            call_and_show(&client, Method::POST, collection, Some(&body), stored(noun)).await
        }
        RulesCommand::Remove { id, client } => {
            let path = item(collection, &id);
            delete(&client, &path, format!("removed {noun} {id}")).await
        }
    }
}

pub async fn policies(cmd: PoliciesCommand) -> Outcome {
    match cmd {
        PoliciesCommand::List { list, client } => {
            list_and_show(&client, "/policies", list, policy_table).await
        }
        PoliciesCommand::Add {
            subject,
            resource,
            action,
            effect,
            team,
            client,
        } => {
            let effect = match effect {
                Effect::Allow => "allow",
                Effect::Deny => "deny",
            };
            let mut body = json!({
                "subject": subject, "resource": resource, "action": action, "effect": effect,
            });
            if let Some(team) = team {
                body["team"] = json!(team);
            }
            call_and_show(
                &client,
                Method::POST,
                "/policies",
                Some(&body),
                stored("policy"),
            )
            .await
        }
        PoliciesCommand::Remove { id, client } => {
            let path = item("/policies", &id);
            delete(&client, &path, format!("removed policy {id}")).await
        }
    }
}

pub async fn roles(cmd: RolesCommand) -> Outcome {
    match cmd {
        RolesCommand::List { list, client } => {
            list_and_show(&client, "/roles", list, role_table).await
        }
        RolesCommand::Add {
            member,
            role,
            team,
            client,
        } => {
            let mut body = json!({ "member": member, "role": role });
            if let Some(team) = team {
                body["team"] = json!(team);
            }
            call_and_show(
                &client,
                Method::POST,
                "/roles",
                Some(&body),
                stored("role assignment"),
            )
            .await
        }
        RolesCommand::Remove { id, client } => {
            let path = item("/roles", &id);
            delete(&client, &path, format!("removed role assignment {id}")).await
        }
    }
}

pub async fn limits(cmd: RulesCommand) -> Outcome {
    rules(cmd, "/rate-limits", "rate limit", rate_limit_table).await
}

pub async fn budgets(cmd: BudgetsCommand) -> Outcome {
    match cmd {
        BudgetsCommand::Rules(cmd) => rules(cmd, "/budgets", "budget", budget_table).await,
        BudgetsCommand::Status { whose, client } => {
            let query = match (&whose.user, &whose.service, &whose.team) {
                (Some(user), _, _) => format!("?user={}", path_segment(user)),
                (_, Some(service), _) => format!("?service={}", path_segment(service)),
                (_, _, Some(team)) => format!("?team={}", path_segment(team)),
                _ => String::new(),
            };
            let value = connect(&client)?
                .call(Method::GET, &format!("/usage{query}"), NO_BODY)
                .await?;
            show(value, client.json, usage_table)
        }
    }
}

pub async fn guardrails(cmd: GuardrailsCommand) -> Outcome {
    match cmd {
        GuardrailsCommand::Rules(cmd) => {
            rules(cmd, "/guardrails", "guardrail", guardrail_table).await
        }
        GuardrailsCommand::Test {
            text,
            stage,
            model,
            tool,
            agent,
            client,
        } => {
            let stage = match stage {
                StageArg::Input => "input",
                StageArg::Output => "output",
            };
            let mut body = json!({ "text": text, "stage": stage });
            for (field, value) in [("model", model), ("tool", tool), ("agent", agent)] {
                if let Some(value) = value {
                    body[field] = json!(value);
                }
            }
            call_and_show(
                &client,
                Method::POST,
                "/guardrails/check",
                Some(&body),
                inspection_text,
            )
            .await
        }
    }
}

pub async fn authz(cmd: AuthzCommand) -> Outcome {
    match cmd {
        AuthzCommand::Check {
            resource,
            action,
            subject,
            team,
            client,
        } => {
            let mut body = json!({ "resource": resource, "action": action });
            if let Some(subject) = subject {
                body["subject"] = json!(subject);
            }
            if let Some(team) = team {
                body["team"] = json!(team);
            }
            call_and_show(
                &client,
                Method::POST,
                "/authz/check",
                Some(&body),
                authz_text,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_amounts_read_well() {
        let rule = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            budget_amount(&rule(json!({"cost_per_month": 500}))),
            "$500.00/month"
        );
        assert_eq!(
            budget_amount(&rule(json!({"cost_per_day": 12.5}))),
            "$12.50/day"
        );
        assert_eq!(
            budget_amount(&rule(json!({"tokens_per_day": 1000}))),
            "1000 tokens/day"
        );
        assert_eq!(budget_amount(&rule(json!({}))), "-");
    }

    #[test]
    fn rule_files_hold_one_rule() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            FileArg { file: path }
        };
        let yaml = write("a.yaml", "id: daily\ncost_per_day: 12.50\n");
        assert_eq!(
            read_rule(&yaml).unwrap(),
            json!({"id": "daily", "cost_per_day": 12.5})
        );
        let json = write("a.json", r#"{"id": "rpm", "limit_to": 60}"#);
        assert_eq!(read_rule(&json).unwrap()["limit_to"], 60);
        let list = write("l.yaml", "- id: x\n");
        assert!(read_rule(&list).unwrap_err().to_string().contains("list"));
    }
}
