import t from 'tap';
import { buildTestApp, createTestOrg, json } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';

/**
 * Password guessing, as an attacker does it. The old limit counted per address-and-email pair,
 * so one address could try a common password against every account, and many addresses could
 * take turns at one account. Now failures are counted per account across addresses and per
 * address across accounts, in the database (shared by every instance), and successes not at all.
 */
const LIMIT = 3;
const app = await buildTestApp({ env: { LOGIN_RATE_LIMIT: String(LIMIT) } });
// A second instance on the same database: the limit must hold across instances.
const other = await buildTestApp({ env: { LOGIN_RATE_LIMIT: String(LIMIT) } });
t.teardown(async () => {
  await app.close();
  await other.close();
  await (await testDatabase()).close();
});

let n = 0;
/** A documentation address (RFC 5737) of its own per test: failures are counted per address across the database. */
const freshAddress = () => `198.51.100.${(process.pid % 100) + (++n % 150)}`;
const signIn = (instance: typeof app, email: string, password: string, remoteAddress: string) =>
  instance.inject({ method: 'POST', url: '/v1/auth/token', remoteAddress, payload: { email, password } });

t.test('one address spraying a password across many accounts is stopped', async (t) => {
  const orgs = await Promise.all(Array.from({ length: LIMIT + 2 }, () => createTestOrg(app)));
  const address = freshAddress();
  const statuses = [];
  for (const org of orgs) statuses.push((await signIn(app, org.adminEmail, 'Summer2026!', address)).statusCode);
  t.same(statuses.slice(0, LIMIT), Array(LIMIT).fill(401));
  t.same(statuses.slice(LIMIT), [429, 429], 'after the limit, every account is closed to that address');
  const blocked = await signIn(other, orgs[0]!.adminEmail, orgs[0]!.adminPassword, address);
  t.equal(blocked.statusCode, 429, 'on the other instance too, even with the right password');
  t.ok(Number(blocked.headers['retry-after']) >= 1 && Number(blocked.headers['retry-after']) <= 60, `Retry-After ${blocked.headers['retry-after']}`);
  t.equal(json(blocked).code, 'rate_limited');
  const elsewhere = await signIn(app, orgs[0]!.adminEmail, orgs[0]!.adminPassword, freshAddress());
  t.equal(elsewhere.statusCode, 200, 'the owner signs in from their own address');
});

t.test('many addresses taking turns at one account are stopped', async (t) => {
  const org = await createTestOrg(app);
  const statuses = [];
  for (let i = 0; i < LIMIT + 1; i++) {
    statuses.push((await signIn(i % 2 ? other : app, org.adminEmail, `guess ${i}`, freshAddress())).statusCode);
  }
  t.same(statuses, [...Array(LIMIT).fill(401), 429], 'the account closes after the limit, whatever the address');
});

t.test('successful sign-ins are not counted', async (t) => {
  const org = await createTestOrg(app);
  const address = freshAddress();
  for (let i = 0; i < LIMIT * 2; i++) t.equal((await signIn(app, org.adminEmail, org.adminPassword, address)).statusCode, 200);
});
