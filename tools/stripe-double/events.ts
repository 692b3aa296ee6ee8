/**
 * Webhook deliveries: Stripe events as Stripe sends them to an endpoint, and their `Stripe-Signature`
 * headers, signed by the SDK itself. These need no running double.
 */
import Stripe from 'stripe';
import { nowSeconds, randomId } from './ids.js';

/** The `Stripe-Signature` header for `payload`, made by the SDK itself. `timestamp` is in seconds
 * (default now); pass an old one (e.g. now - 301) to forge a stale delivery. */
export function webhookHeader(
  stripeSdk: { webhooks: Pick<Stripe['webhooks'], 'generateTestHeaderString'> },
  payload: string,
  secret: string,
  timestamp?: number,
): string {
  return stripeSdk.webhooks.generateTestHeaderString({ payload, secret, ...(timestamp !== undefined ? { timestamp } : {}) });
}

export interface StripeEventJson<T = unknown> {
  id: string;
  object: 'event';
  api_version: string;
  type: string;
  account?: string;
  created: number;
  data: { object: T; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
}

/** A Stripe event as delivered to a webhook endpoint. `account` marks a Connect event. */
export function makeEvent<T>(
  type: string,
  object: T,
  options: { account?: string; id?: string; created?: number; previous_attributes?: Record<string, unknown>; api_version?: string } = {},
): StripeEventJson<T> {
  return {
    id: options.id ?? randomId('evt'),
    object: 'event',
    api_version: options.api_version ?? Stripe.API_VERSION,
    type,
    ...(options.account ? { account: options.account } : {}),
    created: options.created ?? nowSeconds(),
    data: { object: structuredClone(object), ...(options.previous_attributes ? { previous_attributes: options.previous_attributes } : {}) },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
  };
}

/** JSON payload and matching Stripe-Signature header for an event, ready to POST to a webhook route. */
export function signedEvent(
  stripeSdk: { webhooks: Pick<Stripe['webhooks'], 'generateTestHeaderString'> },
  event: object,
  secret: string,
  timestamp?: number,
): { payload: string; header: string } {
  const payload = JSON.stringify(event);
  return { payload, header: webhookHeader(stripeSdk, payload, secret, timestamp) };
}
