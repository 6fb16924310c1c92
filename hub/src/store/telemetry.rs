//! Request records, their bodies and the audit trail.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::request_log::{Page, RequestLog};
use super::{Backend, Store, classify};
use crate::error::{Error, Result};
use crate::model::{Millis, first_id_at};
use crate::telemetry::Record;
use crate::telemetry::audit::{AuditEntry, ChainedEntry, chain};
use crate::telemetry::packed::PackedRequest;
use std::borrow::Cow;
use std::sync::Arc;

use agenthub_policy::ErrorKind;
use agenthub_policy::when::Plane;
use serde::{Deserialize, Serialize};

use crate::telemetry::event::{
    Caller, Failure, GuardrailVerdict, LoggedBodies, RequestEvent, Status, Tokens,
};

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
            && eq(&self.plane, Some(event.plane.as_str()))
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

/// A record's fields that are not columns, as stored in `extra`.
#[derive(Serialize)]
struct ExtraOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    span_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<&'a str>,
    operation: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttft_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tpot_us: Option<u64>,
    request_bytes: u64,
    response_bytes: u64,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    guardrails: &'a [GuardrailVerdict],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    chain: &'a [String],
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ExtraIn {
    request_id: Option<String>,
    span_id: Option<String>,
    parent_span_id: Option<String>,
    operation: String,
    fallback_path: Option<String>,
    error: Option<String>,
    ttft_us: Option<u64>,
    tpot_us: Option<u64>,
    request_bytes: u64,
    response_bytes: u64,
    guardrails: Vec<GuardrailVerdict>,
    chain: Vec<String>,
}

fn extra_of(event: &RequestEvent) -> String {
    serde_json::to_string(&ExtraOut {
        request_id: event.request_id.as_deref(),
        span_id: event.span_id.as_deref(),
        parent_span_id: event.parent_span_id.as_deref(),
        operation: &event.operation,
        fallback_path: event.fallback_path.as_deref(),
        error: event.error.as_ref().map(|e| e.message.as_str()),
        ttft_us: event.ttft_us,
        tpot_us: event.tpot_us,
        request_bytes: event.request_bytes,
        response_bytes: event.response_bytes,
        guardrails: &event.guardrails,
        chain: &event.caller.chain,
    })
    .unwrap_or_else(|_| "{}".to_owned())
}

/// The columns analytics read.
const MEASURE_COLUMNS: &str = "id, at, plane, principal, team, key_id, model, provider, tool, agent, status, latency_us, input_tokens, output_tokens, cached_tokens, cost_micros, metadata";

/// The columns every read of whole records selects.
const RECORD_COLUMNS: &str = "id, at, plane, trace_id, principal, team, key_id, target, model, provider, tool, agent, status, error_class, latency_us, input_tokens, output_tokens, cached_tokens, cost_micros, metadata, extra";

