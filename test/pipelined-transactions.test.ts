/**
 * A transaction's begin and commit ride with its first and last statements on PostgreSQL
 * (src/db/pipelined-transactions.ts). First on a stand-in client that records what reaches it
 * and in which write, so the wrapper's rules are checked everywhere; then, with TEST_DATABASE_URL,
 * on real PostgreSQL through the service's own pool: how many round trips a transaction takes, and that
 * a failing last statement or a failing commit leaves nothing written and the connection usable.
 * On PGlite the same calls run as an ordinary transaction.
 */
import { sql } from 'drizzle-orm';
import type pg from 'pg';
import t from 'tap';
import { newPostgresPool, type Db } from '../src/db/client.js';
import { allAnswered, commitWithNextStatement, pipelineTransactionEnds, releasedToPool, watchRoundTrips } from '../src/db/pipelined-transactions.js';
import { inTransaction, isInTransaction, pgErrorCode, readTogether } from '../src/db/tx.js';
import { testDatabase, usingPostgres } from './helpers/database.js';

interface Sent {
  text: string;
  /** Which write to the socket carried it: statements sent between one cork and its uncork share one. */
  write: number;
}

/** A client whose `query` records each text and answers from `answers` (an Error rejects, a string is the command tag). */
function standIn(answers: Record<string, Error | string | undefined> = {}, transactionStatus = 'I') {
  const sent: Sent[] = [];
  // As a socket does: while corked, what is written waits, and leaves in one write at the uncork.
  let corked = 0;
  let write = 0;
  let open = false;
  const stream = {
    cork: () => {
      corked += 1;
    },
    uncork: () => {
      if (--corked === 0) open = false;
    },
  };
  const client = { connection: { stream }, getTransactionStatus: () => transactionStatus } as unknown as pg.ClientBase;
  const raw = (config: string | { text: string }) => {
    const text = typeof config === 'string' ? config : config.text;
    if (corked === 0 || !open) write += 1;
    open = corked > 0;
    sent.push({ text, write });
    const answer = answers[text];
    // The answer arrives as a server's would: from the socket, after this tick's work.
    return new Promise((resolve, reject) =>
      setImmediate(() => (answer instanceof Error ? reject(answer) : resolve({ command: answer ?? text.split(' ')[0]!.toUpperCase(), rows: [] }))),
    );
  };
  const query = pipelineTransactionEnds(client, raw as (...args: unknown[]) => unknown) as (text: string | { text: string }, values?: unknown[]) => Promise<pg.QueryResult>;
  // commitWithNextStatement finds the client through a drizzle transaction's session.
  const tx = { _: { session: { client } } } as unknown as Db;
  return { sent, query, tx, client };
}

t.test('begin waits for the first statement and is written with it; commit goes alone', async (t) => {
  const { sent, query } = standIn();
  const begun = await query({ text: 'begin' }, []);
  t.equal(begun.command, 'BEGIN', 'begin is answered at once');
  t.same(sent, [], 'and nothing has reached the server');
  await query({ text: 'select 1 where $1::int = 1' }, [1]);
  await query({ text: 'insert into x values ($1)' }, [2]);
  await query({ text: 'commit' }, []);
  t.same(sent, [
    { text: 'begin', write: 1 },
    { text: 'select 1 where $1::int = 1', write: 1 },
    { text: 'insert into x values ($1)', write: 2 },
    { text: 'commit', write: 3 },
  ]);
});

t.test('a transaction that sends nothing reaches the server not at all', async (t) => {
  const { sent, query } = standIn();
  await query({ text: 'begin' }, []);
  t.equal((await query({ text: 'commit' }, [])).command, 'COMMIT');
  await query({ text: 'begin' }, []);
  t.equal((await query({ text: 'rollback' }, [])).command, 'ROLLBACK');
  t.same(sent, []);
});

