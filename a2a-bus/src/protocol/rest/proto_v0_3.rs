//! The bodies of the v0.3 HTTP+JSON binding, which are not v0.3 JSON-RPC objects but the
//! protobuf JSON form of the v0.3 proto (package `a2a.v1`, a2a-sdk 1.3.0
//! `compat/v0_3/a2a_v0_3.proto`), mapped to and from the v0.3 JSON-RPC form the rest of the
//! hub works in. The mapping is a2a-sdk's `compat/v0_3/proto_utils.py` (`ToProto`,
//! `FromProto`, copied from a2a-python 0.3), checked against fixtures made by running it
//! (`sdk_rest_v0_3.json`):
//!
//! - Message: `parts` is `content`; `role` is `ROLE_USER`/`ROLE_AGENT`; no `kind`.
//! - Part: `{text}`, `{file: {fileWithUri | fileWithBytes, mimeType, name}}`, `{data: {data}}`.
//! - TaskStatus: `state` is `TASK_STATE_*` with `TASK_STATE_CANCELLED` (two Ls).
//! - SendMessageRequest `{message, configuration: {pushNotification, …}, metadata}`; its
//!   response and stream events are one-of wrappers (`{task}`, `{message}`, `{statusUpdate}`,
//!   `{artifactUpdate}`), `final` kept in status updates.
//! - Push configs are resources: `{name: "tasks/{t}/pushNotificationConfigs/{c}",
//!   pushNotificationConfig}`; creating one posts `{parent, configId, config}`; listing
//!   answers `{configs: […]}`.
//!
//! Readers also accept the proto field names (`message_id`, `request`, `msg`, `update`…),
//! which protobuf JSON parsers must accept and a2a-sdk's own v0.3 REST client sends
//! (`preserving_proto_field_name=True`). Writers use the JSON names.
//!
//! File bytes: a2a-sdk puts the UTF-8 of the v0.3 base64 string into the proto `bytes` field
//! (`file.bytes.encode('utf-8')`), so on the wire they are base64 twice. Writing does the same
//! (a2a-sdk is the reference server). Reading undoes one encoding, and a second one when what
//! is left is itself base64 text, so that singly encoded bytes from other implementations read
//! right too (content that is itself base64 text is then read as doubly encoded).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::super::json::{
    Invalid, Object, object_mut, rename, str_at, take, type_name, unwrap_single, with_each,
    with_field, wrap,
};
use super::super::state::TaskState;

/// `messageId` → `message_id`.
fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames the proto field names among `camel_names`' snake_case twins to the JSON names.
fn accept_proto_names(object: &mut Object, camel_names: &[&str]) {
    for name in camel_names {
        let proto = snake(name);
        if proto != *name
            && let Some(value) = take(object, &proto)
        {
            object.entry(*name).or_insert(value);
        }
    }
}

fn set_kind(object: &mut Object, kind: &str) {
    object.insert("kind".into(), Value::String(kind.to_owned()));
}

// ---- reading: proto JSON → v0.3 JSON-RPC form ----

