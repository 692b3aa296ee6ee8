/**
 * Scenario 5: BENCH_PAYOUT_ITEMS contributors paid by Stripe (connected accounts ready in the
 * double), each owed £20, paid in one payout run drafted by one finance user and approved by
 * another; the service's job queue makes a transfer per item against the double, which refuses
 * more than BENCH_STRIPE_RPS requests a second (bench/payouts.ts). Figures: items paid a second
 * against the limit; every item paid exactly once.
 */
import { log, scenario, type BenchRun, type PostgresService } from '../harness.js';
import { round } from '../load.js';
import { payoutRun } from '../payouts.js';
import { checkLedger, insertContributors, insertEntries, loginAll, setupFunding, stripeAccountIds, type BenchOrg } from '../seed.js';
import { absoluteRow, ratioRow } from '../table.js';

export async function payoutRunThroughStripe(run: BenchRun, service: PostgresService, org: BenchOrg) {
  const { cfg, rows, details, sql } = run;
  const { server, client } = service;
  await scenario(run, '5', `payout run of ${cfg.payoutItems.toLocaleString('en-GB')} Stripe items`, server, async () => {
    const tokens = await loginAll(client, org);
    const funding = await setupFunding(client, tokens.finance, 1, 1_000_000_000_000);
    await insertContributors(sql, { organisationId: org.organisationId, from: 0, to: cfg.payoutItems, budgetIds: funding.budgetIds, mix: 'lived', method: 'stripe', buckets: ['owed'] });
    await insertEntries(sql, {
      organisationId: org.organisationId,
      from: 0,
      to: cfg.payoutItems,
      contributors: cfg.payoutItems,
      budgetIds: funding.budgetIds,
      rateCardVersionId: funding.rateCardVersionId,
      mix: 'lived',
      method: 'stripe',
      statusMix: false,
    });
    for (const id of await stripeAccountIds(sql, org.organisationId)) run.double.createAccount({ id, active: true });
    await sql.query('analyze');
    run.double.reset();
    const result = await payoutRun({
      client,
      drafter: tokens.finance,
      approver: tokens.finance2,
      sql,
      organisationId: org.organisationId,
      budgetId: funding.budgetIds[0]!,
      double: run.double,
      timeoutMs: cfg.payoutTimeoutMs,
      log,
    });
    const ledger = await checkLedger(sql, org.organisationId);
    details.scenario5 = { ...result, ledger, stripeLimitPerSecond: cfg.stripeRateLimit, payoutWorkers: cfg.payoutWorkers };
    log(
      `  ${result.paid} of ${result.items} paid in ${result.elapsedS} s (${result.itemsPerSecond}/s) in ${result.runs} run(s) (drafting ${round(result.draftMs / 1000, 1)} s, approving ${round(result.approveMs / 1000, 1)} s); ${result.stripe429s} × 429; duplicates ${result.itemsWithMoreThanOneTransfer}${result.timedOut ? '; TIMED OUT' : ''}`,
    );
    const paidOnce = result.itemsWithMoreThanOneTransfer === 0 && result.paidItemsWithoutTransfer === 0 && result.paid === result.items && result.transfers === result.paid;
    rows.push(
      ratioRow({
        id: '5',
        scenario: `payout items/s (${result.items.toLocaleString('en-GB')} items)`,
        measured: result.itemsPerSecond,
        unit: '/s',
        baseline: cfg.stripeRateLimit,
        baselineLabel: 'Stripe limit/s',
        target: '≥ 0.9 × limit',
        minRatio: 0.9,
        extraOk: paidOnce,
        note: [
          result.timedOut ? `stopped waiting after ${cfg.payoutTimeoutMs / 1000} s with ${result.stillProcessing} items unpaid (full run would take ≈ ${Math.round(result.items / Math.max(0.1, result.itemsPerSecond))} s)` : '',
          result.singleRunFailure ? `one run of all items failed, so ${result.runs} runs of ≤ 1,000: ${result.singleRunFailure.slice(0, 160)}` : '',
        ]
          .filter(Boolean)
          .join('; ') || undefined,
      }),
      absoluteRow({
        id: '5',
        scenario: 'each item paid exactly once',
        measured: result.itemsWithMoreThanOneTransfer,
        unit: 'paid twice',
        target: 'all paid, none twice',
        ok: result.timedOut ? (result.itemsWithMoreThanOneTransfer === 0 && result.paidItemsWithoutTransfer === 0 ? null : false) : paidOnce,
        note: `${result.paid} paid, ${result.failed} failed, ${result.stillProcessing} unpaid, ${result.transfers} transfers${result.timedOut ? ' (not finished: checked only what was paid)' : ''}`,
      }),
    );
  });
}
