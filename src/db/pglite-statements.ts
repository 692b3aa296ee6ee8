import { parse, protocol, type PGlite, type QueryOptions, type Results, type Transaction } from '@electric-sql/pglite';
import { MAX_PER_CONNECTION, repeatedStatementNames } from './named-statements.js';

/**
 * Named, prepared statements for the embedded database, as src/db/named-statements.ts gives
 * PostgreSQL's connections.
 *
 * PGlite's `query` parses, describes and plans every statement afresh, in five calls into the
 * database and a sixth to sync: about 250–390 µs for a small join on this machine, against 55–70 µs
 * to bind and run the same statement prepared (a micro-benchmark of PGlite 0.5 alone; the effect on
 * approvals is in bench/README.md). PGlite has no named statements of its own, but it speaks the
 * PostgreSQL protocol through `execProtocol`, and its single backend keeps what it is asked to
 * prepare. So a statement the shared rule names (repeatedStatementNames: inside a transaction,
 * with parameters, seen before) is prepared once under that name (Parse, and Describe for its
 * parameter types and columns), and then only bound and run (Bind, Execute, Sync) in one call, its
 * rows parsed by PGlite's own `parseResults` with the columns kept from the Describe.
 *
 * As on PostgreSQL, reads outside a transaction stay as they are (the commit that follows a
 * transaction's statements syncs the files), and at most MAX_PER_CONNECTION statements are
 * prepared (the backend keeps each plan until it closes). Everything goes through
 * PGlite's `runExclusive`, so a statement never interleaves with another's messages. A database
 * error is thrown as PGlite throws it (a DatabaseError with the query, its parameters and options
 * attached), so callers see no difference. A statement whose run fails is closed and prepared
 * again the next time: the failure may be the statement's own (its parameter types or columns
 * changed under it with the schema, or DEALLOCATE removed it), which PGlite's own query, preparing
 * every time, would not have met; the one failure is the price, not every run after it.
 *
 * One difference stays, as with any prepared statement: a literal that PostgreSQL turns into a
 * value while parsing (`'now'::timestamptz`, a time zone's reading of a timestamp literal) keeps the
 * value of the first parse. The service's statements use `now()` and parameters instead.
 */
type Message = Parameters<typeof parse.parseResults>[0][number];

interface Prepared {
  name: string;
  paramTypes: number[];
  /** The statement's columns, as a RowDescription message; undefined when it returns no rows. */
  columns: Message | undefined;
}

/** A named statement: prepared, or (after a failed run) to be closed and prepared again. */
interface Statement {
  name: string;
  prepared?: Prepared;
  /** Prepared once already: a failed run forgets `prepared`, and the backend may still hold it. */
  preparedBefore?: boolean;
}

interface Internals {
  serializers: Record<number, ((value: unknown) => string) | undefined>;
  parsers: Parameters<typeof parse.parseResults>[1];
}

const done = new WeakSet<PGlite>();
const ARRAY_ROWS: QueryOptions = { rowMode: 'array' };
const OBJECT_ROWS: QueryOptions = {};

