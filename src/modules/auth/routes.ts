import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errors, operations } from '../../lib/openapi.js';
import { password, roleEnum } from '../../lib/schemas.js';
import { acceptInvite, authenticateUser, resetPassword, revokeOwnToken } from '../users/service.js';
import { roles } from '../../domain/enums.js';
import { AppError } from '../../errors.js';
import { assertMaySignIn, recordSignInFailure, signInKeys } from './sign-in-limits.js';

const auth = operations('auth');
const anyone = auth.for(roles);
/** The one-time codes of invitations and resets are spent here: limited per address, like sign-in. */
const limited = (app: { config: { loginRateLimit: number } }) => ({ rateLimit: { max: app.config.loginRateLimit, timeWindow: '1 minute' } });
const signedIn = z.object({ userId: z.string(), email: z.string() });

export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/auth/token',
    // Failed attempts are limited per account and per address (sign-in-limits.ts).
    auth.public({
      operationId: 'createAccessToken',
      summary: 'Sign in: exchange an email and password for an access token',
      description:
        'Answers a short-lived JWT to send as `Authorization: Bearer <accessToken>`. A wrong email and a wrong password are ' +
        'answered alike (`invalid_credentials`). Failed attempts are limited per account and per address: 429 `rate_limited` ' +
        'with `Retry-After`; successful sign-ins are not counted.',
      body: z.strictObject({ email: z.string().max(320), password: z.string().max(200) }),
      response: {
        200: z.object({
          accessToken: z.string(),
          tokenType: z.literal('Bearer'),
          expiresIn: z.number().int().describe('Seconds until the token expires.'),
        }),
        ...errors('invalid_credentials', 'rate_limited'),
      },
    }),
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
      const started = performance.now();
      const user = await authenticateUser(app.db, request.body.email, request.body.password).catch(async (error: unknown) => {
        if (error instanceof AppError && error.code === 'invalid_credentials') {
          await recordSignInFailure(app.db, keys, app.now());
          // Answered no sooner than the floor after the check began, whichever hash it checked
          // (FAILED_SIGN_IN_MIN_MS, src/config.ts).
          await sleep(Math.max(0, app.config.failedSignInMinMs - (performance.now() - started)));
        }
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
    auth.public(
      {
        operationId: 'acceptInvite',
        summary: 'Accept an invitation by setting a password',
        description:
          'Spends the one-time `inviteToken` that `createUser` answered (or emailed) and sets the password; then sign in with ' +
          '`createAccessToken`. An unknown, used or expired invitation is `invalid_credentials`.',
        body: z.strictObject({ inviteToken: z.string().min(1).max(200).describe('The invitation code, once.'), password }),
        response: { 200: signedIn, ...errors('invalid_credentials') },
      },
      limited(app),
    ),
    async (request) => {
      const user = await acceptInvite(app.db, request.body.inviteToken, request.body.password, app.now());
      return { userId: user.id, email: user.email };
    },
  );

  app.post(
    '/v1/auth/reset-password',
    auth.public(
      {
        operationId: 'resetPassword',
        summary: 'Set a new password with a reset code',
        description:
          'Spends the one-time `resetToken` from `createPasswordReset`; every earlier token of the user stops working. ' +
          'An unknown, used or expired code is `invalid_credentials`.',
        body: z.strictObject({ resetToken: z.string().min(1).max(200).describe('The reset code, once.'), password }),
        response: { 200: signedIn, ...errors('invalid_credentials') },
      },
      limited(app),
    ),
    async (request) => {
      const user = await resetPassword(app.db, request.body.resetToken, request.body.password, app.now());
      app.access.forgetUser(user.organisationId, user.id);
      return { userId: user.id, email: user.email };
    },
  );

  app.post(
    '/v1/auth/logout',
    anyone({
      operationId: 'revokeAccessToken',
      summary: 'Sign out: revoke the token this request is made with',
      description: 'The token stops working within a second; other tokens of the same user are untouched.',
      response: { 204: z.null() },
    }),
    async (request, reply) => {
      await revokeOwnToken(app.db, request.principal, app.now());
      if (request.principal.userId) app.access.forgetUser(request.principal.organisationId, request.principal.userId);
      else app.access.forgetApiTokens();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/me',
    anyone({
      operationId: 'getMe',
      summary: 'Who the token belongs to',
      description: "The user (null for an API token), organisation, current role and, for a participant, their contributor.",
      response: {
        200: z.object({
          userId: z.string().nullable(),
          organisationId: z.string(),
          role: roleEnum,
          contributorId: z.string().nullable(),
        }),
      },
    }),
    async (request) => {
      const p = request.principal;
      return { userId: p.userId, organisationId: p.organisationId, role: p.role, contributorId: p.contributorId };
    },
  );
};

