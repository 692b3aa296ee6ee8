/**
 * Most of a response is a row's columns under the same names. `shown(row, keys, extra)` copies
 * the columns a response shows, with a moment (a `Date`) written as its ISO 8601 string and
 * everything else as stored, and adds `extra`: what is not a plain column (a derived flag, a
 * renamed field, a nested object). The keys are checked against the row's columns, and the result
 * against the response type the mapper returns, so a view cannot name a column that is not there
 * or show one in the wrong form. The response schema puts the fields in its own order when the
 * response is sent.
 *
 * A view is on the hot path of every list, statement and payout run, so each list of keys is
 * compiled once into a function that returns one object literal, as fast-json-stringify compiles
 * a serializer: a loop copying key by key is shared by every view, so V8 sees every row shape at
 * one place and copies slowly (a 200-entry statement read cost 4 to 7 ms more of service CPU that
 * way); spreading several partial objects into one literal is slower still (some 40 µs a time
 * entry). Keys are the views' own constants, checked to be identifiers before they are compiled.
 */

/** A column as a response shows it: a moment as its ISO 8601 string. */
export type Shown<T> = T extends Date ? string : T;

type Copy = (row: object, iso: (value: unknown) => unknown) => object;

/** Each list of keys, compiled once into a function that returns one object literal. */
const copies = new Map<string, Copy>();

const iso = (value: unknown): unknown => (value instanceof Date ? value.toISOString() : value);

/** Column names are JavaScript identifiers (drizzle's camelCase keys); anything else is refused, never compiled. */
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function copyOf(keys: readonly PropertyKey[]): Copy {
  const id = keys.join(',');
  let copy = copies.get(id);
  if (!copy) {
    const names = keys.map(String);
    const bad = names.find((name) => !IDENTIFIER.test(name));
    if (bad !== undefined) throw new Error(`Not a column name: ${JSON.stringify(bad)}`);
    copy = new Function('row', 'iso', `return { ${names.map((name) => `${name}: iso(row.${name})`).join(', ')} };`) as Copy;
    copies.set(id, copy);
  }
  return copy;
}

export function shown<Row extends object, Key extends keyof Row, Extra extends object = object>(
  row: Row,
  keys: readonly Key[],
  extra?: Extra,
): { [K in Key]: Shown<Row[K]> } & Extra {
  const view = copyOf(keys)(row, iso);
  return (extra ? Object.assign(view, extra) : view) as { [K in Key]: Shown<Row[K]> } & Extra;
}
