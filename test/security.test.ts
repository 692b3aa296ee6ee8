/**
 * The shared security suite: for every /v1 route the app serves, proves that a missing or bad
 * credential is refused (401), that roles outside the route's rule are refused (403), and that
 * another organisation's ids are not found (404).
 *
 * Routes are discovered from the app itself (its OpenAPI document, cross-checked against the
 * router), so a new route is covered the moment it is registered, and the suite FAILS until the
 * route is given an entry in `access` (and, if it has a path parameter, in `fixtures`). That is
 * the point: a route nobody has thought about the security of cannot slip in.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { and, eq } from 'drizzle-orm';
import t from 'tap';
import { contributors } from '../src/db/schema.js';
import { roles, type Role } from '../src/domain/enums.js';
import { newId } from '../src/lib/ids.js';
import { createTestOrg, json, TEST_JWT_SECRET, uniqueEmail, type TestOrg } from './helpers/app.js';
import { fundedBudget, owedContributor } from './helpers/fixtures.js';
import { openApiPath, registeredRoutes } from './helpers/routes.js';
import { buildAppWithStripeDouble } from './helpers/stripe-app.js';

// Some 60 routes, each with its own organisations and fixtures: more than tap's default 120 s
// on a busy machine.
t.setTimeout(300_000);

// Stripe is configured (against the test double), so the Stripe routes reach their tenant
// checks instead of stopping at stripe_not_configured.
const { app } = await buildAppWithStripeDouble(t, 'security_suite');

type RouteKey = `${'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} /v1/${string}`;

/** Time entries and expenses share one lifecycle, and so one set of rules for who does what. */
const approvableWork = (resource: 'time-entries' | 'expenses') =>
  ({
    [`POST /v1/${resource}`]: ['coordinator', 'participant'],
    [`GET /v1/${resource}`]: ['admin', 'finance', 'coordinator', 'participant'],
    [`GET /v1/${resource}/{id}`]: ['admin', 'finance', 'coordinator', 'participant'],
    [`POST /v1/${resource}/{id}/approve`]: ['coordinator', 'finance'],
    [`POST /v1/${resource}/{id}/reject`]: ['coordinator', 'finance'],
    [`POST /v1/${resource}/{id}/reverse`]: ['coordinator', 'finance'],
  }) as Record<RouteKey, readonly Role[]>;

/**
 * Who may call each route, keyed by `METHOD /path` as the OpenAPI document spells it. A route
 * the app serves that has no entry here fails the suite: add it, with the roles docs/api-guide.md gives.
 * `'public'` is allowed only for the routes in PUBLIC_ROUTES.
 */
