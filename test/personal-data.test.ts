/**
 * Personal data (issue #18; docs/personal-data.md): erasure keeps the books whole and leaves no
 * readable copy anywhere in the database, subject access exports everything held, duplicate
 * people are caught, and the retention list names who is past the retention period.
 */
import t, { type Test } from 'tap';
import { sql } from 'drizzle-orm';
import { queryRows } from '../src/db/client.js';
import { contributorsPastRetention, yearsAfter } from '../src/modules/personal-data/retention.js';
import { buildTestApp, createTestOrg, json, uniqueEmail, type TestOrg } from './helpers/app.js';
import { WebClient } from './helpers/web.js';
import { fundedBudget } from './helpers/fixtures.js';
import { onboardStripeContributor, viaInject, WEBHOOK_SECRET } from './helpers/payout-fixtures.js';
import { testDatabase } from './helpers/database.js';
import { createStripeClient } from '../src/lib/stripe.js';
import { startStripeDouble } from '../tools/stripe-double/index.js';

const stripeDouble = await startStripeDouble();
const app = await buildTestApp({
  stripe: createStripeClient({ secretKey: 'sk_test_personal_data', apiBase: stripeDouble.url, timeoutMs: 5_000, maxRequestsPerSecond: 100 }),
  env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET },
});
t.teardown(async () => {
  await app.close();
  await stripeDouble.close();
  await (await testDatabase()).close();
});
const send = viaInject(app);
type Headers = Record<string, string>;

async function call(t: Test, method: 'GET' | 'POST' | 'PATCH', url: string, headers: Headers, payload?: object, expected?: number, extraHeaders: Headers = {}) {
  const res = await app.inject({ method, url, headers: { ...headers, ...extraHeaders }, payload });
  const want = expected ?? (method === 'POST' && !/\/(approve|mark-paid|mark-failed|erase|reject)$/.test(url) ? 201 : 200);
  t.equal(res.statusCode, want, `${method} ${url} → ${want}`, res.statusCode === want ? {} : { body: res.body.slice(0, 600) });
  return res;
}

/** Every row of every table, as text, for this organisation (and pg-boss's jobs): where a name could hide. */
async function everythingStored(): Promise<string> {
  const tables = await queryRows<{ schema: string; name: string }>(
    app.db,
    sql`select table_schema as schema, table_name as name from information_schema.tables
        where table_schema in ('public', 'pgboss') and table_type = 'BASE TABLE' order by 1, 2`,
  );
  const parts: string[] = [];
  for (const table of tables) {
    const rows = await queryRows<{ row: string }>(app.db, sql.raw(`select t::text as row from "${table.schema}"."${table.name}" t`));
    parts.push(...rows.map((r) => `${table.name}: ${r.row}`));
  }
  return parts.join('\n');
}

/**
 * An organisation where Robin Quill… (a surname of its own) (lived experience, bank transfer, a participant log-in)
 * worked, claimed an expense and was paid in full; plus someone else, Sam, still owed.
 */
