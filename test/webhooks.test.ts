import t from 'tap';
import { buildTestApp, createTestOrg, json } from './helpers/app.js';
import { addContributor, fundedBudget, owedContributor } from './helpers/fixtures.js';
import {
  WEBHOOK_SECRET,
  allPaid,
  balanceOf,
  deliverEvent,
  onboardStripeContributor,
  parse,
  signer,
  stripeAppForThisFile,
  stripeFor,
  totalInTransit,
  trialBalance,
  waitForRun,
} from './helpers/payout-fixtures.js';
import { makeEvent, signedEvent, webhookHeader, type DoubleAccount } from '../tools/stripe-double/index.js';

const { double, app, send } = await stripeAppForThisFile(t, 'webhooks');

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A Stripe contributor whose connected account exists (not yet able to receive transfers). */
async function contributorWithAccount() {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const finance = await org.as('finance');
  const contributor = await addContributor(app, coordinator, { name: 'Ash', kind: 'lived_experience', paymentMethod: 'stripe' });
  const onboarding = json(await app.inject({ method: 'POST', url: `/v1/contributors/${contributor.id}/stripe-account`, headers: coordinator }));
  const account = double.accounts.get(onboarding.accountId)!;
  const view = async () => json(await app.inject({ method: 'GET', url: `/v1/contributors/${contributor.id}`, headers: coordinator }));
  return { org, coordinator, finance, contributorId: contributor.id as string, account, view };
}

/** Stripe contributors owed hours × £20 each, paid through a Stripe run; returns the settled run. */
async function paidStripeRun(hours: number[]) {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const people: { contributorId: string; accountId: string; amount: number }[] = [];
  for (const [i, h] of hours.entries()) {
    const owed = await owedContributor(app, org, budgetId, { paymentMethod: 'stripe', hours: h, name: `Paid person ${i + 1}` });
    people.push({ contributorId: owed.contributorId, accountId: await onboardStripeContributor(send, coordinator, double, owed.contributorId), amount: h * 2000 });
  }
  const run = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  const approved = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') });
  if (approved.statusCode !== 200) throw new Error(`approve → ${approved.statusCode}: ${approved.body}`);
  const settled = await waitForRun(send, finance, run.id);
  if (!allPaid(settled)) throw new Error(`run not paid: ${JSON.stringify(settled.items)}`);
  const itemOf = (contributorId: string) => settled.items.find((i: any) => i.contributorId === contributorId);
  const getRun = async () => json(await app.inject({ method: 'GET', url: `/v1/payout-runs/${run.id}`, headers: finance }));
  return { org, finance, people, run: settled, itemOf, getRun };
}

async function auditOf(headers: Record<string, string>, entityType: string, entityId: string) {
  return json(await app.inject({ method: 'GET', url: `/v1/audit-events?entityType=${entityType}&entityId=${entityId}&limit=200`, headers })).data as any[];
}

const webhook = (payload: string, signature: string | undefined) =>
  app.inject({
    method: 'POST',
    url: '/v1/webhooks/stripe',
    headers: { 'content-type': 'application/json', ...(signature === undefined ? {} : { 'stripe-signature': signature }) },
    payload,
  });

