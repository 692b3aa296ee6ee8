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

// A participant sets up their own Stripe payouts and comes back to a page that says whether they
// can be paid; their bank details then change, they are warned, and finance confirms the change
// from /finance/payout-details. In Debian's Chromium against the real server on a real port, with
// axe-core on every page (no serious or critical WCAG 2.2 AA violations) and screenshots at
// phone and desktop width in test-results/screenshots. Run with `npm run test:browser`.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  throw new Error(`Chromium is not at ${CHROMIUM}. Install it (apt-get install chromium) or set CHROMIUM_PATH; .ci/run installs it.`);
}
const SHOTS = join(process.cwd(), 'test-results', 'screenshots');
mkdirSync(SHOTS, { recursive: true });

const double = await startStripeDouble();
const app = await buildTestApp({ stripe: stripeFor(double), env: { STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET } });
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
  await double.close();
  await (await testDatabase()).close();
});

const org = await createTestOrg(app, 'Payout set-up organisation');
const admin = await org.as('admin');
const coordinatorHeaders = await org.as('coordinator');
const { budgetId } = await fundedBudget(app, org);

async function api<T = any>(method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: object): Promise<T> {
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

const priya = await api<{ id: string }>('POST', '/v1/contributors', coordinatorHeaders, { name: 'Priya Shah', kind: 'lived_experience', paymentMethod: 'stripe' });
const entry = await api('POST', '/v1/time-entries', coordinatorHeaders, { contributorId: priya.id, budgetId, activity: 'meeting', date: '2026-05-11', minutes: 90 });
await api('POST', `/v1/time-entries/${entry.id}/approve`, coordinatorHeaders);
const participantEmail = await login('participant', 'Priya Shah', priya.id);
const financeEmail = await login('finance', 'Fin Checker');

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
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document') errors.push(`${r.status()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  return { page, errors, close: () => context.close() };
}

t.test('a participant sets up Stripe, comes back, and is told whether they can be paid', async (t) => {
  const { page, errors, close } = await newPage();
  await signIn(page, participantEmail);
  await page.waitForURL(`${base}/my`);
  await page.getByRole('link', { name: 'How I am paid' }).click();
  await page.getByRole('button', { name: 'Set up payments with Stripe' }).click();
  await page.getByRole('heading', { name: 'Set up payments with Stripe' }).waitFor();
  const href = await page.getByRole('button', { name: 'Go to Stripe' }).getAttribute('href');
  t.match(href, /^https:\/\/connect\.stripe\.test\/setup\//);

  // Back from Stripe before finishing: the page says what Stripe still needs.
  await page.goto(`${base}/app/stripe/return`);
  await page.waitForURL(`${base}/my/payment?stripe=returned`);
  await page.getByText('Your Stripe set-up is not finished yet').waitFor();
  t.ok(await page.getByTestId('stripe-still-needed').getByText('your bank details').isVisible(), 'what is still needed, in plain words');
  t.ok(await page.getByRole('button', { name: 'Carry on setting up Stripe' }).isVisible());
  await review(t, page, 'participant-stripe-not-finished');

  // Stripe finishes (its webhook has not arrived): coming back says they can be paid.
  const contributor = await api('GET', `/v1/contributors/${priya.id}`, coordinatorHeaders);
  double.activateAccount(contributor.stripeAccountId);
  await page.goto(`${base}/app/stripe/return`);
  await page.getByText('Stripe can pay you now').waitFor();
  t.ok(await page.getByText('Complete').isVisible());
  await review(t, page, 'participant-stripe-ready');
  t.same(errors, [], 'no script errors');
  await close();
});

t.test('changed bank details: the participant is warned and finance confirms the change', async (t) => {
  const contributor = await api('GET', `/v1/contributors/${priya.id}`, coordinatorHeaders);
  t.equal(contributor.payoutsEnabled, true, 'set up in the test before');
  for (const event of double.changeBankAccount(contributor.stripeAccountId).events) {
    t.equal((await deliverEvent(viaInject(app), event)).statusCode, 200);
  }

  const participant = await newPage();
  await signIn(participant.page, participantEmail);
  await participant.page.waitForURL(`${base}/my`);
  t.ok(await participant.page.getByTestId('payout-details-held').isVisible(), 'warned on the home page');
  await participant.page.getByRole('link', { name: 'How I am paid' }).click();
  await participant.page.getByTestId('payout-details-held').waitFor();
  t.match(await participant.page.getByTestId('payout-details-held').textContent(), /your next payment will wait until the finance team has checked the change with you/);
  await review(t, participant.page, 'participant-payout-details-held');

  const finance = await newPage();
  await signIn(finance.page, financeEmail);
  await finance.page.waitForURL(`${base}/finance`);
  await finance.page.goto(`${base}/finance/payout-details`);
  const row = finance.page.getByRole('row', { name: /Priya Shah/ });
  t.ok(await row.getByText('£30.00').isVisible(), 'what waits for her');
  await review(t, finance.page, 'finance-payout-details');
  await row.getByRole('button', { name: /Confirm/ }).click();
  await finance.page.getByText('The change is confirmed').waitFor();
  t.ok(await finance.page.getByTestId('none-held').isVisible());
  await review(t, finance.page, 'finance-payout-details-confirmed');
  t.equal((await api('GET', `/v1/contributors/${priya.id}`, coordinatorHeaders)).payoutDetailsChangedAt, null, 'the API has the confirmation');

  await participant.page.reload();
  t.equal(await participant.page.getByTestId('payout-details-held').count(), 0, 'the warning is gone');
  t.same([...participant.errors, ...finance.errors], [], 'no script errors');
  await participant.close();
  await finance.close();
});
