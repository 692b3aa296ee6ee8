import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../../db/client.js';

/**
 * Drafts, for every organisation whose payout schedule has a slot due at or before `now` that
 * was not yet handled, the runs of everything owed (creator `system`), once per slot.
 * Returns the ids of the runs drafted.
 */
export async function runDueSchedules(_db: Db, _now: Date, _log?: FastifyBaseLogger): Promise<string[]> {
  return []; // TODO(helper: payout schedule)
}
