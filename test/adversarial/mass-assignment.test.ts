/**
 * Adversarial: mass assignment and internal fields.
 *
 * 1. For every POST and PATCH route that takes a body (found in the app's OpenAPI document; a
 *    new one fails the suite until it has a valid body in VALID_BODIES), a valid body plus one
 *    field the caller must never set — organisationId, organisation_id, id, status, approvedBy,
 *    decidedBy, createdBy, amount (where it is not a field, as on time entries), value,
 *    withheld, ledgerTransactionId, role (where it is not a field), contributorId (likewise),
 *    passwordHash, stripeAccountId, payoutsEnabled — is refused with 400 `validation_failed`
 *    naming the field, for every role the route admits, and writes nothing. The same goes for
 *    such a field inside a nested object. The valid body alone then succeeds, so each refusal
 *    was the field's doing.
 * 2. A participant cannot change their own role or contributor link, nor anything of their
 *    contributor but the payment method.
 * 3. No response — every GET route as every role it admits, and every response collected
 *    above — carries internal keys (organisation ids, password, token and invite hashes, the
 *    pseudonym key) or any stored hash or secret as a value. GET /v1/me is the one place that
 *    names the organisation (docs/api-guide.md: `{ userId, organisationId, role, contributorId }`).
 */
import { randomUUID } from 'node:crypto';
import { inArray } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { apiTokens, organisations, users } from '../../src/db/schema.js';
import type { Role } from '../../src/domain/enums.js';
import { errorCodes } from '../../src/errors.js';
import { json, uniqueEmail } from '../helpers/app.js';
import { assertLedgerInvariants } from '../helpers/invariants.js';
import { buildAppWithStripeDouble } from '../helpers/stripe-app.js';
import { buildWorld, changes, documentedRoutes, fillPath, PARAM_POOLS, probeAllowedRoles, problemDefects, WriteTracker, type DocumentedRoute, type RouteKey, type World } from './helpers/api-world.js';

t.setTimeout(300_000);

const { app } = await buildAppWithStripeDouble(t, 'mass_assignment');

const routes = documentedRoutes(app);
const bodyRoutes = routes.filter((r) => r.body && (r.method === 'POST' || r.method === 'PATCH'));

// ---------------------------------------------------------------------------------------------
// Valid bodies

interface BodyCase {
  /** A body the route accepts. */
  body: (w: World) => Record<string, unknown>;
  /** The record to act on, for routes with a path parameter. */
  params?: (w: World) => Record<string, string>;
}

/**
 * A valid body for every POST and PATCH route that takes one, keyed `METHOD /path` as the
 * OpenAPI document spells it. A body route without an entry fails the suite: add one.
 */
