/**
 * Most of a response is a row's columns under the same names. `shown(row, keys)` copies the
 * columns a response shows, in the order given, with a moment (a `Date`) written as its ISO 8601
 * string and everything else as stored. The keys are checked against the row's columns, and the
 * result against the response type the mapper returns, so a view cannot name a column that is not
 * there or show one in the wrong form. What is not a plain column (a derived flag, a renamed
 * field, a nested object) the mapper writes beside it.
 */

/** A column as a response shows it: a moment as its ISO 8601 string. */
export type Shown<T> = T extends Date ? string : T;

export function shown<Row extends object, Key extends keyof Row>(row: Row, keys: readonly Key[]): { [K in Key]: Shown<Row[K]> } {
  const view: Partial<Record<Key, unknown>> = {};
  for (const key of keys) {
    const value = row[key];
    view[key] = value instanceof Date ? value.toISOString() : value;
  }
  return view as { [K in Key]: Shown<Row[K]> };
}