t.test('told that a statement is the last, commit is written with it and drizzle’s own commit is answered here', async (t) => {
  const { sent, query, tx } = standIn();
  await query({ text: 'begin' }, []);
  await query({ text: 'select $1::int' }, [1]);
  t.ok(commitWithNextStatement(tx), 'the wrapper takes it');
  await query({ text: 'insert into held values ($1)' }, [2]);
  t.equal((await query({ text: 'commit' }, [])).command, 'COMMIT');
  t.same(sent, [
    { text: 'begin', write: 1 },
    { text: 'select $1::int', write: 1 },
    { text: 'insert into held values ($1)', write: 2 },
    { text: 'commit', write: 2 },
  ]);
  // The next transaction starts afresh.
  await query({ text: 'begin' }, []);
  await query({ text: 'select 2' });
  await query({ text: 'commit' }, []);
  t.same(sent.slice(4).map((s) => s.text), ['begin', 'select 2', 'commit']);
});

t.test('a first statement that is also the last takes begin, itself and commit in one write', async (t) => {
  const { sent, query, tx } = standIn();
  await query({ text: 'begin' }, []);
  commitWithNextStatement(tx);
  await query({ text: 'insert into only values ($1)' }, [1]);
  await query({ text: 'commit' }, []);
  t.same(sent, [
    { text: 'begin', write: 1 },
    { text: 'insert into only values ($1)', write: 1 },
    { text: 'commit', write: 1 },
  ]);
});

t.test('statements sent without waiting for one another leave in one write; one sent after an answer in the next', async (t) => {
  const { sent, query } = standIn();
  await query({ text: 'begin' }, []);
  await allAnswered([query({ text: 'select 1' }), query({ text: 'select 2' }), query({ text: 'select 3' })]);
  // Sent from a promise callback, as drizzle's queries are: still the same tick's work.
  await allAnswered([query({ text: 'select 4' }), Promise.resolve().then(() => query({ text: 'select 5' }))]);
  await query({ text: 'commit' }, []);
  t.same(sent, [
    { text: 'begin', write: 1 },
    { text: 'select 1', write: 1 },
    { text: 'select 2', write: 1 },
    { text: 'select 3', write: 1 },
    { text: 'select 4', write: 2 },
    { text: 'select 5', write: 2 },
    { text: 'commit', write: 3 },
  ]);
});

t.test('the last statement failing: its error is what the caller sees, and the rollback after it is answered here', async (t) => {
  const failure = new Error('duplicate key value violates unique constraint');
  const { sent, query, tx } = standIn({ 'insert into held values ($1)': failure });
  await query({ text: 'begin' }, []);
  await query({ text: 'select 1' });
  commitWithNextStatement(tx);
  await t.rejects(query({ text: 'insert into held values ($1)' }, [1]), failure);
  t.equal((await query({ text: 'rollback' }, [])).command, 'ROLLBACK');
  t.same(sent.map((s) => s.text), ['begin', 'select 1', 'insert into held values ($1)', 'commit'], 'the rollback never reached the server (its commit already ended the transaction)');
});

t.test('a commit that fails fails the last statement’s call with the commit’s error', async (t) => {
  const failure = new Error('the transaction does not balance');
  const { query, tx } = standIn({ commit: failure });
  await query({ text: 'begin' }, []);
  await query({ text: 'select 1' });
  commitWithNextStatement(tx);
  await t.rejects(query({ text: 'insert into held values ($1)' }, [1]), failure);
  await query({ text: 'rollback' }, []);
});

t.test('a statement sent after its transaction committed with its last statement is refused, not run outside it', async (t) => {
  const { sent, query, tx } = standIn();
  await query({ text: 'begin' }, []);
  await query({ text: 'select 1' });
  commitWithNextStatement(tx);
  await query({ text: 'insert into held values ($1)' }, [1]);
  await t.rejects(query({ text: 'update x set y = 1' }), /already committed/);
  await t.rejects(query({ text: 'delete from x' }), /already committed/, 'and so is every one after it');
  t.notOk(sent.some((s) => s.text.startsWith('update') || s.text.startsWith('delete')), 'none reached the server');
  t.equal((await query({ text: 'rollback' }, [])).command, 'ROLLBACK', 'until drizzle ends the transaction');
  await query({ text: 'select 2' });
  t.equal(sent.at(-1)!.text, 'select 2', 'after which statements go as they come');
});

