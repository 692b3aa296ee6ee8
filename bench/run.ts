/**
 * `npm run bench`: how fast the service is and how its cost grows, measured over HTTP against a
 * real running server (a child process) on real PostgreSQL (and on embedded PGlite), every
 * figure stated as a ratio to a baseline measured in the same run on the same machine.
 * See bench/README.md. BENCH_SCALE=small for a quick run.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import pg from 'pg';
import { MIGRATIONS_FOLDER, openDatabase, type Database } from '../src/db/client.js';
import { startStripeDouble, type StripeDouble } from '../test/helpers/stripe-double.js';
import { approvalPaced, approvalPeak, type FlowResult, type FlowTarget } from './approvals.js';
import { autocannonRun, constantRouteBaseline, pgbenchBaseline, summarise, type AutocannonSummary, type PgbenchResult } from './baselines.js';
import { loadBenchConfig, type BenchConfig } from './config.js';
import { countApprovalStatements } from './diagnostics.js';
import { HttpClient, round } from './load.js';
import { payoutRun } from './payouts.js';
import { startProbe } from './probe.js';
import { freePort, readProcStatus, startNodeServer, type ServerHandle } from './proc.js';
import { explainDistribution, timeReport, type ReportTiming } from './report.js';
import {
  checkLedger,
  createBenchOrg,
  insertContributors,
  insertEntries,
  loginAll,
  payHalfOwed,
  pgliteSql,
  pgSql,
  postExpect,
  setupFunding,
  stripeAccountIds,
  vacuumAnalyze,
  type BenchOrg,
  type Sql,
} from './seed.js';
import { renderMarkdown } from './markdown.js';
import { absoluteRow, errorRow, ratioRow, renderTable, writeJson, type Row } from './table.js';

const MB = 1024 * 1024;
const startedAt = Date.now();
const log = (message: string) => console.error(`[${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${message}`);

class HarnessError extends Error {}

interface Context {
  cfg: BenchConfig;
  runTag: string;
  jwtSecret: string;
  admin: pg.Pool;
  database: Database;
  sql: Sql;
  double: StripeDouble;
  rows: Row[];
  details: Record<string, unknown>;
  notes: string[];
}

function serviceEnv(ctx: Context, port: number, database: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...database,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    JWT_SECRET: ctx.jwtSecret,
    JWT_TTL_SECONDS: '86400',
    LOGIN_RATE_LIMIT: '100000',
    STRIPE_SECRET_KEY: 'sk_test_bench',
    STRIPE_WEBHOOK_SECRET: 'whsec_bench',
    STRIPE_API_BASE: ctx.double.url,
    STRIPE_MAX_RPS: String(ctx.cfg.stripeRateLimit),
    PAYOUT_WORKERS: String(ctx.cfg.payoutWorkers),
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

async function startService(ctx: Context, name: string, database: Record<string, string>): Promise<ServerHandle> {
  const port = await freePort();
  return startNodeServer({
    name,
    // The compiled service, as production runs it (`npm run build`, then `npm run start:prod`).
    script: 'dist/server.js',
    cwd: ctx.cfg.repoRoot,
    env: serviceEnv(ctx, port, database),
    port,
    readyPath: '/readyz',
    logFile: join(ctx.cfg.resultsDir, `${name.replace(/\W+/g, '-')}.log`),
    // BENCH_PROFILE=1: a V8 CPU profile of the service, written when it stops.
    nodeArgs: [
      ...productionNodeFlags(ctx.cfg.repoRoot),
      ...(process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(ctx.cfg.resultsDir, 'profiles')}`] : []),
    ],
  });
}

/**
 * A freshly migrated PGlite data directory as a tarball, cached in the system's temp directory
 * under a hash of the migrations (as test/helpers/database.ts does for the tests): migrating a
 * new PGlite takes many seconds, loading a dump a few.
 */
async function migratedPgliteTemplate(): Promise<Uint8Array<ArrayBuffer>> {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true }).map(String).sort()) {
    if (file.endsWith('.sql') || file.endsWith('.json')) hash.update(file).update(readFileSync(join(MIGRATIONS_FOLDER, file)));
  }
  const dir = join(tmpdir(), 'coproduction-ledger-bench');
  const file = join(dir, `pglite-migrated-${hash.digest('hex').slice(0, 16)}.tar`);
  if (existsSync(file)) return new Uint8Array(readFileSync(file));
  const database = await openDatabase({ kind: 'pglite', dataDir: 'memory://' });
  await database.migrate();
  const dump = new Uint8Array(await (await database.pglite!.dumpDataDir('none')).arrayBuffer());
  await database.close();
  mkdirSync(dir, { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, dump);
  renameSync(partial, file);
  return dump;
}

