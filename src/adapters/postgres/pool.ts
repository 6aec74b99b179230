import pg from "pg";

export interface PostgresOptions {
  /** The schema that holds the registry's tables (created on open); `public` by default. */
  readonly schema?: string;
  /** Connections per node; each unit of work holds one from BEGIN to COMMIT. */
  readonly poolSize?: number;
}

/** The subset of pg's Pool and PoolClient that the registry's statements run on. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

const INT8_OID = 20;
const DEFAULT_POOL_SIZE = 10;
// Plain lower-case identifiers only: the name goes into a startup option and into CREATE SCHEMA unquoted
// by the driver, so anything that would need quoting is refused rather than escaped.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Every instant is stored as epoch ms in BIGINT, and pg returns BIGINT as a string (it may exceed 2^53).
 * Epoch ms and row counts never do, so they come back as numbers; a value that would lose precision
 * throws instead of silently rounding. Installed on this pool only, never on pg's global parsers.
 */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`BIGINT ${text} does not fit a JavaScript number`);
  return value;
}

type TypeParser = (text: string) => unknown;

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary"): TypeParser =>
    oid === INT8_OID && format !== "binary"
      ? parseInt8
      : (pg.types.getTypeParser(oid, format) as TypeParser)) as pg.CustomTypesConfig["getTypeParser"],
};

export function schemaName(options: PostgresOptions): string {
  const schema = options.schema ?? "public";
  if (!SCHEMA_NAME.test(schema)) throw new Error(`schema ${JSON.stringify(schema)} must match ${SCHEMA_NAME}`);
  return schema;
}

/**
 * The pool every registry call runs on. Session settings travel as startup options, so no connection
 * is ever handed out before they apply: the search path (one registry per schema) and
 * synchronous_commit=on whatever the server default, because "committed" must mean "on disk".
 */
export function createPool(url: string, options: PostgresOptions): pg.Pool {
  const schema = schemaName(options);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    types,
    options: `-c search_path=${schema} -c synchronous_commit=on`,
    application_name: "fleetgate",
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // A unit of work only talks to the database; one idle inside BEGIN this long is stuck, and would
    // hold its row locks (a device, the audit head) forever.
    idle_in_transaction_session_timeout: 60_000,
  });
  // An idle connection the server closed is dropped by the pool and replaced on the next query; without
  // a listener that 'error' event would crash the process.
  pool.on("error", () => undefined);
  return pool;
}
