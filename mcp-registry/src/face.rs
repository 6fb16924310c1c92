//! The hub's MCP face: one MCP server (rmcp, streamable HTTP, both protocol eras) whose tools,
//! prompts and resources are the federation's, filtered by what the caller may use. Prompts and
//! resources share the tools' permission namespace (a resource by its name, or its template's):
//! `list` to see one, `call` to get or read it. A call is authorized again, its arguments
//! validated against the tool's input schema before anything is sent upstream, then forwarded
//! over the server's shared connection — or, for a server that acts for each user, over the
//! caller's own (a caller without a grant gets MCP's URL elicitation error with the link to
//! grant it, [`CONSENT_REQUIRED`]) — within its request timeout. Resource URIs are the hub's
//! (`hub://<server>/<upstream URI>`, see [`crate::uris`]), in listings and in every result.
//!
//! The hub decides who the caller is and what they may do through a [`Gate`]; this module
//! knows neither identities nor policies. Around each tool call the gate also admits it and
//! inspects its arguments (before anything goes upstream), inspects its result, and records
//! how it ended (see [`crate::calls`]).
//!
//! Requests go upstream through [`crate::relay`]: a client's cancellation stops them, and the
//! server's progress reaches clients that asked for it. Clients learn that lists changed
//! through [`crate::changes`]: on their session's stream (2025-11-25) or on
//! `subscriptions/listen` (2026-07-28).
//!
//! A face serves a [`Scope`]: everything, or one virtual server's selection (see
//! [`crate::virtual_servers`]), looked up at each request in the definitions in force. Outside
//! the selection an item is unknown, exactly as one the caller may not use.
//!
//! Besides the federation's tools, a face publishes the gate's extra tools (see
//! [`crate::extra`]): tools no upstream has, which the gate answers itself (the hub's A2A
//! agents). They go through the same steps as an upstream's — listed after the federation's in
//! the same pages, selected by virtual servers, filtered per caller by `mcp:<group>/<name>` and
//! whatever the gate adds, arguments checked against their schema, the call recorded, clients
//! told when their list changes — except that the gate governs the call itself rather than
//! around it (`before_call` and `after_call`), since what it does with it is its own.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use base64::Engine as _;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode,
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, JsonObject,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResultType, ServerCapabilities, ServerConfig, SubscriptionFilter, Tool,
};
use rmcp::model::{MetaObject, RequestMetaObject};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ErrorData, ServerHandler};
use serde_json::Value;
use tokio::sync::watch;

use crate::calls::{CallFailure, CallReport, Outcome, Refusal, ToolCall, json_size};
use crate::changes::{self, Feed, Sessions};
use crate::extra::{ExtraTool, ExtraTools};
use crate::hops;
use crate::names::{Namespace, Origin};
use crate::registry::{Federation, PublishedTool, Registry};
use crate::relay::{self, Forward, Interrupted};
use crate::upstream::{Connection, UpstreamError};
use crate::uris;
use crate::virtual_servers::{VirtualServer, VirtualServers};

/// JSON-RPC error code (implementation-defined range) for a request the hub did not
/// authenticate.
pub const UNAUTHENTICATED: ErrorCode = ErrorCode(-32001);
/// JSON-RPC error code (implementation-defined range) for an upstream that failed.
pub const UPSTREAM_FAILED: ErrorCode = ErrorCode(-32002);
/// JSON-RPC error code (implementation-defined range) for a call refused by a rate limit or
/// budget; the error's data holds the limit's facts, `retry_after_seconds` among them.
pub const LIMITED: ErrorCode = ErrorCode(-32029);
/// JSON-RPC error code (implementation-defined range) for a call whose arguments a guardrail
/// blocked.
pub const BLOCKED: ErrorCode = ErrorCode(-32030);
/// JSON-RPC error code for a request the user must first visit a URL for: MCP 2025-11-25's
/// `URLElicitationRequiredError`. Answered for a server that acts for each user to a caller who
/// has not granted it access; the error's data holds the link (`authorization_url`).
pub const CONSENT_REQUIRED: ErrorCode = ErrorCode(-32042);
/// JSON-RPC error code (implementation-defined range) for a request that already passed
/// through this hub, or through more hubs than [`hops::MAX_HOPS`] allows (see [`crate::hops`]).
pub const LOOP_DETECTED: ErrorCode = ErrorCode(-32043);

