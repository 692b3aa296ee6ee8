/**
 * Scenario 4: GET /v1/reports/distribution over bulk-seeded data, timed serially; and the
 * report's main query under EXPLAIN (ANALYZE, BUFFERS), captured from the service function
 * itself (src/modules/reports/service.ts) so the plan is of the SQL the service really runs.
 */
import { writeFileSync } from 'node:fs';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import type { Db } from '../src/db/client.js';
import * as schema from '../src/db/schema.js';
import { distributionReport } from '../src/modules/reports/service.js';
import { round, type HttpClient } from './load.js';

export interface ReportTiming {
  samples: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  bytes: number;
  errors: string[];
  allMs: number[];
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;

/** Requests the report `samples` times one after another (after two untimed warm-ups). */
export async function timeReport(client: HttpClient, headers: Record<string, string>, path: string, samples: number): Promise<ReportTiming> {
  const errors: string[] = [];
  let bytes = 0;
  for (let i = 0; i < 2; i++) await client.request('GET', path, { headers });
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const res = await client.request('GET', path, { headers });
    if (res.status !== 200) errors.push(`${res.status}: ${res.body.slice(0, 300)}`);
    bytes = res.body.length;
    times.push(res.ms);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    samples,
    meanMs: round(times.reduce((s, t) => s + t, 0) / Math.max(1, times.length)),
    p50Ms: round(percentile(sorted, 50)),
    p95Ms: round(percentile(sorted, 95)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
    bytes,
    errors,
    allMs: times.map((t) => round(t, 1)),
  };
}

export interface ExplainSummary {
  statements: number;
  executionMs: number | null;
  planningMs: number | null;
  /** The plan's most expensive nodes by their own actual time (inclusive time of the node). */
  topNodes: string[];
  file: string;
}

/**
 * Runs the service's distributionReport with a query-capturing logger, then EXPLAIN ANALYZE of
 * the heaviest statement it issued. Writes the whole plan to `file`.
 */
export async function explainDistribution(pool: pg.Pool, organisationId: string, file: string): Promise<ExplainSummary> {
  const captured: { query: string; params: unknown[] }[] = [];
  const db = drizzle(pool, { schema, logger: { logQuery: (query, params) => void captured.push({ query, params }) } }) as unknown as Db;
  await distributionReport(db, organisationId, { currency: 'GBP' });
  const main = [...captured].sort((a, b) => b.query.length - a.query.length)[0];
  if (!main) throw new Error('distributionReport issued no query');
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers) ${main.query}`, main.params);
  const plan = rows.map((r) => r['QUERY PLAN']);
  writeFileSync(file, `-- ${captured.length} statement(s); the heaviest, with params ${JSON.stringify(main.params)}:\n${main.query}\n\n${plan.join('\n')}\n`);
  const ms = (label: string) => {
    const m = new RegExp(`${label}: ([\\d.]+) ms`).exec(plan.join('\n'));
    return m ? Number(m[1]) : null;
  };
  return { statements: captured.length, executionMs: ms('Execution Time'), planningMs: ms('Planning Time'), topNodes: heaviestNodes(plan), file };
}

/**
 * The plan nodes that spent the most time themselves (their inclusive time minus their
 * children's), as "ms  node (rows n)". Inclusive time is the per-loop time × loops, except below
 * a Gather, where the loops are parallel workers running side by side. CTE Scan nodes are left
 * out: the first one to read a CTE is charged the CTE's whole computation, which its own nodes
 * already show.
 */
export function heaviestNodes(plan: string[], count = 6): string[] {
  const nodes: { node: string; inclusive: number; children: number; rows: number; indent: number }[] = [];
  const stack: (typeof nodes)[number][] = [];
  let gatherIndent: number | null = null;
  for (const line of plan) {
    const m = /^(\s*)(?:->\s*)?(.+?)\s+\(cost=.*actual time=[\d.]+\.\.([\d.]+) rows=(\d+) loops=(\d+)\)/.exec(line);
    if (!m) continue;
    const indent = m[1]!.length;
    if (gatherIndent !== null && indent <= gatherIndent) gatherIndent = null;
    const node = { node: m[2]!.trim(), inclusive: Number(m[3]) * (gatherIndent !== null ? 1 : Number(m[5])), children: 0, rows: Number(m[4]), indent };
    while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent) parent.children += node.inclusive;
    stack.push(node);
    nodes.push(node);
    if (/^Gather/.test(node.node)) gatherIndent = indent;
  }
  return nodes
    .filter((n) => !/^CTE Scan/.test(n.node))
    .map((n) => ({ ...n, self: Math.max(0, n.inclusive - n.children) }))
    .sort((a, b) => b.self - a.self)
    .slice(0, count)
    .map((n) => `${round(n.self, 1)} ms  ${n.node} (rows ${n.rows})`);
}
