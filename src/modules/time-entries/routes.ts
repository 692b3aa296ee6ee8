import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { activities } from '../../domain/enums.js';
import { errors, operations } from '../../lib/openapi.js';
import { id, isoDate } from '../../lib/schemas.js';
import { assertMayRecordFor } from '../approvable-work/lifecycle.js';
import { registerWorkRoutes } from '../approvable-work/routes.js';
import { hasIdempotencyKey } from '../../plugins/idempotency.js';
import { approveTimeEntry, quoteSession, recordSession, submitTimeEntry, timeEntryWork } from './service.js';
import { timeEntryQuote, timeEntryResponse } from './views.js';

const minutes = z.number().int().min(1, 'must be at least 1 minute').max(1440, 'must be at most 24 hours').describe('How long, in minutes (1 to 1,440).');
const time = operations('time');
const coordinators = time.for(['coordinator']);
/** What quoting time can refuse, for one entry or for any attendee of a session. */
const quoteErrors = ['not_found', 'outside_budget_period', 'rate_not_found', 'day_minutes_exceeded'] as const;
/** What recording it can refuse: as quoting, and nothing is recorded for an erased contributor (invalid_state). */
const recordErrors = errors(...quoteErrors, 'invalid_state');
const quoteDescription =
  "The quote: `value` is the time at its rate, `amount` what will be owed (0 for an in-kind rate or a contributor who " +
  'declined payment), with the rate-card version, an explanation of each rule applied and warnings. Hourly rates: minutes ' +
  'are rounded up to `roundToMinutes`, then `minimumMinutes` applies, then rate × minutes / 60 is rounded half up to the penny.';

export const timeEntryRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/time-entries',
    time.for(['coordinator', 'participant'])({
      operationId: 'createTimeEntry',
      summary: 'Record time',
      description:
        `Records the time as submitted, for approval. ${quoteDescription} A participant records only their own time. ` +
        "The date must fall inside the budget's dates, and a contributor's submitted and approved minutes on one date never exceed 1,440.",
      body: z.strictObject({
        contributorId: id,
        budgetId: id,
        activity: z.enum(activities),
        date: isoDate.describe('The day the work was done.'),
        minutes,
        note: z.string().max(2000).optional(),
      }),
      response: { 201: timeEntryResponse, ...recordErrors },
    }),
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
    coordinators({
      operationId: 'quoteSession',
      summary: 'Quote a session without recording it',
      description: `What \`createSession\` would record, attendee by attendee; nothing is written. ${quoteDescription}`,
      body: sessionBody,
      response: {
        200: z.object({
          budgetId: z.string(),
          currency: z.string(),
          total: z.number().int().describe('The sum of what the entries would owe'),
          entries: z.array(z.object({ contributorId: z.string(), quote: timeEntryQuote })),
        }),
        ...errors(...quoteErrors),
      },
    }),
    async (request) => quoteSession(app.db, request.principal.organisationId, request.body, app.now()),
  );

  app.post(
    '/v1/sessions',
    coordinators({
      operationId: 'createSession',
      summary: 'Record a co-production session',
      description: 'One submitted time entry per attendee, each with its quote, all or nothing: any attendee refused refuses the session.',
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
        ...recordErrors,
      },
    }),
    async (request) => request.transaction((tx) => recordSession(tx, request.principal.organisationId, request.actor(), { ...request.body, recordedWithKey: hasIdempotencyKey(request) }, app.now())),
  );

  registerWorkRoutes(app, {
    path: '/v1/time-entries',
    tag: 'time',
    response: timeEntryResponse,
    names: { one: 'TimeEntry', many: 'TimeEntries' },
    words: { a: 'a time entry', one: 'time entry', many: 'time entries' },
    approveText: {
      summary: 'Approve submitted time',
      description:
        'The time is priced again with the rate card in force on its date and the amount becomes owed, charged to the budget ' +
        "(`budget_exceeded` when not enough is left). The earnings limit never refuses an approval: `warnings` says when what " +
        "is owed would not fit the current period's headroom. Not by the contributor themselves, nor, where the organisation " +
        "asks for it, by the person who recorded it (`self_approval_forbidden`). At most once (`invalid_state`).",
    },
    approveErrors: ['rate_not_found'],
    kind: timeEntryWork,
    approve: approveTimeEntry,
  });
};
