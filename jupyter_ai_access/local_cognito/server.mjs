// Local Amazon Cognito user pool emulator, built on oidc-provider.
//
// Started by `jupyter-ai-access local-cognito` (see cli.py), which validates the pool description
// and passes it here as a normalised JSON file. Paths and behaviour follow a real user pool:
//   issuer            http://<host>:<port><base path>/<user_pool_id>
//   discovery / JWKS  <issuer>/.well-known/openid-configuration, <issuer>/.well-known/jwks.json
//   hosted UI + OAuth /login, /logout, /oauth2/authorize, /oauth2/token, /oauth2/userInfo,
//                     /oauth2/revoke   (the "user-pool domain", here the same host)
// Every path starts with the pool's "base_path" (or --base-path; default none): behind a proxy
// that serves the emulator under a prefix (a Jupyter server on Binder: <base_url>ai-access/cognito),
// links, redirects and cookie paths are the ones the browser sees; the issuer has it too. A pool's
// "login_hint" (text) is shown on the sign-in page (Binder's demo users and passwords).
// On start it prints one JSON line {"event": "ready", ...} on stdout. It never logs token values,
// passwords or client secrets.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import querystring from 'node:querystring';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

import {
  ASSUMPTIONS, EXCHANGE_PLANS, FLAG_DELEGATION, FLAG_IMPERSONATION, ExchangeError, createExchange,
} from './exchange.mjs';
import { FileStore, adapterFactory } from './store.mjs';
import { loginPage, errorPage } from './pages.mjs';

const { values: args } = parseArgs({
  options: {
    pool: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    state: { type: 'string' },
    'base-path': { type: 'string', default: '' },
  },
});

const log = (event, fields = {}) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
};

