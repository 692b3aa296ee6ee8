import t from 'tap';
import { and, eq, sql } from 'drizzle-orm';
import { queryRows } from '../src/db/client.js';
import { auditEvents, notifications, payoutRuns, payoutScheduleSlots, users } from '../src/db/schema.js';
import { auditEventColumns } from '../src/modules/audit/views.js';
import { runDueSchedules } from '../src/modules/payouts/schedule.js';
import { buildTestApp, createTestOrg, json, type TestOrg } from './helpers/app.js';
import { testDatabase } from './helpers/database.js';
import { fundedBudget, owedContributor } from './helpers/fixtures.js';
import { isolatedPostgres, sleep } from './helpers/payout-fixtures.js';

// Its own PostgreSQL database: the job-queue test runs pg-boss workers, which must not take
// other files' jobs, and runDueSchedules looks at every organisation's schedule.
const isolated = await isolatedPostgres('payout_schedule');
let clock = new Date('2026-03-09T12:00:00Z'); // Monday 9 March 2026, GMT
const app = await buildTestApp({ now: () => clock });
t.teardown(async () => {
  await app.close();
  await (await testDatabase()).close();
  await isolated.drop();
});

const at = (iso: string) => new Date(iso);

async function putSchedule(headers: Record<string, string>, payload: object) {
  return app.inject({ method: 'PUT', url: '/v1/payout-schedule', headers, payload });
}

/** The organisation's runs, oldest first (ids are time-ordered). */
async function runsOf(org: TestOrg) {
  return app.db.select().from(payoutRuns).where(eq(payoutRuns.organisationId, org.organisationId)).orderBy(payoutRuns.id);
}

async function slotsOf(org: TestOrg) {
  return app.db
    .select()
    .from(payoutScheduleSlots)
    .where(eq(payoutScheduleSlots.organisationId, org.organisationId))
    .orderBy(payoutScheduleSlots.slot);
}

async function awaitingApprovalMessages(org: TestOrg) {
  return app.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.organisationId, org.organisationId), eq(notifications.kind, 'run_awaiting_approval')));
}

async function financeUserIds(org: TestOrg) {
  const rows = await app.db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.organisationId, org.organisationId), eq(users.role, 'finance')));
  return rows.map((r) => r.id).sort();
}

async function auditActions(org: TestOrg, entityType: string) {
  const rows = await app.db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.entityType, entityType)))
    .orderBy(auditEvents.id);
  return rows;
}

/**
 * Waits until pg-boss has completed a `payout-schedules` job started since `since` (real time,
 * as pg-boss records it): the handler, runDueSchedules, has then run to its end.
 */
async function scheduleJobDoneSince(since: Date) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const [done] = await queryRows<{ n: number }>(
      app.db,
      sql`select count(*)::int as n from pgboss.job where name = 'payout-schedules' and state = 'completed' and started_on >= ${since}`,
    );
    if (done!.n > 0) return;
    if (Date.now() > deadline) throw new Error('no payout-schedules job completed within 60 s of starting the queue');
    await sleep(200);
  }
}

/** An organisation with money owed and a daily 14:00 schedule set by a finance user at `clock`. */
async function scheduledOrg(schedule: object = { cadence: 'daily', time: '14:00' }) {
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const put = await putSchedule(finance, schedule);
  if (put.statusCode !== 200) throw new Error(`PUT schedule → ${put.statusCode}: ${put.body}`);
  return { org, finance, budgetId };
}

/** At `start`, an organisation with a daily 14:00 schedule and one contributor owed for 2 hours (£40). */
async function scheduledOrgOwing(start: string) {
  clock = at(start);
  const { org, finance, budgetId } = await scheduledOrg();
  const owed = await owedContributor(app, org, budgetId, { hours: 2 });
  return { org, finance, budgetId, owed };
}

