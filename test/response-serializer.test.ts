/**
 * The response serializer (src/lib/response-serializer.ts): what a route answers is checked
 * against its zod schema and written with only the fields the schema declares; a response that
 * does not match is a 500, never sent as it is. Every route of the app passing its set-up is
 * checked by every test file that builds the app.
 */
import t from 'tap';
import { serializerCompiler as encodingSerializerCompiler, InvalidSchemaError, ResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { responseSerializerCompiler } from '../src/lib/response-serializer.js';
import { buildTestApp } from './helpers/app.js';
import { testDatabase } from './helpers/database.js';

const entry = z.object({
  id: z.string(),
  minutes: z.number().int(),
  createdAt: z.iso.datetime(),
  quote: z.object({ amount: z.number().int(), explanation: z.array(z.string()) }),
});
const view = z.object({ contributorId: z.string(), timeEntries: z.array(entry) });

const serialize = (schema: unknown, data: unknown) =>
  responseSerializerCompiler({ schema: schema as z.ZodType, method: 'GET', url: '/test', httpStatus: '200' })(data);

const good = {
  contributorId: 'c1',
  timeEntries: [{ id: 'e1', minutes: 60, createdAt: '2026-04-06T10:00:00.000Z', quote: { amount: 2000, explanation: ['£20.00 an hour'] } }],
};

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

t.test('fields the schema does not declare are left out, at every depth', async (t) => {
  const leaky = {
    ...good,
    passwordHash: 'scrypt$...',
    timeEntries: [{ ...good.timeEntries[0], organisationId: 'o1', quote: { ...good.timeEntries[0]!.quote, secret: 'x' } }],
  };
  t.same(JSON.parse(serialize(view, leaky)), good);
  t.equal(serialize(view, good), JSON.stringify(good), 'a response that matches is written as it is');
});

t.test('a response that does not match its schema is refused, with the issue and where', async (t) => {
  const cases: Array<[string, unknown, (string | number)[]]> = [
    ['a wrong type', { ...good, contributorId: 42 }, ['contributorId']],
    ['a missing field', { timeEntries: [] }, ['contributorId']],
    ['a failed check (an integer)', { ...good, timeEntries: [{ ...good.timeEntries[0], minutes: 1.5 }] }, ['timeEntries', 0, 'minutes']],
    ['a failed check (a date-time)', { ...good, timeEntries: [{ ...good.timeEntries[0], createdAt: 'yesterday' }] }, ['timeEntries', 0, 'createdAt']],
  ];
  for (const [what, data, path] of cases) {
    const error = thrown(() => serialize(view, data));
    t.ok(error instanceof ResponseSerializationError, `${what}: ${String(error)}`);
    t.same((error as ResponseSerializationError).cause.issues.map((issue) => issue.path), [path], what);
  }
});

t.test('it answers as the library serializer it replaces does, on schemas without codecs', async (t) => {
  const encoding = (data: unknown) => encodingSerializerCompiler({ schema: view, method: 'GET', url: '/test', httpStatus: '200' })(data);
  t.equal(serialize(view, good), encoding(good));
  const leaky = { ...good, extra: true };
  t.equal(serialize(view, leaky), encoding(leaky));
});

t.test('a response schema that would change values is refused when its route is set up', async (t) => {
  // A forward parse runs these the wrong way or papers over a wrong value (a codec decodes, a
  // default fills in, a catch swaps in its fallback) where the response should be refused.
  const date = z.codec(z.iso.datetime(), z.date(), { decode: (s) => new Date(s), encode: (d) => d.toISOString() });
  const changing: Array<[string, z.ZodType, string]> = [
    ['a codec', z.object({ at: date }), 'pipe'],
    ['a transform', z.object({ n: z.string().transform((s) => s.length) }), 'pipe'],
    ['a preprocess', z.object({ n: z.preprocess((v) => Number(v), z.number()) }), 'pipe'],
    ['a pipe', z.object({ n: z.string().pipe(z.string().min(1)) }), 'pipe'],
    ['a default', z.object({ n: z.number().default(0) }), 'default'],
    ['a prefault', z.object({ n: z.number().prefault(0) }), 'prefault'],
    ['a catch', z.object({ n: z.number().catch(0) }), 'catch'],
    ['one deep inside', z.object({ list: z.array(z.object({ quote: z.object({ n: z.number().catch(0) }).nullable() })) }), 'catch'],
    ['one in a union', z.union([z.string(), z.object({ n: z.number().default(1) })]), 'default'],
    ['one behind a lazy', z.lazy(() => z.object({ n: z.number().default(1) })), 'default'],
  ];
  for (const [what, schema, kind] of changing) {
    const error = thrown(() => serialize(schema, {}));
    t.ok(error instanceof InvalidSchemaError, `${what}: ${String(error)}`);
    t.match((error as Error).message, new RegExp(`GET /test has a ${kind}`), what);
  }
  // Checks only check: refinements, formats, optional and nullable fields, and a recursive schema are fine.
  interface Node {
    name: string;
    children: Node[];
  }
  const node: z.ZodType<Node> = z.lazy(() => z.object({ name: z.string(), children: z.array(node) }));
  const checking = z.object({
    even: z.number().int().refine((n) => n % 2 === 0, 'must be even'),
    at: z.iso.datetime().nullable(),
    note: z.string().optional(),
    tree: node,
  });
  t.equal(serialize(checking, { even: 2, at: null, tree: { name: 'a', children: [] } }), '{"even":2,"at":null,"tree":{"name":"a","children":[]}}');
  t.ok(thrown(() => serialize(checking, { even: 3, at: null, tree: { name: 'a', children: [] } })) instanceof ResponseSerializationError, 'a refinement still refuses');
});

t.test('a response schema that is not a zod schema is refused when the route is set up', async (t) => {
  t.ok(thrown(() => serialize({ type: 'object' }, {})) instanceof InvalidSchemaError);
});

t.test('in the app, a response that does not match is a 500 problem, and nothing of it is sent', async (t) => {
  const app = await buildTestApp();
  t.teardown(async () => {
    await app.close();
    await (await testDatabase()).close();
  });
  app.get('/test/serializer', { schema: { response: { 200: view } } }, async () => ({ ...good, contributorId: 'secret-but-wrong', timeEntries: 'not a list' }));
  const res = await app.inject({ method: 'GET', url: '/test/serializer' });
  t.equal(res.statusCode, 500, res.body);
  t.match(res.headers['content-type'], /application\/problem\+json/);
  t.match(res.json(), { code: 'internal_error' });
  t.notMatch(res.body, /secret-but-wrong/);
});
