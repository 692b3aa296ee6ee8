/**
 * The OpenAPI conventions every route follows, so the served document (GET /openapi.json) is
 * complete and cannot drift from what the code answers.
 *
 * How a route uses it:
 *
 *   import { errors } from '../../lib/openapi.js';
 *
 *   app.post('/v1/contributors', {
 *     config: { roles: ['admin', 'coordinator'] },
 *     schema: {
 *       operationId: 'createContributor',          // camelCase verb + resource, stable forever
 *       tags: ['contributors'],                     // a tag named in `apiTags` below
 *       summary: 'Add a contributor',               // one line
 *       description: 'What it does, when it refuses and why.',
 *       body: createBody,                           // zod; .describe() fields and parameters
 *       response: { 201: contributorResponse, ...errors('possible_duplicate') },
 *     },
 *   }, handler);
 *
 * `errors(...codes)` declares the problem codes this operation can answer with beyond the ones
 * every operation of its kind shares, which are added for you (see `commonProblemCodes`):
 * 401 `unauthorized` (authenticated routes), 403 `forbidden` (routes not open to every role),
 * 400 `validation_failed` (routes with parameters, a query or a body), the body errors of
 * POST/PUT/PATCH/DELETE, the Idempotency-Key errors of authenticated POSTs, 429 `rate_limited`
 * (rate-limited routes), 500 `internal_error` and 503 `service_unavailable` (all). So name
 * `not_found`, `invalid_state`, `budget_exceeded`, ... yourself; never the shared ones.
 *
 * Declaring error statuses does not change how errors are sent (the one error handler in
 * src/plugins/errors.ts serialises problems itself, extra members included) nor the success
 * status (the lowest 2xx in `response`). In tests, the app refuses to answer with a problem code
 * its route did not declare (a 500 naming the code), so a missing declaration fails the suite.
 *
 * Pages and operational routes that are not part of the API say `schema: { hide: true }`.
 */
import type { RouteOptions } from 'fastify';
import { z } from 'zod';
import { roles } from '../domain/enums.js';
import { errorCodes, type ErrorCode } from '../errors.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

const errorCodeList = Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]];

/** An RFC 9457 problem document, as every error is answered: one component, `Problem`. */
export const problemSchema = z
  .looseObject({
    type: z.string().describe('A URI naming the kind of problem; the same for every problem with the same `code`.'),
    title: z.string().describe('A short, human-readable summary of the kind of problem.'),
    status: z.number().int().describe('The HTTP status code.'),
    detail: z.string().describe('What went wrong with this request, in words a person can act on.'),
    code: z.enum(errorCodeList).describe('The stable, machine-readable error code: branch on this, never on `title` or `detail`.'),
    instance: z.string().describe('The path of the request that failed.'),
    requestId: z.string().describe('The request id (also in the `x-request-id` header): quote it when asking for help.'),
    errors: z
      .array(
        z.object({
          field: z.string().describe('Dotted path of the failing field, such as `body.amount` or `query.limit`.'),
          message: z.string().describe('Why the field was refused.'),
        }),
      )
      .optional()
      .describe('For `validation_failed`: each failing field.'),
  })
  .meta({
    id: 'Problem',
    description:
      'An error (RFC 9457 problem details, `application/problem+json`). Some codes add members of their own, ' +
      'such as `duplicateOf` with `possible_duplicate` or `headroom` and `payableFrom` with an earnings limit.',
    examples: [
      {
        type: 'https://coproduction-ledger.invalid/problems/budget_exceeded',
        title: errorCodes.budget_exceeded.title,
        status: 422,
        detail: 'Approving 3500 would take the budget below zero: 1200 is available.',
        code: 'budget_exceeded',
        instance: '/v1/time-entries/01J8Z3Q4X2V6N7M8P9R0S1T2U3/approve',
        requestId: 'req-1a2b',
      },
    ],
  });

/** Where the codes a response stands for are kept on it (read by `declareProblems`). */
const CODES = Symbol('problem codes');

export interface ProblemResponse {
  description: string;
  content: { [PROBLEM_MEDIA_TYPE]: { schema: typeof problemSchema } };
  [CODES]: readonly ErrorCode[];
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorised',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Content too large',
  415: 'Unsupported media type',
  422: 'Unprocessable content',
  429: 'Too many requests',
  500: 'Internal server error',
  502: 'Bad gateway',
  503: 'Service unavailable',
};

