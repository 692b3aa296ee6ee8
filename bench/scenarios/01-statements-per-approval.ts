/**
 * Scenario 1's diagnostic (no row in the table): the database round trips of one submit and one
 * approve, with and without an Idempotency-Key, counted by building the app in this process over
 * a pg pool that records every statement (bench/diagnostics.ts). Written to
 * details.statementsPerRequest.
 */
import { countApprovalStatements } from '../diagnostics.js';
import { log, scenario, type BenchRun } from '../harness.js';
import type { ServerHandle } from '../proc.js';
import type { ApprovalsOrg } from './shared.js';

/** `server` is only watched for its memory after the diagnostic. */
export async function statementsPerApproval(run: BenchRun, server: ServerHandle, approvals: ApprovalsOrg) {
  const { cfg, details } = run;
  await scenario(run, '1', 'statements per approval (diagnostic)', server, async () => {
    const statements = await countApprovalStatements({
      databaseUrl: cfg.databaseUrl,
      jwtSecret: run.jwtSecret,
      org: approvals.org,
      contributorId: approvals.contributorIds[0]!,
      budgetId: approvals.funding.budgetIds[0]!,
      contributorIds: approvals.contributorIds.slice(0, 200),
      budgetIds: approvals.funding.budgetIds,
    });
    details.statementsPerRequest = statements;
    log(
      `  round trips: submit ${statements.submitWithKey.roundTrips} (${statements.submitWithoutKey.roundTrips} without key), approve ${statements.approveWithKey.roundTrips} (${statements.approveWithoutKey.roundTrips} without key)`,
    );
    const wal = statements.walPerApproval;
    if (wal) log(`  WAL per approval ${wal.bytes} B (${wal.fullPageImageBytes} B full-page images): ${Object.entries(wal.byRelation).map(([r, b]) => `${r} ${b}`).join(', ')}`);
  });
}
