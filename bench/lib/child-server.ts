import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { Cleanup } from "./cleanup.js";
import { ulimitCommand } from "./host-limits.js";
import { processCpuMs } from "./proc-cpu.js";

export type LogLine = Record<string, unknown>;

export interface ChildServerOptions {
  /** Arguments after the node executable, e.g. ["--import", "tsx", "src/…/main.ts", "serve"]. */
  readonly nodeArgs: readonly string[];
  readonly cwd: string;
  /** stdout and stderr go here (a file, so a busy benchmark never back-pressures the server's logger). */
  readonly logFile: string;
  /** The pino JSON line that says the server is ready. */
  readonly ready: (line: LogLine) => boolean;
  readonly startTimeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Registered with the child's stop right after spawn, so Ctrl-C during start-up kills it too. */
  readonly cleanup?: Cleanup;
  /** Start the process under `ulimit -n` this (through bash; the pid stays the server's). */
  readonly openFileLimit?: number;
}

export interface ChildServer {
  readonly pid: number;
  readonly process: ChildProcess;
  readonly readyLine: LogLine;
  /** CPU time (ms) the server process has used so far; null without /proc. */
  cpuMs(): number | null;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  logTail(lines?: number): string;
}

export function readLogLines(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  const out: LogLine[] = [];
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    if (!raw.startsWith("{")) continue;
    try {
      out.push(JSON.parse(raw) as LogLine);
    } catch {
      // A line still being written; the next poll reads it whole.
    }
  }
  return out;
}

export function tailOf(file: string, lines = 20): string {
  return existsSync(file) ? readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n") : "";
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (exited(child)) return;
  const gone = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  try {
    await gone;
  } finally {
    clearTimeout(timer);
  }
}

async function waitForReady(child: ChildProcess, options: ChildServerOptions): Promise<LogLine> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    const line = readLogLines(options.logFile).find(options.ready);
    if (line) return line;
    if (exited(child))
      throw new Error(
        `server exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready:\n${tailOf(options.logFile)}`,
      );
    if (Date.now() > deadline)
      throw new Error(`server not ready after ${options.startTimeoutMs ?? 30_000} ms:\n${tailOf(options.logFile)}`);
    await sleep(50);
  }
}

/** Starts a Node server as its own process (so its CPU is measured apart) and waits for its ready line. */
export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const fd = openSync(options.logFile, "a");
  const [command, args] = options.openFileLimit
    ? ulimitCommand(options.openFileLimit, process.execPath, options.nodeArgs)
    : [process.execPath, [...options.nodeArgs]];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const stop = (graceMs?: number) => stopChild(child, graceMs);
  options.cleanup?.add(() => stop());
  if (child.pid === undefined) throw new Error(`could not start ${process.execPath}`);
  try {
    const readyLine = await waitForReady(child, options);
    const pid = child.pid;
    return {
      pid,
      process: child,
      readyLine,
      cpuMs: () => processCpuMs(pid),
      stop,
      logTail: (n) => tailOf(options.logFile, n),
    };
  } catch (error) {
    await stop(1000);
    throw error;
  }
}
