import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import fastifyCompress from '@fastify/compress';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import nunjucks from 'nunjucks';
import { ApiClient, PageError, SessionEnded, type Problem } from './api.js';
import * as format from './format.js';
import { coordinatorPages } from './pages/coordinator.js';
import { financePages } from './pages/finance.js';
import { participantPages } from './pages/participant.js';
import { signInPages } from './pages/sign-in.js';

const viewsDir = fileURLToPath(new URL('./views/', import.meta.url));
const assetsDir = fileURLToPath(new URL('./assets/', import.meta.url));
const govukDist = fileURLToPath(new URL('../../node_modules/govuk-frontend/dist/', import.meta.url));

export const SESSION_COOKIE = 'cpl_session';

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
  interface FastifyReply {
    /** Renders a page with the layout's shared values (navigation, CSRF token, CSP nonce). */
    page(template: string, data?: Record<string, unknown>): Promise<FastifyReply>;
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

const navigation: Record<Me['role'], { href: string; text: string }[]> = {
  participant: [
    { href: '/my', text: 'What I am owed' },
    { href: '/my/statement', text: 'Statement' },
    { href: '/my/payment', text: 'How I am paid' },
  ],
  coordinator: [
    { href: '/register', text: 'Session register' },
    { href: '/approvals', text: 'Approvals' },
  ],
  finance: [
    { href: '/finance', text: 'Payments' },
    { href: '/finance/report', text: 'Grant report' },
  ],
  admin: [{ href: '/account', text: 'Account' }],
  reporter: [{ href: '/account', text: 'Account' }],
};

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

/** Field errors from a problem, keyed by the form field each belongs to. */
export function fieldErrors(problem: Problem, fieldNames: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of problem.errors ?? []) {
    const field = e.field.replace(/^(body|querystring|params)\./, '');
    const name = fieldNames[field] ?? field.split('.')[0]!;
    out[name] ??= e.message;
  }
  return out;
}

/** A fresh Idempotency-Key for a form, so that sending it twice has one effect. */
export const formKey = () => randomUUID();

let environment: nunjucks.Environment | undefined;

/** The templates: the service's own views and GOV.UK Frontend's macros, HTML-escaped by default. */
function pageEnvironment(): nunjucks.Environment {
  if (environment) return environment;
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader([viewsDir, govukDist], { noCache: process.env.NODE_ENV === 'development' }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  env.addFilter('money', (amount: number, currency?: string) => format.money(amount ?? 0, currency));
  env.addFilter('date', format.date);
  env.addFilter('month', format.month);
  env.addFilter('duration', format.duration);
  env.addGlobal('labels', { activity: format.activityLabels, kind: format.kindLabels, method: format.methodLabels, status: format.statusTags });
  environment = env;
  return env;
}

/** The "Page not found" page, for addresses outside the API that a browser asks for. */
export function notFoundPage(): string {
  return pageEnvironment().render('error.njk', { status: 404, problem: { detail: 'Check the address, or start again from the home page.' } });
}

/**
 * The web pages: server-rendered, GOV.UK Frontend patterns, progressive enhancement. Registered
 * in their own encapsulated context, so form parsing, cookies, CSRF and the page security
 * headers apply to pages only and the JSON API is unchanged.
 */
export async function webPages(app: FastifyInstance) {
  // Pages and assets are compressed for phones on slow connections (the API is left as it was).
  await app.register(fastifyCompress, { global: true, threshold: 1024 });
  await app.register(fastifyCookie);
  await app.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  await app.register(fastifyCsrf, {
    cookieKey: 'cpl_csrf',
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: 'auto' },
  });
  await app.register(fastifyHelmet, {
    enableCSPNonces: true,
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: null,
      },
    },
    // The pages are often opened from links in emails and texts; keep the referrer to our origin.
    referrerPolicy: { policy: 'same-origin' },
    strictTransportSecurity: false,
  });

  const env = pageEnvironment();

  await app.register(fastifyStatic, {
    root: assetsDir,
    prefix: '/assets/',
    maxAge: '1h',
    index: false,
    allowedPath: (pathName) => /^\/[\w.-]+\.(css|js)$/.test(pathName),
  });
  // GOV.UK Frontend's script, straight from the package: only the one file.
  await app.register(fastifyStatic, {
    root: `${govukDist}govuk/`,
    prefix: '/assets/govuk/',
    decorateReply: false,
    maxAge: '1h',
    index: false,
    allowedPath: (pathName) => pathName === '/govuk-frontend.min.js',
  });

  app.decorateRequest('api', null as unknown as ApiClient);
  app.decorateRequest('me', null);
  app.addHook('onRequest', async (request) => {
    request.api = new ApiClient(app, request, request.cookies[SESSION_COOKIE] ?? null);
  });
  // Every form carries a CSRF token; the cookie is SameSite=Strict as well.
  app.addHook('preHandler', (request, reply, done) => {
    if (request.method === 'POST') return app.csrfProtection(request, reply, done);
    done();
  });

  app.decorateReply('page', async function (this: FastifyReply, template: string, data: Record<string, unknown> = {}) {
    const request = this.request;
    const me = request.me;
    // The current section is the longest link the address starts with (/finance/report is the
    // report, not Payments).
    const path = request.url.split('?')[0]!;
    const links = me ? navigation[me.role] : [];
    const current = links.filter((n) => path === n.href || path.startsWith(`${n.href}/`)).sort((a, b) => b.href.length - a.href.length)[0];
    const nav = links.map((n) => ({ ...n, active: n === current }));
    const context = {
      ...data,
      // The error summary links each message to its field, unless the page says otherwise.
      errorList: data.errorList ?? Object.entries((data.errors as Record<string, string> | undefined) ?? {}).map(([field, text]) => ({ text, href: `#${field}` })),
      me,
      nav,
      csrfToken: await this.generateCsrf(),
      cspNonce: (this as FastifyReply & { cspNonce?: { script: string } }).cspNonce?.script,
    };
    const html = env.render(template, context);
    return this.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error instanceof SessionEnded) {
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      const next = request.method === 'GET' ? `&next=${encodeURIComponent(request.url)}` : '';
      return reply.redirect(`/login?ended=1${next}`, 303);
    }
    if (error instanceof PageError) {
      const status = error.problem.status >= 500 ? 500 : error.problem.status;
      return reply.code(status).page('error.njk', { status, problem: error.problem });
    }
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
      return reply.code(403).page('error.njk', { status: 403, csrf: true });
    }
    if (error.statusCode && error.statusCode < 500) {
      return reply.code(error.statusCode).page('error.njk', { status: error.statusCode, problem: { detail: error.message } });
    }
    request.log.error({ err: error }, 'page failed');
    return reply.code(500).page('error.njk', { status: 500, requestId: request.id });
  });

  app.get('/', async (request, reply) => {
    if (!request.cookies[SESSION_COOKIE]) return reply.redirect('/login', 303);
    const me = await request.api.get<Me>('/v1/me');
    return reply.redirect(homeFor(me.role), 303);
  });

  await app.register(signInPages);
  await app.register(participantPages);
  await app.register(coordinatorPages);
  await app.register(financePages);
}
