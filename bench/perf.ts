/**
 * Where PostgreSQL's own CPU goes (BENCH_PERF=1): `perf record` samples every process on the
 * machine during scenario 1's measured peak, and the samples of PostgreSQL's processes are sorted
 * by what their call stack was doing (foreign-key checks, PL/pgSQL triggers, the WAL's flush,
 * executor start-up …). The service's side has `bench/profile-*.ts` under `--cpu-prof`; this is
 * the other half of an approval's CPU, which /proc can only count.
 *
 * Needs Linux's `perf` and the right to sample every process (root, or
 * kernel.perf_event_paranoid ≤ -1); without them the run goes on and says why there is no profile.
 * PostgreSQL's own functions are named when its binary keeps its dynamic symbols, as Debian's
 * does: the buckets use only exported functions (a static one never has a name in the samples),
 * and frames without a name count as "other" unless a named frame above them decides. Every
 * process named postgres is counted: the benchmark's backends and the server's background
 * processes (other databases' backends are idle while it runs).
 */
import { createInterface } from 'node:readline';
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from './proc.js';

/**
 * The buckets, in a fixed order: a sample belongs to the first bucket that has one of its
 * functions anywhere on the sample's stack, so a foreign-key check's executor start-up counts as
 * the check, not as executor start-up.
 */
export const POSTGRES_BUCKETS: readonly { bucket: string; functions: readonly string[] }[] = [
  { bucket: 'foreign-key checks', functions: ['RI_FKey_check_ins', 'RI_FKey_check_upd', 'SPI_execute_snapshot'] },
  { bucket: 'PL/pgSQL triggers', functions: ['plpgsql_call_handler', 'plpgsql_exec_trigger'] },
  { bucket: 'WAL write and flush', functions: ['XLogFlush', 'XLogBackgroundFlush', 'issue_xlog_fsync', 'fdatasync'] },
  { bucket: 'check and not-null constraints', functions: ['ExecConstraints'] },
  { bucket: 'parameters and values parsed (jsonb_in, …)', functions: ['InputFunctionCall', 'OidInputFunctionCall', 'ReceiveFunctionCall', 'getTypeInputInfo'] },
  { bucket: 'index inserts', functions: ['ExecInsertIndexTuples'] },
  { bucket: 'executor start-up', functions: ['standard_ExecutorStart', 'ExecutorStart', 'ExecInitNode'] },
  { bucket: 'executor shut-down', functions: ['standard_ExecutorEnd', 'ExecutorEnd'] },
  { bucket: 'parse, analyse and plan', functions: ['raw_parser', 'pg_parse_query', 'pg_analyze_and_rewrite_fixedparams', 'pg_analyze_and_rewrite_varparams', 'pg_plan_query', 'pg_plan_queries', 'GetCachedPlan'] },
  { bucket: 'heap writes and row locks', functions: ['heap_insert', 'heap_update', 'heap_delete', 'heap_lock_tuple'] },
  // Static in PostgreSQL's binary, the executor's insert and update steps have no name of their
  // own: what they do besides the heap, the indexes and the triggers counts here.
  { bucket: 'running the statements (scans, joins, sums, the rest of inserts and updates)', functions: ['standard_ExecutorRun', 'ExecutorRun'] },
  { bucket: "triggers' queue (beyond the triggers' own work)", functions: ['AfterTriggerEndQuery', 'AfterTriggerFireDeferred'] },
  { bucket: 'transaction start and end (locks released, …)', functions: ['StartTransactionCommand', 'CommitTransactionCommand', 'AbortCurrentTransaction'] },
  { bucket: 'statement set-up (portal, snapshot, result description)', functions: ['PortalStart', 'CreatePortal', 'PortalDrop', 'FetchPreparedStatement', 'GetTransactionSnapshot', 'SendRowDescriptionMessage'] },
  {
    bucket: 'client socket and waiting',
    functions: ['secure_read', 'secure_write', 'pq_getbyte', 'WaitEventSetWait', 'epoll_wait', '__x64_sys_sendto', '__x64_sys_recvfrom', 'tcp_v4_rcv', 'net_rx_action'],
  },
];
const OTHER = 'other';

export interface PostgresProfile {
  /** Samples of PostgreSQL's processes (at `frequencyHz` a core). */
  samples: number;
  frequencyHz: number;
  /** Each bucket's share of those samples, largest first, in per cent. */
  buckets: { bucket: string; percent: number }[];
}

const bucketOf = new Map<string, number>(POSTGRES_BUCKETS.flatMap((b, i) => b.functions.map((f) => [f, i] as const)));

/** Sorts one sample's frames (function names, innermost first) into a bucket's index; -1 for other. */
export function bucketOfStack(frames: readonly string[]): number {
  let best = -1;
  for (const frame of frames) {
    const i = bucketOf.get(frame);
    if (i !== undefined && (best === -1 || i < best)) best = i;
  }
  return best;
}

/**
 * Reads `perf script -F comm,ip,sym` output line by line: a sample is its command's line (padded
 * with spaces or not), then a line a frame ("\t<address> <symbol>"), then a blank line. Counts
 * the samples of `comm`.
 */
