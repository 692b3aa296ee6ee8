/**
 * Statements count money when it is received (docs/design.md): totals per UK tax year and per
 * earnings-limit period by the Europe/London date each payout item was paid, each period the
 * range touches totalled whole; and the per-tax-year PDF letter for a benefits office or HMRC.
 * Everything goes through the HTTP API, with the app's clock moved between steps.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import fc from 'fast-check';
import t from 'tap';
import { addDays } from '../src/domain/earnings-period.js';
import type { EarningsLimitVersion } from '../src/domain/earnings-limit.js';
import { limitPeriodsTouched, taxYearsTouched } from '../src/modules/balances/received.js';
import { buildTestApp, createTestOrg, json, type TestOrg } from './helpers/app.js';
import { testDatabase } from './helpers/database.js';
import { fundedBudget } from './helpers/fixtures.js';
import { text, WebClient } from './helpers/web.js';

let clock = new Date('2026-03-01T12:00:00Z');
const app = await buildTestApp({ now: () => clock });
t.teardown(async () => {
  await app.close();
  await (await testDatabase()).close();
});

type Headers = Record<string, string>;

async function call(method: 'GET' | 'POST', url: string, headers: Headers, payload?: object, expected = method === 'POST' ? 201 : 200) {
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  if (res.statusCode !== expected) throw new Error(`${method} ${url} → ${res.statusCode} (expected ${expected}): ${res.body}`);
  return json(res);
}

/** An organisation with a funded budget (work dated in 2026), staff users and a helper to pay people. */
async function world(name = 'Riverside Mind') {
  clock = new Date('2026-03-01T12:00:00Z');
  const org = await createTestOrg(app, name);
  const { finance, budgetId } = await fundedBudget(app, org);
  const approver = await org.as('finance');
  const coordinator = await org.as('coordinator');

  const contributor = async (person: string) =>
    (await call('POST', '/v1/contributors', coordinator, { name: person, kind: 'lived_experience', paymentMethod: 'bank_transfer' })).id as string;

  /**
   * At `at`, approves `minutes` of meetings (£20 an hour) dated `workDate` and an optional travel
   * expense, drafts a run for the contributor, has a second finance user approve it and marks
   * the item paid. Returns the item.
   */
  const pay = async (contributorId: string, at: string, work: { workDate: string; minutes: number; expense?: number }) => {
    clock = new Date(at);
    const entry = await call('POST', '/v1/time-entries', coordinator, { contributorId, budgetId, activity: 'meeting', date: work.workDate, minutes: work.minutes });
    await call('POST', `/v1/time-entries/${entry.id}/approve`, coordinator, undefined, 200);
    if (work.expense) {
      const expense = await call('POST', '/v1/expenses', coordinator, { contributorId, budgetId, category: 'travel', amount: work.expense, date: work.workDate });
      await call('POST', `/v1/expenses/${expense.id}/approve`, coordinator, undefined, 200);
    }
    const run = await call('POST', '/v1/payout-runs', finance, { currency: 'GBP', contributorIds: [contributorId] });
    const approved = await call('POST', `/v1/payout-runs/${run.id}/approve`, approver, undefined, 200);
    const [item] = approved.items;
    return call('POST', `/v1/payouts/${item.id}/mark-paid`, finance, { reference: `BACS-${work.workDate}` }, 200);
  };

  const statement = (contributorId: string, from: string, to: string) => call('GET', `/v1/contributors/${contributorId}/statement?from=${from}&to=${to}`, finance);
  return { org, finance, coordinator, budgetId, contributor, pay, statement };
}

/** The text of every page of a PDF, read back with pdf.js, white space collapsed. */
async function pdfText(res: LightMyRequestResponse): Promise<string> {
  const pdf = await getDocument({ data: new Uint8Array(res.rawPayload), useSystemFonts: false, isEvalSupported: false, verbosity: 0 }).promise;
  const pages: string[] = [];
  for (let n = 1; n <= pdf.numPages; n++) {
    const content = await (await pdf.getPage(n)).getTextContent();
    pages.push(content.items.map((item) => ('str' in item ? `${item.str}${item.hasEOL ? ' ' : ''}` : '')).join(''));
  }
  await pdf.destroy();
  return pages.join(' ').replace(/\s+/g, ' ');
}

