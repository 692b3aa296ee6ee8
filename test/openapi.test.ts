/**
 * The served OpenAPI document (GET /openapi.json) is complete and cannot drift from the code:
 * every operation names itself (operationId, summary, description, tags) and its error
 * responses (one Problem component); pages and /metrics are not in it; Redocly's recommended
 * rules pass with 0 errors and 0 warnings; and, with the drift guard the tests build the app
 * with, a route that answers with a problem code it does not declare fails.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import t from 'tap';
import { z } from 'zod';
import { AppError, errorCodes, type ErrorCode } from '../src/errors.js';
import { apiTags, errors, operations } from '../src/lib/openapi.js';
import { describeProblem, lintDocument } from './client/lint.js';
import { generateClientTypes } from './client/generate.js';
import { buildTestApp, createTestOrg, json } from './helpers/app.js';
import { testDatabase } from './helpers/database.js';

type Operation = {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: { name: string; in: string; description?: string }[];
  responses: Record<string, { description: string; content?: Record<string, { schema?: { $ref?: string } }> }>;
};
type Document = {
  servers?: { url: string }[];
  info: { license?: { name: string; identifier?: string; url?: string } };
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
};

const METRICS_TOKEN = 'metrics-token-for-the-openapi-test';
const PUBLIC_URL = 'https://ledger.coproduction.test/';

/** The app as tests build it, with a few probe routes added before it starts. */
async function probedApp(): Promise<FastifyInstance> {
  const built = await buildTestApp({ env: { METRICS_TOKEN, PUBLIC_URL } });
  const app = built.withTypeProvider<ZodTypeProvider>();
  const probes = operations('operations').for(['admin']);
  app.get(
    '/v1/openapi-probes/undeclared',
    probes({ operationId: 'probeUndeclared', summary: 'Probe', description: 'Answers a code it does not declare.', response: { 200: z.object({}), ...errors('not_found') } }),
    async () => {
      throw new AppError('budget_exceeded', 'Not enough left.');
    },
  );
  app.get(
    '/v1/openapi-probes/declared',
    probes({ operationId: 'probeDeclared', summary: 'Probe', description: 'Answers a code it declares.', response: { 200: z.object({}), ...errors('not_found') } }),
    async () => {
      throw new AppError('not_found', 'The thing was not found');
    },
  );
  app.post(
    '/v1/openapi-probes/created',
    probes({
      operationId: 'probeCreated',
      summary: 'Probe',
      description: 'Creates, or answers a problem with members of its own.',
      body: z.strictObject({ fail: z.boolean() }),
      response: { 201: z.object({ made: z.literal(true) }), ...errors('budget_exceeded', 'budget_below_committed') },
    }),
    // In the request's transaction, as every write is, so an Idempotency-Key applies.
    async (request) =>
      request.transaction(async () => {
        if (request.body.fail) {
          throw new AppError('budget_exceeded', 'Not enough left.', { headroom: 1200, duplicateOf: 'abc', errors: [{ field: 'body.fail', message: 'was true' }] });
        }
        return { made: true as const };
      }),
  );
  return built;
}

const app = await probedApp();
t.teardown(async () => {
  await app.close();
  await (await testDatabase()).close();
});

const document = json<Document>(await app.inject({ method: 'GET', url: '/openapi.json' }));
const operationsOf = (doc: Document) =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, op })));
const all = operationsOf(document).filter(({ path }) => !path.startsWith('/v1/openapi-probes'));
const api = all.filter(({ path }) => path.startsWith('/v1/'));

