/**
 * Seeding: organisations and users through the service layer (src/modules/...), budgets and rate
 * cards through the HTTP API, and bulk data (contributors, approved time entries and their ledger
 * transactions and postings) with set-based SQL (`generate_series`), in chunks, with every
 * trigger of drizzle/*.sql left on: postings balance per transaction at commit, the cached
 * balance is maintained by the posting trigger, accounts are created before their postings.
 *
 * Bulk rows get deterministic ids (md5 of the organisation, a tag and the row number, as a
 * UUID), so later statements can refer to rows earlier ones made without reading them back.
 */
import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import type { Db } from '../src/db/client.js';
import { createOrganisation } from '../src/modules/organisations/service.js';
import { createUser } from '../src/modules/users/service.js';
import type { HttpClient } from './load.js';
import { involvementRates } from '../test/helpers/rate-cards.js';

// ---------------------------------------------------------------------------------------------
// A SQL runner over either driver

export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /** Runs `fn` in one transaction on one connection. */
  transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
}

export function pgSql(pool: pg.Pool): Sql {
  return {
    query: async <T>(text: string, params?: unknown[]) => (await pool.query(text, params)) as unknown as { rows: T[] },
    async transaction<T>(fn: (sql: Sql) => Promise<T>) {
      const client = await pool.connect();
      const inner: Sql = {
        query: async <U>(text: string, params?: unknown[]) => (await client.query(text, params)) as unknown as { rows: U[] },
        transaction: (f) => f(inner),
      };
      try {
        await client.query('begin');
        const result = await fn(inner);
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

export function pgliteSql(pglite: PGlite): Sql {
  const wrap = (q: { query: PGlite['query'] }): Sql => ({
    query: async <T>(text: string, params?: unknown[]) => (await q.query(text, params)) as unknown as { rows: T[] },
    transaction: (fn) => pglite.transaction((tx) => fn(wrap(tx as unknown as { query: PGlite['query'] }))),
  });
  return wrap(pglite);
}

// ---------------------------------------------------------------------------------------------
// Organisations, users, tokens

export type BenchRole = 'coordinator' | 'finance' | 'finance2' | 'reporter';
export const BENCH_PASSWORD = 'benchmark password, not a secret';

export interface BenchOrg {
  label: string;
  organisationId: string;
  adminEmail: string;
  users: Record<BenchRole, { id: string; email: string }>;
}

/** An organisation, its admin and one user per role the scenarios act as (service layer). */
export async function createBenchOrg(db: Db, label: string, runTag: string, only?: BenchRole[]): Promise<BenchOrg> {
  const email = (role: string) => `${role}-${label}-${runTag}@bench.example`;
  const adminEmail = email('admin');
  const { organisationId } = await createOrganisation(db, { name: `Benchmark ${label}`, adminEmail, adminPassword: BENCH_PASSWORD });
  const actor = { type: 'system' as const, id: 'bench' };
  const users = {} as BenchOrg['users'];
  const roles: [BenchRole, 'coordinator' | 'finance' | 'reporter'][] = [
    ['coordinator', 'coordinator'],
    ['finance', 'finance'],
    ['finance2', 'finance'],
    ['reporter', 'reporter'],
  ];
  for (const [key, role] of roles.filter(([key]) => !only || only.includes(key))) {
    const user = await createUser(db, organisationId, actor, { email: email(key), name: `Bench ${key}`, role, password: BENCH_PASSWORD }, new Date());
    users[key] = { id: user.id, email: user.email };
  }
  return { label, organisationId, adminEmail, users };
}

/** Logs in through the API (POST /v1/auth/token) and returns Authorization headers. */
export async function login(client: HttpClient, email: string): Promise<Record<string, string>> {
  const res = await client.request('POST', '/v1/auth/token', { json: { email, password: BENCH_PASSWORD } });
  if (res.status !== 200) throw new Error(`login ${email} → ${res.status}: ${res.body}`);
  return { authorization: `Bearer ${(JSON.parse(res.body) as { accessToken: string }).accessToken}` };
}

export async function loginAll(client: HttpClient, org: BenchOrg): Promise<Record<BenchRole, Record<string, string>>> {
  const out = {} as Record<BenchRole, Record<string, string>>;
  for (const role of Object.keys(org.users) as BenchRole[]) out[role] = await login(client, org.users[role].email);
  return out;
}

/** POST that must answer `status`; returns the parsed body. */
export async function postExpect<T = any>(client: HttpClient, headers: Record<string, string>, path: string, body: unknown, status = 201): Promise<T> {
  const res = await client.request('POST', path, { headers, json: body });
  if (res.status !== status) throw new Error(`POST ${path} → ${res.status} (wanted ${status}): ${res.body.slice(0, 1000)}`);
  return JSON.parse(res.body) as T;
}

export interface Funding {
  projectId: string;
  rateCardId: string;
  rateCardVersionId: string;
  budgetIds: string[];
}

/**
 * Through the API, as finance: a project, the rate card of test/helpers/fixtures.ts (£20 an
 * hour for lived experience and carers, an in-kind £30 for professionals) and `budgets` budgets
 * for 2026, each funded with `amount`.
 */
export async function setupFunding(client: HttpClient, finance: Record<string, string>, budgets: number, amount: number): Promise<Funding> {
  const project = await postExpect(client, finance, '/v1/projects', { name: 'Community mental health co-production' });
  const card = await postExpect(client, finance, '/v1/rate-cards', { name: 'Involvement payments', currency: 'GBP' });
  const version = await postExpect(client, finance, `/v1/rate-cards/${card.id}/versions`, {
    effectiveFrom: '2026-01-01',
    rates: involvementRates,
  });
  const budgetIds: string[] = [];
  for (let i = 0; i < budgets; i++) {
    const budget = await createBudget(client, finance, {
      projectId: project.id,
      name: `Lived experience panel ${i + 1}`,
      funder: 'National Lottery Community Fund',
      grantReference: `NLCF-2026-${String(i + 1).padStart(3, '0')}`,
      amount,
      rateCardId: card.id,
    });
    budgetIds.push(budget.id);
  }
  return { projectId: project.id, rateCardId: card.id, rateCardVersionId: version.id, budgetIds };
}

/** Through the API, as finance: a budget in GBP for 2026 of `amount` pence on the project and rate card given. */
export async function createBudget(
  client: HttpClient,
  finance: Record<string, string>,
  budget: { projectId: string; name: string; funder: string; grantReference: string; amount: number; rateCardId: string },
): Promise<{ id: string }> {
  return postExpect(client, finance, '/v1/budgets', {
    projectId: budget.projectId,
    name: budget.name,
    funder: budget.funder,
    grantReference: budget.grantReference,
    currency: 'GBP',
    amount: budget.amount,
    startsOn: '2026-01-01',
    endsOn: '2026-12-31',
    rateCardId: budget.rateCardId,
  });
}

// ---------------------------------------------------------------------------------------------
// Bulk SQL

/** Who the bulk contributors are: all paid lived experience, or the report's realistic mix. */
export type ContributorMix = 'lived' | 'mixed';
export type MethodMix = 'bank' | 'stripe' | 'mixed';

const kindExpr = (mix: ContributorMix, i: string) =>
  mix === 'lived'
    ? `'lived_experience'`
    : `(case when ${i} % 10 < 6 then 'lived_experience' when ${i} % 10 < 8 then 'carer' else 'professional' end)`;
const declinedExpr = (method: MethodMix, i: string) => (method === 'mixed' ? `(${i} % 20 = 7)` : 'false');
const methodExpr = (method: MethodMix, i: string) =>
  method === 'stripe' ? `'stripe'` : method === 'bank' ? `'bank_transfer'` : `(case when ${i} % 20 = 7 then 'declined' else 'bank_transfer' end)`;

/**
 * A deterministic UUIDv7-shaped id: `ms` (an SQL expression) as the 48-bit millisecond prefix,
 * the rest from md5 of `salt`. The service's ids are UUIDv7 (time-ordered), so bulk rows get
 * ids in the same order they would have been created in, and indexes grow the same way.
 */
const v7 = (ms: string, salt: string) =>
  `(lpad(to_hex((${ms})::bigint), 12, '0') || '7' || substr(md5(${salt}), 1, 3) || '8' || substr(md5(${salt}), 4, 15))::uuid`;
/** Milliseconds at 2025-12-01 and 2026-01-01 (UTC): bulk contributors, then entries, one a millisecond. */
const CONTRIBUTORS_MS = 1_764_547_200_000;
const ENTRIES_MS = 1_767_225_600_000;

/** Contributor i's id, as every bulk statement computes it ($1 is the organisation). */
const contributorId = (i: string) => v7(`${CONTRIBUTORS_MS} + ${i}`, `$1::text || ':c:' || ${i}`);
const entryId = (j: string) => v7(`${ENTRIES_MS} + ${j}`, `$1::text || ':e:' || ${j}`);
const transactionId = (j: string) => v7(`${ENTRIES_MS} + ${j}`, `$1::text || ':t:' || ${j}`);
const postingId = (j: string, side: string) => v7(`${ENTRIES_MS} + ${j}`, `$1::text || ':p:' || ${j} || ':' || ${side}`);
/** Contributor i's budget: budgets are dealt round-robin ($4 is the budget ids). */
const budgetOf = (i: string) => `($4::uuid[])[1 + ${i} % array_length($4::uuid[], 1)]`;

/**
 * Contributors number `from` to `to - 1`, with (`buckets`) their earnings accounts on their
 * budget created up front (balance 0), so postings can go to them.
 */
export async function insertContributors(
  sql: Sql,
  options: { organisationId: string; from: number; to: number; budgetIds: string[]; mix: ContributorMix; method: MethodMix; buckets: ('owed' | 'in_transit' | 'paid')[] },
) {
  const { organisationId, from, to, budgetIds } = options;
  const step = 50_000;
  for (let start = from; start < to; start += step) {
    const end = Math.min(to, start + step);
    await sql.transaction(async (tx) => {
      await tx.query(
        `insert into contributors (organisation_id, id, name, kind, payment_method, stripe_account_id, stripe_payouts_enabled)
         select $1::uuid, ${contributorId('i')}, 'Bench contributor ' || i, ${kindExpr(options.mix, 'i')}, ${methodExpr(options.method, 'i')},
                ${options.method === 'stripe' ? `'acct_' || substr(md5($1::text || ':acct:' || i), 1, 16)` : 'null'}, ${options.method === 'stripe'}
           from generate_series($2::int, $3::int - 1) as i`,
        [organisationId, start, end],
      );
      if (options.buckets.length) {
        await tx.query(
          `insert into ledger_accounts (organisation_id, code, currency, type, budget_id, contributor_id, component, allow_negative)
           select $1::uuid, 'contributor:' || c.cid || ':' || b.bucket || ':earnings:budget:' || c.bid, 'GBP', b.type, c.bid, c.cid, 'earnings', false
             from (select ${contributorId('i')} as cid, ${budgetOf('i')} as bid from generate_series($2::int, $3::int - 1) as i) c
            cross join (select * from unnest($5::text[], $6::text[])) as b(bucket, type)`,
          [organisationId, start, end, budgetIds, options.buckets, options.buckets.map((b) => `contributor_${b}`)],
        );
      }
    });
  }
}

/** The Stripe account ids of an organisation's bulk Stripe contributors. */
export async function stripeAccountIds(sql: Sql, organisationId: string): Promise<string[]> {
  const { rows } = await sql.query<{ stripe_account_id: string }>(
    `select stripe_account_id from contributors where organisation_id = $1 and stripe_account_id is not null`,
    [organisationId],
  );
  return rows.map((r) => r.stripe_account_id);
}

/** The rows of entries $2 to $3 - 1 that `worker` inserts (see insertEntries). */
function entriesSelect(mix: ContributorMix, method: MethodMix, statusMix: boolean, worker: { index: number; of: number }) {
  return `
    select e.*, case when e.status = 'approved' and e.amount > 0 then ${transactionId('e.j')} end as txid
      from (
        select a.*, case when a.kind = 'professional' then 750 * (a.minutes / 15) else 500 * (a.minutes / 15) end as value,
               case when a.kind = 'professional' or a.declined then 0 else 500 * (a.minutes / 15) end as amount
          from (
            select g.j, g.ci, ${contributorId('g.ci')} as cid, ${budgetOf('g.ci')} as bid,
                   ${kindExpr(mix, 'g.ci')} as kind, ${declinedExpr(method, 'g.ci')} as declined,
                   30 + (g.j % 8)::int * 15 as minutes,
                   case when ${statusMix} and g.j % 20 = 19 then 'submitted' else 'approved' end as status,
                   date '2026-01-01' + (g.j % 320)::int as date
              from (select j, (j % $5::int)::int as ci from generate_series($2::bigint, $3::bigint - 1) as j
                     where ((j % $5::int) % array_length($4::uuid[], 1)) % ${worker.of} = ${worker.index}) g
          ) a
      ) e`;
}

/**
 * Time entries number `from` to `to - 1`, spread round-robin over `contributors` contributors
 * (inserted by insertContributors with the same budgets, mix and method), each on its
 * contributor's budget, dated through 2026, 30 to 135 minutes. With `statusMix`, one in twenty
 * is left submitted; the rest are approved, priced as the rate card prices them (professionals
 * in kind, declined contributors owed nothing). Each approved entry with an amount gets its
 * approval transaction and two postings: budget available → contributor owed.
 */
export async function insertEntries(
  sql: Sql,
  options: {
    organisationId: string;
    from: number;
    to: number;
    contributors: number;
    budgetIds: string[];
    rateCardVersionId: string;
    mix: ContributorMix;
    method: MethodMix;
    statusMix: boolean;
    chunk?: number;
    /** Connections inserting side by side (default 2, at most one per budget). */
    workers?: number;
    onProgress?: (done: number) => void;
  },
) {
  const chunk = options.chunk ?? 2_000;
  // Workers take disjoint sets of budgets (so disjoint contributors and ledger accounts) and
  // run side by side, each on its own connection: no two lock the same account row.
  const workers = Math.max(1, Math.min(options.workers ?? 2, options.budgetIds.length));
  let slowest = options.from;
  const progress = new Array<number>(workers).fill(options.from);
  await Promise.all(
    Array.from({ length: workers }, async (_, index) => {
      const entries = entriesSelect(options.mix, options.method, options.statusMix, { index, of: workers });
      for (let start = options.from; start < options.to; start += chunk) {
        const end = Math.min(options.to, start + chunk);
        const params = [options.organisationId, start, end, options.budgetIds, options.contributors];
        await sql.transaction(async (tx) => {
          await tx.query(
            `insert into time_entries (organisation_id, id, contributor_id, budget_id, activity, date, minutes, status, currency,
                                       rate_card_version_id, rate_card_version, value, amount, in_kind, declined, contributor_kind,
                                       submitted_by, decided_by, decided_at, ledger_transaction_id, created_at)
             select $1::uuid, ${entryId('e.j')}, e.cid, e.bid, 'meeting', e.date, e.minutes, e.status, 'GBP',
                    $6::uuid, 1, e.value, e.amount, e.status = 'approved' and e.kind = 'professional', e.status = 'approved' and e.declined,
                    case when e.status = 'approved' then e.kind end,
                    'bench', case when e.status = 'approved' then 'bench' end,
                    case when e.status = 'approved' then (e.date + 3)::timestamp at time zone 'UTC' + interval '12 hours' end,
                    e.txid, e.date::timestamp at time zone 'UTC' + interval '18 hours'
               from (${entries}) e`,
            [...params, options.rateCardVersionId],
          );
          await tx.query(
            `insert into ledger_transactions (organisation_id, id, type, reference_type, reference_id, effective_date, created_by, created_at)
             select $1::uuid, e.txid, 'time_entry_approval', 'time_entry', ${entryId('e.j')}::text, e.date, 'bench',
                    (e.date + 3)::timestamp at time zone 'UTC' + interval '12 hours'
               from (${entries}) e where e.txid is not null`,
            params,
          );
          await tx.query(
            `insert into ledger_postings (organisation_id, id, transaction_id, account, currency, amount, created_at)
             select $1::uuid, ${postingId('e.j', 's.side')}, e.txid,
                    case s.side when 0 then 'budget:' || e.bid || ':available' else 'contributor:' || e.cid || ':owed:earnings:budget:' || e.bid end,
                    'GBP', case s.side when 0 then -e.amount else e.amount end,
                    (e.date + 3)::timestamp at time zone 'UTC' + interval '12 hours'
               from (${entries}) e cross join (values (0), (1)) as s(side)
              where e.txid is not null
              order by e.j, s.side`,
            params,
          );
        });
        progress[index] = end;
        const now = Math.min(...progress);
        if (now > slowest) {
          slowest = now;
          options.onProgress?.(now);
        }
      }
    }),
  );
}

/**
 * Pays about half of what every other contributor is owed, as the payout flow would post it:
 * owed → in transit (payout approval), then in transit → paid (payout paid). `step` keeps the
 * ids of successive calls apart.
 */
export async function payHalfOwed(sql: Sql, organisationId: string, step: number) {
  await sql.transaction(async (tx) => {
    await tx.query(
      `create temp table bench_pay on commit drop as
       select contributor_id, budget_id, balance / 2 as x, md5($1::text || ':pay:' || $2::int || ':' || contributor_id) as k
         from ledger_accounts
        where organisation_id = $1::uuid and type = 'contributor_owed' and balance >= 2
          and get_byte(decode(md5(contributor_id::text), 'hex'), 0) % 2 = 0`,
      [organisationId, step],
    );
    await tx.query(
      `insert into ledger_transactions (organisation_id, id, type, reference_type, reference_id, effective_date, created_by)
       select $1::uuid, md5(k || t.suffix)::uuid, t.type, t.ref_type, 'bench-payout-' || $2::int || '-' || contributor_id, date '2026-11-01' - $2::int, 'bench'
         from bench_pay cross join (values ('a', 'payout_approval', 'payout_run'), ('p', 'payout_paid', 'payout_item')) as t(suffix, type, ref_type)`,
      [organisationId, step],
    );
    // In this order, so no account dips below zero on the way (the balance CHECK is per row).
    await tx.query(
      `insert into ledger_postings (organisation_id, id, transaction_id, account, currency, amount)
       select $1::uuid, md5(k || ':' || m.seq)::uuid, md5(k || m.suffix)::uuid,
              'contributor:' || contributor_id || ':' || m.bucket || ':earnings:budget:' || budget_id, 'GBP', m.sign * x
         from bench_pay
        cross join (values (1, 'a', 'owed', -1), (2, 'a', 'in_transit', 1), (3, 'p', 'in_transit', -1), (4, 'p', 'paid', 1)) as m(seq, suffix, bucket, sign)
        order by contributor_id, m.seq`,
      [organisationId],
    );
  });
}

/**
 * Statistics and the visibility map, as autovacuum would leave them after a bulk load. The report
 * rollups (report_work_months, filled by their triggers as the entries went in) need statistics
 * as much as the entries do: without them the planner takes the rollup for a few rows and joins
 * the paid accounts to it row by row (seconds at 100,000 entries).
 */
export async function vacuumAnalyze(sql: Sql) {
  for (const table of ['contributors', 'time_entries', 'ledger_transactions', 'ledger_postings', 'ledger_accounts', 'report_work_months']) {
    await sql.query(`vacuum (analyze) ${table}`);
  }
}

/**
 * Statistics for the tables an approval reads and writes, taken after a warm-up has filled them,
 * as autovacuum's analyse would have taken them by then (its threshold is 50 rows and a tenth of
 * the table). A PostgreSQL with autovacuum off (as this machine's, set for CI) would otherwise
 * plan the money path's prepared statements on tables it believes empty, and keep those plans
 * while the tables grow: scenario 1 then measured 4.1 ms of PostgreSQL CPU an approval against
 * 1.7 ms in scenario 8, whose seeding ends with an analyse. Analysing invalidates the plans the
 * service's connections hold, so its next statements are planned on the new statistics.
 */
export async function analyzeApprovalTables(sql: Sql) {
  await sql.query(
    'analyze contributors, users, budgets, time_entries, expenses, ledger_accounts, ledger_transactions, ledger_postings, report_work_months, audit_events, idempotency_keys',
  );
}

/** Ledger invariants over one organisation: every transaction balances; cached balances equal the postings. */
export async function checkLedger(sql: Sql, organisationId: string) {
  const unbalanced = await sql.query<{ n: string }>(
    `select count(*) as n from (select transaction_id from ledger_postings where organisation_id = $1 group by transaction_id having sum(amount) <> 0) x`,
    [organisationId],
  );
  const drift = await sql.query<{ n: string }>(
    `select count(*) as n from ledger_accounts a
       left join (select account, currency, sum(amount) as total from ledger_postings where organisation_id = $1 group by account, currency) p
         on p.account = a.code and p.currency = a.currency
      where a.organisation_id = $1 and a.balance <> coalesce(p.total, 0)`,
    [organisationId],
  );
  const trial = await sql.query<{ total: string }>(`select coalesce(sum(balance), 0) as total from ledger_accounts where organisation_id = $1`, [organisationId]);
  return { unbalancedTransactions: Number(unbalanced.rows[0]!.n), cachedBalanceMismatches: Number(drift.rows[0]!.n), trialBalance: Number(trial.rows[0]!.total) };
}
