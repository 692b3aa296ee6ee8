/**
 * After sign-in the pages follow `next` only to a path on this site. Found in review:
 * `/login?next=/%09/evil.com` ended on another site, because a browser drops tabs and newlines
 * from a URL, so "/\t/evil.com" becomes "//evil.com", another origin.
 */
import t from 'tap';
import { appForThisFile, createTestOrg } from '../helpers/app.js';
import { WebClient } from '../helpers/web.js';

const app = await appForThisFile(t);

const hostile = [
  '/\t/evil.example',
  '/\n/evil.example',
  '/\r/evil.example',
  '/ /evil.example',
  '//evil.example',
  '/\\evil.example',
  '/\\/evil.example',
  'https://evil.example/steal',
  '\t//evil.example',
  '/%09/evil.example',
  'javascript:alert(1)',
];

/** Where a browser would go, resolving the Location header as it does (tabs and newlines removed). */
const browserTarget = (location: string) => new URL(location.replace(/[\t\n\r]/g, ''), 'https://ledger.example/login');

t.test('a sign-in never redirects off the site, whatever next says', async (t) => {
  const org = await createTestOrg(app);
  for (const next of hostile) {
    const client = new WebClient(app);
    const page = await client.get(`/login?next=${encodeURIComponent(next)}`);
    t.equal(page.statusCode, 200);
    const res = await client.post('/login', { email: org.adminEmail, password: org.adminPassword, next });
    t.equal(res.statusCode, 303, res.body);
    const location = String(res.headers.location);
    t.equal(browserTarget(location).origin, 'https://ledger.example', `${JSON.stringify(next)} → ${JSON.stringify(location)} stays on the site`);
  }
  const client = new WebClient(app);
  await client.get('/login');
  const fine = await client.post('/login', { email: org.adminEmail, password: org.adminPassword, next: '/account?tab=1#top' });
  t.equal(fine.headers.location, '/account?tab=1#top', 'a path on this site is still followed');
});
