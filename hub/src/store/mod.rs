//! Durable state in SQLite (the embedded default) or Postgres, through one code path.
//!
//! Both back ends run the same migrations and the same SQL: ids are TEXT, times are BIGINT
//! milliseconds, and queries use `$N` parameters, which SQLite also understands. The store is
//! never read on a request's hot path: the hub serves from its in-memory directory and writes
//! through here.
//!
//! Request records and the audit trail have a pool of their own ([`Store::records`]). On
//! Postgres it is the same pool. On SQLite it is one connection to a second file beside the
//! first (`agenthub.db` → `agenthub-records.db`): the records' write volume then neither holds
//! the main file's one write lock against the planes' writes nor, by changing the file, empties
//! every other connection's page cache (SQLite drops a connection's whole cache when another
//! one has written), and the one connection keeps the records' index pages cached.

mod a2a;
mod a2a_push;
mod auth;
mod budgets;
mod mcp;
mod mcp_grants;
mod queries;
mod request_log;
mod rules;
mod telemetry;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use agenthub_policy::ErrorKind;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::error::Error;

pub use a2a::{StoredSigningKey, StoredTask, TraceEvent, TraceSummary};
pub use a2a_push::{PUSH_DELIVERED, PUSH_FAILED, PUSH_PENDING, PushDelivery, PushSubscription};
pub use auth::{LoginApplied, LoginCode, LoginWrite, PendingLogin};
pub use mcp::StoredCatalog;
pub use mcp_grants::{ConsentTicket, McpGrantRow, PendingConsent};
pub use queries::{DirectoryRows, KeyPatch, PrincipalPatch};
pub use rules::StoredRule;
pub use telemetry::{Cutoffs, Delivery, Measures, RequestFilter};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The records' tables, applied to the records' pool and tracked in a table of their own, so
/// that the two sets number their versions apart and the same code applies them to one
/// Postgres database or to two SQLite files.
fn records_migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations-records");
    migrator.dangerous_set_table_name("_agenthub_records_migrations");
    migrator
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A validated database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub backend: Backend,
    pub url: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        let backend = match scheme {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            "" => {
                return Err(format!(
                    "\"{url}\" is not a database URL (expected sqlite:PATH or postgres://…)"
                ));
            }
            other => {
                return Err(format!(
                    "unsupported database URL scheme \"{other}\" (expected sqlite: or postgres:)"
                ));
            }
        };
        Ok(Self {
            backend,
            url: url.to_owned(),
        })
    }

    /// Where a SQLite store keeps request records and the audit trail: a file beside the main
    /// one (`NAME.db` → `NAME-records.db`); an in-memory database stays in memory.
    pub fn records_url(&self) -> String {
        let (address, query) = match self.url.split_once('?') {
            Some((address, query)) => (address, Some(query)),
            None => (self.url.as_str(), None),
        };
        if address.ends_with(":memory:") || query.is_some_and(|q| q.contains("mode=memory")) {
            return self.url.clone();
        }
        let address = match address.strip_suffix(".db") {
            Some(stem) => format!("{stem}-records.db"),
            None => format!("{address}-records"),
        };
        match query {
            Some(query) => format!("{address}?{query}"),
            None => address,
        }
    }

    /// The embedded default: a SQLite file in the data directory, created if missing.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        let path = data_dir.join("agenthub.db");
        Self {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}?mode=rwc", path.display()),
        }
    }

    /// The URL without its passwords, for logs: the password of the user info, and the values
    /// of query parameters that carry one (`password=`, `sslpassword=`, …).
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }
}

/// Whether a query parameter of a database URL carries a credential.
fn secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "passwd", "pwd", "secret", "token"]
        .iter()
        .any(|s| name.contains(s))
}

