//! The REST (HTTP+JSON) binding both ways: incoming requests routed to an operation and its
//! JSON-RPC params (`routes`), outgoing requests built from them (`outgoing`), and answer and
//! event bodies mapped to and from the JSON-RPC `result` form (here).
//!
//! v1.0's REST bodies are its JSON-RPC objects (the same protobuf JSON: a2a-sdk's dispatchers
//! return `MessageToDict` of the same response messages), except that a deleted push config
//! answers `{}` where JSON-RPC has `null`. v0.3's are the v0.3 proto's JSON (`proto_v0_3`).
//!
//! What a2a-sdk 1.3.0 sends (checked on a running server, fixture `wire.json`): success bodies
//! `application/a2a+json` (v1.0) or `application/json` (v0.3); errors `application/json` with
//! [`A2aError::to_rest`]'s body; streams `text/event-stream` whose events are `data: <json>`
//! (the bare StreamResponse). A v1.0 failure after the stream began is an `event: error` whose
//! data is the REST error body, one before the first event a plain error answer; a2a-sdk's
//! v0.3 REST adapter has neither and just cuts the stream.

mod outgoing;
mod proto_v0_3;
pub mod query;
mod routes;

pub use outgoing::{Outgoing, request};
pub use routes::{Route, RouteError, route};

use serde_json::{Map, Value};

use crate::card::ProtocolVersion;

use super::errors::A2aError;
use super::json::Invalid;
use super::methods::Method;

/// The content type of v1.0 REST bodies (a2a-sdk 1.3.0 answers with it; the spec says REST
/// SHOULD use it).
pub const A2A_JSON: &str = "application/a2a+json";

/// The content type of successful REST answers in `version`.
pub fn content_type(version: ProtocolVersion) -> &'static str {
    match version {
        ProtocolVersion::V1_0 => A2A_JSON,
        ProtocolVersion::V0_3 => "application/json",
    }
}

fn agent_error(e: Invalid) -> A2aError {
    A2aError::invalid_agent_response().with_message(format!("the agent's answer: {e}"))
}

/// A REST agent's success body (`Value::Null` for an empty one) → the JSON-RPC `result` of
/// `method` in `version`. For a streaming method, use [`event_from_body`] on each event.
pub fn result_from_body(
    method: Method,
    version: ProtocolVersion,
    mut body: Value,
) -> Result<Value, A2aError> {
    if method == Method::DeleteTaskPushNotificationConfig {
        return Ok(Value::Null);
    }
    if version == ProtocolVersion::V1_0 {
        return Ok(body);
    }
    let converted = match method {
        Method::SendMessage => proto_v0_3::send_response_from_proto(&mut body),
        Method::SendStreamingMessage | Method::SubscribeToTask => {
            proto_v0_3::stream_from_proto(&mut body)
        }
        Method::GetTask | Method::CancelTask => proto_v0_3::task_from_proto(&mut body),
        Method::CreateTaskPushNotificationConfig | Method::GetTaskPushNotificationConfig => {
            proto_v0_3::task_push_config_from_proto(&mut body)
        }
        Method::ListTaskPushNotificationConfigs => proto_v0_3::config_list_from_proto(&mut body),
        // a2a-sdk's `/v1/card` answers the v0.3 card in its JSON-RPC form already.
        Method::GetExtendedAgentCard
        | Method::ListTasks
        | Method::DeleteTaskPushNotificationConfig => Ok(()),
    };
    converted.map_err(agent_error)?;
    Ok(body)
}

/// The JSON-RPC `result` of `method` in `version` → the REST answer body for a client.
pub fn body_from_result(
    method: Method,
    version: ProtocolVersion,
    mut result: Value,
) -> Result<Value, A2aError> {
    if method == Method::DeleteTaskPushNotificationConfig {
        return Ok(Value::Object(Map::new()));
    }
    if version == ProtocolVersion::V1_0 {
        return Ok(result);
    }
    let converted = match method {
        Method::SendMessage => proto_v0_3::send_response_to_proto(&mut result),
        Method::SendStreamingMessage | Method::SubscribeToTask => {
            proto_v0_3::stream_to_proto(&mut result)
        }
        Method::GetTask | Method::CancelTask => proto_v0_3::task_to_proto(&mut result),
        Method::CreateTaskPushNotificationConfig | Method::GetTaskPushNotificationConfig => {
            proto_v0_3::task_push_config_to_proto(&mut result)
        }
        Method::ListTaskPushNotificationConfigs => proto_v0_3::config_list_to_proto(&mut result),
        Method::GetExtendedAgentCard
        | Method::ListTasks
        | Method::DeleteTaskPushNotificationConfig => Ok(()),
    };
    converted.map_err(|e| {
        A2aError::internal().with_message(format!("could not write the REST answer: {e}"))
    })?;
    Ok(result)
}

/// One SSE event's data from a REST agent → the JSON-RPC stream `result` of `version`. A
/// failure after the stream began comes as an event (`event: error`) whose data is the REST
/// error body; that is returned as the agent's error, whatever the event's name.
pub fn event_from_body(version: ProtocolVersion, data: Value) -> Result<Value, A2aError> {
    if let Some(Value::Object(error)) = data.get("error") {
        let status = error
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|code| u16::try_from(code).ok())
            .unwrap_or(500);
        return Err(A2aError::from_rest(status, Some(&data)));
    }
    result_from_body(Method::SendStreamingMessage, version, data)
}

/// A JSON-RPC stream `result` of `version` → the SSE event data for a REST client.
pub fn body_from_event(version: ProtocolVersion, event: Value) -> Result<Value, A2aError> {
    body_from_result(Method::SendStreamingMessage, version, event)
}
