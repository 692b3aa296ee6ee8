import type { Db } from '../db/client.js';
import { auditEvents } from '../db/schema.js';
import { holdAuditEvent } from './held-writes.js';
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
 * and the change commit or roll back together (docs/design.md, invariant 8). In a request's
 * transaction the event is held and written with the request's other held rows at its end,
 * before the commit (src/lib/held-writes.ts); anywhere else it is inserted at once.
 */
export async function recordAudit(tx: Db, organisationId: string, actor: Actor, change: AuditChange): Promise<void> {
  const id = newId();
  const { before, after, changedFrom } = asStored(withoutPersonalData(change.entityType, change.before, change.after));
  const requestId = actor.requestId ?? null;
  const held = holdAuditEvent(tx, {
    organisation_id: organisationId,
    id,
    actor_type: actor.type,
    actor_id: actor.id,
    action: change.action,
    entity_type: change.entityType,
    entity_id: change.entityId,
    before,
    after,
    changed_from: changedFrom,
    request_id: requestId,
  });
  if (held) return;
  await tx.insert(auditEvents).values({
    organisationId,
    id,
    actorType: actor.type,
    actorId: actor.id,
    action: change.action,
    entityType: change.entityType,
    entityId: change.entityId,
    before,
    after,
    changedFrom,
    requestId,
  });
}

/**
 * What an event stores of the record before and after its change. An update that kept the
 * record's fields (the same names before and after, as most updates do) stores the record after
 * it whole and, in `changedFrom`, only the fields it changed with their values before it: the
 * record before is then `after || changed_from` (PostgreSQL's jsonb merge, the later object's
 * fields winning), and `before` is null. An approval's event so keeps a handful of fields instead
 * of a second copy of the entry (issue #21: a third of its row, bench/README.md). Anything else (a creation, a
 * deletion, fields that came or went, values that are not objects) is stored as it is.
 *
 * Readers rebuild the record before with `auditBefore` (src/modules/audit/views.ts), so the API
 * shows both records whole, as it always has.
 */
export function asStored(change: { before: unknown; after: unknown }): { before: unknown; after: unknown; changedFrom: Record<string, unknown> | null } {
  const { before, after } = change;
  if (!isRecord(before) || !isRecord(after)) return { before, after, changedFrom: null };
  const names = Object.keys(before);
  if (names.length !== Object.keys(after).length || !names.every((name) => Object.hasOwn(after, name))) {
    return { before, after, changedFrom: null };
  }
  const changedFrom: Record<string, unknown> = {};
  for (const name of names) if (JSON.stringify(before[name]) !== JSON.stringify(after[name])) changedFrom[name] = before[name];
  return { before: null, after, changedFrom };
}

/** Dates become ISO strings; secrets never reach the audit log (callers pass public views). */
const toJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/**
 * Personal data stays out of audit history: ids only.
 *
 * The audit log is append-only (a trigger refuses UPDATE and DELETE), and a person may ask to be
 * erased. Two ways honour both: keep ids only, or keep personal fields encrypted under a
 * per-person key that erasure destroys (crypto-shredding). We keep ids only, because
 *  - what the audit is for (who changed what, when, and what happened to the money) needs no
 *    name or email: the id names the person while they exist, and the current record says who
 *    that is; once they are erased, nobody should be able to say it;
 *  - a key kept in the same database (and its backups) as the ciphertext is no stronger than the
 *    data itself, and a key kept elsewhere is one more system that can lose the whole history;
 *  - erasure then never touches the audit log at all, so its append-only promise holds without
 *    exceptions.
 * What changed is still recorded: an update lists the names of the personal fields it changed
 * (`personalFieldsChanged`), never their values. Migration 0011 stripped the fields earlier
 * versions had copied in.
 */
const PERSONAL_FIELDS: Record<string, readonly string[]> = {
  contributor: ['name', 'email', 'stripeAccountId'],
  user: ['name', 'email'],
  time_entry: ['note'],
  // Free text staff type (a receipt's reference, a bank reference, why a payment failed) and
  // Stripe's own messages (which quote the connected account) can name the person too.
  expense: ['note', 'receiptReference'],
  session: ['note'],
  payout_item: ['reference', 'failureReason', 'lastError'],
};

/** Personal data is text; an object under the same name (a user's email preferences) is not. */
const isPersonalValue = (value: unknown): boolean => value === null || typeof value !== 'object';

export function withoutPersonalData(entityType: string, before: unknown, after: unknown): { before: unknown; after: unknown } {
  const fields = PERSONAL_FIELDS[entityType] ?? [];
  const strip = (value: unknown) => {
    if (value === undefined) return null;
    const json = toJson(value);
    if (!isRecord(json)) return json;
    for (const field of fields) if (field in json && isPersonalValue(json[field])) delete json[field];
    return json;
  };
  const changed =
    isRecord(before) && isRecord(after)
      ? fields.filter((f) => f in after && isPersonalValue(after[f]) && JSON.stringify(before[f]) !== JSON.stringify(after[f]))
      : [];
  const stripped = { before: strip(before), after: strip(after) };
  if (changed.length && isRecord(stripped.after)) stripped.after.personalFieldsChanged = changed;
  return stripped;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