/// What the hub decides about callers. Implemented by the hub over its governance.
pub trait Gate: Send + Sync + 'static {
    /// Who is calling, from the HTTP request the hub authenticated.
    type Caller: Send + Sync + 'static;

    /// The caller of this request; `None` when the request was not authenticated.
    fn caller(&self, request: &http::request::Parts) -> Option<Self::Caller>;

    /// Whether `caller` may see `tool` of `server` (upstream name) in listings.
    fn may_list_tool(&self, caller: &Self::Caller, server: &str, tool: &str) -> bool;

    /// Whether `caller` may call `tool` of `server` (upstream name).
    fn may_call_tool(&self, caller: &Self::Caller, server: &str, tool: &str) -> bool;

    /// The stable id users' grants are kept under (the hub's principal id); `None` for callers
    /// who cannot hold one, and so cannot use servers that act for each user.
    fn principal<'a>(&self, _caller: &'a Self::Caller) -> Option<&'a str> {
        None
    }

    /// A link where `caller` grants the hub access to `server` (a server that acts for each
    /// user) for themselves; or why none can be made.
    fn consent_link(
        &self,
        _caller: &Self::Caller,
        _server: &str,
    ) -> impl Future<Output = Result<String, String>> + Send {
        async { Err("this hub keeps no users' grants".to_owned()) }
    }

    /// What the gate keeps from [`before_call`](Self::before_call) to
    /// [`after_call`](Self::after_call), e.g. a rate-limit admission to settle.
    type Ticket: Send;

    /// Called once a call is authorized and its arguments match the schema, before anything
    /// is sent upstream: admits it and inspects its arguments, which it may rewrite (they are
    /// forwarded as left). A refusal is the caller's answer.
    fn before_call(
        &self,
        caller: &Self::Caller,
        call: ToolCall<'_>,
        arguments: &mut JsonObject,
    ) -> impl Future<Output = Result<Self::Ticket, Refusal>> + Send;

    /// Called after a call that `before_call` admitted: with its result, which the gate may
    /// rewrite, or `None` when the upstream failed or the caller cancelled the call.
    /// `Err(reason)` when a guardrail blocked the result: the caller then gets an error result
    /// saying so, never the original.
    fn after_call(
        &self,
        caller: &Self::Caller,
        call: ToolCall<'_>,
        ticket: Self::Ticket,
        result: Option<&mut CallToolResult>,
    ) -> impl Future<Output = Result<(), String>> + Send;

    /// Told how each call to a known tool ended, refused and abandoned ones included, exactly
    /// once. Must be quick and must not fail: the answer waits for it.
    fn record(&self, caller: &Self::Caller, report: &CallReport<'_>);

    /// Whether [`record`](Self::record) wants each call's arguments and result (serialized
    /// once more, so only when asked).
    fn keeps_bodies(&self) -> bool {
        false
    }

    /// The tools the gate answers itself, listed after the federation's (see
    /// [`crate::extra`]); none by default. Loaded at each request, like the federation.
    fn extra_tools(&self) -> Arc<ExtraTools> {
        Arc::default()
    }

    /// Counts the changes of [`extra_tools`](Self::extra_tools)' list, so that clients are
    /// told of them; `None` when it never changes.
    fn extra_tool_changes(&self) -> Option<watch::Receiver<u64>> {
        None
    }

    /// Whether `caller` may see the extra tool `tool` in listings. The face also asks
    /// [`may_list_tool`](Self::may_list_tool) for its group and name: this can only narrow.
    fn may_list_extra_tool(&self, _caller: &Self::Caller, _tool: &ExtraTool) -> bool {
        true
    }

    /// Whether `caller` may call the extra tool `tool`; the face also asks
    /// [`may_call_tool`](Self::may_call_tool) for its group and name.
    fn may_call_extra_tool(&self, _caller: &Self::Caller, _tool: &ExtraTool) -> bool {
        true
    }

    /// Answers a call of the extra tool `tool` that `caller` may make, its arguments matching
    /// the tool's input schema; `meta` is the request's `_meta` as the client sent it (its
    /// `traceparent`, say: never who the caller is). The result, with the outcome it is
    /// recorded with, or the failure. The gate governs the call itself:
    /// [`before_call`](Self::before_call) and [`after_call`](Self::after_call) are not called
    /// around it, [`record`](Self::record) is. Dropped if the client cancels the call.
    fn call_extra_tool(
        &self,
        _caller: &Self::Caller,
        tool: &ExtraTool,
        _arguments: JsonObject,
        _meta: Option<RequestMetaObject>,
    ) -> impl Future<Output = Result<(CallToolResult, Outcome), CallFailure>> + Send {
        let error = ErrorData::internal_error(
            format!("no one answers the tool {} here", tool.tool.name),
            None,
        );
        async move {
            Err(CallFailure {
                outcome: Outcome::UpstreamFailed,
                error,
            })
        }
    }
}

/// What a face serves.
#[derive(Clone)]
pub enum Scope {
    /// Everything the federation publishes.
    All,
    /// The selection of the virtual server `name`, as defined in `servers` at each request;
    /// nothing while it is not defined.
    Virtual {
        name: Arc<str>,
        servers: VirtualServers,
    },
}

/// A scope resolved for one request.
enum View {
    All,
    /// A virtual server's selection; `None`: it is no longer defined, and selects nothing.
    Virtual(Option<Arc<VirtualServer>>),
}

impl View {
    /// The name `tool` has here, if it is selected.
    fn tool_name<'a>(&'a self, tool: &'a PublishedTool) -> Option<&'a str> {
        match self {
            Self::All => Some(&tool.name),
            Self::Virtual(Some(server)) => {
                server.tool_name(&tool.server, &tool.tool.name, &tool.name)
            }
            Self::Virtual(None) => None,
        }
    }

    /// The name the extra tool `tool` has here, if it is selected.
    fn extra_tool_name<'a>(&'a self, tool: &'a ExtraTool) -> Option<&'a str> {
        match self {
            Self::All => Some(&tool.tool.name),
            Self::Virtual(Some(server)) => {
                server.tool_name(&tool.server, &tool.name, &tool.tool.name)
            }
            Self::Virtual(None) => None,
        }
    }

    /// The extra tool a call of `name` goes to, if it is one served here.
    fn resolve_extra_tool<'e>(&self, extras: &'e ExtraTools, name: &str) -> Option<&'e ExtraTool> {
        match self {
            Self::All => extras.get(name),
            Self::Virtual(Some(server)) => server.resolve_extra_tool(extras, name),
            Self::Virtual(None) => None,
        }
    }

    /// Where a call of the tool `name` goes: its server and upstream name.
    fn resolve_tool<'a>(&'a self, names: &'a Namespace, name: &str) -> Option<(&'a str, &'a str)> {
        match self {
            Self::All => names
                .resolve(name)
                .map(|o| (o.server.as_str(), o.upstream.as_str())),
            Self::Virtual(Some(server)) => server.resolve_tool(names, name),
            Self::Virtual(None) => None,
        }
    }

    fn prompt(&self, server: &str, prompt: &str) -> bool {
        match self {
            Self::All => true,
            Self::Virtual(selection) => selection
                .as_ref()
                .is_some_and(|s| s.selects_prompt(server, prompt)),
        }
    }

    /// Whether the resource or template `name` of `server` is served here.
    fn resource(&self, server: &str, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Virtual(selection) => selection
                .as_ref()
                .is_some_and(|s| s.selects_resource(server, name)),
        }
    }
}

