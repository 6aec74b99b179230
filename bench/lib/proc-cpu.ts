import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;

/** USER_HZ, the unit of /proc/PID/stat times (almost always 100). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * CPU time (user + system, milliseconds) a process has used so far, from /proc/PID/stat
 * fields 14 and 15. The command name (field 2) may hold spaces and parentheses, so fields are
 * counted from the last ')'. Returns null where /proc is not available (not Linux) or the
 * process is gone.
 */
export function processCpuMs(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return ((utime + stime) * 1000) / clockTicks();
}

/** This process's own CPU time in milliseconds (user + system). */
export function selfCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

export interface SystemCpu {
  /** CPU time spent busy (everything but idle and iowait), summed over all cores, ms. */
  readonly busyMs: number;
  readonly iowaitMs: number;
}

/**
 * Machine-wide CPU time from the first line of /proc/stat, so a report can tell how much of the
 * machine other processes (a test run, a build) used meanwhile. Null without /proc.
 */
export function systemCpu(): SystemCpu | null {
  let line: string | undefined;
  try {
    line = readFileSync("/proc/stat", "utf8").split("\n")[0];
  } catch {
    return null;
  }
  const ticks = (line ?? "").trim().split(/\s+/).slice(1).map(Number);
  if (ticks.length < 5 || ticks.some((t) => !Number.isFinite(t))) return null;
  // user nice system idle iowait irq softirq steal [guest guest_nice: already inside user/nice]
  const [user = 0, nice = 0, system = 0, , iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks;
  const toMs = (t: number) => (t * 1000) / clockTicks();
  return { busyMs: toMs(user + nice + system + irq + softirq + steal), iowaitMs: toMs(iowait) };
}

/** Parent pid of every process in /proc (field 4 of /proc/PID/stat); empty without /proc. */
function parentPids(): Map<number, number> {
  const parents = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return parents;
  }
  for (const name of entries) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[4 - 3]));
    } catch {
      // gone meanwhile
    }
  }
  return parents;
}

/** A process and its live descendants (`serve --workers N`: the primary and its workers); [] when it is gone. */
export function processTree(rootPid: number): number[] {
  const parents = parentPids();
  if (!parents.has(rootPid)) return [];
  const inTree = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, parent] of parents) {
      if (inTree.has(pid) || !inTree.has(parent)) continue;
      inTree.add(pid);
      grew = true;
    }
  }
  return [...inTree];
}

/**
 * CPU time (ms) of a process and every live descendant. A descendant that has exited is not counted
 * (its time moves into the parent's cutime only once it is reaped), so read this around a phase in
 * which no worker exits. Null when the root is gone.
 */
export function processTreeCpuMs(rootPid: number): { cpuMs: number; processes: number } | null {
  const root = processCpuMs(rootPid);
  if (root === null) return null;
  const tree = processTree(rootPid);
  let cpuMs = root;
  for (const pid of tree) if (pid !== rootPid) cpuMs += processCpuMs(pid) ?? 0;
  return { cpuMs, processes: Math.max(1, tree.length) };
}
