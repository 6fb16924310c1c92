//! The A2A plane's records: the hub's signing keys (sealed), the tasks relayed through the
//! hub and who started them, and the trace of every exchange.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, classify};
use crate::error::Result;
use crate::model::Millis;
use crate::secrets::Sealed;

/// One of the hub's signing keys: the private key sealed, the public one as a JWK.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// `EdDSA` or `ES256`.
    pub algorithm: String,
    pub public_jwk: serde_json::Value,
    /// The PKCS#8 document, sealed and bound to `a2a-signing-key:<kid>`.
    pub sealed: Sealed,
    pub created_at: Millis,
    pub retired_at: Option<Millis>,
    /// When a retired key leaves the JWKS.
    pub expires_at: Option<Millis>,
}

/// A task relayed through the hub.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTask {
    pub agent: String,
    pub task_id: String,
    /// The principal (`user:alice`) that started it: the only one who may read it.
    pub principal: String,
    pub context_id: Option<String>,
    pub trace_id: String,
    pub created_at: Millis,
}

/// One event of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEvent {
    /// UUIDv7: events sort by time.
    pub id: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    /// The event's place within its span.
    pub seq: i64,
    pub at: Millis,
    /// `request`, `response`, `task`, `message`, `status`, `artifact`, `error`.
    pub kind: String,
    pub agent: String,
    /// The A2A method, e.g. `SendMessage`.
    pub method: String,
    /// On whose behalf (`user:alice`).
    pub principal: String,
    /// The delegation chain, principal first.
    pub chain: Vec<String>,
    pub context_id: Option<String>,
    pub task_id: Option<String>,
    /// `ok`, or why it failed (`error: …`), on the span's last event.
    pub outcome: Option<String>,
    pub duration_ms: Option<i64>,
    /// The event's A2A JSON, redacted.
    pub body: Option<serde_json::Value>,
}

fn signing_key_from(row: &AnyRow) -> Result<StoredSigningKey> {
    let jwk: String = row.try_get("public_jwk").map_err(classify)?;
    Ok(StoredSigningKey {
        kid: row.try_get("kid").map_err(classify)?,
        algorithm: row.try_get("algorithm").map_err(classify)?,
        public_jwk: serde_json::from_str(&jwk).map_err(crate::error::Error::internal)?,
        sealed: Sealed {
            key_id: row.try_get("key_id").map_err(classify)?,
            nonce: row.try_get("nonce").map_err(classify)?,
            ciphertext: row.try_get("ciphertext").map_err(classify)?,
        },
        created_at: row.try_get("created_at").map_err(classify)?,
        retired_at: row.try_get("retired_at").map_err(classify)?,
        expires_at: row.try_get("expires_at").map_err(classify)?,
    })
}

fn task_from(row: &AnyRow) -> Result<StoredTask> {
    Ok(StoredTask {
        agent: row.try_get("agent").map_err(classify)?,
        task_id: row.try_get("task_id").map_err(classify)?,
        principal: row.try_get("principal").map_err(classify)?,
        context_id: row.try_get("context_id").map_err(classify)?,
        trace_id: row.try_get("trace_id").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
    })
}

fn trace_event_from(row: &AnyRow) -> Result<TraceEvent> {
    let chain: String = row.try_get("chain").map_err(classify)?;
    let body: Option<String> = row.try_get("body").map_err(classify)?;
    Ok(TraceEvent {
        id: row.try_get("id").map_err(classify)?,
        trace_id: row.try_get("trace_id").map_err(classify)?,
        span_id: row.try_get("span_id").map_err(classify)?,
        parent_span_id: row.try_get("parent_span_id").map_err(classify)?,
        seq: row.try_get("seq").map_err(classify)?,
        at: row.try_get("at").map_err(classify)?,
        kind: row.try_get("kind").map_err(classify)?,
        agent: row.try_get("agent").map_err(classify)?,
        method: row.try_get("method").map_err(classify)?,
        principal: row.try_get("principal").map_err(classify)?,
        chain: serde_json::from_str(&chain).unwrap_or_default(),
        context_id: row.try_get("context_id").map_err(classify)?,
        task_id: row.try_get("task_id").map_err(classify)?,
        outcome: row.try_get("outcome").map_err(classify)?,
        duration_ms: row.try_get("duration_ms").map_err(classify)?,
        body: body.and_then(|b| serde_json::from_str(&b).ok()),
    })
}

