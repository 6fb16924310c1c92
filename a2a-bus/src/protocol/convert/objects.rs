//! The A2A data objects between their v0.3 JSON-RPC form and their v1.0 form: Part, Message,
//! TaskStatus, Task, Artifact, the two update events, and the two unions built from them (the
//! SendMessage result and the stream event). Everything is rewritten in place.
//!
//! The rules are a2a-sdk 1.3.0's `compat/v0_3/conversions.py` (`to_core_*` is v0.3 → v1.0,
//! `to_compat_*` the way back), with two deliberate differences, both so that nothing a peer
//! sent is lost on the way: fields a rule does not name stay where they are (a2a-sdk's models
//! drop them), and timestamps and base64 strings pass through as they are (a2a-sdk re-encodes
//! them through protobuf, which only normalizes their spelling).

use serde_json::Value;

use super::super::json::{
    Invalid, Object, object_mut, str_at, take, type_name, unwrap_single, with_each, with_field,
    wrap,
};
use super::super::state::TaskState;

/// The v0.3 discriminator, checked if present: v0.3 objects carry `kind`, but the hub does
/// not insist on it, since which object is expected is known from where it is.
fn take_kind(object: &mut Object, expected: &str) -> Result<(), Invalid> {
    match take(object, "kind") {
        None => Ok(()),
        Some(Value::String(kind)) if kind == expected => Ok(()),
        Some(other) => {
            Err(Invalid::new(format!("expected kind \"{expected}\", found {other}")).at("kind"))
        }
    }
}

fn set_kind(object: &mut Object, kind: &str) {
    object.insert("kind".into(), Value::String(kind.to_owned()));
}

/// v0.3 parts: `{kind:"text", text}`, `{kind:"file", file:{bytes|uri, mimeType, name}}`,
/// `{kind:"data", data}` → v1.0 `{text}`, `{raw}`/`{url}` with `mediaType` and `filename`,
/// `{data}` (`to_core_part`). A data part that a v1.0 peer sent with a non-object value came
/// back wrapped as `{"value": …}` with `metadata.data_part_compat: true`; that is undone. A part
/// without `kind` is read by the field it has.
pub(crate) fn part_to_v1(part: &mut Value) -> Result<(), Invalid> {
    let part = object_mut(part)?;
    let kind = match take(part, "kind") {
        Some(Value::String(kind)) => kind,
        Some(other) => {
            return Err(
                Invalid::new(format!("expected a string, found {}", type_name(&other))).at("kind"),
            );
        }
        None if part.contains_key("text") => "text".into(),
        None if part.contains_key("file") => "file".into(),
        None if part.contains_key("data") => "data".into(),
        None => return Err(Invalid::new("a part needs a kind: text, file or data")),
    };
    match kind.as_str() {
        "text" => Ok(()),
        "file" => {
            let Some(Value::Object(mut file)) = take(part, "file") else {
                return Err(Invalid::new("a file part needs a file object").at("file"));
            };
            if let Some(bytes) = take(&mut file, "bytes") {
                part.insert("raw".into(), bytes);
            } else if let Some(uri) = take(&mut file, "uri") {
                part.insert("url".into(), uri);
            } else {
                return Err(Invalid::new("a file needs bytes or a uri").at("file"));
            }
            if let Some(media_type) = take(&mut file, "mimeType") {
                part.insert("mediaType".into(), media_type);
            }
            if let Some(name) = take(&mut file, "name") {
                part.insert("filename".into(), name);
            }
            // Whatever else the file object had has no place in v1.0; it goes beside the
            // content rather than nowhere.
            for (key, value) in file {
                part.entry(key).or_insert(value);
            }
            Ok(())
        }
        "data" => {
            let compat = match part.get_mut("metadata") {
                Some(Value::Object(metadata)) => {
                    let compat = metadata.remove("data_part_compat") == Some(Value::Bool(true));
                    if compat && metadata.is_empty() {
                        part.remove("metadata");
                    }
                    compat
                }
                _ => false,
            };
            if compat
                && let Some(Value::Object(data)) = part.get_mut("data")
                && let Some(inner) = data.remove("value")
            {
                part.insert("data".into(), inner);
            }
            Ok(())
        }
        other => Err(Invalid::new(format!(
            "unknown part kind \"{other}\" (expected text, file or data)"
        ))
        .at("kind")),
    }
}

