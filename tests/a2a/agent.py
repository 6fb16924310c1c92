#!/usr/bin/env python3
"""A configurable A2A test agent on the official a2a-sdk (1.3.0), for agenthub's A2A tests.

    python tests/a2a/agent.py --port 0 --name echo [--v03] [--skill ID ...]
        [--jwks URL --audience agent:echo] [--hub URL --hub-token TOKEN [--direct]]
        [--record FILE] [--require-token T] [--rpc-path /] [--card-path P] [--sdk-card]

Prints `READY <port>` on stdout once listening (on 127.0.0.1 only). What it does is chosen by
the first word of the user's text (see README.md): echo, stream, slow, fail, ask, delegate;
anything else is echoed whole.

Without --v03 it is a v1.0 agent: card with supportedInterfaces JSONRPC (at --rpc-path) and
HTTP+JSON (the REST routes, at the root), v1.0 methods only. With --v03 it is a v0.3 agent:
a v0.3 card (protocolVersion 0.3.0, url, preferredTransport JSONRPC) and only the v0.3
JSON-RPC methods (message/send, tasks/get, ...); v1.0 names get -32601, as from an old agent.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from common import TERMINAL_STATES, describe_error, message_text, require_loopback, task_reply_text, to_dict

from a2a.client import ClientCallContext, ClientConfig, create_client
from a2a.client.errors import AgentCardResolutionError
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import (
    BasePushNotificationSender,
    InMemoryPushNotificationConfigStore,
    InMemoryTaskStore,
    TaskUpdater,
)
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Message,
    Part,
    Role,
    SendMessageRequest,
    Task,
    TaskState,
    TaskStatus,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from google.protobuf.json_format import ParseDict
from agenthub_a2a import (
    PARENT_KEY,
    SIGNATURE_KEY,
    JwksCache,
    NonceCache,
    SignatureError,
    message_to_dict,
    public_jwk,
    sign_message,
    verify_message,
)
from agenthub_a2a.a2a_sdk import ReceivedMessageContextBuilder, received_message

log = logging.getLogger("a2a-test-agent")

V03_METHODS = {
    "message/send",
    "message/stream",
    "tasks/get",
    "tasks/cancel",
    "tasks/resubscribe",
    "tasks/pushNotificationConfig/set",
    "tasks/pushNotificationConfig/get",
    "tasks/pushNotificationConfig/list",
    "tasks/pushNotificationConfig/delete",
    "agent/getAuthenticatedExtendedCard",
}
# Headers copied into --record lines (values), besides authorization (only whether it is there
# and a hash, so a test can tell which token came without the log holding it).
RECORDED_HEADERS = ("traceparent", "tracestate", "a2a-version", "a2a-extensions", "x-a2a-extensions",
                    "content-type", "accept", "user-agent", "x-forwarded-for")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True, help="0 picks a free port (printed in READY)")
    p.add_argument("--name", required=True)
    p.add_argument("--v03", action="store_true", help="be a v0.3 agent (card and JSON-RPC methods)")
    p.add_argument("--skill", action="append", default=[], metavar="ID", help="a skill id for the card (repeatable)")
    p.add_argument("--jwks", metavar="URL", help="require every message to carry an agenthub signature valid against this JWKS")
    p.add_argument("--audience", help="the audience signatures must name (default agent:<name>)")
    p.add_argument("--max-skew", type=float, default=300)
    p.add_argument("--hub", metavar="URL", help="delegate calls <hub>/a2a/<agent>")
    p.add_argument("--hub-token", metavar="TOKEN", help="bearer token for delegate calls")
    p.add_argument("--direct", action="store_true", help="delegate calls <hub> itself, not <hub>/a2a/<agent>")
    p.add_argument("--sign-key", metavar="PEM", help="sign delegated messages with this Ed25519/P-256 key "
                   "(its public JWKS is served at /.well-known/jwks.json)")
    p.add_argument("--sign-kid", help="kid for --sign-key (default: the RFC 7638 thumbprint)")
    p.add_argument("--record", metavar="FILE", help="append one JSON line per incoming HTTP request")
    p.add_argument("--require-token", metavar="T", help="answer 401 unless Authorization: Bearer T (the card stays public)")
    p.add_argument("--rpc-path", default="/", help="where JSON-RPC is served (default /)")
    p.add_argument("--card-path", default=AGENT_CARD_WELL_KNOWN_PATH,
                   help="where the card is served (e.g. /.well-known/agent.json, v0.3's old place)")
    p.add_argument("--sdk-card", action="store_true",
                   help="with --v03: serve the card exactly as a2a-sdk 1.3.0 renders it (v0.3 fields merged "
                        "into the v1.0 form, supportedInterfaces kept) instead of a pure v0.3 card")
    p.add_argument("--slow-limit", type=float, default=120, help="seconds `slow` stays working before failing by itself")
    p.add_argument("--delegate-timeout", type=float, default=20)
    p.add_argument("--max-lifetime", type=float, default=1800,
                   help="exit by itself after this many seconds, so a crashed test leaves nothing behind")
    p.add_argument("--log-level", default="warning")
    args = p.parse_args(argv)
    args.audience = args.audience or f"agent:{args.name}"
    if args.hub:
        require_loopback(args.hub, "--hub")
    if args.jwks:
        require_loopback(args.jwks, "--jwks")
    if not args.rpc_path.startswith("/"):
        p.error("--rpc-path must start with /")
    return args


# --- the card ---------------------------------------------------------------------------------


def build_card(args: argparse.Namespace, base: str) -> AgentCard:
    rpc_url = base + args.rpc_path
    skills = [AgentSkill(id=s, name=s, description=f"test skill {s}", tags=["test"]) for s in (args.skill or ["echo"])]
    if args.v03:
        interfaces = [AgentInterface(url=rpc_url, protocol_binding="JSONRPC", protocol_version="0.3.0")]
    else:
        interfaces = [
            AgentInterface(url=rpc_url, protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base, protocol_binding="HTTP+JSON", protocol_version="1.0"),
        ]
    return AgentCard(
        name=args.name,
        description=f"agenthub test agent {args.name}",
        version="1.0.0",
        supported_interfaces=interfaces,
        capabilities=AgentCapabilities(streaming=True, push_notifications=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=skills,
    )


def v03_card_routes(card: AgentCard, path: str, pure: bool) -> list[BaseRoute]:
    """The v0.3 card. a2a-sdk 1.3.0 renders a card whose interface is 0.3.x as the v1.0 form with
    the v0.3 fields (url, preferredTransport, protocolVersion) merged in; a real v0.3 agent
    publishes only the v0.3 fields, so by default supportedInterfaces is dropped."""
    body = agent_card_to_dict(card)
    if pure:
        body.pop("supportedInterfaces", None)

    async def get_card(_: Request) -> Response:
        return JSONResponse(body)

    return [Route(path, get_card, methods=["GET"])]


# --- the executor -----------------------------------------------------------------------------


class TestAgent(AgentExecutor):
    """The behaviours, chosen by the first word of the text (see the module docstring)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.jwks = JwksCache(args.jwks, min_refetch_interval=1.0) if args.jwks else None
        self.nonces = NonceCache(window=2 * args.max_skew)
        self.sign_key = load_key(args.sign_key) if args.sign_key else None

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None and context.task_id and context.context_id
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        continuing = context.current_task is not None
        if not continuing:
            # a2a-sdk needs the Task before any status update (else -32006).
            await event_queue.enqueue_event(
                Task(id=context.task_id, context_id=context.context_id,
                     status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED), history=[context.message])
            )
        seen = await self.observe(context)
        if self.jwks is not None and not seen.get("verified"):
            await updater.failed(self.say(updater, f"signature: {seen.get('verifyError', 'missing')}"))
            return

        text = context.get_user_input().strip()
        if continuing and context.current_task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            await updater.start_work()
            await updater.add_artifact([Part(text=f"got: {text}")], name="answer", metadata={"seen": seen})
            await updater.complete()
            return

        word, _, rest = text.partition(" ")
        word = word.lower()
        if word == "echo":
            await self.echo(updater, rest, seen)
        elif word == "stream":
            await self.stream(updater, rest)
        elif word == "slow":
            await updater.start_work(self.say(updater, "working until canceled"))
            await asyncio.sleep(self.args.slow_limit)  # cancel interrupts this
            await updater.failed(self.say(updater, f"slow: not canceled within {self.args.slow_limit} s"))
        elif word == "fail":
            await updater.start_work()
            await updater.failed(self.say(updater, f"failed as asked{': ' + rest if rest else ''}"))
        elif word == "ask":
            await updater.requires_input(self.say(updater, "what else? (reply in this task)"))
        elif word == "delegate":
            await self.delegate(context, updater, rest, seen)
        else:
            await self.echo(updater, text, seen)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id and context.context_id
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.cancel(self.say(updater, "canceled"))

    @staticmethod
    def say(updater: TaskUpdater, text: str) -> Message:
        return updater.new_agent_message([Part(text=text)])

    async def observe(self, context: RequestContext) -> dict[str, Any]:
        """What this request looked like to the agent; echoed in artifact metadata for tests."""
        headers: dict[str, str] = context.call_context.state.get("headers", {})
        message = received_message(context)
        metadata = dict(message.get("metadata") or {})
        signature = metadata.pop(SIGNATURE_KEY, None)
        seen: dict[str, Any] = {
            "agent": self.args.name,
            "contextId": context.context_id,
            "taskId": context.task_id,
            "messageId": message.get("messageId"),
            "receivedContextId": message.get("contextId"),
            "a2aVersion": headers.get("a2a-version"),
            "traceparent": headers.get("traceparent"),
            "authorization": "authorization" in headers,
            "signature": signature,
            "messageMetadata": metadata or None,
            "verified": False,
        }
        if self.jwks is not None:
            try:
                await asyncio.to_thread(
                    verify_message, message, self.jwks, self.args.audience, self.args.max_skew, self.nonces
                )
                seen["verified"] = True
            except SignatureError as e:
                seen["verifyError"] = e.reason
                seen["verifyDetail"] = e.detail
                log.warning("signature refused: %s", e)
        # protobuf Structs hold no None: leave unset entries out.
        return {k: v for k, v in seen.items() if v is not None}

    async def echo(self, updater: TaskUpdater, text: str, seen: dict[str, Any]) -> None:
        await updater.start_work()
        await updater.add_artifact([Part(text=text)], name="echo", metadata={"seen": seen})
        await updater.complete()

    async def stream(self, updater: TaskUpdater, rest: str) -> None:
        try:
            n = max(0, min(int(rest.split()[0]) if rest.split() else 3, 1000))
        except ValueError:
            await updater.failed(self.say(updater, f"stream: {rest!r} is not a count"))
            return
        await updater.start_work(self.say(updater, f"streaming {n} chunks"))
        artifact_id = str(uuid.uuid4())
        for i in range(1, n + 1):
            # One artifact, appended to: the first chunk creates it, later ones append.
            await updater.add_artifact([Part(text=f"chunk {i}\n")], artifact_id=artifact_id, name="stream",
                                       append=i > 1, last_chunk=i == n)
            await asyncio.sleep(0.05)
        await updater.complete()

    async def delegate(self, context: RequestContext, updater: TaskUpdater, rest: str, seen: dict[str, Any]) -> None:
        target, _, text = rest.strip().partition(" ")
        if not target or not self.args.hub:
            await updater.failed(self.say(updater, "delegate: needs `delegate <agent> <text>` and --hub"))
            return
        await updater.start_work(self.say(updater, f"asking {target}"))
        hub = self.args.hub.rstrip("/")
        url = hub if self.args.direct else f"{hub}/a2a/{target}"
        metadata: dict[str, Any] = {}
        if "signature" in seen:
            # The hub extends the delegation chain from the signature this agent received.
            metadata[PARENT_KEY] = seen["signature"]
        outgoing = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), context_id=context.context_id,
                           parts=[Part(text=text)], metadata=metadata or None)
        if self.sign_key is not None:
            outgoing = self.signed(outgoing, target, seen)
        headers = {}
        if self.args.hub_token:
            headers["Authorization"] = f"Bearer {self.args.hub_token}"
        call = ClientCallContext(service_parameters={"traceparent": seen["traceparent"]} if "traceparent" in seen else None,
                                 timeout=self.args.delegate_timeout)
        info: dict[str, Any] = {"url": url, "target": target}
        try:
            async with httpx.AsyncClient(headers=headers, timeout=self.args.delegate_timeout) as http:
                config = ClientConfig(streaming=False, httpx_client=http)
                try:
                    client = await create_client(url, client_config=config)
                except AgentCardResolutionError as e:
                    # No card there (a hub may serve only the endpoint): speak v1.0 JSON-RPC to it.
                    info["card"] = f"none ({e.message}); assumed JSON-RPC 1.0"
                    client = await create_client(fallback_card(url), client_config=config)
                reply = None
                async for event in client.send_message(SendMessageRequest(message=outgoing), context=call):
                    reply = event
        except Exception as e:  # noqa: BLE001 - any refusal is the test's subject: report it
            err = describe_error(e)
            info["error"] = err
            code = f"{err['code']} " if "code" in err else ""
            await updater.failed(updater.new_agent_message([Part(text=f"delegate: {code}{err['message']}")],
                                                           metadata={"delegate": info}))
            return
        if reply is not None and reply.HasField("task"):
            task = reply.task
            state = TaskState.Name(task.status.state)
            info.update(taskId=task.id, contextId=task.context_id, state=state)
            if task.artifacts and task.artifacts[0].HasField("metadata"):
                info["replySeen"] = to_dict(task.artifacts[0].metadata)
            reply_text = task_reply_text(task)
            if state not in TERMINAL_STATES or state == "TASK_STATE_COMPLETED":
                await updater.add_artifact([Part(text=reply_text)], name="delegate", metadata={"seen": seen, "delegate": info})
                await updater.complete()
            else:
                await updater.failed(updater.new_agent_message(
                    [Part(text=f"delegate: {target} ended {state}: {message_text(task.status.message)}")],
                    metadata={"delegate": info}))
        elif reply is not None and reply.HasField("message"):
            info["message"] = to_dict(reply.message)
            await updater.add_artifact([Part(text=message_text(reply.message))], name="delegate",
                                       metadata={"seen": seen, "delegate": info})
            await updater.complete()
        else:
            await updater.failed(self.say(updater, "delegate: no reply"))


    def signed(self, outgoing: Message, target: str, seen: dict[str, Any]) -> Message:
        """The delegated message signed by this agent: on behalf of the incoming message's
        principal, the chain extended with this agent, for the target agent."""
        me = f"agent:{self.args.name}"
        parent = seen.get("signature") or {}
        chain = [c for c in parent.get("chain", []) if isinstance(c, str)] + [me]
        claims: dict[str, Any] = {"iss": me, "aud": f"agent:{target}", "sub": parent.get("sub") or chain[0], "chain": chain}
        if "traceparent" in seen:
            claims["traceparent"] = seen["traceparent"]
        signed = sign_message(message_to_dict(outgoing), claims, self.sign_key, kid=self.args.sign_kid)
        return ParseDict(signed, Message())


