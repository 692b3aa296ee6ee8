/**
 * Scenario 3: GET /v1/contributors/{id}/balance and GET /v1/contributors/{id}/statement
 * alternately for the approvals organisation's contributors, under autocannon. Figure: 2xx
 * answers a second against the constant route's req/s.
 */
import type autocannon from 'autocannon';
import { autocannonRun, summarise, type AutocannonSummary } from '../baselines.js';
import { log, scenario, type BenchRun, type PostgresService } from '../harness.js';
import { startProbe } from '../probe.js';
import { ratioRow } from '../table.js';
import { dbNameOf, type ApprovalsOrg, type Baselines } from './shared.js';

export async function balanceAndStatementReads(run: BenchRun, service: PostgresService, approvals: ApprovalsOrg, baselines: Baselines) {
  const { cfg, rows, details, sql } = run;
  const { server } = service;
  await scenario(run, '3', 'reads: balance and statement', server, async () => {
    const ids = approvals.contributorIds;
    let k = Math.floor(Math.random() * ids.length);
    const pick = () => ids[(k = (k + 7919) % ids.length)]!;
    const options = {
      url: server.url,
      connections: cfg.connections,
      headers: approvals.tokens.coordinator,
      requests: [
        { method: 'GET' as const, setupRequest: (req: autocannon.Request) => ({ ...req, path: `/v1/contributors/${pick()}/balance` }) },
        { method: 'GET' as const, setupRequest: (req: autocannon.Request) => ({ ...req, path: `/v1/contributors/${pick()}/statement?from=2026-01-01&to=2026-12-31` }) },
      ],
    };
    await autocannonRun({ ...options, duration: cfg.warmupMs / 1000 });
    const probe = await startProbe(sql, server.pid, [dbNameOf(cfg)]);
    const result = await autocannonRun({ ...options, duration: cfg.durationMs / 1000 });
    const reads: AutocannonSummary = summarise(result);
    const where = await probe.end(result['2xx']);
    const { rows: perContributor } = await sql.query<{ n: string }>(
      `select round(avg(n))::int as n from (select count(*) as n from time_entries where organisation_id = $1 group by contributor_id) x`,
      [approvals.org.organisationId],
    );
    details.scenario3 = { ...reads, entriesPerContributor: Number(perContributor[0]?.n ?? 0), whereTheTimeGoes: where };
    log(`  ${reads.rps} req/s, p99 ${reads.latencyMs.p99} ms, non-2xx ${reads.non2xx}`);
    rows.push(
      ratioRow({
        id: '3',
        scenario: 'reads/s (balance + statement)',
        measured: reads.rps,
        unit: '/s',
        baseline: baselines.constant.rps,
        baselineLabel: 'constant rps',
        target: '≥ 0.25 × constant',
        minRatio: 0.25,
        extraOk: reads.non2xx === 0 && reads.errors === 0,
        note: reads.non2xx || reads.errors ? `${reads.non2xx} non-2xx, ${reads.errors} errors` : undefined,
      }),
    );
  });
}
