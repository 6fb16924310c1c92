//! One governed exchange: a client's A2A request, already read (`routes`), taken through the
//! hub's steps to an agent and back.
//!
//! 1. Who sends it: the caller, and — when the caller is a registered agent (its
//!    registration's `principal`) — the delegation chain it works under, read from the hub's
//!    grant in the `agenthub/parent` it hands back. An agent with public keys must sign what it
//!    sends.
//! 2. To whom: the agent named, or one offering `skill:<id>` that the caller may reach; a task
//!    method goes to the agent owning the task, and only its principal may touch it. Unknown
//!    and forbidden agents look alike.
//! 3. May it: `send` or `read` on `agent:<name>` for the caller and for the principal it acts
//!    for; no loops, no chain deeper than allowed; rate limits and budgets; guardrails on the
//!    message's text.
//! 4. The message is signed by the hub (with a grant the receiver can hand back), the trace
//!    continued, and the request relayed in the agent's version and binding.
//! 5. The answer (or each event of a stream) is checked by the output guardrails, its tasks
//!    recorded to their owner, and every step recorded in the trace.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agenthub_a2a_bus::chain::{self, ChainError, PARENT_METADATA_KEY};
use agenthub_a2a_bus::config::SkillRouting;
use agenthub_a2a_bus::protocol::convert::{self, ObjectKind};
use agenthub_a2a_bus::protocol::{
    A2aError, ErrorKind as A2aErrorKind, Method, ProtocolVersion, access,
};
use agenthub_a2a_bus::registry::{Agent, Directory};
use agenthub_a2a_bus::relay::{self, Outbound, RelayError, Relayed};
use agenthub_a2a_bus::signing::{
    self, GrantClaims, GrantKeys, MessageClaims, SIGNATURE_METADATA_KEY,
};
use agenthub_policy::Identity;
use agenthub_policy::authz::{Action, Subjects};
use agenthub_policy::guardrails::Stage;
use agenthub_policy::limits::{Admission, Timestamp, Usage};
use agenthub_policy::when::{Plane, RequestFacts};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::A2aPlane;
use super::traces::{Span, TraceContext};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::Error;
use crate::governance::Governance;
use crate::model::now_millis;
use crate::telemetry::{self, event::RequestEvent, event::Status};

/// A client's request, read from either binding.
pub struct ClientRequest {
    /// `<agent>` or `skill:<id>`.
    pub target: String,
    pub method: Method,
    pub version: ProtocolVersion,
    /// In the client's version's JSON-RPC form.
    pub params: Value,
    /// The JSON-RPC id (REST: null).
    pub id: Value,
    /// Where the exchange sits in its trace (the client's `traceparent` continued).
    pub trace: TraceContext,
    pub extensions: Option<HeaderValue>,
    /// The client's `x-agenthub-metadata`.
    pub metadata: Arc<BTreeMap<String, String>>,
    /// Where clients reach the hub (`auth.public_url`, or the request's host): push configs
    /// given to agents point there.
    pub base_url: String,
}

/// Why the hub did not relay, or what went wrong relaying.
#[derive(Debug)]
pub enum Failure {
    /// An A2A error, answered in the client's form (JSON-RPC: HTTP 200).
    A2a(A2aError),
    /// The hub's own refusal: unknown agent (404), a limit (429), unavailable (503).
    Hub(Error),
}

impl From<A2aError> for Failure {
    fn from(error: A2aError) -> Self {
        Self::A2a(error)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Hub(error)
    }
}

fn chain_error(error: &ChainError) -> A2aError {
    A2aError::new(A2aErrorKind::from_code(error.code())).with_message(error.to_string())
}

/// Unknown and forbidden agents are answered alike.
fn no_such_agent(target: &str) -> Failure {
    Failure::Hub(Error::not_found(format!("agent \"{target}\"")))
}

