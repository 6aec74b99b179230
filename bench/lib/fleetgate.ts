import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { readLogLines, startChildServer, type ChildServer, type LogLine } from "./child-server.js";
import type { Cleanup } from "./cleanup.js";
import { processTreeCpuMs } from "./proc-cpu.js";
import { rssKiB, treeRssKiB } from "./proc-mem.js";

const execFileAsync = promisify(execFile);

/** The repository root (bench/lib/../..). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(REPO_ROOT, "src/adapters/cli/main.ts");

/** `node --import tsx src/adapters/cli/main.ts …`: the real CLI, run from source. */
export function cliNodeArgs(args: readonly string[], nodeFlags: readonly string[] = []): string[] {
  return [...nodeFlags, "--import", "tsx", CLI, ...args];
}

/** Runs one CLI command to completion; returns stdout, throws with stderr on a non-zero exit. */
export async function runCli(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(process.execPath, cliNodeArgs(args), {
      cwd: REPO_ROOT,
      maxBuffer: 64 * 2 ** 20,
    });
    return stdout;
  } catch (error) {
    const failed = error as { stderr?: string; message: string };
    throw new Error(`fleetgate ${args.join(" ")} failed: ${failed.stderr?.trim() || failed.message}`, { cause: error });
  }
}

export async function initDataDir(dataDir: string): Promise<void> {
  await runCli(["init", "--data", dataDir]);
}

/** Every listener on loopback and an ephemeral port, so a benchmark never collides with a running fleetgate. */
const LOOPBACK_EPHEMERAL = { host: "127.0.0.1", port: 0 };

/** Merges `overrides` into DIR/fleetgate.json (created if absent) with every listener on 127.0.0.1:0. */
export function writeConfig(dataDir: string, overrides: Record<string, unknown>): void {
  const file = join(dataDir, "fleetgate.json");
  const existing = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
  const listeners = Object.fromEntries(
    ["mqtt", "pki", "admin", "metrics"].map((name) => [name, { ...LOOPBACK_EPHEMERAL }]),
  );
  writeFileSync(file, JSON.stringify({ ...existing, ...listeners, ...overrides }, null, 2) + "\n");
}

/** Rate limits high enough never to bind during a benchmark. */
export function unlimitedEnrollConfig(): Record<string, unknown> {
  const unlimited = { perSecond: 1_000_000, burst: 1_000_000 };
  return { enroll: { ...LOOPBACK_EPHEMERAL, rateLimit: { perAddress: unlimited, perToken: unlimited } } };
}

/**
 * `fleetgate token create --prefix P --uses N`: the token is stdout's first line. The CLI reaches
 * the running server's admin API through the runtime file the server writes once all its
 * listeners are up, a moment after the enroll line; so an unreachable admin API is retried.
 * `profile` names the certificate profile (e.g. "service" for a backend consumer).
 */
export async function createGroupToken(
  dataDir: string,
  prefix: string,
  uses: number,
  ttl = "1h",
  profile = "device",
): Promise<string> {
  const args = [
    "token",
    "create",
    "--prefix",
    prefix,
    "--uses",
    String(uses),
    "--ttl",
    ttl,
    "--profile",
    profile,
    "--data",
    dataDir,
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      const token = (await runCli(args)).split("\n")[0]?.trim();
      if (!token) throw new Error("token create printed no token");
      return token;
    } catch (error) {
      if (attempt >= 10 || !/cannot reach/.test((error as Error).message)) throw error;
      await sleep(300);
    }
  }
}

export interface ServerStart {
  readonly dataDir: string;
  readonly logFile: string;
  readonly cleanup?: Cleanup;
  /** Extra node flags for the server process, e.g. ["--cpu-prof", "--cpu-prof-dir=…"]. */
  readonly nodeFlags?: readonly string[];
  /**
   * The listener whose line means "ready" (default "enroll"). Listeners start in order enroll,
   * mqtt, pki, admin, metrics; a caller that needs a later one's port waits for it.
   */
  readonly readyService?: string;
  /** More `serve` flags, e.g. `--workers 2 --registry postgres://… --redis redis://…`. */
  readonly serveArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /**
   * `serve --workers N` (N > 1): ready once the primary logs that every worker serves, and the server's
   * CPU is the whole process tree's (primary and workers) from /proc.
   */
  readonly workers?: number;
  /** `ulimit -n` for the server process (see ChildServerOptions.openFileLimit). */
  readonly openFileLimit?: number;
}

export interface FleetgateServer extends ChildServer {
  /** RSS (KiB) of the server: with workers, of the primary and every worker. */
  rssKiB(): number | null;
  /** Bound port per service, from the `{"service":…,"port":…}` listening lines. */
  readonly ports: Readonly<Record<string, number>>;
}

/**
 * `fleetgate serve --data DIR` as a child process, ready once the `service: "enroll"` (or `readyService`)
 * line appears.
 */
export async function startServer(options: ServerStart): Promise<FleetgateServer> {
  const readyService = options.readyService ?? "enroll";
  const workers = options.workers ?? 1;
  const isReady = (line: LogLine) =>
    workers > 1
      ? line["msg"] === "every worker serving"
      : line["service"] === readyService && typeof line["port"] === "number";
  const started = await startChildServer({
    nodeArgs: cliNodeArgs(["serve", "--data", options.dataDir, ...(options.serveArgs ?? [])], options.nodeFlags),
    cwd: REPO_ROOT,
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    logFile: options.logFile,
    ready: isReady,
    ...(options.cleanup ? { cleanup: options.cleanup } : {}),
    ...(options.openFileLimit ? { openFileLimit: options.openFileLimit } : {}),
  });
  const server: ChildServer =
    workers > 1 ? { ...started, cpuMs: () => processTreeCpuMs(started.pid)?.cpuMs ?? null } : started;
  const listening = readLogLines(options.logFile).filter(
    (l) => typeof l["service"] === "string" && typeof l["port"] === "number",
  );
  const rss = () => (workers > 1 ? treeRssKiB(server.pid) : rssKiB(server.pid));
  return {
    ...server,
    rssKiB: rss,
    ports: Object.fromEntries(listening.map((l) => [l["service"] as string, l["port"] as number])),
  };
}

export function caBundlePem(dataDir: string): string {
  return readFileSync(join(dataDir, "pki", "ca-bundle.crt"), "utf8");
}
