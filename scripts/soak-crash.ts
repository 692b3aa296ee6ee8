/**
 * Crash soak (issue #17 point 5): `npm run soak:crash -- --cycles 100 [--seed S] [--database postgres|pglite]`.
 *
 * Runs the real server as a child process (`node --import tsx src/server.ts`, through the crash
 * tests' test/helpers/server-process.ts) against a fresh database and the Stripe test double
 * (tools/stripe-double, kept running across cycles: it is Stripe), and in every cycle:
 *
 * 1. drives load over HTTP, every write with an Idempotency-Key: either approvals (coordinators
 *    recording and approving time, three at a time) or payouts (drafting a run, a second finance
 *    user approving it, marking its bank-transfer items paid while the job queue pays its Stripe
 *    items; some transfers are answered late by Stripe, so kills land between Stripe making a
 *    transfer and the service recording it), while a finance reader pages the ledger;
 * 2. SIGKILLs the server after a random delay;
 * 3. with the server dead, opens the database itself (src/db/client.ts) and checks every ledger
 *    invariant (test/helpers/invariants.ts), that no ledger transaction or posting seen before
 *    (by the reader over HTTP, or at an earlier check) changed, that every write acknowledged
 *    (2xx) so far is there in the state it was acknowledged in or later, that each contributor's
 *    owed, in-transit and paid money matches their approved work and payout items, and that no
 *    payout item has more than one Stripe transfer;
 * 4. restarts the server, retries every write that was not acknowledged with its own key (each
 *    must now succeed, replayed if it had committed), approves any run left in draft, marks bank
 *    items paid, waits until the queue has paid every Stripe item in transit, and checks over HTTP
 *    the writes acknowledged since the last restart (read back, and replayed by key), the trial
 *    balance, and that every Stripe item paid has exactly one transfer and no transfer is unknown.
 *
 * One line per cycle, a summary at the end; the first violation stops the soak with its details,
 * the seed to reproduce it, and the database and server log kept for a look.
 *
 * The seed fixes every random choice (the phase, the kill delay, the load, Stripe's slow answers);
 * where a kill lands in the work still depends on timing, so a rerun hits nearby points, not the
 * same instruction.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database } from '../src/db/client.js';
import { ledgerInvariants } from '../test/helpers/invariants.js';
import { runAsAdmin } from '../test/helpers/database.js';
import { onboardStripeContributor, sleep, WEBHOOK_SECRET, type Send } from '../test/helpers/payout-fixtures.js';
import { freePort } from '../test/adversarial/helpers/postgres-cluster.js';
import { serverEnv, serverProcess } from '../test/helpers/server-process.js';
import { startStripeDouble, type StripeDouble } from '../tools/stripe-double/index.js';

// ---------------------------------------------------------------------------------------------
// Arguments

const { values: args } = parseArgs({
  options: {
    cycles: { type: 'string', default: '100' },
    seed: { type: 'string' },
    database: { type: 'string', default: 'postgres' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`usage: npm run soak:crash -- [--cycles 100] [--seed S] [--database postgres|pglite]

  postgres: SOAK_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ledger_soak; its name
            must contain "soak"), created fresh (dropped first if it exists) and dropped at the
            end; kept after a violation.
  pglite:   a temporary PGLITE_DIR, removed at the end; kept after a violation.`);
  process.exit(0);
}
const cycles = Number(args.cycles);
if (!Number.isInteger(cycles) || cycles < 1) usageError('--cycles must be a whole number of at least 1');
const seed = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(args.seed);
if (!Number.isSafeInteger(seed) || seed < 0) usageError('--seed must be a whole number of 0 or more');
const databaseKind = args.database;
if (databaseKind !== 'postgres' && databaseKind !== 'pglite') usageError('--database must be postgres or pglite');

function usageError(message: string): never {
  console.error(`soak-crash: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness: one generator per purpose and cycle, so concurrent workers drawing in a
// different order cannot shift the choices of the next cycle.

function mulberry32(a: number) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** murmur3's finaliser: spreads nearby seeds and cycle numbers over unrelated generators. */
function fmix32(h: number) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
const rngFor = (...parts: number[]) => mulberry32(parts.reduce((h, p) => fmix32(h ^ fmix32(p + 0x9e3779b9)), fmix32(seed % 2 ** 32)));
const between = (rng: () => number, min: number, max: number) => min + Math.floor(rng() * (max - min + 1));
const pick = <T>(rng: () => number, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;

// ---------------------------------------------------------------------------------------------
// Violations

class Violation extends Error {
  override name = 'Violation';
}
function violation(what: string, details?: unknown): never {
  throw new Violation(details === undefined ? what : `${what}\n${JSON.stringify(details, null, 2).slice(0, 6000)}`);
}

const started = Date.now();

// ---------------------------------------------------------------------------------------------
// The database

let postgresUrl: string | undefined;
let adminUrl: string | undefined;
let databaseName: string | undefined;

const adminQuery = (statement: string) => runAsAdmin(adminUrl!, statement);

if (databaseKind === 'postgres') {
  const url = new URL(process.env.SOAK_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ledger_soak');
  databaseName = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-zA-Z0-9_]+$/.test(databaseName)) usageError(`the database name "${databaseName}" must be letters, digits and _`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  adminUrl = admin.toString();
  postgresUrl = url.toString();
  // Dropped first to start fresh, so never one that is not plainly the soak's own.
  if (!/soak/i.test(databaseName)) usageError(`SOAK_DATABASE_URL names "${databaseName}": the soak drops and recreates its database, so its name must contain "soak"`);
  await adminQuery(`drop database if exists "${databaseName}" with (force)`);
  await adminQuery(`create database "${databaseName}"`);
}

// Files: PGlite's data (through serverEnv) and, after a violation, the servers' log.
const dir = mkdtempSync(join(tmpdir(), 'ledger-soak-'));
const pgliteDir = join(dir, 'pglite');
const serverLog = join(dir, 'server.log');

/** On PostgreSQL one small pool for the whole soak, used beside the server; on PGlite opened per check, while the server is down. */
let sharedPostgres: Database | undefined;
async function withDatabase<T>(fn: (database: Database) => Promise<T>): Promise<T> {
  if (postgresUrl) {
    sharedPostgres ??= await openDatabase({ kind: 'postgres', url: postgresUrl, poolSize: 2 });
    return fn(sharedPostgres);
  }
  if (server.running) throw new Error('the embedded database belongs to the server while it runs');
  const database = await openDatabase({ kind: 'pglite', dataDir: pgliteDir });
  try {
    return await fn(database);
  } finally {
    await database.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Stripe and the server process

const double: StripeDouble = await startStripeDouble();
const port = await freePort();
const baseUrl = `http://127.0.0.1:${port}`;

// The crash tests' clean environment (nothing of the caller's shell leaks in), with Stripe.
const env: Record<string, string> = {
  ...serverEnv({ port, dir, databaseUrl: postgresUrl }),
  PASSWORD_HASH_MEMORY_KIB: '1024',
  FAILED_SIGN_IN_MIN_MS: '0',
  JWT_TTL_SECONDS: '86400',
  STRIPE_SECRET_KEY: 'sk_test_x',
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  STRIPE_API_BASE: double.url,
  STRIPE_TIMEOUT_MS: '5000',
  STRIPE_MAX_RPS: '8',
  PAYOUT_WORKERS: '2',
};
const server = serverProcess({ port, env });
// However the soak ends (a set-up failure included), no server is left running: kill() signals at once.
process.on('exit', () => void server.kill());
const logTail = () => server.logTail();
/** The servers' whole output, kept beside the data after a violation. */
const saveServerLog = () => writeFileSync(serverLog, server.output);

/** A server that does not come back after a kill is a violation, not an accident of the soak. */
async function startServer() {
  try {
    await server.start();
  } catch (error) {
    violation(`the server did not come back: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Answer {
  status: number;
  body: any;
  text: string;
  replayed: boolean;
}
type Auth = Record<string, string>;

async function call(method: 'GET' | 'POST', url: string, headers: Auth, payload?: object, key?: string): Promise<Answer> {
  const h: Record<string, string> = { ...headers };
  if (key) h['idempotency-key'] = key;
  if (payload) h['content-type'] = 'application/json';
  const res = await fetch(baseUrl + url, { method, headers: h, body: payload ? JSON.stringify(payload) : undefined, signal: AbortSignal.timeout(60_000) });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, replayed: res.headers.get('idempotent-replayed') === 'true' };
}

async function get(url: string, headers: Auth) {
  const answer = await call('GET', url, headers);
  if (answer.status !== 200) violation(`GET ${url} answered ${answer.status}`, answer.text);
  return answer.body;
}

/** Sends as the helpers' Send (for onboardStripeContributor). */
const send: Send = async (request) => {
  const res = await fetch(baseUrl + request.url, {
    method: request.method,
    headers: { ...(typeof request.payload === 'object' ? { 'content-type': 'application/json' } : {}), ...request.headers },
    body: request.payload === undefined ? undefined : typeof request.payload === 'string' ? request.payload : JSON.stringify(request.payload),
  });
  return { statusCode: res.status, body: await res.text() };
};

async function setupCall(method: 'GET' | 'POST', url: string, headers: Auth, payload: object | undefined, status: number) {
  const answer = await call(method, url, headers, payload);
  if (answer.status !== status) throw new Error(`${method} ${url} → ${answer.status} (wanted ${status}): ${answer.text}`);
  return answer.body;
}

// ---------------------------------------------------------------------------------------------
// What the soak was told: every write, and the state each object was acknowledged in

type WriteKind = 'submit' | 'approve-entry' | 'draft' | 'approve-run' | 'mark-paid';
interface Write {
  kind: WriteKind;
  key: string;
  url: string;
  auth: Auth;
  payload?: object;
  cycle: number;
  state: 'in-flight' | 'acked' | 'refused' | 'lost';
  status?: number;
  /** The id of what the write created or changed (from its answer). */
  id?: string;
  /** Sent by the load (as opposed to the recovery after a restart). */
  load: boolean;
  /** The answer that acknowledged it. */
  answer?: Answer;
}

const writes: Write[] = [];
let writeCounter = 0;
/** Acknowledged writes not yet checked after a restart. */
let ackedSinceRestart: Write[] = [];

const entries = new Map<string, { contributorId: string; amount: number; acked: 'submitted' | 'approved' }>();
interface RunItem {
  id: string;
  method: 'stripe' | 'bank_transfer' | 'voucher';
  amount: number;
  contributorId: string;
  status: string;
}
const runs = new Map<string, { acked: 'draft' | 'approved'; items: Map<string, RunItem> }>();
const markedPaid = new Map<string, string>(); // item id → reference

/** Records what an acknowledged write did; answers that contradict the request are violations. */
function applyAcked(w: Write, answer: Answer) {
  const b = answer.body;
  switch (w.kind) {
    case 'submit': {
      if (b?.status !== 'submitted' && b?.status !== 'approved') violation(`a recorded time entry came back ${b?.status}`, b);
      const prior = entries.get(b.id);
      entries.set(b.id, { contributorId: b.contributorId, amount: b.amount, acked: prior?.acked ?? 'submitted' });
      w.id = b.id;
      break;
    }
    case 'approve-entry': {
      if (b?.status !== 'approved') violation(`an approval came back ${b?.status}`, b);
      entries.set(b.id, { contributorId: b.contributorId, amount: b.amount, acked: 'approved' });
      w.id = b.id;
      break;
    }
    case 'draft':
    case 'approve-run': {
      const wanted = w.kind === 'draft' ? 'draft' : 'approved';
      // A replayed draft shows the run as it was drafted; the run itself may be approved since.
      if (b?.status !== wanted) violation(`${w.kind} came back ${b?.status}`, b);
      const prior = runs.get(b.id);
      const items = prior?.items ?? new Map<string, RunItem>();
      for (const i of b.items) {
        const known = items.get(i.id);
        items.set(i.id, { id: i.id, method: i.method, amount: i.amount, contributorId: i.contributorId, status: known && known.status !== 'pending' ? known.status : i.status });
      }
      runs.set(b.id, { acked: prior?.acked === 'approved' || wanted === 'approved' ? 'approved' : 'draft', items });
      w.id = b.id;
      break;
    }
    case 'mark-paid': {
      if (b?.status !== 'paid') violation(`mark-paid came back ${b?.status}`, b);
      markedPaid.set(b.id, b.reference);
      const item = runs.get(b.runId)?.items.get(b.id);
      if (item) item.status = 'paid';
      w.id = b.id;
      break;
    }
  }
}

const counters = {
  kills: { approvals: 0, payouts: 0 },
  acked: 0,
  ackedChecked: 0,
  replaysChecked: 0,
  dbChecks: 0,
  retried: 0,
  retriedHadCommitted: 0,
  refused503: 0,
  postingsCompared: 0,
  transactionsSeenBeforeKill: 0,
};

/**
 * Sends a write with its Idempotency-Key. Network errors (the kill) and 503s leave it
 * unacknowledged, to be retried after the restart; any other non-2xx is a violation.
 */
async function write(kind: WriteKind, url: string, auth: Auth, payload: object | undefined, cycle: number, load: boolean): Promise<Write> {
  const w: Write = { kind, key: `soak-${seed}-${++writeCounter}`, url, auth, payload, cycle, state: 'in-flight', load };
  writes.push(w);
  let answer: Answer;
  try {
    answer = await call('POST', url, auth, payload, w.key);
  } catch {
    w.state = 'lost';
    return w;
  }
  w.status = answer.status;
  if (answer.status >= 200 && answer.status < 300) {
    w.state = 'acked';
    counters.acked++;
    w.answer = answer;
    applyAcked(w, answer);
    ackedSinceRestart.push(w);
    return w;
  }
  if (answer.status === 503 || (answer.status === 409 && answer.body?.code === 'idempotency_key_in_flight')) {
    w.state = 'refused';
    counters.refused503++;
    return w;
  }
  violation(`${kind} POST ${url} answered ${answer.status} during the load`, answer.body ?? answer.text);
}

// ---------------------------------------------------------------------------------------------
// Set-up: an organisation, its people, a budget, Stripe and bank-transfer contributors

const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
/**
 * The day a piece of work is dated: yesterday, then further back once a contributor's day is
 * full (the service refuses more than 24 hours on one day). Counted when sent, acknowledged or not.
 */
const workDays = new Map<string, { back: number; minutes: number }>();
function workDate(contributorId: string, minutes: number) {
  const d = workDays.get(contributorId) ?? { back: 1, minutes: 0 };
  if (d.minutes + minutes > 1440) {
    d.back += 1;
    d.minutes = 0;
  }
  if (d.back > 390) throw new Error('the soak has filled every day of its budget with work: run fewer cycles');
  d.minutes += minutes;
  workDays.set(contributorId, d);
  return day(-d.back);
}
const PASSWORD = 'correct horse battery staple';

const { organisationId } = await server.runForJson<{ organisationId: string }>('create-org', [
  'src/cli.ts',
  'create-org',
  '--name',
  'Crash soak organisation',
  '--admin-email',
  'admin@soak.test',
  '--admin-password',
  PASSWORD,
]);

let exiting = false;
process.on('SIGINT', () => {
  if (exiting) return;
  exiting = true;
  console.log(`\ninterrupted: the server is stopped; the database and the server log (${serverLog}) are kept`);
  void server
    .kill()
    .then(() => saveServerLog())
    .then(() => double.close())
    .finally(() => process.exit(130));
});

await startServer();
const login = async (email: string): Promise<Auth> => {
  const token = await setupCall('POST', '/v1/auth/token', {}, { email, password: PASSWORD }, 200);
  return { authorization: `Bearer ${token.accessToken}` };
};
const admin = await login('admin@soak.test');
async function user(role: string, label: string) {
  await setupCall('POST', '/v1/users', admin, { email: `${label}@soak.test`, name: label, role, password: PASSWORD }, 201);
  return login(`${label}@soak.test`);
}
const drafter = await user('finance', 'finance-drafter');
const approver = await user('finance', 'finance-approver');
const coordinator = await user('coordinator', 'coordinator');

const project = await setupCall('POST', '/v1/projects', drafter, { name: 'Crash soak' }, 201);
const card = await setupCall('POST', '/v1/rate-cards', drafter, { name: 'Involvement', currency: 'GBP' }, 201);
await setupCall(
  'POST',
  `/v1/rate-cards/${card.id}/versions`,
  drafter,
  { effectiveFrom: day(-400), rates: [{ activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 2000 }] },
  201,
);
const budget = await setupCall(
  'POST',
  '/v1/budgets',
  drafter,
  {
    projectId: project.id,
    name: 'Soak',
    funder: 'Soak Trust',
    grantReference: 'SOAK-1',
    currency: 'GBP',
    amount: 1_000_000_000,
    startsOn: day(-400),
    endsOn: day(400),
    rateCardId: card.id,
  },
  201,
);
const stripePeople: string[] = [];
const bankPeople: string[] = [];
for (let i = 1; i <= 10; i++) {
  const method = i <= 6 ? 'stripe' : 'bank_transfer';
  const c = await setupCall('POST', '/v1/contributors', coordinator, { name: `Soak ${method} ${i}`, kind: 'lived_experience', paymentMethod: method }, 201);
  if (method === 'stripe') {
    await onboardStripeContributor(send, coordinator, double, c.id);
    stripePeople.push(c.id);
  } else bankPeople.push(c.id);
}
const everyone = [...stripePeople, ...bankPeople];

console.log(
  `soak: ${cycles} cycles on ${databaseKind}${databaseName ? ` (${databaseName})` : ''}, seed ${seed}\n` +
    `      reproduce: npm run soak:crash -- --cycles ${cycles} --seed ${seed} --database ${databaseKind}`,
);

// ---------------------------------------------------------------------------------------------
// The load

type Phase = 'approvals' | 'payouts';

async function recordAndApprove(contributorId: string, minutes: number, cycle: number, load: boolean, stop: () => boolean) {
  const submitted = await write(
    'submit',
    '/v1/time-entries',
    coordinator,
    { contributorId, budgetId: budget.id, activity: 'meeting', date: workDate(contributorId, minutes), minutes },
    cycle,
    load,
  );
  if (submitted.state !== 'acked' || stop()) return;
  await write('approve-entry', `/v1/time-entries/${submitted.id}/approve`, coordinator, undefined, cycle, load);
}

/** Approvals: three coordinators' worth of record-and-approve, until the kill. */
async function approvalsLoad(cycle: number, stop: () => boolean) {
  await Promise.all(
    [0, 1, 2].map(async (worker) => {
      const rng = rngFor(cycle, 1, worker);
      while (!stop()) await recordAndApprove(pick(rng, everyone), between(rng, 15, 240), cycle, true, stop);
    }),
  );
}

/** Something owed to several Stripe and bank-transfer contributors, for the next run. */
async function owedWork(rng: () => number, cycle: number, stop: () => boolean) {
  const chosen = [...stripePeople.filter(() => rng() < 0.7), ...bankPeople.filter(() => rng() < 0.7)];
  if (!chosen.some((c) => stripePeople.includes(c))) chosen.push(pick(rng, stripePeople));
  if (!chosen.some((c) => bankPeople.includes(c))) chosen.push(pick(rng, bankPeople));
  const minutes = chosen.map(() => between(rng, 30, 240));
  for (let i = 0; i < chosen.length && !stop(); i += 3) {
    await Promise.all(chosen.slice(i, i + 3).map((c, j) => recordAndApprove(c, minutes[i + j]!, cycle, true, stop)));
  }
}

async function payBankItems(runId: string, cycle: number, load: boolean, stop: () => boolean) {
  const run = runs.get(runId);
  if (!run) return;
  for (const item of run.items.values()) {
    if (stop()) return;
    if (item.method === 'stripe' || item.status !== 'processing' || markedPaid.has(item.id)) continue;
    await write('mark-paid', `/v1/payouts/${item.id}/mark-paid`, drafter, { reference: `BACS soak ${item.id.slice(-12)}` }, cycle, load);
  }
}

/** Payouts: draft, approve (another finance user), mark bank items paid while Stripe items are paid; again. */
async function payoutsLoad(cycle: number, stop: () => boolean) {
  const rng = rngFor(cycle, 2);
  while (!stop()) {
    const draft = await write('draft', '/v1/payout-runs', drafter, { currency: 'GBP' }, cycle, true);
    if (draft.state !== 'acked' || stop()) return;
    const approved = await write('approve-run', `/v1/payout-runs/${draft.id}/approve`, approver, undefined, cycle, true);
    if (approved.state !== 'acked') return;
    await payBankItems(draft.id!, cycle, true, stop);
    // Watch the queue pay the Stripe items, as a finance user refreshing the run would.
    while (!stop()) {
      const answer = await call('GET', `/v1/payout-runs/${draft.id}`, drafter).catch(() => undefined);
      if (!answer || answer.status !== 200) break;
      if (answer.body.items.every((i: any) => i.method !== 'stripe' || i.status !== 'processing')) break;
      await sleep(100);
    }
    if (!stop()) await owedWork(rng, cycle, stop);
  }
}

/** A finance user paging the ledger during the load: what it sees must never change. */
const seenTransactions = new Map<string, string>(); // id → digest
let ledgerCursor: string | undefined;
function transactionDigest(t: { type: string; referenceType: string; referenceId: string; effectiveDate: string; reversesTransactionId: string | null; postings: { account: string; currency: string; amount: number | string }[] }) {
  const postings = t.postings.map((p) => `${p.account} ${p.currency} ${String(p.amount)}`).sort();
  return [t.type, t.referenceType, t.referenceId, t.effectiveDate, t.reversesTransactionId ?? '', ...postings].join('|');
}
async function ledgerReader(stop: () => boolean) {
  while (!stop()) {
    const answer = await call('GET', `/v1/ledger/transactions?limit=200${ledgerCursor ? `&cursor=${ledgerCursor}` : ''}`, drafter).catch(() => undefined);
    if (!answer || stop()) return;
    if (answer.status === 200) {
      for (const t of answer.body.data) {
        const digest = transactionDigest(t);
        const known = seenTransactions.get(t.id);
        if (known !== undefined && known !== digest) violation(`ledger transaction ${t.id} changed`, { before: known, now: digest });
        if (known === undefined) counters.transactionsSeenBeforeKill++;
        seenTransactions.set(t.id, digest);
      }
      if (answer.body.nextCursor) {
        ledgerCursor = answer.body.nextCursor;
        continue;
      }
    }
    await sleep(300);
  }
}

// ---------------------------------------------------------------------------------------------
// Checks with the server dead (or, on PostgreSQL, beside it)

const rowsOf = async (database: Database, q: ReturnType<typeof sql>) => ((await database.db.execute(q)) as unknown as { rows: any[] }).rows;
const checkedTransactions = new Map<string, string>(); // digest of every transaction a database check has seen

interface DbFindings {
  inTransit: number;
  transferMadeNotRecorded: number;
  transactions: number;
}

async function databaseChecks(when: string): Promise<DbFindings> {
  return withDatabase(async (database) => {
    counters.dbChecks++;
    const inv = await ledgerInvariants(database.db, organisationId);
    if (inv.unbalancedTransactions.length) violation(`${when}: a ledger transaction does not balance`, inv.unbalancedTransactions);
    if (!inv.trialBalance.every((b) => b.total === '0')) violation(`${when}: the trial balance is not zero`, inv.trialBalance);
    if (inv.staleBalances.length) violation(`${when}: a cached account balance differs from the sum of its postings`, inv.staleBalances);
    if (inv.negativeBalances.length) violation(`${when}: an account that may not go negative is below zero`, inv.negativeBalances);

    // Every transaction seen before (over HTTP before a kill, or by an earlier check) is unchanged.
    const txRows = await rowsOf(
      database,
      sql`select id, type, reference_type, reference_id, effective_date::text as effective_date, reverses_transaction_id
            from ledger_transactions where organisation_id = ${organisationId}`,
    );
    const postingRows = await rowsOf(
      database,
      sql`select transaction_id, account, currency, amount::text as amount from ledger_postings where organisation_id = ${organisationId}`,
    );
    const postingsOf = new Map<string, { account: string; currency: string; amount: string }[]>();
    for (const p of postingRows) {
      const list = postingsOf.get(p.transaction_id) ?? [];
      list.push(p);
      postingsOf.set(p.transaction_id, list);
    }
    const now = new Map<string, string>();
    for (const t of txRows) {
      now.set(
        t.id,
        transactionDigest({
          type: t.type,
          referenceType: t.reference_type,
          referenceId: t.reference_id,
          effectiveDate: t.effective_date,
          reversesTransactionId: t.reverses_transaction_id,
          postings: postingsOf.get(t.id) ?? [],
        }),
      );
    }
    for (const [source, seen] of [
      ['seen over HTTP before a kill', seenTransactions],
      ['seen at an earlier check', checkedTransactions],
    ] as const) {
      for (const [id, digest] of seen) {
        const current = now.get(id);
        if (current === undefined) violation(`${when}: ledger transaction ${id} (${source}) is gone`, { before: digest });
        if (current !== digest) violation(`${when}: ledger transaction ${id} (${source}) changed`, { before: digest, now: current });
      }
    }
    counters.postingsCompared += [...checkedTransactions.keys()].reduce((n, id) => n + (postingsOf.get(id)?.length ?? 0), 0);
    for (const [id, digest] of now) checkedTransactions.set(id, digest);

    // Every acknowledged write is there, in the state it was acknowledged in or later.
    const entryRows = await rowsOf(database, sql`select id, status, contributor_id, amount::text as amount from time_entries where organisation_id = ${organisationId}`);
    const entryStatus = new Map(entryRows.map((r) => [r.id as string, r.status as string]));
    for (const [id, e] of entries) {
      const status = entryStatus.get(id);
      const ok = e.acked === 'submitted' ? status === 'submitted' || status === 'approved' : status === 'approved';
      if (!ok) violation(`${when}: time entry ${id} was acknowledged ${e.acked} and is now ${status ?? 'missing'}`);
    }
    const runRows = await rowsOf(database, sql`select id, status from payout_runs where organisation_id = ${organisationId}`);
    const runStatus = new Map(runRows.map((r) => [r.id as string, r.status as string]));
    for (const [id, r] of runs) {
      const status = runStatus.get(id);
      const ok = r.acked === 'draft' ? status === 'draft' || status === 'approved' : status === 'approved';
      if (!ok) violation(`${when}: payout run ${id} was acknowledged ${r.acked} and is now ${status ?? 'missing'}`);
    }
    const itemRows = await rowsOf(
      database,
      sql`select i.id, i.run_id, i.contributor_id, i.method, i.status, i.amount::text as amount, i.stripe_transfer_id, i.reference, r.status as run_status
            from payout_items i join payout_runs r on r.organisation_id = i.organisation_id and r.id = i.run_id
           where i.organisation_id = ${organisationId}`,
    );
    const itemById = new Map(itemRows.map((r) => [r.id as string, r]));
    for (const [id, r] of runs) {
      for (const item of r.items.values()) {
        const row = itemById.get(item.id);
        if (!row || row.run_id !== id || Number(row.amount) !== item.amount) violation(`${when}: payout item ${item.id} of run ${id} is missing or changed`, row);
        if (r.acked === 'approved' && !['processing', 'paid'].includes(row.status)) {
          violation(`${when}: payout item ${item.id} of an approved run is ${row.status}`, row);
        }
      }
    }
    for (const [id, reference] of markedPaid) {
      const row = itemById.get(id);
      if (row?.status !== 'paid' || row.reference !== reference) violation(`${when}: payout item ${id} was acknowledged paid (${reference}) and is now`, row);
    }

    // Money: each contributor's owed + in transit + paid is their approved work; in transit and
    // paid are their items processing and paid.
    const accountRows = await rowsOf(
      database,
      sql`select contributor_id, type, sum(balance)::text as total from ledger_accounts
           where organisation_id = ${organisationId} and contributor_id is not null group by contributor_id, type`,
    );
    const sums = new Map<string, { approved: number; owed: number; inTransit: number; paid: number; itemsProcessing: number; itemsPaid: number }>();
    const sumOf = (c: string) => {
      let s = sums.get(c);
      if (!s) sums.set(c, (s = { approved: 0, owed: 0, inTransit: 0, paid: 0, itemsProcessing: 0, itemsPaid: 0 }));
      return s;
    };
    for (const r of entryRows) if (r.status === 'approved') sumOf(r.contributor_id).approved += Number(r.amount);
    for (const r of accountRows) {
      const s = sumOf(r.contributor_id);
      if (r.type === 'contributor_owed') s.owed += Number(r.total);
      if (r.type === 'contributor_in_transit') s.inTransit += Number(r.total);
      if (r.type === 'contributor_paid') s.paid += Number(r.total);
    }
    for (const r of itemRows) {
      if (r.status === 'processing') sumOf(r.contributor_id).itemsProcessing += Number(r.amount);
      if (r.status === 'paid') sumOf(r.contributor_id).itemsPaid += Number(r.amount);
    }
    for (const [c, s] of sums) {
      if (s.owed + s.inTransit + s.paid !== s.approved || s.inTransit !== s.itemsProcessing || s.paid !== s.itemsPaid) {
        violation(`${when}: contributor ${c}'s money does not add up (owed + in transit + paid = approved work; in transit, paid = their items)`, s);
      }
    }

    // Stripe: at most one transfer per item; an item with a transfer recorded has exactly that one;
    // every transfer belongs to a Stripe item that is in transit or paid.
    const transfersByItem = new Map<string, { id: string; amount: number }[]>();
    for (const transfer of double.transfers.values()) {
      const itemId = transfer.metadata.payout_item_id ?? '';
      const list = transfersByItem.get(itemId) ?? [];
      list.push({ id: transfer.id, amount: transfer.amount });
      transfersByItem.set(itemId, list);
    }
    let inTransit = 0;
    let transferMadeNotRecorded = 0;
    for (const [itemId, list] of transfersByItem) {
      const row = itemById.get(itemId);
      if (list.length > 1) violation(`${when}: payout item ${itemId} was paid twice: ${list.length} Stripe transfers`, { item: row, transfers: list });
      if (!row || row.method !== 'stripe' || !['processing', 'paid'].includes(row.status)) {
        violation(`${when}: a Stripe transfer for payout item ${itemId}, which is not a Stripe item in transit or paid`, { item: row, transfers: list });
      }
    }
    for (const row of itemRows) {
      if (row.method !== 'stripe') continue;
      const list = transfersByItem.get(row.id) ?? [];
      if (row.status === 'paid' || row.stripe_transfer_id) {
        if (list.length !== 1 || list[0]!.id !== row.stripe_transfer_id || list[0]!.amount !== Number(row.amount)) {
          violation(`${when}: Stripe item ${row.id} is ${row.status} with transfer ${row.stripe_transfer_id}, but Stripe has`, { item: row, transfers: list });
        }
      }
      if (row.status === 'processing') {
        inTransit++;
        if (list.length === 1 && !row.stripe_transfer_id) transferMadeNotRecorded++;
      }
    }
    return { inTransit, transferMadeNotRecorded, transactions: now.size };
  });
}

// ---------------------------------------------------------------------------------------------
// After a restart

/** Retries a write with its own key until the service answers (at most 60 s): it must succeed. */
async function retry(w: Write) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let answer: Answer | undefined;
    try {
      answer = await call('POST', w.url, w.auth, w.payload, w.key);
    } catch {
      answer = undefined;
    }
    if (answer && answer.status >= 200 && answer.status < 300) {
      counters.retried++;
      if (answer.replayed) counters.retriedHadCommitted++;
      w.state = 'acked';
      w.status = answer.status;
      w.answer = answer;
      counters.acked++;
      applyAcked(w, answer);
      ackedSinceRestart.push(w);
      return;
    }
    const transient = !answer || answer.status === 503 || (answer.status === 409 && answer.body?.code === 'idempotency_key_in_flight');
    if (!transient) violation(`after the restart, the retry of an unacknowledged ${w.kind} (POST ${w.url}, key ${w.key}) answered ${answer!.status}`, answer!.body ?? answer!.text);
    if (Date.now() > deadline) violation(`after the restart, the retry of ${w.kind} POST ${w.url} was not answered within 60 s`);
    await sleep(250);
  }
}

