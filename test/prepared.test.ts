/**
 * A statement prepared once (src/db/prepared.ts) runs in the transaction that asks for it each
 * time: it sees that transaction's uncommitted rows and nobody else's, is rolled back with it, and
 * maps its rows as drizzle's query builder does. On the database the suite runs on (PGlite, or
 * PostgreSQL with TEST_DATABASE_URL), on a table of its own.
 */
import { and, eq, sql } from 'drizzle-orm';
import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import t from 'tap';
import { preparedStatement } from '../src/db/prepared.js';
import { testDatabase } from './helpers/database.js';

const { db } = await testDatabase();
const tableName = `prepared_probe_${process.pid}`;
const probe = pgTable(tableName, {
  id: text('id').primaryKey(),
  owner: text('owner').notNull(),
  minutes: integer('minutes').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
});
await db.execute(sql.raw(`create table ${tableName} (id text primary key, owner text not null, minutes integer not null, created_at timestamptz not null)`));
t.teardown(async () => {
  await db.execute(sql.raw(`drop table ${tableName}`));
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
