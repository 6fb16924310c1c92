//! Gauges read at each scrape rather than kept up to date: how much of each budget is spent,
//! and whether each upstream — model target, MCP server, agent — can be used now.

use std::collections::BTreeSet;
use std::sync::Arc;

use agenthub_policy::limits::{LimitKind, Timestamp};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::a2a::A2aPlane;
use crate::governance::Governance;
use crate::llm::LlmPlane;
use crate::mcp::McpPlane;
use crate::model::now_millis;

/// Budget counters shown at most: one per subject a budget applies per (user, key …), so the
/// busiest hubs would otherwise grow a series per caller.
pub const MAX_BUDGET_SERIES: usize = 1000;

/// What the scrape-time gauges read.
pub struct ScrapeGauges {
    pub governance: Arc<Governance>,
    pub llm: Arc<LlmPlane>,
    pub mcp: Arc<McpPlane>,
    pub a2a: Arc<A2aPlane>,
}

impl std::fmt::Debug for ScrapeGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScrapeGauges")
    }
}

impl ScrapeGauges {
    /// Every upstream by plane and name, and whether it can be used now: a model target whose
    /// circuit breaker is closed, an MCP server that is connected, an agent whose card was
    /// read.
    fn upstreams(&self) -> Vec<(&'static str, String, bool)> {
        let mut up = Vec::new();
        let now = std::time::Instant::now();
        let health = self.llm.engine().health();
        let targets: BTreeSet<String> = self
            .governance
            .catalog()
            .routes()
            .flat_map(|route| route.targets.iter().map(|(target, _)| target.name.clone()))
            .collect();
        for target in targets {
            let open = health.is_open(&target, now);
            up.push(("llm", target, !open));
        }
        for server in self.mcp.registry().status() {
            let ready = server.state == agenthub_mcp_registry::registry::State::Ready;
            up.push(("mcp", server.name, ready));
        }
        for agent in self.a2a.registry().statuses() {
            let ready = matches!(agent.state, agenthub_a2a_bus::registry::CardState::Ready);
            up.push(("a2a", agent.registration.name, ready));
        }
        up
    }
}

impl Collector for ScrapeGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = Timestamp::from_unix_millis(now_millis());
        let budgets: Vec<_> = self
            .governance
            .limits()
            .status_all(now)
            .into_iter()
            .filter(|status| status.kind == LimitKind::Budget)
            .take(MAX_BUDGET_SERIES)
            .collect();
        for (name, help, value) in [
            (
                "budget_used",
                "Spent in each budget's current period (micro-dollars, tokens or requests, as its measure says), by budget and subject; at most 1,000 series",
                (|s: &agenthub_policy::limits::LimitStatus| s.used) as fn(&_) -> u64,
            ),
            (
                "budget_limit",
                "Each budget's limit per period, by budget and subject; at most 1,000 series",
                |s| s.limit,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for status in &budgets {
                let labels = [
                    ("budget", status.rule_id.as_str()),
                    ("subject", status.subject.as_str()),
                    ("measure", status.measure.as_str()),
                ];
                let gauge = ConstGauge::new(i64::try_from(value(status)).unwrap_or(i64::MAX));
                gauge.encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "upstream_up",
            "1 when an upstream can be used now (a model target's circuit breaker closed, an MCP server connected, an agent's card read), else 0; by plane and name",
            None,
            MetricType::Gauge,
        )?;
        for (plane, name, up) in self.upstreams() {
            let labels = [("plane", plane), ("upstream", name.as_str())];
            ConstGauge::new(i64::from(up)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
