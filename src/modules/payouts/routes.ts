import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { payoutItemStatuses, payoutMethods, payoutRunStatuses } from '../../domain/enums.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { currency, id, idParams, nonEmpty } from '../../lib/schemas.js';
import { AppError } from '../../errors.js';
import { reconcileStripe } from './reconcile.js';
import { approvePayoutRun, cancelPayoutRun, draftPayoutRun, getPayoutRun, listPayoutRuns, markItemFailed, markItemPaid } from './service.js';

export const payoutItemView = z.object({
  id: z.string(),
  runId: z.string(),
  contributorId: z.string(),
  amount: z.number().int(),
  earnings: z.number().int().describe('The part of amount that is earnings: what earnings limits and tax count'),
  expenses: z.number().int().describe('The part of amount that repays expenses: never earnings, never held by a limit'),
  carriedForward: z.number().int().describe('Earnings an earnings limit with policy split left owed for a later period'),
  warnings: z.array(z.string()).describe('An earnings limit passed under policy warn'),
  paymentDate: z.string().nullable().describe('The Europe/London date the money counts as received: drafted, then approved, then paid'),
  currency: z.string(),
  method: z.enum(payoutMethods),
  status: z.enum(payoutItemStatuses),
  stripeTransferId: z.string().nullable(),
  bankPayoutStatus: z.string().nullable().describe("The connected account's bank payout outcome (payout.paid / payout.failed)"),
  reference: z.string().nullable(),
  failureReason: z.string().nullable(),
  lastError: z.string().nullable().describe('The last transient error while paying, if it is being retried'),
  attempts: z.number().int(),
  paidAt: z.iso.datetime().nullable(),
  failedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
});

export const payoutRunView = z.object({
  id: z.string(),
  status: z.enum(payoutRunStatuses),
  currency: z.string(),
  budgetId: z.string().nullable(),
  total: z.number().int(),
  filters: z.object({ contributorIds: z.array(z.string()).optional(), methods: z.array(z.enum(payoutMethods)).optional() }),
  skipped: z.array(
    z.object({
      contributorId: z.string(),
      reason: z.string().describe('declined_payment, stripe_account_missing, stripe_account_not_ready or earnings_limit'),
      amount: z.number().int().describe('What stays owed for this reason'),
      headroom: z.number().int().optional().describe("earnings_limit: what the period's limit still allowed"),
      payableFrom: z.string().optional().describe('earnings_limit: the first day of the next period'),
      detail: z.string().optional(),
    }),
  ),
  createdBy: z.string(),
  approvedBy: z.string().nullable(),
  approvedAt: z.iso.datetime().nullable(),
  canceledAt: z.iso.datetime().nullable(),
  ledgerTransactionId: z.string().nullable(),
  createdAt: z.iso.datetime(),
  items: z.array(payoutItemView),
});

const finance = ['finance'] as const;

export const payoutRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/payout-runs',
    {
      config: { roles: finance },
      schema: {
        tags: ['payouts'],
        summary: 'Draft a payout run of what contributors are owed (declined and not-ready Stripe contributors are skipped)',
        body: z.strictObject({
          currency,
          budgetId: id.optional(),
          contributorIds: z.array(id).min(1).max(1000).optional(),
          methods: z.array(z.enum(payoutMethods)).min(1).optional(),
        }),
        response: { 201: payoutRunView },
      },
    },
    async (request) => request.transaction((tx) => draftPayoutRun(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  app.get(
    '/v1/payout-runs',
    {
      config: { roles: ['admin', 'finance'] },
      schema: {
        tags: ['payouts'],
        summary: 'Payout runs',
        querystring: z.strictObject({ ...pageQuery, status: z.enum(payoutRunStatuses).optional() }),
        response: { 200: pageOf(payoutRunView) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return toPage(await listPayoutRuns(app.db, request.principal.organisationId, filter, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/payout-runs/:id',
    {
      config: { roles: ['admin', 'finance'] },
      schema: { tags: ['payouts'], summary: 'A payout run with its items', params: idParams, response: { 200: payoutRunView } },
    },
    async (request) => getPayoutRun(app.db, request.principal.organisationId, request.params.id),
  );

  app.post(
    '/v1/payout-runs/:id/approve',
    {
      config: { roles: finance },
      schema: {
        tags: ['payouts'],
        summary: 'Approve a draft run (not your own): money moves to in transit and payment starts; returns once queued',
        params: idParams,
        response: { 200: payoutRunView },
      },
    },
    async (request) => {
      const { organisationId } = request.principal;
      const run = await request.transaction((tx) =>
        approvePayoutRun(tx, organisationId, request.actor(), request.params.id, app.now(), app.stripe !== null),
      );
      // Queued after the commit; should the process die first, the sweep queues them on start.
      await app.jobs.enqueuePayoutItems(
        run.items.filter((i) => i.method === 'stripe' && i.status === 'processing').map((i) => ({ organisationId, itemId: i.id })),
      );
      return run;
    },
  );

  app.post(
    '/v1/payout-runs/:id/cancel',
    {
      config: { roles: finance },
      schema: { tags: ['payouts'], summary: 'Cancel a draft run', params: idParams, response: { 200: payoutRunView } },
    },
    async (request) => request.transaction((tx) => cancelPayoutRun(tx, request.principal.organisationId, request.actor(), request.params.id, app.now())),
  );

  app.post(
    '/v1/payouts/:id/mark-paid',
    {
      config: { roles: finance },
      schema: {
        tags: ['payouts'],
        summary: 'Mark a bank transfer or voucher item paid, with its reference',
        params: idParams,
        body: z.strictObject({ reference: nonEmpty(200) }),
        response: { 200: payoutItemView },
      },
    },
    async (request) =>
      request.transaction((tx) => markItemPaid(tx, request.principal.organisationId, request.actor(), request.params.id, request.body.reference, app.now())),
  );

  app.post(
    '/v1/payouts/:id/mark-failed',
    {
      config: { roles: finance },
      schema: {
        tags: ['payouts'],
        summary: 'Mark a bank transfer or voucher item failed; its money returns to owed',
        params: idParams,
        body: z.strictObject({ reason: nonEmpty(1000) }),
        response: { 200: payoutItemView },
      },
    },
    async (request) =>
      request.transaction((tx) => markItemFailed(tx, request.principal.organisationId, request.actor(), request.params.id, request.body.reason, app.now())),
  );

  app.get(
    '/v1/payouts/reconciliation',
    {
      config: { roles: ['admin', 'finance'] },
      schema: {
        tags: ['payouts'],
        summary: "Stripe transfers checked against the ledger's payout items; lists every mismatch",
        querystring: z.strictObject({ sinceDays: z.coerce.number().int().min(1).max(400).default(30) }),
        response: {
          200: z.object({
            since: z.iso.datetime(),
            transfers: z.number().int(),
            items: z.number().int(),
            mismatches: z.array(z.object({ kind: z.string(), itemId: z.string().nullable(), transferId: z.string().nullable(), detail: z.string() })),
          }),
        },
      },
    },
    async (request) => {
      if (!app.stripe) throw new AppError('stripe_not_configured', 'Stripe is not configured (STRIPE_SECRET_KEY).');
      const since = new Date(app.now().getTime() - request.query.sinceDays * 86_400_000);
      return reconcileStripe(app.db, app.stripe, request.principal.organisationId, since);
    },
  );
};
