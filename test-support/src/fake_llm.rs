//! Fake model providers: an OpenAI API (`POST /v1/chat/completions`, `POST /v1/embeddings`)
//! and an Anthropic API (`POST /v1/messages`), each an HTTP server on 127.0.0.1 with its own
//! thread and runtime, so that sync and async tests alike can use it.
//!
//! They speak the documented wire formats, streams included, and check credentials as the real
//! services do. Answers are derived from the request so that a test can tell what reached the
//! provider:
//!
//! - the last user text is echoed back (cut to `max_tokens` words, finishing with `length`);
//! - when `tools` are given and the last user text contains "use the tool", the first tool is
//!   called, with arguments built from its schema ([`example_of`]);
//! - when the conversation ends with a tool result, the answer is
//!   `The tool returned: <result>`.
//!
//! Tokens are counted as whitespace-separated words ([`tokens`]): input over every text of the
//! conversation, output over the answer.
//!
//! Behaviour on cue: [`Fake::cue`] queues [`Reply`]s, one consumed per request (after the
//! credential and shape checks); when the queue is empty, [`Fake::otherwise`] applies (by
//! default [`Reply::Normal`]). Every request is recorded ([`Fake::requests`]), even those that
//! never get an answer.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use futures::StreamExt;
use serde_json::{Value, json};

/// How long a stream pauses before it is cut or fails, so that its first events reach the
/// client on their own (the server flushes while the body waits).
const PAUSE_BEFORE_FAILURE: Duration = Duration::from_millis(100);

/// What the fake does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answers from the request.
    Normal,
    /// Fails with this status, in the API's error format, with `Retry-After: <seconds>` if
    /// given.
    Status(u16, Option<u64>),
    /// Answers normally after this long.
    Delay(Duration),
    /// Never answers, not even with headers (for timeouts).
    Hang,
    /// Starts the answer, then drops the connection: a stream after the first half of its
    /// events (no `[DONE]`, no `message_stop`), a JSON body halfway.
    Truncate,
    /// Answers 200 with a body that is not valid JSON (a stream: its first event).
    Malformed,
    /// A stream sends the first half of its events, then an error event. A request that is not
    /// streamed gets the error as a 5xx answer (500 `server_error`, 529 `overloaded_error`).
    StreamError,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON; `Null` when it was not JSON.
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A whitespace-separated word count, at least 1: the fakes' tokenizer.
pub fn tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count())
        .unwrap_or(u32::MAX)
        .max(1)
}

/// A value matching a JSON schema: the first `enum` value, `"example"` for strings, 1 for
/// integers, 1.5 for numbers, `true`, and objects with every property filled in.
pub fn example_of(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    let object = |schema: &Value| {
        let properties = schema["properties"].as_object();
        Value::Object(
            properties
                .into_iter()
                .flatten()
                .map(|(name, property)| (name.clone(), example_of(property)))
                .collect(),
        )
    };
    match schema["type"].as_str() {
        Some("object") => object(schema),
        Some("array") if schema.get("items").is_some() => json!([example_of(&schema["items"])]),
        Some("array") => json!([]),
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("null") => Value::Null,
        Some(_) => json!("example"),
        None if schema.get("properties").is_some() => object(schema),
        None => json!("example"),
    }
}

