//! The SQL of A2A push notifications relayed through the hub: the clients' subscriptions (their
//! webhook, with the token and credentials sealed) and the deliveries to make, each attempt
//! claimed here first so that one replica sends it at a time.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, classify};
use crate::error::Result;
use crate::model::Millis;
use crate::secrets::Sealed;

/// A client's push-notification config, as the hub keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct PushSubscription {
    /// Random; the last segment of the hub's webhook URL given to the agent.
    pub id: String,
    /// SHA-256 (hex) of the secret the agent presents.
    pub secret_hash: String,
    pub agent: String,
    pub task_id: Option<String>,
    pub config_id: Option<String>,
    /// On whose behalf (`user:alice`).
    pub principal: String,
    /// Who made the request (`user:alice`).
    pub caller: String,
    /// The client's `x-agenthub-metadata`.
    pub metadata: BTreeMap<String, String>,
    /// `1.0` or `0.3`.
    pub client_version: String,
    /// The client's webhook.
    pub url: String,
    pub auth_scheme: Option<String>,
    /// The client's token and credentials (a JSON object), sealed; `None` without either.
    pub sealed: Option<Sealed>,
    pub trace_id: String,
    pub span_id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The states of a delivery.
pub const PUSH_PENDING: &str = "pending";
pub const PUSH_DELIVERED: &str = "delivered";
pub const PUSH_FAILED: &str = "failed";

/// One notification to deliver to a client's webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct PushDelivery {
    /// The delivery id the client sees, the same on every attempt.
    pub id: String,
    pub subscription_id: String,
    pub seq: i64,
    /// Exactly what is sent, every attempt.
    pub body: String,
    pub created_at: Millis,
    /// Attempts claimed so far.
    pub attempts: i64,
    pub next_attempt_at: Millis,
    /// [`PUSH_PENDING`], [`PUSH_DELIVERED`] or [`PUSH_FAILED`].
    pub state: String,
    pub finished_at: Option<Millis>,
    pub last_error: Option<String>,
}

const SUBSCRIPTION_COLUMNS: &str = "id, secret_hash, agent, task_id, config_id, principal, caller, metadata, client_version, url, auth_scheme, key_id, nonce, ciphertext, trace_id, span_id, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "id, subscription_id, seq, body, created_at, attempts, next_attempt_at, state, finished_at, last_error";

/// A pending delivery that no earlier pending delivery of its subscription holds up.
const HEAD_OF_LINE: &str = "d.state = 'pending' AND NOT EXISTS (SELECT 1 FROM a2a_push_deliveries e
     WHERE e.subscription_id = d.subscription_id AND e.state = 'pending' AND e.seq < d.seq)";

fn subscription_from(row: &AnyRow) -> Result<PushSubscription> {
    let metadata: String = row.try_get("metadata").map_err(classify)?;
    let key_id: Option<String> = row.try_get("key_id").map_err(classify)?;
    let nonce: Option<String> = row.try_get("nonce").map_err(classify)?;
    let ciphertext: Option<String> = row.try_get("ciphertext").map_err(classify)?;
    let sealed = match (key_id, nonce, ciphertext) {
        (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
            key_id,
            nonce,
            ciphertext,
        }),
        _ => None,
    };
    Ok(PushSubscription {
        id: row.try_get("id").map_err(classify)?,
        secret_hash: row.try_get("secret_hash").map_err(classify)?,
        agent: row.try_get("agent").map_err(classify)?,
        task_id: row.try_get("task_id").map_err(classify)?,
        config_id: row.try_get("config_id").map_err(classify)?,
        principal: row.try_get("principal").map_err(classify)?,
        caller: row.try_get("caller").map_err(classify)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        client_version: row.try_get("client_version").map_err(classify)?,
        url: row.try_get("url").map_err(classify)?,
        auth_scheme: row.try_get("auth_scheme").map_err(classify)?,
        sealed,
        trace_id: row.try_get("trace_id").map_err(classify)?,
        span_id: row.try_get("span_id").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        updated_at: row.try_get("updated_at").map_err(classify)?,
    })
}

