import type { FastifyInstance } from 'fastify';
import { notificationKinds, type NotificationKind } from '../../domain/enums.js';
import { kindLabels, kindsFor } from '../../modules/notifications/messages.js';
import { canTurnOff } from '../../modules/notifications/outbox.js';
import { ApiClient, PageError } from '../api.js';
import { fieldErrors } from '../forms.js';
import { homeFor, requireRole, secureCookies, SESSION_COOKIE, type Me } from '../session.js';

type Form = Record<string, string | undefined>;

/** The two pages where a person sets a password with a one-time code: an invitation and a reset. */
const codePages = [
  {
    path: '/accept-invite',
    api: '/v1/auth/accept-invite',
    field: 'inviteToken',
    title: 'Set your password',
    intro: 'You have been invited to see what you are owed for your time. Choose a password to sign in with.',
    codeLabel: 'Invitation code',
    sentAs: 'invitation',
    refused: 'This invitation code is not right, has been used or has expired. Ask your coordinator for a new invitation.',
  },
  {
    path: '/reset-password',
    api: '/v1/auth/reset-password',
    field: 'resetToken',
    title: 'Choose a new password',
    intro: 'Your password has been reset. Choose a new one to sign in with.',
    codeLabel: 'Reset code',
    sentAs: 'email or from the person who reset it',
    refused: 'This reset code is not right, has been used or has expired (a code lasts 24 hours). Ask an admin for a new one.',
  },
] as const;

/** A form field sent once (a string), several times (an array) or not at all. */
const many = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const isKind = (value: string): value is NotificationKind => (notificationKinds as readonly string[]).includes(value);


const SITE = 'https://ledger.invalid';

/**
 * A redirect target after sign-in: only a path on this site, never another origin. Parsed as a
 * URL against this site, as a browser would; anything with a control character or a backslash
 * is refused outright, because browsers drop tabs and newlines ("/\t/evil.com" becomes
 * "//evil.com", another site) and read a backslash as a slash.
 */
function safeNext(next: string | undefined): string | null {
  if (!next || !next.startsWith('/') || /[\u0000-\u001f\u007f\\]/.test(next)) return null;
  let url: URL;
  try {
    url = new URL(next, SITE);
  } catch {
    return null;
  }
  return url.origin === SITE ? `${url.pathname}${url.search}${url.hash}` : null;
}

