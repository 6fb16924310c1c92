//! mock-a2a: a minimal, fast A2A v1.0 agent for agenthub's A2A benchmark (`bench/a2a`).
//!
//! - `GET /.well-known/agent-card.json`: its card — one v1.0 JSON-RPC interface at its base
//!   URL, one skill (`echo`).
//! - `POST /`: JSON-RPC 2.0. `SendMessage` is answered with a completed task (a fresh task id,
//!   the message's `contextId` or a fresh one, one artifact echoing the message's text):
//!   `{"jsonrpc":"2.0","id":…,"result":{"task":{"id":…,"contextId":…,"status":{"state":
//!   "TASK_STATE_COMPLETED"},"artifacts":[{"artifactId":"a1","parts":[{"text":…}]}]}}}`.
//!   Like a2a-sdk's v1.0 server, a request without `A2A-Version: 1.0` (header, or query
//!   parameter) is refused with `VersionNotSupported` (-32009) unless `--lenient`; other
//!   methods are -32601, unreadable bodies -32700, malformed requests -32600/-32602.
//! - `GET /stats`: what it has seen — `SendMessage` answered, how many of those carried a
//!   signature (`metadata["agenthub/signature"]`), requests refused — so the benchmark can
//!   check that the hub signed every message it relayed.
//! - `GET /healthz`.
//!
//! It does as little as it can: no logging per request, the body parsed once into borrowed
//! fields, the fixed parts of the answers prepared once.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use tokio::net::TcpListener;

const USAGE: &str = "\
usage: mock-a2a [--listen ADDR] [--url URL] [--threads N] [--lenient]

  --listen ADDR   address to listen on (default 127.0.0.1:19201)
  --url URL       its base URL, as its card declares it (default http://ADDR)
  --threads N     runtime worker threads (default 1: a single-threaded runtime)
  --lenient       accept requests without A2A-Version: 1.0";

/// The largest request body read.
const MAX_BODY: usize = 4 << 20;

/// JSON-RPC and A2A error codes.
const PARSE_ERROR: i32 = -32700;
const INVALID_REQUEST: i32 = -32600;
const METHOD_NOT_FOUND: i32 = -32601;
const INVALID_PARAMS: i32 = -32602;
const VERSION_NOT_SUPPORTED: i32 = -32009;

struct Args {
    listen: SocketAddr,
    url: Option<String>,
    threads: usize,
    lenient: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 19201)),
        url: None,
        threads: 1,
        lenient: false,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let text = value("--listen")?;
                args.listen = text.parse().map_err(|e| format!("--listen {text}: {e}"))?;
            }
            "--url" => args.url = Some(value("--url")?),
            "--threads" => {
                let text = value("--threads")?;
                args.threads = match text.parse() {
                    Ok(n) if n >= 1 => n,
                    _ => return Err(format!("--threads {text}: expected a number of at least 1")),
                };
            }
            "--lenient" => args.lenient = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mock-a2a: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut builder = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(args.threads);
        builder
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mock-a2a: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.listen));
    let agent = Arc::new(Agent::new(&url, args.lenient));
    match runtime.block_on(serve(args.listen, agent)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-a2a: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr, agent: Arc<Agent>) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("mock-a2a listening on {}", listener.local_addr()?);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted: go on.
                eprintln!("mock-a2a: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Answers are small and written at once: send them without waiting.
        let _ = stream.set_nodelay(true);
        let agent = agent.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(agent.clone(), request));
            // A client closing its connection mid-request is not worth a word.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    agent: Arc<Agent>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::POST, "/") => {
            let versioned = agent.lenient || speaks_v1(&request);
            match Limited::new(request.into_body(), MAX_BODY).collect().await {
                Ok(body) => agent.jsonrpc(&body.to_bytes(), versioned),
                Err(e) => json(
                    StatusCode::BAD_REQUEST,
                    rpc_error(
                        &Value::Null,
                        PARSE_ERROR,
                        &format!("cannot read the body: {e}"),
                    ),
                ),
            }
        }
        (&Method::GET, "/.well-known/agent-card.json") => json(StatusCode::OK, agent.card.clone()),
        (&Method::GET, "/stats") => json(StatusCode::OK, Bytes::from(agent.stats())),
        (&Method::GET, "/healthz") => json(StatusCode::OK, Bytes::from_static(b"{\"ok\":true}")),
        _ => json(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"{\"error\":\"no such route\"}"),
        ),
    };
    Ok(response)
}

