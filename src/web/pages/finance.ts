import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { addDays } from '../../domain/earnings-period.js';
import { londonDate } from '../../domain/uk-time.js';
import { PageError } from '../api.js';
import { date } from '../format.js';
import { formKey } from '../forms.js';
import { requireRole, type Me } from '../session.js';

interface Item {
  id: string;
  contributorId: string;
  amount: number;
  earnings: number;
  expenses: number;
  carriedForward: number;
  warnings: string[];
  currency: string;
  method: string;
  status: string;
  failureReason: string | null;
  failureInWords: string | null;
  failedAt: string | null;
  lastError: string | null;
  reference: string | null;
  stripeTransferId: string | null;
}
interface Run {
  id: string;
  status: string;
  currency: string;
  total: number;
  createdBy: string;
  approvedBy: string | null;
  approvedAt: string | null;
  createdAt: string;
  budgetId: string | null;
  filters: { failedFrom?: string };
  skipped: { contributorId: string; reason: string; amount: number; headroom?: number; payableFrom?: string }[];
  items: Item[];
}
interface Budget {
  id: string;
  name: string;
  currency: string;
}
interface MonthLine {
  month: string;
  earned: number;
  livedExperienceEarned: number;
  professionalEarned: number;
  expenses: number;
  minutes: number;
}

type Form = Record<string, string | undefined>;

/** One line of GET /v1/reports/time-to-pay's byProjectAndMethod. */
interface WaitLine {
  projectId: string;
  method: string;
  entries: number;
  paidEntries: number;
  daysWorkToApproval: { median: number | null; p90: number | null };
  daysApprovalToPaid: { median: number | null; p90: number | null };
}

/** GET /v1/payout-schedule. */
interface Schedule {
  cadence: 'daily' | 'weekly';
  weekday?: number | null;
  time: string;
  methods?: string[] | null;
  /** When the next run will be drafted. */
  nextRunAt?: string;
}

/** The report page's reporting period as API query parameters (`from=...&to=...`), or '' for all time. */
function periodQuery(query: Form): string {
  const params = new URLSearchParams();
  if (query.from) params.set('from', query.from);
  if (query.to) params.set('to', query.to);
  return params.toString();
}

/** How far back the page looks: failed payments still worth acting on, and recent waits. */
const FAILED_DAYS = 30;
const WAIT_DAYS = 90;

/** How finance names each way of paying (the participants' pages say it their way). */
const methodNames: Record<string, string> = { stripe: 'Stripe', bank_transfer: 'Bank transfer', voucher: 'Voucher', declined: 'Declined payment' };

/** 0 → "within a day" (the same date), 1 → "within 1 day", 2.5 → "within 2.5 days". */
const within = (n: number) => (n === 0 ? 'within a day' : `within ${n} ${n === 1 ? 'day' : 'days'}`);

/** "Half … within 3 days of …, and 9 in 10 within 8 days", or null when nothing was measured. */
function halfAndNineInTen(what: string, since: string, wait: { median: number | null; p90: number | null }): string | null {
  if (wait.median === null || wait.p90 === null) return null;
  return `Half ${what} ${within(wait.median)} ${since}, and 9 in 10 ${within(wait.p90)}.`;
}

/** A project and payment method's waits over the last 90 days, in sentences. */
function waitsInWords(line: WaitLine, projectName: string) {
  return {
    project: projectName,
    method: methodNames[line.method] ?? line.method,
    entries: line.entries,
    approval: halfAndNineInTen('were approved', 'of the work', line.daysWorkToApproval),
    paid:
      halfAndNineInTen('were paid', 'of approval', line.daysApprovalToPaid) ??
      'None of it has been paid yet.',
    paidEntries: line.paidEntries,
  };
}

const weekdays = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** The schedule in words: "Every Monday at 09:00 (UK time) … The next is drafted on 8 June 2026." */
function scheduleInWords(schedule: Schedule): string {
  const when = schedule.cadence === 'weekly' && schedule.weekday ? `Every ${weekdays[schedule.weekday - 1]}` : 'Every day';
  const only = schedule.methods?.length ? ` for people paid by ${schedule.methods.map((m) => (methodNames[m] ?? m).toLowerCase()).join(' or ')}` : '';
  const next = schedule.nextRunAt ? ` The next is drafted on ${date(schedule.nextRunAt)}.` : '';
  return `${when} at ${schedule.time} (UK time) a payout run of everything owed${only} is drafted on its own; any finance user then approves it.${next}`;
}

