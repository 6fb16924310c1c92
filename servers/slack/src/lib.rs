//! An MCP server for Slack's Web API: the channels, their history in a time range, threads,
//! search, posting and replying, reactions and users — what a model needs to read a channel
//! and act on it. A bot token (`xoxb-`) does most; search needs a user token (`xoxp-`). Run in
//! the hub with `oauth`, each call carries the calling user's own OAuth token instead, as a
//! user token.

mod time;

use std::sync::Arc;
use std::time::Duration;

use agenthub_server_kit::credentials::{BearerTokens, Credentials};
use agenthub_server_kit::rest::{Failure, Rest};
use agenthub_server_kit::settings::{Vars, base_url};
use agenthub_server_kit::tools::{Effect, Server, ToolError, ToolSpec, Toolset, arguments};
use http::Method;
use rmcp::model::CallToolRequestParams;
use serde::Deserialize;
use serde_json::{Value, json};

/// As whom and where the server reaches Slack.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// A bot token (xoxb-…): channels:read, channels:history (groups:* for private
    /// channels), chat:write, reactions:write, users:read.
    #[arg(long, env = "SLACK_BOT_TOKEN", hide_env_values = true)]
    pub bot_token: Option<String>,
    /// A user token (xoxp-…) with search:read, for search_messages; also used for the rest
    /// when there is no bot token.
    #[arg(long, env = "SLACK_USER_TOKEN", hide_env_values = true)]
    pub user_token: Option<String>,
    /// The Web API's address.
    #[arg(long, env = "SLACK_BASE_URL", default_value = "https://slack.com/api")]
    pub base_url: String,
    /// How long one call to Slack may take.
    #[arg(long, env = "SLACK_TIMEOUT_SECS", default_value_t = 30)]
    pub timeout_secs: u64,
}

impl Settings {
    /// The settings from variables named as the binary's environment: how the hub passes a
    /// built-in server's `env`. An unknown name is refused.
    pub fn from_vars(vars: &std::collections::BTreeMap<String, String>) -> anyhow::Result<Self> {
        let vars = Vars::new(
            vars,
            &[
                "SLACK_BOT_TOKEN",
                "SLACK_USER_TOKEN",
                "SLACK_BASE_URL",
                "SLACK_TIMEOUT_SECS",
            ],
        )?;
        Ok(Self {
            bot_token: vars.get("SLACK_BOT_TOKEN"),
            user_token: vars.get("SLACK_USER_TOKEN"),
            base_url: vars.or("SLACK_BASE_URL", "https://slack.com/api"),
            timeout_secs: vars.seconds("SLACK_TIMEOUT_SECS", 30)?,
        })
    }
}

/// The MCP server.
pub type Slack = Server<SlackTools>;

/// The Slack server of `settings`, checked; its tokens are SLACK_BOT_TOKEN and
/// SLACK_USER_TOKEN.
pub fn server(settings: &Settings) -> anyhow::Result<Slack> {
    SlackTools::new(settings, None).map(Server::new)
}

/// The Slack server of `settings` whose calls carry the bearer tokens of `tokens` (each user's
/// own OAuth token, in the hub) as a user token; SLACK_BOT_TOKEN and SLACK_USER_TOKEN must be
/// unset.
pub fn server_with_tokens(
    settings: &Settings,
    tokens: Arc<dyn BearerTokens>,
) -> anyhow::Result<Slack> {
    SlackTools::new(settings, Some(tokens)).map(Server::new)
}

/// The tools, over the Web API with the tokens given.
pub struct SlackTools {
    bot: Option<Token>,
    user: Option<Token>,
}

/// The Web API as one token: its client, and what to check when Slack rejects it.
struct Token {
    rest: Rest,
    setting: &'static str,
}

/// What a user checks when Slack refuses their OAuth token.
const OAUTH_GRANT: &str = "the Slack access granted to the hub";

/// Slack answers a token it does not take with 200 and `ok: false`; an OAuth token is then
/// renewed and the call made again.
fn refused_token(body: &Value) -> bool {
    body["ok"] == false
        && matches!(
            body["error"].as_str(),
            Some("invalid_auth" | "not_authed" | "token_expired" | "token_revoked")
        )
}

