//! Sentry's objects cut to what a model needs. Every field is read defensively: a missing or
//! differently typed one becomes `null`, never a failure.

use http::HeaderMap;
use serde_json::{Value, json};

fn text(value: &Value) -> Value {
    match value {
        Value::String(_) | Value::Null => value.clone(),
        Value::Number(n) => Value::String(n.to_string()),
        _ => Value::Null,
    }
}

pub fn project(p: &Value) -> Value {
    let teams: Vec<Value> = p["teams"]
        .as_array()
        .map(|teams| teams.iter().map(|t| text(&t["slug"])).collect())
        .unwrap_or_default();
    json!({
        "id": text(&p["id"]), "slug": text(&p["slug"]), "name": text(&p["name"]),
        "platform": text(&p["platform"]), "teams": teams,
    })
}

fn assignee(a: &Value) -> Value {
    if !a.is_object() {
        return Value::Null;
    }
    json!({"type": text(&a["type"]), "id": text(&a["id"]), "name": text(&a["name"]), "email": text(&a["email"])})
}

pub fn issue(i: &Value) -> Value {
    // `count` is a string in Sentry's answers; a number is taken too.
    let count = i["count"]
        .as_str()
        .and_then(|c| c.parse::<u64>().ok())
        .or_else(|| i["count"].as_u64());
    json!({
        "id": text(&i["id"]), "short_id": text(&i["shortId"]), "title": text(&i["title"]),
        "culprit": text(&i["culprit"]), "level": text(&i["level"]), "status": text(&i["status"]),
        "substatus": text(&i["substatus"]), "events": count, "users": i["userCount"].as_u64(),
        "first_seen": text(&i["firstSeen"]), "last_seen": text(&i["lastSeen"]),
        "project": text(&i["project"]["slug"]), "assigned_to": assignee(&i["assignedTo"]),
        "permalink": text(&i["permalink"]), "unhandled": i["isUnhandled"].as_bool(),
    })
}

/// Suggested owners (`expand=owners`): who and why.
pub fn owners(owners: &Value) -> Value {
    let list = owners.as_array().map(Vec::as_slice).unwrap_or_default();
    Value::Array(
        list.iter()
            .map(|o| json!({"owner": text(&o["owner"]), "why": text(&o["type"])}))
            .collect(),
    )
}

fn tag(event: &Value, key: &str) -> Value {
    event["tags"]
        .as_array()
        .and_then(|tags| tags.iter().find(|t| t["key"].as_str() == Some(key)))
        .map(|t| text(&t["value"]))
        .unwrap_or(Value::Null)
}

/// One event: its exception (the one raised last), its stack nearest the crash first,
/// limited to `frames` frames, in-app ones preferred.
pub fn event(e: &Value, frames: usize) -> Value {
    let entries = e["entries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let exception = entries
        .iter()
        .find(|entry| entry["type"].as_str() == Some("exception"))
        .and_then(|entry| entry["data"]["values"].as_array())
        .and_then(|values| values.last());
    let (kind, value, stack) = match exception {
        Some(x) => (
            text(&x["type"]),
            text(&x["value"]),
            stack(&x["stacktrace"]["frames"], frames),
        ),
        None => (Value::Null, Value::Null, Value::Array(Vec::new())),
    };
    let message = if e["message"].as_str().is_some_and(|m| !m.is_empty()) {
        text(&e["message"])
    } else {
        Value::Null
    };
    json!({
        "event_id": text(&e["eventID"]), "date": text(&e["dateCreated"]), "title": text(&e["title"]),
        "message": message, "exception": {"type": kind, "value": value}, "stack": stack,
        "environment": tag(e, "environment"), "release": tag(e, "release"),
        "tags": e["tags"].as_array().map(|tags| tags.iter().take(20).map(|t| json!({"key": text(&t["key"]), "value": text(&t["value"])})).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

/// Frames come oldest first; the crash is last. Shown nearest the crash first, in-app frames
/// only when there are any.
fn stack(frames: &Value, limit: usize) -> Value {
    let all = frames.as_array().map(Vec::as_slice).unwrap_or_default();
    let in_app: Vec<&Value> = all
        .iter()
        .filter(|f| f["inApp"].as_bool() == Some(true))
        .collect();
    let chosen: Vec<&Value> = if in_app.is_empty() {
        all.iter().collect()
    } else {
        in_app
    };
    Value::Array(
        chosen
            .iter()
            .rev()
            .take(limit)
            .map(|f| {
                let line = f["lineNo"].as_u64();
                let source = f["context"].as_array().and_then(|lines| {
                    lines.iter().find_map(|l| {
                        (l[0].as_u64() == line && line.is_some())
                            .then(|| l[1].as_str().map(|s| s.trim().to_owned()))
                            .flatten()
                    })
                });
                json!({
                    "function": text(&f["function"]), "file": text(&f["filename"]), "line": line,
                    "in_app": f["inApp"].as_bool(), "source": source,
                })
            })
            .collect(),
    )
}

pub fn listed_event(e: &Value) -> Value {
    json!({
        "event_id": text(&e["eventID"]), "date": text(&e["dateCreated"]), "title": text(&e["title"]),
        "message": text(&e["message"]), "environment": tag(e, "environment"), "release": tag(e, "release"),
    })
}

/// The next page's cursor from a `Link` header, when that page has results.
pub fn next_cursor(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(", <").find_map(|part| {
        let attributes: Vec<&str> = part.split(';').map(str::trim).collect();
        let has = |want: &str| attributes.contains(&want);
        if !has("rel=\"next\"") || !has("results=\"true\"") {
            return None;
        }
        attributes.iter().find_map(|a| {
            a.strip_prefix("cursor=\"")
                .and_then(|c| c.strip_suffix('"'))
                .map(str::to_owned)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_next_cursor_is_read_from_the_link_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(next_cursor(&headers), None);
        headers.insert(http::header::LINK, HeaderValue::from_static(
            "<https://sentry.io/api/0/organizations/acme/issues/?&cursor=0:0:1>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", <https://sentry.io/api/0/organizations/acme/issues/?&cursor=0:100:0>; rel=\"next\"; results=\"true\"; cursor=\"0:100:0\""));
        assert_eq!(next_cursor(&headers).as_deref(), Some("0:100:0"));
        headers.insert(http::header::LINK, HeaderValue::from_static(
            "<https://x/?&cursor=0:0:1>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", <https://x/?&cursor=0:100:0>; rel=\"next\"; results=\"false\"; cursor=\"0:100:0\""));
        assert_eq!(next_cursor(&headers), None);
    }

    #[test]
    fn odd_shapes_become_nulls() {
        let summary =
            issue(&json!({"id": 12, "count": "7", "assignedTo": "nobody", "project": []}));
        assert_eq!(summary["id"], "12");
        assert_eq!(summary["events"], 7);
        assert_eq!(summary["assigned_to"], Value::Null);
        assert_eq!(summary["project"], Value::Null);
        let e = event(&json!({"entries": "x", "tags": 3}), 5);
        assert_eq!(e["stack"], json!([]));
        assert_eq!(e["environment"], Value::Null);
    }
}
