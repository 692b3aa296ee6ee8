/**
 * Adversarial: hostile input generated from the OpenAPI document.
 *
 * For every /v1 route the app documents (but the Stripe webhook, which takes a raw signed body
 * and is tested in test/webhooks.test.ts), fast-check builds requests from the route's own
 * request schema: its body properties with their types, enums, bounds and required members, its
 * query parameters and its path parameters. Most values are hostile (wrong types, null, huge,
 * negative, fractional and unsafe numbers, NaN-like strings, very long strings, NUL, RTL marks,
 * emoji, SQL and HTML fragments, `__proto__` and `constructor` keys, unknown fields, deep
 * nesting, arrays for objects, impossible dates, another organisation's ids, malformed JSON);
 * the rest are valid, so requests also get past validation into the service layer and the
 * database. Each is sent with a token of a role the route admits (found by trying), into an
 * organisation with a funded budget, contributors, submitted and approved work, payout runs,
 * users and API tokens.
 *
 * Every response must be a documented status, never a 5xx: a 2xx the operation documents, or
 * application/problem+json with `type, title, status, detail, code` and a `code` of the closed
 * list in src/errors.ts. A refused request (any non-2xx) must have written nothing: every table
 * with organisation_id (read from information_schema), the organisation's own row and the
 * ledger balances are compared before and after. No request, refused or not, may change the
 * other organisation whose ids it borrows. After each route the ledger's invariants must hold.
 *
 * Beside the generated requests, a few fixed ones pin down what the generators found once: an
 * over-long id in the path, another organisation's (or a malformed) id in a body or a list
 * filter, and a lone UTF-16 surrogate in free text.
 *
 * Runs are bounded: HOSTILE_RUNS requests per route (15 by default; the first is always a valid
 * one). A failure reports the request, the seed and the counterexample path, and the command
 * to replay it: HOSTILE_ROUTE (a regular expression over `METHOD /path`) narrows the run,
 * HOSTILE_SEED and HOSTILE_PATH replay the case, HOSTILE_TRACE=1 logs every request sent.
 */
import { eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import t from 'tap';
import { projects } from '../../src/db/schema.js';
import type { Role } from '../../src/domain/enums.js';
import { newId } from '../../src/lib/ids.js';
import { errorCodes } from '../../src/errors.js';
import { assertLedgerInvariants } from '../helpers/invariants.js';
import { buildAppWithStripeDouble } from '../helpers/stripe-app.js';
import { allIds, buildWorld, changes, documentedRoutes, fillPath, PARAM_POOLS, probeAllowedRoles, problemDefects, WriteTracker, type DocumentedRoute, type JsonSchema, type World } from './helpers/api-world.js';

const RUNS = Number(process.env.HOSTILE_RUNS ?? 15);
// Some 60 routes × HOSTILE_RUNS requests: more than tap's default on a busy machine.
t.setTimeout(Math.max(300_000, RUNS * 20_000));
const SEED = process.env.HOSTILE_SEED === undefined ? undefined : Number(process.env.HOSTILE_SEED);
const PATH = process.env.HOSTILE_PATH;
/**
 * A bound on one route's property, there to stop shrinking (each step is a request) from
 * running on: on a failure, the smallest counterexample found by then is reported. Not an
 * assertion: a passing route takes a small fraction of it.
 */
const ROUTE_BOUND_MS = 60_000 + RUNS * 2_000;
/** Bodies stay under the 1 MiB limit, so what is tested is the content, not the size cap. */
const BODY_BUDGET_BYTES = 900_000;
/** The webhook takes raw signed bodies; test/webhooks.test.ts and the payout suites attack it. */
const SKIPPED: readonly string[] = ['POST /v1/webhooks/stripe'];

// Stripe is configured (against the test double) so the Stripe routes reach their service code.
const { app } = await buildAppWithStripeDouble(t, 'hostile_input');

/** HOSTILE_ROUTE (a regular expression) narrows the run to matching routes, to replay a failure. */
const ONLY_MATCHING = process.env.HOSTILE_ROUTE ? new RegExp(process.env.HOSTILE_ROUTE) : undefined;
const routes = documentedRoutes(app).filter((r) => !SKIPPED.includes(r.key));

// ---------------------------------------------------------------------------------------------
// Values

/** A JSON fragment sent exactly as written (numbers JavaScript cannot hold, -0, 1.0, …). */
class Raw {
  constructor(readonly text: string) {}
}
/** A property left out of its object. */
const OMIT = Symbol('omit');

/** JSON text of a generated value: Raw fragments verbatim, own keys only (so `__proto__` is sent as a key). */
function toJson(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== OMIT)
      .map((k) => `${JSON.stringify(k)}:${toJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** An object whose keys are all own properties, `__proto__` included. */
function own(entries: Array<[string, unknown]>): Record<string, unknown> {
  const object = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of entries) if (value !== OMIT) object[key] = value;
  return object;
}

/** Shortens long strings in place of order until the whole value fits the byte budget. */
function fitToBudget(value: unknown): unknown {
  let budget = BODY_BUDGET_BYTES;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const bytes = Buffer.byteLength(v);
      if (bytes <= 256) return v;
      if (bytes <= budget) {
        budget -= bytes;
        return v;
      }
      return v.slice(0, 64);
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object' && !(v instanceof Raw)) return own(Object.keys(v).map((k) => [k, walk((v as Record<string, unknown>)[k])]));
    return v;
  };
  return walk(value);
}

/** encodeURIComponent, but a lone surrogate is sent as the (invalid) UTF-8 bytes it would have, not thrown on. */
function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...s]
      .map((ch) => {
        const unit = ch.charCodeAt(0);
        if (ch.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
          return `%${(0xe0 | (unit >> 12)).toString(16)}%${(0x80 | ((unit >> 6) & 0x3f)).toString(16)}%${(0x80 | (unit & 0x3f)).toString(16)}`.toUpperCase();
        }
        return encodeURIComponent(ch);
      })
      .join('');
  }
}

const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

const isoDay = (offset: number, from = Date.UTC(2026, 0, 1)) => new Date(from + offset * 86_400_000).toISOString().slice(0, 10);

const TEXT_ATTACKS = [
  "' OR '1'='1",
  "'; DROP TABLE ledger_postings; --",
  'Robert"); DELETE FROM users; --',
  '1; select pg_sleep(0)',
  '$1',
  '\\x00',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '{{7*7}}',
  '${7*7}',
  '../../../etc/passwd',
  '%00',
  '%s%n%x',
  '\u202Enoitpircsed\u202C',
  '\u200F\u200E\u061C',
  '😀👩‍👩‍👧‍👦🏳️‍🌈',
  'Zoë Ångström-Ñúñez',
  'ｆｕｌｌｗｉｄｔｈ',
  'line\nbreak\ttab\r',
  'a\u0000b',
  '\u0000',
  '\uD800',
  '\uFEFF',
  ' padded ',
];

/** Values that are wrong for almost any field, of every JSON type. */
const HOSTILE_SCALARS: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  -0.5,
  0.1 + 0.2,
  2 ** 31,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  1e21,
  1e308,
  -1e308,
  Number.MIN_VALUE,
  new Raw('1e400'),
  new Raw('-1e400'),
  new Raw('-0'),
  new Raw('9007199254740993'),
  new Raw('123456789012345678901234567890'),
  new Raw('1.0'),
  new Raw('1E2'),
  new Raw('0.000000000000000000001'),
  '',
  ' ',
  'NaN',
  'Infinity',
  '-Infinity',
  'null',
  'undefined',
  'true',
  '0',
  '-1',
  '1e3',
  '0x1F',
  '١٢٣',
  '100',
  '12abc',
  '2026-02-30',
  '2026-02-29',
  '2025-02-29',
  '2026-13-01',
  '2026-00-10',
  '0000-00-00',
  '1899-12-31',
  '3000-01-01',
  '275760-09-13',
  '2026-1-1',
  '2026-03-02T00:00:00Z',
  '02/03/2026',
  'gbp',
  'GBp',
  'XXXX',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  'not-an-id',
  '*',
  '%',
  ...TEXT_ATTACKS,
];

const hugeString = fc
  .tuple(fc.constantFrom(1_000, 20_000, 200_000), fc.constantFrom('A', '😀', '\u202E', 'é', "'"))
  .map(([n, unit]) => unit.repeat(n));

/** Nested n deep: objects in objects, or arrays in arrays. */
const deepNesting = fc.tuple(fc.integer({ min: 20, max: 400 }), fc.boolean()).map(([depth, arrays]) => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = arrays ? [v] : own([['a', v]]);
  return v;
});

const protoPollution = fc.constantFrom(
  () => own([['__proto__', own([['admin', true], ['role', 'admin']])]]),
  () => own([['constructor', own([['prototype', own([['polluted', true]])]])]]),
  () => own([['__proto__', null]]),
).map((make) => make());

const unknownKeys = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'organisationId', 'organisation_id', 'id', 'status', 'role', 'isAdmin', 'createdBy', ''),
  fc.string({ maxLength: 12 }),
);

// ---------------------------------------------------------------------------------------------
// Arbitraries from JSON Schema

interface Ctx {
  route: DocumentedRoute;
  world: World;
  other: World;
}

const singleType = (schema: JsonSchema): string | undefined =>
  Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;

/** The world's ids (or secrets) a field of this name refers to, if any. */
function pool(name: string, ctx: Ctx): string[] | undefined {
  const w = ctx.world;
  switch (name) {
    case 'contributorId':
    case 'contributorIds':
    case 'attendees':
      return w.ids.contributors;
    case 'budgetId':
      return w.ids.budgets;
    case 'projectId':
      return w.ids.projects;
    case 'rateCardId':
      return w.ids.rateCards;
    case 'entityId':
      return allIds(w);
    case 'inviteToken':
      return [w.inviteToken];
    case 'cursor':
      return allIds(w).map((id) => Buffer.from(id).toString('base64url'));
    case 'account':
      return ['funding', 'settlement', ...w.ids.budgets.map((b) => `budget:${b}:available`)];
    case 'entityType':
      return ['time_entry', 'expense', 'contributor', 'budget', 'payout_run', 'user'];
  }
  if (ctx.route.key === 'POST /v1/auth/token') {
    if (name === 'email') return [w.login.email, w.login.email.toUpperCase(), `missing-${w.login.email}`];
    if (name === 'password') return [w.login.password, `${w.login.password}!`];
  }
  return undefined;
}

function clampText(s: string, schema: JsonSchema): string {
  const max = schema.maxLength ?? 200;
  let text = s.slice(0, max);
  while (text.trim().length < Math.max(1, schema.minLength ?? 0)) text += 'x';
  return text.slice(0, Math.max(max, 1));
}

function validString(schema: JsonSchema, name: string, ctx: Ctx): fc.Arbitrary<unknown> {
  const ids = pool(name, ctx);
  if (ids?.length) return fc.constantFrom(...ids);
  if (schema.format === 'date') {
    return fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 0, max: 364 }).map((d) => isoDay(d)) },
      { weight: 1, arbitrary: fc.constantFrom('2025-12-31', '2027-01-01', '2024-02-29', '1900-01-01', '2999-12-31') },
    );
  }
  if (schema.format === 'email' || name === 'email') {
    return fc.tuple(fc.uuid(), fc.constantFrom('', "o'brien+", 'x.y_z-')).map(([u, prefix]) => `${prefix}h${u.slice(0, 8)}@example.test`);
  }
  if (schema.pattern === '^[A-Z]{3}$') return fc.oneof({ weight: 6, arbitrary: fc.constant('GBP') }, { weight: 1, arbitrary: fc.constantFrom('EUR', 'USD', 'XXX') });
  if (name === 'password') return fc.string({ minLength: 0, maxLength: 20 }).map((s) => clampText(`a long enough password ${s}`, schema));
  return fc
    .oneof(
      { weight: 3, arbitrary: fc.constantFrom('Reading group', 'Panel meeting', 'Bus fare', 'Grant line 7', 'NLCF-2026-002', 'Wrong project') },
      { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }) },
      { weight: 2, arbitrary: fc.constantFrom(...TEXT_ATTACKS) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }) },
    )
    .map((s) => clampText(s, schema));
}

function validInteger(schema: JsonSchema, name: string): fc.Arbitrary<unknown> {
  const lo = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1_000_000_000);
  const hi = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 1_000_000_000);
  if (name === 'periodStartDay') return fc.integer({ min: 1, max: 28 });
  const smallLo = Math.max(lo, -100_000);
  const smallHi = Math.min(hi, name === 'minutes' ? 1440 : 100_000);
  return fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: Math.min(smallLo, smallHi), max: Math.max(smallLo, smallHi) }) },
    { weight: 1, arbitrary: fc.constantFrom(lo, hi) },
  );
}

/**
 * Rules a JSON Schema cannot state, so a valid value keeps to them: a rate's rounding and
 * minimum apply to hourly rates only, its day threshold to day rates only.
 */
function withoutInapplicable(value: Record<string, unknown>): Record<string, unknown> {
  if (typeof value.unit === 'string' && 'activity' in value) {
    if (value.unit !== 'hour') value.roundToMinutes = value.minimumMinutes = OMIT;
    if (value.unit !== 'day') value.dayThresholdMinutes = value.shortDayPay = OMIT;
    if (value.dayThresholdMinutes === OMIT) value.shortDayPay = OMIT;
  }
  return value;
}

/** A value the schema accepts (as far as a schema can say). */
function valid(schema: JsonSchema, name: string, ctx: Ctx): fc.Arbitrary<unknown> {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((s) => valid(s, name, ctx)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  switch (singleType(schema)) {
    case 'string':
      return validString(schema, name, ctx);
    case 'integer':
      return validInteger(schema, name);
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.max(minLength, Math.min(schema.maxItems ?? 4, minLength + 3));
      return fc.uniqueArray(valid(schema.items ?? {}, name, ctx), { minLength, maxLength, selector: (v) => toJson(v) });
    }
    case 'object': {
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      return fc
        .tuple(...Object.entries(properties).map(([key, s]) => (required.has(key) ? valid(s, key, ctx) : fc.option(valid(s, key, ctx), { nil: OMIT, freq: 2 })).map((v) => [key, v] as [string, unknown])))
        .map((entries) => withoutInapplicable(own(entries)));
    }
    default:
      return fc.constantFrom<unknown>('anything', 1, null);
  }
}

/** A value aimed at this field that it must refuse, or a boundary that tests its edge. */
function hostile(schema: JsonSchema, name: string, ctx: Ctx): fc.Arbitrary<unknown> {
  const type = singleType(schema);
  const specific: fc.Arbitrary<unknown>[] = [];
  if (type === 'integer' || type === 'number') {
    const lo = schema.minimum ?? -Number.MAX_SAFE_INTEGER;
    const hi = schema.maximum ?? Number.MAX_SAFE_INTEGER;
    specific.push(fc.constantFrom<unknown>(lo - 1, hi + 1, lo + 0.5, hi - 0.25, String(lo), `${hi}`, [lo], own([['value', lo]])));
  }
  if (type === 'string') {
    const max = schema.maxLength ?? 200;
    specific.push(fc.constantFrom<unknown>('x'.repeat(max + 1), '😀'.repeat(max), '\u0000'.repeat(Math.min(max, 10)), ' '.repeat(Math.min(max, 5)), 42, ['x']));
    if (schema.enum) {
      const values = schema.enum.map(String);
      specific.push(fc.constantFrom(...values).chain((v) => fc.constantFrom(v.toUpperCase(), ` ${v}`, `${v}\u0000`, `${v}s`, v.replace('_', '-'))));
    }
    if (schema.format === 'date') specific.push(fc.constantFrom('2026-02-30', '2026-04-31', '2100-02-29', '2026-03-02T10:00:00Z', '20260302', '2026/03/02'));
    const ids = pool(name, ctx);
    if (ids?.length || /id$/i.test(name) || name === 'attendees' || name === 'contributorIds') {
      // Another tenant's ids, ids of the wrong kind, unknown and malformed ones, and a valid id in upper case.
      specific.push(fc.constantFrom(...allIds(ctx.other)), fc.constantFrom(...allIds(ctx.world)), fc.uuid(), fc.constantFrom('1', 'x'.repeat(101), '{id}'));
      if (ids?.length) specific.push(fc.constantFrom(...ids).map((id) => id.toUpperCase()));
    }
  }
  if (type === 'array') {
    specific.push(
      fc.constantFrom<unknown>([], own([['0', 'x']]), 'x', [null]),
      fc.array(fc.constantFrom(...HOSTILE_SCALARS), { minLength: 1, maxLength: 3 }),
    );
    if (schema.maxItems !== undefined) {
      // One item too many (or three).
      specific.push(fc.array(valid(schema.items ?? {}, name, ctx), { minLength: schema.maxItems + 1, maxLength: schema.maxItems + 3 }));
    }
    // The same item twice.
    specific.push(valid(schema.items ?? {}, name, ctx).map((v) => [v, v]));
  }
  if (type === 'object') specific.push(fc.constantFrom<unknown>([], 'object', 0), valid(schema, name, ctx).map((v) => [v]), protoPollution);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_SCALARS) },
    ...specific.map((arbitrary) => ({ weight: 2, arbitrary })),
    { weight: 1, arbitrary: hugeString },
    { weight: 1, arbitrary: deepNesting },
    { weight: 1, arbitrary: protoPollution },
  );
}

/** Mostly valid, sometimes hostile; objects are mixed member by member, with unknown members added. */
function mixed(schema: JsonSchema, name: string, ctx: Ctx, depth = 0): fc.Arbitrary<unknown> {
  const type = singleType(schema);
  if (type === 'object' && schema.properties && depth < 3) {
    const required = new Set(schema.required ?? []);
    const members = Object.entries(schema.properties).map(([key, s]) =>
      fc
        .oneof(
          { weight: 6, arbitrary: required.has(key) ? mixed(s, key, ctx, depth + 1) : fc.option(mixed(s, key, ctx, depth + 1), { nil: OMIT, freq: 3 }) },
          { weight: 2, arbitrary: hostile(s, key, ctx) },
          { weight: 1, arbitrary: fc.constant<unknown>(OMIT) },
        )
        .map((v) => [key, v] as [string, unknown]),
    );
    const extras = fc.array(fc.tuple(unknownKeys, fc.oneof(fc.constantFrom(...HOSTILE_SCALARS), valid(schema, name, ctx))), { maxLength: 2 });
    return fc
      .tuple(fc.tuple(...members), fc.oneof({ weight: 4, arbitrary: fc.constant([] as Array<[string, unknown]>) }, { weight: 1, arbitrary: extras }))
      .map(([entries, extra]) => own([...entries, ...extra]));
  }
  if (type === 'array' && schema.items) {
    const minLength = schema.minItems ?? 0;
    return fc.oneof(
      { weight: 4, arbitrary: fc.uniqueArray(mixed(schema.items, name, ctx, depth + 1), { minLength, maxLength: minLength + 3, selector: (v) => toJson(v) }) },
      { weight: 1, arbitrary: hostile(schema, name, ctx) },
    );
  }
  return fc.oneof({ weight: 3, arbitrary: valid(schema, name, ctx) }, { weight: 1, arbitrary: hostile(schema, name, ctx) });
}

/** Bodies that are not what any route expects at all, as raw text. */
const MALFORMED_BODIES = [
  '',
  ' ',
  '{',
  '{"a":',
  '[',
  'nul',
  '{"a":1,}',
  "{'a':1}",
  '\uFEFF{}',
  '{"a":1}{"a":2}',
  '"just a string"',
  '1e400',
  'null',
  '[]',
  '{"__proto__":{"role":"admin"}}',
  '{"constructor":{"prototype":{"role":"admin"}}}',
  '\u0000',
  '{"a":"\\ud800"}',
  '{"a":"\\u0000"}',
];

function bodyArbitrary(ctx: Ctx): fc.Arbitrary<string | undefined> {
  const schema = ctx.route.body;
  if (!schema) {
    // A route that takes no body gets one now and then.
    return fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom(...MALFORMED_BODIES) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(own([['status', 'approved']]), own([['amount', 1]]), [], null).map(toJson) },
    );
  }
  return fc.oneof(
    { weight: 3, arbitrary: valid(schema, 'body', ctx).map((v) => toJson(fitToBudget(v))) },
    { weight: 6, arbitrary: mixed(schema, 'body', ctx).map((v) => toJson(fitToBudget(v))) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom(...MALFORMED_BODIES), hostile({ type: 'object', properties: schema.properties }, 'body', ctx).map((v) => toJson(fitToBudget(v)))) },
  );
}

const queryText = (v: unknown): string => (typeof v === 'string' ? v : v instanceof Raw ? v.text : typeof v === 'object' && v !== null ? toJson(v) : String(v));

function queryArbitrary(ctx: Ctx): fc.Arbitrary<string> {
  const params = ctx.route.query.map((p) =>
    fc
      .oneof(
        { weight: 8, arbitrary: fc.constant<string[]>([]) },
        { weight: 6, arbitrary: valid(p.schema, p.name, ctx).map((v) => [queryText(v)]) },
        { weight: 2, arbitrary: hostile(p.schema, p.name, ctx).map((v) => [clip(queryText(v), 5_000)]) },
        // The same parameter twice.
        { weight: 1, arbitrary: fc.tuple(valid(p.schema, p.name, ctx), valid(p.schema, p.name, ctx)).map(([a, b]) => [queryText(a), queryText(b)]) },
      )
      .map((values) => values.map((v) => `${enc(p.name)}=${enc(v)}`)),
  );
  const extra = fc.oneof(
    { weight: 8, arbitrary: fc.constant<string[]>([]) },
    { weight: 1, arbitrary: fc.tuple(unknownKeys, fc.constantFrom(...HOSTILE_SCALARS)).map(([k, v]) => [`${enc(k)}=${enc(queryText(v))}`]) },
    // Raw text no encoder would produce.
    { weight: 1, arbitrary: fc.constantFrom(['%ZZ=1'], ['limit=%'], ['limit[]=1'], ['limit[$gt]=1'], ['=1'], ['&&&'], ['limit=1&limit=2'], [';']) },
  );
  return fc.tuple(fc.tuple(...params), extra).map(([parts, more]) => [...parts.flat(), ...more].join('&'));
}

function pathArbitrary(ctx: Ctx): fc.Arbitrary<string> {
  const { route, world, other } = ctx;
  if (route.pathParams.length === 0) return fc.constant(route.path);
  const targets = PARAM_POOLS[route.key]?.(world) ?? [];
  const param = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...targets).map(enc) },
    { weight: 1, arbitrary: fc.constantFrom(...allIds(world)) },
    { weight: 1, arbitrary: fc.constantFrom(...allIds(other)) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_SCALARS).map((v) => enc(clip(queryText(v), 2_000))) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%E0%A4%A', '%00', '..', '%2e%2e', '%2F', 'x'.repeat(101), '%F0%9F%98%80', '%C0%AF') },
  );
  return fc.tuple(...route.pathParams.map(() => param)).map((values) =>
    fillPath(route, Object.fromEntries(route.pathParams.map((name, i) => [name, values[i]!])), false),
  );
}

/** One generated request, printed briefly when fast-check reports it. */
class HostileRequest {
  constructor(
    readonly role: Role | 'public',
    readonly method: string,
    readonly url: string,
    readonly body: string | undefined,
    readonly headers: Record<string, string>,
  ) {}
  [fc.toStringMethod](): string {
    return `${this.role}: ${this.method} ${clip(this.url)} ${JSON.stringify(this.headers)} ${this.body === undefined ? '(no body)' : clip(this.body)}`;
  }
}

function requestArbitrary(ctx: Ctx, roles: Role[] | 'public'): fc.Arbitrary<HostileRequest> {
  const { route } = ctx;
  const contentType = fc.oneof(
    { weight: 20, arbitrary: fc.constant('application/json') },
    {
      weight: 1,
      arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', 'application/xml', ''),
    },
  );
  const accept = fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('text/csv', 'application/xml', '*/*', 'text/html') });
  return fc
    .record({
      role: roles === 'public' ? fc.constant<'public'>('public') : fc.constantFrom(...roles),
      path: pathArbitrary(ctx),
      query: queryArbitrary(ctx),
      body: bodyArbitrary(ctx),
      contentType,
      accept,
    })
    .map(({ role, path, query, body, contentType, accept }) => {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = contentType;
      if (accept !== undefined) headers.accept = accept;
      return new HostileRequest(role, route.method, query ? `${path}?${query}` : path, body, headers);
    });
}

// ---------------------------------------------------------------------------------------------
// The route table

// All set-up is awaited before the first test, so tap does not finish (and tear down) early.
const allowedRoles = await probeAllowedRoles(app, routes);
const other = await buildWorld(app, 'Other organisation');
const world = await buildWorld(app, 'Hostile organisation');
const tracker = new WriteTracker(app.db, [world.org.organisationId, other.org.organisationId]);
const outcomes = new Map<string, number>();

t.test('every parameterised route has records to aim at', async (t) => {
  t.ok(routes.some((r) => r.key === 'POST /v1/time-entries' && r.body), 'the OpenAPI document carries the request schemas');
  const missing = routes.filter((r) => r.pathParams.length > 0 && !PARAM_POOLS[r.key]).map((r) => r.key);
  t.same(missing, [], `Add these routes to PARAM_POOLS in test/adversarial/helpers/api-world.ts: ${missing.join(', ')}`);
  const stale = Object.keys(PARAM_POOLS).filter((key) => !routes.some((r) => r.key === key));
  t.same(stale, [], `PARAM_POOLS names routes the app does not serve: ${stale.join(', ')}`);
});

t.test('the write detector sees an insert and an update in place', async (t) => {
  const before = await tracker.current();
  const id = newId();
  await app.db.insert(projects).values({ organisationId: world.org.organisationId, id, name: 'Detector check' });
  const inserted = await tracker.current();
  t.match(changes(before, inserted, world.org.organisationId), [/^projects: \d+ → \d+ rows$/]);
  await app.db.update(projects).set({ name: 'Detector check, renamed' }).where(eq(projects.id, id));
  const updated = await tracker.current();
  t.same(changes(inserted, updated, world.org.organisationId), ['projects: rows changed in place']);
  t.same(changes(before, updated, other.org.organisationId), [], 'the other organisation is untouched');
});

t.test('an id past the schema\'s 100 characters is refused with a documented status and code', async (t) => {
  // The router refuses an over-long path parameter before the schema sees it; its answer must
  // still be one of the documented pairs (docs/api-guide.md: a request that fails its schema is 400
  // validation_failed; the security suite takes 404 for a malformed id).
  const res = await app.inject({ method: 'GET', url: `/v1/contributors/${'x'.repeat(101)}`, headers: world.headers.admin });
  t.ok([400, 404].includes(res.statusCode), `400 or 404, not ${res.statusCode}: ${clip(res.body)}`);
  t.same(problemDefects(res, errorCodes), [], 'a problem document whose code and status agree with src/errors.ts');
});

t.test("another organisation's ids, and ids that are not ids, in a body are not found", async (t) => {
  // docs/api-guide.md: another organisation's id is 404 (docs/design.md invariant 9), in bodies too;
  // a malformed id is not found either (or fails validation), never a 5xx.
  const w = world;
  const o = other;
  const entry = { contributorId: w.participantContributor, budgetId: w.budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60 };
  const budget = { projectId: w.projectId, name: 'x', funder: 'y', grantReference: 'z', currency: 'GBP', amount: 1, startsOn: '2026-01-01', endsOn: '2026-12-31', rateCardId: w.rateCardId };
  const session = { budgetId: w.budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60 };
  const cases: Array<[url: string, role: Role, field: string, foreignId: string, payload: (id: string) => Record<string, unknown>]> = [
    ['/v1/time-entries', 'coordinator', 'contributorId', o.participantContributor, (id) => ({ ...entry, contributorId: id })],
    ['/v1/time-entries', 'coordinator', 'budgetId', o.budgetId, (id) => ({ ...entry, budgetId: id })],
    ['/v1/sessions', 'coordinator', 'attendees', o.participantContributor, (id) => ({ ...session, attendees: [w.participantContributor, id] })],
    ['/v1/sessions', 'coordinator', 'budgetId', o.budgetId, (id) => ({ ...session, budgetId: id, attendees: [w.participantContributor] })],
    ['/v1/expenses', 'coordinator', 'budgetId', o.budgetId, (id) => ({ contributorId: w.participantContributor, budgetId: id, category: 'travel', amount: 100, date: '2026-03-02' })],
    ['/v1/budgets', 'finance', 'projectId', o.projectId, (id) => ({ ...budget, projectId: id })],
    ['/v1/budgets', 'finance', 'rateCardId', o.rateCardId, (id) => ({ ...budget, rateCardId: id })],
    ['/v1/users', 'admin', 'contributorId', o.participantContributor, (id) => ({ email: `cross-${newId()}@example.test`, name: 'Cross', role: 'participant', contributorId: id })],
    ['/v1/payout-runs', 'finance', 'budgetId', o.budgetId, (id) => ({ currency: 'GBP', budgetId: id })],
  ];
  for (const [url, role, field, foreignId, payload] of cases) {
    for (const [what, id, statuses] of [
      ["another organisation's", foreignId, [404]],
      ['a malformed', 'not-an-id', [400, 404]],
    ] as const) {
      const label = `POST ${url} naming ${what} ${field}`;
      const before = await tracker.current();
      const res = await app.inject({ method: 'POST', url, headers: w.headers[role], payload: payload(id) });
      const after = await tracker.current();
      t.ok((statuses as readonly number[]).includes(res.statusCode), `${label}: ${statuses.join(' or ')}, not ${res.statusCode}: ${clip(res.body)}`);
      t.same(problemDefects(res, errorCodes), [], `${label}: a problem document`);
      t.same(changes(before, after, w.org.organisationId), [], `${label}: nothing written`);
      t.same(changes(before, after, o.org.organisationId), [], `${label}: nothing written in the other organisation`);
    }
  }
});

t.test('list filters naming ids that are not ids, or are another organisation\'s, are answered, never a 5xx', async (t) => {
  // Every query parameter of a GET route that names a record, from the OpenAPI document.
  for (const route of routes.filter((r) => r.method === 'GET' && !r.pathParams.length)) {
    const roles = allowedRoles.get(route.key) ?? [];
    const role = roles.includes('admin') ? 'admin' : roles[0];
    if (!role) continue;
    for (const param of route.query.filter((q) => /Id$/.test(q.name))) {
      for (const value of ['not-an-id', '1', other.budgetId, other.participantContributor]) {
        const res = await app.inject({ method: 'GET', url: `${route.path}?${param.name}=${enc(value)}`, headers: world.headers[role] });
        const label = `${route.key}?${param.name}=${value}`;
        t.ok(res.statusCode < 500, `${label}: ${res.statusCode} ${clip(res.body, 200)}`);
        if (res.statusCode >= 300) t.same(problemDefects(res, errorCodes), [], `${label}: a problem document`);
      }
    }
  }
});

t.test('free text PostgreSQL cannot keep as JSON (a lone surrogate) is a 4xx or stored, never a 5xx', async (t) => {
  // JSON may carry "\ud800"; PostgreSQL's text replaces it, but its jsonb refuses it, so text
  // that reaches an audit event's before/after as sent must be refused (or cleaned) first.
  const w = world;
  const cases: Array<[method: 'POST' | 'PATCH', url: string, role: Role, body: string]> = [
    ['POST', '/v1/api-tokens', 'admin', '{"name":"script \\ud800","role":"reporter"}'],
    ['POST', '/v1/projects', 'coordinator', '{"name":"Project \\udc00"}'],
    ['POST', `/v1/budgets/${w.budgetId}/adjustments`, 'finance', '{"amount":1,"reason":"\\ud800"}'],
    ['POST', '/v1/sessions', 'coordinator', JSON.stringify({ budgetId: w.budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60, attendees: [w.participantContributor] }).replace(/}$/, ',"note":"\\udc00"}')],
    ['PATCH', `/v1/contributors/${w.ids.contributors[1]}`, 'coordinator', '{"name":"Casey \\ud83d"}'],
    ['POST', `/v1/payouts/${w.ids.payoutItems[0]}/mark-failed`, 'finance', '{"reason":"closed \\ud800"}'],
  ];
  for (const [method, url, role, body] of cases) {
    const label = `${method} ${url.replace(/[0-9a-f-]{36}/g, '{id}')} with a lone surrogate`;
    const before = await tracker.current();
    const res = await app.inject({ method, url, headers: { ...w.headers[role], 'content-type': 'application/json' }, payload: body });
    const after = await tracker.current();
    t.ok(res.statusCode < 500, `${label}: ${res.statusCode} ${clip(res.body, 200)}`);
    if (res.statusCode >= 300) {
      t.same(problemDefects(res, errorCodes), [], `${label}: a problem document`);
      t.same(changes(before, after, w.org.organisationId), [], `${label}: nothing written`);
    }
  }
});

for (const route of routes.filter((r) => !ONLY_MATCHING || ONLY_MATCHING.test(r.key))) {
  t.test(route.key, async (t) => {
    const roles = route.isPublic ? 'public' : (allowedRoles.get(route.key) ?? []);
    if (roles !== 'public' && roles.length === 0) {
      t.fail(`no role is admitted to ${route.key}`);
      return;
    }
    const ctx: Ctx = { route, world, other };
    const arbitrary = requestArbitrary(ctx, roles);
    // The first runs are valid requests drawn with a fixed seed, so every route reaches its
    // service code whatever the random runs after them draw. Several, because a schema's JSON
    // form cannot say everything zod checks (a budget's end on or after its start), and one
    // draw may still be refused.
    const validFirst = fc.sample(
      fc.record({ role: roles === 'public' ? fc.constant<'public'>('public') : fc.constantFrom(...roles), body: route.body ? valid(route.body, 'body', ctx) : fc.constant(undefined) }),
      { numRuns: 8, seed: 42 },
    );
    const pathParams = Object.fromEntries(route.pathParams.map((name) => [name, PARAM_POOLS[route.key]!(world)[0]!]));
    const examples = validFirst.map(
      (first) =>
        [
          new HostileRequest(
            first.role,
            route.method,
            fillPath(route, pathParams),
            first.body === undefined ? undefined : toJson(first.body),
            first.body === undefined ? {} : { 'content-type': 'application/json' },
          ),
        ] as [HostileRequest],
    );

    const seen = new Map<string, number>();
    const property = fc.asyncProperty(arbitrary, async (request) => {
      const before = await tracker.current();
      const auth = request.role === 'public' ? {} : world.headers[request.role];
      if (process.env.HOSTILE_TRACE) process.stderr.write(`${new Date().toISOString()} ${request[fc.toStringMethod]()}\n`);
      const res: LightMyRequestResponse = await app.inject({
        method: request.method as 'GET',
        url: request.url,
        headers: { ...auth, ...request.headers },
        ...(request.body === undefined ? {} : { payload: request.body }),
      });
      if (process.env.HOSTILE_TRACE) process.stderr.write(`   → ${res.statusCode} ${res.body.slice(0, 150)}\n`);
      const code = res.statusCode >= 400 ? (safeCode(res) ?? '?') : 'ok';
      const label = `${res.statusCode} ${code}`;
      seen.set(label, (seen.get(label) ?? 0) + 1);
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);

      const defects: string[] = [];
      if (res.statusCode >= 500) defects.push(`a ${res.statusCode}`);
      if (res.statusCode >= 200 && res.statusCode < 300) {
        if (!route.successStatuses.includes(res.statusCode)) defects.push(`${res.statusCode} is not a status the operation documents (${route.successStatuses.join(', ')})`);
      } else {
        defects.push(...problemDefects(res, errorCodes));
      }
      const after = await tracker.current();
      if (res.statusCode >= 300) {
        const written = changes(before, after, world.org.organisationId);
        if (written.length) defects.push(`the refused request wrote: ${written.join('; ')}`);
      }
      const leaked = changes(before, after, other.org.organisationId);
      if (leaked.length) defects.push(`the request changed ANOTHER organisation: ${leaked.join('; ')}`);
      if (defects.length) {
        throw new Error(`${route.key} answered ${res.statusCode}: ${defects.join('; ')}\n  response: ${clip(res.body, 600)}`);
      }
    });

    const details = await fc.check(property, {
      numRuns: RUNS,
      examples,
      interruptAfterTimeLimit: ROUTE_BOUND_MS,
      ...(SEED === undefined ? {} : { seed: SEED }),
      ...(PATH === undefined ? {} : { path: PATH }),
    });
    if (details.failed) {
      t.fail(`${route.key}: a hostile request was answered wrongly (seed ${details.seed}, path ${JSON.stringify(details.counterexamplePath)})`, {
        request: details.counterexample ? fc.stringify(details.counterexample[0]) : undefined,
        error: details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance),
        replay: `HOSTILE_ROUTE='^${route.method} ${route.path.replace(/[{}]/g, '\\$&')}$' HOSTILE_SEED=${details.seed} HOSTILE_PATH='${details.counterexamplePath ?? ''}'`,
      });
    } else {
      t.pass(`${details.numRuns} hostile requests${details.interrupted ? ' (stopped early at the time bound)' : ''}`);
    }
    t.comment(`${route.key}: ${[...seen].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    const pastValidation = [...seen].filter(([k]) => !/^(400 validation_failed|400 invalid_json|415 )/.test(k)).reduce((n, [, c]) => n + c, 0);
    t.ok(pastValidation > 0, `some requests got past validation to the service layer: ${[...seen].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    await assertLedgerInvariants(t, app.db, world.org.organisationId);
  });
}

t.test('the ledgers of both organisations still hold, and requests reached the service layer', async (t) => {
  await assertLedgerInvariants(t, app.db, world.org.organisationId);
  await assertLedgerInvariants(t, app.db, other.org.organisationId);
  const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
  const succeeded = [...outcomes].filter(([k]) => k.endsWith(' ok')).reduce((n, [, c]) => n + c, 0);
  t.comment(`outcomes over ${total} requests: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  if (!ONLY_MATCHING) {
    t.ok(succeeded > 0, 'some hostile requests succeeded (so values reached the database)');
    t.ok(outcomes.size > 5, 'the requests met many different outcomes');
  }
});

function safeCode(res: LightMyRequestResponse): string | undefined {
  try {
    const code = (JSON.parse(res.body) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}
