//! The hub as a client of a real MCP server: the reference `server-everything` (npm,
//! installed in `tests/mcp` by `tests/run`), over stdio, over streamable HTTP and over the
//! legacy HTTP+SSE transport; and of a fake SSE server that shows what the hub sends.
//!
//! Without `tests/mcp/node_modules` the tests print a notice and pass, except under CI (`CI` or
//! `AGENTHUB_REQUIRE_SDK` set, as `.ci/run` does), where the peer's absence is a failure.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agenthub_mcp_registry::config::{McpServerConfig, McpTimeouts};
use agenthub_mcp_registry::upstream::{Connection, Secrets, UpstreamError};
use agenthub_test_support::mcp::{EverythingOverHttp, server_everything};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use tokio::sync::mpsc;

struct Store(BTreeMap<&'static str, &'static str>);

impl Secrets for Store {
    fn reveal(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| (*v).to_owned())
    }
}

fn no_secrets() -> Store {
    Store(BTreeMap::new())
}

fn server(value: serde_json::Value) -> McpServerConfig {
    serde_json::from_value(value).unwrap()
}

fn timeouts() -> McpTimeouts {
    McpTimeouts {
        connect: Duration::from_secs(30),
        request: Duration::from_secs(30),
    }
}

async fn check_catalog_and_call(connection: &Connection) {
    let catalog = connection.catalog().await.unwrap();
    let names: Vec<&str> = catalog.tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(names.contains(&"echo"), "{names:?}");
    assert!(names.contains(&"get-sum"), "{names:?}");
    assert!(!catalog.resources.is_empty());
    assert!(!catalog.resource_templates.is_empty());
    assert!(!catalog.prompts.is_empty());
    assert!(catalog.server.is_some());

    let result = connection
        .peer()
        .call_tool(
            CallToolRequestParams::new("get-sum")
                .with_arguments(json!({"a": 2, "b": 3}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(text.contains('5'), "{text}");
}

#[tokio::test]
async fn stdio_servers_are_started_listed_and_called() {
    let Some(bin) = server_everything() else {
        return;
    };
    let config = server(json!({
        "name": "everything",
        "command": "node",
        "args": [bin, "stdio"],
        "env": {"EVERYTHING_TOKEN": "secret:token"},
    }));
    let secrets = Store(BTreeMap::from([("token", "t0ken")]));
    let connection = Connection::open(&config, timeouts(), &secrets)
        .await
        .unwrap();
    check_catalog_and_call(&connection).await;

    // The process sees its own environment (secrets resolved), not the hub's.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let result = connection
        .peer()
        .call_tool(CallToolRequestParams::new("get-env"))
        .await
        .unwrap();
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(
        text.contains("EVERYTHING_TOKEN") && text.contains("t0ken"),
        "{text}"
    );
    assert!(text.contains("PATH"), "{text}");
    assert!(!text.contains("CARGO_MANIFEST_DIR"), "{text}");
    connection.close().await;
}

#[tokio::test]
async fn streamable_http_servers_are_listed_and_called() {
    let Some(bin) = server_everything() else {
        return;
    };
    let upstream = EverythingOverHttp::start(&bin);
    let config = server(json!({
        "name": "everything",
        "url": upstream.url,
        "headers": {"x-upstream-key": "secret:key"},
    }));
    let secrets = Store(BTreeMap::from([("key", "k")]));
    let connection = Connection::open(&config, timeouts(), &secrets)
        .await
        .unwrap();
    check_catalog_and_call(&connection).await;
    connection.close().await;
}

#[tokio::test]
async fn sse_servers_are_listed_and_called() {
    let Some(bin) = server_everything() else {
        return;
    };
    let upstream = EverythingOverHttp::start_sse(&bin);
    let config = server(json!({"name": "everything", "transport": "sse", "url": upstream.url}));
    let connection = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .unwrap();
    check_catalog_and_call(&connection).await;
    assert!(!connection.is_closed());

    // The server goes away: the connection says so.
    drop(upstream);
    until_closed(&connection).await;
}

#[tokio::test]
async fn sse_requests_carry_the_registration_headers() {
    let fake = FakeSse::start("/messages?sessionId=s1").await;
    let config = server(json!({
        "name": "fake", "transport": "sse", "url": fake.url(),
        "headers": {"x-upstream-key": "secret:key", "x-team": "platform"},
        "bearer_token": "secret:token",
    }));
    let secrets = Store(BTreeMap::from([("key", "k3y"), ("token", "t0k")]));
    let connection = Connection::open(&config, timeouts(), &secrets)
        .await
        .unwrap();
    // The answers came as multi-line `data`, with CRLF line ends, comments and, for some,
    // no event type.
    let catalog = connection.catalog().await.unwrap();
    let names: Vec<&str> = catalog.tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["hello"]);
    assert_eq!(catalog.server.unwrap().name, "fake-sse");

    let seen = fake.seen();
    let methods: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "GET",
            "initialize",
            "notifications/initialized",
            "tools/list"
        ]
    );
    for request in &seen {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("x-upstream-key"), Some("k3y"), "{}", request.method);
        assert_eq!(header("x-team"), Some("platform"), "{}", request.method);
        assert_eq!(
            header("authorization"),
            Some("Bearer t0k"),
            "{}",
            request.method
        );
        if request.method == "GET" {
            assert_eq!(header("accept"), Some("text/event-stream"));
        } else {
            assert_eq!(header("content-type"), Some("application/json"));
            assert_eq!(request.query.as_deref(), Some("sessionId=s1"));
        }
    }
    connection.close().await;
}

