import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACCESS_STATE_TTL_MS } from '../src/plugins/access-state.js';
import { appForThisFile, buildTestApp, createTestOrg, json, uniqueEmail } from './helpers/app.js';

/**
 * Who holds the keys (#17): users can be disabled, re-roled and reset; logout revokes; API
 * tokens act for their maker and may expire; the last active admin stays. Every check here is
 * against the real auth plugin and database, on whichever database the suite runs.
 */
let clock = new Date();
const app = await appForThisFile(t, { now: () => clock });

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const me = async (token: string) => app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
const signIn = async (email: string, password: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email, password } });

async function userWithPassword(org: Awaited<ReturnType<typeof createTestOrg>>, role: 'finance' | 'admin' | 'coordinator') {
  const email = uniqueEmail(role);
  const password = 'a long enough password';
  const created = await app.inject({
    method: 'POST',
    url: '/v1/users',
    headers: bearer(await adminToken(org)),
    payload: { email, name: `A ${role}`, role, password },
  });
  t.equal(created.statusCode, 201, created.body);
  const login = await signIn(email, password);
  return { id: json(created).id as string, email, password, token: json(login).accessToken as string };
}

async function adminToken(org: Awaited<ReturnType<typeof createTestOrg>>) {
  return json((await signIn(org.adminEmail, org.adminPassword))).accessToken as string;
}

const patchUser = async (admin: string, id: string, payload: object) =>
  app.inject({ method: 'PATCH', url: `/v1/users/${id}`, headers: bearer(admin), payload });

t.test('a disabled user is refused at once, stays signed out when enabled again, and may sign in anew', async (t) => {
  const org = await createTestOrg(app);
  const admin = await adminToken(org);
  const finance = await userWithPassword(org, 'finance');
  const script = json(await app.inject({ method: 'POST', url: '/v1/api-tokens', headers: bearer(await adminToken(org)), payload: { name: 'x', role: 'reporter' } }));
  t.equal((await me(finance.token)).statusCode, 200);

  const disabled = await patchUser(admin, finance.id, { disabled: true });
  t.equal(disabled.statusCode, 200, disabled.body);
  t.equal(json(disabled).disabled, true);
  t.equal((await me(finance.token)).statusCode, 401, 'the JWT stops');
  t.equal((await signIn(finance.email, finance.password)).statusCode, 401, 'and signing in is refused like a wrong password');
  t.equal(json(await signIn(finance.email, finance.password)).code, 'invalid_credentials');
  t.equal((await me(script.token)).statusCode, 200, "another user's API token is untouched");

  t.equal((await patchUser(admin, finance.id, { disabled: false })).statusCode, 200);
  t.equal((await me(finance.token)).statusCode, 401, 'the old token stays revoked after enabling');
  const again = await signIn(finance.email, finance.password);
  t.equal(again.statusCode, 200);
  t.equal((await me(json(again).accessToken)).statusCode, 200);

  const audit = json(await app.inject({ method: 'GET', url: `/v1/audit-events?entityId=${finance.id}`, headers: bearer(admin) }));
  const actions = (audit.data as { action: string }[]).map((e) => e.action);
  t.ok(actions.includes('user.disabled') && actions.includes('user.enabled'), `audited: ${actions.join(', ')}`);
});

