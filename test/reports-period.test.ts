/**
 * Reports for a funder's reporting period (issue #19 item 5): GET /v1/reports/budgets/{id} and
 * GET /v1/reports/projects/{id} with `from` and `to`, inclusive Europe/London dates. Work counts
 * by its date, money paid by the UK day it was paid, and the position is the ledger's as at the
 * end of `to` (see PERIOD_BASIS in src/modules/reports/service.ts). Driven through the HTTP API
 * with a clock the test moves, so every ledger date is the one a real day would give.
 */
import t, { type Test } from 'tap';
import { appForThisFile, createTestOrg, json, uniqueEmail } from './helpers/app.js';
import { everyKindPaidRates } from './helpers/rate-cards.js';
import { paidWorld } from './helpers/paid-world.js';

let clock = new Date('2026-01-05T10:00:00Z');
const at = (iso: string) => {
  clock = new Date(iso);
};
const app = await appForThisFile(t, { now: () => clock });

type Headers = Record<string, string>;

/** A tiny RFC 4180 reader (quoted cells, doubled quotes), enough for the reports' CSV. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') row.push(cell), (cell = '');
    else if (ch === '\n') row.push(cell), rows.push(row), (row = []), (cell = '');
    else if (ch !== '\r') cell += ch;
  }
  if (cell !== '' || row.length) row.push(cell), rows.push(row);
  return rows;
}

/** CSV rows as objects keyed by the header, numbers as numbers (empty cells as ''). */
function csvRecords(text: string): Record<string, string | number>[] {
  const [header, ...rows] = parseCsv(text);
  return rows.map((cells) => Object.fromEntries(header!.map((h, i) => [h, /^-?\d+$/.test(cells[i] ?? '') ? Number(cells[i]) : (cells[i] ?? '')])));
}

/**
 * An organisation where everyone is paid (£20 an hour for lived experience and carers, £30 for
 * professionals), a project with a GBP budget, and helpers that act through the API at the
 * clock's moment.
 */
async function world(t: Test) {
  at('2026-01-05T10:00:00Z');
  const { org, finance, finance2, coordinator, reporter, call, time, expense } = await paidWorld(t, app);
  const project = async (name: string) => (await call('POST', '/v1/projects', finance, { name })).id as string;
  const rateCard = async (currency: string) => {
    const card = await call('POST', '/v1/rate-cards', finance, { name: `Paid rates ${currency}`, currency });
    await call('POST', `/v1/rate-cards/${card.id}/versions`, finance, {
      effectiveFrom: '2026-01-01',
      rates: everyKindPaidRates,
    });
    return card.id as string;
  };
  const cards = new Map<string, string>();
  const budget = async (projectId: string, name: string, currency = 'GBP') => {
    if (!cards.has(currency)) cards.set(currency, await rateCard(currency));
    return (
      await call('POST', '/v1/budgets', finance, {
        projectId,
        name,
        funder: 'Funder',
        grantReference: `G-${name}`,
        currency,
        amount: 1_000_000,
        startsOn: '2026-01-01',
        endsOn: '2026-12-31',
        rateCardId: cards.get(currency),
      })
    ).id as string;
  };
  const person = async (name: string, kind: string) =>
    (await call('POST', '/v1/contributors', coordinator, { name, email: uniqueEmail(name.split(' ')[0]!.toLowerCase()), kind, paymentMethod: 'bank_transfer' })).id as string;
  const reverse = async (entryId: string) => call('POST', `/v1/time-entries/${entryId}/reverse`, coordinator, { reason: 'Recorded twice' });
  /** Drafts a run of everything owed in `currency` and has a second finance user approve it. */
  const approvedRun = async (currency = 'GBP') => {
    const draft = await call('POST', '/v1/payout-runs', finance, { currency });
    return call('POST', `/v1/payout-runs/${draft.id}/approve`, finance2);
  };
  const markPaid = async (run: any) => {
    for (const item of run.items) await call('POST', `/v1/payouts/${item.id}/mark-paid`, finance, { reference: `BACS ${item.id.slice(-4)}` });
  };
  const get = async (url: string, headers: Headers = reporter) => {
    const res = await app.inject({ method: 'GET', url, headers });
    t.equal(res.statusCode, 200, `GET ${url}`, { body: res.body });
    return res;
  };
  return { org, finance, coordinator, reporter, call, project, budget, person, time, expense, reverse, approvedRun, markPaid, get };
}

