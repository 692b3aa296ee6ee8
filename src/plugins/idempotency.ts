import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Db } from '../db/client.js';
import { idempotencyKeys } from '../db/schema.js';
import { AppError } from '../errors.js';
import { holdIdempotencyRecord } from '../lib/held-writes.js';
import { problemDocument } from '../lib/problem.js';

/** Thrown inside a request's transaction to answer with a stored response instead. */
export class IdempotentReplay extends Error {
  override name = 'IdempotentReplay';
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super('idempotent replay');
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The response carries a secret shown once (an API token, an invite): the stored copy for
     * idempotent replay is encrypted, never kept in the clear.
     */
    sensitiveResponse?: boolean;
  }
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
export const IDEMPOTENCY_RETENTION_HOURS = 24;

/** Key order in the body does not change the request, so hash a canonical form. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

function requestHash(request: FastifyRequest): string {
  const path = request.url.split('?')[0];
  return createHash('sha256')
    .update(JSON.stringify([request.method, path, canonical(request.body ?? null)]))
    .digest('hex');
}

/** Whether the request carries an Idempotency-Key (so a retry of it is answered, never redone). */
export const hasIdempotencyKey = (request: FastifyRequest): boolean => request.headers['idempotency-key'] !== undefined;

/** Each route's success status, worked out once per route. */
const successStatuses = new WeakMap<object, number>();

/** The 2xx status a route answers with, from its response schema (201 for creation). */
export function successStatus(request: FastifyRequest): number {
  const response = (request.routeOptions.schema?.response ?? {}) as Record<string, unknown>;
  let status = successStatuses.get(response);
  if (status === undefined) {
    const codes = Object.keys(response)
      .map(Number)
      .filter((c) => c >= 200 && c < 300)
      .sort((a, b) => a - b);
    status = codes[0] ?? 200;
    successStatuses.set(response, status);
  }
  return status;
}

/** AES-256-GCM under a key derived from the service secret, for stored responses that hold secrets. */
export type ResponseSealer = ReturnType<typeof responseSealer>;
function responseSealer(secret: string) {
  const key = Buffer.from(hkdfSync('sha256', secret, 'idempotency', 'stored-response-v1', 32));
  return {
    isSealed(stored: unknown): boolean {
      return typeof stored === 'object' && stored !== null && (stored as { sealed?: unknown }).sealed === 'v1';
    },
    seal(body: unknown) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([cipher.update(JSON.stringify(body), 'utf8'), cipher.final()]);
      return { sealed: 'v1', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
    },
    open(stored: unknown) {
      const s = stored as { sealed?: string; iv: string; tag: string; data: string } | null;
      if (!s || s.sealed !== 'v1') return stored;
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(s.iv, 'base64'));
      decipher.setAuthTag(Buffer.from(s.tag, 'base64'));
      return JSON.parse(Buffer.concat([decipher.update(Buffer.from(s.data, 'base64')), decipher.final()]).toString('utf8'));
    },
  };
}

/**
 * Takes part in each request's transaction (src/plugins/transaction.ts): with an Idempotency-Key
 * header the stored response is written in the same transaction as the request's work, so the
 * effect and the record of it commit together: a crash can never leave an effect without its
 * key, or a key without its effect. A rejected request (4xx) is stored too, in a transaction of
 * its own.
 */