t.test('money paid at 00:30 BST on 6 April is in the new tax year; at 23:59 BST on 5 April, in the old', async (t) => {
  const w = await world();
  const alex = await w.contributor('Alex Morgan');
  // 22:59 UTC on 5 April is 23:59 BST: still 5 April in London, the last day of 2025-26.
  const late = await w.pay(alex, '2026-04-05T22:59:00Z', { workDate: '2026-03-02', minutes: 120, expense: 1240 });
  t.equal(late.paymentDate, '2026-04-05', `the item counts on the UK date: ${JSON.stringify(late)}`);
  // 23:30 UTC on 5 April is 00:30 BST on 6 April: the first day of 2026-27.
  const early = await w.pay(alex, '2026-04-05T23:30:00Z', { workDate: '2026-04-01', minutes: 180 });
  t.equal(early.paymentDate, '2026-04-06');

  clock = new Date('2026-06-15T12:00:00Z');
  const s = await w.statement(alex, '2026-04-01', '2026-04-30');
  t.same(
    s.taxYears.map((y: any) => ({ taxYear: y.taxYear, earningsPaid: y.earningsPaid, expensesPaid: y.expensesPaid, tradingAllowanceRemaining: y.tradingAllowanceRemaining })),
    [
      { taxYear: '2025-26', earningsPaid: 4000, expensesPaid: 1240, tradingAllowanceRemaining: 96000 },
      { taxYear: '2026-27', earningsPaid: 6000, expensesPaid: 0, tradingAllowanceRemaining: 94000 },
    ],
    'earnings and expenses apart, per tax year, by the UK payment date',
  );
  t.match(s.taxYears[0], { from: '2025-04-06', to: '2026-04-05', currency: 'GBP' });
  t.same(s.periods, [], 'no earnings limit, no periods');
  t.same(
    s.payouts.map((p: any) => [p.paymentDate, p.date, p.earnings, p.expenses, p.amount, p.status]),
    [
      ['2026-04-05', '2026-04-05', 4000, 1240, 5240, 'paid'],
      ['2026-04-06', '2026-04-06', 6000, 0, 6000, 'paid'],
    ],
    'every payout in the range, with its UK payment date and its earnings and expenses',
  );
  t.ok(Array.isArray(s.totals.taxYears) && Array.isArray(s.timeEntries) && Array.isArray(s.expenses), 'what the statement had before is still there');
  t.same(s.timeEntries.map((e: any) => e.date), ['2026-04-01'], 'the work of 1 April is in the range; 2 March is not');

  // A range inside one tax year still totals that year whole.
  const may = await w.statement(alex, '2026-05-01', '2026-05-31');
  t.match(may.taxYears, [{ taxYear: '2026-27', earningsPaid: 6000 }]);
  t.equal(may.taxYears.length, 1);
  t.same(may.payouts, [], 'no payout was made in May');
});

t.test('a range that cuts a tax year and a limit period totals them whole', async (t) => {
  const w = await world();
  const uma = await w.contributor('Uma Credit');
  // A Universal Credit style monthly limit: periods start on the 10th, £100, policy warn (all is paid).
  await call('POST', `/v1/contributors/${uma}/earnings-limits`, w.coordinator, { effectiveFrom: '2026-01-01', period: 'month', amount: 10000, periodStartDay: 10, policy: 'warn' });
  await w.pay(uma, '2026-05-12T10:00:00Z', { workDate: '2026-05-11', minutes: 120 }); // £40, period 10 May – 9 June
  await w.pay(uma, '2026-06-05T10:00:00Z', { workDate: '2026-06-04', minutes: 60, expense: 500 }); // £20 + £5 expenses, same period
  await w.pay(uma, '2026-06-25T10:00:00Z', { workDate: '2026-06-24', minutes: 180 }); // £60, period 10 June – 9 July

  clock = new Date('2026-07-01T09:00:00Z');
  const s = await w.statement(uma, '2026-05-20', '2026-06-20');
  t.same(s.periods, [
    { from: '2026-05-10', to: '2026-06-09', limit: 10000, earningsPaid: 6000, headroom: 4000, currency: 'GBP' },
    { from: '2026-06-10', to: '2026-07-09', limit: 10000, earningsPaid: 6000, headroom: 4000, currency: 'GBP' },
  ], 'each period the range touches, with payments outside the range but inside the period; expenses never count');
  t.match(s.taxYears, [{ taxYear: '2026-27', earningsPaid: 12000, expensesPaid: 500, tradingAllowanceRemaining: 88000 }]);
  t.equal(s.payouts.length, 1, 'only the payout of 5 June is listed: the list keeps to the range');

  // Past the limit: headroom is never below 0.
  await w.pay(uma, '2026-07-01T10:00:00Z', { workDate: '2026-06-30', minutes: 150 }); // £50 more in 10 June – 9 July
  const over = await w.statement(uma, '2026-07-01', '2026-07-01');
  t.same(over.periods, [{ from: '2026-06-10', to: '2026-07-09', limit: 10000, earningsPaid: 11000, headroom: 0, currency: 'GBP' }]);
});

