/**
 * Embedded PGlite has no autovacuum: the service gathers its statistics itself when it opens the
 * database, and while it runs analyses and vacuums each table by autovacuum's rules
 * (src/db/embedded-maintenance.ts), so statements are planned on what the tables hold, not on
 * what they held when created. Runs on PGlite whatever database the rest of the suite uses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import t, { type Test } from 'tap';
import { loadConfig } from '../src/config.js';
import type { PGlite } from '@electric-sql/pglite';
import type { FastifyBaseLogger } from 'fastify';
import { analyzeIfEmbedded, openDatabase, queryRows, type Database } from '../src/db/client.js';
import { maintainEmbedded, startEmbeddedMaintenance } from '../src/db/embedded-maintenance.js';
import { openConfiguredDatabase } from '../src/runtime.js';
import { seedPgliteDir } from './helpers/database.js';

const dir = mkdtempSync(join(tmpdir(), 'ledger-embedded-statistics-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** reltuples is -1 for a table never analysed (PostgreSQL 14 and later), its row count after. */
async function reltuples(database: Database, table: string): Promise<number> {
  const [row] = await queryRows<{ reltuples: string }>(
    database.db,
    sql`select reltuples::text as reltuples from pg_class where relname = ${table} and relkind = 'r'`,
  );
  return Number(row!.reltuples);
}

/** A migrated embedded database of this test's own, closed when the test ends. */
async function openMigrated(t: Test, name: string): Promise<Database & { pglite: PGlite }> {
  const dataDir = join(dir, name);
  await seedPgliteDir(dataDir);
  const database = await openDatabase({ kind: 'pglite', dataDir });
  t.teardown(() => database.close());
  return database as Database & { pglite: PGlite };
}

t.test('opening the embedded database gathers statistics, and maintenance counts new rows once there are enough', async (t) => {
  const dataDir = join(dir, 'pglite');
  await seedPgliteDir(dataDir);
  const unopened = await openDatabase({ kind: 'pglite', dataDir });
  t.equal(await reltuples(unopened, 'organisations'), -1, 'the migrated directory has never been analysed');
  await unopened.close();

  const config = loadConfig({ PGLITE_DIR: dataDir, JWT_SECRET: 'embedded-statistics-secret-not-a-secret' });
  const database = await openConfiguredDatabase(config);
  t.teardown(() => database.close());
  t.equal(database.kind, 'pglite');
  t.equal(await reltuples(database, 'organisations'), 0, 'analysed on opening: known to be empty, not never analysed (-1)');

  const organisations = (n: number, from: number) =>
    database.db.execute(sql`insert into organisations (id, name, pseudonym_key) select gen_random_uuid(), 'Org ' || n, md5(n::text) from generate_series(${from}::int, ${from + n - 1}::int) as n`);
  await organisations(25, 1);
  t.equal(await reltuples(database, 'organisations'), 0, 'new rows are not counted until the next analyse');
  let pass = await maintainEmbedded(database.pglite!);
  t.notOk(pass.analysed.includes('organisations'), '25 changed rows are under autovacuum’s 50: not analysed yet');
  t.equal(await reltuples(database, 'organisations'), 0);

  await organisations(30, 26);
  pass = await maintainEmbedded(database.pglite!);
  t.ok(pass.analysed.includes('organisations'), '55 changed rows pass 50 + 10 % of none: analysed');
  t.equal(await reltuples(database, 'organisations'), 55, 'and counted');
  t.same(await maintainEmbedded(database.pglite!), { analysed: [], vacuumed: [], failed: [] }, 'nothing is due right after a pass');

  // 10 % of 55 is 5.5: 50 more changes are not enough, 56 are.
  await database.db.execute(sql`update organisations set name = name || '.' where name in (select name from organisations order by name limit 50)`);
  pass = await maintainEmbedded(database.pglite!);
  t.same(pass, { analysed: [], vacuumed: [], failed: [] }, '50 updated rows: under 50 + 10 % of 55, and 50 dead rows are under 50 + 20 % of 55');
  // 20 more rows, then 70 deleted: at least 70 dead rows (deleted rows stay dead until a vacuum;
  // an updated row's old version may be cleared sooner), over 50 + 20 % of the 55 last counted.
  await organisations(20, 56);
  await database.db.execute(sql`delete from organisations where id in (select id from organisations where name like 'Org %' limit 70)`);
  pass = await maintainEmbedded(database.pglite!);
  t.same(pass, { analysed: ['organisations'], vacuumed: ['organisations'], failed: [] }, '70 deleted: vacuumed and analysed');
  await database.pglite!.query('select pg_stat_force_next_flush()');
  const [stats] = await queryRows<{ n_dead_tup: string; vacuumed: boolean }>(
    database.db,
    sql`select n_dead_tup::text, last_vacuum is not null as vacuumed from pg_stat_user_tables where relname = 'organisations'`,
  );
  t.same(stats, { n_dead_tup: '0', vacuumed: true }, 'no dead rows left');
});

