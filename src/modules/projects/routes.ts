import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { idParams, nonEmpty } from '../../lib/schemas.js';
import { createProject, getProject, listProjects } from './service.js';
import { projectResponse } from './views.js';

const staff = ['admin', 'finance', 'coordinator'] as const;

export const projectRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/projects',
    {
      config: { roles: staff },
      schema: {
        tags: ['projects'],
        summary: 'Add a co-production project',
        body: z.strictObject({ name: nonEmpty(), description: z.string().max(5000).optional() }),
        response: { 201: projectResponse },
      },
    },
    async (request) => request.transaction((tx) => createProject(tx, request.principal.organisationId, request.actor(), request.body)),
  );

  app.get(
    '/v1/projects',
    {
      config: { roles: staff },
      schema: { tags: ['projects'], summary: "The organisation's projects", querystring: z.strictObject(pageQuery), response: { 200: pageOf(projectResponse) } },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      return toPage(await listProjects(app.db, request.principal.organisationId, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/projects/:id',
    {
      config: { roles: staff },
      schema: { tags: ['projects'], summary: 'One project', params: idParams, response: { 200: projectResponse } },
    },
    async (request) => getProject(app.db, request.principal.organisationId, request.params.id),
  );
};