t.test('a last statement with a parameter node-postgres must convert does not take the commit', async (t) => {
  // A conversion that throws fails the statement before it reaches the server; a commit behind it
  // would commit what came before.
  const { sent, query, tx } = standIn();
  await query({ text: 'begin' }, []);
  await query({ text: 'select 1' });
  commitWithNextStatement(tx);
  await query({ text: 'insert into held values ($1)' }, [{ toPostgres: () => 'x' }]);
  await query({ text: 'commit' }, []);
  t.same(sent.map((s) => s.text), ['begin', 'select 1', 'insert into held values ($1)', 'commit']);
  t.not(sent[2]!.write, sent[3]!.write, 'the commit went alone, as drizzle sent it');
});

t.test('a commit the server answers as a rollback fails the call: nothing was written', async (t) => {
  const { query, tx } = standIn({ commit: 'ROLLBACK' });
  await query({ text: 'begin' }, []);
  await query({ text: 'select 1' });
  commitWithNextStatement(tx);
  await t.rejects(query({ text: 'insert into held values ($1)' }, [1]), /did not commit/);
});

t.test('a savepoint never takes the commit: it would end the transaction around it', async (t) => {
  const { query, tx } = standIn();
  await query({ text: 'begin' }, []);
  await query({ text: 'select 1' });
  t.notOk(commitWithNextStatement(Object.assign(Object.create(tx), { nestedIndex: 1 }) as Db));
});

t.test('back in the pool, a client forgets its transaction, and one left open is rolled back first', async (t) => {
  const clean = standIn();
  await clean.query({ text: 'begin' }, []);
  releasedToPool(clean.client);
  await clean.query({ text: 'select 1' });
  t.same(clean.sent.map((s) => s.text), ['select 1'], 'a begin held for a transaction that never sent anything is forgotten');

  const open = standIn({}, 'T');
  await open.query({ text: 'begin' }, []);
  await open.query({ text: 'select 1' });
  releasedToPool(open.client);
  t.same(open.sent.map((s) => s.text), ['begin', 'select 1', 'rollback'], 'a connection still in a transaction is rolled back before anyone else uses it');
});

t.test('of statements sent together, the error reported is the cause, not an aborted transaction after it', async (t) => {
  const aborted = Object.assign(new Error('current transaction is aborted'), { code: '25P02' });
  const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
  await t.rejects(allAnswered([Promise.resolve(1), Promise.reject(aborted), Promise.reject(deadlock)]), deadlock);
  await t.rejects(allAnswered([Promise.reject(aborted)]), aborted, 'an aborted transaction alone is reported as it is');
  t.same(await allAnswered([Promise.resolve(1), 2] as const), [1, 2]);
});

t.test('a begin with options, and anything outside a transaction, go as they come', async (t) => {
  const { sent, query, tx } = standIn();
  await query({ text: 'select 1' });
  await query({ text: 'begin isolation level serializable' }, []);
  await query({ text: 'select 2' });
  await query({ text: 'commit' }, []);
  t.same(sent.map((s) => s.write), [1, 2, 3, 4], 'each in its own write');
  commitWithNextStatement(tx);
  await query({ text: 'select 3' });
  t.equal(sent.at(-1)!.text, 'select 3', 'outside a transaction, "the last statement" means nothing');
});

