/**
 * The payment-diversion defence (issue #16 point 3): when Stripe reports a change of where a
 * connected account pays out, that person's Stripe payments are held until finance confirms the
 * change, and both sides are emailed. The first set-up holds nothing. Runs through the real job
 * queue, the real SDK and the Stripe test double; webhooks are signed as Stripe signs them.
 */
import { and, eq } from 'drizzle-orm';
import t from 'tap';
import { auditEvents, notifications, users } from '../src/db/schema.js';
import { auditEventColumns } from '../src/modules/audit/views.js';
import { newId } from '../src/lib/ids.js';
import { createStripePayoutExecutor } from '../src/modules/payouts/stripe-payouts.js';
import { buildTestApp, createTestOrg, json, type TestOrg } from './helpers/app.js';
import { fundedBudget, owedContributor } from './helpers/fixtures.js';
import { allPaid, balanceOf, deliverEvent, expectStatus, parse, stripeAppForThisFile, stripeContributors, stripeFor, transfersOf, trialBalance, waitForRun, WEBHOOK_SECRET } from './helpers/payout-fixtures.js';
import { WebClient } from './helpers/web.js';
import { makeEvent, type DoubleAccount } from '../tools/stripe-double/index.js';

const stripeApp = await stripeAppForThisFile(t, 'payout_details_hold');
const { double, app, send } = stripeApp;

/** An organisation with one budget and `names.length` Stripe contributors owed £20 each, onboarded. */
const stripePeople = (names: string[]) => stripeContributors(stripeApp, names.map((name) => ({ name, hours: 1 })));

/** Another hour of approved time (£20 owed), dated `date`. */
async function oweMore(org: TestOrg, budgetId: string, contributorId: string, date: string) {
  const coordinator = await org.as('coordinator');
  const entry = await expectStatus(
    send,
    { method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId, budgetId, activity: 'meeting', date, minutes: 60 } },
    201,
  );
  await expectStatus(send, { method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator }, 200);
}

/** Drafts a run of everything owed, has another finance user approve it, and waits for it to settle. */
async function payRun(org: TestOrg, finance: Record<string, string>) {
  const run = await expectStatus(send, { method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }, 201);
  if (run.items.length) {
    await expectStatus(send, { method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') }, 200);
  }
  return { draft: run, settled: run.items.length ? await waitForRun(send, finance, run.id) : run };
}

const contributorView = (headers: Record<string, string>, id: string) => expectStatus(send, { method: 'GET', url: `/v1/contributors/${id}`, headers }, 200);

async function auditOf(org: TestOrg, contributorId: string) {
  return app.db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.entityType, 'contributor'), eq(auditEvents.entityId, contributorId)));
}

/** The payout_details_changed emails about a contributor, by audience. */
async function changeEmails(org: TestOrg, contributorId: string) {
  const rows = await app.db.select().from(notifications).where(and(eq(notifications.organisationId, org.organisationId), eq(notifications.kind, 'payout_details_changed')));
  const about = rows.filter((n) => (n.data as { contributorId?: string }).contributorId === contributorId);
  return {
    participant: about.filter((n) => (n.data as { audience: string }).audience === 'participant'),
    finance: about.filter((n) => (n.data as { audience: string }).audience === 'finance'),
  };
}

async function financeUserIds(org: TestOrg) {
  const rows = await app.db.select({ id: users.id }).from(users).where(and(eq(users.organisationId, org.organisationId), eq(users.role, 'finance')));
  return rows.map((r) => r.id).sort();
}

async function deliverAll(events: object[]) {
  for (const event of events) {
    const res = await deliverEvent(send, event);
    if (res.statusCode !== 200) throw new Error(`webhook → ${res.statusCode}: ${res.body}`);
  }
}

