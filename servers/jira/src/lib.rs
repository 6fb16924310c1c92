//! An MCP server for Jira: JQL search, reading issues, creating them (descriptions written in
//! Markdown, sent as Atlassian Document Format on Cloud), editing fields, comments,
//! transitions, assignment, and the projects, issue types and fields to fill them with.
//! Jira Cloud's REST v3 by default; Data Center / Server's v2 with `JIRA_DEPLOYMENT=datacenter`.
//! Run in the hub with `oauth`, each call carries the calling user's own OAuth token.

pub mod adf;

use std::sync::Arc;
use std::time::Duration;

use agenthub_server_kit::credentials::{BearerTokens, Credentials};
use agenthub_server_kit::rest::{Failure, Rest};
use agenthub_server_kit::settings::{Vars, base_url};
use agenthub_server_kit::tools::{Effect, Server, ToolError, ToolSpec, Toolset, arguments};
use base64::Engine;
use http::{Method, StatusCode};
use rmcp::model::CallToolRequestParams;
use serde::Deserialize;
use serde_json::{Value, json};

/// Which Jira the server speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Deployment {
    /// Jira Cloud: REST v3, rich text in Atlassian Document Format, users by account id.
    Cloud,
    /// Jira Data Center or Server: REST v2, rich text as wiki text, users by name.
    Datacenter,
}

/// Where and as whom the server reaches Jira.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// The site: https://acme.atlassian.net, https://api.atlassian.com/ex/jira/<cloudId>
    /// (OAuth and scoped tokens), or a Data Center address.
    #[arg(long, env = "JIRA_BASE_URL")]
    pub base_url: String,
    #[arg(long, env = "JIRA_DEPLOYMENT", value_enum, default_value = "cloud")]
    pub deployment: Deployment,
    /// The account's email, with JIRA_API_TOKEN (Cloud API tokens: HTTP Basic).
    #[arg(long, env = "JIRA_EMAIL")]
    pub email: Option<String>,
    #[arg(long, env = "JIRA_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Instead of an email and API token: an OAuth access token (Cloud) or a personal access
    /// token (Data Center), sent as a bearer token.
    #[arg(long, env = "JIRA_BEARER_TOKEN", hide_env_values = true)]
    pub bearer_token: Option<String>,
    #[arg(long, env = "JIRA_TIMEOUT_SECS", default_value_t = 30)]
    pub timeout_secs: u64,
}

impl Settings {
    /// The settings from variables named as the binary's environment (how the hub passes a
    /// built-in server's `env`); an unknown name is refused.
    pub fn from_vars(vars: &std::collections::BTreeMap<String, String>) -> anyhow::Result<Self> {
        let vars = Vars::new(
            vars,
            &[
                "JIRA_BASE_URL",
                "JIRA_DEPLOYMENT",
                "JIRA_EMAIL",
                "JIRA_API_TOKEN",
                "JIRA_BEARER_TOKEN",
                "JIRA_TIMEOUT_SECS",
            ],
        )?;
        let deployment = vars.or("JIRA_DEPLOYMENT", "cloud");
        Ok(Self {
            base_url: vars.required("JIRA_BASE_URL")?,
            deployment: match deployment.trim().to_ascii_lowercase().as_str() {
                "cloud" => Deployment::Cloud,
                "datacenter" | "server" => Deployment::Datacenter,
                other => {
                    anyhow::bail!("JIRA_DEPLOYMENT must be cloud or datacenter, not {other:?}")
                }
            },
            email: vars.get("JIRA_EMAIL"),
            api_token: vars.get("JIRA_API_TOKEN"),
            bearer_token: vars.get("JIRA_BEARER_TOKEN"),
            timeout_secs: vars.seconds("JIRA_TIMEOUT_SECS", 30)?,
        })
    }
}

/// The MCP server.
pub type Jira = Server<JiraTools>;

/// The Jira server of `settings`, checked; its credentials are JIRA_EMAIL and JIRA_API_TOKEN,
/// or JIRA_BEARER_TOKEN.
pub fn server(settings: &Settings) -> anyhow::Result<Jira> {
    JiraTools::new(settings, None).map(Server::new)
}

