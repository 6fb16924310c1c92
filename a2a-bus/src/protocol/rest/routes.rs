//! Incoming REST requests: (HTTP method, path after the agent's base) → the operation, its
//! version, and then (query, body) → its params in the JSON-RPC form of that version.
//!
//! The route tables are a2a-sdk 1.3.0's: v1.0 `server/routes/rest_routes.py` (the same routes
//! again under `/{tenant}`, the un-prefixed ones first) and v0.3
//! `compat/v0_3/rest_adapter.py` (all under `/v1`, no ListTasks). v0.3 also gets DELETE on a
//! push config, which its proto defines but a2a-sdk 1.3.0 does not route. How params are read
//! follows the dispatchers: v1.0 `server/routes/rest_dispatcher.py` (GET query parameters by
//! their JSON names, a repeated key or a comma list for repeated fields, `true`/`false`;
//! unknown ones ignored; ids from the path), v0.3 `compat/v0_3/rest_handler.py` (proto JSON
//! bodies, see `proto_v0_3`).
//!
//! `/v1/…` is both v0.3's prefix and a v1.0 tenant named `v1`. a2a-sdk routes it to v0.3 (its
//! v0.3 routes come first); so does the hub, unless the client said `A2A-Version: 1.0`, or the
//! path is one v0.3 does not have.

use http::Method as HttpMethod;
use serde_json::{Map, Value};

use crate::card::ProtocolVersion;

use super::super::errors::A2aError;
use super::super::methods::Method;
use super::super::version::Requested;
use super::proto_v0_3;
use super::query;

/// A REST request matched to an operation; [`Route::params`] reads its params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub version: ProtocolVersion,
    /// The v1.0 `/{tenant}` prefix, if the path had one.
    pub tenant: Option<String>,
    /// The task id from the path.
    pub task_id: Option<String>,
    /// The push config id from the path.
    pub config_id: Option<String>,
}

/// Why a REST request matched no operation.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteError {
    /// No operation has this path (HTTP 404).
    NotFound,
    /// The path is an operation's, the HTTP method is not (HTTP 405, with `Allow`).
    MethodNotAllowed(&'static [&'static str]),
    /// The request is refused (an unsupported `A2A-Version`).
    Refused(A2aError),
}

impl RouteError {
    /// The HTTP status and JSON body to answer with, in the shape of A2A's REST errors.
    pub fn to_rest(&self) -> (u16, Value) {
        match self {
            Self::NotFound => A2aError::method_not_found()
                .with_message("No A2A operation at this path")
                .to_rest(),
            Self::MethodNotAllowed(allow) => {
                let (_, mut body) = A2aError::method_not_found()
                    .with_message(format!(
                        "Method not allowed here (allowed: {})",
                        allow.join(", ")
                    ))
                    .to_rest();
                if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
                    error.insert("code".into(), 405.into());
                    error.insert("status".into(), "UNIMPLEMENTED".into());
                }
                (405, body)
            }
            Self::Refused(error) => error.to_rest(),
        }
    }
}

enum Match {
    Found(Method, Option<String>, Option<String>),
    WrongMethod(&'static [&'static str]),
    None,
}

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];
const GET_POST: &[&str] = &["GET", "POST"];
const GET_DELETE: &[&str] = &["GET", "DELETE"];

fn segment(text: &str) -> String {
    query::decode(text, false).into_owned()
}

