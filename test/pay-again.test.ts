/**
 * Paying again the people whose payments failed (issue #16): POST /v1/payout-runs with
 * `failedFrom` drafts a run for just them, and the finance home page lists recently failed
 * payments with a Pay again button that does it, beside how long people wait to be paid.
 */
import { sql } from 'drizzle-orm';
import t from 'tap';
import { queryRows } from '../src/db/client.js';
import { appForThisFile, createTestOrg, json, type TestOrg } from './helpers/app.js';
import { addContributor, fundedBudget } from './helpers/fixtures.js';
import { text, WebClient } from './helpers/web.js';

let clock = new Date('2026-06-11T10:00:00Z');
const app = await appForThisFile(t, { now: () => clock });

async function call(method: 'GET' | 'POST' | 'PUT', url: string, headers: Record<string, string>, payload?: object, expected?: number) {
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const want = expected ?? (method === 'POST' && !/\/(approve|cancel|mark-paid|mark-failed)$/.test(url) ? 201 : 200);
  if (res.statusCode !== want) throw new Error(`${method} ${url} → ${res.statusCode} (wanted ${want}): ${res.body}`);
  return json(res);
}

/** A bank-transfer contributor with one approved meeting of `minutes` on `date`. */
async function owed(org: TestOrg, budgetId: string, coordinator: Record<string, string>, name: string, date: string, minutes: number) {
  const contributor = await addContributor(app, coordinator, { name, kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const entry = await call('POST', '/v1/time-entries', coordinator, { contributorId: contributor.id, budgetId, activity: 'meeting', date, minutes });
  await call('POST', `/v1/time-entries/${entry.id}/approve`, coordinator);
  return contributor.id as string;
}

const owedNow = async (headers: Record<string, string>, contributorId: string) =>
  (await call('GET', `/v1/contributors/${contributorId}/balance`, headers)).balances.find((b: any) => b.currency === 'GBP')?.owed ?? 0;

t.test('failedFrom drafts a run of just the people whose payments failed in that run, for what they are owed now', async (t) => {
  clock = new Date('2026-06-11T10:00:00Z');
  const org = await createTestOrg(app);
  const { budgetId, finance } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const approver = await org.as('finance');
  const a = await owed(org, budgetId, coordinator, 'Ada', '2026-06-01', 60);
  const b = await owed(org, budgetId, coordinator, 'Bea', '2026-06-01', 120);
  const c = await owed(org, budgetId, coordinator, 'Cal', '2026-06-01', 180);
  const d = await owed(org, budgetId, coordinator, 'Dev', '2026-06-01', 60);

  const run = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [a, b, c] });
  await call('POST', `/v1/payout-runs/${run.id}/approve`, approver);
  const item = (id: string) => run.items.find((i: any) => i.contributorId === id).id;
  await call('POST', `/v1/payouts/${item(a)}/mark-failed`, approver, { reason: 'Account closed' });
  await call('POST', `/v1/payouts/${item(b)}/mark-failed`, approver, { reason: 'Wrong sort code' });
  await call('POST', `/v1/payouts/${item(c)}/mark-paid`, approver, { reference: 'BACS-3' });
  // More work for one of them since: paying again pays what they are owed now.
  const more = await call('POST', '/v1/time-entries', coordinator, { contributorId: a, budgetId, activity: 'meeting', date: '2026-06-08', minutes: 30 });
  await call('POST', `/v1/time-entries/${more.id}/approve`, coordinator);

  const again = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', failedFrom: run.id });
  t.same(again.items.map((i: any) => i.contributorId).sort(), [a, b].sort(), 'only the two whose payments failed; not the paid one, not someone else owed');
  t.equal(again.items.find((i: any) => i.contributorId === a).amount, await owedNow(finance, a), 'what they are owed now');
  t.equal(again.items.find((i: any) => i.contributorId === a).amount, 2000 + 1000);
  t.same(again.filters, { contributorIds: [a, b].sort(), failedFrom: run.id }, 'the run records what it was for');
  t.equal(again.status, 'draft');
  t.ok((await owedNow(finance, d)) > 0, 'the person left out is still owed');

  const refused = async (payload: object, status: number, code: string, detail?: RegExp) => {
    const res = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload });
    t.equal(res.statusCode, status, res.body);
    t.equal(json(res).code, code);
    if (detail) t.match(json(res).detail, detail);
  };
  await refused({ currency: 'GBP', failedFrom: '01900000-0000-7000-8000-000000000000' }, 404, 'not_found');
  await refused({ currency: 'GBP', failedFrom: 'not-an-id' }, 404, 'not_found');
  await refused({ currency: 'GBP', failedFrom: run.id, contributorIds: [a] }, 400, 'validation_failed');
  await refused({ currency: 'EUR', failedFrom: run.id }, 409, 'invalid_state', /paid in GBP/);
  const allPaid = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [d] });
  await refused({ currency: 'GBP', failedFrom: allPaid.id }, 409, 'invalid_state', /No payment in that run failed/);
  const participant = await org.as('participant', { contributorId: a });
  t.equal((await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: participant, payload: { currency: 'GBP', failedFrom: run.id } })).statusCode, 403);

  // Another organisation's run is not found here.
  const other = await createTestOrg(app);
  const { finance: otherFinance } = await fundedBudget(app, other);
  const otherRes = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: otherFinance, payload: { currency: 'GBP', failedFrom: run.id } });
  t.equal(otherRes.statusCode, 404, otherRes.body);

  // Once they have been paid again there is nobody left to pay again.
  await call('POST', `/v1/payout-runs/${allPaid.id}/cancel`, finance);
  await call('POST', `/v1/payout-runs/${again.id}/approve`, approver);
  for (const i of again.items) await call('POST', `/v1/payouts/${i.id}/mark-paid`, approver, { reference: `BACS-${i.contributorId.slice(-4)}` });
  await refused({ currency: 'GBP', failedFrom: run.id }, 409, 'invalid_state', /paid since/);

  // The runs with failures the finance page reads.
  const withFailures = await call('GET', `/v1/payout-runs?failedSince=2026-06-11`, finance);
  t.same(withFailures.data.map((r: any) => r.id), [run.id], 'only the run where something failed');
  t.same(
    withFailures.data[0].items.filter((i: any) => i.status === 'failed').map((i: any) => i.failureInWords).sort(),
    ['Account closed', 'Wrong sort code'],
  );
  t.same((await call('GET', `/v1/payout-runs?failedSince=2026-06-12`, finance)).data, [], 'failed before the date: left out');
  t.same((await call('GET', `/v1/payout-runs?failedSince=2026-06-11`, otherFinance)).data, [], 'another organisation sees none of them');
});