/// `url` with the password of its user info and the values of credential parameters replaced
/// by `***`.
///
/// The user info ends at the last `@` of the authority. Passwords are meant to be
/// percent-encoded, but in case one is not, the authority is taken to end at the first `/`,
/// `?` or `#` after the first `@` (not before it, where such a character can only be part of
/// the password): a password containing `@`, `/`, `?` or `#` is still hidden whole.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_query(url);
    };
    let authority_end = rest
        .find('@')
        .and_then(|first| rest[first..].find(['/', '?', '#']).map(|end| first + end))
        .unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let (userinfo, tail) = (&rest[..at], &rest[at..]);
            let tail = redact_query(tail);
            match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***{tail}"),
                None => format!("{scheme}://{userinfo}{tail}"),
            }
        }
        None => format!("{scheme}://{}", redact_query(rest)),
    }
}

/// `text` with the values of credential parameters in its query replaced by `***`.
fn redact_query(text: &str) -> String {
    let Some((base, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret_parameter(name) => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    let mut out = format!("{base}?{}", query.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// The `VALUES` list of a multi-row `INSERT`: `rows` groups of `columns` placeholders. Postgres
/// numbers them (`($1, $2), ($3, $4)`); SQLite gets anonymous ones (`(?, ?), (?, ?)`), bound in
/// order, because sqlx looks each named one up by a linear scan of the statement's names —
/// quadratic in a statement of a thousand.
fn values_rows(backend: Backend, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    let _ = write!(sql, "${}", row * columns + column + 1);
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Rows per `INSERT` on SQLite when storing a batch: one statement (one round trip to sqlx's
/// SQLite worker thread) per chunk instead of per row; few enough that the full chunks of every
/// batch share one prepared statement.
const SQLITE_ROWS_PER_INSERT: usize = 64;

/// Values bound per `INSERT` on Postgres, within its limit of 65,535. Large on purpose: sqlx
/// 0.9.0 leaves Nagle's algorithm on for TCP (transact-rs/sqlx#4335), so a statement longer
/// than one segment can wait for the server's delayed ACK — 40 ms on Linux — and a batch's
/// throughput is its rows per statement over that wait.
const POSTGRES_VALUES_PER_INSERT: usize = 32_766;

/// Rows per `INSERT` of a table of `columns` columns.
fn rows_per_insert(backend: Backend, columns: usize) -> usize {
    match backend {
        Backend::Sqlite => SQLITE_ROWS_PER_INSERT,
        Backend::Postgres => (POSTGRES_VALUES_PER_INSERT / columns.max(1)).max(1),
    }
}

/// A query of the `Any` driver, values being bound.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// SQLite: whether a commit waits for the disk (`FULL`: survives a power loss) or only
    /// for the write-ahead log to reach the OS (`NORMAL`: survives the process crashing).
    pub sqlite_sync_full: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            sqlite_sync_full: true,
        }
    }
}

/// A handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Request records and the audit trail (the module's documentation says why apart).
    records: AnyPool,
    /// SQLite, in a file: the log request records are kept in (its module says why).
    request_log: Option<telemetry::LogHandle>,
    backend: Backend,
}

impl Store {
    /// Connects and applies pending migrations. Fails with a one-line cause when the database
    /// cannot be reached.
    pub async fn open(url: &DatabaseUrl, options: &StoreOptions) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = url.backend;
        let pool = connect(url, &url.url, options.max_connections, options).await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("cannot apply migrations to {}: {e}", url.redacted()))?;
        let records_url = url.records_url();
        let records = match backend {
            Backend::Postgres => pool.clone(),
            Backend::Sqlite => connect(url, &records_url, 1, options).await?,
        };
        records_migrator().run(&records).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot apply migrations to {}: {e}",
                redact_url(&records_url)
            )
        })?;
        // SQLite in files (not in memory): records move out of the main file once, and are
        // inserted through a connection of their own.
        let files = match backend {
            Backend::Sqlite => {
                request_log::file_of(&url.url).zip(request_log::file_of(&records_url))
            }
            Backend::Postgres => None,
        };
        let request_log = match files {
            Some((main, path)) => {
                move_records_out_of(&main, &records).await.map_err(|e| {
                    anyhow::anyhow!(
                        "cannot move the request records out of {}: {e}",
                        main.display()
                    )
                })?;
                let log = request_log::RequestLog::open(&path, options.sqlite_sync_full)
                    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
                let log = telemetry::LogHandle::start(log)
                    .map_err(|e| anyhow::anyhow!("cannot start the request log's thread: {e}"))?;
                let moved = telemetry::move_rows_into(&records, &log)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot move the request records of {} into its log: {e}",
                            path.display()
                        )
                    })?;
                if moved > 0 {
                    tracing::info!(
                        records = moved,
                        "moved request records into the request log"
                    );
                }
                Some(log)
            }
            None => None,
        };
        Ok(Self {
            pool,
            records,
            request_log,
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), Error> {
        match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&self.pool)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(e)),
            Err(_) => Err(unavailable()),
        }
    }

    /// Stores `rows` in one transaction, [`rows_per_insert`] a statement: `INSERT INTO {into}
    /// VALUES … {conflict}`, each row's `columns` values bound in order by `bind`.
    async fn insert_rows<'r, T>(
        &self,
        pool: &AnyPool,
        into: &str,
        columns: usize,
        conflict: &str,
        rows: &'r [T],
        bind: impl Fn(AnyQuery<'r>, &'r T) -> AnyQuery<'r>,
    ) -> Result<(), Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = pool.begin().await.map_err(classify)?;
        for chunk in rows.chunks(rows_per_insert(self.backend, columns)) {
            let values = values_rows(self.backend, chunk.len(), columns);
            // Only names and placeholders are formatted in: the values are bound.
            let sql = format!("INSERT INTO {into} VALUES {values} {conflict}");
            let query = chunk
                .iter()
                .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), &bind);
            query.execute(&mut *tx).await.map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.records.close().await;
    }

    /// Deletes and returns the row `sql` (`DELETE … WHERE <key> = $1 RETURNING *`) names: what
    /// is taken this way is taken once, however many replicas try.
    async fn take_row(
        &self,
        sql: &'static str,
        key: &str,
    ) -> crate::error::Result<Option<sqlx::any::AnyRow>> {
        sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)
    }

    /// Runs each of `statements` (`DELETE … WHERE expires_at <= $1`) at `now`; how many rows
    /// went in all.
    async fn delete_expired(
        &self,
        statements: &[&'static str],
        now: crate::model::Millis,
    ) -> crate::error::Result<u64> {
        let mut total = 0;
        for sql in statements {
            total += sqlx::query(*sql)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(classify)?
                .rows_affected();
        }
        Ok(total)
    }
}

