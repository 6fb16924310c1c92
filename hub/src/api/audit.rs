//! The audit trail: `/audit` lists its entries in chain order (for export), `/audit/verify`
//! checks the whole chain and names the first broken link. Readers of the `audit` admin area
//! only.

use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::AdminArea;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, require, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::telemetry::audit::{ChainedEntry, Verifier};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(verify_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries after this sequence number (default 0: from the oldest kept).
    pub after: Option<i64>,
    /// Entries per page, 1–5000 (default 500).
    pub limit: Option<usize>,
}

/// One entry of the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub time: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub entry: ChainedEntry,
}

/// A page of the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEntryView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::error::ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Audit))?;
    let limit = match query.limit {
        None => 500,
        Some(n @ 1..=5000) => n,
        Some(_) => return Err(Error::invalid_field("limit", "must be between 1 and 5000")),
    };
    let entries = state
        .accounts
        .store()
        .audit_entries(query.after.unwrap_or(0), i64::MAX, limit)
        .await?;
    let next_after = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage {
        data: entries
            .into_iter()
            .map(|entry| AuditEntryView {
                time: timestamp(entry.entry.at),
                entry,
            })
            .collect(),
        next_after,
    }))
}

/// The chain's state.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct VerificationView {
    pub intact: bool,
    /// Entries checked.
    pub checked: u64,
    /// The first entry checked (the oldest that retention kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seq: Option<i64>,
    /// The last entry, as the chain's head records it.
    pub head_seq: i64,
    /// The last entry's hash: keep it outside the hub (a ticket, a log) to show later that
    /// the trail up to it was not rewritten.
    pub head_hash: String,
    /// The first broken link: its sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_seq: Option<i64>,
    /// What is wrong there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Walks the chain up to its head, as the head was when the walk began (entries appended
/// meanwhile are not looked at), and checks that the head names the last entry.
pub async fn verify(store: &Store) -> Result<VerificationView> {
    const PAGE: usize = 5000;
    let (head_seq, head_hash) = store.audit_head().await?;
    let mut verifier = Verifier::new();
    let mut first_seq = None;
    let mut after = 0;
    let broken = |seq, reason: String, checked, first_seq| VerificationView {
        intact: false,
        checked,
        first_seq,
        head_seq,
        head_hash: head_hash.clone(),
        broken_seq: Some(seq),
        reason: Some(reason),
    };
    loop {
        let page = store.audit_entries(after, head_seq, PAGE).await?;
        for entry in &page {
            first_seq.get_or_insert(entry.seq);
            if let Err(link) = verifier.check(entry) {
                return Ok(broken(link.seq, link.reason, verifier.checked, first_seq));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = last.seq,
            _ => break,
        }
    }
    if let Some((last_seq, last_hash)) = verifier.last().cloned() {
        if last_seq < head_seq {
            let reason = format!("entries {} to {head_seq} are missing", last_seq + 1);
            return Ok(broken(last_seq + 1, reason, verifier.checked, first_seq));
        }
        if last_hash != head_hash {
            let reason = "the chain's head does not match its last entry".to_owned();
            return Ok(broken(last_seq, reason, verifier.checked, first_seq));
        }
    } else if head_seq > 0 {
        // Retention always keeps the last entry: an empty trail with a head lost it.
        let reason = format!("entry {head_seq}, the chain's head, is missing");
        return Ok(broken(head_seq, reason, 0, None));
    }
    Ok(VerificationView {
        intact: true,
        checked: verifier.checked,
        first_seq,
        head_seq,
        head_hash,
        broken_seq: None,
        reason: None,
    })
}

#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = VerificationView), (status = 403, body = crate::error::ErrorBody)))]
async fn verify_audit(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerificationView>> {
    require(&caller, Access::Read, Target::Area(AdminArea::Audit))?;
    Ok(Json(verify(state.accounts.store()).await?))
}
