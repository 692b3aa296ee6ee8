/**
 * Where personal data goes (#18, item 5). docs/personal-data.md: a reporter sees reports only, never names,
 * emails or payment details (contributors appear as stable pseudonyms).
 *
 * An organisation whose contributors have names, emails and Stripe accounts nothing else could
 * contain is paid in every way a payout can end (paid by Stripe, refused by Stripe with a message
 * naming the account, held and split and warned by earnings limits, held for changed payout
 * details, left out for an account not ready, marked paid and marked failed by hand with words
 * naming the person). Then every route the app serves (read from its router, so a route added
 * tomorrow is walked tomorrow) is called as a reporter: with a user's token, with an API token
 * and with a page session, with valid ids and every query a route documents (JSON and CSV), and
 * for its refusals. No body and no header may hold a name, an email, a Stripe account id or a
 * contributor id. The report routes a reporter reaches are walked as coordinator and finance
 * too: pseudonyms there as well. And the texts that earnings limits write (problem details, the
 * `detail` of a skipped payment, warnings) name nobody, whoever reads them.
 */
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { buildTestApp, createTestOrg, json, uniqueEmail } from '../helpers/app.js';
import { fundedBudget } from '../helpers/fixtures.js';
import { deliverEvent, noSuchDestination, onboardStripeContributor, stripeAppForThisFile, waitForRun } from '../helpers/payout-fixtures.js';
import { openApiPath, registeredRoutes, type RegisteredRoute as Route } from '../helpers/routes.js';
import { WebClient } from '../helpers/web.js';

// Some hundreds of requests, and a Stripe payout run to settle, on a busy machine.
t.setTimeout(480_000);

const { double, app, send } = await stripeAppForThisFile(t, 'personal_data_reach');

// ---------------------------------------------------------------------------------------------
// The people, and what must never be seen of them

interface Person {
  key: string;
  name: string;
  email: string;
  paymentMethod: 'stripe' | 'bank_transfer' | 'voucher' | 'declined';
  earningsLimit?: { period: 'week'; amount: number; periodStartDay: number; policy: 'block' | 'split' | 'warn' };
  hours: number;
  contributorId?: string;
  accountId?: string;
}

// Names, every part of which is found nowhere else in the service's words.
const weekLimit = (amount: number, policy: 'block' | 'split' | 'warn') => ({ period: 'week' as const, amount, periodStartDay: 1, policy });
const people: Person[] = [
  { key: 'paid', name: 'Zephyrine Quillfeather', email: 'zephyrine.quillfeather@reach-mail.example', paymentMethod: 'stripe', hours: 2 },
  { key: 'refused', name: 'Bartholomew Ostrander', email: 'b.ostrander@reach-mail.example', paymentMethod: 'stripe', hours: 3 },
  { key: 'notReady', name: 'Ludovica Thistlewood', email: 'ludo.thistlewood@reach-mail.example', paymentMethod: 'stripe', hours: 1 },
  { key: 'noAccount', name: 'Fenwick Blackthorne', email: 'fenwick.blackthorne@reach-mail.example', paymentMethod: 'stripe', hours: 1 },
  { key: 'detailsChanged', name: 'Wilhelmina Cobblestone', email: 'wilhelmina.cobblestone@reach-mail.example', paymentMethod: 'stripe', hours: 1 },
  { key: 'held', name: 'Ottoline Marchbanks', email: 'ottoline.marchbanks@reach-mail.example', paymentMethod: 'voucher', earningsLimit: weekLimit(3000, 'block'), hours: 2 },
  { key: 'split', name: 'Cassius Wrenfield', email: 'cassius.wrenfield@reach-mail.example', paymentMethod: 'bank_transfer', earningsLimit: weekLimit(3000, 'split'), hours: 2 },
  { key: 'warned', name: 'Persephone Aldergrove', email: 'persephone.aldergrove@reach-mail.example', paymentMethod: 'voucher', earningsLimit: weekLimit(3000, 'warn'), hours: 2 },
  { key: 'declined', name: 'Ignatius Pennywhistle', email: 'ignatius.pennywhistle@reach-mail.example', paymentMethod: 'declined', hours: 1 },
  { key: 'raced', name: 'Montgomery Fairweather', email: 'montgomery.fairweather@reach-mail.example', paymentMethod: 'voucher', earningsLimit: weekLimit(10_000, 'block'), hours: 0 },
  { key: 'participant', name: 'Evander Greenhalgh', email: 'evander.greenhalgh@reach-mail.example', paymentMethod: 'bank_transfer', hours: 1 },
];
const person = (key: string) => people.find((p) => p.key === key)!;
/** The participant's own log-in has an address of its own, as people often do. */
const participantLogin = { name: 'Evander G. (log-in)', email: 'evander.login@reach-mail.example' };

