/**
 * Scenario 2: scenario 1's flow with every entry on one budget, so every approval locks the same
 * budget account row; then a race: a budget with room for exactly 100 one-hour entries gets 200
 * approvals from BENCH_CONNECTIONS clients at once. Figures: approvals a second against pgbench's
 * TPS; 5xx answers and whether more was approved than the budget held.
 */
import type { FlowTarget } from '../approvals.js';
import { log, scenario, type BenchRun, type PostgresService } from '../harness.js';
import { startProbe } from '../probe.js';
import { analyzeApprovalTables, checkLedger, createBudget, postExpect } from '../seed.js';
import { absoluteRow, ratioRow } from '../table.js';
import { dbNameOf, firstErrorSample, measuredApprovalPeak, type ApprovalsOrg, type Baselines } from './shared.js';

export async function hotBudget(run: BenchRun, service: PostgresService, approvals: ApprovalsOrg, baselines: Baselines) {
  const { cfg, rows, details, sql } = run;
  const { server, client } = service;
  const { tokens, funding } = approvals;
  const tps = baselines.pgbench?.tps ?? null;
  await scenario(run, '2', 'submit + approve on one hot budget', server, async () => {
    const ids = approvals.contributorIds;
    const budget = (name: string, grantReference: string, amount: number) =>
      createBudget(client, tokens.finance, { projectId: funding.projectId, name, funder: 'Benchmark', grantReference, amount, rateCardId: funding.rateCardId });
    const hot = await budget('Hot budget', 'HOT-1', 100_000_000_000);
    const target = (phase: string): FlowTarget => ({
      client,
      headers: tokens.coordinator,
      keyPrefix: `${run.runTag}-${phase}`,
      pick: () => ({ contributorId: ids[Math.floor(Math.random() * ids.length)]!, budgetId: hot.id }),
    });
    const { peak, where } = await measuredApprovalPeak(cfg, target, '2', () => startProbe(sql, server.pid, [dbNameOf(cfg)]), () => analyzeApprovalTables(sql));

    // Overspend: a budget with room for exactly `room` entries, twice as many approvals racing.
    const room = 100;
    const tight = await budget('Tight budget', 'TIGHT-1', room * 2000);
    const entryIds: string[] = [];
    for (let i = 0; i < room * 2; i++) {
      const entry = await postExpect(client, tokens.coordinator, '/v1/time-entries', {
        contributorId: ids[i % ids.length],
        budgetId: tight.id,
        activity: 'meeting',
        date: '2026-05-05',
        minutes: 60,
      });
      entryIds.push(entry.id);
    }
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: cfg.connections }, async () => {
        while (next < entryIds.length) {
          const id = entryIds[next++]!;
          const res = await client.request('POST', `/v1/time-entries/${id}/approve`, { headers: { ...tokens.coordinator, 'idempotency-key': `${run.runTag}-tight-${id}` } });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        }
      }),
    );
    const budgetNow = JSON.parse((await client.request('GET', `/v1/budgets/${tight.id}`, { headers: tokens.finance })).body) as { available: number; committed: number; amount: number };
    const ledger = await checkLedger(sql, approvals.org.organisationId);
    const overspent = budgetNow.available < 0 || budgetNow.committed > budgetNow.amount || (statuses.get(200) ?? 0) > room;
    const race = { room, approvals: entryIds.length, statuses: Object.fromEntries(statuses), budget: budgetNow, ledger };
    log(`  overspend race: ${JSON.stringify(race.statuses)}; available ${budgetNow.available}, committed ${budgetNow.committed} of ${budgetNow.amount}`);
    details.scenario2 = { peak, whereTheTimeGoes: where, overspendRace: race };
    const fiveHundreds = peak.fiveHundreds + [...statuses].filter(([s]) => s >= 500 || s === 0).reduce((n, [, c]) => n + c, 0);
    rows.push(
      ratioRow({ id: '2', scenario: 'approvals/s, one hot budget', measured: peak.approvalsPerSecond, unit: '/s', baseline: tps, baselineLabel: 'pgbench TPS', target: '≥ 0.08 × pgbench', minRatio: 0.08 }),
      absoluteRow({
        id: '2',
        scenario: `5xx, overspend (race: ${room * 2} approvals for ${room})`,
        measured: fiveHundreds,
        unit: '× 5xx',
        target: '0 5xx, no overspend',
        ok: fiveHundreds === 0 && !overspent && ledger.unbalancedTransactions === 0 && ledger.cachedBalanceMismatches === 0 && ledger.trialBalance === 0,
        note: overspent
          ? `OVERSPENT: ${JSON.stringify(race.statuses)}, available ${budgetNow.available}`
          : peak.errors
            ? `${peak.errors} non-2xx in the hot-budget run: ${firstErrorSample(peak) ?? ''}`
            : undefined,
      }),
    );
  });
}
