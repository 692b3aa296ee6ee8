/**
 * The HTTP server: reads each request (form or query parameters, API key, Idempotency-Key,
 * Stripe-Account), logs it, applies faults and the rate limit, answers replays from the idempotency
 * store, routes the rest to the endpoints, and writes the answer in Stripe's shape.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { ApiFailure, errorOutcome, rateLimited, unauthenticated, validation, type Outcome } from './errors.js';
import { deliver, FaultQueue, injectedOutcome, RateWindow, type Fault } from './faults.js';
import { IdempotencyStore, type KeyedRequest } from './idempotency.js';
import { randomId } from './ids.js';
import { BadParams, parseForm, type Params } from './params.js';
import { route } from './routes.js';
import { makeEvent, type StripeEventJson } from './events.js';
import {
  StripeStore,
  type CapabilityStatus,
  type CreateAccountOptions,
  type DoubleAccount,
  type DoubleBankAccount,
  type DoubleReversal,
  type DoubleTransfer,
} from './store.js';

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
  /**
   * The person replaces their bank details (in Stripe's Express dashboard): a new bank account
   * becomes the default and the old default is removed. Returns the Connect events Stripe sends
   * for it, in its order: `account.external_account.created` (the new one),
   * `account.external_account.deleted` (the old one, if there was one) and `account.updated` with
   * the previous list under `previous_attributes.external_accounts`. Nothing is delivered: the test
   * posts the events it wants (see deliverEvent in test/helpers/payout-fixtures.ts).
   */
  changeBankAccount(id: string, fields?: { last4?: string; bankName?: string }): { account: DoubleAccount; added: DoubleBankAccount; removed: DoubleBankAccount | null; events: StripeEventJson[] };
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

/** Everything one running double keeps. */
interface DoubleState {
  readonly store: StripeStore;
  readonly faults: FaultQueue;
  readonly rate: RateWindow;
  readonly idempotency: IdempotencyStore;
  readonly requests: RequestLogEntry[];
  /** Whether endpoint errors are stored under idempotency keys. */
  readonly storeErrors: boolean;
  /** Pending delayed answers, cancelled on close. */
  readonly timers: Set<NodeJS.Timeout>;
}

const HOST = '127.0.0.1';

export async function startStripeDouble(options: StripeDoubleOptions = {}): Promise<StripeDouble> {
  const state: DoubleState = {
    store: new StripeStore(options.defaultCountry ?? 'GB', options.balance),
    faults: new FaultQueue(),
    rate: new RateWindow(options.rateLimitPerSecond),
    idempotency: new IdempotencyStore(),
    requests: [],
    storeErrors: options.storeIdempotentErrors ?? true,
    timers: new Set(),
  };
  const server = await listen(state);
  const port = (server.address() as AddressInfo).port;
  return controls(state, server, port);
}

