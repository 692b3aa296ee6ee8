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
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

// ---------------------------------------------------------------------------------------------
// Types

export type ParamValue = string | ParamValue[] | Params;
export interface Params {
  [key: string]: ParamValue;
}

export type Metadata = Record<string, string>;
export type CapabilityStatus = 'active' | 'inactive' | 'pending';

export interface DoubleAccount {
  id: string;
  object: 'account';
  type: string;
  country: string;
  email: string | null;
  business_type: string | null;
  capabilities: Record<string, CapabilityStatus>;
  charges_enabled: boolean;
  payouts_enabled: boolean;
  details_submitted: boolean;
  default_currency: string;
  created: number;
  metadata: Metadata;
  requirements: { currently_due: string[]; eventually_due: string[]; past_due: string[]; disabled_reason: string | null };
}

export interface DoubleReversal {
  id: string;
  object: 'transfer_reversal';
  amount: number;
  balance_transaction: string;
  created: number;
  currency: string;
  destination_payment_refund: string;
  metadata: Metadata;
  source_refund: null;
  transfer: string;
}

export interface DoubleTransfer {
  id: string;
  object: 'transfer';
  amount: number;
  amount_reversed: number;
  balance_transaction: string;
  created: number;
  currency: string;
  description: string | null;
  destination: string;
  destination_payment: string;
  livemode: false;
  metadata: Metadata;
  reversals: { object: 'list'; data: DoubleReversal[]; has_more: boolean; total_count: number; url: string };
  reversed: boolean;
  source_transaction: string | null;
  source_type: string;
  transfer_group: string | null;
}

export interface RequestLogEntry {
  method: string;
  /** Path without the query string. */
  path: string;
  query: string;
  idempotencyKey: string | undefined;
  stripeAccount: string | undefined;
  /** Parsed form body (POST) or query (GET). */
  params: Params;
  /** The status answered (or that would have been answered, for lose_response). */
  status: number;
  /** True when the answer was an idempotent replay. */
  replayed: boolean;
  /** The kind of the fault that applied to this request, or 'rate_limit_per_second'. */
  fault: string | undefined;
  /** Date.now() on arrival. */
  at: number;
}

export type RequestMatcher = string | ((request: { method: string; path: string }) => boolean);

export type FaultSpec =
  /** Answer `status` with an api_error and do not perform the operation. `replayable: true` stores it
   * under the idempotency key, as Stripe does for a 500 raised inside an endpoint. */
  | { kind: 'status'; status: number; message?: string; shouldRetry?: boolean; replayable?: boolean }
  /** 429 rate_limit_error; not performed, not stored. */
  | { kind: 'rate_limit' }
  /** Perform (and store) at once, answer after `ms`. */
  | { kind: 'delay'; ms: number }
  /** Perform (and store), then drop the connection: before any byte (default; the SDK sees ECONNRESET
   * and retries once by itself), or after the headers and half the body (the SDK throws). */
  | { kind: 'lose_response'; at?: 'before_headers' | 'mid_body' }
  /** Answer this Stripe error; not performed, not stored. */
  | { kind: 'error'; status: number; type: string; code?: string; message?: string; param?: string; decline_code?: string };

export type Fault = FaultSpec & {
  /** 'POST /v1/transfers' (method and path prefix), '/v1/transfers' (any method), 'GET', or a predicate.
   * Omitted: the next request of any kind. */
  match?: RequestMatcher;
  /** How many matching requests it applies to (default 1). */
  times?: number;
};

export interface StripeDoubleOptions {
  /** Requests beyond this many in the current 1-second window get 429 (counted in `rateLimitedCount`). */
  rateLimitPerSecond?: number;
  /** Platform available balance by lowercase currency, in minor units. Omitted: unlimited. When set,
   * transfers debit it and are refused with 400 balance_insufficient when it is short. */
  balance?: Record<string, number>;
  /** Store endpoint errors (4xx) under idempotency keys, as Stripe does. Default true. */
  storeIdempotentErrors?: boolean;
  /** Country for accounts created without one. Default 'GB'. */
  defaultCountry?: string;
}