interface Needle {
  label: string;
  text: string;
}

/** Everything that would identify someone: names and each part of them, emails, Stripe account ids. */
function personalNeedles(): Needle[] {
  const needles: Needle[] = [];
  for (const p of people) {
    needles.push({ label: `${p.key}'s name`, text: p.name });
    for (const part of p.name.split(/\s+/)) needles.push({ label: `${p.key}'s name (${part})`, text: part });
    needles.push({ label: `${p.key}'s email`, text: p.email });
    if (p.accountId) needles.push({ label: `${p.key}'s Stripe account`, text: p.accountId });
  }
  needles.push({ label: "the participant's log-in email", text: participantLogin.email });
  // Any address of the people's domain at all (a part of one, a differently cased one).
  needles.push({ label: 'an address at reach-mail.example', text: 'reach-mail.example' });
  return needles;
}

/** For a reporter, contributor ids too: they are to see stable pseudonyms, nothing that points at a record. */
const contributorIdNeedles = (): Needle[] => people.map((p) => ({ label: `${p.key}'s contributor id`, text: p.contributorId! }));

/** Whatever a response shows: its headers and its body, as text (a binary body by its bytes). */
function shown(res: LightMyRequestResponse): string {
  return `${JSON.stringify(res.headers)}\n${res.body}`;
}

/**
 * The needles found in a response, case-insensitively, as written and URL-encoded; `sent` are
 * strings the caller put in the request itself (echoing someone's own input back is no leak).
 */
function leaksIn(res: LightMyRequestResponse, needles: Needle[], sent: string[] = []): string[] {
  const text = shown(res).toLowerCase();
  const echoed = sent.map((s) => s.toLowerCase());
  return needles
    .filter((n) => !echoed.some((s) => s.includes(n.text.toLowerCase())))
    .filter((n) => [n.text, encodeURIComponent(n.text)].some((form) => text.includes(form.toLowerCase())))
    .map((n) => n.label);
}

// ---------------------------------------------------------------------------------------------
// The organisation, paid in every way

const org = await createTestOrg(app);
const admin = await org.as('admin');
const { finance, budgetId, projectId, rateCardId } = await fundedBudget(app, org);
const finance2 = await org.as('finance');
const coordinator = await org.as('coordinator');

async function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, payload?: object, status?: number) {
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  if (status !== undefined && res.statusCode !== status) throw new Error(`${method} ${url} → ${res.statusCode} (wanted ${status}): ${res.body}`);
  return res;
}
const ok = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, headers: Record<string, string>, payload?: object, status = method === 'POST' ? 201 : 200) =>
  json(await call(method, url, headers, payload, status));

/** Every text the earnings limit and the payout plan wrote that staff read, with where it came from. */
const limitTexts: { where: string; text: string }[] = [];
const keepTexts = (where: string, texts: unknown) => {
  for (const text of Array.isArray(texts) ? texts : [texts]) if (typeof text === 'string') limitTexts.push({ where, text });
};

