/**
 * `npm run bench`: how fast the service is and how its cost grows, measured over HTTP against a
 * real running server (a child process) on real PostgreSQL (and on embedded PGlite), every
 * figure stated as a ratio to a baseline measured in the same run on the same machine.
 * See bench/README.md. BENCH_SCALE=small for a quick run.
 *
 * This file reads the configuration, starts what the scenarios share (the database, the Stripe
 * double, the baselines, the service on PostgreSQL and the approvals organisation), runs the
 * scenarios of bench/scenarios/ in order and writes bench/results/<scale>.{json,md}.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase } from '../src/db/client.js';
import { startStripeDouble } from '../tools/stripe-double/index.js';
import { autocannonRun, constantRouteBaseline, pgbenchBaseline, summarise, type PgbenchResult } from './baselines.js';
import { loadBenchConfig } from './config.js';
import { HarnessError, log, MB, startedAt, startService, type BenchRun } from './harness.js';
import { HttpClient } from './load.js';
import { renderMarkdown } from './markdown.js';
import type { ServerHandle } from './proc.js';
import { startProbe } from './probe.js';
import { createBenchOrg, insertContributors, loginAll, pgSql, setupFunding } from './seed.js';
import { renderTable, writeJson } from './table.js';
import { whereTheTimeGoes } from './where.js';
import { approvalsAcrossContributors } from './scenarios/01-approvals.js';
import { statementsPerApproval } from './scenarios/01-statements-per-approval.js';
import { hotBudget } from './scenarios/02-hot-budget.js';
import { balanceAndStatementReads } from './scenarios/03-reads.js';
import { distributionReportOverBulkData } from './scenarios/04-distribution-report.js';
import { payoutRunThroughStripe } from './scenarios/05-payout-run.js';
import { approvalsOnPglite } from './scenarios/06-pglite-approvals.js';
import { postgresServiceMemory } from './scenarios/07-service-memory.js';
import { approvalsWithMoreContributors } from './scenarios/08-approval-growth.js';
import { reportGrowth } from './scenarios/08-report-growth.js';
import { contributorIdsOf, type ApprovalsOrg, type Baselines, type Measured } from './scenarios/shared.js';

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
  const run: BenchRun = {
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
    await runAll(run, (s) => (pgServer = s));
  } finally {
    const server = pgServer as ServerHandle | null;
    if (server) await server.stop().catch(() => {});
    await double.close().catch(() => {});
    await database.close().catch(() => {});
    await admin.query(`drop database if exists "${cfg.pgbenchDatabase}" with (force)`).catch(() => {});
    if (!cfg.keepDatabase) await admin.query(`drop database if exists "${dbName}" with (force)`).catch(() => {});
    await admin.end().catch(() => {});
  }

  const table = renderTable(run.rows);
  console.log(`\nBenchmark results (scale ${cfg.scale}, ${cpus().length} CPUs, PostgreSQL ${serverVersion}, Node ${process.version}, ${Math.round((Date.now() - startedAt) / 1000)} s)\n`);
  console.log(table);
  const where = whereTheTimeGoes(run.details);
  if (where.length) console.log(`\nWhere the time goes:\n${where.map((l) => `  ${l}`).join('\n')}`);
  if (run.notes.length) console.log(`\n${run.notes.map((n) => `- ${n}`).join('\n')}`);
  const report = {
    startedAt: new Date(startedAt).toISOString(),
    durationS: Math.round((Date.now() - startedAt) / 1000),
    scale: cfg.scale,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryMb: Math.round(totalmem() / MB), node: process.version, postgres: serverVersion, pgSettings },
    config: { ...cfg, only: [...cfg.only] },
    rows: run.rows,
    notes: run.notes,
    where,
    details: run.details,
  };
  // One set per scale (full.*, small.*), so a quick run does not hide the last full one.
  const file = join(cfg.resultsDir, `${cfg.scale}.json`);
  writeJson(file, report);
  writeFileSync(join(cfg.resultsDir, `${cfg.scale}.md`), renderMarkdown(report));
  console.log(`\nDetails: ${file}`);
  const errors = run.rows.filter((r) => r.verdict === 'ERROR').length;
  process.exitCode = errors ? 1 : 0;
}

/** The baselines every ratio is stated against, measured before the scenarios. */
async function measureBaselines(run: BenchRun): Promise<Baselines> {
  const { cfg, details, notes } = run;
  log('baseline: constant Fastify route (the HTTP ceiling)');
  const constant = await constantRouteBaseline(cfg);
  details.constantRoute = constant;
  log(`  ${constant.rps} req/s, p99 ${constant.latencyMs.p99} ms`);
  log('baseline: pgbench TPC-B-like (the durable-write ceiling)');
  let pgbench: PgbenchResult | null = null;
  try {
    pgbench = await pgbenchBaseline(cfg, run.admin);
  } catch (error) {
    notes.push(`pgbench failed, so the ratios against it are skipped: ${String(error).slice(0, 300)}`);
  }
  if (pgbench) {
    details.pgbench = pgbench;
    log(`  ${pgbench.tps} TPS at ${pgbench.clients} clients (scale ${pgbench.scale})`);
  } else if (!notes.some((n) => n.startsWith('pgbench failed'))) {
    notes.push('pgbench is not installed here: the targets stated against it (scenarios 1 and 2) are SKIP.');
  }
  return { constant, pgbench, healthz: null };
}

