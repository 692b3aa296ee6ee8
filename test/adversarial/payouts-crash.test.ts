/**
 * Kills the real server (SIGKILL, in a child process) in the middle of paying a Stripe run and in
 * the middle of a burst of approvals, restarts it with the same environment, and checks that
 * nothing was paid twice, nothing that was acknowledged was lost, and the books balance. Then
 * stops it gracefully (SIGTERM) while Stripe has not answered a transfer.
 *
 * On PGlite the server keeps its data in a temporary PGLITE_DIR; with TEST_DATABASE_URL it uses
 * a fresh PostgreSQL database of its own (see isolatedPostgres).
 */
import t from 'tap';
import {
  WEBHOOK_SECRET,
  allPaid,
  expectStatus,
  onboardStripeContributor,
  parse,
  sleep,
  totalInTransit,
  transferRequestsOf,
  transfersOf,
  trialBalance,
  waitForRun,
} from '../helpers/payout-fixtures.js';
import { orgThroughCli, serverOfItsOwn } from '../helpers/server-process.js';
import { startStripeDouble } from '../../tools/stripe-double/index.js';

const double = await startStripeDouble();
// A clean environment (serverEnv): none of tap's NODE_OPTIONS or coverage hooks leak into the server.
const { server, env, send } = await serverOfItsOwn(t, 'payouts_crash', {
  STRIPE_SECRET_KEY: 'sk_test_x',
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  STRIPE_API_BASE: double.url,
  STRIPE_TIMEOUT_MS: '2000',
  STRIPE_MAX_RPS: '2',
});
const logTail = server.logTail;
t.teardown(() => double.close());

// ---------------------------------------------------------------------------------------------
// Seed through the CLI and HTTP, as an operator would.

const { organisationId, password, login } = await orgThroughCli(server, send, { name: 'Crash test organisation', adminEmail: 'admin@crash.test' });
await server.start();
const admin = await login('admin@crash.test');
async function user(role: string, label: string) {
  const email = `${label}@crash.test`;
  await expectStatus(send, { method: 'POST', url: '/v1/users', headers: admin, payload: { email, name: label, role, password } }, 201);
  return login(email);
}
const drafter = await user('finance', 'finance-drafter');
const approver = await user('finance', 'finance-approver');
const coordinator = await user('coordinator', 'coordinator');
const me = await expectStatus(send, { method: 'GET', url: '/v1/me', headers: approver }, 200);
if (me.organisationId !== organisationId) throw new Error(`logged in to the wrong organisation: ${JSON.stringify(me)}`);

const project = await expectStatus(send, { method: 'POST', url: '/v1/projects', headers: drafter, payload: { name: 'Crash-safe payments' } }, 201);
const card = await expectStatus(send, { method: 'POST', url: '/v1/rate-cards', headers: drafter, payload: { name: 'Involvement', currency: 'GBP' } }, 201);
await expectStatus(
  send,
  {
    method: 'POST',
    url: `/v1/rate-cards/${card.id}/versions`,
    headers: drafter,
    payload: { effectiveFrom: '2026-01-01', rates: [{ activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 2000 }] },
  },
  201,
);
async function newBudget(name: string) {
  return expectStatus(
    send,
    {
      method: 'POST',
      url: '/v1/budgets',
      headers: drafter,
      payload: {
        projectId: project.id,
        name,
        funder: 'Crash Trust',
        grantReference: `CT-${name}`,
        currency: 'GBP',
        amount: 10_000_000,
        startsOn: '2026-01-01',
        endsOn: '2026-12-31',
        rateCardId: card.id,
      },
    },
    201,
  );
}
async function contributor(name: string, paymentMethod: string) {
  return expectStatus(send, { method: 'POST', url: '/v1/contributors', headers: coordinator, payload: { name, kind: 'lived_experience', paymentMethod } }, 201);
}
async function submitTime(contributorId: string, budgetId: string, minutes: number) {
  return expectStatus(
    send,
    { method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId, budgetId, activity: 'meeting', date: '2026-03-02', minutes } },
    201,
  );
}

// ---------------------------------------------------------------------------------------------

