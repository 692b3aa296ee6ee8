import t from 'tap';
import { createTestOrg, json } from './helpers/app.js';
import { fundedBudget, owedContributor } from './helpers/fixtures.js';
import { onboardStripeContributor, stripeAppForThisFile, viaInject, waitForRun } from './helpers/payout-fixtures.js';

const { double, app } = await stripeAppForThisFile(t, 'reconcile');

t.test('reconciliation finds nothing amiss after a clean run, then reports what Stripe did behind the ledger', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const send = viaInject(app);
  const people = [];
  for (const name of ['Ade', 'Bea']) {
    const c = await owedContributor(app, org, budgetId, { paymentMethod: 'stripe', name, hours: 2 });
    await onboardStripeContributor(send, finance, double, c.contributorId);
    people.push(c);
  }
  const run = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  t.equal((await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') })).statusCode, 200);
  const settled = await waitForRun(send, finance, run.id);
  t.ok(settled.items.every((i: any) => i.status === 'paid'));

  const clean = await app.inject({ method: 'GET', url: '/v1/payouts/reconciliation', headers: finance });
  t.equal(clean.statusCode, 200, clean.body);
  t.match(json(clean), { transfers: 2, items: 2, mismatches: [] });

  // Stripe reverses one transfer without telling us (no webhook), and a stray transfer appears.
  const first = settled.items[0];
  double.reverseTransfer(first.stripeTransferId, 1000);
  await app.stripe!.transfers.create({
    amount: 999,
    currency: 'gbp',
    destination: double.transfers.get(first.stripeTransferId)!.destination as string,
    metadata: { organisation_id: org.organisationId, payout_item_id: '00000000-0000-7000-8000-000000000000' },
  });
  const report = json(await app.inject({ method: 'GET', url: '/v1/payouts/reconciliation?sinceDays=7', headers: finance }));
  t.same(report.mismatches.map((m: any) => m.kind).sort(), ['reversal_not_recorded', 'transfer_without_item']);
  t.equal(report.mismatches.find((m: any) => m.kind === 'reversal_not_recorded').itemId, first.id);

  const coordinator = await org.as('coordinator');
  t.equal((await app.inject({ method: 'GET', url: '/v1/payouts/reconciliation', headers: coordinator })).statusCode, 403);
});

t.test("reconciliation reads Stripe page by page through the process's Stripe gate, the one the payout jobs use", async (t) => {
  const { reconcileStripe } = await import('../src/modules/payouts/reconcile.js');
  const { stripeFor } = await import('./helpers/payout-fixtures.js');
  const { newId } = await import('../src/lib/ids.js');
  const stripe = stripeFor(double);
  const account = double.createAccount({ active: true });
  const organisationId = newId(); // transfers of an organisation the ledger does not know
  for (let i = 0; i < 230; i++) {
    await stripe.transfers.create({ amount: 100 + i, currency: 'gbp', destination: account.id, metadata: { organisation_id: organisationId } });
  }
  let calls = 0;
  const countingGate = <T>(fn: () => Promise<T>) => {
    calls += 1;
    return app.stripeGate(fn);
  };
  const result = await reconcileStripe(app.db, stripe, organisationId, new Date(Date.now() - 86_400_000), countingGate);
  t.equal(result.mismatches.filter((m) => m.kind === 'transfer_without_item').length, 230, 'every page was read');
  t.ok(calls >= 3, `one gated request per page of 100 (${calls})`);
});
