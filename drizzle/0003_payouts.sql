CREATE TABLE "payout_item_lines" (
	"organisation_id" uuid NOT NULL,
	"item_id" uuid NOT NULL,
	"budget_id" uuid NOT NULL,
	"component" text NOT NULL,
	"amount" bigint NOT NULL,
	CONSTRAINT "payout_item_lines_organisation_id_item_id_budget_id_component_pk" PRIMARY KEY("organisation_id","item_id","budget_id","component"),
	CONSTRAINT "payout_item_lines_amount_check" CHECK ("payout_item_lines"."amount" > 0 and "payout_item_lines"."amount" <= 9007199254740991)
);
--> statement-breakpoint
CREATE TABLE "payout_items" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"run_id" uuid NOT NULL,
	"contributor_id" uuid NOT NULL,
	"currency" text NOT NULL,
	"amount" bigint NOT NULL,
	"method" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"stripe_account_id" text,
	"stripe_transfer_id" text,
	"reversed_amount" bigint DEFAULT 0 NOT NULL,
	"bank_payout_status" text,
	"reference" text,
	"failure_reason" text,
	"last_error" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"paid_at" timestamp with time zone,
	"failed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payout_items_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "payout_items_amount_check" CHECK ("payout_items"."amount" > 0 and "payout_items"."amount" <= 9007199254740991),
	CONSTRAINT "payout_items_status_check" CHECK ("payout_items"."status" in ('pending','processing','paid','failed','canceled'))
);
--> statement-breakpoint
CREATE TABLE "payout_runs" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"currency" text NOT NULL,
	"budget_id" uuid,
	"status" text DEFAULT 'draft' NOT NULL,
	"total" bigint NOT NULL,
	"filters" jsonb NOT NULL,
	"skipped" jsonb NOT NULL,
	"created_by" text NOT NULL,
	"approved_by" text,
	"approved_at" timestamp with time zone,
	"canceled_by" text,
	"canceled_at" timestamp with time zone,
	"ledger_transaction_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payout_runs_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "payout_runs_total_check" CHECK ("payout_runs"."total" >= 0 and "payout_runs"."total" <= 9007199254740991)
);
--> statement-breakpoint
CREATE TABLE "stripe_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"organisation_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "contributors" ADD COLUMN "stripe_account_updated_at" integer;--> statement-breakpoint
ALTER TABLE "contributors" ADD COLUMN "stripe_payout_failure" text;--> statement-breakpoint
ALTER TABLE "payout_item_lines" ADD CONSTRAINT "payout_item_lines_organisation_id_item_id_payout_items_organisation_id_id_fk" FOREIGN KEY ("organisation_id","item_id") REFERENCES "public"."payout_items"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "payout_items" ADD CONSTRAINT "payout_items_organisation_id_run_id_payout_runs_organisation_id_id_fk" FOREIGN KEY ("organisation_id","run_id") REFERENCES "public"."payout_runs"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "payout_items" ADD CONSTRAINT "payout_items_organisation_id_contributor_id_contributors_organisation_id_id_fk" FOREIGN KEY ("organisation_id","contributor_id") REFERENCES "public"."contributors"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "payout_items_run_idx" ON "payout_items" USING btree ("organisation_id","run_id");--> statement-breakpoint
CREATE INDEX "payout_items_contributor_idx" ON "payout_items" USING btree ("organisation_id","contributor_id");--> statement-breakpoint
CREATE INDEX "payout_items_status_idx" ON "payout_items" USING btree ("organisation_id","status","method");--> statement-breakpoint
CREATE UNIQUE INDEX "payout_items_transfer_unique" ON "payout_items" USING btree ("stripe_transfer_id");--> statement-breakpoint
CREATE INDEX "payout_runs_status_idx" ON "payout_runs" USING btree ("organisation_id","status","id");