/// Matches the path of one version, without prefix.
fn match_path(segments: &[&str], http: &HttpMethod, version: ProtocolVersion) -> Match {
    let v0_3 = version == ProtocolVersion::V0_3;
    let found = |method, task: Option<&str>, config: Option<&str>| {
        Match::Found(method, task.map(segment), config.map(segment))
    };
    let (allowed, method, task, config): (&'static [&'static str], _, _, _) = match segments {
        ["message:send"] => (POST, Method::SendMessage, None, None),
        ["message:stream"] => (POST, Method::SendStreamingMessage, None, None),
        ["tasks"] if !v0_3 => (GET, Method::ListTasks, None, None),
        ["extendedAgentCard"] if !v0_3 => (GET, Method::GetExtendedAgentCard, None, None),
        ["card"] if v0_3 => (GET, Method::GetExtendedAgentCard, None, None),
        ["tasks", id] => {
            if let Some(task) = id.strip_suffix(":cancel").filter(|t| !t.is_empty()) {
                (POST, Method::CancelTask, Some(task), None)
            } else if let Some(task) = id.strip_suffix(":subscribe").filter(|t| !t.is_empty()) {
                (GET_POST, Method::SubscribeToTask, Some(task), None)
            } else if id.is_empty() {
                return Match::None;
            } else {
                (GET, Method::GetTask, Some(*id), None)
            }
        }
        ["tasks", task, "pushNotificationConfigs"] if !task.is_empty() => {
            let method = if http == HttpMethod::POST {
                Method::CreateTaskPushNotificationConfig
            } else {
                Method::ListTaskPushNotificationConfigs
            };
            (GET_POST, method, Some(*task), None)
        }
        ["tasks", task, "pushNotificationConfigs", config]
            if !task.is_empty() && !config.is_empty() =>
        {
            let method = if http == HttpMethod::DELETE {
                Method::DeleteTaskPushNotificationConfig
            } else {
                Method::GetTaskPushNotificationConfig
            };
            (GET_DELETE, method, Some(*task), Some(*config))
        }
        _ => return Match::None,
    };
    if allowed.contains(&http.as_str()) {
        found(method, task, config)
    } else {
        Match::WrongMethod(allowed)
    }
}

fn try_match(
    segments: &[&str],
    http: &HttpMethod,
    version: ProtocolVersion,
    tenant: Option<&str>,
    wrong_method: &mut Option<&'static [&'static str]>,
) -> Option<Route> {
    match match_path(segments, http, version) {
        Match::Found(method, task_id, config_id) => Some(Route {
            method,
            version,
            tenant: tenant.map(segment),
            task_id,
            config_id,
        }),
        Match::WrongMethod(allowed) => {
            wrong_method.get_or_insert(allowed);
            None
        }
        Match::None => None,
    }
}

/// Matches `path` (what follows the agent's base URL, with its leading `/`).
pub fn route(http: &HttpMethod, path: &str, requested: &Requested) -> Result<Route, RouteError> {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    let segments: Vec<&str> = trimmed.split('/').collect();
    let mut wrong_method = None;
    let prefer_v0_3 = segments.first() == Some(&"v1") && !requested.is(ProtocolVersion::V1_0);
    let mut found = if prefer_v0_3 {
        try_match(
            &segments[1..],
            http,
            ProtocolVersion::V0_3,
            None,
            &mut wrong_method,
        )
    } else {
        try_match(
            &segments,
            http,
            ProtocolVersion::V1_0,
            None,
            &mut wrong_method,
        )
    };
    if found.is_none()
        && let Some((tenant, rest)) = segments.split_first()
        && !tenant.is_empty()
        && !rest.is_empty()
    {
        found = try_match(
            rest,
            http,
            ProtocolVersion::V1_0,
            Some(tenant),
            &mut wrong_method,
        );
    }
    match found {
        Some(route) => {
            requested
                .resolve(route.version)
                .map_err(RouteError::Refused)?;
            Ok(route)
        }
        None => Err(match wrong_method {
            Some(allowed) => RouteError::MethodNotAllowed(allowed),
            None => RouteError::NotFound,
        }),
    }
}

/// How a query parameter is read into the params: by its JSON name, as protobuf's JSON
/// parser would take the string (a2a-sdk's `proto_utils.parse_params`).
#[derive(Clone, Copy)]
enum Field {
    Text,
    Integer,
    Boolean,
}

/// The query parameters each GET operation reads (the rest of its request message).
fn query_fields(method: Method, version: ProtocolVersion) -> &'static [(&'static str, Field)] {
    match (method, version) {
        (Method::GetTask, _) => &[("historyLength", Field::Integer)],
        (Method::ListTasks, _) => &[
            ("contextId", Field::Text),
            ("status", Field::Text),
            ("pageSize", Field::Integer),
            ("pageToken", Field::Text),
            ("historyLength", Field::Integer),
            ("statusTimestampAfter", Field::Text),
            ("includeArtifacts", Field::Boolean),
        ],
        (Method::ListTaskPushNotificationConfigs, ProtocolVersion::V1_0) => {
            &[("pageSize", Field::Integer), ("pageToken", Field::Text)]
        }
        _ => &[],
    }
}