const entryIds: string[] = [];
for (const p of people) {
  const created = await ok('POST', '/v1/contributors', coordinator, {
    name: p.name,
    email: p.email,
    kind: 'lived_experience',
    paymentMethod: p.paymentMethod,
    ...(p.earningsLimit ? { earningsLimit: p.earningsLimit } : {}),
  });
  p.contributorId = created.id;
  if (p.hours === 0) continue;
  // A note that names them, as coordinators write.
  const entry = await ok('POST', '/v1/time-entries', coordinator, {
    contributorId: p.contributorId,
    budgetId,
    activity: 'meeting',
    date: '2026-03-02',
    minutes: p.hours * 60,
    note: `Panel meeting; ${p.name} led the discussion`,
  });
  keepTexts(`the quote of ${p.key}'s entry`, entry.quote.warnings);
  const approved = await ok('POST', `/v1/time-entries/${entry.id}/approve`, coordinator, undefined, 200);
  keepTexts(`the approval of ${p.key}'s entry`, approved.warnings);
  entryIds.push(entry.id);
}
// Expenses, for the one who declined payment (repaid anyway) and one other.
const expenseIds: string[] = [];
for (const key of ['declined', 'paid']) {
  const expense = await ok('POST', '/v1/expenses', coordinator, {
    contributorId: person(key).contributorId,
    budgetId,
    category: 'travel',
    amount: 1250,
    date: '2026-03-02',
    receiptReference: `Train ticket, ${person(key).name}`,
  });
  await ok('POST', `/v1/expenses/${expense.id}/approve`, coordinator, undefined, 200);
  expenseIds.push(expense.id);
}
// The participant has a log-in of their own.
const participantUser = await ok('POST', '/v1/users', admin, {
  email: participantLogin.email,
  name: participantLogin.name,
  role: 'participant',
  contributorId: person('participant').contributorId,
});

// Stripe: ready, refused, not ready, never started, and one whose bank account then changed.
for (const key of ['paid', 'refused', 'detailsChanged']) person(key).accountId = await onboardStripeContributor(send, coordinator, double, person(key).contributorId!);
person('notReady').accountId = (await ok('POST', `/v1/contributors/${person('notReady').contributorId}/stripe-account`, coordinator, undefined, 200)).accountId;
for (const event of double.changeBankAccount(person('detailsChanged').accountId!).events) {
  const delivered = await deliverEvent(send, event);
  if (delivered.statusCode !== 200) throw new Error(`${event.type} → ${delivered.statusCode}: ${delivered.body}`);
}

// Run 1: everyone but the one refused by Stripe and the one whose limit is raced below.
const runOne = await ok('POST', '/v1/payout-runs', finance, {
  currency: 'GBP',
  contributorIds: people.filter((p) => !['refused', 'raced'].includes(p.key)).map((p) => p.contributorId),
});
for (const skipped of runOne.skipped) keepTexts(`run 1 skipped ${skipped.reason}`, skipped.detail);
for (const item of runOne.items) keepTexts('run 1 item warnings', item.warnings);
const approvedOne = await ok('POST', `/v1/payout-runs/${runOne.id}/approve`, finance2, undefined, 200);
const settledOne = await waitForRun(send, finance, approvedOne.id);
const itemOf = (run: { items: any[] }, key: string) => run.items.find((i) => i.contributorId === person(key).contributorId);
await ok('POST', `/v1/payouts/${itemOf(settledOne, 'split').id}/mark-paid`, finance, { reference: `BACS to ${person('split').name}` }, 200);
await ok('POST', `/v1/payouts/${itemOf(settledOne, 'warned').id}/mark-failed`, finance, { reason: `Voucher returned: ${person('warned').name} (${person('warned').email}) had moved` }, 200);
await ok('POST', `/v1/payouts/${itemOf(settledOne, 'declined').id}/mark-paid`, finance, { reference: 'Cash for train tickets' }, 200);

