/**
 * Where the service's CPU goes in an approval, without HTTP or other processes in the way: the
 * app built in this process (as bench/diagnostics.ts does) over a kept benchmark database, its
 * approvals organisation's coordinator submitting and approving `n` entries one after another
 * through app.inject, each POST with an Idempotency-Key. Run it under `node --cpu-prof` to see
 * the functions; it prints the CPU per approval (this process's, and the PostgreSQL backends' of
 * this database from /proc, so run it while nothing else uses that database), the wall time per
 * approval, and the CPU per /healthz measured the same way.
 *
 *   npx tsx bench/profile-approvals.ts [n]      (BENCH_DATABASE_URL as for npm run bench)
 *
 * With `--compare-plain`, a second app runs beside the first over node-postgres's pool as it
 * comes (no pipelined transaction ends, src/db/pipelined-transactions.ts), and the two take turns
 * in blocks of 50 approvals, `n` each in all; it prints the median block of each. Taking turns in
 * one process keeps a host whose speed drifts from deciding the comparison.
 */
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { newPostgresPool } from '../src/db/client.js';
import { databaseOn } from './diagnostics.js';
import { cpuSeconds } from './proc.js';

const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ledger_bench';
const n = Number(process.argv[2] ?? 300);
const compare = process.argv.includes('--compare-plain');
const jwtSecret = 'profile-approvals-secret-not-a-secret-at-all';
const tag = Date.now().toString(36);

/** An app over `pool`, and what it takes to approve with it. */
async function approvalsOn(pool: pg.Pool, applicationName: string, keyPrefix: string) {
  const config = loadConfig({ DATABASE_URL: databaseUrl, JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn' });
  const app = await buildApp({ config, database: databaseOn(pool), jwtSecret, jobs: false, stripe: null });
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
  const approve = async (i: number) => {
    // Each contributor on one budget, as scenario 1 has them (its accounts opened by the warm-up).
    const c = (i * 7919) % contributors.length;
    const contributorId = contributors[c]!;
    const date = new Date(Date.UTC(2026, 0, 1) + (i % 360) * 86_400_000).toISOString().slice(0, 10);
    const submit = await app.inject({
      method: 'POST',
      url: '/v1/time-entries',
      headers: { ...headers, 'idempotency-key': `${keyPrefix}-${tag}-${i}-s` },
      payload: { contributorId, budgetId: budgets[c % budgets.length], activity: 'meeting', date, minutes: 15 },
    });
    if (submit.statusCode !== 201) throw new Error(`submit ${submit.statusCode}: ${submit.body}`);
    const id = (JSON.parse(submit.body) as { id: string }).id;
    const res = await app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers: { ...headers, 'idempotency-key': `${keyPrefix}-${tag}-${i}-a` } });
    if (res.statusCode !== 200) throw new Error(`approve ${res.statusCode}: ${res.body}`);
  };
  const backends = async () =>
    (await pool.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = $1`, [applicationName])).rows.map((r) => r.pid);
  // Warm every pool connection (and its prepared statements) first.
  await Promise.all(Array.from({ length: 4 }, (_, k) => (async () => { for (let i = 0; i < 10; i++) await approve(1_000_000 + k * 100 + i); })()));
  return { app, pool, approve, pids: await backends() };
}

const postgresCpu = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
/** CPU (this process's and the backends') and wall time per call of `fn` over `count` calls from `from`. */
const cpuMs = async (pids: number[], from: number, count: number, fn: (i: number) => Promise<unknown>) => {
  const pg0 = postgresCpu(pids);
  const start = process.cpuUsage();
  const t0 = performance.now();
  for (let i = from; i < from + count; i++) await fn(i);
  const wall = (performance.now() - t0) / count;
  const used = process.cpuUsage(start);
  return { service: (used.user + used.system) / 1000 / count, postgres: ((postgresCpu(pids) - pg0) * 1000) / count, wall };
};
const r3 = (x: number) => +x.toFixed(3);

// Named, and never closed while idle, so the backends measured are each pool's for the whole run.
const piped = await approvalsOn(newPostgresPool({ url: databaseUrl, poolSize: 4, idleTimeoutMillis: 0, applicationName: 'profile-approvals' }), 'profile-approvals', 'prof');

if (compare) {
  const plain = await approvalsOn(
    new pg.Pool({ connectionString: databaseUrl, max: 4, idleTimeoutMillis: 0, application_name: 'profile-approvals-plain' }),
    'profile-approvals-plain',
    'plain',
  );
  const block = 50;
  const blocks: Record<'piped' | 'plain', { service: number; postgres: number; wall: number }[]> = { piped: [], plain: [] };
  for (let b = 0; b * block < n; b++) {
    // Alternate which goes first, so neither always follows the other.
    const order = b % 2 === 0 ? (['piped', 'plain'] as const) : (['plain', 'piped'] as const);
    for (const which of order) {
      const side = which === 'piped' ? piped : plain;
      blocks[which].push(await cpuMs(side.pids, b * block, block, side.approve));
    }
  }
  // The median block for this process's CPU and the wall time; the mean for the backends' CPU,
  // which /proc counts in 10 ms ticks (0.2 ms an approval in a block of 50).
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const summary = (which: 'piped' | 'plain') => ({
    serviceCpuMsPerApproval: r3(median(blocks[which].map((x) => x.service))),
    postgresCpuMsPerApproval: r3(mean(blocks[which].map((x) => x.postgres))),
    wallMsPerApproval: r3(median(blocks[which].map((x) => x.wall))),
  });
  console.log(JSON.stringify({ approvalsEach: blocks.piped.length * block, blocksEach: blocks.piped.length, pipelined: summary('piped'), plain: summary('plain') }));
  await plain.app.close();
  await plain.pool.end();
} else {
  const perApproval = await cpuMs(piped.pids, 0, n, piped.approve);
  const perHealthz = await cpuMs(piped.pids, 0, n * 10, () => piped.app.inject({ method: 'GET', url: '/healthz' }));
  console.log(
    JSON.stringify({
      approvals: n,
      serviceCpuMsPerApproval: r3(perApproval.service),
      postgresCpuMsPerApproval: r3(perApproval.postgres),
      wallMsPerApproval: r3(perApproval.wall),
      serviceCpuMsPerHealthz: +perHealthz.service.toFixed(4),
      ratio: +(perApproval.service / perHealthz.service).toFixed(1),
    }),
  );
}
await piped.app.close();
await piped.pool.end();
