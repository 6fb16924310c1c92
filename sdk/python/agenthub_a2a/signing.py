"""agenthub A2A message signatures (format v1), as /work/notes/signing-spec.md defines them.

The signature travels in `message.metadata["agenthub/signature"]`:
    {"v": 1, "jws": "<b64url(header)>..<b64url(sig)>", "iss", "aud", "sub", "chain", "iat",
     "nonce", "traceparent"?}
and signs (detached) the JCS form of
    {"message": <the message, signature removed, empty members pruned>, "claims": <the object without "jws">}
with EdDSA (Ed25519) or ES256 (P-256, raw r||s).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from typing import Any, Mapping, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .jcs import CanonicalizationError, canonical_bytes, prune_empty

__all__ = [
    "SIGNATURE_KEY",
    "PARENT_KEY",
    "ALGORITHMS",
    "REASONS",
    "SignatureError",
    "NonceCache",
    "KeyResolver",
    "verify_message",
    "sign_message",
    "decode_protected_header",
    "check_signature",
    "raw_signature",
    "signing_payload",
    "canonical_message",
    "generate_private_key",
    "public_jwk",
    "jwk_thumbprint",
    "public_key_from_jwk",
    "b64url",
    "b64url_decode",
]

SIGNATURE_KEY = "agenthub/signature"
# Where an agent that delegates puts the signature it received, so the hub can extend the chain.
PARENT_KEY = "agenthub/parent"
ALGORITHMS = ("EdDSA", "ES256")
REASONS = (
    "missing",
    "malformed",
    "unknown_key",
    "bad_signature",
    "wrong_audience",
    "stale",
    "replayed",
    "unsupported_algorithm",
)
_REQUIRED = ("v", "jws", "iss", "aud", "sub", "chain", "iat", "nonce")


class SignatureError(Exception):
    """Verification failed; `reason` is one of REASONS, `detail` says more (for logs)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in REASONS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


# --- base64url --------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- nonces -----------------------------------------------------------------------------------


class NonceCache:
    """Nonces seen within the skew window, so a replayed message is refused.

    A nonce only has to be remembered as long as a message carrying it could still pass the
    `iat` check, i.e. `window` seconds (2 x max skew covers iat in the future, too). Thread-safe,
    since an async agent may verify from a worker thread. Bounded: the oldest entries go first.
    """

    def __init__(self, window: float = 600.0, max_entries: int = 100_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._seen:
            nonce, at = next(iter(self._seen.items()))
            if now - at <= self.window and len(self._seen) <= self.max_entries:
                break
            self._seen.popitem(last=False)

    def seen(self, nonce: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            self._expire(now)
            return nonce in self._seen

    def check_and_remember(self, nonce: str, now: float | None = None) -> bool:
        """Remembers the nonce; False if it was already there (one atomic step, for threads)."""
        now = time.time() if now is None else now
        with self._lock:
            self._expire(now)
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True

    def remember(self, nonce: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            self._seen[nonce] = now
            self._seen.move_to_end(nonce)
            self._expire(now)


# A default cache shared by calls that pass none: replay protection is per process.
_DEFAULT_NONCES = NonceCache()


# --- keys -------------------------------------------------------------------------------------

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


class KeyResolver(Protocol):
    """Anything that finds a JWK by kid (JwksCache does, refetching on an unknown kid)."""

    def find_key(self, kid: str) -> Mapping[str, Any] | None: ...


def generate_private_key(alg: str = "EdDSA") -> PrivateKey:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported algorithm {alg!r}")


def _int_b64(n: int, size: int) -> str:
    return b64url(n.to_bytes(size, "big"))


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url): the spec's kid."""
    if jwk.get("kty") == "OKP":
        members = {"crv": jwk["crv"], "kty": "OKP", "x": jwk["x"]}
    elif jwk.get("kty") == "EC":
        members = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    else:
        raise ValueError(f"unsupported kty {jwk.get('kty')!r}")
    # RFC 7638: required members only, sorted, no whitespace (JCS gives exactly that).
    return b64url(hashlib.sha256(canonical_bytes(members)).digest())


def public_jwk(key: PrivateKey | PublicKey, kid: str | None = None) -> dict[str, Any]:
    """The JWKS entry for a key (private keys give their public half); kid defaults to the thumbprint."""
    pub = key.public_key() if isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)) else key
    if isinstance(pub, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = pub.public_bytes(Encoding.Raw, PublicFormat.Raw)
        jwk: dict[str, Any] = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        alg = "EdDSA"
    elif isinstance(pub, ec.EllipticCurvePublicKey) and isinstance(pub.curve, ec.SECP256R1):
        nums = pub.public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _int_b64(nums.x, 32), "y": _int_b64(nums.y, 32)}
        alg = "ES256"
    else:
        raise ValueError("only Ed25519 and P-256 keys are supported")
    jwk.update({"kid": kid or jwk_thumbprint(jwk), "alg": alg, "use": "sig"})
    return jwk


