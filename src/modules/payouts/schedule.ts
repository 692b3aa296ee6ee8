import { and, asc, eq, gt } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../../db/client.js';
import { ledgerAccounts, payoutRuns, payoutSchedules, payoutScheduleSlots } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { systemActor, type Actor } from '../../domain/actor.js';
import { payoutMethods, type PayoutMethod } from '../../domain/enums.js';
import { dueSlot } from '../../domain/payout-schedule.js';
import { notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { queueNotification, staffRecipients } from '../notifications/outbox.js';
import { toPayoutScheduleResponse, type PayoutScheduleInput, type PayoutScheduleResponse } from './schedule-views.js';
import { draftPayoutRun } from './service.js';
import type { PayoutRunResponse } from './views.js';

/**
 * Payout schedules: an organisation says "draft a run of everything owed every day at 14:00"
 * (or every Tuesday at 09:30, UK time), and the job queue does, once per slot, and tells the
 * finance users a run waits for their approval. Nothing is paid until one of them approves it.
 */

type ScheduleRow = typeof payoutSchedules.$inferSelect;

/**
 * The creator recorded on a scheduled run. docs/api-guide.md promises `system`, and `created_by`
 * is what the API shows as `createdBy`; it is no person's id, so the four-eyes rule (approver ≠
 * creator) lets any one finance user approve the run.
 */
const SCHEDULED_RUN_CREATOR: Actor = systemActor('system');
/** Who the audit log says handled a slot: the schedule, naming the runs it drafted. */
const SCHEDULE_ACTOR: Actor = systemActor('payout-schedule');

const findSchedule = async (db: Db, organisationId: string) =>
  (await db.select().from(payoutSchedules).where(eq(payoutSchedules.organisationId, organisationId)))[0];

/** The schedule, with its next slot after `now`. Errors: not_found (there is none: scheduling is off). */
export async function getPayoutSchedule(db: Db, organisationId: string, now: Date): Promise<PayoutScheduleResponse> {
  const row = await findSchedule(db, organisationId);
  if (!row) throw notFound('A payout schedule');
  return toPayoutScheduleResponse(row, now);
}

/** Methods once each, in the enum's order, so the same choice always compares equal. */
const normaliseMethods = (methods: PayoutMethod[] | undefined): PayoutMethod[] | null =>
  methods ? payoutMethods.filter((m) => methods.includes(m)) : null;

/**
 * Sets (or replaces) the organisation's schedule. Its `updatedAt` becomes `now`, and slots
 * before that never draft: a schedule set at 15:00 for 14:00 first drafts tomorrow. Setting the
 * schedule it already has changes nothing (not even `updatedAt`), so a repeated PUT cannot
 * drop a slot that is due but not yet drafted.
 */
export async function setPayoutSchedule(
  db: Db,
  organisationId: string,
  actor: Actor,
  input: PayoutScheduleInput,
  now: Date,
): Promise<PayoutScheduleResponse> {
  return inTransaction(db, async (tx) => {
    const [existing] = await tx.select().from(payoutSchedules).where(eq(payoutSchedules.organisationId, organisationId)).for('update');
    const wanted = { cadence: input.cadence, weekday: input.weekday ?? null, time: input.time, methods: normaliseMethods(input.methods) };
    if (existing && sameTiming(existing, wanted)) return toPayoutScheduleResponse(existing, now);
    const values = { ...wanted, updatedBy: actor.id ?? actor.type, updatedAt: now };
    const [row] = await tx
      .insert(payoutSchedules)
      .values({ organisationId, ...values, createdAt: now })
      .onConflictDoUpdate({ target: payoutSchedules.organisationId, set: values })
      .returning();
    const view = toPayoutScheduleResponse(row!, now);
    await recordAudit(tx, organisationId, actor, {
      action: 'payout_schedule.set',
      entityType: 'payout_schedule',
      entityId: organisationId,
      before: existing ? toPayoutScheduleResponse(existing, now) : null,
      after: view,
    });
    return view;
  });
}

function sameTiming(row: ScheduleRow, wanted: Pick<ScheduleRow, 'cadence' | 'weekday' | 'time' | 'methods'>): boolean {
  return (
    row.cadence === wanted.cadence &&
    row.weekday === wanted.weekday &&
    row.time === wanted.time &&
    JSON.stringify(row.methods ?? null) === JSON.stringify(wanted.methods)
  );
}

/**
 * Switches scheduling off. Runs it already drafted stay as they are. Deleting when there is no
 * schedule is not an error (it is off either way) and records nothing.
 */
export async function deletePayoutSchedule(db: Db, organisationId: string, actor: Actor, now: Date): Promise<void> {
  await inTransaction(db, async (tx) => {
    const [removed] = await tx.delete(payoutSchedules).where(eq(payoutSchedules.organisationId, organisationId)).returning();
    if (!removed) return;
    await recordAudit(tx, organisationId, actor, {
      action: 'payout_schedule.deleted',
      entityType: 'payout_schedule',
      entityId: organisationId,
      before: toPayoutScheduleResponse(removed, now),
    });
  });
}

/**
 * Drafts, for every organisation whose payout schedule has a slot due at or before `now` that
 * was not yet handled, the runs of everything owed (creator `system`), once per slot.
 * Returns the ids of the runs drafted.
 *
 * pg-boss's cron calls this every minute on every instance (and once at start): each slot is
 * claimed by inserting its row in payout_schedule_slots in the transaction that drafts its runs,
 * so however many callers reach a slot, one drafts it and the others find the row and stop; a
 * caller that fails rolls its claim back and the next minute tries again. One organisation's
 * failure is logged and does not stop the others.
 */
export async function runDueSchedules(db: Db, now: Date, log?: FastifyBaseLogger): Promise<string[]> {
  const schedules = await db.select({ organisationId: payoutSchedules.organisationId }).from(payoutSchedules).orderBy(asc(payoutSchedules.organisationId));
  const drafted: string[] = [];
  for (const { organisationId } of schedules) {
    try {
      drafted.push(...(await runDueSchedule(db, organisationId, now, log)));
    } catch (error) {
      // One organisation's failure does not stop the others; its slot is tried next minute.
      log?.error({ err: error, organisationId }, 'payout schedule slot failed; retried next minute');
    }
  }
  return drafted;
}

/**
 * One organisation's schedule: drafts its due slot's runs, once (see runDueSchedules). Returns
 * the ids of the runs drafted; none when no slot is due, it was handled, or nothing is owed.
 */
export async function runDueSchedule(db: Db, organisationId: string, now: Date, log?: FastifyBaseLogger): Promise<string[]> {
  const [schedule] = await db.select().from(payoutSchedules).where(eq(payoutSchedules.organisationId, organisationId));
  const slot = schedule ? dueSlot(schedule, now) : null;
  if (!slot || (await slotHandled(db, organisationId, slot))) return [];
  const outcome = await inTransaction(db, (tx) => draftSlot(tx, organisationId, now));
  if (!outcome) return [];
  log?.info(
    {
      organisationId,
      slot: outcome.slot.toISOString(),
      runs: outcome.runs.length,
      items: outcome.runs.reduce((n, r) => n + r.items.length, 0),
      totals: outcome.runs.map((r) => ({ currency: r.currency, total: r.total, items: r.items.length })),
      waiting: outcome.waiting,
    },
    outcome.runs.length ? 'payout schedule drafted runs awaiting approval' : 'payout schedule slot: nothing to draft',
  );
  return outcome.runs.map((r) => r.id);
}

async function slotHandled(db: Db, organisationId: string, slot: Date): Promise<boolean> {
  const [row] = await db
    .select({ slot: payoutScheduleSlots.slot })
    .from(payoutScheduleSlots)
    .where(and(eq(payoutScheduleSlots.organisationId, organisationId), eq(payoutScheduleSlots.slot, slot)));
  return Boolean(row);
}

interface SlotOutcome {
  slot: Date;
  runs: PayoutRunResponse[];
  /** Currencies left out because the schedule's earlier run in them still waits for approval. */
  waiting: { currency: string; runId: string }[];
}

/**
 * Handles the organisation's due slot in the caller's transaction, or returns null when another
 * caller has (or there is no longer a schedule or a due slot). The schedule row is locked first,
 * so a PUT or DELETE at the same moment waits for the slot (or the slot sees its result).
 */
async function draftSlot(tx: Db, organisationId: string, now: Date): Promise<SlotOutcome | null> {
  const [schedule] = await tx.select().from(payoutSchedules).where(eq(payoutSchedules.organisationId, organisationId)).for('update');
  const slot = schedule && dueSlot(schedule, now);
  if (!slot) return null;
  const [claimed] = await tx
    .insert(payoutScheduleSlots)
    .values({ organisationId, slot, runIds: [], createdAt: now })
    .onConflictDoNothing()
    .returning({ slot: payoutScheduleSlots.slot });
  if (!claimed) return null;

  const runs: PayoutRunResponse[] = [];
  const waiting: SlotOutcome['waiting'] = [];
  const methods = (schedule.methods as PayoutMethod[] | null) ?? undefined;
  for (const currency of await owedCurrencies(tx, organisationId)) {
    // A scheduled run still waiting for approval holds the same owed money: a second draft of it
    // could not also be approved (the first approval changes what is owed), so this currency
    // waits for the next slot after that run is approved or canceled.
    const pending = await pendingScheduledRun(tx, organisationId, currency);
    if (pending) {
      waiting.push({ currency, runId: pending });
      continue;
    }
    const run = await draftKeepingOnlyItems(tx, organisationId, { currency, methods }, now);
    if (run) runs.push(run);
  }

  await tx
    .update(payoutScheduleSlots)
    .set({ runIds: runs.map((r) => r.id) })
    .where(and(eq(payoutScheduleSlots.organisationId, organisationId), eq(payoutScheduleSlots.slot, slot)));
  if (runs.length) {
    const financeUsers = await staffRecipients(tx, organisationId, ['finance']);
    for (const run of runs) {
      await queueNotification(
        tx,
        organisationId,
        {
          kind: 'run_awaiting_approval',
          recipients: financeUsers,
          link: `/finance/runs/${run.id}`,
          data: { runId: run.id, total: run.total, currency: run.currency, items: run.items.length, scheduled: true },
          about: `run:${run.id}`,
        },
        now,
      );
    }
  }
  await recordAudit(tx, organisationId, SCHEDULE_ACTOR, {
    action: 'payout_schedule.slot_handled',
    entityType: 'payout_schedule',
    entityId: organisationId,
    after: { slot: slot.toISOString(), runIds: runs.map((r) => r.id), waitingFor: waiting.map((w) => w.runId) },
  });
  return { slot, runs, waiting };
}

/** The currencies in which anyone in the organisation is owed something, in order. */
async function owedCurrencies(tx: Db, organisationId: string): Promise<string[]> {
  const rows = await tx
    .selectDistinct({ currency: ledgerAccounts.currency })
    .from(ledgerAccounts)
    .where(and(eq(ledgerAccounts.organisationId, organisationId), eq(ledgerAccounts.type, 'contributor_owed'), gt(ledgerAccounts.balance, 0)))
    .orderBy(asc(ledgerAccounts.currency));
  return rows.map((r) => r.currency);
}

async function pendingScheduledRun(tx: Db, organisationId: string, currency: string): Promise<string | null> {
  const [run] = await tx
    .select({ id: payoutRuns.id })
    .from(payoutRuns)
    .where(and(eq(payoutRuns.organisationId, organisationId), eq(payoutRuns.currency, currency), eq(payoutRuns.status, 'draft'), eq(payoutRuns.createdBy, SCHEDULED_RUN_CREATOR.id!)))
    .limit(1);
  return run?.id ?? null;
}

/** Thrown inside the savepoint to undo a draft that pays nobody. */
class EmptyRun extends Error {}

/**
 * Drafts a run, but keeps it only if it pays someone: money can be owed and still not be
 * payable (everyone owed is held by an earnings limit, waits for a Stripe account, or uses a
 * method the schedule leaves out), and finance should not be asked to approve a run of nothing.
 * The draft is made in a savepoint, so an empty one leaves no row and no audit event behind.
 */
async function draftKeepingOnlyItems(
  tx: Db,
  organisationId: string,
  input: { currency: string; methods?: PayoutMethod[] },
  now: Date,
): Promise<PayoutRunResponse | null> {
  try {
    return await tx.transaction(async (savepoint) => {
      const run = await draftPayoutRun(savepoint, organisationId, SCHEDULED_RUN_CREATOR, input, now);
      if (!run.items.length) throw new EmptyRun();
      return run;
    });
  } catch (error) {
    if (error instanceof EmptyRun) return null;
    throw error;
  }
}
