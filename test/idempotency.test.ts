/**
 * The Idempotency-Key layer (docs/api-guide.md): a retried POST returns the first response
 * with `Idempotent-Replayed: true` and has no second effect; a reused key with another body is
 * 422; keys are per organisation; concurrent retries produce exactly one effect.
 */
import { and, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { auditEvents, idempotencyKeys } from '../src/db/schema.js';
import { auditEventColumns } from '../src/modules/audit/views.js';
import { appForThisFile, createTestOrg, json, uniqueEmail, type TestOrg } from './helpers/app.js';
import { usingPostgres } from './helpers/database.js';

const app = await appForThisFile(t);

let keyCounter = 0;
const newKey = (label = 'key') => `${label}-${process.pid}-${Date.now()}-${++keyCounter}`;

async function post(org: TestOrg, url: string, payload: object, key?: string): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = await org.as('admin');
  if (key !== undefined) headers['idempotency-key'] = key;
  return app.inject({ method: 'POST', url, headers, payload });
}

async function list(org: TestOrg, url: string): Promise<any[]> {
  const res = await app.inject({ method: 'GET', url, headers: await org.as('admin') });
  if (res.statusCode !== 200) throw new Error(`GET ${url} failed (${res.statusCode}): ${res.body}`);
  return json(res).data;
}

const replayed = (res: LightMyRequestResponse) => res.headers['idempotent-replayed'] === 'true';

t.test('the same key and body returns the first response, replayed, with no second effect', async (t) => {
  const org = await createTestOrg(app);
  const key = newKey();
  const body = { email: uniqueEmail('idem'), name: 'Ida', role: 'coordinator' };

  const first = await post(org, '/v1/users', body, key);
  t.equal(first.statusCode, 201, first.body);
  t.notOk(replayed(first), 'the first response is not a replay');

  // Key order does not make it a different request.
  const again = await post(org, '/v1/users', { role: body.role, name: body.name, email: body.email }, key);
  t.equal(again.statusCode, 201, again.body);
  t.ok(replayed(again), 'Idempotent-Replayed: true');
  t.same(json(again), json(first), 'the first response, exactly');

  const users = (await list(org, '/v1/users')).filter((u) => u.email === body.email);
  t.equal(users.length, 1, 'one user');
  const audits = await app.db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.entityId, json(first).id)));
  t.equal(audits.length, 1, 'one audit event');
});

t.test('the same key with a different body is 422 idempotency_key_reused', async (t) => {
  const org = await createTestOrg(app);
  const key = newKey();
  const first = await post(org, '/v1/api-tokens', { name: 'nightly export', role: 'reporter' }, key);
  t.equal(first.statusCode, 201, first.body);

  const changed = await post(org, '/v1/api-tokens', { name: 'nightly export', role: 'finance' }, key);
  t.equal(changed.statusCode, 422, changed.body);
  t.match(changed.headers['content-type'], /^application\/problem\+json/);
  t.equal(json(changed).code, 'idempotency_key_reused');

  // The same body on another route is another request, too.
  const otherRoute = await post(org, '/v1/users', { email: uniqueEmail(), name: 'Other', role: 'finance' }, key);
  t.equal(otherRoute.statusCode, 422, otherRoute.body);
  t.equal(json(otherRoute).code, 'idempotency_key_reused');

  t.equal((await list(org, '/v1/api-tokens')).length, 1, 'only the first request had an effect');
});

t.test('keys are per organisation', async (t) => {
  const [a, b] = await Promise.all([createTestOrg(app, 'Org A'), createTestOrg(app, 'Org B')]);
  const key = newKey('shared');
  const body = { name: 'same script', role: 'reporter' };
  const inA = await post(a, '/v1/api-tokens', body, key);
  const inB = await post(b, '/v1/api-tokens', body, key);
  t.equal(inA.statusCode, 201, inA.body);
  t.equal(inB.statusCode, 201, inB.body);
  t.notOk(replayed(inB), "another organisation's key is not replayed");
  t.not(json(inB).id, json(inA).id);
  t.not(json(inB).token, json(inA).token, "org B never sees org A's token");
  t.equal((await list(a, '/v1/api-tokens')).length, 1);
  t.equal((await list(b, '/v1/api-tokens')).length, 1);

  // A retry in B replays B's own first response.
  const again = await post(b, '/v1/api-tokens', body, key);
  t.ok(replayed(again), again.body);
  t.equal(json(again).id, json(inB).id);
});

t.test('a refused request is remembered: the retry replays its problem', async (t) => {
  const org = await createTestOrg(app);
  const email = uniqueEmail('taken');
  const created = await post(org, '/v1/users', { email, name: 'First', role: 'finance' });
  t.equal(created.statusCode, 201, created.body);

  const key = newKey();
  const body = { email, name: 'Second', role: 'finance' };
  const refused = await post(org, '/v1/users', body, key);
  t.equal(refused.statusCode, 409, refused.body);
  t.equal(json(refused).code, 'already_exists');
  t.notOk(replayed(refused));

  const retry = await post(org, '/v1/users', body, key);
  t.equal(retry.statusCode, 409, retry.body);
  t.ok(replayed(retry), 'Idempotent-Replayed: true');
  t.match(retry.headers['content-type'], /^application\/problem\+json/);
  t.same(json(retry), json(refused), 'the first problem, exactly');
});

