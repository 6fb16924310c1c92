//! The JSON-RPC 2.0 envelope of A2A's JSON-RPC binding: reading a client's request into a
//! typed [`Request`] (or the error to answer), writing responses and requests, reading an
//! agent's response.
//!
//! What is refused, and how, follows a2a-sdk 1.3.0's `JsonRpcDispatcher.handle_requests`
//! (`server/routes/jsonrpc_dispatcher.py`), checked against a running server (fixture
//! `wire.json`): unreadable JSON is -32700 with id null; a batch (an array) is
//! -32600 "Batch requests are not supported", A2A having no batches; a body that is not an
//! object, a `jsonrpc` other than `"2.0"`, an id that is not a string, number or null, a
//! missing method and scalar params are -32600; an unknown method is -32601; array params
//! are -32602. Errors found before the method is known are written in the v1.0 form (as
//! a2a-sdk does); later ones in the form of the method's version.
//!
//! Where the hub is more lenient than a2a-sdk: the version comes from the method name (see
//! `version`); an absent id is answered with id null (a2a-sdk does the same for v1.0 methods,
//! its v0.3 adapter refuses it); a non-integer number id is echoed (JSON-RPC allows it,
//! a2a-sdk's `jsonrpc` library refuses it); absent params read as `{}`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::card::ProtocolVersion;

use super::errors::A2aError;
use super::methods::Method;
use super::version::Requested;

/// The content type of JSON-RPC requests and non-streaming responses (a2a-sdk sends
/// `application/json`); streams are `text/event-stream`.
pub const CONTENT_TYPE: &str = "application/json";

/// A client's request, checked as far as the envelope goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// A string, a number or null; echoed in the response.
    pub id: Value,
    pub method: Method,
    /// The version the client speaks (that of the method name).
    pub version: ProtocolVersion,
    /// An object, in the JSON-RPC params form of `version`.
    pub params: Value,
}

/// A request refused at the envelope: the error, the id to echo and the version to write the
/// error in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub id: Value,
    pub version: ProtocolVersion,
    pub error: A2aError,
}

impl Rejection {
    fn new(id: Value, version: ProtocolVersion, error: A2aError) -> Self {
        Self { id, version, error }
    }

    /// The JSON-RPC error response to send back (HTTP 200, as a2a-sdk answers).
    pub fn response(&self) -> Value {
        failure(self.id.clone(), &self.error, self.version)
    }
}

/// Reads a request body. `requested` is what the `A2A-Version` header or query parameter said.
pub fn parse_request(body: &[u8], requested: &Requested) -> Result<Request, Rejection> {
    // Errors before the method is known are written the way a2a-sdk writes them: v1.0 form.
    let early = ProtocolVersion::V1_0;
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::new(
            Value::Null,
            early,
            A2aError::parse_error().with_message(e.to_string()),
        )
    })?;
    let mut object = match value {
        Value::Object(object) => object,
        Value::Array(_) => {
            return Err(Rejection::new(
                Value::Null,
                early,
                A2aError::invalid_request().with_message("Batch requests are not supported"),
            ));
        }
        _ => {
            return Err(Rejection::new(
                Value::Null,
                early,
                A2aError::invalid_request()
                    .with_message("Invalid request: the body must be a JSON-RPC request object"),
            ));
        }
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    let id_is_valid = matches!(id, Value::String(_) | Value::Number(_) | Value::Null);
    let echo = if id_is_valid { id.clone() } else { Value::Null };
    let invalid = |message: &str| {
        Rejection::new(
            echo.clone(),
            early,
            A2aError::invalid_request().with_message(message),
        )
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("Invalid request: 'jsonrpc' must be exactly '2.0'"));
    }
    if !id_is_valid {
        return Err(invalid(
            "Invalid request: id must be a string, a number, or null",
        ));
    }
    let name = match object.remove("method") {
        Some(Value::String(name)) if !name.is_empty() => name,
        Some(Value::String(_)) | None => {
            return Err(invalid("Invalid request: method is required"));
        }
        Some(_) => return Err(invalid("Invalid request: method must be a string")),
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(params @ Value::Object(_)) => params,
        Some(Value::Array(_)) => {
            // a2a-sdk finds out only when it reads them into the method's request type.
            return Err(match Method::from_name(&name) {
                None => Rejection::new(id, early, A2aError::method_not_found()),
                Some((_, version)) => Rejection::new(
                    id,
                    version,
                    A2aError::invalid_params().with_message("params must be an object"),
                ),
            });
        }
        Some(_) => return Err(invalid("Invalid request: params must be an object")),
    };
    let Some((method, implied)) = Method::from_name(&name) else {
        return Err(Rejection::new(id, early, A2aError::method_not_found()));
    };
    let version = requested
        .resolve(implied)
        .map_err(|error| Rejection::new(id.clone(), implied, error))?;
    Ok(Request {
        id,
        method,
        version,
        params,
    })
}

