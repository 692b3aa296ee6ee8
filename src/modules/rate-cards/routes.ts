import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { activities, contributorKinds, rateUnits } from '../../domain/enums.js';
import { shortDayPays } from '../../domain/rate-card.js';
import { errors, idParam, operations } from '../../lib/openapi.js';
import { listRoute } from '../../lib/list-route.js';
import { amount, currency, isoDate, nonEmpty } from '../../lib/schemas.js';
import { addRateCardVersion, createRateCard, getRateCard, listRateCards } from './service.js';
import { rateCardResponse, rateCardVersionResponse } from './views.js';

const minutes = z.number().int().min(1).max(24 * 60);

export const rateSchema = z
  .strictObject({
    activity: z.enum(activities),
    contributorKind: z.enum(contributorKinds),
    unit: z.enum(rateUnits),
    amount: amount.describe('The rate per unit, in minor units (pence): 2000 is £20.00 an hour.'),
    roundToMinutes: minutes.optional().describe('Hourly rates only: minutes are rounded up to the next multiple of this.'),
    minimumMinutes: minutes.optional().describe('Hourly rates only: the fewest minutes paid, after rounding.'),
    dayThresholdMinutes: minutes
      .optional()
      .describe(
        'Day rates only: the minutes in a full day. More is still one day; less is paid as shortDayPay says. ' +
          'Without it the day rate is paid in full for any minutes.',
      ),
    shortDayPay: z
      .enum(shortDayPays)
      .optional()
      .describe(
        'Day rates with dayThresholdMinutes only: how a shorter day is paid. half_day: half the rate up to and ' +
          'including half the threshold, the full rate above it; pro_rata: rate × minutes / threshold, rounded half ' +
          'up to the penny. Not set: the full rate.',
      ),
    inKind: z.boolean().optional().describe("Values the time in reports but never owes or pays it (say, a professional's salaried time)."),
  })
  .superRefine((rate, ctx) => {
    if (rate.unit !== 'hour') {
      for (const field of ['roundToMinutes', 'minimumMinutes'] as const) {
        if (rate[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'applies to hourly rates only' });
      }
    }
    if (rate.unit !== 'day') {
      for (const field of ['dayThresholdMinutes', 'shortDayPay'] as const) {
        if (rate[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'applies to day rates only' });
      }
    }
  });

const rateCards = operations('rate cards');
const finance = rateCards.for(['admin', 'finance']);
const staff = rateCards.for(['admin', 'finance', 'coordinator']);

export const rateCardRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/rate-cards',
    finance({
      operationId: 'createRateCard',
      summary: 'Create a rate card',
      description: 'A rate card has one currency and no rates until its first version (`addRateCardVersion`).',
      body: z.strictObject({ name: nonEmpty(), currency }),
      response: { 201: rateCardResponse },
    }),
    async (request) => request.transaction((tx) => createRateCard(tx, request.principal.organisationId, request.actor(), request.body)),
  );

  app.post(
    '/v1/rate-cards/:id/versions',
    finance({
      operationId: 'addRateCardVersion',
      summary: 'Add a version of the rates',
      description:
        'The version prices work dated on or after `effectiveFrom` (a 10% uplift from April, say); approved work keeps the ' +
        'amount it was approved at. One rate per activity and contributor kind; a second version starting the same day is `already_exists`.',
      params: idParam('rate card'),
      body: z.strictObject({
        effectiveFrom: isoDate.describe('The first date of work the version prices.'),
        rates: z.array(rateSchema).min(1).max(200),
      }),
      response: { 201: rateCardVersionResponse, ...errors('not_found', 'already_exists') },
    }),
    async (request) =>
      request.transaction((tx) =>
        addRateCardVersion(tx, request.principal.organisationId, request.actor(), request.params.id, request.body),
      ),
  );

  listRoute(app, staff, '/v1/rate-cards', listRateCards, rateCardResponse, {
    operationId: 'listRateCards',
    summary: 'List rate cards',
    description: 'Rate cards in creation order, without their versions (see `getRateCard`).',
  });

  app.get(
    '/v1/rate-cards/:id',
    staff({
      operationId: 'getRateCard',
      summary: 'Get a rate card with all its versions',
      description: 'Every version, each with its rates and the date it applies from.',
      params: idParam('rate card'),
      response: { 200: rateCardResponse.extend({ versions: z.array(rateCardVersionResponse) }), ...errors('not_found') },
    }),
    async (request) => getRateCard(app.db, request.principal.organisationId, request.params.id),
  );
};
