//! A client's request forwarded over an upstream connection on its behalf: bounded by the
//! server's request timeout, given up as soon as the client cancels it, the server then told
//! to stop; and, when the client asked for progress, the server's progress relayed to it under
//! the client's own token.
//!
//! rmcp cancels a handler's `RequestContext::ct` when a 2025-11-25 client sends
//! `notifications/cancelled` for the request, and when a 2026-07-28 client's HTTP request goes
//! away. Upstream, the request is stopped with `notifications/cancelled` for its id, which
//! rmcp's client turns into closing the request's stream for a 2026-07-28 server.
//!
//! Upstream, a request carries a progress token of the connection's own (see
//! [`crate::progress`]); clients' tokens never leave the hub. A request whose client sent no
//! `progressToken` takes rmcp's plain path: no route, no channel, no task.

use std::time::Duration;

use rmcp::ServiceError;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, GetPromptRequest, GetPromptRequestParams, GetPromptResult, ProgressToken,
    ReadResourceRequest, ReadResourceRequestParams, ReadResourceResult, RequestId, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RequestContext, RoleClient, RoleServer};

use crate::progress::Progress;
use crate::upstream::Connection;

/// Why a forwarded request has no answer.
#[derive(Debug)]
pub enum Interrupted {
    /// The client cancelled it, or went away.
    Cancelled,
    /// The server did not answer within this long.
    Timeout(Duration),
    /// The server answered with an error, or the connection failed.
    Failed(ServiceError),
}

/// A request the face forwards: sent plainly with rmcp's typed method (which tells the server
/// when it is dropped), or as a raw request whose handle names its id and progress token.
pub trait Forward: Sized + Send {
    type Answer: Send;

    fn plain(
        self,
        peer: &Peer<RoleClient>,
    ) -> impl Future<Output = Result<Self::Answer, ServiceError>> + Send;

    fn into_request(self) -> ClientRequest;

    /// The answer in a raw result, if it is of the right kind.
    fn answer(result: ServerResult) -> Option<Self::Answer>;
}

impl Forward for CallToolRequestParams {
    type Answer = CallToolResult;

    fn plain(
        self,
        peer: &Peer<RoleClient>,
    ) -> impl Future<Output = Result<CallToolResult, ServiceError>> + Send {
        peer.call_tool(self)
    }

    fn into_request(self) -> ClientRequest {
        ClientRequest::CallToolRequest(CallToolRequest::new(self))
    }

    fn answer(result: ServerResult) -> Option<CallToolResult> {
        match result {
            ServerResult::CallToolResult(result) => Some(result),
            _ => None,
        }
    }
}

impl Forward for GetPromptRequestParams {
    type Answer = GetPromptResult;

    fn plain(
        self,
        peer: &Peer<RoleClient>,
    ) -> impl Future<Output = Result<GetPromptResult, ServiceError>> + Send {
        peer.get_prompt(self)
    }

    fn into_request(self) -> ClientRequest {
        ClientRequest::GetPromptRequest(GetPromptRequest::new(self))
    }

    fn answer(result: ServerResult) -> Option<GetPromptResult> {
        match result {
            ServerResult::GetPromptResult(result) => Some(result),
            _ => None,
        }
    }
}

impl Forward for ReadResourceRequestParams {
    type Answer = ReadResourceResult;

    fn plain(
        self,
        peer: &Peer<RoleClient>,
    ) -> impl Future<Output = Result<ReadResourceResult, ServiceError>> + Send {
        peer.read_resource(self)
    }

    fn into_request(self) -> ClientRequest {
        ClientRequest::ReadResourceRequest(ReadResourceRequest::new(self))
    }

    fn answer(result: ServerResult) -> Option<ReadResourceResult> {
        match result {
            ServerResult::ReadResourceResult(result) => Some(result),
            _ => None,
        }
    }
}

/// Sends `request` to `connection`'s server for the client of `context`, and waits for the
/// answer within the server's request timeout, unless the client cancels first.
pub async fn forward<F: Forward>(
    connection: &Connection,
    context: &RequestContext<RoleServer>,
    request: F,
) -> Result<F::Answer, Interrupted> {
    let limit = connection.request_timeout();
    let answer = async {
        match context.meta.get_progress_token() {
            None => request.plain(connection.peer()).await,
            Some(token) => with_progress(connection, request, &context.peer, token).await,
        }
    };
    // Whichever wins, the loser is dropped, and a dropped request tells the server to stop.
    tokio::select! {
        () = context.ct.cancelled() => Err(Interrupted::Cancelled),
        answer = tokio::time::timeout(limit, answer) => match answer {
            Err(_) => Err(Interrupted::Timeout(limit)),
            Ok(answer) => answer.map_err(Interrupted::Failed),
        },
    }
}

/// `request` sent with the connection's own progress token, the server's progress relayed to
/// `client` under `token` until the answer comes.
async fn with_progress<F: Forward>(
    connection: &Connection,
    request: F,
    client: &Peer<RoleServer>,
    token: ProgressToken,
) -> Result<F::Answer, ServiceError> {
    let upstream = connection.peer();
    let handle = upstream
        .send_request_with_option(request.into_request(), PeerRequestOptions::no_options())
        .await?;
    // Followed before this task yields: any progress needs a round trip to the server first.
    let mut feed = connection.follow_progress(handle.progress_token.clone());
    let mut stop = StopUpstream {
        peer: upstream.clone(),
        id: Some(handle.id.clone()),
    };
    let mut relay = Relay {
        client,
        token,
        last: None,
    };
    let answer = handle.await_response();
    tokio::pin!(answer);
    let result = loop {
        tokio::select! {
            // The connection hands progress over before it reads the answer that follows it:
            // relayed first, none is lost to the answer.
            biased;
            progress = feed.next() => relay.send(progress).await,
            result = &mut answer => break result,
        }
    };
    stop.id = None;
    result.and_then(|result| F::answer(result).ok_or(ServiceError::UnexpectedResponse))
}

/// Passes one request's progress on to its client.
struct Relay<'a> {
    client: &'a Peer<RoleServer>,
    token: ProgressToken,
    last: Option<f64>,
}

impl Relay<'_> {
    async fn send(&mut self, progress: Progress) {
        // MCP requires progress to increase; a server that goes back is not echoed.
        if self.last.is_some_and(|last| progress.progress <= last) {
            return;
        }
        self.last = Some(progress.progress);
        let mut relayed = Progress::new(self.token.clone(), progress.progress);
        relayed.total = progress.total;
        relayed.message = progress.message;
        // A client that cannot be told any more has gone away; its cancellation ends the call.
        let _ = self.client.notify_progress(relayed).await;
    }
}

/// Tells the server to stop a raw request the hub stopped waiting for, unless disarmed (its id
/// taken) once the answer came. rmcp's typed requests do this themselves.
struct StopUpstream {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for StopUpstream {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let peer = self.peer.clone();
        // Sent in the background: the caller is answered without waiting for the server.
        runtime.spawn(async move {
            let reason = "the hub's caller cancelled the request, or it timed out".to_owned();
            let _ = peer
                .notify_cancelled(CancelledNotificationParam::new(Some(id), Some(reason)))
                .await;
        });
    }
}