/// The embedding the fake OpenAI API gives `text`: `dimensions` values that depend on every
/// byte of the text, each exact in `f32`.
pub fn embedding_of(text: &str, dimensions: usize) -> Vec<f32> {
    // FNV-1a, then one step per dimension: stable and cheap.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..dimensions)
        .map(|i| {
            hash = hash
                .rotate_left(7)
                .wrapping_add(i as u64)
                .wrapping_mul(0x0000_0100_0000_01b3);
            // Multiples of 1/64 in [-1, 1): exact in f32 and in JSON.
            ((hash % 128) as f32 - 64.0) / 64.0
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The two APIs

/// A fake OpenAI API.
pub struct FakeOpenAi(Fake);

impl FakeOpenAi {
    /// The only key it accepts, as `Authorization: Bearer <key>`.
    pub const API_KEY: &'static str = "sk-fake-openai-0123456789abcdef";

    pub fn start() -> Self {
        Self(Fake::start(Api::OpenAi, Self::API_KEY))
    }

    /// `http://127.0.0.1:PORT/v1`: OpenAI base URLs include the version.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url())
    }
}

impl Deref for FakeOpenAi {
    type Target = Fake;
    fn deref(&self) -> &Fake {
        &self.0
    }
}

/// A fake Anthropic API.
pub struct FakeAnthropic(Fake);

impl FakeAnthropic {
    /// The only key it accepts, as `x-api-key` (or `Authorization: Bearer`).
    pub const API_KEY: &'static str = "sk-ant-fake-0123456789abcdef";

    pub fn start() -> Self {
        Self(Fake::start(Api::Anthropic, Self::API_KEY))
    }

    /// `http://127.0.0.1:PORT`: Anthropic base URLs have no version.
    pub fn base_url(&self) -> String {
        self.url()
    }
}

impl Deref for FakeAnthropic {
    type Target = Fake;
    fn deref(&self) -> &Fake {
        &self.0
    }
}

/// A running fake; stopped when dropped (requests still hanging are dropped with it).
pub struct Fake {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    api: Api,
    api_key: &'static str,
    script: Mutex<VecDeque<Reply>>,
    otherwise: Mutex<Reply>,
    log: Mutex<Vec<Recorded>>,
    ids: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Fake {
    fn start(api: Api, api_key: &'static str) -> Self {
        let shared = Arc::new(Shared {
            api,
            api_key,
            script: Mutex::new(VecDeque::new()),
            otherwise: Mutex::new(Reply::Normal),
            log: Mutex::new(Vec::new()),
            ids: AtomicU64::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking socket");
        let addr = listener.local_addr().expect("the bound address");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("fake-{}", api.name()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the fake");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime drops every connection, hanging ones included.
            })
            .expect("spawn the fake's thread");
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues replies for the next requests, one each, after those already queued.
    pub fn cue(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).extend(replies);
    }

    /// What requests get once the queue is empty (initially [`Reply::Normal`]).
    pub fn otherwise(&self, reply: Reply) {
        *lock(&self.shared.otherwise) = reply;
    }

    /// Cues not consumed yet.
    pub fn cued(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    /// How many requests were received.
    pub fn count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// The last request received.
    #[track_caller]
    pub fn last(&self) -> Recorded {
        lock(&self.shared.log)
            .last()
            .cloned()
            .expect("the fake received no request")
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    OpenAi,
    Anthropic,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Chat,
    Embeddings,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    lock(&shared.log).push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: parsed.clone().unwrap_or(Value::Null),
    });
    let n = shared.ids.fetch_add(1, Ordering::Relaxed) + 1;
    let api = shared.api;
    let mut response = match admit(&shared, &method, uri.path(), &headers, parsed.as_ref()) {
        Err(refusal) => error(api, refusal.status, refusal.param, &refusal.message),
        Ok((operation, request)) => {
            let cue = lock(&shared.script).pop_front();
            let reply = cue.unwrap_or_else(|| lock(&shared.otherwise).clone());
            respond(api, operation, &request, reply, n).await
        }
    };
    let id_header = match api {
        Api::OpenAi => "x-request-id",
        Api::Anthropic => "request-id",
    };
    if let Ok(value) = HeaderValue::from_str(&format!("req_fake{n}")) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(id_header), value);
    }
    response
}

/// Why a request is refused before any cue applies.
struct Refusal {
    status: u16,
    param: Option<&'static str>,
    message: String,
}

fn refuse(status: u16, param: Option<&'static str>, message: &str) -> Refusal {
    Refusal {
        status,
        param,
        message: message.to_owned(),
    }
}

/// The checks the real APIs make before anything else: route, credentials, version header,
/// a JSON body with the required fields.
fn admit(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Result<(Operation, Value), Refusal> {
    let api = shared.api;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let operation = match (api, path) {
        (Api::OpenAi, "/v1/chat/completions") | (Api::Anthropic, "/v1/messages") => Operation::Chat,
        (Api::OpenAi, "/v1/embeddings") => Operation::Embeddings,
        _ => {
            let message = match api {
                Api::OpenAi => format!("Invalid URL ({method} {path})"),
                Api::Anthropic => "Not Found".to_owned(),
            };
            return Err(refuse(404, None, &message));
        }
    };
    if method != Method::POST {
        return Err(refuse(405, None, "Method not allowed"));
    }
    match api {
        Api::OpenAi => match header("authorization").and_then(|v| v.strip_prefix("Bearer ")) {
            None => {
                return Err(refuse(
                    401,
                    None,
                    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.",
                ));
            }
            Some(key) if key != shared.api_key => {
                return Err(refuse(401, None, "Incorrect API key provided."));
            }
            Some(_) => {}
        },
        Api::Anthropic => {
            // The documented header is x-api-key; the current Python SDK (2.x) sends the key
            // as a bearer token instead, which the API accepts.
            let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
            match header("x-api-key").or(bearer) {
                None => return Err(refuse(401, None, "x-api-key header is required")),
                Some(key) if key != shared.api_key => {
                    return Err(refuse(401, None, "invalid x-api-key"));
                }
                Some(_) => {}
            }
            if header("anthropic-version").is_none() {
                return Err(refuse(400, None, "anthropic-version: header is required"));
            }
        }
    }
    let Some(body) = body.filter(|b| b.is_object()) else {
        return Err(refuse(400, None, "The request body is not valid JSON."));
    };
    let required: &[&'static str] = match (api, operation) {
        (Api::OpenAi, Operation::Chat) => &["model", "messages"],
        (Api::OpenAi, Operation::Embeddings) => &["model", "input"],
        (Api::Anthropic, _) => &["model", "max_tokens", "messages"],
    };
    for field in required {
        let missing = match &body[field] {
            Value::Null => true,
            Value::Array(items) => items.is_empty() && *field == "messages",
            _ => false,
        };
        if missing {
            let message = match api {
                Api::OpenAi => format!("Missing required parameter: '{field}'."),
                Api::Anthropic => format!("{field}: Field required"),
            };
            return Err(refuse(400, Some(*field), &message));
        }
    }
    Ok((operation, body.clone()))
}

/// What the conversation asks for, read the same way from both formats.
#[derive(Debug, Default)]
struct Prompt {
    last_user: String,
    tool_result: Option<String>,
    first_tool: Option<(String, Value)>,
    input_tokens: u32,
    max_tokens: Option<u32>,
}

/// Text of an OpenAI or Anthropic `content`: a string, or the texts of its parts (a tool
/// result's own content included).
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part["type"].as_str() {
                Some("text") => part["text"].as_str().unwrap_or_default().to_owned(),
                Some("tool_result") => text_of(&part["content"]),
                _ => String::new(),
            })
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn prompt_of(api: Api, request: &Value) -> Prompt {
    let mut prompt = Prompt::default();
    let mut words = 0u32;
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    if api == Api::Anthropic {
        let system = text_of(&request["system"]);
        if !system.is_empty() {
            words += tokens(&system);
        }
    }
    for message in &messages {
        let text = text_of(&message["content"]);
        if !text.is_empty() {
            words += tokens(&text);
        }
        if message["role"] == "user" {
            prompt.last_user = match api {
                Api::OpenAi => text,
                // The user's own words, not the tool results it carries.
                Api::Anthropic => match &message["content"] {
                    Value::Array(parts) => text_of(&Value::Array(
                        parts
                            .iter()
                            .filter(|p| p["type"] == "text")
                            .cloned()
                            .collect(),
                    )),
                    content => text_of(content),
                },
            };
        }
    }
    if let Some(last) = messages.last() {
        prompt.tool_result = match api {
            Api::OpenAi if last["role"] == "tool" => Some(text_of(&last["content"])),
            Api::Anthropic if last["role"] == "user" => last["content"]
                .as_array()
                .and_then(|parts| parts.iter().find(|p| p["type"] == "tool_result"))
                .map(|part| text_of(&part["content"])),
            _ => None,
        };
    }
    let tool = &request["tools"][0];
    prompt.first_tool = match api {
        Api::OpenAi => tool["function"]["name"]
            .as_str()
            .map(|name| (name.to_owned(), tool["function"]["parameters"].clone())),
        Api::Anthropic => tool["name"]
            .as_str()
            .map(|name| (name.to_owned(), tool["input_schema"].clone())),
    };
    prompt.input_tokens = words.max(1);
    let limit = match api {
        Api::OpenAi => request["max_completion_tokens"]
            .as_u64()
            .or(request["max_tokens"].as_u64()),
        Api::Anthropic => request["max_tokens"].as_u64(),
    };
    prompt.max_tokens = limit.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    prompt
}

/// The answer a prompt gets.
#[derive(Debug)]
enum Answer {
    Text { text: String, cut: bool },
    Tool { name: String, arguments: Value },
}

impl Answer {
    fn of(prompt: &Prompt) -> Self {
        if let Some(result) = &prompt.tool_result {
            return Self::text(format!("The tool returned: {result}"), prompt.max_tokens);
        }
        if let Some((name, schema)) = &prompt.first_tool
            && prompt.last_user.to_lowercase().contains("use the tool")
        {
            return Self::Tool {
                name: name.clone(),
                arguments: example_of(schema),
            };
        }
        let echo = if prompt.last_user.trim().is_empty() {
            "(no text)".to_owned()
        } else {
            prompt.last_user.clone()
        };
        Self::text(echo, prompt.max_tokens)
    }

    fn text(text: String, limit: Option<u32>) -> Self {
        match limit {
            Some(limit) if text.split_whitespace().count() > limit as usize => Self::Text {
                text: text
                    .split_whitespace()
                    .take(limit.max(1) as usize)
                    .collect::<Vec<_>>()
                    .join(" "),
                cut: true,
            },
            _ => Self::Text { text, cut: false },
        }
    }

    fn output_tokens(&self) -> u32 {
        match self {
            Self::Text { text, .. } => tokens(text),
            Self::Tool { name, arguments } => tokens(name) + tokens(&arguments.to_string()),
        }
    }
}

/// The pieces a text is streamed in: one word each, with the space that follows it.
fn pieces(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if c == ' ' {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Tool arguments are streamed in fragments of a few characters.
fn fragments(json: &str) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    chars.chunks(7).map(|c| c.iter().collect()).collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// ---------------------------------------------------------------------------------------------
// Answers

/// A successful answer before it is sent: a JSON body, or SSE events (each already framed).
enum Body200 {
    Json(Value),
    Sse(Vec<String>),
}

async fn respond(
    api: Api,
    operation: Operation,
    request: &Value,
    reply: Reply,
    n: u64,
) -> Response {
    let streamed = operation == Operation::Chat && request["stream"] == true;
    match reply {
        Reply::Hang => std::future::pending().await,
        Reply::Status(status, retry_after) => {
            let mut response = error(api, status, None, &default_message(api, status));
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        Reply::Malformed => {
            let (content_type, body) = if streamed {
                let broken = match api {
                    Api::OpenAi => "data: {\"id\": \"chatcmpl-broken\", \"choices\": [\n\n",
                    Api::Anthropic => {
                        "event: message_start\ndata: {\"type\": \"message_start\", \"message\": {\n\n"
                    }
                };
                ("text/event-stream", broken)
            } else {
                ("application/json", "{\"id\": \"broken\", \"choices\": [")
            };
            response(StatusCode::OK, content_type, Body::from(body))
        }
        Reply::StreamError if !streamed => {
            let status = match api {
                Api::OpenAi => 500,
                Api::Anthropic => 529,
            };
            error(api, status, None, &default_message(api, status))
        }
        Reply::Delay(delay) => {
            tokio::time::sleep(delay).await;
            send(answer(api, operation, request, n), Ending::Complete)
        }
        Reply::Normal => send(answer(api, operation, request, n), Ending::Complete),
        Reply::Truncate => send(answer(api, operation, request, n), Ending::Cut),
        Reply::StreamError => send(
            answer(api, operation, request, n),
            Ending::Event(stream_error_event(api)),
        ),
    }
}

fn answer(api: Api, operation: Operation, request: &Value, n: u64) -> Body200 {
    match (api, operation) {
        (Api::OpenAi, Operation::Embeddings) => Body200::Json(embeddings(request)),
        (Api::OpenAi, Operation::Chat) => openai_chat(request, n),
        (Api::Anthropic, _) => anthropic_messages(request, n),
    }
}

/// How a body ends.
enum Ending {
    Complete,
    /// The connection is dropped after the first half.
    Cut,
    /// This event follows the first half, and the stream ends.
    Event(String),
}

fn response(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn send(body: Body200, ending: Ending) -> Response {
    let (content_type, parts): (&'static str, Vec<Bytes>) = match body {
        Body200::Json(value) => {
            let bytes = Bytes::from(value.to_string());
            match ending {
                Ending::Complete => {
                    return response(StatusCode::OK, "application/json", Body::from(bytes));
                }
                _ => ("application/json", vec![bytes.slice(..bytes.len() / 2)]),
            }
        }
        Body200::Sse(events) => {
            let events: Vec<Bytes> = events.into_iter().map(Bytes::from).collect();
            match ending {
                Ending::Complete => ("text/event-stream", events),
                _ => {
                    let half = events.len() / 2;
                    ("text/event-stream", events[..half.max(1)].to_vec())
                }
            }
        }
    };
    let head = futures::stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>));
    let body = match ending {
        Ending::Complete => Body::from_stream(head),
        Ending::Cut => Body::from_stream(head.chain(futures::stream::once(async {
            tokio::time::sleep(PAUSE_BEFORE_FAILURE).await;
            Err(std::io::Error::other("the fake cut the answer"))
        }))),
        Ending::Event(event) => Body::from_stream(head.chain(futures::stream::once(async move {
            tokio::time::sleep(PAUSE_BEFORE_FAILURE).await;
            Ok(Bytes::from(event))
        }))),
    };
    let mut response = response(StatusCode::OK, content_type, body);
    if content_type == "text/event-stream" {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

fn openai_usage(input: u32, output: u32) -> Value {
    json!({
        "prompt_tokens": input,
        "completion_tokens": output,
        "total_tokens": input + output,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    })
}

fn openai_chat(request: &Value, n: u64) -> Body200 {
    let prompt = prompt_of(Api::OpenAi, request);
    let answer = Answer::of(&prompt);
    let id = format!("chatcmpl-fake{n}");
    let call_id = format!("call_fake{n}");
    let model = request["model"].clone();
    let created = now_secs();
    let usage = openai_usage(prompt.input_tokens, answer.output_tokens());
    let finish = match &answer {
        Answer::Text { cut: false, .. } => "stop",
        Answer::Text { cut: true, .. } => "length",
        Answer::Tool { .. } => "tool_calls",
    };
    if request["stream"] != true {
        let message = match &answer {
            Answer::Text { text, .. } => json!({
                "role": "assistant", "content": text, "refusal": null, "annotations": []
            }),
            Answer::Tool { name, arguments } => json!({
                "role": "assistant", "content": null, "refusal": null, "annotations": [],
                "tool_calls": [{
                    "id": call_id, "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()}
                }]
            }),
        };
        return Body200::Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_fake"
        }));
    }
    let include_usage = request["stream_options"]["include_usage"] == true;
    let chunk = |choices: Value| {
        let mut chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "service_tier": "default", "system_fingerprint": "fp_fake", "choices": choices
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let delta = |delta: Value, finish: Value| {
        chunk(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]))
    };
    let mut chunks = Vec::new();
    match &answer {
        Answer::Text { text, .. } => {
            chunks.push(delta(
                json!({"role": "assistant", "content": "", "refusal": null}),
                Value::Null,
            ));
            for piece in pieces(text) {
                chunks.push(delta(json!({"content": piece}), Value::Null));
            }
        }
        Answer::Tool { name, arguments } => {
            chunks.push(delta(
                json!({
                    "role": "assistant", "content": null, "refusal": null,
                    "tool_calls": [{
                        "index": 0, "id": call_id, "type": "function",
                        "function": {"name": name, "arguments": ""}
                    }]
                }),
                Value::Null,
            ));
            for fragment in fragments(&arguments.to_string()) {
                chunks.push(delta(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}),
                    Value::Null,
                ));
            }
        }
    }
    chunks.push(delta(json!({}), json!(finish)));
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage;
        chunks.push(last);
    }
    let mut events: Vec<String> = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    events.push("data: [DONE]\n\n".to_owned());
    Body200::Sse(events)
}