t.test('the first set-up holds nothing: the bank account given while onboarding is where they are paid', async (t) => {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const { contributorId } = await owedContributor(app, org, budgetId, { paymentMethod: 'stripe', hours: 1, name: 'New Starter' });
  await org.as('participant', { contributorId });
  const { accountId } = await expectStatus(send, { method: 'POST', url: `/v1/contributors/${contributorId}/stripe-account`, headers: coordinator }, 200);

  // What Stripe sends as someone finishes onboarding: their bank account, then the account.
  const before: DoubleAccount = structuredClone(double.accounts.get(accountId)!);
  const active = structuredClone(double.activateAccount(accountId));
  const bank = active.external_accounts.data[0]!;
  await deliverAll([
    makeEvent('account.external_account.created', bank, { account: accountId }),
    makeEvent('account.updated', active, { account: accountId, previous_attributes: { external_accounts: before.external_accounts, payouts_enabled: false } }),
  ]);

  const view = await contributorView(coordinator, contributorId);
  t.equal(view.payoutsEnabled, true);
  t.equal(view.payoutDetailsChangedAt, null, 'nothing is held');
  const audit = await auditOf(org, contributorId);
  t.equal(audit.filter((e) => e.action === 'contributor.payout_details_set_up').length, 2, 'both events are audited as the set-up');
  t.equal(audit.filter((e) => e.action === 'contributor.payout_details_changed').length, 0);
  const emails = await changeEmails(org, contributorId);
  t.same([emails.participant.length, emails.finance.length], [0, 0], 'nobody is emailed');

  const { settled } = await payRun(org, finance);
  t.ok(allPaid(settled), JSON.stringify(settled.items));
  t.same(settled.skipped, []);
});

t.test('a changed payout destination holds exactly the next Stripe payment, until finance confirms', async (t) => {
  const { org, finance, budgetId, people } = await stripePeople(['Changes Bank', 'Keeps Bank']);
  const [changer, other] = people as [(typeof people)[0], (typeof people)[0]];
  const participant = await org.as('participant', { contributorId: changer.contributorId });
  const first = await payRun(org, finance);
  t.ok(allPaid(first.settled), 'both are paid once, so neither is setting up any more');

  // They (or someone in their Stripe account) replace the bank account: Stripe sends three events.
  const { events, added, removed } = double.changeBankAccount(changer.accountId);
  t.ok(removed, 'the old bank account is gone');
  t.same(events.map((e) => e.type), ['account.external_account.created', 'account.external_account.deleted', 'account.updated']);
  await deliverAll(events);

  const held = await contributorView(finance, changer.contributorId);
  t.type(held.payoutDetailsChangedAt, 'string', 'the contributor shows the hold');
  t.equal((await contributorView(finance, other.contributorId)).payoutDetailsChangedAt, null, 'nobody else is held');
  const changes = (await auditOf(org, changer.contributorId)).filter((e) => e.action === 'contributor.payout_details_changed');
  t.equal(changes.length, 3, 'each event is audited');
  t.ok(changes.some((e) => (e.after as { externalAccountId: string }).externalAccountId === added.id));
  t.ok(changes.every((e) => (e.after as { payoutDetailsChangedAt: string }).payoutDetailsChangedAt === held.payoutDetailsChangedAt), 'one hold, not three');

  // Both sides are told once for the one edit, not once per event.
  const emails = await changeEmails(org, changer.contributorId);
  t.equal(emails.participant.length, 1);
  t.match(emails.participant[0], { userId: JSON.parse(Buffer.from(participant.authorization!.split('.')[1]!, 'base64url').toString()).sub, link: '/my/payment' });
  t.same(emails.finance.map((n) => n.userId).sort(), await financeUserIds(org), 'every finance user, once');
  t.ok(emails.finance.every((n) => n.link === '/finance/payout-details'));
  t.equal(new Set([...emails.participant, ...emails.finance].map((n) => (n.data as { contributorId: string }).contributorId)).size, 1);

  // The next run leaves them out and says why; their money stays owed.
  await oweMore(org, budgetId, changer.contributorId, '2026-03-03');
  await oweMore(org, budgetId, other.contributorId, '2026-03-03');
  const second = await payRun(org, finance);
  t.same(second.draft.items.map((i: any) => i.contributorId), [other.contributorId], 'only the other person is paid');
  t.match(second.draft.skipped, [{ contributorId: changer.contributorId, reason: 'payout_details_changed', amount: 2000, detail: /bank details .* changed/ }]);
  t.ok(allPaid(second.settled));
  t.match(await balanceOf(send, finance, changer.contributorId), { owed: 2000, inTransit: 0, paid: 2000 });
  // A second draft before anyone confirms holds them again: the hold lasts until finance acts.
  const stillHeld = await expectStatus(send, { method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }, 201);
  t.match(stillHeld.skipped, [{ contributorId: changer.contributorId, reason: 'payout_details_changed' }]);
  await expectStatus(send, { method: 'POST', url: `/v1/payout-runs/${stillHeld.id}/cancel`, headers: finance }, 200);

  // Finance checks with them and confirms; the confirmation is audited with who did it.
  const checker = await org.as('finance');
  const confirmed = await expectStatus(send, { method: 'POST', url: `/v1/contributors/${changer.contributorId}/confirm-payout-details`, headers: checker }, 200);
  t.equal(confirmed.id, changer.contributorId);
  t.equal(confirmed.payoutDetailsChangedAt, null);
  const confirmation = (await auditOf(org, changer.contributorId)).filter((e) => e.action === 'contributor.payout_details_confirmed');
  t.equal(confirmation.length, 1);
  t.equal(confirmation[0]!.actorId, JSON.parse(Buffer.from(checker.authorization!.split('.')[1]!, 'base64url').toString()).sub);
  t.same(confirmation[0]!.before, { payoutDetailsChangedAt: held.payoutDetailsChangedAt });
  const again = await send({ method: 'POST', url: `/v1/contributors/${changer.contributorId}/confirm-payout-details`, headers: checker });
  t.equal(again.statusCode, 409, again.body);
  t.equal(parse(again).code, 'invalid_state');

  // The next run pays what was held, to the new bank account's Stripe account...
  const third = await payRun(org, finance);
  t.same(third.draft.skipped, []);
  t.match(third.settled.items, [{ contributorId: changer.contributorId, amount: 2000, status: 'paid' }]);
  t.equal(transfersOf(double, third.settled.items[0].id)[0]!.destination, changer.accountId);
  // ...and a later one pays without another confirmation.
  await oweMore(org, budgetId, changer.contributorId, '2026-03-04');
  const fourth = await payRun(org, finance);
  t.same(fourth.draft.skipped, []);
  t.match(fourth.settled.items, [{ contributorId: changer.contributorId, amount: 2000, status: 'paid' }]);
  t.match(await balanceOf(send, finance, changer.contributorId), { owed: 0, inTransit: 0, paid: 6000 });
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);
});

