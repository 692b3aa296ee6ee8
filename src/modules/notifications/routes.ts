import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** GET /v1/notifications and /v1/me/notification-preferences (see API.md, Notifications). */
export const notificationRoutes: FastifyPluginAsyncZod = async () => {
  // TODO(helper: email delivery)
};
