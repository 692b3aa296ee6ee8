DROP INDEX "ledger_transactions_reference_idx";--> statement-breakpoint
DROP INDEX "ledger_transactions_reverses_unique";--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_transactions_reverses_unique" ON "ledger_transactions" USING btree ("organisation_id","reverses_transaction_id") WHERE "ledger_transactions"."reverses_transaction_id" is not null;