const VALID_BODIES: Partial<Record<RouteKey, BodyCase>> = {
  'POST /v1/auth/token': { body: (w) => ({ email: w.login.email, password: w.login.password }) },
  'POST /v1/auth/accept-invite': { body: (w) => ({ inviteToken: w.inviteToken, password: 'an invited user chose this' }) },
  'PATCH /v1/organisation': { body: () => ({ name: 'Renamed organisation', owedTargetDays: 21 }) },
  'POST /v1/users': { body: () => ({ email: uniqueEmail('mass'), name: 'New coordinator', role: 'coordinator' }) },
  'POST /v1/auth/reset-password': { body: (w) => ({ resetToken: w.resetToken, password: 'a reset password of length' }) },
  'PATCH /v1/users/{id}': { body: () => ({ name: 'Renamed by the admin' }), params: (w) => ({ id: w.ids.users[1]! }) },
  'POST /v1/api-tokens': { body: () => ({ name: 'Funder report script', role: 'reporter' }) },
  'POST /v1/contributors': {
    body: () => ({
      name: 'New contributor',
      email: uniqueEmail('contributor'),
      kind: 'carer',
      paymentMethod: 'voucher',
      earningsLimit: { period: 'month', amount: 10000, periodStartDay: 3, policy: 'split' },
    }),
  },
  'PATCH /v1/contributors/{id}': { body: () => ({ paymentMethod: 'voucher' }), params: (w) => ({ id: w.participantContributor }) },
  'POST /v1/contributors/{id}/earnings-limits': {
    body: () => ({ effectiveFrom: '2026-09-01', preset: 'esa_permitted_work', periodStartDay: 1, policy: 'block' }),
    params: (w) => ({ id: w.participantContributor }),
  },
  'POST /v1/projects': { body: () => ({ name: 'Peer support redesign', description: 'Co-designed with people who use the service' }) },
  'POST /v1/rate-cards': { body: () => ({ name: 'Second card', currency: 'GBP' }) },
  'POST /v1/rate-cards/{id}/versions': {
    body: () => ({
      effectiveFrom: '2026-07-01',
      rates: [
        { activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 2200, roundToMinutes: 15 },
        { activity: 'workshop', contributorKind: 'carer', unit: 'day', amount: 15000, dayThresholdMinutes: 300 },
      ],
    }),
    params: (w) => ({ id: w.rateCardId }),
  },
  'POST /v1/budgets': {
    body: (w) => ({
      projectId: w.projectId,
      name: 'Second grant line',
      funder: 'Health Foundation',
      grantReference: 'HF-2026-9',
      currency: 'GBP',
      amount: 50000,
      startsOn: '2026-04-01',
      endsOn: '2027-03-31',
      rateCardId: w.rateCardId,
      allowOverspend: false,
    }),
  },
  'POST /v1/budgets/{id}/adjustments': { body: () => ({ amount: 5000, reason: 'Extra funding' }), params: (w) => ({ id: w.budgetId }) },
  'POST /v1/time-entries': {
    body: (w) => ({ contributorId: w.participantContributor, budgetId: w.budgetId, activity: 'meeting', date: '2026-03-03', minutes: 60, note: 'Panel' }),
  },
  'POST /v1/sessions': {
    body: (w) => ({ budgetId: w.budgetId, activity: 'meeting', date: '2026-03-04', minutes: 90, attendees: [w.participantContributor, w.ids.contributors[1]] }),
  },
  'POST /v1/sessions/quote': {
    body: (w) => ({ budgetId: w.budgetId, activity: 'meeting', date: '2026-03-04', minutes: 90, attendees: [w.participantContributor, w.ids.contributors[1]] }),
  },
  'POST /v1/time-entries/{id}/reject': { body: () => ({ reason: 'Wrong project' }), params: (w) => ({ id: w.ids.submittedEntries[0]! }) },
  'POST /v1/time-entries/{id}/reverse': { body: () => ({ reason: 'Recorded twice' }), params: (w) => ({ id: w.ids.approvedEntries[0]! }) },
  'POST /v1/expenses': {
    body: (w) => ({ contributorId: w.participantContributor, budgetId: w.budgetId, category: 'travel', amount: 480, date: '2026-03-03', receiptReference: 'R-1' }),
  },
  'POST /v1/expenses/{id}/reject': { body: () => ({ reason: 'No receipt' }), params: (w) => ({ id: w.ids.submittedExpenses[0]! }) },
  'POST /v1/expenses/{id}/reverse': { body: () => ({ reason: 'Claimed twice' }), params: (w) => ({ id: w.ids.approvedExpenses[0]! }) },
  'POST /v1/payout-runs': { body: () => ({ currency: 'GBP', methods: ['bank_transfer', 'voucher'] }) },
  'POST /v1/payouts/{id}/mark-paid': { body: () => ({ reference: 'BACS 0042' }), params: (w) => ({ id: w.ids.payoutItems[0]! }) },
  'POST /v1/payouts/{id}/mark-failed': { body: () => ({ reason: 'Account closed' }), params: (w) => ({ id: w.ids.payoutItems[1]! }) },
};

/** Fields no caller may set (unless the route's own schema names them), with values an attacker would send. */
const FORBIDDEN_FIELDS: Record<string, (w: World, other: World) => unknown> = {
  organisationId: (_, other) => other.org.organisationId,
  organisation_id: (_, other) => other.org.organisationId,
  id: () => randomUUID(),
  status: () => 'approved',
  approvedBy: (w) => w.org.adminUserId,
  decidedBy: (w) => w.org.adminUserId,
  createdBy: (w) => w.org.adminUserId,
  amount: () => 1,
  value: () => 1,
  withheld: () => 0,
  ledgerTransactionId: () => randomUUID(),
  role: () => 'admin',
  contributorId: (w) => w.ids.contributors[1],
  passwordHash: () => '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
  stripeAccountId: () => 'acct_1MassAssignment',
  payoutsEnabled: () => true,
};

