//! An in-process hub for tests that drive its router (with `oneshot` or on a loopback port):
//! a configuration from YAML, a fresh SQLite store, the bootstrap admin key.

use std::sync::Arc;
use std::time::Duration;

use agenthub::app::AppState;
use agenthub::config::{ConfigHandle, HubConfig};
use agenthub::directory::Accounts;
use agenthub::governance::Governance;
use agenthub::secrets::{KeyOrigin, Keyring, MasterKey};
use agenthub::store::{DatabaseUrl, Store, StoreOptions};

use super::db::TestDb;

/// What a test store opens with: a few connections, a short connect timeout.
pub fn store_options() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(5),
        sqlite_sync_full: true,
    }
}

/// The store at `url` and the directory loaded from it, under a new master key.
async fn open(url: &DatabaseUrl) -> (Store, Arc<Accounts>) {
    let store = Store::open(url, &store_options())
        .await
        .expect("open the store");
    let keyring = Keyring::new(MasterKey::generate(), None, KeyOrigin::Env);
    let accounts = Arc::new(
        Accounts::load(store.clone(), Arc::new(keyring))
            .await
            .expect("load the directory"),
    );
    (store, accounts)
}

/// The store at `url`, the directory loaded from it (a new master key), and the key the first
/// start issues to the bootstrap admin.
pub async fn directory(url: &DatabaseUrl) -> (Store, Arc<Accounts>, String) {
    let (store, accounts) = open(url).await;
    let admin = accounts
        .bootstrap(None)
        .await
        .expect("bootstrap")
        .expect("the first start issues an admin key");
    (store, accounts, admin)
}

/// The hub's state, its store and the admin key; the database lives as long as this.
pub struct InProcessHub {
    pub state: AppState,
    pub admin: String,
    pub store: Store,
    pub db: TestDb,
}

impl InProcessHub {
    /// A hub configured by `yaml` (which must be valid).
    pub async fn start(yaml: &str) -> Self {
        let config = HubConfig::parse(yaml, "test.yaml", &|_| None)
            .unwrap_or_else(|e| panic!("invalid test configuration: {e}\n{yaml}"));
        let db = TestDb::sqlite();
        let (store, accounts, admin) = directory(&db.url).await;
        let config = ConfigHandle::new(config);
        let governance = Arc::new(
            Governance::load(store.clone(), config.clone(), "test")
                .await
                .expect("load the governance rules"),
        );
        let state = AppState::new(accounts, governance, config);
        Self {
            state,
            admin,
            store,
            db,
        }
    }

    /// The same store opened by a new hub configured by `yaml`, as after a restart; the admin
    /// key stays good. The master key is new, so what was sealed under the old one is lost.
    #[allow(dead_code)] // Not every test binary restarts its hub.
    pub async fn restart(self, yaml: &str) -> Self {
        self.state.a2a.shutdown();
        let config = HubConfig::parse(yaml, "test.yaml", &|_| None)
            .unwrap_or_else(|e| panic!("invalid test configuration: {e}\n{yaml}"));
        let (store, accounts) = open(&self.db.url).await;
        let config = ConfigHandle::new(config);
        let governance = Arc::new(
            Governance::load(store.clone(), config.clone(), "test")
                .await
                .expect("load the governance rules"),
        );
        Self {
            state: AppState::new(accounts, governance, config),
            admin: self.admin,
            store,
            db: self.db,
        }
    }
}
