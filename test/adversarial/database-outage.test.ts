/**
 * Adversarial case 4: PostgreSQL stopped and started under load. Requests fail cleanly (503
 * problem+json `service_unavailable` with Retry-After, never a 500 or a hang), /readyz says so
 * while /healthz stays up, and the same app instance recovers by itself once the database is
 * back: no restart. Every request that failed is then retried with its Idempotency-Key, and
 * each write must have taken effect exactly once, with the ledger balanced and nothing
 * half-done.
 *
 * The database is a private, throwaway cluster (helpers/postgres-cluster.ts) so stopping it
 * harms nobody; it runs whether or not TEST_DATABASE_URL is set. Two outages hit the one app:
 * a clean `pg_ctl -m fast` stop, then a crash-like `-m immediate` stop (crash recovery on start).
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { sql } from 'drizzle-orm';
import t, { type Test } from 'tap';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/client.js';
import { TEST_JWT_SECRET, createTestOrg, json, type TestOrg } from '../helpers/app.js';
import { created, fundedBudget } from '../helpers/fixtures.js';
import { ledgerInvariants } from '../helpers/invariants.js';
import { startPostgresCluster, type PostgresCluster } from './helpers/postgres-cluster.js';

/** A request not answered within this long counts as a hang (above the pool's 15 s connection wait). */
const HANG_BOUND_MS = 20_000;
/** How long the service may take to become ready again once PostgreSQL accepts connections. */
const RECOVERY_BOUND_MS = 30_000;
const WORKERS = 12;
const POOL_SIZE = 10;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Where the database is in the case: each answer is classified by it. */
type Phase = 'up' | 'stopping' | 'down' | 'starting' | 'recovering' | 'recovered' | 'retrying';
let phase: Phase = 'up';

// ---------------------------------------------------------------------------------------------
// An uncaught exception (an 'error' event nobody listens to, say) takes the real server down:
// server.ts closes on it and exits, so the service would not recover by itself. While an
// outage runs, they are recorded instead, so the case fails saying what they were and the rest
// of the checks still run. Outside that window Node's default (a crash, a failed file) stands.
const uncaught: { phase: string; origin: string; error: unknown }[] = [];
const recordUncaught = (error: Error, origin: string) => void uncaught.push({ phase, origin, error });
const describeUncaught = () =>
  uncaught.map((u) => {
    const e = u.error as { code?: string; stack?: string } | undefined;
    return `[${u.phase}] ${u.origin} ${e?.code ?? ''}: ${(e?.stack ?? String(u.error)).split('\n').slice(0, 6).join(' | ')}`;
  });

const cluster: PostgresCluster = await startPostgresCluster('ledger-outage');
let database: Database | undefined;
let app: FastifyInstance | undefined;
let loadRunning = false;
t.teardown(async () => {
  loadRunning = false;
  const bounded = async (p: Promise<unknown>, ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([p.catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  };
  if (app) await bounded(app.close(), 10_000);
  // pool.end() waits for checked-out clients: bounded, so a leaked client cannot hang teardown.
  if (database) await bounded(database.close(), 5_000);
  await cluster.destroy();
});

database = await openDatabase({ kind: 'postgres', url: cluster.url, poolSize: POOL_SIZE });
await database.migrate();
const config = loadConfig({ DATABASE_URL: cluster.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', LOGIN_RATE_LIMIT: '1000' });
app = await buildApp({ config, database, jwtSecret: TEST_JWT_SECRET, jobs: false, stripe: null });
await app.ready();
const theApp: FastifyInstance = app;
const pool = database.pool!;

// ---------------------------------------------------------------------------------------------
// Requests, with a client-side bound and a record of the database's state when each was sent
// and answered.

interface Attempt {
  sentIn: Phase;
  answeredIn: Phase;
  /** 'hang' when not answered within HANG_BOUND_MS; 'threw' when inject itself rejected. */
  status: number | 'hang' | 'threw';
  body: string;
  contentType: string;
  retryAfter: string | undefined;
  replayed: boolean;
}

interface Op {
  name: string;
  kind: 'submit' | 'approve' | 'read';
  request: InjectOptions;
  /** For approvals: the entry approved. */
  entryId?: string;
  attempts: Attempt[];
}

const stillRunning = new Set<Promise<unknown>>();

async function send(request: InjectOptions): Promise<{ attempt: Attempt; response?: LightMyRequestResponse }> {
  const sentIn = phase;
  const pending = theApp.inject(request);
  stillRunning.add(pending);
  void pending.then(
    () => stillRunning.delete(pending),
    () => stillRunning.delete(pending),
  );
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    pending.then(
      (response) => ({ response }),
      (error: unknown) => ({ error }),
    ),
    new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), HANG_BOUND_MS))),
  ]);
  clearTimeout(timer);
  const base = { sentIn, answeredIn: phase, contentType: '', retryAfter: undefined, replayed: false };
  if (outcome === 'hang') return { attempt: { ...base, status: 'hang', body: `no answer within ${HANG_BOUND_MS} ms` } };
  if ('error' in outcome) return { attempt: { ...base, status: 'threw', body: String(outcome.error) } };
  const r = outcome.response;
  const header = (name: string) => {
    const v = r.headers[name];
    return v === undefined ? undefined : String(v);
  };
  return {
    response: r,
    attempt: {
      ...base,
      status: r.statusCode,
      body: r.body,
      contentType: header('content-type') ?? '',
      retryAfter: header('retry-after'),
      replayed: header('idempotent-replayed') === 'true',
    },
  };
}

