import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * `<data>/run/fleetgate.json` (the embedded single node) or `<data>/run/<nodeId>.json` (each node of a
 * cluster sharing the data dir): where a running server listens, so that the CLI reaches an admin port
 * (ephemeral ports included) without being told.
 */
export interface RuntimeInfo {
  readonly pid: number;
  readonly nodeId?: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly adminHost: string;
}

const SINGLE_NODE = "fleetgate";

export function runtimeFile(dataDir: string, nodeId?: string): string {
  return join(dataDir, "run", `${nodeId ?? SINGLE_NODE}.json`);
}

export function writeRuntimeInfo(dataDir: string, info: RuntimeInfo, nodeId?: string): void {
  mkdirSync(join(dataDir, "run"), { recursive: true, mode: 0o700 });
  writeFileSync(runtimeFile(dataDir, nodeId), JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
}

/** The server's runtime file if its process is alive (a file left by a crash names a dead pid). */
export function readRuntimeInfo(dataDir: string, nodeId?: string): RuntimeInfo | null {
  const info = readUnchecked(runtimeFile(dataDir, nodeId));
  return info !== null && alive(info.pid) ? info : null;
}

/**
 * Every live server of this data dir: the single node's file first, then the nodes' by name. The CLI
 * talks to the first unless told `--node ID`; any node answers for the whole cluster.
 */
export function liveServers(dataDir: string): RuntimeInfo[] {
  let names: string[];
  try {
    names = readdirSync(join(dataDir, "run")).filter((name) => name.endsWith(".json"));
  } catch {
    return [];
  }
  const ordered = names.sort((a, b) =>
    a === `${SINGLE_NODE}.json` ? -1 : b === `${SINGLE_NODE}.json` ? 1 : a < b ? -1 : 1,
  );
  return ordered.flatMap((name) => {
    const info = readUnchecked(join(dataDir, "run", name));
    return info !== null && alive(info.pid) ? [info] : [];
  });
}

export function removeRuntimeInfo(dataDir: string, pid: number, nodeId?: string): void {
  const file = runtimeFile(dataDir, nodeId);
  if (readUnchecked(file)?.pid === pid) rmSync(file, { force: true });
}

function readUnchecked(file: string): RuntimeInfo | null {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as RuntimeInfo;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
