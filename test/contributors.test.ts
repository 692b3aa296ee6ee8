import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import t from 'tap';
import { auditEvents } from '../src/db/schema.js';
import { auditEventColumns } from '../src/modules/audit/views.js';
import { appForThisFile, createTestOrg, json, type TestOrg } from './helpers/app.js';

// The app's "today" (Europe/London), from which a limit given on create or PATCH is in force.
const TODAY = '2026-03-15';
const app = await appForThisFile(t, { now: () => new Date(`${TODAY}T12:00:00Z`) });

const weeklyLimit = { period: 'week', amount: 19550, periodStartDay: 1, policy: 'block' } as const;

async function createContributor(headers: Record<string, string>, payload: Record<string, unknown> = {}) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/contributors',
    headers,
    payload: { name: 'Amira Khan', kind: 'lived_experience', paymentMethod: 'bank_transfer', ...payload },
  });
  return res;
}

async function contributorId(headers: Record<string, string>, payload: Record<string, unknown> = {}): Promise<string> {
  const res = await createContributor(headers, payload);
  if (res.statusCode !== 201) throw new Error(`could not create a contributor (${res.statusCode}): ${res.body}`);
  return json(res).id as string;
}

function auditRows(org: TestOrg, entityId: string) {
  return app.db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(
      and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.entityType, 'contributor'), eq(auditEvents.entityId, entityId)),
    )
    .orderBy(asc(auditEvents.id));
}

t.test('create, read and change a contributor', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');

  const created = await createContributor(coordinator, { email: 'amira@example.test', earningsLimit: weeklyLimit });
  t.equal(created.statusCode, 201, created.body);
  const body = json(created);
  t.match(body, {
    id: String,
    name: 'Amira Khan',
    email: 'amira@example.test',
    kind: 'lived_experience',
    paymentMethod: 'bank_transfer',
    earningsLimit: weeklyLimit,
    stripeAccountId: null,
    payoutsEnabled: false,
    createdAt: String,
    updatedAt: String,
  });

  const got = await app.inject({ method: 'GET', url: `/v1/contributors/${body.id}`, headers: coordinator });
  t.equal(got.statusCode, 200, got.body);
  t.same(json(got), body);

  const patched = await app.inject({
    method: 'PATCH',
    url: `/v1/contributors/${body.id}`,
    headers: coordinator,
    payload: { name: 'Amira K.', kind: 'carer', paymentMethod: 'voucher', email: null },
  });
  t.equal(patched.statusCode, 200, patched.body);
  t.match(json(patched), { id: body.id, name: 'Amira K.', kind: 'carer', paymentMethod: 'voucher', email: null, earningsLimit: weeklyLimit });

  const after = json(await app.inject({ method: 'GET', url: `/v1/contributors/${body.id}`, headers: coordinator }));
  t.match(after, { name: 'Amira K.', kind: 'carer', paymentMethod: 'voucher', email: null, earningsLimit: weeklyLimit });

  // Every role that manages contributors may create them.
  for (const role of ['admin', 'finance'] as const) {
    const res = await createContributor(await org.as(role), { kind: 'professional', paymentMethod: 'declined' });
    t.equal(res.statusCode, 201, `${role}: ${res.body}`);
  }
});

t.test('a monthly earnings limit, changed and then removed with null, each change a version from today', async (t) => {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const monthly = { period: 'month', amount: 50000, periodStartDay: 28, policy: 'split' } as const;
  const id = await contributorId(finance, { earningsLimit: monthly });
  t.same(json(await app.inject({ method: 'GET', url: `/v1/contributors/${id}`, headers: finance })).earningsLimit, monthly);

  const warn = { period: 'week', amount: 2000, periodStartDay: 7, policy: 'warn' } as const;
  const changed = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: finance, payload: { earningsLimit: warn } });
  t.equal(changed.statusCode, 200, changed.body);
  t.same(json(changed).earningsLimit, warn);

  // A patch that does not mention the limit leaves it alone.
  const renamed = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: finance, payload: { name: 'Renamed' } });
  t.equal(renamed.statusCode, 200, renamed.body);
  t.same(json(renamed).earningsLimit, warn);

  const removed = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: finance, payload: { earningsLimit: null } });
  t.equal(removed.statusCode, 200, removed.body);
  t.equal(json(removed).earningsLimit, null);
  t.equal(json(await app.inject({ method: 'GET', url: `/v1/contributors/${id}`, headers: finance })).earningsLimit, null);

  // Limits are dated versions: the create and each patch that names the limit added one, in
  // force from today; the rename added none.
  const versions = await app.inject({ method: 'GET', url: `/v1/contributors/${id}/earnings-limits`, headers: finance });
  t.equal(versions.statusCode, 200, versions.body);
  t.same(
    json(versions).data.map(({ effectiveFrom, period, amount, periodStartDay, policy }: Record<string, unknown>) => ({ effectiveFrom, period, amount, periodStartDay, policy })),
    [
      { effectiveFrom: TODAY, ...monthly },
      { effectiveFrom: TODAY, ...warn },
      { effectiveFrom: TODAY, period: null, amount: null, periodStartDay: null, policy: null },
    ],
  );
});

