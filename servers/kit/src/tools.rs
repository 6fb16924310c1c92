//! Tool definitions and results: each tool written once as a [`ToolSpec`] (its schemas as
//! JSON, its annotations), its arguments read with errors that name the field, its result
//! both as `structuredContent` and as text for clients that read only text; and [`Server`],
//! the MCP server of a [`Toolset`].

use std::future::Future;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One bundled server's tools.
pub trait Toolset: Send + Sync + 'static {
    /// The server's name in `initialize` (`agenthub-mcp-sentry`).
    const NAME: &'static str;
    /// How to use the tools together, for the model.
    const INSTRUCTIONS: &'static str;
    fn specs() -> Vec<ToolSpec>;
    /// Runs the tool `request` names; its structured result, or why not.
    fn call(
        &self,
        request: CallToolRequestParams,
    ) -> impl Future<Output = Result<Value, ToolError>> + Send;
}

/// The MCP server of a [`Toolset`]: its tools listed, each call's result structured or a tool
/// error. Cheap to clone (one per HTTP session).
pub struct Server<T>(Arc<T>);

impl<T> Clone for Server<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Toolset> Server<T> {
    pub fn new(tools: T) -> Self {
        Self(Arc::new(tools))
    }
}

impl<T: Toolset> ServerHandler for Server<T> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(T::NAME, env!("CARGO_PKG_VERSION")))
            .with_instructions(T::INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            T::specs().iter().map(ToolSpec::tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // A call the client cancelled (or gave up on) stops here, rather than posting or
        // creating something after the caller has moved on.
        let outcome = tokio::select! {
            outcome = self.0.call(request) => outcome,
            () = context.ct.cancelled() => {
                return Err(ErrorData::internal_error("the call was cancelled", None));
            }
        };
        let result = match outcome {
            Ok(value) => structured(value),
            Err(error) => error.result(),
        };
        Ok(CallToolResponse::Complete(result))
    }
}

/// What a tool does to the service, which becomes its annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only (`readOnlyHint`).
    Reads,
    /// Adds something, never changes or removes what is there (`destructiveHint: false`).
    Adds,
    /// Changes what is there (`destructiveHint`); `idempotent` when repeating it changes
    /// nothing more.
    Changes { idempotent: bool },
}

/// One tool, as written.
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// JSON Schema of the arguments (an object).
    pub input: Value,
    /// JSON Schema of `structuredContent` (an object), when the result is structured.
    pub output: Option<Value>,
    pub effect: Effect,
}

impl ToolSpec {
    pub fn tool(&self) -> Tool {
        let annotations = ToolAnnotations::with_title(self.title).open_world(true);
        let annotations = match self.effect {
            Effect::Reads => annotations.read_only(true),
            Effect::Adds => annotations.read_only(false).destructive(false),
            Effect::Changes { idempotent } => annotations
                .read_only(false)
                .destructive(true)
                .idempotent(idempotent),
        };
        let tool = Tool::new(self.name, self.description, object(&self.input))
            .with_title(self.title)
            .with_annotations(annotations);
        match &self.output {
            Some(output) => tool.with_raw_output_schema(object(output)),
            None => tool,
        }
    }
}

fn object(schema: &Value) -> Arc<JsonObject> {
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// A tool's failure, as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError(pub String);

impl<E: std::fmt::Display> From<E> for ToolError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

impl ToolError {
    pub fn result(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(self.0.clone())])
    }
}

/// The arguments of a call as `T`; a wrong one is named with its path.
pub fn arguments<T: DeserializeOwned>(arguments: Option<JsonObject>) -> Result<T, ToolError> {
    let value = Value::Object(arguments.unwrap_or_default());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ToolError(format!("invalid arguments: {inner}"))
        } else {
            ToolError(format!("invalid argument `{path}`: {inner}"))
        }
    })
}

/// A structured result: `structuredContent`, and the same JSON as text.
pub fn structured(value: Value) -> CallToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        #[allow(dead_code)]
        limit: Option<u32>,
    }

    #[test]
    fn bad_arguments_are_named() {
        let args = |v: Value| arguments::<Args>(v.as_object().cloned());
        assert!(args(json!({"limit": 5})).is_ok());
        let e = args(json!({"limit": "five"})).unwrap_err();
        assert!(e.0.starts_with("invalid argument `limit`"), "{}", e.0);
        let e = args(json!({"limt": 5})).unwrap_err();
        assert!(e.0.contains("unknown field `limt`"), "{}", e.0);
    }

    #[test]
    fn annotations_follow_the_effect() {
        let spec = |effect| ToolSpec {
            name: "t",
            title: "T",
            description: "d",
            input: json!({"type": "object"}),
            output: Some(json!({"type": "object"})),
            effect,
        };
        let reads = spec(Effect::Reads).tool();
        let a = reads.annotations.unwrap();
        assert_eq!(a.read_only_hint, Some(true));
        assert!(reads.output_schema.is_some());
        let changes = spec(Effect::Changes { idempotent: true })
            .tool()
            .annotations
            .unwrap();
        assert_eq!(
            (
                changes.read_only_hint,
                changes.destructive_hint,
                changes.idempotent_hint
            ),
            (Some(false), Some(true), Some(true))
        );
    }
}
