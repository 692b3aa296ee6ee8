import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import type { Actor, Principal } from '../../domain/actor.js';
import { entryStatuses } from '../../domain/enums.js';
import { assertCanSeeContributor } from '../../lib/access.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { id, idParams, isoDate, nonEmpty } from '../../lib/schemas.js';
import type { expenseResponse } from '../expenses/views.js';
import type { timeEntryResponse } from '../time-entries/views.js';
import type { WorkFilter } from './lifecycle.js';

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

type Decide = (db: Db, organisationId: string, principal: Principal, actor: Actor, id: string, now: Date) => Promise<View>;
type DecideWithReason = (
  db: Db,
  organisationId: string,
  principal: Principal,
  actor: Actor,
  id: string,
  reason: string,
  now: Date,
) => Promise<View>;

export interface WorkRoutes {
  /** The collection's path, e.g. `/v1/time-entries`. */
  path: string;
  tag: string;
  response: WorkResponse;
  summaries: { list: string; get: string; approve: string; reject: string; reverse: string };
  list(db: Db, organisationId: string, filter: WorkFilter, limit: number, afterId?: string): Promise<View[]>;
  get(db: Db, organisationId: string, id: string): Promise<View>;
  approve: Decide;
  reject: DecideWithReason;
  reverse(db: Db, organisationId: string, actor: Actor, id: string, reason: string, now: Date): Promise<View>;
}

/**
 * The routes every kind of approvable work has, under its path: list (a participant sees only
 * their own), one record, approve, reject and reverse. Creating work differs per kind, so each
 * module registers its own POST.
 */
export function registerWorkRoutes(app: FastifyInstance, routes: WorkRoutes): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { path, tag, response, summaries } = routes;

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
      return toPage(await routes.list(app.db, principal.organisationId, filter, limit, decodeCursor(cursor)), limit);
    },
  );

  api.get(
    `${path}/:id`,
    {
      config: { roles: ['admin', 'finance', 'coordinator', 'participant'] },
      schema: { tags: [tag], summary: summaries.get, params: idParams, response: { 200: response } },
    },
    async (request) => {
      const work = await routes.get(app.db, request.principal.organisationId, request.params.id);
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
    async (request) =>
      request.transaction((tx) =>
        routes.approve(tx, request.principal.organisationId, request.principal, request.actor(), request.params.id, app.now()),
      ),
  );

  api.post(
    `${path}/:id/reject`,
    {
      config: { roles: deciders },
      schema: { tags: [tag], summary: summaries.reject, params: idParams, body: reasonBody, response: { 200: response } },
    },
    async (request) =>
      request.transaction((tx) =>
        routes.reject(tx, request.principal.organisationId, request.principal, request.actor(), request.params.id, request.body.reason, app.now()),
      ),
  );

  api.post(
    `${path}/:id/reverse`,
    {
      config: { roles: deciders },
      schema: { tags: [tag], summary: summaries.reverse, params: idParams, body: reasonBody, response: { 200: response } },
    },
    async (request) =>
      request.transaction((tx) =>
        routes.reverse(tx, request.principal.organisationId, request.actor(), request.params.id, request.body.reason, app.now()),
      ),
  );
}