fn anthropic_messages(request: &Value, n: u64) -> Body200 {
    let prompt = prompt_of(Api::Anthropic, request);
    let answer = Answer::of(&prompt);
    let id = format!("msg_fake{n}");
    let tool_id = format!("toolu_fake{n}");
    let model = request["model"].clone();
    let output = answer.output_tokens();
    let usage = |output: u32| {
        json!({
            "input_tokens": prompt.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output,
            "service_tier": "standard"
        })
    };
    let stop_reason = match &answer {
        Answer::Text { cut: false, .. } => "end_turn",
        Answer::Text { cut: true, .. } => "max_tokens",
        Answer::Tool { .. } => "tool_use",
    };
    // A tool call comes after a short text, as the models write it.
    let (text, tool) = match &answer {
        Answer::Text { text, .. } => (text.clone(), None),
        Answer::Tool { name, arguments } => (format!("Calling {name}."), Some((name, arguments))),
    };
    if request["stream"] != true {
        let mut content = vec![json!({"type": "text", "text": text})];
        if let Some((name, arguments)) = tool {
            content
                .push(json!({"type": "tool_use", "id": tool_id, "name": name, "input": arguments}));
        }
        return Body200::Json(json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": usage(output)
        }));
    }
    let event = |data: Value| {
        let name = data["type"].as_str().unwrap_or_default().to_owned();
        format!("event: {name}\ndata: {data}\n\n")
    };
    let mut events = vec![
        event(json!({
            "type": "message_start",
            "message": {
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1)
            }
        })),
        event(json!({
            "type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}
        })),
        event(json!({"type": "ping"})),
    ];
    for piece in pieces(&text) {
        events.push(event(json!({
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": piece}
        })));
    }
    events.push(event(json!({"type": "content_block_stop", "index": 0})));
    if let Some((name, arguments)) = tool {
        events.push(event(json!({
            "type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        })));
        let json_text = arguments.to_string();
        for fragment in std::iter::once(String::new()).chain(fragments(&json_text)) {
            events.push(event(json!({
                "type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": fragment}
            })));
        }
        events.push(event(json!({"type": "content_block_stop", "index": 1})));
    }
    events.push(event(json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {"output_tokens": output}
    })));
    events.push(event(json!({"type": "message_stop"})));
    Body200::Sse(events)
}