const access: Record<RouteKey, readonly Role[] | 'public'> = {
  // Auth and users
  'POST /v1/auth/token': 'public',
  'POST /v1/auth/accept-invite': 'public',
  'POST /v1/auth/reset-password': 'public',
  'POST /v1/auth/logout': ['admin', 'finance', 'coordinator', 'participant', 'reporter'],
  'GET /v1/me': ['admin', 'finance', 'coordinator', 'participant', 'reporter'],
  'GET /v1/organisation': ['admin', 'finance', 'coordinator'],
  'PATCH /v1/organisation': ['admin'],
  'POST /v1/users': ['admin'],
  'GET /v1/users': ['admin'],
  'GET /v1/users/{id}': ['admin'],
  'PATCH /v1/users/{id}': ['admin'],
  'POST /v1/users/{id}/password-reset': ['admin'],
  'POST /v1/api-tokens': ['admin'],
  'GET /v1/api-tokens': ['admin'],
  'DELETE /v1/api-tokens/{id}': ['admin'],
  // Contributors, projects, rate cards, budgets (a participant sees and edits only their own contributor)
  'POST /v1/contributors': ['admin', 'finance', 'coordinator'],
  'GET /v1/contributors': ['admin', 'finance', 'coordinator'],
  'GET /v1/contributors/{id}': ['admin', 'finance', 'coordinator', 'participant'],
  'PATCH /v1/contributors/{id}': ['admin', 'finance', 'coordinator', 'participant'],
  'POST /v1/contributors/{id}/earnings-limits': ['admin', 'finance', 'coordinator'],
  'GET /v1/contributors/{id}/earnings-limits': ['admin', 'finance', 'coordinator', 'participant'],
  'POST /v1/projects': ['admin', 'finance', 'coordinator'],
  'GET /v1/projects': ['admin', 'finance', 'coordinator'],
  'GET /v1/projects/{id}': ['admin', 'finance', 'coordinator'],
  'POST /v1/rate-cards': ['admin', 'finance'],
  'GET /v1/rate-cards': ['admin', 'finance', 'coordinator'],
  'GET /v1/rate-cards/{id}': ['admin', 'finance', 'coordinator'],
  'POST /v1/rate-cards/{id}/versions': ['admin', 'finance'],
  'POST /v1/budgets': ['admin', 'finance'],
  'GET /v1/budgets': ['admin', 'finance', 'coordinator'],
  'GET /v1/budgets/{id}': ['admin', 'finance', 'coordinator'],
  'POST /v1/budgets/{id}/adjustments': ['admin', 'finance'],
  // Ledger (finance; admin reads everything)
  'GET /v1/ledger/accounts': ['admin', 'finance'],
  'GET /v1/ledger/transactions': ['admin', 'finance'],
  'GET /v1/ledger/trial-balance': ['admin', 'finance'],
  // Time and expenses: coordinators record and decide; a participant records and reads their own
  ...approvableWork('time-entries'),
  'POST /v1/sessions': ['coordinator'],
  'POST /v1/sessions/quote': ['coordinator'],
  ...approvableWork('expenses'),
  // Balances and statements ("me" is any user linked to a contributor; never a reporter)
  'GET /v1/contributors/{id}/balance': ['admin', 'finance', 'coordinator'],
  'GET /v1/contributors/{id}/statement': ['admin', 'finance', 'coordinator'],
  'GET /v1/me/balance': ['admin', 'finance', 'coordinator', 'participant'],
  'GET /v1/me/statement': ['admin', 'finance', 'coordinator', 'participant'],
  'GET /v1/contributors/{id}/statement.pdf': ['admin', 'finance', 'coordinator', 'participant'],
  'GET /v1/me/statement.pdf': ['admin', 'finance', 'coordinator', 'participant'],
  // Payouts (finance; admin reads)
  'POST /v1/payout-runs': ['finance'],
  'GET /v1/payout-runs': ['admin', 'finance'],
  'GET /v1/payouts/reconciliation': ['admin', 'finance'],
  'GET /v1/payout-runs/{id}': ['admin', 'finance'],
  'POST /v1/payout-runs/{id}/approve': ['finance'],
  'POST /v1/payout-runs/{id}/cancel': ['finance'],
  'POST /v1/payouts/{id}/mark-paid': ['finance'],
  'POST /v1/payouts/{id}/mark-failed': ['finance'],
  'PUT /v1/payout-schedule': ['finance'],
  'GET /v1/payout-schedule': ['admin', 'finance'],
  'DELETE /v1/payout-schedule': ['finance'],
  // Stripe
  'POST /v1/contributors/{id}/stripe-account': ['finance', 'coordinator'],
  'POST /v1/me/stripe-account': ['participant'],
  'GET /v1/contributors/{id}/stripe-account': ['admin', 'finance', 'coordinator'],
  'GET /v1/me/stripe-account': ['participant'],
  'POST /v1/contributors/{id}/confirm-payout-details': ['finance'],
  'POST /v1/contributors/{id}/erase': ['admin'],
  'GET /v1/contributors/{id}/export': ['admin'],
  'GET /v1/me/export': ['admin', 'finance', 'coordinator', 'participant'],
  // Notifications
  'GET /v1/notifications': ['admin', 'finance'],
  'GET /v1/me/notification-preferences': ['admin', 'finance', 'coordinator', 'participant', 'reporter'],
  'PUT /v1/me/notification-preferences': ['admin', 'finance', 'coordinator', 'participant', 'reporter'],
  'POST /v1/webhooks/stripe': 'public',
  // Reports and audit (a reporter sees reports only)
  'GET /v1/reports/distribution': ['admin', 'finance', 'coordinator', 'reporter'],
  'GET /v1/reports/budgets/{id}': ['admin', 'finance', 'coordinator', 'reporter'],
  'GET /v1/reports/projects/{id}': ['admin', 'finance', 'coordinator', 'reporter'],
  'GET /v1/reports/time-to-pay': ['admin', 'finance', 'coordinator', 'reporter'],
  'GET /v1/audit-events': ['admin', 'finance'],
};

