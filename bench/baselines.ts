/**
 * The two baselines every ratio is stated against, measured in the same run on the same machine:
 * - the HTTP ceiling: a bare Fastify route returning a constant, in its own process, under
 *   autocannon with the same connection count as the scenarios;
 * - the durable-write ceiling of this PostgreSQL: pgbench's built-in TPC-B-like script at the
 *   same client count (skipped, with a note, where pgbench is not installed).
 */
import autocannon from 'autocannon';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { BenchConfig } from './config.js';
import { round } from './load.js';
import { startProbe, type ProbeResult } from './probe.js';
import { freePort, runCommand, startNodeServer } from './proc.js';
import { pgSql } from './seed.js';

export interface AutocannonSummary {
  rps: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
  durationS: number;
}

export function summarise(result: autocannon.Result): AutocannonSummary {
  const ok = result['2xx'];
  return {
    rps: round(ok / result.duration, 1),
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: {
      mean: round(result.latency.average),
      p50: round(result.latency.p50),
      p90: round(result.latency.p90),
      p99: round(result.latency.p99),
      max: round(result.latency.max),
    },
    durationS: round(result.duration),
  };
}

export async function autocannonRun(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** A bare Fastify process (bench/constant-server.ts), serving /body from bodyFile when given. */
async function startConstantServer(cfg: BenchConfig, bodyFile?: string) {
  const port = await freePort();
  return startNodeServer({
    name: 'constant-route server',
    script: join(cfg.repoRoot, 'bench', 'constant-server.ts'),
    cwd: cfg.repoRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), ...(bodyFile ? { BODY_FILE: bodyFile } : {}) },
    port,
    readyPath: '/constant',
    logFile: join(cfg.resultsDir, 'constant-server.log'),
  });
}

/**
 * What one answer costs with no work behind it: a bare Fastify process answering `bodyFile`'s
 * JSON from memory, and its constant route, one after the other under the same load. Their
 * ratio is the most a read answering that JSON could reach against a route that does nothing.
 */
export async function bareAnswerCeiling(cfg: BenchConfig, bodyFile: string) {
  const server = await startConstantServer(cfg, bodyFile);
  try {
    const rate = async (path: string) => {
      const url = `${server.url}${path}`;
      await autocannonRun({ url, connections: cfg.connections, duration: cfg.warmupMs / 1000 });
      return summarise(await autocannonRun({ url, connections: cfg.connections, duration: cfg.durationMs / 1000 }));
    };
    const answer = await rate('/body');
    const constant = await rate('/constant');
    return { answerRps: answer.rps, constantRps: constant.rps, ratio: constant.rps > 0 ? Math.round((answer.rps / constant.rps) * 10_000) / 10_000 : null, non2xx: answer.non2xx + constant.non2xx };
  } finally {
    await server.stop();
  }
}

/** The HTTP ceiling: GET of a constant from a bare Fastify process. */
export async function constantRouteBaseline(cfg: BenchConfig): Promise<AutocannonSummary & { probe: ProbeResult }> {
  const server = await startConstantServer(cfg);
  try {
    const url = `${server.url}/constant`;
    await autocannonRun({ url, connections: cfg.connections, duration: cfg.warmupMs / 1000 });
    const probe = await startProbe(null, server.pid, null);
    const result = await autocannonRun({ url, connections: cfg.connections, duration: cfg.durationMs / 1000 });
    const summary = summarise(result);
    return { ...summary, probe: await probe.end(result['2xx']) };
  } finally {
    await server.stop();
  }
}

export interface PgbenchResult {
  tps: number;
  latencyMs: number | null;
  clients: number;
  scale: number;
  durationS: number;
  probe: ProbeResult;
  output: string;
}

export function findPgbench(): string | null {
  if (process.env.PGBENCH) return existsSync(process.env.PGBENCH) ? process.env.PGBENCH : null;
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/local/bin', '/usr/lib/postgresql/15/bin'])) {
    if (dir && existsSync(join(dir, 'pgbench'))) return join(dir, 'pgbench');
  }
  return null;
}

/** pgbench's TPC-B-like script at `clients` clients; null when pgbench is absent. */
export async function pgbenchBaseline(cfg: BenchConfig, admin: pg.Pool): Promise<PgbenchResult | null> {
  const pgbench = findPgbench();
  if (!pgbench) return null;
  const url = new URL(cfg.databaseUrl);
  const env = {
    ...process.env,
    PGHOST: url.hostname,
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username || 'postgres'),
    ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}),
  };
  const db = cfg.pgbenchDatabase;
  await admin.query(`drop database if exists "${db}" with (force)`);
  await admin.query(`create database "${db}"`);
  // Server-side data generation (G) is the quickest way to load the scale's accounts.
  await runCommand(pgbench, ['-i', '-q', '-I', 'dtGvp', '-s', String(cfg.pgbenchScale), db], env);
  const pool = new pg.Pool({ connectionString: (() => { const u = new URL(cfg.databaseUrl); u.pathname = `/${db}`; return u.toString(); })(), max: 1 });
  try {
    const durationS = Math.max(5, Math.round(cfg.durationMs / 1000));
    const threads = Math.min(cfg.connections, 2);
    // A short untimed run first, like the HTTP scenarios' warm-up.
    await runCommand(pgbench, ['-n', '-c', String(cfg.connections), '-j', String(threads), '-T', String(Math.max(1, Math.round(cfg.warmupMs / 1000))), db], env);
    const probe = await startProbe(pgSql(pool), null, [db]);
    const { stdout } = await runCommand(pgbench, ['-n', '-c', String(cfg.connections), '-j', String(threads), '-T', String(durationS), db], env);
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1] ?? /tps = ([\d.]+)/.exec(stdout)?.[1]);
    if (!Number.isFinite(tps)) throw new Error(`could not read pgbench's tps from:\n${stdout}`);
    const latency = /latency average = ([\d.]+) ms/.exec(stdout)?.[1];
    const transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1] ?? tps * durationS);
    return {
      tps: round(tps, 1),
      latencyMs: latency ? Number(latency) : null,
      clients: cfg.connections,
      scale: cfg.pgbenchScale,
      durationS,
      probe: await probe.end(transactions),
      output: stdout.trim(),
    };
  } finally {
    await pool.end();
  }
}