fn embeddings(request: &Value) -> Value {
    let texts: Vec<String> = match &request["input"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) if items.iter().all(Value::is_number) => {
            vec![
                items
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        }
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                Value::Array(ids) => ids
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            })
            .collect(),
        other => vec![other.to_string()],
    };
    let dimensions = request["dimensions"].as_u64().unwrap_or(8) as usize;
    let base64 = request["encoding_format"] == "base64";
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embedding_of(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let used: u32 = texts.iter().map(|t| tokens(t)).sum();
    json!({
        "object": "list",
        "data": data,
        "model": request["model"],
        "usage": {"prompt_tokens": used, "total_tokens": used}
    })
}

// ---------------------------------------------------------------------------------------------
// Errors

fn default_message(api: Api, status: u16) -> String {
    match (api, status) {
        (_, 400) => "Invalid request.".to_owned(),
        (_, 401) => "Invalid authentication.".to_owned(),
        (_, 403) => "You are not allowed to use this model.".to_owned(),
        (_, 404) => "The model does not exist or you do not have access to it.".to_owned(),
        (Api::OpenAi, 429) => "Rate limit reached for requests.".to_owned(),
        (Api::Anthropic, 429) => "Number of requests has exceeded your rate limit.".to_owned(),
        (Api::Anthropic, 529) => "Overloaded".to_owned(),
        (Api::OpenAi, 503) => {
            "The engine is currently overloaded, please try again later.".to_owned()
        }
        _ => "The server had an error while processing your request.".to_owned(),
    }
}

