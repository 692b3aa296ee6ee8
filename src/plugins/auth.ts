import fastifyJwt from '@fastify/jwt';
import { and, eq, isNull } from 'drizzle-orm';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { apiTokens } from '../db/schema.js';
import type { Role } from '../domain/enums.js';
import { AppError } from '../errors.js';
import type { Actor, Principal } from '../domain/actor.js';
import { sha256 } from '../lib/secrets.js';

interface JwtClaims {
  sub: string;
  org: string;
  role: Role;
  cid: string | null;
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
    issueAccessToken(claims: JwtClaims): string;
  }
}

/** API tokens are recognisable by their prefix, so a script's token never reaches the JWT parser. */
export const API_TOKEN_PREFIX = 'cpl_';

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
    // Pinning the algorithm refuses `alg: none` and tokens signed any other way.
    verify: { algorithms: ['HS256'], allowedIss: options.issuer, allowedAud: options.audience, maxAge: options.ttlSeconds },
  });

  app.decorate('issueAccessToken', (claims: JwtClaims) => app.jwt.sign(claims));
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
    const [row] = await app.db
      .select({ id: apiTokens.id, organisationId: apiTokens.organisationId, role: apiTokens.role })
      .from(apiTokens)
      .where(and(eq(apiTokens.tokenHash, sha256(token)), isNull(apiTokens.revokedAt)))
      .limit(1);
    if (!row) throw unauthorized();
    return { organisationId: row.organisationId, role: row.role, userId: null, apiTokenId: row.id, contributorId: null };
  }

  let claims: JwtClaims;
  try {
    claims = await request.jwtVerify<JwtClaims>();
  } catch {
    throw unauthorized();
  }
  if (!claims.sub || !claims.org || !claims.role) throw unauthorized();
  return { organisationId: claims.org, role: claims.role, userId: claims.sub, apiTokenId: null, contributorId: claims.cid ?? null };
}

export default fp(authPlugin, { name: 'auth', dependencies: ['database', 'errors'] });
