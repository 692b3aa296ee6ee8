import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { assertCanSeeContributor } from '../../lib/access.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { idParams } from '../../lib/schemas.js';
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

const staff = ['admin', 'finance', 'coordinator'] as const;

export const contributorRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/contributors',
    {
      config: { roles: ['admin', 'coordinator', 'finance'] },
      schema: {
        tags: ['contributors'],
        summary: 'Add a contributor (a person who gives time)',
        body: createContributorBody,
        response: { 201: contributorResponse },
      },
    },
    async (request) =>
      request.transaction((tx) => createContributor(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  app.get(
    '/v1/contributors',
    {
      config: { roles: staff },
      schema: {
        tags: ['contributors'],
        summary: "The organisation's contributors",
        querystring: z.strictObject({
          ...pageQuery,
          kind: contributorKind.optional(),
          paymentMethod: paymentMethod.optional(),
          payoutDetailsChanged: z
            .enum(['true', 'false'])
            .optional()
            .describe('true: only the people whose Stripe payments are held until finance confirms a change of their payout details'),
        }),
        response: { 200: pageOf(contributorResponse) },
      },
    },
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
    {
      config: { roles: [...staff, 'participant'] },
      schema: { tags: ['contributors'], summary: 'One contributor', params: idParams, response: { 200: contributorResponse } },
    },
    async (request) => {
      assertCanSeeContributor(request.principal, request.params.id);
      return getContributor(app.db, request.principal.organisationId, request.params.id, app.now());
    },
  );

  app.patch(
    '/v1/contributors/:id',
    {
      config: { roles: [...staff, 'participant'] },
      schema: {
        tags: ['contributors'],
        summary: "Change a contributor; a participant may change only their own payment method (or decline payment)",
        params: idParams,
        body: patchContributorBody,
        response: { 200: contributorResponse },
      },
    },
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
    {
      config: { roles: ['admin', 'finance', 'coordinator'] },
      schema: {
        tags: ['contributors'],
        summary: "Add a dated version of a contributor's earnings limit (an amount, the ESA permitted-work preset, or amount null to end it)",
        params: idParams,
        body: earningsLimitVersionBody,
        response: { 201: earningsLimitVersionResponse },
      },
    },
    async (request) =>
      request.transaction(async (tx) => {
        const { organisationId } = request.principal;
        await getContributorRow(tx, organisationId, request.params.id, true);
        return addLimitVersion(tx, organisationId, request.actor(), request.params.id, request.body);
      }),
  );

  app.get(
    '/v1/contributors/:id/earnings-limits',
    {
      config: { roles: [...staff, 'participant'] },
      schema: {
        tags: ['contributors'],
        summary: "A contributor's earnings limit over time, oldest first",
        params: idParams,
        response: { 200: z.object({ data: z.array(earningsLimitVersionResponse) }) },
      },
    },
    async (request) => {
      const { organisationId } = request.principal;
      assertCanSeeContributor(request.principal, request.params.id);
      await getContributorRow(app.db, organisationId, request.params.id);
      return { data: (await loadLimitVersions(app.db, organisationId, [request.params.id])).get(request.params.id) ?? [] };
    },
  );

  app.post(
    '/v1/contributors/:id/confirm-payout-details',
    {
      config: { roles: ['finance'] },
      schema: {
        tags: ['contributors'],
        summary:
          "Confirm a change of the contributor's payout details, after checking it with them: their held Stripe payments go ahead from the next run (409 invalid_state when nothing is held)",
        params: idParams,
        response: { 200: contributorResponse },
      },
    },
    async (request) =>
      request.transaction((tx) =>
        confirmPayoutDetails(tx, request.principal.organisationId, request.actor(), request.params.id, request.principal.contributorId, app.now()),
      ),
  );
};
