import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type Stripe from 'stripe';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { assertCanSeeContributor, ownContributorId } from '../../lib/access.js';
import { errors, idParam, operations } from '../../lib/openapi.js';
import { applyStripeEvent, startStripeOnboarding, stripeAccountStatus } from './service.js';
import { stripeAccountStatusResponse, stripeOnboardingResponse } from './views.js';

const stripeTag = operations('stripe');
const participant = stripeTag.for(['participant']);
const contributorParam = idParam('contributor');
const onboardingDescription =
  'Creates the connected account once (a recipient with the `transfers` capability) and answers a fresh Stripe-hosted ' +
  'Account Link each call: send the person to `onboardingUrl`. Only for a contributor paid through Stripe (else `invalid_state`).';
const statusDescription = 'Asked of Stripe now: whether payouts are enabled and what Stripe still needs from the person.';

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
    stripeTag.for(['finance', 'coordinator'])({
      operationId: 'startContributorStripeOnboarding',
      summary: "Start or continue a contributor's Stripe onboarding",
      description: `${onboardingDescription} The contributor is emailed that a payout account is being set up for them.`,
      params: contributorParam,
      response: { 200: stripeOnboardingResponse, ...errors('not_found', 'invalid_state', 'stripe_not_configured') },
    }),
    async (request) =>
      startStripeOnboarding(app.db, requireStripe(), request.principal.organisationId, request.actor(), request.params.id, urls(request), app.now(), 'staff'),
  );

  app.post(
    '/v1/me/stripe-account',
    participant({
      operationId: 'startMyStripeOnboarding',
      summary: 'Start or continue my Stripe onboarding',
      description: onboardingDescription,
      response: { 200: stripeOnboardingResponse, ...errors('invalid_state', 'stripe_not_configured') },
    }),
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
    stripeTag.for(['admin', 'finance', 'coordinator'])({
      operationId: 'getContributorStripeAccount',
      summary: "Get a contributor's Stripe account status",
      description: statusDescription,
      params: contributorParam,
      response: { 200: stripeAccountStatusResponse, ...errors('not_found', 'stripe_not_configured', 'stripe_unavailable') },
    }),
    async (request) => {
      assertCanSeeContributor(request.principal, request.params.id);
      return stripeAccountStatus(app.db, requireStripe(), request.principal.organisationId, request.actor(), request.params.id, app.now());
    },
  );

  app.get(
    '/v1/me/stripe-account',
    participant({
      operationId: 'getMyStripeAccount',
      summary: 'Get my Stripe account status',
      description: statusDescription,
      response: { 200: stripeAccountStatusResponse, ...errors('not_found', 'stripe_not_configured', 'stripe_unavailable') },
    }),
    async (request) =>
      stripeAccountStatus(app.db, requireStripe(), request.principal.organisationId, request.actor(), ownContributorId(request.principal), app.now()),
  );

  // Webhooks are verified on the exact bytes Stripe sent, so this route keeps the raw body.
  await app.register(async (hooks) => {
    hooks.removeAllContentTypeParsers();
    hooks.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body));
    hooks.post(
      '/v1/webhooks/stripe',
      stripeTag.public({
        operationId: 'receiveStripeWebhook',
        summary: "Receive Stripe's webhooks",
        description:
          'For Stripe, not for clients: no bearer token; the `Stripe-Signature` header is checked against STRIPE_WEBHOOK_SECRET (each of its comma-separated secrets: the platform endpoint and the connected-accounts endpoint have one each) ' +
          'on the raw body (bad or older than 5 minutes: `invalid_signature`). Each event id is applied once; a repeat answers ' +
          '`duplicate: true`. `account.updated`, `transfer.reversed`, `payout.paid` and `payout.failed` move contributors and items on.',
        response: {
          200: z.object({ received: z.literal(true), duplicate: z.boolean() }),
          ...errors('invalid_signature', 'stripe_not_configured'),
        },
      }),
      async (request) => {
        const stripe = requireStripe();
        const secrets = app.config.stripe.webhookSecrets;
        if (!secrets.length) throw new AppError('stripe_not_configured', 'STRIPE_WEBHOOK_SECRET is not configured.');
        const signature = request.headers['stripe-signature'];
        const raw = request.body as Buffer | undefined;
        let event: Stripe.Event;
        try {
          if (typeof signature !== 'string' || !Buffer.isBuffer(raw)) throw new Error('missing signature or body');
          // The signature's age is measured on the app's clock (in ms), not the SDK's own.
          event = constructWithAny(stripe, raw, signature, secrets, app.now().getTime());
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

/**
 * The event, if the signature matches under any of the secrets (the platform's endpoint and the
 * connected-accounts endpoint sign with different ones); throws otherwise.
 */
function constructWithAny(stripe: Stripe, raw: Buffer, signature: string, secrets: string[], nowMs: number): Stripe.Event {
  let failure: unknown;
  for (const secret of secrets) {
    try {
      // The signature's age is measured on the app's clock (in ms), not the SDK's own.
      return stripe.webhooks.constructEvent(raw, signature, secret, SIGNATURE_TOLERANCE_SECONDS, undefined, nowMs);
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}
