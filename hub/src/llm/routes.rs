//! The `/v1` handlers. Every call goes the same way: authenticate → decode in the client's
//! format → resolve the model → authorize `model:<name>` → input guardrails → admit against
//! rate limits and budgets (estimated) → the router → output guardrails → settle (actual) →
//! encode in the client's format with the `x-agenthub-*` headers. Errors at any step answer in
//! the client's format with the hub's one kind → status table.

use std::convert::Infallible;
use std::sync::Arc;

use agenthub_llm_router::Error as LlmError;
use agenthub_llm_router::catalog::Route;
use agenthub_llm_router::config::ModelKind;
use agenthub_llm_router::engine::{CallContext, ChatAnswer, Failure, Served, path_of};
use agenthub_llm_router::ingress::{AnthropicIngress, Ingress, OpenAiIngress, ResponsesIngress};
use agenthub_llm_router::model::{ChatRequest, StreamEvent, Usage};
use agenthub_llm_router::params::{Translated, Warning, warnings_header};
use agenthub_llm_router::routing::RequestHints;
use agenthub_policy::ErrorKind;
use agenthub_policy::guardrails::Stage;
use agenthub_policy::limits::{Admission, Usage as LimitUsage, Usd};
use agenthub_policy::when::{Plane, RequestFacts};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;

use super::admission::{
    admit, estimate, estimate_embeddings, guard_input, guard_output, guard_text, resolve,
    session_key,
};
use super::guard::{OutputFilter, Settlement, charge};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, status_of};
use crate::governance::request_metadata;
use crate::model::now_millis;
use crate::telemetry::bodies::RawBodies;
use crate::telemetry::draft::{Draft, micros};
use crate::telemetry::event::{
    GuardrailVerdict, RequestEvent, Tokens, status_of as status_of_kind,
};

pub fn router(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/messages", post(messages))
        .route("/v1/responses", post(responses))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(super::models::models))
        .route("/v1/models/{*name}", get(super::models::model))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// The client format a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    OpenAi,
    Anthropic,
    /// OpenAI's Responses API.
    Responses,
}

pub(super) static OPENAI: OpenAiIngress = OpenAiIngress;
static ANTHROPIC: AnthropicIngress = AnthropicIngress;
static RESPONSES: ResponsesIngress = ResponsesIngress::new();

impl Format {
    fn ingress(self) -> &'static dyn Ingress {
        match self {
            Self::OpenAi => &OPENAI,
            Self::Anthropic => &ANTHROPIC,
            Self::Responses => &RESPONSES,
        }
    }

    /// The request, and the ingress that answers it (a Response repeats its request's
    /// settings, so its ingress is bound to them).
    fn decode(
        self,
        body: &[u8],
    ) -> agenthub_llm_router::Result<(Translated<ChatRequest>, Box<dyn Ingress>)> {
        match self {
            Self::Responses => {
                let Translated { value, warnings } = RESPONSES.decode(body)?;
                let request = Translated {
                    value: value.request,
                    warnings,
                };
                Ok((request, Box::new(ResponsesIngress::answering(value.echo))))
            }
            Self::OpenAi => Ok((OPENAI.decode_request(body)?, Box::new(OpenAiIngress))),
            Self::Anthropic => Ok((ANTHROPIC.decode_request(body)?, Box::new(AnthropicIngress))),
        }
    }

    /// `error` in this format, with the hub's status and limit headers.
    pub(super) fn error(self, error: Error, extra: HeaderMap) -> Response {
        if error.kind() == ErrorKind::Internal {
            tracing::error!(error = %error, "internal error");
        }
        let message = match error.kind() {
            ErrorKind::Internal => "internal error",
            _ => error.message(),
        };
        let body = self
            .ingress()
            .error_body(error.kind(), message, error.param());
        let mut response = (status_of(error.kind()), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(limit) = error.limit_facts() {
            headers.extend(limit.headers());
        }
        headers.extend(extra);
        if error.kind() == ErrorKind::Unauthenticated {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"agenthub\""),
            );
        }
        response
    }
}

/// A failed step: the error and the headers it still carries (the fallback path).
struct Refusal(Error, HeaderMap);

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self(error, HeaderMap::new())
    }
}

/// The router crate's error as the hub's.
fn from_llm(error: LlmError) -> Error {
    let kind = error.kind();
    let hub = Error::new(kind, error.public_message());
    let hub = match error.param() {
        Some(param) => hub.with_param(param.to_owned()),
        None => hub,
    };
    if kind.source() == agenthub_policy::ErrorSource::Upstream {
        tracing::warn!(error = %error, "model call failed");
    }
    hub
}

