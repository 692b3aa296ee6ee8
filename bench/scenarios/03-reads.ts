/**
 * Scenario 3, reads, measured apart under autocannon:
 *  3a. GET /v1/contributors/{id}/balance for the approvals organisation's contributors;
 *  3b. GET /v1/contributors/{id}/statement over the tax year 2026-27 for contributors who each
 *      have about 200 entries in it (seeded here with bulk SQL, approved, with their postings).
 * Figures: 2xx answers a second against the service's own GET /healthz (its framework and
 * plugins on a route that does no work), so the ratio is what the read itself costs.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { autocannonRun, bareAnswerCeiling, summarise, type AutocannonSummary } from '../baselines.js';
import { log, scenario, type BenchRun, type PostgresService } from '../harness.js';
import { startProbe, type ProbeResult } from '../probe.js';
import { insertEntries, vacuumAnalyze } from '../seed.js';
import { ratioRow } from '../table.js';
import { dbNameOf, type ApprovalsOrg, type Baselines } from './shared.js';

/** Contributors given a year of entries for 3b, and entries each (about 200 fall in the tax year). */
const STATEMENT_CONTRIBUTORS = 20;
const ENTRIES_EACH = 290;
const TAX_YEAR = { from: '2026-04-06', to: '2027-04-05' };

