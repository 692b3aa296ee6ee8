/**
 * What the API shows of an audit event: the response schema (which also documents it in the
 * OpenAPI document) and the mapper from a database row, side by side so they cannot drift. The
 * records before and after a change are shown whole, as they were recorded: the record before is
 * rebuilt where only what changed was stored (auditBefore).
 */
import { getTableColumns, sql } from 'drizzle-orm';
import { z } from 'zod';
import { auditEvents } from '../../db/schema.js';
import { actorTypes } from '../../domain/enums.js';
import { shown } from '../../lib/views.js';

/**
 * The record before a change, whole: stored as it is, or rebuilt from the record after and the
 * fields the change replaced (src/lib/audit.ts, asStored). Null for a creation.
 */
export const auditBefore = sql<unknown>`coalesce(${auditEvents.before}, ${auditEvents.after} || ${auditEvents.changedFrom})`.mapWith(auditEvents.before);

const { changedFrom: _stored, ...columns } = getTableColumns(auditEvents);

/** What to select for an audit event: its columns, with `before` rebuilt (`db.select(auditEventColumns).from(auditEvents)`). */
export const auditEventColumns = { ...columns, before: auditBefore };

export type AuditEventRow = Omit<typeof auditEvents.$inferSelect, 'changedFrom'>;

export const auditEventResponse = z.object({
  id: z.string(),
  actorType: z.enum(actorTypes),
  actorId: z.string().nullable(),
  action: z.string(),
  entityType: z.string(),
  entityId: z.string(),
  before: z.unknown(),
  after: z.unknown(),
  requestId: z.string().nullable(),
  createdAt: z.iso.datetime(),
});
export type AuditEventResponse = z.infer<typeof auditEventResponse>;

export function toAuditEventResponse(row: AuditEventRow): AuditEventResponse {
  return shown(row, ['id', 'actorType', 'actorId', 'action', 'entityType', 'entityId', 'before', 'after', 'requestId', 'createdAt']);
}
