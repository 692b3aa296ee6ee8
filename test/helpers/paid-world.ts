import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { checkedCall, createTestOrg, type TestOrg } from './app.js';

/**
 * A new organisation with its people (two finance users, so that one drafts a payout run and the
 * other approves it, a coordinator and a reporter), `call` asserting statuses, and helpers that
 * record work as the coordinator and approve it, each returning the approved item's id.
 */
export async function paidWorld(t: Test, app: FastifyInstance) {
  const org: TestOrg = await createTestOrg(app);
  const finance = await org.as('finance');
  const finance2 = await org.as('finance');
  const coordinator = await org.as('coordinator');
  const reporter = await org.as('reporter');
  const call = checkedCall(t, app);
  const time = async (contributorId: string, budgetId: string, date: string, minutes: number) => {
    const entry = await call('POST', '/v1/time-entries', coordinator, { contributorId, budgetId, activity: 'meeting', date, minutes });
    return (await call('POST', `/v1/time-entries/${entry.id}/approve`, coordinator)).id as string;
  };
  const expense = async (contributorId: string, budgetId: string, date: string, amount: number) => {
    const created = await call('POST', '/v1/expenses', coordinator, { contributorId, budgetId, category: 'travel', amount, date, receiptReference: 'R' });
    return (await call('POST', `/v1/expenses/${created.id}/approve`, coordinator)).id as string;
  };
  return { org, finance, finance2, coordinator, reporter, call, time, expense };
}