async function world(t: Test) {
  const org: TestOrg = await createTestOrg(app);
  const { budgetId, projectId } = await fundedBudget(app, org);
  const admin = await org.as('admin');
  const coordinator = await org.as('coordinator');
  const finance = await org.as('finance');
  const finance2 = await org.as('finance');
  const reporter = await org.as('reporter');
  // A surname of its own each time, so a database shared with earlier runs holds no other.
  const surname = `Quill${Array.from({ length: 8 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('')}`;
  const name = `Robin ${surname}`;
  const email = uniqueEmail(`robin.${surname.toLowerCase()}`);
  const createKey = `create-${Math.random().toString(36).slice(2)}`;
  const robin = json(
    await call(t, 'POST', '/v1/contributors', coordinator, { name, email, kind: 'lived_experience', paymentMethod: 'bank_transfer' }, 201, {
      'idempotency-key': createKey,
    }),
  );
  const sam = json(await call(t, 'POST', '/v1/contributors', coordinator, { name: 'Sam Other', kind: 'carer', paymentMethod: 'bank_transfer' }));
  // Robin's own log-in, invited by an admin (the invite email goes to the outbox).
  const login = json(await call(t, 'POST', '/v1/users', admin, { email, name, role: 'participant', contributorId: robin.id }));
  const participant = await org.as('participant', { contributorId: robin.id });

  const entry = json(
    await call(t, 'POST', '/v1/time-entries', coordinator, {
      contributorId: robin.id,
      budgetId,
      activity: 'meeting',
      date: '2026-03-02',
      minutes: 120,
      note: `${name} led the carers discussion`,
    }, 201, { 'idempotency-key': `${createKey}-entry` }),
  );
  await call(t, 'POST', `/v1/time-entries/${entry.id}/approve`, coordinator);
  const expense = json(
    await call(t, 'POST', '/v1/expenses', coordinator, {
      contributorId: robin.id,
      budgetId,
      category: 'travel',
      amount: 640,
      date: '2026-03-02',
      receiptReference: 'R-1',
      note: `Bus fare for ${name}`,
    }),
  );
  await call(t, 'POST', `/v1/expenses/${expense.id}/approve`, coordinator);
  const samEntry = json(await call(t, 'POST', '/v1/time-entries', coordinator, { contributorId: sam.id, budgetId, activity: 'meeting', date: '2026-03-03', minutes: 60 }));
  await call(t, 'POST', `/v1/time-entries/${samEntry.id}/approve`, coordinator);
  return { org, admin, coordinator, finance, finance2, reporter, participant, robin, sam, name, surname, email, createKey, login, budgetId, projectId, entry, expense };
}

type World = Awaited<ReturnType<typeof world>>;

/**
 * Pays Robin everything owed, by bank transfer, drafted and approved by two finance users: a first
 * run fails (finance typing why, naming them), the second is paid with a bank reference that
 * names them, as bank references often do.
 */
async function payRobin(t: Test, w: World) {
  const pay = async () => {
    const draft = json(await call(t, 'POST', '/v1/payout-runs', w.finance, { currency: 'GBP', contributorIds: [w.robin.id] }));
    return json(await call(t, 'POST', `/v1/payout-runs/${draft.id}/approve`, w.finance2));
  };
  const failed = await pay();
  for (const item of failed.items) await call(t, 'POST', `/v1/payouts/${item.id}/mark-failed`, w.finance, { reason: `Account closed, R. ${w.surname.toUpperCase()} to send new details` });
  const run = await pay();
  for (const item of run.items) await call(t, 'POST', `/v1/payouts/${item.id}/mark-paid`, w.finance, { reference: `BACS ${w.surname.toUpperCase()} ${item.id.slice(-6)}` });
  return run;
}

t.test('erasure is refused while money is owed, and while work awaits approval', async (t) => {
  const w = await world(t);
  const owed = json(await call(t, 'POST', `/v1/contributors/${w.robin.id}/erase`, w.admin, undefined, 409));
  t.equal(owed.code, 'balance_outstanding');
  t.match(owed.balances, [{ currency: 'GBP', owed: 4640, inTransit: 0 }]);

  // Drafted and approved, not yet paid: the money is on its way.
  const draft = json(await call(t, 'POST', '/v1/payout-runs', w.finance, { currency: 'GBP', contributorIds: [w.robin.id] }));
  const run = json(await call(t, 'POST', `/v1/payout-runs/${draft.id}/approve`, w.finance2));
  t.equal(json(await call(t, 'POST', `/v1/contributors/${w.robin.id}/erase`, w.admin, undefined, 409)).code, 'balance_outstanding');
  for (const item of run.items) await call(t, 'POST', `/v1/payouts/${item.id}/mark-paid`, w.finance, { reference: 'BACS 1' });

  const pending = json(await call(t, 'POST', '/v1/time-entries', w.coordinator, { contributorId: w.robin.id, budgetId: w.budgetId, activity: 'meeting', date: '2026-03-09', minutes: 30 }));
  const refused = json(await call(t, 'POST', `/v1/contributors/${w.robin.id}/erase`, w.admin, undefined, 409));
  t.match(refused, { code: 'work_pending', timeEntries: 1, expenses: 0 });
  await call(t, 'POST', `/v1/time-entries/${pending.id}/reject`, w.coordinator, { reason: 'Recorded by mistake' });

  // Only an admin erases.
  for (const role of ['finance', 'coordinator', 'reporter'] as const) {
    await call(t, 'POST', `/v1/contributors/${w.robin.id}/erase`, await w.org.as(role), undefined, 403);
  }
  await call(t, 'POST', `/v1/contributors/${w.robin.id}/erase`, w.participant, undefined, 403);
  t.equal(json(await call(t, 'GET', `/v1/contributors/${w.robin.id}`, w.admin)).erased, false, 'refusals changed nothing');
  await call(t, 'POST', `/v1/contributors/${w.robin.id}/erase`, w.admin);
});