/// One MCP server over every registered upstream, or over one virtual server's selection of
/// them. Cheap to clone: rmcp makes one per session (and per request, in 2026-07-28); the
/// clones share the sessions told of list changes.
pub struct Face<G: Gate> {
    registry: Registry,
    gate: Arc<G>,
    validators: Arc<Validators>,
    sessions: Arc<Sessions>,
    scope: Scope,
}

impl<G: Gate> Clone for Face<G> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            gate: self.gate.clone(),
            validators: self.validators.clone(),
            sessions: self.sessions.clone(),
            scope: self.scope.clone(),
        }
    }
}

impl<G: Gate> Face<G> {
    /// A face serving everything the federation publishes.
    pub fn new(registry: Registry, gate: Arc<G>) -> Self {
        let feed = Feed::new(registry.changes(), None).with_extra_tools(gate.extra_tool_changes());
        let sessions = Arc::new(Sessions::new(feed));
        Self {
            registry,
            gate,
            validators: Arc::new(Validators::default()),
            sessions,
            scope: Scope::All,
        }
    }

    /// The same face serving `scope` instead, with sessions of its own (compiled input
    /// schemas stay shared).
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self.sessions = Arc::new(Sessions::new(self.feed()));
        self
    }

    /// The list changes this face's clients are told of.
    fn feed(&self) -> Feed {
        let own = match &self.scope {
            Scope::All => None,
            Scope::Virtual { name, servers } => servers.changes(name),
        };
        Feed::new(self.registry.changes(), own).with_extra_tools(self.gate.extra_tool_changes())
    }

    fn view(&self) -> View {
        match &self.scope {
            Scope::All => View::All,
            Scope::Virtual { name, servers } => View::Virtual(servers.get(name)),
        }
    }

    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<G::Caller, ErrorData> {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| self.gate.caller(parts))
            .ok_or_else(|| {
                ErrorData::new(UNAUTHENTICATED, "the request is not authenticated", None)
            })
    }
}

impl<G: Gate> ServerHandler for Face<G> {
    fn get_info(&self) -> ServerConfig {
        let mut server_info = Implementation::new("agenthub", env!("CARGO_PKG_VERSION"));
        let mut instructions = None;
        if let View::Virtual(Some(server)) = self.view() {
            let config = server.config();
            server_info = server_info.with_title(config.name.clone());
            if let Some(description) = &config.description {
                server_info = server_info.with_description(description.clone());
            }
            instructions = Some(config.instructions.clone().unwrap_or_else(|| {
                format!(
                    "agenthub virtual server {}: a selection of the tools, prompts and \
                     resources of the MCP servers registered with this hub, those you may use; \
                     resources are named hub://<server>/<the server's URI>.",
                    config.name
                )
            }));
        }
        let mut config = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_resources()
                .enable_resources_list_changed()
                .build(),
        )
        .with_server_info(server_info)
        .with_instructions(instructions.unwrap_or_else(|| {
            "agenthub: the tools, prompts and resources of every MCP server registered with \
             this hub that you may use; tools and prompts are named <server>__<name>, resources \
             hub://<server>/<the server's URI>."
                .to_owned()
        }));
        // Hubs registered with this one learn which hub it is, to keep lists and calls from
        // looping back (see `crate::hops`).
        let mut meta = JsonObject::new();
        meta.insert(
            hops::HUB_ID_META.to_owned(),
            Value::String(self.registry.hub_id().to_string()),
        );
        config.meta = Some(MetaObject(meta));
        config
    }

    /// A 2025-11-25 session is ready: it is told of list changes from now on.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.sessions.join(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(changes::offered())
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        self.caller(subscription.request_context())?;
        changes::listen(self.feed(), subscription).await
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context)?;
        let via = hop_chain(&context)?;
        let federation = self.registry.federation();
        let extras = self.gate.extra_tools();
        let view = self.view();
        // As `listing` does, with the gate's extra tools after the federation's.
        let federated = federation
            .tools()
            .iter()
            .filter(|t| {
                !on_chain(&federation, &via, &t.server)
                    && view.tool_name(t).is_some()
                    && self.gate.may_list_tool(&caller, &t.server, &t.tool.name)
            })
            .map(|t| {
                let mut tool = t.tool.clone();
                tool.name = Cow::Owned(view.tool_name(t).unwrap_or(&t.name).to_owned());
                tool
            });
        let extra = extras
            .iter()
            .filter(|t| {
                usable(&federation, t)
                    && view.extra_tool_name(t).is_some()
                    && self.gate.may_list_tool(&caller, &t.server, &t.name)
                    && self.gate.may_list_extra_tool(&caller, t)
            })
            .map(|t| {
                let mut tool = t.tool.clone();
                tool.name = Cow::Owned(view.extra_tool_name(t).unwrap_or(&t.tool.name).to_owned());
                tool
            });
        let (items, next) = page(
            List::Tools,
            federated.chain(extra),
            request,
            self.registry.page_size(),
        )?;
        let mut result = ListToolsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context)?;
        let federation = self.registry.federation();
        let view = self.view();
        let federated = view
            .resolve_tool(federation.tool_names(), &request.name)
            .and_then(|(server, upstream)| {
                let tool = federation
                    .catalog(server)?
                    .tools
                    .iter()
                    .find(|t| t.name == upstream)?;
                Some((server, tool))
            });
        let Some((server, tool)) = federated else {
            let extras = self.gate.extra_tools();
            let extra = view
                .resolve_extra_tool(&extras, &request.name)
                .filter(|t| usable(&federation, t))
                .ok_or_else(|| unknown_tool(&request.name))?;
            return self.extra_call(&caller, extra, request, &context).await;
        };
        let chain = self.onward_chain(&context, &federation, server)?;
        let call = ToolCall {
            server,
            tool: tool.name.as_ref(),
        };
        let mut record = Record::start(self.gate.as_ref(), &caller, call, &request, &context);
        match self
            .governed_call(&caller, call, tool, request, &context, chain.as_deref())
            .await
        {
            Ok((result, outcome)) => {
                record.finish(outcome, Some(&result));
                Ok(CallToolResponse::Complete(result))
            }
            Err(failed) => {
                record.finish(failed.outcome, None);
                Err(failed.error)
            }
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.prompts_page(request, &context).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.prompt(request, &context)
            .await
            .map(GetPromptResponse::Complete)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.resources_page(request, &context).await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.templates_page(request, &context).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.resource(request, &context)
            .await
            .map(ReadResourceResponse::Complete)
    }
}

