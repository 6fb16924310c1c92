//! The telemetry pipeline: every plane's request records and the audit trail, from the request
//! that made them to the store, without ever making a request wait.
//!
//! ```text
//! request ─► Telemetry::request / ::audit ─► bounded queue ─► writer: batches ─► store
//!                         (full: requests dropped, counted;       │ store failing or slow
//!                          audit entries spilled at once)         ▼
//!                                                     spill (JSON Lines segments) ─► replayed
//!                                                     when the store answers again, and at start
//! ```
//!
//! While anything waits in the spill, new batches go there too, so records reach the store in
//! the order they were made; the audit chain is extended in that order.

pub mod analytics;
pub mod audit;
pub mod bodies;
pub mod clickhouse;
pub mod draft;
pub mod event;
pub mod metrics;
pub mod otlp;
mod spill;
pub mod trace;
pub mod trail;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::audit::AuditEntry;
use self::bodies::BodyLogger;
use self::event::RequestEvent;
use self::spill::Spill;
use crate::config::{Retention, TelemetryConfig};
use crate::model::now_millis;
use crate::ops::Metrics;
use crate::store::{Cutoffs, Store};

/// What the pipeline carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
pub enum Record {
    Request(Box<RequestEvent>),
    Audit(AuditEntry),
}

/// The most records stored in one transaction.
const BATCH: usize = 1024;
/// How long the writer waits for more records before storing what it has.
const LINGER: Duration = Duration::from_millis(50);
/// A store write taking longer is given up and its batch spilled.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);
/// Waits between attempts to reach a store that failed.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often retention runs.
const PURGE_EVERY: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BatchLabels {
    result: &'static str,
}

/// The pipeline's state, as metrics.
#[derive(Clone, Default)]
struct PipelineMetrics {
    records: Family<RecordLabels, Counter>,
    batches: Family<BatchLabels, Counter>,
    queued: Gauge,
    spilled: Gauge,
}

impl PipelineMetrics {
    fn register(&self, metrics: &mut Metrics) {
        metrics.register(
            "telemetry_records",
            "Request and audit records, by kind and result (stored, spilled, dropped)",
            self.records.clone(),
        );
        metrics.register(
            "telemetry_batches",
            "Batches written to the store, by result (stored, failed)",
            self.batches.clone(),
        );
        metrics.register(
            "telemetry_queue_depth",
            "Records waiting for the writer",
            self.queued.clone(),
        );
        metrics.register(
            "telemetry_spill_pending",
            "Whether records wait in the spill for the store (1) or not (0)",
            self.spilled.clone(),
        );
    }

    fn count(&self, records: &[Record], result: &'static str) {
        let (requests, audits) = split_counts(records);
        for (kind, n) in [("request", requests), ("audit", audits)] {
            if n > 0 {
                self.records
                    .get_or_create(&RecordLabels { kind, result })
                    .inc_by(n);
            }
        }
    }
}

fn split_counts(records: &[Record]) -> (u64, u64) {
    let requests = records
        .iter()
        .filter(|record| matches!(record, Record::Request(_)))
        .count() as u64;
    (requests, records.len() as u64 - requests)
}

