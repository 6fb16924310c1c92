"""Tests of agenthub_a2a (the Python side of agenthub's A2A message signatures).

Run with plain Python, no pytest:  python sdk/python/tests/test_signing.py
It needs `cryptography`; the protobuf round trip also needs a2a-sdk (skipped without it).
When a2a-bus/tests/data/signature-vectors.json exists (the Rust side's shared vectors), every
vector in it must give its expected result; without it that check is skipped with a notice.
Prints one line per test and ends with "N passed, N failed, N skipped".
"""

from __future__ import annotations

import copy
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve()
REPO = HERE.parents[3]
sys.path.insert(0, str(HERE.parents[1]))  # sdk/python

from agenthub_a2a import (  # noqa: E402
    SIGNATURE_KEY,
    JwksCache,
    NonceCache,
    SignatureError,
    b64url,
    b64url_decode,
    canonicalize,
    generate_private_key,
    jwk_thumbprint,
    prune_empty,
    public_jwk,
    sign_message,
    signing_payload,
    verify_message,
)

VECTORS = REPO / "a2a-bus" / "tests" / "data" / "signature-vectors.json"

TESTS: list[Callable[[], None]] = []


class Skip(Exception):
    pass


def test(fn: Callable[[], None]) -> Callable[[], None]:
    TESTS.append(fn)
    return fn


def expect_error(reason: str, fn: Callable[[], Any]) -> SignatureError:
    try:
        fn()
    except SignatureError as e:
        assert e.reason == reason, f"expected {reason}, got {e.reason} ({e})"
        return e
    raise AssertionError(f"expected SignatureError({reason}), nothing raised")


NOW = 1_764_180_000


def sample_message() -> dict[str, Any]:
    return {
        "messageId": "m-1",
        "contextId": "ctx-1",
        "role": "ROLE_USER",
        "parts": [{"text": "echo hello"}, {"data": {"n": 3, "x": 1.5, "empty": {}}}],
        "metadata": {"trace": "yes", "count": 2},
        "extensions": [],
        "taskId": "",
    }


def claims(aud: str = "agent:echo", **extra: Any) -> dict[str, Any]:
    c = {"iss": "hub:test", "aud": aud, "sub": "user:alice", "chain": ["user:alice", "agent:planner"], "iat": NOW}
    c.update(extra)
    return c


def keyset(*keys: Any) -> dict[str, Any]:
    return {"keys": [public_jwk(k) for k in keys]}


# --- canonical JSON ---------------------------------------------------------------------------


@test
def jcs_numbers() -> None:
    cases = {3: "3", 3.0: "3", -0.0: "0", 1e21: "1e+21", 1e20: "100000000000000000000", 1.5e-7: "1.5e-7",
             1e-6: "0.000001", 0.1: "0.1", 123.456: "123.456", -2.5: "-2.5", 5e-324: "5e-324",
             1764180000.0: "1764180000"}
    for value, want in cases.items():
        got = canonicalize(value)
        assert got == want, f"{value!r}: {got} != {want}"


@test
def jcs_numbers_match_node() -> None:
    # a2a-bus/tests/data/jcs-numbers.txt: doubles (as bits) and what node's String(x) gives.
    path = REPO / "a2a-bus" / "tests" / "data" / "jcs-numbers.txt"
    if not path.exists():
        raise Skip(f"{path.relative_to(REPO)} does not exist")
    import struct

    count = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        bits, want = line.split()
        x = struct.unpack(">d", bytes.fromhex(bits))[0]
        assert canonicalize(x) == want, f"{bits}: {canonicalize(x)} != {want}"
        if x.is_integer() and abs(x) < 2**63:
            assert canonicalize(int(x)) == want, f"{bits} as an integer: {canonicalize(int(x))} != {want}"
        count += 1
    assert count > 1000, count


@test
def jcs_strings_and_order() -> None:
    value = {"b": [1, True, None], "a": "é\n\u0001\"\\/", "\u20ac": 1, "\U0001F600": 2, "\ufb33": 3, "": 0}
    # Keys by UTF-16 code unit: U+1F600 (D83D DE00) sorts before U+FB33, unlike by code point.
    want = '{"":0,"a":"\u00e9\\n\\u0001\\"\\\\/","b":[1,true,null],"\u20ac":1,"\U0001F600":2,"\ufb33":3}'
    assert canonicalize(value) == want, canonicalize(value)


