//! `agenthub trace` and `agenthub replay`: the traces of A2A exchanges through the admin API
//! (`/traces`), shown as trees, and a trace's inputs sent again to compare what happens now.
//!
//! Everything here works on the JSON the API answers with (`GET /api/v1/traces/{id}`): the
//! rendering of a tree, the texts of answers, what a replay re-sends, when a new trace is
//! complete, and the comparison of two traces. Only `trace`, `replay` and the requests they
//! make talk to a hub.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agenthub_a2a_bus::chain::PARENT_METADATA_KEY;
use agenthub_a2a_bus::protocol::{Method, ProtocolVersion, TaskState};
use agenthub_a2a_bus::signing::SIGNATURE_METADATA_KEY;
use clap::{Args, Subcommand};
use reqwest::{Method as HttpMethod, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::admin::{self, ClientArgs, NO_BODY, Outcome, connect, item, list_all, path_segment};
use super::client::ClientError;
use super::output::{Table, or_dash};

/// The answer header naming the exchange's trace.
const TRACE_ID_HEADER: &str = "x-agenthub-trace-id";
/// How many characters of a text a line shows.
const TEXT_WIDTH: usize = 60;
/// How often a replay looks at the new trace while it waits for it.
const POLL_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Show a trace as a tree: each relayed request (span) under the agent's request that
    /// caused it, with what was sent and answered. --json prints the API's JSON.
    Show {
        /// The trace id, e.g. from the x-agenthub-trace-id answer header or `trace list`.
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List recent traces, newest first, each by the request that started it (yours only,
    /// unless you may read the `agents` admin area).
    List {
        /// Only traces started at this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only traces started on this principal's behalf, e.g. user:alice.
        #[arg(long)]
        principal: Option<String>,
        /// At most this many traces.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `agenthub replay`: send a trace's inputs again and compare.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trace to replay.
    pub id: String,
    /// Send what was sent to agent OLD to agent NEW instead (repeatable; OLD is the agent of
    /// one of the trace's root spans).
    #[arg(long = "agent", value_name = "OLD=NEW", value_parser = agent_mapping)]
    pub agents: Vec<(String, String)>,
    /// How long to wait for the new trace to be complete after the answers came.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
    /// How long each request sent again may take to be answered.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn agent_mapping(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((old, new)) if !old.trim().is_empty() && !new.trim().is_empty() => {
            Ok((old.trim().to_owned(), new.trim().to_owned()))
        }
        _ => Err(format!("\"{value}\" is not OLD=NEW (two agent names)")),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the API's JSON

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn spans_of(value: &Value) -> &[Value] {
    list(value, "spans")
}

fn children_of(span: &Value) -> &[Value] {
    list(span, "children")
}

/// Every span of a trace (or below a list of spans), depth first.
fn all_spans(spans: &[Value]) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = spans.iter().rev().collect();
    while let Some(span) = stack.pop() {
        out.push(span);
        stack.extend(children_of(span).iter().rev());
    }
    out
}

/// What an A2A document (a result or a stream event, either version) carries.
enum Payload<'a> {
    Task(&'a Value),
    Message(&'a Value),
    Status(&'a Value),
    Artifact(&'a Value),
}

fn payload(body: &Value) -> Option<Payload<'_>> {
    // v0.3 names the kind of each object.
    match text(body, "kind") {
        Some("task") => return Some(Payload::Task(body)),
        Some("message") => return Some(Payload::Message(body)),
        Some("status-update") => return Some(Payload::Status(body)),
        Some("artifact-update") => return Some(Payload::Artifact(body)),
        _ => {}
    }
    // v1.0 wraps it in a field named after it.
    let inner = |key: &str| body.get(key).filter(|v| v.is_object());
    if let Some(task) = inner("task") {
        return Some(Payload::Task(task));
    }
    if let Some(message) = inner("message") {
        return Some(Payload::Message(message));
    }
    if let Some(update) = inner("statusUpdate") {
        return Some(Payload::Status(update));
    }
    if let Some(update) = inner("artifactUpdate") {
        return Some(Payload::Artifact(update));
    }
    // A task itself (v1.0 GetTask, CancelTask).
    if body.get("status").is_some() && body.get("id").is_some() {
        return Some(Payload::Task(body));
    }
    None
}

/// A task state in one spelling whatever the version: `completed`, `input-required`.
fn state_name(name: &str) -> String {
    TaskState::from_v1(name)
        .or_else(|| TaskState::from_v0_3(name))
        .map_or_else(|| name.to_lowercase(), |state| state.v0_3_name().to_owned())
}

fn state_of(holder: &Value) -> Option<String> {
    let status = holder.get("status")?;
    Some(match text(status, "state") {
        Some(name) => state_name(name),
        // v1.0 leaves TASK_STATE_UNSPECIFIED out.
        None => "unknown".to_owned(),
    })
}

/// What a part says: its text, its data as JSON, or which file it is.
fn part_text(part: &Value) -> Option<String> {
    if let Some(text) = text(part, "text") {
        return Some(text.to_owned());
    }
    if let Some(data) = part.get("data") {
        return Some(data.to_string());
    }
    let file = part.get("file").unwrap_or(part);
    let name = text(file, "name")
        .or_else(|| text(file, "filename"))
        .or_else(|| text(file, "uri"))
        .or_else(|| text(file, "url"));
    match name {
        Some(name) => Some(format!("[file {name}]")),
        None if part.get("file").is_some() || part.get("raw").is_some() => Some("[file]".into()),
        None => None,
    }
}

/// The parts of a message or artifact as one text.
fn parts_text(holder: &Value) -> Option<String> {
    let texts: Vec<String> = list(holder, "parts").iter().filter_map(part_text).collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

fn is_from_user(message: &Value) -> bool {
    matches!(text(message, "role"), Some("user" | "ROLE_USER"))
}

/// The final answer of a span: the task's last state, and what it answered (its artifacts,
/// the agent's messages, the last status's message), gathered from its events in order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Answer {
    pub state: Option<String>,
    pub texts: Vec<String>,
}

pub fn answer(span: &Value) -> Answer {
    let mut state = None;
    let mut artifacts: Vec<(String, String)> = Vec::new();
    let mut messages = Vec::new();
    let mut status_text = None;
    let mut set_artifact = |artifact: &Value, append: bool| {
        let id = text(artifact, "artifactId").unwrap_or_default().to_owned();
        let text = parts_text(artifact).unwrap_or_default();
        match artifacts.iter_mut().find(|(known, _)| *known == id) {
            Some((_, existing)) if append => existing.push_str(&text),
            Some((_, existing)) => *existing = text,
            None => artifacts.push((id, text)),
        }
    };
    for event in list(span, "events") {
        if text(event, "kind") == Some("request") {
            continue;
        }
        let Some(body) = event.get("body") else {
            continue;
        };
        match payload(body) {
            Some(Payload::Task(task)) => {
                state = state_of(task).or(state);
                for artifact in list(task, "artifacts") {
                    set_artifact(artifact, false);
                }
                status_text = task
                    .get("status")
                    .and_then(|s| s.get("message"))
                    .and_then(parts_text);
            }
            Some(Payload::Status(update)) => {
                state = state_of(update).or(state);
                status_text = update
                    .get("status")
                    .and_then(|s| s.get("message"))
                    .and_then(parts_text);
            }
            Some(Payload::Artifact(update)) => {
                if let Some(artifact) = update.get("artifact") {
                    let append = update.get("append").and_then(Value::as_bool) == Some(true);
                    set_artifact(artifact, append);
                }
            }
            Some(Payload::Message(message)) if !is_from_user(message) => {
                messages.extend(parts_text(message));
            }
            Some(Payload::Message(_)) | None => {}
        }
    }
    let texts = artifacts
        .into_iter()
        .map(|(_, text)| text)
        .chain(messages)
        .chain(status_text)
        .filter(|text| !text.is_empty())
        .collect();
    Answer { state, texts }
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// A text on one line: whitespace runs become one space, control characters are escaped, and
/// it is cut at `width` characters.
fn one_line(text: &str, width: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    for (i, c) in collapsed.chars().enumerate() {
        if i == width {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", one_line(text, TEXT_WIDTH).replace('"', "\\\""))
}

/// The first `n` characters of an id, and `…` when there is more.
fn short(id: &str, n: usize) -> String {
    if id.chars().count() <= n {
        one_line(id, n)
    } else {
        format!("{}…", one_line(&id.chars().take(n).collect::<String>(), n))
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// `state: "text"`, or either alone.
fn state_and_text(state: Option<String>, texts: &[String]) -> String {
    let texts = texts.join(" ");
    match (state, texts.is_empty()) {
        (Some(state), true) => state,
        (Some(state), false) => format!("{state}: {}", quoted(&texts)),
        (None, false) => quoted(&texts),
        (None, true) => "-".into(),
    }
}

/// What a result or stream event says, briefly.
fn describe(body: &Value) -> String {
    match payload(body) {
        Some(Payload::Task(task)) => {
            let mut texts: Vec<String> = list(task, "artifacts")
                .iter()
                .filter_map(parts_text)
                .collect();
            texts.extend(
                task.get("status")
                    .and_then(|s| s.get("message"))
                    .and_then(parts_text),
            );
            state_and_text(state_of(task), &texts)
        }
        Some(Payload::Status(update)) => {
            let texts: Vec<String> = update
                .get("status")
                .and_then(|s| s.get("message"))
                .and_then(parts_text)
                .into_iter()
                .collect();
            state_and_text(state_of(update), &texts)
        }
        Some(Payload::Artifact(update)) => {
            let text = update
                .get("artifact")
                .and_then(parts_text)
                .unwrap_or_default();
            if update.get("append").and_then(Value::as_bool) == Some(true) {
                format!("+ {}", quoted(&text))
            } else {
                quoted(&text)
            }
        }
        Some(Payload::Message(message)) => match parts_text(message) {
            Some(text) => quoted(&text),
            None => "message".into(),
        },
        None => one_line(&body.to_string(), TEXT_WIDTH),
    }
}

/// What a request asked: its message's text, or the task it is about.
fn describe_request(body: &Value) -> String {
    let params = body.get("params").unwrap_or(&Value::Null);
    if let Some(message) = params.get("message") {
        return match parts_text(message) {
            Some(text) => quoted(&text),
            None => "message".into(),
        };
    }
    match text(params, "id").or_else(|| text(params, "taskId")) {
        Some(task) => format!("task {}", short(task, 8)),
        None => one_line(&params.to_string(), TEXT_WIDTH),
    }
}

fn event_line(event: &Value) -> String {
    let kind = text(event, "kind").unwrap_or("event");
    let body = event.get("body").filter(|b| !b.is_null());
    let what = match (kind, body) {
        ("request", Some(body)) => describe_request(body),
        ("end", _) => one_line(text(event, "outcome").unwrap_or("ended"), TEXT_WIDTH),
        (_, Some(body)) => describe(body),
        (_, None) => String::new(),
    };
    format!("{:<9} {what}", one_line(kind, 16))
        .trim_end()
        .to_owned()
}

fn outcome_of(span: &Value) -> String {
    match text(span, "outcome") {
        Some(outcome) => one_line(outcome, TEXT_WIDTH),
        None => "open".into(),
    }
}

fn span_line(span: &Value) -> String {
    let chain: Vec<&str> = list(span, "chain")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let who = if chain.len() > 1 {
        chain.join(" → ")
    } else {
        text(span, "principal").unwrap_or("-").to_owned()
    };
    let mut line = format!(
        "{}  {}  {}  {}",
        one_line(text(span, "agent").unwrap_or("-"), TEXT_WIDTH),
        one_line(text(span, "method").unwrap_or("-"), TEXT_WIDTH),
        one_line(&who, 2 * TEXT_WIDTH),
        outcome_of(span)
    );
    if let Some(ms) = span.get("duration_ms").and_then(Value::as_i64) {
        let _ = write!(line, "  {ms} ms");
    }
    if let Some(task) = text(span, "task_id") {
        let _ = write!(line, "  task {}", short(task, 8));
    }
    line
}

fn render_spans(spans: &[Value], prefix: &str, out: &mut String) {
    for (i, span) in spans.iter().enumerate() {
        let last = i + 1 == spans.len();
        let _ = writeln!(
            out,
            "{prefix}{}{}",
            if last { "└─ " } else { "├─ " },
            span_line(span)
        );
        let inner = format!("{prefix}{}", if last { "   " } else { "│  " });
        for event in list(span, "events") {
            let _ = writeln!(out, "{inner}│ {}", event_line(event));
        }
        render_spans(children_of(span), &inner, out);
    }
}

/// A trace as a tree, one line per span and per event.
pub fn render_trace(trace: &Value) -> String {
    let spans = spans_of(trace);
    let mut out = format!(
        "trace {}  {}  {} ms",
        short(text(trace, "trace_id").unwrap_or("-"), 8),
        plural(all_spans(spans).len(), "span"),
        trace
            .get("duration_ms")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    );
    if trace.get("truncated").and_then(Value::as_bool) == Some(true) {
        out.push_str("  (truncated: only its first events are shown)");
    }
    out.push('\n');
    render_spans(spans, "", &mut out);
    out
}

#[derive(serde::Deserialize)]
struct Summary {
    trace_id: String,
    agent: String,
    method: String,
    principal: String,
    started_at: String,
    outcome: Option<String>,
    duration_ms: Option<i64>,
    spans: i64,
}

fn trace_table(traces: Vec<Summary>) -> String {
    let mut table = Table::new(&[
        "TRACE",
        "STARTED",
        "AGENT",
        "METHOD",
        "PRINCIPAL",
        "SPANS",
        "OUTCOME",
        "DURATION",
    ]);
    for t in traces {
        table.row(vec![
            t.trace_id,
            t.started_at,
            t.agent,
            t.method,
            t.principal,
            t.spans.to_string(),
            t.outcome
                .map_or_else(|| "open".into(), |o| one_line(&o, 40)),
            or_dash(t.duration_ms.map(|ms| format!("{ms} ms")).as_deref()),
        ]);
    }
    table.render()
}

// ---------------------------------------------------------------------------------------------
// The comparison

/// One field that differs between a recorded span and its replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub field: &'static str,
    pub recorded: String,
    pub replayed: String,
}

/// A position in the tree (`1`, `1.2`: the second child of the first root) and how its span
/// in the recorded trace compares with the one in the replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanDiff {
    pub position: String,
    /// The agent of the span at this position in each trace, if there is one.
    pub recorded: Option<String>,
    pub replayed: Option<String>,
    pub differences: Vec<Difference>,
}

fn answer_text(answer: &Answer) -> String {
    if answer.texts.is_empty() {
        "-".into()
    } else {
        answer
            .texts
            .iter()
            .map(|t| quoted(t))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn compare(recorded: &Value, replayed: &Value) -> Vec<Difference> {
    let mut differences = Vec::new();
    let mut check = |field: &'static str, recorded: String, replayed: String, same: bool| {
        if !same {
            differences.push(Difference {
                field,
                recorded,
                replayed,
            });
        }
    };
    for field in ["agent", "method"] {
        let (a, b) = (text(recorded, field), text(replayed, field));
        check(
            field,
            one_line(a.unwrap_or("-"), TEXT_WIDTH),
            one_line(b.unwrap_or("-"), TEXT_WIDTH),
            a == b,
        );
    }
    let (a, b) = (text(recorded, "outcome"), text(replayed, "outcome"));
    check(
        "outcome",
        outcome_of(recorded),
        outcome_of(replayed),
        a == b,
    );
    let (a, b) = (answer(recorded), answer(replayed));
    let dash = |state: &Option<String>| state.clone().unwrap_or_else(|| "-".into());
    check("state", dash(&a.state), dash(&b.state), a.state == b.state);
    check(
        "answer",
        answer_text(&a),
        answer_text(&b),
        a.texts == b.texts,
    );
    differences
}

fn diff_level(prefix: &str, recorded: &[Value], replayed: &[Value], out: &mut Vec<SpanDiff>) {
    for i in 0..recorded.len().max(replayed.len()) {
        let position = if prefix.is_empty() {
            (i + 1).to_string()
        } else {
            format!("{prefix}.{}", i + 1)
        };
        let (a, b) = (recorded.get(i), replayed.get(i));
        let agent = |span: Option<&Value>| {
            span.map(|s| one_line(text(s, "agent").unwrap_or("-"), TEXT_WIDTH))
        };
        out.push(SpanDiff {
            position: position.clone(),
            recorded: agent(a),
            replayed: agent(b),
            differences: match (a, b) {
                (Some(a), Some(b)) => compare(a, b),
                _ => Vec::new(),
            },
        });
        diff_level(
            &position,
            a.map_or(&[][..], children_of),
            b.map_or(&[][..], children_of),
            out,
        );
    }
}

/// The spans of two traces matched by their position in the tree, and what differs in each:
/// agent, method, outcome, final state, final answer.
pub fn diff(recorded: &Value, replayed: &Value) -> Vec<SpanDiff> {
    let mut out = Vec::new();
    diff_level("", spans_of(recorded), spans_of(replayed), &mut out);
    out
}

/// The comparison as lines: each position with `same`, `differs` and what does, or the
/// trace it is only in.
pub fn render_diff(diffs: &[SpanDiff]) -> Vec<String> {
    let width = diffs.iter().map(|d| d.position.len()).max().unwrap_or(0);
    let mut lines = Vec::new();
    for d in diffs {
        let (agent, verdict) = match (&d.recorded, &d.replayed) {
            (Some(agent), Some(_)) if d.differences.is_empty() => (agent, "same"),
            (Some(agent), Some(_)) => (agent, "differs"),
            (Some(agent), None) => (agent, "only in the recorded trace"),
            (None, Some(agent)) => (agent, "only in the replay"),
            (None, None) => continue,
        };
        lines.push(format!("{:<width$}  {agent}  {verdict}", d.position));
        for difference in &d.differences {
            lines.push(format!(
                "{:width$}    {}: {} → {}",
                "", difference.field, difference.recorded, difference.replayed
            ));
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// What a replay sends

/// One request a replay sends: a root span's input, made fresh.
#[derive(Debug, Clone, PartialEq)]
pub struct Resend {
    /// The position of the root span it replays (`1`, `2`, …).
    pub position: usize,
    pub agent: String,
    /// `1.0` or `0.3`: the version it was sent in.
    pub version: ProtocolVersion,
    /// The JSON-RPC method, in that version.
    pub method: &'static str,
    pub params: Value,
}

impl Resend {
    /// The JSON-RPC request, with `id` as its id.
    pub fn body(&self, id: usize) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": self.method, "params": self.params})
    }
}

fn strip_hub_metadata(holder: &mut Map<String, Value>) {
    if let Some(Value::Object(metadata)) = holder.get_mut("metadata") {
        metadata.remove(PARENT_METADATA_KEY);
        metadata.remove(SIGNATURE_METADATA_KEY);
        if metadata.is_empty() {
            holder.remove("metadata");
        }
    }
}

/// The recorded params made into a new request: a new `messageId`, no task or context to
/// continue (so that it starts afresh), and none of the hub's signature or delegation
/// metadata, which the hub adds again.
pub fn fresh_params(params: &Value, message_id: &str) -> Value {
    let mut params = params.clone();
    if let Value::Object(top) = &mut params {
        strip_hub_metadata(top);
        if let Some(Value::Object(message)) = top.get_mut("message") {
            message.insert("messageId".into(), Value::String(message_id.to_owned()));
            message.remove("taskId");
            message.remove("contextId");
            strip_hub_metadata(message);
        }
    }
    params
}

/// What a replay of `trace` sends: each root span that sent a message, to its agent (or the
/// one `agents` maps it to), in the version it was sent in; and a note for each root span
/// left out. A mapping that names no root span's agent is a usage error.
pub fn resends(
    trace: &Value,
    agents: &[(String, String)],
    new_id: &mut impl FnMut() -> String,
) -> Result<(Vec<Resend>, Vec<String>), ClientError> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for (i, span) in spans_of(trace).iter().enumerate() {
        let position = i + 1;
        let agent = text(span, "agent").unwrap_or_default();
        let method_name = text(span, "method").unwrap_or_default();
        let request = list(span, "events")
            .iter()
            .find(|e| text(e, "kind") == Some("request"))
            .and_then(|e| e.get("body"));
        let method = Method::from_name(method_name).map(|(m, _)| m);
        let leave_out = |why: &str| {
            format!("root span {position} ({agent} {method_name}) is not sent again: {why}")
        };
        let Some(method @ (Method::SendMessage | Method::SendStreamingMessage)) = method else {
            notes.push(leave_out("only messages are"));
            continue;
        };
        let Some(request) = request else {
            notes.push(leave_out("its request was not recorded"));
            continue;
        };
        let version = text(request, "version")
            .and_then(ProtocolVersion::parse)
            .unwrap_or(ProtocolVersion::V1_0);
        let Some(params) = request.get("params").filter(|p| p.get("message").is_some()) else {
            notes.push(leave_out("its request has no message"));
            continue;
        };
        let Some(name) = method.name(version) else {
            notes.push(leave_out("its method has no name in its version"));
            continue;
        };
        let target = agents
            .iter()
            .find(|(old, _)| old == agent)
            .map_or(agent, |(_, new)| new.as_str());
        out.push(Resend {
            position,
            agent: target.to_owned(),
            version,
            method: name,
            params: fresh_params(params, &new_id()),
        });
    }
    let sent_from: Vec<&str> = spans_of(trace)
        .iter()
        .filter_map(|s| text(s, "agent"))
        .collect();
    for (old, _) in agents {
        if !sent_from.contains(&old.as_str()) {
            return Err(ClientError::Usage(format!(
                "--agent {old}=…: no root span of this trace is at agent {old} (its root spans are at: {})",
                or_dash(Some(&sent_from.join(", ")))
            )));
        }
    }
    Ok((out, notes))
}

/// How far a trace has come: its spans, and how many of them have not ended.
fn progress(trace: &Value) -> (usize, usize) {
    let spans = all_spans(spans_of(trace));
    let open = spans
        .iter()
        .filter(|s| text(s, "outcome").is_none())
        .count();
    (spans.len(), open)
}

/// The messages of JSON-RPC errors in an answer: one JSON body, or an event stream of them.
fn jsonrpc_errors(body: &str) -> Vec<String> {
    let documents: Vec<Value> = match serde_json::from_str::<Value>(body) {
        Ok(document) => vec![document],
        Err(_) => body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect(),
    };
    documents
        .iter()
        .filter_map(|d| d.get("error"))
        .map(
            |e| match (e.get("code").and_then(Value::as_i64), text(e, "message")) {
                (Some(code), Some(message)) => format!("{message} ({code})"),
                (None, Some(message)) => message.to_owned(),
                _ => e.to_string(),
            },
        )
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Talking to the hub

/// The HTTP client for A2A requests: the admin client's settings (`--ca-cert`), with the time
/// a request may take.
fn a2a_http(args: &ClientArgs, timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let mut builder = crate::outbound::client_builder()
        .user_agent(concat!("agenthub-cli/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout);
    if let Some(path) = &args.ca_cert {
        builder = builder.tls_backend_preconfigured(tls_trusting(path)?);
    }
    builder
        .build()
        .map_err(|e| ClientError::Usage(format!("cannot build the HTTP client: {e}")))
}

fn tls_trusting(path: &PathBuf) -> Result<rustls::ClientConfig, ClientError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            ClientError::Usage(format!("--ca-cert: cannot read {}: {e}", path.display()))
        })?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| ClientError::Usage(format!("--ca-cert: {e}")))?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Usage(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// What the hub answered a request sent again.
struct Sent {
    trace_id: Option<String>,
    errors: Vec<String>,
}

async fn send(
    http: &reqwest::Client,
    args: &ClientArgs,
    resend: &Resend,
    traceparent: Option<&str>,
) -> Result<Sent, ClientError> {
    let base = args.url.trim_end_matches('/');
    let key = args
        .key
        .clone()
        .filter(|k| !k.is_empty())
        .or_else(|| super::login::stored_token(base));
    let mut request = http
        .post(format!("{base}/a2a/{}", path_segment(&resend.agent)))
        .header("A2A-Version", resend.version.as_str())
        .json(&resend.body(resend.position));
    if resend.method
        == Method::SendStreamingMessage
            .name(resend.version)
            .unwrap_or_default()
    {
        request = request.header(reqwest::header::ACCEPT, "text/event-stream");
    }
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let unreachable = |e: reqwest::Error| ClientError::Unreachable {
        url: base.to_owned(),
        cause: e.to_string(),
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let trace_id = response
        .headers()
        .get(TRACE_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A stream is read to its end: the hub records its events as they are relayed.
    let body = response.text().await.map_err(unreachable)?;
    let errors = jsonrpc_errors(&body);
    if !status.is_success() {
        let message = errors
            .first()
            .cloned()
            .unwrap_or_else(|| one_line(&body, 200));
        return Err(ClientError::Api { status, message });
    }
    Ok(Sent { trace_id, errors })
}

/// A trace as it stood when a replay stopped waiting for it.
enum Waited {
    /// Every span ended, and the count stayed the same between two looks.
    Complete(Value),
    /// Still changing when the time was up.
    Incomplete(Value),
    /// Never recorded.
    Missing,
}

async fn wait_for(
    client: &super::client::Client,
    id: &str,
    wait: Duration,
) -> Result<Waited, ClientError> {
    let deadline = tokio::time::Instant::now() + wait;
    let path = item("/traces", id);
    let mut settled_at: Option<usize> = None;
    let mut latest = None;
    loop {
        match client.call::<Value>(HttpMethod::GET, &path, NO_BODY).await {
            Ok(trace) => {
                let (spans, open) = progress(&trace);
                if open == 0 && settled_at == Some(spans) {
                    return Ok(Waited::Complete(trace));
                }
                settled_at = (open == 0).then_some(spans);
                latest = Some(trace);
            }
            // Not written yet: the hub stores traces in batches.
            Err(ClientError::Api { status, .. }) if status == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(latest.map_or(Waited::Missing, Waited::Incomplete));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Why a replay could not run: the message, or the client's error.
enum Failed {
    Client(ClientError),
    Because(String),
}

impl From<ClientError> for Failed {
    fn from(error: ClientError) -> Self {
        Self::Client(error)
    }
}

fn new_span_id() -> String {
    format!("{:016x}", fastrand::u64(1..))
}

async fn run_replay(args: ReplayArgs) -> Result<(), Failed> {
    let client = connect(&args.client)?;
    let recorded: Value = client
        .call(HttpMethod::GET, &item("/traces", &args.id), NO_BODY)
        .await?;
    let (resends, notes) = resends(&recorded, &args.agents, &mut || {
        uuid::Uuid::new_v4().to_string()
    })?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    if resends.is_empty() {
        return Err(Failed::Because(format!(
            "trace {} has no root span that sent a message: nothing to send again",
            args.id
        )));
    }
    let http = a2a_http(&args.client, args.timeout)?;
    let mut new_trace: Option<String> = None;
    let mut errors = Vec::new();
    for resend in &resends {
        // The first request starts the new trace; the others join it as roots of their own.
        let traceparent = new_trace
            .as_ref()
            .map(|trace| format!("00-{trace}-{}-01", new_span_id()));
        let sent = send(&http, &args.client, resend, traceparent.as_deref()).await?;
        errors.extend(
            sent.errors
                .into_iter()
                .map(|e| format!("root span {} ({}): {e}", resend.position, resend.agent)),
        );
        if new_trace.is_none() {
            new_trace = Some(sent.trace_id.ok_or_else(|| {
                Failed::Because(format!(
                    "the hub's answer has no {TRACE_ID_HEADER} header: the new trace cannot be found"
                ))
            })?);
        }
    }
    let new_trace = new_trace.unwrap_or_default();
    let (replayed, complete) = match wait_for(&client, &new_trace, args.wait).await? {
        Waited::Complete(trace) => (trace, true),
        Waited::Incomplete(trace) => (trace, false),
        Waited::Missing => {
            let why = if errors.is_empty() {
                format!(
                    "no trace was recorded within {}",
                    humantime::format_duration(args.wait)
                )
            } else {
                format!("the hub refused it: {}", errors.join("; "))
            };
            return Err(Failed::Because(format!("the replay did not run: {why}")));
        }
    };
    let diffs = diff(&recorded, &replayed);
    if args.client.json {
        admin::print_json(&json!({
            "recorded_trace_id": args.id,
            "trace_id": new_trace,
            "complete": complete,
            "trace": replayed,
            "diff": diffs,
        }));
        return Ok(());
    }
    println!("replayed trace {} as {new_trace}", args.id);
    for error in &errors {
        println!("error answer: {}", one_line(error, 2 * TEXT_WIDTH));
    }
    if !complete {
        println!(
            "note: the new trace was still changing after {}; it may be incomplete",
            humantime::format_duration(args.wait)
        );
    }
    print!("{}", render_trace(&replayed));
    println!();
    println!("compared with the recorded trace (by position in the tree):");
    for line in render_diff(&diffs) {
        println!("{line}");
    }
    Ok(())
}

/// `agenthub replay`: 0 when the replay ran (differences are its output), 1 when it could
/// not, 2 for a usage error.
pub fn replay(args: ReplayArgs) -> ExitCode {
    let mut failure = None;
    let code = admin::block_on(async {
        match run_replay(args).await {
            Ok(()) => Ok(()),
            Err(Failed::Client(error)) => Err(error),
            Err(Failed::Because(why)) => {
                failure = Some(why);
                Ok(())
            }
        }
    });
    match failure {
        Some(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
        None => code,
    }
}

/// `/traces?…` with the filters given, escaped.
fn list_path(agent: Option<&str>, principal: Option<&str>) -> String {
    let query: Vec<String> = [("agent", agent), ("principal", principal)]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| format!("{key}={}", path_segment(v))))
        .collect();
    if query.is_empty() {
        "/traces".into()
    } else {
        format!("/traces?{}", query.join("&"))
    }
}

pub async fn trace(cmd: TraceCommand) -> Outcome {
    match cmd {
        TraceCommand::Show { id, client } => {
            admin::get_and_show(&client, &item("/traces", &id), |trace: Value| {
                render_trace(&trace)
            })
            .await
        }
        TraceCommand::List {
            agent,
            principal,
            limit,
            client,
        } => {
            if limit == 0 {
                return Err(ClientError::Usage("--limit must be at least 1".into()));
            }
            let path = list_path(agent.as_deref(), principal.as_deref());
            let items = list_all(&connect(&client)?, &path, Some(limit)).await?;
            admin::show_list(items, client.json, trace_table)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn event(seq: i64, kind: &str, body: Value) -> Value {
        json!({"seq": seq, "at": "2027-01-31T12:00:00.000Z", "kind": kind, "body": body})
    }

    fn request(version: &str, text: &str) -> Value {
        event(
            0,
            "request",
            json!({"target": "x", "version": version, "params": {"message": {
                "messageId": "m-old", "role": "ROLE_USER", "taskId": "t-old", "contextId": "c-old",
                "parts": [{"text": text}],
                "metadata": {"agenthub/signature": {"jws": "…"}, "agenthub/parent": {"grant": "…"}, "mine": 1},
            }}}),
        )
    }

    /// A v1.0 SendMessage answer: a task in `state` with one artifact saying `text`.
    fn task_response(state: &str, text: &str) -> Value {
        event(
            1,
            "response",
            json!({"task": {"id": "3241aa55-0000", "contextId": "c1",
                "status": {"state": state},
                "artifacts": [{"artifactId": "a1", "parts": [{"text": text}]}]}}),
        )
    }

    fn span(
        agent: &str,
        chain: &[&str],
        outcome: Option<&str>,
        events: Vec<Value>,
        children: Vec<Value>,
    ) -> Value {
        json!({
            "span_id": format!("span-{agent}"), "parent_span_id": null, "agent": agent,
            "method": "SendMessage", "principal": chain[0], "chain": chain,
            "context_id": "c1", "task_id": "3241aa55-0000",
            "started_at": "2027-01-31T12:00:00.000Z",
            "duration_ms": outcome.map(|_| 35), "outcome": outcome,
            "events": events, "children": children,
        })
    }

    fn trace(spans: Vec<Value>) -> Value {
        json!({"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "started_at": "2027-01-31T12:00:00.000Z",
            "duration_ms": 143, "spans": spans})
    }

    /// planner (for alice) delegating to booker, which answers `booker_says`.
    fn delegation(booker_state: &str, booker_says: &str) -> Value {
        let booker = span(
            "booker",
            &["user:alice", "agent:planner"],
            Some("ok"),
            vec![
                request("1.0", "echo hi"),
                task_response(booker_state, booker_says),
            ],
            vec![],
        );
        let planner = span(
            "planner",
            &["user:alice"],
            Some("ok"),
            vec![
                request("1.0", "delegate booker echo hi"),
                task_response(
                    "TASK_STATE_COMPLETED",
                    &format!("booker said: {booker_says}"),
                ),
            ],
            vec![booker],
        );
        trace(vec![planner])
    }

    #[test]
    fn a_trace_is_rendered_as_a_tree() {
        let mut recorded = delegation("TASK_STATE_COMPLETED", "hi");
        // A second root, still open, with a stream's events.
        recorded["spans"].as_array_mut().unwrap().push(span(
            "echo",
            &["user:alice"],
            None,
            vec![
                request("0.3", "line one\nline two"),
                event(1, "status", json!({"kind": "status-update", "taskId": "t", "status": {"state": "working"}})),
                event(2, "artifact", json!({"kind": "artifact-update", "taskId": "t", "append": true,
                    "artifact": {"artifactId": "a", "parts": [{"kind": "text", "text": "x".repeat(70)}]}})),
            ],
            vec![],
        ));
        let expected = "\
trace 4bf92f35…  3 spans  143 ms
├─ planner  SendMessage  user:alice  ok  35 ms  task 3241aa55…
│  │ request   \"delegate booker echo hi\"
│  │ response  completed: \"booker said: hi\"
│  └─ booker  SendMessage  user:alice → agent:planner  ok  35 ms  task 3241aa55…
│     │ request   \"echo hi\"
│     │ response  completed: \"hi\"
└─ echo  SendMessage  user:alice  open  task 3241aa55…
   │ request   \"line one line two\"
   │ status    working
   │ artifact  + \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…\"
";
        assert_eq!(render_trace(&recorded), expected);
    }

    #[test]
    fn outcomes_and_odd_answers_are_rendered_on_one_line() {
        let failed = span(
            "echo",
            &["user:bob"],
            Some("error: the agent \u{1b}[31mfailed\nbadly"),
            vec![
                event(
                    0,
                    "request",
                    json!({"version": "1.0", "params": {"id": "task-123456789"}}),
                ),
                event(1, "end", Value::Null),
            ],
            vec![],
        );
        let mut failed = failed;
        failed["events"][1]["outcome"] = failed["outcome"].clone();
        let text = render_trace(&trace(vec![failed]));
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "trace 4bf92f35…  1 span  143 ms",
                "└─ echo  SendMessage  user:bob  error: the agent \\u{1b}[31mfailed badly  35 ms  task 3241aa55…",
                "   │ request   task task-123…",
                "   │ end       error: the agent \\u{1b}[31mfailed badly",
            ]
        );
    }

    #[test]
    fn answers_are_read_from_results_and_streams_of_either_version() {
        let answer_of =
            |events: Vec<Value>| answer(&span("a", &["user:x"], Some("ok"), events, vec![]));
        // v1.0 result.
        assert_eq!(
            answer_of(vec![task_response(
                "TASK_STATE_INPUT_REQUIRED",
                "which day?"
            )]),
            Answer {
                state: Some("input-required".into()),
                texts: vec!["which day?".into()]
            }
        );
        // A v0.3 stream: appended artifact chunks, a final status with a message.
        let v0_3 = answer_of(vec![
            request("0.3", "hi"),
            event(
                1,
                "task",
                json!({"kind": "task", "id": "t", "status": {"state": "submitted"}}),
            ),
            event(
                2,
                "artifact",
                json!({"kind": "artifact-update", "artifact": {"artifactId": "a", "parts": [{"kind": "text", "text": "Hel"}]}}),
            ),
            event(
                3,
                "artifact",
                json!({"kind": "artifact-update", "append": true, "artifact": {"artifactId": "a", "parts": [{"kind": "text", "text": "lo"}]}}),
            ),
            event(
                4,
                "status",
                json!({"kind": "status-update", "final": true, "status": {"state": "completed",
                "message": {"kind": "message", "role": "agent", "parts": [{"kind": "text", "text": "done"}]}}}),
            ),
        ]);
        // The same in v1.0.
        let v1 = answer_of(vec![
            request("1.0", "hi"),
            event(
                1,
                "task",
                json!({"task": {"id": "t", "status": {"state": "TASK_STATE_SUBMITTED"}}}),
            ),
            event(
                2,
                "artifact",
                json!({"artifactUpdate": {"artifact": {"artifactId": "a", "parts": [{"text": "Hel"}]}}}),
            ),
            event(
                3,
                "artifact",
                json!({"artifactUpdate": {"append": true, "artifact": {"artifactId": "a", "parts": [{"text": "lo"}]}}}),
            ),
            event(
                4,
                "status",
                json!({"statusUpdate": {"status": {"state": "TASK_STATE_COMPLETED",
                "message": {"role": "ROLE_AGENT", "parts": [{"text": "done"}]}}}}),
            ),
        ]);
        assert_eq!(
            v0_3,
            Answer {
                state: Some("completed".into()),
                texts: vec!["Hello".into(), "done".into()]
            }
        );
        assert_eq!(v1, v0_3);
        // A message answer, with data and file parts; the user's own message is not an answer.
        let message = answer_of(vec![
            event(
                1,
                "message",
                json!({"message": {"role": "ROLE_USER", "parts": [{"text": "echo"}]}}),
            ),
            event(
                2,
                "response",
                json!({"message": {"role": "ROLE_AGENT", "parts": [
                {"text": "see"}, {"data": {"n": 1}}, {"url": "https://x/y.pdf", "filename": "y.pdf"}]}}),
            ),
        ]);
        assert_eq!(
            message,
            Answer {
                state: None,
                texts: vec!["see\n{\"n\":1}\n[file y.pdf]".into()]
            }
        );
    }

    /// The diff of each (name, recorded, replayed) as its rendered lines.
    #[test]
    fn replays_are_compared_span_by_span() {
        let same = delegation("TASK_STATE_COMPLETED", "hi");
        let mut mapped = delegation("TASK_STATE_FAILED", "hello");
        mapped["spans"][0]["agent"] = json!("planner-v2");
        let mut more = delegation("TASK_STATE_COMPLETED", "hi");
        let extra = span(
            "echo",
            &["user:alice", "agent:planner"],
            Some("error: gone"),
            vec![],
            vec![],
        );
        more["spans"][0]["children"]
            .as_array_mut()
            .unwrap()
            .push(extra);
        let mut fewer = delegation("TASK_STATE_COMPLETED", "hi");
        fewer["spans"][0]["children"] = json!([]);
        fewer["spans"][0]["outcome"] = Value::Null;
        let nothing = trace(vec![]);
        let cases: Vec<(&str, &Value, &Value, Vec<&str>)> = vec![
            (
                "identical",
                &same,
                &same,
                vec!["1    planner  same", "1.1  booker  same"],
            ),
            (
                "another agent, another answer",
                &same,
                &mapped,
                vec![
                    "1    planner  differs",
                    "       agent: planner → planner-v2",
                    "       answer: \"booker said: hi\" → \"booker said: hello\"",
                    "1.1  booker  differs",
                    "       state: completed → failed",
                    "       answer: \"hi\" → \"hello\"",
                ],
            ),
            (
                "one more delegation",
                &same,
                &more,
                vec![
                    "1    planner  same",
                    "1.1  booker  same",
                    "1.2  echo  only in the replay",
                ],
            ),
            (
                "one less, and not ended",
                &more,
                &fewer,
                vec![
                    "1    planner  differs",
                    "       outcome: ok → open",
                    "1.1  booker  only in the recorded trace",
                    "1.2  echo  only in the recorded trace",
                ],
            ),
            (
                "nothing replayed",
                &same,
                &nothing,
                vec![
                    "1    planner  only in the recorded trace",
                    "1.1  booker  only in the recorded trace",
                ],
            ),
        ];
        for (name, recorded, replayed, expected) in cases {
            assert_eq!(render_diff(&diff(recorded, replayed)), expected, "{name}");
        }
        let structured = diff(&same, &mapped);
        assert_eq!(structured[1].position, "1.1");
        assert_eq!(
            structured[1].differences[0],
            Difference {
                field: "state",
                recorded: "completed".into(),
                replayed: "failed".into()
            }
        );
    }

    #[test]
    fn a_replay_sends_the_root_messages_afresh() {
        let mut recorded = delegation("TASK_STATE_COMPLETED", "hi");
        let spans = recorded["spans"].as_array_mut().unwrap();
        // A v0.3 root streaming, and a root that only read a task.
        let mut streamed = span(
            "echo",
            &["user:alice"],
            Some("ok"),
            vec![request("0.3", "again")],
            vec![],
        );
        streamed["method"] = json!("SendStreamingMessage");
        spans.push(streamed);
        let mut read = span("booker", &["user:alice"], Some("ok"), vec![], vec![]);
        read["method"] = json!("GetTask");
        spans.push(read);

        let mut n = 0;
        let mut ids = || {
            n += 1;
            format!("new-{n}")
        };
        let mapping = vec![("echo".to_owned(), "echo-v2".to_owned())];
        let (sent, notes) = resends(&recorded, &mapping, &mut ids).unwrap();
        assert_eq!(
            notes,
            ["root span 3 (booker GetTask) is not sent again: only messages are"]
        );
        assert_eq!(sent.len(), 2);
        let first = &sent[0];
        assert_eq!(
            (
                first.position,
                first.agent.as_str(),
                first.version,
                first.method
            ),
            (1, "planner", ProtocolVersion::V1_0, "SendMessage")
        );
        assert_eq!(
            first.params,
            json!({"message": {"messageId": "new-1", "role": "ROLE_USER",
                "parts": [{"text": "delegate booker echo hi"}], "metadata": {"mine": 1}}})
        );
        assert_eq!(
            first.body(1),
            json!({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": first.params})
        );
        let second = &sent[1];
        assert_eq!(
            (
                second.position,
                second.agent.as_str(),
                second.version,
                second.method
            ),
            (2, "echo-v2", ProtocolVersion::V0_3, "message/stream")
        );
        assert_eq!(second.params["message"]["messageId"], "new-2");

        // Only metadata of the hub's own goes; none left means no metadata at all.
        let params = json!({"message": {"messageId": "m", "parts": [],
            "metadata": {"agenthub/signature": 1}}, "metadata": {"agenthub/parent": 2}});
        assert_eq!(
            fresh_params(&params, "m2"),
            json!({"message": {"messageId": "m2", "parts": []}})
        );

        let unknown = vec![("booker-x".to_owned(), "b".to_owned())];
        let error = resends(&recorded, &unknown, &mut ids).unwrap_err();
        assert!(matches!(error, ClientError::Usage(_)), "{error}");
        assert!(
            error
                .to_string()
                .contains("no root span of this trace is at agent booker-x"),
            "{error}"
        );
        let (none, _) = resends(&trace(vec![]), &[], &mut ids).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_trace_is_complete_when_every_span_ended() {
        let done = delegation("TASK_STATE_COMPLETED", "hi");
        assert_eq!(progress(&done), (2, 0));
        let mut open = done.clone();
        open["spans"][0]["children"][0]["outcome"] = Value::Null;
        assert_eq!(progress(&open), (2, 1));
    }

    #[test]
    fn error_answers_are_found_in_bodies_and_streams() {
        assert_eq!(
            jsonrpc_errors(
                r#"{"jsonrpc": "2.0", "id": 1, "error": {"code": -32062, "message": "agent \"x\" not found"}}"#
            ),
            ["agent \"x\" not found (-32062)"]
        );
        let stream = "data: {\"jsonrpc\": \"2.0\", \"id\": 1, \"result\": {}}\n\n\
                      data: {\"jsonrpc\": \"2.0\", \"id\": 1, \"error\": {\"message\": \"cut\"}}\n\n";
        assert_eq!(jsonrpc_errors(stream), ["cut"]);
        assert!(jsonrpc_errors(r#"{"jsonrpc": "2.0", "id": 1, "result": {}}"#).is_empty());
    }

    #[test]
    fn lines_are_cut_and_escaped() {
        assert_eq!(one_line("a\n  b\tc", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("\u{7}bell", 10), "\\u{7}bell");
        assert_eq!(quoted("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(short("4bf92f3577b3", 8), "4bf92f35…");
        assert_eq!(short("abc", 8), "abc");
        assert_eq!(state_name("TASK_STATE_CANCELLED"), "canceled");
        assert_eq!(state_name("something-new"), "something-new");
    }

    #[test]
    fn commands_parse() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|cli| cli.command);
        match parse(&[
            "agenthub", "replay", "abc", "--agent", "a=b", "--agent", "c = d", "--wait", "3s",
        ])
        .unwrap()
        {
            Command::Replay(args) => {
                assert_eq!(args.id, "abc");
                assert_eq!(
                    args.agents,
                    [
                        ("a".to_owned(), "b".to_owned()),
                        ("c".to_owned(), "d".to_owned())
                    ]
                );
                assert_eq!(args.wait, Duration::from_secs(3));
                assert_eq!(args.timeout, Duration::from_secs(300));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["agenthub", "replay", "abc", "--agent", "a="]).is_err());
        assert!(parse(&["agenthub", "replay", "abc", "--wait", "soon"]).is_err());
        assert!(matches!(
            parse(&[
                "agenthub", "trace", "list", "--agent", "planner", "--limit", "5"
            ])
            .unwrap(),
            Command::Trace(TraceCommand::List { limit: 5, .. })
        ));
        assert!(matches!(
            parse(&["agenthub", "trace", "show", "abc", "--json"]).unwrap(),
            Command::Trace(TraceCommand::Show { .. })
        ));
        assert_eq!(list_path(None, None), "/traces");
        assert_eq!(
            list_path(Some("planner"), Some("user:alice")),
            "/traces?agent=planner&principal=user%3Aalice"
        );
    }
}
