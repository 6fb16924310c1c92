//! Request params and results per method between v0.3 and v1.0, built from the object rules.
//!
//! Params: a2a-sdk 1.3.0's `to_core_*_request` / `to_compat_*_request`. The push-config
//! requests rename their ids (v0.3 `{id: task, pushNotificationConfigId: config}` is v1.0
//! `{taskId: task, id: config}`); v0.3's `historyLength: 0` ("all") is left out; v1.0's
//! `tenant` is dropped on the way to v0.3, which has none (the relay addresses the agent's own
//! tenant from its card). Results: the SendMessage wrapper, Tasks, push configs, the list of
//! configs (a bare array in v0.3, `{configs, nextPageToken}` in v1.0), and the extended card.

use serde_json::Value;

use super::super::json::{Invalid, Object, object_mut, rename, take, with_each, with_field, wrap};
use super::super::methods::Method;
use super::card::{card_to_v0_3, card_to_v1};
use super::objects::{
    message_to_v0_3, message_to_v1, send_result_to_v0_3, send_result_to_v1, stream_event_to_v0_3,
    stream_event_to_v1, task_to_v0_3, task_to_v1,
};
use super::push::{
    send_configuration_to_v0_3, send_configuration_to_v1, task_push_config_to_v0_3,
    task_push_config_to_v1,
};

/// v0.3 `{id, pushNotificationConfigId}` → v1.0 `{taskId, id}`.
fn config_ids_to_v1(params: &mut Object) {
    let task_id = take(params, "id");
    rename(params, "pushNotificationConfigId", "id");
    if let Some(task_id) = task_id {
        params.insert("taskId".into(), task_id);
    }
}

/// v1.0 `{taskId, id}` → v0.3 `{id, pushNotificationConfigId}`.
fn config_ids_to_v0_3(params: &mut Object) {
    let task_id = take(params, "taskId");
    rename(params, "id", "pushNotificationConfigId");
    if let Some(task_id) = task_id {
        params.insert("id".into(), task_id);
    }
}

/// ListTasks has no v0.3 form, so there is nothing to convert to or from.
pub(crate) const NO_V0_3_LIST_TASKS: &str = "ListTasks does not exist in A2A 0.3";

pub(crate) fn params_to_v1(method: Method, params: &mut Value) -> Result<(), Invalid> {
    let object = object_mut(params)?;
    match method {
        Method::SendMessage | Method::SendStreamingMessage => {
            with_field(object, "message", message_to_v1)?;
            with_field(object, "configuration", send_configuration_to_v1)?;
        }
        Method::GetTask => {
            if object.get("historyLength").and_then(Value::as_i64) == Some(0) {
                object.remove("historyLength");
            }
        }
        Method::CancelTask | Method::SubscribeToTask | Method::GetExtendedAgentCard => {}
        Method::CreateTaskPushNotificationConfig => task_push_config_to_v1(params)?,
        Method::GetTaskPushNotificationConfig | Method::DeleteTaskPushNotificationConfig => {
            config_ids_to_v1(object);
        }
        Method::ListTaskPushNotificationConfigs => rename(object, "id", "taskId"),
        Method::ListTasks => return Err(Invalid::new(NO_V0_3_LIST_TASKS)),
    }
    Ok(())
}

pub(crate) fn params_to_v0_3(method: Method, params: &mut Value) -> Result<(), Invalid> {
    let object = object_mut(params)?;
    object.remove("tenant");
    match method {
        Method::SendMessage | Method::SendStreamingMessage => {
            with_field(object, "message", message_to_v0_3)?;
            with_field(object, "configuration", send_configuration_to_v0_3)?;
        }
        Method::GetTask
        | Method::CancelTask
        | Method::SubscribeToTask
        | Method::GetExtendedAgentCard => {}
        Method::CreateTaskPushNotificationConfig => task_push_config_to_v0_3(params)?,
        Method::GetTaskPushNotificationConfig | Method::DeleteTaskPushNotificationConfig => {
            config_ids_to_v0_3(object);
        }
        Method::ListTaskPushNotificationConfigs => rename(object, "taskId", "id"),
        Method::ListTasks => return Err(Invalid::new(NO_V0_3_LIST_TASKS)),
    }
    Ok(())
}

pub(crate) fn result_to_v1(method: Method, result: &mut Value) -> Result<(), Invalid> {
    match method {
        Method::SendMessage => send_result_to_v1(result),
        Method::SendStreamingMessage | Method::SubscribeToTask => stream_event_to_v1(result),
        Method::GetTask | Method::CancelTask => task_to_v1(result),
        Method::CreateTaskPushNotificationConfig | Method::GetTaskPushNotificationConfig => {
            task_push_config_to_v1(result)
        }
        Method::ListTaskPushNotificationConfigs => {
            if !result.is_array() {
                return Err(Invalid::new("expected an array of configs"));
            }
            wrap(result, "configs");
            with_each(object_mut(result)?, "configs", task_push_config_to_v1)
        }
        Method::DeleteTaskPushNotificationConfig => {
            *result = Value::Null;
            Ok(())
        }
        Method::GetExtendedAgentCard => card_to_v1(result),
        Method::ListTasks => Err(Invalid::new(NO_V0_3_LIST_TASKS)),
    }
}

pub(crate) fn result_to_v0_3(method: Method, result: &mut Value) -> Result<(), Invalid> {
    match method {
        Method::SendMessage => send_result_to_v0_3(result),
        Method::SendStreamingMessage | Method::SubscribeToTask => stream_event_to_v0_3(result),
        Method::GetTask | Method::CancelTask => task_to_v0_3(result),
        Method::CreateTaskPushNotificationConfig | Method::GetTaskPushNotificationConfig => {
            task_push_config_to_v0_3(result)
        }
        Method::ListTaskPushNotificationConfigs => {
            let configs = match take(object_mut(result)?, "configs") {
                None => Value::Array(Vec::new()),
                Some(configs @ Value::Array(_)) => configs,
                Some(_) => return Err(Invalid::new("expected an array").at("configs")),
            };
            *result = configs;
            if let Value::Array(configs) = result {
                for (i, config) in configs.iter_mut().enumerate() {
                    task_push_config_to_v0_3(config).map_err(|e| e.at(format!("[{i}]")))?;
                }
            }
            Ok(())
        }
        Method::DeleteTaskPushNotificationConfig => {
            *result = Value::Null;
            Ok(())
        }
        Method::GetExtendedAgentCard => card_to_v0_3(result),
        Method::ListTasks => Err(Invalid::new(NO_V0_3_LIST_TASKS)),
    }
}
