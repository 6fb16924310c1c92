//! A fake of Sentry's web API (`/api/0/`) for the Sentry MCP server's tests, following its
//! documented shapes: bearer tokens with scopes (401 `{"detail": …}` for a bad token, 403 for
//! a missing scope), string ids and counts, `Link` headers with both rels on every list, the
//! default `is:unresolved` search, issue routes by id or short id, the latest event with an
//! exception entry, PUT returning the full issue, field-keyed validation errors, and 429s with
//! `X-Sentry-Rate-Limit-Reset` (no `Retry-After`, as Sentry's limiter sends none). Tokens it
//! does not hold can be taken by a verifier of the test's (an authorization server's access
//! tokens), and it records the token each request carried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::form::{pairs, param};

/// A failure the fake answers with instead of the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429, resetting after this many seconds.
    RateLimited(u64),
    /// 500 `{"detail": "Internal Error"}`.
    ServerError,
}

/// Tells the scopes of a token the fake does not hold itself (one an authorization server
/// issued), or `None` for one it does not take.
pub type Verifier = Arc<dyn Fn(&str) -> Option<Vec<String>> + Send + Sync>;

#[derive(Default)]
struct Data {
    tokens: HashMap<String, Vec<String>>,
    verifier: Option<Verifier>,
    /// The bearer token of every request, in order (`""` for none).
    seen: Vec<String>,
    projects: Vec<Value>,
    issues: Vec<Value>,
    events: HashMap<String, Vec<Value>>,
    owners: HashMap<String, Value>,
    faults: Vec<Fault>,
    requests: Vec<String>,
}

/// The fake's organization `acme`, its data and what reached it.
#[derive(Clone, Default)]
pub struct FakeSentry {
    data: Arc<Mutex<Data>>,
}

pub const ORG: &str = "acme";

impl FakeSentry {
    /// Two projects (`checkout`, `web`), three issues (two unresolved in checkout, one
    /// resolved in web), events for the first, and two tokens: `sntryu_read` (read scopes)
    /// and `sntryu_write` (with `event:write`).
    pub fn new() -> Self {
        let fake = Self::default();
        {
            let mut data = fake.data.lock().unwrap();
            let read = ["org:read", "project:read", "event:read"].map(str::to_owned);
            data.tokens.insert("sntryu_read".into(), read.to_vec());
            let mut write = read.to_vec();
            write.push("event:write".into());
            data.tokens.insert("sntryu_write".into(), write);
            data.projects = vec![
                json!({"id": "101", "slug": "checkout", "name": "Checkout", "platform": "python",
                       "team": {"id": "7", "slug": "payments", "name": "Payments"},
                       "teams": [{"id": "7", "slug": "payments", "name": "Payments"}]}),
                json!({"id": "102", "slug": "web", "name": "Web", "platform": "javascript",
                       "team": null, "teams": []}),
            ];
            data.issues = vec![
                issue(
                    "9001",
                    "CHECKOUT-1",
                    "101",
                    "checkout",
                    "ZeroDivisionError: division by zero",
                    "unresolved",
                    "2026-11-27T08:00:00Z",
                    42,
                ),
                issue(
                    "9002",
                    "CHECKOUT-2",
                    "101",
                    "checkout",
                    "KeyError: 'currency'",
                    "unresolved",
                    "2026-11-26T10:00:00Z",
                    3,
                ),
                issue(
                    "9003",
                    "WEB-1",
                    "102",
                    "web",
                    "TypeError: x is undefined",
                    "resolved",
                    "2026-11-20T10:00:00Z",
                    7,
                ),
            ];
            data.events.insert(
                "9001".into(),
                vec![
                    event(
                        "aaaa0000000000000000000000000001",
                        "2026-11-27T08:00:00Z",
                        "production",
                        "checkout@2.4.1",
                    ),
                    event(
                        "aaaa0000000000000000000000000000",
                        "2026-11-27T07:00:00Z",
                        "staging",
                        "checkout@2.4.0",
                    ),
                ],
            );
            data.owners.insert("9001".into(), json!([
                {"type": "ownershipRule", "owner": "team:7", "date_added": "2026-11-27T08:00:01Z"},
                {"type": "suspectCommit", "owner": "user:12", "date_added": "2026-11-27T08:00:01Z"}
            ]));
        }
        fake
    }

