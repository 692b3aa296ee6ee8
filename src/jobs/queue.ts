import type { FastifyBaseLogger } from 'fastify';
import PgBoss from 'pg-boss';
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Database, type Db } from '../db/client.js';

/**
 * Background jobs on pg-boss, a PostgreSQL-backed queue: on PostgreSQL several processes share
 * it (SKIP LOCKED), and on embedded PGlite the same queue and the same job code run in-process.
 * pg-boss talks to the database through the app's own connection (its `db` option), so there is
 * one pool, and on PGlite one connection.
 */
export const QUEUES = {
  payoutItem: 'payout-item',
  sweepPayouts: 'sweep-payouts',
  purgeIdempotencyKeys: 'purge-idempotency-keys',
  /** One job per email in the outbox (job id = notification id). */
  deliverNotification: 'deliver-notification',
  /** Re-queues outbox messages whose job is gone (a message queued while email was off). */
  sweepNotifications: 'sweep-notifications',
  /** Every minute: drafts the runs of payout schedules whose slot has come. */
  payoutSchedules: 'payout-schedules',
  /** Daily: reminders of time and runs waiting too long. */
  reminders: 'reminders',
} as const;

/** pg-boss SQL (`$1`-style placeholders) as a drizzle query, so it runs in a drizzle transaction. */
function fromPositional(text: string, values: unknown[]): SQL {
  const parts = text.split(/\$(\d+)/);
  const chunks: (SQL | ReturnType<typeof sql.param>)[] = [];
  for (let i = 0; i < parts.length; i++) {
    chunks.push(i % 2 === 0 ? sql.raw(parts[i]!) : sql.param(values[Number(parts[i]) - 1] ?? null));
  }
  return sql.join(chunks as SQL[], sql.raw(""));
}

/**
 * Only its SQL is used: jobs inserted with it go through the transaction they are given. The
 * instance is never started, so it opens no connection and runs no timers.
 */
const jobWriter = new PgBoss({ db: { executeSql: async () => ({ rows: [] }) }, schema: 'pgboss' });

/**
 * Inserts jobs in the caller's transaction, so a job exists exactly when the change that
 * needs it commits (the outbox pattern without a relay). A job whose id already exists is
 * skipped. The queue must exist, which startJobQueue ensures at start; before any process has
 * started the queue (a test that runs without jobs), jobs are not inserted and the sweeps of
 * the first process that starts it pick the work up.
 */
export async function insertJobsIn(tx: Db, queue: string, jobs: { id: string; data: object }[]): Promise<void> {
  if (!jobs.length) return;
  // Two statements: a query naming pgboss.queue would fail (and abort the transaction) where
  // the schema does not exist yet.
  const [schema] = await queryRows<{ ok: boolean }>(tx, sql`select to_regclass('pgboss.queue') is not null as ok`);
  const [exists] = schema?.ok
    ? await queryRows<{ ok: boolean }>(tx, sql`select exists (select 1 from pgboss.queue where name = ${queue}) as ok`)
    : [];
  if (!exists?.ok) return;
  await jobWriter.insert(
    jobs.map((job) => ({ name: queue, id: job.id, data: job.data })),
    { db: { executeSql: async (text: string, values: unknown[] = []) => ({ rows: await queryRows(tx, fromPositional(text, values)) }) } } as never,
  );
}

export interface PayoutItemJob {
  organisationId: string;
  itemId: string;
}

/** How long stop() waits, after pg-boss has stopped, for jobs it did not wait for (stoppingGate). */
const STOP_SETTLE_MS = 2_000;

/** Messages this process sends side by side. */
const EMAIL_SENDERS = 4;

/** An email is tried this many times more after the first before it is recorded as failed. */
export const NOTIFICATION_RETRY_LIMIT = 9;

export interface JobHandlers {
  /** Pays one Stripe item; throws to be retried with backoff. */
  payoutItem(job: PayoutItemJob): Promise<unknown>;
  /**
   * Re-queues Stripe items in transit without a recorded transfer: at start (after a crash)
   * all of them, later those idle for a while. `atStart` says which.
   */
  sweepPayouts(options: { atStart: boolean }): Promise<unknown>;
  purgeIdempotencyKeys(): Promise<unknown>;
  /**
   * Sends one outbox message. Throws to be retried with backoff; `lastAttempt` says this is
   * the final try, after which the message is recorded as failed. Null when this process sends
   * no email (no SMTP_URL): the jobs wait for a process that does.
   */
  deliverNotification: ((job: NotificationJob, attempt: { lastAttempt: boolean }) => Promise<unknown>) | null;
  /** Gives queued messages whose job is gone a new one. */
  sweepNotifications(): Promise<unknown>;
  /** Drafts the runs of every payout schedule whose slot has come (once per slot). */
  payoutSchedules(): Promise<unknown>;
  /** The daily reminders of time and runs waiting too long. */
  reminders(): Promise<unknown>;
}

export interface NotificationJob {
  organisationId: string;
  notificationId: string;
}