async function attempt(op: Op): Promise<Attempt> {
  const { attempt } = await send(op.request);
  op.attempts.push(attempt);
  return attempt;
}

const is2xx = (a: Attempt) => typeof a.status === 'number' && a.status >= 200 && a.status < 300;
const describe = (op: Op, a: Attempt) => `${op.name} [${a.sentIn}→${a.answeredIn}] ${a.status} ${a.body.slice(0, 300)}`;

/** What a 503 must not tell a client: the driver's messages, the database's address. */
const INTERNALS = /terminat|ECONN|EPIPE|57P0|Connection|pg_|postgres:\/\/|127\.0\.0\.1|drizzle|\bselect\b|\binsert\b/i;

/** A 503 as the service promises it: problem+json, code service_unavailable, a Retry-After, no internals. */
function cleanUnavailable(a: Attempt): boolean {
  if (a.status !== 503) return false;
  if (!/^application\/problem\+json/.test(a.contentType)) return false;
  if (!a.retryAfter || !/^\d+$/.test(a.retryAfter)) return false;
  if (INTERNALS.test(a.body)) return false;
  try {
    const body = JSON.parse(a.body) as { code?: string; status?: number };
    return body.code === 'service_unavailable' && body.status === 503;
  } catch {
    return false;
  }
}

