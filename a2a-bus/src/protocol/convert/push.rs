//! Push-notification configs and the SendMessage configuration between v0.3 and v1.0.
//!
//! v0.3 nests the config: `TaskPushNotificationConfig{taskId, pushNotificationConfig:{id, url,
//! token, authentication:{schemes[], credentials}}}`; v1.0 flattens it:
//! `TaskPushNotificationConfig{tenant, id, taskId, url, token, authentication:{scheme,
//! credentials}}`, which is also what SendMessage's `configuration.taskPushNotificationConfig`
//! holds where v0.3 had `configuration.pushNotificationConfig` (a2a-sdk 1.3.0
//! `to_core_task_push_notification_config`, `to_core_push_notification_config`,
//! `to_core_send_message_configuration` and their `to_compat_*` inverses).

use serde_json::Value;

use super::super::json::{Invalid, Object, object_mut, rename, take, type_name, with_field};

/// `schemes: [s, …]` → `scheme: s`. v1.0 has one scheme per config, so a2a-sdk keeps the
/// first and so does this; the others cannot be carried.
fn authentication_to_v1(authentication: &mut Value) -> Result<(), Invalid> {
    let authentication = object_mut(authentication)?;
    match take(authentication, "schemes") {
        None => {}
        Some(Value::Array(schemes)) => {
            if let Some(first) = schemes.into_iter().next() {
                authentication.insert("scheme".into(), first);
            }
        }
        Some(other) => {
            return Err(
                Invalid::new(format!("expected an array, found {}", type_name(&other)))
                    .at("schemes"),
            );
        }
    }
    Ok(())
}

/// `scheme: s` → `schemes: [s]` (`[]` without one: v0.3 requires the list).
fn authentication_to_v0_3(authentication: &mut Value) -> Result<(), Invalid> {
    let authentication = object_mut(authentication)?;
    let schemes = match take(authentication, "scheme") {
        Some(scheme) => vec![scheme],
        None => Vec::new(),
    };
    authentication.insert("schemes".into(), Value::Array(schemes));
    Ok(())
}

/// A v0.3 PushNotificationConfig → the fields of a v1.0 TaskPushNotificationConfig (`id`,
/// `url` and `token` keep their names).
pub(crate) fn push_config_to_v1(config: &mut Value) -> Result<(), Invalid> {
    with_field(object_mut(config)?, "authentication", authentication_to_v1)
}

/// The fields of a v1.0 TaskPushNotificationConfig → a v0.3 PushNotificationConfig. `tenant`
/// and `taskId` are the v1.0 config's own and have no place in the v0.3 inner object.
pub(crate) fn push_config_to_v0_3(config: &mut Value) -> Result<(), Invalid> {
    let config = object_mut(config)?;
    config.remove("tenant");
    config.remove("taskId");
    with_field(config, "authentication", authentication_to_v0_3)
}

/// v0.3 `{taskId, pushNotificationConfig:{…}}` → v1.0 flat config (the CreateTask… params, the
/// Create/Get results and each listed config).
pub(crate) fn task_push_config_to_v1(config: &mut Value) -> Result<(), Invalid> {
    let object = object_mut(config)?;
    let Some(mut inner) = take(object, "pushNotificationConfig") else {
        return Ok(());
    };
    push_config_to_v1(&mut inner).map_err(|e| e.at("pushNotificationConfig"))?;
    let Value::Object(inner) = inner else {
        return Err(Invalid::new("expected an object").at("pushNotificationConfig"));
    };
    for (key, value) in inner {
        object.insert(key, value);
    }
    Ok(())
}

/// v1.0 flat config → v0.3 `{taskId, pushNotificationConfig:{id, url, token,
/// authentication}}`; fields v0.3 does not know stay at the top.
pub(crate) fn task_push_config_to_v0_3(config: &mut Value) -> Result<(), Invalid> {
    let object = object_mut(config)?;
    object.remove("tenant");
    let mut inner = Object::new();
    for key in ["id", "url", "token", "authentication"] {
        if let Some(value) = take(object, key) {
            inner.insert(key.into(), value);
        }
    }
    let mut inner = Value::Object(inner);
    push_config_to_v0_3(&mut inner).map_err(|e| e.at("pushNotificationConfig"))?;
    object.insert("pushNotificationConfig".into(), inner);
    Ok(())
}

/// v0.3 MessageSendConfiguration → v1.0 SendMessageConfiguration: `pushNotificationConfig` is
/// renamed `taskPushNotificationConfig`; `blocking` becomes `returnImmediately = !blocking`;
/// `historyLength: 0` meant "all" in v0.3 and is left out (in v1.0, 0 means none).
pub(crate) fn send_configuration_to_v1(configuration: &mut Value) -> Result<(), Invalid> {
    let configuration = object_mut(configuration)?;
    rename(
        configuration,
        "pushNotificationConfig",
        "taskPushNotificationConfig",
    );
    with_field(
        configuration,
        "taskPushNotificationConfig",
        push_config_to_v1,
    )?;
    if configuration.get("historyLength").and_then(Value::as_i64) == Some(0) {
        configuration.remove("historyLength");
    }
    match take(configuration, "blocking") {
        None => {}
        // `returnImmediately: false` is protobuf's default, which its JSON leaves out.
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            configuration.insert("returnImmediately".into(), Value::Bool(true));
        }
        Some(other) => {
            return Err(
                Invalid::new(format!("expected a boolean, found {}", type_name(&other)))
                    .at("blocking"),
            );
        }
    }
    Ok(())
}

/// v1.0 SendMessageConfiguration → v0.3. `blocking` is always said (`!returnImmediately`,
/// default true), as a2a-sdk does: v0.3 servers differ on what its absence means.
pub(crate) fn send_configuration_to_v0_3(configuration: &mut Value) -> Result<(), Invalid> {
    let configuration = object_mut(configuration)?;
    rename(
        configuration,
        "taskPushNotificationConfig",
        "pushNotificationConfig",
    );
    with_field(configuration, "pushNotificationConfig", push_config_to_v0_3)?;
    let return_immediately = match take(configuration, "returnImmediately") {
        None => false,
        Some(Value::Bool(value)) => value,
        Some(other) => {
            return Err(
                Invalid::new(format!("expected a boolean, found {}", type_name(&other)))
                    .at("returnImmediately"),
            );
        }
    };
    configuration.insert("blocking".into(), Value::Bool(!return_immediately));
    Ok(())
}
