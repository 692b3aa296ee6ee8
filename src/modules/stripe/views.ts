/**
 * What the API shows of a Stripe onboarding: the response schema (which also documents it in
 * the OpenAPI document). There is no row to map: the service answers with the connected
 * account, the fresh onboarding link Stripe made for it, and whether payouts are enabled yet.
 */
import { z } from 'zod';

export const stripeOnboardingResponse = z.object({ accountId: z.string(), onboardingUrl: z.string(), payoutsEnabled: z.boolean() });
export type StripeOnboardingResponse = z.infer<typeof stripeOnboardingResponse>;
