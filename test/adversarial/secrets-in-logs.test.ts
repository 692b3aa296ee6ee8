/**
 * One-time secrets never reach a log (#17). Found in review: invitation links carried their code
 * in the query string (`/accept-invite?token=…`), and the request log wrote every URL in full, so
 * anyone who could read the logs could take over an invited account. Now the links carry the
 * code in the fragment, and the log redacts such query parameters from any URL that still has
 * them; bodies with passwords, invite and reset codes are redacted too.
 */
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestOrg, json, TEST_JWT_SECRET, uniqueEmail } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';

const lines: string[] = [];
const config = loadConfig({ LOG_LEVEL: 'trace', JWT_SECRET: TEST_JWT_SECRET, PASSWORD_HASH_COST: '12', LOGIN_RATE_LIMIT: '1000' });
const app = await buildApp({ config, database: await testDatabase(), jwtSecret: TEST_JWT_SECRET, jobs: false, logStream: { write: (line) => void lines.push(line) } });
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
