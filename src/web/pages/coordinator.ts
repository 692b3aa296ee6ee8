import { londonDate } from '../../domain/uk-time.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Problem } from '../api.js';
import { activityLabels, addDays, isIsoDate, mondayOf } from '../format.js';
import { fieldErrors, formKey } from '../forms.js';
import { requireRole } from '../session.js';

interface Budget {
  id: string;
  name: string;
  startsOn: string;
  endsOn: string;
  currency: string;
  available: number;
}
interface Contributor {
  id: string;
  name: string;
  kind: string;
  paymentMethod: string;
}
interface Entry {
  id: string;
  contributorId: string;
  budgetId: string;
  date: string;
  activity: string;
  minutes: number;
  amount: number;
  currency: string;
  status: string;
  quote: { amount: number; explanation: string[]; warnings: string[] };
}

type Form = Record<string, string | string[] | undefined>;

/** Form fields arrive as one string or, for repeated checkboxes, a list. */
const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const one = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? '')).trim();

interface SessionForm {
  budgetId: string;
  activity: string;
  day: string;
  month: string;
  year: string;
  hours: string;
  minutes: string;
  note: string;
  attendees: string[];
}

function readSessionForm(body: Form): SessionForm {
  return {
    budgetId: one(body.budgetId),
    activity: one(body.activity),
    day: one(body.day),
    month: one(body.month),
    year: one(body.year),
    hours: one(body.hours),
    minutes: one(body.minutes),
    note: one(body.note),
    attendees: list(body.attendees),
  };
}

/**
 * Checks only what the API cannot be asked about a half-filled form (is the date a date, are the
 * hours a number) and turns it into the API's request; the API decides everything else.
 */
