/**
 * The database schema. Every tenant table carries `organisation_id` and its primary key and
 * indexes lead with it, so every query is scoped by tenant, a cross-tenant reference is
 * impossible (foreign keys are composite on organisation_id), and a sharded PostgreSQL (Citus,
 * distributing by organisation_id) can take the tables as they are.
 *
 * Money is `bigint` minor units read as JS numbers; every amount column has a CHECK that keeps
 * it within JavaScript's safe integers, so reading it as a number never loses a penny.
 *
 * Triggers (append-only postings, balanced transactions, the cached balance) live in the
 * hand-written migration drizzle/0001_ledger_triggers.sql, because drizzle-kit does not model
 * triggers.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  date,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import {
  accountTypes,
  activities,
  actorTypes,
  components,
  contributorKinds,
  earningsLimitPolicies,
  earningsPeriodKinds,
  entryStatuses,
  expenseCategories,
  paymentMethods,
  payoutItemStatuses,
  payoutMethods,
  payoutRunStatuses,
  roles,
  notificationKinds,
  notificationStatuses,
  scheduleCadences,
  type NotificationKind,
} from '../domain/enums.js';
import { earningsLimitPresets } from '../domain/earnings-limit.js';

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();
const money = (name: string) => bigint(name, { mode: 'number' });
const SAFE = sql.raw('9007199254740991');


export const organisations = pgTable('organisations', {
  id: uuid('id').primaryKey(),
  name: text('name').notNull(),
  /** Contributors owed for longer than this are flagged in the time-to-pay report. */
  owedTargetDays: integer('owed_target_days').notNull().default(14),
  /** Secret used to derive stable per-organisation pseudonyms for reports. */
  pseudonymKey: text('pseudonym_key').notNull(),
  /** Settings an admin changes (`PATCH /v1/organisation`); see organisations/service.ts. */
  settings: jsonb('settings').$type<OrganisationSettings>().notNull().default({}),
  createdAt: createdAt(),
});

export interface OrganisationSettings {
  /** Time must be approved by someone other than who submitted it (off by default). */
  timeApprovalBySecondPerson?: boolean;
  /** Coordinators' daily digest lists time submitted more than this many days ago (default 3). */
  submittedTimeReminderDays?: number;
}

export const users = pgTable(
  'users',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    id: uuid('id').notNull(),
    email: text('email').notNull(),
    name: text('name').notNull(),
    role: text('role', { enum: roles }).notNull(),
    contributorId: uuid('contributor_id'),
    passwordHash: text('password_hash'),
    inviteTokenHash: text('invite_token_hash'),
    inviteExpiresAt: timestamp('invite_expires_at', { withTimezone: true, mode: 'date' }),
    /** Kinds of email this user turned on or off; a kind not named here has its default. */
    /** Set while the user is disabled: they cannot sign in and every token of theirs is refused. */
    disabledAt: timestamp('disabled_at', { withTimezone: true, mode: 'date' }),
    /**
     * Bumped whenever every token the user holds must stop working (disabled, password reset):
     * a JWT carries the version it was issued under and is refused once it differs.
     */
    tokenVersion: integer('token_version').notNull().default(0),
    /** SHA-256 of an admin-issued one-time password reset token, and when it expires. */
    resetTokenHash: text('reset_token_hash'),
    resetExpiresAt: timestamp('reset_expires_at', { withTimezone: true, mode: 'date' }),
    notificationPreferences: jsonb('notification_preferences').$type<Partial<Record<NotificationKind, boolean>>>().notNull().default({}),
    /** Set when the participant linked to this log-in was erased; the row keeps no name or email. */
    erasedAt: timestamp('erased_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    // Login takes only an email, so an email names one user across the whole service.
    // This is the one index that does not lead with organisation_id, by necessity.
    uniqueIndex('users_email_unique').on(sql`lower(${t.email})`),
    uniqueIndex('users_invite_token_unique').on(t.inviteTokenHash),
    uniqueIndex('users_reset_token_unique').on(t.resetTokenHash),
    // The log-ins of a contributor: read with every approval of their time, to tell them.
    index('users_contributor_idx').on(t.organisationId, t.contributorId),
    foreignKey({
      columns: [t.organisationId, t.contributorId],
      foreignColumns: [contributors.organisationId, contributors.id],
    }),
    check('users_role_check', sql`${t.role} in ('admin','finance','coordinator','participant','reporter')`),
    check('users_participant_has_contributor', sql`${t.role} <> 'participant' or ${t.contributorId} is not null`),
  ],
);

