/**
 * What the API shows of a project: the response schema (which also documents it in the
 * OpenAPI document) and the mapper from a database row, side by side so they cannot drift.
 */
import { z } from 'zod';
import type { projects } from '../../db/schema.js';

export type ProjectRow = typeof projects.$inferSelect;

export const projectResponse = z.object({ id: z.string(), name: z.string(), description: z.string().nullable(), createdAt: z.iso.datetime() });
projectResponse.register(z.globalRegistry, { id: 'Project' });
export type ProjectResponse = z.infer<typeof projectResponse>;

export function toProjectResponse(row: ProjectRow): ProjectResponse {
  return { id: row.id, name: row.name, description: row.description, createdAt: row.createdAt.toISOString() };
}
