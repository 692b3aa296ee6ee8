import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { assertCanSeeContributor } from '../../lib/access.js';
import { errors, idParam, operations, pageParameters } from '../../lib/openapi.js';
import { decodeCursor, pageOf, toPage } from '../../lib/pagination.js';
import {
  contributorKind,
  createContributorBody,
  earningsLimitVersionBody,
  earningsLimitVersionResponse,
  patchContributorBody,
  paymentMethod,
} from './schemas.js';
import { addLimitVersion, loadLimitVersions } from './earnings-limits.js';
import { confirmPayoutDetails } from './payout-details.js';
import { createContributor, getContributor, getContributorRow, listContributors, updateContributor } from './service.js';
import { contributorResponse } from './views.js';

const contributors = operations('contributors');
const staff = contributors.for(['admin', 'finance', 'coordinator']);
const staffOrThemself = contributors.for(['admin', 'finance', 'coordinator', 'participant']);
const params = idParam('contributor');

export const contributorRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/contributors',
    staff({
      operationId: 'createContributor',
      summary: 'Add a contributor (a person who gives time)',
      description:
        'Adds a person who gives their time: their kind (lived experience, carer, professional), how they are paid (or that they decline payment) and, optionally, an earnings limit in force from today. ' +
        'An email another contributor of the organisation has (compared case-insensitively) answers 409 `possible_duplicate` with `duplicateOf`; send again with `confirmNotDuplicate: true` once you know it is another person.',
      body: createContributorBody,
      response: { 201: contributorResponse, ...errors('possible_duplicate') },
    }),
    async (request) =>
      request.transaction((tx) => createContributor(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  app.get(
    '/v1/contributors',
    staff({
      operationId: 'listContributors',
      summary: "List the organisation's contributors",
      description: 'Contributors in creation order, optionally only one kind, one payment method, or those whose Stripe payments are held for a change of payout details.',
      querystring: z.strictObject({
        ...pageParameters,
        kind: contributorKind.optional().describe('Only contributors of this kind'),
        paymentMethod: paymentMethod.optional().describe('Only contributors paid this way'),
        payoutDetailsChanged: z
          .enum(['true', 'false'])
          .optional()
          .describe('true: only the people whose Stripe payments are held until finance confirms a change of their payout details'),
      }),
      response: { 200: pageOf(contributorResponse) },
    }),
    async (request) => {
      const { limit, cursor, payoutDetailsChanged, ...filter } = request.query;
      const rows = await listContributors(
        app.db,
        request.principal.organisationId,
        { ...filter, ...(payoutDetailsChanged ? { payoutDetailsChanged: payoutDetailsChanged === 'true' } : {}) },
        limit,
        decodeCursor(cursor),
        app.now(),
      );
      return toPage(rows, limit);
    },
  );

  app.get(
    '/v1/contributors/:id',
    staffOrThemself({
      operationId: 'getContributor',
      summary: 'Get a contributor',
      description: 'One contributor, with the earnings limit in force today. A participant may read only themself (anyone else is 404).',
      params,
      response: { 200: contributorResponse, ...errors('not_found') },
    }),
    async (request) => {
      assertCanSeeContributor(request.principal, request.params.id);
      return getContributor(app.db, request.principal.organisationId, request.params.id, app.now());
    },
  );

  app.patch(
    '/v1/contributors/:id',
    staffOrThemself({
      operationId: 'updateContributor',
      summary: 'Change a contributor',
      description:
        'Changes the fields sent. A participant may change only their own payment method (or decline payment). A new earnings limit is in force from today. ' +
        'A new email another contributor has answers 409 `possible_duplicate` (see createContributor); an erased contributor can no longer change (409 `invalid_state`).',
      params,
      body: patchContributorBody,
      response: { 200: contributorResponse, ...errors('not_found', 'possible_duplicate', 'invalid_state') },
    }),
    async (request) => {
      const { principal } = request;
      assertCanSeeContributor(principal, request.params.id);
      if (principal.role === 'participant') {
        const others = Object.keys(request.body).filter((k) => k !== 'paymentMethod');
        if (others.length) {
          throw new AppError('forbidden', `A participant may change only their payment method, not ${others.join(', ')}.`);
        }
      }
      return updateContributor(app.db, principal.organisationId, request.actor(), request.params.id, request.body, app.now());
    },
  );

  app.post(
    '/v1/contributors/:id/earnings-limits',
    staff({
      operationId: 'addEarningsLimitVersion',
      summary: "Add a dated version of a contributor's earnings limit",
      description:
        'From `effectiveFrom`, the limit is an amount per week or month, the ESA permitted-work preset (whose weekly amount follows the dated statutory figures), or no limit (`amount: null`). ' +
        'A payment is judged by the version in force on its payment date, so a change never rejudges money already paid.',
      params,
      body: earningsLimitVersionBody,
      response: { 201: earningsLimitVersionResponse, ...errors('not_found') },
    }),
    async (request) =>
      request.transaction(async (tx) => {
        const { organisationId } = request.principal;
        await getContributorRow(tx, organisationId, request.params.id, true);
        return addLimitVersion(tx, organisationId, request.actor(), request.params.id, request.body);
      }),
  );

  app.get(
    '/v1/contributors/:id/earnings-limits',
    staffOrThemself({
      operationId: 'listEarningsLimitVersions',
      summary: "A contributor's earnings limit over time",
      description: 'Every version, oldest first. A participant may read only their own.',
      params,
      response: { 200: z.object({ data: z.array(earningsLimitVersionResponse) }), ...errors('not_found') },
    }),
    async (request) => {
      const { organisationId } = request.principal;
      assertCanSeeContributor(request.principal, request.params.id);
      await getContributorRow(app.db, organisationId, request.params.id);
      return { data: (await loadLimitVersions(app.db, organisationId, [request.params.id])).get(request.params.id) ?? [] };
    },
  );

  app.post(
    '/v1/contributors/:id/confirm-payout-details',
    contributors.for(['finance'])({
      operationId: 'confirmPayoutDetails',
      summary: "Confirm a change of the contributor's payout details",
      description:
        'After checking the change with the person (by a way of reaching them that is not the changed account), their held Stripe payments go ahead from the next run. ' +
        '409 `invalid_state` when nothing is held; 403 `self_approval_forbidden` for your own payout details.',
      params,
      response: { 200: contributorResponse, ...errors('not_found', 'invalid_state', 'self_approval_forbidden') },
    }),
    async (request) =>
      request.transaction((tx) =>
        confirmPayoutDetails(tx, request.principal.organisationId, request.actor(), request.params.id, request.principal.contributorId, app.now()),
      ),
  );
};
