/**
 * Users, invites and API tokens (docs/api-guide.md, "Authentication"): the happy paths, the errors, the
 * audit trail they leave, and login rate limiting. Missing, bad and forged tokens on every
 * route are in test/security.test.ts.
 */
import { and, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { apiTokens, auditEvents, contributors, users } from '../src/db/schema.js';
import { auditEventColumns } from '../src/modules/audit/views.js';
import type { Role } from '../src/domain/enums.js';
import { newId } from '../src/lib/ids.js';
import { appForThisFile, buildTestApp, createTestOrg, json, uniqueEmail, type TestOrg } from './helpers/app.js';

const app = await appForThisFile(t);

const PASSWORD = 'a long enough password 123';

async function createContributor(organisationId: string): Promise<string> {
  const id = newId();
  await app.db.insert(contributors).values({ organisationId, id, name: 'Casey Contributor', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  return id;
}

async function postAs(org: TestOrg, url: string, payload: object, role: Role = 'admin') {
  return app.inject({ method: 'POST', url, headers: await org.as(role), payload });
}

const login = (email: string, password: string) => app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email, password } });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function auditFor(organisationId: string, entityId: string) {
  return app.db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, organisationId), eq(auditEvents.entityId, entityId)))
    .orderBy(auditEvents.id);
}

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

function assertProblem(t: TapTest, res: LightMyRequestResponse, status: number, code: string) {
  t.equal(res.statusCode, status, res.body);
  t.match(res.headers['content-type'], /^application\/problem\+json/, res.body);
  t.equal(json(res).code, code, res.body);
}

// ---------------------------------------------------------------------------------------------
// Users

t.test('an admin adds a user of each role', async (t) => {
  const org = await createTestOrg(app);
  const contributorId = await createContributor(org.organisationId);
  for (const role of ['admin', 'finance', 'coordinator', 'reporter', 'participant'] as const) {
    const email = uniqueEmail(role);
    const res = await postAs(org, '/v1/users', {
      email,
      name: `New ${role}`,
      role,
      password: PASSWORD,
      ...(role === 'participant' ? { contributorId } : {}),
    });
    t.equal(res.statusCode, 201, res.body);
    const user = json(res);
    t.match(user, { id: String, email, name: `New ${role}`, role, contributorId: role === 'participant' ? contributorId : null }, res.body);
    t.notOk('inviteToken' in user, 'a user with a password gets no invite');
    t.notOk('password' in user || 'passwordHash' in user, 'no password comes back');

    const one = await app.inject({ method: 'GET', url: `/v1/users/${user.id}`, headers: await org.as('admin') });
    t.equal(one.statusCode, 200, one.body);
    t.same(json(one), { ...user }, 'GET /v1/users/{id} shows the same user');

    // The password works, and the token says who it is.
    const token = await login(email, PASSWORD);
    t.equal(token.statusCode, 200, token.body);
    const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(json(token).accessToken) });
    t.equal(me.statusCode, 200, me.body);
    t.same(json(me), { userId: user.id, organisationId: org.organisationId, role, contributorId: user.contributorId });
  }
  const listed = await app.inject({ method: 'GET', url: '/v1/users', headers: await org.as('admin') });
  t.equal(listed.statusCode, 200, listed.body);
  t.ok(json(listed).data.length >= 6, 'the founding admin, the five new users and the callers');
  t.notMatch(listed.body, /password|inviteToken|scrypt/i, 'no secrets in the list');
});

t.test('a participant user must name its contributorId', async (t) => {
  const org = await createTestOrg(app);
  const res = await postAs(org, '/v1/users', { email: uniqueEmail(), name: 'Pat', role: 'participant', password: PASSWORD });
  assertProblem(t, res, 400, 'validation_failed');
  t.ok(json(res).errors?.some((e: { field: string }) => e.field === 'body.contributorId'), res.body);
});

t.test("a user cannot be linked to another organisation's contributor", async (t) => {
  const [org, other] = await Promise.all([createTestOrg(app), createTestOrg(app)]);
  const theirs = await createContributor(other.organisationId);
  const res = await postAs(org, '/v1/users', { email: uniqueEmail(), name: 'Pat', role: 'participant', contributorId: theirs });
  // docs/api-guide.md, Roles: another organisation's id is 404.
  assertProblem(t, res, 404, 'not_found');
});