fn read_query(
    params: &mut Map<String, Value>,
    fields: &[(&'static str, Field)],
    query: &str,
) -> Result<(), A2aError> {
    for (key, value) in query::pairs(query) {
        let Some((name, field)) = fields.iter().find(|(name, _)| *name == key) else {
            continue;
        };
        let value = match field {
            Field::Text => Value::String(value.into_owned()),
            Field::Boolean => Value::Bool(value.eq_ignore_ascii_case("true")),
            Field::Integer => match value.trim().parse::<i64>() {
                Ok(number) => Value::from(number),
                Err(_) => {
                    return Err(A2aError::invalid_params()
                        .with_message(format!("{name} must be an integer, not {value:?}")));
                }
            },
        };
        // The last of repeated keys wins, as in a2a-sdk.
        params.insert((*name).to_owned(), value);
    }
    Ok(())
}

/// A JSON object body; an empty body reads as `{}`.
fn body_object(body: &[u8]) -> Result<Map<String, Value>, A2aError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(A2aError::invalid_request().with_message("the body must be a JSON object")),
        Err(e) => Err(A2aError::parse_error().with_message(format!("Failed to load JSON: {e}"))),
    }
}

impl Route {
    /// The operation's params in the JSON-RPC form of [`Route::version`], from the query
    /// string (without `?`) and the body. Ids from the path win over the body's; a v1.0
    /// tenant from the path is put in `tenant`.
    pub fn params(&self, query: Option<&str>, body: &[u8]) -> Result<Value, A2aError> {
        let mut params = match self.version {
            ProtocolVersion::V1_0 => self.v1_params(body)?,
            ProtocolVersion::V0_3 => self.v0_3_params(body)?,
        };
        let fields = query_fields(self.method, self.version);
        if let (false, Some(query)) = (fields.is_empty(), query) {
            read_query(&mut params, fields, query)?;
        }
        if let Some(tenant) = &self.tenant {
            params.insert("tenant".into(), tenant.clone().into());
        }
        Ok(Value::Object(params))
    }

    fn ids(&self) -> (Value, Value) {
        let text = |id: &Option<String>| id.clone().map(Value::String).unwrap_or_default();
        (text(&self.task_id), text(&self.config_id))
    }

    fn v1_params(&self, body: &[u8]) -> Result<Map<String, Value>, A2aError> {
        let (task_id, config_id) = self.ids();
        let mut params = Map::new();
        match self.method {
            Method::SendMessage | Method::SendStreamingMessage => params = body_object(body)?,
            Method::CancelTask => {
                params = body_object(body)?;
                params.insert("id".into(), task_id);
            }
            Method::GetTask | Method::SubscribeToTask => {
                params.insert("id".into(), task_id);
            }
            Method::CreateTaskPushNotificationConfig => {
                params = body_object(body)?;
                params.insert("taskId".into(), task_id);
            }
            Method::GetTaskPushNotificationConfig | Method::DeleteTaskPushNotificationConfig => {
                params.insert("taskId".into(), task_id);
                params.insert("id".into(), config_id);
            }
            Method::ListTaskPushNotificationConfigs => {
                params.insert("taskId".into(), task_id);
            }
            Method::ListTasks | Method::GetExtendedAgentCard => {}
        }
        Ok(params)
    }

    fn v0_3_params(&self, body: &[u8]) -> Result<Map<String, Value>, A2aError> {
        let (task_id, config_id) = self.ids();
        let invalid =
            |e: super::super::json::Invalid| A2aError::invalid_params().with_message(e.to_string());
        let mut params = Map::new();
        match self.method {
            Method::SendMessage | Method::SendStreamingMessage => {
                let mut body = Value::Object(body_object(body)?);
                proto_v0_3::send_params_from_proto(&mut body).map_err(invalid)?;
                if let Value::Object(body) = body {
                    params = body;
                }
            }
            Method::GetTask | Method::CancelTask | Method::SubscribeToTask => {
                params.insert("id".into(), task_id);
            }
            Method::CreateTaskPushNotificationConfig => {
                let task = task_id.as_str().unwrap_or_default();
                let body = Value::Object(body_object(body)?);
                if let Value::Object(body) =
                    proto_v0_3::create_params_from_proto(body, task).map_err(invalid)?
                {
                    params = body;
                }
            }
            Method::GetTaskPushNotificationConfig | Method::DeleteTaskPushNotificationConfig => {
                params.insert("id".into(), task_id);
                params.insert("pushNotificationConfigId".into(), config_id);
            }
            Method::ListTaskPushNotificationConfigs => {
                params.insert("id".into(), task_id);
            }
            Method::ListTasks | Method::GetExtendedAgentCard => {}
        }
        Ok(params)
    }
}
