/**
 * "Where the time goes", printed under the results table and written to the results files: a few
 * lines from the details that explain the table (CPU, WAL and statements per operation, the
 * report's heaviest plan nodes, the payout run), and a note when other processes used the cores.
 */
import { round } from './load.js';
import { profileSummary } from './perf.js';

/** A few lines from the details that explain the table (CPU, WAL and statements per operation). */
export function whereTheTimeGoes(details: Record<string, any>): string[] {
  const lines: string[] = [];
  const probes: { name: string; probe: any }[] = [];
  const pg = details.pgbench?.probe;
  for (const [name, key] of [
    ['scenario 1', 'scenario1'],
    ['scenario 2', 'scenario2'],
    ['scenario 8 (more contributors)', 'scenario8Approvals'],
    ['scenario 6 (PGlite)', 'scenario6'],
  ] as const) {
    const w = details[key]?.whereTheTimeGoes;
    if (!w) continue;
    probes.push({ name, probe: w });
    lines.push(
      `${name}: per approval ${w.perOperation.serviceCpuMs} ms service CPU, ${w.perOperation.postgresCpuMs} ms PostgreSQL CPU, ${w.perOperation.loadGeneratorCpuMs} ms load generator; ` +
        `${w.perOperation.walBytes} B WAL, ${w.perOperation.commits} commits; busy cores: service ${w.cores.service}, PostgreSQL ${w.cores.postgres}, other processes ${round(w.cores.otherProcesses + w.cores.otherDatabases)}`,
    );
  }
  for (const [name, key] of [
    ['scenario 3a (balance)', 'scenario3a'],
    ['scenario 3b (statement)', 'scenario3b'],
  ] as const) {
    const r = details[key]?.whereTheTimeGoes;
    if (!r) continue;
    probes.push({ name, probe: r });
    lines.push(`${name}: per read ${r.perOperation.serviceCpuMs} ms service CPU, ${r.perOperation.postgresCpuMs} ms PostgreSQL CPU, ${r.perOperation.loadGeneratorCpuMs} ms load generator; busy cores: service ${r.cores.service}, PostgreSQL ${r.cores.postgres}, other processes ${round(r.cores.otherProcesses + r.cores.otherDatabases)}`);
  }
  const ceiling = details.scenario3b?.bareAnswerCeiling;
  if (ceiling) {
    lines.push(
      `scenario 3b's ceiling: the same statement (${ceiling.bytes} B) from memory on a bare Fastify route, ${ceiling.answerRps} req/s against ${ceiling.constantRps} for its constant route: ${ceiling.ratio} ×, the most any statement read could reach against a route that does nothing`,
    );
  }
  if (pg) {
    probes.push({ name: 'pgbench', probe: pg });
    lines.push(`pgbench: per transaction ${pg.perOperation.postgresCpuMs} ms PostgreSQL CPU, ${pg.perOperation.walBytes} B WAL; busy cores: PostgreSQL ${pg.cores.postgres}, pgbench itself and other processes ${round(pg.cores.otherProcesses + pg.cores.otherDatabases)}`);
  }
  const s = details.statementsPerRequest;
  if (s) {
    lines.push(
      `database round trips: submit ${s.submitWithKey.roundTrips}, approve ${s.approveWithKey.roundTrips} with an Idempotency-Key (${s.submitWithoutKey.roundTrips} and ${s.approveWithoutKey.roundTrips} without); statements in details.statementsPerRequest`,
    );
  }
  const wal = s?.walPerApproval;
  if (wal) {
    const top = Object.entries(wal.byRelation as Record<string, number>).slice(0, 8).map(([relation, bytes]) => `${relation} ${bytes}`);
    lines.push(`WAL of ${wal.approvals} approvals one at a time (pg_walinspect, this database only): ${wal.bytes} B each (${wal.fullPageImageBytes} B full-page images); most: ${top.join(', ')} B; all in details.statementsPerRequest.walPerApproval`);
  }
  const profile = details.scenario1?.postgresProfile;
  if (profile) {
    lines.push(`PostgreSQL's CPU in scenario 1's peak, by what it was doing (perf, ${profile.samples} samples): ${profileSummary(profile)}`);
  }
  if (details.serviceHealthz && details.constantRoute) {
    const cpu = details.serviceHealthz.probe?.perOperation?.serviceCpuMs;
    lines.push(`GET /healthz of the service: ${details.serviceHealthz.rps} req/s${cpu ? `, ${cpu} ms of service CPU a request` : ''}, against ${details.constantRoute.rps} for a bare Fastify route (the service's hooks and plugins on a route that does nothing)`);
  }
  const steps = details.scenario4?.steps as any[] | undefined;
  if (steps?.length) {
    const last = steps[steps.length - 1];
    lines.push(`distribution report at ${last.entries.toLocaleString('en-GB')} entries: EXPLAIN ANALYZE ${last.explain.executionMs} ms; heaviest nodes: ${last.explain.topNodes.slice(0, 3).join('; ')} (plan in ${last.explain.file.replace(/^.*\/bench\//, 'bench/')})`);
  }
  const p = details.scenario5;
  if (p) lines.push(`payouts: ${p.paid}/${p.items} paid at ${p.itemsPerSecond}/s with ${p.payoutWorkers} workers, ${p.stripeRequests} Stripe requests, ${p.stripe429s} answered 429; ${p.runs} run(s)`);
  const other = probes.map((x) => x.probe.cores.otherProcesses + x.probe.cores.otherDatabases);
  const mean = other.length ? other.reduce((a, b) => a + b, 0) / other.length : 0;
  if (mean > 0.25) {
    lines.push(
      `NOTE: other processes on this machine used ${mean.toFixed(2)} cores on average during the measured phases: the figures are lower than an idle machine would give, and vary from run to run.`,
    );
  }
  return lines;
}
