/**
 * What the API shows of an audit event: the response schema (which also documents it in the
 * OpenAPI document) and the mapper from a database row, side by side so they cannot drift. The
 * record before and after a change is shown as it was stored.
 */
import { z } from 'zod';
import type { auditEvents } from '../../db/schema.js';
import { actorTypes } from '../../domain/enums.js';
import { shown } from '../../lib/views.js';

export type AuditEventRow = typeof auditEvents.$inferSelect;

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
