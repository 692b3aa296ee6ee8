/**
 * Which approved work each payout item pays (payout_item_work). An item takes money from a
 * contributor's owed accounts per budget and component; when its run is approved that money
 * is attributed to the work behind it, oldest work first, so an earnings limit with policy
 * split can pay part of an entry now and the rest in a later period. Reports read it for the
 * time from approval to payment; reversal reads it to refuse work whose money has left.
 *
 * An allocation counts while its item is processing or paid; a failed or canceled item's
 * allocations count for nothing, so that work is owed (and allocated) again.
 */
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from '../../db/client.js';
import type { Component } from '../../domain/enums.js';
import { toSafeNumber } from '../../domain/money.js';

const workTable = { earnings: 'time_entries', expenses: 'expenses' } as const;
const workType = { earnings: 'time_entry', expenses: 'expense' } as const;

interface Line {
  itemId: string;
  contributorId: string;
  budgetId: string;
  component: Component;
  amount: number;
}

interface Allocation {
  item_id: string;
  work_type: 'time_entry' | 'expense';
  work_id: string;
  budget_id: string;
  amount: number;
  /** Whether this allocation pays what was left of the work in full. */
  completes: boolean;
}

/**
 * Attributes each line's money to the contributor's unpaid work of that budget and component
 * that was approved by `draftedAt`, oldest first, and marks work paid in full as carried by
 * the item. In the caller's transaction; set-based, so a run of ten thousand people is
 * approved in seconds.
 */
export async function allocateWork(tx: Db, organisationId: string, lines: Line[], draftedAt: Date): Promise<void> {
  const allocations: Allocation[] = [];
  for (const component of ['earnings', 'expenses'] as const) {
    const wanted = lines.filter((l) => l.component === component && l.amount > 0);
    if (!wanted.length) continue;
    const pairs = [...new Set(wanted.map((l) => `${l.contributorId}|${l.budgetId}`))].map((key) => {
      const [contributor_id, budget_id] = key.split('|');
      return { contributor_id, budget_id };
    });
    const table = sql.raw(workTable[component]);
    const type = workType[component];
    const open = await queryRows<{ id: string; contributor_id: string; budget_id: string; remaining: string }>(tx, sql`
      select w.id, w.contributor_id, w.budget_id, w.amount - coalesce(taken.amount, 0) as remaining
        from jsonb_to_recordset(${JSON.stringify(pairs)}::jsonb) as p(contributor_id uuid, budget_id uuid)
        join ${table} w on w.organisation_id = ${organisationId} and w.contributor_id = p.contributor_id and w.budget_id = p.budget_id
        left join lateral (
          select sum(a.amount) as amount
            from payout_item_work a
            join payout_items i on i.organisation_id = a.organisation_id and i.id = a.item_id
           where a.organisation_id = w.organisation_id and a.work_type = ${type} and a.work_id = w.id
             and i.status in ('processing', 'paid')
        ) taken on true
       where w.status = 'approved' and w.amount > coalesce(taken.amount, 0)
         and w.decided_at <= ${draftedAt.toISOString()}::timestamptz
       order by w.contributor_id, w.budget_id, w.date, w.id`);
    const queue = new Map<string, { id: string; remaining: number }[]>();
    for (const row of open) {
      const key = `${row.contributor_id}|${row.budget_id}`;
      queue.set(key, [...(queue.get(key) ?? []), { id: row.id, remaining: toSafeNumber(row.remaining) }]);
    }
    for (const line of wanted) {
      let left = line.amount;
      for (const work of queue.get(`${line.contributorId}|${line.budgetId}`) ?? []) {
        if (left === 0) break;
        if (work.remaining === 0) continue;
        const amount = Math.min(left, work.remaining);
        work.remaining -= amount;
        left -= amount;
        allocations.push({ item_id: line.itemId, work_type: type, work_id: work.id, budget_id: line.budgetId, amount, completes: work.remaining === 0 });
      }
      // Money owed without work of its own behind it (returned by a partly reversed transfer)
      // is attributed to nothing: the ledger, not this table, holds the amounts.
    }
  }
  for (let i = 0; i < allocations.length; i += 5000) {
    const chunk = JSON.stringify(allocations.slice(i, i + 5000));
    await tx.execute(sql`
      insert into payout_item_work (organisation_id, item_id, work_type, work_id, budget_id, amount)
      select ${organisationId}, a.item_id, a.work_type, a.work_id, a.budget_id, a.amount
        from jsonb_to_recordset(${chunk}::jsonb) as a(item_id uuid, work_type text, work_id uuid, budget_id uuid, amount bigint)`);
    for (const component of ['earnings', 'expenses'] as const) {
      await tx.execute(sql`
        update ${sql.raw(workTable[component])} w set payout_item_id = a.item_id
          from jsonb_to_recordset(${chunk}::jsonb) as a(item_id uuid, work_type text, work_id uuid, completes boolean)
         where w.organisation_id = ${organisationId} and w.id = a.work_id
           and a.work_type = ${workType[component]} and a.completes`);
    }
  }
}

/** Whether any of a piece of work's money is in a payout that is on its way or paid. */
export async function workHasLeft(tx: Db, organisationId: string, type: 'time_entry' | 'expense', workId: string): Promise<boolean> {
  const rows = await queryRows(tx, sql`
    select 1 from payout_item_work a
      join payout_items i on i.organisation_id = a.organisation_id and i.id = a.item_id
     where a.organisation_id = ${organisationId} and a.work_type = ${type} and a.work_id = ${workId}
       and i.status in ('processing', 'paid')
     limit 1`);
  return rows.length > 0;
}
