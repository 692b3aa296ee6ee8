/**
 * The payment path tells people what happened (issue #16): each kind of message is queued in the
 * transaction of the change it tells of, exactly once, for the right people and nobody else, with
 * amounts, dates, counts and ids but never names; a change that rolls back queues nothing.
 *
 * Read from the outbox table itself (nothing is sent: SMTP_URL is not set, so messages stay
 * queued). One app with the Stripe test double and the job queue, so transfers are really made.
 */
import { sql } from 'drizzle-orm';
import t, { type Test } from 'tap';
import { queryRows } from '../src/db/client.js';
import { inTransaction } from '../src/db/tx.js';
import { systemActor, type Actor, type Principal } from '../src/domain/actor.js';
import { periodOf } from '../src/domain/earnings-limit.js';
import { londonDate } from '../src/domain/uk-time.js';
import { draftPayoutRun, markItemFailed } from '../src/modules/payouts/service.js';
import { approveTimeEntry } from '../src/modules/time-entries/service.js';
import { makeEvent } from '../tools/stripe-double/index.js';
import { createTestOrg, json, uniqueEmail, type TestOrg } from './helpers/app.js';
import { addContributor, fundedBudget } from './helpers/fixtures.js';
import { deliverEvent, onboardStripeContributor, stripeAppForThisFile, waitForRun } from './helpers/payout-fixtures.js';

const { double, app, send } = await stripeAppForThisFile(t, 'payment_notifications');

interface Note {
  id: string;
  kind: string;
  user_id: string | null;
  contributor_id: string | null;
  to_address: string;
  link: string;
  data: Record<string, any>;
  status: string;
}

/** Every message queued for the organisation, oldest first. */
async function outbox(organisationId: string, kind?: string): Promise<Note[]> {
  return queryRows<Note>(
    app.db,
    sql`select id, kind, user_id, contributor_id, to_address, link, data, status from notifications
         where organisation_id = ${organisationId} ${kind ? sql`and kind = ${kind}` : sql``}
         order by created_at, id`,
  );
}

/** Who each message is for: the user, or the contributor written to at their own email. */
const to = (n: Note) => n.user_id ?? `contributor:${n.contributor_id}`;
const sorted = (list: (string | null)[]) => [...list].sort();

/** The users of a role in the organisation (each org.as(role) makes a new one). */
async function usersWithRole(organisationId: string, role: string): Promise<string[]> {
  const rows = await queryRows<{ id: string }>(app.db, sql`select id from users where organisation_id = ${organisationId} and role = ${role} order by id`);
  return rows.map((r) => r.id);
}

async function userOf(organisationId: string, contributorId: string): Promise<string> {
  const [row] = await queryRows<{ id: string }>(app.db, sql`select id from users where organisation_id = ${organisationId} and contributor_id = ${contributorId}`);
  if (!row) throw new Error(`no user for contributor ${contributorId}`);
  return row.id;
}

async function call(method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: object, expected?: number) {
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const want = expected ?? (method === 'POST' && !url.includes('/approve') && !url.includes('/mark-') ? 201 : 200);
  if (res.statusCode !== want) throw new Error(`${method} ${url} → ${res.statusCode} (wanted ${want}): ${res.body}`);
  return json(res);
}

/** Names and addresses used in a test: none may appear in any message's data. */
function assertNoNames(t: Test, notes: Note[], personal: string[]) {
  for (const note of notes) {
    const data = JSON.stringify(note.data);
    const found = personal.filter((p) => data.toLowerCase().includes(p.toLowerCase()));
    t.same(found, [], `${note.kind} data names nobody: ${data}`);
  }
}

