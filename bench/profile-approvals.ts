/**
 * Where the service's CPU goes in an approval, without HTTP or other processes in the way: the
 * app built in this process (as bench/diagnostics.ts does) over a kept benchmark database, its
 * approvals organisation's coordinator submitting and approving `n` entries one after another
 * through app.inject, each POST with an Idempotency-Key. Run it under `node --cpu-prof` to see
 * the functions; it prints the CPU per approval (this process's, and the PostgreSQL backends' of
 * this database from /proc, so run it while nothing else uses that database) and per /healthz
 * measured the same way.
 *
 *   npx tsx bench/profile-approvals.ts [n]      (BENCH_DATABASE_URL as for npm run bench)
 */
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { databaseOn } from './diagnostics.js';
import { cpuSeconds } from './proc.js';

const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ledger_bench';
const n = Number(process.argv[2] ?? 300);
// Named, and never closed while idle, so the backends measured are this pool's for the whole run.
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, idleTimeoutMillis: 0, application_name: 'profile-approvals' });
const database = databaseOn(pool);
const jwtSecret = 'profile-approvals-secret-not-a-secret-at-all';
const config = loadConfig({ DATABASE_URL: databaseUrl, JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn' });
const app = await buildApp({ config, database, jwtSecret, jobs: false, stripe: null });
await app.ready();
const { rows: [org] } = await pool.query<{ organisation_id: string; user_id: string }>(
  `select u.organisation_id, u.id as user_id from users u join organisations o on o.id = u.organisation_id
    where o.name like 'Benchmark approvals' and u.role = 'coordinator' order by u.created_at desc limit 1`,
);
if (!org) throw new Error('no approvals organisation in this database: run npm run bench (BENCH_ONLY=1) first');
const contributors = (await pool.query<{ id: string }>(`select id from contributors where organisation_id = $1 order by name limit 1000`, [org.organisation_id])).rows.map((r) => r.id);
const budgets = (await pool.query<{ id: string }>(`select id from budgets where organisation_id = $1 and name like 'Lived experience panel%' order by name`, [org.organisation_id])).rows.map((r) => r.id);
const token = app.issueAccessToken({ sub: org.user_id, org: org.organisation_id, role: 'coordinator', cid: null });
const headers = { authorization: `Bearer ${token}` };
const tag = Date.now().toString(36);

const approve = async (i: number) => {
  // Each contributor on one budget, as scenario 1 has them (its accounts opened by the warm-up).
  const c = (i * 7919) % contributors.length;
  const contributorId = contributors[c]!;
  const date = new Date(Date.UTC(2026, 0, 1) + (i % 360) * 86_400_000).toISOString().slice(0, 10);
  const submit = await app.inject({
    method: 'POST',
    url: '/v1/time-entries',
    headers: { ...headers, 'idempotency-key': `prof-${tag}-${i}-s` },
    payload: { contributorId, budgetId: budgets[c % budgets.length], activity: 'meeting', date, minutes: 15 },
  });
  if (submit.statusCode !== 201) throw new Error(`submit ${submit.statusCode}: ${submit.body}`);
  const id = (JSON.parse(submit.body) as { id: string }).id;
  const res = await app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers: { ...headers, 'idempotency-key': `prof-${tag}-${i}-a` } });
  if (res.statusCode !== 200) throw new Error(`approve ${res.statusCode}: ${res.body}`);
};
const backends = async () =>
  (await pool.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = 'profile-approvals'`)).rows.map((r) => r.pid);
const postgresCpu = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
const cpuMs = async (count: number, fn: (i: number) => Promise<unknown>) => {
  const pids = await backends();
  const pg0 = postgresCpu(pids);
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) await fn(i);
  const used = process.cpuUsage(start);
  return { service: (used.user + used.system) / 1000 / count, postgres: ((postgresCpu(pids) - pg0) * 1000) / count };
};
// Warm every pool connection (and its prepared statements) first.
await Promise.all(Array.from({ length: 4 }, (_, k) => (async () => { for (let i = 0; i < 10; i++) await approve(1_000_000 + k * 100 + i); })()));
const perApproval = await cpuMs(n, approve);
const perHealthz = await cpuMs(n * 10, () => app.inject({ method: 'GET', url: '/healthz' }));
console.log(
  JSON.stringify({
    approvals: n,
    serviceCpuMsPerApproval: +perApproval.service.toFixed(3),
    postgresCpuMsPerApproval: +perApproval.postgres.toFixed(3),
    serviceCpuMsPerHealthz: +perHealthz.service.toFixed(4),
    ratio: +(perApproval.service / perHealthz.service).toFixed(1),
  }),
);
await app.close();
await pool.end();