/// A success response echoing `id`.
pub fn success(id: Value, result: Value) -> Value {
    let mut response = Map::new();
    response.insert("jsonrpc".into(), "2.0".into());
    response.insert("id".into(), id);
    response.insert("result".into(), result);
    Value::Object(response)
}

/// An error response echoing `id`, the error written for a client of `version`.
pub fn failure(id: Value, error: &A2aError, version: ProtocolVersion) -> Value {
    let mut response = Map::new();
    response.insert("jsonrpc".into(), "2.0".into());
    response.insert("id".into(), id);
    response.insert("error".into(), error.to_jsonrpc(version));
    Value::Object(response)
}

#[derive(Serialize)]
struct SuccessRef<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: &'a Value,
}

/// [`success`] written straight to bytes, without building the envelope (the relay's answer
/// to each event of a stream).
pub fn encode_success(id: &Value, result: &Value) -> Vec<u8> {
    let envelope = SuccessRef {
        jsonrpc: "2.0",
        id,
        result,
    };
    // Serializing a `Value` cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// A request to an agent of `version`; `None` when the version lacks the method (`ListTasks`
/// in v0.3). v0.3's `agent/getAuthenticatedExtendedCard` has no params, so none are sent.
pub fn request(
    id: Value,
    method: Method,
    version: ProtocolVersion,
    params: Value,
) -> Option<Value> {
    let name = method.name(version)?;
    let mut request = Map::new();
    request.insert("jsonrpc".into(), "2.0".into());
    request.insert("id".into(), id);
    request.insert("method".into(), name.into());
    let no_params = version == ProtocolVersion::V0_3 && method == Method::GetExtendedAgentCard;
    if !no_params {
        request.insert("params".into(), params);
    }
    Some(Value::Object(request))
}

/// What an agent answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Result(Value),
    /// The JSON-RPC error object as it came; read it with [`A2aError::from_jsonrpc`], or pass
    /// it on untouched to a client of the same version.
    Error(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Value,
    pub reply: Reply,
}

/// Reads an agent's response (a whole body, or one SSE event's data). A response with neither
/// `result` nor `error` reads as a null result: a2a-sdk's v0.3 adapter answers
/// `tasks/pushNotificationConfig/delete` that way (`{"id":…,"jsonrpc":"2.0"}`).
pub fn parse_response(body: &[u8]) -> Result<Response, A2aError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        A2aError::invalid_agent_response()
            .with_message(format!("the agent's answer is not JSON: {e}"))
    })?;
    parse_response_value(value)
}

/// [`parse_response`] of an already parsed document.
pub fn parse_response_value(value: Value) -> Result<Response, A2aError> {
    let Value::Object(mut object) = value else {
        return Err(A2aError::invalid_agent_response()
            .with_message("the agent's answer is not a JSON-RPC response object"));
    };
    let id = object.remove("id").unwrap_or(Value::Null);
    let reply = match object.remove("error") {
        Some(error @ Value::Object(_)) => Reply::Error(error),
        Some(Value::Null) | None => Reply::Result(object.remove("result").unwrap_or(Value::Null)),
        Some(_) => {
            return Err(A2aError::invalid_agent_response()
                .with_message("the agent's JSON-RPC error is not an object"));
        }
    };
    Ok(Response { id, reply })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encoded_success_matches_the_built_one() {
        let id = json!("a");
        let result = json!({"task": {"id": "t"}});
        let bytes = encode_success(&id, &result);
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, success(id, result));
    }

    #[test]
    fn v0_3_extended_card_requests_carry_no_params() {
        let request = request(
            json!(1),
            Method::GetExtendedAgentCard,
            ProtocolVersion::V0_3,
            json!({}),
        )
        .unwrap();
        assert_eq!(
            request,
            json!({"jsonrpc": "2.0", "id": 1, "method": "agent/getAuthenticatedExtendedCard"})
        );
        assert!(
            super::request(
                json!(1),
                Method::ListTasks,
                ProtocolVersion::V0_3,
                json!({})
            )
            .is_none()
        );
    }
}