export const apiTokens = pgTable(
  'api_tokens',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    id: uuid('id').notNull(),
    name: text('name').notNull(),
    role: text('role', { enum: roles }).notNull(),
    /** SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough. */
    tokenHash: text('token_hash').notNull(),
    /** The user who made it, and for whom it acts: disabling them stops it too. */
    createdBy: uuid('created_by'),
    createdAt: createdAt(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    /** After this the token is refused; null never expires (until revoked). */
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    /** When the token was last used, to the minute (it is written at most once a minute). */
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    uniqueIndex('api_tokens_hash_unique').on(t.tokenHash),
    check('api_tokens_role_check', sql`${t.role} in ('admin','finance','coordinator','participant','reporter')`),
  ],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    id: uuid('id').notNull(),
    actorType: text('actor_type', { enum: actorTypes }).notNull(),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    entityType: text('entity_type').notNull(),
    entityId: text('entity_id').notNull(),
    /**
     * The record before the change; null for a creation, and null when `changedFrom` holds it
     * instead. Read it through `auditBefore` (src/modules/audit/views.ts), never alone.
     */
    before: jsonb('before'),
    /** The record after the change, whole; null for a deletion. */
    after: jsonb('after'),
    /**
     * For an update that kept the record's fields (most are), only the fields it changed, with
     * their values before it: the record before is `after || changed_from`, and `before` is null.
     */
    changedFrom: jsonb('changed_from'),
    requestId: text('request_id'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    index('audit_events_entity_idx').on(t.organisationId, t.entityType, t.entityId, t.id),
    check('audit_events_before_once', sql`${t.before} is null or ${t.changedFrom} is null`),
  ],
);

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    key: text('key').notNull(),
    /** SHA-256 over method, path and the canonical request body. */
    requestHash: text('request_hash').notNull(),
    responseStatus: integer('response_status').notNull(),
    responseBody: jsonb('response_body'),
    createdAt: createdAt(),
  },
  // No index on created_at: a record lives about a day, so erasure's read of an organisation's
  // records (the last two days of them) finds them all through the key's organisation prefix,
  // and the hourly purge reads the whole table either way. Dropped in 0016: two index entries
  // written for every approval and read by nothing the key's own index does not serve.
  (t) => [primaryKey({ columns: [t.organisationId, t.key] })],
);


export const contributors = pgTable(
  'contributors',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    id: uuid('id').notNull(),
    name: text('name').notNull(),
    email: text('email'),
    kind: text('kind', { enum: contributorKinds }).notNull(),
    paymentMethod: text('payment_method', { enum: paymentMethods }).notNull(),
    stripeAccountId: text('stripe_account_id'),
    stripePayoutsEnabled: boolean('stripe_payouts_enabled').notNull().default(false),
    /** `created` of the newest account.updated applied, so an older event arriving late is ignored. */
    stripeAccountUpdatedAt: integer('stripe_account_updated_at'),
    /** Why the connected account's last bank payout failed, in Stripe's words, for the participant. */
    stripePayoutFailure: text('stripe_payout_failure'),
    /**
     * When Stripe last reported a change to where the connected account pays out (a new bank
     * account or card). While set, Stripe payments to this person are held until finance
     * confirms the change (payment-diversion defence); confirming clears it.
     */
    payoutDetailsChangedAt: timestamp('payout_details_changed_at', { withTimezone: true, mode: 'date' }),
    /**
     * Set when the person's data was erased (UK GDPR art. 17): name, email and Stripe link are
     * gone, the row stays so the ledger, reports and pseudonym stay whole.
     */
    erasedAt: timestamp('erased_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    uniqueIndex('contributors_stripe_account_unique').on(t.stripeAccountId),
    // The duplicate-person check looks a contributor up by email, case-insensitively.
    index('contributors_email_idx').on(t.organisationId, sql`lower(${t.email})`),
    check('contributors_kind_check', sql`${t.kind} in ('lived_experience','carer','professional')`),
    check('contributors_method_check', sql`${t.paymentMethod} in ('stripe','bank_transfer','voucher','declined')`),
  ],
);

/**
 * A contributor's earnings limit over time: each row is in force from `effective_from` until the
 * next. A payment is judged by the version in force on its payment date, so changing a limit
 * never rejudges what was already paid. A row with no amount and no preset ends the limit.
 * Rows are never updated (a change is a new row), so the history a statement relies on stays.
 */