/**
 * One budget's first half of 2026 (see each step): Lee (lived experience), Cam (a carer) and Pat
 * (a professional). Payments at the quarter's edge: a run approved at 23:00 on 31 March (UK
 * summer time) and marked paid at 00:30 on 1 April. Cam has two entries reversed: one of 30 March
 * reversed on 15 April (after Q1), one of 20 April reversed on 12 May (inside Q2).
 */
async function firstHalf(t: Test) {
  const w = await world(t);
  const projectId = await w.project('Peer research');
  const budgetId = await w.budget(projectId, 'Panel');
  const lee = await w.person('Lee Lived', 'lived_experience');
  const cam = await w.person('Cam Carer', 'carer');
  const pat = await w.person('Pat Professional', 'professional');

  at('2026-03-20T10:00:00Z');
  await w.time(lee, budgetId, '2026-02-10', 60); // £20
  await w.time(cam, budgetId, '2026-03-15', 60); // £20
  await w.expense(cam, budgetId, '2026-03-15', 500);
  const march = await w.approvedRun(); // in transit on 20 March
  at('2026-03-25T10:00:00Z');
  await w.markPaid(march); // paid on 25 March: Lee £20, Cam £20 and £5 expenses

  at('2026-03-31T21:00:00Z'); // 22:00 on 31 March in London
  await w.time(lee, budgetId, '2026-03-31', 120); // £40, work of 31 March
  at('2026-03-31T22:00:00Z'); // 23:00 on 31 March in London
  const edge = await w.approvedRun(); // in transit on 31 March
  at('2026-03-31T23:30:00Z'); // 00:30 on 1 April in London
  await w.markPaid(edge); // paid on 1 April (London), though 31 March in UTC

  at('2026-04-05T10:00:00Z');
  const camLate = await w.time(cam, budgetId, '2026-03-30', 30); // £10, work of Q1 approved in April
  at('2026-04-15T10:00:00Z');
  await w.reverse(camLate); // reversed after Q1's end

  at('2026-05-10T10:00:00Z');
  await w.time(lee, budgetId, '2026-04-01', 60); // £20, work of 1 April
  await w.time(pat, budgetId, '2026-05-05', 60); // £30
  const camApril = await w.time(cam, budgetId, '2026-04-20', 60); // £20
  at('2026-05-12T10:00:00Z');
  await w.reverse(camApril); // reversed inside Q2

  at('2026-06-01T10:00:00Z');
  const june = await w.approvedRun();
  at('2026-06-02T10:00:00Z');
  await w.markPaid(june); // Lee £20, Pat £30 paid on 2 June

  at('2026-07-02T10:00:00Z');
  await w.time(lee, budgetId, '2026-07-01', 60); // £20 in Q3, left owed
  at('2026-07-10T10:00:00Z');
  return { ...w, projectId, budgetId };
}

const byKindOf = (report: any) => Object.fromEntries(report.byKind.map((k: any) => [k.kind, k]));

