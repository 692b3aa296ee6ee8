import { createHash } from 'node:crypto';
import { and, eq, getTableColumns, getTableName, sql } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';
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

type Values = Record<string, unknown>;

/** The columns a write sets: those with a value (undefined means "leave it", as in drizzle). */
const setColumns = (values: Values) => Object.keys(values).filter((k) => values[k] !== undefined).sort();

const placeholders = (columns: string[]) => Object.fromEntries(columns.map((c) => [c, sql.placeholder(c)]));

/** A default or update value computed in JavaScript would be computed once, when prepared: refused. */
function assertNoJsDefaults(table: PgTable) {
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const c = column as { defaultFn?: unknown; onUpdateFn?: unknown };
    if (c.defaultFn || c.onUpdateFn) throw new Error(`${getTableName(table)}.${key} has a value computed in JavaScript: it cannot be prepared once`);
  }
}

type Run = (db: Db, values: Values) => Promise<unknown[]>;
const byKey = new Map<string, Run>();

/**
 * The statement known by `key`, prepared (as preparedStatement, named `name()`) the first time it
 * is asked for: for statements made per table or per set of columns rather than once per module.
 */
export function preparedFor(key: string, name: () => string, build: (db: Db) => { prepare(name: string): Executable<unknown[]> }): Run {
  let run = byKey.get(key);
  if (!run) {
    run = preparedStatement(name(), build);
    byKey.set(key, run);
  }
  return run;
}

/** The write of `kind` on `table` setting `columns`, prepared the first time it is asked for. */
function writeOfShape(kind: 'insert' | 'update', table: PgTable, columns: string[], build: (db: Db) => { prepare(name: string): Executable<unknown[]> }): Run {
  const shape = `${kind}:${getTableName(table)}:${columns.join(',')}`;
  return preparedFor(shape, () => `${kind}_${getTableName(table)}_${createHash('sha1').update(shape).digest('base64url').slice(0, 12)}`, (db) => {
    assertNoJsDefaults(table);
    return build(db);
  });
}

/**
 * Inserts one row and returns it, as `db.insert(table).values(values).returning()` does, with the
 * statement prepared once per table and set of columns (see preparedStatement).
 */
export async function insertReturning<T extends PgTable>(db: Db, table: T, values: T['$inferInsert']): Promise<T['$inferSelect']> {
  const columns = setColumns(values as Values);
  const run = writeOfShape('insert', table, columns, (db) =>
    db
      .insert(table as PgTable)
      .values(placeholders(columns) as never)
      .returning(),
  );
  const [row] = await run(db, values as Values);
  return row as T['$inferSelect'];
}

type OrganisationTable = PgTable & { organisationId: AnyPgColumn; id: AnyPgColumn };

/**
 * Sets `values` on one of an organisation's rows by id and returns it (undefined when there is no
 * such row), as `db.update(table).set(values).where(...).returning()` does, prepared once per table
 * and set of columns. The placeholders of the row's identity cannot meet a column's name: they
 * start with `$`.
 */
export async function updateReturning<T extends OrganisationTable>(
  db: Db,
  table: T,
  organisationId: string,
  id: string,
  values: Partial<T['$inferInsert']>,
): Promise<T['$inferSelect'] | undefined> {
  const columns = setColumns(values as Values);
  const run = writeOfShape('update', table, columns, (db) =>
    db
      .update(table as PgTable)
      .set(placeholders(columns) as never)
      .where(and(eq(table.organisationId, sql.placeholder('$organisationId')), eq(table.id, sql.placeholder('$id'))))
      .returning(),
  );
  const [row] = await run(db, { ...(values as Values), $organisationId: organisationId, $id: id });
  return row as T['$inferSelect'] | undefined;
}
