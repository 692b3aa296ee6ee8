/**
 * The crash soak (scripts/soak-crash.ts, `npm run soak:crash`) cannot rot: three cycles of it,
 * SIGKILLing the real server during approvals and Stripe payouts, must exit 0 and print their
 * summary. On PGlite in the PGlite pass; on PostgreSQL when TEST_DATABASE_URL is set, in a
 * database of its own next to that one (the soak creates it fresh and drops it). The PostgreSQL
 * pass does not run the PGlite soak again: nothing it depends on differs between the passes.
 *
 * Seed 2 kills during payouts, approvals, payouts: both phases in three cycles.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { usingPostgres } from './helpers/database.js';
import { cleanEnv } from './helpers/env.js';

// Each cycle restarts the real server; on a busy machine three of them, twice, take a while.
t.setTimeout(300_000);

const root = fileURLToPath(new URL('..', import.meta.url));

function soak(database: 'pglite' | 'postgres', extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) => {
    // cleanEnv: none of tap's NODE_OPTIONS nor the developer's database settings reach the soak.
    const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/soak-crash.ts', '--cycles', '3', '--seed', '2', '--database', database], {
      cwd: root,
      env: { ...cleanEnv(), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.once('exit', (code, signal) => resolve({ code, signal, output }));
  });
}

function assertSoaked(t: Test, database: string, result: { code: number | null; signal: NodeJS.Signals | null; output: string }) {
  if (result.code !== 0) t.comment(result.output.slice(-6000));
  t.same({ code: result.code, signal: result.signal }, { code: 0, signal: null }, 'the soak exited 0');
  t.equal(result.output.match(/^cycle +\d+\/3 /gm)?.length, 3, 'one line per cycle');
  t.match(result.output, new RegExp(`^summary: 3 cycles on ${database}, seed 2: .*; 0 violations; wall time`, 'm'), 'the summary');
}

if (!usingPostgres()) t.test('three cycles on PGlite', async (t) => {
  assertSoaked(t, 'pglite', await soak('pglite'));
});

if (usingPostgres()) t.test('three cycles on PostgreSQL', async (t) => {
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.pathname = `/${`${url.pathname.slice(1)}_soak_crash`.replace(/[^a-zA-Z0-9_]/g, '_').slice(0, 60)}`;
  assertSoaked(t, 'postgres', await soak('postgres', { SOAK_DATABASE_URL: url.toString() }));
});
