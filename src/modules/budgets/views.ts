/**
 * What the API shows of a budget: the response schema and the mapper from a row and its
 * ledger figures, side by side so they cannot drift.
 */
import { z } from 'zod';
import type { BudgetFigures, BudgetRow } from './service.js';
import { shown } from '../../lib/views.js';

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
// Named in the OpenAPI document (components.schemas.Budget), with an example of its money.
budgetResponse.register(z.globalRegistry, {
  id: 'Budget',
  description: 'A grant line, with its figures from the ledger in minor units (pence): 500000 is £5,000.00.',
  examples: [
    {
      id: '01a2c3d4-0000-7000-8000-000000000001',
      projectId: '01a2c3d4-0000-7000-8000-000000000002',
      name: 'Lived experience panel 2026-27',
      funder: 'Community Fund',
      grantReference: 'CF-2026-0142',
      currency: 'GBP',
      amount: 500000,
      adjustments: 25000,
      total: 525000,
      committed: 13500,
      owed: 3500,
      inTransit: 0,
      paid: 10000,
      available: 511500,
      startsOn: '2026-04-01',
      endsOn: '2027-03-31',
      rateCardId: '01a2c3d4-0000-7000-8000-000000000003',
      allowOverspend: false,
      createdAt: '2026-03-20T10:15:00.000Z',
    },
  ],
});
export type BudgetResponse = z.infer<typeof budgetResponse>;

const columns = ['id', 'projectId', 'name', 'funder', 'grantReference', 'currency', 'amount', 'startsOn', 'endsOn', 'rateCardId', 'allowOverspend', 'createdAt'] as const;

export function toBudgetResponse(row: BudgetRow, figures: BudgetFigures): BudgetResponse {
  return shown(row, columns, shown(figures, ['adjustments', 'total', 'committed', 'owed', 'inTransit', 'paid', 'available']));
}
