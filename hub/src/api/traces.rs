//! The traces of A2A exchanges through the admin API: `/traces/{id}` is one trace as a tree of
//! spans (one per relayed request, under the span of the agent that made it), each with its
//! recorded events; `/traces` lists recent traces by the request that started each.
//!
//! Readers of the `agents` admin area may read every trace. Anyone else may read the traces
//! they started: those whose root spans (the spans whose caller's span is not in the trace)
//! are all on their behalf, with credentials for the A2A plane; to them every other trace is
//! unknown (404), as an unknown one is.

use std::collections::{HashMap, VecDeque};

use agenthub_policy::Scope;
use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::AdminArea;
use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, ListQuery, PageOf, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::Millis;
use crate::store::TraceEvent;

/// The most events of one trace that are shown; a trace with more is cut (`truncated`).
pub const MAX_EVENTS: usize = 10_000;
/// The deepest a span sits in the tree; deeper spans are shown as roots of their own (their
/// `parent_span_id` still names their parent). Delegation chains are at most 64 long, and
/// usually far shorter; this keeps the answer's nesting within what JSON readers accept.
pub const MAX_DEPTH: usize = 32;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_traces))
        .routes(routes!(get_trace))
}

/// One recorded event of a span.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceEventView {
    /// Its place within the span, from 0.
    pub seq: i64,
    pub at: String,
    /// `request` (`{"target", "version", "params"}`: the params as the client sent them, after
    /// redaction), `task`, `message`, `status` or `artifact` (a stream's events), and last
    /// `response` (the result) or `end`.
    pub kind: String,
    /// The event's A2A JSON, in the client's version, after redaction.
    #[schema(value_type = Option<Object>)]
    pub body: Option<Value>,
}

/// One relayed request (a hop) and the requests it caused.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpanView {
    pub span_id: String,
    /// The span of the caller that sent this request (an agent delegating), if it said.
    pub parent_span_id: Option<String>,
    pub agent: String,
    /// The A2A method, e.g. `SendMessage`.
    pub method: String,
    /// On whose behalf (`user:alice`).
    pub principal: String,
    /// The delegation chain, principal first, the sender last.
    pub chain: Vec<String>,
    pub context_id: Option<String>,
    pub task_id: Option<String>,
    pub started_at: String,
    /// Absent while the span has not ended.
    pub duration_ms: Option<i64>,
    /// `ok`, or why it failed (`error: …`); absent while the span has not ended.
    pub outcome: Option<String>,
    pub events: Vec<TraceEventView>,
    /// The requests this one caused, by start.
    #[schema(no_recursion)]
    pub children: Vec<SpanView>,
}

/// A trace: its spans as a tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceView {
    pub trace_id: String,
    pub started_at: String,
    /// From the first event to the last.
    pub duration_ms: i64,
    /// Set when the trace has more events than are shown (the first 10,000 are).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The root spans (whose caller's span is not in the trace), by start.
    pub spans: Vec<SpanView>,
}

/// A trace as listings show it: the request that started it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceSummaryView {
    pub trace_id: String,
    /// The agent of the first root span.
    pub agent: String,
    pub method: String,
    pub principal: String,
    pub started_at: String,
    /// The first root span's outcome; absent while it has not ended.
    pub outcome: Option<String>,
    pub duration_ms: Option<i64>,
    /// How many spans the trace has.
    pub spans: i64,
}

/// A span's events and what they say about it, before it takes its place in the tree.
struct Assembled {
    span: SpanView,
    started: Millis,
}