t.test('an email already in use is 409, whatever its case', async (t) => {
  const org = await createTestOrg(app);
  const email = uniqueEmail('dup');
  const first = await postAs(org, '/v1/users', { email, name: 'First', role: 'finance' });
  t.equal(first.statusCode, 201, first.body);
  assertProblem(t, await postAs(org, '/v1/users', { email, name: 'Second', role: 'coordinator' }), 409, 'already_exists');
  assertProblem(t, await postAs(org, '/v1/users', { email: email.toUpperCase(), name: 'Third', role: 'reporter' }), 409, 'already_exists');
  // An email names one user across the service, since log-in takes only an email.
  const elsewhere = await createTestOrg(app);
  assertProblem(t, await postAs(elsewhere, '/v1/users', { email, name: 'Elsewhere', role: 'finance' }), 409, 'already_exists');
});

t.test('a short password is refused', async (t) => {
  const org = await createTestOrg(app);
  const res = await postAs(org, '/v1/users', { email: uniqueEmail(), name: 'Shorty', role: 'finance', password: 'short' });
  assertProblem(t, res, 400, 'validation_failed');
  t.ok(json(res).errors?.some((e: { field: string }) => e.field === 'body.password'), res.body);
});

t.test('only an admin manages users', async (t) => {
  const org = await createTestOrg(app);
  for (const role of ['finance', 'coordinator', 'reporter'] as const) {
    assertProblem(t, await postAs(org, '/v1/users', { email: uniqueEmail(), name: 'X', role: 'admin', password: PASSWORD }, role), 403, 'forbidden');
  }
});

// ---------------------------------------------------------------------------------------------
// Invites

t.test('an invited user sets a password with the one-time invite token', async (t) => {
  const org = await createTestOrg(app);
  const email = uniqueEmail('invitee');
  const created = await postAs(org, '/v1/users', { email, name: 'Ivy Invitee', role: 'coordinator' });
  t.equal(created.statusCode, 201, created.body);
  const { id, inviteToken } = json(created);
  t.type(inviteToken, 'string', 'a user without a password gets an inviteToken');
  t.ok(inviteToken.length >= 32, 'the invite token is long enough not to guess');

  // Nothing logs in before the invite is accepted, not even an empty password.
  for (const password of [PASSWORD, '']) assertProblem(t, await login(email, password), 401, 'invalid_credentials');

  const accepted = await app.inject({ method: 'POST', url: '/v1/auth/accept-invite', payload: { inviteToken, password: PASSWORD } });
  t.equal(accepted.statusCode, 200, accepted.body);
  t.same(json(accepted), { userId: id, email });

  const again = await app.inject({ method: 'POST', url: '/v1/auth/accept-invite', payload: { inviteToken, password: 'someone else wants in' } });
  assertProblem(t, again, 401, 'invalid_credentials');

  const token = await login(email, PASSWORD);
  t.equal(token.statusCode, 200, token.body);
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(json(token).accessToken) });
  t.same(json(me), { userId: id, organisationId: org.organisationId, role: 'coordinator', contributorId: null }, me.body);
  assertProblem(t, await login(email, 'someone else wants in'), 401, 'invalid_credentials');

  // The invite token is stored only as a hash, and spent.
  const [row] = await app.db.select().from(users).where(and(eq(users.organisationId, org.organisationId), eq(users.id, id)));
  t.equal(row?.inviteTokenHash, null, 'the invite is spent');
  t.notMatch(JSON.stringify(row), inviteToken);
});

t.test('an unknown invite token and a short password are refused', async (t) => {
  const unknown = await app.inject({ method: 'POST', url: '/v1/auth/accept-invite', payload: { inviteToken: 'not-a-real-invite', password: PASSWORD } });
  assertProblem(t, unknown, 401, 'invalid_credentials');

  const org = await createTestOrg(app);
  const created = await postAs(org, '/v1/users', { email: uniqueEmail(), name: 'Ivy', role: 'finance' });
  t.equal(created.statusCode, 201, created.body);
  const short = await app.inject({ method: 'POST', url: '/v1/auth/accept-invite', payload: { inviteToken: json(created).inviteToken, password: 'short' } });
  assertProblem(t, short, 400, 'validation_failed');
  // The refused attempt did not spend the invite.
  const ok = await app.inject({ method: 'POST', url: '/v1/auth/accept-invite', payload: { inviteToken: json(created).inviteToken, password: PASSWORD } });
  t.equal(ok.statusCode, 200, ok.body);
});

