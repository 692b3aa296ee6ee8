/**
 * Email, end to end against a real SMTP server (test/helpers/smtp.ts): the outbox's messages are
 * delivered by the app's own job queue, once, with their subject, text, HTML and links; people's
 * choices are kept; a refusing server is retried and a message that never goes is recorded as
 * failed; the sent-once lease; the notification API and its roles; the account page's Emails
 * section. Killing the real server mid-send is in test/notifications-crash.test.ts.
 *
 * pg-boss's retry delays (30 s and up) are moved along by setting the retry job's start time
 * to now, rather than waited for.
 */
import { eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { queryRows } from '../src/db/client.js';
import { notifications, users } from '../src/db/schema.js';
import { inTransaction } from '../src/db/tx.js';
import { notificationKinds, type NotificationKind, type Role } from '../src/domain/enums.js';
import { QUEUES } from '../src/jobs/queue.js';
import { newId } from '../src/lib/ids.js';
import { createNotificationSender } from '../src/modules/notifications/delivery.js';
import { contributorRecipients, queueNotification, staffRecipients } from '../src/modules/notifications/outbox.js';
import { appForThisFile, buildTestApp, createTestOrg, json, type TestOrg } from './helpers/app.js';
import { isolatedPostgres } from './helpers/payout-fixtures.js';
import { sentTo, startSmtpServer } from './helpers/smtp.js';
import { text, WebClient } from './helpers/web.js';

// Its own PostgreSQL database: its pg-boss workers send email and sweep the outbox, so they must
// not take other files' jobs, nor other files' workers its own. (Registered first, so it runs last.)
const isolated = await isolatedPostgres('notifications');
t.teardown(() => isolated.drop());

const PUBLIC_URL = 'https://payments.example.test';
const smtp = await startSmtpServer();
t.teardown(() => smtp.close());

/** The file's own test, for what lives as long as the file (a subtest's `t` shadows it). */
const file = t;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The app with email: built by the first test, after an app without it has queued a message. */
let app: FastifyInstance;
const mailEnv = { SMTP_URL: smtp.url, PUBLIC_URL, MAIL_FROM: 'Payments <payments@example.test>', MAIL_SEND_TIMEOUT_SECONDS: '2', PAYOUT_WORKERS: '1' };

interface Person {
  headers: Record<string, string>;
  token: string;
  userId: string;
  email: string;
}

/** A new user of the organisation with their address, as the outbox sees them. */
async function person(on: FastifyInstance, org: TestOrg, role: Role, contributorId?: string): Promise<Person> {
  const token = await org.tokenFor(role, contributorId ? { contributorId } : {});
  const headers = { authorization: `Bearer ${token}` };
  const me = json(await on.inject({ method: 'GET', url: '/v1/me', headers }));
  const [user] = await on.db.select({ email: users.email }).from(users).where(eq(users.id, me.userId));
  return { headers, token, userId: me.userId, email: user!.email };
}

/** A participant: a contributor with a log-in linked to them. */
async function participant(on: FastifyInstance, org: TestOrg): Promise<Person & { contributorId: string }> {
  const coordinator = await org.as('coordinator');
  const created = await on.inject({
    method: 'POST',
    url: '/v1/contributors',
    headers: coordinator,
    payload: { name: 'Mail Participant', kind: 'lived_experience', paymentMethod: 'bank_transfer' },
  });
  if (created.statusCode !== 201) throw new Error(`contributor: ${created.statusCode} ${created.body}`);
  const contributorId = json(created).id as string;
  return { ...(await person(on, org, 'participant', contributorId)), contributorId };
}

const timeApproved = { amount: 2500, currency: 'GBP', workDate: '2026-03-02' };

/** Queues a message to a participant as the service's own callers do, in a transaction of its own. */
function queueForContributor(on: FastifyInstance, org: TestOrg, contributorId: string, kind: NotificationKind, data: object = timeApproved, about = newId()) {
  return inTransaction(on.db, async (tx) =>
    queueNotification(
      tx,
      org.organisationId,
      { kind, recipients: await contributorRecipients(tx, org.organisationId, contributorId), link: '/my', data: { ...data }, about, contributorId },
      new Date(),
    ),
  );
}

async function row(id: string) {
  const [found] = await app.db.select().from(notifications).where(eq(notifications.id, id));
  return found!;
}

async function waitForRow(id: string, done: (r: Awaited<ReturnType<typeof row>>) => boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await row(id);
    if (done(r)) return r;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; the message is ${JSON.stringify(r)}`);
    await sleep(50);
  }
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Moves pg-boss along: once the message's job waits to be retried, it may start now. With
 * `lastAttempt` the retry is the job's last (retry_count becomes retry_limit when it is fetched).
 */
async function hurryRetry(on: FastifyInstance, notificationId: string, options: { lastAttempt?: boolean } = {}) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const moved = await queryRows<{ id: string }>(
      on.db,
      sql`update pgboss.job set start_after = now() ${options.lastAttempt ? sql`, retry_count = retry_limit - 1` : sql``}
          where name = ${QUEUES.deliverNotification} and state = 'retry' and data->>'notificationId' = ${notificationId}
          returning id`,
    );
    if (moved.length) return;
    if (Date.now() > deadline) throw new Error(`no retry job for ${notificationId} within 20 s`);
    await sleep(50);
  }
}

async function jobStates(on: FastifyInstance, notificationId: string) {
  const rows = await queryRows<{ state: string }>(
    on.db,
    sql`select state from pgboss.job where name = ${QUEUES.deliverNotification} and data->>'notificationId' = ${notificationId}`,
  );
  return rows.map((r) => r.state);
}

/**
 * Something sent after `first` to the same address has arrived: the worker has moved past the
 * first message, so a second copy of it would have come by now.
 */
async function barrier(on: FastifyInstance, org: TestOrg, contributorId: string, address: string) {
  const [id] = await queueForContributor(on, org, contributorId, 'payment_sent', { amount: 100, currency: 'GBP', paymentDate: '2026-03-03', method: 'bank_transfer' });
  await smtp.waitForMail((m) => m.to.includes(address.toLowerCase()) && m.messageId === `<${id}@payments.example.test>`);
}

t.test('queued while SMTP_URL is unset: kept queued, then delivered by a restart with it set', async (t) => {
  const quiet = await buildTestApp({ jobs: true, env: { PUBLIC_URL, PAYOUT_WORKERS: '1' } });
  let quietOpen = true;
  t.teardown(async () => {
    if (quietOpen) await quiet.close();
  });
  await quiet.ready();
  const org = await createTestOrg(quiet, 'Mail off organisation');
  const p = await participant(quiet, org);
  const [id] = await queueForContributor(quiet, org, p.contributorId, 'time_approved');
  t.ok(id, 'queued');
  t.same(await jobStates(quiet, id!), ['created'], 'its delivery job was written with it');
  // Several of pg-boss's polls (every half second) go by: no process takes the job.
  await sleep(2_000);
  const [kept] = await quiet.db.select().from(notifications).where(eq(notifications.id, id!));
  t.match(kept, { status: 'queued', attempts: 0, sentAt: null }, 'still queued');
  t.same(await jobStates(quiet, id!), ['created'], 'the job waits for a process that sends email');
  t.same(smtp.receivedBy(p.email), [], 'nothing was sent');
  quietOpen = false;
  await quiet.close();

  app = await appForThisFile(file, { jobs: true, env: mailEnv });
  await app.ready();
  const mail = await smtp.waitForMail(sentTo(p.email));
  t.equal(mail.subject, 'Your time has been approved');
  const sent = await waitForRow(id!, (r) => r.status === 'sent', 'recorded as sent');
  t.ok(sent.sentAt, 'sentAt is set');
  t.equal(sent.attempts, 1);
});

t.test('a queued message arrives once, with its subject, text, HTML and links, and is listed as sent', async (t) => {
  const org = await createTestOrg(app, 'Mail organisation');
  const p = await participant(app, org);
  const finance = await org.as('finance');
  const about = newId();
  const [id] = await queueForContributor(app, org, p.contributorId, 'time_approved', timeApproved, about);
  t.same(await queueForContributor(app, org, p.contributorId, 'time_approved', timeApproved, about), [], 'the same event queues nothing twice');

  const mail = await smtp.waitForMail(sentTo(p.email));
  t.equal(mail.subject, 'Your time has been approved');
  t.notMatch(mail.subject, /£|25/, 'no amount in the subject');
  t.equal(mail.messageId, `<${id}@payments.example.test>`, 'a stable Message-ID: the notification id at the public host');
  t.equal(mail.envelope.from, 'payments@example.test');
  t.same(mail.envelope.to, [p.email.toLowerCase()]);
  t.equal(mail.headers.get('auto-submitted'), 'auto-generated');
  t.match(mail.text, 'Time you gave on 2 March 2026 has been approved. You are owed £25.00 for it.');
  t.match(mail.text, `See what you are owed: ${PUBLIC_URL}/my`);
  t.match(mail.text, `${PUBLIC_URL}/account#notifications`, 'how to change which emails come');
  t.match(mail.html, `<a href="${PUBLIC_URL}/my"`);
  t.match(mail.html, `<a href="${PUBLIC_URL}/account#notifications"`);
  t.match(mail.html, '£25.00');

  const sent = await waitForRow(id!, (r) => r.status === 'sent', 'recorded as sent');
  const listed = json(await app.inject({ method: 'GET', url: `/v1/notifications?userId=${p.userId}`, headers: finance }));
  t.same(listed.data.map((n: any) => ({ id: n.id, userId: n.userId, kind: n.kind, status: n.status })), [
    { id, userId: p.userId, kind: 'time_approved', status: 'sent' },
  ]);
  t.equal(listed.data[0].sentAt, sent.sentAt!.toISOString());
  t.equal(listed.data[0].contributorId, p.contributorId);
  t.equal(listed.nextCursor, null);

  await barrier(app, org, p.contributorId, p.email);
  t.equal(smtp.receivedBy(p.email).filter((m) => m.messageId === `<${id}@payments.example.test>`).length, 1, 'sent exactly once');
});