function describeCodes(status: number, codes: readonly ErrorCode[]): string {
  const lines = codes.map((code) => `- \`${code}\`: ${errorCodes[code].title}.`);
  return [`${STATUS_TEXT[status] ?? `HTTP ${status}`} (problem+json), with \`code\`:`, ...lines].join('\n');
}

function problemResponse(status: number, codes: readonly ErrorCode[]): ProblemResponse {
  return {
    description: describeCodes(status, codes),
    content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema } },
    [CODES]: codes,
  };
}

/** Groups codes by their HTTP status, each list in the closed list's order and without repeats. */
function byStatus(codes: Iterable<ErrorCode>): Map<number, ErrorCode[]> {
  const wanted = new Set(codes);
  const grouped = new Map<number, ErrorCode[]>();
  for (const code of errorCodeList) {
    if (!wanted.has(code)) continue;
    const status = errorCodes[code].status;
    grouped.set(status, [...(grouped.get(status) ?? []), code]);
  }
  return grouped;
}

/**
 * The error responses of an operation, to spread into its `schema.response`: one per HTTP
 * status, its description naming the codes, its schema the `Problem` component.
 */
export function errors(...codes: ErrorCode[]): Record<number, ProblemResponse> {
  return Object.fromEntries([...byStatus(codes)].map(([status, list]) => [status, problemResponse(status, list)]));
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Every problem code the route may answer with: its own `errors(...)` and the shared ones.
     * Set at start-up by `declareProblems`; absent on hidden routes.
     */
    problemCodes?: readonly ErrorCode[];
  }
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface RouteForProblems {
  method: string | string[];
  url: string;
  config?: { public?: boolean; roles?: readonly string[] };
  schema?: { params?: unknown; querystring?: unknown; body?: unknown; headers?: unknown };
}

/**
 * The codes an operation can answer with whatever it does, from what kind of route it is: every
 * route can fail inside (500) or lose its database (503); an authenticated route refuses a missing
 * or stale token (401) and, unless every role may call it, the wrong role (403); input can be
 * refused (400); a body can be malformed, too large or not JSON; an authenticated POST takes an
 * Idempotency-Key (a bad key 400, reused 422, still running 409); a rate-limited route says 429.
 */
export function commonProblemCodes(route: RouteForProblems, options: { rateLimited: boolean }): ErrorCode[] {
  const methods = [route.method].flat().map((m) => m.toUpperCase());
  const codes: ErrorCode[] = ['internal_error', 'service_unavailable'];
  const authenticated = route.url.startsWith('/v1/') && !route.config?.public;
  const schema = route.schema ?? {};
  if (authenticated) {
    codes.push('unauthorized');
    if (!roles.every((role) => route.config?.roles?.includes(role))) codes.push('forbidden');
  }
  const takesBody = methods.some((m) => BODY_METHODS.has(m));
  if (takesBody || schema.params || schema.querystring || schema.body || schema.headers) codes.push('validation_failed');
  if (takesBody) codes.push('invalid_json', 'payload_too_large', 'unsupported_media_type');
  if (authenticated && methods.includes('POST')) codes.push('validation_failed', 'idempotency_key_reused', 'idempotency_key_in_flight');
  if (options.rateLimited) codes.push('rate_limited');
  return codes;
}

/** The codes a route's own `errors(...)` entries declare. */
export function ownProblemCodes(response: unknown): ErrorCode[] {
  if (!response || typeof response !== 'object') return [];
  return Object.values(response as Record<string, unknown>).flatMap((entry) =>
    entry && typeof entry === 'object' && CODES in entry ? [...(entry as ProblemResponse)[CODES]] : [],
  );
}

/**
 * An onRoute hook: records on each documented route (in `config.problemCodes`) every code it may
 * answer with, which the OpenAPI transform documents and the tests' drift guard enforces.
 */
export function declareProblems(isRateLimited: (route: RouteOptions) => boolean) {
  return (route: RouteOptions): void => {
    const schema = route.schema as { hide?: boolean; response?: unknown } | undefined;
    if (schema?.hide) return;
    const codes = new Set([...ownProblemCodes(schema?.response), ...commonProblemCodes(route as RouteForProblems, { rateLimited: isRateLimited(route) })]);
    route.config = { ...route.config, problemCodes: errorCodeList.filter((code) => codes.has(code)) } as typeof route.config;
  };
}
