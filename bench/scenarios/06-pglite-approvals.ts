/**
 * Scenario 6: scenario 1's peak run against a second service process on embedded PGlite (a
 * temporary PGLITE_DIR, seeded with BENCH_CONTRIBUTORS contributors). Figure: approvals a second
 * against scenario 1's. Also scenario 7's row for this process: its peak RSS (VmHWM), read
 * before it stops. Skipped with BENCH_PGLITE=0.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS_FOLDER, openDatabase } from '../../src/db/client.js';
import { log, MB, scenario, startService, type BenchRun } from '../harness.js';
import { HttpClient, round } from '../load.js';
import type { ServerHandle } from '../proc.js';
import { startProbe } from '../probe.js';
import { createBenchOrg, insertContributors, loginAll, pgliteSql, setupFunding } from '../seed.js';
import { ratioRow } from '../table.js';
import { contributorIdsOf, firstErrorSample, manyContributors, measuredApprovalPeak, memoryRow, type Measured } from './shared.js';

/**
 * A freshly migrated PGlite data directory as a tarball, cached in the system's temp directory
 * under a hash of the migrations (as test/helpers/database.ts does for the tests): migrating a
 * new PGlite takes many seconds, loading a dump a few.
 */
async function migratedPgliteTemplate(): Promise<Uint8Array<ArrayBuffer>> {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true }).map(String).sort()) {
    if (file.endsWith('.sql') || file.endsWith('.json')) hash.update(file).update(readFileSync(join(MIGRATIONS_FOLDER, file)));
  }
  const dir = join(tmpdir(), 'coproduction-ledger-bench');
  const file = join(dir, `pglite-migrated-${hash.digest('hex').slice(0, 16)}.tar`);
  if (existsSync(file)) return new Uint8Array(readFileSync(file));
  const database = await openDatabase({ kind: 'pglite', dataDir: 'memory://' });
  await database.migrate();
  const dump = new Uint8Array(await (await database.pglite!.dumpDataDir('none')).arrayBuffer());
  await database.close();
  mkdirSync(dir, { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, dump);
  renameSync(partial, file);
  return dump;
}

/** Compares with `measured.approvalsPeak` (SKIP without it). Call after the PostgreSQL service has stopped. */
export async function approvalsOnPglite(run: BenchRun, measured: Measured) {
  const { cfg, rows, details } = run;
  // The PGlite service also gives scenario 7's second row, but scenario() runs only when 6 itself
  // is selected: BENCH_ONLY=7 alone reports the PostgreSQL service's memory only.
  if (!(cfg.pglite && (cfg.only.has(6) || cfg.only.has(7)))) return;
  await scenario(run, '6', 'scenario 1 on embedded PGlite', null, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-pglite-'));
    const dataDir = join(dir, 'pglite');
    let pgliteServer: ServerHandle | null = null;
    try {
      log('  seeding PGlite');
      const embedded = await openDatabase({ kind: 'pglite', dataDir, loadDataDir: new Blob([await migratedPgliteTemplate()]) });
      await embedded.migrate();
      log('  PGlite open and migrated');
      const org = await createBenchOrg(embedded.db, 'pglite', run.runTag, ['coordinator', 'finance']);
      const sql = pgliteSql(embedded.pglite!);
      await insertContributors(sql, { organisationId: org.organisationId, from: 0, to: cfg.contributors, budgetIds: [], mix: 'lived', method: 'bank', buckets: [] });
      const ids = await contributorIdsOf(sql, org.organisationId);
      await embedded.close();
      log('  starting the service on PGlite');
      pgliteServer = await startService(run, 'service-pglite', { PGLITE_DIR: dataDir });
      log('  service ready; creating budgets');
      const client = new HttpClient(pgliteServer.url, 256);
      const tokens = await loginAll(client, org);
      const funding = await setupFunding(client, tokens.finance, cfg.budgets, 100_000_000_000);
      log('  warming up');
      const server = pgliteServer;
      const target = manyContributors(client, tokens.coordinator, ids, funding.budgetIds, run.runTag);
      const { peak, where } = await measuredApprovalPeak(cfg, target, '6', () => startProbe(null, server.pid, null));
      const hwm = server.hwm();
      details.scenario6 = { contributors: ids.length, peak, whereTheTimeGoes: where, vmHwmMb: round(hwm / MB, 1), rssWhenReadyMb: round(server.memory.firstRss / MB, 1) };
      client.close();
      const base = measured.approvalsPeak ? measured.approvalsPeak.approvalsPerSecond : null;
      if (cfg.only.has(6)) {
        rows.push(
          ratioRow({
            id: '6',
            scenario: 'approvals/s on PGlite',
            measured: peak.approvalsPerSecond,
            unit: '/s',
            baseline: base,
            baselineLabel: 'scenario 1 /s',
            target: '≥ 0.3 × PostgreSQL',
            minRatio: 0.3,
            extraOk: peak.errors === 0,
            note: peak.errors ? `${peak.errors} errors: ${firstErrorSample(peak) ?? ''}` : undefined,
          }),
        );
      }
      if (cfg.only.has(7)) rows.push(memoryRow('PGlite', hwm, server.memory.firstRss, 'the embedded database lives in this process'));
    } finally {
      if (pgliteServer) await pgliteServer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
