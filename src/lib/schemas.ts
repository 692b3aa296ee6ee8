import { z } from 'zod';
import { roles } from '../domain/enums.js';

/** Shared request and response building blocks, so every route validates money and dates alike. */

/** A non-negative amount in integer minor units (pence), within JavaScript's safe integers. */
export const amount = z
  .number()
  .int('must be a whole number of minor units (pence)')
  .min(0, 'must not be negative')
  .max(Number.MAX_SAFE_INTEGER, 'is too large');
export const positiveAmount = amount.min(1, 'must be more than zero');
/** A signed amount (adjustments), non-zero. */
export const signedAmount = z
  .number()
  .int('must be a whole number of minor units (pence)')
  .min(-Number.MAX_SAFE_INTEGER, 'is too large')
  .max(Number.MAX_SAFE_INTEGER, 'is too large')
  .refine((v) => v !== 0, 'must not be zero');

export const currency = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code in upper case, such as GBP');

/** A calendar date `YYYY-MM-DD` that exists (no 30 February), between 1900 and 2999. */
export const isoDate = z.iso.date('must be a real date written YYYY-MM-DD').refine((s) => {
  const year = Number(s.slice(0, 4));
  return year >= 1900 && year <= 2999;
}, 'must be between 1900 and 2999');

export const id = z.string().min(1).max(100);
export const idParams = z.strictObject({ id });

export const email = z.email().max(320);
export const nonEmpty = (max = 200) => z.string().trim().min(1, 'must not be empty').max(max);

export const timestamp = z.iso.datetime();

export const roleEnum = z.enum(roles);

/** A new password: long enough to resist guessing, short enough to hash quickly. */
export const password = z.string().min(12, 'must be at least 12 characters').max(200);

/** The longest date range a report or statement covers: their totals walk every period in it. */
export const MAX_RANGE_YEARS = 10;

/**
 * Whether `to` is less than MAX_RANGE_YEARS after `from` (dates as YYYY-MM-DD). Compared as
 * text, so 29 February plus ten years (no such day) still orders correctly.
 */
export function withinMaxRange(from: string, to: string): boolean {
  return to < `${String(Number(from.slice(0, 4)) + MAX_RANGE_YEARS).padStart(4, '0')}${from.slice(4)}`;
}