/// The hub-specific JSON-RPC codes (the implementation-defined server error range).
pub const FORBIDDEN_CODE: i32 = -32063;
pub const BLOCKED_CODE: i32 = -32030;
pub const SIGNATURE_CODE: i32 = -32064;

/// The answer, in the client's version.
pub enum Answer {
    Result(Value),
    /// Each event is a stream `result` in the client's version; a failure mid-stream has
    /// become a final failed status event.
    Events(futures::stream::BoxStream<'static, Value>),
}

/// Who a request is from, and for whom.
struct Sender {
    /// The original principal.
    sub: String,
    /// The chain so far, principal first, the sender last.
    chain: Vec<String>,
}

/// Round-robin position for skill routing.
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn action_of(method: Method) -> Action {
    match method {
        Method::SendMessage
        | Method::SendStreamingMessage
        | Method::CancelTask
        | Method::CreateTaskPushNotificationConfig
        | Method::DeleteTaskPushNotificationConfig => Action::Send,
        _ => Action::Read,
    }
}

/// How far an exchange got before it failed.
#[derive(Default)]
struct Reached {
    /// A span was made: it records the hop, failed or not.
    relayed: bool,
}

/// Runs the exchange. One refused before it is relayed — its params, the caller's access, a
/// guardrail, a limit — is recorded here (and, refused by policy, audited as a denial): its
/// JSON-RPC error goes back over HTTP 200, which the audit middleware does not see.
pub async fn exchange(
    state: &AppState,
    caller: &Caller,
    request: ClientRequest,
) -> Result<Answer, Failure> {
    let started = std::time::Instant::now();
    let (target, method, trace, metadata) = (
        request.target.clone(),
        request.method.v1_name(),
        request.trace.clone(),
        request.metadata.clone(),
    );
    let mut reached = Reached::default();
    let answered = relayed_exchange(state, caller, request, &mut reached).await;
    if let Err(failure) = &answered
        && !reached.relayed
    {
        let known = state.a2a.registry().directory().get(&target).is_some();
        let (status, class, message) = failure.recorded_as(known);
        // A 403 is audited by the trail's middleware; these answers are 404s or JSON-RPC.
        let answered_403 =
            matches!(failure, Failure::Hub(e) if e.kind() == agenthub_policy::ErrorKind::Forbidden);
        if class == "forbidden" && !answered_403 {
            let mut denial = telemetry::audit::AuditEntry::new(
                caller.identity.subject(),
                "denied",
                format!("a2a {method} {target}"),
                "forbidden",
            );
            denial = denial.with_detail("trace_id", trace.trace_id.clone());
            state.telemetry.audit(denial);
        }
        let mut record = RequestEvent::new(
            Plane::A2a,
            now_millis() - i64::try_from(started.elapsed().as_millis()).unwrap_or(0),
            telemetry::event::Caller::of(&caller.identity),
            target.as_str(),
        );
        record.agent = Some(target);
        record.operation = method.to_owned();
        record.metadata = (*metadata).clone();
        record.in_trace(&trace);
        record.latency_us = telemetry::draft::micros(started.elapsed());
        record.fail(status, class, message);
        state.telemetry.request(record);
    }
    answered
}

impl Failure {
    /// The status, error class and message a refusal is recorded with; `known`: whether the
    /// agent asked for exists (one the caller may not reach is answered as unknown, but
    /// recorded as forbidden).
    fn recorded_as(&self, known: bool) -> (Status, &'static str, String) {
        match self {
            Failure::Hub(error)
                if error.kind() == agenthub_policy::ErrorKind::NotFound && known =>
            {
                (Status::Denied, "forbidden", error.message().to_owned())
            }
            Failure::Hub(error) => {
                let (status, class) = telemetry::draft::recorded_as(error);
                (status, class, error.message().to_owned())
            }
            Failure::A2a(error) => {
                let (status, class) = match error.kind.code() {
                    FORBIDDEN_CODE => (Status::Denied, "forbidden"),
                    BLOCKED_CODE => (Status::Denied, "guardrail"),
                    super::routes::LIMITED_CODE => (Status::Denied, "rate_limited"),
                    chain::LOOP_CODE | chain::TOO_DEEP_CODE => (Status::Denied, "delegation"),
                    SIGNATURE_CODE => (Status::Denied, "signature"),
                    _ => (Status::Error, "invalid_request"),
                };
                (status, class, error.message.clone())
            }
        }
    }
}

async fn relayed_exchange(
    state: &AppState,
    caller: &Caller,
    mut request: ClientRequest,
    reached: &mut Reached,
) -> Result<Answer, Failure> {
    let plane = &state.a2a;
    let governance = &state.governance;
    let accounts = &state.accounts;
    access::check_params(request.method, request.version, &request.params)?;
    let directory = plane.registry().directory();
    let subjects = Subjects::of(&caller.identity);
    let action = action_of(request.method);
    let keys = plane.keys().get().await?;
    let hub = plane.hub_subject();

    // 1. Who sends it, for whom.
    let sender = sender(plane, &directory, caller, &mut request, &keys.grants)?;
    let on_behalf = (sender.sub != caller.identity.subject())
        .then(|| principal_identity(accounts, &sender.sub))
        .flatten();

    // 2. To whom.
    let task_id = task_id_of(&request).map(str::to_owned);
    let agent = resolve(
        plane,
        &directory,
        caller,
        &subjects,
        &request,
        action,
        task_id.as_deref(),
        &sender.sub,
    )
    .await?;

    // 3. May it.
    if let Some(identity) = &on_behalf
        && !super::may(
            caller,
            &Subjects::of(identity),
            identity,
            &agent.name,
            action,
        )
    {
        return Err(A2aError::new(A2aErrorKind::from_code(FORBIDDEN_CODE))
            .with_message(format!(
                "{} may not {} agent:{} (this message is on its behalf)",
                sender.sub,
                if action == Action::Send {
                    "send to"
                } else {
                    "read from"
                },
                agent.name
            ))
            .into());
    }
    if request.method != Method::ListTasks
        && let Err(error) = chain::check(
            &sender.chain,
            &agent.name,
            plane.settings().max_delegation_depth,
        )
    {
        return Err(chain_error(&error).into());
    }
    if let Some(task_id) = &task_id
        && plane
            .tasks()
            .owned_by(task_id, Some(&agent.name), &sender.sub)
            .await?
            .is_none()
    {
        return Err(A2aError::task_not_found()
            .with_message(format!("task {task_id} not found"))
            .into());
    }
    let facts = RequestFacts {
        identity: &caller.identity,
        plane: Plane::A2a,
        model: None,
        tool: None,
        agent: Some(&agent.name),
        metadata: &request.metadata,
    };
    if let Some(message) = access::params_message_mut(request.method, &mut request.params) {
        inspect(governance, message, Stage::Input, &facts).await?;
    }
    let mut admissions = vec![admit(governance, &facts)?];
    if let Some(identity) = &on_behalf {
        let facts = RequestFacts { identity, ..facts };
        admissions.push(admit(governance, &facts)?);
    }

    // Push configs: the client's is kept by the hub, the agent gets the hub's (push.rs).
    let push = super::push::intercept(state, caller, &agent, &sender.sub, &mut request).await?;

    // 4. Sign, trace, relay.
    let trace = request.trace.clone();
    reached.relayed = true;
    let mut span = Span::new(
        plane.recorder().clone(),
        trace.clone(),
        agent.name.clone(),
        request.method.v1_name(),
        sender.sub.clone(),
        sender.chain.clone(),
    );
    span.context_id = access::params_context_id(request.method, &request.params).map(str::to_owned);
    span.task_id = task_id.clone();
    span.record = Some(hop_record(
        caller,
        &sender.chain,
        &agent.name,
        &span,
        &request.metadata,
    ));
    // What a replay re-sends: the params as the client sent them (after redaction), and the
    // version they are in.
    span.event(
        "request",
        Some(serde_json::json!({
            "target": request.target,
            "version": request.version.as_str(),
            "params": request.params,
        })),
    );
    let mut params = relay::to_agent(&agent, request.method, request.version, request.params)?;
    super::push::arm(push.as_ref(), agent.endpoint.version, &mut params);
    if let Some(message) = access::params_message_mut(request.method, &mut params) {
        let grant = signing::sign_grant(
            &GrantClaims {
                iss: hub.clone(),
                aud: chain::agent_subject(&agent.name),
                sub: sender.sub.clone(),
                chain: sender.chain.clone(),
                iat: signing::unix_now(),
                trace_id: Some(trace.trace_id.clone()),
            },
            keys.grants.current(),
        )
        .map_err(Error::internal)?;
        sign(
            message,
            agent.endpoint.version,
            &hub,
            &agent.name,
            &sender,
            &trace,
            grant,
            &keys.signer,
        )?;
    }
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&trace.traceparent()) {
        headers.insert("traceparent", value);
    }
    if let Some(extensions) = request.extensions.clone() {
        headers.insert("a2a-extensions", extensions);
    }
    let outbound = Outbound {
        method: request.method,
        client_version: request.version,
        params,
        headers,
        id: request.id.clone(),
    };
    let relayed = relay::relay(plane.upstream(), &agent, outbound).await;
    let context = Settled {
        plane: plane.clone(),
        governance: governance.clone(),
        caller: caller.clone(),
        metadata: request.metadata.clone(),
        agent: agent.clone(),
        method: request.method,
        version: request.version,
        principal: sender.sub.clone(),
    };
    match relayed {
        Err(error) => {
            let error = error.into_a2a();
            super::push::abandon(plane, push.as_ref()).await;
            span.end(&format!("error: {}", error.message), None);
            for admission in admissions {
                governance.settle(admission, Usage::default());
            }
            Err(error.into())
        }
        Ok(Relayed::Result(mut result)) => {
            for admission in admissions {
                governance.settle(admission, Usage::default());
            }
            let outcome = context.answer(&mut result, &mut span).await;
            super::push::answered(plane, push.as_ref(), &mut result).await;
            match outcome {
                Ok(()) => {
                    span.end("ok", Some(super::push::for_trace(push.as_ref(), &result)));
                    Ok(Answer::Result(
                        filter_list(request.method, result, &context, &sender.sub).await,
                    ))
                }
                Err(error) => {
                    span.end(&format!("error: {}", error.message), None);
                    Err(error.into())
                }
            }
        }
        Ok(Relayed::Events(events)) => {
            for admission in admissions {
                governance.settle(admission, Usage::default());
            }
            Ok(Answer::Events(context.stream(events, span, task_id)))
        }
    }
}

