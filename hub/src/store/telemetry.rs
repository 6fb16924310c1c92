//! Request records, their bodies and the audit trail.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Store, classify};
use crate::error::{Error, Result};
use crate::model::{Millis, first_id_at};
use crate::telemetry::audit::{AuditEntry, ChainedEntry, chain};
use crate::telemetry::event::{RequestEvent, Status};

/// Which requests a query selects. Every field narrows; `None` leaves it open.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFilter {
    /// From this time on (inclusive).
    pub since: Option<Millis>,
    /// Before this time.
    pub until: Option<Millis>,
    /// `kind:name`.
    pub principal: Option<String>,
    pub team: Option<String>,
    pub key_id: Option<String>,
    pub plane: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub tool: Option<String>,
    pub agent: Option<String>,
    pub status: Option<Status>,
    pub trace_id: Option<String>,
    /// A metadata key and value the client sent.
    pub metadata: Option<(String, String)>,
}

impl RequestFilter {
    /// Whether `event` is selected: the exact check behind the SQL's (SQLite's `LIKE` ignores
    /// ASCII case).
    pub fn matches(&self, event: &RequestEvent) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|want| have == Some(want))
        };
        self.since.is_none_or(|since| event.at >= since)
            && self.until.is_none_or(|until| event.at < until)
            && eq(&self.principal, Some(&event.caller.principal))
            && eq(&self.team, event.caller.team.as_deref())
            && eq(&self.key_id, event.caller.key_id.as_deref())
            && eq(&self.plane, Some(plane_name(event)))
            && eq(&self.model, event.model.as_deref())
            && eq(&self.provider, event.provider.as_deref())
            && eq(&self.tool, event.tool.as_deref())
            && eq(&self.agent, event.agent.as_deref())
            && self.status.is_none_or(|status| event.status == status)
            && eq(&self.trace_id, event.trace_id.as_deref())
            && self
                .metadata
                .as_ref()
                .is_none_or(|(key, value)| event.metadata.get(key) == Some(value))
    }
}

fn plane_name(event: &RequestEvent) -> &'static str {
    match event.plane {
        agenthub_policy::when::Plane::Llm => "llm",
        agenthub_policy::when::Plane::Mcp => "mcp",
        agenthub_policy::when::Plane::A2a => "a2a",
    }
}

/// A `WHERE` clause being built: conditions and their values, bound in order.
struct Where {
    backend: Backend,
    sql: String,
    values: Vec<String>,
}

impl Where {
    fn new(backend: Backend) -> Self {
        Self {
            backend,
            sql: String::from("WHERE 1 = 1"),
            values: Vec::new(),
        }
    }

    fn placeholder(&mut self, value: String) -> String {
        self.values.push(value);
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${}", self.values.len()),
        }
    }

    fn push(&mut self, column: &str, op: &str, value: String) {
        let placeholder = self.placeholder(value);
        self.sql
            .push_str(&format!(" AND {column} {op} {placeholder}"));
    }

    fn equal(&mut self, column: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.push(column, "=", value.clone());
        }
    }

    fn of(backend: Backend, filter: &RequestFilter) -> Self {
        let mut clause = Self::new(backend);
        // Ids are UUIDv7: a time range is an id range, on the primary key.
        if let Some(since) = filter.since {
            clause.push("id", ">=", first_id_at(since));
        }
        if let Some(until) = filter.until {
            clause.push("id", "<", first_id_at(until));
        }
        clause.equal("principal", &filter.principal);
        clause.equal("team", &filter.team);
        clause.equal("key_id", &filter.key_id);
        clause.equal("plane", &filter.plane);
        clause.equal("model", &filter.model);
        clause.equal("provider", &filter.provider);
        clause.equal("tool", &filter.tool);
        clause.equal("agent", &filter.agent);
        clause.equal(
            "status",
            &filter.status.map(|status| status.as_str().to_owned()),
        );
        clause.equal("trace_id", &filter.trace_id);
        if let Some((key, value)) = &filter.metadata {
            // The column is the metadata map as compact JSON: the pair appears as
            // `"key":"value"` exactly (quotes inside strings are escaped).
            let pair =
                serde_json::to_string(&serde_json::json!({ key: value })).unwrap_or_default();
            let pair = &pair[1..pair.len() - 1];
            let pattern = format!("%{}%", escape_like(pair));
            let placeholder = clause.placeholder(pattern);
            clause
                .sql
                .push_str(&format!(" AND metadata LIKE {placeholder} ESCAPE '\\'"));
        }
        clause
    }
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn event_from(row: &AnyRow) -> Result<RequestEvent> {
    let details: String = row.try_get("details").map_err(classify)?;
    serde_json::from_str(&details)
        .map_err(|e| Error::internal(format!("a stored request record is unreadable: {e}")))
}

