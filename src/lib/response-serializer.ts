import type { FastifySerializerCompiler } from 'fastify/types/schema.js';
import { InvalidSchemaError, ResponseSerializationError } from 'fastify-type-provider-zod';
import { $ZodType, safeParse } from 'zod/v4/core';

/**
 * Every response is checked against its route's zod schema and written with only the fields the
 * schema declares, so a field a handler did not mean to show never leaves the service.
 *
 * This is fastify-type-provider-zod's serializerCompiler with a forward parse where it encodes
 * (and without its `replacer` option and its unwrapping of `{ properties: schema }`, which nothing
 * here uses). Encoding exists to run codecs backwards (a Date shown as a string, say); on a schema
 * made of plain types it gives the parse's result, but first makes a second pass over every field
 * that has checks (`.int()`, `.min()`, a date's format), which cost a statement read about 7 % of
 * its CPU. On a schema that changes values the two differ: a forward parse runs a transform or a
 * codec the wrong way, fills in a default and swaps a wrong value for a `.catch()` fallback, where
 * the response should have been refused. So a response schema holding any of those is refused
 * when its route is set up (test/response-serializer.test.ts).
 */
export const responseSerializerCompiler: FastifySerializerCompiler<$ZodType> = ({ schema, method, url }) => {
  if (!(schema instanceof $ZodType)) throw new InvalidSchemaError(JSON.stringify(schema));
  const changing = valueChangingPart(schema);
  if (changing) {
    throw new InvalidSchemaError(`The response schema of ${method} ${url} has a ${changing}: responses are checked with a forward parse, which would change what is sent`);
  }
  return (data) => {
    const result = safeParse(schema, data);
    if (result.error) throw new ResponseSerializationError(method, url, { cause: result.error });
    return JSON.stringify(result.data);
  };
};

/** The kinds of schema whose forward parse changes a value rather than only checking it. */
const VALUE_CHANGING = new Set(['pipe', 'transform', 'default', 'prefault', 'catch', 'success']);

/**
 * The first part of `schema`, at any depth, whose forward parse would change a value (`.transform`,
 * `z.preprocess`, `.pipe`, a codec, `.default`, `.prefault`, `.catch`, `z.success`), or undefined.
 */
function valueChangingPart(schema: $ZodType, seen = new Set<$ZodType>()): string | undefined {
  if (seen.has(schema)) return undefined;
  seen.add(schema);
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  if (VALUE_CHANGING.has(def.type)) return def.type;
  const inner: unknown[] = def.type === 'lazy' ? [(def.getter as () => unknown)()] : Object.values(def);
  for (const value of inner) {
    const parts = value instanceof $ZodType ? [value] : Array.isArray(value) ? value : isPlainObject(value) ? Object.values(value) : [];
    for (const part of parts) {
      if (!(part instanceof $ZodType)) continue;
      const found = valueChangingPart(part, seen);
      if (found) return found;
    }
  }
  return undefined;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
