//! A fake of Slack's Web API (`/api/<method>`) for the Slack MCP server's tests, following its
//! documented shapes: HTTP 200 with `{"ok": false, "error": …}` for failures, `missing_scope`
//! with `needed` and `provided`, bot and user tokens (search only with a user token),
//! `not_in_channel` for a bot outside a channel, cursor pages ending with an empty
//! `next_cursor`, history newest first without thread replies, replies parent first, exclusive
//! `oldest`/`latest`, `already_reacted`, and 429 with `Retry-After` on cue. Arguments are read
//! from the query, a form body or a JSON body. Slack's OAuth v2 (the authorization page and
//! `oauth.v2.access`, with token rotation) is in `fake_slack/oauth.rs`; the fake records the
//! token every Web API call carried.

mod oauth;

pub use oauth::SlackApp;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

/// The bot's token: it is in #general and #support, not in #random.
pub const BOT: &str = "xoxb-fake-bot";
/// A user's token, with search.
pub const USER: &str = "xoxp-fake-user";
/// A bot token with channels:read only.
pub const NARROW: &str = "xoxb-fake-narrow";

#[derive(Default)]
struct Data {
    /// token → (is_user, scopes)
    tokens: HashMap<String, (bool, Vec<&'static str>)>,
    channels: Vec<Value>,
    /// channel id → messages, oldest first (replies included, with thread_ts)
    messages: BTreeMap<String, Vec<Value>>,
    users: Vec<Value>,
    rate_limited: Vec<u64>,
    calls: Vec<String>,
    /// The bearer token of every Web API call, in order (`""` for none).
    seen: Vec<String>,
    oauth: oauth::OAuth,
    next_ts: u64,
}

/// The fake workspace and what reached it.
#[derive(Clone, Default)]
pub struct FakeSlack {
    data: Arc<Mutex<Data>>,
}

impl FakeSlack {
    /// Channels #general (C0000GENERAL), #support (C0000SUPPORT: four messages, two urgent,
    /// one with a thread of two replies) and #random (C00000RANDOM, the bot not in it); users
    /// U0000000ANA and U0000000BOB.
    pub fn new() -> Self {
        let fake = Self::default();
        {
            let mut d = fake.data.lock().unwrap();
            let bot_scopes = vec![
                "channels:read",
                "channels:history",
                "chat:write",
                "reactions:write",
                "users:read",
            ];
            d.tokens.insert(BOT.into(), (false, bot_scopes.clone()));
            let mut user_scopes = bot_scopes;
            user_scopes.extend(["search:read", "users:read.email"]);
            d.tokens.insert(USER.into(), (true, user_scopes));
            d.tokens
                .insert(NARROW.into(), (false, vec!["channels:read"]));
            let channel = |id: &str, name: &str, member: bool, topic: &str| {
                json!({
                    "id": id, "name": name, "is_channel": true, "is_group": false, "is_im": false, "is_mpim": false,
                    "is_private": false, "is_archived": false, "is_general": name == "general", "is_member": member,
                    "created": 1_700_000_000, "creator": "U0000000ANA",
                    "topic": {"value": topic, "creator": "", "last_set": 0},
                    "purpose": {"value": "", "creator": "", "last_set": 0}, "num_members": 3
                })
            };
            d.channels = vec![
                channel("C0000GENERAL", "general", true, "Company-wide"),
                channel("C0000SUPPORT", "support", true, "Customer issues"),
                channel("C00000RANDOM", "random", false, ""),
            ];
            let msg = |ts: &str, user: &str, text: &str| json!({"type": "message", "user": user, "text": text, "ts": ts});
            let mut parent = msg(
                "1764230400.000100",
                "U0000000ANA",
                "URGENT: checkout fails with ZeroDivisionError for split payments",
            );
            parent["thread_ts"] = json!("1764230400.000100");
            parent["reply_count"] = json!(2);
            let reply = |ts: &str, text: &str| {
                let mut m = msg(ts, "U0000000BOB", text);
                m["thread_ts"] = json!("1764230400.000100");
                m["parent_user_id"] = json!("U0000000ANA");
                m
            };
            d.messages.insert(
                "C0000SUPPORT".into(),
                vec![
                    msg(
                        "1764226800.000100",
                        "U0000000BOB",
                        "How do I reset my password?",
                    ),
                    parent,
                    reply("1764230500.000100", "Seeing it too on EU checkout"),
                    reply("1764230600.000100", "Started after the 2.4.1 deploy"),
                    msg(
                        "1764234000.000100",
                        "U0000000BOB",
                        "urgent: refunds page shows a blank screen",
                    ),
                    msg(
                        "1764237600.000100",
                        "U0000000ANA",
                        "Thanks all, lunch at noon",
                    ),
                ],
            );
            d.messages.insert(
                "C0000GENERAL".into(),
                vec![msg("1764226000.000100", "U0000000ANA", "Welcome!")],
            );
            d.users = vec![
                json!({"id": "U0000000ANA", "name": "ana", "real_name": "Ana Lima", "deleted": false, "is_bot": false, "tz": "Europe/Lisbon",
                       "profile": {"display_name": "ana", "real_name": "Ana Lima", "title": "Support lead", "email": "ana@acme.test"}}),
                json!({"id": "U0000000BOB", "name": "bob", "real_name": "Bob Stone", "deleted": false, "is_bot": false, "tz": "America/New_York",
                       "profile": {"display_name": "bob", "real_name": "Bob Stone", "title": "", "email": "bob@acme.test"}}),
            ];
            d.next_ts = 1_764_240_000;
        }
        fake
    }