/** Runs one scenario; an exception becomes an ERROR row (with the server's last lines in the details). */
async function scenario(ctx: Context, id: string, title: string, server: ServerHandle | null, fn: () => Promise<void>) {
  const n = Number(id.replace(/\D.*$/, ''));
  if (!ctx.cfg.only.has(n)) return;
  log(`scenario ${id}: ${title}`);
  try {
    await fn();
    if (server) {
      // The service's memory after each scenario, to see which one raised the peak.
      const status = readProcStatus(server.pid);
      const memory = (ctx.details.memoryAfterScenario ??= []) as unknown[];
      if (status) memory.push({ scenario: `${id}: ${title}`, rssMb: round(status.rss / MB, 1), vmHwmMb: round(status.hwm / MB, 1) });
    }
  } catch (error) {
    log(`scenario ${id} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    ctx.rows.push(errorRow(id, title, error));
    ctx.details[`error_${id}`] = { message: String(error instanceof Error ? error.message : error), serverTail: server?.tail() };
  }
}

const dbNameOf = (cfg: BenchConfig) => new URL(cfg.databaseUrl).pathname.slice(1);

const contributorIdsOf = async (sql: Sql, organisationId: string): Promise<string[]> =>
  (await sql.query<{ id: string }>(`select id from contributors where organisation_id = $1 order by name`, [organisationId])).rows.map((r) => r.id);

/** The many-contributor flow: contributor i charges budget i mod B. */
function manyContributors(client: HttpClient, headers: Record<string, string>, ids: string[], budgets: string[], keyPrefix: string): FlowTarget {
  return {
    client,
    headers,
    keyPrefix,
    pick: () => {
      const i = Math.floor(Math.random() * ids.length);
      return { contributorId: ids[i]!, budgetId: budgets[i % budgets.length]! };
    },
  };
}

function flowSummary(r: FlowResult) {
  return `${r.approvals} approvals in ${r.elapsedS} s; approve p50 ${r.approve.latencyMs.p50} ms p99 ${r.approve.latencyMs.p99} ms; submit p99 ${r.submit.latencyMs.p99} ms; errors ${r.errors}`;
}

async function main() {
  const cfg = loadBenchConfig();
  mkdirSync(cfg.resultsDir, { recursive: true });
  log('building the service (npm run build)');
  execFileSync(process.execPath, ['--import', 'tsx', join(cfg.repoRoot, 'scripts', 'build.ts')], { cwd: cfg.repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  log(`benchmark, scale ${cfg.scale}: ${cfg.connections} connections, ${cfg.durationMs / 1000} s phases, ${cpus().length} CPUs`);

  const admin = new pg.Pool({ connectionString: cfg.adminUrl, max: 1 });
  try {
    await admin.query('select 1');
  } catch (error) {
    throw new HarnessError(
      `PostgreSQL does not answer at ${cfg.adminUrl} (${String(error)}). Start it, e.g. pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  }
  const dbName = new URL(cfg.databaseUrl).pathname.slice(1);
  await admin.query(`drop database if exists "${dbName}" with (force)`);
  await admin.query(`create database "${dbName}"`);
  const database = await openDatabase({ kind: 'postgres', url: cfg.databaseUrl, poolSize: 4 });
  await database.migrate();
  const serverVersion = (await admin.query<{ v: string }>(`select current_setting('server_version') as v`)).rows[0]!.v;
  const pgSettings = Object.fromEntries(
    (
      await admin.query<{ name: string; setting: string; unit: string | null }>(
        `select name, setting, unit from pg_settings where name in ('shared_buffers','work_mem','synchronous_commit','fsync','max_connections','effective_cache_size')`,
      )
    ).rows.map((r) => [r.name, r.unit ? `${r.setting} × ${r.unit}` : r.setting]),
  );

  const double = await startStripeDouble({ rateLimitPerSecond: cfg.stripeRateLimit });
  const ctx: Context = {
    cfg,
    runTag: Date.now().toString(36),
    jwtSecret: randomBytes(32).toString('base64url'),
    admin,
    database,
    sql: pgSql(database.pool!),
    double,
    rows: [],
    details: {},
    notes: [],
  };

  let pgServer: ServerHandle | null = null;
  try {
    await runAll(ctx, (s) => (pgServer = s));
  } finally {
    const server = pgServer as ServerHandle | null;
    if (server) await server.stop().catch(() => {});
    await double.close().catch(() => {});
    await database.close().catch(() => {});
    await admin.query(`drop database if exists "${cfg.pgbenchDatabase}" with (force)`).catch(() => {});
    if (!cfg.keepDatabase) await admin.query(`drop database if exists "${dbName}" with (force)`).catch(() => {});
    await admin.end().catch(() => {});
  }

  const table = renderTable(ctx.rows);
  console.log(`\nBenchmark results (scale ${cfg.scale}, ${cpus().length} CPUs, PostgreSQL ${serverVersion}, Node ${process.version}, ${Math.round((Date.now() - startedAt) / 1000)} s)\n`);
  console.log(table);
  const where = whereTheTimeGoes(ctx.details);
  if (where.length) console.log(`\nWhere the time goes:\n${where.map((l) => `  ${l}`).join('\n')}`);
  if (ctx.notes.length) console.log(`\n${ctx.notes.map((n) => `- ${n}`).join('\n')}`);
  const file = join(cfg.resultsDir, 'latest.json');
  const report = {
    startedAt: new Date(startedAt).toISOString(),
    durationS: Math.round((Date.now() - startedAt) / 1000),
    scale: cfg.scale,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryMb: Math.round(totalmem() / MB), node: process.version, postgres: serverVersion, pgSettings },
    config: { ...cfg, only: [...cfg.only] },
    rows: ctx.rows,
    notes: ctx.notes,
    where,
    details: ctx.details,
  };
  writeJson(file, report);
  // Also kept per scale, so a quick run does not hide the last full one.
  writeJson(join(cfg.resultsDir, `${cfg.scale}.json`), report);
  for (const name of ['latest', cfg.scale]) writeFileSync(join(cfg.resultsDir, `${name}.md`), renderMarkdown(report));
  console.log(`\nDetails: ${file}`);
  const errors = ctx.rows.filter((r) => r.verdict === 'ERROR').length;
  process.exitCode = errors ? 1 : 0;
}