t.test("an API token acts for its maker: disabling the maker stops it; expiry and last use are kept", async (t) => {
  const org = await createTestOrg(app);
  const admin = await adminToken(org);
  const maker = await userWithPassword(org, 'admin');
  const made = await app.inject({
    method: 'POST',
    url: '/v1/api-tokens',
    headers: bearer(maker.token),
    payload: { name: 'nightly export', role: 'reporter', expiresAt: new Date(clock.getTime() + 3_600_000).toISOString() },
  });
  t.equal(made.statusCode, 201, made.body);
  const token = json(made).token as string;
  t.equal((await app.inject({ method: 'GET', url: '/v1/reports/distribution?from=2026-01-01&to=2026-12-31', headers: bearer(token) })).statusCode, 200);

  const listed = json(await app.inject({ method: 'GET', url: '/v1/api-tokens', headers: bearer(admin) })).data.find((x: { id: string }) => x.id === json(made).id);
  t.equal(listed.createdBy, maker.id, 'the token belongs to its maker');
  t.ok(listed.expiresAt);
  t.ok(listed.lastUsedAt, 'its last use is shown');

  t.equal((await patchUser(admin, maker.id, { disabled: true })).statusCode, 200);
  t.equal((await me(token)).statusCode, 401, "the maker's token stops with them");
  t.equal((await patchUser(admin, maker.id, { disabled: false })).statusCode, 200);
  t.equal((await me(token)).statusCode, 401, 'and stays revoked when they are enabled again');

  const another = json(
    await app.inject({
      method: 'POST',
      url: '/v1/api-tokens',
      headers: bearer(admin),
      payload: { name: 'short-lived', role: 'reporter', expiresAt: new Date(clock.getTime() + 3_600_000).toISOString() },
    }),
  ).token as string;
  t.equal((await me(another)).statusCode, 200);
  const saved = clock;
  clock = new Date(saved.getTime() + 2 * 3_600_000);
  try {
    await sleep(ACCESS_STATE_TTL_MS + 50);
    const expired = await me(another);
    t.equal(expired.statusCode, 401, 'past its expiry it is refused');
  } finally {
    clock = saved;
  }
  const past = await app.inject({ method: 'POST', url: '/v1/api-tokens', headers: bearer(admin), payload: { name: 'x', role: 'reporter', expiresAt: '2020-01-01T00:00:00Z' } });
  t.equal(past.statusCode, 400, 'an expiry already past is refused');
});

t.test('a PATCH that changes nothing answers the user as they are (found by the hostile-input suite: it was a 500)', async (t) => {
  const org = await createTestOrg(app);
  const admin = await adminToken(org);
  const user = await userWithPassword(org, 'finance');
  const same = await patchUser(admin, user.id, {});
  t.equal(same.statusCode, 200, same.body);
  t.match(json(same), { id: user.id, role: 'finance', disabled: false });
  const again = await patchUser(admin, user.id, { disabled: false, role: 'finance' });
  t.equal(again.statusCode, 200, 'enabling an enabled user with their own role changes nothing either');
  t.equal((await me(user.token)).statusCode, 200, 'and signs nobody out');
});

t.test('a role change applies to tokens already issued', async (t) => {
  const org = await createTestOrg(app);
  const admin = await adminToken(org);
  const user = await userWithPassword(org, 'coordinator');
  const asFinance = () => app.inject({ method: 'GET', url: '/v1/payout-runs', headers: bearer(user.token) });
  t.equal((await asFinance()).statusCode, 403);
  t.equal((await patchUser(admin, user.id, { role: 'finance' })).statusCode, 200);
  t.equal((await asFinance()).statusCode, 200, 'the same token now has the new role');
  t.equal(json(await me(user.token)).role, 'finance');
  t.equal((await patchUser(admin, user.id, { role: 'participant' })).statusCode, 400, 'a participant needs a contributor');
});

t.test('the last active admin cannot be disabled or demoted, even by two admins at once', async (t) => {
  const org = await createTestOrg(app);
  const admin = await adminToken(org);
  const self = await patchUser(admin, org.adminUserId, { disabled: true });
  t.equal(self.statusCode, 409);
  t.equal(json(self).code, 'invalid_state');
  t.equal((await patchUser(admin, org.adminUserId, { role: 'finance' })).statusCode, 409);

  const second = await userWithPassword(org, 'admin');
  // Each demotes the other at the same moment: one must fail, or nobody would be admin.
  const results = await Promise.all([patchUser(admin, second.id, { role: 'finance' }), patchUser(second.token, org.adminUserId, { role: 'finance' })]);
  const statuses = results.map((r) => r.statusCode).sort();
  t.same(statuses, [200, 409], `one succeeds and one is refused: ${results.map((r) => r.body).join(' | ')}`);
  // Whoever was not demoted is the admin left.
  const remaining = results[0]!.statusCode === 200 ? admin : second.token;
  const users = json(await app.inject({ method: 'GET', url: '/v1/users', headers: bearer(remaining) }));
  t.equal((users.data as { role: string; disabled: boolean }[]).filter((u) => u.role === 'admin' && !u.disabled).length, 1, 'one active admin remains');
});

