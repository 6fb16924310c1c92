//! Real MCP peers for tests: the reference `server-everything` and the MCP Inspector from npm,
//! installed in `tests/mcp` by `tests/run` (from its committed package-lock.json), and an MCP
//! client (rmcp) to reach an MCP endpoint in either protocol era.

use std::collections::HashMap;
use std::path::PathBuf;

use http::{HeaderName, HeaderValue};
use rmcp::ClientHandler;
use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;

/// The entry point of `server-everything` (run it with `node <path> stdio|streamableHttp|sse`), or
/// `None` with a notice when it is not installed. Under CI (`CI` or `AGENTHUB_REQUIRE_SDK`
/// set, as `.ci/run` does) its absence is a failure instead.
pub fn server_everything() -> Option<PathBuf> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    installed("@modelcontextprotocol/server-everything/dist/index.js")
}

/// The MCP Inspector's entry point (run it with `node <path> --cli …`), or `None` as for
/// [`server_everything`].
pub fn inspector() -> Option<PathBuf> {
    installed("@modelcontextprotocol/inspector/clients/launcher/build/index.js")
}

/// A file of a package installed in `tests/mcp`; its absence fails under CI.
fn installed(file: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/mcp/node_modules")
        .join(file);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none() && std::env::var_os("AGENTHUB_REQUIRE_SDK").is_none(),
        "tests/mcp/node_modules is missing: CI must run `npm ci` in tests/mcp (tests/run does)"
    );
    eprintln!("notice: tests/mcp/node_modules is missing; skipping (run `npm ci` in tests/mcp)");
    None
}

/// `server-everything` serving streamable HTTP (or the legacy HTTP+SSE transport) on a
/// loopback port; killed when dropped.
pub struct EverythingOverHttp {
    process: std::process::Child,
    bin: PathBuf,
    mode: &'static str,
    port: u16,
    /// Its MCP endpoint (for SSE, its event stream).
    pub url: String,
}

impl EverythingOverHttp {
    /// Starts `bin` (see [`server_everything`]) serving streamable HTTP at `/mcp` and waits
    /// until it accepts connections.
    pub fn start(bin: &std::path::Path) -> Self {
        Self::serve(bin, "streamableHttp", "/mcp")
    }

    /// Starts `bin` serving the legacy HTTP+SSE transport (its stream at `/sse`).
    pub fn start_sse(bin: &std::path::Path) -> Self {
        Self::serve(bin, "sse", "/sse")
    }

    fn serve(bin: &std::path::Path, mode: &'static str, path: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let upstream = Self {
            process: Self::spawn(bin, mode, port),
            bin: bin.to_owned(),
            mode,
            port,
            url: format!("http://127.0.0.1:{port}{path}"),
        };
        upstream.wait_listening();
        upstream
    }

    /// Kills the server (its clients see their connections end) and starts a new one on the
    /// same port.
    pub fn restart(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        self.process = Self::spawn(&self.bin, self.mode, self.port);
        self.wait_listening();
    }

    fn spawn(bin: &std::path::Path, mode: &str, port: u16) -> std::process::Child {
        std::process::Command::new("node")
            .arg(bin)
            .arg(mode)
            .env("PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start server-everything")
    }

    fn wait_listening(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "server-everything did not start listening on {}",
                self.port
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for EverythingOverHttp {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The MCP protocol eras a client can speak, each with the lifecycle that selects it.
pub fn eras() -> [(&'static str, ClientLifecycleMode); 2] {
    [
        (
            "2026-07-28",
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::LATEST],
            },
        ),
        ("2025-11-25", ClientLifecycleMode::Initialize),
    ]
}

/// An MCP client (rmcp) of the streamable HTTP endpoint `url`, sending `headers` with every
/// request, connected in the era `lifecycle` selects.
pub async fn connect(
    url: &str,
    headers: HashMap<HeaderName, HeaderValue>,
    lifecycle: ClientLifecycleMode,
) -> RunningService<RoleClient, ()> {
    connect_with(url, headers, lifecycle, ()).await
}

/// [`connect`], with `handler` hearing the server's notifications.
pub async fn connect_with<H: ClientHandler>(
    url: &str,
    headers: HashMap<HeaderName, HeaderValue>,
    lifecycle: ClientLifecycleMode,
    handler: H,
) -> RunningService<RoleClient, H> {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers),
    );
    handler
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .expect("connect to the MCP endpoint")
}

/// A `tools/call` of `name` with `arguments` (a JSON object).
pub fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        panic!("tool arguments are an object: {arguments}");
    };
    CallToolRequestParams::new(name.to_owned()).with_arguments(arguments)
}

/// The names `client` sees in `tools/list`, every page.
pub async fn tool_names(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    client
        .peer()
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// A tool result's content as JSON text, for looking for what it says.
pub fn text_of(result: &CallToolResult) -> String {
    serde_json::to_string(&result.content).expect("content serializes")
}

/// `tools/call` of `name` with `arguments` by `client`; the result (a tool error included).
pub async fn call_tool(
    client: &RunningService<RoleClient, ()>,
    name: &str,
    arguments: Value,
) -> CallToolResult {
    client
        .peer()
        .call_tool(call(name, arguments))
        .await
        .expect("tools/call")
}

/// A successful tool result's `structuredContent`.
#[track_caller]
pub fn structured(result: &CallToolResult) -> &Value {
    assert_ne!(result.is_error, Some(true), "{}", text_of(result));
    result
        .structured_content
        .as_ref()
        .expect("structured content")
}

/// A tool error's text.
#[track_caller]
pub fn tool_error(result: &CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "{}", text_of(result));
    text_of(result)
}