/** A few lines from the details that explain the table (CPU, WAL and statements per operation). */
function whereTheTimeGoes(details: Record<string, any>): string[] {
  const lines: string[] = [];
  const probes: { name: string; probe: any }[] = [];
  const pg = details.pgbench?.probe;
  for (const [name, key] of [
    ['scenario 1', 'scenario1'],
    ['scenario 2', 'scenario2'],
    ['scenario 8 (more contributors)', 'scenario8Approvals'],
    ['scenario 6 (PGlite)', 'scenario6'],
  ] as const) {
    const w = details[key]?.whereTheTimeGoes;
    if (!w) continue;
    probes.push({ name, probe: w });
    lines.push(
      `${name}: per approval ${w.perOperation.serviceCpuMs} ms service CPU, ${w.perOperation.postgresCpuMs} ms PostgreSQL CPU, ${w.perOperation.loadGeneratorCpuMs} ms load generator; ` +
        `${w.perOperation.walBytes} B WAL, ${w.perOperation.commits} commits; busy cores: service ${w.cores.service}, PostgreSQL ${w.cores.postgres}, other processes ${round(w.cores.otherProcesses + w.cores.otherDatabases)}`,
    );
  }
  const r = details.scenario3?.whereTheTimeGoes;
  if (r) {
    probes.push({ name: 'scenario 3', probe: r });
    lines.push(`scenario 3: per read ${r.perOperation.serviceCpuMs} ms service CPU, ${r.perOperation.postgresCpuMs} ms PostgreSQL CPU, ${r.perOperation.loadGeneratorCpuMs} ms load generator; busy cores: service ${r.cores.service}, PostgreSQL ${r.cores.postgres}, other processes ${round(r.cores.otherProcesses + r.cores.otherDatabases)}`);
  }
  if (pg) {
    probes.push({ name: 'pgbench', probe: pg });
    lines.push(`pgbench: per transaction ${pg.perOperation.postgresCpuMs} ms PostgreSQL CPU, ${pg.perOperation.walBytes} B WAL; busy cores: PostgreSQL ${pg.cores.postgres}, pgbench itself and other processes ${round(pg.cores.otherProcesses + pg.cores.otherDatabases)}`);
  }
  const s = details.statementsPerRequest;
  if (s) {
    lines.push(
      `database round trips: submit ${s.submitWithKey.roundTrips}, approve ${s.approveWithKey.roundTrips} with an Idempotency-Key (${s.submitWithoutKey.roundTrips} and ${s.approveWithoutKey.roundTrips} without); statements in details.statementsPerRequest`,
    );
  }
  if (details.serviceHealthz && details.constantRoute) {
    lines.push(`GET /healthz of the service: ${details.serviceHealthz.rps} req/s, against ${details.constantRoute.rps} for a bare Fastify route (the service's hooks and plugins on a route that does nothing)`);
  }
  const steps = details.scenario4?.steps as any[] | undefined;
  if (steps?.length) {
    const last = steps[steps.length - 1];
    lines.push(`distribution report at ${last.entries.toLocaleString('en-GB')} entries: EXPLAIN ANALYZE ${last.explain.executionMs} ms; heaviest nodes: ${last.explain.topNodes.slice(0, 3).join('; ')} (plan in ${last.explain.file.replace(/^.*\/bench\//, 'bench/')})`);
  }
  const p = details.scenario5;
  if (p) lines.push(`payouts: ${p.paid}/${p.items} paid at ${p.itemsPerSecond}/s with ${p.payoutWorkers} workers, ${p.stripeRequests} Stripe requests, ${p.stripe429s} answered 429; ${p.runs} run(s)`);
  const other = probes.map((x) => x.probe.cores.otherProcesses + x.probe.cores.otherDatabases);
  const mean = other.length ? other.reduce((a, b) => a + b, 0) / other.length : 0;
  if (mean > 0.25) {
    lines.push(
      `NOTE: other processes on this machine used ${mean.toFixed(2)} cores on average during the measured phases: the figures are lower than an idle machine would give, and vary from run to run.`,
    );
  }
  return lines;
}

