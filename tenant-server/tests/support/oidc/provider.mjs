// A real OpenID provider for tests: client_credentials with a `resource` indicator issues JWT
// access tokens (typ at+jwt) signed RS256 or ES256 by client. Listens on 127.0.0.1 only, prints
// {"issuer": ...} on stdout when ready, exits when stdin closes (the test ended).
// POST /__test/rotate replaces the signing keys with new ones (new kids).
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const TENANT = '11111111-1111-1111-1111-111111111111';
const OTHER_TENANT = '22222222-2222-2222-2222-222222222222';

// Test clients: their extra claims make them the users the tests need.
const CLIENTS = {
  'es-reader': { alg: 'ES256', claims: { tid: TENANT, oid: 'oid-reader', name: 'Rita Reader', roles: ['Mail.Reader'] } },
  'rs-reader': { alg: 'RS256', claims: { tid: TENANT, oid: 'oid-rs-reader', roles: ['Mail.Reader'] } },
  'es-sender': { alg: 'ES256', claims: { tid: TENANT, oid: 'oid-sender', roles: ['Mail.Sender'], amr: ['pwd'] } },
  'es-sender-mfa': { alg: 'ES256', claims: { tid: TENANT, oid: 'oid-sender-mfa', roles: ['Mail.Sender'], amr: ['pwd', 'mfa'] } },
  'es-other-tenant': { alg: 'ES256', claims: { tid: OTHER_TENANT, oid: 'oid-other', roles: ['Mail.Reader'] } },
  'robot': { alg: 'ES256', claims: { tid: TENANT, idtyp: 'app', roles: ['Mail.Sender'] } },
};

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
