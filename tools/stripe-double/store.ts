/**
 * The double's in-memory Stripe: connected accounts, transfers and their reversals, and the platform
 * balance, with the operations on them. No HTTP here: endpoints (routes.ts) read the parameters and call
 * these; tests reach the same operations through the StripeDouble object.
 */
import { invalid, validation } from './errors.js';
import { nowSeconds, randomId } from './ids.js';

export type Metadata = Record<string, string>;
export type CapabilityStatus = 'active' | 'inactive' | 'pending';

export interface DoubleAccount {
  id: string;
  object: 'account';
  type: string;
  country: string;
  email: string | null;
  business_type: string | null;
  capabilities: Record<string, CapabilityStatus>;
  charges_enabled: boolean;
  payouts_enabled: boolean;
  details_submitted: boolean;
  default_currency: string;
  created: number;
  metadata: Metadata;
  requirements: { currently_due: string[]; eventually_due: string[]; past_due: string[]; disabled_reason: string | null };
  /** Where the account's balance is paid out: bank accounts (Stripe lists them on Express and Custom accounts). */
  external_accounts: { object: 'list'; data: DoubleBankAccount[]; has_more: false; total_count: number; url: string };
}

/** A connected account's bank account (an "external account"), as Stripe shows it to the platform. */
export interface DoubleBankAccount {
  id: string;
  object: 'bank_account';
  account: string;
  account_holder_name: string | null;
  account_holder_type: 'individual';
  bank_name: string;
  country: string;
  currency: string;
  default_for_currency: boolean;
  fingerprint: string;
  last4: string;
  metadata: Metadata;
  routing_number: string;
  status: 'new' | 'validated' | 'verified' | 'verification_failed' | 'errored';
}

export interface DoubleReversal {
  id: string;
  object: 'transfer_reversal';
  amount: number;
  balance_transaction: string;
  created: number;
  currency: string;
  destination_payment_refund: string;
  metadata: Metadata;
  source_refund: null;
  transfer: string;
}

export interface DoubleTransfer {
  id: string;
  object: 'transfer';
  amount: number;
  amount_reversed: number;
  balance_transaction: string;
  created: number;
  currency: string;
  description: string | null;
  destination: string;
  destination_payment: string;
  livemode: false;
  metadata: Metadata;
  reversals: { object: 'list'; data: DoubleReversal[]; has_more: boolean; total_count: number; url: string };
  reversed: boolean;
  source_transaction: string | null;
  source_type: string;
  transfer_group: string | null;
}

export interface CreateAccountOptions {
  id?: string;
  type?: string;
  country?: string;
  email?: string;
  metadata?: Metadata;
  /** Request the transfers capability (default true). */
  transfers?: boolean;
  /** Make it ready for transfers at once (as activateAccount). Default false. */
  active?: boolean;
}

/** What POST /v1/accounts can set beyond CreateAccountOptions. */
export interface NewAccountFields extends CreateAccountOptions {
  business_type?: string | null;
  capabilities?: Record<string, CapabilityStatus>;
  default_currency?: string;
}

/** A transfer's parameters, already read and checked (routes.ts). */
export interface NewTransferFields {
  amount: number;
  /** Lowercase. */
  currency: string;
  destination: string;
  transferGroup: string | undefined;
  description: string | undefined;
  metadata: Metadata;
  sourceTransaction: string | undefined;
}

const UNSUBMITTED = ['business_type', 'external_account', 'tos_acceptance.date', 'tos_acceptance.ip'];

export class StripeStore {
  readonly accounts = new Map<string, DoubleAccount>();
  /** In creation order. */
  readonly transfers = new Map<string, DoubleTransfer>();
  /** Platform available balance by lowercase currency; undefined: unlimited (no checks). */
  balance: Record<string, number> | undefined;

  constructor(
    private readonly defaultCountry: string,
    balance: Record<string, number> | undefined,
  ) {
    this.balance = balance ? { ...balance } : undefined;
  }

  createAccount(o: NewAccountFields): DoubleAccount {
    const country = (o.country ?? this.defaultCountry).toUpperCase();
    const account: DoubleAccount = {
      id: o.id ?? randomId('acct', 16),
      object: 'account',
      type: o.type ?? 'express',
      country,
      email: o.email ?? null,
      business_type: o.business_type ?? null,
      capabilities: o.capabilities ?? (o.transfers === false ? {} : { transfers: 'inactive' }),
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      default_currency: o.default_currency ?? (country === 'GB' ? 'gbp' : country === 'US' ? 'usd' : 'eur'),
      created: nowSeconds(),
      metadata: { ...(o.metadata ?? {}) },
      requirements: {
        currently_due: [...UNSUBMITTED],
        eventually_due: [...UNSUBMITTED],
        past_due: [...UNSUBMITTED],
        disabled_reason: 'requirements.past_due',
      },
      external_accounts: { object: 'list', data: [], has_more: false, total_count: 0, url: '' },
    };
    account.external_accounts.url = `/v1/accounts/${account.id}/external_accounts`;
    this.accounts.set(account.id, account);
    if (o.active) this.activate(account);
    return account;
  }

  /** capabilities.transfers 'active' (and card_payments if requested), payouts_enabled, details_submitted,
   * and a bank account to pay out to, as onboarding collects one (kept if the account has one already). */
  activate(account: DoubleAccount): DoubleAccount {
    if (!account.external_accounts.data.length) this.addBankAccount(account);
    account.capabilities.transfers = 'active';
    if ('card_payments' in account.capabilities) {
      account.capabilities.card_payments = 'active';
      account.charges_enabled = true;
    }
    account.payouts_enabled = true;
    account.details_submitted = true;
    account.requirements = { currently_due: [], eventually_due: [], past_due: [], disabled_reason: null };
    return account;
  }

