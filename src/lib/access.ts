import type { Principal } from '../domain/actor.js';
import { AppError, notFound } from '../errors.js';

/**
 * A participant sees only their own contributor. Anyone else's id answers 404, exactly as an id
 * that does not exist, so a participant cannot learn who else is on the books.
 */
export function assertCanSeeContributor(principal: Principal, contributorId: string): void {
  if (principal.role === 'participant' && principal.contributorId !== contributorId) throw notFound('The contributor');
}

/** The contributor a participant acts as. Errors: forbidden when the token has none. */
export function ownContributorId(principal: Principal): string {
  if (!principal.contributorId) throw new AppError('forbidden', 'This user is not linked to a contributor.');
  return principal.contributorId;
}
