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
use crate::telemetry::Telemetry;
use crate::telemetry::draft::micros;
use crate::telemetry::event::{RequestEvent, Status};

pub use crate::telemetry::trace::TraceContext;

/// A new event id: UUIDv7, so ids sort by time.
pub fn event_id() -> String {
    crate::model::time_ordered_id(now_millis())
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
    /// Where each hop's request record goes.
    telemetry: Arc<Telemetry>,
}

impl Recorder {
    /// Starts the writer on `store`. It stops when every recorder is dropped.
    pub fn start(store: Store, metrics: A2aMetrics, telemetry: Arc<Telemetry>) -> Self {
        let (queue, events) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write(store, events));
        Self {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
            metrics,
            telemetry,
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
    /// The hop's request record, finished and sent when the span ends (a client's request;
    /// none for an agent's push).
    pub record: Option<RequestEvent>,
    started: Millis,
    clock: std::time::Instant,
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
            record: None,
            started: now_millis(),
            clock: std::time::Instant::now(),
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
        if let Some(body) = &body {
            self.keep_body(kind, outcome.is_some(), body);
        }
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
            if outcome != "ok" {
                let error = outcome.strip_prefix("error: ").unwrap_or(outcome);
                self.finish_record(Status::Error, "upstream_failed", error);
            } else {
                self.finish_record(Status::Ok, "", "");
            }
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

impl Span {
    /// When bodies are logged, keeps the hop's request (its params as relayed) or its
    /// answer for the record.
    fn keep_body(&mut self, kind: &str, ends: bool, body: &Value) {
        let telemetry = &self.recorder.telemetry;
        let Some(record) = &mut self.record else {
            return;
        };
        if !(telemetry.logs_bodies() && (ends || kind == "request")) {
            return;
        }
        let bytes = bytes::Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        let kept = Some(telemetry.keep_json_body(&bytes));
        let raw = record.raw_bodies.get_or_insert_with(Default::default);
        if ends {
            raw.response = kept;
        } else {
            raw.request = kept;
        }
    }

    /// Sends the hop's request record, if it has one not yet sent: timed now, in the span's
    /// trace, failed with `class` and `message` unless `status` is ok.
    fn finish_record(&mut self, status: Status, class: &str, message: &str) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.latency_us = micros(self.clock.elapsed());
        record.in_trace(&self.context);
        if status != Status::Ok {
            record.fail(status, class, message);
        }
        self.recorder.telemetry.request(record);
    }
}

/// A hop whose caller went away (or whose relay was dropped) before it ended is recorded as
/// cancelled.
impl Drop for Span {
    fn drop(&mut self) {
        self.finish_record(
            Status::Error,
            "cancelled",
            "the hop ended before its answer",
        );
    }
}
