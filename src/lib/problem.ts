import { errorCodes, type ErrorCode, type FieldError } from '../errors.js';

const PROBLEM_TYPE_BASE = 'https://coproduction-ledger.invalid/problems/';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** An RFC 9457 problem document with the API's stable `code` and any extra members. */
export function problemDocument(
  code: ErrorCode,
  detail: string,
  extras: { errors?: FieldError[]; [member: string]: unknown },
  request: { url: string; id: string },
) {
  const { status, title } = errorCodes[code];
  return {
    type: PROBLEM_TYPE_BASE + code,
    title,
    status,
    detail,
    code,
    instance: request.url.split('?')[0],
    requestId: request.id,
    ...extras,
  };
}