export const earningsLimitVersions = pgTable(
  'earnings_limit_versions',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    contributorId: uuid('contributor_id').notNull(),
    effectiveFrom: date('effective_from', { mode: 'string' }).notNull(),
    period: text('period', { enum: earningsPeriodKinds }),
    amount: money('amount'),
    periodStartDay: integer('period_start_day'),
    policy: text('policy', { enum: earningsLimitPolicies }),
    /** A limit that follows statutory figures (amount null): `esa_permitted_work`. */
    preset: text('preset', { enum: earningsLimitPresets }),
    createdBy: text('created_by'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    index('earnings_limit_versions_contributor_idx').on(t.organisationId, t.contributorId, t.effectiveFrom),
    foreignKey({ columns: [t.organisationId, t.contributorId], foreignColumns: [contributors.organisationId, contributors.id] }),
    check(
      'earnings_limit_versions_shape_check',
      sql`(${t.period} is null and ${t.amount} is null and ${t.periodStartDay} is null and ${t.policy} is null and ${t.preset} is null)
       or (${t.policy} in ('block','split','warn')
           and ((${t.preset} is null and ${t.amount} > 0 and ${t.amount} <= ${SAFE})
             or (${t.preset} = 'esa_permitted_work' and ${t.amount} is null and ${t.period} = 'week'))
           and ((${t.period} = 'week' and ${t.periodStartDay} between 1 and 7)
             or (${t.period} = 'month' and ${t.periodStartDay} between 1 and 31)))`,
    ),
  ],
);

export const projects = pgTable(
  'projects',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    id: uuid('id').notNull(),
    name: text('name').notNull(),
    description: text('description'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.organisationId, t.id] })],
);

export const rateCards = pgTable(
  'rate_cards',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    id: uuid('id').notNull(),
    name: text('name').notNull(),
    currency: text('currency').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    check('rate_cards_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
  ],
);

export const rateCardVersions = pgTable(
  'rate_card_versions',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    rateCardId: uuid('rate_card_id').notNull(),
    version: integer('version').notNull(),
    effectiveFrom: date('effective_from', { mode: 'string' }).notNull(),
    /** The rates as created; immutable (a trigger refuses UPDATE and DELETE). */
    rates: jsonb('rates').notNull(),
    createdBy: text('created_by'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    uniqueIndex('rate_card_versions_number_unique').on(t.organisationId, t.rateCardId, t.version),
    uniqueIndex('rate_card_versions_date_unique').on(t.organisationId, t.rateCardId, t.effectiveFrom),
    foreignKey({ columns: [t.organisationId, t.rateCardId], foreignColumns: [rateCards.organisationId, rateCards.id] }),
    check('rate_card_versions_version_check', sql`${t.version} >= 1`),
  ],
);

export const budgets = pgTable(
  'budgets',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    projectId: uuid('project_id').notNull(),
    name: text('name').notNull(),
    funder: text('funder').notNull(),
    grantReference: text('grant_reference').notNull(),
    currency: text('currency').notNull(),
    /** The amount granted at creation; adjustments are ledger transactions on top of it. */
    amount: money('amount').notNull(),
    startsOn: date('starts_on', { mode: 'string' }).notNull(),
    endsOn: date('ends_on', { mode: 'string' }).notNull(),
    rateCardId: uuid('rate_card_id').notNull(),
    allowOverspend: boolean('allow_overspend').notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    index('budgets_project_idx').on(t.organisationId, t.projectId),
    foreignKey({ columns: [t.organisationId, t.projectId], foreignColumns: [projects.organisationId, projects.id] }),
    foreignKey({ columns: [t.organisationId, t.rateCardId], foreignColumns: [rateCards.organisationId, rateCards.id] }),
    check('budgets_amount_check', sql`${t.amount} >= 0 and ${t.amount} <= ${SAFE}`),
    check('budgets_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check('budgets_dates_check', sql`${t.endsOn} >= ${t.startsOn}`),
  ],
);

/**
 * One row per ledger account and currency. `balance` is a cache of the sum of the account's
 * postings, maintained by a trigger on ledger_postings in the same transaction, and used as the
 * row to lock (SELECT ... FOR UPDATE) before a balance is checked.
 */