/// What the answer's handling needs after the request's borrows end (streams outlive them).
struct Settled {
    plane: Arc<A2aPlane>,
    governance: Arc<Governance>,
    caller: Caller,
    metadata: Arc<BTreeMap<String, String>>,
    agent: Arc<Agent>,
    method: Method,
    version: ProtocolVersion,
    principal: String,
}

impl Settled {
    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            identity: &self.caller.identity,
            plane: Plane::A2a,
            model: None,
            tool: None,
            agent: Some(&self.agent.name),
            metadata: &self.metadata,
        }
    }

    /// Checks a whole answer and records its task.
    async fn answer(&self, result: &mut Value, span: &mut Span) -> Result<(), A2aError> {
        if let Some(task_id) = access::result_task_id(self.method, self.version, result) {
            let context_id = access::result_context_id(self.method, self.version, result);
            self.plane.tasks().record(
                &self.agent.name,
                task_id,
                &self.principal,
                context_id,
                &span.context.trace_id,
            );
            span.task_id = Some(task_id.to_owned());
            span.context_id = context_id.map(str::to_owned).or(span.context_id.take());
        }
        inspect(&self.governance, result, Stage::Output, &self.facts())
            .await
            .map_err(|failure| match failure {
                Failure::A2a(error) => error,
                Failure::Hub(error) => {
                    A2aError::internal().with_message(error.message().to_owned())
                }
            })
    }

    /// Relays a stream event by event: each checked, recorded, its task recorded; a failure
    /// ends the stream with a failed status.
    fn stream(
        self,
        events: relay::Events,
        span: Span,
        task_id: Option<String>,
    ) -> futures::stream::BoxStream<'static, Value> {
        let state = (self, events, span, task_id, false);
        let stream = futures::stream::unfold(
            state,
            |(settled, mut events, mut span, mut task_id, done)| async move {
                if done {
                    return None;
                }
                match events.next().await {
                    None => {
                        span.end("ok", None);
                        None
                    }
                    Some(Ok(mut event)) => {
                        if let Some(id) = access::event_task_id(settled.version, &event)
                            && task_id.as_deref() != Some(id)
                        {
                            let context_id = access::event_context_id(settled.version, &event);
                            settled.plane.tasks().record(
                                &settled.agent.name,
                                id,
                                &settled.principal,
                                context_id,
                                &span.context.trace_id,
                            );
                            span.context_id =
                                context_id.map(str::to_owned).or(span.context_id.take());
                            task_id = Some(id.to_owned());
                            span.task_id = task_id.clone();
                        }
                        match inspect(
                            &settled.governance,
                            &mut event,
                            Stage::Output,
                            &settled.facts(),
                        )
                        .await
                        {
                            Ok(()) => {
                                span.event(event_kind(&event), Some(event.clone()));
                                Some((event, (settled, events, span, task_id, false)))
                            }
                            Err(failure) => {
                                let reason = match failure {
                                    Failure::A2a(e) => e.message,
                                    Failure::Hub(e) => e.message().to_owned(),
                                };
                                let last = failed_event(
                                    settled.version,
                                    task_id.as_deref(),
                                    span.context_id.as_deref(),
                                    &reason,
                                );
                                span.end(&format!("error: {reason}"), Some(last.clone()));
                                Some((last, (settled, events, span, task_id, true)))
                            }
                        }
                    }
                    Some(Err(error)) => {
                        let reason = match error {
                            RelayError::A2a(e) => e.message,
                            RelayError::Upstream(e) => e.to_string(),
                        };
                        let last = failed_event(
                            settled.version,
                            task_id.as_deref(),
                            span.context_id.as_deref(),
                            &reason,
                        );
                        span.end(&format!("error: {reason}"), Some(last.clone()));
                        Some((last, (settled, events, span, task_id, true)))
                    }
                }
            },
        );
        Box::pin(stream)
    }
}

