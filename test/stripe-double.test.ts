import t from 'tap';
import Stripe from 'stripe';
import { makeEvent, parseForm, signedEvent, startStripeDouble, webhookHeader, type StripeDouble } from '../tools/stripe-double/index.js';

const double = await startStripeDouble();
t.teardown(() => double.close());

const sdk = (d: StripeDouble = double, extra: Partial<Stripe.StripeConfig> = {}) =>
  new Stripe('sk_test_x', { ...d.stripeConfig, maxNetworkRetries: 0, ...extra });
const stripe = sdk();

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await p;
  } catch (e) {
    return e as Stripe.errors.StripeError;
  }
  throw new Error('expected the call to fail');
}

t.beforeEach(() => double.reset());

const transferParams = (destination: string, extra: Partial<Stripe.TransferCreateParams> = {}): Stripe.TransferCreateParams => ({
  amount: 1500,
  currency: 'gbp',
  destination,
  transfer_group: 'item_1',
  metadata: { payout_item_id: 'item_1' },
  ...extra,
});
const transfersTo = (destination: string) => [...double.transfers.values()].filter((x) => x.destination === destination);

t.test('parseForm expands bracket keys', async (t) => {
  t.same(parseForm('capabilities[transfers][requested]=true&metadata[payout_item_id]=p1&metadata[0]=zero&expand[0]=a&expand[1]=b&x[]=1&x[]=2&a=%20b'), {
    capabilities: { transfers: { requested: 'true' } },
    metadata: { payout_item_id: 'p1', 0: 'zero' },
    expand: ['a', 'b'],
    x: ['1', '2'],
    a: ' b',
  });
});

t.test('connected accounts: create, retrieve, activate, link', async (t) => {
  const account = await stripe.accounts.create({
    type: 'express',
    country: 'GB',
    business_type: 'individual',
    email: 'sam@example.test',
    capabilities: { transfers: { requested: true } },
    metadata: { contributor_id: 'c1' },
  });
  t.match(account.id, /^acct_/);
  t.equal(account.object, 'account');
  t.equal(account.type, 'express');
  t.equal(account.country, 'GB');
  t.equal(account.business_type, 'individual');
  t.same(account.capabilities, { transfers: 'inactive' });
  t.equal(account.payouts_enabled, false);
  t.equal(account.charges_enabled, false);
  t.equal(account.details_submitted, false);
  t.same(account.metadata, { contributor_id: 'c1' });

  const link = await stripe.accountLinks.create({
    account: account.id,
    type: 'account_onboarding',
    refresh_url: 'https://app.test/refresh',
    return_url: 'https://app.test/return',
  });
  t.equal(link.object, 'account_link');
  t.match(link.url, /^https:\/\/connect\.stripe\.test\/setup\/\w+$/);
  t.ok(link.expires_at > link.created);

  double.activateAccount(account.id);
  const fetched = await stripe.accounts.retrieve(account.id);
  t.equal(fetched.capabilities?.transfers, 'active');
  t.equal(fetched.payouts_enabled, true);
  t.equal(fetched.details_submitted, true);

  const updated = await stripe.accounts.update(account.id, { metadata: { contributor_id: '', note: 'x' } });
  t.same(updated.metadata, { note: 'x' });

  const missing = await failure(stripe.accounts.retrieve('acct_nope'));
  t.ok(missing instanceof Stripe.errors.StripeInvalidRequestError);
  t.equal(missing.statusCode, 404);
  t.equal(missing.code, 'resource_missing');

  const badLink = await failure(
    stripe.accountLinks.create({ account: 'acct_nope', type: 'account_onboarding', refresh_url: 'https://a.test', return_url: 'https://a.test' }),
  );
  t.ok(badLink instanceof Stripe.errors.StripeInvalidRequestError);
  t.equal(badLink.code, 'resource_missing');
  t.equal(badLink.param, 'account');
});

t.test('a key that is not sk_ is refused', async (t) => {
  const bad = new Stripe('pk_test_x', { ...double.stripeConfig, maxNetworkRetries: 0 });
  const err = await failure(bad.accounts.retrieve('acct_x'));
  t.ok(err instanceof Stripe.errors.StripeAuthenticationError);
  t.equal(err.statusCode, 401);
});

