import { readFileSync } from 'node:fs';
import t from 'tap';
import { builtStylesheet, compileStylesheet } from '../src/web/build-css.js';
import { appForThisFile, createTestOrg, json, uniqueEmail } from './helpers/app.js';
import { fundedBudget } from './helpers/fixtures.js';
import { text, WebClient } from './helpers/web.js';

// The pages over inject, on the file's shared database: every role's task end to end, the
// security of the forms, and that each page shows what the API says. test/browser/ drives
// the same pages in Chromium.

const app = await appForThisFile(t);
const org = await createTestOrg(app, 'Web pages organisation');
const admin = await org.as('admin');
const { budgetId, finance: financeHeaders } = await fundedBudget(app, org);
const coordinatorHeaders = await org.as('coordinator');

async function api<T = any>(method: 'GET' | 'POST' | 'PATCH', url: string, headers: Record<string, string>, payload?: object): Promise<T> {
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${res.body}`);
  return json<T>(res);
}

async function contributor(name: string, kind = 'lived_experience', paymentMethod = 'bank_transfer') {
  return api<{ id: string }>('POST', '/v1/contributors', coordinatorHeaders, { name, kind, paymentMethod });
}

/** A user with a password, so the login form itself is used. */
async function userWithPassword(role: string, contributorId?: string) {
  const email = uniqueEmail(role);
  const password = 'a long enough password for the test';
  await api('POST', '/v1/users', admin, { email, name: `Web ${role}`, role, password, ...(contributorId ? { contributorId } : {}) });
  return { email, password };
}

async function signedIn(role: string, contributorId?: string) {
  const client = new WebClient(app);
  const { email, password } = await userWithPassword(role, contributorId);
  await client.get('/login');
  const res = await client.post('/login', { email, password, next: '' });
  t.equal(res.statusCode, 303, `${role} signs in`);
  return { client, home: String(res.headers.location) };
}

t.test('the built stylesheet is the one the Sass source compiles to', async (t) => {
  t.equal(readFileSync(builtStylesheet, 'utf8'), compileStylesheet(), 'run npm run build:css after changing src/web/styles');
  t.notMatch(readFileSync(builtStylesheet, 'utf8'), /GDS Transport/, 'the GOV.UK typeface is left out');
});

t.test('signing in', async (t) => {
  const client = new WebClient(app);
  const anonymous = await client.get('/my');
  t.equal(anonymous.statusCode, 303);
  t.equal(anonymous.headers.location, '/login?next=%2Fmy', 'a page needs sign-in and comes back afterwards');

  const page = await client.get('/login');
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-security-policy'], /script-src 'self' 'nonce-[^']+'/, 'scripts only from the site or with the nonce');
  t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/);
  t.equal(page.headers['cache-control'], 'no-store');
  const nonce = /'nonce-([^']+)'/.exec(String(page.headers['content-security-policy']))![1];
  for (const script of page.body.matchAll(/<script([^>]*)>/g)) {
    t.ok(/src="\/assets\//.test(script[1]!) || script[1]!.includes(`nonce="${nonce}"`), `script ${script[1]} is allowed by the CSP`);
  }
  t.notMatch(page.body, /crown|govuk-crest|GOV\.UK -/i, 'no crown or GOV.UK branding');

  const { email, password } = await userWithPassword('coordinator');
  const wrong = await client.post('/login', { email, password: 'not the password', next: '' });
  t.equal(wrong.statusCode, 400);
  t.match(text(wrong.body), 'There is a problem');
  t.match(text(wrong.body), 'The email address or password is not right');
  t.match(wrong.body, `value="${email}"`, 'the email is kept');
  t.notOk(client.cookies.has('cpl_session'));

  const unknown = await client.post('/login', { email: uniqueEmail('nobody'), password, next: '' });
  t.equal(text(unknown.body).includes('The email address or password is not right'), true, 'an unknown email reads the same');

  const empty = await client.post('/login', { email: '', password: '', next: '' });
  t.match(text(empty.body), 'Enter your email address');
  t.match(text(empty.body), 'Enter your password');

  const ok = await client.post('/login', { email, password, next: 'https://evil.example/steal' });
  t.equal(ok.statusCode, 303);
  t.equal(ok.headers.location, '/register', 'an off-site next is ignored; a coordinator lands on the register');
  const cookie = (ok.cookies as { name: string; httpOnly?: boolean; sameSite?: string }[]).find((c) => c.name === 'cpl_session');
  t.ok(cookie?.httpOnly, 'the session cookie is HttpOnly');
  t.equal(cookie?.sameSite, 'Strict');

  const again = await client.post('/login', { email, password, next: '/approvals' });
  t.equal(again.headers.location, '/approvals', 'a next on this site is followed');

  const session = client.cookies.get('cpl_session')!;
  const out = await client.post('/logout', {});
  t.equal(out.headers.location, '/login?signedOut=1');
  t.notOk(client.cookies.has('cpl_session'), 'signing out drops the session');
  t.equal((await client.get('/register')).statusCode, 303);
  const copied = await new WebClient(app).withToken(session).get('/register');
  t.equal(copied.statusCode, 303, 'and revokes it: a copy of the cookie signs nobody in');
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${session}` } })).statusCode, 401);
});