fn body_error(rejection: BytesRejection) -> Error {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::new(
            ErrorKind::PayloadTooLarge,
            "the request body is larger than llm.max_body_bytes",
        ),
        _ => Error::invalid(format!("cannot read the request body: {rejection}")),
    }
}

async fn chat_completions(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    chat(state, Format::OpenAi, caller, headers, body).await
}

async fn responses(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    chat(state, Format::Responses, caller, headers, body).await
}

async fn messages(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    chat(state, Format::Anthropic, caller, headers, body).await
}

async fn chat(
    state: AppState,
    format: Format,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut draft = Draft::start(state.telemetry.clone(), Plane::Llm, &headers);
    let answered = chat_call(&state, format, caller, &headers, body, &mut draft).await;
    finish(format, &mut draft, answered)
}

/// Records the call (unless a stream carries its record on) and answers.
fn finish(format: Format, draft: &mut Draft, answered: Result<Response, Refusal>) -> Response {
    match answered {
        Ok(response) => {
            draft.finish(None);
            response
        }
        Err(Refusal(error, extra)) => {
            draft.finish(Some(&error));
            format.error(error, extra)
        }
    }
}

async fn chat_call(
    state: &AppState,
    format: Format,
    caller: Result<Caller, Error>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    draft: &mut Draft,
) -> Result<Response, Refusal> {
    let caller = caller?;
    draft.begin(&caller.identity, "", "chat");
    let body = body.map_err(body_error)?;
    let (
        Translated {
            value: mut request,
            warnings: mut notes,
        },
        ingress,
    ) = format.decode(&body).map_err(from_llm)?;
    record_request(state, draft, &request.model, &body);
    let catalog = state.governance.catalog();
    let route = resolve(&catalog, &caller, &request.model, ModelKind::Chat)?;
    let metadata = request_metadata(headers)?;
    if let Some(event) = draft.event() {
        event.model = Some(route.name.to_string());
        event.metadata.clone_from(&metadata);
    }
    let facts = RequestFacts {
        identity: &caller.identity,
        plane: Plane::Llm,
        model: Some(&route.name),
        tool: None,
        agent: None,
        metadata: &metadata,
    };
    let mut verdicts = Vec::new();
    let guarded = guard_input(state, &mut request, &facts, &mut verdicts).await;
    record_verdicts(draft, &mut verdicts);
    guarded?;
    let admission = admit(state, &facts, estimate(&request, &route))?;
    let config = state.config.snapshot();
    let session = session_key(&route, headers);
    let cx = CallContext {
        settings: &config.llm,
        secrets: state.llm.secrets(),
        hints: RequestHints {
            session: session.as_deref(),
            max_output_tokens: request.max_output_tokens,
        },
    };
    let started = draft.started();
    let (answer, served) = match state.llm.engine().chat(&route, &request, cx).await {
        Ok(done) => done,
        Err(failure) => return Err(failed(state, &route, admission, failure, draft)),
    };
    notes.extend(served.warnings.iter().cloned());
    match answer {
        ChatAnswer::Complete(mut response) => {
            let usage = response.usage.unwrap_or_default();
            let cost = charge(
                &state.governance,
                admission,
                served.target.price.as_ref(),
                &usage,
            );
            report(
                state,
                &caller.identity.subject(),
                &served,
                &usage,
                cost,
                started,
                false,
            );
            if let Some(event) = draft.event() {
                served_record(event, &served, &usage, cost);
            }
            let guarded = guard_output(state, &mut response, &facts, &mut verdicts).await;
            record_verdicts(draft, &mut verdicts);
            guarded?;
            response.created.get_or_insert_with(now_secs);
            if response.id.is_empty() {
                response.id = answer_id();
            }
            if response.model.is_empty() {
                response.model = served.target.profile.upstream_model.clone();
            }
            let encoded = Bytes::from(ingress.encode_response_body(&response));
            if let Some(event) = draft.event() {
                event.response_bytes = encoded.len() as u64;
                if let Some(raw) = &mut event.raw_bodies {
                    raw.response = Some(state.telemetry.keep_json_body(&encoded));
                }
            }
            let mut out = Response::new(Body::from(encoded));
            let headers = out.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            served_headers(headers, &served, &notes);
            usage_headers(headers, &usage, cost);
            Ok(out)
        }
        ChatAnswer::Stream(events) => {
            let progress = Arc::new(StreamProgress::keeping_text(state.telemetry.logs_bodies()));
            let reporter = {
                let (state, subject, served) =
                    (state.clone(), caller.identity.subject(), served.clone());
                let (mut event, progress) = (draft.hand_over(), progress.clone());
                Box::new(move |usage: &Usage, cost: Usd| {
                    report(&state, &subject, &served, usage, cost, started, true);
                    if let Some(mut event) = event.take() {
                        served_record(&mut event, &served, usage, cost);
                        progress.finish(&mut event, started);
                        if let (Some(raw), Some(text)) =
                            (&mut event.raw_bodies, progress.take_text())
                        {
                            // What was streamed, as one JSON document.
                            let answer = serde_json::json!({"stream": true, "content": text});
                            let answer = Bytes::from(answer.to_string());
                            raw.response = Some(state.telemetry.keep_json_body(&answer));
                        }
                        state.telemetry.request(event);
                    }
                })
            };
            let mut settlement = Settlement::new(
                state.governance.clone(),
                admission,
                served.target.price,
                reporter,
            );
            let mut filter = OutputFilter::new(
                state.governance.guardrails(),
                &facts,
                caller.identity.clone(),
            );
            let mut encoder = ingress.stream_encoder(&request);
            let created = now_secs();
            let (fallback_id, upstream_model) =
                (answer_id(), served.target.profile.upstream_model.clone());
            // The events decoded from one upstream read go out as one write.
            let stream = events.ready_chunks(64).filter_map(move |batch| {
                let mut out = String::new();
                for event in batch {
                    if let StreamEvent::Usage(usage) = &event {
                        settlement.observe(*usage);
                    }
                    let event = stamp(event, created, &fallback_id, &upstream_model);
                    for event in filter.apply(event) {
                        progress.saw(&event);
                        for sse in encoder.encode(&event) {
                            out.push_str(&sse.encode());
                        }
                    }
                }
                progress.sent(out.len());
                futures::future::ready(
                    (!out.is_empty()).then(|| Ok::<_, Infallible>(Bytes::from(out))),
                )
            });
            let mut out = Response::new(Body::from_stream(stream));
            let headers = out.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            served_headers(headers, &served, &notes);
            Ok(out)
        }
    }
}

