import type { Db } from '../../db/client.js';

/** The daily reminders: coordinators' digest of time waiting, finance's of drafts waiting. */
export async function sendReminders(_db: Db, _now: Date): Promise<void> {
  // TODO(helper: reminders)
}