/** A contributor (with a participant log-in unless `login: false`) owed for `hours` of meetings. */
async function person(
  org: TestOrg,
  budgetId: string,
  coordinator: Record<string, string>,
  name: string,
  options: { hours?: number[]; paymentMethod?: string; email?: string; login?: boolean; earningsLimit?: object } = {},
) {
  const contributor = await addContributor(app, coordinator, {
    name,
    kind: 'lived_experience',
    paymentMethod: options.paymentMethod ?? 'bank_transfer',
    ...(options.email ? { email: options.email } : {}),
    ...(options.earningsLimit ? { earningsLimit: options.earningsLimit } : {}),
  });
  if (!contributor.id) throw new Error(`contributor not created: ${JSON.stringify(contributor)}`);
  if (options.login !== false) await org.tokenFor('participant', { contributorId: contributor.id });
  const entries: string[] = [];
  for (const [i, hours] of (options.hours ?? []).entries()) {
    const entry = await call('POST', '/v1/time-entries', coordinator, {
      contributorId: contributor.id,
      budgetId,
      activity: 'meeting',
      date: `2026-03-${String(2 + i).padStart(2, '0')}`,
      minutes: hours * 60,
    });
    await call('POST', `/v1/time-entries/${entry.id}/approve`, coordinator);
    entries.push(entry.id);
  }
  return { id: contributor.id as string, entries };
}

t.test('time_approved: the contributor hears once per entry; nobody else; nothing when nothing is owed or nobody can be reached; a refused or rolled-back approval queues nothing', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const { budgetId: smallBudget } = await fundedBudget(app, org, { amount: 1000 });
  const coordinator = await org.as('coordinator');
  const submit = (contributorId: string, date: string, minutes: number, budget = budgetId) =>
    call('POST', '/v1/time-entries', coordinator, { contributorId, budgetId: budget, activity: 'meeting', date, minutes });
  const approve = (id: string, expected = 200) => call('POST', `/v1/time-entries/${id}/approve`, coordinator, undefined, expected);

  const loginEmail = uniqueEmail('unused');
  const withLogin = await person(org, budgetId, coordinator, 'Zephyrine Quill', { email: loginEmail });
  const emailOnly = await person(org, budgetId, coordinator, 'Barnaby Thistle', { email: uniqueEmail('barnaby'), login: false });
  const unreachable = await person(org, budgetId, coordinator, 'Cosima Wren', { login: false });
  const declined = await person(org, budgetId, coordinator, 'Dashiell Moor', { paymentMethod: 'declined' });
  const professional = await addContributor(app, coordinator, { name: 'Dr Eulalie Fenn', kind: 'professional', paymentMethod: 'bank_transfer' });
  await org.tokenFor('participant', { contributorId: professional.id });

  const first = await submit(withLogin.id, '2026-03-02', 120);
  const second = await submit(withLogin.id, '2026-03-09', 90);
  const third = await submit(emailOnly.id, '2026-03-02', 60);
  const lost = await submit(unreachable.id, '2026-03-02', 60);
  const unpaid = await submit(declined.id, '2026-03-02', 60);
  const inKind = await submit(professional.id, '2026-03-02', 60);
  for (const entry of [first, second, third, lost, unpaid, inKind]) await approve(entry.id);
  await approve(first.id, 409);

  const notes = await outbox(org.organisationId);
  t.ok(notes.every((n) => n.kind === 'time_approved'), 'only time_approved so far');
  const participant = await userOf(org.organisationId, withLogin.id);
  t.same(
    sorted(notes.map((n) => `${to(n)} ${n.data.timeEntryId}`)),
    sorted([`${participant} ${first.id}`, `${participant} ${second.id}`, `contributor:${emailOnly.id} ${third.id}`]),
    'one message per approved entry, to the participant or to the contributor email; none for in-kind, declined or unreachable work',
  );
  const byEntry = (id: string) => notes.find((n) => n.data.timeEntryId === id)!;
  t.same(byEntry(first.id).data, { timeEntryId: first.id, amount: 4000, currency: 'GBP', workDate: '2026-03-02' });
  t.same(byEntry(second.id).data, { timeEntryId: second.id, amount: 3000, currency: 'GBP', workDate: '2026-03-09' });
  t.equal(byEntry(first.id).link, '/my');
  t.equal(byEntry(first.id).contributor_id, withLogin.id, 'the message is filed under the contributor (for their data export)');
  t.equal(byEntry(third.id).user_id, null);
  t.match(byEntry(third.id).to_address, /^barnaby-/, 'written to the contributor’s own email');
  t.ok(notes.every((n) => n.status === 'queued'));

  // Refused by the budget: nothing is approved and nothing is said.
  const tooBig = await submit(withLogin.id, '2026-03-10', 120, smallBudget);
  const refused = await app.inject({ method: 'POST', url: `/v1/time-entries/${tooBig.id}/approve`, headers: coordinator });
  t.equal(refused.statusCode, 422, refused.body);
  t.equal(json(refused).code, 'budget_exceeded');

  // Approved inside a transaction that then rolls back: the message goes with it.
  const rolledBack = await submit(withLogin.id, '2026-03-11', 60);
  const principal: Principal = { organisationId: org.organisationId, role: 'coordinator', userId: org.adminUserId, apiTokenId: null, contributorId: null };
  const actor: Actor = { type: 'user', id: org.adminUserId };
  await t.rejects(
    inTransaction(app.db, async (tx) => {
      await approveTimeEntry(tx, { organisationId: org.organisationId, principal, actor, now: new Date() }, rolledBack.id);
      t.equal((await queryRows(tx, sql`select 1 from notifications where organisation_id = ${org.organisationId} and data->>'timeEntryId' = ${rolledBack.id}`)).length, 1, 'queued inside the transaction');
      throw new Error('something later in the transaction fails');
    }),
    { message: /something later/ },
  );
  const after = await outbox(org.organisationId);
  t.equal(after.length, 3, 'the refused and the rolled-back approvals queued nothing');
  t.equal((await call('GET', `/v1/time-entries/${rolledBack.id}`, coordinator)).status, 'submitted', 'the approval rolled back too');
  await approve(rolledBack.id);
  t.equal((await outbox(org.organisationId, 'time_approved')).filter((n) => n.data.timeEntryId === rolledBack.id).length, 1, 'approved for real, it is told once');

  assertNoNames(t, await outbox(org.organisationId), ['Zephyrine', 'Quill', 'Barnaby', 'Thistle', 'Cosima', 'Dashiell', 'Eulalie', loginEmail]);
});

