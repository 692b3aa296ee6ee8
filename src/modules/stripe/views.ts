/**
 * What the API shows of a Stripe onboarding: the response schema (which also documents it in
 * the OpenAPI document). There is no row to map: the service answers with the connected
 * account, the fresh onboarding link Stripe made for it, and whether payouts are enabled yet.
 */
import { z } from 'zod';

export const stripeOnboardingResponse = z.object({ accountId: z.string(), onboardingUrl: z.string(), payoutsEnabled: z.boolean() });
export type StripeOnboardingResponse = z.infer<typeof stripeOnboardingResponse>;

/**
 * A connected account as Stripe reports it now, for the participant's page and for staff
 * helping someone in person: whether Stripe can pay them, and if not what Stripe still needs,
 * in plain words (Stripe's own field names stay out of it).
 */
export const stripeAccountStatusResponse = z.object({
  accountId: z.string().nullable().describe('null until onboarding has started'),
  payoutsEnabled: z.boolean().describe('Stripe can pay this person (the transfers capability is active)'),
  detailsSubmitted: z.boolean(),
  checking: z.boolean().describe('Stripe has the details it asked for and is checking them'),
  stillNeeded: z.array(z.string()).describe('What the person still has to give Stripe, in plain English'),
  payoutDetailsChangedAt: z.iso
    .datetime()
    .nullable()
    .describe('When a change of payout details was reported; while set, Stripe payments wait for finance to confirm it'),
});
export type StripeAccountStatusResponse = z.infer<typeof stripeAccountStatusResponse>;