t.test('erasure keeps ledger, reports and pseudonym byte for byte, and leaves the name nowhere in the database', async (t) => {
  const w = await world(t);
  await payRobin(t, w);
  const robinPseudonymBefore = await call(t, 'GET', `/v1/reports/budgets/${w.budgetId}`, w.reporter);

  const reads: Array<[string, Headers]> = [
    ['/v1/ledger/trial-balance', w.finance],
    [`/v1/reports/budgets/${w.budgetId}`, w.reporter],
    [`/v1/reports/budgets/${w.budgetId}?format=csv`, w.reporter],
    [`/v1/reports/projects/${w.projectId}`, w.reporter],
    ['/v1/reports/distribution', w.reporter],
    [`/v1/reports/distribution?budgetId=${w.budgetId}`, w.reporter],
    ['/v1/reports/time-to-pay', w.finance],
    [`/v1/contributors/${w.robin.id}/balance`, w.finance],
    [`/v1/contributors/${w.robin.id}/statement?from=2026-01-01&to=2026-12-31`, w.finance],
  ];
  const readAll = async () => Promise.all(reads.map(async ([url, headers]) => (await call(t, 'GET', url, headers)).body));
  const before = await readAll();
  t.ok(robinPseudonymBefore.body.length > 0);
  t.ok((await everythingStored()).includes(w.name), 'the name is stored before erasure (the scan can see it)');

  const erased = json(await call(t, 'POST', `/v1/contributors/${w.robin.id}/erase`, w.admin));
  t.match(erased, { id: w.robin.id, erased: true, name: 'Erased contributor', email: null, stripeAccountId: null, stripeAccountDeleted: null, loginsErased: 2 });

  const after = await readAll();
  for (let i = 0; i < reads.length; i++) {
    if (reads[i]![0].includes('/statement')) continue; // names the person: compared below
    t.equal(after[i], before[i], `${reads[i]![0]} is byte-identical after erasure`);
  }
  const statementBefore = JSON.parse(before[reads.length - 1]!);
  const statementAfter = JSON.parse(after[reads.length - 1]!);
  const withoutPersonal = (statement: any) => ({
    ...statement,
    name: undefined,
    timeEntries: statement.timeEntries.map((e: any) => ({ ...e, note: undefined })),
    expenses: statement.expenses.map((e: any) => ({ ...e, note: undefined })),
    payouts: statement.payouts.map((p: any) => ({ ...p, reference: undefined, failureReason: undefined })),
  });
  t.same(withoutPersonal(statementAfter), withoutPersonal(statementBefore), 'the statement is the same but for the name, notes and the words naming them');
  t.same(
    statementAfter.payouts.map((p: any) => [p.status, p.reference, p.failureReason]),
    [
      ['failed', null, '(erased)'],
      ['paid', '(erased)', null],
    ],
    "finance's words that named them are gone",
  );
  t.equal(statementAfter.name, 'Erased contributor');

  const got = json(await call(t, 'GET', `/v1/contributors/${w.robin.id}`, w.admin));
  t.match(got, { erased: true, name: 'Erased contributor', email: null });
  const entry = json(await call(t, 'GET', `/v1/time-entries/${w.entry.id}`, w.coordinator));
  t.match(entry, { note: null, amount: 4000, status: 'approved' });

  // Their log-in is gone: its tokens are refused and the user holds no name or email.
  await call(t, 'GET', '/v1/me/balance', w.participant, undefined, 401);
  const user = json(await call(t, 'GET', `/v1/users/${w.login.id}`, w.admin));
  t.match(user, { name: 'Erased participant', disabled: true });
  t.notOk(user.email.includes(w.surname.toLowerCase()));

  const signIn = await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { email: w.email, password: 'anything at all 123' } });
  t.equal(signIn.statusCode, 401, 'their old email signs nobody in');
  // (and the failed sign-in's counter keeps a digest of the email, not the email)
  // Nowhere in the database: not the audit log, not the outbox, not a stored idempotent response.
  const stored = await everythingStored();
  for (const needle of [w.name, w.email, w.surname]) {
    t.notOk(stored.toLowerCase().includes(needle.toLowerCase()), `"${needle}" is nowhere in the database`);
  }

  // The idempotent replay of creating them answers without the name.
  const replay = await call(
    t,
    'POST',
    '/v1/contributors',
    w.coordinator,
    { name: w.name, email: w.email, kind: 'lived_experience', paymentMethod: 'bank_transfer' },
    201,
    { 'idempotency-key': w.createKey },
  );
  t.notOk(replay.body.toLowerCase().includes(w.surname.toLowerCase()));
  t.equal(json(replay).id, w.robin.id, 'the replay is of the same creation');

  // The erasure is audited, with ids only.
  const events = json(await call(t, 'GET', `/v1/audit-events?entityType=contributor&entityId=${w.robin.id}`, w.admin)).data;
  const erasure = events.find((e: any) => e.action === 'contributor.erased');
  t.match(erasure, { actorType: 'user', after: { erased: true, usersErased: [w.login.id] } });
  t.notOk(JSON.stringify(events).toLowerCase().includes(w.surname.toLowerCase()));

  // Erasing again answers the same; the record can no longer change.
  t.match(json(await call(t, 'POST', `/v1/contributors/${w.robin.id}/erase`, w.admin)), { erased: true, name: 'Erased contributor' });
  t.equal(json(await call(t, 'PATCH', `/v1/contributors/${w.robin.id}`, w.admin, { name: 'Someone' }, 409)).code, 'invalid_state');
  // Nothing new can be recorded for them, nor a log-in or Stripe account made.
  const refusedFor = async (url: string, headers: Headers, payload: object) =>
    t.equal(json(await call(t, 'POST', url, headers, payload, 409)).code, 'invalid_state', `${url} refused for an erased person`);
  const work = { budgetId: w.budgetId, activity: 'meeting', date: '2026-03-10', minutes: 60 };
  await refusedFor('/v1/time-entries', w.coordinator, { contributorId: w.robin.id, ...work });
  await refusedFor('/v1/sessions', w.coordinator, { ...work, attendees: [w.sam.id, w.robin.id] });
  await refusedFor('/v1/expenses', w.coordinator, { contributorId: w.robin.id, budgetId: w.budgetId, category: 'travel', amount: 100, date: '2026-03-10' });
  await refusedFor('/v1/users', w.admin, { email: uniqueEmail('again'), name: 'Someone', role: 'participant', contributorId: w.robin.id });
  t.equal(json(await call(t, 'GET', `/v1/time-entries?contributorId=${w.sam.id}`, w.coordinator)).data.length, 1, 'the session recorded nobody');
  // Sam, never erased, is untouched.
  t.match(json(await call(t, 'GET', `/v1/contributors/${w.sam.id}`, w.admin)), { name: 'Sam Other', erased: false });
});