t.test('readTogether: one connection without a transaction on PostgreSQL, a transaction on PGlite, the caller’s inside one', async (t) => {
  const database = await testDatabase();
  type Row = { pid: number; xact: string | null; now: string };
  const probe = async (db: Db) =>
    ((await db.execute(sql`select pg_backend_pid() as pid, txid_current_if_assigned()::text as xact, statement_timestamp()::text as now, transaction_timestamp() = statement_timestamp() as own`)) as unknown as { rows: (Row & { own: boolean })[] }).rows[0]!;
  const [first, second, inside] = await readTogether(database.db, async (db) => {
    const together = await allAnswered([probe(db), probe(db)]);
    return [...together, isInTransaction(db)] as const;
  });
  t.equal(first.pid, second.pid, 'one connection');
  if (usingPostgres()) {
    t.notOk(inside, 'not a transaction');
    t.ok(first.own && second.own, 'each read its own implicit transaction (its transaction began with it)');
  } else {
    t.ok(inside, 'the embedded database reads in a transaction, where it prepares repeated statements');
  }
  const nested = await inTransaction(database.db, async (tx) => {
    const outer = await probe(tx);
    const inner = await readTogether(tx, async (db) => ({ same: db === tx, row: await probe(db) }));
    return { outer, inner };
  });
  t.ok(nested.inner.same, 'inside a transaction, readTogether reads in it');
  t.equal(nested.inner.row.pid, nested.outer.pid);
  // A failed read fails the call and gives the connection back.
  const failed = await readTogether(database.db, (db) => db.execute(sql`select 1 / 0`)).then(() => null, (error: unknown) => error);
  t.equal(pgErrorCode(failed), '22012', 'the read’s own error (division by zero)');
  if (database.pool) t.equal(database.pool.totalCount - database.pool.idleCount, 0, 'no connection is left checked out');
  t.same(((await database.db.execute(sql`select 2 as n`)) as unknown as { rows: { n: number }[] }).rows, [{ n: 2 }]);
});

t.test('on the service’s own database, a transaction commits and rolls back as before', async (t) => {
  const database = await testDatabase();
  const db = database.db;
  const table = sql.raw(`pipeline_probe_${process.pid}`);
  // A deferred unique constraint fails at commit, not at the insert: the commit's own failure.
  await db.execute(sql`create table ${table} (k int, unique (k) deferrable initially deferred)`);
  t.teardown(async () => {
    await db.execute(sql`drop table if exists ${table}`);
  });
  const count = async () => Number(((await db.execute(sql`select count(*)::int as n from ${table}`)) as unknown as { rows: { n: number }[] }).rows[0]!.n);

  let folded: boolean | undefined;
  await db.transaction(async (tx) => {
    await tx.execute(sql`insert into ${table} values (1)`);
    folded = commitWithNextStatement(tx);
    await tx.execute(sql`insert into ${table} values (2)`);
  });
  t.equal(folded, database.kind === 'postgres', 'on PostgreSQL the commit rides with the last statement; on PGlite drizzle commits as usual');
  t.equal(await count(), 2, 'both rows committed');

  await t.rejects(
    db.transaction(async (tx) => {
      await tx.execute(sql`insert into ${table} values (3)`);
      commitWithNextStatement(tx);
      await tx.execute(sql`insert into ${table} values (1)`);
    }),
    'a commit that fails (the deferred constraint) fails the transaction',
  );
  t.equal(await count(), 2, 'and nothing of it was written');

  await t.rejects(
    db.transaction(async (tx) => {
      await tx.execute(sql`insert into ${table} values (4)`);
      commitWithNextStatement(tx);
      await tx.execute(sql`insert into ${table} values ('not a number')`);
    }),
    'a last statement that fails fails the transaction',
  );
  t.equal(await count(), 2, 'and nothing of it was written');

  // Every connection is back in order: as many transactions as the pool has connections, at once.
  await Promise.all(
    Array.from({ length: 25 }, (_, i) =>
      db.transaction(async (tx) => {
        await tx.execute(sql`select pg_sleep(0.01)`);
        commitWithNextStatement(tx);
        await tx.execute(sql`insert into ${table} values (${100 + i})`);
      }),
    ),
  );
  t.equal(await count(), 27, 'every connection commits again');
});

t.test('on PostgreSQL, a transaction of two statements takes two round trips, begin and commit included', { skip: usingPostgres() ? false : 'needs PostgreSQL (TEST_DATABASE_URL); the CI runs it there' }, async (t) => {
  const trips: string[][] = [];
  const pool = newPostgresPool({ url: process.env.TEST_DATABASE_URL!, poolSize: 1 }, watchRoundTrips(() => trips, () => true));
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const db = drizzle(pool) as unknown as Db;
  t.teardown(() => pool.end());
  await db.execute(sql`select 1`); // connect first
  trips.length = 0;
  const result = await db.transaction(async (tx) => {
    const [row] = ((await tx.execute(sql`select 41 + ${1}::int as n`)) as unknown as { rows: { n: number }[] }).rows;
    commitWithNextStatement(tx);
    await tx.execute(sql`select ${row!.n}::int as m`);
    return row!.n;
  });
  t.equal(result, 42);
  t.same(
    trips,
    [
      ['begin', 'select 41 + $1::int as n'],
      ['select $1::int as m', 'commit'],
    ],
  );
  // A statement in a transaction of its own starts that transaction; one inside an older one does not.
  const [state] = ((await db.execute(sql`select xact_start = query_start as fresh from pg_stat_activity where pid = pg_backend_pid()`)) as unknown as { rows: { fresh: boolean }[] }).rows;
  t.ok(state!.fresh, 'the connection is out of the transaction');
});

