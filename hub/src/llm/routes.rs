//! The `/v1` handlers. Every call goes the same way: authenticate → decode in the client's
//! format → resolve the model → authorize `model:<name>` → input guardrails → admit against
//! rate limits and budgets (estimated) → the router → output guardrails → settle (actual) →
//! encode in the client's format with the `x-agenthub-*` headers. Errors at any step answer in
//! the client's format with the hub's one kind → status table.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use agenthub_llm_router::Error as LlmError;
use agenthub_llm_router::catalog::Route;
use agenthub_llm_router::config::ModelKind;
use agenthub_llm_router::engine::{CallContext, ChatAnswer, Failure, Served};
use agenthub_llm_router::ingress::{AnthropicIngress, Ingress, OpenAiIngress, ResponsesIngress};
use agenthub_llm_router::model::{
    ChatRequest, ContentPart, Message, ModelInfo, StreamEvent, Usage,
};
use agenthub_llm_router::params::{Translated, Warning, warnings_header};
use agenthub_llm_router::routing::RequestHints;
use agenthub_policy::ErrorKind;
use agenthub_policy::authz::{Action, Request as AuthzRequest, Resource, Subjects};
use agenthub_policy::guardrails::Stage;
use agenthub_policy::limits::{Admission, Timestamp, Usage as LimitUsage, Usd};
use agenthub_policy::when::{Plane, RequestFacts};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;

use super::guard::{OutputFilter, Settlement, cost_of};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{Error, status_of};
use crate::model::now_millis;

/// The largest `x-agenthub-metadata` header accepted.
const MAX_METADATA_BYTES: usize = 4096;

pub fn router(max_body_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/messages", post(messages))
        .route("/v1/responses", post(responses))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/v1/models/{*name}", get(model))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// The client format a route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    OpenAi,
    Anthropic,
    /// OpenAI's Responses API.
    Responses,
}

static OPENAI: OpenAiIngress = OpenAiIngress;
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
    fn error(self, error: Error, extra: HeaderMap) -> Response {
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
    match chat_call(&state, format, caller, &headers, body).await {
        Ok(response) => response,
        Err(Refusal(error, extra)) => format.error(error, extra),
    }
}