t.test('every operation names itself: a unique camelCase operationId, a summary, a description and known tags', async (t) => {
  t.ok(api.length > 60, `the document has the API (${api.length} /v1 operations)`);
  const known = new Set<string>(apiTags.map((tag) => tag.name));
  const seen = new Map<string, string>();
  for (const { key, op } of all) {
    t.match(op.operationId, /^[a-z][a-zA-Z0-9]+$/, `${key} has a camelCase operationId`);
    if (op.operationId) {
      t.notOk(seen.has(op.operationId), `${key}: operationId ${op.operationId} is used once${seen.has(op.operationId) ? ` (also by ${seen.get(op.operationId)})` : ''}`);
      seen.set(op.operationId, key);
    }
    t.ok(op.summary?.trim(), `${key} has a summary`);
    t.ok(op.description?.trim(), `${key} has a description`);
    t.ok(op.tags?.length && op.tags.every((tag) => known.has(tag)), `${key} has tags from apiTags: ${op.tags}`);
    for (const parameter of op.parameters ?? []) t.ok(parameter.description?.trim(), `${key}: parameter ${parameter.in}.${parameter.name} is described`);
    for (const [status, response] of Object.entries(op.responses)) {
      t.not(response.description, 'Default Response', `${key} ${status} says what it is`);
    }
  }
  for (const tag of document.tags ?? []) t.ok(tag.description, `tag ${tag.name} is described`);
});

t.test('the money path is named as generated clients will call it', async (t) => {
  const ids = new Set(all.map(({ op }) => op.operationId));
  for (const id of ['createBudget', 'createSession', 'approveTimeEntry', 'createPayoutRun', 'approvePayoutRun', 'listBudgets', 'getPayoutRun']) {
    t.ok(ids.has(id), id);
  }
});

t.test('every /v1 operation lists its error responses as problem+json with the one Problem schema', async (t) => {
  t.ok(document.components.schemas.Problem, 'one Problem component');
  t.notOk(document.components.schemas.ProblemInput, 'no input copy of it');
  t.match(Object.keys(document.components.schemas.Problem?.properties ?? {}), ['type', 'title', 'status', 'detail', 'code', 'instance', 'requestId', 'errors']);
  for (const { key, path, op } of api) {
    const statuses = Object.keys(op.responses).map(Number);
    t.ok(statuses.some((s) => s >= 400 && s < 500), `${key} documents a 4xx`);
    t.ok(statuses.includes(500), `${key} documents 500`);
    if (path !== '/v1/auth/token' && path !== '/v1/webhooks/stripe' && !path.startsWith('/v1/auth/')) t.ok(statuses.includes(401), `${key} documents 401`);
    for (const status of statuses.filter((s) => s >= 400)) {
      const response = op.responses[String(status)]!;
      t.same(Object.keys(response.content ?? {}), ['application/problem+json'], `${key} ${status} is problem+json`);
      t.equal(response.content?.['application/problem+json']?.schema?.$ref, '#/components/schemas/Problem', `${key} ${status} is a Problem`);
      // The description names each code, and each code belongs to the status.
      const codes = [...response.description.matchAll(/^- `([a-z_]+)`:/gm)].map((m) => m[1] as ErrorCode);
      t.ok(codes.length > 0, `${key} ${status} names its codes`);
      for (const code of codes) t.equal(errorCodes[code]?.status, status, `${key}: ${code} is a ${status}`);
    }
  }
  const approve = document.paths['/v1/payout-runs/{id}/approve']!.post!;
  t.match(approve.responses['403']?.description, /`four_eyes_required`[\s\S]*`self_approval_forbidden`/, 'an operation lists its own codes');
  t.match(approve.responses['401']?.description, /`unauthorized`/, 'and the shared ones');
});

t.test('pages, /metrics and the document itself are not operations; PUBLIC_URL is the server; there is a licence', async (t) => {
  const paths = Object.keys(document.paths);
  t.same(paths.filter((p) => !p.startsWith('/v1/') && !['/healthz', '/readyz'].includes(p)), [], 'only the API and the health probes');
  t.ok((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode === 200, '/metrics is served');
  t.ok((await app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } })).statusCode < 500, 'the pages are served');
  t.same(document.servers, [{ url: 'https://ledger.coproduction.test', description: 'This service (PUBLIC_URL)' }]);
  t.ok(document.info.license?.name, 'a licence');
});

t.test("Redocly's recommended rules pass with 0 errors and 0 warnings", async (t) => {
  const { problems, totals } = await lintDocument(await (async () => {
    // The document as served, without this file's probe routes.
    const plain = json<Document>(await app.inject({ method: 'GET', url: '/openapi.json' }));
    plain.paths = Object.fromEntries(Object.entries(plain.paths).filter(([path]) => !path.startsWith('/v1/openapi-probes')));
    return plain;
  })());
  t.same(problems.map(describeProblem), [], 'no problems');
  t.same(totals, { errors: 0, warnings: 0, ignored: 0 });
});

