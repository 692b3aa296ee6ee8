import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { startJobQueue } from '../../jobs/queue.js';
import { purgeSignInFailures } from '../auth/sign-in-limits.js';
import { purgeRevokedTokens } from '../users/service.js';
import { createNotificationSender, type NotificationSender } from '../notifications/delivery.js';
import { sendReminders } from '../notifications/reminders.js';
import { runDueSchedules } from './schedule.js';
import { pendingStripeItems } from './service.js';
import { createStripePayoutExecutor } from './stripe-payouts.js';

/**
 * After start-up, a Stripe item in transit without a transfer is swept back into the queue once
 * no attempt has touched it for this long: a job should have picked it up well before.
 */
export const SWEEP_IDLE_MS = 10 * 60_000;

/**
 * The background work: the payout pipeline, email delivery, payout schedules and reminders.
 * The payout pipeline in the background: once the app is ready it starts the job queue
 * (src/jobs/queue.ts) with the handlers that pay Stripe items and sweep up the ones a dead
 * process left, sets `app.jobs` to it, and stops it on close. The queue also runs the purge of
 * old idempotency keys, whose handler is the idempotency plugin's own.
 */
async function payoutJobsPlugin(app: FastifyInstance) {
  let sender: NotificationSender | null = null;
  app.addHook('onReady', async () => {
    const stripe = app.stripe;
    const executeItem = stripe
      ? createStripePayoutExecutor({
          db: app.db,
          stripe,
          now: app.now,
          log: app.log,
          maxRequestsPerSecond: app.config.stripe.maxRequestsPerSecond,
          gate: app.stripeGate,
        })
      : null;
    sender = createNotificationSender({
      db: app.db,
      mail: app.config.mail,
      baseUrl: app.config.publicUrl ?? `http://${app.config.host}:${app.config.port}`,
      now: app.now,
      log: app.log,
    });
    if (!sender) app.log.warn('SMTP_URL is not set: emails are kept queued and none are sent');
    app.jobs = await startJobQueue(
      app.database,
      {
        payoutItem: async ({ organisationId, itemId }) => {
          if (!executeItem) throw new Error('Stripe is not configured in this process');
          return executeItem(organisationId, itemId);
        },
        sweepPayouts: async ({ atStart }) => {
          // At start every item in transit without a transfer is work a dead process left;
          // later, only items no attempt has touched for a while.
          const items = await pendingStripeItems(app.db, app.now(), atStart ? 0 : SWEEP_IDLE_MS);
          await app.jobs.enqueuePayoutItems(
            items.map((i) => ({ organisationId: i.organisationId, itemId: i.id })),
            { fresh: true },
          );
          if (items.length) app.log.info({ count: items.length, atStart }, 'queued Stripe payout items still in transit');
        },
        // The hourly purge of what is kept only for a while: idempotency keys, sign-in failure
        // windows, revocations of tokens that have expired anyway.
        purgeIdempotencyKeys: async () => {
          await app.purgeIdempotencyKeys();
          await purgeSignInFailures(app.db, app.now());
          await purgeRevokedTokens(app.db, app.now());
        },
        deliverNotification: sender ? (job, attempt) => sender!.deliver(job, attempt) : null,
        sweepNotifications: async () => sender?.sweep(),
        payoutSchedules: async () => runDueSchedules(app.db, app.now(), app.log),
        reminders: async () => sendReminders(app.db, app.now()),
      },
      {
        workers: app.config.payoutWorkers,
        log: app.log,
        migrate: !(app.config.database.kind === 'postgres' && app.config.database.migrationUrl),
      },
    );
  });
  app.addHook('onClose', async () => {
    await app.jobs.stop();
    await sender?.close();
  });
}

export const payoutJobs = fp(payoutJobsPlugin, { name: 'payout-jobs', dependencies: ['database', 'idempotency'] });
