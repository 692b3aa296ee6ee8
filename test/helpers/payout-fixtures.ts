/**
 * Helpers for the Stripe payout, webhook and crash tests: an app wired to the Stripe test double,
 * onboarding a contributor all the way to "can receive transfers", signed webhook deliveries and
 * bounded polling for a run to settle. They talk HTTP through a `Send` function, so the same
 * helpers drive an in-process app (inject) and a real server in a child process (fetch).
 */
import type { FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import type { Test } from 'tap';
import { buildTestApp, createTestOrg } from './app.js';
import { fundedBudget, owedContributor } from './fixtures.js';
import { privatePostgres, testDatabase } from './database.js';
import { makeEvent, signedEvent, startStripeDouble, type Fault, type StripeDouble } from '../../tools/stripe-double/index.js';

export const WEBHOOK_SECRET = 'whsec_test';

/** Used only to sign webhook payloads (generateTestHeaderString makes no request). */
export const signer = new Stripe('sk_test_x');

/** The real SDK pointed at the double, as the app gets it in these tests. */
export const stripeFor = (double: StripeDouble) => new Stripe('sk_test_x', { ...double.stripeConfig, maxNetworkRetries: 0, timeout: 2000 });

/** The app with Stripe and the job queue (2 payout workers), on the file's test database. */
export async function buildStripeApp(double: StripeDouble, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildTestApp({
    jobs: true,
    stripe: stripeFor(double),
    env: { STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, PAYOUT_WORKERS: '2', ...env },
  });
  await app.ready();
  return app;
}

/**
 * What a payout or webhook test file shares: its own PostgreSQL database (isolatedPostgres), so
 * payout workers of other test files cannot take its jobs (each file has its own double); a fresh
 * Stripe double whose faults and rate limit are reset before each test; and the app with Stripe and
 * the job queue (buildStripeApp), driven through `send`. All closed when the file ends.
 */
export async function stripeAppForThisFile(t: Test, label: string): Promise<{ double: StripeDouble; app: FastifyInstance; send: Send }> {
  const isolated = await isolatedPostgres(label);
  const double = await startStripeDouble();
  const app = await buildStripeApp(double);
  const send = viaInject(app);
  t.teardown(async () => {
    await app.close();
    await (await testDatabase()).close();
    await double.close();
    await isolated.drop();
  });
  t.beforeEach(() => double.reset());
  return { double, app, send };
}

// ---------------------------------------------------------------------------------------------
// HTTP, either way

export interface SendRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string is sent as is. */
  payload?: object | string;
}
export interface SendResponse {
  statusCode: number;
  body: string;
}
export type Send = (request: SendRequest) => Promise<SendResponse>;

export const viaInject =
  (app: FastifyInstance): Send =>
  async (request) => {
    const res = await app.inject({ method: request.method, url: request.url, headers: request.headers, payload: request.payload });
    return { statusCode: res.statusCode, body: res.body };
  };