t.test('transfers: create, retrieve, refusals', async (t) => {
  const account = double.createAccount({ active: true });
  const transfer = await stripe.transfers.create(transferParams(account.id, { description: 'Payment' }));
  t.match(transfer.id, /^tr_/);
  t.match(transfer, {
    object: 'transfer',
    amount: 1500,
    currency: 'gbp',
    destination: account.id,
    transfer_group: 'item_1',
    description: 'Payment',
    metadata: { payout_item_id: 'item_1' },
    amount_reversed: 0,
    reversed: false,
  });
  t.type(transfer.created, 'number');
  t.same((await stripe.transfers.retrieve(transfer.id)).id, transfer.id);

  const unknown = await failure(stripe.transfers.create(transferParams('acct_x')));
  t.ok(unknown instanceof Stripe.errors.StripeInvalidRequestError);
  t.equal(unknown.statusCode, 400);
  t.equal(unknown.code, 'resource_missing');
  t.equal(unknown.param, 'destination');
  t.equal(unknown.message, "No such destination: 'acct_x'");

  const inactive = double.createAccount();
  const notReady = await failure(stripe.transfers.create(transferParams(inactive.id)));
  t.ok(notReady instanceof Stripe.errors.StripeInvalidRequestError);
  t.equal(notReady.code, 'insufficient_capabilities_for_transfer');

  const unknownParam = await failure(stripe.transfers.create({ ...transferParams(account.id), amout: 5 } as Stripe.TransferCreateParams));
  t.equal(unknownParam.code, 'parameter_unknown');
  t.equal(unknownParam.param, 'amout');

  const missingTransfer = await failure(stripe.transfers.retrieve('tr_nope'));
  t.equal(missingTransfer.statusCode, 404);
  t.equal(missingTransfer.code, 'resource_missing');
  t.equal(transfersTo(inactive.id).length, 0);
});

t.test('idempotency: same key and params replay, different params are refused', async (t) => {
  const account = double.createAccount({ active: true });
  const first = await stripe.transfers.create(transferParams(account.id), { idempotencyKey: 'payout-item-A' });
  const again = await stripe.transfers.create(transferParams(account.id), { idempotencyKey: 'payout-item-A' });
  t.equal(again.id, first.id);
  t.equal(again.lastResponse.headers['idempotent-replayed'], 'true');
  t.equal(first.lastResponse.headers['idempotent-replayed'], undefined);
  t.equal(transfersTo(account.id).length, 1);
  const logged = double.requests.filter((r) => r.idempotencyKey === 'payout-item-A');
  t.same(
    logged.map((r) => [r.method, r.path, r.status, r.replayed]),
    [
      ['POST', '/v1/transfers', 200, false],
      ['POST', '/v1/transfers', 200, true],
    ],
  );

  const clash = await failure(stripe.transfers.create(transferParams(account.id, { amount: 1600 }), { idempotencyKey: 'payout-item-A' }));
  t.ok(clash instanceof Stripe.errors.StripeIdempotencyError, clash.constructor.name);
  t.equal(clash.type, 'StripeIdempotencyError');
  t.equal(transfersTo(account.id).length, 1);

  const otherEndpoint = await failure(stripe.accounts.create({ type: 'express' }, { idempotencyKey: 'payout-item-A' }));
  t.ok(otherEndpoint instanceof Stripe.errors.StripeIdempotencyError);
});

t.test('endpoint errors are stored under the key like Stripe does; validation errors are not', async (t) => {
  const d = await startStripeDouble({ balance: { gbp: 1000 } });
  t.teardown(() => d.close());
  const s = sdk(d);
  const account = d.createAccount({ active: true });
  const short = await failure(s.transfers.create(transferParams(account.id), { idempotencyKey: 'k-balance' }));
  t.equal(short.code, 'balance_insufficient');
  d.setBalance('gbp', 10_000);
  const replayed = await failure(s.transfers.create(transferParams(account.id), { idempotencyKey: 'k-balance' }));
  t.equal(replayed.code, 'balance_insufficient', 'the stored 400 is replayed even though the balance is now enough');
  t.equal(replayed.headers?.['idempotent-replayed'], 'true');
  const fresh = await s.transfers.create(transferParams(account.id), { idempotencyKey: 'k-balance-2' });
  t.equal(fresh.amount, 1500);
  t.same((await s.balance.retrieve()).available, [{ amount: 8500, currency: 'gbp', source_types: { card: 8500 } }]);

  const invalid = await failure(s.transfers.create({ ...transferParams(account.id), amount: undefined } as unknown as Stripe.TransferCreateParams, { idempotencyKey: 'k-v' }));
  t.equal(invalid.code, 'parameter_missing');
  t.equal(invalid.param, 'amount');
  const later = await s.transfers.create(transferParams(account.id, { amount: 5 }), { idempotencyKey: 'k-v' });
  t.equal(later.amount, 5, 'a validation error does not burn the key');
});

