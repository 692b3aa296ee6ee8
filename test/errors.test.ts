/**
 * The one error handler and the operational routes: every error is application/problem+json with
 * a stable code, framework errors map to the closed list, a 5xx says nothing about internals,
 * and /healthz, /readyz, /metrics, /openapi.json and /docs answer.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/db/client.js';
import { appForThisFile, createTestOrg, json, TEST_JWT_SECRET, uniqueEmail } from './helpers/app.js';
import { usingPostgres } from './helpers/database.js';

const METRICS_TOKEN = 'metrics-token-for-the-tests-0123';
const app = await appForThisFile(t, { env: { METRICS_TOKEN } });

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

/** Asserts an RFC 9457 problem document with the API's members, and returns it. */
function assertProblem(t: TapTest, res: LightMyRequestResponse, status: number, code: string) {
  t.equal(res.statusCode, status, res.body);
  t.match(res.headers['content-type'], /^application\/problem\+json/, `content-type: ${res.body}`);
  const body = json(res);
  t.match(body, { type: String, title: String, status: Number, detail: String, code: String }, 'type, title, status, detail, code');
  t.equal(body.status, res.statusCode, 'the document repeats the HTTP status');
  t.equal(body.code, code, res.body);
  t.match(body.code, /^[a-z]+(_[a-z]+)*$/, 'the code is snake_case');
  t.ok(res.headers['x-request-id'], 'the error carries x-request-id');
  return body;
}

t.test('malformed JSON is 400 invalid_json', async (t) => {
  const org = await createTestOrg(app);
  const headers = { ...(await org.as('admin')), 'content-type': 'application/json' };
  assertProblem(t, await app.inject({ method: 'POST', url: '/v1/users', headers, payload: '{"email": "a@example.test",' }), 400, 'invalid_json');
  // The public login route parses the same way.
  assertProblem(
    t,
    await app.inject({ method: 'POST', url: '/v1/auth/token', headers: { 'content-type': 'application/json' }, payload: '{nope' }),
    400,
    'invalid_json',
  );
});

t.test('an unknown body field is 400 validation_failed naming the field', async (t) => {
  const org = await createTestOrg(app);
  const res = await app.inject({
    method: 'POST',
    url: '/v1/users',
    headers: await org.as('admin'),
    payload: { email: uniqueEmail(), name: 'Ann', role: 'finance', nickname: 'Annie' },
  });
  const body = assertProblem(t, res, 400, 'validation_failed');
  t.ok(Array.isArray(body.errors), res.body);
  // docs/api-guide.md: validation_failed names the failing fields: the field is `nickname`, not the body.
  t.ok(
    body.errors?.some((e: { field: string }) => e.field === 'body.nickname'),
    `errors[].field names body.nickname: ${JSON.stringify(body.errors)}`,
  );

  // Two unknown fields are two failing fields, each named on its own.
  const two = await app.inject({ method: 'PATCH', url: '/v1/organisation', headers: await org.as('admin'), payload: { nickname: 'x', colour: 'red' } });
  const fields = assertProblem(t, two, 400, 'validation_failed').errors?.map((e: { field: string }) => e.field) ?? [];
  t.same([...fields].sort(), ['body.colour', 'body.nickname'], two.body);
});

t.test('a field of the wrong type is 400 validation_failed naming the field', async (t) => {
  const org = await createTestOrg(app);
  const res = await app.inject({ method: 'POST', url: '/v1/users', headers: await org.as('admin'), payload: { email: uniqueEmail(), name: 42, role: 'finance' } });
  const body = assertProblem(t, res, 400, 'validation_failed');
  t.same(body.errors?.map((e: { field: string }) => e.field), ['body.name'], res.body);
  t.match(body.errors?.[0]?.message, /string/, res.body);

  const badEnum = await app.inject({ method: 'POST', url: '/v1/users', headers: await org.as('admin'), payload: { email: uniqueEmail(), name: 'Ann', role: 'owner' } });
  t.same(assertProblem(t, badEnum, 400, 'validation_failed').errors?.map((e: { field: string }) => e.field), ['body.role'], badEnum.body);
});

