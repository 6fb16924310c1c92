//! Agents as MCP tools: every registered agent — or every skill of each, by
//! `a2a.agents_as_tools` — is also a tool of the MCP face (`/mcp`), so that an MCP-only client
//! can delegate to it. The MCP plane knows nothing of agents: the face publishes these as
//! extra tools of its gate (`agenthub_mcp_registry::extra`), and the hub's gate
//! (`crate::mcp`) answers their calls here.
//!
//! - **Names**: `a2a<separator><agent>`, or `a2a<separator><agent><separator><skill>`, made to
//!   fit MCP's alphabet and length like every published name. Their group is `a2a` and their
//!   name `<agent>` or `<agent>/<skill>`: that is what `mcp:a2a/<agent>` grants, usage records
//!   and virtual servers' patterns (`a2a/*`) name.
//! - **Who may**: the face asks for `mcp:a2a/<name>` (`list`, `call`) as for any tool; the gate
//!   adds `send` on `agent:<agent>`, so a caller sees only the agents it may send to.
//! - **A call** is one A2A exchange (`exchange::exchange`) made as the MCP caller: a v1.0
//!   SendMessage whose message is the `message` argument as one text part (with `contextId`
//!   and `taskId` when given), under the trace of the request's `_meta.traceparent` (or a new
//!   one), with its `x-agenthub-metadata`. The exchange does everything an A2A request gets:
//!   authorization again, the delegation chain (an agent calling as its principal may hand
//!   back the hub's grant in `_meta["agenthub/parent"]`), rate limits, budgets and guardrails
//!   of the A2A plane, signing, task ownership and the trace. The MCP plane's `before_call` and
//!   `after_call` are not run around it: the call would otherwise count twice against the
//!   same limits and be inspected twice.
//! - **The answer** becomes a tool result: the task's artifacts (or its status message, when
//!   it has none or did not complete) or the agent's message, as text; `structuredContent`
//!   with the agent, task and context ids, the task's state and the trace id; `isError` for a
//!   failed, rejected or canceled task and for A2A errors. Rate limits and agents that are gone
//!   are JSON-RPC errors, as for any tool.
//!
//! The tools are rebuilt when the agent directory changes, and clients are told only when the
//! tools themselves changed (a card read again unchanged tells no one).

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use agenthub_a2a_bus::chain::PARENT_METADATA_KEY;
use agenthub_a2a_bus::config::AgentsAsTools;
use agenthub_a2a_bus::protocol::{
    A2aError, ErrorKind as A2aErrorKind, Method, ProtocolVersion, TaskState, access,
};
use agenthub_a2a_bus::registry::{Agent, AgentRegistry, Directory};
use agenthub_mcp_registry::calls::{CallFailure, Outcome};
use agenthub_mcp_registry::extra::{ExtraTool, ExtraTools};
use agenthub_mcp_registry::face::{LIMITED, UPSTREAM_FAILED};
use agenthub_mcp_registry::names;
use agenthub_policy::ErrorKind;
use agenthub_policy::authz::{Action, Subjects};
use arc_swap::ArcSwap;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, RequestMetaObject, Tool};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::exchange::{self, Answer, BLOCKED_CODE, ClientRequest, FORBIDDEN_CODE, Failure};
use super::traces::{TraceContext, event_id};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::Error;

/// The group of the agents' tools: the `<server>` of `mcp:<server>/<tool>` and of records.
pub const GROUP: &str = "a2a";

/// The input schema every agent's tool shares (one value, so it is compiled once).
static INPUT_SCHEMA: LazyLock<Arc<JsonObject>> = LazyLock::new(|| {
    let Value::Object(schema) = json!({
        "type": "object",
        "properties": {
            "message": {
                "type": "string",
                "description": "What to tell or ask the agent: sent as the text of an A2A message.",
            },
            "contextId": {
                "type": "string",
                "description": "Continue the conversation of an earlier answer (its structuredContent.contextId).",
            },
            "taskId": {
                "type": "string",
                "description": "Continue the task of an earlier answer, e.g. one waiting for input (its structuredContent.taskId).",
            },
        },
        "required": ["message"],
        "additionalProperties": false,
    }) else {
        unreachable!("the schema is an object")
    };
    Arc::new(schema)
});

