import { and, asc, between, eq, sql, type SQLWrapper } from 'drizzle-orm';
import { parsedJson, type Db } from '../../db/client.js';
import { preparedStatement } from '../../db/prepared.js';
import { allAnswered } from '../../db/pipelined-transactions.js';
import { readTogether } from '../../db/tx.js';
import { contributors, expenses, ledgerAccounts, payoutItems, timeEntries } from '../../db/schema.js';
import { limitOn, type EarningsLimitVersion } from '../../domain/earnings-limit.js';
import { limitPeriod, ukTaxYear, type DateRange } from '../../domain/earnings-period.js';
import { sumMinorUnits, toSafeNumber } from '../../domain/money.js';
import { limitPosition, limitVersionsJson, loadLimitVersions } from '../contributors/earnings-limits.js';
import { getContributorRow } from '../contributors/service.js';
import { toContributorResponse } from '../contributors/views.js';
import { londonDate } from '../../domain/uk-time.js';
import { toExpenseResponse } from '../expenses/views.js';
import { getOrganisation } from '../organisations/service.js';
import { toTimeEntryResponse } from '../time-entries/views.js';
import { isUuid } from '../../lib/ids.js';
import { receivedTotals, totalsSpan, TRADING_ALLOWANCE, type ReceivedOnDay } from './received.js';

/**
 * The currency that statements total money received in: the trading allowance and UK benefit
 * limits are amounts in pounds, so payments in any other currency are listed but not added to
 * them (no rate of exchange is kept to convert them).
 */
export const RECEIVED_CURRENCY = 'GBP';

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
/** A contributor's accounts summed by currency, type and component, the total as text. */
const accountSums = (organisationId: SQLWrapper, contributorId: SQLWrapper) => sql`
  select a.currency, a.type, a.component, sum(a.balance)::text as total
    from ${ledgerAccounts} a
   where a.organisation_id = ${organisationId} and a.contributor_id = ${contributorId}
   group by a.currency, a.type, a.component`;

/** accountSums on its own, by currency (built once: statements, exports and erasure ask). */
const balanceSums = preparedStatement('contributor_balance_sums', (db) =>
  db
    .select({ currency: sql<string>`s.currency`, type: sql<string>`s.type`, component: sql<string | null>`s.component`, total: sql<string>`s.total` })
    .from(sql`(${accountSums(sql.placeholder('organisationId'), sql.placeholder('contributorId'))}) s`)
    .orderBy(sql`s.currency`),
);

export async function contributorBalances(db: Db, organisationId: string, contributorId: string): Promise<CurrencyBalance[]> {
  return balancesFromSums(await balanceSums(db, { organisationId, contributorId }));
}

/** Accounts summed by currency, type and component, as balances per currency. */
function balancesFromSums(rows: readonly { currency: string; type: string; component: string | null; total: string | number }[]): CurrencyBalance[] {
  const byCurrency = new Map<string, CurrencyBalance>();
  const empty = (): Buckets => ({ owed: 0, inTransit: 0, paid: 0 });
  for (const row of rows) {
    const balance = byCurrency.get(row.currency) ?? { currency: row.currency, ...empty(), earnings: empty(), expenses: empty() };
    byCurrency.set(row.currency, balance);
    const bucket = row.type === 'contributor_owed' ? 'owed' : row.type === 'contributor_in_transit' ? 'inTransit' : row.type === 'contributor_paid' ? 'paid' : null;
    if (!bucket || (row.component !== 'earnings' && row.component !== 'expenses')) continue;
    const amount = toSafeNumber(row.total);
    balance[row.component][bucket] += amount;
    balance[bucket] += amount;
  }
  return [...byCurrency.values()];
}