t.test('an expired invite is refused', async (t) => {
  const org = await createTestOrg(app);
  const created = await postAs(org, '/v1/users', { email: uniqueEmail(), name: 'Late', role: 'finance' });
  t.equal(created.statusCode, 201, created.body);
  // An app whose clock is eight days on, on the same database.
  const later = await buildTestAppAt(new Date(Date.now() + 8 * 24 * 3_600_000));
  t.teardown(() => later.close());
  const res = await later.inject({ method: 'POST', url: '/v1/auth/accept-invite', payload: { inviteToken: json(created).inviteToken, password: PASSWORD } });
  assertProblem(t, res, 401, 'invalid_credentials');
});

async function buildTestAppAt(now: Date) {
  return buildTestApp({ now: () => now });
}

// ---------------------------------------------------------------------------------------------
// API tokens

t.test('an API token acts with its role, is listed without its secret and is revoked at once', async (t) => {
  const org = await createTestOrg(app);
  const admin = await org.as('admin');
  const created = await postAs(org, '/v1/api-tokens', { name: 'nightly export', role: 'finance' });
  t.equal(created.statusCode, 201, created.body);
  const { id, token } = json(created);
  t.match(json(created), { id: String, token: String, name: 'nightly export', role: 'finance' });

  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) });
  t.equal(me.statusCode, 200, me.body);
  t.same(json(me), { userId: null, organisationId: org.organisationId, role: 'finance', contributorId: null });
  const organisation = await app.inject({ method: 'GET', url: '/v1/organisation', headers: bearer(token) });
  t.equal(organisation.statusCode, 200, organisation.body);
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/users', headers: bearer(token) }), 403, 'forbidden');

  const listed = await app.inject({ method: 'GET', url: '/v1/api-tokens', headers: admin });
  t.equal(listed.statusCode, 200, listed.body);
  t.match(json(listed).data, [{ id, name: 'nightly export', role: 'finance', createdAt: String, revokedAt: null }]);
  t.notMatch(listed.body, token, 'the list never shows the token');
  t.notOk('token' in json(listed).data[0], 'no token field');

  // Stored only as a hash.
  const [row] = await app.db.select().from(apiTokens).where(and(eq(apiTokens.organisationId, org.organisationId), eq(apiTokens.id, id)));
  t.ok(row, 'the token row exists');
  t.notMatch(JSON.stringify(row), token, 'the token is not stored in clear');

  const revoked = await app.inject({ method: 'DELETE', url: `/v1/api-tokens/${id}`, headers: admin });
  t.equal(revoked.statusCode, 204, revoked.body);
  assertProblem(t, await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) }), 401, 'unauthorized');
  const after = await app.inject({ method: 'GET', url: '/v1/api-tokens', headers: admin });
  t.match(json(after).data, [{ id, revokedAt: String }], after.body);

  // Revoking again changes nothing and is not an error.
  const twice = await app.inject({ method: 'DELETE', url: `/v1/api-tokens/${id}`, headers: admin });
  t.equal(twice.statusCode, 204, twice.body);
});

t.test("revoking another organisation's token is 404 and leaves it working", async (t) => {
  const [org, other] = await Promise.all([createTestOrg(app), createTestOrg(app)]);
  const created = await postAs(other, '/v1/api-tokens', { name: 'theirs', role: 'reporter' });
  t.equal(created.statusCode, 201, created.body);
  const res = await app.inject({ method: 'DELETE', url: `/v1/api-tokens/${json(created).id}`, headers: await org.as('admin') });
  assertProblem(t, res, 404, 'not_found');
  const still = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(json(created).token) });
  t.equal(still.statusCode, 200, still.body);
});

