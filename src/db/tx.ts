import { is } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import type { Db } from './client.js';

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
