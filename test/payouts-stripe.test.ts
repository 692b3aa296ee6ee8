import t from 'tap';
import { buildTestApp, createTestOrg, json, type TestOrg } from './helpers/app.js';
import { addContributor } from './helpers/fixtures.js';
import { allPaid, balanceOf, noSuchDestination, stripeAppForThisFile, stripeContributors, totalInTransit, transferRequestsOf, transfersOf, trialBalance, viaInject, waitForRun } from './helpers/payout-fixtures.js';

const stripeApp = await stripeAppForThisFile(t, 'payouts_stripe');
const { double, app, send } = stripeApp;

/** An organisation with `hours.length` Stripe contributors, each owed hours × £20 and ready for transfers. */
const stripePeople = (hours: number[]) => stripeContributors(stripeApp, hours.map((h, i) => ({ name: `Stripe person ${i + 1}`, hours: h })));

async function draftRun(finance: Record<string, string>, contributorIds?: string[]) {
  const res = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP', ...(contributorIds ? { contributorIds } : {}) } });
  if (res.statusCode !== 201) throw new Error(`draft → ${res.statusCode}: ${res.body}`);
  return json(res);
}

async function approve(org: TestOrg, runId: string) {
  return app.inject({ method: 'POST', url: `/v1/payout-runs/${runId}/approve`, headers: await org.as('finance') });
}

t.test('a Stripe run approved by a second finance user pays every item once', async (t) => {
  const { org, finance, people } = await stripePeople([1, 2, 3]);
  const run = await draftRun(finance);
  t.equal(run.items.length, 3);
  t.same(run.skipped, []);
  t.equal(run.total, 12000);
  t.ok(run.items.every((i: any) => i.method === 'stripe' && i.status === 'pending'));

  const approved = await approve(org, run.id);
  t.equal(approved.statusCode, 200, approved.body);
  t.equal(json(approved).status, 'approved');

  const settled = await waitForRun(send, finance, run.id);
  for (const item of settled.items) {
    const person = people.find((p) => p.contributorId === item.contributorId)!;
    t.equal(item.status, 'paid', `item ${item.id}: ${JSON.stringify(item)}`);
    t.match(item.stripeTransferId, /^tr_/);
    t.equal(item.failureReason, null);
    t.equal(item.amount, person.amount);
    const transfers = transfersOf(double, item.id);
    t.equal(transfers.length, 1, 'exactly one transfer per item');
    const transfer = transfers[0]!;
    t.equal(transfer.id, item.stripeTransferId, 'the item records the transfer Stripe made');
    t.equal(transfer.metadata.payout_item_id, item.id);
    t.equal(transfer.amount, item.amount);
    t.equal(transfer.currency, 'gbp');
    t.equal(transfer.destination, person.accountId);
  }
  for (const person of people) {
    t.match(await balanceOf(send, finance, person.contributorId), { owed: 0, inTransit: 0, paid: person.amount, earnings: { paid: person.amount } });
  }
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
  t.equal(await totalInTransit(send, finance), 0);
  const again = await approve(org, run.id);
  t.equal(again.statusCode, 409, again.body);
  t.equal(json(again).code, 'invalid_state');
});

