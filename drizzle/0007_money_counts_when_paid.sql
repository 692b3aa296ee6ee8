CREATE TABLE "earnings_limit_versions" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"contributor_id" uuid NOT NULL,
	"effective_from" date NOT NULL,
	"period" text,
	"amount" bigint,
	"period_start_day" integer,
	"policy" text,
	"preset" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "earnings_limit_versions_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "earnings_limit_versions_shape_check" CHECK (("earnings_limit_versions"."period" is null and "earnings_limit_versions"."amount" is null and "earnings_limit_versions"."period_start_day" is null and "earnings_limit_versions"."policy" is null and "earnings_limit_versions"."preset" is null)
       or ("earnings_limit_versions"."policy" in ('block','split','warn')
           and (("earnings_limit_versions"."preset" is null and "earnings_limit_versions"."amount" > 0 and "earnings_limit_versions"."amount" <= 9007199254740991)
             or ("earnings_limit_versions"."preset" = 'esa_permitted_work' and "earnings_limit_versions"."amount" is null and "earnings_limit_versions"."period" = 'week'))
           and (("earnings_limit_versions"."period" = 'week' and "earnings_limit_versions"."period_start_day" between 1 and 7)
             or ("earnings_limit_versions"."period" = 'month' and "earnings_limit_versions"."period_start_day" between 1 and 31))))
);
--> statement-breakpoint
CREATE TABLE "payout_item_work" (
	"organisation_id" uuid NOT NULL,
	"item_id" uuid NOT NULL,
	"work_type" text NOT NULL,
	"work_id" uuid NOT NULL,
	"budget_id" uuid NOT NULL,
	"amount" bigint NOT NULL,
	CONSTRAINT "payout_item_work_organisation_id_item_id_work_type_work_id_pk" PRIMARY KEY("organisation_id","item_id","work_type","work_id"),
	CONSTRAINT "payout_item_work_amount_check" CHECK ("payout_item_work"."amount" > 0 and "payout_item_work"."amount" <= 9007199254740991)
);
--> statement-breakpoint
ALTER TABLE "contributors" DROP CONSTRAINT "contributors_limit_check";--> statement-breakpoint
ALTER TABLE "expenses" ADD COLUMN "contributor_kind" text;--> statement-breakpoint
ALTER TABLE "payout_items" ADD COLUMN "earnings" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payout_items" ADD COLUMN "expenses" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payout_items" ADD COLUMN "carried_forward" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payout_items" ADD COLUMN "warnings" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "payout_items" ADD COLUMN "payment_date" date;--> statement-breakpoint
ALTER TABLE "time_entries" ADD COLUMN "contributor_kind" text;--> statement-breakpoint
ALTER TABLE "earnings_limit_versions" ADD CONSTRAINT "earnings_limit_versions_organisation_id_contributor_id_contributors_organisation_id_id_fk" FOREIGN KEY ("organisation_id","contributor_id") REFERENCES "public"."contributors"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "payout_item_work" ADD CONSTRAINT "payout_item_work_organisation_id_item_id_payout_items_organisation_id_id_fk" FOREIGN KEY ("organisation_id","item_id") REFERENCES "public"."payout_items"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "earnings_limit_versions_contributor_idx" ON "earnings_limit_versions" USING btree ("organisation_id","contributor_id","effective_from");--> statement-breakpoint
CREATE INDEX "payout_item_work_work_idx" ON "payout_item_work" USING btree ("organisation_id","work_type","work_id");--> statement-breakpoint
CREATE INDEX "payout_items_payment_date_idx" ON "payout_items" USING btree ("organisation_id","contributor_id","payment_date");--> statement-breakpoint
-- Data: each contributor's limit becomes its first dated version, in force from the day the
-- contributor was created (UK date), so payments already made are judged as they were.
INSERT INTO "earnings_limit_versions" ("organisation_id", "id", "contributor_id", "effective_from", "period", "amount", "period_start_day", "policy", "created_by")
SELECT "organisation_id", gen_random_uuid(), "id", ("created_at" AT TIME ZONE 'Europe/London')::date, "limit_period", "limit_amount", "limit_period_start_day", "limit_policy", 'migration'
  FROM "contributors" WHERE "limit_period" IS NOT NULL;--> statement-breakpoint
-- A limit's history is never rewritten: a change is a new version.
CREATE TRIGGER earnings_limit_versions_immutable
  BEFORE UPDATE OR DELETE ON earnings_limit_versions
  FOR EACH ROW EXECUTE FUNCTION refuse_change();--> statement-breakpoint
-- Data: items' earnings and expenses from their lines, and the UK date their money counts on.
UPDATE "payout_items" i SET
  "earnings" = coalesce((SELECT sum(l."amount") FROM "payout_item_lines" l WHERE l."organisation_id" = i."organisation_id" AND l."item_id" = i."id" AND l."component" = 'earnings'), 0),
  "expenses" = coalesce((SELECT sum(l."amount") FROM "payout_item_lines" l WHERE l."organisation_id" = i."organisation_id" AND l."item_id" = i."id" AND l."component" = 'expenses'), 0),
  "payment_date" = (coalesce(i."paid_at", (SELECT coalesce(r."approved_at", r."created_at") FROM "payout_runs" r WHERE r."organisation_id" = i."organisation_id" AND r."id" = i."run_id")) AT TIME ZONE 'Europe/London')::date;--> statement-breakpoint
-- Data: work linked to an item was paid whole by it.
INSERT INTO "payout_item_work" ("organisation_id", "item_id", "work_type", "work_id", "budget_id", "amount")
SELECT "organisation_id", "payout_item_id", 'time_entry', "id", "budget_id", "amount" FROM "time_entries" WHERE "payout_item_id" IS NOT NULL AND "amount" > 0
UNION ALL
SELECT "organisation_id", "payout_item_id", 'expense', "id", "budget_id", "amount" FROM "expenses" WHERE "payout_item_id" IS NOT NULL AND "amount" > 0;--> statement-breakpoint
-- Data: approved work keeps the kind its contributor had (the best record there is of it).
UPDATE "time_entries" w SET "contributor_kind" = c."kind" FROM "contributors" c
 WHERE c."organisation_id" = w."organisation_id" AND c."id" = w."contributor_id" AND w."status" IN ('approved', 'reversed');--> statement-breakpoint
UPDATE "expenses" w SET "contributor_kind" = c."kind" FROM "contributors" c
 WHERE c."organisation_id" = w."organisation_id" AND c."id" = w."contributor_id" AND w."status" IN ('approved', 'reversed');--> statement-breakpoint
ALTER TABLE "contributors" DROP COLUMN "limit_period";--> statement-breakpoint
ALTER TABLE "contributors" DROP COLUMN "limit_amount";--> statement-breakpoint
ALTER TABLE "contributors" DROP COLUMN "limit_period_start_day";--> statement-breakpoint
ALTER TABLE "contributors" DROP COLUMN "limit_policy";--> statement-breakpoint
ALTER TABLE "payout_items" ADD CONSTRAINT "payout_items_parts_check" CHECK ("payout_items"."earnings" >= 0 and "payout_items"."expenses" >= 0 and "payout_items"."carried_forward" >= 0 and "payout_items"."carried_forward" <= 9007199254740991);