/** Formatting for pages: plain English, pounds and pence, dates as people write them. */
import { addDays, isIsoDate, limitPeriod, ukTaxYear } from '../domain/earnings-period.js';
import { londonDate } from '../domain/uk-time.js';

const symbols: Record<string, string> = { GBP: '£', EUR: '€', USD: '$' };

/** 2500 GBP → "£25.00". Minor units stay integers until this point. */
export function money(amount: number, currency = 'GBP'): string {
  const sign = amount < 0 ? '-' : '';
  const abs = Math.abs(amount);
  const whole = Math.floor(abs / 100).toLocaleString('en-GB');
  const pence = String(abs % 100).padStart(2, '0');
  const symbol = symbols[currency];
  return symbol ? `${sign}${symbol}${whole}.${pence}` : `${sign}${whole}.${pence} ${currency}`;
}

const months = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** "2026-11-05" → "5 November 2026"; an ISO time is shown by its date in the UK. */
export function date(value: string | null | undefined): string {
  if (!value) return '';
  const day = value.length > 10 ? londonDate(new Date(value)) : value;
  const [y, m, d] = day.split('-').map(Number);
  return `${d} ${months[m! - 1]} ${y}`;
}

/** "2026-11" → "November 2026". */
export function month(value: string): string {
  const [y, m] = value.split('-').map(Number);
  return `${months[m! - 1]} ${y}`;
}

/** 90 → "1 hour 30 minutes". */
export function duration(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  const parts = [];
  if (h) parts.push(`${h} ${h === 1 ? 'hour' : 'hours'}`);
  if (m || !h) parts.push(`${m} ${m === 1 ? 'minute' : 'minutes'}`);
  return parts.join(' ');
}

export const activityLabels: Record<string, string> = {
  meeting: 'Meeting',
  workshop: 'Workshop',
  interview: 'Interview',
  reading: 'Reading and preparation',
  training: 'Training',
  other: 'Other',
};

export const kindLabels: Record<string, string> = {
  lived_experience: 'Lived experience',
  carer: 'Carer',
  professional: 'Professional',
};

export const methodLabels: Record<string, string> = {
  stripe: 'Paid to your bank through Stripe',
  bank_transfer: 'Bank transfer',
  voucher: 'Voucher',
  declined: 'Not paid (declined)',
};

/** Status words and the GOV.UK tag colour that goes with each. */
export const statusTags: Record<string, { text: string; classes: string }> = {
  submitted: { text: 'Waiting for approval', classes: 'govuk-tag--yellow' },
  approved: { text: 'Approved', classes: 'govuk-tag--green' },
  rejected: { text: 'Not approved', classes: 'govuk-tag--red' },
  reversed: { text: 'Cancelled', classes: 'govuk-tag--grey' },
  draft: { text: 'Draft', classes: 'govuk-tag--grey' },
  canceled: { text: 'Cancelled', classes: 'govuk-tag--grey' },
  pending: { text: 'Pending', classes: 'govuk-tag--grey' },
  processing: { text: 'On its way', classes: 'govuk-tag--blue' },
  paid: { text: 'Paid', classes: 'govuk-tag--green' },
  failed: { text: 'Failed', classes: 'govuk-tag--red' },
};

/** The UK tax year (6 April to 5 April) that contains a date, by its starting year. */
export const taxYearOf = (isoDate: string): number => Number(ukTaxYear(isoDate).start.slice(0, 4));

/** Monday of the week that contains a date. */
export const mondayOf = (isoDate: string): string => limitPeriod({ period: 'week', periodStartDay: 1 }, isoDate).start;

export { addDays, isIsoDate };