async function until<T>(what: string, check: () => Promise<T | undefined>, boundMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${boundMs} ms\n--- PostgreSQL log tail:\n${cluster.logTail()}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// One outage under load.

interface Workload {
  org: TestOrg;
  budgetId: string;
  ops: Op[];
  /** Submitted entries no approval has been sent for yet. */
  approvable: string[];
  submitter: Record<string, string>;
  approver: Record<string, string>;
  contributorIds: string[];
}

async function seed(label: string): Promise<Workload> {
  const org = await createTestOrg(theApp, `Outage ${label}`);
  // Room for every entry the load can make: approvals are never refused for budget.
  const { budgetId } = await fundedBudget(theApp, org, { amount: 500_000_000 });
  const submitter = await org.as('coordinator');
  const approver = await org.as('coordinator');
  const contributorIds: string[] = [];
  for (let i = 0; i < 8; i++) {
    const payload = { name: `Outage ${label} ${i}`, kind: i % 2 ? 'carer' : 'lived_experience', paymentMethod: 'bank_transfer' };
    contributorIds.push((await created(theApp, submitter, '/v1/contributors', payload)).id);
  }
  const approvable: string[] = [];
  for (let i = 0; i < 40; i++) {
    const payload = { contributorId: contributorIds[i % 8], budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60, note: `seed:${label}:${i}` };
    approvable.push((await created(theApp, submitter, '/v1/time-entries', payload)).id);
  }
  return { org, budgetId, ops: [], approvable, submitter, approver, contributorIds };
}

async function outageUnderLoad(t: Test, mode: 'fast' | 'immediate') {
  phase = 'up';
  const w = await seed(mode);
  let counter = 0;
  const newSubmit = (tag: string): Op => {
    const key = `outage-${mode}-${tag}-${++counter}`;
    return {
      name: key,
      kind: 'submit',
      request: {
        method: 'POST',
        url: '/v1/time-entries',
        headers: { ...w.submitter, 'idempotency-key': key },
        // A quarter of an hour each, so however many the load gets through, no contributor's day
        // passes 1,440 minutes (a refusal that no retry could turn into a success).
        payload: { contributorId: w.contributorIds[counter % 8], budgetId: w.budgetId, activity: 'meeting', date: '2026-03-02', minutes: 15, note: `load:${key}` },
      },
      attempts: [],
    };
  };
  const newApprove = (entryId: string): Op => ({
    name: `approve-${entryId}`,
    kind: 'approve',
    entryId,
    request: { method: 'POST', url: `/v1/time-entries/${entryId}/approve`, headers: { ...w.approver, 'idempotency-key': `approve-${entryId}` } },
    attempts: [],
  });
  const newRead = (): Op => ({
    name: `read-${++counter}`,
    kind: 'read',
    request: { method: 'GET', url: `/v1/contributors/${w.contributorIds[counter % 8]}/balance`, headers: w.approver },
    attempts: [],
  });

  const writesOk: Record<Phase, number> = { up: 0, stopping: 0, down: 0, starting: 0, recovering: 0, recovered: 0, retrying: 0 };
  const answeredDown = () => w.ops.reduce((n, op) => n + op.attempts.filter((a) => a.sentIn === 'down' && a.answeredIn === 'down').length, 0);

  // The load: time-entry submissions and approvals (each with its own Idempotency-Key) and
  // balance reads, from WORKERS concurrent clients, each with at most one request in flight.
  // Clients out of the pool with nothing running: 0 unless an earlier outage leaked one.
  const outBefore = pool.totalCount - pool.idleCount;
  loadRunning = true;
  const worker = async (n: number) => {
    for (let i = n; loadRunning; i++) {
      const choice = i % 5;
      const op = choice === 4 ? newRead() : choice >= 2 && w.approvable.length ? newApprove(w.approvable.shift()!) : newSubmit('load');
      w.ops.push(op);
      const a = await attempt(op);
      if (is2xx(a)) {
        if (op.kind !== 'read') writesOk[a.answeredIn]++;
        if (op.kind === 'submit') w.approvable.push(JSON.parse(a.body).id);
      }
      // A client backs off a little after a failure (not the full Retry-After: keep the pressure on).
      await sleep(is2xx(a) ? 2 : 25);
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, n) => worker(n));

  try {
    await until('40 writes succeed before the outage', async () => (writesOk.up >= 40 ? true : undefined), 20_000, 20);

    // Stop PostgreSQL while the load runs.
    phase = 'stopping';
    await cluster.stop(mode);
    phase = 'down';
    t.comment(`${mode} stop: ${writesOk.up} writes succeeded before it, ${writesOk.stopping} while it ran`);

    // The load keeps coming during the outage.
    await until('requests answered during the outage', async () => (answeredDown() >= 3 * WORKERS ? true : undefined), 20_000, 20);

    // Probes during the outage: /readyz says so, /healthz stays up, a write and a read fail cleanly.
    const readyz = await send({ method: 'GET', url: '/readyz' });
    t.equal(readyz.attempt.status, 503, `/readyz is 503 while PostgreSQL is down: ${readyz.attempt.body}`);
    t.match(readyz.attempt.contentType, /^application\/problem\+json/, '/readyz answers problem+json');
    t.equal(readyz.response && json(readyz.response).code, 'service_unavailable', '/readyz says service_unavailable');
    const healthz = await send({ method: 'GET', url: '/healthz' });
    t.equal(healthz.attempt.status, 200, `/healthz stays 200: the process is up (${healthz.attempt.body})`);
    t.same(healthz.response && json(healthz.response), { status: 'ok' });
    const downWrite = newSubmit('probe');
    w.ops.push(downWrite);
    const downWriteAttempt = await attempt(downWrite);
    t.ok(cleanUnavailable(downWriteAttempt), `a write during the outage is a clean 503: ${describe(downWrite, downWriteAttempt)}`);
    const downRead = newRead();
    w.ops.push(downRead);
    const downReadAttempt = await attempt(downRead);
    t.ok(cleanUnavailable(downReadAttempt), `a read during the outage is a clean 503: ${describe(downRead, downReadAttempt)}`);

    // Start PostgreSQL again; the same app instance must notice by itself.
    phase = 'starting';
    await cluster.start();
    phase = 'recovering';
    const readyStatuses: (number | string)[] = [];
    await until(
      '/readyz is 200 again after PostgreSQL restarted (the app was not restarted)',
      async () => {
        const r = await send({ method: 'GET', url: '/readyz' });
        readyStatuses.push(r.attempt.status);
        return r.attempt.status === 200 ? true : undefined;
      },
      RECOVERY_BOUND_MS,
    );
    t.ok(readyStatuses.every((s) => s === 200 || s === 503), `/readyz only ever 200 or 503 while recovering: ${readyStatuses.join(',')}`);
    // A write succeeds: retried with its one Idempotency-Key until it does.
    const recoveryWrite = newSubmit('recovery');
    w.ops.push(recoveryWrite);
    await until(
      'a write succeeds again after PostgreSQL restarted',
      async () => {
        const a = await attempt(recoveryWrite);
        return is2xx(a) ? true : undefined;
      },
      RECOVERY_BOUND_MS,
    );
    phase = 'recovered';
    await until('40 writes succeed under load after recovery', async () => (writesOk.recovered >= 40 ? true : undefined), 20_000, 20);
  } finally {
    loadRunning = false;
    await Promise.all(workers);
  }

  // ----- What the clients saw during the load.
  const all = w.ops.flatMap((op) => op.attempts.map((a) => ({ op, a })));
  const bad = all.filter(({ a }) => !is2xx(a) && !cleanUnavailable(a));
  t.same(
    bad.slice(0, 10).map(({ op, a }) => describe(op, a)),
    [],
    `every answer is a 2xx or a clean 503 (problem+json service_unavailable, Retry-After, no internals): never a 500, another error or a hang (${bad.length} of ${all.length} were not)`,
  );
  t.notOk(all.some(({ a }) => a.status === 'hang'), `no request went unanswered for ${HANG_BOUND_MS} ms`);
  const duringOutage = all.filter(({ a }) => a.sentIn === 'down' && a.answeredIn === 'down');
  t.ok(duringOutage.length >= 3 * WORKERS, `the load ran during the outage (${duringOutage.length} answers)`);
  t.ok(
    duringOutage.every(({ a }) => a.status === 503),
    `every request sent and answered while PostgreSQL was down is a 503: ${[...new Set(duringOutage.map(({ a }) => a.status))]}`,
  );
  const failedLoad = all.filter(({ a }) => a.status === 503).length;
  t.comment(
    `${mode}: ${all.length} answers, ${failedLoad} × 503; writes ok up ${writesOk.up}, stopping ${writesOk.stopping}, ` +
      `starting/recovering ${writesOk.starting + writesOk.recovering}, recovered ${writesOk.recovered}`,
  );

  // ----- Retry every write that failed, with the same Idempotency-Key and body.
  phase = 'retrying';
  const writes = w.ops.filter((op) => op.kind === 'submit' || op.kind === 'approve');
  const toRetry = writes.filter((op) => !op.attempts.some(is2xx));
  let replayedAfterFailure = 0;
  const queue = [...toRetry];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let op = queue.shift(); op; op = queue.shift()) {
        for (let n = 0; n < 20; n++) {
          const a = await attempt(op);
          if (is2xx(a)) {
            if (a.replayed) replayedAfterFailure++;
            break;
          }
          // Only "still in flight" or a transient 503 justify another go.
          if (a.status !== 409 && a.status !== 503) break;
          await sleep(100);
        }
      }
    }),
  );
  const unfinished = writes.filter((op) => !op.attempts.some(is2xx));
  t.same(
    unfinished.slice(0, 10).map((op) => describe(op, op.attempts.at(-1)!)),
    [],
    `every failed write succeeds when retried with its Idempotency-Key (${toRetry.length} retried, ${unfinished.length} did not succeed)`,
  );
  t.comment(`${mode}: ${toRetry.length} writes retried; ${replayedAfterFailure} of them had committed although the client saw a 503 (replayed)`);

  // Each write's 2xx answers agree with each other.
  const disagreeing = writes.filter((op) => new Set(op.attempts.filter(is2xx).map((a) => JSON.parse(a.body).id as string)).size > 1);
  t.same(disagreeing.map((op) => op.name), [], 'every 2xx for one Idempotency-Key names the same entry');

  await checkExactlyOnce(t, w, writes, outBefore);
}

