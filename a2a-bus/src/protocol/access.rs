//! Reading what the relay needs out of params, results and stream events without converting
//! them: task and context ids, the message, the state and whether a stream is over, and the
//! texts guardrails inspect. Everything here takes the JSON-RPC form of the given version.

use serde_json::Value;

use crate::card::ProtocolVersion;

use super::convert::stream_member;
use super::errors::A2aError;
use super::methods::{Method, TaskIdAt};
use super::state::TaskState;

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The message a SendMessage request carries.
pub fn params_message(method: Method, params: &Value) -> Option<&Value> {
    match method {
        Method::SendMessage | Method::SendStreamingMessage => params.get("message"),
        _ => None,
    }
}

/// The message a SendMessage request carries, for inspection in place.
pub fn params_message_mut(method: Method, params: &mut Value) -> Option<&mut Value> {
    match method {
        Method::SendMessage | Method::SendStreamingMessage => params.get_mut("message"),
        _ => None,
    }
}

/// The task a request is about: the id field of task operations, `message.taskId` of a
/// SendMessage that continues a task; `None` otherwise.
pub fn params_task_id(method: Method, version: ProtocolVersion, params: &Value) -> Option<&str> {
    match method.task_id_at(version) {
        TaskIdAt::Nowhere => None,
        TaskIdAt::MessageTaskId => params_message(method, params).and_then(|m| str_of(m, "taskId")),
        TaskIdAt::Field(field) => str_of(params, field),
    }
}

/// The context a request names: `message.contextId` of a SendMessage, the `contextId` filter
/// of ListTasks.
pub fn params_context_id(method: Method, params: &Value) -> Option<&str> {
    match method {
        Method::SendMessage | Method::SendStreamingMessage => {
            params_message(method, params).and_then(|m| str_of(m, "contextId"))
        }
        Method::ListTasks => str_of(params, "contextId"),
        _ => None,
    }
}

fn invalid(message: String) -> A2aError {
    A2aError::invalid_params().with_message(message)
}

/// The task id an operation cannot go without, or the `InvalidParams` error to answer.
pub fn require_task_id(
    method: Method,
    version: ProtocolVersion,
    params: &Value,
) -> Result<&str, A2aError> {
    match method.task_id_at(version) {
        TaskIdAt::Field(field) => {
            str_of(params, field).ok_or_else(|| invalid(format!("params.{field} is required")))
        }
        _ => Err(invalid(format!("{method} is not about one task"))),
    }
}

/// The minimum a request needs before the hub acts on it: an object; SendMessage a message
/// with `messageId`, `role` and `parts`; task operations their task id; push-config
/// operations their config id (v0.3's get may omit it) and a create its `url`. Deeper checks
/// are the agent's.
pub fn check_params(
    method: Method,
    version: ProtocolVersion,
    params: &Value,
) -> Result<(), A2aError> {
    if !params.is_object() {
        return Err(invalid("params must be an object".into()));
    }
    if matches!(method, Method::SendMessage | Method::SendStreamingMessage) {
        let message = params
            .get("message")
            .filter(|message| message.is_object())
            .ok_or_else(|| invalid("params.message is required".into()))?;
        for field in ["messageId", "role"] {
            if str_of(message, field).is_none() {
                return Err(invalid(format!("params.message.{field} is required")));
            }
        }
        if !message.get("parts").is_some_and(Value::is_array) {
            return Err(invalid("params.message.parts must be an array".into()));
        }
    }
    if method.requires_task_id() {
        require_task_id(method, version, params)?;
    }
    let config_id = match version {
        ProtocolVersion::V1_0 => "id",
        ProtocolVersion::V0_3 => "pushNotificationConfigId",
    };
    let needs_config_id = method == Method::DeleteTaskPushNotificationConfig
        || (method == Method::GetTaskPushNotificationConfig && version == ProtocolVersion::V1_0);
    if needs_config_id && str_of(params, config_id).is_none() {
        return Err(invalid(format!("params.{config_id} is required")));
    }
    if method == Method::CreateTaskPushNotificationConfig {
        let config = match version {
            ProtocolVersion::V1_0 => Some(params),
            ProtocolVersion::V0_3 => params.get("pushNotificationConfig"),
        };
        if config.and_then(|config| str_of(config, "url")).is_none() {
            let at = match version {
                ProtocolVersion::V1_0 => "url",
                ProtocolVersion::V0_3 => "pushNotificationConfig.url",
            };
            return Err(invalid(format!("params.{at} is required")));
        }
    }
    Ok(())
}

