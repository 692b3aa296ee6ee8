/**
 * The daily reminders (src/modules/notifications/reminders.ts, run by the job queue at 08:00
 * Europe/London): coordinators who turned it on get one digest a day of the time waiting for
 * approval longer than the organisation's setting; finance is reminded of drafts waiting more
 * than a day. What is checked is the outbox: the messages queued, to whom, saying what.
 */
import { and, eq, sql } from 'drizzle-orm';
import t from 'tap';
import { notifications, payoutScheduleSlots, timeEntries, users } from '../src/db/schema.js';
import type { Actor } from '../src/domain/actor.js';
import type { NotificationKind, Role } from '../src/domain/enums.js';
import { londonDate, londonMoment } from '../src/domain/uk-time.js';
import { createApiToken } from '../src/modules/api-tokens/service.js';
import { queueNotification } from '../src/modules/notifications/outbox.js';
import { sendReminders } from '../src/modules/notifications/reminders.js';
import { approvePayoutRun, cancelPayoutRun, draftPayoutRun } from '../src/modules/payouts/service.js';
import { createUser } from '../src/modules/users/service.js';
import { appForThisFile, createTestOrg, json, uniqueEmail, type TestOrg } from './helpers/app.js';
import { isolatedPostgres } from './helpers/payout-fixtures.js';
import { addContributor, fundedBudget, owedContributor } from './helpers/fixtures.js';

// Its own PostgreSQL database: the job queue runs here (so each queued message's delivery job
// can be seen; no SMTP_URL: none is sent), and its crons must not act on other files' data.
// Registered first, so it runs last.
const isolated = await isolatedPostgres('reminders');
t.teardown(() => isolated.drop());
const app = await appForThisFile(t, { jobs: true });

const DAY = 86_400_000;
const daysAfter = (moment: Date, days: number) => new Date(moment.getTime() + days * DAY);

/** A user of the organisation with the role, having turned the digest on or off (or left it). */
async function staff(org: TestOrg, role: Role, digest?: boolean) {
  const user = await createUser(app.db, org.organisationId, { type: 'system', id: 'test' }, { email: uniqueEmail(role), name: `Test ${role}`, role }, new Date());
  if (digest !== undefined) {
    await app.db.update(users).set({ notificationPreferences: { time_awaiting_approval: digest } }).where(eq(users.id, user.id));
  }
  return user;
}

async function queued(organisationId: string, kind: NotificationKind) {
  return app.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.organisationId, organisationId), eq(notifications.kind, kind)))
    .orderBy(notifications.createdAt, notifications.id);
}

/** The reminders of runs: drafting a run also tells finance, once, which is not this file's business. */
async function runReminders(organisationId: string) {
  return (await queued(organisationId, 'run_awaiting_approval')).filter((r) => (r.data as { reminder?: boolean }).reminder === true);
}

/** A new organisation with a budget, a contributor paid by voucher, and a coordinator who wants the digest. */
async function remindedOrg(name: string, kind: string) {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const person = await addContributor(app, await org.as('coordinator'), { name, kind, paymentMethod: 'voucher' });
  const coordinator = await staff(org, 'coordinator', true);
  return { org, budgetId, person, coordinator };
}

/**
 * Time entries submitted over the API, then dated back: an entry's submission is its row's
 * created_at, which the database sets when it is submitted, so "submitted n days ago" is made
 * by moving it.
 */
async function submittedDaysAgo(org: TestOrg, budgetId: string, contributorId: string, days: number, now: Date) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/time-entries',
    headers: await org.as('coordinator'),
    payload: { contributorId, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 30 },
  });
  if (res.statusCode !== 201) throw new Error(res.body);
  const id = json(res).id as string;
  await app.db
    .update(timeEntries)
    .set({ createdAt: new Date(now.getTime() - days * DAY) })
    .where(and(eq(timeEntries.organisationId, org.organisationId), eq(timeEntries.id, id)));
  return id;
}