/** The object a test holds: the server's address, its data, and the knobs. */
function controls(state: DoubleState, server: Server, port: number): StripeDouble {
  const { store, faults, rate, idempotency, requests, timers } = state;
  let closed = false;
  return {
    host: HOST,
    port,
    url: `http://${HOST}:${port}`,
    stripeConfig: { host: HOST, port, protocol: 'http' },
    accounts: store.accounts,
    transfers: store.transfers,
    requests,
    faults: {
      enqueue(fault: Fault) {
        faults.enqueue(fault);
      },
      pending: () => faults.pending(),
      clear() {
        faults.clear();
      },
    },
    get rateLimitedCount() {
      return rate.limitedCount;
    },
    setRateLimit(perSecond) {
      rate.limit = perSecond;
    },
    activateAccount: (id) => store.activate(store.mustAccount(id)),
    setCapability(id, capability, status) {
      const account = store.mustAccount(id);
      account.capabilities[capability] = status;
      return account;
    },
    createAccount: (o = {}) => store.createAccount(o),
    changeBankAccount(id, fields = {}) {
      const account = store.mustAccount(id);
      const before = structuredClone(account.external_accounts);
      const old = account.external_accounts.data.find((b) => b.currency === account.default_currency && b.default_for_currency) ?? null;
      const added = store.addBankAccount(account, fields);
      const removed = old ? store.removeBankAccount(account, old.id) : null;
      const events = [
        makeEvent('account.external_account.created', added, { account: id }),
        ...(removed ? [makeEvent('account.external_account.deleted', { ...removed, deleted: true }, { account: id })] : []),
        makeEvent('account.updated', account, { account: id, previous_attributes: { external_accounts: before } }),
      ];
      return { account, added, removed, events };
    },
    reverseTransfer(id, amount) {
      return store.reverse(store.mustTransfer(id), amount, {});
    },
    setBalance(currency, amount) {
      store.setBalance(currency, amount);
    },
    reset() {
      faults.clear();
      rate.reset();
    },
    clearData() {
      store.clear();
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

/** An HTTP server on a free port of 127.0.0.1; a crash while handling a request answers 500 with the stack. */
async function listen(state: DoubleState): Promise<Server> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      try {
        handle(state, req, res, Buffer.concat(chunks).toString('utf8'));
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
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** One request: logged on arrival, answered, and the log entry completed with the answer. */
function handle(state: DoubleState, req: IncomingMessage, res: ServerResponse, rawBody: string): void {
  const method = (req.method ?? 'GET').toUpperCase();
  const url = new URL(req.url ?? '/', 'http://stripe-double');
  const idempotencyKey = header(req, 'idempotency-key');
  const requestId = randomId('req', 14);
  const entry: RequestLogEntry = {
    method,
    path: url.pathname,
    query: url.search,
    idempotencyKey,
    stripeAccount: header(req, 'stripe-account'),
    params: {},
    status: 0,
    replayed: false,
    fault: undefined,
    at: Date.now(),
  };
  state.requests.push(entry);

  const { outcome, fault } = answer(state, req, entry, rawBody, requestId);

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
  deliver(req, res, { status: outcome.status, headers, body }, fault, state.timers);
}

/** Parses the parameters into the log entry, checks the API key, counts the request against the rate
 * limit and takes the fault that applies to it, then performs it. */
function answer(state: DoubleState, req: IncomingMessage, entry: RequestLogEntry, rawBody: string, requestId: string): { outcome: Outcome; fault?: Fault } {
  const { method } = entry;
  try {
    entry.params = parseForm(method === 'GET' || method === 'DELETE' ? entry.query.slice(1) : rawBody);
  } catch (e) {
    if (e instanceof BadParams) return { outcome: errorOutcome(validation('parameter_unknown', e.message)) };
    throw e;
  }
  const auth = header(req, 'authorization') ?? '';
  const key = /^Bearer\s+((?:sk|rk)_\S+)$/.exec(auth)?.[1];
  if (!key) return { outcome: unauthenticated(auth) };

  // Rate limiting counts every authenticated request; an injected fault takes precedence.
  state.rate.count(Date.now());
  const fault = state.faults.take(method, entry.path);
  entry.fault = fault?.kind;
  return { outcome: perform(state, entry, fault, requestId), fault };
}

/** The answer for an authenticated request: an injected fault's, the rate limit's, a replay, or the
 * endpoint's, storing it under the idempotency key as Stripe does. */
function perform(state: DoubleState, entry: RequestLogEntry, fault: Fault | undefined, requestId: string): Outcome {
  const { method, path, params, idempotencyKey } = entry;
  const keyed: KeyedRequest | undefined =
    method === 'POST' && idempotencyKey ? { key: idempotencyKey, stripeAccount: entry.stripeAccount, method, path, params } : undefined;

  const injected = fault && injectedOutcome(fault);
  if (injected) {
    if (fault?.kind === 'status' && fault.replayable && keyed) state.idempotency.remember(keyed, injected, requestId);
    return injected;
  }
  if (!fault && state.rate.refuse()) {
    entry.fault = 'rate_limit_per_second';
    return rateLimited();
  }

  const earlier = keyed && state.idempotency.recall(keyed);
  if (earlier) return earlier;

  let outcome: Outcome;
  try {
    outcome = route(state.store, method, path, params);
  } catch (e) {
    if (!(e instanceof ApiFailure)) throw e;
    outcome = errorOutcome(e);
    if (!e.store || !state.storeErrors) return outcome;
  }
  if (keyed) state.idempotency.remember(keyed, outcome, requestId);
  return outcome;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