t.test('an Idempotency-Key that is not 1 to 255 visible ASCII characters is 400', async (t) => {
  const org = await createTestOrg(app);
  for (const key of ['x'.repeat(256), 'has space']) {
    const res = await post(org, '/v1/api-tokens', { name: 'bad key', role: 'reporter' }, key);
    t.equal(res.statusCode, 400, res.body);
    t.equal(json(res).code, 'validation_failed', res.body);
  }
  t.equal((await list(org, '/v1/api-tokens')).length, 0, 'nothing was created');
});

t.test('keys are kept at least 24 hours', async (t) => {
  const org = await createTestOrg(app);
  const key = newKey();
  const body = { name: 'kept', role: 'reporter' };
  const first = await post(org, '/v1/api-tokens', body, key);
  t.equal(first.statusCode, 201, first.body);
  // The maintenance job run 23 hours later leaves the key alone.
  await app.purgeIdempotencyKeys(new Date(Date.now() + 23 * 3_600_000));
  const retry = await post(org, '/v1/api-tokens', body, key);
  t.equal(retry.statusCode, 201, retry.body);
  t.ok(replayed(retry), 'still replayed after 23 hours');
  t.equal(json(retry).id, json(first).id);
});

t.test('an API token issued with an Idempotency-Key is not stored in clear', async (t) => {
  // docs/api-guide.md: API tokens are shown once and stored as a hash. The stored idempotent response must not
  // become a second, plain-text copy of a live credential.
  const org = await createTestOrg(app);
  const key = newKey();
  const res = await post(org, '/v1/api-tokens', { name: 'export script', role: 'finance' }, key);
  t.equal(res.statusCode, 201, res.body);
  const [stored] = await app.db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.organisationId, org.organisationId), eq(idempotencyKeys.key, key)));
  t.ok(stored, 'the key was stored');
  t.notMatch(JSON.stringify(stored?.responseBody ?? null), json(res).token, 'the token is not in idempotency_keys.response_body');
});

/** Fires `n` identical requests at once; returns the responses. */
async function race(org: TestOrg, n: number, url: string, payload: object, key: string) {
  const headers = { ...(await org.as('admin')), 'idempotency-key': key };
  return Promise.all(Array.from({ length: n }, () => app.inject({ method: 'POST', url, headers, payload })));
}

for (const n of [2, 20]) {
  t.test(`${n} concurrent requests with one key have exactly one effect`, async (t) => {
    const org = await createTestOrg(app);
    // API tokens have no unique field, so only the idempotency layer can stop a duplicate.
    const responses = await race(org, n, '/v1/api-tokens', { name: `raced ${n}`, role: 'reporter' }, newKey('race'));

    const originals = responses.filter((r) => r.statusCode === 201 && !replayed(r));
    const replays = responses.filter((r) => r.statusCode === 201 && replayed(r));
    const inFlight = responses.filter((r) => r.statusCode === 409 && json(r).code === 'idempotency_key_in_flight');
    t.equal(originals.length, 1, `one request did the work: ${responses.map((r) => `${r.statusCode} ${r.body}`).join('\n')}`);
    t.equal(originals.length + replays.length + inFlight.length, n, 'every other answer is a replay or 409 idempotency_key_in_flight');
    for (const replay of replays) t.same(json(replay), json(originals[0]!), 'a replay is the first response');
    if (!usingPostgres()) {
      // PGlite runs one transaction at a time: the others wait, then find the stored response.
      // (On PostgreSQL any mix of replays and 409s is right, as checked above.)
      t.equal(replays.length, n - 1, 'on PGlite the others are replays');
    }

    const tokens = await list(org, '/v1/api-tokens');
    t.equal(tokens.length, 1, `exactly one token: ${JSON.stringify(tokens)}`);
  });
}

t.test('concurrent user creations with one key create one user', async (t) => {
  const org = await createTestOrg(app);
  const email = uniqueEmail('raced');
  const responses = await race(org, 20, '/v1/users', { email, name: 'Raced', role: 'finance' }, newKey('race-user'));
  for (const res of responses) {
    const ok = (res.statusCode === 201) || (res.statusCode === 409 && json(res).code === 'idempotency_key_in_flight');
    t.ok(ok, `201 (first or replay) or 409 in flight: ${res.statusCode} ${res.body}`);
  }
  t.equal(new Set(responses.filter((r) => r.statusCode === 201).map((r) => json(r).id)).size, 1, 'every 201 names the same user');
  t.equal((await list(org, '/v1/users')).filter((u) => u.email === email).length, 1, 'one user');
});