const pool = JSON.parse(fs.readFileSync(args.pool, 'utf8'));
const base = (args['base-path'] || pool.base_path || '').replace(/\/+$/, '');
if (base && !/^(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+$/.test(base)) {
  throw new Error('base_path must be a URL path such as /user/me/ai-access/cognito');
}
fs.mkdirSync(args.state, { recursive: true, mode: 0o700 });

// ---------------------------------------------------------------- keys (persisted)
function loadSecrets(stateDir) {
  const file = path.join(stateDir, 'keys.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const rsa = (use) => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    return { ...jwk, kid: `${use}-${crypto.randomBytes(12).toString('base64url')}`, alg: 'RS256', use: 'sig' };
  };
  const secrets = {
    id: rsa('id'),
    access: rsa('access'),
    cookies: [crypto.randomBytes(32).toString('base64url')],
  };
  fs.writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}
const secrets = loadSecrets(args.state);
const accessKey = crypto.createPublicKey({ key: secrets.access, format: 'jwk' });

// ---------------------------------------------------------------- the pool
const caseSensitive = pool.username_case_sensitive === true;
const fold = (name) => (caseSensitive ? name : name.toLowerCase());
const stableSub = (seed) => {
  const h = crypto.createHash('sha256').update(`${pool.user_pool_id}:${seed}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

const accounts = new Map(); // accountId (sub) -> account
const byUsername = new Map(); // provider name + folded username -> account
function addAccount(user, idp) {
  const sub = user.sub || stableSub(idp ? `${idp.name}:${user.username}` : user.username);
  const account = {
    sub,
    // Federated users get Cognito's "<ProviderName>_<provider sub>" user names.
    username: idp ? `${idp.name}_${user.sub || user.username}` : user.username,
    password: user.password,
    attributes: user.attributes || {},
    groups: user.groups || [],
    idp,
    idpUserId: user.sub || user.username,
    enabled: user.enabled !== false,
  };
  accounts.set(sub, account);
  byUsername.set(`${idp ? idp.name : 'COGNITO'}:${fold(user.username)}`, account);
}
for (const user of pool.users || []) addAccount(user, null);
for (const idp of pool.identity_providers || []) {
  for (const user of idp.users || []) addAccount(user, idp);
}
// Cognito puts custom attributes ("custom:<name>") in ID tokens.
const customAttributes = [...accounts.values()].flatMap(
  (a) => Object.keys(a.attributes).filter((k) => k.startsWith('custom:')),
);
const clients = new Map((pool.app_clients || []).map((c) => [c.client_id, c]));
const resourceServer = `urn:cognito:${pool.user_pool_id}`; // internal resource indicator
const customScopes = (pool.resource_servers || []).flatMap(
  (rs) => rs.scopes.map((s) => `${rs.identifier}/${s.name}`),
);
const standardScopes = ['openid', 'email', 'profile', 'phone', 'aws.cognito.signin.user.admin'];

// ---------------------------------------------------------------- provider configuration
const store = new FileStore(path.join(args.state, 'store.json'));
const issuerPath = `${base}/${pool.user_pool_id}`;
const publicHost = pool.public_host || args.host;
const hostForUrl = publicHost.includes(':') ? `[${publicHost}]` : publicHost;

function ttlFor(client, which, fallback) {
  const c = client && clients.get(client.clientId);
  return (c && c.token_validity && c.token_validity[which]) || fallback;
}

function clientMetadata(c) {
  const grants = [];
  if (c.allowed_oauth_flows.includes('code')) grants.push('authorization_code', 'refresh_token');
  if (c.allowed_oauth_flows.includes('client_credentials')) grants.push('client_credentials');
  const flows = c.explicit_auth_flows || [];
  if (flows.includes(FLAG_IMPERSONATION) || flows.includes(FLAG_DELEGATION)) {
    grants.push(ASSUMPTIONS.grantType); // which of the two is checked by the exchange itself
  }
  return {
    client_id: c.client_id,
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    client_name: c.name,
    redirect_uris: c.callback_urls || [],
    post_logout_redirect_uris: c.logout_urls || [],
    grant_types: grants,
    response_types: c.allowed_oauth_flows.includes('code') ? ['code'] : [],
    token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none',
    scope: c.allowed_oauth_scopes.join(' '),
    id_token_signed_response_alg: 'RS256',
  };
}

async function accountClaims(ctx, account) {
  const grant = ctx?.oidc?.entities?.Grant;
  const source = ctx?.oidc?.entities?.AuthorizationCode || ctx?.oidc?.entities?.RefreshToken;
  const claims = {
    ...(source?.authTime ? { auth_time: source.authTime } : {}),
    sub: account.sub,
    'cognito:username': account.username,
    token_use: 'id',
    jti: crypto.randomUUID(),
    event_id: crypto.randomUUID(),
    ...(grant ? { origin_jti: grant.jti } : {}),
    ...(account.groups.length ? { 'cognito:groups': account.groups } : {}),
    ...account.attributes,
  };
  if (account.idp) {
    claims.identities = [{
      userId: account.idpUserId,
      providerName: account.idp.name,
      providerType: account.idp.type || 'OIDC',
      issuer: account.idp.issuer || null,
      primary: 'true',
      dateCreated: '0',
    }];
  }
  return claims;
}

const configuration = {
  adapter: adapterFactory(store),
  clients: [...clients.values()].map(clientMetadata),
  jwks: { keys: [secrets.id, secrets.access] }, // ID tokens use the first RS256 key
  cookies: { keys: secrets.cookies, long: { signed: true }, short: { signed: true } },
  claims: {
    openid: ['sub', 'auth_time', 'cognito:username', 'cognito:groups', 'token_use', 'jti', 'event_id',
      'origin_jti', 'identities', ...new Set(customAttributes)],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
    profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username',
      'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
  },
  scopes: [...standardScopes, ...customScopes],
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  pkce: { required: () => false },
  extraParams: ['identity_provider', 'idp_identifier'],
  clientBasedCORS: () => false,
  routes: {
    authorization: `${base}/oauth2/authorize`,
    token: `${base}/oauth2/token`,
    revocation: `${base}/oauth2/revoke`,
    jwks: `${issuerPath}/.well-known/jwks.json`,
    userinfo: `${base}/oauth2/oidc-userinfo-unused`,
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    userinfo: { enabled: false },
    rpInitiatedLogout: { enabled: false },
    introspection: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resourceServer,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => {
        if (resource !== resourceServer) throw new errors.InvalidTarget();
        const machine = ctx.oidc.params?.grant_type === 'client_credentials';
        if (machine && !ctx.oidc.params.scope) {
          // Cognito grants every custom scope the machine client allows when none is asked for.
          ctx.oidc.params.scope = client.scope;
        }
        return {
          scope: (machine ? customScopes : [...standardScopes, ...customScopes]).join(' '),
          audience: client.clientId,
          accessTokenFormat: 'jwt',
          accessTokenTTL: ttlFor(client, 'access_token', 3600),
          jwt: { sign: { alg: 'RS256', kid: secrets.access.kid } },
        };
      },
    },
  },
  ttl: {
    AuthorizationCode: 300,
    IdToken: (ctx, token, client) => ttlFor(client, 'id_token', 3600),
    RefreshToken: (ctx, token, client) => ttlFor(client, 'refresh_token', 30 * 24 * 3600),
    ClientCredentials: (ctx, token, client) => ttlFor(client, 'access_token', 3600),
    AccessToken: (ctx, token, client) => ttlFor(client, 'access_token', 3600),
    Grant: (ctx, grant, client) => ttlFor(client, 'refresh_token', 30 * 24 * 3600),
    Session: 3600,
    Interaction: 600,
  },
  // Signing out of the hosted UI does not revoke anything on Cognito.
  expiresWithSession: () => false,
  // Cognito issues a refresh token with every authorization-code grant (no offline_access scope).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: (ctx) => clients.get(ctx.oidc.client.clientId)?.refresh_token_rotation === true,
  findAccount: async (ctx, sub) => {
    const account = accounts.get(sub);
    if (!account || !account.enabled) return undefined;
    return { accountId: sub, claims: () => accountClaims(ctx, account) };
  },
  // Cognito never asks for consent: every authorization creates a new grant (a new origin_jti).
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    const requested = [...ctx.oidc.requestParamScopes];
    grant.addOIDCScope(requested.join(' '));
    grant.addResourceScope(resourceServer, requested.join(' '));
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `${base}/login?interaction=${interaction.uid}` },
  formats: {
    customizers: {
      // Reshape JWT access tokens like Cognito's (aud stays: oidc-provider insists on it).
      jwt: async (ctx, token, jwt) => {
        const p = jwt.payload;
        p.token_use = 'access';
        p.version = 2;
        p.jti = crypto.randomUUID();
        p.event_id = crypto.randomUUID();
        if (token.kind === 'ClientCredentials') {
          p.sub = token.clientId;
          p.auth_time = p.iat;
        } else {
          const account = accounts.get(token.accountId);
          p.username = account.username;
          if (account.groups.length) p['cognito:groups'] = account.groups;
          p.origin_jti = token.grantId;
          const source = ctx?.oidc?.entities?.RefreshToken || ctx?.oidc?.entities?.AuthorizationCode;
          p.auth_time = source?.authTime || p.iat;
        }
      },
    },
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = errorPage(out.error, out.error_description);
  },
};

if (!/^[1-9][0-9]*$/.test(args.port)) throw new Error('--port must be a fixed port number');
const domain = `http://${hostForUrl}:${args.port}`;
const provider = new Provider(`${domain}${issuerPath}`, configuration);
provider.proxy = false;

// Token exchange (RFC 8693): the token endpoint grant here, GetDerivedToken among our routes.
const exchange = createExchange({
  pool, clients, secrets, provider, accounts, loginResource: resourceServer,
});
provider.registerGrantType(ASSUMPTIONS.grantType, exchange.grantHandler,
  ASSUMPTIONS.params, ['resource', 'audience']);

// ---------------------------------------------------------------- helpers for our own routes
async function readBody(ctx, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > limit) ctx.throw(413, 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readForm(ctx) {
  return querystring.parse((await readBody(ctx)).toString('utf8'));
}

function cognitoJsonError(ctx, status, error) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = { error };
}

function discoveryDocument(origin) {
  const issuer = `${origin}${issuerPath}`;
  const domainUrl = `${origin}${base}`; // the user-pool domain's URLs carry the base path too
  return {
    issuer,
    authorization_endpoint: `${domainUrl}/oauth2/authorize`,
    token_endpoint: `${domainUrl}/oauth2/token`,
    userinfo_endpoint: `${domainUrl}/oauth2/userInfo`,
    revocation_endpoint: `${domainUrl}/oauth2/revoke`,
    end_session_endpoint: `${domainUrl}/logout`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials',
      ...(ASSUMPTIONS.advertiseInDiscovery && EXCHANGE_PLANS.includes(exchange.plan)
        ? [ASSUMPTIONS.grantType] : [])],
    scopes_supported: ['openid', 'email', 'phone', 'profile'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'token_use',
      'cognito:username', 'cognito:groups', 'email', 'email_verified', 'origin_jti', 'jti'],
  };
}

// Verify one of our own access tokens (for /oauth2/userInfo): signature, expiry, use, live grant.
async function verifyOwnAccessToken(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  let header;
  let payload;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (header.alg !== 'RS256' || header.kid !== secrets.access.kid) return null;
  const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`),
    accessKey, Buffer.from(parts[2], 'base64url'));
  if (!ok || payload.token_use !== 'access' || payload.exp <= Date.now() / 1000) return null;
  if (payload.origin_jti && !(await provider.Grant.find(payload.origin_jti))) return null;
  return payload;
}

// The AWS JSON protocol (POST / with X-Amz-Target): only GetDerivedToken is emulated.
async function awsJson(ctx) {
  const target = ctx.get('x-amz-target');
  const answer = (status, body) => {
    ctx.status = status;
    ctx.type = 'application/x-amz-json-1.1';
    ctx.set('x-amzn-RequestId', crypto.randomUUID());
    if (body.__type) ctx.set('x-amzn-ErrorType', body.__type);
    ctx.body = body;
  };
  if (target !== 'AWSCognitoIdentityProviderService.GetDerivedToken') {
    answer(400, { __type: 'UnknownOperationException', message: `${target} is not emulated` });
    return;
  }
  let body;
  try {
    body = JSON.parse((await readBody(ctx)).toString('utf8'));
  } catch {
    answer(400, { __type: 'SerializationException', message: 'The request body is not JSON.' });
    return;
  }
  try {
    answer(200, await exchange.getDerivedToken(body));
    log('get_derived_token', { client_id: body.ClientId });
  } catch (err) {
    if (!(err instanceof ExchangeError)) throw err;
    log('get_derived_token_refused', { error: err.awsType });
    answer(400, { __type: err.awsType, message: err.message });
  }
}

// ---------------------------------------------------------------- our routes, in front of the provider
provider.use(async (ctx, next) => {

  if (ctx.method === 'POST' && ctx.path === `${base}/` && ctx.get('x-amz-target')) {
    await awsJson(ctx);
    return;
  }

  if (ctx.method === 'GET' && ctx.path === `${issuerPath}/.well-known/openid-configuration`) {
    ctx.type = 'application/json';
    ctx.body = discoveryDocument(domain);
    return;
  }

  if (ctx.path === `${base}/health`) {
    ctx.body = { status: 'ok', user_pool_id: pool.user_pool_id };
    return;
  }

  if (ctx.path === `${base}/oauth2/userInfo` && ['GET', 'POST'].includes(ctx.method)) {
    const auth = ctx.get('authorization');
    const claims = auth.startsWith('Bearer ') ? await verifyOwnAccessToken(auth.slice(7)) : null;
    if (!claims || !String(claims.scope || '').split(' ').includes('openid')) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token", error_description="Access token is expired, disabled, or deleted, or the user has globally signed out."');
      ctx.body = { error: 'invalid_token', error_description: 'Access token is expired, disabled, or deleted, or the user has globally signed out.' };
      return;
    }
    const account = accounts.get(claims.sub);
    // userInfo returns the user's attributes and username, never cognito:groups.
    ctx.body = { sub: account.sub, username: account.username, ...account.attributes };
    if (account.idp) ctx.body.identities = JSON.stringify((await accountClaims(null, account)).identities);
    return;
  }

  if (ctx.path === `${base}/logout` && ctx.method === 'GET') {
    const client = clients.get(String(ctx.query.client_id || ''));
    const logoutUri = String(ctx.query.logout_uri || '');
    if (!client) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage('invalid_request', 'Required client_id is missing or unknown.');
      return;
    }
    if (!(client.logout_urls || []).includes(logoutUri)) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = errorPage('invalid_request', 'logout_uri is not one of the sign-out URLs registered for this app client.');
      return;
    }
    const session = await provider.Session.get(ctx);
    if (session.accountId) log('logout', { client_id: client.client_id });
    await session.destroy();
    ctx.cookies.set(provider.cookieName('session'), null);
    ctx.cookies.set(`${provider.cookieName('session')}.sig`, null);
    ctx.redirect(logoutUri);
    return;
  }

  if (ctx.path === `${base}/login`) {
    await hostedLogin(ctx);
    return;
  }

  if (ctx.path === `${base}/oauth2/authorize` && ctx.method === 'GET') {
    const client = clients.get(String(ctx.query.client_id || ''));
    const idp = ctx.query.identity_provider || ctx.query.idp_identifier;
    if (client && idp) {
      const supported = client.supported_identity_providers || ['COGNITO'];
      const known = (pool.identity_providers || []).find(
        (p) => p.name === idp || (p.identifiers || []).includes(idp),
      );
      if (!(idp === 'COGNITO' || (known && supported.includes(known.name)))) {
        ctx.status = 400;
        ctx.type = 'html';
        ctx.body = errorPage('invalid_request', 'The identity provider is not enabled for this app client.');
        return;
      }
    }
  }

  const tokenRoute = ctx.path === `${base}/oauth2/token` || ctx.path === `${base}/oauth2/revoke`;
  await next();

  if (tokenRoute && ctx.body && typeof ctx.body === 'object') {
    if (ctx.body.error) {
      // Cognito answers {"error": "..."} with 400, usually without a description.
      const notAllowed = /grant type is not allowed/.test(ctx.body.error_description || '');
      cognitoJsonError(ctx, 400, notAllowed ? 'unauthorized_client' : ctx.body.error);
      ctx.remove('WWW-Authenticate');
    } else if (ctx.oidc?.params?.grant_type === 'refresh_token'
      && clients.get(ctx.oidc.client.clientId)?.refresh_token_rotation !== true) {
      delete ctx.body.refresh_token; // Cognito keeps the old refresh token valid and returns none
    }
  }
});

async function hostedLogin(ctx) {
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = errorPage('invalid_request', 'The login session has expired or is unknown. Start again from the application.');
    return;
  }
  const { uid, prompt, params } = details;
  const client = clients.get(params.client_id);
  const idpName = params.identity_provider || params.idp_identifier;
  const idp = (pool.identity_providers || []).find(
    (p) => p.name === idpName || (p.identifiers || []).includes(idpName),
  );
  const realm = idp ? idp.name : 'COGNITO';
  const render = (error, username = '') => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = loginPage({
      uid, clientName: client?.name || params.client_id, realm, error, username,
      action: `${base}/login`, hint: typeof pool.login_hint === 'string' ? pool.login_hint : '',
    });
  };

  if (prompt.name !== 'login') {
    // Cognito has no consent step: finish the interaction straight away.
    await provider.interactionFinished(ctx.req, ctx.res, {}, { mergeWithLastSubmission: true });
    return;
  }
  if (ctx.method === 'GET') {
    render();
    return;
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  const form = await readForm(ctx);
  const username = String(form.username || '');
  const account = byUsername.get(`${realm}:${fold(username)}`);
  if (!account || !account.enabled || !constantEquals(account.password, String(form.password || ''))) {
    log('login_failed', { realm });
    ctx.status = 200;
    render('Incorrect username or password.', username);
    return;
  }
  log('login', { realm, sub: account.sub });
  await provider.interactionFinished(ctx.req, ctx.res, {
    login: { accountId: account.sub, remember: true },
  }, { mergeWithLastSubmission: false });
}

function constantEquals(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

provider.on('server_error', (ctx, err) => log('server_error', { message: err.message }));

// ---------------------------------------------------------------- start
const server = provider.listen(Number(args.port), args.host, () => {
  process.stdout.write(`${JSON.stringify({
    event: 'ready',
    issuer: provider.issuer,
    domain: `${domain}${base}`,
    port: server.address().port,
    user_pool_id: pool.user_pool_id,
    pid: process.pid,
  })}\n`);
});
server.on('error', (err) => {
  process.stdout.write(`${JSON.stringify({ event: 'error', message: err.message, code: err.code })}\n`);
  process.exit(3);
});

// Stop at once: in-flight and keep-alive connections are cut (a restarted Hub waits for this port),
// and the process exits within a second whatever a client holds open.
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