/// The kind of a stream event, for the trace.
pub(super) fn event_kind(event: &Value) -> &'static str {
    let has = |key: &str| event.get(key).is_some();
    match event.get("kind").and_then(Value::as_str) {
        Some("task") => "task",
        Some("message") => "message",
        Some("status-update") => "status",
        Some("artifact-update") => "artifact",
        _ if has("statusUpdate") => "status",
        _ if has("artifactUpdate") => "artifact",
        _ if has("task") => "task",
        _ if has("message") => "message",
        _ => "event",
    }
}

/// The last event of a stream that broke: the task failed, with why.
fn failed_event(
    version: ProtocolVersion,
    task_id: Option<&str>,
    context_id: Option<&str>,
    reason: &str,
) -> Value {
    let message = serde_json::json!({
        "messageId": super::traces::event_id(),
        "role": "ROLE_AGENT",
        "parts": [{"text": format!("the agent's stream failed: {reason}")}],
    });
    let update = serde_json::json!({
        "statusUpdate": {
            "taskId": task_id.unwrap_or_default(),
            "contextId": context_id.unwrap_or_default(),
            "status": {
                "state": "TASK_STATE_FAILED",
                "message": message,
                "timestamp": crate::api::timestamp(now_millis()),
            },
        }
    });
    match version {
        ProtocolVersion::V1_0 => update,
        ProtocolVersion::V0_3 => {
            convert::stream_event(ProtocolVersion::V1_0, ProtocolVersion::V0_3, update.clone())
                .unwrap_or(update)
        }
    }
}