fn delivery_from(row: &AnyRow) -> Result<PushDelivery> {
    Ok(PushDelivery {
        id: row.try_get("id").map_err(classify)?,
        subscription_id: row.try_get("subscription_id").map_err(classify)?,
        seq: row.try_get("seq").map_err(classify)?,
        body: row.try_get("body").map_err(classify)?,
        created_at: row.try_get("created_at").map_err(classify)?,
        attempts: row.try_get("attempts").map_err(classify)?,
        next_attempt_at: row.try_get("next_attempt_at").map_err(classify)?,
        state: row.try_get("state").map_err(classify)?,
        finished_at: row.try_get("finished_at").map_err(classify)?,
        last_error: row.try_get("last_error").map_err(classify)?,
    })
}

impl Store {
    pub async fn insert_push_subscription(&self, sub: &PushSubscription) -> Result<()> {
        let metadata = serde_json::to_string(&sub.metadata).unwrap_or_else(|_| "{}".into());
        let sealed = sub.sealed.as_ref();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO a2a_push_subscriptions ({SUBSCRIPTION_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        )))
        .bind(&sub.id)
        .bind(&sub.secret_hash)
        .bind(&sub.agent)
        .bind(&sub.task_id)
        .bind(&sub.config_id)
        .bind(&sub.principal)
        .bind(&sub.caller)
        .bind(metadata)
        .bind(&sub.client_version)
        .bind(&sub.url)
        .bind(&sub.auth_scheme)
        .bind(sealed.map(|s| s.key_id.clone()))
        .bind(sealed.map(|s| s.nonce.clone()))
        .bind(sealed.map(|s| s.ciphertext.clone()))
        .bind(&sub.trace_id)
        .bind(&sub.span_id)
        .bind(sub.created_at)
        .bind(sub.updated_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    pub async fn push_subscription(&self, id: &str) -> Result<Option<PushSubscription>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM a2a_push_subscriptions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.as_ref().map(subscription_from).transpose()
    }

