#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { ConfigError, loadConfig, type Config } from "../../config.js";
import { createLogger, type Logger } from "../../logger.js";
import { initDataDir, startFleetgate } from "../../main.js";
import { pkiExists, pkiPaths } from "../shared/key-files.js";
import { PkiExistsError } from "../../../provisioning/init-pki.js";
import { CliError, EXIT } from "./output.js";
import { registerAdminCommands } from "./admin-commands.js";
import { registerRegistryCommands } from "./registry-commands.js";
import { registerRegistryCopy } from "./registry-copy-command.js";
import { onReloadSignal, registerCaCommands } from "./ca-commands.js";
import { announceReady, superviseWorkers, workerConfig, workerIndex } from "../../wiring/workers.js";

type Opts = Record<string, unknown>;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function portFlag(raw: unknown): number | undefined {
  return raw === undefined ? undefined : Number(raw);
}

function serveFlags(opts: Opts): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  if (opts["data"]) flags["dataDir"] = opts["data"];
  if ((opts["hostname"] as string[]).length > 0) flags["hostnames"] = opts["hostname"];
  if (opts["logLevel"]) flags["logLevel"] = opts["logLevel"];
  if (opts["registry"]) flags["registry"] = opts["registry"];
  const cluster = {
    ...(opts["redis"] ? { redis: opts["redis"] } : {}),
    ...(opts["nodeId"] ? { nodeId: opts["nodeId"] } : {}),
    ...(opts["workers"] !== undefined ? { workers: Number(opts["workers"]) } : {}),
  };
  if (Object.keys(cluster).length > 0) flags["cluster"] = cluster;
  for (const service of ["enroll", "mqtt", "metrics", "admin", "pki"] as const) {
    const port = portFlag(opts[`${service}Port`]);
    if (port !== undefined) flags[service] = { port };
  }
  const ca = { key: opts["caKey"], rootKey: opts["rootKey"] };
  if (ca.key !== undefined || ca.rootKey !== undefined) flags["ca"] = ca;
  return flags;
}

async function init(opts: Opts): Promise<void> {
  const config = loadConfig(serveFlags(opts));
  await initDataDir(config, createLogger(config.logLevel));
}

async function serve(opts: Opts): Promise<void> {
  const config = loadConfig(serveFlags(opts));
  const logger = createLogger(config.logLevel);
  const index = workerIndex();
  if (index !== null) {
    // Every line of a worker names its node: N workers share the primary's stdout.
    const worker = workerConfig(config, index);
    return serveNode(worker, logger.child({ node: worker.cluster.nodeId }), announceReady);
  }
  if (!pkiExists(pkiPaths(config.dataDir))) {
    logger.info({ dataDir: config.dataDir }, "no PKI yet: initializing the data dir with embedded defaults");
    await initDataDir(config, logger);
  }
  if (config.cluster.workers > 1) return superviseWorkers(config, logger);
  return serveNode(config, logger);
}

/** One node in this process: a plain `serve`, or one worker of `serve --workers N`. */
async function serveNode(config: Config, logger: Logger, onReady?: () => void): Promise<void> {
  const running = await startFleetgate(config, logger);
  onReady?.();
  let stopping = false;
  const stop = (signal: string) => {
    // Ctrl-C reaches a worker twice: SIGINT from the terminal, then SIGTERM from the primary. The
    // second must not exit while the first is still closing sessions.
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
  onReloadSignal(running, logger);
}

function program(): Command {
  // exitOverride: commander throws instead of exiting, so a usage error gets exit code 2 (EXIT.usage).
  const cli = new Command("fleetgate")
    .description("Identity and message bus for an IoT fleet")
    .showHelpAfterError()
    .exitOverride();
  cli
    .command("init")
    .description("create the CA hierarchy, server certificate and registry in the data dir")
    .option("--data <dir>", "data directory (env FLEETGATE_DATA, default ./data)")
    .option("--hostname <name>", "extra DNS name or IP for the server certificate (repeatable)", collect, [])
    .option("--registry <url>", "sqlite:PATH (default: DATA/registry.db) or postgres://… (env FLEETGATE_REGISTRY)")
    .option("--ca-key <where>", "where the issuing CA key is made: file or pkcs11 (config ca.key)")
    .option("--root-key <where>", "where the root CA key is made: file or pkcs11 (config ca.rootKey)")
    .action(init);
  cli
    .command("serve")
    .description("run the enrollment API and the MQTT gateway (initializing the data dir first if it is empty)")
    .option("--data <dir>", "data directory")
    .option("--hostname <name>", "extra server certificate name when initializing (repeatable)", collect, [])
    .option("--enroll-port <port>", "enrollment HTTPS port (0 = ephemeral)")
    .option("--mqtt-port <port>", "MQTT over TLS port (0 = ephemeral)")
    .option("--metrics-port <port>", "Prometheus /metrics and /healthz port (0 = ephemeral)")
    .option("--admin-port <port>", "admin API port, operator mTLS (0 = ephemeral)")
    .option("--pki-port <port>", "CRL and OCSP plain-HTTP port (0 = ephemeral; certificates name pki.publicUrl)")
    .option("--log-level <level>", "pino log level")
    .option("--registry <url>", "sqlite:PATH (default: DATA/registry.db) or postgres://… (env FLEETGATE_REGISTRY)")
    .option("--redis <url>", "cluster mode: redis://… shared by every node (env FLEETGATE_REDIS)")
    .option("--node-id <id>", "this node's id in the cluster (env FLEETGATE_NODE_ID; default hostname-<mqtt port>)")
    .option(
      "--workers <n>",
      "cluster mode: worker processes on this host, each a node <node-id>-w<i> (env FLEETGATE_WORKERS; default: one per core)",
    )
    .action(serve);
  registerRegistryCommands(cli);
  registerRegistryCopy(cli);
  registerAdminCommands(cli);
  registerCaCommands(cli);
  return cli;
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof ConfigError) return EXIT.usage;
  if (error instanceof PkiExistsError) return EXIT.failed;
  return EXIT.failed;
}

// `fleetgate device list | head` closes stdout early: that is the reader's choice, not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(EXIT.ok);
  throw error;
});

program()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    // commander has already printed its own message (and the help) for a usage error.
    if (!(error instanceof CommanderError)) console.error(`fleetgate: ${(error as Error).message}`);
    process.exit(exitCodeFor(error));
  });