    /// Tokens besides the fake's own are taken when `verify` gives their scopes (OAuth access
    /// tokens of an authorization server of the test's).
    pub fn verify_tokens_with(
        &self,
        verify: impl Fn(&str) -> Option<Vec<String>> + Send + Sync + 'static,
    ) {
        self.data.lock().unwrap().verifier = Some(Arc::new(verify));
    }

    /// The bearer token each request carried, in order (`""` for none).
    pub fn tokens_seen(&self) -> Vec<String> {
        self.data.lock().unwrap().seen.clone()
    }

    /// The next requests are answered with `faults`, in order.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.data.lock().unwrap().faults.extend_from_slice(faults);
    }

    /// `METHOD path?query` of every request that reached the fake.
    pub fn requests(&self) -> Vec<String> {
        self.data.lock().unwrap().requests.clone()
    }

    /// The issue as the fake holds it now.
    pub fn issue(&self, id: &str) -> Option<Value> {
        let data = self.data.lock().unwrap();
        data.issues.iter().find(|i| i["id"] == id).cloned()
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/api/0/organizations/{org}/projects/", get(projects))
            .route("/api/0/organizations/{org}/issues/", get(issues))
            .route(
                "/api/0/organizations/{org}/issues/{issue}/",
                get(issue_details).put(update_issue),
            )
            .route(
                "/api/0/organizations/{org}/issues/{issue}/events/latest/",
                get(latest_event),
            )
            .route(
                "/api/0/organizations/{org}/issues/{issue}/events/",
                get(issue_events),
            )
            .with_state(self.clone())
    }
}

#[allow(clippy::too_many_arguments)]
fn issue(
    id: &str,
    short: &str,
    project: &str,
    slug: &str,
    title: &str,
    status: &str,
    last: &str,
    count: u64,
) -> Value {
    json!({
        "id": id, "shortId": short, "title": title, "culprit": "app.pay(total)",
        "permalink": format!("https://acme.sentry.io/issues/{id}/"), "level": "error",
        "status": status, "substatus": if status == "unresolved" { json!("ongoing") } else { Value::Null },
        "statusDetails": {}, "project": {"id": project, "name": slug, "slug": slug, "platform": "python"},
        "metadata": {"type": title.split(':').next().unwrap_or(title), "value": title},
        "assignedTo": null, "isUnhandled": true, "count": count.to_string(), "userCount": 2,
        "firstSeen": "2026-11-01T00:00:00Z", "lastSeen": last,
    })
}

fn event(id: &str, at: &str, environment: &str, release: &str) -> Value {
    json!({
        "id": id, "eventID": id, "groupID": "9001", "projectID": "101", "dateCreated": at,
        "title": "ZeroDivisionError: division by zero", "message": "", "platform": "python",
        "tags": [{"key": "environment", "value": environment}, {"key": "level", "value": "error"},
                 {"key": "release", "value": release}],
        "entries": [{"type": "exception", "data": {"values": [
            {"type": "ValueError", "value": "bad total", "stacktrace": {"frames": []}},
            {"type": "ZeroDivisionError", "value": "division by zero", "module": null,
             "stacktrace": {"frames": [
                {"filename": "django/core/handlers.py", "function": "inner", "lineNo": 55, "inApp": false, "context": []},
                {"filename": "app/views.py", "function": "checkout", "lineNo": 120, "inApp": true,
                 "context": [[119, "    total = cart.total()"], [120, "    share = total / len(payers)"]]},
                {"filename": "app/pay.py", "function": "pay", "lineNo": 33, "inApp": true,
                 "context": [[33, "    return amount / count"]]}
             ]}}
        ]}}],
    })
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({"detail": text}))).into_response()
}

