-- The distribution report reads one type of a budget's accounts (its contributors' paid
-- accounts, a third of them): with the type in the budget's index it no longer fetches the rest.
-- Replaced rather than joined by a second index, so creating an account writes no more entries.
-- The table is locked while the index is rebuilt: well under a second at tens of thousands of
-- accounts (docs/operations.md, "Migrations that rebuild an index").
DROP INDEX "ledger_accounts_budget_idx";--> statement-breakpoint
CREATE INDEX "ledger_accounts_budget_idx" ON "ledger_accounts" USING btree ("organisation_id","budget_id","type");