t.test('a monthly limit may start on the 29th, 30th or 31st, on create and on PATCH', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  for (const day of [29, 30, 31]) {
    const limit = { period: 'month', amount: 50000, periodStartDay: day, policy: 'block' };
    const created = await createContributor(coordinator, { earningsLimit: limit });
    t.equal(created.statusCode, 201, `periodStartDay ${day}: ${created.body}`);
    t.same(json(created).earningsLimit, limit);
  }
  const id = await contributorId(coordinator, { earningsLimit: weeklyLimit });
  const lastDay = { period: 'month', amount: 50000, periodStartDay: 31, policy: 'split' };
  const patched = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: coordinator, payload: { earningsLimit: lastDay } });
  t.equal(patched.statusCode, 200, patched.body);
  t.same(json(await app.inject({ method: 'GET', url: `/v1/contributors/${id}`, headers: coordinator })).earningsLimit, lastDay);
});

t.test('earnings limit validation: 400 validation_failed naming the field, nothing created', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const monthly = { period: 'month', amount: 50000, periodStartDay: 1, policy: 'block' };
  const weekDay = 'must be 1 (Monday) to 7 (Sunday) for a weekly limit';
  const monthDay = 'must be 1 to 31 for a monthly limit';
  // [label, limit, the field the errors name, and where it matters, their message]
  const cases: Array<[string, Record<string, unknown>, string, string?]> = [
    ['weekly periodStartDay 0', { ...weeklyLimit, periodStartDay: 0 }, 'body.earningsLimit.periodStartDay', weekDay],
    ['weekly periodStartDay 8', { ...weeklyLimit, periodStartDay: 8 }, 'body.earningsLimit.periodStartDay', weekDay],
    ['monthly periodStartDay 0', { ...monthly, periodStartDay: 0 }, 'body.earningsLimit.periodStartDay', monthDay],
    ['monthly periodStartDay 32', { ...monthly, periodStartDay: 32 }, 'body.earningsLimit.periodStartDay', monthDay],
    ['fractional periodStartDay', { ...monthly, periodStartDay: 1.5 }, 'body.earningsLimit.periodStartDay'],
    ['amount 0', { ...weeklyLimit, amount: 0 }, 'body.earningsLimit.amount'],
    ['negative amount', { ...weeklyLimit, amount: -100 }, 'body.earningsLimit.amount'],
    ['fractional amount', { ...weeklyLimit, amount: 195.5 }, 'body.earningsLimit.amount'],
    ['amount over 2^53', { ...weeklyLimit, amount: 2 ** 53 }, 'body.earningsLimit.amount'],
    ['amount as a string', { ...weeklyLimit, amount: '19550' }, 'body.earningsLimit.amount'],
    ['unknown policy', { ...weeklyLimit, policy: 'ignore' }, 'body.earningsLimit.policy'],
    ['unknown period', { ...weeklyLimit, period: 'year' }, 'body.earningsLimit.period'],
    ['missing policy', { period: 'week', amount: 19550, periodStartDay: 1 }, 'body.earningsLimit.policy'],
    ['unknown field in the limit', { ...weeklyLimit, carryOver: true }, 'body.earningsLimit.carryOver'],
  ];
  const names = (errors: { field: string; message: string }[] | undefined, field: string, message?: string) =>
    (errors ?? []).some((e) => e.field === field && (message === undefined || e.message === message));
  for (const [label, earningsLimit, field, message] of cases) {
    const res = await createContributor(coordinator, { earningsLimit });
    t.equal(res.statusCode, 400, `${label}: ${res.body}`);
    const problem = json(res);
    t.equal(problem.code, 'validation_failed', label);
    t.match(res.headers['content-type'], /^application\/problem\+json/, label);
    t.ok(names(problem.errors, field, message), `${label}: errors name ${field}${message ? ` (${message})` : ''}: ${JSON.stringify(problem.errors)}`);
  }

  // The same rules apply to a PATCH.
  const id = await contributorId(coordinator, { earningsLimit: weeklyLimit });
  for (const [label, earningsLimit, field, message] of cases) {
    const res = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: coordinator, payload: { earningsLimit } });
    t.equal(res.statusCode, 400, `PATCH ${label}: ${res.body}`);
    t.ok(names(json(res).errors, field, message), `PATCH ${label}: errors name ${field}${message ? ` (${message})` : ''}: ${res.body}`);
  }
  t.same(json(await app.inject({ method: 'GET', url: `/v1/contributors/${id}`, headers: coordinator })).earningsLimit, weeklyLimit);

  // Only the one valid contributor exists.
  const list = json(await app.inject({ method: 'GET', url: '/v1/contributors', headers: coordinator }));
  t.same(
    list.data.map((c: { id: string }) => c.id),
    [id],
  );
});

