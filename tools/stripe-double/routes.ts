/**
 * The endpoints: POST/GET /v1/accounts[/:id], DELETE /v1/accounts/:id, POST /v1/account_links, POST/GET /v1/transfers[/:id],
 * POST/GET /v1/transfers/:id/reversals[/:id], GET /v1/balance. Each reads and checks its parameters,
 * then works on the store. Errors are thrown as ApiFailure (errors.ts).
 */
import { invalid, notFound, validation, type Outcome } from './errors.js';
import { nowSeconds, randomId } from './ids.js';
import { canonical, checkKnown, int, metadataParam, requiredStr, str, type Params } from './params.js';
import type { CapabilityStatus, DoubleAccount, DoubleTransfer, StripeStore } from './store.js';

const ACCOUNT_CREATE_PARAMS = [
  'type', 'country', 'email', 'business_type', 'capabilities', 'metadata', 'business_profile', 'company',
  'controller', 'default_currency', 'documents', 'external_account', 'groups', 'individual', 'settings',
  'tos_acceptance', 'account_token',
] as const;
const ACCOUNT_UPDATE_PARAMS = ACCOUNT_CREATE_PARAMS.filter((p) => p !== 'type' && p !== 'country' && p !== 'controller');
const TRANSFER_CREATE_PARAMS = ['amount', 'currency', 'destination', 'description', 'metadata', 'source_transaction', 'source_type', 'transfer_group'];
const TRANSFER_LIST_PARAMS = ['created', 'destination', 'ending_before', 'limit', 'starting_after', 'transfer_group'];
const REVERSAL_CREATE_PARAMS = ['amount', 'description', 'metadata', 'refund_application_fee'];
const LIST_PARAMS = ['ending_before', 'limit', 'starting_after'];
const ACCOUNT_LINK_PARAMS = ['account', 'type', 'refresh_url', 'return_url', 'collect', 'collection_options'];

const ok = (body: unknown): Outcome => ({ status: 200, body });

/** Routes one request, with its parsed parameters, to its endpoint. */
export function route(store: StripeStore, method: string, path: string, params: Params): Outcome {
  const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (seg[0] !== 'v1') return notFound(method, path);
  const [, resource, id, sub, subId] = seg;
  let outcome: Outcome | undefined;
  if (resource === 'accounts') outcome = accounts(store, method, id, sub, params);
  else if (resource === 'account_links' && method === 'POST' && id === undefined) outcome = createAccountLink(store, params);
  else if (resource === 'transfers') outcome = transfers(store, method, id, sub, subId, params);
  else if (resource === 'balance' && method === 'GET' && id === undefined) outcome = balance(store);
  return outcome ?? notFound(method, path);
}

// ---- accounts ---------------------------------------------------------------------------------

function accounts(store: StripeStore, method: string, id: string | undefined, sub: string | undefined, params: Params): Outcome | undefined {
  if (method === 'POST' && id === undefined) return createAccount(store, params);
  if (id !== undefined && sub === undefined) {
    const account = store.accounts.get(id);
    if (!account) throw invalid('resource_missing', `No such account: '${id}'`, 'account', 404);
    if (method === 'GET') return ok(account);
    if (method === 'POST') return updateAccount(account, params);
    if (method === 'DELETE') {
      // Test-mode accounts can be deleted at any time (Stripe: "Delete an account").
      store.accounts.delete(id);
      return ok({ id, object: 'account', deleted: true });
    }
  }
  if (method === 'GET' && id === undefined) {
    checkKnown(params, [...LIST_PARAMS, 'created']);
    return ok(listPage([...store.accounts.values()], params, '/v1/accounts'));
  }
  return undefined;
}

function createAccount(store: StripeStore, params: Params): Outcome {
  checkKnown(params, ACCOUNT_CREATE_PARAMS);
  const type = str(params, 'type');
  if (type !== undefined && !['custom', 'express', 'standard'].includes(type)) {
    throw validation('parameter_invalid_string', `Invalid type: must be one of custom, express, or standard`, 'type');
  }
  const account = store.createAccount({
    type: type ?? (params.controller ? 'none' : 'standard'),
    country: str(params, 'country'),
    email: str(params, 'email'),
    business_type: str(params, 'business_type') ?? null,
    default_currency: str(params, 'default_currency'),
    capabilities: capabilitiesParam(params, {}),
    metadata: metadataParam(params),
  });
  return ok(account);
}

