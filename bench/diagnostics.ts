/**
 * Where an approval's time goes, counted rather than guessed: builds the real app in this process
 * (src/app.ts buildApp) over a pg pool whose connections record every statement they send, and
 * counts the database round trips of one submit and one approve, with and without an
 * Idempotency-Key. (Trigger work inside PostgreSQL, per posting row, is on top of these.)
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newPostgresPool, type Database, type Db } from '../src/db/client.js';
import { watchRoundTrips } from '../src/db/pipelined-transactions.js';
import type { BenchOrg } from './seed.js';

export interface StatementCount {
  roundTrips: number;
  statements: string[];
}

export interface ApprovalStatements {
  submitWithKey: StatementCount;
  approveWithKey: StatementCount;
  submitWithoutKey: StatementCount;
  approveWithoutKey: StatementCount;
  /** Where one approval's WAL goes, by table or index, from pg_walinspect (null where it cannot be read). */
  walPerApproval: WalBreakdown | null;
}

/** WAL bytes per approval (submit + approve, with keys): in all, in full-page images, and per relation. */
export interface WalBreakdown {
  approvals: number;
  bytes: number;
  fullPageImageBytes: number;
  /** Bytes per approval by relation (a table or an index), or by record kind for records that name none (commits). */
  byRelation: Record<string, number>;
}

