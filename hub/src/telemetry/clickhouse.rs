//! ClickHouse as a second sink for request records, for volumes the primary store should not
//! be asked to aggregate. Records go over ClickHouse's HTTP interface (`INSERT … FORMAT
//! JSONEachRow`) in batches, from a task of their own: a ClickHouse that is down is retried
//! with backoff and, past its bounded queue, records are dropped for it (counted) — the
//! primary store still has them. The table is a `ReplacingMergeTree` keyed by record id, so a
//! batch sent twice is merged into one.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::event::RequestEvent;
use crate::ops::Metrics;

/// The `telemetry.clickhouse` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseConfig {
    /// The HTTP interface, e.g. `http://clickhouse:8123`.
    pub url: String,
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default = "default_table")]
    pub table: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// How long one insert may take.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_database() -> String {
    "agenthub".to_owned()
}

fn default_table() -> String {
    "requests".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ClickHouseConfig {
    pub fn check(&self, errors: &mut Vec<crate::config::ConfigError>) {
        let mut err = |path: &str, message: String| {
            errors.push(crate::config::ConfigError::new(path, message));
        };
        match reqwest::Url::parse(&self.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => err(
                "telemetry.clickhouse.url",
                format!(
                    "\"{}\" is not an http(s) URL (e.g. http://clickhouse:8123)",
                    self.url
                ),
            ),
        }
        for (path, name) in [
            ("telemetry.clickhouse.database", &self.database),
            ("telemetry.clickhouse.table", &self.table),
        ] {
            if !is_identifier(name) {
                err(
                    path,
                    format!("\"{name}\" must be letters, digits and _, starting with a letter"),
                );
            }
        }
    }

    fn qualified(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }
}

/// One row, as JSONEachRow.
#[derive(Serialize)]
struct Row<'a> {
    id: &'a str,
    date: String,
    at: u64,
    plane: &'static str,
    trace_id: &'a str,
    principal: &'a str,
    team: &'a str,
    key_id: &'a str,
    target: &'a str,
    model: &'a str,
    provider: &'a str,
    tool: &'a str,
    agent: &'a str,
    status: &'static str,
    error_class: &'a str,
    latency_us: u64,
    input_tokens: u64,
    output_tokens: u64,
    cached_tokens: u64,
    cost_micros: u64,
    metadata: String,
    record: String,
}

fn row_of(event: &RequestEvent) -> Row<'_> {
    let at = u64::try_from(event.at).unwrap_or(0);
    let day =
        humantime::format_rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(at)).to_string();
    Row {
        id: &event.id,
        date: day[..10].to_owned(),
        at,
        plane: event.plane.as_str(),
        trace_id: event.trace_id.as_deref().unwrap_or(""),
        principal: &event.caller.principal,
        team: event.caller.team.as_deref().unwrap_or(""),
        key_id: event.caller.key_id.as_deref().unwrap_or(""),
        target: &event.target,
        model: event.model.as_deref().unwrap_or(""),
        provider: event.provider.as_deref().unwrap_or(""),
        tool: event.tool.as_deref().unwrap_or(""),
        agent: event.agent.as_deref().unwrap_or(""),
        status: event.status.as_str(),
        error_class: event.error.as_ref().map_or("", |e| e.class.as_str()),
        latency_us: event.latency_us,
        input_tokens: event.tokens.input,
        output_tokens: event.tokens.output,
        cached_tokens: event.tokens.cached,
        cost_micros: event.cost_micros,
        metadata: serde_json::to_string(&event.metadata).unwrap_or_default(),
        // The writer hands records over without their bodies.
        record: serde_json::to_string(event).unwrap_or_default(),
    }
}

/// The table, made if missing. Written for ClickHouse releases from 18.16 on: a `Date`
/// column to partition by, epoch milliseconds, strings for the optional fields.
fn create_table(config: &ClickHouseConfig) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (
            id String, date Date, at UInt64, plane String, trace_id String,
            principal String, team String, key_id String, target String, model String,
            provider String, tool String, agent String, status String, error_class String,
            latency_us UInt64, input_tokens UInt64, output_tokens UInt64, cached_tokens UInt64,
            cost_micros UInt64, metadata String, record String
        ) ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(date) ORDER BY (date, id)",
        config.qualified()
    )
}

const QUEUE: usize = 65_536;
const BATCH: usize = 5000;
const LINGER: Duration = Duration::from_secs(1);
const ATTEMPTS: u32 = 6;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    result: &'static str,
}

/// The sink's handle.
pub struct ClickHouse {
    queue: mpsc::Sender<RequestEvent>,
    records: Family<SinkLabels, Counter>,
}

