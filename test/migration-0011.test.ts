/**
 * Migration 0011 removes the personal data earlier versions copied into audit history (names,
 * emails, Stripe account ids, notes, free text), keeping everything else of each event, and
 * leaves the log append-only. Run as an upgrade is: the migrations up to 0010 on an empty
 * database, audit events written the old way, then the rest.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres';
import { migrate as migrateNodePg } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import t, { type Test } from 'tap';
import { MIGRATIONS_FOLDER } from '../src/db/client.js';

/** A copy of the migrations folder that stops before `tag`. */
async function migrationsBefore(tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(MIGRATIONS_FOLDER, dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { tag: string; idx: number }[] };
  const cut = journal.entries.findIndex((e) => e.tag === tag);
  t.ok(cut > 0, `${tag} is in the journal`);
  journal.entries = journal.entries.slice(0, cut);
  await writeFile(journalPath, JSON.stringify(journal));
  return dir;
}

interface Target {
  query<T>(text: string, values?: unknown[]): Promise<{ rows: T[] }>;
  migrate(folder: string): Promise<void>;
}

async function embedded(t: Test): Promise<Target> {
  const pglite = await PGlite.create();
  t.teardown(() => pglite.close());
  const db = drizzle(pglite);
  return { query: (text, values) => pglite.query(text, values), migrate: (folder) => migrate(db, { migrationsFolder: folder }) };
}

/** A database of its own on the PostgreSQL of TEST_DATABASE_URL, dropped at the end. */
async function postgres(t: Test, url: string): Promise<Target> {
  const name = `ledger_migration_0011_${process.pid}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`drop database if exists ${name}`);
  await admin.query(`create database ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: target.toString(), max: 2 });
  t.teardown(async () => {
    await pool.end();
    await admin.query(`drop database if exists ${name}`);
    await admin.end();
  });
  const db = drizzleNodePg(pool);
  return { query: async <T,>(text: string, values?: unknown[]) => (await pool.query(text, values)) as unknown as { rows: T[] }, migrate: (folder) => migrateNodePg(db, { migrationsFolder: folder }) };
}

const targets: [string, (t: Test) => Promise<Target>][] = [['embedded PGlite', embedded]];
if (process.env.TEST_DATABASE_URL) targets.push(['PostgreSQL', (t) => postgres(t, process.env.TEST_DATABASE_URL!)]);

for (const [label, open] of targets) t.test(`0011 strips personal fields from audit history and keeps the rest (${label})`, async (t) => {
  const pglite = await open(t);
  await pglite.migrate(await migrationsBefore('0011_personal_data'));

  const org = '01a23000-0000-7000-8000-0000000000aa';
  await pglite.query(`insert into organisations (id, name, pseudonym_key) values ($1, 'Org', 'k')`, [org]);
  const events: [string, object | null, object][] = [
    ['contributor', null, { id: 'c1', name: 'Hazel Oldaudit', email: 'hazel@example.test', kind: 'carer', stripeAccountId: 'acct_OLD1', earningsLimit: null }],
    ['contributor', { requestedBy: 'staff', stripeAccountId: 'acct_OLD1' }, { requestedBy: 'staff' }],
    ['user', { name: 'Hazel Oldaudit', email: 'hazel@example.test', role: 'participant' }, { email: { time_approved: false }, role: 'participant' }],
    ['time_entry', null, { id: 't1', note: 'Hazel led it', minutes: 60 }],
    ['session', null, { note: 'Hazel and Sam', attendees: ['c1'] }],
    ['expense', null, { id: 'e1', note: 'Hazel bus', receiptReference: 'HAZEL-1', amount: 500 }],
    ['payout_item', { status: 'processing' }, { status: 'failed', failureReason: "No such destination: 'acct_OLD1'" }],
    ['payout_item', { status: 'pending' }, { status: 'paid', reference: 'BACS OLDAUDIT', stripeTransferId: null }],
    ['budget', null, { name: 'Budget name stays', amount: 100 }],
  ];
  for (const [i, [entityType, before, after]] of events.entries()) {
    await pglite.query(
      `insert into audit_events (organisation_id, id, actor_type, actor_id, action, entity_type, entity_id, before, after)
       values ($1, $2, 'user', 'u1', 'x.changed', $3, $4, $5, $6)`,
      [org, `01a23000-0000-7000-8000-00000000000${i}`, entityType, `e${i}`, before === null ? null : JSON.stringify(before), JSON.stringify(after)],
    );
  }

  for (const [id, type, description] of [
    ['01a23000-0000-7000-8000-0000000000f1', 'payout_failed', "No such destination: 'acct_OLD1'"],
    ['01a23000-0000-7000-8000-0000000000f2', 'budget_funded', 'Funder G-1'],
  ]) {
    await pglite.query(
      `insert into ledger_transactions (organisation_id, id, type, reference_type, reference_id, effective_date, description) values ($1, $2, $3, 'x', 'x', '2026-01-01', $4)`,
      [org, id, type, description],
    );
  }

  await pglite.migrate(MIGRATIONS_FOLDER);
  const descriptions = (await pglite.query<{ type: string; description: string }>(`select type, description from ledger_transactions order by id`)).rows;
  t.same(
    descriptions.map((r) => [r.type, r.description]),
    [
      ['payout_failed', 'Payout item failed: its money is owed again'],
      ['budget_funded', 'Funder G-1'],
    ],
    "a failed payout's ledger description no longer quotes the reason; others are as they were",
  );
  await t.rejects(pglite.query(`update ledger_transactions set description = 'x'`), /append-only/, 'the ledger is append-only again');
  const rows = (await pglite.query<{ entity_type: string; before: unknown; after: unknown }>(`select entity_type, before, after from audit_events order by id`)).rows;
  t.same(
    rows.map((r) => [r.entity_type, r.before, r.after]),
    [
      ['contributor', null, { id: 'c1', kind: 'carer', earningsLimit: null }],
      ['contributor', { requestedBy: 'staff' }, { requestedBy: 'staff' }],
      ['user', { role: 'participant' }, { email: { time_approved: false }, role: 'participant' }],
      ['time_entry', null, { id: 't1', minutes: 60 }],
      ['session', null, { attendees: ['c1'] }],
      ['expense', null, { id: 'e1', amount: 500 }],
      ['payout_item', { status: 'processing' }, { status: 'failed' }],
      ['payout_item', { status: 'pending' }, { status: 'paid', stripeTransferId: null }],
      ['budget', null, { name: 'Budget name stays', amount: 100 }],
    ],
  );
  t.notMatch(JSON.stringify(rows), /Hazel|hazel|OLD1|OLDAUDIT/);
  // The log is append-only again.
  await t.rejects(pglite.query(`update audit_events set after = '{}'`), /append-only|not allowed|refuse/i);
  await t.rejects(pglite.query(`delete from audit_events`), /append-only|not allowed|refuse/i);
});
