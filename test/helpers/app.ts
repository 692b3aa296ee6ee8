import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Test } from 'tap';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Role } from '../../src/domain/enums.js';
import { createOrganisation } from '../../src/modules/organisations/service.js';
import { createUser } from '../../src/modules/users/service.js';
import { testDatabase } from './database.js';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TestAppOptions {
  env?: Record<string, string>;
  now?: () => Date;
  /** Start the job queue (payout execution). Off by default: most tests pay nobody through Stripe. */
  jobs?: boolean;
  /** A Stripe client (pointed at the test double); by default none, as without STRIPE_SECRET_KEY. */
  stripe?: import('stripe').Stripe | null;
}

/** Builds the real app on the file's shared test database. Close it in t.teardown. */
export async function buildTestApp(options: TestAppOptions = {}): Promise<FastifyInstance> {
  const database = await testDatabase();
  const config: Config = loadConfig({ LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, LOGIN_RATE_LIMIT: '100000', REPORT_RATE_LIMIT: '100000', PASSWORD_HASH_MEMORY_KIB: '1024', FAILED_SIGN_IN_MIN_MS: '0', ...options.env });
  return buildApp({
    config,
    database,
    jwtSecret: config.jwtSecret ?? TEST_JWT_SECRET,
    now: options.now,
    jobs: options.jobs ?? false,
    stripe: options.stripe ?? null,
    // A route answering with a problem code its OpenAPI schema does not declare fails the test.
    checkDeclaredProblems: true,
  });
}

/**
 * The app a test file shares (buildTestApp with `options`), closed with the file's test database
 * when the file ends: `const app = await appForThisFile(t);` at the top of the file.
 */
export async function appForThisFile(t: Test, options: TestAppOptions = {}): Promise<FastifyInstance> {
  const app = await buildTestApp(options);
  t.teardown(async () => {
    await app.close();
    await (await testDatabase()).close();
  });
  return app;
}

/**
 * The file's app (appForThisFile) on a clock the test moves: `at(moment)` sets it, `now()` reads
 * it. It starts at `start`.
 */
export async function appOnClock(t: Test, start: string, options: TestAppOptions = {}) {
  let clock = new Date(start);
  const app = await appForThisFile(t, { ...options, now: () => clock });
  const at = (moment: string | Date) => {
    clock = new Date(moment);
  };
  return { app, at, now: () => clock };
}

/**
 * A request through `app` that asserts its status and returns the body. The status wanted is
 * `expected`, or else 201 for a POST that creates and 200 for the rest (the actions approve,
 * mark-paid and reverse answer 200). A failing assertion prints the response body.
 */
export type Call = (method: 'GET' | 'POST' | 'PATCH', url: string, headers: Record<string, string>, payload?: object, expected?: number) => Promise<any>;

export function checkedCall(t: Test, app: FastifyInstance): Call {
  return async (method, url, headers, payload, expected) => {
    const res = await app.inject({ method, url, headers, payload });
    const wanted = expected ?? (method === 'POST' && !/\/(approve|mark-paid|reverse)$/.test(url) ? 201 : 200);
    t.equal(res.statusCode, wanted, `${method} ${url}`, { body: res.body });
    return json(res);
  };
}

let counter = 0;
export const uniqueEmail = (label = 'user') => `${label}-${process.pid}-${Date.now()}-${++counter}@example.test`;

export interface TestOrg {
  organisationId: string;
  adminUserId: string;
  adminEmail: string;
  adminPassword: string;
  /** A bearer token for a new user of this organisation with the role. */
  tokenFor(role: Role, options?: { contributorId?: string }): Promise<string>;
  /** Authorization headers for the role (a new user each call). */
  as(role: Role, options?: { contributorId?: string }): Promise<Record<string, string>>;
}

/** A fresh organisation with an admin, so each test owns its data. */
export async function createTestOrg(app: FastifyInstance, name = 'Test organisation'): Promise<TestOrg> {
  const adminEmail = uniqueEmail('admin');
  const adminPassword = 'correct horse battery staple';
  const { organisationId, adminUserId } = await createOrganisation(app.db, { name, adminEmail, adminPassword });
  const tokenFor = async (role: Role, options: { contributorId?: string } = {}) => {
    // Users are created without a password (hashing one is deliberately slow) and given a token
    // straight away; the login route itself is tested in test/auth.test.ts.
    const user = await createUser(
      app.db,
      organisationId,
      { type: 'system', id: 'test' },
      { email: uniqueEmail(role), name: `Test ${role}`, role, contributorId: options.contributorId },
      new Date(),
    );
    return app.issueAccessToken({ sub: user.id, org: organisationId, role, cid: user.contributorId });
  };
  return {
    organisationId,
    adminUserId,
    adminEmail,
    adminPassword,
    tokenFor,
    as: async (role, options) => ({ authorization: `Bearer ${await tokenFor(role, options)}` }),
  };
}

/** Parses a JSON response body, failing loudly with the body when it is not JSON. */
export function json<T = any>(response: LightMyRequestResponse): T {
  try {
    return response.json() as T;
  } catch {
    throw new Error(`Response is not JSON (${response.statusCode}): ${response.body}`);
  }
}

export type { InjectOptions };
