import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountTypes } from '../../domain/enums.js';
import { AppError } from '../../errors.js';
import { decodeCursor, pageQuery, toPage } from '../../lib/pagination.js';
import { currency, id } from '../../lib/schemas.js';
import { listAccounts, listTransactions, trialBalance } from './service.js';
import { ledgerAccountResponse, ledgerTransactionResponse } from './views.js';

const readers = ['admin', 'finance'] as const;

/** Account cursors carry (code, currency), the accounts' sort key. */
const encodeAccountCursor = (a: { account: string; currency: string }) => Buffer.from(JSON.stringify([a.account, a.currency])).toString('base64url');
function decodeAccountCursor(cursor: string | undefined) {
  if (cursor === undefined) return undefined;
  try {
    const [code, cur] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof code === 'string' && typeof cur === 'string') return { code, currency: cur };
  } catch {
    // fall through
  }
  throw new AppError('validation_failed', 'The cursor is not valid', { errors: [{ field: 'querystring.cursor', message: 'not a cursor returned by this list' }] });
}

export const ledgerRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/ledger/accounts',
    {
      config: { roles: readers },
      schema: {
        tags: ['ledger'],
        summary: 'Ledger accounts and their balances (each balance is the sum of its postings)',
        querystring: z.strictObject({
          ...pageQuery,
          contributorId: id.optional(),
          budgetId: id.optional(),
          type: z.enum(accountTypes).optional(),
          currency: currency.optional(),
        }),
        response: { 200: z.object({ data: z.array(ledgerAccountResponse), nextCursor: z.string().nullable() }) },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      const rows = await listAccounts(app.db, request.principal.organisationId, filter, limit, decodeAccountCursor(cursor));
      const data = rows.slice(0, limit);
      const last = data[data.length - 1];
      return { data, nextCursor: rows.length > limit && last ? encodeAccountCursor(last) : null };
    },
  );

  app.get(
    '/v1/ledger/transactions',
    {
      config: { roles: readers },
      schema: {
        tags: ['ledger'],
        summary: 'Ledger transactions with their postings, optionally those touching one account',
        querystring: z.strictObject({ ...pageQuery, account: z.string().max(300).optional() }),
        response: { 200: z.object({ data: z.array(ledgerTransactionResponse), nextCursor: z.string().nullable() }) },
      },
    },
    async (request) => {
      const { limit, cursor, account } = request.query;
      const rows = await listTransactions(app.db, request.principal.organisationId, { account }, limit, decodeCursor(cursor));
      return toPage(rows, limit);
    },
  );

  app.get(
    '/v1/ledger/trial-balance',
    {
      config: { roles: readers },
      schema: {
        tags: ['ledger'],
        summary: 'The sum of all postings per currency: every total is 0',
        response: { 200: z.object({ balances: z.array(z.object({ currency: z.string(), total: z.number().int() })) }) },
      },
    },
    async (request) => ({ balances: await trialBalance(app.db, request.principal.organisationId) }),
  );
};