export const viaFetch =
  (baseUrl: string): Send =>
  async (request) => {
    const headers: Record<string, string> = { ...request.headers };
    let body: string | undefined;
    if (typeof request.payload === 'string') body = request.payload;
    else if (request.payload !== undefined) {
      body = JSON.stringify(request.payload);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(baseUrl + request.url, { method: request.method, headers, body });
    return { statusCode: res.status, body: await res.text() };
  };

export function parse<T = any>(res: SendResponse): T {
  try {
    return JSON.parse(res.body) as T;
  } catch {
    throw new Error(`Response is not JSON (${res.statusCode}): ${res.body}`);
  }
}

/** Sends and requires the status; returns the parsed body. */
export async function expectStatus<T = any>(send: Send, request: SendRequest, status: number): Promise<T> {
  const res = await send(request);
  if (res.statusCode !== status) throw new Error(`${request.method} ${request.url} → ${res.statusCode} (wanted ${status}): ${res.body}`);
  return parse<T>(res);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Webhooks and onboarding

/** POSTs a signed event to the webhook route, as Stripe would (raw JSON, no bearer token). */
export function deliverEvent(send: Send, event: object, options: { secret?: string; timestamp?: number } = {}) {
  const { payload, header } = signedEvent(signer, event, options.secret ?? WEBHOOK_SECRET, options.timestamp);
  return send({
    method: 'POST',
    url: '/v1/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
    payload,
  });
}

/**
 * Takes a Stripe contributor to "can receive transfers": creates the connected account through
 * the API, completes onboarding in the double, and delivers the signed account.updated webhook.
 * Returns the account id.
 */
export async function onboardStripeContributor(send: Send, headers: Record<string, string>, double: StripeDouble, contributorId: string) {
  const onboarding = await expectStatus(send, { method: 'POST', url: `/v1/contributors/${contributorId}/stripe-account`, headers }, 200);
  const account = double.activateAccount(onboarding.accountId);
  const delivered = await deliverEvent(send, makeEvent('account.updated', account));
  if (delivered.statusCode !== 200) throw new Error(`account.updated → ${delivered.statusCode}: ${delivered.body}`);
  const contributor = await expectStatus(send, { method: 'GET', url: `/v1/contributors/${contributorId}`, headers }, 200);
  if (contributor.payoutsEnabled !== true) throw new Error(`contributor not ready after account.updated: ${JSON.stringify(contributor)}`);
  return onboarding.accountId as string;
}

/**
 * An organisation with one funded budget and, for each of `people`, a Stripe contributor owed
 * `hours` × £20 of approved time and onboarded to receive transfers. `stripeApp` is what
 * stripeAppForThisFile returns.
 */
export async function stripeContributors(
  stripeApp: { app: FastifyInstance; send: Send; double: StripeDouble },
  people: { name: string; hours: number }[],
) {
  const { app, send, double } = stripeApp;
  const org = await createTestOrg(app);
  const { finance, budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const owed: { contributorId: string; entryId: string; accountId: string; amount: number }[] = [];
  for (const { name, hours } of people) {
    const contributor = await owedContributor(app, org, budgetId, { paymentMethod: 'stripe', hours, name });
    const accountId = await onboardStripeContributor(send, coordinator, double, contributor.contributorId);
    owed.push({ ...contributor, accountId, amount: hours * 2000 });
  }
  return { org, finance, coordinator, budgetId, people: owed };
}

/** Stripe's refusal of a transfer to an account it does not know, with a message that names the account, as Stripe's does. */
export const noSuchDestination = (accountId: string): Fault => ({
  kind: 'error',
  status: 400,
  type: 'invalid_request_error',
  code: 'resource_missing',
  param: 'destination',
  message: `No such destination: '${accountId}'`,
  match: 'POST /v1/transfers',
});

// ---------------------------------------------------------------------------------------------
// Waiting

/**
 * Polls the run until `done` holds (by default: every Stripe item is paid or failed), for at most
 * `timeoutMs`; throws with the last body otherwise.
 */
export async function waitForRun(
  send: Send,
  headers: Record<string, string>,
  runId: string,
  options: { timeoutMs?: number; done?: (run: any) => boolean } = {},
) {
  const done = options.done ?? ((run: any) => run.items.filter((i: any) => i.method === 'stripe').every((i: any) => i.status === 'paid' || i.status === 'failed'));
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last = '';
  for (;;) {
    const res = await send({ method: 'GET', url: `/v1/payout-runs/${runId}`, headers });
    last = `${res.statusCode} ${res.body}`;
    if (res.statusCode === 200 && done(JSON.parse(res.body))) return JSON.parse(res.body);
    if (Date.now() > deadline) throw new Error(`payout run ${runId} did not settle within ${options.timeoutMs ?? 30_000} ms; last: ${last}`);
    await sleep(150);
  }
}

export const allPaid = (run: any) => run.items.every((i: any) => i.status === 'paid');

/** The double's transfers made for a payout item. */
export const transfersOf = (double: StripeDouble, itemId: string) =>
  [...double.transfers.values()].filter((transfer) => transfer.metadata.payout_item_id === itemId);

/** The requests that asked the double for a transfer for one of these payout items, in arrival order. */
export const transferRequestsOf = (double: StripeDouble, itemIds: Iterable<string>) => {
  const ids = new Set(itemIds);
  return double.requests
    .filter((r) => r.method === 'POST' && r.path === '/v1/transfers' && ids.has(String((r.params.metadata as Record<string, unknown> | undefined)?.payout_item_id)))
    .sort((a, b) => a.at - b.at);
};

// ---------------------------------------------------------------------------------------------
// Ledger checks

export async function trialBalance(send: Send, headers: Record<string, string>) {
  return (await expectStatus(send, { method: 'GET', url: '/v1/ledger/trial-balance', headers }, 200)).balances as { currency: string; total: number }[];
}

/** The sum of every contributor in-transit account of the organisation. */
export async function totalInTransit(send: Send, headers: Record<string, string>) {
  let total = 0;
  let cursor: string | null = null;
  do {
    const page: any = await expectStatus(
      send,
      { method: 'GET', url: `/v1/ledger/accounts?type=contributor_in_transit&limit=200${cursor ? `&cursor=${cursor}` : ''}`, headers },
      200,
    );
    for (const account of page.data) total += account.balance;
    cursor = page.nextCursor;
  } while (cursor);
  return total;
}

export async function balanceOf(send: Send, headers: Record<string, string>, contributorId: string) {
  const body = await expectStatus(send, { method: 'GET', url: `/v1/contributors/${contributorId}/balance`, headers }, 200);
  return body.balances.find((b: any) => b.currency === 'GBP') ?? { owed: 0, inTransit: 0, paid: 0 };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL isolation

/**
 * Files that run payout workers must not share a PostgreSQL database with other test files run
 * in parallel: pg-boss workers of every process sharing a database take each other's jobs (and
 * their sweeps queue each other's items), and each process talks to its own Stripe double, which
 * knows nothing of the other's accounts. On PostgreSQL this points TEST_DATABASE_URL (for this
 * process only) at a fresh database `<name>_<label>` next to the configured one, and returns a
 * function that drops it; on PGlite (each file has its own in-memory database) it does nothing.
 * Call it before anything opens the test database.
 */
export async function isolatedPostgres(label: string): Promise<{ url: string | undefined; drop: () => Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return { url: undefined, drop: async () => {} };
  const own = await privatePostgres(base, label);
  process.env.TEST_DATABASE_URL = own.url;
  return own;
}