fn event_from(row: &AnyRow) -> Result<RequestEvent> {
    let get_text = |name: &str| -> Result<String> { row.try_get(name).map_err(classify) };
    let get_optional =
        |name: &str| -> Result<Option<String>> { row.try_get(name).map_err(classify) };
    let get_count = |name: &str| -> Result<u64> {
        row.try_get::<i64, _>(name)
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(classify)
    };
    let unreadable = |e: serde_json::Error| {
        Error::internal(format!("a stored request record is unreadable: {e}"))
    };
    let extra: ExtraIn = serde_json::from_str(&get_text("extra")?).map_err(unreadable)?;
    let plane = Plane::parse(&get_text("plane")?).unwrap_or(Plane::Llm);
    let status = Status::parse(&get_text("status")?).unwrap_or(Status::Error);
    let error = get_optional("error_class")?.map(|class| Failure {
        class,
        message: extra.error.clone().unwrap_or_default(),
    });
    Ok(RequestEvent {
        id: get_text("id")?,
        at: row.try_get("at").map_err(classify)?,
        plane,
        request_id: extra.request_id,
        trace_id: get_optional("trace_id")?,
        span_id: extra.span_id,
        parent_span_id: extra.parent_span_id,
        caller: Caller {
            principal: get_text("principal")?,
            team: get_optional("team")?,
            key_id: get_optional("key_id")?,
            chain: extra.chain,
        },
        target: get_text("target")?,
        model: get_optional("model")?,
        provider: get_optional("provider")?,
        tool: get_optional("tool")?,
        agent: get_optional("agent")?,
        operation: extra.operation,
        fallback_path: extra.fallback_path,
        status,
        error,
        latency_us: get_count("latency_us")?,
        ttft_us: extra.ttft_us,
        tpot_us: extra.tpot_us,
        tokens: Tokens {
            input: get_count("input_tokens")?,
            output: get_count("output_tokens")?,
            cached: get_count("cached_tokens")?,
        },
        cost_micros: get_count("cost_micros")?,
        request_bytes: extra.request_bytes,
        response_bytes: extra.response_bytes,
        guardrails: extra.guardrails,
        metadata: serde_json::from_str(&get_text("metadata")?).map_err(unreadable)?,
        bodies: None,
        raw_bodies: None,
    })
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

/// `text` as stored: without NUL characters, which Postgres cannot store in TEXT (they come
/// from callers, in model or tool names). Copied only when it has some.
fn storable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

fn storable_opt(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(storable)
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// One request record as bound to the insert, in the table's column order. Its text borrows
/// from the record it was made of (the caller's names copied only to replace a NUL);
/// `metadata` and `extra` are the record's JSON, made for the row.
#[derive(Debug, Clone, PartialEq)]
struct RequestRow<'a> {
    id: &'a str,
    at: i64,
    plane: &'static str,
    trace_id: Option<&'a str>,
    principal: Cow<'a, str>,
    team: Option<Cow<'a, str>>,
    key_id: Option<Cow<'a, str>>,
    target: Cow<'a, str>,
    model: Option<Cow<'a, str>>,
    provider: Option<Cow<'a, str>>,
    tool: Option<Cow<'a, str>>,
    agent: Option<Cow<'a, str>>,
    status: &'static str,
    error_class: Option<&'a str>,
    latency_us: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
    metadata: String,
    extra: String,
    bodies: Option<&'a str>,
}

/// `event` as its row. The hub makes ids, trace ids and error classes itself (or checks
/// them): only the caller's names can hold a NUL.
fn row_of(event: &RequestEvent) -> RequestRow<'_> {
    RequestRow {
        id: &event.id,
        at: event.at,
        plane: event.plane.as_str(),
        trace_id: event.trace_id.as_deref(),
        principal: storable(&event.caller.principal),
        team: storable_opt(&event.caller.team),
        key_id: storable_opt(&event.caller.key_id),
        target: storable(&event.target),
        model: storable_opt(&event.model),
        provider: storable_opt(&event.provider),
        tool: storable_opt(&event.tool),
        agent: storable_opt(&event.agent),
        status: event.status.as_str(),
        error_class: event.error.as_ref().map(|error| error.class.as_str()),
        latency_us: as_i64(event.latency_us),
        input_tokens: as_i64(event.tokens.input),
        output_tokens: as_i64(event.tokens.output),
        cached_tokens: as_i64(event.tokens.cached),
        cost_micros: as_i64(event.cost_micros),
        metadata: serde_json::to_string(&event.metadata).unwrap_or_default(),
        extra: extra_of(event),
        bodies: event.bodies.as_ref().map(LoggedBodies::json),
    }
}

