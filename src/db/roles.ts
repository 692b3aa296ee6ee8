import pg from 'pg';

/**
 * Least privilege on PostgreSQL. Migrations run as the owner of the tables
 * (MIGRATION_DATABASE_URL); the service runs as a role (DATABASE_URL) that may read and write
 * rows and nothing more: it cannot alter a table, disable the append-only triggers, truncate, or
 * even ask to update or delete the rows the ledger promises never change. Were the service's
 * credentials stolen, the books could still not be rewritten through them.
 */

/** Tables whose rows are written once and never changed or removed (see drizzle/0001, 0005). */
export const APPEND_ONLY_TABLES = ['ledger_postings', 'audit_events', 'earnings_limit_versions'] as const;

/** The schemas the service uses: its own tables and the job queue's. */
const SCHEMAS = ['public', 'pgboss'];

/**
 * Grants `role` what the service needs in the database `ownerUrl` points at, as its owner.
 * Idempotent: run after every migration, so tables added since are covered.
 */
export async function grantServiceRole(ownerUrl: string, role: string): Promise<void> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const name = client.escapeIdentifier(role);
    const schemas = SCHEMAS.map((s) => client.escapeIdentifier(s)).join(', ');
    await client.query('begin');
    await client.query(`grant usage on schema ${schemas} to ${name}`);
    await client.query(`grant select, insert, update, delete on all tables in schema ${schemas} to ${name}`);
    await client.query(`grant usage, select on all sequences in schema ${schemas} to ${name}`);
    // pg-boss's own functions (create_queue is a no-op for queues the owner already made).
    await client.query(`grant execute on all functions in schema pgboss to ${name}`);
    // Nothing beyond rows: no TRUNCATE, REFERENCES or TRIGGER, and no CREATE on the schemas.
    await client.query(`revoke truncate, references, trigger on all tables in schema ${schemas} from ${name}`);
    await client.query(`revoke create on schema ${schemas} from ${name}`);
    for (const table of APPEND_ONLY_TABLES) {
      await client.query(`revoke update, delete on ${client.escapeIdentifier(table)} from ${name}`);
    }
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

/** The role a connection string logs in as. */
export function roleOf(url: string): string {
  return decodeURIComponent(new URL(url).username) || process.env.PGUSER || process.env.USER || 'postgres';
}
