import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ukTaxYear } from '../../domain/earnings-period.js';
import { londonDate } from '../../domain/uk-time.js';
import { AppError, notFound } from '../../errors.js';
import { readTogether } from '../../db/tx.js';
import { assertCanSeeContributor, ownContributorId } from '../../lib/access.js';
import { errors, idParam, operations } from '../../lib/openapi.js';
import { isoDate, MAX_RANGE_YEARS, withinMaxRange } from '../../lib/schemas.js';
import { RECEIVED_CURRENCY, contributorBalanceRead, contributorStatement, statementLetter } from './service.js';
import { statementPdf } from './statement-pdf.js';
import { balanceView, statementView } from './views.js';

const statementQuery = z.strictObject({
  from: isoDate.optional().describe('The first day covered; the start of the current UK tax year if left out.'),
  to: isoDate.optional().describe(`The last day covered (less than ${MAX_RANGE_YEARS} years after from); the end of the current tax year if left out.`),
});

/** The statement covers the current UK tax year unless a range is given. Errors: validation_failed. */
function statementRange(query: { from?: string; to?: string }, today: string) {
  const year = ukTaxYear(today);
  const range = { from: query.from ?? year.start, to: query.to ?? year.end };
  if (range.to < range.from) {
    throw new AppError('validation_failed', 'to must not be before from', { errors: [{ field: 'querystring.to', message: 'must not be before from' }] });
  }
  if (!withinMaxRange(range.from, range.to)) {
    const message = `must be less than ${MAX_RANGE_YEARS} years after from`;
    throw new AppError('validation_failed', `A statement covers at most ${MAX_RANGE_YEARS} years`, { errors: [{ field: 'querystring.to', message }] });
  }
  return range;
}

/** A UK tax year as people write it: "2025-26" is 6 April 2025 to 5 April 2026. */
const taxYearLabel = z
  .string()
  .regex(/^\d{4}-\d{2}$/, 'must be a UK tax year written like 2025-26')
  .refine((label) => (Number(label.slice(0, 4)) + 1) % 100 === Number(label.slice(5)), 'must be two consecutive years, like 2025-26')
  .refine((label) => Number(label.slice(0, 4)) >= 1900 && Number(label.slice(0, 4)) < 2999, 'must be between 1900-01 and 2998-99');
const letterQuery = z.strictObject({
  taxYear: taxYearLabel.optional().describe('The UK tax year, like 2025-26; the current one if left out.'),
});

const pdfResponse = z.any().describe('application/pdf: a letter for a benefits office or HMRC');

const balances = operations('balances');
const staff = balances.for(['admin', 'finance', 'coordinator']);
/** Routes under /v1/me answer for the caller's own contributor (forbidden to a user linked to none). */
const anyoneLinked = balances.for(['admin', 'finance', 'coordinator', 'participant']);
const contributorParam = idParam('contributor');
const statementDescription =
  'Every time entry, expense and payout in the range, with totals per UK tax year (6 April to 5 April) and per ' +
  'earnings-limit period, counting money by the Europe/London date it was paid; a period or tax year the range cuts is totalled whole.';
const letterDescription =
  'A letter for a benefits office or HMRC: what was paid in the tax year and when, earnings and expenses apart, and who to contact.';

export const balanceRoutes: FastifyPluginAsyncZod = async (app) => {
  const today = () => londonDate(app.now());

  /**
   * A contributor's balances, and where they stand against their earnings limit today; not_found
   * for someone who is not in the organisation. Read on one connection without a transaction
   * (readTogether): on PostgreSQL one statement (contributorBalanceRead).
   */
  const balanceOf = (organisationId: string, contributorId: string) =>
    readTogether(app.db, async (db) => {
      const read = await contributorBalanceRead(db, organisationId, contributorId, RECEIVED_CURRENCY, today());
      if (!read) throw notFound('The contributor');
      return { contributorId, ...read };
    });

  /** The tax year a letter is about: the one asked for, or the current one. */
  const letterYear = (label: string | undefined) => ukTaxYear(label ? `${label.slice(0, 4)}-04-06` : today());

  app.get(
    '/v1/contributors/:id/balance',
    staff({
      operationId: 'getContributorBalance',
      summary: "Get a contributor's owed, in-transit and paid money",
      description: 'Per currency, earnings and expenses apart, and where the contributor stands against their earnings limit today.',
      params: contributorParam,
      response: { 200: balanceView, ...errors('not_found') },
    }),
    async (request) => {
      return balanceOf(request.principal.organisationId, request.params.id);
    },
  );

  app.get(
    '/v1/me/balance',
    anyoneLinked({
      operationId: 'getMyBalance',
      summary: 'Get what I am owed, what is on its way and what was paid',
      description: "`getContributorBalance` for the caller's own contributor.",
      response: { 200: balanceView },
    }),
    async (request) => {
      return balanceOf(request.principal.organisationId, ownContributorId(request.principal));
    },
  );

  app.get(
    '/v1/contributors/:id/statement',
    staff({
      operationId: 'getContributorStatement',
      summary: "Get a contributor's statement",
      description: statementDescription,
      params: contributorParam,
      querystring: statementQuery,
      response: { 200: statementView, ...errors('not_found') },
    }),
    async (request) =>
      contributorStatement(app.db, request.principal.organisationId, request.params.id, statementRange(request.query, today()), app.now()),
  );

  app.get(
    '/v1/me/statement',
    anyoneLinked({
      operationId: 'getMyStatement',
      summary: 'Get my statement',
      description: statementDescription,
      querystring: statementQuery,
      response: { 200: statementView },
    }),
    async (request) =>
      contributorStatement(app.db, request.principal.organisationId, ownContributorId(request.principal), statementRange(request.query, today()), app.now()),
  );

  /** Sends a contributor's letter for a tax year as a PDF download. Errors: not_found. */
  const sendLetter = async (organisationId: string, contributorId: string, label: string | undefined, reply: import('fastify').FastifyReply) => {
    const year = letterYear(label);
    const letter = await statementLetter(app.db, organisationId, contributorId, year, app.now());
    const pdf = await statementPdf(letter, app.now());
    return reply
      .type('application/pdf')
      .header('content-disposition', `attachment; filename="payments-${year.label}.pdf"`)
      .header('cache-control', 'no-store')
      .send(pdf);
  };

  app.get(
    '/v1/contributors/:id/statement.pdf',
    // A participant may fetch only their own letter; anyone else's id is not found (404).
    anyoneLinked({
      operationId: 'getContributorStatementLetter',
      summary: "Get a contributor's payments in a tax year as a PDF letter",
      description: `${letterDescription} A participant may fetch only their own.`,
      params: contributorParam,
      querystring: letterQuery,
      produces: ['application/pdf'],
      response: { 200: pdfResponse, ...errors('not_found') },
    }),
    async (request, reply) => {
      assertCanSeeContributor(request.principal, request.params.id);
      return sendLetter(request.principal.organisationId, request.params.id, request.query.taxYear, reply);
    },
  );

  app.get(
    '/v1/me/statement.pdf',
    anyoneLinked({
      operationId: 'getMyStatementLetter',
      summary: 'Get my payments in a tax year as a PDF letter',
      description: letterDescription,
      querystring: letterQuery,
      produces: ['application/pdf'],
      response: { 200: pdfResponse },
    }),
    async (request, reply) => sendLetter(request.principal.organisationId, ownContributorId(request.principal), request.query.taxYear, reply),
  );
};