export const ledgerAccounts = pgTable(
  'ledger_accounts',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    code: text('code').notNull(),
    currency: text('currency').notNull(),
    type: text('type', { enum: accountTypes }).notNull(),
    budgetId: uuid('budget_id'),
    contributorId: uuid('contributor_id'),
    /** 'earnings' or 'expenses' for contributor accounts; null otherwise. */
    component: text('component', { enum: components }),
    /** Accounts that may go below zero: funding, settlement, and overspendable budgets. */
    allowNegative: boolean('allow_negative').notNull().default(false),
    balance: money('balance').notNull().default(sql`0`),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.code, t.currency] }),
    index('ledger_accounts_contributor_idx').on(t.organisationId, t.contributorId),
    // The type too (0017): a report reads one type of a budget's accounts (its contributors'
    // paid accounts), a third of them, and the index says which without reading the others.
    index('ledger_accounts_budget_idx').on(t.organisationId, t.budgetId, t.type),
    check('ledger_accounts_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check('ledger_accounts_non_negative', sql`${t.allowNegative} or ${t.balance} >= 0`),
  ],
);

export const ledgerTransactions = pgTable(
  'ledger_transactions',
  {
    organisationId: uuid('organisation_id')
      .notNull()
      .references(() => organisations.id),
    id: uuid('id').notNull(),
    type: text('type').notNull(),
    referenceType: text('reference_type').notNull(),
    referenceId: text('reference_id').notNull(),
    reversesTransactionId: uuid('reverses_transaction_id'),
    effectiveDate: date('effective_date', { mode: 'string' }).notNull(),
    description: text('description'),
    createdBy: text('created_by'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    // No index on (reference_type, reference_id): no query looks a transaction up by what caused
    // it (the work and payout rows hold their transactions' ids), and every approval paid for one.
    // A transaction is reversed at most once. Only reversals are indexed: the others (nearly
    // every transaction) have no reversed transaction, so no entry is needed to keep it unique.
    uniqueIndex('ledger_transactions_reverses_unique')
      .on(t.organisationId, t.reversesTransactionId)
      .where(sql`${t.reversesTransactionId} is not null`),
    foreignKey({
      columns: [t.organisationId, t.reversesTransactionId],
      foreignColumns: [t.organisationId, t.id],
    }),
  ],
);

export const ledgerPostings = pgTable(
  'ledger_postings',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    transactionId: uuid('transaction_id').notNull(),
    account: text('account').notNull(),
    currency: text('currency').notNull(),
    amount: money('amount').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    index('ledger_postings_account_idx').on(t.organisationId, t.account, t.currency, t.id),
    index('ledger_postings_transaction_idx').on(t.organisationId, t.transactionId),
    foreignKey({
      columns: [t.organisationId, t.transactionId],
      foreignColumns: [ledgerTransactions.organisationId, ledgerTransactions.id],
    }),
    foreignKey({
      columns: [t.organisationId, t.account, t.currency],
      foreignColumns: [ledgerAccounts.organisationId, ledgerAccounts.code, ledgerAccounts.currency],
    }),
    check('ledger_postings_amount_check', sql`${t.amount} <> 0 and abs(${t.amount}) <= ${SAFE}`),
    check('ledger_postings_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
  ],
);

/** One co-production session: the entries of its attendees are created together. */
export const sessions = pgTable(
  'sessions',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    budgetId: uuid('budget_id').notNull(),
    activity: text('activity', { enum: activities }).notNull(),
    date: date('date', { mode: 'string' }).notNull(),
    minutes: integer('minutes').notNull(),
    note: text('note'),
    createdBy: text('created_by'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    foreignKey({ columns: [t.organisationId, t.budgetId], foreignColumns: [budgets.organisationId, budgets.id] }),
  ],
);

/**
 * Time given by a contributor. `value` is the time at its rate; `amount` what is owed once
 * approved (0 for in-kind or declined time); `withheld` what an earnings limit with policy
 * `split` held back. The explanation and the rate-card version are those of the approval (or
 * of the quote while submitted), so approved work keeps the amount it was approved at.
 */
export const timeEntries = pgTable(
  'time_entries',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    contributorId: uuid('contributor_id').notNull(),
    budgetId: uuid('budget_id').notNull(),
    sessionId: uuid('session_id'),
    activity: text('activity', { enum: activities }).notNull(),
    date: date('date', { mode: 'string' }).notNull(),
    minutes: integer('minutes').notNull(),
    note: text('note'),
    status: text('status', { enum: entryStatuses }).notNull().default('submitted'),
    currency: text('currency').notNull(),
    rateCardVersionId: uuid('rate_card_version_id'),
    rateCardVersion: integer('rate_card_version'),
    value: money('value').notNull().default(sql`0`),
    amount: money('amount').notNull().default(sql`0`),
    withheld: money('withheld').notNull().default(sql`0`),
    inKind: boolean('in_kind').notNull().default(false),
    declined: boolean('declined').notNull().default(false),
    limitOutcome: text('limit_outcome'),
    flagged: boolean('flagged').notNull().default(false),
    explanation: jsonb('explanation').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    warnings: jsonb('warnings').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    submittedBy: text('submitted_by'),
    decidedBy: text('decided_by'),
    decidedAt: timestamp('decided_at', { withTimezone: true, mode: 'date' }),
    rejectionReason: text('rejection_reason'),
    reversedBy: text('reversed_by'),
    reversedAt: timestamp('reversed_at', { withTimezone: true, mode: 'date' }),
    reversalReason: text('reversal_reason'),
    ledgerTransactionId: uuid('ledger_transaction_id'),
    reversalTransactionId: uuid('reversal_transaction_id'),
    /** The contributor's kind when the entry was approved: reports group by it, so a later change of kind rewrites no report. */
    contributorKind: text('contributor_kind', { enum: contributorKinds }),
    /** The payout item that completed paying this entry's money (see payout_item_work for each part). */
    payoutItemId: uuid('payout_item_id'),
    /**
     * An entry for the same contributor, date, activity and minutes recorded less than a minute
     * before this one, by a request without an Idempotency-Key: a retry with a key cannot record
     * twice, one without can (a double click, a resent form), so the approver is shown both.
     */
    possibleDuplicateOf: uuid('possible_duplicate_of'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    index('time_entries_payout_item_idx').on(t.organisationId, t.payoutItemId),
    index('time_entries_contributor_idx').on(t.organisationId, t.contributorId, t.date),
    index('time_entries_budget_idx').on(t.organisationId, t.budgetId, t.date),
    index('time_entries_status_idx').on(t.organisationId, t.status, t.id),
    foreignKey({ columns: [t.organisationId, t.contributorId], foreignColumns: [contributors.organisationId, contributors.id] }),
    foreignKey({ columns: [t.organisationId, t.budgetId], foreignColumns: [budgets.organisationId, budgets.id] }),
    foreignKey({ columns: [t.organisationId, t.sessionId], foreignColumns: [sessions.organisationId, sessions.id] }),
    check('time_entries_minutes_check', sql`${t.minutes} between 1 and 1440`),
    check(
      'time_entries_amounts_check',
      sql`${t.value} between 0 and ${SAFE} and ${t.amount} between 0 and ${SAFE} and ${t.withheld} between 0 and ${SAFE}`,
    ),
    check('time_entries_status_check', sql`${t.status} in ('submitted','approved','rejected','reversed')`),
  ],
);

/** A reimbursement: never earnings, never counted towards an earnings limit. */
export const expenses = pgTable(
  'expenses',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    contributorId: uuid('contributor_id').notNull(),
    budgetId: uuid('budget_id').notNull(),
    category: text('category', { enum: expenseCategories }).notNull(),
    amount: money('amount').notNull(),
    currency: text('currency').notNull(),
    date: date('date', { mode: 'string' }).notNull(),
    receiptReference: text('receipt_reference'),
    note: text('note'),
    status: text('status', { enum: entryStatuses }).notNull().default('submitted'),
    submittedBy: text('submitted_by'),
    decidedBy: text('decided_by'),
    decidedAt: timestamp('decided_at', { withTimezone: true, mode: 'date' }),
    rejectionReason: text('rejection_reason'),
    reversedBy: text('reversed_by'),
    reversedAt: timestamp('reversed_at', { withTimezone: true, mode: 'date' }),
    reversalReason: text('reversal_reason'),
    ledgerTransactionId: uuid('ledger_transaction_id'),
    reversalTransactionId: uuid('reversal_transaction_id'),
    /** The contributor's kind when the expense was approved. */
    contributorKind: text('contributor_kind', { enum: contributorKinds }),
    /** The payout item that carries this expense's money, once a run with it is approved. */
    payoutItemId: uuid('payout_item_id'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    index('expenses_payout_item_idx').on(t.organisationId, t.payoutItemId),
    index('expenses_contributor_idx').on(t.organisationId, t.contributorId, t.date),
    index('expenses_budget_idx').on(t.organisationId, t.budgetId, t.date),
    foreignKey({ columns: [t.organisationId, t.contributorId], foreignColumns: [contributors.organisationId, contributors.id] }),
    foreignKey({ columns: [t.organisationId, t.budgetId], foreignColumns: [budgets.organisationId, budgets.id] }),
    check('expenses_amount_check', sql`${t.amount} > 0 and ${t.amount} <= ${SAFE}`),
    check('expenses_status_check', sql`${t.status} in ('submitted','approved','rejected','reversed')`),
  ],
);

/** A payout run: drafted by one finance user, approved by another (four eyes). */
export const payoutRuns = pgTable(
  'payout_runs',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    currency: text('currency').notNull(),
    budgetId: uuid('budget_id'),
    status: text('status', { enum: payoutRunStatuses }).notNull().default('draft'),
    total: money('total').notNull(),
    /** The filters the run was drafted with and the contributors left out, with reasons. */
    filters: jsonb('filters').notNull(),
    skipped: jsonb('skipped')
      .$type<{ contributorId: string; reason: string; amount: number; headroom?: number; payableFrom?: string; detail?: string }[]>()
      .notNull(),
    createdBy: text('created_by').notNull(),
    approvedBy: text('approved_by'),
    approvedAt: timestamp('approved_at', { withTimezone: true, mode: 'date' }),
    canceledBy: text('canceled_by'),
    canceledAt: timestamp('canceled_at', { withTimezone: true, mode: 'date' }),
    ledgerTransactionId: uuid('ledger_transaction_id'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    index('payout_runs_status_idx').on(t.organisationId, t.status, t.id),
    check('payout_runs_total_check', sql`${t.total} >= 0 and ${t.total} <= ${SAFE}`),
  ],
);

/**
 * What one contributor is paid in a run. The money comes from the contributor's owed accounts
 * of one or more budgets (the item's lines). The Stripe transfer's idempotency key is derived
 * from the item's id, so a retry can never pay twice.
 */
export const payoutItems = pgTable(
  'payout_items',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    runId: uuid('run_id').notNull(),
    contributorId: uuid('contributor_id').notNull(),
    currency: text('currency').notNull(),
    amount: money('amount').notNull(),
    /** The part of `amount` that is earnings (counted by earnings limits and tax); the rest is expenses. */
    earnings: money('earnings').notNull().default(sql`0`),
    expenses: money('expenses').notNull().default(sql`0`),
    /** Earnings an earnings limit with policy split left owed for a later period. */
    carriedForward: money('carried_forward').notNull().default(sql`0`),
    /** Why finance should look twice (an earnings limit passed under policy warn). */
    warnings: jsonb('warnings').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    /**
     * The Europe/London date the money counts as received: the day the run was drafted, then
     * approved, then the day it was paid. Earnings limits and statements count by it.
     */
    paymentDate: date('payment_date', { mode: 'string' }),
    method: text('method', { enum: payoutMethods }).notNull(),
    status: text('status', { enum: payoutItemStatuses }).notNull().default('pending'),
    stripeAccountId: text('stripe_account_id'),
    stripeTransferId: text('stripe_transfer_id'),
    /** Amount Stripe reported reversed so far (transfer.reversed is cumulative). */
    reversedAmount: money('reversed_amount').notNull().default(sql`0`),
    /** The connected account's bank payout outcome, from payout.paid / payout.failed. */
    bankPayoutStatus: text('bank_payout_status'),
    reference: text('reference'),
    failureReason: text('failure_reason'),
    lastError: text('last_error'),
    attempts: integer('attempts').notNull().default(0),
    paidAt: timestamp('paid_at', { withTimezone: true, mode: 'date' }),
    failedAt: timestamp('failed_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    index('payout_items_run_idx').on(t.organisationId, t.runId),
    index('payout_items_contributor_idx').on(t.organisationId, t.contributorId),
    index('payout_items_status_idx').on(t.organisationId, t.status, t.method),
    index('payout_items_payment_date_idx').on(t.organisationId, t.contributorId, t.paymentDate),
    uniqueIndex('payout_items_transfer_unique').on(t.stripeTransferId),
    foreignKey({ columns: [t.organisationId, t.runId], foreignColumns: [payoutRuns.organisationId, payoutRuns.id] }),
    foreignKey({ columns: [t.organisationId, t.contributorId], foreignColumns: [contributors.organisationId, contributors.id] }),
    check('payout_items_amount_check', sql`${t.amount} > 0 and ${t.amount} <= ${SAFE}`),
    check(
      'payout_items_parts_check',
      sql`${t.earnings} >= 0 and ${t.expenses} >= 0 and ${t.carriedForward} >= 0 and ${t.carriedForward} <= ${SAFE}`,
    ),
    check('payout_items_status_check', sql`${t.status} in ('pending','processing','paid','failed','canceled')`),
  ],
);

/** The owed money an item takes, per budget and component. */
export const payoutItemLines = pgTable(
  'payout_item_lines',
  {
    organisationId: uuid('organisation_id').notNull(),
    itemId: uuid('item_id').notNull(),
    budgetId: uuid('budget_id').notNull(),
    component: text('component', { enum: components }).notNull(),
    amount: money('amount').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.itemId, t.budgetId, t.component] }),
    foreignKey({ columns: [t.organisationId, t.itemId], foreignColumns: [payoutItems.organisationId, payoutItems.id] }),
    check('payout_item_lines_amount_check', sql`${t.amount} > 0 and ${t.amount} <= ${SAFE}`),
  ],
);

