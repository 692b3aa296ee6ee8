import { randomUUID } from 'node:crypto';
import type { Problem } from './api.js';

/** Field errors from a problem, keyed by the form field each belongs to. */
export function fieldErrors(problem: Problem, fieldNames: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of problem.errors ?? []) {
    const field = e.field.replace(/^(body|querystring|params)\./, '');
    const name = fieldNames[field] ?? field.split('.')[0]!;
    out[name] ??= e.message;
  }
  return out;
}

/** A fresh Idempotency-Key for a form, so that sending it twice has one effect. */
export const formKey = () => randomUUID();