t.test('a limit changed mid-year: the old period shows the old limit; the current period, today\'s', async (t) => {
  const w = await world();
  const esa = await w.contributor('Esa Weekly');
  const version = (effectiveFrom: string, amount: number | null) =>
    call('POST', `/v1/contributors/${esa}/earnings-limits`, w.coordinator, amount === null ? { effectiveFrom, amount: null } : { effectiveFrom, period: 'week', amount, periodStartDay: 1, policy: 'warn' });
  await version('2026-01-01', 19550);
  await version('2026-05-04', 20000); // a Monday
  await w.pay(esa, '2026-04-28T10:00:00Z', { workDate: '2026-04-27', minutes: 120 }); // week of 27 April
  await w.pay(esa, '2026-05-05T10:00:00Z', { workDate: '2026-05-04', minutes: 60 }); // week of 4 May

  clock = new Date('2026-06-01T09:00:00Z');
  const s = await w.statement(esa, '2026-04-27', '2026-05-10');
  t.same(
    s.periods.map((p: any) => [p.from, p.to, p.limit, p.earningsPaid, p.headroom]),
    [
      ['2026-04-27', '2026-05-03', 19550, 4000, 15550],
      ['2026-05-04', '2026-05-10', 20000, 2000, 18000],
    ],
  );

  // Today is Thursday 7 May; a new limit starts on Friday 8 May. The current week shows
  // today's limit, not the one that will be in force on its last day.
  await version('2026-05-08', 25000);
  clock = new Date('2026-05-07T09:00:00Z');
  const now = await w.statement(esa, '2026-05-04', '2026-05-17');
  t.same(
    now.periods.map((p: any) => [p.from, p.limit]),
    [
      ['2026-05-04', 20000],
      ['2026-05-11', 25000],
    ],
  );
  // A limit that ended: no limit, no headroom, and no periods after it.
  await version('2026-05-18', null);
  const ended = await w.statement(esa, '2026-05-11', '2026-05-31');
  t.same(ended.periods.map((p: any) => [p.from, p.limit, p.headroom]), [['2026-05-11', 25000, 25000]]);
});

t.test('the PDF letter: who, which year, each payment on its UK date, totals, and who to contact', async (t) => {
  const w = await world('Riverside Mind Co-production');
  const name = 'Łucja Nguyễn-Smith';
  const person = await w.contributor(name);
  await w.pay(person, '2026-04-05T22:59:00Z', { workDate: '2026-03-02', minutes: 120, expense: 1240 });
  await w.pay(person, '2026-04-05T23:30:00Z', { workDate: '2026-04-01', minutes: 180 });
  clock = new Date('2026-12-01T10:00:00Z');
  const participant = await w.org.as('participant', { contributorId: person });

  const res = await app.inject({ method: 'GET', url: '/v1/me/statement.pdf?taxYear=2025-26', headers: participant });
  t.equal(res.statusCode, 200, 'the letter is served');
  t.match(res.headers['content-type'], /^application\/pdf/);
  t.match(res.headers['content-disposition'], /attachment; filename="payments-2025-26\.pdf"/);
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.rawPayload.subarray(0, 5).toString('latin1'), '%PDF-');
  const letter = await pdfText(res);
  for (const expected of [
    'Riverside Mind Co-production',
    name,
    '2025-26',
    '6 April 2025 to 5 April 2026',
    '5 April 2026', // the payment at 23:59 BST
    'Bank transfer',
    '£40.00', // earnings
    '£12.40', // expenses
    '£52.40', // total
    'Expenses are reimbursements, not earnings',
    '£960.00 is left', // of the trading allowance
    'has not recorded contact details',
    '1 December 2026', // the date of the letter
  ]) {
    t.ok(letter.includes(expected), `the letter says "${expected}"`);
  }
  t.notOk(letter.includes('6 April 2026'), 'the payment at 00:30 BST on 6 April is not in 2025-26');
  t.notOk(letter.includes('£60.00'), 'nor its amount');

  const next = await pdfText(await app.inject({ method: 'GET', url: `/v1/contributors/${person}/statement.pdf?taxYear=2026-27`, headers: w.finance }));
  t.ok(next.includes('6 April 2026') && next.includes('£60.00') && next.includes('2026-27'), 'finance gets the next year with the 6 April payment');

  const empty = await pdfText(await app.inject({ method: 'GET', url: `/v1/contributors/${person}/statement.pdf?taxYear=2024-25`, headers: w.finance }));
  t.ok(empty.includes('made no payments'), 'a year without payments says so');

  const current = await app.inject({ method: 'GET', url: `/v1/me/statement.pdf`, headers: participant });
  t.equal(current.statusCode, 200, 'without taxYear: the current one');
  t.ok((await pdfText(current)).includes('2026-27'));
});

