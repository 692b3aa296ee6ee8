import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type Stripe from 'stripe';
import type { Db } from './db/client.js';
import { addDays, type IsoDate } from './domain/earnings-period.js';
import type { Activity, ContributorKind } from './domain/enums.js';
import { nextSlot, type ScheduleTiming } from './domain/payout-schedule.js';
import type { Rate } from './domain/rate-card.js';

import type { Actor, Principal } from './domain/actor.js';
import { londonDate, londonMoment } from './domain/uk-time.js';
import { createApiToken } from './modules/api-tokens/service.js';
import { createBudget } from './modules/budgets/service.js';
import { createContributor } from './modules/contributors/service.js';
import { approveExpense, submitExpense } from './modules/expenses/service.js';
import { createOrganisation } from './modules/organisations/service.js';
import { runDueSchedule, setPayoutSchedule } from './modules/payouts/schedule.js';
import { approvePayoutRun, cancelPayoutRun, draftPayoutRun, markItemFailed, markItemPaid } from './modules/payouts/service.js';
import { createStripePayoutExecutor } from './modules/payouts/stripe-payouts.js';
import type { PayoutRunResponse } from './modules/payouts/views.js';
import { createProject } from './modules/projects/service.js';
import { addRateCardVersion, createRateCard } from './modules/rate-cards/service.js';
import { timeToPayReport } from './modules/reports/service.js';
import { rejectWork } from './modules/approvable-work/lifecycle.js';
import { startStripeOnboarding } from './modules/stripe/service.js';
import { approveTimeEntry, submitTimeEntry, timeEntryWork } from './modules/time-entries/service.js';
import { createUser } from './modules/users/service.js';

/**
 * A realistic demo organisation: two co-production projects, three budgets from different
 * funders, a rate card with a 10% uplift three months ago, about 30 contributors of every kind
 * and payment method (some with benefit earnings limits, some declining payment), and six
 * months of time and expenses paid on a weekly payout schedule, as an organisation that pays
 * in days, not months, works:
 *
 * - Sessions happen on Wednesdays and Thursdays; the coordinator approves the week's time on
 *   Tuesday morning, before the schedule drafts the run of everything owed at 10:00 (UK time).
 *   A finance user approves the run that afternoon: Stripe transfers go at once, vouchers are
 *   sent that afternoon, bank transfers (Faster Payments) are marked paid that afternoon or the
 *   next morning. Some time is approved late, on the Thursday, and waits for the next Tuesday.
 * - Exceptions, as they happen: a bank transfer that failed (the name did not match the
 *   account) and was paid again the next week; a bank transfer marked paid three days late;
 *   one person's money held by their ESA permitted-work limit and paid the next week; another's
 *   split by their Universal Credit limit this week; a Stripe set-up never finished; a bank
 *   transfer of the last run still waiting to be confirmed; time still waiting for approval.
 * - Today: a run drafted by hand and canceled, and another drafted by hand waiting for a
 *   second pair of eyes; the schedule stays on, so the next Tuesday drafts the next run.
 *
 * Every moment is given to the services as their `now`, so what the reports measure (when time
 * was approved, when each item was paid) is what the services recorded. Events after `today`
 * have not happened yet. Stripe is played by a stand-in (accounts `acct_demo_…`, transfers
 * `tr_demo_…`) that the real onboarding and payout code talk to; nothing reaches Stripe.
 * Deterministic apart from ids and the log-in suffix, so two demos can live in one database.
 */
