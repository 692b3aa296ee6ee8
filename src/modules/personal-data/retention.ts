/**
 * How long a contributor's records are kept. HMRC asks businesses to keep payment records for
 * six years, so the default (RETENTION_YEARS) is six years after the person's last activity:
 * the latest of their last payment, their last work or expense, and the day they were added.
 * Nothing is deleted automatically: `npm run cli -- retention` lists the people past it, and an
 * admin decides (erasure is POST /v1/contributors/{id}/erase).
 */
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { contributors, expenses, payoutItems, timeEntries } from '../../db/schema.js';
import { addDays, type IsoDate } from '../../domain/earnings-period.js';
import { londonDate } from '../../domain/uk-time.js';
import type { ContributorRow } from '../contributors/service.js';

export const retentionView = z.object({
  lastActivity: z.iso.date().describe('The latest of their last payment, last work or expense, and the day they were added (Europe/London)'),
  keepUntil: z.iso.date().describe('lastActivity plus the retention period (RETENTION_YEARS, six by default)'),
  years: z.number().int(),
});
export type RetentionView = z.infer<typeof retentionView>;

/** The same calendar day `years` later (29 February becomes 28 February). */
export function yearsAfter(date: IsoDate, years: number): IsoDate {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const target = `${String(y + years).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
  // 29 February in a year without one: the day before 1 March.
  return m === 2 && d === 29 && !isLeap(y + years) ? addDays(`${String(y + years).padStart(4, '0')}-03-01`, -1) : target;
}
const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/**
 * The last activity of contributors, per contributor, as a Europe/London date: one statement over
 * the payment, work and expense tables.
 */
const lastActivity = sql<string>`greatest(
  (${contributors.createdAt} at time zone 'Europe/London')::date,
  (select max(${payoutItems.paymentDate}) from ${payoutItems}
     where ${payoutItems.organisationId} = ${contributors.organisationId} and ${payoutItems.contributorId} = ${contributors.id} and ${payoutItems.status} = 'paid'),
  (select max(${timeEntries.date}) from ${timeEntries}
     where ${timeEntries.organisationId} = ${contributors.organisationId} and ${timeEntries.contributorId} = ${contributors.id}),
  (select max(${expenses.date}) from ${expenses}
     where ${expenses.organisationId} = ${contributors.organisationId} and ${expenses.contributorId} = ${contributors.id})
)::text`;

export async function retentionOf(db: Db, organisationId: string, contributor: ContributorRow, years: number): Promise<RetentionView> {
  const [row] = await db
    .select({ lastActivity })
    .from(contributors)
    .where(and(eq(contributors.organisationId, organisationId), eq(contributors.id, contributor.id)));
  const last = row?.lastActivity ?? londonDate(contributor.createdAt);
  return { lastActivity: last, keepUntil: yearsAfter(last, years), years };
}

export interface PastRetention {
  organisationId: string;
  contributorId: string;
  lastActivity: IsoDate;
  keepUntil: IsoDate;
}

/**
 * Contributors (not yet erased) whose retention period ended before `today`, oldest activity
 * first, across every organisation or one.
 */
export async function contributorsPastRetention(db: Db, years: number, today: IsoDate, organisationId?: string): Promise<PastRetention[]> {
  const rows = await db
    .select({ organisationId: contributors.organisationId, contributorId: contributors.id, lastActivity })
    .from(contributors)
    .where(and(isNull(contributors.erasedAt), organisationId ? eq(contributors.organisationId, organisationId) : undefined))
    .orderBy(asc(contributors.organisationId), asc(contributors.id));
  return rows
    .map((r) => ({ ...r, keepUntil: yearsAfter(r.lastActivity, years) }))
    .filter((r) => r.keepUntil < today)
    .sort((a, b) => a.lastActivity.localeCompare(b.lastActivity) || a.contributorId.localeCompare(b.contributorId));
}
