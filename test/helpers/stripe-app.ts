import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { createStripeClient } from '../../src/lib/stripe.js';
import { buildTestApp } from './app.js';
import { testDatabase } from './database.js';
import { startStripeDouble, type StripeDouble } from '../../tools/stripe-double/index.js';

/**
 * The app with Stripe configured against a fresh test double, so Stripe routes reach their
 * service code instead of stopping at stripe_not_configured; closed (with the file's database)
 * when the test file ends. For suites that go through every route; the payout suites use
 * buildStripeApp, which also runs the job queue.
 */
export async function buildAppWithStripeDouble(t: Test, label: string): Promise<{ app: FastifyInstance; stripeDouble: StripeDouble }> {
  const stripeDouble = await startStripeDouble();
  const app = await buildTestApp({
    stripe: createStripeClient({ secretKey: `sk_test_${label}`, apiBase: stripeDouble.url, timeoutMs: 5_000, maxRequestsPerSecond: 100 }),
  });
  t.teardown(async () => {
    await app.close();
    await stripeDouble.close();
    await (await testDatabase()).close();
  });
  await app.ready();
  return { app, stripeDouble };
}