t.test('coordinators who turned it on get one digest a day of time waiting more than three days', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  const person = await addContributor(app, await org.as('coordinator'), { name: 'Sam', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const now = new Date();

  const wantsIt = await staff(org, 'coordinator', true);
  await staff(org, 'coordinator'); // the default: off
  await staff(org, 'coordinator', false);
  await staff(org, 'admin', true); // admins do not approve time
  await staff(org, 'finance', true); // finance hears about runs instead
  const disabled = await staff(org, 'coordinator', true);
  await app.db.update(users).set({ disabledAt: now }).where(eq(users.id, disabled.id));

  // Nothing has waited long enough yet: no digest.
  await submittedDaysAgo(org, budgetId, person.id, 1, now);
  await sendReminders(app.db, now);
  t.same(await queued(org.organisationId, 'time_awaiting_approval'), [], 'no digest while nothing has waited three days');

  await submittedDaysAgo(org, budgetId, person.id, 4, now);
  await submittedDaysAgo(org, budgetId, person.id, 10, now);
  await submittedDaysAgo(org, budgetId, person.id, 2.9, now);
  // Approved or rejected time no longer waits, however old.
  const approved = await submittedDaysAgo(org, budgetId, person.id, 8, now);
  t.equal((await app.inject({ method: 'POST', url: `/v1/time-entries/${approved}/approve`, headers: await org.as('coordinator') })).statusCode, 200);
  const rejected = await submittedDaysAgo(org, budgetId, person.id, 8, now);
  const rejection = await app.inject({ method: 'POST', url: `/v1/time-entries/${rejected}/reject`, headers: await org.as('coordinator'), payload: { reason: 'Duplicate' } });
  t.equal(rejection.statusCode, 200, rejection.body);
  // Another organisation's waiting time is not counted here.
  const other = await createTestOrg(app);
  const otherBudget = await fundedBudget(app, other);
  const otherPerson = await addContributor(app, await other.as('coordinator'), { name: 'Kim', kind: 'lived_experience', paymentMethod: 'voucher' });
  await submittedDaysAgo(other, otherBudget.budgetId, otherPerson.id, 6, now);

  await sendReminders(app.db, now);
  const digests = await queued(org.organisationId, 'time_awaiting_approval');
  t.equal(digests.length, 1, 'one digest, to the one active coordinator who asked for it');
  t.match(digests[0], { userId: wantsIt.id, toAddress: wantsIt.email, link: '/approvals', status: 'queued', data: { count: 2, days: 3 } });

  // A second run the same day (a retried job, another instance) sends nothing more.
  await sendReminders(app.db, new Date(now.getTime() + 60_000));
  t.equal((await queued(org.organisationId, 'time_awaiting_approval')).length, 1, 'once a day');

  // The next day the time still waits (and the 2.9-day entry has joined it): a new digest.
  const tomorrow = daysAfter(now, 1);
  await sendReminders(app.db, tomorrow);
  const after = await queued(org.organisationId, 'time_awaiting_approval');
  t.equal(after.length, 2, 'a new digest the next day');
  t.match(after[1], { userId: wantsIt.id, data: { count: 3, days: 3 } }, 'the entry 2.9 days old has now waited more than three days');
});

t.test("the organisation's own number of days counts", async (t) => {
  const { org, budgetId, person, coordinator } = await remindedOrg('Jo', 'carer');
  const now = new Date();
  await submittedDaysAgo(org, budgetId, person.id, 4, now);
  await submittedDaysAgo(org, budgetId, person.id, 8, now);

  const set = await app.inject({ method: 'PATCH', url: '/v1/organisation', headers: await org.as('admin'), payload: { settings: { submittedTimeReminderDays: 7 } } });
  t.equal(set.statusCode, 200, set.body);
  await sendReminders(app.db, now);
  t.match(await queued(org.organisationId, 'time_awaiting_approval'), [{ userId: coordinator.id, data: { count: 1, days: 7 } }]);

  await app.inject({ method: 'PATCH', url: '/v1/organisation', headers: await org.as('admin'), payload: { settings: { submittedTimeReminderDays: 10 } } });
  await sendReminders(app.db, daysAfter(now, 1));
  t.equal((await queued(org.organisationId, 'time_awaiting_approval')).length, 1, 'nothing has waited ten days: no digest');
});

t.test('finance is reminded of drafts waiting more than a day, not of newer, approved or canceled runs', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  await owedContributor(app, org, budgetId, { hours: 3 });
  const paidByVoucher = await owedContributor(app, org, budgetId, { hours: 1, paymentMethod: 'voucher' });
  const drafter = await staff(org, 'finance');
  // A member of the finance team who is also paid may not approve a run that pays them.
  const payee = await createUser(
    app.db,
    org.organisationId,
    { type: 'system', id: 'test' },
    { email: uniqueEmail('finance'), name: 'Paid finance', role: 'finance', contributorId: paidByVoucher.contributorId },
    new Date(),
  );
  const approver = await staff(org, 'finance');
  const optedOut = await staff(org, 'finance');
  await app.db.update(users).set({ notificationPreferences: { run_awaiting_approval: false } }).where(eq(users.id, optedOut.id));
  await staff(org, 'coordinator', true);
  const finance = (await app.db.select({ id: users.id }).from(users).where(and(eq(users.organisationId, org.organisationId), eq(users.role, 'finance')))).map(
    (u) => u.id,
  );
  const financeBut = (...except: string[]) => finance.filter((id) => !except.includes(id)).sort();
  const as = (u: { id: string }): Actor => ({ type: 'user', id: u.id });
  // Noon in the UK today: "an hour later, the same day" below must not cross UK midnight (with
  // the real time, this test failed when run between 23:00 and midnight).
  const now = londonMoment(londonDate(new Date()), '12:00');

  const waiting = await draftPayoutRun(app.db, org.organisationId, as(drafter), { currency: 'GBP' }, daysAfter(now, -2));
  const fresh = await draftPayoutRun(app.db, org.organisationId, as(drafter), { currency: 'GBP', methods: ['voucher'] }, daysAfter(now, -0.5));
  const canceled = await draftPayoutRun(app.db, org.organisationId, as(drafter), { currency: 'GBP' }, daysAfter(now, -3));
  await cancelPayoutRun(app.db, org.organisationId, as(approver), canceled.id, daysAfter(now, -3));
  // Drafted by the schedule (a system actor, recorded against its slot): any finance user may approve it.
  const slot = daysAfter(now, -1.5);
  const scheduled = await draftPayoutRun(app.db, org.organisationId, { type: 'system', id: 'payout-schedule' }, { currency: 'GBP', methods: ['voucher'] }, slot);
  await app.db.insert(payoutScheduleSlots).values({ organisationId: org.organisationId, slot, runIds: [scheduled.id] });
  const empty = await draftPayoutRun(app.db, org.organisationId, as(drafter), { currency: 'GBP', methods: ['stripe'] }, daysAfter(now, -5));
  t.equal(empty.items.length, 0);
  const approved = await draftPayoutRun(app.db, org.organisationId, as(drafter), { currency: 'GBP', methods: ['voucher'] }, daysAfter(now, -4));
  await approvePayoutRun(app.db, org.organisationId, as(approver), approved.id, daysAfter(now, -4), false);

  await sendReminders(app.db, now);
  const reminders = await runReminders(org.organisationId);
  const toFor = (runId: string, rows = reminders) => rows.filter((r) => (r.data as { runId?: string }).runId === runId).map((r) => r.userId).sort();
  t.same(toFor(fresh.id), [], 'a draft of half a day waits no reminder');
  t.same(toFor(canceled.id), [], 'a canceled run needs nobody');
  t.same(toFor(approved.id), [], 'an approved run needs nobody');
  t.same(toFor(empty.id), [], 'a draft that pays nobody needs no approval to be waited for');
  t.same(
    toFor(waiting.id),
    financeBut(drafter.id, optedOut.id, payee.id),
    'every finance user who may approve it: not its drafter, nor one it pays, nor one who turned it off',
  );
  t.ok(toFor(waiting.id).includes(approver.id));
  const [first] = reminders.filter((r) => (r.data as { runId?: string }).runId === waiting.id);
  t.match(first, {
    link: `/finance/runs/${waiting.id}`,
    data: { runId: waiting.id, reminder: true, total: waiting.total, currency: 'GBP', items: 2, scheduled: false },
  });
  t.ok(waiting.total > 0 && waiting.items.length === 2);
  t.same(toFor(scheduled.id), financeBut(optedOut.id, payee.id), 'a scheduled draft: every finance user who wants it and is not paid by it');
  t.match(reminders.find((r) => (r.data as { runId?: string }).runId === scheduled.id), { data: { scheduled: true, reminder: true } });
  const firstDay = reminders.length;
  t.equal(firstDay, toFor(waiting.id).length + toFor(scheduled.id).length, 'nothing else');

  // Once a day: again the same day, nothing; the next day, again while it waits.
  await sendReminders(app.db, new Date(now.getTime() + 3_600_000));
  t.equal((await runReminders(org.organisationId)).length, firstDay, 'once a day');
  await cancelPayoutRun(app.db, org.organisationId, as(approver), waiting.id, now);
  await sendReminders(app.db, daysAfter(now, 1));
  const nextDay = await runReminders(org.organisationId);
  const dayTwo = nextDay.filter((r) => !reminders.some((f) => f.id === r.id));
  t.same(toFor(waiting.id, dayTwo), [], 'not the run canceled since');
  t.same(toFor(scheduled.id, dayTwo), financeBut(optedOut.id, payee.id), 'the scheduled draft again');
  t.same(toFor(fresh.id, dayTwo), financeBut(drafter.id, optedOut.id, payee.id), 'the draft now a day and a half old');
  t.equal(dayTwo.length, toFor(scheduled.id, dayTwo).length + toFor(fresh.id, dayTwo).length, 'nothing else');
  t.equal(nextDay.length, firstDay + dayTwo.length);
});

