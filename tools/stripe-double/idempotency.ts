/**
 * Idempotency as documented at https://docs.stripe.com/idempotency: the first result of a POST is stored
 * under (Stripe-Account, Idempotency-Key); a repeat with the same method, path and parameters is answered
 * from the store with `Idempotent-Replayed: true`; another endpoint or other parameters is an
 * idempotency_error. Which results are stored is the server's decision (server.ts).
 */
import { ApiFailure, errorOutcome, type Outcome } from './errors.js';
import { canonical, type Params } from './params.js';

interface StoredIdempotent {
  method: string;
  path: string;
  params: string;
  status: number;
  body: string;
  requestId: string;
}

/** One POST under an idempotency key. */
export interface KeyedRequest {
  key: string;
  stripeAccount: string | undefined;
  method: string;
  path: string;
  params: Params;
}

function idempotencyError(message: string): Outcome {
  return errorOutcome(new ApiFailure(400, { type: 'idempotency_error', message }, false));
}

export class IdempotencyStore {
  private readonly stored = new Map<string, StoredIdempotent>();

  private static slot(key: string, account: string | undefined): string {
    return `${account ?? ''}\u0000${key}`;
  }

  remember(request: KeyedRequest, outcome: Outcome, requestId: string): void {
    this.stored.set(IdempotencyStore.slot(request.key, request.stripeAccount), {
      method: request.method,
      path: request.path,
      params: canonical(request.params),
      status: outcome.status,
      body: JSON.stringify(outcome.body, null, 2),
      requestId,
    });
  }

  /** The stored answer replayed, an idempotency_error when the key was first used differently, or
   * undefined when the key is new. */
  recall(request: KeyedRequest): Outcome | undefined {
    const { key, method, path } = request;
    const stored = this.stored.get(IdempotencyStore.slot(key, request.stripeAccount));
    if (!stored) return undefined;
    if (stored.method !== method || stored.path !== path) {
      return idempotencyError(
        `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${stored.method} ${stored.path}' vs '${method} ${path}'). Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    if (stored.params !== canonical(request.params)) {
      return idempotencyError(
        `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    return {
      status: stored.status,
      body: stored.body,
      headers: { 'Idempotent-Replayed': 'true', 'Original-Request': stored.requestId },
      replayed: true,
    };
  }

  clear(): void {
    this.stored.clear();
  }
}