/// The Jira server of `settings` whose calls carry the bearer tokens of `tokens` (each user's
/// own OAuth token, in the hub: Atlassian's 3LO, with JIRA_BASE_URL
/// https://api.atlassian.com/ex/jira/<cloudId>); the credential settings must be unset.
pub fn server_with_tokens(
    settings: &Settings,
    tokens: Arc<dyn BearerTokens>,
) -> anyhow::Result<Jira> {
    JiraTools::new(settings, Some(tokens)).map(Server::new)
}

/// What a user checks when Jira rejects their OAuth token.
const OAUTH_GRANT: &str = "the Jira access granted to the hub (grant it again)";

/// The tools, over one site's REST API.
pub struct JiraTools {
    rest: Rest,
    site: String,
    cloud: bool,
    credentials: &'static str,
}

impl JiraTools {
    fn new(settings: &Settings, tokens: Option<Arc<dyn BearerTokens>>) -> anyhow::Result<Self> {
        let site = base_url("JIRA_BASE_URL", settings.base_url.trim())?.to_owned();
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let given = (
            nonempty(&settings.email),
            nonempty(&settings.api_token),
            nonempty(&settings.bearer_token),
        );
        let (authorization, credentials) = match (tokens, given) {
            (Some(tokens), (None, None, None)) => (Credentials::Bearer(tokens), OAUTH_GRANT),
            (Some(_), _) => anyhow::bail!(
                "JIRA_EMAIL, JIRA_API_TOKEN and JIRA_BEARER_TOKEN are not used with OAuth: each call carries an OAuth token"
            ),
            (None, (_, _, Some(token))) => (Credentials::bearer(&token)?, "JIRA_BEARER_TOKEN"),
            (None, (Some(email), Some(token), None)) => (
                Credentials::fixed(&format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"))
                ))?,
                "JIRA_EMAIL and JIRA_API_TOKEN",
            ),
            (None, _) => anyhow::bail!(
                "set JIRA_EMAIL and JIRA_API_TOKEN (an API token), or JIRA_BEARER_TOKEN (an OAuth or personal access token)"
            ),
        };
        let cloud = settings.deployment == Deployment::Cloud;
        let api = format!("{site}/rest/api/{}", if cloud { 3 } else { 2 });
        let rest = Rest::new(
            "Jira",
            &api,
            authorization,
            Duration::from_secs(settings.timeout_secs.max(1)),
        )?;
        Ok(Self {
            rest,
            site,
            cloud,
            credentials,
        })
    }
}

/// An issue key (ENG-12) or id (10002), as a path segment.
fn issue_key(issue: &str) -> Result<String, ToolError> {
    let issue = issue.trim();
    let key = issue.split_once('-').is_some_and(|(project, number)| {
        !project.is_empty()
            && project
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
    });
    let id = !issue.is_empty() && issue.chars().all(|c| c.is_ascii_digit());
    if key || id {
        Ok(issue.to_ascii_uppercase())
    } else {
        Err(ToolError(format!(
            "`issue` must be an issue key like ENG-12 or a numeric id, not {issue:?}"
        )))
    }
}

fn user(u: &Value) -> Value {
    if !u.is_object() {
        return Value::Null;
    }
    json!({"name": u["displayName"], "account_id": u.get("accountId").or_else(|| u.get("name")).cloned().unwrap_or(Value::Null)})
}

const MAX_TEXT: usize = 4000;
/// The longest description or comment Jira takes.
const MAX_RICH_TEXT: usize = 32_767;

fn cut(text: String) -> String {
    if text.chars().count() <= MAX_TEXT {
        text
    } else {
        let kept: String = text.chars().take(MAX_TEXT).collect();
        format!("{kept}… (cut; the issue has more)")
    }
}

impl JiraTools {
    fn url(&self, key: &Value) -> Value {
        // Through Atlassian's API gateway the site's own address is not known.
        if self.site.starts_with("https://api.atlassian.com/") {
            return Value::Null;
        }
        key.as_str()
            .map(|k| json!(format!("{}/browse/{k}", self.site)))
            .unwrap_or(Value::Null)
    }