/// What analytics need of `event`.
fn measures_of(event: &RequestEvent) -> Measures {
    Measures {
        id: event.id.clone(),
        at: event.at,
        plane: event.plane.as_str().to_owned(),
        principal: event.caller.principal.clone(),
        team: event.caller.team.clone(),
        key_id: event.caller.key_id.clone(),
        model: event.model.clone(),
        provider: event.provider.clone(),
        tool: event.tool.clone(),
        agent: event.agent.clone(),
        status: event.status.as_str().to_owned(),
        latency_us: as_i64(event.latency_us),
        input_tokens: as_i64(event.tokens.input),
        output_tokens: as_i64(event.tokens.output),
        cached_tokens: as_i64(event.tokens.cached),
        cost_micros: as_i64(event.cost_micros),
        metadata: serde_json::to_string(&event.metadata).unwrap_or_default(),
    }
}

/// The longest a batch waits for the request log before it is given up: less than the
/// writer's timeout, after which the writer spills the batch and later offers it again.
const LOG_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether a batch of records is offered to the store for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Never offered before: none of it can be stored already.
    First,
    /// Offered again after a failure that may have come after it was stored (a timeout, a
    /// failed audit append, a replayed spill): what is stored already is skipped.
    Repeat,
}

/// The request records among `records`.
fn requests_in(records: &[Record]) -> impl Iterator<Item = &PackedRequest> {
    records.iter().filter_map(|record| match record {
        Record::Request(packed) => Some(packed),
        Record::Audit(_) => None,
    })
}

impl Store {
    /// Stores the request records among `records` with their bodies; on a [`Delivery::Repeat`]
    /// records already stored are left as they are. The batch is shared, not copied, with the
    /// thread that appends it to a SQLite store's request log.
    pub async fn save_requests(&self, records: Arc<[Record]>, delivery: Delivery) -> Result<()> {
        if requests_in(&records).next().is_none() {
            return Ok(());
        }
        if let Some(log) = &self.request_log {
            let deadline = std::time::Instant::now() + LOG_WAIT;
            return log
                .append(move |log| {
                    let packed: Vec<&PackedRequest> = requests_in(&records).collect();
                    log.append_by(packed, delivery == Delivery::Repeat, Some(deadline))
                })
                .await;
        }
        let events = requests_in(&records)
            .map(PackedRequest::event_with_bodies)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(Error::internal)?;
        let rows: Vec<RequestRow> = events.iter().map(row_of).collect();
        self.insert_rows(
            &self.records,
            "requests (id, at, plane, trace_id, principal, team, key_id, target, model, provider, tool, agent, status, error_class, latency_us, input_tokens, output_tokens, cached_tokens, cost_micros, metadata, extra, bodies)",
            22,
            "ON CONFLICT (id) DO NOTHING",
            &rows,
            |query, row| {
                query
                    .bind(row.id)
                    .bind(row.at)
                    .bind(row.plane)
                    .bind(row.trace_id)
                    .bind(&*row.principal)
                    .bind(row.team.as_deref())
                    .bind(row.key_id.as_deref())
                    .bind(&*row.target)
                    .bind(row.model.as_deref())
                    .bind(row.provider.as_deref())
                    .bind(row.tool.as_deref())
                    .bind(row.agent.as_deref())
                    .bind(row.status)
                    .bind(row.error_class)
                    .bind(row.latency_us)
                    .bind(row.input_tokens)
                    .bind(row.output_tokens)
                    .bind(row.cached_tokens)
                    .bind(row.cost_micros)
                    .bind(&row.metadata)
                    .bind(&row.extra)
                    .bind(row.bodies)
            },
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
        let limit = limit.min(10_000);
        if let Some(log) = &self.request_log {
            let (filter, before) = (filter.clone(), before.map(str::to_owned));
            return log
                .blocking(move |log| {
                    log.list(&filter, Page::NewestBefore(before.as_deref()), limit)
                })
                .await;
        }
        let rows = self
            .select_requests(RECORD_COLUMNS, filter, Page::NewestBefore(before), limit)
            .await?;
        rows.iter().map(event_from).collect()
    }

    /// The measures of requests selected by `filter`, oldest first, after the `after` id: what
    /// analytics aggregate.
    pub async fn scan_measures(
        &self,
        filter: &RequestFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Measures>> {
        let limit = limit.min(100_000);
        if let Some(log) = &self.request_log {
            let (filter, after) = (filter.clone(), after.map(str::to_owned));
            return log
                .blocking(move |log| {
                    log.list_as(
                        &filter,
                        Page::OldestAfter(after.as_deref()),
                        limit,
                        |event| measures_of(&event),
                    )
                })
                .await;
        }
        let rows = self
            .select_requests(MEASURE_COLUMNS, filter, Page::OldestAfter(after), limit)
            .await?;
        rows.iter().map(measures_from).collect()
    }

    /// `columns` of the requests `filter` selects, a page of at most `limit` from its cursor.
    async fn select_requests(
        &self,
        columns: &str,
        filter: &RequestFilter,
        page: Page<'_>,
        limit: usize,
    ) -> Result<Vec<AnyRow>> {
        let mut clause = Where::of(self.backend, filter);
        let (cursor, from, order) = match page {
            Page::NewestBefore(cursor) => (cursor, "<", "DESC"),
            Page::OldestAfter(cursor) => (cursor, ">", "ASC"),
        };
        if let Some(cursor) = cursor {
            clause.push("id", from, cursor.to_owned());
        }
        let sql = format!(
            "SELECT {columns} FROM requests {} ORDER BY id {order} LIMIT {limit}",
            clause.sql
        );
        clause
            .values
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, value| {
                query.bind(value.as_str())
            })
            .fetch_all(&self.records)
            .await
            .map_err(classify)
    }

    /// One request with its bodies, if they were logged and are still kept.
    pub async fn get_request(&self, id: &str) -> Result<Option<RequestEvent>> {
        if let Some(log) = &self.request_log {
            let id = id.to_owned();
            return log.blocking(move |log| log.get(&id)).await;
        }
        let sql = format!("SELECT {RECORD_COLUMNS}, bodies FROM requests WHERE id = $1");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.records)
            .await
            .map_err(classify)?
        else {
            return Ok(None);
        };
        let mut event = event_from(&row)?;
        let bodies: Option<String> = row.try_get("bodies").map_err(classify)?;
        event.bodies = bodies.and_then(LoggedBodies::from_json);
        Ok(Some(event))
    }

