import { sql } from 'drizzle-orm';
import type { Test } from 'tap';
import type { Db } from '../../src/db/client.js';

export interface InvariantReport {
  unbalancedTransactions: unknown[];
  trialBalance: { currency: string; total: string }[];
  staleBalances: unknown[];
  negativeBalances: unknown[];
}

/**
 * The ledger's invariants (docs/design.md, 1, 3, 4, 5) for one organisation, straight from SQL:
 * every transaction balances per currency, the trial balance is zero, each cached balance is
 * the sum of its postings, and no account that may not go negative is below zero.
 */
export async function ledgerInvariants(db: Db, organisationId: string): Promise<InvariantReport> {
  const rows = async (q: ReturnType<typeof sql>) => ((await db.execute(q)) as unknown as { rows: any[] }).rows;
  return {
    unbalancedTransactions: await rows(sql`
      select transaction_id, currency, sum(amount) as total from ledger_postings
       where organisation_id = ${organisationId} group by transaction_id, currency having sum(amount) <> 0`),
    trialBalance: await rows(sql`
      select currency, sum(amount)::text as total from ledger_postings where organisation_id = ${organisationId} group by currency`),
    staleBalances: await rows(sql`
      select a.code, a.currency, a.balance, coalesce(sum(p.amount), 0) as sum
        from ledger_accounts a
        left join ledger_postings p on p.organisation_id = a.organisation_id and p.account = a.code and p.currency = a.currency
       where a.organisation_id = ${organisationId}
       group by a.code, a.currency, a.balance
      having a.balance <> coalesce(sum(p.amount), 0)`),
    negativeBalances: await rows(sql`
      select code, currency, balance from ledger_accounts
       where organisation_id = ${organisationId} and not allow_negative and balance < 0`),
  };
}

/** Asserts every invariant with tap, printing what broke. */
export async function assertLedgerInvariants(t: Test, db: Db, organisationId: string): Promise<void> {
  const r = await ledgerInvariants(db, organisationId);
  t.same(r.unbalancedTransactions, [], 'every transaction balances per currency');
  t.ok(r.trialBalance.every((b) => b.total === '0'), `trial balance is zero: ${JSON.stringify(r.trialBalance)}`);
  t.same(r.staleBalances, [], 'every cached balance equals the sum of its postings');
  t.same(r.negativeBalances, [], 'no owed, in-transit, paid or budget account below zero');
}