fn role_from_proto(object: &mut Object) {
    let role = match object.get("role") {
        Some(Value::String(role)) if role == "ROLE_USER" => "user",
        Some(Value::String(role)) if role == "ROLE_AGENT" => "agent",
        Some(Value::Number(n)) if n.as_u64() == Some(1) => "user",
        Some(Value::Number(n)) if n.as_u64() == Some(2) => "agent",
        _ => return,
    };
    object.insert("role".into(), role.into());
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// The v0.3 `bytes` string from the proto `fileWithBytes` (see the module's note).
fn bytes_from_proto(value: Value) -> Value {
    let Value::String(encoded) = value else {
        return value;
    };
    match decode_base64(&encoded).map(String::from_utf8) {
        Some(Ok(inner)) if !inner.is_empty() && STANDARD.decode(&inner).is_ok() => {
            Value::String(inner)
        }
        _ => Value::String(encoded),
    }
}

fn part_from_proto(part: &mut Value) -> Result<(), Invalid> {
    let part = object_mut(part)?;
    if part.contains_key("text") {
        set_kind(part, "text");
        return Ok(());
    }
    if let Some(Value::Object(file)) = part.get_mut("file") {
        accept_proto_names(file, &["fileWithUri", "fileWithBytes", "mimeType"]);
        rename(file, "fileWithUri", "uri");
        if let Some(bytes) = take(file, "fileWithBytes") {
            file.insert("bytes".into(), bytes_from_proto(bytes));
        }
        set_kind(part, "file");
        return Ok(());
    }
    if let Some(data) = part.get_mut("data") {
        // DataPart{data: Struct}: the struct is the v0.3 part's data.
        let inner = match data {
            Value::Object(wrapper) => take(wrapper, "data").unwrap_or_else(|| json!({})),
            other => {
                return Err(Invalid::new(format!(
                    "expected an object, found {}",
                    type_name(other)
                ))
                .at("data"));
            }
        };
        *data = inner;
        set_kind(part, "data");
        return Ok(());
    }
    Err(Invalid::new("a part needs text, file or data"))
}

pub(crate) fn message_from_proto(message: &mut Value) -> Result<(), Invalid> {
    let message = object_mut(message)?;
    accept_proto_names(message, &["messageId", "contextId", "taskId"]);
    rename(message, "content", "parts");
    role_from_proto(message);
    with_each(message, "parts", part_from_proto)?;
    set_kind(message, "message");
    Ok(())
}

/// The proto enum, by name or number (protobuf JSON allows both).
fn state_from_proto(state: &Value) -> Option<TaskState> {
    const BY_NUMBER: [TaskState; 9] = [
        TaskState::Unknown,
        TaskState::Submitted,
        TaskState::Working,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Canceled,
        TaskState::InputRequired,
        TaskState::Rejected,
        TaskState::AuthRequired,
    ];
    match state {
        Value::String(name) => TaskState::from_v1(name),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| BY_NUMBER.get(n).copied()),
        _ => None,
    }
}

fn status_from_proto(status: &mut Value) -> Result<(), Invalid> {
    let status = object_mut(status)?;
    let state = match status.get("state") {
        None | Some(Value::Null) => TaskState::Unknown,
        Some(state) => state_from_proto(state)
            .ok_or_else(|| Invalid::new(format!("unknown task state {state}")).at("state"))?,
    };
    status.insert("state".into(), state.v0_3_name().into());
    rename(status, "update", "message");
    with_field(status, "message", message_from_proto)
}

fn artifact_from_proto(artifact: &mut Value) -> Result<(), Invalid> {
    let artifact = object_mut(artifact)?;
    accept_proto_names(artifact, &["artifactId"]);
    with_each(artifact, "parts", part_from_proto)
}

pub(crate) fn task_from_proto(task: &mut Value) -> Result<(), Invalid> {
    let task = object_mut(task)?;
    accept_proto_names(task, &["contextId"]);
    if !task.contains_key("status") {
        task.insert("status".into(), json!({}));
    }
    with_field(task, "status", status_from_proto)?;
    with_each(task, "artifacts", artifact_from_proto)?;
    with_each(task, "history", message_from_proto)?;
    set_kind(task, "task");
    Ok(())
}

fn status_update_from_proto(event: &mut Value) -> Result<(), Invalid> {
    let event = object_mut(event)?;
    accept_proto_names(event, &["taskId", "contextId"]);
    if !event.contains_key("status") {
        event.insert("status".into(), json!({}));
    }
    with_field(event, "status", status_from_proto)?;
    event.entry("final").or_insert(Value::Bool(false));
    set_kind(event, "status-update");
    Ok(())
}

fn artifact_update_from_proto(event: &mut Value) -> Result<(), Invalid> {
    let event = object_mut(event)?;
    accept_proto_names(event, &["taskId", "contextId", "lastChunk"]);
    // proto3 booleans are false when absent; a2a-sdk's reader says so.
    for flag in ["append", "lastChunk"] {
        event.entry(flag).or_insert(Value::Bool(false));
    }
    with_field(event, "artifact", artifact_from_proto)?;
    set_kind(event, "artifact-update");
    Ok(())
}

/// A one-of wrapper → the v0.3 object inside it.
fn one_of_from_proto(value: &mut Value, stream: bool) -> Result<(), Invalid> {
    let object = object_mut(value)?;
    rename(object, "msg", "message");
    accept_proto_names(object, &["statusUpdate", "artifactUpdate"]);
    let members: &[&'static str] = if stream {
        &["task", "message", "statusUpdate", "artifactUpdate"]
    } else {
        &["task", "message"]
    };
    let Some((member, mut inner)) = unwrap_single(value, members) else {
        return Err(Invalid::new(format!(
            "expected one of {}",
            members.join(", ")
        )));
    };
    let converted = match member {
        "task" => task_from_proto(&mut inner),
        "message" => message_from_proto(&mut inner),
        "statusUpdate" => status_update_from_proto(&mut inner),
        _ => artifact_update_from_proto(&mut inner),
    };
    converted.map_err(|e| e.at(member))?;
    *value = inner;
    Ok(())
}

