import type { Db } from '../../db/client.js';
import { budgetAvailableAccount, contributorAccount, transfer } from '../../domain/ledger.js';
import type { Component } from '../../domain/enums.js';
import { formatMoney } from '../../domain/money.js';
import { AppError } from '../../errors.js';
import type { BudgetRow } from '../budgets/service.js';
import { lockAccounts, sendTransaction, type SentTransaction } from '../ledger/service.js';
import { workHasLeft } from '../payouts/allocation.js';

/** An amount of a contributor's money of one component, charged to a budget. */
interface ContributorMoney {
  budget: BudgetRow;
  contributorId: string;
  component: Component;
  amount: number;
}

/**
 * Commits approved work to a budget: moves `amount` from the budget's available account to the
 * contributor's owed account for the component, after locking both. Shared by time entries and
 * expenses so the budget rule lives in one place. The ledger transaction's statement is sent and
 * not waited for (sendTransaction): the caller sends the work's own update behind it and awaits
 * both.
 *
 * Errors: budget_exceeded (422) when the budget does not allow overspending and has less than
 * `amount` available; the problem carries `available`.
 */
export async function chargeBudget(
  tx: Db,
  organisationId: string,
  input: ContributorMoney & {
    referenceType: 'time_entry' | 'expense';
    referenceId: string;
    effectiveDate: string;
    createdBy: string | null;
  },
): Promise<SentTransaction> {
  const { budget } = input;
  const available = budgetAvailableAccount(budget.id, budget.allowOverspend);
  const owed = contributorAccount(input.contributorId, 'owed', input.component, budget.id);
  const balances = await lockAccounts(tx, organisationId, budget.currency, [available, owed]);
  const left = balances.get(available.code) ?? 0;
  if (!budget.allowOverspend && left < input.amount) {
    throw new AppError(
      'budget_exceeded',
      `The budget "${budget.name}" has ${formatMoney(Math.max(0, left), budget.currency)} left, not enough for ${formatMoney(input.amount, budget.currency)}.`,
      { available: left },
    );
  }
  return sendTransaction(tx, organisationId, {
    type: input.referenceType === 'time_entry' ? 'time_entry_approval' : 'expense_approval',
    referenceType: input.referenceType,
    referenceId: input.referenceId,
    effectiveDate: input.effectiveDate,
    currency: budget.currency,
    createdBy: input.createdBy,
    postings: transfer(available, owed, input.amount),
    lockedBalances: balances,
  });
}

/**
 * Whether reversing needs the money back from the owed account: the money must still be owed
 * (not in a payout, on its way or paid). Errors: already_paid (409).
 */
export async function assertStillOwed(
  tx: Db,
  organisationId: string,
  input: ContributorMoney & {
    payoutItemId: string | null;
    workType: 'time_entry' | 'expense';
    workId: string;
  },
): Promise<void> {
  if (input.amount === 0) return;
  if (input.payoutItemId || (await workHasLeft(tx, organisationId, input.workType, input.workId))) {
    throw new AppError('already_paid', 'The money for this is in a payout (on its way or paid), so it cannot be reversed.');
  }
  const owed = contributorAccount(input.contributorId, 'owed', input.component, input.budget.id);
  const balances = await lockAccounts(tx, organisationId, input.budget.currency, [owed]);
  if ((balances.get(owed.code) ?? 0) < input.amount) {
    throw new AppError('already_paid', 'The money for this has already left (it is in a payout or paid), so it cannot be reversed.');
  }
}