t.test('a body over 1 MiB is 413 payload_too_large', async (t) => {
  const org = await createTestOrg(app);
  const payload = JSON.stringify({ email: uniqueEmail(), name: 'x'.repeat(1024 * 1024), role: 'finance' });
  t.ok(Buffer.byteLength(payload) > 1024 * 1024);
  const res = await app.inject({ method: 'POST', url: '/v1/users', headers: { ...(await org.as('admin')), 'content-type': 'application/json' }, payload });
  assertProblem(t, res, 413, 'payload_too_large');
});

t.test('an unknown route is 404 not_found, with or without a token', async (t) => {
  const org = await createTestOrg(app);
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/no-such-thing' }), 404, 'not_found');
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/no-such-thing', headers: await org.as('admin') }), 404, 'not_found');
  assertProblem(t, await app.inject({ method: 'POST', url: '/nowhere', payload: {} }), 404, 'not_found');
});

t.test('errors the router raises itself are problem+json too', async (t) => {
  // docs/api-guide.md: every error is application/problem+json. These never reach a route handler.
  const org = await createTestOrg(app);
  const headers = await org.as('admin');
  for (const url of ['/v1/users/%E0%A4%A', `/v1/users/${'a'.repeat(150)}`]) {
    const res = await app.inject({ method: 'GET', url, headers });
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${url}: ${res.body}`);
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${url}: ${res.body}`);
    t.match(json(res), { type: String, title: String, status: res.statusCode, detail: String, code: String }, `${url}: ${res.body}`);
  }
});

t.test('401 and 403 are problem documents', async (t) => {
  const org = await createTestOrg(app);
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/users' }), 401, 'unauthorized');
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/users', headers: await org.as('reporter') }), 403, 'forbidden');
});

/** Strings that must never reach a client in a 5xx: SQL, driver names, stack frames, inputs. */
function assertNoInternals(t: TapTest, res: LightMyRequestResponse, secrets: RegExp[]) {
  t.ok(res.statusCode === 500 || res.statusCode === 503, `a 5xx: ${res.body}`);
  const body = json(res);
  t.equal(body.code, res.statusCode === 503 ? 'service_unavailable' : 'internal_error', res.body);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  t.notOk('stack' in body, `no stack: ${res.body}`);
  for (const leak of [/\bselect\b/i, /\binsert\b/i, /\bfrom "/i, /pglite/i, /drizzle/i, /ECONNREFUSED/, /\bat .+:\d+:\d+/, /params:/i, /127\.0\.0\.1/, ...secrets]) {
    t.notMatch(res.body, leak, `the body leaks ${leak}: ${res.body}`);
  }
}

async function appOn(database: Database): Promise<FastifyInstance> {
  const config = loadConfig({ LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET });
  // No job queue (it would need the database) and no Stripe: only the request path is tested.
  return buildApp({ config, database, jwtSecret: TEST_JWT_SECRET, jobs: false, stripe: null });
}

t.test('with its database closed, a request is a bare 5xx and /readyz is 503', async (t) => {
  const org = await createTestOrg(app);
  // Its own PGlite, closed before use; the file's shared database stays open for other tests.
  const closed = await openDatabase({ kind: 'pglite', dataDir: 'memory://' });
  await closed.close();
  const broken = await appOn(closed);
  t.teardown(() => broken.close());
  const headers = { authorization: `Bearer ${broken.issueAccessToken({ sub: org.adminUserId, org: org.organisationId, role: 'admin', cid: null })}` };

  const marker = 'leak-marker-7d1f';
  const create = await broken.inject({
    method: 'POST',
    url: '/v1/users',
    headers,
    payload: { email: `${marker}@example.test`, name: marker, role: 'finance', password: `${marker}-password` },
  });
  assertNoInternals(t, create, [new RegExp(marker)]);
  assertNoInternals(t, await broken.inject({ method: 'GET', url: '/v1/organisation', headers }), []);
  assertNoInternals(t, await broken.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: `${marker}@example.test`, password: marker } }), [new RegExp(marker)]);

  assertProblem(t, await broken.inject({ method: 'GET', url: '/readyz' }), 503, 'service_unavailable');
  const healthz = await broken.inject({ method: 'GET', url: '/healthz' });
  t.equal(healthz.statusCode, 200, `the process is still up: ${healthz.body}`);
});

