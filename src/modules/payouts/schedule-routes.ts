import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** PUT, GET and DELETE /v1/payout-schedule (see API.md, Payouts). */
export const payoutScheduleRoutes: FastifyPluginAsyncZod = async () => {
  // TODO(helper: payout schedule)
};
