import type pg from 'pg';
import type { Db } from './client.js';
import { pgErrorCode } from './tx.js';

/**
 * A transaction's `begin` and `commit` ride with its first and last statements, so on PostgreSQL
 * they cost no round trip of their own.
 *
 * Every transaction used to pay two round trips for its ends: drizzle sends `begin` and waits for
 * it, runs the work, then sends `commit` and waits again. On the money path that is 4 of an
 * approval's 15 round trips (a submit and an approve), and each round trip costs both processes
 * a wake-up, a read and a write. The pool runs in node-postgres's own pipeline mode
 * (`pipeline: true`: a query is written without waiting for the one before it to be answered,
 * each still with its own Sync, so each still gets its own result or error), and this wrapper
 * around each client's `query`:
 *
 *  - holds back a plain `begin` (answering it at once) and writes it together with the
 *    transaction's first statement, in one write to the socket; a transaction that sends nothing
 *    before its `commit` or `rollback` never reaches the server at all;
 *  - when told that a statement is the transaction's last (`commitWithNextStatement`, which the
 *    request transaction's held writes use, src/lib/held-writes.ts), writes `commit` together
 *    with it, and then answers drizzle's own `commit` (or `rollback`) itself;
 *  - holds the socket's writes until the tick's work is done, so that everything sent together
 *    (those ends, and the statements `allAnswered` waits for) leaves in one write.
 *
 * What the server sees is unchanged: the same statements, in the same order, in one transaction.
 * Errors keep their meaning. A first statement that fails leaves the transaction aborted, and
 * drizzle's `rollback` ends it as before. A last statement that fails makes the `commit` behind
 * it a rollback (PostgreSQL ends a failed transaction that way, without an error of its own), and
 * the statement's error is what the caller sees. A `commit` that fails (a deferred constraint,
 * such as the ledger's `ledger_postings_balanced` check) fails the last statement's call with the
 * commit's error, after which nothing was written. Every statement sent after such a commit on the
 * same transaction is refused rather than run outside it, until drizzle's own commit or rollback.
 * The commit is written only behind a statement whose parameters are plain values (text, numbers,
 * null), which node-postgres cannot fail to send: a statement refused on the client side never
 * reaches the server, and a commit behind it would commit what came before. A connection that
 * goes back to the pool still in a transaction (which none should) is rolled back first.
 *
 * Only a `begin` without options is held (drizzle's); `begin isolation level ...` and everything
 * else go as they come. PGlite, in the same process, has no round trips to save and keeps
 * drizzle's own `begin` and `commit`.
 */

type Query = (...args: unknown[]) => unknown;

const PLAIN_BEGIN = /^\s*begin\s*;?\s*$/i;
const COMMIT = /^\s*(commit|end)\s*;?\s*$/i;
const ROLLBACK = /^\s*rollback\s*;?\s*$/i;

const textOf = (args: unknown[]): string | undefined => {
  const first = args[0] as string | { text?: unknown } | null | undefined;
  const text = typeof first === 'string' ? first : first?.text;
  return typeof text === 'string' ? text : undefined;
};

/** A call that returns a promise: not a Submittable (a cursor, a stream) and without a callback. */
const isPromiseCall = (args: unknown[]): boolean => {
  const first = args[0] as { submit?: unknown } | null | undefined;
  if (first !== null && typeof first === 'object' && typeof first.submit === 'function') return false;
  return !args.some((arg) => typeof arg === 'function');
};

const answered = (command: string): pg.QueryResult => ({ command, rowCount: null, oid: 0, rows: [], fields: [] });

/** The handle each wrapped client carries, for commitWithNextStatement. */
const PIPELINE = Symbol('pipelined transaction ends');

interface Pipeline {
  /** The next statement is the transaction's last: write `commit` with it. False outside a transaction. */
  commitWithNext(): boolean;
  /** The client went back to the pool: forget any transaction. */
  released(): void;
}