def public_key_from_jwk(jwk: Mapping[str, Any]) -> tuple[PublicKey, str]:
    """(public key, the algorithm it is for); ValueError if the JWK is not one the spec allows."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "Ed25519":
        raw = b64url_decode(jwk["x"])
        if len(raw) != 32:
            raise ValueError("Ed25519 x must be 32 bytes")
        return ed25519.Ed25519PublicKey.from_public_bytes(raw), "EdDSA"
    if kty == "EC" and crv == "P-256":
        x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
        if len(x) != 32 or len(y) != 32:
            raise ValueError("P-256 x and y must be 32 bytes")
        nums = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1())
        return nums.public_key(), "ES256"
    raise ValueError(f"unsupported key type {kty!r}/{crv!r}")


def usable_jwk(jwk: Any) -> bool:
    """Whether a JWKS entry may verify anything: a signing key (`use` absent or "sig") with no
    private part (`d`), as the Rust side reads a JWKS; other entries are ignored."""
    return isinstance(jwk, Mapping) and jwk.get("use", "sig") == "sig" and "d" not in jwk


def _find_jwk(jwks: Mapping[str, Any] | KeyResolver, kid: str) -> Mapping[str, Any] | None:
    if hasattr(jwks, "find_key"):
        jwk = jwks.find_key(kid)  # type: ignore[union-attr]
        return jwk if usable_jwk(jwk) else None
    for jwk in jwks.get("keys", []) if isinstance(jwks, Mapping) else []:
        if usable_jwk(jwk) and jwk.get("kid") == kid:
            return jwk
    return None


# --- the payload ------------------------------------------------------------------------------


def canonical_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message as signed: `metadata["agenthub/signature"]` removed, then empty members pruned."""
    msg = copy.deepcopy(dict(message))
    metadata = msg.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop(SIGNATURE_KEY, None)
    return prune_empty(msg)


def signing_payload(message: Mapping[str, Any], claims: Mapping[str, Any]) -> bytes:
    """JCS({"message": canonical message, "claims": claims without "jws"}): the detached payload."""
    claims = {k: v for k, v in claims.items() if k != "jws"}
    return canonical_bytes({"message": canonical_message(message), "claims": claims})


def _signing_input(protected_b64: str, payload: bytes) -> bytes:
    return protected_b64.encode("ascii") + b"." + b64url(payload).encode("ascii")


# --- signing ----------------------------------------------------------------------------------


def sign_message(
    message: Mapping[str, Any],
    claims: Mapping[str, Any],
    private_key: PrivateKey,
    kid: str | None = None,
    alg: str | None = None,
) -> dict[str, Any]:
    """A copy of `message` carrying `metadata["agenthub/signature"]`.

    `claims` needs iss, aud, sub and chain (traceparent optional); v, iat and nonce are filled
    in when absent. kid defaults to the key's RFC 7638 thumbprint, alg to the key's algorithm.
    """
    key_alg = "EdDSA" if isinstance(private_key, ed25519.Ed25519PrivateKey) else "ES256"
    alg = alg or key_alg
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported algorithm {alg!r}")
    kid = kid or public_jwk(private_key)["kid"]
    full = {"v": 1, "iat": int(time.time()), "nonce": b64url(os.urandom(16))}
    full.update({k: v for k, v in claims.items() if k != "jws"})
    for field in ("iss", "aud", "sub", "chain"):
        if field not in full:
            raise ValueError(f"claims lack {field!r}")

    # JCS member order, as the Rust signer writes it, so Ed25519 signatures are reproducible.
    header = {"alg": alg, "kid": kid, "typ": "JOSE"}
    protected = b64url(canonical_bytes(header))
    sig = raw_signature(private_key, alg, _signing_input(protected, signing_payload(message, full)))

    signed = copy.deepcopy(dict(message))
    metadata = signed.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, Mapping) else {}
    metadata[SIGNATURE_KEY] = {**full, "jws": f"{protected}..{b64url(sig)}"}
    signed["metadata"] = metadata
    return signed