/// A pool of at most `max_connections` to `address` (`url`'s, or the records' file beside
/// it), with SQLite's settings on every connection.
async fn connect(
    url: &DatabaseUrl,
    address: &str,
    max_connections: u32,
    options: &StoreOptions,
) -> anyhow::Result<AnyPool> {
    let backend = url.backend;
    let pragmas = if options.sqlite_sync_full {
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32768; PRAGMA synchronous = FULL;"
    } else {
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32768; PRAGMA synchronous = NORMAL;"
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(options.connect_timeout)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute(pragmas).await?;
                }
                Ok(())
            })
        })
        .connect(address)
        .await;
    let pool = match pool {
        Ok(pool) => pool,
        Err(e) => {
            let cause = match e {
                // The pool retries refused connections until the timeout, then reports only
                // that it timed out; one more direct attempt recovers the cause to show.
                sqlx::Error::PoolTimedOut => {
                    connect_failure(address, options.connect_timeout).await
                }
                e => e.to_string(),
            };
            anyhow::bail!(
                "cannot connect to the store at {}: {cause}",
                redact_url(address)
            );
        }
    };
    if backend == Backend::Sqlite {
        if address != url.url {
            // The records' file, made of appends: larger pages, fewer writes per row. Set
            // before anything is written (and WAL is on); a file made already keeps its own.
            sqlx::query("PRAGMA page_size = 16384")
                .execute(&pool)
                .await?;
        }
        // Persistent per database file: concurrent readers alongside one writer.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
    }
    Ok(pool)
}

