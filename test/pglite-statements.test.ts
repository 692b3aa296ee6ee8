/**
 * Named statements on the embedded database (src/db/pglite-statements.ts): a statement run again
 * inside a transaction is prepared once and then only bound and run, and callers cannot tell the
 * difference: the same rows, the same parsed values, the same errors, the same rollbacks. This
 * file opens a PGlite of its own, whichever database the suite runs on.
 */
import { PGlite, types, type Transaction } from '@electric-sql/pglite';
import t from 'tap';
import { nameRepeatedStatementsOnPglite } from '../src/db/pglite-statements.js';

const pglite = await PGlite.create();
t.teardown(() => pglite.close());
nameRepeatedStatementsOnPglite(pglite);
await pglite.exec(`
  create table things (id int primary key, name text not null, at timestamptz, doc jsonb, tags text[], amount bigint);
  insert into things values (1, 'one', '2026-01-02T03:04:05Z', '{"a": [1, 2]}', '{x,y}', 9007199254740993), (2, 'two', null, null, null, null);
`);

/** Protocol calls PGlite's public execProtocol receives (its own query uses a private path). */
let calls = 0;
const execProtocol = pglite.execProtocol.bind(pglite);
pglite.execProtocol = ((...args: Parameters<PGlite['execProtocol']>) => {
  calls += 1;
  return execProtocol(...args);
}) as PGlite['execProtocol'];

const inTransaction = <T>(fn: (tx: Transaction) => Promise<T>) => pglite.transaction(fn);
const byId = 'select id, name, at, doc, tags, amount, $2::text as echoed from things where id = $1';
/** drizzle's own options for the embedded driver: rows as arrays, dates left as text. */
const drizzleOptions = { rowMode: 'array' as const, parsers: { [types.TIMESTAMPTZ]: (v: string) => v } };

t.test('a repeated statement is prepared once, then bound and run, with the same results as PGlite gives', async (t) => {
  const expected = await pglite.query(byId, [1, 'hello'], drizzleOptions);
  const before = calls;
  const runs = [];
  for (let i = 0; i < 4; i++) runs.push(await inTransaction((tx) => tx.query(byId, [1, 'hello'], drizzleOptions)));
  t.equal(calls - before, 4, 'PGlite itself the first time, then one call to prepare and one per run (2 + 1 + 1)');
  for (const result of runs) {
    t.same(result.rows, expected.rows, 'same rows');
    t.same(result.fields, expected.fields, 'same columns');
  }
  t.same(runs[3]!.rows, [[1, 'one', '2026-01-02 03:04:05+00', { a: [1, 2] }, ['x', 'y'], 9007199254740993n, 'hello']], 'jsonb, arrays, bigint parsed; timestamps as the caller asked');

  const objects = await inTransaction((tx) => tx.query<{ id: number; at: Date; echoed: string | null }>(byId, [2, null]));
  t.same(objects.rows, [{ id: 2, name: 'two', at: null, doc: null, tags: null, amount: null, echoed: null }], 'rows as objects, nulls as nulls');
});

t.test('the caller’s parsers go over PGlite’s, and PGlite’s table stays live beneath them', async (t) => {
  // The wrapper layers a caller's parsers over PGlite's table instead of copying both for each
  // result; a copy would hide later changes to the table, so this holds it to PGlite's own query.
  const named = 'select id, at, amount, $2::text as echoed from things where id = $1';
  const callerOptions = { rowMode: 'array' as const, parsers: { [types.TIMESTAMPTZ]: (v: string) => `at ${v}` } };
  const both = async () => ({
    own: (await pglite.query<unknown[]>(named, [1, 'x'], callerOptions)).rows,
    wrapped: (await inTransaction((tx) => tx.query<unknown[]>(named, [1, 'x'], callerOptions))).rows,
  });
  await inTransaction((tx) => tx.query(named, [1, 'x'], callerOptions)); // the first run is PGlite's own
  let rows = await both();
  t.same(rows.wrapped, rows.own, 'same values as PGlite gives');
  t.same(rows.wrapped, [[1, 'at 2026-01-02 03:04:05+00', 9007199254740993n, 'x']], 'the caller’s parser for timestamps, PGlite’s for the rest');

  const parsers = (pglite as unknown as { parsers: Record<number, (v: string) => unknown> }).parsers;
  const int8 = parsers[types.INT8]!;
  parsers[types.INT8] = (v) => `int8 ${v}`; // changed in place, as PGlite adds its array types
  rows = await both();
  t.same(rows.wrapped, rows.own, 'a parser PGlite changed in place is used, as its own query uses it');
  t.equal(rows.wrapped[0]![2], 'int8 9007199254740993');

  (pglite as unknown as { parsers: typeof parsers }).parsers = { ...parsers, [types.INT8]: (v: string) => `replaced ${v}` };
  rows = await both();
  t.same(rows.wrapped, rows.own, 'a table PGlite was given anew is used');
  t.equal(rows.wrapped[0]![2], 'replaced 9007199254740993');
  (pglite as unknown as { parsers: typeof parsers }).parsers = parsers;
  parsers[types.INT8] = int8;
  t.same((await both()).wrapped[0]![2], 9007199254740993n, 'put back');
});

