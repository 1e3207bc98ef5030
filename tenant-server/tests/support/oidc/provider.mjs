// A real OpenID provider for tests: client_credentials with a `resource` indicator issues JWT
// access tokens (typ at+jwt) signed RS256 or ES256 by client. Listens on 127.0.0.1 only, prints
// {"issuer": ...} on stdout when ready, exits when stdin closes (the test ended).
// POST /__test/rotate replaces the signing keys with new ones (new kids).
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const TENANT = '11111111-1111-1111-1111-111111111111';
const OTHER_TENANT = '22222222-2222-2222-2222-222222222222';

// The MCP client app that the test users sign in through.
const MCP_CLIENT = 'mcp-client';

// Test clients: their extra claims make them the users and apps the tests need; `shape` says
// how their tokens look (see shapeToken), `user` by default.
const CLIENTS = {
  'es-reader': { alg: 'ES256', claims: { tid: TENANT, oid: 'oid-reader', name: 'Rita Reader', roles: ['Mail.Reader'] } },
  'rs-reader': { alg: 'RS256', claims: { tid: TENANT, oid: 'oid-rs-reader', roles: ['Mail.Reader'] } },
  'es-sender': { alg: 'ES256', claims: { tid: TENANT, oid: 'oid-sender', roles: ['Mail.Sender'], amr: ['pwd'] } },
  'es-sender-mfa': { alg: 'ES256', claims: { tid: TENANT, oid: 'oid-sender-mfa', roles: ['Mail.Sender'], amr: ['pwd', 'mfa'] } },
  'es-other-tenant': { alg: 'ES256', claims: { tid: OTHER_TENANT, oid: 'oid-other', roles: ['Mail.Reader'] } },
  'robot': { alg: 'ES256', shape: 'app', claims: { tid: TENANT, idtyp: 'app', roles: ['Mail.Sender'] } },
  'rogue-app': { alg: 'ES256', shape: 'app', claims: { tid: TENANT, roles: ['Mail.Reader'] } },
  'entra-user': { alg: 'RS256', shape: 'entra-user', claims: { tid: TENANT, oid: 'oid-entra-user', roles: ['Mail.Reader'] } },
  'entra-robot': { alg: 'RS256', shape: 'entra-app', claims: { tid: TENANT, oid: 'sp-entra-robot', roles: ['Mail.Reader'] } },
  'entra-rogue': { alg: 'RS256', shape: 'entra-app', claims: { tid: TENANT, oid: 'sp-entra-rogue', roles: ['Mail.Reader'] } },
};

// Every token here comes from client_credentials; this makes it look like the token the test
// needs. `user`: a person signed in through the MCP client app (delegated: `sub` is the user,
// `client_id` the app, `scope` granted). `app`: client_credentials as issued (RFC 9068: `sub` is
// the client). `entra-user` and `entra-app`: what Entra issues, with the client in `azp` and no
// `client_id`; a user token carries `scp` and a pairwise `sub`, an app token has no `scp` (and
// here no optional `idtyp`) and its `sub` is its own `oid`.
function shapeToken(ctx, token, jwt) {
  const { payload } = jwt;
  switch (CLIENTS[token.clientId]?.shape ?? 'user') {
    case 'user':
      payload.client_id = MCP_CLIENT;
      break;
    case 'entra-user':
      payload.azp = MCP_CLIENT;
      payload.scp = payload.scope;
      payload.sub = `pairwise-${token.clientId}`;
      delete payload.client_id;
      delete payload.scope;
      break;
    case 'entra-app':
      payload.azp = token.clientId;
      payload.sub = payload.oid;
      delete payload.client_id;
      delete payload.scope;
      break;
    default:
      break;
  }
}

function newKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rsa-${randomUUID()}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `ec-${randomUUID()}`, alg: 'ES256', use: 'sig' },
  ];
}

function makeProvider(issuer, keys) {
  const provider = new Provider(issuer, {
    clients: Object.keys(CLIENTS).map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    jwks: { keys },
    scopes: ['mcp'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          scope: 'mcp',
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: CLIENTS[client.clientId].alg } },
        }),
      },
    },
    extraTokenClaims: (ctx, token) => CLIENTS[token.clientId]?.claims,
    formats: { customizers: { jwt: shapeToken } },
  });
  provider.proxy = false;
  return provider;
}

let handler;
const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/__test/rotate') {
    handler = makeProvider(issuer, newKeys()).callback();
    res.writeHead(204).end();
    return;
  }
  handler(req, res);
});
let issuer;
server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  handler = makeProvider(issuer, newKeys()).callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
