//! The last catalog read from each upstream server, kept in the store: the admin API shows a
//! server's tools while it is down, and after a restart before it is back. Writes leave the
//! registry through a task each (catalogs change rarely); the request path never reads the
//! store.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use agenthub_mcp_registry::registry::CatalogSink;
use agenthub_mcp_registry::upstream::Catalog;

use crate::model::{Millis, now_millis};
use crate::store::{Store, StoredCatalog};

/// A server's catalog as last read, and when.
#[derive(Clone)]
pub struct KeptCatalog {
    pub catalog: Arc<Catalog>,
    pub fetched_at: Millis,
}

pub struct KeptCatalogs {
    store: Store,
    known: RwLock<BTreeMap<String, KeptCatalog>>,
}

impl KeptCatalogs {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            known: RwLock::new(BTreeMap::new()),
        }
    }

    /// Reads the stored catalogs; those of servers no longer registered are deleted. A newer
    /// catalog read meanwhile is kept.
    pub async fn load(&self, registered: &[String]) {
        let stored = match self.store.load_mcp_catalogs().await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the stored MCP catalogs");
                return;
            }
        };
        for row in stored {
            if !registered.contains(&row.server) {
                self.forget(&row.server);
                continue;
            }
            let catalog: Catalog = match serde_json::from_value(row.catalog) {
                Ok(catalog) => catalog,
                Err(e) => {
                    tracing::warn!(server = %row.server, error = %e, "a stored MCP catalog is unreadable");
                    continue;
                }
            };
            let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
            let newer = known
                .get(&row.server)
                .is_some_and(|k| k.fetched_at >= row.fetched_at);
            if !newer {
                known.insert(
                    row.server,
                    KeptCatalog {
                        catalog: Arc::new(catalog),
                        fetched_at: row.fetched_at,
                    },
                );
            }
        }
    }

    /// `server`'s catalog as last read, if it ever was.
    pub fn last(&self, server: &str) -> Option<KeptCatalog> {
        self.known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(server)
            .cloned()
    }

    /// Drops `server`'s catalog (it was unregistered).
    pub fn forget(&self, server: &str) {
        self.known
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(server);
        let store = self.store.clone();
        let server = server.to_owned();
        tokio::spawn(async move {
            if let Err(e) = store.delete_mcp_catalog(&server).await {
                tracing::warn!(server = %server, error = %e, "cannot delete a stored MCP catalog");
            }
        });
    }
}

impl CatalogSink for KeptCatalogs {
    fn published(&self, server: &str, catalog: &Arc<Catalog>) {
        let fetched_at = now_millis();
        self.known
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                server.to_owned(),
                KeptCatalog {
                    catalog: catalog.clone(),
                    fetched_at,
                },
            );
        let document = match serde_json::to_value(catalog.as_ref()) {
            Ok(document) => document,
            Err(e) => {
                tracing::warn!(server, error = %e, "cannot serialize an MCP catalog");
                return;
            }
        };
        let store = self.store.clone();
        let row = StoredCatalog {
            server: server.to_owned(),
            catalog: document,
            fetched_at,
        };
        tokio::spawn(async move {
            if let Err(e) = store.save_mcp_catalog(&row).await {
                tracing::warn!(server = %row.server, error = %e, "cannot store an MCP catalog");
            }
        });
    }
}
