import Stripe from 'stripe';
import type { Config } from '../config.js';

/**
 * The real Stripe SDK, or null when no secret key is configured (Stripe payouts are then
 * refused with stripe_not_configured; the other methods work). STRIPE_API_BASE points the SDK
 * at stripe-mock or a test double.
 *
 * The SDK's own retries are off (it still retries a connection dropped before any answer once,
 * with the same idempotency key): the job queue retries with backoff, and every transfer is
 * created with an idempotency key derived from its payout item, so a retry can never pay twice.
 */
export function createStripeClient(config: Config['stripe']): Stripe | null {
  if (!config.secretKey) return null;
  const base = config.apiBase ? new URL(config.apiBase) : undefined;
  return new Stripe(config.secretKey, {
    maxNetworkRetries: 0,
    timeout: config.timeoutMs,
    appInfo: { name: 'coproduction-ledger' },
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol.replace(':', '') as 'http' | 'https',
        }
      : {}),
  });
}

export type { Stripe };

/** Stripe errors that will not go away by trying again: the item fails and its money returns to owed. */
const PERMANENT_CODES = new Set([
  'resource_missing',
  'account_invalid',
  'insufficient_capabilities_for_transfer',
  'transfers_not_allowed',
  'invalid_request_error',
  'currency_not_supported',
  'amount_too_small',
  'amount_too_large',
  // Stripe stores an error under its idempotency key for 24 hours, so retrying the same
  // transfer after the platform balance is topped up would only replay the refusal: the item
  // fails with the reason and its money returns to owed for the next run.
  'balance_insufficient',
]);

export type StripeFailure = { kind: 'permanent'; reason: string } | { kind: 'transient'; reason: string; rateLimited: boolean };

/** Sorts a Stripe error into permanent (fail the item) or transient (retry later). */
export function classifyStripeError(error: unknown): StripeFailure {
  const e = error as { type?: string; code?: string; message?: string; statusCode?: number };
  const reason = `${e.code ?? e.type ?? 'error'}: ${e.message ?? String(error)}`;
  if (e.type === 'StripeRateLimitError' || e.statusCode === 429) return { kind: 'transient', reason, rateLimited: true };
  if (e.type === 'StripeInvalidRequestError' && e.statusCode !== undefined && e.statusCode < 500) {
    if (e.code === undefined || PERMANENT_CODES.has(e.code)) return { kind: 'permanent', reason };
  }
  return { kind: 'transient', reason, rateLimited: false };
}
