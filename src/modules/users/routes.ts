import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { email, id, idParams, nonEmpty, password, roleEnum } from '../../lib/schemas.js';
import { createUser, getUser, issuePasswordReset, listUsers, updateUser } from './service.js';
import { userResponse } from './views.js';

export const userRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/users',
    {
      config: { roles: ['admin'], sensitiveResponse: true },
      schema: {
        tags: ['users'],
        summary: 'Add a user; without a password the response carries a one-time inviteToken',
        body: z.strictObject({ email, name: nonEmpty(), role: roleEnum, password: password.optional(), contributorId: id.optional() }),
        response: { 201: userResponse.extend({ inviteToken: z.string().optional() }) },
      },
    },
    async (request) =>
      request.transaction((tx) => createUser(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  app.get(
    '/v1/users',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['users'],
        summary: "The organisation's users",
        querystring: z.strictObject(pageQuery),
        response: { 200: pageOf(userResponse) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      return toPage(await listUsers(app.db, request.principal.organisationId, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/users/:id',
    {
      config: { roles: ['admin'] },
      schema: { tags: ['users'], summary: 'One user', params: idParams, response: { 200: userResponse } },
    },
    async (request) => getUser(app.db, request.principal.organisationId, request.params.id),
  );

  app.patch(
    '/v1/users/:id',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['users'],
        summary: 'Rename, re-role, disable or enable a user (their tokens follow within a second)',
        params: idParams,
        body: z.strictObject({ name: nonEmpty().optional(), role: roleEnum.optional(), disabled: z.boolean().optional() }),
        response: { 200: userResponse },
      },
    },
    async (request) => {
      const { organisationId } = request.principal;
      const user = await request.transaction((tx) => updateUser(tx, organisationId, request.actor(), request.params.id, request.body, app.now()));
      app.access.forgetUser(organisationId, user.id);
      return user;
    },
  );

  app.post(
    '/v1/users/:id/password-reset',
    {
      config: { roles: ['admin'], sensitiveResponse: true },
      schema: {
        tags: ['users'],
        summary: 'Issue a one-time password reset (expires in 24 hours)',
        params: idParams,
        response: { 200: z.object({ resetToken: z.string(), expiresAt: z.iso.datetime() }) },
      },
    },
    async (request) => {
      const reset = await request.transaction((tx) =>
        issuePasswordReset(tx, request.principal.organisationId, request.actor(), request.params.id, app.now()),
      );
      return { resetToken: reset.resetToken, expiresAt: reset.expiresAt.toISOString() };
    },
  );
};
