//! Governance rules as stored documents: one JSON body per (kind, id).

use sqlx::Row;

use super::{Store, classify};
use crate::error::{Error, Result};
use crate::model::Millis;

/// A stored rule. `body` is the rule's JSON document, validated before it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub kind: String,
    pub id: String,
    pub body: serde_json::Value,
    pub created_by: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl StoredRule {
    /// The order of rules in a rule set: by kind, then id, as bytes.
    pub fn order(a: &Self, b: &Self) -> std::cmp::Ordering {
        (a.kind.as_str(), a.id.as_str()).cmp(&(b.kind.as_str(), b.id.as_str()))
    }
}

impl Store {
    /// Every stored rule, by kind then id, compared as bytes (not in the database's collation,
    /// which may differ between servers): the order every replica merges them in.
    pub async fn load_rules(&self) -> Result<Vec<StoredRule>> {
        let rows = sqlx::query("SELECT * FROM rules")
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        let mut rules = rows
            .iter()
            .map(|row| {
                let body: String = row.try_get("body").map_err(classify)?;
                Ok(StoredRule {
                    kind: row.try_get("kind").map_err(classify)?,
                    id: row.try_get("id").map_err(classify)?,
                    body: serde_json::from_str(&body).map_err(|e| {
                        Error::internal(format!("corrupt rule document in the store: {e}"))
                    })?,
                    created_by: row.try_get("created_by").map_err(classify)?,
                    created_at: row.try_get("created_at").map_err(classify)?,
                    updated_at: row.try_get("updated_at").map_err(classify)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        rules.sort_by(StoredRule::order);
        Ok(rules)
    }

    /// Inserts a rule, or replaces the body of an existing one (keeping its creation facts).
    pub async fn upsert_rule(&self, rule: &StoredRule) -> Result<()> {
        sqlx::query(
            "INSERT INTO rules (kind, id, body, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        )
        .bind(&rule.kind)
        .bind(&rule.id)
        .bind(rule.body.to_string())
        .bind(&rule.created_by)
        .bind(rule.created_at)
        .bind(rule.updated_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    pub async fn delete_rule(&self, kind: &str, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM rules WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!("{kind} \"{id}\"")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn rules_round_trip_on_every_backend() {
        for t in testing::all().await {
            let store = &t.store;
            let rule = |id: &str, body| StoredRule {
                kind: "rate_limit".into(),
                id: id.into(),
                body,
                created_by: Some("user:admin".into()),
                created_at: 1,
                updated_at: 1,
            };
            store
                .upsert_rule(&rule("b", json!({"limit_to": 5})))
                .await
                .unwrap();
            store
                .upsert_rule(&rule("a", json!({"limit_to": 1})))
                .await
                .unwrap();
            store
                .upsert_rule(&StoredRule {
                    updated_at: 2,
                    created_at: 99,
                    ..rule("a", json!({"limit_to": 2}))
                })
                .await
                .unwrap();
            // Byte order, whatever the database's collation says ("B" < "a" < "a-2" < "a_1").
            for id in ["a_1", "B", "a-2"] {
                store.upsert_rule(&rule(id, json!({}))).await.unwrap();
            }
            let rules = store.load_rules().await.unwrap();
            assert_eq!(
                rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                ["B", "a", "a-2", "a_1", "b"],
                "{}",
                t.name
            );
            for id in ["a_1", "B", "a-2"] {
                store.delete_rule("rate_limit", id).await.unwrap();
            }
            let rules = store.load_rules().await.unwrap();
            assert_eq!(rules[0].body, json!({"limit_to": 2}), "{}", t.name);
            assert_eq!(
                (rules[0].created_at, rules[0].updated_at),
                (1, 2),
                "{}: creation facts are kept",
                t.name
            );
            store.delete_rule("rate_limit", "a").await.unwrap();
            let missing = store.delete_rule("rate_limit", "a").await.unwrap_err();
            assert_eq!(missing.kind(), agenthub_policy::ErrorKind::NotFound);
            assert_eq!(store.load_rules().await.unwrap().len(), 1);
            t.cleanup().await;
        }
    }
}
