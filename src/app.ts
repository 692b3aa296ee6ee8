import { timingSafeEqual } from 'node:crypto';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import metricsPlugin from 'fastify-metrics';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import { AppError } from './errors.js';
import { setPasswordHashMemory, sha256 } from './lib/secrets.js';
import type { Database, Db } from './db/client.js';
import { embeddedMaintenance } from './db/embedded-maintenance.js';
import type { JobQueue } from './jobs/queue.js';
import { createStripeClient, createStripeGate, type Stripe, type StripeGate } from './lib/stripe.js';
import { payoutJobs } from './modules/payouts/jobs.js';
import { PROBLEM_CONTENT_TYPE, problemDocument } from './lib/problem.js';
import { responseSerializerCompiler } from './lib/response-serializer.js';
import { apiTags, declareProblems, openapiInfo, openapiTransform, openapiTransformObject, refuseUndeclaredProblems } from './lib/openapi.js';
import authPlugin from './plugins/auth.js';
import errorsPlugin from './plugins/errors.js';
import heavyReadsPlugin from './plugins/heavy-reads.js';
import idempotencyPlugin, { successStatus } from './plugins/idempotency.js';
import transactionPlugin from './plugins/transaction.js';
import { registerRoutes } from './routes.js';
import { EMAIL_LOG_PATHS, linesWithoutEmails } from './lib/log-redaction.js';
import { notFoundPage, webPages } from './web/plugin.js';

export interface AppDependencies {
  config: Config;
  database: Database;
  /** The JWT signing secret, resolved by the caller (generated once in embedded mode). */
  jwtSecret: string;
  /** The clock, injectable so tests can move time. */
  now?: () => Date;
  logger?: FastifyServerOptions['logger'];
  /** Where the standard logger writes (stdout by default); tests read the log lines here. */
  logStream?: { write(line: string): void };
  /** The Stripe client; by default made from config (null without STRIPE_SECRET_KEY). */
  stripe?: Stripe | null;
  /**
   * Whether this process starts the job queue (payout execution, sweeps, purges). Tests that
   * do not pay anyone through Stripe leave it off to start faster.
   */
  jobs?: boolean;
  /**
   * Refuse (with a 500 naming it) any problem code a route answers with but does not declare in
   * its OpenAPI schema: the tests build the app with it, so the document cannot drift.
   */
  checkDeclaredProblems?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
    /**
     * Where reports read: the replica of REPORTS_DATABASE_URL, else `db`. Only the report routes
     * use it; nothing that writes and nothing on the money path may (it lags behind `db`).
     */
    reportsDb: Db;
    database: Database;
    config: Config;
    now(): Date;
    stripe: Stripe | null;
    /** This process's one gate to Stripe: payouts and reconciliation share its pace (lib/stripe.ts). */
    stripeGate: StripeGate;
    jobs: JobQueue;
  }
}

/** Refuses a /metrics request that does not bear the token (compared in constant time). */
function metricsGuard(token: string) {
  const expected = sha256(token);
  return async (request: FastifyRequest) => {
    const given = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(Buffer.from(sha256(given), 'hex'), Buffer.from(expected, 'hex'))) {
      throw new AppError('unauthorized', 'Metrics need the METRICS_TOKEN as a bearer token.');
    }
  };
}

/** Used when this process runs no queue: nothing is queued here, the sweep of a worker process picks it up. */
const noQueue: JobQueue = { enqueuePayoutItems: async () => {}, stop: async () => {} };

export const BODY_LIMIT = 1024 * 1024;

function renderFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  // Always 400 validation_failed (a bad or overlong URL), so status and code agree.
  const status = 400;
  void reply
    .code(status)
    .header('x-request-id', request.id)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...problemDocument('validation_failed', `The request could not be routed: ${error.message}`, {}, request), status });
}

/** Query parameters that may carry a one-time secret (old invitation links): never logged. */
const SECRET_QUERY_PARAMETERS = ['token', 'code', 'inviteToken', 'resetToken'];

/** The URL as logged: any secret-bearing query parameter replaced. */
export function redactUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const query = new URLSearchParams(url.slice(at + 1));
  let changed = false;
  for (const name of SECRET_QUERY_PARAMETERS) {
    if (query.has(name)) {
      query.set(name, 'REDACTED');
      changed = true;
    }
  }
  return changed ? `${url.slice(0, at)}?${query.toString()}` : url;
}

/** Fastify's request log line, with the URL redacted. */
function requestForLog(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** Log lines never carry secrets, passwords or tokens. */
export const logRedactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  'body.password',
  'body.inviteToken',
  'body.resetToken',
];