t.test("erasure deletes the Stripe connected account and unlinks it", async (t) => {
  const org = await createTestOrg(app);
  const admin = await org.as('admin');
  const coordinator = await org.as('coordinator');
  const surname = `Stripeling${Date.now().toString(36)}`;
  const person = json(await call(t, 'POST', '/v1/contributors', coordinator, { name: `Kit ${surname}`, kind: 'lived_experience', paymentMethod: 'stripe' }));
  const accountId = await onboardStripeContributor(send, coordinator, stripeDouble, person.id);
  t.ok(stripeDouble.accounts.has(accountId), 'the double holds the account');
  const erased = json(await call(t, 'POST', `/v1/contributors/${person.id}/erase`, admin));
  t.match(erased, { stripeAccountId: null, stripeAccountDeleted: true, payoutsEnabled: false });
  t.notOk(stripeDouble.accounts.has(accountId), 'Stripe was asked to delete the connected account');
  const stored = await everythingStored();
  t.notOk(stored.includes(accountId), 'the account id is nowhere in the database');
  t.notOk(stored.includes(surname));
});

t.test('a person who also has a staff log-in is not erased until that changes', async (t) => {
  const org = await createTestOrg(app);
  const admin = await org.as('admin');
  const person = json(await call(t, 'POST', '/v1/contributors', admin, { name: 'Jo Staffmember', kind: 'professional', paymentMethod: 'declined' }));
  await org.as('coordinator', { contributorId: person.id });
  t.equal(json(await call(t, 'POST', `/v1/contributors/${person.id}/erase`, admin, undefined, 409)).code, 'invalid_state');
  t.equal(json(await call(t, 'GET', `/v1/contributors/${person.id}`, admin)).name, 'Jo Staffmember');
});