t.test('faults: 5xx and 429 perform nothing; error faults answer as told', async (t) => {
  const account = double.createAccount({ active: true });
  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'status', status: 500 });
  const err500 = await failure(stripe.transfers.create(transferParams(account.id), { idempotencyKey: 'k-500' }));
  t.ok(err500 instanceof Stripe.errors.StripeAPIError, err500.constructor.name);
  t.equal(err500.statusCode, 500);
  t.equal(transfersTo(account.id).length, 0);
  const retried = await stripe.transfers.create(transferParams(account.id), { idempotencyKey: 'k-500' });
  t.equal(transfersTo(account.id).length, 1, 'the failed attempt did not store the key');
  t.equal(retried.lastResponse.headers['idempotent-replayed'], undefined);

  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'status', status: 503 });
  t.ok((await failure(stripe.transfers.create(transferParams(account.id)))) instanceof Stripe.errors.StripeAPIError);

  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'rate_limit' });
  // A fault for transfers does not touch other requests.
  await stripe.accounts.retrieve(account.id);
  const limited = await failure(stripe.transfers.create(transferParams(account.id)));
  t.ok(limited instanceof Stripe.errors.StripeRateLimitError, limited.constructor.name);
  t.equal(limited.statusCode, 429);
  t.equal(transfersTo(account.id).length, 1);

  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'error', status: 400, type: 'invalid_request_error', code: 'account_invalid', message: 'nope' });
  const custom = await failure(stripe.transfers.create(transferParams(account.id)));
  t.ok(custom instanceof Stripe.errors.StripeInvalidRequestError);
  t.equal(custom.code, 'account_invalid');
  t.equal(transfersTo(account.id).length, 1);

  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'status', status: 502, times: 3 });
  t.equal(double.faults.pending().length, 1);
  double.reset();
  t.equal(double.faults.pending().length, 0);
});

t.test('a 5xx with retries on: the SDK retries with the same key and succeeds once', async (t) => {
  const account = double.createAccount({ active: true });
  const retrying = sdk(double, { maxNetworkRetries: 2 });
  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'status', status: 502 });
  const transfer = await retrying.transfers.create(transferParams(account.id));
  t.equal(transfersTo(account.id).length, 1);
  const attempts = double.requests.filter((r) => r.path === '/v1/transfers' && r.method === 'POST').slice(-2);
  t.same(attempts.map((r) => r.status), [502, 200]);
  t.equal(attempts[0]!.idempotencyKey, attempts[1]!.idempotencyKey);
  t.match(attempts[0]!.idempotencyKey, /^stripe-node-retry-/);
  t.ok(double.transfers.has(transfer.id));
});

t.test('lose_response: performed and stored, the connection drops, the same key replays', async (t) => {
  const account = double.createAccount({ active: true });
  // The SDK retries a dropped connection once by itself, so lose both the call and that retry.
  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'lose_response', times: 2 });
  const lost = await failure(stripe.transfers.create(transferParams(account.id), { idempotencyKey: 'k-lost' }));
  t.ok(lost instanceof Stripe.errors.StripeConnectionError, lost.constructor.name);
  t.equal(transfersTo(account.id).length, 1, 'the transfer was made');
  const attempts = double.requests.filter((r) => r.idempotencyKey === 'k-lost');
  t.same(
    attempts.map((r) => [r.fault, r.replayed]),
    [
      ['lose_response', false],
      ['lose_response', true],
    ],
  );
  const again = await stripe.transfers.create(transferParams(account.id), { idempotencyKey: 'k-lost' });
  t.equal(again.id, transfersTo(account.id)[0]!.id);
  t.equal(again.lastResponse.headers['idempotent-replayed'], 'true');
  t.equal(transfersTo(account.id).length, 1);
});

