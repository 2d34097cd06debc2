// OAuth 2.0 token exchange (RFC 8693) the way Amazon Cognito documents it: the token endpoint's
// token-exchange grant and the GetDerivedToken API (AWS JSON protocol) share one implementation.
//
// Documented by AWS (developer guide "Exchanging tokens for downstream services", API reference
// GetDerivedToken, botocore's cognito-idp model): the requesting app client needs
// ALLOW_TOKEN_EXCHANGE_IMPERSONATION (no actor token) or ALLOW_TOKEN_EXCHANGE_DELEGATION (actor
// token) in ExplicitAuthFlows; feature plans Essentials and Plus only; the issued token is a standard
// access token narrowed in scope (intersection of the requested scopes, the subject token's scopes
// and the client's allowed scopes; the subject's scopes when none are asked), bound to one audience
// (Audiences or Resources, not both, at most one), no refresh token; with an actor token it carries
// an `act` claim naming the intermediary. Everything AWS leaves unsaid is decided in ASSUMPTIONS
// below, and nowhere else; docs/reference/local-cognito.md ("Token exchange: what the emulator assumes") lists it.
import crypto from 'node:crypto';

// ---------------------------------------------------------------- what the emulator assumes
export const ASSUMPTIONS = Object.freeze({
  // Token endpoint parameter names and URNs: RFC 8693 section 2.1 / 3.
  grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
  params: ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
    'requested_token_type', 'audience', 'resource', 'scope'],
  tokenTypeUrns: {
    'urn:ietf:params:oauth:token-type:access_token': 'ACCESS_TOKEN',
    'urn:ietf:params:oauth:token-type:id_token': 'ID_TOKEN',
    'urn:ietf:params:oauth:token-type:saml2': 'SAML2',
  },
  // Only access tokens are issued (GetDerivedToken may also issue ID tokens: not emulated).
  issuedTokenTypes: ['ACCESS_TOKEN'],
  // Subject and actor tokens: this pool's own access or ID tokens; no SAML2, no third-party
  // (SubjectTokenProviderName / ActorTokenProviderName) tokens.
  acceptedTokenTypes: ['ACCESS_TOKEN', 'ID_TOKEN'],
  // An ID token as subject only when the requesting client is its `aud`; its "scopes" are then
  // those granted at the sign-in it came from (an ID token carries none; never widened).
  idTokenSubjectOnlyForItsClient: true,
  // An audience or resource must name one of the pool's resource servers (its identifier);
  // the issued scopes are further limited to that server's scopes.
  audienceIsResourceServer: true,
  // One of Audiences/Resources is required (the token is bound to exactly one audience).
  audienceRequired: true,
  // Claims of the issued token: the subject's sub, username, cognito:groups, auth_time and
  // origin_jti; client_id = the requesting client; aud = the audience as a string; new jti;
  // act = {sub, client_id} of the actor (RFC 8693 4.1), with the subject token's own act nested
  // under it; without an actor token, the subject token's act (if any) is kept.
  actClaim: (actor) => ({ sub: actor.sub, client_id: actor.client_id || actor.aud }),
  // Lifetime: the requesting client's access-token validity, never beyond the subject's exp.
  lifetime: (clientTtl, subjectExp, now) => Math.min(clientTtl, subjectExp - now),
  // The derived token shares the subject's origin_jti: revoking the subject's refresh token
  // makes it fail wherever revocation is checked (userInfo, a later exchange, origin_jti lists).
  revocationFollowsOrigin: true,
  // A call to GetDerivedToken is not IAM-signed here: a client with a secret must send it.
  iamSignatureIgnored: true,
  // The discovery document lists the grant when the feature plan allows it (client code should
  // not rely on that: Cognito's discovery document may not say).
  advertiseInDiscovery: true,
  // Errors: refusal kind -> [AWS JSON __type, token endpoint OAuth error].
  errors: {
    unknownClient: ['ResourceNotFoundException', 'invalid_client'],
    badSecret: ['NotAuthorizedException', 'invalid_client'],
    featurePlan: ['FeatureUnavailableInTierException', 'unsupported_grant_type'],
    flowNotEnabled: ['InvalidParameterException', 'unauthorized_client'],
    badRequest: ['InvalidParameterException', 'invalid_request'],
    badTarget: ['InvalidParameterException', 'invalid_target'],
    badSubject: ['NotAuthorizedException', 'invalid_grant'],
    badActor: ['NotAuthorizedException', 'invalid_grant'],
    badScope: ['InvalidParameterException', 'invalid_scope'],
  },
});

export const FLAG_IMPERSONATION = 'ALLOW_TOKEN_EXCHANGE_IMPERSONATION';
export const FLAG_DELEGATION = 'ALLOW_TOKEN_EXCHANGE_DELEGATION';
export const EXCHANGE_PLANS = ['ESSENTIALS', 'PLUS'];

