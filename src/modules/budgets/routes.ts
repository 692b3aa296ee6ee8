import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { londonDate } from '../../domain/uk-time.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { amount, currency, id, idParams, isoDate, nonEmpty, signedAmount } from '../../lib/schemas.js';
import { adjustBudget, createBudget, getBudget, listBudgets } from './service.js';
import { budgetResponse } from './views.js';

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
        response: { 201: budgetResponse },
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
        response: { 200: pageOf(budgetResponse) },
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
      schema: { tags: ['budgets'], summary: 'A budget with its figures from the ledger', params: idParams, response: { 200: budgetResponse } },
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
            budget: budgetResponse,
          }),
        },
      },
    },
    async (request) =>
      request.transaction((tx) =>
        adjustBudget(tx, request.principal.organisationId, request.actor(), request.params.id, request.body, londonDate(app.now())),
      ),
  );
};