t.test('forms refuse a missing or wrong CSRF token, and a stale session goes back to sign-in', async (t) => {
  const { client } = await signedIn('coordinator');
  await client.get('/register');
  const missing = await client.post('/register/check', { budgetId }, { csrf: null });
  t.equal(missing.statusCode, 403);
  t.match(text(missing.body), 'This form has expired');
  const wrong = await client.post('/register/check', { budgetId }, { csrf: 'forged' });
  t.equal(wrong.statusCode, 403);

  const stale = new WebClient(app).withToken('not-a-token');
  const res = await stale.get('/my/statement');
  t.equal(res.statusCode, 303);
  t.equal(res.headers.location, '/login?ended=1&next=%2Fmy%2Fstatement');
  t.match(text((await stale.follow(res)).body), 'You were signed out to keep your account safe');
});

t.test('a role sees only its own pages', async (t) => {
  const { client } = await signedIn('finance');
  const res = await client.get('/register');
  t.equal(res.statusCode, 403);
  t.match(text(res.body), 'This page is for another role');
  const reporter = await signedIn('reporter');
  t.equal(reporter.home, '/account');
  t.equal((await reporter.client.get('/account')).statusCode, 200);
  t.equal((await reporter.client.get('/finance')).statusCode, 403);
});

t.test('accepting an invitation', async (t) => {
  const person = await contributor('Invited Person');
  const created = await api<{ inviteToken: string; email: string }>('POST', '/v1/users', admin, {
    email: uniqueEmail('invited'),
    name: 'Invited Person',
    role: 'participant',
    contributorId: person.id,
  });
  const client = new WebClient(app);
  const old = await client.get(`/accept-invite?token=${created.inviteToken}`);
  t.equal(old.statusCode, 303, 'an old link with the code in its query string');
  t.equal(old.headers.location, `/accept-invite#${encodeURIComponent(created.inviteToken)}`, 'moves the code to the fragment, which browsers keep to themselves');
  const page = await client.get('/accept-invite');
  t.notMatch(page.body, created.inviteToken, 'the server never sees the code to fill it in');
  t.match(page.body, 'data-code-from-link', 'a script fills it from the fragment');
  t.match(page.body, '/assets/code-from-link.js');
  const short = await client.post('/accept-invite', { inviteToken: created.inviteToken, password: 'short' });
  t.equal(short.statusCode, 400);
  t.match(text(short.body), 'The password');
  const bad = await client.post('/accept-invite', { inviteToken: 'not-a-real-code', password: 'a long enough password here' });
  t.match(text(bad.body), 'This invitation code is not right');
  const ok = await client.post('/accept-invite', { inviteToken: created.inviteToken, password: 'a long enough password here' });
  t.equal(ok.headers.location, '/login?passwordSet=1');
  const login = await client.post('/login', { email: created.email, password: 'a long enough password here', next: '' }, { csrf: client.csrf() });
  t.equal(login.headers.location, '/my', 'the participant signs in and lands on what they are owed');
});

