import type { FastifyInstance, FastifyRequest } from 'fastify';
import { londonDate } from '../../domain/uk-time.js';
import { PageError, SessionEnded, type Problem } from '../api.js';
import { taxYearOf } from '../format.js';
import { formKey } from '../forms.js';
import { requireRole, SESSION_COOKIE, type Me } from '../session.js';

interface Buckets {
  owed: number;
  inTransit: number;
  paid: number;
}
interface Balance {
  balances: (Buckets & { currency: string; earnings: Buckets; expenses: Buckets })[];
  earningsLimit: {
    period: 'week' | 'month';
    amount: number;
    policy: 'block' | 'split' | 'warn';
    to: string;
    headroom: number;
    owedOverHeadroom: number;
    heldIfPaidToday: number;
    payableFrom: string;
  } | null;
}
interface Contributor {
  id: string;
  name: string;
  kind: string;
  paymentMethod: string;
  stripeAccountId: string | null;
  payoutsEnabled: boolean;
  payoutDetailsChangedAt: string | null;
  earningsLimit: { period: string; amount: number; policy: string } | null;
}

/** GET /v1/me/stripe-account: the Stripe set-up as Stripe reports it now. */
interface StripeStatus {
  accountId: string | null;
  payoutsEnabled: boolean;
  detailsSubmitted: boolean;
  checking: boolean;
  stillNeeded: string[];
  payoutDetailsChangedAt: string | null;
}

const paymentMethods = ['stripe', 'bank_transfer', 'voucher', 'declined'] as const;

/** Below this much of the £1,000 trading allowance left (in pence), the statement warns. */
const ALLOWANCE_WARNING_BELOW = 20_000;

/** 2025 → "2025-26", the tax year starting on 6 April 2025 as the API names it. */
const taxYearLabel = (startYear: number) => `${startYear}-${String((startYear + 1) % 100).padStart(2, '0')}`;

/**
 * A PDF from the API as the signed-in user, bytes intact. ApiClient.download hands bodies on
 * as text, which would corrupt a binary file, so this asks the API the same way it does (the
 * user's own token, their address, in-process) and keeps the raw payload.
 */
