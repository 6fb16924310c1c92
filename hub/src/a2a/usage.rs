//! The usage record of every hop: one event at target `agenthub::a2a::hop` (on whose behalf,
//! along which chain, to which agent, which method, how it ended, how long it took) and the
//! plane's metrics — hops by agent and outcome, latency by agent. Callers are never labels.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::ops::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HopLabels {
    agent: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabels {
    agent: String,
}

/// Seconds; a hop ranges from an echo to a long task streamed to its end.
const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The A2A plane's metrics.
#[derive(Clone)]
pub struct A2aMetrics {
    hops: Family<HopLabels, Counter>,
    latency: Family<AgentLabels, Histogram>,
}

/// How a hop ended, for metrics and the usage event.
pub struct HopReport<'a> {
    pub agent: &'a str,
    pub method: &'a str,
    pub principal: &'a str,
    pub chain: &'a [String],
    pub trace_id: &'a str,
    pub task_id: Option<&'a str>,
    /// `ok`, or `error: …`.
    pub outcome: &'a str,
    pub duration_ms: i64,
}

impl A2aMetrics {
    /// The metrics, registered in `metrics`.
    pub fn new(metrics: &mut Metrics) -> Self {
        let own = Self::unregistered();
        metrics.register(
            "a2a_hops",
            "A2A requests relayed to agents, by agent and outcome",
            own.hops.clone(),
        );
        metrics.register(
            "a2a_hop_duration_seconds",
            "A2A hop latency (arrival to the answer's end, streams included), by agent",
            own.latency.clone(),
        );
        own
    }

    /// Metrics kept but not exported (a plane made without a metrics registry).
    pub fn unregistered() -> Self {
        Self {
            hops: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
        }
    }

    /// Counts the hop and logs its event.
    pub fn record(&self, report: &HopReport<'_>) {
        let outcome = if report.outcome == "ok" {
            "ok"
        } else {
            "error"
        };
        self.hops
            .get_or_create(&HopLabels {
                agent: report.agent.to_owned(),
                outcome,
            })
            .inc();
        self.latency
            .get_or_create(&AgentLabels {
                agent: report.agent.to_owned(),
            })
            .observe(report.duration_ms as f64 / 1000.0);
        tracing::info!(
            target: "agenthub::a2a::hop",
            principal = report.principal,
            chain = %report.chain.join(" → "),
            agent = report.agent,
            method = report.method,
            trace_id = report.trace_id,
            task_id = report.task_id.unwrap_or(""),
            outcome = report.outcome,
            latency_ms = report.duration_ms,
            "a2a hop"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_are_counted_by_agent_and_outcome_without_callers() {
        let mut registry = Metrics::new();
        let metrics = A2aMetrics::new(&mut registry);
        let chain = vec!["user:alice".to_owned()];
        let report = |outcome| HopReport {
            agent: "echo",
            method: "SendMessage",
            principal: "user:alice",
            chain: &chain,
            trace_id: "t",
            task_id: None,
            outcome,
            duration_ms: 3,
        };
        metrics.record(&report("ok"));
        metrics.record(&report("ok"));
        metrics.record(&report("error: the agent did not answer"));
        let text = registry.render();
        for line in [
            r#"agenthub_a2a_hops_total{agent="echo",outcome="ok"} 2"#,
            r#"agenthub_a2a_hops_total{agent="echo",outcome="error"} 1"#,
            r#"agenthub_a2a_hop_duration_seconds_count{agent="echo"} 3"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!text.contains("alice"), "no callers in labels:\n{text}");
    }
}