export async function loadDemo(db: Db, today: Date, log: (line: string) => void = () => {}) {
  const tag = randomBytes(3).toString('hex');
  const password = `demo-${tag}-password`;
  const email = (who: string) => `${who}+${tag}@demo.coproduction.test`;
  const { organisationId, adminUserId } = await createOrganisation(db, {
    name: 'Riverside Mind Co-production Network (demo)',
    adminEmail: email('admin'),
    adminName: 'Ada Admin',
    adminPassword: password,
  });
  const system: Actor = { type: 'system', id: 'demo' };
  const user = async (role: Principal['role'], name: string, contributorId?: string) =>
    createUser(db, organisationId, system, { email: email(name.split(' ')[0]!.toLowerCase()), name, role, password, contributorId }, today);
  const finance1 = await user('finance', 'Femi Finance');
  const finance2 = await user('finance', 'Grace Finance');
  const coordinator = await user('coordinator', 'Chris Coordinator');
  const asUser = (u: { id: string }): Actor => ({ type: 'user', id: u.id });
  const principal = (u: { id: string; role: Principal['role'] }): Principal => ({
    organisationId,
    role: u.role,
    userId: u.id,
    apiTokenId: null,
    contributorId: null,
  });
  log(`organisation ${organisationId}`);

  const iso = londonDate;
  const todayIso = iso(today);
  const sixMonthsAgo = addDays(todayIso, -182);
  const upliftFrom = addDays(todayIso, -91);
  const began = londonMoment(sixMonthsAgo, '09:00');

  const card = await createRateCard(db, organisationId, asUser(finance1), { name: 'Involvement payments 2026', currency: 'GBP' });
  const rates = (uplift: number): Rate[] => {
    const r = (activity: Activity, contributorKind: ContributorKind, unit: Rate['unit'], amount: number, extra: Partial<Rate> = {}): Rate => ({
      activity,
      contributorKind,
      unit,
      amount: Math.round((amount * uplift) / 100),
      ...extra,
    });
    const lived: ContributorKind[] = ['lived_experience', 'carer'];
    return [
      ...lived.flatMap((k) => [
        r('meeting', k, 'hour', 2000, { roundToMinutes: 15, minimumMinutes: 60 }),
        r('workshop', k, 'session', 7500),
        r('interview', k, 'hour', 2500, { roundToMinutes: 30 }),
        r('reading', k, 'hour', 1500, { roundToMinutes: 15 }),
        r('training', k, 'day', 15000, { dayThresholdMinutes: 360 }),
        r('other', k, 'hour', 2000, { roundToMinutes: 15 }),
      ]),
      ...(['meeting', 'workshop', 'interview', 'reading', 'training', 'other'] as Activity[]).map((a) =>
        r(a, 'professional', 'hour', 3500, { inKind: true, roundToMinutes: 15 }),
      ),
    ];
  };
  await addRateCardVersion(db, organisationId, asUser(finance1), card.id, { effectiveFrom: sixMonthsAgo, rates: rates(100) });
  await addRateCardVersion(db, organisationId, asUser(finance1), card.id, { effectiveFrom: upliftFrom, rates: rates(110) });

  const crisis = await createProject(db, organisationId, asUser(coordinator), {
    name: 'Crisis care redesign',
    description: 'People who have used crisis services redesign the out-of-hours pathway with staff and commissioners.',
  });
  const youth = await createProject(db, organisationId, asUser(coordinator), {
    name: 'Young carers voice',
    description: 'Young carers and their families shape support in schools and GP practices.',
  });
  const budgetBase = { currency: 'GBP', rateCardId: card.id, startsOn: sixMonthsAgo, endsOn: addDays(todayIso, 182) };
  const lottery = await createBudget(db, organisationId, asUser(finance1), {
    ...budgetBase,
    projectId: crisis.id,
    name: 'Lived experience panel',
    funder: 'National Lottery Community Fund',
    grantReference: 'NLCF-RM-2026-014',
    amount: 1_500_000,
  });
  const nihr = await createBudget(db, organisationId, asUser(finance1), {
    ...budgetBase,
    projectId: crisis.id,
    name: 'Evaluation interviews',
    funder: 'NIHR Research for Patient Benefit',
    grantReference: 'NIHR206117',
    amount: 600_000,
  });
  const icb = await createBudget(db, organisationId, asUser(finance1), {
    ...budgetBase,
    projectId: youth.id,
    name: 'Young carers workshops',
    funder: 'Riverside Integrated Care Board',
    grantReference: 'ICB-YC-0425',
    amount: 450_000,
    allowOverspend: false,
  });

  // The stand-in for Stripe that the real onboarding and payout code talk to.
  const stripe = demoStripe(tag);
  const names = [
    'Aisha Khan', 'Ben Carter', 'Chloe Evans', 'Dev Patel', 'Efe Okoro', 'Fran Walsh', 'Gus Brennan', 'Hana Suzuki',
    'Imran Ali', 'Jess Moore', 'Kofi Mensah', 'Lena Novak', 'Marcus Reid', 'Nia Jones', 'Owen Price', 'Priya Shah',
    'Quinn Lowe', 'Rosa Diaz', 'Sam Taylor', 'Tariq Hussein', 'Uma Rao', 'Vic Hale', 'Wren Byrne', 'Xander Bell',
    'Yasmin Farah', 'Zoe Clarke', 'Dr Ruth Green', 'Tom Fisher (commissioner)', 'Sister Ann Doyle', 'Prof Leo Park',
  ];
  /** Xander started Stripe set-up and never finished it: the schedule leaves him out until he does. */
  const unfinishedStripe = 'Xander Bell';
  const methods = ['bank_transfer', 'bank_transfer', 'voucher', 'stripe', 'declined'] as const;
  const contributorsMade: Awaited<ReturnType<typeof createContributor>>[] = [];
  for (const [i, name] of names.entries()) {
    const kind: ContributorKind = i >= 26 ? 'professional' : i % 4 === 3 ? 'carer' : 'lived_experience';
    const paymentMethod = kind === 'professional' ? 'bank_transfer' : methods[i % methods.length]!;
    const earningsLimit =
      kind !== 'professional' && i % 3 === 0
        ? i % 2 === 0
          ? { period: 'week' as const, amount: 19_550, periodStartDay: 1, policy: 'split' as const }
          : { period: 'month' as const, amount: 40_000, periodStartDay: (i % 31) + 1, policy: i % 5 === 0 ? ('block' as const) : ('warn' as const) }
        : undefined;
    const person = await createContributor(
      db,
      organisationId,
      asUser(coordinator),
      { name, email: `${name.toLowerCase().replace(/[^a-z]+/g, '.')}+${tag}@example.test`, kind, paymentMethod, earningsLimit },
      began,
    );
    if (paymentMethod === 'stripe') {
      await startStripeOnboarding(
        db,
        name === unfinishedStripe ? stripe.unfinished : stripe.finished,
        organisationId,
        asUser(coordinator),
        person.id,
        { refreshUrl: '/my/payment', returnUrl: '/my/payment' },
        began,
      );
    }
    contributorsMade.push(person);
  }

  // Two people on benefits who do a lot in one week: Eli's ESA permitted-work limit holds
  // (block) what would cross it, paid the next week; Dee's Universal Credit limit pays up to it
  // (split) and carries the rest to her next assessment period.
  const limited = async (name: string, earningsLimit: Parameters<typeof createContributor>[3]['earningsLimit']) =>
    createContributor(
      db,
      organisationId,
      asUser(coordinator),
      { name, email: `${name.split(' ')[0]!.toLowerCase()}+${tag}@example.test`, kind: 'lived_experience', paymentMethod: 'voucher', earningsLimit },
      began,
    );
  const eli = await limited('Eli Brooks (ESA permitted work)', { period: 'week', amount: 19_550, periodStartDay: 1, policy: 'block' });
  const dee = await limited('Dee Morgan (Universal Credit)', { period: 'month', amount: 10_000, periodStartDay: 31, policy: 'split' });

  // The weekly schedule, set by finance when the organisation started: Tuesdays at 10:00.
  const timing: ScheduleTiming = { cadence: 'weekly', weekday: 2, time: '10:00' };
  await setPayoutSchedule(db, organisationId, asUser(finance1), { cadence: 'weekly', weekday: 2, time: '10:00' }, began);
  const slots: Date[] = [];
  for (let slot = nextSlot(timing, began); slot.getTime() <= today.getTime(); slot = nextSlot(timing, new Date(slot.getTime() + 60_000))) {
    slots.push(slot);
  }
  const last = slots.length - 1;

  const coordinatorContext = (now: Date) => ({ organisationId, principal: principal({ id: coordinator.id, role: 'coordinator' }), actor: asUser(coordinator), now });
  const happened = (moment: Date) => moment.getTime() <= today.getTime();
  const at = (date: IsoDate, time: string) => londonMoment(date, time);
  const activities: Activity[] = ['meeting', 'workshop', 'interview', 'reading', 'training', 'other'];
  const counts = { submitted: 0, approved: 0, late: 0, rejected: 0 };

  type Decision = () => Promise<void>;

  /**
   * One person's session: submitted that evening (if that has happened). Returns its approval
   * at `decide` (with its expense claim), to be made in time order, or null when there is none
   * to make (not submitted, left waiting, or not yet come).
   */
  async function session(
    person: { id: string },
    budgetId: string,
    activity: Activity,
    date: IsoDate,
    minutes: number,
    decide: Date | null,
    expense?: { category: 'travel' | 'childcare'; amount: number; ref: string },
  ): Promise<Decision | null> {
    const submittedAt = at(date, '17:00');
    if (date < sixMonthsAgo || !happened(submittedAt)) return null;
    const entry = await submitTimeEntry(db, organisationId, asUser(coordinator), { contributorId: person.id, budgetId, activity, date, minutes }, submittedAt);
    counts.submitted++;
    if (!decide || !happened(decide)) return null;
    return async () => {
      await approveTimeEntry(db, coordinatorContext(decide), entry.id);
      counts.approved++;
      if (!expense) return;
      const claim = await submitExpense(db, organisationId, asUser(coordinator), {
        contributorId: person.id,
        budgetId,
        category: expense.category,
        amount: expense.amount,
        date,
        receiptReference: expense.ref,
      }, decide);
      await approveExpense(db, coordinatorContext(decide), claim.id);
    };
  }

  /**
   * The week's sessions before slot `k` (Wednesday and Thursday), submitted; returns the
   * decisions on them made before the run (Tuesday 09:00) and after it (the late ones, Thursday).
   */
  async function weekOfWork(k: number, slot: Date): Promise<{ beforeRun: Decision[]; afterRun: Decision[] }> {
    const tuesday = iso(slot);
    const beforeRun: Decision[] = [];
    const afterRun: Decision[] = [];
    for (const [i, c] of contributorsMade.entries()) {
      if ((i + k) % 3 !== 0) continue;
      const date = addDays(tuesday, i % 2 === 0 ? -6 : -5);
      const budget = i % 3 === 0 ? nihr : i % 3 === 1 ? lottery : icb;
      const activity = activities[(i + k) % activities.length]!;
      const minutes = activity === 'training' ? 420 : 60 + ((i * 7 + k * 11) % 4) * 30;
      const onTime = at(tuesday, '09:00');
      if ((i * 7 + k) % 29 === 0) {
        // A duplicate, rejected on the Tuesday.
        const submittedAt = at(date, '17:00');
        if (date < sixMonthsAgo || !happened(submittedAt)) continue;
        const entry = await submitTimeEntry(db, organisationId, asUser(coordinator), { contributorId: c.id, budgetId: budget.id, activity, date, minutes }, submittedAt);
        counts.submitted++;
        if (!happened(onTime)) continue;
        beforeRun.push(async () => {
          await rejectWork(db, timeEntryWork, coordinatorContext(onTime), entry.id, 'Duplicate of another entry for the same session');
          counts.rejected++;
        });
        continue;
      }
      // Some time waits for a question to be answered; some is approved on the Thursday, after the run.
      const waiting = (i * 11 + k) % 31 === 0;
      const late = !waiting && (i * 5 + k) % 9 === 4;
      const decide = waiting ? null : late ? at(addDays(tuesday, 2), '11:00') : onTime;
      const expense =
        k % 4 === 1 && c.kind !== 'professional'
          ? { category: k % 8 === 1 ? ('travel' as const) : ('childcare' as const), amount: 450 + ((i * 13) % 9) * 110, ref: `RCPT-${k}-${i}` }
          : undefined;
      const decision = await session(c, budget.id, activity, date, minutes, decide, expense);
      if (!decision) continue;
      if (late) {
        counts.late++;
        afterRun.push(decision);
      } else beforeRun.push(decision);
    }
    return { beforeRun, afterRun };
  }

  const decideAll = async (decisions: (Decision | null)[]) => {
    for (const decision of decisions) if (decision) await decision();
  };

  // Where the exceptions fall: weeks back from the last slot, so every demo has them.
  const heldWeek = last - 5;
  const lateMarkWeek = last - 8;
  const failedWeek = last - 3;
  const lastApproved = happened(approvalMoment(slots[last]!)) ? last : last - 1;
  const exceptions = { failed: 0, held: 0, markedLate: 0, awaitingConfirmation: 0 };
  const executor = (now: Date) =>
    createStripePayoutExecutor({ db, stripe: stripe.finished, now: () => now, log: quietLog, maxRequestsPerSecond: 1000 });

  /** The afternoon of a run: finance approves it, and each method pays as it does. */
  async function paySlot(k: number, slot: Date, runId: string | undefined) {
    const tuesday = iso(slot);
    if (!runId) return;
    const approvedAt = approvalMoment(slot);
    if (!happened(approvedAt)) return; // still waiting for approval
    const approver = k % 2 === 0 ? finance1 : finance2;
    const run: PayoutRunResponse = await approvePayoutRun(db, organisationId, asUser(approver), runId, approvedAt, true);
    if (run.skipped.some((s) => s.reason === 'earnings_limit')) exceptions.held++;

    // Stripe transfers go as soon as the run is approved (never left in transit without one: the
    // running service would then try to pay a stand-in account).
    const pay = executor(approvedAt);
    for (const item of run.items.filter((i) => i.method === 'stripe')) await pay(organisationId, item.id);
    // Vouchers are sent that afternoon.
    for (const item of run.items.filter((i) => i.method === 'voucher')) {
      const sent = at(tuesday, '15:00');
      if (happened(sent)) await markItemPaid(db, organisationId, asUser(approver), item.id, `VOUCHER-${item.id.slice(-6)}`, sent);
    }
    // Bank transfers go by Faster Payments that afternoon, or in the next morning's batch.
    for (const [n, item] of run.items.filter((i) => i.method === 'bank_transfer').entries()) {
      if (k === failedWeek && n === 0) {
        const bounced = at(addDays(tuesday, 1), '10:00');
        if (happened(bounced)) {
          await markItemFailed(db, organisationId, asUser(approver), item.id, 'Bank details did not match the account name', bounced);
          exceptions.failed++;
        }
        continue;
      }
      if (k === lastApproved && n === 0) {
        exceptions.awaitingConfirmation++;
        continue; // sent; the bank has not confirmed it yet
      }
      const markedAt = k === lateMarkWeek && n === 0 ? at(addDays(tuesday, 3), '12:00') : n % 3 === 2 ? at(addDays(tuesday, 1), '09:30') : at(tuesday, '16:00');
      if (k === lateMarkWeek && n === 0) exceptions.markedLate++;
      if (happened(markedAt)) await markItemPaid(db, organisationId, asUser(approver), item.id, `FPS-${tuesday}-${n}`, markedAt);
    }
  }

  for (const [k, slot] of slots.entries()) {
    const tuesday = iso(slot);
    const week = await weekOfWork(k, slot);
    // Eli gives three workshops in one week, and the third would cross the week's limit; Dee
    // does the same in the last week, past her month's.
    const busy = k === heldWeek ? eli : k === last ? dee : null;
    if (busy) {
      for (const days of [-6, -5, -1]) week.beforeRun.push((await session(busy, lottery.id, 'workshop', addDays(tuesday, days), 150, at(tuesday, '09:00')))!);
    }
    await decideAll(week.beforeRun);

    // 10:00: the schedule drafts the run of everything owed.
    await paySlot(k, slot, (await runDueSchedule(db, organisationId, slot))[0]);
    await decideAll(week.afterRun);
  }

  // The week after the last slot: sessions so far, to be approved next Tuesday.
  await weekOfWork(slots.length, nextSlot(timing, new Date(slots[last]!.getTime() + 60_000)));
  log(`${counts.submitted} time entries: ${counts.approved} approved (${counts.late} of them after their week's run), ${counts.rejected} rejected, the rest waiting`);
  log(`${slots.length} weekly runs drafted by the schedule; exceptions: ${JSON.stringify(exceptions)}`);

  // Today: a young carers' workshop yesterday, approved this morning, and two hand-made runs of
  // it: one drafted for the wrong methods and canceled, one waiting for a second pair of eyes.
  const yesterday = addDays(todayIso, -1);
  const approvedToday = new Date(Math.max(at(yesterday, '17:00').getTime() + 60_000, today.getTime() - 60_000));
  for (const [i, c] of contributorsMade.entries()) {
    if (i % 3 !== 2 || c.kind === 'professional' || c.paymentMethod === 'stripe') continue;
    const entry = await submitTimeEntry(db, organisationId, asUser(coordinator), { contributorId: c.id, budgetId: icb.id, activity: 'workshop', date: yesterday, minutes: 120 }, at(yesterday, '17:00'));
    await approveTimeEntry(db, coordinatorContext(approvedToday), entry.id);
  }
  const f1 = asUser(finance1);
  const canceled = await draftPayoutRun(db, organisationId, f1, { currency: 'GBP', budgetId: icb.id, methods: ['voucher'] }, today);
  await cancelPayoutRun(db, organisationId, f1, canceled.id, today);
  await draftPayoutRun(db, organisationId, f1, { currency: 'GBP', budgetId: icb.id, methods: ['bank_transfer', 'voucher'] }, today);
  log('payout runs today: one canceled, one drafted by hand waiting for a second pair of eyes; the weekly schedule stays on');

  for (const line of (await timeToPayReport(db, organisationId, { currency: 'GBP' }, todayIso)).byProjectAndMethod) {
    if (!line.paidEntries) continue;
    const project = line.projectId === crisis.id ? crisis.name : youth.name;
    log(`time to pay, ${project}, ${line.method}: approval to paid median ${line.daysApprovalToPaid.median} days, p90 ${line.daysApprovalToPaid.p90} (${line.paidEntries} entries)`);
  }

  const participantContributor = contributorsMade[1]!;
  const participant = await user('participant', participantContributor.name, participantContributor.id);
  const reporterToken = await createApiToken(db, organisationId, { type: 'user', id: adminUserId }, { name: 'Funder reporting script', role: 'reporter' }, today);

  return {
    organisationId,
    password,
    logins: [
      { role: 'admin', email: email('admin') },
      { role: 'finance', email: finance1.email },
      { role: 'finance', email: finance2.email },
      { role: 'coordinator', email: coordinator.email },
      { role: 'participant', email: participant.email },
    ],
    reporterToken: reporterToken.token,
    budgets: [lottery.id, nihr.id, icb.id],
    projects: [crisis.id, youth.id],
  };
}

