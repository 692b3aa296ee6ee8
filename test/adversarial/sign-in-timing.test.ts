import { randomBytes, scryptSync } from 'node:crypto';
import { eq } from 'drizzle-orm';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { users } from '../../src/db/schema.js';
import { buildTestApp, createTestOrg, json, uniqueEmail } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';

/**
 * Finding out who has an account from how long a wrong password takes to be refused. An email
 * with no account is checked against a dummy argon2id hash; an account whose hash is still
 * scrypt at N=2^17 (from before argon2id, until its owner next signs in) took about sixty
 * times as long. So every failed sign-in is answered no sooner than FAILED_SIGN_IN_MIN_MS
 * after the check began (default 1000 ms), whichever hash was checked. The suite's other apps
 * set the floor to 0; this one keeps the default.
 */
const FLOOR_MS = loadConfig({}).failedSignInMinMs;
const app = await buildTestApp({ env: { FAILED_SIGN_IN_MIN_MS: String(FLOOR_MS) } });
t.teardown(async () => {
  await app.close();
  await (await testDatabase()).close();
});

const signIn = async (email: string, password: string) => {
  const started = performance.now();
  const res = await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email, password } });
  return { status: res.statusCode, code: res.statusCode === 200 ? null : json(res).code, ms: performance.now() - started };
};

t.test("a wrong password's answer takes as long for an old scrypt account, a current one and no account", async (t) => {
  t.equal(FLOOR_MS, 1000, 'a second unless told otherwise');
  const org = await createTestOrg(app);
  const [legacy] = await app.db.select({ id: users.id }).from(users).where(eq(users.email, org.adminEmail));
  // The admin's hash as the service stored them before argon2id: scrypt$N$r$p$salt$hash at N=2^17.
  const salt = randomBytes(16);
  const key = scryptSync(org.adminPassword, salt, 32, { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 });
  await app.db.update(users).set({ passwordHash: ['scrypt', 2 ** 17, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$') }).where(eq(users.id, legacy!.id));
  const current = await createTestOrg(app);

  for (const [label, email] of [
    ['an email with no account', uniqueEmail('nobody')],
    ['an account still on a scrypt hash', org.adminEmail],
    ['an account on an argon2id hash', current.adminEmail],
  ] as const) {
    const probe = await signIn(email, 'Summer2026!');
    t.same([probe.status, probe.code], [401, 'invalid_credentials'], label);
    t.ok(probe.ms >= FLOOR_MS, `${label}: refused after ${probe.ms.toFixed(0)} ms, not before ${FLOOR_MS}`);
  }
  const owner = await signIn(org.adminEmail, org.adminPassword);
  t.equal(owner.status, 200, "the scrypt account's owner still signs in");
});