t.test("a run drafted with an API token is not sent to the person who made the token", async (t) => {
  const org = await createTestOrg(app);
  const { budgetId } = await fundedBudget(app, org);
  await owedContributor(app, org, budgetId, { hours: 2 });
  const maker = await staff(org, 'finance');
  const colleague = await staff(org, 'finance');
  const token = await createApiToken(app.db, org.organisationId, { type: 'user', id: maker.id }, { name: 'Payments script', role: 'finance' }, app.now());
  const drafted = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: { authorization: `Bearer ${token.token}` }, payload: { currency: 'GBP' } });
  t.equal(drafted.statusCode, 201, drafted.body);
  const run = json(drafted);
  await sendReminders(app.db, daysAfter(new Date(), 2));
  const to = (await runReminders(org.organisationId)).filter((r) => (r.data as { runId?: string }).runId === run.id).map((r) => r.userId);
  t.ok(to.includes(colleague.id), 'a colleague is reminded');
  t.notOk(to.includes(maker.id), 'the person behind the token drafted it, so cannot approve it');
});

t.test('each reminder is queued with its delivery job, in the same transaction', async (t) => {
  const { org, budgetId, person, coordinator } = await remindedOrg('Ari', 'lived_experience');
  const now = new Date();
  await submittedDaysAgo(org, budgetId, person.id, 5, now);
  await sendReminders(app.db, now);
  const [digest] = await queued(org.organisationId, 'time_awaiting_approval');
  t.equal(digest?.userId, coordinator.id);
  const rows = (await app.db.execute(sql`select name, data from pgboss.job where id = ${digest!.id}::uuid`)) as unknown as { rows: unknown[] };
  t.match(rows.rows, [{ name: 'deliver-notification', data: { organisationId: org.organisationId, notificationId: digest!.id } }]);
});

