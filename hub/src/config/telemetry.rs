//! The `telemetry` section: what is logged of each request, where events wait when the store
//! cannot take them, and how long each kind of data is kept. Read at start.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// How much of a request's bodies (prompts, completions, tool arguments and results, A2A
/// parts) is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyLogging {
    /// Bodies are not logged.
    #[default]
    Off,
    /// Bodies are logged after the guardrails' PII and secret redaction.
    Redacted,
    /// Bodies are logged as sent.
    Full,
}

/// What a malformed `x-agenthub-metadata` header gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataErrors {
    /// A 400 naming the problem.
    #[default]
    Reject,
    /// The header is ignored and the answer carries `x-agenthub-warnings`.
    Ignore,
}

/// How long each kind of data is kept; a background task deletes what is older.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Request records (the query API, analytics).
    #[serde(with = "humantime_serde")]
    pub events: Duration,
    /// Logged bodies.
    #[serde(with = "humantime_serde")]
    pub bodies: Duration,
    /// A2A trace events (`agenthub trace show`, replay).
    #[serde(with = "humantime_serde")]
    pub traces: Duration,
    /// The audit trail. Verification starts from the oldest row kept.
    #[serde(with = "humantime_serde")]
    pub audit: Duration,
}

const DAY: u64 = 24 * 60 * 60;

impl Default for Retention {
    fn default() -> Self {
        Self {
            events: Duration::from_secs(30 * DAY),
            bodies: Duration::from_secs(7 * DAY),
            traces: Duration::from_secs(30 * DAY),
            audit: Duration::from_secs(400 * DAY),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Whether request records are kept at all (the audit trail always is). Also `"true"` or
    /// `"false"`, so that a `${VAR}` can set it.
    #[serde(deserialize_with = "flag")]
    pub enabled: bool,
    /// `off` (default), `redacted` or `full`.
    pub bodies: BodyLogging,
    /// `reject` (default: 400) or `ignore` (a warning header).
    pub metadata_errors: MetadataErrors,
    /// How many events may wait for the writer; past it, request events are dropped (counted)
    /// and audit events spill to disk.
    pub queue_depth: usize,
    /// Where events wait, in append-only files, while the store cannot take them. Default:
    /// `spill/` in the data directory. Without one (tests), they wait in memory, bounded.
    pub spill_dir: Option<PathBuf>,
    /// The most the spill directory may hold, in bytes; past it request records are dropped
    /// (counted) while audit entries are still kept.
    pub max_spill_bytes: u64,
    /// The largest body logged per request, in bytes; longer ones are cut.
    pub max_body_bytes: usize,
    pub retention: Retention,
    /// Spans to an OpenTelemetry collector (OTLP over HTTP, protobuf).
    pub otlp: Option<crate::telemetry::otlp::OtlpConfig>,
    /// Request records also to ClickHouse, for high volume.
    pub clickhouse: Option<crate::telemetry::clickhouse::ClickHouseConfig>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bodies: BodyLogging::Off,
            metadata_errors: MetadataErrors::Reject,
            queue_depth: 65_536,
            spill_dir: None,
            max_spill_bytes: 1 << 30,
            max_body_bytes: 64 * 1024,
            retention: Retention::default(),
            otlp: None,
            clickhouse: None,
        }
    }
}

impl TelemetryConfig {
    pub(super) fn check(&self, errors: &mut Vec<ConfigError>) {
        if !(64..=16 * 1024 * 1024).contains(&self.queue_depth) {
            errors.push(ConfigError::new(
                "telemetry.queue_depth",
                "must be between 64 and 16777216",
            ));
        }
        let retention = &self.retention;
        for (path, kept) in [
            ("telemetry.retention.events", retention.events),
            ("telemetry.retention.bodies", retention.bodies),
            ("telemetry.retention.traces", retention.traces),
            ("telemetry.retention.audit", retention.audit),
        ] {
            if kept < Duration::from_secs(60 * 60) {
                errors.push(ConfigError::new(path, "must be at least 1h"));
            }
        }
        if let Some(otlp) = &self.otlp {
            otlp.check(errors);
        }
        if let Some(clickhouse) = &self.clickhouse {
            clickhouse.check(errors);
        }
        if retention.bodies > retention.events {
            errors.push(ConfigError::new(
                "telemetry.retention.bodies",
                "cannot be longer than telemetry.retention.events",
            ));
        }
    }
}

/// A boolean, or its text (`"true"`, `"false"`): what a `${VAR}` gives.
fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Flag::deserialize(deserializer)? {
        Flag::Bool(value) => Ok(value),
        Flag::Text(text) => match text.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "expected true or false, not \"{other}\""
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::config::HubConfig;

    fn errors(yaml: &str) -> Vec<(String, String)> {
        match HubConfig::parse(yaml, "t.yaml", &|name| {
            (name == "RECORDS").then(|| "false".to_owned())
        }) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|e| (e.path, e.message)).collect(),
        }
    }

    /// Each bad setting is reported at its path; `${VAR}` may set `enabled`.
    #[test]
    fn the_section_is_checked_whole() {
        let config = HubConfig::parse(
            "telemetry: {enabled: \"${RECORDS}\", bodies: redacted}",
            "t.yaml",
            &|_| Some("false".to_owned()),
        )
        .unwrap();
        assert!(!config.telemetry.enabled);
        let cases = [
            ("telemetry: {bodies: some}", "telemetry.bodies"),
            ("telemetry: {queue_depth: 1}", "telemetry.queue_depth"),
            (
                "telemetry: {retention: {events: 1m}}",
                "telemetry.retention.events",
            ),
            (
                "telemetry: {retention: {events: 2d, bodies: 3d}}",
                "telemetry.retention.bodies",
            ),
            (
                "telemetry: {otlp: {endpoint: \"collector:4318\"}}",
                "telemetry.otlp.endpoint",
            ),
            (
                "telemetry: {otlp: {endpoint: \"http://c:4318/v1/traces\", sampling: 2}}",
                "telemetry.otlp.sampling",
            ),
            (
                "telemetry: {clickhouse: {url: \"http://ch:8123\", table: \"a-b\"}}",
                "telemetry.clickhouse.table",
            ),
            ("telemetry: {enabled: maybe}", "telemetry.enabled"),
            ("telemetry: {colour: red}", "telemetry"),
        ];
        for (yaml, path) in cases {
            let found = errors(yaml);
            assert!(
                found.iter().any(|(p, _)| p.starts_with(path)),
                "{yaml}: {found:?}"
            );
        }
    }
}
