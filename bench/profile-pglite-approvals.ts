/**
 * What an approval costs on embedded PGlite as its tables grow, in one process: a new embedded
 * database in a temporary folder, migrated, with scenario 6's organisation (1,000 contributors,
 * four budgets), and the app built over it (as the service builds it, without the job queue);
 * then `n` approvals (a submit and an approve, each with an Idempotency-Key, through app.inject)
 * from `--concurrency` callers at once. It prints this process's CPU and the wall time per
 * approval for each block of 1,000, so a cost that grows with the tables shows, and the totals.
 *
 *   npx tsx bench/profile-pglite-approvals.ts [n] [--concurrency=10] [--no-maintenance] [--passes]
 *
 * The service's maintenance of the embedded database (src/db/embedded-maintenance.ts) runs as in
 * the service, every five seconds; `--no-maintenance` leaves it out, to see what it is for, and
 * `--passes` prints each pass that did something. Run it under `node --cpu-prof` to see the
 * functions, and with the service's flags
 * (`node --liftoff-only --max-old-space-size=256 --max-semi-space-size=16 --import tsx ...`) to
 * measure what `npm run start:prod` runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { startEmbeddedMaintenance } from '../src/db/embedded-maintenance.js';
import { HttpClient } from './load.js';
import { createBenchOrg, insertContributors, loginAll, pgliteSql, setupFunding } from './seed.js';

const n = Number(process.argv[2] ?? 3000);
const concurrency = Number(process.argv.find((a) => a.startsWith('--concurrency='))?.split('=')[1] ?? 10);
const maintenance = !process.argv.includes('--no-maintenance');
const showPasses = process.argv.includes('--passes');
const BLOCK = 1000;

const dir = mkdtempSync(join(tmpdir(), 'ledger-profile-pglite-'));
const dataDir = join(dir, 'pglite');
const database = await openDatabase({ kind: 'pglite', dataDir });
try {
  await database.migrate();
  const org = await createBenchOrg(database.db, 'pglite', Date.now().toString(36), ['coordinator', 'finance']);
  const sql = pgliteSql(database.pglite!);
  await insertContributors(sql, { organisationId: org.organisationId, from: 0, to: 1000, budgetIds: [], mix: 'lived', method: 'bank', buckets: [] });
  const ids = (await sql.query<{ id: string }>(`select id from contributors where organisation_id = $1 order by name`, [org.organisationId])).rows.map((r) => r.id);
  // As the service opens it (src/runtime.ts): statistics gathered once at the start.
  await database.pglite!.exec('analyze');

  const jwtSecret = 'profile-pglite-approvals-secret-not-a-secret';
  const config = loadConfig({ PGLITE_DIR: dataDir, JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn' });
  const app = await buildApp({ config, database, jwtSecret, jobs: false, stripe: null });
  // The setup goes through the API over HTTP, as the benchmark's does; the approvals through inject.
  const client = new HttpClient(await app.listen({ port: 0, host: '127.0.0.1' }), 16);
  const tokens = await loginAll(client, org);
  const funding = await setupFunding(client, tokens.finance, 4, 100_000_000_000);
  client.close();
  // The maintenance passes that did something, as the service would log them.
  const passes: { analysed: string[]; vacuumed: string[]; ms: number }[] = [];
  const log = {
    info: (pass: (typeof passes)[number]) => passes.push(pass),
    warn: (detail: unknown, message: string) => console.error(message, detail),
  } as unknown as FastifyBaseLogger;
  const stop = maintenance ? startEmbeddedMaintenance(database.pglite!, log) : async () => {};

  const headers = tokens.coordinator;
  const approve = async (i: number) => {
    const c = (i * 7919) % ids.length;
    const date = new Date(Date.UTC(2026, 0, 1) + (i % 360) * 86_400_000).toISOString().slice(0, 10);
    const submit = await app.inject({
      method: 'POST',
      url: '/v1/time-entries',
      headers: { ...headers, 'idempotency-key': `s-${i}` },
      payload: { contributorId: ids[c], budgetId: funding.budgetIds[c % 4], activity: 'meeting', date, minutes: 15 },
    });
    if (submit.statusCode !== 201) throw new Error(`submit ${submit.statusCode}: ${submit.body}`);
    const id = (JSON.parse(submit.body) as { id: string }).id;
    const res = await app.inject({ method: 'POST', url: `/v1/time-entries/${id}/approve`, headers: { ...headers, 'idempotency-key': `a-${i}` } });
    if (res.statusCode !== 200) throw new Error(`approve ${res.statusCode}: ${res.body}`);
  };

  const cpuMs = (since: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1000;
  };
  const r3 = (x: number) => +x.toFixed(3);
  const blocks: { approvals: number; cpuMsPerApproval: number; wallMsPerApproval: number }[] = [];
  const start = process.cpuUsage();
  const t0 = performance.now();
  let blockCpu = process.cpuUsage();
  let blockWall = performance.now();
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        await approve(next++);
        done += 1;
        if (done % BLOCK === 0 || done === n) {
          const size = done % BLOCK || BLOCK;
          blocks.push({ approvals: done, cpuMsPerApproval: r3(cpuMs(blockCpu) / size), wallMsPerApproval: r3((performance.now() - blockWall) / size) });
          console.log(JSON.stringify(blocks.at(-1)));
          blockCpu = process.cpuUsage();
          blockWall = performance.now();
        }
      }
    }),
  );
  const total = { approvals: n, concurrency, cpuMsPerApproval: r3(cpuMs(start) / n), wallMsPerApproval: r3((performance.now() - t0) / n) };
  await stop();
  const longest = passes.reduce((a, p) => Math.max(a, p.ms), 0);
  const tables = [...new Set(passes.flatMap((p) => [...p.analysed, ...p.vacuumed]))].sort();
  if (showPasses) for (const pass of passes) console.log(JSON.stringify(pass));
  console.log(JSON.stringify({ ...total, maintenance: maintenance && { passes: passes.length, totalMs: passes.reduce((a, p) => a + p.ms, 0), longestMs: longest, tables } }));
  await app.close();
} finally {
  await database.close();
  rmSync(dir, { recursive: true, force: true });
}
