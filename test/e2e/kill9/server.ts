import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { runCli, spawnTracked, type CliResult, type Spawned } from "../../helpers/cli.js";
import { exchange, getBytes, type Exchange } from "./wire.js";

/**
 * The real `fleetgate serve` as a child process on one data dir (SQLite by default, or a PostgreSQL
 * registry URL), started again on the same data dir after every `kill -9`; and the operator's admin API
 * client, with the data dir's own operator credential, as the CLI uses it.
 */
const CLI = ["--import", "tsx", "src/adapters/cli/main.ts"];
const PORT_FLAGS = ["--enroll-port", "--mqtt-port", "--pki-port", "--admin-port", "--metrics-port"].flatMap((f) => [
  f,
  "0",
]);
/** Generous: a tsx start on a loaded 2-core machine takes seconds; this bounds a hang, it measures nothing. */
const START_DEADLINE_MS = 45_000;
const REQUEST_DEADLINE_MS = 15_000;

export interface ServeTarget {
  readonly dataDir: string;
  /** A `postgres://…?schema=` URL; unset = the embedded SQLite registry in the data dir. */
  readonly registry?: string;
}

export interface Serving {
  readonly process: Spawned;
  readonly ports: Readonly<Record<"enroll" | "pki" | "admin", number>>;
  readonly rootCa: string;
}

function registryArgs(target: ServeTarget): string[] {
  return target.registry === undefined ? [] : ["--registry", target.registry];
}

export async function initDataDir(target: ServeTarget): Promise<void> {
  const init = await runCli(target, ["init", ...registryArgs(target)]);
  if (init.code !== 0) throw new Error(`fleetgate init exited ${init.code}: ${init.stderr}`);
}

/** Starts `serve` and waits until it wrote its runtime file (a stale one from a killed server names a dead pid). */
export async function startServe(target: ServeTarget): Promise<Serving> {
  const args = [...CLI, "serve", "--data", target.dataDir, ...registryArgs(target), ...PORT_FLAGS];
  // Lives across a whole round (spawnTracked's 30 s default would kill it); the test ends it by pid.
  const child = spawnTracked(process.execPath, args, { env: { FLEETGATE_LOG_LEVEL: "warn" }, timeoutMs: 240_000 });
  const runtime = join(target.dataDir, "run", "fleetgate.json");
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    const info = readRuntime(runtime);
    if (info !== null && info.pid === child.child.pid) {
      const rootCa = readFileSync(join(target.dataDir, "pki", "root-ca.crt"), "utf8");
      return { process: child, ports: info.ports, rootCa };
    }
    if (child.exitedAt() !== null) throw new Error(`fleetgate serve exited at start-up: ${child.stderr()}`);
    if (Date.now() > deadline) {
      await child.kill("SIGKILL");
      throw new Error(`fleetgate serve not serving after ${START_DEADLINE_MS} ms: ${child.stderr()}`);
    }
    await sleep(50);
  }
}

function readRuntime(file: string): { pid: number; ports: Serving["ports"] } | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as { pid: number; ports: Serving["ports"] };
  } catch {
    return null; // not there yet, or being written
  }
}

/** `kill -9`: resolves once the process is gone (its data-dir lock with it). */
export async function kill9(serving: Serving): Promise<CliResult> {
  return serving.process.kill("SIGKILL");
}

export class Admin {
  private readonly tls: { ca: string; cert: string; key: string };
  constructor(
    target: ServeTarget,
    private readonly serving: Serving,
  ) {
    const operators = join(target.dataDir, "operators");
    this.tls = {
      ca: serving.rootCa,
      cert: readFileSync(join(operators, "admin.crt"), "utf8"),
      key: readFileSync(join(operators, "admin.key"), "utf8"),
    };
  }

  send(method: string, path: string, body?: unknown): Promise<Exchange> {
    return exchange(`https://localhost:${this.serving.ports.admin}${path}`, {
      method,
      ...this.tls,
      timeoutMs: REQUEST_DEADLINE_MS,
      ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
    });
  }

  /** A read or a setup step that must succeed: anything but a 2xx answer fails the test loudly. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.send(method, path, body);
    if (answer.kind !== "answered" || answer.status >= 300)
      throw new Error(`admin ${method} ${path}: ${JSON.stringify(answer)}`);
    return JSON.parse(answer.body) as T;
  }

  crl(): Promise<Buffer> {
    return getBytes(this.serving.ports.pki, "/crl/issuing-ca.crl", REQUEST_DEADLINE_MS);
  }
}
