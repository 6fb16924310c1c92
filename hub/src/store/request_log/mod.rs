//! Request records of a SQLite store in a file: appended by block to segment files beside the
//! records file, each block summarized by one row in it.
//!
//! A row per record, with its indexes, cost more than the rest of a request's telemetry put
//! together (docs/benchmarks.md): here a batch is one sequential write of its records (and one
//! of their logged bodies), outside SQLite's WAL, plus one summary row and its terms. The
//! summary is the commit: bytes written but never summarized (a failed commit, a crash) are
//! never read, and a new process starts a new segment, so they are never written over either.
//!
//! - A block holds records sorted by id, spanning at most [`MAX_SPAN`] of time: a lookup by id
//!   reads the blocks that start at most that long before it.
//! - Terms — `field=value` of the principal, team, key, plane, model, provider, tool, agent
//!   and status present in a block — find the blocks a filter can select; the records decoded
//!   from them are then checked one by one ([`RequestFilter::matches`]). Terms are kept by
//!   day, so retention drops them by day.
//! - Trace ids are nearly one per record, too many to be terms: a term per record cost more
//!   than the rest of the write (a B-tree insert at a random place for each). A block keeps
//!   its trace ids' keys ([`trace_key`]) instead, sorted, in one row of their own; a lookup by
//!   trace id reads the keys of the blocks its other conditions leave (as a trace store keeps
//!   a filter per block) and decodes only the blocks holding its key. Logs written before
//!   kept trace ids as terms (`r=`), which are still read.
//! - Retention deletes blocks, rewrites the few that straddle a cut-off, and removes a
//!   segment's files once no block refers to them.
//!
//! One process writes a records file at a time (as with the spill directory).

mod codec;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use agenthub_policy::ErrorKind;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use super::telemetry::{Cutoffs, RequestFilter};
use crate::error::Error;
use crate::model::{Millis, first_id_at};
use crate::telemetry::event::{LoggedBodies, RequestEvent};
use crate::telemetry::packed::{Indexed, PackedRequest};

/// The longest time between a block's first and last record.
pub const MAX_SPAN: Millis = 60_000;
/// A segment is closed and the next one begun once its records file, or its bodies file, is
/// this large.
const SEGMENT_BYTES: u64 = 64 << 20;
const BODIES_BYTES: u64 = 256 << 20;
const DAY: Millis = 86_400_000;
/// Records written between offers of the core to the runtime's thread: on a hub with one core
/// a batch's write would otherwise hold requests up for its whole time slice.
const YIELD_EVERY: usize = 256;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS request_segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    opened_at INTEGER NOT NULL,
    bodies_removed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS request_blocks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_id TEXT NOT NULL,
    last_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    segment INTEGER NOT NULL,
    records_at INTEGER NOT NULL,
    records_len INTEGER NOT NULL,
    bodies_segment INTEGER,
    bodies_at INTEGER,
    bodies_len INTEGER,
    bodies_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS request_blocks_first ON request_blocks (first_id);
