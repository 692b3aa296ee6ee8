/**
 * Child processes of the benchmark (the service under test, the constant-route server,
 * pgbench): started here, tracked by handle, and killed when the benchmark exits for any reason.
 * Also samples a process's memory and CPU from /proc.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';

const children = new Set<ChildProcess>();

function killAll(signal: NodeJS.Signals) {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

process.on('exit', () => killAll('SIGKILL'));
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the benchmark and its child processes`);
    killAll('SIGKILL');
    process.exit(130);
  });
}

/** Spawns a tracked child; it is killed if the benchmark exits first. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Runs a command to completion and returns its output; throws on a non-zero exit. */
export async function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string }> {
  const child = spawnTracked(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000) || stdout.slice(-2000)}`);
  return { stdout, stderr };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface ProcStatus {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size since start (VmHWM), bytes. */
  hwm: number;
}

export function readProcStatus(pid: number): ProcStatus | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

export const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `everyMs` and keeps the peak; VmHWM is read on demand. */
export class MemorySampler {
  peakRss = 0;
  /** RSS when sampling started (the server had just become ready). */
  firstRss = 0;
  samples: { t: number; rss: number }[] = [];
  private timer: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    everyMs = 500,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    this.firstRss = this.sample()?.rss ?? 0;
  }
  sample(): ProcStatus | null {
    const status = readProcStatus(this.pid);
    if (status) {
      this.peakRss = Math.max(this.peakRss, status.rss);
      if (this.samples.length < 20_000) this.samples.push({ t: Date.now(), rss: status.rss });
    }
    return status;
  }
  stop() {
    clearInterval(this.timer);
  }
}

export interface ServerHandle {
  name: string;
  pid: number;
  url: string;
  memory: MemorySampler;
  /** The last lines the server wrote (stdout and stderr). */
  tail(): string;
  /** Peak RSS (VmHWM) as the kernel recorded it, read now. */
  hwm(): number;
  /** SIGTERM, then SIGKILL after a grace period; resolves when it has exited. */
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Starts a Node program (TypeScript through tsx) as a child process, waits until
 * `readyPath` answers 200, and returns a handle. Output goes to `logFile`.
 */
export async function startNodeServer(options: {
  name: string;
  script: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  port: number;
  readyPath: string;
  logFile: string;
  readyTimeoutMs?: number;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}): Promise<ServerHandle> {
  // A .ts script runs through the tsx loader; compiled JavaScript (the service's dist/) runs as is.
  const loader = options.script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawnTracked(process.execPath, [...(options.nodeArgs ?? []), ...loader, options.script], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: WriteStream = createWriteStream(options.logFile);
  const lines: string[] = [];
  const keep = (d: Buffer) => {
    log.write(d);
    for (const line of d.toString().split('\n')) if (line) lines.push(line);
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
  let done = false;
  void exited.then(() => (done = true));
  for (;;) {
    if (done) throw new Error(`${options.name} exited before it was ready:\n${lines.slice(-40).join('\n')}`);
    try {
      const res = await fetch(url + options.readyPath);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${options.name} was not ready within ${options.readyTimeoutMs ?? 120_000} ms:\n${lines.slice(-40).join('\n')}`);
    }
    await sleep(100);
  }
  const pid = child.pid!;
  const memory = new MemorySampler(pid);
  return {
    name: options.name,
    pid,
    url,
    memory,
    tail: () => lines.slice(-40).join('\n'),
    hwm: () => readProcStatus(pid)?.hwm ?? 0,
    exited,
    async stop() {
      memory.sample();
      memory.stop();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      await new Promise<void>((resolve) => log.end(() => resolve()));
    },
  };
}
