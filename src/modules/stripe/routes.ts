import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type Stripe from 'stripe';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { assertCanSeeContributor, ownContributorId } from '../../lib/access.js';
import { idParams } from '../../lib/schemas.js';
import { applyStripeEvent, startStripeOnboarding, stripeAccountStatus } from './service.js';
import { stripeAccountStatusResponse, stripeOnboardingResponse } from './views.js';

/** Stripe's signatures older than this are refused, so a captured delivery cannot be replayed later. */
const SIGNATURE_TOLERANCE_SECONDS = 300;

export const stripeRoutes: FastifyPluginAsyncZod = async (app) => {
  const requireStripe = (): Stripe => {
    if (!app.stripe) throw new AppError('stripe_not_configured', 'Stripe is not configured (STRIPE_SECRET_KEY).');
    return app.stripe;
  };
  const urls = (request: { protocol: string; host: string }) => {
    const base = app.config.publicUrl ?? `${request.protocol}://${request.host}`;
    return { refreshUrl: `${base}/app/stripe/refresh`, returnUrl: `${base}/app/stripe/return` };
  };

  app.post(
    '/v1/contributors/:id/stripe-account',
    {
      config: { roles: ['finance', 'coordinator'] },
      schema: {
        tags: ['stripe'],
        summary: "Create the contributor's Stripe connected account (once) and a fresh onboarding link",
        params: idParams,
        response: { 200: stripeOnboardingResponse },
      },
    },
    async (request) =>
      startStripeOnboarding(app.db, requireStripe(), request.principal.organisationId, request.actor(), request.params.id, urls(request), app.now(), 'staff'),
  );

  app.post(
    '/v1/me/stripe-account',
    {
      config: { roles: ['participant'] },
      schema: { tags: ['stripe'], summary: 'Start or continue my Stripe onboarding', response: { 200: stripeOnboardingResponse } },
    },
    async (request) =>
      startStripeOnboarding(
        app.db,
        requireStripe(),
        request.principal.organisationId,
        request.actor(),
        ownContributorId(request.principal),
        urls(request),
        app.now(),
        'participant',
      ),
  );

  app.get(
    '/v1/contributors/:id/stripe-account',
    {
      config: { roles: ['admin', 'finance', 'coordinator'] },
      schema: {
        tags: ['stripe'],
        summary: "The contributor's Stripe account as Stripe reports it now: can it be paid, and what is still needed",
        params: idParams,
        response: { 200: stripeAccountStatusResponse },
      },
    },
    async (request) => {
      assertCanSeeContributor(request.principal, request.params.id);
      return stripeAccountStatus(app.db, requireStripe(), request.principal.organisationId, request.actor(), request.params.id, app.now());
    },
  );

  app.get(
    '/v1/me/stripe-account',
    {
      config: { roles: ['participant'] },
      schema: {
        tags: ['stripe'],
        summary: 'My Stripe set-up as Stripe reports it now: can I be paid, and what is still needed',
        response: { 200: stripeAccountStatusResponse },
      },
    },
    async (request) =>
      stripeAccountStatus(app.db, requireStripe(), request.principal.organisationId, request.actor(), ownContributorId(request.principal), app.now()),
  );

  // Webhooks are verified on the exact bytes Stripe sent, so this route keeps the raw body.
  await app.register(async (hooks) => {
    hooks.removeAllContentTypeParsers();
    hooks.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body));
    hooks.post(
      '/v1/webhooks/stripe',
      {
        config: { public: true },
        schema: {
          tags: ['stripe'],
          summary: 'Stripe webhooks (signed; each event applied once)',
          security: [],
          response: { 200: z.object({ received: z.literal(true), duplicate: z.boolean() }) },
        },
      },
      async (request) => {
        const stripe = requireStripe();
        const secret = app.config.stripe.webhookSecret;
        if (!secret) throw new AppError('stripe_not_configured', 'STRIPE_WEBHOOK_SECRET is not configured.');
        const signature = request.headers['stripe-signature'];
        const raw = request.body as Buffer | undefined;
        let event: Stripe.Event;
        try {
          if (typeof signature !== 'string' || !Buffer.isBuffer(raw)) throw new Error('missing signature or body');
          // The signature's age is measured on the app's clock (in ms), not the SDK's own.
          event = stripe.webhooks.constructEvent(raw, signature, secret, SIGNATURE_TOLERANCE_SECONDS, undefined, app.now().getTime());
        } catch {
          throw new AppError('invalid_signature', 'The Stripe-Signature header does not match the body, or is too old.');
        }
        const { applied } = await applyStripeEvent(app.db, event, app.now());
        request.log.info({ eventId: event.id, type: event.type, duplicate: !applied }, 'stripe event');
        return { received: true as const, duplicate: !applied };
      },
    );
  });
};
