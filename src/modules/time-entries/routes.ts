import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { activities } from '../../domain/enums.js';
import { id, isoDate } from '../../lib/schemas.js';
import { assertMayRecordFor } from '../approvable-work/lifecycle.js';
import { registerWorkRoutes } from '../approvable-work/routes.js';
import { hasIdempotencyKey } from '../../plugins/idempotency.js';
import { approveTimeEntry, quoteSession, recordSession, submitTimeEntry, timeEntryWork } from './service.js';
import { timeEntryQuote, timeEntryResponse } from './views.js';

const minutes = z.number().int().min(1, 'must be at least 1 minute').max(1440, 'must be at most 24 hours');

export const timeEntryRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/time-entries',
    {
      config: { roles: ['coordinator', 'participant'] },
      schema: {
        tags: ['time'],
        summary: 'Record time; the response carries the quote (amount, rate-card version, explanation, warnings)',
        body: z.strictObject({
          contributorId: id,
          budgetId: id,
          activity: z.enum(activities),
          date: isoDate,
          minutes,
          note: z.string().max(2000).optional(),
        }),
        response: { 201: timeEntryResponse },
      },
    },
    async (request) => {
      assertMayRecordFor(request.principal, request.body.contributorId);
      return request.transaction((tx) => submitTimeEntry(tx, request.principal.organisationId, request.actor(), { ...request.body, recordedWithKey: hasIdempotencyKey(request) }, app.now()));
    },
  );

  const sessionBody = z.strictObject({
    budgetId: id,
    activity: z.enum(activities),
    date: isoDate,
    minutes,
    note: z.string().max(2000).optional(),
    attendees: z
      .array(id)
      .min(1)
      .max(200)
      .refine((a) => new Set(a).size === a.length, 'must not list anyone twice'),
  });

  app.post(
    '/v1/sessions/quote',
    {
      config: { roles: ['coordinator'] },
      schema: {
        tags: ['time'],
        summary: 'What a session would record, without recording it: each attendee\'s quote (nothing is written)',
        body: sessionBody,
        response: {
          200: z.object({
            budgetId: z.string(),
            currency: z.string(),
            total: z.number().int().describe('The sum of what the entries would owe'),
            entries: z.array(z.object({ contributorId: z.string(), quote: timeEntryQuote })),
          }),
        },
      },
    },
    async (request) => quoteSession(app.db, request.principal.organisationId, request.body, app.now()),
  );

  app.post(
    '/v1/sessions',
    {
      config: { roles: ['coordinator'] },
      schema: {
        tags: ['time'],
        summary: 'Record one co-production session: a submitted time entry per attendee, all or nothing',
        body: sessionBody,
        response: {
          201: z.object({
            id: z.string(),
            budgetId: z.string(),
            activity: z.enum(activities),
            date: z.string(),
            minutes: z.number().int(),
            note: z.string().nullable(),
            entries: z.array(timeEntryResponse),
          }),
        },
      },
    },
    async (request) => request.transaction((tx) => recordSession(tx, request.principal.organisationId, request.actor(), { ...request.body, recordedWithKey: hasIdempotencyKey(request) }, app.now())),
  );

  registerWorkRoutes(app, {
    path: '/v1/time-entries',
    tag: 'time',
    response: timeEntryResponse,
    summaries: {
      list: 'Time entries; a participant sees only their own',
      get: 'One time entry',
      approve: 'Approve submitted time: the amount becomes owed (earnings limits and the budget permitting)',
      reject: 'Reject submitted time with a reason',
      reverse: 'Reverse approved time whose money has not left (a reversing ledger transaction)',
    },
    kind: timeEntryWork,
    approve: approveTimeEntry,
  });
};
