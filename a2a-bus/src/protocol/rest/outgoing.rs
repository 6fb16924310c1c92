//! Outgoing REST requests: an operation's JSON-RPC params → the HTTP request to a REST agent,
//! written as a2a-sdk 1.3.0's clients write them: v1.0 `client/transports/rest.py` (the whole
//! request message as the body of POSTs, the other fields of GETs and DELETEs as query
//! parameters, a tenant as the path's first segment, subscribe as POST), v0.3
//! `compat/v0_3/rest_transport.py` (proto JSON bodies under `/v1`, create posts
//! `{parent, configId, config}`).

use std::borrow::Cow;

use http::Method as HttpMethod;
use serde_json::{Map, Value};

use crate::card::ProtocolVersion;

use super::super::errors::A2aError;
use super::super::json::Invalid;
use super::super::methods::Method;
use super::proto_v0_3;
use super::query;

/// An HTTP request to make, relative to the agent interface's URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub http_method: HttpMethod,
    /// Starts with `/`; append it to the interface URL (without its trailing `/`).
    pub path: String,
    /// Encoded, without `?`; empty for none.
    pub query: String,
    /// The JSON body, for POSTs.
    pub body: Option<Value>,
}

fn missing(name: &str) -> A2aError {
    A2aError::invalid_params().with_message(format!("params.{name} is required"))
}

fn take_id(params: &mut Map<String, Value>, name: &str) -> Result<String, A2aError> {
    match params.remove(name) {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(missing(name)),
    }
}

/// The remaining params as query pairs (a2a-sdk hands the request's other fields to httpx,
/// which writes numbers in decimal, booleans as `true`/`false`, lists as repeated keys).
fn to_query(params: &Map<String, Value>) -> Result<String, A2aError> {
    let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::new();
    for (key, value) in params {
        let values = match value {
            Value::Array(items) => items.as_slice(),
            other => std::slice::from_ref(other),
        };
        for value in values {
            let text = match value {
                Value::Null => continue,
                Value::String(text) => Cow::Borrowed(text.as_str()),
                Value::Bool(flag) => Cow::Borrowed(if *flag { "true" } else { "false" }),
                Value::Number(number) => Cow::Owned(number.to_string()),
                Value::Array(_) | Value::Object(_) => {
                    return Err(A2aError::invalid_params().with_message(format!(
                        "params.{key} cannot be sent as a query parameter"
                    )));
                }
            };
            pairs.push((key.as_str(), text));
        }
    }
    Ok(query::join(pairs))
}

fn proto_error(e: Invalid) -> A2aError {
    A2aError::invalid_params().with_message(format!("params.{e}"))
}

/// The request for `method` with `params` in the JSON-RPC form of `version`.
pub fn request(
    method: Method,
    version: ProtocolVersion,
    params: Value,
) -> Result<Outgoing, A2aError> {
    let Value::Object(params) = params else {
        return Err(A2aError::invalid_params().with_message("params must be an object"));
    };
    match version {
        ProtocolVersion::V1_0 => v1_request(method, params),
        ProtocolVersion::V0_3 => v0_3_request(method, params),
    }
}

fn v1_request(method: Method, mut params: Map<String, Value>) -> Result<Outgoing, A2aError> {
    let prefix = match params.get("tenant") {
        Some(Value::String(tenant)) if !tenant.is_empty() => format!("/{}", query::encode(tenant)),
        _ => String::new(),
    };
    let post = |path: String, body: Map<String, Value>| Outgoing {
        http_method: HttpMethod::POST,
        path,
        query: String::new(),
        body: Some(Value::Object(body)),
    };
    let read = |http_method, path: String, mut rest: Map<String, Value>| {
        rest.remove("tenant");
        Ok(Outgoing {
            http_method,
            path,
            query: to_query(&rest)?,
            body: None,
        })
    };
    let enc = |id: &str| query::encode(id).into_owned();
    match method {
        Method::SendMessage => Ok(post(format!("{prefix}/message:send"), params)),
        Method::SendStreamingMessage => Ok(post(format!("{prefix}/message:stream"), params)),
        Method::GetTask => {
            let id = take_id(&mut params, "id")?;
            read(
                HttpMethod::GET,
                format!("{prefix}/tasks/{}", enc(&id)),
                params,
            )
        }
        Method::ListTasks => read(HttpMethod::GET, format!("{prefix}/tasks"), params),
        Method::CancelTask => {
            let id = match params.get("id") {
                Some(Value::String(id)) if !id.is_empty() => enc(id),
                _ => return Err(missing("id")),
            };
            Ok(post(format!("{prefix}/tasks/{id}:cancel"), params))
        }
        Method::SubscribeToTask => {
            let id = take_id(&mut params, "id")?;
            Ok(Outgoing {
                http_method: HttpMethod::POST,
                path: format!("{prefix}/tasks/{}:subscribe", enc(&id)),
                query: String::new(),
                body: None,
            })
        }
        Method::CreateTaskPushNotificationConfig => {
            let task = match params.get("taskId") {
                Some(Value::String(id)) if !id.is_empty() => enc(id),
                _ => return Err(missing("taskId")),
            };
            Ok(post(
                format!("{prefix}/tasks/{task}/pushNotificationConfigs"),
                params,
            ))
        }
        Method::GetTaskPushNotificationConfig | Method::DeleteTaskPushNotificationConfig => {
            let task = take_id(&mut params, "taskId")?;
            let config = take_id(&mut params, "id")?;
            let http_method = if method == Method::GetTaskPushNotificationConfig {
                HttpMethod::GET
            } else {
                HttpMethod::DELETE
            };
            let path = format!(
                "{prefix}/tasks/{}/pushNotificationConfigs/{}",
                enc(&task),
                enc(&config)
            );
            read(http_method, path, params)
        }
        Method::ListTaskPushNotificationConfigs => {
            let task = take_id(&mut params, "taskId")?;
            let path = format!("{prefix}/tasks/{}/pushNotificationConfigs", enc(&task));
            read(HttpMethod::GET, path, params)
        }
        Method::GetExtendedAgentCard => read(
            HttpMethod::GET,
            format!("{prefix}/extendedAgentCard"),
            params,
        ),
    }
}

