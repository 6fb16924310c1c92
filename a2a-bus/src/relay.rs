//! One request relayed to an agent: written in the agent's version and binding (its card's
//! preferred interface), sent, and the answer — a result, an error, or a stream of events —
//! read back in the client's version.
//!
//! The caller (the hub) has already read the client's request (`protocol`), decided who may
//! send it, and signed the message; this module only speaks to the agent.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::card::ProtocolVersion;
use crate::protocol::envelope::{self, Reply};
use crate::protocol::{A2aError, Method, convert, rest};
use crate::registry::{Agent, Binding};
use crate::upstream::{Answer, Upstream, UpstreamError, UpstreamRequest};

/// Why a relayed request got no answer to pass on: the agent is unusable (down, slow, or
/// answering nonsense), or the request cannot be expressed in the agent's version.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RelayError {
    /// The agent failed to answer: a transport failure, a timeout or an HTTP error.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// An A2A error: the agent's own (converted to the client's version), an answer the
    /// hub cannot read (`InvalidAgentResponse`), or the request refused before sending.
    #[error("{}", .0.message)]
    A2a(A2aError),
}

impl RelayError {
    /// The error as an A2A error for the client: the agent's failures become
    /// `InvalidAgentResponse` or an internal error naming what happened.
    pub fn into_a2a(self) -> A2aError {
        match self {
            Self::A2a(error) => error,
            Self::Upstream(UpstreamError::Malformed(reason)) => A2aError::invalid_agent_response()
                .with_message(format!("the agent's answer is not valid: {reason}")),
            Self::Upstream(error) => A2aError::internal().with_message(error.to_string()),
        }
    }
}

/// A result's events, each already in the client's version.
pub type Events = std::pin::Pin<Box<dyn Stream<Item = Result<Value, RelayError>> + Send>>;

/// The agent's answer in the client's version.
pub enum Relayed {
    Result(Value),
    Events(Events),
}

/// What is relayed.
pub struct Outbound {
    pub method: Method,
    /// The version the client spoke; the answer comes back in it.
    pub client_version: ProtocolVersion,
    /// The params, already in the agent's version (see [`to_agent`]).
    pub params: Value,
    /// Headers for the agent besides its credentials: `traceparent`, `A2A-Extensions`.
    pub headers: HeaderMap,
    /// The JSON-RPC id to send (the client's, or a fresh one).
    pub id: Value,
}

/// Converts params from the client's version to the agent's.
pub fn to_agent(
    agent: &Agent,
    method: Method,
    client_version: ProtocolVersion,
    params: Value,
) -> Result<Value, A2aError> {
    convert::params(method, client_version, agent.endpoint.version, params)
}

/// Sends `outbound` to `agent` and reads its answer in the client's version.
pub async fn relay(
    upstream: &Upstream,
    agent: &Arc<Agent>,
    outbound: Outbound,
) -> Result<Relayed, RelayError> {
    let agent_version = agent.endpoint.version;
    let method = outbound.method;
    let streaming = method.is_streaming();
    let mut headers = outbound.headers;
    if agent_version == ProtocolVersion::V0_3
        && let Some(extensions) = headers.get("a2a-extensions").cloned()
    {
        // v0.3 agents read the older name.
        headers.insert("x-a2a-extensions", extensions);
    }
    headers.insert(
        "a2a-version",
        HeaderValue::from_static(crate::protocol::version::header_value(agent_version)),
    );
    let request = match agent.endpoint.binding {
        Binding::JsonRpc => {
            // v0.3 agents refuse a null id; a REST client's request has none.
            let id = match outbound.id {
                Value::Null => Value::String(format!("agenthub-{}", fastrand::u64(..))),
                id => id,
            };
            let body = envelope::request(id, method, agent_version, outbound.params)
                .ok_or_else(|| RelayError::A2a(unsupported(method, agent_version)))?;
            UpstreamRequest {
                method: http::Method::POST,
                url: agent.endpoint.url.clone(),
                headers,
                body: Some(body),
                streaming,
            }
        }
        Binding::Rest => {
            let outgoing =
                rest::request(method, agent_version, outbound.params).map_err(RelayError::A2a)?;
            let mut url = format!(
                "{}{}",
                agent.endpoint.url.trim_end_matches('/'),
                outgoing.path
            );
            if !outgoing.query.is_empty() {
                url.push('?');
                url.push_str(&outgoing.query);
            }
            UpstreamRequest {
                method: outgoing.http_method,
                url,
                headers,
                body: outgoing.body,
                streaming,
            }
        }
    };
    let binding = agent.endpoint.binding;
    let client_version = outbound.client_version;
    let answer = match upstream.send(agent, request).await {
        Ok(answer) => answer,
        // A REST agent's A2A errors come as HTTP errors with a JSON body.
        Err(UpstreamError::Status {
            status,
            body: Some(body),
        }) if binding == Binding::Rest => {
            return Err(RelayError::A2a(A2aError::from_rest(status, Some(&body))));
        }
        Err(e) => return Err(e.into()),
    };
    match answer {
        Answer::Json(body) => {
            let result = read_result(binding, method, agent_version, body)?;
            if streaming {
                // An agent may answer a stream request with one JSON answer (a message): it
                // is the stream's only event.
                let event = convert::stream_event(agent_version, client_version, result)
                    .map_err(RelayError::A2a)?;
                let events: Events = Box::pin(futures::stream::once(async move { Ok(event) }));
                return Ok(Relayed::Events(events));
            }
            let result = convert::result(method, agent_version, client_version, result)
                .map_err(RelayError::A2a)?;
            Ok(Relayed::Result(result))
        }
        Answer::Events(events) => {
            let events = events.map(move |event| {
                let data = event?;
                let result = match binding {
                    Binding::JsonRpc => match envelope::parse_response_value(data)
                        .map_err(RelayError::A2a)?
                        .reply
                    {
                        Reply::Result(result) => result,
                        Reply::Error(error) => {
                            return Err(RelayError::A2a(A2aError::from_jsonrpc(&error)));
                        }
                    },
                    Binding::Rest => {
                        rest::event_from_body(agent_version, data).map_err(RelayError::A2a)?
                    }
                };
                convert::stream_event(agent_version, client_version, result)
                    .map_err(RelayError::A2a)
            });
            Ok(Relayed::Events(Box::pin(events)))
        }
    }
}

/// The JSON-RPC result (in the agent's version) of an agent's whole answer.
fn read_result(
    binding: Binding,
    method: Method,
    version: ProtocolVersion,
    body: Value,
) -> Result<Value, RelayError> {
    match binding {
        Binding::JsonRpc => match envelope::parse_response_value(body)
            .map_err(RelayError::A2a)?
            .reply
        {
            Reply::Result(result) => Ok(result),
            Reply::Error(error) => Err(RelayError::A2a(A2aError::from_jsonrpc(&error))),
        },
        Binding::Rest => rest::result_from_body(method, version, body).map_err(RelayError::A2a),
    }
}

fn unsupported(method: Method, version: ProtocolVersion) -> A2aError {
    A2aError::unsupported_operation().with_message(format!(
        "the agent speaks A2A {version}, which has no {}",
        method.v1_name()
    ))
}
