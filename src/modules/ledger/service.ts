import { and, asc, eq, gt, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { preparedStatement } from '../../db/prepared.js';
import { ledgerAccounts, ledgerPostings, ledgerTransactions } from '../../db/schema.js';
import { pgConstraint, pgErrorCode } from '../../db/tx.js';
import { unbalancedReason, type AccountRef, type PostingInput } from '../../domain/ledger.js';
import { AppError } from '../../errors.js';
import { toSafeNumber } from '../../domain/money.js';
import { isUuid, newId } from '../../lib/ids.js';
import { toLedgerAccountResponse, toLedgerTransactionResponse } from './views.js';

export interface LockedAccount {
  code: string;
  balance: number;
}

/** The accounts among `codes` that exist, locked in code order, with their balances (one statement, built once). */
const lockStatement = (name: string, codes: SQL) =>
  preparedStatement<LockedAccount[], Record<string, unknown>>(name, (db) =>
    db
      .select({ code: ledgerAccounts.code, balance: ledgerAccounts.balance })
      .from(ledgerAccounts)
      .where(and(eq(ledgerAccounts.organisationId, sql.placeholder('organisationId')), eq(ledgerAccounts.currency, sql.placeholder('currency')), codes))
      .orderBy(asc(ledgerAccounts.code))
      .for('update'),
  );

/**
 * Up to FEW_ACCOUNTS codes are each a parameter of their own (`code in ($3, $4)`), one statement
 * per count; more travel as one array. PostgreSQL plans a prepared statement for its parameters
 * five times, then keeps a generic plan if that looks no dearer. A generic plan of `= any($3)`
 * counts on ten codes, so it never looked cheap enough and every run was planned again at bind
 * (about a fifth of the statement's cost; bench/README.md, tenth round), for the two accounts an
 * approval locks. With a parameter a code, the generic plan counts the codes there are.
 */
const FEW_ACCOUNTS = 4;
const lockFew = Array.from({ length: FEW_ACCOUNTS }, (_, i) =>
  lockStatement(
    `ledger_accounts_lock_${i + 1}`,
    inArray(
      ledgerAccounts.code,
      Array.from({ length: i + 1 }, (_, k) => sql.placeholder(`code${k}`)),
    ),
  ),
);
const lockMany = lockStatement('ledger_accounts_lock', sql`${ledgerAccounts.code} = any(${sql.placeholder('codes')}::text[])`);

function lockExisting(tx: Db, values: { organisationId: string; currency: string; codes: string[] }): Promise<LockedAccount[]> {
  const { codes } = values;
  const few = lockFew[codes.length - 1];
  if (!few) return lockMany(tx, values);
  const byPlace: Record<string, unknown> = { organisationId: values.organisationId, currency: values.currency };
  codes.forEach((code, k) => (byPlace[`code${k}`] = code));
  return few(tx, byPlace);
}

/**
 * Makes sure the accounts exist and locks them (SELECT … FOR UPDATE in code order, so two
 * transactions touching the same accounts queue; the rare deadlock between creating and locking
 * is retried by inTransaction), and returns their balances as of the lock. One round trip when
 * every account exists, two when some are new. Must be called inside a transaction.
 */
export async function lockAccounts(
  tx: Db,
  organisationId: string,
  currency: string,
  accounts: readonly AccountRef[],
): Promise<Map<string, number>> {
  const unique = [...new Map(accounts.map((a) => [a.code, a])).values()].sort((a, b) => (a.code < b.code ? -1 : 1));
  if (unique.length === 0) return new Map();
  // Locks the accounts that exist among `codes` and reads their balances into `balances`, in
  // chunks of 2,000 codes: PostgreSQL takes at most 65,535 parameters a statement (a payout run
  // of ten thousand people touches twenty thousand accounts). The chunks follow code order, so
  // locks are still taken in code order.
  const balances = new Map<string, number>();
  const lock = async (codes: string[]) => {
    for (let i = 0; i < codes.length; i += 2000) {
      const rows = await lockExisting(tx, { organisationId, currency, codes: codes.slice(i, i + 2000) });
      for (const r of rows) balances.set(r.code, r.balance);
    }
  };
  // Most accounts exist already (a budget's, a contributor's after their first approval): lock
  // them first (one statement up to 2,000), and create only what is missing. A missing account
  // created here is locked by its insert; a transaction creating the same one waits on the
  // unique key.
  await lock(unique.map((a) => a.code));
  if (balances.size === unique.length) return balances;
  const missing = unique.filter((a) => !balances.has(a.code));
  // One statement however many: the new accounts travel as one JSON parameter, in code order.
  const values = missing.map((a) => ({
    code: a.code,
    type: a.type,
    budget_id: a.budgetId ?? null,
    contributor_id: a.contributorId ?? null,
    component: a.component ?? null,
    allow_negative: a.allowNegative,
  }));
  const inserted = await tx.execute(sql`
    insert into ${ledgerAccounts} (organisation_id, code, currency, type, budget_id, contributor_id, component, allow_negative)
    select ${organisationId}, a.code, ${currency}, a.type, a.budget_id, a.contributor_id, a.component, a.allow_negative
      from jsonb_to_recordset(${JSON.stringify(values)}::jsonb)
           as a(code text, type text, budget_id uuid, contributor_id uuid, component text, allow_negative boolean)
     order by a.code
    on conflict do nothing
    returning code`);
  const created = new Set((inserted as unknown as { rows: { code: string }[] }).rows.map((r) => r.code));
  for (const code of created) balances.set(code, 0);
  // An account this insert created is new (balance 0) and already locked by this transaction;
  // only one another transaction created meanwhile needs locking and reading.
  await lock(missing.filter((a) => !created.has(a.code)).map((a) => a.code));
  return balances;
}

export interface NewLedgerTransaction {
  type: string;
  referenceType: string;
  referenceId: string;
  effectiveDate: string;
  currency: string;
  description?: string;
  createdBy?: string | null;
  reversesTransactionId?: string;
  postings: PostingInput[];
  /** Balances the caller already locked with lockAccounts in this transaction, for every account posted to. */
  lockedBalances?: Map<string, number>;
}

/**
 * Posts a balanced transaction. Locks every account it touches and refuses, with
 * `invalid_state`, a transaction that would take an account below zero that may not go there;
 * callers check their own rules first (budget_exceeded and the like) so users see the specific
 * reason, and the database's CHECK constraints back both up.
 *
 * Errors: internal_error for an unbalanced set (a programming error, never user input);
 * invalid_state when a balance would go negative.
 */
export async function postTransaction(tx: Db, organisationId: string, input: NewLedgerTransaction): Promise<string> {
  const { transactionId, written } = await sendTransaction(tx, organisationId, input);
  await written;
  return transactionId;
}

/** A ledger transaction whose statement is on its way: its id is known before it is written. */
export interface SentTransaction {
  transactionId: string;
  /** Settles when the statement is answered, with postTransaction's errors; await it before the transaction ends. */
  written: Promise<void>;
}

/**
 * postTransaction, without waiting for the write: its checks are made and its statement sent,
 * and the id comes back at once, so the caller can send a statement that names it (the approved
 * work's row) behind it in the same round trip (on PostgreSQL the pool pipelines them; PGlite runs
 * them one after the other). Same errors as postTransaction, the checks' at once and the write's
 * from `written`.
 */
export async function sendTransaction(tx: Db, organisationId: string, input: NewLedgerTransaction): Promise<SentTransaction> {
  const reason = unbalancedReason(input.postings);
  if (reason) throw new AppError('internal_error', `Refused an unbalanced ledger transaction: ${reason}`);
  const locked = input.lockedBalances;
  const balances =
    locked && input.postings.every((p) => locked.has(p.account.code))
      ? locked
      : await lockAccounts(
          tx,
          organisationId,
          input.currency,
          input.postings.map((p) => p.account),
        );
  const after = new Map(balances);
  for (const p of input.postings) after.set(p.account.code, (after.get(p.account.code) ?? 0) + p.amount);
  for (const p of input.postings) {
    const balance = after.get(p.account.code) ?? 0;
    if (!p.account.allowNegative && balance < 0) {
      throw new AppError('invalid_state', `The ledger account ${p.account.code} would go below zero.`);
    }
    if (!Number.isSafeInteger(balance)) {
      throw new AppError('amount_out_of_range', `The ledger account ${p.account.code} would hold more than the largest amount the ledger can record.`);
    }
  }

  const transactionId = newId();
  // The transaction and its postings in one statement: the transaction's row is a
  // data-modifying CTE, and the postings' foreign key to it is checked at the statement's end,
  // when it exists. The postings travel as one JSON parameter however many there are, so a
  // payout run's 20,000 postings are not 120,000 bound parameters in chunks.
  const rows = input.postings.map((p) => ({ id: newId(), account: p.account.code, amount: p.amount }));
  const written = tx
    .execute(
      sql`
      with new_transaction as (
        insert into ${ledgerTransactions} (organisation_id, id, type, reference_type, reference_id, reverses_transaction_id, effective_date, description, created_by)
        values (${organisationId}, ${transactionId}, ${input.type}, ${input.referenceType}, ${input.referenceId}, ${input.reversesTransactionId ?? null},
                ${input.effectiveDate}, ${input.description ?? null}, ${input.createdBy ?? null}))
      insert into ${ledgerPostings} (organisation_id, id, transaction_id, account, currency, amount)
      select ${organisationId}, p.id, ${transactionId}, p.account, ${input.currency}, p.amount
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as p(id uuid, account text, amount bigint)`,
    )
    .then(
      () => undefined,
      (error: unknown) => {
        if (pgConstraint(error) === 'ledger_transactions_reverses_unique') {
          throw new AppError('invalid_state', 'That ledger transaction has already been reversed.');
        }
        if (pgErrorCode(error) === '23514' && pgConstraint(error) === 'ledger_accounts_non_negative') {
          throw new AppError('invalid_state', 'A ledger account would go below zero.');
        }
        throw error;
      },
    );
  // Its error is the caller's to see, through `written`; until then it is not unhandled.
  written.catch(() => {});
  return { transactionId, written };
}

/**
 * Posts the exact opposite of a transaction, referencing it. A transaction is reversed at most
 * once (a unique index on reverses_transaction_id). Errors: not_found, invalid_state.
 */
export async function reverseTransaction(
  tx: Db,
  organisationId: string,
  transactionId: string,
  input: { type: string; referenceType: string; referenceId: string; effectiveDate: string; description?: string; createdBy?: string | null },
): Promise<string> {
  const postings = await tx
    .select({
      account: ledgerPostings.account,
      currency: ledgerPostings.currency,
      amount: ledgerPostings.amount,
      type: ledgerAccounts.type,
      budgetId: ledgerAccounts.budgetId,
      contributorId: ledgerAccounts.contributorId,
      component: ledgerAccounts.component,
      allowNegative: ledgerAccounts.allowNegative,
    })
    .from(ledgerPostings)
    .innerJoin(
      ledgerAccounts,
      and(
        eq(ledgerAccounts.organisationId, ledgerPostings.organisationId),
        eq(ledgerAccounts.code, ledgerPostings.account),
        eq(ledgerAccounts.currency, ledgerPostings.currency),
      ),
    )
    .where(and(eq(ledgerPostings.organisationId, organisationId), eq(ledgerPostings.transactionId, transactionId)));
  const first = postings[0];
  if (!first) throw new AppError('not_found', 'The ledger transaction was not found.');
  return postTransaction(tx, organisationId, {
    ...input,
    currency: first.currency,
    reversesTransactionId: transactionId,
    postings: postings.map((p) => ({
      account: {
        code: p.account,
        type: p.type,
        budgetId: p.budgetId,
        contributorId: p.contributorId,
        component: p.component,
        allowNegative: p.allowNegative,
      },
      amount: -p.amount,
    })),
  });
}

// ---------------------------------------------------------------------------------------------
// Reads

export interface AccountFilter {
  contributorId?: string;
  budgetId?: string;
  type?: string;
  currency?: string;
}

/** Accounts with their balances, in code order, paged by (code, currency). */
export async function listAccounts(db: Db, organisationId: string, filter: AccountFilter, limit: number, after?: { code: string; currency: string }) {
  const conditions: SQL[] = [eq(ledgerAccounts.organisationId, organisationId)];
  if (filter.contributorId) conditions.push(isUuid(filter.contributorId) ? eq(ledgerAccounts.contributorId, filter.contributorId) : sql`false`);
  if (filter.budgetId) conditions.push(isUuid(filter.budgetId) ? eq(ledgerAccounts.budgetId, filter.budgetId) : sql`false`);
  if (filter.type) conditions.push(sql`${ledgerAccounts.type} = ${filter.type}`);
  if (filter.currency) conditions.push(eq(ledgerAccounts.currency, filter.currency));
  if (after) conditions.push(sql`(${ledgerAccounts.code}, ${ledgerAccounts.currency}) > (${after.code}, ${after.currency})`);
  const rows = await db
    .select()
    .from(ledgerAccounts)
    .where(and(...conditions))
    .orderBy(asc(ledgerAccounts.code), asc(ledgerAccounts.currency))
    .limit(limit + 1);
  return rows.map(toLedgerAccountResponse);
}

/** Transactions (optionally those touching one account) with their postings, oldest first. */
export async function listTransactions(db: Db, organisationId: string, filter: { account?: string }, limit: number, afterId?: string) {
  const conditions: SQL[] = [eq(ledgerTransactions.organisationId, organisationId)];
  if (afterId) conditions.push(gt(ledgerTransactions.id, afterId));
  if (filter.account) {
    conditions.push(
      sql`exists (select 1 from ${ledgerPostings} p where p.organisation_id = ${ledgerTransactions.organisationId}
                  and p.transaction_id = ${ledgerTransactions.id} and p.account = ${filter.account})`,
    );
  }
  const transactions = await db
    .select()
    .from(ledgerTransactions)
    .where(and(...conditions))
    .orderBy(asc(ledgerTransactions.id))
    .limit(limit + 1);
  const ids = transactions.map((t) => t.id);
  const postings = ids.length
    ? await db
        .select({
          transactionId: ledgerPostings.transactionId,
          account: ledgerPostings.account,
          currency: ledgerPostings.currency,
          amount: ledgerPostings.amount,
        })
        .from(ledgerPostings)
        .where(and(eq(ledgerPostings.organisationId, organisationId), inArray(ledgerPostings.transactionId, ids)))
        .orderBy(asc(ledgerPostings.id))
    : [];
  return transactions.map((t) => toLedgerTransactionResponse(t, postings.filter((p) => p.transactionId === t.id)));
}

/** The sum of every posting per currency, straight from the postings: every total must be 0. */
export async function trialBalance(db: Db, organisationId: string) {
  const rows = await db
    .select({ currency: ledgerPostings.currency, total: sql<string>`coalesce(sum(${ledgerPostings.amount}), 0)` })
    .from(ledgerPostings)
    .where(eq(ledgerPostings.organisationId, organisationId))
    .groupBy(ledgerPostings.currency)
    .orderBy(ledgerPostings.currency);
  return rows.map((r) => ({ currency: r.currency, total: toSafeNumber(r.total) }));
}

