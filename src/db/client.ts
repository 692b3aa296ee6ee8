import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { and, eq, getTableName, sql, type SQL } from 'drizzle-orm';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator';
import type { AnyPgColumn, PgDatabase, PgQueryResultHKT, PgTable } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { toSafeNumber } from '../domain/money.js';
import { DatabaseInUseError, notFound } from '../errors.js';
import { isUuid } from '../lib/ids.js';
import { nameRepeatedStatementsOnPglite } from './pglite-statements.js';
import { preparedFor } from './prepared.js';
import { pipelineTransactionEnds, releasedToPool } from './pipelined-transactions.js';

/**
 * A database handle or an open transaction: repository functions accept either. Opened without
 * drizzle's relational queries (`db.query.*`), which the service does not use: given the schema,
 * drizzle builds a query builder for each of its tables in every transaction it opens.
 */
export type Db = PgDatabase<PgQueryResultHKT>;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Applies pending migrations; safe to call from several processes at once on PostgreSQL. */
  migrate(): Promise<void>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The PGlite instance in embedded mode (for dumps in tests), else undefined. */
  pglite?: PGlite;
  /** The pg pool in PostgreSQL mode, else undefined. */
  pool?: pg.Pool;
  /**
   * Where reports read (REPORTS_DATABASE_URL, a read replica), opened and closed with this one;
   * undefined: reports read this database. Nothing that writes, and nothing on the money path
   * (approvals, payouts, balances, statements), may use it: it lags behind.
   */
  reports?: ReportsDatabase;
}

/** A database that is only read: no migrations, no writes (its sessions are read-only). */
export type ReportsDatabase = Pick<Database, 'db' | 'kind' | 'ping' | 'close' | 'pool' | 'pglite'>;

/** The application_name of the reports pool's connections, so a replica's pg_stat_activity shows them. */
export const REPORTS_APPLICATION_NAME = 'coproduction-ledger reports';

export type DatabaseSettings =
  | {
      kind: 'postgres';
      url: string;
      poolSize: number;
      /** Every session read-only (default_transaction_read_only): for the reports pool. */
      readOnly?: boolean;
      applicationName?: string;
    }
  | { kind: 'pglite'; dataDir: string; loadDataDir?: Blob | File; sharedBuffers?: string };

// Arbitrary constant: serialises migrations across processes sharing one PostgreSQL.
const MIGRATION_LOCK_KEY = 4_224_311_901;

/**
 * The pool every PostgreSQL database is opened on. `beforeWrap` sees each new connection before
 * the pool's own wrappers do (the benchmarks use it to watch what reaches the server).
 */
export function newPostgresPool(
  settings: Omit<Extract<DatabaseSettings, { kind: 'postgres' }>, 'kind'> & { idleTimeoutMillis?: number },
  beforeWrap?: (client: pg.PoolClient) => void,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: settings.url,
    max: settings.poolSize,
    ...(settings.idleTimeoutMillis !== undefined ? { idleTimeoutMillis: settings.idleTimeoutMillis } : {}),
    // Under a burst, requests queue for a connection; give up (503) only well past normal waits.
    connectionTimeoutMillis: 15_000,
    // A statement that hangs must not hold a request forever.
    statement_timeout: 30_000,
    idle_in_transaction_session_timeout: 60_000,
    ...(settings.applicationName ? { application_name: settings.applicationName } : {}),
    // A write sent here by mistake fails (25006 read_only_sql_transaction), even when the URL
    // is the primary's; on a hot standby every session is read-only anyway.
    ...(settings.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    // node-postgres's pipeline mode: a query is written without waiting for the answer to the
    // one before it, which lets a transaction's begin and commit share a write with its first
    // and last statements (src/db/pipelined-transactions.ts). Statements awaited one by one
    // run exactly as without it.
    pipeline: true,
  });
  // An idle client's error (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // Back in the pool: the pipelining wrapper forgets the transaction (and rolls back one left open).
  pool.on('release', (_error: Error | undefined, client: pg.PoolClient) => releasedToPool(client));
  pool.on('connect', (client) => {
    beforeWrap?.(client);
    // While a client is checked out, pg-pool removes its own error listener: a server that
    // ends the connection mid-transaction would otherwise raise an uncaught 'error' and
    // kill the process. The failing query still rejects (and answers 503).
    client.on('error', () => {});
    // A transaction's begin and commit travel with its first and last statements
    // (src/db/pipelined-transactions.ts).
    const query = pipelineTransactionEnds(client, client.query.bind(client) as (...args: unknown[]) => unknown);
    // drizzle-orm 0.45 runs BEGIN outside the try/finally that releases the client, so a
    // BEGIN failing on a dying connection would lose that client from the pool for good
    // (drizzle-orm issues #6023, #6241). Release it, broken, ourselves. (drizzle's plain
    // `begin` is answered at once above and sent with the first statement, inside that
    // try/finally; this is for a `begin` with options.)
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const result = query(...args);
      const first = args[0] as string | { text?: string } | undefined;
      const text = typeof first === 'string' ? first : first?.text;
      if (typeof text === 'string' && /^\s*begin\b/i.test(text) && result instanceof Promise) {
        result.catch((error: Error) => {
          try {
            (client as unknown as pg.PoolClient).release(error);
          } catch {
            // already released
          }
        });
      }
      return result;
    };
  });
  return pool;
}

