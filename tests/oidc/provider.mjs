// A real OpenID provider (panva/oidc-provider) for agenthub's authentication tests.
//
//   node provider.mjs --port 4000 [--other-port 4001] [--redirect-uri http://127.0.0.1:8080/cb]...
//
// Serves, on 127.0.0.1 only:
//   - the provider at http://127.0.0.1:PORT (discovery, JWKS, authorize, token, userinfo);
//   - with --other-port, a second, unrelated provider (its own keys and issuer), whose tokens
//     the hub must refuse;
//   - a minimal login interaction a test drives over HTTP:
//       GET  /interaction/:uid          -> {"uid", "prompt"} (JSON)
//       POST /interaction/:uid/login    form login=<account> -> redirect back to the provider
//     Consent is implied for the first-party client (loadExistingGrant);
//   - test controls: PUT /_harness/accounts/:id with a JSON body {"groups": [...], "email", "name"}
//     sets an account's claims (used to change a user's groups between two logins).
//
// Clients:
//   hub-web     / hub-web-secret     authorization code + PKCE, redirect URIs from --redirect-uri
//   agent-svc   / agent-svc-secret   client credentials, JWT access tokens (groups: ml-engineers)
//   agent-short / agent-short-secret client credentials, JWT access tokens living 1 second
// Resources (audiences) issuing JWT access tokens: urn:agenthub and urn:other.
//
// Signing keys are generated at every start (RSA for ID tokens, P-256 for access tokens), so a
// restart on the same port is a key rotation. Prints one JSON line {"ready": true, ...} on
// standard output once listening.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

function parseArgs(argv) {
  const args = { port: 0, otherPort: 0, redirectUris: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--port': args.port = Number(value); i += 1; break;
      case '--other-port': args.otherPort = Number(value); i += 1; break;
      case '--redirect-uri': args.redirectUris.push(value); i += 1; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.port) throw new Error('--port is required');
  return args;
}

function signingKeys() {
  const kid = () => randomBytes(8).toString('hex');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return { keys: [{ ...rsa, kid: kid(), alg: 'RS256', use: 'sig' }, { ...ec, kid: kid(), alg: 'ES256', use: 'sig' }] };
}

const CLIENT_GROUPS = {
  'agent-svc': ['ml-engineers', 'agents'],
  'agent-short': ['ml-engineers'],
};

function buildProvider(issuer, redirectUris, accounts) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'hub-web',
        client_secret: 'hub-web-secret',
        redirect_uris: redirectUris.length ? redirectUris : ['http://127.0.0.1/unused'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      ...['agent-svc', 'agent-short'].map((id) => ({
        client_id: id,
        client_secret: `${id}-secret`,
        redirect_uris: [],
        response_types: [],
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
      })),
    ],
    jwks: signingKeys(),
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api'],
    // Put the scope-requested claims in the ID token too (as Okta, Entra and Keycloak can).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? 'urn:agenthub',
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resource, client) => {
          if (resource !== 'urn:agenthub' && resource !== 'urn:other') {
            throw new Provider.errors.InvalidTarget();
          }
          return {
            scope: 'api',
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: client?.clientId === 'agent-short' ? 1 : 300,
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    extraTokenClaims: async (_ctx, token) => {
      if (token.kind === 'ClientCredentials' && CLIENT_GROUPS[token.clientId]) {
        return { groups: CLIENT_GROUPS[token.clientId] };
      }
      return undefined;
    },
    async findAccount(_ctx, id) {
      if (!/^[a-z0-9._-]{1,64}$/.test(id)) return undefined;
      return {
        accountId: id,
        async claims() {
          const account = accounts.get(id) ?? {};
          return {
            sub: id,
            email: account.email ?? `${id}@example.com`,
            email_verified: true,
            name: account.name ?? `Test user ${id}`,
            preferred_username: id,
            groups: account.groups ?? [],
          };
        },
      };
    },
    // First-party client: consent is implied, only the login prompt is shown.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups offline_access');
      grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name', 'preferred_username', 'groups']);
      await grant.save();
      return grant;
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  });
  return provider;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > 65536) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function serve(provider, port, accounts) {
  const callback = provider.callback();
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      const interaction = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
      const harness = url.pathname.match(/^\/_harness\/accounts\/([a-z0-9._-]+)$/);
      if (harness && req.method === 'PUT') {
        accounts.set(harness[1], JSON.parse(await readBody(req)));
        json(res, 200, { ok: true });
      } else if (interaction && !interaction[2] && req.method === 'GET') {
        const details = await provider.interactionDetails(req, res);
        json(res, 200, { uid: details.uid, prompt: details.prompt.name });
      } else if (interaction && interaction[2] && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        const login = form.get('login');
        if (!login) { json(res, 400, { error: 'login is required' }); return; }
        await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      } else {
        callback(req, res);
      }
    } catch (error) {
      if (!res.headersSent) json(res, 500, { error: String(error?.message ?? error) });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const args = parseArgs(process.argv.slice(2));
const issuer = `http://127.0.0.1:${args.port}`;
const accounts = new Map([['alice', { groups: ['ml-engineers'] }]]);
await serve(buildProvider(issuer, args.redirectUris, accounts), args.port, accounts);
let other;
if (args.otherPort) {
  other = `http://127.0.0.1:${args.otherPort}`;
  await serve(buildProvider(other, [], new Map()), args.otherPort, new Map());
}
process.stdout.write(`${JSON.stringify({ ready: true, issuer, other })}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
