/**
 * Request parameters: Stripe's form encoding (`metadata[k]=v`, `expand[0]=a`) parsed into nested objects,
 * and the readers endpoints use to take typed values out of them, refusing what Stripe refuses.
 */
import { validation } from './errors.js';
import type { Metadata } from './store.js';

export type ParamValue = string | ParamValue[] | Params;
export interface Params {
  [key: string]: ParamValue;
}

const UNSAFE_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/** A parameter name that must not become an object key. */
export class BadParams extends Error {}

/** Expands `a[b][c]=v`, `a[0]=v` and `a[]=v` keys, as Stripe (and qs) do. */
export function parseForm(body: string): Params {
  const root: Params = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(rawKey);
    const segments = m ? [m[1]!, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((s) => s[1]!)] : [rawKey];
    let node: Params = root;
    for (let i = 0; i < segments.length; i++) {
      let seg = segments[i]!;
      if (UNSAFE_KEYS.has(seg)) throw new BadParams(`Invalid parameter name: ${rawKey}`);
      if (seg === '') seg = String(Object.keys(node).length);
      if (i === segments.length - 1) {
        node[seg] = value;
      } else {
        const next = node[seg];
        if (next === undefined || typeof next === 'string' || Array.isArray(next)) {
          const child: Params = {};
          node[seg] = child;
          node = child;
        } else {
          node = next;
        }
      }
    }
  }
  return arrayify(root, '') as Params;
}

function arrayify(value: ParamValue, key: string): ParamValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (const k of keys) value[k] = arrayify(value[k]!, k);
  if (key !== 'metadata' && keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => value[k]!);
  return value;
}

/** JSON with object keys sorted: equal parameters give equal strings. */
export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(obj[k])}`)
    .join(',')}}`;
}

export function str(params: Params, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw validation('parameter_invalid_string', `Invalid string: ${canonical(v)}`, name);
  return v;
}

export function requiredStr(params: Params, name: string): string {
  const v = str(params, name);
  if (v === undefined || v === '') throw validation('parameter_missing', `Missing required param: ${name}.`, name);
  return v;
}

export function int(params: Params, name: string): number | undefined {
  const v = str(params, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw validation('parameter_invalid_integer', `Invalid integer: ${v}`, name);
  return Number(v);
}

/** `metadata[k]=v` merged over `existing`; `metadata[k]=` deletes k, `metadata=` clears all. */
export function metadataParam(params: Params, existing: Metadata = {}): Metadata {
  const m = params.metadata;
  if (m === undefined) return { ...existing };
  if (typeof m === 'string') {
    if (m === '') return {};
    throw validation('parameter_invalid_string', 'Invalid metadata: must be an object', 'metadata');
  }
  if (Array.isArray(m)) throw validation('parameter_invalid_string', 'Invalid metadata: must be an object', 'metadata');
  const out: Metadata = { ...existing };
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw validation('parameter_invalid_string', `Invalid metadata[${k}]: must be a string`, `metadata[${k}]`);
    if (v === '') delete out[k];
    else out[k] = v;
  }
  return out;
}

/** Refuses a parameter the endpoint does not know (400 parameter_unknown), as Stripe does; `expand` is always allowed. */
export function checkKnown(params: Params, allowed: readonly string[]): void {
  for (const k of Object.keys(params)) {
    if (k !== 'expand' && !allowed.includes(k)) throw validation('parameter_unknown', `Received unknown parameter: ${k}`, k);
  }
}