CREATE INDEX IF NOT EXISTS request_blocks_last ON request_blocks (last_id);
CREATE INDEX IF NOT EXISTS request_blocks_segment ON request_blocks (segment);
CREATE INDEX IF NOT EXISTS request_blocks_bodies ON request_blocks (bodies_segment);
CREATE TABLE IF NOT EXISTS request_terms (
    day INTEGER NOT NULL,
    term TEXT NOT NULL,
    block INTEGER NOT NULL,
    PRIMARY KEY (day, term, block)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS request_block_traces (
    block INTEGER PRIMARY KEY,
    keys BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS request_block_traces_go_with_their_block
AFTER DELETE ON request_blocks BEGIN
    DELETE FROM request_block_traces WHERE block = OLD.id;
END;
";

/// Which way a page of records goes from its cursor (an id).
#[derive(Debug, Clone, Copy)]
pub enum Page<'a> {
    NewestBefore(Option<&'a str>),
    OldestAfter(Option<&'a str>),
}

/// The log of one records file.
pub struct RequestLog {
    dir: PathBuf,
    database: PathBuf,
    appender: Mutex<Appender>,
    reader: Mutex<Option<Connection>>,
    /// Held by reads while they use segment files, and by a purge while it removes them: a
    /// read that selected a block before a purge rewrote it still finds its file.
    files: RwLock<()>,
    /// Blocks decoded, for tests of what a query reads.
    #[cfg(test)]
    blocks_read: std::sync::atomic::AtomicUsize,
}

struct Appender {
    connection: Connection,
    sync_full: bool,
    segment: Option<Segment>,
    /// The segment directory's lock, once this process writes: one writer per records file.
    lock: Option<File>,
    sections: codec::Sections,
}

/// The segment being appended to, and where its committed bytes end.
struct Segment {
    number: i64,
    records: File,
    records_end: u64,
    bodies: File,
    bodies_end: u64,
}

/// One block's place, as its summary row gives it.
#[derive(Debug, Clone)]
struct BlockRow {
    id: i64,
    first_id: String,
    last_id: String,
    segment: i64,
    records_at: i64,
    records_len: i64,
    bodies: Option<(i64, i64, i64)>,
}

const BLOCK_COLUMNS: &str = "id, first_id, last_id, segment, records_at, records_len, bodies_segment, bodies_at, bodies_len";
const BLOCK_COLUMN_COUNT: usize = 9;

fn block_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<BlockRow> {
    let bodies_segment: Option<i64> = row.get(6)?;
    let bodies_at: Option<i64> = row.get(7)?;
    let bodies_len: Option<i64> = row.get(8)?;
    Ok(BlockRow {
        id: row.get(0)?,
        first_id: row.get(1)?,
        last_id: row.get(2)?,
        segment: row.get(3)?,
        records_at: row.get(4)?,
        records_len: row.get(5)?,
        bodies: bodies_segment
            .zip(bodies_at)
            .zip(bodies_len)
            .map(|((segment, at), length)| (segment, at, length)),
    })
}

impl RequestLog {
    /// Opens the log of the records file at `database` (made by the records' migrations), its
    /// segments in `<database without extension>.segments/`.
    pub fn open(database: &Path, sync_full: bool) -> Result<Self, Error> {
        let connection = Connection::open_with_flags(
            database,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(classify)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(classify)?;
        connection
            .execute_batch(if sync_full {
                "PRAGMA synchronous = FULL;"
            } else {
                "PRAGMA synchronous = NORMAL;"
            })
            .map_err(classify)?;
        connection.execute_batch(SCHEMA).map_err(classify)?;
        let dir = database.with_extension("segments");
        fs::create_dir_all(&dir).map_err(io_unavailable)?;
        crate::telemetry::spill::private(&dir, 0o700).map_err(io_unavailable)?;
        Ok(Self {
            dir,
            database: database.to_owned(),
            appender: Mutex::new(Appender {
                connection,
                sync_full,
                segment: None,
                lock: None,
                sections: codec::Sections::default(),
            }),
            reader: Mutex::new(None),
            files: RwLock::new(()),
            #[cfg(test)]
            blocks_read: Default::default(),
        })
    }

    /// Appends `records`. With `repeat`, records already stored (a batch offered again after
    /// a failure that may have come after its commit) are skipped.
    pub fn append(&self, records: Vec<&PackedRequest>, repeat: bool) -> Result<(), Error> {
        self.append_by(records, repeat, None)
    }

    /// Like [`append`](Self::append), given up (`Unavailable`) when the log could not be had
    /// before `deadline`: a caller that stopped waiting has offered the batch again by then,
    /// and a late first write must not race its repeat.
    pub fn append_by(
        &self,
        mut records: Vec<&PackedRequest>,
        repeat: bool,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let mut appender = lock(&self.appender);
        if deadline.is_some_and(|deadline| Instant::now() > deadline) {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the request log was busy past the write's deadline",
            ));
        }
        claim(&mut appender, &self.dir)?;
        if repeat {
            let stored = stored_ids(&appender.connection, &self.dir, &records)?;
            records.retain(|record| !stored.contains(record.id()));
        }
        if records.is_empty() {
            return Ok(());
        }
        // Nearly sorted already (ids grow with time; requests end a little out of order): the
        // stable sort's run detection makes that close to one pass.
        records.sort_by(|a, b| a.id_bytes().cmp(b.id_bytes()));
        self.write(&mut appender, |transaction, segment, written| {
            write_blocks(transaction, segment, written, &records)
        })
    }

    /// Records `filter` selects, a page of at most `limit` from its cursor: newest first
    /// before it, or oldest first after it.
    pub fn list(
        &self,
        filter: &RequestFilter,
        page: Page<'_>,
        limit: usize,
    ) -> Result<Vec<RequestEvent>, Error> {
        self.list_as(filter, page, limit, |event| event)
    }

    /// Like [`list`](Self::list), each record kept as `keep` makes it (what analytics read of
    /// a page of 50,000 is much smaller than the records).
    pub fn list_as<T>(
        &self,
        filter: &RequestFilter,
        page: Page<'_>,
        limit: usize,
        keep: impl Fn(RequestEvent) -> T,
    ) -> Result<Vec<T>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let _files = self.files.read().unwrap_or_else(PoisonError::into_inner);
        let reader = self.reader()?;
        let connection = reader
            .as_ref()
            .ok_or_else(|| Error::internal("no reader"))?;
        let (sql, values) = candidates(connection, filter, page)?;
        let mut statement = connection.prepare(&sql).map_err(classify)?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(values.iter()))
            .map_err(classify)?;
        let newest_first = matches!(page, Page::NewestBefore(_));
        let trace = filter.trace_id.as_deref().map(trace_key);
        // The best `limit` records found so far, by id.
        let mut kept: BTreeMap<String, T> = BTreeMap::new();
        while let Some(row) = rows.next().map_err(classify)? {
            let block = block_row(row).map_err(classify)?;
            if let Some(key) = trace
                // No keys: a block written before blocks kept them, found by its term.
                && let ValueRef::Blob(keys) =
                    row.get_ref(BLOCK_COLUMN_COUNT).map_err(classify)?
                && !holds_key(keys, key)
            {
                continue;
            }
            if kept.len() >= limit {
                // Blocks come in the order of the bound the page moves by: no later one holds
                // a record better than the worst kept.
                let done = if newest_first {
                    kept.keys()
                        .next()
                        .is_some_and(|worst| *worst > block.last_id)
                } else {
                    kept.keys()
                        .next_back()
                        .is_some_and(|worst| *worst < block.first_id)
                };
                if done {
                    break;
                }
            }
            for event in self.read_block(&block)? {
                let after_cursor = match page {
                    Page::NewestBefore(cursor) => cursor.is_none_or(|c| event.id.as_str() < c),
                    Page::OldestAfter(cursor) => cursor.is_none_or(|c| event.id.as_str() > c),
                };
                if after_cursor && filter.matches(&event) {
                    kept.insert(event.id.clone(), keep(event));
                }
            }
            while kept.len() > limit {
                if newest_first {
                    kept.pop_first();
                } else {
                    kept.pop_last();
                }
            }
        }
        drop(rows);
        drop(statement);
        drop(reader);
        let kept = kept.into_values();
        Ok(if newest_first {
            kept.rev().collect()
        } else {
            kept.collect()
        })
    }

    /// One record with its logged bodies, if they are still kept.
    pub fn get(&self, id: &str) -> Result<Option<RequestEvent>, Error> {
        let _files = self.files.read().unwrap_or_else(PoisonError::into_inner);
        let reader = self.reader()?;
        let connection = reader
            .as_ref()
            .ok_or_else(|| Error::internal("no reader"))?;
        let blocks = blocks_holding(connection, id, id)?;
        drop(reader);
        for block in blocks {
            // Decoded once: a purge between two reads could leave the second one empty.
            let mut events = self.read_block(&block)?;
            let Some(index) = events.iter().position(|event| event.id == id) else {
                continue;
            };
            let mut event = events.swap_remove(index);
            if let Some(bodies) = self.read_bodies(&block)? {
                event.bodies = bodies
                    .into_iter()
                    .nth(index)
                    .flatten()
                    .and_then(LoggedBodies::from_json);
            }
            return Ok(Some(event));
        }
        Ok(None)
    }

    /// Removes what `cutoffs` no longer keep: bodies, then records. Returns how many bodies
    /// and records went.
    pub fn purge(&self, cutoffs: &Cutoffs) -> Result<u64, Error> {
        let mut appender = lock(&self.appender);
        claim(&mut appender, &self.dir)?;
        let appender = &mut *appender;
        let (bodies, events) = (first_id_at(cutoffs.bodies), first_id_at(cutoffs.events));
        let mut removed = self.write(appender, |transaction, segment, written| {
            self.purge_bodies(transaction, segment, written, &bodies)
        })?;
        removed += self.write(appender, |transaction, segment, written| {
            self.purge_records(transaction, segment, written, &events)
        })?;
        let transaction = appender
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(classify)?;
        // A block never starts more than a span before its terms' day.
        transaction
            .execute(
                "DELETE FROM request_terms WHERE day < ?1",
                params![day_of(cutoffs.events - MAX_SPAN)],
            )
            .map_err(classify)?;
        let current = appender.segment.as_ref().map_or(0, |s| s.number);
        let unused: Vec<(i64, bool)> = {
            let mut statement = transaction
                .prepare(
                    "SELECT id, bodies_removed,
                        EXISTS (SELECT 1 FROM request_blocks b WHERE b.segment = s.id),
                        EXISTS (SELECT 1 FROM request_blocks b WHERE b.bodies_segment = s.id)
                     FROM request_segments s WHERE id <> ?1",
                )
                .map_err(classify)?;
            let rows = statement
                .query_map(params![current], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, bool>(1)?,
                        row.get::<_, bool>(2)?,
                        row.get::<_, bool>(3)?,
                    ))
                })
                .map_err(classify)?;
            let mut unused = Vec::new();
            for row in rows {
                let (number, bodies_removed, has_records, has_bodies) = row.map_err(classify)?;
                if !has_records && !has_bodies {
                    unused.push((number, true));
                } else if !has_bodies && !bodies_removed {
                    unused.push((number, false));
                }
            }
            unused
        };
        // Files first: a crash before the commit leaves rows naming files that are gone,
        // which the next purge removes again; never files that no row names.
        let _files = self.files.write().unwrap_or_else(PoisonError::into_inner);
        for (number, whole) in &unused {
            remove_file(&bodies_path(&self.dir, *number))?;
            if *whole {
                remove_file(&records_path(&self.dir, *number))?;
                transaction
                    .execute(
                        "DELETE FROM request_segments WHERE id = ?1",
                        params![number],
                    )
                    .map_err(classify)?;
            } else {
                transaction
                    .execute(
                        "UPDATE request_segments SET bodies_removed = 1 WHERE id = ?1",
                        params![number],
                    )
                    .map_err(classify)?;
            }
        }
        transaction.commit().map_err(classify)?;
        Ok(removed)
    }

    /// Clears the bodies of records older than `cutoff`.
    fn purge_bodies(
        &self,
        transaction: &rusqlite::Transaction<'_>,
        segment: &Segment,
        written: &mut Written,
        cutoff: &str,
    ) -> Result<u64, Error> {
        let mut removed = count(
            transaction,
            "SELECT COALESCE(SUM(bodies_count), 0) FROM request_blocks
             WHERE last_id < ?1 AND bodies_len IS NOT NULL",
            cutoff,
        )?;
        transaction
            .execute(
                "UPDATE request_blocks SET bodies_segment = NULL, bodies_at = NULL,
                 bodies_len = NULL, bodies_count = 0 WHERE last_id < ?1 AND bodies_len IS NOT NULL",
                params![cutoff],
            )
            .map_err(classify)?;
        // Blocks that straddle the cut-off keep the bodies of their newer records only.
        let straddling = select_blocks(
            transaction,
            &format!(
                "SELECT {BLOCK_COLUMNS} FROM request_blocks
                 WHERE first_id < ?1 AND last_id >= ?1 AND bodies_len IS NOT NULL"
            ),
            params![cutoff],
        )?;
        for block in straddling {
            let ids = read_ids(&self.dir, &block)?;
            let Some(mut bodies) = self.read_bodies(&block)? else {
                continue;
            };
            for (id, body) in ids.iter().zip(bodies.iter_mut()) {
                if id.as_str() < cutoff && body.take().is_some() {
                    removed += 1;
                }
            }
            let kept = bodies.iter().filter(|b| b.is_some()).count();
            let section =
                codec::bodies_of(bodies.iter().map(|body| body.as_deref().map(str::as_bytes)));
            let at = written.bodies_end(segment);
            if let Some(section) = section.filter(|_| kept > 0) {
                segment
                    .bodies
                    .write_all_at(&section, at)
                    .map_err(io_unavailable)?;
                written.bodies += section.len() as u64;
                transaction
                    .execute(
                        "UPDATE request_blocks SET bodies_segment = ?2, bodies_at = ?3,
                         bodies_len = ?4, bodies_count = ?5 WHERE id = ?1",
                        params![
                            block.id,
                            segment.number,
                            at as i64,
                            section.len() as i64,
                            kept as i64
                        ],
                    )
                    .map_err(classify)?;
            } else {
                transaction
                    .execute(
                        "UPDATE request_blocks SET bodies_segment = NULL, bodies_at = NULL,
                         bodies_len = NULL, bodies_count = 0 WHERE id = ?1",
                        params![block.id],
                    )
                    .map_err(classify)?;
            }
        }
        Ok(removed)
    }

    /// Deletes the records older than `cutoff`.
    fn purge_records(
        &self,
        transaction: &rusqlite::Transaction<'_>,
        segment: &Segment,
        written: &mut Written,
        cutoff: &str,
    ) -> Result<u64, Error> {
        let mut removed = count(
            transaction,
            "SELECT COALESCE(SUM(count), 0) FROM request_blocks WHERE last_id < ?1",
            cutoff,
        )?;
        transaction
            .execute(
                "DELETE FROM request_blocks WHERE last_id < ?1",
                params![cutoff],
            )
            .map_err(classify)?;
        // Blocks that straddle the cut-off are written again with their newer records only.
        let straddling = select_blocks(
            transaction,
            &format!(
                "SELECT {BLOCK_COLUMNS} FROM request_blocks WHERE first_id < ?1 AND last_id >= ?1"
            ),
            params![cutoff],
        )?;
        for block in straddling {
            let mut events = self.read_block(&block)?;
            if let Some(bodies) = self.read_bodies(&block)? {
                for (event, body) in events.iter_mut().zip(bodies) {
                    event.bodies = body.and_then(LoggedBodies::from_json);
                }
            }
            let before = events.len();
            events.retain(|event| event.id.as_str() >= cutoff);
            removed += (before - events.len()) as u64;
            transaction
                .execute(
                    "DELETE FROM request_blocks WHERE id = ?1",
                    params![block.id],
                )
                .map_err(classify)?;
            let packed: Vec<PackedRequest> = events.iter().map(PackedRequest::pack).collect();
            let refs: Vec<&PackedRequest> = packed.iter().collect();
            write_blocks(transaction, segment, written, &refs)?;
        }
        Ok(removed)
    }

    /// Runs `step` in a write transaction of its own, with the segment it may append to.
    fn write<T>(
        &self,
        appender: &mut Appender,
        step: impl FnOnce(&rusqlite::Transaction<'_>, &Segment, &mut Written) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let segment = ready_segment(&appender.connection, &self.dir, &mut appender.segment)?;
        let transaction = appender
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(classify)?;
        let mut written = Written {
            records: 0,
            bodies: 0,
            sections: &mut appender.sections,
        };
        let outcome = step(&transaction, segment, &mut written)?;
        if appender.sync_full {
            written.sync(segment)?;
        }
        // Past the bytes whatever the outcome: a commit reported failed may still have reached
        // the WAL, and its blocks must not be written over.
        let committed = transaction.commit();
        written.commit(&mut appender.segment);
        committed.map_err(classify)?;
        Ok(outcome)
    }

    fn reader(&self) -> Result<MutexGuard<'_, Option<Connection>>, Error> {
        let mut reader = lock(&self.reader);
        if reader.is_none() {
            let connection = Connection::open_with_flags(
                &self.database,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(classify)?;
            connection
                .busy_timeout(std::time::Duration::from_secs(5))
                .map_err(classify)?;
            *reader = Some(connection);
        }
        Ok(reader)
    }

    /// A block's records; none when its segment is gone or the block is damaged.
    fn read_block(&self, block: &BlockRow) -> Result<Vec<RequestEvent>, Error> {
        #[cfg(test)]
        self.blocks_read
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = records_path(&self.dir, block.segment);
        let Some(section) = read_section(&path, block.records_at, block.records_len)? else {
            return Ok(Vec::new());
        };
        Ok(codec::Records::open(&section)
            .and_then(codec::Records::events)
            .unwrap_or_else(|e| damaged(block, &e)))
    }

    fn read_bodies(&self, block: &BlockRow) -> Result<Option<Vec<Option<String>>>, Error> {
        let Some((segment, at, length)) = block.bodies else {
            return Ok(None);
        };
        let Some(section) = read_section(&bodies_path(&self.dir, segment), at, length)? else {
            return Ok(None);
        };
        Ok(codec::bodies(&section).map_or_else(|e| damaged(block, &e), Some))
    }
}