t.test('a quarter cut through a budget: only its work and money, split by kind, and the position at its end', async (t) => {
  const w = await firstHalf(t);
  const q1 = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-01-01&to=2026-03-31`));

  t.same(q1.period, { from: '2026-01-01', to: '2026-03-31', basis: { work: 'work_date', paid: 'payment_date', position: 'ledger_effective_date' } });
  // Work of Q1, by its date: Lee 10 Feb and 31 March (3 h, £60); Cam 15 March (1 h, £20, £5
  // expenses). Cam's 30 March entry was reversed (on 15 April), so it is in no period's work.
  const k1 = byKindOf(q1);
  t.match(k1.lived_experience, { contributors: 1, minutes: 180, earned: 6000, expenses: 0, paid: 2000, expensesPaid: 0 });
  t.match(k1.carer, { contributors: 1, minutes: 60, earned: 2000, expenses: 500, paid: 2000, expensesPaid: 500 });
  t.match(k1.professional, { contributors: 0, minutes: 0, earned: 0, paid: 0 });
  // Paid in Q1 by the UK day: 25 March only; the run marked paid at 23:30 UTC on 31 March was
  // paid on 1 April in London, so its £40 is Q2's.
  t.match(q1, { paid: 4000, expensesPaid: 500, livedExperienceShareOfMoney: 1 });
  t.same(q1.byMonth, [
    { month: '2026-02', minutes: 60, earned: 2000, livedExperienceEarned: 2000, professionalEarned: 0, expenses: 0 },
    { month: '2026-03', minutes: 180, earned: 6000, livedExperienceEarned: 6000, professionalEarned: 0, expenses: 500 },
  ]);
  t.same(q1.byActivity, [{ activity: 'meeting', minutes: 240, earned: 8000, inKindValue: 0, declinedValue: 0 }]);
  t.equal(q1.contributors.length, 2);
  t.ok(q1.contributors.every((c: any) => /^P-[0-9A-F]{10}$/.test(c.pseudonym)), 'pseudonyms');

  // The position at the end of 31 March, from the ledger's dates: £40 in transit (the edge run,
  // approved on 31 March), £40 and £5 paid (25 March), and Cam's £10 of 30 March still owed: it
  // was reversed on 15 April, after the period.
  t.same(q1.position, { asAt: '2026-03-31', total: 1_000_000, committed: 9500, owed: 1000, inTransit: 4000, paid: 4000, expensesPaid: 500, available: 990_500 });
  t.match(q1, { committed: 9500, owed: 1000, inTransit: 4000, available: 990_500 });
  t.match(q1.budget, { id: w.budgetId, total: 1_000_000, adjustments: 0, committed: 9500, owed: 1000, inTransit: 4000, paid: 4500, available: 990_500 });
  t.equal(q1.position.committed, q1.position.owed + q1.position.inTransit + q1.position.paid + q1.position.expensesPaid);

  const q2 = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-04-01&to=2026-06-30`));
  const k2 = byKindOf(q2);
  // Lee: 1 April's hour; paid £40 on 1 April (the edge run) and £20 on 2 June. Pat: 5 May's hour,
  // paid on 2 June. Cam's 20 April entry was reversed inside Q2: no line, no hours.
  t.match(k2.lived_experience, { contributors: 1, minutes: 60, earned: 2000, paid: 6000 });
  t.match(k2.carer, { contributors: 0, minutes: 0, earned: 0, paid: 0, expenses: 0 });
  t.match(k2.professional, { contributors: 1, minutes: 60, earned: 3000, paid: 3000 });
  t.match(q2, { paid: 9000, expensesPaid: 0, livedExperienceShareOfMoney: 0.4 });
  t.same(q2.byMonth.map((m: any) => m.month), ['2026-04', '2026-05']);
  t.same(q2.position, { asAt: '2026-06-30', total: 1_000_000, committed: 13_500, owed: 0, inTransit: 0, paid: 13_000, expensesPaid: 500, available: 986_500 });

  // Periods that meet add up to the whole: hours and earnings by work date, paid by payment date.
  const h1 = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-01-01&to=2026-06-30`));
  for (const kind of ['lived_experience', 'carer', 'professional']) {
    for (const field of ['contributors', 'minutes', 'earned', 'expenses', 'paid', 'expensesPaid']) {
      if (field === 'contributors') continue; // a person in both quarters is one in the half
      t.equal(byKindOf(h1)[kind][field], k1[kind][field] + k2[kind][field], `${kind} ${field}: Q1 + Q2 = H1`);
    }
  }
  t.equal(byKindOf(h1).lived_experience.contributors, 1, 'Lee, in both quarters, is one contributor in the half');
  t.same(h1.position, q2.position, 'the half ends where Q2 does');

  // The period report counts as the distribution report does for the same budget and range.
  const dist = json(await w.get(`/v1/reports/distribution?budgetId=${w.budgetId}&from=2026-04-01&to=2026-06-30`));
  for (const k of dist.byKind) t.match(k2[k.kind], { contributors: k.contributors, minutes: k.minutes, earned: k.earned, expenses: k.expenses, paid: k.paid, expensesPaid: k.expensesPaid });

  // Without a period the report is the one it always was: no period, no position, all time.
  const all = json(await w.get(`/v1/reports/budgets/${w.budgetId}`));
  t.notOk('period' in all, 'no period without from and to');
  t.notOk('position' in all, 'no position without from and to');
  t.match(all, { committed: 15_500, owed: 2000, inTransit: 0, paid: 13_000, expensesPaid: 500 });
  t.equal(all.committed, all.owed + all.inTransit + all.paid + all.expensesPaid);
});

t.test('either end of a period may be open; without `to` the position is as it stands now', async (t) => {
  const w = await firstHalf(t);
  const fromApril = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-04-01`));
  t.same(fromApril.period, { from: '2026-04-01', to: null, basis: { work: 'work_date', paid: 'payment_date', position: 'ledger_effective_date' } });
  t.match(byKindOf(fromApril).lived_experience, { minutes: 120, earned: 4000, paid: 6000 }, "1 April's and 1 July's hours; paid from 1 April");
  const now = json(await w.get(`/v1/reports/budgets/${w.budgetId}`));
  t.same(fromApril.position, { asAt: null, total: now.budget.total, committed: now.committed, owed: now.owed, inTransit: now.inTransit, paid: now.paid, expensesPaid: now.expensesPaid, available: now.available });
  t.same(fromApril.budget, now.budget, 'the budget as it stands');

  const toFebruary = json(await w.get(`/v1/reports/budgets/${w.budgetId}?to=2026-02-28`));
  t.same(toFebruary.period.from, null);
  t.match(byKindOf(toFebruary).lived_experience, { contributors: 1, minutes: 60, earned: 2000, paid: 0 });
  t.same(toFebruary.position, { asAt: '2026-02-28', total: 1_000_000, committed: 2000, owed: 2000, inTransit: 0, paid: 0, expensesPaid: 0, available: 998_000 });
  t.same(
    toFebruary.contributors.map((c: any) => c.kind),
    ['lived_experience'],
    'someone with nothing in the period has no line',
  );

  // A day before the budget's funding (dated its start) finds nothing in it.
  const before = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2025-10-01&to=2025-12-31`));
  t.same(before.position, { asAt: '2025-12-31', total: 0, committed: 0, owed: 0, inTransit: 0, paid: 0, expensesPaid: 0, available: 0 });
  t.same(before.contributors, []);
  t.same(before.byKind.map((k: any) => k.contributors), [0, 0, 0]);
});

t.test('the edges of a period are Europe/London midnights: 31 March vs 1 April', async (t) => {
  const w = await firstHalf(t);
  const march31 = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-03-31&to=2026-03-31`));
  t.match(byKindOf(march31).lived_experience, { minutes: 120, earned: 4000, paid: 0 }, 'work of 31 March; its payment at 23:30 UTC is not on 31 March');
  t.match(march31.position, { inTransit: 4000, paid: 4000 }, 'still in transit at the end of 31 March');
  const april1 = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-04-01&to=2026-04-01`));
  t.match(byKindOf(april1).lived_experience, { minutes: 60, earned: 2000, paid: 4000 }, 'work of 1 April, and the £40 paid at 00:30 on 1 April in London');
  t.match(april1.position, { inTransit: 0, paid: 8000 });
});

t.test('reversals: a reversal inside the period moves the position at its end; one after it does not', async (t) => {
  const w = await firstHalf(t);
  const camQ1 = (r: any) => byKindOf(r).carer;
  // Cam's £10 of 30 March, reversed on 15 April: not work of any period, but owed at the end of
  // March (the books as they stood), and gone from the position at the end of 15 April.
  const march = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-03-01&to=2026-03-31`));
  t.match(camQ1(march), { minutes: 60, earned: 2000 }, 'only the entry that stands');
  t.equal(march.position.owed, 1000, 'owed at the end of 31 March');
  // (Lee's hour of 1 April, approved on 10 May, is owed from 1 April: an approval is dated with the work.)
  const to14 = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-04-01&to=2026-04-14`));
  t.equal(to14.position.owed, 1000 + 2000, 'the day before the reversal');
  const to15 = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-04-01&to=2026-04-15`));
  t.equal(to15.position.owed, 2000, 'reversed on 15 April');
  t.equal(to15.position.available, to14.position.available + 1000, 'back in the budget');
  // Cam's 20 April entry, approved on 10 May and reversed on 12 May: owed in between, never work.
  const to11May = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-05-01&to=2026-05-11`));
  t.equal(to11May.position.owed, 2000 + 2000 + 3000, "Lee's 1 April, Cam's 20 April and Pat's 5 May, all approved on 10 May");
  t.match(camQ1(to11May), { contributors: 0, minutes: 0 });
  const to12May = json(await w.get(`/v1/reports/budgets/${w.budgetId}?from=2026-05-01&to=2026-05-12`));
  t.equal(to12May.position.owed, 2000 + 3000);
});

t.test('a project across its budgets: people counted once, positions summed, currencies apart', async (t) => {
  const w = await world(t);
  const projectId = await w.project('Two funders');
  const first = await w.budget(projectId, 'First');
  const second = await w.budget(projectId, 'Second');
  const euro = await w.budget(projectId, 'Euro', 'EUR');
  const elsewhere = await w.budget(await w.project('Another project'), 'Elsewhere');
  const ada = await w.person('Ada Both', 'lived_experience');
  const bo = await w.person('Bo Second', 'carer');
  const pro = await w.person('Pro Euro', 'professional');

  at('2026-04-10T10:00:00Z');
  await w.time(ada, first, '2026-04-02', 60); // £20
  await w.time(ada, second, '2026-04-03', 120); // £40: Ada works on both budgets
  await w.time(bo, second, '2026-05-04', 60); // £20
  await w.expense(bo, second, '2026-05-04', 250);
  await w.time(pro, euro, '2026-04-06', 60); // €30
  await w.time(ada, elsewhere, '2026-04-07', 600); // another project: never in this one
  await w.time(ada, first, '2026-03-30', 60); // Q1: outside the period
  at('2026-06-01T10:00:00Z');
  const run = await w.approvedRun('GBP');
  at('2026-06-03T10:00:00Z');
  await w.markPaid(run);
  at('2026-07-10T10:00:00Z');

  const q2 = `from=2026-04-01&to=2026-06-30`;
  const report = json(await w.get(`/v1/reports/projects/${projectId}?${q2}`));
  t.same(report.project, { id: projectId, name: 'Two funders' });
  t.same(report.period, { from: '2026-04-01', to: '2026-06-30', basis: { work: 'work_date', paid: 'payment_date', position: 'ledger_effective_date' } });
  t.same(report.currencies.map((c: any) => c.currency), ['EUR', 'GBP'], 'a part per currency, in code order');
  const [eur, gbp] = report.currencies;
  t.same(gbp.budgets.map((b: any) => b.name), ['First', 'Second']);
  t.same(eur.budgets.map((b: any) => b.name), ['Euro']);

  const k = byKindOf(gbp);
  t.match(k.lived_experience, { contributors: 1, minutes: 180, earned: 6000, paid: 6000 + 2000 }, 'Ada once, across both budgets; paid in June for March and April');
  t.match(k.carer, { contributors: 1, minutes: 60, earned: 2000, expenses: 250, paid: 2000, expensesPaid: 250 });
  t.match(k.professional, { contributors: 0 });
  t.equal(gbp.contributors.filter((c: any) => c.kind === 'lived_experience').length, 1, 'one line for Ada');
  t.match(byKindOf(eur).professional, { contributors: 1, minutes: 60, earned: 3000, paid: 0 });

  // The project's GBP part is its two budgets' period reports added up, people apart.
  const one = json(await w.get(`/v1/reports/budgets/${first}?${q2}`));
  const two = json(await w.get(`/v1/reports/budgets/${second}?${q2}`));
  t.equal(byKindOf(one).lived_experience.contributors + byKindOf(two).lived_experience.contributors, 2, 'the budgets each count Ada');
  for (const field of ['paid', 'expensesPaid', 'committed', 'owed', 'inTransit', 'available'] as const) {
    t.equal(gbp[field], one[field] + two[field], `${field}: the budgets' sum`);
  }
  for (const field of ['total', 'committed', 'owed', 'inTransit', 'paid', 'expensesPaid', 'available'] as const) {
    t.equal(gbp.position[field], one.position[field] + two.position[field], `position.${field}: the budgets' sum`);
  }
  t.same(gbp.budgets, [one.budget, two.budget], "each budget as its own report shows it at the period's end");
  t.same(gbp.position, { asAt: '2026-06-30', total: 2_000_000, committed: 10_250, owed: 0, inTransit: 0, paid: 10_000, expensesPaid: 250, available: 2_000_000 - 10_250 });
  t.same(eur.position, { asAt: '2026-06-30', total: 1_000_000, committed: 3000, owed: 3000, inTransit: 0, paid: 0, expensesPaid: 0, available: 997_000 });
  t.same(gbp.byMonth.map((m: any) => [m.month, m.earned, m.expenses]), [
    ['2026-04', 6000, 0],
    ['2026-05', 2000, 250],
  ]);

  // Without a period: all time, the position as it stands.
  const all = json(await w.get(`/v1/reports/projects/${projectId}`));
  t.same(all.period, { from: null, to: null, basis: report.period.basis });
  t.match(byKindOf(all.currencies[1]).lived_experience, { contributors: 1, minutes: 240, earned: 8000, paid: 8000 });
  t.equal(all.currencies[1].position.asAt, null);

  // A project with no budgets has no parts.
  const empty = json(await w.get(`/v1/reports/projects/${await w.project('Not funded yet')}?${q2}`));
  t.same(empty.currencies, []);
});

