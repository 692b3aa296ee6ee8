/**
 * What the API shows of a payout schedule, and what it accepts: the schemas and the mapper from
 * the row, side by side so they cannot drift.
 */
import { z } from 'zod';
import type { payoutSchedules } from '../../db/schema.js';
import { payoutMethods, scheduleCadences, type PayoutMethod } from '../../domain/enums.js';
import { nextSlot } from '../../domain/payout-schedule.js';
import { UK_TIME_ZONE } from '../../domain/uk-time.js';
import { shown } from '../../lib/views.js';

type ScheduleRow = typeof payoutSchedules.$inferSelect;

/** "HH:MM" on a 24-hour clock, as the table's check constraint has it. */
export const scheduleTime = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be a 24-hour time written HH:MM, from 00:00 to 23:59');

export const payoutScheduleBody = z
  .strictObject({
    cadence: z.enum(scheduleCadences),
    weekday: z.number().int().min(1).max(7).optional().describe('1–7, Monday 1; required for weekly, not allowed for daily'),
    time: scheduleTime.describe('Europe/London wall-clock time'),
    methods: z
      .array(z.enum(payoutMethods))
      .min(1)
      .optional()
      .describe('Draft only items paid by these methods; every method when left out'),
  })
  .superRefine((body, ctx) => {
    if (body.cadence === 'weekly' && body.weekday === undefined) {
      ctx.addIssue({ code: 'custom', path: ['weekday'], message: 'is required for a weekly schedule (1–7, Monday 1)' });
    }
    if (body.cadence === 'daily' && body.weekday !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['weekday'], message: 'must be left out for a daily schedule' });
    }
  });
export type PayoutScheduleInput = z.infer<typeof payoutScheduleBody>;

export const payoutScheduleResponse = z.object({
  cadence: z.enum(scheduleCadences),
  weekday: z.number().int().nullable(),
  time: z.string(),
  methods: z.array(z.enum(payoutMethods)).nullable().describe('null: every method'),
  timeZone: z.literal(UK_TIME_ZONE),
  nextRunAt: z.iso.datetime().describe('The next slot at or after now: when the next run will be drafted'),
  updatedAt: z.iso.datetime(),
  updatedBy: z.string(),
});
export type PayoutScheduleResponse = z.infer<typeof payoutScheduleResponse>;

export function toPayoutScheduleResponse(row: ScheduleRow, now: Date): PayoutScheduleResponse {
  return shown(row, ['cadence', 'weekday', 'time', 'updatedAt', 'updatedBy'], {
    methods: (row.methods as PayoutMethod[] | null) ?? null,
    timeZone: UK_TIME_ZONE,
    nextRunAt: nextSlot(row, now).toISOString(),
  });
}
