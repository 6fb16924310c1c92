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

/// Runs `scenario` on a hub that `start` brings up on every available database, each created
/// just before its run. Start-up and the scenario run in tasks of their own, so that a failure
/// still closes the store and drops the Postgres database before the test fails. `start`
/// returns the hub and the store to close afterwards.
pub async fn on_every_database<H, Start, Started, Scenario, Done>(start: Start, scenario: Scenario)
where
    H: Send + 'static,
    Start: Fn(DatabaseUrl) -> Started,
    Started: std::future::Future<Output = (H, agenthub::store::Store)> + Send + 'static,
    Scenario: Fn(H) -> Done,
    Done: std::future::Future<Output = ()> + Send + 'static,
{
    for postgres in [false, true] {
        let db = if postgres {
            match TestDb::postgres().await {
                Some(db) => db,
                None => return,
            }
        } else {
            TestDb::sqlite()
        };
        let name = db.name;
        let outcome = match tokio::spawn(start(db.url.clone())).await {
            Ok((hub, store)) => {
                let outcome = tokio::spawn(scenario(hub)).await;
                store.close().await;
                outcome
            }
            Err(failure) => Err(failure),
        };
        db.drop_database().await;
        if let Err(failure) = outcome {
            eprintln!("the scenario failed on {name}");
            std::panic::resume_unwind(failure.into_panic());
        }
    }
}
