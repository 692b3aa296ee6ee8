/**
 * The job queue stops without ending the process. pg-boss 10 records a job's outcome without
 * awaiting it, so a job that ends after stop() has returned and the database has closed used to
 * reject with nobody to catch it, and Node ended the process (CI, stop 34: "Cannot use a pool
 * after calling end on the pool", at Manager.fail). See stoppingGate in src/jobs/queue.ts.
 *
 * Each test opens a database of its own, starts the queue on it with one job that waits for the
 * test, and stops the queue while that job runs.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { FastifyBaseLogger } from 'fastify';
import t from 'tap';
import { openDatabase, queryRows, type Database } from '../src/db/client.js';
import { insertJobsIn, QUEUES, startJobQueue, type JobHandlers } from '../src/jobs/queue.js';
import { isolatedPostgres } from './helpers/payout-fixtures.js';

// Its own PostgreSQL database: no other file's workers may take these jobs, nor these workers theirs.
const isolated = await isolatedPostgres('job_queue');
t.teardown(() => isolated.drop());

// Without a listener Node ends the process on an unhandled rejection; with this one the test
// sees it and fails instead.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
t.teardown(() => {
  process.off('unhandledRejection', onUnhandled);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function open(): Promise<Database> {
  const url = process.env.TEST_DATABASE_URL;
  return url ? openDatabase({ kind: 'postgres', url, poolSize: 5 }) : openDatabase({ kind: 'pglite', dataDir: 'memory://' });
}

/** A logger for the queue, which logs only warnings and errors: it keeps them. */
function keptLog() {
  const lines: { level: string; message: string }[] = [];
  const keep = (level: string) => (_object: unknown, message?: string) => {
    lines.push({ level, message: message ?? '' });
  };
  return { log: { warn: keep('warn'), error: keep('error') } as unknown as FastifyBaseLogger, lines };
}

/**
 * The queue on a fresh database with one reminders job whose handler waits for `release`. Resolves
 * once that handler is running.
 */
async function queueWithAJobRunning() {
  const database = await open();
  let entered!: () => void;
  const running = new Promise<void>((resolve) => (entered = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let endedAt: number | null = null;
  const idle = async () => {};
  const handlers: JobHandlers = {
    payoutItem: idle,
    sweepPayouts: idle,
    purgeIdempotencyKeys: idle,
    deliverNotification: null,
    sweepNotifications: idle,
    payoutSchedules: idle,
    reminders: async () => {
      entered();
      await released;
      endedAt = Date.now();
    },
  };
  const { log, lines } = keptLog();
  // pg-boss's own wait for running jobs, at its least (1 s).
  const queue = await startJobQueue(database, handlers, { workers: 1, log, stopTimeoutMs: 1_000 });
  const jobId = randomUUID();
  await insertJobsIn(database.db, QUEUES.reminders, [{ id: jobId, data: {} }]);
  await running;
  return { database, queue, jobId, release, endedAt: () => endedAt, lines };
}

t.test('a job that ends after the queue has stopped and the database has closed does not end the process', async (t) => {
  const { database, queue, release, lines } = await queueWithAJobRunning();
  await queue.stop();
  await database.close();
  release();
  // The handler returns, and pg-boss records its outcome in the ticks that follow.
  await sleep(300);
  t.same(unhandled.map(String), [], 'no promise rejected unhandled');
  t.ok(
    lines.some((l) => l.level === 'warn' && /stopped with jobs still running; they will be retried/.test(l.message)),
    `stop said a job was still running (${JSON.stringify(lines)})`,
  );
  t.ok(
    lines.some((l) => l.level === 'warn' && /a job that ended late is left to expire and be retried/.test(l.message)),
    'its late outcome was left unwritten, and said so',
  );
});

t.test('a job that ends soon after pg-boss stops waiting has its outcome written before stop() returns', async (t) => {
  const { database, queue, jobId, release, endedAt, lines } = await queueWithAJobRunning();
  t.teardown(() => database.close());
  // pg-boss gives up on it after 1 s; the queue waits up to 2 s more.
  const released = setTimeout(release, 1_500);
  t.teardown(() => clearTimeout(released));
  await queue.stop();
  const stoppedAt = Date.now();
  t.ok(endedAt() !== null && endedAt()! <= stoppedAt, 'stop() returned after the job had ended');
  t.same(lines, [], 'nothing was left running or unwritten');
  // pg-boss failed it while it ran (it had not ended within 1 s): it waits to be retried, as a
  // job is after any stop that outlasts it. The job is not left active, to wait for expiry.
  const [job] = await queryRows<{ state: string }>(database.db, sql`select state from pgboss.job where id = ${jobId}`);
  t.not(job?.state, 'active', `the job is ${job?.state}`);
  t.same(unhandled.map(String), [], 'no promise rejected unhandled');
});