/// What a result or event is about: the Task, Message or update inside it, and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload<'a> {
    Task(&'a Value),
    Message(&'a Value),
    StatusUpdate(&'a Value),
    ArtifactUpdate(&'a Value),
}

/// A v1.0 StreamResponse/SendMessage result, or a v0.3 Task/Message/update event.
fn payload(version: ProtocolVersion, event: &Value) -> Option<Payload<'_>> {
    match version {
        ProtocolVersion::V1_0 => {
            let (member, inner) = stream_member(event.as_object()?)?;
            Some(match member {
                "task" => Payload::Task(inner),
                "message" => Payload::Message(inner),
                "statusUpdate" => Payload::StatusUpdate(inner),
                _ => Payload::ArtifactUpdate(inner),
            })
        }
        ProtocolVersion::V0_3 => Some(match str_of(event, "kind") {
            Some("task") => Payload::Task(event),
            Some("message") => Payload::Message(event),
            Some("status-update") => Payload::StatusUpdate(event),
            Some("artifact-update") => Payload::ArtifactUpdate(event),
            _ if event.get("messageId").is_some() => Payload::Message(event),
            _ if event.get("artifact").is_some() => Payload::ArtifactUpdate(event),
            _ if event.get("taskId").is_some() => Payload::StatusUpdate(event),
            _ if event.get("status").is_some() => Payload::Task(event),
            _ => return None,
        }),
    }
}

/// The task a stream event (or SendMessage result) is about.
pub fn event_task_id(version: ProtocolVersion, event: &Value) -> Option<&str> {
    match payload(version, event)? {
        Payload::Task(task) => str_of(task, "id"),
        Payload::Message(inner) | Payload::StatusUpdate(inner) | Payload::ArtifactUpdate(inner) => {
            str_of(inner, "taskId")
        }
    }
}

/// The context of a stream event (or SendMessage result).
pub fn event_context_id(version: ProtocolVersion, event: &Value) -> Option<&str> {
    let (Payload::Task(inner)
    | Payload::Message(inner)
    | Payload::StatusUpdate(inner)
    | Payload::ArtifactUpdate(inner)) = payload(version, event)?;
    str_of(inner, "contextId")
}

/// The task's state a stream event (or SendMessage result) reports, if it reports one.
pub fn event_state(version: ProtocolVersion, event: &Value) -> Option<TaskState> {
    let (Payload::Task(inner) | Payload::StatusUpdate(inner)) = payload(version, event)? else {
        return None;
    };
    let state = inner.get("status").and_then(|status| status.get("state"));
    match state.and_then(Value::as_str) {
        Some(name) => TaskState::parse(version, name),
        // v1.0 leaves TASK_STATE_UNSPECIFIED out.
        None => Some(TaskState::Unknown),
    }
}

/// Whether a stream event is the last one: v0.3 says so (`final: true`); v1.0 has no flag and
/// its status update in a terminal state is the last. In both, a Task in a terminal state and
/// a Message (an answer without a task) end the stream. A v1.0 stream also ends after an
/// interrupted state (see [`event_state`]), which v0.3's `final` does not mark (a2a-sdk sets
/// it for terminal states only).
pub fn is_final_event(version: ProtocolVersion, event: &Value) -> bool {
    let Some(payload) = payload(version, event) else {
        return false;
    };
    match payload {
        Payload::Message(_) => true,
        Payload::ArtifactUpdate(_) => false,
        Payload::StatusUpdate(inner) if version == ProtocolVersion::V0_3 => {
            inner.get("final").and_then(Value::as_bool) == Some(true)
        }
        Payload::StatusUpdate(_) | Payload::Task(_) => {
            event_state(version, event).is_some_and(TaskState::is_terminal)
        }
    }
}

/// The task a non-streaming result is about (SendMessage: the task or the message's `taskId`;
/// GetTask, CancelTask: the task; push configs: their `taskId`).
pub fn result_task_id(method: Method, version: ProtocolVersion, result: &Value) -> Option<&str> {
    match method {
        Method::SendMessage | Method::SendStreamingMessage | Method::SubscribeToTask => {
            event_task_id(version, result)
        }
        Method::GetTask | Method::CancelTask => str_of(result, "id"),
        Method::CreateTaskPushNotificationConfig | Method::GetTaskPushNotificationConfig => {
            str_of(result, "taskId")
        }
        _ => None,
    }
}

/// The context a non-streaming result is about.
pub fn result_context_id(method: Method, version: ProtocolVersion, result: &Value) -> Option<&str> {
    match method {
        Method::SendMessage | Method::SendStreamingMessage | Method::SubscribeToTask => {
            event_context_id(version, result)
        }
        Method::GetTask | Method::CancelTask => str_of(result, "contextId"),
        _ => None,
    }
}

/// The texts of a message's or artifact's parts (in both versions a text part is the one with
/// a string `text`).
pub fn part_texts(holder: &Value) -> impl Iterator<Item = &str> {
    holder
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
}

/// Every text part anywhere in a params, result or event document: messages, status
/// messages, artifacts, task history. Metadata and data parts are not looked into (their
/// strings are not message text; guardrails that want them walk the whole value).
pub fn texts(value: &Value) -> Vec<&str> {
    fn walk<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(object) => {
                for (key, inner) in object {
                    match (key.as_str(), inner) {
                        ("metadata" | "data", _) => {}
                        ("parts", Value::Array(parts)) => {
                            out.extend(
                                parts
                                    .iter()
                                    .filter_map(|part| part.get("text").and_then(Value::as_str)),
                            );
                        }
                        _ => walk(inner, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

/// [`texts`], each offered to `f` for rewriting in place (redaction).
pub fn for_each_text_mut(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                match (key.as_str(), inner) {
                    ("metadata" | "data", _) => {}
                    ("parts", Value::Array(parts)) => {
                        for part in parts {
                            if let Some(Value::String(text)) = part.get_mut("text") {
                                f(text);
                            }
                        }
                    }
                    (_, inner) => for_each_text_mut(inner, f),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| for_each_text_mut(item, f)),
        _ => {}
    }
}
