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
pub mod gauges;
pub mod metrics;
pub mod otlp;
pub mod packed;
pub(crate) mod spill;
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
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::audit::AuditEntry;
use self::bodies::BodyLogger;
use self::event::RequestEvent;
use self::packed::PackedRequest;
use self::spill::Spill;
use agenthub_policy::ErrorKind;

use crate::config::{Retention, TelemetryConfig};
use crate::error::Error;
use crate::model::now_millis;
use crate::ops::Metrics;
use crate::store::{Cutoffs, Delivery, Store};

/// What the pipeline carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
pub enum Record {
    Request(PackedRequest),
    // Boxed as the packed record is small: the queue's slots and batches move the size of the
    // larger.
    Audit(Box<AuditEntry>),
}

impl Record {
    /// The record's id (UUIDv7).
    pub fn id(&self) -> &str {
        match self {
            Self::Request(packed) => packed.id(),
            Self::Audit(entry) => &entry.id,
        }
    }
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
            "Request and audit records, by kind and result (stored, spilled, dropped, rejected)",
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

    /// Counts `records` by kind under `result` (stored, spilled, dropped, rejected).
    fn count(&self, records: &[Record], result: &'static str) {
        let (requests, audits) = split_counts(records);
        self.count_kinds(requests, audits, result);
    }