/**
 * What a balance read needs before it knows the period of an earnings limit, in one statement:
 * whether the contributor is in the organisation, their accounts summed as `balanceSums` sums
 * them (accountSums), and their earnings-limit versions as `loadLimitVersions` orders them. One statement
 * rather than three sent together: each statement costs the service's CPU (node-postgres's
 * message handling and result set-up, drizzle's mapping) whether it travels alone or not, and a
 * balance read is small enough for that to be most of its work.
 */
const balanceReadInputs = preparedStatement('contributor_balance_read', (db) => {
  const organisationId = sql.placeholder('organisationId');
  const contributorId = sql.placeholder('contributorId');
  return db
    .select({
      found: sql<boolean>`exists (select 1 from ${contributors} c where c.organisation_id = ${organisationId} and c.id = ${contributorId})`,
      sums: sql<{ currency: string; type: string; component: string | null; total: string }[]>`(
        select coalesce(json_agg(json_build_object('currency', s.currency, 'type', s.type, 'component', s.component, 'total', s.total) order by s.currency), '[]')
          from (${accountSums(organisationId, contributorId)}) s)`,
      versions: limitVersionsJson(organisationId, contributorId),
    })
    .from(sql`(select 1) as one`);
});

/**
 * A contributor's balances, and where they stand against their earnings limit today
 * (`limitPosition`); null if the contributor is not in the organisation. On PostgreSQL one
 * statement, and for a contributor with a limit one round trip more (its three reads together).
 */
