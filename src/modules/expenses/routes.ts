import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { expenseCategories } from '../../domain/enums.js';
import { errors, operations } from '../../lib/openapi.js';
import { id, isoDate, positiveAmount } from '../../lib/schemas.js';
import { assertMayRecordFor } from '../approvable-work/lifecycle.js';
import { registerWorkRoutes } from '../approvable-work/routes.js';
import { approveExpense, expenseWork, submitExpense } from './service.js';
import { expenseResponse } from './views.js';

export const expenseRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/expenses',
    operations('expenses').for(['coordinator', 'participant'])({
      operationId: 'createExpense',
      summary: 'Claim an expense',
      description:
        'Travel, childcare or care: a reimbursement, never earnings, so it never counts towards an earnings limit and is repaid ' +
        "even to someone who declined payment. A participant claims only their own. The date must fall inside the budget's dates. " +
        'Nothing is claimed for an erased contributor (409 `invalid_state`).',
      body: z.strictObject({
        contributorId: id,
        budgetId: id,
        category: z.enum(expenseCategories),
        amount: positiveAmount.describe("In minor units (pence), in the budget's currency: 1250 is £12.50."),
        date: isoDate.describe('The day the cost arose.'),
        receiptReference: z.string().trim().min(1).max(200).optional().describe('Where the receipt is kept.'),
        note: z.string().max(2000).optional(),
      }),
      response: { 201: expenseResponse, ...errors('not_found', 'outside_budget_period', 'invalid_state') },
    }),
    async (request) => {
      assertMayRecordFor(request.principal, request.body.contributorId);
      return request.transaction((tx) => submitExpense(tx, request.principal.organisationId, request.actor(), request.body, app.now()));
    },
  );

  registerWorkRoutes(app, {
    path: '/v1/expenses',
    tag: 'expenses',
    response: expenseResponse,
    names: { one: 'Expense', many: 'Expenses' },
    words: { a: 'an expense', one: 'expense', many: 'expenses' },
    approveText: {
      summary: 'Approve an expense',
      description:
        'The amount becomes owed, charged to the budget (`budget_exceeded` when not enough is left). Not by the contributor ' +
        'themselves (`self_approval_forbidden`). At most once (`invalid_state`).',
    },
    approveErrors: [],
    kind: expenseWork,
    approve: approveExpense,
  });
};
