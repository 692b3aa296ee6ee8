import type { FastifyBaseLogger } from 'fastify';
import PgBoss from 'pg-boss';
import type { Database } from '../db/client.js';

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
} as const;

export interface PayoutItemJob {
  organisationId: string;
  itemId: string;
}

export interface JobHandlers {
  /** Pays one Stripe item; throws to be retried with backoff. */
  payoutItem(job: PayoutItemJob): Promise<unknown>;
  /**
   * Re-queues Stripe items in transit without a recorded transfer: at start (after a crash)
   * all of them, later those idle for a while. `atStart` says which.
   */
  sweepPayouts(options: { atStart: boolean }): Promise<unknown>;
  purgeIdempotencyKeys(): Promise<unknown>;
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

export async function startJobQueue(
  database: Database,
  handlers: JobHandlers,
  options: { workers: number; log: FastifyBaseLogger },
): Promise<JobQueue> {
  const boss = new PgBoss({
    db: adapterFor(database),
    schema: 'pgboss',
    // Keep finished jobs a week for inspection; pg-boss archives and deletes after that.
    archiveCompletedAfterSeconds: 24 * 3600,
    deleteAfterDays: 7,
    maintenanceIntervalSeconds: 120,
    monitorStateIntervalSeconds: 60,
  });
  boss.on('error', (error) => options.log.error({ err: error }, 'job queue error'));
  await boss.start();

  // Retries back off 2 s, 4 s, 8 s … up to about an hour; the sweep requeues anything that
  // still has money in transit after that.
  // A job whose process died is expired (and retried) after two minutes, well past Stripe's timeout.
  await boss.createQueue(QUEUES.payoutItem, { name: QUEUES.payoutItem, retryLimit: 12, retryDelay: 2, retryBackoff: true, expireInSeconds: 120 });
  await boss.createQueue(QUEUES.sweepPayouts, { name: QUEUES.sweepPayouts, retryLimit: 0 });
  await boss.createQueue(QUEUES.purgeIdempotencyKeys, { name: QUEUES.purgeIdempotencyKeys, retryLimit: 0 });

  if (options.workers > 0) {
    // pg-boss polls at most twice a second per worker, so each worker takes a batch and pays
    // its items side by side. A failed item is failed on its own (and retried with backoff);
    // pg-boss then completes only the jobs still active, the ones that succeeded.
    for (let i = 0; i < options.workers; i++) {
      await boss.work<PayoutItemJob>(QUEUES.payoutItem, { batchSize: 10, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        const results = await Promise.allSettled(jobs.map((job) => handlers.payoutItem(job.data)));
        for (const [n, result] of results.entries()) {
          if (result.status === 'rejected') {
            const reason = result.reason instanceof Error ? result.reason : new Error(String(result.reason));
            await boss.fail(QUEUES.payoutItem, jobs[n]!.id, { message: reason.message });
          }
        }
      });
    }
    await boss.work<{ atStart?: boolean }>(QUEUES.sweepPayouts, async ([job]) => handlers.sweepPayouts({ atStart: job?.data?.atStart === true }));
    await boss.work(QUEUES.purgeIdempotencyKeys, async () => handlers.purgeIdempotencyKeys());
    await boss.schedule(QUEUES.sweepPayouts, '*/5 * * * *');
    await boss.schedule(QUEUES.purgeIdempotencyKeys, '17 * * * *');
    // A crash may have left money in transit with no job: pick it up at once.
    await boss.send(QUEUES.sweepPayouts, { atStart: true });
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
      await boss.stop({ graceful: true, wait: true, timeout: 5_000 });
    },
  };
}