t.test('on PostgreSQL, statements sent together reach the socket in one write', { skip: usingPostgres() ? false : 'needs PostgreSQL (TEST_DATABASE_URL); the CI runs it there' }, async (t) => {
  let writes = 0;
  let counting = false;
  // Counts what the socket hands to the system: one call of _write or _writev is one system call.
  const countWrites = (client: pg.PoolClient) => {
    const socket = (client as unknown as { connection: { stream: { _write: Function; _writev: Function } } }).connection.stream;
    for (const method of ['_write', '_writev'] as const) {
      const original = socket[method].bind(socket);
      socket[method] = (...args: unknown[]) => {
        if (counting) writes += 1;
        return original(...args);
      };
    }
  };
  const pool = newPostgresPool({ url: process.env.TEST_DATABASE_URL!, poolSize: 1 }, countWrites);
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const db = drizzle(pool) as unknown as Db;
  t.teardown(() => pool.end());
  await db.execute(sql`select 1`); // connect first
  counting = true;
  const sums = await db.transaction(async (tx) => {
    const [a, b, c] = await allAnswered([tx.execute(sql`select ${1}::int as n`), tx.execute(sql`select ${2}::int as n`), tx.execute(sql`select ${3}::int as n`)]);
    t.equal(writes, 1, 'begin and the three reads: one write');
    return [a, b, c].map((r) => (r as unknown as { rows: { n: number }[] }).rows[0]!.n);
  });
  t.same(sums, [1, 2, 3]);
  t.equal(writes, 2, 'and the commit a second');
});

