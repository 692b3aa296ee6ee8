import { participantNotificationKinds, type NotificationKind, type Role } from '../../domain/enums.js';
import { date, money } from '../../web/format.js';

/**
 * What each kind of email says. Written like the pages: plain English, short sentences, what
 * happened and what to do next. Subjects carry no amounts and no names (a subject shows on a
 * lock screen and in a shared inbox); bodies say amounts and dates but never name anyone, and
 * are rendered when sent from the ids and figures stored with the message.
 */
export interface Message {
  subject: string;
  /** Paragraphs of the body, in order; the link and the footer are added around them. */
  paragraphs: string[];
  /** What the link to the page says. */
  action: string;
}

type Data = Record<string, unknown>;
const amount = (d: Data, field = 'amount') => money(Number(d[field] ?? 0), String(d.currency ?? 'GBP'));
const day = (d: Data, field: string) => date(String(d[field] ?? ''));
const count = (n: unknown, one: string, many: string) => `${Number(n)} ${Number(n) === 1 ? one : many}`;

const templates: Record<NotificationKind, (d: Data) => Message> = {
  time_approved: (d) => ({
    subject: 'Your time has been approved',
    paragraphs: [
      `Time you gave on ${day(d, 'workDate')} has been approved. You are owed ${amount(d)} for it.`,
      'It will be paid in the next payment run. You do not need to do anything.',
    ],
    action: 'See what you are owed',
  }),
  payment_sent: (d) => ({
    subject: 'A payment is on its way to you',
    paragraphs: [
      `We have paid you ${amount(d)} on ${day(d, 'paymentDate')}.`,
      d.method === 'stripe'
        ? 'It usually reaches your bank account within 2 working days.'
        : d.method === 'voucher'
          ? 'Your voucher will reach you in the way you agreed with your coordinator.'
          : 'It usually reaches your bank account within 2 working days.',
      'Your statement shows this payment by the date it was paid, which is the date that counts for benefits and tax.',
    ],
    action: 'See your statement',
  }),
  payment_failed: (d) => ({
    subject: 'A payment to you did not go through',
    paragraphs: [
      `A payment of ${amount(d)} could not be made.${d.reason ? ` The reason given was: ${String(d.reason)}.` : ''}`,
      'The money is still yours: it is back in what you are owed and will be paid again.',
      'Please check that your payment details are right. If you are not sure what to do, ask your coordinator.',
    ],
    action: 'Check how you are paid',
  }),
  payment_held_earnings_limit: (d) => ({
    subject: 'Some of your money is being kept for you',
    paragraphs: [
      `${amount(d)} you are owed has been kept back so that you stay within the earnings limit you agreed, which protects your benefits.`,
      d.payableFrom
        ? `It is still yours and can be paid from ${day(d, 'payableFrom')}.`
        : 'It is still yours and will be paid in a later period.',
    ],
    action: 'See what you are owed',
  }),
  limit_nearly_reached: (d) => ({
    subject: 'You are close to your earnings limit',
    paragraphs: [
      `You have been paid ${amount(d, 'counted')} of your ${amount(d, 'limit')} limit for the period ending ${day(d, 'periodEnd')}.`,
      d.policy === 'warn'
        ? 'Anything more will still be paid, and may count against your benefits. If you are not sure what that means for you, ask your coordinator.'
        : 'Anything over the limit will be kept for you and paid in a later period, so your benefits are protected.',
    ],
    action: 'See what you are owed',
  }),
  payout_setup_started: () => ({
    subject: 'A payout account is being set up for you',
    paragraphs: [
      'Someone at the organisation that pays you has started setting up an account so payments can go straight to your bank.',
      'If you asked for this, you do not need to do anything. If you did not, please tell your coordinator or the finance team straight away.',
    ],
    action: 'Check how you are paid',
  }),
  payout_details_changed: (d) =>
    d.audience === 'finance'
      ? {
          subject: 'Payout details changed: payments held',
          paragraphs: [
            "The bank details on a participant's payout account have changed.",
            'Their next payment is held until someone in finance checks the change with them and confirms it. This protects against someone else redirecting their money.',
          ],
          action: 'Check the change',
        }
      : {
          subject: 'The bank details for your payments changed',
          paragraphs: [
            'The bank account or card your payments go to has been changed.',
            'To keep your money safe, your next payment will wait until the finance team has checked the change with you.',
            'If you did not make this change, tell your coordinator or the finance team straight away.',
          ],
          action: 'Check how you are paid',
        },
  run_awaiting_approval: (d) => ({
    subject: d.reminder ? 'Reminder: a payment run is still waiting' : 'A payment run is waiting for approval',
    paragraphs: [
      `A payment run of ${amount(d, 'total')} to ${count(d.items, 'person', 'people')} ${d.scheduled ? 'was drafted on schedule' : 'was drafted'} and is waiting for someone in finance to approve it.`,
      'People are paid only once it is approved. Anyone in finance who did not draft it can approve it.',
    ],
    action: 'Review the run',
  }),
  payments_failed: (d) => ({
    subject: 'Some payments did not go through',
    paragraphs: [
      `${count(d.count, 'payment', 'payments')} of ${amount(d, 'total')} failed. The money is back in what those people are owed.`,
      'You can pay them again from the payments page once the cause is fixed.',
    ],
    action: 'See failed payments',
  }),
  password_reset: (d) => ({
    subject: 'Choose a new password',
    paragraphs: [
      'Your password for the payments service has been reset by an admin of your organisation. Use the link below to choose a new one.',
      `The link works once, until ${String(d.expiresAtInWords ?? 'tomorrow')}. Until you choose a new password, you cannot sign in.`,
      'If you did not expect this, tell your coordinator or the finance team.',
    ],
    action: 'Choose a new password',
  }),
  time_awaiting_approval: (d) => ({
    subject: 'Time is waiting for your approval',
    paragraphs: [
      `${count(d.count, 'entry', 'entries')} of time ${Number(d.count) === 1 ? 'has' : 'have'} been waiting more than ${count(d.days, 'day', 'days')} for approval.`,
      'People are paid only once their time is approved.',
    ],
    action: 'Review time',
  }),
};

