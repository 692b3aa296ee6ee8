import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { payoutMethods, payoutRunStatuses } from '../../domain/enums.js';
import { errors, idParam, operations, pageParameters } from '../../lib/openapi.js';
import { decodeCursor, pageOf, toPage } from '../../lib/pagination.js';
import { currency, id, isoDate, nonEmpty } from '../../lib/schemas.js';
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

const payouts = operations('payouts');
const finance = payouts.for(['finance']);
const readers = payouts.for(['admin', 'finance']);
const runParam = idParam('payout run');
const itemParam = idParam('payout item');

export const payoutRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/payout-runs',
    finance({
      operationId: 'createPayoutRun',
      summary: 'Draft a payout run of what contributors are owed',
      description:
        'One item per contributor for what they are owed in the currency, earnings and expenses apart. Declined contributors ' +
        "get their expenses only; Stripe contributors who cannot receive transfers yet are listed under `skipped`. Earnings limits " +
        "apply to the period containing the run's payment date: `block` holds earnings that would cross it (skipped, with " +
        '`headroom` and `payableFrom`), `split` pays up to the headroom (`carriedForward`), `warn` pays all with `warnings`. ' +
        'A draft moves no money; another finance user approves it (`approvePayoutRun`).',
      // Pay again is a body field rather than a page-only action: the service finds who failed
      // in the same transaction as the draft (no gap for a page's list to go stale in), scripts
      // get it too, and the new run records which run it pays again (filters.failedFrom).
      body: z
        .strictObject({
          currency,
          budgetId: id.optional().describe('Only what is owed from work charged to this budget.'),
          contributorIds: z.array(id).min(1).max(1000).optional().describe('Only these contributors.'),
          methods: z.array(z.enum(payoutMethods)).min(1).optional().describe('Only contributors paid by these methods.'),
          failedFrom: id
            .optional()
            .describe('Pay again: draft only for the contributors whose items failed in this run (what they are owed now)'),
        })
        .refine((b) => !(b.failedFrom && b.contributorIds), {
          path: ['failedFrom'],
          message: 'give either contributorIds or failedFrom, not both',
        }),
      response: { 201: payoutRunResponse, ...errors('not_found', 'invalid_state') },
    }),
    async (request) => request.transaction((tx) => draftPayoutRun(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  app.get(
    '/v1/payout-runs',
    readers({
      operationId: 'listPayoutRuns',
      summary: 'List payout runs',
      description: 'Runs in creation order, each with its items.',
      querystring: z.strictObject({
        ...pageParameters,
        status: z.enum(payoutRunStatuses).optional().describe('Only runs in this state.'),
        failedSince: isoDate
          .optional()
          .describe('Only runs with an item that failed on or after this date (Europe/London): what may need paying again'),
      }),
      response: { 200: pageOf(payoutRunResponse) },
    }),
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return toPage(await listPayoutRuns(app.db, request.principal.organisationId, filter, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/payout-runs/:id',
    readers({
      operationId: 'getPayoutRun',
      summary: 'Get a payout run with its items',
      description: "Each item with its status, `stripeTransferId` and `failureReason` (null until set).",
      params: runParam,
      response: { 200: payoutRunResponse, ...errors('not_found') },
    }),
    async (request) => getPayoutRun(app.db, request.principal.organisationId, request.params.id),
  );

  app.post(
    '/v1/payout-runs/:id/approve',
    finance({
      operationId: 'approvePayoutRun',
      summary: 'Approve a draft payout run',
      description:
        "The items' money moves from owed to in transit and payment starts: Stripe items become transfers, manual items wait " +
        'to be marked paid. Answers once the items are queued; it never waits for Stripe. Not by the person who drafted it ' +
        '(`four_eyes_required`) nor by anyone it pays (`self_approval_forbidden`). Earnings limits are checked again for the ' +
        "approval's date (`invalid_state` when an item would now cross one, or balances changed since the draft).",
      params: runParam,
      response: {
        200: payoutRunResponse,
        ...errors('not_found', 'invalid_state', 'four_eyes_required', 'self_approval_forbidden', 'stripe_not_configured', 'amount_out_of_range'),
      },
    }),
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
    finance({
      operationId: 'cancelPayoutRun',
      summary: 'Cancel a draft payout run',
      description: 'Only a draft: no money has moved. What it would have paid stays owed.',
      params: runParam,
      response: { 200: payoutRunResponse, ...errors('not_found', 'invalid_state') },
    }),
    async (request) => request.transaction((tx) => cancelPayoutRun(tx, request.principal.organisationId, request.actor(), request.params.id, app.now())),
  );

  app.post(
    '/v1/payouts/:id/mark-paid',
    finance({
      operationId: 'markPayoutItemPaid',
      summary: 'Mark a bank transfer or voucher item paid',
      description: "The money moves from in transit to paid, dated today in Europe/London, and the contributor is told. Only a manual item that is processing.",
      params: itemParam,
      body: z.strictObject({ reference: nonEmpty(200).describe("The bank's or voucher's reference.") }),
      response: { 200: payoutItemResponse, ...errors('not_found', 'invalid_state') },
    }),
    async (request) =>
      request.transaction((tx) => markItemPaid(tx, request.principal.organisationId, request.actor(), request.params.id, request.body.reference, app.now())),
  );

  app.post(
    '/v1/payouts/:id/mark-failed',
    finance({
      operationId: 'markPayoutItemFailed',
      summary: 'Mark a bank transfer or voucher item failed',
      description: 'Its money returns to owed, so a later run (or `failedFrom`, pay again) pays it; the contributor and finance are told.',
      params: itemParam,
      body: z.strictObject({ reason: nonEmpty(1000).describe('What went wrong, as the contributor will read it.') }),
      response: { 200: payoutItemResponse, ...errors('not_found', 'invalid_state') },
    }),
    async (request) =>
      request.transaction((tx) => markItemFailed(tx, request.principal.organisationId, request.actor(), request.params.id, request.body.reason, app.now())),
  );

  app.get(
    '/v1/payouts/reconciliation',
    {
      ...readers({
        operationId: 'reconcilePayouts',
        summary: "Check Stripe's transfers against the ledger's payout items",
        description:
          'Lists every mismatch: a transfer with no item, an item whose transfer is missing, amounts or reversals that differ. ' +
          'Counted with the reports against REPORT_RATE_LIMIT per token.',
        querystring: z.strictObject({
          sinceDays: z.coerce.number().int().min(1).max(400).default(30).describe('How many days back to look (1 to 400, default 30).'),
        }),
        response: {
          200: z.object({
            since: z.iso.datetime(),
            transfers: z.number().int(),
            items: z.number().int(),
            mismatches: z.array(z.object({ kind: z.string(), itemId: z.string().nullable(), transferId: z.string().nullable(), detail: z.string() })),
          }),
          ...errors('stripe_not_configured'),
        },
      }),
      // Many Stripe pages and a scan of the items: counted with the reports (plugins/heavy-reads.ts).
      preHandler: app.limitHeavyReads,
    },
    async (request) => {
      if (!app.stripe) throw new AppError('stripe_not_configured', 'Stripe is not configured (STRIPE_SECRET_KEY).');
      const since = new Date(app.now().getTime() - request.query.sinceDays * 86_400_000);
      return reconcileStripe(app.db, app.stripe, request.principal.organisationId, since, app.stripeGate);
    },
  );
};