/**
 * Which approved work each payout item pays, and how much of it: an earnings limit with policy
 * split can pay part of an entry now and the rest in a later period. Work is taken oldest
 * first. An allocation counts while its item is pending in a draft (for that draft only),
 * processing or paid; a failed or canceled item's allocations count for nothing, so its work
 * is owed again.
 */
export const payoutItemWork = pgTable(
  'payout_item_work',
  {
    organisationId: uuid('organisation_id').notNull(),
    itemId: uuid('item_id').notNull(),
    workType: text('work_type', { enum: ['time_entry', 'expense'] }).notNull(),
    workId: uuid('work_id').notNull(),
    budgetId: uuid('budget_id').notNull(),
    amount: money('amount').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.itemId, t.workType, t.workId] }),
    index('payout_item_work_work_idx').on(t.organisationId, t.workType, t.workId),
    foreignKey({ columns: [t.organisationId, t.itemId], foreignColumns: [payoutItems.organisationId, payoutItems.id] }),
    check('payout_item_work_amount_check', sql`${t.amount} > 0 and ${t.amount} <= ${SAFE}`),
  ],
);

/** Stripe events applied, so each event id takes effect once however often it is delivered. */
export const stripeEvents = pgTable('stripe_events', {
  id: text('id').primaryKey(),
  type: text('type').notNull(),
  organisationId: uuid('organisation_id'),
  receivedAt: createdAt(),
});

