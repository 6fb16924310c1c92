//! The request log and analytics: `/requests` lists the records of LLM calls, MCP tool calls
//! and A2A hops (filtered, newest first, with a cursor), `/requests/{id}` is one with its
//! bodies, `/analytics` aggregates them by time bucket and group.
//!
//! Readers of the `audit` admin area see every request. A team's owners and admins see
//! their team's (`team=<name>`, with credentials that carry `admin:read`); everyone else sees
//! their own.

use agenthub_policy::Scope;
use agenthub_policy::admin::{Access, Target};
use agenthub_policy::authz::AdminArea;
use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, PageOf, parse_timestamp, timestamp};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::model::{Millis, now_millis};
use crate::store::RequestFilter;
use crate::telemetry::analytics::{Analytics, GroupBy, Tally, metadata_value};
use crate::telemetry::event::{RequestEvent, Status};

/// The most requests one analytics query reads; a longer range must be narrowed.
const MAX_SCANNED: u64 = 5_000_000;
const SCAN_PAGE: usize = 50_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_requests))
        .routes(routes!(get_request))
        .routes(routes!(analytics))
}

/// The query of the request log and of analytics: filters, then each one's own parameters
/// (the other's are refused).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// From this time: RFC 3339, or a duration back from now (`15m`, `24h`, `7d`).
    pub since: Option<String>,
    /// Before this time: RFC 3339, or a duration back from now.
    pub until: Option<String>,
    /// A principal: `user:alice`, `service:bot`, or a user's name.
    pub user: Option<String>,
    pub team: Option<String>,
    /// An API key id.
    pub key: Option<String>,
    /// `llm`, `mcp` or `a2a`.
    pub plane: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// `server/tool`.
    pub tool: Option<String>,
    pub agent: Option<String>,
    /// `ok`, `denied` or `error`.
    pub status: Option<String>,
    pub trace_id: Option<String>,
    /// `key=value`: requests whose `x-agenthub-metadata` had it.
    pub metadata: Option<String>,
    /// `/requests`: items per page, 1–1000 (default 100).
    pub limit: Option<usize>,
    /// `/requests`: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `/analytics`: `team`, `user`, `key`, `model`, `provider`, `tool`, `agent`, `plane`,
    /// `status`, `metadata.<key>`, or `none` (default).
    pub group_by: Option<String>,
    /// `/analytics`: the series' bucket, `1m` to `31d` (default `1h`).
    pub bucket: Option<String>,
}

/// A time given as RFC 3339 or as a duration back from `now`.
fn parse_time(field: &str, text: &str, now: Millis) -> Result<Millis> {
    if let Ok(back) = humantime::parse_duration(text) {
        return Ok(now - i64::try_from(back.as_millis()).unwrap_or(i64::MAX).min(now));
    }
    parse_timestamp(field, text).map_err(|_| {
        Error::invalid_field(
            field,
            "expected an RFC 3339 time (2027-01-31T00:00:00Z) or a duration back from now (7d)",
        )
    })
}

impl RequestsQuery {
    /// Fails naming the first of `fields` (name, given) that was given.
    fn refuse(fields: &[(&str, bool)], endpoint: &str) -> Result<()> {
        match fields.iter().find(|(_, given)| *given) {
            Some((name, _)) => Err(Error::invalid_field(
                *name,
                format!("is not a parameter of {endpoint}"),
            )),
            None => Ok(()),
        }
    }

    fn to_filter(&self, now: Millis) -> Result<RequestFilter> {
        let time = |field: &str, text: &Option<String>| {
            text.as_deref()
                .map(|text| parse_time(field, text, now))
                .transpose()
        };
        let status = self
            .status
            .as_deref()
            .map(|text| {
                Status::parse(text).ok_or_else(|| {
                    Error::invalid_field("status", "must be one of ok, denied, error")
                })
            })
            .transpose()?;
        if let Some(plane) = &self.plane
            && !matches!(plane.as_str(), "llm" | "mcp" | "a2a")
        {
            return Err(Error::invalid_field(
                "plane",
                "must be one of llm, mcp, a2a",
            ));
        }
        let metadata = self
            .metadata
            .as_deref()
            .map(|pair| {
                pair.split_once('=')
                    .filter(|(key, _)| !key.is_empty())
                    .map(|(key, value)| (key.to_owned(), value.to_owned()))
                    .ok_or_else(|| Error::invalid_field("metadata", "expected key=value"))
            })
            .transpose()?;
        Ok(RequestFilter {
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            principal: self.user.as_ref().map(|user| {
                if user.contains(':') {
                    user.clone()
                } else {
                    format!("user:{user}")
                }
            }),
            team: self.team.clone(),
            key_id: self.key.clone(),
            plane: self.plane.clone(),
            model: self.model.clone(),
            provider: self.provider.clone(),
            tool: self.tool.clone(),
            agent: self.agent.clone(),
            status,
            trace_id: self.trace_id.clone(),
            metadata,
        })
    }
}