/** The only routes that take no bearer token (docs/api-guide.md, "Authentication"). */
const PUBLIC_ROUTES: readonly string[] = [
  'POST /v1/auth/token',
  'POST /v1/auth/accept-invite',
  'POST /v1/auth/reset-password',
  'POST /v1/webhooks/stripe',
];

interface Fixture {
  /** Values for the route's path parameters, naming a record of the given organisation. */
  params: Record<string, string>;
  /** A valid request body, for routes that have one, so validation cannot mask the 404. */
  body?: unknown;
  /** A valid query string, for routes that need one. */
  query?: Record<string, string>;
}

type FixtureFn = (app: FastifyInstance, org: TestOrg) => Promise<Fixture>;

/** A contributor of the org, made through the API. */
async function contributorIn(app: FastifyInstance, org: TestOrg, paymentMethod = 'bank_transfer'): Promise<string> {
  return (await create(app, org, '/v1/contributors', { name: 'Fixture contributor', kind: 'lived_experience', paymentMethod })).id;
}

/** A submitted time entry (two hours of meeting) in a funded budget. */
async function submittedEntry(app: FastifyInstance, org: TestOrg): Promise<string> {
  const { budgetId } = await fundedBudget(app, org);
  const contributorId = await contributorIn(app, org);
  return (await create(app, org, '/v1/time-entries', { contributorId, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 120 }, 'coordinator')).id;
}

/** A submitted travel expense in a funded budget. */
async function submittedExpense(app: FastifyInstance, org: TestOrg): Promise<string> {
  const { budgetId } = await fundedBudget(app, org);
  const contributorId = await contributorIn(app, org);
  return (await create(app, org, '/v1/expenses', { contributorId, budgetId, category: 'travel', amount: 1250, date: '2026-03-02' }, 'coordinator')).id;
}


/** A response body for an assertion message: text as it is, anything else (a PDF letter) by its type and size. */
const bodyOf = (res: { body: string; headers: Record<string, unknown> }) =>
  /json|text|html/.test(String(res.headers['content-type'])) ? res.body : `<${String(res.headers['content-type'])}, ${res.body.length} bytes>`;
const approved = async (app: FastifyInstance, org: TestOrg, kind: 'time-entries' | 'expenses', id: string) => {
  await create(app, org, `/v1/${kind}/${id}/approve`, undefined, 'coordinator', 200);
  return id;
};

/** A draft payout run holding one bank transfer item. */
async function draftRun(app: FastifyInstance, org: TestOrg): Promise<{ id: string; items: Array<{ id: string }> }> {
  const { budgetId } = await fundedBudget(app, org);
  await owedContributor(app, org, budgetId);
  return create(app, org, '/v1/payout-runs', { currency: 'GBP' }, 'finance');
}

/** A submitted item of `resource` to read, approve and reject; an approved one to reverse. */
const approvableWorkFixtures = (
  resource: 'time-entries' | 'expenses',
  submitted: (app: FastifyInstance, org: TestOrg) => Promise<string>,
  reasons: { reject: string; reverse: string },
): Partial<Record<RouteKey, FixtureFn>> => ({
  [`GET /v1/${resource}/{id}`]: async (app: FastifyInstance, org: TestOrg) => ({ params: { id: await submitted(app, org) } }),
  [`POST /v1/${resource}/{id}/approve`]: async (app: FastifyInstance, org: TestOrg) => ({ params: { id: await submitted(app, org) } }),
  [`POST /v1/${resource}/{id}/reject`]: async (app: FastifyInstance, org: TestOrg) => ({ params: { id: await submitted(app, org) }, body: { reason: reasons.reject } }),
  [`POST /v1/${resource}/{id}/reverse`]: async (app: FastifyInstance, org: TestOrg) => ({
    params: { id: await approved(app, org, resource, await submitted(app, org)) },
    body: { reason: reasons.reverse },
  }),
});

