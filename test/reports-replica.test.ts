/**
 * Reports on a read replica (#21). With REPORTS_DATABASE_URL every report (distribution, budget,
 * project and time-to-pay; JSON and CSV) reads the reports database, and nothing on the money
 * path does: approvals, payouts, balances and statements write and read the primary only.
 *
 * - Embedded (no TEST_DATABASE_URL): the reports database is a copy of the primary (a second
 *   PGlite loaded from its dump) that then holds different data: reports answer what the copy
 *   says, while the money path moves the primary and leaves the copy byte for byte as it was.
 * - PostgreSQL (TEST_DATABASE_URL): a real streaming replica of the primary's cluster, given as
 *   TEST_REPORTS_REPLICA_URL (.ci/run starts one), or else started here with
 *   `bash .ci/run reports-replica up` (as root). With the replica's WAL replay paused, an approval
 *   and a payout go through and the balance shows them, while the reports still answer what the
 *   replica last replayed; resumed, the reports catch up.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import t, { type Test } from 'tap';
import { buildApp } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { openDatabase, queryRows, REPORTS_APPLICATION_NAME, sql, withReportsDatabase, type Database, type Db } from '../src/db/client.js';
import { distributionReport } from '../src/modules/reports/service.js';
import { openConfiguredDatabase } from '../src/runtime.js';
import { createTestOrg, json, TEST_JWT_SECRET, type TestOrg } from './helpers/app.js';
import { testDatabase, usingPostgres } from './helpers/database.js';
import { fundedBudget, owedContributor } from './helpers/fixtures.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const NOW = new Date('2026-05-01T12:00:00Z');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A status assertion's message: the body only when the status is not the one expected. */
const said = (what: string, res: { statusCode: number; body: string }, status: number) => (res.statusCode === status ? what : `${what}: ${res.body}`);

/** The app as the tests build it, on `database` (its `reports` beside it, if any). */
async function appOn(database: Database): Promise<FastifyInstance> {
  const config = loadConfig({ LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, LOGIN_RATE_LIMIT: '100000', REPORT_RATE_LIMIT: '100000', PASSWORD_HASH_MEMORY_KIB: '1024', FAILED_SIGN_IN_MIN_MS: '0' });
  return buildApp({ config, database, jwtSecret: TEST_JWT_SECRET, now: () => NOW, jobs: false, stripe: null, checkDeclaredProblems: true });
}

t.test('REPORTS_DATABASE_URL: PostgreSQL only, beside DATABASE_URL; empty is unset', async (t) => {
  const base = { JWT_SECRET: TEST_JWT_SECRET };
  const config = loadConfig({ ...base, DATABASE_URL: 'postgres://svc@primary/ledger', REPORTS_DATABASE_URL: 'postgres://svc@replica/ledger' });
  t.match(config.database, { kind: 'postgres', url: 'postgres://svc@primary/ledger', reportsUrl: 'postgres://svc@replica/ledger' });
  t.equal((loadConfig({ ...base, DATABASE_URL: 'postgres://svc@primary/ledger', REPORTS_DATABASE_URL: '' }).database as { reportsUrl?: string }).reportsUrl, undefined);
  t.throws(() => loadConfig({ REPORTS_DATABASE_URL: 'postgres://svc@replica/ledger' }), { name: 'ConfigError', message: /REPORTS_DATABASE_URL: needs DATABASE_URL/ });
  t.throws(() => loadConfig({ ...base, DATABASE_URL: 'postgres://svc@primary/ledger', REPORTS_DATABASE_URL: 'mysql://svc@replica/ledger' }), ConfigError);
});

t.test('only the report routes read app.reportsDb', async (t) => {
  const src = join(REPO, 'src');
  const users = readdirSync(src, { recursive: true })
    .map(String)
    .filter((file) => file.endsWith('.ts') && /\breportsDb\b/.test(readFileSync(join(src, file), 'utf8')))
    .sort();
  // app.ts decorates it; nothing outside the reports module may read it (the money path above all).
  t.same(users, ['app.ts', join('modules', 'reports', 'routes.ts')]);
});