def load_key(path: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(Path(path).read_bytes(), password=None)


def fallback_card(url: str) -> AgentCard:
    return AgentCard(name="delegate-target", description="", version="",
                     supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
                     capabilities=AgentCapabilities(streaming=False))


# --- recording, the v0.3 method gate, the token check -------------------------------------------


class Gate:
    """ASGI middleware in front of everything: records requests, enforces --require-token, and
    on a v0.3 agent refuses v1.0 JSON-RPC names. Pure ASGI (not BaseHTTPMiddleware) so SSE
    responses stream through untouched; the request body is read once and replayed."""

    def __init__(self, app: Any, args: argparse.Namespace) -> None:
        self.app = app
        self.args = args
        self.record_path = Path(args.record) if args.record else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then wait for the disconnect, as the app expects

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        path, http_method = scope["path"], scope["method"]
        is_rpc = http_method == "POST" and path == self.args.rpc_path and isinstance(payload, dict) and "jsonrpc" in payload
        rpc_method = payload.get("method") if is_rpc else None
        if self.record_path:
            self.record(http_method, path, scope.get("query_string", b"").decode("latin-1"), headers, payload, rpc_method, is_rpc)

        if self.args.require_token and path != self.args.card_path:
            if headers.get("authorization") != f"Bearer {self.args.require_token}":
                await JSONResponse({"error": "unauthorized"}, status_code=401,
                                   headers={"WWW-Authenticate": "Bearer"})(scope, replay, send)
                return
        if self.args.v03 and is_rpc and rpc_method not in V03_METHODS:
            error = {"jsonrpc": "2.0", "id": payload.get("id"),
                     "error": {"code": -32601, "message": f"Method not found: {rpc_method} (this is a v0.3 agent)"}}
            await JSONResponse(error)(scope, replay, send)
            return
        await self.app(scope, replay, send)

    def record(self, http_method: str, path: str, query: str, headers: dict[str, str], payload: Any,
               rpc_method: str | None, is_rpc: bool) -> None:
        line: dict[str, Any] = {"time": time.time(), "agent": self.args.name, "httpMethod": http_method, "path": path}
        if query:
            line["query"] = query
        if is_rpc:
            line.update(binding="jsonrpc", method=rpc_method, id=payload.get("id"))
            params = payload.get("params")
        elif path == self.args.card_path:
            line.update(binding="card", method="card")
            params = None
        else:
            line.update(binding="rest", method=f"{http_method} {path}")
            params = payload
        auth = headers.get("authorization")
        line["authorization"] = auth is not None
        if auth is not None:
            line["authorizationSha256"] = hashlib.sha256(auth.encode()).hexdigest()
        line["headers"] = {h: headers[h] for h in RECORDED_HEADERS if h in headers}
        line["traceparent"] = headers.get("traceparent")
        line["a2aVersion"] = headers.get("a2a-version")
        if params is not None:
            line["params"] = params
            if isinstance(params, dict) and isinstance(params.get("message"), dict):
                line["message"] = params["message"]
        with self.record_path.open("a", encoding="utf-8") as f:  # type: ignore[union-attr]
            f.write(json.dumps(line, separators=(",", ":")) + "\n")


# --- wiring -----------------------------------------------------------------------------------


def build_app(args: argparse.Namespace, port: int) -> tuple[Any, httpx.AsyncClient]:
    base = f"http://127.0.0.1:{port}"
    card = build_card(args, base)
    push_store = InMemoryPushNotificationConfigStore()
    push_http = httpx.AsyncClient(timeout=10)
    handler = DefaultRequestHandler(
        agent_executor=TestAgent(args),
        task_store=InMemoryTaskStore(),
        agent_card=card,
        push_config_store=push_store,
        push_sender=BasePushNotificationSender(push_http, push_store),
        request_context_builder=ReceivedMessageContextBuilder(),
    )
    routes: list[BaseRoute] = []
    if args.sign_key:
        jwks = {"keys": [public_jwk(load_key(args.sign_key), kid=args.sign_kid)]}

        async def get_jwks(_: Request) -> Response:
            return JSONResponse(jwks)

        routes.append(Route("/.well-known/jwks.json", get_jwks, methods=["GET"]))
    if args.v03:
        routes += v03_card_routes(card, args.card_path, pure=not args.sdk_card)
        routes += create_jsonrpc_routes(handler, rpc_url=args.rpc_path, enable_v0_3_compat=True)
    else:
        routes += create_agent_card_routes(card, card_url=args.card_path)
        routes += create_jsonrpc_routes(handler, rpc_url=args.rpc_path)
        routes += create_rest_routes(handler)  # last: it mounts a /{tenant} catch-all
    return Gate(Starlette(routes=routes), args), push_http


async def serve(args: argparse.Namespace) -> None:
    # Bind first, so port 0 is resolved before the card (which holds the URL) is built.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    app, push_http = build_app(args, port)
    config = uvicorn.Config(app, log_level=args.log_level, lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)

    async def announce() -> None:
        for _ in range(1000):  # up to 10 s
            if server.started:
                print(f"READY {port}", flush=True)
                return
            await asyncio.sleep(0.01)
        print("agent did not start within 10 s", file=sys.stderr, flush=True)
        server.should_exit = True

    async def expire() -> None:
        await asyncio.sleep(args.max_lifetime)
        print(f"exiting after --max-lifetime {args.max_lifetime} s", file=sys.stderr, flush=True)
        server.should_exit = True

    announcer = asyncio.create_task(announce())
    expiry = asyncio.create_task(expire())
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()
        expiry.cancel()
        await push_http.aclose()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format=f"%(asctime)s {args.name} %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
