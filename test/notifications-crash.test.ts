/**
 * Email survives the real server being killed. The server runs as a child process (as
 * `npm start` does), sending to a real SMTP server in this process (test/helpers/smtp.ts):
 *
 * - without SMTP_URL it keeps messages queued and says so once in its log; restarted with it,
 *   it sends them;
 * - killed (SIGKILL) while the mail server holds a message's data but has not answered it, the
 *   message is sent exactly once by the next process, once the dead sender's lease has run out;
 * - a message sent before a SIGKILL is not sent again after the restart.
 *
 * Messages are queued by a separate short-lived process while the server is stopped (the
 * embedded database belongs to one process at a time), with the service's own queueNotification,
 * as the service's own changes queue them. MAIL_SEND_TIMEOUT_SECONDS is 2, so a lease lasts 4 s.
 *
 * On PGlite the server keeps its data in a temporary PGLITE_DIR; with TEST_DATABASE_URL it uses a
 * fresh PostgreSQL database of its own (see isolatedPostgres).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TEST_JWT_SECRET } from './helpers/app.js';
import { expectStatus, isolatedPostgres, sleep, viaFetch, type Send } from './helpers/payout-fixtures.js';
import { startSmtpServer, type ReceivedMail } from './helpers/smtp.js';
import { freePort } from './adversarial/helpers/postgres-cluster.js';

// Eight starts of the real server (each a few seconds under tsx, more on a busy machine): more
// than tap's default 240 s could allow.
t.setTimeout(480_000);

const root = fileURLToPath(new URL('..', import.meta.url));
const isolated = await isolatedPostgres('notifications_crash');
const smtp = await startSmtpServer();
const dir = mkdtempSync(join(tmpdir(), 'ledger-mail-crash-'));
const port = await freePort();
const PUBLIC_URL = 'http://payments.crash.test';
const messageId = (id: string) => `<${id}@payments.crash.test>`;

// A clean environment: none of tap's NODE_OPTIONS, nor the developer's SMTP settings, leak in.
const base: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? dir,
  TMPDIR: tmpdir(),
  HOST: '127.0.0.1',
  PORT: String(port),
  PUBLIC_URL,
  LOG_LEVEL: 'warn',
  LOGIN_RATE_LIMIT: '1000',
  PAYOUT_WORKERS: '1',
  MAIL_SEND_TIMEOUT_SECONDS: '2',
  ...(isolated.url ? { DATABASE_URL: isolated.url, JWT_SECRET: TEST_JWT_SECRET } : { PGLITE_DIR: join(dir, 'pglite') }),
};
const withMail = { ...base, SMTP_URL: smtp.url, MAIL_FROM: 'Payments <payments@crash.test>' };

const send: Send = viaFetch(`http://127.0.0.1:${port}`);

interface Running {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}
let server: Running | undefined;
let output = '';
const logTail = () => output.slice(-4000);

function run(args: string[], env: Record<string, string>): Running & { stdout: () => string } {
  let stdout = '';
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
  });
  proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return { proc, exited, stdout: () => stdout };
}

/** Starts `node src/server.ts` and waits until it answers /readyz. Returns where its log starts. */
async function startServer(env: Record<string, string>): Promise<number> {
  if (server) throw new Error('the server is already running');
  output += `\n--- start ${new Date().toISOString()} ${env.SMTP_URL ? 'with' : 'without'} SMTP_URL\n`;
  const logStart = output.length;
  const started = run(['src/server.ts'], env);
  server = started;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void started.exited.then((e) => (exit = e));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exit) {
      server = undefined;
      throw new Error(`the server exited (${JSON.stringify(exit)}) before it was ready:\n${logTail()}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200) return logStart;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server was not ready within 60 s:\n${logTail()}`);
    await sleep(100);
  }
}

/** SIGKILL: no graceful close; whatever the process was doing stops mid-way. */
async function killServer() {
  const running = server;
  if (!running) return;
  server = undefined;
  running.proc.kill('SIGKILL');
  output += `\n--- killed: ${JSON.stringify(await running.exited)}\n`;
}