t.test('bad bodies: unknown fields, bad enums, wrong types, empty names', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['unknown field', { name: 'A', kind: 'carer', paymentMethod: 'voucher', nickname: 'x' }, 'body.nickname'],
    ['unknown kind', { name: 'A', kind: 'volunteer', paymentMethod: 'voucher' }, 'body.kind'],
    ['unknown payment method', { name: 'A', kind: 'carer', paymentMethod: 'cash' }, 'body.paymentMethod'],
    ['missing kind', { name: 'A', paymentMethod: 'voucher' }, 'body.kind'],
    ['empty name', { name: '   ', kind: 'carer', paymentMethod: 'voucher' }, 'body.name'],
    ['name as a number', { name: 42, kind: 'carer', paymentMethod: 'voucher' }, 'body.name'],
    ['bad email', { name: 'A', kind: 'carer', paymentMethod: 'voucher', email: 'not-an-email' }, 'body.email'],
  ];
  for (const [label, payload, field] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v1/contributors', headers: coordinator, payload });
    t.equal(res.statusCode, 400, `${label}: ${res.body}`);
    t.equal(json(res).code, 'validation_failed', label);
    t.ok(
      (json(res).errors ?? []).some((e: { field: string }) => e.field === field),
      `${label}: errors name ${field}: ${res.body}`,
    );
  }

  const id = await contributorId(coordinator);
  const unknownPatch = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: coordinator, payload: { stripeAccountId: 'acct_1' } });
  t.equal(unknownPatch.statusCode, 400, unknownPatch.body);
  t.equal(json(unknownPatch).code, 'validation_failed');
  t.ok(json(unknownPatch).errors.some((e: { field: string }) => e.field === 'body.stripeAccountId'), unknownPatch.body);

  const malformed = await app.inject({
    method: 'POST',
    url: '/v1/contributors',
    headers: { ...coordinator, 'content-type': 'application/json' },
    payload: '{"name": "A",',
  });
  t.equal(malformed.statusCode, 400, malformed.body);
  t.equal(json(malformed).code, 'invalid_json');

  const list = json(await app.inject({ method: 'GET', url: '/v1/contributors', headers: coordinator }));
  t.equal(list.data.length, 1, 'no refused request created a contributor');
});

