ALTER TABLE "contributors" ADD COLUMN "erased_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "time_entries" ADD COLUMN "possible_duplicate_of" uuid;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "erased_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "contributors_email_idx" ON "contributors" USING btree ("organisation_id",lower("email"));--> statement-breakpoint
-- Audit history keeps ids, not personal data (see src/lib/audit.ts for why): strip the personal
-- fields that earlier versions copied into audit snapshots. The append-only trigger is lifted for
-- these statements of this one migration, inside its transaction, and put straight back.
ALTER TABLE "audit_events" DISABLE TRIGGER "audit_events_append_only";--> statement-breakpoint
UPDATE "audit_events"
SET "before" = CASE WHEN jsonb_typeof("before") = 'object' THEN "before" - 'name' - 'email' - 'stripeAccountId' ELSE "before" END,
    "after" = CASE WHEN jsonb_typeof("after") = 'object' THEN "after" - 'name' - 'email' - 'stripeAccountId' ELSE "after" END
WHERE "entity_type" IN ('contributor', 'user');--> statement-breakpoint
UPDATE "audit_events"
SET "before" = CASE WHEN jsonb_typeof("before") = 'object' THEN "before" - 'note' ELSE "before" END,
    "after" = CASE WHEN jsonb_typeof("after") = 'object' THEN "after" - 'note' ELSE "after" END
WHERE "entity_type" IN ('time_entry', 'expense', 'session');--> statement-breakpoint
ALTER TABLE "audit_events" ENABLE TRIGGER "audit_events_append_only";