impl<G: Gate> Face<G> {
    /// A call of a known tool: authorized, its arguments checked, admitted and inspected by
    /// the gate, forwarded within the server's timeout, its result inspected; how it ended.
    async fn governed_call(
        &self,
        caller: &G::Caller,
        call: ToolCall<'_>,
        tool: &Tool,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        chain: Option<&str>,
    ) -> Result<(CallToolResult, Outcome), Failed> {
        let CallToolRequestParams {
            name, arguments, ..
        } = request;
        if !self.gate.may_call_tool(caller, call.server, call.tool) {
            return Err(Failed::new(Outcome::RefusedByPolicy, unknown_tool(&name)));
        }
        let given = arguments.is_some();
        let mut arguments = arguments.unwrap_or_default();
        self.check_arguments(call.server, tool, &name, &mut arguments)?;
        let connection = self.connection_for(caller, call.server).await?;
        let ticket = self
            .gate
            .before_call(caller, call, &mut arguments)
            .await
            .map_err(|refusal| refused(&name, refusal))?;
        let mut upstream = CallToolRequestParams::new(call.tool.to_owned());
        upstream.arguments = (given || !arguments.is_empty()).then_some(arguments);
        upstream.meta = hop_meta(&connection, chain);
        let mut result: CallToolResult = match forwarded(&connection, context, upstream).await {
            Ok(result) => result,
            Err(failed) => {
                // Settles the ticket; there is no result to inspect.
                let _ = self.gate.after_call(caller, call, ticket, None).await;
                return Err(self.grant_lost(caller, call.server, failed).await);
            }
        };
        // A built-in server meets the lost grant inside the tool, as a tool error: the caller
        // is asked for consent again, as over HTTP.
        if result.is_error == Some(true) && self.lacks_grant(caller, call.server) {
            let _ = self.gate.after_call(caller, call, ticket, None).await;
            return Err(self.consent_required(caller, call.server).await);
        }
        // A 2025-11-25 upstream sends none; 2026-07-28 clients require it (and older ones
        // ignore it).
        result.result_type.get_or_insert(ResultType::COMPLETE);
        for block in &mut result.content {
            uris::publish_in_block(call.server, block);
        }
        if let Err(reason) = self
            .gate
            .after_call(caller, call, ticket, Some(&mut result))
            .await
        {
            let blocked = CallToolResult::error(vec![ContentBlock::text(format!(
                "the result of {name} was blocked by a guardrail: {reason}"
            ))]);
            return Ok((blocked, Outcome::RefusedByGuardrail));
        }
        let outcome = if result.is_error == Some(true) {
            Outcome::ToolError
        } else {
            Outcome::Ok
        };
        Ok((result, outcome))
    }

    /// Checks `arguments` against the input schema of `tool` (of `server`, called as `name`).
    fn check_arguments(
        &self,
        server: &str,
        tool: &Tool,
        name: &str,
        arguments: &mut JsonObject,
    ) -> Result<(), Failed> {
        // Checked as a JSON value without copying the arguments: moved in and back out.
        let document = Value::Object(std::mem::take(arguments));
        let checked = self.validators.check(server, tool, &document);
        if let Value::Object(map) = document {
            *arguments = map;
        }
        checked.map_err(|problems| {
            Failed::new(
                Outcome::InvalidArguments,
                ErrorData::invalid_params(
                    format!("invalid arguments for {name}: {problems}"),
                    None,
                ),
            )
        })
    }

    /// A call of an extra tool: refused as a loop if the request already passed through this
    /// hub, authorized, its arguments checked, answered by the gate (which governs it) unless
    /// the client cancels first; recorded like any call.
    async fn extra_call(
        &self,
        caller: &G::Caller,
        tool: &ExtraTool,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let via = hop_chain(context)?;
        let own = self.registry.hub_id();
        if via.contains(&own.as_ref()) {
            return Err(loop_detected(&via, own));
        }
        let call = ToolCall {
            server: &tool.server,
            tool: &tool.name,
        };
        let mut record = Record::start(self.gate.as_ref(), caller, call, &request, context);
        match self
            .answered_extra_call(caller, tool, request, context)
            .await
        {
            Ok((result, outcome)) => {
                record.finish(outcome, Some(&result));
                Ok(CallToolResponse::Complete(result))
            }
            Err(failed) => {
                record.finish(failed.outcome, None);
                Err(failed.error)
            }
        }
    }