/** Keys that must never appear in a response, anywhere in it. */
const INTERNAL_KEYS = [
  'organisationId',
  'organisation_id',
  'passwordHash',
  'password_hash',
  'password',
  'tokenHash',
  'token_hash',
  'inviteTokenHash',
  'invite_token_hash',
  'resetTokenHash',
  'reset_token_hash',
  'tokenVersion',
  'token_version',
  'pseudonymKey',
  'pseudonym_key',
];

/** Control requests go as the first of these the route admits. */
const ROLE_PREFERENCE: Role[] = ['coordinator', 'finance', 'admin', 'participant', 'reporter'];

// ---------------------------------------------------------------------------------------------
// Set-up (all awaited before the first test, so tap does not end early)

const allowed = await probeAllowedRoles(app, routes);
const other = await buildWorld(app, 'Other organisation');
const world = await buildWorld(app, 'Mass assignment organisation');
const tracker = new WriteTracker(app.db, [world.org.organisationId, other.org.organisationId]);
/** Every response seen, for the walk at the end. */
const collected: Seen[] = [];

interface Seen {
  label: string;
  key: RouteKey | string;
  res: LightMyRequestResponse;
}

const rolesOf = (route: DocumentedRoute): Array<Role | 'public'> =>
  route.isPublic ? ['public'] : [...(allowed.get(route.key) ?? [])].sort((a, b) => ROLE_PREFERENCE.indexOf(a) - ROLE_PREFERENCE.indexOf(b));

async function send(route: DocumentedRoute, role: Role | 'public', params: Record<string, string>, body?: unknown, query = '') {
  const res = await app.inject({
    method: route.method as 'POST',
    url: fillPath(route, params) + query,
    headers: role === 'public' ? {} : world.headers[role],
    ...(body === undefined ? {} : { payload: body as object }),
  });
  collected.push({ label: `${role} ${route.key}${query}`, key: route.key, res });
  return res;
}