/// Whether the request says `A2A-Version: 1.0` (the header, else the query parameter).
fn speaks_v1(request: &Request<Incoming>) -> bool {
    if let Some(value) = request.headers().get("a2a-version") {
        return value.to_str().is_ok_and(|v| v.trim() == "1.0");
    }
    request.uri().query().is_some_and(|query| {
        query.split('&').any(|pair| {
            pair.split_once('=')
                .is_some_and(|(k, v)| k.eq_ignore_ascii_case("a2a-version") && v == "1.0")
        })
    })
}

/// A JSON-RPC request, as far as the mock reads it.
#[derive(Deserialize)]
struct RpcRequest<'a> {
    #[serde(default, borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Value,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(default, borrow)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(default, borrow)]
    message: Option<Message<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    #[serde(borrow)]
    message_id: Cow<'a, str>,
    #[serde(default, borrow)]
    context_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    parts: Vec<Part<'a>>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

/// Where the hub puts its signature: `metadata["agenthub/signature"]`.
#[derive(Deserialize)]
struct Metadata {
    #[serde(default, rename = "agenthub/signature")]
    signature: Option<IgnoredAny>,
}

/// The agent: its card, and counters.
struct Agent {
    card: Bytes,
    lenient: bool,
    /// Task and context ids are `<seed>-<counter>`, shaped like UUIDs.
    seed: u64,
    next: AtomicU64,
    answered: AtomicU64,
    signed: AtomicU64,
    refused: AtomicU64,
}

impl Agent {
    fn new(url: &str, lenient: bool) -> Self {
        let card = serde_json::json!({
            "name": "bench",
            "description": "A fast echo agent for agenthub's A2A benchmark: every message is answered with a completed task whose artifact echoes its text.",
            "version": "1.0.0",
            "supportedInterfaces": [
                {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
            ],
            "capabilities": {"streaming": false, "pushNotifications": false},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{
                "id": "echo",
                "name": "Echo",
                "description": "Echoes the message's text as an artifact.",
                "tags": ["bench"],
            }],
        });
        Self {
            card: Bytes::from(card.to_string()),
            lenient,
            seed: fastrand::u64(..),
            next: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            signed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn stats(&self) -> String {
        format!(
            "{{\"answered\":{},\"signed\":{},\"refused\":{}}}",
            self.answered.load(Ordering::Relaxed),
            self.signed.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// A fresh id shaped like a UUID (version 4, variant 1).
    fn fresh_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let seed = self.seed;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            seed >> 32,
            (seed >> 16) & 0xffff,
            seed & 0xfff,
            0x8000 | ((n >> 48) & 0x3fff),
            n & 0xffff_ffff_ffff,
        )
    }

    fn refuse(&self, id: &Value, code: i32, message: &str) -> Response<Full<Bytes>> {
        self.refused.fetch_add(1, Ordering::Relaxed);
        json(StatusCode::OK, rpc_error(id, code, message))
    }

    fn jsonrpc(&self, body: &[u8], versioned: bool) -> Response<Full<Bytes>> {
        let request: RpcRequest<'_> = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(e) if e.is_data() => {
                return self.refuse(
                    &Value::Null,
                    INVALID_REQUEST,
                    &format!("Invalid request: {e}"),
                );
            }
            Err(e) => return self.refuse(&Value::Null, PARSE_ERROR, &e.to_string()),
        };
        let id = &request.id;
        if request.jsonrpc.as_deref() != Some("2.0") {
            return self.refuse(
                id,
                INVALID_REQUEST,
                "Invalid request: 'jsonrpc' must be exactly '2.0'",
            );
        }
        if request.method != "SendMessage" {
            return self.refuse(id, METHOD_NOT_FOUND, "Method not found");
        }
        if !versioned {
            return self.refuse(
                id,
                VERSION_NOT_SUPPORTED,
                "SendMessage is an A2A 1.0 method: send A2A-Version: 1.0",
            );
        }
        let Some(message) = request.params.and_then(|p| p.message) else {
            return self.refuse(id, INVALID_PARAMS, "params.message is required");
        };
        if message.message_id.is_empty() {
            return self.refuse(id, INVALID_PARAMS, "params.message.messageId is required");
        }
        if message
            .metadata
            .as_ref()
            .is_some_and(|m| m.signature.is_some())
        {
            self.signed.fetch_add(1, Ordering::Relaxed);
        }
        let text: String = message
            .parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect();
        let task_id = self.fresh_id();
        let context_id = match message.context_id.as_deref() {
            Some(context) if !context.is_empty() => Cow::Borrowed(context),
            _ => Cow::Owned(format!("ctx-{task_id}")),
        };
        let answer = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"task\":{{\"id\":\"{task_id}\",\
             \"contextId\":{context},\"status\":{{\"state\":\"TASK_STATE_COMPLETED\"}},\
             \"artifacts\":[{{\"artifactId\":\"a1\",\"parts\":[{{\"text\":{text}}}]}}]}}}}}}",
            context = Value::from(context_id.as_ref()),
            text = Value::from(text),
        );
        self.answered.fetch_add(1, Ordering::Relaxed);
        json(StatusCode::OK, Bytes::from(answer))
    }
}

