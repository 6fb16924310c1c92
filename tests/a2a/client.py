#!/usr/bin/env python3
"""Drives an A2A endpoint with the official a2a-sdk (1.3.0) client; one JSON object per line.

    python tests/a2a/client.py --url BASE [--token T] [--v03] [--transport jsonrpc|rest]
        [--header 'K: V' ...] [--no-card] [--timeout S] CMD ...

CMD: card | send TEXT [--context ID] [--task ID] [--no-wait] | stream TEXT [--context ID]
     | get TASK_ID | cancel TASK_ID | resubscribe TASK_ID | list [--context ID]
     | push TEXT --webhook-port P | script FILE
Message options (send, stream, push): --metadata JSON, --sign-key PEM --sign-claims JSON.

Output lines (README.md has the details): {"card":…,"interface":…}; {"task":…,"state":…,"text":…};
{"message":…}; {"statusUpdate":…}; {"artifactUpdate":…}; {"tasks":[…],…}; {"push":…};
{"pushDone":…}; and on an A2A error {"error":{"type","code","message",…}} with exit code 1.
Objects are in the v1.0 JSON form whatever the wire spoke (the SDK converts v0.3 replies).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import shlex
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from google.protobuf.json_format import ParseDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from common import (
    INTERRUPTED_STATES,
    TERMINAL_STATES,
    describe_error,
    emit,
    require_loopback,
    task_reply_text,
    to_dict,
)

from a2a.client import Client, ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AuthenticationInfo,
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH, TransportProtocol

BINDINGS = {"jsonrpc": TransportProtocol.JSONRPC.value, "rest": TransportProtocol.HTTP_JSON.value}


class StepFailed(Exception):
    """An A2A error, already printed as an {"error": …} line."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the agent's base URL (its card is at BASE/.well-known/agent-card.json)")
    p.add_argument("--token", help="sent as Authorization: Bearer T on every request, the card's included")
    p.add_argument("--v03", action="store_true", help="speak A2A v0.3 (a2a-sdk's compat transports)")
    p.add_argument("--transport", choices=sorted(BINDINGS), default="jsonrpc")
    p.add_argument("--header", action="append", default=[], metavar="'K: V'", help="an extra HTTP header (repeatable)")
    p.add_argument("--card-path", default=AGENT_CARD_WELL_KNOWN_PATH)
    p.add_argument("--no-card", action="store_true",
                   help="don't read the card: speak to --url itself with --transport (and --v03)")
    p.add_argument("--timeout", type=float, default=60, help="the whole run, seconds")
    p.add_argument("--request-timeout", type=float, default=30)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("card")
    for name in ("send", "stream", "push"):
        c = sub.add_parser(name)
        c.add_argument("text")
        c.add_argument("--context", help="contextId for the message")
        c.add_argument("--task", help="taskId (to continue a task, e.g. after input-required)")
        c.add_argument("--metadata", help="message metadata, a JSON object")
        c.add_argument("--message-id")
        c.add_argument("--sign-key", metavar="PEM", help="sign the message (agenthub format) with this private key")
        c.add_argument("--sign-claims", metavar="JSON", help='claims: {"iss","aud","sub","chain"[,"traceparent"]}')
        c.add_argument("--sign-kid", help="kid (default: the key's RFC 7638 thumbprint)")
        if name == "send":
            c.add_argument("--no-wait", action="store_true", help="return_immediately: don't wait for the task to finish")
        if name == "push":
            c.add_argument("--webhook-port", type=int, required=True, help="0 picks a free one")
            c.add_argument("--webhook-token", default="push-token", help="the config's token (v0.3: X-A2A-Notification-Token)")
            c.add_argument("--webhook-auth", default="Bearer webhook-secret",
                           help="'SCHEME CREDENTIALS' for the config's authentication ('' for none)")
            c.add_argument("--wait", type=float, default=20, help="seconds to wait for a terminal notification")
    for name in ("get", "cancel", "resubscribe"):
        c = sub.add_parser(name)
        c.add_argument("task_id")
        if name == "get":
            c.add_argument("--history", type=int)
    c = sub.add_parser("list")
    c.add_argument("--context")
    c = sub.add_parser("script", help="one command per line; '#' comments; $task/$context = the last ones seen; "
                                      "'sleep S'; a line starting with '?' may fail")
    c.add_argument("file")
    return p