t.test('writes report what they changed, and roll back with their transaction', async (t) => {
  const update = 'update things set name = $1 where id = $2';
  for (let i = 0; i < 3; i++) {
    const result = await inTransaction((tx) => tx.query(update, [`renamed ${i}`, 2]));
    t.equal(result.affectedRows, 1);
  }
  await t.rejects(
    inTransaction(async (tx) => {
      await tx.query(update, ['not kept', 2]);
      throw new Error('changed my mind');
    }),
    /changed my mind/,
  );
  t.same((await pglite.query('select name from things where id = 2')).rows, [{ name: 'renamed 2' }], 'the rolled-back write is gone');
});

t.test('a database error is PGlite’s own, with the statement attached, and the transaction rolls back', async (t) => {
  const insert = 'insert into things (id, name) values ($1, $2)';
  await inTransaction((tx) => tx.query(insert, [10, 'ten']));
  await inTransaction((tx) => tx.query(insert, [11, 'eleven']));
  const error = await inTransaction(async (tx) => {
    await tx.query(insert, [12, 'twelve']);
    return tx.query(insert, [10, 'again']);
  }).catch((e: unknown) => e as { code?: string; query?: string; params?: unknown[] });
  t.match(error, { code: '23505', query: insert, params: [10, 'again'] }, 'unique violation, as PGlite reports it');
  t.same((await pglite.query('select id from things where id >= 10 order by id')).rows, [{ id: 10 }, { id: 11 }], 'twelve rolled back with it');
  t.same((await inTransaction((tx) => tx.query(insert, [13, 'thirteen']))).affectedRows, 1, 'the next transaction works');
});

t.test('statements sent together in one transaction each get their own answer', async (t) => {
  const pick = 'select $1::int * 2 as doubled';
  await inTransaction((tx) => tx.query(pick, [0]));
  const results = await inTransaction((tx) => Promise.all(Array.from({ length: 20 }, (_, i) => tx.query<{ doubled: number }>(pick, [i]))));
  t.same(
    results.map((r) => r.rows[0]!.doubled),
    Array.from({ length: 20 }, (_, i) => i * 2),
  );
});

t.test('statements outside a transaction, and statements without parameters, stay as they are', async (t) => {
  const before = calls;
  for (let i = 0; i < 3; i++) await pglite.query('select name from things where id = $1', [1]);
  for (let i = 0; i < 3; i++) await inTransaction((tx) => tx.query('select count(*) from things'));
  t.equal(calls, before, 'PGlite ran them all itself');
});

t.test('a statement whose columns change under it is prepared again', async (t) => {
  const all = 'select * from things where id = $1';
  for (let i = 0; i < 3; i++) await inTransaction((tx) => tx.query(all, [1]));
  await pglite.exec('alter table things add column extra text');
  // PostgreSQL refuses a prepared statement whose columns changed: this transaction fails …
  await t.rejects(inTransaction((tx) => tx.query(all, [1])), { code: '0A000' });
  // … and the next one prepares it again.
  const again = await inTransaction((tx) => tx.query<{ extra: string | null }>(all, [1]));
  t.same(again.rows.map((r) => r.extra), [null], 'the new column is there');
});

t.test('a statement that fails is prepared again next time, so a change under it cannot fail it for good', async (t) => {
  // Found by review (2026-12-01): parameter types are fixed when a statement is prepared, so after
  // a column's type changed, or after DEALLOCATE ALL, it failed on every run until a restart, where
  // PGlite's own query (which prepares every time) succeeded.
  await pglite.exec('create table counters (id int primary key, cents int not null)');
  await pglite.exec('insert into counters values (1, 100)');
  const add = 'update counters set cents = cents + $1 where id = $2 returning cents';
  for (let i = 0; i < 2; i++) await inTransaction((tx) => tx.query(add, [1, 1]));
  await pglite.exec('alter table counters alter column cents type bigint');
  const big = () => inTransaction((tx) => tx.query<{ cents: number }>(add, [3_000_000_000, 1]));
  await t.rejects(big(), { code: '22003' }, 'the statement prepared for an int column fails once');
  t.same((await big()).rows, [{ cents: 3_000_000_102 }], 'prepared again for the bigint column, it runs');

  const read = 'select cents from counters where id = $1';
  for (let i = 0; i < 3; i++) await inTransaction((tx) => tx.query(read, [1]));
  await pglite.exec('deallocate all');
  await t.rejects(inTransaction((tx) => tx.query(read, [1])), { code: '26000' }, 'gone from the backend: fails once');
  t.same((await inTransaction((tx) => tx.query(read, [1]))).rows, [{ cents: 3_000_000_102 }], 'then prepared again');
});
