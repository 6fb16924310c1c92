//! Durable state in SQLite (the embedded default) or Postgres, through one code path.
//!
//! Both back ends run the same migrations and the same SQL: ids are TEXT, times are BIGINT
//! milliseconds, and queries use `$N` parameters, which SQLite also understands. The store is
//! never read on a request's hot path: the hub serves from its in-memory directory and writes
//! through here.

mod auth;
mod budgets;
mod queries;
mod rules;

use std::path::Path;
use std::time::Duration;

use agenthub_policy::ErrorKind;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::error::Error;

pub use auth::{LoginApplied, LoginCode, LoginWrite, PendingLogin};
pub use queries::{DirectoryRows, PrincipalPatch};
pub use rules::StoredRule;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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

    /// The embedded default: a SQLite file in the data directory, created if missing.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        let path = data_dir.join("agenthub.db");
        Self {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}?mode=rwc", path.display()),
        }
    }

    /// The URL without its password, for logs.
    pub fn redacted(&self) -> String {
        match self.url.split_once("://") {
            Some((scheme, rest)) => match rest.split_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    format!("{scheme}://{user}:***@{host}")
                }
                None => self.url.clone(),
            },
            None => self.url.clone(),
        }
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects and applies pending migrations. Fails with a one-line cause when the database
    /// cannot be reached.
    pub async fn open(url: &DatabaseUrl, options: &StoreOptions) -> anyhow::Result<Self> {
        install_default_drivers();
        let backend = url.backend;
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.connect_timeout)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url.url)
            .await;
        let pool = match pool {
            Ok(pool) => pool,
            Err(e) => {
                let cause = match e {
                    // The pool retries refused connections until the timeout, then reports only
                    // that it timed out; one more direct attempt recovers the cause to show.
                    sqlx::Error::PoolTimedOut => {
                        connect_failure(&url.url, options.connect_timeout).await
                    }
                    e => e.to_string(),
                };
                anyhow::bail!("cannot connect to the store at {}: {cause}", url.redacted());
            }
        };
        if backend == Backend::Sqlite {
            // Persistent per database file: concurrent readers alongside one writer.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("cannot apply migrations to {}: {e}", url.redacted()))?;
        Ok(Self { pool, backend })
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

    pub async fn close(&self) {
        self.pool.close().await;
    }
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

/// Classifies a database error once: lost connections are retryable `Unavailable`, constraint
/// violations are the caller's `Conflict`, everything else is internal.
pub fn classify(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::conflict("a record with this name already exists").with_cause(e)
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            Error::conflict("a referenced record does not exist").with_cause(e)
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