#[tokio::test]
async fn an_sse_stream_that_ends_closes_the_connection() {
    let fake = FakeSse::start("/messages?sessionId=s1").await;
    let config = server(json!({"name": "fake", "transport": "sse", "url": fake.url()}));
    let connection = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .unwrap();
    connection.catalog().await.unwrap();
    assert!(!connection.is_closed());
    fake.end_stream();
    until_closed(&connection).await;
}

#[tokio::test]
async fn sse_failures_are_classified() {
    // An endpoint on another origin: the registration's credentials must not go there.
    let fake = FakeSse::start("http://evil.example/messages?sessionId=s1").await;
    let config = server(json!({"name": "fake", "transport": "sse", "url": fake.url()}));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, UpstreamError::Protocol(m) if m.contains("another origin") && m.contains("http://evil.example")),
        "{error:?}"
    );
    assert_eq!(fake.seen().len(), 1, "nothing was posted");

    // Not an SSE stream.
    let config = server(json!({
        "name": "fake", "transport": "sse", "url": fake.url().replace("/sse", "/json"),
    }));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, UpstreamError::Protocol(m) if m.contains("not an SSE stream")),
        "{error:?}"
    );

    // An error status.
    let url = fake.url().replace("/sse", "/missing");
    let config = server(json!({"name": "fake", "transport": "sse", "url": url}));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, UpstreamError::Connect(m) if m.contains(&url) && m.contains("404")),
        "{error:?}"
    );

    // Nothing listening: the error names the URL.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/sse");
    let config = server(json!({"name": "a", "transport": "sse", "url": url}));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, UpstreamError::Connect(m) if m.contains(&url)),
        "{error:?}"
    );
    assert!(error.to_string().contains("refused"), "{error}");

    // A stream that never names its endpoint.
    let fake = FakeSse::start("").await;
    let config = server(json!({
        "name": "fake", "transport": "sse", "url": fake.url(),
        "timeouts": {"connect": "300ms"},
    }));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, UpstreamError::Timeout(_)), "{error:?}");
}

/// Waits (bounded) until `connection` says it is closed.
async fn until_closed(connection: &Connection) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !connection.is_closed() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection never closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One request the fake received: `GET` for the stream, else the JSON-RPC method posted.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    query: Option<String>,
    headers: HeaderMap,
}

/// A legacy HTTP+SSE server written for the tests: the stream at `/sse` names `endpoint` (none
/// if empty), posts to `/messages` are answered on the stream (`initialize`, `tools/list`
/// with one tool), every request is recorded. `/json` answers JSON, anything else 404.
#[derive(Clone)]
struct FakeSse {
    address: std::net::SocketAddr,
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stream: Arc<Mutex<Option<mpsc::UnboundedSender<String>>>>,
}

