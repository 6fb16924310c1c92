//! The trace of every exchange: each relayed request is a span of a W3C trace (its
//! `traceparent` continued, or a new trace), and what went through it — the request, the
//! answer, each event of a stream, an error — is recorded after redaction. Recording never
//! waits on the store: events go through a bounded queue to a writer that stores them in
//! batches (and drops, counting them, when the store falls too far behind).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use super::usage::{A2aMetrics, HopReport};
use crate::model::{Millis, now_millis};
use crate::store::{Store, TraceEvent};

/// Where a relayed request sits in its trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// This hop: 16 lowercase hex digits.
    pub span_id: String,
    /// The span the request came from (the caller's), if it said.
    pub parent_span_id: Option<String>,
}

impl TraceContext {
    /// Continues the trace of a W3C `traceparent` (`00-<trace>-<parent>-<flags>`), or starts
    /// a new one when there is none or it is malformed.
    pub fn continue_from(traceparent: Option<&str>) -> Self {
        let span_id = random_hex(8);
        match traceparent.and_then(parse_traceparent) {
            Some((trace_id, parent)) => Self {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
            },
            None => Self {
                trace_id: random_hex(16),
                span_id,
                parent_span_id: None,
            },
        }
    }

    /// The `traceparent` the agent receives: this trace, this hop as its parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The trace id and parent span id of a version-00 (or later) `traceparent`.
fn parse_traceparent(text: &str) -> Option<(String, String)> {
    let mut parts = text.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let valid = is_hex(version, 2)
        && version != "ff"
        && is_hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && is_hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && is_hex(flags, 2);
    valid.then(|| (trace.to_owned(), parent.to_owned()))
}

fn random_hex(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        text.push_str(&format!("{:02x}", fastrand::u8(..)));
    }
    text
}

/// A new event id: UUIDv7, so ids sort by time.
pub fn event_id() -> String {
    let millis = u64::try_from(now_millis()).unwrap_or(0);
    let random: [u8; 10] = fastrand::u128(..).to_le_bytes()[..10]
        .try_into()
        .unwrap_or_default();
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

/// How many events may wait for the writer.
const QUEUE_DEPTH: usize = 8192;
/// The most events stored in one transaction.
const BATCH: usize = 1024;
/// How long the writer waits for more events before storing what it has.
const LINGER: Duration = Duration::from_millis(100);

/// Takes events from requests and stores them in the background.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<TraceEvent>,
    dropped: Arc<AtomicU64>,
    metrics: A2aMetrics,
}

impl Recorder {
    /// Starts the writer on `store`. It stops when every recorder is dropped.
    pub fn start(store: Store, metrics: A2aMetrics) -> Self {
        let (queue, events) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write(store, events));
        Self {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
            metrics,
        }
    }

    /// Queues an event; never waits (a full queue drops it, counted).
    pub fn record(&self, event: TraceEvent) {
        if self.queue.try_send(event).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "A2A trace events dropped: the store is behind");
            }
        }
    }
}

async fn write(store: Store, mut events: mpsc::Receiver<TraceEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(event) = events.recv().await {
        batch.push(event);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(e) = store.save_trace_events(&batch).await {
            tracing::warn!(error = %e, events = batch.len(), "A2A trace events could not be stored");
        }
        batch.clear();
    }
}

/// One span's events, numbered in order.
pub struct Span {
    recorder: Recorder,
    pub context: TraceContext,
    pub agent: String,
    pub method: &'static str,
    pub principal: String,
    pub chain: Vec<String>,
    pub context_id: Option<String>,
    pub task_id: Option<String>,
    started: Millis,
    seq: i64,
}

impl Span {
    pub fn new(
        recorder: Recorder,
        context: TraceContext,
        agent: String,
        method: &'static str,
        principal: String,
        chain: Vec<String>,
    ) -> Self {
        Self {
            recorder,
            context,
            agent,
            method,
            principal,
            chain,
            context_id: None,
            task_id: None,
            started: now_millis(),
            seq: 0,
        }
    }

    /// Records an event of `kind` with its (already redacted) body.
    pub fn event(&mut self, kind: &str, body: Option<Value>) {
        self.push(kind, body, None);
    }

    /// Records the span's end: `ok`, or the error.
    pub fn end(&mut self, outcome: &str, body: Option<Value>) {
        let outcome = Some(outcome.to_owned());
        self.push(
            if body.is_some() { "response" } else { "end" },
            body,
            outcome,
        );
    }

    fn push(&mut self, kind: &str, body: Option<Value>, outcome: Option<String>) {
        let at = now_millis();
        let duration_ms = outcome.as_ref().map(|_| at - self.started);
        if let (Some(outcome), Some(duration_ms)) = (&outcome, duration_ms) {
            self.recorder.metrics.record(&HopReport {
                agent: &self.agent,
                method: self.method,
                principal: &self.principal,
                chain: &self.chain,
                trace_id: &self.context.trace_id,
                task_id: self.task_id.as_deref(),
                outcome,
                duration_ms,
            });
        }
        self.recorder.record(TraceEvent {
            id: event_id(),
            trace_id: self.context.trace_id.clone(),
            span_id: self.context.span_id.clone(),
            parent_span_id: self.context.parent_span_id.clone(),
            seq: self.seq,
            at,
            kind: kind.to_owned(),
            agent: self.agent.clone(),
            method: self.method.to_owned(),
            principal: self.principal.clone(),
            chain: self.chain.clone(),
            context_id: self.context_id.clone(),
            task_id: self.task_id.clone(),
            outcome,
            duration_ms,
            body,
        });
        self.seq += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_is_continued_and_a_bad_one_replaced() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::continue_from(Some(parent));
        assert_eq!(context.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_ne!(context.span_id, "00f067aa0ba902b7");
        assert!(
            context
                .traceparent()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "garbage",
        ] {
            let context = TraceContext::continue_from(Some(bad));
            assert_eq!(context.parent_span_id, None, "{bad}");
            assert_eq!(context.trace_id.len(), 32);
        }
    }
}
