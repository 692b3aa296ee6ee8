import { existsSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { buildTestApp, createTestOrg, json, uniqueEmail } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';

// In a real browser: an invitation or reset link carries its code in the fragment, which the
// page's script moves into the form (the server never sees it); and the account page's email
// choices. axe-core checks each page (no serious or critical WCAG 2.2 AA violations).

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not at ${CHROMIUM}. Install it (apt-get install chromium) or set CHROMIUM_PATH.`);

const app = await buildTestApp();
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const browser: Browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
t.teardown(async () => {
  await browser.close();
  await app.close();
  await (await testDatabase()).close();
});

const org = await createTestOrg(app, 'Codes and choices organisation');
const admin = await org.as('admin');
async function api<T = any>(method: 'POST' | 'GET', url: string, payload?: object): Promise<T> {
  const res = await app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
  return json<T>(res);
}

async function reviewed(t: Test, page: Page, name: string) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  t.same(serious.map((v) => `${v.id}: ${v.help}`), [], `${name}: no serious accessibility violations`);
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document') errors.push(`${r.status()} ${r.url()}`);
  });
  return { page, errors, close: () => context.close() };
}

t.test('an invitation link fills in its code from the fragment, and the person sets a password and signs in', async (t) => {
  const contributor = await api<{ id: string }>('POST', '/v1/contributors', { name: 'Ivy Invited', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const email = uniqueEmail('invited');
  const { inviteToken } = await api<{ inviteToken: string }>('POST', '/v1/users', { email, name: 'Ivy Invited', role: 'participant', contributorId: contributor.id });
  const { page, errors, close } = await newPage();
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  await page.goto(`${base}/accept-invite#${inviteToken}`);
  t.equal(await page.getByLabel('Invitation code').inputValue(), inviteToken, 'the script filled the code in');
  t.equal(new URL(page.url()).hash, '', 'and took it out of the address bar');
  t.notOk(requested.some((url) => url.includes(inviteToken)), 'no request carried the code');
  await reviewed(t, page, 'accept-invite');
  await page.getByLabel('New password').fill('a password chosen in the browser');
  await page.getByRole('button', { name: 'Set password' }).click();
  t.equal(new URL(page.url()).pathname, '/login');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill('a password chosen in the browser');
  await page.getByRole('button', { name: 'Sign in' }).click();
  t.equal(new URL(page.url()).pathname, '/my', 'signed in, on what they are owed');

  // Their account page: the email choices, one unticked and saved.
  await page.goto(`${base}/account`);
  await reviewed(t, page, 'account');
  t.ok(await page.getByText('These emails are always sent').isVisible(), 'the warnings that cannot be turned off are named');
  const box = page.getByLabel('When time you gave is approved');
  t.ok(await box.isChecked(), 'on by default');
  await box.uncheck();
  await page.getByRole('button', { name: 'Save email choices' }).click();
  t.ok(await page.getByText('Your email choices have been saved.').isVisible());
  t.notOk(await page.getByLabel('When time you gave is approved').isChecked(), 'the choice is kept');
  t.same(errors, [], 'no script, style or console errors');
  await close();
});

t.test('a password reset link works the same way', async (t) => {
  const email = uniqueEmail('reset');
  const user = await api<{ id: string }>('POST', '/v1/users', { email, name: 'Rita Reset', role: 'coordinator', password: 'the password she forgot' });
  const { resetToken } = await api<{ resetToken: string }>('POST', `/v1/users/${user.id}/password-reset`);
  const { page, errors, close } = await newPage();
  await page.goto(`${base}/reset-password#${resetToken}`);
  t.equal(await page.getByLabel('Reset code').inputValue(), resetToken);
  await reviewed(t, page, 'reset-password');
  await page.getByLabel('New password').fill('a new password she will keep');
  await page.getByRole('button', { name: 'Set password' }).click();
  t.equal(new URL(page.url()).pathname, '/login');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill('a new password she will keep');
  await page.getByRole('button', { name: 'Sign in' }).click();
  t.equal(new URL(page.url()).pathname, '/register', 'signed in with the new password');
  t.same(errors, []);
  await close();
});