/// Providers that do not say when an answer was made, or name it (Bedrock, Cohere), get the
/// hub's time, an id of the hub's and the model's upstream name.
fn stamp(event: StreamEvent, now: u64, id: &str, model: &str) -> StreamEvent {
    match event {
        StreamEvent::Start {
            id: given_id,
            model: given_model,
            created,
        } => StreamEvent::Start {
            id: if given_id.is_empty() {
                id.to_owned()
            } else {
                given_id
            },
            model: if given_model.is_empty() {
                model.to_owned()
            } else {
                given_model
            },
            created: created.or(Some(now)),
        },
        other => other,
    }
}

/// An answer id for providers that give none.
fn answer_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

async fn embeddings(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut draft = Draft::start(state.telemetry.clone(), Plane::Llm, &headers);
    let answered = embeddings_call(&state, caller, &headers, body, &mut draft).await;
    finish(Format::OpenAi, &mut draft, answered)
}

async fn embeddings_call(
    state: &AppState,
    caller: Result<Caller, Error>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    draft: &mut Draft,
) -> Result<Response, Refusal> {
    let caller = caller?;
    draft.begin(&caller.identity, "", "embeddings");
    let body = body.map_err(body_error)?;
    let Translated {
        value: mut request,
        warnings: notes,
    } = OPENAI.decode_embeddings_request(&body).map_err(from_llm)?;
    record_request(state, draft, &request.model, &body);
    let catalog = state.governance.catalog();
    let route = resolve(&catalog, &caller, &request.model, ModelKind::Embeddings)?;
    let metadata = request_metadata(headers)?;
    if let Some(event) = draft.event() {
        event.model = Some(route.name.to_string());
        event.metadata.clone_from(&metadata);
    }
    let facts = RequestFacts {
        identity: &caller.identity,
        plane: Plane::Llm,
        model: Some(&route.name),
        tool: None,
        agent: None,
        metadata: &metadata,
    };
    if let agenthub_llm_router::model::EmbeddingInput::Text(texts) = &mut request.input {
        for text in texts.iter_mut() {
            let mut verdicts = Vec::new();
            let guarded =
                guard_text(state, text, Stage::Input, &facts, "input", &mut verdicts).await;
            record_verdicts(draft, &mut verdicts);
            guarded?;
        }
    }
    let admission = admit(state, &facts, estimate_embeddings(&request, &route))?;
    let config = state.config.snapshot();
    let session = session_key(&route, headers);
    let cx = CallContext {
        settings: &config.llm,
        secrets: state.llm.secrets(),
        hints: RequestHints {
            session: session.as_deref(),
            max_output_tokens: None,
        },
    };
    let started = draft.started();
    let (response, served) = match state.llm.engine().embeddings(&route, &request, cx).await {
        Ok(done) => done,
        Err(failure) => return Err(failed(state, &route, admission, failure, draft)),
    };
    let usage = Usage {
        input_tokens: response.usage.input_tokens,
        ..Usage::default()
    };
    let cost = charge(
        &state.governance,
        admission,
        served.target.price.as_ref(),
        &usage,
    );
    report(
        state,
        &caller.identity.subject(),
        &served,
        &usage,
        cost,
        started,
        false,
    );
    if let Some(event) = draft.event() {
        served_record(event, &served, &usage, cost);
    }
    let mut out =
        axum::Json(OPENAI.encode_embeddings_response(&response, request.encoding)).into_response();
    let headers = out.headers_mut();
    served_headers(headers, &served, &notes);
    usage_headers(headers, &usage, cost);
    Ok(out)
}

