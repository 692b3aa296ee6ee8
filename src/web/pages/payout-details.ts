import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CHANGE_EMAIL_QUIET_MS } from '../../modules/stripe/payout-details.js';
import { requireRole } from '../session.js';

interface HeldContributor {
  id: string;
  name: string;
  paymentMethod: string;
  payoutDetailsChangedAt: string | null;
}
interface Balance {
  balances: { currency: string; owed: number }[];
}
interface AuditEvent {
  action: string;
  after: { payoutDetailsChangedAt?: string } | null;
  createdAt: string;
}

/** What finance sees of one held person: who, since when, what waits, and every change reported since. */
async function heldPerson(request: FastifyRequest, person: HeldContributor) {
  const [balance, audit] = await Promise.all([
    request.api.get<Balance>(`/v1/contributors/${person.id}/balance`),
    request.api.get<{ data: AuditEvent[] }>(`/v1/audit-events?entityType=contributor&entityId=${person.id}&limit=200`),
  ]);
  const since = person.payoutDetailsChangedAt ?? '';
  // A second change while the first waits is what a diverted account looks like, so finance
  // sees how many there were. Each event of this hold names it; Stripe reports one edit as
  // several events within moments, so events close together count as one change.
  const times = audit.data
    .filter((e) => e.action === 'contributor.payout_details_changed' && e.after?.payoutDetailsChangedAt === since)
    .map((e) => Date.parse(e.createdAt))
    .sort((a, b) => a - b);
  const changes = times.filter((time, i) => i === 0 || time - times[i - 1]! > CHANGE_EMAIL_QUIET_MS).length;
  return { ...person, owed: balance.balances.filter((b) => b.owed > 0), changes: Math.max(1, changes) };
}

/**
 * Finance's list of the people whose payout details changed (the payment-diversion defence):
 * their Stripe payments wait until someone in finance has checked the change with them and
 * confirms it here. Confirming goes through the API, which audits who confirmed.
 */
export async function payoutDetailsPages(app: FastifyInstance) {
  const listPage = async (request: FastifyRequest, reply: FastifyReply, extra: Record<string, unknown> = {}) => {
    const held = await request.api.all<HeldContributor>('/v1/contributors?payoutDetailsChanged=true');
    const people = await Promise.all(held.map((person) => heldPerson(request, person)));
    people.sort((a, b) => (a.payoutDetailsChangedAt ?? '').localeCompare(b.payoutDetailsChangedAt ?? ''));
    return reply.page('finance/payout-details.njk', { title: 'Payout details changed', people, ...extra });
  };

  app.get<{ Querystring: { confirmed?: string } }>('/finance/payout-details', async (request, reply) => {
    if (!(await requireRole(request, reply, 'finance'))) return reply;
    return listPage(request, reply, { confirmed: request.query.confirmed === '1' });
  });

  app.post<{ Params: { id: string } }>('/finance/payout-details/:id/confirm', async (request, reply) => {
    if (!(await requireRole(request, reply, 'finance'))) return reply;
    const { id } = request.params;
    const result = await request.api.call('POST', `/v1/contributors/${encodeURIComponent(id)}/confirm-payout-details`);
    if (!result.ok) {
      const text = result.problem.detail;
      return listPage(request, reply.code(result.status), { rowErrors: { [id]: text }, errorList: [{ text, href: `#confirm-${id}` }] });
    }
    return reply.redirect('/finance/payout-details?confirmed=1', 303);
  });
}
