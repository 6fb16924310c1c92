//! Calls: a route's targets tried in the planned order, each with retries, timeouts and the
//! circuit breaker, over HTTP. A streamed answer fails over only until its first event has been
//! handed to the caller; after that a failure ends the stream with an error event.
//!
//! Credentials are read at call time. A Google service account (Vertex AI) is exchanged for an
//! access token at its `token_uri` ([`crate::google_auth`]), cached per provider and renewed
//! shortly before it expires.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use agenthub_policy::ErrorKind;
use futures::{Stream, StreamExt};
use http_body_util::BodyDataStream;
use hyper::body::Incoming;

use crate::adapters::{
    ByteStreamDecoder, Call, Credential, Operation, UpstreamRequest, request_bytes,
};
use crate::catalog::{CredentialSpec, ProviderEntry, Route, SecretRef, Target};
use crate::config::LlmSettings;
use crate::error::{Error, Result};
use crate::google_auth::{self, KeyIdentity, ServiceAccountKey, TokenCache};
use crate::model::{
    ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, StreamEvent, Usage,
};
use crate::params::{Translated, Warning};
use crate::routing::{Admit, FastDice, HealthBook, RequestHints, backoff, plan};
use crate::transport::{Answer, HttpClient, body_error};

/// The most an answer body may hold; larger ones are a provider fault.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// How much of an error body is read.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// The longest a token endpoint may take to answer.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the credentials stored in the hub's secret store, at call time.
pub trait Secrets: Send + Sync {
    /// The value of the secret `name`, or `None` if there is no such secret.
    fn reveal(&self, name: &str) -> Option<String>;
}

/// One try of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub target: String,
    pub provider: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Served,
    /// Failed: the provider's status when it answered one, and a description safe to show.
    Failed {
        status: Option<u16>,
        kind: ErrorKind,
        reason: String,
    },
    /// Skipped: its circuit breaker is open.
    CircuitOpen,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): ", self.target, self.provider)?;
        match &self.outcome {
            Outcome::Served => f.write_str("served"),
            Outcome::Failed { reason, .. } => f.write_str(reason),
            Outcome::CircuitOpen => f.write_str("circuit open"),
        }
    }
}

/// What served a call and how it got there.
#[derive(Debug, Clone)]
pub struct Served {
    pub target: Arc<Target>,
    /// Every try, in order; the last one served.
    pub attempts: Vec<Attempt>,
    /// Parameters dropped or changed on the way to the provider that served.
    pub warnings: Vec<Warning>,
}

impl Served {
    /// The targets tried, in order, for the `x-agenthub-fallback-path` header.
    pub fn path(&self) -> String {
        path_of(&self.attempts)
    }

    pub fn retries(&self) -> usize {
        self.attempts.len().saturating_sub(1)
    }
}

/// The targets tried, each once, in order: `gpt-4o,claude`.
pub fn path_of(attempts: &[Attempt]) -> String {
    let mut path: Vec<&str> = attempts.iter().map(|a| a.target.as_str()).collect();
    path.dedup();
    path.join(",")
}

/// A call that failed on every target.
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    pub attempts: Vec<Attempt>,
    /// When every target was rate limited: the longest `Retry-After` a provider asked for.
    pub retry_after: Option<Duration>,
}

/// Normalized stream events of one answer.
pub type EventStream = Pin<Box<dyn Stream<Item = StreamEvent> + Send>>;

pub enum ChatAnswer {
    Complete(ChatResponse),
    /// Begins with the events already received (at least one).
    Stream(EventStream),
}

/// The per-request facts routing needs.
#[derive(Clone, Copy)]
pub struct CallContext<'a> {
    pub settings: &'a LlmSettings,
    pub secrets: &'a dyn Secrets,
    pub hints: RequestHints<'a>,
}