/** Row counts and a hash of every row of every table: any insert, update or delete changes it. */
async function fingerprint(db: Db): Promise<Record<string, string>> {
  const tables = await queryRows<{ schema: string; name: string }>(
    db,
    sql`select table_schema as schema, table_name as name from information_schema.tables
        where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema') order by 1, 2`,
  );
  const result: Record<string, string> = {};
  for (const { schema, name } of tables) {
    const table = `"${schema}"."${name}"`;
    const [row] = await queryRows<{ n: string; hash: string }>(
      db,
      sql.raw(`select count(*)::text as n, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as hash from ${table} t`),
    );
    result[table] = `${row!.n} rows, ${row!.hash}`;
  }
  return result;
}

interface Scene {
  org: TestOrg;
  budgetId: string;
  projectId: string;
  contributorId: string;
  /** Alex's second meeting (60 minutes), submitted and not approved. */
  secondEntryId: string;
}

/** An organisation where Alex has 2 approved hours (£40 owed) and one more hour submitted. */
async function scene(app: FastifyInstance): Promise<Scene> {
  const org = await createTestOrg(app, 'Replica reports');
  const { budgetId, projectId } = await fundedBudget(app, org);
  const { contributorId } = await owedContributor(app, org, budgetId, { hours: 2, name: 'Alex Replica' });
  const coordinator = await org.as('coordinator');
  const second = await app.inject({
    method: 'POST',
    url: '/v1/time-entries',
    headers: coordinator,
    payload: { contributorId, budgetId, activity: 'meeting', date: '2026-03-03', minutes: 60 },
  });
  if (second.statusCode !== 201) throw new Error(`time entry → ${second.statusCode}: ${second.body}`);
  return { org, budgetId, projectId, contributorId, secondEntryId: json(second).id };
}

/**
 * The money path, on `app`: the second hour approved, a payout run of everything owed approved
 * and marked paid; the balance and the statement must show all of it at once.
 */
async function moneyPath(t: Test, app: FastifyInstance, s: Scene) {
  const coordinator = await s.org.as('coordinator');
  const finance = await s.org.as('finance');
  const approve = await app.inject({ method: 'POST', url: `/v1/time-entries/${s.secondEntryId}/approve`, headers: coordinator });
  t.equal(approve.statusCode, 200, said('the approval goes through', approve, 200));
  const balance = async () => json(await app.inject({ method: 'GET', url: `/v1/contributors/${s.contributorId}/balance`, headers: finance })).balances[0];
  t.match(await balance(), { currency: 'GBP', owed: 6000, paid: 0 }, 'the balance shows the approval at once');

  const draft = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP', budgetId: s.budgetId } });
  t.equal(draft.statusCode, 201, said('a payout run is drafted', draft, 201));
  const approved = await app.inject({ method: 'POST', url: `/v1/payout-runs/${json(draft).id}/approve`, headers: await s.org.as('finance') });
  t.equal(approved.statusCode, 200, said('and approved', approved, 200));
  const [item] = json(approved).items;
  const paid = await app.inject({ method: 'POST', url: `/v1/payouts/${item.id}/mark-paid`, headers: finance, payload: { reference: 'BACS replica' } });
  t.equal(paid.statusCode, 200, said('its item marked paid', paid, 200));
  t.match(await balance(), { owed: 0, inTransit: 0, paid: 6000 }, 'the balance shows the payment at once');
  const statement = await app.inject({ method: 'GET', url: `/v1/contributors/${s.contributorId}/statement`, headers: finance });
  t.equal(statement.statusCode, 200, said('the statement', statement, 200));
  t.match(json(statement).taxYears, [{ taxYear: '2026-27', earningsPaid: 6000 }], 'the statement shows the payment at once');
}

interface Figures {
  minutes: number;
  paid: number;
  owed: number;
}