export async function balanceAndStatementReads(run: BenchRun, service: PostgresService, approvals: ApprovalsOrg, baselines: Baselines) {
  const { cfg, rows, details, sql } = run;
  const { server } = service;
  const organisationId = approvals.org.organisationId;
  const healthz = baselines.healthz?.rps ?? null;

  /** One read measured alone: a warm-up, then a phase with the probe watching. */
  const measure = async (path: () => string): Promise<AutocannonSummary & { whereTheTimeGoes: ProbeResult }> => {
    const options = {
      url: server.url,
      connections: cfg.connections,
      headers: approvals.tokens.coordinator,
      requests: [{ method: 'GET' as const, setupRequest: (req: autocannon.Request) => ({ ...req, path: path() }) }],
    };
    await autocannonRun({ ...options, duration: cfg.warmupMs / 1000 });
    const probe = await startProbe(sql, server.pid, [dbNameOf(cfg)]);
    const result = await autocannonRun({ ...options, duration: cfg.durationMs / 1000 });
    return { ...summarise(result), whereTheTimeGoes: await probe.end(result['2xx']) };
  };
  const row = (id: string, what: string, reads: AutocannonSummary, minRatio: number) =>
    ratioRow({
      id,
      scenario: `${what} reads/s`,
      measured: reads.rps,
      unit: '/s',
      baseline: healthz,
      baselineLabel: '/healthz rps',
      target: `≥ ${minRatio.toFixed(2)} × its /healthz`,
      minRatio,
      extraOk: reads.non2xx === 0 && reads.errors === 0,
      note: reads.non2xx || reads.errors ? `${reads.non2xx} non-2xx, ${reads.errors} errors` : undefined,
    });

  await scenario(run, '3a', 'reads: balance', server, async () => {
    const ids = approvals.contributorIds;
    let k = Math.floor(Math.random() * ids.length);
    const balances = await measure(() => `/v1/contributors/${ids[(k = (k + 7919) % ids.length)]}/balance`);
    details.scenario3a = balances;
    log(`  balance: ${balances.rps} req/s, p99 ${balances.latencyMs.p99} ms, non-2xx ${balances.non2xx}`);
    rows.push(row('3a', 'balance', balances, 0.2));
  });

  await scenario(run, '3b', 'reads: statement, a tax year of about 200 entries', server, async () => {
    // Bulk contributors 0 to 19 (named "Bench contributor <i>") get ENTRIES_EACH entries each on
    // the budget the bulk SQL deals them, with the owed accounts those postings need.
    const budgetIds = approvals.funding.budgetIds;
    await sql.query(
      `insert into ledger_accounts (organisation_id, code, currency, type, budget_id, contributor_id, component, allow_negative)
       select c.organisation_id, 'contributor:' || c.id || ':owed:earnings:budget:' || b.id, 'GBP', 'contributor_owed', b.id, c.id, 'earnings', false
         from (select i, ('Bench contributor ' || i) as name from generate_series(0, $2::int - 1) as i) n
         join contributors c on c.organisation_id = $1 and c.name = n.name
         join lateral (select ($3::uuid[])[1 + n.i % array_length($3::uuid[], 1)] as id) b on true
       on conflict do nothing`,
      [organisationId, STATEMENT_CONTRIBUTORS, budgetIds],
    );
    const { rows: funding } = await sql.query<{ rate_card_version_id: string }>(
      `select v.id as rate_card_version_id from rate_card_versions v join budgets b on b.organisation_id = v.organisation_id and b.rate_card_id = v.rate_card_id
        where b.organisation_id = $1 and b.id = $2 order by v.version limit 1`,
      [organisationId, budgetIds[0]],
    );
    await insertEntries(sql, {
      organisationId,
      from: 0,
      to: STATEMENT_CONTRIBUTORS * ENTRIES_EACH,
      contributors: STATEMENT_CONTRIBUTORS,
      budgetIds,
      rateCardVersionId: funding[0]!.rate_card_version_id,
      mix: 'lived',
      method: 'bank',
      statusMix: false,
    });
    await vacuumAnalyze(sql);
    const { rows: who } = await sql.query<{ id: string; n: string }>(
      `select c.id, (select count(*) from time_entries t where t.organisation_id = c.organisation_id and t.contributor_id = c.id
                        and t.date between $3::date and $4::date) as n
         from contributors c join generate_series(0, $2::int - 1) as i on c.name = 'Bench contributor ' || i
        where c.organisation_id = $1`,
      [organisationId, STATEMENT_CONTRIBUTORS, TAX_YEAR.from, TAX_YEAR.to],
    );
    const ids = who.map((w) => w.id);
    const entriesInRange = Math.round(who.reduce((n, w) => n + Number(w.n), 0) / Math.max(1, who.length));
    let k = 0;
    const statements = await measure(() => `/v1/contributors/${ids[(k = (k + 1) % ids.length)]}/statement?from=${TAX_YEAR.from}&to=${TAX_YEAR.to}`);
    log(`  statement (${entriesInRange} entries in the tax year): ${statements.rps} req/s, p99 ${statements.latencyMs.p99} ms, non-2xx ${statements.non2xx}`);
    // The same answer with no work behind it: one of these statements, served from memory by a
    // bare Fastify process, against that process's constant route. No statement read can do
    // better than that ratio against a route that does nothing; against the service's /healthz,
    // itself slower than a bare route, the bound is lower still.
    const sample = await fetch(`${server.url}/v1/contributors/${ids[0]}/statement?from=${TAX_YEAR.from}&to=${TAX_YEAR.to}`, {
      headers: approvals.tokens.coordinator,
    });
    if (!sample.ok) throw new Error(`statement sample: ${sample.status} ${await sample.text()}`);
    const sampleFile = join(cfg.resultsDir, 'statement-sample.json');
    const sampleText = await sample.text();
    await writeFile(sampleFile, sampleText);
    log('  the same statement from memory on a bare Fastify route (the ceiling)');
    const ceiling = { bytes: Buffer.byteLength(sampleText), ...(await bareAnswerCeiling(cfg, sampleFile).finally(() => rm(sampleFile, { force: true }))) };
    log(`  bare route: ${ceiling.answerRps} req/s for ${ceiling.bytes} B, ${ceiling.constantRps} for a constant: ${ceiling.ratio} ×`);
    details.scenario3b = { ...statements, contributors: ids.length, entriesInRange, bareAnswerCeiling: ceiling };
    rows.push(row('3b', `statement (${entriesInRange} entries)`, statements, 0.05));
  });
}
