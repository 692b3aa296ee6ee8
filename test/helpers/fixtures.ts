import type { FastifyInstance } from 'fastify';
import type { TestOrg } from './app.js';
import { json } from './app.js';
import { involvementRates } from './rate-cards.js';

/** POSTs `payload` to `url` as `headers` and returns the body; anything but 201 Created throws, with the body. */
export async function created(app: FastifyInstance, headers: Record<string, string>, url: string, payload: object) {
  const res = await app.inject({ method: 'POST', url, headers, payload });
  if (res.statusCode !== 201) throw new Error(`${url} → ${res.statusCode}: ${res.body}`);
  return json(res);
}

/**
 * A funded organisation ready for work: a project, a rate card (£20/hour for lived experience
 * and carers, an in-kind £30/hour for professionals, per-session workshops) and a budget.
 */
export async function fundedBudget(app: FastifyInstance, org: TestOrg, options: { amount?: number; allowOverspend?: boolean } = {}) {
  const finance = await org.as('finance');
  const post = (url: string, payload: object) => created(app, finance, url, payload);
  const project = await post('/v1/projects', { name: 'Community mental health co-production' });
  const card = await post('/v1/rate-cards', { name: 'Involvement payments', currency: 'GBP' });
  await post(`/v1/rate-cards/${card.id}/versions`, {
    effectiveFrom: '2026-01-01',
    rates: involvementRates,
  });
  const budget = await post('/v1/budgets', {
    projectId: project.id,
    name: 'Lived experience panel',
    funder: 'National Lottery Community Fund',
    grantReference: 'NLCF-2026-001',
    currency: 'GBP',
    amount: options.amount ?? 1_000_000,
    startsOn: '2026-01-01',
    endsOn: '2026-12-31',
    rateCardId: card.id,
    allowOverspend: options.allowOverspend ?? false,
  });
  return { finance, projectId: project.id as string, rateCardId: card.id as string, budgetId: budget.id as string };
}

/** Adds a contributor over the API as `headers` (a coordinator, say); returns the response body, unchecked. */
export async function addContributor(app: FastifyInstance, headers: Record<string, string>, payload: object) {
  return json(await app.inject({ method: 'POST', url: '/v1/contributors', headers, payload }));
}

/**
 * In a new funded budget of `org`: a contributor added by a coordinator and one time entry of
 * theirs (a meeting of `minutes` on 2 March 2026), submitted and not yet approved.
 */
export async function submittedEntry(app: FastifyInstance, org: TestOrg, contributor: object, minutes: number) {
  const { budgetId } = await fundedBudget(app, org);
  const coordinator = await org.as('coordinator');
  const person = await addContributor(app, coordinator, contributor);
  const entry = json(
    await app.inject({
      method: 'POST',
      url: '/v1/time-entries',
      headers: coordinator,
      payload: { contributorId: person.id, budgetId, activity: 'meeting', date: '2026-03-02', minutes },
    }),
  );
  return { budgetId, coordinator, person, entry };
}

/** A contributor with approved time worth `hours` × £20, so they are owed money. */
export async function owedContributor(
  app: FastifyInstance,
  org: TestOrg,
  budgetId: string,
  options: { paymentMethod?: string; hours?: number; name?: string } = {},
) {
  const coordinator = await org.as('coordinator');
  const contributor = await addContributor(app, coordinator, {
    name: options.name ?? 'Alex',
    kind: 'lived_experience',
    paymentMethod: options.paymentMethod ?? 'bank_transfer',
  });
  const entry = json(
    await app.inject({
      method: 'POST',
      url: '/v1/time-entries',
      headers: coordinator,
      payload: { contributorId: contributor.id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: (options.hours ?? 2) * 60 },
    }),
  );
  const approved = await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator });
  if (approved.statusCode !== 200) throw new Error(`approve → ${approved.statusCode}: ${approved.body}`);
  return { contributorId: contributor.id as string, entryId: entry.id as string };
}
