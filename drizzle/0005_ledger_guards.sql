-- Balances stay within JavaScript's safe integers, like every other amount column, so an API
-- reading them as numbers never loses a penny.
ALTER TABLE "ledger_accounts" ADD CONSTRAINT "ledger_accounts_balance_range" CHECK (abs("balance") <= 9007199254740991);
--> statement-breakpoint
-- The cached balance is written only by the posting trigger (invariant 3): a direct UPDATE of
-- it, outside a trigger, is refused.
CREATE FUNCTION ledger_accounts_guard_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'ledger_accounts.balance is maintained from postings: direct change refused'
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER ledger_accounts_balance_guard
  BEFORE UPDATE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_accounts_guard_balance();
--> statement-breakpoint
CREATE TRIGGER ledger_accounts_no_delete
  BEFORE DELETE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
