import type { FastifyInstance } from 'fastify';
import { apiTokenRoutes } from './modules/api-tokens/routes.js';
import { auditRoutes } from './modules/audit/routes.js';
import { authRoutes } from './modules/auth/routes.js';
import { balanceRoutes } from './modules/balances/routes.js';
import { budgetRoutes } from './modules/budgets/routes.js';
import { contributorRoutes } from './modules/contributors/routes.js';
import { expenseRoutes } from './modules/expenses/routes.js';
import { healthRoutes } from './modules/health/routes.js';
import { ledgerRoutes } from './modules/ledger/routes.js';
import { organisationRoutes } from './modules/organisations/routes.js';
import { notificationRoutes } from './modules/notifications/routes.js';
import { personalDataRoutes } from './modules/personal-data/routes.js';
import { payoutRoutes } from './modules/payouts/routes.js';
import { payoutScheduleRoutes } from './modules/payouts/schedule-routes.js';
import { projectRoutes } from './modules/projects/routes.js';
import { rateCardRoutes } from './modules/rate-cards/routes.js';
import { reportRoutes } from './modules/reports/routes.js';
import { stripeRoutes } from './modules/stripe/routes.js';
import { timeEntryRoutes } from './modules/time-entries/routes.js';
import { userRoutes } from './modules/users/routes.js';

/** Every resource's routes, in one place, so the route table is easy to read. */
export async function registerRoutes(app: FastifyInstance): Promise<void> {
  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(organisationRoutes);
  await app.register(userRoutes);
  await app.register(apiTokenRoutes);
  await app.register(contributorRoutes);
  await app.register(personalDataRoutes);
  await app.register(projectRoutes);
  await app.register(rateCardRoutes);
  await app.register(budgetRoutes);
  await app.register(ledgerRoutes);
  await app.register(timeEntryRoutes);
  await app.register(expenseRoutes);
  await app.register(balanceRoutes);
  await app.register(payoutRoutes);
  await app.register(payoutScheduleRoutes);
  await app.register(stripeRoutes);
  await app.register(reportRoutes);
  await app.register(auditRoutes);
  await app.register(notificationRoutes);
}