t.test('an audit event is written for each create, each patch and each limit version they add', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const id = await contributorId(coordinator, { earningsLimit: weeklyLimit });

  // A limit given on create is a version from today, recorded as it is added, then the contributor.
  let rows = await auditRows(org, id);
  t.equal(rows.length, 2);
  t.match(rows[0], { action: 'contributor.earnings_limit_added', actorType: 'user', actorId: String, before: null, after: { effectiveFrom: TODAY, ...weeklyLimit, preset: null } });
  t.match(rows[1], { action: 'contributor.created', actorType: 'user', actorId: rows[0]!.actorId, before: null, after: { id, earningsLimit: weeklyLimit } });
  t.notOk(JSON.stringify(rows).includes('Amira'), 'the audit keeps ids, not names');

  const first = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: coordinator, payload: { paymentMethod: 'voucher' } });
  t.equal(first.statusCode, 200, first.body);
  const second = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: coordinator, payload: { earningsLimit: null } });
  t.equal(second.statusCode, 200, second.body);

  rows = await auditRows(org, id);
  t.same(
    rows.map((r) => r.action),
    ['contributor.earnings_limit_added', 'contributor.created', 'contributor.updated', 'contributor.earnings_limit_added', 'contributor.updated'],
  );
  t.match(rows[2], { before: { paymentMethod: 'bank_transfer' }, after: { paymentMethod: 'voucher' } });
  t.match(rows[3], { after: { effectiveFrom: TODAY, period: null, amount: null, periodStartDay: null, policy: null } }, 'removing the limit is a version that ends it');
  t.match(rows[4], { before: { earningsLimit: weeklyLimit }, after: { earningsLimit: null } });

  // A refused patch writes nothing.
  const refused = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: coordinator, payload: { kind: 'robot' } });
  t.equal(refused.statusCode, 400, refused.body);
  t.equal((await auditRows(org, id)).length, 5);
});

t.test('a participant sees and changes only their own contributor, and only the payment method', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const own = await contributorId(coordinator, { name: 'Own', earningsLimit: weeklyLimit });
  const other = await contributorId(coordinator, { name: 'Other' });
  const participant = await org.as('participant', { contributorId: own });

  const mine = await app.inject({ method: 'GET', url: `/v1/contributors/${own}`, headers: participant });
  t.equal(mine.statusCode, 200, mine.body);
  t.equal(json(mine).name, 'Own');

  const theirs = await app.inject({ method: 'GET', url: `/v1/contributors/${other}`, headers: participant });
  t.equal(theirs.statusCode, 404, theirs.body);
  t.equal(json(theirs).code, 'not_found');

  const list = await app.inject({ method: 'GET', url: '/v1/contributors', headers: participant });
  t.equal(list.statusCode, 403, list.body);
  const create = await createContributor(participant);
  t.equal(create.statusCode, 403, create.body);

  const stripe = await app.inject({ method: 'PATCH', url: `/v1/contributors/${own}`, headers: participant, payload: { paymentMethod: 'stripe' } });
  t.equal(stripe.statusCode, 200, stripe.body);
  t.equal(json(stripe).paymentMethod, 'stripe');

  // Declining payment is a right, and the participant may exercise it themselves.
  const declined = await app.inject({ method: 'PATCH', url: `/v1/contributors/${own}`, headers: participant, payload: { paymentMethod: 'declined' } });
  t.equal(declined.statusCode, 200, declined.body);
  t.equal(json(declined).paymentMethod, 'declined');

  const forbidden: Array<Record<string, unknown>> = [
    { name: 'New name' },
    { kind: 'professional' },
    { email: 'me@example.test' },
    { earningsLimit: null },
    { earningsLimit: { ...weeklyLimit, amount: 99999999 } },
    { paymentMethod: 'voucher', name: 'Sneaky' },
  ];
  for (const payload of forbidden) {
    const res = await app.inject({ method: 'PATCH', url: `/v1/contributors/${own}`, headers: participant, payload });
    t.equal(res.statusCode, 403, `${JSON.stringify(payload)}: ${res.body}`);
    t.equal(json(res).code, 'forbidden');
  }
  const unchanged = json(await app.inject({ method: 'GET', url: `/v1/contributors/${own}`, headers: participant }));
  t.match(unchanged, { name: 'Own', kind: 'lived_experience', email: null, paymentMethod: 'declined', earningsLimit: weeklyLimit });

  const otherPatch = await app.inject({ method: 'PATCH', url: `/v1/contributors/${other}`, headers: participant, payload: { paymentMethod: 'declined' } });
  t.equal(otherPatch.statusCode, 404, otherPatch.body);
  t.equal(json(await app.inject({ method: 'GET', url: `/v1/contributors/${other}`, headers: coordinator })).paymentMethod, 'bank_transfer');

  // The participant's changes are audited under their own user; the only limit version is the
  // one the coordinator gave on create (the participant's refused limit changes added none).
  const rows = await auditRows(org, own);
  t.same(
    rows.map((r) => [r.action, (r.after as { paymentMethod?: string }).paymentMethod ?? null]),
    [
      ['contributor.earnings_limit_added', null],
      ['contributor.created', 'bank_transfer'],
      ['contributor.updated', 'stripe'],
      ['contributor.updated', 'declined'],
    ],
  );
});