class Session:
    """One card and one HTTP client for a run (all commands of a script share them)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        headers = {}
        for h in args.header:
            k, _, v = h.partition(":")
            headers[k.strip()] = v.strip()
        if args.token:
            headers["Authorization"] = f"Bearer {args.token}"
        self.http = httpx.AsyncClient(headers=headers, timeout=args.request_timeout)
        self.card: AgentCard | None = None
        self.raw_card: dict[str, Any] | None = None
        self.last_task: str | None = None
        self.last_context: str | None = None
        self.step: int | None = None

    async def close(self) -> None:
        await self.http.aclose()

    def out(self, obj: dict[str, Any]) -> None:
        if self.step is not None:
            obj["step"] = self.step
        emit(obj)

    async def load_card(self) -> AgentCard:
        if self.card is not None:
            return self.card
        binding = BINDINGS[self.args.transport]
        if self.args.no_card:
            card = AgentCard(name="(no card)", description="", version="",
                             supported_interfaces=[AgentInterface(url=self.args.url, protocol_binding=binding, protocol_version="1.0")],
                             capabilities=AgentCapabilities(streaming=True, push_notifications=True))
        else:
            url = self.args.url.rstrip("/") + "/" + self.args.card_path.lstrip("/")
            resp = await self.http.get(url)
            resp.raise_for_status()
            self.raw_card = resp.json()
            card = parse_agent_card(copy.deepcopy(self.raw_card))
        if self.args.v03:
            # a2a-sdk picks its v0.3 transports from the interface's protocolVersion, so saying
            # the interface is 0.3 is how to make it speak v0.3 (to a v1.0 endpoint, too).
            for iface in card.supported_interfaces:
                if iface.protocol_binding == binding:
                    iface.protocol_version = "0.3.0"
        self.card = card
        return card

    async def client(self, streaming: bool) -> Client:
        card = await self.load_card()
        config = ClientConfig(streaming=streaming, httpx_client=self.http,
                              supported_protocol_bindings=[BINDINGS[self.args.transport]], use_client_preference=True)
        return ClientFactory(config).create(card)

    def chosen_interface(self) -> dict[str, Any] | None:
        assert self.card is not None
        binding = BINDINGS[self.args.transport]
        iface = ClientFactory._find_best_interface(list(self.card.supported_interfaces), protocol_bindings=[binding])  # noqa: SLF001
        return to_dict(iface) if iface is not None else None

    def note(self, task: Any) -> None:
        if task.id:
            self.last_task = task.id
        if task.context_id:
            self.last_context = task.context_id

    def emit_event(self, event: StreamResponse) -> str | None:
        """Prints one StreamResponse; returns the task state it reports, if any."""
        kind = event.WhichOneof("payload")
        if kind is None:
            self.out({"unknown": to_dict(event)})
            return None
        obj: dict[str, Any] = {kind_json(kind): to_dict(getattr(event, kind))}
        state = None
        if kind == "task":
            self.note(event.task)
            state = TaskState.Name(event.task.status.state)
            obj.update(state=state, text=task_reply_text(event.task))
        elif kind == "status_update":
            state = TaskState.Name(event.status_update.status.state)
            self.last_task = event.status_update.task_id or self.last_task
        elif kind == "message":
            self.last_context = event.message.context_id or self.last_context
        self.out(obj)
        return state


def kind_json(kind: str) -> str:
    return {"status_update": "statusUpdate", "artifact_update": "artifactUpdate"}.get(kind, kind)


# --- building the message ---------------------------------------------------------------------


def build_message(opts: argparse.Namespace) -> Message:
    msg = Message(role=Role.ROLE_USER, message_id=opts.message_id or str(uuid.uuid4()), parts=[Part(text=opts.text)])
    if opts.context:
        msg.context_id = opts.context
    if opts.task:
        msg.task_id = opts.task
    if opts.metadata:
        msg.metadata.update(json.loads(opts.metadata))
    if opts.sign_key:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        from agenthub_a2a import message_to_dict, sign_message

        key = load_pem_private_key(Path(opts.sign_key).read_bytes(), password=None)
        claims = json.loads(opts.sign_claims or "{}")
        signed = sign_message(message_to_dict(msg), claims, key, kid=opts.sign_kid)  # type: ignore[arg-type]
        msg = ParseDict(signed, Message())
    return msg


# --- the commands -----------------------------------------------------------------------------


async def cmd_card(s: Session, _: argparse.Namespace) -> None:
    await s.load_card()
    s.out({"card": s.raw_card if s.raw_card is not None else to_dict(s.card), "interface": s.chosen_interface()})


async def cmd_send(s: Session, opts: argparse.Namespace) -> None:
    request = SendMessageRequest(message=build_message(opts))
    if getattr(opts, "no_wait", False):
        request.configuration.return_immediately = True
    client = await s.client(streaming=False)
    async for event in client.send_message(request):
        s.emit_event(event)


async def cmd_stream(s: Session, opts: argparse.Namespace) -> None:
    client = await s.client(streaming=True)
    async for event in client.send_message(SendMessageRequest(message=build_message(opts))):
        s.emit_event(event)


async def cmd_get(s: Session, opts: argparse.Namespace) -> None:
    request = GetTaskRequest(id=opts.task_id)
    if getattr(opts, "history", None) is not None:
        request.history_length = opts.history
    task = await (await s.client(streaming=False)).get_task(request)
    s.note(task)
    s.out({"task": to_dict(task), "state": TaskState.Name(task.status.state), "text": task_reply_text(task)})


async def cmd_cancel(s: Session, opts: argparse.Namespace) -> None:
    task = await (await s.client(streaming=False)).cancel_task(CancelTaskRequest(id=opts.task_id))
    s.note(task)
    s.out({"task": to_dict(task), "state": TaskState.Name(task.status.state), "text": task_reply_text(task)})


async def cmd_resubscribe(s: Session, opts: argparse.Namespace) -> None:
    client = await s.client(streaming=True)
    async for event in client.subscribe(SubscribeToTaskRequest(id=opts.task_id)):
        s.emit_event(event)


async def cmd_list(s: Session, opts: argparse.Namespace) -> None:
    request = ListTasksRequest()
    if opts.context:
        request.context_id = opts.context
    response = await (await s.client(streaming=False)).list_tasks(request)
    out = to_dict(response)
    out.setdefault("tasks", [])
    s.out(out)


async def cmd_push(s: Session, opts: argparse.Namespace) -> None:
    """Starts a webhook on 127.0.0.1, sends with a push config pointing at it, prints what arrives."""
    arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def hook(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        await arrived.put({"method": request.method, "path": request.url.path, "headers": dict(request.headers), "body": body})
        return JSONResponse({"ok": True})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", opts.webhook_port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/{path:path}", hook, methods=["POST", "PUT"])]),
                                           log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        webhook = f"http://127.0.0.1:{port}/webhook"
        s.out({"webhook": {"url": webhook}})
        config = TaskPushNotificationConfig(url=webhook, id=str(uuid.uuid4()))
        if opts.webhook_token:
            config.token = opts.webhook_token
        if opts.webhook_auth:
            scheme, _, credentials = opts.webhook_auth.partition(" ")
            config.authentication.CopyFrom(AuthenticationInfo(scheme=scheme, credentials=credentials))
        request = SendMessageRequest(message=build_message(opts))
        request.configuration.task_push_notification_config.CopyFrom(config)
        request.configuration.return_immediately = True  # so the notifications come while it works
        async for event in (await s.client(streaming=False)).send_message(request):
            state = s.emit_event(event)
        count, final, loop = 0, None, asyncio.get_running_loop()
        deadline = loop.time() + opts.wait
        if state in TERMINAL_STATES:
            # It finished before the send returned; the notifications are in flight anyway.
            deadline = min(deadline, loop.time() + 5)
        while final is None:
            try:
                got = await asyncio.wait_for(arrived.get(), timeout=max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                break
            count += 1
            s.out({"push": got})
            final = notified_final_state(got["body"])
        s.out({"pushDone": {"count": count, "final": final, "timedOut": final is None}})
        if final is None:
            raise StepFailed()
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(serving, timeout=5)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            serving.cancel()


def notified_final_state(body: Any) -> str | None:
    """The terminal (or interrupted) state a push body reports, in v1.0 or v0.3 shape."""
    if not isinstance(body, dict):
        return None
    candidates = [
        body.get("task", {}).get("status", {}).get("state"),
        body.get("statusUpdate", {}).get("status", {}).get("state"),
        body.get("status", {}).get("state"),  # v0.3: a bare Task or status-update
    ]
    for state in candidates:
        if not isinstance(state, str):
            continue
        norm = state if state.startswith("TASK_STATE_") else "TASK_STATE_" + state.upper().replace("-", "_")
        if norm in TERMINAL_STATES or norm in INTERRUPTED_STATES:
            return norm
    return None


COMMANDS = {
    "card": cmd_card,
    "send": cmd_send,
    "stream": cmd_stream,
    "get": cmd_get,
    "cancel": cmd_cancel,
    "resubscribe": cmd_resubscribe,
    "list": cmd_list,
    "push": cmd_push,
}


async def run_one(s: Session, opts: argparse.Namespace) -> None:
    """Runs a command; A2A errors become an {"error": …} line and StepFailed."""
    try:
        await COMMANDS[opts.cmd](s, opts)
    except StepFailed:
        raise
    except NotImplementedError as e:  # e.g. ListTasks over v0.3, which has no such method
        s.out({"error": {"type": "NotImplementedError", "message": str(e)}})
        raise StepFailed() from e
    except Exception as e:  # noqa: BLE001 - the error is the result the test reads
        if isinstance(e, httpx.HTTPStatusError):  # the card fetch
            s.out({"error": {"type": "HTTPStatusError", "httpStatus": e.response.status_code,
                             "message": str(e), "body": e.response.text[:2000]}})
        else:
            s.out({"error": describe_error(e)})
        raise StepFailed() from e


async def run_script(s: Session, parser: argparse.ArgumentParser, path: str) -> None:
    failed = False
    for n, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        may_fail = line.startswith("?")
        line = line.lstrip("?").strip()
        line = line.replace("$task", s.last_task or "").replace("$context", s.last_context or "")
        s.step = n
        words = shlex.split(line)
        if words[0] == "sleep":
            await asyncio.sleep(float(words[1]))
            continue
        try:
            # Parse the step as a command line of its own, with the run's global options.
            opts = parser.parse_args(["--url", s.args.url, *words])
        except SystemExit:
            s.out({"error": {"type": "ScriptError", "message": f"line {n}: cannot parse {line!r}"}})
            raise StepFailed() from None
        if opts.cmd == "script":
            s.out({"error": {"type": "ScriptError", "message": "scripts do not nest"}})
            raise StepFailed()
        try:
            await run_one(s, opts)
        except StepFailed:
            if not may_fail:
                failed = True
                break
    if failed:
        raise StepFailed()


async def amain(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    require_loopback(args.url, "--url")
    s = Session(args)
    try:
        if args.cmd == "script":
            await asyncio.wait_for(run_script(s, parser, args.file), timeout=args.timeout)
        else:
            await asyncio.wait_for(run_one(s, args), timeout=args.timeout)
    except StepFailed:
        return 1
    except asyncio.TimeoutError:
        s.out({"error": {"type": "Timeout", "message": f"no result within {args.timeout} s"}})
        return 1
    finally:
        await s.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(amain()))
