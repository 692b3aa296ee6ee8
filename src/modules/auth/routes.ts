import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { password, roleEnum } from '../../lib/schemas.js';
import { acceptInvite, authenticateUser, resetPassword, revokeOwnToken } from '../users/service.js';
import { roles } from '../../domain/enums.js';

export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/auth/token',
    {
      config: {
        public: true,
        // Counted per client address and email, so guessing one account's password is slowed
        // without locking its owner out from elsewhere.
        rateLimit: {
          // After the body is parsed, so the key can include the email.
          hook: 'preHandler',
          max: app.config.loginRateLimit,
          timeWindow: '1 minute',
          keyGenerator: (request) => {
            const body = request.body as { email?: unknown } | undefined;
            return `${request.ip}|${typeof body?.email === 'string' ? body.email.toLowerCase() : ''}`;
          },
        },
      },
      schema: {
        tags: ['auth'],
        summary: 'Exchange an email and password for a short-lived access token',
        security: [],
        body: z.strictObject({ email: z.string().max(320), password: z.string().max(200) }),
        response: {
          200: z.object({ accessToken: z.string(), tokenType: z.literal('Bearer'), expiresIn: z.number().int() }),
        },
      },
    },
    async (request) => {
      const user = await authenticateUser(app.db, request.body.email, request.body.password);
      const accessToken = app.issueAccessToken({
        sub: user.id,
        org: user.organisationId,
        role: user.role,
        cid: user.contributorId,
        ver: user.tokenVersion,
      });
      return { accessToken, tokenType: 'Bearer' as const, expiresIn: app.config.jwt.ttlSeconds };
    },
  );

  app.post(
    '/v1/auth/accept-invite',
    {
      config: { public: true, rateLimit: { max: app.config.loginRateLimit, timeWindow: '1 minute' } },
      schema: {
        tags: ['auth'],
        summary: 'Set the password of an invited user',
        security: [],
        body: z.strictObject({ inviteToken: z.string().min(1).max(200), password }),
        response: { 200: z.object({ userId: z.string(), email: z.string() }) },
      },
    },
    async (request) => {
      const user = await acceptInvite(app.db, request.body.inviteToken, request.body.password, app.now());
      return { userId: user.id, email: user.email };
    },
  );

  app.post(
    '/v1/auth/reset-password',
    {
      config: { public: true, rateLimit: { max: app.config.loginRateLimit, timeWindow: '1 minute' } },
      schema: {
        tags: ['auth'],
        summary: 'Set a new password with a reset token; every earlier token of the user stops working',
        security: [],
        body: z.strictObject({ resetToken: z.string().min(1).max(200), password }),
        response: { 200: z.object({ userId: z.string(), email: z.string() }) },
      },
    },
    async (request) => {
      const user = await resetPassword(app.db, request.body.resetToken, request.body.password, app.now());
      app.access.forgetUser(user.organisationId, user.id);
      return { userId: user.id, email: user.email };
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      config: { roles },
      schema: { tags: ['auth'], summary: 'Revoke the token this request is made with', response: { 204: z.null() } },
    },
    async (request, reply) => {
      await revokeOwnToken(app.db, request.principal, app.now());
      if (request.principal.userId) app.access.forgetUser(request.principal.organisationId, request.principal.userId);
      else app.access.forgetApiTokens();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/me',
    {
      config: { roles: ['admin', 'finance', 'coordinator', 'participant', 'reporter'] },
      schema: {
        tags: ['auth'],
        summary: 'Who the token belongs to',
        response: {
          200: z.object({
            userId: z.string().nullable(),
            organisationId: z.string(),
            role: roleEnum,
            contributorId: z.string().nullable(),
          }),
        },
      },
    },
    async (request) => {
      const p = request.principal;
      return { userId: p.userId, organisationId: p.organisationId, role: p.role, contributorId: p.contributorId };
    },
  );
};

