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
import type { Database, Db } from '../src/db/client.js';
import * as schema from '../src/db/schema.js';
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
}

export async function countApprovalStatements(options: {
  databaseUrl: string;
  jwtSecret: string;
  org: BenchOrg;
  contributorId: string;
  budgetId: string;
}): Promise<ApprovalStatements> {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
  let log: string[] | null = null;
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text?: string };
      const text = typeof first === 'string' ? first : (first?.text ?? '');
      log?.push(text.replace(/\s+/g, ' ').trim().slice(0, 140));
      return original(...args);
    };
  });
  const database: Database = {
    db: drizzle(pool, { schema }) as unknown as Db,
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
  const config = loadConfig({ DATABASE_URL: options.databaseUrl, JWT_SECRET: options.jwtSecret, LOG_LEVEL: 'silent' });
  const app = await buildApp({ config, database, jwtSecret: options.jwtSecret, jobs: false, stripe: null });
  try {
    await app.ready();
    const token = app.issueAccessToken({ sub: options.org.users.coordinator.id, org: options.org.organisationId, role: 'coordinator', cid: null });
    const auth = { authorization: `Bearer ${token}` };
    const capture = async (fn: () => Promise<{ statusCode: number; body: string }>, expected: number): Promise<StatementCount & { body: string }> => {
      log = [];
      const res = await fn();
      const statements = log;
      log = null;
      if (res.statusCode !== expected) throw new Error(`diagnostic request answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
      return { roundTrips: statements.length, statements, body: res.body };
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
    return {
      submitWithKey: withKey.submit,
      approveWithKey: withKey.approve,
      submitWithoutKey: withoutKey.submit,
      approveWithoutKey: withoutKey.approve,
    };
  } finally {
    await app.close();
    await pool.end();
  }
}
