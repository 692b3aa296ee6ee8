import { and, eq, inArray, sql } from 'drizzle-orm';
import { queryRows, type Db } from '../../db/client.js';
import { users } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { londonDate } from '../../domain/uk-time.js';
import { toSafeNumber } from '../../domain/money.js';
import { DEFAULT_SUBMITTED_TIME_REMINDER_DAYS } from '../organisations/settings.js';
import { queueNotification, staffRecipients, type NotificationRequest } from './outbox.js';

/**
 * The daily reminders (the job queue runs this at 08:00 Europe/London), so nothing waits
 * unnoticed between the people who must act on it:
 *
 * - Coordinators who turned `time_awaiting_approval` on (it is off by default) get one digest
 *   a day of how many time entries were submitted more than the organisation's
 *   `submittedTimeReminderDays` ago (default 3) and still wait for approval; none when there
 *   are none. Only coordinators: they approve time day to day (admins cannot approve it, and
 *   finance hears about runs instead).
 * - Finance users get a reminder (`run_awaiting_approval` with `reminder: true`) of each draft
 *   run with something to pay drafted more than a day ago, once a day while it waits; not the
 *   person who drafted it nor anyone it pays, who may not approve it.
 *
 * Each message is about the day (`digest:<date>`, `reminder:<run>:<date>`, the Europe/London
 * date of `now`), so a second run on the same day, on this or another instance, queues nothing.
 * Each message is queued in its own transaction: one that fails leaves the others queued, and
 * the job fails after trying them all, so its retry queues only what is missing.
 */
export async function sendReminders(
  db: Db,
  now: Date,
  /** The outbox to queue into; a test passes one that fails for some organisations. */
  outbox: { queueNotification: typeof queueNotification } = { queueNotification },
): Promise<{ digests: number; runReminders: number }> {
  const today = londonDate(now);
  const failures: unknown[] = [];
  /** Queues one reminder in its own transaction; a failure is kept and the rest go on. */
  const queue = async (organisationId: string, request: (tx: Db) => Promise<NotificationRequest>): Promise<number> => {
    try {
      return (await inTransaction(db, async (tx) => outbox.queueNotification(tx, organisationId, await request(tx), now))).length;
    } catch (error) {
      failures.push(error);
      return 0;
    }
  };

  let digests = 0;
  for (const waiting of await timeWaitingByOrganisation(db, now)) {
    digests += await queue(waiting.organisationId, async (tx) => ({
      kind: 'time_awaiting_approval',
      recipients: await staffRecipients(tx, waiting.organisationId, ['coordinator']),
      link: '/approvals',
      data: { count: waiting.count, days: waiting.days },
      about: `digest:${today}`,
    }));
  }
  let runReminders = 0;
  for (const run of await draftsWaiting(db, now)) {
    runReminders += await queue(run.organisationId, async (tx) => ({
      kind: 'run_awaiting_approval',
      recipients: await approversOf(tx, run),
      link: `/finance/runs/${run.id}`,
      data: {
        runId: run.id,
        total: run.total,
        currency: run.currency,
        items: run.items,
        draftedOn: londonDate(run.createdAt),
        scheduled: run.scheduled,
        reminder: true,
      },
      about: `reminder:${run.id}:${today}`,
    }));
  }
  // The job is retried; what was queued this time is not queued again.
  if (failures.length) throw new AggregateError(failures, `${failures.length} reminders could not be queued`);
  return { digests, runReminders };
}

/**
 * Per organisation with any, the time entries still submitted whose submission is more than
 * the organisation's `submittedTimeReminderDays` before `now`.
 */
async function timeWaitingByOrganisation(db: Db, now: Date) {
  const rows = await queryRows<{ organisation_id: string; days: number; count: string }>(
    db,
    sql`
    with settings as (
      select o.id, coalesce((o.settings->>'submittedTimeReminderDays')::int, ${DEFAULT_SUBMITTED_TIME_REMINDER_DAYS}) as days
        from organisations o
    )
    select s.id as organisation_id, s.days, count(*) as count
      from settings s
      join time_entries t on t.organisation_id = s.id and t.status = 'submitted'
     where t.created_at < ${now.toISOString()}::timestamptz - make_interval(days => s.days)
     group by s.id, s.days
     order by s.id`,
  );
  return rows.map((r) => ({ organisationId: r.organisation_id, days: Number(r.days), count: toSafeNumber(r.count) }));
}

/**
 * The finance users who may approve a run: not the person who drafted it (four eyes), and not
 * anyone it pays (self-approval), as when it was drafted.
 */
async function approversOf(tx: Db, run: { organisationId: string; drafter: string; payees: string[] }) {
  const finance = await staffRecipients(tx, run.organisationId, ['finance'], [run.drafter]);
  const ids = finance.map((r) => r.userId).filter((id): id is string => id !== null);
  if (!ids.length) return [];
  const linked = await tx
    .select({ id: users.id, contributorId: users.contributorId })
    .from(users)
    .where(and(eq(users.organisationId, run.organisationId), inArray(users.id, ids)));
  const payees = new Set(run.payees);
  const paidByIt = new Set(linked.filter((u) => u.contributorId && payees.has(u.contributorId)).map((u) => u.id));
  return finance.filter((r) => r.userId && !paidByIt.has(r.userId));
}

/**
 * Draft runs with something to pay, drafted more than a day before `now`, oldest first, with
 * what they would pay, who drafted them and whom they pay.
 */
async function draftsWaiting(db: Db, now: Date) {
  const rows = await queryRows<{
    organisation_id: string;
    id: string;
    drafter: string;
    payees: string[] | null;
    created_at: string | Date;
    total: string;
    currency: string;
    items: string;
    scheduled: boolean;
  }>(
    db,
    sql`
    select r.organisation_id, r.id, r.created_at, r.total, r.currency, p.items, p.payees,
           -- A run drafted with an API token was drafted by the user who made the token.
           coalesce((select k.created_by::text from api_tokens k
                      where k.organisation_id = r.organisation_id and k.id::text = r.created_by), r.created_by) as drafter,
           exists (select 1 from payout_schedule_slots s
                    where s.organisation_id = r.organisation_id and s.run_ids @> jsonb_build_array(r.id::text)) as scheduled
      from payout_runs r
      cross join lateral (
        select count(*) as items, array_agg(i.contributor_id::text) as payees
          from payout_items i where i.organisation_id = r.organisation_id and i.run_id = r.id
      ) p
     where r.status = 'draft' and r.created_at < ${now.toISOString()}::timestamptz - interval '1 day' and p.items > 0
     order by r.created_at, r.id`,
  );
  return rows.map((r) => ({
    organisationId: r.organisation_id,
    id: r.id,
    drafter: r.drafter,
    payees: r.payees ?? [],
    createdAt: new Date(r.created_at),
    total: toSafeNumber(r.total),
    currency: r.currency,
    items: toSafeNumber(r.items),
    scheduled: r.scheduled,
  }));
}
