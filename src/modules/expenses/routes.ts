import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { expenseCategories } from '../../domain/enums.js';
import { id, isoDate, positiveAmount } from '../../lib/schemas.js';
import { assertMayRecordFor } from '../approvable-work/lifecycle.js';
import { registerWorkRoutes } from '../approvable-work/routes.js';
import { approveExpense, expenseWork, submitExpense } from './service.js';
import { expenseResponse } from './views.js';

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
        response: { 201: expenseResponse },
      },
    },
    async (request) => {
      assertMayRecordFor(request.principal, request.body.contributorId);
      return request.transaction((tx) => submitExpense(tx, request.principal.organisationId, request.actor(), request.body, app.now()));
    },
  );

  registerWorkRoutes(app, {
    path: '/v1/expenses',
    tag: 'expenses',
    response: expenseResponse,
    summaries: {
      list: 'Expenses; a participant sees only their own',
      get: 'One expense',
      approve: 'Approve an expense: it becomes owed',
      reject: 'Reject an expense with a reason',
      reverse: 'Reverse an approved expense whose money has not left',
    },
    kind: expenseWork,
    approve: approveExpense,
  });
};
