//! Bad input to `/mcp` gets a clear answer: malformed JSON-RPC, unknown methods and oversized
//! bodies, in the stateless 2026-07-28 revision and in 2025-11-25 sessions, against an
//! in-process hub on a loopback port.

mod support;

use agenthub::app;
use serde_json::{Value, json};
use support::lab::InProcessHub;

struct Hub {
    url: String,
    key: String,
    http: reqwest::Client,
    _lab: InProcessHub,
}

async fn start() -> Hub {
    let lab = InProcessHub::start("mcp:\n  limits:\n    max_request_bytes: 65536\n").await;
    let router = app::router(lab.state.clone());
    let address = agenthub_test_support::serve_on_loopback(router).await;
    Hub {
        url: format!("http://{address}/mcp"),
        key: lab.admin.clone(),
        http: reqwest::Client::new(),
        _lab: lab,
    }
}

const META: &str = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

impl Hub {
    /// POSTs `body` as is, in the stateless revision; the status and the JSON-RPC message.
    async fn post(&self, method: &str, body: String) -> (u16, Value) {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .header("mcp-name", "a__b")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let message = text
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap_or(&text)
            .to_owned();
        (
            status,
            serde_json::from_str(&message).unwrap_or(Value::Null),
        )
    }
}

fn code(message: &Value) -> i64 {
    message["error"]["code"].as_i64().unwrap_or_default()
}

#[tokio::test]
async fn bad_json_rpc_gets_its_standard_error() {
    let hub = start().await;
    // (what is sent, the header's method, the JSON-RPC code expected)
    let cases = [
        (
            r#"{"jsonrpc": "2.0", "id": 1, "method": "#.to_owned(),
            "tools/list",
            -32700,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "params": {}}).to_string(),
            "tools/list",
            -32600,
        ),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/frobnicate","params":{{"_meta":{META}}}}}"#
            ),
            "tools/frobnicate",
            -32601,
        ),
    ];
    for (body, method, expected) in cases {
        let (status, message) = hub.post(method, body.clone()).await;
        assert_eq!(code(&message), expected, "{body}: HTTP {status} {message}");
    }
}

#[tokio::test]
async fn oversized_requests_are_refused() {
    let hub = start().await;
    let text = "x".repeat(100_000);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a__b","arguments":{{"text":"{text}"}},"_meta":{META}}}}}"#
    );
    let (status, _) = hub.post("tools/call", body).await;
    assert_eq!(status, 413);
    // Under the limit, the same request is answered (here: no such tool).
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"a__b","arguments":{{}},"_meta":{META}}}}}"#
    );
    let (status, message) = hub.post("tools/call", body).await;
    assert_eq!((status, code(&message)), (200, -32602), "{message}");
}