impl ClickHouse {
    pub fn start(config: &ClickHouseConfig, metrics: &mut Metrics) -> Self {
        let records = Family::<SinkLabels, Counter>::default();
        metrics.register(
            "clickhouse_records",
            "Request records for ClickHouse, by result (inserted, failed, dropped)",
            records.clone(),
        );
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(insert(config.clone(), waiting, records.clone()));
        Self { queue, records }
    }

    /// Queues a record; never waits.
    pub fn record(&self, event: &RequestEvent) {
        if self.queue.try_send(event.clone()).is_err() {
            self.records
                .get_or_create(&SinkLabels { result: "dropped" })
                .inc();
        }
    }
}

struct Client {
    http: reqwest::Client,
    config: ClickHouseConfig,
}

impl Client {
    /// Runs `query` with `body` (the data of an `INSERT`), or `body` alone when `query` is
    /// empty (a statement: ClickHouse wants a body with a length).
    async fn run(&self, query: &str, body: Vec<u8>) -> Result<(), String> {
        let url = if query.is_empty() {
            reqwest::Url::parse(&self.config.url)
        } else {
            reqwest::Url::parse_with_params(&self.config.url, [("query", query)])
        }
        .map_err(|e| e.to_string())?;
        let mut request = self.http.post(url).body(body);
        if let Some(user) = &self.config.user {
            request = request.basic_auth(user, self.config.password.as_deref());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                Err(format!(
                    "{status}: {}",
                    text.chars().take(300).collect::<String>()
                ))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Runs `query` until it succeeds or the attempts are spent, backing off between them.
    async fn run_retrying(&self, query: &str, body: &[u8]) -> Result<(), String> {
        let mut backoff = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.run(query, body.to_vec()).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        Err(last)
    }
}

async fn insert(
    config: ClickHouseConfig,
    mut waiting: mpsc::Receiver<RequestEvent>,
    counts: Family<SinkLabels, Counter>,
) {
    let http = match crate::outbound::client_builder()
        .timeout(config.timeout)
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the ClickHouse client; records are not sent");
            return;
        }
    };
    let client = Client { http, config };
    let mut ready = false;
    let insert = format!(
        "INSERT INTO {} FORMAT JSONEachRow",
        client.config.qualified()
    );
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(event) = waiting.recv().await {
        batch.push(event);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, waiting.recv()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        if !ready {
            let database = format!("CREATE DATABASE IF NOT EXISTS {}", client.config.database);
            ready = client.run_retrying("", database.as_bytes()).await.is_ok()
                && client
                    .run_retrying("", create_table(&client.config).as_bytes())
                    .await
                    .inspect_err(
                        |e| tracing::warn!(error = %e, "cannot create the ClickHouse table"),
                    )
                    .is_ok();
        }
        let mut body = Vec::with_capacity(batch.len() * 600);
        for event in &batch {
            if serde_json::to_writer(&mut body, &row_of(event)).is_ok() {
                body.push(b'\n');
            }
        }
        let n = batch.len() as u64;
        batch.clear();
        let result = match client.run_retrying(&insert, &body).await {
            Ok(()) => "inserted",
            Err(e) => {
                tracing::warn!(error = %e, records = n, "ClickHouse did not take request records");
                // The table may be gone: make it again before the next batch.
                ready = false;
                "failed"
            }
        };
        counts.get_or_create(&SinkLabels { result }).inc_by(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::event::{Caller, Plane};

    #[test]
    fn rows_carry_the_day_and_the_record() {
        let mut event = RequestEvent::new(Plane::Mcp, 1_764_201_600_000, Caller::default(), "s/t");
        event.tool = Some("s/t".into());
        let row = serde_json::to_value(row_of(&event)).unwrap();
        assert_eq!(row["date"], "2025-11-27");
        assert_eq!(row["plane"], "mcp");
        assert_eq!(row["model"], "");
        let record: RequestEvent = serde_json::from_str(row["record"].as_str().unwrap()).unwrap();
        assert_eq!(record, event);
    }

    #[test]
    fn names_are_checked() {
        let mut config = ClickHouseConfig {
            url: "ftp://x".into(),
            database: "agenthub".into(),
            table: "requests; DROP".into(),
            user: None,
            password: None,
            timeout: Duration::from_secs(1),
        };
        let mut errors = Vec::new();
        config.check(&mut errors);
        assert_eq!(errors.len(), 2, "{errors:?}");
        config.url = "http://127.0.0.1:8123".into();
        config.table = "requests".into();
        errors.clear();
        config.check(&mut errors);
        assert!(errors.is_empty());
    }
}
