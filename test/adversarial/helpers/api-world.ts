/**
 * Shared by the hostile-input and mass-assignment suites: the /v1 routes as the app's own
 * OpenAPI document describes them, a populated organisation ("world") to aim requests at, which
 * roles each route lets in (found by trying), and a snapshot of everything an organisation has
 * in the database, so a test can prove a refused request wrote nothing.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Db } from '../../../src/db/client.js';
import { contributors } from '../../../src/db/schema.js';
import { roles, type Role } from '../../../src/domain/enums.js';
import { newId } from '../../../src/lib/ids.js';
import { createTestOrg, json, uniqueEmail, type TestOrg } from '../../helpers/app.js';
import { fundedBudget, owedContributor } from '../../helpers/fixtures.js';

// ---------------------------------------------------------------------------------------------
// Routes, from the OpenAPI document

export type RouteKey = `${'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'} /v1/${string}`;

/** The parts of JSON Schema that fastify-type-provider-zod emits for request schemas. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  default?: unknown;
}

export interface QueryParameter {
  name: string;
  required: boolean;
  schema: JsonSchema;
}

export interface DocumentedRoute {
  key: RouteKey;
  method: string;
  path: string;
  pathParams: string[];
  /** The JSON request body schema, when the route takes one. */
  body?: JsonSchema;
  query: QueryParameter[];
  /** 2xx statuses the operation documents. */
  successStatuses: number[];
  /** `security: []`: the route takes no bearer token. */
  isPublic: boolean;
}

interface OpenApiOperation {
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: JsonSchema }>;
  responses?: Record<string, unknown>;
  security?: unknown[];
}

const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** Every /v1 operation of the app's OpenAPI document. */
export function documentedRoutes(app: FastifyInstance): DocumentedRoute[] {
  const openapi = app.swagger() as { paths?: Record<string, Record<string, OpenApiOperation>> };
  return Object.entries(openapi.paths ?? {})
    .filter(([path]) => path.startsWith('/v1/'))
    .flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([method]) => HTTP_METHODS.includes(method))
        .map(([method, op]): DocumentedRoute => {
          const parameters = op.parameters ?? [];
          return {
            key: `${method.toUpperCase()} ${path}` as RouteKey,
            method: method.toUpperCase(),
            path,
            pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
            body: op.requestBody?.content?.['application/json']?.schema,
            query: parameters
              .filter((p) => p.in === 'query')
              .map((p) => ({ name: p.name, required: Boolean(p.required), schema: p.schema ?? {} })),
            successStatuses: Object.keys(op.responses ?? {})
              .map(Number)
              .filter((s) => s >= 200 && s < 300),
            isPublic: Array.isArray(op.security) && op.security.length === 0,
          };
        }),
    );
}

