/**
 * Every closed set of values the service knows, in one place. The database schema, the zod
 * request schemas, the services and the reports all import them from here, so adding a value
 * is one edit (plus a migration for the CHECK constraint that mirrors it in the database).
 */

/** What a user or API token may do. */
export const roles = ['admin', 'finance', 'coordinator', 'participant', 'reporter'] as const;
export type Role = (typeof roles)[number];

/**
 * Who gives the time. Reports group `lived_experience` and `carer` together as lived
 * experience; `professional` covers frontline staff, commissioners and researchers.
 */
export const contributorKinds = ['lived_experience', 'carer', 'professional'] as const;
export type ContributorKind = (typeof contributorKinds)[number];

/** The kinds reports count as lived experience. */
export const livedExperienceKinds = ['lived_experience', 'carer'] as const satisfies readonly ContributorKind[];
export const isLivedExperience = (kind: ContributorKind): boolean => (livedExperienceKinds as readonly ContributorKind[]).includes(kind);

/** How a contributor is paid; `declined` records their right to give time without payment. */
export const paymentMethods = ['stripe', 'bank_transfer', 'voucher', 'declined'] as const;
export type PaymentMethod = (typeof paymentMethods)[number];

/** How a payout item is paid: every payment method but `declined`. */
export const payoutMethods = ['stripe', 'bank_transfer', 'voucher'] as const satisfies readonly PaymentMethod[];
export type PayoutMethod = (typeof payoutMethods)[number];

/** How often an earnings limit resets. */
export const earningsPeriodKinds = ['week', 'month'] as const;
export type EarningsPeriodKind = (typeof earningsPeriodKinds)[number];

/**
 * What to do when a payment would take a contributor past their earnings limit.
 * - `block`: hold the earnings that would cross it until a later period.
 * - `split`: pay what fits; the rest stays owed for a later period.
 * - `warn`: pay all of it and flag it.
 */
export const earningsLimitPolicies = ['block', 'split', 'warn'] as const;
export type EarningsLimitPolicy = (typeof earningsLimitPolicies)[number];

/** The kinds of co-production activity a rate can be set for. */
export const activities = ['meeting', 'workshop', 'interview', 'reading', 'training', 'other'] as const;
export type Activity = (typeof activities)[number];

/** What a rate's `amount` is paid per. */
export const rateUnits = ['hour', 'session', 'day'] as const;
export type RateUnit = (typeof rateUnits)[number];

/** The lifecycle of approvable work (time entries and expenses alike). */
export const entryStatuses = ['submitted', 'approved', 'rejected', 'reversed'] as const;
export type EntryStatus = (typeof entryStatuses)[number];

/** What an expense reimburses. */
export const expenseCategories = ['travel', 'childcare', 'care', 'other'] as const;
export type ExpenseCategory = (typeof expenseCategories)[number];

export const payoutRunStatuses = ['draft', 'approved', 'canceled'] as const;
export type PayoutRunStatus = (typeof payoutRunStatuses)[number];

export const payoutItemStatuses = ['pending', 'processing', 'paid', 'failed', 'canceled'] as const;
export type PayoutItemStatus = (typeof payoutItemStatuses)[number];

/** The kinds of ledger account (see domain/ledger.ts for what each holds). */
export const accountTypes = ['funding', 'settlement', 'budget_available', 'contributor_owed', 'contributor_in_transit', 'contributor_paid'] as const;
export type AccountType = (typeof accountTypes)[number];

/** A contributor's money is either earnings or expenses (reimbursements), never mixed. */
export const components = ['earnings', 'expenses'] as const;
export type Component = (typeof components)[number];

/** Who can be recorded as having done something. */
export const actorTypes = ['user', 'api_token', 'system'] as const;
export type ActorType = (typeof actorTypes)[number];

/**
 * The emails the service sends, each to one kind of person (see modules/notifications):
 * participants hear about their own money (the first list); finance about runs and failures;
 * coordinators about time waiting for them; `payout_details_changed` goes to the participant and
 * to finance.
 */
export const participantNotificationKinds = ['time_approved', 'payment_sent', 'payment_failed', 'payment_held_earnings_limit', 'limit_nearly_reached', 'payout_setup_started', 'payout_details_changed'] as const;
export const notificationKinds = [...participantNotificationKinds, 'run_awaiting_approval', 'payments_failed', 'time_awaiting_approval', 'password_reset'] as const;
export type NotificationKind = (typeof notificationKinds)[number];

export const notificationStatuses = ['queued', 'sent', 'failed'] as const;
export type NotificationStatus = (typeof notificationStatuses)[number];

/** How often a payout schedule drafts a run. */
export const scheduleCadences = ['daily', 'weekly'] as const;
export type ScheduleCadence = (typeof scheduleCadences)[number];