/// The agents' tools in force, rebuilt as the agent directory changes.
pub struct AgentTools {
    shared: Arc<Shared>,
    /// Follows the directory; `None` when the agents are not tools.
    follower: Option<JoinHandle<()>>,
}

struct Shared {
    mode: AgentsAsTools,
    separator: String,
    tools: ArcSwap<ExtraTools>,
    /// Counts changes of `tools`.
    changes: watch::Sender<u64>,
}

impl Shared {
    /// Rebuilds the tools from `directory`; counts a change if they differ.
    fn rebuild(&self, directory: &Directory) {
        let tools = build(directory, self.mode, &self.separator);
        if **self.tools.load() != tools {
            self.tools.store(Arc::new(tools));
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

impl AgentTools {
    /// The tools of `registry`'s agents as `mode` says, named with `separator`
    /// (`mcp.separator`), and kept up to date (inside a Tokio runtime).
    pub fn start(registry: &AgentRegistry, mode: AgentsAsTools, separator: &str) -> Self {
        let shared = Arc::new(Shared {
            mode,
            separator: separator.to_owned(),
            tools: ArcSwap::from_pointee(ExtraTools::default()),
            changes: watch::Sender::new(0),
        });
        if mode == AgentsAsTools::Off {
            return Self {
                shared,
                follower: None,
            };
        }
        let mut changes = registry.changes();
        changes.borrow_and_update();
        shared.rebuild(&registry.directory());
        let follower = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let registry = registry.clone();
            let shared = shared.clone();
            runtime.spawn(async move {
                while changes.changed().await.is_ok() {
                    shared.rebuild(&registry.directory());
                }
            })
        });
        Self { shared, follower }
    }

    /// The tools now.
    pub fn tools(&self) -> Arc<ExtraTools> {
        self.shared.tools.load_full()
    }

    /// Counts the changes of [`tools`](Self::tools); `None` when they never change.
    pub fn changes(&self) -> Option<watch::Receiver<u64>> {
        self.follower
            .as_ref()
            .map(|_| self.shared.changes.subscribe())
    }
}

impl Drop for AgentTools {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

/// The tools of the agents in `directory`, in name order (and each agent's skills in its
/// card's order).
fn build(directory: &Directory, mode: AgentsAsTools, separator: &str) -> ExtraTools {
    let tools = directory.iter().flat_map(|agent| -> Vec<ExtraTool> {
        match mode {
            AgentsAsTools::Off => Vec::new(),
            AgentsAsTools::Agent => vec![agent_tool(agent, separator)],
            AgentsAsTools::Skill => agent
                .card
                .skills
                .iter()
                .map(|skill| {
                    let published = names::publish(
                        GROUP,
                        separator,
                        &format!("{}{separator}{}", agent.name, skill.id),
                    );
                    let mut description = skill.description.clone();
                    if !skill.examples.is_empty() {
                        description.push_str("\n\nExamples:");
                        for example in &skill.examples {
                            description.push_str("\n- ");
                            description.push_str(example);
                        }
                    }
                    description.push_str(&format!(
                        "\n\n(A skill of the A2A agent {}: {})",
                        agent.card.name, agent.card.description
                    ));
                    ExtraTool {
                        server: GROUP.to_owned(),
                        name: format!("{}/{}", agent.name, skill.id),
                        tool: Tool::new(published, description, INPUT_SCHEMA.clone())
                            .with_title(skill.name.clone()),
                    }
                })
                .collect(),
        }
    });
    ExtraTools::new(tools)
}

/// The one tool of `agent`: described by its card, skills listed.
fn agent_tool(agent: &Agent, separator: &str) -> ExtraTool {
    let mut description = agent.card.description.clone();
    if !agent.card.skills.is_empty() {
        description.push_str("\n\nSkills:");
        for skill in &agent.card.skills {
            description.push_str(&format!(
                "\n- {} ({}): {}",
                skill.name, skill.id, skill.description
            ));
        }
    }
    ExtraTool {
        server: GROUP.to_owned(),
        name: agent.name.clone(),
        tool: Tool::new(
            names::publish(GROUP, separator, &agent.name),
            description,
            INPUT_SCHEMA.clone(),
        )
        .with_title(agent.card.name.clone()),
    }
}

/// The agent a tool reaches (its name within the group is `<agent>` or `<agent>/<skill>`;
/// agent names have no `/`).
fn agent_of(tool: &ExtraTool) -> &str {
    tool.name
        .split_once('/')
        .map_or(tool.name.as_str(), |(agent, _)| agent)
}

/// Whether `caller` may send to the agent `tool` reaches.
pub fn may_send(caller: &Caller, subjects: &Subjects, tool: &ExtraTool) -> bool {
    super::may(
        caller,
        subjects,
        &caller.identity,
        agent_of(tool),
        Action::Send,
    )
}

/// What an MCP tool call carries into its exchange besides the tool and its arguments.
pub struct ToolCaller<'a> {
    pub caller: &'a Caller,
    /// The request's `x-agenthub-metadata`.
    pub metadata: Arc<BTreeMap<String, String>>,
    /// Where clients reach the hub.
    pub base_url: String,
}

/// Answers a call of the agent's tool `tool` with one A2A exchange made as the caller.
pub async fn call(
    state: &AppState,
    from: ToolCaller<'_>,
    tool: &ExtraTool,
    arguments: JsonObject,
    meta: Option<RequestMetaObject>,
) -> Result<(CallToolResult, Outcome), CallFailure> {
    let agent = agent_of(tool);
    let trace = TraceContext::continue_from(meta.as_ref().and_then(|m| m.get_traceparent()));
    let message_id = event_id();
    let mut message = Map::new();
    message.insert("messageId".into(), message_id.clone().into());
    message.insert("role".into(), "ROLE_USER".into());
    let text = arguments
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    message.insert("parts".into(), json!([{"text": text}]));
    for key in ["contextId", "taskId"] {
        if let Some(id) = arguments
            .get(key)
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
        {
            message.insert(key.into(), id.into());
        }
    }
    // An agent calling as its principal hands back the hub's grant, as over A2A (the exchange
    // checks it, and drops it from anyone else).
    if let Some(parent) = meta.as_ref().and_then(|m| m.0.get(PARENT_METADATA_KEY)) {
        message.insert(
            "metadata".into(),
            json!({ PARENT_METADATA_KEY: parent.clone() }),
        );
    }
    let request = ClientRequest {
        target: agent.to_owned(),
        method: Method::SendMessage,
        version: ProtocolVersion::V1_0,
        params: json!({ "message": message }),
        id: Value::String(message_id),
        trace: trace.clone(),
        extensions: None,
        metadata: from.metadata,
        base_url: from.base_url,
    };
    match exchange::exchange(state, from.caller, request).await {
        Ok(Answer::Result(result)) => Ok(answered(agent, &result, &trace.trace_id)),
        // SendMessage is answered whole, never streamed.
        Ok(Answer::Events(_)) => Err(CallFailure {
            outcome: Outcome::UpstreamFailed,
            error: ErrorData::new(
                UPSTREAM_FAILED,
                format!("the agent {agent} answered with a stream"),
                None,
            ),
        }),
        Err(Failure::A2a(error)) => Ok(a2a_error(agent, &error, &trace.trace_id)),
        Err(Failure::Hub(error)) => Err(refused(&tool.tool.name, agent, &error)),
    }
}

/// A SendMessage result (v1.0: `{"task": …}` or `{"message": …}`) as a tool result.
fn answered(agent: &str, result: &Value, trace_id: &str) -> (CallToolResult, Outcome) {
    let version = ProtocolVersion::V1_0;
    let state = access::event_state(version, result);
    let mut texts = Vec::new();
    if let Some(task) = result.get("task") {
        for artifact in task
            .get("artifacts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            texts.extend(part_texts(artifact));
        }
        let status_message = task.get("status").and_then(|s| s.get("message"));
        if texts.is_empty() || state != Some(TaskState::Completed) {
            texts.extend(status_message.into_iter().flat_map(part_texts));
        }
    } else if let Some(message) = result.get("message") {
        texts.extend(part_texts(message));
    }
    if texts.is_empty() {
        texts.push(match state {
            Some(state) => format!("the agent's task is {}", state.v1_name()),
            None => "the agent answered with no text".to_owned(),
        });
    }
    let mut structured = Map::new();
    structured.insert("agent".into(), agent.into());
    if let Some(id) = access::event_task_id(version, result) {
        structured.insert("taskId".into(), id.into());
    }
    if let Some(id) = access::event_context_id(version, result) {
        structured.insert("contextId".into(), id.into());
    }
    if let Some(state) = state {
        structured.insert("state".into(), state.v1_name().into());
    }
    structured.insert("traceId".into(), trace_id.into());
    let failed = matches!(
        state,
        Some(TaskState::Failed | TaskState::Rejected | TaskState::Canceled)
    );
    let content = texts.into_iter().map(ContentBlock::text).collect();
    let mut tool_result = if failed {
        CallToolResult::error(content)
    } else {
        CallToolResult::success(content)
    };
    tool_result.structured_content = Some(Value::Object(structured));
    let outcome = if failed {
        Outcome::ToolError
    } else {
        Outcome::Ok
    };
    (tool_result, outcome)
}

/// What a message's or artifact's parts say: texts as they are, data as JSON, files by their
/// URL (or name, when sent inline).
fn part_texts(holder: &Value) -> Vec<String> {
    let parts = holder.get("parts").and_then(Value::as_array);
    parts
        .into_iter()
        .flatten()
        .filter_map(|part| {
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                return Some(text.to_owned());
            }
            if let Some(data) = part.get("data") {
                return serde_json::to_string(data).ok();
            }
            let name = part.get("filename").and_then(Value::as_str);
            if let Some(url) = part.get("url").and_then(Value::as_str) {
                return Some(match name {
                    Some(name) => format!("{name}: {url}"),
                    None => url.to_owned(),
                });
            }
            part.get("raw")
                .map(|_| format!("(a file, {}, not shown)", name.unwrap_or("unnamed")))
        })
        .collect()
}

