/**
 * Double payments start as double entries (issue #18): the same time recorded twice within a
 * minute, by a request without an Idempotency-Key, is marked on the entry (`possibleDuplicateOf`)
 * and shown, unticked, on the coordinator's approvals page. A retry with a key cannot record twice.
 */
import t, { type Test } from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { addContributor, fundedBudget } from './helpers/fixtures.js';
import { WebClient } from './helpers/web.js';

let clock = new Date('2026-03-04T10:00:00Z');
const app = await appForThisFile(t, { now: () => clock });

async function setUp() {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const person = await addContributor(app, coordinator, { name: 'Dee Double', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const record = async (t: Test, body: object = {}, headers: Record<string, string> = {}) => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/time-entries',
      headers: { ...coordinator, ...headers },
      payload: { contributorId: person.id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 90, ...body },
    });
    t.equal(res.statusCode, 201, res.body);
    return json(res);
  };
  return { org, budgetId, coordinator, person, record };
}

t.test('the same time recorded again within a minute, without a key, points at the first', async (t) => {
  clock = new Date('2026-03-04T10:00:00Z');
  const { record, coordinator } = await setUp();
  const first = await record(t);
  t.equal(first.possibleDuplicateOf, null);
  clock = new Date('2026-03-04T10:00:40Z');
  const second = await record(t);
  t.equal(second.possibleDuplicateOf, first.id, 'recorded 40 s later: a possible duplicate');
  const listed = json(await app.inject({ method: 'GET', url: `/v1/time-entries/${second.id}`, headers: coordinator }));
  t.equal(listed.possibleDuplicateOf, first.id, 'kept on the entry');

  // Not a duplicate: a minute or more later, another date, activity or length, or a rejected first.
  clock = new Date('2026-03-04T10:01:41Z');
  t.equal((await record(t)).possibleDuplicateOf, null, 'a minute after the one before');
  clock = new Date('2026-03-04T10:30:00Z');
  const other = await record(t);
  t.equal((await record(t, { minutes: 60 })).possibleDuplicateOf, null, 'other minutes');
  t.equal((await record(t, { date: '2026-03-03' })).possibleDuplicateOf, null, 'another date');
  t.equal((await record(t, { activity: 'workshop' })).possibleDuplicateOf, null, 'another activity');
  const rejected = await app.inject({ method: 'POST', url: `/v1/time-entries/${other.id}/reject`, headers: coordinator, payload: { reason: 'Mistake' } });
  t.equal(rejected.statusCode, 200);
  t.equal((await record(t)).possibleDuplicateOf, null, 'the earlier one was rejected');
});

t.test('a request with an Idempotency-Key is not flagged: its retry is answered, never recorded again', async (t) => {
  clock = new Date('2026-03-05T10:00:00Z');
  const { record } = await setUp();
  const first = await record(t, {}, { 'idempotency-key': 'entry-1' });
  const retry = await record(t, {}, { 'idempotency-key': 'entry-1' });
  t.equal(retry.id, first.id, 'the retry is the same entry');
  const deliberate = await record(t, {}, { 'idempotency-key': 'entry-2' });
  t.not(deliberate.id, first.id);
  t.equal(deliberate.possibleDuplicateOf, null, 'a second key is a second, deliberate entry');
});

t.test("the coordinator's approvals page shows the possible duplicate, not ticked", async (t) => {
  clock = new Date('2026-03-04T12:00:00Z');
  const { org, record } = await setUp();
  const first = await record(t);
  const second = await record(t);
  t.equal(second.possibleDuplicateOf, first.id);
  const client = new WebClient(app).withToken(await org.tokenFor('coordinator'));
  const page = await client.get('/approvals?week=2026-03-02');
  t.equal(page.statusCode, 200, page.statusCode === 200 ? '' : page.body.slice(0, 3000));
  const row = (id: string) => page.body.match(new RegExp(`<input[^>]*id="entry-${id}"[^>]*>`))?.[0] ?? '';
  t.match(row(first.id), /checked/, 'the first is ticked');
  t.notMatch(row(second.id), /checked/, 'the possible duplicate is not');
  t.match(page.body, /Possible duplicate/);
  t.equal(page.body.match(/Possible duplicate/g)?.length, 1, 'only the second is marked');
});
