/**
 * The grant report page (/finance/report) for a reporting period: the form's first and last
 * day, what the page says of the period, the CSV downloads of the budget and of the project for
 * the same period, and a refused period said beside its field. The page calls the API as the
 * signed-in user, so its figures are the API's (test/reports-period.test.ts tests those).
 */
import t from 'tap';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';
import { fundedBudget, owedContributor } from './helpers/fixtures.js';
import { text, WebClient } from './helpers/web.js';

const app = await appForThisFile(t);

t.test('the report page for a period, and its downloads', async (t) => {
  const org = await createTestOrg(app);
  const { budgetId, projectId, finance } = await fundedBudget(app, org);
  // 2 hours (£40) on 2 March 2026, and one hour on 1 April.
  const { contributorId } = await owedContributor(app, org, budgetId, { hours: 2 });
  const coordinator = await org.as('coordinator');
  const entry = json(
    await app.inject({ method: 'POST', url: '/v1/time-entries', headers: coordinator, payload: { contributorId, budgetId, activity: 'meeting', date: '2026-04-01', minutes: 60 } }),
  );
  t.equal((await app.inject({ method: 'POST', url: `/v1/time-entries/${entry.id}/approve`, headers: coordinator })).statusCode, 200);

  const page = new WebClient(app).withToken(await org.tokenFor('finance'));
  const all = await page.get(`/finance/report?budgetId=${budgetId}`);
  t.equal(all.statusCode, 200, all.body);
  t.notMatch(all.body, 'data-testid="period"', 'no period without days');
  t.match(text(all.body), 'March 2026 £40.00');
  t.match(text(all.body), 'April 2026 £20.00');

  const q2 = await page.get(`/finance/report?budgetId=${budgetId}&from=2026-04-01&to=2026-06-30`);
  t.equal(q2.statusCode, 200, q2.body);
  const shown = text(q2.body);
  t.match(shown, 'Reporting period: 1 April 2026 to 30 June 2026.');
  t.match(shown, 'April 2026 £20.00');
  t.notMatch(shown, 'March 2026 £40.00', "March's work is not in the second quarter");
  t.match(shown, 'Committed £60.00', 'committed as at 30 June: both entries');
  t.match(q2.body, 'value="2026-04-01"', 'the form keeps the first day');
  t.match(q2.body, 'value="2026-06-30"');

  const budgetCsvLink = `/finance/report.csv?budgetId=${budgetId}&amp;from=2026-04-01&amp;to=2026-06-30`;
  const projectCsvLink = `/finance/project-report.csv?projectId=${projectId}&amp;from=2026-04-01&amp;to=2026-06-30`;
  t.match(q2.body, budgetCsvLink);
  t.match(q2.body, projectCsvLink);
  for (const [link, apiUrl] of [
    [budgetCsvLink, `/v1/reports/budgets/${budgetId}?from=2026-04-01&to=2026-06-30&format=csv`],
    [projectCsvLink, `/v1/reports/projects/${projectId}?from=2026-04-01&to=2026-06-30&format=csv`],
  ] as const) {
    const download = await page.get(link.replaceAll('&amp;', '&'));
    t.equal(download.statusCode, 200, download.body);
    t.match(download.headers['content-type'], /^text\/csv/);
    t.match(download.headers['content-disposition'], /attachment; filename=".*-2026-04-01-to-2026-06-30\.csv"/);
    const fromApi = await app.inject({ method: 'GET', url: apiUrl, headers: finance });
    t.equal(download.body, fromApi.body, `${link} is the API's CSV`);
    t.match(download.body, /\nperiod_from,(,)?2026-04-01,/);
  }

  const backwards = await page.get(`/finance/report?budgetId=${budgetId}&from=2026-04-01&to=2026-03-01`);
  t.equal(backwards.statusCode, 400, backwards.body);
  t.match(text(backwards.body), 'There is a problem');
  t.match(text(backwards.body), 'The last day must not be before the first day');
  t.match(backwards.body, 'href="#to"', 'the error summary links to the field');
  const notADate = await page.get(`/finance/report?budgetId=${budgetId}&from=2026-02-30`);
  t.equal(notADate.statusCode, 400);
  t.match(text(notADate.body), 'The first day must be a real date written YYYY-MM-DD');

  const reporter = new WebClient(app).withToken(await org.tokenFor('reporter'));
  t.equal((await reporter.get(`/finance/report?budgetId=${budgetId}&from=2026-04-01`)).statusCode, 403, 'the page is for finance');
  t.equal((await reporter.get(`/finance/project-report.csv?projectId=${projectId}`)).statusCode, 403);
});
