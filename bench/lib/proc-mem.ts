import { readFileSync } from "node:fs";
import { processTree } from "./proc-cpu.js";

/**
 * Resident set size (KiB) of a process, the VmRSS line of /proc/PID/status; null without /proc or
 * when the process is gone. RSS rather than heap: it is what the operator pays for, whatever the
 * allocator (malloc for Mosquitto, V8 heap + OpenSSL buffers for Node).
 */
export function rssKiB(pid: number): number | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) : null;
}

/** Peak resident set size (KiB) so far, the VmHWM line of /proc/PID/status; null as for rssKiB. */
export function peakRssKiB(pid: number): number | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) : null;
}

/** RSS (KiB) summed over a process and its live descendants (`serve --workers N`); null when it is gone. */
export function treeRssKiB(rootPid: number): number | null {
  const root = rssKiB(rootPid);
  if (root === null) return null;
  return processTree(rootPid)
    .filter((pid) => pid !== rootPid)
    .reduce((sum, pid) => sum + (rssKiB(pid) ?? 0), root);
}

export interface MemoryBreakdown {
  readonly rssKiB: number;
  /** Private anonymous pages: heaps (V8, malloc: OpenSSL, Mosquitto), stacks. */
  readonly anonKiB: number;
  /** Mapped files: the executable, shared libraries. */
  readonly fileKiB: number;
  readonly shmemKiB: number;
}

/** RSS and its parts (RssAnon, RssFile, RssShmem of /proc/PID/status); null when unavailable. */
export function memoryBreakdown(pid: number): MemoryBreakdown | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return null;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, "m").exec(status)?.[1] ?? NaN);
  const parts = {
    rssKiB: field("VmRSS"),
    anonKiB: field("RssAnon"),
    fileKiB: field("RssFile"),
    shmemKiB: field("RssShmem"),
  };
  return Object.values(parts).every(Number.isFinite) ? parts : null;
}
