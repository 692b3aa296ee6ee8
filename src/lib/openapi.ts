/**
 * The OpenAPI conventions every route follows, so the served document (GET /openapi.json) is
 * complete and cannot drift from what the code answers.
 *
 * How a route uses it:
 *
 *   import { errors, idParam, operations } from '../../lib/openapi.js';
 *
 *   const contributors = operations('contributors');         // the tag, once per module
 *   const staff = contributors.for(['admin', 'coordinator']);  // a role set, once
 *
 *   app.post('/v1/contributors', staff({
 *     operationId: 'createContributor',          // camelCase verb + resource, stable forever
 *     summary: 'Add a contributor',               // one line
 *     description: 'What it does, when it refuses and why.',
 *     body: createBody,                           // zod; .describe() fields and parameters
 *     response: { 201: contributorResponse, ...errors('possible_duplicate') },
 *   }), handler);
 *
 * which is the same as writing `{ config: { roles }, schema: { tags: ['contributors'], ... } }`
 * by hand (also fine: the tag must be one of `apiTags`). `idParam('contributor')` and
 * `pageParameters` are the `{id}` parameter and `?limit=&cursor=` with descriptions.
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
 *
 * `npm run typecheck` generates the client's types (test/client/schema.d.ts) from the served
 * document before tsc checks the generated client's test against them, so a changed route shape
 * that breaks an integrator's code fails the type check; `npm run openapi:lint` must stay clean.
 */