function updateAccount(account: DoubleAccount, params: Params): Outcome {
  checkKnown(params, ACCOUNT_UPDATE_PARAMS);
  const email = str(params, 'email');
  const businessType = str(params, 'business_type');
  const capabilities = capabilitiesParam(params, account.capabilities);
  const metadata = metadataParam(params, account.metadata);
  if (email !== undefined) account.email = email || null;
  if (businessType !== undefined) account.business_type = businessType || null;
  account.capabilities = capabilities;
  account.metadata = metadata;
  return ok(account);
}

/** `capabilities[name][requested]=true|false` applied over `existing`. */
function capabilitiesParam(params: Params, existing: Record<string, CapabilityStatus>): Record<string, CapabilityStatus> {
  const caps = params.capabilities;
  if (caps === undefined) return existing;
  if (typeof caps === 'string' || Array.isArray(caps)) throw validation('parameter_invalid_string', 'Invalid capabilities: must be an object', 'capabilities');
  const out = { ...existing };
  for (const [name, value] of Object.entries(caps)) {
    if (typeof value !== 'object' || Array.isArray(value) || typeof value.requested !== 'string') {
      throw validation('parameter_missing', `Missing required param: capabilities[${name}][requested].`, `capabilities[${name}][requested]`);
    }
    if (value.requested === 'true') out[name] ??= 'inactive';
    else delete out[name];
  }
  return out;
}

function createAccountLink(store: StripeStore, params: Params): Outcome {
  checkKnown(params, ACCOUNT_LINK_PARAMS);
  const accountId = requiredStr(params, 'account');
  const type = requiredStr(params, 'type');
  if (type !== 'account_onboarding' && type !== 'account_update') {
    throw validation('parameter_invalid_string', 'Invalid type: must be one of account_onboarding or account_update', 'type');
  }
  if (type === 'account_onboarding') requiredStr(params, 'return_url');
  if (!store.accounts.has(accountId)) throw invalid('resource_missing', `No such account: '${accountId}'`, 'account');
  const created = nowSeconds();
  return ok({ object: 'account_link', created, expires_at: created + 300, url: `https://connect.stripe.test/setup/${randomId('s', 12).slice(2)}` });
}

// ---- transfers and reversals ------------------------------------------------------------------

function transfers(
  store: StripeStore,
  method: string,
  id: string | undefined,
  sub: string | undefined,
  subId: string | undefined,
  params: Params,
): Outcome | undefined {
  if (method === 'POST' && id === undefined) return ok(createTransfer(store, params));
  if (method === 'GET' && id === undefined) return listTransfers(store, params);
  if (id === undefined) return undefined;
  const transfer = store.transfers.get(id);
  if (!transfer) throw invalid('resource_missing', `No such transfer: '${id}'`, 'id', 404);
  if (sub === undefined && method === 'GET') return ok(transfer);
  if (sub === undefined && method === 'POST') return updateTransfer(transfer, params);
  if (sub === 'reversals' && subId === undefined && method === 'POST') return createReversal(store, transfer, params);
  if (sub === 'reversals' && subId === undefined && method === 'GET') {
    checkKnown(params, LIST_PARAMS);
    return ok(listPage([...transfer.reversals.data].reverse(), params, transfer.reversals.url));
  }
  if (sub === 'reversals' && subId !== undefined && method === 'GET') {
    const reversal = transfer.reversals.data.find((r) => r.id === subId);
    if (!reversal) throw invalid('resource_missing', `No such transfer reversal: '${subId}'`, 'id', 404);
    return ok(reversal);
  }
  return undefined;
}

function createTransfer(store: StripeStore, params: Params): DoubleTransfer {
  checkKnown(params, TRANSFER_CREATE_PARAMS);
  const amountText = requiredStr(params, 'amount');
  const amount = int(params, 'amount')!;
  if (amount < 1) throw validation('parameter_invalid_integer', `Invalid positive integer: ${amountText}`, 'amount');
  const currency = requiredStr(params, 'currency').toLowerCase();
  if (!/^[a-z]{3}$/.test(currency)) throw validation('parameter_invalid_string', `Invalid currency: ${currency}`, 'currency');
  const destination = requiredStr(params, 'destination');
  const transferGroup = str(params, 'transfer_group');
  const description = str(params, 'description');
  const metadata = metadataParam(params);
  const sourceTransaction = str(params, 'source_transaction');
  // From here the endpoint is executing: errors are stored under the idempotency key.
  return store.createTransfer({ amount, currency, destination, transferGroup, description, metadata, sourceTransaction });
}