t.test('subject access: the admin export and the participant\'s own hold everything about them', async (t) => {
  const w = await world(t);
  await payRobin(t, w);
  const exported = json(await call(t, 'GET', `/v1/contributors/${w.robin.id}/export`, w.admin));
  t.match(exported, {
    organisation: { id: w.org.organisationId },
    contributor: { id: w.robin.id, name: w.name, email: w.email },
    logins: [{ id: w.login.id, email: w.email, role: 'participant' }],
    timeEntries: [{ id: w.entry.id, note: `${w.name} led the carers discussion`, amount: 4000 }],
    expenses: [{ id: w.expense.id, amount: 640 }],
    payouts: [{ status: 'failed', failureReason: `Account closed, R. ${w.surname.toUpperCase()} to send new details` }, { status: 'paid', earnings: 4000, expenses: 640 }],
    balances: [{ currency: 'GBP', owed: 0, inTransit: 0, paid: 4640 }],
    retention: { years: 6 },
  });
  t.equal(exported.taxYears.reduce((s: number, y: any) => s + y.earningsPaid, 0), 4000);
  t.equal(exported.taxYears.reduce((s: number, y: any) => s + y.expensesPaid, 0), 640);
  t.ok(exported.notifications.some((n: any) => n.toAddress === w.email), 'the emails sent to them, with the address');
  const actions = exported.auditEvents.map((e: any) => e.action);
  for (const action of ['contributor.created', 'user.created']) t.ok(actions.includes(action), `audit: ${action}`);
  t.ok(exported.auditEvents.some((e: any) => e.entityId === w.entry.id), 'audit events about their work');
  t.notOk(JSON.stringify(exported).includes(w.sam.id), "nothing of anyone else's");
  t.equal(exported.retention.keepUntil, yearsAfter(exported.retention.lastActivity, 6));

  const own = await call(t, 'GET', '/v1/me/export', w.participant);
  t.match(own.headers['content-disposition'], /attachment/);
  t.equal(own.headers['cache-control'], 'no-store');
  t.same({ ...json(own), exportedAt: null }, { ...exported, exportedAt: null }, 'the participant gets the same document');

  // From their home page: a link, and the same document as a download.
  const page = new WebClient(app).withToken(w.participant.authorization!.replace('Bearer ', ''));
  t.match((await page.get('/my')).body, /href="\/my\/data.json"/, 'the home page links to the download');
  const download = await page.get('/my/data.json');
  t.equal(download.statusCode, 200);
  t.match(download.headers['content-disposition'], /attachment; filename="my-data.json"/);
  t.same({ ...JSON.parse(download.body), exportedAt: null }, { ...exported, exportedAt: null }, 'the download is the export');
  const staffPage = new WebClient(app).withToken(await w.org.tokenFor('coordinator'));
  t.not((await staffPage.get('/my/data.json')).statusCode, 200, 'a page for participants only');

  await call(t, 'GET', `/v1/contributors/${w.sam.id}/export`, w.participant, undefined, 403);
  for (const role of ['finance', 'coordinator', 'reporter'] as const) {
    await call(t, 'GET', `/v1/contributors/${w.robin.id}/export`, await w.org.as(role), undefined, 403);
  }
  const other = await createTestOrg(app);
  await call(t, 'GET', `/v1/contributors/${w.robin.id}/export`, await other.as('admin'), undefined, 404);
});