export async function profileFromPerfScript(lines: AsyncIterable<string> | Iterable<string>, comm = 'postgres', frequencyHz = 0): Promise<PostgresProfile> {
  const counts = new Array<number>(POSTGRES_BUCKETS.length + 1).fill(0);
  let samples = 0;
  let frames: string[] | null = null;
  const end = () => {
    if (frames) {
      const i = bucketOfStack(frames);
      counts[i === -1 ? POSTGRES_BUCKETS.length : i]! += 1;
      samples += 1;
    }
    frames = null;
  };
  for await (const line of lines) {
    if (line === '') {
      end();
    } else if (line.startsWith('\t')) {
      if (!frames) continue;
      const symbol = line.trim().split(/\s+/)[1];
      if (symbol) frames.push(symbol.replace(/\+0x[0-9a-f]+$/, ''));
    } else {
      end();
      frames = line.trim() === comm ? [] : null;
    }
  }
  end();
  const names = [...POSTGRES_BUCKETS.map((b) => b.bucket), OTHER];
  const buckets = names
    .map((bucket, i) => ({ bucket, percent: samples ? Math.round((1000 * counts[i]!) / samples) / 10 : 0 }))
    .filter((b) => b.percent > 0)
    .sort((a, b) => b.percent - a.percent);
  return { samples, frequencyHz, buckets };
}

export interface PerfRecording {
  /** Stops sampling and sorts PostgreSQL's samples; null (with the reason given to `why`) when perf failed or saw none. */
  stop(): Promise<PostgresProfile | null>;
  /** Stops sampling and throws the samples away (the phase being sampled failed). */
  cancel(): Promise<void>;
}

/**
 * A perf process's end: its exit code, or 'stopped' when a signal ended it as asked; and the
 * first line of what it wrote on stderr (or of the error that kept it from starting).
 */
function watch(child: ChildProcess): { ended: Promise<number | 'stopped'>; why: () => string } {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<number | 'stopped'>((resolve) => {
    child.once('error', (error) => {
      stderr += String(error);
      resolve(-1);
    });
    // Told to stop by SIGINT, perf record ends its workload (`sleep`) with SIGTERM, writes its
    // file and ends by the workload's signal; without a workload, by SIGINT itself.
    child.once('exit', (code, signal) => resolve(signal === 'SIGINT' || signal === 'SIGTERM' ? 'stopped' : (code ?? -1)));
  });
  return { ended, why: () => stderr.trim().split('\n')[0] ?? '' };
}

/** A profile in one line, largest bucket first: "foreign-key checks 6.7 %, …". */
export const profileSummary = (profile: PostgresProfile): string => profile.buckets.map((b) => `${b.bucket} ${b.percent} %`).join(', ');

/**
 * Starts `perf record` over the whole machine for at most `maxSeconds` (it ends by itself then,
 * whatever happens to this process); null, with `why` called, when perf is missing or not allowed
 * to sample every process. The samples go to `dataFile`, removed (with perf's `.old` copy of an
 * earlier one) once read or cancelled.
 */
export async function startPerf(
  dataFile: string,
  why: (reason: string) => void,
  options: { maxSeconds: number; frequencyHz?: number },
): Promise<PerfRecording | null> {
  const frequencyHz = options.frequencyHz ?? 999;
  const removeFiles = () => {
    rmSync(dataFile, { force: true });
    rmSync(`${dataFile}.old`, { force: true });
  };
  removeFiles();
  const args = ['record', '-F', String(frequencyHz), '-a', '-g', '-q', '-o', dataFile, '--', 'sleep', String(Math.ceil(options.maxSeconds))];
  const child = spawnTracked('perf', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const { ended: exited, why: recordWhy } = watch(child);
  // perf either fails at once (missing, not allowed) or samples until told to stop.
  const early = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 500))]);
  if (early !== 'running') {
    why(`perf record did not start (${recordWhy() || `exit ${early}`})`);
    removeFiles();
    return null;
  }
  const stopRecording = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    // A perf that does not stop when asked is not waited for past half a minute.
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      return await exited;
    } finally {
      clearTimeout(killer);
    }
  };
  return {
    async cancel() {
      child.kill('SIGKILL');
      await exited;
      removeFiles();
    },
    async stop() {
      try {
        const code = await stopRecording();
        if (code !== 0 && code !== 'stopped') {
          why(`perf record ended with ${code}: ${recordWhy()}`);
          return null;
        }
        const script = spawnTracked('perf', ['script', '-i', dataFile, '--comm', 'postgres', '-F', 'comm,ip,sym'], { stdio: ['ignore', 'pipe', 'pipe'] });
        const { ended: scriptEnded, why: scriptWhy } = watch(script);
        const profile = await profileFromPerfScript(createInterface({ input: script.stdout!, crlfDelay: Infinity }), 'postgres', frequencyHz);
        const scriptCode = await scriptEnded;
        if (scriptCode !== 0) {
          why(`perf script ended with ${scriptCode}: ${scriptWhy()}`);
          return null;
        }
        if (profile.samples === 0) {
          why('perf recorded no samples of PostgreSQL');
          return null;
        }
        return profile;
      } finally {
        removeFiles();
      }
    },
  };
}
