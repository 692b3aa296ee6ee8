import { stringify } from 'csv-stringify/sync';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contributorKinds } from '../../domain/enums.js';
import { londonDate } from '../../domain/uk-time.js';
import { errors, idParam, operations } from '../../lib/openapi.js';
import { currency, id, isoDate, MAX_RANGE_YEARS, withinMaxRange } from '../../lib/schemas.js';
import { budgetResponse } from '../budgets/views.js';
import { getBudgetRow } from '../budgets/service.js';
import {
  distributionReport,
  grantReport,
  PERIOD_BASIS,
  projectReport,
  timeToPayReport,
  type BudgetPosition,
  type GrantReport,
  type PeriodView,
  type ProjectReport,
} from './service.js';

/** Who reads reports: everyone but participants. A reporter is never shown a name (see each report). */
const read = operations('reports').for(['admin', 'finance', 'coordinator', 'reporter']);

const filterQuery = z
  .strictObject({
    projectId: id.optional().describe("Only the work and money of this project's budgets."),
    budgetId: id.optional().describe("Only this budget's; the report is then in the budget's currency."),
    from: isoDate.optional().describe('The first day (inclusive, a Europe/London date): work by its date, money paid by the day it was paid.'),
    to: isoDate.optional().describe('The last day (inclusive, a Europe/London date).'),
    currency: currency.optional().describe("The report's currency when no `budgetId` is given (GBP if neither is)."),
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

const periodView = z
  .object({
    from: z.string().nullable().describe('The first day of the period (inclusive), or null: from the start'),
    to: z.string().nullable().describe('The last day of the period (inclusive), or null: up to now'),
    basis: z
      .object({
        work: z
          .literal(PERIOD_BASIS.work)
          .describe('Minutes, earned, expenses, in-kind and declined value (and byActivity, byMonth, the lines) count by the date of the work: the day the time was given or the money spent, whenever it was approved. Reversed work is in no period.'),
        paid: z
          .literal(PERIOD_BASIS.paid)
          .describe('paid and expensesPaid count by the Europe/London day the money was paid, less what Stripe reversed by the day of the reversal'),
        position: z
          .literal(PERIOD_BASIS.position)
          .describe("The budget's figures, committed, owed, inTransit, available and `position` are the ledger's balances as at the end of `to`, by its transactions' effective dates (funding on the budget's start date, an approval on the work's date, a payment, failure, reversal or adjustment on the UK day it happened); without `to`, as they are now"),
      })
      .describe('Which date puts each figure in the period'),
  })
  .describe('The reporting period: inclusive Europe/London calendar dates');

const positionView = z
  .object({
    asAt: z.string().nullable().describe('The last day counted (`to`), or null: everything recorded so far'),
    total: z.number().int().describe('The money granted and adjusted'),
    committed: z.number().int().describe('owed + inTransit + paid + expensesPaid'),
    owed: z.number().int(),
    inTransit: z.number().int(),
    paid: z.number().int().describe('Earnings paid to date; never expenses'),
    expensesPaid: z.number().int().describe('Expenses repaid to date'),
    available: z.number().int().describe('total − committed'),
  })
  .describe("The position at the period's end, paid to date included (see period.basis.position)");

/** What the budget and project reports say of the work and money in them (all time, or a period). */
const spendFields = {
  livedExperienceShareOfMoney: z.number().describe('The share of `earned` earned by lived-experience contributors and carers, 0–1'),
  byActivity: z.array(z.object({ activity: z.string(), minutes: z.number().int(), earned: z.number().int(), inKindValue: z.number().int(), declinedValue: z.number().int() })),
  byKind: z.array(
    z.object({ kind: kindEnum, contributors: z.number().int().describe('Distinct contributors with work or money of this kind'), ...lineFigures }),
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
  ).describe('A line per contributor and kind recorded on their work: someone whose kind changed has a line for each. In a period, only those with work or money in it'),
};

const grantReportView = z.object({
  period: periodView.optional().describe('Only when `from` or `to` is given'),
  budget: budgetResponse.describe("The budget; in a period, its figures as at the period's end"),
  committed: z.number().int().describe("owed + inTransit + paid + expensesPaid; in a period, as at the period's end (position.committed)"),
  paid: z.number().int().describe('Earnings paid from the budget (in a period, paid in it); never expenses'),
  expensesPaid: z.number().int().describe('Expenses repaid from the budget (in a period, repaid in it)'),
  inTransit: z.number().int(),
  owed: z.number().int(),
  available: z.number().int(),
  position: positionView.optional().describe("Only in a period: the budget's position at its end"),
  ...spendFields,
});

const projectReportView = z.object({
  project: z.object({ id: z.string(), name: z.string() }),
  period: periodView,
  currencies: z
    .array(
      z.object({
        currency: z.string(),
        budgets: z.array(budgetResponse).describe("The project's budgets in this currency, their figures as at the period's end"),
        committed: z.number().int().describe("What the budgets have committed as at the period's end (position.committed)"),
        paid: z.number().int().describe('Earnings paid from the budgets in the period; never expenses'),
        expensesPaid: z.number().int().describe('Expenses repaid from the budgets in the period'),
        inTransit: z.number().int(),
        owed: z.number().int(),
        available: z.number().int(),
        position: positionView,
        ...spendFields,
      }),
    )
    .describe('A part per currency of the project\'s budgets (money in two currencies is never added up), in code order; none without budgets'),
});

const grantReportCsvBody = z
  .string()
  .describe(
    'The grant report as one table (RFC 4180, a header row): section,name,kind,minutes,earned,expenses,in_kind_value,declined_value,paid,expenses_paid,amount. ' +
      'Sections: budget, budget_committed, budget_in_transit, budget_available, activity, kind, month, contributor; a period report starts with ' +
      'period_from, period_to and period_basis and adds position, position_committed, position_owed, position_in_transit and position_available.',
  )
  .meta({ examples: ['section,name,kind,minutes,earned,expenses,in_kind_value,declined_value,paid,expenses_paid,amount\nbudget,Panel (Funder G-1),,,,,,,6000,730,1000000\n'] });
const projectReportCsvBody = z
  .string()
  .describe(
    "The project's report as one table, the grant report's columns with `currency` after `section`: project, period_from, period_to, period_basis, " +
      'then per currency budget (one per budget), total, total_committed, total_in_transit, total_available, the position rows, activity, kind, month and contributor.',
  );

/** The position rows of a period report's CSV (see positionView); `name` is the day they are as at. */
function periodCsvRows(position: BudgetPosition, currencyColumn?: string): (string | number)[][] {
  const row = (section: string, name: string | number, paid: string | number, expensesPaid: string | number, amount: string | number) =>
    currencyColumn === undefined
      ? [section, name, '', '', '', '', '', '', paid, expensesPaid, amount]
      : [section, currencyColumn, name, '', '', '', '', '', '', paid, expensesPaid, amount];
  return [
    row('position', position.asAt ?? '', position.paid, position.expensesPaid, position.total),
    row('position_committed', position.asAt ?? '', '', '', position.committed),
    row('position_owed', position.asAt ?? '', '', '', position.owed),
    row('position_in_transit', position.asAt ?? '', '', '', position.inTransit),
    row('position_available', position.asAt ?? '', '', '', position.available),
  ];
}

/** The rows naming a period and its basis, first in a period report's CSV: the dates in `name`. */
function periodHeadRows(period: PeriodView, currencyColumn: boolean): (string | number)[][] {
  const row = (section: string, name: string) => {
    const cells = currencyColumn ? [section, '', name] : [section, name];
    return [...cells, ...Array<string>((currencyColumn ? 12 : 11) - cells.length).fill('')];
  };
  return [
    row('period_from', period.from ?? ''),
    row('period_to', period.to ?? ''),
    row('period_basis', `work: ${period.basis.work}; paid: ${period.basis.paid}; position: ${period.basis.position}`),
  ];
}

const csvOptions = { escape_formulas: true } as const;

/** The grant report flattened into one table, a `section` column saying which part a row is. */
export function grantReportCsv(report: GrantReport): string {
  const b = report.budget;
  // `paid` is earnings paid everywhere, as in the JSON; expenses repaid are in `expenses_paid`.
  const header = ['section', 'name', 'kind', 'minutes', 'earned', 'expenses', 'in_kind_value', 'declined_value', 'paid', 'expenses_paid', 'amount'];
  const rows: (string | number)[][] = [
    header,
    // A period report starts with its period and ends its budget rows with the position.
    ...(report.period ? periodHeadRows(report.period, false) : []),
    ['budget', `${b.name} (${b.funder} ${b.grantReference})`, '', '', '', '', '', '', report.paid, report.expensesPaid, b.total],
    ['budget_committed', b.currency, '', '', '', '', '', '', '', '', report.committed],
    ['budget_in_transit', b.currency, '', '', '', '', '', '', '', '', report.inTransit],
    ['budget_available', b.currency, '', '', '', '', '', '', '', '', report.available],
    ...(report.period && report.position ? periodCsvRows(report.position) : []),
    ...report.byActivity.map((a) => ['activity', a.activity, '', a.minutes, a.earned, '', a.inKindValue, a.declinedValue, '', '', '']),
    ...report.byKind.map((k) => ['kind', k.kind, k.kind, k.minutes, k.earned, k.expenses, k.inKindValue, k.declinedValue, k.paid, k.expensesPaid, '']),
    ...report.byMonth.map((m) => ['month', m.month, '', m.minutes, m.earned, m.expenses, '', '', '', '', '']),
    ...report.contributors.map((c) => ['contributor', c.pseudonym, c.kind, c.minutes, c.earned, c.expenses, c.inKindValue, c.declinedValue, c.paid, c.expensesPaid, '']),
  ];
  // escape_formulas: a text cell starting with =, +, -, @, tab or CR gets a leading quote, so a
  // spreadsheet shows it instead of running it; numbers (negative ones too) stay numbers.
  return stringify(rows, csvOptions);
}

/**
 * The project report as one table, like the grant report's with a `currency` column after
 * `section`: the period, then for each currency its budgets (amount: each one's total as at
 * the period's end), the sums, the position, and the activity, kind, month and contributor rows.
 */
export function projectReportCsv(report: ProjectReport): string {
  const header = ['section', 'currency', 'name', 'kind', 'minutes', 'earned', 'expenses', 'in_kind_value', 'declined_value', 'paid', 'expenses_paid', 'amount'];
  const rows: (string | number)[][] = [header, ['project', '', report.project.name, '', '', '', '', '', '', '', '', ''], ...periodHeadRows(report.period, true)];
  for (const part of report.currencies) {
    const c = part.currency;
    rows.push(
      ...part.budgets.map((b) => ['budget', c, `${b.name} (${b.funder} ${b.grantReference})`, '', '', '', '', '', '', '', '', b.total]),
      ['total', c, report.project.name, '', '', '', '', '', '', part.paid, part.expensesPaid, part.position.total],
      ['total_committed', c, '', '', '', '', '', '', '', '', '', part.committed],
      ['total_in_transit', c, '', '', '', '', '', '', '', '', '', part.inTransit],
      ['total_available', c, '', '', '', '', '', '', '', '', '', part.available],
      ...periodCsvRows(part.position, c),
      ...part.byActivity.map((a) => ['activity', c, a.activity, '', a.minutes, a.earned, '', a.inKindValue, a.declinedValue, '', '', '']),
      ...part.byKind.map((k) => ['kind', c, k.kind, k.kind, k.minutes, k.earned, k.expenses, k.inKindValue, k.declinedValue, k.paid, k.expensesPaid, '']),
      ...part.byMonth.map((m) => ['month', c, m.month, '', m.minutes, m.earned, m.expenses, '', '', '', '', '']),
      ...part.contributors.map((l) => ['contributor', c, l.pseudonym, l.kind, l.minutes, l.earned, l.expenses, l.inKindValue, l.declinedValue, l.paid, l.expensesPaid, '']),
    );
  }
  return stringify(rows, csvOptions);
}

/** CSV when asked for with ?format=csv, or with Accept: text/csv and no format; JSON otherwise. */
function wantsCsv(request: { query: { format?: 'json' | 'csv' }; headers: FastifyRequest['headers'] }): boolean {
  return request.query.format === 'csv' || (request.query.format === undefined && /\btext\/csv\b/.test(request.headers.accept ?? ''));
}

/** Sends a report's CSV as a download; the JSON response schema does not apply to it. */
function sendCsv(reply: FastifyReply, filename: string, csv: string) {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename}"`)
    .serializer((payload: unknown) => payload as string)
    .send(csv as never);
}

const periodQuery = {
  from: isoDate.optional().describe('The first day of the reporting period, inclusive: a Europe/London calendar date (YYYY-MM-DD)'),
  to: isoDate.optional().describe("The last day of the reporting period, inclusive (YYYY-MM-DD); the position is as at the end of it"),
};
const formatQuery = z.enum(['json', 'csv']).optional().describe('`csv` for the CSV form (as `Accept: text/csv`); `json` (the default) otherwise');
const periodReportQuery = z
  .strictObject({ format: formatQuery, ...periodQuery })
  .refine((q) => !q.from || !q.to || q.from <= q.to, { path: ['to'], message: 'must not be before from' })
  .refine((q) => !q.from || !q.to || withinMaxRange(q.from, q.to), { path: ['to'], message: `must be less than ${MAX_RANGE_YEARS} years after from` });

export const reportRoutes: FastifyPluginAsyncZod = async (app) => {
  /**
   * Every report reads here: the reports replica when REPORTS_DATABASE_URL is set (so a report
   * may lag the ledger by the replication lag), else the primary. Never for a write.
   */
  const db = app.reportsDb;
  /** Reports are in one currency: the budget's, else the query's, else GBP. Errors: not_found (the budget). */
  const currencyFor = async (organisationId: string, q: { budgetId?: string; currency?: string }) => {
    if (q.currency) return q.currency;
    if (q.budgetId) return (await getBudgetRow(db, organisationId, q.budgetId)).currency;
    return 'GBP';
  };

  app.get(
    '/v1/reports/distribution',
    {
      ...read({
        operationId: 'getDistributionReport',
        summary: 'How money and hours were shared between lived-experience contributors and professionals',
        description:
          'Approved work dated in the range (by the date of the work) and the earnings and expenses paid in it (by the Europe/London day paid), ' +
          'grouped as lived experience (lived-experience contributors and carers) and professionals, and by contributor kind as recorded on the work at approval. ' +
          'In one currency: the budget\'s when `budgetId` is given, else `currency`, else GBP. No names: counts and sums only. ' +
          '404 `not_found` when `budgetId` is not a budget of the organisation and no `currency` is given.',
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
          ...errors('not_found'),
        },
      }),
      preHandler: app.limitHeavyReads,
    },
    async (request) => {
      const { organisationId } = request.principal;
      return distributionReport(db, organisationId, { ...request.query, currency: await currencyFor(organisationId, request.query) });
    },
  );

  /**
   * A grant report, a budget's or a project's, for all time or a reporting period: JSON, or CSV
   * (with `Accept: text/csv` or `?format=csv`) downloaded as `<file>-<id>[-<from>-to-<to>].csv`.
   */
  function periodReportRoute<Report>(
    path: string,
    spec: { operationId: string; summary: string; description: string; of: string; responseText: string; file: string },
    view: z.ZodType,
    csvBody: z.ZodType,
    build: (organisationId: string, id: string, period: { from?: string; to?: string }) => Promise<Report>,
    toCsv: (report: Report) => string,
  ) {
    app.get(
      path,
      {
        ...read({
          operationId: spec.operationId,
          summary: spec.summary,
          description: spec.description,
          params: idParam(spec.of),
          querystring: periodReportQuery,
          response: {
            200: { description: spec.responseText, content: { 'application/json': { schema: view }, 'text/csv': { schema: csvBody } } },
            ...errors('not_found'),
          },
        }),
        preHandler: app.limitHeavyReads,
      },
      async (request, reply) => {
        const { from, to } = request.query;
        const report = await build(request.principal.organisationId, request.params.id, { from, to });
        if (!wantsCsv(request)) return report;
        const period = from || to ? `-${from ?? 'start'}-to-${to ?? 'now'}` : '';
        return sendCsv(reply, `${spec.file}-${request.params.id}${period}.csv`, toCsv(report));
      },
    );
  }

  periodReportRoute(
    '/v1/reports/budgets/:id',
    {
      operationId: 'getBudgetReport',
      summary: 'The grant report of a budget, for all time or a reporting period (JSON, or CSV with Accept: text/csv or ?format=csv)',
      description:
        "The budget's figures from the ledger; spend by activity, by contributor kind (as recorded on the work at approval) and by month; and a line per contributor " +
        'and kind under a stable pseudonym (never a name, email or payment detail). `paid` is earnings paid and `expensesPaid` the expenses repaid beside it. ' +
        "With `from` and/or `to` (inclusive Europe/London dates) it is a funder's return for that period: work by its date, money paid by the day it was paid, " +
        "and the budget's position as at the end of `to`; `period.basis` says so. `from` after `to`, or a range of 10 years or more: 400 `validation_failed`. " +
        'The CSV is one table with a `section` column; a text cell starting with =, +, -, @, tab or carriage return is prefixed with a quote.',
      of: 'budget',
      responseText: 'The grant report: JSON, or CSV with `Accept: text/csv` or `?format=csv`.',
      file: 'grant-report',
    },
    grantReportView,
    grantReportCsvBody,
    (organisationId, id, period) => grantReport(db, organisationId, id, period),
    grantReportCsv,
  );

  periodReportRoute(
    '/v1/reports/projects/:id',
    {
      operationId: 'getProjectReport',
      summary: "The grant report across all of a project's budgets, for all time or a reporting period (JSON, or CSV with Accept: text/csv or ?format=csv)",
      description:
        "The budget report's figures for every budget of the project together, with a part per currency (money in two currencies is never added up): " +
        "each budget's position, their sums, and the work and money with a line per contributor and kind across the budgets, so a person working on " +
        'two budgets is one contributor. `from` and `to` as in the budget report; `period.basis` says which date counts. No names, emails or payment details. ' +
        "The CSV is the same table as the budget report's with a `currency` column after `section`.",
      of: 'project',
      responseText: "The project's report: JSON, or CSV with `Accept: text/csv` or `?format=csv`.",
      file: 'project-report',
    },
    projectReportView,
    projectReportCsvBody,
    (organisationId, id, period) => projectReport(db, organisationId, id, period),
    projectReportCsv,
  );

  app.get(
    '/v1/reports/time-to-pay',
    {
      ...read({
        operationId: 'getTimeToPayReport',
        summary: 'How long people wait: work to approval to payment, and the ageing of what they still wait for (owed or in an unfinished payout)',
        description:
          'Per project and payment method, days from the work to its approval and from approval to payment (median and 90th percentile, between Europe/London dates), ' +
          "and the ageing of what people still wait for (owed, or in an unfinished payout), with the contributors waiting past the organisation's target. " +
          'A reporter sees pseudonyms only; other readers also see the contributor\'s id and name. ' +
          '404 `not_found` when `budgetId` is not a budget of the organisation and no `currency` is given.',
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
          ...errors('not_found'),
        },
      }),
      preHandler: app.limitHeavyReads,
    },
    async (request) => {
      const { organisationId, role } = request.principal;
      const report = await timeToPayReport(
        db,
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
