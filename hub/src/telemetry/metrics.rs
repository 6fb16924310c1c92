//! Prometheus metrics derived from request records, by the writer (off the request path):
//! requests and their latency by plane, target and team; time to first token by model and
//! provider; tokens and cost by team; refusals by plane and reason (rate limit, budget,
//! policy, guardrail).
//!
//! Label values are bounded: each label keeps at most [`MAX_VALUES`] distinct values, later
//! ones are counted under `other`. Metadata never becomes a label, and neither do callers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::event::{Plane, RequestEvent, Status};
use crate::ops::Metrics;

/// Distinct values one label may take.
pub const MAX_VALUES: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    plane: &'static str,
    /// The model, `server/tool` or agent.
    target: String,
    team: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    plane: &'static str,
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamTokenLabels {
    team: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamLabels {
    team: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    plane: &'static str,
    reason: String,
}

/// Seconds: from a cached lookup to a long stream or task.
const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
const TTFT_BUCKETS: [f64; 12] = [
    0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0,
];

/// A label's values so far; past the bound, new ones are `other`.
#[derive(Default)]
struct Bounded(Mutex<HashSet<String>>);

impl Bounded {
    fn value(&self, value: &str) -> String {
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() >= MAX_VALUES {
            return "other".to_owned();
        }
        seen.insert(value.to_owned());
        value.to_owned()
    }
}

/// One (plane, target, team)'s series in the families, found again without building labels.
struct Series {
    /// By status: ok, denied, error.
    requests: [Counter; 3],
    latency: Histogram,
    input_tokens: Counter,
    output_tokens: Counter,
    cost: Counter,
}

/// Plane → target → team → series.
type SeriesIndex = [HashMap<String, HashMap<String, Arc<Series>>>; 3];

/// The families, registered once.
pub struct RequestMetrics {
    index: RwLock<SeriesIndex>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    ttft: Family<ModelLabels, Histogram>,
    team_tokens: Family<TeamTokenLabels, Counter>,
    team_cost: Family<TeamLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    targets: Bounded,
    teams: Bounded,
}

impl RequestMetrics {
    pub fn new(metrics: &mut Metrics) -> Self {
        let own = Self {
            index: RwLock::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            ttft: Family::new_with_constructor(|| Histogram::new(TTFT_BUCKETS)),
            team_tokens: Family::default(),
            team_cost: Family::default(),
            refusals: Family::default(),
            targets: Bounded::default(),
            teams: Bounded::default(),
        };
        metrics.register(
            "requests",
            "Requests through the planes, by plane, target (model, server/tool or agent), team and status",
            own.requests.clone(),
        );
        metrics.register(
            "request_duration_seconds",
            "Request latency (arrival to the answer's end), by plane and target",
            own.latency.clone(),
        );
        metrics.register(
            "llm_time_to_first_token_seconds",
            "Time to the first token of streamed answers, by model and provider",
            own.ttft.clone(),
        );
        metrics.register(
            "team_tokens",
            "Model tokens by team and direction (input, output)",
            own.team_tokens.clone(),
        );
        metrics.register(
            "team_cost_microdollars",
            "Model spend in micro-dollars by team",
            own.team_cost.clone(),
        );
        metrics.register(
            "refusals",
            "Requests the hub refused, by plane and reason (rate_limited, budget_exceeded, forbidden, guardrail, …)",
            own.refusals.clone(),
        );
        own
    }

    pub fn observe(&self, event: &RequestEvent) {
        let plane = event.plane.as_str();
        // Only names the hub resolved become labels: an unknown model a caller made up does not.
        let target = match event.plane {
            Plane::Llm => event.model.as_deref(),
            Plane::Mcp => event.tool.as_deref(),
            Plane::A2a => event.agent.as_deref(),
        }
        .unwrap_or("unknown");
        let team = event.caller.team.as_deref().unwrap_or("none");
        let series = self.series(event.plane, target, team);
        let status = match event.status {
            Status::Ok => 0,
            Status::Denied => 1,
            Status::Error => 2,
        };
        series.requests[status].inc();
        series.latency.observe(event.latency_us as f64 / 1e6);
        if let (Some(ttft), Some(model), Some(provider)) =
            (event.ttft_us, &event.model, &event.provider)
        {
            self.ttft
                .get_or_create(&ModelLabels {
                    model: self.targets.value(model),
                    provider: self.targets.value(provider),
                })
                .observe(ttft as f64 / 1e6);
        }
        if event.plane == Plane::Llm {
            series.input_tokens.inc_by(event.tokens.input);
            series.output_tokens.inc_by(event.tokens.output);
            series.cost.inc_by(event.cost_micros);
        }
        if event.status == Status::Denied {
            let reason = event
                .error
                .as_ref()
                .map_or("denied", |error| error.class.as_str());
            self.refusals
                .get_or_create(&RefusalLabels {
                    plane,
                    reason: reason.to_owned(),
                })
                .inc();
        }
    }
}

impl RequestMetrics {
    fn series(&self, plane: Plane, target: &str, team: &str) -> Arc<Series> {
        let at = plane_index(plane);
        if let Some(series) = self.index.read().unwrap_or_else(PoisonError::into_inner)[at]
            .get(target)
            .and_then(|teams| teams.get(team))
        {
            return series.clone();
        }
        let (target, team) = (self.targets.value(target), self.teams.value(team));
        let plane_label = plane.as_str();
        // One statement per series: `get_or_create` returns a guard holding its family's lock.
        let requests = ["ok", "denied", "error"].map(|status| {
            self.requests
                .get_or_create(&RequestLabels {
                    plane: plane_label,
                    target: target.clone(),
                    team: team.clone(),
                    status,
                })
                .clone()
        });
        let latency = self
            .latency
            .get_or_create(&LatencyLabels {
                plane: plane_label,
                target: target.clone(),
            })
            .clone();
        let tokens = |direction| {
            self.team_tokens
                .get_or_create(&TeamTokenLabels {
                    team: team.clone(),
                    direction,
                })
                .clone()
        };
        let input_tokens = tokens("input");
        let output_tokens = tokens("output");
        let cost = self
            .team_cost
            .get_or_create(&TeamLabels { team: team.clone() })
            .clone();
        let series = Arc::new(Series {
            requests,
            latency,
            input_tokens,
            output_tokens,
            cost,
        });
        self.index.write().unwrap_or_else(PoisonError::into_inner)[at]
            .entry(target)
            .or_default()
            .entry(team)
            .or_insert(series)
            .clone()
    }
}

fn plane_index(plane: Plane) -> usize {
    match plane {
        Plane::Llm => 0,
        Plane::Mcp => 1,
        Plane::A2a => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::event::Caller;

    #[test]
    fn records_become_bounded_series_without_callers_or_metadata() {
        let mut registry = Metrics::new();
        let metrics = RequestMetrics::new(&mut registry);
        let caller = Caller {
            principal: "user:alice".into(),
            team: Some("ml".into()),
            key_id: None,
            chain: Vec::new(),
        };
        let mut event = RequestEvent::new(Plane::Llm, 0, caller, "smart");
        event.model = Some("gpt".into());
        event.provider = Some("openai".into());
        event.tokens.input = 10;
        event.cost_micros = 25;
        event.ttft_us = Some(120_000);
        event.metadata.insert("project".into(), "apollo".into());
        metrics.observe(&event);
        event.fail(Status::Denied, "budget_exceeded", "over");
        metrics.observe(&event);
        let text = registry.render();
        for line in [
            r#"agenthub_requests_total{plane="llm",target="gpt",team="ml",status="ok"} 1"#,
            r#"agenthub_requests_total{plane="llm",target="gpt",team="ml",status="denied"} 1"#,
            r#"agenthub_team_tokens_total{team="ml",direction="input"} 2"#,
            r#"agenthub_team_cost_microdollars_total{team="ml"} 50"#,
            r#"agenthub_refusals_total{plane="llm",reason="budget_exceeded"} 1"#,
            r#"agenthub_llm_time_to_first_token_seconds_count{model="gpt",provider="openai"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(
            !text.contains("alice") && !text.contains("apollo"),
            "{text}"
        );

        for n in 0..MAX_VALUES + 5 {
            event.model = Some(format!("m{n}"));
            metrics.observe(&event);
        }
        let text = registry.render();
        assert!(text.contains(r#"target="other""#));
        assert!(!text.contains(r#"target="m1003""#));
    }
}