export async function openDatabase(settings: DatabaseSettings): Promise<Database> {
  if (settings.kind === 'postgres') {
    const pool = newPostgresPool(settings);
    const db = drizzleNodePg(pool) as unknown as Db;
    return {
      db,
      kind: 'postgres',
      pool,
      async migrate() {
        const lockClient = await pool.connect();
        try {
          await lockClient.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
          await migrateNodePg(drizzleNodePg(pool), { migrationsFolder: MIGRATIONS_FOLDER });
        } finally {
          await lockClient.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
          lockClient.release();
        }
      },
      async ping() {
        await pool.query('select 1');
      },
      async close() {
        await pool.end();
      },
    };
  }

  const dataDir = settings.dataDir;
  let unlock = async () => {};
  if (!dataDir.startsWith('memory://')) {
    await mkdir(dataDir, { recursive: true });
    unlock = await lockDataDir(dataDir);
  }
  const pglite = await PGlite.create(dataDir, {
    ...(settings.loadDataDir ? { loadDataDir: settings.loadDataDir } : {}),
    startParams: [...PGlite.defaultStartParams, ...embeddedMemorySettings(settings.sharedBuffers ?? '16MB')],
  });
  nameRepeatedStatementsOnPglite(pglite);
  const pgliteDb = drizzlePglite(pglite);
  return {
    db: pgliteDb as unknown as Db,
    kind: 'pglite',
    pglite,
    async migrate() {
      await migratePglite(pgliteDb, { migrationsFolder: MIGRATIONS_FOLDER });
    },
    async ping() {
      await pglite.query('select 1');
    },
    async close() {
      if (!pglite.closed) await pglite.close();
      await unlock();
    },
  };
}

/**
 * The primary with its reports database beside it: reports read `reports`, and closing the
 * primary closes both.
 */
export function withReportsDatabase(primary: Database, reports: ReportsDatabase): Database {
  return {
    ...primary,
    reports,
    async close() {
      try {
        await primary.close();
      } finally {
        await reports.close();
      }
    },
  };
}

/**
 * Embedded PostgreSQL keeps its database in the memory of the one process that opened it: a
 * second process (the CLI while the server runs) would read and write the same files behind
 * the first one's back, and each would overwrite the other's changes. So the directory is
 * claimed with a lock file beside it holding the owner's process id; a lock whose process has
 * gone (a crash, a kill) is taken over. Returns the release.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = `${resolve(dataDir)}.lock`;
  const release = async () => {
    const owner = await readFile(file, 'utf8').catch(() => '');
    if (Number(owner) === process.pid) await rm(file, { force: true });
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(await readFile(file, 'utf8').catch(() => ''));
    if (owner === process.pid) return async () => {}; // this process holds it already; its first opener releases it
    if (Number.isSafeInteger(owner) && owner > 0 && isRunning(owner)) {
      throw new DatabaseInUseError(
        `The embedded database in ${dataDir} is open in another process (pid ${owner}). Stop the server (or that process) and try again, or use PostgreSQL (DATABASE_URL), where any number of processes can share the database.`,
      );
    }
    await rm(file, { force: true }); // left by a process that has gone
  }
  throw new DatabaseInUseError(`Could not claim the embedded database in ${dataDir}: its lock file ${file} keeps changing.`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PostgreSQL's memory settings for the embedded database. PGlite runs inside the service's own
 * process and the WebAssembly memory it touches is never given back, so every buffer PostgreSQL
 * sizes for a dedicated server stays resident: its defaults (128MB of shared buffers, 64MB for
 * maintenance) cost the service well over 100 MB. Embedded mode is for small data, where these
 * smaller caches read from the operating system's file cache instead.
 */
