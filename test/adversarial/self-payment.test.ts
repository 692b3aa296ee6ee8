/**
 * Approval rules count people: nobody approves a payout run that pays them (docs/api-guide.md, Roles:
 * 403 self_approval_forbidden). Found in review: a finance user linked to a contributor could
 * approve a run that paid that contributor.
 */
import t from 'tap';
import { appForThisFile, createTestOrg, json } from '../helpers/app.js';
import { fundedBudget, owedContributor } from '../helpers/fixtures.js';

const app = await appForThisFile(t);

t.test('a finance user linked to a payee cannot approve the run; a colleague can', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const alex = await owedContributor(app, org, budgetId, { hours: 2 });
  await owedContributor(app, org, budgetId, { hours: 1, name: 'Jo' });
  const run = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  t.equal(run.items.length, 2);

  const alexAtFinance = await org.as('finance', { contributorId: alex.contributorId });
  const refused = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: alexAtFinance });
  t.equal(refused.statusCode, 403, refused.body);
  t.equal(json(refused).code, 'self_approval_forbidden');
  t.equal(json(await app.inject({ method: 'GET', url: `/v1/payout-runs/${run.id}`, headers: finance })).status, 'draft', 'nothing moved');

  const colleague = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') });
  t.equal(colleague.statusCode, 200, colleague.body);
});