/// Narrows `filter` to what `caller` may read: everything for the `audit` area's readers, a
/// team for those who manage it (with credentials scoped for administration), else the
/// caller's own requests.
fn restrict(caller: &Caller, filter: &mut RequestFilter) {
    if caller.may(Access::Read, Target::Area(AdminArea::Audit)) {
        return;
    }
    let team_admin = caller.identity.scopes.allows(Scope::AdminRead)
        && filter.team.as_deref().is_some_and(|team| {
            caller
                .identity
                .teams
                .iter()
                .any(|m| m.team == team && m.role.can_manage_team())
        });
    if !team_admin {
        filter.principal = Some(caller.identity.subject());
    }
}

fn may_read(caller: &Caller, event: &RequestEvent) -> bool {
    let mut filter = RequestFilter {
        team: event.caller.team.clone(),
        ..RequestFilter::default()
    };
    restrict(caller, &mut filter);
    filter
        .principal
        .is_none_or(|principal| principal == event.caller.principal)
}

/// One request's record.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    /// When it arrived, RFC 3339.
    pub time: String,
    /// The record: ids, caller, target, status, latency, tokens, cost, metadata and, on
    /// `/requests/{id}`, the bodies if they were logged.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub record: RequestEvent,
}

impl From<RequestEvent> for RequestView {
    fn from(record: RequestEvent) -> Self {
        Self {
            time: timestamp(record.at),
            record,
        }
    }
}

#[utoipa::path(get, path = "/requests", tag = "requests", params(RequestsQuery),
    responses((status = 200, body = PageOf<RequestView>), (status = 400, body = crate::error::ErrorBody)))]
async fn list_requests(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RequestsQuery>,
) -> Result<Json<PageOf<RequestView>>> {
    let limit = match query.limit {
        None => 100,
        Some(n @ 1..=1000) => n,
        Some(_) => return Err(Error::invalid_field("limit", "must be between 1 and 1000")),
    };
    let before = query
        .cursor
        .as_deref()
        .map(|cursor| {
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| Error::invalid_field("cursor", "not a cursor returned by this API"))
        })
        .transpose()?;
    RequestsQuery::refuse(
        &[
            ("group_by", query.group_by.is_some()),
            ("bucket", query.bucket.is_some()),
        ],
        "/requests",
    )?;
    let mut filter = query.to_filter(now_millis())?;
    restrict(&caller, &mut filter);
    let store = state.accounts.store();
    let mut page = store
        .list_requests(&filter, before.as_deref(), limit + 1)
        .await?;
    let next = (page.len() > limit).then(|| {
        page.truncate(limit);
        page.last().map(|event| URL_SAFE_NO_PAD.encode(&event.id))
    });
    Ok(Json(PageOf {
        data: page
            .into_iter()
            // SQLite's LIKE ignores ASCII case: the exact metadata check.
            .filter(|event| filter.matches(event))
            .map(RequestView::from)
            .collect(),
        next_cursor: next.flatten(),
    }))
}