/** A payout item of an approved run (approved by a second finance user: four eyes). */
async function approvedItem(app: FastifyInstance, org: TestOrg): Promise<string> {
  const run = await draftRun(app, org);
  const approvedRun = await create(app, org, `/v1/payout-runs/${run.id}/approve`, undefined, 'finance', 200);
  return approvedRun.items[0].id;
}

const rateCardVersion = {
  effectiveFrom: '2026-04-01',
  rates: [{ activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 2500 }],
};

/**
 * For every route with a path parameter: creates a record in `org` that the route can act on,
 * and returns its path parameters. A parameterised route without an entry fails the suite.
 */
const fixtures: Partial<Record<RouteKey, FixtureFn>> = {
  'GET /v1/users/{id}': async (app, org) => {
    const user = await create(app, org, '/v1/users', { email: uniqueEmail('fixture'), name: 'Fixture user', role: 'finance' });
    return { params: { id: user.id } };
  },
  'PATCH /v1/users/{id}': async (app, org) => {
    const user = await create(app, org, '/v1/users', { email: uniqueEmail('fixture'), name: 'Fixture user', role: 'finance' });
    return { params: { id: user.id }, body: { name: 'Renamed fixture user' } };
  },
  'POST /v1/users/{id}/password-reset': async (app, org) => {
    const user = await create(app, org, '/v1/users', { email: uniqueEmail('fixture'), name: 'Fixture user', role: 'finance' });
    return { params: { id: user.id } };
  },
  'DELETE /v1/api-tokens/{id}': async (app, org) => {
    const token = await create(app, org, '/v1/api-tokens', { name: 'fixture token', role: 'reporter' });
    return { params: { id: token.id } };
  },
  'GET /v1/contributors/{id}': async (app, org) => ({ params: { id: await contributorIn(app, org) } }),
  'PATCH /v1/contributors/{id}': async (app, org) => ({ params: { id: await contributorIn(app, org) }, body: { paymentMethod: 'voucher' } }),
  'GET /v1/contributors/{id}/balance': async (app, org) => ({ params: { id: await contributorIn(app, org) } }),
  'GET /v1/contributors/{id}/statement': async (app, org) => ({
    params: { id: await contributorIn(app, org) },
    query: { from: '2026-01-01', to: '2026-12-31' },
  }),
  'GET /v1/contributors/{id}/statement.pdf': async (app, org) => ({ params: { id: await contributorIn(app, org) }, query: { taxYear: '2026-27' } }),
  'POST /v1/contributors/{id}/earnings-limits': async (app, org) => ({
    params: { id: await contributorIn(app, org) },
    body: { effectiveFrom: '2026-09-01', period: 'month', amount: 40_000, periodStartDay: 31, policy: 'split' },
  }),
  'GET /v1/contributors/{id}/earnings-limits': async (app, org) => ({ params: { id: await contributorIn(app, org) } }),
  'POST /v1/contributors/{id}/erase': async (app, org) => ({ params: { id: await contributorIn(app, org) } }),
  'GET /v1/contributors/{id}/export': async (app, org) => ({ params: { id: await contributorIn(app, org) } }),
  'POST /v1/contributors/{id}/stripe-account': async (app, org) => ({ params: { id: await contributorIn(app, org, 'stripe') } }),
  'GET /v1/contributors/{id}/stripe-account': async (app, org) => ({ params: { id: await contributorIn(app, org, 'stripe') } }),
  'POST /v1/contributors/{id}/confirm-payout-details': async (app, org) => {
    // A contributor whose payout details Stripe reported changed (as applyStripeEvent records it).
    const id = await contributorIn(app, org, 'stripe');
    await app.db
      .update(contributors)
      .set({ payoutDetailsChangedAt: new Date() })
      .where(and(eq(contributors.organisationId, org.organisationId), eq(contributors.id, id)));
    return { params: { id } };
  },
  'GET /v1/projects/{id}': async (app, org) => ({ params: { id: (await create(app, org, '/v1/projects', { name: 'Fixture project' })).id } }),
  'GET /v1/rate-cards/{id}': async (app, org) => ({ params: { id: (await fundedBudget(app, org)).rateCardId } }),
  'POST /v1/rate-cards/{id}/versions': async (app, org) => ({ params: { id: (await fundedBudget(app, org)).rateCardId }, body: rateCardVersion }),
  'GET /v1/budgets/{id}': async (app, org) => ({ params: { id: (await fundedBudget(app, org)).budgetId } }),
  'POST /v1/budgets/{id}/adjustments': async (app, org) => ({
    params: { id: (await fundedBudget(app, org)).budgetId },
    body: { amount: 5000, reason: 'Extra funding' },
  }),
  'GET /v1/reports/budgets/{id}': async (app, org) => ({ params: { id: (await fundedBudget(app, org)).budgetId } }),
  'GET /v1/reports/projects/{id}': async (app, org) => ({ params: { id: (await fundedBudget(app, org)).projectId } }),
  ...approvableWorkFixtures('time-entries', submittedEntry, { reject: 'Wrong project', reverse: 'Recorded twice' }),
  ...approvableWorkFixtures('expenses', submittedExpense, { reject: 'No receipt', reverse: 'Claimed twice' }),
  'GET /v1/payout-runs/{id}': async (app, org) => ({ params: { id: (await draftRun(app, org)).id } }),
  'POST /v1/payout-runs/{id}/approve': async (app, org) => ({ params: { id: (await draftRun(app, org)).id } }),
  'POST /v1/payout-runs/{id}/cancel': async (app, org) => ({ params: { id: (await draftRun(app, org)).id } }),
  'POST /v1/payouts/{id}/mark-paid': async (app, org) => ({ params: { id: await approvedItem(app, org) }, body: { reference: 'BACS 0001' } }),
  'POST /v1/payouts/{id}/mark-failed': async (app, org) => ({ params: { id: await approvedItem(app, org) }, body: { reason: 'Account closed' } }),
};