/// What analytics need of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    pub id: String,
    pub at: Millis,
    pub plane: String,
    pub principal: String,
    pub team: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub tool: Option<String>,
    pub agent: Option<String>,
    pub status: String,
    pub latency_us: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
    /// The metadata map as stored (compact JSON).
    pub metadata: String,
}

fn measures_from(row: &AnyRow) -> Result<Measures> {
    Ok(Measures {
        id: row.try_get("id").map_err(classify)?,
        at: row.try_get("at").map_err(classify)?,
        plane: row.try_get("plane").map_err(classify)?,
        principal: row.try_get("principal").map_err(classify)?,
        team: row.try_get("team").map_err(classify)?,
        key_id: row.try_get("key_id").map_err(classify)?,
        model: row.try_get("model").map_err(classify)?,
        provider: row.try_get("provider").map_err(classify)?,
        tool: row.try_get("tool").map_err(classify)?,
        agent: row.try_get("agent").map_err(classify)?,
        status: row.try_get("status").map_err(classify)?,
        latency_us: row.try_get("latency_us").map_err(classify)?,
        input_tokens: row.try_get("input_tokens").map_err(classify)?,
        output_tokens: row.try_get("output_tokens").map_err(classify)?,
        cached_tokens: row.try_get("cached_tokens").map_err(classify)?,
        cost_micros: row.try_get("cost_micros").map_err(classify)?,
        metadata: row.try_get("metadata").map_err(classify)?,
    })
}