t.test('manual payments: payment_sent and payment_failed to the person; one payments_failed per finance user per run and day, its count kept up to date', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId, finance } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const approver = await org.as('finance');
  const paid = await person(org, budgetId, coordinator, 'Ottoline Vance', { hours: [2] });
  const bounced = await person(org, budgetId, coordinator, 'Peregrine Ashby', { hours: [1, 2] });
  const closed = await person(org, budgetId, coordinator, 'Rosamund Kell', { hours: [3] });
  const voucher = await person(org, budgetId, coordinator, 'Tobias Marsh', { hours: [1], paymentMethod: 'voucher', email: uniqueEmail('tobias'), login: false });
  const run = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP' });
  await call('POST', `/v1/payout-runs/${run.id}/approve`, approver);
  const item = (contributorId: string) => run.items.find((i: any) => i.contributorId === contributorId);
  const before = (await outbox(org.organisationId)).length;
  const newNotes = async () => (await outbox(org.organisationId)).slice(before);
  const today = londonDate(new Date());

  await call('POST', `/v1/payouts/${item(paid.id).id}/mark-paid`, approver, { reference: 'BACS-1' });
  await call('POST', `/v1/payouts/${item(paid.id).id}/mark-paid`, approver, { reference: 'BACS-1' }, 409);
  await call('POST', `/v1/payouts/${item(voucher.id).id}/mark-paid`, approver, { reference: 'VOUCHER-9' });
  let notes = await newNotes();
  t.same(
    sorted(notes.map((n) => `${n.kind} ${to(n)}`)),
    sorted([`payment_sent ${await userOf(org.organisationId, paid.id)}`, `payment_sent contributor:${voucher.id}`]),
    'each paid person hears once; nobody else',
  );
  t.same(notes.find((n) => n.contributor_id === paid.id)!.data, {
    itemId: item(paid.id).id,
    amount: 4000,
    currency: 'GBP',
    method: 'bank_transfer',
    paymentDate: today,
  });
  t.equal(notes.find((n) => n.contributor_id === paid.id)!.link, '/my/statement');
  t.equal(notes.find((n) => n.contributor_id === voucher.id)!.data.method, 'voucher');

  // A failure inside a transaction that rolls back tells nobody.
  await t.rejects(
    inTransaction(app.db, async (tx) => {
      await markItemFailed(tx, org.organisationId, { type: 'user', id: org.adminUserId }, item(closed.id).id, 'Rolled back', new Date());
      throw new Error('roll back');
    }),
    { message: /roll back/ },
  );
  t.equal((await newNotes()).length, 2, 'a rolled-back failure queued nothing');

  await call('POST', `/v1/payouts/${item(bounced.id).id}/mark-failed`, approver, { reason: 'The bank returned the payment: account closed.' });
  const financeUsers = await usersWithRole(org.organisationId, 'finance');
  t.equal(financeUsers.length, 2, 'two finance users in this organisation');
  notes = await newNotes();
  const failedNote = notes.find((n) => n.kind === 'payment_failed')!;
  t.equal(failedNote.user_id, await userOf(org.organisationId, bounced.id));
  t.same(failedNote.data, {
    itemId: item(bounced.id).id,
    amount: 6000,
    currency: 'GBP',
    reason: 'The bank returned the payment: account closed',
    failedOn: today,
  });
  t.equal(failedNote.link, '/my/payment');
  let financeNotes = notes.filter((n) => n.kind === 'payments_failed');
  t.same(sorted(financeNotes.map(to)), sorted(financeUsers), 'every finance user hears of the failure');
  t.ok(financeNotes.every((n) => n.link === '/finance' && n.contributor_id === null));
  t.same(financeNotes[0]!.data, { runId: run.id, count: 1, total: 6000, currency: 'GBP', date: today });

  await call('POST', `/v1/payouts/${item(closed.id).id}/mark-failed`, approver, { reason: 'Wrong sort code' });
  await call('POST', `/v1/payouts/${item(paid.id).id}/mark-failed`, approver, { reason: 'Too late' }, 409);
  notes = await newNotes();
  t.same(
    sorted(notes.filter((n) => n.kind === 'payment_failed').map((n) => `${to(n)} ${n.data.itemId}`)),
    sorted([`${await userOf(org.organisationId, bounced.id)} ${item(bounced.id).id}`, `${await userOf(org.organisationId, closed.id)} ${item(closed.id).id}`]),
    'each failed person hears once; a refused mark-failed tells nobody',
  );
  financeNotes = notes.filter((n) => n.kind === 'payments_failed');
  t.equal(financeNotes.length, financeUsers.length, 'a second failure in the run that day sends finance no second message');
  for (const note of financeNotes) t.same(note.data, { runId: run.id, count: 2, total: 6000 + 6000, currency: 'GBP', date: today }, 'the waiting message counts both');

  assertNoNames(t, await outbox(org.organisationId), ['Ottoline', 'Peregrine', 'Rosamund', 'Tobias', 'Vance', 'Ashby', 'Kell', 'Marsh']);
});