/// v1.0 part → v0.3 (`to_compat_part`). A `data` value that is not an object becomes
/// `{"value": …}` marked `metadata.data_part_compat: true`, since v0.3 data must be an object.
/// `mediaType`/`filename` on a text or data part have no v0.3 field and stay as they are.
pub(crate) fn part_to_v0_3(part: &mut Value) -> Result<(), Invalid> {
    let part = object_mut(part)?;
    if part.contains_key("text") {
        set_kind(part, "text");
        return Ok(());
    }
    let content = if let Some(raw) = take(part, "raw") {
        Some(("bytes", raw))
    } else {
        take(part, "url").map(|url| ("uri", url))
    };
    if let Some((key, content)) = content {
        let mut file = Object::new();
        file.insert(key.into(), content);
        if let Some(media_type) = take(part, "mediaType") {
            file.insert("mimeType".into(), media_type);
        }
        if let Some(filename) = take(part, "filename") {
            file.insert("name".into(), filename);
        }
        part.insert("file".into(), Value::Object(file));
        set_kind(part, "file");
        return Ok(());
    }
    match part.get_mut("data") {
        Some(Value::Object(_)) => {}
        Some(data) => {
            wrap(data, "value");
            let metadata = part
                .entry("metadata")
                .or_insert_with(|| Value::Object(Object::new()));
            match metadata {
                Value::Object(metadata) => {
                    metadata.insert("data_part_compat".into(), Value::Bool(true));
                }
                other => {
                    return Err(Invalid::new(format!(
                        "expected an object, found {}",
                        type_name(other)
                    ))
                    .at("metadata"));
                }
            }
        }
        None => return Err(Invalid::new("a part needs text, raw, url or data")),
    }
    set_kind(part, "data");
    Ok(())
}

/// `user`/`agent` → `ROLE_USER`/`ROLE_AGENT`; anything else is left for the agent to judge.
fn role_to_v1(message: &mut Object) {
    if let Some(Value::String(role)) = message.get_mut("role") {
        match role.as_str() {
            "user" => *role = "ROLE_USER".into(),
            "agent" => *role = "ROLE_AGENT".into(),
            _ => {}
        }
    }
}

fn role_to_v0_3(message: &mut Object) {
    if let Some(Value::String(role)) = message.get_mut("role") {
        match role.as_str() {
            "ROLE_USER" => *role = "user".into(),
            "ROLE_AGENT" => *role = "agent".into(),
            _ => {}
        }
    }
}

/// v0.3 Message → v1.0 (`to_core_message`): `kind` goes, the role is renamed, the parts
/// converted; ids, `metadata`, `extensions`, `referenceTaskIds` are the same in both.
pub(crate) fn message_to_v1(message: &mut Value) -> Result<(), Invalid> {
    let message = object_mut(message)?;
    take_kind(message, "message")?;
    role_to_v1(message);
    with_each(message, "parts", part_to_v1)
}

pub(crate) fn message_to_v0_3(message: &mut Value) -> Result<(), Invalid> {
    let message = object_mut(message)?;
    set_kind(message, "message");
    role_to_v0_3(message);
    with_each(message, "parts", part_to_v0_3)
}

