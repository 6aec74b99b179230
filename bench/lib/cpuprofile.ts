import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The parts of a V8 .cpuprofile (as written by `node --cpu-prof`) that a summary needs. */
interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface CpuProfile {
  readonly nodes: readonly { id: number; callFrame: CallFrame; children?: number[] }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface Timing {
  readonly name: string;
  readonly ms: number;
  readonly percent: number;
}

/** Where a frame lives: an npm package, a repo file, a node: builtin, or V8 ("(program)", "(garbage collector)"). */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url); // the innermost package
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return url;
  const repo = /\/((?:src|provisioning|bench|device-sim)\/.*)$/.exec(url);
  return repo ? repo[1]! : url.replace(/^file:\/\//, "");
}

function frameName(frame: CallFrame): string {
  const where = areaOf(frame.url, frame.functionName);
  const name = frame.functionName || "(anonymous)";
  if (name === where) return name;
  // tsx-compiled project files report line 0 for every function; only real line numbers are shown.
  return frame.lineNumber > 0 ? `${name}  ${where}:${frame.lineNumber + 1}` : `${name}  ${where}`;
}

/** Samples as [node id, ms]; the deltas are in microseconds. */
function weightedSamples(profile: CpuProfile): [number, number][] {
  return profile.samples.map((id, i) => [id, (profile.timeDeltas[i] ?? 0) / 1000]);
}

function ranked(totals: Map<string, number>, all: number): Timing[] {
  return [...totals]
    .map(([name, ms]) => ({ name, ms, percent: all ? (100 * ms) / all : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

/** Self time: each sample is charged to the function on top of the stack, grouped by `key`. */
function selfTimes(profile: CpuProfile, key: (frame: CallFrame) => string): Timing[] {
  const keyById = new Map(profile.nodes.map((node) => [node.id, key(node.callFrame)]));
  const totals = new Map<string, number>();
  let all = 0;
  for (const [id, ms] of weightedSamples(profile)) {
    const k = keyById.get(id) ?? "(unknown)";
    totals.set(k, (totals.get(k) ?? 0) + ms);
    all += ms;
  }
  return ranked(totals, all);
}

/** Each node's ancestors (itself included), root last. */
function stacks(profile: CpuProfile): Map<number, number[]> {
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const memo = new Map<number, number[]>();
  const stackOf = (id: number): number[] => {
    let stack = memo.get(id);
    if (!stack) {
      const up = parent.get(id);
      stack = up === undefined ? [id] : [id, ...stackOf(up)];
      memo.set(id, stack);
    }
    return stack;
  };
  for (const node of profile.nodes) stackOf(node.id);
  return memo;
}

/**
 * Inclusive (total) time of the functions whose frame matches `include`: a sample counts for
 * every such function on its stack, once even under recursion. Async functions are charged only
 * for their synchronous stretches; time awaiting a thread-pool job shows up as idle.
 */
function inclusiveTimes(profile: CpuProfile, include: (frame: CallFrame) => boolean): Timing[] {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const stackById = stacks(profile);
  const totals = new Map<string, number>();
  let all = 0;
  for (const [id, ms] of weightedSamples(profile)) {
    all += ms;
    const names = new Set(
      (stackById.get(id) ?? [])
        .map((n) => frames.get(n)!)
        .filter(include)
        .map(frameName),
    );
    for (const name of names) totals.set(name, (totals.get(name) ?? 0) + ms);
  }
  return ranked(totals, all);
}

export interface ProfileSummary {
  readonly file: string;
  readonly totalMs: number;
  readonly topFunctions: Timing[];
  readonly byArea: Timing[];
  /** Inclusive time of the project's own functions (src/, provisioning/). */
  readonly projectInclusive: Timing[];
}

const isProjectFrame = (frame: CallFrame) =>
  !frame.url.includes("node_modules") && /\/(src|provisioning)\//.test(frame.url);

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const functions = selfTimes(profile, frameName);
  return {
    file,
    totalMs: functions.reduce((sum, f) => sum + f.ms, 0),
    topFunctions: functions.slice(0, top),
    byArea: selfTimes(profile, (f) => areaOf(f.url, f.functionName)).slice(0, top),
    projectInclusive: inclusiveTimes(profile, isProjectFrame).slice(0, top),
  };
}

/**
 * The newest main-thread .cpuprofile in a directory (of process `pid` when given), or null.
 * Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; loader threads (tsx's
 * ESM hooks) write their own, with a thread id other than 0.
 */
export function newestProfile(dir: string, pid?: number): string | null {
  const mainThread =
    pid === undefined ? /\.\d+\.0\.\d+\.cpuprofile$/ : new RegExp(`\\.${pid}\\.0\\.\\d+\\.cpuprofile$`);
  const files = readdirSync(dir)
    .filter((f) => mainThread.test(f))
    .sort();
  return files.length ? join(dir, files[files.length - 1]!) : null;
}
