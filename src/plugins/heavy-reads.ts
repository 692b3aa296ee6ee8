import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.js';
import { sha256 } from '../lib/secrets.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A preHandler for the heaviest reads (reports, Stripe reconciliation): each credential gets
     * REPORT_RATE_LIMIT of them a minute across every such route (one limiter, one allowance),
     * so one script in a loop cannot hold the database's connections or Stripe's allowance.
     */
    limitHeavyReads(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  }
}

async function heavyReadsPlugin(app: FastifyInstance) {
  // Keyed by the credential's hash, never the credential itself.
  const limiter = app.createRateLimit({
    max: app.config.reportRateLimit,
    timeWindow: 60_000,
    keyGenerator: (request) => sha256(request.headers.authorization ?? request.ip),
  });
  app.decorate('limitHeavyReads', async (request: FastifyRequest, reply: FastifyReply) => {
    const limit = await limiter(request);
    if (!limit.isAllowed && limit.isExceeded) {
      reply.header('Retry-After', String(limit.ttlInSeconds));
      throw new AppError('rate_limited', `At most ${limit.max} report and reconciliation requests a minute for each token. Try again in ${limit.ttlInSeconds} s.`);
    }
  });
}

export default fp(heavyReadsPlugin, { name: 'heavy-reads' });