export function nameRepeatedStatementsOnPglite(pglite: PGlite): void {
  if (done.has(pglite)) return;
  done.add(pglite);
  const nameOf = repeatedStatementNames();
  const statements = new Map<string, Statement>();
  const internals = pglite as unknown as Internals;
  const serialize = protocol.serialize;

  const send = async (messages: Uint8Array[], query: string, params: unknown[], options: QueryOptions | undefined): Promise<Message[]> => {
    try {
      const result = await pglite.execProtocol(concat(messages), { syncToFs: false, ...(options?.onNotice ? { onNotice: options.onNotice } : {}) });
      return result.messages;
    } catch (error) {
      // As PGlite's own query reports a database error (its makePGliteError).
      if (error && typeof error === 'object' && 'code' in error) Object.assign(error, { query, params, queryOptions: options });
      throw error;
    }
  };

  /** Prepares `statement`; one prepared before and failed since is closed first (closing a statement that is not there is no error). */
  const prepare = async (statement: Statement, text: string, params: unknown[], options: QueryOptions | undefined): Promise<Prepared> => {
    const { name } = statement;
    const messages = await send(
      [...(statement.preparedBefore ? [serialize.close({ type: 'S', name })] : []), serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()],
      text,
      params,
      options,
    );
    const description = messages.find((m) => m.name === 'parameterDescription') as unknown as { dataTypeIDs: number[] } | undefined;
    const columns = messages.find((m) => m.name === 'rowDescription');
    statement.preparedBefore = true;
    return { name, paramTypes: description?.dataTypeIDs ?? [], columns };
  };

  const run = async (statement: Statement, text: string, params: unknown[], options: QueryOptions | undefined): Promise<Results> => {
    const prepared = (statement.prepared ??= await prepare(statement, text, params, options));
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const type = prepared.paramTypes[i]!;
      const serializer = options?.serializers?.[type] ?? internals.serializers[type];
      return serializer ? serializer(value) : String(value);
    });
    try {
      const messages = await send([serialize.bind({ statement: prepared.name, values }), serialize.execute({}), serialize.sync()], text, params, options);
      const rows = prepared.columns ? [prepared.columns, ...messages] : messages;
      // The caller's parsers over PGlite's, layered rather than merged (see layeredParsers).
      if (!options?.parsers) return parse.parseResults(rows, internals.parsers, options)[0]!;
      return parse.parseResults(rows, layeredParsers(options.parsers), options.rowMode === 'array' ? ARRAY_ROWS : OBJECT_ROWS)[0]!;
    } catch (error) {
      statement.prepared = undefined;
      throw error;
    }
  };

  /**
   * PGlite's parseResults, given a caller's own parsers (drizzle passes some with every query, to
   * keep dates as text), copies PGlite's table of about 320 parsers and the caller's into a new
   * object for every result: about 60 µs each time on this machine, which was a tenth of the
   * service's CPU for an approval on PGlite. It looks a type's parser up by property, so an object
   * holding the caller's parsers with PGlite's table as its prototype gives the same parser for
   * every type, and costs under a microsecond; drizzle keeps one parsers object per built query,
   * so a query built once reuses its layer.
   */
  const layers = new WeakMap<object, Internals['parsers']>();
  const layeredParsers = (own: NonNullable<QueryOptions['parsers']>): Internals['parsers'] => {
    let layer = layers.get(own);
    // PGlite adds to its table in place (array types); a table replaced since gets a new layer.
    if (!layer || Object.getPrototypeOf(layer) !== internals.parsers) {
      layer = Object.assign(Object.create(internals.parsers) as object, own) as Internals['parsers'];
      layers.set(own, layer);
    }
    return layer;
  };

  const withNamedStatements = (tx: Transaction): Transaction => {
    const query = tx.query.bind(tx);
    const wrapped = Object.create(tx) as Transaction;
    wrapped.query = (async (text: string, params?: unknown[], options?: QueryOptions) => {
      const name = tx.closed || options?.blob || options?.paramTypes ? undefined : nameOf(text, params);
      if (name === undefined) return query(text, params, options);
      let statement = statements.get(name);
      if (!statement) {
        if (statements.size >= MAX_PER_CONNECTION) return query(text, params, options);
        statement = { name };
        statements.set(name, statement);
      }
      const chosen = statement;
      const values = params ?? [];
      return pglite.runExclusive(() => run(chosen, text, values, options));
    }) as Transaction['query'];
    return wrapped;
  };

  const transaction = pglite.transaction.bind(pglite);
  pglite.transaction = (<T>(callback: (tx: Transaction) => Promise<T>) => transaction((tx) => callback(withNamedStatements(tx)))) as PGlite['transaction'];
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
