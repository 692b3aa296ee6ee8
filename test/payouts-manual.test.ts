import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { fundedBudget, owedContributor } from './helpers/fixtures.js';

const app = await appForThisFile(t);

t.test('a bank-transfer run: drafted, approved by another finance user, marked paid', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const alex = await owedContributor(app, org, budgetId, { hours: 2 });
  const declined = await owedContributor(app, org, budgetId, { hours: 1, paymentMethod: 'declined', name: 'Jo' });
  const stripeNotReady = await owedContributor(app, org, budgetId, { hours: 1, paymentMethod: 'stripe', name: 'Kim' });

  const draft = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } });
  t.equal(draft.statusCode, 201, draft.body);
  const run = json(draft);
  t.equal(run.status, 'draft');
  t.equal(run.total, 4000);
  t.match(run.items, [{ contributorId: alex.contributorId, amount: 4000, method: 'bank_transfer', status: 'pending' }]);
  t.equal(run.items.length, 1);
  t.same(
    run.skipped.map((s: any) => [s.contributorId, s.reason]).sort(),
    [[stripeNotReady.contributorId, 'stripe_account_missing']].sort(),
    'the Stripe contributor without an account is skipped',
  );
  t.notOk(run.skipped.find((s: any) => s.contributorId === declined.contributorId), 'declined time owes nothing, so nothing to skip');

  const self = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: finance });
  t.equal(self.statusCode, 403, self.body);
  t.equal(json(self).code, 'four_eyes_required');

  const otherFinance = await org.as('finance');
  const approved = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: otherFinance });
  t.equal(approved.statusCode, 200, approved.body);
  t.equal(json(approved).status, 'approved');
  t.equal(json(approved).items[0].status, 'processing');
  const twice = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: otherFinance });
  t.equal(twice.statusCode, 409, twice.body);

  const balance = json(await app.inject({ method: 'GET', url: `/v1/contributors/${alex.contributorId}/balance`, headers: finance }));
  t.match(balance.balances[0], { owed: 0, inTransit: 4000, paid: 0 });

  const itemId = json(approved).items[0].id;
  const paid = await app.inject({ method: 'POST', url: `/v1/payouts/${itemId}/mark-paid`, headers: finance, payload: { reference: 'BACS 2026-03-10' } });
  t.equal(paid.statusCode, 200, paid.body);
  t.match(json(paid), { status: 'paid', reference: 'BACS 2026-03-10' });
  const again = await app.inject({ method: 'POST', url: `/v1/payouts/${itemId}/mark-paid`, headers: finance, payload: { reference: 'again' } });
  t.equal(again.statusCode, 409, again.body);

  const after = json(await app.inject({ method: 'GET', url: `/v1/contributors/${alex.contributorId}/balance`, headers: finance }));
  t.match(after.balances[0], { owed: 0, inTransit: 0, paid: 4000, earnings: { paid: 4000 } });
  const reverse = await app.inject({ method: 'POST', url: `/v1/time-entries/${alex.entryId}/reverse`, headers: await org.as('coordinator'), payload: { reason: 'late' } });
  t.equal(reverse.statusCode, 409, reverse.body);
  t.equal(json(reverse).code, 'already_paid');
  t.same(json(await app.inject({ method: 'GET', url: '/v1/ledger/trial-balance', headers: finance })).balances, [{ currency: 'GBP', total: 0 }]);
});

t.test('mark-failed returns the money to owed; Stripe runs need Stripe configured', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const alex = await owedContributor(app, org, budgetId, { hours: 3, paymentMethod: 'voucher' });
  const run = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP', methods: ['voucher'] } }));
  const approved = json(await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') }));
  const failed = await app.inject({ method: 'POST', url: `/v1/payouts/${approved.items[0].id}/mark-failed`, headers: finance, payload: { reason: 'Voucher code rejected' } });
  t.equal(failed.statusCode, 200, failed.body);
  t.match(json(failed), { status: 'failed', failureReason: 'Voucher code rejected' });
  const balance = json(await app.inject({ method: 'GET', url: `/v1/contributors/${alex.contributorId}/balance`, headers: finance }));
  t.match(balance.balances[0], { owed: 6000, inTransit: 0, paid: 0 });

  const onboarding = await app.inject({ method: 'POST', url: `/v1/contributors/${alex.contributorId}/stripe-account`, headers: finance });
  t.equal(onboarding.statusCode, 409, onboarding.body);
  t.equal(json(onboarding).code, 'stripe_not_configured');

  const canceledDraft = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  const cancel = await app.inject({ method: 'POST', url: `/v1/payout-runs/${canceledDraft.id}/cancel`, headers: finance });
  t.equal(cancel.statusCode, 200, cancel.body);
  t.equal(json(cancel).status, 'canceled');
});
