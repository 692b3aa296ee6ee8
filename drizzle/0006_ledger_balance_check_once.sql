-- Invariant 1 (every transaction balances per currency) was checked once per posting: at commit,
-- each posting's deferred trigger summed every posting of its transaction, so a transaction of n
-- postings cost n² row reads (a payout run of 10,000 people: 20,000 postings, 400 million reads).
-- Now the first deferred check of a transaction records, for the rest of the database
-- transaction, that it was found balanced, and the checks of its other postings return at once.
-- Any later posting into the same ledger transaction (possible only after SET CONSTRAINTS ...
-- IMMEDIATE) clears the mark in the posting trigger, so its own deferred check sums again.
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  unbalanced record;
BEGIN
  IF current_setting('ledger.balanced_transaction', true) = NEW.transaction_id::text THEN
    RETURN NULL;
  END IF;
  SELECT currency, sum(amount) AS total INTO unbalanced
    FROM ledger_postings
   WHERE organisation_id = NEW.organisation_id AND transaction_id = NEW.transaction_id
   GROUP BY currency
  HAVING sum(amount) <> 0
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in %: %', NEW.transaction_id, unbalanced.currency, unbalanced.total
      USING ERRCODE = 'check_violation';
  END IF;
  PERFORM set_config('ledger.balanced_transaction', NEW.transaction_id::text, true);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION ledger_apply_posting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('ledger.balanced_transaction', true) = NEW.transaction_id::text THEN
    PERFORM set_config('ledger.balanced_transaction', '', true);
  END IF;
  UPDATE ledger_accounts
     SET balance = balance + NEW.amount
   WHERE organisation_id = NEW.organisation_id AND code = NEW.account AND currency = NEW.currency;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ledger account % (%) does not exist', NEW.account, NEW.currency
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END;
$$;