    /// Appends `entries` to the audit chain in one transaction. The head row is locked first
    /// (a no-op update), so concurrent writers — other replicas too — take turns. Entries
    /// already in the chain (a replayed batch) are skipped.
    pub async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.records.begin().await.map_err(classify)?;
        let head = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        let seq: i64 = head.try_get("seq").map_err(classify)?;
        let hash: String = head.try_get("hash").map_err(classify)?;
        let mut known = std::collections::HashSet::new();
        for ids in entries.chunks(ROWS_PER_LOOKUP) {
            let placeholders = (1..=ids.len())
                .map(|n| match self.backend {
                    Backend::Sqlite => "?".to_owned(),
                    Backend::Postgres => format!("${n}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT id FROM audit_log WHERE id IN ({placeholders})");
            let rows = ids
                .iter()
                .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, entry| {
                    query.bind(entry.id.as_str())
                })
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
            for row in rows {
                known.insert(row.try_get::<String, _>("id").map_err(classify)?);
            }
        }
        let fresh: Vec<AuditEntry> = entries
            .iter()
            .filter(|entry| !known.contains(&entry.id))
            .cloned()
            .collect();
        let chained = chain(seq, hash, &fresh);
        let details: Vec<String> = chained
            .iter()
            .map(|c| c.entry.details.to_string())
            .collect();
        let per_insert = super::rows_per_insert(self.backend, 10);
        for (rows, details) in chained.chunks(per_insert).zip(details.chunks(per_insert)) {
            let sql = format!(
                "INSERT INTO audit_log (seq, id, at, actor, action, target, outcome, details, prev_hash, hash) VALUES {}",
                super::values_rows(self.backend, rows.len(), 10)
            );
            let query = rows.iter().zip(details).fold(
                sqlx::query(sqlx::AssertSqlSafe(sql)),
                |query, (stored, details)| {
                    query
                        .bind(stored.seq)
                        .bind(&stored.entry.id)
                        .bind(stored.entry.at)
                        .bind(&stored.entry.actor)
                        .bind(&stored.entry.action)
                        .bind(&stored.entry.target)
                        .bind(&stored.entry.outcome)
                        .bind(details.as_str())
                        .bind(&stored.prev_hash)
                        .bind(&stored.hash)
                },
            );
            query.execute(&mut *tx).await.map_err(classify)?;
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

    /// Audit entries after `after_seq` and up to `up_to`, in order.
    pub async fn audit_entries(
        &self,
        after_seq: i64,
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<ChainedEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT seq, id, at, actor, action, target, outcome, details, prev_hash, hash
             FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT {}",
            limit.min(10_000)
        )))
        .bind(after_seq)
        .bind(up_to)
        .fetch_all(&self.records)
        .await
        .map_err(classify)?;
        rows.iter().map(chained_from).collect()
    }

    /// The chain's head: the last entry's seq and hash.
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.records)
            .await
            .map_err(classify)?;
        Ok((
            row.try_get("seq").map_err(classify)?,
            row.try_get("hash").map_err(classify)?,
        ))
    }

    /// Deletes what retention no longer keeps: rows older than each cut-off, in batches, so
    /// that no statement holds the database long. The audit trail loses a prefix of its chain
    /// only (up to the newest entry past the cut-off, never the last one), so what is left
    /// still verifies. Returns how many rows went.
    pub async fn purge_telemetry(&self, cutoffs: &Cutoffs) -> Result<u64> {
        const BATCH: i64 = 5000;
        let mut total = 0;
        if let Some(log) = &self.request_log {
            let cutoffs = *cutoffs;
            total += log.blocking(move |log| log.purge(&cutoffs)).await?;
        }
        let (records, main) = (&self.records, &self.pool);
        let steps: [(&AnyPool, &str, Bound); 4] = [
            (
                records,
                "UPDATE requests SET bodies = NULL WHERE id IN (SELECT id FROM requests WHERE id < $1 AND bodies IS NOT NULL LIMIT $2)",
                Bound::Text(first_id_at(cutoffs.bodies)),
            ),
            (
                records,
                "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE id < $1 LIMIT $2)",
                Bound::Text(first_id_at(cutoffs.events)),
            ),
            (
                main,
                "DELETE FROM a2a_trace_events WHERE id IN (SELECT id FROM a2a_trace_events WHERE at < $1 LIMIT $2)",
                Bound::Millis(cutoffs.traces),
            ),
            (
                records,
                "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log
                   WHERE seq <= (SELECT MAX(seq) FROM audit_log WHERE at < $1)
                     AND seq < (SELECT MAX(seq) FROM audit_log)
                   ORDER BY seq LIMIT $2)",
                Bound::Millis(cutoffs.audit),
            ),
        ];
        for (pool, sql, bound) in steps {
            loop {
                let query = sqlx::query(sql);
                let query = match &bound {
                    Bound::Text(id) => query.bind(id.as_str()),
                    Bound::Millis(at) => query.bind(*at),
                };
                let deleted = query
                    .bind(BATCH)
                    .execute(pool)
                    .await
                    .map_err(classify)?
                    .rows_affected();
                total += deleted;
                if deleted < BATCH as u64 {
                    break;
                }
            }
        }
        Ok(total)
    }
}

