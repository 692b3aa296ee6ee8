CREATE TABLE "notifications" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"user_id" uuid,
	"contributor_id" uuid,
	"kind" text NOT NULL,
	"to_address" text NOT NULL,
	"link" text NOT NULL,
	"data" jsonb NOT NULL,
	"dedupe_key" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"claimed_until" timestamp with time zone,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	CONSTRAINT "notifications_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "notifications_status_check" CHECK ("notifications"."status" in ('queued','sent','failed'))
);
--> statement-breakpoint
CREATE TABLE "payout_schedule_slots" (
	"organisation_id" uuid NOT NULL,
	"slot" timestamp with time zone NOT NULL,
	"run_ids" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payout_schedule_slots_organisation_id_slot_pk" PRIMARY KEY("organisation_id","slot")
);
--> statement-breakpoint
CREATE TABLE "payout_schedules" (
	"organisation_id" uuid PRIMARY KEY NOT NULL,
	"cadence" text NOT NULL,
	"weekday" integer,
	"time" text NOT NULL,
	"methods" jsonb,
	"updated_by" text NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payout_schedules_cadence_check" CHECK ("payout_schedules"."cadence" in ('daily','weekly')),
	CONSTRAINT "payout_schedules_weekday_check" CHECK (("payout_schedules"."cadence" = 'daily' and "payout_schedules"."weekday" is null) or ("payout_schedules"."cadence" = 'weekly' and "payout_schedules"."weekday" between 1 and 7)),
	CONSTRAINT "payout_schedules_time_check" CHECK ("payout_schedules"."time" ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$')
);
--> statement-breakpoint
ALTER TABLE "contributors" ADD COLUMN "payout_details_changed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "organisations" ADD COLUMN "settings" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "notification_preferences" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "payout_schedules" ADD CONSTRAINT "payout_schedules_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "notifications_dedupe_unique" ON "notifications" USING btree ("organisation_id","dedupe_key");--> statement-breakpoint
CREATE INDEX "notifications_user_idx" ON "notifications" USING btree ("organisation_id","user_id","id");--> statement-breakpoint
CREATE INDEX "notifications_queued_idx" ON "notifications" USING btree ("created_at") WHERE "notifications"."status" = 'queued';