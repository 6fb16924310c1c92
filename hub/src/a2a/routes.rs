//! The A2A face's HTTP: `/a2a/<agent>` (JSON-RPC on POST, REST below it), `/a2a` (JSON-RPC
//! naming the agent in `params.agent`), each agent's card rewritten to point at the hub, the
//! hub's own card, and the hub's public keys. Requests are read here into a `ClientRequest`
//! and answers written back in the client's version and binding; `exchange` does the rest.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use agenthub_a2a_bus::protocol::envelope::{self, Rejection};
use agenthub_a2a_bus::protocol::rest::{self, RouteError};
use agenthub_a2a_bus::protocol::{A2aError, ErrorKind as A2aErrorKind, ProtocolVersion, Requested};
use agenthub_a2a_bus::registry::Agent;
use agenthub_a2a_bus::signing::{self, JWKS_PATH};
use agenthub_policy::ErrorKind;
use agenthub_policy::authz::{Action, Subjects};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures::StreamExt;
use serde_json::{Value, json};

use super::exchange::{self, Answer, ClientRequest, Failure};
use super::traces::TraceContext;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::Error;
use crate::governance::request_metadata;

/// The agent card path under an agent's base URL (and the hub's origin).
const CARD_PATH: &str = "/.well-known/agent-card.json";
/// v0.3 clients may look for this one.
const LEGACY_CARD_PATH: &str = "/.well-known/agent.json";
/// The JSON-RPC code of an agent that does not exist (or may not be reached).
pub const AGENT_NOT_FOUND_CODE: i32 = -32062;
/// The answer header naming the exchange's trace.
pub const TRACE_ID_HEADER: &str = "x-agenthub-trace-id";
/// The JSON-RPC code of a request a rate limit or budget refused.
pub const LIMITED_CODE: i32 = -32029;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(JWKS_PATH, get(jwks))
        .route(CARD_PATH, get(hub_card))
        .route("/a2a", post(hub_jsonrpc))
        .route("/a2a/", post(hub_jsonrpc))
        // Agents' push notifications, authenticated by the subscription's secret (push.rs).
        .route("/a2a/_push/{subscription}", post(super::push::receive))
        .route("/a2a/{target}", post(jsonrpc))
        .route("/a2a/{target}/", post(jsonrpc))
        .route("/a2a/{target}/{*rest}", any(rest_or_card))
}

