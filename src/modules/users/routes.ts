import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, idParam, operations } from '../../lib/openapi.js';
import { listRoute } from '../../lib/list-route.js';
import { email, id, nonEmpty, password, roleEnum } from '../../lib/schemas.js';
import { createUser, getUser, issuePasswordReset, listUsers, updateUser } from './service.js';
import { userResponse } from './views.js';

const admins = operations('users').for(['admin']);

export const userRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/users',
    admins(
      {
        operationId: 'createUser',
        summary: 'Add a user',
        description:
          'Without `password`, the response carries a one-time `inviteToken` for `acceptInvite` (also emailed where email is ' +
          'configured). A participant user must name the contributor they are. An email already in use is `already_exists`.',
        body: z.strictObject({
          email,
          name: nonEmpty(),
          role: roleEnum,
          password: password.optional().describe('Leave it out to invite the user to set their own.'),
          contributorId: id.optional().describe('For a participant: the contributor this user is.'),
        }),
        response: {
          201: userResponse.extend({ inviteToken: z.string().optional().describe('Shown once, when no password was given.') }),
          ...errors('not_found', 'already_exists', 'invalid_state'),
        },
      },
      { sensitiveResponse: true },
    ),
    async (request) =>
      request.transaction((tx) => createUser(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  listRoute(app, admins, '/v1/users', listUsers, userResponse, {
    operationId: 'listUsers',
    summary: "List the organisation's users",
    description: 'Users in creation order, disabled ones included.',
  });

  app.get(
    '/v1/users/:id',
    admins({
      operationId: 'getUser',
      summary: 'Get a user',
      description: 'One user of the organisation.',
      params: idParam('user'),
      response: { 200: userResponse, ...errors('not_found') },
    }),
    async (request) => getUser(app.db, request.principal.organisationId, request.params.id),
  );

  app.patch(
    '/v1/users/:id',
    admins({
      operationId: 'updateUser',
      summary: 'Rename, re-role, disable or enable a user',
      description:
        'Every token of the user (JWT, page session, API token) follows within a second: a disabled user gets 401, a new role ' +
        "applies at once. Disabling revokes: after re-enabling, the person signs in again. The organisation's last active admin " +
        'cannot be disabled or demoted (`invalid_state`).',
      params: idParam('user'),
      body: z.strictObject({ name: nonEmpty().optional(), role: roleEnum.optional(), disabled: z.boolean().optional() }),
      response: { 200: userResponse, ...errors('not_found', 'invalid_state') },
    }),
    async (request) => {
      const { organisationId } = request.principal;
      const user = await request.transaction((tx) => updateUser(tx, organisationId, request.actor(), request.params.id, request.body, app.now()));
      app.access.forgetUser(organisationId, user.id);
      return user;
    },
  );

  app.post(
    '/v1/users/:id/password-reset',
    admins(
      {
        operationId: 'createPasswordReset',
        summary: 'Issue a one-time password reset',
        description: 'The `resetToken` (also emailed where email is configured) works once, within 24 hours, with `resetPassword`.',
        params: idParam('user'),
        response: { 200: z.object({ resetToken: z.string(), expiresAt: z.iso.datetime() }), ...errors('not_found') },
      },
      { sensitiveResponse: true },
    ),
    async (request) => {
      const reset = await request.transaction((tx) =>
        issuePasswordReset(tx, request.principal.organisationId, request.actor(), request.params.id, app.now()),
      );
      return { resetToken: reset.resetToken, expiresAt: reset.expiresAt.toISOString() };
    },
  );
};
