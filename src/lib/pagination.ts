import { z } from 'zod';
import { AppError } from '../errors.js';
import { isUuid } from './ids.js';

/** `?limit=` (default 50, max 200) and `?cursor=`: the API's list convention. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
};

export const pageOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), nextCursor: z.string().nullable() });

/**
 * Cursors are the base64url of the last id returned; ids are UUIDv7, so `id > cursor` pages in
 * creation order. The cursor is opaque to clients.
 */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isUuid(id)) {
    throw new AppError('validation_failed', 'The cursor is not valid', {
      errors: [{ field: 'querystring.cursor', message: 'not a cursor returned by this list' }],
    });
  }
  return id;
}

/** Given up to limit+1 rows ordered by id, returns the page and the cursor of the next one. */
export function toPage<T extends { id: string }>(rows: T[], limit: number): { data: T[]; nextCursor: string | null } {
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  return { data, nextCursor: rows.length > limit && last ? Buffer.from(last.id, 'utf8').toString('base64url') : null };
}
