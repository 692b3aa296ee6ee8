import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DrizzleQueryError } from 'drizzle-orm';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { isDatabaseUnavailable } from '../db/client.js';
import { pgErrorCode } from '../db/tx.js';
import { AppError, errorCodes, type ErrorCode, type FieldError } from '../errors.js';
import { PROBLEM_CONTENT_TYPE, problemDocument } from '../lib/problem.js';
import { IdempotentReplay } from './idempotency.js';

/**
 * Renders a problem+json document (RFC 9457) with the stable code and optional extras. Sent as
 * text it bypasses the routes' response serialisers: the error statuses a route declares in its
 * schema document it (src/lib/openapi.ts), and every member (`headroom`, `duplicateOf`,
 * `errors`, ...) reaches the client as it was thrown.
 */
export function sendProblem(
  reply: FastifyReply,
  code: ErrorCode,
  detail: string,
  extras: { errors?: FieldError[]; [member: string]: unknown } = {},
): FastifyReply {
  return reply
    .code(errorCodes[code].status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problemDocument(code, detail, extras, reply.request)));
}

function zodIssuesToFields(error: FastifyError): FieldError[] {
  const context = (error as { validationContext?: string }).validationContext ?? 'body';
  return (error.validation ?? []).map((issue) => {
    // fastify-type-provider-zod puts the zod issue's own members (keys, …) in params and its
    // path in instancePath.
    const keys = (issue.params as { keys?: unknown } | undefined)?.keys;
    const path = String(issue.instancePath ?? '').split('/').filter(Boolean);
    // An unknown field: name the field itself, not the object it was found in.
    if (Array.isArray(keys) && keys.length) {
      return keys.map((key) => ({ field: [context, ...path, String(key)].join('.'), message: 'unknown field' }));
    }
    return [{ field: [context, ...path].join('.'), message: issue.message ?? 'invalid' }];
  }).flat();
}

/**
 * The one error handler. Domain errors carry their code; framework errors (validation, bad
 * JSON, body too large, rate limiting) are mapped to the closed list; anything else is a 5xx
 * whose body says nothing about internals (the log has the details and the request id).
 */
export interface ErrorsOptions {
  /** The HTML page for an unknown address a browser asked for (the API's own paths stay JSON). */
  notFoundPage?: () => string;
}

async function errorsPlugin(app: FastifyInstance, options: ErrorsOptions = {}) {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof IdempotentReplay) {
      reply.header('Idempotent-Replayed', 'true');
      if (error.status >= 400) {
        return reply.code(error.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(error.body));
      }
      return reply.code(error.status).send(error.body);
    }
    if (error instanceof AppError) {
      if (error.status >= 500) request.log.error({ err: error }, error.detail);
      return sendProblem(reply, error.code, error.detail, error.extras);
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const errors = zodIssuesToFields(error);
      const summary = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      return sendProblem(reply, 'validation_failed', `The request is not valid: ${summary}`, { errors });
    }
    if (isResponseSerializationError(error)) {
      request.log.error({ issues: error.cause.issues, url: request.url }, 'response did not match its schema');
      return sendProblem(reply, 'internal_error', 'Something went wrong on our side. Quote the request id if you contact us.');
    }
    switch (error.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendProblem(reply, 'invalid_json', 'The request body could not be parsed as JSON.');
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendProblem(reply, 'payload_too_large', 'The request body is larger than 1 MiB.');
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return sendProblem(reply, 'unsupported_media_type', 'Send the request body as application/json.');
      case 'FST_JWT_NO_AUTHORIZATION_IN_HEADER':
        return sendProblem(reply, 'unauthorized', 'Send a bearer token in the Authorization header.');
      case 'FST_ERR_VALIDATION':
        return sendProblem(reply, 'validation_failed', error.message);
    }
    if (error.statusCode === 429) {
      return sendProblem(reply, 'rate_limited', 'Too many attempts. Wait a minute and try again.');
    }
    // Text PostgreSQL cannot store (a NUL character) or that is longer than a column allows.
    // (22P02: jsonb refusing a lone UTF-16 surrogate, or text that is not a valid id.)
    if (['22021', '22P05', '22001', '22P02'].includes(pgErrorCode(error) ?? '')) {
      return sendProblem(reply, 'validation_failed', 'The request contains text that cannot be stored (a NUL character, or text that is too long).');
    }
    if (isDatabaseUnavailable(error) || pgErrorCode(error) === '57014') {
      request.log.error({ err: redact(error) }, 'database unavailable');
      reply.header('Retry-After', '5');
      return sendProblem(reply, 'service_unavailable', 'The database is not answering. Try again shortly.');
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      request.log.info({ err: error }, 'client error');
      return sendProblem(reply, 'validation_failed', error.message);
    }
    request.log.error({ err: redact(error) }, 'unhandled error');
    return sendProblem(reply, 'internal_error', 'Something went wrong on our side. Quote the request id if you contact us.');
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    if (options.notFoundPage && request.method === 'GET' && !path.startsWith('/v1/') && /\btext\/html\b/.test(request.headers.accept ?? '')) {
      return reply.code(404).type('text/html; charset=utf-8').send(options.notFoundPage());
    }
    return sendProblem(reply, 'not_found', `There is no route ${request.method} ${path}.`);
  });
}

/**
 * drizzle wraps driver errors in an error whose message holds the query's parameters, which can
 * include password hashes and personal data: log the driver's own error instead.
 */
function redact(error: unknown): unknown {
  // DrizzleQueryError does not set its name, so recognise it by class.
  if (error instanceof DrizzleQueryError) {
    const cause = error.cause as { message?: string; code?: string; constraint?: string } | undefined;
    return { name: 'DatabaseError', message: cause?.message, code: cause?.code, constraint: cause?.constraint };
  }
  return error;
}

export default fp(errorsPlugin, { name: 'errors' });