t.test('with PostgreSQL unreachable, a request is a bare 5xx and /readyz is 503', async (t) => {
  const org = await createTestOrg(app);
  // Nothing listens on port 1: every connection is refused.
  const unreachable = await openDatabase({ kind: 'postgres', url: 'postgres://ledger:hunter2-secret@127.0.0.1:1/ledger', poolSize: 1 });
  const broken = await appOn(unreachable);
  t.teardown(async () => {
    await broken.close();
    await unreachable.close();
  });
  const headers = { authorization: `Bearer ${broken.issueAccessToken({ sub: org.adminUserId, org: org.organisationId, role: 'admin', cid: null })}` };
  assertNoInternals(t, await broken.inject({ method: 'GET', url: '/v1/organisation', headers }), [/hunter2/, /ledger:/]);
  assertProblem(t, await broken.inject({ method: 'GET', url: '/readyz' }), 503, 'service_unavailable');
});

t.test('/healthz and /readyz', async (t) => {
  const healthz = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(healthz.statusCode, 200, healthz.body);
  t.same(json(healthz), { status: 'ok' });
  const readyz = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(readyz.statusCode, 200, readyz.body);
  t.same(json(readyz), { status: 'ready', database: usingPostgres() ? 'postgres' : 'pglite' });
});

t.test('/metrics is Prometheus text', async (t) => {
  await app.inject({ method: 'GET', url: '/healthz' });
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  t.equal(res.statusCode, 200, res.body.slice(0, 500));
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  t.match(res.body, /^# HELP \w+ /m);
  t.match(res.body, /^# TYPE http_request_duration_seconds histogram$/m, 'request durations are measured');
  // Every sample line is `name{labels} value`.
  const samples = res.body.split('\n').filter((line) => line && !line.startsWith('#'));
  t.ok(samples.length > 0);
  // Prometheus parses values with Go's ParseFloat, which takes NaN and Inf in any case
  // (prom-client writes an empty event-loop histogram's mean as "Nan").
  const bad = samples.filter((line) => !/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[0-9.]+(e[+-]?\d+)?|nan|[+-]inf)( \d+)?$/i.test(line));
  t.same(bad, [], 'every sample line parses');
});

t.test('/openapi.json is an OpenAPI 3.1 document of the API', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(res.statusCode, 200, res.body.slice(0, 500));
  const doc = json(res);
  t.equal(doc.openapi, '3.1.0');
  t.type(doc.info?.title, 'string');
  t.ok(doc.paths?.['/v1/auth/token']?.post, 'POST /v1/auth/token is documented');
  t.ok(doc.paths?.['/v1/me']?.get, 'GET /v1/me is documented');
  t.ok(doc.components?.securitySchemes?.bearerAuth, 'the bearer scheme is documented');
});

t.test('/docs serves the reference page', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/docs' });
  t.equal(res.statusCode, 200, res.body.slice(0, 500));
  t.match(res.headers['content-type'], /^text\/html/);
  t.match(res.body, /<html/i);
});

t.test('responses carry x-request-id, and a given one is kept', async (t) => {
  const plain = await app.inject({ method: 'GET', url: '/healthz' });
  t.ok(plain.headers['x-request-id'], 'a request id is made up when none is sent');
  const given = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'trace-abc-123' } });
  t.equal(given.headers['x-request-id'], 'trace-abc-123');
  const problem = await app.inject({ method: 'GET', url: '/v1/nowhere', headers: { 'x-request-id': 'trace-def-456' } });
  t.equal(problem.headers['x-request-id'], 'trace-def-456', problem.body);
  t.equal(json(problem).requestId, 'trace-def-456', 'the problem quotes the request id');
});
