/**
 * Scenario 4: GET /v1/reports/distribution for an organisation of BENCH_REPORT_CONTRIBUTORS
 * contributors, at each size of BENCH_REPORT_ENTRIES time entries (bulk-seeded with their
 * approval transactions and postings, and payouts of half of what every other contributor was
 * owed), requested serially after two warm-ups; the report's SQL under EXPLAIN (ANALYZE, BUFFERS)
 * is written to bench/results/explain-distribution-<entries>.txt. Figure: p95 at the last size.
 */
import { join } from 'node:path';
import { log, scenario, type BenchRun, type PostgresService } from '../harness.js';
import { round } from '../load.js';
import { explainDistribution, timeReport } from '../report.js';
import { checkLedger, insertContributors, insertEntries, loginAll, payHalfOwed, setupFunding, vacuumAnalyze, type BenchOrg } from '../seed.js';
import { absoluteRow } from '../table.js';
import type { Measured } from './shared.js';

/** Appends each size's timing to `measured.reportTimings` as soon as it is measured. */
export async function distributionReportOverBulkData(run: BenchRun, service: PostgresService, org: BenchOrg, measured: Measured) {
  const { cfg, rows, details, sql } = run;
  const { server, client } = service;
  const reportTimings = measured.reportTimings;
  await scenario(run, '4', `distribution report over ${cfg.reportEntries.map((n) => n.toLocaleString('en-GB')).join(' and ')} entries`, server, async () => {
    const tokens = await loginAll(client, org);
    const funding = await setupFunding(client, tokens.finance, 10, 1_000_000_000_000);
    await insertContributors(sql, {
      organisationId: org.organisationId,
      from: 0,
      to: cfg.reportContributors,
      budgetIds: funding.budgetIds,
      mix: 'mixed',
      method: 'mixed',
      buckets: ['owed', 'in_transit', 'paid'],
    });
    const seeding: unknown[] = [];
    let seeded = 0;
    for (const [step, entries] of cfg.reportEntries.entries()) {
      const t0 = Date.now();
      let lastLog = Date.now();
      await insertEntries(sql, {
        organisationId: org.organisationId,
        from: seeded,
        to: entries,
        contributors: cfg.reportContributors,
        budgetIds: funding.budgetIds,
        rateCardVersionId: funding.rateCardVersionId,
        mix: 'mixed',
        method: 'mixed',
        statusMix: true,
        onProgress: (done) => {
          if (Date.now() - lastLog > 20_000) {
            lastLog = Date.now();
            log(`  seeded ${done.toLocaleString('en-GB')} of ${entries.toLocaleString('en-GB')} entries`);
          }
        },
      });
      await payHalfOwed(sql, org.organisationId, step + 1);
      const insertS = (Date.now() - t0) / 1000;
      // With the report rollups (vacuumAnalyze says why they need it).
      await vacuumAnalyze(sql);
      const ledger = await checkLedger(sql, org.organisationId);
      const counts = (
        await sql.query<{ entries: string; postings: string; transactions: string }>(
          `select (select count(*) from time_entries where organisation_id = $1) as entries,
                  (select count(*) from ledger_postings where organisation_id = $1) as postings,
                  (select count(*) from ledger_transactions where organisation_id = $1) as transactions`,
          [org.organisationId],
        )
      ).rows[0]!;
      seeded = entries;
      log(`  ${Number(counts.entries).toLocaleString('en-GB')} entries, ${Number(counts.postings).toLocaleString('en-GB')} postings seeded in ${insertS.toFixed(0)} s (+ vacuum/analyze ${((Date.now() - t0) / 1000 - insertS).toFixed(0)} s); ledger ${JSON.stringify(ledger)}`);
      if (ledger.unbalancedTransactions || ledger.cachedBalanceMismatches || ledger.trialBalance) throw new Error(`bulk seed broke a ledger invariant: ${JSON.stringify(ledger)}`);
      const timing = await timeReport(client, tokens.reporter, '/v1/reports/distribution?currency=GBP', cfg.reportSamples);
      const explain = await explainDistribution(run.database.pool!, org.organisationId, join(cfg.resultsDir, `explain-distribution-${entries}.txt`));
      log(`  report at ${entries.toLocaleString('en-GB')} entries: p50 ${timing.p50Ms} ms, p95 ${timing.p95Ms} ms; EXPLAIN ANALYZE ${explain.executionMs} ms`);
      reportTimings.push({ entries, timing });
      seeding.push({ entries, counts: { entries: Number(counts.entries), postings: Number(counts.postings), transactions: Number(counts.transactions) }, seedSeconds: round(insertS, 1), ledger, timing, explain });
      if (timing.errors.length) throw new Error(`the report answered errors: ${timing.errors[0]}`);
    }
    details.scenario4 = { contributors: cfg.reportContributors, steps: seeding };
    const first = reportTimings[0]!;
    const last = reportTimings[reportTimings.length - 1]!;
    // Issue 21's target: under 150 ms at the largest size, and no more than 1.2 × its own time
    // at the first (the report reads rollups, so its time should not follow the entries).
    const growth = reportTimings.length > 1 ? last.timing.p95Ms / first.timing.p95Ms : null;
    rows.push(
      absoluteRow({
        id: '4',
        scenario: `distribution report p95, ${last.entries.toLocaleString('en-GB')} entries`,
        measured: last.timing.p95Ms,
        unit: 'ms',
        baseline: growth === null ? null : first.timing.p95Ms,
        baselineLabel: growth === null ? '' : `ms p95 at ${first.entries.toLocaleString('en-GB')}`,
        target: growth === null ? '< 150 ms' : '< 150 ms and ≤ 1.2 × at the first size',
        ok: last.timing.p95Ms < 150 && (growth === null || growth <= 1.2),
      }),
    );
  });
}
