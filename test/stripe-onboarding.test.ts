/**
 * Participants set up their own payouts, and staff links are noticed (issue #16 point 3): every
 * onboarding link is audited without its URL; a link staff made emails the contributor; a
 * participant only ever reaches their own account; and someone back from Stripe is told whether
 * they can be paid or what Stripe still needs.
 */
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { auditEvents, contributors, notifications } from '../src/db/schema.js';
import { auditEventColumns } from '../src/modules/audit/views.js';
import { createTestOrg, json, type TestOrg } from './helpers/app.js';
import { addContributor } from './helpers/fixtures.js';
import { buildAppWithStripeDouble } from './helpers/stripe-app.js';
import { WebClient } from './helpers/web.js';

const { app, stripeDouble: double } = await buildAppWithStripeDouble(t, 'stripe_onboarding');

const post = (url: string, headers: Record<string, string>) => app.inject({ method: 'POST', url, headers });
const get = (url: string, headers: Record<string, string>) => app.inject({ method: 'GET', url, headers });

/** The user id inside a bearer token (the JWT's subject). */
const userIdOf = (headers: Record<string, string>) =>
  JSON.parse(Buffer.from(headers.authorization!.split(' ')[1]!.split('.')[1]!, 'base64url').toString()).sub as string;

async function setting(org: TestOrg, person: { name: string; email?: string; paymentMethod?: string }) {
  const coordinator = await org.as('coordinator');
  const contributor = await addContributor(app, coordinator, { kind: 'lived_experience', paymentMethod: 'stripe', ...person });
  return { coordinator, contributorId: contributor.id as string };
}

const auditOf = (db: FastifyInstance['db'], org: TestOrg, contributorId: string) =>
  db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.entityType, 'contributor'), eq(auditEvents.entityId, contributorId)));

const outboxOf = (org: TestOrg, contributorId: string) =>
  app.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.organisationId, org.organisationId), eq(notifications.contributorId, contributorId)));

t.test('a link staff make is audited without its URL, and each one emails the contributor', async (t) => {
  const org = await createTestOrg(app);
  const { coordinator, contributorId } = await setting(org, { name: 'Jo Staff-Link' });
  const participant = await org.as('participant', { contributorId });
  const finance = await org.as('finance');

  const first = await post(`/v1/contributors/${contributorId}/stripe-account`, coordinator);
  t.equal(first.statusCode, 200, first.body);
  const second = await post(`/v1/contributors/${contributorId}/stripe-account`, finance);
  t.equal(second.statusCode, 200, `the API keeps returning the link to staff (onboarding in person): ${second.body}`);
  const urls = [json(first).onboardingUrl, json(second).onboardingUrl];

  const links = (await auditOf(app.db, org, contributorId)).filter((e) => e.action === 'contributor.stripe_onboarding_link_created');
  t.equal(links.length, 2, 'one audit event a link');
  t.same(links.map((e) => e.actorId).sort(), [userIdOf(coordinator), userIdOf(finance)].sort(), 'each says who made the link');
  t.ok(links.every((e) => (e.after as { requestedBy: string }).requestedBy === 'staff'));
  const everything = JSON.stringify(await auditOf(app.db, org, contributorId));
  for (const url of urls) t.notOk(everything.includes(url), 'the URL is in no audit event');

  const emails = (await outboxOf(org, contributorId)).filter((n) => n.kind === 'payout_setup_started');
  t.equal(emails.length, 2, 'each link is its own email');
  t.ok(emails.every((n) => n.userId === userIdOf(participant) && n.link === '/my/payment'), 'to the participant, linking to how they are paid');
  t.same(
    emails.map((n) => (n.data as { linkId: string }).linkId).sort(),
    links.map((e) => (e.after as { linkId: string }).linkId).sort(),
    'each email names the audited link it is about',
  );
  t.notOk(JSON.stringify(emails).includes(urls[0]), 'the email carries no link to Stripe');
});

t.test('a contributor with no log-in is emailed at their own address', async (t) => {
  const org = await createTestOrg(app);
  const { coordinator, contributorId } = await setting(org, { name: 'No Login', email: 'no-login@example.test' });
  t.equal((await post(`/v1/contributors/${contributorId}/stripe-account`, coordinator)).statusCode, 200);
  const [email, ...more] = (await outboxOf(org, contributorId)).filter((n) => n.kind === 'payout_setup_started');
  t.equal(more.length, 0);
  t.match(email, { userId: null, toAddress: 'no-login@example.test' });
});

t.test("the participant's own link is audited and emails nobody", async (t) => {
  const org = await createTestOrg(app);
  const { contributorId } = await setting(org, { name: 'Own Link' });
  const participant = await org.as('participant', { contributorId });
  const res = await post('/v1/me/stripe-account', participant);
  t.equal(res.statusCode, 200, res.body);
  const links = (await auditOf(app.db, org, contributorId)).filter((e) => e.action === 'contributor.stripe_onboarding_link_created');
  t.equal(links.length, 1);
  t.equal(links[0]!.actorId, userIdOf(participant));
  t.match(links[0]!.after, { requestedBy: 'participant' });
  t.notOk(JSON.stringify(links[0]).includes(json(res).accountId), 'the Stripe account id is personal data: the audit keeps ids only');
  t.same(await outboxOf(org, contributorId), [], 'no email');
});

