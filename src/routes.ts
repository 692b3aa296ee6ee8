import type { FastifyInstance } from 'fastify';
import { apiTokenRoutes } from './modules/api-tokens/routes.js';
import { authRoutes } from './modules/auth/routes.js';
import { healthRoutes } from './modules/health/routes.js';
import { organisationRoutes } from './modules/organisations/routes.js';
import { userRoutes } from './modules/users/routes.js';

/** Every resource's routes, in one place, so the route table is easy to read. */
export async function registerRoutes(app: FastifyInstance): Promise<void> {
  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(organisationRoutes);
  await app.register(userRoutes);
  await app.register(apiTokenRoutes);
}
