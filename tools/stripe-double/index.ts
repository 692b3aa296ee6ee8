/**
 * A local stand-in for the parts of Stripe's v1 REST API this service uses, for tests and benchmarks.
 * The real `stripe` SDK talks to it over HTTP:
 *
 *   const double = await startStripeDouble();
 *   const stripe = new Stripe('sk_test_x', { ...double.stripeConfig, maxNetworkRetries: 0 });
 *   // or STRIPE_API_BASE=double.url for the app's own createStripeClient
 *
 * Speaks: POST/GET /v1/accounts[/:id], POST /v1/account_links, POST/GET /v1/transfers[/:id],
 * GET /v1/transfers (list: transfer_group, destination, created, limit, starting_after, ending_before),
 * POST/GET /v1/transfers/:id/reversals, GET /v1/balance.
 *
 * Behaves like Stripe where tests care:
 * - form-encoded bodies (`metadata[k]=v`), JSON responses in Stripe's shapes, errors as
 *   `{ error: { type, code, message, param } }` with Stripe's statuses, so the SDK raises its own classes;
 * - `Authorization: Bearer sk_...` (or rk_) required, else 401 authentication_error;
 * - unknown parameters are refused (400 parameter_unknown), as Stripe does;
 * - idempotency as documented at https://docs.stripe.com/idempotency: on a POST, the first result of an
 *   endpoint that began executing is stored under (Stripe-Account, Idempotency-Key), successes AND errors
 *   such as balance_insufficient or insufficient_capabilities_for_transfer; a repeat with the same method,
 *   path and parameters gets the stored status and body with `Idempotent-Replayed: true` and performs
 *   nothing; different parameters or another endpoint gets 400 idempotency_error. Parameter validation
 *   errors (parameter_missing, parameter_unknown, ...) are not stored. The SDK itself sends an
 *   Idempotency-Key (`stripe-node-retry-<uuid>`) on every POST when the caller gives none.
 *
 * Faults and the per-second rate limit are controlled from the test through the returned object.
 * Note about the SDK (stripe 23): when a connection closes before any response (ECONNRESET/EPIPE) it
 * retries ONCE with the same Idempotency-Key even with `maxNetworkRetries: 0`. So a single
 * `lose_response` fault is normally healed by that retry (which gets the replay); use `times: 2` or
 * `at: 'mid_body'` to make the SDK throw StripeConnectionError.
 *
 * The parts: server.ts (HTTP, request log), routes.ts (endpoints), store.ts (accounts, transfers,
 * balance), idempotency.ts, faults.ts (injected faults, rate limit), params.ts (form parsing),
 * errors.ts (Stripe-shaped answers), events.ts (webhook events and signatures). See README.md.
 */
export { makeEvent, signedEvent, webhookHeader, type StripeEventJson } from './events.js';
export type { Fault, FaultSpec, RequestMatcher } from './faults.js';
export { parseForm, type ParamValue, type Params } from './params.js';
export { startStripeDouble, type RequestLogEntry, type StripeDouble, type StripeDoubleOptions } from './server.js';
export type { CapabilityStatus, CreateAccountOptions, DoubleAccount, DoubleBankAccount, DoubleReversal, DoubleTransfer, Metadata } from './store.js';
