/**
 * The lifecycle that time entries and expenses share: work is submitted against a budget,
 * then approved (its money moves from the budget to what the contributor is owed), rejected
 * with a reason, or, once approved and while its money has not left, reversed by a reversing
 * ledger transaction.
 *
 *   submitted ──approve──▶ approved ──reverse──▶ reversed
 *       └──────reject───▶ rejected
 *
 * What differs between the two lives in their own modules: how a time entry is priced (rate
 * cards) and what an expense carries (category, receipt). Everything else, including the
 * locks and their order, the audit events and the list filters, is here once.
 *
 * Locks, always in this order, so racing requests cannot deadlock: the work row, the
 * contributor, then ledger accounts by code (see chargeBudget).
 */
import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { expenses, timeEntries } from '../../db/schema.js';
import { insertReturning, updateReturning } from '../../db/prepared.js';
import { allAnswered } from '../../db/pipelined-transactions.js';
import { inTransaction } from '../../db/tx.js';
import type { Actor, Principal } from '../../domain/actor.js';
import type { Component, EntryStatus } from '../../domain/enums.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { personBehind } from '../../lib/people.js';
import { organisationSettings } from '../organisations/settings.js';
import { isUuid } from '../../lib/ids.js';
import { londonDate } from '../../domain/uk-time.js';
import { getBudgetRow, type BudgetRow } from '../budgets/service.js';
import { getContributorRow, type ContributorRow } from '../contributors/service.js';
import { reverseTransaction } from '../ledger/service.js';
import { assertStillOwed, chargeBudget } from './charge.js';
import { loadForDecision, type DecisionContext } from './load.js';

/** Both tables carry the lifecycle's columns under the same names. */
type WorkTable = typeof timeEntries | typeof expenses;
type TimeEntryRow = typeof timeEntries.$inferSelect;
type WorkRow = TimeEntryRow | typeof expenses.$inferSelect;
/** The columns a new record of a kind is inserted with. */
type NewWork<Row extends WorkRow> = Omit<
  Row extends TimeEntryRow ? typeof timeEntries.$inferInsert : typeof expenses.$inferInsert,
  'organisationId'
>;

/** What the lifecycle needs to know about one kind of approvable work. */
export interface WorkKind<Row extends WorkRow, View> {
  table: WorkTable;
  /** As the record is named in messages: "time entry", "expense". */
  noun: string;
  entityType: 'time_entry' | 'expense';
  component: Component;
  view(row: Row): View;
  /** The detail of the 409 when reversing work that is not approved. */
  notReversible(status: EntryStatus): string;
}

/** Who acts on work, for which organisation, and when. */
export interface WorkContext {
  organisationId: string;
  principal: Principal;
  actor: Actor;
  now: Date;
}

/** Errors: invalid_state (409) when the record is not in the state the action needs. */
export function assertStatus(what: string, actual: string, expected: string): void {
  if (actual !== expected) throw new AppError('invalid_state', `The ${what} is ${actual}, not ${expected}.`);
}

/** Nobody approves their own work. Errors: self_approval_forbidden (403). */
export function assertNotSelf(principal: Principal, contributorId: string): void {
  if (principal.contributorId === contributorId) {
    throw new AppError('self_approval_forbidden', 'You cannot approve or reject your own time or expenses.');
  }
}

/**
 * Where the organisation asks for it (settings.timeApprovalBySecondPerson), time is approved by
 * a person other than the one who submitted it, counting an API token as its maker. Errors:
 * self_approval_forbidden.
 */
async function assertSecondPersonIfRequired(tx: Db, organisationId: string, actor: Actor, work: WorkRow, required?: boolean): Promise<void> {
  if (!(required ?? (await organisationSettings(tx, organisationId)).timeApprovalBySecondPerson)) return;
  const submitter = await personBehind(tx, organisationId, work.submittedBy);
  const approver = await personBehind(tx, organisationId, actor.id);
  if (work.submittedBy === actor.id || (approver !== null && approver === submitter)) {
    throw new AppError('self_approval_forbidden', 'This organisation asks for time to be approved by someone other than the person who recorded it.');
  }
}

/** A participant records work only for themselves. Errors: forbidden. */
export function assertMayRecordFor(principal: Principal, contributorId: string): void {
  if (principal.role === 'participant' && principal.contributorId !== contributorId) {
    throw new AppError('forbidden', 'A participant may record time only for themselves.');
  }
}

/** Work is dated inside its budget's dates. Errors: outside_budget_period (422). */
export function assertInBudgetPeriod(budget: BudgetRow, date: string): void {
  if (date < budget.startsOn || date > budget.endsOn) {
    throw new AppError(
      'outside_budget_period',
      `${date} is outside the budget "${budget.name}", which runs from ${budget.startsOn} to ${budget.endsOn}.`,
    );
  }
}