  /**
   * Adds a bank account in the account's default currency and makes it the default for that
   * currency (the one payouts go to), as a person does when they give Stripe new bank details.
   */
  addBankAccount(account: DoubleAccount, fields: { last4?: string; bankName?: string } = {}): DoubleBankAccount {
    const currency = account.default_currency;
    for (const other of account.external_accounts.data) if (other.currency === currency) other.default_for_currency = false;
    const bank: DoubleBankAccount = {
      id: randomId('ba'),
      object: 'bank_account',
      account: account.id,
      account_holder_name: null,
      account_holder_type: 'individual',
      bank_name: fields.bankName ?? 'STRIPE TEST BANK',
      country: account.country,
      currency,
      default_for_currency: true,
      fingerprint: randomId('fp', 16).slice(3),
      last4: fields.last4 ?? String(Math.floor(Math.random() * 10_000)).padStart(4, '0'),
      metadata: {},
      routing_number: '108800',
      status: 'new',
    };
    account.external_accounts.data.push(bank);
    account.external_accounts.total_count = account.external_accounts.data.length;
    return bank;
  }

  /** Removes a bank account; the remaining newest one in its currency becomes the default if it was. */
  removeBankAccount(account: DoubleAccount, bankId: string): DoubleBankAccount {
    const list = account.external_accounts.data;
    const index = list.findIndex((b) => b.id === bankId);
    if (index < 0) throw new Error(`stripe-double: account ${account.id} has no bank account ${bankId}`);
    const [removed] = list.splice(index, 1) as [DoubleBankAccount];
    if (removed.default_for_currency) {
      const next = list.filter((b) => b.currency === removed.currency).at(-1);
      if (next) next.default_for_currency = true;
    }
    account.external_accounts.total_count = list.length;
    return removed;
  }

  /** For the test's own calls: a missing account is a mistake in the test, not a Stripe error. */
  mustAccount(id: string): DoubleAccount {
    const a = this.accounts.get(id);
    if (!a) throw new Error(`stripe-double: no account ${id}`);
    return a;
  }

  mustTransfer(id: string): DoubleTransfer {
    const transfer = this.transfers.get(id);
    if (!transfer) throw new Error(`stripe-double: no transfer ${id}`);
    return transfer;
  }

  /** Moves money from the platform to a connected account whose transfers capability is active,
   * debiting the balance when it is tracked. Errors are Stripe's, stored under the idempotency key. */
  createTransfer(f: NewTransferFields): DoubleTransfer {
    const account = this.accounts.get(f.destination);
    if (!account) throw invalid('resource_missing', `No such destination: '${f.destination}'`, 'destination');
    if (account.capabilities.transfers !== 'active') {
      throw invalid(
        'insufficient_capabilities_for_transfer',
        'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
        'destination',
      );
    }
    if (this.balance) {
      const available = this.balance[f.currency] ?? 0;
      if (available < f.amount) {
        throw invalid(
          'balance_insufficient',
          'You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Charges using the 4000000000000077 test card.',
        );
      }
      this.balance[f.currency] = available - f.amount;
    }
    const id = randomId('tr');
    const transfer: DoubleTransfer = {
      id,
      object: 'transfer',
      amount: f.amount,
      amount_reversed: 0,
      balance_transaction: randomId('txn'),
      created: nowSeconds(),
      currency: f.currency,
      description: f.description || null,
      destination: f.destination,
      destination_payment: randomId('py'),
      livemode: false,
      metadata: f.metadata,
      reversals: { object: 'list', data: [], has_more: false, total_count: 0, url: `/v1/transfers/${id}/reversals` },
      reversed: false,
      source_transaction: f.sourceTransaction ?? null,
      source_type: 'card',
      transfer_group: f.transferGroup || null,
    };
    this.transfers.set(id, transfer);
    return transfer;
  }

  /** Reverses `amount` (default: all that is left) of a transfer, crediting the balance when it is tracked. */
  reverse(transfer: DoubleTransfer, amount: number | undefined, metadata: Metadata): DoubleReversal {
    const left = transfer.amount - transfer.amount_reversed;
    const amt = amount ?? left;
    if (amt <= 0) throw validation('parameter_invalid_integer', 'Invalid positive integer', 'amount');
    if (left <= 0) throw invalid('transfer_already_reversed', `Transfer ${transfer.id} has already been reversed.`);
    if (amt > left) throw invalid('amount_too_large', `Amount ${amt} is greater than unreversed amount on transfer (${left})`, 'amount');
    const reversal: DoubleReversal = {
      id: randomId('trr'),
      object: 'transfer_reversal',
      amount: amt,
      balance_transaction: randomId('txn'),
      created: nowSeconds(),
      currency: transfer.currency,
      destination_payment_refund: randomId('pyr'),
      metadata,
      source_refund: null,
      transfer: transfer.id,
    };
    transfer.amount_reversed += amt;
    transfer.reversed = transfer.amount_reversed >= transfer.amount;
    transfer.reversals.data.unshift(reversal);
    transfer.reversals.total_count += 1;
    if (this.balance) this.balance[transfer.currency] = (this.balance[transfer.currency] ?? 0) + amt;
    return reversal;
  }

  /** Sets one currency's platform balance (and turns balance checking on). */
  setBalance(currency: string, amount: number): void {
    this.balance ??= {};
    this.balance[currency.toLowerCase()] = amount;
  }

  /** Forgets accounts and transfers; the balance is kept. */
  clear(): void {
    this.accounts.clear();
    this.transfers.clear();
  }
}