t.test('signatures: wrong secret, stale, missing, or a re-serialised body are refused with 400', async (t) => {
  const { account, view } = await contributorWithAccount();
  const active = structuredClone(double.activateAccount(account.id));
  const event = makeEvent('account.updated', active);

  const wrongSecret = signedEvent(signer, event, 'whsec_not_the_secret');
  const bad = await webhook(wrongSecret.payload, wrongSecret.header);
  t.equal(bad.statusCode, 400, bad.body);
  t.equal(json(bad).code, 'invalid_signature');
  t.match(bad.headers['content-type'], /application\/problem\+json/);

  const stale = signedEvent(signer, event, WEBHOOK_SECRET, nowSeconds() - 3600);
  const staleAnswer = await webhook(stale.payload, stale.header);
  t.equal(staleAnswer.statusCode, 400, staleAnswer.body);
  t.equal(json(staleAnswer).code, 'invalid_signature');

  const good = signedEvent(signer, event, WEBHOOK_SECRET);
  const reserialised = JSON.stringify(JSON.parse(good.payload), null, 2);
  t.not(reserialised, good.payload);
  const reserialisedAnswer = await webhook(reserialised, good.header);
  t.equal(reserialisedAnswer.statusCode, 400, reserialisedAnswer.body);
  t.equal(json(reserialisedAnswer).code, 'invalid_signature');

  const tampered = await webhook(good.payload.replace('"livemode":false', '"livemode":true'), good.header);
  t.equal(tampered.statusCode, 400, tampered.body);
  t.equal(json(tampered).code, 'invalid_signature');

  const missing = await webhook(good.payload, undefined);
  t.equal(missing.statusCode, 400, missing.body);
  t.equal(json(missing).code, 'invalid_signature');

  t.equal((await view()).payoutsEnabled, false, 'no refused delivery was applied');

  // The refusals did not consume the event id: the genuine delivery is applied.
  const genuine = await webhook(good.payload, good.header);
  t.equal(genuine.statusCode, 200, genuine.body);
  t.same(json(genuine), { received: true, duplicate: false });
  t.equal((await view()).payoutsEnabled, true);
});