const byId = (table: WorkTable, organisationId: string, id: string) => and(eq(table.organisationId, organisationId), eq(table.id, id));

/** One record, or not_found (also for another organisation's id or a malformed one). */
async function findWork<Row extends WorkRow>(db: Db, kind: WorkKind<Row, unknown>, organisationId: string, id: string, forUpdate: boolean) {
  const notThere = () => notFound(`The ${kind.noun}`);
  if (!isUuid(id)) throw notThere();
  const query = db.select().from(kind.table).where(byId(kind.table, organisationId, id));
  const [row] = forUpdate ? await query.for('update') : await query;
  if (!row) throw notThere();
  return row as Row;
}

/** Writes `values` to a record and records the change, returning the new view. */
async function changeWork<Row extends WorkRow, View>(
  tx: Db,
  kind: WorkKind<Row, View>,
  organisationId: string,
  actor: Actor,
  before: Row,
  action: string,
  values: Partial<Row>,
): Promise<View> {
  const row = await updateReturning(tx, kind.table as typeof timeEntries, organisationId, before.id, values as never);
  const view = kind.view(row as Row);
  await recordAudit(tx, organisationId, actor, {
    action: `${kind.entityType}.${action}`,
    entityType: kind.entityType,
    entityId: before.id,
    before: kind.view(before),
    after: view,
  });
  return view;
}

/**
 * Inserts submitted work and records it, in the caller's transaction. It is stamped with the
 * service's clock (`now`), not the database's, so how long work waits is measured on one clock.
 */
export async function insertWork<Row extends WorkRow, View>(
  tx: Db,
  kind: WorkKind<Row, View>,
  organisationId: string,
  actor: Actor,
  values: NewWork<Row>,
  now: Date,
): Promise<View> {
  // `values` was checked against this kind's own table above; drizzle cannot see that through the union.
  const row = await insertReturning(tx, kind.table as typeof timeEntries, { ...values, organisationId, createdAt: now } as never);
  const view = kind.view(row as Row);
  await recordAudit(tx, organisationId, actor, {
    action: `${kind.entityType}.submitted`,
    entityType: kind.entityType,
    entityId: (row as Row).id,
    after: view,
  });
  return view;
}

/** What approving one record costs and what else it records, decided under its locks. */
export interface Approval<Row extends WorkRow> {
  /** What becomes owed (0 commits nothing and posts no transaction). */
  amount: number;
  /** Columns the approval sets besides status, decider and ledger transaction. */
  values?: Partial<Row>;
  /**
   * What else approving does once the record is approved, in the same transaction (telling the
   * contributor, say), so it happens if and only if the approval commits.
   */
  afterwards?: (tx: Db) => Promise<unknown>;
}

/**
 * Approves submitted work: under lock, `decide` says what it is worth now (and may refuse),
 * then the amount moves from the budget to what the contributor is owed and the record is
 * approved, then whatever else the approval does (`afterwards`). Errors: not_found,
 * invalid_state (not submitted), self_approval_forbidden, budget_exceeded, and whatever
 * `decide` or `afterwards` throws.
 */
export async function approveWork<Row extends WorkRow, View>(
  db: Db,
  kind: WorkKind<Row, View>,
  { organisationId, principal, actor, now }: WorkContext,
  id: string,
  decide: (tx: Db, work: Row, contributor: ContributorRow, budget: BudgetRow, loaded: DecisionContext<Row>) => Promise<Approval<Row>> | Approval<Row>,
): Promise<View> {
  return inTransaction(db, async (tx) => {
    // The work row and the contributor locked, with the budget, the settings and (for time) the
    // rate card, in one statement (load.ts); when nothing comes back, findWork says not_found.
    const loaded = await loadForDecision<Row>(tx, kind.table, organisationId, id);
    if (!loaded) {
      await findWork(tx, kind, organisationId, id, true);
      throw notFound(`The ${kind.noun}`);
    }
    const { work, contributor, budget } = loaded;
    assertStatus(kind.noun, work.status, 'submitted');
    assertNotSelf(principal, work.contributorId);
    if (kind.entityType === 'time_entry') await assertSecondPersonIfRequired(tx, organisationId, actor, work, loaded.settings.timeApprovalBySecondPerson);
    const approval = await decide(tx, work, contributor, budget, loaded);
    const charge =
      approval.amount > 0
        ? await chargeBudget(tx, organisationId, {
            budget,
            contributorId: contributor.id,
            component: kind.component,
            amount: approval.amount,
            referenceType: kind.entityType,
            referenceId: work.id,
            effectiveDate: work.date,
            createdBy: actor.id,
          })
        : null;
    // The ledger's statement is on its way; the work's update goes right behind it, in the same
    // round trip, and both are awaited (the ledger's error, if any, is the one seen).
    const [, view] = await allAnswered([
      charge?.written,
      changeWork(tx, kind, organisationId, actor, work, 'approved', {
        ...approval.values,
        contributorKind: contributor.kind,
        status: 'approved',
        decidedBy: actor.id,
        decidedAt: now,
        ledgerTransactionId: charge?.transactionId ?? null,
      } as Partial<Row>),
    ]);
    await approval.afterwards?.(tx);
    return view;
  });
}

