/**
 * Scenario 1: a coordinator submits a time entry and approves it, for random contributors among
 * BENCH_CONTRIBUTORS spread over BENCH_BUDGETS budgets; first as fast as BENCH_CONNECTIONS
 * clients go (closed loop), then at a steady 70 % of that rate (open loop). Figures: approvals a
 * second against pgbench's TPS, PostgreSQL CPU per approval against pgbench's per transaction,
 * WAL per approval, the service's CPU per approval against its CPU per /healthz, p99 of all
 * requests at 70 %, non-2xx answers in both runs.
 */
import { approvalPaced } from '../approvals.js';
import { analyzeApprovalTables } from '../seed.js';
import { log, scenario, type BenchRun, type PostgresService } from '../harness.js';
import { startProbe } from '../probe.js';
import { absoluteRow, ratioRow } from '../table.js';
import { dbNameOf, firstErrorSample, flowSummary, manyContributors, measuredApprovalPeak, type ApprovalsOrg, type Baselines, type Measured } from './shared.js';

/** Sets `measured.approvalsPeak` as soon as the peak run is measured. */
export async function approvalsAcrossContributors(run: BenchRun, service: PostgresService, approvals: ApprovalsOrg, baselines: Baselines, measured: Measured) {
  const { cfg, rows, details, sql } = run;
  const { server, client } = service;
  const tps = baselines.pgbench?.tps ?? null;
  await scenario(run, '1', `submit + approve across ${cfg.contributors.toLocaleString('en-GB')} contributors`, server, async () => {
    const ids = approvals.contributorIds;
    const target = manyContributors(client, approvals.tokens.coordinator, ids, approvals.funding.budgetIds, run.runTag);
    const { peak, where, postgresProfile } = await measuredApprovalPeak(
      cfg,
      target,
      '1',
      () => startProbe(sql, server.pid, [dbNameOf(cfg)]),
      () => analyzeApprovalTables(sql),
      cfg.perf ? `${cfg.resultsDir}/perf-scenario1.data` : undefined,
    );
    measured.approvalsPeak = peak;
    const rate = Math.max(1, peak.approvalsPerSecond * 0.7);
    const paced = await approvalPaced(target('paced1'), rate, cfg.durationMs, cfg.connections * 8);
    log(`  paced at ${paced.targetRate}/s: ${flowSummary(paced)}; p99 of all requests ${paced.p99AllMs} ms; skipped ${paced.skipped}`);
    details.scenario1 = { contributors: ids.length, budgets: approvals.funding.budgetIds.length, peak, paced, whereTheTimeGoes: where, postgresProfile, pgbenchPerTransaction: baselines.pgbench?.probe.perOperation };
    const per = where.perOperation;
    const pgbenchPer = baselines.pgbench?.probe.perOperation ?? null;
    const healthzCpu = baselines.healthz?.probe.perOperation.serviceCpuMs ?? null;
    rows.push(
      ratioRow({ id: '1', scenario: 'approvals/s, many contributors', measured: peak.approvalsPerSecond, unit: '/s', baseline: tps, baselineLabel: 'pgbench TPS', target: '≥ 0.10 × pgbench', minRatio: 0.1 }),
      ratioRow({
        id: '1',
        scenario: 'PostgreSQL CPU per approval',
        measured: per.postgresCpuMs,
        unit: 'ms',
        baseline: pgbenchPer?.postgresCpuMs || null,
        baselineLabel: "ms pgbench's per transaction",
        target: '≤ 5 × pgbench',
        maxRatio: 5,
      }),
      absoluteRow({ id: '1', scenario: 'WAL per approval', measured: per.walBytes, unit: 'B', target: '≤ 4,000 B', ok: per.walBytes > 0 ? per.walBytes <= 4000 : null }),
      ratioRow({
        id: '1',
        scenario: 'service CPU per approval',
        measured: per.serviceCpuMs,
        unit: 'ms',
        baseline: healthzCpu || null,
        baselineLabel: 'ms per /healthz',
        target: '≤ 35 × its /healthz',
        maxRatio: 35,
      }),
      absoluteRow({
        id: '1',
        scenario: `p99 at 70 % of peak (${paced.targetRate}/s)`,
        measured: paced.p99AllMs,
        unit: 'ms',
        target: '< 50 ms',
        ok: paced.p99AllMs < 50 && paced.skipped === 0,
        note: paced.skipped ? `${paced.skipped} arrivals found ${cfg.connections * 8} requests in flight and were dropped` : undefined,
      }),
      absoluteRow({
        id: '1',
        scenario: 'errors (non-2xx, both runs)',
        measured: peak.errors + paced.errors,
        unit: '',
        target: '= 0',
        ok: peak.errors + paced.errors === 0,
        note: peak.errors + paced.errors ? firstErrorSample(peak, paced) : undefined,
      }),
    );
  });
}
