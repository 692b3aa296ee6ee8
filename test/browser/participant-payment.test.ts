import t from 'tap';
import { createTestOrg } from '../helpers/app.js';
import { addUserWithPassword, apiCaller, openPage, reviewPage, signIn, startBrowserApp } from '../helpers/browser.js';
import { fundedBudget } from '../helpers/fixtures.js';
import { deliverEvent, viaInject } from '../helpers/payout-fixtures.js';

// A participant sets up their own Stripe payouts and comes back to a page that says whether they
// can be paid; their bank details then change, they are warned, and finance confirms the change
// from /finance/payout-details. In Debian's Chromium against the real server on a real port, with
// axe-core on every page (no serious or critical WCAG 2.2 AA violations) and screenshots at
// phone and desktop width in test-results/screenshots. Run with `npm run test:browser`.

const { app, base, browser, double } = await startBrowserApp(t, { stripeDouble: true });

const org = await createTestOrg(app, 'Payout set-up organisation');
const admin = await org.as('admin');
const coordinatorHeaders = await org.as('coordinator');
const { budgetId } = await fundedBudget(app, org);

const api = apiCaller(app);
const PASSWORD = 'a long browser test password';
const login = (role: string, name: string, contributorId?: string) => addUserWithPassword(app, admin, { role, name, password: PASSWORD, contributorId });

const priya = await api<{ id: string }>('POST', '/v1/contributors', coordinatorHeaders, { name: 'Priya Shah', kind: 'lived_experience', paymentMethod: 'stripe' });
const entry = await api('POST', '/v1/time-entries', coordinatorHeaders, { contributorId: priya.id, budgetId, activity: 'meeting', date: '2026-05-11', minutes: 90 });
await api('POST', `/v1/time-entries/${entry.id}/approve`, coordinatorHeaders);
const participantEmail = await login('participant', 'Priya Shah', priya.id);
const financeEmail = await login('finance', 'Fin Checker');

t.test('a participant sets up Stripe, comes back, and is told whether they can be paid', async (t) => {
  const { page, errors, close } = await openPage(browser);
  await signIn(page, base, participantEmail, PASSWORD);
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
  await reviewPage(t, page, 'participant-stripe-not-finished');

  // Stripe finishes (its webhook has not arrived): coming back says they can be paid.
  const contributor = await api('GET', `/v1/contributors/${priya.id}`, coordinatorHeaders);
  double.activateAccount(contributor.stripeAccountId);
  await page.goto(`${base}/app/stripe/return`);
  await page.getByText('Stripe can pay you now').waitFor();
  t.ok(await page.getByText('Complete').isVisible());
  await reviewPage(t, page, 'participant-stripe-ready');
  t.same(errors, [], 'no script errors');
  await close();
});

t.test('changed bank details: the participant is warned and finance confirms the change', async (t) => {
  const contributor = await api('GET', `/v1/contributors/${priya.id}`, coordinatorHeaders);
  t.equal(contributor.payoutsEnabled, true, 'set up in the test before');
  for (const event of double.changeBankAccount(contributor.stripeAccountId).events) {
    t.equal((await deliverEvent(viaInject(app), event)).statusCode, 200);
  }

  const participant = await openPage(browser);
  await signIn(participant.page, base, participantEmail, PASSWORD);
  await participant.page.waitForURL(`${base}/my`);
  t.ok(await participant.page.getByTestId('payout-details-held').isVisible(), 'warned on the home page');
  await participant.page.getByRole('link', { name: 'How I am paid' }).click();
  await participant.page.getByTestId('payout-details-held').waitFor();
  t.match(await participant.page.getByTestId('payout-details-held').textContent(), /your next payment will wait until the finance team has checked the change with you/);
  await reviewPage(t, participant.page, 'participant-payout-details-held');

  const finance = await openPage(browser);
  await signIn(finance.page, base, financeEmail, PASSWORD);
  await finance.page.waitForURL(`${base}/finance`);
  await finance.page.goto(`${base}/finance/payout-details`);
  const row = finance.page.getByRole('row', { name: /Priya Shah/ });
  t.ok(await row.getByText('£30.00').isVisible(), 'what waits for her');
  await reviewPage(t, finance.page, 'finance-payout-details');
  await row.getByRole('button', { name: /Confirm/ }).click();
  await finance.page.getByText('The change is confirmed').waitFor();
  t.ok(await finance.page.getByTestId('none-held').isVisible());
  await reviewPage(t, finance.page, 'finance-payout-details-confirmed');
  t.equal((await api('GET', `/v1/contributors/${priya.id}`, coordinatorHeaders)).payoutDetailsChangedAt, null, 'the API has the confirmation');

  await participant.page.reload();
  t.equal(await participant.page.getByTestId('payout-details-held').count(), 0, 'the warning is gone');
  t.same([...participant.errors, ...finance.errors], [], 'no script errors');
  await participant.close();
  await finance.close();
});