t.test('an admin-issued password reset sets a new password once and ends every earlier token', async (t) => {
  const org = await createTestOrg(app);
  const admin = await adminToken(org);
  const user = await userWithPassword(org, 'finance');
  const issued = await app.inject({ method: 'POST', url: `/v1/users/${user.id}/password-reset`, headers: bearer(admin) });
  t.equal(issued.statusCode, 200, issued.body);
  const { resetToken } = json(issued);
  t.equal((await me(user.token)).statusCode, 200, 'issuing a reset alone signs nobody out');

  const done = await app.inject({ method: 'POST', url: '/v1/auth/reset-password', payload: { resetToken, password: 'a brand new password' } });
  t.equal(done.statusCode, 200, done.body);
  t.equal((await me(user.token)).statusCode, 401, 'the earlier token stops');
  t.equal((await signIn(user.email, user.password)).statusCode, 401, 'the old password no longer works');
  t.equal((await signIn(user.email, 'a brand new password')).statusCode, 200);
  const reused = await app.inject({ method: 'POST', url: '/v1/auth/reset-password', payload: { resetToken, password: 'yet another password' } });
  t.equal(reused.statusCode, 401, 'a reset token works once');

  const late = json(await app.inject({ method: 'POST', url: `/v1/users/${user.id}/password-reset`, headers: bearer(admin) })).resetToken;
  const saved = clock;
  clock = new Date(saved.getTime() + 25 * 3_600_000);
  try {
    const expired = await app.inject({ method: 'POST', url: '/v1/auth/reset-password', payload: { resetToken: late, password: 'too late a password' } });
    t.equal(expired.statusCode, 401, 'after 24 hours the reset has expired');
  } finally {
    clock = saved;
  }
});

t.test('logout revokes the token it is called with, and only that one', async (t) => {
  const org = await createTestOrg(app);
  const user = await userWithPassword(org, 'finance');
  const other = json(await signIn(user.email, user.password)).accessToken as string;
  const out = await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(user.token) });
  t.equal(out.statusCode, 204, out.body);
  t.equal((await me(user.token)).statusCode, 401);
  t.equal((await me(other)).statusCode, 200, 'a session elsewhere goes on');

  const script = json(await app.inject({ method: 'POST', url: '/v1/api-tokens', headers: bearer(await adminToken(org)), payload: { name: 'x', role: 'reporter' } })).token;
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(script) })).statusCode, 204);
  t.equal((await me(script)).statusCode, 401, 'an API token that logs out is revoked');
});

t.test('another instance sees a disabled user within a second', async (t) => {
  const other = await buildTestApp({ now: () => clock });
  t.teardown(() => other.close());
  const org = await createTestOrg(app);
  const admin = await adminToken(org);
  const user = await userWithPassword(org, 'finance');
  t.equal((await other.inject({ method: 'GET', url: '/v1/me', headers: bearer(user.token) })).statusCode, 200, 'known to the other instance');
  t.equal((await patchUser(admin, user.id, { disabled: true })).statusCode, 200);
  await sleep(ACCESS_STATE_TTL_MS + 100);
  t.equal((await other.inject({ method: 'GET', url: '/v1/me', headers: bearer(user.token) })).statusCode, 401);
});