// ---------------------------------------------------------------------------------------------
// Route discovery

interface DiscoveredRoute {
  key: RouteKey;
  method: string;
  path: string;
  pathParams: string[];
  hasBody: boolean;
}

const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const openapi = app.swagger() as { paths?: Record<string, Record<string, { requestBody?: unknown }>> };
const documented: DiscoveredRoute[] = Object.entries(openapi.paths ?? {})
  .filter(([path]) => path.startsWith('/v1/'))
  .flatMap(([path, operations]) =>
    Object.entries(operations)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, operation]) => ({
        key: `${method.toUpperCase()} ${path}` as RouteKey,
        method: method.toUpperCase(),
        path,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
        hasBody: Boolean(operation.requestBody),
      })),
  );


// ---------------------------------------------------------------------------------------------
// Helpers

/** POSTs through the API as a new user of the role (admin by default); fails loudly if refused. */
async function create(app: FastifyInstance, org: TestOrg, url: string, payload: unknown, role: Role = 'admin', status = 201): Promise<any> {
  const res = await app.inject({ method: 'POST', url, headers: await org.as(role), ...(payload === undefined ? {} : { payload: payload as object }) });
  if (res.statusCode !== status) throw new Error(`fixture POST ${url} as ${role} failed (${res.statusCode}): ${bodyOf(res)}`);
  return json(res);
}

/** A contributor inserted directly, since participant users must be linked to one. */
async function createContributor(organisationId: string): Promise<string> {
  const id = newId();
  await app.db.insert(contributors).values({ organisationId, id, name: 'Fixture contributor', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  return id;
}

/**
 * Authorization headers for a new user of each role in the org, each linked to a contributor
 * (as a staff member who is also a contributor may be), so the "me" routes answer every role
 * they allow instead of refusing an unlinked user.
 */
async function usersByRole(org: TestOrg): Promise<Record<Role, Record<string, string>>> {
  const contributorId = await createContributor(org.organisationId);
  const entries = await Promise.all(roles.map(async (role) => [role, await org.as(role, { contributorId })] as const));
  return Object.fromEntries(entries) as Record<Role, Record<string, string>>;
}

const fillPath = (route: DiscoveredRoute, params: Record<string, string>) =>
  route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`the fixture for ${route.key} returned no value for {${name}}`);
    return encodeURIComponent(value);
  });

/** A body no route's schema accepts: a 401 or 403 for it proves auth runs before validation. */
const PROBE_BODY = { securitySuiteProbe: true };

