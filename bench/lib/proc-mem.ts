import { readFileSync } from "node:fs";

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
