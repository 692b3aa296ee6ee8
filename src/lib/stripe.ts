import { createPacer } from './rate-limit.js';
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
export function createStripeClient(config: Omit<Config['stripe'], 'webhookSecrets'>): Stripe | null {
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

/** Runs one Stripe request when Stripe's allowance permits; resolves or rejects with its result. */
export type StripeGate = <T>(fn: () => Promise<T>) => Promise<T>;

/** What a paced Stripe call gives back, unsent, when a 429 pause began while it waited. */
const PAUSED = Symbol('paused by a 429');

/**
 * The one way this process talks to Stripe in bulk: requests are paced to `maxRequestsPerSecond`
 * (3 % under it, spread out: Stripe counts in its own windows, which do not line up with ours),
 * and a 429 pauses every call through the gate for a growing interval and is retried here a
 * few times (Stripe requests made through it must be idempotent or reads), so a brief excess
 * costs a pause, not a failure. Payout jobs and reconciliation share one gate per process, so
 * a long reconciliation cannot starve payments of Stripe's allowance or push it over.
 */
export function createStripeGate(maxRequestsPerSecond: number): StripeGate {
  const call = createPacer(Math.max(1, Math.floor(maxRequestsPerSecond * 0.97)));
  // The 429 pause is timed on the real clock (Date.now), as the pacer and setTimeout are: it
  // paces requests to Stripe and is no domain time, so an injected clock stays out.
  let pausedUntil = 0;
  let pauseMs = 0;
  return async function stripeCall<T>(fn: () => Promise<T>): Promise<T> {
    let sent = 0; // requests that reached Stripe
    for (;;) {
      const wait = pausedUntil - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        // A pause that began while this call waited in the pacer holds it too: it goes back to
        // wait, without sending anything and without counting as an attempt.
        const result = await call(() => (Date.now() < pausedUntil ? Promise.reject(PAUSED) : fn()));
        pauseMs = 0;
        return result;
      } catch (error) {
        if (error === PAUSED) continue;
        sent += 1;
        const failure = classifyStripeError(error);
        if (failure.kind !== 'transient' || !failure.rateLimited || sent >= 4) throw error;
        // Requests already in flight when a pause began answer 429 too: only a 429 after the
        // pause has ended makes the next pause longer, so side-by-side calls do not compound it.
        if (Date.now() >= pausedUntil) {
          pauseMs = Math.min(30_000, Math.max(250, pauseMs * 2));
          pausedUntil = Date.now() + pauseMs;
        }
      }
    }
  };
}