t.test('resetting a password from the link an admin gives', async (t) => {
  const person = await api<{ id: string; email: string }>('POST', '/v1/users', admin, {
    email: uniqueEmail('forgetful'),
    name: 'Forgetful Person',
    role: 'coordinator',
    password: 'the first password chosen',
  });
  const { resetToken } = await api<{ resetToken: string }>('POST', `/v1/users/${person.id}/password-reset`, admin);
  const client = new WebClient(app);
  const page = await client.get('/reset-password');
  t.equal(page.statusCode, 200);
  t.match(text(page.body), 'Choose a new password');
  const bad = await client.post('/reset-password', { resetToken: 'not-a-real-code', password: 'a long enough password here' });
  t.equal(bad.statusCode, 400);
  t.match(text(bad.body), 'This reset code is not right');
  const ok = await client.post('/reset-password', { resetToken, password: 'a second long password' }, { csrf: client.csrf() });
  t.equal(ok.headers.location, '/login?passwordSet=1');
  const login = await client.post('/login', { email: person.email, password: 'a second long password', next: '' }, { csrf: (await client.get('/login'), client.csrf()) });
  t.equal(login.headers.location, '/register', 'they sign in with the new password');
});

t.test('coordinator: a session register with quotes before saving, saved once, then approved in bulk', async (t) => {
  const people = await Promise.all([contributor('Ayesha Khan'), contributor('Ben Jones', 'carer'), contributor('Dr Clare Wood', 'professional')]);
  const { client } = await signedIn('coordinator');
  const page = await client.get('/register');
  t.equal(page.statusCode, 200);
  for (const name of ['Ayesha Khan', 'Ben Jones', 'Dr Clare Wood']) t.match(text(page.body), name, `${name} is on the register`);

  const form = { budgetId, activity: 'meeting', day: '4', month: '3', year: '2026', hours: '1', minutes: '30', note: 'Panel meeting', attendees: people.map((p) => p.id) };

  const incomplete = await client.post('/register/check', { ...form, day: '31', month: '2', hours: '', minutes: '', attendees: [] });
  t.equal(incomplete.statusCode, 400);
  const said = text(incomplete.body);
  t.match(said, 'Enter the date of the session');
  t.match(said, 'Enter how long the session lasted');
  t.match(said, 'Tick everyone who attended');
  t.match(incomplete.body, '>Panel meeting</textarea>', 'what was entered is kept');

  const outside = await client.post('/register/check', { ...form, year: '2025' });
  t.equal(outside.statusCode, 422);
  t.match(text(outside.body), 'outside the budget');

  const check = await client.post('/register/check', form);
  t.equal(check.statusCode, 200);
  const shown = text(check.body);
  t.match(shown, 'Ayesha Khan');
  t.match(shown, '£30.00', '90 minutes at £20 an hour');
  t.match(shown, 'Total £60.00', 'the professional in-kind time is valued, not owed');
  t.same((await api('GET', `/v1/time-entries?budgetId=${budgetId}&from=2026-03-04&to=2026-03-04`, coordinatorHeaders)).data, [], 'checking saved nothing');

  const hidden = client.hiddenFields('/register/save');
  const saved = await client.post('/register/save', hidden);
  t.equal(saved.statusCode, 303);
  t.match(text((await client.follow(saved)).body), '3 time entries are waiting for approval');
  const again = await client.post('/register/save', hidden, { csrf: client.csrf() });
  t.equal(again.statusCode, 303, 'sending the same form twice');
  t.equal(again.headers.location, saved.headers.location, 'answers with the first session');
  const entries = (await api('GET', `/v1/time-entries?budgetId=${budgetId}&from=2026-03-04&to=2026-03-04`, coordinatorHeaders)).data;
  t.equal(entries.length, 3, 'one entry per attendee, recorded once');
  t.ok(entries.every((e: any) => e.status === 'submitted' && e.note === 'Panel meeting' && e.minutes === 90));

  // Change: back to the form with everything as entered.
  await client.post('/register/check', form);
  const change = await client.post('/register/change', client.hiddenFields('/register/change'));
  t.match(change.body, '>Panel meeting</textarea>');
  t.equal((change.body.match(/type="checkbox"[^>]*checked/g) ?? []).length, 3, 'the attendees are still ticked');

  // Approvals: a colleague who is also a contributor cannot approve their own entry.
  const approverContributor = people[0]!;
  const approverToken = await org.tokenFor('coordinator', { contributorId: approverContributor.id });
  const approver = new WebClient(app).withToken(approverToken);
  const week = await approver.get('/approvals?week=2026-03-04');
  t.match(text(week.body), 'Week of 2 March 2026 to 8 March 2026');
  t.match(text(week.body), 'Waiting for approval: 3, £60.00');
  const reject = await approver.post('/approvals', { week: '2026-03-02', action: 'reject', entries: entries.map((e: any) => e.id), reason: '' });
  t.equal(reject.statusCode, 400);
  t.match(text(reject.body), 'Say why the time is not approved');
  const decided = await approver.post('/approvals', { week: '2026-03-02', action: 'approve', entries: entries.map((e: any) => e.id) });
  t.equal(decided.statusCode, 200);
  const outcome = text(decided.body);
  t.match(outcome, '2 entries approved');
  t.match(outcome, '1 could not be approved');
  t.match(outcome, 'Ayesha Khan, 4 March 2026');
  const after = (await api('GET', `/v1/time-entries?budgetId=${budgetId}&from=2026-03-04&to=2026-03-04`, coordinatorHeaders)).data;
  t.same(
    after.map((e: any) => [e.contributorId, e.status]).sort(),
    [
      [people[0]!.id, 'submitted'],
      [people[1]!.id, 'approved'],
      [people[2]!.id, 'approved'],
    ].sort(),
    'the API holds exactly what the page said',
  );

  // Rejecting in bulk, with the reason the participant will read.
  await client.get('/approvals?week=2026-03-02');
  const rejected = await client.post('/approvals', { week: '2026-03-02', action: 'reject', entries: [after.find((e: any) => e.status === 'submitted').id], reason: 'Recorded twice' });
  t.match(text(rejected.body), '1 entry rejected');
  const ayeshas = await api('GET', `/v1/time-entries?contributorId=${people[0]!.id}`, coordinatorHeaders);
  t.same(ayeshas.data.map((e: any) => [e.status, e.rejectionReason]), [['rejected', 'Recorded twice']]);
  const participant = new WebClient(app).withToken(await org.tokenFor('participant', { contributorId: people[0]!.id }));
  const mine = text((await participant.get('/my')).body);
  t.match(mine, 'Not approved because: Recorded twice', 'the participant sees why');
});