/// v0.3 `status.state` (kebab-case) → `TASK_STATE_*`. `unknown` is `TASK_STATE_UNSPECIFIED`,
/// which protobuf JSON leaves out, as a2a-sdk does.
fn status_to_v1(status: &mut Value) -> Result<(), Invalid> {
    let status = object_mut(status)?;
    match take(status, "state") {
        None => {}
        Some(Value::String(name)) => match TaskState::from_v0_3(&name) {
            Some(TaskState::Unknown) => {}
            Some(state) => {
                status.insert("state".into(), state.v1_name().into());
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
    with_field(status, "message", message_to_v1)
}

/// v1.0 status → v0.3; no state (or `TASK_STATE_UNSPECIFIED`) is `unknown`, which v0.3
/// requires to be said.
fn status_to_v0_3(status: &mut Value) -> Result<(), Invalid> {
    let status = object_mut(status)?;
    let state = match status.get("state") {
        None | Some(Value::Null) => TaskState::Unknown,
        Some(Value::String(name)) => TaskState::from_v1(name)
            .ok_or_else(|| Invalid::new(format!("unknown task state \"{name}\"")).at("state"))?,
        Some(other) => {
            return Err(
                Invalid::new(format!("expected a string, found {}", type_name(other))).at("state"),
            );
        }
    };
    status.insert("state".into(), state.v0_3_name().into());
    with_field(status, "message", message_to_v0_3)
}

/// A status that is missing altogether reads as `{"state": "unknown"}` in v0.3 (a2a-sdk's
/// `to_compat_task` and `to_compat_task_status_update_event`).
fn status_field_to_v0_3(object: &mut Object) -> Result<(), Invalid> {
    let status = object
        .entry("status")
        .or_insert_with(|| Value::Object(Object::new()));
    if status.is_null() {
        *status = Value::Object(Object::new());
    }
    status_to_v0_3(status).map_err(|e| e.at("status"))
}

pub(crate) fn artifact_to_v1(artifact: &mut Value) -> Result<(), Invalid> {
    with_each(object_mut(artifact)?, "parts", part_to_v1)
}

pub(crate) fn artifact_to_v0_3(artifact: &mut Value) -> Result<(), Invalid> {
    with_each(object_mut(artifact)?, "parts", part_to_v0_3)
}

/// v0.3 Task → v1.0 (`to_core_task`).
pub(crate) fn task_to_v1(task: &mut Value) -> Result<(), Invalid> {
    let task = object_mut(task)?;
    take_kind(task, "task")?;
    with_field(task, "status", status_to_v1)?;
    with_each(task, "artifacts", artifact_to_v1)?;
    with_each(task, "history", message_to_v1)
}

pub(crate) fn task_to_v0_3(task: &mut Value) -> Result<(), Invalid> {
    let task = object_mut(task)?;
    set_kind(task, "task");
    status_field_to_v0_3(task)?;
    with_each(task, "artifacts", artifact_to_v0_3)?;
    with_each(task, "history", message_to_v0_3)
}

/// v0.3 TaskStatusUpdateEvent → the v1.0 `statusUpdate` payload: `kind` and `final` go (a v1.0
/// stream ends by closing).
pub(crate) fn status_update_to_v1(event: &mut Value) -> Result<(), Invalid> {
    let event = object_mut(event)?;
    take_kind(event, "status-update")?;
    event.remove("final");
    with_field(event, "status", status_to_v1)
}

/// v1.0 `statusUpdate` → v0.3, `final` set for the terminal states only (completed, canceled,
/// failed, rejected: a2a-sdk's `to_compat_task_status_update_event`; an interrupted task's
/// update is not final there, though a v1.0 stream ends at it).
pub(crate) fn status_update_to_v0_3(event: &mut Value) -> Result<(), Invalid> {
    let event = object_mut(event)?;
    set_kind(event, "status-update");
    status_field_to_v0_3(event)?;
    let terminal = event
        .get("status")
        .and_then(|status| status.get("state"))
        .and_then(Value::as_str)
        .and_then(TaskState::from_v0_3)
        .is_some_and(TaskState::is_terminal);
    event.insert("final".into(), Value::Bool(terminal));
    Ok(())
}

/// v0.3 TaskArtifactUpdateEvent → the v1.0 `artifactUpdate` payload. `append: false` and
/// `lastChunk: false` are protobuf's defaults, which its JSON (and so a2a-sdk) leaves out.
pub(crate) fn artifact_update_to_v1(event: &mut Value) -> Result<(), Invalid> {
    let event = object_mut(event)?;
    take_kind(event, "artifact-update")?;
    for flag in ["append", "lastChunk"] {
        if event.get(flag) == Some(&Value::Bool(false)) {
            event.remove(flag);
        }
    }
    with_field(event, "artifact", artifact_to_v1)
}

/// v1.0 `artifactUpdate` → v0.3; `append` and `lastChunk` are always said, as a2a-sdk does
/// (protobuf's defaults are false).
pub(crate) fn artifact_update_to_v0_3(event: &mut Value) -> Result<(), Invalid> {
    let event = object_mut(event)?;
    set_kind(event, "artifact-update");
    for flag in ["append", "lastChunk"] {
        let value = event.entry(flag).or_insert(Value::Bool(false));
        if value.is_null() {
            *value = Value::Bool(false);
        }
    }
    with_field(event, "artifact", artifact_to_v0_3)
}

/// One object's conversion, applied in place.
type Rule = fn(&mut Value) -> Result<(), Invalid>;

/// The `kind` of a v0.3 Task, Message or update event; without one, guessed from the fields
/// only that object has.
fn v0_3_kind(object: &Object) -> Option<&str> {
    if let Some(kind) = str_at(object, "kind") {
        return Some(kind);
    }
    if object.contains_key("messageId") {
        Some("message")
    } else if object.contains_key("artifact") {
        Some("artifact-update")
    } else if object.contains_key("taskId") && object.contains_key("status") {
        Some("status-update")
    } else if object.contains_key("status") {
        Some("task")
    } else {
        None
    }
}

/// The members of a v1.0 StreamResponse (a protobuf `oneof`); the first two are also the
/// SendMessage result's.
const STREAM_MEMBERS: [&str; 4] = ["task", "message", "statusUpdate", "artifactUpdate"];

/// A v0.3 stream event (the `result` of each SSE response: a Task, Message, status-update or
/// artifact-update) → a v1.0 StreamResponse (`to_core_stream_response`). With
/// `send_result_only`, only a Task or Message is accepted (the SendMessage result,
/// `to_core_send_message_response`), which has the same wrapper shape.
fn event_to_v1(event: &mut Value, send_result_only: bool) -> Result<(), Invalid> {
    let kind = v0_3_kind(object_mut(event)?)
        .ok_or_else(|| Invalid::new("not a Task, Message or update event (no kind)"))?
        .to_owned();
    let (member, convert): (&str, Rule) = match kind.as_str() {
        "task" => ("task", task_to_v1),
        "message" => ("message", message_to_v1),
        "status-update" if !send_result_only => ("statusUpdate", status_update_to_v1),
        "artifact-update" if !send_result_only => ("artifactUpdate", artifact_update_to_v1),
        other => {
            return Err(Invalid::new(format!("unexpected kind \"{other}\"")).at("kind"));
        }
    };
    convert(event)?;
    wrap(event, member);
    Ok(())
}

/// A v1.0 StreamResponse (or SendMessage result) → the v0.3 object it wraps
/// (`to_compat_stream_response`, `to_compat_send_message_response`).
fn event_to_v0_3(event: &mut Value, send_result_only: bool) -> Result<(), Invalid> {
    object_mut(event)?;
    let members: &[&'static str] = if send_result_only {
        &STREAM_MEMBERS[..2]
    } else {
        &STREAM_MEMBERS
    };
    let Some((member, mut inner)) = unwrap_single(event, members) else {
        return Err(Invalid::new(format!(
            "expected one of {}",
            members.join(", ")
        )));
    };
    let converted = match member {
        "task" => task_to_v0_3(&mut inner),
        "message" => message_to_v0_3(&mut inner),
        "statusUpdate" => status_update_to_v0_3(&mut inner),
        _ => artifact_update_to_v0_3(&mut inner),
    };
    converted.map_err(|e| e.at(member))?;
    *event = inner;
    Ok(())
}

pub(crate) fn stream_event_to_v1(event: &mut Value) -> Result<(), Invalid> {
    event_to_v1(event, false)
}

pub(crate) fn stream_event_to_v0_3(event: &mut Value) -> Result<(), Invalid> {
    event_to_v0_3(event, false)
}

/// The SendMessage result: v0.3 returns the Task or Message itself; v1.0 wraps it as
/// `{"task": …}` or `{"message": …}`.
pub(crate) fn send_result_to_v1(result: &mut Value) -> Result<(), Invalid> {
    event_to_v1(result, true)
}

pub(crate) fn send_result_to_v0_3(result: &mut Value) -> Result<(), Invalid> {
    event_to_v0_3(result, true)
}

/// The v1.0 member names of a StreamResponse, for readers that only look.
pub(crate) fn stream_member(event: &Object) -> Option<(&'static str, &Value)> {
    STREAM_MEMBERS
        .iter()
        .find_map(|member| event.get(*member).map(|inner| (*member, inner)))
}
