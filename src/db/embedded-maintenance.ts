import type { PGlite } from '@electric-sql/pglite';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Autovacuum's work, for embedded PGlite.
 *
 * PGlite runs PostgreSQL in one process without its background workers, autovacuum among them,
 * and its table statistics are never even sent on to where autovacuum would read them. Two
 * things then go wrong as tables grow:
 *
 * - **Plans go stale.** A prepared statement (src/db/pglite-statements.ts) keeps the generic
 *   plan it was given while its tables were nearly empty, a sequential scan perhaps, until an
 *   ANALYZE of one of its tables makes PostgreSQL plan it again. Measured on an embedded
 *   database opened empty (bench/README.md, tenth round): 8.5 ms of CPU an approval over the
 *   first thousand, 15.8 ms over the eighth, and back to 6.2 ms after one ANALYZE.
 * - **Dead rows stay.** An update or delete leaves the old row behind until VACUUM; the job
 *   queue's tables, the purged idempotency keys and every approved time entry add them, and
 *   VACUUM is also what keeps transaction ids from running out.
 *
 * So every CHECK_EVERY_MS (five seconds) the service does what autovacuum would, by autovacuum's
 * own rules and settings (PostgreSQL's defaults: analyse a table once more than 50 + 10 % of its
 * rows changed since the last analyse; vacuum it once more than 50 + 20 % of its rows are dead,
 * or more than 1,000 + 20 % were inserted since the last vacuum). The check itself is two
 * statements, about 2 ms, so it runs far more often than autovacuum's minute: an embedded
 * database usually starts empty, and its tables grow fastest in its first minutes, when a plan
 * made for a table of a few rows is soon out of date.
 *
 * Each VACUUM or ANALYZE holds the one connection while it runs, as any statement does, so
 * requests wait for it; they go on between a pass's statements. Under the benchmark's load,
 * which grows every table by a tenth every few seconds, a pass over seven tables of 8,000 to
 * 16,000 rows took up to 260 ms in all, about 3 % of the time (bench/README.md, tenth round); a
 * database that grows at the pace of people's work is due far less often.
 */
export const CHECK_EVERY_MS = 5_000;

export interface MaintenancePass {
  /** Tables analysed (VACUUM (ANALYZE) or ANALYZE), as PostgreSQL names them. */
  analysed: string[];
  /** Tables vacuumed. */
  vacuumed: string[];
}

const DUE = `
  with settings as (
    select current_setting('autovacuum_vacuum_threshold')::float8 as vacuum_base,
           current_setting('autovacuum_vacuum_scale_factor')::float8 as vacuum_scale,
           current_setting('autovacuum_vacuum_insert_threshold')::float8 as insert_base,
           current_setting('autovacuum_vacuum_insert_scale_factor')::float8 as insert_scale,
           current_setting('autovacuum_analyze_threshold')::float8 as analyse_base,
           current_setting('autovacuum_analyze_scale_factor')::float8 as analyse_scale
  ), due as (
    select s.relid::regclass::text as name,
           s.n_dead_tup > vacuum_base + vacuum_scale * greatest(c.reltuples, 0)
             or (insert_base >= 0 and s.n_ins_since_vacuum > insert_base + insert_scale * greatest(c.reltuples, 0)) as vacuum_due,
           s.n_mod_since_analyze > analyse_base + analyse_scale * greatest(c.reltuples, 0) as analyse_due
      from pg_stat_user_tables s
      join pg_class c on c.oid = s.relid
     cross join settings
     where c.relpersistence = 'p'
  )
  select name, vacuum_due, analyse_due from due where vacuum_due or analyse_due order by name`;

/**
 * One pass: hands PostgreSQL the row counts kept in this process, then vacuums and analyses the
 * tables that autovacuum's rules say are due, one statement each.
 */
export async function maintainEmbedded(pglite: PGlite): Promise<MaintenancePass> {
  // Single-user PostgreSQL keeps its table counts pending until asked to pass them on; they
  // are passed on as this statement ends, so the next one reads them.
  await pglite.query('select pg_stat_force_next_flush()');
  const { rows } = await pglite.query<{ name: string; vacuum_due: boolean; analyse_due: boolean }>(DUE);
  const pass: MaintenancePass = { analysed: [], vacuumed: [] };
  for (const table of rows) {
    // The name is PostgreSQL's own rendering of the table (regclass), quoted where it needs to be.
    const { name, vacuum_due: vacuum, analyse_due: analyse } = table;
    await pglite.exec(vacuum ? (analyse ? `vacuum (analyze) ${name}` : `vacuum ${name}`) : `analyze ${name}`);
    if (vacuum) pass.vacuumed.push(name);
    if (analyse) pass.analysed.push(name);
  }
  return pass;
}

/**
 * Runs maintainEmbedded every `everyMs` while the server runs on PGlite, one pass at a time, and
 * logs what each pass did. Returns the stop, which waits for a pass under way.
 */
export function startEmbeddedMaintenance(pglite: PGlite, log: FastifyBaseLogger, everyMs = CHECK_EVERY_MS): () => Promise<void> {
  let running: Promise<void> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    const started = performance.now();
    running = maintainEmbedded(pglite)
      .then((pass) => {
        if (pass.analysed.length || pass.vacuumed.length) {
          log.info({ ...pass, ms: Math.round(performance.now() - started) }, 'embedded database maintained (what autovacuum does on PostgreSQL)');
        }
      })
      .catch((error: unknown) => {
        // A closed database (the server stopping) or a failed statement: the next pass tries again.
        if (!stopped) log.warn({ err: error }, 'embedded database maintenance failed; trying again at the next check');
      })
      .finally(() => {
        running = null;
      });
  }, everyMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

/** The server's maintenance of its embedded database: nothing on PostgreSQL, where autovacuum does it. */
async function embeddedMaintenancePlugin(app: FastifyInstance) {
  const pglite = app.database.kind === 'pglite' ? app.database.pglite : undefined;
  if (!pglite) return;
  let stop: (() => Promise<void>) | null = null;
  app.addHook('onReady', async () => {
    stop = startEmbeddedMaintenance(pglite, app.log);
  });
  app.addHook('onClose', async () => {
    await stop?.();
  });
}

export const embeddedMaintenance = fp(embeddedMaintenancePlugin, { name: 'embedded-maintenance', dependencies: ['database'] });
