//! mock-openai: a minimal, fast stand-in for OpenAI's Chat Completions endpoint, for agenthub's
//! benchmarks (`bench/run`). It answers `POST /v1/chat/completions` with a fixed short answer:
//! a `chat.completion` object with a Content-Length, or, with `"stream": true`, a stream of
//! `chat.completion.chunk` events (a usage chunk when `stream_options.include_usage` is true,
//! as OpenAI does) ending with `data: [DONE]`. Connections are kept alive. It also answers
//! `GET /v1/models` and `GET /healthz`; anything else is a 404 in OpenAI's error shape.
//!
//! It does as little as it can: no logging per request, the request body parsed only for
//! `model`, `messages`, `stream` and `stream_options`, every fixed part of the answers prepared
//! once.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::net::TcpListener;

const USAGE: &str = "\
usage: mock-openai [--listen ADDR] [--threads N]

  --listen ADDR   address to listen on (default 127.0.0.1:9001)
  --threads N     runtime worker threads (default 1: a single-threaded runtime)";

/// The largest request body read.
const MAX_BODY: usize = 4 << 20;

/// The answer's text, as one message and as the deltas of a stream.
const DELTAS: [&str; 4] = ["Hello!", " This is", " the mock", " answering."];
const PROMPT_TOKENS: u32 = 12;
const COMPLETION_TOKENS: u32 = 8;

struct Args {
    listen: SocketAddr,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
        threads: 1,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let text = value("--listen")?;
                args.listen = text.parse().map_err(|e| format!("--listen {text}: {e}"))?;
            }
            "--threads" => {
                let text = value("--threads")?;
                args.threads = match text.parse() {
                    Ok(n) if n >= 1 => n,
                    _ => return Err(format!("--threads {text}: expected a number of at least 1")),
                };
            }
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
            eprintln!("mock-openai: {message}\n{USAGE}");
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
            eprintln!("mock-openai: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args.listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-openai: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("mock-openai listening on {}", listener.local_addr()?);
    let answers = Arc::new(Answers::new());
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted: go on.
                eprintln!("mock-openai: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Answers are small and written at once: send them without waiting.
        let _ = stream.set_nodelay(true);
        let answers = answers.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(answers.clone(), request));
            // A client closing its connection mid-request is not worth a word.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What the mock reads of a chat request.
#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    messages: Vec<IgnoredAny>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

async fn handle(
    answers: Arc<Answers>,
    request: Request<Incoming>,
) -> Result<Response<Reply>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => {
            match Limited::new(request.into_body(), MAX_BODY).collect().await {
                Ok(body) => answers.chat(&body.to_bytes()),
                Err(e) => error(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read the request body: {e}"),
                ),
            }
        }
        (&Method::GET, "/v1/models") => json(StatusCode::OK, answers.models.clone()),
        (&Method::GET, "/healthz") => json(StatusCode::OK, Bytes::from_static(b"{\"ok\":true}")),
        _ => error(StatusCode::NOT_FOUND, "no such route"),
    };
    Ok(response)
}

/// The fixed parts of the answers, made once.
struct Answers {
    created: u64,
    models: Bytes,
}

