import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { MIGRATIONS_FOLDER, openDatabase, type Database } from '../../src/db/client.js';

/**
 * The database a test file runs against: PostgreSQL when TEST_DATABASE_URL is set, else an
 * in-memory PGlite. One per test file (process), shared by its tests; each test makes its own
 * organisation, so nothing is truncated and tests can run in any order.
 *
 * A new PGlite takes seconds to start and migrate, so the first file to need one migrates a
 * template and dumps it to a file keyed by the migrations' hash; every other file loads it.
 */
let shared: Promise<Database> | undefined;

export function testDatabase(): Promise<Database> {
  shared ??= open();
  return shared;
}

export const usingPostgres = (): boolean => Boolean(process.env.TEST_DATABASE_URL);

async function open(): Promise<Database> {
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    const database = await openDatabase({ kind: 'postgres', url, poolSize: 20 });
    await database.migrate();
    return database;
  }
  const template = await pgliteTemplate();
  const database = await openDatabase({ kind: 'pglite', dataDir: 'memory://', loadDataDir: new Blob([template]) });
  await database.migrate(); // a no-op on the template, but keeps this path honest
  return database;
}

/**
 * Makes `dataDir` an embedded database already migrated, from the template: about a second, where
 * creating one (initdb) and migrating it takes six to eight. For tests whose child processes (the
 * CLI, the server) open a directory of their own; what opening a really fresh directory does is
 * tested on one (cli.test.ts, build.test.ts).
 */
export async function seedPgliteDir(dataDir: string): Promise<void> {
  const database = await openDatabase({ kind: 'pglite', dataDir, loadDataDir: new Blob([await pgliteTemplate()]) });
  await database.close();
}

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true }).map(String).sort()) {
    if (file.endsWith('.sql') || file.endsWith('.json')) hash.update(file).update(readFileSync(join(MIGRATIONS_FOLDER, file)));
  }
  return hash.digest('hex').slice(0, 16);
}

async function pgliteTemplate(): Promise<Uint8Array<ArrayBuffer>> {
  const dir = join(tmpdir(), 'coproduction-ledger-test');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `pglite-template-${migrationsHash()}.tar`);
  if (existsSync(file)) return new Uint8Array(readFileSync(file));
  const database = await openDatabase({ kind: 'pglite', dataDir: 'memory://' });
  await database.migrate();
  const dump = new Uint8Array(await (await database.pglite!.dumpDataDir('none')).arrayBuffer());
  await database.close();
  // Write then rename, so a file running in parallel never reads half a template.
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, dump);
  renameSync(partial, file);
  return dump;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL databases of a test's own

/**
 * Runs one statement (CREATE DATABASE, DROP ROLE and the like) on a connection of its own to
 * `url`, as whoever that URL names, and closes the connection however it ends.
 */
export async function runAsAdmin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty PostgreSQL database `<name>_<label>` beside the one `base` names (dropped first if
 * an earlier run left it), and a function that drops it. Nothing else changes.
 */
export async function privatePostgres(base: string, label: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const url = new URL(base);
  const name = `${url.pathname.slice(1)}_${label}`.replace(/[^a-zA-Z0-9_]/g, '_').slice(0, 60);
  const admin = (statement: string) => runAsAdmin(base, statement);
  await admin(`drop database if exists "${name}" with (force)`);
  await admin(`create database "${name}"`);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`drop database if exists "${name}" with (force)`) };
}
