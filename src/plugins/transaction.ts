import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Db } from '../db/client.js';
import { inTransaction } from '../db/tx.js';
import { holdWrites, writeHeld } from '../lib/held-writes.js';
import { nameRepeatedStatements } from '../db/named-statements.js';

/** A request's writes, given the transaction to make them in. */
export type TransactionWork<T> = (tx: Db) => Promise<T>;

/**
 * Runs around every request's transaction. It is given the request, the request's work, and
 * `begin`, which runs work in one new database transaction: it may add statements of its own to
 * that same transaction (before or after the work), or act once the transaction has ended. It
 * must call `begin` at most once, and return what the work returned.
 */
export type AroundTransaction = <T>(
  request: FastifyRequest,
  work: TransactionWork<T>,
  begin: <U>(work: TransactionWork<U>) => Promise<U>,
) => Promise<T>;

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Runs the request's writes in one database transaction. Plugins may take part in it
     * (`aroundTransaction`): with an Idempotency-Key header the stored response is written in
     * that same transaction, so the effect and the record of it commit together.
     */
    transaction<T>(fn: TransactionWork<T>): Promise<T>;
  }
  interface FastifyInstance {
    /** Adds a step around every request's transaction; the first added runs outermost. */
    aroundTransaction(around: AroundTransaction): void;
  }
}

async function transactionPlugin(app: FastifyInstance) {
  // On PostgreSQL, the statements every request repeats are prepared once per connection
  // (src/db/named-statements.ts says which and why).
  if (app.database.pool) nameRepeatedStatements(app.database.pool);
  const arounds: AroundTransaction[] = [];
  app.decorate('aroundTransaction', (around: AroundTransaction) => {
    arounds.push(around);
  });
  app.decorateRequest('transaction', function <T>(this: FastifyRequest, fn: TransactionWork<T>): Promise<T> {
    const request = this;
    const run = (index: number) =>
      function <U>(work: TransactionWork<U>): Promise<U> {
        const around = arounds[index];
        return around ? around(request, work, run(index + 1)) : inTransaction(app.db, (tx) => heldUntilDone(tx, work));
      };
    return run(0)(fn);
  });
}

/**
 * The request's audit events and idempotency record are written in one statement once its work
 * is done (src/lib/held-writes.ts), inside the transaction, so they still commit with it. Nothing
 * follows that statement but the commit, which on PostgreSQL is written with it
 * (src/db/pipelined-transactions.ts).
 */
async function heldUntilDone<U>(tx: Db, work: TransactionWork<U>): Promise<U> {
  holdWrites(tx);
  const result = await work(tx);
  await writeHeld(tx, { commit: true });
  return result;
}

export default fp(transactionPlugin, { name: 'transaction', dependencies: ['database'] });