/// Moves what a SQLite store kept in its main file before records had a file of their own —
/// request records, the audit trail and its head — into the records' file, and clears it
/// from the main one; nothing to move, nothing done. Rows already moved are skipped, so a
/// move cut short (the two files commit apart) is finished by the next start.
async fn move_records_out_of(main: &Path, records: &AnyPool) -> Result<(), sqlx::Error> {
    let mut connection = records.acquire().await?;
    sqlx::query("ATTACH DATABASE $1 AS before_split")
        .bind(main.to_string_lossy().into_owned())
        .execute(&mut *connection)
        .await?;
    let moved = async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM before_split.requests) + (SELECT COUNT(*) FROM before_split.audit_log)",
        )
        .fetch_one(&mut *connection)
        .await?;
        if waiting == 0 {
            return Ok(());
        }
        for statement in [
            "BEGIN IMMEDIATE",
            "INSERT OR IGNORE INTO requests SELECT * FROM before_split.requests",
            "INSERT OR IGNORE INTO audit_log SELECT * FROM before_split.audit_log",
            "UPDATE audit_head SET seq = old.seq, hash = old.hash
               FROM (SELECT seq, hash FROM before_split.audit_head WHERE id = 1) AS old
              WHERE audit_head.id = 1 AND old.seq > audit_head.seq",
            "DELETE FROM before_split.requests",
            "DELETE FROM before_split.audit_log",
            "COMMIT",
        ] {
            sqlx::query(statement).execute(&mut *connection).await?;
        }
        tracing::info!(records = waiting, "moved request records and the audit trail into their own file");
        Ok(())
    }
    .await;
    if moved.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
    }
    sqlx::query("DETACH DATABASE before_split")
        .execute(&mut *connection)
        .await?;
    moved
}

/// Why a single connection to `url` cannot be opened within `timeout`.
async fn connect_failure(url: &str, timeout: Duration) -> String {
    use sqlx::Connection;
    match tokio::time::timeout(timeout, sqlx::AnyConnection::connect(url)).await {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            format!(
                "no connection within {}",
                humantime::format_duration(timeout)
            )
        }
        Err(_) => format!(
            "no connection within {}",
            humantime::format_duration(timeout)
        ),
    }
}

fn unavailable() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "the store is unavailable; the change was not saved, try again later",
    )
}

/// Whether a database error code means "not now" rather than "never": the same statement may
/// well succeed once the database is back, unlocked or less busy.
///
/// - SQLite (`code` is the extended result code, in decimal): `SQLITE_BUSY` and `SQLITE_LOCKED`
///   with any extension, met once the busy timeout has run out.
/// - Postgres (`code` is the SQLSTATE): class 08 (connection exceptions), 57P01
///   `admin_shutdown`, 57P02 `crash_shutdown`, 57P03 `cannot_connect_now` (starting up, in
///   recovery), 40001 `serialization_failure`, 40P01 `deadlock_detected`, 53300
///   `too_many_connections`, and 25006 `read_only_sql_transaction` (a write reached a server
///   demoted by a failover).
pub fn transient_code(backend: Backend, code: &str) -> bool {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    match backend {
        Backend::Sqlite => code
            .parse::<i64>()
            .is_ok_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED)),
        Backend::Postgres => {
            code.len() == 5
                && (code.starts_with("08")
                    || matches!(
                        code,
                        "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "53300" | "25006"
                    ))
        }
    }
}

/// The back end and code of a database error, when it comes from one of ours.
fn database_code(db: &dyn sqlx::error::DatabaseError) -> Option<(Backend, String)> {
    let backend = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        Backend::Sqlite
    } else if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        Backend::Postgres
    } else {
        return None;
    };
    Some((backend, db.code()?.into_owned()))
}

