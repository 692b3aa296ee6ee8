/**
 * Fixtures made through the services, without HTTP, for tests that drive the services directly
 * (the CLI's database, property tests). test/helpers/fixtures.ts makes the same over the API.
 */
import type { Db } from '../../src/db/client.js';
import type { Actor, Principal } from '../../src/domain/actor.js';
import { createBudget } from '../../src/modules/budgets/service.js';
import { createContributor } from '../../src/modules/contributors/service.js';
import { createProject } from '../../src/modules/projects/service.js';
import { addRateCardVersion, createRateCard } from '../../src/modules/rate-cards/service.js';

/** A coordinator's principal in the organisation, acting without a user (as the CLI and jobs do). */
export const coordinatorOf = (organisationId: string): Principal => ({ organisationId, role: 'coordinator', userId: null, apiTokenId: null, contributorId: null });

/**
 * A budget of `amount` pence over `startsOn`…`endsOn`, priced by a rate card paying carers
 * £20 an hour for meetings from `startsOn`, and a carer paid by voucher to record work against it.
 */
export async function carerAndBudget(db: Db, organisationId: string, actor: Actor, budget: { amount: number; startsOn: string; endsOn: string }, now: Date) {
  const project = await createProject(db, organisationId, actor, { name: 'Panel' });
  const card = await createRateCard(db, organisationId, actor, { name: 'Rates', currency: 'GBP' });
  await addRateCardVersion(db, organisationId, actor, card.id, {
    effectiveFrom: budget.startsOn,
    rates: [{ activity: 'meeting', contributorKind: 'carer', unit: 'hour', amount: 2_000 }],
  });
  const { id: budgetId } = await createBudget(db, organisationId, actor, {
    projectId: project.id, name: 'Grant', funder: 'Funder', grantReference: 'G-1', currency: 'GBP', rateCardId: card.id, ...budget,
  });
  const person = await createContributor(db, organisationId, actor, { name: 'Someone', kind: 'carer', paymentMethod: 'voucher' }, now);
  return { budgetId, contributorId: person.id };
}