export class ExchangeError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }

  get awsType() { return ASSUMPTIONS.errors[this.kind][0]; }

  get oauthError() { return ASSUMPTIONS.errors[this.kind][1]; }
}

const fail = (kind, message) => { throw new ExchangeError(kind, message); };

// ---------------------------------------------------------------- the exchange
export function createExchange({ pool, clients, secrets, provider, accounts, loginResource }) {
  const keys = {
    ACCESS_TOKEN: { kid: secrets.access.kid, key: crypto.createPublicKey({ key: secrets.access, format: 'jwk' }) },
    ID_TOKEN: { kid: secrets.id.kid, key: crypto.createPublicKey({ key: secrets.id, format: 'jwk' }) },
  };
  const signingKey = crypto.createPrivateKey({ key: secrets.access, format: 'jwk' });
  const servers = new Map((pool.resource_servers || []).map(
    (rs) => [rs.identifier, new Set(rs.scopes.map((s) => `${rs.identifier}/${s.name}`))],
  ));
  const plan = pool.feature_plan || 'ESSENTIALS';

  // Verify one of this pool's tokens of the declared type; return its claims or null.
  async function verifyPoolToken(token, type) {
    const parts = String(token || '').split('.');
    if (parts.length !== 3) return null;
    let header;
    let claims;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    const expected = keys[type];
    if (header.alg !== 'RS256' || header.kid !== expected.kid) return null;
    const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), expected.key,
      Buffer.from(parts[2], 'base64url'));
    const use = type === 'ACCESS_TOKEN' ? 'access' : 'id';
    if (!ok || claims.iss !== provider.issuer || claims.token_use !== use) return null;
    if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) return null;
    if (claims.origin_jti && !(await provider.Grant.find(claims.origin_jti))) return null; // revoked
    const account = accounts.get(claims.sub);
    if (account && !account.enabled) return null;
    return claims;
  }

  function checkClientSecret(client, secret) {
    if (!client.client_secret) return;
    const x = Buffer.from(String(client.client_secret));
    const y = Buffer.from(String(secret || ''));
    if (!(x.length === y.length && crypto.timingSafeEqual(x, y))) {
      fail('badSecret', `Client ${client.client_id} secret does not match.`);
    }
  }

  function sign(payload) {
    const header = { kid: keys.ACCESS_TOKEN.kid, alg: 'RS256' };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${
      Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${input}.${crypto.sign('sha256', Buffer.from(input), signingKey).toString('base64url')}`;
  }

  // req: {client, subjectToken, subjectType, actorToken, actorType, audiences, resources,
  //       scopes (array or null), requestedType}; the client is already authenticated.
  async function exchange(req) {
    const { client } = req;
    if (!EXCHANGE_PLANS.includes(plan)) {
      fail('featurePlan', `Token exchange requires the ESSENTIALS or PLUS feature plan; this user pool is on ${plan}.`);
    }
    const flag = req.actorToken ? FLAG_DELEGATION : FLAG_IMPERSONATION;
    if (!(client.explicit_auth_flows || []).includes(flag)) {
      fail('flowNotEnabled', `${flag} flow not enabled for this client`);
    }
    if (!req.subjectToken || !req.subjectType) fail('badRequest', 'SubjectToken and SubjectTokenType are required.');
    if (!ASSUMPTIONS.acceptedTokenTypes.includes(req.subjectType)) {
      fail('badRequest', `SubjectTokenType ${req.subjectType} is not supported.`);
    }
    if (req.actorToken && !ASSUMPTIONS.acceptedTokenTypes.includes(req.actorType)) {
      fail('badRequest', 'ActorTokenType must be ACCESS_TOKEN or ID_TOKEN when ActorToken is present.');
    }
    if (!req.actorToken && req.actorType) fail('badRequest', 'ActorTokenType without ActorToken.');
    if (!ASSUMPTIONS.issuedTokenTypes.includes(req.requestedType || 'ACCESS_TOKEN')) {
      fail('badRequest', `RequestedTokenType ${req.requestedType} is not supported.`);
    }
    const audiences = req.audiences || [];
    const resources = req.resources || [];
    if (audiences.length && resources.length) fail('badRequest', 'Request either Audiences or Resources, not both.');
    const targets = [...audiences, ...resources];
    if (targets.length > 1) fail('badTarget', 'Only one audience or resource can be requested.');
    if (!targets.length && ASSUMPTIONS.audienceRequired) fail('badRequest', 'An audience or a resource is required.');
    const target = targets[0];
    if (!servers.has(target)) fail('badTarget', `${target} is not a resource server of this user pool.`);

    const subject = await verifyPoolToken(req.subjectToken, req.subjectType);
    if (!subject) fail('badSubject', 'Invalid subject token.');
    if (req.subjectType === 'ID_TOKEN' && subject.aud !== client.client_id) {
      fail('badSubject', 'The subject ID token was not issued to this app client.');
    }
    let actor = null;
    if (req.actorToken) {
      actor = await verifyPoolToken(req.actorToken, req.actorType);
      if (!actor) fail('badActor', 'Invalid actor token.');
    }

    const clientScopes = new Set(client.allowed_oauth_scopes || []);
    let held = String(subject.scope || '');
    if (req.subjectType === 'ID_TOKEN') {
      const grant = subject.origin_jti && await provider.Grant.find(subject.origin_jti);
      held = (grant && grant.resources && grant.resources[loginResource]) || '';
    }
    held = held.split(' ').filter(Boolean);
    const available = held.filter((s) => clientScopes.has(s) && servers.get(target).has(s));
    const granted = req.scopes && req.scopes.length
      ? available.filter((s) => req.scopes.includes(s)) : available;
    if (!granted.length) fail('badScope', `None of the requested scopes is held by the subject token for ${target}.`);

    const now = Math.floor(Date.now() / 1000);
    const ttl = (client.token_validity && client.token_validity.access_token) || 3600;
    const expiresIn = ASSUMPTIONS.lifetime(ttl, subject.exp, now);
    const payload = {
      sub: subject.sub,
      ...(subject['cognito:groups'] ? { 'cognito:groups': subject['cognito:groups'] } : {}),
      iss: provider.issuer,
      version: 2,
      client_id: client.client_id,
      ...(subject.origin_jti ? { origin_jti: subject.origin_jti } : {}),
      event_id: crypto.randomUUID(),
      token_use: 'access',
      scope: granted.join(' '),
      auth_time: subject.auth_time || now,
      exp: now + expiresIn,
      iat: now,
      jti: crypto.randomUUID(),
      aud: target,
    };
    const username = subject.username || subject['cognito:username'];
    if (username) payload.username = username;
    if (actor) {
      payload.act = ASSUMPTIONS.actClaim(actor);
      if (subject.act) payload.act.act = subject.act;
    } else if (subject.act) {
      payload.act = subject.act;
    }
    return { token: sign(payload), expiresIn, scopes: granted, claims: payload };
  }

  // ---------------------------------------------------------------- GetDerivedToken (AWS JSON)
  const TYPE_OF = (v) => (typeof v === 'string' ? v : undefined);
  async function getDerivedToken(body) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      fail('badRequest', 'The request body must be a JSON object.');
    }
    const client = clients.get(TYPE_OF(body.ClientId));
    if (!client) fail('unknownClient', `User pool client ${TYPE_OF(body.ClientId) || ''} does not exist.`);
    checkClientSecret(client, body.ClientSecret);
    if (body.SubjectTokenProviderName || body.ActorTokenProviderName) {
      fail('badRequest', 'Third-party subject and actor tokens are not supported by the emulator.');
    }
    const list = (v, name) => {
      if (v === undefined) return [];
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
        fail('badRequest', `${name} must be a list of strings.`);
      }
      return v;
    };
    const result = await exchange({
      client,
      subjectToken: TYPE_OF(body.SubjectToken),
      subjectType: TYPE_OF(body.SubjectTokenType),
      actorToken: TYPE_OF(body.ActorToken),
      actorType: TYPE_OF(body.ActorTokenType),
      audiences: list(body.Audiences, 'Audiences'),
      resources: list(body.Resources, 'Resources'),
      scopes: body.Scopes === undefined ? null : list(body.Scopes, 'Scopes'),
      requestedType: TYPE_OF(body.RequestedTokenType),
    });
    return {
      IssuedToken: result.token,
      IssuedTokenType: 'ACCESS_TOKEN',
      TokenType: 'Bearer',
      ExpiresIn: result.expiresIn,
      Scopes: result.scopes,
    };
  }

  // ---------------------------------------------------------------- token endpoint grant
  // Registered with oidc-provider, which has authenticated the client (basic or post) already.
  async function grantHandler(ctx) {
    const p = ctx.oidc.params;
    const urn = (v) => (v === undefined ? undefined : ASSUMPTIONS.tokenTypeUrns[v] || `unknown:${v}`);
    const many = (v) => (v === undefined ? [] : [].concat(v));
    try {
      const result = await exchange({
        client: clients.get(ctx.oidc.client.clientId),
        subjectToken: p.subject_token,
        subjectType: urn(p.subject_token_type),
        actorToken: p.actor_token,
        actorType: urn(p.actor_token_type),
        audiences: many(p.audience),
        resources: many(p.resource),
        scopes: p.scope ? p.scope.split(' ').filter(Boolean) : null,
        requestedType: p.requested_token_type === undefined ? undefined : urn(p.requested_token_type),
      });
      ctx.body = {
        access_token: result.token,
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: result.expiresIn,
        scope: result.scopes.join(' '),
      };
    } catch (err) {
      if (!(err instanceof ExchangeError)) throw err;
      ctx.status = 400;
      ctx.body = { error: err.oauthError, error_description: err.message };
    }
  }

  return { exchange, getDerivedToken, grantHandler, plan };
}