t.test('Stripe: a transfer made tells the person; refused transfers tell each person why in plain words and finance once; a reversal tells the person', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId, finance } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const people = [];
  for (const [i, name] of ['Imogen Pike', 'Jasper Lowe', 'Kit Marlow'].entries()) {
    const p = await person(org, budgetId, coordinator, name, { hours: [i + 1], paymentMethod: 'stripe' });
    await onboardStripeContributor(send, coordinator, double, p.id);
    people.push(p);
  }
  const run = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP' });
  const before = (await outbox(org.organisationId)).length;
  // Stripe refuses the first two transfers for good: the platform balance is short.
  double.faults.enqueue({
    kind: 'error',
    status: 400,
    type: 'invalid_request_error',
    code: 'balance_insufficient',
    message: 'You have insufficient available funds in your Stripe account.',
    match: 'POST /v1/transfers',
    times: 2,
  });
  await call('POST', `/v1/payout-runs/${run.id}/approve`, await org.as('finance'));
  const settled = await waitForRun(send, finance, run.id);
  const failed = settled.items.filter((i: any) => i.status === 'failed');
  const paid = settled.items.filter((i: any) => i.status === 'paid');
  t.equal(failed.length, 2, JSON.stringify(settled.items));
  t.equal(paid.length, 1);
  t.match(failed[0].failureReason, /^balance_insufficient: /, 'finance keep Stripe’s own reason');
  const inWords = "there was not enough money in the organisation's payment account at the time; this was not something you did";
  t.equal(failed[0].failureInWords, inWords, 'and the API gives it in plain words');

  const notes = (await outbox(org.organisationId)).slice(before);
  const userOfItem = (i: any) => userOf(org.organisationId, i.contributorId);
  const today = londonDate(new Date());
  t.same(
    sorted(notes.filter((n) => n.kind !== 'payments_failed').map((n) => `${n.kind} ${to(n)}`)),
    sorted([
      `payment_sent ${await userOfItem(paid[0])}`,
      `payment_failed ${await userOfItem(failed[0])}`,
      `payment_failed ${await userOfItem(failed[1])}`,
    ]),
    'the paid person hears it was sent; each refused person hears it failed; once each',
  );
  const sent = notes.find((n) => n.kind === 'payment_sent')!;
  t.same(sent.data, { itemId: paid[0].id, amount: paid[0].amount, currency: 'GBP', method: 'stripe', paymentDate: today });
  for (const note of notes.filter((n) => n.kind === 'payment_failed')) {
    const item = failed.find((i: any) => i.id === note.data.itemId);
    t.same(note.data, { itemId: item.id, amount: item.amount, currency: 'GBP', reason: inWords, failedOn: today }, 'no Stripe code or account id reaches the person');
  }
  const financeUsers = await usersWithRole(org.organisationId, 'finance');
  let financeNotes = notes.filter((n) => n.kind === 'payments_failed');
  t.same(sorted(financeNotes.map(to)), sorted(financeUsers), 'one message per finance user for the whole burst');
  const failedTotal = failed.reduce((s: number, i: any) => s + i.amount, 0);
  for (const note of financeNotes) t.same(note.data, { runId: run.id, count: 2, total: failedTotal, currency: 'GBP', date: today });

  // Stripe takes the paid transfer back (transfer.reversed): the person hears, once.
  double.reverseTransfer(paid[0].stripeTransferId);
  const event = makeEvent('transfer.reversed', structuredClone(double.transfers.get(paid[0].stripeTransferId)!));
  t.equal((await deliverEvent(send, event)).statusCode, 200);
  t.equal((await deliverEvent(send, makeEvent('transfer.reversed', structuredClone(double.transfers.get(paid[0].stripeTransferId)!)))).statusCode, 200);
  const afterReversal = (await outbox(org.organisationId)).slice(before + notes.length);
  t.same(afterReversal.map((n) => `${n.kind} ${to(n)}`), [`payment_failed ${await userOfItem(paid[0])}`], 'the reversed person hears once, finance get no second message');
  t.same(afterReversal[0]!.data, {
    itemId: paid[0].id,
    amount: paid[0].amount,
    currency: 'GBP',
    reason: 'the payment was taken back after it was sent',
    failedOn: today,
  });
  financeNotes = (await outbox(org.organisationId, 'payments_failed'));
  t.equal(financeNotes.length, financeUsers.length);
  for (const note of financeNotes) t.same(note.data, { runId: run.id, count: 3, total: failedTotal + paid[0].amount, currency: 'GBP', date: today }, 'the waiting message now counts the reversal too');

  assertNoNames(t, await outbox(org.organisationId), ['Imogen', 'Jasper', 'Marlow', 'acct_', 'balance_insufficient']);
});

