/**
 * The host limits that decide how many connections one process can hold: its open-file limit
 * (every socket is a descriptor; the hard limit can only be raised with CAP_SYS_RESOURCE, and never
 * above fs.nr_open) and the ephemeral port range (per source address). Read, reported, and used to
 * size the connections benchmark; never changed on the host.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface HostLimits {
  /** This process's RLIMIT_NOFILE (soft, hard); null hard = unlimited. */
  readonly openFiles: { soft: number | null; hard: number | null };
  readonly nrOpen: number | null;
  readonly fileMax: number | null;
  readonly ephemeralPorts: { low: number; high: number } | null;
  readonly somaxconn: number | null;
  /** net.ipv4.tcp_mem in pages (low, pressure, high). */
  readonly tcpMemPages: number[] | null;
}

function readNumbers(file: string): number[] | null {
  try {
    const numbers = readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
    return numbers.every(Number.isFinite) ? numbers : null;
  } catch {
    return null;
  }
}

function openFiles(): HostLimits["openFiles"] {
  let line: string | undefined;
  try {
    line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
  } catch {
    line = undefined;
  }
  const [soft, hard] = (line ?? "").slice("Max open files".length).trim().split(/\s+/);
  const value = (raw: string | undefined) => (raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : null);
  return { soft: value(soft), hard: value(hard) };
}

export function hostLimits(): HostLimits {
  const ports = readNumbers("/proc/sys/net/ipv4/ip_local_port_range");
  return {
    openFiles: openFiles(),
    nrOpen: readNumbers("/proc/sys/fs/nr_open")?.[0] ?? null,
    fileMax: readNumbers("/proc/sys/fs/file-max")?.[0] ?? null,
    ephemeralPorts: ports && ports.length === 2 ? { low: ports[0]!, high: ports[1]! } : null,
    somaxconn: readNumbers("/proc/sys/net/core/somaxconn")?.[0] ?? null,
    tcpMemPages: readNumbers("/proc/sys/net/ipv4/tcp_mem"),
  };
}

/** Whether a child shell may set its open-file limit to `limit` (above the hard limit: CAP_SYS_RESOURCE). */
export function canSetOpenFileLimit(limit: number): boolean {
  return spawnSync("bash", ["-c", `ulimit -n ${limit}`], { stdio: "ignore" }).status === 0;
}

/**
 * The open-file limit the children get: `wanted` if a shell can set it, else the hard limit (the most
 * any process here can have; Node raises its soft limit to it by itself).
 */
export function childOpenFileLimit(limits: HostLimits, wanted: number): { limit: number; raised: boolean } {
  if (canSetOpenFileLimit(wanted)) return { limit: wanted, raised: true };
  return { limit: limits.openFiles.hard ?? wanted, raised: false };
}

/** `command args…` run under `ulimit -n limit` (bash, then exec: the process id stays the command's). */
export function ulimitCommand(limit: number, command: string, args: readonly string[]): [string, string[]] {
  return ["bash", ["-c", `ulimit -n ${limit} && exec "$0" "$@"`, command, ...args]];
}

export function describeLimits(l: HostLimits): string {
  const ports = l.ephemeralPorts;
  return [
    `RLIMIT_NOFILE soft ${l.openFiles.soft ?? "unlimited"} hard ${l.openFiles.hard ?? "unlimited"}`,
    `fs.nr_open ${l.nrOpen ?? "?"}`,
    `fs.file-max ${l.fileMax ?? "?"}`,
    `ip_local_port_range ${ports ? `${ports.low}-${ports.high} (${ports.high - ports.low + 1} ports per source address)` : "?"}`,
    `somaxconn ${l.somaxconn ?? "?"}`,
    `tcp_mem ${l.tcpMemPages?.join(" ") ?? "?"} pages`,
  ].join(", ");
}
