/**
 * Where the time goes during a load phase: CPU seconds of the service process, of PostgreSQL
 * working for the benchmark's database (its backends, plus the server's background writers),
 * of the benchmark itself (the load generator), and of everything else on the machine (other
 * databases' backends, other programs: on a shared machine they compete for the same cores);
 * plus the WAL PostgreSQL wrote and the transactions it committed, per operation.
 *
 * PostgreSQL processes are sampled every 200 ms, so a backend that exits during the phase still
 * counts up to its last sample.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { CLOCK_TICKS, cpuSeconds } from './proc.js';
import type { Sql } from './seed.js';

export interface ProbeResult {
  wallSeconds: number;
  /** CPU cores busy on average: 2 means both cores of a 2-core machine. */
  cores: { machine: number; service: number; postgres: number; loadGenerator: number; otherDatabases: number; otherProcesses: number };
  perOperation: { serviceCpuMs: number; postgresCpuMs: number; loadGeneratorCpuMs: number; walBytes: number; commits: number };
}

/** CPU seconds the whole machine has been busy (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

type Category = 'ours' | 'other';

/** Tracks the CPU of every postgres process, sorted into ours (our databases, background) and other databases'. */
class PostgresCpu {
  private readonly seen = new Map<number, { category: Category; start: number; last: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly databases: string[]) {
    this.scan(true);
    this.timer = setInterval(() => this.scan(false), 200);
    this.timer.unref();
  }

  private categorise(pid: number): Category {
    let title = '';
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      return 'ours';
    }
    // A backend's title is "postgres: <cluster>: <user> <database> <client> <state>".
    const backend = /postgres: [^:]+: \S+ (\S+) /.exec(title);
    if (!backend) return 'ours'; // checkpointer, WAL writer, background writer, autovacuum launcher …
    return this.databases.includes(backend[1]!) || /autovacuum worker/.test(title) ? 'ours' : 'other';
  }

  scan(initial: boolean) {
    let entries: string[];
    try {
      entries = readdirSync('/proc');
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      const known = this.seen.get(pid);
      if (!known) {
        let comm = '';
        try {
          comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        } catch {
          continue;
        }
        if (!comm.startsWith('postgres')) continue;
        const cpu = cpuSeconds(pid);
        this.seen.set(pid, { category: this.categorise(pid), start: initial ? cpu : 0, last: cpu });
      } else {
        const cpu = cpuSeconds(pid);
        if (cpu > 0) known.last = cpu;
      }
    }
  }

  stop(): Record<Category, number> {
    clearInterval(this.timer);
    this.scan(false);
    const totals: Record<Category, number> = { ours: 0, other: 0 };
    for (const p of this.seen.values()) totals[p.category] += Math.max(0, p.last - p.start);
    return totals;
  }
}

/** `databases`: whose backends count as PostgreSQL working for us; null when no PostgreSQL is involved. */
export async function startProbe(sql: Sql | null, servicePid: number | null, databases: string[] | null) {
  const t0 = performance.now();
  const machine0 = machineBusySeconds();
  const service0 = servicePid ? cpuSeconds(servicePid) : 0;
  const postgres = databases ? new PostgresCpu(databases) : null;
  const self0 = process.cpuUsage();
  const lsn0 = sql ? await currentLsn(sql) : null;
  const commits0 = sql && databases ? await commits(sql, databases) : 0;
  return {
    async end(operations: number): Promise<ProbeResult> {
      const wall = (performance.now() - t0) / 1000;
      const machine = machineBusySeconds() - machine0;
      const service = servicePid ? cpuSeconds(servicePid) - service0 : 0;
      const pg = postgres ? postgres.stop() : { ours: 0, other: 0 };
      const self = process.cpuUsage(self0);
      const selfSeconds = (self.user + self.system) / 1e6;
      let wal = 0;
      let commitCount = 0;
      if (sql && lsn0 && databases) {
        const { rows } = await sql.query<{ bytes: string }>(`select pg_wal_lsn_diff(pg_current_wal_lsn(), $1) as bytes`, [lsn0]);
        wal = Number(rows[0]!.bytes);
        commitCount = (await commits(sql, databases)) - commits0;
      }
      const per = (v: number) => (operations > 0 ? v / operations : 0);
      const r2 = (v: number) => Math.round(v * 100) / 100;
      const r4 = (v: number) => Math.round(v * 10000) / 10000;
      return {
        wallSeconds: r2(wall),
        cores: {
          machine: r2(machine / wall),
          service: r2(service / wall),
          postgres: r2(pg.ours / wall),
          loadGenerator: r2(selfSeconds / wall),
          otherDatabases: r2(pg.other / wall),
          otherProcesses: r2(Math.max(0, machine - service - pg.ours - pg.other - selfSeconds) / wall),
        },
        // Four decimals: a request that does no work (/healthz) costs well under a millisecond.
        perOperation: {
          serviceCpuMs: r4(per(service * 1000)),
          postgresCpuMs: r4(per(pg.ours * 1000)),
          loadGeneratorCpuMs: r4(per(selfSeconds * 1000)),
          walBytes: Math.round(per(wal)),
          commits: r2(per(commitCount)),
        },
      };
    },
  };
}

async function currentLsn(sql: Sql): Promise<string> {
  const { rows } = await sql.query<{ lsn: string }>(`select pg_current_wal_lsn()::text as lsn`);
  return rows[0]!.lsn;
}

async function commits(sql: Sql, databases: string[]): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(`select coalesce(sum(xact_commit), 0) as n from pg_stat_database where datname = any($1)`, [databases]);
  return Number(rows[0]?.n ?? 0);
}