function request(
  route: DiscoveredRoute,
  headers: Record<string, string>,
  options: { params?: Record<string, string>; body?: unknown; query?: Record<string, string> } = {},
) {
  const params = options.params ?? Object.fromEntries(route.pathParams.map((name) => [name, randomUUID()]));
  const body = options.body ?? (route.hasBody ? PROBE_BODY : undefined);
  return app.inject({
    method: route.method as 'GET',
    url: fillPath(route, params),
    headers,
    ...(options.query ? { query: options.query } : {}),
    ...(body === undefined ? {} : { payload: body as object }),
  });
}

/** A subtest, as tap hands it to a test function. */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

function assertProblem(t: TapTest, res: LightMyRequestResponse, status: number, code: string, label: string) {
  t.equal(res.statusCode, status, `${label}: ${bodyOf(res)}`);
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${label}: content-type`);
  t.equal(json(res).code, code, `${label}: code`);
}

// Hand-made JWTs, so every defect (algorithm, signature, claims) can be produced on purpose.
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
function signJwt(payload: Record<string, unknown>, options: { secret?: string; alg?: 'HS256' | 'HS512' | 'none' } = {}): string {
  const alg = options.alg ?? 'HS256';
  const input = `${b64url({ alg, typ: 'JWT' })}.${b64url(payload)}`;
  if (alg === 'none') return `${input}.`;
  const signature = createHmac(alg === 'HS256' ? 'sha256' : 'sha512', options.secret ?? TEST_JWT_SECRET)
    .update(input)
    .digest('base64url');
  return `${input}.${signature}`;
}
const nowSeconds = () => Math.floor(Date.now() / 1000);
const claimsFor = (org: TestOrg, overrides: Record<string, unknown> = {}) => ({
  sub: org.adminUserId,
  org: org.organisationId,
  role: 'admin',
  cid: null,
  iss: app.config.jwt.issuer,
  aud: app.config.jwt.audience,
  iat: nowSeconds() - 10,
  exp: nowSeconds() + 600,
  ...overrides,
});
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Credentials that must all be refused with 401 `unauthorized`, for an org's admin. */
async function badCredentials(org: TestOrg): Promise<Array<[string, Record<string, string>]>> {
  const admin = await org.as('admin');
  const apiToken = await create(app, org, '/v1/api-tokens', { name: 'to be revoked', role: 'admin' });
  const revoke = await app.inject({ method: 'DELETE', url: `/v1/api-tokens/${apiToken.id}`, headers: admin });
  if (revoke.statusCode !== 204) throw new Error(`could not revoke the API token (${revoke.statusCode}): ${revoke.body}`);

  const reporterToken = await org.tokenFor('reporter');
  const [header, payload, signature] = reporterToken.split('.');
  const escalated = { ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), role: 'admin' };
  const { org: _org, ...withoutOrg } = claimsFor(org);

  return [
    ['no Authorization header', {}],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['a garbage bearer', bearer('garbage')],
    ['another scheme', { authorization: `Basic ${Buffer.from(`${org.adminEmail}:${org.adminPassword}`).toString('base64')}` }],
    ['an unknown API token', bearer(`cpl_${randomUUID()}`)],
    ['a revoked API token', bearer(apiToken.token)],
    ['an expired JWT', bearer(signJwt(claimsFor(org, { iat: nowSeconds() - 3600, exp: nowSeconds() - 1800 })))],
    ['an alg "none" JWT', bearer(signJwt(claimsFor(org), { alg: 'none' }))],
    ['a JWT signed with another secret', bearer(signJwt(claimsFor(org), { secret: 'another-secret-that-is-long-enough-for-hs256-xyz' }))],
    ['a JWT signed with HS512', bearer(signJwt(claimsFor(org), { alg: 'HS512' }))],
    ['a JWT for another audience', bearer(signJwt(claimsFor(org, { aud: 'some-other-api' })))],
    ['a JWT from another issuer', bearer(signJwt(claimsFor(org, { iss: 'someone-else' })))],
    ['a JWT without an organisation', bearer(signJwt(withoutOrg))],
    ['a JWT whose payload was tampered with', bearer(`${header}.${b64url(escalated)}.${signature}`)],
  ];
}

// ---------------------------------------------------------------------------------------------
// The route table itself

t.test('the route table is complete', async (t) => {
  const keys = documented.map((r) => r.key);
  t.ok(keys.includes('GET /v1/me'), `the OpenAPI document lists the /v1 routes: ${keys.join(', ')}`);

  const missing = keys.filter((key) => !(key in access));
  t.same(missing, [], `Add these routes to \`access\` in test/security.test.ts, with the roles docs/api-guide.md gives them: ${missing.join(', ')}`);

  const stale = Object.keys(access).filter((key) => !keys.includes(key as RouteKey));
  t.same(stale, [], `These entries of \`access\` name routes the app does not serve (renamed or removed?): ${stale.join(', ')}`);

  const wronglyPublic = Object.entries(access)
    .filter(([key, rule]) => rule === 'public' && !PUBLIC_ROUTES.includes(key))
    .map(([key]) => key);
  t.same(wronglyPublic, [], 'Only the routes docs/api-guide.md names may be public');

  const needFixture = documented.filter((r) => r.pathParams.length > 0 && !fixtures[r.key]).map((r) => r.key);
  t.same(needFixture, [], `Add these parameterised routes to \`fixtures\` in test/security.test.ts: ${needFixture.join(', ')}`);

  const staleFixtures = Object.keys(fixtures).filter((key) => !keys.includes(key as RouteKey));
  t.same(staleFixtures, [], `These fixtures name routes the app does not serve: ${staleFixtures.join(', ')}`);
});