t.test("one organisation's failure leaves the others' reminders queued, and fails the job so it is retried", async (t) => {
  const now = new Date();
  const orgs = [];
  for (const name of ['Failing', 'Working']) {
    const org = await createTestOrg(app, name);
    const { budgetId } = await fundedBudget(app, org);
    const person = await addContributor(app, await org.as('coordinator'), { name: 'Lee', kind: 'lived_experience', paymentMethod: 'voucher' });
    await submittedDaysAgo(org, budgetId, person.id, 5, now);
    orgs.push({ org, coordinator: await staff(org, 'coordinator', true) });
  }
  const [failing, working] = orgs as [(typeof orgs)[number], (typeof orgs)[number]];
  // The outbox refuses the failing organisation's message, as a broken row or a lost connection would.
  const faultyOutbox = {
    queueNotification: async (...args: Parameters<typeof queueNotification>) => {
      if (args[1] === failing.org.organisationId) throw new Error('the outbox is unavailable');
      return queueNotification(...args);
    },
  };
  await t.rejects(sendReminders(app.db, now, faultyOutbox), { name: 'AggregateError', errors: [{ message: 'the outbox is unavailable' }] });
  t.match(await queued(working.org.organisationId, 'time_awaiting_approval'), [{ userId: working.coordinator.id }], 'the other organisation still has its digest');
  t.same(await queued(failing.org.organisationId, 'time_awaiting_approval'), []);
  // The retry (the real outbox now) queues what is missing, and nothing twice.
  await sendReminders(app.db, now);
  t.equal((await queued(failing.org.organisationId, 'time_awaiting_approval')).length, 1);
  t.equal((await queued(working.org.organisationId, 'time_awaiting_approval')).length, 1);
});
