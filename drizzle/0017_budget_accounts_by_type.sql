DROP INDEX "ledger_accounts_budget_idx";--> statement-breakpoint
CREATE INDEX "ledger_accounts_budget_idx" ON "ledger_accounts" USING btree ("organisation_id","budget_id","type");