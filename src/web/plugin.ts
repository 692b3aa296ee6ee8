import { fileURLToPath } from 'node:url';
import fastifyCompress from '@fastify/compress';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import nunjucks from 'nunjucks';
import type { Config } from '../config.js';
import { ApiClient, PageError, SessionEnded } from './api.js';
import * as format from './format.js';
import { coordinatorPages } from './pages/coordinator.js';
import { financePages } from './pages/finance.js';
import { participantPages } from './pages/participant.js';
import { payoutDetailsPages } from './pages/payout-details.js';
import { signInPages } from './pages/sign-in.js';
import { homeFor, servedOverHttps, SESSION_COOKIE, type Me } from './session.js';

const viewsDir = fileURLToPath(new URL('./views/', import.meta.url));
const assetsDir = fileURLToPath(new URL('./assets/', import.meta.url));
const govukDist = fileURLToPath(new URL('../../node_modules/govuk-frontend/dist/', import.meta.url));

declare module 'fastify' {
  interface FastifyReply {
    /** Renders a page with the layout's shared values (navigation, CSRF token, CSP nonce). */
    page(template: string, data?: Record<string, unknown>): Promise<FastifyReply>;
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

/** The page settings from config (WEB_TEMPLATE_RELOAD). */
export type WebOptions = Config['web'];

const environments = new Map<boolean, nunjucks.Environment>();

/**
 * The templates: the service's own views and GOV.UK Frontend's macros, HTML-escaped by default.
 * One environment a process for each setting of `templateReload` (re-read templates on every
 * render, or read them once and cache them).
 */
function pageEnvironment(options: WebOptions): nunjucks.Environment {
  const existing = environments.get(options.templateReload);
  if (existing) return existing;
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader([viewsDir, govukDist], { noCache: options.templateReload }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  env.addFilter('money', (amount: number, currency?: string) => format.money(amount ?? 0, currency));
  env.addFilter('date', format.date);
  env.addFilter('month', format.month);
  env.addFilter('duration', format.duration);
  env.addGlobal('labels', { activity: format.activityLabels, kind: format.kindLabels, method: format.methodLabels, status: format.statusTags });
  environments.set(options.templateReload, env);
  return env;
}

/** The "Page not found" page, for addresses outside the API that a browser asks for. */
export function notFoundPage(options: WebOptions): string {
  return pageEnvironment(options).render('error.njk', { status: 404, problem: { detail: 'Check the address, or start again from the home page.' } });
}

/**
 * The web pages: server-rendered, GOV.UK Frontend patterns, progressive enhancement. Registered
 * in their own encapsulated context, so form parsing, cookies, CSRF and the page security
 * headers apply to pages only and the JSON API is unchanged.
 */
export async function webPages(app: FastifyInstance) {
  // Pages are for people, not integrators: none of them is in the OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true };
  });
  // Pages and assets are compressed for phones on slow connections (the API is left as it was).
  await app.register(fastifyCompress, { global: true, threshold: 1024 });
  await app.register(fastifyCookie);
  await app.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  await app.register(fastifyCsrf, {
    cookieKey: 'cpl_csrf',
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: servedOverHttps(app) ? true : 'auto' },
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
    // Set for every response in app.ts when PUBLIC_URL is https.
    strictTransportSecurity: false,
  });

  const env = pageEnvironment(app.config.web);

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
  await app.register(payoutDetailsPages);
}