/// A job for the request log's append thread: given the log, or `None` once it is closed. The
/// job owns its reference to the log and drops it before answering, so a caller that drops the
/// store after its last append finds the log closed at once.
type AppendJob = Box<dyn FnOnce(Option<Arc<RequestLog>>) + Send>;

/// A SQLite store's request log, and the one thread its appends run on. A thread of its own,
/// not the blocking pool's: SQLite's memory for the log stays in one allocator arena and the
/// log's pages in one thread's caches, where appends spread over the pool's threads leave each
/// thread's arena holding some of it. Reads and retention run on the blocking pool.
#[derive(Clone)]
pub(super) struct LogHandle {
    log: Arc<RequestLog>,
    appends: std::sync::mpsc::Sender<AppendJob>,
}

impl LogHandle {
    /// Starts `log`'s append thread. The thread holds the log weakly — dropping the store
    /// closes the log and frees its lock at once — and ends when the last handle is dropped.
    pub(super) fn start(log: RequestLog) -> std::io::Result<Self> {
        let log = Arc::new(log);
        let (appends, jobs) = std::sync::mpsc::channel::<AppendJob>();
        let weak = Arc::downgrade(&log);
        std::thread::Builder::new()
            .name("agenthub-records".into())
            .spawn(move || {
                for job in jobs {
                    let log = weak.upgrade();
                    // A panicking append fails its caller (its answer is dropped), not the
                    // thread and every append after it.
                    let run = std::panic::AssertUnwindSafe(|| job(log));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!("an append to the request log panicked");
                    }
                }
            })?;
        Ok(Self { log, appends })
    }

    /// Runs `work`, an append, on the log's append thread.
    async fn append<T: Send + 'static>(
        &self,
        work: impl FnOnce(&RequestLog) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: AppendJob = Box::new(move |log| {
            let result = match &log {
                Some(log) => work(log),
                None => Err(Error::new(
                    ErrorKind::Unavailable,
                    "the request log is closed",
                )),
            };
            drop(log);
            let _ = answer.send(result);
        });
        self.appends.send(job).map_err(|_| {
            Error::new(
                ErrorKind::Unavailable,
                "the request log's append thread has stopped",
            )
        })?;
        answered
            .await
            .map_err(|_| Error::internal("an append to the request log panicked"))?
    }

    /// Runs `work`, a read or retention, on a blocking thread: its file I/O and SQLite calls
    /// must not hold the runtime's thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&RequestLog) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || work(&log))
            .await
            .map_err(Error::internal)?
    }
}

