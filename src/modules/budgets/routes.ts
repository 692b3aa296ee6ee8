import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { amount, currency, id, idParams, isoDate, nonEmpty, signedAmount } from '../../lib/schemas.js';
import { adjustBudget, createBudget, getBudget, listBudgets } from './service.js';

export const budgetView = z.object({
  id: z.string(),
  projectId: z.string(),
  name: z.string(),
  funder: z.string(),
  grantReference: z.string(),
  currency: z.string(),
  amount: z.number().int().describe('The amount granted at creation'),
  adjustments: z.number().int().describe('Money added (or removed) since'),
  total: z.number().int().describe('amount + adjustments'),
  committed: z.number().int().describe('Approved, not reversed earnings and expenses: owed, in transit or paid'),
  owed: z.number().int(),
  inTransit: z.number().int(),
  paid: z.number().int(),
  available: z.number().int().describe('total − committed'),
  startsOn: z.string(),
  endsOn: z.string(),
  rateCardId: z.string(),
  allowOverspend: z.boolean(),
  createdAt: z.iso.datetime(),
});

const createBody = z
  .strictObject({
    projectId: id,
    name: nonEmpty(),
    funder: nonEmpty(),
    grantReference: nonEmpty(),
    currency,
    amount,
    startsOn: isoDate,
    endsOn: isoDate,
    rateCardId: id,
    allowOverspend: z.boolean().optional(),
  })
  .refine((b) => b.endsOn >= b.startsOn, { path: ['endsOn'], message: 'must not be before startsOn' });

export const budgetRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/budgets',
    {
      config: { roles: ['admin', 'finance'] },
      schema: {
        tags: ['budgets'],
        summary: 'Create a budget (a grant line) for a project; its amount is posted into the ledger',
        body: createBody,
        response: { 201: budgetView },
      },
    },
    async (request) => request.transaction((tx) => createBudget(tx, request.principal.organisationId, request.actor(), request.body)),
  );

  app.get(
    '/v1/budgets',
    {
      config: { roles: ['admin', 'finance', 'coordinator'] },
      schema: {
        tags: ['budgets'],
        summary: 'Budgets, optionally of one project',
        querystring: z.strictObject({ ...pageQuery, projectId: id.optional() }),
        response: { 200: pageOf(budgetView) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return toPage(await listBudgets(app.db, request.principal.organisationId, filter, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/budgets/:id',
    {
      config: { roles: ['admin', 'finance', 'coordinator'] },
      schema: { tags: ['budgets'], summary: 'A budget with its figures from the ledger', params: idParams, response: { 200: budgetView } },
    },
    async (request) => getBudget(app.db, request.principal.organisationId, request.params.id),
  );

  app.post(
    '/v1/budgets/:id/adjustments',
    {
      config: { roles: ['admin', 'finance'] },
      schema: {
        tags: ['budgets'],
        summary: 'Add money to a budget, or remove it (negative), never below what is committed',
        params: idParams,
        body: z.strictObject({ amount: signedAmount, reason: nonEmpty(500) }),
        response: {
          201: z.object({
            adjustment: z.object({ transactionId: z.string(), amount: z.number().int(), reason: z.string() }),
            budget: budgetView,
          }),
        },
      },
    },
    async (request) =>
      request.transaction((tx) =>
        adjustBudget(tx, request.principal.organisationId, request.actor(), request.params.id, request.body, app.now().toISOString().slice(0, 10)),
      ),
  );
};