async function runAll(ctx: Context, onServer: (server: ServerHandle) => void) {
  const { cfg, rows, details, sql } = ctx;

  // ---- baselines --------------------------------------------------------------------------
  log('baseline: constant Fastify route (the HTTP ceiling)');
  const constant = await constantRouteBaseline(cfg);
  details.constantRoute = constant;
  log(`  ${constant.rps} req/s, p99 ${constant.latencyMs.p99} ms`);
  log('baseline: pgbench TPC-B-like (the durable-write ceiling)');
  let pgbench: PgbenchResult | null = null;
  try {
    pgbench = await pgbenchBaseline(cfg, ctx.admin);
  } catch (error) {
    ctx.notes.push(`pgbench failed, so the ratios against it are skipped: ${String(error).slice(0, 300)}`);
  }
  if (pgbench) {
    details.pgbench = pgbench;
    log(`  ${pgbench.tps} TPS at ${pgbench.clients} clients (scale ${pgbench.scale})`);
  } else if (!ctx.notes.some((n) => n.startsWith('pgbench failed'))) {
    ctx.notes.push('pgbench is not installed here: the targets stated against it (scenarios 1 and 2) are SKIP.');
  }
  const tps = pgbench?.tps ?? null;

  // ---- the service on PostgreSQL ----------------------------------------------------------
  const orgA = await createBenchOrg(ctx.database.db, 'approvals', ctx.runTag);
  const orgR = await createBenchOrg(ctx.database.db, 'report', ctx.runTag);
  const orgP = await createBenchOrg(ctx.database.db, 'payouts', ctx.runTag);
  log('starting the service on PostgreSQL');
  const server = await startService(ctx, 'service-postgres', { DATABASE_URL: cfg.databaseUrl });
  onServer(server);
  const client = new HttpClient(server.url, 1024);
  const tokensA = await loginAll(client, orgA);

  const healthz = summarise(await autocannonRun({ url: `${server.url}/healthz`, connections: cfg.connections, duration: Math.max(2, cfg.warmupMs / 1000) }));
  details.serviceHealthz = { ...healthz, note: 'GET /healthz of the service itself: the framework and plugin overhead on a route with no work' };

  const fundingA = await setupFunding(client, tokensA.finance, cfg.budgets, 100_000_000_000);
  await insertContributors(sql, { organisationId: orgA.organisationId, from: 0, to: cfg.contributors, budgetIds: fundingA.budgetIds, mix: 'lived', method: 'bank', buckets: [] });
  let idsA = await contributorIdsOf(sql, orgA.organisationId);
  let peak1: FlowResult | null = null;

  await scenario(ctx, '1', `submit + approve across ${cfg.contributors.toLocaleString('en-GB')} contributors`, server, async () => {
    const target = (prefix: string) => manyContributors(client, tokensA.coordinator, idsA, fundingA.budgetIds, `${ctx.runTag}-${prefix}`);
    await approvalPeak(target('warm1'), cfg.connections, cfg.warmupMs);
    const probe = await startProbe(sql, server.pid, [dbNameOf(cfg)]);
    const peak = await approvalPeak(target('peak1'), cfg.connections, cfg.durationMs);
    const where = await probe.end(peak.approvals);
    peak1 = peak;
    log(`  peak: ${peak.approvalsPerSecond}/s — ${flowSummary(peak)}`);
    const rate = Math.max(1, peak.approvalsPerSecond * 0.7);
    const paced = await approvalPaced(target('paced1'), rate, cfg.durationMs, cfg.connections * 8);
    log(`  paced at ${paced.targetRate}/s: ${flowSummary(paced)}; p99 of all requests ${paced.p99AllMs} ms; skipped ${paced.skipped}`);
    details.scenario1 = { contributors: idsA.length, budgets: fundingA.budgetIds.length, peak, paced, whereTheTimeGoes: where, pgbenchPerTransaction: pgbench?.probe.perOperation };
    rows.push(
      ratioRow({ id: '1', scenario: 'approvals/s, many contributors', measured: peak.approvalsPerSecond, unit: '/s', baseline: tps, baselineLabel: 'pgbench TPS', target: '≥ 0.4 × pgbench', minRatio: 0.4 }),
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
        note: peak.errors + paced.errors ? [...peak.submit.errorSamples, ...peak.approve.errorSamples, ...paced.submit.errorSamples, ...paced.approve.errorSamples][0] : undefined,
      }),
    );
  });

  await scenario(ctx, '1', 'statements per approval (diagnostic)', server, async () => {
    const statements = await countApprovalStatements({
      databaseUrl: cfg.databaseUrl,
      jwtSecret: ctx.jwtSecret,
      org: orgA,
      contributorId: idsA[0]!,
      budgetId: fundingA.budgetIds[0]!,
    });
    details.statementsPerRequest = statements;
    log(
      `  round trips: submit ${statements.submitWithKey.roundTrips} (${statements.submitWithoutKey.roundTrips} without key), approve ${statements.approveWithKey.roundTrips} (${statements.approveWithoutKey.roundTrips} without key)`,
    );
  });

  await scenario(ctx, '2', 'submit + approve on one hot budget', server, async () => {
    const hot = await postExpect(client, tokensA.finance, '/v1/budgets', {
      projectId: fundingA.projectId,
      name: 'Hot budget',
      funder: 'Benchmark',
      grantReference: 'HOT-1',
      currency: 'GBP',
      amount: 100_000_000_000,
      startsOn: '2026-01-01',
      endsOn: '2026-12-31',
      rateCardId: fundingA.rateCardId,
    });
    const target = (prefix: string): FlowTarget => ({
      client,
      headers: tokensA.coordinator,
      keyPrefix: `${ctx.runTag}-${prefix}`,
      pick: () => ({ contributorId: idsA[Math.floor(Math.random() * idsA.length)]!, budgetId: hot.id }),
    });
    await approvalPeak(target('warm2'), cfg.connections, cfg.warmupMs);
    const probe = await startProbe(sql, server.pid, [dbNameOf(cfg)]);
    const peak = await approvalPeak(target('peak2'), cfg.connections, cfg.durationMs);
    const where = await probe.end(peak.approvals);
    log(`  peak: ${peak.approvalsPerSecond}/s — ${flowSummary(peak)}`);

    // Overspend: a budget with room for exactly `room` entries, twice as many approvals racing.
    const room = 100;
    const tight = await postExpect(client, tokensA.finance, '/v1/budgets', {
      projectId: fundingA.projectId,
      name: 'Tight budget',
      funder: 'Benchmark',
      grantReference: 'TIGHT-1',
      currency: 'GBP',
      amount: room * 2000,
      startsOn: '2026-01-01',
      endsOn: '2026-12-31',
      rateCardId: fundingA.rateCardId,
    });
    const entryIds: string[] = [];
    for (let i = 0; i < room * 2; i++) {
      const entry = await postExpect(client, tokensA.coordinator, '/v1/time-entries', {
        contributorId: idsA[i % idsA.length],
        budgetId: tight.id,
        activity: 'meeting',
        date: '2026-05-05',
        minutes: 60,
      });
      entryIds.push(entry.id);
    }
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: cfg.connections }, async () => {
        while (next < entryIds.length) {
          const id = entryIds[next++]!;
          const res = await client.request('POST', `/v1/time-entries/${id}/approve`, { headers: { ...tokensA.coordinator, 'idempotency-key': `${ctx.runTag}-tight-${id}` } });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }
      }),
    );
    const budget = JSON.parse((await client.request('GET', `/v1/budgets/${tight.id}`, { headers: tokensA.finance })).body) as { available: number; committed: number; amount: number };
    const ledger = await checkLedger(sql, orgA.organisationId);
    const overspent = budget.available < 0 || budget.committed > budget.amount || (statuses.get(200) ?? 0) > room;
    const race = { room, approvals: entryIds.length, statuses: Object.fromEntries(statuses), budget, ledger };
    log(`  overspend race: ${JSON.stringify(race.statuses)}; available ${budget.available}, committed ${budget.committed} of ${budget.amount}`);
    details.scenario2 = { peak, whereTheTimeGoes: where, overspendRace: race };
    const fiveHundreds = peak.fiveHundreds + [...statuses].filter(([s]) => s >= 500 || s === 0).reduce((n, [, c]) => n + c, 0);
    rows.push(
      ratioRow({ id: '2', scenario: 'approvals/s, one hot budget', measured: peak.approvalsPerSecond, unit: '/s', baseline: tps, baselineLabel: 'pgbench TPS', target: '≥ 0.25 × pgbench', minRatio: 0.25 }),
      absoluteRow({
        id: '2',
        scenario: `5xx, overspend (race: ${room * 2} approvals for ${room})`,
        measured: fiveHundreds,
        unit: '× 5xx',
        target: '0 5xx, no overspend',
        ok: fiveHundreds === 0 && !overspent && ledger.unbalancedTransactions === 0 && ledger.cachedBalanceMismatches === 0 && ledger.trialBalance === 0,
        note: overspent
          ? `OVERSPENT: ${JSON.stringify(race.statuses)}, available ${budget.available}`
          : peak.errors
            ? `${peak.errors} non-2xx in the hot-budget run: ${[...peak.submit.errorSamples, ...peak.approve.errorSamples][0] ?? ''}`
            : undefined,
      }),
    );
  });

  await scenario(ctx, '3', 'reads: balance and statement', server, async () => {
    let k = Math.floor(Math.random() * idsA.length);
    const pick = () => idsA[(k = (k + 7919) % idsA.length)]!;
    const options = {
      url: server.url,
      connections: cfg.connections,
      headers: tokensA.coordinator,
      requests: [
        { method: 'GET' as const, setupRequest: (req: autocannon.Request) => ({ ...req, path: `/v1/contributors/${pick()}/balance` }) },
        { method: 'GET' as const, setupRequest: (req: autocannon.Request) => ({ ...req, path: `/v1/contributors/${pick()}/statement?from=2026-01-01&to=2026-12-31` }) },
      ],
    };
    await autocannonRun({ ...options, duration: cfg.warmupMs / 1000 });
    const probe = await startProbe(sql, server.pid, [dbNameOf(cfg)]);
    const result = await autocannonRun({ ...options, duration: cfg.durationMs / 1000 });
    const reads: AutocannonSummary = summarise(result);
    const where = await probe.end(result['2xx']);
    const { rows: perContributor } = await sql.query<{ n: string }>(
      `select round(avg(n))::int as n from (select count(*) as n from time_entries where organisation_id = $1 group by contributor_id) x`,
      [orgA.organisationId],
    );
    details.scenario3 = { ...reads, entriesPerContributor: Number(perContributor[0]?.n ?? 0), whereTheTimeGoes: where };
    log(`  ${reads.rps} req/s, p99 ${reads.latencyMs.p99} ms, non-2xx ${reads.non2xx}`);
    rows.push(
      ratioRow({
        id: '3',
        scenario: 'reads/s (balance + statement)',
        measured: reads.rps,
        unit: '/s',
        baseline: constant.rps,
        baselineLabel: 'constant rps',
        target: '≥ 0.25 × constant',
        minRatio: 0.25,
        extraOk: reads.non2xx === 0 && reads.errors === 0,
        note: reads.non2xx || reads.errors ? `${reads.non2xx} non-2xx, ${reads.errors} errors` : undefined,
      }),
    );
  });

  // Scenario 8b runs here, before the bulk report data exists, so the only difference from
  // scenario 1 is the number of contributors.
  await scenario(ctx, '8', `approvals with ${cfg.growthContributors.toLocaleString('en-GB')} contributors`, server, async () => {
    if (!peak1) throw new Error('needs scenario 1 (the same flow with fewer contributors) to compare with');
    const first = peak1 as FlowResult;
    const seedStarted = Date.now();
    // Each added contributor comes with the owed account an earlier approval opened, as scenario
    // 1's contributors have theirs from its warm-up: both runs then measure approvals of people
    // who have been paid before, and only the number of them differs. (A contributor's first
    // approval also opens that account, one insert more, whatever the number of contributors.)
    await insertContributors(sql, { organisationId: orgA.organisationId, from: cfg.contributors, to: cfg.growthContributors, budgetIds: fundingA.budgetIds, mix: 'lived', method: 'bank', buckets: ['owed'] });
    await sql.query('analyze contributors, ledger_accounts');
    idsA = await contributorIdsOf(sql, orgA.organisationId);
    log(`  ${idsA.length.toLocaleString('en-GB')} contributors after ${Math.round((Date.now() - seedStarted) / 1000)} s of seeding`);
    const target = (prefix: string) => manyContributors(client, tokensA.coordinator, idsA, fundingA.budgetIds, `${ctx.runTag}-${prefix}`);
    await approvalPeak(target('warm8'), cfg.connections, cfg.warmupMs);
    const probe = await startProbe(sql, server.pid, [dbNameOf(cfg)]);
    const peak = await approvalPeak(target('peak8'), cfg.connections, cfg.durationMs);
    const where = await probe.end(peak.approvals);
    log(`  peak: ${peak.approvalsPerSecond}/s — ${flowSummary(peak)}`);
    const growth = peak.approve.latencyMs.p50 / first.approve.latencyMs.p50;
    details.scenario8Approvals = {
      contributors: [cfg.contributors, idsA.length],
      approvalsPerSecond: [first.approvalsPerSecond, peak.approvalsPerSecond],
      approveP50Ms: [first.approve.latencyMs.p50, peak.approve.latencyMs.p50],
      approveMeanMs: [first.approve.latencyMs.mean, peak.approve.latencyMs.mean],
      peak,
      whereTheTimeGoes: where,
    };
    rows.push(
      absoluteRow({
        id: '8',
        scenario: `approval time, ${(idsA.length / cfg.contributors).toFixed(0)}× contributors`,
        measured: round(growth, 3),
        unit: '×',
        baseline: null,
        target: '≤ 1.2× (flat)',
        ok: growth <= 1.2 && peak.errors === 0,
        note: `approve p50 ${first.approve.latencyMs.p50} → ${peak.approve.latencyMs.p50} ms; approvals/s ${first.approvalsPerSecond} → ${peak.approvalsPerSecond}${peak.errors ? `; ${peak.errors} errors` : ''}`,
      }),
    );
  });

  // ---- scenario 4 (and 8a): the distribution report over bulk data -------------------------
  const reportTimings: { entries: number; timing: ReportTiming }[] = [];
  await scenario(ctx, '4', `distribution report over ${cfg.reportEntries.map((n) => n.toLocaleString('en-GB')).join(' and ')} entries`, server, async () => {
    const tokensR = await loginAll(client, orgR);
    const fundingR = await setupFunding(client, tokensR.finance, 10, 1_000_000_000_000);
    await insertContributors(sql, {
      organisationId: orgR.organisationId,
      from: 0,
      to: cfg.reportContributors,
      budgetIds: fundingR.budgetIds,
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
        organisationId: orgR.organisationId,
        from: seeded,
        to: entries,
        contributors: cfg.reportContributors,
        budgetIds: fundingR.budgetIds,
        rateCardVersionId: fundingR.rateCardVersionId,
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
      await payHalfOwed(sql, orgR.organisationId, step + 1);
      const insertS = (Date.now() - t0) / 1000;
      await vacuumAnalyze(sql);
      const ledger = await checkLedger(sql, orgR.organisationId);
      const counts = (
        await sql.query<{ entries: string; postings: string; transactions: string }>(
          `select (select count(*) from time_entries where organisation_id = $1) as entries,
                  (select count(*) from ledger_postings where organisation_id = $1) as postings,
                  (select count(*) from ledger_transactions where organisation_id = $1) as transactions`,
          [orgR.organisationId],
        )
      ).rows[0]!;
      seeded = entries;
      log(`  ${Number(counts.entries).toLocaleString('en-GB')} entries, ${Number(counts.postings).toLocaleString('en-GB')} postings seeded in ${insertS.toFixed(0)} s (+ vacuum/analyze ${((Date.now() - t0) / 1000 - insertS).toFixed(0)} s); ledger ${JSON.stringify(ledger)}`);
      if (ledger.unbalancedTransactions || ledger.cachedBalanceMismatches || ledger.trialBalance) throw new Error(`bulk seed broke a ledger invariant: ${JSON.stringify(ledger)}`);
      const timing = await timeReport(client, tokensR.reporter, '/v1/reports/distribution?currency=GBP', cfg.reportSamples);
      const explain = await explainDistribution(ctx.database.pool!, orgR.organisationId, join(cfg.resultsDir, `explain-distribution-${entries}.txt`));
      log(`  report at ${entries.toLocaleString('en-GB')} entries: p50 ${timing.p50Ms} ms, p95 ${timing.p95Ms} ms; EXPLAIN ANALYZE ${explain.executionMs} ms`);
      reportTimings.push({ entries, timing });
      seeding.push({ entries, counts: { entries: Number(counts.entries), postings: Number(counts.postings), transactions: Number(counts.transactions) }, seedSeconds: round(insertS, 1), ledger, timing, explain });
      if (timing.errors.length) throw new Error(`the report answered errors: ${timing.errors[0]}`);
    }
    details.scenario4 = { contributors: cfg.reportContributors, steps: seeding };
    const last = reportTimings[reportTimings.length - 1]!;
    rows.push(
      absoluteRow({
        id: '4',
        scenario: `distribution report p95, ${last.entries.toLocaleString('en-GB')} entries`,
        measured: last.timing.p95Ms,
        unit: 'ms',
        target: '< 500 ms',
        ok: last.timing.p95Ms < 500,
      }),
    );
  });
  if (cfg.only.has(8) && reportTimings.length >= 2) {
    const a = reportTimings[0]!;
    const b = reportTimings[reportTimings.length - 1]!;
    const dataRatio = b.entries / a.entries;
    const timeRatio = b.timing.p50Ms / a.timing.p50Ms;
    rows.push(
      absoluteRow({
        id: '8',
        scenario: `report time growth, ${dataRatio}× entries`,
        measured: round(timeRatio / dataRatio, 3),
        unit: '× data',
        target: '≤ 1 (time grows ≤ data)',
        ok: timeRatio <= dataRatio,
        note: `report p50 ${a.timing.p50Ms} ms at ${a.entries.toLocaleString('en-GB')} → ${b.timing.p50Ms} ms at ${b.entries.toLocaleString('en-GB')} (time ×${timeRatio.toFixed(2)} for data ×${dataRatio})`,
      }),
    );
  }

  // ---- scenario 5: a payout run against the Stripe double ----------------------------------
  await scenario(ctx, '5', `payout run of ${cfg.payoutItems.toLocaleString('en-GB')} Stripe items`, server, async () => {
    const tokensP = await loginAll(client, orgP);
    const fundingP = await setupFunding(client, tokensP.finance, 1, 1_000_000_000_000);
    await insertContributors(sql, { organisationId: orgP.organisationId, from: 0, to: cfg.payoutItems, budgetIds: fundingP.budgetIds, mix: 'lived', method: 'stripe', buckets: ['owed'] });
    await insertEntries(sql, {
      organisationId: orgP.organisationId,
      from: 0,
      to: cfg.payoutItems,
      contributors: cfg.payoutItems,
      budgetIds: fundingP.budgetIds,
      rateCardVersionId: fundingP.rateCardVersionId,
      mix: 'lived',
      method: 'stripe',
      statusMix: false,
    });
    for (const id of await stripeAccountIds(sql, orgP.organisationId)) ctx.double.createAccount({ id, active: true });
    await sql.query('analyze');
    ctx.double.reset();
    const result = await payoutRun({
      client,
      drafter: tokensP.finance,
      approver: tokensP.finance2,
      sql,
      organisationId: orgP.organisationId,
      budgetId: fundingP.budgetIds[0]!,
      double: ctx.double,
      timeoutMs: cfg.payoutTimeoutMs,
      log,
    });
    const ledger = await checkLedger(sql, orgP.organisationId);
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

  // ---- scenario 7 (PostgreSQL server) -------------------------------------------------------
  const hwm = server.hwm();
  details.memoryPostgresServer = { vmHwmMb: round(hwm / MB, 1), rssWhenReadyMb: round(server.memory.firstRss / MB, 1), sampledPeakRssMb: round(server.memory.peakRss / MB, 1), samples: server.memory.samples.length };
  await server.stop();
  client.close();
  if (cfg.only.has(7)) {
    rows.push(
      absoluteRow({
        id: '7',
        scenario: 'service peak RSS (VmHWM), PostgreSQL',
        measured: round(hwm / MB, 1),
        unit: 'MB',
        target: '< 300 MB',
        ok: hwm > 0 ? hwm < 300 * MB : null,
        note: `RSS ${round(server.memory.firstRss / MB, 0)} MB when ready`,
      }),
    );
  }

  // ---- scenario 6: scenario 1 on embedded PGlite --------------------------------------------
  if (cfg.pglite && (cfg.only.has(6) || cfg.only.has(7))) {
    await scenario(ctx, '6', 'scenario 1 on embedded PGlite', null, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-pglite-'));
      const dataDir = join(dir, 'pglite');
      let pgliteServer: ServerHandle | null = null;
      try {
        log('  seeding PGlite');
        const embedded = await openDatabase({ kind: 'pglite', dataDir, loadDataDir: new Blob([await migratedPgliteTemplate()]) });
        await embedded.migrate();
        log('  PGlite open and migrated');
        const orgL = await createBenchOrg(embedded.db, 'pglite', ctx.runTag, ['coordinator', 'finance']);
        const pgliteContributors = cfg.contributors;
        await insertContributors(pgliteSql(embedded.pglite!), { organisationId: orgL.organisationId, from: 0, to: pgliteContributors, budgetIds: [], mix: 'lived', method: 'bank', buckets: [] });
        const idsL = (
          await embedded.pglite!.query<{ id: string }>(`select id from contributors where organisation_id = $1 order by name`, [orgL.organisationId])
        ).rows.map((r) => r.id);
        await embedded.close();
        log('  starting the service on PGlite');
        pgliteServer = await startService(ctx, 'service-pglite', { PGLITE_DIR: dataDir });
        log('  service ready; creating budgets');
        const clientL = new HttpClient(pgliteServer.url, 256);
        const tokensL = await loginAll(clientL, orgL);
        const fundingL = await setupFunding(clientL, tokensL.finance, cfg.budgets, 100_000_000_000);
        log('  warming up');
        const target = (prefix: string) => manyContributors(clientL, tokensL.coordinator, idsL, fundingL.budgetIds, `${ctx.runTag}-${prefix}`);
        await approvalPeak(target('warm6'), cfg.connections, cfg.warmupMs);
        const probe = await startProbe(null, pgliteServer.pid, null);
        const peak = await approvalPeak(target('peak6'), cfg.connections, cfg.durationMs);
        const where = await probe.end(peak.approvals);
        log(`  peak: ${peak.approvalsPerSecond}/s — ${flowSummary(peak)}`);
        const hwmL = pgliteServer.hwm();
        details.scenario6 = { contributors: idsL.length, peak, whereTheTimeGoes: where, vmHwmMb: round(hwmL / MB, 1), rssWhenReadyMb: round(pgliteServer.memory.firstRss / MB, 1) };
        clientL.close();
        const base = peak1 ? (peak1 as FlowResult).approvalsPerSecond : null;
        if (cfg.only.has(6)) {
          rows.push(
            ratioRow({
              id: '6',
              scenario: 'approvals/s on PGlite',
              measured: peak.approvalsPerSecond,
              unit: '/s',
              baseline: base,
              baselineLabel: 'scenario 1 /s',
              target: '≥ 0.3 × PostgreSQL',
              minRatio: 0.3,
              extraOk: peak.errors === 0,
              note: peak.errors ? `${peak.errors} errors: ${[...peak.submit.errorSamples, ...peak.approve.errorSamples][0] ?? ''}` : undefined,
            }),
          );
        }
        if (cfg.only.has(7)) {
          rows.push(
            absoluteRow({
              id: '7',
              scenario: 'service peak RSS (VmHWM), PGlite',
              measured: round(hwmL / MB, 1),
              unit: 'MB',
              target: '< 300 MB',
              ok: hwmL > 0 ? hwmL < 300 * MB : null,
              note: `RSS ${round(pgliteServer.memory.firstRss / MB, 0)} MB when ready (the embedded database lives in this process)`,
            }),
          );
        }
      } finally {
        if (pgliteServer) await pgliteServer.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

main().catch((error) => {
  console.error(error instanceof HarnessError ? error.message : error);
  process.exitCode = 2;
  // The exit handler in proc.ts kills any child still running.
  setTimeout(() => process.exit(2), 100).unref();
});