async fn chat_call(
    state: &AppState,
    format: Format,
    caller: Result<Caller, Error>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let caller = caller?;
    let body = body.map_err(body_error)?;
    let (
        Translated {
            value: mut request,
            warnings: mut notes,
        },
        ingress,
    ) = format.decode(&body).map_err(from_llm)?;
    let catalog = state.governance.catalog();
    let route = resolve(&catalog, &caller, &request.model, ModelKind::Chat)?;
    let metadata = metadata(headers)?;
    let facts = RequestFacts {
        identity: &caller.identity,
        plane: Plane::Llm,
        model: Some(&route.name),
        tool: None,
        agent: None,
        metadata: &metadata,
    };
    guard_input(state, &mut request, &facts).await?;
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
    let started = std::time::Instant::now();
    let (answer, served) = match state.llm.engine().chat(&route, &request, cx).await {
        Ok(done) => done,
        Err(failure) => {
            state.governance.settle(admission, LimitUsage::default());
            return Err(failed(state, &route, failure));
        }
    };
    notes.extend(served.warnings.iter().cloned());
    match answer {
        ChatAnswer::Complete(mut response) => {
            let usage = response.usage.unwrap_or_default();
            let cost = cost_of(served.target.price.as_ref(), &usage);
            state.governance.settle(
                admission,
                LimitUsage {
                    tokens: u64::from(usage.total_tokens()),
                    cost,
                },
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
            guard_output(state, &mut response, &facts).await?;
            response.created.get_or_insert_with(now_secs);
            if response.id.is_empty() {
                response.id = answer_id();
            }
            if response.model.is_empty() {
                response.model = served.target.profile.upstream_model.clone();
            }
            let mut out = axum::Json(ingress.encode_response(&response)).into_response();
            let headers = out.headers_mut();
            served_headers(headers, &served, &notes);
            usage_headers(headers, &usage, cost);
            Ok(out)
        }
        ChatAnswer::Stream(events) => {
            let reporter = {
                let (state, subject, served) =
                    (state.clone(), caller.identity.subject(), served.clone());
                Box::new(move |usage: &Usage, cost: Usd| {
                    report(&state, &subject, &served, usage, cost, started, true);
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
            let stream = events.flat_map(move |event| {
                let mut out = String::new();
                if let StreamEvent::Usage(usage) = &event {
                    settlement.observe(*usage);
                }
                let event = stamp(event, created, &fallback_id, &upstream_model);
                for event in filter.apply(event) {
                    for sse in encoder.encode(&event) {
                        out.push_str(&sse.encode());
                    }
                }
                if out.is_empty() {
                    futures::stream::iter(Vec::new())
                } else {
                    futures::stream::iter(vec![Ok::<_, Infallible>(Bytes::from(out))])
                }
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
    match embeddings_call(&state, caller, &headers, body).await {
        Ok(response) => response,
        Err(Refusal(error, extra)) => Format::OpenAi.error(error, extra),
    }
}

async fn embeddings_call(
    state: &AppState,
    caller: Result<Caller, Error>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let caller = caller?;
    let body = body.map_err(body_error)?;
    let Translated {
        value: mut request,
        warnings: notes,
    } = OPENAI.decode_embeddings_request(&body).map_err(from_llm)?;
    let catalog = state.governance.catalog();
    let route = resolve(&catalog, &caller, &request.model, ModelKind::Embeddings)?;
    let metadata = metadata(headers)?;
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
            guard_text(state, text, Stage::Input, &facts, "input").await?;
        }
    }
    let input_tokens = match &request.input {
        agenthub_llm_router::model::EmbeddingInput::Text(texts) => {
            texts.iter().map(|t| approx_tokens(t)).sum::<u64>()
        }
        agenthub_llm_router::model::EmbeddingInput::Tokens(tokens) => {
            tokens.iter().map(|t| t.len() as u64).sum()
        }
    };
    let price = route.targets.first().and_then(|(t, _)| t.price);
    let estimate_usage = Usage {
        input_tokens: u32::try_from(input_tokens).unwrap_or(u32::MAX),
        ..Usage::default()
    };
    let admission = admit(
        state,
        &facts,
        LimitUsage {
            tokens: input_tokens,
            cost: cost_of(price.as_ref(), &estimate_usage),
        },
    )?;
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
    let started = std::time::Instant::now();
    let (response, served) = match state.llm.engine().embeddings(&route, &request, cx).await {
        Ok(done) => done,
        Err(failure) => {
            state.governance.settle(admission, LimitUsage::default());
            return Err(failed(state, &route, failure));
        }
    };
    let usage = Usage {
        input_tokens: response.usage.input_tokens,
        ..Usage::default()
    };
    let cost = cost_of(served.target.price.as_ref(), &usage);
    state.governance.settle(
        admission,
        LimitUsage {
            tokens: u64::from(usage.input_tokens),
            cost,
        },
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
    let mut out =
        axum::Json(OPENAI.encode_embeddings_response(&response, request.encoding)).into_response();
    let headers = out.headers_mut();
    served_headers(headers, &served, &notes);
    usage_headers(headers, &usage, cost);
    Ok(out)
}

/// The models the caller may use (`invoke`), in configuration order: in Anthropic's format when
/// the request carries `anthropic-version` (the Anthropic SDK always does), else OpenAI's.
async fn models(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
) -> Response {
    let format = listing_format(&headers);
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return format.error(error, HeaderMap::new()),
    };
    let catalog = state.governance.catalog();
    let subjects = Subjects::of(&caller.identity);
    let listed: Vec<ModelInfo> = catalog
        .routes()
        .filter(|route| may_invoke(&caller, &subjects, &route.name))
        .map(|route| model_info(&catalog, route))
        .collect();
    let body = match format {
        Format::OpenAi | Format::Responses => OPENAI.encode_models(&listed),
        Format::Anthropic => serde_json::json!({
            "data": listed.iter().map(anthropic_model).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": listed.first().map(|m| m.id.as_str()),
            "last_id": listed.last().map(|m| m.id.as_str()),
        }),
    };
    axum::Json(body).into_response()
}

/// One model, if the caller may use it (404 otherwise, as for a model that does not exist).
async fn model(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let format = listing_format(&headers);
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return format.error(error, HeaderMap::new()),
    };
    let catalog = state.governance.catalog();
    let found = catalog
        .route(&name)
        .filter(|route| may_invoke(&caller, &Subjects::of(&caller.identity), &route.name));
    let Some(route) = found else {
        let error = Error::new(
            ErrorKind::NotFound,
            format!("the model \"{name}\" does not exist"),
        )
        .with_param("model");
        return format.error(error, HeaderMap::new());
    };
    let info = model_info(&catalog, route);
    let body = match format {
        Format::OpenAi | Format::Responses => serde_json::json!({
            "id": info.id, "object": "model", "created": info.created, "owned_by": info.owned_by,
        }),
        Format::Anthropic => anthropic_model(&info),
    };
    axum::Json(body).into_response()
}

fn listing_format(headers: &HeaderMap) -> Format {
    if headers.contains_key("anthropic-version") {
        Format::Anthropic
    } else {
        Format::OpenAi
    }
}

fn model_info(catalog: &agenthub_llm_router::catalog::Catalog, route: &Route) -> ModelInfo {
    ModelInfo {
        id: route.name.clone(),
        created: catalog.compiled_at(),
        owned_by: match route.targets.as_slice() {
            [(target, _)] if !route.is_virtual => target.provider.name.clone(),
            _ => "agenthub".to_owned(),
        },
    }
}

fn anthropic_model(info: &ModelInfo) -> serde_json::Value {
    serde_json::json!({
        "type": "model",
        "id": info.id,
        "display_name": info.id,
        "created_at": rfc3339(info.created),
    })
}

/// Unix seconds as RFC 3339 UTC (`2025-02-19T00:00:00Z`).
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm), valid for the Unix era.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn may_invoke(caller: &Caller, subjects: &Subjects, model: &str) -> bool {
    caller.authorizer.allows(
        subjects,
        &AuthzRequest {
            resource: Resource::model(model),
            action: Action::Invoke,
            team: caller.identity.key_team.as_deref(),
        },
    )
}

/// The route for `model`, if the caller may invoke it: 404 for an unknown name, 403 for one
/// the caller may not use, 400 for the wrong kind of model.
fn resolve(
    catalog: &agenthub_llm_router::catalog::Catalog,
    caller: &Caller,
    model: &str,
    kind: ModelKind,
) -> Result<Arc<Route>, Error> {
    let route = catalog.route(model).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("the model \"{model}\" does not exist"),
        )
        .with_param("model")
    })?;
    if !may_invoke(caller, &Subjects::of(&caller.identity), model) {
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!("you may not use the model \"{model}\""),
        )
        .with_param("model"));
    }
    if route.kind != kind {
        let what = match route.kind {
            ModelKind::Chat => "a chat model",
            ModelKind::Embeddings => "an embeddings model",
        };
        return Err(Error::invalid_field(
            "model",
            format!("\"{model}\" is {what}"),
        ));
    }
    Ok(route.clone())
}