/** Sends a request that must be refused, and checks it wrote nothing (in either organisation). */
async function refusedWithoutWriting(tt: Test, label: string, sendIt: () => Promise<LightMyRequestResponse>): Promise<LightMyRequestResponse> {
  const before = await tracker.current();
  const res = await sendIt();
  const after = await tracker.current();
  tt.same(changes(before, after, world.org.organisationId), [], `${label}: nothing written`);
  tt.same(changes(before, after, other.org.organisationId), [], `${label}: nothing written in the other organisation`);
  return res;
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

function assertValidationNaming(tt: Test, res: LightMyRequestResponse, field: string, label: string) {
  tt.equal(res.statusCode, 400, `${label}: ${res.body}`);
  tt.same(problemDefects(res, errorCodes), [], `${label}: a problem document`);
  const problem = safeJson(res);
  tt.equal(problem?.code, 'validation_failed', `${label}: code`);
  const fields = Array.isArray(problem?.errors) ? problem.errors.map((e: { field?: unknown }) => e.field) : [];
  tt.ok(fields.includes(field), `${label}: the errors name ${field} (they name ${JSON.stringify(fields)})`);
}

function safeJson(res: LightMyRequestResponse): any {
  try {
    return JSON.parse(res.body);
  } catch {
    return undefined;
  }
}

/** Each nested object of a body, as the dotted path to it and a copy of the body with `key` added there. */
function nestedVariants(body: Record<string, unknown>, key: string, value: unknown): Array<{ path: string; body: Record<string, unknown> }> {
  const out: Array<{ path: string; body: Record<string, unknown> }> = [];
  const visit = (node: unknown, path: string[]) => {
    if (Array.isArray(node)) node.forEach((item, i) => visit(item, [...path, String(i)]));
    else if (node && typeof node === 'object') {
      if (path.length > 0) {
        const copy = structuredClone(body);
        let target: any = copy;
        for (const segment of path) target = target[segment];
        target[key] = value;
        out.push({ path: ['body', ...path, key].join('.'), body: copy });
      }
      for (const [k, v] of Object.entries(node)) visit(v, [...path, k]);
    }
  };
  visit(body, []);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Fields the caller may not set

t.test('every body route has a valid body in VALID_BODIES', async (t) => {
  t.ok(bodyRoutes.length >= 20, `the OpenAPI document lists the body routes: ${bodyRoutes.map((r) => r.key).join(', ')}`);
  const missing = bodyRoutes.filter((r) => !VALID_BODIES[r.key]).map((r) => r.key);
  t.same(missing, [], `Add a valid body for these routes to VALID_BODIES in test/adversarial/mass-assignment.test.ts: ${missing.join(', ')}`);
  const stale = Object.keys(VALID_BODIES).filter((key) => !bodyRoutes.some((r) => r.key === key));
  t.same(stale, [], `VALID_BODIES names routes that take no body or do not exist: ${stale.join(', ')}`);
  const noParams = bodyRoutes.filter((r) => r.pathParams.length > 0 && !VALID_BODIES[r.key]?.params).map((r) => r.key);
  t.same(noParams, [], `These VALID_BODIES entries need params: ${noParams.join(', ')}`);
});

for (const route of bodyRoutes) {
  t.test(`${route.key} refuses fields the caller may not set`, async (t) => {
    const bodyCase = VALID_BODIES[route.key];
    if (!bodyCase) return; // reported by the table test
    const declared = new Set(Object.keys(route.body?.properties ?? {}));
    const params = bodyCase.params?.(world) ?? {};
    const roles = rolesOf(route);
    t.ok(roles.length > 0, 'some role is admitted');

    for (const role of roles) {
      for (const [field, value] of Object.entries(FORBIDDEN_FIELDS)) {
        if (declared.has(field)) continue; // the route's own field (a budget's amount, a new user's role)
        const body = { ...bodyCase.body(world), [field]: value(world, other) };
        const label = `${role} sending ${field}`;
        const res = await refusedWithoutWriting(t, label, () => send(route, role, params, body));
        assertValidationNaming(t, res, `body.${field}`, label);
      }
      // The same inside nested objects (a rate of a rate card, an earnings limit).
      for (const variant of nestedVariants(bodyCase.body(world), 'organisationId', other.org.organisationId)) {
        const label = `${role} sending ${variant.path}`;
        const res = await refusedWithoutWriting(t, label, () => send(route, role, params, variant.body));
        assertValidationNaming(t, res, variant.path, label);
      }
    }

    // The control: the valid body alone is accepted, so each refusal above was the field's doing.
    const control = await send(route, roles[0]!, params, bodyCase.body(world));
    t.ok(control.statusCode >= 200 && control.statusCode < 300, `the valid body alone succeeds as ${roles[0]}: ${control.statusCode} ${control.body.slice(0, 400)}`);
  });
}

t.test('a route that takes no body never applies fields sent to it', async (t) => {
  // These routes declare no body, so a JSON body is never validated; it must at least never be
  // applied. (It is accepted and ignored today; see the report.)
  const before = json(await app.inject({ method: 'GET', url: `/v1/time-entries/${world.ids.submittedEntries[1]}`, headers: world.headers.coordinator }));
  const res = await app.inject({
    method: 'POST',
    url: `/v1/time-entries/${world.ids.submittedEntries[1]}/approve`,
    headers: world.headers.coordinator,
    payload: { amount: 1, value: 1, withheld: 999, status: 'rejected', decidedBy: world.org.adminUserId, organisationId: other.org.organisationId },
  });
  collected.push({ label: 'approve with a body', key: 'POST /v1/time-entries/{id}/approve', res });
  if (res.statusCode === 400) {
    t.equal(json(res).code, 'validation_failed', res.body);
  } else {
    t.equal(res.statusCode, 200, res.body);
    const entry = json(res);
    t.equal(entry.status, 'approved', 'the status is the action, not the body');
    t.equal(entry.amount + entry.withheld, before.quote.amount, 'the amount is the quote, not the body');
    t.not(entry.amount, 1);
    t.not(entry.withheld, 999);
  }
  const run = await app.inject({
    method: 'POST',
    url: `/v1/payout-runs/${world.ids.draftRuns[0]}/cancel`,
    headers: world.headers.finance,
    payload: { status: 'approved', approvedBy: world.org.adminUserId, total: 1 },
  });
  collected.push({ label: 'cancel with a body', key: 'POST /v1/payout-runs/{id}/cancel', res: run });
  if (run.statusCode !== 400) {
    t.equal(run.statusCode, 200, run.body);
    t.match(json(run), { status: 'canceled', approvedBy: null }, 'the run is canceled, not approved');
  }
});

// ---------------------------------------------------------------------------------------------
// 2. A participant and their own record

t.test('a participant cannot change their own role, contributor link, or anything but the payment method', async (t) => {
  const participant = world.headers.participant;
  const me = json(await app.inject({ method: 'GET', url: '/v1/me', headers: participant }));
  t.equal(me.role, 'participant');
  t.equal(me.contributorId, world.participantContributor);
  const patch = routes.find((r) => r.key === 'PATCH /v1/contributors/{id}')!;
  const own = { id: world.participantContributor };

  for (const [field, value] of [
    ['role', 'admin'],
    ['contributorId', world.ids.contributors[1]],
    ['userId', world.org.adminUserId],
    ['organisationId', other.org.organisationId],
  ] as const) {
    const label = `participant sending ${field}`;
    const res = await refusedWithoutWriting(t, label, () => send(patch, 'participant', own, { paymentMethod: 'declined', [field]: value }));
    assertValidationNaming(t, res, `body.${field}`, label);
  }
  for (const body of [{ kind: 'professional' }, { name: 'Someone else' }, { earningsLimit: null }, { email: 'new@example.test' }, { paymentMethod: 'voucher', kind: 'professional' }]) {
    const label = `participant changing ${Object.keys(body).join(', ')}`;
    const res = await refusedWithoutWriting(t, label, () => send(patch, 'participant', own, body));
    t.equal(res.statusCode, 403, `${label}: ${res.body}`);
    t.same(problemDefects(res, errorCodes), [], `${label}: a problem document`);
  }
  // Nor another contributor's record.
  const label = "participant changing another contributor's payment method";
  const res = await refusedWithoutWriting(t, label, () => send(patch, 'participant', { id: world.ids.contributors[1]! }, { paymentMethod: 'declined' }));
  t.ok([403, 404].includes(res.statusCode), `${label}: ${res.body}`);

  const after = json(await app.inject({ method: 'GET', url: '/v1/me', headers: participant }));
  t.same(after, me, 'the participant is who they were');
  const [row] = await app.db.select({ role: users.role, contributorId: users.contributorId }).from(users).where(inArray(users.id, [me.userId]));
  t.same(row, { role: 'participant', contributorId: world.participantContributor }, 'and so says the database');
});

// ---------------------------------------------------------------------------------------------
// 3. What responses may carry

t.test('no response carries internal keys, stored hashes or secrets', async (t) => {
  const orgIds = [world.org.organisationId, other.org.organisationId];
  // Read after every write above (an accepted invite sets a password hash).
  const hashes = [
    ...(await app.db.select({ v: users.passwordHash }).from(users).where(inArray(users.organisationId, orgIds))).map((r) => r.v),
    ...(await app.db.select({ v: users.inviteTokenHash }).from(users).where(inArray(users.organisationId, orgIds))).map((r) => r.v),
    ...(await app.db.select({ v: users.resetTokenHash }).from(users).where(inArray(users.organisationId, orgIds))).map((r) => r.v),
    ...(await app.db.select({ v: apiTokens.tokenHash }).from(apiTokens).where(inArray(apiTokens.organisationId, orgIds))).map((r) => r.v),
    ...(await app.db.select({ v: organisations.pseudonymKey }).from(organisations).where(inArray(organisations.id, orgIds))).map((r) => r.v),
  ].filter((v): v is string => typeof v === 'string' && v.length >= 16);
  t.ok(hashes.some((h) => h.startsWith('$argon2id$')), 'there are password hashes to look for');
  t.ok(hashes.length >= 6, `there are hashes and keys to look for (${hashes.length})`);
  // The walker itself finds a key wherever it is (and lets /v1/me name its organisation).
  t.same(internalKeys({ data: [{ after: { passwordHash: 'x' } }], organisationId: 'y' }, false), ['data.0.after.passwordHash', 'organisationId']);
  t.same(internalKeys({ organisationId: 'y', nested: { organisationId: 'z' } }, true), ['nested.organisationId']);
  // Secrets shown once, at creation, and never again.
  const shownOnce = [...world.apiTokenSecrets, world.inviteToken, world.resetToken];

  // Every GET route, as every role it admits, on every record it can name.
  const gets = routes.filter((r) => r.method === 'GET');
  const walked: Seen[] = [];
  for (const route of gets) {
    const targets = route.pathParams.length ? (PARAM_POOLS[route.key]?.(world) ?? []) : [undefined];
    t.ok(targets.length > 0, `${route.key} has records to read`);
    const queries = [''];
    if (route.query.some((q) => q.name === 'limit')) queries[0] = '?limit=200';
    if (route.query.some((q) => q.name === 'from')) queries[0] = '?from=2026-01-01&to=2026-12-31';
    if (route.key === 'GET /v1/reports/budgets/{id}') queries.push('?format=csv');
    for (const role of rolesOf(route)) {
      for (const id of targets) {
        for (const query of queries) {
          const params = id === undefined ? {} : Object.fromEntries(route.pathParams.map((p) => [p, id]));
          // Lists are read to the end, page by page (the audit log is long by now).
          let page = query;
          for (let pages = 0; pages < 50; pages++) {
            const res = await send(route, role, params, undefined, page);
            collected.pop(); // kept in `walked` instead
            walked.push({ label: `${role} ${route.key}${page} ${id ?? ''}`, key: route.key, res });
            const next = res.statusCode === 200 ? safeJson(res)?.nextCursor : undefined;
            if (typeof next !== 'string') break;
            page = `${query}${query ? '&' : '?'}cursor=${encodeURIComponent(next)}`;
          }
        }
      }
    }
  }
  const succeeded = walked.filter((w) => w.res.statusCode === 200);
  t.ok(succeeded.length > gets.length, `the walk read something from every route (${succeeded.length} answers)`);
  const silent = gets.filter((r) => !succeeded.some((w) => w.key === r.key)).map((r) => r.key);
  t.same(silent, [], 'every GET route answered 200 at least once');

  for (const { label, key, res } of [...collected, ...walked]) {
    const text = res.body;
    const leakedHashes = hashes.filter((h) => text.includes(h));
    if (leakedHashes.length) t.fail(`${label}: the response carries a stored hash or key`, { leaked: leakedHashes.map((h) => `${h.slice(0, 12)}…`) });
    const body = String(res.headers['content-type'] ?? '').includes('json') ? safeJson(res) : undefined;
    const keys = internalKeys(body, key === 'GET /v1/me');
    if (keys.length) t.fail(`${label}: the response carries internal keys ${keys.join(', ')}`);
  }
  for (const { label, res } of walked) {
    const leaked = shownOnce.filter((s) => res.body.includes(s));
    if (leaked.length) t.fail(`${label}: a secret shown once at creation appears again`);
  }
  t.pass(`walked ${collected.length + walked.length} responses`);
  t.comment(`${walked.length} GET responses (${succeeded.length} of them 200) and ${collected.length} others walked`);
});

/** Dotted paths of internal keys anywhere in a JSON value (GET /v1/me may name its organisation at the top). */
function internalKeys(value: unknown, isMe: boolean, path: string[] = []): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => internalKeys(v, isMe, [...path, String(i)]));
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const here = [...path, key];
    const own = INTERNAL_KEYS.includes(key) && !(isMe && path.length === 0 && key === 'organisationId') ? [here.join('.')] : [];
    return [...own, ...internalKeys(v, isMe, here)];
  });
}

t.test('the ledgers still hold', async (t) => {
  await assertLedgerInvariants(t, app.db, world.org.organisationId);
  await assertLedgerInvariants(t, app.db, other.org.organisationId);
});
