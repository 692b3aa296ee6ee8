import type { Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { createTestOrg } from '../helpers/app.js';
import { addUserWithPassword, apiCaller, openPage, reviewPage, signIn, startBrowserApp, submitSignIn } from '../helpers/browser.js';
import { fundedBudget } from '../helpers/fixtures.js';
import { deliverEvent, viaInject } from '../helpers/payout-fixtures.js';

// Each role's task in a real browser (Debian's Chromium, driven by playwright-core) against the
// real server on a real port: sign in, do the job end to end, run axe-core on every page (no
// serious or critical WCAG 2.2 AA violations), and screenshot each page at phone and desktop
// width into test-results/screenshots for a reviewer. Run with `npm run test:browser`.

const { app, base, browser, double } = await startBrowserApp(t, { stripeDouble: true });

// ---- The organisation, set up over the API as a real one would be.
const org = await createTestOrg(app, 'Browser test organisation');
const admin = await org.as('admin');
const { budgetId } = await fundedBudget(app, org);
const coordinatorHeaders = await org.as('coordinator');

const api = apiCaller(app);
const PASSWORD = 'a long browser test password';
const login = (role: string, name: string, contributorId?: string) => addUserWithPassword(app, admin, { role, name, password: PASSWORD, contributorId });
const person = (name: string, kind = 'lived_experience', paymentMethod = 'bank_transfer') =>
  api<{ id: string }>('POST', '/v1/contributors', coordinatorHeaders, { name, kind, paymentMethod });

const ayesha = await person('Ayesha Khan');
const ben = await person('Ben Jones', 'carer');
const clare = await person('Dr Clare Wood', 'professional');
const priya = await person('Priya Shah', 'lived_experience', 'stripe');
for (const [who, date, minutes] of [
  [priya.id, '2026-04-20', 120],
  [priya.id, '2026-05-11', 50],
  [ben.id, '2026-05-11', 90],
] as const) {
  const entry = await api('POST', '/v1/time-entries', coordinatorHeaders, { contributorId: who, budgetId, activity: 'meeting', date, minutes });
  await api('POST', `/v1/time-entries/${entry.id}/approve`, coordinatorHeaders);
}
const participantEmail = await login('participant', 'Priya Shah', priya.id);
const coordinatorEmail = await login('coordinator', 'Cora Coordinator');
const financeEmail = await login('finance', 'Fin Drafter');
const colleagueEmail = await login('finance', 'Fay Approver');

// ---- Helpers: every page is checked for accessibility and photographed at both widths.
const checked = new Set<string>();
async function review(t: Test, page: Page, name: string) {
  await reviewPage(t, page, name);
  checked.add(name);
}

t.test('sign-in page, and a wrong password', async (t) => {
  const { page, errors, close } = await openPage(browser);
  await page.goto(`${base}/`);
  t.equal(new URL(page.url()).pathname, '/login');
  await review(t, page, 'login');
  await submitSignIn(page, participantEmail, 'wrong password entirely');
  await page.getByText('There is a problem').waitFor();
  t.ok(await page.locator('.govuk-error-summary').evaluate((el) => el === document.activeElement || el.contains(document.activeElement)), 'the error summary takes focus (GOV.UK Frontend script ran)');
  await review(t, page, 'login-error');
  t.same(errors, [], 'no script errors');
  await close();
});

t.test('participant: what I am owed, my statement, how I am paid, Stripe set-up', async (t) => {
  const { page, errors, close } = await openPage(browser);
  await signIn(page, base, participantEmail, PASSWORD);
  await page.waitForURL(`${base}/my`);
  t.equal(await page.getByTestId('owed').textContent(), '£56.67', '2 hours and 50 minutes at £20 an hour');
  t.equal(await page.getByTestId('in-transit').textContent(), '£0.00');
  t.equal(await page.getByTestId('paid').textContent(), '£0.00');
  await page.getByText('How this was worked out').first().click();
  t.ok(await page.getByText(/£20\.00/).first().isVisible(), 'the explanation opens');
  t.ok(await page.getByText('We cannot pay you through Stripe until you finish setting it up').isVisible());
  await review(t, page, 'participant-owed');

  await page.getByRole('link', { name: 'Statement', exact: true }).click();
  await page.getByRole('heading', { name: /Statement for the tax year/ }).waitFor();
  t.equal(await page.getByTestId('earned').textContent(), '£56.67');
  await page.emulateMedia({ media: 'print' });
  t.notOk(await page.getByRole('button', { name: 'Show this year' }).isVisible(), 'the form is left off the printout');
  await page.emulateMedia({ media: 'screen' });
  await review(t, page, 'participant-statement');

  await page.getByRole('link', { name: 'How I am paid' }).click();
  await review(t, page, 'participant-payment');
  await page.getByRole('button', { name: 'Set up payments with Stripe' }).click();
  await page.getByRole('heading', { name: 'Set up payments with Stripe' }).waitFor();
  const href = await page.getByRole('button', { name: 'Go to Stripe' }).getAttribute('href');
  t.match(href, /^https:\/\/connect\.stripe\.test\/setup\//, 'a Stripe onboarding link from the API');
  await review(t, page, 'participant-stripe');

  // Stripe finishes onboarding and tells us by webhook; the person comes back to the return URL.
  const contributor = await api('GET', `/v1/contributors/${priya.id}`, coordinatorHeaders);
  const account = double.activateAccount(contributor.stripeAccountId);
  const { makeEvent } = await import('../../tools/stripe-double/index.js');
  t.equal((await deliverEvent(viaInject(app), makeEvent('account.updated', account))).statusCode, 200);
  await page.goto(`${base}/app/stripe/return`);
  await page.waitForURL(`${base}/my/payment?stripe=returned`);
  t.ok(await page.getByText('Complete').isVisible(), 'the page shows set-up is complete');

  await page.getByLabel('I do not want to be paid').check();
  await page.getByRole('button', { name: 'Save my choice' }).click();
  await page.getByText('Your choice is saved: Not paid (declined)').waitFor();
  t.equal((await api('GET', `/v1/contributors/${priya.id}`, coordinatorHeaders)).paymentMethod, 'declined');
  await review(t, page, 'participant-payment-saved');
  t.same(errors, [], 'no script errors');
  await close();
});

t.test('coordinator: a session register, quotes before saving, then approvals', async (t) => {
  const { page, errors, close } = await openPage(browser);
  await signIn(page, base, coordinatorEmail, PASSWORD);
  await page.waitForURL(`${base}/register`);
  await review(t, page, 'coordinator-register');

  await page.getByRole('button', { name: 'Check what each person is owed' }).click();
  await page.getByText('There is a problem').waitFor();
  await review(t, page, 'coordinator-register-errors');

  await page.getByLabel('Budget').selectOption(budgetId);
  await page.getByLabel('Meeting').check();
  await page.getByLabel('Day').fill('9');
  await page.getByLabel('Month').fill('11');
  await page.getByLabel('Year').fill('2026');
  await page.getByLabel('Hours').fill('2');
  await page.getByLabel('Minutes').fill('0');
  for (const name of ['Ayesha Khan', 'Ben Jones', 'Dr Clare Wood']) await page.getByLabel(name).check();
  await page.getByLabel('Note (optional)').fill('Service redesign panel');
  await page.getByRole('button', { name: 'Check what each person is owed' }).click();
  await page.getByRole('heading', { name: 'Check the session before saving' }).waitFor();
  t.equal(await page.getByTestId('session-total').textContent(), '£80.00', 'two paid attendees at £40; the professional is in kind');
  await review(t, page, 'coordinator-check');
  t.same((await api('GET', `/v1/time-entries?budgetId=${budgetId}&from=2026-11-09&to=2026-11-09`, coordinatorHeaders)).data, [], 'nothing saved yet');

  await page.getByRole('button', { name: 'Save the session' }).click();
  await page.getByText('Session recorded').waitFor();
  await review(t, page, 'coordinator-recorded');
  const saved = (await api('GET', `/v1/time-entries?budgetId=${budgetId}&from=2026-11-09&to=2026-11-09`, coordinatorHeaders)).data;
  t.equal(saved.length, 3, 'one entry per attendee');

  await page.getByRole('link', { name: 'Approve this week’s time' }).click();
  await page.goto(`${base}/approvals?week=2026-11-09`);
  await review(t, page, 'coordinator-approvals');
  await page.getByRole('button', { name: 'Approve ticked entries' }).click();
  await page.getByText('3 entries approved').waitFor();
  await review(t, page, 'coordinator-approvals-done');
  const after = (await api('GET', `/v1/time-entries?budgetId=${budgetId}&from=2026-11-09&to=2026-11-09`, coordinatorHeaders)).data;
  t.ok(after.every((e: any) => e.status === 'approved'), 'the API has them approved');
  t.same(errors, [], 'no script errors');
  await close();
});

t.test('finance: waiting longest, a payout run approved by a colleague, mark paid, grant report', async (t) => {
  const drafter = await openPage(browser);
  await signIn(drafter.page, base, financeEmail, PASSWORD);
  await drafter.page.waitForURL(`${base}/finance`);
  t.ok(await drafter.page.getByRole('heading', { name: 'Waiting longest to be paid' }).isVisible());
  await review(t, drafter.page, 'finance-home');
  await drafter.page.getByRole('button', { name: 'Draft a payout run' }).click();
  await drafter.page.getByText('You drafted this run, so a finance colleague must approve it').waitFor();
  const runUrl = drafter.page.url();
  await review(t, drafter.page, 'finance-run-draft');
  await drafter.page.getByRole('button', { name: 'Approve and pay' }).click();
  await drafter.page.getByText('There is a problem').waitFor();
  t.equal((await api('GET', `/v1/payout-runs/${runUrl.split('/').pop()}`, await org.as('finance'))).status, 'draft', 'the drafter cannot approve');

  const colleague = await openPage(browser);
  await signIn(colleague.page, base, colleagueEmail, PASSWORD);
  await colleague.page.waitForURL(`${base}/finance`);
  await colleague.page.goto(runUrl);
  await colleague.page.getByRole('button', { name: 'Approve and pay' }).click();
  await colleague.page.getByText('Run approved').waitFor();
  await review(t, colleague.page, 'finance-run-approved');
  const row = colleague.page.getByRole('row', { name: /Ben Jones/ });
  await row.getByLabel('Payment reference').fill('BACS-7731');
  await row.getByRole('button', { name: /Mark paid/ }).click();
  await colleague.page.getByText('Payment marked as paid.').waitFor();
  t.ok(await colleague.page.getByText('Reference BACS-7731').isVisible());
  const balance = (await api('GET', `/v1/contributors/${ben.id}/balance`, coordinatorHeaders)).balances[0];
  t.equal(balance.paid, 3000 + 4000, 'Ben is paid for both pieces of work');

  await colleague.page.getByRole('link', { name: 'Grant report' }).click();
  await colleague.page.getByRole('heading', { name: 'How the money split, month by month' }).waitFor();
  t.equal(await colleague.page.locator('svg[role="img"] rect').count() > 0, true, 'the chart is drawn');
  await review(t, colleague.page, 'finance-report');
  t.same([...drafter.errors, ...colleague.errors], [], 'no script errors');
  await drafter.close();
  await colleague.close();
});

t.test('every page was checked', async (t) => {
  t.ok(checked.size >= 15, `${checked.size} pages checked with axe and photographed`);
});
