//! An MCP server for Sentry: what a model needs to find an error, read where it happened, see
//! who owns it, and resolve, ignore or assign it. Speaks Sentry's web API (`/api/0/`) on
//! sentry.io, its regional hosts, or a self-hosted install, with an auth token — or, run in the
//! hub with `oauth`, with each user's own OAuth token.

mod summary;

use std::sync::Arc;
use std::time::Duration;

use agenthub_server_kit::credentials::{BearerTokens, Credentials};
use agenthub_server_kit::rest::{Failure, Rest};
use agenthub_server_kit::settings::{Vars, base_url};
use agenthub_server_kit::tools::{Effect, Server, ToolError, ToolSpec, Toolset, arguments};
use http::{HeaderMap, Method, StatusCode};
use rmcp::model::CallToolRequestParams;
use serde::Deserialize;
use serde_json::{Value, json};

/// Where and as whom the server reaches Sentry.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Sentry's address: https://sentry.io, a region (https://de.sentry.io) or a self-hosted
    /// install.
    #[arg(long, env = "SENTRY_BASE_URL", default_value = "https://sentry.io")]
    pub base_url: String,
    /// The organization's slug.
    #[arg(long, env = "SENTRY_ORG")]
    pub org: String,
    /// An auth token with org:read, project:read and event:read (event:write to resolve,
    /// ignore and assign). Required, except in the hub with `oauth`.
    #[arg(long, env = "SENTRY_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// How long one call to Sentry may take.
    #[arg(long, env = "SENTRY_TIMEOUT_SECS", default_value_t = 30)]
    pub timeout_secs: u64,
}

impl Settings {
    /// The settings from variables named as the binary's environment (`SENTRY_ORG`, …): how
    /// the hub passes a built-in server's `env`. An unknown name is refused, so that a typo
    /// is not silently a default.
    pub fn from_vars(vars: &std::collections::BTreeMap<String, String>) -> anyhow::Result<Self> {
        let vars = Vars::new(
            vars,
            &[
                "SENTRY_BASE_URL",
                "SENTRY_ORG",
                "SENTRY_AUTH_TOKEN",
                "SENTRY_TIMEOUT_SECS",
            ],
        )?;
        Ok(Self {
            base_url: vars.or("SENTRY_BASE_URL", "https://sentry.io"),
            org: vars.required("SENTRY_ORG")?,
            auth_token: vars.get("SENTRY_AUTH_TOKEN"),
            timeout_secs: vars.seconds("SENTRY_TIMEOUT_SECS", 30)?,
        })
    }
}

/// The MCP server.
pub type Sentry = Server<SentryTools>;

/// The Sentry server of `settings`, checked; its token is SENTRY_AUTH_TOKEN.
pub fn server(settings: &Settings) -> anyhow::Result<Sentry> {
    SentryTools::new(settings, None).map(Server::new)
}

/// The Sentry server of `settings` whose calls carry the bearer tokens of `tokens` (each
/// user's own OAuth tokens, in the hub) instead of SENTRY_AUTH_TOKEN, which must be unset.
pub fn server_with_tokens(
    settings: &Settings,
    tokens: Arc<dyn BearerTokens>,
) -> anyhow::Result<Sentry> {
    SentryTools::new(settings, Some(tokens)).map(Server::new)
}

/// The tools, over one organization's API.
pub struct SentryTools {
    rest: Rest,
    org: String,
    /// What to check when Sentry rejects the token.
    credential: &'static str,
}

