"""Verifying inside an a2a-sdk (1.x) agent. Imports a2a-sdk, so it is not loaded by the package.

Why a context builder: before the executor runs, a2a-sdk writes the task id and context id it
mints into the incoming message (RequestContext fills in `message.task_id`/`context_id` when
the sender left them out, as a first message does). The signature covers the message as it was
sent, so `message_to_dict(context.message)` would not verify. `ReceivedMessageContextBuilder`
keeps a copy of the message as it arrived; `received_message(context)` returns it.

    handler = DefaultRequestHandler(executor, InMemoryTaskStore(), card,
                                    request_context_builder=ReceivedMessageContextBuilder())
    ...
    claims = verify_message(received_message(context), jwks, audience="agent:me")
"""

from __future__ import annotations

from typing import Any

from a2a.server.agent_execution import RequestContext, SimpleRequestContextBuilder
from a2a.server.context import ServerCallContext
from a2a.types import SendMessageRequest, Task

from .proto import message_to_dict

__all__ = ["ReceivedMessageContextBuilder", "received_message", "RECEIVED_MESSAGE_STATE"]

RECEIVED_MESSAGE_STATE = "agenthub_a2a.received_message"


class ReceivedMessageContextBuilder(SimpleRequestContextBuilder):
    """A SimpleRequestContextBuilder that first saves the incoming message, untouched."""

    async def build(
        self,
        context: ServerCallContext,
        params: SendMessageRequest | None = None,
        task_id: str | None = None,
        context_id: str | None = None,
        task: Task | None = None,
    ) -> RequestContext:
        if params is not None and params.HasField("message"):
            context.state[RECEIVED_MESSAGE_STATE] = message_to_dict(params.message)
        return await super().build(context=context, params=params, task_id=task_id, context_id=context_id, task=task)


def received_message(context: RequestContext) -> dict[str, Any]:
    """The message as it arrived (v1.0 JSON form), or, without the builder, as the executor sees it."""
    saved = context.call_context.state.get(RECEIVED_MESSAGE_STATE)
    if saved is not None:
        return saved
    return message_to_dict(context.message) if context.message is not None else {}
