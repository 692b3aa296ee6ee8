import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { deletePayoutSchedule, getPayoutSchedule, setPayoutSchedule } from './schedule.js';
import { payoutScheduleBody, payoutScheduleResponse } from './schedule-views.js';

/** PUT, GET and DELETE /v1/payout-schedule (see docs/api-guide.md, "Paying on time"). */
export const payoutScheduleRoutes: FastifyPluginAsyncZod = async (app) => {
  app.put(
    '/v1/payout-schedule',
    {
      config: { roles: ['finance'] },
      schema: {
        tags: ['payouts'],
        summary:
          'Draft a run of everything owed daily or weekly at a UK time; finance are told it waits for approval (any one of them may approve it)',
        body: payoutScheduleBody,
        response: { 200: payoutScheduleResponse },
      },
    },
    async (request) =>
      request.transaction((tx) => setPayoutSchedule(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  app.get(
    '/v1/payout-schedule',
    {
      config: { roles: ['admin', 'finance'] },
      schema: {
        tags: ['payouts'],
        summary: 'The payout schedule and when it next drafts a run (404 when there is none)',
        response: { 200: payoutScheduleResponse },
      },
    },
    async (request) => getPayoutSchedule(app.db, request.principal.organisationId, app.now()),
  );

  app.delete(
    '/v1/payout-schedule',
    {
      config: { roles: ['finance'] },
      schema: {
        tags: ['payouts'],
        summary: 'Switch the payout schedule off (runs already drafted stay); 204 also when it was off',
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await request.transaction((tx) => deletePayoutSchedule(tx, request.principal.organisationId, request.actor(), app.now()));
      return reply.code(204).send(null);
    },
  );
};
