/**
 * An audit event of an update stores the record after the change whole and, of the record before
 * it, only the fields the change replaced (src/lib/audit.ts, asStored; issue #21). The API, the
 * personal-data export and every reader rebuild the record before exactly: these tests hold the
 * rebuild to what was recorded, on the database itself (its jsonb merge), for random records and
 * for a real approval.
 */
import { and, eq, sql } from 'drizzle-orm';
import fc from 'fast-check';
import t from 'tap';
import { auditEvents } from '../src/db/schema.js';
import { asStored } from '../src/lib/audit.js';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { submittedEntry } from './helpers/fixtures.js';

const app = await appForThisFile(t);

/** JSON values as an audit event holds them (no undefined, no -0, which JSON cannot carry). */
const jsonValue = fc
  .jsonValue({ maxDepth: 2 })
  .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
  .filter((v) => !JSON.stringify(v).includes('\\u0000')); // jsonb refuses NUL in text, as it would in any event
const record = fc.dictionary(fc.constantFrom('id', 'status', 'amount', 'note', 'quote', 'decidedAt', 'a b', '"'), jsonValue, { maxKeys: 6 });

/** A record and a change of some of its fields: the same names, as an update keeps them. */
const update = record.chain((before) =>
  fc.record({
    before: fc.constant(before),
    after: fc.tuple(...Object.keys(before).map((name) => fc.oneof(fc.constant(before[name]), jsonValue).map((v) => [name, v] as const))).map((pairs) => Object.fromEntries(pairs)),
  }),
);

/** What the database rebuilds from a stored change: the record before and after, as readers get them. */
async function rebuilt(stored: ReturnType<typeof asStored>): Promise<{ before: unknown; after: unknown }> {
  // A null is stored as SQL's NULL, as the inserts store it, not as JSON's null.
  const value = (v: unknown) => (v === null ? sql`null::jsonb` : sql`${JSON.stringify(v)}::jsonb`);
  const result = await app.db.execute(
    sql`select coalesce(${value(stored.before)}, ${value(stored.after)} || ${value(stored.changedFrom)}) as before, ${value(stored.after)} as after`,
  );
  return (result as unknown as { rows: { before: unknown; after: unknown }[] }).rows[0]!;
}

t.test('an update keeps only the fields it changed, and the database rebuilds the record before exactly', async (t) => {
  await fc.assert(
    fc.asyncProperty(update, async (change) => {
      const stored = asStored(change);
      t.equal(stored.before, null, 'the record before is not stored whole');
      t.same(stored.after, change.after, 'the record after is stored whole');
      for (const name of Object.keys(stored.changedFrom!)) {
        if (JSON.stringify(change.before[name]) === JSON.stringify(change.after[name])) throw new Error(`${name} did not change but was kept`);
      }
      const back = await rebuilt(stored);
      if (JSON.stringify(canonical(back.before)) !== JSON.stringify(canonical(change.before))) {
        throw new Error(`rebuilt ${JSON.stringify(back.before)}, recorded ${JSON.stringify(change.before)}`);
      }
    }),
    { numRuns: 150 },
  );
});

t.test('a creation, a deletion, and fields that come or go are stored as they are', async (t) => {
  const cases = [
    { before: null, after: { id: 'x', status: 'submitted' } },
    { before: { id: 'x', status: 'active' }, after: null },
    { before: { id: 'x' }, after: { id: 'x', personalFieldsChanged: ['name'] } },
    { before: { id: 'x', gone: 1 }, after: { id: 'x' } },
    { before: { id: 'x', a: 1 }, after: { id: 'x', b: 1 } },
    { before: [1, 2], after: [1, 2, 3] },
  ];
  for (const change of cases) {
    const stored = asStored(change);
    t.same(stored, { ...change, changedFrom: null }, JSON.stringify(change));
    t.same(await rebuilt(stored), change, 'rebuilt as recorded');
  }
});

t.test('an approval stores a few fields of the entry before it, and the API and export show it whole', async (t) => {
  const org = await createTestOrg(app);
  const { coordinator, person, entry } = await submittedEntry(app, org, { name: 'Ash', kind: 'lived_experience', paymentMethod: 'bank_transfer' }, 60);
  const approved = await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator, payload: {} });
  t.equal(approved.statusCode, 200, approved.body);
  // Audit events keep no personal data: the entry's note is left out of both records.
  const audited = ({ note: _note, ...view }: Record<string, unknown>) => view;

  const [stored] = await app.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.entityId, entry.id), eq(auditEvents.action, 'time_entry.approved')));
  t.equal(stored!.before, null, 'the entry before approval is not stored a second time');
  const changed = Object.keys(stored!.changedFrom as object).sort();
  t.ok(changed.includes('status') && changed.length < 10, `only what approval changed is kept: ${changed.join(', ')}`);
  t.match(stored!.changedFrom, { status: 'submitted' });
  t.same(stored!.after, audited(json(approved)), 'the entry after approval, whole, as the approval answered');

  const finance = await org.as('finance');
  const page = json(await app.inject({ method: 'GET', url: `/v1/audit-events?entityType=time_entry&entityId=${entry.id}`, headers: finance }));
  t.same(
    page.data.map((e: { action: string }) => e.action),
    ['time_entry.submitted', 'time_entry.approved'],
  );
  const [submitted, approval] = page.data;
  t.same(submitted.before, null);
  t.same(submitted.after, audited(entry), 'the submission recorded the entry as it answered');
  t.same(approval.before, audited(entry), 'the API rebuilds the entry before approval whole');
  t.same(approval.after, audited(json(approved)));

  const admin = await org.as('admin');
  const exported = await app.inject({ method: 'GET', url: `/v1/contributors/${person.id}/export`, headers: admin });
  t.equal(exported.statusCode, 200, exported.body);
  const inExport = json(exported).auditEvents.find((e: { action: string }) => e.action === 'time_entry.approved');
  t.same(inExport.before, audited(entry), 'the export rebuilds it too');
});

/** JSON with every object's fields in name order: jsonb keeps its own order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}
