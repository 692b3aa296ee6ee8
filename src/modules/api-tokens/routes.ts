import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { idParams, nonEmpty, roleEnum, timestamp } from '../../lib/schemas.js';
import { createApiToken, listApiTokens, revokeApiToken } from './service.js';
import { apiTokenResponse, newApiTokenResponse } from './views.js';

export const apiTokenRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/api-tokens',
    {
      config: { roles: ['admin'], sensitiveResponse: true },
      schema: {
        tags: ['api tokens'],
        summary: 'Issue an API token for a script (shown once)',
        body: z.strictObject({
          name: nonEmpty(),
          // A participant token would have no contributor to act for.
          role: roleEnum.exclude(['participant']),
          expiresAt: timestamp.optional(),
        }),
        response: { 201: newApiTokenResponse },
      },
    },
    async (request) =>
      request.transaction((tx) =>
        createApiToken(tx, request.principal.organisationId, request.actor(), { ...request.body, madeBy: request.principal.personId ?? null }, app.now()),
      ),
  );

  app.get(
    '/v1/api-tokens',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['api tokens'],
        summary: "The organisation's API tokens (never the tokens themselves)",
        querystring: z.strictObject(pageQuery),
        response: { 200: pageOf(apiTokenResponse) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      return toPage(await listApiTokens(app.db, request.principal.organisationId, limit, decodeCursor(cursor)), limit);
    },
  );

  app.delete(
    '/v1/api-tokens/:id',
    {
      config: { roles: ['admin'] },
      schema: { tags: ['api tokens'], summary: 'Revoke an API token at once', params: idParams, response: { 204: z.null() } },
    },
    async (request, reply) => {
      await revokeApiToken(app.db, request.principal.organisationId, request.actor(), request.params.id, app.now());
      app.access.forgetApiTokens();
      return reply.code(204).send(null);
    },
  );
};
