import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { freePort } from '../adversarial/helpers/postgres-cluster.js';
import { TEST_JWT_SECRET } from './app.js';
import { seedPgliteDir } from './database.js';
import { expectStatus, isolatedPostgres, viaFetch, type Send } from './payout-fixtures.js';

/**
 * The real server as a child process (as `npm start` runs it), for the tests that kill it: start it
 * and wait until it is ready, SIGKILL or SIGTERM it, and run the CLI or a script beside it, all
 * with their output gathered into one log for the failure messages.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildRun {
  proc: ChildProcess;
  exited: Promise<Exit>;
  /** Everything the child has written to stdout so far. */
  stdout: () => string;
}

/**
 * A clean environment for the server: none of tap's NODE_OPTIONS or coverage hooks, nor the
 * developer's own settings (SMTP, Stripe), leak in. With `databaseUrl` (isolatedPostgres's url) it
 * uses that PostgreSQL database; without, PGlite keeps its data in `dir`/pglite, so it outlives
 * the process.
 */
export function serverEnv(options: { port: number; dir: string; databaseUrl: string | undefined }): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? options.dir,
    TMPDIR: tmpdir(),
    HOST: '127.0.0.1',
    PORT: String(options.port),
    LOG_LEVEL: 'warn',
    LOGIN_RATE_LIMIT: '1000',
    PAYOUT_WORKERS: '1',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl, JWT_SECRET: TEST_JWT_SECRET } : { PGLITE_DIR: join(options.dir, 'pglite') }),
  };
}

/**
 * One server process at a time on `port`, started with `env` unless a start says otherwise. The
 * env object is read at each start, so a test may change it for the next one.
 */
export function serverProcess(options: { port: number; env: Record<string, string> }) {
  const url = `http://127.0.0.1:${options.port}`;
  let server: ChildRun | undefined;
  let output = '';
  const logTail = () => output.slice(-4000);

  /** Runs `node --import tsx <args>` from the repository root, its output going to the log. */
  function run(args: string[], env: Record<string, string> = options.env): ChildRun {
    let stdout = '';
    const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<Exit>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    return { proc, exited, stdout: () => stdout };
  }

  return {
    /** Where the server listens, for viaFetch. */
    url,
    /** Everything the processes have written, with a line at each start and stop. */
    get output() {
      return output;
    },
    logTail,
    get running() {
      return server !== undefined;
    },
    run,

    /**
     * Runs a script (the CLI, say) to its end and returns the last line of its stdout as JSON;
     * throws with the log's tail if it fails.
     */
    async runForJson<T>(what: string, args: string[], env: Record<string, string> = options.env): Promise<T> {
      const child = run(args, env);
      const exit = await child.exited;
      if (exit.code !== 0) throw new Error(`${what} failed ${JSON.stringify(exit)}:\n${logTail()}`);
      return JSON.parse(child.stdout().trim().split('\n').pop()!) as T;
    },

    /**
     * Starts `src/server.ts` and waits until it answers /readyz; `note` goes on the log's start
     * line. Returns where its log starts in `output`.
     */
    async start(start: { env?: Record<string, string>; note?: string } = {}): Promise<number> {
      if (server) throw new Error('the server is already running');
      output += `\n--- start ${new Date().toISOString()}${start.note ? ` ${start.note}` : ''}\n`;
      const logStart = output.length;
      const started = run(['src/server.ts'], start.env ?? options.env);
      server = started;
      let exit: Exit | undefined;
      void started.exited.then((e) => (exit = e));
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (exit) {
          server = undefined;
          throw new Error(`the server exited (${JSON.stringify(exit)}) before it was ready:\n${logTail()}`);
        }
        try {
          const res = await fetch(`${url}/readyz`);
          if (res.status === 200) return logStart;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`the server was not ready within 60 s:\n${logTail()}`);
        await sleep(100);
      }
    },

    /** SIGKILL: no graceful close; whatever the process was doing stops mid-way. Nothing if it is not running. */
    async kill(): Promise<void> {
      const running = server;
      if (!running) return;
      server = undefined;
      running.proc.kill('SIGKILL');
      output += `\n--- killed: ${JSON.stringify(await running.exited)}\n`;
    },

    /**
     * SIGTERM: the graceful close a deployment or an operator's Ctrl-C gives. Returns how it
     * exited, or undefined if it was not running.
     */
    async terminate(): Promise<Exit | undefined> {
      const running = server;
      if (!running) return undefined;
      server = undefined;
      running.proc.kill('SIGTERM');
      const exit = await running.exited;
      output += `\n--- terminated: ${JSON.stringify(exit)}\n`;
      return exit;
    },
  };
}

export type ServerProcess = ReturnType<typeof serverProcess>;

/**
 * A real server of the test file's own, for the tests that kill it: a PostgreSQL database of its
 * own (isolatedPostgres) or an embedded one seeded from the migrated template (seedPgliteDir), a
 * temporary directory and a free port, and serverEnv's clean environment for them with `env`
 * added (returned as `env`: changes to it reach the next start). When the file ends the server is
 * killed, the database dropped and the directory removed. Call it before anything opens the test
 * database.
 */
export async function serverOfItsOwn(t: Test, label: string, env: Record<string, string> = {}) {
  const isolated = await isolatedPostgres(label);
  const dir = mkdtempSync(join(tmpdir(), `ledger-${label}-`));
  const port = await freePort();
  if (!isolated.url) await seedPgliteDir(join(dir, 'pglite'));
  const environment: Record<string, string> = { ...serverEnv({ port, dir, databaseUrl: isolated.url }), ...env };
  const server = serverProcess({ port, env: environment });
  t.teardown(async () => {
    await server.kill();
    await isolated.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, env: environment, send: viaFetch(server.url) };
}

/** The password every user of an orgThroughCli organisation is given. */
export const CLI_ORG_PASSWORD = 'correct horse battery staple';

/**
 * An organisation made as an operator makes one, with the CLI's create-org (the server need not
 * be running). Its users are all given `password`; `login(email)` logs one in over HTTP once the
 * server is up and returns the Authorization header.
 */
export async function orgThroughCli(server: ServerProcess, send: Send, org: { name: string; adminEmail: string }) {
  const password = CLI_ORG_PASSWORD;
  const args = ['src/cli.ts', 'create-org', '--name', org.name, '--admin-email', org.adminEmail, '--admin-password', password];
  const { organisationId } = await server.runForJson<{ organisationId: string }>('create-org', args);
  const login = async (email: string) => {
    const token = await expectStatus(send, { method: 'POST', url: '/v1/auth/token', payload: { email, password } }, 200);
    return { authorization: `Bearer ${token.accessToken}` };
  };
  return { organisationId, password, login };
}