t.test('a participant linked to A cannot get B’s link by any route', async (t) => {
  const org = await createTestOrg(app);
  const a = await setting(org, { name: 'Person A' });
  const b = await setting(org, { name: 'Person B' });
  const participantA = await org.as('participant', { contributorId: a.contributorId });

  const direct = await post(`/v1/contributors/${b.contributorId}/stripe-account`, participantA);
  t.equal(direct.statusCode, 403, direct.body);
  const ownByStaffRoute = await post(`/v1/contributors/${a.contributorId}/stripe-account`, participantA);
  t.equal(ownByStaffRoute.statusCode, 403, 'the staff route is for staff, even for their own contributor');
  const status = await get(`/v1/contributors/${b.contributorId}/stripe-account`, participantA);
  t.equal(status.statusCode, 403, status.body);
  const bProfile = await get(`/v1/contributors/${b.contributorId}`, participantA);
  t.equal(bProfile.statusCode, 404, 'B does not exist as far as A can tell');

  const mine = await post('/v1/me/stripe-account', participantA);
  t.equal(mine.statusCode, 200, mine.body);
  const [rowA] = await app.db.select().from(contributors).where(eq(contributors.id, a.contributorId));
  const [rowB] = await app.db.select().from(contributors).where(eq(contributors.id, b.contributorId));
  t.equal(json(mine).accountId, rowA!.stripeAccountId, "/v1/me gives A's own account");
  t.equal(rowB!.stripeAccountId, null, 'no account was made for B');
  const linkRequests = double.requests.filter((r) => r.method === 'POST' && r.path === '/v1/account_links');
  t.ok(linkRequests.every((r) => r.params.account !== undefined && r.params.account !== rowB!.stripeAccountId));

  // And through the pages: the form posts no id, so there is nothing to change.
  const token = await org.tokenFor('participant', { contributorId: a.contributorId });
  const client = new WebClient(app).withToken(token);
  await client.get('/my/payment');
  const page = await client.post('/my/payment/stripe', { contributorId: b.contributorId });
  t.equal(page.statusCode, 200, page.body.slice(0, 300));
  const [afterB] = await app.db.select().from(contributors).where(eq(contributors.id, b.contributorId));
  t.equal(afterB!.stripeAccountId, null, 'still nothing for B');

  // Another organisation's contributor is not found for staff either.
  const other = await createTestOrg(app);
  const foreign = await post(`/v1/contributors/${a.contributorId}/stripe-account`, await other.as('coordinator'));
  t.equal(foreign.statusCode, 404, foreign.body);
});

t.test('a participant not paid through Stripe gets a clear 409 and no account', async (t) => {
  const org = await createTestOrg(app);
  const { contributorId } = await setting(org, { name: 'Bank Person', paymentMethod: 'bank_transfer' });
  const participant = await org.as('participant', { contributorId });
  const before = double.accounts.size;
  const res = await post('/v1/me/stripe-account', participant);
  t.equal(res.statusCode, 409, res.body);
  t.equal(json(res).code, 'invalid_state');
  t.match(json(res).detail, /not paid through Stripe/);
  t.equal(double.accounts.size, before, 'no connected account was created');
  t.same((await auditOf(app.db, org, contributorId)).filter((e) => e.action.startsWith('contributor.stripe')), []);
});

t.test('back from Stripe: whether payouts are ready, or what is still needed', async (t) => {
  const org = await createTestOrg(app);
  const { coordinator, contributorId } = await setting(org, { name: 'Back From Stripe' });
  const participant = await org.as('participant', { contributorId });

  const none = json(await get('/v1/me/stripe-account', participant));
  t.match(none, { accountId: null, payoutsEnabled: false, stillNeeded: [], payoutDetailsChangedAt: null });

  const started = json(await post('/v1/me/stripe-account', participant));
  const pending = json(await get('/v1/me/stripe-account', participant));
  t.match(pending, { accountId: started.accountId, payoutsEnabled: false, checking: false });
  t.ok(pending.stillNeeded.includes('your bank details'), JSON.stringify(pending.stillNeeded));
  t.ok(pending.stillNeeded.every((s: string) => !s.includes('.') && !s.includes('_')), "Stripe's field names stay out of it");

  const token = await org.tokenFor('participant', { contributorId });
  const client = new WebClient(app).withToken(token);
  const notYet = await client.follow(await client.get('/app/stripe/return'));
  t.match(notYet.body, /data-testid="stripe-not-ready"/);
  t.match(notYet.body, /your bank details/);
  t.match(notYet.body, /Carry on setting up Stripe/);

  // Stripe finishes (its webhook has not come yet): the page asks Stripe and says so.
  double.activateAccount(started.accountId);
  const ready = await client.follow(await client.get('/app/stripe/return'));
  t.match(ready.body, /data-testid="stripe-ready"/);
  t.match(ready.body, /Stripe can pay you now/);
  const stored = json(await get(`/v1/contributors/${contributorId}`, coordinator));
  t.equal(stored.payoutsEnabled, true, 'what Stripe said is recorded, so the next run can pay them');
  const synced = (await auditOf(app.db, org, contributorId)).filter((e) => e.action === 'contributor.stripe_account_updated');
  t.equal(synced.length, 1);
  t.match(synced[0]!.after, { payoutsEnabled: true, source: 'retrieved' });
  t.equal(synced[0]!.actorId, userIdOf({ authorization: `Bearer ${token}` }), 'recorded as read by the person who asked');

  // Staff helping in person see the same.
  t.match(json(await get(`/v1/contributors/${contributorId}/stripe-account`, coordinator)), { payoutsEnabled: true, stillNeeded: [] });
});