/// SendMessageResponse → the Task or Message (`FromProto.task_or_message`).
pub(crate) fn send_response_from_proto(response: &mut Value) -> Result<(), Invalid> {
    one_of_from_proto(response, false)
}

/// StreamResponse → the v0.3 event (`FromProto.stream_response`).
pub(crate) fn stream_from_proto(event: &mut Value) -> Result<(), Invalid> {
    one_of_from_proto(event, true)
}

fn configuration_from_proto(configuration: &mut Value) -> Result<(), Invalid> {
    let configuration = object_mut(configuration)?;
    accept_proto_names(
        configuration,
        &["acceptedOutputModes", "pushNotification", "historyLength"],
    );
    rename(configuration, "pushNotification", "pushNotificationConfig");
    if configuration.get("historyLength").and_then(Value::as_i64) == Some(0) {
        configuration.remove("historyLength");
    }
    // proto3's absent boolean is false: a v0.3 REST configuration without `blocking` asks not
    // to wait, and a2a-sdk's server reads it so (unlike a JSON-RPC one, where absent means
    // blocking).
    configuration
        .entry("blocking")
        .or_insert(Value::Bool(false));
    Ok(())
}

/// SendMessageRequest → MessageSendParams (`FromProto.message_send_params`).
pub(crate) fn send_params_from_proto(params: &mut Value) -> Result<(), Invalid> {
    let object = object_mut(params)?;
    rename(object, "request", "message");
    with_field(object, "message", message_from_proto)?;
    with_field(object, "configuration", configuration_from_proto)
}

/// The task and config ids of a push-config resource name.
fn parse_config_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("tasks/")?;
    let (task, config) = rest.split_once("/pushNotificationConfigs/")?;
    (!task.is_empty() && !task.contains('/')).then_some((task, config))
}

/// `{name, pushNotificationConfig}` → `{taskId, pushNotificationConfig}`
/// (`FromProto.task_push_notification_config`).
pub(crate) fn task_push_config_from_proto(config: &mut Value) -> Result<(), Invalid> {
    let config = object_mut(config)?;
    accept_proto_names(config, &["pushNotificationConfig"]);
    let name = take(config, "name");
    let task_id = match name
        .as_ref()
        .and_then(Value::as_str)
        .and_then(parse_config_name)
    {
        Some((task, _)) => task.to_owned(),
        None => {
            return Err(Invalid::new(format!(
                "bad push config name {}",
                name.unwrap_or(Value::Null)
            ))
            .at("name"));
        }
    };
    config.insert("taskId".into(), task_id.into());
    Ok(())
}

/// The body of a create request → the v0.3 `tasks/pushNotificationConfig/set` params for the
/// task in the path. a2a-sdk posts the whole CreateTaskPushNotificationConfigRequest
/// `{parent, configId, config: {name, pushNotificationConfig}}`; the proto's HTTP rule says the
/// body is just `config`; a bare PushNotificationConfig is taken too.
pub(crate) fn create_params_from_proto(body: Value, task_id: &str) -> Result<Value, Invalid> {
    let Value::Object(mut body) = body else {
        return Err(Invalid::new("expected an object"));
    };
    accept_proto_names(&mut body, &["configId", "pushNotificationConfig"]);
    let config_id = take(&mut body, "configId");
    let mut push = if let Some(Value::Object(mut config)) = take(&mut body, "config") {
        accept_proto_names(&mut config, &["pushNotificationConfig"]);
        take(&mut config, "pushNotificationConfig").unwrap_or_else(|| json!({}))
    } else if let Some(push) = take(&mut body, "pushNotificationConfig") {
        push
    } else {
        body.remove("parent");
        body.remove("name");
        Value::Object(body)
    };
    if let (Value::Object(push), Some(config_id)) = (&mut push, config_id) {
        let id = push.entry("id").or_insert(Value::Null);
        if id.is_null() || id.as_str() == Some("") {
            *id = config_id;
        }
    }
    Ok(json!({"taskId": task_id, "pushNotificationConfig": push}))
}