/** Rejects submitted work with a reason. Errors: not_found, invalid_state, self_approval_forbidden. */
export async function rejectWork<Row extends WorkRow, View>(
  db: Db,
  kind: WorkKind<Row, View>,
  { organisationId, principal, actor, now }: WorkContext,
  id: string,
  reason: string,
): Promise<View> {
  return inTransaction(db, async (tx) => {
    const work = await findWork(tx, kind, organisationId, id, true);
    assertStatus(kind.noun, work.status, 'submitted');
    assertNotSelf(principal, work.contributorId);
    return changeWork(tx, kind, organisationId, actor, work, 'rejected', {
      status: 'rejected',
      rejectionReason: reason,
      decidedBy: actor.id,
      decidedAt: now,
    } as Partial<Row>);
  });
}

/**
 * Reverses approved work whose money has not left: posts the reversing transaction (owed back
 * to the budget) and marks the record reversed. Errors: not_found, invalid_state (not
 * approved), already_paid (the money is in a payout or paid).
 */
export async function reverseWork<Row extends WorkRow, View>(
  db: Db,
  kind: WorkKind<Row, View>,
  { organisationId, actor, now }: WorkContext,
  id: string,
  reason: string,
): Promise<View> {
  return inTransaction(db, async (tx) => {
    const work = await findWork(tx, kind, organisationId, id, true);
    if (work.status !== 'approved') throw new AppError('invalid_state', kind.notReversible(work.status));
    await getContributorRow(tx, organisationId, work.contributorId, true);
    const budget = await getBudgetRow(tx, organisationId, work.budgetId);
    await assertStillOwed(tx, organisationId, {
      budget,
      contributorId: work.contributorId,
      component: kind.component,
      amount: work.amount,
      payoutItemId: work.payoutItemId,
      workType: kind.entityType,
      workId: work.id,
    });
    const reversalTransactionId = work.ledgerTransactionId
      ? await reverseTransaction(tx, organisationId, work.ledgerTransactionId, {
          type: `${kind.entityType}_reversal`,
          referenceType: kind.entityType,
          referenceId: work.id,
          effectiveDate: londonDate(now),
          description: reason,
          createdBy: actor.id,
        })
      : null;
    return changeWork(tx, kind, organisationId, actor, work, 'reversed', {
      status: 'reversed',
      reversalReason: reason,
      reversedBy: actor.id,
      reversedAt: now,
      reversalTransactionId,
    } as Partial<Row>);
  });
}

export async function getWork<Row extends WorkRow, View>(db: Db, kind: WorkKind<Row, View>, organisationId: string, id: string): Promise<View> {
  return kind.view(await findWork(db, kind, organisationId, id, false));
}

export interface WorkFilter {
  contributorId?: string;
  budgetId?: string;
  status?: EntryStatus;
  from?: string;
  to?: string;
}

/** A page of records in id order, one more than `limit` so the caller knows if there is more. */
export async function listWork<Row extends WorkRow, View>(
  db: Db,
  kind: WorkKind<Row, View>,
  organisationId: string,
  filter: WorkFilter,
  limit: number,
  afterId?: string,
): Promise<View[]> {
  const { table } = kind;
  const conditions: SQL[] = [eq(table.organisationId, organisationId)];
  if (filter.contributorId) {
    if (!isUuid(filter.contributorId)) return [];
    conditions.push(eq(table.contributorId, filter.contributorId));
  }
  if (filter.budgetId) {
    if (!isUuid(filter.budgetId)) return [];
    conditions.push(eq(table.budgetId, filter.budgetId));
  }
  if (filter.status) conditions.push(eq(table.status, filter.status));
  if (filter.from) conditions.push(sql`${table.date} >= ${filter.from}`);
  if (filter.to) conditions.push(sql`${table.date} <= ${filter.to}`);
  if (afterId) conditions.push(gt(table.id, afterId));
  const rows = await db.select().from(table).where(and(...conditions)).orderBy(asc(table.id)).limit(limit + 1);
  return (rows as Row[]).map((row) => kind.view(row));
}
