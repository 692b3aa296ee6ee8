import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { newId } from '../lib/ids.js';
import { AccessState } from './access-state.js';
import type { Role } from '../domain/enums.js';
import { AppError } from '../errors.js';
import type { Actor, Principal } from '../domain/actor.js';
import { API_TOKEN_PREFIX, sha256 } from '../lib/secrets.js';

interface JwtClaims {
  sub: string;
  org: string;
  /** The role and contributor when issued; each request uses the user's current ones. */
  role: Role;
  cid: string | null;
  /** The user's token version when issued: a disabled or reset user's older tokens stop. */
  ver?: number;
  /** The token's own id, so logout can revoke just this one. */
  jti?: string;
  exp?: number;
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: JwtClaims;
    user: JwtClaims;
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** No bearer token needed (health checks, login, webhooks). */
    public?: boolean;
    /** The roles allowed to call the route. Every non-public route must declare them. */
    roles?: readonly Role[];
  }
  interface FastifyRequest {
    principal: Principal;
    actor(): Actor;
  }
  interface FastifyInstance {
    issueAccessToken(claims: Pick<JwtClaims, 'sub' | 'org' | 'role' | 'cid' | 'ver'>): string;
    /** Who may still do what: users' and API tokens' current state, cached for a second. */
    access: AccessState;
  }
}


export interface AuthOptions {
  secret: string;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

const unauthorized = (detail = 'The bearer token is missing, expired or not valid.') => new AppError('unauthorized', detail);

/**
 * Authentication and role checks, decided per route from its config: every route is private
 * unless it says `public: true`, and a private route without `roles` fails at start-up, so a
 * new route can never be open by accident.
 */
async function authPlugin(app: FastifyInstance, options: AuthOptions) {
  await app.register(fastifyJwt, {
    secret: options.secret,
    sign: { algorithm: 'HS256', iss: options.issuer, aud: options.audience, expiresIn: options.ttlSeconds },
    // Pinning the algorithm refuses `alg: none` and tokens signed any other way. A token verified
    // once is remembered (fast-jwt's cache: the last 1,000, keyed by a SHA-256 of the whole token,
    // each until its expiry or maxAge), so a session's later requests skip the HMAC and the
    // claims' checks (@fastify/jwt still decodes each token). Whether its user may still act is
    // checked on every request below.
    verify: { algorithms: ['HS256'], allowedIss: options.issuer, allowedAud: options.audience, maxAge: options.ttlSeconds, cache: true },
  });

  app.decorate('issueAccessToken', (claims: Pick<JwtClaims, 'sub' | 'org' | 'role' | 'cid' | 'ver'>) =>
    app.jwt.sign({ ...claims, jti: newId() }),
  );
  app.decorate('access', new AccessState(app.db, () => app.now()));
  app.decorateRequest('principal', null as unknown as Principal);
  app.decorateRequest('actor', function (this: FastifyRequest): Actor {
    const p = this.principal;
    if (!p) return { type: 'system', id: null, requestId: this.id };
    return p.userId
      ? { type: 'user', id: p.userId, requestId: this.id }
      : { type: 'api_token', id: p.apiTokenId, requestId: this.id };
  });

  app.addHook('onRoute', (route) => {
    const config = route.config as { public?: boolean; roles?: readonly Role[] } | undefined;
    const url = route.url ?? route.path;
    // Fastify's own HEAD twins and plugin routes outside /v1 are checked by their GET.
    if (!url.startsWith('/v1/')) return;
    if (!config?.public && !config?.roles?.length) {
      throw new Error(`Route ${route.method} ${url} declares neither public: true nor roles`);
    }
  });

  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    // Operational routes outside /v1 (health, metrics, docs) are open, like the load
    // balancer and Prometheus expect; everything under /v1 is private unless marked public.
    if (config.public || !request.routeOptions.url?.startsWith('/v1/')) return;
    request.principal = await authenticate(app, request);
    if (!config.roles?.includes(request.principal.role)) {
      throw new AppError('forbidden', `The ${request.principal.role} role may not do this.`);
    }
  });
}

async function authenticate(app: FastifyInstance, request: FastifyRequest): Promise<Principal> {
  const header = request.headers.authorization;
  const match = header ? /^Bearer ([^\s]+)$/i.exec(header) : null;
  if (!match?.[1]) throw unauthorized('Send a bearer token in the Authorization header.');
  const token = match[1];

  if (token.startsWith(API_TOKEN_PREFIX)) {
    const hash = sha256(token);
    const row = await app.access.apiToken(hash);
    if (!row || row.revoked || row.makerDisabled) throw unauthorized();
    if (row.expiresAt && row.expiresAt <= app.now()) throw unauthorized('The API token has expired.');
    // Not awaited by the request: a failed write of "last used" must not fail the call.
    app.access.touchApiToken(row, hash).catch((error) => request.log.warn({ err: error }, 'could not record API token use'));
    return {
      organisationId: row.organisationId,
      role: row.role,
      userId: null,
      apiTokenId: row.id,
      // The maker's contributor: a token cannot approve what its maker could not (their own time).
      contributorId: row.makerContributorId,
      personId: row.userId,
    };
  }

  let claims: JwtClaims;
  try {
    claims = await request.jwtVerify<JwtClaims>();
  } catch {
    throw unauthorized();
  }
  if (!claims.sub || !claims.org || !claims.role) throw unauthorized();
  const user = await app.access.user(claims.org, claims.sub);
  if (!user || user.disabled || (claims.ver ?? 0) !== user.tokenVersion || (claims.jti && user.revokedJtis.has(claims.jti))) {
    throw unauthorized('The session has ended: sign in again.');
  }
  // The user's role and contributor now, not when the token was issued: a change bites at once.
  return {
    organisationId: claims.org,
    role: user.role,
    userId: claims.sub,
    apiTokenId: null,
    contributorId: user.contributorId,
    personId: claims.sub,
    jti: claims.jti ?? null,
    expiresAt: claims.exp ? new Date(claims.exp * 1000) : null,
  };
}

export default fp(authPlugin, { name: 'auth', dependencies: ['database', 'errors'] });
