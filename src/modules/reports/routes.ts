import { stringify } from 'csv-stringify/sync';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contributorKinds } from '../../domain/enums.js';
import { londonDate } from '../../domain/uk-time.js';
import { currency, id, idParams, isoDate, MAX_RANGE_YEARS, withinMaxRange } from '../../lib/schemas.js';
import { budgetResponse } from '../budgets/views.js';
import { getBudgetRow } from '../budgets/service.js';
import { distributionReport, grantReport, timeToPayReport, type GrantReport } from './service.js';

const readers = ['admin', 'finance', 'coordinator', 'reporter'] as const;

const filterQuery = z
  .strictObject({
    projectId: id.optional(),
    budgetId: id.optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    currency: currency.optional(),
  })
  .refine((q) => !q.from || !q.to || q.from <= q.to, { path: ['to'], message: 'must not be before from' })
  .refine((q) => !q.from || !q.to || withinMaxRange(q.from, q.to), { path: ['to'], message: `must be less than ${MAX_RANGE_YEARS} years after from` });

const group = z.object({
  contributors: z.number().int(),
  minutes: z.number().int(),
  earned: z.number().int(),
  paid: z.number().int().describe('Earnings paid in the range (by the day paid); never expenses'),
  expenses: z.number().int().describe('Expenses approved for work dated in the range'),
  expensesPaid: z.number().int().describe('Expenses repaid in the range (by the day paid)'),
  inKindValue: z.number().int(),
  declinedValue: z.number().int(),
  effectiveHourlyRate: z.number().int().describe('Minor units per hour of paid time'),
});

const kindEnum = z.enum(contributorKinds);
/** The work and money of a grant report's kind or contributor line. */
const lineFigures = {
  minutes: z.number().int(),
  earned: z.number().int(),
  expenses: z.number().int(),
  inKindValue: z.number().int(),
  declinedValue: z.number().int(),
  paid: z.number().int().describe('Earnings paid, under the kind recorded on the work paid; never expenses'),
  expensesPaid: z.number().int(),
};
const grantReportView = z.object({
  budget: budgetResponse,
  committed: z.number().int().describe('owed + inTransit + paid + expensesPaid'),
  paid: z.number().int().describe('Earnings paid from the budget; never expenses'),
  expensesPaid: z.number().int().describe('Expenses repaid from the budget'),
  inTransit: z.number().int(),
  owed: z.number().int(),
  available: z.number().int(),
  livedExperienceShareOfMoney: z.number(),
  byActivity: z.array(z.object({ activity: z.string(), minutes: z.number().int(), earned: z.number().int(), inKindValue: z.number().int(), declinedValue: z.number().int() })),
  byKind: z.array(
    z.object({ kind: kindEnum, contributors: z.number().int(), ...lineFigures }),
  ),
  byMonth: z.array(
    z.object({
      month: z.string(),
      minutes: z.number().int(),
      earned: z.number().int(),
      livedExperienceEarned: z.number().int().describe('Earned by lived-experience contributors and carers'),
      professionalEarned: z.number().int(),
      expenses: z.number().int(),
    }),
  ),
  contributors: z.array(
    z.object({ pseudonym: z.string(), kind: kindEnum, livedExperience: z.boolean(), ...lineFigures }),
  ).describe('A line per contributor and kind recorded on their work: someone whose kind changed has a line for each'),
});

/** The grant report flattened into one table, a `section` column saying which part a row is. */
export function grantReportCsv(report: GrantReport): string {
  const b = report.budget;
  // `paid` is earnings paid everywhere, as in the JSON; expenses repaid are in `expenses_paid`.
  const rows: (string | number)[][] = [
    ['section', 'name', 'kind', 'minutes', 'earned', 'expenses', 'in_kind_value', 'declined_value', 'paid', 'expenses_paid', 'amount'],
    ['budget', `${b.name} (${b.funder} ${b.grantReference})`, '', '', '', '', '', '', report.paid, report.expensesPaid, b.total],
    ['budget_committed', b.currency, '', '', '', '', '', '', '', '', report.committed],
    ['budget_in_transit', b.currency, '', '', '', '', '', '', '', '', report.inTransit],
    ['budget_available', b.currency, '', '', '', '', '', '', '', '', report.available],
    ...report.byActivity.map((a) => ['activity', a.activity, '', a.minutes, a.earned, '', a.inKindValue, a.declinedValue, '', '', '']),
    ...report.byKind.map((k) => ['kind', k.kind, k.kind, k.minutes, k.earned, k.expenses, k.inKindValue, k.declinedValue, k.paid, k.expensesPaid, '']),
    ...report.byMonth.map((m) => ['month', m.month, '', m.minutes, m.earned, m.expenses, '', '', '', '', '']),
    ...report.contributors.map((c) => ['contributor', c.pseudonym, c.kind, c.minutes, c.earned, c.expenses, c.inKindValue, c.declinedValue, c.paid, c.expensesPaid, '']),
  ];
  // escape_formulas: a text cell starting with =, +, -, @, tab or CR gets a leading quote, so a
  // spreadsheet shows it instead of running it; numbers (negative ones too) stay numbers.
  return stringify(rows, { escape_formulas: true });
}

