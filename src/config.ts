import { z } from 'zod';

/**
 * The whole configuration, parsed once at start from the environment.
 * Behaviour never switches on NODE_ENV: every difference between a test run, a demo and
 * production is one of these variables.
 */
const envSchema = z
  .object({
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    /**
     * The owner's connection, for migrations only. With it, the service itself connects as
     * DATABASE_URL's role and is granted rows only (src/db/roles.ts).
     */
    MIGRATION_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    /**
     * Where reports read: a read replica of DATABASE_URL (PostgreSQL only). Unset, reports read
     * DATABASE_URL. Reports may then lag the ledger by the replication lag (docs/operations.md).
     */
    REPORTS_DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    PGLITE_DIR: z.string().min(1).default('./data/pglite'),
    /**
     * The embedded database's buffer cache. PGlite lives in this process, so the cache is part of
     * its memory; PostgreSQL's own default (128MB) would double the service's footprint.
     */
    PGLITE_SHARED_BUFFERS: z.string().regex(/^\d+(kB|MB|GB)$/, 'must be a size such as 32MB').default('16MB'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    HOST: z.string().min(1).default('127.0.0.1'),
    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    JWT_ISSUER: z.string().min(1).default('coproduction-ledger'),
    JWT_AUDIENCE: z.string().min(1).default('coproduction-ledger-api'),
    JWT_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(900),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
    LOGIN_RATE_LIMIT: z.coerce.number().int().min(1).default(10),
    /**
     * argon2id's memory for new password hashes, in KiB: 19456 (19 MiB) is OWASP's advice; lower
     * only for tests. The upper bound is the most a stored hash may ask for (src/lib/secrets.ts).
     */
    PASSWORD_HASH_MEMORY_KIB: z.coerce.number().int().min(1024).max(262_144).default(19_456),
    /**
     * The least time a failed sign-in takes to answer, in milliseconds. Checking a password takes
     * as long as its hash's kind and cost make it (a scrypt hash from before argon2id about ten
     * times an argon2id one), so without a floor the time of a failure with a wrong password
     * could tell an account still on an old hash from an email with no account (which is
     * checked against a dummy argon2id hash). Only a test suite has reason to lower it.
     */
    FAILED_SIGN_IN_MIN_MS: z.coerce.number().int().min(0).max(10_000).default(1000),
    /** scrypt's cost, from before passwords were hashed with argon2id: refused below, so nobody relies on it. */
    PASSWORD_HASH_COST: z.string().optional(),
    /** Report requests a minute per token: one script cannot hold the database's connections. */
    REPORT_RATE_LIMIT: z.coerce.number().int().min(1).default(60),
    // How long a contributor's records are kept after their last payment or work: HMRC asks for
    // six years of payment records. Nothing is deleted automatically (see docs/personal-data.md).
    RETENTION_YEARS: z.coerce.number().int().min(1).max(100).default(6),
    STRIPE_SECRET_KEY: z.string().min(1).optional(),
    // One signing secret, or several separated by commas: Stripe signs the platform's own events
    // and connected accounts' events at two endpoints, each with its own secret.
    STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
    STRIPE_API_BASE: z.url().optional(),
    STRIPE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(20_000),
    /** Stripe requests a second from this process's payout worker (Stripe's live limit is 100). */
    STRIPE_MAX_RPS: z.coerce.number().int().min(1).max(1000).default(25),
    PAYOUT_WORKERS: z.coerce.number().int().min(0).max(64).default(4),
    PUBLIC_URL: z.url().optional(),
    /** Where email goes (smtp:// or smtps://, credentials in the URL); without it messages stay queued. */
    SMTP_URL: z.url({ protocol: /^smtps?$/ }).optional(),
    /** The From address of every email. */
    MAIL_FROM: z.string().min(3).default('Co-production payments <payments@localhost>'),
    /**
     * How long one email may take to send (connecting, greeting, each SMTP reply). A message whose
     * sender died is sent again after twice this.
     */
    MAIL_SEND_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(30),
    /**
     * Re-read the page templates (src/web/views) on every render, so an edit shows without a
     * restart: for working on the pages. Off by default: templates are read once and cached.
     */
    WEB_TEMPLATE_RELOAD: z.stringbool().default(false),
    /**
     * The bearer token Prometheus must send to read /metrics (at least 16 characters). Without
     * it /metrics is off: request counts and timings are not for the public.
     */
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Trust X-Forwarded-For from a proxy in front (true, a hop count, or addresses); off by default. */
    TRUST_PROXY: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v === '' || v === 'false' ? false : v === 'true' ? true : /^\d+$/.test(v) ? Number(v) : v)),
  })
  .superRefine((env, ctx) => {
    if (env.PASSWORD_HASH_COST !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['PASSWORD_HASH_COST'],
        message: 'set the cost of scrypt, which new passwords no longer use: remove it (PASSWORD_HASH_MEMORY_KIB sets argon2id\'s memory)',
      });
    }
    if (env.MIGRATION_DATABASE_URL && !env.DATABASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['MIGRATION_DATABASE_URL'], message: 'needs DATABASE_URL (the service role) beside it' });
    }
    if (env.REPORTS_DATABASE_URL && !env.DATABASE_URL) {
      ctx.addIssue({ code: 'custom', path: ['REPORTS_DATABASE_URL'], message: 'needs DATABASE_URL: the embedded database has no replica (reports read it directly)' });
    }
    if (env.DATABASE_URL && !env.JWT_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET'],
        message: 'is required when DATABASE_URL is set (embedded mode generates one beside the data)',
      });
    }
  });

