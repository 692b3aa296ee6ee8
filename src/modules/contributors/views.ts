/**
 * What the API shows of a contributor: the response schema and the mapper from a row, side by
 * side so they cannot drift.
 */
import { z } from 'zod';
import { contributorKind, earningsLimit, paymentMethod } from './schemas.js';
import type { ContributorRow } from './service.js';

export const contributorResponse = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  kind: contributorKind,
  paymentMethod,
  earningsLimit: earningsLimit.nullable(),
  stripeAccountId: z.string().nullable(),
  payoutsEnabled: z.boolean(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type ContributorResponse = z.infer<typeof contributorResponse>;

export function toContributorResponse(row: ContributorRow): ContributorResponse {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    kind: row.kind,
    paymentMethod: row.paymentMethod,
    earningsLimit:
      row.limitPeriod && row.limitAmount !== null && row.limitPeriodStartDay !== null && row.limitPolicy
        ? { period: row.limitPeriod, amount: row.limitAmount, periodStartDay: row.limitPeriodStartDay, policy: row.limitPolicy }
        : null,
    stripeAccountId: row.stripeAccountId,
    payoutsEnabled: row.stripePayoutsEnabled,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