/** Brings every piece of work to rest: retried writes, drafts approved, bank items marked, Stripe items paid. */
async function recover(cycle: number) {
  for (const w of writes) if (w.state === 'lost' || w.state === 'refused') await retry(w);
  const never = () => false;
  for (const [id, run] of runs) {
    if (run.acked === 'draft') {
      const w = await write('approve-run', `/v1/payout-runs/${id}/approve`, approver, undefined, cycle, false);
      if (w.state !== 'acked') await retry(w);
    }
  }
  // Wait until no Stripe item is in transit, marking bank items paid meanwhile.
  const deadline = Date.now() + 120_000;
  for (const [id, run] of runs) {
    if (![...run.items.values()].some((i) => i.status === 'processing')) continue;
    for (;;) {
      const body = await get(`/v1/payout-runs/${id}`, drafter);
      for (const i of body.items) {
        const item = run.items.get(i.id);
        if (item) item.status = i.status;
      }
      await payBankItems(id, cycle, false, never);
      const left = [...run.items.values()].filter((i) => i.status === 'processing');
      if (!left.length) break;
      if (Date.now() > deadline) violation(`Stripe items still in transit 120 s after the restart (run ${id})`, body.items.filter((i: any) => i.status === 'processing'));
      await sleep(150);
    }
  }
  for (const w of writes) if (w.state !== 'acked') violation(`a write is still not acknowledged after the recovery`, w);
}

