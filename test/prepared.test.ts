/**
 * A statement prepared once (src/db/prepared.ts) runs in the transaction that asks for it each
 * time: it sees that transaction's uncommitted rows and nobody else's, is rolled back with it, and
 * maps its rows as drizzle's query builder does. On the database the suite runs on (PGlite, or
 * PostgreSQL with TEST_DATABASE_URL), on a table of its own.
 */
import { and, eq, sql } from 'drizzle-orm';
import { integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import t from 'tap';
import { insertReturning, preparedStatement, updateReturning } from '../src/db/prepared.js';
import { testDatabase } from './helpers/database.js';

const { db } = await testDatabase();
const tableName = `prepared_probe_${process.pid}`;
const probe = pgTable(tableName, {
  id: text('id').primaryKey(),
  owner: text('owner').notNull(),
  minutes: integer('minutes').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
});
/** For the writes: rows of an organisation by id, a column with a default, a JSON column. */
const writable = pgTable(`${tableName}_w`, {
  organisationId: text('organisation_id').notNull(),
  id: text('id').notNull(),
  note: text('note'),
  status: text('status').notNull().default('new'),
  warnings: jsonb('warnings').$type<string[]>(),
});
await db.execute(sql.raw(`create table ${tableName} (id text primary key, owner text not null, minutes integer not null, created_at timestamptz not null)`));
await db.execute(sql.raw(`create table ${tableName}_w (organisation_id text not null, id text not null, note text, status text not null default 'new', warnings jsonb, primary key (organisation_id, id))`));
t.teardown(async () => {
  await db.execute(sql.raw(`drop table ${tableName}, ${tableName}_w`));
  await (await testDatabase()).close();
});

const ofOwner = preparedStatement('prepared_probe_of_owner', (db) =>
  db
    .select({ id: probe.id, minutes: probe.minutes, createdAt: probe.createdAt })
    .from(probe)
    .where(and(eq(probe.owner, sql.placeholder('owner')), eq(probe.minutes, sql.placeholder('minutes'))))
    .orderBy(probe.id),
);

const at = new Date('2026-11-30T10:15:00.000Z');

t.test('each run reads in the transaction that asks, with its own values', async (t) => {
  await db.insert(probe).values({ id: 'a1', owner: 'a', minutes: 30, createdAt: at });
  t.same(await ofOwner(db, { owner: 'a', minutes: 30 }), [{ id: 'a1', minutes: 30, createdAt: at }], 'outside a transaction, mapped as drizzle maps');

  await db
    .transaction(async (tx) => {
      await tx.insert(probe).values({ id: 'b1', owner: 'b', minutes: 45, createdAt: at });
      const inside = await ofOwner(tx, { owner: 'b', minutes: 45 });
      t.same(inside.map((r) => r.id), ['b1'], "a run inside sees its transaction's uncommitted row");
      t.type(inside[0]!.createdAt, Date, 'timestamps come back as dates');
      t.same(await ofOwner(tx, { owner: 'a', minutes: 30 }), [{ id: 'a1', minutes: 30, createdAt: at }], 'and other values in the same transaction');
      tx.rollback();
    })
    .catch((error: unknown) => {
      if (!(error instanceof Error) || !/rollback/i.test(error.message)) throw error;
    });
  t.same(await ofOwner(db, { owner: 'b', minutes: 45 }), [], 'rolled back with its transaction');
});

t.test('two transactions at once each see only their own rows', async (t) => {
  // On PGlite (one connection) transactions run one after the other; on PostgreSQL at once.
  const seen: string[][] = [];
  await Promise.all(
    ['c', 'd'].map((owner) =>
      db.transaction(async (tx) => {
        await tx.insert(probe).values({ id: `${owner}1`, owner: 'shared', minutes: 15, createdAt: at });
        seen.push((await ofOwner(tx, { owner: 'shared', minutes: 15 })).map((r) => r.id));
        tx.rollback();
      }).catch((error: unknown) => {
        if (!(error instanceof Error) || !/rollback/i.test(error.message)) throw error;
      }),
    ),
  );
  t.same(seen.sort(), [['c1'], ['d1']], 'neither saw the other');
});

t.test('a name is one statement', async (t) => {
  t.throws(() => preparedStatement('prepared_probe_of_owner', (db) => db.select().from(probe)), /Two prepared statements are named/);
});

t.test('inserts and updates prepared per set of columns write what they are given, and leave the rest to the defaults', async (t) => {
  const first = await insertReturning(db, writable, { organisationId: 'o1', id: 'w1', note: 'first', warnings: ['a', 'b'] });
  t.same(first, { organisationId: 'o1', id: 'w1', note: 'first', status: 'new', warnings: ['a', 'b'] }, 'the row as written, the default filled in');
  const second = await insertReturning(db, writable, { organisationId: 'o1', id: 'w2', note: undefined, status: 'kept', warnings: undefined });
  t.same(second, { organisationId: 'o1', id: 'w2', note: null, status: 'kept', warnings: null }, 'undefined leaves a column to its default, as drizzle does');
  const third = await insertReturning(db, writable, { organisationId: 'o2', id: 'w1', note: 'same columns as the first', warnings: [] });
  t.same([third.organisationId, third.id, third.note, third.warnings], ['o2', 'w1', 'same columns as the first', []], 'the same statement again, with its own values');

  await db
    .transaction(async (tx) => {
      const changed = await updateReturning(tx, writable, 'o1', 'w1', { status: 'done', note: undefined, warnings: ['c'] });
      t.same(changed, { organisationId: 'o1', id: 'w1', note: 'first', status: 'done', warnings: ['c'] }, 'an update sets only what it is given');
      t.equal(await updateReturning(tx, writable, 'o3', 'w1', { status: 'done', warnings: ['c'] }), undefined, "another organisation's id changes nothing");
      tx.rollback();
    })
    .catch((error: unknown) => {
      if (!(error instanceof Error) || !/rollback/i.test(error.message)) throw error;
    });
  const [after] = await db.select().from(writable).where(and(eq(writable.organisationId, 'o1'), eq(writable.id, 'w1')));
  t.equal(after!.status, 'new', 'the update rolled back with its transaction');
  t.equal((await updateReturning(db, writable, 'o2', 'w1', { status: 'done' }))!.status, 'done', 'and outside one it is written');
});

t.test('a table with a value computed in JavaScript is refused, not prepared with one value for ever', async (t) => {
  const stamped = pgTable(`${tableName}_js`, {
    organisationId: text('organisation_id').notNull(),
    id: text('id').notNull().$defaultFn(() => 'x'),
  });
  await t.rejects(insertReturning(db, stamped, { organisationId: 'o1' }), /computed in JavaScript/);
});
