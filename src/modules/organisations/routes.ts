import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { nonEmpty } from '../../lib/schemas.js';
import { settingsPatch } from './settings.js';
import { getOrganisation, updateOrganisation } from './service.js';
import { organisationResponse, toOrganisationResponse } from './views.js';

export const organisationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/organisation',
    {
      config: { roles: ['admin', 'finance', 'coordinator'] },
      schema: { tags: ['organisation'], summary: "The caller's organisation", response: { 200: organisationResponse } },
    },
    async (request) => toOrganisationResponse(await getOrganisation(app.db, request.principal.organisationId)),
  );

  app.patch(
    '/v1/organisation',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['organisation'],
        summary: "Change the organisation's name, its time-to-pay target or its settings",
        body: z.strictObject({
          name: nonEmpty().optional(),
          owedTargetDays: z.number().int().min(1).max(365).optional(),
          settings: settingsPatch.optional(),
        }),
        response: { 200: organisationResponse },
      },
    },
    async (request) =>
      toOrganisationResponse(await request.transaction((tx) => updateOrganisation(tx, request.principal.organisationId, request.actor(), request.body))),
  );
};
