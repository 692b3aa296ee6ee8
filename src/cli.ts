import { inspect, parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, loadConfig, type Config } from './config.js';
import { AppError, DatabaseInUseError } from './errors.js';
import { withoutEmails } from './lib/log-redaction.js';

// What a command needs (the database driver, the app's services) is imported when the command
// runs: help and a mistyped command answer in half a second, not the one and a half that loading
// every module takes.
async function openConfiguredDatabase(config: Config) {
  const { openConfiguredDatabase } = await import('./runtime.js');
  return openConfiguredDatabase(config);
}

const usage = `Usage: npm run cli -- <command> [options]

Commands:
  migrate                                  apply pending database migrations
  create-org --name <name> --admin-email <email> --admin-password <password>
                                           create an organisation and its first admin;
                                           prints {"organisationId": "...", "adminUserId": "..."}
  reconcile --org <organisationId> [--since-days 30]
                                           check Stripe transfers against the ledger's payout
                                           items; prints the mismatches as JSON, exits 1 if any
  retention [--org <organisationId>] [--years N]
                                           list contributors whose records are past the
                                           retention period (RETENTION_YEARS, 6 by default)
                                           after their last payment or work, as JSON lines;
                                           deletes nothing (erase with the API)
  demo                                     load a demo organisation with six months of data and
                                           print its log-ins
  rebuild-rollups [--org <organisationId>]
                                           recompute the reports' rollups from the approved
                                           work, one transaction per organisation; prints what
                                           each changed as JSON lines (added, corrected, removed)

The database is chosen as for npm start: DATABASE_URL for PostgreSQL, else PGlite in PGLITE_DIR.`;

const createOrgArgs = z.object({
  name: z.string('--name is required').trim().min(1, '--name is required'),
  'admin-email': z.email('--admin-email must be an email address'),
  'admin-password': z.string('--admin-password is required').min(12, '--admin-password must be at least 12 characters'),
});