t.test('PUT, GET and DELETE: validation, roles, audit', async (t) => {
  clock = at('2026-03-09T15:00:00Z');
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const admin = await org.as('admin');

  const none = await app.inject({ method: 'GET', url: '/v1/payout-schedule', headers: finance });
  t.equal(none.statusCode, 404, none.body);
  t.equal(json(none).code, 'not_found');

  const invalid: [object, string][] = [
    [{ cadence: 'weekly', time: '09:00' }, 'weekly without a weekday'],
    [{ cadence: 'daily', weekday: 2, time: '09:00' }, 'daily with a weekday'],
    [{ cadence: 'weekly', weekday: 0, time: '09:00' }, 'weekday 0'],
    [{ cadence: 'weekly', weekday: 8, time: '09:00' }, 'weekday 8'],
    [{ cadence: 'daily', time: '24:00' }, 'time 24:00'],
    [{ cadence: 'daily', time: '9:00' }, 'time without its leading zero'],
    [{ cadence: 'daily', time: '09:60' }, 'minute 60'],
    [{ cadence: 'monthly', time: '09:00' }, 'an unknown cadence'],
    [{ cadence: 'daily', time: '09:00', methods: ['cash'] }, 'an unknown method'],
    [{ cadence: 'daily', time: '09:00', methods: [] }, 'no methods at all'],
    [{ cadence: 'daily', time: '09:00', timeZone: 'UTC' }, 'an unknown field'],
  ];
  for (const [payload, why] of invalid) {
    const res = await putSchedule(finance, payload);
    t.equal(res.statusCode, 400, `${why}: ${res.body}`);
    t.equal(json(res).code, 'validation_failed', why);
  }
  const weekdayError = json(await putSchedule(finance, { cadence: 'weekly', time: '09:00' }));
  t.match(weekdayError.errors, [{ field: /weekday/, message: /required/ }], 'the error names the field');

  for (const role of ['admin', 'coordinator', 'reporter'] as const) {
    const res = await putSchedule(await org.as(role), { cadence: 'daily', time: '14:00' });
    t.equal(res.statusCode, 403, `${role} may not set it: ${res.body}`);
  }
  t.equal((await app.inject({ method: 'PUT', url: '/v1/payout-schedule', payload: { cadence: 'daily', time: '14:00' } })).statusCode, 401);

  // Set at 15:00 for 14:00 daily: the first run is tomorrow's.
  const set = await putSchedule(finance, { cadence: 'daily', time: '14:00' });
  t.equal(set.statusCode, 200, set.body);
  const schedule = json(set);
  t.match(schedule, {
    cadence: 'daily',
    weekday: null,
    time: '14:00',
    methods: null,
    timeZone: 'Europe/London',
    nextRunAt: '2026-03-10T14:00:00.000Z',
    updatedAt: '2026-03-09T15:00:00.000Z',
    updatedBy: /^[0-9a-f-]{36}$/,
  });
  t.same(json(await app.inject({ method: 'GET', url: '/v1/payout-schedule', headers: admin })), schedule, 'admin may read it');
  const coordinatorRead = await app.inject({ method: 'GET', url: '/v1/payout-schedule', headers: await org.as('coordinator') });
  t.equal(coordinatorRead.statusCode, 403, coordinatorRead.body);
  // Another organisation sees none.
  const other = await createTestOrg(app);
  t.equal((await app.inject({ method: 'GET', url: '/v1/payout-schedule', headers: await other.as('finance') })).statusCode, 404);

  // The same schedule again changes nothing, not even when it was set.
  clock = at('2026-03-09T16:00:00Z');
  t.same(json(await putSchedule(await org.as('finance'), { cadence: 'daily', time: '14:00' })).updatedAt, '2026-03-09T15:00:00.000Z');

  const changed = json(await putSchedule(finance, { cadence: 'weekly', weekday: 5, time: '09:30', methods: ['voucher', 'bank_transfer', 'voucher'] }));
  t.match(changed, { cadence: 'weekly', weekday: 5, time: '09:30', methods: ['bank_transfer', 'voucher'], updatedAt: '2026-03-09T16:00:00.000Z' });
  t.equal(changed.nextRunAt, '2026-03-13T09:30:00.000Z', 'Friday 13 March, 09:30 GMT');
  t.equal(changed.updatedBy, schedule.updatedBy, 'the same finance user');

  const deleted = await app.inject({ method: 'DELETE', url: '/v1/payout-schedule', headers: finance });
  t.equal(deleted.statusCode, 204, deleted.body);
  t.equal((await app.inject({ method: 'GET', url: '/v1/payout-schedule', headers: finance })).statusCode, 404);
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/payout-schedule', headers: finance })).statusCode, 204, 'off already: still 204');
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/payout-schedule', headers: admin })).statusCode, 403, 'admin may not switch it off');

  const audit = await auditActions(org, 'payout_schedule');
  t.same(
    audit.map((a) => a.action),
    ['payout_schedule.set', 'payout_schedule.set', 'payout_schedule.deleted'],
    'each change audited once; the repeated PUT and the second DELETE changed nothing',
  );
  t.match(audit[0], { actorType: 'user', actorId: schedule.updatedBy, before: null, after: { time: '14:00' } });
  t.match(audit[1], { before: { cadence: 'daily' }, after: { cadence: 'weekly', weekday: 5 } });
  t.match(audit[2], { before: { cadence: 'weekly' }, after: null });
});

