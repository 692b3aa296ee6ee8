import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { entryStatuses, expenseCategories } from '../../domain/enums.js';
import { assertCanSeeContributor } from '../../lib/access.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { id, idParams, isoDate, nonEmpty, positiveAmount } from '../../lib/schemas.js';
import { assertMayRecordFor } from '../time-entries/service.js';
import { approveExpense, getExpense, listExpenses, rejectExpense, reverseExpense, submitExpense } from './service.js';

export const expenseView = z.object({
  id: z.string(),
  contributorId: z.string(),
  budgetId: z.string(),
  category: z.enum(expenseCategories),
  amount: z.number().int(),
  currency: z.string(),
  date: z.string(),
  receiptReference: z.string().nullable(),
  note: z.string().nullable(),
  status: z.enum(entryStatuses),
  rejectionReason: z.string().nullable(),
  reversalReason: z.string().nullable(),
  ledgerTransactionId: z.string().nullable(),
  reversalTransactionId: z.string().nullable(),
  decidedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
});

const reasonBody = z.strictObject({ reason: nonEmpty(1000) });
const deciders = ['coordinator', 'finance'] as const;

export const expenseRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/expenses',
    {
      config: { roles: ['coordinator', 'participant'] },
      schema: {
        tags: ['expenses'],
        summary: 'Claim an expense (travel, childcare, care): a reimbursement, never earnings',
        body: z.strictObject({
          contributorId: id,
          budgetId: id,
          category: z.enum(expenseCategories),
          amount: positiveAmount,
          date: isoDate,
          receiptReference: z.string().trim().min(1).max(200).optional(),
          note: z.string().max(2000).optional(),
        }),
        response: { 201: expenseView },
      },
    },
    async (request) => {
      assertMayRecordFor(request.principal, request.body.contributorId);
      return request.transaction((tx) => submitExpense(tx, request.principal.organisationId, request.actor(), request.body));
    },
  );

  app.get(
    '/v1/expenses',
    {
      config: { roles: ['admin', 'finance', 'coordinator', 'participant'] },
      schema: {
        tags: ['expenses'],
        summary: 'Expenses; a participant sees only their own',
        querystring: z.strictObject({
          ...pageQuery,
          contributorId: id.optional(),
          budgetId: id.optional(),
          status: z.enum(entryStatuses).optional(),
          from: isoDate.optional(),
          to: isoDate.optional(),
        }),
        response: { 200: pageOf(expenseView) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      const { principal } = request;
      if (principal.role === 'participant') {
        if (filter.contributorId && filter.contributorId !== principal.contributorId) return { data: [], nextCursor: null };
        filter.contributorId = principal.contributorId ?? '-';
      }
      return toPage(await listExpenses(app.db, principal.organisationId, filter, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/expenses/:id',
    {
      config: { roles: ['admin', 'finance', 'coordinator', 'participant'] },
      schema: { tags: ['expenses'], summary: 'One expense', params: idParams, response: { 200: expenseView } },
    },
    async (request) => {
      const expense = await getExpense(app.db, request.principal.organisationId, request.params.id);
      assertCanSeeContributor(request.principal, expense.contributorId);
      return expense;
    },
  );

  app.post(
    '/v1/expenses/:id/approve',
    {
      config: { roles: deciders },
      schema: { tags: ['expenses'], summary: 'Approve an expense: it becomes owed', params: idParams, response: { 200: expenseView } },
    },
    async (request) =>
      request.transaction((tx) =>
        approveExpense(tx, request.principal.organisationId, request.principal, request.actor(), request.params.id, app.now()),
      ),
  );

  app.post(
    '/v1/expenses/:id/reject',
    {
      config: { roles: deciders },
      schema: { tags: ['expenses'], summary: 'Reject an expense with a reason', params: idParams, body: reasonBody, response: { 200: expenseView } },
    },
    async (request) =>
      request.transaction((tx) =>
        rejectExpense(tx, request.principal.organisationId, request.principal, request.actor(), request.params.id, request.body.reason, app.now()),
      ),
  );

  app.post(
    '/v1/expenses/:id/reverse',
    {
      config: { roles: deciders },
      schema: {
        tags: ['expenses'],
        summary: 'Reverse an approved expense whose money has not left',
        params: idParams,
        body: reasonBody,
        response: { 200: expenseView },
      },
    },
    async (request) =>
      request.transaction((tx) =>
        reverseExpense(tx, request.principal.organisationId, request.actor(), request.params.id, request.body.reason, app.now()),
      ),
  );
};
