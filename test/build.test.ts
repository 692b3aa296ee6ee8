/**
 * The production build, run as README.md tells an operator to: `npm run build`, then
 * `npm run start:prod` (compiled JavaScript, no TypeScript loader, the heap cap). The compiled
 * service must find its migrations, templates and assets from dist/ and serve both the API and
 * the pages; on PostgreSQL when TEST_DATABASE_URL is set, else on a throwaway PGlite directory.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort } from './adversarial/helpers/postgres-cluster.js';
import { TEST_JWT_SECRET } from './helpers/app.js';
import { privatePostgres } from './helpers/database.js';
import { cleanEnv } from './helpers/env.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = join(root, 'node_modules', '.bin', 'tsx');
t.setTimeout(240_000);

t.test('npm run build, then npm run start:prod serves the API and the pages from dist/', async (t) => {
  await promisify(execFile)(tsx, ['scripts/build.ts'], { cwd: root });
  for (const file of ['dist/server.js', 'dist/cli.js', 'dist/web/views/layout.njk', 'dist/web/assets/app.css']) {
    t.ok(existsSync(join(root, file)), `${file} is built`);
  }

  // The command start:prod runs, with the flags package.json gives it.
  const startProd = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start:prod']!;
  const words = startProd.split(/\s+/);
  t.equal(words[0], 'node');
  t.equal(words.at(-1), 'dist/server.js');
  t.ok(words.some((w) => w.startsWith('--max-old-space-size=')), 'the heap is capped, as the benchmark measures it');

  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'ledger-build-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const database = process.env.TEST_DATABASE_URL
    ? { DATABASE_URL: await privateDatabase(t, process.env.TEST_DATABASE_URL), JWT_SECRET: TEST_JWT_SECRET }
    : { PGLITE_DIR: join(dir, 'pglite') };
  const child = spawn(process.execPath, words.slice(1), {
    cwd: root,
    // Info: should the close run out of its grace, the output says which step it waited on.
    env: { ...cleanEnv(), ...database, PORT: String(port), LOG_LEVEL: 'info', PAYOUT_WORKERS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  let ready = false;
  while (!ready && child.exitCode === null && Date.now() < deadline) {
    ready = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.ok(ready, `the compiled service became ready: ${output}`);
  if (!ready) return;

  const login = await fetch(`${base}/login`);
  t.equal(login.status, 200, 'a page renders from the copied templates');
  t.match(await login.text(), /Sign in/);
  t.equal((await fetch(`${base}/assets/app.css`)).status, 200, 'the stylesheet is served');
  t.equal((await fetch(`${base}/assets/govuk/govuk-frontend.min.js`)).status, 200, "GOV.UK Frontend's script is served");
  const unauthorised = await fetch(`${base}/v1/contributors`);
  t.equal(unauthorised.status, 401, 'the API answers, and asks for a token');

  // SIGTERM while a request is running, on a keep-alive connection the client keeps open (a
  // load balancer does the same): the request is answered and the process still exits cleanly.
  // The request's body arrives in two parts, the second only once the close has begun.
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const seen = output.length;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(new TextEncoder().encode('{"email":"nobody@example.org",'));
      await gate;
      controller.enqueue(new TextEncoder().encode('"password":"not the password"}'));
      controller.close();
    },
  });
  const running = fetch(`${base}/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
  while (!output.slice(seen).includes('/v1/auth/token')) await sleep(2);
  child.kill('SIGTERM');
  while (!output.slice(seen).includes('"closing"')) await sleep(2);
  await sleep(50);
  release();
  const answered = await running;
  t.equal(answered.status, 401, 'the request running at SIGTERM is answered');
  t.equal(await exited, 0, `stops cleanly on SIGTERM: ${output}`);
  await answered.text();
});

/**
 * A database of this test's own on the same PostgreSQL, as a deployment has: the service's job
 * queue then shares its tables with no other test file's (they fill them in parallel, and its
 * shutdown waits on its maintenance queries).
 */
async function privateDatabase(test: TapTest, url: string): Promise<string> {
  const own = await privatePostgres(url, `build_test_${process.pid}`);
  test.teardown(own.drop);
  return own.url;
}