t.test('nextRunAt follows UK time across the clock changes', async (t) => {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  // Saturday 28 March 2026; clocks go forward at 01:00 GMT on Sunday 29 March.
  clock = at('2026-03-28T12:00:00Z');
  const early = json(await putSchedule(finance, { cadence: 'daily', time: '01:30' }));
  t.equal(early.nextRunAt, '2026-03-29T01:30:00.000Z', '01:30 does not exist that night: it runs at 02:30 BST (01:30 GMT)');
  clock = at('2026-03-29T02:00:00Z');
  t.equal(json(await app.inject({ method: 'GET', url: '/v1/payout-schedule', headers: finance })).nextRunAt, '2026-03-30T00:30:00.000Z', '01:30 BST');
  const afternoon = json(await putSchedule(finance, { cadence: 'daily', time: '14:00' }));
  t.equal(afternoon.nextRunAt, '2026-03-29T13:00:00.000Z', '14:00 BST is 13:00 UTC');
  // Clocks go back at 02:00 BST on Sunday 25 October: 01:30 happens twice, and runs the first time.
  clock = at('2026-10-20T12:00:00Z');
  const sunday = json(await putSchedule(finance, { cadence: 'weekly', weekday: 7, time: '01:30' }));
  t.equal(sunday.nextRunAt, '2026-10-25T00:30:00.000Z', 'the first 01:30 (BST)');
  clock = at('2026-10-25T01:15:00Z'); // 01:15 GMT, the second pass of that hour
  t.equal(json(await app.inject({ method: 'GET', url: '/v1/payout-schedule', headers: finance })).nextRunAt, '2026-11-01T01:30:00.000Z', 'not again the same night');
});

t.test('a daily schedule drafts one run of everything owed at its slot, by system, and tells finance', async (t) => {
  const { org, finance, budgetId, owed: alex } = await scheduledOrgOwing('2026-03-09T12:00:00Z');
  const sam = await owedContributor(app, org, budgetId, { hours: 1, paymentMethod: 'voucher', name: 'Sam' });
  await owedContributor(app, org, budgetId, { hours: 1, paymentMethod: 'declined', name: 'Jo' });
  await org.as('finance'); // a second finance user

  await runDueSchedules(app.db, at('2026-03-09T13:59:59Z'));
  t.same(await runsOf(org), [], 'nothing before the slot');
  t.same(await slotsOf(org), []);

  const drafted = await runDueSchedules(app.db, at('2026-03-09T14:00:30Z'));
  const runs = await runsOf(org);
  t.equal(runs.length, 1, 'one run');
  const run = runs[0]!;
  t.ok(drafted.includes(run.id), 'runDueSchedules returns it');
  t.match(run, { status: 'draft', currency: 'GBP', total: 6000, createdBy: 'system', createdAt: at('2026-03-09T14:00:30Z') });

  const view = json(await app.inject({ method: 'GET', url: `/v1/payout-runs/${run.id}`, headers: finance }));
  t.equal(view.createdBy, 'system', 'the API shows the creator as system');
  t.same(
    view.items.map((i: any) => [i.contributorId, i.amount, i.method]).sort(),
    [
      [alex.contributorId, 4000, 'bank_transfer'],
      [sam.contributorId, 2000, 'voucher'],
    ].sort(),
    'an item for everyone owed (declined time owes nothing)',
  );

  const slots = await slotsOf(org);
  t.match(slots, [{ slot: at('2026-03-09T14:00:00Z'), runIds: [run.id] }], 'the slot is recorded with its run');

  const messages = await awaitingApprovalMessages(org);
  t.same(messages.map((m) => m.userId).sort(), await financeUserIds(org), 'every finance user is told, once');
  t.equal((await financeUserIds(org)).length, 2);
  for (const message of messages) {
    t.match(message, {
      link: `/finance/runs/${run.id}`,
      status: 'queued',
      data: { runId: run.id, total: 6000, currency: 'GBP', items: 2, scheduled: true },
      dedupeKey: new RegExp(`^run_awaiting_approval:run:${run.id}:`),
    });
  }

  t.match(await auditActions(org, 'payout_run'), [{ action: 'payout_run.drafted', actorType: 'system', entityId: run.id }]);
  t.match(
    (await auditActions(org, 'payout_schedule')).filter((a) => a.action === 'payout_schedule.slot_handled'),
    [{ actorType: 'system', actorId: 'payout-schedule', after: { slot: '2026-03-09T14:00:00.000Z', runIds: [run.id] } }],
  );

  // Any one finance user approves it: even the one who set the schedule.
  clock = at('2026-03-09T15:00:00Z');
  const approved = await app.inject({ method: 'POST', url: `/v1/payout-runs/${run.id}/approve`, headers: finance });
  t.equal(approved.statusCode, 200, approved.body);
  t.match(json(approved), { status: 'approved', createdBy: 'system' });
});

