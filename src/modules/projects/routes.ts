import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, idParam, operations } from '../../lib/openapi.js';
import { listRoute } from '../../lib/list-route.js';
import { nonEmpty } from '../../lib/schemas.js';
import { createProject, getProject, listProjects } from './service.js';
import { projectResponse } from './views.js';

const staff = operations('projects').for(['admin', 'finance', 'coordinator']);

export const projectRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/projects',
    staff({
      operationId: 'createProject',
      summary: 'Add a co-production project',
      description: 'A project is funded by one or more budgets (`createBudget`); reports can be pulled per project.',
      body: z.strictObject({ name: nonEmpty(), description: z.string().max(5000).optional() }),
      response: { 201: projectResponse },
    }),
    async (request) => request.transaction((tx) => createProject(tx, request.principal.organisationId, request.actor(), request.body)),
  );

  listRoute(app, staff, '/v1/projects', listProjects, projectResponse, {
    operationId: 'listProjects',
    summary: "List the organisation's projects",
    description: 'Projects in creation order.',
  });

  app.get(
    '/v1/projects/:id',
    staff({
      operationId: 'getProject',
      summary: 'Get a project',
      description: 'One project of the organisation.',
      params: idParam('project'),
      response: { 200: projectResponse, ...errors('not_found') },
    }),
    async (request) => getProject(app.db, request.principal.organisationId, request.params.id),
  );
};