/// `x-agenthub-metadata`: a JSON object of strings (numbers and booleans are taken as text),
/// for rules and logs.
fn metadata(headers: &HeaderMap) -> Result<BTreeMap<String, String>, Error> {
    let Some(value) = headers.get("x-agenthub-metadata") else {
        return Ok(BTreeMap::new());
    };
    let bad = |why: &str| Error::invalid_field("x-agenthub-metadata", why);
    if value.len() > MAX_METADATA_BYTES {
        return Err(bad("is larger than 4096 bytes"));
    }
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(value.as_bytes()).map_err(|_| bad("must be a JSON object"))?;
    parsed
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => Ok((key, text)),
            serde_json::Value::Number(n) => Ok((key, n.to_string())),
            serde_json::Value::Bool(b) => Ok((key, b.to_string())),
            _ => Err(bad("values must be strings, numbers or booleans")),
        })
        .collect()
}

fn session_key(route: &Route, headers: &HeaderMap) -> Option<String> {
    let header = route.sticky_header.as_ref()?;
    headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Runs the input guardrails over every text of the conversation, replacing redacted text.
async fn guard_input(
    state: &AppState,
    request: &mut ChatRequest,
    facts: &RequestFacts<'_>,
) -> Result<(), Error> {
    if !state.governance.inspects(Stage::Input, facts) {
        return Ok(());
    }
    for (i, message) in request.messages.iter_mut().enumerate() {
        let content = match message {
            Message::System { content, .. }
            | Message::User { content, .. }
            | Message::Assistant { content, .. }
            | Message::Tool { content, .. } => content,
        };
        for part in content.iter_mut() {
            if let ContentPart::Text(text) = part {
                guard_text(state, text, Stage::Input, facts, &format!("messages[{i}]")).await?;
            }
        }
    }
    Ok(())
}

/// Runs the output guardrails over a complete answer's texts.
async fn guard_output(
    state: &AppState,
    response: &mut agenthub_llm_router::model::ChatResponse,
    facts: &RequestFacts<'_>,
) -> Result<(), Error> {
    if !state.governance.inspects(Stage::Output, facts) {
        return Ok(());
    }
    for choice in &mut response.choices {
        if let Some(text) = &mut choice.message.text {
            guard_text(state, text, Stage::Output, facts, "choices").await?;
        }
    }
    Ok(())
}

async fn guard_text(
    state: &AppState,
    text: &mut String,
    stage: Stage,
    facts: &RequestFacts<'_>,
    param: &str,
) -> Result<(), Error> {
    let inspection = state.governance.inspect(text, stage, facts).await;
    if let Some(reason) = inspection.blocked {
        let what = match stage {
            Stage::Input => "the request",
            Stage::Output => "the answer",
        };
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!("{what} was blocked by a guardrail: {reason}"),
        )
        .with_param(param.to_owned()));
    }
    if inspection.text != *text {
        *text = inspection.text;
    }
    Ok(())
}