export interface CreateAccountOptions {
  id?: string;
  type?: string;
  country?: string;
  email?: string;
  metadata?: Metadata;
  /** Request the transfers capability (default true). */
  transfers?: boolean;
  /** Make it ready for transfers at once (as activateAccount). Default false. */
  active?: boolean;
}

export interface StripeDouble {
  readonly host: string;
  readonly port: number;
  /** 'http://127.0.0.1:<port>', suitable for STRIPE_API_BASE. */
  readonly url: string;
  /** Spread into the Stripe constructor's config. */
  readonly stripeConfig: { host: string; port: number; protocol: 'http' };
  readonly accounts: Map<string, DoubleAccount>;
  /** In creation order. */
  readonly transfers: Map<string, DoubleTransfer>;
  readonly requests: RequestLogEntry[];
  readonly faults: {
    enqueue(fault: Fault): void;
    /** Faults still waiting for a request. */
    pending(): Fault[];
    clear(): void;
  };
  /** How many requests the per-second limit refused since start (or `reset()`). */
  readonly rateLimitedCount: number;
  setRateLimit(perSecond: number | undefined): void;
  /** capabilities.transfers 'active' (and card_payments if requested), payouts_enabled, details_submitted. */
  activateAccount(id: string): DoubleAccount;
  setCapability(id: string, capability: string, status: CapabilityStatus): DoubleAccount;
  /** Adds an account without an HTTP request. */
  createAccount(options?: CreateAccountOptions): DoubleAccount;
  /** Reverses out of band (as from the Dashboard); returns the reversal. Default: all that is left. */
  reverseTransfer(id: string, amount?: number): DoubleReversal;
  /** Sets one currency's platform balance (and turns balance checking on). */
  setBalance(currency: string, amount: number): void;
  /** Clears faults, the rate-limit window and count. Data is kept. */
  reset(): void;
  /** Forgets accounts, transfers, idempotency keys and the request log. */
  clearData(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Form parsing

const UNSAFE_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

class BadParams extends Error {}

/** Expands `a[b][c]=v`, `a[0]=v` and `a[]=v` keys, as Stripe (and qs) do. */
export function parseForm(body: string): Params {
  const root: Params = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    const segments = m ? [m[1]!, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((s) => s[1]!)] : [rawKey];
    let node: Params = root;
    for (let i = 0; i < segments.length; i++) {
      let seg = segments[i]!;
      if (UNSAFE_KEYS.has(seg)) throw new BadParams(`Invalid parameter name: ${rawKey}`);
      if (seg === '') seg = String(Object.keys(node).length);
      if (i === segments.length - 1) {
        node[seg] = value;
      } else {
        const next = node[seg];
        if (next === undefined || typeof next === 'string' || Array.isArray(next)) {
          const child: Params = {};
          node[seg] = child;
          node = child;
        } else {
          node = next;
        }
      }
    }
  }
  return arrayify(root, '') as Params;
}

function arrayify(value: ParamValue, key: string): ParamValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (const k of keys) value[k] = arrayify(value[k]!, k);
  if (key !== 'metadata' && keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => value[k]!);
  return value;
}

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
    .join(',')}}`;
}

// ---------------------------------------------------------------------------------------------
// Errors

interface StripeErrorBody {
  type: string;
  code?: string;
  message: string;
  param?: string;
  decline_code?: string;
}

/** An error answer. `store: false` for failures before the endpoint began (validation, auth, faults). */
class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
    readonly store: boolean,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

const invalid = (code: string, message: string, param?: string, status = 400) =>
  new ApiFailure(status, { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) }, true);
const validation = (code: string, message: string, param?: string) =>
  new ApiFailure(400, { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) }, false);

// ---------------------------------------------------------------------------------------------
// Helpers

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let s = '';
  for (const b of bytes) s += ALPHABET[b % ALPHABET.length];
  return `${prefix}_${s}`;
}
const nowSeconds = () => Math.floor(Date.now() / 1000);

function str(params: Params, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw validation('parameter_invalid_string', `Invalid string: ${canonical(v)}`, name);
  return v;
}

function requiredStr(params: Params, name: string): string {
  const v = str(params, name);
  if (v === undefined || v === '') throw validation('parameter_missing', `Missing required param: ${name}.`, name);
  return v;
}

function int(params: Params, name: string): number | undefined {
  const v = str(params, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw validation('parameter_invalid_integer', `Invalid integer: ${v}`, name);
  return Number(v);
}

function metadataParam(params: Params, existing: Metadata = {}): Metadata {
  const m = params.metadata;
  if (m === undefined) return { ...existing };
  if (typeof m === 'string') {
    if (m === '') return {};
    throw validation('parameter_invalid_string', 'Invalid metadata: must be an object', 'metadata');
  }
  if (Array.isArray(m)) throw validation('parameter_invalid_string', 'Invalid metadata: must be an object', 'metadata');
  const out: Metadata = { ...existing };
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw validation('parameter_invalid_string', `Invalid metadata[${k}]: must be a string`, `metadata[${k}]`);
    if (v === '') delete out[k];
    else out[k] = v;
  }
  return out;
}

function checkKnown(params: Params, allowed: readonly string[]): void {
  for (const k of Object.keys(params)) {
    if (k !== 'expand' && !allowed.includes(k)) throw validation('parameter_unknown', `Received unknown parameter: ${k}`, k);
  }
}

function matches(matcher: RequestMatcher | undefined, method: string, path: string): boolean {
  if (matcher === undefined) return true;
  if (typeof matcher === 'function') return matcher({ method, path });
  const [first, second] = matcher.trim().split(/\s+/, 2);
  if (second !== undefined) return method === first!.toUpperCase() && path.startsWith(second);
  if (first!.startsWith('/')) return path.startsWith(first!);
  return method === first!.toUpperCase();
}

const ACCOUNT_CREATE_PARAMS = [
  'type', 'country', 'email', 'business_type', 'capabilities', 'metadata', 'business_profile', 'company',
  'controller', 'default_currency', 'documents', 'external_account', 'groups', 'individual', 'settings',
  'tos_acceptance', 'account_token',
] as const;
const ACCOUNT_UPDATE_PARAMS = ACCOUNT_CREATE_PARAMS.filter((p) => p !== 'type' && p !== 'country' && p !== 'controller');
const TRANSFER_CREATE_PARAMS = ['amount', 'currency', 'destination', 'description', 'metadata', 'source_transaction', 'source_type', 'transfer_group'];
const TRANSFER_LIST_PARAMS = ['created', 'destination', 'ending_before', 'limit', 'starting_after', 'transfer_group'];
const REVERSAL_CREATE_PARAMS = ['amount', 'description', 'metadata', 'refund_application_fee'];
const LIST_PARAMS = ['ending_before', 'limit', 'starting_after'];
const ACCOUNT_LINK_PARAMS = ['account', 'type', 'refresh_url', 'return_url', 'collect', 'collection_options'];

interface Outcome {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  replayed?: boolean;
}

interface StoredIdempotent {
  method: string;
  path: string;
  params: string;
  status: number;
  body: string;
  requestId: string;
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startStripeDouble(options: StripeDoubleOptions = {}): Promise<StripeDouble> {
  const host = '127.0.0.1';
  const accounts = new Map<string, DoubleAccount>();
  const transfers = new Map<string, DoubleTransfer>();
  const requests: RequestLogEntry[] = [];
  const idempotency = new Map<string, StoredIdempotent>();
  let faultQueue: Array<Fault & { remaining: number }> = [];
  let rateLimit = options.rateLimitPerSecond;
  let windowStart = 0;
  let windowCount = 0;
  let rateLimitedCount = 0;
  let balance: Record<string, number> | undefined = options.balance ? { ...options.balance } : undefined;
  const storeErrors = options.storeIdempotentErrors ?? true;
  const defaultCountry = options.defaultCountry ?? 'GB';
  const timers = new Set<NodeJS.Timeout>();

  // ---- model ------------------------------------------------------------------------------

  function newAccount(o: CreateAccountOptions & { business_type?: string | null; capabilities?: Record<string, CapabilityStatus>; default_currency?: string }): DoubleAccount {
    const country = (o.country ?? defaultCountry).toUpperCase();
    const account: DoubleAccount = {
      id: o.id ?? randomId('acct', 16),
      object: 'account',
      type: o.type ?? 'express',
      country,
      email: o.email ?? null,
      business_type: o.business_type ?? null,
      capabilities: o.capabilities ?? (o.transfers === false ? {} : { transfers: 'inactive' }),
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      default_currency: o.default_currency ?? (country === 'GB' ? 'gbp' : country === 'US' ? 'usd' : 'eur'),
      created: nowSeconds(),
      metadata: { ...(o.metadata ?? {}) },
      requirements: {
        currently_due: ['business_type', 'external_account', 'tos_acceptance.date', 'tos_acceptance.ip'],
        eventually_due: ['business_type', 'external_account', 'tos_acceptance.date', 'tos_acceptance.ip'],
        past_due: ['business_type', 'external_account', 'tos_acceptance.date', 'tos_acceptance.ip'],
        disabled_reason: 'requirements.past_due',
      },
    };
    accounts.set(account.id, account);
    if (o.active) activate(account);
    return account;
  }

  function activate(account: DoubleAccount): DoubleAccount {
    account.capabilities.transfers = 'active';
    if ('card_payments' in account.capabilities) {
      account.capabilities.card_payments = 'active';
      account.charges_enabled = true;
    }
    account.payouts_enabled = true;
    account.details_submitted = true;
    account.requirements = { currently_due: [], eventually_due: [], past_due: [], disabled_reason: null };
    return account;
  }

  function mustAccount(id: string): DoubleAccount {
    const a = accounts.get(id);
    if (!a) throw new Error(`stripe-double: no account ${id}`);
    return a;
  }

  function capabilitiesParam(params: Params, existing: Record<string, CapabilityStatus>): Record<string, CapabilityStatus> {
    const caps = params.capabilities;
    if (caps === undefined) return existing;
    if (typeof caps === 'string' || Array.isArray(caps)) throw validation('parameter_invalid_string', 'Invalid capabilities: must be an object', 'capabilities');
    const out = { ...existing };
    for (const [name, value] of Object.entries(caps)) {
      if (typeof value !== 'object' || Array.isArray(value) || typeof value.requested !== 'string') {
        throw validation('parameter_missing', `Missing required param: capabilities[${name}][requested].`, `capabilities[${name}][requested]`);
      }
      if (value.requested === 'true') out[name] ??= 'inactive';
      else delete out[name];
    }
    return out;
  }

  function reverse(transfer: DoubleTransfer, amount: number | undefined, metadata: Metadata): DoubleReversal {
    const left = transfer.amount - transfer.amount_reversed;
    const amt = amount ?? left;
    if (amt <= 0) throw validation('parameter_invalid_integer', 'Invalid positive integer', 'amount');
    if (left <= 0) throw invalid('transfer_already_reversed', `Transfer ${transfer.id} has already been reversed.`);
    if (amt > left) throw invalid('amount_too_large', `Amount ${amt} is greater than unreversed amount on transfer (${left})`, 'amount');
    const reversal: DoubleReversal = {
      id: randomId('trr'),
      object: 'transfer_reversal',
      amount: amt,
      balance_transaction: randomId('txn'),
      created: nowSeconds(),
      currency: transfer.currency,
      destination_payment_refund: randomId('pyr'),
      metadata,
      source_refund: null,
      transfer: transfer.id,
    };
    transfer.amount_reversed += amt;
    transfer.reversed = transfer.amount_reversed >= transfer.amount;
    transfer.reversals.data.unshift(reversal);
    transfer.reversals.total_count += 1;
    if (balance) balance[transfer.currency] = (balance[transfer.currency] ?? 0) + amt;
    return reversal;
  }

  /** Stripe's list pages: newest first, cursor by id. */
  function listPage<T extends { id: string }>(all: T[], params: Params, url: string, filter: (item: T) => boolean = () => true) {
    const limit = int(params, 'limit') ?? 10;
    if (limit < 1 || limit > 100) throw validation('parameter_invalid_integer', 'This value must be between 1 and 100 (it currently is ' + limit + ').', 'limit');
    const newestFirst = [...all].reverse();
    const startingAfter = str(params, 'starting_after');
    const endingBefore = str(params, 'ending_before');
    let candidates: T[];
    let fromEnd = false;
    if (startingAfter) {
      const i = newestFirst.findIndex((x) => x.id === startingAfter);
      if (i < 0) throw invalid('resource_missing', `No such object: '${startingAfter}'`, 'starting_after');
      candidates = newestFirst.slice(i + 1).filter(filter);
    } else if (endingBefore) {
      const i = newestFirst.findIndex((x) => x.id === endingBefore);
      if (i < 0) throw invalid('resource_missing', `No such object: '${endingBefore}'`, 'ending_before');
      candidates = newestFirst.slice(0, i).filter(filter);
      fromEnd = true;
    } else {
      candidates = newestFirst.filter(filter);
    }
    const data = fromEnd ? candidates.slice(Math.max(0, candidates.length - limit)) : candidates.slice(0, limit);
    return { object: 'list' as const, data, has_more: candidates.length > limit, url };
  }

  function createdFilter(params: Params): (created: number) => boolean {
    const c = params.created;
    if (c === undefined) return () => true;
    if (typeof c === 'string') {
      const n = int(params, 'created')!;
      return (x) => x === n;
    }
    if (Array.isArray(c)) throw validation('parameter_invalid_integer', 'Invalid created', 'created');
    const bound = (k: string) => {
      const v = c[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !/^\d+$/.test(v)) throw validation('parameter_invalid_integer', `Invalid integer: ${canonical(v)}`, `created[${k}]`);
      return Number(v);
    };
    const gt = bound('gt');
    const gte = bound('gte');
    const lt = bound('lt');
    const lte = bound('lte');
    return (x) => (gt === undefined || x > gt) && (gte === undefined || x >= gte) && (lt === undefined || x < lt) && (lte === undefined || x <= lte);
  }

  // ---- routes -----------------------------------------------------------------------------

  function route(method: string, path: string, params: Params): Outcome {
    const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (seg[0] !== 'v1') return notFound(method, path);
    const [, resource, id, sub, subId] = seg;

    if (resource === 'accounts') {
      if (method === 'POST' && id === undefined) {
        checkKnown(params, ACCOUNT_CREATE_PARAMS);
        const type = str(params, 'type');
        if (type !== undefined && !['custom', 'express', 'standard'].includes(type)) {
          throw validation('parameter_invalid_string', `Invalid type: must be one of custom, express, or standard`, 'type');
        }
        const account = newAccount({
          type: type ?? (params.controller ? 'none' : 'standard'),
          country: str(params, 'country'),
          email: str(params, 'email'),
          business_type: str(params, 'business_type') ?? null,
          default_currency: str(params, 'default_currency'),
          capabilities: capabilitiesParam(params, {}),
          metadata: metadataParam(params),
        });
        return { status: 200, body: account };
      }
      if (id !== undefined && sub === undefined) {
        const account = accounts.get(id);
        if (!account) throw invalid('resource_missing', `No such account: '${id}'`, 'account', 404);
        if (method === 'GET') return { status: 200, body: account };
        if (method === 'POST') {
          checkKnown(params, ACCOUNT_UPDATE_PARAMS);
          const email = str(params, 'email');
          const businessType = str(params, 'business_type');
          const capabilities = capabilitiesParam(params, account.capabilities);
          const metadata = metadataParam(params, account.metadata);
          if (email !== undefined) account.email = email || null;
          if (businessType !== undefined) account.business_type = businessType || null;
          account.capabilities = capabilities;
          account.metadata = metadata;
          return { status: 200, body: account };
        }
      }
      if (method === 'GET' && id === undefined) {
        checkKnown(params, [...LIST_PARAMS, 'created']);
        return { status: 200, body: listPage([...accounts.values()], params, '/v1/accounts') };
      }
    }

    if (resource === 'account_links' && method === 'POST' && id === undefined) {
      checkKnown(params, ACCOUNT_LINK_PARAMS);
      const accountId = requiredStr(params, 'account');
      const type = requiredStr(params, 'type');
      if (type !== 'account_onboarding' && type !== 'account_update') {
        throw validation('parameter_invalid_string', 'Invalid type: must be one of account_onboarding or account_update', 'type');
      }
      if (type === 'account_onboarding') requiredStr(params, 'return_url');
      if (!accounts.has(accountId)) throw invalid('resource_missing', `No such account: '${accountId}'`, 'account');
      const created = nowSeconds();
      return {
        status: 200,
        body: { object: 'account_link', created, expires_at: created + 300, url: `https://connect.stripe.test/setup/${randomId('s', 12).slice(2)}` },
      };
    }

    if (resource === 'transfers') {
      if (method === 'POST' && id === undefined) return { status: 200, body: createTransfer(params) };
      if (method === 'GET' && id === undefined) {
        checkKnown(params, TRANSFER_LIST_PARAMS);
        const group = str(params, 'transfer_group');
        const destination = str(params, 'destination');
        const created = createdFilter(params);
        return {
          status: 200,
          body: listPage(
            [...transfers.values()],
            params,
            '/v1/transfers',
            (t) => (group === undefined || t.transfer_group === group) && (destination === undefined || t.destination === destination) && created(t.created),
          ),
        };
      }
      if (id !== undefined) {
        const transfer = transfers.get(id);
        if (!transfer) throw invalid('resource_missing', `No such transfer: '${id}'`, 'id', 404);
        if (sub === undefined && method === 'GET') return { status: 200, body: transfer };
        if (sub === undefined && method === 'POST') {
          checkKnown(params, ['description', 'metadata']);
          const description = str(params, 'description');
          const metadata = metadataParam(params, transfer.metadata);
          if (description !== undefined) transfer.description = description || null;
          transfer.metadata = metadata;
          return { status: 200, body: transfer };
        }
        if (sub === 'reversals' && subId === undefined && method === 'POST') {
          checkKnown(params, REVERSAL_CREATE_PARAMS);
          const amount = int(params, 'amount');
          const metadata = metadataParam(params);
          return { status: 200, body: reverse(transfer, amount, metadata) };
        }
        if (sub === 'reversals' && subId === undefined && method === 'GET') {
          checkKnown(params, LIST_PARAMS);
          return { status: 200, body: listPage([...transfer.reversals.data].reverse(), params, transfer.reversals.url) };
        }
        if (sub === 'reversals' && subId !== undefined && method === 'GET') {
          const reversal = transfer.reversals.data.find((r) => r.id === subId);
          if (!reversal) throw invalid('resource_missing', `No such transfer reversal: '${subId}'`, 'id', 404);
          return { status: 200, body: reversal };
        }
      }
    }

    if (resource === 'balance' && method === 'GET' && id === undefined) {
      const available = Object.entries(balance ?? { gbp: 0 }).map(([currency, amount]) => ({ amount, currency, source_types: { card: amount } }));
      return { status: 200, body: { object: 'balance', available, pending: [], livemode: false } };
    }

    return notFound(method, path);
  }

  function notFound(method: string, path: string): never {
    throw new ApiFailure(
      404,
      { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}). (stripe-double speaks only a few endpoints.)` },
      false,
    );
  }

  function createTransfer(params: Params): DoubleTransfer {
    checkKnown(params, TRANSFER_CREATE_PARAMS);
    const amountText = requiredStr(params, 'amount');
    const amount = int(params, 'amount')!;
    if (amount < 1) throw validation('parameter_invalid_integer', `Invalid positive integer: ${amountText}`, 'amount');
    const currency = requiredStr(params, 'currency').toLowerCase();
    if (!/^[a-z]{3}$/.test(currency)) throw validation('parameter_invalid_string', `Invalid currency: ${currency}`, 'currency');
    const destination = requiredStr(params, 'destination');
    const transferGroup = str(params, 'transfer_group');
    const description = str(params, 'description');
    const metadata = metadataParam(params);
    const sourceTransaction = str(params, 'source_transaction');
    // From here the endpoint is executing: errors are stored under the idempotency key.
    const account = accounts.get(destination);
    if (!account) throw invalid('resource_missing', `No such destination: '${destination}'`, 'destination');
    if (account.capabilities.transfers !== 'active') {
      throw invalid(
        'insufficient_capabilities_for_transfer',
        'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
        'destination',
      );
    }
    if (balance) {
      const available = balance[currency] ?? 0;
      if (available < amount) {
        throw invalid(
          'balance_insufficient',
          'You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Charges using the 4000000000000077 test card.',
        );
      }
      balance[currency] = available - amount;
    }
    const id = randomId('tr');
    const transfer: DoubleTransfer = {
      id,
      object: 'transfer',
      amount,
      amount_reversed: 0,
      balance_transaction: randomId('txn'),
      created: nowSeconds(),
      currency,
      description: description || null,
      destination,
      destination_payment: randomId('py'),
      livemode: false,
      metadata,
      reversals: { object: 'list', data: [], has_more: false, total_count: 0, url: `/v1/transfers/${id}/reversals` },
      reversed: false,
      source_transaction: sourceTransaction ?? null,
      source_type: 'card',
      transfer_group: transferGroup || null,
    };
    transfers.set(id, transfer);
    return transfer;
  }

  // ---- HTTP -------------------------------------------------------------------------------

  function takeFault(method: string, path: string): Fault | undefined {
    const i = faultQueue.findIndex((f) => matches(f.match, method, path));
    if (i < 0) return undefined;
    const f = faultQueue[i]!;
    f.remaining -= 1;
    if (f.remaining <= 0) faultQueue.splice(i, 1);
    return f;
  }

  function errorOutcome(failure: ApiFailure): Outcome {
    return { status: failure.status, body: { error: failure.body }, headers: failure.headers };
  }

  function handle(req: IncomingMessage, res: ServerResponse, rawBody: string): void {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://stripe-double');
    const path = url.pathname;
    const idempotencyKey = header(req, 'idempotency-key');
    const stripeAccount = header(req, 'stripe-account');
    const requestId = randomId('req', 14);
    const entry: RequestLogEntry = {
      method,
      path,
      query: url.search,
      idempotencyKey,
      stripeAccount,
      params: {},
      status: 0,
      replayed: false,
      fault: undefined,
      at: Date.now(),
    };
    requests.push(entry);

    let fault: Fault | undefined;
    const outcome = ((): Outcome => {
      try {
        entry.params = parseForm(method === 'GET' || method === 'DELETE' ? url.search.slice(1) : rawBody);
      } catch (e) {
        if (e instanceof BadParams) return errorOutcome(validation('parameter_unknown', e.message));
        throw e;
      }
      const auth = header(req, 'authorization') ?? '';
      const key = /^Bearer\s+((?:sk|rk)_\S+)$/.exec(auth)?.[1];
      if (!key) {
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

      // Rate limiting counts every authenticated request; an injected fault takes precedence.
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        windowCount = 0;
      }
      windowCount += 1;
      fault = takeFault(method, path);
      entry.fault = fault?.kind;

      if (fault?.kind === 'status') {
        const outcome: Outcome = {
          status: fault.status,
          body: { error: { type: 'api_error', message: fault.message ?? `An unknown error occurred (stripe-double injected ${fault.status}).` } },
          headers: fault.shouldRetry === undefined ? {} : { 'Stripe-Should-Retry': String(fault.shouldRetry) },
        };
        if (fault.replayable && method === 'POST' && idempotencyKey) store(idempotencyKey, stripeAccount, method, path, entry.params, outcome, requestId);
        return outcome;
      }
      if (fault?.kind === 'rate_limit') return rateLimited();
      if (fault?.kind === 'error') {
        const { status, type, code, message, param, decline_code } = fault;
        return {
          status,
          body: { error: { type, message: message ?? `stripe-double injected ${type}`, ...(code ? { code } : {}), ...(param ? { param } : {}), ...(decline_code ? { decline_code } : {}) } },
        };
      }
      if (!fault && rateLimit !== undefined && windowCount > rateLimit) {
        rateLimitedCount += 1;
        entry.fault = 'rate_limit_per_second';
        return rateLimited();
      }

      if (method === 'POST' && idempotencyKey) {
        const stored = idempotency.get(idemKey(idempotencyKey, stripeAccount));
        if (stored) {
          if (stored.method !== method || stored.path !== path) {
            return errorOutcome(
              new ApiFailure(
                400,
                {
                  type: 'idempotency_error',
                  message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${stored.method} ${stored.path}' vs '${method} ${path}'). Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
                },
                false,
              ),
            );
          }
          if (stored.params !== canonical(entry.params)) {
            return errorOutcome(
              new ApiFailure(
                400,
                {
                  type: 'idempotency_error',
                  message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
                },
                false,
              ),
            );
          }
          return {
            status: stored.status,
            body: stored.body,
            headers: { 'Idempotent-Replayed': 'true', 'Original-Request': stored.requestId },
            replayed: true,
          };
        }
      }

      let outcome: Outcome;
      try {
        outcome = route(method, path, entry.params);
      } catch (e) {
        if (!(e instanceof ApiFailure)) throw e;
        outcome = errorOutcome(e);
        if (!e.store || !storeErrors) return outcome;
      }
      if (method === 'POST' && idempotencyKey) store(idempotencyKey, stripeAccount, method, path, entry.params, outcome, requestId);
      return outcome;
    })();

    entry.status = outcome.status;
    entry.replayed = outcome.replayed ?? false;
    const body = typeof outcome.body === 'string' ? outcome.body : JSON.stringify(outcome.body, null, 2);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Request-Id': requestId,
      'Stripe-Version': header(req, 'stripe-version') ?? Stripe.API_VERSION,
      ...(idempotencyKey && method === 'POST' ? { 'Idempotency-Key': idempotencyKey } : {}),
      ...(outcome.headers ?? {}),
    };

    const send = () => {
      if (res.destroyed || res.writableEnded) return;
      res.writeHead(outcome.status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
    };
    const activeFault = fault;
    if (activeFault?.kind === 'delay') {
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, activeFault.ms);
      timers.add(timer);
    } else if (activeFault?.kind === 'lose_response') {
      if (activeFault.at === 'mid_body') {
        const bytes = Buffer.from(body);
        res.writeHead(outcome.status, { ...headers, 'Content-Length': String(bytes.length) });
        res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.socket?.destroy());
      } else {
        req.socket.destroy();
      }
    } else {
      send();
    }
  }

  function rateLimited(): Outcome {
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

  function idemKey(key: string, account: string | undefined) {
    return `${account ?? ''}\u0000${key}`;
  }

  function store(key: string, account: string | undefined, method: string, path: string, params: Params, outcome: Outcome, requestId: string) {
    idempotency.set(idemKey(key, account), {
      method,
      path,
      params: canonical(params),
      status: outcome.status,
      body: JSON.stringify(outcome.body, null, 2),
      requestId,
    });
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        if (!res.headersSent && !res.destroyed) {
          const body = JSON.stringify({ error: { type: 'api_error', message: `stripe-double crashed: ${(e as Error).stack ?? String(e)}` } });
          res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
          res.end(body);
        }
      }
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closed = false;

  return {
    host,
    port,
    url: `http://${host}:${port}`,
    stripeConfig: { host, port, protocol: 'http' },
    accounts,
    transfers,
    requests,
    faults: {
      enqueue(fault: Fault) {
        if (fault.kind === 'delay' && !(fault.ms >= 0)) throw new Error('stripe-double: a delay fault needs ms >= 0');
        faultQueue.push({ ...fault, remaining: fault.times ?? 1 });
      },
      pending: () => faultQueue.map(({ remaining, ...f }) => ({ ...f, times: remaining })),
      clear() {
        faultQueue = [];
      },
    },
    get rateLimitedCount() {
      return rateLimitedCount;
    },
    setRateLimit(perSecond) {
      rateLimit = perSecond;
    },
    activateAccount: (id) => activate(mustAccount(id)),
    setCapability(id, capability, status) {
      const account = mustAccount(id);
      account.capabilities[capability] = status;
      return account;
    },
    createAccount: (o = {}) => newAccount(o),
    reverseTransfer(id, amount) {
      const transfer = transfers.get(id);
      if (!transfer) throw new Error(`stripe-double: no transfer ${id}`);
      return reverse(transfer, amount, {});
    },
    setBalance(currency, amount) {
      balance ??= {};
      balance[currency.toLowerCase()] = amount;
    },
    reset() {
      faultQueue = [];
      windowStart = 0;
      windowCount = 0;
      rateLimitedCount = 0;
    },
    clearData() {
      accounts.clear();
      transfers.clear();
      idempotency.clear();
      requests.length = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await done;
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

// ---------------------------------------------------------------------------------------------
// Webhooks

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