    async fn answered_extra_call(
        &self,
        caller: &G::Caller,
        tool: &ExtraTool,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<(CallToolResult, Outcome), Failed> {
        let CallToolRequestParams {
            name,
            arguments,
            meta,
            ..
        } = request;
        if !(self.gate.may_call_tool(caller, &tool.server, &tool.name)
            && self.gate.may_call_extra_tool(caller, tool))
        {
            return Err(Failed::new(Outcome::RefusedByPolicy, unknown_tool(&name)));
        }
        let mut arguments = arguments.unwrap_or_default();
        self.check_arguments(&tool.server, &tool.tool, &name, &mut arguments)?;
        // rmcp hands the request's `_meta` over in the context, not in the params.
        let meta = meta.or_else(|| (!context.meta.0.0.is_empty()).then(|| context.meta.clone()));
        let answered = tokio::select! {
            answered = self.gate.call_extra_tool(caller, tool, arguments, meta) => answered,
            () = context.ct.cancelled() => return Err(cancelled()),
        };
        match answered {
            Ok((mut result, outcome)) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok((result, outcome))
            }
            Err(CallFailure { outcome, error }) => Err(Failed::new(outcome, error)),
        }
    }

    /// Where the prompt `name` goes, if it is served here and the caller may get it. Unknown,
    /// unselected and forbidden look alike: a caller learns nothing of what it may not use.
    fn callable_prompt<'n>(
        &self,
        caller: &G::Caller,
        view: &View,
        names: &'n Namespace,
        name: &str,
        unknown: impl Fn() -> ErrorData,
    ) -> Result<&'n Origin, ErrorData> {
        names
            .resolve(name)
            .filter(|origin| {
                view.prompt(&origin.server, &origin.upstream)
                    && self
                        .gate
                        .may_call_tool(caller, &origin.server, &origin.upstream)
            })
            .ok_or_else(unknown)
    }

    /// The connection a request of `caller` to `server` goes over: the server's shared one,
    /// or — for a server that acts for each user — the caller's own, never anyone else's. A
    /// caller without a grant is answered with the link to grant one.
    async fn connection_for(
        &self,
        caller: &G::Caller,
        server: &str,
    ) -> Result<Arc<Connection>, Failed> {
        if !self.registry.acts_per_user(server) {
            return self
                .connection(server)
                .map_err(|error| Failed::new(Outcome::UpstreamFailed, error));
        }
        let Some(principal) = self.gate.principal(caller) else {
            return Err(Failed::new(
                Outcome::UpstreamFailed,
                ErrorData::new(
                    UPSTREAM_FAILED,
                    format!(
                        "the MCP server {server} acts for each hub user or service account with \
                         their own OAuth grant, and these credentials are neither"
                    ),
                    None,
                ),
            ));
        };
        match self.registry.user_connection(server, principal).await {
            Ok(connection) => Ok(connection),
            Err(UpstreamError::NeedsConsent) => Err(self.consent_required(caller, server).await),
            Err(error) => Err(Failed::new(
                Outcome::UpstreamFailed,
                upstream_error(server, &error),
            )),
        }
    }

    /// `failed` as answered: a request that failed because the caller's grant was refused on
    /// the way (at a token refresh) asks for their consent again.
    async fn grant_lost(&self, caller: &G::Caller, server: &str, failed: Failed) -> Failed {
        if failed.outcome == Outcome::UpstreamFailed && self.lacks_grant(caller, server) {
            self.consent_required(caller, server).await
        } else {
            failed
        }
    }

    /// Whether the caller's grant for `server` was refused on the way (at a token refresh).
    fn lacks_grant(&self, caller: &G::Caller, server: &str) -> bool {
        self.gate
            .principal(caller)
            .is_some_and(|principal| self.registry.lacks_grant(server, principal))
    }

    /// The answer to a caller who must grant `server` access first.
    async fn consent_required(&self, caller: &G::Caller, server: &str) -> Failed {
        match self.gate.consent_link(caller, server).await {
            Ok(url) => Failed::new(Outcome::ConsentRequired, consent_error(server, &url)),
            Err(why) => Failed::new(
                Outcome::ConsentRequired,
                ErrorData::new(
                    UPSTREAM_FAILED,
                    format!(
                        "the MCP server {server} needs your consent to act for you, and no link \
                         to grant it can be made now: {why}"
                    ),
                    None,
                ),
            ),
        }
    }

    /// The hop chain a request to `server` goes on with (`None`: the request came with none,
    /// and the connection's own header says it all); a loop when the request already passed
    /// through this hub, or through the hub `server` is.
    fn onward_chain(
        &self,
        context: &RequestContext<RoleServer>,
        federation: &Federation,
        server: &str,
    ) -> Result<Option<String>, ErrorData> {
        let via = hop_chain(context)?;
        if via.is_empty() {
            return Ok(None);
        }
        let own = self.registry.hub_id();
        if via.contains(&own.as_ref()) {
            return Err(loop_detected(&via, own));
        }
        if let Some(hub) = upstream_hub(federation, server)
            && via.contains(&hub)
        {
            return Err(loop_detected(&via, hub));
        }
        Ok(Some(hops::extend(&via, own)))
    }

    /// The live connection to `server`, or the error that says it is not available.
    fn connection(&self, server: &str) -> Result<Arc<Connection>, ErrorData> {
        self.registry.connection(server).ok_or_else(|| {
            ErrorData::new(
                UPSTREAM_FAILED,
                format!("the MCP server {server} is not available now"),
                None,
            )
        })
    }

    async fn prompts_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let federation = self.registry.federation();
        let view = self.view();
        let (items, next) = self.listing(
            context,
            request,
            List::Prompts,
            &federation,
            federation.prompts(),
            |p| (&p.server, &p.prompt.name),
            |p| view.prompt(&p.server, &p.prompt.name),
            |p| {
                let mut prompt = p.prompt.clone();
                prompt.name.clone_from(&p.name);
                prompt
            },
        )?;
        let mut result = ListPromptsResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn prompt(
        &self,
        request: GetPromptRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<GetPromptResult, ErrorData> {
        let caller = self.caller(context)?;
        let federation = self.registry.federation();
        let unknown =
            || ErrorData::invalid_params(format!("unknown prompt: {}", request.name), None);
        let origin = self.callable_prompt(
            &caller,
            &self.view(),
            federation.prompt_names(),
            &request.name,
            unknown,
        )?;
        let chain = self.onward_chain(context, &federation, &origin.server)?;
        let connection = self.connection_for(&caller, &origin.server).await?;
        let mut upstream = GetPromptRequestParams::new(origin.upstream.clone());
        upstream.arguments = request.arguments;
        upstream.meta = hop_meta(&connection, chain.as_deref());
        let result = forwarded(&connection, context, upstream).await;
        let mut result = match result {
            Ok(result) => result,
            Err(failed) => {
                return Err(self
                    .grant_lost(&caller, &origin.server, failed)
                    .await
                    .into());
            }
        };
        result.result_type.get_or_insert(ResultType::COMPLETE);
        for message in &mut result.messages {
            uris::publish_in_block(&origin.server, &mut message.content);
        }
        Ok(result)
    }

    /// One page of a federated list as this caller sees it through this face: items from a
    /// server on the request's hop chain, outside the face's selection (checked first: it is
    /// the cheaper test) or not listable by the caller are left out; `show` makes the rest.
    #[allow(clippy::too_many_arguments)]
    fn listing<P, T>(
        &self,
        context: &RequestContext<RoleServer>,
        request: Option<PaginatedRequestParams>,
        list: List,
        federation: &Federation,
        items: &[P],
        key: impl Fn(&P) -> (&str, &str),
        selected: impl Fn(&P) -> bool,
        show: impl Fn(&P) -> T,
    ) -> Result<(Vec<T>, Option<rmcp::model::Cursor>), ErrorData> {
        let caller = self.caller(context)?;
        let via = hop_chain(context)?;
        let visible = items
            .iter()
            .filter(|item| {
                let (server, name) = key(item);
                !on_chain(federation, &via, server)
                    && selected(item)
                    && self.gate.may_list_tool(&caller, server, name)
            })
            .map(show);
        page(list, visible, request, self.registry.page_size())
    }

    async fn resources_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let federation = self.registry.federation();
        let view = self.view();
        let (items, next) = self.listing(
            context,
            request,
            List::Resources,
            &federation,
            federation.resources(),
            |r| (&r.server, &r.resource.name),
            |r| view.resource(&r.server, &r.resource.name),
            |r| {
                let mut resource = r.resource.clone();
                resource.uri.clone_from(&r.uri);
                resource
            },
        )?;
        let mut result = ListResourcesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn templates_page(
        &self,
        request: Option<PaginatedRequestParams>,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let federation = self.registry.federation();
        let view = self.view();
        let (items, next) = self.listing(
            context,
            request,
            List::ResourceTemplates,
            &federation,
            federation.resource_templates(),
            |t| (&t.server, &t.template.name),
            |t| view.resource(&t.server, &t.template.name),
            |t| {
                let mut template = t.template.clone();
                template.uri_template.clone_from(&t.uri_template);
                template
            },
        )?;
        let mut result = ListResourceTemplatesResult::with_all_items(items);
        result.next_cursor = next;
        Ok(result)
    }

    async fn resource(
        &self,
        request: ReadResourceRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<ReadResourceResult, ErrorData> {
        let caller = self.caller(context)?;
        let federation = self.registry.federation();
        // Unknown, unselected and forbidden look alike, as for tools.
        let view = self.view();
        let origin = federation
            .resource_origin(&request.uri)
            .filter(|o| {
                view.resource(&o.server, &o.name)
                    && self.gate.may_call_tool(&caller, &o.server, &o.name)
            })
            .ok_or_else(|| {
                ErrorData::invalid_params(format!("unknown resource: {}", request.uri), None)
            })?;
        let chain = self.onward_chain(context, &federation, &origin.server)?;
        let connection = self.connection_for(&caller, &origin.server).await?;
        let mut upstream = ReadResourceRequestParams::new(origin.upstream);
        upstream.meta = hop_meta(&connection, chain.as_deref());
        let result = forwarded(&connection, context, upstream).await;
        let mut result = match result {
            Ok(result) => result,
            Err(failed) => {
                return Err(self
                    .grant_lost(&caller, &origin.server, failed)
                    .await
                    .into());
            }
        };
        result.result_type.get_or_insert(ResultType::COMPLETE);
        // Whoever reads through the hub was authorized as themselves: no one may share the
        // answer with others, whatever the upstream allowed.
        result.cache_scope = Some(CacheScope::Private);
        for contents in &mut result.contents {
            uris::publish_in_contents(&origin.server, contents);
        }
        Ok(result)
    }
}

/// The hubs the request passed through, from its hop header; empty (and nothing allocated)
/// without one. A malformed header, or one naming too many hubs, is refused.
fn hop_chain(context: &RequestContext<RoleServer>) -> Result<Vec<&str>, ErrorData> {
    let Some(header) = context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(hops::HEADER))
    else {
        return Ok(Vec::new());
    };
    hops::parse(header).map_err(|error| {
        let code = match error {
            hops::HopError::TooMany(_) => LOOP_DETECTED,
            _ => ErrorCode::INVALID_REQUEST,
        };
        ErrorData::new(code, format!("x-agenthub-via: {error}"), None)
    })
}

