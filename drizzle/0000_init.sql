CREATE TABLE "api_tokens" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"token_hash" text NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_tokens_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "api_tokens_role_check" CHECK ("api_tokens"."role" in ('admin','finance','coordinator','participant','reporter'))
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"actor_type" text NOT NULL,
	"actor_id" text,
	"action" text NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"before" jsonb,
	"after" jsonb,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_events_organisation_id_id_pk" PRIMARY KEY("organisation_id","id")
);
--> statement-breakpoint
CREATE TABLE "budgets" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"name" text NOT NULL,
	"funder" text NOT NULL,
	"grant_reference" text NOT NULL,
	"currency" text NOT NULL,
	"amount" bigint NOT NULL,
	"starts_on" date NOT NULL,
	"ends_on" date NOT NULL,
	"rate_card_id" uuid NOT NULL,
	"allow_overspend" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "budgets_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "budgets_amount_check" CHECK ("budgets"."amount" >= 0 and "budgets"."amount" <= 9007199254740991),
	CONSTRAINT "budgets_currency_check" CHECK ("budgets"."currency" ~ '^[A-Z]{3}$'),
	CONSTRAINT "budgets_dates_check" CHECK ("budgets"."ends_on" >= "budgets"."starts_on")
);
--> statement-breakpoint
CREATE TABLE "contributors" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"name" text NOT NULL,
	"email" text,
	"kind" text NOT NULL,
	"payment_method" text NOT NULL,
	"limit_period" text,
	"limit_amount" bigint,
	"limit_period_start_day" integer,
	"limit_policy" text,
	"stripe_account_id" text,
	"stripe_payouts_enabled" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "contributors_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "contributors_kind_check" CHECK ("contributors"."kind" in ('lived_experience','carer','professional')),
	CONSTRAINT "contributors_method_check" CHECK ("contributors"."payment_method" in ('stripe','bank_transfer','voucher','declined')),
	CONSTRAINT "contributors_limit_check" CHECK (("contributors"."limit_period" is null and "contributors"."limit_amount" is null and "contributors"."limit_period_start_day" is null and "contributors"."limit_policy" is null)
       or ("contributors"."limit_amount" > 0 and "contributors"."limit_amount" <= 9007199254740991 and "contributors"."limit_policy" in ('block','split','warn')
           and (("contributors"."limit_period" = 'week' and "contributors"."limit_period_start_day" between 1 and 7)
             or ("contributors"."limit_period" = 'month' and "contributors"."limit_period_start_day" between 1 and 28))))
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"organisation_id" uuid NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"response_status" integer NOT NULL,
	"response_body" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_keys_organisation_id_key_pk" PRIMARY KEY("organisation_id","key")
);
--> statement-breakpoint
CREATE TABLE "ledger_accounts" (
	"organisation_id" uuid NOT NULL,
	"code" text NOT NULL,
	"currency" text NOT NULL,
	"type" text NOT NULL,
	"budget_id" uuid,
	"contributor_id" uuid,
	"component" text,
	"allow_negative" boolean DEFAULT false NOT NULL,
	"balance" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_accounts_organisation_id_code_currency_pk" PRIMARY KEY("organisation_id","code","currency"),
	CONSTRAINT "ledger_accounts_currency_check" CHECK ("ledger_accounts"."currency" ~ '^[A-Z]{3}$'),
	CONSTRAINT "ledger_accounts_non_negative" CHECK ("ledger_accounts"."allow_negative" or "ledger_accounts"."balance" >= 0)
);
--> statement-breakpoint
CREATE TABLE "ledger_postings" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"transaction_id" uuid NOT NULL,
	"account" text NOT NULL,
	"currency" text NOT NULL,
	"amount" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_postings_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "ledger_postings_amount_check" CHECK ("ledger_postings"."amount" <> 0 and abs("ledger_postings"."amount") <= 9007199254740991),
	CONSTRAINT "ledger_postings_currency_check" CHECK ("ledger_postings"."currency" ~ '^[A-Z]{3}$')
);
--> statement-breakpoint
CREATE TABLE "ledger_transactions" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"type" text NOT NULL,
	"reference_type" text NOT NULL,
	"reference_id" text NOT NULL,
	"reverses_transaction_id" uuid,
	"effective_date" date NOT NULL,
	"description" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_transactions_organisation_id_id_pk" PRIMARY KEY("organisation_id","id")
);
--> statement-breakpoint
CREATE TABLE "organisations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"owed_target_days" integer DEFAULT 14 NOT NULL,
	"pseudonym_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "projects" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "projects_organisation_id_id_pk" PRIMARY KEY("organisation_id","id")
);
--> statement-breakpoint
CREATE TABLE "rate_card_versions" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"rate_card_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"effective_from" date NOT NULL,
	"rates" jsonb NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rate_card_versions_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "rate_card_versions_version_check" CHECK ("rate_card_versions"."version" >= 1)
);
--> statement-breakpoint
CREATE TABLE "rate_cards" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"name" text NOT NULL,
	"currency" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rate_cards_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "rate_cards_currency_check" CHECK ("rate_cards"."currency" ~ '^[A-Z]{3}$')
);
--> statement-breakpoint
CREATE TABLE "users" (
	"organisation_id" uuid NOT NULL,
	"id" uuid NOT NULL,
	"email" text NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"contributor_id" uuid,
	"password_hash" text,
	"invite_token_hash" text,
	"invite_expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "users_organisation_id_id_pk" PRIMARY KEY("organisation_id","id"),
	CONSTRAINT "users_role_check" CHECK ("users"."role" in ('admin','finance','coordinator','participant','reporter')),
	CONSTRAINT "users_participant_has_contributor" CHECK ("users"."role" <> 'participant' or "users"."contributor_id" is not null)
);
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "budgets" ADD CONSTRAINT "budgets_organisation_id_project_id_projects_organisation_id_id_fk" FOREIGN KEY ("organisation_id","project_id") REFERENCES "public"."projects"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "budgets" ADD CONSTRAINT "budgets_organisation_id_rate_card_id_rate_cards_organisation_id_id_fk" FOREIGN KEY ("organisation_id","rate_card_id") REFERENCES "public"."rate_cards"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "contributors" ADD CONSTRAINT "contributors_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_accounts" ADD CONSTRAINT "ledger_accounts_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_postings" ADD CONSTRAINT "ledger_postings_organisation_id_transaction_id_ledger_transactions_organisation_id_id_fk" FOREIGN KEY ("organisation_id","transaction_id") REFERENCES "public"."ledger_transactions"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_postings" ADD CONSTRAINT "ledger_postings_organisation_id_account_currency_ledger_accounts_organisation_id_code_currency_fk" FOREIGN KEY ("organisation_id","account","currency") REFERENCES "public"."ledger_accounts"("organisation_id","code","currency") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_transactions" ADD CONSTRAINT "ledger_transactions_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_transactions" ADD CONSTRAINT "ledger_transactions_organisation_id_reverses_transaction_id_ledger_transactions_organisation_id_id_fk" FOREIGN KEY ("organisation_id","reverses_transaction_id") REFERENCES "public"."ledger_transactions"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "projects" ADD CONSTRAINT "projects_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rate_card_versions" ADD CONSTRAINT "rate_card_versions_organisation_id_rate_card_id_rate_cards_organisation_id_id_fk" FOREIGN KEY ("organisation_id","rate_card_id") REFERENCES "public"."rate_cards"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rate_cards" ADD CONSTRAINT "rate_cards_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_organisation_id_organisations_id_fk" FOREIGN KEY ("organisation_id") REFERENCES "public"."organisations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_organisation_id_contributor_id_contributors_organisation_id_id_fk" FOREIGN KEY ("organisation_id","contributor_id") REFERENCES "public"."contributors"("organisation_id","id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_tokens_hash_unique" ON "api_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "audit_events_entity_idx" ON "audit_events" USING btree ("organisation_id","entity_type","entity_id","id");--> statement-breakpoint
CREATE INDEX "budgets_project_idx" ON "budgets" USING btree ("organisation_id","project_id");--> statement-breakpoint
CREATE UNIQUE INDEX "contributors_stripe_account_unique" ON "contributors" USING btree ("stripe_account_id");--> statement-breakpoint
CREATE INDEX "idempotency_keys_created_idx" ON "idempotency_keys" USING btree ("organisation_id","created_at");--> statement-breakpoint
CREATE INDEX "ledger_accounts_contributor_idx" ON "ledger_accounts" USING btree ("organisation_id","contributor_id");--> statement-breakpoint
CREATE INDEX "ledger_accounts_budget_idx" ON "ledger_accounts" USING btree ("organisation_id","budget_id");--> statement-breakpoint
CREATE INDEX "ledger_postings_account_idx" ON "ledger_postings" USING btree ("organisation_id","account","currency","id");--> statement-breakpoint
CREATE INDEX "ledger_postings_transaction_idx" ON "ledger_postings" USING btree ("organisation_id","transaction_id");--> statement-breakpoint
CREATE INDEX "ledger_transactions_reference_idx" ON "ledger_transactions" USING btree ("organisation_id","reference_type","reference_id");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_transactions_reverses_unique" ON "ledger_transactions" USING btree ("organisation_id","reverses_transaction_id");--> statement-breakpoint
CREATE UNIQUE INDEX "rate_card_versions_number_unique" ON "rate_card_versions" USING btree ("organisation_id","rate_card_id","version");--> statement-breakpoint
CREATE UNIQUE INDEX "rate_card_versions_date_unique" ON "rate_card_versions" USING btree ("organisation_id","rate_card_id","effective_from");--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_unique" ON "users" USING btree (lower("email"));--> statement-breakpoint
CREATE UNIQUE INDEX "users_invite_token_unique" ON "users" USING btree ("invite_token_hash");