/// ListTasks answers only with the caller's own tasks.
async fn filter_list(
    method: Method,
    mut result: Value,
    settled: &Settled,
    principal: &str,
) -> Value {
    if method != Method::ListTasks {
        return result;
    }
    let Some(tasks) = result.get_mut("tasks").and_then(Value::as_array_mut) else {
        return result;
    };
    let mut kept = Vec::with_capacity(tasks.len());
    for task in tasks.drain(..) {
        let Some(id) = task.get("id").and_then(Value::as_str) else {
            continue;
        };
        if let Ok(Some(_)) = settled
            .plane
            .tasks()
            .owned_by(id, Some(&settled.agent.name), principal)
            .await
        {
            kept.push(task);
        }
    }
    let count = kept.len();
    *tasks = kept;
    if let Some(size) = result.get_mut("totalSize") {
        *size = Value::from(count);
    }
    result
}

fn task_id_of(request: &ClientRequest) -> Option<&str> {
    if request.method.requires_task_id() {
        access::require_task_id(request.method, request.version, &request.params).ok()
    } else {
        access::params_message(request.method, &request.params)
            .and_then(|m| m.get("taskId"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
    }
}

/// The sender of the request and the chain it works under.
fn sender(
    plane: &A2aPlane,
    directory: &Directory,
    caller: &Caller,
    request: &mut ClientRequest,
    grant_keys: &GrantKeys,
) -> Result<Sender, Failure> {
    let me = caller.identity.subject();
    let Some(agent) = directory.acting_as(&caller.identity.name).cloned() else {
        // Not a registered agent: a parent it hands in is not its to claim.
        if let Some(message) = access::params_message_mut(request.method, &mut request.params)
            && let Some(Value::Object(metadata)) = message.get_mut("metadata")
        {
            metadata.remove(PARENT_METADATA_KEY);
            metadata.remove(SIGNATURE_METADATA_KEY);
        }
        return Ok(Sender {
            sub: me.clone(),
            chain: vec![me],
        });
    };
    let own = chain::agent_subject(&agent.name);
    let Some(message) = access::params_message_mut(request.method, &mut request.params) else {
        return Ok(Sender {
            sub: own.clone(),
            chain: vec![own],
        });
    };
    if !agent.registration.public_keys.is_empty() {
        verify_agent_signature(plane, &agent, message, request.version, &request.target)?;
    }
    let parent = message
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|metadata| {
            metadata.remove(SIGNATURE_METADATA_KEY);
            metadata.remove(PARENT_METADATA_KEY)
        });
    let Some(parent) = parent else {
        return Ok(Sender {
            sub: own.clone(),
            chain: vec![own],
        });
    };
    let grant = parent
        .get("grant")
        .and_then(Value::as_str)
        .ok_or_else(|| bad_parent("it carries no grant from this hub"))?;
    let max_age = plane.settings().delegation_max_age.as_secs();
    let claims = signing::verify_grant(
        grant,
        grant_keys,
        &plane.hub_subject(),
        &own,
        signing::unix_now(),
        max_age,
    )
    .map_err(|e| bad_parent(&e.to_string()))?;
    Ok(Sender {
        chain: chain::extend(&claims.chain, &own),
        sub: claims.sub,
    })
}

fn bad_parent(why: &str) -> Failure {
    A2aError::invalid_params()
        .with_message(format!(
            "params.message.metadata.{PARENT_METADATA_KEY}: {why}"
        ))
        .into()
}

/// A message from an agent with registered keys must carry its valid signature.
fn verify_agent_signature(
    plane: &A2aPlane,
    agent: &Agent,
    message: &Value,
    version: ProtocolVersion,
    target: &str,
) -> Result<(), Failure> {
    let own = chain::agent_subject(&agent.name);
    let lookup = |issuer: &str, kid: &str| {
        (issuer == own)
            .then(|| agent.public_keys.get(kid).cloned())
            .flatten()
    };
    let v1 = match version {
        ProtocolVersion::V1_0 => std::borrow::Cow::Borrowed(message),
        ProtocolVersion::V0_3 => std::borrow::Cow::Owned(
            convert::object(
                ObjectKind::Message,
                ProtocolVersion::V0_3,
                ProtocolVersion::V1_0,
                message.clone(),
            )
            .map_err(|e| A2aError::invalid_params().with_message(format!("params.message.{e}")))?,
        ),
    };
    // The sender cannot know which agent a skill reaches: it signs for the skill.
    let audience = if target.starts_with("skill:") {
        target.to_owned()
    } else {
        chain::agent_subject(target)
    };
    signing::verify_message(&v1, &lookup, &audience, signing::unix_now(), plane.nonces())
        .map(drop)
        .map_err(|e| {
            A2aError::new(A2aErrorKind::from_code(SIGNATURE_CODE))
                .with_message(format!(
                    "the message's signature (agent:{} signs what it sends): {e}",
                    agent.name
                ))
                .into()
        })
}

/// The identity of a principal named by a chain (`user:alice`), if the hub knows it.
fn principal_identity(accounts: &crate::directory::Accounts, subject: &str) -> Option<Identity> {
    let (_, name) = subject.split_once(':')?;
    if subject.starts_with("agent:") {
        return None;
    }
    let directory = accounts.snapshot();
    let principal = directory.principal(name)?;
    Some(directory.identity_of(principal, None))
}

/// The agent a request goes to.
#[allow(clippy::too_many_arguments)]
async fn resolve(
    plane: &A2aPlane,
    directory: &Directory,
    caller: &Caller,
    subjects: &Subjects,
    request: &ClientRequest,
    action: Action,
    task_id: Option<&str>,
    principal: &str,
) -> Result<Arc<Agent>, Failure> {
    let target = request.target.as_str();
    let reachable =
        |agent: &Agent| super::may(caller, subjects, &caller.identity, &agent.name, action);
    let Some(skill) = target.strip_prefix("skill:") else {
        return directory
            .get(target)
            .filter(|agent| reachable(agent))
            .cloned()
            .ok_or_else(|| no_such_agent(target));
    };
    // A task belongs to one agent: its task methods go there.
    if let Some(task_id) = task_id
        && let Some(owner) = plane.tasks().owned_by(task_id, None, principal).await?
        && let Some(agent) = directory
            .get(&owner.agent)
            .filter(|a| reachable(a) && a.has_skill(skill))
    {
        return Ok(agent.clone());
    }
    let candidates: Vec<&Arc<Agent>> = directory
        .with_skill(skill)
        .filter(|a| reachable(a))
        .collect();
    if candidates.is_empty() {
        return Err(no_such_agent(target));
    }
    let pick = match plane.settings().skill_routing {
        SkillRouting::First => 0,
        SkillRouting::RoundRobin => NEXT.fetch_add(1, Ordering::Relaxed) % candidates.len(),
        SkillRouting::Random => fastrand::usize(..candidates.len()),
    };
    Ok(candidates[pick].clone())
}

/// Signs the message (in the agent's version) for `agent`.
#[allow(clippy::too_many_arguments)]
fn sign(
    message: &mut Value,
    version: ProtocolVersion,
    hub: &str,
    agent: &str,
    sender: &Sender,
    trace: &TraceContext,
    grant: String,
    key: &signing::SigningKey,
) -> Result<(), Failure> {
    let mut claims = MessageClaims::new(
        hub,
        chain::agent_subject(agent),
        sender.sub.clone(),
        sender.chain.clone(),
        signing::unix_now(),
    )
    .map_err(Error::internal)?
    .with_traceparent(trace.traceparent());
    claims.grant = Some(grant);
    match version {
        ProtocolVersion::V1_0 => {
            signing::sign_message(message, &claims, key).map_err(Error::internal)?
        }
        ProtocolVersion::V0_3 => {
            // Signed in the v1.0 form, which is what receivers verify; carried in the v0.3
            // message's metadata.
            let mut v1 = convert::object(
                ObjectKind::Message,
                ProtocolVersion::V0_3,
                ProtocolVersion::V1_0,
                message.clone(),
            )
            .map_err(|e| A2aError::invalid_params().with_message(format!("params.message.{e}")))?;
            signing::sign_message(&mut v1, &claims, key).map_err(Error::internal)?;
            let signature = v1
                .get("metadata")
                .and_then(|m| m.get(SIGNATURE_METADATA_KEY))
                .cloned()
                .ok_or_else(|| Error::internal("the signature was not added"))?;
            let metadata = message
                .as_object_mut()
                .ok_or_else(|| Error::internal("the message is not an object"))?
                .entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()));
            if !metadata.is_object() {
                *metadata = Value::Object(Default::default());
            }
            if let Value::Object(metadata) = metadata {
                metadata.insert(SIGNATURE_METADATA_KEY.into(), signature);
            }
        }
    }
    Ok(())
}

