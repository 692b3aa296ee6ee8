/** The result rows, the printed table and the results JSON (bench/results/<scale>.json). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type Verdict = 'PASS' | 'FAIL' | 'SKIP' | 'ERROR';

export interface Row {
  id: string;
  scenario: string;
  /** The measured figure, with its unit in `unit`. */
  measured: number | null;
  unit: string;
  /** The baseline the ratio is against (null when the target is absolute). */
  baseline: number | null;
  baselineLabel: string;
  ratio: number | null;
  target: string;
  verdict: Verdict;
  note?: string;
}

const fmt = (value: number | null, unit = ''): string => {
  if (value === null || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  const text = Number.isInteger(value) && abs < 1000 ? String(value) : abs >= 1000 ? Math.round(value).toLocaleString('en-GB') : abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
  return unit ? `${text} ${unit}` : text;
};

/**
 * A row judged by its ratio to the baseline: at least `minRatio` (a rate: more is better) or at
 * most `maxRatio` (a cost: less is better), with the verdict worked out.
 */
export function ratioRow(fields: Omit<Row, 'ratio' | 'verdict'> & { minRatio?: number; maxRatio?: number; extraOk?: boolean; note?: string }): Row {
  const ratio = fields.measured !== null && fields.baseline ? fields.measured / fields.baseline : null;
  const within = (r: number) => r >= (fields.minRatio ?? -Infinity) && r <= (fields.maxRatio ?? Infinity);
  const verdict: Verdict = ratio === null ? 'SKIP' : within(ratio) && fields.extraOk !== false ? 'PASS' : 'FAIL';
  const { minRatio: _m, maxRatio: _x, extraOk: _e, ...rest } = fields;
  return { ...rest, ratio: ratio === null ? null : Math.round(ratio * 1000) / 1000, verdict };
}

export function absoluteRow(fields: Omit<Row, 'ratio' | 'verdict' | 'baseline' | 'baselineLabel'> & { ok: boolean | null; baseline?: number | null; baselineLabel?: string }): Row {
  const { ok, ...rest } = fields;
  const ratio = fields.measured !== null && fields.baseline ? fields.measured / fields.baseline : null;
  return {
    baseline: null,
    baselineLabel: '',
    ...rest,
    ratio: ratio === null ? null : Math.round(ratio * 1000) / 1000,
    verdict: ok === null ? 'SKIP' : ok ? 'PASS' : 'FAIL',
  };
}

export function errorRow(id: string, scenario: string, error: unknown): Row {
  const message = error instanceof Error ? error.message : String(error);
  return { id, scenario, measured: null, unit: '', baseline: null, baselineLabel: '', ratio: null, target: '', verdict: 'ERROR', note: message.split('\n')[0]!.slice(0, 300) };
}

export function renderTable(rows: Row[]): string {
  const header = ['#', 'scenario', 'measured', 'baseline', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [
    r.id,
    r.scenario,
    fmt(r.measured, r.unit),
    r.baseline === null ? (r.baselineLabel || '–') : `${fmt(r.baseline)} ${r.baselineLabel}`.trim(),
    r.ratio === null ? '–' : r.ratio.toFixed(3),
    r.target,
    r.verdict,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' │ ');
  const rule = widths.map((w) => '─'.repeat(w)).join('─┼─');
  const notes = rows.filter((r) => r.note).map((r) => `  ${r.id}: ${r.note}`);
  return [line(header), rule, ...body.map(line), ...(notes.length ? ['', 'Notes:', ...notes] : [])].join('\n');
}

export function writeJson(file: string, data: unknown) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
}