impl SentryTools {
    fn new(settings: &Settings, tokens: Option<Arc<dyn BearerTokens>>) -> anyhow::Result<Self> {
        if settings.org.trim().is_empty() {
            anyhow::bail!("SENTRY_ORG (--org) is empty: set it to the organization's slug");
        }
        let base = base_url("SENTRY_BASE_URL", &settings.base_url)?;
        let token = settings.auth_token.as_deref().map(str::trim);
        let (credentials, credential) = match (tokens, token) {
            (Some(_), Some(_)) => anyhow::bail!(
                "SENTRY_AUTH_TOKEN is not used with OAuth: each call carries an OAuth token"
            ),
            (Some(tokens), None) => (Credentials::Bearer(tokens), OAUTH_GRANT),
            (None, Some("")) => anyhow::bail!("SENTRY_AUTH_TOKEN (--auth-token) is empty"),
            (None, Some(token)) => (Credentials::bearer(token)?, "SENTRY_AUTH_TOKEN"),
            (None, None) => anyhow::bail!("SENTRY_AUTH_TOKEN (--auth-token) is required"),
        };
        let rest = Rest::new(
            "Sentry",
            &format!("{base}/api/0"),
            credentials,
            Duration::from_secs(settings.timeout_secs.max(1)),
        )?
        .with_wait_hint(reset_wait);
        Ok(Self {
            rest,
            org: settings.org.trim().to_owned(),
            credential,
        })
    }
}

/// What a user checks when their OAuth token is rejected.
const OAUTH_GRANT: &str = "the Sentry access granted to the hub (grant it again)";

