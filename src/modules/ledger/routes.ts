import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountTypes } from '../../domain/enums.js';
import { AppError } from '../../errors.js';
import { operations, pageParameters } from '../../lib/openapi.js';
import { decodeCursor, toPage } from '../../lib/pagination.js';
import { currency, id } from '../../lib/schemas.js';
import { listAccounts, listTransactions, trialBalance } from './service.js';
import { ledgerAccountResponse, ledgerTransactionResponse } from './views.js';

const readers = operations('ledger').for(['admin', 'finance']);

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
    readers({
      operationId: 'listLedgerAccounts',
      summary: 'List ledger accounts and their balances',
      description: "Each balance is the sum of the account's postings, in minor units; accounts in order of code and currency.",
      querystring: z.strictObject({
        ...pageParameters,
        contributorId: id.optional().describe("Only this contributor's accounts (owed, in transit, paid)."),
        budgetId: id.optional().describe("Only this budget's account."),
        type: z.enum(accountTypes).optional().describe('Only accounts of this type.'),
        currency: currency.optional().describe('Only accounts in this currency.'),
      }),
      response: { 200: z.object({ data: z.array(ledgerAccountResponse), nextCursor: z.string().nullable() }) },
    }),
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
    readers({
      operationId: 'listLedgerTransactions',
      summary: 'List ledger transactions with their postings',
      description: 'Append-only: a correction is a reversing transaction that names the one it reverses. Oldest first.',
      querystring: z.strictObject({
        ...pageParameters,
        account: z.string().max(300).optional().describe('Only transactions touching this account code, such as `contributor:<id>:owed`.'),
      }),
      response: { 200: z.object({ data: z.array(ledgerTransactionResponse), nextCursor: z.string().nullable() }) },
    }),
    async (request) => {
      const { limit, cursor, account } = request.query;
      const rows = await listTransactions(app.db, request.principal.organisationId, { account }, limit, decodeCursor(cursor));
      return toPage(rows, limit);
    },
  );

  app.get(
    '/v1/ledger/trial-balance',
    readers({
      operationId: 'getTrialBalance',
      summary: 'Get the trial balance',
      description: "The sum of all the organisation's postings per currency. Every total is 0: anything else is a fault to report.",
      response: { 200: z.object({ balances: z.array(z.object({ currency: z.string(), total: z.number().int() })) }) },
    }),
    async (request) => ({ balances: await trialBalance(app.db, request.principal.organisationId) }),
  );
};