export function fillPath(route: DocumentedRoute, params: Record<string, string>, encode = true): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for {${name}} of ${route.key}`);
    return encode ? encodeURIComponent(value) : value;
  });
}

// ---------------------------------------------------------------------------------------------
// A populated organisation

export interface World {
  org: TestOrg;
  /** A user of each role. Staff (and reporters) are linked to `staffContributor`, the participant to `participantContributor`. */
  headers: Record<Role, Record<string, string>>;
  /** The finance user who drafted the payout runs (so `headers.finance`, another user, may approve them). */
  drafter: Record<string, string>;
  participantContributor: string;
  staffContributor: string;
  stripeContributor: string;
  /** A contributor with nothing owed and nothing else hanging on them: the one erasure erases. */
  erasable: string;
  projectId: string;
  rateCardId: string;
  budgetId: string;
  /** A budget with room for little (£30), so approvals against it run out. */
  smallBudgetId: string;
  /** A user with a password, to log in with. */
  login: { email: string; password: string; userId: string };
  /** An unspent invite. */
  inviteToken: string;
  /** An unspent password reset, for the invited user (`ids.users[2]`). */
  resetToken: string;
  /** The API tokens' secrets, shown once when they were issued. */
  apiTokenSecrets: string[];
  ids: {
    users: string[];
    apiTokens: string[];
    contributors: string[];
    projects: string[];
    rateCards: string[];
    budgets: string[];
    submittedEntries: string[];
    approvedEntries: string[];
    submittedExpenses: string[];
    approvedExpenses: string[];
    draftRuns: string[];
    approvedRuns: string[];
    payoutItems: string[];
  };
}

type Headers = Record<string, string>;

async function call(app: FastifyInstance, method: string, url: string, headers: Headers, payload: unknown, status: number): Promise<any> {
  const res = await app.inject({ method: method as 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  if (res.statusCode !== status) throw new Error(`world: ${method} ${url} → ${res.statusCode} (wanted ${status}): ${res.body}`);
  return res.body ? json(res) : undefined;
}

/**
 * A fresh organisation with something of everything, made through the API: contributors of
 * each kind and payment method (one with a blocking weekly limit, one with a splitting monthly
 * one), a large and a small budget, submitted and approved time entries and expenses, an approved
 * payout run with a pending manual item, a draft run, users (one with a password, one invited)
 * and API tokens.
 */
export async function buildWorld(app: FastifyInstance, name = 'Hostile world'): Promise<World> {
  const org = await createTestOrg(app, name);
  const admin = await org.as('admin');
  const coordinator = await org.as('coordinator');
  const funded = await fundedBudget(app, org);
  const small = await fundedBudget(app, org, { amount: 3000 });
  const drafter = funded.finance;

  const contributor = async (body: object) => (await call(app, 'POST', '/v1/contributors', coordinator, body, 201)).id as string;
  const participantContributor = await contributor({
    name: 'Pat Participant',
    email: uniqueEmail('pat'),
    kind: 'lived_experience',
    paymentMethod: 'bank_transfer',
    earningsLimit: { period: 'week', amount: 19550, periodStartDay: 1, policy: 'block' },
  });
  const staffContributor = await contributor({ name: 'Sam Staff', kind: 'professional', paymentMethod: 'declined' });
  const carer = await contributor({
    name: 'Casey Carer',
    kind: 'carer',
    paymentMethod: 'voucher',
    earningsLimit: { period: 'month', amount: 5000, periodStartDay: 15, policy: 'split' },
  });
  const stripeContributor = await contributor({ name: 'Stripe Sid', kind: 'lived_experience', paymentMethod: 'stripe' });
  // Someone with nothing owed, for erasure to erase without taking anyone the other routes need.
  const erasable = await contributor({ name: 'Erin Erasable', kind: 'carer', paymentMethod: 'declined' });

  const headers = Object.fromEntries(
    await Promise.all(
      roles.map(async (role) => [role, await org.as(role, { contributorId: role === 'participant' ? participantContributor : staffContributor })] as const),
    ),
  ) as Record<Role, Headers>;

  // Payouts first, so the approved work below stays owed rather than joining a run. The
  // approved run has two pending manual items.
  const paid = await owedContributor(app, org, funded.budgetId, { paymentMethod: 'bank_transfer', name: 'Bailey Bank' });
  const paidToo = await owedContributor(app, org, funded.budgetId, { paymentMethod: 'voucher', name: 'Val Voucher', hours: 1 });
  const approvedRun = await call(app, 'POST', '/v1/payout-runs', drafter, { currency: 'GBP' }, 201);
  const approvedRunView = await call(app, 'POST', `/v1/payout-runs/${approvedRun.id}/approve`, headers.finance, undefined, 200);
  const drafted = await owedContributor(app, org, funded.budgetId, { paymentMethod: 'voucher', name: 'Vic Voucher' });
  const draftRun = await call(app, 'POST', '/v1/payout-runs', drafter, { currency: 'GBP' }, 201);

  const entry = async (contributorId: string, budgetId = funded.budgetId, minutes = 120) =>
    (await call(app, 'POST', '/v1/time-entries', coordinator, { contributorId, budgetId, activity: 'meeting', date: '2026-03-02', minutes }, 201)).id as string;
  const expense = async (contributorId: string, amount = 1250) =>
    (await call(app, 'POST', '/v1/expenses', coordinator, { contributorId, budgetId: funded.budgetId, category: 'travel', amount, date: '2026-03-02' }, 201))
      .id as string;
  const submittedEntries = [
    await entry(participantContributor),
    await entry(carer),
    await entry(participantContributor, small.budgetId, 60),
    await entry(carer, small.budgetId, 90),
  ];
  const approvedEntries = [await entry(participantContributor), await entry(carer, funded.budgetId, 60)];
  for (const id of approvedEntries) await call(app, 'POST', `/v1/time-entries/${id}/approve`, coordinator, undefined, 200);
  const submittedExpenses = [await expense(participantContributor), await expense(carer, 400), await expense(participantContributor, 999)];
  const approvedExpenses = [await expense(participantContributor, 700), await expense(carer, 300)];
  for (const id of approvedExpenses) await call(app, 'POST', `/v1/expenses/${id}/approve`, coordinator, undefined, 200);

  const password = 'a perfectly long password 42';
  const withPassword = await call(app, 'POST', '/v1/users', admin, { email: uniqueEmail('login'), name: 'Lou Login', role: 'finance', password }, 201);
  const invited = await call(app, 'POST', '/v1/users', admin, { email: uniqueEmail('invited'), name: 'Ivy Invited', role: 'coordinator' }, 201);
  const reset = await call(app, 'POST', `/v1/users/${invited.id}/password-reset`, admin, undefined, 200);
  // A weekly payout schedule, so its routes have something to read.
  await call(app, 'PUT', '/v1/payout-schedule', headers.finance, { cadence: 'weekly', weekday: 7, time: '23:30' }, 200);
  const tokens = [
    await call(app, 'POST', '/v1/api-tokens', admin, { name: 'grant report script', role: 'reporter' }, 201),
    await call(app, 'POST', '/v1/api-tokens', admin, { name: 'finance script', role: 'finance' }, 201),
  ];

  return {
    org,
    headers,
    drafter,
    participantContributor,
    staffContributor,
    stripeContributor,
    erasable,
    projectId: funded.projectId,
    rateCardId: funded.rateCardId,
    budgetId: funded.budgetId,
    smallBudgetId: small.budgetId,
    login: { email: withPassword.email, password, userId: withPassword.id },
    inviteToken: invited.inviteToken,
    resetToken: reset.resetToken,
    apiTokenSecrets: tokens.map((t) => t.token),
    ids: {
      users: [org.adminUserId, withPassword.id, invited.id],
      apiTokens: tokens.map((t) => t.id),
      contributors: [participantContributor, carer, stripeContributor, staffContributor, paid.contributorId, paidToo.contributorId, drafted.contributorId],
      projects: [funded.projectId, small.projectId],
      rateCards: [funded.rateCardId, small.rateCardId],
      budgets: [funded.budgetId, small.budgetId],
      submittedEntries,
      approvedEntries,
      submittedExpenses,
      approvedExpenses,
      draftRuns: [draftRun.id],
      approvedRuns: [approvedRun.id],
      payoutItems: approvedRunView.items.map((i: { id: string }) => i.id),
    },
  };
}

/**
 * For every route with a path parameter: the world's records it can act on, best target first.
 * A parameterised route without an entry fails the suites that use it.
 */
export const PARAM_POOLS: Partial<Record<RouteKey, (w: World) => string[]>> = {
  'GET /v1/users/{id}': (w) => w.ids.users,
  'PATCH /v1/users/{id}': (w) => w.ids.users,
  'POST /v1/users/{id}/password-reset': (w) => w.ids.users,
  'DELETE /v1/api-tokens/{id}': (w) => w.ids.apiTokens,
  'GET /v1/contributors/{id}': (w) => w.ids.contributors,
  'PATCH /v1/contributors/{id}': (w) => w.ids.contributors,
  'GET /v1/contributors/{id}/balance': (w) => w.ids.contributors,
  'GET /v1/contributors/{id}/statement': (w) => w.ids.contributors,
  'GET /v1/contributors/{id}/earnings-limits': (w) => w.ids.contributors,
  'GET /v1/contributors/{id}/statement.pdf': (w) => w.ids.contributors,
  'POST /v1/contributors/{id}/earnings-limits': (w) => w.ids.contributors,
  'POST /v1/contributors/{id}/stripe-account': (w) => [w.stripeContributor, ...w.ids.contributors],
  'GET /v1/contributors/{id}/stripe-account': (w) => [w.stripeContributor, ...w.ids.contributors],
  'POST /v1/contributors/{id}/confirm-payout-details': (w) => w.ids.contributors,
  'POST /v1/contributors/{id}/erase': (w) => [w.erasable],
  'GET /v1/contributors/{id}/export': (w) => w.ids.contributors,
  'GET /v1/projects/{id}': (w) => w.ids.projects,
  'GET /v1/rate-cards/{id}': (w) => w.ids.rateCards,
  'POST /v1/rate-cards/{id}/versions': (w) => w.ids.rateCards,
  'GET /v1/budgets/{id}': (w) => w.ids.budgets,
  'POST /v1/budgets/{id}/adjustments': (w) => w.ids.budgets,
  'GET /v1/reports/budgets/{id}': (w) => w.ids.budgets,
  'GET /v1/reports/projects/{id}': (w) => w.ids.projects,
  'GET /v1/time-entries/{id}': (w) => [...w.ids.submittedEntries, ...w.ids.approvedEntries],
  'POST /v1/time-entries/{id}/approve': (w) => w.ids.submittedEntries,
  'POST /v1/time-entries/{id}/reject': (w) => w.ids.submittedEntries,
  'POST /v1/time-entries/{id}/reverse': (w) => [...w.ids.approvedEntries, ...w.ids.submittedEntries],
  'GET /v1/expenses/{id}': (w) => [...w.ids.submittedExpenses, ...w.ids.approvedExpenses],
  'POST /v1/expenses/{id}/approve': (w) => w.ids.submittedExpenses,
  'POST /v1/expenses/{id}/reject': (w) => w.ids.submittedExpenses,
  'POST /v1/expenses/{id}/reverse': (w) => [...w.ids.approvedExpenses, ...w.ids.submittedExpenses],
  'GET /v1/payout-runs/{id}': (w) => [...w.ids.draftRuns, ...w.ids.approvedRuns],
  'POST /v1/payout-runs/{id}/approve': (w) => w.ids.draftRuns,
  'POST /v1/payout-runs/{id}/cancel': (w) => w.ids.draftRuns,
  'POST /v1/payouts/{id}/mark-paid': (w) => w.ids.payoutItems,
  'POST /v1/payouts/{id}/mark-failed': (w) => w.ids.payoutItems,
};

/** Every id of the world, of any kind: wrong-kind and other-tenant ids for hostile requests. */
export const allIds = (w: World): string[] => [...new Set(Object.values(w.ids).flat())];

// ---------------------------------------------------------------------------------------------
// Which roles a route lets in

/**
 * The roles a route admits, found by trying each (a 403 `forbidden` means not allowed). Probed
 * in an organisation of its own, with unknown ids and, for routes with a body, a body no schema
 * accepts, so a probe that gets through reaches validation or a 404 and changes nothing that
 * matters.
 */
export async function probeAllowedRoles(app: FastifyInstance, routes: DocumentedRoute[]): Promise<Map<RouteKey, Role[]>> {
  const org = await createTestOrg(app, 'Role probe');
  const contributorId = newId();
  await app.db.insert(contributors).values({ organisationId: org.organisationId, id: contributorId, name: 'Probe', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const headers = Object.fromEntries(await Promise.all(roles.map(async (r) => [r, await org.as(r, { contributorId })] as const))) as Record<Role, Headers>;
  const allowed = new Map<RouteKey, Role[]>();
  for (const route of routes) {
    if (route.isPublic) continue;
    const params = Object.fromEntries(route.pathParams.map((p) => [p, randomUUID()]));
    const admitted: Role[] = [];
    for (const role of roles) {
      // Logging out revokes the token it is called with: probe it with a token of its own.
      const probeHeaders = route.key === 'POST /v1/auth/logout' ? await org.as(role, { contributorId }) : headers[role];
      const res = await app.inject({
        method: route.method as 'GET',
        url: fillPath(route, params),
        headers: probeHeaders,
        ...(route.body ? { payload: { hostileSuiteRoleProbe: true } } : {}),
      });
      const refused = res.statusCode === 403 && res.headers['content-type']?.toString().startsWith('application/problem+json') && json(res).code === 'forbidden';
      // A 401 would mean the probe's own token stopped working, and every later answer would lie.
      if (res.statusCode === 401) throw new Error(`role probe: ${route.key} as ${role} answered 401: ${res.body}`);
      if (!refused) admitted.push(role);
    }
    allowed.set(route.key, admitted);
  }
  return allowed;
}

// ---------------------------------------------------------------------------------------------
// What an organisation has in the database

export interface TableState {
  rows: number;
  digest: string;
}

/** Per organisation: every tenant table's row count and a digest of its rows, and every ledger balance. */
export interface Snapshot {
  tables: Map<string, Map<string, TableState>>;
  balances: Map<string, Map<string, string>>;
}

const rowsOf = async <T>(db: Db, query: ReturnType<typeof sql>): Promise<T[]> => ((await db.execute(query)) as unknown as { rows: T[] }).rows;

let tenantTables: Promise<string[]> | undefined;

/** Every base table with an organisation_id column, read from information_schema (so a new table is covered at once). */
export function tablesWithOrganisationId(db: Db): Promise<string[]> {
  tenantTables ??= rowsOf<{ table_name: string }>(
    db,
    sql`select c.table_name from information_schema.columns c
          join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
         where c.column_name = 'organisation_id' and t.table_type = 'BASE TABLE' and c.table_schema = current_schema()
         order by c.table_name`,
  ).then((rows) => rows.map((r) => r.table_name));
  return tenantTables;
}

/**
 * Snapshots the organisations: each tenant table's count and an md5 of its rows' text (so an
 * UPDATE shows as well as an INSERT or DELETE), the organisation's own row, and the ledger
 * balances by account.
 */
export async function snapshot(db: Db, organisationIds: string[]): Promise<Snapshot> {
  const tables = await tablesWithOrganisationId(db);
  const orgs = sql.join(organisationIds.map((id) => sql`${id}::uuid`), sql`, `);
  const selects = [
    ...tables.map(
      (table) => sql`select ${table}::text as t, x.organisation_id::text as o, count(*)::int as n,
                            md5(string_agg(x::text, '|' order by x::text)) as h
                       from ${sql.identifier(table)} x where x.organisation_id in (${orgs}) group by x.organisation_id`,
    ),
    sql`select 'organisations'::text as t, x.id::text as o, count(*)::int as n, md5(string_agg(x::text, '|' order by x::text)) as h
          from organisations x where x.id in (${orgs}) group by x.id`,
  ];
  const rows = await rowsOf<{ t: string; o: string; n: number; h: string }>(db, sql.join(selects, sql` union all `));
  const state: Snapshot = { tables: new Map(), balances: new Map() };
  for (const id of organisationIds) {
    state.tables.set(id, new Map());
    state.balances.set(id, new Map());
  }
  for (const r of rows) state.tables.get(r.o)!.set(r.t, { rows: Number(r.n), digest: r.h });
  const balances = await rowsOf<{ o: string; code: string; currency: string; balance: string }>(
    db,
    sql`select organisation_id::text as o, code, currency, balance::text as balance from ledger_accounts where organisation_id in (${orgs})`,
  );
  for (const b of balances) state.balances.get(b.o)!.set(`${b.code} ${b.currency}`, b.balance);
  return state;
}

/** What changed in one organisation between two snapshots, in words (empty when nothing did). */
export function changes(before: Snapshot, after: Snapshot, organisationId: string): string[] {
  const out: string[] = [];
  const tb = before.tables.get(organisationId) ?? new Map<string, TableState>();
  const ta = after.tables.get(organisationId) ?? new Map<string, TableState>();
  for (const table of new Set([...tb.keys(), ...ta.keys()])) {
    const b = tb.get(table) ?? { rows: 0, digest: '' };
    const a = ta.get(table) ?? { rows: 0, digest: '' };
    if (b.rows !== a.rows) out.push(`${table}: ${b.rows} → ${a.rows} rows`);
    else if (b.digest !== a.digest) out.push(`${table}: rows changed in place`);
  }
  const bb = before.balances.get(organisationId) ?? new Map<string, string>();
  const ba = after.balances.get(organisationId) ?? new Map<string, string>();
  for (const account of new Set([...bb.keys(), ...ba.keys()])) {
    if (bb.get(account) !== ba.get(account)) out.push(`balance ${account}: ${bb.get(account) ?? 'none'} → ${ba.get(account) ?? 'none'}`);
  }
  return out;
}

/**
 * The next transaction id PostgreSQL would hand out. Any transaction that writes (or locks a
 * row) is given one, so while this stands still nothing at all was written and a snapshot need
 * not be taken again. It is only a shortcut: whenever it moves, the snapshots decide.
 */
async function writeMarker(db: Db): Promise<string> {
  return (await rowsOf<{ x: string }>(db, sql`select pg_snapshot_xmax(pg_current_snapshot())::text as x`))[0]!.x;
}

/** Snapshots of some organisations, taken again only when something may have been written. */
export class WriteTracker {
  private known: Snapshot | undefined;
  private marker = '';
  constructor(
    private readonly db: Db,
    private readonly organisationIds: string[],
  ) {}

  /** The state now: the last snapshot while nothing has been written since, else a new one. */
  async current(): Promise<Snapshot> {
    // Read before the snapshot: a write that lands after it moves the marker, so is seen next time.
    const marker = await writeMarker(this.db);
    if (!this.known || marker !== this.marker) {
      this.known = await snapshot(this.db, this.organisationIds);
      this.marker = marker;
    }
    return this.known;
  }
}

// ---------------------------------------------------------------------------------------------
// Problem documents

/** Checks a non-2xx response is a problem document with a code of the closed list; returns what is wrong. */
export function problemDefects(res: LightMyRequestResponse, codes: Record<string, { status: number }>): string[] {
  const defects: string[] = [];
  const type = String(res.headers['content-type'] ?? '');
  if (!type.startsWith('application/problem+json')) defects.push(`content-type is ${JSON.stringify(type)}, not application/problem+json`);
  let body: any;
  try {
    body = JSON.parse(res.body);
  } catch {
    return [...defects, 'the body is not JSON'];
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return [...defects, 'the body is not an object'];
  for (const member of ['type', 'title', 'detail', 'code'] as const) {
    if (typeof body[member] !== 'string' || body[member] === '') defects.push(`${member} is missing or not a string`);
  }
  if (body.status !== res.statusCode) defects.push(`status member ${JSON.stringify(body.status)} is not the HTTP status ${res.statusCode}`);
  const known = codes[body.code];
  if (!known) defects.push(`code ${JSON.stringify(body.code)} is not in the closed list of src/errors.ts`);
  else if (known.status !== res.statusCode) defects.push(`code ${body.code} belongs with ${known.status}, not ${res.statusCode}`);
  return defects;
}
