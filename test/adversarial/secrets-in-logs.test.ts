/**
 * One-time secrets never reach a log (#17). Found in review: invitation links carried their code
 * in the query string (`/accept-invite?token=…`), and the request log wrote every URL in full, so
 * anyone who could read the logs could take over an invited account. Now the links carry the
 * code in the fragment, and the log redacts such query parameters from any URL that still has
 * them; bodies with passwords, invite and reset codes are redacted too.
 *
 * Nor does anyone's email address (#18): logs are kept longer, and read by more people, than the
 * records they describe, and an erased contributor must not live on in them. A mail server's
 * refusal names the address it refused; a URL may carry one; a log call may be handed one.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, eq } from 'drizzle-orm';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { notifications } from '../../src/db/schema.js';
import { createTestOrg, json, TEST_JWT_SECRET, uniqueEmail } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';
import { cleanEnv } from '../helpers/env.js';
import { isolatedPostgres } from '../helpers/payout-fixtures.js';
import { sentTo, startSmtpServer } from '../helpers/smtp.js';
import { WebClient } from '../helpers/web.js';

// Its own PostgreSQL database: its job workers send email, and must not take other files' jobs.
// (Registered first, so it is dropped last.)
const isolated = await isolatedPostgres('secrets_in_logs');
t.teardown(() => isolated.drop());
const smtp = await startSmtpServer();
t.teardown(() => smtp.close());

const lines: string[] = [];
const config = loadConfig({
  LOG_LEVEL: 'trace',
  JWT_SECRET: TEST_JWT_SECRET,
  PASSWORD_HASH_MEMORY_KIB: '1024',
  FAILED_SIGN_IN_MIN_MS: '0',
  LOGIN_RATE_LIMIT: '1000',
  SMTP_URL: smtp.url,
  MAIL_FROM: 'Payments <payments@ledger.example>',
  MAIL_SEND_TIMEOUT_SECONDS: '2',
  PUBLIC_URL: 'https://payments.example.test',
  PAYOUT_WORKERS: '1',
});
// With the job queue, so email is really delivered (and refused) and its workers log.
const app = await buildApp({ config, database: await testDatabase(), jwtSecret: TEST_JWT_SECRET, jobs: true, logStream: { write: (line) => void lines.push(line) } });
await app.ready();
t.teardown(async () => {
  await app.close();
  await (await testDatabase()).close();
});

t.test('invitation and reset codes, and passwords, appear in no log line', async (t) => {
  const org = await createTestOrg(app);
  const admin = { authorization: `Bearer ${json(await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: org.adminEmail, password: org.adminPassword } })).accessToken}` };
  const invited = json(await app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { email: uniqueEmail('invited'), name: 'Invited', role: 'coordinator' } }));
  const reset = json(await app.inject({ method: 'POST', url: `/v1/users/${invited.id}/password-reset`, headers: admin }));
  const secrets = [invited.inviteToken as string, reset.resetToken as string, 'a password nobody may log'];
  t.ok(secrets.every((s) => typeof s === 'string' && s.length > 20));

  // An old-style link, with the code in the query string, under every name it has had.
  for (const name of ['token', 'code', 'inviteToken']) await app.inject({ method: 'GET', url: `/accept-invite?${name}=${invited.inviteToken}&lang=en` });
  await app.inject({ method: 'GET', url: `/reset-password?token=${reset.resetToken}` });
  // The codes and a password sent to the API, rightly and wrongly.
  await app.inject({ method: 'POST', url: '/v1/auth/reset-password', payload: { resetToken: reset.resetToken, password: 'short' } });
  await app.inject({ method: 'POST', url: '/v1/auth/accept-invite', payload: { inviteToken: invited.inviteToken, password: 'a password nobody may log' } });
  await app.inject({ method: 'POST', url: '/v1/auth/reset-password', payload: { resetToken: reset.resetToken, password: 'a password nobody may log' } });
  await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: invited.email, password: 'a password nobody may log' } });

  const log = lines.join('');
  t.ok(log.includes('/accept-invite?'), 'the old-style requests were logged');
  t.ok(log.includes('token=REDACTED') && log.includes('inviteToken=REDACTED'), 'with their codes redacted');
  t.ok(log.includes('lang=en'), 'and the rest of the query kept');
  for (const secret of secrets) t.notOk(log.includes(secret), `no log line holds ${secret.slice(0, 6)}…`);
});

/** Anything that looks like an email address: something@something.tld, written out or URL-encoded. */
const EMAIL = /[^\s"'<>()@]+(?:@|%40)[^\s"'<>()@]+\.[a-z]{2,}/gi;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (at most 20 s) until a log line matches, so lines written after a response are in. */
async function logged(pattern: RegExp): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const line = lines.find((l) => pattern.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line matched ${pattern} within 20 s; ${lines.length} lines`);
    await sleep(50);
  }
}

t.test('no email address appears in any log line', async (t) => {
  const from = lines.length;
  const org = await createTestOrg(app);
  const admin = { authorization: `Bearer ${json(await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: org.adminEmail, password: org.adminPassword } })).accessToken}` };
  const coordinator = await org.as('coordinator');
  const address = (label: string) => uniqueEmail(`logs-${label}`);

  // Signing in, wrongly: an unknown address, a wrong password, the sign-in page, a malformed body.
  await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: address('nobody'), password: 'wrong password' } });
  await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: org.adminEmail, password: 'wrong password' } });
  await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: [address('in-an-array')], password: 1 } });
  const page = new WebClient(app);
  await page.get(`/login?next=${encodeURIComponent('/account')}`);
  await page.post('/login', { email: address('on-the-page'), password: 'wrong password' });

  // Users: an invitation, the same address again, a reset emailed and used.
  const invitedEmail = address('invited');
  const invited = json(await app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { email: invitedEmail, name: 'Invited Person', role: 'finance' } }));
  const again = await app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { email: invitedEmail, name: 'Invited Twice', role: 'finance' } });
  t.equal(again.statusCode, 409, again.body);
  const reset = json(await app.inject({ method: 'POST', url: `/v1/users/${invited.id}/password-reset`, headers: admin }));
  await smtp.waitForMail(sentTo(invitedEmail));
  await app.inject({ method: 'POST', url: '/v1/auth/reset-password', payload: { resetToken: reset.resetToken, password: 'a new password for the logs' } });
  await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: invitedEmail, password: 'a new password for the logs' } });

  // Contributors, with their addresses set and changed, and one address twice.
  const contributorEmail = address('contributor');
  const contributor = json(await app.inject({ method: 'POST', url: '/v1/contributors', headers: coordinator, payload: { name: 'Logged Person', email: contributorEmail, kind: 'carer', paymentMethod: 'voucher' } }));
  const changedEmail = address('contributor-new');
  await app.inject({ method: 'PATCH', url: `/v1/contributors/${contributor.id}`, headers: coordinator, payload: { email: changedEmail } });
  await app.inject({ method: 'POST', url: '/v1/contributors', headers: coordinator, payload: { name: 'Same Address', email: changedEmail.toUpperCase(), kind: 'carer', paymentMethod: 'voucher' } });
  await app.inject({ method: 'POST', url: '/v1/contributors', headers: coordinator, payload: { name: 'Not An Address', email: 'not-an-address', kind: 'carer', paymentMethod: 'voucher' } });

  // An address in a URL, where none belongs.
  await app.inject({ method: 'GET', url: `/v1/users?email=${address('in-a-url')}`, headers: admin });
  await app.inject({ method: 'GET', url: `/v1/users?email=${encodeURIComponent(address('encoded-in-a-url'))}`, headers: admin });

  // A mail server that refuses an address for good, naming it, as mail servers do.
  const refusedEmail = address('refused');
  const refusedUser = json(await app.inject({ method: 'POST', url: '/v1/users', headers: admin, payload: { email: refusedEmail, name: 'Refused Person', role: 'coordinator' } }));
  smtp.refuse({ code: 550, message: `5.1.1 <${refusedEmail}>: Recipient address rejected: User unknown`, times: 1, match: sentTo(refusedEmail) });
  await app.inject({ method: 'POST', url: `/v1/users/${refusedUser.id}/password-reset`, headers: admin });
  await smtp.waitForTransaction((x) => x.outcome === 'refused' && x.mail.to.includes(refusedEmail.toLowerCase()));
  await logged(/recorded as failed/);
  const [failed] = await app.db
    .select({ lastError: notifications.lastError })
    .from(notifications)
    .where(and(eq(notifications.organisationId, org.organisationId), eq(notifications.userId, refusedUser.id)));
  t.match(failed?.lastError, /550/, 'the refusal is recorded');
  t.notOk(failed?.lastError?.includes(refusedEmail), 'without the address the server named');

  // And straight through the logger, as any module might: a field known to hold an address, one
  // nested, one under a name nobody thought of, and the message itself.
  app.log.info({ email: address('field'), user: { email: address('nested') }, toAddress: address('to-address'), forwardedTo: address('forwarded-to') }, `sent to ${address('message')}`);
  app.log.error({ err: Object.assign(new Error(`duplicate key: (email)=(${address('error')})`), { detail: `Key (email)=(${address('detail')}) already exists.` }) }, 'unhandled error');

  const log = lines.slice(from).join('');
  t.ok(log.includes('"statusCode":409'), 'the requests were logged');
  t.ok(log.includes('recorded as failed'), 'and the refused email');
  t.ok(log.includes('/v1/users?email='), 'and the URL that carried an address (without it)');
  const direct = await logged(/sent to /);
  t.match(JSON.parse(direct), { email: '[Redacted]', user: { email: '[Redacted]' }, toAddress: '[Redacted]', forwardedTo: '[email]', msg: 'sent to [email]' }, 'known fields are redacted, and the message scrubbed');
  const unplanned = await logged(/duplicate key/);
  t.match(JSON.parse(unplanned), { err: { message: 'duplicate key: (email)=([email])', detail: 'Key (email)=([email]) already exists.' } }, "an error's text is scrubbed where it stands");
  const unparsable = lines.slice(from).filter((l) => {
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });
  t.same(unparsable, [], 'every line is still JSON');
  const addresses = [...new Set(log.match(EMAIL) ?? [])];
  t.same(addresses, [], `no log line holds an email address:\n${lines.slice(from).filter((l) => EMAIL.test(l)).join('')}`);
});

t.test('the command line prints no email address in its errors', async (t) => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const run = (args: string[]) =>
    new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['src/cli.ts', ...args], { cwd: root, env: { ...cleanEnv(), PGLITE_DIR: join(root, 'data', 'never-opened') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
    });
  // Two addresses pasted where one belongs: Node's argument parser names the second.
  const pasted = await run(['create-org', '--name', 'Org', '--admin-email', 'first.admin@cli.example', 'second.admin@cli.example', '--admin-password', 'long enough password']);
  t.equal(pasted.code, 1, pasted.output);
  t.match(pasted.output, /Usage/, 'the usage is shown');
  t.same(pasted.output.match(EMAIL) ?? [], [], pasted.output);
});