impl SlackTools {
    fn new(settings: &Settings, tokens: Option<Arc<dyn BearerTokens>>) -> anyhow::Result<Self> {
        let base = base_url("SLACK_BASE_URL", &settings.base_url)?;
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        let given = |token: &Option<String>| {
            token
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        if let Some(tokens) = tokens {
            if given(&settings.bot_token).is_some() || given(&settings.user_token).is_some() {
                anyhow::bail!(
                    "SLACK_BOT_TOKEN and SLACK_USER_TOKEN are not used with OAuth: each call carries an OAuth token"
                );
            }
            let rest = Rest::new("Slack", base, Credentials::Bearer(tokens), timeout)?
                .with_refused_token(refused_token);
            return Ok(Self {
                bot: None,
                user: Some(Token {
                    rest,
                    setting: OAUTH_GRANT,
                }),
            });
        }
        let client = |token: Option<String>,
                      prefix: &str,
                      setting: &'static str|
         -> anyhow::Result<Option<Token>> {
            let Some(token) = token else {
                return Ok(None);
            };
            // Rotating tokens carry an `xoxe.` prefix.
            if !token
                .strip_prefix("xoxe.")
                .unwrap_or(&token)
                .starts_with(prefix)
            {
                anyhow::bail!("{setting} should start with {prefix}");
            }
            let rest = Rest::new("Slack", base, Credentials::bearer(&token)?, timeout)?;
            Ok(Some(Token { rest, setting }))
        };
        let bot = client(given(&settings.bot_token), "xoxb-", "SLACK_BOT_TOKEN")?;
        let user = client(given(&settings.user_token), "xoxp-", "SLACK_USER_TOKEN")?;
        if bot.is_none() && user.is_none() {
            anyhow::bail!("set SLACK_BOT_TOKEN (xoxb-…) or SLACK_USER_TOKEN (xoxp-…)");
        }
        Ok(Self { bot, user })
    }
}

/// A failed call, with what to do about it.
fn explain(method: &str, body: &Value, setting: &str) -> ToolError {
    let code = body["error"].as_str().unwrap_or("unknown_error");
    let text = match code {
        "missing_scope" => format!(
            "Slack refused {method}: the token ({setting}) lacks the `{}` scope (it has: {}); {}",
            body["needed"].as_str().unwrap_or("?"),
            body["provided"].as_str().unwrap_or("?"),
            // A user's grant covers the scopes the hub asked for: more need a new consent.
            if setting == OAUTH_GRANT {
                "add it to the Slack app's user token scopes and to the hub's oauth.scopes for this server, then grant access again"
            } else {
                "add the scope to the Slack app and reinstall it"
            }
        ),
        "not_authed" | "invalid_auth" | "token_revoked" | "token_expired" | "account_inactive" => {
            format!("Slack rejected the token ({code}); check {setting}")
        }
        "not_allowed_token_type" => format!(
            "Slack refused {method} for this kind of token ({setting}); search needs a user token (SLACK_USER_TOKEN, xoxp-) with search:read"
        ),
        "channel_not_found" => {
            "unknown channel (channel_not_found); list_channels shows the channels".to_owned()
        }
        "not_in_channel" => "the bot is not a member of this channel (not_in_channel): invite it with /invite @<bot name>".to_owned(),
        "thread_not_found" => "no thread at this ts (thread_not_found); use a message's ts from read_channel".to_owned(),
        "message_not_found" | "bad_timestamp" => {
            format!("no message at this timestamp ({code}); use a message's ts from read_channel")
        }
        "invalid_name" => "no such emoji (invalid_name); give its name without colons, e.g. eyes".to_owned(),
        "is_archived" => "the channel is archived (is_archived)".to_owned(),
        "user_not_found" | "user_not_visible" => format!("unknown user ({code}); list_users shows the users"),
        "invalid_cursor" => "the cursor is not valid (invalid_cursor); start again without one".to_owned(),
        "no_text" | "msg_too_long" | "msg_blocks_too_long" => format!("the message cannot be posted ({code})"),
        other => {
            let detail = body["response_metadata"]["messages"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            if detail.is_empty() {
                format!("Slack refused {method}: {other}")
            } else {
                format!("Slack refused {method}: {other} ({detail})")
            }
        }
    };
    ToolError(text)
}

/// Which token a call uses.
#[derive(Clone, Copy)]
enum As {
    /// The bot's, else the user's.
    Either,
    /// The user's only (search).
    User,
}

impl SlackTools {
    async fn call(
        &self,
        who: As,
        method: &str,
        params: Vec<(&str, String)>,
        body: Option<Value>,
    ) -> Result<Value, ToolError> {
        let Token { rest, setting } = match (who, &self.bot, &self.user) {
            (As::User, _, Some(user)) => user,
            (As::User, _, None) => {
                return Err(ToolError(
                    "searching Slack needs a user token: set SLACK_USER_TOKEN (xoxp-, with search:read); bot tokens cannot search".to_owned(),
                ));
            }
            (As::Either, Some(bot), _) => bot,
            (As::Either, None, Some(user)) => user,
            (As::Either, None, None) => unreachable!("Slack::new requires a token"),
        };
        let path = format!("/{method}");
        let reply = match &body {
            Some(body) => rest.send(Method::POST, &path, &[], Some(body)).await,
            None => rest.get(&path, &params).await,
        }
        .map_err(|failure| match failure {
            Failure::Refused {
                status, message, ..
            } => ToolError(format!("Slack refused {method} ({status}): {message}")),
            other => ToolError(other.to_string()),
        })?;
        match reply.body["ok"].as_bool() {
            Some(true) => Ok(reply.body),
            Some(false) => Err(explain(method, &reply.body, setting)),
            None => Err(rest
                .unexpected(format!("{method} answered without `ok`"))
                .into()),
        }
    }

    /// A page of a channel's or a thread's messages.
    async fn messages(
        &self,
        channel: String,
        method: &str,
        params: Vec<(&str, String)>,
    ) -> Result<Value, ToolError> {
        let page = self.call(As::Either, method, params, None).await?;
        let messages: Vec<Value> = page["messages"]
            .as_array()
            .map(|m| m.iter().map(message).collect())
            .unwrap_or_default();
        Ok(json!({"channel": channel, "messages": messages, "next_cursor": next_cursor(&page)}))
    }

    /// A channel id as given, or the id of the channel named `#name`/`name`.
    async fn channel_id(&self, channel: &str) -> Result<String, ToolError> {
        let channel = channel.trim();
        let is_id = channel.len() >= 9
            && channel.starts_with(['C', 'G', 'D'])
            && channel
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if is_id {
            return Ok(channel.to_owned());
        }
        let name = channel.trim_start_matches('#');
        if name.is_empty() {
            return Err(ToolError("`channel` is empty".to_owned()));
        }
        let mut cursor = String::new();
        // Private channels too when the token may list them (groups:read), else public ones.
        let mut types = "public_channel,private_channel";
        // Bounded: a workspace with more channels than this is asked by id.
        for _ in 0..20 {
            let mut params = vec![
                ("types", types.to_owned()),
                ("exclude_archived", "true".to_owned()),
                ("limit", "200".to_owned()),
            ];
            if !cursor.is_empty() {
                params.push(("cursor", cursor.clone()));
            }
            let page = match self
                .call(As::Either, "conversations.list", params, None)
                .await
            {
                Err(ToolError(e)) if e.contains("`groups:read`") && types != "public_channel" => {
                    types = "public_channel";
                    cursor.clear();
                    continue;
                }
                page => page?,
            };
            if let Some(found) = page["channels"]
                .as_array()
                .and_then(|channels| channels.iter().find(|c| c["name"].as_str() == Some(name)))
            {
                return found["id"].as_str().map(str::to_owned).ok_or_else(|| {
                    ToolError("conversations.list answered a channel without an id".to_owned())
                });
            }
            cursor = next_cursor(&page).unwrap_or_default();
            if cursor.is_empty() {
                break;
            }
        }
        Err(ToolError(format!(
            "unknown channel #{name}; list_channels shows the channels this token can see"
        )))
    }
}

fn next_cursor(page: &Value) -> Option<String> {
    page["response_metadata"]["next_cursor"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

fn channel(c: &Value) -> Value {
    json!({
        "id": c["id"], "name": c["name"], "is_private": c["is_private"], "is_archived": c["is_archived"],
        "is_member": c["is_member"], "topic": c["topic"]["value"], "purpose": c["purpose"]["value"],
        "members": c["num_members"],
    })
}

fn message(m: &Value) -> Value {
    let reactions: Vec<Value> = m["reactions"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| json!({"name": r["name"], "count": r["count"]}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "ts": m["ts"], "user": m.get("user").or_else(|| m.get("bot_id")).cloned().unwrap_or(Value::Null),
        "text": m["text"], "thread_ts": m["thread_ts"], "replies": m["reply_count"],
        "reactions": reactions, "subtype": m["subtype"],
    })
}

fn user(u: &Value) -> Value {
    json!({
        "id": u["id"], "name": u["name"], "real_name": u["real_name"],
        "display_name": u["profile"]["display_name"], "email": u["profile"]["email"],
        "title": u["profile"]["title"], "tz": u["tz"], "is_bot": u["is_bot"], "deleted": u["deleted"],
    })
}

const CHANNEL: &str = "A channel id (C0123ABCD) or name (#support).";
const CURSOR: &str = "next_cursor from a previous call, for the next page.";

fn specs() -> Vec<ToolSpec> {
    let page_out = |items: &str| {
        json!({"type": "object", "required": [items], "properties": {
            items: {"type": "array", "items": {"type": "object"}},
            "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for more; null at the end."}
        }})
    };
    vec![
        ToolSpec {
            name: "list_channels",
            title: "List Slack channels",
            description: "Lists the Slack channels this token can see: id, name, whether private or archived, whether the bot is a member, topic and purpose.",
            input: json!({"type": "object", "additionalProperties": false, "properties": {
                "include_private": {"type": "boolean", "default": false, "description": "Also private channels the token is in (needs groups:read)."},
                "include_archived": {"type": "boolean", "default": false},
                "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 100},
                "cursor": {"type": "string", "description": CURSOR}
            }}),
            output: Some(page_out("channels")),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "read_channel",
            title: "Read a Slack channel's messages",
            description: "Reads a channel's messages in a time range, newest first (thread replies are not included; read_thread reads them). Each message has its ts (its id, for replies and reactions), author, text, thread and reactions.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["channel"], "properties": {
                "channel": {"type": "string", "description": CHANNEL},
                "oldest": {"type": "string", "description": "Only messages after this: a Slack ts, an RFC 3339 time (2026-11-27T08:00:00Z), or how long ago (\"24h\", \"7d\")."},
                "latest": {"type": "string", "description": "Only messages before this (same forms as oldest)."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                "cursor": {"type": "string", "description": CURSOR}
            }}),
            output: Some(page_out("messages")),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "read_thread",
            title: "Read a Slack thread",
            description: "Reads a thread: its first message, then the replies oldest first.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["channel", "thread_ts"], "properties": {
                "channel": {"type": "string", "description": CHANNEL},
                "thread_ts": {"type": "string", "description": "The ts of the thread's first message."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 100},
                "cursor": {"type": "string", "description": CURSOR}
            }}),
            output: Some(page_out("messages")),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "search_messages",
            title: "Search Slack messages",
            description: "Searches messages the user token can see, with Slack's search syntax (\"deploy failed in:#ops after:2026-11-01\"). Needs SLACK_USER_TOKEN with search:read.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["query"], "properties": {
                "query": {"type": "string", "minLength": 1},
                "sort": {"type": "string", "enum": ["score", "timestamp"], "default": "score"},
                "count": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                "page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1}
            }}),
            output: Some(
                json!({"type": "object", "required": ["matches"], "properties": {
                    "matches": {"type": "array", "items": {"type": "object"}}, "total": {"type": ["integer", "null"]},
                    "page": {"type": ["integer", "null"]}, "pages": {"type": ["integer", "null"]}
                }}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "post_message",
            title: "Post a Slack message",
            description: "Posts a message (Slack mrkdwn) in a channel, or as a reply in a thread when thread_ts is given. Returns the new message's ts.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["channel", "text"], "properties": {
                "channel": {"type": "string", "description": CHANNEL},
                "text": {"type": "string", "minLength": 1, "maxLength": 40000},
                "thread_ts": {"type": "string", "description": "Reply in this thread (the ts of its first message)."},
                "broadcast": {"type": "boolean", "default": false, "description": "With thread_ts: also show the reply in the channel."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["channel", "ts"], "properties": {
                    "channel": {"type": "string"}, "ts": {"type": "string"}, "thread_ts": {"type": ["string", "null"]}
                }}),
            ),
            effect: Effect::Adds,
        },
        ToolSpec {
            name: "add_reaction",
            title: "Add a reaction to a Slack message",
            description: "Adds an emoji reaction to a message. Adding one already there is not an error.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["channel", "ts", "emoji"], "properties": {
                "channel": {"type": "string", "description": CHANNEL},
                "ts": {"type": "string", "description": "The message's ts."},
                "emoji": {"type": "string", "description": "The emoji's name without colons, e.g. eyes or white_check_mark."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["added"], "properties": {"added": {"type": "boolean"}}}),
            ),
            effect: Effect::Adds,
        },
        ToolSpec {
            name: "get_user",
            title: "Look up a Slack user",
            description: "Reads a user by id (U0123ABCD, as in messages): name, real and display name, title, time zone, email (with users:read.email).",
            input: json!({"type": "object", "additionalProperties": false, "required": ["user"], "properties": {
                "user": {"type": "string", "description": "The user's id."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["user"], "properties": {"user": {"type": "object"}}}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "list_users",
            title: "List Slack users",
            description: "Lists the workspace's users (deactivated ones and bots included, marked), to find someone by name.",
            input: json!({"type": "object", "additionalProperties": false, "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 100},
                "cursor": {"type": "string", "description": CURSOR}
            }}),
            output: Some(page_out("users")),
            effect: Effect::Reads,
        },
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListChannels {
    include_private: Option<bool>,
    include_archived: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadChannel {
    channel: String,
    oldest: Option<String>,
    latest: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadThread {
    channel: String,
    thread_ts: String,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    query: String,
    sort: Option<String>,
    count: Option<u32>,
    page: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Post {
    channel: String,
    text: String,
    thread_ts: Option<String>,
    broadcast: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct React {
    channel: String,
    ts: String,
    emoji: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetUser {
    user: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListUsers {
    limit: Option<u32>,
    cursor: Option<String>,
}

fn limit(limit: Option<u32>, default: u32) -> String {
    limit.unwrap_or(default).clamp(1, 200).to_string()
}

impl SlackTools {
    async fn dispatch(&self, request: CallToolRequestParams) -> Result<Value, ToolError> {
        let args = request.arguments;
        match request.name.as_ref() {
            "list_channels" => {
                let a: ListChannels = arguments(args)?;
                let types = if a.include_private.unwrap_or(false) {
                    "public_channel,private_channel"
                } else {
                    "public_channel"
                };
                let mut params = vec![
                    ("types", types.to_owned()),
                    (
                        "exclude_archived",
                        (!a.include_archived.unwrap_or(false)).to_string(),
                    ),
                    ("limit", limit(a.limit, 100)),
                ];
                params.extend(a.cursor.map(|c| ("cursor", c)));
                let page = self
                    .call(As::Either, "conversations.list", params, None)
                    .await?;
                let channels: Vec<Value> = page["channels"]
                    .as_array()
                    .map(|c| c.iter().map(channel).collect())
                    .unwrap_or_default();
                Ok(json!({"channels": channels, "next_cursor": next_cursor(&page)}))
            }
            "read_channel" => {
                let a: ReadChannel = arguments(args)?;
                let id = self.channel_id(&a.channel).await?;
                let mut params = vec![("channel", id.clone()), ("limit", limit(a.limit, 50))];
                if let Some(oldest) = &a.oldest {
                    params.push(("oldest", time::to_ts(oldest, "oldest")?));
                }
                if let Some(latest) = &a.latest {
                    params.push(("latest", time::to_ts(latest, "latest")?));
                }
                params.extend(a.cursor.map(|c| ("cursor", c)));
                self.messages(id, "conversations.history", params).await
            }
            "read_thread" => {
                let a: ReadThread = arguments(args)?;
                let id = self.channel_id(&a.channel).await?;
                let mut params = vec![
                    ("channel", id.clone()),
                    ("ts", time::check_ts(&a.thread_ts, "thread_ts")?),
                    ("limit", limit(a.limit, 100)),
                ];
                params.extend(a.cursor.map(|c| ("cursor", c)));
                self.messages(id, "conversations.replies", params).await
            }
            "search_messages" => {
                let a: Search = arguments(args)?;
                if a.query.trim().is_empty() {
                    return Err(ToolError("`query` is empty".to_owned()));
                }
                let sort = a.sort.unwrap_or_else(|| "score".to_owned());
                if sort != "score" && sort != "timestamp" {
                    return Err(ToolError(format!(
                        "`sort` must be score or timestamp, not {sort:?}"
                    )));
                }
                let params = vec![
                    ("query", a.query),
                    ("sort", sort),
                    ("count", a.count.unwrap_or(20).clamp(1, 100).to_string()),
                    ("page", a.page.unwrap_or(1).clamp(1, 100).to_string()),
                ];
                let found = self.call(As::User, "search.messages", params, None).await?;
                let found = &found["messages"];
                let matches: Vec<Value> = found["matches"]
                    .as_array()
                    .map(|m| {
                        m.iter()
                            .map(|m| json!({
                                "channel": {"id": m["channel"]["id"], "name": m["channel"]["name"]},
                                "ts": m["ts"], "user": m["user"], "username": m["username"],
                                "text": m["text"], "permalink": m["permalink"],
                            }))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(
                    json!({"matches": matches, "total": found["paging"]["total"], "page": found["paging"]["page"], "pages": found["paging"]["pages"]}),
                )
            }
            "post_message" => {
                let a: Post = arguments(args)?;
                if a.text.trim().is_empty() {
                    return Err(ToolError("`text` is empty".to_owned()));
                }
                let id = self.channel_id(&a.channel).await?;
                let mut body = json!({"channel": id, "text": a.text});
                if let Some(thread) = &a.thread_ts {
                    body["thread_ts"] = json!(time::check_ts(thread, "thread_ts")?);
                    if a.broadcast.unwrap_or(false) {
                        body["reply_broadcast"] = json!(true);
                    }
                } else if a.broadcast.is_some() {
                    return Err(ToolError(
                        "`broadcast` goes only with `thread_ts`".to_owned(),
                    ));
                }
                let posted = self
                    .call(As::Either, "chat.postMessage", Vec::new(), Some(body))
                    .await?;
                Ok(
                    json!({"channel": posted["channel"], "ts": posted["ts"], "thread_ts": posted["message"]["thread_ts"]}),
                )
            }
            "add_reaction" => {
                let a: React = arguments(args)?;
                let id = self.channel_id(&a.channel).await?;
                let name = a.emoji.trim().trim_matches(':').to_owned();
                let body =
                    json!({"channel": id, "timestamp": time::check_ts(&a.ts, "ts")?, "name": name});
                match self
                    .call(As::Either, "reactions.add", Vec::new(), Some(body))
                    .await
                {
                    Ok(_) => Ok(json!({"added": true})),
                    Err(ToolError(e)) if e.contains("already_reacted") => {
                        Ok(json!({"added": false}))
                    }
                    Err(e) => Err(e),
                }
            }
            "get_user" => {
                let a: GetUser = arguments(args)?;
                let found = self
                    .call(
                        As::Either,
                        "users.info",
                        vec![("user", a.user.trim().to_owned())],
                        None,
                    )
                    .await?;
                Ok(json!({"user": user(&found["user"])}))
            }
            "list_users" => {
                let a: ListUsers = arguments(args)?;
                let mut params = vec![("limit", limit(a.limit, 100))];
                params.extend(a.cursor.map(|c| ("cursor", c)));
                let page = self.call(As::Either, "users.list", params, None).await?;
                let users: Vec<Value> = page["members"]
                    .as_array()
                    .map(|m| m.iter().map(user).collect())
                    .unwrap_or_default();
                Ok(json!({"users": users, "next_cursor": next_cursor(&page)}))
            }
            other => Err(ToolError(format!("no tool {other:?}"))),
        }
    }
}

impl Toolset for SlackTools {
    const NAME: &'static str = "agenthub-mcp-slack";
    const INSTRUCTIONS: &'static str = "Slack tools: read_channel for a channel's recent messages (read_thread for replies), search_messages to find messages, post_message to post or reply, add_reaction to acknowledge.";

    fn specs() -> Vec<ToolSpec> {
        specs()
    }

    async fn call(&self, request: CallToolRequestParams) -> Result<Value, ToolError> {
        self.dispatch(request).await
    }
}