@test
def jcs_matches_a2a_sdk() -> None:
    # a2a-sdk ships its own JCS (for signed cards); both must agree byte for byte.
    try:
        from a2a.utils._jcs import canonicalize as reference
    except ImportError:
        raise Skip("a2a-sdk not installed") from None
    import random
    import struct

    rng = random.Random(7)
    for _ in range(20000):
        x = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        if x != x or x in (float("inf"), float("-inf")):
            continue
        assert canonicalize(x) == reference(x), repr(x)
    msg = sample_message()
    assert canonicalize(msg) == reference(msg)


@test
def prune_rules() -> None:
    value = {"a": None, "b": "", "c": [], "d": {}, "e": {"f": {"g": None}}, "h": [{}, {"i": ""}, None, ""],
             "j": 0, "k": False, "l": "x"}
    assert prune_empty(value) == {"h": [{}, {}, None, ""], "j": 0, "k": False, "l": "x"}, prune_empty(value)


# --- round trips ------------------------------------------------------------------------------


@test
def round_trip_eddsa_and_es256() -> None:
    for alg in ("EdDSA", "ES256"):
        key = generate_private_key(alg)
        signed = sign_message(sample_message(), claims(traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"), key)
        sig = signed["metadata"][SIGNATURE_KEY]
        header = json.loads(b64url_decode(sig["jws"].split(".")[0]))
        assert header == {"alg": alg, "kid": public_jwk(key)["kid"], "typ": "JOSE"}, header
        assert sig["v"] == 1 and len(b64url_decode(sig["nonce"])) == 16
        if alg == "ES256":
            assert len(b64url_decode(sig["jws"].split(".")[2])) == 64  # raw r||s, not DER
        got = verify_message(signed, keyset(key), "agent:echo", now=NOW, nonces=NonceCache())
        assert got["sub"] == "user:alice" and "jws" not in got and got["traceparent"].startswith("00-")
        # The original message is untouched.
        assert SIGNATURE_KEY not in sample_message()["metadata"]


@test
def survives_protobuf_round_trip() -> None:
    # What an a2a-sdk agent sees: the message parsed into protobuf and back. Empty fields are
    # dropped and Struct numbers become doubles (2 -> 2.0, iat -> 1764180000.0).
    try:
        from google.protobuf.json_format import ParseDict

        from a2a.types.a2a_pb2 import Message
        from agenthub_a2a import message_to_dict
    except ImportError:
        raise Skip("a2a-sdk not installed") from None
    key = generate_private_key("EdDSA")
    signed = sign_message(sample_message(), claims(), key)
    proto = ParseDict(signed, Message(), ignore_unknown_fields=True)
    back = message_to_dict(proto)
    assert "extensions" not in back and isinstance(back["metadata"]["count"], float)
    assert isinstance(back["metadata"][SIGNATURE_KEY]["iat"], float)
    verify_message(back, keyset(key), "agent:echo", now=NOW, nonces=NonceCache())


@test
def a2a_sdk_executor_sees_the_message_as_sent() -> None:
    # a2a-sdk writes the task and context ids it mints into the incoming message before the
    # executor runs, which would break the signature; ReceivedMessageContextBuilder keeps the
    # message as it arrived.
    try:
        import asyncio

        from google.protobuf.json_format import ParseDict

        from a2a.server.agent_execution import SimpleRequestContextBuilder
        from a2a.server.context import ServerCallContext
        from a2a.types import SendMessageRequest
        from agenthub_a2a import message_to_dict
        from agenthub_a2a.a2a_sdk import ReceivedMessageContextBuilder, received_message
    except ImportError:
        raise Skip("a2a-sdk not installed") from None
    key = generate_private_key("EdDSA")
    msg = {"messageId": "m-9", "role": "ROLE_USER", "parts": [{"text": "echo hi"}]}
    signed = sign_message(msg, claims(), key)

    def build(builder: Any) -> Any:
        params = ParseDict({"message": signed}, SendMessageRequest())
        return asyncio.run(builder.build(context=ServerCallContext(), params=params))

    plain = build(SimpleRequestContextBuilder())
    mutated = message_to_dict(plain.message)
    assert mutated.get("taskId") and mutated.get("contextId"), mutated  # the SDK filled them in
    expect_error("bad_signature", lambda: verify_message(mutated, keyset(key), "agent:echo", now=NOW, nonces=NonceCache()))
    kept = received_message(build(ReceivedMessageContextBuilder()))
    assert "taskId" not in kept and "contextId" not in kept, kept
    verify_message(kept, keyset(key), "agent:echo", now=NOW, nonces=NonceCache())


@test
def metadata_only_signature_prunes_to_nothing() -> None:
    # A message whose only metadata is the signature: after removal, metadata {} is pruned.
    key = generate_private_key("EdDSA")
    msg = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    signed = sign_message(msg, claims(), key)
    assert signing_payload(signed, signed["metadata"][SIGNATURE_KEY]) == signing_payload(
        {**msg, "metadata": {}}, signed["metadata"][SIGNATURE_KEY]
    )
    verify_message(signed, keyset(key), "agent:echo", now=NOW, nonces=NonceCache())


@test
def kid_is_rfc7638_thumbprint() -> None:
    # RFC 8037 A.3: the thumbprint of RFC 8037's example Ed25519 key.
    okp = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(okp) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", jwk_thumbprint(okp)
    key = generate_private_key("ES256")
    assert public_jwk(key)["kid"] == jwk_thumbprint(public_jwk(key))


# --- each error -------------------------------------------------------------------------------


@test
def error_missing() -> None:
    jwks = keyset(generate_private_key())
    expect_error("missing", lambda: verify_message(sample_message(), jwks, "agent:echo", now=NOW))
    expect_error("missing", lambda: verify_message({"messageId": "m"}, jwks, "agent:echo", now=NOW))


@test
def error_malformed() -> None:
    key = generate_private_key()
    jwks = keyset(key)
    signed = sign_message(sample_message(), claims(), key)

    def mutate(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        m = copy.deepcopy(signed)
        change(m["metadata"][SIGNATURE_KEY])
        return m

    bad = [
        mutate(lambda s: s.pop("nonce")),
        mutate(lambda s: s.pop("chain")),
        mutate(lambda s: s.update(v=2)),
        mutate(lambda s: s.update(iat="now")),
        mutate(lambda s: s.update(iat=NOW + 0.5)),
        mutate(lambda s: s.update(chain=[])),
        mutate(lambda s: s.update(chain=["user:bob", "agent:planner"])),  # chain[0] != sub
        mutate(lambda s: s.update(jws="not-a-jws")),
        mutate(lambda s: s.update(jws=s["jws"].replace("..", ".e30.", 1))),  # attached payload
        mutate(lambda s: s.update(jws="!!!.." + s["jws"].split("..")[1])),
        mutate(lambda s: s.update(jws=b64url(b'{"alg":"EdDSA"}') + ".." + s["jws"].split("..")[1])),  # no kid
    ]
    for i, m in enumerate(bad):
        try:
            expect_error("malformed", lambda m=m: verify_message(m, jwks, "agent:echo", now=NOW, nonces=NonceCache()))
        except AssertionError as e:
            raise AssertionError(f"case {i}: {e}") from None
    sig_not_object = copy.deepcopy(signed)
    sig_not_object["metadata"][SIGNATURE_KEY] = "x"
    expect_error("malformed", lambda: verify_message(sig_not_object, jwks, "agent:echo", now=NOW))


@test
def error_unsupported_algorithm() -> None:
    key = generate_private_key()
    signed = sign_message(sample_message(), claims(), key)
    sig = signed["metadata"][SIGNATURE_KEY]
    def with_header(header: dict[str, Any]) -> dict[str, Any]:
        m = copy.deepcopy(signed)
        m["metadata"][SIGNATURE_KEY]["jws"] = b64url(json.dumps(header).encode()) + ".." + sig["jws"].split("..")[1]
        return m

    kid = public_jwk(key)["kid"]
    for alg in ("HS256", "none", "RS256", "ES384", "Ed25519"):
        m = with_header({"alg": alg, "kid": kid, "typ": "JOSE"})
        expect_error("unsupported_algorithm", lambda m=m: verify_message(m, keyset(key), "agent:echo", now=NOW))
    # As the Rust side: no alg, crit, or b64 other than true make the header malformed.
    for header in ({"kid": kid}, {"alg": None, "kid": kid}, {"alg": "EdDSA", "kid": kid, "crit": ["exp"]},
                   {"alg": "EdDSA", "kid": kid, "b64": False}, {"alg": "EdDSA", "kid": ""}):
        m = with_header(header)
        expect_error("malformed", lambda m=m: verify_message(m, keyset(key), "agent:echo", now=NOW))


@test
def error_unknown_key() -> None:
    signer, other = generate_private_key(), generate_private_key()
    signed = sign_message(sample_message(), claims(), signer)
    expect_error("unknown_key", lambda: verify_message(signed, keyset(other), "agent:echo", now=NOW))
    expect_error("unknown_key", lambda: verify_message(signed, {"keys": []}, "agent:echo", now=NOW))
    # Entries that are not public signing keys are ignored, as on the Rust side.
    for odd in ({"use": "enc"}, {"d": "c2VjcmV0"}):
        jwks = {"keys": [{**public_jwk(signer), **odd}]}
        expect_error("unknown_key", lambda jwks=jwks: verify_message(signed, jwks, "agent:echo", now=NOW))


@test
def error_bad_signature() -> None:
    key = generate_private_key("ES256")
    jwks = keyset(key)
    signed = sign_message(sample_message(), claims(), key)
    tampered_text = copy.deepcopy(signed)
    tampered_text["parts"][0]["text"] = "echo goodbye"
    tampered_claims = copy.deepcopy(signed)
    tampered_claims["metadata"][SIGNATURE_KEY]["chain"] = ["user:alice", "agent:mallory"]
    added_member = copy.deepcopy(signed)
    added_member["metadata"]["extra"] = "x"
    for m in (tampered_text, tampered_claims, added_member):
        expect_error("bad_signature", lambda m=m: verify_message(m, jwks, "agent:echo", now=NOW, nonces=NonceCache()))
    # A different key published under the signer's kid.
    impostor = public_jwk(generate_private_key("ES256"), kid=public_jwk(key)["kid"])
    expect_error("bad_signature", lambda: verify_message(signed, {"keys": [impostor]}, "agent:echo", now=NOW))
    # An Ed25519 key under the kid of an ES256 signature.
    wrong_type = public_jwk(generate_private_key("EdDSA"), kid=public_jwk(key)["kid"])
    expect_error("bad_signature", lambda: verify_message(signed, {"keys": [wrong_type]}, "agent:echo", now=NOW))


@test
def error_wrong_audience() -> None:
    key = generate_private_key()
    signed = sign_message(sample_message(), claims(aud="agent:other"), key)
    expect_error("wrong_audience", lambda: verify_message(signed, keyset(key), "agent:echo", now=NOW))


@test
def error_stale() -> None:
    key = generate_private_key()
    signed = sign_message(sample_message(), claims(), key)
    jwks = keyset(key)
    verify_message(signed, jwks, "agent:echo", now=NOW + 300, nonces=NonceCache())  # at the edge: fine
    verify_message(signed, jwks, "agent:echo", now=NOW - 300, nonces=NonceCache())
    expect_error("stale", lambda: verify_message(signed, jwks, "agent:echo", now=NOW + 301, nonces=NonceCache()))
    expect_error("stale", lambda: verify_message(signed, jwks, "agent:echo", now=NOW - 301, nonces=NonceCache()))
    expect_error("stale", lambda: verify_message(signed, jwks, "agent:echo", now=NOW + 31, max_skew=30))
    # Without `now`, the clock is used.
    fresh = sign_message(sample_message(), {**claims(), "iat": int(time.time())}, key)
    verify_message(fresh, jwks, "agent:echo", nonces=NonceCache())


@test
def error_replayed() -> None:
    key = generate_private_key()
    jwks = keyset(key)
    nonces = NonceCache()
    signed = sign_message(sample_message(), claims(), key)
    verify_message(signed, jwks, "agent:echo", now=NOW, nonces=nonces)
    expect_error("replayed", lambda: verify_message(signed, jwks, "agent:echo", now=NOW + 1, nonces=nonces))
    # A forged message with a fresh nonce does not burn it: the real one still verifies once.
    other = sign_message(sample_message(), claims(), key)
    forged = copy.deepcopy(other)
    forged["parts"][0]["text"] = "forged"
    expect_error("bad_signature", lambda: verify_message(forged, jwks, "agent:echo", now=NOW, nonces=nonces))
    verify_message(other, jwks, "agent:echo", now=NOW, nonces=nonces)
    # Nonces are forgotten after the window (2 x skew by default), when iat would be stale anyway.
    small = NonceCache(window=10)
    small.remember("n", now=0)
    assert small.seen("n", now=5) and not small.seen("n", now=11)


# --- agent cards ------------------------------------------------------------------------------


@test
def card_round_trip() -> None:
    from agenthub_a2a import card_signing_payload, sign_card, verify_card

    card = {"name": "Planner", "description": "d", "version": "1", "skills": [{"id": "plan", "tags": ["a", ""], "examples": []}],
            "securityRequirements": [{"schemes": {"bearer": {}}}], "capabilities": {}}
    # Cards drop empty array elements too (a2a-sdk's rule), unlike messages.
    assert card_signing_payload(card) == b'{"description":"d","name":"Planner","skills":[{"id":"plan","tags":["a"]}],"version":"1"}'
    ed, ec_key = generate_private_key("EdDSA"), generate_private_key("ES256")
    signed = dict(card, signatures=[sign_card(card, ed, jku="https://x.example/jwks.json"), sign_card(card, ec_key)])
    assert verify_card(signed, keyset(ed, ec_key)) == [public_jwk(ed)["kid"], public_jwk(ec_key)["kid"]]
    assert verify_card(card, keyset(ed)) == []
    expect_error("unknown_key", lambda: verify_card(signed, keyset(ed)))  # one unknown signature fails the card
    tampered = dict(signed, description="changed")
    expect_error("bad_signature", lambda: verify_card(tampered, keyset(ed, ec_key)))
    expect_error("malformed", lambda: verify_card(dict(card, signatures=[{"protected": "x"}]), keyset(ed)))


# --- JWKS cache -------------------------------------------------------------------------------


@test
def jwks_cache_refetches_on_unknown_kid_rate_limited() -> None:
    k1, k2 = generate_private_key(), generate_private_key("ES256")
    published = {"keys": [public_jwk(k1)]}
    clock = [1000.0]
    cache = JwksCache("http://127.0.0.1:1/jwks.json", ttl=300, min_refetch_interval=5,
                      fetch=lambda url: copy.deepcopy(published), clock=lambda: clock[0])
    verify_message(sign_message(sample_message(), claims(), k1), cache, "agent:echo", now=NOW, nonces=NonceCache())
    assert cache.fetches == 1
    # Key rotation: k2 is published; the first message signed with it is refused only while
    # the refetch is rate-limited.
    published["keys"].append(public_jwk(k2))
    signed2 = sign_message(sample_message(), claims(), k2)
    expect_error("unknown_key", lambda: verify_message(signed2, cache, "agent:echo", now=NOW, nonces=NonceCache()))
    assert cache.fetches == 1, cache.fetches  # within 5 s of the last fetch: no refetch
    clock[0] += 5
    verify_message(signed2, cache, "agent:echo", now=NOW, nonces=NonceCache())
    assert cache.fetches == 2
    # Made-up kids cost at most one fetch per interval.
    for i in range(20):
        cache.find_key(f"nope-{i}")
    assert cache.fetches == 2, cache.fetches
    clock[0] += 5
    for i in range(20):
        cache.find_key(f"nope-{i}")
    assert cache.fetches == 3, cache.fetches
    # The TTL refreshes known keys too; a failed fetch keeps them.
    clock[0] += 301
    published["keys"] = []
    assert cache.find_key(public_jwk(k1)["kid"]) is None and cache.fetches == 4

    def broken(url: str) -> dict[str, Any]:
        raise OSError("down")

    cache2 = JwksCache("x", fetch=lambda url: {"keys": [public_jwk(k1)]}, clock=lambda: clock[0])
    assert cache2.find_key(public_jwk(k1)["kid"]) is not None
    cache2._fetch = broken  # noqa: SLF001
    clock[0] += 1000
    assert cache2.find_key(public_jwk(k1)["kid"]) is not None and isinstance(cache2.last_error, OSError)


@test
def jwks_cache_over_http() -> None:
    import http.server
    import threading

    key = generate_private_key()
    body = json.dumps(keyset(key)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cache = JwksCache(f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", timeout=5)
        signed = sign_message(sample_message(), claims(), key)
        verify_message(signed, cache, "agent:echo", now=NOW, nonces=NonceCache())
    finally:
        server.shutdown()


# --- the shared vectors -----------------------------------------------------------------------


def load_vectors() -> dict[str, Any]:
    if not VECTORS.exists():
        raise Skip(f"{VECTORS.relative_to(REPO)} does not exist yet")
    return json.loads(VECTORS.read_text())


def run_cases(cases: list[dict[str, Any]], check: Callable[[dict[str, Any]], None]) -> None:
    """Runs every case and reports all failing ones, not just the first."""
    assert cases, "no cases"
    failures = []
    for case in cases:
        try:
            check(case)
        except Exception as e:  # noqa: BLE001
            failures.append(f"{case.get('name')}: {type(e).__name__}: {e}")
    assert not failures, f"{len(failures)} of {len(cases)} fail:\n  " + "\n  ".join(failures)


@test
def shared_vectors_messages() -> None:
    doc = load_vectors()
    jwks, skew = doc["jwks"], doc["max_skew_seconds"]

    def check(case: dict[str, Any]) -> None:
        message = case["message"]
        sig = (message.get("metadata") or {}).get(SIGNATURE_KEY)
        if "canonical_payload" in case and isinstance(sig, dict):
            got = signing_payload(message, sig).decode()
            assert got == case["canonical_payload"], f"payload\n    want {case['canonical_payload']}\n    got  {got}"
        if "protected_header" in case and isinstance(sig, dict):
            assert b64url_decode(sig["jws"].split(".")[0]).decode() == case["protected_header"]
        nonces = NonceCache(window=2 * skew)
        for nonce in case.get("seen_nonces") or []:
            nonces.remember(nonce, now=case["now"])
        expected = case["expected"]
        try:
            claims = verify_message(message, jwks, case["audience"], max_skew=skew, nonces=nonces, now=case["now"])
        except SignatureError as e:
            assert expected.get("error") == e.reason, f"expected {expected}, got {e.reason} ({e.detail})"
            return
        assert "error" not in expected, f"expected {expected['error']}, but it verified"
        assert claims == expected["claims"], f"claims {claims} != {expected['claims']}"

    run_cases(doc["messages"], check)
    print(f"  ({len(doc['messages'])} message vectors)")


@test
def shared_vectors_ed25519_signing_is_reproduced() -> None:
    # Ed25519 is deterministic: signing a case's message (signature removed) with the claims of
    # its ed25519_signature_object must give that object exactly.
    doc = load_vectors()
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["keys"]["ed25519"]["seed_hex"]))
    assert public_jwk(key) == doc["keys"]["ed25519"]["public_jwk"], public_jwk(key)
    cases = [c for c in doc["messages"] if "ed25519_signature_object" in c]

    def check(case: dict[str, Any]) -> None:
        want = case["ed25519_signature_object"]
        message = copy.deepcopy(case["message"])
        metadata = message.get("metadata") or {}
        metadata.pop(SIGNATURE_KEY, None)
        claims = {k: v for k, v in want.items() if k != "jws"}
        signed = sign_message(message, claims, key)
        assert signed["metadata"][SIGNATURE_KEY] == want, f"{signed['metadata'][SIGNATURE_KEY]} != {want}"

    run_cases(cases, check)
    print(f"  ({len(cases)} reproduced)")


@test
def shared_vectors_cards() -> None:
    doc = load_vectors()
    from agenthub_a2a import card_signing_payload, verify_card

    def check(case: dict[str, Any]) -> None:
        if "canonical_payload" in case:
            got = card_signing_payload(case["card"]).decode()
            assert got == case["canonical_payload"], f"payload\n    want {case['canonical_payload']}\n    got  {got}"
        expected = case["expected"]
        try:
            kids = verify_card(case["card"], doc["jwks"])
        except SignatureError as e:
            assert expected.get("error") == e.reason, f"expected {expected}, got {e.reason} ({e.detail})"
            return
        assert "error" not in expected, f"expected {expected['error']}, but it verified"
        assert kids == expected["kids"], kids

    run_cases(doc["cards"], check)
    print(f"  ({len(doc['cards'])} card vectors)")


def main() -> int:
    passed = failed = skipped = 0
    for fn in TESTS:
        try:
            fn()
        except Skip as s:
            skipped += 1
            print(f"SKIP {fn.__name__}: {s}")
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"FAIL {fn.__name__}")
            traceback.print_exc(limit=3, file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
