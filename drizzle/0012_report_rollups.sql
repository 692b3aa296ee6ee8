CREATE TABLE "report_work_months" (
	"organisation_id" uuid NOT NULL,
	"currency" text NOT NULL,
	"budget_id" uuid NOT NULL,
	"contributor_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"month" date NOT NULL,
	"time_entries" integer DEFAULT 0 NOT NULL,
	"minutes" bigint DEFAULT 0 NOT NULL,
	"paid_minutes" bigint DEFAULT 0 NOT NULL,
	"earned" bigint DEFAULT 0 NOT NULL,
	"in_kind" bigint DEFAULT 0 NOT NULL,
	"declined" bigint DEFAULT 0 NOT NULL,
	"expense_count" integer DEFAULT 0 NOT NULL,
	"expenses" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "report_work_months_organisation_id_currency_budget_id_contributor_id_kind_month_pk" PRIMARY KEY("organisation_id","currency","budget_id","contributor_id","kind","month")
);
--> statement-breakpoint
-- Every approval updates a row in place: with room left on each page the update stays on it
-- (a HOT update, no new index entry) and the old version is pruned there, so the table keeps
-- the size of its rows rather than growing with the number of approvals.
ALTER TABLE "report_work_months" SET (fillfactor = 50);
--> statement-breakpoint
-- Adds one piece of work's figures (sign 1) or takes them away (sign -1) under its key, and drops
-- the row once no approved work is left under it. INSERT ... ON CONFLICT DO UPDATE adds to what
-- is there, so two approvals committing at once both count.
CREATE FUNCTION report_work_months_add(
  o uuid, cur text, b uuid, c uuid, k text, d date,
  n_entries integer, n_minutes bigint, n_paid_minutes bigint, n_earned bigint, n_in_kind bigint, n_declined bigint,
  n_expense_count integer, n_expenses bigint
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m date := d - extract(day from d)::integer + 1;
BEGIN
  INSERT INTO report_work_months AS r
    (organisation_id, currency, budget_id, contributor_id, kind, month,
     time_entries, minutes, paid_minutes, earned, in_kind, declined, expense_count, expenses)
  VALUES (o, cur, b, c, coalesce(k, ''), m,
          n_entries, n_minutes, n_paid_minutes, n_earned, n_in_kind, n_declined, n_expense_count, n_expenses)
  ON CONFLICT (organisation_id, currency, budget_id, contributor_id, kind, month) DO UPDATE SET
    time_entries = r.time_entries + excluded.time_entries,
    minutes = r.minutes + excluded.minutes,
    paid_minutes = r.paid_minutes + excluded.paid_minutes,
    earned = r.earned + excluded.earned,
    in_kind = r.in_kind + excluded.in_kind,
    declined = r.declined + excluded.declined,
    expense_count = r.expense_count + excluded.expense_count,
    expenses = r.expenses + excluded.expenses;
  IF n_entries < 0 OR n_expense_count < 0 THEN
    DELETE FROM report_work_months
     WHERE organisation_id = o AND currency = cur AND budget_id = b AND contributor_id = c
       AND kind = coalesce(k, '') AND month = m AND time_entries = 0 AND expense_count = 0;
  END IF;
END $$;
--> statement-breakpoint
CREATE FUNCTION time_entries_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.status = 'approved' THEN
    PERFORM report_work_months_add(OLD.organisation_id, OLD.currency, OLD.budget_id, OLD.contributor_id, OLD.contributor_kind, OLD.date,
      -1, -OLD.minutes::bigint, -(CASE WHEN OLD.in_kind OR OLD.declined THEN 0 ELSE OLD.minutes END)::bigint, -OLD.amount,
      -(CASE WHEN OLD.in_kind THEN OLD.value ELSE 0 END), -(CASE WHEN OLD.declined THEN OLD.value ELSE 0 END), 0, 0);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = 'approved' THEN
    PERFORM report_work_months_add(NEW.organisation_id, NEW.currency, NEW.budget_id, NEW.contributor_id, NEW.contributor_kind, NEW.date,
      1, NEW.minutes::bigint, (CASE WHEN NEW.in_kind OR NEW.declined THEN 0 ELSE NEW.minutes END)::bigint, NEW.amount,
      CASE WHEN NEW.in_kind THEN NEW.value ELSE 0 END, CASE WHEN NEW.declined THEN NEW.value ELSE 0 END, 0, 0);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION expenses_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.status = 'approved' THEN
    PERFORM report_work_months_add(OLD.organisation_id, OLD.currency, OLD.budget_id, OLD.contributor_id, OLD.contributor_kind, OLD.date,
      0, 0, 0, 0, 0, 0, -1, -OLD.amount);
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.status = 'approved' THEN
    PERFORM report_work_months_add(NEW.organisation_id, NEW.currency, NEW.budget_id, NEW.contributor_id, NEW.contributor_kind, NEW.date,
      0, 0, 0, 0, 0, 0, 1, NEW.amount);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER time_entries_rollup AFTER INSERT OR DELETE ON time_entries FOR EACH ROW EXECUTE FUNCTION time_entries_rollup();
--> statement-breakpoint
-- An update touches the rollup only when approved work changes a figure or a key (approval,
-- reversal, or a correction of approved work), not for a note or a payout link.
CREATE TRIGGER time_entries_rollup_update AFTER UPDATE ON time_entries FOR EACH ROW
  WHEN ((OLD.status = 'approved' OR NEW.status = 'approved') AND
        (OLD.status, OLD.organisation_id, OLD.currency, OLD.budget_id, OLD.contributor_id, OLD.contributor_kind, OLD.date,
         OLD.minutes, OLD.amount, OLD.value, OLD.in_kind, OLD.declined)
        IS DISTINCT FROM
        (NEW.status, NEW.organisation_id, NEW.currency, NEW.budget_id, NEW.contributor_id, NEW.contributor_kind, NEW.date,
         NEW.minutes, NEW.amount, NEW.value, NEW.in_kind, NEW.declined))
  EXECUTE FUNCTION time_entries_rollup();
--> statement-breakpoint
CREATE TRIGGER expenses_rollup AFTER INSERT OR DELETE ON expenses FOR EACH ROW EXECUTE FUNCTION expenses_rollup();
--> statement-breakpoint
CREATE TRIGGER expenses_rollup_update AFTER UPDATE ON expenses FOR EACH ROW
  WHEN ((OLD.status = 'approved' OR NEW.status = 'approved') AND
        (OLD.status, OLD.organisation_id, OLD.currency, OLD.budget_id, OLD.contributor_id, OLD.contributor_kind, OLD.date, OLD.amount)
        IS DISTINCT FROM
        (NEW.status, NEW.organisation_id, NEW.currency, NEW.budget_id, NEW.contributor_id, NEW.contributor_kind, NEW.date, NEW.amount))
  EXECUTE FUNCTION expenses_rollup();
--> statement-breakpoint
-- Filled from the work already approved.
INSERT INTO report_work_months
  (organisation_id, currency, budget_id, contributor_id, kind, month,
   time_entries, minutes, paid_minutes, earned, in_kind, declined, expense_count, expenses)
SELECT organisation_id, currency, budget_id, contributor_id, kind, month,
       sum(time_entries), sum(minutes), sum(paid_minutes), sum(earned), sum(in_kind), sum(declined), sum(expense_count), sum(expenses)
  FROM (
    SELECT organisation_id, currency, budget_id, contributor_id, coalesce(contributor_kind, '') AS kind,
           date - extract(day from date)::integer + 1 AS month,
           1 AS time_entries, minutes::bigint AS minutes,
           (CASE WHEN in_kind OR declined THEN 0 ELSE minutes END)::bigint AS paid_minutes, amount AS earned,
           CASE WHEN in_kind THEN value ELSE 0 END AS in_kind, CASE WHEN declined THEN value ELSE 0 END AS declined,
           0 AS expense_count, 0::bigint AS expenses
      FROM time_entries WHERE status = 'approved'
    UNION ALL
    SELECT organisation_id, currency, budget_id, contributor_id, coalesce(contributor_kind, ''),
           date - extract(day from date)::integer + 1, 0, 0, 0, 0, 0, 0, 1, amount
      FROM expenses WHERE status = 'approved'
  ) x
 GROUP BY organisation_id, currency, budget_id, contributor_id, kind, month;
--> statement-breakpoint
-- Statistics at once: reports join the rollup to the paid accounts, and without them the planner
-- takes it for a few rows until autovacuum's first ANALYZE.
ANALYZE report_work_months;