// Run 2: Stripe refuses the transfer with a message that names the account, as it does.
double.faults.enqueue(noSuchDestination(person('refused').accountId!));
const runTwo = await ok('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [person('refused').contributorId] });
await ok('POST', `/v1/payout-runs/${runTwo.id}/approve`, finance2, undefined, 200);
const settledTwo = await waitForRun(send, finance, runTwo.id);

// Two drafts for one person under a blocking limit: the second approved would pass it (409).
const raced = person('raced');
for (const date of ['2026-03-02', '2026-03-03']) {
  const entry = await ok('POST', '/v1/time-entries', coordinator, { contributorId: raced.contributorId, budgetId, activity: 'meeting', date, minutes: 240 });
  keepTexts("the quote of raced's entry", entry.quote.warnings);
  keepTexts("the approval of raced's entry", (await ok('POST', `/v1/time-entries/${entry.id}/approve`, coordinator, undefined, 200)).warnings);
  entryIds.push(entry.id);
}
const racedRuns = [
  await ok('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [raced.contributorId] }),
  await ok('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [raced.contributorId] }),
];
await ok('POST', `/v1/payout-runs/${racedRuns[0].id}/approve`, finance2, undefined, 200);
// Checked in a test below (not here), so a wrong answer fails that test rather than the file.
const racedRefusal = await call('POST', `/v1/payout-runs/${racedRuns[1].id}/approve`, finance2);
// A quote for a session, where the limit's forecast is written before anything is saved.
const sessionQuote = await call('POST', '/v1/sessions/quote', coordinator, {
  budgetId,
  activity: 'meeting',
  date: '2026-03-04',
  minutes: 180,
  attendees: people.filter((p) => p.earningsLimit).map((p) => p.contributorId),
});

/** Ids of every kind, to fill any path or query parameter a route has. */
const ids: Record<string, string[]> = {
  contributor: people.map((p) => p.contributorId!),
  budget: [budgetId],
  project: [projectId],
  rateCard: [rateCardId],
  run: [runOne.id, runTwo.id, ...racedRuns.map((r: { id: string }) => r.id)],
  item: [...settledOne.items, ...settledTwo.items].map((i: { id: string }) => i.id),
  timeEntry: entryIds,
  expense: expenseIds,
  user: [participantUser.id, org.adminUserId],
};
const allIds = Object.values(ids).flat();

// ---------------------------------------------------------------------------------------------
// The routes, as the router has them

const routes = registeredRoutes(app);
const openapi = app.swagger() as { paths: Record<string, Record<string, { tags?: string[]; parameters?: { in: string; name: string; schema?: { enum?: string[]; format?: string; type?: string } }[] }>> };
const operationOf = (route: Route) => openapi.paths[openApiPath(route.path)]?.[route.method.toLowerCase()];

const paramNames = (route: Route) => [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
const fill = (route: Route, id: string) => route.path.replace(/:(\w+)/g, () => encodeURIComponent(id)).replace(/\*/g, 'no-such-file');

/** Values for a documented query parameter, by its schema and its name; [] when it needs none. */
function queryValues(parameter: { name: string; schema?: { enum?: string[]; format?: string; type?: string } }): string[] {
  const { name, schema = {} } = parameter;
  if (schema.enum) return schema.enum;
  if (name === 'from') return ['2026-01-01'];
  if (name === 'to') return ['2026-12-31'];
  if (schema.format === 'date') return ['2026-03-02'];
  if (name === 'currency') return ['GBP'];
  if (name === 'limit') return ['200'];
  if (name === 'cursor') return [];
  if (name === 'taxYear') return ['2025-26'];
  if (schema.type === 'boolean') return ['true', 'false'];
  const kind = /^(\w+)Id$/.exec(name)?.[1];
  if (kind) return ids[kind] ?? allIds;
  return [];
}

/** The query strings to try on a route: none, each documented parameter alone, and all together. */
function queryVariants(route: Route): string[] {
  const parameters = (operationOf(route)?.parameters ?? []).filter((p) => p.in === 'query');
  const variants = [''];
  const together = new URLSearchParams();
  for (const parameter of parameters) {
    const values = queryValues(parameter);
    for (const value of values) variants.push(new URLSearchParams({ [parameter.name]: value }).toString());
    if (values[0] !== undefined) together.set(parameter.name, values[0]);
  }
  if ([...together].length > 1) variants.push(together.toString());
  return [...new Set(variants)];
}

// ---------------------------------------------------------------------------------------------
// Walking them

interface Seen {
  route: Route;
  url: string;
  as: string;
  res: LightMyRequestResponse;
  sent: string[];
}

type Credential = { label: string; headers: () => Record<string, string> };

/**
 * A refusal of the caller itself, whatever the parameters: not allowed (403), not signed in
 * (401), or a page sending someone without a page session to sign in.
 */
const refusedForRole = (res: LightMyRequestResponse) =>
  res.statusCode === 403 || res.statusCode === 401 || (res.statusCode === 303 && String(res.headers.location).startsWith('/login'));

/**
 * Calls every GET route as `credential`: first with made-up parameters (a refusal of the role
 * ends it there), then, where it is reached, with every id that fills its parameters and every
 * documented query, in JSON and as CSV.
 */
async function walkGets(credential: Credential, filter: (route: Route) => boolean = () => true): Promise<{ seen: Seen[]; reached: Route[] }> {
  const seen: Seen[] = [];
  const reached: Route[] = [];
  const get = async (route: Route, url: string, extra: Record<string, string> = {}) => {
    const res = await app.inject({ method: 'GET', url, headers: { ...credential.headers(), ...extra } });
    // The URL comes back in a problem's `instance` and a redirect's `next`: the caller's own words.
    seen.push({ route, url, as: credential.label + (extra.accept ? ` (Accept: ${extra.accept})` : ''), res, sent: [url] });
    return res;
  };
  for (const route of routes.filter((r) => r.method === 'GET' && filter(r))) {
    const probe = await get(route, fill(route, randomUUID()));
    if (refusedForRole(probe)) continue;
    reached.push(route);
    const urls = paramNames(route).length ? allIds.map((id) => fill(route, id)) : [fill(route, '')];
    for (const url of urls) {
      for (const query of queryVariants(route)) {
        const full = query ? `${url}?${query}` : url;
        const res = await get(route, full);
        if (res.statusCode === 404 && paramNames(route).length) break; // not this kind of id
        await get(route, full, { accept: 'text/csv' });
      }
    }
  }
  return { seen, reached };
}

const reporterJwt = await org.tokenFor('reporter');
const reporterApiToken = (await ok('POST', '/v1/api-tokens', admin, { name: 'funder reporting script', role: 'reporter' })).token as string;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const reporterCredentials: Credential[] = [
  { label: "a reporter user's token", headers: () => bearer(reporterJwt) },
  { label: 'a reporter API token', headers: () => bearer(reporterApiToken) },
  { label: "a reporter's page session", headers: () => ({ cookie: `cpl_session=${reporterJwt}` }) },
];

/** A subtest, as tap hands it to a test function. */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

function assertNothingShown(t: TapTest, seen: Seen[], needles: Needle[]) {
  let clean = 0;
  for (const { url, as, res, sent } of seen) {
    const found = leaksIn(res, needles, sent);
    if (found.length) t.fail(`${as}: GET ${url} → ${res.statusCode} shows ${found.join(', ')}: ${res.body.slice(0, 1500)}`);
    else clean++;
  }
  t.equal(clean, seen.length, `${clean} of ${seen.length} responses show nobody`);
}

// ---------------------------------------------------------------------------------------------
// The tests

t.test('the needles are right: the people are shown where they should be', async (t) => {
  // Without this, a clean walk could come from needles that match nothing.
  const list = await call('GET', '/v1/contributors?limit=200', coordinator, undefined, 200);
  const found = leaksIn(list, [...personalNeedles(), ...contributorIdNeedles()]);
  for (const p of people) {
    t.ok(found.includes(`${p.key}'s name`) && found.includes(`${p.key}'s email`) && found.includes(`${p.key}'s contributor id`), `${p.name} is in the coordinator's list`);
    if (p.accountId) t.ok(found.includes(`${p.key}'s Stripe account`), `and their Stripe account`);
  }
  t.equal(people.filter((p) => p.accountId).length, 4, 'four Stripe accounts to look for');
  const users = await call('GET', '/v1/users?limit=200', admin, undefined, 200);
  t.ok(leaksIn(users, personalNeedles()).includes("the participant's log-in email"), "the participant's log-in is in the admin's list");
});

t.test('the organisation was paid in every way a payout can end', async (t) => {
  const status = (run: { items: any[] }, key: string) => itemOf(run, key)?.status;
  const after = await ok('GET', `/v1/payout-runs/${runOne.id}`, finance, undefined, 200);
  t.equal(status(after, 'paid'), 'paid', 'paid by Stripe');
  t.equal(status(after, 'split'), 'paid', 'split, and the rest marked paid by hand');
  t.equal(itemOf(after, 'split').carriedForward, 1000, 'a split limit carried £10 forward');
  t.equal(status(after, 'warned'), 'failed', 'warned, then marked failed by hand');
  t.ok(itemOf(after, 'warned').warnings.length > 0, 'with a warning');
  t.same(
    Object.fromEntries(runOne.skipped.map((s: { contributorId: string; reason: string }) => [people.find((p) => p.contributorId === s.contributorId)!.key, s.reason])),
    { notReady: 'stripe_account_not_ready', noAccount: 'stripe_account_missing', detailsChanged: 'payout_details_changed', held: 'earnings_limit' },
  );
  t.match(itemOf(after, 'declined'), { status: 'paid', earnings: 0, expenses: 1250 }, 'who declined payment was repaid their expenses');
  t.match(itemOf(settledTwo, 'refused'), { status: 'failed', failureReason: new RegExp(person('refused').accountId!) }, "Stripe's refusal named the account");
  t.equal(racedRefusal.statusCode, 409, racedRefusal.body);
  t.match(json(racedRefusal), { code: 'invalid_state', detail: /earnings limit/ });
  t.equal(sessionQuote.statusCode, 200, sessionQuote.body);
});

t.test('a reporter reaches no name, email, Stripe account or contributor id on any route', async (t) => {
  const needles = [...personalNeedles(), ...contributorIdNeedles()];
  const reachedBy: Record<string, string[]> = {};
  for (const credential of reporterCredentials) {
    const { seen, reached } = await walkGets(credential);
    reachedBy[credential.label] = reached.map((r) => r.key);
    assertNothingShown(t, seen, needles);
    // The walk is not empty: a reporter's reports were read, in JSON and CSV, with real ids.
    const report = seen.filter((s) => s.route.path === '/v1/reports/budgets/:id' && s.res.statusCode === 200);
    if (credential.label.includes('page')) continue; // pages take no bearer; the API below them is the same
    t.ok(report.some((s) => /json/.test(String(s.res.headers['content-type']))), `${credential.label}: the grant report in JSON`);
    t.ok(report.some((s) => /csv/.test(String(s.res.headers['content-type']))), `${credential.label}: the grant report as CSV`);
    for (const path of ['/v1/reports/distribution', '/v1/reports/time-to-pay']) {
      t.ok(seen.some((s) => s.route.path === path && s.res.statusCode === 200), `${credential.label}: ${path}`);
    }
  }
  t.ok(reachedBy["a reporter's page session"]!.includes('GET /account'), 'the page session reached its account page');
  t.comment(`a reporter's token reaches: ${reachedBy["a reporter user's token"]!.join(', ')}`);
});

t.test("the reports show pseudonyms only, to coordinator and finance too", async (t) => {
  const reports = (r: Route) => Boolean(operationOf(r)?.tags?.includes('reports'));
  t.ok(routes.filter(reports).length >= 3, 'the report routes are found by their tag');
  for (const [role, headers] of [
    ['coordinator', coordinator],
    ['finance', finance],
  ] as const) {
    const { seen, reached } = await walkGets({ label: role, headers: () => headers }, reports);
    t.same(reached.map((r) => r.key).sort(), routes.filter(reports).map((r) => r.key).sort(), `${role} reads every report`);
    // Staff get one list of names (docs/api-guide.md, Roles): the time-to-pay report's people owed past the target,
    // for finance to act on. Everything else is pseudonyms.
    const withoutActionList = seen.map((s) => {
      if (s.route.path !== '/v1/reports/time-to-pay' || s.res.statusCode !== 200) return s;
      const body = json(s.res);
      body.owedPastTarget = body.owedPastTarget.map(({ name: _name, ...rest }: { name?: string }) => rest);
      return { ...s, res: { ...s.res, body: JSON.stringify(body) } as LightMyRequestResponse };
    });
    assertNothingShown(t, withoutActionList, personalNeedles());
    const grant = seen.find((s) => s.route.path === '/v1/reports/budgets/:id' && s.res.statusCode === 200 && /json/.test(String(s.res.headers['content-type'])));
    t.ok(grant, `${role}: the grant report`);
    if (grant) t.ok(json(grant.res).contributors.every((c: { pseudonym: string }) => /\S/.test(c.pseudonym)), 'each line by its pseudonym');
  }

  // The grant report's page and CSV download for finance, built on the same API.
  const page = new WebClient(app).withToken(finance.authorization!.slice('Bearer '.length));
  for (const url of [`/finance/report?budgetId=${budgetId}`, `/finance/report.csv?budgetId=${budgetId}`]) {
    const res = await page.get(url);
    t.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 300)}`);
    t.same(leaksIn(res, personalNeedles()), [], `${url} shows nobody`);
  }
});

t.test("the report routes' refusals name nobody", async (t) => {
  const needles = [...personalNeedles(), ...contributorIdNeedles()];
  const reporter = bearer(reporterJwt);
  const problems: [string, LightMyRequestResponse, string][] = [];
  const add = async (label: string, url: string, headers: Record<string, string> = reporter) =>
    problems.push([label, await app.inject({ method: 'GET', url, headers }), url]);
  for (const route of routes.filter((r) => r.method === 'GET' && operationOf(r)?.tags?.includes('reports'))) {
    const url = fill(route, budgetId);
    if (paramNames(route).length) {
      await add(`${route.key} for an id that is nothing`, fill(route, randomUUID()));
      await add(`${route.key} for what is not an id`, fill(route, 'not-an-id'));
      // An id of every other kind: a contributor's id must not bring back their name.
      // (Some are the right kind for another report: only what they show is checked.)
      for (const id of allIds.filter((id) => id !== budgetId)) await add(`${route.key} for an id of another kind`, fill(route, id));
    }
    await add(`${route.key} with an unknown parameter`, `${url}?contributorId=${person('paid').contributorId}`);
    await add(`${route.key} with a range backwards`, `${url}?from=2026-12-31&to=2026-01-01`);
    await add(`${route.key} with a bad format`, `${url}?format=xlsx`);
    await add(`${route.key} without a token`, url, {});
    await add(`${route.key} with a participant's email as a token`, url, bearer(person('paid').email));
  }
  // Rate limited: an app with a tiny allowance, on the same database.
  const tight = await buildTestApp({ env: { REPORT_RATE_LIMIT: '1' } });
  t.teardown(() => tight.close());
  const limited = `/v1/reports/budgets/${budgetId}`;
  await tight.inject({ method: 'GET', url: limited, headers: reporter });
  problems.push(['rate limited', await tight.inject({ method: 'GET', url: limited, headers: reporter }), limited]);
  t.ok(problems.some(([, res]) => res.statusCode === 429), 'a 429 among them');
  t.ok(problems.some(([, res]) => res.statusCode === 404), 'a 404 among them');
  t.ok(problems.some(([, res]) => res.statusCode === 400), 'a 400 among them');
  for (const [label, res, url] of problems) {
    if (!label.endsWith('of another kind')) t.ok(res.statusCode >= 400, `${label}: refused (${res.statusCode})`);
    t.same(leaksIn(res, needles, [url, person('paid').email]), [], `${label} (${res.statusCode}) names nobody: ${res.body.slice(0, 300)}`);
  }
});

t.test('what a reporter may send (sign out, email choices, the public sign-in routes) answers with nobody in it', async (t) => {
  const needles = [...personalNeedles(), ...contributorIdNeedles()];
  /** The requests a reporter (or anyone, for public routes) may make that change something. */
  const requests: Record<string, { payload?: object; headers?: Record<string, string>; form?: boolean }[]> = {
    'PUT /v1/me/notification-preferences': [{ payload: { email: { payment_sent: false } } }, { payload: { email: { no_such_kind: true } } }],
    'POST /v1/auth/logout': [{}],
    'POST /v1/auth/token': people.map((p) => ({ payload: { email: p.email, password: 'not their password at all' } })),
    'POST /v1/auth/accept-invite': [{ payload: { inviteToken: 'x'.repeat(43), password: 'a long enough password' } }],
    'POST /v1/auth/reset-password': [{ payload: { resetToken: 'x'.repeat(43), password: 'a long enough password' } }],
    'POST /v1/webhooks/stripe': [{ payload: { type: 'account.updated', data: { object: { id: person('paid').accountId } } }, headers: { 'stripe-signature': 't=1,v1=forged' } }],
  };
  const reached: string[] = [];
  for (const route of routes.filter((r) => r.method !== 'GET' && r.path.startsWith('/v1/'))) {
    // A token of its own for each route: the probe of POST /v1/auth/logout ends the token it is sent with.
    const reporter = bearer(await org.tokenFor('reporter'));
    const probe = await app.inject({ method: route.method as 'POST', url: fill(route, randomUUID()), headers: reporter, payload: {} });
    t.same(leaksIn(probe, needles), [], `${route.key} probed by a reporter names nobody: ${probe.body.slice(0, 300)}`);
    if (refusedForRole(probe) && !requests[route.key]) continue;
    reached.push(route.key);
    if (!requests[route.key]) {
      t.fail(`${route.key} answers a reporter ${probe.statusCode}: give it valid requests in this test, so what it answers is checked`);
      continue;
    }
    for (const request of requests[route.key]!) {
      const res = await app.inject({ method: route.method as 'POST', url: fill(route, randomUUID()), headers: request.headers ?? reporter, payload: request.payload ?? {} });
      const sent = JSON.stringify(request.payload ?? {});
      t.same(leaksIn(res, needles, [sent]), [], `${route.key} → ${res.statusCode} names nobody: ${res.body.slice(0, 300)}`);
    }
  }
  t.same(reached.sort(), Object.keys(requests).sort(), 'exactly these routes answer a reporter');

  // The sign-in page, with each person's address and a wrong password.
  for (const p of people.slice(0, 3)) {
    const page = new WebClient(app);
    await page.get('/login');
    const res = await page.post('/login', { email: p.email, password: 'not their password at all' });
    t.same(leaksIn(res, needles, [p.email]), [], `the sign-in page for ${p.key}'s address names nobody else`);
    t.notOk(shown(res).includes(p.name), `nor their name (${res.statusCode})`);
  }
});

t.test('what earnings limits write names nobody, whoever reads it', async (t) => {
  const needles = personalNeedles();
  keepTexts('the 409 of a second run past the limit', json(racedRefusal).detail);
  keepTexts('the quote of a session', json(sessionQuote).entries?.flatMap((e: { quote?: { warnings?: string[] } }) => e.quote?.warnings ?? []));
  keepTexts('the quote of a session', json(sessionQuote).warnings);
  const held = runOne.skipped.find((s: { reason: string }) => s.reason === 'earnings_limit');
  t.ok(held?.detail, 'the held payment says why');
  t.ok(limitTexts.some((l) => /earnings limit/.test(l.text) && l.where.startsWith('the approval')), 'approvals forecast the limit');
  t.ok(limitTexts.some((l) => l.where.startsWith('run 1 item warnings')), 'the warn policy warned');
  for (const { where, text } of limitTexts) {
    const found = needles.filter((n) => text.toLowerCase().includes(n.text.toLowerCase())).map((n) => n.label);
    t.same(found, [], `${where}: "${text}"`);
  }
  // The run as finance reads it: every skipped detail and every item's warnings.
  for (const id of ids.run!) {
    const run = await ok('GET', `/v1/payout-runs/${id}`, finance, undefined, 200);
    for (const text of [...run.skipped.map((s: { detail?: string }) => s.detail ?? ''), ...run.items.flatMap((i: { warnings: string[] }) => i.warnings)]) {
      t.same(needles.filter((n) => text.toLowerCase().includes(n.text.toLowerCase())).map((n) => n.label), [], `run ${id}: "${text}"`);
    }
  }
});