t.test('a possible duplicate person is refused until someone confirms, and the audit says who', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const email = uniqueEmail('twice');
  const first = json(await call(t, 'POST', '/v1/contributors', coordinator, { name: 'Pat One', email, kind: 'carer', paymentMethod: 'voucher' }));
  const refused = json(
    await call(t, 'POST', '/v1/contributors', coordinator, { name: 'Pat Again', email: email.toUpperCase(), kind: 'carer', paymentMethod: 'voucher' }, 409),
  );
  t.match(refused, { code: 'possible_duplicate', duplicateOf: first.id, status: 409 });
  const list = json(await call(t, 'GET', '/v1/contributors', coordinator)).data;
  t.equal(list.length, 1, 'nothing was created');

  const confirmed = json(
    await call(t, 'POST', '/v1/contributors', coordinator, { name: 'Pat Again', email, kind: 'carer', paymentMethod: 'voucher', confirmNotDuplicate: true }),
  );
  const admin = await org.as('admin');
  const created = json(await call(t, 'GET', `/v1/audit-events?entityType=contributor&entityId=${confirmed.id}`, admin)).data;
  t.match(created, [{ action: 'contributor.created', actorType: 'user', after: { confirmedNotDuplicateOf: first.id } }]);
  t.ok(created[0].actorId, 'who confirmed');

  // Changing an email to one another contributor has is the same question.
  const third = json(await call(t, 'POST', '/v1/contributors', coordinator, { name: 'Lee', kind: 'carer', paymentMethod: 'voucher' }));
  const patch = json(await call(t, 'PATCH', `/v1/contributors/${third.id}`, coordinator, { email }, 409));
  t.equal(patch.code, 'possible_duplicate');
  t.ok([first.id, confirmed.id].includes(patch.duplicateOf));
  t.equal(json(await call(t, 'PATCH', `/v1/contributors/${third.id}`, coordinator, { email, confirmNotDuplicate: true })).email, email);
  // Their own email again, in another case, is not a duplicate of themself.
  await call(t, 'PATCH', `/v1/contributors/${first.id}`, coordinator, { email: email.toUpperCase(), name: 'Pat One' });
  // Another organisation may have the same person.
  const other = await createTestOrg(app);
  await call(t, 'POST', '/v1/contributors', await other.as('coordinator'), { name: 'Pat', email, kind: 'carer', paymentMethod: 'voucher' });
});

t.test('the audit log keeps ids, not personal data, and says which personal fields changed', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const admin = await org.as('admin');
  const person = json(await call(t, 'POST', '/v1/contributors', coordinator, { name: 'Ada Auditless', email: uniqueEmail('ada'), kind: 'carer', paymentMethod: 'voucher' }));
  await call(t, 'PATCH', `/v1/contributors/${person.id}`, coordinator, { name: 'Ada Renamed', kind: 'lived_experience' });
  const events = json(await call(t, 'GET', `/v1/audit-events?entityType=contributor&entityId=${person.id}`, admin)).data;
  t.notMatch(JSON.stringify(events), /Ada|ada-/);
  const updated = events.find((e: any) => e.action === 'contributor.updated');
  t.match(updated, { before: { kind: 'carer' }, after: { kind: 'lived_experience', personalFieldsChanged: ['name'] } });
});

t.test('the retention list: people past six years after their last payment or work', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const { budgetId } = await fundedBudget(app, org);
  const person = json(await call(t, 'POST', '/v1/contributors', coordinator, { name: 'Old Timer', kind: 'carer', paymentMethod: 'declined' }));
  await call(t, 'POST', '/v1/time-entries', coordinator, { contributorId: person.id, budgetId, activity: 'meeting', date: '2026-03-02', minutes: 60 });
  const addedOn = json(await call(t, 'GET', `/v1/contributors/${person.id}`, coordinator)).createdAt.slice(0, 10) as string;
  const last = addedOn > '2026-03-02' ? addedOn : '2026-03-02';

  const on = async (today: string) => (await contributorsPastRetention(app.db, 6, today, org.organisationId)).map((r) => r.contributorId);
  t.same(await on(yearsAfter(last, 6)), [], 'kept on the last day of the period');
  const past = await contributorsPastRetention(app.db, 6, '2099-01-01', org.organisationId);
  t.match(past, [{ contributorId: person.id, lastActivity: last, keepUntil: yearsAfter(last, 6) }]);
  t.same(await on('2099-01-01'), [person.id]);
  t.equal(yearsAfter('2024-02-29', 6), '2030-02-28');
  t.equal(yearsAfter('2024-02-29', 4), '2028-02-29');
});