// ---------------------------------------------------------------------------------------------
// The database after the case: each acknowledged write took effect exactly once, the ledger
// balances, and nothing is half-done.

async function rows<T = Record<string, unknown>>(query: ReturnType<typeof sql>): Promise<T[]> {
  return ((await theApp.db.execute(query)) as unknown as { rows: T[] }).rows;
}

async function checkExactlyOnce(t: Test, w: Workload, writes: Op[], outBefore: number) {
  const org = w.org.organisationId;
  const submits = writes.filter((op) => op.kind === 'submit');
  const approvals = writes.filter((op) => op.kind === 'approve');

  // Submissions: one entry per key, and it is the entry every 2xx named.
  const entries = await rows<{ note: string; ids: string[] }>(sql`
    select note, array_agg(id::text) as ids from time_entries
     where organisation_id = ${org} and note like 'load:%' group by note`);
  const byNote = new Map(entries.map((e) => [e.note, e.ids]));
  const wrongCount = submits.filter((op) => (byNote.get(`load:${op.name}`) ?? []).length !== 1);
  t.same(
    wrongCount.slice(0, 10).map((op) => `${op.name}: ${byNote.get(`load:${op.name}`)?.length ?? 0} entries`),
    [],
    `each of ${submits.length} submissions made exactly one time entry`,
  );
  t.equal(entries.length, submits.length, 'no time entry that no submission asked for');
  const mismatched = submits.filter((op) => {
    const ok = op.attempts.find(is2xx);
    return ok && byNote.get(`load:${op.name}`)?.[0] !== JSON.parse(ok.body).id;
  });
  t.same(mismatched.map((op) => op.name), [], 'the entry stored is the one the 2xx answer named');

  // Approvals: each approved once, with one ledger transaction and one audit event; nothing
  // else approved.
  const approved = await rows<{ id: string; status: string; ledger_transaction_id: string | null; amount: string; txs: string; audits: string }>(sql`
    select e.id::text, e.status, e.ledger_transaction_id::text, e.amount::text,
           (select count(*) from ledger_transactions l
             where l.organisation_id = e.organisation_id and l.reference_type = 'time_entry' and l.reference_id = e.id::text)::text as txs,
           (select count(*) from audit_events a
             where a.organisation_id = e.organisation_id and a.entity_type = 'time_entry' and a.entity_id = e.id::text
               and a.action = 'time_entry.approved')::text as audits
      from time_entries e where e.organisation_id = ${org} and (e.status <> 'submitted' or e.ledger_transaction_id is not null)`);
  const approvedIds = new Set(approved.map((e) => e.id));
  const targeted = new Set(approvals.map((op) => op.entryId!));
  t.same(
    approvals.filter((op) => !approvedIds.has(op.entryId!)).map((op) => op.name),
    [],
    `each of ${approvals.length} approvals took effect`,
  );
  t.same(approved.filter((e) => !targeted.has(e.id)).map((e) => e.id), [], 'no entry approved that no approval asked for');
  t.same(
    approved
      .filter((e) => e.status !== 'approved' || !e.ledger_transaction_id || e.txs !== '1' || e.audits !== '1')
      .map((e) => `${e.id}: ${e.status}, ledger tx ${e.ledger_transaction_id}, ${e.txs} ledger transactions, ${e.audits} audit events`),
    [],
    'each approved entry has exactly one ledger transaction and one approval audit event',
  );
  const submittedAudits = await rows<{ n: string }>(sql`
    select count(*)::text as n from (
      select entity_id from audit_events where organisation_id = ${org} and action = 'time_entry.submitted'
       group by entity_id having count(*) <> 1) x`);
  t.equal(submittedAudits[0]?.n, '0', 'each entry has exactly one submission audit event');

  // The budget committed exactly the approved amounts.
  const approvedTotal = approved.reduce((sum, e) => sum + Number(e.amount), 0);
  const budget = await theApp.inject({ method: 'GET', url: `/v1/budgets/${w.budgetId}`, headers: await w.org.as('finance') });
  t.equal(budget.statusCode, 200, budget.body);
  t.equal(json(budget).committed, approvedTotal, `the budget committed exactly the approved time (${approved.length} entries)`);

  // Every idempotency record is of a 2xx: no failure was remembered as the answer.
  const keys = await rows<{ key: string; response_status: number }>(sql`
    select key, response_status from idempotency_keys where organisation_id = ${org}`);
  const writeKeys = new Set(writes.map((op) => String((op.request.headers as Record<string, string>)['idempotency-key'])));
  t.same(keys.filter((k) => k.response_status < 200 || k.response_status >= 300).map((k) => `${k.key}: ${k.response_status}`), [], 'only 2xx responses are stored for replay');
  t.equal(keys.filter((k) => writeKeys.has(k.key)).length, writes.length, 'every write has its stored response');

  // The ledger's invariants.
  const r = await ledgerInvariants(theApp.db, org);
  t.same(r.unbalancedTransactions, [], 'every transaction balances per currency');
  t.ok(r.trialBalance.length > 0 && r.trialBalance.every((b) => b.total === '0'), `trial balance is zero: ${JSON.stringify(r.trialBalance)}`);
  t.same(r.staleBalances, [], 'every cached balance equals the sum of its postings');
  t.same(r.negativeBalances, [], 'no account that may not go negative is below zero');
  const orphans = await rows(sql`
    select l.id from ledger_transactions l
     where l.organisation_id = ${org}
       and (select count(*) from ledger_postings p where p.organisation_id = l.organisation_id and p.transaction_id = l.id) < 2`);
  t.same(orphans, [], 'no ledger transaction without its postings');

  // Nothing half-done in the database or the pool: no open transaction, no lock, no client out.
  const openTx = await rows(sql`
    select pid, state, query from pg_stat_activity
     where datname = current_database() and pid <> pg_backend_pid() and state like 'idle in transaction%'`);
  t.same(openTx, [], 'no session left idle in a transaction');
  const advisory = await rows(sql`select pid, objid from pg_locks where locktype = 'advisory'`);
  t.same(advisory, [], 'no advisory (Idempotency-Key) lock left held');
  // A client that never comes back is a pool slot lost for the life of the process: enough
  // outages and every request waits out the connection timeout, a 503 for ever.
  t.equal(
    pool.totalCount - pool.idleCount - outBefore,
    0,
    `no pool client leaked by this outage (total ${pool.totalCount}, idle ${pool.idleCount}, out before it ${outBefore}, of ${POOL_SIZE})`,
  );
  t.equal(pool.waitingCount, 0, 'nobody waiting for a pool client');
  // The pool still serves its full width at once.
  const burst = await Promise.all(
    Array.from({ length: POOL_SIZE * 2 }, () => send({ method: 'GET', url: `/v1/budgets/${w.budgetId}`, headers: w.approver })),
  );
  t.same(
    burst.filter((b) => b.attempt.status !== 200).map((b) => `${b.attempt.status} ${b.attempt.body.slice(0, 200)}`),
    [],
    `${POOL_SIZE * 2} concurrent reads all succeed after the outage`,
  );
}

