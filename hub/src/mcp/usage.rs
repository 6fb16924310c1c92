//! The usage record of each tool call: one event at target `agenthub::mcp::call` (who, which
//! tool, how it ended, how long it took, how large it was) and the plane's metrics — calls by
//! server and outcome, latency by server. Tools and callers are never labels: their number
//! is unbounded.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use agenthub_mcp_registry::calls::{CallReport, Outcome};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::auth::Caller;
use crate::model::now_millis;
use crate::ops::Metrics;
use crate::telemetry::draft::micros;
use crate::telemetry::event::{self, Plane, RequestEvent, Status};
use crate::telemetry::trace::TraceContext;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    server: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
}

/// Seconds; tool calls range from a lookup to a long-running job.
const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The MCP plane's metrics.
pub struct McpMetrics {
    calls: Family<CallLabels, Counter>,
    latency: Family<ServerLabels, Histogram>,
    /// Each server's series in the families above, found without building labels.
    servers: RwLock<HashMap<String, Arc<ServerSeries>>>,
}

struct ServerSeries {
    /// By [`Outcome::index`].
    calls: [Counter; Outcome::ALL.len()],
    latency: Histogram,
}

impl McpMetrics {
    /// The metrics, registered in `metrics`.
    pub fn new(metrics: &mut Metrics) -> Self {
        let own = Self {
            calls: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            servers: RwLock::default(),
        };
        metrics.register(
            "mcp_tool_calls",
            "Tool calls through /mcp, by server and outcome",
            own.calls.clone(),
        );
        metrics.register(
            "mcp_tool_call_duration_seconds",
            "Tool call latency through /mcp (arrival to answer), by server",
            own.latency.clone(),
        );
        own
    }

    fn series(&self, server: &str) -> Arc<ServerSeries> {
        if let Some(series) = self
            .servers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(server)
        {
            return series.clone();
        }
        // One statement per series: `get_or_create` returns a guard holding its family's
        // lock, which a second call on the same family in the same statement would wait on.
        let calls = Outcome::ALL.map(|outcome| {
            self.calls
                .get_or_create(&CallLabels {
                    server: server.to_owned(),
                    outcome: outcome.as_str(),
                })
                .clone()
        });
        let latency = self
            .latency
            .get_or_create(&ServerLabels {
                server: server.to_owned(),
            })
            .clone();
        let series = Arc::new(ServerSeries { calls, latency });
        self.servers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(server.to_owned())
            .or_insert(series)
            .clone()
    }

    /// Counts the call and logs its event.
    pub fn record(&self, caller: &Caller, report: &CallReport<'_>) {
        let series = self.series(report.call.server);
        series.calls[report.outcome.index()].inc();
        series.latency.observe(report.latency.as_secs_f64());
        let identity = &caller.identity;
        tracing::info!(
            target: "agenthub::mcp::call",
            principal = %format_args!("{}:{}", identity.kind.as_str(), identity.name),
            key_id = identity.key_id.as_deref().unwrap_or(""),
            server = report.call.server,
            tool = report.call.tool,
            outcome = report.outcome.as_str(),
            latency_ms = report.latency.as_secs_f64() * 1000.0,
            request_bytes = report.request_bytes,
            response_bytes = report.response_bytes,
            "mcp tool call"
        );
    }
}

/// The record of a finished call. A call refused by the hub's rules is `denied`; one the
/// tool or its server failed is an `error` classed by how.
pub fn call_event(
    identity: &agenthub_policy::Identity,
    report: &CallReport<'_>,
    span: &TraceContext,
) -> RequestEvent {
    let now = now_millis();
    let at = now - i64::try_from(report.latency.as_millis()).unwrap_or(0);
    let name = format!("{}/{}", report.call.server, report.call.tool);
    let mut event = RequestEvent::new(Plane::Mcp, at, event::Caller::of(identity), name.clone());
    event.in_trace(span);
    event.tool = Some(name);
    event.operation = "tools/call".to_owned();
    event.latency_us = micros(report.latency);
    event.request_bytes = report.request_bytes;
    event.response_bytes = report.response_bytes;
    let failed = match report.outcome {
        Outcome::Ok => None,
        Outcome::ToolError => Some((
            Status::Error,
            "tool_error",
            "the tool answered with an error",
        )),
        Outcome::RefusedByPolicy => Some((
            Status::Denied,
            "forbidden",
            "the caller may not call this tool",
        )),
        Outcome::RefusedByLimit => Some((
            Status::Denied,
            "rate_limited",
            "a rate limit or budget refused the call",
        )),
        Outcome::RefusedByGuardrail => {
            Some((Status::Denied, "guardrail", "a guardrail blocked the call"))
        }
        Outcome::UpstreamFailed => Some((
            Status::Error,
            "upstream_failed",
            "the server was not available",
        )),
        Outcome::Timeout => Some((
            Status::Error,
            "upstream_timeout",
            "the server did not answer in time",
        )),
        Outcome::InvalidArguments => Some((
            Status::Error,
            "invalid_request",
            "the arguments did not match the input schema",
        )),
        Outcome::Cancelled => Some((Status::Error, "cancelled", "the caller went away")),
        Outcome::ConsentRequired => Some((
            Status::Denied,
            "consent_required",
            "the user has not granted the server access",
        )),
    };
    if let Some((status, class, message)) = failed {
        event.fail(status, class, message);
    }
    event
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use agenthub_mcp_registry::calls::ToolCall;
    use agenthub_policy::authz::Authorizer;
    use agenthub_policy::{Identity, SubjectKind};

    use super::*;

    /// Calls are counted by server and outcome, and timed by server; the series of a server
    /// are made once.
    #[test]
    fn calls_are_counted_by_server_and_outcome() {
        let mut registry = Metrics::new();
        let metrics = McpMetrics::new(&mut registry);
        let caller = Caller {
            identity: Arc::new(Identity::named(SubjectKind::User, "alice")),
            authorizer: Arc::new(Authorizer::default()),
        };
        let report = |tool, outcome| CallReport {
            call: ToolCall { server: "ev", tool },
            outcome,
            latency: Duration::from_millis(3),
            request_bytes: 10,
            response_bytes: 20,
            traceparent: None,
            arguments: None,
            result: None,
        };
        metrics.record(&caller, &report("echo", Outcome::Ok));
        metrics.record(&caller, &report("get-sum", Outcome::Ok));
        metrics.record(&caller, &report("echo", Outcome::RefusedByLimit));
        let text = registry.render();
        for line in [
            r#"agenthub_mcp_tool_calls_total{server="ev",outcome="ok"} 2"#,
            r#"agenthub_mcp_tool_calls_total{server="ev",outcome="refused_by_limit"} 1"#,
            r#"agenthub_mcp_tool_calls_total{server="ev",outcome="timeout"} 0"#,
            r#"agenthub_mcp_tool_call_duration_seconds_count{server="ev"} 3"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("echo"), "no tool names in labels:\n{text}");
        assert_eq!(metrics.servers.read().unwrap().len(), 1);
    }
}