t.test('a Stripe run survives a SIGKILL mid-payment: every item paid exactly once', async (t) => {
  const budget = await newBudget('payouts');
  const people: { id: string; amount: number }[] = [];
  for (let i = 1; i <= 8; i++) {
    const c = await contributor(`Payee ${i}`, 'stripe');
    const entry = await submitTime(c.id, budget.id, i * 60);
    await expectStatus(send, { method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator }, 200);
    await onboardStripeContributor(send, coordinator, double, c.id);
    people.push({ id: c.id, amount: i * 2000 });
  }
  const draft = await expectStatus(send, { method: 'POST', url: '/v1/payout-runs', headers: drafter, payload: { currency: 'GBP', budgetId: budget.id } }, 201);
  t.equal(draft.items.length, 8);
  t.equal(draft.total, 72_000);
  const approved = await expectStatus(send, { method: 'POST', url: `/v1/payout-runs/${draft.id}/approve`, headers: approver }, 200);
  t.equal(approved.status, 'approved');

  const itemIds = new Set<string>(approved.items.map((i: any) => i.id));
  const runTransfers = () => [...double.transfers.values()].filter((tr) => itemIds.has(tr.metadata.payout_item_id!));
  const deadline = Date.now() + 30_000;
  while (runTransfers().length === 0) {
    if (Date.now() > deadline) throw new Error(`no transfer reached Stripe within 30 s:\n${logTail()}`);
    await sleep(5);
  }
  await server.kill();
  const atKill = runTransfers().length;
  t.ok(atKill >= 1 && atKill < 8, `killed mid-run: ${atKill} of 8 transfers made`);

  await server.start();
  let settled: any;
  try {
    settled = await waitForRun(send, approver, draft.id, { timeoutMs: 20_000, done: allPaid });
  } catch (error) {
    t.fail(`after the restart, not every item was paid within 20 s: ${(error as Error).message}`);
    settled = await expectStatus(send, { method: 'GET', url: `/v1/payout-runs/${draft.id}`, headers: approver }, 200);
  }
  t.ok(allPaid(settled), 'every item paid');
  for (const item of settled.items) {
    const transfers = transfersOf(double, item.id);
    t.ok(transfers.length <= 1, `never more than one transfer for item ${item.id} (${transfers.length})`);
    if (item.status === 'paid') {
      t.equal(transfers.length, 1, `exactly one transfer for paid item ${item.id}`);
      t.equal(item.stripeTransferId, transfers[0]?.id);
      t.equal(transfers[0]?.amount, item.amount);
    } else {
      t.comment(`item ${item.id} is ${item.status} after ${item.attempts} attempt(s), ${transfers.length} transfer(s) in Stripe, lastError ${item.lastError}`);
    }
  }
  t.same(await trialBalance(send, approver), [{ currency: 'GBP', total: 0 }], 'trial balance 0');
  const unsettled = settled.items.filter((i: any) => i.status === 'processing').reduce((sum: number, i: any) => sum + i.amount, 0);
  t.equal(await totalInTransit(send, approver), unsettled, 'in transit is exactly what is still processing');
  t.equal(unsettled, 0, 'in transit 0');
  for (const person of people) {
    const balance = await expectStatus(send, { method: 'GET', url: `/v1/contributors/${person.id}/balance`, headers: approver }, 200);
    t.match(balance.balances[0], { owed: 0, inTransit: 0, paid: person.amount }, `contributor paid ${person.amount}`);
  }
});

t.test('approvals acknowledged before a SIGKILL are kept, and the ledger balances', async (t) => {
  if (!server.running) await server.start();
  const budget = await newBudget('approvals');
  const entries: { id: string; amount: number }[] = [];
  const people = [await contributor('Burst A', 'bank_transfer'), await contributor('Burst B', 'voucher'), await contributor('Burst C', 'bank_transfer')];
  for (let i = 0; i < 20; i++) {
    const entry = await submitTime(people[i % people.length].id, budget.id, 30 + 15 * i);
    entries.push({ id: entry.id, amount: entry.quote.amount });
  }

  // Fire all 20, and kill the server as soon as the first three have been acknowledged.
  let acknowledged = 0;
  let killing: Promise<void> | undefined;
  const approvals = entries.map((entry) =>
    send({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator }).then((res) => {
      if (res.statusCode === 200) acknowledged += 1;
      if (acknowledged >= 3) killing ??= server.kill();
      return res;
    }),
  );
  const outcomes = await Promise.allSettled(approvals);
  await killing;
  if (server.running) await server.kill(); // fewer than three were acknowledged: still kill before the checks
  const answerOf = (i: number) => (outcomes[i]!.status === 'fulfilled' ? (outcomes[i] as PromiseFulfilledResult<any>).value : undefined);
  const ok = entries.filter((_, i) => answerOf(i)?.statusCode === 200);
  // Under load a request may be turned away (503 while waiting for a connection): allowed, as
  // long as it changed nothing. A 4xx would mean the burst itself was mishandled.
  const refused = entries.map((entry, i) => ({ entry, answer: answerOf(i) })).filter((r) => r.answer && r.answer.statusCode !== 200);
  const lost = outcomes.filter((o) => o.status === 'rejected').length;
  t.comment(`${ok.length} approvals answered 200, ${refused.length} refused, ${lost} lost to the kill`);
  t.same(
    refused.filter((r) => r.answer.statusCode < 500).map((r) => `${r.answer.statusCode} ${r.answer.body}`),
    [],
    'no approval was refused with a 4xx',
  );
  t.ok(ok.length >= 3, 'the first few approvals were acknowledged before the kill');
  t.ok(killing, 'the server was killed mid-burst');

  await server.start();
  const listed = await expectStatus(send, { method: 'GET', url: `/v1/time-entries?budgetId=${budget.id}&limit=200`, headers: coordinator }, 200);
  const byId = new Map<string, any>(listed.data.map((e: any) => [e.id, e]));
  t.equal(byId.size, 20);
  for (const entry of ok) t.equal(byId.get(entry.id)?.status, 'approved', `acknowledged approval of ${entry.id} is kept`);
  for (const { entry, answer } of refused) t.equal(byId.get(entry.id)?.status, 'submitted', `refused approval (${answer.statusCode}) of ${entry.id} changed nothing`);
  for (const e of byId.values()) t.ok(e.status === 'approved' || e.status === 'submitted', `entry ${e.id} is ${e.status}`);
  const approved = [...byId.values()].filter((e) => e.status === 'approved');
  const sumApproved = approved.reduce((sum, e) => sum + e.amount, 0);
  const view = await expectStatus(send, { method: 'GET', url: `/v1/budgets/${budget.id}`, headers: drafter }, 200);
  t.equal(view.committed, sumApproved, 'budget committed = sum of approved entries');
  t.equal(view.available, 10_000_000 - sumApproved);
  t.same(await trialBalance(send, drafter), [{ currency: 'GBP', total: 0 }]);

  // Whatever was not approved before the kill can be approved now, exactly once.
  for (const e of byId.values()) {
    if (e.status !== 'submitted') continue;
    await expectStatus(send, { method: 'POST', url: `/v1/time-entries/${e.id}/approve`, headers: coordinator }, 200);
  }
  for (const entry of ok) {
    const again = await send({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator });
    t.equal(again.statusCode, 409, again.body);
    t.equal(parse(again).code, 'invalid_state');
  }
  const total = entries.reduce((sum, e) => sum + e.amount, 0);
  const final = await expectStatus(send, { method: 'GET', url: `/v1/budgets/${budget.id}`, headers: drafter }, 200);
  t.equal(final.committed, total, 'all 20 committed once');
  t.same(await trialBalance(send, drafter), [{ currency: 'GBP', total: 0 }]);
  let owed = 0;
  for (const p of people) {
    const balance = await expectStatus(send, { method: 'GET', url: `/v1/contributors/${p.id}/balance`, headers: drafter }, 200);
    owed += balance.balances[0].owed;
  }
  t.equal(owed, total, 'contributors are owed exactly what was approved');
});

