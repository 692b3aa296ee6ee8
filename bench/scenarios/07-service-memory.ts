/**
 * Scenario 7 for the service on PostgreSQL: its process's peak resident memory (VmHWM from
 * /proc/<pid>/status) across scenarios 1–5 and 8, read before it stops; RSS is also sampled
 * twice a second. (The PGlite service's row is read by 06-pglite-approvals.ts, before that
 * process stops.)
 */
import { MB, type BenchRun } from '../harness.js';
import { round } from '../load.js';
import type { ServerHandle } from '../proc.js';
import { memoryRow } from './shared.js';

/** Call before `server` stops. The details are always written; the row only when scenario 7 is selected. */
export function postgresServiceMemory(run: BenchRun, server: ServerHandle) {
  const hwm = server.hwm();
  run.details.memoryPostgresServer = { vmHwmMb: round(hwm / MB, 1), rssWhenReadyMb: round(server.memory.firstRss / MB, 1), sampledPeakRssMb: round(server.memory.peakRss / MB, 1), samples: server.memory.samples.length };
  if (run.cfg.only.has(7)) run.rows.push(memoryRow('PostgreSQL', hwm, server.memory.firstRss));
}
