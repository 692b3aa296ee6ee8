-- Runs once, when the PostgreSQL container first creates its data directory.
-- `ledger` (POSTGRES_USER) owns the tables and runs the migrations; the API connects as
-- `ledger_app`, which the API's start grants rows only (src/db/roles.ts): it cannot alter or
-- truncate tables, disable the ledger's triggers, or update and delete postings or the audit.
-- Change the password for anything but a local trial.
CREATE ROLE ledger_app LOGIN PASSWORD 'ledger_app';