fn v0_3_request(method: Method, mut params: Map<String, Value>) -> Result<Outgoing, A2aError> {
    let bare = |http_method, path: String| Outgoing {
        http_method,
        path,
        query: String::new(),
        body: None,
    };
    let enc = |id: &str| query::encode(id).into_owned();
    match method {
        Method::SendMessage | Method::SendStreamingMessage => {
            let mut body = Value::Object(params);
            proto_v0_3::send_params_to_proto(&mut body).map_err(proto_error)?;
            let verb = if method == Method::SendMessage {
                "send"
            } else {
                "stream"
            };
            Ok(Outgoing {
                http_method: HttpMethod::POST,
                path: format!("/v1/message:{verb}"),
                query: String::new(),
                body: Some(body),
            })
        }
        Method::GetTask => {
            let id = take_id(&mut params, "id")?;
            let mut out = bare(HttpMethod::GET, format!("/v1/tasks/{}", enc(&id)));
            if let Some(length) = params.get("historyLength").filter(|v| v.is_number()) {
                out.query = query::join([("historyLength", Cow::Owned(length.to_string()))]);
            }
            Ok(out)
        }
        // a2a-sdk's v0.3 client posts no body; the v0.3 proto has nothing but the name in it.
        Method::CancelTask => {
            let id = take_id(&mut params, "id")?;
            Ok(bare(
                HttpMethod::POST,
                format!("/v1/tasks/{}:cancel", enc(&id)),
            ))
        }
        // The v0.3 proto says GET. (a2a-sdk's v0.3 client tries POST first and falls back to
        // GET on 405; a2a-sdk 1.3.0 serves both.)
        Method::SubscribeToTask => {
            let id = take_id(&mut params, "id")?;
            Ok(bare(
                HttpMethod::GET,
                format!("/v1/tasks/{}:subscribe", enc(&id)),
            ))
        }
        Method::CreateTaskPushNotificationConfig => {
            let task = match params.get("taskId") {
                Some(Value::String(id)) if !id.is_empty() => enc(id),
                _ => return Err(missing("taskId")),
            };
            let mut body = Value::Object(params);
            proto_v0_3::create_body_to_proto(&mut body).map_err(proto_error)?;
            Ok(Outgoing {
                http_method: HttpMethod::POST,
                path: format!("/v1/tasks/{task}/pushNotificationConfigs"),
                query: String::new(),
                body: Some(body),
            })
        }
        Method::GetTaskPushNotificationConfig | Method::DeleteTaskPushNotificationConfig => {
            let task = take_id(&mut params, "id")?;
            let config = take_id(&mut params, "pushNotificationConfigId")?;
            let http_method = if method == Method::GetTaskPushNotificationConfig {
                HttpMethod::GET
            } else {
                HttpMethod::DELETE
            };
            Ok(bare(
                http_method,
                format!(
                    "/v1/tasks/{}/pushNotificationConfigs/{}",
                    enc(&task),
                    enc(&config)
                ),
            ))
        }
        Method::ListTaskPushNotificationConfigs => {
            let task = take_id(&mut params, "id")?;
            Ok(bare(
                HttpMethod::GET,
                format!("/v1/tasks/{}/pushNotificationConfigs", enc(&task)),
            ))
        }
        Method::GetExtendedAgentCard => Ok(bare(HttpMethod::GET, "/v1/card".into())),
        Method::ListTasks => {
            Err(A2aError::unsupported_operation()
                .with_message("ListTasks does not exist in A2A 0.3"))
        }
    }
}
