/**
 * The ledger's pure rules: account names and what makes a transaction well formed. No I/O.
 *
 * Accounts, per organisation and currency (balances are positive when the account holds money,
 * so only the outside world — `funding` and `settlement` — runs negative):
 *
 * | code                                              | holds                                         |
 * |---------------------------------------------------|-----------------------------------------------|
 * | `funding`                                         | grants coming in (negative: money from outside)|
 * | `settlement`                                      | money that left to contributors (reserved)     |
 * | `budget:<b>:available`                            | a budget's money not yet committed             |
 * | `contributor:<c>:owed:<component>:budget:<b>`     | approved, not yet in a payout                  |
 * | `contributor:<c>:in_transit:<component>:budget:<b>`| in an approved payout, not yet confirmed paid |
 * | `contributor:<c>:paid:<component>:budget:<b>`     | confirmed paid (cumulative)                    |
 *
 * `component` is `earnings` or `expenses`, so the two are told apart in every balance, and every
 * contributor account names the budget it was charged to, so a budget's committed and paid
 * money are sums of its contributors' accounts.
 */
import type { AccountType, Component } from './enums.js';

export type ContributorBucket = 'owed' | 'in_transit' | 'paid';

export interface AccountRef {
  code: string;
  type: AccountType;
  budgetId?: string | null;
  contributorId?: string | null;
  component?: Component | null;
  /** Only the outside world and overspendable budgets may go below zero. */
  allowNegative: boolean;
}

export const fundingAccount = (): AccountRef => ({ code: 'funding', type: 'funding', allowNegative: true });

export const budgetAvailableAccount = (budgetId: string, allowOverspend: boolean): AccountRef => ({
  code: `budget:${budgetId}:available`,
  type: 'budget_available',
  budgetId,
  allowNegative: allowOverspend,
});

const bucketType = { owed: 'contributor_owed', in_transit: 'contributor_in_transit', paid: 'contributor_paid' } as const;

export const contributorAccount = (
  contributorId: string,
  bucket: ContributorBucket,
  component: Component,
  budgetId: string,
): AccountRef => ({
  code: `contributor:${contributorId}:${bucket}:${component}:budget:${budgetId}`,
  type: bucketType[bucket],
  contributorId,
  budgetId,
  component,
  allowNegative: false,
});

export interface PostingInput {
  account: AccountRef;
  amount: number;
}

/**
 * Why a set of postings cannot be a transaction, or null when it can: at least two postings,
 * every amount a non-zero safe integer, and the amounts summing to zero (one currency per
 * transaction here; the database checks per currency as well).
 */
export function unbalancedReason(postings: readonly PostingInput[]): string | null {
  if (postings.length < 2) return 'a transaction needs at least two postings';
  let sum = 0n;
  for (const p of postings) {
    if (!Number.isSafeInteger(p.amount) || p.amount === 0) return `posting to ${p.account.code} has amount ${p.amount}`;
    sum += BigInt(p.amount);
  }
  return sum === 0n ? null : `postings sum to ${sum}, not zero`;
}

/** A transfer of `amount` from one account to another: the building block of every posting set. */
export const transfer = (from: AccountRef, to: AccountRef, amount: number): PostingInput[] => [
  { account: from, amount: -amount },
  { account: to, amount },
];