/** Finance approves each scheduled run the afternoon it is drafted. */
function approvalMoment(slot: Date): Date {
  return londonMoment(londonDate(slot), '14:00');
}

/**
 * The demo's Stripe: the calls the onboarding and payout code make, answered as Stripe would,
 * without a network. `finished` is a person who completed onboarding (the account can take
 * transfers); `unfinished` one who has not yet. Ids carry the demo's tag, as Stripe's ids are
 * unique across every organisation in the database.
 */
function demoStripe(tag: string) {
  let accounts = 0;
  let transfers = 0;
  const stand = (ready: boolean) =>
    ({
      accounts: {
        create: async () => ({ id: `acct_demo_${tag}_${String(++accounts).padStart(4, '0')}`, capabilities: { transfers: ready ? 'active' : 'inactive' }, payouts_enabled: ready }),
      },
      accountLinks: { create: async () => ({ url: 'https://connect.stripe.com/setup/e/demo' }) },
      transfers: {
        create: async () => ({ id: `tr_demo_${tag}_${String(++transfers).padStart(6, '0')}` }),
        list: async () => ({ data: [] }),
      },
    }) as unknown as Stripe;
  return { finished: stand(true), unfinished: stand(false) };
}

const quietLog = {
  info() {},
  warn() {},
  error() {},
  debug() {},
  trace() {},
  fatal() {},
  child() {
    return quietLog;
  },
} as unknown as FastifyBaseLogger;