function listTransfers(store: StripeStore, params: Params): Outcome {
  checkKnown(params, TRANSFER_LIST_PARAMS);
  const group = str(params, 'transfer_group');
  const destination = str(params, 'destination');
  const created = createdFilter(params);
  return ok(
    listPage(
      [...store.transfers.values()],
      params,
      '/v1/transfers',
      (t) => (group === undefined || t.transfer_group === group) && (destination === undefined || t.destination === destination) && created(t.created),
    ),
  );
}

function updateTransfer(transfer: DoubleTransfer, params: Params): Outcome {
  checkKnown(params, ['description', 'metadata']);
  const description = str(params, 'description');
  const metadata = metadataParam(params, transfer.metadata);
  if (description !== undefined) transfer.description = description || null;
  transfer.metadata = metadata;
  return ok(transfer);
}

function createReversal(store: StripeStore, transfer: DoubleTransfer, params: Params): Outcome {
  checkKnown(params, REVERSAL_CREATE_PARAMS);
  const amount = int(params, 'amount');
  const metadata = metadataParam(params);
  return ok(store.reverse(transfer, amount, metadata));
}

// ---- balance ----------------------------------------------------------------------------------

function balance(store: StripeStore): Outcome {
  const available = Object.entries(store.balance ?? { gbp: 0 }).map(([currency, amount]) => ({ amount, currency, source_types: { card: amount } }));
  return ok({ object: 'balance', available, pending: [], livemode: false });
}

// ---- lists ------------------------------------------------------------------------------------

/** Stripe's list pages: newest first, cursor by id. */
function listPage<T extends { id: string }>(all: T[], params: Params, url: string, filter: (item: T) => boolean = () => true) {
  const limit = int(params, 'limit') ?? 10;
  if (limit < 1 || limit > 100) throw validation('parameter_invalid_integer', 'This value must be between 1 and 100 (it currently is ' + limit + ').', 'limit');
  const newestFirst = [...all].reverse();
  const startingAfter = str(params, 'starting_after');
  const endingBefore = str(params, 'ending_before');
  let candidates: T[];
  let fromEnd = false;
  if (startingAfter) {
    const i = newestFirst.findIndex((x) => x.id === startingAfter);
    if (i < 0) throw invalid('resource_missing', `No such object: '${startingAfter}'`, 'starting_after');
    candidates = newestFirst.slice(i + 1).filter(filter);
  } else if (endingBefore) {
    const i = newestFirst.findIndex((x) => x.id === endingBefore);
    if (i < 0) throw invalid('resource_missing', `No such object: '${endingBefore}'`, 'ending_before');
    candidates = newestFirst.slice(0, i).filter(filter);
    fromEnd = true;
  } else {
    candidates = newestFirst.filter(filter);
  }
  const data = fromEnd ? candidates.slice(Math.max(0, candidates.length - limit)) : candidates.slice(0, limit);
  return { object: 'list' as const, data, has_more: candidates.length > limit, url };
}

/** `created=n` or `created[gt|gte|lt|lte]=n` as a test on a Unix time. */
function createdFilter(params: Params): (created: number) => boolean {
  const c = params.created;
  if (c === undefined) return () => true;
  if (typeof c === 'string') {
    const n = int(params, 'created')!;
    return (x) => x === n;
  }
  if (Array.isArray(c)) throw validation('parameter_invalid_integer', 'Invalid created', 'created');
  const bound = (k: string) => {
    const v = c[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d+$/.test(v)) throw validation('parameter_invalid_integer', `Invalid integer: ${canonical(v)}`, `created[${k}]`);
    return Number(v);
  };
  const gt = bound('gt');
  const gte = bound('gte');
  const lt = bound('lt');
  const lte = bound('lte');
  return (x) => (gt === undefined || x > gt) && (gte === undefined || x >= gte) && (lt === undefined || x < lt) && (lte === undefined || x <= lte);
}
