import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import t from 'tap';
import { rateCardVersions } from '../src/db/schema.js';
import { pgErrorCode } from '../src/db/tx.js';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';

const app = await appForThisFile(t);

const baseRates = [
  { activity: 'meeting', contributorKind: 'lived_experience', unit: 'hour', amount: 2500, roundToMinutes: 15, minimumMinutes: 60 },
  { activity: 'workshop', contributorKind: 'lived_experience', unit: 'session', amount: 7500 },
  { activity: 'training', contributorKind: 'carer', unit: 'day', amount: 15000, dayThresholdMinutes: 300 },
  { activity: 'meeting', contributorKind: 'professional', unit: 'hour', amount: 4000, inKind: true },
];

/** A 10% uplift, rounded half up to the penny. */
const uplift = (rates: typeof baseRates) => rates.map((r) => ({ ...r, amount: Math.floor((r.amount * 110 + 50) / 100) }));

async function setup() {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  const res = await app.inject({ method: 'POST', url: '/v1/rate-cards', headers: finance, payload: { name: 'Involvement rates', currency: 'GBP' } });
  if (res.statusCode !== 201) throw new Error(`could not create a rate card: ${res.body}`);
  return { org, finance, cardId: json(res).id as string };
}

const addVersion = (headers: Record<string, string>, cardId: string, payload: unknown) =>
  app.inject({ method: 'POST', url: `/v1/rate-cards/${cardId}/versions`, headers, payload: payload as Record<string, unknown> });

/** Runs SQL straight against the database, returning the error it raised (or undefined). */
async function sqlError(query: ReturnType<typeof sql>): Promise<unknown> {
  try {
    await app.db.execute(query);
    return undefined;
  } catch (error) {
    return error;
  }
}

function causeMessage(error: unknown): string {
  const messages: string[] = [];
  let e = error as { message?: string; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) if (e.message) messages.push(e.message);
  return messages.join(' / ');
}

t.test('a rate card gains numbered versions, all shown by GET', async (t) => {
  const { finance, cardId } = await setup();

  const v1 = await addVersion(finance, cardId, { effectiveFrom: '2025-04-01', rates: baseRates });
  t.equal(v1.statusCode, 201, v1.body);
  t.match(json(v1), { id: String, version: 1, effectiveFrom: '2025-04-01', createdAt: String });
  t.match(json(v1).rates, baseRates);

  // Versions are numbered in the order they are added, whatever their dates.
  const v2 = await addVersion(finance, cardId, { effectiveFrom: '2026-04-01', rates: uplift(baseRates) });
  t.equal(v2.statusCode, 201, v2.body);
  t.equal(json(v2).version, 2);
  const v3 = await addVersion(finance, cardId, { effectiveFrom: '2025-10-01', rates: baseRates.slice(0, 2) });
  t.equal(v3.statusCode, 201, v3.body);
  t.equal(json(v3).version, 3);

  const card = await app.inject({ method: 'GET', url: `/v1/rate-cards/${cardId}`, headers: finance });
  t.equal(card.statusCode, 200, card.body);
  const body = json(card);
  t.match(body, { id: cardId, name: 'Involvement rates', currency: 'GBP' });
  t.same(
    body.versions.map((v: { version: number; effectiveFrom: string; id: string }) => [v.version, v.effectiveFrom, v.id]),
    [
      [1, '2025-04-01', json(v1).id],
      [2, '2026-04-01', json(v2).id],
      [3, '2025-10-01', json(v3).id],
    ],
  );
  t.match(body.versions[1].rates, uplift(baseRates));
  t.equal(body.versions[1].rates[0].amount, 2750, '£25.00 uplifted by 10% is £27.50');
  t.equal(body.versions[2].rates.length, 2);

  const list = await app.inject({ method: 'GET', url: '/v1/rate-cards', headers: finance });
  t.equal(list.statusCode, 200, list.body);
  t.same(
    json(list).data.map((c: { id: string }) => c.id),
    [cardId],
  );
});