fn assemble(span_id: String, mut events: Vec<TraceEvent>) -> Assembled {
    events.sort_by_key(|e| e.seq);
    let started = events.iter().map(|e| e.at).min().unwrap_or_default();
    let latest =
        |get: fn(&TraceEvent) -> Option<&String>| events.iter().rev().find_map(|e| get(e).cloned());
    let (context_id, task_id) = (
        latest(|e| e.context_id.as_ref()),
        latest(|e| e.task_id.as_ref()),
    );
    let (outcome, duration_ms) = events
        .iter()
        .rev()
        .find(|e| e.outcome.is_some())
        .map_or((None, None), |e| (e.outcome.clone(), e.duration_ms));
    let mut events = events.into_iter();
    let Some(first) = events.next() else {
        unreachable!("a span is made from at least one event")
    };
    let view = |e: TraceEvent| TraceEventView {
        seq: e.seq,
        at: timestamp(e.at),
        kind: e.kind,
        body: e.body,
    };
    let span = SpanView {
        span_id,
        parent_span_id: first.parent_span_id.clone(),
        agent: first.agent.clone(),
        method: first.method.clone(),
        principal: first.principal.clone(),
        chain: first.chain.clone(),
        context_id,
        task_id,
        started_at: timestamp(started),
        duration_ms,
        outcome,
        events: std::iter::once(first).chain(events).map(view).collect(),
        children: Vec::new(),
    };
    Assembled { span, started }
}

/// A trace built from its events, and the principals of its root spans (who may read it).
pub struct Built {
    pub view: TraceView,
    /// The principal of each span whose parent is not in the trace.
    pub owners: Vec<String>,
}

/// Builds the tree of a trace from its events (`None` when there are none). Spans are placed
/// under their parent when it is in the trace; roots and each span's children are ordered by
/// start. Spans that would sit deeper than [`MAX_DEPTH`], or whose parents form a cycle, are
/// shown as roots.
pub fn build(trace_id: &str, events: Vec<TraceEvent>, truncated: bool) -> Option<Built> {
    let first = events.iter().map(|e| e.at).min()?;
    let last = events.iter().map(|e| e.at).max().unwrap_or(first);
    // Group by span, in order of first appearance.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut grouped: Vec<(String, Vec<TraceEvent>)> = Vec::new();
    for event in events {
        match index.get(&event.span_id) {
            Some(&i) => grouped[i].1.push(event),
            None => {
                index.insert(event.span_id.clone(), grouped.len());
                grouped.push((event.span_id.clone(), vec![event]));
            }
        }
    }
    let mut spans: Vec<Assembled> = grouped
        .into_iter()
        .map(|(id, events)| assemble(id, events))
        .collect();
    spans.sort_by(|a, b| (a.started, &a.span.span_id).cmp(&(b.started, &b.span.span_id)));
    let position: HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span.span_id.as_str(), i))
        .collect();
    let parent: Vec<Option<usize>> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.span
                .parent_span_id
                .as_deref()
                .and_then(|p| position.get(p).copied())
                .filter(|&p| p != i)
        })
        .collect();
    let owners = spans
        .iter()
        .zip(&parent)
        .filter(|(_, parent)| parent.is_none())
        .map(|(s, _)| s.span.principal.clone())
        .collect();
    let forest = Forest::of(&parent);
    let mut slots: Vec<Option<SpanView>> = spans.into_iter().map(|s| Some(s.span)).collect();
    let roots = forest
        .roots
        .iter()
        .map(|&root| forest.take(root, &mut slots))
        .collect();
    Some(Built {
        view: TraceView {
            trace_id: trace_id.to_owned(),
            started_at: timestamp(first),
            duration_ms: last - first,
            truncated,
            spans: roots,
        },
        owners,
    })
}

/// Where each span goes: the roots, and each span's children, by position in start order.
struct Forest {
    roots: Vec<usize>,
    children: Vec<Vec<usize>>,
}

impl Forest {
    fn of(parent: &[Option<usize>]) -> Self {
        let n = parent.len();
        let mut below: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                below[*p].push(i);
            }
        }
        let mut forest = Self {
            roots: Vec::new(),
            children: vec![Vec::new(); n],
        };
        let mut placed = vec![false; n];
        let mut queue = VecDeque::new();
        // Natural roots first; then whatever they do not reach (cycles), from its earliest.
        let starts = (0..n)
            .filter(|&i| parent[i].is_none())
            .chain(0..n)
            .collect::<Vec<_>>();
        for start in starts {
            if placed[start] {
                continue;
            }
            placed[start] = true;
            forest.roots.push(start);
            queue.push_back((start, 0));
            while let Some((span, depth)) = queue.pop_front() {
                for &child in &below[span] {
                    if placed[child] {
                        continue;
                    }
                    placed[child] = true;
                    if depth + 1 >= MAX_DEPTH {
                        forest.roots.push(child);
                        queue.push_back((child, 0));
                    } else {
                        forest.children[span].push(child);
                        queue.push_back((child, depth + 1));
                    }
                }
            }
        }
        forest.roots.sort_unstable();
        forest
    }

    /// The view of span `i` with its subtree (at most [`MAX_DEPTH`] deep).
    fn take(&self, i: usize, slots: &mut [Option<SpanView>]) -> SpanView {
        let mut span = slots[i]
            .take()
            .unwrap_or_else(|| unreachable!("placed once"));
        span.children = self.children[i]
            .iter()
            .map(|&child| self.take(child, slots))
            .collect();
        span
    }
}