t.test('the finance page lists recently failed payments and Pay again drafts, end to end, a run of just those people; time to pay in words', async (t) => {
  clock = new Date('2026-06-11T10:00:00Z');
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const drafterToken = await org.tokenFor('finance');
  const drafter = { authorization: `Bearer ${drafterToken}` };
  const approver = await org.as('finance');
  // Approved on 11 June: 1, 2 and 10 days after the work.
  const xavier = await owed(org, budgetId, coordinator, 'Xavier Quint', '2026-06-10', 60);
  const yolanda = await owed(org, budgetId, coordinator, 'Yolanda Reyes', '2026-06-09', 120);
  const zeb = await owed(org, budgetId, coordinator, 'Zeb Stone', '2026-06-01', 180);
  const run = await call('POST', '/v1/payout-runs', drafter, { currency: 'GBP' });
  await call('POST', `/v1/payout-runs/${run.id}/approve`, approver);
  const item = (id: string) => run.items.find((i: any) => i.contributorId === id).id;

  clock = new Date('2026-06-14T10:00:00Z');
  await call('POST', `/v1/payouts/${item(zeb)}/mark-paid`, approver, { reference: 'BACS-9' });
  await call('POST', `/v1/payouts/${item(xavier)}/mark-failed`, approver, { reason: 'Bank account closed.' });
  await call('POST', `/v1/payouts/${item(yolanda)}/mark-failed`, approver, { reason: 'Wrong sort code' });

  const client = new WebClient(app).withToken(drafterToken);
  const home = await client.get('/finance');
  t.equal(home.statusCode, 200, home.body.slice(0, 300));
  const section = (html: string, from: string, to: string) => text(html.slice(html.indexOf(from), html.indexOf(to)));
  const failedText = section(home.body, 'id="failed-payments"', 'id="time-to-pay"');
  t.match(failedText, 'Payments that did not go through');
  t.match(failedText, 'Failed in the run approved on 11 June 2026');
  t.match(failedText, 'Xavier Quint Bank account closed 14 June 2026 £20.00', 'who, why, when and how much');
  t.match(failedText, 'Yolanda Reyes Wrong sort code 14 June 2026 £40.00');
  t.notMatch(failedText, 'Zeb Stone', 'the paid person is not listed');

  const waits = section(home.body, 'id="time-to-pay"', 'Drafts to approve');
  t.match(waits, 'Community mental health co-production: Bank transfer');
  t.match(waits, 'Half were approved within 2 days of the work, and 9 in 10 within 8.4 days.', 'the median and 90th percentile of 1, 2 and 10 days');
  t.match(waits, 'Half were paid within 3 days of approval, and 9 in 10 within 3 days.');
  t.match(waits, '3 pieces of work approved, 1 paid.');
  const report = await call('GET', '/v1/reports/time-to-pay?from=2026-03-17&to=2026-06-14', drafter);
  t.same(report.byProjectAndMethod.map((l: any) => [l.daysWorkToApproval, l.daysApprovalToPaid]), [[{ median: 2, p90: 8.4 }, { median: 3, p90: 3 }]], 'the page says what the API says');
  t.match(text(home.body), 'No schedule: runs are drafted by hand.');
  await call('PUT', '/v1/payout-schedule', drafter, { cadence: 'weekly', weekday: 1, time: '09:00', methods: ['bank_transfer'] }, 200);
  t.match(
    text((await client.get('/finance')).body),
    'Every Monday at 09:00 (UK time) a payout run of everything owed for people paid by bank transfer is drafted on its own; any finance user then approves it. The next is drafted on 15 June 2026.',
    'the schedule in words, from GET /v1/payout-schedule',
  );
  await app.inject({ method: 'DELETE', url: '/v1/payout-schedule', headers: drafter });

  const form = client.hiddenFields(`/finance/runs/${run.id}/pay-again`);
  t.equal(form.currency, 'GBP');
  const pressed = await client.post(`/finance/runs/${run.id}/pay-again`, form);
  t.equal(pressed.statusCode, 303, pressed.body.slice(0, 500));
  const location = String(pressed.headers.location);
  t.match(location, /^\/finance\/runs\/[0-9a-f-]+\?done=drafted$/);
  const againId = location.split('/').pop()!.split('?')[0]!;
  const runPage = await client.follow(pressed);
  t.equal(runPage.statusCode, 200);
  const runText = text(runPage.body);
  t.match(runText, 'Draft made to pay again the people whose payments failed');
  t.match(runText, 'Xavier Quint');
  t.match(runText, 'Yolanda Reyes');
  t.notMatch(runText, 'Zeb Stone');
  t.match(runText, 'You drafted this run, so a finance colleague must approve it');
  const again = await call('GET', `/v1/payout-runs/${againId}`, drafter);
  t.same(again.items.map((i: any) => i.contributorId).sort(), [xavier, yolanda].sort(), 'the draft pays just the two');
  t.equal(again.filters.failedFrom, run.id);
  t.equal(again.total, 6000);

  // Pressed twice (the same form): one draft.
  await client.get('/finance');
  const twice = await client.post(`/finance/runs/${run.id}/pay-again`, form);
  t.equal(twice.headers.location, location, 'the same form sent again has no second effect');
  const drafts = await call('GET', '/v1/payout-runs?status=draft', drafter);
  t.equal(drafts.data.length, 1);

  // The colleagues who can approve it are told; the home page points at the waiting draft.
  const colleagueId = (await call('GET', '/v1/me', approver)).userId;
  const told = await queryRows<{ user_id: string }>(
    app.db,
    sql`select user_id from notifications where organisation_id = ${org.organisationId} and kind = 'run_awaiting_approval' and data->>'runId' = ${againId}`,
  );
  t.ok(told.some((n) => n.user_id === colleagueId), 'the colleague hears the draft waits for them');
  const drafterId = (await call('GET', '/v1/me', drafter)).userId;
  t.notOk(told.some((n) => n.user_id === drafterId), 'not the person who pressed the button');
  const withDraft = await client.get('/finance');
  t.match(text(withDraft.body), 'A draft to pay them again is waiting');
  t.match(withDraft.body, `href="/finance/runs/${againId}"`);

  // Paid again: pressing the button once more explains there is nobody to pay.
  await call('POST', `/v1/payout-runs/${againId}/approve`, approver);
  for (const i of again.items) await call('POST', `/v1/payouts/${i.id}/mark-paid`, approver, { reference: 'BACS-10' });
  await client.get('/finance');
  const nobody = await client.post(`/finance/runs/${run.id}/pay-again`, client.hiddenFields(`/finance/runs/${run.id}/pay-again`));
  t.equal(nobody.statusCode, 409);
  t.match(text(nobody.body), 'There is a problem');
  t.match(text(nobody.body), 'Nobody whose payment failed in that run is owed money now');
  t.match(nobody.body, `href="#pay-again-${run.id}"`, 'the error summary links to the button');

  // Three months on, the failures and the work have left the page's windows.
  clock = new Date('2026-09-20T10:00:00Z');
  const later = await client.get('/finance');
  t.match(text(later.body), 'No payment has failed in the last 30 days.');
  t.match(text(later.body), 'No work done in the last 90 days has been approved yet.', 'old work leaves the 90-day figures too');
});