t.test('approval tells people whose earnings a limit held or cut when they can have them, and once a period that they are near their limit', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId, finance } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const limit = (policy: string) => ({ period: 'month', amount: 5000, periodStartDay: 1, policy });
  const blocked = await person(org, budgetId, coordinator, 'Leontyne Hale', { hours: [2, 2], earningsLimit: limit('block') });
  const split = await person(org, budgetId, coordinator, 'Magnus Orr', { hours: [4], earningsLimit: limit('split') });
  const warned = await person(org, budgetId, coordinator, 'Nerys Pryce', { hours: [1], earningsLimit: limit('warn') });
  const free = await person(org, budgetId, coordinator, 'Quentin Rowe', { hours: [4] });
  const today = londonDate(new Date());
  const period = periodOf({ period: 'month', periodStartDay: 1 }, today);

  const run = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP' });
  t.match(run.skipped, [{ contributorId: blocked.id, reason: 'earnings_limit', amount: 4000 }]);
  t.equal(run.items.find((i: any) => i.contributorId === split.id).carriedForward, 3000);
  const before = (await outbox(org.organisationId)).length;
  await call('POST', `/v1/payout-runs/${run.id}/approve`, await org.as('finance'));
  const notes = (await outbox(org.organisationId)).slice(before);
  const blockedUser = await userOf(org.organisationId, blocked.id);
  const splitUser = await userOf(org.organisationId, split.id);
  t.same(
    sorted(notes.map((n) => `${n.kind} ${to(n)}`)),
    sorted([
      `payment_held_earnings_limit ${blockedUser}`,
      `limit_nearly_reached ${blockedUser}`,
      `payment_held_earnings_limit ${splitUser}`,
      `limit_nearly_reached ${splitUser}`,
    ]),
    'held and cut people hear both; someone at 40% of their limit and someone with no limit hear nothing',
  );
  const of = (kind: string, user: string) => notes.find((n) => n.kind === kind && n.user_id === user)!;
  t.same(of('payment_held_earnings_limit', blockedUser).data, { runId: run.id, amount: 4000, currency: 'GBP', payableFrom: period.nextStart });
  t.same(of('payment_held_earnings_limit', splitUser).data, {
    itemId: run.items.find((i: any) => i.contributorId === split.id).id,
    amount: 3000,
    currency: 'GBP',
    payableFrom: period.nextStart,
  });
  t.same(of('limit_nearly_reached', blockedUser).data, { counted: 4000, limit: 5000, currency: 'GBP', periodStart: period.start, periodEnd: period.end, policy: 'block' }, '80% exactly counts');
  t.same(of('limit_nearly_reached', splitUser).data, { counted: 5000, limit: 5000, currency: 'GBP', periodStart: period.start, periodEnd: period.end, policy: 'split' });
  t.ok(notes.every((n) => n.link === '/my'));

  // More work for the person under warn: a second run takes them to 80%, a third past it.
  const more = async (hours: number) => {
    const entry = await call('POST', '/v1/time-entries', coordinator, { contributorId: warned.id, budgetId, activity: 'meeting', date: '2026-04-01', minutes: hours * 60 });
    await call('POST', `/v1/time-entries/${entry.id}/approve`, coordinator);
    const next = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [warned.id] });
    await call('POST', `/v1/payout-runs/${next.id}/approve`, await org.as('finance'));
  };
  await more(1);
  const warnedUser = await userOf(org.organisationId, warned.id);
  let nearly = (await outbox(org.organisationId, 'limit_nearly_reached')).filter((n) => n.user_id === warnedUser);
  t.equal(nearly.length, 1, 'at 80% they hear');
  t.same(nearly[0]!.data, { counted: 4000, limit: 5000, currency: 'GBP', periodStart: period.start, periodEnd: period.end, policy: 'warn' });
  await more(1);
  nearly = (await outbox(org.organisationId, 'limit_nearly_reached')).filter((n) => n.user_id === warnedUser);
  t.equal(nearly.length, 1, 'once a period, not again at 100%');
  t.equal((await outbox(org.organisationId)).filter((n) => n.contributor_id === free.id && n.kind !== 'time_approved').length, 0, 'no limit, no limit messages');

  assertNoNames(t, await outbox(org.organisationId), ['Leontyne', 'Magnus', 'Nerys', 'Quentin']);
});