/// Sentry's rate limiter sends no `Retry-After`, but when its window resets (epoch seconds).
fn reset_wait(headers: &HeaderMap) -> Option<Duration> {
    let reset: u64 = headers
        .get("x-sentry-rate-limit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    // Whole seconds: the window ends somewhere in the second after `reset`.
    Duration::try_from_secs_f64((reset as f64 + 1.0 - now).max(0.0)).ok()
}

/// The scope a tool needs, named when Sentry refuses it; `credential`, what to check when it
/// rejects the token.
fn needs(scope: &'static str, credential: &'static str) -> impl Fn(Failure) -> ToolError {
    move |failure| match &failure {
        Failure::Refused {
            status, message, ..
        } if *status == StatusCode::UNAUTHORIZED => ToolError(format!(
            "Sentry rejected the auth token ({message}); check {credential}"
        )),
        Failure::Refused {
            status, message, ..
        } if *status == StatusCode::FORBIDDEN => ToolError(format!(
            "Sentry refused this call ({message}); the auth token needs the `{scope}` scope and access to the project"
        )),
        _ => ToolError(failure.to_string()),
    }
}

const ISSUE_ID: &str = "The issue's numeric id (\"6507376925\") or short id (\"CHECKOUT-1Z43\").";

fn specs() -> Vec<ToolSpec> {
    let issue_summary = json!({"type": "object"});
    vec![
        ToolSpec {
            name: "list_projects",
            title: "List Sentry projects",
            description: "Lists the organization's Sentry projects (slug, name, platform, teams). Use a project's slug or id to narrow search_issues.",
            input: json!({"type": "object", "additionalProperties": false, "properties": {
                "cursor": {"type": "string", "description": "next_cursor from a previous call, for the next page."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["projects"], "properties": {
                    "projects": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "slug": {"type": "string"}, "name": {"type": "string"},
                        "platform": {"type": ["string", "null"]}, "teams": {"type": "array", "items": {"type": "string"}}}}},
                    "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for more; null when there are no more."}
                }}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "search_issues",
            title: "Search Sentry issues",
            description: "Finds Sentry issues (grouped errors), most recently seen first: by status, project, environment, release and free text. Returns each issue's id, short id, title, culprit, level, status, event and user counts, first and last seen, and assignee. Use get_issue for its stack trace.",
            input: json!({"type": "object", "additionalProperties": false, "properties": {
                "query": {"type": "string", "description": "Free text or Sentry search syntax, e.g. \"TypeError checkout\" or \"level:error assigned:me\"."},
                "status": {"type": "string", "enum": ["unresolved", "resolved", "ignored", "any"], "default": "unresolved", "description": "Which issues: unresolved (default), resolved, ignored, or any."},
                "project": {"type": "string", "description": "A project's slug or numeric id."},
                "environment": {"type": "string", "description": "Only events from this environment, e.g. \"production\"."},
                "release": {"type": "string", "description": "Only issues seen in this release version."},
                "period": {"type": "string", "pattern": "^[0-9]+[smhdw]$", "description": "How far back to look, e.g. \"24h\", \"14d\" (default 14d)."},
                "sort": {"type": "string", "enum": ["date", "new", "freq", "user"], "description": "date: last seen (default); new: first seen; freq: most events; user: most users."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10, "description": "Issues per page."},
                "cursor": {"type": "string", "description": "next_cursor from a previous call, for the next page."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["issues"], "properties": {
                    "issues": {"type": "array", "items": issue_summary},
                    "next_cursor": {"type": ["string", "null"]}
                }}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "get_issue",
            title: "Get a Sentry issue with its latest event",
            description: "Reads one Sentry issue: its summary, who it is assigned to and its suggested owners, and its latest event — the exception, the in-app stack frames nearest the crash (with the failing source line where Sentry has it), environment, release and tags.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue"], "properties": {
                "issue": {"type": "string", "description": ISSUE_ID},
                "frames": {"type": "integer", "minimum": 1, "maximum": 50, "default": 8, "description": "How many stack frames to show, nearest the crash first."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["issue"], "properties": {
                    "issue": {"type": "object"}, "owners": {"type": "array"}, "latest_event": {"type": ["object", "null"]}
                }}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "list_issue_events",
            title: "List a Sentry issue's events",
            description: "Lists the individual events (occurrences) of one Sentry issue, newest first, with their time, message, environment and release.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue"], "properties": {
                "issue": {"type": "string", "description": ISSUE_ID},
                "environment": {"type": "string", "description": "Only events from this environment."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                "cursor": {"type": "string", "description": "next_cursor from a previous call."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["events"], "properties": {
                    "events": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": ["string", "null"]}
                }}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "update_issue_status",
            title: "Resolve, ignore or reopen a Sentry issue",
            description: "Changes a Sentry issue's status: resolved, ignored (optionally for a number of minutes) or unresolved (reopen). Needs the event:write scope.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue", "status"], "properties": {
                "issue": {"type": "string", "description": ISSUE_ID},
                "status": {"type": "string", "enum": ["resolved", "resolvedInNextRelease", "ignored", "unresolved"]},
                "ignore_minutes": {"type": "integer", "minimum": 1, "maximum": 10080, "description": "With ignored: ignore for this long, then alert again."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["issue"], "properties": {"issue": issue_summary}}),
            ),
            effect: Effect::Changes { idempotent: true },
        },
        ToolSpec {
            name: "assign_issue",
            title: "Assign a Sentry issue",
            description: "Assigns a Sentry issue to a user (\"user:ID\", a username or an email) or a team (\"team:ID\"), or unassigns it (an empty assignee). Needs the event:write scope.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue", "assignee"], "properties": {
                "issue": {"type": "string", "description": ISSUE_ID},
                "assignee": {"type": "string", "description": "\"user:12345\", \"team:678\", a username, an email, or \"\" to unassign."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["issue"], "properties": {"issue": issue_summary}}),
            ),
            effect: Effect::Changes { idempotent: true },
        },
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    query: Option<String>,
    status: Option<String>,
    project: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    period: Option<String>,
    sort: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetIssue {
    issue: String,
    frames: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueEvents {
    issue: String,
    environment: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateStatus {
    issue: String,
    status: String,
    ignore_minutes: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    issue: String,
    assignee: String,
}

/// An issue id as a path segment: digits, or a short id's letters, digits and dashes.
fn issue_path(issue: &str) -> Result<String, ToolError> {
    let issue = issue.trim();
    if issue.is_empty()
        || !issue
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ToolError(format!(
            "`issue` must be a numeric id or a short id like CHECKOUT-1Z43, not {issue:?}"
        )));
    }
    Ok(issue.to_owned())
}

impl SentryTools {
    fn org_path(&self, rest: &str) -> String {
        format!("/organizations/{}/{rest}", self.org)
    }

    /// One page of a list at `path`, each item cut by `summarize`, as `{key: […],
    /// "next_cursor": …}`.
    async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        scope: &'static str,
        key: &str,
        summarize: fn(&Value) -> Value,
    ) -> Result<Value, ToolError> {
        let reply = self
            .rest
            .get(path, query)
            .await
            .map_err(needs(scope, self.credential))?;
        let items = reply
            .body
            .as_array()
            .ok_or_else(|| {
                self.rest
                    .unexpected(format!("the {key} list is not an array"))
            })?
            .iter()
            .map(summarize)
            .collect::<Vec<_>>();
        Ok(json!({key: items, "next_cursor": summary::next_cursor(&reply.headers)}))
    }

    async fn list_projects(&self, args: Page) -> Result<Value, ToolError> {
        let mut query = Vec::new();
        if let Some(cursor) = args.cursor {
            query.push(("cursor", cursor));
        }
        self.list(
            &self.org_path("projects/"),
            &query,
            "org:read",
            "projects",
            summary::project,
        )
        .await
    }

    /// A project given by slug becomes its id (the issue search takes ids).
    async fn project_id(&self, project: &str) -> Result<String, ToolError> {
        if project.chars().all(|c| c.is_ascii_digit()) {
            return Ok(project.to_owned());
        }
        let reply = self
            .rest
            .get(
                &self.org_path("projects/"),
                &[("query", format!("slug:{project}"))],
            )
            .await
            .map_err(needs("org:read", self.credential))?;
        reply
            .body
            .as_array()
            .and_then(|projects| {
                projects
                    .iter()
                    .find(|p| p["slug"].as_str() == Some(project))
            })
            .and_then(|p| p["id"].as_str().map(str::to_owned))
            .ok_or_else(|| {
                ToolError(format!(
                    "no project {project:?} in organization {}; list_projects shows the slugs",
                    self.org
                ))
            })
    }

    async fn search_issues(&self, args: Search) -> Result<Value, ToolError> {
        let mut terms = Vec::new();
        match args.status.as_deref().unwrap_or("unresolved") {
            "any" => {}
            status @ ("unresolved" | "resolved" | "ignored") => terms.push(format!("is:{status}")),
            other => {
                return Err(ToolError(format!(
                    "`status` must be unresolved, resolved, ignored or any, not {other:?}"
                )));
            }
        }
        if let Some(release) = &args.release {
            terms.push(format!("release:\"{}\"", release.replace('"', "")));
        }
        if let Some(text) = &args.query {
            terms.push(text.clone());
        }
        let limit = args.limit.unwrap_or(10).clamp(1, 100);
        let mut query = vec![
            ("query", terms.join(" ")),
            ("limit", limit.to_string()),
            (
                "statsPeriod",
                args.period.clone().unwrap_or_else(|| "14d".to_owned()),
            ),
        ];
        if let Some(sort) = args.sort {
            if !["date", "new", "freq", "user"].contains(&sort.as_str()) {
                return Err(ToolError(format!(
                    "`sort` must be date, new, freq or user, not {sort:?}"
                )));
            }
            query.push(("sort", sort));
        }
        if let Some(project) = &args.project {
            query.push(("project", self.project_id(project).await?));
        }
        if let Some(environment) = args.environment {
            query.push(("environment", environment));
        }
        if let Some(cursor) = args.cursor {
            query.push(("cursor", cursor));
        }
        self.list(
            &self.org_path("issues/"),
            &query,
            "event:read",
            "issues",
            summary::issue,
        )
        .await
    }

    async fn get_issue(&self, args: GetIssue) -> Result<Value, ToolError> {
        let id = issue_path(&args.issue)?;
        let reply = self
            .rest
            .get(
                &self.org_path(&format!("issues/{id}/")),
                &[("expand", "owners".to_owned())],
            )
            .await
            .map_err(needs("event:read", self.credential))?;
        if !reply.body.is_object() {
            return Err(self.rest.unexpected("the issue is not an object").into());
        }
        let owners = summary::owners(&reply.body["owners"]);
        let latest = match self
            .rest
            .get(&self.org_path(&format!("issues/{id}/events/latest/")), &[])
            .await
        {
            Ok(event) => summary::event(&event.body, args.frames.unwrap_or(8).clamp(1, 50)),
            // An issue whose events have aged out has none to show.
            Err(Failure::Refused { status, .. }) if status == StatusCode::NOT_FOUND => Value::Null,
            Err(failure) => return Err(needs("event:read", self.credential)(failure)),
        };
        Ok(json!({"issue": summary::issue(&reply.body), "owners": owners, "latest_event": latest}))
    }

    async fn list_issue_events(&self, args: IssueEvents) -> Result<Value, ToolError> {
        let id = issue_path(&args.issue)?;
        let mut query = vec![(
            "per_page",
            args.limit.unwrap_or(10).clamp(1, 100).to_string(),
        )];
        if let Some(environment) = args.environment {
            query.push(("environment", environment));
        }
        if let Some(cursor) = args.cursor {
            query.push(("cursor", cursor));
        }
        self.list(
            &self.org_path(&format!("issues/{id}/events/")),
            &query,
            "event:read",
            "events",
            summary::listed_event,
        )
        .await
    }

    async fn update(&self, issue: &str, body: Value) -> Result<Value, ToolError> {
        let id = issue_path(issue)?;
        let reply = self
            .rest
            .send(
                Method::PUT,
                &self.org_path(&format!("issues/{id}/")),
                &[],
                Some(&body),
            )
            .await
            .map_err(needs("event:write", self.credential))?;
        if !reply.body.is_object() {
            return Err(self
                .rest
                .unexpected("the updated issue is not an object")
                .into());
        }
        Ok(json!({"issue": summary::issue(&reply.body)}))
    }

    async fn update_issue_status(&self, args: UpdateStatus) -> Result<Value, ToolError> {
        let body = match (args.status.as_str(), args.ignore_minutes) {
            ("ignored", Some(minutes)) => {
                json!({"status": "ignored", "statusDetails": {"ignoreDuration": minutes}})
            }
            (_, Some(_)) => {
                return Err(ToolError(
                    "`ignore_minutes` goes only with status \"ignored\"".to_owned(),
                ));
            }
            ("resolved" | "resolvedInNextRelease" | "ignored" | "unresolved", None) => {
                json!({"status": args.status})
            }
            (other, None) => {
                return Err(ToolError(format!(
                    "`status` must be resolved, resolvedInNextRelease, ignored or unresolved, not {other:?}"
                )));
            }
        };
        self.update(&args.issue, body).await
    }

    async fn assign_issue(&self, args: Assign) -> Result<Value, ToolError> {
        let assignee = args.assignee.trim();
        let body = if assignee.is_empty() {
            json!({"assignedTo": ""})
        } else {
            json!({"assignedTo": assignee})
        };
        self.update(&args.issue, body).await
    }
}

impl Toolset for SentryTools {
    const NAME: &'static str = "agenthub-mcp-sentry";
    const INSTRUCTIONS: &'static str = "Sentry tools: search_issues to find errors, get_issue for one issue's stack trace and owners, then update_issue_status or assign_issue.";

    fn specs() -> Vec<ToolSpec> {
        specs()
    }

    async fn call(&self, request: CallToolRequestParams) -> Result<Value, ToolError> {
        let args = request.arguments;
        match request.name.as_ref() {
            "list_projects" => self.list_projects(arguments(args)?).await,
            "search_issues" => self.search_issues(arguments(args)?).await,
            "get_issue" => self.get_issue(arguments(args)?).await,
            "list_issue_events" => self.list_issue_events(arguments(args)?).await,
            "update_issue_status" => self.update_issue_status(arguments(args)?).await,
            "assign_issue" => self.assign_issue(arguments(args)?).await,
            other => Err(ToolError(format!("no tool {other:?}"))),
        }
    }
}