/// Sends calls; shared by all requests. Keeps the HTTP clients (one per connect timeout),
/// every target's health and the Google access tokens minted from service accounts.
pub struct Engine {
    clients: RwLock<HashMap<Duration, HttpClient>>,
    health: Arc<HealthBook>,
    google_tokens: TokenCache,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    pub fn new() -> Self {
        Self {
            clients: RwLock::new(HashMap::new()),
            health: Arc::new(HealthBook::new()),
            google_tokens: TokenCache::new(),
        }
    }

    pub fn health(&self) -> &HealthBook {
        &self.health
    }

    fn client(&self, connect: Duration) -> Result<HttpClient> {
        if let Some(client) = self
            .clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&connect)
        {
            return Ok(client.clone());
        }
        let client = HttpClient::new(connect)?;
        Ok(self
            .clients
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(connect)
            .or_insert(client)
            .clone())
    }

    /// A chat call over `route`.
    pub async fn chat(
        &self,
        route: &Route,
        request: &ChatRequest,
        cx: CallContext<'_>,
    ) -> std::result::Result<(ChatAnswer, Served), Failure> {
        let stream = request.is_stream();
        self.run(
            route,
            cx,
            Operation::Chat { stream },
            |target| {
                target
                    .provider
                    .adapter
                    .encode_request_body(request, &target.profile)
            },
            |engine, target, response, started| {
                Box::pin(async move {
                    if stream {
                        engine
                            .open_stream(target, response, started)
                            .await
                            .map(ChatAnswer::Stream)
                    } else {
                        let body = read_answer(response, &target, started).await?;
                        let answer = target.provider.adapter.decode_response(&body)?;
                        engine.health.observe(
                            &target.name,
                            started.elapsed(),
                            tpot(started.elapsed(), answer.usage.as_ref()),
                        );
                        Ok(ChatAnswer::Complete(answer))
                    }
                })
            },
        )
        .await
    }

    /// An embeddings call over `route`.
    pub async fn embeddings(
        &self,
        route: &Route,
        request: &EmbeddingsRequest,
        cx: CallContext<'_>,
    ) -> std::result::Result<(EmbeddingsResponse, Served), Failure> {
        self.run(
            route,
            cx,
            Operation::Embeddings,
            |target| {
                target
                    .provider
                    .adapter
                    .encode_embeddings(request, &target.profile)
                    .and_then(|value| {
                        Ok(Translated {
                            value: request_bytes(&value)?,
                            warnings: Vec::new(),
                        })
                    })
            },
            |engine, target, response, started| {
                Box::pin(async move {
                    let body = read_answer(response, &target, started).await?;
                    let answer = target.provider.adapter.decode_embeddings(&body)?;
                    engine.health.observe(&target.name, started.elapsed(), None);
                    Ok(answer)
                })
            },
        )
        .await
    }

    /// Tries the planned targets in turn, each up to `1 + retry.attempts` times.
    async fn run<T>(
        &self,
        route: &Route,
        cx: CallContext<'_>,
        operation: Operation,
        encode: impl Fn(&Target) -> Result<Translated<Vec<u8>>>,
        finish: impl for<'e> Fn(
            &'e Engine,
            Arc<Target>,
            Answer,
            Instant,
        )
            -> Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'e>>,
    ) -> std::result::Result<(T, Served), Failure> {
        let settings = cx.settings;
        let mut dice = FastDice::new();
        let order = plan(
            route,
            &self.health,
            cx.hints,
            settings.latency_tolerance,
            &mut dice,
            Instant::now(),
        );
        let mut attempts = Vec::new();
        let mut last: Option<Error> = None;
        let mut retry_after: Option<Duration> = None;
        for target in order {
            let record = |outcome| Attempt {
                target: target.name.clone(),
                provider: target.provider.name.clone(),
                outcome,
            };
            let admit = self.health.admit(&target.name, Instant::now());
            if admit == Admit::No {
                attempts.push(record(Outcome::CircuitOpen));
                continue;
            }
            let translated = match encode(&target) {
                Ok(translated) => translated,
                Err(error) => {
                    // The request itself cannot be sent: no other target will do better.
                    if admit == Admit::Trial {
                        self.health.release(&target.name);
                    }
                    attempts.push(record(failed(&error)));
                    return Err(Failure {
                        error,
                        attempts,
                        retry_after: None,
                    });
                }
            };
            let tries = if admit == Admit::Trial {
                1
            } else {
                1 + settings.retry.attempts
            };
            for try_number in 0..tries {
                if try_number > 0 {
                    let delay = backoff(
                        try_number,
                        settings.retry.initial_backoff,
                        settings.retry.max_backoff,
                        &mut dice,
                    );
                    tokio::time::sleep(delay).await;
                }
                let started = Instant::now();
                let result = match self
                    .send(
                        &target,
                        operation,
                        cx.secrets,
                        translated.value.clone(),
                        &mut retry_after,
                    )
                    .await
                {
                    Ok(response) => finish(self, target.clone(), response, started).await,
                    Err(error) => Err(error),
                };
                match result {
                    Ok(answer) => {
                        self.health.success(&target.name);
                        attempts.push(record(Outcome::Served));
                        let served = Served {
                            target: target.clone(),
                            attempts,
                            warnings: translated.warnings,
                        };
                        return Ok((answer, served));
                    }
                    Err(error) if is_callers_fault(&error) => {
                        // The provider is healthy; the request is at fault.
                        self.health.success(&target.name);
                        attempts.push(record(failed(&error)));
                        return Err(Failure {
                            error,
                            attempts,
                            retry_after: None,
                        });
                    }
                    Err(error) => {
                        tracing::warn!(target = %target.name, provider = %target.provider.name, error = %error, "model call failed");
                        attempts.push(record(failed(&error)));
                        let open = self.health.failure(
                            &target.name,
                            &settings.circuit_breaker,
                            Instant::now(),
                        );
                        let again = !open && worth_retrying(&error, &settings.retry.on_status);
                        last = Some(error);
                        if !again {
                            break;
                        }
                    }
                }
            }
        }
        let error = exhausted(route, &attempts, last.as_ref());
        let retry_after = retry_after.filter(|_| error.kind() == ErrorKind::RateLimited);
        Err(Failure {
            error,
            attempts,
            retry_after,
        })
    }

    /// Sends one request and waits for the answer's status and headers.
    async fn send(
        &self,
        target: &Target,
        operation: Operation,
        secrets: &dyn Secrets,
        body: Vec<u8>,
        retry_after: &mut Option<Duration>,
    ) -> Result<Answer> {
        let provider = &target.provider;
        let credential = self.credential(provider, secrets).await?;
        let call = Call {
            operation,
            base_url: &provider.base_url,
            model: &target.profile.upstream_model,
            options: &provider.options,
            credential: &credential,
            now: SystemTime::now(),
        };
        let request = provider.adapter.prepare(&call, body)?;
        let client = self.client(provider.timeouts.connect)?;
        let first = provider.timeouts.first_token;
        let response = match tokio::time::timeout(first, client.post(request)).await {
            Err(_) => return Err(timeout("first byte", first)),
            Ok(result) => result?,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // Some providers name the error in a header (Bedrock's `x-amzn-ErrorType`); reading the
        // body consumes the response.
        let headers = response.headers().clone();
        if status == http::StatusCode::TOO_MANY_REQUESTS
            && let Some(asked) = retry_after_of(&headers)
        {
            *retry_after = Some(retry_after.map_or(asked, |seen| seen.max(asked)));
        }
        let body = tokio::time::timeout(
            provider.timeouts.total,
            read_body(response, MAX_ERROR_BYTES),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
        if status == http::StatusCode::UNAUTHORIZED
            && matches!(provider.credential, CredentialSpec::GoogleServiceAccount(_))
        {
            // A token revoked before its time: the next call mints a new one.
            self.google_tokens.forget(&provider.name);
        }
        Err(provider
            .adapter
            .decode_error_response(status.as_u16(), &headers, &body))
    }

    /// The credential to call `provider` with now: its secrets read (so that rotations apply
    /// at once) and, for a Google service account, the cached access token or a new one.
    pub async fn credential(
        &self,
        provider: &ProviderEntry,
        secrets: &dyn Secrets,
    ) -> Result<Credential> {
        let read = |reference: &SecretRef| match reference {
            SecretRef::Literal(value) => Ok(value.clone()),
            SecretRef::Stored(name) => secrets.reveal(name).ok_or_else(|| {
                Error::Setup(format!("the credential secret \"{name}\" does not exist"))
            }),
        };
        Ok(match &provider.credential {
            CredentialSpec::None => Credential::None,
            CredentialSpec::ApiKey(key) => Credential::ApiKey(read(key)?),
            CredentialSpec::Aws {
                access_key_id,
                secret_access_key,
                session_token,
            } => Credential::Aws {
                access_key_id: read(access_key_id)?,
                secret_access_key: read(secret_access_key)?,
                session_token: session_token.as_ref().map(read).transpose()?,
            },
            CredentialSpec::GoogleServiceAccount(reference) => {
                let key_file = read(reference)?;
                let whose = match reference {
                    SecretRef::Stored(name) => format!("the service account secret \"{name}\""),
                    SecretRef::Literal(_) => "the service account key".to_owned(),
                };
                let token = self
                    .google_tokens
                    .token(
                        &provider.name,
                        KeyIdentity::of(&key_file),
                        Instant::now(),
                        || async {
                            let key = ServiceAccountKey::parse(&key_file)
                                .map_err(|problem| format!("{whose} {problem}"))?;
                            self.google_token(provider, &key).await.map_err(|problem| {
                                format!("service account {}: {problem}", key.client_email)
                            })
                        },
                    )
                    .await
                    .map_err(Error::Setup)?;
                Credential::ApiKey(token.to_string())
            }
        })
    }

    /// Exchanges a signed assertion for an access token at the key's `token_uri`; a failure
    /// says what went wrong, not with which account.
    async fn google_token(
        &self,
        provider: &ProviderEntry,
        key: &ServiceAccountKey,
    ) -> std::result::Result<google_auth::AccessToken, String> {
        let now = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = key
            .assertion(now)
            .map_err(|problem| format!("its key file {problem}"))?;
        let endpoint = &key.token_uri;
        let body = format!(
            "grant_type={}&assertion={assertion}",
            google_auth::GRANT_TYPE_FORM
        );
        let client = self
            .client(provider.timeouts.connect)
            .map_err(|e| e.to_string())?;
        let request = UpstreamRequest {
            url: key.token_uri.clone(),
            headers: vec![
                (
                    "content-type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                ),
                ("accept".to_owned(), "application/json".to_owned()),
            ],
            body: body.into_bytes(),
        };
        let limit = TOKEN_TIMEOUT.min(provider.timeouts.total);
        let exchange = async {
            let response = client.post(request).await?;
            let status = response.status().as_u16();
            read_body(response, MAX_ERROR_BYTES)
                .await
                .map(|body| (status, body))
        };
        let (status, body) = match tokio::time::timeout(limit, exchange).await {
            Err(_) => {
                return Err(format!(
                    "the token endpoint {endpoint} did not answer in time"
                ));
            }
            Ok(Err(e)) => {
                return Err(format!(
                    "the token endpoint {endpoint} could not be reached ({e})"
                ));
            }
            Ok(Ok(answer)) => answer,
        };
        google_auth::read_token_answer(status, &body)
            .map_err(|problem| format!("the token endpoint {endpoint} {problem}"))
    }

    /// Reads a stream until its first events, within the first-token timeout, and returns
    /// a stream of everything. Failing before the first event fails the attempt (another
    /// target may serve); after it, failures end the stream with an error event.
    async fn open_stream(
        &self,
        target: Arc<Target>,
        response: Answer,
        started: Instant,
    ) -> Result<EventStream> {
        let timeouts = target.provider.timeouts;
        let first_deadline = started + timeouts.first_token;
        let total_deadline = started + timeouts.total;
        let mut decoder = ByteStreamDecoder::new(target.provider.adapter.stream_decoder());
        let mut bytes = BodyDataStream::new(response.into_body());
        let mut first = Vec::new();
        while first.is_empty() {
            let chunk = tokio::time::timeout_at(first_deadline.into(), bytes.next()).await;
            match chunk {
                Err(_) => return Err(timeout("first token", timeouts.first_token)),
                Ok(Some(Ok(chunk))) => first = decoder.push(&chunk)?,
                Ok(Some(Err(e))) => return Err(body_error(&e)),
                Ok(None) => {
                    first = decoder.finish()?;
                    if first.is_empty() {
                        return Err(Error::protocol("the stream ended before any event"));
                    }
                }
            }
        }
        if let Some(StreamEvent::Error(e)) =
            first.iter().find(|e| matches!(e, StreamEvent::Error(_)))
        {
            // An error before anything was said: a failed attempt, not a failed stream.
            return Err(Error::Transport {
                timeout: e.kind == ErrorKind::UpstreamTimeout,
                message: e.message.clone(),
            });
        }
        let first_at = Instant::now();
        let relay = Relay {
            bytes,
            decoder,
            pending: first.into(),
            deadline: total_deadline,
            total: timeouts.total,
            ended: false,
            observer: Some(Observer {
                health: self.health.clone(),
                target: target.name.clone(),
                ttft: first_at - started,
                first_at,
                output_tokens: None,
            }),
        };
        Ok(Box::pin(futures::stream::unfold(relay, Relay::next)))
    }
}

/// Relays a provider's stream after its first events.
struct Relay {
    bytes: BodyDataStream<Incoming>,
    decoder: ByteStreamDecoder,
    pending: std::collections::VecDeque<StreamEvent>,
    deadline: Instant,
    total: Duration,
    ended: bool,
    observer: Option<Observer>,
}

impl Relay {
    async fn next(mut self) -> Option<(StreamEvent, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                match &event {
                    StreamEvent::Usage(usage) => {
                        if let Some(observer) = &mut self.observer {
                            observer.output_tokens = Some(usage.output_tokens);
                        }
                    }
                    StreamEvent::Done => {
                        if let Some(observer) = self.observer.take() {
                            observer.record();
                        }
                        self.ended = true;
                    }
                    StreamEvent::Error(_) => self.ended = true,
                    _ => {}
                }
                return Some((event, self));
            }
            if self.ended {
                return None;
            }
            let events =
                match tokio::time::timeout_at(self.deadline.into(), self.bytes.next()).await {
                    Err(_) => Err(timeout("the whole answer", self.total)),
                    Ok(Some(Ok(chunk))) => self.decoder.push(&chunk),
                    Ok(Some(Err(e))) => Err(body_error(&e)),
                    Ok(None) => {
                        self.ended = true;
                        self.decoder.finish()
                    }
                };
            match events {
                Ok(events) => self.pending.extend(events),
                Err(error) => {
                    self.pending.clear();
                    self.pending
                        .push_back(StreamEvent::Error(error.to_stream_error()));
                    self.ended = false;
                    // Deliver the error, then end.
                    let event = self.pending.pop_front()?;
                    self.ended = true;
                    return Some((event, self));
                }
            }
        }
    }
}