async function apiPdf(app: FastifyInstance, request: FastifyRequest, url: string) {
  const token = request.cookies[SESSION_COOKIE];
  const response = await app.inject({
    method: 'GET',
    url,
    headers: { accept: 'application/pdf', host: request.host, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    remoteAddress: request.ip,
  });
  if (response.statusCode === 401 && token) throw new SessionEnded();
  if (response.statusCode >= 400) throw new PageError(JSON.parse(response.body) as Problem);
  return { body: response.rawPayload, disposition: response.headers['content-disposition'] as string | undefined };
}

/** A participant's own pages: what they are owed, their statement, how they are paid. */
export async function participantPages(app: FastifyInstance) {
  app.get('/my', async (request, reply) => {
    const me = await requireRole(request, reply, 'participant');
    if (!me) return reply;
    const [balance, contributor, entries] = await Promise.all([
      request.api.get<Balance>('/v1/me/balance'),
      request.api.get<Contributor>(`/v1/contributors/${me.contributorId}`),
      request.api.get<{ data: unknown[] }>('/v1/time-entries?limit=50'),
    ]);
    const totals = balance.balances.find((b) => b.currency === 'GBP') ?? balance.balances[0] ?? { currency: 'GBP', owed: 0, inTransit: 0, paid: 0 };
    return reply.page('participant/home.njk', { title: 'What I am owed', contributor, totals, limit: balance.earningsLimit, entries: entries.data });
  });

  app.get<{ Querystring: { year?: string } }>('/my/statement', async (request, reply) => {
    const me = await requireRole(request, reply, 'participant');
    if (!me) return reply;
    // Tax years and "today" are UK dates: 00:30 on 6 April in London is already the new year.
    const today = londonDate(app.now());
    const current = taxYearOf(today);
    const asked = Number(request.query.year);
    const year = Number.isInteger(asked) && asked >= 2000 && asked <= current ? asked : current;
    const statement = await request.api.get<Record<string, unknown>>(`/v1/me/statement?from=${year}-04-06&to=${year + 1}-04-05`);
    const years = Array.from({ length: 4 }, (_, i) => current - i);
    const letters = years.map((y) => ({ year: y, taxYear: taxYearLabel(y) }));
    return reply.page('participant/statement.njk', {
      title: `Statement for the tax year ${year} to ${year + 1}`,
      statement,
      year,
      years,
      letters,
      today,
      allowanceWarningBelow: ALLOWANCE_WARNING_BELOW,
    });
  });

  // The letter for a benefits office or HMRC, passed through from the API as it made it.
  app.get<{ Querystring: { taxYear?: string } }>('/my/statement.pdf', async (request, reply) => {
    const me = await requireRole(request, reply, 'participant');
    if (!me) return reply;
    const taxYear = request.query.taxYear ?? taxYearLabel(taxYearOf(londonDate(app.now())));
    const pdf = await apiPdf(app, request, `/v1/me/statement.pdf?taxYear=${encodeURIComponent(taxYear)}`);
    if (pdf.disposition) reply.header('content-disposition', pdf.disposition);
    return reply.type('application/pdf').header('cache-control', 'no-store').send(pdf.body);
  });

  // Everything held about me (a subject access request), as the API's JSON document, downloaded.
  app.get('/my/data.json', async (request, reply) => {
    const me = await requireRole(request, reply, 'participant');
    if (!me) return reply;
    const data = await request.api.get<unknown>('/v1/me/export');
    return reply
      .type('application/json; charset=utf-8')
      .header('content-disposition', 'attachment; filename="my-data.json"')
      .header('cache-control', 'no-store')
      .send(JSON.stringify(data, null, 2));
  });

  /**
   * Stripe's own answer on the set-up, for someone who has started it and cannot be paid yet,
   * or who is just back from Stripe: the webhook that tells us may come a little later, and
   * Stripe knows what it still needs. Null when Stripe cannot be asked (the page then shows
   * what the service last heard).
   */
  const liveStripeStatus = async (request: FastifyRequest, contributor: Contributor, back: string | null): Promise<StripeStatus | null> => {
    if (contributor.paymentMethod !== 'stripe' || !contributor.stripeAccountId) return null;
    if (contributor.payoutsEnabled && back !== 'returned') return null;
    const result = await request.api.call<StripeStatus>('GET', '/v1/me/stripe-account');
    return result.ok ? result.data : null;
  };

  const paymentPage = async (request: FastifyRequest, contributorId: string, extra: Record<string, unknown> = {}) => {
    let contributor = await request.api.get<Contributor>(`/v1/contributors/${contributorId}`);
    const stripeStatus = await liveStripeStatus(request, contributor, (extra.stripeBack as string | null | undefined) ?? null);
    if (stripeStatus) contributor = { ...contributor, payoutsEnabled: stripeStatus.payoutsEnabled };
    return { title: 'How I am paid', contributor, stripeStatus, methods: paymentMethods, idempotencyKey: formKey(), ...extra };
  };

  app.get<{ Querystring: { saved?: string; stripe?: string } }>('/my/payment', async (request, reply) => {
    const me = await requireRole(request, reply, 'participant');
    if (!me) return reply;
    const stripe = request.query.stripe === 'returned' || request.query.stripe === 'expired' ? request.query.stripe : null;
    return reply.page('participant/payment.njk', await paymentPage(request, me.contributorId!, { saved: request.query.saved === '1', stripeBack: stripe }));
  });

  app.post<{ Body: { paymentMethod?: string } }>('/my/payment', async (request, reply) => {
    const me = await requireRole(request, reply, 'participant');
    if (!me) return reply;
    const choice = request.body.paymentMethod;
    if (!choice || !(paymentMethods as readonly string[]).includes(choice)) {
      const errors = { paymentMethod: 'Choose how you want to be paid, or that you do not want to be paid' };
      return reply.code(400).page('participant/payment.njk', await paymentPage(request, me.contributorId!, { errors }));
    }
    const result = await request.api.call('PATCH', `/v1/contributors/${me.contributorId}`, { paymentMethod: choice });
    if (!result.ok) {
      const errors = { paymentMethod: result.problem.detail };
      return reply.code(result.status).page('participant/payment.njk', await paymentPage(request, me.contributorId!, { errors }));
    }
    return reply.redirect('/my/payment?saved=1', 303);
  });

  // Where Stripe sends people back to: a participant signed in here sees their status at once;
  // anyone else (set up by a coordinator's link) is told what happens next.
  for (const [path, outcome] of [
    ['/app/stripe/return', 'returned'],
    ['/app/stripe/refresh', 'expired'],
  ] as const) {
    app.get(path, async (request, reply) => {
      if (request.cookies[SESSION_COOKIE]) {
        const me = await request.api.get<Me>('/v1/me');
        if (me.role === 'participant') return reply.redirect(`/my/payment?stripe=${outcome}`, 303);
      }
      return reply.page('participant/stripe-back.njk', { title: outcome === 'returned' ? 'Back from Stripe' : 'The Stripe link has expired', outcome });
    });
  }

  app.post('/my/payment/stripe', async (request, reply) => {
    const me = await requireRole(request, reply, 'participant');
    if (!me) return reply;
    const result = await request.api.call<{ accountId: string; onboardingUrl: string; payoutsEnabled: boolean }>('POST', '/v1/me/stripe-account');
    if (!result.ok) {
      const message =
        result.problem.code === 'stripe_not_configured'
          ? 'Payments through Stripe are not set up for this organisation yet. Choose another way to be paid, or ask your coordinator.'
          : result.problem.detail;
      return reply.code(result.status).page('participant/payment.njk', await paymentPage(request, me.contributorId!, { stripeError: message, errorList: [{ text: message, href: '#stripe' }] }));
    }
    return reply.page('participant/stripe.njk', { title: 'Set up payments with Stripe', link: result.data });
  });
}
