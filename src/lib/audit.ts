import type { Db } from '../db/client.js';
import { auditEvents } from '../db/schema.js';
import { newId } from './ids.js';
import type { Actor } from '../domain/actor.js';

export interface AuditChange {
  action: string;
  entityType: string;
  entityId: string;
  before?: unknown;
  after?: unknown;
}

/**
 * Records a change of state. Call it with the transaction that makes the change, so the event
 * and the change commit or roll back together (DESIGN.md invariant 8).
 */
export async function recordAudit(tx: Db, organisationId: string, actor: Actor, change: AuditChange): Promise<void> {
  await tx.insert(auditEvents).values({
    organisationId,
    id: newId(),
    actorType: actor.type,
    actorId: actor.id,
    action: change.action,
    entityType: change.entityType,
    entityId: change.entityId,
    before: change.before === undefined ? null : toJson(change.before),
    after: change.after === undefined ? null : toJson(change.after),
    requestId: actor.requestId ?? null,
  });
}

/** Dates become ISO strings; secrets never reach the audit log (callers pass public views). */
const toJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));
