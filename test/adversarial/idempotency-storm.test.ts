import t from 'tap';
import { count, eq } from 'drizzle-orm';
import { timeEntries } from '../../src/db/schema.js';
import { appForThisFile, createTestOrg, json } from '../helpers/app.js';
import { submittedEntry } from '../helpers/fixtures.js';
import { assertLedgerInvariants } from '../helpers/invariants.js';

const app = await appForThisFile(t);

t.test('50 concurrent requests with one Idempotency-Key: one effect, identical replays, 409 while in flight', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId, coordinator, person, entry } = await submittedEntry(app, org, { name: 'Storm', kind: 'lived_experience', paymentMethod: 'voucher' }, 60);

  // 50 approvals of one entry, one key: the approval happens once and every 2xx is the same.
  const headers = { ...coordinator, 'idempotency-key': `approve-${entry.id}` };
  const results = await Promise.all(Array.from({ length: 50 }, () => app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers })));
  const ok = results.filter((r) => r.statusCode === 200);
  const inFlight = results.filter((r) => r.statusCode === 409);
  t.ok(ok.length >= 1, 'at least one answer is the approval');
  t.equal(ok.length + inFlight.length, 50, `only 200 or 409: ${[...new Set(results.map((r) => r.statusCode))]}`);
  t.ok(inFlight.every((r) => json(r).code === 'idempotency_key_in_flight'), 'every 409 says the key is in flight');
  t.equal(new Set(ok.map((r) => r.body)).size, 1, 'every 200 carries the identical body');
  t.equal(ok.filter((r) => r.headers['idempotent-replayed'] !== 'true').length, 1, 'exactly one original, the rest replays');

  // After the storm: the same key replays; a different body with the key is refused.
  const replay = await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers });
  t.equal(replay.statusCode, 200, replay.body);
  t.equal(replay.headers['idempotent-replayed'], 'true');
  t.equal(replay.body, ok[0]!.body);
  const other = await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/reject`, headers, payload: { reason: 'x' } });
  t.equal(other.statusCode, 422, other.body);
  t.equal(json(other).code, 'idempotency_key_reused');

  // 50 creations with one key make one entry.
  const createHeaders = { ...coordinator, 'idempotency-key': 'create-storm' };
  const payload = { contributorId: person.id, budgetId, activity: 'meeting', date: '2026-03-03', minutes: 30 };
  const creates = await Promise.all(Array.from({ length: 50 }, () => app.inject({ method: 'POST', url: '/v1/time-entries', headers: createHeaders, payload })));
  t.ok(creates.every((r) => r.statusCode === 201 || (r.statusCode === 409 && json(r).code === 'idempotency_key_in_flight')));
  t.equal(new Set(creates.filter((r) => r.statusCode === 201).map((r) => json(r).id)).size, 1, 'one entry id across every 201');
  const [{ n }] = (await app.db.select({ n: count() }).from(timeEntries).where(eq(timeEntries.organisationId, org.organisationId))) as [{ n: number }];
  t.equal(Number(n), 2, 'two entries in all: the first and the one created by the storm');
  await assertLedgerInvariants(t, app.db, org.organisationId);
});
