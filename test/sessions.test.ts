import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { fundedBudget } from './helpers/fixtures.js';

// POST /v1/sessions (one co-production session, an entry per attendee, all or nothing) and
// POST /v1/sessions/quote (the same quotes, nothing written), which the session register uses.

const app = await appForThisFile(t);

const org = await createTestOrg(app);
const { budgetId } = await fundedBudget(app, org);
const coordinator = await org.as('coordinator');
const post = (url: string, payload: object, headers: Record<string, string> = coordinator) => app.inject({ method: 'POST', url, headers, payload });
const entriesOn = async (date: string) =>
  json(await app.inject({ method: 'GET', url: `/v1/time-entries?budgetId=${budgetId}&from=${date}&to=${date}`, headers: coordinator })).data;

const person = async (name: string, kind: string, extra: object = {}) =>
  json(await post('/v1/contributors', { name, kind, paymentMethod: 'bank_transfer', ...extra })).id as string;
const ayesha = await person('Ayesha', 'lived_experience', { earningsLimit: { period: 'week', amount: 3000, periodStartDay: 1, policy: 'warn' } });
const ben = await person('Ben', 'carer');
const clare = await person('Clare', 'professional');

t.test('the quote is what the session then records, and writes nothing', async (t) => {
  const session = { budgetId, activity: 'meeting', date: '2026-03-10', minutes: 105, note: 'Panel', attendees: [ayesha, ben, clare] };
  const admin = await org.as('admin');
  const auditBefore = json(await app.inject({ method: 'GET', url: '/v1/audit-events?limit=200', headers: admin })).data.length;
  const quoted = await post('/v1/sessions/quote', session);
  t.equal(quoted.statusCode, 200, quoted.body);
  const quote = json(quoted);
  t.equal(quote.currency, 'GBP');
  t.same(quote.entries.map((e: any) => e.contributorId), [ayesha, ben, clare], 'in the order given');
  t.same(quote.entries.map((e: any) => e.quote.amount), [3500, 3500, 0], '105 minutes at £20 an hour; the professional rate is in kind');
  t.equal(quote.total, 7000);
  t.equal(quote.entries[2].quote.value, 5250, 'in-kind time is still valued');
  t.ok(quote.entries[0].quote.warnings.some((w: string) => /limit/i.test(w)), "Ayesha's weekly limit of £30 is flagged");
  t.same(await entriesOn('2026-03-10'), [], 'no entry was written');
  const auditAfter = json(await app.inject({ method: 'GET', url: '/v1/audit-events?limit=200', headers: admin })).data.length;
  t.equal(auditAfter, auditBefore, 'no audit event either');

  const recorded = await post('/v1/sessions', session);
  t.equal(recorded.statusCode, 201, recorded.body);
  const entries = json(recorded).entries;
  for (const [i, entry] of entries.entries()) {
    t.equal(entry.amount, quote.entries[i].quote.amount, 'the recorded amount is the quoted one');
    t.same(entry.quote.explanation, quote.entries[i].quote.explanation, 'and so is the explanation');
    t.equal(entry.sessionId, json(recorded).id);
    t.equal(entry.status, 'submitted');
  }
});

t.test('all or nothing: one unknown attendee records nobody', async (t) => {
  const other = await createTestOrg(app, 'Another organisation');
  const stranger = json(await post('/v1/contributors', { name: 'Stranger', kind: 'lived_experience', paymentMethod: 'voucher' }, await other.as('coordinator'))).id;
  for (const url of ['/v1/sessions/quote', '/v1/sessions']) {
    const res = await post(url, { budgetId, activity: 'meeting', date: '2026-03-11', minutes: 60, attendees: [ayesha, stranger] });
    t.equal(res.statusCode, 404, `${url}: another organisation's contributor is not found`);
    t.equal(json(res).code, 'not_found');
  }
  t.same(await entriesOn('2026-03-11'), [], 'the valid attendee got no entry');

  const outside = await post('/v1/sessions', { budgetId, activity: 'meeting', date: '2027-01-05', minutes: 60, attendees: [ayesha, ben] });
  t.equal(outside.statusCode, 422);
  t.equal(json(outside).code, 'outside_budget_period');
});

t.test('sessions are idempotent, validated and for coordinators', async (t) => {
  const session = { budgetId, activity: 'workshop', date: '2026-03-12', minutes: 120, attendees: [ayesha] };
  const headers = { ...coordinator, 'idempotency-key': 'register-form-1' };
  const first = await post('/v1/sessions', session, headers);
  const second = await post('/v1/sessions', session, headers);
  t.equal(second.statusCode, 201);
  t.equal(second.headers['idempotent-replayed'], 'true');
  t.equal(json(second).id, json(first).id);
  t.equal((await entriesOn('2026-03-12')).length, 1, 'recorded once');
  t.equal(json(first).entries[0].amount, 5000, 'a workshop is paid per session');

  const twice = await post('/v1/sessions/quote', { ...session, attendees: [ayesha, ayesha] });
  t.equal(twice.statusCode, 400);
  t.equal(json(twice).code, 'validation_failed');
  const none = await post('/v1/sessions/quote', { ...session, attendees: [] });
  t.equal(none.statusCode, 400);

  for (const role of ['participant', 'finance', 'reporter'] as const) {
    const res = await post('/v1/sessions/quote', session, await org.as(role, role === 'participant' ? { contributorId: ayesha } : {}));
    t.equal(res.statusCode, 403, `${role} may not quote a session`);
  }
});
