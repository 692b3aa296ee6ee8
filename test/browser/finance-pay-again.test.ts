import t from 'tap';
import { addDays } from '../../src/domain/earnings-period.js';
import { londonDate } from '../../src/domain/uk-time.js';
import { createTestOrg } from '../helpers/app.js';
import { addUserWithPassword, apiCaller, openPage, reviewPage, signIn, startBrowserApp } from '../helpers/browser.js';
import { fundedBudget } from '../helpers/fixtures.js';

// Paying again in a real browser (Debian's Chromium, driven by playwright-core) against the real
// server: the finance home page with failed payments, how long people wait and the schedule,
// then Pay again, which lands on the draft. axe-core checks each page (no serious or critical
// WCAG 2.2 AA violations) and each is photographed at phone and desktop width into
// test-results/screenshots. Run with `npm run test:browser`.

const { app, base, browser } = await startBrowserApp(t);

// ---- An organisation whose run paid one person and failed two, set up over the API.
const org = await createTestOrg(app, 'Pay again browser organisation');
const admin = await org.as('admin');
const { budgetId, finance } = await fundedBudget(app, org);
const coordinator = await org.as('coordinator');
const approver = await org.as('finance');

const api = apiCaller(app);
const PASSWORD = 'a long browser test password';
const financeEmail = await addUserWithPassword(app, admin, { role: 'finance', name: 'Fin Drafter', password: PASSWORD });

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

t.test('finance: failed payments, time to pay and the schedule on the home page; Pay again drafts a run of just those people', async (t) => {
  const { page, errors, close } = await openPage(browser, { consoleErrors: false });
  await signIn(page, base, financeEmail, PASSWORD);
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
  await reviewPage(t, page, 'finance-home-failed-payments');

  await failed.getByRole('button', { name: /Pay again the 2 people whose payments failed/ }).click();
  await page.getByText('Draft made to pay again the people whose payments failed').waitFor();
  t.match(new URL(page.url()).pathname, /^\/finance\/runs\/[0-9a-f-]+$/);
  const draftId = new URL(page.url()).pathname.split('/').pop()!;
  t.ok(await page.getByRole('row', { name: /Farah Idris/ }).isVisible());
  t.ok(await page.getByRole('row', { name: /Gideon Lake/ }).isVisible());
  t.equal(await page.getByRole('row', { name: /Hana Mori/ }).count(), 0);
  await reviewPage(t, page, 'finance-run-pay-again');
  const draft = await api('GET', `/v1/payout-runs/${draftId}`, finance);
  t.same(draft.items.map((i: any) => i.contributorId).sort(), [people['Farah Idris'], people['Gideon Lake']].sort(), 'the API has the draft of just the two');
  t.equal(draft.filters.failedFrom, run.id);

  await page.getByRole('link', { name: 'Back to payments' }).click();
  await page.getByText('A draft to pay them again is waiting').waitFor();
  t.same(errors, [], 'no script or asset errors');
  await close();
});
