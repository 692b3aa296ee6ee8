/**
 * A private, throwaway PostgreSQL cluster for tests that stop and start the database: nobody
 * else's server is touched. Built from the PostgreSQL binaries (PG_BIN, default
 * /usr/lib/postgresql/15/bin); as root they run as the `postgres` OS user, since initdb and
 * postgres refuse to run as root.
 */
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const OS_USER = 'postgres';

export interface PostgresCluster {
  /** postgres://… for the cluster's `ledger` database. */
  url: string;
  port: number;
  dataDir: string;
  /** Whether the cluster was last started (and not stopped since). */
  readonly running: boolean;
  /** pg_ctl stop: `fast` disconnects clients and shuts down cleanly; `immediate` is crash-like (recovery on start). */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** The tail of the server log, for failure messages. */
  logTail(chars?: number): string;
  /** Stops the cluster (immediate) if it runs and deletes every file. Safe to call twice. */
  destroy(): Promise<void>;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Throws naming the first PostgreSQL binary that is missing or not executable. */
export function assertPostgresBinaries(names = ['initdb', 'pg_ctl', 'postgres']): void {
  for (const name of names) {
    const file = join(PG_BIN, name);
    try {
      accessSync(file, constants.X_OK);
    } catch {
      throw new Error(
        `PostgreSQL binary missing: ${file} is not an executable file. This test brings its own throwaway cluster and needs ` +
          `the PostgreSQL server binaries (initdb, pg_ctl, postgres); install postgresql-15 or point PG_BIN at their directory.`,
      );
    }
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function osUserIds(user: string): { uid: number; gid: number } {
  const run = (flag: string) => {
    // Synchronous: only at set-up, before anything else runs.
    const out = String(execFileSync('id', [flag, user]));
    const n = Number(out.trim());
    if (!Number.isInteger(n)) throw new Error(`cannot find the ${user} OS user (id ${flag} ${user} → ${out})`);
    return n;
  };
  return { uid: run('-u'), gid: run('-g') };
}


/** Creates, initialises and starts a cluster with a `ledger` database on a free port. */
export async function startPostgresCluster(label = 'ledger-pg'): Promise<PostgresCluster> {
  assertPostgresBinaries();
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? osUserIds(OS_USER) : undefined;

  const root = mkdtempSync(join(tmpdir(), `${label}-`));
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'sock');
  const logFile = join(root, 'server.log');
  mkdirSync(socketDir);
  if (owner) {
    chownSync(root, owner.uid, owner.gid);
    chownSync(socketDir, owner.uid, owner.gid);
  }

  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', HOME: root };
  const run = (binary: string, args: string[], timeoutMs = 60_000): Promise<RunResult> => {
    const file = join(PG_BIN, binary);
    const [cmd, argv] = owner ? ['runuser', ['-u', OS_USER, '--', file, ...args]] : [file, args];
    return new Promise((resolve) => {
      // Asynchronous on purpose: the app under test keeps serving while the cluster stops and starts.
      execFile(cmd, argv, { env, cwd: root, timeout: timeoutMs }, (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
    });
  };
  const must = async (binary: string, args: string[], what: string) => {
    const r = await run(binary, args);
    if (r.code !== 0) throw new Error(`${what} failed (${binary} exit ${r.code}):\n${r.stdout}\n${r.stderr}\n${logTail()}`);
    return r;
  };
  const logTail = (chars = 3000) => {
    try {
      return existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-chars) : '(no server log)';
    } catch (error) {
      return `(server log unreadable: ${String(error)})`;
    }
  };

  let running = false;
  let destroyed = false;
  // A safety net for a process that dies before its teardown runs: stop and delete synchronously.
  const onExit = () => {
    try {
      if (existsSync(join(dataDir, 'postmaster.pid'))) {
        const file = join(PG_BIN, 'pg_ctl');
        const args = ['-D', dataDir, '-m', 'immediate', '-w', '-t', '20', 'stop'];
        execFileSync(owner ? 'runuser' : file, owner ? ['-u', OS_USER, '--', file, ...args] : args, { env, cwd: root, stdio: 'ignore', timeout: 30_000 });
      }
    } catch {
      // best effort
    }
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${socketDir}`,
    '-c listen_addresses=127.0.0.1',
    '-c max_connections=60',
    '-c shared_buffers=16MB',
    '-c fsync=off', // a test cluster: a process crash (immediate stop) loses nothing, only an OS crash would
    '-c full_page_writes=off',
    '-c logging_collector=off',
  ].join(' ');

  const cluster: PostgresCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/ledger`,
    port,
    dataDir,
    get running() {
      return running;
    },
    async start() {
      if (destroyed) throw new Error('the cluster was destroyed');
      await must('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '60', 'start'], 'pg_ctl start');
      running = true;
    },
    async stop(mode) {
      // Marked stopped first: a stop that fails half-way is finished by destroy().
      running = false;
      await must('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop'], `pg_ctl -m ${mode} stop`);
    },
    logTail,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      process.removeListener('exit', onExit);
      if (existsSync(join(dataDir, 'postmaster.pid'))) {
        await run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop'], 40_000);
      }
      running = false;
      rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    await must('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], 'initdb');
    await cluster.start();
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query('create database ledger');
    } finally {
      await admin.end();
    }
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}