t.test('roles: a coordinator reads rate cards but may not create them or add versions', async (t) => {
  const { org, cardId } = await setup();
  const coordinator = await org.as('coordinator');
  const read = await app.inject({ method: 'GET', url: `/v1/rate-cards/${cardId}`, headers: coordinator });
  t.equal(read.statusCode, 200, read.body);
  const create = await app.inject({ method: 'POST', url: '/v1/rate-cards', headers: coordinator, payload: { name: 'X', currency: 'GBP' } });
  t.equal(create.statusCode, 403, create.body);
  const version = await addVersion(coordinator, cardId, { effectiveFrom: '2025-04-01', rates: baseRates });
  t.equal(version.statusCode, 403, version.body);
  const reporter = await org.as('reporter');
  const reporterRead = await app.inject({ method: 'GET', url: `/v1/rate-cards/${cardId}`, headers: reporter });
  t.equal(reporterRead.statusCode, 403, reporterRead.body);
});

t.test('invalid versions are refused with 400 and nothing is added', async (t) => {
  const { finance, cardId } = await setup();
  const cases: Array<[string, unknown, string]> = [
    [
      'duplicate kind and activity',
      { effectiveFrom: '2025-04-01', rates: [baseRates[0], { ...baseRates[0], unit: 'session', amount: 3000, roundToMinutes: undefined, minimumMinutes: undefined }] },
      'body.rates.1.activity',
    ],
    ['roundToMinutes on a session rate', { effectiveFrom: '2025-04-01', rates: [{ ...baseRates[1], roundToMinutes: 15 }] }, 'body.rates.0.roundToMinutes'],
    ['minimumMinutes on a day rate', { effectiveFrom: '2025-04-01', rates: [{ ...baseRates[2], minimumMinutes: 30 }] }, 'body.rates.0.minimumMinutes'],
    ['dayThresholdMinutes on an hourly rate', { effectiveFrom: '2025-04-01', rates: [{ ...baseRates[0], dayThresholdMinutes: 300 }] }, 'body.rates.0.dayThresholdMinutes'],
    ['a fractional amount', { effectiveFrom: '2025-04-01', rates: [{ ...baseRates[1], amount: 75.5 }] }, 'body.rates.0.amount'],
    ['a negative amount', { effectiveFrom: '2025-04-01', rates: [{ ...baseRates[1], amount: -1 }] }, 'body.rates.0.amount'],
    ['an unsafe amount', { effectiveFrom: '2025-04-01', rates: [{ ...baseRates[1], amount: 2 ** 53 }] }, 'body.rates.0.amount'],
    ['an unknown activity', { effectiveFrom: '2025-04-01', rates: [{ ...baseRates[1], activity: 'lunch' }] }, 'body.rates.0.activity'],
    ['an unknown unit', { effectiveFrom: '2025-04-01', rates: [{ ...baseRates[1], unit: 'week' }] }, 'body.rates.0.unit'],
    ['no rates', { effectiveFrom: '2025-04-01', rates: [] }, 'body.rates'],
    ['an impossible date', { effectiveFrom: '2025-02-29', rates: baseRates }, 'body.effectiveFrom'],
    ['a date in the wrong format', { effectiveFrom: '01/04/2025', rates: baseRates }, 'body.effectiveFrom'],
  ];
  for (const [label, payload, field] of cases) {
    const res = await addVersion(finance, cardId, payload);
    t.equal(res.statusCode, 400, `${label}: ${res.body}`);
    const problem = json(res);
    t.equal(problem.code, 'validation_failed', label);
    t.ok(
      (problem.errors ?? []).some((e: { field: string }) => e.field === field),
      `${label}: errors name ${field}: ${JSON.stringify(problem.errors)}`,
    );
  }
  const card = json(await app.inject({ method: 'GET', url: `/v1/rate-cards/${cardId}`, headers: finance }));
  t.same(card.versions, [], 'no version was added');

  const ok = await addVersion(finance, cardId, { effectiveFrom: '2025-04-01', rates: baseRates });
  t.equal(ok.statusCode, 201, ok.body);
  t.equal(json(ok).version, 1, 'refused attempts used up no version numbers');
});

