import type { Db } from './client.js';

/**
 * A statement of the money path built once and run many times, in whichever transaction asks.
 *
 * drizzle builds a query's SQL text and its result mapping afresh from the query builder on every
 * execution: for the approval's joined read (three tables' columns, 2,400 characters of SQL) that
 * is about 200 µs of the service's CPU each time, more than the round trip costs. drizzle's own
 * answer is a prepared query (`.prepare(name)` with `sql.placeholder(...)` for the values that
 * change), but a prepared query belongs to the database or transaction it was prepared on, and
 * every request has its own transaction. So the statement is prepared once per driver, on the first
 * transaction that runs it, and each later run borrows it with that run's own connection: the text,
 * the parameters' places and the mapping are shared, the connection is not.
 *
 * This relies on drizzle's prepared queries (node-postgres and PGlite alike) sending through their
 * `client` property, which test/prepared.test.ts checks on both databases: a borrowed statement
 * sees its own transaction's uncommitted rows and nobody else's, and rolls back with it.
 *
 * The name also names the statement on PostgreSQL's connections (prepared once per connection by
 * node-postgres), so each must be unique to its text.
 */
interface Executable<R> {
  execute(placeholders?: Record<string, unknown>): Promise<R>;
}

interface Borrowable {
  client: unknown;
}

interface Session {
  client: unknown;
}

const names = new Set<string>();

export function preparedStatement<R, P extends Record<string, unknown>>(
  name: string,
  build: (db: Db) => { prepare(name: string): Executable<R> },
): (db: Db, values: P) => Promise<R> {
  if (names.has(name)) throw new Error(`Two prepared statements are named ${name}`);
  names.add(name);
  // One per driver (a process may hold an embedded database and PostgreSQL, as tools do).
  const byDriver = new Map<unknown, Executable<R>>();
  return (db, values) => {
    const session = db._.session as unknown as Session;
    const driver = session.constructor;
    let prepared = byDriver.get(driver);
    if (!prepared) {
      prepared = build(db).prepare(name);
      // Held for its text and mapping only: every run lends it a connection.
      (prepared as Executable<R> & Borrowable).client = null;
      byDriver.set(driver, prepared);
    }
    const borrowed = Object.create(prepared) as Executable<R> & Borrowable;
    borrowed.client = session.client;
    return borrowed.execute(values);
  };
}
