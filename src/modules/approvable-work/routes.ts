import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { entryStatuses } from '../../domain/enums.js';
import { assertCanSeeContributor } from '../../lib/access.js';
import type { ErrorCode } from '../../errors.js';
import { errors, idParam, operations, pageParameters, type ApiTag } from '../../lib/openapi.js';
import { decodeCursor, pageOf, toPage } from '../../lib/pagination.js';
import { id, isoDate, nonEmpty } from '../../lib/schemas.js';
import type { ExpenseRow, expenseResponse } from '../expenses/views.js';
import type { TimeEntryRow, timeEntryResponse } from '../time-entries/views.js';
import { getWork, listWork, rejectWork, reverseWork, type WorkContext, type WorkKind } from './lifecycle.js';

/** Who may approve, reject and reverse work. */
const deciders = ['coordinator', 'finance'] as const;
const reasonBody = z.strictObject({ reason: nonEmpty(1000).describe('Why, as the contributor will read it.') });

/** The list filters every kind of approvable work takes. */
export const workListQuery = z.strictObject({
  ...pageParameters,
  contributorId: id.optional().describe("Only this contributor's records (a participant sees only their own anyway)."),
  budgetId: id.optional().describe('Only records charged to this budget.'),
  status: z.enum(entryStatuses).optional().describe('Only records in this state.'),
  from: isoDate.optional().describe('Only records dated on or after this day.'),
  to: isoDate.optional().describe('Only records dated on or before this day.'),
});

/** What an operation says of itself in the document. */
interface OperationText {
  summary: string;
  description: string;
}

/** The response schemas of the kinds of approvable work (a union, so Fastify can check replies). */
type WorkResponse = typeof timeEntryResponse | typeof expenseResponse;
type View = z.infer<WorkResponse>;

export interface WorkRoutes {
  /** The collection's path, e.g. `/v1/time-entries`. */
  path: string;
  tag: ApiTag;
  response: WorkResponse;
  /** The resource in operation ids: `{ one: 'TimeEntry', many: 'TimeEntries' }` names listTimeEntries, getTimeEntry, approveTimeEntry, ... */
  names: { one: string; many: string };
  /** The resource in words: `{ a: 'a time entry', one: 'time entry', many: 'time entries' }`. */
  words: { a: string; one: string; many: string };
  /** Approving is where kinds differ, so each kind says what its approval does; the rest is shared. */
  approveText: OperationText;
  /** What approving this kind may refuse with, beyond what every kind does. */
  approveErrors: ErrorCode[];
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
  const { path, response, names, words } = routes;
  const work = operations(routes.tag);
  const readers = work.for(['admin', 'finance', 'coordinator', 'participant']);
  const decide = work.for(deciders);
  const params = idParam(words.one);
  const docs = {
    list: { summary: `List ${words.many}`, description: `The ${words.many} in creation order; a participant sees only their own.` },
    get: { summary: `Get ${words.a}`, description: `One ${words.one}; a participant sees only their own.` },
    approve: routes.approveText,
    reject: { summary: `Reject ${words.a}`, description: 'Only while submitted, with a reason the contributor can read; nothing becomes owed.' },
    reverse: {
      summary: `Reverse an approved ${words.one}`,
      description: 'Only while its money has not left (else `already_paid`): a reversing ledger transaction returns the amount to the budget.',
    },
  };
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
    readers({ operationId: `list${names.many}`, ...docs.list, querystring: workListQuery, response: { 200: pageOf(response) } }),
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
    readers({ operationId: `get${names.one}`, ...docs.get, params, response: { 200: response, ...errors('not_found') } }),
    async (request) => {
      const work = await getWork(app.db, kind, request.principal.organisationId, request.params.id);
      assertCanSeeContributor(request.principal, work.contributorId);
      return work;
    },
  );

  api.post(
    `${path}/:id/approve`,
    decide({
      operationId: `approve${names.one}`,
      ...docs.approve,
      params,
      response: {
        200: response,
        ...errors('not_found', 'invalid_state', 'self_approval_forbidden', 'budget_exceeded', 'amount_out_of_range', ...routes.approveErrors),
      },
    }),
    async (request) => request.transaction((tx) => routes.approve(tx, context(request), request.params.id)),
  );

  // Rejecting and reversing both take a reason the contributor reads; they differ in when they may.
  const withReason = [
    { verb: 'reject', decideWork: rejectWork, refusals: ['self_approval_forbidden'] },
    { verb: 'reverse', decideWork: reverseWork, refusals: ['already_paid'] },
  ] as const;
  for (const { verb, decideWork, refusals } of withReason) {
    api.post(
      `${path}/:id/${verb}`,
      decide({
        operationId: `${verb}${names.one}`,
        ...docs[verb],
        params,
        body: reasonBody,
        response: { 200: response, ...errors('not_found', 'invalid_state', ...refusals) },
      }),
      async (request) => request.transaction((tx) => decideWork(tx, kind, context(request), request.params.id, request.body.reason)),
    );
  }
}
