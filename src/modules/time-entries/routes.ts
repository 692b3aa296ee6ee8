import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { activities, entryStatuses } from '../../domain/enums.js';
import { assertCanSeeContributor } from '../../lib/access.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { id, idParams, isoDate, nonEmpty } from '../../lib/schemas.js';
import {
  approveTimeEntry,
  assertMayRecordFor,
  getTimeEntry,
  listTimeEntries,
  quoteSession,
  recordSession,
  rejectTimeEntry,
  reverseTimeEntry,
  submitTimeEntry,
} from './service.js';

const minutes = z.number().int().min(1, 'must be at least 1 minute').max(1440, 'must be at most 24 hours');

export const timeEntryView = z.object({
  id: z.string(),
  contributorId: z.string(),
  budgetId: z.string(),
  sessionId: z.string().nullable(),
  activity: z.enum(activities),
  date: z.string(),
  minutes: z.number().int(),
  note: z.string().nullable(),
  status: z.enum(entryStatuses),
  currency: z.string(),
  value: z.number().int().describe('The time at its rate'),
  amount: z.number().int().describe('What is (or, while submitted, would be) owed'),
  withheld: z.number().int().describe('Held back by an earnings limit with policy split'),
  inKind: z.boolean(),
  declined: z.boolean(),
  flagged: z.boolean().describe('Approved over an earnings limit with policy warn'),
  limitOutcome: z.string().nullable(),
  rateCardVersion: z.number().int().nullable(),
  quote: z.object({
    amount: z.number().int(),
    value: z.number().int(),
    withheld: z.number().int(),
    currency: z.string(),
    rateCardVersion: z.number().int().nullable(),
    explanation: z.array(z.string()),
    warnings: z.array(z.string()),
  }),
  rejectionReason: z.string().nullable(),
  reversalReason: z.string().nullable(),
  ledgerTransactionId: z.string().nullable(),
  reversalTransactionId: z.string().nullable(),
  decidedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
});

const reasonBody = z.strictObject({ reason: nonEmpty(1000) });
const deciders = ['coordinator', 'finance'] as const;

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
        response: { 201: timeEntryView },
      },
    },
    async (request) => {
      assertMayRecordFor(request.principal, request.body.contributorId);
      return request.transaction((tx) => submitTimeEntry(tx, request.principal.organisationId, request.actor(), request.body));
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
            entries: z.array(z.object({ contributorId: z.string(), quote: timeEntryView.shape.quote })),
          }),
        },
      },
    },
    async (request) => quoteSession(app.db, request.principal.organisationId, request.body),
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
            entries: z.array(timeEntryView),
          }),
        },
      },
    },
    async (request) => request.transaction((tx) => recordSession(tx, request.principal.organisationId, request.actor(), request.body)),
  );

  app.get(
    '/v1/time-entries',
    {
      config: { roles: ['admin', 'finance', 'coordinator', 'participant'] },
      schema: {
        tags: ['time'],
        summary: 'Time entries; a participant sees only their own',
        querystring: z.strictObject({
          ...pageQuery,
          contributorId: id.optional(),
          budgetId: id.optional(),
          status: z.enum(entryStatuses).optional(),
          from: isoDate.optional(),
          to: isoDate.optional(),
        }),
        response: { 200: pageOf(timeEntryView) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      const { principal } = request;
      if (principal.role === 'participant') {
        if (filter.contributorId && filter.contributorId !== principal.contributorId) return { data: [], nextCursor: null };
        filter.contributorId = principal.contributorId ?? '-';
      }
      return toPage(await listTimeEntries(app.db, principal.organisationId, filter, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/time-entries/:id',
    {
      config: { roles: ['admin', 'finance', 'coordinator', 'participant'] },
      schema: { tags: ['time'], summary: 'One time entry', params: idParams, response: { 200: timeEntryView } },
    },
    async (request) => {
      const entry = await getTimeEntry(app.db, request.principal.organisationId, request.params.id);
      assertCanSeeContributor(request.principal, entry.contributorId);
      return entry;
    },
  );

  app.post(
    '/v1/time-entries/:id/approve',
    {
      config: { roles: deciders },
      schema: {
        tags: ['time'],
        summary: 'Approve submitted time: the amount becomes owed (earnings limits and the budget permitting)',
        params: idParams,
        response: { 200: timeEntryView },
      },
    },
    async (request) =>
      request.transaction((tx) =>
        approveTimeEntry(tx, request.principal.organisationId, request.principal, request.actor(), request.params.id, app.now()),
      ),
  );

  app.post(
    '/v1/time-entries/:id/reject',
    {
      config: { roles: deciders },
      schema: { tags: ['time'], summary: 'Reject submitted time with a reason', params: idParams, body: reasonBody, response: { 200: timeEntryView } },
    },
    async (request) =>
      request.transaction((tx) =>
        rejectTimeEntry(tx, request.principal.organisationId, request.principal, request.actor(), request.params.id, request.body.reason, app.now()),
      ),
  );

  app.post(
    '/v1/time-entries/:id/reverse',
    {
      config: { roles: deciders },
      schema: {
        tags: ['time'],
        summary: 'Reverse approved time whose money has not left (a reversing ledger transaction)',
        params: idParams,
        body: reasonBody,
        response: { 200: timeEntryView },
      },
    },
    async (request) =>
      request.transaction((tx) =>
        reverseTimeEntry(tx, request.principal.organisationId, request.actor(), request.params.id, request.body.reason, app.now()),
      ),
  );
};