t.test('exactly once per slot: concurrent callers, two app instances, later calls, a restart', async (t) => {
  const { org, finance, budgetId } = await scheduledOrgOwing('2026-03-09T12:00:00Z');
  const second = await buildTestApp({ now: () => clock });
  t.teardown(() => second.close());

  const slotTime = at('2026-03-09T14:00:05Z');
  await Promise.all([
    ...Array.from({ length: 8 }, () => runDueSchedules(app.db, slotTime)),
    ...Array.from({ length: 8 }, () => runDueSchedules(second.db, slotTime)),
  ]);
  const runs = await runsOf(org);
  t.equal(runs.length, 1, 'sixteen callers, one run');
  t.equal((await slotsOf(org)).length, 1);
  t.equal((await awaitingApprovalMessages(org)).length, (await financeUserIds(org)).length, 'one message per finance user');
  const handled = (await auditActions(org, 'payout_schedule')).filter((a) => a.action === 'payout_schedule.slot_handled');
  t.equal(handled.length, 1, 'the slot was handled by one caller; the others found it taken');

  await runDueSchedules(app.db, at('2026-03-09T14:01:00Z'));
  await runDueSchedules(second.db, at('2026-03-10T13:59:00Z'));
  t.equal((await runsOf(org)).length, 1, 'later calls for the same slot draft nothing new');

  // A restart after the slot: the new instance's job queue runs the schedules at once, and
  // finds the slot handled.
  clock = at('2026-03-09T18:00:00Z');
  const startedAt = new Date();
  const restarted = await buildTestApp({ now: () => clock, jobs: true });
  await restarted.ready();
  await scheduleJobDoneSince(startedAt);
  await restarted.close();
  t.equal((await runsOf(org)).length, 1, 'still one after a restart');

  // The run is approved; someone else is owed by the next slot, which drafts only them.
  const approved = await app.inject({ method: 'POST', url: `/v1/payout-runs/${runs[0]!.id}/approve`, headers: finance });
  t.equal(approved.statusCode, 200, approved.body);
  const bo = await owedContributor(app, org, budgetId, { hours: 3, name: 'Bo' });
  await Promise.all([runDueSchedules(app.db, at('2026-03-10T14:00:00Z')), runDueSchedules(second.db, at('2026-03-10T14:00:00Z'))]);
  const after = await runsOf(org);
  t.equal(after.length, 2, 'the next slot drafts a new run');
  t.match(after[1], { total: 6000, createdBy: 'system', status: 'draft' });
  const items = json(await app.inject({ method: 'GET', url: `/v1/payout-runs/${after[1]!.id}`, headers: finance })).items;
  t.same(items.map((i: any) => i.contributorId), [bo.contributorId], 'only what is owed then');
  t.same((await slotsOf(org)).map((s) => s.slot.toISOString()), ['2026-03-09T14:00:00.000Z', '2026-03-10T14:00:00.000Z']);
});

t.test('nothing owed: no run, the slot is recorded, nobody is told', async (t) => {
  clock = at('2026-03-09T12:00:00Z');
  const { org } = await scheduledOrg();
  await runDueSchedules(app.db, at('2026-03-09T14:00:00Z'));
  t.same(await runsOf(org), []);
  t.match(await slotsOf(org), [{ slot: at('2026-03-09T14:00:00Z'), runIds: [] }]);
  t.same(await awaitingApprovalMessages(org), []);
  t.same(await auditActions(org, 'payout_run'), [], 'not even an empty draft was kept');

  // Money owed only to someone the schedule cannot pay (a Stripe contributor with no account):
  // a run of nothing is not kept either.
  const { budgetId } = await fundedBudget(app, org);
  await owedContributor(app, org, budgetId, { paymentMethod: 'stripe', name: 'Kim' });
  await runDueSchedules(app.db, at('2026-03-10T14:00:00Z'));
  t.same(await runsOf(org), [], 'an empty run is not kept');
  t.equal((await slotsOf(org)).length, 2);
  t.same(await auditActions(org, 'payout_run'), []);
});