t.test('an item approved before the change but not yet transferred is not transferred', async (t) => {
  // An app without the job queue, so the approved item waits until the executor is called here.
  const quiet = await buildTestApp({ stripe: stripeFor(double), env: { STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET } });
  t.teardown(() => quiet.close());
  const { org, finance, budgetId, people } = await stripePeople(['Queued Person']);
  const [person] = people as [(typeof people)[0]];
  const first = await payRun(org, finance);
  t.ok(allPaid(first.settled));
  await oweMore(org, budgetId, person.contributorId, '2026-03-05');

  const run = json(await quiet.inject({ method: 'POST', url: '/v1/payout-runs', headers: finance, payload: { currency: 'GBP' } }));
  const approved = await quiet.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: await org.as('finance') });
  t.equal(approved.statusCode, 200, approved.body);
  const itemId = run.items[0].id as string;
  t.match(await balanceOf(send, finance, person.contributorId), { owed: 0, inTransit: 2000 }, 'queued: the money is in transit');

  await deliverAll(double.changeBankAccount(person.accountId).events.slice(0, 1));
  const executeItem = createStripePayoutExecutor({ db: quiet.db, stripe: stripeFor(double), now: () => new Date(), log: quiet.log, maxRequestsPerSecond: 50 });
  t.equal(await executeItem(org.organisationId, itemId), 'failed');

  t.same(transfersOf(double, itemId), [], 'no transfer was made');
  t.equal(double.requests.filter((r) => r.method === 'POST' && r.path === '/v1/transfers' && (r.params.metadata as any)?.payout_item_id === itemId).length, 0, 'Stripe was not even asked');
  const item = json(await app.inject({ method: 'GET', url: `/v1/payout-runs/${run.id}`, headers: finance })).items[0];
  t.equal(item.status, 'failed');
  t.match(item.failureReason, /^payout_details_changed: /);
  t.match(await balanceOf(send, finance, person.contributorId), { owed: 2000, inTransit: 0, paid: 2000 }, 'the money is owed again');
  t.same(await trialBalance(send, finance), [{ currency: 'GBP', total: 0 }]);

  // After confirmation it is paid by the next run.
  await expectStatus(send, { method: 'POST', url: `/v1/contributors/${person.contributorId}/confirm-payout-details`, headers: await org.as('finance') }, 200);
  const next = await payRun(org, finance);
  t.match(next.settled.items, [{ contributorId: person.contributorId, amount: 2000, status: 'paid' }]);
});

