import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { entryStatuses } from '../../domain/enums.js';
import { assertCanSeeContributor } from '../../lib/access.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { id, idParams, isoDate, nonEmpty } from '../../lib/schemas.js';
import type { ExpenseRow, expenseResponse } from '../expenses/views.js';
import type { TimeEntryRow, timeEntryResponse } from '../time-entries/views.js';
import { getWork, listWork, rejectWork, reverseWork, type WorkContext, type WorkKind } from './lifecycle.js';

/** Who may approve, reject and reverse work. */
const deciders = ['coordinator', 'finance'] as const;
const reasonBody = z.strictObject({ reason: nonEmpty(1000) });

/** The list filters every kind of approvable work takes. */
export const workListQuery = z.strictObject({
  ...pageQuery,
  contributorId: id.optional(),
  budgetId: id.optional(),
  status: z.enum(entryStatuses).optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
});

/** The response schemas of the kinds of approvable work (a union, so Fastify can check replies). */
type WorkResponse = typeof timeEntryResponse | typeof expenseResponse;
type View = z.infer<WorkResponse>;

export interface WorkRoutes {
  /** The collection's path, e.g. `/v1/time-entries`. */
  path: string;
  tag: string;
  response: WorkResponse;
  summaries: { list: string; get: string; approve: string; reject: string; reverse: string };
  kind: WorkKind<TimeEntryRow, View> | WorkKind<ExpenseRow, View>;
  /** Approving is where kinds differ (time is priced again; an expense is what it is). */
  approve(db: Db, context: WorkContext, id: string): Promise<View>;
}

/**
 * The routes every kind of approvable work has, under its path: list (a participant sees only
 * their own), one record, approve, reject and reverse. Creating work differs per kind, so each
 * module registers its own POST.
 */
export function registerWorkRoutes(app: FastifyInstance, routes: WorkRoutes): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { path, tag, response, summaries } = routes;
  // Both kinds share the lifecycle; the union only needs telling apart at the type level.
  const kind = routes.kind as WorkKind<TimeEntryRow | ExpenseRow, View>;
  const context = (request: FastifyRequest): WorkContext => ({
    organisationId: request.principal.organisationId,
    principal: request.principal,
    actor: request.actor(),
    now: app.now(),
  });

  api.get(
    path,
    {
      config: { roles: ['admin', 'finance', 'coordinator', 'participant'] },
      schema: { tags: [tag], summary: summaries.list, querystring: workListQuery, response: { 200: pageOf(response) } },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      const { principal } = request;
      if (principal.role === 'participant') {
        if (filter.contributorId && filter.contributorId !== principal.contributorId) return { data: [], nextCursor: null };
        filter.contributorId = principal.contributorId ?? '-';
      }
      return toPage(await listWork(app.db, kind, principal.organisationId, filter, limit, decodeCursor(cursor)), limit);
    },
  );

  api.get(
    `${path}/:id`,
    {
      config: { roles: ['admin', 'finance', 'coordinator', 'participant'] },
      schema: { tags: [tag], summary: summaries.get, params: idParams, response: { 200: response } },
    },
    async (request) => {
      const work = await getWork(app.db, kind, request.principal.organisationId, request.params.id);
      assertCanSeeContributor(request.principal, work.contributorId);
      return work;
    },
  );

  api.post(
    `${path}/:id/approve`,
    {
      config: { roles: deciders },
      schema: { tags: [tag], summary: summaries.approve, params: idParams, response: { 200: response } },
    },
    async (request) => request.transaction((tx) => routes.approve(tx, context(request), request.params.id)),
  );

  api.post(
    `${path}/:id/reject`,
    {
      config: { roles: deciders },
      schema: { tags: [tag], summary: summaries.reject, params: idParams, body: reasonBody, response: { 200: response } },
    },
    async (request) => request.transaction((tx) => rejectWork(tx, kind, context(request), request.params.id, request.body.reason)),
  );

  api.post(
    `${path}/:id/reverse`,
    {
      config: { roles: deciders },
      schema: { tags: [tag], summary: summaries.reverse, params: idParams, body: reasonBody, response: { 200: response } },
    },
    async (request) => request.transaction((tx) => reverseWork(tx, kind, context(request), request.params.id, request.body.reason)),
  );
}
