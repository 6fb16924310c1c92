"""agenthub_a2a: verify (and make) the signatures agenthub puts on the A2A messages it relays.

    from agenthub_a2a import JwksCache, verify_message, message_to_dict, SignatureError
    claims = verify_message(message_to_dict(context.message), JwksCache(hub + "/.well-known/jwks.json"),
                            audience="agent:booker")

See sdk/python/README.md and the format in the agenthub signing spec.
"""

from .cards import card_signing_payload, prune_empty_values, sign_card, verify_card
from .jcs import CanonicalizationError, canonical_bytes, canonicalize, format_number, prune_empty
from .jwks import JwksCache, fetch_jwks
from .proto import message_to_dict, signature_of, v03_message_to_dict
from .signing import (
    ALGORITHMS,
    PARENT_KEY,
    REASONS,
    SIGNATURE_KEY,
    KeyResolver,
    NonceCache,
    SignatureError,
    b64url,
    b64url_decode,
    canonical_message,
    generate_private_key,
    jwk_thumbprint,
    public_jwk,
    public_key_from_jwk,
    sign_message,
    signing_payload,
    verify_message,
)

__all__ = [
    "ALGORITHMS",
    "PARENT_KEY",
    "REASONS",
    "SIGNATURE_KEY",
    "CanonicalizationError",
    "JwksCache",
    "KeyResolver",
    "NonceCache",
    "SignatureError",
    "b64url",
    "b64url_decode",
    "canonical_bytes",
    "card_signing_payload",
    "canonical_message",
    "canonicalize",
    "fetch_jwks",
    "format_number",
    "generate_private_key",
    "jwk_thumbprint",
    "message_to_dict",
    "prune_empty",
    "prune_empty_values",
    "public_jwk",
    "public_key_from_jwk",
    "sign_card",
    "sign_message",
    "signature_of",
    "signing_payload",
    "v03_message_to_dict",
    "verify_card",
    "verify_message",
]
