"""Signed agent cards (A2A v1.0 `signatures`), computed as the official a2a-sdk computes them.

The payload is the RFC 8785 form of the card without `signatures`, with every null, "", [] and
{} removed, array elements included (a2a-sdk's `_clean_empty`; messages keep empty array
elements, cards do not). Each signature is `{"protected": b64url(header), "signature": b64url}`
with the header `{"alg","jku"?,"kid","typ":"JOSE"}`.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from .jcs import canonical_bytes
from .signing import (
    KeyResolver,
    PrivateKey,
    SignatureError,
    _resolve_key,
    b64url,
    check_signature,
    decode_protected_header,
    public_jwk,
    raw_signature,
)

__all__ = ["card_signing_payload", "prune_empty_values", "sign_card", "verify_card"]


def prune_empty_values(value: Any) -> Any:
    """Removes, bottom-up, every null, "", [] and {}: object members and array elements alike."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = prune_empty_values(item)
            if not _empty(item):
                out[key] = item
        return out
    if isinstance(value, (list, tuple)):
        return [item for item in map(prune_empty_values, value) if not _empty(item)]
    return value


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def card_signing_payload(card: Mapping[str, Any]) -> bytes:
    unsigned = {k: copy.deepcopy(v) for k, v in card.items() if k != "signatures"}
    return canonical_bytes(prune_empty_values(unsigned))


def sign_card(card: Mapping[str, Any], private_key: PrivateKey, kid: str | None = None, jku: str | None = None) -> dict[str, str]:
    """A signature for `card` (append it to card["signatures"])."""
    jwk = public_jwk(private_key, kid=kid)
    header: dict[str, Any] = {"alg": jwk["alg"], "kid": jwk["kid"], "typ": "JOSE"}
    if jku:
        header["jku"] = jku
    protected = b64url(canonical_bytes(header))
    signing_input = protected.encode("ascii") + b"." + b64url(card_signing_payload(card)).encode("ascii")
    return {"protected": protected, "signature": b64url(raw_signature(private_key, jwk["alg"], signing_input))}


def verify_card(card: Mapping[str, Any], jwks: Mapping[str, Any] | KeyResolver) -> list[str]:
    """The kids that signed the card, in order; [] for an unsigned card (policy is the caller's).

    Stricter than a2a-sdk (which accepts a card when any signature holds), like the Rust side:
    one bad or unknown signature fails the card. `jku` in a header is not followed; the caller
    picks the keys.
    """
    if not isinstance(card, Mapping):
        raise SignatureError("malformed", "the agent card is not an object")
    signatures = card.get("signatures")
    if signatures is None:
        return []
    if not isinstance(signatures, list):
        raise SignatureError("malformed", "the card's signatures is not an array")
    payload = card_signing_payload(card)
    kids = []
    for sig in signatures:
        if not isinstance(sig, Mapping) or not isinstance(sig.get("protected"), str) or not isinstance(sig.get("signature"), str):
            raise SignatureError("malformed", "a card signature lacks 'protected' or 'signature'")
        header = decode_protected_header(sig["protected"])
        public_key, key_alg, jwk = _resolve_key(jwks, header["kid"])
        check_signature(sig["protected"], sig["signature"], payload, header["alg"], public_key, key_alg, jwk)
        kids.append(header["kid"])
    return kids