/// Moves the rows of a SQLite records file's `requests` table (a store made before records
/// were logged in blocks) into its request log, oldest first; a move cut short is finished
/// by the next start. Returns how many moved.
pub(super) async fn move_rows_into(records: &AnyPool, log: &LogHandle) -> Result<u64> {
    const CHUNK: usize = 1024;
    let sql = format!("SELECT {RECORD_COLUMNS}, bodies FROM requests ORDER BY id LIMIT {CHUNK}");
    let mut moved = 0;
    loop {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .fetch_all(records)
            .await
            .map_err(classify)?;
        let Some(last) = rows.last() else {
            return Ok(moved);
        };
        let last: String = last.try_get("id").map_err(classify)?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut event = match event_from(row) {
                Ok(event) => event,
                Err(e) => {
                    tracing::error!(error = %e, "a stored request record is unreadable; it is not moved");
                    continue;
                }
            };
            let bodies: Option<String> = row.try_get("bodies").map_err(classify)?;
            event.bodies = bodies.and_then(LoggedBodies::from_json);
            events.push(event);
        }
        moved += events.len() as u64;
        log.append(move |log| {
            let packed: Vec<PackedRequest> = events.iter().map(PackedRequest::pack).collect();
            log.append(packed.iter().collect(), true)
        })
        .await?;
        sqlx::query("DELETE FROM requests WHERE id <= $1")
            .bind(last)
            .execute(records)
            .await
            .map_err(classify)?;
    }
}

/// A cut-off: an id (time-ordered) or a time.
enum Bound {
    Text(String),
    Millis(Millis),
}

