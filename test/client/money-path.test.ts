/**
 * The money path driven as an integrator would drive it: a client generated from the served
 * OpenAPI document (openapi-typescript's types in schema.d.ts, openapi-fetch) against the real
 * server on a local port. Create a budget, record a session, approve it, draft and approve a
 * payout run, pay it, and pull the grant report in JSON and CSV.
 *
 * `tsc` checks this file against the generated types, and test/openapi.test.ts keeps those
 * types equal to what the document generates: a response whose shape differs from the
 * document breaks the build, not an integrator's script.
 */
import type { FastifyInstance } from 'fastify';
import createClient, { type Client } from 'openapi-fetch';
import t from 'tap';
import { buildTestApp, createTestOrg } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';
import type { paths } from './schema.js';

const app: FastifyInstance = await buildTestApp();
await app.listen({ host: '127.0.0.1', port: 0 });
t.teardown(async () => {
  await app.close();
  await (await testDatabase()).close();
});
const address = app.server.address();
const baseUrl = typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : '';

/** JSON bodies (the API's and its problem+json errors); the CSV is read as text where asked for. */
type Json = `application/${string}json`;

/** A generated client acting with one user's bearer token. */
const clientFor = (token: string): Client<paths, Json> => createClient<paths, Json>({ baseUrl, headers: { authorization: `Bearer ${token}` } });

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

/** The answer's data, or a failure that shows the problem document. */
function ok<T>(t: TapTest, label: string, result: { data?: T; error?: unknown; response: Response }): T {
  t.ok(result.data !== undefined, `${label}: ${result.response.status} ${result.error ? JSON.stringify(result.error) : ''}`);
  if (result.data === undefined) throw new Error(`${label} failed: ${JSON.stringify(result.error)}`);
  return result.data;
}

t.test('a generated client pays two people for a session and pulls the grant report', async (t) => {
  const org = await createTestOrg(app);
  const finance = clientFor(await org.tokenFor('finance'));
  const secondFinance = clientFor(await org.tokenFor('finance'));
  const coordinator = clientFor(await org.tokenFor('coordinator'));
  const reporter = clientFor(await org.tokenFor('reporter'));

  const project = ok(t, 'createProject', await coordinator.POST('/v1/projects', { body: { name: 'Peer support redesign' } }));
  const card = ok(t, 'createRateCard', await finance.POST('/v1/rate-cards', { body: { name: 'Involvement rates', currency: 'GBP' } }));
  const version = ok(
    t,
    'addRateCardVersion',
    await finance.POST('/v1/rate-cards/{id}/versions', {
      params: { path: { id: card.id } },
      body: {
        effectiveFrom: '2025-04-01',
        rates: [{ activity: 'workshop', contributorKind: 'lived_experience', unit: 'hour', amount: 2000, roundToMinutes: 15 }],
      },
    }),
  );
  t.equal(version.version, 1);

  const budget = ok(
    t,
    'createBudget',
    await finance.POST('/v1/budgets', {
      body: {
        projectId: project.id,
        name: 'Year one',
        funder: 'Community Fund',
        grantReference: 'CF-2025-001',
        currency: 'GBP',
        amount: 500_000,
        startsOn: '2025-04-01',
        endsOn: '2026-03-31',
        rateCardId: card.id,
      },
    }),
  );
  t.match(budget, { amount: 500_000, committed: 0, available: 500_000 });

  const people = [];
  for (const name of ['Sam Okafor', 'Jo Reyes']) {
    people.push(
      ok(t, 'createContributor', await coordinator.POST('/v1/contributors', { body: { name, kind: 'lived_experience', paymentMethod: 'bank_transfer' } })),
    );
  }

  const session = ok(
    t,
    'createSession',
    await coordinator.POST('/v1/sessions', {
      body: { budgetId: budget.id, activity: 'workshop', date: '2025-06-10', minutes: 80, attendees: people.map((p) => p.id) },
    }),
  );
  t.equal(session.entries.length, 2);
  for (const entry of session.entries) {
    // 80 minutes round up to 90 at £20.00 an hour: £30.00.
    t.match(entry, { status: 'submitted', quote: { amount: 3000, value: 3000, currency: 'GBP', rateCardVersion: 1 } });
    const approved = ok(t, 'approveTimeEntry', await finance.POST('/v1/time-entries/{id}/approve', { params: { path: { id: entry.id } } }));
    t.match(approved, { status: 'approved', amount: 3000 });
  }

  const draft = ok(t, 'createPayoutRun', await finance.POST('/v1/payout-runs', { body: { currency: 'GBP' } }));
  t.match(draft, { status: 'draft', total: 6000 });
  t.same(draft.items.map((i) => [i.amount, i.method, i.status]), [
    [3000, 'bank_transfer', 'pending'],
    [3000, 'bank_transfer', 'pending'],
  ]);

  // Four eyes: the person who drafted it cannot approve it; the problem is typed too.
  const own = await finance.POST('/v1/payout-runs/{id}/approve', { params: { path: { id: draft.id } } });
  t.equal(own.response.status, 403);
  t.equal(own.error?.code, 'four_eyes_required');
  t.equal(own.response.headers.get('content-type'), 'application/problem+json; charset=utf-8');

  const approved = ok(t, 'approvePayoutRun', await secondFinance.POST('/v1/payout-runs/{id}/approve', { params: { path: { id: draft.id } } }));
  t.equal(approved.status, 'approved');
  for (const item of approved.items) {
    const paid = ok(t, 'markPayoutItemPaid', await finance.POST('/v1/payouts/{id}/mark-paid', { params: { path: { id: item.id } }, body: { reference: `BACS-${item.id.slice(-6)}` } }));
    t.equal(paid.status, 'paid');
  }

  const run = ok(t, 'getPayoutRun', await finance.GET('/v1/payout-runs/{id}', { params: { path: { id: draft.id } } }));
  t.ok(run.items.every((i) => i.status === 'paid'), 'every item paid');

  const report = ok(t, 'getBudgetReport', await reporter.GET('/v1/reports/budgets/{id}', { params: { path: { id: budget.id } } }));
  t.match(report, { committed: 6000, paid: 6000, inTransit: 0, owed: 0, available: 494_000, livedExperienceShareOfMoney: 1 });
  t.equal(report.contributors.length, 2);
  for (const line of report.contributors) {
    t.match(line, { kind: 'lived_experience', minutes: 80, earned: 3000, paid: 3000 });
    t.notOk(people.some((p) => JSON.stringify(line).includes(p.name)), 'a reporter sees pseudonyms, never names');
  }

  const csv = await reporter.GET('/v1/reports/budgets/{id}', {
    params: { path: { id: budget.id } },
    headers: { accept: 'text/csv' },
    parseAs: 'text',
  });
  t.equal(csv.response.status, 200);
  t.match(csv.response.headers.get('content-type'), /^text\/csv/);
  t.type(csv.data, 'string');
  t.match(csv.data, /Community Fund/, 'the CSV names the funder');
  t.notMatch(csv.data, /Sam Okafor|Jo Reyes/, 'and no one by name');
});
