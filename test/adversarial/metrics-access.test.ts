/**
 * /metrics shows every route's request counts and timings: not for the public (docs/operations.md: behind
 * METRICS_TOKEN, and off without it). Found in review: /metrics answered anyone.
 */
import t from 'tap';
import { appForThisFile, buildTestApp, createTestOrg } from '../helpers/app.js';

const token = 'a-long-random-metrics-token-0123456789';
const app = await appForThisFile(t, { env: { METRICS_TOKEN: token } });

t.test('with METRICS_TOKEN, only a request bearing it reads the metrics', async (t) => {
  const org = await createTestOrg(app);
  const tries: [string, Record<string, string>][] = [
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer not-the-metrics-token-at-all' }],
    ['the token without Bearer', { authorization: token }],
    ['an admin JWT', await org.as('admin')],
    ['the token as a query string', {}],
  ];
  for (const [what, headers] of tries) {
    const url = what === 'the token as a query string' ? `/metrics?token=${token}` : '/metrics';
    const res = await app.inject({ method: 'GET', url, headers });
    t.equal(res.statusCode, 401, `${what}: ${res.body.slice(0, 200)}`);
    t.notMatch(res.body, /http_request_duration_seconds/, `${what}: no metrics leak`);
  }
  const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });
  t.equal(ok.statusCode, 200);
  t.match(ok.body, /http_request_duration_seconds/);
});

t.test('without METRICS_TOKEN, /metrics is off', async (t) => {
  const plain = await buildTestApp();
  t.teardown(() => plain.close());
  const res = await plain.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 404, res.body.slice(0, 200));
});

t.test('a METRICS_TOKEN too short to be a secret is refused at start', async (t) => {
  await t.rejects(buildTestApp({ env: { METRICS_TOKEN: 'short' } }), /METRICS_TOKEN/);
});
