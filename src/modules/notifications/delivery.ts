import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../../db/client.js';
import type { NotificationJob } from '../../jobs/queue.js';

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

/** Null without SMTP_URL: nothing is sent and messages stay queued. */
export function createNotificationSender(_options: NotificationSenderOptions): NotificationSender | null {
  return null; // TODO(helper: email delivery)
}