t.test("passwords are hashed with argon2id at OWASP's setting by default, and other hashes are raised on the next sign-in", async (t) => {
  const { loadConfig, ConfigError } = await import('../src/config.js');
  const { hashPassword, verifyPassword, needsRehash, setPasswordHashMemory, DEFAULT_HASH_MEMORY_KIB } = await import('../src/lib/secrets.js');
  t.equal(loadConfig({}).passwordHashMemoryKib, 19_456, '19 MiB unless told otherwise');
  t.equal(DEFAULT_HASH_MEMORY_KIB, 19_456);
  t.throws(() => loadConfig({ PASSWORD_HASH_COST: '17' }), ConfigError, "scrypt's old setting is refused, not ignored");
  t.throws(() => loadConfig({ PASSWORD_HASH_MEMORY_KIB: '262145' }), ConfigError, 'no more memory than a stored hash may ask for');
  setPasswordHashMemory(DEFAULT_HASH_MEMORY_KIB);
  try {
    const owasp = await hashPassword('correct horse battery staple');
    t.match(owasp, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/, 'm=19 MiB, t=2, p=1, a 16-byte salt and a 32-byte hash');
    t.ok(await verifyPassword('correct horse battery staple', owasp));
    t.notOk(await verifyPassword('correct horse battery stapler', owasp));
    t.ok(await verifyPassword('cafe\u0301', await hashPassword('caf\u00e9')), 'compared as NFKC');
    t.notOk(needsRehash(owasp));
  } finally {
    setPasswordHashMemory(1024);
  }

  const { scryptSync, randomBytes } = await import('node:crypto');
  const { users } = await import('../src/db/schema.js');
  const { eq } = await import('drizzle-orm');
  const storedHash = async (id: string) => (await app.db.select({ h: users.passwordHash }).from(users).where(eq(users.id, id)))[0]!.h!;
  const store = (id: string, hash: string) => app.db.update(users).set({ passwordHash: hash }).where(eq(users.id, id));
  const signInOn = (on: typeof app, user: { email: string }, password: string) =>
    on.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: user.email, password } });

  const org = await createTestOrg(app);
  const user = await userWithPassword(org, 'finance');
  t.match(await storedHash(user.id), /^\$argon2id\$v=19\$m=1024,t=2,p=1\$/, 'the suite hashes with less memory (PASSWORD_HASH_MEMORY_KIB=1024)');

  // A hash from before argon2id, as the service stored them: scrypt$N$r$p$salt$hash.
  const salt = randomBytes(16);
  const scryptHash = ['scrypt', 4096, 8, 1, salt.toString('base64url'), scryptSync(user.password, salt, 32, { N: 4096, r: 8, p: 1 }).toString('base64url')].join('$');
  await store(user.id, scryptHash);
  t.equal((await signInOn(app, user, `${user.password}!`)).statusCode, 401, 'a scrypt hash still refuses a wrong password');
  t.equal(await storedHash(user.id), scryptHash, 'and is kept');
  t.equal((await signInOn(app, user, user.password)).statusCode, 200, 'a scrypt hash still lets its owner in');
  t.match(await storedHash(user.id), /^\$argon2id\$v=19\$m=1024,t=2,p=1\$/, 'and becomes an argon2id hash');
  t.equal((await signInOn(app, user, user.password)).statusCode, 200);

  const more = await buildTestApp({ env: { PASSWORD_HASH_MEMORY_KIB: '2048' } });
  try {
    t.equal((await signInOn(more, user, user.password)).statusCode, 200);
    t.match(await storedHash(user.id), /^\$argon2id\$v=19\$m=2048,t=2,p=1\$/, 'rehashed at the memory now configured');
    t.equal((await signInOn(more, user, user.password)).statusCode, 200);
  } finally {
    await more.close();
    setPasswordHashMemory(1024);
  }

  // A stored hash asking for more than the service agrees to spend is refused, not computed:
  // these are real hashes of the password, which would verify if they were checked.
  // The package's Algorithm and Version are const enums: argon2i is 1, argon2id 2; v=16 is 0.
  const { hash: argon2 } = (await import('@node-rs/argon2')) as unknown as { hash: (password: string, options: object) => Promise<string> };
  for (const [label, options] of [
    ['eleven passes', { timeCost: 11, parallelism: 1 }],
    ['five lanes', { timeCost: 2, parallelism: 5 }],
  ] as const) {
    const real = await argon2(user.password, { algorithm: 2, memoryCost: 1024, ...options });
    await store(user.id, real);
    t.equal((await signInOn(app, user, user.password)).statusCode, 401, `a hash asking for ${label} is not checked`);
    t.equal(await storedHash(user.id), real, 'and is left as it is');
  }
  t.notOk(await verifyPassword(user.password, (await storedHash(user.id)).replace(/m=\d+,/, 'm=4194304,')), 'nor one asking for 4 GiB');
  const argon2i = await argon2(user.password, { algorithm: 1, memoryCost: 1024, timeCost: 2, parallelism: 1 });
  t.match(argon2i, /^\$argon2i\$/);
  t.notOk(await verifyPassword(user.password, argon2i), 'only argon2id, though this argon2i hash is of the right password');
  t.equal(await verifyPassword(user.password, '$argon2id$garbage'), false, 'a malformed hash verifies nothing');

  // argon2's older version (v=16) still verifies, and is rehashed at today's.
  const v16 = await argon2(user.password, { algorithm: 2, memoryCost: 1024, timeCost: 2, parallelism: 1, version: 0 });
  t.match(v16, /^\$argon2id\$v=16\$/);
  await store(user.id, v16);
  t.equal((await signInOn(app, user, user.password)).statusCode, 200);
  t.match(await storedHash(user.id), /^\$argon2id\$v=19\$m=1024,t=2,p=1\$/, 'rehashed at v=19');
});

