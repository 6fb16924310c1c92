//! A fast MCP server for the MCP benchmark: every path `/<server>/mcp` is one MCP server
//! (streamable HTTP, both protocol eras, JSON responses) with `--tools` tools named
//! `tool_00`, `tool_01`, …, each echoing its `text` argument. Many servers, one process.
//!
//! Usage: mock-mcp [--listen 127.0.0.1:19101] [--tools 40] [--threads 1]

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler};
use serde_json::json;

#[derive(Clone)]
struct Echoes {
    tools: Arc<Vec<Tool>>,
}

impl Echoes {
    fn new(count: usize) -> Self {
        let schema = json!({
            "type": "object",
            "properties": {"text": {"type": "string", "description": "What to echo"}},
            "required": ["text"],
        });
        let serde_json::Value::Object(schema) = schema else {
            unreachable!("the schema is an object")
        };
        let schema = Arc::new(schema);
        let tools = (0..count)
            .map(|i| {
                Tool::new(
                    Cow::Owned(format!("tool_{i:02}")),
                    "Echoes its text argument back, for benchmarks.",
                    schema.clone(),
                )
            })
            .collect();
        Self {
            tools: Arc::new(tools),
        }
    }
}

impl ServerHandler for Echoes {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self.tools.iter().any(|t| t.name == request.name) {
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            ));
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_owned();
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.result_type = Some(ResultType::COMPLETE);
        Ok(CallToolResponse::Complete(result))
    }
}

fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:19101".to_owned();
    let mut tools = 40usize;
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| std::io::Error::other(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--listen" => listen = value()?,
            "--tools" => tools = value()?.parse().map_err(std::io::Error::other)?,
            "--threads" => threads = value()?.parse().map_err(std::io::Error::other)?,
            other => return Err(std::io::Error::other(format!("unknown argument {other}"))),
        }
    }
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        let server = Echoes::new(tools);
        let service = StreamableHttpService::new(
            move || Ok(server.clone()),
            LocalSessionManager::default().into(),
            StreamableHttpServerConfig::default().with_json_response(true),
        );
        let app = Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route_service("/{server}/mcp", service);
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        axum::serve(listener, app).await
    })
}