/** What every report route (JSON and CSV) says of Alex's work and money; they must agree. */
async function reportFigures(t: Test, app: FastifyInstance, s: Scene): Promise<Figures & { projectName: string }> {
  const reporter = await s.org.as('reporter');
  const get = async (url: string, accept = 'application/json') => {
    const res = await app.inject({ method: 'GET', url, headers: { ...reporter, accept } });
    t.equal(res.statusCode, 200, `${url} (${accept})${res.statusCode === 200 ? '' : `: ${res.body}`}`);
    return res;
  };
  const distribution = json(await get(`/v1/reports/distribution?budgetId=${s.budgetId}`)).groups.livedExperience;
  const grant = json(await get(`/v1/reports/budgets/${s.budgetId}`));
  const grantCsv = (await get(`/v1/reports/budgets/${s.budgetId}`, 'text/csv')).body;
  const project = json(await get(`/v1/reports/projects/${s.projectId}`));
  const projectCsv = (await get(`/v1/reports/projects/${s.projectId}?format=csv`)).body;
  const timeToPay = json(await get(`/v1/reports/time-to-pay?budgetId=${s.budgetId}`));

  const figures = { minutes: distribution.minutes, paid: distribution.paid, owed: grant.owed };
  const lived = (kinds: { kind: string; minutes: number }[]) => kinds.find((k) => k.kind === 'lived_experience')?.minutes ?? 0;
  const [gbp] = project.currencies;
  t.same(
    {
      grant: { minutes: lived(grant.byKind), paid: grant.paid, owed: grant.owed },
      grantCsv: /^kind,lived_experience,lived_experience,(\d+),/m.exec(grantCsv)?.[1],
      project: { minutes: lived(gbp.byKind), paid: gbp.paid, owed: gbp.owed },
      projectCsv: /^kind,GBP,lived_experience,lived_experience,(\d+),/m.exec(projectCsv)?.[1],
      projectCsvName: projectCsv.includes(`project,,${project.project.name},`),
      timeToPayOwed: timeToPay.owedAgeing.reduce((sum: number, bucket: { amount: number }) => sum + bucket.amount, 0),
    },
    {
      grant: figures,
      grantCsv: String(figures.minutes),
      project: figures,
      projectCsv: String(figures.minutes),
      projectCsvName: true,
      timeToPayOwed: figures.owed,
    },
    'every report, JSON and CSV, reads the same database',
  );
  return { ...figures, projectName: project.project.name };
}

/** The distribution report's lived-experience figures straight from a database, through the service. */
async function distributionOn(db: Db, s: Scene): Promise<Pick<Figures, 'minutes' | 'paid'>> {
  const report = await distributionReport(db, s.org.organisationId, { budgetId: s.budgetId, currency: 'GBP' });
  return { minutes: report.groups.livedExperience.minutes, paid: report.groups.livedExperience.paid };
}

