//! v0.3 ⇄ v1.0 conversion of what the JSON-RPC binding carries: request params, results and
//! stream events, per method. Both sides are in their JSON-RPC form (the REST binding's bodies
//! are mapped to and from that form by `rest`), so a relay converts in three steps: client
//! binding → client version's JSON-RPC form → agent version's → agent binding.
//!
//! The rules are a2a-sdk 1.3.0's v0.3 compatibility layer (`a2a/compat/v0_3/conversions.py`),
//! which is how the reference SDK serves v0.3 clients; each rule's doc names the function it
//! follows. Fixtures made by running those functions (`tests/data/protocol/sdk_*.json`, made
//! by `generate.py` there) check that the output is theirs. Where this differs on purpose:
//! fields no rule names are kept where they are (a2a-sdk's models drop them); timestamps and
//! base64 strings are passed through unchanged (a2a-sdk re-encodes them, which only changes
//! their spelling); `tenant` is dropped on the way to v0.3.
//!
//! Everything is rewritten in place in the `Value` given, which is moved in and out: no
//! document is copied.

mod card;
mod objects;
mod params;
mod push;

use serde_json::Value;

use crate::card::ProtocolVersion;

use super::errors::A2aError;
use super::json::Invalid;
use super::methods::Method;

pub(crate) use objects::stream_member;

/// A2A objects that can be converted on their own (the relay converts params, results and
/// events; these are for push notifications, tests and tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Part,
    Message,
    Task,
    Artifact,
    /// v0.3 TaskStatusUpdateEvent ⇄ the v1.0 `statusUpdate` payload (not its wrapper).
    StatusUpdate,
    /// v0.3 TaskArtifactUpdateEvent ⇄ the v1.0 `artifactUpdate` payload.
    ArtifactUpdate,
    /// A v0.3 Task/Message/update event (with `kind`) ⇄ a v1.0 StreamResponse.
    StreamEvent,
    /// v0.3 MessageSendConfiguration ⇄ v1.0 SendMessageConfiguration.
    SendConfiguration,
    /// v0.3 TaskPushNotificationConfig ⇄ v1.0 TaskPushNotificationConfig.
    TaskPushConfig,
    /// The agent card (the GetExtendedAgentCard result).
    AgentCard,
}

/// Converts a method's params from the client's version to the agent's. Failures are the
/// client's: `InvalidParams`, or `UnsupportedOperation` for `ListTasks` towards v0.3.
pub fn params(
    method: Method,
    from: ProtocolVersion,
    to: ProtocolVersion,
    mut params: Value,
) -> Result<Value, A2aError> {
    let converted = match (from, to) {
        _ if from == to => return Ok(params),
        (_, ProtocolVersion::V1_0) => params::params_to_v1(method, &mut params),
        (_, ProtocolVersion::V0_3) => params::params_to_v0_3(method, &mut params),
    };
    match converted {
        Ok(()) => Ok(params),
        Err(_) if method == Method::ListTasks => Err(list_tasks_unsupported()),
        Err(e) => Err(A2aError::invalid_params().with_message(format!("params.{e}"))),
    }
}

/// Converts a method's result (for a streaming method: one event) from the agent's version
/// to the client's. Failures are the agent's: `InvalidAgentResponse`.
pub fn result(
    method: Method,
    from: ProtocolVersion,
    to: ProtocolVersion,
    mut result: Value,
) -> Result<Value, A2aError> {
    let converted = match (from, to) {
        _ if from == to => return Ok(result),
        (_, ProtocolVersion::V1_0) => params::result_to_v1(method, &mut result),
        (_, ProtocolVersion::V0_3) => params::result_to_v0_3(method, &mut result),
    };
    match converted {
        Ok(()) => Ok(result),
        Err(_) if method == Method::ListTasks => Err(list_tasks_unsupported()),
        Err(e) => Err(agent_error(e, "result")),
    }
}

/// Converts one stream event (the `result` of an SSE message) from the agent's version to the
/// client's: a v0.3 Task, Message, status-update or artifact-update ⇄ a v1.0 StreamResponse.
pub fn stream_event(
    from: ProtocolVersion,
    to: ProtocolVersion,
    event: Value,
) -> Result<Value, A2aError> {
    result(Method::SendStreamingMessage, from, to, event)
}

/// Converts one object on its own. The error names the offending field.
pub fn object(
    kind: ObjectKind,
    from: ProtocolVersion,
    to: ProtocolVersion,
    mut value: Value,
) -> Result<Value, Invalid> {
    if from == to {
        return Ok(value);
    }
    let to_v1 = to == ProtocolVersion::V1_0;
    let convert: fn(&mut Value) -> Result<(), Invalid> = match (kind, to_v1) {
        (ObjectKind::Part, true) => objects::part_to_v1,
        (ObjectKind::Part, false) => objects::part_to_v0_3,
        (ObjectKind::Message, true) => objects::message_to_v1,
        (ObjectKind::Message, false) => objects::message_to_v0_3,
        (ObjectKind::Task, true) => objects::task_to_v1,
        (ObjectKind::Task, false) => objects::task_to_v0_3,
        (ObjectKind::Artifact, true) => objects::artifact_to_v1,
        (ObjectKind::Artifact, false) => objects::artifact_to_v0_3,
        (ObjectKind::StatusUpdate, true) => objects::status_update_to_v1,
        (ObjectKind::StatusUpdate, false) => objects::status_update_to_v0_3,
        (ObjectKind::ArtifactUpdate, true) => objects::artifact_update_to_v1,
        (ObjectKind::ArtifactUpdate, false) => objects::artifact_update_to_v0_3,
        (ObjectKind::StreamEvent, true) => objects::stream_event_to_v1,
        (ObjectKind::StreamEvent, false) => objects::stream_event_to_v0_3,
        (ObjectKind::SendConfiguration, true) => push::send_configuration_to_v1,
        (ObjectKind::SendConfiguration, false) => push::send_configuration_to_v0_3,
        (ObjectKind::TaskPushConfig, true) => push::task_push_config_to_v1,
        (ObjectKind::TaskPushConfig, false) => push::task_push_config_to_v0_3,
        (ObjectKind::AgentCard, true) => card::card_to_v1,
        (ObjectKind::AgentCard, false) => card::card_to_v0_3,
    };
    convert(&mut value)?;
    Ok(value)
}

fn list_tasks_unsupported() -> A2aError {
    A2aError::unsupported_operation().with_message(params::NO_V0_3_LIST_TASKS)
}

fn agent_error(e: Invalid, what: &str) -> A2aError {
    A2aError::invalid_agent_response().with_message(format!("the agent's {what}: {e}"))
}