t.test('on PostgreSQL, a keyed submit takes 4 round trips and its approval 5', { skip: usingPostgres() ? false : 'needs PostgreSQL (TEST_DATABASE_URL); the CI runs it there' }, async (t) => {
  // The service's own pool, watched below its wrappers as above.
  let trips: string[][] | null = null;
  const pool = newPostgresPool({ url: process.env.TEST_DATABASE_URL!, poolSize: 2 }, watchRoundTrips(() => trips!, () => trips !== null));
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { buildApp } = await import('../src/app.js');
  const { loadConfig } = await import('../src/config.js');
  const { TEST_JWT_SECRET, createTestOrg, json } = await import('./helpers/app.js');
  const { fundedBudget, addContributor } = await import('./helpers/fixtures.js');
  const config = loadConfig({ LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET });
  const database = { db: drizzle(pool) as unknown as Db, kind: 'postgres' as const, pool, migrate: async () => {}, ping: async () => {}, close: () => pool.end() };
  const app = await buildApp({ config, database, jwtSecret: TEST_JWT_SECRET, jobs: false, stripe: null });
  t.teardown(async () => {
    await app.close();
    await pool.end();
  });
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const finance = await org.as('finance');
  const person = await addContributor(app, coordinator, { name: 'Robin', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const approveOne = async (date: string, key: string, contributorId = person.id) => {
    const submit = await app.inject({
      method: 'POST',
      url: '/v1/time-entries',
      headers: { ...coordinator, 'idempotency-key': `${key}-s` },
      payload: { contributorId, budgetId, activity: 'meeting', date, minutes: 60 },
    });
    t.equal(submit.statusCode, 201, submit.body);
    const submitTrips = trips?.length;
    const approve = await app.inject({ method: 'POST', url: `/v1/time-entries/${json(submit).id}/approve`, headers: { ...finance, 'idempotency-key': `${key}-a` } });
    t.equal(approve.statusCode, 200, approve.body);
    return submitTrips;
  };
  // The contributor's first approval opens their ledger account; the second is the common case.
  await approveOne('2026-03-02', `rt-${process.pid}-1`);
  trips = [];
  const submitted = await approveOne('2026-03-03', `rt-${process.pid}-2`);
  const all = trips;
  trips = null;
  t.equal(submitted, 4, `submit: ${JSON.stringify(all.slice(0, submitted))}`);
  t.equal(all.length - submitted!, 5, `approve: ${JSON.stringify(all.slice(submitted))}`);
  t.same(all[0]!.slice(0, 1), ['begin'], 'begin rides with the first statement');
  t.match(all[1], [/^select "contributors"\./, /^select coalesce\(sum\("minutes"\)/], "the day's minutes are read right behind the contributor's lock, never before it");
  t.equal(all[submitted! - 1]!.at(-1), 'commit', 'and commit with the last');

  // Reads go together without a transaction (readTogether): at READ COMMITTED a begin and commit
  // would give them no common snapshot, only a round trip more.
  const read = async (url: string) => {
    trips = [];
    const res = await app.inject({ method: 'GET', url, headers: coordinator });
    t.equal(res.statusCode, 200, res.body);
    const seen = trips;
    trips = null;
    return seen;
  };
  const balance = await read(`/v1/contributors/${person.id}/balance`);
  t.equal(balance.length, 1, `a balance read is one round trip: ${JSON.stringify(balance)}`);
  t.equal(balance[0]!.length, 1, 'of one statement: its contributor check, sums and limit versions');
  const statement = await read(`/v1/contributors/${person.id}/statement?from=2026-03-01&to=2026-03-31`);
  t.equal(statement.length, 2, `a statement read is two: ${JSON.stringify(statement)}`);
  t.equal(statement[0]!.length, 6, 'the contributor, entries, expenses, payouts, limit versions and balances together');
  t.equal(statement[1]!.length, 1, `then what was received by day alone: the limit versions are not read twice: ${JSON.stringify(statement[1])}`);
  t.notOk(
    [...balance, ...statement].flat().some((text) => /^(begin|commit|rollback)\b/i.test(text)),
    'neither opens a transaction',
  );

  // With an earnings limit, where the contributor stands needs the limit's period first: one
  // round trip more, its three reads (counted in the period, owed, owed piece by piece) together;
  // the limit's versions come with the first statement and are not read again.
  const limited = await addContributor(app, coordinator, {
    name: 'Sam',
    kind: 'lived_experience',
    paymentMethod: 'bank_transfer',
    earningsLimit: { period: 'week', amount: 10_000, periodStartDay: 1, policy: 'block' },
  });
  // Submitting and approving their time reads the versions with the contributor's lock too, and
  // where they stand (counted and owed, together) is one round trip more than for anyone else.
  await approveOne('2026-03-04', `rt-${process.pid}-3`, limited.id);
  trips = [];
  const limitedSubmit = await approveOne('2026-03-05', `rt-${process.pid}-4`, limited.id);
  const limitedTrips = trips;
  trips = null;
  t.equal(limitedSubmit, 5, `a limited contributor's submit: ${JSON.stringify(limitedTrips.slice(0, limitedSubmit))}`);
  t.equal(limitedTrips.length - limitedSubmit!, 6, `and approval: ${JSON.stringify(limitedTrips.slice(limitedSubmit))}`);
  const limitedBalance = await read(`/v1/contributors/${limited.id}/balance`);
  t.equal(limitedBalance.length, 2, `a limited contributor's balance read is two round trips: ${JSON.stringify(limitedBalance)}`);
  t.same(limitedBalance.map((trip) => trip.length), [1, 3], 'of one statement, then three');
  trips = [];
  const shown = await app.inject({ method: 'GET', url: `/v1/contributors/${limited.id}/balance`, headers: coordinator });
  trips = null;
  t.match(json(shown).earningsLimit, { period: 'week', amount: 10_000, owedOverHeadroom: 0, heldIfPaidToday: 0 }, shown.body);
  t.equal(json(shown).balances[0].earnings.owed, json(shown).balances[0].owed, 'the hour approved is owed');
});
