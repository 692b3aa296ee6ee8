/**
 * The results as Markdown (bench/results/<scale>.md: full.md, small.md), for the README and for
 * reviewers: the table, the notes and where the time went. `tsx bench/markdown.ts <file.json>`
 * writes the .md beside a results file written earlier.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Row } from './table.js';

export interface Report {
  startedAt: string;
  durationS: number;
  scale: string;
  machine: { cpus: number; cpuModel?: string; memoryMb: number; node: string; postgres: string };
  rows: Row[];
  notes: string[];
  where?: string[];
}

const cell = (text: string) => text.replace(/\|/g, '\\|');
const figure = (value: number | null, unit: string) => {
  if (value === null || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  const text = abs >= 1000 ? Math.round(value).toLocaleString('en-GB') : abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : String(Math.round(value * 100) / 100);
  return unit ? `${text} ${unit}` : text;
};

export function renderMarkdown(report: Report): string {
  const m = report.machine;
  const lines = [
    `# Benchmark results (${report.scale} scale)`,
    '',
    `Run ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${report.durationS} s, on ${m.cpus} × ${m.cpuModel ?? 'CPU'} with ${Math.round(m.memoryMb / 1024)} GB; PostgreSQL ${m.postgres}; Node ${m.node}.`,
    '',
    '| # | scenario | measured | baseline | ratio | target | result |',
    '|---|---|---:|---:|---:|---|---|',
    ...report.rows.map((r) =>
      `| ${r.id} | ${cell(r.scenario)} | ${figure(r.measured, r.unit)} | ${r.baseline === null ? '–' : `${figure(r.baseline, '')} ${r.baselineLabel}`} | ${r.ratio === null ? '–' : r.ratio.toFixed(3)} | ${cell(r.target)} | ${r.verdict === 'PASS' ? '**PASS**' : r.verdict} |`,
    ),
  ];
  const notes = report.rows.filter((r) => r.note).map((r) => `- ${r.id}: ${cell(r.note!)}`);
  if (notes.length) lines.push('', 'Notes:', '', ...notes);
  if (report.where?.length) lines.push('', 'Where the time goes:', '', ...report.where.map((l) => `- ${l}`));
  if (report.notes.length) lines.push('', ...report.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: tsx bench/markdown.ts bench/results/<name>.json');
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  writeFileSync(file.replace(/\.json$/, '.md'), renderMarkdown(report));
  console.log(`wrote ${file.replace(/\.json$/, '.md')}`);
}
