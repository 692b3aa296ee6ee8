/**
 * What several scenarios use: the approvals organisation scenarios 1, 2, 3 and 8 share, the
 * baselines and the figures a later scenario compares with, and the helpers for the approval
 * flow's measured peak and the memory rows.
 */
import { approvalPeak, type FlowResult, type FlowTarget } from '../approvals.js';
import type { AutocannonSummary, PgbenchResult } from '../baselines.js';
import type { BenchConfig } from '../config.js';
import { log, MB } from '../harness.js';
import { round, type HttpClient } from '../load.js';
import { profileSummary, startPerf, type PostgresProfile } from '../perf.js';
import type { startProbe, ProbeResult } from '../probe.js';
import type { ReportTiming } from '../report.js';
import type { BenchOrg, BenchRole, Funding, Sql } from '../seed.js';
import { absoluteRow, type Row } from '../table.js';

/** The baselines, measured before any scenario. */
export interface Baselines {
  /** The HTTP ceiling: a bare Fastify route returning a constant (scenario 3's baseline). */
  constant: AutocannonSummary & { probe: ProbeResult };
  /** The durable-write ceiling of this PostgreSQL (scenarios 1 and 2); null without pgbench. */
  pgbench: PgbenchResult | null;
  /**
   * GET /healthz of the service itself, with its CPU per request: the framework and plugin cost
   * of a request that does no work (scenario 1's service CPU, scenario 3's reads). Measured once
   * the service is up; null until then.
   */
  healthz: (AutocannonSummary & { probe: ProbeResult }) | null;
}

/**
 * The organisation the approval scenarios (1, 2, 3, 8) act in: its users' tokens, its budgets
 * (BENCH_BUDGETS of them) and its bulk contributors (scenario 8 adds more and replaces the list).
 */
export interface ApprovalsOrg {
  org: BenchOrg;
  tokens: Record<BenchRole, Record<string, string>>;
  funding: Funding;
  contributorIds: string[];
}

/**
 * Figures a scenario measures for a later one to compare with, kept as soon as they are measured
 * (so a scenario that fails after measuring them still leaves them).
 */
export interface Measured {
  /** Scenario 1's peak run: scenario 6 states PGlite against it, scenario 8 the growth. */
  approvalsPeak: FlowResult | null;
  /** Scenario 4's report at each size measured: scenario 8's report growth. */
  reportTimings: { entries: number; timing: ReportTiming }[];
}

export const dbNameOf = (cfg: BenchConfig) => new URL(cfg.databaseUrl).pathname.slice(1);

export const contributorIdsOf = async (sql: Sql, organisationId: string): Promise<string[]> =>
  (await sql.query<{ id: string }>(`select id from contributors where organisation_id = $1 order by name`, [organisationId])).rows.map((r) => r.id);

/**
 * The many-contributor flow of scenarios 1, 6 and 8: contributor i charges budget i mod B. The
 * returned function gives one phase's target, its idempotency keys prefixed by the run and phase.
 */
export function manyContributors(client: HttpClient, headers: Record<string, string>, ids: string[], budgets: string[], runTag: string) {
  return (phase: string): FlowTarget => ({
    client,
    headers,
    keyPrefix: `${runTag}-${phase}`,
    pick: () => {
      const i = Math.floor(Math.random() * ids.length);
      return { contributorId: ids[i]!, budgetId: budgets[i % budgets.length]! };
    },
  });
}

export function flowSummary(r: FlowResult) {
  return `${r.approvals} approvals in ${r.elapsedS} s; approve p50 ${r.approve.latencyMs.p50} ms p99 ${r.approve.latencyMs.p99} ms; submit p99 ${r.submit.latencyMs.p99} ms; errors ${r.errors}`;
}

/**
 * The approval flow as fast as BENCH_CONNECTIONS clients go: an untimed warm-up (phase
 * `warm<n>`), then the measured run (`peak<n>`) with `probe` watching where the time goes.
 */
export async function measuredApprovalPeak(
  cfg: BenchConfig,
  target: (phase: string) => FlowTarget,
  n: string,
  probe: () => ReturnType<typeof startProbe>,
  /** Run between the warm-up and the measured phase: statistics, where autovacuum would have made them. */
  settle?: () => Promise<void>,
  /** Where perf writes its samples of the peak, when PostgreSQL's CPU is to be sorted (BENCH_PERF=1). */
  perfFile?: string,
): Promise<{ peak: FlowResult; where: ProbeResult; postgresProfile?: PostgresProfile }> {
  await approvalPeak(target(`warm${n}`), cfg.connections, cfg.warmupMs);
  await settle?.();
  const noProfile = (why: string) => log(`  no profile of PostgreSQL: ${why}`);
  // perf ends by itself a minute after the peak should have, whatever happens here.
  const perf = perfFile ? await startPerf(perfFile, noProfile, { maxSeconds: cfg.durationMs / 1000 + 60 }) : null;
  let peak: FlowResult;
  let where: ProbeResult;
  try {
    const running = await probe();
    peak = await approvalPeak(target(`peak${n}`), cfg.connections, cfg.durationMs);
    where = await running.end(peak.approvals);
  } catch (error) {
    // Nothing after a failed peak is to be sampled: the run goes on to the next scenario.
    await perf?.cancel();
    throw error;
  }
  log(`  peak: ${peak.approvalsPerSecond}/s — ${flowSummary(peak)}`);
  const postgresProfile = perf
    ? await perf.stop().catch((error: unknown) => {
        noProfile(String(error));
        return null;
      })
    : null;
  if (postgresProfile) log(`  PostgreSQL's CPU (perf, ${postgresProfile.samples} samples): ${profileSummary(postgresProfile)}`);
  return { peak, where, postgresProfile: postgresProfile ?? undefined };
}

/** The first error answer recorded in these runs (submits before approves, run by run). */
export const firstErrorSample = (...runs: FlowResult[]): string | undefined => runs.flatMap((r) => [...r.submit.errorSamples, ...r.approve.errorSamples])[0];

/** Scenario 7's row for one service process: its peak RSS (VmHWM) against 300 MB. */
export function memoryRow(service: string, hwm: number, firstRss: number, aside?: string): Row {
  return absoluteRow({
    id: '7',
    scenario: `service peak RSS (VmHWM), ${service}`,
    measured: round(hwm / MB, 1),
    unit: 'MB',
    target: '< 300 MB',
    ok: hwm > 0 ? hwm < 300 * MB : null,
    note: `RSS ${round(firstRss / MB, 0)} MB when ready${aside ? ` (${aside})` : ''}`,
  });
}
