/**
 * Which statements go to PostgreSQL as named (prepared) statements: those a transaction (or reads
 * held together on one connection) repeats, with parameters, never a report's read outside a
 * transaction or a statement seen once. Checked
 * on a stand-in pool whose client records what it is asked, so it runs without PostgreSQL (the
 * suite on PostgreSQL runs every statement of the service through the real wrapper).
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import t from 'tap';
import { nameRepeatedStatements, readingTogether } from '../src/db/named-statements.js';

interface Sent {
  text: string;
  name?: string;
}

function standInPool() {
  const sent: Sent[] = [];
  const client = {
    query: (config: string | { text: string; name?: string }, _values?: unknown[]) => {
      sent.push(typeof config === 'string' ? { text: config } : { text: config.text, name: config.name });
      return Promise.resolve({ rows: [] });
    },
  };
  const pool = new EventEmitter();
  nameRepeatedStatements(pool as unknown as pg.Pool);
  pool.emit('acquire', client);
  // drizzle's way: the config, then the values beside it.
  const run = (text: string, values: unknown[] = [1]) => client.query({ text }, values);
  return { sent, run, client };
}

t.test('a statement repeated inside transactions is named from its second time, the same name each time', async (t) => {
  const { sent, run } = standInPool();
  for (let i = 0; i < 3; i++) {
    await run('begin', []);
    await run('select * from time_entries where id = $1', [i]);
    await run('commit', []);
  }
  const selects = sent.filter((s) => s.text.startsWith('select'));
  t.equal(selects[0]!.name, undefined, 'the first time it is sent unnamed');
  t.ok(selects[1]!.name, 'the second time it is named');
  t.equal(selects[2]!.name, selects[1]!.name, 'one text, one name');
  t.notOk(sent.some((s) => s.text === 'begin' && s.name), 'begin and commit are never named');
});

t.test('outside a transaction (a report, a read) nothing is named', async (t) => {
  const { sent, run } = standInPool();
  for (let i = 0; i < 5; i++) await run('select sum(amount) from ledger_postings where organisation_id = $1', [i]);
  t.same(sent.map((s) => s.name), [undefined, undefined, undefined, undefined, undefined]);
  await run('begin', []);
  await run('rollback', []);
  await run('select sum(amount) from ledger_postings where organisation_id = $1', [9]);
  t.equal(sent.at(-1)!.name, undefined, 'nor after a rolled-back transaction');
});

t.test('on a connection held for reads that go together (readTogether), repeated statements are named as in a transaction', async (t) => {
  const { sent, run, client } = standInPool();
  const text = 'select * from time_entries where contributor_id = $1 and date between $2 and $3';
  readingTogether(client as unknown as pg.PoolClient, true);
  for (let i = 0; i < 3; i++) await run(text, [i, '2026-04-06', '2027-04-05']);
  readingTogether(client as unknown as pg.PoolClient, false);
  await run(text, [9, '2026-04-06', '2027-04-05']);
  t.same(
    sent.map((s) => Boolean(s.name)),
    [false, true, true, false],
    'named from the second time while held; unnamed again once given back',
  );
});

t.test('a statement without parameters, or an overlong one, is never named', async (t) => {
  const { sent, run } = standInPool();
  const long = `select 1 where ${'true and '.repeat(900)}$1::int = 1`;
  await run('begin', []);
  for (let i = 0; i < 3; i++) {
    await run('select now()', []);
    await run(long, [1]);
  }
  await run('commit', []);
  t.notOk(sent.some((s) => s.name), JSON.stringify(sent.filter((s) => s.name).map((s) => s.text.slice(0, 40))));
});

t.test('two texts get two names, and a config that names itself is left alone', async (t) => {
  const { sent, run, client } = standInPool();
  await run('begin', []);
  for (let i = 0; i < 2; i++) {
    await run('select $1::int as a', [i]);
    await run('select $1::int as b', [i]);
  }
  await client.query({ text: 'select $1::int as c', name: 'mine' }, [1]);
  await run('commit', []);
  const [a, b] = [sent.filter((s) => s.text.endsWith('as a'))[1]!, sent.filter((s) => s.text.endsWith('as b'))[1]!];
  t.ok(a.name && b.name && a.name !== b.name, `${a.name} / ${b.name}`);
  t.equal(sent.find((s) => s.text.endsWith('as c'))!.name, 'mine');
});