t.test('participant: what I am owed, my statement, how I am paid', async (t) => {
  const person = await contributor('Priya Shah');
  const entry = await api('POST', '/v1/time-entries', coordinatorHeaders, { contributorId: person.id, budgetId, activity: 'meeting', date: '2026-05-12', minutes: 50 });
  await api('POST', `/v1/time-entries/${entry.id}/approve`, coordinatorHeaders);
  await api('POST', '/v1/time-entries', coordinatorHeaders, { contributorId: person.id, budgetId, activity: 'meeting', date: '2026-05-19', minutes: 60 });
  const { client, home } = await signedIn('participant', person.id);
  t.equal(home, '/my');
  const page = await client.get('/my');
  const shown = text(page.body);
  const balance = (await api('GET', `/v1/contributors/${person.id}/balance`, financeHeaders)).balances[0];
  t.equal(balance.owed, 1667, '50 minutes at £20 an hour, rounded half up');
  t.match(page.body, /data-testid="owed">£16\.67</, 'owed is what the API says');
  t.match(page.body, /data-testid="in-transit">£0\.00</);
  t.match(shown, 'Waiting for approval', 'the unapproved entry is shown');
  t.match(shown, 'How this was worked out');
  for (const line of entry.quote.explanation) t.match(shown, line, 'every explanation line is on the page');

  const statement = await client.get('/my/statement?year=2026');
  t.equal(statement.statusCode, 200);
  t.match(text(statement.body), 'Statement for the tax year 2026 to 2027');
  t.match(statement.body, /data-testid="earned">£16\.67</);
  const earlier = await client.get('/my/statement?year=2025');
  t.match(text(earlier.body), 'Nothing in this tax year');

  const payment = await client.get('/my/payment');
  t.match(text(payment.body), 'If you get benefits');
  t.match(payment.body, /value="bank_transfer" checked/);
  const none = await client.post('/my/payment', {});
  t.equal(none.statusCode, 400);
  t.match(text(none.body), 'Choose how you want to be paid');
  const declined = await client.post('/my/payment', { paymentMethod: 'declined' });
  t.equal(declined.headers.location, '/my/payment?saved=1');
  t.match(text((await client.follow(declined)).body), 'Your choice is saved: Not paid (declined)');
  t.equal((await api('GET', `/v1/contributors/${person.id}`, financeHeaders)).paymentMethod, 'declined', 'the API has the choice');
  t.match(text((await client.get('/my')).body), 'You have chosen not to be paid');

  await client.post('/my/payment', { paymentMethod: 'stripe' }, { csrf: client.csrf() });
  const stripePage = await client.get('/my/payment');
  t.match(text(stripePage.body), 'Not finished');
  const onboarding = await client.post('/my/payment/stripe', {});
  t.equal(onboarding.statusCode, 409, 'this test app has no Stripe key');
  t.match(text(onboarding.body), 'Payments through Stripe are not set up for this organisation yet');

  t.equal((await client.get(`/finance`)).statusCode, 403, 'a participant cannot open finance pages');
});