/// Ids looked up per statement when skipping audit entries already stored.
const ROWS_PER_LOOKUP: usize = 500;

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
    use super::super::testing;
    use super::*;
    use crate::telemetry::audit::{GENESIS, Verifier};

    const T0: Millis = 1_800_000_000_000;

    /// The log's append thread holds it weakly: a dropped store frees the log and its lock at
    /// once, so the next store on the same files (a restart) appends straight away.
    #[tokio::test]
    async fn a_dropped_store_frees_its_request_log_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = super::super::DatabaseUrl::sqlite_in(dir.path());
        for n in 0..3 {
            let store = Store::open(&url, &super::super::StoreOptions::default())
                .await
                .unwrap();
            let record = event(T0 + n, "ml", "gpt", "x");
            let batch: Arc<[Record]> = Arc::new([Record::Request(PackedRequest::pack(&record))]);
            store.save_requests(batch, Delivery::First).await.unwrap();
            assert!(store.get_request(&record.id).await.unwrap().is_some());
            drop(store);
            let lock =
                std::fs::File::open(dir.path().join("agenthub-records.segments/LOCK")).unwrap();
            assert!(lock.try_lock().is_ok(), "the log's lock is still held");
        }
    }

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
            let mut events = [
                event(T0, "ml", "gpt", "apollo"),
                event(T0 + 1000, "web", "gpt", "gemini"),
                event(T0 + 2000, "ml", "claude", "Apollo"),
                event(T0 + 3000, "ml", "gpt", "50%_off"),
            ];
            events[1].bodies = LoggedBodies::from_json(r#"{"request":{"messages":[]}}"#.to_owned());
            events[2].guardrails.push(GuardrailVerdict {
                rule: "pii".into(),
                stage: "input".into(),
                action: "redact".into(),
            });
            events[3].fail(Status::Denied, "budget_exceeded", "over \0 budget");
            events[3].target = "gpt\0".into();
            let all: Arc<[Record]> = events
                .iter()
                .map(|event| Record::Request(PackedRequest::pack(event)))
                .collect();
            store
                .save_requests(all.clone(), Delivery::First)
                .await
                .unwrap();
            // A replayed batch stores nothing twice.
            store.save_requests(all, Delivery::Repeat).await.unwrap();
            if t.name == "postgres" {
                // Postgres cannot store a NUL in text; SQLite's request log keeps it.
                events[3].target = "gpt\u{FFFD}".into();
            }
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
            let stored = store.audit_entries(0, i64::MAX, 100).await.unwrap();
            assert_eq!(stored.len(), 5, "{}", t.name);
            let mut verifier = Verifier::new();
            for entry in &stored {
                verifier.check(entry).unwrap();
            }
            let head = store.audit_head().await.unwrap();
            assert_eq!(head, (5, stored[4].hash.clone()));

            sqlx::query("UPDATE audit_log SET outcome = 'denied' WHERE seq = 3")
                .execute(&store.records)
                .await
                .unwrap();
            let mut verifier = Verifier::new();
            let broken = store
                .audit_entries(0, i64::MAX, 100)
                .await
                .unwrap()
                .iter()
                .find_map(|entry| verifier.check(entry).err())
                .expect("tampering is found");
            assert_eq!(broken.seq, 3, "{}", t.name);

            // Retention takes a prefix of the chain and keeps the last entry: what is left
            // still verifies.
            let purged = store
                .purge_telemetry(&Cutoffs {
                    events: 0,
                    bodies: 0,
                    traces: 0,
                    audit: i64::MAX,
                })
                .await
                .unwrap();
            assert_eq!(purged, 4, "{}", t.name);
            let left = store.audit_entries(0, i64::MAX, 100).await.unwrap();
            assert_eq!(left.len(), 1);
            assert_eq!(left[0].seq, 5);
            Verifier::new().check(&left[0]).unwrap();
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
            let stored = t.store.audit_entries(0, i64::MAX, 100).await.unwrap();
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