impl Store {
    pub async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO a2a_signing_keys (kid, algorithm, public_jwk, key_id, nonce, ciphertext, created_at, retired_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(key.public_jwk.to_string())
        .bind(&key.sealed.key_id)
        .bind(&key.sealed.nonce)
        .bind(&key.sealed.ciphertext)
        .bind(key.created_at)
        .bind(key.retired_at)
        .bind(key.expires_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// The signing keys still published at `now`, newest first.
    pub async fn load_signing_keys(&self, now: Millis) -> Result<Vec<StoredSigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, public_jwk, key_id, nonce, ciphertext, created_at, retired_at, expires_at
             FROM a2a_signing_keys WHERE expires_at IS NULL OR expires_at > $1
             ORDER BY created_at DESC, kid",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(signing_key_from).collect()
    }

    /// Retires every key but `kid`: they stop signing now and leave the JWKS at `expires_at`.
    pub async fn retire_signing_keys_except(
        &self,
        kid: &str,
        now: Millis,
        expires_at: Millis,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE a2a_signing_keys SET retired_at = $2, expires_at = $3
             WHERE kid <> $1 AND retired_at IS NULL",
        )
        .bind(kid)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected())
    }

    /// Re-seals every signing key under the current master key (`secrets rotate-key`).
    pub async fn reseal_signing_keys(
        &self,
        mut reseal: impl FnMut(&str, Sealed) -> Result<Sealed>,
    ) -> Result<usize> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, public_jwk, key_id, nonce, ciphertext, created_at, retired_at, expires_at FROM a2a_signing_keys",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let mut count = 0;
        for row in &rows {
            let key = signing_key_from(row)?;
            let sealed = reseal(&key.kid, key.sealed.clone())?;
            if sealed == key.sealed {
                continue;
            }
            sqlx::query(
                "UPDATE a2a_signing_keys SET key_id = $2, nonce = $3, ciphertext = $4 WHERE kid = $1",
            )
            .bind(&key.kid)
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
            count += 1;
        }
        Ok(count)
    }

    /// Records tasks; one already recorded is kept as it was (its first principal owns it).
    pub async fn save_tasks(&self, tasks: &[StoredTask]) -> Result<()> {
        if tasks.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(classify)?;
        for task in tasks {
            sqlx::query(
                "INSERT INTO a2a_tasks (agent, task_id, principal, context_id, trace_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent, task_id) DO NOTHING",
            )
            .bind(&task.agent)
            .bind(&task.task_id)
            .bind(&task.principal)
            .bind(&task.context_id)
            .bind(&task.trace_id)
            .bind(task.created_at)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    /// The tasks with this id, at any agent.
    pub async fn find_tasks(&self, task_id: &str) -> Result<Vec<StoredTask>> {
        let rows = sqlx::query(
            "SELECT agent, task_id, principal, context_id, trace_id, created_at FROM a2a_tasks WHERE task_id = $1",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(task_from).collect()
    }

    /// A principal's tasks at an agent, newest first.
    pub async fn list_tasks(
        &self,
        agent: &str,
        principal: &str,
        limit: i64,
    ) -> Result<Vec<StoredTask>> {
        let rows = sqlx::query(
            "SELECT agent, task_id, principal, context_id, trace_id, created_at FROM a2a_tasks
             WHERE agent = $1 AND principal = $2 ORDER BY created_at DESC LIMIT $3",
        )
        .bind(agent)
        .bind(principal)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(task_from).collect()
    }

    pub async fn save_trace_events(&self, events: &[TraceEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(classify)?;
        for event in events {
            sqlx::query(
                "INSERT INTO a2a_trace_events (id, trace_id, span_id, parent_span_id, seq, at, kind, agent, method, principal, chain, context_id, task_id, outcome, duration_ms, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&event.id)
            .bind(&event.trace_id)
            .bind(&event.span_id)
            .bind(&event.parent_span_id)
            .bind(event.seq)
            .bind(event.at)
            .bind(&event.kind)
            .bind(&event.agent)
            .bind(&event.method)
            .bind(&event.principal)
            .bind(serde_json::to_string(&event.chain).unwrap_or_else(|_| "[]".into()))
            .bind(&event.context_id)
            .bind(&event.task_id)
            .bind(&event.outcome)
            .bind(event.duration_ms)
            .bind(event.body.as_ref().map(serde_json::Value::to_string))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(())
    }

    /// A trace's events in time order.
    pub async fn load_trace(&self, trace_id: &str) -> Result<Vec<TraceEvent>> {
        let rows = sqlx::query(
            "SELECT id, trace_id, span_id, parent_span_id, seq, at, kind, agent, method, principal, chain, context_id, task_id, outcome, duration_ms, body
             FROM a2a_trace_events WHERE trace_id = $1 ORDER BY at, span_id, seq",
        )
        .bind(trace_id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(trace_event_from).collect()
    }

    /// Deletes trace events older than `before`.
    pub async fn purge_trace_events(&self, before: Millis) -> Result<u64> {
        let done = sqlx::query("DELETE FROM a2a_trace_events WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::testing;

    fn key(kid: &str, created_at: Millis) -> StoredSigningKey {
        StoredSigningKey {
            kid: kid.into(),
            algorithm: "EdDSA".into(),
            public_jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": kid}),
            sealed: Sealed {
                key_id: "m1".into(),
                nonce: "n".into(),
                ciphertext: "c".into(),
            },
            created_at,
            retired_at: None,
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn signing_keys_rotate_and_expire_on_every_backend() {
        for db in testing::all().await {
            let store = &db.store;
            store.insert_signing_key(&key("a", 10)).await.unwrap();
            store.insert_signing_key(&key("b", 20)).await.unwrap();
            assert_eq!(
                store
                    .retire_signing_keys_except("b", 30, 100)
                    .await
                    .unwrap(),
                1
            );
            let keys = store.load_signing_keys(50).await.unwrap();
            assert_eq!(
                keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
                ["b", "a"]
            );
            assert_eq!(keys[1].retired_at, Some(30));
            // Past its expiry, the retired key is no longer published.
            let keys = store.load_signing_keys(100).await.unwrap();
            assert_eq!(
                keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
                ["b"]
            );
            let resealed = store
                .reseal_signing_keys(|_, sealed| {
                    Ok(Sealed {
                        key_id: "m2".into(),
                        ..sealed
                    })
                })
                .await
                .unwrap();
            assert_eq!(resealed, 2);
            db.cleanup().await;
        }
    }

    #[tokio::test]
    async fn tasks_keep_their_first_owner_and_traces_their_order_on_every_backend() {
        for db in testing::all().await {
            let store = &db.store;
            let task = |principal: &str, at| StoredTask {
                agent: "echo".into(),
                task_id: "t1".into(),
                principal: principal.into(),
                context_id: Some("c1".into()),
                trace_id: "tr".into(),
                created_at: at,
            };
            store.save_tasks(&[task("user:alice", 1)]).await.unwrap();
            store.save_tasks(&[task("user:mallory", 2)]).await.unwrap();
            assert_eq!(
                store.find_tasks("t1").await.unwrap(),
                [task("user:alice", 1)]
            );
            assert_eq!(
                store
                    .list_tasks("echo", "user:alice", 10)
                    .await
                    .unwrap()
                    .len(),
                1
            );
            assert!(
                store
                    .list_tasks("echo", "user:mallory", 10)
                    .await
                    .unwrap()
                    .is_empty()
            );

            let event = |id: &str, at, seq| TraceEvent {
                id: id.into(),
                trace_id: "tr".into(),
                span_id: "s1".into(),
                parent_span_id: None,
                seq,
                at,
                kind: "request".into(),
                agent: "echo".into(),
                method: "SendMessage".into(),
                principal: "user:alice".into(),
                chain: vec!["user:alice".into()],
                context_id: Some("c1".into()),
                task_id: None,
                outcome: None,
                duration_ms: None,
                body: Some(json!({"parts": [{"text": "hi"}]})),
            };
            store
                .save_trace_events(&[event("e2", 20, 1), event("e1", 10, 0)])
                .await
                .unwrap();
            let trace = store.load_trace("tr").await.unwrap();
            assert_eq!(trace, [event("e1", 10, 0), event("e2", 20, 1)]);
            assert_eq!(store.purge_trace_events(15).await.unwrap(), 1);
            db.cleanup().await;
        }
    }
}