/// The handle requests record through. Cheap to share.
pub struct Telemetry {
    queue: mpsc::Sender<Record>,
    enabled: bool,
    bodies: Arc<BodyLogger>,
    spill: Arc<Mutex<Spill>>,
    metrics: PipelineMetrics,
    stop: CancellationToken,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Telemetry {
    /// Starts the writer and the retention task on `store`. Records already spilled (a
    /// previous run's) are stored first. A spill directory that cannot be opened (`serve`
    /// creates it before binding) leaves records to wait in memory.
    pub fn start(store: Store, config: &TelemetryConfig, metrics: &mut Metrics) -> Arc<Self> {
        let spill = Spill::open(config.spill_dir.as_deref()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot open the telemetry spill directory; records wait in memory");
            Spill::Memory(Default::default())
        });
        let spill = Arc::new(Mutex::new(spill));
        let own = PipelineMetrics::default();
        own.register(metrics);
        let (queue, records) = mpsc::channel(config.queue_depth);
        let stop = CancellationToken::new();
        let bodies = Arc::new(BodyLogger::new(config.bodies, config.max_body_bytes));
        let otlp = config
            .otlp
            .as_ref()
            .map(|otlp| otlp::Otlp::start(otlp, metrics));
        let clickhouse = config
            .clickhouse
            .as_ref()
            .map(|sink| clickhouse::ClickHouse::start(sink, metrics));
        let writer = Writer {
            clickhouse,
            otlp,
            series: metrics::RequestMetrics::new(metrics),
            bodies: bodies.clone(),
            store: store.clone(),
            spill: spill.clone(),
            metrics: own.clone(),
            degraded: true,
            retry_at: Instant::now(),
            backoff: RETRY_FIRST,
        };
        let handle = tokio::spawn(writer.run(records, stop.clone()));
        tokio::spawn(purge(store, config.retention.clone(), stop.clone()));
        Arc::new(Self {
            queue,
            enabled: config.enabled,
            bodies,
            spill,
            metrics: own,
            stop,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Whether request records keep bodies (`telemetry.bodies` is not `off`).
    pub fn logs_bodies(&self) -> bool {
        self.enabled && self.bodies.is_on()
    }

    /// Queues a request's record; never waits. A full queue drops it (counted).
    pub fn request(&self, event: RequestEvent) {
        if !self.enabled {
            return;
        }
        match self.queue.try_send(Record::Request(Box::new(event))) {
            Ok(()) => {
                self.metrics.queued.inc();
            }
            Err(_) => {
                let dropped = self.metrics.records.get_or_create(&RecordLabels {
                    kind: "request",
                    result: "dropped",
                });
                if dropped.inc().is_power_of_two() {
                    tracing::warn!("request records dropped: the telemetry queue is full");
                }
            }
        }
    }

    /// Queues an audit entry; never drops it. A full queue sends it to the spill at once.
    pub fn audit(&self, entry: AuditEntry) {
        match self.queue.try_send(Record::Audit(entry)) {
            Ok(()) => {
                self.metrics.queued.inc();
            }
            Err(
                mpsc::error::TrySendError::Full(record) | mpsc::error::TrySendError::Closed(record),
            ) => {
                let records = [record];
                let spilled = self
                    .spill
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .append(&records);
                match spilled {
                    Ok(_) => {
                        self.metrics.count(&records, "spilled");
                        self.metrics.spilled.set(1);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, entry = ?records[0], "an audit entry could not be kept")
                    }
                }
            }
        }
    }

    /// Stores (or spills) everything queued and stops the writer, waiting at most `bound`.
    pub async fn shutdown(&self, bound: Duration) {
        self.stop.cancel();
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle
            && tokio::time::timeout(bound, handle).await.is_err()
        {
            tracing::warn!("the telemetry writer did not finish in time");
        }
    }
}

struct Writer {
    bodies: Arc<BodyLogger>,
    /// Where spans go, when a collector is configured.
    otlp: Option<Arc<otlp::Otlp>>,
    /// The second sink of records, when configured.
    clickhouse: Option<clickhouse::ClickHouse>,
    /// The Prometheus series made from records.
    series: metrics::RequestMetrics,
    store: Store,
    spill: Arc<Mutex<Spill>>,
    metrics: PipelineMetrics,
    /// Records wait in the spill (or might: at start, until it has been read).
    degraded: bool,
    retry_at: Instant,
    backoff: Duration,
}

impl Writer {
    async fn run(mut self, mut records: mpsc::Receiver<Record>, stop: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let wake = if self.degraded {
                self.retry_at
            } else {
                Instant::now() + Duration::from_secs(3600)
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                received = records.recv() => match received {
                    Some(record) => batch.push(record),
                    None => break,
                },
                () = tokio::time::sleep_until(wake) => {}
            }
            if !batch.is_empty() {
                let deadline = Instant::now() + LINGER;
                while batch.len() < BATCH {
                    match tokio::time::timeout_at(deadline, records.recv()).await {
                        Ok(Some(record)) => batch.push(record),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            self.metrics.queued.dec_by(batch.len() as i64);
            self.prepare(&mut batch);
            if self.degraded && Instant::now() >= self.retry_at {
                self.replay().await;
            }
            self.write(std::mem::take(&mut batch)).await;
        }
        // Stopping: what is queued is stored, or spilled if the store cannot take it.
        while let Ok(record) = records.try_recv() {
            batch.push(record);
        }
        self.metrics.queued.set(0);
        self.prepare(&mut batch);
        if self.degraded {
            self.replay().await;
        }
        for chunk in batch.chunks(BATCH) {
            self.write(chunk.to_vec()).await;
        }
    }

    /// Completes the batch's request records — the bodies they kept turned into what is
    /// logged (parsed, redacted, cut) — counts them in the metrics and hands their spans to
    /// the exporter.
    fn prepare(&self, batch: &mut [Record]) {
        for record in batch {
            let Record::Request(event) = record else {
                continue;
            };
            if let Some(raw) = event.raw_bodies.take() {
                event.bodies = self.bodies.log(&raw, event.plane);
            }
            self.series.observe(event);
            if let Some(otlp) = &self.otlp {
                otlp.record(event);
            }
            if let Some(clickhouse) = &self.clickhouse {
                clickhouse.record(event);
            }
        }
    }

    /// Stores `batch`, or spills it when the store fails or anything already waits.
    async fn write(&mut self, batch: Vec<Record>) {
        if batch.is_empty() {
            return;
        }
        if !self.degraded {
            match store_records(&self.store, &batch).await {
                Ok(()) => {
                    self.stored(&batch);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, records = batch.len(), "the store cannot take telemetry records; spilling them");
                    self.fail();
                }
            }
        }
        self.spill(batch).await;
    }

    fn stored(&self, records: &[Record]) {
        self.metrics.count(records, "stored");
        self.metrics
            .batches
            .get_or_create(&BatchLabels { result: "stored" })
            .inc();
    }

    fn fail(&mut self) {
        self.metrics
            .batches
            .get_or_create(&BatchLabels { result: "failed" })
            .inc();
        self.degraded = true;
        self.metrics.spilled.set(1);
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
    }

    async fn spill(&mut self, batch: Vec<Record>) {
        let spill = self.spill.clone();
        let metrics = self.metrics.clone();
        let appended = tokio::task::spawn_blocking(move || {
            let result = spill
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(&batch);
            match result {
                Ok(dropped) => {
                    metrics.count(&batch, "spilled");
                    if dropped > 0 {
                        metrics
                            .records
                            .get_or_create(&RecordLabels {
                                kind: "request",
                                result: "dropped",
                            })
                            .inc_by(dropped);
                    }
                    Ok(())
                }
                Err(e) => {
                    metrics.count(&batch, "dropped");
                    Err(e)
                }
            }
        })
        .await;
        match appended {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "telemetry records could be neither stored nor spilled")
            }
            Err(e) => tracing::error!(error = %e, "the spill task failed"),
        }
    }

    /// Stores what waits in the spill, oldest first, until it is empty or the store fails.
    async fn replay(&mut self) {
        loop {
            let spill = self.spill.clone();
            let chunk = tokio::task::spawn_blocking(move || {
                spill
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .oldest()
            })
            .await;
            let chunk = match chunk {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => {
                    if self.degraded {
                        tracing::info!("telemetry records are stored again");
                    }
                    self.degraded = false;
                    self.backoff = RETRY_FIRST;
                    self.metrics.spilled.set(0);
                    return;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read the telemetry spill");
                    self.fail();
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the spill task failed");
                    self.fail();
                    return;
                }
            };
            for part in chunk.records.chunks(BATCH) {
                if let Err(e) = store_records(&self.store, part).await {
                    tracing::debug!(error = %e, "the store still cannot take spilled records");
                    self.fail();
                    return;
                }
                self.stored(part);
            }
            let spill = self.spill.clone();
            let released = tokio::task::spawn_blocking(move || {
                spill
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .release(chunk)
            })
            .await;
            if !matches!(released, Ok(Ok(()))) {
                tracing::error!("cannot remove a replayed spill segment");
                self.fail();
                return;
            }
        }
    }
}

/// One batch to the store: request records, then audit entries, each within the timeout.
async fn store_records(store: &Store, records: &[Record]) -> Result<(), crate::error::Error> {
    let mut requests = Vec::new();
    let mut audits = Vec::new();
    for record in records {
        match record {
            Record::Request(event) => requests.push((**event).clone()),
            Record::Audit(entry) => audits.push(entry.clone()),
        }
    }
    let stored = tokio::time::timeout(STORE_TIMEOUT, async {
        store.save_requests(&requests).await?;
        store.append_audit(&audits).await
    })
    .await;
    match stored {
        Ok(result) => result,
        Err(_) => Err(crate::error::Error::new(
            agenthub_policy::ErrorKind::Unavailable,
            "the store did not answer in time",
        )),
    }
}

/// Deletes what retention no longer keeps, now and every [`PURGE_EVERY`].
async fn purge(store: Store, retention: Retention, stop: CancellationToken) {
    loop {
        let now = now_millis();
        let ago = |kept: Duration| now - i64::try_from(kept.as_millis()).unwrap_or(i64::MAX);
        let cutoffs = Cutoffs {
            events: ago(retention.events),
            bodies: ago(retention.bodies),
            traces: ago(retention.traces),
            audit: ago(retention.audit),
        };
        match store.purge_telemetry(&cutoffs).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "retention: old telemetry deleted"),
            Err(e) => tracing::warn!(error = %e, "retention could not delete old telemetry"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PURGE_EVERY) => {}
        }
    }
}

/// The spill directory serving uses: `spill/` in the data directory, unless configured.
pub fn spill_dir(config: &TelemetryConfig, data_dir: &std::path::Path) -> PathBuf {
    config
        .spill_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("spill"))
}