export async function signInPages(app: FastifyInstance) {
  app.get<{ Querystring: Form }>('/login', async (request, reply) =>
    reply.page('login.njk', {
      next: safeNext(request.query.next) ?? '',
      ended: request.query.ended === '1',
      signedOut: request.query.signedOut === '1',
      passwordSet: request.query.passwordSet === '1',
      values: {},
      errors: {},
    }),
  );

  app.post<{ Body: Form }>('/login', async (request, reply) => {
    const email = (request.body.email ?? '').trim();
    const password = request.body.password ?? '';
    const errors: Record<string, string> = {};
    if (!email) errors.email = 'Enter your email address';
    if (!password) errors.password = 'Enter your password';
    let failure: string | null = null;
    if (!Object.keys(errors).length) {
      const result = await request.api.call<{ accessToken: string; expiresIn: number }>('POST', '/v1/auth/token', { email, password });
      if (result.ok) {
        const { accessToken, expiresIn } = result.data;
        reply.setCookie(SESSION_COOKIE, accessToken, {
          path: '/',
          httpOnly: true,
          sameSite: 'strict',
          secure: secureCookies(app, request),
          maxAge: expiresIn,
        });
        const next = safeNext(request.body.next);
        if (next) return reply.redirect(next, 303);
        const me = await new ApiClient(app, request, accessToken).get<Me>('/v1/me');
        return reply.redirect(homeFor(me.role), 303);
      }
      failure =
        result.status === 429
          ? 'Too many attempts to sign in. Wait a minute, then try again.'
          : result.problem.code === 'validation_failed'
            ? 'Enter a valid email address and password'
            : 'The email address or password is not right';
      errors.email = failure;
    }
    return reply.code(failure && failure.startsWith('Too many') ? 429 : 400).page('login.njk', {
      next: safeNext(request.body.next) ?? '',
      values: { email },
      errors,
    });
  });

  // Signing out revokes the session's token, so a copy of the cookie is worthless afterwards.
  app.post('/logout', async (request, reply) => {
    if (request.cookies[SESSION_COOKIE]) await request.api.call('POST', '/v1/auth/logout');
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login?signedOut=1', 303);
  });

  for (const page of codePages) {
    // Old links carried the code in the query string (logged by anything on the way): move it to
    // the fragment, which browsers keep to themselves. The request log redacts it (app.ts).
    app.get<{ Querystring: Form }>(page.path, async (request, reply) => {
      const code = request.query.token ?? request.query.code;
      if (code) return reply.redirect(`${page.path}#${encodeURIComponent(code)}`, 303);
      return reply.page('set-password.njk', { page, values: { code: '' }, errors: {} });
    });

    app.post<{ Body: Form }>(page.path, async (request, reply) => {
      const code = (request.body[page.field] ?? '').trim();
      const password = request.body.password ?? '';
      const errors: Record<string, string> = {};
      if (!code) errors.code = `Enter the ${page.codeLabel.toLowerCase()}`;
      if (!password) errors.password = 'Enter a new password';
      if (!Object.keys(errors).length) {
        const result = await request.api.call('POST', page.api, { [page.field]: code, password });
        if (result.ok) return reply.redirect('/login?passwordSet=1', 303);
        if (result.problem.code === 'validation_failed') {
          const byField = fieldErrors(result.problem);
          if (byField.password) errors.password = `The password ${byField.password}`;
          if (byField[page.field]) errors.code = `Enter the ${page.codeLabel.toLowerCase()} from your ${page.sentAs}`;
        } else if (result.status === 429) {
          errors.code = 'Too many attempts. Wait a minute, then try again.';
        } else {
          errors.code = page.refused;
        }
        if (!Object.keys(errors).length) errors.code = result.problem.detail;
      }
      return reply.code(400).page('set-password.njk', { page, values: { code }, errors });
    });
  }

  app.get<{ Querystring: Form }>('/account', async (request, reply) => {
    const me = await requireRole(request, reply, 'admin', 'reporter', 'participant', 'coordinator', 'finance');
    if (!me) return reply;
    // The emails that can reach this person, each ticked when they get it.
    const offered = kindsFor(me.role, me.contributorId !== null);
    const kinds = offered.filter(canTurnOff);
    const alwaysSent = offered.filter((kind) => !canTurnOff(kind)).map((kind) => kindLabels[kind]);
    const preferences = kinds.length ? (await request.api.get<{ email: Record<NotificationKind, boolean> }>('/v1/me/notification-preferences')).email : null;
    return reply.page('account.njk', {
      saved: request.query.saved === '1',
      kinds,
      alwaysSent,
      emailChoices: kinds.map((kind) => ({ value: kind, text: kindLabels[kind], checked: preferences?.[kind] ?? false })),
    });
  });

  // The Emails form: every kind it showed is sent back (hidden `shown`), ticked or not, so an
  // unticked box turns that kind off and kinds it did not show are left as they were.
  app.post<{ Body: { shown?: string | string[]; email?: string | string[] } }>('/account', async (request, reply) => {
    const me = await requireRole(request, reply, 'admin', 'reporter', 'participant', 'coordinator', 'finance');
    if (!me) return reply;
    const ticked = new Set(many(request.body.email));
    const email = Object.fromEntries(many(request.body.shown).filter(isKind).map((kind) => [kind, ticked.has(kind)]));
    const result = await request.api.call('PUT', '/v1/me/notification-preferences', { email });
    if (!result.ok) throw new PageError(result.problem);
    return reply.redirect('/account?saved=1#notifications', 303);
  });
}
