/**
 * What the API shows of a budget: the response schema and the mapper from a row and its
 * ledger figures, side by side so they cannot drift.
 */
import { z } from 'zod';
import type { BudgetFigures, BudgetRow } from './service.js';

export const budgetResponse = z.object({
  id: z.string(),
  projectId: z.string(),
  name: z.string(),
  funder: z.string(),
  grantReference: z.string(),
  currency: z.string(),
  amount: z.number().int().describe('The amount granted at creation'),
  adjustments: z.number().int().describe('Money added (or removed) since'),
  total: z.number().int().describe('amount + adjustments'),
  committed: z.number().int().describe('Approved, not reversed earnings and expenses: owed, in transit or paid'),
  owed: z.number().int(),
  inTransit: z.number().int(),
  paid: z.number().int(),
  available: z.number().int().describe('total − committed'),
  startsOn: z.string(),
  endsOn: z.string(),
  rateCardId: z.string(),
  allowOverspend: z.boolean(),
  createdAt: z.iso.datetime(),
});
export type BudgetResponse = z.infer<typeof budgetResponse>;

export function toBudgetResponse(row: BudgetRow, figures: BudgetFigures): BudgetResponse {
  return {
    id: row.id,
    projectId: row.projectId,
    name: row.name,
    funder: row.funder,
    grantReference: row.grantReference,
    currency: row.currency,
    amount: row.amount,
    adjustments: figures.adjustments,
    total: figures.total,
    committed: figures.committed,
    owed: figures.owed,
    inTransit: figures.inTransit,
    paid: figures.paid,
    available: figures.available,
    startsOn: row.startsOn,
    endsOn: row.endsOn,
    rateCardId: row.rateCardId,
    allowOverspend: row.allowOverspend,
    createdAt: row.createdAt.toISOString(),
  };
}
