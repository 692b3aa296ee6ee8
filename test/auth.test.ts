import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';

const app = await appForThisFile(t);

t.test('an admin logs in and sees who they are', async (t) => {
  const org = await createTestOrg(app);
  const login = await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: org.adminEmail, password: org.adminPassword } });
  t.equal(login.statusCode, 200, login.body);
  const body = json(login);
  t.equal(body.tokenType, 'Bearer');
  t.equal(body.expiresIn, 900);
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${body.accessToken}` } });
  t.equal(me.statusCode, 200, me.body);
  t.same(json(me), { userId: org.adminUserId, organisationId: org.organisationId, role: 'admin', contributorId: null });
});

t.test('a wrong password and an unknown email get the same 401', async (t) => {
  const org = await createTestOrg(app);
  const wrong = await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: org.adminEmail, password: 'not the password' } });
  const unknown = await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: 'nobody@example.test', password: 'not the password' } });
  for (const res of [wrong, unknown]) {
    t.equal(res.statusCode, 401, res.body);
    t.match(res.headers['content-type'], /application\/problem\+json/);
    t.equal(json(res).code, 'invalid_credentials');
  }
  t.equal(json(wrong).detail, json(unknown).detail);
});