/// Every target failed: nothing is charged, the error lists the attempts, and the path still
/// goes in a header.
fn failed(
    state: &AppState,
    route: &Route,
    admission: Admission,
    failure: Failure,
    draft: &mut Draft,
) -> Refusal {
    state.governance.settle(admission, LimitUsage::default());
    let provider = failure
        .attempts
        .last()
        .map_or("", |attempt| attempt.provider.as_str());
    if let Some(event) = draft.event() {
        event.provider = (!provider.is_empty()).then(|| provider.to_owned());
        event.fallback_path = Some(path_of(&failure.attempts));
    }
    state.llm.record_failure(&route.name, provider);
    tracing::warn!(model = %route.name, error = %failure.error, "model call failed on every target");
    let mut extra = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&path_of(&failure.attempts)) {
        extra.insert(FALLBACK_PATH, value);
    }
    // Every provider rate limited the call: pass on how long they asked to wait.
    if let Some(wait) = failure.retry_after {
        extra.insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    }
    Refusal(from_llm(failure.error), extra)
}

/// The call's metrics and its usage log line.
fn report(
    state: &AppState,
    subject: &str,
    served: &Served,
    usage: &Usage,
    cost: Usd,
    started: std::time::Instant,
    stream: bool,
) {
    let target = &served.target;
    state.llm.record(
        &target.name,
        &target.provider.name,
        usage,
        cost,
        served.retries() > 0,
    );
    tracing::info!(
        caller = subject,
        model = %target.name,
        provider = %target.provider.name,
        fallback_path = %served.path(),
        input_tokens = usage.input_tokens,
        output_tokens = usage.output_tokens,
        cost = %cost,
        stream,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "llm call"
    );
}

/// What the call's record learns from the request: the model asked for, its size, and its
/// body when bodies are logged.
fn record_request(state: &AppState, draft: &mut Draft, model: &str, body: &Bytes) {
    if let Some(event) = draft.event() {
        model.clone_into(&mut event.target);
        event.request_bytes = body.len() as u64;
        if state.telemetry.logs_bodies() {
            event.raw_bodies = Some(RawBodies {
                request: Some(state.telemetry.keep_json_body(body)),
                response: None,
            });
        }
    }
}

/// Adds the guardrails' verdicts so far to the call's record.
fn record_verdicts(draft: &mut Draft, verdicts: &mut Vec<GuardrailVerdict>) {
    if let Some(event) = draft.event() {
        for verdict in verdicts.drain(..) {
            if !event.guardrails.contains(&verdict) {
                event.guardrails.push(verdict);
            }
        }
    }
}

/// What the record of a served call says about who served it and what it used.
fn served_record(event: &mut RequestEvent, served: &Served, usage: &Usage, cost: Usd) {
    let target = &served.target;
    event.model = Some(target.name.to_string());
    event.provider = Some(target.provider.name.to_string());
    event.fallback_path = Some(served.path());
    event.tokens = Tokens {
        input: u64::from(usage.input_tokens),
        output: u64::from(usage.output_tokens),
        cached: usage.cached_input_tokens.map_or(0, u64::from),
    };
    event.cost_micros = cost.micros();
}

