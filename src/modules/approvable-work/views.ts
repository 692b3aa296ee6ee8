/**
 * What every kind of approvable work shows of its lifecycle: its decisions and the ledger
 * transactions behind them. Each kind's views.ts spreads these beside its own fields.
 */
import { z } from 'zod';
import type { expenses, timeEntries } from '../../db/schema.js';
import { shown } from '../../lib/views.js';

type WorkRow = typeof timeEntries.$inferSelect | typeof expenses.$inferSelect;

export const workLifecycleFields = {
  rejectionReason: z.string().nullable(),
  reversalReason: z.string().nullable(),
  ledgerTransactionId: z.string().nullable().describe('The transaction that made the money owed, once approved'),
  reversalTransactionId: z.string().nullable(),
  decidedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
};

/** The lifecycle's columns, for each kind's view to show beside its own. */
export const workLifecycleColumns = ['rejectionReason', 'reversalReason', 'ledgerTransactionId', 'reversalTransactionId', 'decidedAt', 'createdAt'] as const;
