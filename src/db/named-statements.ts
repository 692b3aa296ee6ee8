import { createHash } from 'node:crypto';
import type pg from 'pg';

/**
 * The statements of the money path (the transactions that submit, approve, reverse and pay) are
 * sent as named, prepared statements on each connection of the pool: PostgreSQL parses and plans
 * each once per connection and then only binds and runs it. Planning is most of the work of a
 * small statement: the approval's joined read takes 0.43 ms planned afresh each time and 0.14 ms
 * prepared (pgbench, one client, this machine); measured per approval in bench/README.md.
 *
 * Only statements inside a transaction (between the `begin` and the `commit` or `rollback`
 * drizzle sends) or read together on a connection held for them (readTogether, src/db/tx.ts) are
 * named, with parameters, of at most MAX_TEXT characters, and seen at least twice by this pool.
 * Other reads outside a transaction (reports, whose plans should follow their ranges rather than
 * settle on a generic one) and one-off statements (a migration, a bulk load) stay unnamed. Each connection keeps at most MAX_PER_CONNECTION of them (PostgreSQL holds each
 * prepared statement's plan in the backend's memory until the connection closes); beyond that,
 * statements run unnamed as before. The name is a digest of the text, so one name always means
 * one text, which node-postgres requires.
 */
const MAX_TEXT = 8_000;
const MIN_SEEN = 2;
/** Named statements a connection (or the embedded database's one backend) keeps at most. */
export const MAX_PER_CONNECTION = 300;
/** How many distinct texts are counted (so a stream of one-off texts cannot grow it without bound). */
const MAX_COUNTED = 10_000;

/**
 * The rule for which statements get a name, shared by PostgreSQL's pool (below) and the embedded
 * database (src/db/pglite-statements.ts): a statement run inside a transaction (the caller's
 * check), with parameters, at most MAX_TEXT characters, from the MIN_SEEN-th time it is seen. The
 * name is a digest of the text, so one name always means one text. Undefined: run it unnamed.
 */
export function repeatedStatementNames(): (text: string, values: readonly unknown[] | undefined) => string | undefined {
  // How often each text was seen, and its name once it has one (a digest per text, not per query).
  const seen = new Map<string, { count: number; name?: string }>();
  return (text, values) => {
    if (!values?.length || text.length > MAX_TEXT) return undefined;
    let entry = seen.get(text);
    if (!entry) {
      if (seen.size >= MAX_COUNTED) return undefined;
      entry = { count: 0 };
      seen.set(text, entry);
    }
    if (entry.count < MIN_SEEN) entry.count += 1;
    if (entry.count < MIN_SEEN) return undefined;
    return (entry.name ??= `s_${createHash('sha1').update(text).digest('base64url')}`);
  };
}

interface QueryConfig {
  text?: unknown;
  values?: unknown[];
  name?: string;
}

/** Set on a connection while readTogether holds it: its statements are named as a transaction's. */
const READING_TOGETHER = Symbol('reading together');

/** Marks a pooled connection as held for reads that go together (readTogether), or no longer. */
export function readingTogether(client: pg.PoolClient, on: boolean): void {
  (client as unknown as Record<symbol, boolean>)[READING_TOGETHER] = on;
}

/** Pools already set up (several apps may share one pool, as tests do). */
const pools = new WeakSet<pg.Pool>();

export function nameRepeatedStatements(pool: pg.Pool): void {
  if (pools.has(pool)) return;
  pools.add(pool);
  const nameOf = repeatedStatementNames();
  const wrapped = new WeakSet<pg.PoolClient>();
  pool.on('acquire', (client) => {
    if (wrapped.has(client)) return;
    wrapped.add(client);
    const named = new Set<string>();
    let inTransaction = false;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const config = args[0] as QueryConfig | string;
      const text = typeof config === 'string' ? config : config?.text;
      if (typeof text === 'string' && text.length <= 100) {
        if (/^\s*(begin|start transaction)\b/i.test(text)) inTransaction = true;
        else if (/^\s*(commit|end|rollback)\b/i.test(text) && !/^\s*rollback\s+to\b/i.test(text)) inTransaction = false;
      }
      const naming = inTransaction || (client as unknown as Record<symbol, boolean>)[READING_TOGETHER] === true;
      if (!naming || typeof config !== 'object' || config === null || config.name !== undefined) return query(...args);
      // drizzle passes the values beside the config (`query(config, values)`), pg also takes them in it.
      const values = config.values ?? (Array.isArray(args[1]) ? (args[1] as unknown[]) : undefined);
      const name = typeof text === 'string' ? nameOf(text, values) : undefined;
      if (name === undefined) return query(...args);
      if (!named.has(name)) {
        if (named.size >= MAX_PER_CONNECTION) return query(...args);
        named.add(name);
      }
      return query({ ...config, name }, ...args.slice(1));
    };
  });
}
