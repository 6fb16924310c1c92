//! A fake of Jira's REST API for the Jira MCP server's tests: Cloud's v3 (the enhanced
//! `search/jql` with `nextPageToken` and no total; the old `search` answering 410; rich text
//! that must be Atlassian Document Format) and Data Center's v2 (`search` with
//! `startAt`/`total`, plain-text rich text, users by name), with Jira's error envelope
//! (`{"errorMessages": […], "errors": {field: …}}`), JQL errors for malformed and unbounded
//! queries, a To Do → In Progress → Done workflow, 204s for edits, and 429 with `Retry-After`
//! on cue. Credentials: Basic `ana@acme.test:jira-token`, or Bearer `jira-pat`.

// A handler's early answer is the HTTP response itself; boxing it would only add noise here.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use serde_json::{Value, json};

use crate::form::{pairs, param};

pub const EMAIL: &str = "ana@acme.test";
pub const API_TOKEN: &str = "jira-token";
pub const PAT: &str = "jira-pat";

#[derive(Default)]
struct Data {
    issues: Vec<Value>,
    next_id: u64,
    rate_limited: Vec<u64>,
    calls: Vec<String>,
}

/// Projects CHK and OPS; issue CHK-1 (To Do). What reached the fake is kept.
#[derive(Clone, Default)]
pub struct FakeJira {
    data: Arc<Mutex<Data>>,
}

fn status(name: &str) -> Value {
    let (id, key) = match name {
        "To Do" => ("1", "new"),
        "In Progress" => ("3", "indeterminate"),
        _ => ("10001", "done"),
    };
    json!({"id": id, "name": name, "statusCategory": {"key": key, "name": name}})
}

fn project(key: &str) -> Option<Value> {
    match key {
        "CHK" => Some(
            json!({"id": "10000", "key": "CHK", "name": "Checkout", "projectTypeKey": "software"}),
        ),
        "OPS" => Some(
            json!({"id": "10001", "key": "OPS", "name": "Operations", "projectTypeKey": "service_desk"}),
        ),
        _ => None,
    }
}

const TYPES: [(&str, &str); 3] = [("10001", "Task"), ("10002", "Bug"), ("10003", "Story")];

impl FakeJira {
    pub fn new() -> Self {
        let fake = Self::default();
        {
            let mut d = fake.data.lock().unwrap();
            d.next_id = 10100;
            d.issues.push(json!({"id": "10050", "key": "CHK-1", "fields": {
                "summary": "Card payments time out", "status": status("To Do"),
                "issuetype": {"id": "10002", "name": "Bug"}, "priority": {"name": "High"},
                "project": project("CHK").unwrap(), "assignee": null,
                "reporter": {"accountId": "acc-ana", "name": "ana", "displayName": "Ana Lima"},
                "labels": ["payments"], "created": "2026-11-20T10:00:00.000+0000", "updated": "2026-11-20T10:00:00.000+0000",
                "description": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Timeouts after 30 s."}]}]},
                "comment": {"comments": [], "total": 0}
            }}));
        }
        fake
    }

    pub fn rate_limit_next(&self, retry_after: &[u64]) {
        self.data
            .lock()
            .unwrap()
            .rate_limited
            .extend_from_slice(retry_after);
    }

    /// `METHOD path?query body` of every request that reached the fake.
    pub fn calls(&self) -> Vec<String> {
        self.data.lock().unwrap().calls.clone()
    }

    /// An issue as stored (v3 shapes), by key.
    pub fn issue(&self, key: &str) -> Option<Value> {
        self.data
            .lock()
            .unwrap()
            .issues
            .iter()
            .find(|i| i["key"] == key)
            .cloned()
    }

