import { spawnTracked, type CliResult, type Spawned } from "./cli.js";
import type { TestFleetgate } from "./fleetgate.js";

/**
 * The Debian mosquitto clients as child processes, on the one spawn helper of ./cli.ts (kill-on-
 * timeout safety net, line-buffered through stdbuf). This module tracks what it started, so a
 * test file's afterAll can end every mosquitto client still running (by its ChildProcess).
 */
export type { CliResult };
export type CliProcess = Spawned;

const live = new Set<CliProcess>();

export function spawnCli(command: string, args: readonly string[], timeoutMs = 15_000): CliProcess {
  const proc = spawnTracked(command, args, { timeoutMs, lineBuffered: true });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

/** Ends every mosquitto client this module started and is still running. */
export async function killAllCli(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.kill()));
}

/** Runs one client to completion. */
export function runCli(command: string, args: readonly string[], timeoutMs = 15_000): Promise<CliResult> {
  return spawnCli(command, args, timeoutMs).exited;
}

export interface CliIdentity {
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string };
}

/** Connection flags for mosquitto_pub/_sub/_rr: TLS to fleetgate's MQTT port, with or without a client certificate. */
export function mosquittoArgs(
  fg: TestFleetgate,
  identity: CliIdentity,
  options: { version?: "mqttv311" | "mqttv5"; withCert?: boolean } = {},
): string[] {
  const args = [
    "-V",
    options.version ?? "mqttv311",
    "-h",
    "localhost",
    "-p",
    String(fg.running.ports.mqtt),
    "--cafile",
    identity.files.ca,
  ];
  if (options.withCert !== false) args.push("--cert", identity.files.cert, "--key", identity.files.key);
  return args;
}