    fn count_kinds(&self, requests: u64, audits: u64, result: &'static str) {
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

/// Audit entries that found the queue full: kept here (never dropped, never written to disk by
/// the request) until the writer takes them.
#[derive(Default)]
struct Overflow {
    entries: Mutex<Vec<AuditEntry>>,
    ready: Notify,
}

impl Overflow {
    /// The entries held, as records for the writer's batch.
    fn take(&self) -> impl Iterator<Item = Record> {
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .map(|entry| Record::Audit(Box::new(entry)))
    }
}

/// The handle requests record through. Cheap to share.
pub struct Telemetry {
    queue: mpsc::Sender<Record>,
    enabled: bool,
    /// The Prometheus series, fed by [`Telemetry::request`] from every record, queued or not:
    /// while the request's memory is still in cache, and so that turning records off keeps
    /// the metrics.
    series: Arc<metrics::RequestMetrics>,
    bodies: Arc<BodyLogger>,
    overflow: Arc<Overflow>,
    denials: trail::Denials,
    metrics: PipelineMetrics,
    stop: CancellationToken,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Telemetry {
    /// Starts the writer and the retention task on `store`. Records already spilled (a
    /// previous run's) are stored first. A spill directory that cannot be opened (`serve`
    /// creates it before binding) leaves records to wait in memory.
    pub fn start(store: Store, config: &TelemetryConfig, metrics: &mut Metrics) -> Arc<Self> {
        let spill = Spill::open(config.spill_dir.as_deref(), config.max_spill_bytes)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot open the telemetry spill directory; records wait in memory");
                Spill::Memory(Default::default())
            });
        let own = PipelineMetrics::default();
        own.register(metrics);
        let (queue, records) = mpsc::channel(config.queue_depth);
        let stop = CancellationToken::new();
        let bodies = Arc::new(BodyLogger::new(config.bodies, config.max_body_bytes));
        let overflow = Arc::new(Overflow::default());
        let series = Arc::new(metrics::RequestMetrics::new(metrics));
        let sinks = Sinks {
            otlp: config
                .otlp
                .as_ref()
                .map(|otlp| otlp::Otlp::start(otlp, metrics)),
            clickhouse: config
                .clickhouse
                .as_ref()
                .map(|sink| clickhouse::ClickHouse::start(sink, metrics)),
        };
        let writer = Writer {
            sinks,
            bodies: bodies.clone(),
            overflow: overflow.clone(),
            store: store.clone(),
            spill: Arc::new(Mutex::new(spill)),
            metrics: own.clone(),
            degraded: true,
            retry_at: Instant::now(),
            backoff: RETRY_FIRST,
        };
        let handle = tokio::spawn(writer.run(records, stop.clone()));
        tokio::spawn(purge(store, config.retention.clone(), stop.clone()));
        let telemetry = Arc::new(Self {
            queue,
            enabled: config.enabled,
            series,
            bodies,
            overflow,
            denials: trail::Denials::default(),
            metrics: own,
            stop: stop.clone(),
            writer: Mutex::new(Some(handle)),
        });
        tokio::spawn(close_denial_windows(Arc::downgrade(&telemetry), stop));
        telemetry
    }

    /// Records a refused request in the audit trail: at once if it is the first of its kind
    /// in the current window, else counted into the window's summary.
    pub fn denied(&self, denial: trail::Denial) {
        if let Some(entry) = self.denials.admit(denial) {
            self.audit(entry);
        }
    }

    fn close_denial_window(&self) {
        for entry in self.denials.close_window(DENIAL_WINDOW.as_secs()) {
            self.audit(entry);
        }
    }

    /// Whether request records keep bodies (`telemetry.bodies` is not `off`).
    pub fn logs_bodies(&self) -> bool {
        self.enabled && self.bodies.is_on()
    }

    /// What a request keeps of a body the hub has parsed or made as JSON, for its record: a
    /// copy of it, or of its first `max_body_bytes`.
    pub fn keep_json_body(&self, body: &bytes::Bytes) -> bodies::KeptBody {
        self.bodies.keep_json(body)
    }

    /// Queues a request's record, packed; never waits. A full queue drops it (counted). With
    /// records off, only its metrics are kept.
    pub fn request(&self, mut event: RequestEvent) {
        self.series.observe(&event);
        if !self.enabled {
            return;
        }
        let packed = self.bodies.pack(&mut event);
        drop(event);
        match self.queue.try_send(Record::Request(packed)) {
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

    /// Queues an audit entry; never drops it and never waits: past a full queue it is held
    /// for the writer.
    pub fn audit(&self, entry: AuditEntry) {
        match self.queue.try_send(Record::Audit(Box::new(entry))) {
            Ok(()) => {
                self.metrics.queued.inc();
            }
            Err(
                mpsc::error::TrySendError::Full(Record::Audit(entry))
                | mpsc::error::TrySendError::Closed(Record::Audit(entry)),
            ) => {
                self.overflow
                    .entries
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(*entry);
                self.overflow.ready.notify_one();
            }
            Err(_) => {}
        }
    }

    /// Stores (or spills) everything queued and stops the writer, waiting at most `bound`.
    pub async fn shutdown(&self, bound: Duration) {
        self.close_denial_window();
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

/// Where finished records go besides the store.
struct Sinks {
    /// Spans, when a collector is configured.
    otlp: Option<Arc<otlp::Otlp>>,
    /// The second sink of records, when configured.
    clickhouse: Option<clickhouse::ClickHouse>,
}

struct Writer {
    sinks: Sinks,
    bodies: Arc<BodyLogger>,
    overflow: Arc<Overflow>,
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
                received = records.recv_many(&mut batch, BATCH) => if received == 0 {
                    break;
                },
                () = self.overflow.ready.notified() => {}
                () = tokio::time::sleep_until(wake) => {}
            }
            // A batch short of full waits once for more rather than waking per record.
            if !batch.is_empty() && batch.len() < BATCH {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(LINGER) => {}
                }
                while batch.len() < BATCH {
                    match records.try_recv() {
                        Ok(record) => batch.push(record),
                        Err(_) => break,
                    }
                }
            }
            self.metrics.queued.dec_by(batch.len() as i64);
            batch.extend(self.overflow.take());
            let taken = std::mem::take(&mut batch);
            let (requests, audits) = split_counts(&taken);
            // A bug that panics on one batch loses that batch, not the writer: the queue's
            // receiver lives on, and with it every record after.
            let pass = std::panic::AssertUnwindSafe(self.pass(taken));
            if let Err(panic) = futures::FutureExt::catch_unwind(pass).await {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %message, requests, audits, "the telemetry writer failed on a batch; its records are lost");
                self.metrics.count_kinds(requests, audits, "dropped");
            }
        }
        // Stopping: nothing more is taken; what is queued is stored, or spilled for the next
        // start. The spill is left for the next start too.
        records.close();
        while let Some(record) = records.recv().await {
            batch.push(record);
        }
        self.metrics.queued.set(0);
        batch.extend(self.overflow.take());
        let ready = self.prepare(batch).await;
        for part in in_batches(ready) {
            self.write(part).await;
        }
    }

