/**
 * Report rollups: approved work summed per organisation, currency, budget, contributor, kind
 * recorded on the work and calendar month of the work's date (report_work_months, see
 * src/db/schema.ts). Triggers on time_entries and expenses (migration 0012) keep them in the
 * transaction that approves, reverses or changes the work, whichever path writes it; reports
 * read whole months from them and a range's partial months from the entries (see
 * reports/service.ts). Work dates are Europe/London calendar dates already, so a month is a
 * calendar month of them.
 *
 * Per contributor, so distinct contributors stay exact: a contributor counts in a range when
 * their work in it sums to more than nothing, which the rows of whole months say exactly.
 *
 * rebuildRollups recomputes an organisation's rows from the entries (`npm run cli --
 * rebuild-rollups`), for a database whose triggers were off or whose rows were edited by hand.
 */
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Db } from '../../db/client.js';
import { inTransaction } from '../../db/tx.js';

/** One rollup row as SQL returns it (figures as text). */
export interface RollupRow {
  organisation_id: string;
  currency: string;
  budget_id: string;
  contributor_id: string;
  kind: string;
  month: string;
  time_entries: string;
  minutes: string;
  paid_minutes: string;
  earned: string;
  in_kind: string;
  declined: string;
  expense_count: string;
  expenses: string;
}

const KEY = ['organisation_id', 'currency', 'budget_id', 'contributor_id', 'kind', 'month'] as const;
const FIGURES = ['time_entries', 'minutes', 'paid_minutes', 'earned', 'in_kind', 'declined', 'expense_count', 'expenses'] as const;
const COLUMNS = sql.raw([...KEY, ...FIGURES].join(', '));
/** Columns of `alias`, comma-separated. */
const aliased = (alias: string, columns: readonly string[]) => sql.raw(columns.map((c) => `${alias}.${c}`).join(', '));
/** The key's columns, aliased by `alias`, the month as text (YYYY-MM-DD), for reading back. */
const keyOut = (alias: string) => sql.raw(KEY.map((c) => (c === 'month' ? `${alias}.month::text as month` : `${alias}.${c}`)).join(', '));
const figuresOut = (alias: string) => aliased(alias, FIGURES);

/** The rows an organisation's approved work says the rollup should hold (the migration fills it the same way). */
export function expectedRollupSql(organisationId: string): SQL {
  return sql`
    select organisation_id, currency, budget_id, contributor_id, kind, month,
           sum(time_entries)::integer as time_entries, sum(minutes)::bigint as minutes, sum(paid_minutes)::bigint as paid_minutes,
           sum(earned)::bigint as earned, sum(in_kind)::bigint as in_kind, sum(declined)::bigint as declined,
           sum(expense_count)::integer as expense_count, sum(expenses)::bigint as expenses
      from (
        select organisation_id, currency, budget_id, contributor_id, coalesce(contributor_kind, '') as kind,
               date - extract(day from date)::integer + 1 as month,
               1 as time_entries, minutes::bigint as minutes,
               (case when in_kind or declined then 0 else minutes end)::bigint as paid_minutes, amount as earned,
               case when in_kind then value else 0 end as in_kind, case when declined then value else 0 end as declined,
               0 as expense_count, 0::bigint as expenses
          from time_entries where organisation_id = ${organisationId} and status = 'approved'
        union all
        select organisation_id, currency, budget_id, contributor_id, coalesce(contributor_kind, ''),
               date - extract(day from date)::integer + 1, 0, 0, 0, 0, 0, 0, 1, amount
          from expenses where organisation_id = ${organisationId} and status = 'approved'
      ) x
     group by organisation_id, currency, budget_id, contributor_id, kind, month`;
}

const rowText = (r: object) => [...KEY, ...FIGURES].map((c) => String((r as Record<string, unknown>)[c])).join('|');
const keyText = (r: object) => KEY.map((c) => String((r as Record<string, unknown>)[c])).join('|');

/** An organisation's rollup rows, in key order, as text (for comparing). */
export async function rollupRows(db: Db, organisationId: string): Promise<string[]> {
  const rows = await queryRows<RollupRow>(
    db,
    sql`select ${keyOut('r')}, ${figuresOut('r')} from report_work_months r where r.organisation_id = ${organisationId}`,
  );
  return rows.map(rowText).sort();
}

/** What the organisation's approved work says the rows should be, in key order, as text. */
export async function expectedRollupRows(db: Db, organisationId: string): Promise<string[]> {
  const rows = await queryRows<RollupRow>(db, sql`select ${keyOut('e')}, ${figuresOut('e')} from (${expectedRollupSql(organisationId)}) e`);
  return rows.map(rowText).sort();
}

export interface RollupRepair {
  organisationId: string;
  /** Rows that were missing. */
  added: number;
  /** Rows whose figures were wrong. */
  corrected: number;
  /** Rows under which no approved work is. */
  removed: number;
}

/**
 * Recomputes an organisation's rollup rows from its approved work, in one transaction, and says
 * what it changed. The table is locked against the triggers' writes (SHARE ROW EXCLUSIVE) first,
 * so work approved meanwhile either committed before the recomputation, which then sees it, or
 * adds its figures after the repair commits: nothing is counted twice or lost.
 */
export async function rebuildRollups(db: Db, organisationId: string): Promise<RollupRepair> {
  return inTransaction(db, async (tx) => {
    await tx.execute(sql`lock table report_work_months in share row exclusive mode`);
    const expected = sql`(${expectedRollupSql(organisationId)})`;
    // Every row that differs from what the work says goes; then every missing row is inserted.
    const deleted = await queryRows<Record<string, unknown>>(
      tx,
      sql`delete from report_work_months r
           where r.organisation_id = ${organisationId}
             and not exists (select 1 from ${expected} e
                              where (${aliased('e', KEY)}, ${figuresOut('e')}) = (${aliased('r', KEY)}, ${figuresOut('r')}))
          returning ${keyOut('r')}`,
    );
    const inserted = await queryRows<Record<string, unknown>>(
      tx,
      sql`insert into report_work_months (${COLUMNS})
          select ${COLUMNS} from ${expected} e
           where not exists (select 1 from report_work_months r
                              where (${aliased('r', KEY)}) = (${aliased('e', KEY)}))
          returning ${keyOut('report_work_months')}`,
    );
    const gone = new Set(deleted.map(keyText));
    const back = new Set(inserted.map(keyText));
    const corrected = [...back].filter((k) => gone.has(k)).length;
    return { organisationId, added: back.size - corrected, corrected, removed: gone.size - corrected };
  });
}
