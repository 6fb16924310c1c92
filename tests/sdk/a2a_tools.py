"""The official Python MCP SDK (`mcp`) delegating to A2A agents built with the a2a-sdk, through
the hub: every registered agent is a tool of the hub's /mcp, and a call is one A2A exchange made
as the MCP caller — signed by the hub (the agent verifies it against the hub's JWKS), traced, and
able to delegate further.

Run by hub/tests/a2a_sdk.rs against its lab: planner (v1.0), booker (v0.3) and checker (v1.0),
tests/a2a/agent.py. What each agent saw of a message is in its answer's artifact metadata
(`seen`), read back here from the trace the tool result names.
"""

import asyncio
import json

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from checks import ADMIN_KEY, HUB, check, eq, in_mode, run, that

MODES = ["auto", "legacy", "2026-07-28"]
AGENT_TOOLS = ["a2a__booker", "a2a__checker", "a2a__planner"]


def client(mode):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
    return Client(streamable_http_client(f"{HUB}/mcp", http_client=http), mode=mode)


def text_of(result):
    return " ".join(getattr(part, "text", "") for part in result.content)


async def trace(trace_id):
    """The trace a tool call made, once its root span has ended (traces are stored in batches)."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
        for _ in range(200):
            answer = await http.get(f"{HUB}/api/v1/traces/{trace_id}")
            if answer.status_code == 200:
                body = answer.json()
                if body["spans"] and body["spans"][0].get("outcome"):
                    return body
            await asyncio.sleep(0.05)
    raise AssertionError(f"trace {trace_id} never showed")


def seen_by_agent(span):
    """What the agent of `span` saw of the message: its answer's first artifact's `seen`."""
    for event in span["events"]:
        body = event.get("body") or {}
        artifacts = (body.get("task") or {}).get("artifacts") or []
        if artifacts:
            return artifacts[0].get("metadata", {}).get("seen")
    raise AssertionError(f"no artifact in span {json.dumps(span)[:2000]}")


async def agents_are_tools_and_calls_are_signed_exchanges(mode):
    async with client(mode) as session:
        tools = (await session.list_tools()).tools
        names = sorted(t.name for t in tools if t.name.startswith("a2a__"))
        eq(names, AGENT_TOOLS, f"{mode}: the agents' tools")
        booker = next(t for t in tools if t.name == "a2a__booker")
        eq(booker.input_schema["required"], ["message"], f"{mode}: the tool's required input")

        # booker speaks v0.3: the hub translates, and signs in the v1.0 form it verifies.
        for agent in ["booker", "planner"]:
            result = await session.call_tool(f"a2a__{agent}", {"message": f"echo hello {agent}"})
            that(not result.is_error, f"{mode}: {agent} failed: {result}")
            eq(text_of(result), f"hello {agent}", f"{mode}: {agent}'s answer")
            structured = result.structured_content
            eq(structured["agent"], agent, f"{mode}: the answering agent")
            eq(structured["state"], "TASK_STATE_COMPLETED", f"{mode}: {agent}'s task")
            span = (await trace(structured["traceId"]))["spans"][0]
            eq(span["chain"], ["user:admin"], f"{mode}: {agent}'s chain")
            seen = seen_by_agent(span)
            eq(seen["verified"], True, f"{mode}: {agent} verified the hub's signature: {seen}")
            eq(seen["signature"]["aud"], f"agent:{agent}", f"{mode}: the signature's audience")
            eq(seen["signature"]["chain"], ["user:admin"], f"{mode}: the signed chain")


async def a_tool_call_delegates_down_a_chain(mode):
    async with client(mode) as session:
        result = await session.call_tool("a2a__planner", {"message": "delegate booker echo from mcp"})
        that(not result.is_error, f"{mode}: the delegation failed: {result}")
        eq(text_of(result), "from mcp", f"{mode}: the delegated answer")
        body = await trace(result.structured_content["traceId"])
        root = body["spans"][0]
        eq(root["agent"], "planner", f"{mode}: the root span")
        children = root["children"]
        eq([c["agent"] for c in children], ["booker"], f"{mode}: the delegated span")
        eq(children[0]["chain"], ["user:admin", "agent:planner"], f"{mode}: the chain at booker")
        seen = seen_by_agent(children[0])
        eq(seen["verified"], True, f"{mode}: booker verified the hub's signature")
        eq(seen["signature"]["chain"], ["user:admin", "agent:planner"], f"{mode}: the signed chain")


for mode in MODES:
    check(in_mode(agents_are_tools_and_calls_are_signed_exchanges, mode))
check(in_mode(a_tool_call_delegates_down_a_chain, "auto"))

if __name__ == "__main__":
    run("mcp (agents as tools)")