t.test('API tokens cannot be issued for the participant role, or by a non-admin', async (t) => {
  const org = await createTestOrg(app);
  const participant = await postAs(org, '/v1/api-tokens', { name: 'x', role: 'participant' });
  assertProblem(t, participant, 400, 'validation_failed');
  t.ok(json(participant).errors?.some((e: { field: string }) => e.field === 'body.role'), participant.body);
  assertProblem(t, await postAs(org, '/v1/api-tokens', { name: 'x', role: 'finance' }, 'finance'), 403, 'forbidden');
  // An admin API token can issue API tokens (scripts may rotate their own credentials).
  const adminToken = json(await postAs(org, '/v1/api-tokens', { name: 'rotator', role: 'admin' })).token;
  const issued = await app.inject({ method: 'POST', url: '/v1/api-tokens', headers: bearer(adminToken), payload: { name: 'rotated', role: 'reporter' } });
  t.equal(issued.statusCode, 201, issued.body);
});

// ---------------------------------------------------------------------------------------------
// Audit

t.test('user, invite and API token changes are audited, without secrets', async (t) => {
  const org = await createTestOrg(app);
  const created = await postAs(org, '/v1/users', { email: uniqueEmail('audited'), name: 'Audrey', role: 'finance' });
  t.equal(created.statusCode, 201, created.body);
  const user = json(created);
  const accepted = await app.inject({ method: 'POST', url: '/v1/auth/accept-invite', payload: { inviteToken: user.inviteToken, password: PASSWORD } });
  t.equal(accepted.statusCode, 200, accepted.body);

  const userEvents = await auditFor(org.organisationId, user.id);
  t.same(userEvents.map((e) => e.action), ['user.created', 'user.invite_accepted']);
  t.match(userEvents[0], { entityType: 'user', actorType: 'user', after: { id: user.id, role: 'finance' } });
  t.notOk(JSON.stringify(userEvents).includes(user.email), 'the audit keeps ids, not emails');
  t.type(userEvents[0]?.actorId, 'string', 'the admin who added the user');
  t.not(userEvents[0]?.actorId, user.id);
  t.match(userEvents[1], { entityType: 'user', actorType: 'user', actorId: user.id });
  t.ok(userEvents[0]?.requestId, 'the event names the request');

  const token = await postAs(org, '/v1/api-tokens', { name: 'audited token', role: 'reporter' });
  t.equal(token.statusCode, 201, token.body);
  const revoked = await app.inject({ method: 'DELETE', url: `/v1/api-tokens/${json(token).id}`, headers: await org.as('admin') });
  t.equal(revoked.statusCode, 204, revoked.body);
  const tokenEvents = await auditFor(org.organisationId, json(token).id);
  t.same(tokenEvents.map((e) => e.action), ['api_token.created', 'api_token.revoked']);
  t.match(tokenEvents[0], { entityType: 'api_token', actorType: 'user', after: { name: 'audited token', role: 'reporter' } });

  const all = JSON.stringify([...userEvents, ...tokenEvents]);
  for (const secret of [user.inviteToken, json(token).token, PASSWORD]) t.notMatch(all, secret, 'no secret in the audit log');
  t.notMatch(all, /scrypt\$/, 'no password hash in the audit log');
});

t.test('what an API token does is audited as the token', async (t) => {
  const org = await createTestOrg(app);
  const admin = json(await postAs(org, '/v1/api-tokens', { name: 'provisioning script', role: 'admin' }));
  const created = await app.inject({
    method: 'POST',
    url: '/v1/users',
    headers: bearer(admin.token),
    payload: { email: uniqueEmail('scripted'), name: 'Scripted', role: 'reporter' },
  });
  t.equal(created.statusCode, 201, created.body);
  const [event] = await auditFor(org.organisationId, json(created).id);
  t.match(event, { action: 'user.created', actorType: 'api_token', actorId: admin.id });
});

// ---------------------------------------------------------------------------------------------
// Login rate limiting

t.test('repeated failed logins are rate limited', async (t) => {
  const limited = await buildTestApp({ env: { LOGIN_RATE_LIMIT: '3' } });
  t.teardown(() => limited.close());
  const org = await createTestOrg(limited);
  // An address of its own: failures are counted per address across the whole database.
  const attempt = () =>
    limited.inject({ method: 'POST', url: '/v1/auth/token', remoteAddress: '192.0.2.77', payload: { email: org.adminEmail, password: 'a wrong guess' } });
  for (let i = 1; i <= 3; i++) assertProblem(t, await attempt(), 401, 'invalid_credentials');
  const fourth = await attempt();
  assertProblem(t, fourth, 429, 'rate_limited');
  t.match(json(fourth), { type: String, title: String, status: 429, detail: String });
});