t.test('a SIGTERM while Stripe has not answered closes cleanly, and the item is paid once after the restart', async (t) => {
  // Stripe is given longer than the whole shutdown grace (10 s) to answer, and answers after 25 s:
  // the payout job is still waiting when the server is told to stop. The job queue gives it 5 s,
  // fails it for a later retry and lets the database close, so the process exits 0 rather than
  // being cut off at the end of the grace.
  if (server.running) await server.kill();
  const timeoutBefore = env.STRIPE_TIMEOUT_MS!;
  env.STRIPE_TIMEOUT_MS = '30000';
  t.teardown(() => {
    env.STRIPE_TIMEOUT_MS = timeoutBefore;
  });
  await server.start();
  const budget = await newBudget('graceful');
  const payee = await contributor('Slow Stripe payee', 'stripe');
  const entry = await submitTime(payee.id, budget.id, 90);
  await expectStatus(send, { method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator }, 200);
  await onboardStripeContributor(send, coordinator, double, payee.id);
  const draft = await expectStatus(send, { method: 'POST', url: '/v1/payout-runs', headers: drafter, payload: { currency: 'GBP', contributorIds: [payee.id] } }, 201);
  t.equal(draft.items.length, 1);
  const [item] = draft.items;
  double.faults.enqueue({ kind: 'delay', ms: 25_000, match: 'POST /v1/transfers' });
  await expectStatus(send, { method: 'POST', url: `/v1/payout-runs/${draft.id}/approve`, headers: approver }, 200);
  const deadline = Date.now() + 30_000;
  while (transfersOf(double, item.id).length === 0) {
    if (Date.now() > deadline) throw new Error(`the transfer did not reach Stripe within 30 s:\n${logTail()}`);
    await sleep(5);
  }

  const delayed = transferRequestsOf(double, [item.id]);
  t.same(delayed.map((r) => r.fault), ['delay'], "the item's transfer is the request Stripe is slow to answer");
  const exit = await server.terminate();
  t.same(exit, { code: 0, signal: null }, `closed cleanly within the grace:\n${logTail()}`);
  double.faults.clear();
  env.STRIPE_TIMEOUT_MS = timeoutBefore;

  await server.start();
  const settled = await waitForRun(send, approver, draft.id, { timeoutMs: 30_000, done: allPaid });
  t.equal(settled.items[0].status, 'paid');
  const transfers = transfersOf(double, item.id);
  t.equal(transfers.length, 1, 'one transfer: the restart found the one Stripe made');
  t.equal(settled.items[0].stripeTransferId, transfers[0]?.id);
  t.same(await trialBalance(send, approver), [{ currency: 'GBP', total: 0 }]);
  const balance = await expectStatus(send, { method: 'GET', url: `/v1/contributors/${payee.id}/balance`, headers: approver }, 200);
  t.match(balance.balances[0], { owed: 0, inTransit: 0, paid: 3000 });
});
