//! The last catalog read from each upstream MCP server, kept across restarts.

use sqlx::Row;

use super::{Store, classify};
use crate::error::Result;
use crate::model::Millis;

/// A server's catalog as last read: its JSON document and when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCatalog {
    pub server: String,
    pub catalog: serde_json::Value,
    pub fetched_at: Millis,
}

impl Store {
    /// Replaces `server`'s stored catalog, unless a newer one is stored already (writes may
    /// land out of order).
    pub async fn save_mcp_catalog(&self, stored: &StoredCatalog) -> Result<()> {
        sqlx::query(
            "INSERT INTO mcp_catalogs (server, catalog, fetched_at) VALUES ($1, $2, $3)
             ON CONFLICT (server) DO UPDATE SET catalog = excluded.catalog, fetched_at = excluded.fetched_at
             WHERE mcp_catalogs.fetched_at <= excluded.fetched_at",
        )
        .bind(&stored.server)
        .bind(stored.catalog.to_string())
        .bind(stored.fetched_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Every stored catalog. A row that is not JSON (it cannot be, but the store is shared) is
    /// skipped with a warning rather than failing the others.
    pub async fn load_mcp_catalogs(&self) -> Result<Vec<StoredCatalog>> {
        let rows = sqlx::query("SELECT server, catalog, fetched_at FROM mcp_catalogs")
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        let mut catalogs = Vec::with_capacity(rows.len());
        for row in rows {
            let server: String = row.try_get("server").map_err(classify)?;
            let text: String = row.try_get("catalog").map_err(classify)?;
            match serde_json::from_str(&text) {
                Ok(catalog) => catalogs.push(StoredCatalog {
                    server,
                    catalog,
                    fetched_at: row.try_get("fetched_at").map_err(classify)?,
                }),
                Err(e) => {
                    tracing::warn!(server = %server, error = %e, "a stored MCP catalog is unreadable")
                }
            }
        }
        Ok(catalogs)
    }

    pub async fn delete_mcp_catalog(&self, server: &str) -> Result<()> {
        sqlx::query("DELETE FROM mcp_catalogs WHERE server = $1")
            .bind(server)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::testing;

    #[tokio::test]
    async fn catalogs_are_kept_newest_first_on_every_backend() {
        for db in testing::all().await {
            let store = &db.store;
            let at = |fetched_at, tools: &str| StoredCatalog {
                server: "ev".into(),
                catalog: json!({"tools": [tools]}),
                fetched_at,
            };
            store.save_mcp_catalog(&at(10, "a")).await.unwrap();
            store.save_mcp_catalog(&at(20, "b")).await.unwrap();
            // A late write of an older read changes nothing.
            store.save_mcp_catalog(&at(15, "stale")).await.unwrap();
            assert_eq!(store.load_mcp_catalogs().await.unwrap(), [at(20, "b")]);
            store.delete_mcp_catalog("ev").await.unwrap();
            assert!(store.load_mcp_catalogs().await.unwrap().is_empty());
            db.cleanup().await;
        }
    }
}
