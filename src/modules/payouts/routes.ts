import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { payoutMethods, payoutRunStatuses } from '../../domain/enums.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { currency, id, idParams, isoDate, nonEmpty } from '../../lib/schemas.js';
import { AppError } from '../../errors.js';
import { reconcileStripe } from './reconcile.js';
import { payoutItemResponse, payoutRunResponse } from './views.js';
import {
  approvePayoutRun,
  cancelPayoutRun,
  draftPayoutRun,
  getPayoutRun,
  listPayoutRuns,
  markItemFailed,
  markItemPaid,
} from './service.js';

const finance = ['finance'] as const;

export const payoutRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/payout-runs',
    {
      config: { roles: finance },
      schema: {
        tags: ['payouts'],
        summary: 'Draft a payout run of what contributors are owed (declined and not-ready Stripe contributors are skipped)',
        // Pay again is a body field rather than a page-only action: the service finds who failed
        // in the same transaction as the draft (no gap for a page's list to go stale in), scripts
        // get it too, and the new run records which run it pays again (filters.failedFrom).
        body: z
          .strictObject({
            currency,
            budgetId: id.optional(),
            contributorIds: z.array(id).min(1).max(1000).optional(),
            methods: z.array(z.enum(payoutMethods)).min(1).optional(),
            failedFrom: id
              .optional()
              .describe('Pay again: draft only for the contributors whose items failed in this run (what they are owed now)'),
          })
          .refine((b) => !(b.failedFrom && b.contributorIds), {
            path: ['failedFrom'],
            message: 'give either contributorIds or failedFrom, not both',
          }),
        response: { 201: payoutRunResponse },
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
        querystring: z.strictObject({
          ...pageQuery,
          status: z.enum(payoutRunStatuses).optional(),
          failedSince: isoDate
            .optional()
            .describe('Only runs with an item that failed on or after this date (Europe/London): what may need paying again'),
        }),
        response: { 200: pageOf(payoutRunResponse) },
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
      schema: { tags: ['payouts'], summary: 'A payout run with its items', params: idParams, response: { 200: payoutRunResponse } },
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
        response: { 200: payoutRunResponse },
      },
    },
    async (request) => {
      const { organisationId } = request.principal;
      const run = await request.transaction((tx) =>
        approvePayoutRun(tx, organisationId, request.actor(), request.params.id, app.now(), app.stripe !== null, request.principal.contributorId),
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
      schema: { tags: ['payouts'], summary: 'Cancel a draft run', params: idParams, response: { 200: payoutRunResponse } },
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
        response: { 200: payoutItemResponse },
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
        response: { 200: payoutItemResponse },
      },
    },
    async (request) =>
      request.transaction((tx) => markItemFailed(tx, request.principal.organisationId, request.actor(), request.params.id, request.body.reason, app.now())),
  );

  app.get(
    '/v1/payouts/reconciliation',
    {
      config: { roles: ['admin', 'finance'] },
      // Many Stripe pages and a scan of the items: counted with the reports (plugins/heavy-reads.ts).
      preHandler: app.limitHeavyReads,
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
      return reconcileStripe(app.db, app.stripe, request.principal.organisationId, since, app.stripeGate);
    },
  );
};