impl FakeSse {
    async fn start(endpoint: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Self {
            address: listener.local_addr().unwrap(),
            endpoint: endpoint.to_owned(),
            seen: Arc::default(),
            stream: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/sse", axum::routing::get(Self::open))
            .route("/messages", axum::routing::post(Self::post))
            .route(
                "/json",
                axum::routing::get(|| async { axum::Json(json!({})) }),
            )
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    fn url(&self) -> String {
        format!("http://{}/sse", self.address)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Ends the open stream, as a server that goes away.
    fn end_stream(&self) {
        self.stream.lock().unwrap().take();
    }

    fn record(&self, method: &str, query: Option<String>, headers: HeaderMap) {
        self.seen.lock().unwrap().push(Seen {
            method: method.to_owned(),
            query,
            headers,
        });
    }

    async fn open(State(fake): State<Self>, headers: HeaderMap) -> Response {
        fake.record("GET", None, headers);
        let (events, mut stream) = mpsc::unbounded_channel();
        if !fake.endpoint.is_empty() {
            events
                .send(format!(
                    "event: endpoint\r\ndata: {}\r\n\r\n",
                    fake.endpoint
                ))
                .unwrap();
        }
        *fake.stream.lock().unwrap() = Some(events);
        let body = futures::stream::poll_fn(move |cx| {
            stream
                .poll_recv(cx)
                .map(|event| event.map(Ok::<_, Infallible>))
        });
        (
            [(header::CONTENT_TYPE, "text/event-stream")],
            axum::body::Body::from_stream(body),
        )
            .into_response()
    }

    async fn post(
        State(fake): State<Self>,
        axum::extract::RawQuery(query): axum::extract::RawQuery,
        headers: HeaderMap,
        axum::Json(message): axum::Json<Value>,
    ) -> StatusCode {
        let method = message["method"]
            .as_str()
            .unwrap_or("(response)")
            .to_owned();
        fake.record(&method, query, headers);
        let result = match method.as_str() {
            "initialize" => json!({
                "protocolVersion": "2024-11-05",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-sse", "version": "1.0.0"},
            }),
            "tools/list" => json!({
                "tools": [{"name": "hello", "inputSchema": {"type": "object"}}],
            }),
            _ => return StatusCode::ACCEPTED,
        };
        let answer = json!({"jsonrpc": "2.0", "id": message["id"], "result": result});
        // Pretty-printed: one `data` line per line of JSON, CRLF line ends, a comment, and
        // the event type only on the answer to `initialize` (`message` is the default).
        let mut event = String::from(": an answer\r\n");
        if method == "initialize" {
            event.push_str("event: message\r\n");
        }
        for line in serde_json::to_string_pretty(&answer).unwrap().lines() {
            event.push_str(&format!("data: {line}\r\n"));
        }
        event.push_str("\r\n");
        if let Some(stream) = fake.stream.lock().unwrap().as_ref() {
            let _ = stream.send(event);
        }
        StatusCode::ACCEPTED
    }
}

#[tokio::test]
async fn failures_are_classified() {
    // A secret that is not in the store.
    let config = server(json!({
        "name": "a", "url": "http://127.0.0.1:9/mcp", "bearer_token": "secret:missing",
    }));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, UpstreamError::Setup(m) if m.contains("missing")),
        "{error:?}"
    );

    // Nothing listening.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = server(json!({"name": "a", "url": format!("http://127.0.0.1:{port}/mcp")}));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, UpstreamError::Connect(_)), "{error:?}");

    // A program that does not exist.
    let config = server(json!({"name": "a", "command": "/nonexistent/mcp-server"}));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, UpstreamError::Connect(m) if m.contains("cannot start")),
        "{error:?}"
    );

    // A process that never answers the handshake.
    let config = server(json!({
        "name": "a", "command": "sleep", "args": ["30"],
        "timeouts": {"connect": "500ms"},
    }));
    let error = Connection::open(&config, timeouts(), &no_secrets())
        .await
        .err()
        .unwrap();
    assert!(matches!(error, UpstreamError::Timeout(_)), "{error:?}");
}
