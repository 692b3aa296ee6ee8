ALTER TABLE "expenses" ADD COLUMN "payout_item_id" uuid;--> statement-breakpoint
ALTER TABLE "time_entries" ADD COLUMN "payout_item_id" uuid;--> statement-breakpoint
CREATE INDEX "expenses_payout_item_idx" ON "expenses" USING btree ("organisation_id","payout_item_id");--> statement-breakpoint
CREATE INDEX "time_entries_payout_item_idx" ON "time_entries" USING btree ("organisation_id","payout_item_id");