/// A JSON-RPC error answer.
fn rpc_error(id: &Value, code: i32, message: &str) -> Bytes {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    });
    Bytes::from(body.to_string())
}

fn json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(agent: &Agent, body: &str, versioned: bool) -> Value {
        let response = agent.jsonrpc(body.as_bytes(), versioned);
        assert_eq!(response.status(), StatusCode::OK);
        let body = futures_body(response);
        serde_json::from_slice(&body).unwrap()
    }

    fn futures_body(response: Response<Full<Bytes>>) -> Bytes {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(response.into_body().collect())
            .unwrap()
            .to_bytes()
    }

    const SEND: &str = r#"{"jsonrpc":"2.0","id":7,"method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"hello \"bench\""}],"metadata":{"agenthub/signature":{"v":1}}}}}"#;

    #[test]
    fn a_message_is_answered_with_a_completed_task_echoing_its_text() {
        let agent = Agent::new("http://127.0.0.1:1", false);
        let first = answer(&agent, SEND, true);
        assert_eq!(first["id"], 7);
        let task = &first["result"]["task"];
        assert_eq!(task["status"]["state"], "TASK_STATE_COMPLETED");
        assert_eq!(task["artifacts"][0]["parts"][0]["text"], "hello \"bench\"");
        assert_eq!(task["id"].as_str().unwrap().len(), 36);
        assert!(task["contextId"].as_str().unwrap().starts_with("ctx-"));
        let second = answer(&agent, SEND, true);
        assert_ne!(
            second["result"]["task"]["id"], task["id"],
            "task ids are fresh"
        );
        let stats: Value = serde_json::from_str(&agent.stats()).unwrap();
        assert_eq!(
            stats,
            serde_json::json!({"answered": 2, "signed": 2, "refused": 0})
        );
    }

    #[test]
    fn the_context_is_kept_and_bad_requests_are_refused() {
        let agent = Agent::new("http://127.0.0.1:1", false);
        let kept = answer(
            &agent,
            r#"{"jsonrpc":"2.0","id":"a","method":"SendMessage","params":{"message":{"messageId":"m","contextId":"c-1","parts":[]}}}"#,
            true,
        );
        assert_eq!(kept["result"]["task"]["contextId"], "c-1");
        for (body, versioned, code) in [
            (SEND, false, VERSION_NOT_SUPPORTED),
            ("{", true, PARSE_ERROR),
            (r#"{"id":1,"method":"SendMessage"}"#, true, INVALID_REQUEST),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"t"}}"#,
                true,
                METHOD_NOT_FOUND,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}"#,
                true,
                INVALID_PARAMS,
            ),
        ] {
            let refused = answer(&agent, body, versioned);
            assert_eq!(refused["error"]["code"], code, "{body}");
        }
        let stats: Value = serde_json::from_str(&agent.stats()).unwrap();
        assert_eq!(stats["answered"], 1);
        assert_eq!(stats["signed"], 0);
        assert_eq!(stats["refused"], 5);
    }

    #[test]
    fn the_card_declares_one_v1_jsonrpc_interface_and_one_skill() {
        let agent = Agent::new("http://127.0.0.1:19201", false);
        let card: Value = serde_json::from_slice(&agent.card).unwrap();
        assert_eq!(
            card["supportedInterfaces"],
            serde_json::json!([{"url": "http://127.0.0.1:19201", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}])
        );
        assert_eq!(card["skills"].as_array().unwrap().len(), 1);
    }
}
