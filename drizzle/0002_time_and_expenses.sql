CREATE TABLE "expenses" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"contributor_id" uuid NOT NULL,
	"budget_id" uuid NOT NULL,
	"category" text NOT NULL,
	"amount" bigint NOT NULL,
	"currency" text NOT NULL,
	"date" date NOT NULL,
	"receipt_reference" text,
	"note" text,
	"status" text DEFAULT 'submitted' NOT NULL,
	"submitted_by" text,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"rejection_reason" text,
	"reversed_by" text,
	"reversed_at" timestamp with time zone,
	"reversal_reason" text,
	"ledger_transaction_id" uuid,
	"reversal_transaction_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "expenses_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "expenses_amount_check" CHECK ("expenses"."amount" > 0 and "expenses"."amount" <= 9007199254740991),
	CONSTRAINT "expenses_status_check" CHECK ("expenses"."status" in ('submitted','approved','rejected','reversed'))
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"budget_id" uuid NOT NULL,
	"activity" text NOT NULL,
	"date" date NOT NULL,
	"minutes" integer NOT NULL,
	"note" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sessions_organisation_id_id_pk" PRIMARY KEY("organisation_id","id")
);
--> statement-breakpoint
CREATE TABLE "time_entries" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"contributor_id" uuid NOT NULL,
	"budget_id" uuid NOT NULL,
	"session_id" uuid,
	"activity" text NOT NULL,
	"date" date NOT NULL,
	"minutes" integer NOT NULL,
	"note" text,
	"status" text DEFAULT 'submitted' NOT NULL,
	"currency" text NOT NULL,
	"rate_card_version_id" uuid,
	"rate_card_version" integer,
	"value" bigint DEFAULT 0 NOT NULL,
	"amount" bigint DEFAULT 0 NOT NULL,
	"withheld" bigint DEFAULT 0 NOT NULL,
	"in_kind" boolean DEFAULT false NOT NULL,
	"declined" boolean DEFAULT false NOT NULL,
	"limit_outcome" text,
	"flagged" boolean DEFAULT false NOT NULL,
	"explanation" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"warnings" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"submitted_by" text,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"rejection_reason" text,
	"reversed_by" text,
	"reversed_at" timestamp with time zone,
	"reversal_reason" text,
	"ledger_transaction_id" uuid,
	"reversal_transaction_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "time_entries_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "time_entries_minutes_check" CHECK ("time_entries"."minutes" between 1 and 1440),
	CONSTRAINT "time_entries_amounts_check" CHECK ("time_entries"."value" between 0 and 9007199254740991 and "time_entries"."amount" between 0 and 9007199254740991 and "time_entries"."withheld" between 0 and 9007199254740991),
	CONSTRAINT "time_entries_status_check" CHECK ("time_entries"."status" in ('submitted','approved','rejected','reversed'))
);
--> statement-breakpoint
ALTER TABLE "expenses" ADD CONSTRAINT "expenses_organisation_id_contributor_id_contributors_organisation_id_id_fk" FOREIGN KEY ("organisation_id","contributor_id") REFERENCES "public"."contributors"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "expenses" ADD CONSTRAINT "expenses_organisation_id_budget_id_budgets_organisation_id_id_fk" FOREIGN KEY ("organisation_id","budget_id") REFERENCES "public"."budgets"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_organisation_id_budget_id_budgets_organisation_id_id_fk" FOREIGN KEY ("organisation_id","budget_id") REFERENCES "public"."budgets"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "time_entries" ADD CONSTRAINT "time_entries_organisation_id_contributor_id_contributors_organisation_id_id_fk" FOREIGN KEY ("organisation_id","contributor_id") REFERENCES "public"."contributors"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "time_entries" ADD CONSTRAINT "time_entries_organisation_id_budget_id_budgets_organisation_id_id_fk" FOREIGN KEY ("organisation_id","budget_id") REFERENCES "public"."budgets"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "time_entries" ADD CONSTRAINT "time_entries_organisation_id_session_id_sessions_organisation_id_id_fk" FOREIGN KEY ("organisation_id","session_id") REFERENCES "public"."sessions"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "expenses_contributor_idx" ON "expenses" USING btree ("organisation_id","contributor_id","date");--> statement-breakpoint
CREATE INDEX "expenses_budget_idx" ON "expenses" USING btree ("organisation_id","budget_id","date");--> statement-breakpoint
CREATE INDEX "time_entries_contributor_idx" ON "time_entries" USING btree ("organisation_id","contributor_id","date");--> statement-breakpoint
CREATE INDEX "time_entries_budget_idx" ON "time_entries" USING btree ("organisation_id","budget_id","date");--> statement-breakpoint
CREATE INDEX "time_entries_status_idx" ON "time_entries" USING btree ("organisation_id","status","id");