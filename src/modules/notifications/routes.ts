import { and, asc, eq, gt, type SQL } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { notifications, users } from '../../db/schema.js';
import { roles, type NotificationKind } from '../../domain/enums.js';
import type { Actor, Principal } from '../../domain/actor.js';
import { AppError, notFound } from '../../errors.js';
import { recordAudit } from '../../lib/audit.js';
import { isUuid } from '../../lib/ids.js';
import { errors, operations, pageParameters } from '../../lib/openapi.js';
import { decodeCursor, pageOf, toPage } from '../../lib/pagination.js';
import {
  notificationResponse,
  notificationStatusEnum,
  preferencesBody,
  preferencesResponse,
  toNotificationResponse,
  toPreferencesResponse,
} from './views.js';

type Preferences = Partial<Record<NotificationKind, boolean>>;

/** The user behind the caller. Errors: forbidden for an API token (it has no inbox of its own). */
function ownUserId(principal: Principal): string {
  if (!principal.userId) throw new AppError('forbidden', 'Email choices belong to a person: sign in as the user rather than with an API token.');
  return principal.userId;
}

async function storedPreferences(db: Db, organisationId: string, userId: string, lock = false): Promise<Preferences> {
  const query = db
    .select({ preferences: users.notificationPreferences })
    .from(users)
    .where(and(eq(users.organisationId, organisationId), eq(users.id, userId)));
  const [user] = await (lock ? query.for('update') : query);
  if (!user) throw notFound('The user');
  return user.preferences;
}

/**
 * Merges a change into the user's email choices and audits it (before and after: the stored
 * choices, which hold no personal data). Kinds left out keep their choice. Errors: not_found
 * when the user has gone.
 */
async function updatePreferences(tx: Db, organisationId: string, userId: string, actor: Actor, change: Preferences): Promise<Preferences> {
  const before = await storedPreferences(tx, organisationId, userId, true);
  const after: Preferences = { ...before, ...change };
  await tx
    .update(users)
    .set({ notificationPreferences: after })
    .where(and(eq(users.organisationId, organisationId), eq(users.id, userId)));
  await recordAudit(tx, organisationId, actor, {
    action: 'notification_preferences.updated',
    entityType: 'user',
    entityId: userId,
    before: { email: before },
    after: { email: after },
  });
  return after;
}

const notices = operations('notifications');
const everyone = notices.for(roles);

/** GET /v1/notifications and /v1/me/notification-preferences (see docs/api-guide.md, "Email"). */
export const notificationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/notifications',
    notices.for(['admin', 'finance'])({
      operationId: 'listNotifications',
      summary: 'List the email outbox',
      description:
        'What was queued for whom, and whether it was sent, oldest first. Messages are written with the change that causes ' +
        'them and delivered with retries; without SMTP_URL they stay queued.',
      querystring: z.strictObject({
        ...pageParameters,
        userId: z.string().max(100).refine(isUuid, 'must be a user id').optional().describe('Only messages to this user.'),
        status: notificationStatusEnum.optional().describe('Only messages in this state.'),
      }),
      response: { 200: pageOf(notificationResponse) },
    }),
    async (request) => {
      const { limit, cursor, userId, status } = request.query;
      const conditions: SQL[] = [eq(notifications.organisationId, request.principal.organisationId)];
      if (userId) conditions.push(eq(notifications.userId, userId));
      if (status) conditions.push(eq(notifications.status, status));
      const after = decodeCursor(cursor);
      if (after) conditions.push(gt(notifications.id, after));
      const rows = await app.db
        .select()
        .from(notifications)
        .where(and(...conditions))
        .orderBy(asc(notifications.id))
        .limit(limit + 1);
      return toPage(rows.map(toNotificationResponse), limit);
    },
  );

  app.get(
    '/v1/me/notification-preferences',
    everyone({
      operationId: 'getNotificationPreferences',
      summary: 'Get which emails you get',
      description: 'Every kind of email, with your choice or its default. An API token has no inbox: `forbidden`.',
      response: { 200: preferencesResponse, ...errors('forbidden') },
    }),
    async (request) => {
      const userId = ownUserId(request.principal);
      return toPreferencesResponse(await storedPreferences(app.db, request.principal.organisationId, userId));
    },
  );

  app.put(
    '/v1/me/notification-preferences',
    everyone({
      operationId: 'updateNotificationPreferences',
      summary: 'Turn kinds of email on or off',
      description: 'Kinds left out keep their setting. An API token has no inbox: `forbidden`.',
      body: preferencesBody,
      response: { 200: preferencesResponse, ...errors('forbidden') },
    }),
    async (request) => {
      const userId = ownUserId(request.principal);
      const stored = await request.transaction((tx) =>
        updatePreferences(tx, request.principal.organisationId, userId, request.actor(), request.body.email),
      );
      return toPreferencesResponse(stored);
    },
  );
};
