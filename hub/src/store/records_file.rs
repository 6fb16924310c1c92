//! The SQLite records file's insert path: one connection of its own, on a blocking thread, one
//! prepared statement per batch bound by position. Records are the store's one high-volume
//! write (one row per request); through sqlx's `Any` driver each value was converted twice and
//! each statement crossed to the driver's worker thread, which cost more than SQLite itself.
//! Reads, audit appends and purges stay on the records' sqlx pool.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use agenthub_policy::ErrorKind;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};

use crate::error::Error;

/// One request record as bound to the insert, in the table's column order. Its text borrows
/// from the record it was made of (the caller's names copied only to replace a NUL); `metadata` and `extra` are
/// the record's JSON, made for the row.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRow<'a> {
    pub id: &'a str,
    pub at: i64,
    pub plane: &'static str,
    pub trace_id: Option<&'a str>,
    pub principal: Cow<'a, str>,
    pub team: Option<Cow<'a, str>>,
    pub key_id: Option<Cow<'a, str>>,
    pub target: Cow<'a, str>,
    pub model: Option<Cow<'a, str>>,
    pub provider: Option<Cow<'a, str>>,
    pub tool: Option<Cow<'a, str>>,
    pub agent: Option<Cow<'a, str>>,
    pub status: &'static str,
    pub error_class: Option<&'a str>,
    pub latency_us: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
    pub metadata: String,
    pub extra: String,
    pub bodies: Option<&'a str>,
}

pub const INSERT_REQUEST: &str = "INSERT INTO requests (id, at, plane, trace_id, principal, team, key_id, target, model, provider, tool, agent, status, error_class, latency_us, input_tokens, output_tokens, cached_tokens, cost_micros, metadata, extra, bodies) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22) ON CONFLICT (id) DO NOTHING";

/// The file's writing connection.
pub struct RecordsFile {
    connection: Mutex<Connection>,
}

impl RecordsFile {
    /// Opens the file the records' migrations have made (WAL mode is the file's own setting).
    pub fn open(path: &Path, sync_full: bool) -> rusqlite::Result<Self> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(if sync_full {
            "PRAGMA synchronous = FULL; PRAGMA cache_size = -16384;"
        } else {
            "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384;"
        })?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    /// Inserts `rows` in one transaction; rows already stored are left as they are. Rows are
    /// made as they are inserted, on the thread that inserts them, so that none is copied
    /// to get here.
    pub fn insert<'a>(&self, rows: impl Iterator<Item = RequestRow<'a>>) -> Result<(), Error> {
        let mut connection = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        insert_all(&mut connection, rows).map_err(classify)
    }
}

/// Rows inserted between offers of the core to the runtime's thread: on a hub with one core a
/// batch's insert would otherwise hold requests up for its whole time slice.
const YIELD_EVERY: usize = 64;

fn insert_all<'a>(
    connection: &mut Connection,
    rows: impl Iterator<Item = RequestRow<'a>>,
) -> rusqlite::Result<()> {
    // Immediate: the write lock is waited for (busy timeout) at the start, never refused
    // half-way through a read.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut statement = transaction.prepare(INSERT_REQUEST)?;
        for (n, row) in rows.enumerate() {
            if n % YIELD_EVERY == YIELD_EVERY - 1 {
                std::thread::yield_now();
            }
            statement.execute(params![
                row.id,
                row.at,
                row.plane,
                row.trace_id,
                row.principal,
                row.team,
                row.key_id,
                row.target,
                row.model,
                row.provider,
                row.tool,
                row.agent,
                row.status,
                row.error_class,
                row.latency_us,
                row.input_tokens,
                row.output_tokens,
                row.cached_tokens,
                row.cost_micros,
                row.metadata,
                row.extra,
                row.bodies,
            ])?;
        }
    }
    transaction.commit()
}

/// The path of a `sqlite:` URL's file; `None` for an in-memory database (whose records stay
/// on the sqlx pool: another connection would open another database).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_its_file() {
        for (url, file) in [
            (
                "sqlite:///var/lib/hub/x-records.db?mode=rwc",
                Some("/var/lib/hub/x-records.db"),
            ),
            ("sqlite:hub-records.db", Some("hub-records.db")),
            ("sqlite://relative/h.db", Some("relative/h.db")),
            ("sqlite::memory:", None),
            ("sqlite://x.db?mode=memory&cache=shared", None),
        ] {
            assert_eq!(file_of(url), file.map(PathBuf::from), "{url}");
        }
    }
}