fn admit(governance: &Governance, facts: &RequestFacts<'_>) -> Result<Admission, Failure> {
    governance
        .admit(facts, Usage::default())
        .map_err(|rejection| {
            Failure::Hub(Error::limited(
                &rejection,
                Timestamp::from_unix_millis(now_millis()),
            ))
        })
}

/// Runs the guardrails of `stage` over every text part in `value` (redacting in place);
/// a block is an error naming the rule's reason.
pub(super) async fn inspect(
    governance: &Governance,
    value: &mut Value,
    stage: Stage,
    facts: &RequestFacts<'_>,
) -> Result<(), Failure> {
    if !governance.inspects(stage, facts) {
        return Ok(());
    }
    let mut texts = Vec::new();
    access::for_each_text_mut(value, &mut |text| {
        texts.push(Value::String(std::mem::take(text)))
    });
    let mut document = Value::Array(texts);
    let inspection = governance.inspect_json(&mut document, stage, facts).await;
    let Value::Array(texts) = document else {
        return Err(Error::internal("guardrails changed the shape of the texts").into());
    };
    let mut texts = texts.into_iter();
    access::for_each_text_mut(value, &mut |text| {
        if let Some(Value::String(inspected)) = texts.next() {
            *text = inspected;
        }
    });
    match inspection.blocked {
        Some(reason) => Err(A2aError::new(A2aErrorKind::from_code(BLOCKED_CODE))
            .with_message(format!(
                "blocked by a guardrail ({}): {reason}",
                match stage {
                    Stage::Input => "the message",
                    Stage::Output => "the agent's answer",
                }
            ))
            .into()),
        None => Ok(()),
    }
}

/// The request record of a hop, begun as it is relayed; the span finishes it.
fn hop_record(
    caller: &Caller,
    chain: &[String],
    agent: &str,
    span: &Span,
    metadata: &BTreeMap<String, String>,
) -> RequestEvent {
    let mut record = RequestEvent::new(
        Plane::A2a,
        now_millis(),
        telemetry::event::Caller::of(&caller.identity),
        agent,
    );
    record.caller.chain = chain.to_vec();
    record.agent = Some(agent.to_owned());
    record.operation = span.method.to_owned();
    record.metadata = metadata.clone();
    record
}
