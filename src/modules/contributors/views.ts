/**
 * What the API shows of a contributor: the response schema and the mapper from a row, side by
 * side so they cannot drift.
 */
import { z } from 'zod';
import { earningsLimitPolicies, earningsPeriodKinds } from '../../domain/enums.js';
import type { EarningsLimit } from '../../domain/earnings-limit.js';
import { contributorKind, paymentMethod } from './schemas.js';
import type { ContributorRow } from './service.js';
import { shown } from '../../lib/views.js';

export const contributorResponse = z.object({
  id: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  kind: contributorKind,
  paymentMethod,
  earningsLimit: z
    .object({
      period: z.enum(earningsPeriodKinds),
      amount: z.number().int().describe('For the ESA preset, the statutory weekly figure in force today'),
      periodStartDay: z.number().int(),
      policy: z.enum(earningsLimitPolicies),
    })
    .nullable()
    .describe('The limit in force today (Europe/London); its history is at /v1/contributors/{id}/earnings-limits'),
  stripeAccountId: z.string().nullable(),
  payoutsEnabled: z.boolean(),
  payoutDetailsChangedAt: z.iso
    .datetime()
    .nullable()
    .describe(
      'When Stripe reported a change of where this person is paid out; while set, their Stripe payments are held until finance confirms (POST /v1/contributors/{id}/confirm-payout-details)',
    ),
  erased: z.boolean().describe('Their personal data was erased (POST /v1/contributors/{id}/erase); the ledger and reports keep them by id and pseudonym'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type ContributorResponse = z.infer<typeof contributorResponse>;

/** What an erased contributor is called wherever a name is shown. */
export const ERASED_NAME = 'Erased contributor';

/** `limit` is the version in force today (see earnings-limits.ts). */
const columns = ['id', 'email', 'kind', 'paymentMethod', 'stripeAccountId', 'payoutDetailsChangedAt', 'createdAt', 'updatedAt'] as const;

export function toContributorResponse(row: ContributorRow, limit: EarningsLimit | null): ContributorResponse {
  return shown(row, columns, {
    name: row.erasedAt ? ERASED_NAME : row.name,
    earningsLimit: limit && shown(limit, ['period', 'amount', 'periodStartDay', 'policy']),
    payoutsEnabled: row.stripePayoutsEnabled,
    erased: row.erasedAt !== null,
  });
}