t.test('CSV is the JSON: every figure of both reports, row by row', async (t) => {
  const w = await firstHalf(t);
  const query = 'from=2026-01-01&to=2026-03-31';
  const report = json(await w.get(`/v1/reports/budgets/${w.budgetId}?${query}`));
  const csvRes = await w.get(`/v1/reports/budgets/${w.budgetId}?${query}&format=csv`);
  t.match(csvRes.headers['content-type'], /^text\/csv/);
  t.equal(csvRes.headers['content-disposition'], `attachment; filename="grant-report-${w.budgetId}-2026-01-01-to-2026-03-31.csv"`);
  const viaAccept = await app.inject({ method: 'GET', url: `/v1/reports/budgets/${w.budgetId}?${query}`, headers: { ...w.reporter, accept: 'text/csv' } });
  t.equal(viaAccept.body, csvRes.body, 'Accept: text/csv is the same');
  const rows = csvRecords(csvRes.body);
  const section = (name: string) => rows.filter((r) => r.section === name);
  t.same(section('period_from').map((r) => r.name), ['2026-01-01']);
  t.same(section('period_to').map((r) => r.name), ['2026-03-31']);
  t.same(section('period_basis').map((r) => r.name), ['work: work_date; paid: payment_date; position: ledger_effective_date']);
  t.match(section('budget'), [{ name: 'Panel (Funder G-Panel)', paid: report.paid, expenses_paid: report.expensesPaid, amount: report.budget.total }]);
  t.match(section('budget_committed'), [{ amount: report.committed }]);
  t.match(section('budget_in_transit'), [{ amount: report.inTransit }]);
  t.match(section('budget_available'), [{ amount: report.available }]);
  const p = report.position;
  t.match(section('position'), [{ name: '2026-03-31', paid: p.paid, expenses_paid: p.expensesPaid, amount: p.total }]);
  t.match(section('position_committed'), [{ amount: p.committed }]);
  t.match(section('position_owed'), [{ amount: p.owed }]);
  t.match(section('position_in_transit'), [{ amount: p.inTransit }]);
  t.match(section('position_available'), [{ amount: p.available }]);
  t.same(
    section('kind').map((r) => [r.kind, r.minutes, r.earned, r.expenses, r.in_kind_value, r.declined_value, r.paid, r.expenses_paid]),
    report.byKind.map((k: any) => [k.kind, k.minutes, k.earned, k.expenses, k.inKindValue, k.declinedValue, k.paid, k.expensesPaid]),
  );
  t.same(
    section('month').map((r) => [r.name, r.minutes, r.earned, r.expenses]),
    report.byMonth.map((m: any) => [m.month, m.minutes, m.earned, m.expenses]),
  );
  t.same(
    section('activity').map((r) => [r.name, r.minutes, r.earned, r.in_kind_value, r.declined_value]),
    report.byActivity.map((a: any) => [a.activity, a.minutes, a.earned, a.inKindValue, a.declinedValue]),
  );
  t.same(
    section('contributor').map((r) => [r.name, r.kind, r.minutes, r.earned, r.expenses, r.in_kind_value, r.declined_value, r.paid, r.expenses_paid]),
    report.contributors.map((c: any) => [c.pseudonym, c.kind, c.minutes, c.earned, c.expenses, c.inKindValue, c.declinedValue, c.paid, c.expensesPaid]),
  );

  // Without a period the CSV has no period or position rows, as before.
  const plain = csvRecords((await w.get(`/v1/reports/budgets/${w.budgetId}?format=csv`)).body);
  t.same(plain.filter((r) => /^(period|position)/.test(String(r.section))), []);

  const project = json(await w.get(`/v1/reports/projects/${w.projectId}?${query}`));
  const projectCsv = await w.get(`/v1/reports/projects/${w.projectId}?${query}&format=csv`);
  t.equal(projectCsv.headers['content-disposition'], `attachment; filename="project-report-${w.projectId}-2026-01-01-to-2026-03-31.csv"`);
  const prow = csvRecords(projectCsv.body);
  const psection = (name: string) => prow.filter((r) => r.section === name);
  t.match(psection('project'), [{ name: 'Peer research' }]);
  t.same(psection('period_from').map((r) => [r.currency, r.name]), [['', '2026-01-01']], 'dates in the name column');
  t.same(psection('period_to').map((r) => r.name), ['2026-03-31']);
  const [gbp] = project.currencies;
  t.match(psection('budget'), [{ currency: 'GBP', name: 'Panel (Funder G-Panel)', amount: gbp.budgets[0].total }]);
  t.match(psection('total'), [{ currency: 'GBP', paid: gbp.paid, expenses_paid: gbp.expensesPaid, amount: gbp.position.total }]);
  t.match(psection('total_committed'), [{ amount: gbp.committed }]);
  t.match(psection('total_in_transit'), [{ amount: gbp.inTransit }]);
  t.match(psection('total_available'), [{ amount: gbp.available }]);
  t.match(psection('position'), [{ currency: 'GBP', name: '2026-03-31', paid: gbp.position.paid, expenses_paid: gbp.position.expensesPaid, amount: gbp.position.total }]);
  t.match(psection('position_owed'), [{ amount: gbp.position.owed }]);
  t.same(
    psection('kind').map((r) => [r.currency, r.kind, r.minutes, r.earned, r.expenses, r.paid, r.expenses_paid]),
    gbp.byKind.map((k: any) => ['GBP', k.kind, k.minutes, k.earned, k.expenses, k.paid, k.expensesPaid]),
  );
  t.same(
    psection('contributor').map((r) => [r.name, r.kind, r.minutes, r.earned, r.paid]),
    gbp.contributors.map((c: any) => [c.pseudonym, c.kind, c.minutes, c.earned, c.paid]),
  );
  t.same(
    psection('month').map((r) => [r.name, r.earned, r.expenses]),
    gbp.byMonth.map((m: any) => [m.month, m.earned, m.expenses]),
  );
  // The one-budget project's figures are the budget's.
  t.same(gbp.byKind, report.byKind);
  t.same(gbp.contributors, report.contributors);
  t.same(gbp.position, report.position);
});