t.test('the methods filter is respected', async (t) => {
  clock = at('2026-03-09T12:00:00Z');
  const { org, finance, budgetId } = await scheduledOrg({ cadence: 'weekly', weekday: 1, time: '14:00', methods: ['voucher'] });
  await owedContributor(app, org, budgetId, { hours: 2 });
  const sam = await owedContributor(app, org, budgetId, { hours: 1, paymentMethod: 'voucher', name: 'Sam' });
  await runDueSchedules(app.db, at('2026-03-09T14:00:00Z'));
  const [run, ...more] = await runsOf(org);
  t.same(more, []);
  const view = json(await app.inject({ method: 'GET', url: `/v1/payout-runs/${run!.id}`, headers: finance }));
  t.same(view.items.map((i: any) => [i.contributorId, i.method]), [[sam.contributorId, 'voucher']]);
  t.same(view.filters.methods, ['voucher']);
  // Weekly: no run on Tuesday.
  await runDueSchedules(app.db, at('2026-03-10T14:00:00Z'));
  t.equal((await runsOf(org)).length, 1);
});

t.test('after a long outage only the latest slot drafts', async (t) => {
  const { org } = await scheduledOrgOwing('2026-03-09T12:00:00Z');
  // No process ran for ten days; then one comes up at 10:00 on the 19th.
  await runDueSchedules(app.db, at('2026-03-19T10:00:00Z'));
  t.equal((await runsOf(org)).length, 1, 'one run, not ten');
  t.same((await slotsOf(org)).map((s) => s.slot.toISOString()), ['2026-03-18T14:00:00.000Z'], 'the latest slot only');
  await runDueSchedules(app.db, at('2026-03-19T11:00:00Z'));
  t.equal((await runsOf(org)).length, 1);
});

t.test('a slot before the schedule was set never drafts; a scheduled run waiting for approval holds the next', async (t) => {
  const { org, finance, budgetId } = await scheduledOrgOwing('2026-03-09T15:00:00Z');
  await runDueSchedules(app.db, at('2026-03-09T15:00:30Z'));
  t.same(await slotsOf(org), [], 'set at 15:00 for 14:00: today’s slot does not count');

  await runDueSchedules(app.db, at('2026-03-10T14:00:00Z'));
  const [first] = await runsOf(org);
  t.ok(first, 'the first run is the next day’s');
  // Nobody approved it by the next slot: drafting the same money again could not be approved too.
  await owedContributor(app, org, budgetId, { hours: 1, name: 'Bo' });
  await runDueSchedules(app.db, at('2026-03-11T14:00:00Z'));
  t.equal((await runsOf(org)).length, 1, 'no second run while the first waits');
  t.match((await slotsOf(org)).map((s) => s.runIds), [[first!.id], []]);
  const waited = (await auditActions(org, 'payout_schedule')).filter((a) => a.action === 'payout_schedule.slot_handled');
  t.match(waited[1]?.after, { runIds: [], waitingFor: [first!.id] });

  // Canceled: the next slot drafts everything owed afresh.
  t.equal((await app.inject({ method: 'POST', url: `/v1/payout-runs/${first!.id}/cancel`, headers: finance })).statusCode, 200);
  await runDueSchedules(app.db, at('2026-03-12T14:00:00Z'));
  const runs = await runsOf(org);
  t.equal(runs.length, 2);
  t.match(runs[1], { total: 6000, status: 'draft', createdBy: 'system' });

  // Switched off: no more slots.
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/payout-schedule', headers: finance })).statusCode, 204);
  await runDueSchedules(app.db, at('2026-03-13T14:00:00Z'));
  t.equal((await slotsOf(org)).length, 3);
});

t.test('the job queue drafts a slot that passed while no process ran, soon after start', async (t) => {
  const { org } = await scheduledOrgOwing('2026-03-09T12:00:00Z');
  clock = at('2026-03-09T16:00:00Z'); // the 14:00 slot has passed
  t.same(await runsOf(org), []);
  const startedAt = new Date();
  const withJobs = await buildTestApp({ now: () => clock, jobs: true });
  t.teardown(() => withJobs.close());
  await withJobs.ready();
  // pg-boss's at-start job (or its cron) calls runDueSchedules: this test never does.
  await scheduleJobDoneSince(startedAt);
  const runs = await runsOf(org);
  t.equal(runs.length, 1, 'the queue drafted the run');
  t.match(runs[0], { createdBy: 'system', total: 4000 });
  t.match(await slotsOf(org), [{ slot: at('2026-03-09T14:00:00Z') }]);
  t.equal((await awaitingApprovalMessages(org)).length, (await financeUserIds(org)).length, 'and finance were told');
});
