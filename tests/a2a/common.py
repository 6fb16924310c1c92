"""Bits shared by tests/a2a/agent.py and tests/a2a/client.py (both run from this folder)."""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# sdk/python holds agenthub_a2a (the signature code); tests may also put it on PYTHONPATH.
SDK_PYTHON = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(SDK_PYTHON) not in sys.path:
    sys.path.insert(0, str(SDK_PYTHON))

from google.protobuf.json_format import MessageToDict  # noqa: E402

from a2a.types import Artifact, Message, Task  # noqa: E402
from a2a.utils.errors import JSON_RPC_ERROR_CODE_MAP, A2AError  # noqa: E402

# Terminal and interrupted states: a stream or a wait ends on them.
TERMINAL_STATES = {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"}
INTERRUPTED_STATES = {"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"}


def require_loopback(url: str, what: str) -> None:
    """These peers only ever talk to this machine: refuse anything but loopback."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"{what} {url!r} is not a loopback URL (127.0.0.0/8, [::1] or localhost)")


def to_dict(proto: Any) -> dict[str, Any]:
    """A protobuf as its v1.0 JSON form (camelCase), as the wire carries it."""
    return MessageToDict(proto, preserving_proto_field_name=False)


def parts_text(parts: Any) -> str:
    return "".join(p.text for p in parts if p.HasField("text"))


def message_text(message: Message | None) -> str:
    return parts_text(message.parts) if message is not None else ""


def artifacts_text(artifacts: list[Artifact] | Any) -> str:
    return "".join(parts_text(a.parts) for a in artifacts)


def task_reply_text(task: Task) -> str:
    """What a task says: its artifacts' text, else its status message's."""
    return artifacts_text(task.artifacts) or message_text(task.status.message)


_CODE_IN_MESSAGE = re.compile(r"JSON-RPC Error (-?\d+): (.*)", re.S)
_HTTP_IN_MESSAGE = re.compile(r"HTTP Error:? (\d{3})")


def describe_error(e: BaseException) -> dict[str, Any]:
    """An exception from the a2a-sdk client as {type, code?, message, httpStatus?, body?, data?}.

    The SDK maps known A2A codes to exception classes and folds unknown ones (e.g. a hub's own
    JSON-RPC errors) into the text "JSON-RPC Error <code>: <message>"; both come back as code +
    message here. HTTP failures keep their status and (when read) body.
    """
    out: dict[str, Any] = {"type": type(e).__name__, "message": str(getattr(e, "message", "") or e)}
    if isinstance(e, A2AError):
        code = JSON_RPC_ERROR_CODE_MAP.get(type(e))
        if code is not None:
            out["code"] = code
        if e.data:
            out["data"] = e.data
    m = _CODE_IN_MESSAGE.search(out["message"])
    if m and "code" not in out:
        out["code"], out["message"] = int(m.group(1)), m.group(2)
    cause = e.__cause__
    response = getattr(cause, "response", None)
    if response is not None:
        out["httpStatus"] = response.status_code
        try:
            out["body"] = response.text[:2000]
        except Exception:  # noqa: BLE001 - a streamed body may be unread; the status is enough
            pass
        # A refusal in JSON-RPC form inside an HTTP error (a hub's 401/403, say): its code and
        # message say more than httpx's "Client error '403 Forbidden' for url …".
        rpc_error = _rpc_error_in(out.get("body"))
        if rpc_error is not None:
            out.setdefault("code", rpc_error[0])
            out["message"] = rpc_error[1]
        elif "code" not in out:
            out["message"] = f"HTTP {response.status_code}: {(out.get('body') or '').strip()[:300]}"
    else:
        m = _HTTP_IN_MESSAGE.search(out["message"])
        if m:
            out["httpStatus"] = int(m.group(1))
    return out


def _rpc_error_in(body: str | None) -> tuple[int, str] | None:
    try:
        doc = json.loads(body or "")
    except ValueError:
        return None
    err = doc.get("error") if isinstance(doc, dict) and "jsonrpc" in doc else None
    if isinstance(err, dict) and isinstance(err.get("code"), int) and isinstance(err.get("message"), str):
        return err["code"], err["message"]
    return None


def emit(obj: dict[str, Any]) -> None:
    """One JSON object per line on stdout, flushed, so a test can read it as it comes."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), sort_keys=False) + "\n")
    sys.stdout.flush()