/// Records a stream's latencies when it completes.
struct Observer {
    health: Arc<HealthBook>,
    target: String,
    ttft: Duration,
    first_at: Instant,
    output_tokens: Option<u32>,
}

impl Observer {
    fn record(self) {
        let per_token = self
            .output_tokens
            .filter(|t| *t > 1)
            .map(|tokens| self.first_at.elapsed() / (tokens - 1));
        self.health.observe(&self.target, self.ttft, per_token);
    }
}

/// A non-streamed answer's time per output token: its whole time spread over its tokens
/// (no better split is known).
fn tpot(elapsed: Duration, usage: Option<&Usage>) -> Option<Duration> {
    usage
        .map(|u| u.output_tokens)
        .filter(|t| *t > 0)
        .map(|tokens| elapsed / tokens)
}

/// A complete (non-streamed) answer, which must arrive whole within the first-token timeout.
async fn read_answer(response: Answer, target: &Target, started: Instant) -> Result<Vec<u8>> {
    let first = target.provider.timeouts.first_token;
    tokio::time::timeout_at(
        (started + first).into(),
        read_body(response, MAX_ANSWER_BYTES),
    )
    .await
    .unwrap_or_else(|_| Err(timeout("complete answer", first)))
}

async fn read_body(response: Answer, limit: usize) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut bytes = BodyDataStream::new(response.into_body());
    while let Some(chunk) = bytes.next().await {
        let chunk = chunk.map_err(|e| body_error(&e))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::protocol(format!(
                "the answer is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn timeout(what: &str, after: Duration) -> Error {
    Error::Transport {
        timeout: true,
        message: format!("no {what} within {}", humantime::format_duration(after)),
    }
}

fn failed(error: &Error) -> Outcome {
    Outcome::Failed {
        status: error.provider_error().map(|e| e.status),
        kind: error.kind(),
        reason: match error {
            Error::Provider(e) => match &e.code {
                Some(code) => format!("{} {code}", e.status),
                None => e.status.to_string(),
            },
            Error::Transport { message, .. } => message.clone(),
            other => other.public_message(),
        },
    }
}

/// Errors that are the request's fault end the call: another target would refuse it too.
fn is_callers_fault(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge
    ) && !matches!(error, Error::Setup(_))
}

/// Whether to try the same target again.
fn worth_retrying(error: &Error, on_status: &[u16]) -> bool {
    match error {
        Error::Transport { .. } => true,
        Error::Provider(e) => e.retryable && on_status.contains(&e.status),
        _ => false,
    }
}

/// The error of a call every target failed: 429 if every answer was a rate limit, 503 if every
/// breaker was open, 504 if the last failure was a timeout, else 502 — with the attempts.
fn exhausted(route: &Route, attempts: &[Attempt], last: Option<&Error>) -> Error {
    let all = |f: &dyn Fn(&Outcome) -> bool| {
        !attempts.is_empty() && attempts.iter().all(|a| f(&a.outcome))
    };
    let kind = if all(&|o| matches!(o, Outcome::CircuitOpen)) {
        ErrorKind::Unavailable
    } else if all(&|o| {
        matches!(
            o,
            Outcome::Failed {
                kind: ErrorKind::RateLimited,
                ..
            } | Outcome::CircuitOpen
        )
    }) {
        ErrorKind::RateLimited
    } else if last.is_some_and(|e| e.kind() == ErrorKind::UpstreamTimeout) {
        ErrorKind::UpstreamTimeout
    } else {
        ErrorKind::UpstreamFailed
    };
    let tried = attempts
        .iter()
        .map(Attempt::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let summary = if route.targets.len() == 1 {
        match last {
            Some(error) => format!("{} (attempts: {tried})", error.public_message()),
            None => format!(
                "model \"{}\" is unavailable (attempts: {tried})",
                route.name
            ),
        }
    } else {
        format!(
            "every target of \"{}\" failed (attempts: {tried})",
            route.name
        )
    };
    Error::Exhausted { kind, summary }
}

/// A `Retry-After` in seconds (the form model providers send), at most an hour.
fn retry_after_of(headers: &http::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(3600)))
}