/// Classifies a database error once: lost connections, and a database that is busy, locked,
/// shutting down, failing over or out of connections, are retryable `Unavailable`; constraint
/// violations are the caller's `Conflict`; everything else is internal.
pub fn classify(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::conflict("a record with this name already exists").with_cause(e)
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            Error::conflict("a referenced record does not exist").with_cause(e)
        }
        sqlx::Error::Database(db)
            if database_code(db.as_ref())
                .is_some_and(|(backend, code)| transient_code(backend, &code)) =>
        {
            unavailable().with_cause(e)
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => unavailable().with_cause(e),
        _ => Error::internal(e),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Stores for tests: SQLite always, Postgres when `AGENTHUB_TEST_POSTGRES_URL` names a
    //! server (CI sets it). Each Postgres store is a fresh database, dropped afterwards.

    use super::*;

    pub struct TestStore {
        pub store: Store,
        pub name: &'static str,
        _dir: Option<tempfile::TempDir>,
        pg_db: Option<(String, String)>,
    }

    impl TestStore {
        pub async fn cleanup(self) {
            self.store.close().await;
            if let Some((admin_url, db)) = self.pg_db {
                let pool = AnyPool::connect(&admin_url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
                )))
                .execute(&pool)
                .await
                .unwrap();
                pool.close().await;
            }
        }
    }

    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &DatabaseUrl::sqlite_in(dir.path()),
            &StoreOptions::default(),
        )
        .await
        .unwrap();
        TestStore {
            store,
            name: "sqlite",
            _dir: Some(dir),
            pg_db: None,
        }
    }

    pub async fn postgres() -> Option<TestStore> {
        let Ok(admin_url) = std::env::var("AGENTHUB_TEST_POSTGRES_URL") else {
            eprintln!(
                "notice: AGENTHUB_TEST_POSTGRES_URL is not set; skipping the Postgres variant"
            );
            return None;
        };
        install_default_drivers();
        let db = format!("agenthub_test_{}", uuid::Uuid::new_v4().simple());
        let pool = AnyPool::connect(&admin_url)
            .await
            .expect("AGENTHUB_TEST_POSTGRES_URL unreachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{db}"),
            None => panic!("AGENTHUB_TEST_POSTGRES_URL must name a database"),
        };
        let store = Store::open(&DatabaseUrl::parse(&url).unwrap(), &StoreOptions::default())
            .await
            .unwrap();
        Some(TestStore {
            store,
            name: "postgres",
            _dir: None,
            pg_db: Some((admin_url, db)),
        })
    }

    /// Every back end available here.
    pub async fn all() -> Vec<TestStore> {
        let mut stores = vec![sqlite().await];
        stores.extend(postgres().await);
        stores
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    #[test]
    fn an_insert_stays_within_every_backends_limit_and_takes_a_whole_records_batch() {
        for (backend, limit) in [(Backend::Sqlite, 32_766), (Backend::Postgres, 65_535)] {
            for columns in 1..=40 {
                let rows = rows_per_insert(backend, columns);
                assert!(
                    rows >= 1 && rows * columns <= limit,
                    "{backend:?}, {columns} columns"
                );
            }
        }
        // Request records have 22 columns; the writer's batches hold up to 1,024.
        assert!(rows_per_insert(Backend::Postgres, 22) >= 1024);
    }

    #[test]
    fn values_rows_numbers_every_placeholder_once() {
        assert_eq!(values_rows(Backend::Postgres, 1, 1), "($1)");
        assert_eq!(
            values_rows(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_rows(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }

    #[test]
    fn records_live_beside_a_sqlite_file() {
        for (main, records) in [
            (
                "sqlite:///var/lib/agenthub/agenthub.db?mode=rwc",
                "sqlite:///var/lib/agenthub/agenthub-records.db?mode=rwc",
            ),
            ("sqlite:hub", "sqlite:hub-records"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite://x.db?mode=memory", "sqlite://x.db?mode=memory"),
        ] {
            assert_eq!(DatabaseUrl::parse(main).unwrap().records_url(), records);
        }
    }

    #[test]
    fn redaction_hides_every_password() {
        let cases = [
            // (url, redacted)
            (
                "postgres://app:s3cret@db.internal:5432/hub",
                "postgres://app:***@db.internal:5432/hub",
            ),
            // `@` in the password: the last `@` of the authority ends the user info.
            (
                "postgres://app:p@ss@w0rd@db:5432/hub?sslmode=require",
                "postgres://app:***@db:5432/hub?sslmode=require",
            ),
            // Unencoded `/`, `?` or `#` in the password.
            (
                "postgresql://app:a/b?c#d@db/hub",
                "postgresql://app:***@db/hub",
            ),
            // `@` after the authority is not user info.
            (
                "postgres://app:pw@db/hub?application_name=me@laptop",
                "postgres://app:***@db/hub?application_name=me@laptop",
            ),
            // Passwords as query parameters.
            (
                "postgres://db/hub?user=app&password=s3cret&sslmode=verify-full",
                "postgres://db/hub?user=app&password=***&sslmode=verify-full",
            ),
            (
                "postgres://app@db/hub?sslpassword=k3y&PASSWORD=x&sslcert=/c.pem#frag",
                "postgres://app@db/hub?sslpassword=***&PASSWORD=***&sslcert=/c.pem#frag",
            ),
            (
                "postgres://app:pw@db/hub?password=again",
                "postgres://app:***@db/hub?password=***",
            ),
            // Nothing to hide.
            ("postgres://app@db/hub", "postgres://app@db/hub"),
            ("postgres://db:5432/hub", "postgres://db:5432/hub"),
            (
                "sqlite:///var/lib/agenthub/agenthub.db?mode=rwc",
                "sqlite:///var/lib/agenthub/agenthub.db?mode=rwc",
            ),
            ("sqlite:agenthub.db", "sqlite:agenthub.db"),
            ("sqlite:hub.db?password=x", "sqlite:hub.db?password=***"),
        ];
        for (url, expected) in cases {
            let parsed = DatabaseUrl::parse(url).unwrap();
            assert_eq!(parsed.redacted(), expected, "{url}");
        }
    }

    #[test]
    fn transient_codes() {
        use Backend::{Postgres, Sqlite};
        let cases = [
            // SQLite extended result codes.
            (Sqlite, "5", true),     // SQLITE_BUSY
            (Sqlite, "261", true),   // SQLITE_BUSY_RECOVERY
            (Sqlite, "517", true),   // SQLITE_BUSY_SNAPSHOT
            (Sqlite, "773", true),   // SQLITE_BUSY_TIMEOUT
            (Sqlite, "6", true),     // SQLITE_LOCKED
            (Sqlite, "262", true),   // SQLITE_LOCKED_SHAREDCACHE
            (Sqlite, "1", false),    // SQLITE_ERROR
            (Sqlite, "19", false),   // SQLITE_CONSTRAINT
            (Sqlite, "2067", false), // SQLITE_CONSTRAINT_UNIQUE
            (Sqlite, "11", false),   // SQLITE_CORRUPT
            (Sqlite, "x", false),
            // Postgres SQLSTATEs.
            (Postgres, "08000", true),  // connection_exception
            (Postgres, "08003", true),  // connection_does_not_exist
            (Postgres, "08006", true),  // connection_failure
            (Postgres, "08P01", true),  // protocol_violation
            (Postgres, "57P01", true),  // admin_shutdown
            (Postgres, "57P02", true),  // crash_shutdown
            (Postgres, "57P03", true),  // cannot_connect_now
            (Postgres, "40001", true),  // serialization_failure
            (Postgres, "40P01", true),  // deadlock_detected
            (Postgres, "53300", true),  // too_many_connections
            (Postgres, "25006", true),  // read_only_sql_transaction
            (Postgres, "23505", false), // unique_violation
            (Postgres, "42P01", false), // undefined_table
            (Postgres, "22012", false), // division_by_zero
            (Postgres, "57014", false), // query_canceled
            (Postgres, "5", false),
            (Postgres, "08", false),
        ];
        for (backend, code, transient) in cases {
            assert_eq!(
                transient_code(backend, code),
                transient,
                "{backend:?} {code}"
            );
        }
    }

    /// A store made before records had a file of their own: its records and audit trail
    /// move there at the next start, once, and the records on into the request log.
    #[tokio::test]
    async fn records_kept_in_the_main_file_move_to_their_own() {
        use crate::telemetry::audit::{AuditEntry, Verifier};
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::sqlite_in(dir.path());
        let store = Store::open(&url, &StoreOptions::default()).await.unwrap();
        store
            .append_audit(&[AuditEntry::new("user:admin", "start", "hub", "ok")])
            .await
            .unwrap();
        let audit_head = store.audit_head().await.unwrap();
        // As the store was before the split: its rows in the main file (which has the same
        // tables), none in the records' file.
        for copy in [
            "ATTACH DATABASE $1 AS split",
            "INSERT INTO split.audit_log SELECT * FROM audit_log",
            "UPDATE split.audit_head SET seq = (SELECT seq FROM audit_head), hash = (SELECT hash FROM audit_head)",
            "INSERT INTO split.requests (id, at, plane, principal, target, status, latency_us, input_tokens, output_tokens, cached_tokens, cost_micros, metadata, extra) VALUES ('01a00000-0000-7000-8000-000000000001', 1, 'llm', 'user:alice', 'gpt', 'ok', 5, 1, 2, 0, 3, '{}', '{}')",
            "DELETE FROM audit_log",
            "UPDATE audit_head SET seq = 0",
            "DETACH DATABASE split",
        ] {
            let mut connection = store.records.acquire().await.unwrap();
            sqlx::query(copy)
                .bind(
                    dir.path()
                        .join("agenthub.db")
                        .to_string_lossy()
                        .into_owned(),
                )
                .execute(&mut *connection)
                .await
                .unwrap();
        }
        store.close().await;
        for _ in 0..2 {
            let store = Store::open(&url, &StoreOptions::default()).await.unwrap();
            assert_eq!(store.audit_head().await.unwrap(), audit_head);
            let entries = store.audit_entries(0, i64::MAX, 10).await.unwrap();
            assert_eq!(entries.len(), 1);
            Verifier::new().check(&entries[0]).unwrap();
            let moved = store
                .get_request("01a00000-0000-7000-8000-000000000001")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(moved.caller.principal, "user:alice");
            let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM requests")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(left, 0, "the main file keeps no copy");
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM requests")
                .fetch_one(&store.records)
                .await
                .unwrap();
            assert_eq!(
                rows, 0,
                "the records file keeps its records in the log, not as rows"
            );
            let listed = store
                .list_requests(&RequestFilter::default(), None, 10)
                .await
                .unwrap();
            assert_eq!(listed, [moved], "moved once");
            store.close().await;
        }
    }

    /// A real `SQLITE_BUSY`: another connection holds the write lock past the busy timeout.
    #[tokio::test]
    async fn sqlite_busy_is_unavailable() {
        install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::sqlite_in(dir.path()).url;
        let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut holder)
            .await
            .unwrap();
        let mut waiter = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query("PRAGMA busy_timeout = 50")
            .execute(&mut waiter)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let e = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut waiter)
            .await
            .unwrap_err();
        let error = classify(e);
        assert_eq!(error.kind(), ErrorKind::Unavailable, "{error:?}");
        assert!(error.is_retryable());
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    }

    /// Real Postgres errors with each code (raised by a statement), and a connection that an
    /// administrator terminates.
    #[tokio::test]
    async fn postgres_transient_errors_are_unavailable() {
        let Some(test) = testing::postgres().await else {
            return;
        };
        let pool = &test.store.pool;
        for (code, kind) in [
            ("57P01", ErrorKind::Unavailable),
            ("57P02", ErrorKind::Unavailable),
            ("57P03", ErrorKind::Unavailable),
            ("08006", ErrorKind::Unavailable),
            ("40001", ErrorKind::Unavailable),
            ("40P01", ErrorKind::Unavailable),
            ("53300", ErrorKind::Unavailable),
            ("25006", ErrorKind::Unavailable),
            ("23505", ErrorKind::Conflict),
            ("22012", ErrorKind::Internal),
        ] {
            let e = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; END $$"
            )))
            .execute(pool)
            .await
            .unwrap_err();
            assert_eq!(classify(e).kind(), kind, "{code}");
        }
        let mut conn = pool.acquire().await.unwrap();
        let e = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
            .execute(&mut *conn)
            .await
            .unwrap_err();
        assert_eq!(classify(e).kind(), ErrorKind::Unavailable);
        conn.detach();
        test.cleanup().await;
    }
}
