import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, operations } from '../../lib/openapi.js';
import { deletePayoutSchedule, getPayoutSchedule, setPayoutSchedule } from './schedule.js';
import { payoutScheduleBody, payoutScheduleResponse } from './schedule-views.js';

const payouts = operations('payouts');
const finance = payouts.for(['finance']);

/** PUT, GET and DELETE /v1/payout-schedule (see docs/api-guide.md, "Paying on time"). */
export const payoutScheduleRoutes: FastifyPluginAsyncZod = async (app) => {
  app.put(
    '/v1/payout-schedule',
    finance({
      operationId: 'setPayoutSchedule',
      summary: 'Draft payout runs on a schedule',
      description:
        'Daily or weekly at a Europe/London time, the service drafts a run of everything owed (creator `system`) and tells ' +
        'the finance users it waits for approval; any one of them may approve it.',
      body: payoutScheduleBody,
      response: { 200: payoutScheduleResponse },
    }),
    async (request) =>
      request.transaction((tx) => setPayoutSchedule(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  app.get(
    '/v1/payout-schedule',
    payouts.for(['admin', 'finance'])({
      operationId: 'getPayoutSchedule',
      summary: 'Get the payout schedule',
      description: 'The schedule and when it next drafts a run; `not_found` when there is none.',
      response: { 200: payoutScheduleResponse, ...errors('not_found') },
    }),
    async (request) => getPayoutSchedule(app.db, request.principal.organisationId, app.now()),
  );

  app.delete(
    '/v1/payout-schedule',
    finance({
      operationId: 'deletePayoutSchedule',
      summary: 'Switch the payout schedule off',
      description: 'Runs already drafted stay. Answers 204 also when it was off.',
      response: { 204: z.null() },
    }),
    async (request, reply) => {
      await request.transaction((tx) => deletePayoutSchedule(tx, request.principal.organisationId, request.actor(), app.now()));
      return reply.code(204).send(null);
    },
  );
};