t.test('no name, email or Stripe id in any period report, for any reader', async (t) => {
  const w = await firstHalf(t);
  const contributors = json(await w.get('/v1/contributors?limit=200', w.finance)).data;
  t.equal(contributors.length, 3);
  // A Stripe account id, as onboarding would have recorded it, must not leak either.
  const { contributors: table } = await import('../src/db/schema.js');
  const { and, eq } = await import('drizzle-orm');
  await app.db
    .update(table)
    .set({ stripeAccountId: `acct_${w.org.organisationId.slice(0, 8)}PERIOD` })
    .where(and(eq(table.organisationId, w.org.organisationId), eq(table.id, contributors[0].id)));
  const secrets = contributors.flatMap((c: any) => [c.name, c.name.split(' ')[0], c.email, c.id]).filter(Boolean);
  secrets.push(`acct_${w.org.organisationId.slice(0, 8)}PERIOD`);
  t.ok(secrets.length >= 12);
  for (const headers of [w.reporter, w.finance, await w.org.as('coordinator'), await w.org.as('admin')]) {
    for (const url of [
      `/v1/reports/budgets/${w.budgetId}?from=2026-01-01&to=2026-03-31`,
      `/v1/reports/budgets/${w.budgetId}?from=2026-04-01&to=2026-06-30&format=csv`,
      `/v1/reports/projects/${w.projectId}?from=2026-01-01&to=2026-06-30`,
      `/v1/reports/projects/${w.projectId}?to=2026-06-30&format=csv`,
    ]) {
      const body = (await w.get(url, headers)).body;
      for (const secret of secrets) t.notOk(body.includes(secret), `${url} does not contain ${secret}`);
    }
  }
});