#[utoipa::path(get, path = "/requests/{id}", tag = "requests", params(("id" = String, Path, description = "The record's id")),
    responses((status = 200, body = RequestView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestView>> {
    match state.accounts.store().get_request(&id).await? {
        Some(event) if may_read(&caller, &event) => Ok(Json(event.into())),
        _ => Err(Error::not_found("request")),
    }
}

/// One group's figures, in one bucket or in all.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiguresView {
    /// The group's value (absent when not grouped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The bucket's start, RFC 3339 (series only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    pub requests: u64,
    pub errors: u64,
    pub denied: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    /// US dollars, by the price table.
    pub cost_usd: f64,
}

impl FiguresView {
    fn of(group: Option<String>, start: Option<Millis>, tally: &mut Tally) -> Self {
        let [p50_ms, p90_ms, p99_ms] = tally.percentiles_ms();
        Self {
            group,
            start: start.map(timestamp),
            requests: tally.requests,
            errors: tally.errors,
            denied: tally.denied,
            p50_ms,
            p90_ms,
            p99_ms,
            input_tokens: tally.input_tokens,
            output_tokens: tally.output_tokens,
            cached_tokens: tally.cached_tokens,
            cost_usd: tally.cost_micros as f64 / 1_000_000.0,
        }
    }
}

/// Analytics: a time series and totals per group.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsView {
    pub since: String,
    pub until: String,
    /// What the figures are grouped by (`none` when not).
    pub group_by: String,
    /// The bucket, e.g. `1h`.
    pub bucket: String,
    /// Per bucket and group, by time then group.
    pub series: Vec<FiguresView>,
    /// Per group over the whole range, largest cost first.
    pub totals: Vec<FiguresView>,
}

#[utoipa::path(get, path = "/analytics", tag = "requests", params(RequestsQuery),
    responses((status = 200, body = AnalyticsView), (status = 400, body = crate::error::ErrorBody)))]
async fn analytics(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RequestsQuery>,
) -> Result<Json<AnalyticsView>> {
    RequestsQuery::refuse(
        &[
            ("limit", query.limit.is_some()),
            ("cursor", query.cursor.is_some()),
        ],
        "/analytics",
    )?;
    let now = now_millis();
    let group_text = query.group_by.clone().unwrap_or_else(|| "none".to_owned());
    let group_by = GroupBy::parse(&group_text).ok_or_else(|| {
        Error::invalid_field(
            "group_by",
            "must be one of team, user, key, model, provider, tool, agent, plane, status, metadata.<key>, none",
        )
    })?;
    let bucket_text = query.bucket.clone().unwrap_or_else(|| "1h".to_owned());
    let bucket = humantime::parse_duration(&bucket_text)
        .ok()
        .filter(|b| (60..=31 * 24 * 3600).contains(&b.as_secs()))
        .ok_or_else(|| Error::invalid_field("bucket", "must be a duration from 1m to 31d"))?;
    let mut filter = query.to_filter(now)?;
    filter.since.get_or_insert(now - 24 * 3600 * 1000);
    filter.until.get_or_insert(now + 1);
    restrict(&caller, &mut filter);
    let mut analytics = Analytics::new(bucket.as_millis() as Millis, group_by);
    let store = state.accounts.store();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .scan_measures(&filter, after.as_deref(), SCAN_PAGE)
            .await?;
        for request in &page {
            let selected = filter.metadata.as_ref().is_none_or(|(key, value)| {
                metadata_value(&request.metadata, key).as_ref() == Some(value)
            });
            if selected {
                analytics.add(request);
            }
        }
        if analytics.scanned > MAX_SCANNED {
            return Err(Error::invalid(
                "more than 5,000,000 requests in this range: narrow it (since, until, filters)",
            ));
        }
        match page.last() {
            Some(last) if page.len() == SCAN_PAGE => after = Some(last.id.clone()),
            _ => break,
        }
    }
    let grouped = group_text != "none";
    let label = |group: &String| grouped.then(|| group.clone());
    let series = analytics
        .series
        .iter_mut()
        .map(|((start, group), tally)| FiguresView::of(label(group), Some(*start), tally))
        .collect();
    let mut totals: Vec<FiguresView> = analytics
        .totals
        .iter_mut()
        .map(|(group, tally)| FiguresView::of(label(group), None, tally))
        .collect();
    totals.sort_by(|a, b| {
        b.cost_usd
            .total_cmp(&a.cost_usd)
            .then(b.requests.cmp(&a.requests))
            .then(a.group.cmp(&b.group))
    });
    Ok(Json(AnalyticsView {
        since: timestamp(filter.since.unwrap_or_default()),
        until: timestamp(filter.until.unwrap_or_default()),
        group_by: group_text,
        bucket: bucket_text,
        series,
        totals,
    }))
}
