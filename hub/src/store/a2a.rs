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

/// A trace as listings show it: its first root span (the request that started it), how that
/// ended, and how many spans the trace has.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The first root span: the first request whose caller's span is not in the trace.
    pub span_id: String,
    pub agent: String,
    pub method: String,
    pub principal: String,
    pub started_at: Millis,
    /// The root span's outcome; `None` while it has not ended.
    pub outcome: Option<String>,
    pub duration_ms: Option<i64>,
    /// Spans in the whole trace.
    pub spans: i64,
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
        self.insert_rows(
            &self.pool,
            "a2a_tasks (agent, task_id, principal, context_id, trace_id, created_at)",
            6,
            "ON CONFLICT (task_id, agent) DO NOTHING",
            tasks,
            |query, task| {
                query
                    .bind(&task.agent)
                    .bind(&task.task_id)
                    .bind(&task.principal)
                    .bind(&task.context_id)
                    .bind(&task.trace_id)
                    .bind(task.created_at)
            },
        )
        .await
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
        self.insert_rows(
            &self.pool,
            "a2a_trace_events (id, trace_id, span_id, parent_span_id, seq, at, kind, agent, method, principal, chain, context_id, task_id, outcome, duration_ms, body)",
            16,
            "ON CONFLICT (id) DO NOTHING",
            events,
            |query, event| {
                query
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
            },
        )
        .await
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

    /// A trace's first `limit` events in time order.
    pub async fn load_trace_up_to(&self, trace_id: &str, limit: i64) -> Result<Vec<TraceEvent>> {
        let rows = sqlx::query(
            "SELECT id, trace_id, span_id, parent_span_id, seq, at, kind, agent, method, principal, chain, context_id, task_id, outcome, duration_ms, body
             FROM a2a_trace_events WHERE trace_id = $1 ORDER BY at, span_id, seq LIMIT $2",
        )
        .bind(trace_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(trace_event_from).collect()
    }

    /// The newest traces that `filter` selects, at most `limit`, each by its first root span:
    /// the earliest `request` event whose span's parent is not in the trace (ties broken by
    /// span id), so that a trace is listed once whatever its shape.
    ///
    /// `agent` and `principal` select the traces started at that agent, on that principal's
    /// behalf; `before` (`started_at`, `trace_id` of the last trace of a page) the next page.
    pub async fn list_traces(
        &self,
        agent: Option<&str>,
        principal: Option<&str>,
        before: Option<(Millis, &str)>,
        limit: i64,
    ) -> Result<Vec<TraceSummary>> {
        // A span is a root when no event of its trace has its parent's span id.
        const IS_ROOT: &str = "NOT EXISTS (SELECT 1 FROM a2a_trace_events p
                 WHERE p.trace_id = {e}.trace_id AND p.span_id = {e}.parent_span_id)";
        let is_root = |alias: &str| IS_ROOT.replace("{e}", alias);
        let mut sql = format!(
            "SELECT r.trace_id, r.span_id, r.agent, r.method, r.principal, r.at,
                (SELECT o.outcome FROM a2a_trace_events o
                 WHERE o.trace_id = r.trace_id AND o.span_id = r.span_id AND o.outcome IS NOT NULL
                 ORDER BY o.seq DESC LIMIT 1) AS outcome,
                (SELECT o.duration_ms FROM a2a_trace_events o
                 WHERE o.trace_id = r.trace_id AND o.span_id = r.span_id AND o.outcome IS NOT NULL
                 ORDER BY o.seq DESC LIMIT 1) AS duration_ms,
                (SELECT COUNT(DISTINCT s.span_id) FROM a2a_trace_events s
                 WHERE s.trace_id = r.trace_id) AS spans
             FROM a2a_trace_events r
             WHERE r.kind = 'request' AND {root_r}
               AND NOT EXISTS (SELECT 1 FROM a2a_trace_events q
                 WHERE q.trace_id = r.trace_id AND q.kind = 'request'
                   AND (q.at < r.at OR (q.at = r.at AND q.span_id < r.span_id)) AND {root_q})",
            root_r = is_root("r"),
            root_q = is_root("q"),
        );
        let mut next = 0;
        let mut param = || {
            next += 1;
            format!("${next}")
        };
        if agent.is_some() {
            sql.push_str(&format!(" AND r.agent = {}", param()));
        }
        if principal.is_some() {
            sql.push_str(&format!(" AND r.principal = {}", param()));
        }
        if before.is_some() {
            let (at, same_at, trace) = (param(), param(), param());
            sql.push_str(&format!(
                " AND (r.at < {at} OR (r.at = {same_at} AND r.trace_id < {trace}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY r.at DESC, r.trace_id DESC LIMIT {}",
            param()
        ));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(agent) = agent {
            query = query.bind(agent);
        }
        if let Some(principal) = principal {
            query = query.bind(principal);
        }
        if let Some((at, trace)) = before {
            query = query.bind(at).bind(at).bind(trace);
        }
        let rows = query
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|row| {
                Ok(TraceSummary {
                    trace_id: row.try_get("trace_id").map_err(classify)?,
                    span_id: row.try_get("span_id").map_err(classify)?,
                    agent: row.try_get("agent").map_err(classify)?,
                    method: row.try_get("method").map_err(classify)?,
                    principal: row.try_get("principal").map_err(classify)?,
                    started_at: row.try_get("at").map_err(classify)?,
                    outcome: row.try_get("outcome").map_err(classify)?,
                    duration_ms: row.try_get("duration_ms").map_err(classify)?,
                    spans: row.try_get("spans").map_err(classify)?,
                })
            })
            .collect()
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

    #[tokio::test]
    async fn batches_larger_than_one_insert_are_stored_whole_on_every_backend() {
        for db in testing::all().await {
            let store = &db.store;
            let rows = 2 * crate::store::rows_per_insert(store.backend(), 6) + 3;
            let mut tasks: Vec<StoredTask> = (0..rows)
                .map(|i| StoredTask {
                    agent: "echo".into(),
                    task_id: format!("t{i}"),
                    principal: format!("user:u{i}"),
                    context_id: (i % 2 == 0).then(|| format!("c{i}")),
                    trace_id: format!("tr{i}"),
                    created_at: i64::try_from(i).unwrap(),
                })
                .collect();
            // A task met twice in one batch keeps its first owner.
            let mut again = tasks[5].clone();
            again.principal = "user:mallory".into();
            tasks.push(again);
            store.save_tasks(&tasks).await.unwrap();
            for task in &tasks[..rows] {
                assert_eq!(
                    store.find_tasks(&task.task_id).await.unwrap(),
                    std::slice::from_ref(task)
                );
            }

            let events: Vec<TraceEvent> = (0..rows)
                .map(|i| {
                    let seq = i64::try_from(i).unwrap();
                    let mut event =
                        span_event("big", "s", None, seq, seq, "event", "echo", "user:a", None);
                    event.body = Some(json!({"n": seq}));
                    event
                })
                .collect();
            store.save_trace_events(&events).await.unwrap();
            assert_eq!(store.load_trace("big").await.unwrap(), events);
            db.cleanup().await;
        }
    }

    /// An event of span `span` in trace `trace`.
    #[allow(clippy::too_many_arguments)]
    fn span_event(
        trace: &str,
        span: &str,
        parent: Option<&str>,
        seq: i64,
        at: Millis,
        kind: &str,
        agent: &str,
        principal: &str,
        outcome: Option<&str>,
    ) -> TraceEvent {
        TraceEvent {
            id: format!("{trace}-{span}-{seq}"),
            trace_id: trace.into(),
            span_id: span.into(),
            parent_span_id: parent.map(str::to_owned),
            seq,
            at,
            kind: kind.into(),
            agent: agent.into(),
            method: "SendMessage".into(),
            principal: principal.into(),
            chain: vec![principal.into()],
            context_id: None,
            task_id: None,
            outcome: outcome.map(str::to_owned),
            duration_ms: outcome.map(|_| 10 * (seq + 1)),
            body: None,
        }
    }

    #[tokio::test]
    async fn traces_are_listed_by_their_first_root_newest_first_on_every_backend() {
        for db in testing::all().await {
            let store = &db.store;
            let e = span_event;
            let events = [
                // A: planner for alice delegating to booker, and a later root for bob.
                e(
                    "A",
                    "a1",
                    None,
                    0,
                    100,
                    "request",
                    "planner",
                    "user:alice",
                    None,
                ),
                e(
                    "A",
                    "a2",
                    Some("a1"),
                    0,
                    105,
                    "request",
                    "booker",
                    "user:alice",
                    None,
                ),
                e(
                    "A",
                    "a2",
                    Some("a1"),
                    1,
                    110,
                    "response",
                    "booker",
                    "user:alice",
                    Some("ok"),
                ),
                e(
                    "A",
                    "a1",
                    None,
                    1,
                    130,
                    "response",
                    "planner",
                    "user:alice",
                    Some("ok"),
                ),
                e(
                    "A",
                    "a3",
                    Some("ffff"),
                    0,
                    120,
                    "request",
                    "echo",
                    "user:bob",
                    None,
                ),
                // B: bob's, failed.
                e("B", "b1", None, 0, 200, "request", "echo", "user:bob", None),
                e(
                    "B",
                    "b1",
                    None,
                    1,
                    210,
                    "end",
                    "echo",
                    "user:bob",
                    Some("error: gone"),
                ),
                // C: alice's, still open.
                e(
                    "C",
                    "c1",
                    None,
                    0,
                    300,
                    "request",
                    "planner",
                    "user:alice",
                    None,
                ),
                // D: two roots at the same time (their callers' spans are elsewhere): the
                // smaller span id is the first.
                e(
                    "D",
                    "d1",
                    Some("x1"),
                    0,
                    50,
                    "request",
                    "planner",
                    "user:carol",
                    None,
                ),
                e(
                    "D",
                    "d0",
                    Some("x0"),
                    0,
                    50,
                    "request",
                    "echo",
                    "user:carol",
                    None,
                ),
            ];
            store.save_trace_events(&events).await.unwrap();
            let list = |agent: Option<&'static str>,
                        principal: Option<&'static str>,
                        before: Option<(Millis, &'static str)>,
                        limit| async move {
                store
                    .list_traces(agent, principal, before, limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|t| format!("{}:{}", t.trace_id, t.span_id))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                list(None, None, None, 10).await,
                ["C:c1", "B:b1", "A:a1", "D:d0"],
                "{}",
                db.name
            );
            let traces = store.list_traces(None, None, None, 10).await.unwrap();
            let a = &traces[2];
            assert_eq!(
                (a.agent.as_str(), a.principal.as_str(), a.started_at),
                ("planner", "user:alice", 100)
            );
            assert_eq!(
                (a.outcome.as_deref(), a.duration_ms, a.spans),
                (Some("ok"), Some(20), 3)
            );
            assert_eq!(traces[1].outcome.as_deref(), Some("error: gone"));
            assert_eq!((traces[0].outcome.as_deref(), traces[0].spans), (None, 1));

            assert_eq!(
                list(Some("planner"), None, None, 10).await,
                ["C:c1", "A:a1"]
            );
            // A trace is its first root's: bob's later root in A does not make it his.
            assert_eq!(list(None, Some("user:bob"), None, 10).await, ["B:b1"]);
            assert_eq!(
                list(Some("echo"), Some("user:carol"), None, 10).await,
                ["D:d0"]
            );
            // Pages: the first two, then those before the second.
            assert_eq!(list(None, None, None, 2).await, ["C:c1", "B:b1"]);
            assert_eq!(
                list(None, None, Some((200, "B")), 2).await,
                ["A:a1", "D:d0"]
            );

            let first = store.load_trace_up_to("A", 2).await.unwrap();
            assert_eq!(
                first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                ["A-a1-0", "A-a2-0"]
            );
            db.cleanup().await;
        }
    }
}