/// Authenticates and checks `scope`; logs the request; answers a queued fault.
fn admit(
    fake: &FakeSentry,
    headers: &HeaderMap,
    org: &str,
    scope: &str,
    line: String,
) -> Result<(), Box<Response>> {
    let mut data = fake.data.lock().unwrap();
    data.requests.push(line);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = auth
        .and_then(|auth| auth.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    data.seen.push(token.clone());
    if auth.is_none() {
        return Err(Box::new(detail(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
        )));
    }
    let scopes = data
        .tokens
        .get(&token)
        .cloned()
        .or_else(|| data.verifier.as_ref().and_then(|verify| verify(&token)))
        .ok_or_else(|| Box::new(detail(StatusCode::UNAUTHORIZED, "Invalid token")))?;
    if !scopes.iter().any(|s| s == scope) {
        return Err(Box::new(detail(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action.",
        )));
    }
    if org != ORG {
        return Err(Box::new(detail(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist",
        )));
    }
    if !data.faults.is_empty() {
        return Err(Box::new(match data.faults.remove(0) {
            Fault::RateLimited(seconds) => {
                let reset = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
                    + seconds;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("x-sentry-rate-limit-reset", reset.to_string()), ("x-sentry-rate-limit-remaining", "0".to_owned())],
                    r#"{"detail":"You are attempting to use this endpoint too frequently. Limit is 5 requests in 1 seconds"}"#,
                )
                    .into_response()
            }
            Fault::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"detail": "Internal Error", "errorId": "e1"})),
            )
                .into_response(),
        }));
    }
    Ok(())
}

/// One page of `items` from the `0:offset:0` cursor, with Sentry's `Link` header.
fn page(path: &str, items: Vec<Value>, params: &[(String, String)], per_page: usize) -> Response {
    let offset: usize = param(params, "cursor")
        .and_then(|c| c.split(':').nth(1))
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let next = offset + per_page;
    let more = next < items.len();
    let kept: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let uri = format!("https://sentry.example{path}?{}", kept.join("&"));
    let link = format!(
        "<{uri}&cursor=0:{prev}:1>; rel=\"previous\"; results=\"{has_prev}\"; cursor=\"0:{prev}:1\", <{uri}&cursor=0:{next}:0>; rel=\"next\"; results=\"{more}\"; cursor=\"0:{next}:0\"",
        prev = offset.saturating_sub(per_page),
        has_prev = offset > 0,
    );
    let body: Vec<Value> = items.into_iter().skip(offset).take(per_page).collect();
    ([(header::LINK, link)], axum::Json(Value::Array(body))).into_response()
}

async fn projects(
    State(fake): State<FakeSentry>,
    Path(org): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/api/0/organizations/{org}/projects/");
    if let Err(refused) = admit(
        &fake,
        &headers,
        &org,
        "org:read",
        format!("GET {path}?{}", query.clone().unwrap_or_default()),
    ) {
        return *refused;
    }
    let params = pairs(query.as_deref().unwrap_or(""));
    let wanted = param(&params, "query")
        .and_then(|q| q.strip_prefix("slug:"))
        .map(str::to_owned);
    let projects: Vec<Value> = fake
        .data
        .lock()
        .unwrap()
        .projects
        .iter()
        .filter(|p| wanted.as_deref().is_none_or(|slug| p["slug"] == slug))
        .cloned()
        .collect();
    page(&path, projects, &params, 1)
}