t.test('lose_response once: the SDK heals it with its own retry (even with maxNetworkRetries 0)', async (t) => {
  const account = double.createAccount({ active: true });
  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'lose_response' });
  const transfer = await stripe.transfers.create(transferParams(account.id));
  t.equal(transfer.lastResponse.headers['idempotent-replayed'], 'true');
  t.equal(transfersTo(account.id).length, 1);
});

t.test("lose_response mid_body: headers arrive, the body doesn't; no automatic retry", async (t) => {
  const account = double.createAccount({ active: true });
  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'lose_response', at: 'mid_body' });
  const lost = await failure(stripe.transfers.create(transferParams(account.id), { idempotencyKey: 'k-mid' }));
  t.ok(lost instanceof Stripe.errors.StripeConnectionError, lost.constructor.name);
  t.equal(double.requests.filter((r) => r.idempotencyKey === 'k-mid').length, 1);
  const again = await stripe.transfers.create(transferParams(account.id), { idempotencyKey: 'k-mid' });
  t.equal(again.id, transfersTo(account.id)[0]!.id);
  t.equal(transfersTo(account.id).length, 1);
});

t.test('delay beyond the SDK timeout: the client gives up, the transfer exists', async (t) => {
  const account = double.createAccount({ active: true });
  const impatient = sdk(double, { timeout: 200 });
  // The answer comes long after the timeout, so a busy machine's late timer still gives up first.
  double.faults.enqueue({ match: 'POST /v1/transfers', kind: 'delay', ms: 1_500 });
  const started = Date.now();
  const timedOut = await failure(impatient.transfers.create(transferParams(account.id), { idempotencyKey: 'k-slow' }));
  t.ok(timedOut instanceof Stripe.errors.StripeConnectionError, timedOut.constructor.name);
  t.match(timedOut.message, /timeout/);
  t.ok(Date.now() - started < 1_200, 'gave up before the answer');
  t.equal(transfersTo(account.id).length, 1);
  const again = await impatient.transfers.create(transferParams(account.id), { idempotencyKey: 'k-slow' });
  t.equal(again.id, transfersTo(account.id)[0]!.id);

  double.faults.enqueue({ match: 'GET /v1/accounts', kind: 'delay', ms: 50 });
  t.equal((await impatient.accounts.retrieve(account.id)).id, account.id, 'a short delay just answers late');
});

t.test('listing by transfer_group and destination, with auto-pagination', async (t) => {
  const a = double.createAccount({ active: true });
  const b = double.createAccount({ active: true });
  const made: string[] = [];
  for (let i = 0; i < 23; i++) made.push((await stripe.transfers.create(transferParams(a.id, { amount: 100 + i, transfer_group: 'run-7' }))).id);
  for (let i = 0; i < 3; i++) await stripe.transfers.create(transferParams(b.id, { amount: 50, transfer_group: 'run-7' }));
  await stripe.transfers.create(transferParams(a.id, { transfer_group: 'run-8' }));

  const firstPage = await stripe.transfers.list({ transfer_group: 'run-7', destination: a.id, limit: 10 });
  t.equal(firstPage.object, 'list');
  t.equal(firstPage.url, '/v1/transfers');
  t.equal(firstPage.has_more, true);
  t.same(
    firstPage.data.map((x) => x.id),
    [...made].reverse().slice(0, 10),
    'newest first',
  );

  const before = double.requests.length;
  const seen: string[] = [];
  await stripe.transfers.list({ transfer_group: 'run-7', destination: a.id, limit: 10 }).autoPagingEach((x) => {
    seen.push(x.id);
  });
  t.same(seen, [...made].reverse());
  t.equal(double.requests.length - before, 3, 'three pages');
  t.match(double.requests.at(-1)!.query, /starting_after=tr_/);

  const group = await stripe.transfers.list({ transfer_group: 'run-7', limit: 100 }).autoPagingToArray({ limit: 1000 });
  t.equal(group.length, 26);
  t.equal((await stripe.transfers.list({ transfer_group: 'run-8', limit: 1 })).data.length, 1);
  t.same((await stripe.transfers.list({ transfer_group: 'nothing' })).data, []);

  const older = await stripe.transfers.list({ transfer_group: 'run-7', destination: a.id, ending_before: made[0]!, limit: 5 });
  t.same(
    older.data.map((x) => x.id),
    made.slice(1, 6).reverse(),
  );
});