t.test('finance: waiting longest, four eyes on a payout run, mark paid, and the grant report', async (t) => {
  const person = await contributor('Sam Patel');
  const professional = await contributor('Dr Lee', 'professional');
  const entry = await api('POST', '/v1/time-entries', coordinatorHeaders, { contributorId: person.id, budgetId, activity: 'meeting', date: '2026-06-10', minutes: 120 });
  await api('POST', `/v1/time-entries/${entry.id}/approve`, coordinatorHeaders);
  const pro = await api('POST', '/v1/time-entries', coordinatorHeaders, { contributorId: professional.id, budgetId, activity: 'meeting', date: '2026-07-10', minutes: 60 });
  await api('POST', `/v1/time-entries/${pro.id}/approve`, coordinatorHeaders);

  const drafter = await signedIn('finance');
  const home = await drafter.client.get('/finance');
  t.equal(home.statusCode, 200);
  t.match(text(home.body), 'Waiting longest to be paid');
  t.match(home.body, 'data-testid="waiting-longest"');
  const created = await drafter.client.post('/finance/runs', { budgetId, idempotencyKey: drafter.client.hiddenFields('/finance/runs').idempotencyKey as string });
  t.equal(created.statusCode, 303);
  const runUrl = String(created.headers.location);
  const runPage = await drafter.client.follow(created);
  t.match(text(runPage.body), 'You drafted this run, so a finance colleague must approve it');
  t.match(text(runPage.body), 'Sam Patel');
  const own = await drafter.client.post(`${runUrl}/approve`, {});
  t.equal(own.statusCode, 403);
  t.match(text(own.body), 'There is a problem');
  const runId = runUrl.split('/').pop()!;
  t.equal((await api('GET', `/v1/payout-runs/${runId}`, financeHeaders)).status, 'draft', 'still a draft');

  const colleague = await signedIn('finance');
  await colleague.client.get(runUrl);
  const approved = await colleague.client.post(`${runUrl}/approve`, {});
  t.equal(approved.headers.location, `${runUrl}?done=approved`);
  const afterApproval = await colleague.client.follow(approved);
  t.match(text(afterApproval.body), 'Run approved');
  const run = await api('GET', `/v1/payout-runs/${runId}`, financeHeaders);
  const item = run.items.find((i: any) => i.contributorId === person.id);
  t.equal(item.status, 'processing');

  const blank = await colleague.client.post(`/finance/payouts/${item.id}/mark-paid`, { runId, reference: '' });
  t.equal(blank.statusCode, 400);
  t.match(text(blank.body), 'Enter the payment reference');
  const paid = await colleague.client.post(`/finance/payouts/${item.id}/mark-paid`, { runId, reference: 'BACS-0042' }, { csrf: colleague.client.csrf() });
  t.equal(paid.headers.location, `/finance/runs/${runId}?done=paid`);
  t.match(text((await colleague.client.follow(paid)).body), 'Reference BACS-0042');
  const balance = (await api('GET', `/v1/contributors/${person.id}/balance`, financeHeaders)).balances[0];
  t.equal(balance.paid, 4000, 'the API shows the money paid');

  const report = await colleague.client.get(`/finance/report?budgetId=${budgetId}`);
  t.equal(report.statusCode, 200);
  const reportText = text(report.body);
  t.match(report.body, '<svg', 'the split chart is drawn');
  t.match(report.body, 'role="img"');
  t.match(reportText, 'June 2026 £40.00 £0.00', 'June: lived experience earnings');
  const apiReport = await api('GET', `/v1/reports/budgets/${budgetId}`, financeHeaders);
  const july = apiReport.byMonth.find((m: any) => m.month === '2026-07');
  t.same([july.livedExperienceEarned, july.professionalEarned], [0, 0], 'in-kind professional time earns nothing');
  const june = apiReport.byMonth.find((m: any) => m.month === '2026-06');
  t.equal(june.livedExperienceEarned + june.professionalEarned, june.earned, 'the split adds up to what was earned');
  const csv = await colleague.client.get(`/finance/report.csv?budgetId=${budgetId}`);
  t.equal(csv.statusCode, 200);
  t.match(csv.headers['content-type'], /text\/csv/);
  t.match(csv.headers['content-disposition'], /attachment/);
});

