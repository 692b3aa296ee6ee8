/**
 * Scenario 8, approvals as the contributors grow: scenario 1's peak run again after adding
 * contributors up to the second BENCH_CONTRIBUTORS count, each seeded with the owed account an
 * earlier approval opened (as scenario 1's contributors have theirs from its warm-up). Runs
 * before the report's bulk data exists, so the number of contributors is the only difference.
 * Figure: the approve request's median latency against scenario 1's.
 */
import { log, scenario, type BenchRun, type PostgresService } from '../harness.js';
import { round } from '../load.js';
import { startProbe } from '../probe.js';
import { analyzeApprovalTables, insertContributors } from '../seed.js';
import { absoluteRow } from '../table.js';
import { contributorIdsOf, dbNameOf, manyContributors, measuredApprovalPeak, type ApprovalsOrg, type Measured } from './shared.js';

/** Adds the contributors to `approvals` (and its contributorIds); compares with `measured.approvalsPeak`. */
export async function approvalsWithMoreContributors(run: BenchRun, service: PostgresService, approvals: ApprovalsOrg, measured: Measured) {
  const { cfg, rows, details, sql } = run;
  const { server, client } = service;
  await scenario(run, '8', `approvals with ${cfg.growthContributors.toLocaleString('en-GB')} contributors`, server, async () => {
    const first = measured.approvalsPeak;
    if (!first) throw new Error('needs scenario 1 (the same flow with fewer contributors) to compare with');
    const seedStarted = Date.now();
    // Each added contributor comes with the owed account an earlier approval opened, as scenario
    // 1's contributors have theirs from its warm-up: both runs then measure approvals of people
    // who have been paid before, and only the number of them differs. (A contributor's first
    // approval also opens that account, one insert more, whatever the number of contributors.)
    await insertContributors(sql, { organisationId: approvals.org.organisationId, from: cfg.contributors, to: cfg.growthContributors, budgetIds: approvals.funding.budgetIds, mix: 'lived', method: 'bank', buckets: ['owed'] });
    await sql.query('analyze contributors, ledger_accounts');
    const ids = (approvals.contributorIds = await contributorIdsOf(sql, approvals.org.organisationId));
    log(`  ${ids.length.toLocaleString('en-GB')} contributors after ${Math.round((Date.now() - seedStarted) / 1000)} s of seeding`);
    const target = manyContributors(client, approvals.tokens.coordinator, ids, approvals.funding.budgetIds, run.runTag);
    const { peak, where } = await measuredApprovalPeak(cfg, target, '8', () => startProbe(sql, server.pid, [dbNameOf(cfg)]), () => analyzeApprovalTables(sql));
    const growth = peak.approve.latencyMs.p50 / first.approve.latencyMs.p50;
    details.scenario8Approvals = {
      contributors: [cfg.contributors, ids.length],
      approvalsPerSecond: [first.approvalsPerSecond, peak.approvalsPerSecond],
      approveP50Ms: [first.approve.latencyMs.p50, peak.approve.latencyMs.p50],
      approveMeanMs: [first.approve.latencyMs.mean, peak.approve.latencyMs.mean],
      peak,
      whereTheTimeGoes: where,
    };
    rows.push(
      absoluteRow({
        id: '8',
        scenario: `approval time, ${(ids.length / cfg.contributors).toFixed(0)}× contributors`,
        measured: round(growth, 3),
        unit: '×',
        baseline: null,
        target: '≤ 1.2× (flat)',
        ok: growth <= 1.2 && peak.errors === 0,
        note: `approve p50 ${first.approve.latencyMs.p50} → ${peak.approve.latencyMs.p50} ms; approvals/s ${first.approvalsPerSecond} → ${peak.approvalsPerSecond}${peak.errors ? `; ${peak.errors} errors` : ''}`,
      }),
    );
  });
}
