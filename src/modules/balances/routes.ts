import { londonDate } from '../../domain/uk-time.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ukTaxYear } from '../../domain/earnings-period.js';
import { AppError } from '../../errors.js';
import { ownContributorId } from '../../lib/access.js';
import { idParams, isoDate } from '../../lib/schemas.js';
import { earningsLimit } from '../contributors/schemas.js';
import { getContributorRow } from '../contributors/service.js';
import { expenseResponse } from '../expenses/views.js';
import { timeEntryResponse } from '../time-entries/views.js';
import { contributorBalances, contributorStatement } from './service.js';

const buckets = z.object({ owed: z.number().int(), inTransit: z.number().int(), paid: z.number().int() });
const balanceView = z.object({
  contributorId: z.string(),
  balances: z.array(buckets.extend({ currency: z.string(), earnings: buckets, expenses: buckets })),
});
const totals = {
  start: z.string(),
  end: z.string(),
  currency: z.string(),
  minutes: z.number().int(),
  earned: z.number().int(),
  withheld: z.number().int(),
  declinedValue: z.number().int(),
  expenses: z.number().int(),
};
const statementView = z.object({
  contributorId: z.string(),
  name: z.string(),
  from: z.string(),
  to: z.string(),
  earningsLimit: earningsLimit.nullable(),
  balances: balanceView.shape.balances,
  timeEntries: z.array(timeEntryResponse),
  expenses: z.array(expenseResponse),
  payouts: z.array(
    z.object({
      id: z.string(),
      amount: z.number().int(),
      currency: z.string(),
      method: z.string(),
      status: z.string(),
      reference: z.string().nullable(),
      failureReason: z.string().nullable(),
      paidAt: z.iso.datetime().nullable(),
      createdAt: z.iso.datetime(),
    }),
  ),
  totals: z.object({
    taxYears: z.array(z.object({ taxYear: z.string(), ...totals })),
    earningsLimitPeriods: z.array(z.object({ limit: z.number().int(), headroom: z.number().int(), ...totals })),
  }),
});
const statementQuery = z.strictObject({ from: isoDate.optional(), to: isoDate.optional() });

/** The statement covers the current UK tax year unless a range is given. */
function statementRange(query: { from?: string; to?: string }, today: string) {
  const year = ukTaxYear(today);
  const range = { from: query.from ?? year.start, to: query.to ?? year.end };
  if (range.to < range.from) {
    throw new AppError('validation_failed', 'to must not be before from', { errors: [{ field: 'querystring.to', message: 'must not be before from' }] });
  }
  return range;
}

const staff = ['admin', 'finance', 'coordinator'] as const;
const anyoneLinked = ['admin', 'finance', 'coordinator', 'participant'] as const;

export const balanceRoutes: FastifyPluginAsyncZod = async (app) => {
  const today = () => londonDate(app.now());

  app.get(
    '/v1/contributors/:id/balance',
    {
      config: { roles: staff },
      schema: { tags: ['balances'], summary: "A contributor's owed, in-transit and paid money", params: idParams, response: { 200: balanceView } },
    },
    async (request) => {
      const { organisationId } = request.principal;
      const contributor = await getContributorRow(app.db, organisationId, request.params.id);
      return { contributorId: contributor.id, balances: await contributorBalances(app.db, organisationId, contributor.id) };
    },
  );

  app.get(
    '/v1/me/balance',
    {
      config: { roles: anyoneLinked },
      schema: { tags: ['balances'], summary: 'What I am owed, what is on its way and what was paid', response: { 200: balanceView } },
    },
    async (request) => {
      const contributorId = ownContributorId(request.principal);
      return { contributorId, balances: await contributorBalances(app.db, request.principal.organisationId, contributorId) };
    },
  );

  app.get(
    '/v1/contributors/:id/statement',
    {
      config: { roles: staff },
      schema: {
        tags: ['balances'],
        summary: "A contributor's statement: work, expenses and totals per tax year and earnings-limit period",
        params: idParams,
        querystring: statementQuery,
        response: { 200: statementView },
      },
    },
    async (request) =>
      contributorStatement(app.db, request.principal.organisationId, request.params.id, statementRange(request.query, today()), app.now()),
  );

  app.get(
    '/v1/me/statement',
    {
      config: { roles: anyoneLinked },
      schema: {
        tags: ['balances'],
        summary: 'My statement: work, expenses and totals per tax year and earnings-limit period',
        querystring: statementQuery,
        response: { 200: statementView },
      },
    },
    async (request) =>
      contributorStatement(app.db, request.principal.organisationId, ownContributorId(request.principal), statementRange(request.query, today()), app.now()),
  );
};
