import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ownContributorId } from '../../lib/access.js';
import { errors, idParam, operations } from '../../lib/openapi.js';
import { contributorResponse } from '../contributors/views.js';
import { eraseContributor } from './erase.js';
import { exportContributor, personalDataExport } from './export.js';

const erasureResponse = contributorResponse.extend({
  stripeAccountDeleted: z
    .boolean()
    .nullable()
    .describe('Whether Stripe deleted their connected account (false: Stripe kept it, or Stripe is not configured; our link to it is gone either way); null when they had none'),
  loginsErased: z.number().int().describe('Log-ins that were linked to them, now disabled and without name or email'),
});

const contributors = operations('contributors');
const admin = contributors.for(['admin']);
const params = idParam('contributor');

export const personalDataRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/contributors/:id/erase',
    admin({
      operationId: 'eraseContributor',
      summary: "Erase a contributor's personal data, keeping the books whole",
      description:
        'Name, email, the link to their Stripe connected account (and the account, where Stripe allows), the notes and reasons on their time and expenses, their log-in and the addresses of their emails are gone for good. ' +
        'The ledger, amounts, reports and their pseudonym stay exactly as they were; audit history never held their personal data. The erasure is audited, without the erased data. ' +
        'Refused while money is owed to them or on its way (`balance_outstanding`), while work of theirs awaits approval (`work_pending`), or while they also hold a staff log-in (`invalid_state`). Erasing again answers the same.',
      params,
      response: { 200: erasureResponse, ...errors('not_found', 'balance_outstanding', 'work_pending', 'invalid_state', 'stripe_unavailable') },
    }),
    async (request) => {
      const outcome = await eraseContributor(
        app.db,
        request.principal.organisationId,
        request.actor(),
        request.params.id,
        { stripe: app.stripe, stripeGate: app.stripeGate, sealer: app.storedResponseSealer, now: app.now() },
        (fn) => request.transaction(fn),
      );
      return { ...outcome.contributor, stripeAccountDeleted: outcome.stripeAccountDeleted, loginsErased: outcome.loginsErased };
    },
  );

  app.get(
    '/v1/contributors/:id/export',
    admin({
      operationId: 'exportContributor',
      summary: 'Everything held about a contributor, as one JSON document (a subject access request)',
      description:
        'Their profile, earnings limits, log-ins, time, expenses, payouts, balances, money received per tax year, emails, the audit events about them, and how long the records are kept.',
      params,
      response: { 200: personalDataExport, ...errors('not_found') },
    }),
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return exportContributor(app.db, request.principal.organisationId, request.params.id, app.now(), app.config.retentionYears);
    },
  );

  app.get(
    '/v1/me/export',
    contributors.for(['participant', 'admin', 'finance', 'coordinator'])({
      operationId: 'exportMyData',
      summary: 'Everything held about me, as one JSON document',
      description: 'The same document as an admin gets from GET /v1/contributors/{id}/export, for the contributor the signed-in user is linked to (403 when none).',
      response: { 200: personalDataExport },
    }),
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      reply.header('content-disposition', 'attachment; filename="my-data.json"');
      return exportContributor(app.db, request.principal.organisationId, ownContributorId(request.principal), app.now(), app.config.retentionYears);
    },
  );
};
