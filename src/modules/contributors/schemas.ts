import { z } from 'zod';
import { contributorKinds, earningsLimitPolicies, earningsPeriodKinds, paymentMethods } from '../../domain/enums.js';
import { email, nonEmpty, positiveAmount } from '../../lib/schemas.js';

/**
 * An earnings limit that protects a contributor's benefits: weekly periods start on a weekday
 * (1 = Monday … 7 = Sunday, as ESA permitted work is counted by week); monthly periods start on
 * a day of the month 1–28 (as Universal Credit assessment periods do; 29–31 do not exist in
 * every month).
 */
export const earningsLimit = z
  .strictObject({
    period: z.enum(earningsPeriodKinds),
    amount: positiveAmount,
    periodStartDay: z.number().int(),
    policy: z.enum(earningsLimitPolicies),
  })
  .superRefine((limit, ctx) => {
    const max = limit.period === 'week' ? 7 : 28;
    if (limit.periodStartDay < 1 || limit.periodStartDay > max) {
      ctx.addIssue({
        code: 'custom',
        path: ['periodStartDay'],
        message:
          limit.period === 'week'
            ? 'must be 1 (Monday) to 7 (Sunday) for a weekly limit'
            : 'must be 1 to 28 for a monthly limit',
      });
    }
  });
export type EarningsLimitInput = z.infer<typeof earningsLimit>;

export const contributorKind = z.enum(contributorKinds);
export const paymentMethod = z.enum(paymentMethods);

export const createContributorBody = z.strictObject({
  name: nonEmpty(),
  email: email.optional(),
  kind: contributorKind,
  paymentMethod,
  earningsLimit: earningsLimit.optional(),
});

export const patchContributorBody = z.strictObject({
  name: nonEmpty().optional(),
  email: email.nullable().optional(),
  kind: contributorKind.optional(),
  paymentMethod: paymentMethod.optional(),
  earningsLimit: earningsLimit.nullable().optional(),
});