/// A block's ids, sorted; none when its segment is gone or the block is damaged.
fn read_ids(dir: &Path, block: &BlockRow) -> Result<Vec<String>, Error> {
    let path = records_path(dir, block.segment);
    let Some(section) = read_section(&path, block.records_at, block.records_len)? else {
        return Ok(Vec::new());
    };
    Ok(codec::Records::open(&section).map_or_else(
        |e| damaged(block, &e),
        |records| records.ids().iter().map(|id| (*id).to_owned()).collect(),
    ))
}

/// What is read of a damaged block: nothing. One bad block (a disk error, an edit) must not
/// make every query fail; it is logged each time it is met.
fn damaged<T: Default>(block: &BlockRow, e: &codec::Corrupt) -> T {
    tracing::error!(
        block = block.id,
        segment = block.segment,
        first = %block.first_id,
        error = %e,
        "a block of request records cannot be read; it is skipped"
    );
    T::default()
}

/// Bytes appended in a transaction not yet committed: the segment's ends move past them only
/// once it is.
#[must_use]
struct Written<'a> {
    records: u64,
    bodies: u64,
    /// Where blocks are built before they are written.
    sections: &'a mut codec::Sections,
}

impl Written<'_> {
    fn records_end(&self, segment: &Segment) -> u64 {
        segment.records_end + self.records
    }

    fn bodies_end(&self, segment: &Segment) -> u64 {
        segment.bodies_end + self.bodies
    }

    fn sync(&self, segment: &Segment) -> Result<(), Error> {
        segment.records.sync_data().map_err(io_unavailable)?;
        segment.bodies.sync_data().map_err(io_unavailable)
    }

    fn commit(self, segment: &mut Option<Segment>) {
        if let Some(segment) = segment {
            segment.records_end += self.records;
            segment.bodies_end += self.bodies;
        }
    }
}

