import type { Command } from "commander";
import { copyRegistry, DEFAULT_COPY_PAGE } from "../../app/copy-registry.js";
import { loadConfig, type Config } from "../../config.js";
import { DataDirLock, DataDirLockedError } from "../../data-dir-lock.js";
import { FleetgateError } from "../../domain/errors.js";
import type { FactKind, Registry } from "../../ports.js";
import { describeRegistry, isPostgres, openRegistry, registryExists } from "../../wiring/registry.js";
import { CliError, EXIT, printJson } from "./output.js";

type Opts = Record<string, unknown>;

/** Each URL parsed and checked exactly as `serve --registry` takes it (config key `registry`). */
function configFor(opts: Opts, registry: unknown): Config {
  if (typeof registry !== "string") throw new CliError("--from and --to are both required", EXIT.usage);
  // Without FLEETGATE_REDIS: cluster mode (which refuses a SQLite registry) is the nodes' business, not the copy's.
  const env = { ...process.env, FLEETGATE_REDIS: undefined };
  return loadConfig({ ...(opts["data"] ? { dataDir: opts["data"] } : {}), registry }, env);
}

function pageSizeOf(opts: Opts): number {
  const size = Number(opts["pageSize"] ?? DEFAULT_COPY_PAGE);
  if (!Number.isInteger(size) || size < 1) throw new CliError("--page-size must be a positive integer", EXIT.usage);
  return size;
}

/**
 * A SQLite registry belongs to the `fleetgate serve` of its data dir: the copy takes that server's lock,
 * so it refuses while one runs and no server starts on the data dir until the copy is over.
 */
function lockIfSqlite(from: Config, to: Config): DataDirLock | null {
  if (isPostgres(from) && isPostgres(to)) return null;
  try {
    return DataDirLock.acquire(from.dataDir);
  } catch (error) {
    if (error instanceof DataDirLockedError) throw new CliError(`cannot copy: ${error.message}`, EXIT.failed);
    throw error;
  }
}

async function withRegistries<T>(from: Config, to: Config, work: (a: Registry, b: Registry) => Promise<T>) {
  const source = await openRegistry(from);
  try {
    const destination = await openRegistry(to);
    try {
      return await work(source, destination);
    } finally {
      await destination.close();
    }
  } finally {
    await source.close();
  }
}

async function copy(opts: Opts): Promise<void> {
  const [from, to] = [configFor(opts, opts["from"]), configFor(opts, opts["to"])];
  const pageSize = pageSizeOf(opts);
  // Asked before opening it: opening a registry creates it, and a mistyped source must create nothing.
  if (!(await registryExists(from)))
    throw new CliError(`there is no registry at ${describeRegistry(from.registry)} to copy from`, EXIT.usage);
  const lock = lockIfSqlite(from, to);
  const started = Date.now();
  try {
    const onPage = (kind: FactKind, copied: number, total: number) => {
      if (copied === total && !opts["json"]) console.error(`  ${kind}: ${copied}`);
    };
    const report = await withRegistries(from, to, (a, b) => copyRegistry(a, b, { pageSize, onPage }));
    const ms = Date.now() - started;
    if (opts["json"]) return printJson({ ...report, ms });
    console.log(
      `copied ${describeRegistry(from.registry)} into ${describeRegistry(to.registry)} in ${ms} ms ` +
        `(audit head ${report.auditHead.seq}); start \`fleetgate serve --registry …\` on it`,
    );
  } catch (error) {
    if (error instanceof FleetgateError) throw new CliError(`${error.code}: ${error.detail ?? error.message}`);
    throw error;
  } finally {
    lock?.release();
  }
}

export function registerRegistryCopy(program: Command): void {
  program
    .command("registry")
    .description("the registry itself")
    .command("copy")
    .description("copy every fact of one registry into an empty one (SQLite → PostgreSQL to grow into a cluster)")
    .option("--from <url>", "source registry: sqlite:PATH (sqlite: = DATA/registry.db) or postgres://…[?schema=NAME]")
    .option("--to <url>", "destination registry, empty (created and migrated if it does not exist)")
    .option("--data <dir>", "data directory: its `fleetgate serve` must be stopped, and sqlite: paths are under it")
    .option("--page-size <n>", "facts per page read and written", String(DEFAULT_COPY_PAGE))
    .option("--json", "machine-readable output")
    .action(copy);
}
