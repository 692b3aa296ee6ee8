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
 * own rules and settings (see DUE; with PostgreSQL's defaults: analyse a table once more than
 * 50 + 10 % of its rows changed since the last analyse; vacuum it once more than 50 + 20 % of its
 * rows are dead, more than 1,000 + 20 % of its unfrozen part were inserted since the last vacuum,
 * or its oldest transaction id is 200 million transactions old). The check itself is two
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
  /** Tables whose statement failed, with the error; the pass went on to the rest, and the next retries them. */
  failed: { table: string; error: unknown }[];
}

/**
 * The tables due, by PostgreSQL 18's relation_needs_vacanalyze (the version PGlite 0.5 runs): a
 * table is vacuumed when its dead rows pass the vacuum threshold (at most
 * autovacuum_vacuum_max_threshold), when the rows inserted since its last vacuum pass the insert
 * threshold (scaled by the part of the table not yet frozen), or always when its oldest
 * transaction or multixact id is older than autovacuum's freeze ages; it is analysed when the
 * rows changed since its last analyse pass the analyse threshold. A table that was never
 * analysed counts as empty; one with autovacuum_enabled off is only vacuumed against wraparound,
 * as autovacuum does. Like autovacuum, it looks at tables and materialised views only, not at a
 * partitioned table (its partitions are tables of their own, and it has no transaction id to age:
 * its relfrozenxid is 0, which age() reads as 2^31 - 1), and only at normal transaction ids.
 * Other per-table autovacuum settings are not read: the service sets none.
 */
const DUE = `
  with settings as (
    select current_setting('autovacuum_vacuum_threshold')::float8 as vacuum_base,
           current_setting('autovacuum_vacuum_scale_factor')::float8 as vacuum_scale,
           current_setting('autovacuum_vacuum_max_threshold')::float8 as vacuum_max,
           current_setting('autovacuum_vacuum_insert_threshold')::float8 as insert_base,
           current_setting('autovacuum_vacuum_insert_scale_factor')::float8 as insert_scale,
           current_setting('autovacuum_analyze_threshold')::float8 as analyse_base,
           current_setting('autovacuum_analyze_scale_factor')::float8 as analyse_scale,
           current_setting('autovacuum_freeze_max_age')::float8 as freeze_max_age,
           current_setting('autovacuum_multixact_freeze_max_age')::float8 as multixact_freeze_max_age
  ), tables as (
    select s.relid::regclass::text as name, s.n_dead_tup, s.n_ins_since_vacuum, s.n_mod_since_analyze, settings.*,
           greatest(c.reltuples, 0) as reltuples,
           case when c.relpages > 0 and c.relallfrozen > 0 then 1 - least(c.relallfrozen, c.relpages)::float8 / c.relpages else 1 end as unfrozen,
           (c.relfrozenxid::text::bigint >= 3 and age(c.relfrozenxid) > freeze_max_age)
             or (c.relminmxid::text::bigint <> 0 and mxid_age(c.relminmxid) > multixact_freeze_max_age) as wraparound,
           coalesce((select o.option_value::bool from pg_options_to_table(c.reloptions) o where o.option_name = 'autovacuum_enabled'), true) as enabled
      from pg_stat_user_tables s
      join pg_class c on c.oid = s.relid
     cross join settings
     where c.relkind in ('r', 'm') and c.relpersistence <> 't'
  ), due as (
    select name,
           wraparound or (enabled and (
             n_dead_tup > case when vacuum_max >= 0 then least(vacuum_base + vacuum_scale * reltuples, vacuum_max) else vacuum_base + vacuum_scale * reltuples end
             or (insert_base >= 0 and n_ins_since_vacuum > insert_base + insert_scale * reltuples * unfrozen))) as vacuum_due,
           (enabled or wraparound) and n_mod_since_analyze > analyse_base + analyse_scale * reltuples as analyse_due
      from tables
  )
  select name, vacuum_due, analyse_due from due where vacuum_due or analyse_due order by name`;

/**
 * One pass: hands PostgreSQL the row counts kept in this process, then vacuums and analyses the
 * tables that autovacuum's rules say are due, one statement each, until `stopping()` says to
 * stop. A table whose statement fails is reported in `failed`, and the others are still done.
 */
export async function maintainEmbedded(pglite: Pick<PGlite, 'query' | 'exec'>, stopping: () => boolean = () => false): Promise<MaintenancePass> {
  // Single-user PostgreSQL keeps its table counts pending until asked to pass them on; they
  // are passed on as this statement ends, so the next one reads them.
  await pglite.query('select pg_stat_force_next_flush()');
  const { rows } = await pglite.query<{ name: string; vacuum_due: boolean; analyse_due: boolean }>(DUE);
  const pass: MaintenancePass = { analysed: [], vacuumed: [], failed: [] };
  for (const table of rows) {
    if (stopping()) break;
    // The name is PostgreSQL's own rendering of the table (regclass), quoted where it needs to be.
    const { name, vacuum_due: vacuum, analyse_due: analyse } = table;
    try {
      await pglite.exec(vacuum ? (analyse ? `vacuum (analyze) ${name}` : `vacuum ${name}`) : `analyze ${name}`);
    } catch (error) {
      pass.failed.push({ table: name, error });
      continue;
    }
    if (vacuum) pass.vacuumed.push(name);
    if (analyse) pass.analysed.push(name);
  }
  return pass;
}

/**
 * Runs maintainEmbedded every `everyMs` while the server runs on PGlite, one pass at a time, and
 * logs what each pass did. Returns the stop, which ends a pass under way after its current
 * statement and waits for that.
 */
export function startEmbeddedMaintenance(pglite: Pick<PGlite, 'query' | 'exec'>, log: FastifyBaseLogger, everyMs = CHECK_EVERY_MS): () => Promise<void> {
  let running: Promise<void> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    const started = performance.now();
    running = maintainEmbedded(pglite, () => stopped)
      .then(({ analysed, vacuumed, failed }) => {
        if (analysed.length || vacuumed.length) {
          log.info({ analysed, vacuumed, ms: Math.round(performance.now() - started) }, 'embedded database maintained (what autovacuum does on PostgreSQL)');
        }
        for (const { table, error } of failed) {
          log.warn({ err: error, table }, 'embedded database maintenance of a table failed; trying again at the next check');
        }
      })
      .catch((error: unknown) => {
        // The check itself failed: a closed database (the server stopping), or the next pass tries again.
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