t.test('what is and is not a change of payout destination', async (t) => {
  const { finance, people } = await stripePeople(['Status Only', 'Default Switch']);
  const [statusOnly, defaultSwitch] = people as [(typeof people)[0], (typeof people)[0]];
  const heldSince = async (id: string) => (await contributorView(finance, id)).payoutDetailsChangedAt;

  // Stripe verifying the bank account, or a metadata change, moves no money.
  const account = double.accounts.get(statusOnly.accountId)!;
  const bank = { ...structuredClone(account.external_accounts.data[0]!), status: 'verified' as const };
  await deliverAll([
    makeEvent('account.external_account.updated', bank, { account: statusOnly.accountId, previous_attributes: { status: 'new', metadata: {} } }),
    makeEvent('account.updated', structuredClone(account), { account: statusOnly.accountId, previous_attributes: { requirements: { currently_due: ['individual.dob.day'] } } }),
    makeEvent('account.updated', structuredClone(account), { account: statusOnly.accountId, previous_attributes: { external_accounts: structuredClone(account.external_accounts) } }),
  ]);
  t.equal(await heldSince(statusOnly.contributorId), null, 'verification, requirements or the same default account: no hold');

  // An update Stripe does not explain counts as a change.
  await deliverAll([makeEvent('account.external_account.updated', bank, { account: statusOnly.accountId })]);
  t.type(await heldSince(statusOnly.contributorId), 'string', 'no previous_attributes: held');

  // A second bank account that becomes the default, reported only by account.updated.
  const switching = double.accounts.get(defaultSwitch.accountId)!;
  const before = structuredClone(switching.external_accounts);
  const store = switching.external_accounts.data;
  const extra = { ...structuredClone(store[0]!), id: 'ba_second_default_x', last4: '9999', default_for_currency: true };
  store[0]!.default_for_currency = false;
  store.push(extra);
  await deliverAll([makeEvent('account.updated', structuredClone(switching), { account: defaultSwitch.accountId, previous_attributes: { external_accounts: before } })]);
  t.type(await heldSince(defaultSwitch.contributorId), 'string', 'a new default account: held');
});

t.test('a change after payouts were enabled holds, even before anyone was paid', async (t) => {
  const { finance, people } = await stripePeople(['Enabled Not Paid']);
  const [person] = people as [(typeof people)[0]];
  await deliverAll(double.changeBankAccount(person.accountId).events.slice(0, 1));
  t.type((await contributorView(finance, person.contributorId)).payoutDetailsChangedAt, 'string');

  // Payouts switched off later does not make it a first set-up again.
  const { finance: otherFinance, people: [again] } = await stripePeople(['Switched Off Later']);
  const off = structuredClone(double.setCapability(again!.accountId, 'transfers', 'inactive'));
  await deliverAll([makeEvent('account.updated', off, { created: Math.floor(Date.now() / 1000) + 5 })]);
  await deliverAll(double.changeBankAccount(again!.accountId).events.slice(0, 1));
  t.equal((await contributorView(otherFinance, again!.contributorId)).payoutsEnabled, false);
  t.type((await contributorView(otherFinance, again!.contributorId)).payoutDetailsChangedAt, 'string', 'held');
});