    fn issue(&self, i: &Value, comments: usize) -> Value {
        let f = &i["fields"];
        let mut summary = json!({
            "key": i["key"], "id": i["id"], "url": self.url(&i["key"]), "summary": f["summary"],
            "status": f["status"]["name"], "status_category": f["status"]["statusCategory"]["key"],
            "type": f["issuetype"]["name"], "priority": f["priority"]["name"], "project": f["project"]["key"],
            "assignee": user(&f["assignee"]), "reporter": user(&f["reporter"]),
            "labels": f["labels"], "created": f["created"], "updated": f["updated"],
        });
        if !f["description"].is_null() {
            summary["description"] = json!(cut(adf::to_text(&f["description"])));
        }
        if comments > 0 {
            let all = f["comment"]["comments"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let last: Vec<Value> = all
                .iter()
                .rev()
                .take(comments)
                .rev()
                .map(|c| json!({"author": c["author"]["displayName"], "created": c["created"], "body": cut(adf::to_text(&c["body"]))}))
                .collect();
            summary["comments"] = json!(last);
            summary["comment_count"] = f["comment"]["total"].clone();
        }
        summary
    }

    /// Rich text as this Jira takes it: ADF on Cloud, the text itself on Data Center; at
    /// most Jira's 32,767 characters.
    fn rich(&self, markdown: &str) -> Result<Value, ToolError> {
        if markdown.chars().count() > MAX_RICH_TEXT {
            return Err(ToolError(format!(
                "the text is longer than Jira's {MAX_RICH_TEXT} characters; shorten it"
            )));
        }
        Ok(if self.cloud {
            adf::from_markdown(markdown)
        } else {
            json!(markdown)
        })
    }

    fn fail(&self, failure: Failure) -> ToolError {
        match &failure {
            Failure::Refused { status, .. } if *status == StatusCode::UNAUTHORIZED => ToolError(format!(
                "Jira rejected the credentials; check {}", self.credentials
            )),
            Failure::Refused { status, message, .. } if *status == StatusCode::FORBIDDEN => ToolError(format!(
                "Jira refused this ({message}); the account lacks the project permission it needs (Browse, Create, Edit, Transition or Assign issues)"
            )),
            Failure::Refused { status, .. } if *status == StatusCode::GONE => ToolError(
                "this Jira has removed that API; if it is Data Center or Server, set JIRA_DEPLOYMENT=datacenter".to_owned(),
            ),
            _ => ToolError(failure.to_string()),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ToolError> {
        self.rest
            .get(path, query)
            .await
            .map(|r| r.body)
            .map_err(|f| self.fail(f))
    }

    async fn send(&self, method: Method, path: &str, body: &Value) -> Result<Value, ToolError> {
        self.rest
            .send(method, path, &[], Some(body))
            .await
            .map(|r| r.body)
            .map_err(|f| self.fail(f))
    }
}

const ISSUE: &str = "An issue key (ENG-12) or id.";

fn specs() -> Vec<ToolSpec> {
    let issue_out = json!({"type": "object", "required": ["issue"], "properties": {"issue": {"type": "object"}}});
    vec![
        ToolSpec {
            name: "search_issues",
            title: "Search Jira issues with JQL",
            description: "Finds Jira issues with a JQL query, e.g. `project = ENG AND status != Done ORDER BY updated DESC` or `text ~ \"checkout\" AND created >= -7d`. The query must be bounded (name a project, a date, an assignee…). Returns key, summary, status, type, priority, assignee, labels and dates.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["jql"], "properties": {
                "jql": {"type": "string", "minLength": 1},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                "cursor": {"type": "string", "description": "next_cursor from a previous call."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["issues"], "properties": {
                    "issues": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": ["string", "null"]}
                }}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "get_issue",
            title: "Get a Jira issue",
            description: "Reads one Jira issue: its fields, description (as text) and latest comments.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue"], "properties": {
                "issue": {"type": "string", "description": ISSUE},
                "comments": {"type": "integer", "minimum": 0, "maximum": 50, "default": 5, "description": "How many of the latest comments."}
            }}),
            output: Some(issue_out.clone()),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "create_issue",
            title: "Create a Jira issue",
            description: "Creates a Jira issue. The description is Markdown (headings, lists, code, links), converted to Jira's rich text on Jira Cloud (on Data Center it is kept as written, in wiki markup). list_issue_types gives a project's issue types.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["project", "summary"], "properties": {
                "project": {"type": "string", "description": "The project's key, e.g. ENG."},
                "summary": {"type": "string", "minLength": 1, "maxLength": 254},
                "issue_type": {"type": "string", "default": "Task", "description": "Bug, Task, Story… (a name from list_issue_types)."},
                "description": {"type": "string", "description": "Markdown."},
                "labels": {"type": "array", "items": {"type": "string", "pattern": "^\\S+$"}},
                "priority": {"type": "string", "description": "Highest, High, Medium, Low, Lowest (as the site names them)."},
                "assignee": {"type": "string", "description": "An account id (Cloud) or username (Data Center)."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["key"], "properties": {
                    "key": {"type": "string"}, "id": {"type": "string"}, "url": {"type": "string"}
                }}),
            ),
            effect: Effect::Adds,
        },
        ToolSpec {
            name: "update_issue",
            title: "Update a Jira issue's fields",
            description: "Changes a Jira issue's summary, description (Markdown), priority, or labels (replace them, or add and remove some). Status changes go through transition_issue.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue"], "properties": {
                "issue": {"type": "string", "description": ISSUE},
                "summary": {"type": "string", "minLength": 1, "maxLength": 254},
                "description": {"type": "string", "description": "Markdown; replaces the description."},
                "priority": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}, "description": "The new labels (replacing all)."},
                "add_labels": {"type": "array", "items": {"type": "string"}},
                "remove_labels": {"type": "array", "items": {"type": "string"}}
            }}),
            output: Some(issue_out.clone()),
            effect: Effect::Changes { idempotent: true },
        },
        ToolSpec {
            name: "add_comment",
            title: "Comment on a Jira issue",
            description: "Adds a comment (Markdown) to a Jira issue.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue", "body"], "properties": {
                "issue": {"type": "string", "description": ISSUE},
                "body": {"type": "string", "minLength": 1, "description": "Markdown."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "created": {"type": ["string", "null"]}}}),
            ),
            effect: Effect::Adds,
        },
        ToolSpec {
            name: "list_transitions",
            title: "List a Jira issue's transitions",
            description: "Lists the workflow transitions a Jira issue can take now (id, name, the status it leads to).",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue"], "properties": {
                "issue": {"type": "string", "description": ISSUE}
            }}),
            output: Some(
                json!({"type": "object", "required": ["transitions"], "properties": {"transitions": {"type": "array", "items": {"type": "object"}}}}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "transition_issue",
            title: "Move a Jira issue through its workflow",
            description: "Applies a transition to a Jira issue, by the transition's id or name (\"Start Progress\") or the status it leads to (\"In Progress\").",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue", "transition"], "properties": {
                "issue": {"type": "string", "description": ISSUE},
                "transition": {"type": "string", "description": "A transition id, a transition name or a target status name."}
            }}),
            output: Some(issue_out.clone()),
            effect: Effect::Changes { idempotent: false },
        },
        ToolSpec {
            name: "assign_issue",
            title: "Assign a Jira issue",
            description: "Assigns a Jira issue to a user (account id on Cloud, username on Data Center), or unassigns it with an empty assignee.",
            input: json!({"type": "object", "additionalProperties": false, "required": ["issue", "assignee"], "properties": {
                "issue": {"type": "string", "description": ISSUE},
                "assignee": {"type": "string"}
            }}),
            output: Some(issue_out),
            effect: Effect::Changes { idempotent: true },
        },
        ToolSpec {
            name: "list_projects",
            title: "List Jira projects",
            description: "Lists the Jira projects the account can see (key, name, type), optionally matching a query.",
            input: json!({"type": "object", "additionalProperties": false, "properties": {
                "query": {"type": "string"},
                "cursor": {"type": "string", "description": "next_cursor from a previous call."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["projects"], "properties": {
                    "projects": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": ["string", "null"]}
                }}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "list_issue_types",
            title: "List a Jira project's issue types",
            description: "Lists the issue types issues can be created with in a project (id, name, whether a subtask).",
            input: json!({"type": "object", "additionalProperties": false, "required": ["project"], "properties": {
                "project": {"type": "string", "description": "The project's key."}
            }}),
            output: Some(
                json!({"type": "object", "required": ["issue_types"], "properties": {"issue_types": {"type": "array", "items": {"type": "object"}}}}),
            ),
            effect: Effect::Reads,
        },
        ToolSpec {
            name: "list_fields",
            title: "List Jira fields",
            description: "Lists Jira's fields (id, name, whether custom, type), to find a custom field's id; optionally those whose name contains a query.",
            input: json!({"type": "object", "additionalProperties": false, "properties": {
                "query": {"type": "string"}
            }}),
            output: Some(
                json!({"type": "object", "required": ["fields"], "properties": {"fields": {"type": "array", "items": {"type": "object"}}}}),
            ),
            effect: Effect::Reads,
        },
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    jql: String,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetIssue {
    issue: String,
    comments: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    project: String,
    summary: String,
    issue_type: Option<String>,
    description: Option<String>,
    labels: Option<Vec<String>>,
    priority: Option<String>,
    assignee: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    issue: String,
    summary: Option<String>,
    description: Option<String>,
    priority: Option<String>,
    labels: Option<Vec<String>>,
    add_labels: Option<Vec<String>>,
    remove_labels: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Comment {
    issue: String,
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueOnly {
    issue: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transition {
    issue: String,
    transition: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    issue: String,
    assignee: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Projects {
    query: Option<String>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueTypes {
    project: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    query: Option<String>,
}

const SEARCH_FIELDS: &str =
    "summary,status,issuetype,priority,assignee,reporter,project,labels,created,updated";

fn project_key(project: &str) -> Result<String, ToolError> {
    let project = project.trim();
    if !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(project.to_ascii_uppercase())
    } else {
        Err(ToolError(format!(
            "`project` must be a project key like ENG, not {project:?}"
        )))
    }
}

impl JiraTools {
    async fn read(&self, key: &str, comments: usize) -> Result<Value, ToolError> {
        let issue = self.get(&format!("/issue/{key}"), &[]).await?;
        if !issue.is_object() {
            return Err(self.rest.unexpected("the issue is not an object").into());
        }
        Ok(json!({"issue": self.issue(&issue, comments)}))
    }

    async fn dispatch(&self, request: CallToolRequestParams) -> Result<Value, ToolError> {
        let args = request.arguments;
        match request.name.as_ref() {
            "search_issues" => {
                let a: Search = arguments(args)?;
                if a.jql.trim().is_empty() {
                    return Err(ToolError("`jql` is empty".to_owned()));
                }
                let limit = a.limit.unwrap_or(20).clamp(1, 100).to_string();
                let mut query = vec![
                    ("jql", a.jql),
                    ("maxResults", limit),
                    ("fields", SEARCH_FIELDS.to_owned()),
                ];
                let (path, next) = if self.cloud {
                    query.extend(a.cursor.map(|c| ("nextPageToken", c)));
                    ("/search/jql", None)
                } else {
                    let start: usize = match &a.cursor {
                        Some(c) => c.parse().map_err(|_| {
                            ToolError("`cursor` is not one this tool gave".to_owned())
                        })?,
                        None => 0,
                    };
                    query.push(("startAt", start.to_string()));
                    ("/search", Some(start))
                };
                let found = self.get(path, &query).await?;
                let issues = found["issues"]
                    .as_array()
                    .ok_or_else(|| self.rest.unexpected("the search answered no `issues`"))?;
                let summaries: Vec<Value> = issues.iter().map(|i| self.issue(i, 0)).collect();
                let next_cursor = match next {
                    None => found["nextPageToken"]
                        .as_str()
                        .filter(|_| found["isLast"] != true)
                        .map(str::to_owned),
                    Some(start) => {
                        let after = start + issues.len();
                        (!issues.is_empty()
                            && (after as u64) < found["total"].as_u64().unwrap_or(0))
                        .then(|| after.to_string())
                    }
                };
                Ok(json!({"issues": summaries, "next_cursor": next_cursor}))
            }
            "get_issue" => {
                let a: GetIssue = arguments(args)?;
                self.read(&issue_key(&a.issue)?, a.comments.unwrap_or(5).min(50))
                    .await
            }
            "create_issue" => {
                let a: Create = arguments(args)?;
                if a.summary.trim().is_empty() {
                    return Err(ToolError("`summary` is empty".to_owned()));
                }
                let mut fields = json!({
                    "project": {"key": project_key(&a.project)?},
                    "summary": a.summary.trim(),
                    "issuetype": {"name": a.issue_type.as_deref().unwrap_or("Task")},
                });
                if let Some(description) = &a.description {
                    fields["description"] = self.rich(description)?;
                }
                if let Some(labels) = a.labels {
                    if let Some(bad) = labels
                        .iter()
                        .find(|l| l.is_empty() || l.contains(char::is_whitespace))
                    {
                        return Err(ToolError(format!(
                            "labels cannot be empty or contain spaces: {bad:?}"
                        )));
                    }
                    fields["labels"] = json!(labels);
                }
                if let Some(priority) = a.priority {
                    fields["priority"] = json!({"name": priority});
                }
                if let Some(assignee) = a.assignee {
                    fields["assignee"] = if self.cloud {
                        json!({"accountId": assignee})
                    } else {
                        json!({"name": assignee})
                    };
                }
                let created = self
                    .send(Method::POST, "/issue", &json!({"fields": fields}))
                    .await?;
                let key = created["key"].clone();
                if !key.is_string() {
                    return Err(self.rest.unexpected("the created issue has no key").into());
                }
                Ok(json!({"key": key, "id": created["id"], "url": self.url(&key)}))
            }
            "update_issue" => {
                let a: Update = arguments(args)?;
                let key = issue_key(&a.issue)?;
                let mut fields = serde_json::Map::new();
                let mut update = serde_json::Map::new();
                if let Some(summary) = a.summary {
                    fields.insert("summary".into(), json!(summary));
                }
                if let Some(description) = &a.description {
                    fields.insert("description".into(), self.rich(description)?);
                }
                if let Some(priority) = a.priority {
                    fields.insert("priority".into(), json!({"name": priority}));
                }
                if a.labels.is_some() && (a.add_labels.is_some() || a.remove_labels.is_some()) {
                    return Err(ToolError(
                        "give `labels` (replacing all) or `add_labels`/`remove_labels`, not both"
                            .to_owned(),
                    ));
                }
                if let Some(labels) = a.labels {
                    fields.insert("labels".into(), json!(labels));
                }
                let mut changes: Vec<Value> = a
                    .add_labels
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| json!({"add": l}))
                    .collect();
                changes.extend(
                    a.remove_labels
                        .unwrap_or_default()
                        .into_iter()
                        .map(|l| json!({"remove": l})),
                );
                if !changes.is_empty() {
                    update.insert("labels".into(), json!(changes));
                }
                if fields.is_empty() && update.is_empty() {
                    return Err(ToolError(
                        "nothing to change: give summary, description, priority or labels"
                            .to_owned(),
                    ));
                }
                self.send(
                    Method::PUT,
                    &format!("/issue/{key}"),
                    &json!({"fields": fields, "update": update}),
                )
                .await?;
                self.read(&key, 0).await
            }
            "add_comment" => {
                let a: Comment = arguments(args)?;
                if a.body.trim().is_empty() {
                    return Err(ToolError("`body` is empty".to_owned()));
                }
                let key = issue_key(&a.issue)?;
                let comment = self
                    .send(
                        Method::POST,
                        &format!("/issue/{key}/comment"),
                        &json!({"body": self.rich(&a.body)?}),
                    )
                    .await?;
                Ok(json!({"id": comment["id"], "created": comment["created"]}))
            }
            "list_transitions" => {
                let a: IssueOnly = arguments(args)?;
                let key = issue_key(&a.issue)?;
                let found = self.get(&format!("/issue/{key}/transitions"), &[]).await?;
                let transitions: Vec<Value> = found["transitions"]
                    .as_array()
                    .map(|t| t.iter().map(|t| json!({"id": t["id"], "name": t["name"], "to": t["to"]["name"]})).collect())
                    .unwrap_or_default();
                Ok(json!({"transitions": transitions}))
            }
            "transition_issue" => {
                let a: Transition = arguments(args)?;
                let key = issue_key(&a.issue)?;
                let wanted = a.transition.trim();
                let found = self.get(&format!("/issue/{key}/transitions"), &[]).await?;
                let available = found["transitions"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let chosen = available
                    .iter()
                    .find(|t| t["id"] == wanted)
                    .or_else(|| {
                        available.iter().find(|t| {
                            t["name"]
                                .as_str()
                                .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
                        })
                    })
                    .or_else(|| {
                        available.iter().find(|t| {
                            t["to"]["name"]
                                .as_str()
                                .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
                        })
                    });
                let Some(chosen) = chosen else {
                    let names: Vec<String> = available
                        .iter()
                        .map(|t| {
                            format!(
                                "{} ({} → {})",
                                t["name"].as_str().unwrap_or("?"),
                                t["id"].as_str().unwrap_or("?"),
                                t["to"]["name"].as_str().unwrap_or("?")
                            )
                        })
                        .collect();
                    return Err(ToolError(format!(
                        "{key} has no transition {wanted:?} now; it can take: {}",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    )));
                };
                self.send(
                    Method::POST,
                    &format!("/issue/{key}/transitions"),
                    &json!({"transition": {"id": chosen["id"]}}),
                )
                .await?;
                self.read(&key, 0).await
            }
            "assign_issue" => {
                let a: Assign = arguments(args)?;
                let key = issue_key(&a.issue)?;
                let who = a.assignee.trim();
                let body = match (self.cloud, who.is_empty()) {
                    (true, true) => json!({"accountId": null}),
                    (true, false) => json!({"accountId": who}),
                    (false, true) => json!({"name": null}),
                    (false, false) => json!({"name": who}),
                };
                self.send(Method::PUT, &format!("/issue/{key}/assignee"), &body)
                    .await?;
                self.read(&key, 0).await
            }
            "list_projects" => {
                let a: Projects = arguments(args)?;
                let project = |p: &Value| json!({"key": p["key"], "name": p["name"], "id": p["id"], "type": p["projectTypeKey"]});
                if !self.cloud {
                    // Data Center lists every project at once.
                    let all = self.get("/project", &[]).await?;
                    let wanted = a.query.unwrap_or_default().to_lowercase();
                    let projects: Vec<Value> = all
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .filter(|p| {
                            wanted.is_empty()
                                || format!("{} {}", p["key"], p["name"])
                                    .to_lowercase()
                                    .contains(&wanted)
                        })
                        .map(project)
                        .collect();
                    return Ok(json!({"projects": projects, "next_cursor": null}));
                }
                let start: usize = match &a.cursor {
                    Some(c) => c
                        .parse()
                        .map_err(|_| ToolError("`cursor` is not one this tool gave".to_owned()))?,
                    None => 0,
                };
                let mut query = vec![
                    ("startAt", start.to_string()),
                    ("maxResults", "50".to_owned()),
                ];
                query.extend(a.query.map(|q| ("query", q)));
                let page = self.get("/project/search", &query).await?;
                let values = page["values"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let next = (page["isLast"] == false && !values.is_empty())
                    .then(|| (start + values.len()).to_string());
                Ok(
                    json!({"projects": values.iter().map(project).collect::<Vec<_>>(), "next_cursor": next}),
                )
            }
            "list_issue_types" => {
                let a: IssueTypes = arguments(args)?;
                let project = project_key(&a.project)?;
                let found = self
                    .get(&format!("/issue/createmeta/{project}/issuetypes"), &[])
                    .await?;
                // Cloud names the list `issueTypes`, Data Center `values`.
                let types = found
                    .get("issueTypes")
                    .or_else(|| found.get("values"))
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                Ok(
                    json!({"issue_types": types.iter().map(|t| json!({"id": t["id"], "name": t["name"], "subtask": t["subtask"]})).collect::<Vec<_>>()}),
                )
            }
            "list_fields" => {
                let a: Fields = arguments(args)?;
                let all = self.get("/field", &[]).await?;
                let wanted = a.query.unwrap_or_default().to_lowercase();
                let fields: Vec<Value> = all
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter(|f| wanted.is_empty() || f["name"].as_str().unwrap_or("").to_lowercase().contains(&wanted))
                    .map(|f| json!({"id": f["id"], "name": f["name"], "custom": f["custom"], "type": f["schema"]["type"]}))
                    .collect();
                Ok(json!({"fields": fields}))
            }
            other => Err(ToolError(format!("no tool {other:?}"))),
        }
    }
}

impl Toolset for JiraTools {
    const NAME: &'static str = "agenthub-mcp-jira";
    const INSTRUCTIONS: &'static str = "Jira tools: search_issues with JQL, get_issue to read one, create_issue (Markdown descriptions), add_comment, transition_issue to change status, assign_issue.";

    fn specs() -> Vec<ToolSpec> {
        specs()
    }

    async fn call(&self, request: CallToolRequestParams) -> Result<Value, ToolError> {
        self.dispatch(request).await
    }
}
