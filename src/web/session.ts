import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PageError, type ApiClient } from './api.js';

/** The cookie that holds the signed-in user's API token. */
export const SESSION_COOKIE = 'cpl_session';

/** Who is signed in, as the API's /v1/me says. */
export interface Me {
  userId: string | null;
  organisationId: string;
  role: 'admin' | 'finance' | 'coordinator' | 'participant' | 'reporter';
  contributorId: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The API as the signed-in user (or anonymously, before sign-in). */
    api: ApiClient;
    /** Who is signed in, once requireRole has asked the API. */
    me: Me | null;
  }
}

/** Where each role starts. */
export function homeFor(role: Me['role']): string {
  switch (role) {
    case 'participant':
      return '/my';
    case 'coordinator':
      return '/register';
    case 'finance':
      return '/finance';
    default:
      return '/account';
  }
}

/** The signed-in user, or a redirect to sign in. Pages call it first. */
export async function requireRole(request: FastifyRequest, reply: FastifyReply, ...roles: Me['role'][]): Promise<Me | null> {
  if (!request.cookies[SESSION_COOKIE]) {
    await reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
    return null;
  }
  const me = await request.api.get<Me>('/v1/me');
  if (!roles.includes(me.role)) {
    throw new PageError({ status: 403, code: 'forbidden', title: 'Forbidden', detail: 'This page is for another role. Use the links at the top of the page.' });
  }
  request.me = me;
  return me;
}

/** Whether the service is served over https: PUBLIC_URL says so (TLS may end at a proxy in front). */
export const servedOverHttps = (app: FastifyInstance): boolean => app.config.publicUrl?.startsWith('https:') ?? false;

/** Cookies are Secure whenever the service is served over https, or this request came over it. */
export const secureCookies = (app: FastifyInstance, request: FastifyRequest): boolean => servedOverHttps(app) || request.protocol === 'https';
