/**
 * Approval rules count people, not credentials (#17). Found in review, as an attacker would:
 * an admin could mint two finance API tokens and draft and approve a run alone; a token made by
 * someone who is also paid could approve that person's time; and a coordinator could record and
 * approve the same time with nobody else involved. Each case below failed before the fix.
 */
import t from 'tap';
import { appForThisFile, createTestOrg, json, type TestOrg } from '../helpers/app.js';
import { addContributor, fundedBudget, owedContributor } from '../helpers/fixtures.js';

const app = await appForThisFile(t);

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
async function adminHeaders(org: TestOrg) {
  const login = await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: org.adminEmail, password: org.adminPassword } });
  return bearer(json(login).accessToken);
}
async function mint(org: TestOrg, role: string, headers?: Record<string, string>) {
  const made = await app.inject({ method: 'POST', url: '/v1/api-tokens', headers: headers ?? (await adminHeaders(org)), payload: { name: `${role} script`, role } });
  if (made.statusCode !== 201) throw new Error(made.body);
  return bearer(json(made).token);
}

t.test('one admin with two finance tokens cannot draft and approve a run alone', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  await owedContributor(app, org, budgetId);
  const first = await mint(org, 'finance');
  const second = await mint(org, 'finance');
  const run = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: first, payload: { currency: 'GBP' } }));
  t.equal(run.items.length, 1);
  const approved = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: second });
  t.equal(approved.statusCode, 403, approved.body);
  t.equal(json(approved).code, 'four_eyes_required');
  const colleague = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') });
  t.equal(colleague.statusCode, 200, 'a second person approves it');
});

t.test('a token cannot approve a run paying the person who made it', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const alex = await owedContributor(app, org, budgetId);
  // An admin who is also paid (linked to Alex) makes a finance token.
  const adminAlex = await org.as('admin', { contributorId: alex.contributorId });
  const token = await mint(org, 'finance', adminAlex);
  const run = json(await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  const refused = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: token });
  t.equal(refused.statusCode, 403, refused.body);
  t.equal(json(refused).code, 'self_approval_forbidden');
});

t.test("a token cannot approve its maker's own time", async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const sam = await addContributor(app, coordinator, { name: 'Sam', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const entry = json(
    await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId: sam.id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60 } }),
  );
  const token = await mint(org, 'coordinator', await org.as('admin', { contributorId: sam.id }));
  const refused = await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: token });
  t.equal(refused.statusCode, 403, refused.body);
  t.equal(json(refused).code, 'self_approval_forbidden');
});

t.test('with timeApprovalBySecondPerson, time is approved by someone other than who recorded it, whatever credential they use', async (t) => {
  const org = await createTestOrg(app);
  const admin = await adminHeaders(org);
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const sam = await addContributor(app, coordinator, { name: 'Sam', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const record = async (headers: Record<string, string>) =>
    json(await app.inject({ method: 'POST', url: '/v1/time-entries', headers, payload: { contributorId: sam.id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 30 } }));
  const approve = (id: string, headers: Record<string, string>) => app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers });

  const before = await record(coordinator);
  t.equal((await approve(before.id, coordinator)).statusCode, 200, 'off by default: a small organisation may have one coordinator');

  const set = await app.inject({ method: 'PATCH', url: '/v1/organisation', headers: admin, payload: { settings: { timeApprovalBySecondPerson: true } } });
  t.equal(set.statusCode, 200, set.body);
  const own = await record(coordinator);
  const refused = await approve(own.id, coordinator);
  t.equal(refused.statusCode, 403, refused.body);
  t.equal(json(refused).code, 'self_approval_forbidden');

  // Two tokens of one admin are one person too.
  const recorder = await mint(org, 'coordinator');
  const approver = await mint(org, 'coordinator');
  const viaTokens = await record(recorder);
  t.equal((await approve(viaTokens.id, approver)).statusCode, 403, "a second token of the recorder's maker is not a second person");

  t.equal((await approve(own.id, await org.as('coordinator'))).statusCode, 200, 'another coordinator approves it');
  t.equal((await approve(viaTokens.id, await org.as('finance'))).statusCode, 200, 'finance approves it');
});