/// An A2A error (the agent's, or the hub's refusal in A2A terms) as an error result.
fn a2a_error(agent: &str, error: &A2aError, trace_id: &str) -> (CallToolResult, Outcome) {
    let code = error.kind.code();
    let outcome = match error.kind {
        _ if code == BLOCKED_CODE => Outcome::RefusedByGuardrail,
        _ if code == FORBIDDEN_CODE => Outcome::RefusedByPolicy,
        A2aErrorKind::Internal | A2aErrorKind::InvalidAgentResponse => Outcome::UpstreamFailed,
        _ => Outcome::ToolError,
    };
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
        "the A2A agent {agent} could not answer: {} (A2A error {code})",
        error.message
    ))]);
    result.structured_content = Some(json!({
        "agent": agent,
        "error": {"code": code, "message": error.message},
        "traceId": trace_id,
    }));
    (result, outcome)
}

/// The hub's own refusal of the exchange, as the face answers refusals of any tool call.
fn refused(tool: &str, agent: &str, error: &Error) -> CallFailure {
    let (outcome, error) = match error.kind() {
        ErrorKind::RateLimited => (
            Outcome::RefusedByLimit,
            ErrorData::new(
                LIMITED,
                error.message().to_owned(),
                serde_json::to_value(error.limit_facts()).ok(),
            ),
        ),
        // The agent is gone, or the caller may not reach it after all: an unknown tool.
        ErrorKind::NotFound | ErrorKind::Forbidden => (
            Outcome::RefusedByPolicy,
            ErrorData::invalid_params(format!("unknown tool: {tool}"), None),
        ),
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => (
            Outcome::InvalidArguments,
            ErrorData::invalid_params(format!("{tool}: {}", error.message()), None),
        ),
        ErrorKind::UpstreamTimeout => (
            Outcome::Timeout,
            ErrorData::new(
                UPSTREAM_FAILED,
                format!("the A2A agent {agent} did not answer in time"),
                None,
            ),
        ),
        kind => {
            if kind == ErrorKind::Internal {
                tracing::error!(error = %error, agent, "an agent's tool call failed");
            }
            (
                Outcome::UpstreamFailed,
                ErrorData::new(
                    UPSTREAM_FAILED,
                    format!(
                        "the A2A agent {agent} cannot be reached now: {}",
                        error.message()
                    ),
                    None,
                ),
            )
        }
    };
    CallFailure { outcome, error }
}

