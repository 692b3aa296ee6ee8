import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { activities, contributorKinds, rateUnits } from '../../domain/enums.js';
import { shortDayPays } from '../../domain/rate-card.js';
import { decodeCursor, pageOf, pageQuery, toPage } from '../../lib/pagination.js';
import { amount, currency, idParams, isoDate, nonEmpty } from '../../lib/schemas.js';
import { addRateCardVersion, createRateCard, getRateCard, listRateCards } from './service.js';
import { rateCardResponse, rateCardVersionResponse } from './views.js';

const minutes = z.number().int().min(1).max(24 * 60);

export const rateSchema = z
  .strictObject({
    activity: z.enum(activities),
    contributorKind: z.enum(contributorKinds),
    unit: z.enum(rateUnits),
    amount,
    roundToMinutes: minutes.optional(),
    minimumMinutes: minutes.optional(),
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
    inKind: z.boolean().optional(),
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

export const rateCardRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/rate-cards',
    {
      config: { roles: ['admin', 'finance'] },
      schema: {
        tags: ['rate cards'],
        summary: 'Create a rate card in one currency',
        body: z.strictObject({ name: nonEmpty(), currency }),
        response: { 201: rateCardResponse },
      },
    },
    async (request) => request.transaction((tx) => createRateCard(tx, request.principal.organisationId, request.actor(), request.body)),
  );

  app.post(
    '/v1/rate-cards/:id/versions',
    {
      config: { roles: ['admin', 'finance'] },
      schema: {
        tags: ['rate cards'],
        summary: 'Add a version of the rates, applying to work dated on or after effectiveFrom',
        params: idParams,
        body: z.strictObject({ effectiveFrom: isoDate, rates: z.array(rateSchema).min(1).max(200) }),
        response: { 201: rateCardVersionResponse },
      },
    },
    async (request) =>
      request.transaction((tx) =>
        addRateCardVersion(tx, request.principal.organisationId, request.actor(), request.params.id, request.body),
      ),
  );

  app.get(
    '/v1/rate-cards',
    {
      config: { roles: ['admin', 'finance', 'coordinator'] },
      schema: { tags: ['rate cards'], summary: 'Rate cards', querystring: z.strictObject(pageQuery), response: { 200: pageOf(rateCardResponse) } },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      return toPage(await listRateCards(app.db, request.principal.organisationId, limit, decodeCursor(cursor)), limit);
    },
  );

  app.get(
    '/v1/rate-cards/:id',
    {
      config: { roles: ['admin', 'finance', 'coordinator'] },
      schema: {
        tags: ['rate cards'],
        summary: 'A rate card with all its versions',
        params: idParams,
        response: { 200: rateCardResponse.extend({ versions: z.array(rateCardVersionResponse) }) },
      },
    },
    async (request) => getRateCard(app.db, request.principal.organisationId, request.params.id),
  );
};