t.test('a table with autovacuum off is left alone, a failing table does not hold up the rest, and a stop ends a pass', async (t) => {
  const { pglite } = await openMigrated(t, 'pglite-rules');
  await pglite.exec(`
    create table aaa_first (n int); create table mmm_middle (n int); create table zzz_last (n int);
    alter table mmm_middle set (autovacuum_enabled = off);
    insert into aaa_first select generate_series(1, 100); insert into mmm_middle select generate_series(1, 100); insert into zzz_last select generate_series(1, 100);`);

  // The first table's statement fails (as a real one might, say on a full disk): the last is still done.
  const failing = {
    query: pglite.query.bind(pglite),
    exec: (statement: string) => (statement.includes('aaa_first') ? Promise.reject(new Error('no space left on device')) : pglite.exec(statement)),
  } as Pick<PGlite, 'query' | 'exec'>;
  const pass = await maintainEmbedded(failing);
  t.same(pass.failed.map((f) => [f.table, (f.error as Error).message]), [['aaa_first', 'no space left on device']], 'the failure is reported with its table');
  t.ok(pass.analysed.includes('zzz_last'), 'the tables after it are still analysed');
  t.notOk(pass.analysed.includes('mmm_middle'), 'not the one with autovacuum_enabled off, as autovacuum would not');
  t.ok((await maintainEmbedded(pglite)).analysed.includes('aaa_first'), 'the next pass does the failed one');

  // A stop during a pass: the statement under way finishes, no other starts.
  await pglite.exec('insert into aaa_first select generate_series(1, 200); insert into zzz_last select generate_series(1, 200);');
  const ran: string[] = [];
  let stop: () => Promise<void> = async () => {};
  let stopping: Promise<void> | null = null;
  const log = { info: () => {}, warn: () => {} } as unknown as FastifyBaseLogger;
  const stoppedDuring = new Promise<void>((resolve) => {
    const slow = {
      query: pglite.query.bind(pglite),
      exec: async (statement: string) => {
        ran.push(statement);
        stopping = stop(); // asked to stop while this statement runs
        const result = await pglite.exec(statement);
        resolve();
        return result;
      },
    } as Pick<PGlite, 'query' | 'exec'>;
    stop = startEmbeddedMaintenance(slow, log, 20);
  });
  await stoppedDuring;
  await stopping;
  t.same(ran, ['analyze aaa_first'], 'only the statement under way ran; zzz_last waits for the next start');
});

t.test('a partitioned table is left to its partitions, as autovacuum leaves it', async (t) => {
  // Found from outside (2026-12-02): a fresh `npm start` vacuumed pgboss.job every five seconds,
  // idle. A partitioned table holds no rows itself and has no oldest transaction id
  // (relfrozenxid 0, whose age reads as 2^31 - 1), so it looked due against wraparound forever.
  const { pglite } = await openMigrated(t, 'pglite-partitions');
  await pglite.exec(`
    create table parted (n int) partition by range (n);
    create table parted_low partition of parted for values from (0) to (1000);
    insert into parted select generate_series(1, 10);`);
  t.same(await maintainEmbedded(pglite), { analysed: [], vacuumed: [], failed: [] }, 'nothing due: ten rows, and no parent to vacuum');
  await pglite.exec('insert into parted select generate_series(11, 200)');
  t.same(await maintainEmbedded(pglite), { analysed: ['parted_low'], vacuumed: [], failed: [] }, 'the partition is analysed once it is due, as a table of its own');
});

t.test('while the server runs, maintenance passes run by themselves, one at a time, and stop with it', async (t) => {
  const database = await openMigrated(t, 'pglite-running');
  const logged: { msg: string; pass: unknown }[] = [];
  const log = {
    info: (pass: unknown, msg: string) => logged.push({ msg, pass }),
    warn: (pass: unknown, msg: string) => logged.push({ msg, pass }),
  } as unknown as FastifyBaseLogger;
  const stop = startEmbeddedMaintenance(database.pglite!, log, 50);
  await database.db.execute(sql`insert into organisations (id, name, pseudonym_key) select gen_random_uuid(), 'Org ' || n, md5(n::text) from generate_series(1, 200) as n`);
  const deadline = Date.now() + 20_000;
  while (!logged.some((l) => JSON.stringify(l.pass).includes('"organisations"')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await stop();
  const entry = logged.find((l) => JSON.stringify(l.pass).includes('"organisations"'));
  t.ok(entry, 'a pass analysed the table without being asked');
  t.match(entry?.pass, { analysed: ['organisations'], ms: Number }, 'and logged what it did and how long it took');
  t.equal(await reltuples(database, 'organisations'), 200);
  t.notOk(logged.some((l) => l.msg.includes('failed')), 'no pass failed');
  const count = logged.length;
  await database.db.execute(sql`insert into organisations (id, name, pseudonym_key) select gen_random_uuid(), 'Org ' || n, md5(n::text) from generate_series(201, 600) as n`);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(logged.length, count, 'stopped: no pass after it');
  t.equal(await reltuples(database, 'organisations'), 200, 'and nothing analysed');
});

t.test('on PostgreSQL it leaves statistics to autovacuum', async (t) => {
  const ran: unknown[] = [];
  const db = { execute: (query: unknown) => ran.push(query) } as unknown as Database['db'];
  await analyzeIfEmbedded({ kind: 'postgres', db });
  t.same(ran, [], 'no statement');
});