/// Where clients reach the hub: the configured public URL, else the MCP request's host.
pub fn base_url(state: &AppState, host: Option<&str>) -> String {
    if let Some(base) = state.config.snapshot().auth.public_base() {
        return base.to_owned();
    }
    format!("http://{}", host.unwrap_or("localhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completed_task_answers_with_its_artifacts() {
        let result = json!({"task": {
            "id": "t1", "contextId": "c1",
            "status": {"state": "TASK_STATE_COMPLETED", "message": {"parts": [{"text": "done"}]}},
            "artifacts": [{"artifactId": "a", "parts": [{"text": "hello"}, {"data": {"n": 1}}]}],
        }});
        let (result, outcome) = answered("echo", &result, "abc");
        assert_eq!(outcome, Outcome::Ok);
        assert_eq!(result.is_error, Some(false));
        let texts: Vec<&str> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
            .collect();
        assert_eq!(texts, ["hello", "{\"n\":1}"]);
        assert_eq!(
            result.structured_content,
            Some(json!({"agent": "echo", "taskId": "t1", "contextId": "c1",
                        "state": "TASK_STATE_COMPLETED", "traceId": "abc"}))
        );
    }

    #[test]
    fn a_failed_or_waiting_task_says_why_and_only_failure_is_an_error() {
        for (state, error) in [
            ("TASK_STATE_FAILED", true),
            ("TASK_STATE_REJECTED", true),
            ("TASK_STATE_CANCELED", true),
            ("TASK_STATE_INPUT_REQUIRED", false),
        ] {
            let result = json!({"task": {"id": "t", "contextId": "c",
                "status": {"state": state, "message": {"parts": [{"text": "why"}]}}}});
            let (result, outcome) = answered("a", &result, "x");
            assert_eq!(result.is_error, Some(error), "{state}");
            assert_eq!(outcome == Outcome::ToolError, error, "{state}");
            assert_eq!(result.content[0].as_text().unwrap().text, "why");
            assert_eq!(result.structured_content.unwrap()["state"], state);
        }
    }

    #[test]
    fn a_message_answers_with_its_text() {
        let result = json!({"message": {"messageId": "m", "role": "ROLE_AGENT", "contextId": "c",
            "parts": [{"text": "hi"}, {"url": "https://x/y.pdf", "filename": "y.pdf"}]}});
        let (result, outcome) = answered("a", &result, "x");
        assert_eq!(outcome, Outcome::Ok);
        let texts: Vec<&str> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
            .collect();
        assert_eq!(texts, ["hi", "y.pdf: https://x/y.pdf"]);
        let structured = result.structured_content.unwrap();
        assert_eq!(structured["contextId"], "c");
        assert!(structured.get("state").is_none());
    }

    #[test]
    fn tools_reach_the_agent_before_the_first_slash() {
        let tool = |name: &str| ExtraTool {
            server: GROUP.into(),
            name: name.into(),
            tool: Tool::new("x", "", INPUT_SCHEMA.clone()),
        };
        assert_eq!(agent_of(&tool("planner")), "planner");
        assert_eq!(agent_of(&tool("planner/plan/trip")), "planner");
    }
}
