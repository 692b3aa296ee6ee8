import { and, asc, eq, gt, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { projects } from '../../db/schema.js';
import { inTransaction } from '../../db/tx.js';
import { notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import type { Actor } from '../../domain/actor.js';
import { isUuid, newId } from '../../lib/ids.js';
import { toProjectResponse, type ProjectResponse } from './views.js';

export async function createProject(db: Db, organisationId: string, actor: Actor, input: { name: string; description?: string }) {
  return inTransaction(db, async (tx) => {
    const [row] = await tx
      .insert(projects)
      .values({ organisationId, id: newId(), name: input.name, description: input.description ?? null })
      .returning();
    const view = toProjectResponse(row!);
    await recordAudit(tx, organisationId, actor, { action: 'project.created', entityType: 'project', entityId: view.id, after: view });
    return view;
  });
}

/** Errors: not_found. */
export async function getProject(db: Db, organisationId: string, projectId: string): Promise<ProjectResponse> {
  if (!isUuid(projectId)) throw notFound('The project');
  const [row] = await db.select().from(projects).where(and(eq(projects.organisationId, organisationId), eq(projects.id, projectId)));
  if (!row) throw notFound('The project');
  return toProjectResponse(row);
}

export async function listProjects(db: Db, organisationId: string, limit: number, afterId?: string) {
  const conditions: SQL[] = [eq(projects.organisationId, organisationId)];
  if (afterId) conditions.push(gt(projects.id, afterId));
  const rows = await db.select().from(projects).where(and(...conditions)).orderBy(asc(projects.id)).limit(limit + 1);
  return rows.map(toProjectResponse);
}
