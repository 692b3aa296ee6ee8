import { and, asc, eq, gt, type SQL } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditEvents } from '../../db/schema.js';
import { operations, pageParameters } from '../../lib/openapi.js';
import { decodeCursor, pageOf, toPage } from '../../lib/pagination.js';
import { auditEventColumns, auditEventResponse, toAuditEventResponse } from './views.js';

export const auditRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/audit-events',
    operations('audit').for(['admin', 'finance'])({
      operationId: 'listAuditEvents',
      summary: 'List audit events',
      description: 'Who changed what, when, with the record before and after, oldest first. Written in the same transaction as each change.',
      querystring: z.strictObject({
        ...pageParameters,
        entityType: z.string().max(100).optional().describe('Only events about this kind of record, such as `budget` or `payout_run`.'),
        entityId: z.string().max(100).optional().describe('Only events about this record.'),
      }),
      response: { 200: pageOf(auditEventResponse) },
    }),
    async (request) => {
      const { limit, cursor, entityType, entityId } = request.query;
      const conditions: SQL[] = [eq(auditEvents.organisationId, request.principal.organisationId)];
      if (entityType) conditions.push(eq(auditEvents.entityType, entityType));
      if (entityId) conditions.push(eq(auditEvents.entityId, entityId));
      const after = decodeCursor(cursor);
      if (after) conditions.push(gt(auditEvents.id, after));
      const rows = await app.db.select(auditEventColumns).from(auditEvents).where(and(...conditions)).orderBy(asc(auditEvents.id)).limit(limit + 1);
      return toPage(rows.map(toAuditEventResponse), limit);
    },
  );
};