/**
 * An organisation's payout schedule: at each slot (a Europe/London time, daily or on a weekday)
 * the job queue drafts a run of everything owed. One row per organisation; DELETE switches it off.
 */
export const payoutSchedules = pgTable(
  'payout_schedules',
  {
    organisationId: uuid('organisation_id')
      .primaryKey()
      .references(() => organisations.id),
    cadence: text('cadence', { enum: scheduleCadences }).notNull(),
    /** 1–7, Monday 1; only for weekly. */
    weekday: integer('weekday'),
    /** "HH:MM", Europe/London. */
    time: text('time').notNull(),
    methods: jsonb('methods').$type<string[] | null>(),
    updatedBy: text('updated_by').notNull(),
    /** Slots before this moment are never drafted: a schedule does not pay for the time before it existed. */
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    check('payout_schedules_cadence_check', sql`${t.cadence} in ('daily','weekly')`),
    check(
      'payout_schedules_weekday_check',
      sql`(${t.cadence} = 'daily' and ${t.weekday} is null) or (${t.cadence} = 'weekly' and ${t.weekday} between 1 and 7)`,
    ),
    check('payout_schedules_time_check', sql`${t.time} ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'`),
  ],
);

/**
 * Each schedule slot that was handled, once: the row is inserted in the same transaction that
 * drafts the slot's runs, and its primary key makes a second instance (or a retried job) that
 * reaches the same slot do nothing.
 */