import type { FastifyContextConfig, FastifyReply, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import type { SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { roles, type Role } from '../domain/enums.js';
import { errorCodes, type ErrorCode } from '../errors.js';
import { pageQuery } from './pagination.js';
import { problemDocument } from './problem.js';
import { id } from './schemas.js';

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

/** The document's info: what the service is, how it speaks, and its licence. */
export const openapiInfo = {
  title: 'Co-production participant payment and incentive ledger',
  version: '1.0.0',
  description: [
    'Pays people with lived experience fairly and on time, protects benefits with earnings limits, and proves to funders where the money went.',
    '',
    '- **Authentication**: `Authorization: Bearer <token>`, a JWT from `POST /v1/auth/token` or an API token from `POST /v1/api-tokens`. Another organisation\'s ids answer 404.',
    '- **Money** is integer minor units (`amount: 2500` is £25.00) with an ISO 4217 `currency` in upper case; never a float or a string.',
    '- **Dates** are `YYYY-MM-DD`; a date taken from a moment is the calendar date in Europe/London. Times are ISO 8601 UTC.',
    '- **Errors** are `application/problem+json` (the `Problem` schema) with a stable `code`; each operation lists the codes it can answer with.',
    '- **Retries**: send an `Idempotency-Key` header on any POST; the same key and body answers the first response again (`Idempotent-Replayed: true`).',
    '- **Lists** take `limit` (default 50, at most 200) and `cursor`, and answer `{ data, nextCursor }`.',
  ].join('\n'),
  // The package is private and states no licence of its own: all rights are reserved.
  license: { name: 'Proprietary: all rights reserved', identifier: 'LicenseRef-Proprietary' },
};

/** Every tag an operation may carry, with what it groups, in the order a reader meets them. */
export const apiTags = [
  { name: 'auth', description: 'Signing in, tokens, invitations and password resets.' },
  { name: 'organisation', description: 'The organisation (the tenant) and its settings.' },
  { name: 'users', description: 'People who sign in, their roles, and who they are (`/v1/me`).' },
  { name: 'api tokens', description: 'Revocable tokens for scripts (a funder\'s reporting script, say); each acts for the user who made it.' },
  { name: 'contributors', description: 'People who give their time: kind, payment method, earnings limits, personal data.' },
  { name: 'projects', description: 'Co-production projects, funded by one or more budgets.' },
  { name: 'rate cards', description: 'Versioned, effective-dated rates per activity and contributor kind.' },
  { name: 'budgets', description: 'Grant lines: funder, grant reference, amount and dates; never overspent unless allowed.' },
  { name: 'time', description: 'Time entries and co-production sessions: submitted, quoted, approved, rejected or reversed.' },
  { name: 'expenses', description: 'Travel, childcare and care costs: repaid, never counted as earnings.' },
  { name: 'balances', description: 'What a contributor is owed, has in transit and was paid; statements by tax year and limit period.' },
  { name: 'payouts', description: 'Payout runs (drafted by one finance user, approved by another), their items, and the schedule.' },
  { name: 'stripe', description: 'Stripe Connect onboarding and Stripe\'s webhooks.' },
  { name: 'ledger', description: 'The double-entry ledger: accounts, transactions and the trial balance.' },
  { name: 'reports', description: 'Grant, distribution and time-to-pay reports for funders, without names.' },
  { name: 'audit', description: 'Who changed what, when, before and after.' },
  { name: 'notifications', description: 'Emails sent to participants and finance, and each user\'s choices.' },
  { name: 'operations', description: 'Health and readiness for load balancers and orchestrators.' },
] as const;

export type ApiTag = (typeof apiTags)[number]['name'];

/** What every documented operation states about itself, beside its zod schemas. */
export interface OperationSchema extends FastifySchema {
  /** camelCase verb and resource (`createBudget`, `approvePayoutRun`): generated clients' method names. Never change one. */
  operationId: string;
  summary: string;
  description: string;
}

/**
 * The head every route of one tag shares, written once per module:
 *
 *   const budgets = operations('budgets');
 *   const finance = budgets.for(['admin', 'finance']);
 *   app.post('/v1/budgets', finance({ operationId: 'createBudget', summary, description, body, response }), handler);
 *
 * gives the route its `config` (the roles that may call it) and its `schema` (with the tag).
 * `budgets.public(...)` is for a route that needs no token. Extra config (a rate limit, say)
 * goes in the second argument; anything else (a preHandler) is spread beside it.
 */
export function operations(tag: ApiTag) {
  return {
    for:
      (roles: readonly Role[]) =>
      <S extends OperationSchema>(schema: S, config: FastifyContextConfig = {}) => ({
        config: { ...config, roles },
        schema: { tags: [tag], ...schema },
      }),
    public: <S extends OperationSchema>(schema: S, config: FastifyContextConfig = {}) => ({
      config: { ...config, public: true },
      schema: { tags: [tag], security: [], ...schema },
    }),
  };
}

/** The `{id}` path parameter, described: `params: idParam('budget')`. */
export const idParam = (what: string) => z.strictObject({ id: id.describe(`The ${what}'s id.`) });

/** `?limit=` and `?cursor=` (lib/pagination.ts), described for the document. */
export const pageParameters = {
  limit: pageQuery.limit.describe('How many records to answer with: 1 to 200 (default 50).'),
  cursor: pageQuery.cursor.describe("The previous page's `nextCursor`, to read on from it; leave it out for the first page."),
};

/** The query of a list with no filters. */
export const pageOnlyQuery = z.strictObject(pageParameters);

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

/** An example of each code, for the document: what a client sees. */
function problemExample(code: ErrorCode) {
  const { status, title } = errorCodes[code];
  return {
    type: `https://coproduction-ledger.invalid/problems/${code}`,
    title,
    status,
    detail: title + '.',
    code,
    instance: '/v1/...',
    requestId: 'req-1a2b',
    ...(code === 'validation_failed' ? { errors: [{ field: 'body.amount', message: 'must not be negative' }] } : {}),
  };
}

/** The documented responses for a route's problem codes, in final OpenAPI form. */
function documentedProblems(codes: readonly ErrorCode[]) {
  return Object.fromEntries(
    [...byStatus(codes)].map(([status, list]) => [
      status,
      {
        description: describeCodes(status, list),
        content: {
          [PROBLEM_MEDIA_TYPE]: {
            schema: { $ref: '#/components/schemas/Problem' },
            // One example per code, kept once in components.examples (openapiTransformObject).
            examples: Object.fromEntries(list.map((code) => [code, { $ref: `#/components/examples/${code}` }])),
          },
        },
      },
    ]),
  );
}

/**
 * The per-route transform: fastify-type-provider-zod's (zod to JSON Schema), with the route's
 * problem responses (its own and the shared ones, from `config.problemCodes`) written out.
 */
export const openapiTransform: SwaggerTransform = (input) => {
  const schema = input.schema as { hide?: boolean; response?: Record<string, unknown> } | undefined;
  if (!schema || schema.hide) return jsonSchemaTransform(input as never);
  const response = schema.response
    ? Object.fromEntries(Object.entries(schema.response).filter(([, entry]) => !(entry && typeof entry === 'object' && CODES in entry)))
    : undefined;
  const result = jsonSchemaTransform({ ...input, schema: { ...schema, response } } as never) as ReturnType<SwaggerTransform>;
  const codes = (input.route.config as { problemCodes?: readonly ErrorCode[] } | undefined)?.problemCodes ?? [];
  const transformed = result.schema as { response?: Record<string, unknown>; produces?: string[] };
  const successes = Object.entries(transformed.response ?? {}).map(([status, entry]) => [
    status,
    describedSuccess(Number(status), entry as Record<string, unknown>, transformed.produces ?? ['application/json']),
  ]);
  transformed.response = { ...Object.fromEntries(successes), ...documentedProblems(codes) };
  return result;
};

const SUCCESS_TEXT: Record<number, string> = {
  200: 'OK.',
  201: 'Created.',
  204: 'Done; no content.',
};

/**
 * A success response with a description of its own (the zod schema's `.describe()`, else one
 * by status) rather than Fastify's "Default Response", and its body under each media type the
 * route produces (application/json unless it says otherwise).
 */
function describedSuccess(status: number, entry: Record<string, unknown>, produces: string[]) {
  const description = typeof entry.description === 'string' ? entry.description : (SUCCESS_TEXT[status] ?? 'Success.');
  // Already in OpenAPI's own form (several media types), or no body at all.
  if ('content' in entry || entry.type === 'null') return { ...entry, description };
  return { description, content: Object.fromEntries(produces.map((type) => [type, { schema: entry }])) };
}

/** Every `$ref` to a component of the kind (`schemas`, `examples`) anywhere in `value`. */
function referenced(kind: string, value: unknown, found = new Set<string>()): Set<string> {
  const prefix = `#/components/${kind}/`;
  if (Array.isArray(value)) value.forEach((entry) => referenced(kind, entry, found));
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string' && child.startsWith(prefix)) found.add(child.slice(prefix.length));
      else referenced(kind, child, found);
    }
  }
  return found;
}