t.test('bad periods, unknown ids and roles', async (t) => {
  const w = await world(t);
  const projectId = await w.project('Checks');
  const budgetId = await w.budget(projectId, 'Checks');
  const participant = await w.org.as('participant', { contributorId: await w.person('Pia Participant', 'lived_experience') });
  for (const base of [`/v1/reports/budgets/${budgetId}`, `/v1/reports/projects/${projectId}`]) {
    const backwards = await app.inject({ method: 'GET', url: `${base}?from=2026-04-01&to=2026-03-31`, headers: w.reporter });
    t.equal(backwards.statusCode, 400, backwards.body);
    t.match(json(backwards), { code: 'validation_failed', errors: [{ field: 'querystring.to', message: 'must not be before from' }] });
    const decade = await app.inject({ method: 'GET', url: `${base}?from=2016-01-01&to=2026-01-01`, headers: w.reporter });
    t.equal(decade.statusCode, 400, decade.body);
    t.match(json(decade).errors, [{ field: 'querystring.to', message: /less than 10 years after from/ }]);
    for (const bad of ['from=2026-02-30', 'to=31-03-2026', 'from=2026-01-01&currency=GBP']) {
      const res = await app.inject({ method: 'GET', url: `${base}?${bad}`, headers: w.reporter });
      t.equal(res.statusCode, 400, `${bad}: ${res.body}`);
      t.equal(json(res).code, 'validation_failed');
    }
    const oneDay = await app.inject({ method: 'GET', url: `${base}?from=2026-03-31&to=2026-03-31`, headers: w.reporter });
    t.equal(oneDay.statusCode, 200, 'from equal to to is one day');
    t.equal((await app.inject({ method: 'GET', url: base, headers: participant })).statusCode, 403, 'participants read no reports');
  }
  const other = await createTestOrg(app);
  for (const url of [`/v1/reports/budgets/${budgetId}?from=2026-01-01`, `/v1/reports/projects/${projectId}?from=2026-01-01`, '/v1/reports/projects/not-an-id']) {
    const res = await app.inject({ method: 'GET', url, headers: url.includes('not-an-id') ? w.reporter : await other.as('reporter') });
    t.equal(res.statusCode, 404, `${url}: ${res.body}`);
    t.equal(json(res).code, 'not_found');
  }
  // Project reports share the reports' per-token allowance (see test/adversarial/report-limits.test.ts).
  t.equal((await app.inject({ method: 'GET', url: `/v1/reports/projects/${projectId}`, headers: w.finance })).statusCode, 200);
});

t.test('the OpenAPI document: both reports in JSON and CSV, the period parameters, and their errors', async (t) => {
  const doc = app.swagger() as any;
  for (const [path, operationId] of [
    ['/v1/reports/budgets/{id}', 'getBudgetReport'],
    ['/v1/reports/projects/{id}', 'getProjectReport'],
  ] as const) {
    const op = doc.paths[path].get;
    t.equal(op.operationId, operationId);
    t.same(op.tags, ['reports']);
    t.same(Object.keys(op.responses['200'].content).sort(), ['application/json', 'text/csv'], `${path} serves JSON and CSV`);
    t.equal(op.responses['200'].content['text/csv'].schema.type, 'string');
    t.same(op.parameters.filter((p: any) => p.in === 'query').map((p: any) => p.name).sort(), ['format', 'from', 'to']);
    t.ok(op.parameters.find((p: any) => p.name === 'from').description, 'from is described');
    t.match(op.responses['404'].description, /not_found/);
    t.match(op.responses['400'].description, /validation_failed/);
    t.match(op.responses['429'].description, /rate_limited/);
    t.ok(op.responses['200'].content['application/json'].schema, 'the JSON has its schema');
  }
});