if (!usingPostgres()) {
  t.test('embedded: reports answer from the reports database; the money path touches only the primary', async (t) => {
    const primary = await testDatabase();
    const setup = await appOn(primary);
    const s = await scene(setup);
    await setup.close();

    // The reports database: a copy of the primary as it is now, which then holds data of its own.
    const copy = await openDatabase({ kind: 'pglite', dataDir: 'memory://', loadDataDir: await primary.pglite!.dumpDataDir('none') });
    await copy.db.execute(sql`update projects set name = 'Known only to the reports database' where id = ${s.projectId}`);
    const app = await appOn(withReportsDatabase(primary, copy));
    t.teardown(async () => {
      await app.close();
      await primary.close();
      await copy.close();
    });
    t.equal(app.reportsDb, copy.db, 'app.reportsDb is the reports database');
    t.equal(app.db, primary.db, 'app.db is the primary');

    const before = await reportFigures(t, app, s);
    t.same(before, { minutes: 120, paid: 0, owed: 4000, projectName: 'Known only to the reports database' }, 'the reports read the copy (its project name)');

    const copyBefore = await fingerprint(copy.db);
    const primaryBefore = await fingerprint(primary.db);
    await moneyPath(t, app, s);
    t.same(await fingerprint(copy.db), copyBefore, 'the approval, the payout, the balance and the statement left the reports database exactly as it was');
    t.not(JSON.stringify(await fingerprint(primary.db)), JSON.stringify(primaryBefore), 'they wrote to the primary');

    const after = await reportFigures(t, app, s);
    t.same(after, before, 'the reports still answer what the reports database holds');
    t.same(await distributionOn(copy.db, s), { minutes: 120, paid: 0 }, 'which is what the copy says');
    t.same(await distributionOn(primary.db, s), { minutes: 180, paid: 6000 }, 'not what the primary says');

    // Without a reports database, reports read the primary.
    const plain = await appOn(primary);
    t.equal(plain.reportsDb, primary.db);
    t.match(await reportFigures(t, plain, s), { minutes: 180, paid: 6000, owed: 0, projectName: 'Community mental health co-production' });
    await plain.close();
  });
} else {
  t.test('PostgreSQL: reports are served by a streaming replica; approvals never touch it', async (t) => {
    const primary = await testDatabase();
    const replica = await replicaFor(t, process.env.TEST_DATABASE_URL!);
    const observer = new pg.Client({ connectionString: replica.url, application_name: 'reports-replica test observer' });
    observer.on('error', () => {}); // the replica going away at the end must not crash the file
    await observer.connect();
    t.teardown(() => observer.end());
    const observe = async <T = any>(text: string, values: unknown[] = []) => (await observer.query(text, values)).rows[0] as T;

    // It is a replica of this very primary, in recovery, of this database.
    const here = await queryRows<{ system: string; db: string }>(primary.db, sql`select system_identifier::text as system, current_database() as db from pg_control_system()`);
    const there = await observe<{ system: string; db: string; recovering: boolean }>(
      'select system_identifier::text as system, current_database() as db, pg_is_in_recovery() as recovering from pg_control_system()',
    );
    t.same(there, { ...here[0], recovering: true }, `${replica.url} is a hot standby of the primary's cluster, on the same database`);

    const reports = await openDatabase({ kind: 'postgres', url: replica.url, poolSize: 4, readOnly: true, applicationName: REPORTS_APPLICATION_NAME });
    let reportsCheckouts = 0;
    reports.pool!.on('acquire', () => reportsCheckouts++);
    const app = await appOn(withReportsDatabase(primary, reports));
    let paused = false;
    t.teardown(async () => {
      if (paused) await observer.query('select pg_wal_replay_resume()');
      await app.close();
      await reports.close();
      await primary.close();
    });

    /** Waits until the replica has replayed everything the primary has written so far. */
    const caughtUp = async () => {
      const [{ lsn }] = (await queryRows<{ lsn: string }>(primary.db, sql`select pg_current_wal_lsn()::text as lsn`)) as [{ lsn: string }];
      const deadline = Date.now() + 120_000;
      for (;;) {
        const r = await observe<{ done: boolean; at: string }>('select pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1) >= 0 as done, pg_last_wal_replay_lsn()::text as at', [lsn]);
        if (r.done) return;
        if (Date.now() > deadline) throw new Error(`The replica has not replayed up to ${lsn} in 120 s (it is at ${r.at}): is it streaming? See pg_stat_replication on the primary.`);
        await sleep(100);
      }
    };

    const s = await scene(app);
    await caughtUp();
    t.match(await reportFigures(t, app, s), { minutes: 120, paid: 0, owed: 4000 }, 'the replica, caught up, answers what the primary holds');

    await observe('select pg_wal_replay_pause()');
    paused = true;
    while ((await observe<{ state: string }>('select pg_get_wal_replay_pause_state() as state')).state !== 'paused') await sleep(50);

    const checkoutsBefore = reportsCheckouts;
    await moneyPath(t, app, s);
    t.equal(reportsCheckouts, checkoutsBefore, 'the approval, the payout, the balance and the statement took no connection of the reports pool');
    t.same(await distributionOn(primary.db, s), { minutes: 180, paid: 6000 }, 'the primary has the approval and the payment');

    t.match(await reportFigures(t, app, s), { minutes: 120, paid: 0, owed: 4000 }, 'with replay paused, the reports still answer what the replica last replayed');
    t.ok(reportsCheckouts > checkoutsBefore, 'the reports went through the reports pool');
    const clients = await observe<{ names: string[] }>(
      `select coalesce(array_agg(distinct application_name order by application_name), '{}') as names from pg_stat_activity
       where backend_type = 'client backend' and datname = current_database() and pid <> pg_backend_pid()`,
    );
    t.same(clients.names, [REPORTS_APPLICATION_NAME], "the replica's only other clients are the reports pool's");
    await t.rejects(
      reports.db.execute(sql`update organisations set name = name where id = ${s.org.organisationId}`),
      { cause: { code: '25006' } },
      'the replica takes no writes',
    );

    await observe('select pg_wal_replay_resume()');
    paused = false;
    await caughtUp();
    t.match(await reportFigures(t, app, s), { minutes: 180, paid: 6000, owed: 0 }, 'resumed, the replica catches up and the reports with it');
  });

  t.test('PostgreSQL: the configured reports pool is read-only, connects on first use, and closes with the primary', async (t) => {
    const url = process.env.TEST_DATABASE_URL!;
    // Pointed at the primary itself (a pool of its own for reports), writes are still refused.
    const config = loadConfig({ DATABASE_URL: url, REPORTS_DATABASE_URL: url, JWT_SECRET: TEST_JWT_SECRET, DB_POOL_SIZE: '2' });
    const database = await openConfiguredDatabase(config);
    t.ok(database.reports, 'a reports database beside the primary');
    t.equal(database.reports!.pool!.totalCount, 0, 'it connects on first use, so a replica that is down does not stop the start');
    const [session] = await queryRows<{ readOnly: string; name: string }>(
      database.reports!.db,
      sql`select current_setting('transaction_read_only') as "readOnly", current_setting('application_name') as name`,
    );
    t.same(session, { readOnly: 'on', name: REPORTS_APPLICATION_NAME });
    await t.rejects(database.reports!.db.execute(sql`update organisations set name = name where false`), { cause: { code: '25006' } }, 'a write through it fails');
    await database.close();
    t.ok((database.pool as unknown as { ended: boolean }).ended && (database.reports!.pool as unknown as { ended: boolean }).ended, 'closing the primary closes both pools');

    const unreachable = await openConfiguredDatabase(
      loadConfig({ DATABASE_URL: url, REPORTS_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere', JWT_SECRET: TEST_JWT_SECRET }),
    );
    t.teardown(() => unreachable.close());
    const app = await appOn(unreachable);
    t.teardown(() => app.close());
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    t.equal(ready.statusCode, 200, `an unreachable replica leaves the instance ready: ${ready.body}`);
    const org = await createTestOrg(app, 'Replica down');
    const report = await app.inject({ method: 'GET', url: '/v1/reports/distribution', headers: await org.as('reporter') });
    t.equal(report.statusCode, 503, report.body);
    t.equal(json(report).code, 'service_unavailable', 'a report then answers 503 service_unavailable');
  });
}

/**
 * The replica's URL: TEST_REPORTS_REPLICA_URL, or a replica started here for this file (and
 * removed after it) with .ci/run's own setup, or an error saying what to run.
 */
async function replicaFor(t: Test, primaryUrl: string): Promise<{ url: string }> {
  const given = process.env.TEST_REPORTS_REPLICA_URL;
  if (given) return { url: given };
  const database = new URL(primaryUrl).pathname.slice(1);
  const env = { ...process.env, REPLICA_CLUSTER: `reports_replica_test_${process.pid}`, CI_DATABASE: database };
  const run = promisify(execFile);
  const ci = (action: 'up' | 'down') => run('bash', [join(REPO, '.ci/run'), 'reports-replica', action], { cwd: REPO, env, maxBuffer: 16 * 1024 * 1024 });
  let output = '';
  try {
    output = (await ci('up')).stdout;
  } catch (error) {
    const { stdout = '', stderr = '', message } = error as { stdout?: string; stderr?: string; message: string };
    output = `${stdout}\n${stderr || message}`;
  }
  const url = /TEST_REPORTS_REPLICA_URL=(\S+)/.exec(output)?.[1];
  if (!url) {
    await ci('down').catch(() => {});
    throw new Error(
      `TEST_DATABASE_URL is set but TEST_REPORTS_REPLICA_URL is not, and starting a replica here failed (it needs root, pg_createcluster and pg_basebackup):\n${output.trim().split('\n').slice(-15).join('\n')}\n\n` +
        `Start one as root with \`bash .ci/run reports-replica up\` (CI_DATABASE=${database} names this database in the URL it prints), then run with ` +
        `TEST_REPORTS_REPLICA_URL=<that URL>, and remove it with \`bash .ci/run reports-replica down\`.`,
    );
  }
  t.teardown(async () => {
    await ci('down');
  });
  return { url };
}