t.test('a password reset is emailed with its code in the link, and the outbox forgets the code once sent', async (t) => {
  const { startSmtpServer } = await import('./helpers/smtp.js');
  const { createNotificationSender } = await import('../src/modules/notifications/delivery.js');
  const { notifications } = await import('../src/db/schema.js');
  const { and, eq } = await import('drizzle-orm');
  const smtp = await startSmtpServer();
  t.teardown(() => smtp.close());
  const org = await createTestOrg(app);
  const admin = await adminToken(org);
  const user = await userWithPassword(org, 'coordinator');
  // Email preferences do not stop it: it is the person's way back in.
  await app.inject({ method: 'PUT', url: '/v1/me/notification-preferences', headers: bearer(user.token), payload: { email: { time_awaiting_approval: false } } });
  const { resetToken } = json(await app.inject({ method: 'POST', url: `/v1/users/${user.id}/password-reset`, headers: bearer(admin) }));

  const [queued] = await app.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.organisationId, org.organisationId), eq(notifications.userId, user.id), eq(notifications.kind, 'password_reset')));
  t.ok(queued, 'queued in the transaction that issued the reset');
  const sender = createNotificationSender({
    db: app.db,
    mail: { smtpUrl: smtp.url, from: 'Payments <payments@example.test>', sendTimeoutMs: 5_000 },
    baseUrl: 'https://pay.example.test',
    now: () => clock,
    log: app.log,
  })!;
  t.teardown(() => sender.close());
  t.equal(await sender.deliver({ organisationId: org.organisationId, notificationId: queued!.id }, { lastAttempt: false }), 'sent');
  const mail = smtp.received.find((m) => m.to.includes(user.email.toLowerCase()))!;
  t.equal(mail.subject, 'Choose a new password');
  t.match(mail.text, `https://pay.example.test/reset-password#${resetToken}`, 'the code is in the link, in its fragment');
  t.notMatch(mail.subject, resetToken);
  const [after] = await app.db.select().from(notifications).where(eq(notifications.id, queued!.id));
  t.equal(after!.link, '/reset-password', 'once sent, the outbox keeps no usable code');
  t.notMatch(JSON.stringify(after), resetToken);
});
