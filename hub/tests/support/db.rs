//! Databases for store-backed tests: SQLite always, Postgres when `AGENTHUB_TEST_POSTGRES_URL`
//! names a server (CI sets it). Each Postgres database is created for one scenario and dropped
//! after it.

use agenthub::store::{Backend, DatabaseUrl};

pub const POSTGRES_ENV: &str = "AGENTHUB_TEST_POSTGRES_URL";

/// A database for one scenario.
pub struct TestDb {
    pub name: &'static str,
    pub url: DatabaseUrl,
    /// Keeps the SQLite file alive until the scenario is over.
    _dir: Option<tempfile::TempDir>,
    /// The server URL and the database created on it, to drop afterwards.
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self {
            name: "sqlite",
            url: DatabaseUrl::sqlite_in(dir.path()),
            _dir: Some(dir),
            postgres: None,
        }
    }

    pub async fn postgres() -> Option<Self> {
        let Ok(server) = std::env::var(POSTGRES_ENV) else {
            eprintln!("notice: {POSTGRES_ENV} is not set; running on SQLite only");
            return None;
        };
        sqlx::any::install_default_drivers();
        let db = format!("agenthub_test_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::AnyPool::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={server} is unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
            .execute(&pool)
            .await
            .expect("create the test database");
        pool.close().await;
        let (base, _) = server
            .rsplit_once('/')
            .unwrap_or_else(|| panic!("{POSTGRES_ENV} must name a database"));
        let url = DatabaseUrl::parse(&format!("{base}/{db}")).expect("a Postgres URL");
        assert_eq!(url.backend, Backend::Postgres);
        Some(Self {
            name: "postgres",
            url,
            _dir: None,
            postgres: Some((server, db)),
        })
    }

    pub async fn drop_database(self) {
        if let Some((server, db)) = self.postgres {
            let pool = sqlx::AnyPool::connect(&server)
                .await
                .expect("reconnect to drop the test database");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
            )))
            .execute(&pool)
            .await
            .expect("drop the test database");
            pool.close().await;
        }
    }
}
