/**
 * Answers in Stripe's shape: a status and a JSON body, errors as `{ error: { type, code, message, param } }`
 * with Stripe's statuses, so the SDK raises its own error classes.
 */

/** What the double answers to one request, before it is written to the socket. */
export interface Outcome {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  replayed?: boolean;
}

export interface StripeErrorBody {
  type: string;
  code?: string;
  message: string;
  param?: string;
  decline_code?: string;
}

/** An error answer. `store: false` for failures before the endpoint began (validation, auth, faults). */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
    readonly store: boolean,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

/** A failure of an endpoint that began executing: stored under the idempotency key. */
export const invalid = (code: string, message: string, param?: string, status = 400) =>
  new ApiFailure(status, { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) }, true);

/** A parameter refused before the endpoint began: not stored. */
export const validation = (code: string, message: string, param?: string) =>
  new ApiFailure(400, { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) }, false);

export function errorOutcome(failure: ApiFailure): Outcome {
  return { status: failure.status, body: { error: failure.body }, headers: failure.headers };
}

export function notFound(method: string, path: string): never {
  throw new ApiFailure(
    404,
    { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}). (stripe-double speaks only a few endpoints.)` },
    false,
  );
}

/** 401 for a missing or malformed `Authorization` header (`auth` as received, possibly ''). */
export function unauthenticated(auth: string): Outcome {
  return {
    status: 401,
    body: {
      error: {
        type: 'invalid_request_error',
        message: auth ? `Invalid API Key provided: ${auth.replace(/^Bearer\s+/, '').slice(0, 12)}***` : 'You did not provide an API key.',
      },
    },
    headers: { 'WWW-Authenticate': 'Basic realm="Stripe"' },
  };
}

export function rateLimited(): Outcome {
  return {
    status: 429,
    body: {
      error: {
        type: 'rate_limit_error',
        code: 'rate_limit',
        message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      },
    },
  };
}
