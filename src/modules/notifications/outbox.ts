import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { parsedJson, type Db } from '../../db/client.js';
import { contributors, notifications, users } from '../../db/schema.js';
import type { NotificationKind, Role } from '../../domain/enums.js';
import { insertJobsIn, QUEUES } from '../../jobs/queue.js';
import { newId } from '../../lib/ids.js';

/**
 * The outbox. A change that someone should hear about calls `queueNotification` inside its own
 * transaction: the message row and the job that delivers it commit with the change or not at
 * all, so a payment is never recorded without its email, nor an email sent for a change that
 * rolled back. Delivery (delivery.ts) happens later, from the job queue.
 */

/** Kinds a user gets unless they turn them off; the others only if they turn them on. */
const OFF_BY_DEFAULT: ReadonlySet<NotificationKind> = new Set(['time_awaiting_approval']);

export const isOnByDefault = (kind: NotificationKind): boolean => !OFF_BY_DEFAULT.has(kind);

/**
 * Kinds nobody can turn off: they warn that someone may be redirecting a person's money (a
 * payout account set up for them, bank details changed), and a fraudster who took over an
 * account would turn them off first; and a password reset is the person's way back in.
 */
export const ALWAYS_SENT: ReadonlySet<NotificationKind> = new Set(['payout_setup_started', 'payout_details_changed', 'password_reset']);

export const canTurnOff = (kind: NotificationKind): boolean => !ALWAYS_SENT.has(kind);

export function wantsEmail(preferences: Partial<Record<NotificationKind, boolean>>, kind: NotificationKind): boolean {
  if (ALWAYS_SENT.has(kind)) return true;
  return preferences[kind] ?? isOnByDefault(kind);
}

export interface Recipient {
  /** The user, or null for a contributor without a log-in (written to at their own email). */
  userId: string | null;
  contributorId: string | null;
  address: string;
  preferences: Partial<Record<NotificationKind, boolean>>;
}

/**
 * The people a contributor is: every user linked to them (a participant log-in, or a member of
 * staff who is also paid), or, when nobody is, the contributor's own email if there is one.
 */
export async function contributorRecipients(tx: Db, organisationId: string, contributorId: string): Promise<Recipient[]> {
  const [row] = await tx
    .select({ email: contributors.email, logins: contributorLogins })
    .from(contributors)
    .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributorId)));
  return row ? recipientsOf(contributorId, row.email, parsedJson<ContributorLogin[]>(row.logins)) : [];
}

/**
 * The log-ins linked to the contributor of the row being read (a column over `contributors`), as
 * recipientsOf takes them: contributorRecipients reads it alone, an approval with its entry. The
 * outer columns are named with their table in the text: drizzle leaves them unqualified in a
 * query over one table, where inside this subquery they would mean the user's own columns.
 */
export const contributorLogins = sql<ContributorLogin[]>`(
  select coalesce(json_agg(json_build_object('userId', u.id, 'address', u.email, 'preferences', u.notification_preferences, 'disabled', u.disabled_at is not null) order by u.id), '[]'::json)
    from users u
   where u.organisation_id = contributors.organisation_id and u.contributor_id = contributors.id)`;

/** A log-in linked to a contributor, as contributorRecipients and the approval's read give it. */
export interface ContributorLogin {
  userId: string;
  address: string;
  preferences: Partial<Record<NotificationKind, boolean>>;
  disabled: boolean;
}

/** Who hears about a contributor, from their own email and their log-ins (see contributorRecipients). */
export function recipientsOf(contributorId: string, contributorEmail: string | null, logins: ContributorLogin[]): Recipient[] {
  const linked = logins.filter((l) => !l.disabled);
  if (linked.length) return linked.map((u) => ({ userId: u.userId, address: u.address, preferences: u.preferences, contributorId }));
  // A disabled log-in is not a reason to fall back to the contributor's own address: only
  // a contributor who never had one is written to there.
  if (logins.length) return [];
  return contributorEmail ? [{ userId: null, contributorId, address: contributorEmail, preferences: {} }] : [];
}

/** Every user with one of the roles (finance users, say), except those named. */
export async function staffRecipients(tx: Db, organisationId: string, roles: Role[], except: (string | null)[] = []): Promise<Recipient[]> {
  const staff = await tx
    .select({ userId: users.id, address: users.email, preferences: users.notificationPreferences })
    .from(users)
    .where(and(eq(users.organisationId, organisationId), inArray(users.role, roles), isNull(users.disabledAt)));
  return staff.filter((u) => !except.includes(u.userId)).map((u) => ({ ...u, contributorId: null }));
}

export interface NotificationRequest {
  kind: NotificationKind;
  recipients: Recipient[];
  /** The page the message links to, as a path: `/my/statement`. */
  link: string;
  /** What the message says beyond its kind: amounts, dates, counts, ids. Never names. */
  data: Record<string, unknown>;
  /** What the message is about; with the recipient, it is queued at most once. */
  about: string;
  /** The contributor the message is about, when it is about one (for their data export). */
  contributorId?: string | null;
}

/**
 * Queues one message per recipient who wants this kind (in the caller's transaction) with a
 * delivery job for each. Queuing the same `about` for the same recipient again does nothing.
 */
export async function queueNotification(tx: Db, organisationId: string, request: NotificationRequest, now: Date): Promise<string[]> {
  const rows = request.recipients
    .filter((r) => wantsEmail(r.preferences, request.kind))
    .map((r) => ({
      organisationId,
      id: newId(),
      userId: r.userId,
      contributorId: request.contributorId ?? r.contributorId,
      kind: request.kind,
      toAddress: r.address,
      link: request.link,
      data: request.data,
      dedupeKey: `${request.kind}:${request.about}:${r.userId ?? `contributor:${r.contributorId}`}`,
      createdAt: now,
    }));
  if (!rows.length) return [];
  const inserted = await tx
    .insert(notifications)
    .values(rows)
    .onConflictDoNothing({ target: [notifications.organisationId, notifications.dedupeKey] })
    .returning({ id: notifications.id });
  await insertJobsIn(
    tx,
    QUEUES.deliverNotification,
    inserted.map(({ id }) => ({ id, data: { organisationId, notificationId: id } })),
  );
  return inserted.map(({ id }) => id);
}