t.test('a contributor without a log-in is written to at their own address, without the preferences link', async (t) => {
  const org = await createTestOrg(app, 'No log-in organisation');
  const address = `no-login-${newId()}@example.test`;
  const created = await app.inject({
    method: 'POST',
    url: '/v1/contributors',
    headers: await org.as('coordinator'),
    payload: { name: 'No Login', email: address, kind: 'carer', paymentMethod: 'voucher' },
  });
  t.equal(created.statusCode, 201, created.body);
  const [id] = await queueForContributor(app, org, json(created).id, 'payment_failed', { amount: 1234, currency: 'GBP', reason: 'account closed' });
  const mail = await smtp.waitForMail(sentTo(address));
  t.equal(mail.subject, 'A payment to you did not go through');
  t.match(mail.text, '£12.34');
  t.notMatch(mail.text, /account#notifications/, 'no account page to change choices on');
  t.match(mail.text, 'ask your coordinator');
  t.equal((await waitForRow(id!, (r) => r.status === 'sent', 'sent')).userId, null);
});

t.test("a person who turned a kind off gets none of it, even one queued before they did", async (t) => {
  const org = await createTestOrg(app, 'Choices organisation');
  const p = await participant(app, org);
  const finance = await org.as('finance');

  // Queued while wanted, but refused once by the server; turned off before the retry.
  smtp.refuse({ times: 1, match: sentTo(p.email) });
  const [early] = await queueForContributor(app, org, p.contributorId, 'time_approved');
  await smtp.waitForTransaction((tr) => tr.outcome === 'refused' && tr.mail.to.includes(p.email.toLowerCase()));

  const off = await app.inject({ method: 'PUT', url: '/v1/me/notification-preferences', headers: p.headers, payload: { email: { time_approved: false } } });
  t.equal(off.statusCode, 200, off.body);
  t.equal(json(off).email.time_approved, false);
  t.same(await queueForContributor(app, org, p.contributorId, 'time_approved'), [], 'nothing is queued for a kind turned off');

  await hurryRetry(app, early!);
  const dropped = await waitForRow(early!, (r) => r.status !== 'queued', 'the retry decided');
  t.equal(dropped.status, 'failed');
  t.match(dropped.lastError, /turned this kind of email off/);

  await barrier(app, org, p.contributorId, p.email);
  t.same(
    smtp.receivedBy(p.email).map((m) => m.subject),
    ['A payment is on its way to you'],
    'only the kind still on arrived',
  );
  const listed = json(await app.inject({ method: 'GET', url: `/v1/notifications?userId=${p.userId}&status=failed`, headers: finance }));
  t.same(listed.data.map((n: any) => n.id), [early]);
});

t.test('a person disabled before their message went gets nothing', async (t) => {
  const org = await createTestOrg(app, 'Disabled organisation');
  const p = await participant(app, org);
  smtp.refuse({ times: 1, match: sentTo(p.email) });
  const [id] = await queueForContributor(app, org, p.contributorId, 'payment_sent', { amount: 700, currency: 'GBP', paymentDate: '2026-03-04' });
  await waitForRow(id!, (r) => r.lastError !== null, 'the first refusal');
  const disabled = await app.inject({ method: 'PATCH', url: `/v1/users/${p.userId}`, headers: await org.as('admin'), payload: { disabled: true } });
  t.equal(disabled.statusCode, 200, disabled.body);
  await hurryRetry(app, id!);
  const dropped = await waitForRow(id!, (r) => r.status !== 'queued', 'the retry decided');
  t.match(dropped, { status: 'failed', sentAt: null });
  t.match(dropped.lastError, /disabled/);
  t.same(smtp.receivedBy(p.email), []);
});

t.test('a refusing server (451) is tried again, and the message then arrives once', async (t) => {
  const org = await createTestOrg(app, 'Retry organisation');
  const p = await participant(app, org);
  smtp.refuse({ code: 451, message: 'Greylisted, try again later', times: 1, match: sentTo(p.email) });
  const [id] = await queueForContributor(app, org, p.contributorId, 'payment_sent', { amount: 5000, currency: 'GBP', paymentDate: '2026-03-05', method: 'stripe' });

  const refused = await waitForRow(id!, (r) => r.lastError !== null, 'the refusal recorded');
  t.match(refused, { status: 'queued', attempts: 1, claimedUntil: null }, 'still queued, free for the retry');
  t.match(refused.lastError, /451/);

  await hurryRetry(app, id!);
  const mail = await smtp.waitForMail(sentTo(p.email));
  t.equal(mail.subject, 'A payment is on its way to you');
  const sent = await waitForRow(id!, (r) => r.status === 'sent', 'sent');
  t.match(sent, { attempts: 2, lastError: null });
  t.same(
    smtp.transactions.filter((tr) => tr.mail.to.includes(p.email.toLowerCase())).map((tr) => tr.outcome),
    ['refused', 'accepted'],
  );
  await barrier(app, org, p.contributorId, p.email);
  t.equal(smtp.receivedBy(p.email).filter((m) => m.subject === 'A payment is on its way to you').length, 2, 'this one and the barrier: no copy');
});

t.test('a message that fails on its last attempt is recorded as failed; a 5xx refusal fails at once', async (t) => {
  const org = await createTestOrg(app, 'Failing organisation');
  const p = await participant(app, org);
  const finance = await org.as('finance');
  smtp.refuse({ code: 421, message: 'Service not available', match: sentTo(p.email) });
  const [id] = await queueForContributor(app, org, p.contributorId, 'time_approved');
  await waitForRow(id!, (r) => r.lastError !== null, 'the first refusal');
  await hurryRetry(app, id!, { lastAttempt: true });
  const failed = await waitForRow(id!, (r) => r.status !== 'queued', 'the last attempt');
  t.match(failed, { status: 'failed', attempts: 2, sentAt: null, claimedUntil: null });
  t.match(failed.lastError, /421/);
  const listed = json(await app.inject({ method: 'GET', url: `/v1/notifications?status=failed&userId=${p.userId}`, headers: finance }));
  t.same(listed.data.map((n: any) => [n.id, n.status, n.sentAt]), [[id, 'failed', null]]);

  smtp.refuse({ code: 550, message: 'No such mailbox', match: sentTo(p.email) });
  const [bounced] = await queueForContributor(app, org, p.contributorId, 'payment_failed', { amount: 1, currency: 'GBP' });
  const gone = await waitForRow(bounced!, (r) => r.status !== 'queued', 'a permanent refusal');
  t.match(gone, { status: 'failed', attempts: 1 }, 'no retries for a mailbox that does not exist');
  t.match(gone.lastError, /550/);
  smtp.accept();
  t.same(smtp.receivedBy(p.email), [], 'nothing arrived');
});

t.test('the lease: a held message is left to its sender, a stalled server delivers nothing, and the sweep re-queues', async (t) => {
  const org = await createTestOrg(app, 'Lease organisation');
  const p = await participant(app, org);
  const sender = createNotificationSender({
    db: app.db,
    mail: { smtpUrl: smtp.url, from: 'Payments <payments@example.test>', sendTimeoutMs: 1_000 },
    baseUrl: PUBLIC_URL,
    now: () => new Date(),
    log: app.log,
  })!;
  t.teardown(() => sender.close());

  /** A queued message with no job, as if its job were lost, claimed until `claimedUntil`. */
  async function orphan(claimedUntil: Date | null = null) {
    const id = newId();
    await app.db.insert(notifications).values({
      organisationId: org.organisationId,
      id,
      userId: p.userId,
      contributorId: p.contributorId,
      kind: 'time_approved',
      toAddress: p.email,
      link: '/my',
      data: timeApproved,
      dedupeKey: `test:${id}`,
      claimedUntil,
      createdAt: new Date(),
    });
    return { organisationId: org.organisationId, notificationId: id };
  }

  // Two senders race for one message: one claims it and sends, the other is told to come back.
  const raced = await orphan();
  const other = createNotificationSender({ db: app.db, mail: { smtpUrl: smtp.url, from: 'x@example.test', sendTimeoutMs: 1_000 }, baseUrl: PUBLIC_URL, now: () => new Date(), log: app.log })!;
  t.teardown(() => other.close());
  const outcomes = await Promise.allSettled([sender.deliver(raced, { lastAttempt: false }), other.deliver(raced, { lastAttempt: false })]);
  const said = outcomes.map((o) => (o.status === 'fulfilled' ? o.value : o.reason.message));
  t.equal(said.filter((s) => s === 'sent').length, 1, `one sends (${said.join(' / ')})`);
  t.ok(said.some((s) => s === 'already_sent' || /being sent by another sender/.test(String(s))), 'the other finds it taken');
  t.equal(smtp.receivedBy(p.email).length, 1, 'sent once');
  t.equal(await sender.deliver(raced, { lastAttempt: true }), 'already_sent', 'a sent message is left alone, even on a last attempt');

  // A stalled server: the sender gives up after the send timeout and cuts the connection
  // before the server ever said 250, so nothing was delivered; the next try sends it once.
  smtp.stall({ match: sentTo(p.email) });
  const stalled = await orphan();
  await t.rejects(sender.deliver(stalled, { lastAttempt: false }), 'the stalled send fails');
  t.ok(smtp.transactions.some((tr) => tr.outcome === 'stalled' && tr.mail.messageId === `<${stalled.notificationId}@payments.example.test>`), 'the server had the data');
  t.match(await row(stalled.notificationId), { status: 'queued', claimedUntil: null, attempts: 1 });
  smtp.accept();
  t.equal(await sender.deliver(stalled, { lastAttempt: false }), 'sent');
  t.equal(smtp.receivedBy(p.email).filter((m) => m.messageId === `<${stalled.notificationId}@payments.example.test>`).length, 1, 'delivered once');

  // A live claim is respected; the job comes back later.
  const held = await orphan(new Date(Date.now() + 60_000));
  await t.rejects(sender.deliver(held, { lastAttempt: false }), /being sent by another sender/);
  t.match(await row(held.notificationId), { status: 'queued', attempts: 0 });
  await app.db.update(notifications).set({ status: 'failed', lastError: 'test: left' }).where(eq(notifications.id, held.notificationId));

  // The sweep: a message without a job gets one at once; one whose sender died (its claim runs
  // out in a second) gets one once the claim has run out. The app's worker sends both, once.
  const free = await orphan();
  const dead = await orphan(new Date(Date.now() + 1_000));
  const swept = (await sender.sweep()) as { requeued: number };
  t.ok(swept.requeued >= 2, `re-queued ${swept.requeued}`);
  for (const m of [free, dead]) {
    await waitForRow(m.notificationId, (r) => r.status === 'sent', 'the swept message sent');
    t.equal(smtp.receivedBy(p.email).filter((mail) => mail.messageId === `<${m.notificationId}@payments.example.test>`).length, 1);
  }
  await waitFor(async () => (await jobStates(app, free.notificationId)).join() === 'completed', 'the swept job completed');
  const again = (await sender.sweep()) as { requeued: number };
  t.same(await jobStates(app, free.notificationId), ['completed'], 'a sent message is not swept again');
  t.ok(again.requeued >= 0);
});

t.test('GET /v1/notifications: admin and finance only, own organisation, filters and pages', async (t) => {
  const org = await createTestOrg(app, 'Listing organisation');
  const p = await participant(app, org);
  const ids = [
    ...(await queueForContributor(app, org, p.contributorId, 'time_approved')),
    ...(await queueForContributor(app, org, p.contributorId, 'payment_sent', { amount: 1, currency: 'GBP', paymentDate: '2026-03-01' })),
  ];
  for (const id of ids) await waitForRow(id, (r) => r.status === 'sent', 'sent');
  const financeUser = await person(app, org, 'finance');
  const staff = await inTransaction(app.db, (tx) => staffRecipients(tx, org.organisationId, ['finance']));
  const [staffId] = await inTransaction(app.db, (tx) =>
    queueNotification(tx, org.organisationId, { kind: 'payments_failed', recipients: staff, link: '/finance', data: { count: 2, total: 300, currency: 'GBP' }, about: newId() }, new Date()),
  );
  const staffMail = await smtp.waitForMail(sentTo(financeUser.email));
  t.equal(staffMail.subject, 'Some payments did not go through');
  t.match(staffMail.text, '2 payments of £3.00 failed.');
  await waitForRow(staffId!, (r) => r.status === 'sent', 'sent');

  for (const role of ['admin', 'finance'] as const) {
    const res = await app.inject({ method: 'GET', url: '/v1/notifications', headers: await org.as(role) });
    t.equal(res.statusCode, 200, `${role}: ${res.body}`);
    t.same(json(res).data.map((n: any) => n.id), [...ids, staffId], `${role} sees the organisation's messages, oldest first`);
  }
  for (const role of ['participant', 'coordinator', 'reporter'] as const) {
    const res = await app.inject({ method: 'GET', url: '/v1/notifications', headers: role === 'participant' ? p.headers : await org.as(role) });
    t.equal(res.statusCode, 403, `${role} may not`);
    t.equal(json(res).code, 'forbidden');
  }
  t.equal((await app.inject({ method: 'GET', url: '/v1/notifications' })).statusCode, 401);

  const finance = financeUser.headers;
  const first = json(await app.inject({ method: 'GET', url: '/v1/notifications?limit=1', headers: finance }));
  t.same(first.data.map((n: any) => n.id), [ids[0]]);
  t.type(first.nextCursor, 'string');
  const second = json(await app.inject({ method: 'GET', url: `/v1/notifications?limit=2&cursor=${first.nextCursor}`, headers: finance }));
  t.same(second.data.map((n: any) => n.id), [ids[1], staffId]);
  t.same(json(await app.inject({ method: 'GET', url: `/v1/notifications?userId=${financeUser.userId}`, headers: finance })).data.map((n: any) => n.kind), ['payments_failed']);
  t.same(json(await app.inject({ method: 'GET', url: '/v1/notifications?status=queued', headers: finance })).data, []);

  for (const query of ['status=lost', 'userId=not-a-user', 'limit=0', 'cursor=nonsense', 'colour=blue']) {
    const res = await app.inject({ method: 'GET', url: `/v1/notifications?${query}`, headers: finance });
    t.equal(res.statusCode, 400, `${query}: ${res.body}`);
    t.equal(json(res).code, 'validation_failed');
  }

  const elsewhere = await createTestOrg(app, 'Other listing organisation');
  const theirs = json(await app.inject({ method: 'GET', url: `/v1/notifications?userId=${p.userId}`, headers: await elsewhere.as('finance') }));
  t.same(theirs.data, [], "another organisation's finance sees none of them");
});

t.test('GET and PUT /v1/me/notification-preferences', async (t) => {
  const org = await createTestOrg(app, 'Preferences organisation');
  const admin = await org.as('admin');
  const user = await person(app, org, 'coordinator');
  const read = async () => json(await app.inject({ method: 'GET', url: '/v1/me/notification-preferences', headers: user.headers }));

  const initial = await read();
  t.same(Object.keys(initial.email).sort(), [...notificationKinds].sort(), 'every kind');
  t.equal(initial.email.time_awaiting_approval, false, 'the reminder digest is off until chosen');
  t.equal(initial.email.time_approved, true, 'the others are on');

  const put = (payload: unknown, headers = user.headers) => app.inject({ method: 'PUT', url: '/v1/me/notification-preferences', headers, payload: payload as object });
  const on = await put({ email: { time_awaiting_approval: true } });
  t.equal(on.statusCode, 200, on.body);
  t.equal(json(on).email.time_awaiting_approval, true);
  const partial = await put({ email: { run_awaiting_approval: false } });
  t.match(json(partial).email, { time_awaiting_approval: true, run_awaiting_approval: false, payments_failed: true }, 'a partial map keeps the rest');
  t.same(await read(), json(partial), 'read back as written');

  for (const bad of [{ email: { no_such_kind: true } }, { email: { time_approved: 'yes' } }, { email: { time_approved: true }, sms: {} }, {}, { email: [] }]) {
    const res = await put(bad);
    t.equal(res.statusCode, 400, `${JSON.stringify(bad)}: ${res.body}`);
    t.equal(json(res).code, 'validation_failed');
  }
  t.same(await read(), json(partial), 'refused changes changed nothing');

  const audit = json(await app.inject({ method: 'GET', url: `/v1/audit-events?entityType=user&entityId=${user.userId}`, headers: admin }));
  const changes = audit.data.filter((e: any) => e.action === 'notification_preferences.updated');
  t.equal(changes.length, 2, 'each change audited');
  t.same(changes[1].before, { email: { time_awaiting_approval: true } });
  t.same(changes[1].after, { email: { time_awaiting_approval: true, run_awaiting_approval: false } });

  const other = await person(app, org, 'finance');
  t.equal(json(await app.inject({ method: 'GET', url: '/v1/me/notification-preferences', headers: other.headers })).email.run_awaiting_approval, true, "one person's choice is theirs alone");

  const token = await app.inject({ method: 'POST', url: '/v1/api-tokens', headers: admin, payload: { name: 'script', role: 'finance' } });
  t.equal(token.statusCode, 201, token.body);
  const script = { authorization: `Bearer ${json(token).token}` };
  const byToken = await app.inject({ method: 'GET', url: '/v1/me/notification-preferences', headers: script });
  t.equal(byToken.statusCode, 403, 'an API token has no email choices');
  t.equal((await put({ email: { payments_failed: false } }, script)).statusCode, 403);
  t.equal((await app.inject({ method: 'GET', url: '/v1/me/notification-preferences' })).statusCode, 401);

  const doc = json(await app.inject({ method: 'GET', url: '/openapi.json' }));
  t.ok(doc.paths['/v1/notifications']?.get, 'GET /v1/notifications is documented');
  t.ok(doc.paths['/v1/me/notification-preferences']?.get, 'GET preferences is documented');
  const body = doc.paths['/v1/me/notification-preferences']?.put?.requestBody?.content?.['application/json']?.schema;
  t.same(body?.properties?.email?.propertyNames?.enum, [...notificationKinds], 'the PUT body names the kinds');
});

t.test('the account page: an Emails section with the kinds for the role, saved with CSRF', async (t) => {
  const org = await createTestOrg(app, 'Account page organisation');
  const p = await participant(app, org);
  const page = new WebClient(app).withToken(p.token);
  const res = await page.get('/account');
  t.equal(res.statusCode, 200);
  const body = text(res.body);
  t.match(body, 'Emails');
  t.match(res.body, 'id="notifications"', 'the emails link to this section');
  for (const label of ['When time you gave is approved', 'When a payment is on its way to you', 'When the bank details that payments go to are changed']) {
    t.match(body, label);
  }
  t.notMatch(body, 'When a payment run is waiting for approval', "finance's kinds are not offered to a participant");
  t.same(page.hiddenFields('/account').shown, ['time_approved', 'payment_sent', 'payment_failed', 'payment_held_earnings_limit', 'limit_nearly_reached']);
  t.match(body, 'These emails are always sent, because they warn you if someone changes where your money goes');
  t.notMatch(res.body, /value="payout_details_changed"/, 'the warnings of a change to where money goes have no box to untick');
  const refused = await app.inject({ method: 'PUT', url: '/v1/me/notification-preferences', headers: p.headers, payload: { email: { payout_details_changed: false } } });
  t.equal(refused.statusCode, 400, 'nor can the API turn them off');
  t.match(json(refused).errors, [{ message: /cannot be turned off/ }]);
  t.match(res.body, /name="email" type="checkbox" value="time_approved" checked/);

  // Untick "time approved" and "payment failed": everything else shown stays ticked.
  const ticked = ['payment_sent', 'payment_held_earnings_limit', 'limit_nearly_reached'];
  const saved = await page.post('/account', { ...page.hiddenFields('/account'), email: ticked });
  t.equal(saved.statusCode, 303, saved.body);
  const after = await page.follow(saved);
  t.match(text(after.body), 'Your email choices have been saved.');
  t.notMatch(after.body, /value="time_approved" checked/);
  const prefs = json(await app.inject({ method: 'GET', url: '/v1/me/notification-preferences', headers: p.headers })).email;
  t.match(prefs, { time_approved: false, payment_failed: false, payment_sent: true, payout_details_changed: true, run_awaiting_approval: true });

  const forged = await page.post('/account', { shown: 'payment_sent' }, { csrf: null });
  t.equal(forged.statusCode, 403, 'no CSRF token, no change');
  t.equal(json(await app.inject({ method: 'GET', url: '/v1/me/notification-preferences', headers: p.headers })).email.payment_sent, true);

  const finance = await person(app, org, 'finance');
  const financePage = new WebClient(app).withToken(finance.token);
  await financePage.get('/account');
  t.same(financePage.hiddenFields('/account').shown, ['run_awaiting_approval', 'payments_failed']);
  const admin = await person(app, org, 'admin');
  const adminHtml = await new WebClient(app).withToken(admin.token).get('/account');
  t.match(text(adminHtml.body), 'This service does not send you any emails.', 'admins are sent none of the payment emails');
  const coordinator = await person(app, org, 'coordinator');
  const coordinatorPage = new WebClient(app).withToken(coordinator.token);
  const coordinatorHtml = await coordinatorPage.get('/account');
  t.same(coordinatorPage.hiddenFields('/account').shown, 'time_awaiting_approval');
  t.notMatch(coordinatorHtml.body, /value="time_awaiting_approval" checked/, 'the digest is off until chosen');
  const chosen = await coordinatorPage.post('/account', { ...coordinatorPage.hiddenFields('/account'), email: 'time_awaiting_approval' });
  t.equal(chosen.statusCode, 303);
  t.equal(json(await app.inject({ method: 'GET', url: '/v1/me/notification-preferences', headers: coordinator.headers })).email.time_awaiting_approval, true);

  const reporter = await person(app, org, 'reporter');
  const reporterHtml = await new WebClient(app).withToken(reporter.token).get('/account');
  t.match(text(reporterHtml.body), 'This service does not send you any emails.');

  const anonymous = await new WebClient(app).get('/account');
  t.equal(anonymous.statusCode, 303, 'sign in first');
});

t.test('a message that could not be sent within three days is not sent at all', async (t) => {
  const { MAX_MESSAGE_AGE_MS } = await import('../src/modules/notifications/delivery.js');
  t.equal(MAX_MESSAGE_AGE_MS, 3 * 86_400_000);
  const smtp = await startSmtpServer();
  t.teardown(() => smtp.close());
  const org = await createTestOrg(app, 'Old news organisation');
  const p = await participant(app, org);
  const old = new Date(Date.now() - MAX_MESSAGE_AGE_MS - 60_000);
  const [id] = await inTransaction(app.db, async (tx) =>
    queueNotification(tx, org.organisationId, { kind: 'time_approved', recipients: await contributorRecipients(tx, org.organisationId, p.contributorId), link: '/my', data: { amount: 100, currency: 'GBP', workDate: '2026-01-01' }, about: `old:${newId()}` }, old),
  );
  const sender = createNotificationSender({ db: app.db, mail: { smtpUrl: smtp.url, from: 'Payments <payments@example.test>', sendTimeoutMs: 5_000 }, baseUrl: 'https://pay.example.test', now: () => new Date(), log: app.log })!;
  t.teardown(() => sender.close());
  t.equal(await sender.deliver({ organisationId: org.organisationId, notificationId: id! }, { lastAttempt: false }), 'failed');
  const [row] = await app.db.select().from(notifications).where(eq(notifications.id, id!));
  t.equal(row!.status, 'failed');
  t.match(row!.lastError, /more than 3 days old/);
  t.equal(smtp.received.length, 0, 'nothing reached the mail server');
});
