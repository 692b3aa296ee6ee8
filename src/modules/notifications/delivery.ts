import type { FastifyBaseLogger } from 'fastify';
import { and, eq, isNull, lte, or, sql } from 'drizzle-orm';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import shared from 'nodemailer/lib/shared/index.js';
import { queryRows, type Db } from '../../db/client.js';
import { notifications, users } from '../../db/schema.js';
import { insertJobsIn, QUEUES, type NotificationJob } from '../../jobs/queue.js';
import { newId } from '../../lib/ids.js';
import { withoutEmails } from '../../lib/log-redaction.js';
import { renderEmail } from './messages.js';
import { wantsEmail } from './outbox.js';

/**
 * Sends the outbox's messages over SMTP, each at most once.
 *
 * How "at most once" is kept, and where SMTP itself stops it being exactly once:
 *
 * 1. A lease. Before talking to the mail server a sender claims the message in one short
 *    statement of its own (status still `queued`, `claimed_until` empty or past → now + twice
 *    MAIL_SEND_TIMEOUT_SECONDS, attempts + 1). PostgreSQL re-checks the condition on the row it
 *    locks, so of two senders racing for a message exactly one gets it; the other sees a live
 *    claim and its job is tried again later. No database transaction is held open while SMTP
 *    talks (on PGlite there is only one connection, and on PostgreSQL it would pin one).
 *
 * 2. The conversation ends before the lease does. Each SMTP step has the send timeout (connect,
 *    greeting, every reply), and the whole conversation a hard deadline a quarter of the lease
 *    before it runs out, after which the connection is cut. A mail server takes responsibility
 *    for a message only when it answers 250 to the end of its data; a connection cut before that
 *    answer leaves nothing delivered (RFC 5321 §4.1.1.4, §6.1). So by the time a lease has run
 *    out, the sender that held it has either recorded `sent`, or its message was never accepted.
 *
 * 3. A sender that dies (SIGKILL, power cut) mid-conversation closes its connection with it: the
 *    server never answered 250, so it delivers nothing, and the message keeps its claim until
 *    the lease runs out. Then the start-up sweep of the next process (or the job's own retry)
 *    claims it again and sends it, once. A message already recorded `sent` or `failed` is never
 *    touched again: `deliver` does nothing and `sweep` does not select it.
 *
 * What remains is SMTP's own window (RFC 1047): the server has accepted the message (said 250)
 * and the sender dies, or loses the database, before it records `sent`. Nothing a client can do
 * closes it: the server has the message and the client cannot know it. The message is then sent
 * again once the lease runs out. It carries the same Message-ID (`<notification id@host of
 * PUBLIC_URL>`) every time, so the copy is recognisable (and dropped by mail systems that
 * de-duplicate by Message-ID). The window is the time of one database write, and recording
 * `sent` is retried within the lease to keep it that short. Two more assumptions, stated so they
 * can be checked: the clocks of processes sharing a database agree to well within the send
 * timeout (claims are compared across processes), and a process is not frozen (a paused VM) for
 * longer than the lease between the server's 250 and its write of `sent`.
 */

/** Sends the outbox's messages over SMTP (see createNotificationSender). */
export interface NotificationSender {
  /** Sends one message; throws to be retried. On the last attempt a failure is recorded. */
  deliver(job: NotificationJob, attempt: { lastAttempt: boolean }): Promise<unknown>;
  /** Queues a delivery job for messages still queued whose job is gone. */
  sweep(): Promise<unknown>;
  close(): Promise<void>;
}

export interface NotificationSenderOptions {
  db: Db;
  mail: { smtpUrl?: string; from: string; sendTimeoutMs: number };
  /** Links in messages start with this (PUBLIC_URL, else the address the server listens on). */
  baseUrl: string;
  now: () => Date;
  log: FastifyBaseLogger;
}

/** What deliver did with a message it did not throw for. */
export type DeliveryOutcome = 'sent' | 'failed' | 'already_sent' | 'already_failed' | 'missing';

/** How many queued messages one pass of the sweep looks at. */
const SWEEP_BATCH = 500;

/** An SMTP error that no retry will mend: the server refused the address or the message for good (5xx). */
function isPermanent(error: unknown): boolean {
  const e = error as { code?: unknown; responseCode?: unknown };
  if (e.code !== 'EENVELOPE' && e.code !== 'EMESSAGE') return false;
  return typeof e.responseCode !== 'number' || (e.responseCode >= 500 && e.responseCode < 600);
}