t.test('assets are served with caching, and nothing else from the folder', async (t) => {
  const client = new WebClient(app);
  const css = await client.get('/assets/app.css', { 'accept-encoding': 'gzip' });
  t.equal(css.statusCode, 200);
  t.match(css.headers['content-type'], /text\/css/);
  t.match(css.headers['cache-control'], /max-age=3600/);
  t.equal(css.headers['content-encoding'], 'gzip', 'compressed for slow connections');
  const page = await client.get('/login', { 'accept-encoding': 'br, gzip' });
  t.equal(page.headers['content-encoding'], 'br');
  const js = await client.get('/assets/govuk/govuk-frontend.min.js');
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /javascript/);
  t.equal((await client.get('/assets/../styles/app.scss')).statusCode, 404);
  t.equal((await client.get('/assets/govuk/index.scss')).statusCode, 404, 'only the script is served from GOV.UK Frontend');
});

t.test('a browser asking for an unknown page gets a page; the API stays JSON', async (t) => {
  const client = new WebClient(app);
  const page = await client.get('/no-such-page', { accept: 'text/html,application/xhtml+xml' });
  t.equal(page.statusCode, 404);
  t.match(page.headers['content-type'], /text\/html/);
  t.match(text(page.body), 'Page not found');
  const api = await client.get('/v1/no-such-route', { accept: 'text/html' });
  t.equal(api.statusCode, 404);
  t.match(api.headers['content-type'], /application\/problem\+json/);
  const script = await client.get('/no-such-page');
  t.match(script.headers['content-type'], /application\/problem\+json/, 'a client that does not ask for HTML gets JSON');
});

t.test("Stripe's return and refresh addresses", async (t) => {
  const anonymous = new WebClient(app);
  t.match(text((await anonymous.get('/app/stripe/return')).body), 'Stripe is checking your details');
  t.match(text((await anonymous.get('/app/stripe/refresh')).body), 'The Stripe link has expired');
  const person = await contributor('Returning Person', 'lived_experience', 'stripe');
  const { client } = await signedIn('participant', person.id);
  const back = await client.get('/app/stripe/return');
  t.equal(back.headers.location, '/my/payment?stripe=returned', 'a signed-in participant goes straight to their status');
  t.match(text((await client.follow(back)).body), 'Stripe is checking your details');
  const expired = await client.get('/app/stripe/refresh');
  t.match(text((await client.follow(expired)).body), 'The Stripe link had expired');
});