/** SIGTERM: the graceful stop. */
async function stopServer() {
  const running = server;
  if (!running) return;
  server = undefined;
  running.proc.kill('SIGTERM');
  const exit = await running.exited;
  output += `\n--- stopped: ${JSON.stringify(exit)}\n`;
  if (exit.code !== 0) throw new Error(`the server did not stop cleanly (${JSON.stringify(exit)}):\n${logTail()}`);
}

t.teardown(async () => {
  await killServer();
  await smtp.close();
  await isolated.drop();
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// An organisation with a participant who has a log-in, made through the CLI and the API.

const adminEmail = 'admin@mail-crash.test';
const password = 'correct horse battery staple';
const created = run(['src/cli.ts', 'create-org', '--name', 'Mail crash organisation', '--admin-email', adminEmail, '--admin-password', password], base);
const cliExit = await created.exited;
if (cliExit.code !== 0) throw new Error(`create-org failed ${JSON.stringify(cliExit)}:\n${logTail()}`);
const { organisationId } = JSON.parse(created.stdout().trim().split('\n').pop()!) as { organisationId: string };

await startServer(base);
async function login(email: string) {
  const token = await expectStatus(send, { method: 'POST', url: '/v1/auth/token', payload: { email, password } }, 200);
  return { authorization: `Bearer ${token.accessToken}` };
}
const admin = await login(adminEmail);
await expectStatus(send, { method: 'POST', url: '/v1/users', headers: admin, payload: { email: 'coordinator@mail-crash.test', name: 'Coordinator', role: 'coordinator', password } }, 201);
const coordinator = await login('coordinator@mail-crash.test');
const contributor = await expectStatus(
  send,
  { method: 'POST', url: '/v1/contributors', headers: coordinator, payload: { name: 'Crash Participant', kind: 'lived_experience', paymentMethod: 'bank_transfer' } },
  201,
);
const participantEmail = 'participant@mail-crash.test';
await expectStatus(
  send,
  { method: 'POST', url: '/v1/users', headers: admin, payload: { email: participantEmail, name: 'Crash Participant', role: 'participant', password, contributorId: contributor.id } },
  201,
);
await stopServer();

/**
 * Queues a time_approved message to the participant from a separate process, with the
 * service's own outbox function, while the server is stopped. Returns its id.
 */
async function queueWhileStopped(): Promise<string> {
  if (server) throw new Error('stop the server first: the embedded database is one process at a time');
  const script = `
    import { openDatabase } from './src/db/client.ts';
    import { inTransaction } from './src/db/tx.ts';
    import { contributorRecipients, queueNotification } from './src/modules/notifications/outbox.ts';
    const env = process.env;
    const database = await openDatabase(env.DATABASE_URL ? { kind: 'postgres', url: env.DATABASE_URL, poolSize: 2 } : { kind: 'pglite', dataDir: env.PGLITE_DIR });
    const ids = await inTransaction(database.db, async (tx) => queueNotification(tx, env.ORG, {
      kind: 'time_approved',
      recipients: await contributorRecipients(tx, env.ORG, env.CONTRIBUTOR),
      link: '/my',
      data: { amount: 2500, currency: 'GBP', workDate: '2026-03-02' },
      about: 'crash-test:' + Date.now() + ':' + Math.random(),
      contributorId: env.CONTRIBUTOR,
    }, new Date()));
    await database.close();
    console.log(JSON.stringify({ ids }));
  `;
  const queued = run(['--input-type=module', '-e', script], { ...base, ORG: organisationId, CONTRIBUTOR: contributor.id });
  const exit = await queued.exited;
  if (exit.code !== 0) throw new Error(`queueing failed ${JSON.stringify(exit)}:\n${logTail()}`);
  const { ids } = JSON.parse(queued.stdout().trim().split('\n').pop()!) as { ids: string[] };
  if (ids.length !== 1) throw new Error(`expected one message queued, got ${JSON.stringify(ids)}`);
  return ids[0]!;
}

async function notification(id: string) {
  const list = await expectStatus(send, { method: 'GET', url: '/v1/notifications?limit=200', headers: admin }, 200);
  const found = list.data.find((n: any) => n.id === id);
  if (!found) throw new Error(`notification ${id} is not listed: ${JSON.stringify(list.data)}`);
  return found;
}

async function waitForSent(id: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await notification(id);
    if (n.status !== 'queued') return n;
    if (Date.now() > deadline) throw new Error(`notification ${id} still queued after ${timeoutMs} ms: ${JSON.stringify(n)}\n${logTail()}`);
    await sleep(100);
  }
}

const copiesOf = (id: string): ReceivedMail[] => smtp.received.filter((m) => m.messageId === messageId(id));

// ---------------------------------------------------------------------------------------------

t.test('without SMTP_URL messages stay queued and the log says so once; with it they are sent', async (t) => {
  const id = await queueWhileStopped();
  const logStart = await startServer(base);
  // Several of the job queue's polls go by with nobody to send.
  await sleep(2_000);
  t.match(await notification(id), { status: 'queued', attempts: 0, sentAt: null }, 'kept queued');
  const warnings = output.slice(logStart).split('\n').filter((line) => line.includes('SMTP_URL is not set'));
  t.equal(warnings.length, 1, `said once in the log:\n${warnings.join('\n')}`);
  await stopServer();
  t.same(copiesOf(id), [], 'nothing was sent');

  await startServer(withMail);
  const mail = await smtp.waitForMail((m) => m.messageId === messageId(id));
  t.equal(mail.subject, 'Your time has been approved');
  t.match(mail.text, `${PUBLIC_URL}/my`);
  t.match(await waitForSent(id), { status: 'sent', attempts: 1 });
  t.equal(copiesOf(id).length, 1);
  await stopServer();
});

t.test('SIGKILL while the mail server has the data but has not answered: sent exactly once after the restart', async (t) => {
  const id = await queueWhileStopped();
  smtp.stall({ match: (m) => m.messageId === messageId(id) });
  await startServer(withMail);
  // The server has the whole message and has not said 250: the sender is waiting for it.
  await smtp.waitForTransaction((tr) => tr.outcome === 'stalled' && tr.mail.messageId === messageId(id));
  await killServer();
  t.same(copiesOf(id), [], 'the stalled message was never accepted');

  smtp.accept();
  await startServer(withMail);
  // The dead sender's claim runs out (4 s); the start-up sweep gives the message a fresh job.
  const mail = await smtp.waitForMail((m) => m.messageId === messageId(id), 30_000);
  t.equal(mail.subject, 'Your time has been approved');
  const sent = await waitForSent(id);
  t.match(sent, { status: 'sent', attempts: 2, lastError: null }, 'claimed by the killed process, then once by the new one');
  t.ok(sent.sentAt);

  // Stop and start once more: nothing sends it again.
  await stopServer();
  const later = await queueWhileStopped();
  await startServer(withMail);
  await smtp.waitForMail((m) => m.messageId === messageId(later), 30_000);
  await waitForSent(later);
  t.equal(copiesOf(id).length, 1, 'the message arrived exactly once');
  t.equal(smtp.transactions.filter((tr) => tr.mail.messageId === messageId(id)).length, 2, 'two tries reached the server: the stalled one and the one accepted');
  await stopServer();
});

t.test('a message sent before a SIGKILL is not sent again after the restart', async (t) => {
  const id = await queueWhileStopped();
  await startServer(withMail);
  await smtp.waitForMail((m) => m.messageId === messageId(id));
  t.match(await waitForSent(id), { status: 'sent', attempts: 1 });
  await killServer();

  const after = await queueWhileStopped();
  await startServer(withMail);
  // The start-up sweep has run and the queue has moved on: the next message has been sent.
  await smtp.waitForMail((m) => m.messageId === messageId(after), 30_000);
  await waitForSent(after);
  t.equal(copiesOf(id).length, 1, 'sent once, before the kill');
  t.match(await notification(id), { status: 'sent', attempts: 1 });
  await stopServer();
});