fn chained_from(row: &AnyRow) -> Result<ChainedEntry> {
    let details: String = row.try_get("details").map_err(classify)?;
    Ok(ChainedEntry {
        seq: row.try_get("seq").map_err(classify)?,
        entry: AuditEntry {
            id: row.try_get("id").map_err(classify)?,
            at: row.try_get("at").map_err(classify)?,
            actor: row.try_get("actor").map_err(classify)?,
            action: row.try_get("action").map_err(classify)?,
            target: row.try_get("target").map_err(classify)?,
            outcome: row.try_get("outcome").map_err(classify)?,
            // A row whose details are not JSON any more was tampered with; verification
            // reports it as a hash mismatch.
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        },
        prev_hash: row.try_get("prev_hash").map_err(classify)?,
        hash: row.try_get("hash").map_err(classify)?,
    })
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A request's record without its bodies, as stored in `details`.
fn details_of(event: &RequestEvent) -> String {
    if event.bodies.is_none() {
        return serde_json::to_string(event).unwrap_or_default();
    }
    let mut bare = event.clone();
    bare.bodies = None;
    serde_json::to_string(&bare).unwrap_or_default()
}

impl Store {
    /// Stores request records and their bodies; records already stored (a batch replayed
    /// after a timeout that had in fact committed) are left as they are.
    pub async fn save_requests(&self, events: &[RequestEvent]) -> Result<()> {
        let rows: Vec<(&RequestEvent, String, String)> = events
            .iter()
            .map(|event| {
                let metadata = serde_json::to_string(&event.metadata).unwrap_or_default();
                (event, metadata, details_of(event))
            })
            .collect();
        let bodies: Vec<(&RequestEvent, String)> = events
            .iter()
            .filter_map(|event| {
                let bodies = event.bodies.as_ref()?;
                Some((event, serde_json::to_string(bodies).unwrap_or_default()))
            })
            .collect();
        self.insert_rows(
            "requests (id, at, plane, trace_id, principal, team, key_id, target, model, provider, tool, agent, status, error_class, latency_us, input_tokens, output_tokens, cached_tokens, cost_micros, metadata, details)",
            21,
            "ON CONFLICT (id) DO NOTHING",
            &rows,
            |query, (event, metadata, details)| {
                query
                    .bind(&event.id)
                    .bind(event.at)
                    .bind(plane_name(event))
                    .bind(&event.trace_id)
                    .bind(&event.caller.principal)
                    .bind(&event.caller.team)
                    .bind(&event.caller.key_id)
                    .bind(&event.target)
                    .bind(&event.model)
                    .bind(&event.provider)
                    .bind(&event.tool)
                    .bind(&event.agent)
                    .bind(event.status.as_str())
                    .bind(event.error.as_ref().map(|error| error.class.as_str()))
                    .bind(as_i64(event.latency_us))
                    .bind(as_i64(event.tokens.input))
                    .bind(as_i64(event.tokens.output))
                    .bind(as_i64(event.tokens.cached))
                    .bind(as_i64(event.cost_micros))
                    .bind(metadata.as_str())
                    .bind(details.as_str())
            },
        )
        .await?;
        self.insert_rows(
            "request_bodies (id, at, bodies)",
            3,
            "ON CONFLICT (id) DO NOTHING",
            &bodies,
            |query, (event, bodies)| query.bind(&event.id).bind(event.at).bind(bodies.as_str()),
        )
        .await
    }

    /// Requests selected by `filter`, newest first, after the `before` id (a cursor).
    pub async fn list_requests(
        &self,
        filter: &RequestFilter,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RequestEvent>> {
        let mut clause = Where::of(self.backend, filter);
        if let Some(before) = before {
            clause.push("id", "<", before.to_owned());
        }
        let sql = format!(
            "SELECT details FROM requests {} ORDER BY id DESC LIMIT {}",
            clause.sql,
            limit.min(10_000)
        );
        let rows = clause
            .values
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, value| {
                query.bind(value.as_str())
            })
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            events.push(event_from(row)?);
        }
        Ok(events)
    }

    /// The measures of requests selected by `filter`, oldest first, after the `after` id: what
    /// analytics aggregate.
    pub async fn scan_measures(
        &self,
        filter: &RequestFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Measures>> {
        let mut clause = Where::of(self.backend, filter);
        if let Some(after) = after {
            clause.push("id", ">", after.to_owned());
        }
        let sql = format!(
            "SELECT id, at, plane, principal, team, key_id, model, provider, tool, agent, status, latency_us, input_tokens, output_tokens, cached_tokens, cost_micros, metadata
             FROM requests {} ORDER BY id LIMIT {}",
            clause.sql,
            limit.min(100_000)
        );
        let rows = clause
            .values
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, value| {
                query.bind(value.as_str())
            })
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter().map(measures_from).collect()
    }

    /// Requests selected by `filter`, oldest first, after the `after` id: what `logs --follow`
    /// reads.
    pub async fn scan_requests(
        &self,
        filter: &RequestFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RequestEvent>> {
        let mut clause = Where::of(self.backend, filter);
        if let Some(after) = after {
            clause.push("id", ">", after.to_owned());
        }
        let sql = format!(
            "SELECT details FROM requests {} ORDER BY id LIMIT {}",
            clause.sql,
            limit.min(100_000)
        );
        let rows = clause
            .values
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, value| {
                query.bind(value.as_str())
            })
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            events.push(event_from(row)?);
        }
        Ok(events)
    }

    /// One request with its bodies, if they were logged and are still kept.
    pub async fn get_request(&self, id: &str) -> Result<Option<RequestEvent>> {
        let Some(row) = sqlx::query("SELECT details FROM requests WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
        else {
            return Ok(None);
        };
        let mut event = event_from(&row)?;
        let bodies: Option<String> = sqlx::query("SELECT bodies FROM request_bodies WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(|row| row.try_get("bodies"))
            .transpose()
            .map_err(classify)?;
        event.bodies = bodies.and_then(|text| serde_json::from_str(&text).ok());
        Ok(Some(event))
    }

    /// Appends `entries` to the audit chain in one transaction. The head row is locked first
    /// (a no-op update), so concurrent writers — other replicas too — take turns. Entries
    /// already in the chain (a replayed batch) are skipped.
    pub async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let head = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        let seq: i64 = head.try_get("seq").map_err(classify)?;
        let hash: String = head.try_get("hash").map_err(classify)?;
        // Ids are UUIDv7 and entries arrive about in time order: the ids at or after the
        // batch's first are the few recent ones.
        let first = entries
            .iter()
            .map(|entry| entry.id.as_str())
            .min()
            .unwrap_or("");
        let known: std::collections::HashSet<String> =
            sqlx::query("SELECT id FROM audit_log WHERE id >= $1")
                .bind(first)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?
                .iter()
                .map(|row| row.try_get("id"))
                .collect::<Result<_, _>>()
                .map_err(classify)?;
        let fresh: Vec<AuditEntry> = entries
            .iter()
            .filter(|entry| !known.contains(&entry.id))
            .cloned()
            .collect();
        let chained = chain(seq, hash, &fresh);
        for stored in &chained {
            sqlx::query(
                "INSERT INTO audit_log (seq, id, at, actor, action, target, outcome, details, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(stored.seq)
            .bind(&stored.entry.id)
            .bind(stored.entry.at)
            .bind(&stored.entry.actor)
            .bind(&stored.entry.action)
            .bind(&stored.entry.target)
            .bind(&stored.entry.outcome)
            .bind(stored.entry.details.to_string())
            .bind(&stored.prev_hash)
            .bind(&stored.hash)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        }
        if let Some(last) = chained.last() {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(last.seq)
                .bind(&last.hash)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    /// Audit entries after `after_seq`, in order.
    pub async fn audit_entries(&self, after_seq: i64, limit: usize) -> Result<Vec<ChainedEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT seq, id, at, actor, action, target, outcome, details, prev_hash, hash
             FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT {}",
            limit.min(10_000)
        )))
        .bind(after_seq)
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter().map(chained_from).collect()
    }

    /// The chain's head: the last entry's seq and hash.
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok((
            row.try_get("seq").map_err(classify)?,
            row.try_get("hash").map_err(classify)?,
        ))
    }

    /// Deletes what retention no longer keeps: rows older than each cut-off. Returns how many
    /// rows went.
    pub async fn purge_telemetry(&self, cutoffs: &Cutoffs) -> Result<u64> {
        let mut total = 0;
        for (sql, before) in [
            (
                "DELETE FROM request_bodies WHERE id < $1",
                first_id_at(cutoffs.bodies),
            ),
            (
                "DELETE FROM requests WHERE id < $1",
                first_id_at(cutoffs.events),
            ),
        ] {
            total += sqlx::query(sql)
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(classify)?
                .rows_affected();
        }
        for (sql, before) in [
            ("DELETE FROM a2a_trace_events WHERE at < $1", cutoffs.traces),
            ("DELETE FROM audit_log WHERE at < $1", cutoffs.audit),
        ] {
            total += sqlx::query(sql)
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(classify)?
                .rows_affected();
        }
        Ok(total)
    }
}

