import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { commitWithNextStatement } from '../db/pipelined-transactions.js';
import { auditEvents, idempotencyKeys } from '../db/schema.js';

/**
 * Rows that a request's transaction writes and nothing in it reads again (its audit events, its
 * idempotency record) are held until the request's work is done and then written in one
 * statement, still inside that transaction and before its commit: one round trip instead of one
 * per row. They commit or roll back with the change they describe, exactly as if each had been
 * inserted on the spot (DESIGN.md invariant 8; the idempotency record commits with its effect).
 *
 * Only a transaction opened with holdWrites holds rows (the request transaction of
 * src/plugins/transaction.ts); everywhere else (jobs, the CLI, a savepoint) the caller inserts at
 * once. Held rows travel as one JSON parameter per table and are read back with
 * jsonb_populate_recordset over the table's own row type, so column types and defaults are the
 * table's.
 */
export interface HeldAuditEvent {
  organisation_id: string;
  id: string;
  actor_type: string;
  actor_id: string | null;
  action: string;
  entity_type: string;
  entity_id: string;
  before: unknown;
  after: unknown;
  changed_from: unknown;
  request_id: string | null;
}

export interface HeldIdempotencyRecord {
  organisation_id: string;
  key: string;
  request_hash: string;
  response_status: number;
  response_body: unknown;
}

interface Held {
  audit: HeldAuditEvent[];
  idempotency: HeldIdempotencyRecord[];
}

const heldBy = new WeakMap<Db, Held>();

/** From now on, rows this transaction would insert into the held tables wait for writeHeld. */
export function holdWrites(tx: Db): void {
  heldBy.set(tx, { audit: [], idempotency: [] });
}

/** Holds an audit event if `tx` holds writes; false when the caller must insert it itself. */
export function holdAuditEvent(tx: Db, row: HeldAuditEvent): boolean {
  const held = heldBy.get(tx);
  if (!held) return false;
  held.audit.push(row);
  return true;
}

/** Holds an idempotency record if `tx` holds writes; false when the caller must insert it itself. */
export function holdIdempotencyRecord(tx: Db, row: HeldIdempotencyRecord): boolean {
  const held = heldBy.get(tx);
  if (!held) return false;
  held.idempotency.push(row);
  return true;
}

/**
 * Writes what `tx` holds, in one statement, and stops holding. Call it last in the transaction.
 * With `commit`, the caller promises that nothing follows but the transaction's commit, and the
 * commit is written with that statement (src/db/pipelined-transactions.ts): a commit that fails
 * then fails this call, and nothing was written.
 */
export async function writeHeld(tx: Db, options: { commit?: boolean } = {}): Promise<void> {
  const held = heldBy.get(tx);
  heldBy.delete(tx);
  if (!held) return;
  const parts: SQL[] = [];
  if (held.audit.length) {
    parts.push(sql`insert into ${auditEvents} (organisation_id, id, actor_type, actor_id, action, entity_type, entity_id, before, after, changed_from, request_id)
      select organisation_id, id, actor_type, actor_id, action, entity_type, entity_id, before, after, changed_from, request_id
        from jsonb_populate_recordset(null::audit_events, ${JSON.stringify(held.audit)}::jsonb) order by id`);
  }
  if (held.idempotency.length) {
    parts.push(sql`insert into ${idempotencyKeys} (organisation_id, key, request_hash, response_status, response_body)
      select organisation_id, key, request_hash, response_status, response_body
        from jsonb_populate_recordset(null::idempotency_keys, ${JSON.stringify(held.idempotency)}::jsonb)`);
  }
  if (parts.length === 0) return;
  // Both tables in one statement: each insert a data-modifying CTE, all of which PostgreSQL
  // runs to completion whatever the outer select reads.
  const statement =
    parts.length === 1 ? parts[0]! : sql`with ${sql.join(parts.slice(1).map((part, i) => sql`${sql.raw(`held_${i}`)} as (${part})`), sql`, `)} ${parts[0]!}`;
  if (options.commit) commitWithNextStatement(tx);
  // `then` sends it now, in this same turn, so no other statement can take the commit meant for it.
  await tx.execute(statement).then(() => undefined);
}