fn admit(
    state: &AppState,
    facts: &RequestFacts<'_>,
    estimate: LimitUsage,
) -> Result<Admission, Error> {
    state
        .governance
        .admit(facts, estimate)
        .map_err(|rejection| Error::limited(&rejection, Timestamp::from_unix_millis(now_millis())))
}

/// About four characters per token: the usual rule of thumb for English text with the
/// providers' tokenizers; images count as a fixed amount.
fn approx_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// The tokens and cost a request is admitted with: its prompt by the rule of thumb, plus its
/// output limit (or the model's default one) — the most it can use.
fn estimate(request: &ChatRequest, route: &Route) -> LimitUsage {
    let mut input: u64 = 0;
    for message in &request.messages {
        for part in message.content() {
            input += match part {
                ContentPart::Text(text) => approx_tokens(text),
                ContentPart::Image(_) => 800,
            };
        }
        if let Message::Assistant { tool_calls, .. } = message {
            input += tool_calls
                .iter()
                .map(|c| approx_tokens(&c.arguments))
                .sum::<u64>();
        }
    }
    let target = route.targets.first().map(|(t, _)| t);
    let output = request
        .max_output_tokens
        .or(target.map(|t| t.profile.default_max_tokens))
        .unwrap_or(0);
    let usage = Usage {
        input_tokens: u32::try_from(input).unwrap_or(u32::MAX),
        output_tokens: output,
        ..Usage::default()
    };
    let n = u64::from(request.n.unwrap_or(1).max(1));
    let cost = cost_of(target.and_then(|t| t.price.as_ref()), &usage);
    LimitUsage {
        tokens: input + u64::from(output) * n,
        cost: Usd::from_micros(cost.micros().saturating_mul(n)),
    }
}

/// Every target failed: the error lists the attempts, and the path still goes in a header.
fn failed(state: &AppState, route: &Route, failure: Failure) -> Refusal {
    let provider = failure
        .attempts
        .last()
        .map_or("", |attempt| attempt.provider.as_str());
    state.llm.record_failure(&route.name, provider);
    tracing::warn!(model = %route.name, error = %failure.error, "model call failed on every target");
    let mut extra = HeaderMap::new();
    let path: Vec<&str> = failure.attempts.iter().map(|a| a.target.as_str()).collect();
    if let Ok(value) = HeaderValue::from_str(&path.join(",")) {
        extra.insert(HeaderName::from_static("x-agenthub-fallback-path"), value);
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

fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// Who served: provider, model (the catalog's name and the provider's), the targets tried,
/// and what could not be sent as asked.
fn served_headers(headers: &mut HeaderMap, served: &Served, notes: &[Warning]) {
    let target = &served.target;
    put(headers, "x-agenthub-provider", &target.provider.name);
    put(headers, "x-agenthub-model", &target.name);
    put(
        headers,
        "x-agenthub-upstream-model",
        &target.profile.upstream_model,
    );
    put(headers, "x-agenthub-fallback-path", &served.path());
    put(
        headers,
        "x-agenthub-attempts",
        &served.attempts.len().to_string(),
    );
    if let Some(warnings) = warnings_header(notes) {
        put(headers, "x-agenthub-warnings", &warnings);
    }
}

fn usage_headers(headers: &mut HeaderMap, usage: &Usage, cost: Usd) {
    put(headers, "x-agenthub-cost", &cost.to_string());
    put(
        headers,
        "x-agenthub-tokens-input",
        &usage.input_tokens.to_string(),
    );
    put(
        headers,
        "x-agenthub-tokens-output",
        &usage.output_tokens.to_string(),
    );
    if let Some(cached) = usage.cached_input_tokens {
        put(headers, "x-agenthub-tokens-cached", &cached.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_739_923_200), "2025-02-19T00:00:00Z");
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn metadata_is_a_small_object_of_scalars() {
        let mut headers = HeaderMap::new();
        assert!(metadata(&headers).unwrap().is_empty());
        headers.insert(
            "x-agenthub-metadata",
            HeaderValue::from_static(r#"{"project":"x","n":2,"b":true}"#),
        );
        let found = metadata(&headers).unwrap();
        assert_eq!(found["project"], "x");
        assert_eq!(found["n"], "2");
        assert_eq!(found["b"], "true");
        for bad in [r#"["x"]"#, r#"{"a":{"b":1}}"#, "not json"] {
            headers.insert("x-agenthub-metadata", HeaderValue::from_str(bad).unwrap());
            let error = metadata(&headers).unwrap_err();
            assert_eq!(error.param(), Some("x-agenthub-metadata"), "{bad}");
        }
    }
}

fn now_secs() -> u64 {
    u64::try_from(now_millis() / 1000).unwrap_or(0)
}