export async function countApprovalStatements(options: {
  databaseUrl: string;
  jwtSecret: string;
  org: BenchOrg;
  contributorId: string;
  budgetId: string;
  /** Contributors and budgets the WAL breakdown spreads its approvals over, as scenario 1 does. */
  contributorIds?: string[];
  budgetIds?: string[];
}): Promise<ApprovalStatements> {
  // The service's own pool (pipelined, with its wrappers), watched below them: what reaches
  // node-postgres, in round trips (statements sent while the ones before them were unanswered
  // share one, as the pool sends a transaction's begin with its first statement).
  let trips: string[][] | null = null;
  const pool = newPostgresPool({ url: options.databaseUrl, poolSize: 2 }, watchRoundTrips(() => trips!, () => trips !== null));
  const database = databaseOn(pool);
  const config = loadConfig({ DATABASE_URL: options.databaseUrl, JWT_SECRET: options.jwtSecret, LOG_LEVEL: 'silent' });
  const app = await buildApp({ config, database, jwtSecret: options.jwtSecret, jobs: false, stripe: null });
  try {
    await app.ready();
    const token = app.issueAccessToken({ sub: options.org.users.coordinator.id, org: options.org.organisationId, role: 'coordinator', cid: null });
    const auth = { authorization: `Bearer ${token}` };
    const capture = async (fn: () => Promise<{ statusCode: number; body: string }>, expected: number): Promise<StatementCount & { body: string }> => {
      trips = [];
      const res = await fn();
      const seen = trips;
      trips = null;
      if (res.statusCode !== expected) throw new Error(`diagnostic request answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
      return { roundTrips: seen.length, statements: seen.flat(), body: res.body };
    };
    const payload = { contributorId: options.contributorId, budgetId: options.budgetId, activity: 'meeting', date: '2026-06-01', minutes: 60 };
    const tag = Date.now().toString(36);
    let runs = 0;
    const run = async (withKey: boolean) => {
      const n = runs++;
      const key = (k: string): Record<string, string> => (withKey ? { 'idempotency-key': `diag-${tag}-${n}-${k}` } : {});
      const submit = await capture(
        () => app.inject({ method: 'POST', url: '/v1/time-entries', headers: { ...auth, ...key(`s${withKey}`) }, payload }),
        201,
      );
      const id = (JSON.parse(submit.body) as { id: string }).id;
      const approve = await capture(
        () => app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers: { ...auth, ...key(`a${withKey}`) } }),
        200,
      );
      const strip = ({ roundTrips, statements }: StatementCount) => ({ roundTrips, statements });
      return { submit: strip(submit), approve: strip(approve) };
    };
    // Once uncounted first: the contributor's first approval creates its ledger accounts.
    await run(true);
    const withKey = await run(true);
    const withoutKey = await run(false);
    const walPerApproval = await walOfApprovals(pool, async (i) => {
      const contributorId = options.contributorIds?.length ? options.contributorIds[i % options.contributorIds.length]! : options.contributorId;
      const budgetId = options.budgetIds?.length ? options.budgetIds[i % options.budgetIds.length]! : options.budgetId;
      const date = new Date(Date.UTC(2026, 1, 1) + (i % 300) * 86_400_000).toISOString().slice(0, 10);
      const headers = (k: string) => ({ ...auth, 'idempotency-key': `wal-${tag}-${i}-${k}` });
      const submit = await app.inject({ method: 'POST', url: '/v1/time-entries', headers: headers('s'), payload: { ...payload, contributorId, budgetId, date } });
      if (submit.statusCode !== 201) throw new Error(`WAL diagnostic submit answered ${submit.statusCode}: ${submit.body.slice(0, 300)}`);
      const id = (JSON.parse(submit.body) as { id: string }).id;
      const approve = await app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers: headers('a') });
      if (approve.statusCode !== 200) throw new Error(`WAL diagnostic approve answered ${approve.statusCode}: ${approve.body.slice(0, 300)}`);
    });
    return {
      submitWithKey: withKey.submit,
      approveWithKey: withKey.approve,
      submitWithoutKey: withoutKey.submit,
      approveWithoutKey: withoutKey.approve,
      walPerApproval,
    };
  } finally {
    await app.close();
    await pool.end();
  }
}

const WAL_APPROVALS = 40;

/**
 * Runs WAL_APPROVALS approvals one after another and reads the WAL written meanwhile with
 * pg_walinspect (PostgreSQL 15's contrib; created here if it can be), attributing each record to
 * the relation of its first block in this database, so WAL that other databases of the cluster
 * write at the same time is left out. Records that name no relation (commit records, about 34 B
 * each, two an approval) cannot be told apart by database and are left out too. Null where the
 * extension is not available.
 */
async function walOfApprovals(pool: pg.Pool, approve: (i: number) => Promise<void>): Promise<WalBreakdown | null> {
  try {
    await pool.query('create extension if not exists pg_walinspect');
  } catch {
    return null;
  }
  // No checkpoint is forced (it would be the whole cluster's): full-page images come as they do
  // under load, for each page's first change after the server's last checkpoint.
  const { rows: start } = await pool.query<{ lsn: string; db: string }>(
    `select pg_current_wal_lsn()::text as lsn, (select oid::text from pg_database where datname = current_database()) as db`,
  );
  for (let i = 0; i < WAL_APPROVALS; i++) await approve(i);
  const { rows } = await pool.query<{ relation: string; bytes: string; fpi: string }>(
    `with records as (
       select r.record_length, r.fpi_length, r.resource_manager, r.record_type,
              substring(r.block_ref from 'rel [0-9]+/([0-9]+)/[0-9]+') as db,
              substring(r.block_ref from 'rel [0-9]+/[0-9]+/([0-9]+)')::oid as filenode
         from pg_get_wal_records_info($1::pg_lsn, pg_current_wal_lsn()) r)
     select coalesce(c.relname, 'relation ' || records.filenode) as relation,
            sum(records.record_length) as bytes, sum(records.fpi_length) as fpi
       from records left join pg_class c on c.relfilenode = records.filenode
      where records.db = $2
      group by 1 order by 2 desc`,
    [start[0]!.lsn, start[0]!.db],
  );
  const per = (n: number) => Math.round(n / WAL_APPROVALS);
  const byRelation = Object.fromEntries(rows.map((r) => [r.relation, per(Number(r.bytes))]).filter(([, b]) => (b as number) > 0));
  return {
    approvals: WAL_APPROVALS,
    bytes: per(rows.reduce((n, r) => n + Number(r.bytes), 0)),
    fullPageImageBytes: per(rows.reduce((n, r) => n + Number(r.fpi), 0)),
    byRelation,
  };
}

/** The service's database over a pool the benchmark made (already migrated; closing ends the pool). */
export function databaseOn(pool: pg.Pool): Database {
  return {
    db: drizzle(pool) as unknown as Db,
    kind: 'postgres',
    pool,
    migrate: async () => {},
    ping: async () => {
      await pool.query('select 1');
    },
    close: async () => {
      await pool.end();
    },
  };
}
