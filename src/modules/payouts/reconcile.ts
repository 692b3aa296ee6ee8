import { and, eq, gte } from 'drizzle-orm';
import type Stripe from 'stripe';
import type { Db } from '../../db/client.js';
import type { StripeGate } from '../../lib/stripe.js';
import { payoutItems } from '../../db/schema.js';

export type MismatchKind =
  | 'transfer_without_item'
  | 'duplicate_transfers'
  | 'transfer_not_recorded'
  | 'item_transfer_missing'
  | 'amount_mismatch'
  | 'reversal_not_recorded';

export interface Mismatch {
  kind: MismatchKind;
  itemId: string | null;
  transferId: string | null;
  detail: string;
}

/**
 * Lists the Stripe transfers made since a date against the ledger's Stripe payout items and
 * reports every disagreement: transfers no item accounts for (or several for one item), items
 * whose transfer Stripe does not know, a transfer made but not yet recorded (a lost response
 * the queue has not settled), amounts that differ, and reversals the ledger has not applied.
 * It reads only; finance decides what to do.
 */
export async function reconcileStripe(db: Db, stripe: Stripe, organisationId: string, since: Date, gate: StripeGate) {
  const transfers: Stripe.Transfer[] = [];
  // Page by page through the process's Stripe gate, so a long reconciliation shares Stripe's
  // allowance with the payout jobs instead of taking it from them.
  let startingAfter: string | undefined;
  for (;;) {
    const page = await gate(() =>
      stripe.transfers.list({ created: { gte: Math.floor(since.getTime() / 1000) - 86_400 }, limit: 100, ...(startingAfter ? { starting_after: startingAfter } : {}) }),
    );
    for (const transfer of page.data) if (transfer.metadata?.organisation_id === organisationId) transfers.push(transfer);
    if (!page.has_more || !page.data.length) break;
    startingAfter = page.data[page.data.length - 1]!.id;
  }
  const items = await db
    .select()
    .from(payoutItems)
    .where(and(eq(payoutItems.organisationId, organisationId), eq(payoutItems.method, 'stripe'), gte(payoutItems.createdAt, since)));

  const mismatches: Mismatch[] = [];
  const byItem = new Map<string, Stripe.Transfer[]>();
  for (const transfer of transfers) {
    const itemId = transfer.metadata?.payout_item_id ?? '';
    byItem.set(itemId, [...(byItem.get(itemId) ?? []), transfer]);
  }
  const itemIds = new Set(items.map((i) => i.id));
  for (const [itemId, found] of byItem) {
    if (!itemIds.has(itemId)) {
      for (const t of found) {
        mismatches.push({ kind: 'transfer_without_item', itemId: itemId || null, transferId: t.id, detail: `Stripe transfer of ${t.amount} ${t.currency} names no payout item of this organisation in the period` });
      }
    } else if (found.length > 1) {
      mismatches.push({ kind: 'duplicate_transfers', itemId, transferId: found.map((t) => t.id).join(','), detail: `${found.length} transfers for one payout item` });
    }
  }
  const transfersById = new Map(transfers.map((t) => [t.id, t]));
  for (const item of items) {
    const found = byItem.get(item.id) ?? [];
    if (!item.stripeTransferId) {
      if (found.length) {
        mismatches.push({
          kind: 'transfer_not_recorded',
          itemId: item.id,
          transferId: found[0]!.id,
          detail: `Stripe made the transfer but the item is ${item.status} without it: the payout queue will record it on its next attempt`,
        });
      }
      continue;
    }
    const transfer = transfersById.get(item.stripeTransferId) ?? (await retrieve(stripe, item.stripeTransferId));
    if (!transfer) {
      mismatches.push({ kind: 'item_transfer_missing', itemId: item.id, transferId: item.stripeTransferId, detail: 'The item records a transfer Stripe does not know' });
      continue;
    }
    if (transfer.amount !== item.amount || transfer.currency.toUpperCase() !== item.currency) {
      mismatches.push({
        kind: 'amount_mismatch',
        itemId: item.id,
        transferId: transfer.id,
        detail: `Stripe: ${transfer.amount} ${transfer.currency.toUpperCase()}; ledger: ${item.amount} ${item.currency}`,
      });
    }
    if ((transfer.amount_reversed ?? 0) !== item.reversedAmount) {
      mismatches.push({
        kind: 'reversal_not_recorded',
        itemId: item.id,
        transferId: transfer.id,
        detail: `Stripe reversed ${transfer.amount_reversed}; the ledger has ${item.reversedAmount}`,
      });
    }
  }
  return { since: since.toISOString(), transfers: transfers.length, items: items.length, mismatches };
}

async function retrieve(stripe: Stripe, id: string): Promise<Stripe.Transfer | null> {
  try {
    return await stripe.transfers.retrieve(id);
  } catch (error) {
    if ((error as { code?: string }).code === 'resource_missing') return null;
    throw error;
  }
}
