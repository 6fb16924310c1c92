//! A REST API described by an OpenAPI 3 document, served as an MCP server by the hub itself:
//! every operation is a tool (`tools`, over self-contained schemas from `schema`), and calling
//! it calls the API (`call`) with the registration's credentials.
//!
//! The server is an rmcp [`ServerHandler`] running in the hub's process; [`connect`] hands the
//! registry's usual MCP client the other end of an in-memory pipe to it, so names,
//! permissions, the catalog and the face work as for any other server. The document
//! (`document`) is read when the connection opens, and again whenever the catalog is re-read
//! afterwards (a refresh): a bad document fails the connection, or the refresh, with why.

mod call;
mod document;
mod schema;
mod tools;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use http::HeaderMap;
use reqwest::Url;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::Value;
use tokio::io::DuplexStream;

use crate::config::{McpServerConfig, McpTimeouts};
use crate::upstream::UpstreamError;
use call::Caller;
use document::{Location, Source};
use tools::Operation;

/// The in-memory pipe's buffer in each direction.
const PIPE_BUFFER: usize = 64 * 1024;
/// The longest `info.description` passed on as the server's instructions.
const MAX_INSTRUCTIONS: usize = 4000;

/// Starts the server of `server`'s OpenAPI document and returns the client's end of the pipe
/// to it. Fails if the document cannot be read or is not OpenAPI 3.
pub async fn connect(
    server: &McpServerConfig,
    timeouts: McpTimeouts,
    client: reqwest::Client,
    credentials: HeaderMap,
) -> Result<DuplexStream, UpstreamError> {
    let written = server
        .openapi
        .as_deref()
        .ok_or_else(|| UpstreamError::Setup("no openapi document".to_owned()))?;
    let location = Location::parse(written).map_err(UpstreamError::Setup)?;
    let base = server
        .url
        .as_deref()
        .map(|url| {
            Url::parse(url)
                .map_err(|e| UpstreamError::Setup(format!("\"{url}\" is not a valid URL: {e}")))
        })
        .transpose()?;
    let source = Source::new(
        location,
        base.as_ref(),
        &credentials,
        client.clone(),
        timeouts.request,
    );
    let api = load(&server.name, &source, base.as_ref()).await?;
    let handler = OpenApiServer {
        source,
        base,
        caller: Caller {
            server: server.name.clone(),
            client,
            credentials,
            timeout: timeouts.request,
        },
        api: RwLock::new(Arc::new(api)),
        fresh: AtomicBool::new(true),
    };
    let (client_end, server_end) = tokio::io::duplex(PIPE_BUFFER);
    let name = server.name.clone();
    tokio::spawn(async move {
        // Ends when the client's end is dropped (the connection closed).
        match handler.serve(server_end).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(error) => {
                tracing::debug!(server = %name, %error, "OpenAPI server's session did not start");
            }
        }
    });
    Ok(client_end)
}

/// What one reading of the document gave.
struct Api {
    base: Url,
    info: Implementation,
    instructions: Option<String>,
    tools: Vec<Tool>,
    operations: HashMap<String, Operation>,
}

/// Reads, checks and converts the document.
async fn load(server: &str, source: &Source, base: Option<&Url>) -> Result<Api, UpstreamError> {
    let location = source.location();
    let document = source.read().await.map_err(|e| {
        UpstreamError::Connect(format!("cannot read the OpenAPI document {location}: {e}"))
    })?;
    let unusable =
        |e: String| UpstreamError::Protocol(format!("the OpenAPI document {location}: {e}"));
    let dialect = document::dialect(&document).map_err(unusable)?;
    let base = document::base_url(base, &document, location).map_err(unusable)?;
    let converted = tools::convert(&document, dialect);
    for reason in &converted.skipped {
        tracing::warn!(server, document = %location, "OpenAPI operation left out: {reason}");
    }
    if converted.tools.is_empty() {
        tracing::warn!(server, document = %location, "the OpenAPI document has no usable operation");
    }
    let text = |pointer: &str| {
        document
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let info = Implementation::new(
        text("/info/title").unwrap_or(server).to_owned(),
        text("/info/version").unwrap_or("").to_owned(),
    );
    let instructions =
        text("/info/description").map(|d| match d.char_indices().nth(MAX_INSTRUCTIONS) {
            Some((at, _)) => format!("{}…", &d[..at]),
            None => d.to_owned(),
        });
    tracing::info!(server, document = %location, api = %base, tools = converted.tools.len(), "OpenAPI document read");
    Ok(Api {
        base,
        info,
        instructions,
        tools: converted.tools,
        operations: converted.operations,
    })
}

/// The MCP server of one OpenAPI document.
struct OpenApiServer {
    source: Source,
    /// The registration's `url`, if it set one.
    base: Option<Url>,
    caller: Caller,
    api: RwLock<Arc<Api>>,
    /// Whether `api` was read for this connection and not listed yet: the first `tools/list`
    /// (the connection's catalog read) uses it, later ones (refreshes) read the document anew.
    fresh: AtomicBool,
}

impl OpenApiServer {
    fn api(&self) -> Arc<Api> {
        self.api
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ServerHandler for OpenApiServer {
    fn get_info(&self) -> ServerConfig {
        let api = self.api();
        let config = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(api.info.clone());
        match &api.instructions {
            Some(instructions) => config.with_instructions(instructions.clone()),
            None => config,
        }
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        if !self.fresh.swap(false, Ordering::AcqRel) {
            let api = load(&self.caller.server, &self.source, self.base.as_ref())
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            *self.api.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(api);
        }
        Ok(ListToolsResult::with_all_items(self.api().tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let api = self.api();
        let operation = api.operations.get(request.name.as_ref()).ok_or_else(|| {
            ErrorData::invalid_params(format!("unknown tool: {}", request.name), None)
        })?;
        let arguments = request.arguments.unwrap_or_default();
        let http_request = call::build(&api.base, operation, &arguments)
            .map_err(|e| ErrorData::invalid_params(format!("{}: {e}", request.name), None))?;
        let result = self.caller.send(operation, http_request).await;
        Ok(CallToolResponse::Complete(result))
    }
}

/// Why a body was not read whole.
enum Limited {
    TooLarge,
    Failed(String),
}

/// Reads `response`'s body, refusing one larger than `limit` without reading it all.
async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, Limited> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(Limited::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Limited::Failed(crate::sse_client::cause(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(Limited::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