/**
 * The items that failed since `since` (a Europe/London date), one group per run, the run with
 * the newest failure first, each with what its pay-again button needs and, when there is one,
 * the draft that already pays them again.
 */
function failedByRun(runs: Run[], since: string, drafts: Run[], names: Map<string, string>) {
  const failedSince = (i: Item) => i.status === 'failed' && i.failedAt !== null && londonDate(new Date(i.failedAt)) >= since;
  const newest = (items: Item[]) => items.reduce((max, i) => (i.failedAt! > max ? i.failedAt! : max), '');
  return runs
    .map((run) => ({ run, items: run.items.filter(failedSince).sort((a, b) => b.failedAt!.localeCompare(a.failedAt!)) }))
    .filter((g) => g.items.length)
    .sort((a, b) => newest(b.items).localeCompare(newest(a.items)))
    .map(({ run, items }) => ({
      runId: run.id,
      approvedAt: run.approvedAt,
      currency: run.currency,
      items: items.map((i) => ({
        ...i,
        name: names.get(i.contributorId) ?? 'Someone no longer listed',
        why: i.failureInWords ? i.failureInWords.charAt(0).toUpperCase() + i.failureInWords.slice(1) : '',
      })),
      people: new Set(items.map((i) => i.contributorId)).size,
      redraft: drafts.find((d) => d.filters?.failedFrom === run.id) ?? null,
      idempotencyKey: formKey(),
    }));
}

/** A run is in progress while any of its items is still on its way. */
const inProgress = (run: Run) => run.status === 'approved' && run.items.some((i) => i.status === 'processing' || i.status === 'pending');

/**
 * The split chart: one bar per month, lived-experience earnings and professional earnings side by
 * side in one bar. Drawn as SVG on the server (no script, no inline styles under the CSP), with
 * the same numbers in a table for screen readers and print.
 */
function splitChart(months: MonthLine[]) {
  const max = Math.max(1, ...months.map((m) => m.livedExperienceEarned + m.professionalEarned));
  const width = 600;
  const labelWidth = 130;
  const barHeight = 22;
  const gap = 10;
  const bars = months.map((m, i) => {
    const y = i * (barHeight + gap);
    const lived = Math.round(((width - labelWidth) * m.livedExperienceEarned) / max);
    const professional = Math.round(((width - labelWidth) * m.professionalEarned) / max);
    return { y, lived, professional, month: m.month, textY: y + barHeight * 0.7 };
  });
  return { width, height: Math.max(1, months.length * (barHeight + gap)), bars, labelWidth, barHeight };
}

