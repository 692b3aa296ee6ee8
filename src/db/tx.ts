import { is } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { PgTransaction } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type { Db } from './client.js';
import { readingTogether } from './named-statements.js';

/** The SQLSTATE of a PostgreSQL error, looking through drizzle's query-error wrapper. */
export function pgErrorCode(error: unknown): string | undefined {
  let e = error as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** The constraint a PostgreSQL error names, if any. */
export function pgConstraint(error: unknown): string | undefined {
  let e = error as { constraint?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.constraint === 'string') return e.constraint;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** Serialisation failures and deadlocks: the whole transaction may simply be run again. */
export function isRetryable(error: unknown): boolean {
  const code = pgErrorCode(error);
  return code === '40001' || code === '40P01';
}

export const isInTransaction = (db: Db): boolean => is(db, PgTransaction);

/**
 * Runs `fn` in a transaction. At the top level a serialisation failure or deadlock reruns the
 * whole transaction (with a short jittered backoff) up to `attempts` times, so callers never see
 * them. Inside an existing transaction `fn` simply joins it: an error aborts the whole outer
 * transaction, which is how every caller uses it (nothing catches an error and goes on writing
 * in the same transaction), so a savepoint would cost two round trips for nothing.
 */
export async function inTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>, attempts = 8): Promise<T> {
  if (isInTransaction(db)) return fn(db);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(fn);
    } catch (error) {
      if (!isRetryable(error) || attempt >= attempts) throw error;
      const backoff = Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}

/**
 * Runs reads that belong together (a balance, a statement) on one connection, without wrapping
 * them in a transaction where that costs a round trip and buys nothing. At READ COMMITTED,
 * PostgreSQL's default and the service's, every statement sees what was committed when it began,
 * inside a transaction or not: `begin` and `commit` around reads give them no common snapshot,
 * only two more statements and, for the commit, a round trip of its own. On PostgreSQL `fn` gets
 * one of the pool's connections to itself, so what it sends together still travels together (the
 * pool's pipelining, src/db/pipelined-transactions.ts), and its repeated statements are prepared
 * as a transaction's are. A caller already in a transaction reads in it; the embedded database,
 * which has no round trips and prepares repeated statements only inside a transaction
 * (src/db/pglite-statements.ts), reads in a transaction as before. `fn` must only read, and must not return while a statement it sent
 * is unanswered (allAnswered waits for all of them): the connection goes back to the pool then.
 */
export async function readTogether<T>(db: Db, fn: (db: Db) => Promise<T>): Promise<T> {
  if (isInTransaction(db)) return fn(db);
  const client = (db as unknown as { _: { session: { client: unknown } } })._.session.client;
  if (!(client instanceof pg.Pool)) return inTransaction(db, fn);
  const connection = await client.connect();
  // Its repeated statements are named and prepared as a transaction's are (src/db/named-statements.ts).
  readingTogether(connection, true);
  try {
    return await fn(drizzle(connection) as unknown as Db);
  } finally {
    readingTogether(connection, false);
    connection.release();
  }
}
