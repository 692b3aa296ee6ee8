import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { operations } from '../../lib/openapi.js';

const probes = operations('operations');

export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/healthz',
    probes.public({
      operationId: 'checkLiveness',
      summary: 'Check that the process is up',
      description: 'Answers 200 while the process can serve requests; it does not touch the database (see `checkReadiness`).',
      response: { 200: z.object({ status: z.literal('ok') }) },
    }),
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    probes.public({
      operationId: 'checkReadiness',
      summary: 'Check that the database answers',
      description:
        'Answers 200 when the database answers within 2 s, else 503 `service_unavailable`: take the instance out of the load balancer. ' +
        'Only the primary database counts: a reports replica (REPORTS_DATABASE_URL) that is down fails the reports alone (503), not the instance.',
      response: { 200: z.object({ status: z.literal('ready'), database: z.enum(['postgres', 'pglite']) }) },
    }),
    async () => {
      try {
        await Promise.race([
          app.database.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('database ping timed out')), 2_000).unref()),
        ]);
      } catch {
        throw new AppError('service_unavailable', 'The database is not answering.');
      }
      return { status: 'ready' as const, database: app.database.kind };
    },
  );

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
};