t.test('onboarding creates the connected account once and a fresh link each call', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const contributor = await addContributor(app, coordinator, { name: 'Sam', email: 'sam@example.test', kind: 'carer', paymentMethod: 'stripe' });
  const first = await app.inject({ method: 'POST', url: `/v1/contributors/${contributor.id}/stripe-account`, headers: coordinator });
  t.equal(first.statusCode, 200, first.body);
  const a = json(first);
  t.match(a, { accountId: /^acct_/, onboardingUrl: /^https:\/\//, payoutsEnabled: false });
  t.same(Object.keys(a).sort(), ['accountId', 'onboardingUrl', 'payoutsEnabled']);

  const second = await app.inject({ method: 'POST', url: `/v1/contributors/${contributor.id}/stripe-account`, headers: await org.as('finance') });
  t.equal(second.statusCode, 200, second.body);
  const b = json(second);
  t.equal(b.accountId, a.accountId, 'the same connected account');
  t.not(b.onboardingUrl, a.onboardingUrl, 'a fresh Account Link');
  t.equal(b.payoutsEnabled, false);

  const accounts = [...double.accounts.values()].filter((acct) => acct.metadata.contributor_id === contributor.id);
  t.equal(accounts.length, 1, 'one connected account in Stripe');
  t.equal(accounts[0]!.id, a.accountId);
  const stored = json(await app.inject({ method: 'GET', url: `/v1/contributors/${contributor.id}`, headers: coordinator }));
  t.match(stored, { stripeAccountId: a.accountId, payoutsEnabled: false });

  const bank = await addContributor(app, coordinator, { name: 'Lee', kind: 'carer', paymentMethod: 'bank_transfer' });
  const notStripe = await app.inject({ method: 'POST', url: `/v1/contributors/${bank.id}/stripe-account`, headers: coordinator });
  t.equal(notStripe.statusCode, 409, notStripe.body);
  t.equal(json(notStripe).code, 'invalid_state');
  const participant = await app.inject({ method: 'POST', url: `/v1/contributors/${contributor.id}/stripe-account`, headers: await org.as('participant', { contributorId: contributor.id }) });
  t.equal(participant.statusCode, 403, participant.body);
});

t.test('a participant starts their own Stripe onboarding through /v1/me/stripe-account', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const contributor = await addContributor(app, coordinator, { name: 'Robin', kind: 'lived_experience', paymentMethod: 'stripe' });
  const me = await org.as('participant', { contributorId: contributor.id });
  const first = await app.inject({ method: 'POST', url: '/v1/me/stripe-account', headers: me });
  t.equal(first.statusCode, 200, first.body);
  t.match(json(first), { accountId: /^acct_/, onboardingUrl: /^https:\/\//, payoutsEnabled: false });
  const second = await app.inject({ method: 'POST', url: '/v1/me/stripe-account', headers: me });
  t.equal(second.statusCode, 200, second.body);
  t.equal(json(second).accountId, json(first).accountId);
  t.not(json(second).onboardingUrl, json(first).onboardingUrl);
  t.equal([...double.accounts.values()].filter((acct) => acct.metadata.contributor_id === contributor.id).length, 1);
  const stored = json(await app.inject({ method: 'GET', url: `/v1/contributors/${contributor.id}`, headers: coordinator }));
  t.equal(stored.stripeAccountId, json(first).accountId);

  const finance = await app.inject({ method: 'POST', url: '/v1/me/stripe-account', headers: await org.as('finance') });
  t.equal(finance.statusCode, 403, finance.body);
});

t.test('approval answers 200 at once, before Stripe has answered', async (t) => {
  const { org, finance, people } = await stripePeople([2]);
  const run = await draftRun(finance);
  double.faults.enqueue({ kind: 'delay', ms: 1500, match: 'POST /v1/transfers' });
  const approved = await approve(org, run.id);
  t.equal(approved.statusCode, 200, approved.body);
  const body = json(approved);
  t.equal(body.status, 'approved');
  t.equal(body.items.length, 1);
  t.match(body.items[0], { status: 'processing', stripeTransferId: null });
  t.match(await balanceOf(send, finance, people[0]!.contributorId), { owed: 0, inTransit: 4000, paid: 0 });

  const settled = await waitForRun(send, finance, run.id);
  t.match(settled.items[0], { status: 'paid', stripeTransferId: /^tr_/ });
  t.equal(transfersOf(double, body.items[0].id).length, 1);
  t.equal(double.faults.pending().length, 0, 'the delayed request was the transfer');
  t.match(await balanceOf(send, finance, people[0]!.contributorId), { owed: 0, inTransit: 0, paid: 4000 });
});

t.test('a response lost after Stripe made the transfer ends with one transfer, recorded', async (t) => {
  const { org, finance, people } = await stripePeople([3]);
  const run = await draftRun(finance);
  // Lost twice on the first attempt (the SDK retries a dropped connection once by itself), and
  // once more should the next attempt post again.
  double.faults.enqueue({ kind: 'lose_response', match: 'POST /v1/transfers', times: 3 });
  t.equal((await approve(org, run.id)).statusCode, 200);
  const settled = await waitForRun(send, finance, run.id);
  const item = settled.items[0];
  t.equal(item.status, 'paid', JSON.stringify(item));
  t.ok(item.attempts >= 2, 'paid on a later attempt');
  const transfers = transfersOf(double, item.id);
  t.equal(transfers.length, 1, 'exactly one transfer');
  t.equal(item.stripeTransferId, transfers[0]!.id);
  t.ok(double.requests.filter((r) => r.method === 'POST' && r.path === '/v1/transfers' && r.fault === 'lose_response').length >= 2);
  t.match(await balanceOf(send, finance, people[0]!.contributorId), { owed: 0, inTransit: 0, paid: 6000 });
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
});

t.test('a 500 and a 429 from Stripe are retried and the item is paid once', async (t) => {
  const { org, finance, people } = await stripePeople([1]);
  const run = await draftRun(finance);
  double.faults.enqueue({ kind: 'status', status: 500, match: 'POST /v1/transfers' });
  double.faults.enqueue({ kind: 'rate_limit', match: 'POST /v1/transfers' });
  t.equal((await approve(org, run.id)).statusCode, 200);
  const settled = await waitForRun(send, finance, run.id);
  const item = settled.items[0];
  t.equal(item.status, 'paid', JSON.stringify(item));
  t.equal(item.failureReason, null);
  t.equal(item.lastError, null, 'the transient error is cleared once paid');
  t.equal(item.attempts, 2, 'a 500 (the queue retries the item), then a 429 retried at once within the second attempt, then the transfer');
  t.equal(double.faults.pending().length, 0);
  t.equal(transfersOf(double, item.id).length, 1);
  const faulted = double.requests.filter((r) => r.method === 'POST' && r.path === '/v1/transfers' && (r.fault === 'status' || r.fault === 'rate_limit'));
  t.same(faulted.map((r) => r.status), [500, 429]);
  t.match(await balanceOf(send, finance, people[0]!.contributorId), { owed: 0, inTransit: 0, paid: 2000 });
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
});

t.test('after a 429, transfers already waiting their turn wait for the pause too', async (t) => {
  // Five items go to Stripe side by side, spaced by the pacer (STRIPE_MAX_RPS 25 here: 41 ms
  // apart). The first is answered 429, which pauses this process's Stripe calls for 250 ms. The
  // four queued behind it must not go out during the pause (without the check at release they
  // went at +41, +82, +123 and +164 ms, straight into the limit again).
  const { org, finance } = await stripePeople([1, 1, 1, 1, 1]);
  const run = await draftRun(finance);
  double.faults.enqueue({ kind: 'rate_limit', match: 'POST /v1/transfers' });
  t.equal((await approve(org, run.id)).statusCode, 200);
  const settled = await waitForRun(send, finance, run.id, { done: allPaid });
  t.ok(allPaid(settled), 'every item paid');
  const transfers = transferRequestsOf(double, settled.items.map((i: { id: string }) => i.id));
  const limited = transfers.find((r) => r.fault === 'rate_limit');
  if (!limited) return t.fail('no transfer was answered 429');
  const duringPause = transfers.filter((r) => r.at > limited.at && r.at < limited.at + 200);
  // One may already have been on its way when the 429 came back on a slow machine; four would
  // mean the pause held nothing.
  t.ok(duringPause.length <= 1, `${duringPause.length} transfer request(s) within 200 ms of the 429`);
  t.same(transfers.map((r) => r.status), [429, 200, 200, 200, 200, 200], 'one 429, then one transfer per item');
  for (const item of settled.items) t.equal(transfersOf(double, item.id).length, 1, `item ${item.id} paid once`);
});

t.test('a permanent Stripe refusal fails the item and returns its money to owed', async (t) => {
  await t.test('resource_missing on the destination', async (t) => {
    const { org, finance, people } = await stripePeople([2]);
    const run = await draftRun(finance);
    double.faults.enqueue(noSuchDestination('acct_gone'));
    t.equal((await approve(org, run.id)).statusCode, 200);
    const settled = await waitForRun(send, finance, run.id);
    const item = settled.items[0];
    t.equal(item.status, 'failed', JSON.stringify(item));
    t.match(item.failureReason, /resource_missing/);
    t.equal(item.stripeTransferId, null);
    t.equal(item.attempts, 1, 'a permanent refusal is not retried');
    t.equal(transfersOf(double, item.id).length, 0);
    t.match(await balanceOf(send, finance, people[0]!.contributorId), { owed: 4000, inTransit: 0, paid: 0 });
    t.equal(await totalInTransit(send, finance), 0);
    t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);

    // The money is owed again, so the next run carries it.
    const next = await draftRun(finance);
    t.match(next.items, [{ contributorId: people[0]!.contributorId, amount: 4000, status: 'pending' }]);
    t.equal(next.items.length, 1);
    t.equal((await app.inject({ method: 'POST', url: `/v1/payout-runs/${next.id}/cancel`, headers: finance })).statusCode, 200);
  });

  await t.test('a destination whose transfers capability is inactive, beside one that is paid', async (t) => {
    const { org, finance, people } = await stripePeople([1, 2]);
    const [broken, fine] = people as [(typeof people)[0], (typeof people)[0]];
    double.setCapability(broken.accountId, 'transfers', 'inactive'); // Stripe has not told us yet
    const run = await draftRun(finance);
    t.equal(run.items.length, 2);
    t.equal((await approve(org, run.id)).statusCode, 200);
    const settled = await waitForRun(send, finance, run.id);
    const failedItem = settled.items.find((i: any) => i.contributorId === broken.contributorId);
    const paidItem = settled.items.find((i: any) => i.contributorId === fine.contributorId);
    t.equal(failedItem.status, 'failed', JSON.stringify(failedItem));
    t.match(failedItem.failureReason, /insufficient_capabilities_for_transfer/);
    t.equal(failedItem.stripeTransferId, null);
    t.equal(paidItem.status, 'paid', JSON.stringify(paidItem));
    t.equal(transfersOf(double, failedItem.id).length, 0);
    t.equal(transfersOf(double, paidItem.id).length, 1);
    t.match(await balanceOf(send, finance, broken.contributorId), { owed: 2000, inTransit: 0, paid: 0 });
    t.match(await balanceOf(send, finance, fine.contributorId), { owed: 0, inTransit: 0, paid: 4000 });
    t.equal(await totalInTransit(send, finance), 0);
    t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
  });
});

t.test('ten finance users approving the same run at once: one wins, each item is paid once', async (t) => {
  const { org, finance, people } = await stripePeople([1, 2, 3]);
  const run = await draftRun(finance);
  const approvers = await Promise.all(Array.from({ length: 10 }, () => org.as('finance')));
  const answers = await Promise.all(approvers.map((headers) => app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers })));
  const statuses = answers.map((a) => a.statusCode).sort();
  t.same(statuses, [200, ...Array(9).fill(409)], 'one 200, nine 409');
  for (const a of answers.filter((x) => x.statusCode === 409)) t.equal(json(a).code, 'invalid_state');

  const settled = await waitForRun(send, finance, run.id);
  t.ok(allPaid(settled), JSON.stringify(settled.items));
  for (const item of settled.items) t.equal(transfersOf(double, item.id).length, 1, `one transfer for item ${item.id}`);
  for (const person of people) t.match(await balanceOf(send, finance, person.contributorId), { owed: 0, inTransit: 0, paid: person.amount });
  t.equal(await totalInTransit(send, finance), 0);
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
  const approvals = json(await app.inject({ method: 'GET', url: `/v1/audit-events?entityType=payout_run&entityId=${run.id}`, headers: finance }));
  t.equal(approvals.data.filter((e: any) => e.action === 'payout_run.approved').length, 1, 'one approval recorded');
});

t.test('without Stripe configured, a run with Stripe items cannot be approved', async (t) => {
  const { org, finance, people } = await stripePeople([2]);
  const run = await draftRun(finance);
  const noStripe = await buildTestApp({ stripe: null });
  t.teardown(() => noStripe.close());
  const refused = await noStripe.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') });
  t.equal(refused.statusCode, 409, refused.body);
  t.equal(json(refused).code, 'stripe_not_configured');
  t.match(refused.headers['content-type'], /application\/problem\+json/);
  const after = json(await noStripe.inject({ method: 'GET', url: `/v1/payout-runs/${run.id}`, headers: finance }));
  t.equal(after.status, 'draft', 'nothing changed');
  t.equal(after.items[0].status, 'pending');
  t.match(await balanceOf(viaInject(noStripe), finance, people[0]!.contributorId), { owed: 4000, inTransit: 0, paid: 0 });
  t.equal(transfersOf(double, after.items[0].id).length, 0);
});
