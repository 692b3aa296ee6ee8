/**
 * A grant report's CSV is opened in spreadsheets: text that starts with =, +, -, @, a tab or a
 * carriage return would run as a formula there (docs/api-guide.md, Reports: such a cell is prefixed with
 * a quote; numbers stay numbers). Found in review: a budget named `=1+2` reached the CSV as is.
 */
import t from 'tap';
import { appForThisFile, createTestOrg, json } from '../helpers/app.js';
import { fundedBudget } from '../helpers/fixtures.js';

const app = await appForThisFile(t);

t.test('text cells that a spreadsheet would run as formulas are quoted; numbers are not', async (t) => {
  const org = await createTestOrg(app);
  const { finance, projectId, rateCardId } = await fundedBudget(app, org);
  // (A leading tab or carriage return never reaches a name: names are trimmed.)
  for (const name of ['=HYPERLINK("http://evil.test","x")', '+1+2', '-2+3', '@SUM(A1)']) {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/budgets',
      headers: finance,
      payload: { projectId, name, funder: 'Funder', grantReference: 'G-1', currency: 'GBP', amount: 1000, startsOn: '2026-01-01', endsOn: '2026-12-31', rateCardId },
    });
    t.equal(created.statusCode, 201, created.body);
    const csv = await app.inject({ method: 'GET', url: `/v1/reports/budgets/${json(created).id}?format=csv`, headers: finance });
    t.equal(csv.statusCode, 200, csv.body);
    const budgetLine = csv.body.split('\n').find((line) => line.startsWith('budget,'));
    t.ok(budgetLine, csv.body);
    const cell = budgetLine!.slice('budget,'.length).replace(/^"/, '');
    t.equal(cell[0], "'", `${JSON.stringify(name)} is quoted: ${budgetLine}`);
    t.match(budgetLine!, /,1000\s*$/, 'the amount stays a number');
  }
});