/// Writes `records` (sorted by id) to `segment` as blocks of at most [`MAX_SPAN`] each, with
/// their summary rows and terms in `transaction`.
fn write_blocks(
    transaction: &rusqlite::Transaction<'_>,
    open: &Segment,
    written: &mut Written,
    records: &[&PackedRequest],
) -> Result<(), Error> {
    let mut insert_block = transaction
        .prepare(
            "INSERT INTO request_blocks (first_id, last_id, count, segment, records_at,
             records_len, bodies_segment, bodies_at, bodies_len, bodies_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(classify)?;
    let mut insert_term = transaction
        .prepare("INSERT OR IGNORE INTO request_terms (day, term, block) VALUES (?1, ?2, ?3)")
        .map_err(classify)?;
    let mut insert_traces = transaction
        .prepare("INSERT INTO request_block_traces (block, keys) VALUES (?1, ?2)")
        .map_err(classify)?;
    let mut traces: Vec<u64> = Vec::new();
    let times: Vec<Millis> = records.iter().map(|record| time_of(record)).collect();
    let mut rest = records;
    let mut rest_times = &times[..];
    while let Some(&start) = rest_times.first() {
        let span = rest_times
            .iter()
            .position(|at| at - start > MAX_SPAN)
            .unwrap_or(rest.len());
        rest_times = &rest_times[span..];
        let (block, after) = rest.split_at(span);
        rest = after;
        let records_at = written.records_end(open);
        let bodies_at = written.bodies_end(open);
        let (records, bodies) = written.sections.build(block);
        open.records
            .write_all_at(records, records_at)
            .map_err(io_unavailable)?;
        if let Some(bodies) = &bodies {
            open.bodies
                .write_all_at(bodies, bodies_at)
                .map_err(io_unavailable)?;
            written.bodies += bodies.len() as u64;
        }
        written.records += records.len() as u64;
        let bodies_count = block.iter().filter(|r| r.logged_bodies().is_some()).count() as i64;
        let has_bodies = bodies.is_some();
        insert_block
            .execute(params![
                block[0].id(),
                block[block.len() - 1].id(),
                block.len() as i64,
                open.number,
                records_at as i64,
                records.len() as i64,
                has_bodies.then_some(open.number),
                has_bodies.then_some(bodies_at as i64),
                bodies.as_ref().map(|b| b.len() as i64),
                bodies_count,
            ])
            .map_err(classify)?;
        let id = transaction.last_insert_rowid();
        let day = day_of(start);
        // Most records of a batch share their callers and targets: a term is inserted once,
        // and a value equal to the record before's is not even looked up.
        let mut previous: [Option<&[u8]>; FIELDS.len()] = [None; FIELDS.len()];
        let mut inserted: HashSet<(usize, &[u8])> = HashSet::new();
        let mut term: Vec<u8> = Vec::new();
        traces.clear();
        for (n, record) in block.iter().enumerate() {
            if n % YIELD_EVERY == YIELD_EVERY - 1 {
                std::thread::yield_now();
            }
            let indexed = record.indexed().map_err(Error::internal)?;
            traces.extend(indexed.trace_id.map(trace_key));
            for (slot, value) in terms_of(&indexed).into_iter().enumerate() {
                let Some(value) = value else { continue };
                if previous[slot] == Some(value) {
                    continue;
                }
                previous[slot] = Some(value);
                if !inserted.insert((slot, value)) {
                    continue;
                }
                term.clear();
                term.extend_from_slice(FIELDS[slot].as_bytes());
                term.push(b'=');
                term.extend_from_slice(value);
                // Text, as packed from a string: bound as text, not checked again.
                let text = ToSqlOutput::Borrowed(ValueRef::Text(&term));
                insert_term
                    .execute(params![day, text, id])
                    .map_err(classify)?;
            }
        }
        if !traces.is_empty() {
            traces.sort_unstable();
            traces.dedup();
            let keys: Vec<u8> = traces.iter().flat_map(|key| key.to_le_bytes()).collect();
            insert_traces.execute(params![id, keys]).map_err(classify)?;
        }
    }
    Ok(())
}

/// The key a trace id is found by in a block's trace keys: its 64-bit FNV-1a hash. Stored in
/// the log, so it never changes. Two ids may share a key: a block read for the other one's
/// key is decoded and its records checked, so that costs a read, never a wrong answer.
fn trace_key(trace_id: impl AsRef<[u8]>) -> u64 {
    trace_id
        .as_ref()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// Whether a block's trace keys (sorted, 8 bytes each, little-endian) hold `key`.
fn holds_key(keys: &[u8], key: u64) -> bool {
    let (keys, _) = keys.as_chunks::<8>();
    keys.binary_search_by_key(&key, |bytes| u64::from_le_bytes(*bytes))
        .is_ok()
}

/// When a record was made: its id's time (a block's span is measured by it, as lookups by id
/// are), else its arrival.
fn time_of(record: &PackedRequest) -> Millis {
    id_millis(record.id_bytes()).unwrap_or_else(|| record.at())
}

/// The codes of the fields a block's terms name, `code=value`: the principal, team, key,
/// plane, model, provider, tool, agent and status.
const FIELDS: [&str; 9] = ["p", "t", "k", "l", "m", "v", "o", "a", "s"];
/// The code of a trace id's term, in logs written before blocks kept trace keys.
const TRACE_TERM: &str = "r";

/// The indexed values of a record, in the order of [`FIELDS`].
fn terms_of<'a>(indexed: &Indexed<'a>) -> [Option<&'a [u8]>; FIELDS.len()] {
    [
        Some(indexed.principal),
        indexed.team,
        indexed.key_id,
        Some(indexed.plane),
        indexed.model,
        indexed.provider,
        indexed.tool,
        indexed.agent,
        Some(indexed.status),
    ]
}

/// The terms a filter asks for.
fn terms_wanted(filter: &RequestFilter) -> Vec<String> {
    let wanted = [
        filter.principal.as_deref(),
        filter.team.as_deref(),
        filter.key_id.as_deref(),
        filter.plane.as_deref(),
        filter.model.as_deref(),
        filter.provider.as_deref(),
        filter.tool.as_deref(),
        filter.agent.as_deref(),
        filter.status.map(|s| s.as_str()),
    ];
    FIELDS
        .iter()
        .zip(wanted)
        .filter_map(|(field, value)| value.map(|value| format!("{field}={value}")))
        .collect()
}

/// The query for the blocks a page of `filter` may draw from, in the order it reads them.
fn candidates(
    connection: &Connection,
    filter: &RequestFilter,
    page: Page<'_>,
) -> Result<(String, Vec<String>), Error> {
    // With a trace id, each block's trace keys come too (column BLOCK_COLUMN_COUNT).
    let mut sql = if filter.trace_id.is_some() {
        format!(
            "SELECT {BLOCK_COLUMNS}, traces.keys FROM request_blocks
             LEFT JOIN request_block_traces traces ON traces.block = request_blocks.id
             WHERE 1 = 1"
        )
    } else {
        format!("SELECT {BLOCK_COLUMNS} FROM request_blocks WHERE 1 = 1")
    };
    let mut values = Vec::new();
    let mut push = |sql: &mut String, condition: &str, value: String| {
        values.push(value);
        sql.push_str(&format!(" AND {condition} ?{}", values.len()));
    };
    if let Some(since) = filter.since {
        push(&mut sql, "last_id >=", first_id_at(since));
    }
    if let Some(until) = filter.until {
        push(&mut sql, "first_id <", first_id_at(until));
    }
    let order = match page {
        Page::NewestBefore(cursor) => {
            if let Some(cursor) = cursor {
                push(&mut sql, "first_id <", cursor.to_owned());
            }
            "last_id DESC"
        }
        Page::OldestAfter(cursor) => {
            if let Some(cursor) = cursor {
                push(&mut sql, "last_id >", cursor.to_owned());
            }
            "first_id ASC"
        }
    };
    let wanted = terms_wanted(filter);
    if !wanted.is_empty() || filter.trace_id.is_some() {
        let (oldest, newest): (Option<i64>, Option<i64>) = connection
            .query_row("SELECT MIN(day), MAX(day) FROM request_terms", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(classify)?;
        let (Some(oldest), Some(newest)) = (oldest, newest) else {
            return Ok((
                format!("SELECT {BLOCK_COLUMNS} FROM request_blocks WHERE 0"),
                Vec::new(),
            ));
        };
        let first = filter
            .since
            .map_or(oldest, |since| day_of(since - MAX_SPAN).max(oldest));
        let last = filter
            .until
            .map_or(newest, |until| day_of(until).min(newest));
        let days = (first..=last)
            .map(|day| day.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        for term in wanted {
            push(
                &mut sql,
                &format!("id IN (SELECT block FROM request_terms WHERE day IN ({days}) AND term ="),
                term,
            );
            sql.push(')');
        }
        if let Some(trace_id) = &filter.trace_id {
            // Blocks with trace keys are checked against them as they are read.
            push(
                &mut sql,
                &format!(
                    "(traces.keys IS NOT NULL OR id IN \
                     (SELECT block FROM request_terms WHERE day IN ({days}) AND term ="
                ),
                format!("{TRACE_TERM}={trace_id}"),
            );
            sql.push_str("))");
        }
    }
    sql.push_str(&format!(" ORDER BY {order}"));
    Ok((sql, values))
}

/// The blocks whose id range holds any id from `from` to `to` (sorted).
fn blocks_holding(connection: &Connection, from: &str, to: &str) -> Result<Vec<BlockRow>, Error> {
    let lowest = id_millis(from).map_or_else(String::new, |at| first_id_at(at - MAX_SPAN));
    select_blocks(
        connection,
        &format!(
            "SELECT {BLOCK_COLUMNS} FROM request_blocks
             WHERE first_id >= ?1 AND first_id <= ?3 AND last_id >= ?2 ORDER BY first_id"
        ),
        params![lowest, from, to],
    )
}

/// The ids among `records` already stored.
fn stored_ids(
    connection: &Connection,
    dir: &Path,
    records: &[&PackedRequest],
) -> Result<BTreeSet<String>, Error> {
    let (Some(from), Some(to)) = (
        records.iter().map(|r| r.id()).min(),
        records.iter().map(|r| r.id()).max(),
    ) else {
        return Ok(BTreeSet::new());
    };
    let wanted: BTreeSet<&str> = records.iter().map(|r| r.id()).collect();
    let mut stored = BTreeSet::new();
    for block in blocks_holding(connection, from, to)? {
        for id in read_ids(dir, &block)? {
            if wanted.contains(id.as_str()) {
                stored.insert(id);
            }
        }
    }
    Ok(stored)
}

/// The count `sql` sums for `cutoff`.
fn count(connection: &Connection, sql: &str, cutoff: &str) -> Result<u64, Error> {
    let sum: i64 = connection
        .query_row(sql, params![cutoff], |row| row.get(0))
        .map_err(classify)?;
    Ok(u64::try_from(sum).unwrap_or(0))
}

fn select_blocks(
    connection: &Connection,
    sql: &str,
    values: impl rusqlite::Params,
) -> Result<Vec<BlockRow>, Error> {
    let mut statement = connection.prepare(sql).map_err(classify)?;
    let rows = statement.query_map(values, block_row).map_err(classify)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(classify)
}

/// The segment to append to: the current one, or a new one when there is none yet (a new
/// process) or the current one is full. A new segment's number is committed before anything
/// is written to it, so that no number is ever given twice.
fn ready_segment<'s>(
    connection: &Connection,
    dir: &Path,
    segment: &'s mut Option<Segment>,
) -> Result<&'s Segment, Error> {
    let full = segment
        .as_ref()
        .is_none_or(|open| open.records_end >= SEGMENT_BYTES || open.bodies_end >= BODIES_BYTES);
    if full {
        let number: i64 = connection
            .query_row(
                "INSERT INTO request_segments (opened_at) VALUES (?1) RETURNING id",
                params![crate::model::now_millis()],
                |row| row.get(0),
            )
            .map_err(classify)?;
        let open = |path: PathBuf| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(io_unavailable)
        };
        *segment = Some(Segment {
            number,
            records: open(records_path(dir, number))?,
            records_end: 0,
            bodies: open(bodies_path(dir, number))?,
            bodies_end: 0,
        });
    }
    segment
        .as_ref()
        .ok_or_else(|| Error::internal("no segment"))
}