# --- verifying --------------------------------------------------------------------------------


def decode_protected_header(protected_b64: str) -> dict[str, Any]:
    """The protected header, checked as the Rust side checks it: no `crit`, `b64` only true,
    `alg` present (else malformed) and allowed (else unsupported_algorithm), `kid` non-empty,
    `jku` a string when present. `typ` is not checked."""
    try:
        header = json.loads(b64url_decode(protected_b64))
    except (ValueError, UnicodeDecodeError):
        raise SignatureError("malformed", "the protected header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise SignatureError("malformed", "the protected header is not an object")
    if "crit" in header:  # no extension is understood, so RFC 7515 says refuse
        raise SignatureError("malformed", "the protected header has 'crit'")
    if "b64" in header and header["b64"] is not True:
        raise SignatureError("malformed", "unencoded payloads (b64) are not supported")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise SignatureError("malformed", "the protected header has no alg")
    if alg not in ALGORITHMS:
        raise SignatureError("unsupported_algorithm", f"alg {alg!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SignatureError("malformed", "the protected header has no kid")
    if header.get("jku") is not None and not isinstance(header["jku"], str):
        raise SignatureError("malformed", "jku is not a string")
    return header


def _resolve_key(jwks: Mapping[str, Any] | KeyResolver, kid: str) -> tuple[PublicKey, str, Mapping[str, Any]]:
    jwk = _find_jwk(jwks, kid)
    if jwk is None:
        raise SignatureError("unknown_key", f"kid {kid!r}")
    try:
        public_key, key_alg = public_key_from_jwk(jwk)
    except (ValueError, KeyError, TypeError) as e:
        raise SignatureError("unknown_key", f"kid {kid!r} is not a usable key: {e}") from None
    return public_key, key_alg, jwk


def check_signature(
    protected_b64: str,
    sig_b64: str,
    payload: bytes,
    alg: str,
    public_key: PublicKey,
    key_alg: str,
    jwk: Mapping[str, Any],
) -> None:
    """Raises SignatureError unless sig_b64 signs protected_b64 + "." + b64url(payload)."""
    try:
        signature = b64url_decode(sig_b64)
    except ValueError:
        raise SignatureError("malformed", "the signature is not base64url") from None
    # A key published for the other algorithm cannot have made this signature.
    if key_alg != alg or (jwk.get("alg") not in (None, alg)):
        raise SignatureError("bad_signature", f"key {jwk.get('kid')!r} is not an {alg} key")
    signing_input = _signing_input(protected_b64, payload)
    try:
        if alg == "EdDSA":
            public_key.verify(signature, signing_input)  # type: ignore[call-arg]
        else:
            if len(signature) != 64:
                raise InvalidSignature()
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg]
    except InvalidSignature:
        raise SignatureError("bad_signature", "the signature does not match") from None


def raw_signature(private_key: PrivateKey, alg: str, signing_input: bytes) -> bytes:
    """The JWS signature bytes: Ed25519's 64 bytes, or ES256's raw r||s (not DER)."""
    if alg == "EdDSA":
        if not isinstance(private_key, ed25519.Ed25519PrivateKey):
            raise ValueError("EdDSA needs an Ed25519 key")
        return private_key.sign(signing_input)
    if alg == "ES256":
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("ES256 needs a P-256 key")
        r, s = decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise ValueError(f"unsupported algorithm {alg!r}")


def _is_int(value: Any) -> bool:
    # A protobuf Struct turns every number into a double, so 1764180000.0 is an integer here.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def verify_message(
    message: Mapping[str, Any],
    jwks: Mapping[str, Any] | KeyResolver,
    audience: str,
    max_skew: float = 300,
    nonces: NonceCache | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Verifies the message's agenthub signature; returns its claims.

    The claims are the signature object without "jws" and "v" (iss, aud, sub, chain, iat as an
    int, nonce, traceparent when present, and any other member the signer added).
    `message` is the A2A v1.0 JSON form (use message_to_dict for an a2a-sdk protobuf Message).
    `jwks` is a JWKS dict or a KeyResolver such as JwksCache. Raises SignatureError. A message
    with several faults reports the first of, in this order (the Rust verifier's): missing,
    malformed, unsupported_algorithm, unknown_key, wrong_audience, stale, malformed (chain),
    bad_signature, replayed. The nonce is checked and remembered only once the signature is
    good, so a forged message cannot burn a real one.
    """
    nonces = _DEFAULT_NONCES if nonces is None else nonces
    now = time.time() if now is None else now

    metadata = message.get("metadata") if isinstance(message, Mapping) else None
    if not isinstance(metadata, Mapping) or SIGNATURE_KEY not in metadata:
        raise SignatureError("missing", "no metadata[\"agenthub/signature\"]")
    sig = metadata[SIGNATURE_KEY]
    if not isinstance(sig, Mapping):
        raise SignatureError("malformed", "the signature is not an object")
    for field in _REQUIRED:
        if field not in sig:
            raise SignatureError("malformed", f"no {field!r}")
    if not _is_int(sig["v"]) or int(sig["v"]) != 1:
        raise SignatureError("malformed", f"unknown version {sig['v']!r}")
    for field in ("jws", "iss", "aud", "sub", "nonce"):
        if not isinstance(sig[field], str) or not sig[field]:
            raise SignatureError("malformed", f"{field!r} is not a non-empty string")
    if not _is_int(sig["iat"]):
        raise SignatureError("malformed", "'iat' is not an integer")
    if "traceparent" in sig and not isinstance(sig["traceparent"], str):
        raise SignatureError("malformed", "'traceparent' is not a string")
    chain = sig["chain"]
    if not isinstance(chain, list) or not all(isinstance(c, str) for c in chain):
        raise SignatureError("malformed", "'chain' is not a list of strings")

    # Detached compact JWS: header..signature (the payload part is empty).
    pieces = sig["jws"].split(".")
    if len(pieces) != 3 or pieces[1] != "":
        raise SignatureError("malformed", "'jws' is not in the detached compact form")
    protected_b64, sig_b64 = pieces[0], pieces[2]
    header = decode_protected_header(protected_b64)
    alg, kid = header["alg"], header["kid"]
    public_key, key_alg, jwk = _resolve_key(jwks, kid)

    if sig["aud"] != audience:
        raise SignatureError("wrong_audience", f"for {sig['aud']!r}, not {audience!r}")
    if abs(now - int(sig["iat"])) > max_skew:
        raise SignatureError("stale", f"iat {int(sig['iat'])} is {int(now - int(sig['iat']))} s from now")
    if not chain or chain[0] != sig["sub"]:
        raise SignatureError("malformed", "'chain' is empty or does not start with 'sub'")

    signed_claims = {k: v for k, v in sig.items() if k != "jws"}
    try:
        payload = signing_payload(message, signed_claims)
    except CanonicalizationError as e:
        raise SignatureError("malformed", f"the message has no canonical form: {e}") from None
    check_signature(protected_b64, sig_b64, payload, alg, public_key, key_alg, jwk)

    # The nonce last, as the Rust verifier does: only a genuine message is remembered, so
    # forged ones cannot fill the cache or burn a real nonce.
    if not nonces.check_and_remember(sig["nonce"], now):
        raise SignatureError("replayed", f"nonce {sig['nonce']!r} was seen before")
    claims = {k: v for k, v in signed_claims.items() if k != "v"}
    claims["iat"] = int(claims["iat"])  # 1764180000.0 after a protobuf round trip
    return claims