/// The error for a request that already passed through `hub`.
fn loop_detected(via: &[&str], hub: &str) -> ErrorData {
    ErrorData::new(
        LOOP_DETECTED,
        format!(
            "loop detected: this request already passed through hub {hub} (via {})",
            via.join(", ")
        ),
        None,
    )
}

/// Whether the extra tool `tool` may be published: its name is not the federation's, which
/// comes first.
fn usable(federation: &Federation, tool: &ExtraTool) -> bool {
    federation.tool_names().resolve(&tool.tool.name).is_none()
}

/// The hub `server` is, if it is one.
fn upstream_hub<'f>(federation: &'f Federation, server: &str) -> Option<&'f str> {
    federation.catalog(server)?.hub_id.as_deref()
}

/// Whether `server` is a hub the request passed through: its items are left out of lists, so
/// that hubs registered with each other do not publish each other's tools back.
fn on_chain(federation: &Federation, via: &[&str], server: &str) -> bool {
    !via.is_empty() && upstream_hub(federation, server).is_some_and(|hub| via.contains(&hub))
}

/// The `_meta` that carries `chain` to the connection's HTTP client (see [`hops`]); none for
/// a request without a chain, or a server that is not reached over streamable HTTP.
fn hop_meta(connection: &Connection, chain: Option<&str>) -> Option<RequestMetaObject> {
    let chain = chain.filter(|_| connection.carries_hops())?;
    let mut meta = JsonObject::new();
    meta.insert(hops::META_KEY.to_owned(), Value::String(chain.to_owned()));
    Some(RequestMetaObject(MetaObject(meta)))
}