    /// One pass: the batch prepared, a spilled segment replayed when one is due (one per
    /// pass, so that new records keep being taken meanwhile), the batch written.
    async fn pass(&mut self, batch: Vec<Record>) {
        let ready = self.prepare(batch).await;
        if self.degraded && Instant::now() >= self.retry_at {
            self.replay_one().await;
        }
        self.write(ready.into()).await;
    }

    /// Completes the batch's request records — the bodies too long to be logged when their
    /// request ended turned into what is logged (parsed, redacted, cut; on a blocking thread,
    /// as redaction is CPU work) — and hands them to the other sinks.
    async fn prepare(&self, mut batch: Vec<Record>) -> Vec<Record> {
        let pending = batch
            .iter()
            .any(|r| matches!(r, Record::Request(p) if p.has_pending_bodies()));
        if pending {
            let bodies = self.bodies.clone();
            let logged = tokio::task::spawn_blocking(move || {
                let mut scratch = String::new();
                for record in &mut batch {
                    if let Record::Request(packed) = record {
                        packed.log_pending(&mut scratch, |request, response, plane, out| {
                            bodies.log(request, response, plane, out)
                        });
                    }
                }
                batch
            })
            .await;
            batch = match logged {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "logging bodies failed; the batch is lost");
                    return Vec::new();
                }
            };
        }
        // The other sinks take records unpacked, without their bodies (which they never send).
        if cfg!(test) || self.sinks.otlp.is_some() || self.sinks.clickhouse.is_some() {
            for record in &batch {
                let Record::Request(packed) = record else {
                    continue;
                };
                let event = match packed.event() {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::error!(error = %e, "a packed request record cannot be read");
                        continue;
                    }
                };
                #[cfg(test)]
                if event.operation == tests::PANIC_IN_WRITER {
                    panic!("a fail point of the writer's tests");
                }
                if let Some(otlp) = &self.sinks.otlp {
                    otlp.record(&event);
                }
                if let Some(clickhouse) = &self.sinks.clickhouse {
                    clickhouse.record(&event);
                }
            }
        }
        batch
    }

    /// Stores `batch`, or spills it when the store is unavailable or anything already waits.
    async fn write(&mut self, batch: Arc<[Record]>) {
        if batch.is_empty() {
            return;
        }
        if !self.degraded {
            match self.store_or_salvage(&batch, Delivery::First).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, records = batch.len(), "the store cannot take telemetry records; spilling them");
                    self.fail();
                }
            }
        }
        self.spill(batch).await;
    }

    /// Stores `records`. A store that is unavailable is an error (the caller spills); a batch
    /// the store refuses for its contents is stored record by record, and the records it
    /// still refuses are logged and counted as rejected — one bad record never holds up the
    /// rest.
    async fn store_or_salvage(
        &self,
        records: &Arc<[Record]>,
        delivery: Delivery,
    ) -> Result<(), Error> {
        match store_records(&self.store, records, delivery).await {
            Ok(()) => {
                self.stored(records);
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "the store refused a batch of telemetry records; storing them one by one");
            }
        }
        for record in records.iter() {
            let one: Arc<[Record]> = Arc::new([record.clone()]);
            // The batch's requests may be stored already: the audit append may have failed.
            match store_records(&self.store, &one, Delivery::Repeat).await {
                Ok(()) => self.stored(std::slice::from_ref(record)),
                Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
                Err(e) => {
                    tracing::error!(error = %e, record = ?record, "the store refused a telemetry record; it is dropped");
                    self.metrics.count(std::slice::from_ref(record), "rejected");
                }
            }
        }
        Ok(())
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

    async fn spill(&mut self, batch: Arc<[Record]>) {
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
                tracing::error!(error = %e, "telemetry records could be neither stored nor spilled");
            }
            Err(e) => tracing::error!(error = %e, "the spill task failed"),
        }
    }

    /// Stores the oldest segment waiting in the spill; when none waits, the store is in use
    /// again. On failure, the next attempt is backed off.
    async fn replay_one(&mut self) {
        let spill = self.spill.clone();
        let chunk = tokio::task::spawn_blocking(move || {
            spill
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .oldest()
        })
        .await;
        let mut chunk = match chunk {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => {
                if self.metrics.spilled.get() > 0 {
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
        for part in in_batches(std::mem::take(&mut chunk.records)) {
            if let Err(e) = self.store_or_salvage(&part, Delivery::Repeat).await {
                tracing::debug!(error = %e, "the store still cannot take spilled records");
                self.fail();
                return;
            }
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
        // More may wait: the next pass replays at once.
        self.retry_at = Instant::now();
    }
}

/// `records` in batches of at most [`BATCH`], moved (not copied) into what the store shares.
fn in_batches(mut records: Vec<Record>) -> Vec<Arc<[Record]>> {
    let mut batches = Vec::with_capacity(records.len().div_ceil(BATCH));
    while records.len() > BATCH {
        let rest = records.split_off(BATCH);
        batches.push(records.into());
        records = rest;
    }
    if !records.is_empty() {
        batches.push(records.into());
    }
    batches
}

/// One batch to the store: request records, then audit entries, each within the timeout.
async fn store_records(
    store: &Store,
    records: &Arc<[Record]>,
    delivery: Delivery,
) -> Result<(), Error> {
    let audits: Vec<AuditEntry> = records
        .iter()
        .filter_map(|record| match record {
            Record::Audit(entry) => Some((**entry).clone()),
            Record::Request(_) => None,
        })
        .collect();
    let stored = tokio::time::timeout(STORE_TIMEOUT, async {
        store.save_requests(records.clone(), delivery).await?;
        store.append_audit(&audits).await
    })
    .await;
    match stored {
        Ok(result) => result,
        Err(_) => Err(Error::new(
            ErrorKind::Unavailable,
            "the store did not answer in time",
        )),
    }
}

/// How long repeated denials are counted before their summary is recorded.
const DENIAL_WINDOW: Duration = Duration::from_secs(60);

async fn close_denial_windows(telemetry: std::sync::Weak<Telemetry>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(DENIAL_WINDOW) => {}
        }
        match telemetry.upgrade() {
            Some(telemetry) => telemetry.close_denial_window(),
            None => return,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;
    use crate::telemetry::event::{Caller, Plane, RequestEvent};

    /// A record whose operation is this makes the writer panic on its batch.
    pub(super) const PANIC_IN_WRITER: &str = "panic-in-writer";

    fn record(operation: &str) -> RequestEvent {
        let caller = Caller {
            principal: "user:alice".to_owned(),
            team: None,
            key_id: None,
            chain: Vec::new(),
        };
        let mut event = RequestEvent::new(Plane::Llm, crate::model::now_millis(), caller, "gpt");
        event.operation = operation.to_owned();
        event
    }

    /// The record `id` once the writer has stored it (waited for at most 10 s).
    async fn stored_soon(store: &Store, id: &str) -> RequestEvent {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(stored) = store.get_request(id).await.unwrap() {
                return stored;
            }
            assert!(Instant::now() < deadline, "record {id} was not stored");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn records_go_to_the_store_in_order_in_batches_of_at_most_batch() {
        for (count, sizes) in [
            (0, vec![]),
            (1, vec![1]),
            (BATCH, vec![BATCH]),
            (BATCH + 1, vec![BATCH, 1]),
            (2 * BATCH + 5, vec![BATCH, BATCH, 5]),
        ] {
            let records: Vec<Record> = (0..count)
                .map(|i| Record::Request(PackedRequest::pack(&record(&i.to_string()))))
                .collect();
            let ids: Vec<String> = records.iter().map(|r| r.id().to_owned()).collect();
            let batches = in_batches(records);
            let got: Vec<usize> = batches.iter().map(|b| b.len()).collect();
            assert_eq!(got, sizes, "{count} records");
            let again: Vec<String> = batches
                .iter()
                .flat_map(|b| b.iter().map(|r| r.id().to_owned()))
                .collect();
            assert_eq!(again, ids, "{count} records keep their order");
        }
    }

    #[tokio::test]
    async fn a_batch_that_panics_is_lost_and_the_writer_goes_on() {
        let test = testing::sqlite().await;
        let mut metrics = Metrics::new();
        let telemetry = Telemetry::start(
            test.store.clone(),
            &TelemetryConfig::default(),
            &mut metrics,
        );
        telemetry.request(record(PANIC_IN_WRITER));
        tokio::time::sleep(LINGER * 4).await;
        let after = record("chat");
        let id = after.id.clone();
        telemetry.request(after);
        stored_soon(&test.store, &id).await;
        assert!(
            metrics.render().contains(
                "agenthub_telemetry_records_total{kind=\"request\",result=\"dropped\"} 1"
            ),
            "{}",
            metrics.render()
        );
        telemetry.shutdown(Duration::from_secs(5)).await;
        test.cleanup().await;
    }

    /// Bodies short and long are logged by the writer and stored redacted.
    #[tokio::test]
    async fn short_and_long_bodies_are_stored_redacted() {
        let test = testing::sqlite().await;
        let mut metrics = Metrics::new();
        let config = TelemetryConfig {
            bodies: crate::config::BodyLogging::Redacted,
            ..TelemetryConfig::default()
        };
        let telemetry = Telemetry::start(test.store.clone(), &config, &mut metrics);
        let mut ids = Vec::new();
        for padding in [0, 32 * 1024] {
            let body = format!(
                r#"{{"messages":[{{"role":"user","content":"mail jane.doe@example.com {}"}}]}}"#,
                "x".repeat(padding)
            );
            let mut event = record("chat");
            event.raw_bodies = Some(bodies::RawBodies {
                request: Some(telemetry.keep_json_body(&bytes::Bytes::from(body))),
                response: None,
            });
            ids.push(event.id.clone());
            telemetry.request(event);
        }
        for id in ids {
            let stored = stored_soon(&test.store, &id).await;
            let bodies: serde_json::Value =
                serde_json::from_str(stored.bodies.expect("bodies logged").json()).unwrap();
            let content = bodies["request"]["messages"][0]["content"]
                .as_str()
                .unwrap();
            assert!(content.starts_with("mail "), "{content:.40}");
            assert!(!content.contains("jane.doe@example.com"), "{content:.40}");
        }
        telemetry.shutdown(Duration::from_secs(5)).await;
        test.cleanup().await;
    }

    #[tokio::test]
    async fn with_records_off_a_request_is_still_counted_but_not_stored() {
        let test = testing::sqlite().await;
        let mut metrics = Metrics::new();
        let config = TelemetryConfig {
            enabled: false,
            ..TelemetryConfig::default()
        };
        let telemetry = Telemetry::start(test.store.clone(), &config, &mut metrics);
        let mut event = record("chat");
        event.model = Some("gpt".to_owned());
        let id = event.id.clone();
        telemetry.request(event);
        assert!(
            metrics.render().contains(
                r#"agenthub_requests_total{plane="llm",target="gpt",team="none",status="ok"} 1"#
            ),
            "{}",
            metrics.render()
        );
        telemetry.shutdown(Duration::from_secs(5)).await;
        assert_eq!(test.store.get_request(&id).await.unwrap(), None);
        test.cleanup().await;
    }
}