t.test('the PDF letter: who may fetch it, and bad tax years', async (t) => {
  const w = await world();
  const mine = await w.contributor('Mina');
  const other = await w.contributor('Olu');
  const participant = await w.org.as('participant', { contributorId: mine });
  const get = (url: string, headers: Headers) => app.inject({ method: 'GET', url, headers });

  t.equal((await get(`/v1/contributors/${mine}/statement.pdf?taxYear=2026-27`, participant)).statusCode, 200, 'a participant may fetch their own');
  const theirs = await get(`/v1/contributors/${other}/statement.pdf?taxYear=2026-27`, participant);
  t.equal(theirs.statusCode, 404, theirs.body);
  t.equal(json(theirs).code, 'not_found');

  const elsewhere = await createTestOrg(app, 'Another organisation');
  const outsider = await get(`/v1/contributors/${mine}/statement.pdf?taxYear=2026-27`, await elsewhere.as('finance'));
  t.equal(outsider.statusCode, 404, "another organisation's id is not found");
  t.equal((await get(`/v1/contributors/${mine}/statement.pdf`, await w.org.as('reporter'))).statusCode, 403, 'a reporter never sees names');
  t.equal((await get('/v1/me/statement.pdf', {})).statusCode, 401);

  for (const bad of ['2025-27', '2025', '25-26', '2025-2026', 'abcd-ef', '1899-00']) {
    const res = await get(`/v1/me/statement.pdf?taxYear=${bad}`, participant);
    t.equal(res.statusCode, 400, `taxYear=${bad}: ${res.body}`);
    t.equal(json(res).code, 'validation_failed');
  }
  t.equal((await get('/v1/me/statement.pdf?year=2025', participant)).statusCode, 400, 'unknown query fields are refused');
});

t.test('statement ranges: the participant sees their own; ranges are checked', async (t) => {
  const w = await world();
  const mine = await w.contributor('Mina');
  await w.pay(mine, '2026-04-10T10:00:00Z', { workDate: '2026-04-09', minutes: 60 });
  clock = new Date('2026-04-20T10:00:00Z');
  const participant = await w.org.as('participant', { contributorId: mine });
  const s = await call('GET', '/v1/me/statement', participant);
  t.match(s, { contributorId: mine, from: '2026-04-06', to: '2027-04-05' }, 'the current UK tax year by default');
  t.match(s.taxYears, [{ taxYear: '2026-27', earningsPaid: 2000, tradingAllowanceRemaining: 98000 }]);
  const tooLong = await app.inject({ method: 'GET', url: '/v1/me/statement?from=2016-04-06&to=2026-04-06', headers: participant });
  t.equal(tooLong.statusCode, 400, tooLong.body);
  t.equal(json(tooLong).code, 'validation_failed');
  t.equal((await app.inject({ method: 'GET', url: '/v1/me/statement?from=2016-04-07&to=2026-04-06', headers: participant })).statusCode, 200, 'just under ten years is fine');
});

