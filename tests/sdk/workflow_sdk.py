"""The official Python MCP SDK (`mcp`) driving the bundled Slack, Jira and Sentry servers
through the hub's /mcp, as an agent would: urgent messages read from Slack's #support become
Jira issues, each answered in its Slack thread with the issue's key, and the Sentry issue behind
the first is found and linked in Jira with its owners.

Run by hub/tests/bundled_servers_sdk.rs, against the fakes of the three services. The user
key's owner is granted the three servers' tools.
"""

import asyncio
import json

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from checks import HUB, USER_KEY, check, eq, that, run


def client():
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {USER_KEY}"}, timeout=30)
    return Client(streamable_http_client(f"{HUB}/mcp", http_client=http))


async def call(session, tool, arguments):
    result = await session.call_tool(tool, arguments)
    text = " ".join(getattr(part, "text", "") for part in result.content)
    that(not result.is_error, f"{tool} failed: {text}")
    that(result.structured_content is not None, f"{tool} gave no structured content")
    return result.structured_content


async def triage():
    async with client() as session:
        names = {t.name for t in (await session.list_tools()).tools}
        for tool in ["slack__read_channel", "slack__post_message", "jira__create_issue",
                     "jira__add_comment", "sentry__search_issues", "sentry__get_issue"]:
            that(tool in names, f"{tool} is not listed: {sorted(names)}")

        channel = await call(session, "slack__read_channel", {"channel": "#support", "oldest": "2025-11-27T00:00:00Z"})
        urgent = [m for m in channel["messages"] if "urgent" in m["text"].lower()]
        eq(len(urgent), 2, "urgent messages in #support")

        keys = []
        for message in urgent:
            created = await call(session, "jira__create_issue", {
                "project": "CHK",
                "summary": message["text"][:120],
                "issue_type": "Bug",
                "description": f"Reported in Slack #support by <{message['user']}>:\n\n> {message['text']}\n\nSlack ts: `{message['ts']}`",
                "labels": ["from-slack", "urgent"],
            })
            keys.append(created["key"])
            await call(session, "slack__post_message", {
                "channel": "#support", "thread_ts": message["ts"], "text": f"Tracked as {created['key']}: {created['url']}",
            })

        found = await call(session, "sentry__search_issues", {"query": "ZeroDivisionError", "project": "checkout"})
        eq(len(found["issues"]), 1, "Sentry issues for the checkout error")
        sentry = await call(session, "sentry__get_issue", {"issue": found["issues"][0]["short_id"]})
        owners = ", ".join(o["owner"] for o in sentry["owners"])
        crash = sentry["latest_event"]["stack"][0]
        checkout_key = keys[[i for i, m in enumerate(urgent) if "checkout" in m["text"].lower()][0]]
        await call(session, "jira__add_comment", {
            "issue": checkout_key,
            "body": f"Sentry: [{sentry['issue']['short_id']}]({sentry['issue']['permalink']}) — "
                    f"`{sentry['latest_event']['exception']['type']}` in `{crash['function']}` ({crash['file']}:{crash['line']}). Owners: {owners}",
        })
        print(json.dumps({"jira": keys, "linked": checkout_key, "sentry": sentry["issue"]["short_id"]}))


@check
def urgent_slack_messages_become_jira_issues_linked_to_sentry():
    asyncio.run(triage())


if __name__ == "__main__":
    run("mcp (bundled servers)")
