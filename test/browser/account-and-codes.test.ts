import type { Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { createTestOrg, uniqueEmail } from '../helpers/app.js';
import { apiCaller, openPage, reviewPage, startBrowserApp, submitSignIn } from '../helpers/browser.js';

// In a real browser: an invitation or reset link carries its code in the fragment, which the
// page's script moves into the form (the server never sees it); and the account page's email
// choices. axe-core checks each page (no serious or critical WCAG 2.2 AA violations).

const { app, base, browser } = await startBrowserApp(t);

const org = await createTestOrg(app, 'Codes and choices organisation');
const admin = await org.as('admin');
const api = apiCaller(app);

/** Sets a password on the page's form, which leads to the sign-in page, and signs in with it. */
async function setPasswordAndSignIn(t: Test, page: Page, email: string, password: string) {
  await page.getByLabel('New password').fill(password);
  await page.getByRole('button', { name: 'Set password' }).click();
  t.equal(new URL(page.url()).pathname, '/login');
  await submitSignIn(page, email, password);
}

t.test('an invitation link fills in its code from the fragment, and the person sets a password and signs in', async (t) => {
  const contributor = await api<{ id: string }>('POST', '/v1/contributors', admin, { name: 'Ivy Invited', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const email = uniqueEmail('invited');
  const { inviteToken } = await api<{ inviteToken: string }>('POST', '/v1/users', admin, { email, name: 'Ivy Invited', role: 'participant', contributorId: contributor.id });
  const { page, errors, close } = await openPage(browser, { consoleErrors: false });
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  await page.goto(`${base}/accept-invite#${inviteToken}`);
  t.equal(await page.getByLabel('Invitation code').inputValue(), inviteToken, 'the script filled the code in');
  t.equal(new URL(page.url()).hash, '', 'and took it out of the address bar');
  t.notOk(requested.some((url) => url.includes(inviteToken)), 'no request carried the code');
  await reviewPage(t, page, 'accept-invite', { screenshots: false });
  await setPasswordAndSignIn(t, page, email, 'a password chosen in the browser');
  t.equal(new URL(page.url()).pathname, '/my', 'signed in, on what they are owed');

  // Their account page: the email choices, one unticked and saved.
  await page.goto(`${base}/account`);
  await reviewPage(t, page, 'account', { screenshots: false });
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
  const user = await api<{ id: string }>('POST', '/v1/users', admin, { email, name: 'Rita Reset', role: 'coordinator', password: 'the password she forgot' });
  const { resetToken } = await api<{ resetToken: string }>('POST', `/v1/users/${user.id}/password-reset`, admin);
  const { page, errors, close } = await openPage(browser, { consoleErrors: false });
  await page.goto(`${base}/reset-password#${resetToken}`);
  t.equal(await page.getByLabel('Reset code').inputValue(), resetToken);
  await reviewPage(t, page, 'reset-password', { screenshots: false });
  await setPasswordAndSignIn(t, page, email, 'a new password she will keep');
  t.equal(new URL(page.url()).pathname, '/register', 'signed in with the new password');
  t.same(errors, []);
  await close();
});