/// The lists the face pages through. A cursor names its list, so that one list's cursor is
/// refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Tools,
    Prompts,
    Resources,
    ResourceTemplates,
}

impl List {
    fn tag(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Prompts => "prompts",
            Self::Resources => "resources",
            Self::ResourceTemplates => "resource_templates",
        }
    }
}

/// One page of `items` from the request's cursor, and the cursor of the next page.
fn page<T>(
    list: List,
    items: impl Iterator<Item = T>,
    request: Option<PaginatedRequestParams>,
    size: usize,
) -> Result<(Vec<T>, Option<rmcp::model::Cursor>), ErrorData> {
    let start = match request.and_then(|r| r.cursor) {
        Some(cursor) => decode_cursor(list, &cursor)?,
        None => 0,
    };
    let mut items: Vec<T> = items.skip(start).take(size + 1).collect();
    let next = (items.len() > size).then(|| encode_cursor(list, start + size));
    items.truncate(size);
    Ok((items, next))
}

/// A request that failed: how (for the call's record) and what the caller is told.
struct Failed {
    outcome: Outcome,
    error: ErrorData,
}

impl Failed {
    fn new(outcome: Outcome, error: ErrorData) -> Self {
        Self { outcome, error }
    }
}

impl From<Failed> for ErrorData {
    fn from(failed: Failed) -> Self {
        failed.error
    }
}

/// Unknown and forbidden tools look alike: a caller learns nothing of what it may not use.
fn unknown_tool(name: &str) -> ErrorData {
    ErrorData::invalid_params(format!("unknown tool: {name}"), None)
}

/// The caller's answer to a call the gate refused.
fn refused(name: &str, refusal: Refusal) -> Failed {
    match refusal {
        Refusal::Limited { message, data } => Failed::new(
            Outcome::RefusedByLimit,
            ErrorData::new(LIMITED, message, Some(data)),
        ),
        Refusal::Blocked { reason } => Failed::new(
            Outcome::RefusedByGuardrail,
            ErrorData::new(
                BLOCKED,
                format!("the arguments of {name} were blocked by a guardrail: {reason}"),
                None,
            ),
        ),
    }
}

/// Forwards a request to `connection`'s server for the client of `context` (see
/// [`relay::forward`]); the server's own JSON-RPC errors pass through, other failures name the
/// server.
async fn forwarded<F: Forward>(
    connection: &Connection,
    context: &RequestContext<RoleServer>,
    request: F,
) -> Result<F::Answer, Failed> {
    relay::forward(connection, context, request)
        .await
        .map_err(|interrupted| match interrupted {
            Interrupted::Cancelled => cancelled(),
            Interrupted::Timeout(limit) => Failed::new(
                Outcome::Timeout,
                upstream_error(connection.name(), &UpstreamError::Timeout(limit)),
            ),
            Interrupted::Failed(rmcp::ServiceError::McpError(error)) => {
                Failed::new(Outcome::ToolError, error)
            }
            Interrupted::Failed(error) => Failed::new(
                Outcome::UpstreamFailed,
                upstream_error(connection.name(), &UpstreamError::from(error)),
            ),
        })
}

/// A request its client cancelled. rmcp sends no answer to it; this one is for the record.
fn cancelled() -> Failed {
    Failed::new(
        Outcome::Cancelled,
        ErrorData::new(
            ErrorCode::INVALID_REQUEST,
            "the request was cancelled by its client",
            None,
        ),
    )
}

/// MCP's URL elicitation error (2025-11-25) for consent to `server` at `url`: `data` holds the
/// link as `authorization_url`, and as the `elicitations` that clients of that revision read.
fn consent_error(server: &str, url: &str) -> ErrorData {
    let mut id = [0u8; 16];
    // Names this request for the link; not a credential (the link's ticket is).
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    ErrorData::new(
        CONSENT_REQUIRED,
        format!(
            "the MCP server {server} acts for each user with their own consent, and you have not \
             granted it access: open {url} to grant it, then call again"
        ),
        Some(serde_json::json!({
            "authorization_url": url,
            "server": server,
            "elicitations": [{
                "mode": "url",
                "elicitationId": id,
                "url": url,
                "message": format!("Grant agenthub access to {server} on your behalf"),
            }],
        })),
    )
}

fn upstream_error(server: &str, error: &UpstreamError) -> ErrorData {
    ErrorData::new(
        UPSTREAM_FAILED,
        format!("the MCP server {server} failed: {error}"),
        None,
    )
}

/// Reports one call to the gate exactly once: when it ends, or, if the caller goes away
/// first (the call's future is dropped), as cancelled.
struct Record<'a, G: Gate> {
    gate: &'a G,
    caller: &'a G::Caller,
    call: ToolCall<'a>,
    started: Instant,
    request_bytes: u64,
    /// The request's `_meta.traceparent`.
    traceparent: Option<String>,
    /// Whether the gate keeps bodies, and the arguments as received if so.
    keeps_bodies: bool,
    arguments: Option<bytes::Bytes>,
    reported: bool,
}