t.test('no /v1 route is hidden from the OpenAPI document (and so from this suite)', async (t) => {
  // Only to prove no /v1 route is hidden from the OpenAPI document, and so from this suite.
  const registered = registeredRoutes(app)
    .filter((route) => route.path.startsWith('/v1/'))
    .map((route) => `${route.method} ${openApiPath(route.path)}`);
  const documentedKeys = documented.map((r) => r.key as string);
  // Also proves the router listing was read correctly: every documented route is in it.
  t.same(documentedKeys.filter((key) => !registered.includes(key)), [], `routes read from printRoutes: ${registered.join(', ')}`);
  const hidden = registered.filter((key) => !documentedKeys.includes(key));
  t.same(hidden, [], `These routes are hidden from the OpenAPI document, so the security suite cannot see them: ${hidden.join(', ')}`);
});

t.test('the hand-made JWTs are right: a well-formed one is accepted', async (t) => {
  // Without this, the 401s below could come from a broken signer rather than the app.
  const org = await createTestOrg(app);
  const res = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(signJwt(claimsFor(org))) });
  t.equal(res.statusCode, 200, res.body);
  t.same(json(res), { userId: org.adminUserId, organisationId: org.organisationId, role: 'admin', contributorId: null });
});

t.test('a JWT accepted once is checked again: the same claims under another signature, or past their expiry, are refused', async (t) => {
  // Verified tokens are remembered (src/plugins/auth.ts): by the whole token, and only until
  // their expiry.
  const org = await createTestOrg(app);
  const me = (token: string) => app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
  // At least three whole seconds of life: `exp` is in seconds, and on a busy machine the two
  // requests below can take longer than the part of a second that flooring would leave.
  const expiresAt = Math.ceil(Date.now() / 1000) + 3;
  const shortLived = signJwt(claimsFor(org, { exp: expiresAt }));
  t.equal((await me(shortLived)).statusCode, 200, 'accepted while valid');
  t.equal((await me(shortLived)).statusCode, 200, 'and again');
  const [header, payload] = shortLived.split('.');
  const resigned = createHmac('sha256', 'another-secret-that-is-long-enough-for-hs256-xyz').update(`${header}.${payload}`).digest('base64url');
  assertProblem(t, await me(`${header}.${payload}.${resigned}`), 401, 'unauthorized', 'the same header and claims signed with another secret');
  await sleep(expiresAt * 1000 - Date.now() + 1100);
  assertProblem(t, await me(shortLived), 401, 'unauthorized', 'refused once expired, though accepted before');
});

// ---------------------------------------------------------------------------------------------
// Per route

for (const route of documented.filter((r) => access[r.key] === 'public')) {
  t.test(`${route.key} is public`, async (t) => {
    const res = await request(route, {});
    t.not(res.statusCode, 403, res.body);
    t.not(json(res).code, 'unauthorized', `a public route must not ask for a bearer token: ${bodyOf(res)}`);
  });
}