export const payoutScheduleSlots = pgTable(
  'payout_schedule_slots',
  {
    organisationId: uuid('organisation_id').notNull(),
    slot: timestamp('slot', { withTimezone: true, mode: 'date' }).notNull(),
    /** The runs drafted for the slot (one per currency owed); empty when nothing was owed. */
    runIds: jsonb('run_ids').$type<string[]>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.organisationId, t.slot] })],
);

/**
 * The email outbox. A row is written in the same transaction as the change it tells someone
 * about, with a job to deliver it (src/modules/notifications). Bodies are rendered when sent
 * from `kind` and `data`, which hold ids and amounts, never names.
 */
export const notifications = pgTable(
  'notifications',
  {
    organisationId: uuid('organisation_id').notNull(),
    id: uuid('id').notNull(),
    /** The user it is for; null for a contributor who has no log-in (sent to their email). */
    userId: uuid('user_id'),
    contributorId: uuid('contributor_id'),
    kind: text('kind', { enum: notificationKinds }).notNull(),
    toAddress: text('to_address').notNull(),
    /** The page the message links to, as a path (the public URL is added when sent). */
    link: text('link').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    /** What the message is about, so the same event never queues it twice (for example `payment_sent:<item>`). */
    dedupeKey: text('dedupe_key').notNull(),
    status: text('status', { enum: notificationStatuses }).notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    /** While a sender holds the message; a sender that died leaves it to expire. */
    claimedUntil: timestamp('claimed_until', { withTimezone: true, mode: 'date' }),
    lastError: text('last_error'),
    createdAt: createdAt(),
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ columns: [t.organisationId, t.id] }),
    uniqueIndex('notifications_dedupe_unique').on(t.organisationId, t.dedupeKey),
    index('notifications_user_idx').on(t.organisationId, t.userId, t.id),
    // The delivery sweep looks across organisations for what is still queued.
    index('notifications_queued_idx').on(t.createdAt).where(sql`${t.status} = 'queued'`),
    check('notifications_status_check', sql`${t.status} in ('queued','sent','failed')`),
  ],
);

