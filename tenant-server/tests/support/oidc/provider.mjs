// A real OpenID provider for tests: client_credentials with a `resource` indicator issues JWT
// access tokens (typ at+jwt) signed RS256 or ES256 by client. Listens on 127.0.0.1 only, prints
// {"issuer": ...} on stdout when ready, exits when stdin closes (the test ended).
// POST /__test/rotate replaces the signing keys with new ones (new kids).
//
// The tenant server's upstream sign-in (authorization code + PKCE, client_secret_post): client
// `tenant-server` / `tenant-server-secret`, redirect URIs from OIDC_REDIRECT_URIS (comma-
// separated) or set later by POST /__test/redirect_uris {"redirect_uris": [...]}. Refresh tokens
// (offline_access) rotate on every use; access tokens are opaque. No browser needed: the
// authorization request redirects to GET /interaction/:uid (a small form), and
// POST /interaction/:uid/login with `login=<user>` signs USERS[user] in and grants what was asked.
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

// stdout carries only the ready line, and the test stops reading it after that line: the
// provider's notices (console.info) go to stderr, or their write would kill the process.
console.info = (...args) => console.error(...args);

const TENANT = '11111111-1111-1111-1111-111111111111';
const OTHER_TENANT = '22222222-2222-2222-2222-222222222222';

// The MCP client app that the test users sign in through.
const MCP_CLIENT = 'mcp-client';

// The tenant server as the upstream's confidential client (builtin mode).
const TENANT_SERVER = { client_id: 'tenant-server', client_secret: 'tenant-server-secret' };
let redirectUris = (process.env.OIDC_REDIRECT_URIS ?? '').split(',').map((u) => u.trim()).filter(Boolean);

// The people who sign in at the upstream; `amr` is how they authenticated.
const USERS = {
  alice: { amr: ['pwd', 'mfa'], claims: { tid: TENANT, oid: 'oid-alice', name: 'Alice Anders', preferred_username: 'alice@contoso.test', roles: ['Mail.Reader'] } },
  bob: { amr: ['pwd'], claims: { tid: TENANT, oid: 'oid-bob', name: 'Bob Berg', preferred_username: 'bob@contoso.test', roles: ['Mail.Sender'] } },
  mallory: { amr: ['pwd'], claims: { tid: OTHER_TENANT, oid: 'oid-mallory', name: 'Mallory', preferred_username: 'mallory@other.test', roles: ['Mail.Reader'] } },
};

// The Graph scopes of the server's default list, accepted like Entra accepts them.
const GRAPH_SCOPES = ['User.Read', 'Mail.Read', 'Mail.ReadWrite', 'Mail.Send', 'Calendars.ReadWrite', 'Team.ReadBasic.All',
  'Channel.ReadBasic.All', 'ChannelMessage.Send', 'OnlineMeetings.ReadWrite', 'Contacts.Read', 'People.Read', 'Files.Read.All'];

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
  const clients = Object.keys(CLIENTS).map((id) => ({
    client_id: id,
    client_secret: `${id}-secret`,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
  }));
  if (redirectUris.length > 0) {
    clients.push({
      ...TENANT_SERVER,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: redirectUris,
      token_endpoint_auth_method: 'client_secret_post',
    });
  }
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'mcp', ...GRAPH_SCOPES],
    claims: { openid: ['sub', 'tid', 'oid', 'roles', 'amr'], profile: ['name', 'preferred_username'], email: ['email'] },
    conformIdTokenClaims: false,
    findAccount: (ctx, id) => USERS[id] && { accountId: id, claims: () => ({ sub: id, ...USERS[id].claims }) },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['test-only-cookie-key'] },
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

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

// The sign-in page: GET shows a form, POST .../login signs the named user in and consents to
// everything the client asked for.
async function interaction(req, res, uid, action) {
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    if (req.method === 'GET' && !action) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<form method="post" action="/interaction/${uid}/login"><input name="login"><button>Sign in</button></form>`);
      return;
    }
    if (req.method !== 'POST' || action !== 'login') throw new Error('unknown interaction route');
    const login = new URLSearchParams(await readBody(req)).get('login');
    const user = USERS[login];
    if (!user) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`no such user: ${login}`);
      return;
    }
    const { params } = details;
    const grant = new provider.Grant({ accountId: login, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope ?? 'openid'));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId: login, amr: user.amr }, consent: { grantId } }, { mergeWithLastSubmission: false });
  } catch (error) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error));
  }
}

let provider;
let keys;
function rebuild() {
  provider = makeProvider(issuer, keys);
  handler = provider.callback();
}

let handler;
const server = http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/__test/rotate') {
    keys = newKeys();
    rebuild();
    res.writeHead(204).end();
    return;
  }
  if (req.method === 'POST' && req.url === '/__test/redirect_uris') {
    // The tenant server's callback, once its port is known. Codes, grants and sessions survive
    // (the memory adapter is shared by every provider instance).
    redirectUris = JSON.parse(await readBody(req)).redirect_uris;
    rebuild();
    res.writeHead(204).end();
    return;
  }
  const route = req.url.match(/^\/interaction\/([^/?]+)(?:\/(login))?$/);
  if (route) {
    await interaction(req, res, route[1], route[2]);
    return;
  }
  // Entra issues a refresh token for offline_access at once; oidc-provider (per OpenID Connect
  // Core 11) only with prompt=consent, which the tenant server's requests get here.
  const url = new URL(req.url, issuer);
  if (url.pathname === '/auth' && url.searchParams.get('client_id') === TENANT_SERVER.client_id && !url.searchParams.has('prompt')) {
    url.searchParams.set('prompt', 'consent');
    req.url = `${url.pathname}${url.search}`;
  }
  handler(req, res);
});
let issuer;
server.listen(0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  keys = newKeys();
  rebuild();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
