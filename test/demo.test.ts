import t from 'tap';
import { loadDemo } from '../src/demo.js';
import { appForThisFile, json } from './helpers/app.js';

const app = await appForThisFile(t);

t.test('the demo organisation is realistic, consistent and usable with its log-ins', async (t) => {
  const demo = await loadDemo(app.db, new Date());
  const login = await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: demo.logins[1]!.email, password: demo.password } });
  t.equal(login.statusCode, 200, login.body);
  const finance = { authorization: `Bearer ${json(login).accessToken}` };

  t.same(json(await app.inject({ method: 'GET', url: '/v1/ledger/trial-balance', headers: finance })).balances, [{ currency: 'GBP', total: 0 }]);
  const runs = json(await app.inject({ method: 'GET', url: '/v1/payout-runs', headers: finance })).data;
  t.same([...new Set(runs.map((r: any) => r.status))].sort(), ['approved', 'canceled', 'draft']);
  const itemStates = new Set(runs.flatMap((r: any) => r.items.map((i: any) => i.status)));
  for (const state of ['paid', 'failed', 'processing', 'pending', 'canceled']) t.ok(itemStates.has(state), `an item is ${state}`);

  // Earnings limits at work: one person's money held (block), another's split, both still owed.
  t.ok(runs.some((r: any) => r.skipped.some((s: any) => s.reason === 'earnings_limit' && s.amount > 0 && s.payableFrom)), 'a payment held by an earnings limit');
  t.ok(runs.some((r: any) => r.items.some((i: any) => i.carriedForward > 0)), 'a payment split by an earnings limit');

  const contributors = json(await app.inject({ method: 'GET', url: '/v1/contributors?limit=200', headers: finance })).data;
  t.ok(contributors.length >= 30);
  t.same([...new Set(contributors.map((c: any) => c.kind))].sort(), ['carer', 'lived_experience', 'professional']);
  t.same([...new Set(contributors.map((c: any) => c.paymentMethod))].sort(), ['bank_transfer', 'declined', 'stripe', 'voucher']);
  t.ok(contributors.some((c: any) => c.earningsLimit));

  const reporter = { authorization: `Bearer ${demo.reporterToken}` };
  const dist = await app.inject({ method: 'GET', url: '/v1/reports/distribution', headers: reporter });
  t.equal(dist.statusCode, 200, dist.body);
  t.ok(json(dist).groups.livedExperience.earned > 0);
  t.ok(json(dist).groups.professional.inKindValue > 0);
  t.ok(json(dist).livedExperienceShareOfMoney > 0.99, 'professionals are in kind, so all money goes to lived experience');
  for (const budgetId of demo.budgets) {
    const grant = await app.inject({ method: 'GET', url: `/v1/reports/budgets/${budgetId}`, headers: reporter });
    t.equal(grant.statusCode, 200, grant.body);
    t.ok(json(grant).byMonth.length >= 5, `months of work in every budget: ${JSON.stringify(json(grant).byMonth)}`);
  }
});