/** Over HTTP: the writes acknowledged since the last restart read back and replay; the books; Stripe. */
async function httpChecks() {
  for (const w of ackedSinceRestart) {
    const original = w.answer;
    if (w.kind === 'submit' || w.kind === 'approve-entry') {
      const e = await get(`/v1/time-entries/${w.id}`, coordinator);
      const ok = w.kind === 'submit' ? e.status === 'submitted' || e.status === 'approved' : e.status === 'approved';
      if (!ok) violation(`time entry ${w.id} was acknowledged (${w.kind}) and is now ${e.status}`, e);
    } else if (w.kind === 'draft' || w.kind === 'approve-run') {
      const r = await get(`/v1/payout-runs/${w.id}`, drafter);
      const ok = w.kind === 'draft' ? r.status === 'draft' || r.status === 'approved' : r.status === 'approved';
      if (!ok) violation(`payout run ${w.id} was acknowledged (${w.kind}) and is now ${r.status}`, r);
    } else {
      const runId = original?.body?.runId;
      const r = await get(`/v1/payout-runs/${runId}`, drafter);
      const item = r.items.find((i: any) => i.id === w.id);
      if (item?.status !== 'paid') violation(`payout item ${w.id} was acknowledged paid and is now ${item?.status}`, item);
    }
    counters.ackedChecked++;
    // The same key again: the stored answer, replayed, with no second effect.
    const again = await call('POST', w.url, w.auth, w.payload, w.key);
    if (again.status !== w.status || !again.replayed || again.body?.id !== w.id) {
      violation(`the acknowledged ${w.kind} (POST ${w.url}, key ${w.key}) did not replay after the restart`, { status: again.status, replayed: again.replayed, body: again.body });
    }
    counters.replaysChecked++;
  }
  ackedSinceRestart = [];

  const trial = await get('/v1/ledger/trial-balance', drafter);
  if (!trial.balances.every((b: any) => b.total === 0)) violation('the trial balance over HTTP is not zero', trial);

  // Every Stripe item is paid, by exactly one transfer of its amount; no transfer is unknown.
  const stripeItems = new Map<string, RunItem>();
  for (const run of runs.values()) for (const item of run.items.values()) if (item.method === 'stripe') stripeItems.set(item.id, item);
  const byItem = new Map<string, { id: string; amount: number }[]>();
  for (const transfer of double.transfers.values()) {
    const itemId = transfer.metadata.payout_item_id ?? '';
    if (!stripeItems.has(itemId)) violation(`Stripe transfer ${transfer.id} is for no Stripe item the service acknowledged`, transfer);
    byItem.set(itemId, [...(byItem.get(itemId) ?? []), { id: transfer.id, amount: transfer.amount }]);
  }
  for (const item of stripeItems.values()) {
    const list = byItem.get(item.id) ?? [];
    if (item.status === 'paid' && (list.length !== 1 || list[0]!.amount !== item.amount)) violation(`Stripe item ${item.id} is paid with ${list.length} transfers`, { item, list });
    if (list.length > 1) violation(`Stripe item ${item.id} was paid twice`, { item, list });
  }
}