async fn issues(
    State(fake): State<FakeSentry>,
    Path(org): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/api/0/organizations/{org}/issues/");
    if let Err(refused) = admit(
        &fake,
        &headers,
        &org,
        "event:read",
        format!("GET {path}?{}", query.clone().unwrap_or_default()),
    ) {
        return *refused;
    }
    let params = pairs(query.as_deref().unwrap_or(""));
    // No `query` at all means `is:unresolved`; an empty one means everything.
    let search = param(&params, "query").map_or("is:unresolved".to_owned(), str::to_owned);
    let mut status = None;
    let mut release = None;
    let mut words = Vec::new();
    for term in search.split_whitespace() {
        if let Some(value) = term.strip_prefix("is:") {
            if ![
                "unresolved",
                "resolved",
                "ignored",
                "archived",
                "assigned",
                "unassigned",
            ]
            .contains(&value)
            {
                return detail(
                    StatusCode::BAD_REQUEST,
                    "Invalid value for \"is\" search, valid values are ['archived', 'assigned', 'ignored', 'resolved', 'unassigned', 'unresolved']",
                );
            }
            status = Some(value.to_owned());
        } else if let Some(value) = term.strip_prefix("release:") {
            release = Some(value.trim_matches('"').to_owned());
        } else if term.contains('(') != term.contains(')') {
            return detail(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Parse error at '{term}' (column 1). This is commonly caused by unmatched parentheses. Enclose any text in double quotes."
                ),
            );
        } else {
            words.push(term.to_lowercase());
        }
    }
    let projects: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "project")
        .map(|(_, v)| v.as_str())
        .collect();
    let environment = param(&params, "environment").map(str::to_owned);
    let limit: usize = param(&params, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100)
        .min(100);
    let data = fake.data.lock().unwrap();
    let mut found: Vec<Value> = data
        .issues
        .iter()
        .filter(|i| {
            status.as_deref().is_none_or(|s| i["status"] == s)
                && (projects.is_empty() || projects.iter().any(|p| i["project"]["id"] == *p))
                && words
                    .iter()
                    .all(|w| i["title"].as_str().unwrap_or("").to_lowercase().contains(w))
                && release.as_deref().is_none_or(|r| {
                    data.events
                        .get(i["id"].as_str().unwrap_or(""))
                        .is_some_and(|events| {
                            events.iter().any(|e| {
                                e["tags"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .any(|t| t["key"] == "release" && t["value"] == r)
                            })
                        })
                })
                && environment.as_deref().is_none_or(|env| {
                    data.events
                        .get(i["id"].as_str().unwrap_or(""))
                        .is_some_and(|events| {
                            events.iter().any(|e| {
                                e["tags"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .any(|t| t["key"] == "environment" && t["value"] == env)
                            })
                        })
                })
        })
        .cloned()
        .collect();
    drop(data);
    found.sort_by(|a, b| b["lastSeen"].as_str().cmp(&a["lastSeen"].as_str()));
    page(&path, found, &params, limit)
}

fn find(fake: &FakeSentry, id: &str) -> Option<Value> {
    let data = fake.data.lock().unwrap();
    data.issues
        .iter()
        .find(|i| {
            i["id"] == id
                || i["shortId"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(id))
        })
        .cloned()
}

async fn issue_details(
    State(fake): State<FakeSentry>,
    Path((org, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = admit(
        &fake,
        &headers,
        &org,
        "event:read",
        format!(
            "GET /api/0/organizations/{org}/issues/{id}/?{}",
            query.clone().unwrap_or_default()
        ),
    ) {
        return *refused;
    }
    let Some(mut issue) = find(&fake, &id) else {
        return detail(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist",
        );
    };
    if pairs(query.as_deref().unwrap_or(""))
        .iter()
        .any(|(k, v)| k == "expand" && v == "owners")
    {
        let owners = fake
            .data
            .lock()
            .unwrap()
            .owners
            .get(issue["id"].as_str().unwrap())
            .cloned();
        issue["owners"] = owners.unwrap_or(Value::Null);
    }
    axum::Json(issue).into_response()
}

async fn latest_event(
    State(fake): State<FakeSentry>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = admit(
        &fake,
        &headers,
        &org,
        "event:read",
        format!("GET /api/0/organizations/{org}/issues/{id}/events/latest/"),
    ) {
        return *refused;
    }
    let Some(issue) = find(&fake, &id) else {
        return detail(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist",
        );
    };
    match fake
        .data
        .lock()
        .unwrap()
        .events
        .get(issue["id"].as_str().unwrap())
        .and_then(|e| e.first())
    {
        Some(event) => axum::Json(event.clone()).into_response(),
        None => detail(
            StatusCode::NOT_FOUND,
            "No matching event found. Try changing the environments, date range, or query.",
        ),
    }
}

async fn issue_events(
    State(fake): State<FakeSentry>,
    Path((org, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/api/0/organizations/{org}/issues/{id}/events/");
    if let Err(refused) = admit(
        &fake,
        &headers,
        &org,
        "event:read",
        format!("GET {path}?{}", query.clone().unwrap_or_default()),
    ) {
        return *refused;
    }
    let Some(issue) = find(&fake, &id) else {
        return detail(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist",
        );
    };
    let params = pairs(query.as_deref().unwrap_or(""));
    let environment = param(&params, "environment").map(str::to_owned);
    let per_page = param(&params, "per_page")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .min(100);
    let events: Vec<Value> = fake.data.lock().unwrap().events.get(issue["id"].as_str().unwrap()).cloned().unwrap_or_default()
        .into_iter()
        .filter(|e| environment.as_deref().is_none_or(|env| e["tags"].as_array().unwrap().iter().any(|t| t["key"] == "environment" && t["value"] == env)))
        .map(|e| json!({"id": e["id"], "event.type": "error", "groupID": e["groupID"], "eventID": e["eventID"], "projectID": e["projectID"],
                        "message": "division by zero", "title": e["title"], "tags": e["tags"], "platform": "python", "dateCreated": e["dateCreated"]}))
        .collect();
    page(&path, events, &params, per_page)
}

async fn update_issue(
    State(fake): State<FakeSentry>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(refused) = admit(
        &fake,
        &headers,
        &org,
        "event:write",
        format!(
            "PUT /api/0/organizations/{org}/issues/{id}/ {}",
            String::from_utf8_lossy(&body)
        ),
    ) {
        return *refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return detail(StatusCode::BAD_REQUEST, "JSON parse error");
    };
    let Some(found) = find(&fake, &id) else {
        return detail(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist",
        );
    };
    let mut data = fake.data.lock().unwrap();
    let issue = data
        .issues
        .iter_mut()
        .find(|i| i["id"] == found["id"])
        .unwrap();
    if let Some(status) = body.get("status") {
        let Some(status) = status
            .as_str()
            .filter(|s| ["resolved", "resolvedInNextRelease", "unresolved", "ignored"].contains(s))
        else {
            return (StatusCode::BAD_REQUEST, axum::Json(json!({"status": [format!("\"{}\" is not a valid choice.", status.as_str().unwrap_or(""))]}))).into_response();
        };
        let stored = if status == "resolvedInNextRelease" {
            "resolved"
        } else {
            status
        };
        issue["status"] = json!(stored);
        issue["statusDetails"] = body.get("statusDetails").cloned().unwrap_or(json!({}));
        issue["substatus"] = match stored {
            "ignored" => json!("archived_until_escalating"),
            "unresolved" => json!("ongoing"),
            _ => Value::Null,
        };
    }
    if let Some(assignee) = body.get("assignedTo") {
        let assignee = assignee.as_str().unwrap_or("");
        issue["assignedTo"] = match assignee {
            "" => Value::Null,
            "user:12" | "jane@acme.test" | "jane" => {
                json!({"type": "user", "id": "12", "name": "Jane Developer", "email": "jane@acme.test"})
            }
            "team:7" => json!({"type": "team", "id": "7", "name": "payments"}),
            other
                if other.contains(':')
                    && !other.starts_with("user:")
                    && !other.starts_with("team:") =>
            {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"assignedTo": ["Could not parse actor. Format should be `type:id` where type is `team` or `user`."]}))).into_response();
            }
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"assignedTo": ["Unknown actor input"]})),
                )
                    .into_response();
            }
        };
    }
    axum::Json(issue.clone()).into_response()
}