/// `{configs: […]}` → the array of v0.3 configs.
pub(crate) fn config_list_from_proto(list: &mut Value) -> Result<(), Invalid> {
    let mut configs = match list {
        Value::Object(object) => take(object, "configs").unwrap_or_else(|| json!([])),
        Value::Null => json!([]),
        other => {
            return Err(Invalid::new(format!(
                "expected an object, found {}",
                type_name(other)
            )));
        }
    };
    if let Value::Array(items) = &mut configs {
        for (i, item) in items.iter_mut().enumerate() {
            task_push_config_from_proto(item).map_err(|e| e.at(format!("[{i}]")).at("configs"))?;
        }
    }
    *list = configs;
    Ok(())
}

// ---- writing: v0.3 JSON-RPC form → proto JSON ----

fn part_to_proto(part: &mut Value) -> Result<(), Invalid> {
    let part = object_mut(part)?;
    let kind = take(part, "kind");
    let kind = kind.as_ref().and_then(Value::as_str).unwrap_or_else(|| {
        if part.contains_key("file") {
            "file"
        } else if part.contains_key("data") {
            "data"
        } else {
            "text"
        }
    });
    match kind {
        "text" => Ok(()),
        "file" => {
            let Some(Value::Object(file)) = part.get_mut("file") else {
                return Err(Invalid::new("a file part needs a file object").at("file"));
            };
            rename(file, "uri", "fileWithUri");
            if let Some(Value::String(bytes)) = take(file, "bytes") {
                file.insert(
                    "fileWithBytes".into(),
                    STANDARD.encode(bytes.as_bytes()).into(),
                );
            }
            Ok(())
        }
        "data" => with_field(part, "data", |data| {
            wrap(data, "data");
            Ok(())
        }),
        other => Err(Invalid::new(format!("unknown part kind \"{other}\"")).at("kind")),
    }
}

pub(crate) fn message_to_proto(message: &mut Value) -> Result<(), Invalid> {
    let message = object_mut(message)?;
    message.remove("kind");
    let role = match str_at(message, "role") {
        Some("user") => Some("ROLE_USER"),
        Some("agent") => Some("ROLE_AGENT"),
        _ => None,
    };
    if let Some(role) = role {
        message.insert("role".into(), role.into());
    }
    with_each(message, "parts", part_to_proto)?;
    rename(message, "parts", "content");
    Ok(())
}

fn status_to_proto(status: &mut Value) -> Result<(), Invalid> {
    let status = object_mut(status)?;
    match take(status, "state") {
        None => {}
        Some(Value::String(name)) => match TaskState::from_v0_3(&name) {
            // TASK_STATE_UNSPECIFIED is protobuf's default, which its JSON leaves out.
            Some(TaskState::Unknown) => {}
            Some(state) => {
                status.insert("state".into(), state.v0_3_proto_name().into());
            }
            None => {
                return Err(Invalid::new(format!("unknown task state \"{name}\"")).at("state"));
            }
        },
        Some(other) => {
            return Err(
                Invalid::new(format!("expected a string, found {}", type_name(&other))).at("state"),
            );
        }
    }
    with_field(status, "message", message_to_proto)
}

fn artifact_to_proto(artifact: &mut Value) -> Result<(), Invalid> {
    with_each(object_mut(artifact)?, "parts", part_to_proto)
}

pub(crate) fn task_to_proto(task: &mut Value) -> Result<(), Invalid> {
    let task = object_mut(task)?;
    task.remove("kind");
    with_field(task, "status", status_to_proto)?;
    with_each(task, "artifacts", artifact_to_proto)?;
    with_each(task, "history", message_to_proto)
}

fn status_update_to_proto(event: &mut Value) -> Result<(), Invalid> {
    let event = object_mut(event)?;
    event.remove("kind");
    if event.get("final") == Some(&Value::Bool(false)) {
        event.remove("final");
    }
    with_field(event, "status", status_to_proto)
}

fn artifact_update_to_proto(event: &mut Value) -> Result<(), Invalid> {
    let event = object_mut(event)?;
    event.remove("kind");
    for flag in ["append", "lastChunk"] {
        if event.get(flag) == Some(&Value::Bool(false)) {
            event.remove(flag);
        }
    }
    with_field(event, "artifact", artifact_to_proto)
}