/**
 * Builds the whole service as one Fastify instance from its dependencies. `server.ts` only
 * parses config, opens the database, builds, listens and closes; tests build the same app.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  setPasswordHashMemory(deps.config.passwordHashMemoryKib);
  const app = Fastify({
    logger: deps.logger ?? {
      level: deps.config.logLevel,
      // No secrets, and no email address: the fields known to hold one are removed, and every
      // line is scrubbed of any other on its way out (lib/log-redaction.ts says why).
      redact: [...logRedactPaths, ...EMAIL_LOG_PATHS],
      serializers: { req: requestForLog },
      stream: linesWithoutEmails(deps.logStream ?? process.stdout),
    },
    bodyLimit: BODY_LIMIT,
    requestIdHeader: 'x-request-id',
    // Only behind a proxy (TRUST_PROXY) is the client's address taken from X-Forwarded-For;
    // trusting it otherwise would let anyone step round the login rate limit.
    trustProxy: deps.config.trustProxy as boolean | string,
    // Router errors (a malformed or overlong URL) answer in the same problem+json as the rest.
    frameworkErrors: renderFrameworkError as never,
    ajv: { customOptions: { removeAdditional: false } },
    // Timeouts, as the fastify/demo reference app sets them, for a payment API behind a load
    // balancer (AWS ALB and nginx default to 60 s idle):
    // - keep-alive: longer than the balancer's idle timeout, so the balancer always closes an
    //   idle connection first; were the service to close it as the balancer reuses it, that
    //   request would fail with a 502. (Fastify's own default; on close, idle connections are
    //   reaped at once, see below.)
    keepAliveTimeout: 72_000,
    // - the whole request (headers and body, at most 1 MiB) must arrive within 30 s, and its
    //   headers within 15 s: a client trickling bytes cannot hold a connection open for ever.
    requestTimeout: 30_000,
    http: { headersTimeout: 15_000 },
    // - a connection silent for 2 minutes is dropped: well past any request's work (a payout
    //   run of ten thousand people is approved in seconds; a request waits at most 15 s for a
    //   database connection) and past the keep-alive, so only dead clients are cut.
    connectionTimeout: 120_000,
    // - each plugin, and each onReady hook, has 30 s: the payout jobs' hook starts the job
    //   queue, whose first start creates its tables and, on PostgreSQL, may wait for another
    //   instance starting at the same time; Fastify's 10 s would refuse a slow but sound start.
    pluginTimeout: 30_000,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(responseSerializerCompiler);

  app.decorate('db', deps.database.db);
  app.decorate('reportsDb', deps.database.reports?.db ?? deps.database.db);
  app.decorate('database', deps.database);
  app.decorate('config', deps.config);
  app.decorate('now', deps.now ?? (() => new Date()));
  app.decorate('stripe', deps.stripe === undefined ? createStripeClient(deps.config.stripe) : deps.stripe);
  app.decorate('stripeGate', createStripeGate(deps.config.stripe.maxRequestsPerSecond));
  app.decorate('jobs', noQueue);
  // Declares the database as available to plugins that depend on it.
  await app.register(fp(async () => {}, { name: 'database' }));

  // Served over https (PUBLIC_URL says so, even when TLS ends at a proxy in front): browsers are
  // told to come back over https only, for a year.
  const overHttps = deps.config.publicUrl?.startsWith('https:') ?? false;
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (overHttps) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
  });
  // On close, Fastify reaps the keep-alive connections that are idle at that moment; one whose
  // request was still running stayed open after its response for as long as the client (or a
  // load balancer) kept it, and the close waited on it past the process's grace. Each response
  // finished while closing now reaps the connections that have become idle.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
  // Every route answers with the success status its schema documents (201 for creation), so
  // handlers and the idempotency layer agree on it.
  app.addHook('preHandler', async (request, reply) => {
    reply.code(successStatus(request));
  });

  await app.register(errorsPlugin, { notFoundPage: () => notFoundPage(deps.config.web) });
  await app.register(fastifyRateLimit, { global: false });
  await app.register(heavyReadsPlugin);
  // Each documented route's problem codes (its own errors(...) and the shared ones), which the
  // OpenAPI document lists and, in tests, no answer may go beyond (src/lib/openapi.ts).
  app.addHook(
    'onRoute',
    declareProblems((route) => route.config?.rateLimit !== undefined || [route.preHandler].flat().includes(app.limitHeavyReads)),
  );
  if (deps.checkDeclaredProblems) app.addHook('onSend', refuseUndeclaredProblems);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: openapiInfo,
      servers: [
        deps.config.publicUrl
          ? { url: deps.config.publicUrl.replace(/\/+$/, ''), description: 'This service (PUBLIC_URL)' }
          : { url: '/', description: 'The server this document was fetched from' },
      ],
      tags: [...apiTags],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'A JWT from POST /v1/auth/token, or an API token (`cpl_...`) from POST /v1/api-tokens.',
          },
        },
      },
      security: [{ bearerAuth: [] }],
    },
    transform: openapiTransform,
    transformObject: openapiTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true });
  await app.register(metricsPlugin.default, {
    // Off without METRICS_TOKEN; with it, only a request bearing it reads the metrics.
    endpoint: deps.config.metricsToken
      ? {
          url: '/metrics',
          method: 'GET',
          schema: { hide: true },
          config: { public: true },
          onRequest: metricsGuard(deps.config.metricsToken),
          handler: async () => undefined, // replaced by the plugin's own handler
        }
      : null,
    clearRegisterOnInit: true,
    // The histogram only: it sums across instances, while the summary's per-route quantile
    // sketches (tdigest) cost about 3 % of an approval's CPU and cannot be combined.
    routeMetrics: { enabled: { histogram: true, summary: false }, registeredRoutesOnly: true },
  });
  await app.register(authPlugin, {
    secret: deps.jwtSecret,
    issuer: deps.config.jwt.issuer,
    audience: deps.config.jwt.audience,
    ttlSeconds: deps.config.jwt.ttlSeconds,
  });
  await app.register(transactionPlugin);
  await app.register(idempotencyPlugin, { secret: deps.jwtSecret });
  await app.register(registerRoutes);
  // The pages people use, built on the API above (see src/web).
  await app.register(webPages);

  // The payout pipeline's background jobs (src/modules/payouts/jobs.ts), and on the embedded
  // database what autovacuum does on PostgreSQL (src/db/embedded-maintenance.ts).
  if (deps.jobs !== false) {
    await app.register(payoutJobs);
    await app.register(embeddedMaintenance);
  }
  return app;
}