export async function financePages(app: FastifyInstance) {
  const names = async (request: FastifyRequest) =>
    new Map((await request.api.all<{ id: string; name: string }>('/v1/contributors')).map((c) => [c.id, c.name]));

  const homePage = async (request: FastifyRequest, reply: FastifyReply, extra: Record<string, unknown> = {}) => {
    const today = londonDate(app.now());
    const [timeToPay, recentWaits, drafts, approved, budgets, who, failed, projects, schedule, held] = await Promise.all([
      request.api.get<Record<string, unknown>>('/v1/reports/time-to-pay'),
      // The waits of work done in the last 90 days; the ageing above it is of everything owed.
      request.api.get<{ byProjectAndMethod: WaitLine[] }>(`/v1/reports/time-to-pay?from=${addDays(today, 1 - WAIT_DAYS)}&to=${today}`),
      request.api.get<{ data: Run[] }>('/v1/payout-runs?status=draft&limit=50'),
      request.api.get<{ data: Run[] }>('/v1/payout-runs?status=approved&limit=50'),
      request.api.all<Budget>('/v1/budgets'),
      names(request),
      request.api.all<Run>(`/v1/payout-runs?failedSince=${addDays(today, -FAILED_DAYS)}`),
      request.api.all<{ id: string; name: string }>('/v1/projects'),
      request.api.call<Schedule>('GET', '/v1/payout-schedule'),
      request.api.get<{ data: unknown[] }>('/v1/contributors?payoutDetailsChanged=true&limit=100'),
    ]);
    // No schedule is an answer (404), not a failure of the page.
    if (!schedule.ok && schedule.status !== 404) throw new PageError(schedule.problem);
    const projectNames = new Map(projects.map((p) => [p.id, p.name]));
    return reply.page('finance/home.njk', {
      title: 'Payments',
      timeToPay,
      waits: recentWaits.byProjectAndMethod.map((line) => waitsInWords(line, projectNames.get(line.projectId) ?? 'A project')),
      waitDays: WAIT_DAYS,
      schedule: schedule.ok ? scheduleInWords(schedule.data) : null,
      failedRuns: failedByRun(failed, addDays(today, -FAILED_DAYS), drafts.data, who),
      failedDays: FAILED_DAYS,
      drafts: drafts.data,
      running: approved.data.filter(inProgress),
      finished: approved.data.filter((r) => !inProgress(r)).slice(0, 10),
      budgets,
      names: Object.fromEntries(who),
      idempotencyKey: formKey(),
      // People whose bank details changed: their Stripe payments wait for a check.
      heldForDetails: held.data.length,
      ...extra,
    });
  };

  app.get('/finance', async (request, reply) => {
    if (!(await requireRole(request, reply, 'finance'))) return reply;
    return homePage(request, reply);
  });

  // A draft of everything owed (optionally from one budget); another finance user approves it.
  app.post<{ Body: Form }>('/finance/runs', async (request, reply) => {
    if (!(await requireRole(request, reply, 'finance'))) return reply;
    const budgetId = request.body.budgetId || undefined;
    const result = await request.api.call<Run>('POST', '/v1/payout-runs', { currency: 'GBP', ...(budgetId ? { budgetId } : {}) }, { idempotencyKey: request.body.idempotencyKey || formKey() });
    if (!result.ok) {
      return homePage(request, reply.code(result.status), { runError: result.problem.detail, errorList: [{ text: result.problem.detail, href: '#new-run' }] });
    }
    return reply.redirect(`/finance/runs/${result.data.id}`, 303);
  });

  // Pay again: a draft for just the people whose payments failed in a run (the API works out
  // who, see POST /v1/payout-runs failedFrom); a finance colleague approves it as any other.
  app.post<{ Params: { id: string }; Body: Form }>('/finance/runs/:id/pay-again', async (request, reply) => {
    if (!(await requireRole(request, reply, 'finance'))) return reply;
    const { id } = request.params;
    const result = await request.api.call<Run>(
      'POST',
      '/v1/payout-runs',
      { currency: request.body.currency || 'GBP', failedFrom: id },
      { idempotencyKey: request.body.idempotencyKey || formKey() },
    );
    if (!result.ok) {
      return homePage(request, reply.code(result.status), {
        payAgainErrors: { [id]: result.problem.detail },
        errorList: [{ text: result.problem.detail, href: `#pay-again-${id}` }],
      });
    }
    return reply.redirect(`/finance/runs/${result.data.id}?done=drafted`, 303);
  });

  const runPage = async (request: FastifyRequest, reply: FastifyReply, me: Me, id: string, extra: Record<string, unknown> = {}) => {
    const [run, who] = await Promise.all([request.api.get<Run>(`/v1/payout-runs/${encodeURIComponent(id)}`), names(request)]);
    // What earnings limits did to this run, for the warning above the approve button.
    const limits = {
      held: run.skipped.filter((x) => x.reason === 'earnings_limit'),
      carried: run.items.filter((x) => x.carriedForward > 0),
      warned: run.items.filter((x) => x.warnings.length > 0),
    };
    return reply.page('finance/run.njk', {
      limits,
      title: 'Payout run',
      run,
      ownRun: run.createdBy === me.userId,
      names: Object.fromEntries(who),
      ...extra,
    });
  };

  app.get<{ Params: { id: string }; Querystring: Form }>('/finance/runs/:id', async (request, reply) => {
    const me = await requireRole(request, reply, 'finance');
    if (!me) return reply;
    return runPage(request, reply, me, request.params.id, { notice: request.query.done });
  });

  // Approve or cancel a draft; the API refuses an approval by the run's own creator.
  app.post<{ Params: { id: string }; Body: Form }>('/finance/runs/:id/:action', async (request, reply) => {
    const me = await requireRole(request, reply, 'finance');
    if (!me) return reply;
    const { id, action } = request.params as { id: string; action: string };
    if (action !== 'approve' && action !== 'cancel') return reply.code(404).page('error.njk', { status: 404, problem: { detail: 'There is no such action.' } });
    const result = await request.api.call('POST', `/v1/payout-runs/${encodeURIComponent(id)}/${action}`);
    if (!result.ok) return runPage(request, reply.code(result.status), me, id, { actionError: result.problem.detail, errorList: [{ text: result.problem.detail, href: '#actions' }] });
    return reply.redirect(`/finance/runs/${id}?done=${action === 'approve' ? 'approved' : 'cancelled'}`, 303);
  });

  // A manual item (bank transfer, voucher) is marked paid with the bank's or voucher's reference.
  app.post<{ Params: { id: string }; Body: Form }>('/finance/payouts/:id/mark-paid', async (request, reply) => {
    const me = await requireRole(request, reply, 'finance');
    if (!me) return reply;
    const runId = request.body.runId ?? '';
    const reference = (request.body.reference ?? '').trim();
    if (!reference) {
      const text = 'Enter the payment reference from the bank transfer or voucher';
      return runPage(request, reply.code(400), me, runId, { itemErrors: { [request.params.id]: text }, errorList: [{ text, href: `#reference-${request.params.id}` }] });
    }
    const result = await request.api.call('POST', `/v1/payouts/${encodeURIComponent(request.params.id)}/mark-paid`, { reference });
    if (!result.ok) {
      return runPage(request, reply.code(result.status), me, runId, {
        itemErrors: { [request.params.id]: result.problem.detail },
        errorList: [{ text: result.problem.detail, href: `#reference-${request.params.id}` }],
      });
    }
    return reply.redirect(`/finance/runs/${runId}?done=paid`, 303);
  });

  // The grant report, of a budget or of its whole project, for all time or a reporting period.
  const csvReports = [
    { url: '/finance/report.csv', of: 'budgets', idField: 'budgetId' },
    { url: '/finance/project-report.csv', of: 'projects', idField: 'projectId' },
  ] as const;
  for (const { url, of, idField } of csvReports) {
    app.get<{ Querystring: Form }>(url, async (request, reply) => {
      if (!(await requireRole(request, reply, 'finance'))) return reply;
      const period = periodQuery(request.query);
      const csv = await request.api.download(`/v1/reports/${of}/${encodeURIComponent(request.query[idField] ?? '')}?format=csv${period && `&${period}`}`, 'text/csv');
      if (csv.disposition) reply.header('content-disposition', csv.disposition);
      return reply.type(csv.contentType).header('cache-control', 'no-store').send(csv.body);
    });
  }

  app.get<{ Querystring: Form }>('/finance/report', async (request, reply) => {
    if (!(await requireRole(request, reply, 'finance'))) return reply;
    const budgets = await request.api.all<Budget>('/v1/budgets');
    const budgetId = request.query.budgetId || budgets[0]?.id;
    const form = { from: request.query.from ?? '', to: request.query.to ?? '' };
    if (!budgetId) return reply.page('finance/report.njk', { title: 'Grant report', budgets, form });
    const period = periodQuery(request.query);
    const result = await request.api.call<{ budget: Budget; byMonth: MonthLine[]; period?: { from: string | null; to: string | null }; [k: string]: unknown }>(
      'GET',
      `/v1/reports/budgets/${encodeURIComponent(budgetId)}${period && `?${period}`}`,
    );
    if (!result.ok && result.status === 400) {
      // A date the API refuses (not a date, or `to` before `from`): said beside the field.
      const errors: Record<string, string> = {};
      for (const e of result.problem.errors ?? []) {
        const field = e.field.replace(/^querystring\./, '');
        if (field === 'from' || field === 'to') errors[field] ??= `${field === 'from' ? 'The first day' : 'The last day'} ${e.message.replace(/\bfrom\b/, 'the first day')}`;
      }
      if (!Object.keys(errors).length) errors.from = result.problem.detail;
      const errorList = Object.entries(errors).map(([field, text]) => ({ text, href: `#${field}` }));
      return reply.code(400).page('finance/report.njk', { title: 'Grant report', budgets, budgetId, form, errors, errorList });
    }
    if (!result.ok) throw new PageError(result.problem);
    const report = result.data;
    return reply.page('finance/report.njk', {
      title: `Grant report: ${report.budget.name}`,
      budgets,
      budgetId,
      form,
      period: period && `&${period}`,
      report,
      chart: splitChart(report.byMonth),
    });
  });
}
