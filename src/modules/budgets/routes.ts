import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { londonDate } from '../../domain/uk-time.js';
import { errors, idParam, operations, pageParameters } from '../../lib/openapi.js';
import { decodeCursor, pageOf, toPage } from '../../lib/pagination.js';
import { amount, currency, id, isoDate, nonEmpty, signedAmount } from '../../lib/schemas.js';
import { adjustBudget, createBudget, getBudget, listBudgets } from './service.js';
import { budgetResponse } from './views.js';

const createBody = z
  .strictObject({
    projectId: id.describe('The project the grant funds.'),
    name: nonEmpty(),
    funder: nonEmpty().describe('Who gives the money, as reports name them.'),
    grantReference: nonEmpty().describe("The funder's reference for the grant."),
    currency,
    amount: amount.describe('The grant, in minor units (pence): 500000 is £5,000.00.'),
    startsOn: isoDate.describe('The first day work may be dated.'),
    endsOn: isoDate.describe('The last day work may be dated.'),
    rateCardId: id.describe('The rate card that prices work charged to the budget; in the same currency.'),
    allowOverspend: z.boolean().optional().describe('Let approvals take the budget below zero (off by default).'),
  })
  .refine((b) => b.endsOn >= b.startsOn, { path: ['endsOn'], message: 'must not be before startsOn' });

const budgets = operations('budgets');
const finance = budgets.for(['admin', 'finance']);
const readers = budgets.for(['admin', 'finance', 'coordinator']);

export const budgetRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/budgets',
    finance({
      operationId: 'createBudget',
      summary: 'Create a budget (a grant line) for a project',
      description:
        "The amount is posted from `funding` into the budget's ledger account. The rate card must be in the budget's currency. " +
        'Work is charged to the budget when it is approved; the budget never goes below zero unless `allowOverspend` is set.',
      body: createBody,
      response: { 201: budgetResponse, ...errors('not_found', 'currency_mismatch', 'amount_out_of_range') },
    }),
    async (request) => request.transaction((tx) => createBudget(tx, request.principal.organisationId, request.actor(), request.body)),
  );

  app.get(
    '/v1/budgets',
    readers({
      operationId: 'listBudgets',
      summary: 'List budgets',
      description: "Budgets in creation order, each with its figures from the ledger; `projectId` keeps one project's.",
      querystring: z.strictObject({ ...pageParameters, projectId: id.optional().describe('Only the budgets of this project.') }),
      response: { 200: pageOf(budgetResponse) },
    }),
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return toPage(await listBudgets(app.db, request.principal.organisationId, filter, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/budgets/:id',
    readers({
      operationId: 'getBudget',
      summary: 'Get a budget',
      description: 'The budget with its figures from the ledger: amount, adjustments, committed (owed, in transit, paid) and available.',
      params: idParam('budget'),
      response: { 200: budgetResponse, ...errors('not_found') },
    }),
    async (request) => getBudget(app.db, request.principal.organisationId, request.params.id),
  );

  app.post(
    '/v1/budgets/:id/adjustments',
    finance({
      operationId: 'adjustBudget',
      summary: 'Add money to a budget, or remove it',
      description:
        'A positive amount adds money from `funding`; a negative one removes it, never below what is committed ' +
        '(`budget_below_committed`, with `available`), even for a budget that allows overspending.',
      params: idParam('budget'),
      body: z.strictObject({
        amount: signedAmount.describe('Minor units to add (positive) or remove (negative); never zero.'),
        reason: nonEmpty(500).describe('Why, for the audit trail and the ledger.'),
      }),
      response: {
        201: z.object({
          adjustment: z.object({ transactionId: z.string(), amount: z.number().int(), reason: z.string() }),
          budget: budgetResponse,
        }),
        ...errors('not_found', 'budget_below_committed', 'amount_out_of_range'),
      },
    }),
    async (request) =>
      request.transaction((tx) =>
        adjustBudget(tx, request.principal.organisationId, request.actor(), request.params.id, request.body, londonDate(app.now())),
      ),
  );
};
