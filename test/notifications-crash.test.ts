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
import t from 'tap';
import { expectStatus, sleep } from './helpers/payout-fixtures.js';
import { orgThroughCli, serverOfItsOwn } from './helpers/server-process.js';
import { startSmtpServer, type ReceivedMail } from './helpers/smtp.js';

// Eight starts of the real server (each a few seconds under tsx, more on a busy machine): more
// than tap's default 240 s could allow.
t.setTimeout(480_000);

const smtp = await startSmtpServer();
const PUBLIC_URL = 'http://payments.crash.test';
const messageId = (id: string) => `<${id}@payments.crash.test>`;

// A clean environment: none of tap's NODE_OPTIONS, nor the developer's SMTP settings, leak in.
const { server, env: base, send } = await serverOfItsOwn(t, 'notifications_crash', { PUBLIC_URL, MAIL_SEND_TIMEOUT_SECONDS: '2' });
const withMail = { ...base, SMTP_URL: smtp.url, MAIL_FROM: 'Payments <payments@crash.test>' };
const logTail = server.logTail;

/** Starts the server and waits until it is ready. Returns where its log starts in server.output. */
const startServer = (env: Record<string, string>) => server.start({ env, note: `${env.SMTP_URL ? 'with' : 'without'} SMTP_URL` });

/** SIGTERM: the graceful stop, which must exit 0. */
async function stopServer() {
  const exit = await server.terminate();
  if (exit && exit.code !== 0) throw new Error(`the server did not stop cleanly (${JSON.stringify(exit)}):\n${logTail()}`);
}

t.teardown(() => smtp.close());

// ---------------------------------------------------------------------------------------------
// An organisation with a participant who has a log-in, made through the CLI and the API.

const { organisationId, password, login } = await orgThroughCli(server, send, { name: 'Mail crash organisation', adminEmail: 'admin@mail-crash.test' });
await startServer(base);
const admin = await login('admin@mail-crash.test');
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
  if (server.running) throw new Error('stop the server first: the embedded database is one process at a time');
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
  const { ids } = await server.runForJson<{ ids: string[] }>('queueing', ['--input-type=module', '-e', script], { ...base, ORG: organisationId, CONTRIBUTOR: contributor.id });
  if (ids.length !== 1) throw new Error(`expected one message queued, got ${JSON.stringify(ids)}`);
  return ids[0]!;
}

async function notification(id: string) {
  const list = await expectStatus(send, { method: 'GET', url: '/v1/notifications?limit=200', headers: admin }, 200);
  const found = list.data.find((n: any) => n.id === id);
  if (!found) throw new Error(`notification ${id} is not listed: ${JSON.stringify(list.data)}`);
  return found;
}

// Waits, not speed goals: generous, because CI runs this beside other files on two busy cores,
// where a restart, the sweep's wait for the dead sender's lease and the resend took over 30 s.
async function waitForSent(id: string, timeoutMs = 90_000) {
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
  const warnings = server.output.slice(logStart).split('\n').filter((line) => line.includes('SMTP_URL is not set'));
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
  await server.kill();
  t.same(copiesOf(id), [], 'the stalled message was never accepted');

  smtp.accept();
  await startServer(withMail);
  // The dead sender's claim runs out (4 s); the start-up sweep gives the message a fresh job.
  const mail = await smtp.waitForMail((m) => m.messageId === messageId(id), 90_000);
  t.equal(mail.subject, 'Your time has been approved');
  const sent = await waitForSent(id);
  t.match(sent, { status: 'sent', attempts: 2, lastError: null }, 'claimed by the killed process, then once by the new one');
  t.ok(sent.sentAt);

  // Stop and start once more: nothing sends it again.
  await stopServer();
  const later = await queueWhileStopped();
  await startServer(withMail);
  await smtp.waitForMail((m) => m.messageId === messageId(later), 90_000);
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
  await server.kill();

  const after = await queueWhileStopped();
  await startServer(withMail);
  // The start-up sweep has run and the queue has moved on: the next message has been sent.
  await smtp.waitForMail((m) => m.messageId === messageId(after), 90_000);
  await waitForSent(after);
  t.equal(copiesOf(id).length, 1, 'sent once, before the kill');
  t.match(await notification(id), { status: 'sent', attempts: 1 });
  await stopServer();
});
