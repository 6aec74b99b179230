import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * `<data>/run/fleetgate.json`: where a running server listens, so that the CLI reaches the
 * right admin port (ephemeral ports included) without being told.
 */
export interface RuntimeInfo {
  readonly pid: number;
  readonly ports: Readonly<Record<string, number>>;
  readonly adminHost: string;
}

export function runtimeFile(dataDir: string): string {
  return join(dataDir, "run", "fleetgate.json");
}

export function writeRuntimeInfo(dataDir: string, info: RuntimeInfo): void {
  mkdirSync(join(dataDir, "run"), { recursive: true, mode: 0o700 });
  writeFileSync(runtimeFile(dataDir), JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
}

export function readRuntimeInfo(dataDir: string): RuntimeInfo | null {
  try {
    const info = JSON.parse(readFileSync(runtimeFile(dataDir), "utf8")) as RuntimeInfo;
    process.kill(info.pid, 0); // stale file of a server that is gone
    return info;
  } catch {
    return null;
  }
}

export function removeRuntimeInfo(dataDir: string, pid: number): void {
  const info = readRuntimeInfoUnchecked(dataDir);
  if (info?.pid === pid) rmSync(runtimeFile(dataDir), { force: true });
}

function readRuntimeInfoUnchecked(dataDir: string): RuntimeInfo | null {
  try {
    return JSON.parse(readFileSync(runtimeFile(dataDir), "utf8")) as RuntimeInfo;
  } catch {
    return null;
  }
}
