import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { addDays } from '../../src/domain/earnings-period.js';
import { londonDate } from '../../src/domain/uk-time.js';
import { buildTestApp, createTestOrg, json, uniqueEmail } from '../helpers/app.js';
import { testDatabase } from '../helpers/database.js';
import { fundedBudget } from '../helpers/fixtures.js';

// Paying again in a real browser (Debian's Chromium, driven by playwright-core) against the real
// server: the finance home page with failed payments, how long people wait and the schedule,
// then Pay again, which lands on the draft. axe-core checks each page (no serious or critical
// WCAG 2.2 AA violations) and each is photographed at phone and desktop width into
// test-results/screenshots. Run with `npm run test:browser`.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  throw new Error(`Chromium is not at ${CHROMIUM}. Install it (apt-get install chromium) or set CHROMIUM_PATH; .ci/run installs it.`);
}
const SHOTS = join(process.cwd(), 'test-results', 'screenshots');
mkdirSync(SHOTS, { recursive: true });

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

// ---- An organisation whose run paid one person and failed two, set up over the API.
const org = await createTestOrg(app, 'Pay again browser organisation');
const admin = await org.as('admin');
const { budgetId, finance } = await fundedBudget(app, org);
const coordinator = await org.as('coordinator');
const approver = await org.as('finance');

async function api<T = any>(method: 'GET' | 'POST' | 'PUT', url: string, headers: Record<string, string>, payload?: object): Promise<T> {
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
  return json<T>(res);
}
const PASSWORD = 'a long browser test password';
const financeEmail = uniqueEmail('finance');
await api('POST', '/v1/users', admin, { email: financeEmail, name: 'Fin Drafter', role: 'finance', password: PASSWORD });

// Work of three days ago, so it falls in the page's last 90 days.
const workDate = addDays(londonDate(new Date()), -3);
const people: Record<string, string> = {};
for (const [name, minutes] of [
  ['Farah Idris', 60],
  ['Gideon Lake', 90],
  ['Hana Mori', 120],
] as const) {
  const contributor = await api('POST', '/v1/contributors', coordinator, { name, kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  const entry = await api('POST', '/v1/time-entries', coordinator, { contributorId: contributor.id, budgetId, activity: 'meeting', date: workDate, minutes });
  await api('POST', `/v1/time-entries/${entry.id}/approve`, coordinator);
  people[name] = contributor.id;
}
const run = await api('POST', '/v1/payout-runs', finance, { currency: 'GBP' });
await api('POST', `/v1/payout-runs/${run.id}/approve`, approver);
const itemOf = (name: string) => run.items.find((i: any) => i.contributorId === people[name]).id;
await api('POST', `/v1/payouts/${itemOf('Hana Mori')}/mark-paid`, approver, { reference: 'BACS-5521' });
await api('POST', `/v1/payouts/${itemOf('Farah Idris')}/mark-failed`, approver, { reason: 'The bank returned it: account closed' });
await api('POST', `/v1/payouts/${itemOf('Gideon Lake')}/mark-failed`, approver, { reason: 'Wrong sort code' });
await api('PUT', '/v1/payout-schedule', finance, { cadence: 'weekly', weekday: 3, time: '10:30' });

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

t.test('finance: failed payments, time to pay and the schedule on the home page; Pay again drafts a run of just those people', async (t) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document') errors.push(`${r.status()} ${r.url()}`);
  });

  await page.goto(`${base}/`);
  await page.getByLabel('Email address').fill(financeEmail);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/finance`);

  t.ok(await page.getByRole('heading', { name: 'Payments that did not go through' }).isVisible());
  const failed = page.getByTestId('failed-run');
  t.equal(await failed.count(), 1, 'one run with failures');
  t.ok(await failed.getByRole('row', { name: /Farah Idris The bank returned it: account closed .* £20\.00/ }).isVisible(), 'who, why, when, how much');
  t.ok(await failed.getByRole('row', { name: /Gideon Lake Wrong sort code .* £30\.00/ }).isVisible());
  t.equal(await failed.getByRole('row', { name: /Hana Mori/ }).count(), 0, 'the paid person is not listed');
  t.match(await page.getByTestId('time-to-pay').textContent(), /Community mental health co-production: Bank transfer/);
  t.match(await page.getByTestId('time-to-pay').textContent(), /Half were paid within a day of approval/);
  t.match(await page.getByTestId('payout-schedule').textContent(), /Every Wednesday at 10:30 \(UK time\)/);
  await review(t, page, 'finance-home-failed-payments');

  await failed.getByRole('button', { name: /Pay again the 2 people whose payments failed/ }).click();
  await page.getByText('Draft made to pay again the people whose payments failed').waitFor();
  t.match(new URL(page.url()).pathname, /^\/finance\/runs\/[0-9a-f-]+$/);
  const draftId = new URL(page.url()).pathname.split('/').pop()!;
  t.ok(await page.getByRole('row', { name: /Farah Idris/ }).isVisible());
  t.ok(await page.getByRole('row', { name: /Gideon Lake/ }).isVisible());
  t.equal(await page.getByRole('row', { name: /Hana Mori/ }).count(), 0);
  await review(t, page, 'finance-run-pay-again');
  const draft = await api('GET', `/v1/payout-runs/${draftId}`, finance);
  t.same(draft.items.map((i: any) => i.contributorId).sort(), [people['Farah Idris'], people['Gideon Lake']].sort(), 'the API has the draft of just the two');
  t.equal(draft.filters.failedFrom, run.id);

  await page.getByRole('link', { name: 'Back to payments' }).click();
  await page.getByText('A draft to pay them again is waiting').waitFor();
  t.same(errors, [], 'no script or asset errors');
  await context.close();
});