/// The oldest time each kind of data is kept from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub events: Millis,
    pub bodies: Millis,
    pub traces: Millis,
    pub audit: Millis,
}

#[cfg(test)]
mod tests {
    use agenthub_policy::when::Plane;

    use super::super::testing;
    use super::*;
    use crate::telemetry::audit::{GENESIS, Verifier};
    use crate::telemetry::event::{Bodies, Caller};

    const T0: Millis = 1_800_000_000_000;

    fn event(at: Millis, team: &str, model: &str, project: &str) -> RequestEvent {
        let caller = Caller {
            principal: "user:alice".into(),
            team: Some(team.into()),
            key_id: Some("k1".into()),
            chain: Vec::new(),
        };
        let mut event = RequestEvent::new(Plane::Llm, at, caller, model);
        event.model = Some(model.into());
        event.tokens.input = 10;
        event.cost_micros = 7;
        event.metadata.insert("project".into(), project.into());
        event
    }

    #[tokio::test]
    async fn requests_are_stored_once_and_filtered() {
        for t in testing::all().await {
            let store = &t.store;
            let mut events = vec![
                event(T0, "ml", "gpt", "apollo"),
                event(T0 + 1000, "web", "gpt", "gemini"),
                event(T0 + 2000, "ml", "claude", "Apollo"),
                event(T0 + 3000, "ml", "gpt", "50%_off"),
            ];
            events[1].bodies = Some(Bodies {
                request: Some(serde_json::json!({"messages": []})),
                response: None,
            });
            store.save_requests(&events).await.unwrap();
            // A replayed batch stores nothing twice.
            store.save_requests(&events).await.unwrap();
            let all = store
                .list_requests(&RequestFilter::default(), None, 100)
                .await
                .unwrap();
            assert_eq!(all.len(), 4, "{}", t.name);
            assert_eq!(all[0], events[3], "newest first, without bodies");

            let cases: Vec<(RequestFilter, Vec<usize>)> = vec![
                (
                    RequestFilter {
                        team: Some("ml".into()),
                        ..Default::default()
                    },
                    vec![3, 2, 0],
                ),
                (
                    RequestFilter {
                        since: Some(T0 + 1000),
                        until: Some(T0 + 3000),
                        ..Default::default()
                    },
                    vec![2, 1],
                ),
                (
                    RequestFilter {
                        model: Some("claude".into()),
                        ..Default::default()
                    },
                    vec![2],
                ),
                (
                    RequestFilter {
                        metadata: Some(("project".into(), "50%_off".into())),
                        ..Default::default()
                    },
                    vec![3],
                ),
            ];
            for (filter, expected) in cases {
                let found: Vec<RequestEvent> = store
                    .list_requests(&filter, None, 100)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|e| filter.matches(e))
                    .collect();
                let want: Vec<&RequestEvent> = expected.iter().map(|i| &events[*i]).collect();
                let found: Vec<&RequestEvent> = found.iter().collect();
                let strip = |e: &&RequestEvent| e.id.clone();
                assert_eq!(
                    found.iter().map(strip).collect::<Vec<_>>(),
                    want.iter().map(strip).collect::<Vec<_>>(),
                    "{}: {filter:?}",
                    t.name
                );
            }
            // Exact metadata: SQLite's LIKE ignores case, the check after it does not.
            let apollo = RequestFilter {
                metadata: Some(("project".into(), "apollo".into())),
                ..Default::default()
            };
            let exact: Vec<_> = store
                .list_requests(&apollo, None, 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| apollo.matches(e))
                .collect();
            assert_eq!(exact.len(), 1);

            // A cursor continues after the last id.
            let page = store
                .list_requests(&RequestFilter::default(), Some(&events[2].id), 100)
                .await
                .unwrap();
            assert_eq!(page.len(), 2);
            assert_eq!(
                store.get_request(&events[1].id).await.unwrap().unwrap(),
                events[1],
                "bodies come back with one request"
            );
            let measures = store
                .scan_measures(&RequestFilter::default(), None, 100)
                .await
                .unwrap();
            assert_eq!(measures.len(), 4);
            assert_eq!(measures[0].cost_micros, 7);

            let purged = store
                .purge_telemetry(&Cutoffs {
                    events: T0 + 1500,
                    bodies: T0 + 1500,
                    traces: 0,
                    audit: 0,
                })
                .await
                .unwrap();
            assert_eq!(purged, 3, "two requests and one body");
            t.cleanup().await;
        }
    }

    #[tokio::test]
    async fn the_audit_chain_grows_verifies_and_shows_tampering() {
        for t in testing::all().await {
            let store = &t.store;
            assert_eq!(store.audit_head().await.unwrap(), (0, GENESIS.to_owned()));
            let entries: Vec<AuditEntry> = (0..5)
                .map(|i| AuditEntry::new("user:admin", "POST /api/v1/keys", format!("k{i}"), "ok"))
                .collect();
            store.append_audit(&entries[..3]).await.unwrap();
            // A replay of a stored batch, with new entries after it.
            store.append_audit(&entries).await.unwrap();
            let stored = store.audit_entries(0, 100).await.unwrap();
            assert_eq!(stored.len(), 5, "{}", t.name);
            let mut verifier = Verifier::new();
            for entry in &stored {
                verifier.check(entry).unwrap();
            }
            let head = store.audit_head().await.unwrap();
            assert_eq!(head, (5, stored[4].hash.clone()));

            sqlx::query("UPDATE audit_log SET outcome = 'denied' WHERE seq = 3")
                .execute(&store.pool)
                .await
                .unwrap();
            let mut verifier = Verifier::new();
            let broken = store
                .audit_entries(0, 100)
                .await
                .unwrap()
                .iter()
                .find_map(|entry| verifier.check(entry).err())
                .expect("tampering is found");
            assert_eq!(broken.seq, 3, "{}", t.name);
            t.cleanup().await;
        }
    }

    /// Replicas appending at once take turns: one chain, no fork, no gap.
    #[tokio::test]
    async fn concurrent_appends_keep_one_chain() {
        for t in testing::all().await {
            let writers = (0..4).map(|w| {
                let store = t.store.clone();
                tokio::spawn(async move {
                    for i in 0..5 {
                        let entry = AuditEntry::new(format!("w{w}"), "login", format!("{i}"), "ok");
                        loop {
                            match store.append_audit(std::slice::from_ref(&entry)).await {
                                Ok(()) => break,
                                // SQLite's busy writer: the pipeline would retry too.
                                Err(e) if e.kind() == agenthub_policy::ErrorKind::Unavailable => {
                                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                                }
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                })
            });
            for writer in writers.collect::<Vec<_>>() {
                writer.await.unwrap();
            }
            let stored = t.store.audit_entries(0, 100).await.unwrap();
            assert_eq!(stored.len(), 20, "{}", t.name);
            let mut verifier = Verifier::new();
            for entry in &stored {
                verifier
                    .check(entry)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
            }
            t.cleanup().await;
        }
    }
}