t.test('a reporter may not use the contributor routes', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const id = await contributorId(coordinator);
  const reporter = await org.as('reporter');
  const requests = [
    { method: 'POST' as const, url: '/v1/contributors', payload: { name: 'A', kind: 'carer', paymentMethod: 'voucher' } },
    { method: 'GET' as const, url: '/v1/contributors' },
    { method: 'GET' as const, url: `/v1/contributors/${id}` },
    { method: 'PATCH' as const, url: `/v1/contributors/${id}`, payload: { paymentMethod: 'declined' } },
  ];
  for (const r of requests) {
    const res = await app.inject({ ...r, headers: reporter });
    t.equal(res.statusCode, 403, `${r.method} ${r.url}: ${res.body}`);
    t.equal(json(res).code, 'forbidden');
  }
  t.equal(json(await app.inject({ method: 'GET', url: `/v1/contributors/${id}`, headers: coordinator })).paymentMethod, 'bank_transfer');

  const anonymous = await app.inject({ method: 'GET', url: `/v1/contributors/${id}` });
  t.equal(anonymous.statusCode, 401, anonymous.body);
});

t.test('the list pages with limit and nextCursor, without repeats or gaps', async (t) => {
  const org = await createTestOrg(app);
  const coordinator = await org.as('coordinator');
  const created: string[] = [];
  for (let i = 0; i < 7; i++) created.push(await contributorId(coordinator, { name: `Contributor ${i}` }));

  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const url: string = `/v1/contributors?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await app.inject({ method: 'GET', url, headers: coordinator });
    t.equal(res.statusCode, 200, res.body);
    const page = json(res);
    t.ok(page.data.length <= 2, 'at most limit items');
    seen.push(...page.data.map((c: { id: string }) => c.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor && pages < 20);
  t.equal(pages, 4, '7 contributors in pages of 2');
  t.equal(new Set(seen).size, seen.length, 'no contributor appears twice');
  t.same([...seen].sort(), [...created].sort(), 'every contributor appears');

  const filtered = json(await app.inject({ method: 'GET', url: '/v1/contributors?kind=carer', headers: coordinator }));
  t.same(filtered.data, []);

  const badLimit = await app.inject({ method: 'GET', url: '/v1/contributors?limit=201', headers: coordinator });
  t.equal(badLimit.statusCode, 400, badLimit.body);
  const badCursor = await app.inject({ method: 'GET', url: '/v1/contributors?cursor=not-a-cursor', headers: coordinator });
  t.equal(badCursor.statusCode, 400, badCursor.body);
  t.equal(json(badCursor).code, 'validation_failed');
});

t.test("another organisation's contributor is not found", async (t) => {
  const mine = await createTestOrg(app);
  const theirs = await createTestOrg(app);
  const theirId = await contributorId(await theirs.as('coordinator'), { name: 'Theirs' });
  const coordinator = await mine.as('coordinator');
  const ownId = await contributorId(coordinator, { name: 'Mine' });

  for (const id of [theirId, randomUUID(), 'not-a-uuid']) {
    const get = await app.inject({ method: 'GET', url: `/v1/contributors/${id}`, headers: coordinator });
    t.equal(get.statusCode, 404, get.body);
    t.equal(json(get).code, 'not_found');
    const patch = await app.inject({ method: 'PATCH', url: `/v1/contributors/${id}`, headers: coordinator, payload: { name: 'Hijacked' } });
    t.equal(patch.statusCode, 404, patch.body);
  }
  const list = json(await app.inject({ method: 'GET', url: '/v1/contributors', headers: coordinator }));
  t.same(
    list.data.map((c: { id: string }) => c.id),
    [ownId],
  );
  const still = json(await app.inject({ method: 'GET', url: `/v1/contributors/${theirId}`, headers: await theirs.as('coordinator') }));
  t.equal(still.name, 'Theirs');

  // A participant user cannot be linked to another organisation's contributor either.
  await t.rejects(mine.as('participant', { contributorId: theirId }), { code: 'not_found' });
});