t.test('the drift guard: an undeclared problem code answers 500 naming it, a declared one goes through', async (t) => {
  const org = await createTestOrg(app);
  const headers = await org.as('admin');
  const undeclared = await app.inject({ method: 'GET', url: '/v1/openapi-probes/undeclared', headers });
  t.equal(undeclared.statusCode, 500, undeclared.body);
  t.equal(json(undeclared).code, 'internal_error');
  t.match(json(undeclared).detail, /Undeclared problem code: GET \/v1\/openapi-probes\/undeclared answered 422 `budget_exceeded`/);

  const declared = await app.inject({ method: 'GET', url: '/v1/openapi-probes/declared', headers });
  t.equal(declared.statusCode, 404, declared.body);
  t.equal(json(declared).code, 'not_found');

  // The shared codes need no declaration: no token, the wrong role.
  const anonymous = await app.inject({ method: 'GET', url: '/v1/openapi-probes/declared' });
  t.equal(json(anonymous).code, 'unauthorized', anonymous.body);
  const wrongRole = await app.inject({ method: 'GET', url: '/v1/openapi-probes/declared', headers: await org.as('finance') });
  t.equal(json(wrongRole).code, 'forbidden', wrongRole.body);

  // An unknown address is not a route's answer.
  const unknown = await app.inject({ method: 'GET', url: '/v1/no-such-route', headers });
  t.equal(json(unknown).code, 'not_found', unknown.body);
});

t.test('declared error statuses change neither the success status nor what a problem carries', async (t) => {
  const org = await createTestOrg(app);
  const headers = await org.as('admin');
  const created = await app.inject({ method: 'POST', url: '/v1/openapi-probes/created', headers, payload: { fail: false } });
  t.equal(created.statusCode, 201, created.body);
  t.same(json(created), { made: true });

  const refused = await app.inject({ method: 'POST', url: '/v1/openapi-probes/created', headers, payload: { fail: true } });
  t.equal(refused.statusCode, 422, refused.body);
  t.match(refused.headers['content-type'], /^application\/problem\+json/);
  t.match(json(refused), {
    code: 'budget_exceeded',
    status: 422,
    headroom: 1200,
    duplicateOf: 'abc',
    errors: [{ field: 'body.fail', message: 'was true' }],
  });

  const invalid = await app.inject({ method: 'POST', url: '/v1/openapi-probes/created', headers, payload: { fail: 'yes' } });
  t.equal(invalid.statusCode, 400, invalid.body);
  t.match(json(invalid).errors, [{ field: 'body.fail' }], 'validation errors keep their fields');

  // Replayed by Idempotency-Key, a problem is answered again whole.
  const keyed = { ...headers, 'idempotency-key': `probe-${Date.now()}` };
  const first = await app.inject({ method: 'POST', url: '/v1/openapi-probes/created', headers: keyed, payload: { fail: true } });
  const again = await app.inject({ method: 'POST', url: '/v1/openapi-probes/created', headers: keyed, payload: { fail: true } });
  t.equal(again.headers['idempotent-replayed'], 'true');
  t.equal(again.statusCode, first.statusCode);
  t.same(json(again), json(first));
});

t.test('the served document generates client types for every operation', async (t) => {
  // The types are generated, not committed: `npm run typecheck` writes test/client/schema.d.ts
  // from the served document before tsc checks the client's test against it.
  const plain = json<Document>(await app.inject({ method: 'GET', url: '/openapi.json' }));
  plain.paths = Object.fromEntries(Object.entries(plain.paths).filter(([path]) => !path.startsWith('/v1/openapi-probes')));
  const generated = await generateClientTypes(plain);
  const missing = Object.entries(plain.paths).flatMap(([path, item]) =>
    Object.values(item as Record<string, { operationId?: string }>)
      .flatMap((operation) => (operation?.operationId ? [operation.operationId] : []))
      .filter((id) => !generated.includes(`    ${id}: {`))
      .map((id) => `${path} ${id}`),
  );
  t.same(missing, [], 'every operation has its types');
  t.ok(Object.keys(plain.paths).every((path) => generated.includes(`"${path}": {`)), 'every path has its types');
});
