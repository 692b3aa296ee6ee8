/**
 * Behind a TLS proxy the service sees plain http, so a session cookie marked Secure only "when
 * the request came over https" was sent without Secure unless TRUST_PROXY was found and set.
 * With PUBLIC_URL on https every cookie is Secure and every response carries HSTS.
 */
import t from 'tap';
import { buildTestApp, createTestOrg } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';
import { WebClient } from '../helpers/web.js';

t.teardown(async () => (await testDatabase()).close());

t.test('PUBLIC_URL on https: Secure cookies over a proxy\'s plain http, and HSTS everywhere', async (t) => {
  const app = await buildTestApp({ env: { PUBLIC_URL: 'https://ledger.example.org' } });
  t.teardown(() => app.close());
  const org = await createTestOrg(app);
  const client = new WebClient(app);
  const page = await client.get('/login');
  t.match(page.headers['strict-transport-security'], /max-age=31536000/, 'a page carries HSTS');
  const csrf = (page.cookies as { name: string; secure?: boolean }[]).find((c) => c.name === 'cpl_csrf');
  t.equal(csrf?.secure, true, 'the CSRF cookie is Secure');
  const signedIn = await client.post('/login', { email: org.adminEmail, password: org.adminPassword, next: '' });
  const session = (signedIn.cookies as { name: string; secure?: boolean }[]).find((c) => c.name === 'cpl_session');
  t.equal(session?.secure, true, 'the session cookie is Secure although the request came over http');
  const api = await app.inject({ method: 'GET', url: '/healthz' });
  t.match(api.headers['strict-transport-security'], /max-age=31536000/, 'the API carries HSTS');
});

t.test('without an https PUBLIC_URL, plain http keeps working for trying out (no HSTS, no Secure)', async (t) => {
  const app = await buildTestApp();
  t.teardown(() => app.close());
  const org = await createTestOrg(app);
  const client = new WebClient(app);
  const page = await client.get('/login');
  t.equal(page.headers['strict-transport-security'], undefined);
  const signedIn = await client.post('/login', { email: org.adminEmail, password: org.adminPassword, next: '' });
  const session = (signedIn.cookies as { name: string; secure?: boolean }[]).find((c) => c.name === 'cpl_session');
  t.ok(session, 'signed in');
  t.notOk(session?.secure, 'not Secure over plain http without PUBLIC_URL');
});
