"""Makes a2a-sdk-signed-card.json: an agent card signed by the official Python a2a-sdk.

The fixture shows that `a2a_bus::signing::verify_card` accepts what a2a-sdk's signer makes.
Run it with a2a-sdk 1.3.0, PyJWT and cryptography installed:

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install 'a2a-sdk[http-server]==1.3.0' PyJWT cryptography
    /tmp/venv/bin/python make_a2a_sdk_card.py > a2a-sdk-signed-card.json

The key is new on every run, so the output differs each time; any run's output is a valid fixture.
The card exercises what a2a-sdk's canonical form drops or rewrites: empty strings, lists and
objects (also inside lists), proto3 defaults (`required: false`), numbers in `params`, non-ASCII.
"""

import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.json_format import MessageToDict, ParseDict
from jwt import PyJWK

from a2a.types import AgentCard
from a2a.utils.signing import create_agent_card_signer, create_signature_verifier


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


private = ec.generate_private_key(ec.SECP256R1())
numbers = private.public_key().public_numbers()
public_jwk = {
    'kty': 'EC',
    'crv': 'P-256',
    'x': b64url(numbers.x.to_bytes(32, 'big')),
    'y': b64url(numbers.y.to_bytes(32, 'big')),
}
thumbprint_input = json.dumps(
    {k: public_jwk[k] for k in ('crv', 'kty', 'x', 'y')}, separators=(',', ':')
)
kid = b64url(hashlib.sha256(thumbprint_input.encode()).digest())
public_jwk.update({'kid': kid, 'alg': 'ES256', 'use': 'sig'})
private_jwk = dict(public_jwk, d=b64url(private.private_numbers().private_value.to_bytes(32, 'big')))

card = ParseDict(
    {
        'name': 'Recipe Agent',
        'description': 'Finds recipes — and answers in any language: café, 東京, 😀',
        'version': '1.0.0',
        'supportedInterfaces': [
            {'url': 'https://agent.example/a2a', 'protocolBinding': 'JSONRPC', 'protocolVersion': '1.0', 'tenant': ''},
        ],
        'provider': {'organization': 'Example Org', 'url': 'https://example.org'},
        'capabilities': {
            'streaming': True,
            'pushNotifications': False,
            'extensions': [
                {
                    'uri': 'https://example.org/ext/limits',
                    'description': '',
                    'required': False,
                    'params': {
                        'maxTokens': 4096,
                        'ratio': 0.1,
                        'huge': 1e21,
                        'tiny': 1e-7,
                        'list': ['a', '', {}, []],
                        'empty': {},
                        'nothing': None,
                        'flag': False,
                        '€uro': 'x',
                        '\u0080': 'c1',
                    },
                }
            ],
        },
        'defaultInputModes': ['text/plain'],
        'defaultOutputModes': ['text/plain', 'application/json'],
        'skills': [
            {
                'id': 'find-recipe',
                'name': 'Find recipe',
                'description': 'Finds a recipe by ingredients',
                'tags': ['cooking'],
                'examples': [],
            }
        ],
        'securitySchemes': {
            'bearer': {'httpAuthSecurityScheme': {'scheme': 'Bearer', 'bearerFormat': 'JWT'}},
            'oauth': {
                'oauth2SecurityScheme': {
                    'flows': {
                        'authorizationCode': {
                            'authorizationUrl': 'https://auth.example/authorize',
                            'tokenUrl': 'https://auth.example/token',
                            'scopes': {'read': 'Read recipes'},
                            'pkceRequired': False,
                        }
                    }
                }
            },
        },
        'securityRequirements': [{'schemes': {'bearer': {'list': []}}}],
    },
    AgentCard(),
)

signer = create_agent_card_signer(
    signing_key=PyJWK(private_jwk),
    protected_header={
        'alg': 'ES256',
        'kid': kid,
        'typ': 'JOSE',
        'jku': 'https://agent.example/.well-known/jwks.json',
    },
)
signed = signer(card)

# What a client does: parse the served JSON, then verify with a2a-sdk's verifier.
served = MessageToDict(signed)
verify = create_signature_verifier(lambda _kid, _jku: PyJWK(public_jwk), ['ES256'])
verify(ParseDict(served, AgentCard(), ignore_unknown_fields=True))

print(json.dumps({'card': served, 'jwk': public_jwk}, ensure_ascii=False, indent=2))