impl<'a, G: Gate> Record<'a, G> {
    fn start(
        gate: &'a G,
        caller: &'a G::Caller,
        call: ToolCall<'a>,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Self {
        let traceparent = request
            .meta
            .as_ref()
            .and_then(|meta| meta.get_traceparent())
            .or_else(|| context.meta.get_traceparent())
            .map(str::to_owned);
        let keeps_bodies = gate.keeps_bodies();
        let arguments = request
            .arguments
            .as_ref()
            .filter(|_| keeps_bodies)
            .map(serialized);
        Self {
            gate,
            caller,
            call,
            started: Instant::now(),
            request_bytes: match &arguments {
                Some(bytes) => bytes.len() as u64,
                None => request.arguments.as_ref().map_or(0, json_size),
            },
            traceparent,
            keeps_bodies,
            arguments,
            reported: false,
        }
    }

    /// Reports the call, with its result unless it failed.
    fn finish(&mut self, outcome: Outcome, result: Option<&CallToolResult>) {
        self.reported = true;
        let kept = result.filter(|_| self.keeps_bodies).map(serialized);
        let response_bytes = match (&kept, result) {
            (Some(bytes), _) => bytes.len() as u64,
            (None, Some(result)) => json_size(result),
            (None, None) => 0,
        };
        self.gate.record(
            self.caller,
            &CallReport {
                call: self.call,
                outcome,
                latency: self.started.elapsed(),
                request_bytes: self.request_bytes,
                response_bytes,
                traceparent: self.traceparent.as_deref(),
                arguments: self.arguments.take(),
                result: kept,
            },
        );
    }
}

/// `value` as compact JSON (a value that cannot be serialized would not have been sent).
fn serialized(value: &impl serde::Serialize) -> bytes::Bytes {
    serde_json::to_vec(value).unwrap_or_default().into()
}

impl<G: Gate> Drop for Record<'_, G> {
    fn drop(&mut self) {
        if !self.reported {
            self.finish(Outcome::Cancelled, None);
        }
    }
}

fn encode_cursor(list: List, offset: usize) -> rmcp::model::Cursor {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{offset}", list.tag()))
}

fn decode_cursor(list: List, cursor: &str) -> Result<usize, ErrorData> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.strip_prefix(list.tag())?
                .strip_prefix(':')?
                .parse()
                .ok()
        })
        .ok_or_else(|| ErrorData::invalid_params("invalid cursor", None))
}

/// A tool's input schema as the server gave it, and its compiled form.
type Compiled = (
    Arc<serde_json::Map<String, Value>>,
    Arc<jsonschema::Validator>,
);

/// Compiled input schemas, by server and tool, kept while the schema stays the same.
#[derive(Default)]
struct Validators {
    compiled: Mutex<HashMap<(String, String), Compiled>>,
}

impl Validators {
    /// Checks `arguments` against the tool's input schema; the problems, joined, if any.
    fn check(&self, server: &str, tool: &Tool, arguments: &Value) -> Result<(), String> {
        let validator = self.validator(server, tool)?;
        let problems: Vec<String> = validator
            .iter_errors(arguments)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    fn validator(&self, server: &str, tool: &Tool) -> Result<Arc<jsonschema::Validator>, String> {
        let key = (server.to_owned(), tool.name.to_string());
        let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((schema, validator)) = compiled.get(&key)
            && Arc::ptr_eq(schema, &tool.input_schema)
        {
            return Ok(validator.clone());
        }
        let schema = Value::Object(tool.input_schema.as_ref().clone());
        let validator =
            Arc::new(jsonschema::validator_for(&schema).map_err(|e| {
                format!("the server's input schema for this tool cannot be used: {e}")
            })?);
        compiled.insert(key, (tool.input_schema.clone(), validator.clone()));
        Ok(validator)
    }
}

#[cfg(test)]
mod tests {
    /// A page size, as `mcp.page_size` sets it.
    const PAGE_SIZE: usize = 200;

    use super::*;

    const LISTS: [List; 4] = [
        List::Tools,
        List::Prompts,
        List::Resources,
        List::ResourceTemplates,
    ];

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        for list in LISTS {
            assert_eq!(decode_cursor(list, &encode_cursor(list, 400)).unwrap(), 400);
        }
        // "", not base64, "tools:x", "other:1", "tools1", "resources_x:1"
        for bad in [
            "",
            "!!",
            "dG9vbHM6eA",
            "b3RoZXI6MQ",
            "dG9vbHMx",
            "cmVzb3VyY2VzX3g6MQ",
        ] {
            for list in LISTS {
                let error = decode_cursor(list, bad).unwrap_err();
                assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{bad}");
            }
        }
    }

    #[test]
    fn one_lists_cursor_is_refused_by_another() {
        for from in LISTS {
            let cursor = encode_cursor(from, PAGE_SIZE);
            for to in LISTS.into_iter().filter(|to| *to != from) {
                assert!(
                    decode_cursor(to, &cursor).is_err(),
                    "a {} cursor was taken for {}",
                    from.tag(),
                    to.tag()
                );
            }
        }
    }

    #[test]
    fn pages_end_with_a_cursor_to_the_next_one() {
        let items = 0..PAGE_SIZE + 5;
        let (first, next) = page(List::Resources, items.clone(), None, PAGE_SIZE).unwrap();
        assert_eq!(first.len(), PAGE_SIZE);
        let request = PaginatedRequestParams::default().with_cursor(next);
        let (second, next) =
            page(List::Resources, items.clone(), Some(request), PAGE_SIZE).unwrap();
        assert_eq!(second, (PAGE_SIZE..PAGE_SIZE + 5).collect::<Vec<_>>());
        assert_eq!(next, None);
    }
}
