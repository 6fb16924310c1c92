"""Bridging a2a-sdk's protobuf types to the JSON form the signature covers."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["message_to_dict", "v03_message_to_dict", "signature_of"]


def message_to_dict(proto_message: Any) -> dict[str, Any]:
    """An a2a-sdk (1.x) `Message` protobuf as its A2A v1.0 JSON form (camelCase, ROLE_* enums).

    This is what an AgentExecutor verifies: `verify_message(message_to_dict(context.message), …)`.
    Protobuf drops empty fields and turns Struct numbers into doubles; the signing spec's
    pruning and JCS number form make that harmless.
    """
    from google.protobuf.json_format import MessageToDict  # only needed with a2a-sdk

    return MessageToDict(proto_message, preserving_proto_field_name=False)


def v03_message_to_dict(message: Mapping[str, Any]) -> dict[str, Any]:
    """A v0.3 JSON message (kind, parts[].kind, role "user") in the v1.0 form, via a2a-sdk's own conversion."""
    from a2a.compat.v0_3 import conversions
    from a2a.compat.v0_3 import types as types_v03

    core = conversions.to_core_message(types_v03.Message.model_validate(dict(message)))
    return message_to_dict(core)


def signature_of(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `agenthub/signature` object of a message dict, if it carries one."""
    from .signing import SIGNATURE_KEY

    metadata = message.get("metadata")
    sig = metadata.get(SIGNATURE_KEY) if isinstance(metadata, Mapping) else None
    return dict(sig) if isinstance(sig, Mapping) else None
