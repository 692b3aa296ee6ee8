/**
 * The route of a plain list: `GET <path>` answers a page of the organisation's records in
 * creation order, with only `?limit=` and `?cursor=` (a list with filters declares its own
 * route). The access rule and the words of the document are the caller's; paging is here.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { Db } from '../db/client.js';
import { pageOnlyQuery, type operations } from './openapi.js';
import { decodeCursor, pageOf, toPage } from './pagination.js';

type Access = ReturnType<ReturnType<typeof operations>['for']>;

/** Up to `limit + 1` of the organisation's records after `afterId`, in id order (toPage reads one more to know there is a next page). */
type Lister<T> = (db: Db, organisationId: string, limit: number, afterId?: string) => Promise<T[]>;

export function listRoute<T extends { id: string }>(
  app: FastifyInstance,
  access: Access,
  path: string,
  list: Lister<T>,
  item: z.ZodType,
  doc: { operationId: string; summary: string; description: string },
): void {
  app
    .withTypeProvider<ZodTypeProvider>()
    .get(path, access({ ...doc, querystring: pageOnlyQuery, response: { 200: pageOf(item) } }), async (request) => {
      const { limit, cursor } = request.query;
      return toPage(await list(app.db, request.principal.organisationId, limit, decodeCursor(cursor)), limit);
    });
}
