/**
 * The environment with every setting the service reads removed, so the developer's own shell
 * (or CI's TEST_DATABASE_URL) cannot change what a child process's run means.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(DATABASE_URL|TEST_DATABASE_URL|PGLITE_.*|PORT|HOST|LOG_LEVEL|DB_POOL_SIZE|LOGIN_RATE_LIMIT|REPORT_RATE_LIMIT|METRICS_TOKEN|PUBLIC_URL|PAYOUT_WORKERS|JWT_.*|STRIPE_.*|NODE_OPTIONS)$/.test(name)) {
      delete env[name];
    }
  }
  return env;
}
