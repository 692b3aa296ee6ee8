import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { operations } from '../../lib/openapi.js';
import { nonEmpty } from '../../lib/schemas.js';
import { settingsPatch } from './settings.js';
import { getOrganisation, updateOrganisation } from './service.js';
import { organisationResponse, toOrganisationResponse } from './views.js';

const organisation = operations('organisation');

export const organisationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/organisation',
    organisation.for(['admin', 'finance', 'coordinator'])({
      operationId: 'getOrganisation',
      summary: "Get the caller's organisation",
      description: 'Its name, time-to-pay target and every setting in force.',
      response: { 200: organisationResponse },
    }),
    async (request) => toOrganisationResponse(await getOrganisation(app.db, request.principal.organisationId)),
  );

  app.patch(
    '/v1/organisation',
    organisation.for(['admin'])({
      operationId: 'updateOrganisation',
      summary: "Change the organisation's name, time-to-pay target or settings",
      description: 'Only the members sent change; settings left out keep their value.',
      body: z.strictObject({
        name: nonEmpty().optional(),
        owedTargetDays: z.number().int().min(1).max(365).optional().describe('Days within which owed money should be paid (the time-to-pay report flags anyone owed for longer).'),
        settings: settingsPatch.optional(),
      }),
      response: { 200: organisationResponse },
    }),
    async (request) =>
      toOrganisationResponse(await request.transaction((tx) => updateOrganisation(tx, request.principal.organisationId, request.actor(), request.body))),
  );
};