async function idempotencyPlugin(app: FastifyInstance, options: { secret: string }) {
  const sealer = responseSealer(options.secret);
  // Erasure rewrites stored responses that repeated a person's data (modules/personal-data).
  app.decorate('storedResponseSealer', sealer);
  app.aroundTransaction(async (request, fn, begin) => {
    const header = request.headers['idempotency-key'];
    const key = Array.isArray(header) ? header[0] : header;
    const principal = request.principal;
    if (request.method !== 'POST' || key === undefined || !principal) return begin(fn);
    if (!KEY_PATTERN.test(key)) {
      throw new AppError('validation_failed', 'The Idempotency-Key header must be 1 to 255 visible ASCII characters.', {
        errors: [{ field: 'headers.idempotency-key', message: 'must be 1 to 255 visible ASCII characters' }],
      });
    }
    const organisationId = principal.organisationId;
    const hash = requestHash(request);
    const status = successStatus(request);

    /** Answers from a stored record (replay, or 422 for another request), if there is one. */
    const answerFrom = (stored: { requestHash: string; responseStatus: number; responseBody: unknown } | undefined) => {
      if (!stored) return;
      if (stored.requestHash !== hash) {
        throw new AppError('idempotency_key_reused', 'This Idempotency-Key was already used with a different request.');
      }
      throw new IdempotentReplay(stored.responseStatus, sealer.open(stored.responseBody));
    };
    const checkStored = async (db: Db) => {
      const [stored] = await db
        .select()
        .from(idempotencyKeys)
        .where(and(eq(idempotencyKeys.organisationId, organisationId), eq(idempotencyKeys.key, key)));
      answerFrom(stored);
    };

    try {
      return await begin(async (tx) => {
        // The transaction-scoped advisory lock marks the key as in flight: a second request
        // with the same key finds it taken and answers 409 rather than waiting. The same
        // statement reads the stored record, if any. Its snapshot is taken before the lock, so a
        // first request that commits in between (releasing the lock) is not seen here; this one
        // then fails to store its own record under the same key (the primary key), or is
        // refused because the first one's effect is there, and the catch below answers with the
        // first one's record. Nothing this attempt did survives its rollback.
        const [claim] = await tx
          .execute<{ locked: boolean; request_hash: string | null; response_status: number | null; response_body: unknown }>(
            sql`select pg_try_advisory_xact_lock(hashtextextended(${organisationId + ':' + key}, 0)) as locked,
                       s.request_hash, s.response_status, s.response_body
                  from (select 1) as one
                  left join ${idempotencyKeys} s on s.organisation_id = ${organisationId} and s.key = ${key}`,
          )
          .then((r) => (r as unknown as { rows: { locked: boolean; request_hash: string | null; response_status: number | null; response_body: unknown }[] }).rows);
        if (!claim?.locked) {
          throw new AppError('idempotency_key_in_flight', 'A request with this Idempotency-Key is still running. Retry shortly.');
        }
        // (node-postgres and PGlite both hand jsonb back parsed.)
        if (claim.request_hash !== null) {
          answerFrom({ requestHash: claim.request_hash, responseStatus: claim.response_status!, responseBody: claim.response_body });
        }
        const result = await fn(tx);
        // Stored once, with the response as it is sent: held and written with the request's
        // audit events in one statement at the end of the transaction (src/lib/held-writes.ts).
        // (Held rows are serialised as JSON when written, which turns dates into ISO strings as
        // the response does.)
        const responseBody = request.routeOptions.config.sensitiveResponse ? sealer.seal(result ?? null) : (result ?? null);
        const record = { organisation_id: organisationId, key, request_hash: hash, response_status: status, response_body: responseBody };
        if (!holdIdempotencyRecord(tx, record)) {
          await tx.insert(idempotencyKeys).values({ organisationId, key, requestHash: hash, responseStatus: status, responseBody: JSON.parse(JSON.stringify(responseBody)) });
        }
        return result;
      });
    } catch (error) {
      // A first request with this key that committed after this one looked (see above) holds
      // the answer: the same one, whatever this attempt ran into.
      // (If that look fails too, the database is away: the original error stands.)
      if (!(error instanceof IdempotentReplay) && !(error instanceof AppError && isIdempotencyError(error))) {
        await checkStored(app.db).catch((e: unknown) => {
          if (e instanceof IdempotentReplay || (e instanceof AppError && isIdempotencyError(e))) throw e;
        });
      }
      if (error instanceof AppError && error.status < 500 && !isIdempotencyError(error)) {
        // Remember the refusal too, so a retry of the same request gets the same answer.
        const body = problemDocument(error.code, error.detail, error.extras, request);
        await app.db
          .insert(idempotencyKeys)
          .values({ organisationId, key, requestHash: hash, responseStatus: error.status, responseBody: body })
          .onConflictDoNothing()
          .catch((e: unknown) => request.log.warn({ err: e }, 'could not store idempotent refusal'));
      }
      throw error;
    }
  });

  /**
   * Keys are kept at least 24 hours; older ones are removed by the maintenance job, which runs
   * this as its handler. By default "now" is the app's clock.
   */
  app.decorate('purgeIdempotencyKeys', async (now: Date = app.now()) => {
    const cutoff = new Date(now.getTime() - IDEMPOTENCY_RETENTION_HOURS * 3_600_000);
    await app.db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, cutoff));
  });
}

const isIdempotencyError = (e: AppError) => e.code === 'idempotency_key_in_flight' || e.code === 'idempotency_key_reused';

declare module 'fastify' {
  interface FastifyInstance {
    purgeIdempotencyKeys(now?: Date): Promise<void>;
    storedResponseSealer: ResponseSealer;
  }
}

export default fp(idempotencyPlugin, { name: 'idempotency', dependencies: ['database', 'transaction'] });