t.test('the statement page: money paid per tax year, the trading allowance warning, the letter', async (t) => {
  const w = await world();
  const priya = await w.contributor('Priya Shah');
  // £820 of earnings paid in 2026-27: £180 of the allowance left, under the £200 warning line.
  await w.pay(priya, '2026-05-01T10:00:00Z', { workDate: '2026-04-28', minutes: 1200, expense: 700 });
  await w.pay(priya, '2026-05-02T10:00:00Z', { workDate: '2026-04-29', minutes: 1260 });
  clock = new Date('2026-06-01T10:00:00Z');
  const client = new WebClient(app).withToken(await w.org.tokenFor('participant', { contributorId: priya }));

  const page = await client.get('/my/statement?year=2026');
  t.equal(page.statusCode, 200, page.body.slice(0, 500));
  t.match(page.body, /data-testid="earnings-paid">£820\.00</);
  t.match(page.body, /data-testid="expenses-paid">£7\.00</);
  t.match(page.body, /data-testid="allowance-left">£180\.00</);
  t.match(text(page.body), 'You have £180.00 left of your £1,000 trading allowance for the tax year 2026-27');
  t.match(page.body, /href="\/my\/statement\.pdf\?taxYear=2026-27"/);
  t.match(page.body, /href="\/my\/statement\.pdf\?taxYear=2025-26"/, 'a letter for each year offered');
  t.match(page.body, /data-testid="earned">£820\.00</, 'the work totals are still there');

  const lastYear = await client.get('/my/statement?year=2025');
  t.match(lastYear.body, /data-testid="allowance-left">£1,000\.00</);
  t.notMatch(lastYear.body, /allowance-warning/, 'no warning with the whole allowance left');

  const pdf = await client.get('/my/statement.pdf?taxYear=2026-27');
  t.equal(pdf.statusCode, 200);
  t.match(pdf.headers['content-type'], /^application\/pdf/);
  const letter = await pdfText(pdf);
  t.ok(letter.includes('Priya Shah') && letter.includes('£820.00') && letter.includes('1 May 2026'), 'the page hands on the letter with its bytes intact');
  const bad = await client.get('/my/statement.pdf?taxYear=nonsense');
  t.equal(bad.statusCode, 400);
});

t.test('which periods a range touches, from the dated versions (no database)', async (t) => {
  const version = (effectiveFrom: string, shape: Partial<EarningsLimitVersion> = {}): EarningsLimitVersion => ({
    effectiveFrom,
    period: 'week',
    amount: 10000,
    periodStartDay: 1,
    policy: 'warn',
    preset: null,
    ...shape,
  });
  // The ESA preset follows the statutory figure on each week's last day: £183.50, then £195.50 from 7 April 2025.
  const esa = [version('2025-01-01', { amount: null, preset: 'esa_permitted_work' })];
  t.same(limitPeriodsTouched(esa, { start: '2025-04-06', end: '2025-04-07' }, '2026-01-01'), [
    { start: '2025-03-31', end: '2025-04-06', limit: 18350 },
    { start: '2025-04-07', end: '2025-04-13', limit: 19550 },
  ]);
  // Weekly, then monthly (from the 15th) from Wednesday 10 June: the week of 8 June is still a
  // week (it began under the weekly version) but is judged by the monthly limit in force on its
  // last day; the months start from the day after it.
  const changed = [version('2026-01-01'), version('2026-06-10', { period: 'month', periodStartDay: 15, amount: 50000 })];
  t.same(limitPeriodsTouched(changed, { start: '2026-06-01', end: '2026-06-20' }, '2026-12-01'), [
    { start: '2026-06-01', end: '2026-06-07', limit: 10000 },
    { start: '2026-06-08', end: '2026-06-14', limit: 50000 },
    { start: '2026-06-15', end: '2026-07-14', limit: 50000 },
  ], 'each period judged by the version on its last day; the new shape starts where the old one stops');
  t.same(limitPeriodsTouched([version('2026-06-10')], { start: '2026-06-01', end: '2026-06-20' }, '2026-12-01').map((p) => p.start), ['2026-06-08', '2026-06-15'], 'no periods before the first version');
  t.same(taxYearsTouched({ start: '2025-05-10', end: '2025-06-20' }).map((y) => y.label), ['2025-26']);
  t.same(taxYearsTouched({ start: '2025-04-05', end: '2027-04-06' }).map((y) => y.label), ['2024-25', '2025-26', '2026-27', '2027-28']);

  // Property: with one version, the periods tile without gaps or overlaps and cover the range.
  const day = fc.integer({ min: 0, max: 3000 }).map((n) => addDays('2024-01-01', n));
  fc.assert(
    fc.property(day, fc.integer({ min: 0, max: 400 }), fc.boolean(), fc.integer({ min: 1, max: 31 }), (start, length, weekly, startDay) => {
      const shape = weekly ? { period: 'week' as const, periodStartDay: ((startDay - 1) % 7) + 1 } : { period: 'month' as const, periodStartDay: startDay };
      const periods = limitPeriodsTouched([version('2000-01-01', shape)], { start, end: addDays(start, length) }, start);
      if (!(periods[0]!.start <= start && periods.at(-1)!.end >= addDays(start, length))) return false;
      return periods.every((p, i) => i === 0 || p.start === addDays(periods[i - 1]!.end, 1));
    }),
    { seed: 20260405, numRuns: 300 },
  );
});