    /// Every issue, in creation order.
    pub fn issues(&self) -> Vec<Value> {
        self.data.lock().unwrap().issues.clone()
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/rest/api/3/search/jql", get(search_jql))
            .route("/rest/api/3/search", get(removed).post(removed))
            .route("/rest/api/2/search", get(search_v2))
            .route("/rest/api/{v}/issue", post(create))
            .route("/rest/api/{v}/issue/{key}", get(read).put(edit))
            .route("/rest/api/{v}/issue/{key}/comment", post(comment))
            .route(
                "/rest/api/{v}/issue/{key}/transitions",
                get(transitions).post(transition),
            )
            .route("/rest/api/{v}/issue/{key}/assignee", put(assign))
            .route("/rest/api/3/project/search", get(project_search))
            .route("/rest/api/2/project", get(project_list))
            .route(
                "/rest/api/{v}/issue/createmeta/{project}/issuetypes",
                get(issue_types),
            )
            .route("/rest/api/{v}/field", get(fields))
            .with_state(self.clone())
    }
}

fn errors(status: StatusCode, messages: &[&str], fields: Value) -> Response {
    (
        status,
        axum::Json(json!({"errorMessages": messages, "errors": fields})),
    )
        .into_response()
}

/// Authenticates, logs and answers a queued 429.
fn admit(fake: &FakeJira, headers: &HeaderMap, line: String) -> Result<(), Response> {
    let mut d = fake.data.lock().unwrap();
    d.calls.push(line);
    if !d.rate_limited.is_empty() {
        let wait = d.rate_limited.remove(0);
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            axum::Json(json!({"errorMessages": ["Rate limit exceeded."], "errors": {}})),
        )
            .into_response());
    }
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{API_TOKEN}"))
    );
    let bearer = format!("Bearer {PAT}");
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(auth) if auth == basic || auth == bearer => Ok(()),
        _ => Err(errors(
            StatusCode::UNAUTHORIZED,
            &["Client must be authenticated to access this resource."],
            json!({}),
        )),
    }
}

/// The issues `jql` selects, or Jira's 400.
fn select(issues: &[Value], jql: &str) -> Result<Vec<Value>, Response> {
    let lower = jql.to_lowercase();
    let filter = match lower.find("order by") {
        Some(at) => jql[..at].trim(),
        None => jql.trim(),
    };
    if filter.is_empty() {
        return Err(errors(
            StatusCode::BAD_REQUEST,
            &[
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
            ],
            json!({}),
        ));
    }
    let mut selected: Vec<Value> = issues.to_vec();
    for clause in filter.split(" AND ").flat_map(|c| c.split(" and ")) {
        let clause = clause.trim();
        let (field, op, value) = ["!=", "~", "="]
            .iter()
            .find_map(|op| clause.split_once(op).map(|(f, v)| (f.trim().to_lowercase(), *op, v.trim().trim_matches('"').to_owned())))
            .ok_or_else(|| {
                let word = clause.split_whitespace().nth(1).unwrap_or(clause);
                errors(StatusCode::BAD_REQUEST, &[&format!("Error in the JQL Query: Expecting operator but got '{word}'. The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character 1)")], json!({}))
            })?;
        let get = |i: &Value| -> Result<String, Response> {
            let f = &i["fields"];
            Ok(match field.as_str() {
                "project" => f["project"]["key"].as_str().unwrap_or("").to_owned(),
                "status" => f["status"]["name"].as_str().unwrap_or("").to_owned(),
                "labels" => f["labels"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default(),
                "text" | "summary" => f["summary"].as_str().unwrap_or("").to_owned(),
                "issuetype" | "type" => f["issuetype"]["name"].as_str().unwrap_or("").to_owned(),
                other => {
                    return Err(errors(
                        StatusCode::BAD_REQUEST,
                        &[&format!(
                            "Field '{other}' does not exist or you do not have permission to view it."
                        )],
                        json!({}),
                    ));
                }
            })
        };
        if field == "project" && project(&value.to_uppercase()).is_none() {
            return Err(errors(
                StatusCode::BAD_REQUEST,
                &[&format!(
                    "The value '{value}' does not exist for the field 'project'."
                )],
                json!({}),
            ));
        }
        let mut kept = Vec::new();
        for issue in selected {
            let actual = get(&issue)?;
            let matches = match op {
                "=" => {
                    if field == "labels" {
                        actual.split(' ').any(|l| l.eq_ignore_ascii_case(&value))
                    } else {
                        actual.eq_ignore_ascii_case(&value)
                    }
                }
                "!=" => !actual.eq_ignore_ascii_case(&value),
                _ => value
                    .to_lowercase()
                    .split_whitespace()
                    .all(|w| actual.to_lowercase().contains(w)),
            };
            if matches {
                kept.push(issue);
            }
        }
        selected = kept;
    }
    selected.reverse();
    Ok(selected)
}

/// v2 shapes: rich text as text, users by name.
fn as_v2(issue: &Value) -> Value {
    let mut issue = issue.clone();
    let text = |v: &Value| match v {
        Value::String(_) | Value::Null => v.clone(),
        doc => json!(flatten(doc)),
    };
    issue["fields"]["description"] = text(&issue["fields"]["description"]);
    if let Some(comments) = issue["fields"]["comment"]["comments"].as_array_mut() {
        for c in comments {
            c["body"] = text(&c["body"]);
        }
    }
    issue
}

fn flatten(node: &Value) -> String {
    if let Some(text) = node["text"].as_str() {
        return text.to_owned();
    }
    node["content"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(flatten)
                .collect::<Vec<_>>()
                .join(if node["type"] == "doc" { "\n" } else { "" })
        })
        .unwrap_or_default()
}

