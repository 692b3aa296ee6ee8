import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { buildTestApp, createTestOrg, json, uniqueEmail } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';
import { fundedBudget } from '../helpers/fixtures.js';
import { deliverEvent, stripeFor, viaInject, WEBHOOK_SECRET } from '../helpers/payout-fixtures.js';
import { startStripeDouble } from '../../tools/stripe-double/index.js';

// Each role's task in a real browser (Debian's Chromium, driven by playwright-core) against the
// real server on a real port: sign in, do the job end to end, run axe-core on every page (no
// serious or critical WCAG 2.2 AA violations), and screenshot each page at phone and desktop
// width into test-results/screenshots for a reviewer. Run with `npm run test:browser`.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  throw new Error(`Chromium is not at ${CHROMIUM}. Install it (apt-get install chromium) or set CHROMIUM_PATH; .ci/run installs it.`);
}
const SHOTS = join(process.cwd(), 'test-results', 'screenshots');
mkdirSync(SHOTS, { recursive: true });

const double = await startStripeDouble();
const app = await buildTestApp({
  stripe: stripeFor(double),
  env: { STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET },
});
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const browser: Browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // Root in CI has no sandbox; the closed network refuses Chromium's background connections.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
t.teardown(async () => {
  await browser.close();
  await app.close();
  await double.close();
  await (await testDatabase()).close();
});

// ---- The organisation, set up over the API as a real one would be.
const org = await createTestOrg(app, 'Browser test organisation');
const admin = await org.as('admin');
const { budgetId } = await fundedBudget(app, org);
const coordinatorHeaders = await org.as('coordinator');

async function api<T = any>(method: 'GET' | 'POST' | 'PATCH', url: string, headers: Record<string, string>, payload?: object): Promise<T> {
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
  return json<T>(res);
}
const PASSWORD = 'a long browser test password';
async function login(role: string, name: string, contributorId?: string) {
  const email = uniqueEmail(role);
  await api('POST', '/v1/users', admin, { email, name, role, password: PASSWORD, ...(contributorId ? { contributorId } : {}) });
  return email;
}
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
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  t.same(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `${name}: no serious accessibility violations`,
  );
  for (const [label, width, height] of [
    ['phone', 375, 812],
    ['desktop', 1280, 900],
  ] as const) {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: join(SHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  checked.add(name);
}

async function signIn(page: Page, email: string) {
  await page.goto(`${base}/`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // A form answered with 400 is expected; a stylesheet, script or image that fails is not.
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document') errors.push(`${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  return { page, errors, close: () => context.close() };
}

t.test('sign-in page, and a wrong password', async (t) => {
  const { page, errors, close } = await newPage();
  await page.goto(`${base}/`);
  t.equal(new URL(page.url()).pathname, '/login');
  await review(t, page, 'login');
  await page.getByLabel('Email address').fill(participantEmail);
  await page.getByLabel('Password').fill('wrong password entirely');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('There is a problem').waitFor();
  t.ok(await page.locator('.govuk-error-summary').evaluate((el) => el === document.activeElement || el.contains(document.activeElement)), 'the error summary takes focus (GOV.UK Frontend script ran)');
  await review(t, page, 'login-error');
  t.same(errors, [], 'no script errors');
  await close();
});

t.test('participant: what I am owed, my statement, how I am paid, Stripe set-up', async (t) => {
  const { page, errors, close } = await newPage();
  await signIn(page, participantEmail);
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
  const { page, errors, close } = await newPage();
  await signIn(page, coordinatorEmail);
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
  const drafter = await newPage();
  await signIn(drafter.page, financeEmail);
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

  const colleague = await newPage();
  await signIn(colleague.page, colleagueEmail);
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