// ---------------------------------------------------------------------------------------------

/** Runs one outage, recording uncaught exceptions meanwhile, and asserts there were none. */
async function outageCase(t: Test, mode: 'fast' | 'immediate') {
  uncaught.length = 0;
  process.on('uncaughtException', recordUncaught);
  try {
    await outageUnderLoad(t, mode);
  } finally {
    process.removeListener('uncaughtException', recordUncaught);
  }
  t.same(
    describeUncaught(),
    [],
    'no uncaught exception: in the real server one is fatal (server.ts closes and exits), so it would not recover without a restart',
  );
}

t.test('PostgreSQL stopped (fast) and started under load: clean 503s, /readyz follows, recovery without restart, exactly once', (t) =>
  outageCase(t, 'fast'),
);

t.test('PostgreSQL killed (immediate, crash recovery) and started under load, on the same app instance', (t) => outageCase(t, 'immediate'));

t.test('after both outages the same app instance is ready, and its pool closes cleanly', async (t) => {
  const readyz = await theApp.inject({ method: 'GET', url: '/readyz' });
  t.equal(readyz.statusCode, 200, readyz.body);
  t.same(json(readyz), { status: 'ready', database: 'postgres' });
  t.equal(stillRunning.size, 0, 'no request still running');
  // Closing waits for every pool client to come back: a leaked one would keep it waiting.
  await theApp.close();
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    pool.end().then(() => 'closed'),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still waiting'), 5_000))),
  ]);
  clearTimeout(timer);
  t.equal(closed, 'closed', `the pool closes within 5 s (total ${pool.totalCount}, idle ${pool.idleCount})`);
});