t.test('a webhook needs no bearer token, and unknown event types are acknowledged', async (t) => {
  const event = makeEvent('customer.created', { id: 'cus_123', object: 'customer' });
  const { payload, header } = signedEvent(signer, event, WEBHOOK_SECRET);
  const res = await app.inject({ method: 'POST', url: '/v1/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload });
  t.equal(res.statusCode, 200, res.body);
  t.same(json(res), { received: true, duplicate: false });
  const again = await app.inject({ method: 'POST', url: '/v1/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload });
  t.same(json(again), { received: true, duplicate: true });
});

t.test('the same event delivered twice is applied once', async (t) => {
  const { finance, contributorId, account, view } = await contributorWithAccount();
  const payout = { id: 'po_twice', object: 'payout', amount: 1234, currency: 'gbp', status: 'paid' };
  const event = makeEvent('payout.paid', payout, { account: account.id });
  const { payload, header } = signedEvent(signer, event, WEBHOOK_SECRET);
  const first = await webhook(payload, header);
  t.equal(first.statusCode, 200, first.body);
  t.same(json(first), { received: true, duplicate: false });
  const second = await webhook(payload, header);
  t.equal(second.statusCode, 200, second.body);
  t.same(json(second), { received: true, duplicate: true });
  const events = (await auditOf(finance, 'contributor', contributorId)).filter((e) => e.action === 'contributor.bank_payout_paid');
  t.equal(events.length, 1, 'one audit event');

  // account.updated too: the replay is a duplicate and changes nothing.
  const activated = makeEvent('account.updated', structuredClone(double.activateAccount(account.id)));
  t.same(parse(await deliverEvent(send, activated)), { received: true, duplicate: false });
  t.same(parse(await deliverEvent(send, activated)), { received: true, duplicate: true });
  t.equal((await view()).payoutsEnabled, true);
  t.equal((await auditOf(finance, 'contributor', contributorId)).filter((e) => e.action === 'contributor.stripe_account_updated').length, 1);
});

t.test('the same event delivered 10 times at once is applied once', async (t) => {
  const { finance, contributorId, account } = await contributorWithAccount();
  const event = makeEvent('payout.paid', { id: 'po_burst', object: 'payout', amount: 999, currency: 'gbp', status: 'paid' }, { account: account.id });
  const { payload, header } = signedEvent(signer, event, WEBHOOK_SECRET);
  const answers = await Promise.all(Array.from({ length: 10 }, () => webhook(payload, header)));
  t.same(answers.map((a) => a.statusCode), Array(10).fill(200), answers.map((a) => a.body).join('\n'));
  t.equal(answers.filter((a) => json(a).duplicate === false).length, 1, 'applied once');
  t.equal(answers.filter((a) => json(a).duplicate === true).length, 9);
  const events = (await auditOf(finance, 'contributor', contributorId)).filter((e) => e.action === 'contributor.bank_payout_paid');
  t.equal(events.length, 1, 'one audit event');
});

t.test('account.updated out of order: an older event never undoes a newer one', async (t) => {
  const { account, view } = await contributorWithAccount();
  const now = nowSeconds();
  const inactive: DoubleAccount = structuredClone(account);
  const active: DoubleAccount = structuredClone(double.activateAccount(account.id));
  t.equal(inactive.capabilities.transfers, 'inactive');

  const newer = makeEvent('account.updated', active, { created: now });
  const older = makeEvent('account.updated', inactive, { created: now - 60 });
  t.same(parse(await deliverEvent(send, newer)), { received: true, duplicate: false });
  t.equal((await view()).payoutsEnabled, true);
  const late = await deliverEvent(send, older);
  t.equal(late.statusCode, 200, late.body);
  t.equal((await view()).payoutsEnabled, true, 'the older event is ignored');

  // A genuinely newer event that takes the capability away does apply.
  const revoked = structuredClone(double.setCapability(account.id, 'transfers', 'inactive'));
  t.same(parse(await deliverEvent(send, makeEvent('account.updated', revoked, { created: now + 60 }))), { received: true, duplicate: false });
  t.equal((await view()).payoutsEnabled, false);
});

t.test('transfer.reversed on a paid item fails it and returns the money to owed, once', async (t) => {
  const { finance, people, itemOf, getRun } = await paidStripeRun([2, 1]);
  const [person, other] = people as [(typeof people)[0], (typeof people)[0]];
  const item = itemOf(person.contributorId);
  double.reverseTransfer(item.stripeTransferId);
  const transfer = structuredClone(double.transfers.get(item.stripeTransferId)!);
  t.equal(transfer.amount_reversed, 4000);
  const event = makeEvent('transfer.reversed', transfer);
  const { payload, header } = signedEvent(signer, event, WEBHOOK_SECRET);

  const first = await webhook(payload, header);
  t.equal(first.statusCode, 200, first.body);
  t.same(json(first), { received: true, duplicate: false });
  const after = (await getRun()).items.find((i: any) => i.id === item.id);
  t.equal(after.status, 'failed');
  t.match(after.failureReason, /reversed/);
  t.equal(after.stripeTransferId, item.stripeTransferId, 'the transfer stays on record');
  t.match(await balanceOf(send, finance, person.contributorId), { owed: 4000, inTransit: 0, paid: 0 });
  t.match(await balanceOf(send, finance, other.contributorId), { owed: 0, inTransit: 0, paid: 2000 }, 'the other item is untouched');
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);

  const replay = await webhook(payload, header);
  t.same(json(replay), { received: true, duplicate: true });
  // Stripe may also send the same state under a new event id: nothing more moves.
  const sameState = await deliverEvent(send, makeEvent('transfer.reversed', transfer));
  t.same(parse(sameState), { received: true, duplicate: false });
  t.match(await balanceOf(send, finance, person.contributorId), { owed: 4000, inTransit: 0, paid: 0 });
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
  t.equal(await totalInTransit(send, finance), 0);
  t.equal((await auditOf(finance, 'payout_item', item.id)).filter((e) => e.action === 'payout_item.reversed').length, 1);

  // The money is owed again: the next run carries it.
  const next = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  t.match(next.items, [{ contributorId: person.contributorId, amount: 4000 }]);
  t.equal(next.items.length, 1);
});

t.test('partial transfer reversals return Stripe\u2019s cumulative amount_reversed to owed', async (t) => {
  const { finance, people, itemOf, getRun } = await paidStripeRun([3, 3]);
  /** Stripe takes back £10, then £20 more, of a transfer: the transfer.reversed event of each, as Stripe sends it (amount_reversed is cumulative). */
  const reversedTwice = (transferId: string) => {
    const reversed = (amount: number) => {
      double.reverseTransfer(transferId, amount);
      return makeEvent('transfer.reversed', structuredClone(double.transfers.get(transferId)!));
    };
    const first = reversed(1000);
    return [first, reversed(2000)] as const;
  };
  const [inOrder, outOfOrder] = people as [(typeof people)[0], (typeof people)[0]];

  await t.test('delivered in order', async (t) => {
    const item = itemOf(inOrder.contributorId);
    const [firstEvent, secondEvent] = reversedTwice(item.stripeTransferId);
    t.equal(secondEvent.data.object.amount_reversed, 3000);

    t.equal((await deliverEvent(send, firstEvent)).statusCode, 200);
    t.match(await balanceOf(send, finance, inOrder.contributorId), { owed: 1000, inTransit: 0, paid: 5000 });
    t.equal((await deliverEvent(send, secondEvent)).statusCode, 200);
    t.match(
      await balanceOf(send, finance, inOrder.contributorId),
      { owed: 3000, inTransit: 0, paid: 3000 },
      'both reversals are back in owed (Stripe has taken back 3000 of 6000)',
    );
    const after = (await getRun()).items.find((i: any) => i.id === item.id);
    t.equal(after.status, 'failed');
    t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
  });

  await t.test('delivered out of order', async (t) => {
    const item = itemOf(outOfOrder.contributorId);
    const [firstEvent, secondEvent] = reversedTwice(item.stripeTransferId);
    t.equal((await deliverEvent(send, secondEvent)).statusCode, 200);
    t.equal((await deliverEvent(send, firstEvent)).statusCode, 200);
    t.match(await balanceOf(send, finance, outOfOrder.contributorId), { owed: 3000, inTransit: 0, paid: 3000 });
    t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
  });
});

t.test('a transfer.reversed that arrives before the transfer is recorded is not lost', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const owed = await owedContributor(app, org, budgetId, { paymentMethod: 'stripe', hours: 2, name: 'Early reversal' });
  await onboardStripeContributor(send, coordinator, double, owed.contributorId);
  const run = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  const itemId = run.items[0].id;
  // Stripe makes the transfer at once but its answer takes 1.5 s (under the SDK's 2 s timeout).
  double.faults.enqueue({ kind: 'delay', ms: 1500, match: 'POST /v1/transfers' });
  t.equal((await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') })).statusCode, 200);
  const deadline = Date.now() + 20_000;
  let transfer = [...double.transfers.values()].find((x) => x.metadata.payout_item_id === itemId);
  while (!transfer) {
    if (Date.now() > deadline) throw new Error('no transfer within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
    transfer = [...double.transfers.values()].find((x) => x.metadata.payout_item_id === itemId);
  }
  const notYet = json(await app.inject({ method: 'GET', url: `/v1/payout-runs/${run.id}`, headers: finance })).items[0];
  t.equal(notYet.stripeTransferId, null, 'the transfer exists at Stripe but is not recorded yet (the race under test)');
  double.reverseTransfer(transfer.id);
  const delivered = await deliverEvent(send, makeEvent('transfer.reversed', structuredClone(transfer)));
  t.equal(delivered.statusCode, 200, delivered.body);

  const settled = await waitForRun(send, finance, run.id);
  t.equal(settled.items[0].stripeTransferId, transfer.id);
  t.match(
    await balanceOf(send, finance, owed.contributorId),
    { owed: 4000, inTransit: 0, paid: 0 },
    'Stripe took the money back, so it is owed again, not paid',
  );
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
});

t.test('payout.failed on a connected account marks its paid items with the bank failure', async (t) => {
  const { finance, people, itemOf, getRun } = await paidStripeRun([1, 2]);
  const [person, other] = people as [(typeof people)[0], (typeof people)[0]];
  const payout = {
    id: 'po_failed_1',
    object: 'payout',
    amount: person.amount,
    currency: 'gbp',
    status: 'failed',
    failure_code: 'account_closed',
    failure_message: 'The bank account has been closed.',
  };
  const res = await deliverEvent(send, makeEvent('payout.failed', payout, { account: person.accountId }));
  t.equal(res.statusCode, 200, res.body);
  t.same(parse(res), { received: true, duplicate: false });
  const run = await getRun();
  const failedItem = run.items.find((i: any) => i.id === itemOf(person.contributorId).id);
  const untouched = run.items.find((i: any) => i.id === itemOf(other.contributorId).id);
  t.equal(failedItem.bankPayoutStatus, 'failed');
  t.equal(failedItem.failureReason, 'The bank account has been closed.');
  t.equal(failedItem.status, 'paid', 'the transfer reached the connected account; the bank payout is what failed');
  t.equal(untouched.bankPayoutStatus, null);
  t.equal(untouched.failureReason, null);
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);

  // A payout.failed for an account nobody here knows is acknowledged and ignored.
  const stranger = await deliverEvent(send, makeEvent('payout.failed', { ...payout, id: 'po_x' }, { account: 'acct_unknown' }));
  t.equal(stranger.statusCode, 200, stranger.body);
});

t.test('without STRIPE_WEBHOOK_SECRET, webhooks are refused with 409 stripe_not_configured', async (t) => {
  const noSecret = await buildTestApp({ stripe: stripeFor(double), env: { STRIPE_SECRET_KEY: 'sk_test_x' } });
  t.teardown(() => noSecret.close());
  const { payload, header } = signedEvent(signer, makeEvent('customer.created', { id: 'cus_1', object: 'customer' }), WEBHOOK_SECRET);
  const res = await noSecret.inject({ method: 'POST', url: '/v1/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload });
  t.equal(res.statusCode, 409, res.body);
  t.equal(json(res).code, 'stripe_not_configured');

  const noStripe = await buildTestApp({ stripe: null });
  t.teardown(() => noStripe.close());
  const none = await noStripe.inject({
    method: 'POST',
    url: '/v1/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'stripe-signature': webhookHeader(signer, payload, WEBHOOK_SECRET) },
    payload,
  });
  t.equal(none.statusCode, 409, none.body);
  t.equal(json(none).code, 'stripe_not_configured');
});

t.test("two endpoints, two secrets: the platform's and the connected accounts' events are both accepted, nothing else", async (t) => {
  // Stripe signs a platform's own events and its connected accounts' events at separate
  // endpoints, each with its own secret; STRIPE_WEBHOOK_SECRET takes both, comma-separated.
  const connectSecret = 'whsec_connect_endpoint';
  const both = await buildTestApp({ stripe: stripeFor(double), env: { STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: `${WEBHOOK_SECRET}, ${connectSecret}` } });
  t.teardown(() => both.close());
  const deliver = (secret: string, id: string) => {
    const { payload, header } = signedEvent(signer, { ...makeEvent('customer.created', { id: 'cus_2', object: 'customer' }), id }, secret);
    return both.inject({ method: 'POST', url: '/v1/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload });
  };
  const stamp = Date.now().toString(36);
  t.equal((await deliver(WEBHOOK_SECRET, `evt_platform_${stamp}`)).statusCode, 200, 'signed with the platform endpoint secret');
  t.equal((await deliver(connectSecret, `evt_connect_${stamp}`)).statusCode, 200, 'signed with the connected-accounts endpoint secret');
  const forged = await deliver('whsec_someone_else', `evt_forged_${stamp}`);
  t.equal(forged.statusCode, 400);
  t.equal(json(forged).code, 'invalid_signature');
});
