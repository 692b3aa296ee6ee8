import { and, asc, between, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { expenses, ledgerAccounts, payoutItems, timeEntries } from '../../db/schema.js';
import { limitPeriod, ukTaxYear } from '../../domain/earnings-period.js';
import { toSafeNumber } from '../../domain/money.js';
import { contributorResponseOn, getContributorRow } from '../contributors/service.js';
import { londonDate } from '../../domain/uk-time.js';
import { toExpenseResponse } from '../expenses/views.js';
import { toTimeEntryResponse } from '../time-entries/views.js';

interface Buckets {
  owed: number;
  inTransit: number;
  paid: number;
}

export interface CurrencyBalance extends Buckets {
  currency: string;
  earnings: Buckets;
  expenses: Buckets;
}

/**
 * What a contributor is owed, has on its way and has been paid, per currency, split into
 * earnings and expenses; straight from the ledger's contributor accounts.
 */
export async function contributorBalances(db: Db, organisationId: string, contributorId: string): Promise<CurrencyBalance[]> {
  const rows = await db
    .select({
      currency: ledgerAccounts.currency,
      type: ledgerAccounts.type,
      component: ledgerAccounts.component,
      total: sql<string>`coalesce(sum(${ledgerAccounts.balance}), 0)`,
    })
    .from(ledgerAccounts)
    .where(and(eq(ledgerAccounts.organisationId, organisationId), eq(ledgerAccounts.contributorId, contributorId)))
    .groupBy(ledgerAccounts.currency, ledgerAccounts.type, ledgerAccounts.component)
    .orderBy(asc(ledgerAccounts.currency));
  const byCurrency = new Map<string, CurrencyBalance>();
  const empty = (): Buckets => ({ owed: 0, inTransit: 0, paid: 0 });
  for (const row of rows) {
    const balance = byCurrency.get(row.currency) ?? { currency: row.currency, ...empty(), earnings: empty(), expenses: empty() };
    byCurrency.set(row.currency, balance);
    const bucket = row.type === 'contributor_owed' ? 'owed' : row.type === 'contributor_in_transit' ? 'inTransit' : row.type === 'contributor_paid' ? 'paid' : null;
    if (!bucket || !row.component) continue;
    const amount = toSafeNumber(row.total);
    balance[row.component][bucket] += amount;
    balance[bucket] += amount;
  }
  return [...byCurrency.values()];
}

interface PeriodTotals {
  start: string;
  end: string;
  currency: string;
  minutes: number;
  earned: number;
  withheld: number;
  declinedValue: number;
  expenses: number;
}

/**
 * A contributor's statement for a date range (work dates): every time entry and expense, the
 * balances now, and totals of approved work per UK tax year (6 April to 5 April) and, when the
 * contributor has an earnings limit, per limit period — the figures a benefits office asks for.
 */
export async function contributorStatement(
  db: Db,
  organisationId: string,
  contributorId: string,
  range: { from: string; to: string },
  now: Date,
) {
  const contributor = await getContributorRow(db, organisationId, contributorId);
  const view = await contributorResponseOn(db, organisationId, contributor, londonDate(now));
  const entryRows = await db
    .select()
    .from(timeEntries)
    .where(
      and(
        eq(timeEntries.organisationId, organisationId),
        eq(timeEntries.contributorId, contributorId),
        between(timeEntries.date, range.from, range.to),
      ),
    )
    .orderBy(asc(timeEntries.date), asc(timeEntries.id));
  const expenseRows = await db
    .select()
    .from(expenses)
    .where(and(eq(expenses.organisationId, organisationId), eq(expenses.contributorId, contributorId), between(expenses.date, range.from, range.to)))
    .orderBy(asc(expenses.date), asc(expenses.id));

  // Payouts made (or started) in the range, by the day they were paid, failed or created.
  const payoutRows = await db
    .select()
    .from(payoutItems)
    .where(
      and(
        eq(payoutItems.organisationId, organisationId),
        eq(payoutItems.contributorId, contributorId),
        sql`${payoutItems.status} <> 'canceled' and ${payoutItems.status} <> 'pending'`,
        sql`(coalesce(${payoutItems.paidAt}, ${payoutItems.failedAt}, ${payoutItems.createdAt}) at time zone 'UTC')::date between ${range.from} and ${range.to}`,
      ),
    )
    .orderBy(asc(payoutItems.createdAt));

  const taxYears = new Map<string, PeriodTotals & { taxYear: string }>();
  const limitPeriods = new Map<string, PeriodTotals & { limit: number; headroom: number }>();
  const add = (date: string, currency: string, f: (t: PeriodTotals) => void) => {
    const year = ukTaxYear(date);
    const key = `${year.label}|${currency}`;
    const yearTotals = taxYears.get(key) ?? { taxYear: year.label, start: year.start, end: year.end, currency, ...zero() };
    taxYears.set(key, yearTotals);
    f(yearTotals);
    if (view.earningsLimit) {
      const period = limitPeriod(view.earningsLimit, date);
      const pkey = `${period.start}|${currency}`;
      const periodTotals = limitPeriods.get(pkey) ?? { start: period.start, end: period.end, currency, limit: view.earningsLimit.amount, headroom: 0, ...zero() };
      limitPeriods.set(pkey, periodTotals);
      f(periodTotals);
    }
  };
  for (const e of entryRows) {
    if (e.status !== 'approved') continue;
    add(e.date, e.currency, (t) => {
      t.minutes += e.minutes;
      t.earned += e.amount;
      t.withheld += e.withheld;
      if (e.declined) t.declinedValue += e.value;
    });
  }
  for (const x of expenseRows) {
    if (x.status !== 'approved') continue;
    add(x.date, x.currency, (t) => {
      t.expenses += x.amount;
    });
  }
  for (const p of limitPeriods.values()) p.headroom = Math.max(0, p.limit - p.earned);

  return {
    contributorId,
    name: contributor.name,
    from: range.from,
    to: range.to,
    earningsLimit: view.earningsLimit,
    balances: await contributorBalances(db, organisationId, contributorId),
    timeEntries: entryRows.map(toTimeEntryResponse),
    expenses: expenseRows.map(toExpenseResponse),
    payouts: payoutRows.map((p) => ({
      id: p.id,
      amount: p.amount,
      currency: p.currency,
      method: p.method,
      status: p.status,
      reference: p.reference,
      failureReason: p.failureReason,
      paidAt: p.paidAt?.toISOString() ?? null,
      createdAt: p.createdAt.toISOString(),
    })),
    totals: {
      taxYears: [...taxYears.values()].sort((a, b) => a.start.localeCompare(b.start)),
      earningsLimitPeriods: [...limitPeriods.values()].sort((a, b) => a.start.localeCompare(b.start)),
    },
  };
}

const zero = () => ({ minutes: 0, earned: 0, withheld: 0, declinedValue: 0, expenses: 0 });
