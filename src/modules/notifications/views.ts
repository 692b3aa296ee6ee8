/**
 * What the API shows of the email outbox and of a user's email choices: the response schemas
 * (which also document them in the OpenAPI document) and the mappers from the rows, side by
 * side. Never the address or the body of a message: those are the recipient's.
 */
import { z } from 'zod';
import type { notifications } from '../../db/schema.js';
import { notificationKinds, notificationStatuses, type NotificationKind } from '../../domain/enums.js';
import { canTurnOff, wantsEmail } from './outbox.js';
import { shown } from '../../lib/views.js';

export const notificationKindEnum = z.enum(notificationKinds);
export const notificationStatusEnum = z.enum(notificationStatuses);

/** The columns a notification's response is made of. */
export type NotificationRow = Pick<
  typeof notifications.$inferSelect,
  'id' | 'userId' | 'contributorId' | 'kind' | 'status' | 'attempts' | 'lastError' | 'createdAt' | 'sentAt'
>;

export const notificationResponse = z.object({
  id: z.string(),
  /** The user it is for; null for a contributor without a log-in (written to at their own address). */
  userId: z.string().nullable(),
  contributorId: z.string().nullable(),
  kind: notificationKindEnum,
  status: notificationStatusEnum,
  /** Tries so far. */
  attempts: z.number().int(),
  /** Why the last try failed (the mail server's answer), or why it was not sent; null once sent. */
  lastError: z.string().nullable(),
  createdAt: z.iso.datetime(),
  sentAt: z.iso.datetime().nullable(),
});
export type NotificationResponse = z.infer<typeof notificationResponse>;

export function toNotificationResponse(row: NotificationRow): NotificationResponse {
  return shown(row, ['id', 'userId', 'contributorId', 'kind', 'status', 'attempts', 'lastError', 'createdAt', 'sentAt']);
}

/** Every kind with whether this user gets it: their choice, else the kind's default. */
export const preferencesResponse = z.object({
  email: z.object(Object.fromEntries(notificationKinds.map((kind) => [kind, z.boolean()])) as Record<NotificationKind, z.ZodBoolean>),
});
export type PreferencesResponse = z.infer<typeof preferencesResponse>;

/**
 * A change to some kinds; the kinds left out keep what they were. Unknown kinds are refused, and
 * so is turning off a kind that warns of a change to where money goes (outbox.ts ALWAYS_SENT).
 */
export const preferencesBody = z.strictObject({
  email: z.partialRecord(notificationKindEnum, z.boolean()).superRefine((choices, ctx) => {
    for (const [kind, on] of Object.entries(choices)) {
      if (on === false && !canTurnOff(kind as NotificationKind)) {
        ctx.addIssue({ code: 'custom', path: [kind], message: 'cannot be turned off: it warns you if someone changes where your money goes' });
      }
    }
  }),
});

export function toPreferencesResponse(stored: Partial<Record<NotificationKind, boolean>>): PreferencesResponse {
  return { email: Object.fromEntries(notificationKinds.map((kind) => [kind, wantsEmail(stored, kind)])) as Record<NotificationKind, boolean> };
}
