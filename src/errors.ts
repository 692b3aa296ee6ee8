/**
 * The closed set of error codes the API can answer with, and the one table from code to HTTP
 * status. Domain code throws AppError with one of these codes; exactly one error handler
 * (src/plugins/errors.ts) renders them as application/problem+json (RFC 9457).
 */
export const errorCodes = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  invalid_json: { status: 400, title: 'The request body is not valid JSON' },
  invalid_signature: { status: 400, title: 'The webhook signature is not valid' },
  unauthorized: { status: 401, title: 'Authentication is required' },
  invalid_credentials: { status: 401, title: 'The email or password is wrong' },
  forbidden: { status: 403, title: 'You are not allowed to do this' },
  four_eyes_required: { status: 403, title: 'Another person must approve this' },
  self_approval_forbidden: { status: 403, title: 'You cannot approve your own work' },
  not_found: { status: 404, title: 'Not found' },
  invalid_state: { status: 409, title: 'The record is not in a state that allows this' },
  already_exists: { status: 409, title: 'The record already exists' },
  already_paid: { status: 409, title: 'The money has already left' },
  possible_duplicate: { status: 409, title: 'This looks like a person the organisation already has' },
  balance_outstanding: { status: 409, title: 'Money is still owed to this person or on its way' },
  work_pending: { status: 409, title: "This person's work is awaiting approval" },
  idempotency_key_in_flight: { status: 409, title: 'A request with this Idempotency-Key is still running' },
  stripe_not_configured: { status: 409, title: 'Stripe is not configured' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  idempotency_key_reused: { status: 422, title: 'This Idempotency-Key was used with a different request' },
  currency_mismatch: { status: 422, title: 'The currency does not match' },
  budget_exceeded: { status: 422, title: 'Not enough left in the budget' },
  budget_below_committed: { status: 422, title: 'A budget cannot be reduced below what is committed' },
  earnings_limit_exceeded: { status: 422, title: "Over the contributor's earnings limit" },
  outside_budget_period: { status: 422, title: "The date is outside the budget's period" },
  day_minutes_exceeded: { status: 422, title: 'More than 24 hours in one day' },
  rate_not_found: { status: 422, title: 'No rate applies' },
  amount_out_of_range: { status: 422, title: 'The amount is beyond what the ledger can hold' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal server error' },
  stripe_unavailable: { status: 502, title: 'Stripe could not be reached' },
  service_unavailable: { status: 503, title: 'The service is temporarily unavailable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCodes;

export interface FieldError {
  /** Dotted path of the failing field, e.g. `body.earningsLimit.amount`. */
  field: string;
  message: string;
}

/** A domain or request error with a stable code; rendered as problem+json. */
export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    /** Extra members of the problem document (for example `headroom`), and field errors. */
    readonly extras: { errors?: FieldError[]; [member: string]: unknown } = {},
  ) {
    super(detail);
    this.status = errorCodes[code].status;
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} was not found`);

/** The embedded database's directory is open in another process (db/client.ts's lock). */
export class DatabaseInUseError extends Error {
  override readonly name = 'DatabaseInUseError';
}
