/**
 * A private Mosquitto for the broker benchmark: its own config on a free loopback port, run in the
 * foreground as a child process (so /proc/PID gives its CPU and RSS), on fleetgate's PKI. The
 * system's Mosquitto (if any) is never touched.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stopChild, tailOf, type ChildServer } from "./child-server.js";
import type { Cleanup } from "./cleanup.js";
import { ulimitCommand } from "./host-limits.js";
import { processCpuMs } from "./proc-cpu.js";

export const MOSQUITTO = "/usr/sbin/mosquitto";

export interface MosquittoStart {
  readonly dataDir: string;
  /** Where the config, ACL file and log go. */
  readonly workDir: string;
  /** Users (certificate CNs) that may read every device's telemetry, as fleetgate's `service` role. */
  readonly telemetryReaders: readonly string[];
  readonly cleanup?: Cleanup;
  /** `ulimit -n` for Mosquitto (through bash; the pid stays Mosquitto's). */
  readonly openFileLimit?: number;
}

export interface MosquittoServer extends Omit<ChildServer, "readyLine"> {
  readonly port: number;
}

/** A port the kernel just handed out and released: free unless something grabs it in between. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The ACL equivalent of fleetgate's device role for this benchmark: each user (= CN, by
 * use_identity_as_username) owns devices/CN/#; the telemetry readers get the service role's read.
 */
function aclFile(readers: readonly string[]): string {
  const users = readers.map((cn) => `user ${cn}\ntopic read devices/+/telemetry/#\n`);
  return ["pattern readwrite devices/%u/#", "", ...users].join("\n");
}

function configFile(port: number, pki: string, aclPath: string): string {
  return [
    // Running as root (this bench machine), Mosquitto would drop to `mosquitto`, which cannot read
    // fleetgate's 0600 server key in its 0700 directory; staying root changes nothing measured.
    "user root",
    "persistence false",
    "log_dest stderr",
    "per_listener_settings false",
    "allow_anonymous false",
    `acl_file ${aclPath}`,
    `listener ${port} 127.0.0.1`,
    "max_connections -1",
    // The same trust as fleetgate's listener: issuing CA + root; server.crt already holds the chain.
    `cafile ${join(pki, "ca-bundle.crt")}`,
    `certfile ${join(pki, "server.crt")}`,
    `keyfile ${join(pki, "server.key")}`,
    "require_certificate true",
    "use_identity_as_username true",
    "",
  ].join("\n");
}

/** Waits for "running" after byte `offset` of the log (a restart appends to the same log). */
async function waitForRunning(
  logFile: string,
  offset: number,
  exited: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (/mosquitto version \S+ running/.test(readFileSync(logFile).subarray(offset).toString("utf8"))) return;
    if (exited()) throw new Error(`mosquitto exited before it was ready:\n${tailOf(logFile)}`);
    if (Date.now() > deadline) throw new Error(`mosquitto not ready after ${timeoutMs} ms:\n${tailOf(logFile)}`);
    await sleep(50);
  }
}

/** `mosquitto -c CONF` in the foreground; ready once it logs "… running". */
export async function startMosquitto(options: MosquittoStart): Promise<MosquittoServer> {
  const port = await freePort();
  const aclPath = join(options.workDir, "mosquitto.acl");
  const confPath = join(options.workDir, "mosquitto.conf");
  const logFile = join(options.workDir, "mosquitto.log");
  writeFileSync(aclPath, aclFile(options.telemetryReaders));
  writeFileSync(confPath, configFile(port, join(options.dataDir, "pki"), aclPath));
  const offset = existsSync(logFile) ? statSync(logFile).size : 0;
  const fd = openSync(logFile, "a");
  const [command, args] = options.openFileLimit
    ? ulimitCommand(options.openFileLimit, MOSQUITTO, ["-c", confPath])
    : [MOSQUITTO, ["-c", confPath]];
  const child = spawn(command, args, { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const stop = (graceMs?: number) => stopChild(child, graceMs);
  options.cleanup?.add(() => stop());
  if (child.pid === undefined) throw new Error(`could not start ${MOSQUITTO}`);
  const pid = child.pid;
  try {
    await waitForRunning(logFile, offset, () => child.exitCode !== null || child.signalCode !== null);
  } catch (error) {
    await stop(1000);
    throw error;
  }
  return { pid, port, process: child, cpuMs: () => processCpuMs(pid), stop, logTail: (n) => tailOf(logFile, n) };
}
