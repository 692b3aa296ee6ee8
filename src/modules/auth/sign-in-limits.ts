import { createHash } from 'node:crypto';
import { inArray, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { signInFailures } from '../../db/schema.js';
import { AppError } from '../../errors.js';

/**
 * Failed sign-ins are limited per account (across every address) and per client address
 * (across every account), in the database so the limits hold however many instances serve the
 * API. A window is one minute from its first failure. Only failures count: a person who signs
 * in correctly is never slowed by it, and an attacker cannot lock a user out by signing in as
 * them from elsewhere successfully (they would need the password, which is the point).
 *
 * The per-account limit means someone guessing one account's password from many addresses is
 * stopped too; its cost is that they can keep that account's owner out for as long as they keep
 * failing. That is the trade OWASP describes; the window is short (a minute), so the owner gets
 * in soon after the guessing stops.
 */
export const WINDOW_MS = 60_000;

/**
 * The counters' keys. Emails and client addresses are personal data, so the table holds their
 * SHA-256 digests, not the values (docs/personal-data.md): it can count, never tell.
 */
export const signInKeys = (email: string, address: string) => [accountKey(email), `address:${digest(address)}`];

/** The counter of one account's failures (erasure clears it). */
export const accountKey = (email: string) => `account:${digest(email.trim().toLowerCase())}`;

const digest = (value: string) => createHash('sha256').update(value).digest('hex');

/** Throws 429 rate_limited (with the seconds to wait) if any key has used up its window. */
export async function assertMaySignIn(db: Db, keys: string[], limit: number, now: Date): Promise<void> {
  const rows = await db.select().from(signInFailures).where(inArray(signInFailures.key, keys));
  const blocked = rows.filter((r) => r.failures >= limit && now.getTime() - r.windowStart.getTime() < WINDOW_MS);
  if (!blocked.length) return;
  const until = Math.max(...blocked.map((r) => r.windowStart.getTime() + WINDOW_MS));
  throw new AppError('rate_limited', 'Too many failed attempts to sign in. Wait a minute, then try again.', {
    retryAfterSeconds: Math.max(1, Math.ceil((until - now.getTime()) / 1000)),
  });
}

/** Counts a failure against every key, starting a new window where the old one has passed. */
export async function recordSignInFailure(db: Db, keys: string[], now: Date): Promise<void> {
  const expired = new Date(now.getTime() - WINDOW_MS);
  for (const key of keys) {
    await db
      .insert(signInFailures)
      .values({ key, windowStart: now, failures: 1 })
      .onConflictDoUpdate({
        target: signInFailures.key,
        set: {
          failures: sql`case when ${signInFailures.windowStart} <= ${expired} then 1 else ${signInFailures.failures} + 1 end`,
          windowStart: sql`case when ${signInFailures.windowStart} <= ${expired} then ${now} else ${signInFailures.windowStart} end`,
        },
      });
  }
}

/** Drops windows long past (run by the hourly purge). */
export async function purgeSignInFailures(db: Db, now: Date): Promise<void> {
  await db.delete(signInFailures).where(sql`${signInFailures.windowStart} < ${new Date(now.getTime() - WINDOW_MS)}`);
}