    /// The subscriptions to a task at an agent made on `principal`'s behalf.
    pub async fn push_subscriptions_of_task(
        &self,
        agent: &str,
        principal: &str,
        task_id: &str,
    ) -> Result<Vec<PushSubscription>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM a2a_push_subscriptions
             WHERE agent = $1 AND principal = $2 AND task_id = $3 ORDER BY created_at, id"
        )))
        .bind(agent)
        .bind(principal)
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(subscription_from).collect()
    }

    /// Sets a subscription's task and config ids where they are not known yet; `true` when
    /// something changed.
    pub async fn complete_push_subscription(
        &self,
        id: &str,
        task_id: Option<&str>,
        config_id: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE a2a_push_subscriptions
             SET task_id = COALESCE(task_id, $2), config_id = COALESCE(config_id, $3)
             WHERE id = $1 AND ((task_id IS NULL AND CAST($2 AS TEXT) IS NOT NULL)
                 OR (config_id IS NULL AND CAST($3 AS TEXT) IS NOT NULL))",
        )
        .bind(id)
        .bind(task_id)
        .bind(config_id)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a subscription and its deliveries; `true` when it existed.
    pub async fn delete_push_subscription(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM a2a_push_subscriptions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() > 0)
    }

    /// Queues a notification for a subscription, after every one queued before it; its
    /// sequence number, or `None` when the subscription is gone.
    pub async fn queue_push_delivery(
        &self,
        subscription_id: &str,
        delivery_id: &str,
        body: &str,
        now: Millis,
    ) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let seq: Option<i64> = sqlx::query(
            "UPDATE a2a_push_subscriptions SET next_seq = next_seq + 1, updated_at = $2
             WHERE id = $1 RETURNING next_seq",
        )
        .bind(subscription_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?
        .map(|row| row.try_get("next_seq"))
        .transpose()
        .map_err(classify)?;
        let Some(seq) = seq else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO a2a_push_deliveries (id, subscription_id, seq, body, created_at, attempts, next_attempt_at, state)
             VALUES ($1, $2, $3, $4, $5, 0, $5, 'pending')",
        )
        .bind(delivery_id)
        .bind(subscription_id)
        .bind(seq)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(Some(seq))
    }

    pub async fn push_delivery(&self, id: &str) -> Result<Option<PushDelivery>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM a2a_push_deliveries WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        row.as_ref().map(delivery_from).transpose()
    }

    /// A subscription's deliveries in order.
    pub async fn push_deliveries_of(&self, subscription_id: &str) -> Result<Vec<PushDelivery>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM a2a_push_deliveries WHERE subscription_id = $1 ORDER BY seq"
        )))
        .bind(subscription_id)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(delivery_from).collect()
    }

    /// Up to `limit` deliveries due at `now`, oldest first: of each subscription, only the
    /// first pending one (the others wait for it). Claim one before sending it.
    pub async fn due_push_deliveries(&self, now: Millis, limit: i64) -> Result<Vec<PushDelivery>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM a2a_push_deliveries d
             WHERE {HEAD_OF_LINE} AND d.next_attempt_at <= $1
             ORDER BY d.created_at, d.id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(delivery_from).collect()
    }

    /// When the next delivery falls due (it may be now or past), if any is pending.
    pub async fn next_push_due(&self) -> Result<Option<Millis>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT MIN(d.next_attempt_at) AS due FROM a2a_push_deliveries d WHERE {HEAD_OF_LINE}"
        )))
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        row.try_get("due").map_err(classify)
    }

    /// Claims the next attempt of a delivery until `until`: `true` for exactly one caller
    /// among those that saw it due at `now` with `attempts` attempts, across replicas.
    pub async fn claim_push_delivery(
        &self,
        id: &str,
        attempts: i64,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE a2a_push_deliveries SET next_attempt_at = $1, attempts = attempts + 1
             WHERE id = $2 AND attempts = $3 AND state = 'pending' AND next_attempt_at <= $4",
        )
        .bind(until)
        .bind(id)
        .bind(attempts)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a delivery: delivered, or failed for good (with why).
    pub async fn finish_push_delivery(
        &self,
        id: &str,
        delivered: bool,
        error: Option<&str>,
        now: Millis,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE a2a_push_deliveries SET state = $2, finished_at = $3, last_error = $4
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(if delivered {
            PUSH_DELIVERED
        } else {
            PUSH_FAILED
        })
        .bind(now)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Reschedules a failed attempt (the `attempts`-th, the caller's claim) for `at`.
    pub async fn retry_push_delivery(
        &self,
        id: &str,
        attempts: i64,
        at: Millis,
        error: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE a2a_push_deliveries SET next_attempt_at = $3, last_error = $4
             WHERE id = $1 AND attempts = $2 AND state = 'pending'",
        )
        .bind(id)
        .bind(attempts)
        .bind(at)
        .bind(error)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes deliveries that ended before `finished_before`, and subscriptions idle since
    /// before `idle_before` (with their deliveries); how many of each.
    pub async fn purge_push(
        &self,
        finished_before: Millis,
        idle_before: Millis,
    ) -> Result<(u64, u64)> {
        let deliveries = sqlx::query(
            "DELETE FROM a2a_push_deliveries WHERE state <> 'pending' AND finished_at < $1",
        )
        .bind(finished_before)
        .execute(&self.pool)
        .await
        .map_err(classify)?
        .rows_affected();
        let subscriptions = sqlx::query(
            "DELETE FROM a2a_push_subscriptions WHERE updated_at < $1
             AND NOT EXISTS (SELECT 1 FROM a2a_push_deliveries d
                 WHERE d.subscription_id = a2a_push_subscriptions.id AND d.state = 'pending')",
        )
        .bind(idle_before)
        .execute(&self.pool)
        .await
        .map_err(classify)?
        .rows_affected();
        Ok((deliveries, subscriptions))
    }

    /// Re-seals every subscription's credentials under the current master key (`secrets
    /// rotate-key`).
    pub async fn reseal_push_credentials(
        &self,
        mut reseal: impl FnMut(&str, Sealed) -> Result<Sealed>,
    ) -> Result<usize> {
        let rows = sqlx::query(
            "SELECT id, key_id, nonce, ciphertext FROM a2a_push_subscriptions WHERE key_id IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let mut count = 0;
        for row in &rows {
            let id: String = row.try_get("id").map_err(classify)?;
            let sealed = Sealed {
                key_id: row.try_get("key_id").map_err(classify)?,
                nonce: row.try_get("nonce").map_err(classify)?,
                ciphertext: row.try_get("ciphertext").map_err(classify)?,
            };
            let resealed = reseal(&id, sealed.clone())?;
            if resealed == sealed {
                continue;
            }
            sqlx::query(
                "UPDATE a2a_push_subscriptions SET key_id = $2, nonce = $3, ciphertext = $4 WHERE id = $1",
            )
            .bind(&id)
            .bind(&resealed.key_id)
            .bind(&resealed.nonce)
            .bind(&resealed.ciphertext)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn subscription(id: &str, task: Option<&str>) -> PushSubscription {
        PushSubscription {
            id: id.into(),
            secret_hash: format!("hash-{id}"),
            agent: "echo".into(),
            task_id: task.map(str::to_owned),
            config_id: None,
            principal: "user:alice".into(),
            caller: "user:alice".into(),
            metadata: BTreeMap::from([("team".to_owned(), "blue".to_owned())]),
            client_version: "1.0".into(),
            url: "https://hooks.example.com/a2a".into(),
            auth_scheme: Some("Bearer".into()),
            sealed: Some(Sealed {
                key_id: "m1".into(),
                nonce: "n".into(),
                ciphertext: "c".into(),
            }),
            trace_id: "tr".into(),
            span_id: "sp".into(),
            created_at: 10,
            updated_at: 10,
        }
    }

    #[tokio::test]
    async fn subscriptions_are_kept_completed_and_deleted_on_every_backend() {
        for db in testing::all().await {
            let store = &db.store;
            let mut sub = subscription("s1", None);
            store.insert_push_subscription(&sub).await.unwrap();
            let mut bare = subscription("s2", Some("t2"));
            bare.sealed = None;
            bare.auth_scheme = None;
            store.insert_push_subscription(&bare).await.unwrap();
            assert_eq!(
                store.push_subscription("s1").await.unwrap().as_ref(),
                Some(&sub),
                "{}",
                db.name
            );
            assert_eq!(store.push_subscription("s2").await.unwrap(), Some(bare));
            assert_eq!(store.push_subscription("nope").await.unwrap(), None);

            // The task becomes known once; a later one does not replace it.
            assert!(
                store
                    .complete_push_subscription("s1", Some("t1"), None)
                    .await
                    .unwrap()
            );
            assert!(
                !store
                    .complete_push_subscription("s1", Some("t9"), None)
                    .await
                    .unwrap()
            );
            assert!(
                store
                    .complete_push_subscription("s1", None, Some("cfg"))
                    .await
                    .unwrap()
            );
            sub.task_id = Some("t1".into());
            sub.config_id = Some("cfg".into());
            assert_eq!(store.push_subscription("s1").await.unwrap(), Some(sub));
            let of_task = store
                .push_subscriptions_of_task("echo", "user:alice", "t1")
                .await
                .unwrap();
            assert_eq!(of_task.len(), 1);
            assert!(
                store
                    .push_subscriptions_of_task("echo", "user:mallory", "t1")
                    .await
                    .unwrap()
                    .is_empty()
            );

            let resealed = store
                .reseal_push_credentials(|_, sealed| {
                    Ok(Sealed {
                        key_id: "m2".into(),
                        ..sealed
                    })
                })
                .await
                .unwrap();
            assert_eq!(resealed, 1);
            let sealed = store.push_subscription("s1").await.unwrap().unwrap().sealed;
            assert_eq!(sealed.unwrap().key_id, "m2");

            // Deleting a subscription deletes its deliveries.
            store
                .queue_push_delivery("s1", "d1", "{}", 20)
                .await
                .unwrap()
                .unwrap();
            assert!(store.delete_push_subscription("s1").await.unwrap());
            assert!(!store.delete_push_subscription("s1").await.unwrap());
            assert_eq!(store.push_delivery("d1").await.unwrap(), None);
            assert_eq!(
                store
                    .queue_push_delivery("s1", "d2", "{}", 20)
                    .await
                    .unwrap(),
                None,
                "nothing is queued for a subscription that is gone"
            );
            db.cleanup().await;
        }
    }

    #[tokio::test]
    async fn deliveries_go_out_in_order_each_attempt_claimed_once_on_every_backend() {
        for db in testing::all().await {
            let store = &db.store;
            store
                .insert_push_subscription(&subscription("a", Some("ta")))
                .await
                .unwrap();
            store
                .insert_push_subscription(&subscription("b", Some("tb")))
                .await
                .unwrap();
            for (sub, id, at) in [("a", "a1", 100), ("a", "a2", 101), ("b", "b1", 102)] {
                let seq = store.queue_push_delivery(sub, id, id, at).await.unwrap();
                assert!(seq.is_some());
            }
            assert_eq!(
                store
                    .push_subscription("a")
                    .await
                    .unwrap()
                    .unwrap()
                    .updated_at,
                101
            );
            let ids = |due: Vec<PushDelivery>| due.into_iter().map(|d| d.id).collect::<Vec<_>>();
            // Of each subscription, only its first pending delivery is due.
            assert_eq!(
                ids(store.due_push_deliveries(200, 10).await.unwrap()),
                ["a1", "b1"],
                "{}",
                db.name
            );
            assert_eq!(store.next_push_due().await.unwrap(), Some(100));
            assert!(store.due_push_deliveries(99, 10).await.unwrap().is_empty());

            // One replica claims an attempt; the other finds it taken.
            assert!(store.claim_push_delivery("a1", 0, 200, 5000).await.unwrap());
            assert!(!store.claim_push_delivery("a1", 0, 200, 5000).await.unwrap());
            // Claimed: not due until the claim runs out, and a2 still waits behind it.
            assert_eq!(
                ids(store.due_push_deliveries(300, 10).await.unwrap()),
                ["b1"]
            );
            // The attempt failed: retried at 400 by whoever claims the second attempt.
            assert!(
                store
                    .retry_push_delivery("a1", 1, 400, "HTTP 500")
                    .await
                    .unwrap()
            );
            assert!(
                !store
                    .retry_push_delivery("a1", 0, 400, "stale claim")
                    .await
                    .unwrap()
            );
            let a1 = store.push_delivery("a1").await.unwrap().unwrap();
            assert_eq!(
                (a1.attempts, a1.next_attempt_at, a1.last_error.as_deref()),
                (1, 400, Some("HTTP 500"))
            );
            assert!(store.claim_push_delivery("a1", 1, 400, 5000).await.unwrap());
            store
                .finish_push_delivery("a1", true, None, 450)
                .await
                .unwrap();
            let a1 = store.push_delivery("a1").await.unwrap().unwrap();
            assert_eq!(
                (a1.state.as_str(), a1.finished_at, a1.attempts),
                (PUSH_DELIVERED, Some(450), 2)
            );
            assert!(
                !store
                    .claim_push_delivery("a1", 2, 10_000, 20_000)
                    .await
                    .unwrap(),
                "a delivered notification is never claimed again"
            );
            // Now a2 is due.
            assert_eq!(
                ids(store.due_push_deliveries(500, 10).await.unwrap()),
                ["a2", "b1"]
            );
            store
                .finish_push_delivery("b1", false, Some("HTTP 404"), 500)
                .await
                .unwrap();
            let b1 = store.push_delivery("b1").await.unwrap().unwrap();
            assert_eq!(b1.state, PUSH_FAILED);
            assert_eq!(
                store
                    .push_deliveries_of("a")
                    .await
                    .unwrap()
                    .iter()
                    .map(|d| d.seq)
                    .collect::<Vec<_>>(),
                [1, 2]
            );

            // Ended deliveries go after a while; idle subscriptions with nothing pending too.
            assert_eq!(store.purge_push(1000, 0).await.unwrap(), (2, 0));
            assert_eq!(store.purge_push(1000, 1000).await.unwrap(), (0, 1));
            assert!(store.push_subscription("a").await.unwrap().is_some());
            assert!(store.push_subscription("b").await.unwrap().is_none());
            db.cleanup().await;
        }
    }
}