/** What each kind is, in a line, for the choices on the account page. */
export const kindLabels: Record<NotificationKind, string> = {
  time_approved: 'When time you gave is approved',
  payment_sent: 'When a payment is on its way to you',
  payment_failed: 'When a payment to you did not go through',
  payment_held_earnings_limit: 'When money is kept back so you stay within your earnings limit',
  limit_nearly_reached: 'When you are close to your earnings limit',
  payout_setup_started: 'When someone starts setting up a payout account for you',
  payout_details_changed: 'When the bank details that payments go to are changed',
  run_awaiting_approval: 'When a payment run is waiting for approval',
  payments_failed: 'When payments did not go through',
  time_awaiting_approval: 'A daily reminder when time has been waiting for approval',
  password_reset: 'When your password is reset',
};

/** The kinds each role is sent (outbox callers pick recipients by these roles). */
const staffKinds: Record<Role, NotificationKind[]> = {
  participant: [],
  finance: ['run_awaiting_approval', 'payments_failed', 'payout_details_changed'],
  coordinator: ['time_awaiting_approval'],
  // Admins run the service; the emails about payments and time go to finance and coordinators.
  admin: [],
  reporter: [],
};

/**
 * The kinds that can reach a user: those of their role, and a paid person's own when they are
 * linked to a contributor (a participant, or a member of staff who is also paid).
 */
export function kindsFor(role: Role, linkedToContributor: boolean): NotificationKind[] {
  const kinds = [...staffKinds[role], ...(role === 'participant' || linkedToContributor ? participantNotificationKinds : [])];
  return [...new Set(kinds)];
}

export function messageFor(kind: NotificationKind, data: Data): Message {
  return templates[kind](data);
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The email as sent: subject, plain text and HTML, with the page link and how to turn the kind off. */
export function renderEmail(kind: NotificationKind, data: Data, link: string, baseUrl: string, forUser: boolean) {
  const message = messageFor(kind, data);
  const url = new URL(link, baseUrl).toString();
  const preferences = new URL('/account#notifications', baseUrl).toString();
  const footer = forUser
    ? `You can choose which emails you get on your account page: ${preferences}`
    : 'You get these emails because you are paid by this organisation. To stop them, ask your coordinator.';
  const text = [...message.paragraphs, `${message.action}: ${url}`, '--', footer].join('\n\n') + '\n';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(message.subject)}</title></head>
<body style="font-family: Arial, sans-serif; font-size: 19px; line-height: 1.4; color: #0b0c0c; max-width: 640px">
${message.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
<p><a href="${escapeHtml(url)}" style="color: #1d70b8">${escapeHtml(message.action)}</a></p>
<hr>
<p style="font-size: 16px; color: #505a5f">${
    forUser
      ? `You can choose which emails you get on <a href="${escapeHtml(preferences)}" style="color: #1d70b8">your account page</a>.`
      : escapeHtml(footer)
  }</p>
</body></html>
`;
  return { subject: message.subject, text, html };
}