    /// The next calls are answered 429 with `Retry-After` of these many seconds, in order.
    pub fn rate_limit_next(&self, retry_after: &[u64]) {
        self.data
            .lock()
            .unwrap()
            .rate_limited
            .extend_from_slice(retry_after);
    }

    /// `method args` of every call that reached the fake.
    pub fn calls(&self) -> Vec<String> {
        self.data.lock().unwrap().calls.clone()
    }

    /// A channel's messages, oldest first, replies included.
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        self.data
            .lock()
            .unwrap()
            .messages
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }

    /// The bearer token each Web API call carried, in order (`""` for none).
    pub fn tokens_seen(&self) -> Vec<String> {
        self.data.lock().unwrap().seen.clone()
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/api/{method}", any(method))
            .route("/oauth/v2/authorize", axum::routing::get(oauth::authorize))
            .with_state(self.clone())
    }
}

fn fail(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

fn form(text: &str, into: &mut BTreeMap<String, Value>) {
    for (k, v) in crate::form::pairs(text) {
        into.insert(k, Value::String(v));
    }
}

fn ts_value(ts: &Value) -> f64 {
    ts.as_str().and_then(|t| t.parse().ok()).unwrap_or(0.0)
}

/// Cursor pages over `items`: the cursor is the offset, base64-free but opaque to clients.
fn page(
    items: Vec<Value>,
    args: &BTreeMap<String, Value>,
    default: usize,
) -> Result<(Vec<Value>, String), Value> {
    let offset = match args.get("cursor").and_then(Value::as_str) {
        None | Some("") => 0,
        Some(cursor) => cursor
            .strip_prefix("next:")
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| fail("invalid_cursor"))?,
    };
    let limit = match args.get("limit").and_then(Value::as_str) {
        None => default,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..1000).contains(l))
            .ok_or_else(|| fail("invalid_limit"))?,
    };
    let next = offset + limit;
    let cursor = if next < items.len() {
        format!("next:{next}")
    } else {
        String::new()
    };
    Ok((items.into_iter().skip(offset).take(limit).collect(), cursor))
}