export type Env = z.infer<typeof envSchema>;

export interface Config {
  database:
    | { kind: 'postgres'; url: string; poolSize: number; migrationUrl?: string; reportsUrl?: string }
    | { kind: 'pglite'; dataDir: string; sharedBuffers?: string };
  port: number;
  host: string;
  /** Absent only in embedded mode before the secret file is read; see resolveJwtSecret. */
  jwtSecret: string | undefined;
  jwt: { issuer: string; audience: string; ttlSeconds: number };
  logLevel: Env['LOG_LEVEL'];
  loginRateLimit: number;
  /** argon2id's memory for new password hashes, in KiB (PASSWORD_HASH_MEMORY_KIB). */
  passwordHashMemoryKib: number;
  /** The least time a failed sign-in takes to answer (FAILED_SIGN_IN_MIN_MS). */
  failedSignInMinMs: number;
  reportRateLimit: number;
  /** Years a contributor's records are kept after their last payment or work (RETENTION_YEARS). */
  retentionYears: number;
  stripe: { secretKey?: string; webhookSecrets: string[]; apiBase?: string; timeoutMs: number; maxRequestsPerSecond: number };
  /** Concurrent payout jobs in this process; 0 runs none here (another process works the queue). */
  payoutWorkers: number;
  publicUrl?: string;
  /** Email: undefined `smtpUrl` sends nothing (messages stay queued). */
  mail: { smtpUrl?: string; from: string; sendTimeoutMs: number };
  /** The web pages: whether templates are re-read on every render (WEB_TEMPLATE_RELOAD). */
  web: { templateReload: boolean };
  /** Fastify's trustProxy: only behind a proxy that sets X-Forwarded-For may clients' addresses come from it. */
  trustProxy: boolean | number | string;
  /** Bearer token for /metrics; undefined switches /metrics off. */
  metricsToken: string | undefined;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // A variable set to nothing (as Docker Compose passes one missing from .env) is unset.
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(environment)'}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    database: e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL, poolSize: e.DB_POOL_SIZE, migrationUrl: e.MIGRATION_DATABASE_URL, reportsUrl: e.REPORTS_DATABASE_URL }
      : { kind: 'pglite', dataDir: e.PGLITE_DIR, sharedBuffers: e.PGLITE_SHARED_BUFFERS },
    port: e.PORT,
    host: e.HOST,
    jwtSecret: e.JWT_SECRET,
    jwt: { issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE, ttlSeconds: e.JWT_TTL_SECONDS },
    logLevel: e.LOG_LEVEL,
    loginRateLimit: e.LOGIN_RATE_LIMIT,
    passwordHashMemoryKib: e.PASSWORD_HASH_MEMORY_KIB,
    failedSignInMinMs: e.FAILED_SIGN_IN_MIN_MS,
    retentionYears: e.RETENTION_YEARS,
    reportRateLimit: e.REPORT_RATE_LIMIT,
    stripe: {
      secretKey: e.STRIPE_SECRET_KEY,
      webhookSecrets: (e.STRIPE_WEBHOOK_SECRET ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      apiBase: e.STRIPE_API_BASE,
      timeoutMs: e.STRIPE_TIMEOUT_MS,
      maxRequestsPerSecond: e.STRIPE_MAX_RPS,
    },
    payoutWorkers: e.PAYOUT_WORKERS,
    publicUrl: e.PUBLIC_URL,
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM, sendTimeoutMs: e.MAIL_SEND_TIMEOUT_SECONDS * 1000 },
    web: { templateReload: e.WEB_TEMPLATE_RELOAD },
    metricsToken: e.METRICS_TOKEN,
    trustProxy: e.TRUST_PROXY,
  };
}