/// What a stream's record learns as it is sent: when the first token went, how much went,
/// whether it ended, how it failed, and, when bodies are logged, the first choice's text.
#[derive(Default)]
struct StreamProgress {
    first_token: std::sync::OnceLock<std::time::Instant>,
    bytes: std::sync::atomic::AtomicU64,
    finished: std::sync::atomic::AtomicBool,
    failed: std::sync::OnceLock<(ErrorKind, String)>,
    text: Option<std::sync::Mutex<String>>,
}

/// The streamed text kept for a record at most (the body logger cuts it further).
const STREAMED_TEXT_KEPT: usize = 1 << 20;

impl StreamProgress {
    fn keeping_text(keep: bool) -> Self {
        Self {
            text: keep.then(Default::default),
            ..Self::default()
        }
    }

    /// The text kept so far, taken (the record is made once).
    fn take_text(&self) -> Option<String> {
        let text = self.text.as_ref()?;
        Some(std::mem::take(
            &mut *text
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }

    fn saw(&self, event: &StreamEvent) {
        match event {
            StreamEvent::TextDelta { choice, text } => {
                self.first_token.get_or_init(std::time::Instant::now);
                if let Some(kept) = &self.text
                    && *choice == 0
                {
                    let mut kept = kept
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if kept.len() < STREAMED_TEXT_KEPT {
                        kept.push_str(text);
                    }
                }
            }
            StreamEvent::Finish { .. } => {
                self.finished
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            StreamEvent::Error(error) => {
                let _ = self.failed.set((error.kind, error.message.clone()));
            }
            _ => {}
        }
    }

    fn sent(&self, bytes: usize) {
        self.bytes
            .fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Completes a stream's record: latency, time to first token, time per output token.
    fn finish(&self, event: &mut RequestEvent, started: std::time::Instant) {
        let total = started.elapsed();
        event.latency_us = micros(total);
        event.response_bytes = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
        if let Some((kind, message)) = self.failed.get() {
            event.fail(status_of_kind(*kind), kind.as_str(), message.clone());
        } else if !self.finished.load(std::sync::atomic::Ordering::Relaxed) {
            event.fail(
                crate::telemetry::event::Status::Error,
                "cancelled",
                "the stream ended before the answer did",
            );
        }
        if let Some(first) = self.first_token.get() {
            let to_first = first.duration_since(started);
            event.ttft_us = Some(micros(to_first));
            if event.tokens.output > 1 {
                event.tpot_us = Some(micros(total - to_first) / (event.tokens.output - 1));
            }
        }
    }
}

const PROVIDER: HeaderName = HeaderName::from_static("x-agenthub-provider");
const MODEL: HeaderName = HeaderName::from_static("x-agenthub-model");
const UPSTREAM_MODEL: HeaderName = HeaderName::from_static("x-agenthub-upstream-model");
const FALLBACK_PATH: HeaderName = HeaderName::from_static("x-agenthub-fallback-path");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-agenthub-attempts");
const WARNINGS: HeaderName = HeaderName::from_static("x-agenthub-warnings");
const COST: HeaderName = HeaderName::from_static("x-agenthub-cost");
const TOKENS_INPUT: HeaderName = HeaderName::from_static("x-agenthub-tokens-input");
const TOKENS_OUTPUT: HeaderName = HeaderName::from_static("x-agenthub-tokens-output");
const TOKENS_CACHED: HeaderName = HeaderName::from_static("x-agenthub-tokens-cached");

fn put(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Who served: provider, model (the catalog's name and the provider's), the targets tried,
/// and what could not be sent as asked.
fn served_headers(headers: &mut HeaderMap, served: &Served, notes: &[Warning]) {
    let target = &served.target;
    put(headers, PROVIDER, &target.provider.name);
    put(headers, MODEL, &target.name);
    put(headers, UPSTREAM_MODEL, &target.profile.upstream_model);
    put(headers, FALLBACK_PATH, &served.path());
    headers.insert(ATTEMPTS, HeaderValue::from(served.attempts.len()));
    if let Some(warnings) = warnings_header(notes) {
        put(headers, WARNINGS, &warnings);
    }
}

fn usage_headers(headers: &mut HeaderMap, usage: &Usage, cost: Usd) {
    put(headers, COST, &cost.to_string());
    headers.insert(TOKENS_INPUT, HeaderValue::from(usage.input_tokens));
    headers.insert(TOKENS_OUTPUT, HeaderValue::from(usage.output_tokens));
    if let Some(cached) = usage.cached_input_tokens {
        headers.insert(TOKENS_CACHED, HeaderValue::from(cached));
    }
}

fn now_secs() -> u64 {
    u64::try_from(now_millis() / 1000).unwrap_or(0)
}