export const reportRoutes: FastifyPluginAsyncZod = async (app) => {
  /** Reports are in one currency: the budget's, else the query's, else GBP. */
  const currencyFor = async (organisationId: string, q: { budgetId?: string; currency?: string }) => {
    if (q.currency) return q.currency;
    if (q.budgetId) return (await getBudgetRow(app.db, organisationId, q.budgetId)).currency;
    return 'GBP';
  };

  app.get(
    '/v1/reports/distribution',
    {
      config: { roles: readers },
      preHandler: app.limitHeavyReads,
      schema: {
        tags: ['reports'],
        summary: 'How money and hours were shared between lived-experience contributors and professionals',
        querystring: filterQuery,
        response: {
          200: z.object({
            currency: z.string(),
            filters: z.object({ projectId: z.string().nullable(), budgetId: z.string().nullable(), from: z.string().nullable(), to: z.string().nullable() }),
            groups: z.object({ livedExperience: group, professional: group }),
            byKind: z.array(group.extend({ kind: kindEnum })),
            livedExperienceShareOfMoney: z.number().min(0).max(1),
            livedExperienceShareOfHours: z.number().min(0).max(1),
          }),
        },
      },
    },
    async (request) => {
      const { organisationId } = request.principal;
      return distributionReport(app.db, organisationId, { ...request.query, currency: await currencyFor(organisationId, request.query) });
    },
  );

  app.get(
    '/v1/reports/budgets/:id',
    {
      config: { roles: readers },
      preHandler: app.limitHeavyReads,
      schema: {
        tags: ['reports'],
        summary: 'The grant report of a budget (JSON, or CSV with Accept: text/csv or ?format=csv)',
        params: idParams,
        querystring: z.strictObject({ format: z.enum(['json', 'csv']).optional() }),
        response: { 200: grantReportView },
      },
    },
    async (request, reply) => {
      const report = await grantReport(app.db, request.principal.organisationId, request.params.id);
      const wantsCsv = request.query.format === 'csv' || (request.query.format === undefined && /\btext\/csv\b/.test(request.headers.accept ?? ''));
      if (wantsCsv) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="grant-report-${report.budget.id}.csv"`)
          .serializer((payload: unknown) => payload as string)
          .send(grantReportCsv(report) as never);
      }
      return report;
    },
  );

  app.get(
    '/v1/reports/time-to-pay',
    {
      config: { roles: readers },
      preHandler: app.limitHeavyReads,
      schema: {
        tags: ['reports'],
        summary: 'How long people wait: work to approval to payment, and the ageing of what they still wait for (owed or in an unfinished payout)',
        querystring: filterQuery,
        response: {
          200: z.object({
            currency: z.string(),
            targetDays: z.number().int(),
            asOf: z.string(),
            byProjectAndMethod: z.array(
              z.object({
                projectId: z.string(),
                method: z.string(),
                entries: z.number().int(),
                paidEntries: z.number().int(),
                daysWorkToApproval: z.object({ median: z.number().nullable(), p90: z.number().nullable() }),
                daysApprovalToPaid: z.object({ median: z.number().nullable(), p90: z.number().nullable() }),
              }),
            ),
            owedAgeing: z.array(z.object({ bucket: z.enum(['0-14', '15-30', '31-60', '60+']), count: z.number().int(), amount: z.number().int() })),
            owedPastTarget: z.array(
              z.object({
                contributorId: z.string().optional(),
                name: z.string().optional(),
                pseudonym: z.string(),
                oldestDays: z.number().int(),
                amount: z.number().int(),
              }),
            ),
          }),
        },
      },
    },
    async (request) => {
      const { organisationId, role } = request.principal;
      const report = await timeToPayReport(
        app.db,
        organisationId,
        { ...request.query, currency: await currencyFor(organisationId, request.query) },
        londonDate(app.now()),
      );
      // Reporters never see who is who: only pseudonyms.
      if (role === 'reporter') {
        report.owedPastTarget = report.owedPastTarget.map(({ pseudonym, oldestDays, amount }) => ({ pseudonym, oldestDays, amount })) as typeof report.owedPastTarget;
      }
      return report;
    },
  );
};
