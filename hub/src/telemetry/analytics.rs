//! Analytics over stored requests: counts, errors, latency percentiles, tokens and cost, per
//! time bucket and group (team, user, key, model, provider, tool, agent, plane, status or a
//! metadata key), and totals per group.

use std::collections::{BTreeMap, HashMap};

use crate::model::Millis;
use crate::store::Measures;

/// What requests are grouped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    None,
    Team,
    User,
    Key,
    Model,
    Provider,
    Tool,
    Agent,
    Plane,
    Status,
    /// A key of `x-agenthub-metadata`.
    Metadata(String),
}

impl GroupBy {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "" | "none" => Self::None,
            "team" => Self::Team,
            "user" | "principal" => Self::User,
            "key" => Self::Key,
            "model" => Self::Model,
            "provider" => Self::Provider,
            "tool" => Self::Tool,
            "agent" => Self::Agent,
            "plane" => Self::Plane,
            "status" => Self::Status,
            other => {
                let key = other.strip_prefix("metadata.")?;
                if key.is_empty() {
                    return None;
                }
                Self::Metadata(key.to_owned())
            }
        })
    }

    /// The group a request falls in; `None` when it has no value for it.
    fn of(&self, request: &Measures) -> Option<String> {
        match self {
            Self::None => Some(String::new()),
            Self::Team => request.team.clone(),
            Self::User => Some(request.principal.clone()),
            Self::Key => request.key_id.clone(),
            Self::Model => request.model.clone(),
            Self::Provider => request.provider.clone(),
            Self::Tool => request.tool.clone(),
            Self::Agent => request.agent.clone(),
            Self::Plane => Some(request.plane.clone()),
            Self::Status => Some(request.status.clone()),
            Self::Metadata(key) => metadata_value(&request.metadata, key),
        }
    }
}

/// The value of `key` in a stored metadata map.
pub fn metadata_value(stored: &str, key: &str) -> Option<String> {
    serde_json::from_str::<BTreeMap<String, String>>(stored)
        .ok()?
        .remove(key)
}

/// The sums and latency sample of one group (in one bucket, or in all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub requests: u64,
    pub errors: u64,
    pub denied: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_micros: u64,
    latencies_us: Vec<i64>,
}

impl Tally {
    fn add(&mut self, request: &Measures) {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        self.requests += 1;
        match request.status.as_str() {
            "error" => self.errors += 1,
            "denied" => self.denied += 1,
            _ => {}
        }
        self.input_tokens += count(request.input_tokens);
        self.output_tokens += count(request.output_tokens);
        self.cached_tokens += count(request.cached_tokens);
        self.cost_micros += count(request.cost_micros);
        self.latencies_us.push(request.latency_us);
    }

    /// The latency percentiles in milliseconds: p50, p90, p99 (nearest rank).
    pub fn percentiles_ms(&mut self) -> [f64; 3] {
        self.latencies_us.sort_unstable();
        [50.0, 90.0, 99.0].map(|p| nearest_rank(&self.latencies_us, p) as f64 / 1000.0)
    }
}

/// The `p`th percentile of `sorted` by the nearest-rank method; 0 for none.
fn nearest_rank(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Requests tallied by bucket start and group, and by group over all buckets.
#[derive(Debug, Default)]
pub struct Analytics {
    bucket_ms: Millis,
    group_by: Option<GroupBy>,
    pub series: BTreeMap<(Millis, String), Tally>,
    pub totals: HashMap<String, Tally>,
    pub scanned: u64,
}

impl Analytics {
    pub fn new(bucket_ms: Millis, group_by: GroupBy) -> Self {
        Self {
            bucket_ms: bucket_ms.max(1),
            group_by: Some(group_by),
            ..Self::default()
        }
    }

    pub fn add(&mut self, request: &Measures) {
        self.scanned += 1;
        let Some(group) = self.group_by.as_ref().and_then(|by| by.of(request)) else {
            return;
        };
        let bucket = request.at - request.at.rem_euclid(self.bucket_ms);
        self.series
            .entry((bucket, group.clone()))
            .or_default()
            .add(request);
        self.totals.entry(group).or_default().add(request);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(at: Millis, team: &str, status: &str, latency_ms: i64, cost: i64) -> Measures {
        Measures {
            id: String::new(),
            at,
            plane: "llm".into(),
            principal: "user:a".into(),
            team: (!team.is_empty()).then(|| team.to_owned()),
            key_id: None,
            model: Some("m".into()),
            provider: Some("p".into()),
            tool: None,
            agent: None,
            status: status.into(),
            latency_us: latency_ms * 1000,
            input_tokens: 10,
            output_tokens: 5,
            cached_tokens: 0,
            cost_micros: cost,
            metadata: r#"{"project":"apollo"}"#.into(),
        }
    }

    #[test]
    fn requests_are_tallied_by_bucket_and_group() {
        let mut analytics = Analytics::new(60_000, GroupBy::Team);
        for r in [
            request(0, "ml", "ok", 10, 100),
            request(59_999, "ml", "error", 30, 0),
            request(60_000, "ml", "ok", 20, 100),
            request(1_000, "web", "denied", 1, 0),
            request(2_000, "", "ok", 1, 0),
        ] {
            analytics.add(&r);
        }
        assert_eq!(analytics.scanned, 5);
        let first = &analytics.series[&(0, "ml".to_owned())];
        assert_eq!(
            (first.requests, first.errors, first.cost_micros),
            (2, 1, 100)
        );
        assert_eq!(analytics.series[&(60_000, "ml".to_owned())].requests, 1);
        let ml = analytics.totals.get_mut("ml").unwrap();
        assert_eq!(
            (
                ml.requests,
                ml.input_tokens,
                ml.output_tokens,
                ml.cost_micros
            ),
            (3, 30, 15, 200)
        );
        assert_eq!(ml.percentiles_ms(), [20.0, 30.0, 30.0]);
        assert_eq!(analytics.totals["web"].denied, 1);
        assert!(!analytics.totals.contains_key(""), "no team: not a group");
    }

    #[test]
    fn groups_by_metadata_and_parses_names() {
        let mut analytics = Analytics::new(1000, GroupBy::parse("metadata.project").unwrap());
        analytics.add(&request(0, "ml", "ok", 1, 1));
        assert_eq!(analytics.totals["apollo"].requests, 1);
        for (text, ok) in [
            ("team", true),
            ("metadata.", false),
            ("bogus", false),
            ("none", true),
        ] {
            assert_eq!(GroupBy::parse(text).is_some(), ok, "{text}");
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<i64> = (1..=100).collect();
        assert_eq!(nearest_rank(&sorted, 50.0), 50);
        assert_eq!(nearest_rank(&sorted, 99.0), 99);
        assert_eq!(nearest_rank(&[7], 90.0), 7);
        assert_eq!(nearest_rank(&[], 50.0), 0);
    }
}