export async function contributorBalanceRead(db: Db, organisationId: string, contributorId: string, currency: string, today: string) {
  if (!isUuid(contributorId)) return null;
  const [inputs] = await balanceReadInputs(db, { organisationId, contributorId });
  if (!inputs?.found) return null;
  const limit = limitOn(parsedJson<EarningsLimitVersion[]>(inputs.versions), today);
  return {
    balances: balancesFromSums(parsedJson<Parameters<typeof balancesFromSums>[0]>(inputs.sums)),
    earningsLimit: limit ? await limitPosition(db, organisationId, contributorId, currency, today, { limit }) : null,
  };
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
 * A contributor's payout items whose money was received between two dates (inclusive): paid,
 * in {@link RECEIVED_CURRENCY}, by their Europe/London payment date.
 */
const receivedBetween = (organisationId: string, contributorId: string, dates: DateRange) =>
  and(
    eq(payoutItems.organisationId, organisationId),
    eq(payoutItems.contributorId, contributorId),
    eq(payoutItems.currency, RECEIVED_CURRENCY),
    eq(payoutItems.status, 'paid'),
    between(payoutItems.paymentDate, dates.start, dates.end),
  );

/**
 * What a contributor received each day (by the Europe/London payment date of paid payout items)
 * within a span of dates, in {@link RECEIVED_CURRENCY}. Summed per day in SQL; the statement
 * adds the days up per period.
 */
async function receivedByDay(db: Db, organisationId: string, contributorId: string, span: DateRange): Promise<ReceivedOnDay[]> {
  const rows = await db
    .select({
      paymentDate: payoutItems.paymentDate,
      earnings: sql<string>`coalesce(sum(${payoutItems.earnings}), 0)`,
      expenses: sql<string>`coalesce(sum(${payoutItems.expenses}), 0)`,
    })
    .from(payoutItems)
    .where(receivedBetween(organisationId, contributorId, span))
    .groupBy(payoutItems.paymentDate)
    .orderBy(asc(payoutItems.paymentDate));
  return rows.map((row) => ({ paymentDate: row.paymentDate!, earnings: toSafeNumber(row.earnings), expenses: toSafeNumber(row.expenses) }));
}

/**
 * The day a payout belongs to in a statement's list, as a Europe/London date: a paid or
 * on-its-way item by its payment date, a failed one by the day it failed.
 */
const payoutListDate = sql`coalesce(
  case when ${payoutItems.status} <> 'failed' then ${payoutItems.paymentDate} end,
  (coalesce(${payoutItems.paidAt}, ${payoutItems.failedAt}, ${payoutItems.createdAt}) at time zone 'Europe/London')::date
)`;

/** A contributor's rows of `table` whose work was done within a range, for the statements built once below. */
const workInRange = (table: typeof timeEntries | typeof expenses) =>
  and(
    eq(table.organisationId, sql.placeholder('organisationId')),
    eq(table.contributorId, sql.placeholder('contributorId')),
    between(table.date, sql.placeholder('from'), sql.placeholder('to')),
  );
const entriesInRange = preparedStatement('statement_time_entries', (db) =>
  db.select().from(timeEntries).where(workInRange(timeEntries)).orderBy(asc(timeEntries.date), asc(timeEntries.id)),
);
const expensesInRange = preparedStatement('statement_expenses', (db) =>
  db.select().from(expenses).where(workInRange(expenses)).orderBy(asc(expenses.date), asc(expenses.id)),
);

/** A contributor's payouts listed within a range, by {@link payoutListDate} (built once). */
const payoutsInRange = preparedStatement('statement_payouts', (db) =>
  db
    .select({ item: payoutItems, listDate: sql<string>`(${payoutListDate})::text` })
    .from(payoutItems)
    .where(
      and(
        eq(payoutItems.organisationId, sql.placeholder('organisationId')),
        eq(payoutItems.contributorId, sql.placeholder('contributorId')),
        sql`${payoutItems.status} <> 'canceled' and ${payoutItems.status} <> 'pending'`,
        sql`${payoutListDate} between ${sql.placeholder('from')} and ${sql.placeholder('to')}`,
      ),
    )
    .orderBy(asc(payoutListDate), asc(payoutItems.createdAt), asc(payoutItems.id)),
);

/**
 * A contributor's statement for a date range: every time entry and expense (by work date) and
 * every payout (by its day, see {@link payoutListDate}) in the range, the balances now, and
 * two kinds of totals:
 *
 * - `periods` and `taxYears`: money received, by the Europe/London date it was paid, for each
 *   earnings-limit period and UK tax year the range touches, each totalled whole (see
 *   received.ts). These are the figures a benefits office and HMRC count.
 * - `totals`: approved work by the date it was done, per tax year and limit period of today's
 *   limit (what the statement has always shown; kept for the clients that read it).
 *
 * Errors: not_found (the contributor is not in the organisation).
 */
export async function contributorStatement(
  db: Db,
  organisationId: string,
  contributorId: string,
  range: { from: string; to: string },
  now: Date,
) {
  const today = londonDate(now);
  const theirs = { organisationId, contributorId, from: range.from, to: range.to };
  const dates = { start: range.from, end: range.to };
  // The reads that need nothing from one another go together, on one connection and without a
  // transaction (readTogether): on PostgreSQL all six travel in one round trip, and what was
  // received, whose periods come from the limit versions, in a second (seven, one after another,
  // and a begin and commit, once). A contributor who is not there answers not_found, once the
  // others are answered.
  const { contributor, entryRows, expenseRows, payoutRows, versions, received, balances } = await readTogether(db, async (tx) => {
    const [contributor, entryRows, expenseRows, payoutRows, versionsByContributor, balances] = await allAnswered([
      getContributorRow(tx, organisationId, contributorId),
      entriesInRange(tx, theirs),
      expensesInRange(tx, theirs),
      payoutsInRange(tx, theirs),
      loadLimitVersions(tx, organisationId, [contributorId]),
      contributorBalances(tx, organisationId, contributorId),
    ]);
    const versions = versionsByContributor.get(contributorId) ?? [];
    const byDay = await receivedByDay(tx, organisationId, contributorId, totalsSpan(dates, versions, today));
    return { contributor, entryRows, expenseRows, payoutRows, versions, received: receivedTotals(byDay, dates, versions, today), balances };
  });

  // The limit in force today as a contributor's view shows it, from the versions read above.
  const { earningsLimit } = toContributorResponse(contributor, limitOn(versions, today));
  const taxYears = new Map<string, PeriodTotals & { taxYear: string }>();
  const limitPeriods = new Map<string, PeriodTotals & { limit: number; headroom: number }>();
  const add = (date: string, currency: string, f: (t: PeriodTotals) => void) => {
    const year = ukTaxYear(date);
    const key = `${year.label}|${currency}`;
    const yearTotals = taxYears.get(key) ?? { taxYear: year.label, start: year.start, end: year.end, currency, ...zero() };
    taxYears.set(key, yearTotals);
    f(yearTotals);
    if (earningsLimit) {
      const period = limitPeriod(earningsLimit, date);
      const pkey = `${period.start}|${currency}`;
      const periodTotals = limitPeriods.get(pkey) ?? { start: period.start, end: period.end, currency, limit: earningsLimit.amount, headroom: 0, ...zero() };
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
    earningsLimit,
    balances,
    timeEntries: entryRows.map(toTimeEntryResponse),
    expenses: expenseRows.map(toExpenseResponse),
    payouts: payoutRows.map(({ item: p, listDate }) => ({
      id: p.id,
      amount: p.amount,
      earnings: p.earnings,
      expenses: p.expenses,
      currency: p.currency,
      method: p.method,
      status: p.status,
      reference: p.reference,
      failureReason: p.failureReason,
      paymentDate: p.paymentDate,
      date: listDate,
      paidAt: p.paidAt?.toISOString() ?? null,
      createdAt: p.createdAt.toISOString(),
    })),
    totals: {
      taxYears: [...taxYears.values()].sort((a, b) => a.start.localeCompare(b.start)),
      earningsLimitPeriods: [...limitPeriods.values()].sort((a, b) => a.start.localeCompare(b.start)),
    },
    periods: received.periods.map((p) => ({ ...p, currency: RECEIVED_CURRENCY })),
    taxYears: received.taxYears.map((y) => ({ ...y, currency: RECEIVED_CURRENCY })),
  };
}

/**
 * Everything a letter about one tax year's payments needs: who paid, who was paid, each paid
 * item with the Europe/London date it was paid, earnings and expenses apart, and the totals.
 *
 * Errors: not_found (the contributor is not in the organisation).
 */
export async function statementLetter(db: Db, organisationId: string, contributorId: string, taxYear: DateRange & { label: string }, now: Date) {
  const contributor = await getContributorRow(db, organisationId, contributorId);
  const organisation = await getOrganisation(db, organisationId);
  const rows = await db
    .select()
    .from(payoutItems)
    .where(receivedBetween(organisationId, contributorId, taxYear))
    .orderBy(asc(payoutItems.paymentDate), asc(payoutItems.paidAt), asc(payoutItems.id));
  const payments = rows.map((row) => ({
    date: row.paymentDate!,
    method: row.method,
    reference: row.reference,
    earnings: row.earnings,
    expenses: row.expenses,
    amount: row.amount,
  }));
  const earningsPaid = sumMinorUnits(payments.map((p) => p.earnings));
  const expensesPaid = sumMinorUnits(payments.map((p) => p.expenses));
  return {
    organisation: { name: organisation.name, contact: null as string | null },
    contributor: { id: contributor.id, name: contributor.name },
    taxYear: { label: taxYear.label, from: taxYear.start, to: taxYear.end },
    currency: RECEIVED_CURRENCY,
    payments,
    earningsPaid,
    expensesPaid,
    totalPaid: earningsPaid + expensesPaid,
    tradingAllowanceRemaining: Math.max(0, TRADING_ALLOWANCE - earningsPaid),
    issuedOn: londonDate(now),
  };
}

export type StatementLetter = Awaited<ReturnType<typeof statementLetter>>;

const zero = () => ({ minutes: 0, earned: 0, withheld: 0, declinedValue: 0, expenses: 0 });
