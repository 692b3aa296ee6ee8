/**
 * Scenario 5: a payout run of N Stripe items against the Stripe test double limited to R
 * requests a second. Drafted and approved through the API (four eyes: one finance user drafts,
 * another approves); the service's job queue then pays each item with a transfer. Measures the
 * items paid per second from the first approval to the last payment, and checks that every item
 * was paid exactly once (one transfer per item in the double, none twice).
 */
import type { StripeDouble } from '../tools/stripe-double/index.js';
import { round, type HttpClient } from './load.js';
import { sleep } from './proc.js';
import type { Sql } from './seed.js';

export interface PayoutResult {
  items: number;
  runs: number;
  /** Set when one run of all items could not be drafted (and the items were split into runs). */
  singleRunFailure: string | null;
  draftMs: number;
  approveMs: number;
  paid: number;
  failed: number;
  stillProcessing: number;
  timedOut: boolean;
  elapsedS: number;
  itemsPerSecond: number;
  /** Items paid per 10-second window from the start, to show whether the rate was steady. */
  perWindow: number[];
  transfers: number;
  itemsWithMoreThanOneTransfer: number;
  paidItemsWithoutTransfer: number;
  stripeRequests: number;
  stripe429s: number;
}

export async function payoutRun(options: {
  client: HttpClient;
  drafter: Record<string, string>;
  approver: Record<string, string>;
  sql: Sql;
  organisationId: string;
  budgetId: string;
  double: StripeDouble;
  timeoutMs: number;
  log: (message: string) => void;
}): Promise<PayoutResult> {
  const { client, sql, organisationId, double } = options;
  const requestsBefore = double.requests.length;
  const limitedBefore = double.rateLimitedCount;

  // One run of everything, as a finance user would ask for it; split into runs of 1,000
  // contributors (the API's contributorIds limit) only if that is refused.
  const draftStarted = performance.now();
  let singleRunFailure: string | null = null;
  let runIds: string[] = [];
  let started = 0;
  let approveMs = 0;
  const approveAll = async (ids: string[]) => {
    started = Date.now();
    for (const runId of ids) {
      const res = await client.request('POST', `/v1/payout-runs/${runId}/approve`, { headers: options.approver });
      if (res.status !== 200) return `POST /v1/payout-runs/{id}/approve → ${res.status}: ${res.body.slice(0, 400)}`;
    }
    approveMs = Date.now() - started;
    return null;
  };
  let draftMs = 0;
  const single = await client.request('POST', '/v1/payout-runs', { headers: options.drafter, json: { currency: 'GBP', budgetId: options.budgetId } });
  draftMs = performance.now() - draftStarted;
  if (single.status === 201) {
    const id = (JSON.parse(single.body) as { id: string }).id;
    const refused = await approveAll([id]);
    if (refused) {
      singleRunFailure = `one run of every item: ${refused}`;
      await client.request('POST', `/v1/payout-runs/${id}/cancel`, { headers: options.drafter });
    } else {
      runIds = [id];
    }
  } else {
    singleRunFailure = `POST /v1/payout-runs (one run of every item) → ${single.status}: ${single.body.slice(0, 400)}`;
  }
  if (singleRunFailure) {
    options.log(`  one run of all items failed (${singleRunFailure.slice(0, 120)}); drafting runs of 1,000 contributors instead`);
    const chunkStarted = performance.now();
    const { rows } = await sql.query<{ id: string }>(`select id from contributors where organisation_id = $1 order by id`, [organisationId]);
    for (let i = 0; i < rows.length; i += 1000) {
      const contributorIds = rows.slice(i, i + 1000).map((r) => r.id);
      const res = await client.request('POST', '/v1/payout-runs', {
        headers: options.drafter,
        json: { currency: 'GBP', budgetId: options.budgetId, contributorIds },
      });
      if (res.status !== 201) throw new Error(`POST /v1/payout-runs (1,000 contributors) → ${res.status}: ${res.body.slice(0, 400)}`);
      runIds.push((JSON.parse(res.body) as { id: string }).id);
    }
    draftMs = performance.now() - chunkStarted;
    const refused = await approveAll(runIds);
    if (refused) throw new Error(refused);
  }

  const count = async () => {
    const { rows } = await sql.query<{ status: string; n: string }>(
      `select status, count(*) as n from payout_items where organisation_id = $1 and run_id = any($2::uuid[]) group by status`,
      [organisationId, runIds],
    );
    const by = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    return { paid: by.paid ?? 0, failed: by.failed ?? 0, processing: (by.processing ?? 0) + (by.pending ?? 0), total: rows.reduce((s, r) => s + Number(r.n), 0) };
  };
  let state = await count();
  let timedOut = false;
  let lastLog = Date.now();
  while (state.processing > 0) {
    if (Date.now() - started > options.timeoutMs) {
      timedOut = true;
      break;
    }
    await sleep(1000);
    state = await count();
    if (Date.now() - lastLog > 15_000) {
      lastLog = Date.now();
      options.log(`  payouts: ${state.paid} paid, ${state.failed} failed, ${state.processing} to go after ${round((Date.now() - started) / 1000, 0)} s`);
    }
  }

  const { rows: timing } = await sql.query<{ last: Date | null; windows: number[] | null }>(
    `select max(paid_at) as last,
            array_agg(n order by w) as windows
       from (select floor(extract(epoch from paid_at - $3::timestamptz) / 10)::int as w, count(*)::int as n, max(paid_at) as paid_at
               from payout_items where organisation_id = $1 and run_id = any($2::uuid[]) and status = 'paid' group by 1) x`,
    [organisationId, runIds, new Date(started)],
  );
  const end = timedOut ? Date.now() : Math.max(started + 1, (timing[0]?.last ? new Date(timing[0].last).getTime() : Date.now()));
  const elapsedS = (end - started) / 1000;

  // Exactly once: the double's transfers, by the item they were made for.
  const transfersByItem = new Map<string, number>();
  for (const transfer of double.transfers.values()) {
    const itemId = transfer.metadata.payout_item_id;
    if (itemId) transfersByItem.set(itemId, (transfersByItem.get(itemId) ?? 0) + 1);
  }
  const { rows: paidItems } = await sql.query<{ id: string }>(
    `select id from payout_items where organisation_id = $1 and run_id = any($2::uuid[]) and status = 'paid'`,
    [organisationId, runIds],
  );
  const newRequests = double.requests.slice(requestsBefore);
  return {
    items: state.total,
    runs: runIds.length,
    singleRunFailure,
    draftMs: Math.round(draftMs),
    approveMs,
    paid: state.paid,
    failed: state.failed,
    stillProcessing: state.processing,
    timedOut,
    elapsedS: round(elapsedS),
    itemsPerSecond: round(state.paid / elapsedS, 1),
    perWindow: timing[0]?.windows ?? [],
    transfers: [...transfersByItem.values()].reduce((s, n) => s + n, 0),
    itemsWithMoreThanOneTransfer: [...transfersByItem.values()].filter((n) => n > 1).length,
    paidItemsWithoutTransfer: paidItems.filter((i) => !transfersByItem.has(i.id)).length,
    stripeRequests: newRequests.length,
    stripe429s: double.rateLimitedCount - limitedBefore,
  };
}