t.test('a day rate pays a short day as half a day or pro rata, and the quote explains it', async (t) => {
  const { org, finance, cardId } = await setup();
  const coordinator = await org.as('coordinator');
  const post = async (url: string, payload: object, headers = finance) => {
    const res = await app.inject({ method: 'POST', url, headers, payload });
    t.equal(res.statusCode, 201, `${url}: ${res.body}`);
    return json(res);
  };
  const dayRates = [
    { activity: 'training', contributorKind: 'lived_experience', unit: 'day', amount: 15000, dayThresholdMinutes: 360, shortDayPay: 'half_day' },
    { activity: 'training', contributorKind: 'carer', unit: 'day', amount: 15000, dayThresholdMinutes: 360, shortDayPay: 'pro_rata' },
    { activity: 'workshop', contributorKind: 'carer', unit: 'day', amount: 15000 },
  ];
  const version = await post(`/v1/rate-cards/${cardId}/versions`, { effectiveFrom: '2026-04-01', rates: dayRates });
  t.match(version.rates, dayRates, 'the version returns shortDayPay as given');
  const card = json(await app.inject({ method: 'GET', url: `/v1/rate-cards/${cardId}`, headers: finance }));
  t.match(card.versions[0].rates, dayRates, 'and GET shows it');
  t.notOk('shortDayPay' in card.versions[0].rates[2], 'a day rate without it has none');

  const project = await post('/v1/projects', { name: 'Training day' });
  const budget = await post('/v1/budgets', {
    projectId: project.id, name: 'Training', funder: 'NIHR', grantReference: 'NIHR-2', currency: 'GBP', amount: 100000,
    startsOn: '2026-04-01', endsOn: '2027-03-31', rateCardId: cardId,
  });
  const person = (kind: string) => post('/v1/contributors', { name: `A ${kind}`, kind, paymentMethod: 'bank_transfer' }, coordinator);
  const livedExperience = await person('lived_experience');
  const carer = await person('carer');
  const timeEntry = (contributorId: string, activity: string, minutes: number) =>
    post('/v1/time-entries', { contributorId, budgetId: budget.id, activity, date: '2026-06-01', minutes }, coordinator);

  const cases: Array<[string, string, string, number, number, string]> = [
    [
      'half_day: 30 of 360 minutes is half a day',
      livedExperience.id, 'training', 30, 7500,
      'Day rate: 30 minutes is no more than half a 360-minute day, paid as half a day: half of £150.00 = £75.00',
    ],
    [
      'pro_rata: 30 of 360 minutes is 30/360 of £150',
      carer.id, 'training', 30, 1250,
      'Day rate: 30 minutes of a 360-minute day, paid pro rata: £150.00 × 30 / 360 = £12.50',
    ],
    ['pro_rata: a full day', carer.id, 'training', 360, 15000, 'Day rate: £150.00 for the day (360 minutes)'],
    ['no day length: the full rate, as before', carer.id, 'workshop', 30, 15000, 'Day rate: £150.00 for the day (30 minutes)'],
  ];
  for (const [label, contributorId, activity, minutes, amount, line] of cases) {
    const entry = await timeEntry(contributorId, activity, minutes);
    t.equal(entry.quote.amount, amount, `${label}: amount`);
    t.equal(entry.quote.value, amount, `${label}: value`);
    t.equal(entry.amount, amount, `${label}: the entry would owe it`);
    t.ok(entry.quote.explanation.includes(line), `${label}: explained`, { explanation: entry.quote.explanation });
  }
});

t.test('shortDayPay is refused on rates that are not day rates, or have no day length', async (t) => {
  const { finance, cardId } = await setup();
  const cases: Array<[string, Record<string, unknown>]> = [
    ['on an hourly rate', { ...baseRates[0], shortDayPay: 'half_day' }],
    ['on a session rate', { ...baseRates[1], shortDayPay: 'pro_rata' }],
    ['on a day rate with no dayThresholdMinutes', { ...baseRates[2], dayThresholdMinutes: undefined, shortDayPay: 'pro_rata' }],
    ['an unknown value', { ...baseRates[2], shortDayPay: 'quarter_day' }],
  ];
  for (const [label, rate] of cases) {
    const res = await addVersion(finance, cardId, { effectiveFrom: '2025-04-01', rates: [rate] });
    t.equal(res.statusCode, 400, `${label}: ${res.body}`);
    t.equal(json(res).code, 'validation_failed', label);
    t.ok(
      (json(res).errors ?? []).some((e: { field: string }) => e.field === 'body.rates.0.shortDayPay'),
      `${label}: errors name body.rates.0.shortDayPay: ${JSON.stringify(json(res).errors)}`,
    );
  }
  const card = json(await app.inject({ method: 'GET', url: `/v1/rate-cards/${cardId}`, headers: finance }));
  t.same(card.versions, [], 'no version was added');
});

