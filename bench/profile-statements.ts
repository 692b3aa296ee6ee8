/**
 * Where the service's CPU goes in a statement read (scenario 3b), without HTTP or other
 * processes in the way: the app built in this process over a kept benchmark database, its
 * approvals organisation's coordinator reading the tax-year statement of the contributors
 * scenario 3b seeded ("Bench contributor 0" to 19, about 200 entries each in 2026-27) `n`
 * times through app.inject. Run it under `node --cpu-prof` to see the functions; it prints the
 * CPU per read (this process's, and the PostgreSQL backends' of this database) and per /healthz.
 * With `--balance`, the same contributors' balance (scenario 3a's read) instead.
 *
 *   npx tsx bench/profile-statements.ts [n] [--balance]      (BENCH_DATABASE_URL as for npm run bench)
 */
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newPostgresPool } from '../src/db/client.js';
import { databaseOn } from './diagnostics.js';
import { cpuSeconds } from './proc.js';

const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ledger_bench';
const n = Number(process.argv[2] ?? 200);
const pool = newPostgresPool({ url: databaseUrl, poolSize: 4, idleTimeoutMillis: 0, applicationName: 'profile-statements' });
const database = databaseOn(pool);
const jwtSecret = 'profile-statements-secret-not-a-secret-at-all';
const config = loadConfig({ DATABASE_URL: databaseUrl, JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn' });
const app = await buildApp({ config, database, jwtSecret, jobs: false, stripe: null });
await app.ready();
const { rows: [org] } = await pool.query<{ organisation_id: string; user_id: string }>(
  `select u.organisation_id, u.id as user_id from users u join organisations o on o.id = u.organisation_id
    where o.name like 'Benchmark approvals' and u.role = 'coordinator' order by u.created_at desc limit 1`,
);
if (!org) throw new Error('no approvals organisation in this database: run npm run bench (BENCH_ONLY=1,3) first');
const ids = (
  await pool.query<{ id: string }>(
    `select c.id from contributors c join generate_series(0, 19) as i on c.name = 'Bench contributor ' || i where c.organisation_id = $1`,
    [org.organisation_id],
  )
).rows.map((r) => r.id);
if (ids.length === 0) throw new Error('no statement contributors in this database: run npm run bench (BENCH_ONLY=1,3) first');
const token = app.issueAccessToken({ sub: org.user_id, org: org.organisation_id, role: 'coordinator', cid: null });
const headers = { authorization: `Bearer ${token}` };
let bytes = 0;
const path = process.argv.includes('--balance') ? 'balance' : 'statement?from=2026-04-06&to=2027-04-05';
const read = async (i: number) => {
  const res = await app.inject({ method: 'GET', url: `/v1/contributors/${ids[i % ids.length]}/${path}`, headers });
  if (res.statusCode !== 200) throw new Error(`${path} ${res.statusCode}: ${res.body}`);
  bytes = res.body.length;
};
const backends = async () =>
  (await pool.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = 'profile-statements'`)).rows.map((r) => r.pid);
const cpuMs = async (count: number, fn: (i: number) => Promise<unknown>) => {
  const pids = await backends();
  const pg0 = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) await fn(i);
  const used = process.cpuUsage(start);
  const pg1 = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  return { service: (used.user + used.system) / 1000 / count, postgres: ((pg1 - pg0) * 1000) / count };
};
await Promise.all(Array.from({ length: 4 }, (_, k) => (async () => { for (let i = 0; i < 10; i++) await read(k * 10 + i); })()));
const perRead = await cpuMs(n, read);
const perHealthz = await cpuMs(n * 10, () => app.inject({ method: 'GET', url: '/healthz' }));
console.log(
  JSON.stringify({
    reads: n,
    responseBytes: bytes,
    serviceCpuMsPerRead: +perRead.service.toFixed(3),
    postgresCpuMsPerRead: +perRead.postgres.toFixed(3),
    serviceCpuMsPerHealthz: +perHealthz.service.toFixed(4),
    ratio: +(perRead.service / perHealthz.service).toFixed(1),
  }),
);
await app.close();
await pool.end();