function toSessionRequest(form: SessionForm): { request?: Record<string, unknown>; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  if (!form.budgetId) errors.budgetId = 'Choose the budget that pays for this session';
  if (!form.activity) errors.activity = 'Choose what kind of session it was';
  const [d, m, y] = [form.day, form.month, form.year].map((v) => (/^\d{1,4}$/.test(v) ? Number(v) : NaN));
  const date = `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
  const valid = !Number.isNaN(d! + m! + y!) && y! > 1999 && isIsoDate(date);
  if (!valid) errors.date = 'Enter the date of the session, for example 27 3 2026';
  const hours = form.hours === '' ? 0 : /^\d{1,2}$/.test(form.hours) ? Number(form.hours) : NaN;
  const minutes = form.minutes === '' ? 0 : /^\d{1,2}$/.test(form.minutes) ? Number(form.minutes) : NaN;
  const total = hours * 60 + minutes;
  if (Number.isNaN(total) || total < 1 || minutes > 59) errors.length = 'Enter how long the session lasted, in hours and minutes';
  if (!form.attendees.length) errors.attendees = 'Tick everyone who attended';
  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    request: {
      budgetId: form.budgetId,
      activity: form.activity,
      date,
      minutes: total,
      ...(form.note ? { note: form.note } : {}),
      attendees: form.attendees,
    },
  };
}

/** API field names → this form's fields, so API errors land by the right question. */
const apiFields = { date: 'date', minutes: 'length', attendees: 'attendees', budgetId: 'budgetId', activity: 'activity', note: 'note' };

function problemErrors(problem: Problem): Record<string, string> {
  if (problem.code === 'validation_failed') {
    const errors = fieldErrors(problem, apiFields);
    if (Object.keys(errors).length) return Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, `${k === 'length' ? 'The length' : 'This'} ${v}`]));
  }
  if (problem.code === 'outside_budget_period') return { date: problem.detail };
  return { form: problem.detail };
}

const errorList = (errors: Record<string, string>) =>
  Object.entries(errors).map(([field, text]) => ({ text, href: field === 'form' ? '#main-content' : field === 'date' ? '#date-day' : field === 'length' ? '#hours' : field === 'attendees' ? '#attendees' : `#${field}` }));

export async function coordinatorPages(app: FastifyInstance) {
  const registerPage = async (request: FastifyRequest, reply: FastifyReply, form: Partial<SessionForm>, errors: Record<string, string> = {}) => {
    const [budgets, contributors] = await Promise.all([
      request.api.all<Budget>('/v1/budgets'),
      request.api.all<Contributor>('/v1/contributors'),
    ]);
    contributors.sort((a, b) => a.name.localeCompare(b.name));
    return reply.page('coordinator/register.njk', {
      title: 'Session register',
      budgets,
      contributors,
      activities: activityLabels,
      form: { attendees: [], ...form },
      errors,
      errorList: errorList(errors),
    });
  };

  app.get('/register', async (request, reply) => {
    if (!(await requireRole(request, reply, 'coordinator'))) return reply;
    const today = londonDate(app.now());
    const [year, month, day] = today.split('-');
    return registerPage(request, reply, { day: String(Number(day)), month: String(Number(month)), year });
  });

  // Step 1: the quotes each attendee would get, before anything is saved.
  app.post<{ Body: Form }>('/register/check', async (request, reply) => {
    if (!(await requireRole(request, reply, 'coordinator'))) return reply;
    const form = readSessionForm(request.body);
    const { request: session, errors } = toSessionRequest(form);
    if (!session) return registerPage(request, reply.code(400), form, errors);
    const quote = await request.api.call<{ currency: string; total: number; entries: { contributorId: string; quote: Entry['quote'] & { currency: string } }[] }>(
      'POST',
      '/v1/sessions/quote',
      session,
    );
    if (!quote.ok) return registerPage(request, reply.code(quote.status), form, problemErrors(quote.problem));
    const [contributors, budget] = await Promise.all([
      request.api.all<Contributor>('/v1/contributors'),
      request.api.get<Budget>(`/v1/budgets/${session.budgetId}`),
    ]);
    const names = new Map(contributors.map((c) => [c.id, c]));
    return reply.page('coordinator/check.njk', {
      title: 'Check the session before saving',
      session,
      budget,
      form,
      quote: quote.data,
      rows: quote.data.entries.map((e) => ({ ...e, contributor: names.get(e.contributorId) })),
      idempotencyKey: formKey(),
    });
  });

  // Back from the check to the form, with everything as it was entered.
  app.post<{ Body: Form }>('/register/change', async (request, reply) => {
    if (!(await requireRole(request, reply, 'coordinator'))) return reply;
    return registerPage(request, reply, readSessionForm(request.body));
  });

  // Step 2: save, all or nothing. The form's key makes a double submit or a retry record once.
  app.post<{ Body: Form }>('/register/save', async (request, reply) => {
    if (!(await requireRole(request, reply, 'coordinator'))) return reply;
    const form = readSessionForm(request.body);
    const { request: session, errors } = toSessionRequest(form);
    if (!session) return registerPage(request, reply.code(400), form, errors);
    const key = one(request.body.idempotencyKey) || formKey();
    const saved = await request.api.call<{ id: string; entries: Entry[] }>('POST', '/v1/sessions', session, { idempotencyKey: key });
    if (!saved.ok) return registerPage(request, reply.code(saved.status), form, problemErrors(saved.problem));
    return reply.redirect(`/register/${saved.data.id}?entries=${saved.data.entries.length}`, 303);
  });

  app.get<{ Params: { id: string }; Querystring: { entries?: string } }>('/register/:id', async (request, reply) => {
    if (!(await requireRole(request, reply, 'coordinator'))) return reply;
    return reply.page('coordinator/recorded.njk', { title: 'Session recorded', count: Number(request.query.entries) || 0 });
  });

  const approvalsPage = async (request: FastifyRequest, reply: FastifyReply, week: string, extra: Record<string, unknown> = {}) => {
    const monday = mondayOf(week);
    const sunday = addDays(monday, 6);
    const [entries, contributors, budgets] = await Promise.all([
      request.api.all<Entry>(`/v1/time-entries?status=submitted&from=${monday}&to=${sunday}`),
      request.api.all<Contributor>('/v1/contributors'),
      request.api.all<Budget>('/v1/budgets'),
    ]);
    const names = new Map(contributors.map((c) => [c.id, c.name]));
    const budgetNames = new Map(budgets.map((b) => [b.id, b.name]));
    const rows = entries
      .map((e) => ({ ...e, name: names.get(e.contributorId) ?? 'Unknown', budget: budgetNames.get(e.budgetId) ?? '' }))
      .sort((a, b) => a.date.localeCompare(b.date) || a.name.localeCompare(b.name));
    return reply.page('coordinator/approvals.njk', {
      title: 'Approve the week’s time',
      monday,
      sunday,
      previous: addDays(monday, -7),
      next: addDays(monday, 7),
      rows,
      total: rows.reduce((s, r) => s + r.amount, 0),
      ...extra,
    });
  };

  app.get<{ Querystring: { week?: string } }>('/approvals', async (request, reply) => {
    if (!(await requireRole(request, reply, 'coordinator'))) return reply;
    const today = londonDate(app.now());
    const week = /^\d{4}-\d{2}-\d{2}$/.test(request.query.week ?? '') && !Number.isNaN(Date.parse(request.query.week!)) ? request.query.week! : today;
    return approvalsPage(request, reply, week);
  });

  // Bulk decisions: one API call per ticked entry, each its own decision; the page reports every
  // outcome, so one entry the API refuses (a self-approval, an exhausted budget) stops no other.
  app.post<{ Body: Form }>('/approvals', async (request, reply) => {
    if (!(await requireRole(request, reply, 'coordinator'))) return reply;
    const week = one(request.body.week);
    const action = one(request.body.action);
    const ids = list(request.body.entries);
    const reason = one(request.body.reason);
    const errors: Record<string, string> = {};
    if (!ids.length) errors.entries = 'Tick the entries to approve or reject';
    if (action === 'reject' && !reason) errors.reason = 'Say why the time is not approved; the participant will see it';
    if (action !== 'approve' && action !== 'reject') errors.entries = 'Choose approve or reject';
    if (Object.keys(errors).length) {
      return approvalsPage(request, reply.code(400), week, {
        errors,
        ticked: ids,
        reason,
      });
    }
    const outcomes = [];
    for (const id of ids) {
      const result = await request.api.call<Entry>('POST', `/v1/time-entries/${encodeURIComponent(id)}/${action}`, action === 'reject' ? { reason } : undefined);
      outcomes.push({ id, ok: result.ok, detail: result.ok ? null : result.problem.detail });
    }
    const done = outcomes.filter((o) => o.ok).length;
    const failed = outcomes.filter((o) => !o.ok);
    return approvalsPage(request, reply, week, { done, failed, action });
  });
}