impl Answers {
    fn new() -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let models = format!(
            "{{\"object\":\"list\",\"data\":[{{\"id\":\"mock-model\",\"object\":\"model\",\
             \"created\":{created},\"owned_by\":\"mock-openai\"}}]}}"
        );
        Self {
            created,
            models: Bytes::from(models),
        }
    }

    fn chat(&self, body: &[u8]) -> Response<Reply> {
        let request: ChatRequest<'_> = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("the request body is not a valid chat request: {e}"),
                );
            }
        };
        if request.messages.is_empty() {
            return error(StatusCode::BAD_REQUEST, "messages must not be empty");
        }
        // The model name as a JSON string, escaped.
        let model = serde_json::Value::from(request.model.as_ref()).to_string();
        if request.stream == Some(true) {
            let usage = request
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false);
            self.stream(&model, usage)
        } else {
            self.complete(&model)
        }
    }

    fn complete(&self, model: &str) -> Response<Reply> {
        let created = self.created;
        let content: String = DELTAS.concat();
        let body = format!(
            "{{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion\",\"created\":{created},\
             \"model\":{model},\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\
             \"content\":\"{content}\",\"refusal\":null}},\"logprobs\":null,\
             \"finish_reason\":\"stop\"}}],{usage},\"system_fingerprint\":\"fp_mock\"}}",
            usage = usage_field(),
        );
        json(StatusCode::OK, Bytes::from(body))
    }

    fn stream(&self, model: &str, usage: bool) -> Response<Reply> {
        let created = self.created;
        let head = format!(
            "data: {{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\
             \"created\":{created},\"model\":{model},\"system_fingerprint\":\"fp_mock\",\
             \"choices\":"
        );
        let mut frames = VecDeque::with_capacity(DELTAS.len() + 4);
        let mut event = |choices: &str| {
            frames.push_back(Bytes::from(format!("{head}{choices}}}\n\n")));
        };
        event(
            "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\
             \"logprobs\":null,\"finish_reason\":null}]",
        );
        for delta in DELTAS {
            event(&format!(
                "[{{\"index\":0,\"delta\":{{\"content\":\"{delta}\"}},\"logprobs\":null,\
                 \"finish_reason\":null}}]"
            ));
        }
        event("[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]");
        if usage {
            event(&format!("[],{}", usage_field()));
        }
        frames.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        let mut response = Response::new(Reply::Frames(frames));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

fn usage_field() -> String {
    format!(
        "\"usage\":{{\"prompt_tokens\":{PROMPT_TOKENS},\"completion_tokens\":{COMPLETION_TOKENS},\
         \"total_tokens\":{}}}",
        PROMPT_TOKENS + COMPLETION_TOKENS
    )
}

fn json(status: StatusCode, body: Bytes) -> Response<Reply> {
    let mut response = Response::new(Reply::Full(Some(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An error in OpenAI's shape.
fn error(status: StatusCode, message: &str) -> Response<Reply> {
    let body = serde_json::json!({
        "error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}
    });
    json(status, Bytes::from(body.to_string()))
}

/// A response body: one buffer with its length known (so hyper sends Content-Length), or
/// frames of unknown total length (sent chunked, one chunk a frame).
enum Reply {
    Full(Option<Bytes>),
    Frames(VecDeque<Bytes>),
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            Self::Full(body) => body.take(),
            Self::Frames(frames) => frames.pop_front(),
        };
        Poll::Ready(next.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(body) => body.is_none(),
            Self::Frames(frames) => frames.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(body) => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Frames(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(response: Response<Reply>) -> Vec<Bytes> {
        match response.into_body() {
            Reply::Full(body) => body.into_iter().collect(),
            Reply::Frames(frames) => frames.into_iter().collect(),
        }
    }

    #[test]
    fn a_completion_is_valid_json_with_the_model_asked_for() {
        let answers = Answers::new();
        let response =
            answers.chat(br#"{"model":"gpt-\"4o","messages":[{"role":"user","content":"hi"}]}"#);
        assert_eq!(response.status(), StatusCode::OK);
        let length = response.body().size_hint().exact();
        let body = body_of(response);
        assert_eq!(length, Some(body[0].len() as u64));
        let value: serde_json::Value = serde_json::from_slice(&body[0]).unwrap();
        assert_eq!(value["object"], "chat.completion");
        assert_eq!(value["model"], "gpt-\"4o");
        assert_eq!(
            value["choices"][0]["message"]["content"],
            "Hello! This is the mock answering."
        );
        assert_eq!(value["usage"]["total_tokens"], 20);
    }

    #[test]
    fn a_stream_is_chunks_then_usage_then_done() {
        let answers = Answers::new();
        let response = answers.chat(
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},
                 "messages":[{"role":"user","content":"hi"}]}"#,
        );
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(response.body().size_hint().exact(), None);
        let frames = body_of(response);
        let (done, events) = frames.split_last().unwrap();
        assert_eq!(&done[..], b"data: [DONE]\n\n");
        let events: Vec<serde_json::Value> = events
            .iter()
            .map(|frame| {
                let text = std::str::from_utf8(frame).unwrap();
                let json = text.strip_prefix("data: ").unwrap().strip_suffix("\n\n");
                serde_json::from_str(json.unwrap()).unwrap()
            })
            .collect();
        assert!(
            events
                .iter()
                .all(|e| e["object"] == "chat.completion.chunk")
        );
        let text: String = events
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello! This is the mock answering.");
        let last = events.last().unwrap();
        assert_eq!(last["choices"], serde_json::json!([]));
        assert_eq!(last["usage"]["prompt_tokens"], 12);
        assert_eq!(
            events[events.len() - 2]["choices"][0]["finish_reason"],
            "stop"
        );
    }

    #[test]
    fn usage_is_streamed_only_when_asked_for() {
        let frames = body_of(
            Answers::new().chat(br#"{"model":"m","stream":true,"messages":[{"role":"user"}]}"#),
        );
        assert!(
            frames
                .iter()
                .all(|f| !f.windows(7).any(|w| w == b"\"usage\""))
        );
    }

    #[test]
    fn a_bad_request_is_a_400_in_openai_shape() {
        for body in [
            &b"{"[..],
            br#"{"model":"m"}"#,
            br#"{"model":"m","messages":[]}"#,
        ] {
            let response = Answers::new().chat(body);
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let value: serde_json::Value = serde_json::from_slice(&body_of(response)[0]).unwrap();
            assert_eq!(value["error"]["type"], "invalid_request_error");
        }
    }
}
