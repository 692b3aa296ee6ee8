import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, idParam, operations } from '../../lib/openapi.js';
import { listRoute } from '../../lib/list-route.js';
import { nonEmpty, roleEnum, timestamp } from '../../lib/schemas.js';
import { createApiToken, listApiTokens, revokeApiToken } from './service.js';
import { apiTokenResponse, newApiTokenResponse } from './views.js';

const admins = operations('api tokens').for(['admin']);

export const apiTokenRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/api-tokens',
    admins(
      {
        operationId: 'createApiToken',
        summary: 'Issue an API token for a script',
        description:
          'The `token` is shown once and stored hashed. It acts for the admin who made it: approval rules (four eyes, ' +
          'self-approval) count that person. A reporter token reads reports only, without names.',
        body: z.strictObject({
          name: nonEmpty().describe('What the token is for, such as "grant reporting script".'),
          // A participant token would have no contributor to act for.
          role: roleEnum.exclude(['participant']),
          expiresAt: timestamp.optional().describe('When it stops working; in the future. Leave it out for a token that lasts until revoked.'),
        }),
        response: { 201: newApiTokenResponse },
      },
      { sensitiveResponse: true },
    ),
    async (request) =>
      request.transaction((tx) =>
        createApiToken(tx, request.principal.organisationId, request.actor(), { ...request.body, madeBy: request.principal.personId ?? null }, app.now()),
      ),
  );

  listRoute(app, admins, '/v1/api-tokens', listApiTokens, apiTokenResponse, {
    operationId: 'listApiTokens',
    summary: "List the organisation's API tokens",
    description: 'Names, roles, expiry and last use; never the tokens themselves.',
  });

  app.delete(
    '/v1/api-tokens/:id',
    admins({
      operationId: 'revokeApiToken',
      summary: 'Revoke an API token',
      description: 'The next request with the token gets 401.',
      params: idParam('API token'),
      response: { 204: z.null(), ...errors('not_found') },
    }),
    async (request, reply) => {
      await revokeApiToken(app.db, request.principal.organisationId, request.actor(), request.params.id, app.now());
      app.access.forgetApiTokens();
      return reply.code(204).send(null);
    },
  );
};