t.test('run_awaiting_approval: the finance users who could approve a drafted run hear once; not the drafter, not a payee, not for the schedule or an empty run', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const admin = await org.as('admin');
  const payee = await person(org, budgetId, coordinator, 'Sorcha Vale', { hours: [1], login: false });
  await person(org, budgetId, coordinator, 'Ulric Yates', { hours: [2], login: false });
  const drafter = await org.as('finance');
  await org.as('finance');
  await org.tokenFor('finance', { contributorId: payee.id });
  const drafterId = (await call('GET', '/v1/me', drafter)).userId;
  const payeeUser = await userOf(org.organisationId, payee.id);
  const financeUsers = await usersWithRole(org.organisationId, 'finance');
  t.equal(financeUsers.length, 4, 'the fixture’s, the drafter, a colleague, and one who is also paid');

  const run = await call('POST', '/v1/payout-runs', drafter, { currency: 'GBP' });
  let notes = await outbox(org.organisationId, 'run_awaiting_approval');
  t.same(sorted(notes.map(to)), sorted(financeUsers.filter((u) => u !== drafterId && u !== payeeUser)), 'the other finance users who may approve it');
  for (const note of notes) {
    t.same(note.data, { runId: run.id, total: 6000, currency: 'GBP', items: 2 });
    t.equal(note.link, `/finance/runs/${run.id}`);
  }

  t.equal((await call('POST', '/v1/payout-runs', drafter, { currency: 'EUR' })).items.length, 0);
  t.equal((await outbox(org.organisationId, 'run_awaiting_approval')).length, notes.length, 'an empty run waits for nobody');

  await draftPayoutRun(app.db, org.organisationId, systemActor('payout-schedule'), { currency: 'GBP' }, new Date());
  t.equal((await outbox(org.organisationId, 'run_awaiting_approval')).length, notes.length, 'a run the schedule drafts is told of by the schedule itself');

  // A script's token acts for the admin who made it, who is not in finance: every finance user but the payee hears.
  const token = await call('POST', '/v1/api-tokens', admin, { name: 'Payments script', role: 'finance' });
  const byToken = await call('POST', '/v1/payout-runs', { authorization: `Bearer ${token.token}` }, { currency: 'GBP' });
  notes = (await outbox(org.organisationId, 'run_awaiting_approval')).filter((n) => n.data.runId === byToken.id);
  t.same(sorted(notes.map(to)), sorted(financeUsers.filter((u) => u !== payeeUser)));
  t.equal((await outbox(org.organisationId)).filter((n) => n.kind === 'run_awaiting_approval' && n.user_id === org.adminUserId).length, 0, 'admins are not asked');

  assertNoNames(t, await outbox(org.organisationId), ['Sorcha', 'Ulric', 'Payments script']);
});
