"""The official Python MCP SDK (`mcp`) against the hub's /mcp, in every connection mode: the
federated tools, prompts and resources of server-everything (registered as `ev`), listed page
by page (the hub pages by 5 here), with the hub's keys, and a long call's progress relayed to
the caller.

Run by hub/tests/mcp_sdk.rs. The admin may use every tool; the user key's owner may list and
call `ev/get-sum` only.
"""

import asyncio

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from checks import ADMIN_KEY, HUB, USER_KEY, check, eq, in_mode, run

MODES = ["auto", "legacy", "2026-07-28"]


def client(key, mode):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return Client(streamable_http_client(f"{HUB}/mcp", http_client=http), mode=mode)


def text_of(result):
    return " ".join(getattr(part, "text", "") for part in result.content)


async def every_page(list_page, field):
    """Every item of a list, page after page (the hub pages by 5 in this test); the pages."""
    items, cursor, pages = [], None, 0
    while True:
        page = await list_page(cursor=cursor)
        items.extend(getattr(page, field))
        pages += 1
        cursor = page.next_cursor
        if not cursor:
            return items, pages
        assert pages < 50, "the cursor never ends"


async def all_tools(session):
    return await every_page(session.list_tools, "tools")


async def admin_sees_and_calls(mode):
    async with client(ADMIN_KEY, mode) as session:
        tools, pages = await all_tools(session)
        names = [t.name for t in tools]
        assert pages > 1 and len(names) == len(set(names)), (pages, names)
        assert len(names) > 5, names
        assert "ev__echo" in names and "ev__get-sum" in names, names
        assert all(n.startswith("ev__") for n in names), names
        echo = next(t for t in tools if t.name == "ev__echo")
        assert echo.input_schema["properties"]["message"], echo.input_schema
        result = await session.call_tool("ev__echo", {"message": "through the hub"})
        assert "through the hub" in text_of(result), result
        result = await session.call_tool("ev__get-sum", {"a": 19, "b": 23})
        assert "42" in text_of(result), result


async def user_sees_only_its_tool(mode):
    async with client(USER_KEY, mode) as session:
        tools, pages = await all_tools(session)
        names = [t.name for t in tools]
        eq(pages, 1, f"{mode}: the user's one page")
        eq(names, ["ev__get-sum"], f"{mode}: the user's tools")
        result = await session.call_tool("ev__get-sum", {"a": 1, "b": 2})
        assert "3" in text_of(result), result
        try:
            await session.call_tool("ev__echo", {"message": "no"})
        except MCPError as error:
            eq(error.error.code, -32602, f"{mode}: a forbidden tool's error code")
        else:
            raise AssertionError(f"{mode}: echo should be refused")


async def bad_arguments_are_refused(mode):
    async with client(ADMIN_KEY, mode) as session:
        try:
            await session.call_tool("ev__get-sum", {"a": "one", "b": 2})
        except MCPError as error:
            eq(error.error.code, -32602, f"{mode}: invalid arguments' error code")
            assert "/a" in error.error.message, error.error.message
        else:
            raise AssertionError(f"{mode}: a string for a number should be refused")


async def prompts_are_federated(mode):
    async with client(ADMIN_KEY, mode) as session:
        prompts, _ = await every_page(session.list_prompts, "prompts")
        names = [p.name for p in prompts]
        assert "ev__args-prompt" in names, names
        result = await session.get_prompt("ev__args-prompt", {"city": "Lisbon"})
        text = " ".join(getattr(m.content, "text", "") for m in result.messages)
        assert "Lisbon" in text, result
    async with client(USER_KEY, mode) as session:
        eq((await session.list_prompts()).prompts, [], f"{mode}: the user's prompts")


async def progress_reaches_the_caller(mode):
    heard = []

    async def on_progress(progress, total, message):
        heard.append((progress, total))

    async with client(ADMIN_KEY, mode) as session:
        result = await session.call_tool(
            "ev__trigger-long-running-operation",
            {"duration": 1, "steps": 4},
            progress_callback=on_progress,
        )
        assert "Long running operation completed" in text_of(result), result
        # The SDK runs each progress callback in a task of its own: the last may trail the answer.
        for _ in range(100):
            if len(heard) >= 4:
                break
            await asyncio.sleep(0.02)
        eq(heard, [(1, 4), (2, 4), (3, 4), (4, 4)], f"{mode}: the progress heard")


ARCHITECTURE = "hub://ev/demo://resource/static/document/architecture.md"
TEXT_TEMPLATE = "hub://ev/demo://resource/dynamic/text/{resourceId}"


async def resources_are_federated(mode):
    async with client(ADMIN_KEY, mode) as session:
        resources, pages = await every_page(session.list_resources, "resources")
        uris = [str(r.uri) for r in resources]
        assert pages > 1 and len(uris) == len(set(uris)), (pages, uris)
        assert ARCHITECTURE in uris, uris
        assert all(u.startswith("hub://ev/demo://") for u in uris), uris
        templates, _ = await every_page(
            session.list_resource_templates, "resource_templates"
        )
        assert TEXT_TEMPLATE in [t.uri_template for t in templates], templates
        result = await session.read_resource(ARCHITECTURE)
        eq([str(c.uri) for c in result.contents], [ARCHITECTURE], f"{mode}: the read's URI")
        assert "Architecture" in result.contents[0].text, result
        uri = "hub://ev/demo://resource/dynamic/text/6"
        result = await session.read_resource(uri)
        eq(str(result.contents[0].uri), uri, f"{mode}: a templated read's URI")
        assert result.contents[0].text.startswith("Resource 6: "), result
    async with client(USER_KEY, mode) as session:
        eq((await session.list_resources()).resources, [], f"{mode}: the user's resources")
        try:
            await session.read_resource(ARCHITECTURE)
        except MCPError as error:
            eq(error.error.code, -32602, f"{mode}: a forbidden resource's error code")
        else:
            raise AssertionError(f"{mode}: reading a forbidden resource should be refused")


for mode in MODES:
    for scenario in (
        admin_sees_and_calls,
        user_sees_only_its_tool,
        bad_arguments_are_refused,
        prompts_are_federated,
        resources_are_federated,
        progress_reaches_the_caller,
    ):
        check(in_mode(scenario, mode))

if __name__ == "__main__":
    run("mcp")