/** Parameters node-postgres sends as they are, without a conversion that could fail. */
const plainValues = (args: unknown[]): boolean => {
  const first = args[0] as { values?: unknown } | null | undefined;
  const values = (first !== null && typeof first === 'object' ? first.values : undefined) ?? args[1];
  if (values === undefined) return true;
  if (!Array.isArray(values)) return false;
  return values.every((v) => v === null || v === undefined || ['string', 'number', 'boolean', 'bigint'].includes(typeof v));
};

/**
 * Wraps a pooled client's `query` (call it once, on the pool's `connect`). `send` is the query
 * function to write through (the client's own, or one already wrapped).
 */
export function pipelineTransactionEnds(client: pg.ClientBase, send: Query): Query {
  /** 'begin-held': drizzle's `begin` waits for the first statement; 'ended': committed with the last one. */
  let state: 'idle' | 'begin-held' | 'open' | 'ended' = 'idle';
  let heldBegin: unknown[] = [];
  let commitNext = false;
  const stream = (client as unknown as { connection?: { stream?: { cork?: () => void; uncork?: () => void } } }).connection?.stream;
  let holding = false;
  /**
   * Holds the socket's writes until the current tick's work is done, so statements sent together
   * (a held `begin` with its first statement, the reads `allAnswered` waits for, a last statement
   * and its `commit`) leave in one write: node-postgres writes each query as it is queued, and
   * every write to the socket is a system call that also does the loopback's delivery to the
   * server. The writes keep their order; only when they reach the socket changes, and by no more
   * than the promise callbacks already queued (Node runs `nextTick` callbacks after them).
   */
  const holdWritesForThisTick = () => {
    if (holding || !stream?.cork || !stream.uncork) return;
    holding = true;
    stream.cork();
    process.nextTick(() => {
      holding = false;
      stream.uncork!();
    });
  };

  /** The answer drizzle expects to a `commit` or `rollback` that is not sent. */
  const endAnswered = (text: string) => Promise.resolve(answered(COMMIT.test(text) ? 'COMMIT' : 'ROLLBACK'));
  /**
   * Writes the held `begin` (if any), the statement and (if it is the last) `commit` at once, and
   * answers with the statement's result once all are answered. `begin` fails only with its
   * connection, and then so does everything written behind it.
   */
  const sendWithEnds = (begin: unknown[] | undefined, args: unknown[], withCommit: boolean) => {
    const begun = begin ? (send(...begin) as Promise<unknown>) : undefined;
    const result = send(...args) as Promise<unknown>;
    const committed = withCommit ? (send('commit') as Promise<unknown>) : undefined;
    if (withCommit) state = 'ended';
    return settle(begun, result, committed);
  };

  const query: Query = (...args) => {
    holdWritesForThisTick();
    const text = textOf(args);
    const ends = text !== undefined && (COMMIT.test(text) || ROLLBACK.test(text));
    if (state === 'ended') {
      if (ends) {
        state = 'idle';
        return endAnswered(text!);
      }
      // Stays 'ended': whatever else comes before drizzle ends the transaction is refused too.
      return Promise.reject(new Error('A statement was sent on a transaction already committed with its last statement'));
    }
    if (state === 'idle' && text !== undefined && PLAIN_BEGIN.test(text) && isPromiseCall(args)) {
      state = 'begin-held';
      heldBegin = args;
      commitNext = false;
      return Promise.resolve(answered('BEGIN'));
    }
    if (state === 'begin-held') {
      const begin = heldBegin;
      heldBegin = [];
      if (ends) {
        // Nothing was sent: there is nothing to end.
        state = 'idle';
        commitNext = false;
        return endAnswered(text!);
      }
      state = 'open';
      if (!isPromiseCall(args)) {
        // A cursor or a callback: `begin` first (node-postgres runs a client's queries in order).
        (send(...begin) as Promise<unknown>).catch(() => {});
        return send(...args);
      }
      const last = commitNext && plainValues(args);
      commitNext = false;
      return sendWithEnds(begin, args, last);
    }
    if (state === 'open') {
      if (ends) {
        state = 'idle';
        commitNext = false;
        return send(...args);
      }
      const last = commitNext && isPromiseCall(args) && plainValues(args);
      commitNext = false;
      if (last) return sendWithEnds(undefined, args, true);
    }
    if (state === 'idle' && text !== undefined && /^\s*(begin|start\s+transaction)\b/i.test(text)) state = 'open';
    return send(...args);
  };
  (client as unknown as Record<symbol, Pipeline>)[PIPELINE] = {
    commitWithNext() {
      if (state !== 'open' && state !== 'begin-held') return false;
      commitNext = true;
      return true;
    },
    released() {
      state = 'idle';
      heldBegin = [];
      commitNext = false;
      const status = (client as unknown as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
      // Queued ahead of anything the next user sends (node-postgres runs a client's queries in order).
      if (status === 'T' || status === 'E') (send('rollback') as Promise<unknown>).catch(() => {});
    },
  };
  return query;
}

/** Call when a wrapped client goes back to the pool (pg-pool's `release` event). */
export function releasedToPool(client: pg.ClientBase): void {
  (client as unknown as Record<symbol, Pipeline | undefined>)[PIPELINE]?.released();
}

/**
 * The statement's result, once everything written with it is answered: the `begin`'s error if
 * it failed, else the statement's, else the `commit`'s.
 */
async function settle(begun: Promise<unknown> | undefined, result: Promise<unknown>, committed: Promise<unknown> | undefined): Promise<unknown> {
  const [, value, commit] = await allAnswered([begun, result, committed] as const);
  // A commit PostgreSQL answered as a rollback means the transaction had failed: nothing was written.
  if (committed && (commit as pg.QueryResult | undefined)?.command !== 'COMMIT') {
    throw new Error(`The transaction did not commit (the server answered ${(commit as pg.QueryResult | undefined)?.command ?? 'nothing'})`);
  }
  return value;
}

/**
 * What statements sent together (without waiting for one another) answer, once every one of them
 * is answered; the first one's error, in the order given, if any failed. Unlike Promise.all it
 * never returns while one is still on its way: a transaction must not end, and its connection go
 * back to the pool, with a statement of it unanswered.
 */
export async function allAnswered<const T extends readonly unknown[]>(statements: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(statements);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
  // A statement sent behind a failed one fails only because the transaction is aborted (25P02):
  // the failure that caused it (a deadlock to retry, a timeout) is the one to report.
  const cause = failures.find((e) => pgErrorCode(e) !== '25P02') ?? failures[0];
  if (failures.length) throw cause;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/**
 * Tells the transaction `tx` that the next statement it sends is its last, so `commit` is written
 * with it. Returns false where that does not apply (PGlite, a client without the wrapper, or
 * outside a transaction): the caller's transaction then commits as usual.
 */
export function commitWithNextStatement(tx: Db): boolean {
  // A savepoint shares its transaction's connection: committing there would end the outer one.
  if (((tx as unknown as { nestedIndex?: number }).nestedIndex ?? 0) > 0) return false;
  const client = (tx as unknown as { _?: { session?: { client?: unknown } } })._?.session?.client as Record<symbol, Pipeline | undefined> | undefined;
  return client?.[PIPELINE]?.commitWithNext() ?? false;
}

/**
 * For tests and benchmarks: a `beforeWrap` for newPostgresPool that watches each connection below
 * the pool's own wrappers, while `watching()`, and adds to `trips()` one list per round trip: the
 * statements (their first 140 characters) sent while the ones before them were still unanswered,
 * which is what the pool pipelines.
 */
export function watchRoundTrips(trips: () => string[][], watching: () => boolean) {
  return (client: pg.ClientBase) => {
    const raw = client.query.bind(client) as (...args: unknown[]) => unknown;
    let inFlight = 0;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text: string };
      if (!watching()) return raw(...args);
      const list = trips();
      if (inFlight === 0 || list.length === 0) list.push([]);
      list.at(-1)!.push((typeof first === 'string' ? first : first.text).replace(/\s+/g, ' ').trim().slice(0, 140));
      const result = raw(...args);
      // pg-pool's own pool.query passes a callback and gets nothing back: one statement alone.
      if (result instanceof Promise) {
        inFlight += 1;
        void result.then(
          () => (inFlight -= 1),
          () => (inFlight -= 1),
        );
      }
      return result;
    };
  };
}