/// Takes the segment directory's lock for this process, once: a second process writing the
/// same records file would remove segments the first still appends to. Held, it is
/// `Unavailable` (records wait in the spill until the other process is gone).
fn claim(appender: &mut Appender, dir: &Path) -> Result<(), Error> {
    if appender.lock.is_some() {
        return Ok(());
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .map_err(io_unavailable)?;
    match file.try_lock() {
        Ok(()) => {
            appender.lock = Some(file);
            Ok(())
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "another process writes the request log in {}; one hub per records file",
                dir.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(io_unavailable(e)),
    }
}

fn records_path(dir: &Path, number: i64) -> PathBuf {
    dir.join(format!("{number:010}.records"))
}

fn bodies_path(dir: &Path, number: i64) -> PathBuf {
    dir.join(format!("{number:010}.bodies"))
}

fn remove_file(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_unavailable(e)),
        _ => Ok(()),
    }
}

fn day_of(at: Millis) -> i64 {
    at.div_euclid(DAY)
}

/// The time of a UUIDv7 id: its first 48 bits, `tttttttt-tttt-…`.
fn id_millis(id: impl AsRef<[u8]>) -> Option<Millis> {
    let id = id.as_ref();
    if id.get(8) != Some(&b'-') {
        return None;
    }
    id.get(..8)?
        .iter()
        .chain(id.get(9..13)?)
        .try_fold(0, |at: Millis, &b| {
            let digit = char::from(b).to_digit(16)?;
            Some(at << 4 | Millis::from(digit))
        })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A segment file that cannot be written or read now (read-only, full, an I/O error) is
/// `Unavailable`: the batch is spilled and retried, the query may be retried.
fn io_unavailable(e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "the request records' segments cannot be used now",
    )
    .with_cause(e)
}

