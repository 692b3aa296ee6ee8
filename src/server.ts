import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { DatabaseInUseError } from './errors.js';
import { openConfiguredDatabase, resolveJwtSecret } from './runtime.js';

/** Parses config, opens the database, builds the app, listens, and closes gracefully. */
async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const database = await openConfiguredDatabase(config);
  const jwtSecret = await resolveJwtSecret(config);
  const app = await buildApp({ config, database, jwtSecret });

  // On SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish (up to 10 s),
  // then close the database.
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    else app.log.info({ signal }, 'closing');
    // Each step says how long it took, so a close that runs out of grace shows where it waited.
    const started = Date.now();
    await app.close();
    app.log.info({ ms: Date.now() - started }, 'HTTP server and job queue closed');
    await database.close();
    app.log.info({ ms: Date.now() - started }, 'database closed');
  });

  await app.listen({ port: config.port, host: config.host });
  app.log.info(
    { database: database.kind, dataDir: config.database.kind === 'pglite' ? config.database.dataDir : undefined },
    `API ready: http://${config.host}:${config.port}/docs`,
  );
}

main().catch((error) => {
  console.error(error instanceof DatabaseInUseError ? error.message : error);
  process.exit(1);
});