t.test('confirming: who may, and when', async (t) => {
  const { org, finance, coordinator, people } = await stripePeople(['Confirm Rules']);
  const [person] = people as [(typeof people)[0]];
  const url = `/v1/contributors/${person.contributorId}/confirm-payout-details`;

  const nothing = await send({ method: 'POST', url, headers: finance });
  t.equal(nothing.statusCode, 409, nothing.body);
  t.match(parse(nothing), { code: 'invalid_state', detail: /Nothing is held/ });

  await deliverAll(double.changeBankAccount(person.accountId).events);
  for (const [who, headers] of [
    ['coordinator', coordinator],
    ['admin', await org.as('admin')],
    ['the participant', await org.as('participant', { contributorId: person.contributorId })],
  ] as const) {
    const res = await send({ method: 'POST', url, headers });
    t.equal(res.statusCode, 403, `${who}: ${res.body}`);
  }
  const self = await send({ method: 'POST', url, headers: await org.as('finance', { contributorId: person.contributorId }) });
  t.equal(self.statusCode, 403, self.body);
  t.equal(parse(self).code, 'self_approval_forbidden', 'nobody confirms their own new bank details');
  const other = await createTestOrg(app);
  const foreign = await send({ method: 'POST', url, headers: await other.as('finance') });
  t.equal(foreign.statusCode, 404, foreign.body);
  t.type((await contributorView(finance, person.contributorId)).payoutDetailsChangedAt, 'string', 'still held after every refusal');

  const list = await expectStatus(send, { method: 'GET', url: '/v1/contributors?payoutDetailsChanged=true', headers: finance }, 200);
  t.same(list.data.map((c: any) => c.id), [person.contributorId]);
});

t.test('pages: the participant is warned; finance confirms from /finance/payout-details', async (t) => {
  const { org, finance, people } = await stripePeople(['Page Person']);
  const [person] = people as [(typeof people)[0]];
  const participantClient = new WebClient(app).withToken(await org.tokenFor('participant', { contributorId: person.contributorId }));
  const calm = await participantClient.get('/my/payment');
  t.notMatch(calm.body, /data-testid="payout-details-held"/);

  await deliverAll(double.changeBankAccount(person.accountId).events);
  const warned = await participantClient.get('/my/payment');
  t.match(warned.body, /data-testid="payout-details-held"/);
  t.match(warned.body, /your next payment will wait until the finance team has checked the change with you/);
  t.match((await participantClient.get('/my')).body, /data-testid="payout-details-held"/);
  t.equal((await participantClient.get('/finance/payout-details')).statusCode, 403, 'not for participants');

  const financeToken = await org.tokenFor('finance');
  const financeClient = new WebClient(app).withToken(financeToken);
  const list = await financeClient.get('/finance/payout-details');
  t.equal(list.statusCode, 200);
  t.match(list.body, /Page Person/);
  t.match(list.body, new RegExp(`action="/finance/payout-details/${person.contributorId}/confirm"`));
  t.match(list.body, /£20\.00/, 'what waits for them');
  t.notMatch(list.body, /Changed again/, "Stripe's three events for one edit are one change");

  // A change reported well before the latest one, in the same hold, is a second change: flagged.
  const [latest] = (await auditOf(org, person.contributorId)).filter((e) => e.action === 'contributor.payout_details_changed');
  await app.db.insert(auditEvents).values({ ...latest!, id: newId(), createdAt: new Date(latest!.createdAt.getTime() - 20 * 60_000) });
  const twiceChanged = await financeClient.get('/finance/payout-details');
  t.match(twiceChanged.body, /2 <strong class="govuk-tag govuk-tag--red">Changed again<\/strong>/);

  const forged = await financeClient.post(`/finance/payout-details/${person.contributorId}/confirm`, {}, { csrf: null });
  t.equal(forged.statusCode, 403, 'no CSRF token, no confirmation');
  t.type((await contributorView(finance, person.contributorId)).payoutDetailsChangedAt, 'string');

  await financeClient.get('/finance/payout-details');
  const done = await financeClient.post(`/finance/payout-details/${person.contributorId}/confirm`, {});
  t.equal(done.headers.location, '/finance/payout-details?confirmed=1');
  const after = await financeClient.follow(done);
  t.match(after.body, /The change is confirmed/);
  t.match(after.body, /data-testid="none-held"/);
  t.equal((await contributorView(finance, person.contributorId)).payoutDetailsChangedAt, null);
  const confirmation = (await auditOf(org, person.contributorId)).find((e) => e.action === 'contributor.payout_details_confirmed');
  t.equal(confirmation?.actorId, JSON.parse(Buffer.from(financeToken.split('.')[1]!, 'base64url').toString()).sub, 'audited as the finance user');

  const twice = await financeClient.post(`/finance/payout-details/${person.contributorId}/confirm`, {}, { csrf: financeClient.csrf() });
  t.equal(twice.statusCode, 409);
  t.match(twice.body, /Nothing is held/);
  t.notMatch((await participantClient.get('/my/payment')).body, /data-testid="payout-details-held"/);
});
