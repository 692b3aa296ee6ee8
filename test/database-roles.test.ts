import t from 'tap';
import { buildApp } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { openConfiguredDatabase } from '../src/runtime.js';
import { createTestOrg } from './helpers/app.js';
import { fundedBudget, owedContributor } from './helpers/fixtures.js';
import { runAsAdmin } from './helpers/database.js';

/**
 * Least privilege (#17): migrations run as the owner, the service as a role that reads and
 * writes rows and nothing else. Were the service's credentials stolen, they could not rewrite
 * the books: no UPDATE of a posting, no ALTER TABLE … DISABLE TRIGGER, no TRUNCATE of the audit.
 */
t.test('MIGRATION_DATABASE_URL needs DATABASE_URL, the service role, beside it', async (t) => {
  t.throws(() => loadConfig({ MIGRATION_DATABASE_URL: 'postgres://owner@127.0.0.1/ledger' }), ConfigError);
  const config = loadConfig({ DATABASE_URL: 'postgres://svc@db/ledger', MIGRATION_DATABASE_URL: 'postgres://owner@db/ledger', JWT_SECRET: 'x'.repeat(32) });
  t.match(config.database, { kind: 'postgres', url: 'postgres://svc@db/ledger', migrationUrl: 'postgres://owner@db/ledger' });
});

const base = process.env.TEST_DATABASE_URL;
if (base) {
  t.test('the service role can write rows but cannot change the ledger, its triggers or the audit', async (t) => {
    const suffix = `${process.pid}`;
    const dbName = `ledger_roles_${suffix}`;
    const role = `ledger_service_${suffix}`;
    const admin = (statement: string) => runAsAdmin(base, statement);
    await admin(`drop database if exists ${dbName} with (force)`);
    await admin(`drop role if exists ${role}`);
    await admin(`create database ${dbName}`);
    await admin(`create role ${role} login`);
    const ownerUrl = new URL(base);
    ownerUrl.pathname = `/${dbName}`;
    const serviceUrl = new URL(ownerUrl);
    serviceUrl.username = role;
    t.teardown(async () => {
      await admin(`drop database if exists ${dbName} with (force)`);
      await admin(`drop role if exists ${role}`);
    });

    const config = loadConfig({
      DATABASE_URL: serviceUrl.toString(),
      MIGRATION_DATABASE_URL: ownerUrl.toString(),
      JWT_SECRET: 'a-test-secret-that-is-long-enough-0123456789',
      LOG_LEVEL: 'silent',
      PASSWORD_HASH_MEMORY_KIB: '1024',
      FAILED_SIGN_IN_MIN_MS: '0',
      PAYOUT_WORKERS: '1',
    });
    const database = await openConfiguredDatabase(config);
    const app = await buildApp({ config, database, jwtSecret: config.jwtSecret!, jobs: true });
    await app.ready();
    t.teardown(async () => {
      await app.close();
      await database.close();
    });

    // The service works as that role: an organisation, a funded budget, approved time, a run.
    const org = await createTestOrg(app);
    const { budgetId } = await fundedBudget(app, org);
    await owedContributor(app, org, budgetId);
    const run = await app.inject({ method: 'POST', url: '/v1/payout-runs', headers: await org.as('finance'), payload: { currency: 'GBP' } });
    t.equal(run.statusCode, 201, run.body);
    const [who] = (await database.pool!.query('select current_user as name')).rows;
    t.equal(who.name, role, 'the service connects as its own role');

    const refused = async (statement: string, what: string) => {
      const error = await database.pool!.query(statement).then(
        () => null,
        (e: { code?: string }) => e,
      );
      t.equal(error?.code, '42501', `${what}: refused for lack of privilege`);
    };
    await refused('update ledger_postings set amount = amount', 'UPDATE ledger_postings');
    await refused('delete from ledger_postings', 'DELETE FROM ledger_postings');
    await refused('alter table ledger_postings disable trigger all', 'ALTER TABLE … DISABLE TRIGGER');
    await refused('truncate audit_events', 'TRUNCATE audit_events');
    await refused('delete from audit_events', 'DELETE FROM audit_events');
    await refused('drop table payout_items', 'DROP TABLE');
    await refused('create table smuggled (id int)', 'CREATE TABLE');
    await refused('alter table pgboss.job disable trigger all', "ALTER the job queue's tables");
  });
} else {
  t.comment('The role checks need PostgreSQL: they run in the PostgreSQL pass (TEST_DATABASE_URL).');
}
