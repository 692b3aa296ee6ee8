ALTER TABLE "contributors" ADD COLUMN "erased_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "time_entries" ADD COLUMN "possible_duplicate_of" uuid;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "erased_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "contributors_email_idx" ON "contributors" USING btree ("organisation_id",lower("email"));--> statement-breakpoint
-- Audit history keeps ids, not personal data (see src/lib/audit.ts for why): strip the personal
-- fields that earlier versions copied into audit snapshots (text only: a user's `email` object
-- of notification preferences is not an address). The append-only trigger is lifted for these
-- statements of this one migration, inside its transaction, and put straight back.
CREATE FUNCTION pg_temp.without_personal(snapshot jsonb, fields text[]) RETURNS jsonb LANGUAGE sql AS $$
  SELECT CASE WHEN snapshot IS NULL OR jsonb_typeof(snapshot) <> 'object' THEN snapshot ELSE (
    SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb) FROM jsonb_each(snapshot)
    WHERE NOT (key = ANY(fields) AND jsonb_typeof(value) NOT IN ('object', 'array'))
  ) END
$$;--> statement-breakpoint
ALTER TABLE "audit_events" DISABLE TRIGGER "audit_events_append_only";--> statement-breakpoint
UPDATE "audit_events" SET
  "before" = pg_temp.without_personal("before", fields),
  "after" = pg_temp.without_personal("after", fields)
FROM (VALUES
  ('contributor', ARRAY['name', 'email', 'stripeAccountId']),
  ('user', ARRAY['name', 'email']),
  ('time_entry', ARRAY['note']),
  ('expense', ARRAY['note', 'receiptReference']),
  ('session', ARRAY['note']),
  ('payout_item', ARRAY['reference', 'failureReason', 'lastError'])
) AS personal(entity_type, fields)
WHERE "audit_events"."entity_type" = personal.entity_type;--> statement-breakpoint
ALTER TABLE "audit_events" ENABLE TRIGGER "audit_events_append_only";--> statement-breakpoint
-- A failed payout's ledger transaction carried the reason as its description: finance's words or
-- Stripe's message, either of which can name the person. The reason stays on the payout item.
ALTER TABLE "ledger_transactions" DISABLE TRIGGER "ledger_transactions_append_only";--> statement-breakpoint
UPDATE "ledger_transactions" SET "description" = 'Payout item failed: its money is owed again' WHERE "type" = 'payout_failed';--> statement-breakpoint
ALTER TABLE "ledger_transactions" ENABLE TRIGGER "ledger_transactions_append_only";