async fn method(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut args = BTreeMap::new();
    form(query.as_deref().unwrap_or(""), &mut args);
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if json_body {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => args.extend(fields),
            Ok(_) => return axum::Json(fail("json_not_object")).into_response(),
            Err(_) => return axum::Json(fail("invalid_json")).into_response(),
        }
    } else {
        form(&String::from_utf8_lossy(&body), &mut args);
    }
    let mut d = fake.data.lock().unwrap();
    d.calls.push(format!(
        "{method} {}",
        serde_json::to_string(&args).unwrap()
    ));
    if !d.rate_limited.is_empty() {
        let wait = d.rate_limited.remove(0);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            axum::Json(fail("ratelimited")),
        )
            .into_response();
    }
    if method == "oauth.v2.access" {
        return oauth::access(&mut d, &headers, &args);
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    d.seen.push(bearer.unwrap_or_default().to_owned());
    let Some(token) = bearer else {
        return axum::Json(fail("not_authed")).into_response();
    };
    let Some((is_user, scopes)) = d.tokens.get(token).cloned() else {
        return axum::Json(fail("invalid_auth")).into_response();
    };
    if d.oauth.expired(token) {
        return axum::Json(fail("token_expired")).into_response();
    }
    let needs = |scope: &str| -> Result<(), Value> {
        if scopes.contains(&scope) {
            Ok(())
        } else {
            Err(
                json!({"ok": false, "error": "missing_scope", "needed": scope, "provided": scopes.join(",")}),
            )
        }
    };
    let arg = |name: &str| {
        args.get(name).and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| (!v.is_null()).then(|| v.to_string()))
        })
    };
    let answer: Result<Value, Value> = (|| {
        match method.as_str() {
            "conversations.list" => {
                needs("channels:read")?;
                let channels: Vec<Value> = d.channels.clone();
                let (channels, cursor) = page(channels, &args, 100)?;
                Ok(
                    json!({"ok": true, "channels": channels, "response_metadata": {"next_cursor": cursor}}),
                )
            }
            "conversations.history" | "conversations.replies" => {
                needs("channels:history")?;
                let channel = arg("channel").ok_or_else(|| fail("channel_not_found"))?;
                let info = d
                    .channels
                    .iter()
                    .find(|c| c["id"] == channel.as_str())
                    .ok_or_else(|| fail("channel_not_found"))?;
                if !is_user && info["is_member"] != true {
                    return Err(fail("not_in_channel"));
                }
                let all = d.messages.get(&channel).cloned().unwrap_or_default();
                let inclusive = arg("inclusive").is_some_and(|i| i == "true" || i == "1");
                let bound = |name: &str| -> Result<Option<f64>, Value> {
                    arg(name)
                        .map(|t| {
                            t.parse::<f64>()
                                .map_err(|_| fail(&format!("invalid_ts_{name}")))
                        })
                        .transpose()
                };
                let (oldest, latest) = (bound("oldest")?, bound("latest")?);
                let within = |m: &Value| {
                    let t = ts_value(&m["ts"]);
                    oldest.is_none_or(|o| if inclusive { t >= o } else { t > o })
                        && latest.is_none_or(|l| if inclusive { t <= l } else { t < l })
                };
                let selected: Vec<Value> = if method == "conversations.history" {
                    // Newest first; replies stay in their threads.
                    let mut top: Vec<Value> = all
                        .into_iter()
                        .filter(|m| m.get("thread_ts").is_none_or(|t| *t == m["ts"]))
                        .filter(within)
                        .collect();
                    top.reverse();
                    top
                } else {
                    let ts = arg("ts").ok_or_else(|| fail("thread_not_found"))?;
                    let parent = all
                        .iter()
                        .find(|m| m["ts"] == ts.as_str())
                        .cloned()
                        .ok_or_else(|| fail("thread_not_found"))?;
                    let root = parent
                        .get("thread_ts")
                        .cloned()
                        .unwrap_or(parent["ts"].clone());
                    all.into_iter()
                        .filter(|m| m["ts"] == root || m.get("thread_ts") == Some(&root))
                        .filter(within)
                        .collect()
                };
                let (messages, cursor) = page(selected, &args, 100)?;
                Ok(
                    json!({"ok": true, "messages": messages, "has_more": !cursor.is_empty(), "response_metadata": {"next_cursor": cursor}}),
                )
            }
            "search.messages" => {
                if !is_user {
                    return Err(fail("not_allowed_token_type"));
                }
                needs("search:read")?;
                let query = arg("query")
                    .filter(|q| !q.trim().is_empty())
                    .ok_or_else(|| fail("no_query"))?
                    .to_lowercase();
                let mut matches = Vec::new();
                for (channel, messages) in &d.messages {
                    let name = d
                        .channels
                        .iter()
                        .find(|c| c["id"] == channel.as_str())
                        .map(|c| c["name"].clone())
                        .unwrap_or(Value::Null);
                    for m in messages.iter().filter(|m| {
                        query
                            .split_whitespace()
                            .all(|w| m["text"].as_str().unwrap_or("").to_lowercase().contains(w))
                    }) {
                        matches.push(json!({"type": "message", "channel": {"id": channel, "name": name, "is_private": false},
                            "user": m["user"], "username": "someone", "text": m["text"], "ts": m["ts"],
                            "permalink": format!("https://acme.slack.com/archives/{channel}/p{}", m["ts"].as_str().unwrap_or("").replace('.', ""))}));
                    }
                }
                let total = matches.len();
                Ok(
                    json!({"ok": true, "query": query, "messages": {"total": total, "matches": matches,
                    "paging": {"count": 20, "total": total, "page": 1, "pages": 1}}}),
                )
            }
            "chat.postMessage" => {
                needs("chat:write")?;
                let channel = arg("channel").ok_or_else(|| fail("channel_not_found"))?;
                let member = d
                    .channels
                    .iter()
                    .find(|c| c["id"] == channel.as_str())
                    .ok_or_else(|| fail("channel_not_found"))?["is_member"]
                    == true;
                if !member && !is_user {
                    return Err(fail("not_in_channel"));
                }
                let text = arg("text")
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| fail("no_text"))?;
                d.next_ts += 1;
                let ts = format!("{}.000100", d.next_ts);
                let mut m = json!({"type": "message", "user": "U00000000BOT", "bot_id": "B0000000001", "text": text, "ts": ts});
                if let Some(thread) = arg("thread_ts") {
                    let messages = d.messages.get(&channel).cloned().unwrap_or_default();
                    if !messages.iter().any(|p| p["ts"] == thread.as_str()) {
                        return Err(fail("thread_not_found"));
                    }
                    m["thread_ts"] = json!(thread);
                }
                d.messages
                    .entry(channel.clone())
                    .or_default()
                    .push(m.clone());
                Ok(json!({"ok": true, "channel": channel, "ts": ts, "message": m}))
            }
            "reactions.add" => {
                needs("reactions:write")?;
                let channel = arg("channel").ok_or_else(|| fail("channel_not_found"))?;
                let ts = arg("timestamp").ok_or_else(|| fail("no_item_specified"))?;
                let name = arg("name")
                    .filter(|n| !n.is_empty() && !n.contains(':') && !n.contains(' '))
                    .ok_or_else(|| fail("invalid_name"))?;
                let messages = d
                    .messages
                    .get_mut(&channel)
                    .ok_or_else(|| fail("channel_not_found"))?;
                let m = messages
                    .iter_mut()
                    .find(|m| m["ts"] == ts.as_str())
                    .ok_or_else(|| fail("message_not_found"))?;
                let reactions = m
                    .as_object_mut()
                    .unwrap()
                    .entry("reactions")
                    .or_insert(json!([]));
                let list = reactions.as_array_mut().unwrap();
                if list.iter().any(|r| {
                    r["name"] == name.as_str()
                        && r["users"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|u| u == "U00000000BOT")
                }) {
                    return Err(fail("already_reacted"));
                }
                list.push(json!({"name": name, "users": ["U00000000BOT"], "count": 1}));
                Ok(json!({"ok": true}))
            }
            "users.info" | "users.list" => {
                needs("users:read")?;
                let email = scopes.contains(&"users:read.email");
                let shown = |u: &Value| {
                    let mut u = u.clone();
                    if !email {
                        u["profile"].as_object_mut().unwrap().remove("email");
                    }
                    u
                };
                if method == "users.info" {
                    let id = arg("user").unwrap_or_default();
                    let u = d
                        .users
                        .iter()
                        .find(|u| u["id"] == id.as_str())
                        .ok_or_else(|| fail("user_not_found"))?;
                    Ok(json!({"ok": true, "user": shown(u)}))
                } else {
                    let users: Vec<Value> = d.users.iter().map(shown).collect();
                    let (members, cursor) = page(users, &args, 100)?;
                    Ok(
                        json!({"ok": true, "members": members, "cache_ts": 1_764_240_000, "response_metadata": {"next_cursor": cursor}}),
                    )
                }
            }
            _ => Err(fail("unknown_method")),
        }
    })();
    axum::Json(answer.unwrap_or_else(|failure| failure)).into_response()
}
