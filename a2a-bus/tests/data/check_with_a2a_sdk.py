"""Checks signature-vectors.json with Python alone, and its cards with the official a2a-sdk.

An independent reading of docs/a2a-signatures.md: RFC 8785 from a2a-sdk's `_jcs`, signatures
with `cryptography`, card verification with a2a-sdk's own verifier. Run it with a2a-sdk 1.3.0,
PyJWT and cryptography installed (see make_a2a_sdk_card.py):

    /tmp/venv/bin/python check_with_a2a_sdk.py signature-vectors.json
"""

import base64
import copy
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from google.protobuf.json_format import ParseDict
from jwt import PyJWK

from a2a.types import AgentCard
from a2a.utils._jcs import canonicalize
from a2a.utils.signing import create_signature_verifier

KEY = 'agenthub/signature'


def b64d(text):
    return base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def prune_members(value):
    """null, "", [] and {} members removed, recursively; array elements kept."""
    if isinstance(value, dict):
        out = {}
        for name, member in value.items():
            member = prune_members(member)
            if member is None or member == '' or member == [] or member == {}:
                continue
            out[name] = member
        return out
    if isinstance(value, list):
        return [prune_members(item) for item in value]
    return value


def verify_jws(jwk, protected, signature, payload):
    signing_input = (protected + '.' + b64e(payload.encode())).encode()
    raw = b64d(signature)
    if jwk['kty'] == 'OKP':
        ed25519.Ed25519PublicKey.from_public_bytes(b64d(jwk['x'])).verify(raw, signing_input)
    else:
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64d(jwk['x']), 'big'), int.from_bytes(b64d(jwk['y']), 'big'), ec.SECP256R1()
        )
        der = encode_dss_signature(int.from_bytes(raw[:32], 'big'), int.from_bytes(raw[32:], 'big'))
        numbers.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))


def verify_message(message, jwks, audience, now, skew, seen):
    signature = (message.get('metadata') or {}).get(KEY)
    if signature is None:
        return 'missing', None
    claims = {k: v for k, v in signature.items() if k != 'jws'}
    if claims.get('v') != 1:
        return 'malformed', None
    protected, empty, sig = signature['jws'].split('.')
    assert empty == ''
    header = json.loads(b64d(protected))
    if header['alg'] not in ('EdDSA', 'ES256'):
        return 'unsupported_algorithm', None
    jwk = next((k for k in jwks['keys'] if k['kid'] == header['kid']), None)
    if jwk is None:
        return 'unknown_key', None
    if claims['aud'] != audience:
        return 'wrong_audience', None
    if abs(claims['iat'] - now) > skew:
        return 'stale', None
    if not claims['chain'] or claims['chain'][0] != claims['sub']:
        return 'malformed', None
    canonical = copy.deepcopy(message)
    del canonical['metadata'][KEY]
    payload = canonicalize({'message': prune_members(canonical), 'claims': claims})
    try:
        verify_jws(jwk, protected, sig, payload)
    except InvalidSignature:
        return 'bad_signature', payload
    if claims['nonce'] in seen:
        return 'replayed', payload
    return None, payload


def main(path):
    vectors = json.load(open(path, encoding='utf-8'))
    skew = vectors['max_skew_seconds']
    for case in vectors['messages']:
        error, payload = verify_message(
            case['message'], vectors['jwks'], case['audience'], case['now'], skew, set(case.get('seen_nonces', []))
        )
        assert error == case['expected'].get('error'), (case['name'], error)
        if payload is not None:
            assert payload == case['canonical_payload'], case['name']
        print('ok', case['name'], error or 'valid')

    keys = {k['kid']: k for k in vectors['jwks']['keys']}
    verifier = create_signature_verifier(lambda kid, _jku: PyJWK(keys[kid]), ['EdDSA', 'ES256'])
    for case in vectors['cards']:
        card = ParseDict(case['card'], AgentCard(), ignore_unknown_fields=True)
        try:
            verifier(card)
            error = None
        except Exception:  # a2a-sdk raises InvalidSignaturesError
            error = 'bad_signature'
        assert error == case['expected'].get('error'), (case['name'], error)
        print('ok (a2a-sdk)', case['name'], error or 'valid')


if __name__ == '__main__':
    main(sys.argv[1])