function totals() {
  let stripePaid = 0;
  let bankPaid = 0;
  for (const run of runs.values()) {
    for (const item of run.items.values()) {
      if (item.status !== 'paid') continue;
      if (item.method === 'stripe') stripePaid++;
      else bankPaid++;
    }
  }
  return { stripePaid, bankPaid, runs: runs.size, approvedEntries: [...entries.values()].filter((e) => e.acked === 'approved').length, transfers: double.transfers.size };
}

// ---------------------------------------------------------------------------------------------
// The soak

const fmt = (n: number) => n.toLocaleString('en-GB');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
let currentCycle = 0;

try {
  for (let cycle = 1; cycle <= cycles; cycle++) {
    currentCycle = cycle;
    const cycleStarted = Date.now();
    const rng = rngFor(cycle, 0);
    const phase: Phase = rng() < 0.5 ? 'approvals' : 'payouts';
    // Payouts: two kills in five early, while the run is drafted, approved and its bank items
    // marked; the rest while the queue pays its Stripe items.
    const killAfter = phase === 'approvals' ? between(rng, 50, 1500) : rng() < 0.4 ? between(rng, 0, 400) : between(rng, 400, 3000);
    let stopped = false;
    const stop = () => stopped;

    if (phase === 'payouts') {
      // Work owed before the clock starts, so the run has Stripe and bank-transfer items.
      await owedWork(rngFor(cycle, 3), cycle, stop);
      // Stripe answers some transfers late (made at once, answered after the delay).
      if (rng() < 0.6) double.faults.enqueue({ kind: 'delay', ms: between(rng, 200, 2000), match: 'POST /v1/transfers', times: between(rng, 1, 3) });
    }
    const writesBefore = writes.length;
    const load = Promise.all([phase === 'approvals' ? approvalsLoad(cycle, stop) : payoutsLoad(cycle, stop), ledgerReader(stop)]);
    const loadFailed = load.then(
      () => undefined,
      (error: unknown) => error ?? new Error('the load failed'),
    );
    // The kill comes at its time: sooner only if the load broke (a violation); a load that
    // ended early (a draft refused with 503, say) leaves the server idle until then.
    const broke = loadFailed.then((error) => (error === undefined ? new Promise<undefined>(() => {}) : error));
    const early = await Promise.race([sleep(killAfter).then(() => undefined), broke]);
    if (early) throw early;
    stopped = true;
    const inFlight = writes.slice(writesBefore).filter((w) => w.state === 'in-flight');
    await server.kill();
    const failure = await loadFailed;
    if (failure) throw failure;
    double.faults.clear();
    counters.kills[phase]++;

    const atKill = await databaseChecks(`cycle ${cycle}, after the kill`);
    await startServer();
    await recover(cycle);
    const checkedBefore = counters.ackedChecked;
    await httpChecks();

    const kinds = new Map<string, number>();
    for (const w of inFlight) kinds.set(w.kind, (kinds.get(w.kind) ?? 0) + 1);
    const flying = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ') || 'no write';
    const stripeNote = atKill.inTransit ? `; ${atKill.inTransit} Stripe item(s) in transit, ${atKill.transferMadeNotRecorded} made at Stripe but not recorded` : '';
    const t = totals();
    console.log(
      `cycle ${String(cycle).padStart(String(cycles).length)}/${cycles} ${phase.padEnd(9)} killed at ${String(killAfter).padStart(4)} ms: ` +
        `in flight ${flying}${stripeNote} | ${counters.ackedChecked - checkedBefore} acked writes checked | ` +
        `entries approved ${t.approvedEntries}, runs ${t.runs}, items paid ${t.stripePaid + t.bankPaid} (Stripe ${t.stripePaid}), transfers ${t.transfers} | ok ${seconds(Date.now() - cycleStarted)}`,
    );
  }

  // The end: a graceful stop, and the checks once more on the database at rest.
  const exit = await server.terminate();
  if (exit?.code !== 0) violation(`the server did not stop cleanly on SIGTERM: ${JSON.stringify(exit)}\n${logTail()}`);
  await databaseChecks('at the end');
  const t = totals();
  if (t.transfers !== t.stripePaid) violation(`${t.transfers} Stripe transfers for ${t.stripePaid} Stripe items paid`);
  const wall = Date.now() - started;
  console.log(
    `summary: ${cycles} cycles on ${databaseKind}, seed ${seed}: ${counters.kills.approvals} kills during approvals, ${counters.kills.payouts} during payouts; ` +
      `${fmt(counters.acked)} acknowledged writes, ${fmt(counters.ackedChecked)} read back and replayed after a restart, all checked in the database at every later kill (${counters.dbChecks} checks); ` +
      `${fmt(counters.retried)} unacknowledged writes retried (${fmt(counters.retriedHadCommitted)} had committed before the kill, replayed; ${fmt(counters.retried - counters.retriedHadCommitted)} done then), ${fmt(counters.refused503)} refused with 503; ` +
      `${fmt(t.approvedEntries)} entries approved, ${fmt(t.runs)} runs, ${fmt(t.stripePaid + t.bankPaid)} items paid (${fmt(t.stripePaid)} Stripe, ${fmt(t.bankPaid)} bank transfer), ` +
      `${fmt(t.transfers)} Stripe transfers, 0 paid twice; ${fmt(checkedTransactions.size)} ledger transactions (${fmt(counters.transactionsSeenBeforeKill)} read over HTTP before a kill), ${fmt(counters.postingsCompared)} posting comparisons, 0 changed; ` +
      `0 violations; wall time ${Math.floor(wall / 60_000)} min ${Math.round((wall % 60_000) / 1000)} s`,
  );
  await sharedPostgres?.close();
  await double.close();
  if (databaseName) await adminQuery(`drop database if exists "${databaseName}" with (force)`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
} catch (error) {
  await server.kill().catch(() => undefined);
  saveServerLog();
  await sharedPostgres?.close().catch(() => undefined);
  await double.close().catch(() => undefined);
  const kind = error instanceof Violation ? 'VIOLATION' : 'ERROR';
  console.error(
    `\n${kind} in cycle ${currentCycle} of ${cycles} (seed ${seed}, ${databaseKind}):\n${error instanceof Error ? (error instanceof Violation ? error.message : error.stack) : String(error)}\n\n` +
      `reproduce: npm run soak:crash -- --cycles ${cycles} --seed ${seed} --database ${databaseKind}\n` +
      `kept for a look: ${databaseName ? `database ${postgresUrl}` : `PGlite data ${pgliteDir}`}, server log ${serverLog}`,
  );
  process.exit(1);
}
