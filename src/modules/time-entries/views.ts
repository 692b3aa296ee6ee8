/**
 * What the API shows of a time entry: the response schema (which also documents it in the
 * OpenAPI document) and the mapper from a database row, side by side so they cannot drift.
 */
import { z } from 'zod';
import { workLifecycleColumns, workLifecycleFields } from '../approvable-work/views.js';
import type { timeEntries } from '../../db/schema.js';
import { activities, contributorKinds, entryStatuses } from '../../domain/enums.js';
import { shown } from '../../lib/views.js';

export type TimeEntryRow = typeof timeEntries.$inferSelect;

export const timeEntryQuote = z.object({
  amount: z.number().int(),
  value: z.number().int(),
  withheld: z.number().int(),
  currency: z.string(),
  rateCardVersion: z.number().int().nullable(),
  explanation: z.array(z.string()),
  warnings: z.array(z.string()),
});
// Named in the OpenAPI document (components.schemas.Quote), with an example.
timeEntryQuote.register(z.globalRegistry, {
  id: 'Quote',
  description: 'What a piece of time is worth and why: `value` at its rate, `amount` what will be owed, in minor units (pence).',
  examples: [
    {
      amount: 3500,
      value: 3500,
      withheld: 0,
      currency: 'GBP',
      rateCardVersion: 1,
      explanation: [
        'Rate card version 1: meeting rate for lived experience contributors, £20.00 per hour',
        '95 minutes rounded up to 105 (rounding to 15-minute steps)',
        '£20.00 × 105 minutes / 60 = £35.00',
      ],
      warnings: [],
    },
  ],
});

export const timeEntryResponse = z.object({
  id: z.string(),
  contributorId: z.string(),
  budgetId: z.string(),
  sessionId: z.string().nullable(),
  activity: z.enum(activities),
  date: z.string(),
  minutes: z.number().int(),
  note: z.string().nullable(),
  status: z.enum(entryStatuses),
  currency: z.string(),
  value: z.number().int().describe('The time at its rate'),
  amount: z.number().int().describe('What is (or, while submitted, would be) owed'),
  withheld: z.number().int().describe('Held back by an earnings limit with policy split'),
  inKind: z.boolean(),
  declined: z.boolean(),
  flagged: z.boolean().describe('Approved over an earnings limit with policy warn'),
  possibleDuplicateOf: z
    .string()
    .nullable()
    .describe('An entry with the same contributor, date, activity and minutes recorded less than a minute before this one, by a request without an Idempotency-Key: check before approving both'),
  limitOutcome: z.string().nullable(),
  rateCardVersion: z.number().int().nullable(),
  contributorKind: z.enum(contributorKinds).nullable().describe("The contributor's kind when the entry was approved"),
  warnings: z.array(z.string()).describe('What to notice: the budget running low, an earnings limit the payout run will apply'),
  quote: timeEntryQuote,
  ...workLifecycleFields,
});
timeEntryResponse.register(z.globalRegistry, { id: 'TimeEntry' });
export type TimeEntryResponse = z.infer<typeof timeEntryResponse>;

const columns = [
  ...['id', 'contributorId', 'budgetId', 'sessionId', 'activity', 'date', 'minutes', 'note', 'status', 'currency', 'value', 'amount', 'withheld'],
  ...['inKind', 'declined', 'flagged', 'possibleDuplicateOf', 'limitOutcome', 'rateCardVersion', 'contributorKind', 'warnings', ...workLifecycleColumns],
] as const;
const quoteColumns = ['amount', 'value', 'withheld', 'currency', 'rateCardVersion', 'explanation', 'warnings'] as const;

export function toTimeEntryResponse(row: TimeEntryRow): TimeEntryResponse {
  return shown(row, columns, { quote: shown(row, quoteColumns) });
}
