import { z } from 'zod';
import { contributorKinds, earningsLimitPolicies, earningsPeriodKinds, paymentMethods } from '../../domain/enums.js';
import { earningsLimitPresets } from '../../domain/earnings-limit.js';
import { email, isoDate, nonEmpty, positiveAmount } from '../../lib/schemas.js';

/** A period's start day: 1–7 (Monday-based) for weeks, 1–31 for months. */
function checkStartDay(limit: { period?: 'week' | 'month' | null; periodStartDay?: number | null }, ctx: z.RefinementCtx) {
  if (!limit.period || limit.periodStartDay === undefined || limit.periodStartDay === null) return;
  const max = limit.period === 'week' ? 7 : 31;
  if (limit.periodStartDay < 1 || limit.periodStartDay > max) {
    ctx.addIssue({
      code: 'custom',
      path: ['periodStartDay'],
      message: limit.period === 'week' ? 'must be 1 (Monday) to 7 (Sunday) for a weekly limit' : 'must be 1 to 31 for a monthly limit',
    });
  }
}

/**
 * An earnings limit that protects a contributor's benefits: weekly periods start on a weekday
 * (1 = Monday … 7 = Sunday, as ESA permitted work is counted by benefit week); monthly periods
 * start on a day of the month 1–31, as Universal Credit assessment periods do (in a shorter
 * month, on its last day).
 */
export const earningsLimit = z
  .strictObject({
    period: z.enum(earningsPeriodKinds),
    amount: positiveAmount,
    periodStartDay: z.number().int(),
    policy: z.enum(earningsLimitPolicies),
  })
  .superRefine(checkStartDay);
export type EarningsLimitInput = z.infer<typeof earningsLimit>;

/**
 * A new dated version of a contributor's limit: an amount, the ESA permitted-work preset (its
 * weekly amount follows the statutory figures), or `amount: null` to end the limit.
 */
export const earningsLimitVersionBody = z.union([
  z
    .strictObject({
      effectiveFrom: isoDate,
      period: z.enum(earningsPeriodKinds),
      amount: positiveAmount,
      periodStartDay: z.number().int(),
      policy: z.enum(earningsLimitPolicies),
    })
    .superRefine(checkStartDay),
  z
    .strictObject({
      effectiveFrom: isoDate,
      preset: z.enum(earningsLimitPresets),
      periodStartDay: z.number().int(),
      policy: z.enum(earningsLimitPolicies),
    })
    .superRefine((v, ctx) => checkStartDay({ period: 'week', periodStartDay: v.periodStartDay }, ctx)),
  z.strictObject({ effectiveFrom: isoDate, amount: z.null() }),
]);
export type EarningsLimitVersionInput = z.infer<typeof earningsLimitVersionBody>;

export const earningsLimitVersionResponse = z.object({
  id: z.string(),
  effectiveFrom: z.string(),
  period: z.enum(earningsPeriodKinds).nullable(),
  amount: z.number().int().nullable().describe('Null for a preset (see preset) or for a version that ends the limit'),
  periodStartDay: z.number().int().nullable(),
  policy: z.enum(earningsLimitPolicies).nullable(),
  preset: z.enum(earningsLimitPresets).nullable(),
  createdAt: z.iso.datetime(),
});

export const contributorKind = z.enum(contributorKinds);
export const paymentMethod = z.enum(paymentMethods);

const confirmNotDuplicate = z
  .literal(true)
  .describe('Send after a 409 possible_duplicate, once you have checked that this is a different person who shares the email; the audit records who confirmed');

export const createContributorBody = z.strictObject({
  name: nonEmpty(),
  email: email.optional(),
  kind: contributorKind,
  paymentMethod,
  earningsLimit: earningsLimit.optional(),
  confirmNotDuplicate: confirmNotDuplicate.optional(),
});

export const patchContributorBody = z.strictObject({
  name: nonEmpty().optional(),
  email: email.nullable().optional(),
  kind: contributorKind.optional(),
  paymentMethod: paymentMethod.optional(),
  earningsLimit: earningsLimit.nullable().optional(),
  confirmNotDuplicate: confirmNotDuplicate.optional(),
});