t.test('reversals update amount_reversed and reversed', async (t) => {
  const account = double.createAccount({ active: true });
  const transfer = await stripe.transfers.create(transferParams(account.id, { amount: 1000 }));
  const partial = await stripe.transfers.createReversal(transfer.id, { amount: 400 });
  t.equal(partial.object, 'transfer_reversal');
  t.equal(partial.amount, 400);
  t.equal(partial.transfer, transfer.id);
  let now = await stripe.transfers.retrieve(transfer.id);
  t.equal(now.amount_reversed, 400);
  t.equal(now.reversed, false);
  const tooMuch = await failure(stripe.transfers.createReversal(transfer.id, { amount: 700 }));
  t.ok(tooMuch instanceof Stripe.errors.StripeInvalidRequestError);
  const rest = double.reverseTransfer(transfer.id);
  t.equal(rest.amount, 600);
  now = await stripe.transfers.retrieve(transfer.id);
  t.equal(now.amount_reversed, 1000);
  t.equal(now.reversed, true);
  t.equal(now.reversals.data.length, 2);
  t.equal((await stripe.transfers.listReversals(transfer.id)).data.length, 2);
});

t.test('rateLimitPerSecond refuses the excess in a one-second window and counts it', async (t) => {
  const d = await startStripeDouble({ rateLimitPerSecond: 5 });
  t.teardown(() => d.close());
  const s = sdk(d);
  const account = d.createAccount();
  const results = await Promise.allSettled(Array.from({ length: 12 }, () => s.accounts.retrieve(account.id)));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const limited = results.filter((r) => r.status === 'rejected' && r.reason instanceof Stripe.errors.StripeRateLimitError).length;
  t.equal(ok, 5);
  t.equal(limited, 7);
  t.equal(d.rateLimitedCount, 7);
  t.equal(d.requests.filter((r) => r.status === 429).length, 7);
  await new Promise((r) => setTimeout(r, 1050));
  t.equal((await s.accounts.retrieve(account.id)).id, account.id, 'the next window lets requests through');
  d.setRateLimit(undefined);
  await Promise.all(Array.from({ length: 10 }, () => s.accounts.retrieve(account.id)));
  t.equal(d.rateLimitedCount, 7);
});

t.test('webhooks: signed with the SDK, verified by constructEvent, stale ones refused', async (t) => {
  const secret = 'whsec_test_secret';
  const account = double.createAccount({ active: true });
  const transfer = await stripe.transfers.create(transferParams(account.id));
  double.reverseTransfer(transfer.id);
  const event = makeEvent('transfer.reversed', double.transfers.get(transfer.id), { account: account.id });
  t.match(event, { object: 'event', type: 'transfer.reversed', account: account.id, livemode: false, api_version: Stripe.API_VERSION });
  t.match(event.id, /^evt_/);

  const payload = JSON.stringify(event);
  const header = webhookHeader(stripe, payload, secret);
  const verified = stripe.webhooks.constructEvent(payload, header, secret);
  t.equal(verified.id, event.id);
  t.equal((verified.data.object as Stripe.Transfer).amount_reversed, 1500);

  const stale = webhookHeader(stripe, payload, secret, Math.floor(Date.now() / 1000) - 301);
  const staleErr = (() => {
    try {
      stripe.webhooks.constructEvent(payload, stale, secret);
    } catch (e) {
      return e;
    }
  })();
  t.ok(staleErr instanceof Stripe.errors.StripeSignatureVerificationError);
  t.match((staleErr as Error).message, /tolerance/);

  t.throws(() => stripe.webhooks.constructEvent(payload, webhookHeader(stripe, payload, 'whsec_other'), secret));
  t.throws(() => stripe.webhooks.constructEvent(payload.replace('1500', '1501'), header, secret));

  const signed = signedEvent(stripe, makeEvent('account.updated', double.accounts.get(account.id), { account: account.id, id: 'evt_fixed', created: 1 }), secret);
  t.equal(stripe.webhooks.constructEvent(signed.payload, signed.header, secret).id, 'evt_fixed');
});
