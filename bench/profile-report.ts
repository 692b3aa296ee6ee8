/**
 * The distribution report's cost in one process, without HTTP: distributionReport
 * (src/modules/reports/service.ts) over a kept benchmark database, for the organisation with the
 * most time entries (scenario 4's, after `BENCH_ONLY=4 npm run bench`), `n` reports in blocks of
 * five. It prints the wall time, this process's CPU and the PostgreSQL backend's CPU per report
 * (the median of the blocks).
 *
 * With `--against=DIR`, the same report from another checkout's code (a `git worktree` of the
 * commit before, say) in blocks alternating with this one's, over the same data and connection,
 * so a change is measured by the host of the same minutes; the two reports must answer alike,
 * byte for byte, or it stops. The other checkout's migrations are not run: compare code over
 * the schema this database has.
 *
 *   npx tsx bench/profile-report.ts [n] [--against=DIR]      (BENCH_DATABASE_URL as for npm run bench)
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { newPostgresPool } from '../src/db/client.js';
import { distributionReport, type ReportFilter } from '../src/modules/reports/service.js';
import { databaseOn } from './diagnostics.js';
import { cpuSeconds } from './proc.js';

type Report = typeof distributionReport;

const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ledger_bench';
const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 40);
const against = process.argv.find((a) => a.startsWith('--against='))?.slice('--against='.length);
const BLOCK = 5;

const versions: { name: string; report: Report }[] = [{ name: 'this checkout', report: distributionReport }];
if (against) {
  const module = (await import(pathToFileURL(resolve(against, 'src/modules/reports/service.ts')).href)) as { distributionReport: Report };
  versions.unshift({ name: against, report: module.distributionReport });
}

// One connection, so one backend does all the work and its CPU is the database's.
const pool = newPostgresPool({ url: databaseUrl, poolSize: 1, idleTimeoutMillis: 0, applicationName: 'profile-report' });
const { db } = databaseOn(pool);
try {
  const { rows: [org] } = await pool.query<{ organisation_id: string }>(
    `select organisation_id from time_entries group by 1 order by count(*) desc limit 1`,
  );
  if (!org) throw new Error('no time entries in this database: run BENCH_ONLY=4 npm run bench first');
  const { rows: [backend] } = await pool.query<{ pid: number }>(`select pg_backend_pid() as pid`);
  const filter: ReportFilter = { currency: 'GBP' };

  const answers = new Set<string>();
  for (const v of versions) for (let i = 0; i < 2; i++) answers.add(JSON.stringify(await v.report(db, org.organisation_id, filter)));
  if (answers.size !== 1) throw new Error(`the versions answer differently:\n${[...answers].join('\n')}`);

  const blocks = versions.map(() => ({ wall: [] as number[], service: [] as number[], postgres: [] as number[] }));
  for (let b = 0; b < Math.max(1, Math.round(n / BLOCK)); b++) {
    for (const [k, v] of versions.entries()) {
      const pg0 = cpuSeconds(backend!.pid);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < BLOCK; i++) await v.report(db, org.organisation_id, filter);
      const cpu = process.cpuUsage(cpu0);
      blocks[k]!.wall.push((performance.now() - t0) / BLOCK);
      blocks[k]!.service.push((cpu.user + cpu.system) / 1000 / BLOCK);
      blocks[k]!.postgres.push(((cpuSeconds(backend!.pid) - pg0) * 1000) / BLOCK);
    }
  }
  const median = (xs: number[]) => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
  for (const [k, v] of versions.entries()) {
    const b = blocks[k]!;
    console.log(
      JSON.stringify({
        code: v.name,
        reports: b.wall.length * BLOCK,
        wallMs: median(b.wall),
        serviceCpuMs: median(b.service),
        postgresCpuMs: median(b.postgres),
        wallMsByBlock: b.wall.map((x) => Math.round(x)),
      }),
    );
  }
} finally {
  await pool.end();
}
