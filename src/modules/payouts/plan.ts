/**
 * What a payout run pays each contributor, decided when it is drafted: everything they are
 * owed, except that an earnings limit is applied to the period that contains the run's payment
 * date (Europe/London), counting what was already paid or is on its way in that period.
 * Expenses are reimbursements and never held by a limit; a contributor who declined payment is
 * still repaid their expenses. A Stripe contributor whose payout details changed and are not yet
 * confirmed by finance is not paid at all (payment-diversion defence): their money stays owed.
 */
import { and, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import { queryRows, type Db } from '../../db/client.js';
import { londonDate } from '../../domain/uk-time.js';
import { limitOn, periodOf, planPayment, type EarningsLimit, type OwedPiece } from '../../domain/earnings-limit.js';
import type { Component, PaymentMethod, PayoutMethod } from '../../domain/enums.js';
import { formatMoney, toSafeNumber } from '../../domain/money.js';
import { contributors } from '../../db/schema.js';
import { isUuid } from '../../lib/ids.js';
import { PAYOUT_DETAILS_CHANGED } from '../contributors/payout-details.js';
import { loadLimitVersions, owedEarningsPieces, type EarningsPiece } from '../contributors/earnings-limits.js';

/** What one contributor is owed in the run's currency, per budget and component. */
export interface OwedAccount {
  contributorId: string;
  paymentMethod: PaymentMethod;
  stripeAccountId: string | null;
  stripeReady: boolean;
  budgetId: string;
  component: Component;
  balance: number;
}

export interface SkippedContributor {
  contributorId: string;
  reason: 'declined_payment' | 'stripe_account_missing' | 'stripe_account_not_ready' | 'earnings_limit' | typeof PAYOUT_DETAILS_CHANGED;
  /** What is left owed for this reason. */
  amount: number;
  /** earnings_limit: what the period's limit still allowed before this run. */
  headroom?: number;
  /** earnings_limit: the first day of the next period, from which the held money can be paid. */
  payableFrom?: string;
  detail?: string;
}

export interface PlannedItem {
  contributorId: string;
  method: PayoutMethod;
  stripeAccountId: string | null;
  earnings: number;
  expenses: number;
  carriedForward: number;
  warnings: string[];
  /** The owed money taken, per budget and component. */
  lines: { budgetId: string; component: Component; amount: number }[];
}

/** Earnings paid or on their way in each contributor's period, by payment date. */
async function earningsCountedIn(db: Db, organisationId: string, currency: string, periods: Map<string, { start: string; end: string }>) {
  const counted = new Map<string, number>();
  if (!periods.size) return counted;
  const ranges = [...periods].map(([contributorId, p]) => ({ contributor_id: contributorId, from: p.start, to: p.end }));
  const rows = await queryRows<{ contributor_id: string; total: string }>(db, sql`
    select i.contributor_id, sum(i.earnings) as total
      from jsonb_to_recordset(${JSON.stringify(ranges)}::jsonb) as r(contributor_id uuid, "from" date, "to" date)
      join payout_items i on i.organisation_id = ${organisationId} and i.contributor_id = r.contributor_id
     where i.currency = ${currency} and i.status in ('processing', 'paid')
       and i.payment_date between r."from" and r."to"
     group by i.contributor_id`);
  for (const r of rows) counted.set(r.contributor_id, toSafeNumber(r.total));
  return counted;
}

/**
 * Earnings pieces to plan with, per budget, matched to the ledger: the owed account is the
 * truth, so money returned to owed without an entry of its own (a partly reversed transfer)
 * becomes a piece that comes first, and pieces never add up to more than is owed.
 */
function piecesFor(accounts: OwedAccount[], pieces: EarningsPiece[]): OwedPiece<string>[] {
  const owedByBudget = new Map(accounts.filter((a) => a.component === 'earnings').map((a) => [a.budgetId, a.balance]));
  const listed = new Map<string, number>();
  for (const p of pieces) listed.set(p.budgetId, (listed.get(p.budgetId) ?? 0) + p.amount);
  const out: OwedPiece<string>[] = [];
  for (const [budgetId, owed] of owedByBudget) {
    const extra = owed - (listed.get(budgetId) ?? 0);
    if (extra > 0) out.push({ key: budgetId, amount: extra });
  }
  const left = new Map(owedByBudget);
  for (const p of pieces) {
    const room = left.get(p.budgetId) ?? 0;
    const amount = Math.min(room, p.amount);
    if (amount <= 0) continue;
    left.set(p.budgetId, room - amount);
    out.push({ key: p.budgetId, amount });
  }
  return out;
}

/**
 * The contributors among `ids` whose payout details changed and wait for finance to confirm,
 * with when. Read here rather than with what is owed, so every way of drafting a run honours it.
 */
async function heldForPayoutDetails(db: Db, organisationId: string, ids: string[]): Promise<Map<string, Date>> {
  const valid = ids.filter(isUuid);
  if (!valid.length) return new Map();
  const rows = await db
    .select({ id: contributors.id, since: contributors.payoutDetailsChangedAt })
    .from(contributors)
    .where(and(eq(contributors.organisationId, organisationId), inArray(contributors.id, valid), isNotNull(contributors.payoutDetailsChangedAt)));
  return new Map(rows.map((r) => [r.id, r.since!]));
}

const periodWord = (limit: EarningsLimit) => (limit.period === 'week' ? 'week' : 'month');

/**
 * Plans a run from what is owed: one item per contributor who can be paid, and the rest under
 * `skipped` with the reason. `paymentDate` is the Europe/London date the money counts as
 * received. Errors: none; everything it cannot pay it says why.
 */
export async function planRun(
  db: Db,
  organisationId: string,
  input: { currency: string; budgetId?: string; methods?: PayoutMethod[] },
  owed: OwedAccount[],
  paymentDate: string,
): Promise<{ items: PlannedItem[]; skipped: SkippedContributor[] }> {
  const byContributor = new Map<string, OwedAccount[]>();
  for (const row of owed) byContributor.set(row.contributorId, [...(byContributor.get(row.contributorId) ?? []), row]);

  const versions = await loadLimitVersions(db, organisationId, [...byContributor.keys()]);
  const limits = new Map<string, EarningsLimit>();
  const periods = new Map<string, ReturnType<typeof periodOf>>();
  for (const contributorId of byContributor.keys()) {
    const limit = limitOn(versions.get(contributorId) ?? [], paymentDate);
    if (!limit) continue;
    limits.set(contributorId, limit);
    periods.set(contributorId, periodOf(limit, paymentDate));
  }
  const counted = await earningsCountedIn(db, organisationId, input.currency, periods);
  const stripePayees = [...byContributor].filter(([, accounts]) => accounts[0]!.paymentMethod === 'stripe').map(([id]) => id);
  const held = await heldForPayoutDetails(db, organisationId, stripePayees);
  const piecesOf = new Map<string, EarningsPiece[]>();
  for (const piece of await owedEarningsPieces(db, organisationId, input.currency, [...limits.keys()], input.budgetId)) {
    piecesOf.set(piece.contributorId, [...(piecesOf.get(piece.contributorId) ?? []), piece]);
  }

  const items: PlannedItem[] = [];
  const skipped: SkippedContributor[] = [];
  for (const [contributorId, accounts] of byContributor) {
    const first = accounts[0]!;
    const sum = (component: Component) => accounts.filter((a) => a.component === component).reduce((s, a) => s + a.balance, 0);
    const owedEarnings = sum('earnings');
    const owedExpenses = sum('expenses');
    const declined = first.paymentMethod === 'declined';
    // Someone who declined payment is still repaid their expenses, by bank transfer.
    const method: PayoutMethod = declined ? 'bank_transfer' : (first.paymentMethod as PayoutMethod);
    if (input.methods && !input.methods.includes(method)) continue;
    if (method === 'stripe' && !first.stripeAccountId) {
      skipped.push({ contributorId, reason: 'stripe_account_missing', amount: owedEarnings + owedExpenses });
      continue;
    }
    if (method === 'stripe' && !first.stripeReady) {
      skipped.push({ contributorId, reason: 'stripe_account_not_ready', amount: owedEarnings + owedExpenses });
      continue;
    }
    const heldSince = method === 'stripe' ? held.get(contributorId) : undefined;
    if (heldSince) {
      skipped.push({
        contributorId,
        reason: PAYOUT_DETAILS_CHANGED,
        amount: owedEarnings + owedExpenses,
        detail: `Held because the bank details Stripe pays them to changed on ${londonDate(heldSince)}. Check the change with them, then confirm it (Payout details changed) to pay them in the next run.`,
      });
      continue;
    }

    let earningsByBudget = new Map(accounts.filter((a) => a.component === 'earnings').map((a) => [a.budgetId, a.balance]));
    let carriedForward = 0;
    const warnings: string[] = [];
    if (declined) {
      earningsByBudget = new Map();
      if (owedEarnings > 0) skipped.push({ contributorId, reason: 'declined_payment', amount: owedEarnings });
    } else if (limits.has(contributorId) && owedEarnings > 0) {
      const limit = limits.get(contributorId)!;
      const period = periods.get(contributorId)!;
      const plan = planPayment(limit, counted.get(contributorId) ?? 0, piecesFor(accounts, piecesOf.get(contributorId) ?? []));
      earningsByBudget = new Map();
      for (const piece of plan.pay) earningsByBudget.set(piece.key, (earningsByBudget.get(piece.key) ?? 0) + piece.amount);
      carriedForward = plan.carriedForward;
      const money = (n: number) => formatMoney(n, input.currency);
      const limitText = `the ${periodWord(limit)}ly earnings limit of ${money(limit.amount)} for ${period.start} to ${period.end}`;
      if (plan.held > 0 || (plan.carriedForward > 0 && plan.paid === 0)) {
        skipped.push({
          contributorId,
          reason: 'earnings_limit',
          amount: plan.held + (plan.paid === 0 ? plan.carriedForward : 0),
          headroom: plan.headroom,
          payableFrom: period.nextStart,
          detail: `Held to stay within ${limitText}; payable from ${period.nextStart}.`,
        });
        if (plan.paid === 0) carriedForward = 0;
      }
      if (plan.overLimitBy > 0) warnings.push(`Pays ${money(plan.overLimitBy)} more than ${limitText} (policy: warn).`);
    }

    const earnings = [...earningsByBudget.values()].reduce((s, a) => s + a, 0);
    const lines = [
      ...[...earningsByBudget].filter(([, amount]) => amount > 0).map(([budgetId, amount]) => ({ budgetId, component: 'earnings' as const, amount })),
      ...accounts.filter((a) => a.component === 'expenses').map((a) => ({ budgetId: a.budgetId, component: 'expenses' as const, amount: a.balance })),
    ];
    if (earnings + owedExpenses === 0) continue;
    items.push({
      contributorId,
      method,
      stripeAccountId: method === 'stripe' ? first.stripeAccountId : null,
      earnings,
      expenses: owedExpenses,
      carriedForward,
      warnings,
      lines,
    });
  }
  return { items, skipped };
}
