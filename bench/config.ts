/**
 * The benchmark's sizes and settings, from the environment. Defaults are the full sizes;
 * BENCH_SCALE=small shrinks everything for a quick run (a couple of minutes). Every size can
 * also be set on its own (see bench/README.md).
 */
import { fileURLToPath } from 'node:url';

export type Scale = 'full' | 'small';

export interface BenchConfig {
  scale: Scale;
  repoRoot: string;
  resultsDir: string;
  /** The benchmark's own database (dropped and created at the start of a run). */
  databaseUrl: string;
  /** A database on the same server used to drop and create the others. */
  adminUrl: string;
  /** pgbench's database (dropped and created at the start, dropped at the end). */
  pgbenchDatabase: string;
  /** Concurrent HTTP clients for the peak runs, and pgbench's client count. */
  connections: number;
  /** Length of each measured load phase (constant route, peak, paced, reads). */
  durationMs: number;
  /** Untimed load before each measured phase, so the JIT and the pools are warm. */
  warmupMs: number;
  pgbenchScale: number;
  /** Budgets the many-contributor approvals are spread over (scenario 1). */
  budgets: number;
  /** Contributors for scenario 1, and the larger count scenario 8 repeats it with. */
  contributors: number;
  growthContributors: number;
  /** Time-entry counts scenario 4 runs the report at (the last is the headline figure). */
  reportEntries: number[];
  /** Contributors the report's entries are spread over (fixed, so only entries grow). */
  reportContributors: number;
  /** How many times the report is requested at each size (p95 from these). */
  reportSamples: number;
  payoutItems: number;
  /** Give up waiting for the payout run after this long (the rate is still reported). */
  payoutTimeoutMs: number;
  stripeRateLimit: number;
  payoutWorkers: number;
  /** Which scenarios to run (1–8); all by default. */
  only: Set<number>;
  pglite: boolean;
  keepDatabase: boolean;
  /** BENCH_PERF=1: sample PostgreSQL's CPU with Linux perf during scenario 1's peak (bench/perf.ts). */
  perf: boolean;
}

const int = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, not ${raw}`);
  return Math.round(value);
};

const list = (name: string, fallback: number[]): number[] => {
  const raw = process.env[name];
  if (!raw) return fallback;
  const values = raw.split(',').map((v) => Number(v.trim().replace(/_/g, '')));
  if (values.some((v) => !Number.isInteger(v) || v <= 0)) throw new Error(`${name} must be a comma-separated list of positive integers, not ${raw}`);
  return values;
};

export function loadBenchConfig(): BenchConfig {
  const scaleRaw = (process.env.BENCH_SCALE ?? 'full').toLowerCase();
  if (scaleRaw !== 'full' && scaleRaw !== 'small') throw new Error(`BENCH_SCALE must be full or small, not ${scaleRaw}`);
  const scale = scaleRaw as Scale;
  const small = scale === 'small';
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ledger_bench';
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const repoRoot = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  const only = process.env.BENCH_ONLY
    ? new Set(process.env.BENCH_ONLY.split(',').map((s) => Number(s.trim())))
    : new Set([1, 2, 3, 4, 5, 6, 7, 8]);
  return {
    scale,
    repoRoot,
    resultsDir: `${repoRoot}/bench/results`,
    databaseUrl,
    adminUrl: process.env.BENCH_ADMIN_URL ?? admin.toString(),
    pgbenchDatabase: `${new URL(databaseUrl).pathname.slice(1)}_pgbench`,
    connections: int('BENCH_CONNECTIONS', 10),
    durationMs: int('BENCH_DURATION_S', small ? 6 : 30) * 1000,
    warmupMs: int('BENCH_WARMUP_S', small ? 2 : 5) * 1000,
    pgbenchScale: int('BENCH_PGBENCH_SCALE', 10),
    budgets: int('BENCH_BUDGETS', 20),
    contributors: list('BENCH_CONTRIBUTORS', small ? [1_000, 10_000] : [1_000, 100_000])[0]!,
    growthContributors: list('BENCH_CONTRIBUTORS', small ? [1_000, 10_000] : [1_000, 100_000])[1] ?? (small ? 10_000 : 100_000),
    reportEntries: list('BENCH_REPORT_ENTRIES', small ? [2_000, 20_000] : [100_000, 1_000_000]),
    reportContributors: int('BENCH_REPORT_CONTRIBUTORS', small ? 1_000 : 10_000),
    reportSamples: int('BENCH_REPORT_SAMPLES', small ? 10 : 20),
    payoutItems: int('BENCH_PAYOUT_ITEMS', small ? 300 : 10_000),
    payoutTimeoutMs: int('BENCH_PAYOUT_TIMEOUT_S', small ? 60 : 300) * 1000,
    stripeRateLimit: int('BENCH_STRIPE_RPS', 100),
    payoutWorkers: int('BENCH_PAYOUT_WORKERS', 16),
    only,
    pglite: process.env.BENCH_PGLITE !== '0',
    keepDatabase: process.env.BENCH_KEEP_DB !== '0',
    perf: process.env.BENCH_PERF === '1',
  };
}