/// An error answer in the API's format: OpenAI `{"error": {message, type, param, code}}`,
/// Anthropic `{"type": "error", "error": {type, message}}`.
fn error(api: Api, status: u16, param: Option<&str>, message: &str) -> Response {
    let body = match api {
        Api::OpenAi => {
            let (kind, code) = match status {
                // An unknown route has no code; an unknown model does.
                404 if message.starts_with("Invalid URL") => ("invalid_request_error", None),
                404 => ("invalid_request_error", Some("model_not_found")),
                400 | 405 => ("invalid_request_error", None),
                401 => ("invalid_request_error", Some("invalid_api_key")),
                403 => (
                    "invalid_request_error",
                    Some("unsupported_country_region_territory"),
                ),
                429 => ("requests", Some("rate_limit_exceeded")),
                _ => ("server_error", None),
            };
            json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
        }
        Api::Anthropic => json!({
            "type": "error",
            "error": {"type": anthropic_error_type(status), "message": message}
        }),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response(status, "application/json", Body::from(body.to_string()))
}

fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        400 | 405 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The error event a stream ends with on [`Reply::StreamError`].
fn stream_error_event(api: Api) -> String {
    match api {
        Api::OpenAi => format!(
            "data: {}\n\n",
            json!({"error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error", "param": null, "code": null
            }})
        ),
        Api::Anthropic => format!(
            "event: error\ndata: {}\n\n",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        ),
    }
}
