/**
 * Embedded PGlite has no autovacuum: the service gathers its statistics itself when it opens the
 * database (and hourly), so statements are planned on what the tables hold, not on what they
 * held when created. Runs on PGlite whatever database the rest of the suite uses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import t from 'tap';
import { loadConfig } from '../src/config.js';
import { analyzeIfEmbedded, openDatabase, queryRows, type Database } from '../src/db/client.js';
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

t.test('opening the embedded database gathers statistics, and the hourly analyse counts new rows', async (t) => {
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

  await database.db.execute(sql`insert into organisations (id, name, pseudonym_key) select gen_random_uuid(), 'Org ' || n, md5(n::text) from generate_series(1, 25) as n`);
  t.equal(await reltuples(database, 'organisations'), 0, 'new rows are not counted until the next analyse');
  await analyzeIfEmbedded(database);
  t.equal(await reltuples(database, 'organisations'), 25, 'the analyse the hourly job runs counts them');
});

t.test('on PostgreSQL it leaves statistics to autovacuum', async (t) => {
  const ran: unknown[] = [];
  const db = { execute: (query: unknown) => ran.push(query) } as unknown as Database['db'];
  await analyzeIfEmbedded({ kind: 'postgres', db });
  t.same(ran, [], 'no statement');
});