function embeddedMemorySettings(sharedBuffers: string): string[] {
  return ['-c', `shared_buffers=${sharedBuffers}`, '-c', 'maintenance_work_mem=16MB', '-c', 'work_mem=2MB', '-c', 'temp_buffers=2MB'];
}

/** True when the error is PostgreSQL telling us the server or connection is unavailable. */
export function isDatabaseUnavailable(error: unknown): boolean {
  // drizzle wraps the driver's error: look through its causes.
  let e = error as { code?: unknown; message?: string; cause?: unknown } | null;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (
      ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006'].includes(code) ||
      /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|PGlite is closed/i.test(e.message ?? '')
    ) {
      return true;
    }
    e = e.cause as typeof e;
  }
  return false;
}

export { sql };

/** A json column's value: PGlite and node-postgres hand it back parsed; a driver giving text gets it parsed here. */
export const parsedJson = <T>(value: unknown): T => (typeof value === 'string' ? (JSON.parse(value) as T) : (value as T));

/** The rows of a raw SQL query, on either driver (both answer `{ rows }`). */
export async function queryRows<T>(db: Db, query: SQL): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

/** The sum of a column over the rows that match every condition (0 when none do), as a safe integer. */
export async function sumOf(db: Db, table: PgTable, column: AnyPgColumn, ...conditions: SQL[]): Promise<number> {
  const [row] = await db
    .select({ total: sql<string>`coalesce(sum(${column}), 0)` })
    .from(table)
    .where(and(...conditions));
  return toSafeNumber(row?.total ?? 0);
}

/** A table whose rows belong to an organisation and are found by id. */
type OrganisationTable = PgTable & { organisationId: AnyPgColumn; id: AnyPgColumn };

/**
 * One of the organisation's rows by its id, locked `for update` when asked. Another
 * organisation's id and a malformed one are answered alike. Errors: not_found ("<what> was not found").
 */
export async function organisationRow<T extends OrganisationTable>(
  db: Db,
  table: T,
  what: string,
  organisationId: string,
  id: string,
  lock: 'for update' | 'no lock' = 'no lock',
): Promise<T['$inferSelect']> {
  if (!isUuid(id)) throw notFound(what);
  const [row] = await rowRead(table, lock)(db, { organisationId, id });
  if (!row) throw notFound(what);
  return row as T['$inferSelect'];
}

/** organisationRow's read of each table, locked or not, built once (db/prepared.ts). */
function rowRead(table: OrganisationTable, lock: 'for update' | 'no lock') {
  const name = `row_${getTableName(table)}_${lock === 'for update' ? 'locked' : 'read'}`;
  return preparedFor(name, () => name, (db) => {
    const query = db
      .select()
      .from(table as PgTable)
      .where(and(eq(table.organisationId, sql.placeholder('organisationId')), eq(table.id, sql.placeholder('id'))));
    return lock === 'for update' ? query.for('update') : query;
  });
}

/**
 * Embedded PGlite has no autovacuum, so nothing would ever gather its tables' statistics and
 * every statement would be planned as if the tables held what they held when first created. It
 * is analysed when it opens (src/runtime.ts), and while the server runs, each table is analysed
 * and vacuumed by autovacuum's rules (src/db/embedded-maintenance.ts). PostgreSQL's autovacuum
 * does this itself.
 */
export async function analyzeIfEmbedded(database: Pick<Database, 'kind' | 'db'>): Promise<void> {
  if (database.kind === 'pglite') await database.db.execute(sql`analyze`);
}