export interface JobQueue {
  /**
   * Queues items. By default the job id is the item id, so queuing an item twice is a no-op
   * while its job exists; `fresh` queues a new job even so (the sweep's way past a job left
   * active by a dead process — running an item twice is safe, never paying twice).
   */
  enqueuePayoutItems(jobs: PayoutItemJob[], options?: { fresh?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

function adapterFor(database: Database): PgBoss.Db {
  if (database.pool) {
    const pool = database.pool;
    return { executeSql: (text, values) => pool.query(text, values) };
  }
  const pglite = database.pglite!;
  return {
    async executeSql(text, values) {
      if (values && values.length) return pglite.query(text, values);
      // Multi-statement scripts (pg-boss's migrations and maintenance) go through exec, which
      // answers per statement: pg-boss wants the rows of them all.
      const results = await pglite.exec(text);
      return { rows: results.flatMap((r) => r.rows) };
    },
  };
}

/**
 * Stopping without losing the process. pg-boss 10 records a job's outcome without awaiting it
 * (manager.js, `onFetch`: `this.complete(…)` and `this.fail(…)` are fire-and-forget), and a worker
 * whose fetch was in flight when the queue began to stop still runs the jobs it fetched. Such a
 * job can end after `stop()` has returned and the app has closed its database: recording its
 * outcome then rejects with nobody to catch it, and Node ends the process on an unhandled
 * rejection (seen in CI: "Cannot use a pool after calling end on the pool", at Manager.fail).
 *
 * So the queue's database calls and its handlers go through this gate. `close` waits, up to a
 * bound, until none is running; from then on a call is never answered. The outcome of a job that
 * ends later is not written, exactly as if the process had ended at that point: pg-boss has
 * already failed it for a retry, or it stays active until pg-boss expires and retries it. Every
 * job here is safe to run twice (payouts are idempotent at Stripe and in the ledger, emails are
 * claimed, sweeps and schedules are repeatable).
 */
function stoppingGate(inner: PgBoss.Db, log: FastifyBaseLogger) {
  let running = 0;
  let closed = false;
  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    running += 1;
    try {
      return await work();
    } finally {
      running -= 1;
    }
  };
  const idle = async () => {
    if (running > 0) return false;
    // A handler that has just ended records its outcome in the next microtasks: look again
    // after them.
    await new Promise((resolve) => setImmediate(resolve));
    return running === 0;
  };
  return {
    db: {
      executeSql(text: string, values: unknown[]) {
        if (!closed) return run(() => inner.executeSql(text, values));
        log.warn({ statement: text.replace(/\s+/g, ' ').trim().slice(0, 80) }, 'the job queue has stopped: a job that ended late is left to expire and be retried');
        return new Promise<never>(() => {});
      },
    } satisfies PgBoss.Db,
    run,
    /** Waits up to `waitMs` for every handler and database call to end, then shuts the gate. */
    async close(waitMs: number): Promise<void> {
      const deadline = Date.now() + waitMs;
      while (!(await idle()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      if (running > 0) log.warn({ running }, 'the job queue stopped with jobs still running; they will be retried after they expire');
      closed = true;
    },
  };
}

/** Every queue, with its retry policy (a no-op for queues that exist). */
async function createQueues(boss: PgBoss): Promise<void> {
  // Retries back off 2 s, 4 s, 8 s … up to about an hour; the sweep requeues anything that
  // still has money in transit after that.
  // A job whose process died is expired (and retried) after two minutes, well past Stripe's timeout.
  await boss.createQueue(QUEUES.payoutItem, { name: QUEUES.payoutItem, retryLimit: 12, retryDelay: 2, retryBackoff: true, expireInSeconds: 120 });
  await boss.createQueue(QUEUES.sweepPayouts, { name: QUEUES.sweepPayouts, retryLimit: 0 });
  await boss.createQueue(QUEUES.purgeIdempotencyKeys, { name: QUEUES.purgeIdempotencyKeys, retryLimit: 0 });
  // An email is tried ten times, 30 s, 1 min, 2 min … apart (about eight hours in all); a job
  // whose process died is expired, and retried, after two minutes.
  await boss.createQueue(QUEUES.deliverNotification, {
    name: QUEUES.deliverNotification,
    retryLimit: NOTIFICATION_RETRY_LIMIT,
    retryDelay: 30,
    retryBackoff: true,
    expireInSeconds: 120,
  });
  await boss.createQueue(QUEUES.sweepNotifications, { name: QUEUES.sweepNotifications, retryLimit: 0 });
  await boss.createQueue(QUEUES.payoutSchedules, { name: QUEUES.payoutSchedules, retryLimit: 0 });
  await boss.createQueue(QUEUES.reminders, { name: QUEUES.reminders, retryLimit: 2, retryDelay: 60 });
}

/**
 * Creates the job queue's schema and queues as the database owner (MIGRATION_DATABASE_URL), so
 * a service role without DDL rights can then use them (src/db/roles.ts).
 */
export async function installJobQueue(database: Database): Promise<void> {
  const boss = new PgBoss({ db: adapterFor(database), schema: 'pgboss', supervise: false, schedule: false });
  await boss.start();
  await createQueues(boss);
  await boss.stop({ graceful: false, wait: true });
}

export async function startJobQueue(
  database: Database,
  handlers: JobHandlers,
  options: {
    workers: number;
    log: FastifyBaseLogger;
    migrate?: boolean;
    /** How long stop() lets pg-boss wait for running jobs before failing them (5 s; tests shorten it). */
    stopTimeoutMs?: number;
  },
): Promise<JobQueue> {
  const gate = stoppingGate(adapterFor(database), options.log);
  const boss = new PgBoss({
    db: gate.db,
    schema: 'pgboss',
    // False when the owner installed the schema and this role may not change it.
    migrate: options.migrate ?? true,
    // Keep finished jobs a week for inspection; pg-boss archives and deletes after that.
    archiveCompletedAfterSeconds: 24 * 3600,
    deleteAfterDays: 7,
    maintenanceIntervalSeconds: 120,
    monitorStateIntervalSeconds: 60,
  });
  boss.on('error', (error) => options.log.error({ err: error }, 'job queue error'));
  await boss.start();

  await createQueues(boss);

  if (options.workers > 0) {
    // pg-boss polls at most twice a second per worker, so each worker takes a batch and pays
    // its items side by side. A failed item is failed on its own (and retried with backoff);
    // pg-boss then completes only the jobs still active, the ones that succeeded.
    for (let i = 0; i < options.workers; i++) {
      await boss.work<PayoutItemJob>(QUEUES.payoutItem, { batchSize: 10, pollingIntervalSeconds: 0.5 }, (jobs) =>
        gate.run(async () => {
          const results = await Promise.allSettled(jobs.map((job) => handlers.payoutItem(job.data)));
          for (const [n, result] of results.entries()) {
            if (result.status === 'rejected') {
              const reason = result.reason instanceof Error ? result.reason : new Error(String(result.reason));
              await boss.fail(QUEUES.payoutItem, jobs[n]!.id, { message: reason.message });
            }
          }
        }),
      );
    }
    await boss.work<{ atStart?: boolean }>(QUEUES.sweepPayouts, ([job]) => gate.run(() => handlers.sweepPayouts({ atStart: job?.data?.atStart === true })));
    await boss.work(QUEUES.purgeIdempotencyKeys, () => gate.run(() => handlers.purgeIdempotencyKeys()));
    const deliver = handlers.deliverNotification;
    if (deliver) {
      // Several senders, one message each: a mail server slow to answer one message (up to the
      // send timeout) holds up that message alone, not a batch of others behind it.
      for (let i = 0; i < EMAIL_SENDERS; i++) {
        await boss.work<NotificationJob>(
          QUEUES.deliverNotification,
          { batchSize: 1, pollingIntervalSeconds: 0.5, includeMetadata: true },
          ([job]) =>
            gate.run(async () => {
              if (!job) return;
              try {
                await deliver(job.data, { lastAttempt: job.retryCount >= job.retryLimit });
              } catch (error) {
                const reason = error instanceof Error ? error : new Error(String(error));
                await boss.fail(QUEUES.deliverNotification, job.id, { message: reason.message });
              }
            }),
        );
      }
      await boss.work(QUEUES.sweepNotifications, () => gate.run(() => handlers.sweepNotifications()));
      await boss.schedule(QUEUES.sweepNotifications, '*/10 * * * *');
      await boss.send(QUEUES.sweepNotifications, {});
    }
    await boss.work(QUEUES.payoutSchedules, () => gate.run(() => handlers.payoutSchedules()));
    await boss.work(QUEUES.reminders, () => gate.run(() => handlers.reminders()));
    await boss.schedule(QUEUES.sweepPayouts, '*/5 * * * *');
    await boss.schedule(QUEUES.purgeIdempotencyKeys, '17 * * * *');
    // pg-boss's cron sends each of these once a minute across every instance; the handler
    // itself makes each schedule slot happen once (payout_schedule_slots).
    await boss.schedule(QUEUES.payoutSchedules, '* * * * *');
    await boss.schedule(QUEUES.reminders, '0 8 * * *', {}, { tz: 'Europe/London' });
    // A crash may have left money in transit with no job: pick it up at once.
    await boss.send(QUEUES.sweepPayouts, { atStart: true });
    // And a slot that came while no process ran is drafted now.
    await boss.send(QUEUES.payoutSchedules, {});
  }

  return {
    async enqueuePayoutItems(jobs, options = {}) {
      if (!jobs.length) return;
      await boss.insert(jobs.map((data) => ({ name: QUEUES.payoutItem, ...(options.fresh ? {} : { id: data.itemId }), data })));
    },
    async stop() {
      // Half of the process's 10 s grace (server.ts): a job still running after 5 s (a Stripe call
      // that has not answered) is marked failed and retried later, which is safe because every
      // transfer is idempotent, and the pool still has time to close before the grace runs out.
      await boss.stop({ graceful: true, wait: true, timeout: options.stopTimeoutMs ?? 5_000 });
      // Then what pg-boss does not wait for: a job fetched as it stopped, and the recording of
      // outcomes (stoppingGate). Up to 2 s more, still inside the grace.
      await gate.close(STOP_SETTLE_MS);
    },
  };
}