/// Whether the caller may read a trace whose root spans are on behalf of `owners`.
fn may_read(caller: &Caller, owners: &[String]) -> bool {
    if caller.may(Access::Read, Target::Area(AdminArea::Agents)) {
        return true;
    }
    let scoped = caller.scopes.allows(Scope::A2a) || caller.scopes.allows(Scope::AdminRead);
    let me = caller.identity.subject();
    scoped && !owners.is_empty() && owners.iter().all(|owner| *owner == me)
}

/// Get a trace: its spans as a tree, each with its recorded events.
#[utoipa::path(get, path = "/traces/{id}", tag = "traces", params(("id" = String, Path, description = "The trace id (32 hex digits), as in the x-agenthub-trace-id header")),
    responses((status = 200, body = TraceView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_trace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TraceView>> {
    let unknown = || Error::not_found(format!("trace \"{id}\""));
    // Trace ids are 32 hex digits; anything much longer names nothing.
    if id.is_empty() || id.len() > 64 {
        return Err(unknown());
    }
    let limit = i64::try_from(MAX_EVENTS + 1).unwrap_or(i64::MAX);
    let mut events = state.accounts.store().load_trace_up_to(&id, limit).await?;
    let truncated = events.len() > MAX_EVENTS;
    events.truncate(MAX_EVENTS);
    let built = build(&id, events, truncated).ok_or_else(unknown)?;
    if !may_read(&caller, &built.owners) {
        return Err(unknown());
    }
    Ok(Json(built.view))
}

/// Which traces to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TracesQuery {
    /// Only traces started at this agent.
    pub agent: Option<String>,
    /// Only traces started on this principal's behalf (`user:alice`). Callers who may not read
    /// every trace see only their own.
    pub principal: Option<String>,
    /// Traces per page, 1–500 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The position after a listed trace, for the next page.
fn cursor_of(started_at: Millis, trace_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{started_at}:{trace_id}"))
}

/// List recent traces, newest first, each by the request that started it.
#[utoipa::path(get, path = "/traces", tag = "traces", params(TracesQuery),
    responses((status = 200, body = PageOf<TraceSummaryView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_traces(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<TracesQuery>,
) -> Result<Json<PageOf<TraceSummaryView>>> {
    let page = ListQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit()?;
    let before = page
        .after()?
        .map(|position| {
            position
                .split_once(':')
                .and_then(|(at, trace)| Some((at.parse::<Millis>().ok()?, trace.to_owned())))
                .ok_or_else(|| Error::invalid_field("cursor", "not a cursor returned by this API"))
        })
        .transpose()?;
    let empty = || {
        Json(PageOf {
            data: Vec::new(),
            next_cursor: None,
        })
    };
    let principal = if caller.may(Access::Read, Target::Area(AdminArea::Agents)) {
        query.principal
    } else if caller.scopes.allows(Scope::A2a) || caller.scopes.allows(Scope::AdminRead) {
        let me = caller.identity.subject();
        if query.principal.as_ref().is_some_and(|p| *p != me) {
            return Ok(empty());
        }
        Some(me)
    } else {
        return Err(Error::forbidden());
    };
    let rows = state
        .accounts
        .store()
        .list_traces(
            query.agent.as_deref().filter(|a| !a.is_empty()),
            principal.as_deref().filter(|p| !p.is_empty()),
            before.as_ref().map(|(at, trace)| (*at, trace.as_str())),
            i64::try_from(limit).unwrap_or(500),
        )
        .await?;
    let next_cursor = (rows.len() == limit)
        .then(|| rows.last().map(|t| cursor_of(t.started_at, &t.trace_id)))
        .flatten();
    let data = rows
        .into_iter()
        .map(|t| TraceSummaryView {
            trace_id: t.trace_id,
            agent: t.agent,
            method: t.method,
            principal: t.principal,
            started_at: timestamp(t.started_at),
            outcome: t.outcome,
            duration_ms: t.duration_ms,
            spans: t.spans,
        })
        .collect();
    Ok(Json(PageOf { data, next_cursor }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(span: &str, parent: Option<&str>, seq: i64, at: Millis, kind: &str) -> TraceEvent {
        TraceEvent {
            id: format!("{span}-{seq}"),
            trace_id: "t".into(),
            span_id: span.into(),
            parent_span_id: parent.map(str::to_owned),
            seq,
            at,
            kind: kind.into(),
            agent: format!("agent-{span}"),
            method: "SendMessage".into(),
            principal: "user:alice".into(),
            chain: vec!["user:alice".into()],
            context_id: None,
            task_id: (seq > 0).then(|| format!("task-{span}")),
            outcome: (kind == "response").then(|| "ok".to_owned()),
            duration_ms: (kind == "response").then_some(at),
            body: Some(json!({"seq": seq})),
        }
    }

    /// The tree as `span(children…)`, roots separated by spaces.
    fn shape(spans: &[SpanView]) -> String {
        spans
            .iter()
            .map(|s| {
                if s.children.is_empty() {
                    s.span_id.clone()
                } else {
                    format!("{}({})", s.span_id, shape(&s.children))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn spans_nest_under_their_parents_in_start_order() {
        let events = vec![
            event("c", Some("a"), 0, 30, "request"),
            event("a", None, 0, 10, "request"),
            event("b", Some("a"), 0, 20, "request"),
            event("b", Some("a"), 1, 25, "response"),
            event("a", None, 1, 50, "response"),
            event("d", Some("elsewhere"), 0, 40, "request"),
        ];
        let built = build("t", events, false).unwrap();
        assert_eq!(shape(&built.view.spans), "a(b c) d");
        assert_eq!(built.view.duration_ms, 40);
        assert_eq!(built.owners, ["user:alice", "user:alice"]);
        let a = &built.view.spans[0];
        assert_eq!(
            (a.outcome.as_deref(), a.duration_ms, a.task_id.as_deref()),
            (Some("ok"), Some(50), Some("task-a"))
        );
        assert_eq!(a.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
        let c = &a.children[1];
        assert_eq!((c.outcome.as_deref(), c.duration_ms), (None, None));
        assert!(build("t", Vec::new(), false).is_none());
    }

    #[test]
    fn cycles_and_deep_chains_are_cut_into_roots() {
        // x and y name each other as parents: neither is a natural root, both are shown.
        let cycle = vec![
            event("x", Some("y"), 0, 1, "request"),
            event("y", Some("x"), 0, 2, "request"),
        ];
        let built = build("t", cycle, false).unwrap();
        assert_eq!(shape(&built.view.spans), "x(y)");
        assert!(built.owners.is_empty());

        // A chain longer than MAX_DEPTH continues as a root of its own.
        let n = MAX_DEPTH + 3;
        let name = |i: usize| format!("s{i:03}");
        let chain: Vec<TraceEvent> = (0..n)
            .map(|i| {
                let parent = (i > 0).then(|| name(i - 1));
                event(&name(i), parent.as_deref(), 0, i as Millis, "request")
            })
            .collect();
        let built = build("t", chain, false).unwrap();
        assert_eq!(built.view.spans.len(), 2);
        assert_eq!(built.view.spans[1].span_id, name(MAX_DEPTH));
        assert_eq!(
            built.view.spans[1].parent_span_id.as_deref(),
            Some(name(MAX_DEPTH - 1).as_str())
        );
        // Only the natural root decides who owns the trace.
        assert_eq!(built.owners.len(), 1);
    }
}
