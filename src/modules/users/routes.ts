import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { email, id, idParams, nonEmpty, roleEnum } from '../../lib/schemas.js';
import { createUser, getUser, listUsers } from './service.js';

const password = z.string().min(12, 'must be at least 12 characters').max(200);

const userView = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: roleEnum,
  contributorId: z.string().nullable(),
  createdAt: z.iso.datetime(),
});

export const userRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/users',
    {
      config: { roles: ['admin'] },
      schema: {
        tags: ['users'],
        summary: 'Add a user; without a password the response carries a one-time inviteToken',
        body: z.strictObject({ email, name: nonEmpty(), role: roleEnum, password: password.optional(), contributorId: id.optional() }),
        response: { 201: userView.extend({ inviteToken: z.string().optional() }) },
      },
    },
    async (request) =>
      request.transaction((tx) => createUser(tx, request.principal.organisationId, request.actor(), request.body, app.now())),
  );

  app.get(
    '/v1/users',
    {
      config: { roles: ['admin'] },
      schema: { tags: ['users'], summary: "The organisation's users", response: { 200: z.object({ data: z.array(userView) }) } },
    },
    async (request) => ({ data: await listUsers(app.db, request.principal.organisationId) }),
  );

  app.get(
    '/v1/users/:id',
    {
      config: { roles: ['admin'] },
      schema: { tags: ['users'], summary: 'One user', params: idParams, response: { 200: userView } },
    },
    async (request) => getUser(app.db, request.principal.organisationId, request.params.id),
  );
};

export { password as passwordSchema };
