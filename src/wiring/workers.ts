import cluster, { type Worker } from "node:cluster";
import type { Config } from "../config.js";
import { DataDirLock } from "../data-dir-lock.js";
import { afterCrash, DEFAULT_RESTART_POLICY, type RestartPolicy } from "../domain/restart-policy.js";
import type { Logger } from "../logger.js";
import { nodeIdOf, openRegistry } from "./registry.js";

/**
 * `serve --workers N` (README "Workers on one host"): a primary process that forks N workers with
 * node:cluster, each a full cluster node. The primary holds the host's data-dir lock for the base node
 * id, runs the registry migrations once, restarts a worker that died (src/domain/restart-policy.ts) and
 * passes SIGTERM/SIGINT (stop) and SIGHUP (PKI reload) on to every worker. It opens no listener itself:
 * node:cluster makes it the owner of the shared MQTT, enroll and PKI sockets, and it hands their
 * connections to the workers round-robin.
 */
export const WORKER_INDEX_ENV = "FLEETGATE_WORKER_INDEX";
const READY = "fleetgate:worker-ready";
/** How long a worker may take to close its listeners and sessions after SIGTERM before it is killed. */
const STOP_GRACE_MS = 15_000;

export function workerNodeId(baseNodeId: string, index: number): string {
  return `${baseNodeId}-w${index}`;
}

/** Worker `index` (1-based): its own node id, and admin and metrics ports of its own (port + index - 1). */
export function workerConfig(config: Config, index: number): Config {
  const own = (port: number) => (port === 0 ? 0 : port + index - 1);
  return {
    ...config,
    cluster: { ...config.cluster, nodeId: workerNodeId(nodeIdOf(config), index) },
    admin: { ...config.admin, port: own(config.admin.port) },
    metrics: { ...config.metrics, port: own(config.metrics.port) },
  };
}

/** The worker index the primary gave this process, or null in the primary or a plain `serve`. */
export function workerIndex(env: NodeJS.ProcessEnv = process.env): number | null {
  if (!cluster.isWorker) return null;
  const index = Number(env[WORKER_INDEX_ENV]);
  return Number.isInteger(index) && index >= 1 ? index : null;
}

/** Tells the primary this worker serves (its runtime file written, every listener up). */
export function announceReady(): void {
  process.send?.({ type: READY });
}

interface Slot {
  readonly index: number;
  worker: Worker | null;
  everReady: boolean;
  crashes: readonly number[];
  restartTimer: NodeJS.Timeout | null;
}

class Supervisor {
  private readonly slots: Slot[];
  private stopping = false;
  private exitCode = 0;
  private announced = false;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly onAllStopped: (exitCode: number) => void,
    private readonly policy: RestartPolicy,
  ) {
    const count = config.cluster.workers;
    this.slots = Array.from({ length: count }, (_, i) => ({
      index: i + 1,
      worker: null,
      everReady: false,
      crashes: [],
      restartTimer: null,
    }));
  }

  start(): void {
    cluster.on("exit", (worker, code, signal) => this.exited(worker, code, signal));
    for (const slot of this.slots) this.fork(slot);
  }

  private fork(slot: Slot): void {
    slot.restartTimer = null;
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(slot.index) });
    slot.worker = worker;
    worker.on("message", (message: { type?: string }) => {
      if (message?.type === READY) this.ready(slot);
    });
    const nodeId = workerNodeId(nodeIdOf(this.config), slot.index);
    this.logger.info({ service: "workers", worker: slot.index, nodeId, pid: worker.process.pid }, "worker started");
  }

  private ready(slot: Slot): void {
    slot.everReady = true;
    if (this.announced || !this.slots.every((s) => s.everReady)) return;
    this.announced = true;
    this.logger.info({ service: "workers", workers: this.slots.length }, "every worker serving");
  }

  private exited(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots.find((s) => s.worker === worker);
    if (slot === undefined) return;
    slot.worker = null;
    const fields = { service: "workers", worker: slot.index, pid: worker.process.pid, code, signal };
    if (this.stopping) {
      this.logger.info(fields, "worker stopped");
      return this.maybeDone();
    }
    const outcome = afterCrash(slot.crashes, Date.now(), slot.everReady, this.policy);
    slot.crashes = outcome.history;
    const { decision } = outcome;
    if (decision.action === "restart") {
      this.logger.warn({ ...fields, ...decision }, "worker died; restarting it");
      slot.restartTimer = setTimeout(() => this.fork(slot), decision.delayMs);
      return;
    }
    this.logger.error({ ...fields, ...decision }, "worker died; giving up: stopping every worker");
    // A start-up failure keeps the worker's own exit code (2 for a configuration error), like `serve`.
    this.stop(decision.reason === "start-up failure" && code !== null && code !== 0 ? code : 1);
  }

  /** SIGTERM to every worker (each closes its listeners and sessions), SIGKILL after the grace period. */
  stop(exitCode = 0): void {
    if (this.stopping) return;
    this.stopping = true;
    this.exitCode = exitCode;
    for (const slot of this.slots) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
      slot.worker?.process.kill("SIGTERM");
    }
    const force = setTimeout(() => {
      for (const slot of this.slots) slot.worker?.process.kill("SIGKILL");
    }, STOP_GRACE_MS);
    force.unref();
    this.maybeDone();
  }

  signal(signal: NodeJS.Signals): void {
    for (const slot of this.slots) slot.worker?.process.kill(signal);
  }

  private maybeDone(): void {
    if (this.slots.every((s) => s.worker === null)) this.onAllStopped(this.exitCode);
  }
}

/**
 * The primary of `serve --workers N`. Returns once the workers are forked; the process exits when they
 * have all stopped (0 after SIGTERM/SIGINT, non-zero when a worker could not be kept running).
 */
export async function superviseWorkers(
  config: Config,
  logger: Logger,
  policy: RestartPolicy = DEFAULT_RESTART_POLICY,
): Promise<void> {
  const baseNodeId = nodeIdOf(config);
  // The same lock a single `serve --node-id <base>` takes: either refuses the other. Each worker locks
  // its own node id as well (main.ts), so `serve --node-id <base>-w1` is refused too.
  const lock = DataDirLock.acquire(config.dataDir, baseNodeId);
  try {
    // Migrations once, before N workers open the registry at the same moment.
    await (await openRegistry(config)).close();
  } catch (error) {
    lock.release();
    throw error;
  }
  // Round-robin is Node's default except on Windows; set explicitly because it is the documented policy.
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const supervisor = new Supervisor(
    config,
    logger,
    (exitCode) => {
      lock.release();
      logger.info({ service: "workers", exitCode }, "every worker stopped; exiting");
      process.exit(exitCode);
    },
    policy,
  );
  const stop = (signal: string) => {
    logger.info({ service: "workers", signal }, "stopping every worker");
    supervisor.stop(0);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGHUP", () => {
    logger.info({ service: "workers", signal: "SIGHUP" }, "passing SIGHUP (PKI reload) to every worker");
    supervisor.signal("SIGHUP");
  });
  logger.info(
    { service: "workers", nodeId: baseNodeId, workers: config.cluster.workers, pid: process.pid },
    `forking ${config.cluster.workers} workers`,
  );
  supervisor.start();
}
