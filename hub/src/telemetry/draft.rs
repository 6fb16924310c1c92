//! A request's record while it is being served: started at arrival, filled in by the plane as
//! it learns who called, what was asked and what it cost, finished once.

use std::time::Instant;

use agenthub_policy::Identity;
use agenthub_policy::limits::LimitKind;
use axum::http::HeaderMap;

use std::sync::Arc;

use super::Telemetry;
use super::event::{Caller, Plane, RequestEvent, Status, status_of};
use super::trace::TraceContext;
use crate::error::Error;
use crate::model::{Millis, now_millis};

pub struct Draft {
    telemetry: Arc<Telemetry>,
    plane: Plane,
    started: Instant,
    at: Millis,
    trace: TraceContext,
    request_id: Option<String>,
    /// Made once the caller is known; a request refused before that (no credentials) is
    /// recorded by the audit trail only.
    event: Option<RequestEvent>,
}

impl Draft {
    /// A request arriving now with `headers` (its `x-request-id`, its `traceparent`), its
    /// record to go to `telemetry`.
    pub fn start(telemetry: Arc<Telemetry>, plane: Plane, headers: &HeaderMap) -> Self {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        Self {
            telemetry,
            plane,
            started: Instant::now(),
            at: now_millis(),
            trace: TraceContext::continue_from(header("traceparent")),
            request_id: header("x-request-id").map(str::to_owned),
            event: None,
        }
    }

    /// The span this request is in its trace.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// The caller is known: the record begins.
    pub fn begin(
        &mut self,
        identity: &Identity,
        target: &str,
        operation: &str,
    ) -> &mut RequestEvent {
        let mut event = RequestEvent::new(self.plane, self.at, Caller::of(identity), target);
        event.operation = operation.to_owned();
        event.request_id = self.request_id.clone();
        event.in_trace(&self.trace);
        self.event.insert(event)
    }

    /// The record so far, once begun.
    pub fn event(&mut self) -> Option<&mut RequestEvent> {
        self.event.as_mut()
    }

    /// Records the request as finished now, with its status from `error`.
    pub fn finish(&mut self, error: Option<&Error>) {
        let Some(mut event) = self.event.take() else {
            return;
        };
        event.latency_us = micros(self.started.elapsed());
        if let Some(error) = error {
            let (status, class) = recorded_as(error);
            event.fail(status, class, error.message());
        } else {
            event.status = Status::Ok;
        }
        self.telemetry.request(event);
    }

    /// Hands the record to whatever finishes the request later (a stream).
    pub fn hand_over(&mut self) -> Option<RequestEvent> {
        self.event.take()
    }
}

/// A request whose caller went away before it was answered is recorded as cancelled.
impl Drop for Draft {
    fn drop(&mut self) {
        if let Some(mut event) = self.event.take() {
            event.latency_us = micros(self.started.elapsed());
            event.fail(Status::Error, "cancelled", "the caller went away");
            self.telemetry.request(event);
        }
    }
}

/// How a request that failed with `error` is recorded: its status and error class.
pub fn recorded_as(error: &Error) -> (Status, &'static str) {
    match error.limit_kind() {
        // Refused by a limit, also when the request alone exceeds it (a 400).
        Some(LimitKind::RateLimit) => (Status::Denied, "rate_limited"),
        Some(LimitKind::Budget) => (Status::Denied, "budget_exceeded"),
        None => (status_of(error.kind()), error.kind().as_str()),
    }
}

pub fn micros(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}