/** The baselines, the service on PostgreSQL and what the scenarios share, then the scenarios in the order they run. */
async function runAll(run: BenchRun, onServer: (server: ServerHandle) => void) {
  const { cfg, details, sql } = run;
  const baselines = await measureBaselines(run);

  // ---- the service on PostgreSQL, and the approvals organisation of scenarios 1, 2, 3 and 8 --
  const orgA = await createBenchOrg(run.database.db, 'approvals', run.runTag);
  const orgR = await createBenchOrg(run.database.db, 'report', run.runTag);
  const orgP = await createBenchOrg(run.database.db, 'payouts', run.runTag);
  log('starting the service on PostgreSQL');
  const server = await startService(run, 'service-postgres', { DATABASE_URL: cfg.databaseUrl });
  onServer(server);
  const client = new HttpClient(server.url, 1024);
  const service = { server, client };
  const tokensA = await loginAll(client, orgA);

  // The service's own /healthz, measured as the constant route is (a warm-up, then a measured
  // phase with the service's CPU per request): the baseline of scenario 1's service CPU and of
  // scenario 3's reads.
  const healthzUrl = `${server.url}/healthz`;
  await autocannonRun({ url: healthzUrl, connections: cfg.connections, duration: cfg.warmupMs / 1000 });
  const healthzProbe = await startProbe(null, server.pid, null);
  const healthzRun = await autocannonRun({ url: healthzUrl, connections: cfg.connections, duration: cfg.durationMs / 1000 });
  baselines.healthz = { ...summarise(healthzRun), probe: await healthzProbe.end(healthzRun['2xx']) };
  details.serviceHealthz = { ...baselines.healthz, note: 'GET /healthz of the service itself: the framework and plugin overhead on a route with no work' };
  log(`  service /healthz: ${baselines.healthz.rps} req/s, ${baselines.healthz.probe.perOperation.serviceCpuMs} ms of service CPU a request`);

  const fundingA = await setupFunding(client, tokensA.finance, cfg.budgets, 100_000_000_000);
  await insertContributors(sql, { organisationId: orgA.organisationId, from: 0, to: cfg.contributors, budgetIds: fundingA.budgetIds, mix: 'lived', method: 'bank', buckets: [] });
  const approvals: ApprovalsOrg = { org: orgA, tokens: tokensA, funding: fundingA, contributorIds: await contributorIdsOf(sql, orgA.organisationId) };
  const measured: Measured = { approvalsPeak: null, reportTimings: [] };

  // ---- the scenarios, each skipped unless BENCH_ONLY selects it ------------------------------
  await approvalsAcrossContributors(run, service, approvals, baselines, measured);
  await statementsPerApproval(run, server, approvals);
  await hotBudget(run, service, approvals, baselines);
  await balanceAndStatementReads(run, service, approvals, baselines);
  // Before the report's bulk data exists, so the only difference from scenario 1 is the number
  // of contributors.
  await approvalsWithMoreContributors(run, service, approvals, measured);
  await distributionReportOverBulkData(run, service, orgR, measured);
  reportGrowth(run, measured);
  await payoutRunThroughStripe(run, service, orgP);
  postgresServiceMemory(run, server);
  await server.stop();
  client.close();
  await approvalsOnPglite(run, measured);
}

main().catch((error) => {
  console.error(error instanceof HarnessError ? error.message : error);
  process.exitCode = 2;
  // The exit handler in proc.ts kills any child still running.
  setTimeout(() => process.exit(2), 100).unref();
});