/** New password hashes at PASSWORD_HASH_MEMORY_KIB, as the server makes them (src/app.ts). */
async function hashPasswordsAsConfigured(config: Config): Promise<void> {
  const { setPasswordHashMemory } = await import('./lib/secrets.js');
  setPasswordHashMemory(config.passwordHashMemoryKib);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    console.log(usage);
    return command ? 0 : 2;
  }
  const config = loadConfig();

  switch (command) {
    case 'migrate': {
      const database = await openConfiguredDatabase(config);
      await database.close();
      console.error(`Migrations applied (${database.kind}).`);
      return 0;
    }
    case 'create-org': {
      const { values } = parseArgs({
        args: rest,
        options: { name: { type: 'string' }, 'admin-email': { type: 'string' }, 'admin-password': { type: 'string' } },
      });
      const parsed = createOrgArgs.safeParse(values);
      if (!parsed.success) {
        console.error(parsed.error.issues.map((i) => i.message).join('\n') + '\n\n' + usage);
        return 2;
      }
      const { createOrganisation } = await import('./modules/organisations/service.js');
      await hashPasswordsAsConfigured(config);
      const database = await openConfiguredDatabase(config);
      try {
        const result = await createOrganisation(database.db, {
          name: parsed.data.name,
          adminEmail: parsed.data['admin-email'],
          adminPassword: parsed.data['admin-password'],
        });
        console.log(JSON.stringify(result));
        return 0;
      } finally {
        await database.close();
      }
    }
    case 'reconcile': {
      const { values } = parseArgs({ args: rest, options: { org: { type: 'string' }, 'since-days': { type: 'string' } } });
      const parsed = z
        .object({ org: z.uuid('--org must be an organisation id'), 'since-days': z.coerce.number().int().min(1).max(400).default(30) })
        .safeParse(values);
      if (!parsed.success) {
        console.error(parsed.error.issues.map((i) => i.message).join('\n') + '\n\n' + usage);
        return 2;
      }
      const { createStripeClient, createStripeGate } = await import('./lib/stripe.js');
      const { reconcileStripe } = await import('./modules/payouts/reconcile.js');
      const stripe = createStripeClient(config.stripe);
      if (!stripe) {
        console.error('STRIPE_SECRET_KEY is not set: there is nothing to reconcile against.');
        return 2;
      }
      const database = await openConfiguredDatabase(config);
      try {
        const since = new Date(Date.now() - parsed.data['since-days'] * 86_400_000);
        const result = await reconcileStripe(database.db, stripe, parsed.data.org, since, createStripeGate(config.stripe.maxRequestsPerSecond));
        console.log(JSON.stringify(result, null, 2));
        return result.mismatches.length ? 1 : 0;
      } finally {
        await database.close();
      }
    }
    case 'retention': {
      const { values } = parseArgs({ args: rest, options: { org: { type: 'string' }, years: { type: 'string' } } });
      const parsed = z
        .object({ org: z.uuid('--org must be an organisation id').optional(), years: z.coerce.number().int().min(1).max(100).default(config.retentionYears) })
        .safeParse(values);
      if (!parsed.success) {
        console.error(parsed.error.issues.map((i) => i.message).join('\n') + '\n\n' + usage);
        return 2;
      }
      const { londonDate } = await import('./domain/uk-time.js');
      const { contributorsPastRetention } = await import('./modules/personal-data/retention.js');
      const database = await openConfiguredDatabase(config);
      try {
        const today = londonDate(new Date());
        const past = await contributorsPastRetention(database.db, parsed.data.years, today, parsed.data.org);
        // Ids and dates only: the list goes to whoever runs the command, not only to an admin.
        for (const row of past) console.log(JSON.stringify(row));
        console.error(
          `${past.length} contributor${past.length === 1 ? '' : 's'} past ${parsed.data.years} years after their last payment or work (today is ${today}). ` +
            'Nothing was deleted: an admin erases with POST /v1/contributors/{id}/erase.',
        );
        return 0;
      } finally {
        await database.close();
      }
    }
    case 'rebuild-rollups': {
      const { values } = parseArgs({ args: rest, options: { org: { type: 'string' } } });
      const parsed = z.object({ org: z.uuid('--org must be an organisation id').optional() }).safeParse(values);
      if (!parsed.success) {
        console.error(parsed.error.issues.map((i) => i.message).join('\n') + '\n\n' + usage);
        return 2;
      }
      const { organisations } = await import('./db/schema.js');
      const { rebuildRollups } = await import('./modules/reports/rollups.js');
      const database = await openConfiguredDatabase(config);
      try {
        const ids = parsed.data.org
          ? [parsed.data.org]
          : (await database.db.select({ id: organisations.id }).from(organisations).orderBy(organisations.id)).map((o) => o.id);
        let changed = 0;
        for (const id of ids) {
          const repair = await rebuildRollups(database.db, id);
          changed += repair.added + repair.corrected + repair.removed;
          console.log(JSON.stringify(repair));
        }
        console.error(`Rollups rebuilt for ${ids.length} organisation${ids.length === 1 ? '' : 's'}: ${changed} row${changed === 1 ? '' : 's'} changed.`);
        return 0;
      } finally {
        await database.close();
      }
    }
    case 'demo': {
      const { loadDemo } = await import('./demo.js');
      await hashPasswordsAsConfigured(config);
      const database = await openConfiguredDatabase(config);
      try {
        const demo = await loadDemo(database.db, new Date(), (line) => console.error(withoutEmails(`demo: ${line}`)));
        console.log(`Demo organisation ${demo.organisationId} loaded.\n`);
        console.log(`Every user's password: ${demo.password}\n`);
        for (const login of demo.logins) console.log(`  ${login.role.padEnd(12)} ${login.email}`);
        console.log(`\nReporter API token (for scripts): ${demo.reporterToken}`);
        console.log(`\nTry: curl -s http://127.0.0.1:${config.port}/v1/reports/distribution -H "Authorization: Bearer ${demo.reporterToken}"`);
        return 0;
      } finally {
        await database.close();
      }
    }
    default:
      console.error(withoutEmails(`Unknown command: ${command}\n\n${usage}`));
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    // An error may quote what was typed or stored (an address pasted twice, a database error's
    // detail): what is printed leaves email addresses out (lib/log-redaction.ts).
    const say = (text: string) => console.error(withoutEmails(text));
    if (error instanceof ConfigError || error instanceof DatabaseInUseError) say(error.message);
    else if (error instanceof AppError) say(`${error.code}: ${error.detail}`);
    else if (error instanceof Error && error.name === 'TypeError' && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) say(`${error.message}\n\n${usage}`);
    else say(inspect(error));
    process.exit(1);
  },
);
