/**
 * What the scenarios of bench/scenarios/ share with the run that calls them: the run's handles
 * and result lists (BenchRun), the log, the wrapper that runs one scenario and turns its failure
 * into an ERROR row, and the start of a service process as production starts it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Database } from '../src/db/client.js';
import type { StripeDouble } from '../tools/stripe-double/index.js';
import type { BenchConfig } from './config.js';
import { round, type HttpClient } from './load.js';
import { freePort, readProcStatus, startNodeServer, type ServerHandle } from './proc.js';
import type { Sql } from './seed.js';
import { errorRow, type Row } from './table.js';

export const MB = 1024 * 1024;
export const startedAt = Date.now();
export const log = (message: string) => console.error(`[${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${message}`);

/** The harness itself could not run (no PostgreSQL, a start script it cannot read): exit status 2. */
export class HarnessError extends Error {}

/** What every scenario gets from the run: its settings, the shared handles and where results go. */
export interface BenchRun {
  cfg: BenchConfig;
  /** Keeps this run's emails and idempotency keys apart from earlier runs' in a kept database. */
  runTag: string;
  jwtSecret: string;
  /** A pool on the server's `postgres` database, to drop and create databases. */
  admin: pg.Pool;
  /** The benchmark's PostgreSQL database (the one the service under test uses). */
  database: Database;
  sql: Sql;
  /** The Stripe test double the services pay through. */
  double: StripeDouble;
  /** The results table, one row per target. */
  rows: Row[];
  /** Everything measured, written to the results JSON. */
  details: Record<string, unknown>;
  /** Notes printed under the table. */
  notes: string[];
}

/** The service under test on PostgreSQL, and a keep-alive client to it. */
export interface PostgresService {
  server: ServerHandle;
  client: HttpClient;
}

/**
 * Runs scenario `id` when BENCH_ONLY selects its number; an exception becomes an ERROR row (with
 * the server's last lines in the details). After a scenario, the service's memory is noted, to
 * see which one raised the peak.
 */
export async function scenario(run: BenchRun, id: string, title: string, server: ServerHandle | null, fn: () => Promise<void>) {
  const n = Number(id.replace(/\D.*$/, ''));
  if (!run.cfg.only.has(n)) return;
  log(`scenario ${id}: ${title}`);
  try {
    await fn();
    if (server) {
      const status = readProcStatus(server.pid);
      const memory = (run.details.memoryAfterScenario ??= []) as unknown[];
      if (status) memory.push({ scenario: `${id}: ${title}`, rssMb: round(status.rss / MB, 1), vmHwmMb: round(status.hwm / MB, 1) });
    }
  } catch (error) {
    log(`scenario ${id} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    run.rows.push(errorRow(id, title, error));
    run.details[`error_${id}`] = { message: String(error instanceof Error ? error.message : error), serverTail: server?.tail() };
  }
}

function serviceEnv(run: BenchRun, port: number, database: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...database,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    JWT_SECRET: run.jwtSecret,
    JWT_TTL_SECONDS: '86400',
    LOGIN_RATE_LIMIT: '100000',
    REPORT_RATE_LIMIT: '1000000',
    STRIPE_SECRET_KEY: 'sk_test_bench',
    STRIPE_WEBHOOK_SECRET: 'whsec_bench',
    STRIPE_API_BASE: run.double.url,
    STRIPE_MAX_RPS: String(run.cfg.stripeRateLimit),
    PAYOUT_WORKERS: String(run.cfg.payoutWorkers),
    // To compare V8 settings of the service (e.g. --max-semi-space-size) without changing its start script.
    ...(process.env.BENCH_SERVICE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_SERVICE_NODE_OPTIONS } : {}),
    // To compare buffer-cache sizes of the embedded database (the service's default is 16MB).
    ...(process.env.PGLITE_SHARED_BUFFERS ? { PGLITE_SHARED_BUFFERS: process.env.PGLITE_SHARED_BUFFERS } : {}),
  };
}

/**
 * The node flags of `npm run start:prod` (the heap cap), read from package.json so the benchmark
 * runs the service exactly as production does.
 */
function productionNodeFlags(repoRoot: string): string[] {
  const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const words = (scripts['start:prod'] ?? '').split(/\s+/);
  if (words[0] !== 'node' || words.at(-1) !== 'dist/server.js') throw new HarnessError(`start:prod is not "node [flags] dist/server.js": ${scripts['start:prod']}`);
  return words.slice(1, -1);
}

/** The compiled service as a child process on a free port, its database given by `database` (DATABASE_URL or PGLITE_DIR). */
export async function startService(run: BenchRun, name: string, database: Record<string, string>): Promise<ServerHandle> {
  const port = await freePort();
  return startNodeServer({
    name,
    // The compiled service, as production runs it (`npm run build`, then `npm run start:prod`).
    script: 'dist/server.js',
    cwd: run.cfg.repoRoot,
    env: serviceEnv(run, port, database),
    port,
    readyPath: '/readyz',
    logFile: join(run.cfg.resultsDir, `${name.replace(/\W+/g, '-')}.log`),
    // BENCH_PROFILE=1: a V8 CPU profile of the service, written when it stops.
    nodeArgs: [
      ...productionNodeFlags(run.cfg.repoRoot),
      ...(process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(run.cfg.resultsDir, 'profiles')}`] : []),
    ],
  });
}
