import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Config } from './config.js';
import { analyzeIfEmbedded, openDatabase, REPORTS_APPLICATION_NAME, withReportsDatabase, type Database } from './db/client.js';
import { grantServiceRole, roleOf } from './db/roles.js';
import { installJobQueue } from './jobs/queue.js';

/**
 * The JWT secret. With PostgreSQL it must be configured (several instances share it); in
 * embedded mode it is generated once and kept beside the data directory, mode 0600, so tokens
 * survive a restart without the user setting anything.
 */
export async function resolveJwtSecret(config: Config): Promise<string> {
  if (config.jwtSecret) return config.jwtSecret;
  if (config.database.kind !== 'pglite') throw new Error('JWT_SECRET is required when DATABASE_URL is set');
  if (config.database.dataDir.startsWith('memory://')) return randomBytes(32).toString('base64url');
  const file = join(dirname(resolve(config.database.dataDir)), 'jwt-secret');
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing.length >= 32) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(32).toString('base64url');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, secret + '\n', { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  return (await readFile(file, 'utf8')).trim();
}

/**
 * Opens the configured database and applies pending migrations. With MIGRATION_DATABASE_URL
 * the migrations (and the job queue's tables) are applied as the owner, the service's role is
 * granted rows only, and the service connects as that role without migrating. With
 * REPORTS_DATABASE_URL a second, read-only pool to the replica is opened beside it (reports
 * read there) and closed with it; it connects on first use, so a replica that is down does not
 * stop the service starting.
 */
export async function openConfiguredDatabase(config: Config): Promise<Database> {
  const database = await openPrimaryDatabase(config);
  const settings = config.database;
  if (settings.kind !== 'postgres' || !settings.reportsUrl) return database;
  const reports = await openDatabase({
    kind: 'postgres',
    url: settings.reportsUrl,
    poolSize: settings.poolSize,
    readOnly: true,
    applicationName: REPORTS_APPLICATION_NAME,
  });
  return withReportsDatabase(database, reports);
}

async function openPrimaryDatabase(config: Config): Promise<Database> {
  const settings = config.database;
  if (settings.kind === 'postgres' && settings.migrationUrl) {
    const owner = await openDatabase({ kind: 'postgres', url: settings.migrationUrl, poolSize: 2 });
    try {
      await owner.migrate();
      await installJobQueue(owner);
    } finally {
      await owner.close();
    }
    const role = roleOf(settings.url);
    if (role !== roleOf(settings.migrationUrl)) await grantServiceRole(settings.migrationUrl, role);
    return openDatabase(settings);
  }
  const database = await openDatabase(config.database);
  try {
    await database.migrate();
    await analyzeIfEmbedded(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}