t.test('rate card creation is validated', async (t) => {
  const org = await createTestOrg(app);
  const finance = await org.as('finance');
  for (const [label, payload, field] of [
    ['lower-case currency', { name: 'Rates', currency: 'gbp' }, 'body.currency'],
    ['four-letter currency', { name: 'Rates', currency: 'GBPX' }, 'body.currency'],
    ['empty name', { name: '', currency: 'GBP' }, 'body.name'],
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/v1/rate-cards', headers: finance, payload });
    t.equal(res.statusCode, 400, `${label}: ${res.body}`);
    t.ok(json(res).errors.some((e: { field: string }) => e.field === field), `${label}: ${res.body}`);
  }
  const unknown = await app.inject({ method: 'POST', url: '/v1/rate-cards', headers: finance, payload: { name: 'Rates', currency: 'GBP', vat: 20 } });
  t.equal(unknown.statusCode, 400, unknown.body);
  t.equal(json(unknown).code, 'validation_failed');
  t.same(json(await app.inject({ method: 'GET', url: '/v1/rate-cards', headers: finance })).data, []);
});

t.test('two versions cannot start on the same date: 409 already_exists', async (t) => {
  const { finance, cardId } = await setup();
  const first = await addVersion(finance, cardId, { effectiveFrom: '2025-04-01', rates: baseRates });
  t.equal(first.statusCode, 201, first.body);
  const again = await addVersion(finance, cardId, { effectiveFrom: '2025-04-01', rates: uplift(baseRates) });
  t.equal(again.statusCode, 409, again.body);
  t.equal(json(again).code, 'already_exists');
  const next = await addVersion(finance, cardId, { effectiveFrom: '2025-04-02', rates: uplift(baseRates) });
  t.equal(next.statusCode, 201, next.body);
  t.equal(json(next).version, 2);
  const card = json(await app.inject({ method: 'GET', url: `/v1/rate-cards/${cardId}`, headers: finance }));
  t.same(
    card.versions.map((v: { version: number; effectiveFrom: string }) => [v.version, v.effectiveFrom]),
    [
      [1, '2025-04-01'],
      [2, '2025-04-02'],
    ],
  );
  t.match(card.versions[0].rates, baseRates, 'the first version kept its rates');
});

t.test('a version cannot be updated or deleted, even in SQL', async (t) => {
  const { org, finance, cardId } = await setup();
  const v1 = await addVersion(finance, cardId, { effectiveFrom: '2025-04-01', rates: baseRates });
  t.equal(v1.statusCode, 201, v1.body);
  const versionId = json(v1).id as string;
  const where = sql`organisation_id = ${org.organisationId} and id = ${versionId}`;

  const attempts: Array<[string, ReturnType<typeof sql>]> = [
    ['update the rates', sql`update rate_card_versions set rates = '[]'::jsonb where ${where}`],
    ['update the date', sql`update rate_card_versions set effective_from = '2020-01-01' where ${where}`],
    ['renumber', sql`update rate_card_versions set version = 7 where ${where}`],
    ['delete', sql`delete from rate_card_versions where ${where}`],
  ];
  for (const [label, query] of attempts) {
    const error = await sqlError(query);
    t.ok(error, `${label} is refused`);
    t.equal(pgErrorCode(error), '23001', `${label}: restrict_violation (${causeMessage(error)})`);
    t.match(causeMessage(error), /append-only/, label);
  }

  const [row] = await app.db
    .select()
    .from(rateCardVersions)
    .where(and(eq(rateCardVersions.organisationId, org.organisationId), eq(rateCardVersions.id, versionId)));
  t.ok(row, 'the version is still there');
  t.match(row, { version: 1, effectiveFrom: '2025-04-01' });
  t.match(row?.rates, baseRates);
});

t.test('an unknown or foreign rate card is not found', async (t) => {
  const { finance } = await setup();
  const other = await setup();
  for (const id of [randomUUID(), other.cardId, 'not-a-uuid']) {
    const get = await app.inject({ method: 'GET', url: `/v1/rate-cards/${id}`, headers: finance });
    t.equal(get.statusCode, 404, get.body);
    t.equal(json(get).code, 'not_found');
    const version = await addVersion(finance, id, { effectiveFrom: '2025-04-01', rates: baseRates });
    t.equal(version.statusCode, 404, version.body);
    t.equal(json(version).code, 'not_found');
  }
  const theirs = json(await app.inject({ method: 'GET', url: `/v1/rate-cards/${other.cardId}`, headers: other.finance }));
  t.same(theirs.versions, [], "the other organisation's card gained no version");
});
