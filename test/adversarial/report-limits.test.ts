/**
 * Reports are the heaviest reads. Found in review: one reporter token in a loop could hold the
 * connection pool, and a range of centuries made the totals walk every period in it. Reports
 * are rate-limited per token (429 rate_limited with Retry-After) and ranges are at most ten
 * years (400 validation_failed), as docs/api-guide.md says ("Reports: limits and CSV").
 */
import t from 'tap';
import { appForThisFile, createTestOrg, json } from '../helpers/app.js';

const app = await appForThisFile(t, { env: { REPORT_RATE_LIMIT: '3' } });

t.test('each token gets REPORT_RATE_LIMIT report requests a minute; another token is not held up', async (t) => {
  const org = await createTestOrg(app);
  const reporter = await org.as('reporter');
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'GET', url: '/v1/reports/distribution', headers: reporter });
    t.equal(res.statusCode, 200, res.body);
  }
  const limited = await app.inject({ method: 'GET', url: '/v1/reports/time-to-pay', headers: reporter });
  t.equal(limited.statusCode, 429, limited.body);
  t.equal(json(limited).code, 'rate_limited');
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After says when to come back');
  const other = await app.inject({ method: 'GET', url: '/v1/reports/distribution', headers: await org.as('reporter') });
  t.equal(other.statusCode, 200, 'a second token has its own allowance');
  const notAReport = await app.inject({ method: 'GET', url: '/v1/me', headers: reporter });
  t.equal(notAReport.statusCode, 200, 'other routes are not limited by it');
});

t.test('a report range is at most ten years', async (t) => {
  const org = await createTestOrg(app);
  const tooLong = await app.inject({ method: 'GET', url: '/v1/reports/distribution?from=1900-01-01&to=2026-12-31', headers: await org.as('reporter') });
  t.equal(tooLong.statusCode, 400, tooLong.body);
  t.equal(json(tooLong).code, 'validation_failed');
  t.match(json(tooLong).errors, [{ field: 'querystring.to', message: /less than 10 years after from/ }]);
  const justUnder = await app.inject({ method: 'GET', url: '/v1/reports/distribution?from=2016-03-01&to=2026-02-28', headers: await org.as('reporter') });
  t.equal(justUnder.statusCode, 200, justUnder.body);
});

t.test('Stripe reconciliation counts against the same allowance: it reads many Stripe pages', async (t) => {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  for (let i = 0; i < 3; i++) await app.inject({ method: 'GET', url: '/v1/reports/time-to-pay', headers: finance });
  const limited = await app.inject({ method: 'GET', url: '/v1/payouts/reconciliation', headers: finance });
  t.equal(limited.statusCode, 429, limited.body);
  t.equal(json(limited).code, 'rate_limited');
  t.ok(Number(limited.headers['retry-after']) > 0);
});