fn shaped(v: &str, issue: &Value) -> Value {
    if v == "2" {
        as_v2(issue)
    } else {
        issue.clone()
    }
}

/// Why `doc` is not an ADF document, if it is not.
fn adf_problem(doc: &Value) -> Option<&'static str> {
    if doc["type"] != "doc" || doc["version"] != 1 || !doc["content"].is_array() {
        return Some(
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        );
    }
    fn walk(node: &Value) -> bool {
        if node["type"] == "text" && node["text"].as_str().is_none_or(str::is_empty) {
            return false;
        }
        node["content"]
            .as_array()
            .is_none_or(|c| c.iter().all(walk))
    }
    (!walk(doc)).then_some("INVALID_INPUT")
}

fn rich_problem(v: &str, value: &Value) -> Option<&'static str> {
    if v == "3" {
        adf_problem(value)
    } else {
        (!value.is_string()).then_some("The description must be a string")
    }
}

async fn removed(State(fake): State<FakeJira>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&fake, &headers, "GET /rest/api/3/search".into()) {
        return r;
    }
    errors(
        StatusCode::GONE,
        &[
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
        ],
        json!({}),
    )
}

async fn search_jql(
    State(fake): State<FakeJira>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!(
            "GET /rest/api/3/search/jql?{}",
            query.clone().unwrap_or_default()
        ),
    ) {
        return r;
    }
    let params = pairs(query.as_deref().unwrap_or(""));
    let issues = fake.data.lock().unwrap().issues.clone();
    let selected = match select(&issues, param(&params, "jql").unwrap_or("")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let max: usize = param(&params, "maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(50);
    let start: usize = param(&params, "nextPageToken")
        .and_then(|t| t.strip_prefix("page-"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = selected.iter().skip(start).take(max).cloned().collect();
    let mut body = json!({"issues": page, "isLast": start + max >= selected.len()});
    if start + max < selected.len() {
        body["nextPageToken"] = json!(format!("page-{}", start + max));
    }
    axum::Json(body).into_response()
}

async fn search_v2(
    State(fake): State<FakeJira>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!(
            "GET /rest/api/2/search?{}",
            query.clone().unwrap_or_default()
        ),
    ) {
        return r;
    }
    let params = pairs(query.as_deref().unwrap_or(""));
    let issues = fake.data.lock().unwrap().issues.clone();
    let selected = match select(&issues, param(&params, "jql").unwrap_or("")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let max: usize = param(&params, "maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(50);
    let start: usize = param(&params, "startAt")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = selected.iter().skip(start).take(max).map(as_v2).collect();
    axum::Json(
        json!({"startAt": start, "maxResults": max, "total": selected.len(), "issues": page}),
    )
    .into_response()
}

fn find(fake: &FakeJira, key: &str) -> Result<Value, Response> {
    fake.issue(&key.to_uppercase()).ok_or_else(|| {
        errors(
            StatusCode::NOT_FOUND,
            &["Issue does not exist or you do not have permission to see it."],
            json!({}),
        )
    })
}

async fn read(
    State(fake): State<FakeJira>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&fake, &headers, format!("GET /rest/api/{v}/issue/{key}")) {
        return r;
    }
    match find(&fake, &key) {
        Ok(issue) => axum::Json(shaped(&v, &issue)).into_response(),
        Err(r) => r,
    }
}

async fn create(
    State(fake): State<FakeJira>,
    Path(v): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!(
            "POST /rest/api/{v}/issue {}",
            String::from_utf8_lossy(&body)
        ),
    ) {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return errors(
            StatusCode::BAD_REQUEST,
            &["Unexpected character"],
            json!({}),
        );
    };
    let f = &body["fields"];
    let mut problems = serde_json::Map::new();
    let project = f["project"]["key"].as_str().and_then(project);
    if project.is_none() {
        problems.insert("project".into(), json!("Specify a valid project ID or key"));
    }
    if f["summary"].as_str().is_none_or(|s| s.trim().is_empty()) {
        problems.insert(
            "summary".into(),
            json!("You must specify a summary of the issue."),
        );
    }
    let issue_type = TYPES
        .iter()
        .find(|(_, name)| f["issuetype"]["name"].as_str() == Some(name));
    if issue_type.is_none() {
        problems.insert("issuetype".into(), json!("Specify a valid issue type"));
    }
    if !f["description"].is_null()
        && let Some(problem) = rich_problem(&v, &f["description"])
    {
        problems.insert("description".into(), json!(problem));
    }
    if !problems.is_empty() {
        return errors(StatusCode::BAD_REQUEST, &[], Value::Object(problems));
    }
    let mut d = fake.data.lock().unwrap();
    d.next_id += 1;
    let project = project.unwrap();
    let number = d
        .issues
        .iter()
        .filter(|i| i["fields"]["project"]["key"] == project["key"])
        .count()
        + 1;
    let key = format!("{}-{number}", project["key"].as_str().unwrap());
    let id = d.next_id.to_string();
    let description = if v == "2" {
        f["description"].as_str().map(|t| json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": t}]}]})).unwrap_or(Value::Null)
    } else {
        f["description"].clone()
    };
    let (type_id, type_name) = issue_type.unwrap();
    d.issues.push(json!({"id": id, "key": key, "fields": {
        "summary": f["summary"], "status": status("To Do"), "issuetype": {"id": type_id, "name": type_name},
        "priority": if f["priority"].is_null() { json!({"name": "Medium"}) } else { f["priority"].clone() },
        "project": project, "assignee": null, "reporter": {"accountId": "acc-ana", "name": "ana", "displayName": "Ana Lima"},
        "labels": if f["labels"].is_array() { f["labels"].clone() } else { json!([]) },
        "created": "2026-11-27T09:00:00.000+0000", "updated": "2026-11-27T09:00:00.000+0000",
        "description": description, "comment": {"comments": [], "total": 0}
    }}));
    (StatusCode::CREATED, axum::Json(json!({"id": id, "key": key, "self": format!("https://acme.atlassian.net/rest/api/{v}/issue/{id}")}))).into_response()
}

fn modify(fake: &FakeJira, key: &str, change: impl FnOnce(&mut Value)) {
    let mut d = fake.data.lock().unwrap();
    if let Some(issue) = d.issues.iter_mut().find(|i| i["key"] == key.to_uppercase()) {
        change(issue);
    }
}

async fn edit(
    State(fake): State<FakeJira>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!(
            "PUT /rest/api/{v}/issue/{key} {}",
            String::from_utf8_lossy(&body)
        ),
    ) {
        return r;
    }
    if let Err(r) = find(&fake, &key) {
        return r;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(description) = body["fields"].get("description").filter(|d| !d.is_null())
        && let Some(problem) = rich_problem(&v, description)
    {
        return errors(
            StatusCode::BAD_REQUEST,
            &[],
            json!({"description": problem}),
        );
    }
    if let Some(status) = body["fields"].get("status") {
        let _ = status;
        return errors(
            StatusCode::BAD_REQUEST,
            &[],
            json!({"status": "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."}),
        );
    }
    modify(&fake, &key, |issue| {
        let fields = issue["fields"].as_object_mut().unwrap();
        for (name, value) in body["fields"].as_object().cloned().unwrap_or_default() {
            let value = if v == "2" && name == "description" {
                json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": value.as_str().unwrap_or("")}]}]})
            } else {
                value
            };
            fields.insert(name, value);
        }
        for change in body["update"]["labels"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let labels = fields.get_mut("labels").unwrap().as_array_mut().unwrap();
            if let Some(add) = change["add"].as_str()
                && !labels.iter().any(|l| l == add)
            {
                labels.push(json!(add));
            }
            if let Some(remove) = change["remove"].as_str() {
                labels.retain(|l| l != remove);
            }
        }
    });
    StatusCode::NO_CONTENT.into_response()
}

async fn comment(
    State(fake): State<FakeJira>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!(
            "POST /rest/api/{v}/issue/{key}/comment {}",
            String::from_utf8_lossy(&body)
        ),
    ) {
        return r;
    }
    if let Err(r) = find(&fake, &key) {
        return r;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(problem) = rich_problem(&v, &body["body"]) {
        return errors(StatusCode::BAD_REQUEST, &[], json!({"comment": problem}));
    }
    let comment = json!({"id": "20001", "author": {"accountId": "acc-ana", "displayName": "Ana Lima"}, "body": body["body"], "created": "2026-11-27T09:05:00.000+0000"});
    modify(&fake, &key, |issue| {
        let comments = &mut issue["fields"]["comment"];
        comments["comments"]
            .as_array_mut()
            .unwrap()
            .push(comment.clone());
        comments["total"] = json!(comments["comments"].as_array().unwrap().len());
    });
    (StatusCode::CREATED, axum::Json(comment)).into_response()
}

fn available(current: &str) -> Vec<Value> {
    let t = |id: &str, name: &str, to: &str| json!({"id": id, "name": name, "to": status(to)});
    match current {
        "To Do" => vec![
            t("11", "Start Progress", "In Progress"),
            t("21", "Done", "Done"),
        ],
        "In Progress" => vec![t("31", "Stop Progress", "To Do"), t("21", "Done", "Done")],
        _ => vec![t("41", "Reopen", "To Do")],
    }
}

async fn transitions(
    State(fake): State<FakeJira>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!("GET /rest/api/{v}/issue/{key}/transitions"),
    ) {
        return r;
    }
    match find(&fake, &key) {
        Ok(issue) => axum::Json(json!({"expand": "transitions", "transitions": available(issue["fields"]["status"]["name"].as_str().unwrap_or(""))})).into_response(),
        Err(r) => r,
    }
}

async fn transition(
    State(fake): State<FakeJira>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!(
            "POST /rest/api/{v}/issue/{key}/transitions {}",
            String::from_utf8_lossy(&body)
        ),
    ) {
        return r;
    }
    let issue = match find(&fake, &key) {
        Ok(issue) => issue,
        Err(r) => return r,
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = body["transition"]["id"].as_str().unwrap_or("");
    let Some(chosen) = available(issue["fields"]["status"]["name"].as_str().unwrap_or(""))
        .into_iter()
        .find(|t| t["id"] == id)
    else {
        return errors(
            StatusCode::BAD_REQUEST,
            &[&format!(
                "Transition id '{id}' is not valid for this issue."
            )],
            json!({}),
        );
    };
    modify(&fake, &key, |issue| {
        issue["fields"]["status"] = chosen["to"].clone()
    });
    StatusCode::NO_CONTENT.into_response()
}

async fn assign(
    State(fake): State<FakeJira>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!(
            "PUT /rest/api/{v}/issue/{key}/assignee {}",
            String::from_utf8_lossy(&body)
        ),
    ) {
        return r;
    }
    if let Err(r) = find(&fake, &key) {
        return r;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let who = if v == "3" {
        &body["accountId"]
    } else {
        &body["name"]
    };
    let assignee = match who.as_str() {
        None => Value::Null,
        Some("acc-ana" | "ana") => {
            json!({"accountId": "acc-ana", "name": "ana", "displayName": "Ana Lima"})
        }
        Some("acc-bob" | "bob") => {
            json!({"accountId": "acc-bob", "name": "bob", "displayName": "Bob Stone"})
        }
        Some(other) => {
            return errors(
                StatusCode::BAD_REQUEST,
                &[],
                json!({"assignee": format!("User '{other}' cannot be assigned issues.")}),
            );
        }
    };
    modify(&fake, &key, |issue| issue["fields"]["assignee"] = assignee);
    StatusCode::NO_CONTENT.into_response()
}

async fn project_search(
    State(fake): State<FakeJira>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!(
            "GET /rest/api/3/project/search?{}",
            query.clone().unwrap_or_default()
        ),
    ) {
        return r;
    }
    let params = pairs(query.as_deref().unwrap_or(""));
    let wanted = param(&params, "query").unwrap_or("").to_lowercase();
    let all: Vec<Value> = ["CHK", "OPS"]
        .iter()
        .filter_map(|k| project(k))
        .filter(|p| wanted.is_empty() || p.to_string().to_lowercase().contains(&wanted))
        .collect();
    let start: usize = param(&params, "startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = param(&params, "maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let values: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
    axum::Json(json!({"startAt": start, "maxResults": max, "total": all.len(), "isLast": start + max >= all.len(), "values": values})).into_response()
}

async fn project_list(State(fake): State<FakeJira>, headers: HeaderMap) -> Response {
    if let Err(r) = admit(&fake, &headers, "GET /rest/api/2/project".into()) {
        return r;
    }
    axum::Json(json!([project("CHK"), project("OPS")])).into_response()
}

async fn issue_types(
    State(fake): State<FakeJira>,
    Path((v, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(
        &fake,
        &headers,
        format!("GET /rest/api/{v}/issue/createmeta/{key}/issuetypes"),
    ) {
        return r;
    }
    if project(&key).is_none() {
        return errors(
            StatusCode::NOT_FOUND,
            &[&format!("No project could be found with key '{key}'.")],
            json!({}),
        );
    }
    let types: Vec<Value> = TYPES
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "subtask": false}))
        .collect();
    let list = if v == "3" { "issueTypes" } else { "values" };
    axum::Json(json!({list: types, "startAt": 0, "maxResults": 50, "total": types.len()}))
        .into_response()
}

async fn fields(
    State(fake): State<FakeJira>,
    Path(v): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&fake, &headers, format!("GET /rest/api/{v}/field")) {
        return r;
    }
    axum::Json(json!([
        {"id": "summary", "name": "Summary", "custom": false, "schema": {"type": "string"}},
        {"id": "labels", "name": "Labels", "custom": false, "schema": {"type": "array"}},
        {"id": "customfield_10016", "name": "Story Points", "custom": true, "schema": {"type": "number"}}
    ])).into_response()
}
