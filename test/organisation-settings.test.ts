/**
 * The organisation's settings (docs/api-guide.md: `GET` and `PATCH /v1/organisation`):
 * defaults when nothing was set, a change that keeps the other settings, validation, roles,
 * tenancy and the audit trail.
 */
import { and, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { auditEvents, contributors, organisations } from '../src/db/schema.js';
import { auditEventColumns } from '../src/modules/audit/views.js';
import { newId } from '../src/lib/ids.js';
import { organisationSettings } from '../src/modules/organisations/settings.js';
import { appForThisFile, createTestOrg, json } from './helpers/app.js';

const app = await appForThisFile(t);

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

function assertProblem(t: TapTest, res: LightMyRequestResponse, status: number, code: string) {
  t.equal(res.statusCode, status, res.body);
  t.match(res.headers['content-type'], /^application\/problem\+json/, res.body);
  t.equal(json(res).code, code, res.body);
}

const patch = (headers: Record<string, string>, payload: unknown) => app.inject({ method: 'PATCH', url: '/v1/organisation', headers, payload: payload as object });

t.test('settings have their defaults until an admin changes them, and a change keeps the others', async (t) => {
  const org = await createTestOrg(app);
  const admin = await org.as('admin');

  const fresh = await app.inject({ method: 'GET', url: '/v1/organisation', headers: admin });
  t.equal(fresh.statusCode, 200, fresh.body);
  t.same(json(fresh).settings, { timeApprovalBySecondPerson: false, submittedTimeReminderDays: 3 });

  const first = await patch(admin, { settings: { timeApprovalBySecondPerson: true } });
  t.equal(first.statusCode, 200, first.body);
  t.same(json(first).settings, { timeApprovalBySecondPerson: true, submittedTimeReminderDays: 3 });

  const second = await patch(admin, { settings: { submittedTimeReminderDays: 7 } });
  t.equal(second.statusCode, 200, second.body);
  t.same(json(second).settings, { timeApprovalBySecondPerson: true, submittedTimeReminderDays: 7 }, 'the first change is kept');

  // Coordinators and finance read the settings in force too.
  const read = await app.inject({ method: 'GET', url: '/v1/organisation', headers: await org.as('coordinator') });
  t.equal(read.statusCode, 200, read.body);
  t.same(json(read).settings, { timeApprovalBySecondPerson: true, submittedTimeReminderDays: 7 });
  t.same(await organisationSettings(app.db, org.organisationId), { timeApprovalBySecondPerson: true, submittedTimeReminderDays: 7 });

  // Only what an admin set is stored; the defaults stay out of the row.
  const [row] = await app.db.select({ settings: organisations.settings }).from(organisations).where(eq(organisations.id, org.organisationId));
  t.same(row!.settings, { timeApprovalBySecondPerson: true, submittedTimeReminderDays: 7 });

  const off = await patch(admin, { name: 'Renamed', settings: { timeApprovalBySecondPerson: false } });
  t.equal(off.statusCode, 200, off.body);
  t.equal(json(off).name, 'Renamed');
  t.same(json(off).settings, { timeApprovalBySecondPerson: false, submittedTimeReminderDays: 7 });
});

t.test('each change is audited with the settings before and after', async (t) => {
  const org = await createTestOrg(app);
  const res = await patch(await org.as('admin'), { settings: { submittedTimeReminderDays: 10 } });
  t.equal(res.statusCode, 200, res.body);
  const events = await app.db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.action, 'organisation.updated')));
  t.equal(events.length, 1);
  t.match(events[0], {
    entityType: 'organisation',
    entityId: org.organisationId,
    actorType: 'user',
    before: { settings: { submittedTimeReminderDays: 3, timeApprovalBySecondPerson: false } },
    after: { settings: { submittedTimeReminderDays: 10, timeApprovalBySecondPerson: false } },
  });

  // An empty settings object changes nothing and records nothing.
  const none = await patch(await org.as('admin'), { settings: {} });
  t.equal(none.statusCode, 200, none.body);
  const after = await app.db
    .select(auditEventColumns)
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, org.organisationId), eq(auditEvents.action, 'organisation.updated')));
  t.equal(after.length, 1, 'no event for no change');
});

t.test('bad settings are refused with the failing field, and change nothing', async (t) => {
  const org = await createTestOrg(app);
  const admin = await org.as('admin');
  const bad: [unknown, string][] = [
    [{ settings: { submittedTimeReminderDays: 0 } }, 'settings.submittedTimeReminderDays'],
    [{ settings: { submittedTimeReminderDays: 61 } }, 'settings.submittedTimeReminderDays'],
    [{ settings: { submittedTimeReminderDays: 2.5 } }, 'settings.submittedTimeReminderDays'],
    [{ settings: { submittedTimeReminderDays: '3' } }, 'settings.submittedTimeReminderDays'],
    [{ settings: { timeApprovalBySecondPerson: 'yes' } }, 'settings.timeApprovalBySecondPerson'],
    [{ settings: { timeApprovalBySecondPerson: null } }, 'settings.timeApprovalBySecondPerson'],
    [{ settings: { somethingElse: true } }, 'settings'],
    [{ settings: 'on' }, 'settings'],
  ];
  for (const [body, field] of bad) {
    const res = await patch(admin, body);
    assertProblem(t, res, 400, 'validation_failed');
    t.match(JSON.stringify(json(res).errors), field, `${JSON.stringify(body)} names ${field}`);
  }
  const res = await patch(admin, { settings: { submittedTimeReminderDays: 60, timeApprovalBySecondPerson: true } });
  t.equal(res.statusCode, 200, 'the bounds themselves are allowed');
  await patch(admin, { settings: { submittedTimeReminderDays: 61 } });
  t.same(await organisationSettings(app.db, org.organisationId), { timeApprovalBySecondPerson: true, submittedTimeReminderDays: 60 });
});

t.test('only an admin changes settings, and only their own organisation', async (t) => {
  const org = await createTestOrg(app);
  for (const role of ['finance', 'coordinator', 'participant', 'reporter'] as const) {
    const headers =
      role === 'participant'
        ? await org.as(role, { contributorId: await contributorFor(org.organisationId) })
        : await org.as(role);
    assertProblem(t, await patch(headers, { settings: { timeApprovalBySecondPerson: true } }), 403, 'forbidden');
  }
  const other = await createTestOrg(app);
  const res = await patch(await other.as('admin'), { settings: { timeApprovalBySecondPerson: true } });
  t.equal(res.statusCode, 200, res.body);
  t.same(await organisationSettings(app.db, org.organisationId), { timeApprovalBySecondPerson: false, submittedTimeReminderDays: 3 }, 'untouched');
  t.same(await organisationSettings(app.db, other.organisationId), { timeApprovalBySecondPerson: true, submittedTimeReminderDays: 3 });
  const anonymous = await patch({}, { settings: { timeApprovalBySecondPerson: true } });
  t.equal(anonymous.statusCode, 401, anonymous.body);
});

async function contributorFor(organisationId: string): Promise<string> {
  const id = newId();
  await app.db.insert(contributors).values({ organisationId, id, name: 'Casey Contributor', kind: 'lived_experience', paymentMethod: 'bank_transfer' });
  return id;
}