/**
 * The whole-document transform: the registered zod schemas become components (only those the
 * document refers to: registering a schema makes an input and an output copy of it).
 */
export const openapiTransformObject: SwaggerTransformObject = (documentObject) => {
  const document = jsonSchemaTransformObject(documentObject as never) as {
    paths?: unknown;
    components?: { schemas?: Record<string, unknown>; examples?: Record<string, unknown> };
  };
  const components = (document.components ??= {});
  const schemas = components.schemas ?? {};
  const used = new Set<string>();
  let frontier = referenced('schemas', { ...document, components: { ...components, schemas: {} } });
  while (frontier.size) {
    const next = new Set<string>();
    for (const name of frontier) {
      if (used.has(name)) continue;
      used.add(name);
      referenced('schemas', schemas[name], next);
    }
    frontier = next;
  }
  // In name order: the order modules happen to register their schemas in is no order at all.
  components.schemas = Object.fromEntries(
    Object.entries(schemas)
      .filter(([name]) => used.has(name))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  const codes = [...referenced('examples', document.paths)].filter((code): code is ErrorCode => code in errorCodes);
  components.examples = {
    ...components.examples,
    ...Object.fromEntries(errorCodeList.filter((code) => codes.includes(code)).map((code) => [code, { summary: errorCodes[code].title, value: problemExample(code) }])),
  };
  return document as ReturnType<SwaggerTransformObject>;
};

/**
 * The drift guard (an onSend hook, installed when tests build the app): a documented route that
 * answers with a problem code it does not declare gets a 500 `internal_error` naming the code
 * instead, and the fact is logged, so the test that met it fails and says what to declare.
 * Hidden routes (pages, /metrics) and the 404 for an unknown address are not checked.
 */
export async function refuseUndeclaredProblems(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const declared = request.routeOptions.config?.problemCodes;
  if (!declared || reply.statusCode < 400 || typeof payload !== 'string') return payload;
  if (!String(reply.getHeader('content-type') ?? '').startsWith(PROBLEM_MEDIA_TYPE)) return payload;
  let problem: { code?: string; status?: number; detail?: string };
  try {
    problem = JSON.parse(payload);
  } catch {
    return payload;
  }
  if (declared.includes(problem.code as ErrorCode)) return payload;
  const route = `${request.method} ${request.routeOptions.url}`;
  const detail =
    `Undeclared problem code: ${route} answered ${reply.statusCode} \`${problem.code}\`, which its schema does not declare ` +
    `(add it with errors(...) in its response). The answer was: ${problem.detail}`;
  request.log.error({ route, code: problem.code }, detail);
  console.error(detail);
  reply.code(500);
  return JSON.stringify(problemDocument('internal_error', detail, {}, request));
}