for (const route of documented) {
  const rule = access[route.key];
  if (!rule || rule === 'public') continue;

  t.test(route.key, async (t) => {
    t.test('refuses a missing or bad credential with 401', async (t) => {
      const org = await createTestOrg(app);
      for (const [label, headers] of await badCredentials(org)) {
        assertProblem(t, await request(route, headers), 401, 'unauthorized', label);
      }
    });

    t.test(`refuses every role but ${rule.join(', ')} with 403`, async (t) => {
      const org = await createTestOrg(app);
      const users = await usersByRole(org);
      for (const role of roles) {
        const res = await request(route, users[role]);
        if (rule.includes(role)) {
          t.not(res.statusCode, 401, `${role} (allowed): ${bodyOf(res)}`);
          // Some allowed answers are not JSON (a PDF letter): only a problem can be a refusal.
          const isJson = String(res.headers['content-type']).includes('json');
          t.not(isJson ? json(res).code : undefined, 'forbidden', `${role} is allowed by the table but refused: ${bodyOf(res)}`);
          if (route.hasBody) {
            // The probe body fails validation: the 403s above came before it.
            assertProblem(t, res, 400, 'validation_failed', `${role} (allowed) with an unknown body field`);
          }
        } else {
          assertProblem(t, res, 403, 'forbidden', `${role} (not allowed)`);
        }
      }
      // API tokens carry a role too (participant tokens do not exist).
      for (const role of roles.filter((r) => r !== 'participant' && !rule.includes(r))) {
        const token = await create(app, org, '/v1/api-tokens', { name: `${role} script`, role });
        assertProblem(t, await request(route, bearer(token.token)), 403, 'forbidden', `an API token for ${role}`);
      }
    });

    if (route.pathParams.length > 0) {
      t.test("answers 404 for another organisation's record", async (t) => {
        const fixture = fixtures[route.key];
        if (!fixture) return; // reported by 'the route table is complete'
        const owner = await createTestOrg(app, 'Owner organisation');
        const other = await createTestOrg(app, 'Other organisation');
        const role = rule.includes('admin') ? 'admin' : rule[0]!;
        const { params, body, query } = await fixture(app, owner);
        const headersAs = async (org: TestOrg) =>
          org.as(role, role === 'participant' ? { contributorId: await createContributor(org.organisationId) } : {});
        const otherHeaders = await headersAs(other);

        assertProblem(t, await request(route, otherHeaders, { params, body, query }), 404, 'not_found', "another organisation's id");
        const unknown = Object.fromEntries(route.pathParams.map((name) => [name, randomUUID()]));
        assertProblem(t, await request(route, otherHeaders, { params: unknown, body, query }), 404, 'not_found', 'an id that does not exist');
        const notAnId = Object.fromEntries(route.pathParams.map((name) => [name, 'not-an-id']));
        assertProblem(t, await request(route, otherHeaders, { params: notAnId, body, query }), 404, 'not_found', 'a malformed id');

        // The control: in its own organisation the same request finds the record (so the 404
        // above is about the tenant, and the refused attempt changed nothing).
        const own = await request(route, await headersAs(owner), { params, body, query });
        t.not(own.statusCode, 404, `the owner's own request: ${bodyOf(own)}`);
        t.ok(own.statusCode < 400, `the owner's own request succeeds: ${bodyOf(own)}`);
      });
    }

    if (route.pathParams.length > 0 && rule.includes('participant')) {
      t.test("refuses a participant another contributor's record", async (t) => {
        // docs/api-guide.md: a participant reaches only their own contributor. The fixture's record belongs
        // to another contributor of the same organisation.
        const fixture = fixtures[route.key];
        if (!fixture) return;
        const org = await createTestOrg(app);
        const { params, body, query } = await fixture(app, org);
        const participant = await org.as('participant', { contributorId: await createContributor(org.organisationId) });
        const res = await request(route, participant, { params, body, query });
        t.ok(res.statusCode === 403 || res.statusCode === 404, `403 or 404: ${bodyOf(res)}`);
        t.ok(['forbidden', 'not_found'].includes(json(res).code), res.body);
      });
    }
  });
}
