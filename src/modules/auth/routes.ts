import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { password, roleEnum } from '../../lib/schemas.js';
import { acceptInvite, authenticateUser, resetPassword, revokeOwnToken } from '../users/service.js';
import { roles } from '../../domain/enums.js';
import { AppError } from '../../errors.js';
import { assertMaySignIn, recordSignInFailure, signInKeys } from './sign-in-limits.js';

export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/auth/token',
    {
      // Failed attempts are limited per account and per address (sign-in-limits.ts).
      config: { public: true },
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
    async (request, reply) => {
      const keys = signInKeys(request.body.email, request.ip);
      try {
        await assertMaySignIn(app.db, keys, app.config.loginRateLimit, app.now());
      } catch (error) {
        if (error instanceof AppError && typeof error.extras.retryAfterSeconds === 'number') {
          reply.header('Retry-After', String(error.extras.retryAfterSeconds));
        }
        throw error;
      }
      const user = await authenticateUser(app.db, request.body.email, request.body.password).catch(async (error: unknown) => {
        if (error instanceof AppError && error.code === 'invalid_credentials') await recordSignInFailure(app.db, keys, app.now());
        throw error;
      });
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