/// The hub's public signing keys.
async fn jwks(State(state): State<AppState>) -> Response {
    match state.a2a.keys().jwks().await {
        Ok(jwks) => (
            [(header::CACHE_CONTROL, "public, max-age=300")],
            axum::Json(jwks),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

/// Where clients reach the hub: the configured public URL, else the request's own host.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = state.config.snapshot().auth.public_base() {
        return base.to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// The security the hub's cards declare: the hub's own credentials (an API key or a token as
/// a bearer token, or the key in `x-api-key`).
fn hub_security(card: &mut serde_json::Map<String, Value>) {
    card.insert(
        "securitySchemes".into(),
        json!({
            "agenthub": {"httpAuthSecurityScheme": {"scheme": "Bearer", "description": "an agenthub API key or token"}},
            "agenthub-api-key": {"apiKeySecurityScheme": {"location": "header", "name": "x-api-key"}},
        }),
    );
    card.insert(
        "securityRequirements".into(),
        json!([{"schemes": {"agenthub": {"list": []}}}, {"schemes": {"agenthub-api-key": {"list": []}}}]),
    );
}

/// The interfaces of the hub at `url`: v1.0 JSON-RPC first, REST, then v0.3 JSON-RPC; and
/// the top-level fields v0.3 clients read.
fn hub_interfaces(card: &mut serde_json::Map<String, Value>, url: &str) {
    card.insert(
        "supportedInterfaces".into(),
        json!([
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        ]),
    );
    card.insert("url".into(), url.into());
    card.insert("preferredTransport".into(), "JSONRPC".into());
    card.insert("protocolVersion".into(), "0.3.0".into());
}

/// Signs a card the hub serves with its current key.
async fn signed(state: &AppState, base: &str, mut card: Value) -> Response {
    let keys = match state.a2a.keys().get().await {
        Ok(keys) => keys,
        Err(error) => return error.into_response(),
    };
    let jku = format!("{base}{JWKS_PATH}");
    if let Err(e) = signing::sign_card_in_place(&mut card, &keys.signer, Some(&jku)) {
        return Error::internal(e).into_response();
    }
    (
        [(header::CACHE_CONTROL, "private, max-age=60")],
        axum::Json(card),
    )
        .into_response()
}

/// The hub's own card: the hub as one agent at `/a2a`, where a request names the agent (or
/// `skill:<id>`) it is for. Public, and naming no agent.
async fn hub_card(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = base_url(&state, &headers);
    let mut card = serde_json::Map::new();
    card.insert("name".into(), "agenthub".into());
    card.insert(
        "description".into(),
        "An agenthub hub: it relays A2A messages to the agents registered with it, signed, \
         authorized and traced. Name the agent (or skill:<id>) in params.agent at this URL, or \
         use /a2a/<agent>; GET /api/v1/agents/find lists the agents you may reach."
            .into(),
    );
    card.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    hub_interfaces(&mut card, &format!("{base}/a2a"));
    card.insert(
        "capabilities".into(),
        json!({"streaming": true, "pushNotifications": true}),
    );
    hub_security(&mut card);
    card.insert(
        "defaultInputModes".into(),
        json!(["text/plain", "application/json"]),
    );
    card.insert(
        "defaultOutputModes".into(),
        json!(["text/plain", "application/json"]),
    );
    card.insert("skills".into(), json!([]));
    signed(&state, &base, Value::Object(card)).await
}

/// An agent's card as the hub serves it: pointing at the hub, declaring the hub's security
/// (the agent's own credentials stay the hub's), signed by the hub.
fn rewritten_card(agent: &Agent, url: &str) -> Value {
    let mut card = match serde_json::to_value(&agent.card) {
        Ok(Value::Object(card)) => card,
        _ => serde_json::Map::new(),
    };
    card.remove("signatures");
    hub_interfaces(&mut card, url);
    hub_security(&mut card);
    // `capabilities.pushNotifications` stays the agent's own: the hub relays them (push.rs).
    Value::Object(card)
}

fn may_list(caller: &Caller, agent: &str) -> bool {
    super::may(
        caller,
        &Subjects::of(&caller.identity),
        &caller.identity,
        agent,
        Action::List,
    )
}

async fn agent_card(
    state: &AppState,
    caller: &Caller,
    target: &str,
    headers: &HeaderMap,
) -> Response {
    let directory = state.a2a.registry().directory();
    if let Some(skill) = target.strip_prefix("skill:") {
        return skill_card(state, caller, skill, headers).await;
    }
    let Some(agent) = directory.get(target).filter(|a| may_list(caller, &a.name)) else {
        return Error::not_found(format!("agent \"{target}\"")).into_response();
    };
    let base = base_url(state, headers);
    let card = rewritten_card(agent, &format!("{base}/a2a/{}", agent.name));
    signed(state, &base, card).await
}

/// The card of `skill:<id>`: the hub as an agent offering that skill (answered by one of the
/// agents the caller may reach that offer it).
async fn skill_card(
    state: &AppState,
    caller: &Caller,
    skill: &str,
    headers: &HeaderMap,
) -> Response {
    let directory = state.a2a.registry().directory();
    let offered = directory
        .with_skill(skill)
        .filter(|a| may_list(caller, &a.name))
        .find_map(|a| a.card.skills.iter().find(|s| s.id == skill).cloned());
    let Some(offered) = offered else {
        return Error::not_found(format!("agent \"skill:{skill}\"")).into_response();
    };
    let base = base_url(state, headers);
    let mut card = serde_json::Map::new();
    card.insert("name".into(), format!("skill:{skill}").into());
    card.insert(
        "description".into(),
        format!(
            "{}: answered through agenthub by an agent offering this skill",
            offered.name
        )
        .into(),
    );
    card.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    hub_interfaces(&mut card, &format!("{base}/a2a/skill:{skill}"));
    card.insert("capabilities".into(), json!({"streaming": true}));
    hub_security(&mut card);
    card.insert("defaultInputModes".into(), json!(["text/plain"]));
    card.insert("defaultOutputModes".into(), json!(["text/plain"]));
    card.insert(
        "skills".into(),
        serde_json::to_value([offered]).unwrap_or_default(),
    );
    signed(state, &base, Value::Object(card)).await
}

fn version_header(headers: &HeaderMap) -> Option<&str> {
    headers.get("a2a-version").and_then(|v| v.to_str().ok())
}

fn metadata(headers: &HeaderMap) -> Result<Arc<BTreeMap<String, String>>, Error> {
    request_metadata(headers).map(Arc::new)
}

async fn read_body(state: &AppState, body: Body) -> Result<Bytes, Error> {
    let limit = state.a2a.settings().max_message_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        Error::new(
            ErrorKind::PayloadTooLarge,
            format!("the request is larger than {limit} bytes (a2a.max_message_bytes)"),
        )
    })
}

/// JSON-RPC at `/a2a/<agent>`.
async fn jsonrpc(
    State(state): State<AppState>,
    caller: Caller,
    Path(target): Path<String>,
    request: Request,
) -> Response {
    jsonrpc_to(state, caller, Some(target), request).await
}

/// JSON-RPC at `/a2a`: the agent is named in `params.agent`.
async fn hub_jsonrpc(State(state): State<AppState>, caller: Caller, request: Request) -> Response {
    jsonrpc_to(state, caller, None, request).await
}

async fn jsonrpc_to(
    state: AppState,
    caller: Caller,
    target: Option<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(&state, body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let requested = Requested::detect(version_header(&parts.headers), parts.uri.query());
    let parsed = match envelope::parse_request(&body, &requested) {
        Ok(parsed) => parsed,
        Err(rejection) => return jsonrpc_rejection(&rejection),
    };
    let envelope::Request {
        id,
        method,
        version,
        mut params,
    } = parsed;
    let version = match requested.resolve(version) {
        Ok(version) => version,
        Err(error) => return jsonrpc_error(id, &error, version),
    };
    let target = match target {
        Some(target) => target,
        None => match params.as_object_mut().and_then(|p| p.remove("agent")) {
            Some(Value::String(target)) if !target.is_empty() => target,
            _ => {
                let error = A2aError::invalid_params().with_message(
                    "params.agent is required at /a2a: the agent's name, or skill:<id>",
                );
                return jsonrpc_error(id, &error, version);
            }
        },
    };
    let metadata = match metadata(&parts.headers) {
        Ok(metadata) => metadata,
        Err(error) => return error.into_response(),
    };
    let trace = trace_of(&parts.headers);
    let client = ClientRequest {
        target,
        method,
        version,
        params,
        id: id.clone(),
        trace: trace.clone(),
        extensions: parts.headers.get("a2a-extensions").cloned(),
        metadata,
        base_url: base_url(&state, &parts.headers),
    };
    let response = match exchange::exchange(&state, &caller, client).await {
        Ok(Answer::Result(result)) => {
            let bytes = envelope::encode_success(&id, &result);
            ([(header::CONTENT_TYPE, envelope::CONTENT_TYPE)], bytes).into_response()
        }
        Ok(Answer::Events(events)) => {
            sse(events.map(move |event| envelope::encode_success(&id, &event)))
        }
        Err(failure) => jsonrpc_failure(id, failure, version),
    };
    with_trace(response, &trace)
}

/// REST below `/a2a/<agent>/`, and the agent's card.
async fn rest_or_card(
    State(state): State<AppState>,
    caller: Caller,
    Path((target, rest_path)): Path<(String, String)>,
    request: Request,
) -> Response {
    let path = format!("/{rest_path}");
    if path == CARD_PATH || path == LEGACY_CARD_PATH {
        if request.method() != http::Method::GET {
            return Error::new(
                ErrorKind::MethodNotAllowed,
                "the agent card is read with GET",
            )
            .into_response();
        }
        return agent_card(&state, &caller, &target, request.headers()).await;
    }
    let (parts, body) = request.into_parts();
    let requested = Requested::detect(version_header(&parts.headers), parts.uri.query());
    let route = match rest::route(&parts.method, &path, &requested) {
        Ok(route) => route,
        Err(error) => return route_error(&error),
    };
    let body = match read_body(&state, body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let params = match route.params(parts.uri.query(), &body) {
        Ok(params) => params,
        Err(error) => return rest_error(&error),
    };
    let metadata = match metadata(&parts.headers) {
        Ok(metadata) => metadata,
        Err(error) => return error.into_response(),
    };
    let (method, version) = (route.method, route.version);
    let trace = trace_of(&parts.headers);
    let client = ClientRequest {
        target,
        method,
        version,
        params,
        id: Value::Null,
        trace: trace.clone(),
        extensions: parts.headers.get("a2a-extensions").cloned(),
        metadata,
        base_url: base_url(&state, &parts.headers),
    };
    let response = match exchange::exchange(&state, &caller, client).await {
        Ok(Answer::Result(result)) => match rest::body_from_result(method, version, result) {
            Ok(body) => {
                let bytes = serde_json::to_vec(&body).unwrap_or_default();
                ([(header::CONTENT_TYPE, rest::content_type(version))], bytes).into_response()
            }
            Err(error) => rest_error(&error),
        },
        Ok(Answer::Events(events)) => sse(events.map(move |event| {
            let body = rest::body_from_event(version, event)
                .unwrap_or_else(|e| json!({"error": e.message}));
            serde_json::to_vec(&body).unwrap_or_default()
        })),
        Err(failure) => rest_failure(failure),
    };
    with_trace(response, &trace)
}

/// The trace a request belongs to: its `traceparent` continued, or a new one.
fn trace_of(headers: &HeaderMap) -> TraceContext {
    TraceContext::continue_from(headers.get("traceparent").and_then(|v| v.to_str().ok()))
}

/// The trace id on the answer, so the client can look the exchange up (`agenthub trace show`).
fn with_trace(mut response: Response, trace: &TraceContext) -> Response {
    if let Ok(value) = HeaderValue::from_str(&trace.trace_id) {
        response.headers_mut().insert(TRACE_ID_HEADER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&trace.traceparent()) {
        response.headers_mut().insert("traceparent", value);
    }
    response
}

/// An event stream whose events are the given JSON documents, sent as they come.
fn sse(events: impl futures::Stream<Item = Vec<u8>> + Send + 'static) -> Response {
    let frames = events.map(|data| {
        let mut frame = Vec::with_capacity(data.len() + 8);
        frame.extend_from_slice(b"data: ");
        frame.extend_from_slice(&data);
        frame.extend_from_slice(b"\n\n");
        Ok::<_, Infallible>(Bytes::from(frame))
    });
    let mut response = Response::new(Body::from_stream(frames));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn json_response(status: StatusCode, body: &Value, content_type: &'static str) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

fn jsonrpc_rejection(rejection: &Rejection) -> Response {
    json_response(
        StatusCode::OK,
        &rejection.response(),
        envelope::CONTENT_TYPE,
    )
}

fn jsonrpc_error(id: Value, error: &A2aError, version: ProtocolVersion) -> Response {
    json_response(
        StatusCode::OK,
        &envelope::failure(id, error, version),
        envelope::CONTENT_TYPE,
    )
}

/// A hub refusal as an A2A error: its code, its message, and what kind it is.
fn hub_error(error: &Error) -> A2aError {
    let code = match error.kind() {
        ErrorKind::NotFound => AGENT_NOT_FOUND_CODE,
        ErrorKind::RateLimited => LIMITED_CODE,
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => {
            A2aErrorKind::InvalidRequest.code()
        }
        _ => A2aErrorKind::Internal.code(),
    };
    let message = if error.kind() == ErrorKind::Internal {
        tracing::error!(%error, "internal error");
        "internal error".to_owned()
    } else {
        error.message().to_owned()
    };
    let mut a2a = A2aError::new(A2aErrorKind::from_code(code))
        .with_message(message)
        .with_metadata("type", error.kind().as_str())
        .with_metadata("retryable", error.is_retryable());
    if let Some(limit) = error.limit_facts() {
        a2a = a2a.with_metadata("limit", serde_json::to_value(limit).unwrap_or_default());
    }
    a2a
}

/// JSON-RPC clients get errors in the body (HTTP 200), except for an unknown agent: the URL
/// names nothing (404).
fn jsonrpc_failure(id: Value, failure: Failure, version: ProtocolVersion) -> Response {
    match failure {
        Failure::A2a(error) => jsonrpc_error(id, &error, version),
        Failure::Hub(error) => {
            let status = if error.kind() == ErrorKind::NotFound {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            let mut response = json_response(
                status,
                &envelope::failure(id, &hub_error(&error), version),
                envelope::CONTENT_TYPE,
            );
            if let Some(limit) = error.limit_facts() {
                response.headers_mut().extend(limit.headers());
            }
            response
        }
    }
}

fn rest_error(error: &A2aError) -> Response {
    let (status, body) = error.to_rest();
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &body,
        "application/json",
    )
}

fn rest_failure(failure: Failure) -> Response {
    match failure {
        Failure::A2a(error) => rest_error(&error),
        Failure::Hub(error) => {
            let (_, mut body) = hub_error(&error).to_rest();
            let status = error.status();
            if let Some(code) = body.pointer_mut("/error/code") {
                *code = status.as_u16().into();
            }
            let mut response = json_response(status, &body, "application/json");
            if let Some(limit) = error.limit_facts() {
                response.headers_mut().extend(limit.headers());
            }
            response
        }
    }
}

fn route_error(error: &RouteError) -> Response {
    let (status, body) = error.to_rest();
    let mut response = json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND),
        &body,
        "application/json",
    );
    if let RouteError::MethodNotAllowed(allow) = error
        && let Ok(value) = HeaderValue::from_str(&allow.join(", "))
    {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