/**
 * A short, single-line reason for the record and the log (no stack, no message body). Without
 * the recipient's address: mail servers name it in their refusals ("550 <someone@…>: Recipient
 * address rejected"), and neither the log nor the outbox's record is a place to keep it.
 */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return withoutEmails(message.replace(/\s+/g, ' ')).slice(0, 500);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A message that could not be sent within this long after it was written is not sent at all. */
export const MAX_MESSAGE_AGE_MS = 3 * 86_400_000;

/** Null without SMTP_URL: nothing is sent and messages stay queued. */
export function createNotificationSender(options: NotificationSenderOptions): NotificationSender | null {
  const { smtpUrl, from, sendTimeoutMs } = options.mail;
  if (!smtpUrl) return null;
  const { db, log } = options;
  // The connection as nodemailer's own transports read an SMTP URL (credentials, smtps, ?options).
  const { auth, ...connectionOptions } = shared.parseConnectionUrl(smtpUrl);
  const server: SMTPConnection.Options = {
    ...connectionOptions,
    connectionTimeout: sendTimeoutMs,
    greetingTimeout: sendTimeoutMs,
    socketTimeout: sendTimeoutMs,
    dnsTimeout: sendTimeoutMs,
  };
  const { user, pass } = (auth ?? {}) as { user?: string; pass?: string };
  const credentials: SMTPConnection.AuthenticationCredentials | null = user && pass ? { credentials: { user, pass } } : null;
  const messageHost = new URL(options.baseUrl).hostname || 'localhost';
  const leaseMs = 2 * sendTimeoutMs;
  /** Connections still talking, cut on close. */
  const open = new Set<SMTPConnection>();
  /** Waits (the sweep's) that close ends early. */
  const waits = new Set<() => void>();
  let closed = false;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        waits.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      waits.add(wake);
    });

  /**
   * One SMTP conversation on a connection of its own, cut at `deadlineMs` (real time) if it has
   * not finished: a cut before the server's 250 leaves nothing delivered.
   */
  function converse(envelope: SMTPConnection.Envelope, raw: Buffer, deadlineMs: number): Promise<SMTPConnection.SentMessageInfo> {
    const connection = new SMTPConnection(server);
    open.add(connection);
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (error: Error | null, info?: SMTPConnection.SentMessageInfo) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        open.delete(connection);
        connection.close();
        if (error) reject(error);
        else resolve(info!);
      };
      const timer = setTimeout(
        () =>
          finish(
            Object.assign(new Error(`The mail server had not accepted the message within ${Math.round(deadlineMs)} ms; the connection was cut`), {
              code: 'ETIMEDOUT',
            }),
          ),
        deadlineMs,
      );
      // `on`, not `once`: a second error event with no listener would crash the process.
      connection.on('error', (error: Error) => finish(error));
      connection.once('end', () => finish(new Error('The mail server closed the connection before accepting the message')));
      connection.connect((error?: Error) => {
        if (error) return finish(error);
        const send = () => connection.send(envelope, raw, (err, info) => finish(err, info));
        // As nodemailer's transport does: log in when given credentials and the server offers AUTH.
        const offersAuth = (connection as SMTPConnection & { allowsAuth?: boolean }).allowsAuth;
        if (credentials && offersAuth) connection.login(credentials, (err) => (err ? finish(err) : send()));
        else send();
      });
    });
  }

  /** Claims a queued message nobody holds. Returns it, or null when it is not there to claim. */
  async function claim(job: NotificationJob) {
    const now = options.now();
    const [row] = await db
      .update(notifications)
      .set({ claimedUntil: new Date(now.getTime() + leaseMs), attempts: sql`${notifications.attempts} + 1` })
      .where(
        and(
          eq(notifications.organisationId, job.organisationId),
          eq(notifications.id, job.notificationId),
          eq(notifications.status, 'queued'),
          or(isNull(notifications.claimedUntil), lte(notifications.claimedUntil, now)),
        ),
      )
      .returning();
    return row ?? null;
  }

  /**
   * A link's fragment carries a one-time secret (a password reset's code) only until the message
   * is sent or given up: then it is dropped, so the outbox keeps no usable secret.
   */
  const linkWithoutSecret = sql<string>`split_part(${notifications.link}, '#', 1)`;

  /** A change to a message this sender still holds (its claim is exactly `lease`). */
  const held = (job: NotificationJob, lease: Date) =>
    and(
      eq(notifications.organisationId, job.organisationId),
      eq(notifications.id, job.notificationId),
      eq(notifications.status, 'queued'),
      eq(notifications.claimedUntil, lease),
    );

  async function recordFailure(job: NotificationJob, lease: Date, reason: string) {
    await db.update(notifications).set({ status: 'failed', claimedUntil: null, lastError: reason, link: linkWithoutSecret }).where(held(job, lease));
  }

  /**
   * Records that the server accepted the message. Tried again a few times within the lease: until
   * it is written, a sender coming after the lease would send the message again.
   */
  async function recordSent(job: NotificationJob, lease: Date) {
    if (options.now() > lease) {
      log.error({ notificationId: job.notificationId }, 'email was accepted after its lease ran out: it may be sent twice');
    }
    for (let attempt = 1; ; attempt++) {
      try {
        // Only while still queued: whoever holds it now, the server has this message.
        await db
          .update(notifications)
          .set({ status: 'sent', sentAt: options.now(), claimedUntil: null, lastError: null, link: linkWithoutSecret })
          .where(and(eq(notifications.organisationId, job.organisationId), eq(notifications.id, job.notificationId), eq(notifications.status, 'queued')));
        return;
      } catch (error) {
        if (attempt >= 3 || options.now().getTime() + 250 * attempt >= lease.getTime()) {
          log.error({ err: error, notificationId: job.notificationId }, 'email was sent but could not be recorded: it will be sent again');
          throw error;
        }
        await sleep(250 * attempt);
      }
    }
  }

  /**
   * Why a message for a user is no longer wanted: the user has since turned the kind off, been
   * disabled, or gone. Messages wait in the outbox (for SMTP_URL, for a retry), and a person's
   * choice made in the meantime is respected. Null when it should be sent.
   */
  async function notWanted(message: typeof notifications.$inferSelect): Promise<string | null> {
    // News this old helps nobody and may mislead ("waiting for approval" of a run long since
    // approved): the pages say how things stand now. This also keeps a demo's history unsent.
    if (options.now().getTime() - message.createdAt.getTime() > MAX_MESSAGE_AGE_MS) {
      return `Not sent: more than ${MAX_MESSAGE_AGE_MS / 86_400_000} days old by the time it could be sent`;
    }
    if (!message.userId) return null;
    const [user] = await db
      .select({ disabledAt: users.disabledAt, preferences: users.notificationPreferences })
      .from(users)
      .where(and(eq(users.organisationId, message.organisationId), eq(users.id, message.userId)));
    if (!user) return 'Not sent: the user no longer exists';
    if (user.disabledAt) return "Not sent: the user's log-in was disabled before it went";
    if (!wantsEmail(user.preferences, message.kind)) return 'Not sent: the user turned this kind of email off before it went';
    return null;
  }

  async function deliver(job: NotificationJob, { lastAttempt }: { lastAttempt: boolean }): Promise<DeliveryOutcome> {
    if (closed) throw new Error('The email sender is closed');
    const message = await claim(job);
    if (!message) {
      const [row] = await db
        .select({ status: notifications.status, claimedUntil: notifications.claimedUntil })
        .from(notifications)
        .where(and(eq(notifications.organisationId, job.organisationId), eq(notifications.id, job.notificationId)));
      if (!row) return 'missing';
      if (row.status === 'sent') return 'already_sent';
      if (row.status === 'failed') return 'already_failed';
      // Another sender holds it: this job tries again later (by then it is sent, or free).
      throw new Error(`Notification ${job.notificationId} is being sent by another sender until ${row.claimedUntil?.toISOString()}`);
    }
    const lease = message.claimedUntil!;

    const unwanted = await notWanted(message);
    if (unwanted) {
      await recordFailure(job, lease, unwanted);
      return 'failed';
    }

    // The conversation must end a quarter of the lease before the lease does (see the top).
    const deadlineMs = lease.getTime() - options.now().getTime() - leaseMs / 4;
    try {
      if (deadlineMs <= 0) throw new Error('The claim took too long to make: not sent, tried again later');
      const email = renderEmail(message.kind, message.data, message.link, options.baseUrl, message.userId !== null);
      const mime = new MailComposer({
        from,
        to: message.toAddress,
        subject: email.subject,
        text: email.text,
        html: email.html,
        // The same id on every attempt, so a copy sent in SMTP's own window is recognisable.
        messageId: `<${message.id}@${messageHost}>`,
        // RFC 3834: an automatic message, so out-of-office replies are not sent back to it.
        headers: { 'Auto-Submitted': 'auto-generated' },
      }).compile();
      const raw = await mime.build();
      await converse(mime.getEnvelope() as SMTPConnection.Envelope, raw, deadlineMs);
    } catch (error) {
      const reason = reasonOf(error);
      if (lastAttempt || isPermanent(error)) {
        await recordFailure(job, lease, reason);
        log.warn({ notificationId: message.id, kind: message.kind, attempts: message.attempts, reason }, 'email could not be sent: recorded as failed');
        return 'failed';
      }
      // Free it at once for the retry (pg-boss's backoff decides when), keeping why it failed.
      await db.update(notifications).set({ claimedUntil: null, lastError: reason }).where(held(job, lease));
      // The job queue keeps the message of what is thrown: the reason, without the address.
      throw new Error(reason, { cause: error });
    }
    await recordSent(job, lease);
    log.info({ notificationId: message.id, kind: message.kind }, 'email sent');
    return 'sent';
  }

  /**
   * Queued messages that no pending job (created, or waiting to retry) will send: queued while
   * the delivery queue did not exist yet, whose job pg-boss dropped (jobs waiting longer than its
   * retention, 14 days), whose last attempt found another sender holding them, or whose sender
   * died with the job still active. An active job is not counted as pending: its process may be
   * dead, and pg-boss would only expire it after two minutes; a sender that is alive holds a
   * claim, which the sweep respects. Extra jobs are harmless: only one of them can claim.
   */
  async function orphans(ids?: string[]) {
    return queryRows<{ organisationId: string; notificationId: string; claimedUntil: Date | string | null }>(
      db,
      sql`select n.organisation_id as "organisationId", n.id as "notificationId", n.claimed_until as "claimedUntil"
          from notifications n
          where n.status = 'queued'
            ${ids ? sql`and n.id in (${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})` : sql``}
            and not exists (
              select 1 from pgboss.job j
              where j.name = ${QUEUES.deliverNotification}
                and j.state in ('created', 'retry')
                and j.data->>'notificationId' = n.id::text
            )
          order by n.created_at
          limit ${SWEEP_BATCH}`,
    );
  }

  /** Fresh jobs (new ids: the message's first job may still exist, finished). */
  async function requeue(messages: { organisationId: string; notificationId: string }[]) {
    await insertJobsIn(
      db,
      QUEUES.deliverNotification,
      messages.map(({ organisationId, notificationId }) => ({ id: newId(), data: { organisationId, notificationId } })),
    );
    return messages.length;
  }

  async function sweep(): Promise<{ requeued: number }> {
    const [queue] = await queryRows<{ ok: boolean }>(db, sql`select to_regclass('pgboss.job') is not null as ok`);
    if (!queue?.ok) return { requeued: 0 };
    let requeued = 0;
    const claimed: { organisationId: string; notificationId: string; claimedUntil: Date }[] = [];
    for (let pass = 0; pass < 20; pass++) {
      const batch = await orphans();
      const now = options.now();
      const free = batch.filter((m) => !m.claimedUntil || new Date(m.claimedUntil) <= now);
      for (const m of batch) if (m.claimedUntil && new Date(m.claimedUntil) > now) claimed.push({ ...m, claimedUntil: new Date(m.claimedUntil) });
      requeued += await requeue(free);
      if (batch.length < SWEEP_BATCH || !free.length) break;
    }
    // Messages claimed by a sender that may be dead (the start-up sweep after a crash finds the
    // claims of the process that died): wait out the lease, at most one, then take the ones still
    // queued and free. A live sender has finished by then, or freed the message for its retry.
    if (claimed.length && !closed) {
      const until = Math.max(...claimed.map((m) => m.claimedUntil.getTime()));
      await pause(Math.min(leaseMs, Math.max(0, until - options.now().getTime())) + 50);
      if (closed) return { requeued };
      const now = options.now();
      const still = (await orphans(claimed.map((m) => m.notificationId))).filter((m) => !m.claimedUntil || new Date(m.claimedUntil) <= now);
      requeued += await requeue(still);
    }
    if (requeued) log.info({ count: requeued }, 'queued emails that had no delivery job');
    return { requeued };
  }

  return {
    deliver,
    sweep,
    async close() {
      closed = true;
      // A conversation still open has not been accepted (no 250 yet): cutting it delivers nothing,
      // and the message is sent again once its lease runs out.
      for (const connection of open) connection.close();
      open.clear();
      for (const wake of [...waits]) wake();
    },
  };
}
