#!/usr/bin/env python3
"""Checks tests/a2a/agent.py and client.py against each other, without the hub.

    python tests/a2a/selftest.py        (with the venv of tests/sdk/requirements.txt)

Starts agents on 127.0.0.1 (port 0): a v1.0 one, a v0.3 one, signature-checking ones (JWKS
served from a temporary file), a token-protected one, delegating ones (--direct, and through a
small stand-in for the hub's /a2a/<agent>), then runs every client command against them and
checks what comes back. Everything has a timeout; all processes are stopped at the end.
Ends with "N passed, N failed".
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "sdk" / "python"))

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat  # noqa: E402

from agenthub_a2a import generate_private_key, public_jwk  # noqa: E402

PY = sys.executable
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Agent:
    def __init__(self, name: str, *args: str, tmp: Path) -> None:
        self.name = name
        self.record = tmp / f"{name}.jsonl"
        self.log = open(tmp / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [PY, str(HERE / "agent.py"), "--port", "0", "--name", name, "--record", str(self.record), *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        self.port = self._wait_ready()
        self.url = f"http://127.0.0.1:{self.port}"

    def _wait_ready(self) -> int:
        # readline blocks; a watchdog kills the agent if READY does not come in 20 s.
        timer = threading.Timer(20, self.proc.kill)
        timer.start()
        try:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
        finally:
            timer.cancel()
        if not line.startswith("READY "):
            raise RuntimeError(f"agent {self.name} did not start: {line!r} (see its log)")
        return int(line.split()[1])

    def records(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines() if line]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


def client(url: str, *args: str, timeout: float = 45) -> tuple[int, list[dict[str, Any]]]:
    """Runs client.py; (exit code, its JSON lines)."""
    proc = subprocess.run([PY, str(HERE / "client.py"), "--url", url, "--timeout", str(timeout - 5), *args],
                          capture_output=True, text=True, timeout=timeout)
    lines = []
    for line in proc.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}\nstderr: {proc.stderr[-2000:]}") from None
    if proc.returncode not in (0, 1):
        raise AssertionError(f"client exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.returncode, lines


def one(url: str, *args: str) -> dict[str, Any]:
    rc, lines = client(url, *args)
    assert rc == 0 and len(lines) == 1, (rc, lines)
    return lines[0]


def seen_of(result: dict[str, Any]) -> dict[str, Any]:
    return result["task"]["artifacts"][0]["metadata"]["seen"]


class Served(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve_in_thread(handler: type[http.server.BaseHTTPRequestHandler]) -> Served:
    server = Served(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def jwks_server(directory: Path) -> Served:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, directory=str(directory), **k)

        def log_message(self, *args: Any) -> None:
            pass

    return serve_in_thread(Handler)


def hub_shim(routes: dict[str, str]) -> Served:
    """A stand-in for the hub's JSON-RPC /a2a/<agent>: no card (404), forwards POSTs to the
    agent's root with the headers a hub passes on; 'deny' answers 403 with a JSON-RPC error."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.reply(404, b'{"error":"no card here"}')

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            name = self.path.removeprefix("/a2a/").strip("/")
            if name == "deny":
                rid = json.loads(body).get("id")
                err = {"jsonrpc": "2.0", "id": rid, "error": {"code": -32010, "message": "agent:shim-caller may not call agent:deny"}}
                self.reply(403, json.dumps(err).encode())
                return
            if name not in routes:
                self.reply(404, b'{"error":"no such agent"}')
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "a2a-version", "traceparent")}
            req = urllib.request.Request(routes[name] + "/", data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 - loopback agent
                self.reply(resp.status, resp.read())

        def reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return serve_in_thread(Handler)


def load_key(pem: Path) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(pem.read_bytes(), password=None)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="a2a-selftest-"))
    keys = {alg: generate_private_key(alg) for alg in ("EdDSA", "ES256")}
    stranger = generate_private_key()
    for name, key in [("ed", keys["EdDSA"]), ("ec", keys["ES256"]), ("stranger", stranger)]:
        (tmp / f"{name}.pem").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (tmp / "www" / ".well-known").mkdir(parents=True)
    (tmp / "www" / ".well-known" / "jwks.json").write_text(json.dumps({"keys": [public_jwk(k) for k in keys.values()]}))
    jwks = jwks_server(tmp / "www")
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/.well-known/jwks.json"

    agents: dict[str, Agent] = {}
    servers = [jwks]
    results: list[tuple[str, bool]] = []

    def check(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001
            results.append((name, False))
            print(f"FAIL {name}")
            traceback.print_exc(limit=4, file=sys.stdout)
        else:
            results.append((name, True))
            print(f"ok   {name}")
        sys.stdout.flush()

    try:
        started = time.monotonic()
        for name, args in [
            ("v10", []),
            ("v03", ["--v03"]),
            ("guard", ["--jwks", jwks_url]),
            ("guard03", ["--v03", "--jwks", jwks_url]),
            ("locked", ["--require-token", "s3cret"]),
        ]:
            agents[name] = Agent(name, *args, tmp=tmp)
        shim = hub_shim({"v10": agents["v10"].url})
        servers.append(shim)
        shim_url = f"http://127.0.0.1:{shim.server_address[1]}"
        for name, args in [
            ("boss", ["--hub", agents["v10"].url, "--direct"]),
            ("boss03", ["--v03", "--hub", agents["v03"].url, "--direct"]),
            ("boss-guard", ["--hub", agents["guard"].url, "--direct"]),
            ("boss-signer", ["--hub", agents["guard"].url, "--direct", "--sign-key", str(tmp / "ed.pem")]),
            ("boss-key", ["--hub", agents["locked"].url, "--direct", "--hub-token", "s3cret"]),
            ("boss-nokey", ["--hub", agents["locked"].url, "--direct", "--hub-token", "wrong"]),
            ("boss-hub", ["--hub", shim_url, "--hub-token", "user-token"]),
        ]:
            agents[name] = Agent(name, *args, tmp=tmp)
        print(f"started {len(agents)} agents in {time.monotonic() - started:.1f} s")
        run_checks(check, agents, tmp)
    finally:
        for agent in agents.values():
            agent.stop()
        for server in servers:
            server.shutdown()
    passed = sum(ok for _, ok in results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


def run_checks(check: Callable[[str, Callable[[], None]], None], agents: dict[str, Agent], tmp: Path) -> None:
    v10, v03 = agents["v10"], agents["v03"]

    def card_v10() -> None:
        out = one(v10.url, "card")
        card = out["card"]
        assert [i["protocolBinding"] for i in card["supportedInterfaces"]] == ["JSONRPC", "HTTP+JSON"], card
        assert all(i["protocolVersion"] == "1.0" for i in card["supportedInterfaces"])
        assert card["capabilities"] == {"streaming": True, "pushNotifications": True}
        assert "url" not in card and "protocolVersion" not in card
        assert out["interface"]["protocolVersion"] == "1.0"

    def card_v03() -> None:
        out = one(v03.url, "card")
        card = out["card"]
        assert card["protocolVersion"] == "0.3.0" and card["preferredTransport"] == "JSONRPC", card
        assert card["url"] == v03.url + "/" and "supportedInterfaces" not in card
        assert out["interface"]["protocolVersion"] == "0.3.0"

    check("card v1.0", card_v10)
    check("card v0.3", card_v03)

    for agent, flags, wire_version in [(v10, [], "1.0"), (v10, ["--transport", "rest"], "1.0"), (v03, [], "0.3")]:
        label = f"{agent.name}{' ' + ' '.join(flags) if flags else ''}"

        def send(agent: Agent = agent, flags: list[str] = flags, wire: str = wire_version) -> None:
            out = one(agent.url, *flags, "--header", f"traceparent: {TRACEPARENT}", "send", "echo hello there",
                      "--context", "ctx-1")
            assert out["state"] == "TASK_STATE_COMPLETED" and out["text"] == "hello there", out
            seen = seen_of(out)
            assert seen["contextId"] == "ctx-1" and seen["traceparent"] == TRACEPARENT and seen["a2aVersion"] == wire, seen
            last = [r for r in agent.records() if r["binding"] != "card"][-1]
            assert last["traceparent"] == TRACEPARENT and last["a2aVersion"] == wire, last
            assert last["method"] in ("SendMessage", "message/send", "POST /message:send"), last

        def stream(agent: Agent = agent, flags: list[str] = flags) -> None:
            rc, lines = client(agent.url, *flags, "stream", "stream 3")
            assert rc == 0, lines
            kinds = [next(iter(k for k in line if k not in ("state", "text"))) for line in lines]
            assert kinds == ["task", "statusUpdate", "artifactUpdate", "artifactUpdate", "artifactUpdate", "statusUpdate"], kinds
            chunks = [line["artifactUpdate"] for line in lines if "artifactUpdate" in line]
            assert "".join(c["artifact"]["parts"][0]["text"] for c in chunks) == "chunk 1\nchunk 2\nchunk 3\n"
            assert [c.get("append", False) for c in chunks] == [False, True, True] and chunks[-1].get("lastChunk")
            assert lines[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"

        def states(agent: Agent = agent, flags: list[str] = flags) -> None:
            assert one(agent.url, *flags, "send", "fail please")["state"] == "TASK_STATE_FAILED"
            ask = one(agent.url, *flags, "send", "ask")
            assert ask["state"] == "TASK_STATE_INPUT_REQUIRED", ask
            reply = one(agent.url, *flags, "send", "more", "--task", ask["task"]["id"], "--context", ask["task"]["contextId"])
            assert reply["state"] == "TASK_STATE_COMPLETED" and reply["text"] == "got: more", reply

        def script(agent: Agent = agent, flags: list[str] = flags) -> None:
            path = tmp / f"script-{agent.name}.txt"
            path.write_text("send slow --no-wait\nsleep 0.3\nget $task\ncancel $task\n? cancel $task\nget $task\n? get no-such-task\n")
            rc, lines = client(agent.url, *flags, "script", str(path))
            assert rc == 0, lines
            by_step = {line["step"]: line for line in lines}
            assert by_step[3]["state"] == "TASK_STATE_WORKING", by_step[3]
            assert by_step[4]["state"] == "TASK_STATE_CANCELED", by_step[4]
            assert by_step[5]["error"]["code"] == -32002, by_step[5]
            assert by_step[6]["state"] == "TASK_STATE_CANCELED"
            assert by_step[7]["error"]["code"] == -32001, by_step[7]

        def errors(agent: Agent = agent, flags: list[str] = flags) -> None:
            rc, lines = client(agent.url, *flags, "get", "no-such-task")
            assert rc == 1 and lines[-1]["error"]["code"] == -32001, lines

        def resubscribe(agent: Agent = agent, flags: list[str] = flags) -> None:
            first = one(agent.url, *flags, "send", "stream 80", "--no-wait")  # 4 s: outlives the next client start
            rc, lines = client(agent.url, *flags, "resubscribe", first["task"]["id"])
            assert rc == 0 and "task" in lines[0], lines
            assert lines[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED", lines[-1]
            assert any("artifactUpdate" in line for line in lines)
            got = one(agent.url, *flags, "get", first["task"]["id"])
            assert got["text"] == "".join(f"chunk {i}\n" for i in range(1, 81)), got["text"]

        def push(agent: Agent = agent, flags: list[str] = flags) -> None:
            rc, lines = client(agent.url, *flags, "push", "stream 2", "--webhook-port", "0")
            assert rc == 0, lines
            pushes = [line["push"] for line in lines if "push" in line]
            done = lines[-1]["pushDone"]
            assert done["final"] == "TASK_STATE_COMPLETED" and done["count"] == len(pushes) >= 3, done
            for p in pushes:
                assert p["headers"]["authorization"] == "Bearer webhook-secret", p["headers"]
                assert p["headers"]["x-a2a-notification-token"] == "push-token", p["headers"]
            assert "task" in pushes[0]["body"], pushes[0]

        def list_tasks(agent: Agent = agent, flags: list[str] = flags) -> None:
            rc, lines = client(agent.url, *flags, "list")
            if agent is v03:  # v0.3 has no tasks/list: the SDK's compat client refuses
                assert rc == 1 and lines[0]["error"]["type"] == "NotImplementedError", lines
            else:
                assert rc == 0 and len(lines[0]["tasks"]) >= 3, lines

        for name, fn in [("send", send), ("stream", stream), ("states", states), ("script", script),
                         ("errors", errors), ("resubscribe", resubscribe), ("push", push), ("list", list_tasks)]:
            check(f"{label}: {name}", fn)

    def versions_do_not_mix() -> None:
        rc, lines = client(v10.url, "--v03", "send", "echo x")  # v0.3 names to a v1.0-only agent
        assert rc == 1 and lines[0]["error"]["code"] == -32601, lines
        rc, lines = client(v03.url + "/", "--no-card", "send", "echo x")  # v1.0 names to a v0.3 agent
        assert rc == 1 and lines[0]["error"]["code"] == -32601, lines
        out = one(v03.url + "/", "--no-card", "--v03", "send", "echo x")
        assert out["text"] == "x"
        wire = [r for r in v03.records() if r["binding"] == "jsonrpc"][-1]
        assert wire["method"] == "message/send" and wire["message"]["kind"] == "message", wire

    check("v1.0 and v0.3 method names stay apart", versions_do_not_mix)

    claims = {"iss": "hub:selftest", "sub": "user:alice", "chain": ["user:alice"]}

    def signed(agent: Agent, key: str, **extra: Any) -> dict[str, Any]:
        c = {**claims, "aud": f"agent:{agent.name}", **extra}
        rc, lines = client(agent.url, "send", "echo signed", "--sign-key", str(tmp / f"{key}.pem"), "--sign-claims", json.dumps(c))
        assert rc == 0, lines
        return lines[0]

    for guard in (agents["guard"], agents["guard03"]):
        def verification(guard: Agent = guard) -> None:
            for key in ("ed", "ec"):
                out = signed(guard, key)
                assert out["state"] == "TASK_STATE_COMPLETED" and seen_of(out)["verified"] is True, out
                assert seen_of(out)["signature"]["sub"] == "user:alice"
            cases = [
                ({}, None, "missing"),
                ({"aud": "agent:someone-else"}, "ed", "wrong_audience"),
                ({}, "stranger", "unknown_key"),
                ({"iat": 1000}, "ed", "stale"),
                ({"chain": ["user:bob"]}, "ed", "malformed"),
            ]
            for extra, key, reason in cases:
                if key is None:
                    out = one(guard.url, "send", "echo unsigned")
                else:
                    out = signed(guard, key, **extra)
                assert out["state"] == "TASK_STATE_FAILED" and out["text"] == f"signature: {reason}", (reason, out)
            nonce = f"fixed-{guard.name}-{time.time_ns()}"
            assert signed(guard, "ed", nonce=nonce)["state"] == "TASK_STATE_COMPLETED"
            assert signed(guard, "ed", nonce=nonce)["text"] == "signature: replayed"
            # A signature object that does not match the message.
            sig = json.loads(json.dumps(signed(guard, "ed")["task"]["artifacts"][0]["metadata"]["seen"]["signature"]))
            sig["nonce"] = "another-nonce"
            out = one(guard.url, "send", "echo x", "--metadata", json.dumps({"agenthub/signature": sig}))
            assert out["text"] == "signature: bad_signature", out

        check(f"{guard.name}: signature verification", verification)

    def delegate_direct() -> None:
        out = one(agents["boss"].url, "--header", f"traceparent: {TRACEPARENT}", "send", "delegate v10 echo deep",
                  "--context", "ctx-d", "--sign-key", str(tmp / "ed.pem"),
                  "--sign-claims", json.dumps({**claims, "aud": "agent:boss"}))
        assert out["state"] == "TASK_STATE_COMPLETED" and out["text"] == "deep", out
        reply_seen = out["task"]["artifacts"][0]["metadata"]["delegate"]["replySeen"]["seen"]
        assert reply_seen["contextId"] == "ctx-d" and reply_seen["traceparent"] == TRACEPARENT, reply_seen
        parent = reply_seen["messageMetadata"]["agenthub/parent"]
        assert parent["sub"] == "user:alice" and parent["aud"] == "agent:boss" and parent["jws"], parent
        out = one(agents["boss03"].url, "send", "delegate v03 echo to-v03")
        assert out["text"] == "to-v03", out

    def delegate_refused() -> None:
        out = one(agents["boss-guard"].url, "send", "delegate guard echo x")
        assert out["state"] == "TASK_STATE_FAILED" and out["text"].endswith("signature: missing"), out
        assert one(agents["boss-key"].url, "send", "delegate locked echo x")["text"] == "x"
        locked = agents["locked"].records()
        assert locked and all(r["authorization"] for r in locked if r["binding"] != "card")
        out = one(agents["boss-nokey"].url, "send", "delegate locked echo x")
        assert out["state"] == "TASK_STATE_FAILED" and out["text"].startswith("delegate: HTTP 401"), out

    def delegate_signed_by_agent() -> None:
        # boss-signer signs what it delegates (iss agent:boss-signer, aud agent:guard, the chain
        # extended); guard checks it against the JWKS holding the same key.
        out = one(agents["boss-signer"].url, "send", "delegate guard echo signed-by-agent", "--sign-key",
                  str(tmp / "ec.pem"), "--sign-claims", json.dumps({**claims, "aud": "agent:boss-signer"}))
        assert out["state"] == "TASK_STATE_COMPLETED" and out["text"] == "signed-by-agent", out
        reply_seen = out["task"]["artifacts"][0]["metadata"]["delegate"]["replySeen"]["seen"]
        sig = reply_seen["signature"]
        assert reply_seen["verified"] is True and sig["iss"] == "agent:boss-signer" and sig["aud"] == "agent:guard", sig
        assert sig["sub"] == "user:alice" and sig["chain"] == ["user:alice", "agent:boss-signer"], sig
        with urllib.request.urlopen(agents["boss-signer"].url + "/.well-known/jwks.json", timeout=5) as resp:  # noqa: S310
            published = json.load(resp)
        assert published["keys"][0]["kid"] == public_jwk(load_key(tmp / "ed.pem"))["kid"], published

    def delegate_through_hub_path() -> None:
        out = one(agents["boss-hub"].url, "send", "delegate v10 echo via-hub")
        assert out["text"] == "via-hub", out
        out = one(agents["boss-hub"].url, "send", "delegate deny echo x")
        assert out["state"] == "TASK_STATE_FAILED", out
        assert out["text"] == "delegate: -32010 agent:shim-caller may not call agent:deny", out

    check("delegate --direct (v1.0, v0.3)", delegate_direct)
    check("delegate refused (signature, token)", delegate_refused)
    check("delegate signed by the agent (--sign-key)", delegate_signed_by_agent)
    check("delegate via <hub>/a2a/<agent>", delegate_through_hub_path)

    def record_lines() -> None:
        recs = agents["v10"].records()
        assert all({"method", "headers", "authorization", "traceparent", "a2aVersion"} <= set(r) for r in recs)
        sends = [r for r in recs if r["method"] == "SendMessage"]
        assert sends and all(r["message"]["role"] == "ROLE_USER" for r in sends)

    check("--record lines", record_lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