/// The v0.3 object → its one-of wrapper (`ToProto.stream_response`, `ToProto.task_or_message`).
fn one_of_to_proto(value: &mut Value, stream: bool) -> Result<(), Invalid> {
    let object = object_mut(value)?;
    let kind = match str_at(object, "kind") {
        Some(kind) => kind.to_owned(),
        None if object.contains_key("messageId") => "message".into(),
        None if object.contains_key("artifact") => "artifact-update".into(),
        None if object.contains_key("taskId") => "status-update".into(),
        None => "task".into(),
    };
    let (member, converted) = match kind.as_str() {
        "task" => ("task", task_to_proto(value)),
        "message" => ("message", message_to_proto(value)),
        "status-update" if stream => ("statusUpdate", status_update_to_proto(value)),
        "artifact-update" if stream => ("artifactUpdate", artifact_update_to_proto(value)),
        other => return Err(Invalid::new(format!("unexpected kind \"{other}\"")).at("kind")),
    };
    converted?;
    wrap(value, member);
    Ok(())
}

pub(crate) fn send_response_to_proto(result: &mut Value) -> Result<(), Invalid> {
    one_of_to_proto(result, false)
}

pub(crate) fn stream_to_proto(event: &mut Value) -> Result<(), Invalid> {
    one_of_to_proto(event, true)
}

/// MessageSendParams → SendMessageRequest (`ToProto.message` and
/// `ToProto.message_send_configuration`).
pub(crate) fn send_params_to_proto(params: &mut Value) -> Result<(), Invalid> {
    let object = object_mut(params)?;
    with_field(object, "message", message_to_proto)?;
    with_field(object, "configuration", |configuration| {
        rename(
            object_mut(configuration)?,
            "pushNotificationConfig",
            "pushNotification",
        );
        Ok(())
    })
}

fn config_name(task_id: &str, config_id: &str) -> String {
    format!("tasks/{task_id}/pushNotificationConfigs/{config_id}")
}

/// `{taskId, pushNotificationConfig}` → `{name, pushNotificationConfig}`
/// (`ToProto.task_push_notification_config`).
pub(crate) fn task_push_config_to_proto(config: &mut Value) -> Result<(), Invalid> {
    let object = object_mut(config)?;
    let task_id = match take(object, "taskId") {
        Some(Value::String(task_id)) => task_id,
        _ => return Err(Invalid::new("a push config needs its taskId").at("taskId")),
    };
    let config_id = object
        .get("pushNotificationConfig")
        .and_then(|push| push.get("id"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = config_name(&task_id, config_id);
    object.insert("name".into(), name.into());
    Ok(())
}

/// `tasks/pushNotificationConfig/set` params → the body a2a-sdk's v0.3 REST client posts:
/// `{parent, configId, config: {name, pushNotificationConfig}}`.
pub(crate) fn create_body_to_proto(params: &mut Value) -> Result<(), Invalid> {
    let object = object_mut(params)?;
    let task_id = str_at(object, "taskId").unwrap_or_default().to_owned();
    let config_id = object
        .get("pushNotificationConfig")
        .and_then(|push| push.get("id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    task_push_config_to_proto(params)?;
    wrap(params, "config");
    if let Value::Object(body) = params {
        body.insert("parent".into(), format!("tasks/{task_id}").into());
        body.insert("configId".into(), config_id.into());
    }
    Ok(())
}

/// The array of v0.3 configs → `{configs: […]}`.
pub(crate) fn config_list_to_proto(list: &mut Value) -> Result<(), Invalid> {
    let Value::Array(items) = list else {
        return Err(Invalid::new("expected an array of configs"));
    };
    for (i, item) in items.iter_mut().enumerate() {
        task_push_config_to_proto(item).map_err(|e| e.at(format!("[{i}]")))?;
    }
    wrap(list, "configs");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_split() {
        assert_eq!(
            parse_config_name("tasks/t1/pushNotificationConfigs/c1"),
            Some(("t1", "c1"))
        );
        assert_eq!(parse_config_name("tasks//pushNotificationConfigs/c1"), None);
        assert_eq!(parse_config_name("task/t1"), None);
    }

    #[test]
    fn file_bytes_read_either_way() {
        // "aGk=" is base64 of "hi"; a2a-sdk sends base64("aGk=") = "YUdrPQ==".
        assert_eq!(bytes_from_proto(json!("YUdrPQ==")), json!("aGk="));
        // A single encoding of binary content stays as it came.
        assert_eq!(bytes_from_proto(json!("/w==")), json!("/w=="));
    }

    #[test]
    fn snake_names() {
        assert_eq!(snake("messageId"), "message_id");
        assert_eq!(snake("fileWithUri"), "file_with_uri");
        let mut object = json!({"message_id": "m", "content": []})
            .as_object()
            .cloned()
            .unwrap();
        accept_proto_names(&mut object, &["messageId"]);
        assert!(object.contains_key("messageId"));
        assert!(!object.contains_key("message_id"));
    }
}
