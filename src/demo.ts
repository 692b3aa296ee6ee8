import { randomBytes } from 'node:crypto';
import type { Db } from './db/client.js';
import { addDays } from './domain/earnings-period.js';
import type { Activity, ContributorKind } from './domain/enums.js';
import type { Rate } from './domain/rate-card.js';

import type { Actor, Principal } from './domain/actor.js';
import { londonDate } from './domain/uk-time.js';
import { createApiToken } from './modules/api-tokens/service.js';
import { createBudget } from './modules/budgets/service.js';
import { createContributor } from './modules/contributors/service.js';
import { approveExpense, submitExpense } from './modules/expenses/service.js';
import { createOrganisation } from './modules/organisations/service.js';
import { approvePayoutRun, cancelPayoutRun, draftPayoutRun, markItemFailed, markItemPaid } from './modules/payouts/service.js';
import { createProject } from './modules/projects/service.js';
import { addRateCardVersion, createRateCard } from './modules/rate-cards/service.js';
import { rejectWork } from './modules/approvable-work/lifecycle.js';
import { approveTimeEntry, submitTimeEntry, timeEntryWork } from './modules/time-entries/service.js';
import { createUser } from './modules/users/service.js';

/**
 * A realistic demo organisation: two co-production projects, three budgets from different
 * funders, a rate card with a 10% uplift three months ago, about 30 contributors of every kind
 * and payment method (some with benefit earnings limits, some declining payment), six months of
 * time and expenses, and payout runs in every state. Deterministic apart from ids and the
 * log-in suffix, so two demos can live in one database.
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

  const names = [
    'Aisha Khan', 'Ben Carter', 'Chloe Evans', 'Dev Patel', 'Efe Okoro', 'Fran Walsh', 'Gus Brennan', 'Hana Suzuki',
    'Imran Ali', 'Jess Moore', 'Kofi Mensah', 'Lena Novak', 'Marcus Reid', 'Nia Jones', 'Owen Price', 'Priya Shah',
    'Quinn Lowe', 'Rosa Diaz', 'Sam Taylor', 'Tariq Hussein', 'Uma Rao', 'Vic Hale', 'Wren Byrne', 'Xander Bell',
    'Yasmin Farah', 'Zoe Clarke', 'Dr Ruth Green', 'Tom Fisher (commissioner)', 'Sister Ann Doyle', 'Prof Leo Park',
  ];
  const methods = ['bank_transfer', 'bank_transfer', 'voucher', 'stripe', 'declined'] as const;
  const contributorsMade = [];
  for (const [i, name] of names.entries()) {
    const kind: ContributorKind = i >= 26 ? 'professional' : i % 4 === 3 ? 'carer' : 'lived_experience';
    const paymentMethod = kind === 'professional' ? 'bank_transfer' : methods[i % methods.length]!;
    const earningsLimit =
      kind !== 'professional' && i % 3 === 0
        ? i % 2 === 0
          ? { period: 'week' as const, amount: 19_550, periodStartDay: 1, policy: 'split' as const }
          : { period: 'month' as const, amount: 40_000, periodStartDay: (i % 31) + 1, policy: i % 5 === 0 ? ('block' as const) : ('warn' as const) }
        : undefined;
    contributorsMade.push(
      await createContributor(db, organisationId, asUser(coordinator), {
        name,
        email: `${name.toLowerCase().replace(/[^a-z]+/g, '.')}+${tag}@example.test`,
        kind,
        paymentMethod,
        earningsLimit,
      }, new Date(`${sixMonthsAgo}T09:00:00Z`)),
    );
  }

  // Six months of sessions: every contributor comes to some, on their budgets.
  const activities: Activity[] = ['meeting', 'workshop', 'interview', 'reading', 'training', 'other'];
  const coordinatorPrincipal = principal({ id: coordinator.id, role: 'coordinator' });
  let approved = 0;
  for (let week = 0; week < 26; week++) {
    const date = addDays(sixMonthsAgo, week * 7 + 2);
    if (date > todayIso) break;
    for (const [i, c] of contributorsMade.entries()) {
      if ((i + week) % 3 !== 0) continue;
      const budget = i % 3 === 0 ? nihr : i % 3 === 1 ? lottery : icb;
      const activity = activities[(i + week) % activities.length]!;
      const minutes = activity === 'training' ? 420 : 60 + ((i * 7 + week * 11) % 4) * 30;
      const entry = await submitTimeEntry(db, organisationId, asUser(coordinator), { contributorId: c.id, budgetId: budget.id, activity, date, minutes }, new Date(`${date}T17:00:00Z`));
      if (week === 25 || (i + week) % 17 === 0) continue; // still waiting for approval
      if ((i + week) % 23 === 0) {
        await rejectWork(db, timeEntryWork, { organisationId, principal: coordinatorPrincipal, actor: asUser(coordinator), now: today }, entry.id, 'Duplicate of another entry for the same session');
        continue;
      }
      // Approved a few days to three weeks after the work (never in the future).
      const decidedIso = addDays(date, 2 + ((i * 5 + week) % 20));
      const decided = decidedIso < todayIso ? new Date(`${decidedIso}T15:00:00Z`) : today;
      await approveTimeEntry(db, { organisationId, principal: coordinatorPrincipal, actor: asUser(coordinator), now: decided }, entry.id);
      approved++;
      if (week % 4 === 1 && c.kind !== 'professional') {
        const expense = await submitExpense(db, organisationId, asUser(coordinator), {
          contributorId: c.id,
          budgetId: budget.id,
          category: week % 8 === 1 ? 'travel' : 'childcare',
          amount: 450 + ((i * 13) % 9) * 110,
          date,
          receiptReference: `RCPT-${week}-${i}`,
        });
        await approveExpense(db, { organisationId, principal: coordinatorPrincipal, actor: asUser(coordinator), now: decided }, expense.id);
      }
    }
  }
  log(`${approved} time entries approved`);

  // Two people on benefits whose work this month is more than their limit allows: the voucher
  // run below holds part of one person's money (block) and splits the other's (split), and
  // both are paid the rest in the next period.
  for (const [name, earningsLimit] of [
    ['Dee Morgan (Universal Credit)', { period: 'month' as const, amount: 10_000, periodStartDay: 31, policy: 'split' as const }],
    ['Eli Brooks (ESA permitted work)', { period: 'week' as const, amount: 6_000, periodStartDay: 1, policy: 'block' as const }],
  ] as const) {
    const person = await createContributor(
      db,
      organisationId,
      asUser(coordinator),
      { name, email: `${name.split(' ')[0]!.toLowerCase()}+${tag}@example.test`, kind: 'lived_experience', paymentMethod: 'voucher', earningsLimit },
      new Date(`${sixMonthsAgo}T09:00:00Z`),
    );
    for (const days of [3, 5, 8]) {
      const date = addDays(todayIso, -days);
      const entry = await submitTimeEntry(db, organisationId, asUser(coordinator), { contributorId: person.id, budgetId: lottery.id, activity: 'workshop', date, minutes: 150 }, new Date(`${date}T17:00:00Z`));
      await approveTimeEntry(db, { organisationId, principal: coordinatorPrincipal, actor: asUser(coordinator), now: today }, entry.id);
    }
  }

  // Payout runs in every state.
  const f1 = asUser(finance1);
  const f2 = asUser(finance2);
  const voucherRun = await draftPayoutRun(db, organisationId, f1, { currency: 'GBP', methods: ['voucher'] }, today);
  await approvePayoutRun(db, organisationId, f2, voucherRun.id, today, false);
  for (const item of voucherRun.items) await markItemPaid(db, organisationId, f2, item.id, `VOUCHER-${item.id.slice(-6)}`, today);
  const bankRun = await draftPayoutRun(db, organisationId, f2, { currency: 'GBP', methods: ['bank_transfer'], budgetId: lottery.id }, today);
  const approvedBank = await approvePayoutRun(db, organisationId, f1, bankRun.id, today, false);
  for (const [n, item] of approvedBank.items.entries()) {
    if (n % 4 === 0) await markItemFailed(db, organisationId, f1, item.id, 'Bank details did not match the account name', today);
    else if (n % 4 !== 1) await markItemPaid(db, organisationId, f1, item.id, `BACS-${todayIso}-${n}`, today);
    // n % 4 === 1: still processing, waiting for the bank transfer to be confirmed
  }
  const canceled = await draftPayoutRun(db, organisationId, f1, { currency: 'GBP', budgetId: icb.id, methods: ['bank_transfer'] }, today);
  await cancelPayoutRun(db, organisationId, f1, canceled.id, today);
  await draftPayoutRun(db, organisationId, f1, { currency: 'GBP', budgetId: nihr.id }, today); // a draft waiting for a second pair of eyes
  log('payout runs: paid vouchers (one held and one split by an earnings limit), a bank run with paid, failed and pending items, a canceled run and a draft');

  const participantContributor = contributorsMade[1]!;
  const participant = await user('participant', participantContributor.name, participantContributor.id);
  const reporterToken = await createApiToken(db, organisationId, { type: 'user', id: adminUserId }, { name: 'Funder reporting script', role: 'reporter' });

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
