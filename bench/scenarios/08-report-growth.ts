/**
 * Scenario 8, the report's growth: scenario 4's report at its first and last size, the median
 * time's growth divided by the data's. Measures nothing itself; needs scenario 4's timings.
 */
import type { BenchRun } from '../harness.js';
import { round } from '../load.js';
import { absoluteRow } from '../table.js';
import type { Measured } from './shared.js';

/** A row only when scenario 8 is selected and scenario 4 timed at least two sizes. */
export function reportGrowth(run: BenchRun, measured: Measured) {
  const reportTimings = measured.reportTimings;
  if (!run.cfg.only.has(8) || reportTimings.length < 2) return;
  const a = reportTimings[0]!;
  const b = reportTimings[reportTimings.length - 1]!;
  const dataRatio = b.entries / a.entries;
  const timeRatio = b.timing.p50Ms / a.timing.p50Ms;
  run.rows.push(
    absoluteRow({
      id: '8',
      scenario: `report time growth, ${dataRatio}× entries`,
      measured: round(timeRatio / dataRatio, 3),
      unit: '× data',
      target: '≤ 1 (time grows ≤ data)',
      ok: timeRatio <= dataRatio,
      note: `report p50 ${a.timing.p50Ms} ms at ${a.entries.toLocaleString('en-GB')} → ${b.timing.p50Ms} ms at ${b.entries.toLocaleString('en-GB')} (time ×${timeRatio.toFixed(2)} for data ×${dataRatio})`,
    }),
  );
}