/**
 * Access tokens (JWTs) revoked before they expire: by logout. A row is needed only until the
 * token would have expired anyway, after which the purge job removes it.
 */
export const revokedTokens = pgTable(
  'revoked_tokens',
  {
    organisationId: uuid('organisation_id').notNull(),
    /** The token's `jti`. */
    jti: uuid('jti').notNull(),
    userId: uuid('user_id').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.organisationId, t.jti] }), index('revoked_tokens_user_idx').on(t.organisationId, t.userId)],
);

/**
 * Failed sign-ins in the current minute, per account (`account:<SHA-256 of the email>`) and per
 * client address (`address:<SHA-256 of the IP>`), shared by every instance through the database: one address cannot spray
 * passwords across accounts, nor many addresses hammer one account. Successes are not counted.
 * Not tenant data: a sign-in names no organisation until it succeeds.
 */
export const signInFailures = pgTable('sign_in_failures', {
  key: text('key').primaryKey(),
  windowStart: timestamp('window_start', { withTimezone: true, mode: 'date' }).notNull(),
  failures: integer('failures').notNull(),
});

/**
 * Report rollup (see src/modules/reports/rollups.ts): approved work summed per organisation,
 * currency, budget, contributor, the contributor kind recorded on the work ('' where none was
 * recorded) and Europe/London calendar month of the work's date. A row exists exactly while
 * some approved time entry or expense falls under its key. Kept by triggers on time_entries and
 * expenses in the transaction that approves, reverses or otherwise changes the work (migration
 * 0012), so concurrent approvals each add theirs; `npm run cli -- rebuild-rollups` recomputes it
 * from the entries. Reports read whole months here and only a range's partial months from the
 * entries.
 */
export const reportWorkMonths = pgTable(
  'report_work_months',
  {
    organisationId: uuid('organisation_id').notNull(),
    currency: text('currency').notNull(),
    budgetId: uuid('budget_id').notNull(),
    contributorId: uuid('contributor_id').notNull(),
    /** The kind recorded on the work, or '' for work approved before kinds were recorded. */
    kind: text('kind').notNull(),
    /** The first day of the month. */
    month: date('month', { mode: 'string' }).notNull(),
    /** Approved time entries under the key. */
    timeEntries: integer('time_entries').notNull().default(0),
    minutes: bigint('minutes', { mode: 'number' }).notNull().default(0),
    /** Minutes neither in kind nor declined. */
    paidMinutes: bigint('paid_minutes', { mode: 'number' }).notNull().default(0),
    earned: money('earned').notNull().default(0),
    inKind: money('in_kind').notNull().default(0),
    declined: money('declined').notNull().default(0),
    /** Approved expenses under the key. */
    expenseCount: integer('expense_count').notNull().default(0),
    expenses: money('expenses').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.organisationId, t.currency, t.budgetId, t.contributorId, t.kind, t.month] })],
);