/// A section of a segment file, or `None` when the file is gone (retention removed it after
/// its blocks were selected).
fn read_section(path: &Path, at: i64, length: i64) -> Result<Option<Vec<u8>>, Error> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_unavailable(e)),
    };
    let mut section = vec![0; usize::try_from(length).unwrap_or(0)];
    match file.read_exact_at(&mut section, u64::try_from(at).unwrap_or(0)) {
        Ok(()) => Ok(Some(section)),
        // Shorter than its summary says: a crash lost the segment's tail (it is not synced
        // unless `sqlite_synchronous` is `full`); the block is damaged, not the store.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::error!(file = %path.display(), at, length, "a block of request records is missing from its segment; it is skipped");
            Ok(None)
        }
        Err(e) => Err(io_unavailable(e)),
    }
}

/// A database that cannot take the write now — busy, locked, read-only, out of space, its
/// file unreadable — is `Unavailable` (the batch is spilled and retried); anything else is
/// about the rows.
fn classify(e: rusqlite::Error) -> Error {
    let unavailable = matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
        )
    );
    if unavailable {
        Error::new(
            ErrorKind::Unavailable,
            "the records file cannot be written now",
        )
        .with_cause(e)
    } else {
        Error::internal(e)
    }
}

/// The path of a `sqlite:` URL's file; `None` for an in-memory database (whose records stay
/// rows on the sqlx pool: another connection would open another database).
pub fn file_of(url: &str) -> Option<PathBuf> {
    let (address, query) = match url.split_once('?') {
        Some((address, query)) => (address, query),
        None => (url, ""),
    };
    if address.ends_with(":memory:") || query.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    let path = address
        .strip_prefix("sqlite://")
        .or_else(|| address.strip_prefix("sqlite:"))?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests;
