/**
 * Subject access (UK GDPR art. 15): everything held about one contributor, as one JSON
 * document. The same document whether an admin asks for it or the person downloads their own.
 */
import { and, asc, eq, inArray, or } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { apiTokens, auditEvents, expenses, notifications, organisations, payoutItems, timeEntries, users } from '../../db/schema.js';
import { ukTaxYear } from '../../domain/earnings-period.js';
import { londonDate } from '../../domain/uk-time.js';
import { auditEventColumns, auditEventResponse, toAuditEventResponse } from '../audit/views.js';
import { contributorBalances } from '../balances/service.js';
import { loadLimitVersions } from '../contributors/earnings-limits.js';
import { earningsLimitVersionResponse } from '../contributors/schemas.js';
import { contributorResponseOn, getContributorRow, ofContributor } from '../contributors/service.js';
import { contributorResponse } from '../contributors/views.js';
import { expenseResponse, toExpenseResponse } from '../expenses/views.js';
import { payoutItemResponse, toPayoutItemResponse } from '../payouts/views.js';
import { timeEntryResponse, toTimeEntryResponse } from '../time-entries/views.js';
import { retentionOf, retentionView } from './retention.js';

const money = z.number().int();
const buckets = z.object({ owed: money, inTransit: money, paid: money });

export const personalDataExport = z.object({
  exportedAt: z.iso.datetime(),
  organisation: z.object({ id: z.string(), name: z.string() }),
  contributor: contributorResponse,
  earningsLimits: z.array(earningsLimitVersionResponse),
  logins: z
    .array(
      z.object({
        id: z.string(),
        name: z.string(),
        email: z.string(),
        role: z.string(),
        disabled: z.boolean(),
        notificationPreferences: z.record(z.string(), z.boolean()),
        createdAt: z.iso.datetime(),
        apiTokens: z.array(z.object({ id: z.string(), name: z.string(), createdAt: z.iso.datetime(), lastUsedAt: z.iso.datetime().nullable(), revoked: z.boolean() })),
      }),
    )
    .describe('Log-ins linked to the person, and the API tokens they made (never the tokens themselves)'),
  timeEntries: z.array(timeEntryResponse),
  expenses: z.array(expenseResponse),
  payouts: z.array(payoutItemResponse.extend({ stripeAccountId: z.string().nullable() })),
  balances: z.array(buckets.extend({ currency: z.string(), earnings: buckets, expenses: buckets })),
  taxYears: z
    .array(z.object({ taxYear: z.string(), currency: z.string(), earningsPaid: money, expensesPaid: money }))
    .describe('Money received per UK tax year, by the Europe/London payment date'),
  notifications: z.array(
    z.object({
      id: z.string(),
      kind: z.string(),
      status: z.string(),
      toAddress: z.string(),
      createdAt: z.iso.datetime(),
      sentAt: z.iso.datetime().nullable(),
    }),
  ),
  auditEvents: z.array(auditEventResponse).describe('Changes recorded about the person, their log-ins, their work and their payments (ids only)'),
  retention: retentionView,
});
export type PersonalDataExport = z.infer<typeof personalDataExport>;

/** Errors: not_found. */
export async function exportContributor(db: Db, organisationId: string, contributorId: string, now: Date, retentionYears: number): Promise<PersonalDataExport> {
  const row = await getContributorRow(db, organisationId, contributorId);
  const ofThem = (table: typeof timeEntries | typeof expenses | typeof payoutItems) => ofContributor(table, organisationId, contributorId);

  const [organisation] = await db.select({ id: organisations.id, name: organisations.name }).from(organisations).where(eq(organisations.id, organisationId));
  const logins = await db.select().from(users).where(and(eq(users.organisationId, organisationId), eq(users.contributorId, contributorId))).orderBy(asc(users.createdAt));
  const userIds = logins.map((u) => u.id);
  const tokens = userIds.length
    ? await db.select().from(apiTokens).where(and(eq(apiTokens.organisationId, organisationId), inArray(apiTokens.createdBy, userIds))).orderBy(asc(apiTokens.createdAt))
    : [];
  const entries = await db.select().from(timeEntries).where(ofThem(timeEntries)).orderBy(asc(timeEntries.date), asc(timeEntries.createdAt));
  const expenseRows = await db.select().from(expenses).where(ofThem(expenses)).orderBy(asc(expenses.date), asc(expenses.createdAt));
  const items = await db.select().from(payoutItems).where(ofThem(payoutItems)).orderBy(asc(payoutItems.createdAt));
  const mail = await db
    .select()
    .from(notifications)
    .where(
      and(
        eq(notifications.organisationId, organisationId),
        userIds.length ? or(eq(notifications.contributorId, contributorId), inArray(notifications.userId, userIds)) : eq(notifications.contributorId, contributorId),
      ),
    )
    .orderBy(asc(notifications.createdAt));

  const entityIds = [contributorId, ...userIds, ...entries.map((e) => e.id), ...expenseRows.map((e) => e.id), ...items.map((i) => i.id)];
  const audit = await db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, organisationId), inArray(auditEvents.entityId, entityIds)))
    .orderBy(asc(auditEvents.createdAt), asc(auditEvents.id));

  const today = londonDate(now);
  const taxYears = new Map<string, { taxYear: string; currency: string; earningsPaid: number; expensesPaid: number }>();
  for (const item of items) {
    if (item.status !== 'paid' || !item.paymentDate) continue;
    const label = ukTaxYear(item.paymentDate).label;
    const key = `${label} ${item.currency}`;
    const year = taxYears.get(key) ?? { taxYear: label, currency: item.currency, earningsPaid: 0, expensesPaid: 0 };
    year.earningsPaid += item.earnings;
    year.expensesPaid += item.expenses;
    taxYears.set(key, year);
  }

  return {
    exportedAt: now.toISOString(),
    organisation: organisation!,
    contributor: await contributorResponseOn(db, organisationId, row, today),
    earningsLimits: (await loadLimitVersions(db, organisationId, [contributorId])).get(contributorId) ?? [],
    logins: logins.map((user) => ({
      id: user.id,
      name: user.name,
      email: user.email,
      role: user.role,
      disabled: user.disabledAt !== null,
      notificationPreferences: user.notificationPreferences as Record<string, boolean>,
      createdAt: user.createdAt.toISOString(),
      apiTokens: tokens
        .filter((t) => t.createdBy === user.id)
        .map((t) => ({
          id: t.id,
          name: t.name,
          createdAt: t.createdAt.toISOString(),
          lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
          revoked: t.revokedAt !== null,
        })),
    })),
    timeEntries: entries.map(toTimeEntryResponse),
    expenses: expenseRows.map(toExpenseResponse),
    payouts: items.map((item) => ({ ...toPayoutItemResponse(item), stripeAccountId: item.stripeAccountId })),
    balances: await contributorBalances(db, organisationId, contributorId),
    taxYears: [...taxYears.values()].sort((a, b) => a.taxYear.localeCompare(b.taxYear) || a.currency.localeCompare(b.currency)),
    notifications: mail.map((n) => ({
      id: n.id,
      kind: n.kind,
      status: n.status,
      toAddress: n.toAddress,
      createdAt: n.createdAt.toISOString(),
      sentAt: n.sentAt?.toISOString() ?? null,
    })),
    auditEvents: audit.map(toAuditEventResponse),
    retention: await retentionOf(db, organisationId, row, retentionYears),
  };
}
